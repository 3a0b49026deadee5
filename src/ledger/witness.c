/*
 * witness.c — the witness side of the ledger (C2SP tlog-witness, adapted): a node that witnesses
 * other nodes' logs keeps, per log origin, the latest checkpoint it cosigned, and cosigns a new one
 * only after checking the log's signature and a consistency proof from that checkpoint. Two signed
 * checkpoints of one log that cannot both be true (same size, different roots; or a larger tree the
 * log cannot prove consistent with the smaller one) are a split view: the witness refuses to cosign,
 * keeps both notes as evidence, appends a "ledger.split_view" entry to its own ledger, and logs an
 * alert. Every cosignature is itself evidenced in the witness's own ledger ("ledger.cosigned"), which
 * is how the operator's central log anchors every connector's log (one checkpoint covers the space).
 *
 * Not here: the log's side (publish.c), HTTP (routes.c).
 */
#include "ledger/internal.h"

#include "http/http.h"

#include <stdlib.h>
#include <string.h>

struct tds_witness {
	tds_store *store;
	char name[TDS_LEDGER_ORIGIN_MAX + 1];
	const tds_key *key;
	tds_ledger *own;
	pthread_mutex_t lock; /* one cosign at a time: read, check, advance */
};

static const tds_migration MIGRATIONS[] = {
    {1, "CREATE TABLE witness_logs ("
	"  origin TEXT PRIMARY KEY, key_pem TEXT NOT NULL, url TEXT,"
	"  size INTEGER NOT NULL DEFAULT 0, root BLOB, note TEXT, added_ms INTEGER NOT NULL,"
	"  updated_ms INTEGER) STRICT;"
	"CREATE TABLE witness_split_views ("
	"  id INTEGER PRIMARY KEY, origin TEXT NOT NULL, detected_ms INTEGER NOT NULL, reason TEXT NOT NULL,"
	"  known_size INTEGER NOT NULL, known_note TEXT, presented_size INTEGER NOT NULL,"
	"  presented_note TEXT NOT NULL) STRICT;"
	"CREATE TABLE ledger_witness_state ("
	"  url TEXT PRIMARY KEY, witness TEXT NOT NULL, key_pem TEXT NOT NULL, size INTEGER NOT NULL,"
	"  updated_ms INTEGER NOT NULL) STRICT;"},
};

int tds_witness_migrate(tds_store *store)
{
	return tds_store_migrate(store, "witness", MIGRATIONS, TDS_ARRAY_LEN(MIGRATIONS));
}

int tds_witness_open(const tds_witness_opts *o, tds_witness **out)
{
	*out = NULL;
	if (!o->store || !o->name || !o->key || !tds_key_has_private(o->key))
		return tds_error_set(TDS_EINVAL, "invalid_witness", "a witness needs a store, a name and a private key");
	uint32_t id;
	int rc = tds_ledger_key_id(o->name, TDS_LEDGER_SIG_COSIGNATURE, o->key, &id);
	if (rc || (rc = tds_witness_migrate(o->store)))
		return rc;
	tds_witness *w = calloc(1, sizeof *w);
	if (!w)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	w->store = o->store;
	snprintf(w->name, sizeof w->name, "%s", o->name);
	w->key = o->key;
	w->own = o->own;
	pthread_mutex_init(&w->lock, NULL);
	*out = w;
	return 0;
}

void tds_witness_free(tds_witness *w)
{
	if (!w)
		return;
	pthread_mutex_destroy(&w->lock);
	free(w);
}

const char *tds_witness_name(const tds_witness *w) { return w->name; }

static int step_done(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : tds_store_error(db, what);
	sqlite3_finalize(st);
	return rc;
}

