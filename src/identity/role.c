/*
 * role.c — role applications (角色申请) and grants (角色授予): a verified organisation's admin (or a
 * verified person) applies for a role with a justification; a platform reviewer grants or rejects
 * it; a grant is "active" or "suspended" (by hand, or by the qualification watch when the role's
 * required qualifications lapse). Effective roles are computed from active grants in account.c.
 *
 * Rules kept here: one pending application per holder and role; no application for a role already
 * held; platform roles (operator, regulator, auditor) granted only by a node administrator; a grant
 * needs the role's qualification requirements met; nobody reviews their own organisation. Refused
 * escalation and self-review attempts are evidenced.
 *
 * Not here: the permission matrix (matrix.c), qualifications and the watch (qual.c), HTTP.
 */
#include "identity/internal.h"

#include <string.h>

static int check_service_type(tds_roles role, const char *t)
{
	if (role != TDS_ROLE_SERVICE) {
		if (t)
			return tds_error_set(TDS_EINVAL, "invalid_service_type", "service_type belongs to the service role only");
		return 0;
	}
	if (t && (strcmp(t, "development") == 0 || strcmp(t, "brokerage") == 0 || strcmp(t, "custody") == 0))
		return 0;
	return tds_error_set(TDS_EINVAL, "invalid_service_type",
			     "the service role (数商) needs service_type development (开发), brokerage (经纪) or custody (托管)");
}

/* ---- requirements ---- */

int id_requirements_met(tds_identity *id, sqlite3 *db, const char *holder_id, tds_roles role, int64_t now_ms,
			bool *met, char *missing, size_t cap)
{
	int ri = id_role_index(role);
	*met = true;
	if (missing && cap)
		missing[0] = 0;
	if (ri < 0)
		return tds_error_set(TDS_EINTERNAL, NULL, "requirements of a non-role");
	for (unsigned k = 0; k < id->req.role[ri].n; k++) {
		tds_qual_type t = id->req.role[ri].req[k].type;
		int min = id->req.role[ri].req[k].min_level;
		sqlite3_stmt *st;
		int rc = tds_store_prepare(db, "SELECT COUNT(*) FROM qualifications WHERE org_id=? AND type=? AND level >= ?"
					       " AND status='approved' AND valid_from_ms <= ? AND valid_until_ms > ?",
					   &st);
		if (rc)
			return rc;
		sqlite3_bind_text(st, 1, holder_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, tds_identity_qual_type_name(t), -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, min);
		sqlite3_bind_int64(st, 4, now_ms);
		sqlite3_bind_int64(st, 5, now_ms);
		int s = sqlite3_step(st);
		int n = s == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
		sqlite3_finalize(st);
		if (n < 0)
			return tds_store_error(db, "checking qualifications");
		if (n == 0) {
			*met = false;
			if (missing && cap) {
				size_t used = strlen(missing);
				snprintf(missing + used, cap - used, "%s%s%s%.0d", used ? ", " : "", tds_identity_qual_type_name(t),
					 min ? " level >= " : "", min);
			}
		}
	}
	return 0;
}

/* ---- grants ---- */

int tds_identity_grants_json(tds_identity *id, const char *holder_id, json_t **out)
{
	sqlite3 *db = tds_store_conn(id->store);
	sqlite3_stmt *st;
	int rc;
	if (!db)
		return tds_error_code();
	if ((rc = tds_store_prepare(db, "SELECT role, service_type, status, suspended_reason, suspended_note, suspended_at,"
				       " granted_at, application_id FROM role_grants WHERE holder_id=? ORDER BY role",
				   &st)))
		return rc;
	sqlite3_bind_text(st, 1, holder_id, -1, SQLITE_STATIC);
	json_t *items = json_array();
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = tds_role_name((tds_roles)sqlite3_column_int64(st, 0));
		json_array_append_new(items, json_pack("{s:s?, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "role", name,
						       "service_type", id_col_str(st, 1), "status", id_col_str(st, 2),
						       "suspended_reason", id_col_str(st, 3), "suspended_note",
						       id_col_str(st, 4), "suspended_at", id_col_time(st, 5), "granted_at",
						       id_col_time(st, 6), "application_id", id_col_str(st, 7)));
	}
	if (s != SQLITE_DONE) {
		rc = tds_store_error(db, "reading grants");
		json_decref(items);
	} else {
		*out = items;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Sets a grant's status with evidence. reason: "qualification" or "manual" (suspending). */
static int set_grant(tds_identity *id, sqlite3 *db, tds_ledger_actor actor, const char *holder, tds_roles role,
		     bool suspend, const char *reason, const char *note)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, suspend ? "UPDATE role_grants SET status='suspended', suspended_reason=?,"
						 " suspended_note=?, suspended_at=?, updated_at=? WHERE holder_id=? AND role=?"
					       : "UPDATE role_grants SET status='active', suspended_reason=NULL,"
						 " suspended_note=NULL, suspended_at=NULL, updated_at=?4 WHERE holder_id=?5 AND role=?6",
				   &st);
	if (rc)
		return rc;
	int64_t now = tds_now_ms();
	if (suspend) {
		sqlite3_bind_text(st, 1, reason, -1, SQLITE_STATIC);
		if (note)
			sqlite3_bind_text(st, 2, note, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, now);
	}
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_text(st, 5, holder, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, role);
	if ((rc = id_step_done(db, st, "updating grant")))
		return rc;
	return id_evidence(id, db, suspend ? "identity.role_suspended" : "identity.role_restored", actor, holder, NULL, NULL,
			   json_pack("{s:s, s:s, s:s?}", "role", tds_role_name(role), "reason", reason, "note", note));
}

