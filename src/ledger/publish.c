/*
 * publish.c — the log's side of witnessing: issue a checkpoint, send it with a consistency proof to
 * each witness, verify and keep the cosignatures, serve the cosigned checkpoint. Also the JSON form
 * of proofs shared by the routes and the witness.
 *
 * Trust note: the witness's public key is read from its /api/v1/node at publish time, so a
 * cosignature here proves only that the answering node holds that key. Binding witness keys to
 * node certificates issued by the operator is the identity issue's job (node certificates).
 * With a signer (tds_ledger_set_signer) every call to a witness is signed, so a witness that
 * checks signatures knows which certified node is publishing, and refuses a revoked one.
 */
#include "ledger/internal.h"

#include "http/http.h"

#include <stdlib.h>
#include <string.h>

json_t *tds_ledger_proof_to_json(const tds_ledger_proof *p)
{
	json_t *arr = json_array();
	tds_buf b = TDS_BUF_INIT;
	for (size_t i = 0; i < p->len; i++) {
		tds_buf_reset(&b);
		if (tds_b64_encode(p->hash[i], TDS_HASH_LEN, &b) == 0)
			json_array_append_new(arr, json_string(b.data));
	}
	tds_buf_free(&b);
	return arr;
}

int tds_ledger_proof_from_json(const json_t *arr, tds_ledger_proof *p)
{
	p->len = 0;
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > TDS_LEDGER_PROOF_MAX)
		return tds_error_set(TDS_EINVAL, "invalid_proof", "proof must be an array of at most %d base64 hashes",
				     TDS_LEDGER_PROOF_MAX);
	tds_buf b = TDS_BUF_INIT;
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *h = json_array_get(arr, i);
		tds_buf_reset(&b);
		if (!json_is_string(h) || tds_b64_decode(json_string_value(h), json_string_length(h), &b) ||
		    b.len != TDS_HASH_LEN) {
			tds_buf_free(&b);
			return tds_error_set(TDS_EINVAL, "invalid_proof", "proof item %zu is not base64 of a 32-byte hash", i);
		}
		memcpy(p->hash[i], b.data, TDS_HASH_LEN);
		p->len++;
	}
	tds_buf_free(&b);
	return 0;
}

/* ---- the cosigned checkpoint ---- */

static int latest_id(sqlite3 *db, int64_t *id)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT id FROM ledger_checkpoints ORDER BY id DESC LIMIT 1", &st);
	if (rc)
		return rc;
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	else if (s == SQLITE_DONE)
		rc = tds_error_set(TDS_ENOTFOUND, "no_checkpoint", "this ledger has not issued a checkpoint yet");
	else
		rc = tds_store_error(db, "reading checkpoints");
	sqlite3_finalize(st);
	return rc;
}

int tds_ledger_checkpoint_cosigned(tds_ledger *lg, tds_buf *note, tds_ledger_head *cp)
{
	sqlite3 *db = tds_store_conn(lg->store);
	sqlite3_stmt *st;
	int64_t id = 0;
	int rc;
	if (!db)
		return tds_error_code();
	/* one read transaction, so the note and its cosignatures belong together */
	if ((rc = tds_store_exec(db, "BEGIN")))
		return rc;
	if ((rc = latest_id(db, &id)) || (rc = tds_ledger_checkpoint_latest(lg, note, cp)))
		goto done;
	if ((rc = tds_store_prepare(db, "SELECT line FROM ledger_cosignatures WHERE checkpoint_id=? ORDER BY received_ms",
				    &st)))
		goto done;
	sqlite3_bind_int64(st, 1, id);
	int s;
	while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW)
		rc = tds_buf_puts(note, (const char *)sqlite3_column_text(st, 0));
	if (!rc && s != SQLITE_DONE)
		rc = tds_store_error(db, "reading cosignatures");
	sqlite3_finalize(st);
done:
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	return rc;
}

/* ---- publishing to witnesses ---- */

typedef struct witness_info {
	char name[TDS_LEDGER_ORIGIN_MAX + 1];
	tds_key *key;
	uint64_t size; /* size this log believes the witness cosigned */
} witness_info;