int tds_witness_log_add(tds_witness *w, const char *origin, const char *key_pem, const char *url)
{
	tds_ledger_head probe = {0};
	tds_buf body = TDS_BUF_INIT;
	tds_key *key = NULL;
	int rc;
	if (!origin || strlen(origin) > TDS_LEDGER_ORIGIN_MAX)
		return tds_error_set(TDS_EINVAL, "invalid_origin", "origin must be 1-%d bytes", TDS_LEDGER_ORIGIN_MAX);
	snprintf(probe.origin, sizeof probe.origin, "%s", origin);
	rc = tds_ledger_checkpoint_body(&probe, &body); /* validates the origin's characters */
	tds_buf_free(&body);
	if (rc)
		return rc;
	if (url && strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return tds_error_set(TDS_EINVAL, "invalid_url", "url must be an http:// or https:// URL");
	if (!key_pem || (rc = tds_key_from_pem(key_pem, strlen(key_pem), &key)))
		return rc ? tds_error_wrap("public_key_pem: ") : tds_error_set(TDS_EINVAL, "missing_field", "public_key_pem is required");
	tds_buf pub = TDS_BUF_INIT;
	rc = tds_key_public_pem(key, &pub); /* store the public half only, whatever was sent */
	tds_key_free(key);
	if (rc) {
		tds_buf_free(&pub);
		return rc;
	}
	sqlite3 *db = tds_store_conn(w->store);
	sqlite3_stmt *st;
	if (!db || (rc = tds_store_prepare(db, "INSERT INTO witness_logs(origin, key_pem, url, added_ms) VALUES(?,?,?,?)",
					  &st))) {
		tds_buf_free(&pub);
		return db ? rc : tds_error_code();
	}
	sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, pub.data, (int)pub.len, SQLITE_STATIC);
	if (url)
		sqlite3_bind_text(st, 3, url, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, tds_now_ms());
	rc = step_done(db, st, "adding witnessed log");
	tds_buf_free(&pub);
	if (rc == TDS_ECONFLICT)
		return tds_error_set(TDS_ECONFLICT, "log_exists", "log %s is already witnessed here", origin);
	return rc;
}

static json_t *time_or_null(sqlite3_stmt *st, int col)
{
	char t[TDS_TIME_MAX];
	if (sqlite3_column_type(st, col) == SQLITE_NULL || tds_time_format(sqlite3_column_int64(st, col), t))
		return json_null();
	return json_string(t);
}

static json_t *b64_or_null(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	tds_buf b = TDS_BUF_INIT;
	json_t *v = tds_b64_encode(sqlite3_column_blob(st, col), (size_t)sqlite3_column_bytes(st, col), &b) ? json_null()
													       : json_string(b.data ? b.data : "");
	tds_buf_free(&b);
	return v;
}

int tds_witness_log_list(tds_witness *w, json_t **out)
{
	sqlite3 *db = tds_store_conn(w->store);
	sqlite3_stmt *st;
	int rc;
	if (!db)
		return tds_error_code();
	if ((rc = tds_store_prepare(db, "SELECT origin, url, size, root, added_ms, updated_ms FROM witness_logs ORDER BY origin",
				    &st)))
		return rc;
	json_t *items = json_array();
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(items, json_pack("{s:s, s:s?, s:I, s:o, s:o, s:o}", "origin", sqlite3_column_text(st, 0),
						       "url", sqlite3_column_text(st, 1), "size",
						       (json_int_t)sqlite3_column_int64(st, 2), "root", b64_or_null(st, 3),
						       "added_at", time_or_null(st, 4), "cosigned_at", time_or_null(st, 5)));
	if (s != SQLITE_DONE) {
		rc = tds_store_error(db, "listing witnessed logs");
		json_decref(items);
	} else {
		*out = json_pack("{s:s, s:o}", "witness", w->name, "items", items);
	}
	sqlite3_finalize(st);
	return rc;
}