int id_reconcile_roles(tds_identity *id, sqlite3 *db, const char *holder_id, int64_t now_ms, const char *by,
		       json_t *suspended, json_t *restored)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT role, status, suspended_reason FROM role_grants WHERE holder_id=? ORDER BY role", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, holder_id, -1, SQLITE_STATIC);
	struct {
		tds_roles role;
		bool active, by_qualification;
	} g[TDS_ROLES_ALL_NAMES];
	size_t n = 0;
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW && n < TDS_ROLES_ALL_NAMES) {
		g[n].role = (tds_roles)sqlite3_column_int64(st, 0);
		g[n].active = strcmp((const char *)sqlite3_column_text(st, 1), "active") == 0;
		const unsigned char *r = sqlite3_column_text(st, 2);
		g[n].by_qualification = r && strcmp((const char *)r, "qualification") == 0;
		n++;
	}
	rc = s == SQLITE_DONE || s == SQLITE_ROW ? 0 : tds_store_error(db, "reading grants");
	sqlite3_finalize(st);
	tds_ledger_actor actor = {.account = by, .node = id->node_id[0] ? id->node_id : NULL};
	for (size_t i = 0; !rc && i < n; i++) {
		if (!g[i].active && !g[i].by_qualification)
			continue; /* suspended by hand: only a reviewer restores it */
		bool met;
		char missing[256];
		if ((rc = id_requirements_met(id, db, holder_id, g[i].role, now_ms, &met, missing, sizeof missing)))
			break;
		if (g[i].active && !met) {
			char note[300];
			snprintf(note, sizeof note, "missing: %s", missing);
			rc = set_grant(id, db, actor, holder_id, g[i].role, true, "qualification", note);
			if (!rc && suspended)
				json_array_append_new(suspended, json_pack("{s:s, s:s, s:s}", "holder", holder_id, "role",
									   tds_role_name(g[i].role), "missing", missing));
		} else if (!g[i].active && met) {
			rc = set_grant(id, db, actor, holder_id, g[i].role, false, "qualification", NULL);
			if (!rc && restored)
				json_array_append_new(restored, json_pack("{s:s, s:s}", "holder", holder_id, "role",
									  tds_role_name(g[i].role)));
		}
	}
	return rc;
}

/* ---- applications ---- */

#define APP_COLS                                                                                                 \
	"id, holder_id, role, service_type, justification, status, applied_by, reviewed_by, reviewed_at, review_reason," \
	" created_at"

static json_t *app_row_json(sqlite3_stmt *st)
{
	return json_pack("{s:o, s:o, s:s?, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", id_col_str(st, 0), "holder_id",
			 id_col_str(st, 1), "role", tds_role_name((tds_roles)sqlite3_column_int64(st, 2)), "service_type",
			 id_col_str(st, 3), "justification", id_col_str(st, 4), "status", id_col_str(st, 5), "applied_by",
			 id_col_str(st, 6), "reviewed_by", id_col_str(st, 7), "reviewed_at", id_col_time(st, 8),
			 "review_reason", id_col_str(st, 9), "created_at", id_col_time(st, 10));
}

static int app_json(sqlite3 *db, const char *app_id, json_t **out)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT " APP_COLS " FROM role_applications WHERE id=?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, app_id, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		*out = app_row_json(st);
	else if (s == SQLITE_DONE)
		rc = tds_error_set(TDS_ENOTFOUND, "application_not_found", "no role application %s", app_id);
	else
		rc = tds_store_error(db, "reading role application");
	sqlite3_finalize(st);
	return rc;
}

