/*
 * util.c — helpers identity's files share (internal.h): the acting account's relations, evidence
 * entries (in the change's transaction) and evidence of refused attempts, account rows, sessions,
 * and small SQL/JSON conversions. No domain rules live here.
 */
#include "identity/internal.h"

#include <stdlib.h>
#include <string.h>

int id_actor_load(tds_identity *id, sqlite3 *db, const tds_principal *p, id_actor *out)
{
	(void)id;
	memset(out, 0, sizeof *out);
	if (!p || !p->account_id)
		return tds_error_set(TDS_EAUTH, "unauthenticated", "this needs a signed-in account: send Authorization: Bearer <token>");
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db,
				   "SELECT a.id, a.org_id, a.person_id, a.kind, a.org_admin,"
				   " CASE WHEN a.org_id IS NOT NULL THEN (SELECT status FROM orgs WHERE id = a.org_id)"
				   "      WHEN a.person_id IS NOT NULL THEN (SELECT status FROM persons WHERE id = a.person_id) END"
				   " FROM accounts a WHERE a.id = ? AND a.disabled = 0",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, p->account_id, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		id_col_copy(st, 0, out->account_id, sizeof out->account_id);
		id_col_copy(st, 1, out->org_id, sizeof out->org_id);
		id_col_copy(st, 2, out->person_id, sizeof out->person_id);
		id_col_copy(st, 3, out->kind, sizeof out->kind);
		out->org_admin = sqlite3_column_int(st, 4) != 0;
		id_col_copy(st, 5, out->holder_status, sizeof out->holder_status);
	} else if (s == SQLITE_DONE) {
		rc = tds_error_set(TDS_ENOTFOUND, "account_not_found", "the calling account no longer exists or is disabled");
	} else {
		rc = tds_store_error(db, "reading the calling account");
	}
	sqlite3_finalize(st);
	return rc;
}

tds_ledger_actor id_ledger_actor(const tds_identity *id, const tds_principal *p)
{
	tds_ledger_actor a = {.node = id->node_id[0] ? id->node_id : NULL};
	if (p) {
		a.account = p->account_id;
		a.org = p->org_id;
	}
	return a;
}

int id_evidence(tds_identity *id, sqlite3 *db, const char *type, tds_ledger_actor actor, const char *s1,
		const char *s2, const char *s3, json_t *payload)
{
	if (!id->ledger) {
		json_decref(payload);
		return tds_error_set(TDS_EINTERNAL, "no_ledger", "identity was opened without a ledger: changes need evidence");
	}
	const char *in[3] = {s1, s2, s3}, *subjects[3];
	size_t n = 0;
	for (size_t i = 0; i < 3; i++)
		if (in[i] && in[i][0])
			subjects[n++] = in[i];
	tds_ledger_entry_in e = {
	    .type = type,
	    .actor = actor,
	    .subjects = n ? subjects : NULL,
	    .nsubjects = n,
	    .payload = payload,
	};
	uint64_t idx;
	int rc = tds_ledger_append_tx(id->ledger, db, &e, &idx);
	json_decref(payload);
	return rc;
}

int id_evidence_by(tds_identity *id, sqlite3 *db, const char *type, const char *by, const char *s1, const char *s2,
		   const char *s3, json_t *payload)
{
	tds_ledger_actor a = {.account = by, .node = id->node_id[0] ? id->node_id : NULL};
	return id_evidence(id, db, type, a, s1, s2, s3, payload);
}

typedef struct refused_ctx {
	tds_identity *id;
	const tds_principal *p;
	const char *action, *subject, *code;
} refused_ctx;

static int refused_tx(sqlite3 *db, void *arg)
{
	refused_ctx *c = arg;
	return id_evidence(c->id, db, "identity.refused", id_ledger_actor(c->id, c->p), c->subject, NULL, NULL,
			   json_pack("{s:s, s:s}", "action", c->action, "code", c->code));
}

int id_refused(tds_identity *id, const tds_principal *p, const char *action, const char *subject)
{
	int code = tds_error_code();
	char name[64], msg[1024];
	snprintf(name, sizeof name, "%s", tds_error_name());
	snprintf(msg, sizeof msg, "%s", tds_error_message());
	json_t *details = json_incref(tds_error_details());
	refused_ctx c = {id, p, action, subject && tds_id_valid(subject, NULL) ? subject : NULL, name};
	if (tds_store_tx(id->store, refused_tx, &c) < 0)
		tds_log(TDS_LOG_ERROR, "evidence_failed", "could not record a refused %s attempt: %s", action,
			tds_error_message());
	tds_error_set(code, name, "%s", msg);
	if (details)
		tds_error_set_details(details);
	return code;
}

