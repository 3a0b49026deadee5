/*
 * qual.c — qualifications (运营资质), the partner whitelist (合作方白名单) and the expiry watch.
 *
 * A qualification is recorded by its organisation's admin ("pending"), then approved or rejected by a
 * platform reviewer; an approved one may later be revoked by a reviewer or expire. Validity runs from
 * the start of valid_from to the end of valid_to, in Beijing time (the dates printed on Chinese
 * certificates): valid_from_ms <= t < valid_until_ms.
 *
 * Roles may require qualifications (identity.h, requirements). Whenever an organisation's
 * qualifications change (approval, revocation, expiry found by the watch) its grants are reconciled
 * in the same transaction: active roles whose requirements are no longer met are suspended (reason
 * "qualification"), and roles suspended for that reason whose requirements are met again are
 * restored. Each step is an evidence entry.
 *
 * Not here: role applications (role.c), HTTP (routes.c). The node runs tds_identity_watch on a timer.
 */
#include "identity/internal.h"

#include <string.h>

#define DAY_MS (24LL * 3600 * 1000)

#define QUAL_COLS                                                                                                  \
	"id, org_id, type, level, name, issuer, cert_no, valid_from, valid_to, doc_hash, status, warned_at, reviewed_at," \
	" review_reason, created_at, submitted_by, reviewed_by"

static json_t *qual_row_json(sqlite3_stmt *st)
{
	json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
			      id_col_str(st, 0), "org_id", id_col_str(st, 1), "type", id_col_str(st, 2), "name",
			      id_col_str(st, 4), "issuer", id_col_str(st, 5), "cert_no", id_col_str(st, 6), "valid_from",
			      id_col_str(st, 7), "valid_to", id_col_str(st, 8), "doc_hash", id_col_str(st, 9), "status",
			      id_col_str(st, 10), "warned_at", id_col_time(st, 11), "reviewed_at", id_col_time(st, 12),
			      "review_reason", id_col_str(st, 13), "created_at", id_col_time(st, 14), "submitted_by",
			      id_col_str(st, 15), "reviewed_by", id_col_str(st, 16));
	int level = sqlite3_column_int(st, 3);
	json_object_set_new(o, "level", level ? json_integer(level) : json_null());
	return o;
}

static int qual_json(sqlite3 *db, const char *qid, json_t **out)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT " QUAL_COLS " FROM qualifications WHERE id=?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		*out = qual_row_json(st);
	else if (s == SQLITE_DONE)
		rc = tds_error_set(TDS_ENOTFOUND, "qualification_not_found", "no qualification %s", qid);
	else
		rc = tds_store_error(db, "reading qualification");
	sqlite3_finalize(st);
	return rc;
}

/* ---- adding ---- */

typedef struct qadd_ctx {
	tds_identity *id;
	const tds_principal *p;
	const char *org_id;
	const tds_qualification_in *q;
	int64_t from_ms, until_ms;
	char qid[TDS_ID_MAX];
} qadd_ctx;