typedef struct apply_ctx {
	tds_identity *id;
	const tds_principal *p;
	const char *holder, *service_type, *justification;
	tds_roles role;
	char app_id[TDS_ID_MAX];
} apply_ctx;

static int apply_tx(sqlite3 *db, void *arg)
{
	apply_ctx *c = arg;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT status FROM role_grants WHERE holder_id=? AND role=?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, c->holder, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->role);
	int s = sqlite3_step(st);
	sqlite3_finalize(st);
	if (s == SQLITE_ROW)
		return tds_error_set(TDS_ECONFLICT, "role_held", "the role %s is already granted to %s", tds_role_name(c->role),
				     c->holder);
	if ((rc = tds_store_prepare(db, "INSERT INTO role_applications(id, holder_id, role, service_type, justification,"
				       " status, applied_by, created_at) VALUES(?,?,?,?,?,'pending',?,?)",
				   &st)))
		return rc;
	sqlite3_bind_text(st, 1, c->app_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->holder, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, c->role);
	if (c->service_type)
		sqlite3_bind_text(st, 4, c->service_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, c->justification, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, c->p->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, tds_now_ms());
	rc = id_step_done(db, st, "recording role application");
	if (rc == TDS_ECONFLICT)
		return tds_error_set(TDS_ECONFLICT, "application_pending",
				     "an application for %s is already pending review", tds_role_name(c->role));
	if (rc)
		return rc;
	return id_evidence(c->id, db, "identity.role_applied", id_ledger_actor(c->id, c->p), c->holder, c->app_id, NULL,
			   json_pack("{s:s, s:s?, s:s}", "role", tds_role_name(c->role), "service_type", c->service_type,
				     "justification", c->justification));
}

int tds_identity_role_apply(tds_identity *id, const tds_principal *p, tds_roles role, const char *service_type,
			    const char *justification, json_t **out)
{
	int rc;
	if ((rc = id_require(id, p, "role.apply", NULL)))
		return rc;
	sqlite3 *db = tds_store_conn(id->store);
	if (!db)
		return tds_error_code();
	id_actor ac;
	if ((rc = id_actor_load(id, db, p, &ac)))
		return rc;
	const char *holder = ac.org_id[0] ? ac.org_id : ac.person_id;
	if (id_role_index(role) < 0)
		return tds_error_set(TDS_EINVAL, "invalid_role", "apply for exactly one role");
	if (!(role & TDS_ROLES_APPLICABLE)) {
		tds_error_set(TDS_EPERM, "role_escalation",
			      "the %s role is not granted by application: it belongs to node administrators and nodes",
			      tds_role_name(role));
		return id_refused(id, p, "role.apply", holder);
	}
	if (ac.person_id[0] && !(role & TDS_ROLES_PERSON_APPLICABLE))
		return tds_error_set(TDS_EUNPROC, "role_not_for_persons",
				     "natural persons may apply for consumer or developer only; %s needs an organisation",
				     tds_role_name(role));
	if ((rc = check_service_type(role, service_type)) || (rc = id_check_text("justification", justification, 2000)))
		return rc;
	if (strcmp(ac.holder_status, "verified") != 0)
		return tds_error_set(TDS_EPERM, "not_verified",
				     "real-name verification (实名认证) must be approved before applying for roles");
	apply_ctx c = {.id = id, .p = p, .holder = holder, .service_type = service_type, .justification = justification,
		       .role = role};
	if ((rc = tds_id_new("rap", c.app_id)) || (rc = tds_store_tx(id->store, apply_tx, &c)))
		return rc;
	return app_json(db, c.app_id, out);
}

int tds_identity_role_list(tds_identity *id, const char *status, const char *holder_id, int limit,
			   const char *cursor, json_t **out)
{
	if (status && strcmp(status, "pending") != 0 && strcmp(status, "granted") != 0 && strcmp(status, "rejected") != 0)
		return tds_error_set(TDS_EINVAL, "invalid_status", "status must be pending, granted or rejected");
	int rc;
	if (holder_id && (rc = id_check_holder(holder_id)))
		return rc;
	if (cursor && !tds_id_valid(cursor, "rap"))
		return tds_error_set(TDS_EINVAL, "invalid_cursor", "cursor must be the next_cursor of a previous page");
	sqlite3 *db = tds_store_conn(id->store);
	sqlite3_stmt *st;
	if (!db)
		return tds_error_code();
	if ((rc = tds_store_prepare(db, "SELECT " APP_COLS " FROM role_applications WHERE id > ?1"
				       " AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR holder_id = ?3) ORDER BY id LIMIT ?4",
				   &st)))
		return rc;
	sqlite3_bind_text(st, 1, cursor ? cursor : "", -1, SQLITE_STATIC);
	if (status)
		sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
	if (holder_id)
		sqlite3_bind_text(st, 3, holder_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, limit + 1);
	rc = id_page_run(db, st, limit, app_row_json, "listing role applications", out);
	sqlite3_finalize(st);
	return rc;
}

