/*
 * sync.c — the connector's side of distribution (双渠道下发, contract.h sections 3 and 5): one pass
 * of tds_contract_sync pulls the operator's contract feed after the last seq applied, verifies each
 * filed contract (the operator's countersignature under DIR/operator.pub, both parties'
 * signatures present, the document hash), stores and compiles it, acknowledges it, and applies the
 * state items; it also flushes the counters' journal and sends the outbox of violation reports.
 *
 * Not here: the operator's feed and acknowledgement routes (contract.c), decisions (enforce.c).
 *
 * Exactly once: an item's effect and the new last seq commit in one transaction; an item at or below
 * the stored seq is skipped, so a pass interrupted anywhere (operator unreachable, crash) resumes
 * where it stopped. Acknowledgements are not part of that transaction: a stored contract whose
 * version is not acknowledged yet is acknowledged again on every pass until the operator answers.
 */
#include "contract/enforcer.h"

#include "http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FEED_PAGE 100
#define FEED_PAGES_PER_PASS 10
#define OUTBOX_PER_PASS 50
#define OPERATOR_TIMEOUT_MS 10000
#define RETRY_MAX_MS (5 * 60 * 1000)
#define SNAPSHOT_EVERY_MS (60 * 1000)

int ct_feed_after(sqlite3 *db, int64_t *after)
{
	sqlite3_stmt *st = NULL;
	*after = 0;
	int rc = tds_store_prepare(db, "SELECT after FROM enforce_feed_state WHERE id = 1", &st);
	if (rc)
		return rc;
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		*after = sqlite3_column_int64(st, 0);
	else if (s != SQLITE_DONE)
		rc = tds_store_error(db, "reading the feed position");
	sqlite3_finalize(st);
	return rc;
}

static int set_after_tx(sqlite3 *db, int64_t seq)
{
	sqlite3_stmt *st = NULL;
	int rc = tds_store_prepare(db,
				   "INSERT INTO enforce_feed_state (id, after) VALUES (1, ?1) "
				   "ON CONFLICT (id) DO UPDATE SET after = ?1",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, seq);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "storing the feed position");
	sqlite3_finalize(st);
	return rc;
}

static int bad_item(const char *fmt, const char *arg)
{
	return tds_error_set(TDS_EUNPROC, "invalid_feed_item", fmt, arg);
}

/* ---- verifying a filed contract ---- */

typedef struct filed {
	const json_t *doc, *signatures, *filing;
	char hash[TDS_HASH_HEX_LEN + 16];
	char provider[TDS_ID_MAX], consumer[TDS_ID_MAX];
	int64_t version;
} filed;

static int hash_with(const char *alg, const tds_buf *bytes, char out[TDS_HASH_HEX_LEN + 16])
{
	tds_suite s;
	if (strcmp(alg, "sm3") == 0)
		s = TDS_SUITE_GM;
	else if (strcmp(alg, "sha256") == 0)
		s = TDS_SUITE_INTL;
	else
		return bad_item("filing.document_hash: unknown hash algorithm '%s'", alg);
	uint8_t h[TDS_HASH_LEN];
	tds_buf hex = TDS_BUF_INIT;
	int rc = tds_hash(s, bytes->data, bytes->len, h);
	if (!rc)
		rc = tds_hex_encode(h, sizeof h, &hex);
	if (!rc)
		snprintf(out, TDS_HASH_HEX_LEN + 16, "%s:%s", alg, hex.data);
	tds_buf_free(&hex);
	return rc;
}