static int qadd_tx(sqlite3 *db, void *arg)
{
	qadd_ctx *c = arg;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT (SELECT COUNT(*) FROM orgs WHERE id=?1),"
				       " (SELECT COUNT(*) FROM qualifications WHERE org_id=?1 AND doc_hash=?2"
				       "  AND status IN ('pending','approved'))",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, c->org_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->q->doc_hash, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	int orgs = s == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1, dup = s == SQLITE_ROW ? sqlite3_column_int(st, 1) : 0;
	sqlite3_finalize(st);
	if (orgs < 0)
		return tds_store_error(db, "reading organisation");
	if (orgs == 0)
		return tds_error_set(TDS_ENOTFOUND, "org_not_found", "no organisation %s", c->org_id);
	if (dup)
		return tds_error_set(TDS_ECONFLICT, "qualification_exists",
				     "a pending or approved qualification with this document hash is already recorded");
	if ((rc = tds_store_prepare(db, "INSERT INTO qualifications(id, org_id, type, level, name, issuer, cert_no, valid_from,"
				       " valid_to, valid_from_ms, valid_until_ms, doc_hash, status, submitted_by, created_at,"
				       " updated_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,'pending',?,?,?)",
				   &st)))
		return rc;
	const tds_qualification_in *q = c->q;
	int64_t now = tds_now_ms();
	sqlite3_bind_text(st, 1, c->qid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->org_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, tds_identity_qual_type_name(q->type), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, q->level);
	if (q->name)
		sqlite3_bind_text(st, 5, q->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, q->issuer, -1, SQLITE_STATIC);
	if (q->cert_no)
		sqlite3_bind_text(st, 7, q->cert_no, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, q->valid_from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, q->valid_to, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, c->from_ms);
	sqlite3_bind_int64(st, 11, c->until_ms);
	sqlite3_bind_text(st, 12, q->doc_hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 13, c->p->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 14, now);
	sqlite3_bind_int64(st, 15, now);
	if ((rc = id_step_done(db, st, "recording qualification")))
		return rc;
	json_t *payload = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s, s:s?}", "type", tds_identity_qual_type_name(q->type),
				    "issuer", q->issuer, "name", q->name, "valid_from", q->valid_from, "valid_to",
				    q->valid_to, "doc_hash", q->doc_hash, "cert_no", q->cert_no);
	if (q->level)
		json_object_set_new(payload, "level", json_integer(q->level));
	return id_evidence(c->id, db, "identity.qualification_added", id_ledger_actor(c->id, c->p), c->org_id, c->qid, NULL,
			   payload);
}

