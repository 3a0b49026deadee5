/*
 * sign.c — signing and filing (签署, 备案; contract.h section 2). On a party's connector, the signing
 * route fetches the version from the operator, checks it is the version and the bytes the caller
 * names, signs the canonical bytes with the node key and submits the signature to the operator. On
 * the operator, a submitted signature is verified against the certificate of its key id (the
 * certificate's organisation must be the signing party, not revoked) over exactly the canonical
 * bytes of the latest version both parties accepted; when both parties have signed, the contract is
 * signed and at once countersigned and filed: a filing number, evidence, a feed item for both
 * connectors.
 *
 * Filing number (备案编号): "HT-" YYYY "-" NNNNNN "-" C, YYYY the UTC year of filing, NNNNNN the
 * year's serial (from 1, never reused), C the ISO 7064 MOD 37,36 check character over the ten
 * digits YYYYNNNNNN (tds_rescode_check_char), which catches any single wrong digit and any swap of
 * two adjacent digits.
 *
 * Not for acceptance (negotiate.c) nor for the feed's reading (contract.c).
 */
#include "contract/internal.h"

#include "http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- filing numbers ---- */

int tds_contract_filing_format(int year, uint32_t serial, char out[TDS_CONTRACT_FILING_MAX])
{
	if (year < 1000 || year > 9999 || serial < 1 || serial > 999999)
		return tds_error_set(TDS_EINVAL, "invalid_filing_number", "a filing number needs a year 1000-9999 and a serial 1-999999");
	char body[16];
	snprintf(body, sizeof body, "%04d%06u", year, serial);
	char c = tds_rescode_check_char(body, 10);
	snprintf(out, TDS_CONTRACT_FILING_MAX, "HT-%04d-%06u-%c", year, serial, c);
	return 0;
}

int tds_contract_filing_parse(const char *number, int *year, uint32_t *serial)
{
	/* HT-YYYY-NNNNNN-C: 16 characters */
	if (!number || strlen(number) != 16 || strncmp(number, "HT-", 3) || number[7] != '-' || number[14] != '-')
		return tds_error_set(TDS_EINVAL, "invalid_filing_number", "a filing number reads HT-YYYY-NNNNNN-C");
	char body[11];
	memcpy(body, number + 3, 4);
	memcpy(body + 4, number + 8, 6);
	body[10] = 0;
	for (int i = 0; i < 10; i++)
		if (body[i] < '0' || body[i] > '9')
			return tds_error_set(TDS_EINVAL, "invalid_filing_number", "year and serial of a filing number are digits");
	if (tds_rescode_check_char(body, 10) != number[15])
		return tds_error_set(TDS_EINVAL, "invalid_filing_number",
				     "the check character of %s is wrong: the number was mistyped or altered", number);
	uint32_t s = (uint32_t)atol(body + 4);
	body[4] = 0;
	if (s < 1)
		return tds_error_set(TDS_EINVAL, "invalid_filing_number", "serial 000000 is never issued");
	if (year)
		*year = atoi(body);
	if (serial)
		*serial = s;
	return 0;
}

/* ---- operator: a party's signature ---- */

typedef struct sign_ctx {
	tds_contract *ct;
	const tds_ledger_actor *actor;
	const char *org, *id, *key_id, *alg, *signature;
	int64_t version; /* the version verified */
	char hash[TDS_HASH_HEX_LEN + 16];
	bool filed;
} sign_ctx;

static json_t *col_str(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return s ? json_string(s) : json_null();
}

/* What must hold before a signature is taken: a party, a version pending signature that both
 * parties accepted, without issues, not signed by this party yet. */