static int verify_filed(const json_t *body, const char *contract_id, const tds_key *op, filed *f)
{
	memset(f, 0, sizeof *f);
	f->doc = json_object_get(body, "document");
	f->signatures = json_object_get(body, "signatures");
	f->filing = json_object_get(body, "filing");
	if (!json_is_object(f->doc) || !json_is_array(f->signatures) || !json_is_object(f->filing))
		return bad_item("a filed item carries document, signatures and filing%s", "");
	if (strcmp(tds_json_str(f->doc, "type", ""), "tds.contract/1") != 0 ||
	    strcmp(tds_json_str(f->doc, "id", ""), contract_id) != 0)
		return bad_item("the document is not contract %s", contract_id);
	f->version = tds_json_int(f->doc, "version", 0);
	if (f->version < 1)
		return bad_item("the document of %s has no version", contract_id);
	const char *prov = tds_json_str(json_object_get(f->doc, "provider"), "org_id", ""),
		   *cons = tds_json_str(json_object_get(f->doc, "consumer"), "org_id", "");
	if (!tds_id_valid(prov, "org") || !tds_id_valid(cons, "org"))
		return bad_item("the document of %s does not name its parties", contract_id);
	snprintf(f->provider, sizeof f->provider, "%s", prov);
	snprintf(f->consumer, sizeof f->consumer, "%s", cons);
	/* the document hash the filing names */
	tds_buf canon = TDS_BUF_INIT;
	const char *dh = tds_json_str(f->filing, "document_hash", "");
	const char *colon = strchr(dh, ':');
	char alg[16];
	int rc = tds_json_canonical(f->doc, &canon);
	if (!rc && (!colon || colon == dh || (size_t)(colon - dh) >= sizeof alg))
		rc = bad_item("filing.document_hash must be <alg>:<hex>%s", "");
	if (!rc) {
		snprintf(alg, sizeof alg, "%.*s", (int)(colon - dh), dh);
		rc = hash_with(alg, &canon, f->hash);
	}
	tds_buf_free(&canon);
	if (!rc && strcmp(f->hash, dh) != 0)
		rc = tds_error_set(TDS_ECRYPTO, "document_hash_mismatch",
				   "contract %s: the document is not the one the operator filed", contract_id);
	if (rc)
		return rc;
	/* both parties signed (the operator verified the signatures before countersigning over them) */
	bool by_provider = false, by_consumer = false;
	size_t i;
	const json_t *s;
	json_array_foreach(f->signatures, i, s) {
		const char *org = tds_json_str(s, "org_id", "");
		if (!*tds_json_str(s, "signature", "") || !*tds_json_str(s, "key_id", "") || !*tds_json_str(s, "alg", ""))
			return bad_item("contract %s: a party signature lacks key_id, alg or signature", contract_id);
		by_provider |= strcmp(org, prov) == 0;
		by_consumer |= strcmp(org, cons) == 0;
	}
	if (!by_provider || !by_consumer)
		return bad_item("contract %s: the signatures of both parties are not all there", contract_id);
	/* the operator's countersignature over {document_hash, signatures, number, filed_at} */
	const json_t *cs = json_object_get(f->filing, "countersignature");
	const char *number = tds_json_str(f->filing, "number", NULL), *filed_at = tds_json_str(f->filing, "filed_at", NULL);
	if (!json_is_object(cs) || !number || !filed_at)
		return bad_item("contract %s: the filing lacks its number, time or countersignature", contract_id);
	if (tds_contract_filing_parse(number, NULL, NULL) < 0)
		return bad_item("contract %s: the filing number is malformed", contract_id);
	tds_suite suite;
	char kid[TDS_KEY_ID_LEN + 1];
	int krc = tds_key_id(op, kid);
	if (krc)
		return krc;
	if (strcmp(tds_json_str(cs, "key_id", ""), kid) != 0)
		return tds_error_set(TDS_ECRYPTO, "countersignature_invalid",
				     "contract %s: the countersignature names another key than DIR/operator.pub", contract_id);
	if (tds_sig_alg_parse(tds_json_str(cs, "alg", ""), &suite) < 0 || suite != tds_key_suite(op))
		return tds_error_set(TDS_ECRYPTO, "countersignature_invalid",
				     "contract %s: the countersignature's alg is not the operator key's", contract_id);
	json_t *stmt = json_pack("{s:s, s:O, s:s, s:s}", "document_hash", dh, "signatures", f->signatures, "number",
				 number, "filed_at", filed_at);
	tds_buf bytes = TDS_BUF_INIT, sig = TDS_BUF_INIT;
	const char *sig64 = tds_json_str(cs, "signature", "");
	rc = stmt ? tds_json_canonical(stmt, &bytes) : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if (!rc && tds_b64_decode(sig64, strlen(sig64), &sig) < 0)
		rc = bad_item("contract %s: the countersignature is not base64", contract_id);
	if (!rc && tds_verify(op, bytes.data, bytes.len, (const uint8_t *)sig.data, sig.len) < 0)
		rc = tds_error_set(TDS_ECRYPTO, "countersignature_invalid",
				   "contract %s: the operator's countersignature does not verify under DIR/operator.pub",
				   contract_id);
	json_decref(stmt);
	tds_buf_free(&bytes);
	tds_buf_free(&sig);
	return rc;
}