int tds_identity_qualification_add(tds_identity *id, const tds_principal *p, const char *org_id,
				   const tds_qualification_in *q, json_t **out)
{
	if (!tds_id_valid(org_id, "org"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "organisation id must look like org_<26 characters>");
	int rc;
	if ((rc = id_require(id, p, "qualification.submit", org_id)))
		return rc;
	if (!tds_identity_qual_type_name(q->type))
		return tds_error_set(TDS_EINVAL, "invalid_qualification_type", "unknown qualification type");
	int max = q->type == TDS_QUAL_DENGBAO ? 4 : q->type == TDS_QUAL_DSMC ? 5 : 0;
	if (max && (q->level < 1 || q->level > max))
		return tds_error_set(TDS_EINVAL, "invalid_level", "%s needs a level from 1 to %d",
				     q->type == TDS_QUAL_DENGBAO ? "dengbao (等保)" : "dsmc", max);
	if (!max && q->level)
		return tds_error_set(TDS_EINVAL, "invalid_level", "only dengbao and dsmc qualifications have a level");
	if ((q->type == TDS_QUAL_INDUSTRY_LICENCE || q->type == TDS_QUAL_OTHER) && !q->name)
		return tds_error_set(TDS_EINVAL, "missing_field", "industry licences and other qualifications need a name");
	if ((q->name && (rc = id_check_text("name", q->name, 200))) || (rc = id_check_text("issuer", q->issuer, 200)) ||
	    (q->cert_no && (rc = id_check_text("cert_no", q->cert_no, 100))) ||
	    (rc = tds_identity_check_doc_hash(q->doc_hash, q->doc_hash ? strlen(q->doc_hash) : 0)))
		return rc;
	qadd_ctx c = {.id = id, .p = p, .org_id = org_id, .q = q};
	int64_t to_ms;
	if (!q->valid_from || !q->valid_to)
		return tds_error_set(TDS_EINVAL, "missing_field", "valid_from and valid_to (YYYY-MM-DD) are required");
	if ((rc = tds_identity_parse_date(q->valid_from, strlen(q->valid_from), &c.from_ms)) ||
	    (rc = tds_identity_parse_date(q->valid_to, strlen(q->valid_to), &to_ms)))
		return tds_error_wrap("valid_from/valid_to: ");
	c.until_ms = to_ms + DAY_MS;
	if (to_ms < c.from_ms)
		return tds_error_set(TDS_EINVAL, "invalid_validity", "valid_to must not be before valid_from");
	if (c.until_ms <= tds_now_ms())
		return tds_error_set(TDS_EUNPROC, "qualification_expired", "this qualification has already expired (valid_to is past)");
	if ((rc = tds_id_new("qual", c.qid)) || (rc = tds_store_tx(id->store, qadd_tx, &c)))
		return rc;
	sqlite3 *db = tds_store_conn(id->store);
	return db ? qual_json(db, c.qid, out) : tds_error_code();
}

int tds_identity_qualification_list(tds_identity *id, const char *org_id, const char *status, int limit,
				    const char *cursor, json_t **out)
{
	static const char *const S[] = {"pending", "approved", "rejected", "revoked", "expired"};
	bool ok = !status;
	for (size_t i = 0; status && i < TDS_ARRAY_LEN(S); i++)
		ok = ok || strcmp(status, S[i]) == 0;
	if (!ok)
		return tds_error_set(TDS_EINVAL, "invalid_status", "status must be pending, approved, rejected, revoked or expired");
	if (org_id && !tds_id_valid(org_id, "org"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "organisation id must look like org_<26 characters>");
	if (cursor && !tds_id_valid(cursor, "qual"))
		return tds_error_set(TDS_EINVAL, "invalid_cursor", "cursor must be the next_cursor of a previous page");
	sqlite3 *db = tds_store_conn(id->store);
	sqlite3_stmt *st;
	int rc;
	if (!db)
		return tds_error_code();
	if ((rc = tds_store_prepare(db, "SELECT " QUAL_COLS " FROM qualifications WHERE id > ?1 AND (?2 IS NULL OR org_id = ?2)"
				       " AND (?3 IS NULL OR status = ?3) ORDER BY id LIMIT ?4",
				   &st)))
		return rc;
	sqlite3_bind_text(st, 1, cursor ? cursor : "", -1, SQLITE_STATIC);
	if (org_id)
		sqlite3_bind_text(st, 2, org_id, -1, SQLITE_STATIC);
	if (status)
		sqlite3_bind_text(st, 3, status, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, limit + 1);
	rc = id_page_run(db, st, limit, qual_row_json, "listing qualifications", out);
	sqlite3_finalize(st);
	return rc;
}

/* ---- review ---- */

typedef struct qreview_ctx {
	tds_identity *id;
	const tds_principal *p;
	const char *qid, *org_id, *reason;
	tds_review_decision d;
} qreview_ctx;

static int qreview_tx(sqlite3 *db, void *arg)
{
	qreview_ctx *c = arg;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT status, valid_until_ms FROM qualifications WHERE id=?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, c->qid, -1, SQLITE_STATIC);
	char status[16] = "";
	int64_t until = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		id_col_copy(st, 0, status, sizeof status);
		until = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	int64_t now = tds_now_ms();
	const char *want = c->d == TDS_REVIEW_REVOKE ? "approved" : "pending";
	if (strcmp(status, want) != 0)
		return tds_error_set(TDS_ECONFLICT, c->d == TDS_REVIEW_REVOKE ? "not_approved" : "not_pending",
				     "only a %s qualification can be %s; this one is %s", want,
				     c->d == TDS_REVIEW_REVOKE ? "revoked" : "reviewed", status);
	if (c->d == TDS_REVIEW_APPROVE && until <= now)
		return tds_error_set(TDS_EUNPROC, "qualification_expired", "the qualification expired before review; reject it");
	const char *next = c->d == TDS_REVIEW_APPROVE ? "approved" : c->d == TDS_REVIEW_REJECT ? "rejected" : "revoked";
	if ((rc = tds_store_prepare(db, "UPDATE qualifications SET status=?, reviewed_by=?, reviewed_at=?, review_reason=?,"
				       " updated_at=? WHERE id=?",
				   &st)))
		return rc;
	sqlite3_bind_text(st, 1, next, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->p->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	if (c->reason)
		sqlite3_bind_text(st, 4, c->reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_text(st, 6, c->qid, -1, SQLITE_STATIC);
	if ((rc = id_step_done(db, st, "recording the decision")))
		return rc;
	char type[64];
	snprintf(type, sizeof type, "identity.qualification_%s", next);
	if ((rc = id_evidence(c->id, db, type, id_ledger_actor(c->id, c->p), c->org_id, c->qid, NULL,
			      json_pack("{s:s?}", "reason", c->reason))))
		return rc;
	/* the organisation's roles follow its qualifications, in this same transaction */
	return c->d == TDS_REVIEW_REJECT ? 0 : id_reconcile_roles(c->id, db, c->org_id, now, c->p->account_id, NULL, NULL);
}

int tds_identity_qualification_review(tds_identity *id, const tds_principal *p, const char *qualification_id,
				      tds_review_decision d, const char *reason, json_t **out)
{
	if (!tds_id_valid(qualification_id, "qual"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "qualification id must look like qual_<26 characters>");
	int rc;
	if ((rc = id_require(id, p, "qualification.review", NULL)))
		return rc;
	if (reason && (rc = id_check_text("reason", reason, 2000)))
		return rc;
	if (d != TDS_REVIEW_APPROVE && !reason)
		return tds_error_set(TDS_EINVAL, "reason_required", "rejecting or revoking a qualification needs a reason");
	sqlite3 *db = tds_store_conn(id->store);
	if (!db)
		return tds_error_code();
	json_t *q = NULL;
	if ((rc = qual_json(db, qualification_id, &q)))
		return rc;
	char org[TDS_ID_MAX];
	snprintf(org, sizeof org, "%s", tds_json_str(q, "org_id", ""));
	json_decref(q);
	if ((rc = id_refuse_self_review(id, p, "qualification.review", org)))
		return rc;
	qreview_ctx c = {id, p, qualification_id, org, reason, d};
	if ((rc = tds_store_tx(id->store, qreview_tx, &c)))
		return rc;
	return qual_json(db, qualification_id, out);
}

/* ---- whitelist ---- */

/* The org's active roles whose requirements are met at now, and its valid qualifications. */
static int whitelist_entry(tds_identity *id, sqlite3 *db, const char *org_id, int64_t now, json_t **roles_out,
			   json_t **quals_out)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT role FROM role_grants WHERE holder_id=? AND status='active' ORDER BY role", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, org_id, -1, SQLITE_STATIC);
	tds_roles active = 0;
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW)
		active |= (tds_roles)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (s != SQLITE_DONE)
		return tds_store_error(db, "reading grants");
	tds_roles ok = 0;
	for (unsigned i = 0; i < TDS_ROLES_ALL_NAMES; i++) {
		if (!(active & (1u << i)))
			continue;
		bool met;
		if ((rc = id_requirements_met(id, db, org_id, 1u << i, now, &met, NULL, 0)))
			return rc;
		if (met)
			ok |= 1u << i;
	}
	*roles_out = tds_roles_to_json(ok);
	if ((rc = tds_store_prepare(db, "SELECT type, level, name, issuer, valid_to FROM qualifications WHERE org_id=?"
				       " AND status='approved' AND valid_from_ms <= ?2 AND valid_until_ms > ?2 ORDER BY id",
				   &st))) {
		json_decref(*roles_out);
		return rc;
	}
	sqlite3_bind_text(st, 1, org_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	json_t *quals = json_array();
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *q = json_pack("{s:o, s:o, s:o, s:o}", "type", id_col_str(st, 0), "name", id_col_str(st, 2), "issuer",
				      id_col_str(st, 3), "valid_to", id_col_str(st, 4));
		if (sqlite3_column_int(st, 1))
			json_object_set_new(q, "level", json_integer(sqlite3_column_int(st, 1)));
		json_array_append_new(quals, q);
	}
	sqlite3_finalize(st);
	if (s != SQLITE_DONE) {
		json_decref(*roles_out);
		json_decref(quals);
		return tds_store_error(db, "reading qualifications");
	}
	*quals_out = quals;
	return 0;
}

int tds_identity_whitelist(tds_identity *id, int64_t now_ms, int limit, const char *cursor, json_t **out)
{
	if (cursor && !tds_id_valid(cursor, "org"))
		return tds_error_set(TDS_EINVAL, "invalid_cursor", "cursor must be the next_cursor of a previous page");
	sqlite3 *db = tds_store_conn(id->store);
	sqlite3_stmt *st;
	int rc;
	if (!db)
		return tds_error_code();
	if ((rc = tds_store_prepare(db, "SELECT id, name, type, uscc FROM orgs WHERE status='verified' AND id > ?"
				       " AND EXISTS (SELECT 1 FROM role_grants g WHERE g.holder_id = orgs.id AND g.status='active')"
				       " ORDER BY id",
				   &st)))
		return rc;
	sqlite3_bind_text(st, 1, cursor ? cursor : "", -1, SQLITE_STATIC);
	json_t *items = json_array();
	bool more = false;
	int s = SQLITE_DONE;
	while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *roles = NULL, *quals = NULL;
		char org[TDS_ID_MAX];
		id_col_copy(st, 0, org, sizeof org);
		if ((rc = whitelist_entry(id, db, org, now_ms, &roles, &quals)))
			break;
		if (json_array_size(roles) == 0) {
			json_decref(roles);
			json_decref(quals);
			continue;
		}
		if ((int)json_array_size(items) == limit) {
			json_decref(roles);
			json_decref(quals);
			more = true;
			break;
		}
		json_array_append_new(items, json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "id", org, "name", id_col_str(st, 1),
						       "type", id_col_str(st, 2), "uscc", id_col_str(st, 3), "roles", roles,
						       "qualifications", quals));
	}
	if (!rc && !more && s != SQLITE_DONE)
		rc = tds_store_error(db, "listing the whitelist");
	sqlite3_finalize(st);
	if (rc) {
		json_decref(items);
		return rc;
	}
	*out = id_page(items, more);
	json_object_set_new(*out, "at", id_time_json(now_ms));
	return 0;
}

