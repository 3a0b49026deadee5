/*
 * review.c — reviews of applications (operation.h section 3): acceptance (受理), initial review
 * (初审) and final review (终审) by the authorization operator, the regulator's concurring decision
 * (监管会审) when the scenario needs it, deadlines, the overdue list and the reminder pass.
 *
 * Every decision is a step row, a state change and an evidence entry in ONE transaction (BEGIN
 * IMMEDIATE): the state is read again inside it, and a (application, round, stage) row is unique,
 * so of two reviewers deciding at once exactly one decides and the other gets a conflict.
 *
 * Not for the application's content (application.c) nor the authorization list (authorization.c).
 */
#include "operation/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct stage_def {
	const char *stage, *state; /* the state the stage decides */
	uint32_t roles;
	const char *findings[3];   /* required findings */
	const char *role;          /* recorded role */
} stage_def;

static const stage_def STAGES[] = {
    {"accept", "submitted", OP_REVIEWER_ROLES, {NULL}, "reviewer"},
    {"initial", "initial_review", OP_REVIEWER_ROLES, {"scenario_compliance", "industry_relevance", "necessity"}, "reviewer"},
    {"final", "final_review", OP_REVIEWER_ROLES, {"security", "public_interest", NULL}, "reviewer"},
    {"regulator", "final_review", TDS_ROLE_REGULATOR, {"supervision", NULL, NULL}, "regulator"},
};

/* Checks findings: exactly the stage's members, each {"ok":bool,"note":"…"}; *all_ok. */
static int check_findings(const stage_def *d, const json_t *f, bool *all_ok)
{
	static const tds_json_field ff[] = {{"ok", TDS_JSON_BOOL, true, 0}, {"note", TDS_JSON_STRING, true, 2000}};
	*all_ok = true;
	size_t want = 0;
	for (; want < 3 && d->findings[want]; want++)
		;
	if (!want) {
		if (f && json_object_size(f))
			return tds_error_set(TDS_EINVAL, "invalid_findings", "acceptance (stage accept) records no findings");
		return 0;
	}
	if (!json_is_object(f))
		return tds_error_set(TDS_EINVAL, "findings_required", "stage %s records findings: %s%s%s%s%s", d->stage,
				     d->findings[0], d->findings[1] ? ", " : "", d->findings[1] ? d->findings[1] : "",
				     d->findings[2] ? ", " : "", d->findings[2] ? d->findings[2] : "");
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)f, key, v) {
		bool known = false;
		for (size_t i = 0; i < want; i++)
			known |= !strcmp(key, d->findings[i]);
		if (!known)
			return tds_error_set(TDS_EINVAL, "invalid_findings", "findings.%s is not a finding of stage %s", key, d->stage);
		if (tds_json_check(v, ff, TDS_ARRAY_LEN(ff), false))
			return tds_error_wrap("findings.%s: ", key);
		if (!op_text_ok(tds_json_str(v, "note", ""), 2000, true))
			return tds_error_set(TDS_EINVAL, "invalid_findings", "findings.%s.note must be non-blank text", key);
		*all_ok &= tds_json_bool(v, "ok", false);
	}
	for (size_t i = 0; i < want; i++)
		if (!json_object_get(f, d->findings[i]))
			return tds_error_set(TDS_EINVAL, "findings_required", "findings.%s is required at stage %s", d->findings[i],
					     d->stage);
	return 0;
}

typedef struct review_ctx {
	tds_operation *op;
	const tds_operation_caller *who;
	const char *id;
	const stage_def *d;
	bool approve;
	const json_t *findings, *conditions;
	const char *reasons, *advice;
	int64_t now;
	char auth_id[TDS_ID_MAX];
} review_ctx;