typedef struct rreview_ctx {
	tds_identity *id;
	const tds_principal *p;
	const char *app_id, *holder, *reason, *service_type;
	tds_roles role;
	bool approve;
} rreview_ctx;

static int role_review_tx(sqlite3 *db, void *arg)
{
	rreview_ctx *c = arg;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT status FROM role_applications WHERE id=?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, c->app_id, -1, SQLITE_STATIC);
	char status[16] = "";
	if (sqlite3_step(st) == SQLITE_ROW)
		id_col_copy(st, 0, status, sizeof status);
	sqlite3_finalize(st);
	if (strcmp(status, "pending") != 0)
		return tds_error_set(TDS_ECONFLICT, "not_pending", "the application was already decided (%s)", status);
	int64_t now = tds_now_ms();
	if (c->approve) {
		char hs[16];
		bool org = strncmp(c->holder, "org_", 4) == 0;
		if ((rc = tds_store_prepare(db, org ? "SELECT status FROM orgs WHERE id=?" : "SELECT status FROM persons WHERE id=?", &st)))
			return rc;
		sqlite3_bind_text(st, 1, c->holder, -1, SQLITE_STATIC);
		hs[0] = 0;
		if (sqlite3_step(st) == SQLITE_ROW)
			id_col_copy(st, 0, hs, sizeof hs);
		sqlite3_finalize(st);
		if (strcmp(hs, "verified") != 0)
			return tds_error_set(TDS_ECONFLICT, "not_verified", "the applicant is no longer verified");
		bool met;
		char missing[256];
		if ((rc = id_requirements_met(c->id, db, c->holder, c->role, now, &met, missing, sizeof missing)))
			return rc;
		if (!met) {
			tds_error_set(TDS_EUNPROC, "qualification_required",
				      "the %s role needs approved, valid qualifications the applicant lacks: %s; the "
				      "organisation records them (POST /api/v1/orgs/{id}/qualifications) and a reviewer "
				      "approves them first",
				      tds_role_name(c->role), missing);
			tds_error_set_details(json_pack("{s:s}", "missing", missing));
			return TDS_EUNPROC;
		}
		if ((rc = tds_store_prepare(db, "INSERT INTO role_grants(holder_id, role, service_type, application_id, status,"
					       " granted_by, granted_at, updated_at) VALUES(?,?,?,?,'active',?,?,?)",
					   &st)))
			return rc;
		sqlite3_bind_text(st, 1, c->holder, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, c->role);
		if (c->service_type)
			sqlite3_bind_text(st, 3, c->service_type, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, c->app_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, c->p->account_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, now);
		sqlite3_bind_int64(st, 7, now);
		rc = id_step_done(db, st, "granting role");
		if (rc == TDS_ECONFLICT)
			return tds_error_set(TDS_ECONFLICT, "role_held", "the role is already granted");
		if (rc)
			return rc;
	}
	if ((rc = tds_store_prepare(db, "UPDATE role_applications SET status=?, reviewed_by=?, reviewed_at=?, review_reason=?"
				       " WHERE id=?",
				   &st)))
		return rc;
	sqlite3_bind_text(st, 1, c->approve ? "granted" : "rejected", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->p->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	if (c->reason)
		sqlite3_bind_text(st, 4, c->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, c->app_id, -1, SQLITE_STATIC);
	if ((rc = id_step_done(db, st, "recording the decision")))
		return rc;
	return id_evidence(c->id, db, c->approve ? "identity.role_granted" : "identity.role_rejected",
			   id_ledger_actor(c->id, c->p), c->holder, c->app_id, NULL,
			   json_pack("{s:s, s:s?, s:s?}", "role", tds_role_name(c->role), "service_type", c->service_type,
				     "reason", c->reason));
}