int tds_witness_split_views(tds_witness *w, json_t **out)
{
	sqlite3 *db = tds_store_conn(w->store);
	sqlite3_stmt *st;
	int rc;
	if (!db)
		return tds_error_code();
	if ((rc = tds_store_prepare(db, "SELECT id, origin, detected_ms, reason, known_size, known_note, presented_size,"
				       " presented_note FROM witness_split_views ORDER BY id", &st)))
		return rc;
	json_t *items = json_array();
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(
		    items, json_pack("{s:I, s:s, s:o, s:s, s:{s:I, s:s?}, s:{s:I, s:s}}", "id",
				     (json_int_t)sqlite3_column_int64(st, 0), "origin", sqlite3_column_text(st, 1), "detected_at",
				     time_or_null(st, 2), "reason", sqlite3_column_text(st, 3), "known", "size",
				     (json_int_t)sqlite3_column_int64(st, 4), "note", sqlite3_column_text(st, 5), "presented",
				     "size", (json_int_t)sqlite3_column_int64(st, 6), "note", sqlite3_column_text(st, 7)));
	if (s != SQLITE_DONE) {
		rc = tds_store_error(db, "listing split views");
		json_decref(items);
	} else {
		*out = json_pack("{s:o}", "items", items);
	}
	sqlite3_finalize(st);
	return rc;
}

/* ---- cosigning ---- */

typedef struct known_log {
	tds_key *key;
	char url[512];
	bool has_url;
	uint64_t size;
	uint8_t root[TDS_HASH_LEN];
	tds_buf note;
} known_log;

static int load_log(tds_witness *w, const char *origin, known_log *k)
{
	sqlite3 *db = tds_store_conn(w->store);
	sqlite3_stmt *st;
	int rc;
	if (!db)
		return tds_error_code();
	if ((rc = tds_store_prepare(db, "SELECT key_pem, url, size, root, note FROM witness_logs WHERE origin=?", &st)))
		return rc;
	sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		const char *pem = (const char *)sqlite3_column_text(st, 0);
		rc = tds_key_from_pem(pem, strlen(pem), &k->key);
		k->has_url = sqlite3_column_type(st, 1) != SQLITE_NULL;
		if (k->has_url)
			snprintf(k->url, sizeof k->url, "%s", sqlite3_column_text(st, 1));
		k->size = (uint64_t)sqlite3_column_int64(st, 2);
		if (k->size && sqlite3_column_bytes(st, 3) == TDS_HASH_LEN)
			memcpy(k->root, sqlite3_column_blob(st, 3), TDS_HASH_LEN);
		if (!rc && sqlite3_column_type(st, 4) != SQLITE_NULL)
			rc = tds_buf_puts(&k->note, (const char *)sqlite3_column_text(st, 4));
	} else if (s == SQLITE_DONE) {
		rc = tds_error_set(TDS_ENOTFOUND, "unknown_log",
				   "this witness does not witness log '%s'; an administrator adds it with POST "
				   "/api/v1/ledger/witness/logs", origin);
	} else {
		rc = tds_store_error(db, "reading witnessed log");
	}
	sqlite3_finalize(st);
	if (!rc && k->size == 0)
		rc = tds_ledger_empty_root(tds_key_suite(k->key), k->root);
	return rc;
}

/* Asks the log itself for PROOF(m, D[n]) (a relayed proof may be wrong by accident). */
static int fetch_proof(const char *url, uint64_t m, uint64_t n, tds_ledger_proof *p)
{
	tds_http_client *c = tds_http_client_new(url, 10000);
	if (!c)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	char path[128];
	snprintf(path, sizeof path, "/api/v1/ledger/proof/consistency?from=%llu&to=%llu", (unsigned long long)m,
		 (unsigned long long)n);
	long status = 0;
	json_t *out = NULL;
	int rc = tds_http_client_json(c, "GET", path, NULL, &status, &out);
	tds_http_client_free(c);
	if (!rc && status >= 400 && status < 500) /* the log refuses to prove a tree it signed */
		rc = tds_error_set(TDS_ECRYPTO, "log_cannot_prove", "the log answered %ld to a consistency proof request", status);
	else if (!rc && status != 200)
		rc = tds_error_set(TDS_EIO, "log_unreachable", "the log answered %ld to a consistency proof request", status);
	if (!rc)
		rc = tds_ledger_proof_from_json(json_object_get(out, "proof"), p);
	json_decref(out);
	return rc;
}