/* ---- applying one item ---- */

typedef struct apply_ctx {
	tds_contract *ct;
	struct ct_enforcer *e;
	const json_t *item;
	int64_t seq;
	const char *id, *kind;
	const json_t *body;
	char own_org[TDS_ID_MAX];
	/* filed / amended */
	filed f;
	ct_entry *fresh;    /* installed after commit */
	ct_entry *old;      /* the entry it replaces (write lock held) */
	bool store_filed;
	/* state items */
	int new_state;      /* -1: unchanged */
	int new_frozen;     /* -1: unchanged */
	bool reset_violations;
	const char *revoked_token;
	bool applied;
} apply_ctx;

static int exec_bind1(sqlite3 *db, const char *sql, const char *a, const char *what)
{
	sqlite3_stmt *st = NULL;
	int rc = tds_store_prepare(db, sql, &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, tds_now_ms());
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, what);
	sqlite3_finalize(st);
	return rc;
}

static int store_filed_tx(sqlite3 *db, apply_ctx *a)
{
	char *doc = tds_json_dumps(a->f.doc), *sigs = tds_json_dumps(a->f.signatures), *filing = tds_json_dumps(a->f.filing);
	sqlite3_stmt *st = NULL;
	int rc = doc && sigs && filing ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if (!rc)
		rc = tds_store_prepare(db,
				       "INSERT INTO enforce_contracts (id, version, role, provider_org, consumer_org, state, "
				       "document, document_hash, signatures, filing, valid_from, valid_to, freeze_after, "
				       "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 'filed', ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
				       "ON CONFLICT (id) DO UPDATE SET version = ?2, document = ?6, document_hash = ?7, "
				       "signatures = ?8, filing = ?9, valid_from = ?10, valid_to = ?11, freeze_after = ?12, "
				       "updated_at = ?13",
				       &st);
	if (!rc) {
		sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, a->f.version);
		sqlite3_bind_text(st, 3, a->fresh->provider ? "provider" : "consumer", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, a->f.provider, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, a->f.consumer, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, doc, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, a->f.hash, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, sigs, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 9, filing, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 10, a->fresh->valid_from);
		sqlite3_bind_int64(st, 11, a->fresh->valid_to);
		sqlite3_bind_int64(st, 12, a->fresh->freeze_after);
		sqlite3_bind_int64(st, 13, tds_now_ms());
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "storing a filed contract");
		sqlite3_finalize(st);
	}
	free(doc);
	free(sigs);
	free(filing);
	if (!rc)
		rc = a->old ? ct_entry_carry_tx(db, a->old, a->fresh) : ct_entry_restore(db, a->fresh);
	tds_ledger_actor actor = {0};
	if (!rc)
		rc = ct_evidence_tx(a->ct, db, "contract.received", &actor, a->id, NULL,
				    json_pack("{s:I, s:s, s:s, s:s}", "version", (json_int_t)a->f.version, "document_hash",
					      a->f.hash, "kind", a->kind, "filing_number",
					      tds_json_str(a->f.filing, "number", "")));
	return rc;
}