static int signable(sqlite3 *db, const ct_row *r, const char *org, int64_t version, const char *hash)
{
	if (strcmp(org, r->provider) && strcmp(org, r->consumer))
		return tds_error_set(TDS_EUNPROC, "wrong_organisation", "%s is not a party of the contract: only the provider and the consumer sign",
				     org);
	bool pending = !strcmp(r->state, "draft") || !strcmp(r->state, "negotiating") ||
		       ((!strcmp(r->state, "active") || !strcmp(r->state, "suspended")) && r->version > r->effective_version);
	if (!pending)
		return ct_state_error(r, "sign");
	if (version && version != r->version)
		return tds_error_set(TDS_EUNPROC, "version_mismatch", "version %lld is not the version to sign (%lld)", (long long)version,
				     (long long)r->version);
	json_t *issues = NULL;
	char h[TDS_HASH_HEX_LEN + 16];
	int rc = ct_version_load(db, r->id, r->version, NULL, h, &issues);
	if (rc)
		return rc;
	if (hash && strcmp(hash, h))
		rc = tds_error_set(TDS_EUNPROC, "document_hash_mismatch", "document_hash is not the hash of version %lld (%s)",
				   (long long)r->version, h);
	else if (json_array_size(issues))
		rc = ct_issues_error(issues);
	json_decref(issues);
	if (rc)
		return rc;
	sqlite3_stmt *st;
	if ((rc = tds_store_prepare(db, "SELECT count(*), sum(org_id = ?3) FROM contract_acceptances WHERE contract_id = ?1"
					" AND version = ?2 AND org_id IN (?4, ?5)", &st)))
		return rc;
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->version);
	sqlite3_bind_text(st, 3, org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, r->provider, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, r->consumer, -1, SQLITE_STATIC);
	int accepted = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	if (accepted < 2)
		return tds_error_set(TDS_EUNPROC, "not_accepted",
				     "both parties must accept version %lld before signing (%d of 2 have)", (long long)r->version,
				     accepted);
	if ((rc = tds_store_prepare(db, "SELECT 1 FROM contract_signatures WHERE contract_id = ? AND version = ? AND org_id = ?",
				    &st)))
		return rc;
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->version);
	sqlite3_bind_text(st, 3, org, -1, SQLITE_STATIC);
	bool again = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	if (again)
		return tds_error_set(TDS_ECONFLICT, "already_signed", "%s signed version %lld already", org, (long long)r->version);
	return 0;
}

