/*
 * authorization.c — authorization lists (授权清单, operation.h section 4): made item by item when an
 * application is approved, read by the holder and reviewers, and the check of a contract's terms
 * against a list (tds_operation_terms_check) that the contract module calls through the node.
 *
 * Not for reviews (review.c) nor contracts themselves (src/contract).
 */
#include "operation/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *general_restrictions(void)
{
	return json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]", "code", "no_marketing", "text", "不得用于营销",
			 "code", "no_reauthorization", "text", "不得向第三方再授权", "code", "scenario_only", "text",
			 "不得超出清单所列场景使用");
}

static json_t *traceability_duties(void)
{
	return json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}]", "code", "log_every_use", "text",
			 "每次使用留存日志（使用者、时间、数据项、字段、用途）", "code", "keep_logs", "text",
			 "日志至少保存180天，可供授权运营方与监管方调阅", "code", "report_on_request", "text",
			 "按授权运营方或监管方要求报告使用情况", "code", "destroy_at_end", "text",
			 "有效期届满按安全方案销毁数据并出具销毁证明");
}

int op_authorization_create_tx(tds_operation *op, sqlite3 *db, const op_app *a, const json_t *conditions,
			       const tds_operation_caller *who, char out_id[TDS_ID_MAX])
{
	int rc = tds_id_new("aut", out_id);
	if (rc)
		return rc;
	const json_t *app = a->body;
	json_t *sc = json_object_get(app, "scenario"), *items = json_array();
	int64_t vfrom = INT64_MAX, vto = 0;
	size_t i, k;
	json_t *need;
	json_array_foreach(json_object_get(app, "needs"), i, need) {
		const json_t *e = json_array_get(a->entries, i);
		json_t *fields = json_array(), *f;
		json_array_foreach(json_object_get(need, "fields"), k, f) {
			const char *name = tds_json_str(f, "name", "");
			json_t *decl = NULL, *d;
			size_t m;
			json_array_foreach(json_object_get(e, "fields"), m, d) {
				if (!strcmp(tds_json_str(d, "name", ""), name))
					decl = d;
			}
			json_array_append_new(fields, json_pack("{s:s, s:O?, s:O?, s:O?}", "name", name, "label",
								json_object_get(decl, "label"), "type", json_object_get(decl, "type"),
								"justification", json_object_get(f, "justification")));
		}
		json_t *specific = json_array();
		const char *ur = tds_json_str(e, "usage_restrictions", NULL);
		if (ur && *ur)
			json_array_append_new(specific, json_string(ur));
		json_array_extend(specific, (json_t *)conditions);
		const json_t *per = json_object_get(need, "period");
		int64_t f0 = 0, t0 = 0;
		tds_time_parse(tds_json_str(per, "from", ""), &f0);
		tds_time_parse(tds_json_str(per, "to", ""), &t0);
		vfrom = f0 < vfrom ? f0 : vfrom;
		vto = t0 > vto ? t0 : vto;
		json_array_append_new(
		    items, json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:o, s:{s:O, s:O, s:O}, s:O, s:O, s:O, s:{s:o, s:o}}",
				     "entry_id", json_object_get(e, "id"), "code", json_object_get(e, "code"), "name",
				     json_object_get(e, "title"), "kind", json_object_get(e, "kind"), "type",
				     json_object_get(e, "form"), "fields", fields, "scope_of_use", "scenario", sc, "purpose",
				     json_object_get(app, "purpose"), "industry", json_object_get(app, "industry"), "validity",
				     per, "volume", json_object_get(need, "volume"), "frequency", json_object_get(need, "frequency"),
				     "restrictions", "general", general_restrictions(), "specific", specific));
	}
	json_t *body = json_pack("{s:s, s:s, s:s, s:O, s:O, s:O, s:o, s:o}", "id", out_id, "application_id", a->id,
				 "holder_org", a->org, "scenario", sc, "purpose", json_object_get(app, "purpose"), "industry",
				 json_object_get(app, "industry"), "items", items, "traceability", traceability_duties());
	char *text = body ? tds_json_dumps(body) : NULL;
	sqlite3_stmt *st = NULL;
	int64_t now = tds_now_ms();
	rc = text ? tds_store_prepare(db, "INSERT INTO op_authorizations (id, application_id, holder_org, valid_from, valid_to,"
					  " body, created_at) VALUES (?,?,?,?,?,?,?)", &st)
		  : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if (!rc) {
		sqlite3_bind_text(st, 1, out_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, a->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, a->org, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, vfrom);
		sqlite3_bind_int64(st, 5, vto);
		sqlite3_bind_text(st, 6, text, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, now);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "inserting authorization list");
	}
	sqlite3_finalize(st);
	free(text);
	if (!rc) {
		json_t *ids = json_array();
		json_array_foreach(items, i, need) json_array_append(ids, json_object_get(need, "entry_id"));
		rc = op_evidence_tx(op, db, "operation.authorization_issued", who, out_id, a->id,
				    json_pack("{s:s, s:o, s:I, s:I}", "holder_org", a->org, "entries", ids, "valid_from",
					      (json_int_t)vfrom, "valid_to", (json_int_t)vto));
	}
	json_decref(body);
	return rc;
}