static int fetch_witness(tds_http_client *c, witness_info *wi)
{
	long status = 0;
	json_t *out = NULL;
	int rc = tds_http_client_json(c, "GET", "/api/v1/node", NULL, &status, &out);
	if (!rc && status != 200)
		rc = tds_error_set(TDS_EIO, "witness_unreachable", "GET /api/v1/node answered %ld", status);
	const char *id = tds_json_str(out, "node_id", NULL), *pem = tds_json_str(out, "public_key_pem", NULL);
	if (!rc && (!id || !pem || !tds_id_valid(id, "node")))
		rc = tds_error_set(TDS_EIO, "witness_unreachable", "the witness did not say who it is");
	if (!rc) {
		snprintf(wi->name, sizeof wi->name, "tds.local/%s", id);
		rc = tds_key_from_pem(pem, strlen(pem), &wi->key);
	}
	json_decref(out);
	return rc;
}

static int state_get(sqlite3 *db, const char *url, uint64_t *size)
{
	sqlite3_stmt *st;
	*size = 0;
	int rc = tds_store_prepare(db, "SELECT size FROM ledger_witness_state WHERE url=?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		*size = (uint64_t)sqlite3_column_int64(st, 0);
	else if (s != SQLITE_DONE)
		rc = tds_store_error(db, "reading witness state");
	sqlite3_finalize(st);
	return rc;
}

typedef struct keep_ctx {
	const char *url, *witness, *line;
	uint32_t key_id;
	uint64_t timestamp, size;
	const tds_ledger_head *cp;
	const char *key_pem;
} keep_ctx;

static int keep_tx(sqlite3 *db, void *arg)
{
	keep_ctx *c = arg;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "INSERT OR REPLACE INTO ledger_cosignatures(checkpoint_id, witness, key_id, timestamp,"
				       " line, received_ms) SELECT id, ?, ?, ?, ?, ? FROM ledger_checkpoints"
				       " WHERE size=? AND root=? ORDER BY id DESC LIMIT 1", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, c->witness, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->key_id);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)c->timestamp);
	sqlite3_bind_text(st, 4, c->line, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, tds_now_ms());
	sqlite3_bind_int64(st, 6, (sqlite3_int64)c->cp->size);
	sqlite3_bind_blob(st, 7, c->cp->root, TDS_HASH_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : tds_store_error(db, "keeping cosignature");
	sqlite3_finalize(st);
	if (rc || (rc = tds_store_prepare(db, "INSERT OR REPLACE INTO ledger_witness_state(url, witness, key_pem, size,"
					      " updated_ms) VALUES(?,?,?,?,?)", &st)))
		return rc;
	sqlite3_bind_text(st, 1, c->url, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->witness, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->key_pem, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)c->size);
	sqlite3_bind_int64(st, 5, tds_now_ms());
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : tds_store_error(db, "keeping witness state");
	sqlite3_finalize(st);
	return rc;
}

int tds_ledger_set_signer(tds_ledger *lg, const tds_key *key, const char *keyid)
{
	size_t n = keyid ? strlen(keyid) : 0;
	if (key && (n == 0 || n >= sizeof lg->sign_keyid || !tds_key_has_private(key)))
		return tds_error_set(TDS_EINVAL, "invalid_signer", "a signer needs a private key and a keyid of 1-256 characters");
	pthread_mutex_lock(&lg->sign_lock);
	lg->sign_key = key;
	snprintf(lg->sign_keyid, sizeof lg->sign_keyid, "%s", key ? keyid : "");
	pthread_mutex_unlock(&lg->sign_lock);
	return 0;
}

/* Makes the client sign as the ledger's signer, if it has one. */
static int apply_signer(tds_ledger *lg, tds_http_client *c)
{
	char keyid[sizeof lg->sign_keyid];
	pthread_mutex_lock(&lg->sign_lock);
	const tds_key *key = lg->sign_key;
	memcpy(keyid, lg->sign_keyid, sizeof keyid);
	pthread_mutex_unlock(&lg->sign_lock);
	return key ? tds_http_client_set_signer(c, key, keyid) : 0;
}