/* ---- the watch ---- */

typedef struct warn_ctx {
	tds_identity *id;
	const char *qid, *org_id;
	int64_t now;
	char valid_to[16];
} warn_ctx;

static int warn_tx(sqlite3 *db, void *arg)
{
	warn_ctx *c = arg;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "UPDATE qualifications SET warned_at=? WHERE id=? AND warned_at IS NULL", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, c->now);
	sqlite3_bind_text(st, 2, c->qid, -1, SQLITE_STATIC);
	if ((rc = id_step_done(db, st, "marking the warning")))
		return rc;
	return id_evidence_by(c->id, db, "identity.qualification_expiring", NULL, c->org_id, c->qid, NULL,
			      json_pack("{s:s}", "valid_to", c->valid_to));
}

typedef struct expire_ctx {
	tds_identity *id;
	const char *org_id;
	int64_t now;
	json_t *expired, *suspended, *restored;
} expire_ctx;

static int expire_tx(sqlite3 *db, void *arg)
{
	expire_ctx *c = arg;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT id, valid_to FROM qualifications WHERE org_id=? AND status='approved'"
				       " AND valid_until_ms <= ? ORDER BY id",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, c->org_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->now);
	json_t *ids = json_array();
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(ids, json_pack("{s:o, s:o}", "id", id_col_str(st, 0), "valid_to", id_col_str(st, 1)));
	sqlite3_finalize(st);
	if (s != SQLITE_DONE) {
		json_decref(ids);
		return tds_store_error(db, "reading expired qualifications");
	}
	size_t i;
	json_t *q;
	json_array_foreach(ids, i, q) {
		const char *qid = tds_json_str(q, "id", "");
		if ((rc = tds_store_prepare(db, "UPDATE qualifications SET status='expired', updated_at=? WHERE id=?", &st)))
			break;
		sqlite3_bind_int64(st, 1, c->now);
		sqlite3_bind_text(st, 2, qid, -1, SQLITE_STATIC);
		if ((rc = id_step_done(db, st, "expiring qualification")) ||
		    (rc = id_evidence_by(c->id, db, "identity.qualification_expired", NULL, c->org_id, qid, NULL,
					 json_pack("{s:s}", "valid_to", tds_json_str(q, "valid_to", "")))))
			break;
		json_array_append_new(c->expired, json_pack("{s:s, s:s, s:s}", "id", qid, "org_id", c->org_id, "valid_to",
							    tds_json_str(q, "valid_to", "")));
	}
	json_decref(ids);
	if (rc)
		return rc;
	return id_reconcile_roles(c->id, db, c->org_id, c->now, NULL, c->suspended, c->restored);
}