/* Four eyes: the final decision is not made by the account that made this round's initial one. */
static int same_reviewer(sqlite3 *db, const char *id, int64_t round, const char *account)
{
	if (!account)
		return 0;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT 1 FROM op_steps WHERE application_id = ? AND round = ? AND stage = 'initial'"
				       " AND actor_account = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, round);
	sqlite3_bind_text(st, 3, account, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		rc = tds_error_set(TDS_EPERM, "same_reviewer",
				   "the final review is made by another reviewer than the initial one (four eyes)");
	else if (s != SQLITE_DONE)
		rc = tds_store_error(db, "reading review steps");
	sqlite3_finalize(st);
	return rc;
}

/* Whether the other final-stage decision (final ↔ regulator) of this round is an approval. */
static int other_final(sqlite3 *db, const char *id, int64_t round, const char *stage, bool *approved)
{
	sqlite3_stmt *st;
	*approved = false;
	int rc = tds_store_prepare(db, "SELECT decision FROM op_steps WHERE application_id = ? AND round = ? AND stage = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, round);
	sqlite3_bind_text(st, 3, stage, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		*approved = !strcmp((const char *)sqlite3_column_text(st, 0), "approve");
	else if (s != SQLITE_DONE)
		rc = tds_store_error(db, "reading review steps");
	sqlite3_finalize(st);
	return rc;
}

static int review_tx(sqlite3 *db, void *arg)
{
	review_ctx *x = arg;
	op_app a;
	int rc = op_app_load(db, x->id, &a);
	if (rc)
		return rc;
	if (x->who->org && !strcmp(a.org, x->who->org)) {
		rc = tds_error_set(TDS_EPERM, "own_application", "nobody reviews their own organisation's application");
	} else if (strcmp(a.state, x->d->state)) {
		rc = tds_error_set(TDS_ECONFLICT, "invalid_state", "stage %s decides an application that is %s; this one is %s",
				   x->d->stage, x->d->state, a.state);
	} else if (!strcmp(x->d->stage, "regulator") && !a.regulator_required) {
		rc = tds_error_set(TDS_EUNPROC, "regulator_not_required",
				   "this scenario (no AI training, no special supervision data) has no regulator review");
	}
	if (!rc && !strcmp(x->d->stage, "final"))
		rc = same_reviewer(db, a.id, a.round, x->who->account);
	if (!rc)
		rc = op_step_add_tx(db, a.id, a.round, x->d->stage, x->approve ? "approve" : "reject", x->who, x->d->role,
				    x->findings, x->reasons, x->advice, x->now);
	if (!rc && x->conditions) {
		sqlite3_stmt *st;
		char *c = tds_json_dumps(x->conditions);
		if (!c)
			rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		else if (!(rc = tds_store_prepare(db, "UPDATE op_steps SET conditions = ? WHERE application_id = ? AND round = ?"
							" AND stage = ?", &st))) {
			sqlite3_bind_text(st, 1, c, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, a.id, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, a.round);
			sqlite3_bind_text(st, 4, x->d->stage, -1, SQLITE_STATIC);
			if (sqlite3_step(st) != SQLITE_DONE)
				rc = tds_store_error(db, "recording conditions");
			sqlite3_finalize(st);
		}
		free(c);
	}
	const char *to = NULL;
	int64_t due = 0;
	if (!rc && !x->approve) {
		to = "rejected";
	} else if (!rc && !strcmp(x->d->stage, "accept")) {
		to = "initial_review";
		due = a.due_at;
	} else if (!rc && !strcmp(x->d->stage, "initial")) {
		to = "final_review";
		due = x->now + x->op->final_ms;
	} else if (!rc) {
		bool other = true;
		if (a.regulator_required)
			rc = other_final(db, a.id, a.round, !strcmp(x->d->stage, "final") ? "regulator" : "final", &other);
		if (!rc && other)
			to = "approved";
	}
	if (!rc && to)
		rc = op_app_set_state_tx(db, a.id, to, due, x->now);
	if (!rc && to && !strcmp(to, "approved")) {
		/* the conditions of both final decisions (this one's were just stored) are the specific restrictions */
		json_t *conds = json_array();
		sqlite3_stmt *st;
		if (!(rc = tds_store_prepare(db, "SELECT conditions FROM op_steps WHERE application_id = ? AND round = ?"
						 " AND stage IN ('final', 'regulator') AND conditions IS NOT NULL ORDER BY seq", &st))) {
			sqlite3_bind_text(st, 1, a.id, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, a.round);
			while (sqlite3_step(st) == SQLITE_ROW) {
				json_t *c = op_col_json(st, 0);
				if (json_is_array(c))
					json_array_extend(conds, c);
				json_decref(c);
			}
			sqlite3_finalize(st);
		}
		if (!rc)
			rc = op_authorization_create_tx(x->op, db, &a, conds, x->who, x->auth_id);
		json_decref(conds);
		if (!rc) {
			sqlite3_stmt *u;
			if (!(rc = tds_store_prepare(db, "UPDATE op_applications SET authorization_id = ? WHERE id = ?", &u))) {
				sqlite3_bind_text(u, 1, x->auth_id, -1, SQLITE_STATIC);
				sqlite3_bind_text(u, 2, a.id, -1, SQLITE_STATIC);
				if (sqlite3_step(u) != SQLITE_DONE)
					rc = tds_store_error(db, "updating application");
				sqlite3_finalize(u);
			}
		}
	}
	if (!rc)
		rc = op_evidence_tx(x->op, db, "operation.application_reviewed", x->who, a.id, x->auth_id[0] ? x->auth_id : NULL,
				    json_pack("{s:s, s:I, s:s, s:s, s:s, s:s?, s:O?, s:s?, s:s?}", "org_id", a.org, "round",
					      (json_int_t)a.round, "stage", x->d->stage, "decision", x->approve ? "approve" : "reject",
					      "from", a.state, "to", to, "findings", x->findings, "reasons", x->reasons, "advice",
					      x->advice));
	op_app_free(&a);
	return rc;
}

int tds_operation_review(tds_operation *op, const tds_operation_caller *who, const char *id, const json_t *in,
			 json_t **out)
{
	static const tds_json_field f[] = {{"stage", TDS_JSON_STRING, true, 16},	{"decision", TDS_JSON_STRING, true, 16},
					   {"findings", TDS_JSON_OBJECT, false, 0},	{"reasons", TDS_JSON_STRING, false, 4000},
					   {"advice", TDS_JSON_STRING, false, 4000},	{"conditions", TDS_JSON_STRING_ARRAY, false, 16}};
	*out = NULL;
	int rc = tds_json_check(in, f, TDS_ARRAY_LEN(f), false);
	if (rc)
		return rc;
	review_ctx x = {.op = op, .who = who, .id = id, .now = tds_now_ms(), .findings = json_object_get(in, "findings"),
			.conditions = json_is_array(json_object_get(in, "conditions")) ? json_object_get(in, "conditions") : NULL,
			.reasons = tds_json_str(in, "reasons", NULL),
			.advice = tds_json_str(in, "advice", NULL)};
	const char *stage = tds_json_str(in, "stage", ""), *decision = tds_json_str(in, "decision", "");
	for (size_t i = 0; i < TDS_ARRAY_LEN(STAGES); i++)
		if (!strcmp(stage, STAGES[i].stage))
			x.d = &STAGES[i];
	if (!x.d)
		return tds_error_set(TDS_EINVAL, "invalid_stage", "stage must be accept, initial, final or regulator");
	if (strcmp(decision, "approve") && strcmp(decision, "reject"))
		return tds_error_set(TDS_EINVAL, "invalid_decision", "decision must be approve or reject");
	x.approve = !strcmp(decision, "approve");
	if (!(who->roles & x.d->roles))
		return tds_error_set(TDS_EPERM, "wrong_role",
				     !strcmp(stage, "regulator")
					 ? "the regulator's decision is made by a regulator account"
					 : "reviews are made by the authorization operator (授权运营方), the operator or an admin");
	bool all_ok;
	if ((rc = check_findings(x.d, x.findings, &all_ok)))
		return rc;
	if ((x.reasons && !op_text_ok(x.reasons, 4000, true)) || (x.advice && !op_text_ok(x.advice, 4000, true)))
		return tds_error_set(TDS_EINVAL, "invalid_field", "reasons and advice must be non-blank text");
	if (!x.approve && !x.reasons)
		return tds_error_set(TDS_EINVAL, "reasons_required", "a rejection says why: \"reasons\"");
	if (!x.approve && !x.advice)
		return tds_error_set(TDS_EINVAL, "advice_required", "a rejection gives rectification advice (整改建议): \"advice\"");
	if (x.approve && x.advice)
		return tds_error_set(TDS_EINVAL, "invalid_field", "advice is given with a rejection only");
	if (x.conditions && (!x.approve || (strcmp(stage, "final") && strcmp(stage, "regulator"))))
		return tds_error_set(TDS_EINVAL, "invalid_field", "conditions come with a final or regulator approval only");
	size_t i;
	json_t *c;
	json_array_foreach(x.conditions, i, c) {
		if (!op_text_ok(json_string_value(c), 1000, false))
			return tds_error_set(TDS_EINVAL, "invalid_field", "conditions[%zu] must be non-blank text of at most 1000 bytes", i);
	}
	if (x.approve && !all_ok)
		return tds_error_set(TDS_EUNPROC, "findings_contradict_decision",
				     "an approval with a finding that is not ok: reject with reasons and advice, or correct the finding");
	if (!tds_id_valid(id, "apl"))
		return tds_error_set(TDS_ENOTFOUND, "application_not_found", "no such application");
	if ((rc = tds_store_tx(op->store, review_tx, &x)))
		return rc;
	return tds_operation_application_get(op, who, id, out);
}

/* ---- deadlines ---- */

static const char *stage_of(const char *state)
{
	return !strcmp(state, "submitted") ? "accept" : !strcmp(state, "initial_review") ? "initial" : "final";
}

int tds_operation_overdue(tds_operation *op, const tds_operation_caller *who, int64_t now_ms, int limit,
			  const char *cursor, json_t **out)
{
	*out = NULL;
	if (!(who->roles & (OP_REVIEWER_ROLES | TDS_ROLE_REGULATOR)))
		return tds_error_set(TDS_EPERM, "wrong_role", "the overdue list is for reviewers");
	if (cursor && !tds_id_valid(cursor, "apl"))
		return tds_error_set(TDS_EINVAL, "invalid_cursor", "cursor must be an application id from next_cursor");
	if (limit < 1 || limit > 100)
		limit = 20;
	sqlite3 *db = tds_store_conn(op->store);
	if (!db)
		return tds_error_code();
	sqlite3_stmt *st;
	/* ordered by id (a stable cursor), the oldest application first */
	int rc = tds_store_prepare(db, "SELECT id, org_id, state, due_at FROM op_applications WHERE state IN ('submitted',"
				       " 'initial_review', 'final_review') AND due_at < ?1 AND (?2 IS NULL OR id > ?2)"
				       " ORDER BY id LIMIT ?3", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_text(st, 2, cursor, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, limit + 1);
	json_t *items = json_array();
	int n = 0, s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW && n < limit) {
		int64_t due = sqlite3_column_int64(st, 3);
		json_array_append_new(items, json_pack("{s:o, s:o, s:o, s:s, s:o, s:I}", "application_id", op_col_str(st, 0),
						       "org_id", op_col_str(st, 1), "state", op_col_str(st, 2), "stage",
						       stage_of((const char *)sqlite3_column_text(st, 2)), "due_at",
						       op_time_json(due), "overdue_ms", (json_int_t)(now_ms - due)));
		n++;
	}
	bool more = s == SQLITE_ROW;
	if (s != SQLITE_ROW && s != SQLITE_DONE)
		rc = tds_store_error(db, "listing overdue applications");
	sqlite3_finalize(st);
	if (rc) {
		json_decref(items);
		return rc;
	}
	json_t *last = json_array_get(items, json_array_size(items) - 1);
	*out = json_pack("{s:o, s:O?}", "items", items, "next_cursor",
			 more && last ? json_object_get(last, "application_id") : NULL);
	return *out ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
}

static int remind_tx(sqlite3 *db, void *arg)
{
	int64_t *a = arg; /* {now, n} */
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT id, state, due_at FROM op_applications WHERE state IN ('submitted',"
				       " 'initial_review', 'final_review') AND due_at < ?1 AND (reminded_due IS NULL OR"
				       " reminded_due <> due_at) LIMIT 1000", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, a[0]);
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		char due[TDS_TIME_MAX] = "";
		tds_time_format(sqlite3_column_int64(st, 2), due);
		tds_log_fields(TDS_LOG_WARN, "application_overdue",
			       json_pack("{s:s, s:s, s:s, s:s}", "application_id", (const char *)sqlite3_column_text(st, 0), "state",
					 (const char *)sqlite3_column_text(st, 1), "stage",
					 stage_of((const char *)sqlite3_column_text(st, 1)), "due_at", due));
		a[1]++;
	}
	if (s != SQLITE_DONE)
		rc = tds_store_error(db, "listing overdue applications");
	sqlite3_finalize(st);
	if (!rc && !(rc = tds_store_prepare(db, "UPDATE op_applications SET reminded_due = due_at WHERE state IN ('submitted',"
						" 'initial_review', 'final_review') AND due_at < ?1", &st))) {
		sqlite3_bind_int64(st, 1, a[0]);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "marking reminders");
		sqlite3_finalize(st);
	}
	return rc;
}

int tds_operation_remind(tds_operation *op, int64_t now_ms, int *n)
{
	int64_t a[2] = {now_ms, 0};
	int rc = tds_store_tx(op->store, remind_tx, a);
	if (n)
		*n = rc ? 0 : (int)a[1];
	return rc;
}