/* ---- reads ---- */

static json_t *auth_json(sqlite3_stmt *st, int64_t now)
{
	json_t *b = op_col_json(st, 0);
	if (!json_is_object(b)) {
		json_decref(b);
		b = json_object();
	}
	int64_t from = sqlite3_column_int64(st, 1), to = sqlite3_column_int64(st, 2);
	json_object_set_new(b, "valid_from", op_time_json(from));
	json_object_set_new(b, "valid_to", op_time_json(to));
	json_object_set_new(b, "state", json_string(now >= to ? "expired" : "active"));
	json_object_set_new(b, "issued_at", op_time_json(sqlite3_column_int64(st, 3)));
	return b;
}

int tds_operation_authorization_get(tds_operation *op, const tds_operation_caller *who, const char *id, json_t **out)
{
	*out = NULL;
	const char *org = op_reads_all(who) ? NULL : who->org;
	if (!tds_id_valid(id, "aut") || (!op_reads_all(who) && !org))
		return tds_error_set(TDS_ENOTFOUND, "authorization_not_found", "no such authorization list");
	sqlite3 *db = tds_store_conn(op->store);
	if (!db)
		return tds_error_code();
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT body, valid_from, valid_to, created_at FROM op_authorizations WHERE id = ?1"
				       " AND (?2 IS NULL OR holder_org = ?2)", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, org, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		*out = auth_json(st, tds_now_ms());
	else
		rc = s == SQLITE_DONE ? tds_error_set(TDS_ENOTFOUND, "authorization_not_found", "no such authorization list")
				      : tds_store_error(db, "reading authorization list");
	sqlite3_finalize(st);
	return rc;
}

int tds_operation_authorization_list(tds_operation *op, const tds_operation_caller *who, int limit, const char *cursor,
				     json_t **out)
{
	*out = NULL;
	if (cursor && !tds_id_valid(cursor, "aut"))
		return tds_error_set(TDS_EINVAL, "invalid_cursor", "cursor must be an authorization id from next_cursor");
	const char *org = op_reads_all(who) ? NULL : who->org;
	if (!op_reads_all(who) && !org)
		return tds_error_set(TDS_EPERM, "no_organisation", "authorization lists belong to organisations; this account has none");
	if (limit < 1 || limit > 100)
		limit = 20;
	sqlite3 *db = tds_store_conn(op->store);
	if (!db)
		return tds_error_code();
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT body, valid_from, valid_to, created_at, id FROM op_authorizations WHERE"
				       " (?1 IS NULL OR holder_org = ?1) AND (?2 IS NULL OR id > ?2) ORDER BY id LIMIT ?3", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, cursor, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, limit + 1);
	json_t *items = json_array();
	int n = 0, s;
	int64_t now = tds_now_ms();
	while ((s = sqlite3_step(st)) == SQLITE_ROW && n < limit) {
		json_array_append_new(items, auth_json(st, now));
		n++;
	}
	bool more = s == SQLITE_ROW;
	if (s != SQLITE_ROW && s != SQLITE_DONE)
		rc = tds_store_error(db, "listing authorization lists");
	sqlite3_finalize(st);
	if (rc) {
		json_decref(items);
		return rc;
	}
	json_t *last = json_array_get(items, json_array_size(items) - 1);
	*out = json_pack("{s:o, s:O?}", "items", items, "next_cursor", more && last ? json_object_get(last, "id") : NULL);
	return *out ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
}

/* ---- the contract-terms check ---- */

static void add(json_t *issues, const char *code, const char *path, const char *fmt, ...) TDS_PRINTF(4, 5);
static void add(json_t *issues, const char *code, const char *path, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	json_array_append_new(issues, json_pack("{s:s, s:s, s:s}", "code", code, "path", path ? path : "$", "reason", reason));
}