static int apply_tx(sqlite3 *db, void *p)
{
	apply_ctx *a = p;
	int64_t after;
	int rc = ct_feed_after(db, &after);
	if (rc)
		return rc;
	if (a->seq <= after)
		return 0; /* applied before: exactly once */
	a->applied = true;
	if (a->store_filed && (rc = store_filed_tx(db, a)))
		return rc;
	if (a->new_state >= 0 && (rc = exec_bind1(db, a->new_state == CT_ACTIVE ? "UPDATE enforce_contracts SET state = 'active', updated_at = ?2 WHERE id = ?1"
					       : a->new_state == CT_SUSPENDED ? "UPDATE enforce_contracts SET state = 'suspended', updated_at = ?2 WHERE id = ?1"
					       : a->new_state == CT_TERMINATED ? "UPDATE enforce_contracts SET state = 'terminated', updated_at = ?2 WHERE id = ?1"
										: "UPDATE enforce_contracts SET state = 'expired', updated_at = ?2 WHERE id = ?1",
						  a->id, "changing a contract's state")))
		return rc;
	if (a->new_frozen == 1 && (rc = exec_bind1(db,
						   "UPDATE enforce_contracts SET frozen = 1, frozen_at = COALESCE(frozen_at, ?2), "
						   "frozen_reason = COALESCE(frozen_reason, 'frozen by the operator') WHERE id = ?1",
						   a->id, "freezing a contract")))
		return rc;
	if (a->new_frozen == 0 && (rc = exec_bind1(db,
						   "UPDATE enforce_contracts SET frozen = 0, frozen_at = NULL, frozen_reason = NULL, "
						   "violations = 0, updated_at = ?2 WHERE id = ?1",
						   a->id, "unfreezing a contract")))
		return rc;
	if (a->revoked_token) {
		sqlite3_stmt *st = NULL;
		if ((rc = tds_store_prepare(db,
					    "INSERT OR IGNORE INTO enforce_revoked_tokens (token_id, contract_id, revoked_at) "
					    "VALUES (?, ?, ?)",
					    &st)))
			return rc;
		sqlite3_bind_text(st, 1, a->revoked_token, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, a->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, tds_now_ms());
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "storing a token revocation");
		sqlite3_finalize(st);
		if (rc)
			return rc;
	}
	if (a->new_state >= 0 || a->new_frozen >= 0) {
		tds_ledger_actor actor = {0};
		if ((rc = ct_evidence_tx(a->ct, db, "contract.feed_applied", &actor, a->id, NULL,
					 json_pack("{s:I, s:s}", "seq", (json_int_t)a->seq, "kind", a->kind))))
			return rc;
	}
	return set_after_tx(db, a->seq);
}

/* Whether the contract is stored here, with its stored state, freeze and violation count. */
static bool local_row(sqlite3 *db, const char *id, int *state, int *frozen, int64_t *violations)
{
	sqlite3_stmt *st = NULL;
	bool yes = false;
	if (tds_store_prepare(db, "SELECT state, frozen, violations FROM enforce_contracts WHERE id = ?", &st) == 0) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		if ((yes = sqlite3_step(st) == SQLITE_ROW)) {
			*state = ct_state_parse((const char *)sqlite3_column_text(st, 0));
			*frozen = sqlite3_column_int64(st, 1) != 0;
			*violations = sqlite3_column_int64(st, 2);
		}
		sqlite3_finalize(st);
	}
	return yes;
}