/* Countersigns and files version x->version (both signatures present), inside the transaction. */
static int file_tx(sqlite3 *db, sign_ctx *x, const ct_row *r)
{
	json_t *sigs = json_array(), *doc = NULL, *filing = NULL, *cs_in = NULL;
	tds_buf canon = TDS_BUF_INIT, sig = TDS_BUF_INIT, b64 = TDS_BUF_INIT;
	sqlite3_stmt *st = NULL;
	char *filing_s = NULL;
	int rc = tds_store_prepare(db, "SELECT org_id, key_id, alg, signature FROM contract_signatures WHERE contract_id = ?"
				       " AND version = ? ORDER BY org_id = ? DESC", &st);
	if (rc)
		goto out;
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, x->version);
	sqlite3_bind_text(st, 3, r->provider, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(sigs, json_pack("{s:o, s:o, s:o, s:o}", "org_id", col_str(st, 0), "key_id", col_str(st, 1),
						      "alg", col_str(st, 2), "signature", col_str(st, 3)));
	sqlite3_finalize(st);
	st = NULL;
	int64_t now = tds_now_ms();
	char at[TDS_TIME_MAX], number[TDS_CONTRACT_FILING_MAX], kid[TDS_KEY_ID_LEN + 1];
	if ((rc = tds_time_format(now, at)))
		goto out;
	int year = atoi(at); /* "YYYY-…" */
	uint32_t serial = 1;
	if ((rc = tds_store_prepare(db, "SELECT ifnull(max(serial), 0) + 1 FROM contract_filings WHERE year = ?", &st)))
		goto out;
	sqlite3_bind_int(st, 1, year);
	if (sqlite3_step(st) == SQLITE_ROW)
		serial = (uint32_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = tds_contract_filing_format(year, serial, number)))
		goto out;
	if (!x->ct->key || !tds_key_has_private(x->ct->key)) {
		rc = tds_error_set(TDS_EINTERNAL, "no_node_key", "the operator has no node key to countersign with");
		goto out;
	}
	cs_in = json_pack("{s:s, s:O, s:s, s:s}", "document_hash", x->hash, "signatures", sigs, "number", number, "filed_at", at);
	if (!cs_in || (rc = tds_json_canonical(cs_in, &canon)) || (rc = tds_sign(x->ct->key, canon.data, canon.len, &sig)) ||
	    (rc = tds_b64_encode(sig.data, sig.len, &b64)) || (rc = tds_key_id(x->ct->key, kid)))
		goto out;
	filing = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s}}", "number", number, "filed_at", at, "document_hash", x->hash,
			   "countersignature", "key_id", kid, "alg", tds_sig_alg(x->ct->suite), "signature", b64.data);
	if (!filing || !(filing_s = tds_json_dumps(filing))) {
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto out;
	}
	if ((rc = tds_store_prepare(db, "INSERT INTO contract_filings (contract_id, version, number, year, serial, filing, created_at)"
					" VALUES (?,?,?,?,?,?,?)", &st)))
		goto out;
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, x->version);
	sqlite3_bind_text(st, 3, number, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, year);
	sqlite3_bind_int64(st, 5, serial);
	sqlite3_bind_text(st, 6, filing_s, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, now);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = tds_store_error(db, "filing contract");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = ct_version_load(db, r->id, x->version, &doc, NULL, NULL)))
		goto out;
	int64_t from = 0, to = 0;
	tds_time_parse(tds_json_str(json_object_get(doc, "validity"), "from", ""), &from);
	tds_time_parse(tds_json_str(json_object_get(doc, "validity"), "to", ""), &to);
	bool amendment = r->effective_version > 0;
	if ((rc = tds_store_prepare(db, "UPDATE contracts SET effective_version = ?2, valid_from = ?3, valid_to = ?4,"
					" state = ?5, updated_at = ?6 WHERE id = ?1", &st)))
		goto out;
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, x->version);
	sqlite3_bind_int64(st, 3, from);
	sqlite3_bind_int64(st, 4, to);
	sqlite3_bind_text(st, 5, amendment ? r->state : "filed", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, now);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = tds_store_error(db, "updating contract");
		goto out;
	}
	if (!amendment && (rc = ct_evidence_tx(x->ct, db, "contract.signed", x->actor, r->id, NULL,
					       json_pack("{s:I, s:s, s:O}", "version", (json_int_t)x->version, "document_hash",
							 x->hash, "signatures", sigs))))
		goto out;
	if ((rc = ct_evidence_tx(x->ct, db, "contract.filed", x->actor, r->id, number,
				 json_pack("{s:I, s:s, s:s, s:s, s:b, s:s}", "version", (json_int_t)x->version, "number", number,
					   "filed_at", at, "document_hash", x->hash, "amendment", amendment, "state",
					   amendment ? r->state : "filed"))))
		goto out;
	json_t *item = json_pack("{s:O, s:O, s:O}", "document", doc, "signatures", sigs, "filing", filing);
	rc = item ? ct_feed_add_tx(x->ct, db, r->id, amendment ? "amended" : "filed", item)
		  : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	json_decref(item);
	x->filed = !rc;
out:
	sqlite3_finalize(st);
	json_decref(sigs);
	json_decref(doc);
	json_decref(filing);
	json_decref(cs_in);
	free(filing_s);
	tds_buf_free(&canon);
	tds_buf_free(&sig);
	tds_buf_free(&b64);
	return rc;
}

static int sign_tx(sqlite3 *db, void *arg)
{
	sign_ctx *x = arg;
	ct_row r;
	int rc = ct_row_load(db, x->org, x->id, &r);
	if (rc)
		return rc;
	/* the version verified is still the one to sign, and nothing changed meanwhile */
	if ((rc = signable(db, &r, x->org, x->version, x->hash)))
		goto out;
	sqlite3_stmt *st;
	if ((rc = tds_store_prepare(db, "INSERT INTO contract_signatures (contract_id, version, org_id, key_id, alg, signature,"
					" created_at) VALUES (?,?,?,?,?,?,?)", &st)))
		goto out;
	sqlite3_bind_text(st, 1, r.id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, x->version);
	sqlite3_bind_text(st, 3, x->org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, x->key_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, x->alg, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, x->signature, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, tds_now_ms());
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "recording signature");
	sqlite3_finalize(st);
	if (rc || (rc = ct_evidence_tx(x->ct, db, "contract.signature_added", x->actor, r.id, NULL,
				       json_pack("{s:I, s:s, s:s, s:s, s:s}", "version", (json_int_t)x->version, "org_id", x->org,
						 "key_id", x->key_id, "alg", x->alg, "document_hash", x->hash))))
		goto out;
	int n = 0;
	if ((rc = tds_store_prepare(db, "SELECT count(*) FROM contract_signatures WHERE contract_id = ? AND version = ?", &st)))
		goto out;
	sqlite3_bind_text(st, 1, r.id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, x->version);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (n >= 2)
		rc = file_tx(db, x, &r);