typedef struct note_ctx {
	tds_identity *id;
	const tds_principal *p;
	const char *type, *subject;
	json_t *payload;
} note_ctx;

static int note_tx(sqlite3 *db, void *arg)
{
	note_ctx *c = arg;
	return id_evidence(c->id, db, c->type, id_ledger_actor(c->id, c->p), c->subject, NULL, NULL, json_incref(c->payload));
}

int id_note(tds_identity *id, const tds_principal *p, const char *type, const char *subject, json_t *payload)
{
	note_ctx c = {id, p, type, subject, payload};
	int rc = tds_store_tx(id->store, note_tx, &c);
	json_decref(payload);
	return rc;
}

int id_step_done(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : tds_store_error(db, what);
	sqlite3_finalize(st);
	return rc;
}

json_t *id_time_json(int64_t ms)
{
	char t[TDS_TIME_MAX];
	if (tds_time_format(ms, t))
		return json_null();
	return json_string(t);
}

json_t *id_col_str(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	return s ? json_string((const char *)s) : json_null();
}

json_t *id_col_time(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? json_null() : id_time_json(sqlite3_column_int64(st, col));
}

void id_col_copy(sqlite3_stmt *st, int col, char *out, size_t cap)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	snprintf(out, cap, "%s", s ? (const char *)s : "");
}

json_t *id_page(json_t *items, bool more)
{
	json_t *last = json_array_get(items, json_array_size(items) - 1);
	json_t *next = more && last ? json_incref(json_object_get(last, "id")) : NULL;
	return json_pack("{s:o, s:o}", "items", items, "next_cursor", next ? next : json_null());
}

int id_page_run(sqlite3 *db, sqlite3_stmt *st, int limit, json_t *(*row)(sqlite3_stmt *st), const char *what,
		json_t **out)
{
	json_t *items = json_array();
	int s, n = 0;
	while ((s = sqlite3_step(st)) == SQLITE_ROW && n < limit) {
		json_array_append_new(items, row(st));
		n++;
	}
	if (s != SQLITE_ROW && s != SQLITE_DONE) {
		json_decref(items);
		return tds_store_error(db, what);
	}
	*out = id_page(items, s == SQLITE_ROW);
	return 0;
}

int id_check_text(const char *field, const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	bool ok = n >= 1 && n <= max && tds_utf8_valid(s, n);
	for (size_t i = 0; ok && i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			ok = false;
	if (ok) {
		/* not only white space */
		ok = false;
		for (size_t i = 0; i < n && !ok; i++)
			ok = s[i] != ' ';
	}
	if (!ok)
		return tds_error_set(TDS_EINVAL, "invalid_field",
				     "field '%s' must be 1-%zu bytes of text without control characters", field, max);
	return 0;
}

int id_hash_password(const char *password, char *out)
{
	if (crypto_pwhash_str_alg(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
				  crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return tds_error_set(TDS_ENOMEM, NULL, "argon2id could not get its memory; retry");
	return 0;
}

int id_insert_account(sqlite3 *db, const char *account_id, const char *username, const char *hash, tds_roles roles,
		      const char *kind, const char *org_id, const char *person_id, bool org_admin, bool has_mask,
		      tds_roles mask, int64_t now)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "INSERT INTO accounts(id,username,password_hash,roles,created_at,updated_at,"
				       "kind,org_id,person_id,org_admin,role_mask) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, username, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, roles);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int64(st, 6, now);
	sqlite3_bind_text(st, 7, kind, -1, SQLITE_STATIC);
	if (org_id)
		sqlite3_bind_text(st, 8, org_id, -1, SQLITE_STATIC);
	if (person_id)
		sqlite3_bind_text(st, 9, person_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 10, org_admin);
	if (has_mask)
		sqlite3_bind_int64(st, 11, mask);
	rc = id_step_done(db, st, "creating account");
	if (rc == TDS_ECONFLICT)
		return tds_error_set(TDS_ECONFLICT, "username_taken", "username '%s' is already taken; choose another", username);
	return rc;
}

int id_end_sessions(sqlite3 *db, const char *account_id, const char *keep, int *n)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "UPDATE sessions SET revoked_at=? WHERE account_id=? AND revoked_at IS NULL"
				       " AND id <> ?",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, tds_now_ms());
	sqlite3_bind_text(st, 2, account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, keep ? keep : "", -1, SQLITE_STATIC);
	rc = id_step_done(db, st, "ending sessions");
	if (!rc && n)
		*n = sqlite3_changes(db);
	return rc;
}
