/*
 * internal.h — what the operation module's files share and nobody else sees.
 */
#ifndef TDS_OPERATION_INTERNAL_H
#define TDS_OPERATION_INTERNAL_H

#include "operation/operation.h"

#include "http/http.h"

#define OP_DAY_MS (24LL * 3600 * 1000)

/* Who may review: initial and final review (the authorization operator, the platform operator,
 * the node admin); the regulator's concurring decision; and read every application. */
#define OP_REVIEWER_ROLES (TDS_ROLE_AUTH_OPERATOR | TDS_ROLE_OPERATOR | TDS_ROLE_ADMIN)
#define OP_READ_ALL_ROLES (OP_REVIEWER_ROLES | TDS_ROLE_REGULATOR | TDS_ROLE_AUDITOR)
#define OP_APPLICANT_ROLES (TDS_ROLE_CONSUMER | TDS_ROLE_DEVELOPER)

struct tds_operation {
	tds_store *store;
	tds_ledger *ledger;
	tds_catalog *catalog;
	char node_id[TDS_ID_MAX + 8];
	tds_operation_qualified_fn qualified;
	void *qualified_ctx;
	int64_t initial_ms, final_ms; /* deadlines */
};

/* Migration 1: applications, steps, authorization lists (operation.c). */
const char *op_migration(void);

/* Evidence entry ("operation.…", subjects id and, when given, id2) in the caller's transaction;
 * steals payload. */
int op_evidence_tx(tds_operation *op, sqlite3 *db, const char *type, const tds_operation_caller *who, const char *id,
		   const char *id2, json_t *payload);

/* RFC 3339 text of a time, JSON null for 0 or out of range. */
json_t *op_time_json(int64_t ms);
json_t *op_col_str(sqlite3_stmt *st, int i);
json_t *op_col_json(sqlite3_stmt *st, int i);
/* Non-empty text of at most max bytes, valid UTF-8, no control characters (newlines and tabs
 * allowed when multiline). */
bool op_text_ok(const char *s, size_t max, bool multiline);

/* Reviewers read everything; others their organisation's (org NULL then means nothing). */
bool op_reads_all(const tds_operation_caller *who);

/* The application row (state, org, round, …) on db. */
typedef struct op_app {
	char id[TDS_ID_MAX], org[TDS_ID_MAX], state[16];
	int64_t round;
	bool regulator_required;
	json_t *body, *entries; /* owned */
	int64_t due_at;
} op_app;
int op_app_load(sqlite3 *db, const char *id, op_app *a);
void op_app_free(op_app *a);

/* Checks the shape of an application (TDS_EINVAL naming the member) and returns it normalised:
 * fields as {"name","justification"?} objects, times in canonical RFC 3339, defaults filled
 * (application.c; also the fuzz target's entry). */
int op_application_normalise(const json_t *in, json_t **out);

/* Appends a step row (stage, decision, findings, reasons, advice) in the caller's transaction. */
int op_step_add_tx(sqlite3 *db, const char *app_id, int64_t round, const char *stage, const char *decision,
		   const tds_operation_caller *who, const char *role, const json_t *findings, const char *reasons,
		   const char *advice, int64_t now);
/* The steps of an application, in order. */
int op_steps_json(sqlite3 *db, const char *app_id, json_t **out);
/* Sets state, due_at (0 = NULL) and updated_at. */
int op_app_set_state_tx(sqlite3 *db, const char *id, const char *state, int64_t due_at, int64_t now);

/* Creates the authorization list of an approved application in the caller's transaction;
 * conditions: the final reviewers' specific restrictions (array of strings, may be empty).
 * out_id: the new list's id. */
int op_authorization_create_tx(tds_operation *op, sqlite3 *db, const op_app *a, const json_t *conditions,
			       const tds_operation_caller *who, char out_id[TDS_ID_MAX]);

#endif