out:
	ct_row_free(&r);
	return rc;
}

int tds_contract_sign_submit(tds_contract *ct, const tds_ledger_actor *actor, const char *caller_org, const char *id,
			     const json_t *in, json_t **out)
{
	static const tds_json_field f[] = {
	    {"org_id", TDS_JSON_STRING, true, TDS_ID_MAX},	  {"key_id", TDS_JSON_STRING, true, TDS_ID_MAX},
	    {"alg", TDS_JSON_STRING, true, 16},		  {"signature", TDS_JSON_STRING, true, 256},
	    {"version", TDS_JSON_INTEGER, false, 0},		  {"document_hash", TDS_JSON_STRING, false, TDS_HASH_HEX_LEN + 16},
	};
	*out = NULL;
	int rc = tds_json_check(in, f, TDS_ARRAY_LEN(f), false);
	if (rc)
		return rc;
	const char *org = tds_json_str(in, "org_id", ""), *key_id = tds_json_str(in, "key_id", ""),
		   *alg = tds_json_str(in, "alg", ""), *sig64 = tds_json_str(in, "signature", "");
	if (!tds_id_valid(org, "org"))
		return tds_error_set(TDS_EINVAL, "invalid_org_id", "org_id must be an organisation id (org_…)");
	if (!tds_id_valid(key_id, "crt"))
		return tds_error_set(TDS_EINVAL, "invalid_key_id", "key_id must be a connector certificate serial (crt_…)");
	if (json_object_get(in, "version") && tds_json_int(in, "version", 0) < 1)
		return tds_error_set(TDS_EINVAL, "invalid_version", "version must be >= 1");
	tds_buf sig = TDS_BUF_INIT;
	if (tds_b64_decode(sig64, strlen(sig64), &sig) || sig.len == 0 || sig.len > TDS_SIG_MAX) {
		tds_buf_free(&sig);
		return tds_error_set(TDS_EINVAL, "invalid_signature", "signature must be the base64 of a signature (at most %d bytes)",
				     TDS_SIG_MAX);
	}
	if (!caller_org || strcmp(caller_org, org)) {
		tds_buf_free(&sig);
		return tds_error_set(TDS_EUNPROC, "wrong_organisation",
				     "org_id is not the organisation of the calling connector: a connector signs for its own organisation");
	}
	tds_suite suite;
	sign_ctx x = {.ct = ct, .actor = actor, .org = org, .id = id, .key_id = key_id, .alg = alg, .signature = sig64};
	json_t *doc = NULL;
	tds_buf canon = TDS_BUF_INIT;
	tds_arena *arena = tds_arena_new(0);
	const tds_key *key = NULL;
	tds_principal who = {0};
	sqlite3 *db = tds_store_conn(ct->store);
	ct_row r = {0};
	if (!db) {
		rc = tds_error_code();
		goto out;
	}
	if ((rc = tds_contract_expire_due(ct, tds_now_ms(), NULL)) || (rc = ct_row_load(db, org, id, &r)) ||
	    (rc = signable(db, &r, org, tds_json_int(in, "version", 0), tds_json_str(in, "document_hash", NULL))))
		goto out;
	x.version = r.version;
	if ((rc = ct_version_load(db, r.id, r.version, &doc, x.hash, NULL)) || (rc = ct_canonical(doc, &canon)))
		goto out;
	/* the key: a certificate of the signing organisation, valid now */
	if (!ct->node.resolve) {
		rc = tds_error_set(TDS_EIO, "service_unavailable", "the operator cannot resolve connector certificates");
		goto out;
	}
	rc = ct->node.resolve(ct->node.ctx, key_id, arena, &key, &who);
	if (rc == TDS_ENOTFOUND) {
		rc = tds_error_set(TDS_EUNPROC, "unknown_key", "key_id %s names no connector certificate the operator issued", key_id);
		goto out;
	}
	if (rc) {
		char name[64], msg[256];
		snprintf(name, sizeof name, "%s", tds_error_name()[0] ? tds_error_name() : "unknown_key");
		snprintf(msg, sizeof msg, "%s", tds_error_message());
		rc = tds_error_set(TDS_EUNPROC, name, "the certificate %s cannot sign: %s", key_id, msg);
		goto out;
	}
	if (!who.org_id || strcmp(who.org_id, org)) {
		rc = tds_error_set(TDS_EUNPROC, "wrong_organisation", "the certificate %s belongs to another organisation than %s",
				   key_id, org);
		goto out;
	}
	if (tds_sig_alg_parse(alg, &suite) || tds_key_check_suite(key, suite)) {
		rc = tds_error_set(TDS_EUNPROC, "algorithm_mismatch", "alg '%s' is not the algorithm of the certificate's key", alg);
		goto out;
	}
	if (tds_verify(key, canon.data, canon.len, (const uint8_t *)sig.data, sig.len)) {
		rc = tds_error_set(TDS_EUNPROC, "signature_mismatch",
				   "the signature does not verify over the canonical bytes of version %lld (%s): it was made over "
				   "other bytes or with another key",
				   (long long)r.version, x.hash);
		goto out;
	}
	if ((rc = tds_store_tx(ct->store, sign_tx, &x)))
		goto out;
	json_t *c;
	if ((rc = tds_contract_get(ct, org, id, &c)))
		goto out;
	*out = json_pack("{s:s, s:I, s:s, s:b, s:o}", "contract_id", id, "version", (json_int_t)x.version, "document_hash",
			 x.hash, "filed", x.filed, "contract", c);
	rc = *out ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
out:
	ct_row_free(&r);
	json_decref(doc);
	tds_buf_free(&canon);
	tds_buf_free(&sig);
	tds_arena_free(arena);
	return rc;
}