typedef struct advance_ctx {
	tds_witness *w;
	const char *origin;
	const tds_ledger_head *head;
	const char *note;
	size_t note_len;
} advance_ctx;

static json_t *head_json(const tds_ledger_head *h)
{
	tds_buf b = TDS_BUF_INIT;
	tds_b64_encode(h->root, TDS_HASH_LEN, &b);
	json_t *o = json_pack("{s:s, s:I, s:s}", "origin", h->origin, "size", (json_int_t)h->size, "root", b.data ? b.data : "");
	tds_buf_free(&b);
	return o;
}

static int advance_tx(sqlite3 *db, void *arg)
{
	advance_ctx *c = arg;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "UPDATE witness_logs SET size=?, root=?, note=?, updated_ms=? WHERE origin=?", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)c->head->size);
	sqlite3_bind_blob(st, 2, c->head->root, TDS_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->note, (int)c->note_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, tds_now_ms());
	sqlite3_bind_text(st, 5, c->origin, -1, SQLITE_STATIC);
	if ((rc = step_done(db, st, "advancing witnessed log")))
		return rc;
	if (!c->w->own)
		return 0;
	json_t *payload = head_json(c->head);
	const char *subjects[] = {c->origin};
	tds_ledger_entry_in e = {.type = "ledger.cosigned", .actor = {.node = NULL}, .subjects = subjects, .nsubjects = 1,
				 .payload = payload};
	uint64_t idx;
	rc = tds_ledger_append_tx(c->w->own, db, &e, &idx);
	json_decref(payload);
	return rc;
}

typedef struct split_ctx {
	tds_witness *w;
	const char *origin, *reason;
	const known_log *k;
	const tds_ledger_head *head;
	const char *note;
	size_t note_len;
} split_ctx;

static int split_tx(sqlite3 *db, void *arg)
{
	split_ctx *c = arg;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "INSERT INTO witness_split_views(origin, detected_ms, reason, known_size, known_note,"
				       " presented_size, presented_note) VALUES(?,?,?,?,?,?,?)", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, c->origin, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, tds_now_ms());
	sqlite3_bind_text(st, 3, c->reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)c->k->size);
	if (c->k->note.len)
		sqlite3_bind_text(st, 5, c->k->note.data, (int)c->k->note.len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)c->head->size);
	sqlite3_bind_text(st, 7, c->note, (int)c->note_len, SQLITE_STATIC);
	if ((rc = step_done(db, st, "keeping split-view evidence")) || !c->w->own)
		return rc;
	tds_ledger_head known = {0};
	snprintf(known.origin, sizeof known.origin, "%s", c->origin);
	known.size = c->k->size;
	memcpy(known.root, c->k->root, TDS_HASH_LEN);
	json_t *payload = json_pack("{s:s, s:o, s:o}", "reason", c->reason, "known", head_json(&known), "presented",
				    head_json(c->head));
	const char *subjects[] = {c->origin};
	tds_ledger_entry_in e = {.type = "ledger.split_view", .subjects = subjects, .nsubjects = 1, .payload = payload};
	uint64_t idx;
	rc = tds_ledger_append_tx(c->w->own, db, &e, &idx);
	json_decref(payload);
	return rc;
}

static int split_view(tds_witness *w, const char *origin, const known_log *k, const tds_ledger_head *head,
		      const char *note, size_t len, const char *reason)
{
	split_ctx c = {w, origin, reason, k, head, note, len};
	int rc = tds_store_tx(w->store, split_tx, &c);
	json_t *f = json_pack("{s:s, s:s, s:I, s:I}", "origin", origin, "reason", reason, "known_size", (json_int_t)k->size,
			      "presented_size", (json_int_t)head->size);
	tds_log_fields(TDS_LOG_ERROR, "split_view_detected", f);
	if (rc)
		return rc;
	tds_error_set(TDS_ECONFLICT, "split_view",
		      "log %s presented a checkpoint inconsistent with the one this witness cosigned (%s); evidence kept",
		      origin, reason);
	tds_error_set_details(json_pack("{s:I, s:I, s:s}", "known_size", (json_int_t)k->size, "presented_size",
					(json_int_t)head->size, "reason", reason));
	return TDS_ECONFLICT;
}