int ct_sync_apply(tds_contract *ct, const json_t *item, int64_t *ack_version, char ack_hash[TDS_HASH_HEX_LEN + 16])
{
	*ack_version = 0;
	ack_hash[0] = 0;
	struct ct_enforcer *e = ct_enf(ct);
	if (!e)
		return tds_error_code();
	apply_ctx a = {.ct = ct, .e = e, .item = item, .new_state = -1, .new_frozen = -1};
	const json_t *seq = json_object_get(item, "seq");
	a.id = tds_json_str(item, "contract_id", NULL);
	a.kind = tds_json_str(item, "kind", NULL);
	a.body = json_object_get(item, "body");
	if (!json_is_integer(seq) || json_integer_value(seq) < 1 || !tds_id_valid(a.id, "ctr") || !a.kind ||
	    (a.body && !json_is_object(a.body)))
		return bad_item("a feed item has seq, contract_id, kind and an object body%s", "");
	a.seq = json_integer_value(seq);
	const tds_key *op;
	int rc = ct_enf_operator(e, &op, a.own_org, NULL);
	if (rc)
		return rc;
	sqlite3 *db = tds_store_conn(ct->store);
	if (!db)
		return tds_error_code();
	bool filed_kind = strcmp(a.kind, "filed") == 0 || strcmp(a.kind, "amended") == 0;
	int known_state = CT_FILED, known_frozen = 0;
	int64_t known_violations = 0;
	bool known = local_row(db, a.id, &known_state, &known_frozen, &known_violations);
	if (filed_kind) {
		if ((rc = verify_filed(a.body, a.id, op, &a.f)))
			return rc;
		bool provider = strcmp(a.f.provider, a.own_org) == 0;
		if (!provider && strcmp(a.f.consumer, a.own_org) != 0)
			return bad_item("contract %s does not name this connector's organisation as a party", a.id);
		if ((rc = ct_entry_new(a.f.doc, provider, a.f.provider, a.f.consumer, CT_FILED, 0, 0, &a.fresh)))
			return rc;
		a.store_filed = true;
	} else if (strcmp(a.kind, "activated") == 0 || strcmp(a.kind, "resumed") == 0) {
		a.new_state = CT_ACTIVE;
	} else if (strcmp(a.kind, "suspended") == 0) {
		a.new_state = CT_SUSPENDED;
	} else if (strcmp(a.kind, "terminated") == 0) {
		a.new_state = CT_TERMINATED;
	} else if (strcmp(a.kind, "expired") == 0) {
		a.new_state = CT_EXPIRED;
	} else if (strcmp(a.kind, "frozen") == 0) {
		a.new_frozen = 1;
	} else if (strcmp(a.kind, "unfrozen") == 0) {
		a.new_frozen = 0;
	} else if (strcmp(a.kind, "token_revoked") == 0) {
		a.revoked_token = tds_json_str(a.body, "token_id", NULL);
		if (!tds_id_valid(a.revoked_token, "tok"))
			return bad_item("a token_revoked item names its token_id (tok_…)%s", "");
	} else {
		tds_log(TDS_LOG_WARN, "feed_item_skipped", "unknown feed item kind '%s' (seq %lld)", a.kind,
			(long long)a.seq);
	}
	if (!filed_kind && !known && (a.new_state >= 0 || a.new_frozen >= 0)) {
		tds_log(TDS_LOG_WARN, "feed_item_skipped", "item %lld (%s) names contract %s, which this connector does "
							   "not hold", (long long)a.seq, a.kind, a.id);
		a.new_state = a.new_frozen = -1;
	}
	/* the table stays locked from carrying the counters over until the new entry is in */
	ct_enf_write_lock(e);
	ct_entry *cur = ct_enf_find(e, a.id);
	if (a.fresh && cur) {
		if (a.f.version < cur->version) {
			/* an older version after a newer one: nothing to store, the position moves on */
			tds_log(TDS_LOG_WARN, "feed_item_skipped", "item %lld: version %lld of %s is older than the one held (%lld)",
				(long long)a.seq, (long long)a.f.version, a.id, (long long)cur->version);
			ct_entry_free(a.fresh);
			a.fresh = NULL;
			a.store_filed = false;
		} else {
			a.old = cur;
			a.fresh->state = __atomic_load_n(&cur->state, __ATOMIC_ACQUIRE);
			a.fresh->frozen = __atomic_load_n(&cur->frozen, __ATOMIC_ACQUIRE);
			a.fresh->violations = __atomic_load_n(&cur->violations, __ATOMIC_ACQUIRE);
		}
	}
	if (a.fresh && known && !cur) { /* stored, but it could not be loaded: keep what was stored */
		a.fresh->state = known_state;
		a.fresh->frozen = known_frozen;
		a.fresh->violations = known_violations;
	}
	rc = tds_store_tx(ct->store, apply_tx, &a);
	if (!rc && a.applied) {
		if (a.fresh) {
			ct_enf_install(e, a.fresh);
			a.fresh = NULL;
		}
		ct_entry *x = ct_enf_find(e, a.id);
		if (x && a.new_state >= 0)
			__atomic_store_n(&x->state, a.new_state, __ATOMIC_RELEASE);
		if (x && a.new_frozen >= 0) {
			__atomic_store_n(&x->frozen, a.new_frozen, __ATOMIC_RELEASE);
			if (a.new_frozen == 0)
				__atomic_store_n(&x->violations, 0, __ATOMIC_RELEASE);
		}
		if (a.revoked_token)
			ct_enf_revoke(e, a.revoked_token);
	}
	ct_enf_unlock(e);
	ct_entry_free(a.fresh);
	if (!rc && a.applied && a.store_filed) {
		*ack_version = a.f.version;
		snprintf(ack_hash, TDS_HASH_HEX_LEN + 16, "%s", a.f.hash);
	}
	return rc;
}