int tds_operation_terms_check(tds_operation *op, sqlite3 *db, const char *authorization_id, const json_t *terms,
			      json_t *issues)
{
	(void)op;
	if (!json_is_object(terms) || !json_is_array(issues))
		return tds_error_set(TDS_EINVAL, "invalid_terms", "terms must be an object and issues an array");
	json_t *b = NULL;
	int64_t vfrom = 0, vto = 0;
	sqlite3_stmt *st;
	int rc = 0;
	if (tds_id_valid(authorization_id, "aut")) {
		if ((rc = tds_store_prepare(db, "SELECT body, valid_from, valid_to FROM op_authorizations WHERE id = ?", &st)))
			return rc;
		sqlite3_bind_text(st, 1, authorization_id, -1, SQLITE_STATIC);
		int s = sqlite3_step(st);
		if (s == SQLITE_ROW) {
			b = op_col_json(st, 0);
			vfrom = sqlite3_column_int64(st, 1);
			vto = sqlite3_column_int64(st, 2);
		} else if (s != SQLITE_DONE) {
			rc = tds_store_error(db, "reading authorization list");
		}
		sqlite3_finalize(st);
		if (rc)
			return rc;
	}
	json_t *issues_new = json_array();
	const char *holder = tds_json_str(b, "holder_org", "");
	const json_t *item = NULL, *it;
	size_t i, k;
	json_array_foreach(json_object_get(b, "items"), i, it) {
		if (!strcmp(tds_json_str(it, "entry_id", ""), tds_json_str(terms, "entry_id", "-")))
			item = it;
	}
	int64_t at = tds_json_int(terms, "at", tds_now_ms());
	if (!json_is_object(b)) {
		add(issues_new, "authorization_not_found", "$.authorization_id", "no authorization list %s",
		    authorization_id ? authorization_id : "");
	} else if (strcmp(holder, tds_json_str(terms, "consumer_org", ""))) {
		add(issues_new, "authorization_not_held", "$.authorization_id",
		    "the authorization list is held by another organisation than the consumer");
	} else if (at >= vto) {
		add(issues_new, "authorization_expired", "$.authorization_id", "the authorization list is no longer valid");
	} else if (!item) {
		add(issues_new, "entry_not_authorized", tds_json_str(terms, "entry_path", "$.product.id"),
		    "the authorization list does not cover catalog entry %s", tds_json_str(terms, "entry_id", ""));
	} else {
		json_t *c;
		json_array_foreach(json_object_get(terms, "fields"), i, c) {
			const char *name = tds_json_str(c, "name", "");
			bool ok = false;
			json_t *f;
			json_array_foreach(json_object_get(item, "fields"), k, f) ok |= !strcmp(tds_json_str(f, "name", ""), name);
			if (!ok)
				add(issues_new, "field_not_authorized", tds_json_str(c, "path", NULL),
				    "the field '%s' is not on the authorization list", name);
		}
		const char *purpose = tds_json_str(json_object_get(item, "scope_of_use"), "purpose", "");
		json_array_foreach(json_object_get(terms, "purposes"), i, c) {
			if (strcmp(tds_json_str(c, "name", ""), purpose))
				add(issues_new, "purpose_not_authorized", tds_json_str(c, "path", NULL),
				    "the purpose '%s' is not the authorized scope of use ('%s')", tds_json_str(c, "name", ""), purpose);
		}
		json_array_foreach(json_object_get(terms, "unrestricted"), i, c) {
			bool field = !strcmp(tds_json_str(c, "what", ""), "field");
			if (field && !json_array_size(json_object_get(item, "fields")))
				continue; /* an item authorized whole */
			add(issues_new, field ? "fields_unrestricted" : "purpose_unrestricted", tds_json_str(c, "path", NULL),
			    field ? "a grant without a field limit goes beyond the authorized fields"
				  : "a grant without a purpose limit goes beyond the authorized scope of use");
		}
		const json_t *v = json_object_get(terms, "validity");
		const json_t *iv = json_object_get(item, "validity");
		int64_t ifrom = vfrom, ito = vto;
		tds_time_parse(tds_json_str(iv, "from", ""), &ifrom);
		tds_time_parse(tds_json_str(iv, "to", ""), &ito);
		if (v && (tds_json_int(v, "from", 0) < ifrom || tds_json_int(v, "to", INT64_MAX) > ito))
			add(issues_new, "validity_beyond_authorization", tds_json_str(v, "path", "$.validity"),
			    "the validity must lie within the authorized period");
	}
	json_array_extend(issues, issues_new);
	json_decref(issues_new);
	json_decref(b);
	return 0;
}
