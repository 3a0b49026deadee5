/*
 * operation.c — the operation module's handle, schema and the helpers its files share: evidence,
 * application rows, review steps, time and text checks.
 *
 * Not for the workflow rules themselves (application.c, review.c, authorization.c) nor HTTP
 * (routes.c).
 */
#include "operation/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char MIGRATION_1[] =
    "CREATE TABLE op_applications ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL,"
    "  state TEXT NOT NULL,"            /* draft | submitted | initial_review | final_review | approved | rejected */
    "  round INTEGER NOT NULL,"         /* 0 while a draft; +1 at every (re)submission */
    "  body TEXT NOT NULL,"             /* the content as normalised (application.c) */
    "  entries TEXT NOT NULL,"          /* snapshot of each need's catalog entry (null when not found) */
    "  issues TEXT NOT NULL,"           /* the last check's issues */
    "  regulator_required INTEGER NOT NULL,"
    "  due_at INTEGER,"                 /* deadline of the current review step */
    "  reminded_due INTEGER,"           /* the due_at a reminder was logged for */
    "  authorization_id TEXT,"
    "  created_by TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  submitted_at INTEGER"
    ");"
    "CREATE INDEX op_applications_org ON op_applications(org_id, id);"
    "CREATE INDEX op_applications_due ON op_applications(state, due_at);"
    "CREATE TABLE op_steps ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  application_id TEXT NOT NULL REFERENCES op_applications(id),"
    "  round INTEGER NOT NULL,"
    "  stage TEXT NOT NULL,"            /* submit | resubmit | accept | initial | final | regulator */
    "  decision TEXT NOT NULL,"         /* submitted | approve | reject */
    "  actor_account TEXT,"
    "  actor_org TEXT,"
    "  role TEXT NOT NULL,"             /* applicant | reviewer | regulator */
    "  findings TEXT,"
    "  reasons TEXT,"
    "  advice TEXT,"
    "  conditions TEXT,"                /* specific restrictions of a final or regulator approval */
    "  at INTEGER NOT NULL,"
    "  UNIQUE (application_id, round, stage)" /* one decision per step and round, whoever races */
    ");"
    "CREATE TABLE op_authorizations ("
    "  id TEXT PRIMARY KEY,"
    "  application_id TEXT NOT NULL UNIQUE REFERENCES op_applications(id),"
    "  holder_org TEXT NOT NULL,"
    "  valid_from INTEGER NOT NULL,"
    "  valid_to INTEGER NOT NULL,"
    "  body TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX op_authorizations_holder ON op_authorizations(holder_org, id);";

const char *op_migration(void) { return MIGRATION_1; }

int tds_operation_open(tds_store *store, const tds_operation_opts *opts, tds_operation **out)
{
	*out = NULL;
	if (!store || !opts || !opts->ledger || !opts->catalog || !opts->qualified)
		return tds_error_set(TDS_EINVAL, "invalid_options",
				     "the operation module needs a store, a ledger, the fused catalog and a qualification check");
	if (opts->initial_review_days < 0 || opts->initial_review_days > 365 || opts->final_review_days < 0 ||
	    opts->final_review_days > 365)
		return tds_error_set(TDS_EINVAL, "invalid_options", "review deadlines are 1-365 days");
	tds_operation *op = calloc(1, sizeof *op);
	if (!op)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	op->store = store;
	op->ledger = opts->ledger;
	op->catalog = opts->catalog;
	op->qualified = opts->qualified;
	op->qualified_ctx = opts->qualified_ctx;
	op->initial_ms = (opts->initial_review_days ? opts->initial_review_days : 5) * OP_DAY_MS;
	op->final_ms = (opts->final_review_days ? opts->final_review_days : 10) * OP_DAY_MS;
	snprintf(op->node_id, sizeof op->node_id, "%s", opts->node_id ? opts->node_id : "");
	const tds_migration all[] = {{1, op_migration()}};
	int rc = tds_store_migrate(store, "operation", all, TDS_ARRAY_LEN(all));
	if (rc) {
		free(op);
		return rc;
	}
	*out = op;
	return 0;
}

void tds_operation_free(tds_operation *op) { free(op); }

/* ---- shared helpers ---- */

int op_evidence_tx(tds_operation *op, sqlite3 *db, const char *type, const tds_operation_caller *who, const char *id,
		   const char *id2, json_t *payload)
{
	if (!payload)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	tds_ledger_actor a = {.org = who ? who->org : NULL, .account = who ? who->account : NULL,
			      .node = op->node_id[0] ? op->node_id : NULL};
	const char *subjects[2] = {id, id2};
	tds_ledger_entry_in e = {.type = type, .actor = a, .subjects = subjects, .nsubjects = id2 && *id2 ? 2 : 1,
				 .payload = payload};
	uint64_t idx;
	int rc = tds_ledger_append_tx(op->ledger, db, &e, &idx);
	json_decref(payload);
	return rc;
}

json_t *op_time_json(int64_t ms)
{
	char t[TDS_TIME_MAX];
	return ms > 0 && !tds_time_format(ms, t) ? json_string(t) : json_null();
}