int tds_witness_cosign(tds_witness *w, const char *note, size_t len, uint64_t old_size, const tds_ledger_proof *proof,
		       tds_buf *line, uint64_t *known_size)
{
	tds_ledger_note parsed;
	tds_ledger_head head;
	int rc = tds_ledger_note_parse(note, len, &parsed);
	if (rc || (rc = tds_ledger_checkpoint_parse(parsed.text, parsed.text_len, &head)))
		return rc;
	pthread_mutex_lock(&w->lock);
	known_log k = {.note = TDS_BUF_INIT};
	if ((rc = load_log(w, head.origin, &k)))
		goto done;
	*known_size = k.size;
	/* signed by the log's key, for its origin: anything else is not the log speaking */
	if ((rc = tds_ledger_checkpoint_open(note, len, head.origin, k.key, &head, NULL)))
		goto done;
	if (old_size != k.size) {
		rc = tds_error_set(TDS_ECONFLICT, "old_size_mismatch",
				   "this witness last cosigned size %llu of %s; send a consistency proof from there",
				   (unsigned long long)k.size, head.origin);
		tds_error_set_details(json_pack("{s:I}", "known_size", (json_int_t)k.size));
		goto done;
	}
	if (head.size < k.size) {
		rc = tds_error_set(TDS_ECONFLICT, "stale_checkpoint", "checkpoint size %llu is older than the cosigned %llu",
				   (unsigned long long)head.size, (unsigned long long)k.size);
		tds_error_set_details(json_pack("{s:I}", "known_size", (json_int_t)k.size));
		goto done;
	}
	if (head.size == k.size && !tds_ct_equal(head.root, k.root, TDS_HASH_LEN)) {
		rc = split_view(w, head.origin, &k, &head, note, len, "same size, different root");
		goto done;
	}
	if (head.size > k.size &&
	    tds_ledger_verify_consistency(tds_key_suite(k.key), k.size, head.size, k.root, head.root, proof->hash[0],
					  proof->len) != 0) {
		/* the relayed proof failed: ask the log itself; a log that signed both heads but cannot
		 * prove one extends the other has forked its view */
		int frc = TDS_EIO;
		if (k.has_url) {
			tds_ledger_proof own;
			frc = fetch_proof(k.url, k.size, head.size, &own);
			if (frc == 0)
				frc = tds_ledger_verify_consistency(tds_key_suite(k.key), k.size, head.size, k.root,
								    head.root, own.hash[0], own.len);
		}
		if (frc == 0) {
			tds_error_clear(); /* the log proved it: the relayed proof was merely wrong */
		} else if (frc == TDS_ECRYPTO || frc == TDS_EINVAL) {
			rc = split_view(w, head.origin, &k, &head, note, len,
					"the log cannot prove the new checkpoint consistent with the cosigned one");
			goto done;
		} else {
			rc = tds_error_set(TDS_EUNPROC, "bad_consistency_proof",
					   "the consistency proof from size %llu to %llu does not check",
					   (unsigned long long)k.size, (unsigned long long)head.size);
			goto done;
		}
	}
	size_t start = line->len;
	if ((rc = tds_ledger_cosign(parsed.text, parsed.text_len, w->name, w->key, (uint64_t)(tds_now_ms() / 1000), line)))
		goto done;
	advance_ctx a = {w, head.origin, &head, note, len};
	/* the same head again (anyone can replay a public cosigned checkpoint): a fresh cosignature,
	 * but nothing to advance or evidence, so the witness's ledger cannot be grown from outside */
	if (head.size > k.size && (rc = tds_store_tx(w->store, advance_tx, &a))) {
		line->len = start;
		if (line->data)
			line->data[start] = 0;
		goto done;
	}
	*known_size = head.size;
done:
	pthread_mutex_unlock(&w->lock);
	tds_key_free(k.key);
	tds_buf_free(&k.note);
	return rc;
}