int tds_contract_feed_apply(tds_contract *ct, const json_t *item, int64_t *ack_version)
{
	int64_t v = 0;
	char hash[TDS_HASH_HEX_LEN + 16];
	if (ct->is_operator)
		return tds_error_set(TDS_ECONFLICT, "not_a_connector", "the operator keeps the feed; connectors apply it");
	int rc = ct_sync_apply(ct, item, &v, hash);
	if (ack_version)
		*ack_version = rc ? 0 : v;
	return rc;
}

/* ---- talking to the operator ---- */

static int operator_call(tds_http_client *c, const char *method, const char *path, const json_t *body, long *status,
			 json_t **out)
{
	*out = NULL;
	int rc = tds_http_client_json(c, method, path, body, status, out);
	if (rc)
		return tds_error_set(TDS_EIO, "operator_unreachable", "the operator could not be reached: %s",
				     tds_error_message());
	return 0;
}

static int set_acked(sqlite3 *db, const char *id, int64_t version)
{
	sqlite3_stmt *st = NULL;
	int rc = tds_store_prepare(db, "UPDATE enforce_contracts SET acked_version = ?2 WHERE id = ?1 AND acked_version < ?2",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "recording an acknowledgement");
	sqlite3_finalize(st);
	return rc;
}

/* Acknowledges every stored version the operator has not confirmed yet. */
static int send_acks(tds_contract *ct, tds_http_client *c, int *sent)
{
	sqlite3 *db = tds_store_conn(ct->store);
	sqlite3_stmt *st = NULL;
	int rc = db ? tds_store_prepare(db,
					"SELECT id, version, document_hash FROM enforce_contracts WHERE acked_version < version "
					"AND state IN ('filed','active','suspended') ORDER BY id LIMIT 50",
					&st)
		    : tds_error_code();
	if (rc)
		return rc;
	json_t *todo = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(todo, json_pack("{s:s, s:I, s:s}", "id", sqlite3_column_text(st, 0), "version",
						      (json_int_t)sqlite3_column_int64(st, 1), "hash",
						      sqlite3_column_text(st, 2)));
	sqlite3_finalize(st);
	size_t i;
	json_t *t;
	json_array_foreach(todo, i, t) {
		char path[128];
		snprintf(path, sizeof path, "/api/v1/contracts/%s/ack", tds_json_str(t, "id", ""));
		json_t *body = json_pack("{s:I, s:s}", "version", (json_int_t)tds_json_int(t, "version", 0), "document_hash",
					 tds_json_str(t, "hash", "")),
		       *out = NULL;
		long status = 0;
		rc = operator_call(c, "POST", path, body, &status, &out);
		json_decref(body);
		if (!rc && (status == 200 || status == 201 || status == 409)) {
			/* 409: the operator's contract moved on (terminated, newer version): nothing to confirm */
			rc = set_acked(db, tds_json_str(t, "id", ""), tds_json_int(t, "version", 0));
			(*sent)++;
		} else if (!rc) {
			tds_log_fields(TDS_LOG_WARN, "contract_ack_refused",
				       json_pack("{s:s, s:I, s:s}", "contract", tds_json_str(t, "id", ""), "status",
						 (json_int_t)status, "msg",
						 tds_json_str(json_object_get(out, "error"), "message", "no message")));
		}
		json_decref(out);
		if (rc)
			break;
	}
	json_decref(todo);
	return rc;
}