json_t *op_col_str(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return s ? json_string(s) : json_null();
}

json_t *op_col_json(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	json_t *j = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
	return j ? j : json_null();
}

bool op_text_ok(const char *s, size_t max, bool multiline)
{
	size_t n = s ? strlen(s) : 0;
	if (!n || n > max || !tds_utf8_valid(s, n))
		return false;
	bool blank = true;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p < 0x20 && !(multiline && (*p == '\n' || *p == '\t' || *p == '\r'))) || *p == 0x7f)
			return false;
		if (*p > 0x20)
			blank = false;
	}
	return !blank;
}

bool op_reads_all(const tds_operation_caller *who) { return (who->roles & OP_READ_ALL_ROLES) != 0; }

int op_app_load(sqlite3 *db, const char *id, op_app *a)
{
	memset(a, 0, sizeof *a);
	if (!tds_id_valid(id, "apl"))
		return tds_error_set(TDS_ENOTFOUND, "application_not_found", "no such application");
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT id, org_id, state, round, regulator_required, body, entries, ifnull(due_at, 0)"
				       " FROM op_applications WHERE id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		snprintf(a->id, sizeof a->id, "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(a->org, sizeof a->org, "%s", (const char *)sqlite3_column_text(st, 1));
		snprintf(a->state, sizeof a->state, "%s", (const char *)sqlite3_column_text(st, 2));
		a->round = sqlite3_column_int64(st, 3);
		a->regulator_required = sqlite3_column_int(st, 4) != 0;
		a->body = op_col_json(st, 5);
		a->entries = op_col_json(st, 6);
		a->due_at = sqlite3_column_int64(st, 7);
		if (!json_is_object(a->body) || !json_is_array(a->entries))
			rc = tds_error_set(TDS_EINTERNAL, NULL, "application %s is stored damaged", id);
	} else {
		rc = s == SQLITE_DONE ? tds_error_set(TDS_ENOTFOUND, "application_not_found", "no such application")
				      : tds_store_error(db, "reading application");
	}
	sqlite3_finalize(st);
	if (rc)
		op_app_free(a);
	return rc;
}

void op_app_free(op_app *a)
{
	json_decref(a->body);
	json_decref(a->entries);
	a->body = a->entries = NULL;
}

int op_step_add_tx(sqlite3 *db, const char *app_id, int64_t round, const char *stage, const char *decision,
		   const tds_operation_caller *who, const char *role, const json_t *findings, const char *reasons,
		   const char *advice, int64_t now)
{
	char *f = findings ? tds_json_dumps(findings) : NULL;
	if (findings && !f)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "INSERT INTO op_steps (application_id, round, stage, decision, actor_account, actor_org,"
				       " role, findings, reasons, advice, at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", &st);
	if (!rc) {
		sqlite3_bind_text(st, 1, app_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, round);
		sqlite3_bind_text(st, 3, stage, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, decision, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, who->account, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, who->org, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, role, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, f, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 9, reasons, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 10, advice, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 11, now);
		int s = sqlite3_step(st);
		if ((s & 0xff) == SQLITE_CONSTRAINT)
			rc = tds_error_set(TDS_ECONFLICT, "already_decided", "the %s step of this round was already decided", stage);
		else if (s != SQLITE_DONE)
			rc = tds_store_error(db, "recording review step");
		sqlite3_finalize(st);
	}
	free(f);
	return rc;
}

int op_steps_json(sqlite3 *db, const char *app_id, json_t **out)
{
	*out = NULL;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT seq, round, stage, decision, actor_account, actor_org, role, findings, reasons,"
				       " advice, at, conditions FROM op_steps WHERE application_id = ? ORDER BY seq", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, app_id, -1, SQLITE_STATIC);
	json_t *items = json_array();
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(items, json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "seq",
						       (json_int_t)sqlite3_column_int64(st, 0), "round",
						       (json_int_t)sqlite3_column_int64(st, 1), "stage", op_col_str(st, 2),
						       "decision", op_col_str(st, 3), "reviewer", op_col_str(st, 4), "org_id",
						       op_col_str(st, 5), "role", op_col_str(st, 6), "findings",
						       op_col_json(st, 7), "reasons", op_col_str(st, 8), "advice",
						       op_col_str(st, 9), "at", op_time_json(sqlite3_column_int64(st, 10)),
						       "conditions", op_col_json(st, 11)));
	if (s != SQLITE_DONE)
		rc = tds_store_error(db, "reading review steps");
	sqlite3_finalize(st);
	if (rc)
		json_decref(items);
	else
		*out = items;
	return rc;
}

int op_app_set_state_tx(sqlite3 *db, const char *id, const char *state, int64_t due_at, int64_t now)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "UPDATE op_applications SET state = ?, due_at = ?, updated_at = ? WHERE id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	if (due_at)
		sqlite3_bind_int64(st, 2, due_at);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "updating application");
	sqlite3_finalize(st);
	return rc;
}
