/*
 * search.c — audit queries over the evidence ledger (穿透式查询): by entry type (exact or prefix),
 * actor, subject and time range, in index order, each hit with its inclusion proof against the
 * latest checkpoint so that a regulator can check every answer against a signed (and cosigned)
 * tree head without trusting the node. Payloads stay sealed: hits carry the payload hash only.
 */
#include "ledger/internal.h"

#include <string.h>

static bool printable(const char *s)
{
	for (; s && *s; s++)
		if (*s < 0x21 || *s > 0x7e || *s == '"' || *s == '\\' || *s == '%')
			return false;
	return true;
}

int tds_ledger_search(tds_ledger *lg, const tds_ledger_query *q, json_t **out)
{
	if (q->limit < 1 || q->limit > 500)
		return tds_error_set(TDS_EINVAL, "invalid_limit", "limit must be between 1 and 500");
	const char *fields[] = {q->type, q->actor, q->subject};
	for (size_t i = 0; i < 3; i++)
		if (fields[i] && (!*fields[i] || strlen(fields[i]) > TDS_LEDGER_ID_MAX || !printable(fields[i])))
			return tds_error_set(TDS_EINVAL, "invalid_query",
					     "type, actor and subject must be 1-%d printable characters without quotes",
					     TDS_LEDGER_ID_MAX);
	/* the size the proofs are against: the latest checkpoint, else the committed size */
	tds_buf note = TDS_BUF_INIT;
	tds_ledger_head cp;
	uint64_t size = 0;
	int rc = tds_ledger_checkpoint_cosigned(lg, &note, &cp);
	if (rc == 0) {
		size = cp.size;
	} else if (rc == TDS_ENOTFOUND) {
		tds_buf_free(&note);
		if ((rc = tds_ledger_size(lg, &size, NULL)))
			return rc;
	} else {
		tds_buf_free(&note);
		return rc;
	}
	sqlite3 *db = tds_store_conn(lg->store);
	sqlite3_stmt *st = NULL;
	if (!db) {
		tds_buf_free(&note);
		return tds_error_code();
	}
	bool prefix = q->type && q->type[strlen(q->type) - 1] == '.';
	char like[2 * TDS_LEDGER_ID_MAX + 2]; /* the prefix with LIKE's '_' escaped, then '%' */
	size_t ln = 0;
	for (const char *p = q->type; p && *p; p++) {
		if (*p == '_')
			like[ln++] = '\\';
		like[ln++] = *p;
	}
	like[ln++] = '%';
	like[ln] = 0;
	rc = tds_store_prepare(
	    db,
	    "SELECT idx FROM ledger_entries WHERE idx >= ?1 AND idx < ?2"
	    " AND (?3 IS NULL OR (?4 AND type LIKE ?3 ESCAPE '\\') OR (NOT ?4 AND type = ?5))"
	    " AND (?6 IS NULL OR actor_org = ?6 OR actor_account = ?6 OR actor_node = ?6)"
	    " AND (?7 IS NULL OR instr(subjects, ?7) > 0)"
	    " AND (?8 = 0 OR time_ms >= ?8) AND (?9 = 0 OR time_ms < ?9)"
	    " ORDER BY idx LIMIT ?10",
	    &st);
	if (rc) {
		tds_buf_free(&note);
		return rc;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)q->cursor);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
	if (q->type) {
		sqlite3_bind_text(st, 3, like, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, prefix);
		sqlite3_bind_text(st, 5, q->type, -1, SQLITE_STATIC);
	}
	if (q->actor)
		sqlite3_bind_text(st, 6, q->actor, -1, SQLITE_STATIC);
	char quoted[TDS_LEDGER_ID_MAX + 4];
	if (q->subject) {
		snprintf(quoted, sizeof quoted, "\"%s\"", q->subject); /* subjects is a JSON array of strings */
		sqlite3_bind_text(st, 7, quoted, -1, SQLITE_STATIC);
	}
	sqlite3_bind_int64(st, 8, q->from_ms);
	sqlite3_bind_int64(st, 9, q->to_ms);
	sqlite3_bind_int(st, 10, q->limit + 1);

	json_t *items = json_array();
	uint64_t idx[501];
	int n = 0, s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW && n <= q->limit)
		idx[n++] = (uint64_t)sqlite3_column_int64(st, 0);
	if (s != SQLITE_ROW && s != SQLITE_DONE)
		rc = tds_store_error(db, "searching the ledger");
	sqlite3_finalize(st);
	bool more = n > q->limit;
	if (more)
		n = q->limit;
	for (int i = 0; i < n && !rc; i++) {
		tds_ledger_entry e = {.leaf = TDS_BUF_INIT, .payload_sealed = TDS_BUF_INIT};
		tds_ledger_proof proof;
		json_t *ej = NULL;
		tds_buf lh = TDS_BUF_INIT;
		if (!(rc = tds_ledger_entry_get(lg, idx[i], &e)) && !(rc = tds_ledger_entry_json(&e, &ej)) &&
		    !(rc = tds_ledger_inclusion_proof(lg, idx[i], size, &proof)) &&
		    !(rc = tds_b64_encode(e.leaf_hash, TDS_HASH_LEN, &lh))) {
			json_object_set_new(ej, "payload_shredded", json_boolean(e.shredded));
			json_array_append_new(items, json_pack("{s:o, s:s, s:o}", "entry", ej, "leaf_hash", lh.data, "proof",
							       tds_ledger_proof_to_json(&proof)));
			ej = NULL;
		}
		json_decref(ej);
		tds_buf_free(&lh);
		tds_ledger_entry_release(&e);
	}
	if (rc) {
		json_decref(items);
		tds_buf_free(&note);
		return rc;
	}
	char next[24];
	if (more)
		snprintf(next, sizeof next, "%llu", (unsigned long long)(idx[n - 1] + 1));
	*out = json_pack("{s:I, s:s?, s:o, s:s?}", "size", (json_int_t)size, "checkpoint", note.len ? note.data : NULL,
			 "items", items, "next_cursor", more ? next : NULL);
	tds_buf_free(&note);
	return 0;
}