static int outbox_done(sqlite3 *db, int64_t seq, bool ok, int64_t attempts, const char *err)
{
	sqlite3_stmt *st = NULL;
	int rc = tds_store_prepare(db,
				   ok ? "DELETE FROM enforce_outbox WHERE seq = ?1"
				      : "UPDATE enforce_outbox SET attempts = ?2, next_at = ?3, last_error = ?4 WHERE seq = ?1",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, seq);
	if (!ok) {
		int64_t wait = 1000LL << (attempts < 9 ? attempts : 9);
		sqlite3_bind_int64(st, 2, attempts);
		sqlite3_bind_int64(st, 3, tds_now_ms() + (wait < RETRY_MAX_MS ? wait : RETRY_MAX_MS));
		sqlite3_bind_text(st, 4, err, -1, SQLITE_TRANSIENT);
	}
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "updating the outbox");
	sqlite3_finalize(st);
	return rc;
}

/* Sends due violation reports; a report leaves the outbox only once the operator stored it. */
static int send_outbox(tds_contract *ct, tds_http_client *c, int *sent)
{
	sqlite3 *db = tds_store_conn(ct->store);
	sqlite3_stmt *st = NULL;
	int rc = db ? tds_store_prepare(db,
					"SELECT seq, body, attempts FROM enforce_outbox WHERE next_at <= ? ORDER BY seq LIMIT ?",
					&st)
		    : tds_error_code();
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, tds_now_ms());
	sqlite3_bind_int(st, 2, OUTBOX_PER_PASS);
	json_t *todo = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(todo, json_pack("{s:I, s:s, s:I}", "seq", (json_int_t)sqlite3_column_int64(st, 0),
						      "body", sqlite3_column_text(st, 1), "attempts",
						      (json_int_t)sqlite3_column_int64(st, 2)));
	sqlite3_finalize(st);
	size_t i;
	json_t *t;
	json_array_foreach(todo, i, t) {
		const char *text = tds_json_str(t, "body", "");
		json_t *body = NULL, *out = NULL;
		long status = 0;
		if (tds_json_parse(text, strlen(text), &body) < 0) {
			rc = tds_error_wrap("outbox row %lld: ", (long long)tds_json_int(t, "seq", 0));
			break;
		}
		rc = operator_call(c, "POST", "/api/v1/violations", body, &status, &out);
		json_decref(body);
		if (rc) {
			json_decref(out);
			break; /* unreachable: retry next pass */
		}
		bool ok = status == 200 || status == 201;
		char err[256];
		snprintf(err, sizeof err, "%ld %s", status, tds_json_str(json_object_get(out, "error"), "code", ""));
		if (!ok)
			tds_log_fields(TDS_LOG_WARN, "violation_report_refused",
				       json_pack("{s:I, s:s}", "status", (json_int_t)status, "msg",
						 tds_json_str(json_object_get(out, "error"), "message", "no message")));
		json_decref(out);
		if ((rc = outbox_done(db, tds_json_int(t, "seq", 0), ok, tds_json_int(t, "attempts", 0) + 1, err)))
			break;
		if (ok)
			(*sent)++;
	}
	json_decref(todo);
	return rc;
}