int tds_identity_role_review(tds_identity *id, const tds_principal *p, const char *application_id,
			     tds_review_decision d, const char *reason, json_t **out)
{
	if (!tds_id_valid(application_id, "rap"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "application id must look like rap_<26 characters>");
	int rc;
	if ((rc = id_require(id, p, "role.grant", NULL)))
		return rc;
	if (d != TDS_REVIEW_APPROVE && d != TDS_REVIEW_REJECT)
		return tds_error_set(TDS_EINVAL, "invalid_decision", "a role application is approved or rejected");
	if (reason && (rc = id_check_text("reason", reason, 2000)))
		return rc;
	if (d == TDS_REVIEW_REJECT && !reason)
		return tds_error_set(TDS_EINVAL, "reason_required", "a rejection needs a reason the applicant can act on");
	sqlite3 *db = tds_store_conn(id->store);
	if (!db)
		return tds_error_code();
	json_t *app = NULL;
	if ((rc = app_json(db, application_id, &app)))
		return rc;
	char holder[TDS_ID_MAX], stype[32];
	snprintf(holder, sizeof holder, "%s", tds_json_str(app, "holder_id", ""));
	snprintf(stype, sizeof stype, "%s", tds_json_str(app, "service_type", ""));
	tds_roles role = 0;
	rc = tds_role_parse(tds_json_str(app, "role", ""), &role);
	json_decref(app);
	if (rc)
		return rc;
	if (d == TDS_REVIEW_APPROVE && (role & TDS_ROLES_PLATFORM) && !tds_identity_can(p, "role.grant_platform")) {
		tds_error_set(TDS_EPERM, "role_escalation",
			      "the %s role is a platform role: only a node administrator grants it", tds_role_name(role));
		return id_refused(id, p, "role.grant_platform", holder);
	}
	if ((rc = id_refuse_self_review(id, p, "role.grant", holder)))
		return rc;
	rreview_ctx c = {.id = id, .p = p, .app_id = application_id, .holder = holder, .reason = reason,
			 .service_type = stype[0] ? stype : NULL, .role = role, .approve = d == TDS_REVIEW_APPROVE};
	if ((rc = tds_store_tx(id->store, role_review_tx, &c)))
		return rc;
	return app_json(db, application_id, out);
}

typedef struct suspend_ctx {
	tds_identity *id;
	const tds_principal *p;
	const char *holder, *reason;
	tds_roles role;
	bool suspend;
} suspend_ctx;

static int suspend_tx(sqlite3 *db, void *arg)
{
	suspend_ctx *c = arg;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT status FROM role_grants WHERE holder_id=? AND role=?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, c->holder, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->role);
	char status[16] = "";
	if (sqlite3_step(st) == SQLITE_ROW)
		id_col_copy(st, 0, status, sizeof status);
	sqlite3_finalize(st);
	if (!status[0])
		return tds_error_set(TDS_ENOTFOUND, "grant_not_found", "%s does not hold the %s role", c->holder,
				     tds_role_name(c->role));
	if (c->suspend && strcmp(status, "suspended") == 0)
		return tds_error_set(TDS_ECONFLICT, "already_suspended", "the role is already suspended");
	if (!c->suspend && strcmp(status, "active") == 0)
		return tds_error_set(TDS_ECONFLICT, "not_suspended", "the role is active; there is nothing to restore");
	if (!c->suspend) {
		bool met;
		char missing[256];
		if ((rc = id_requirements_met(c->id, db, c->holder, c->role, tds_now_ms(), &met, missing, sizeof missing)))
			return rc;
		if (!met)
			return tds_error_set(TDS_EUNPROC, "qualification_required",
					     "the role cannot be restored while its qualifications are missing: %s", missing);
	}
	return set_grant(c->id, db, id_ledger_actor(c->id, c->p), c->holder, c->role, c->suspend, "manual", c->reason);
}

int tds_identity_role_suspend(tds_identity *id, const tds_principal *p, const char *holder_id, tds_roles role,
			      bool suspend, const char *reason, json_t **out)
{
	int rc;
	if ((rc = id_check_holder(holder_id)) || (rc = id_require(id, p, "role.suspend", NULL)))
		return rc;
	if (id_role_index(role) < 0 || !(role & TDS_ROLES_APPLICABLE))
		return tds_error_set(TDS_EINVAL, "invalid_role", "name one granted role");
	if (suspend && (rc = id_check_text("reason", reason, 2000)))
		return tds_error_set(TDS_EINVAL, "reason_required", "suspending a role needs a reason");
	if (!suspend && reason && (rc = id_check_text("reason", reason, 2000)))
		return rc;
	if ((rc = id_refuse_self_review(id, p, "role.suspend", holder_id)))
		return rc;
	suspend_ctx c = {id, p, holder_id, reason, role, suspend};
	if ((rc = tds_store_tx(id->store, suspend_tx, &c)))
		return rc;
	return tds_identity_grants_json(id, holder_id, out);
}