/* One add-checkpoint exchange; on 409 with another known size, one retry from that size. */
static int ask_witness(tds_ledger *lg, const char *url, const tds_buf *note, const tds_ledger_head *cp, json_t *rep)
{
	witness_info wi = {0};
	tds_http_client *c = tds_http_client_new(url, 15000);
	json_t *out = NULL;
	tds_buf line = TDS_BUF_INIT, pem = TDS_BUF_INIT;
	int rc;
	if (!c)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if ((rc = apply_signer(lg, c)) || (rc = fetch_witness(c, &wi)))
		goto done;
	json_object_set_new(rep, "witness", json_string(wi.name));
	sqlite3 *db = tds_store_conn(lg->store);
	if (!db || (rc = state_get(db, url, &wi.size))) {
		rc = db ? rc : tds_error_code();
		goto done;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		tds_ledger_proof proof;
		if (wi.size > cp->size) {
			rc = tds_error_set(TDS_ECONFLICT, "witness_ahead", "the witness holds size %llu, beyond this log's %llu",
					   (unsigned long long)wi.size, (unsigned long long)cp->size);
			goto done;
		}
		if ((rc = tds_ledger_consistency_proof(lg, wi.size, cp->size, &proof)))
			goto done;
		json_t *req = json_pack("{s:s, s:I, s:o}", "checkpoint", note->data, "old_size", (json_int_t)wi.size, "proof",
					tds_ledger_proof_to_json(&proof));
		long status = 0;
		json_decref(out);
		out = NULL;
		rc = tds_http_client_json(c, "POST", "/api/v1/ledger/cosign", req, &status, &out);
		json_decref(req);
		if (rc)
			goto done;
		json_t *err = json_object_get(out, "error");
		json_t *known = json_object_get(json_object_get(err, "details"), "known_size");
		if (status == 409 && attempt == 0 && json_is_integer(known) &&
		    strcmp(tds_json_str(err, "code", ""), "old_size_mismatch") == 0 && json_integer_value(known) >= 0) {
			wi.size = (uint64_t)json_integer_value(known);
			continue;
		}
		if (status != 200) {
			rc = tds_error_set(status == 409 ? TDS_ECONFLICT : TDS_EIO, tds_json_str(err, "code", "witness_refused"),
					   "witness answered %ld: %s", status, tds_json_str(err, "message", "no message"));
			goto done;
		}
		break;
	}
	const char *cosig = tds_json_str(out, "cosignature", NULL);
	if (!cosig || (rc = tds_buf_puts(&line, cosig))) {
		rc = rc ? rc : tds_error_set(TDS_EIO, "witness_refused", "the witness answered without a cosignature");
		goto done;
	}
	/* the cosigned note is the checkpoint note plus the line: verify it as a reader would */
	tds_buf full = TDS_BUF_INIT;
	uint64_t ts = 0;
	uint32_t key_id = 0;
	rc = tds_buf_append(&full, note->data, note->len);
	if (!rc)
		rc = tds_buf_append(&full, line.data, line.len);
	if (!rc)
		rc = tds_ledger_cosignature_verify(full.data, full.len, wi.name, wi.key, &ts);
	tds_buf_free(&full);
	if (rc || (rc = tds_ledger_key_id(wi.name, TDS_LEDGER_SIG_COSIGNATURE, wi.key, &key_id)) ||
	    (rc = tds_key_public_pem(wi.key, &pem)))
		goto done;
	keep_ctx k = {url, wi.name, line.data, key_id, ts, cp->size, cp, pem.data};
	rc = tds_store_tx(lg->store, keep_tx, &k);
done:
	tds_http_client_free(c);
	tds_key_free(wi.key);
	json_decref(out);
	tds_buf_free(&line);
	tds_buf_free(&pem);
	return rc;
}

int tds_ledger_publish(tds_ledger *lg, const char *const *urls, size_t n, json_t **report)
{
	tds_buf note = TDS_BUF_INIT;
	tds_ledger_head cp;
	int rc = tds_ledger_checkpoint(lg, &note, &cp);
	if (rc) {
		tds_buf_free(&note);
		return rc;
	}
	json_t *ws = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *rep = json_pack("{s:s}", "url", urls[i]);
		tds_error_clear();
		if (ask_witness(lg, urls[i], &note, &cp, rep) == 0) {
			json_object_set_new(rep, "ok", json_true());
		} else {
			json_object_set_new(rep, "ok", json_false());
			json_object_set_new(rep, "error", json_pack("{s:s, s:s}", "code", tds_error_name(), "message",
								   tds_error_message()));
			json_t *f = json_pack("{s:s, s:s, s:s}", "witness", urls[i], "code", tds_error_name(), "msg",
					      tds_error_message());
			tds_log_fields(TDS_LOG_WARN, "witness_failed", f);
		}
		json_array_append_new(ws, rep);
	}
	tds_buf b = TDS_BUF_INIT;
	tds_b64_encode(cp.root, TDS_HASH_LEN, &b);
	json_t *r = json_pack("{s:{s:s, s:I, s:s}, s:o}", "checkpoint", "origin", cp.origin, "size", (json_int_t)cp.size,
			      "root", b.data ? b.data : "", "witnesses", ws);
	tds_buf_free(&b);
	tds_buf_free(&note);
	if (report)
		*report = r;
	else
		json_decref(r);
	tds_error_clear();
	return 0;
}