/* Pulls and applies feed pages; stops at the first item that cannot be applied. */
static int pull_feed(tds_contract *ct, tds_http_client *c, int *applied, int64_t *after_out, int *acks)
{
	sqlite3 *db = tds_store_conn(ct->store);
	if (!db)
		return tds_error_code();
	int rc = 0;
	for (int page = 0; !rc && page < FEED_PAGES_PER_PASS; page++) {
		int64_t after;
		if ((rc = ct_feed_after(db, &after)))
			break;
		*after_out = after;
		char path[128];
		snprintf(path, sizeof path, "/api/v1/contracts/feed?after=%lld&limit=%d", (long long)after, FEED_PAGE);
		json_t *out = NULL;
		long status = 0;
		if ((rc = operator_call(c, "GET", path, NULL, &status, &out)))
			break;
		if (status != 200) {
			rc = tds_error_set(TDS_EIO, "feed_refused", "the operator refused the contract feed: %ld %s", status,
					   tds_json_str(json_object_get(out, "error"), "message", ""));
			json_decref(out);
			break;
		}
		const json_t *items = json_object_get(out, "items");
		size_t i, n = json_array_size(items);
		const json_t *it;
		json_array_foreach(items, i, it) {
			int64_t v;
			char hash[TDS_HASH_HEX_LEN + 16];
			if ((rc = ct_sync_apply(ct, it, &v, hash))) {
				tds_log_fields(TDS_LOG_ERROR, "feed_item_not_applied",
					       json_pack("{s:I, s:s, s:s, s:s}", "seq", (json_int_t)tds_json_int(it, "seq", 0),
							 "kind", tds_json_str(it, "kind", ""), "code", tds_error_name(), "msg",
							 tds_error_message()));
				break;
			}
			(*applied)++;
			*after_out = tds_json_int(it, "seq", *after_out);
		}
		json_decref(out);
		if (rc || n < FEED_PAGE)
			break;
	}
	if (!rc)
		rc = send_acks(ct, c, acks);
	return rc;
}

int tds_contract_sync(tds_contract *ct, const tds_contract_link *link, json_t **report)
{
	if (report)
		*report = NULL;
	if (ct->is_operator)
		return tds_error_set(TDS_ECONFLICT, "not_a_connector", "the operator keeps the feed; connectors pull it");
	if (!link || !link->operator_url || !link->operator_pub_path || !link->own_serial || !link->own_org_id ||
	    !link->operator_node_id)
		return tds_error_set(TDS_EINVAL, "invalid_argument", "the link to the operator is incomplete");
	struct ct_enforcer *e = ct_enf(ct);
	if (!e)
		return tds_error_code();
	pthread_mutex_lock(&e->sync_mu);
	tds_buf pem = TDS_BUF_INIT;
	int rc = tds_file_read(link->operator_pub_path, 65536, &pem);
	if (!rc)
		rc = ct_enforce_set_operator(ct, pem.data, link->operator_node_id, link->own_org_id);
	tds_buf_free(&pem);
	int64_t now = tds_now_ms();
	/* the journal every pass; a snapshot every minute */
	bool minute = now - __atomic_load_n(&e->last_snapshot_ms, __ATOMIC_RELAXED) >= SNAPSHOT_EVERY_MS;
	int frc = tds_contract_flush(ct, minute);
	if (frc)
		tds_log(TDS_LOG_WARN, "counters_flush_failed", "%s", tds_error_message());
	if (minute && ct_enf_prune_revoked(ct, e, now))
		tds_log(TDS_LOG_WARN, "revocations_not_pruned", "%s", tds_error_message());
	int applied = 0, reports = 0, acks = 0;
	int64_t after = 0;
	tds_http_client *c = NULL;
	if (!rc) {
		c = tds_http_client_new(link->operator_url, OPERATOR_TIMEOUT_MS);
		rc = c ? tds_http_client_set_signer(c, ct->key, link->own_serial) : tds_error_code();
	}
	if (!rc)
		rc = send_outbox(ct, c, &reports);
	if (!rc)
		rc = pull_feed(ct, c, &applied, &after, &acks);
	tds_http_client_free(c);
	pthread_mutex_unlock(&e->sync_mu);
	if (!rc && report)
		*report = json_pack("{s:i, s:I, s:i, s:i}", "applied", applied, "after", (json_int_t)after, "reports_sent",
				    reports, "acks_sent", acks);
	return rc;
}