int tds_identity_watch(tds_identity *id, int64_t now_ms, json_t **report)
{
	if (report)
		*report = NULL;
	sqlite3 *db = tds_store_conn(id->store);
	sqlite3_stmt *st;
	int rc;
	if (!db)
		return tds_error_code();
	json_t *warned = json_array(), *expired = json_array(), *suspended = json_array(), *restored = json_array();
	json_t *todo = json_array();
	/* 1. warnings, once per qualification */
	if ((rc = tds_store_prepare(db, "SELECT id, org_id, valid_to, type FROM qualifications WHERE status='approved'"
				       " AND warned_at IS NULL AND valid_until_ms > ?1 AND valid_until_ms <= ?2 ORDER BY id",
				   &st)))
		goto done;
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_int64(st, 2, now_ms + id->opts.warn_before_ms);
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(todo, json_pack("{s:o, s:o, s:o, s:o}", "id", id_col_str(st, 0), "org_id",
						      id_col_str(st, 1), "valid_to", id_col_str(st, 2), "type", id_col_str(st, 3)));
	sqlite3_finalize(st);
	if (s != SQLITE_DONE) {
		rc = tds_store_error(db, "reading expiring qualifications");
		goto done;
	}
	size_t i;
	json_t *q;
	json_array_foreach(todo, i, q) {
		warn_ctx c = {id, tds_json_str(q, "id", ""), tds_json_str(q, "org_id", ""), now_ms, ""};
		snprintf(c.valid_to, sizeof c.valid_to, "%s", tds_json_str(q, "valid_to", ""));
		if ((rc = tds_store_tx(id->store, warn_tx, &c)))
			goto done;
		tds_log_fields(TDS_LOG_WARN, "qualification_expiring", json_deep_copy(q));
		json_array_append(warned, q);
	}
	json_array_clear(todo);
	/* 2. every organisation with expired qualifications or grants to check, one transaction each */
	if ((rc = tds_store_prepare(db, "SELECT org_id FROM qualifications WHERE status='approved' AND valid_until_ms <= ?"
				       " UNION SELECT holder_id FROM role_grants WHERE holder_id LIKE 'org\\_%' ESCAPE '\\'"
				       " ORDER BY 1",
				   &st)))
		goto done;
	sqlite3_bind_int64(st, 1, now_ms);
	while ((s = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(todo, id_col_str(st, 0));
	sqlite3_finalize(st);
	if (s != SQLITE_DONE) {
		rc = tds_store_error(db, "reading organisations to check");
		goto done;
	}
	json_array_foreach(todo, i, q) {
		expire_ctx c = {id, json_string_value(q), now_ms, expired, suspended, restored};
		if ((rc = tds_store_tx(id->store, expire_tx, &c)))
			goto done;
	}
	if (json_array_size(expired) || json_array_size(suspended) || json_array_size(restored))
		tds_log_fields(TDS_LOG_WARN, "qualification_watch",
			       json_pack("{s:O, s:O, s:O}", "expired", expired, "suspended", suspended, "restored", restored));
done:
	json_decref(todo);
	if (!rc && report)
		*report = json_pack("{s:o, s:O, s:O, s:O, s:O}", "at", id_time_json(now_ms), "warned", warned, "expired",
				    expired, "suspended", suspended, "restored", restored);
	json_decref(warned);
	json_decref(expired);
	json_decref(suspended);
	json_decref(restored);
	return rc;
}