/* ---- connector: sign what the operator holds ---- */

/* Turns a non-2xx answer of the operator into this node's error. */
static int operator_error(long status, const json_t *body, const char *what)
{
	const json_t *e = json_object_get(body, "error");
	const char *name = tds_json_str(e, "code", "operator_error"), *msg = tds_json_str(e, "message", "no message");
	int code = status == 404 ? TDS_ENOTFOUND
		   : status == 409 ? TDS_ECONFLICT
		   : status == 403 ? TDS_EPERM
		   : status == 400 ? TDS_EINVAL
		   : status >= 400 && status < 500 ? TDS_EUNPROC
						   : TDS_EIO;
	if (code == TDS_EIO)
		return tds_error_set(TDS_EIO, "operator_unreachable", "%s: the operator answered %ld: %s", what, status, msg);
	int rc = tds_error_set(code, name, "%s: the operator refused: %s", what, msg);
	if (json_object_get(e, "details"))
		tds_error_set_details(json_deep_copy(json_object_get(e, "details")));
	return rc;
}

int tds_contract_sign_local(tds_contract *ct, bool admin, bool as_provider, bool as_consumer, const char *id,
			    const json_t *in, json_t **out)
{
	static const tds_json_field f[] = {{"version", TDS_JSON_INTEGER, true, 0},
					   {"document_hash", TDS_JSON_STRING, true, TDS_HASH_HEX_LEN + 16}};
	*out = NULL;
	int rc = tds_json_check(in, f, TDS_ARRAY_LEN(f), false);
	if (rc)
		return rc;
	int64_t version = tds_json_int(in, "version", 0);
	const char *want = tds_json_str(in, "document_hash", "");
	if (version < 1)
		return tds_error_set(TDS_EINVAL, "invalid_version", "version must be >= 1");
	if (!tds_id_valid(id, "ctr"))
		return tds_error_set(TDS_ENOTFOUND, "contract_not_found", "no such contract");
	if (!ct->node.operator_client)
		return tds_error_set(TDS_EIO, "service_unavailable", "this node cannot reach an operator");
	tds_http_client *client = NULL;
	char serial[TDS_ID_MAX], own_org[TDS_ID_MAX], path[128], hash[TDS_HASH_HEX_LEN + 16];
	json_t *ans = NULL, *body = NULL;
	tds_buf canon = TDS_BUF_INIT, sig = TDS_BUF_INIT, b64 = TDS_BUF_INIT;
	long status = 0;
	if ((rc = ct->node.operator_client(ct->node.ctx, &client, serial, own_org)))
		goto out;
	snprintf(path, sizeof path, "/api/v1/contracts/%s/versions/%lld", id, (long long)version);
	if ((rc = tds_http_client_json(client, "GET", path, NULL, &status, &ans))) {
		char msg[256];
		snprintf(msg, sizeof msg, "%s", tds_error_message());
		rc = tds_error_set(TDS_EIO, "operator_unreachable", "cannot fetch the contract from the operator: %s", msg);
		goto out;
	}
	if (status != 200) {
		rc = operator_error(status, ans, "fetching the contract");
		goto out;
	}
	const json_t *doc = json_object_get(ans, "document");
	if (!json_is_object(doc) || (rc = ct_document_hash(ct, doc, hash)) || (rc = ct_canonical(doc, &canon))) {
		rc = rc ? rc : tds_error_set(TDS_EIO, "operator_unreachable", "the operator's answer holds no contract document");
		goto out;
	}
	if (tds_json_int(ans, "latest_version", 0) != version) {
		rc = tds_error_set(TDS_ECONFLICT, "stale_version", "version %lld is no longer the latest (%lld): read it again",
				   (long long)version, (long long)tds_json_int(ans, "latest_version", 0));
		goto out;
	}
	if (strcmp(hash, tds_json_str(ans, "document_hash", "")) || tds_json_int(doc, "version", 0) != version) {
		rc = tds_error_set(TDS_EIO, "operator_unreachable", "the operator's document does not match its stated hash or version");
		goto out;
	}
	if (strcmp(hash, want)) {
		rc = tds_error_set(TDS_EUNPROC, "document_hash_mismatch",
				   "document_hash is not the hash of version %lld as the operator holds it (%s): nobody signs bytes "
				   "they were not shown",
				   (long long)version, hash);
		goto out;
	}
	const char *prov = tds_json_str(json_object_get(doc, "provider"), "org_id", ""),
		   *cons = tds_json_str(json_object_get(doc, "consumer"), "org_id", "");
	bool is_prov = !strcmp(own_org, prov), is_cons = !strcmp(own_org, cons);
	if (!is_prov && !is_cons) {
		rc = tds_error_set(TDS_EPERM, "not_a_party", "this connector's organisation is not a party of the contract");
		goto out;
	}
	if (!admin && !((is_prov && as_provider) || (is_cons && as_consumer))) {
		rc = tds_error_set(TDS_EPERM, "wrong_role", "the %s signs with a %s account (or an admin)",
				   is_prov ? "provider" : "consumer", is_prov ? "provider" : "consumer");
		goto out;
	}
	if ((rc = tds_sign(ct->key, canon.data, canon.len, &sig)) || (rc = tds_b64_encode(sig.data, sig.len, &b64)))
		goto out;
	body = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "org_id", own_org, "key_id", serial, "alg", tds_sig_alg(ct->suite),
			 "signature", b64.data, "version", (json_int_t)version, "document_hash", hash);
	json_decref(ans);
	ans = NULL;
	snprintf(path, sizeof path, "/api/v1/contracts/%s/signatures", id);
	if ((rc = tds_http_client_json(client, "POST", path, body, &status, &ans))) {
		char msg[256];
		snprintf(msg, sizeof msg, "%s", tds_error_message());
		rc = tds_error_set(TDS_EIO, "operator_unreachable", "cannot send the signature to the operator: %s", msg);
		goto out;
	}
	if (status != 200 && status != 201) {
		rc = operator_error(status, ans, "submitting the signature");
		goto out;
	}
	*out = ans;
	ans = NULL;
out:
	tds_http_client_free(client);
	json_decref(ans);
	json_decref(body);
	tds_buf_free(&canon);
	tds_buf_free(&sig);
	tds_buf_free(&b64);
	return rc;
}
