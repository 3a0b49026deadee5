/*
 * violation.c — violations seen from above (contract.h section 5): the operator stores the reports
 * the providers' connectors send, freezes the contract on its side when a report says the consumer
 * was frozen (new tokens refused, feed "frozen"), lists reports to oversight and the parties, and
 * unfreezes as a reviewed action (feed "unfrozen"). A connector lists its own violation records.
 *
 * Not here: detecting violations and freezing on the connector (enforce.c), sending reports (sync.c).
 */
#include "contract/enforcer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ct_frozen_on_operator(sqlite3 *db, const char *contract_id, bool *frozen)
{
	sqlite3_stmt *st = NULL;
	*frozen = false;
	int rc = tds_store_prepare(db, "SELECT frozen FROM contract_freezes WHERE contract_id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, contract_id, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		*frozen = sqlite3_column_int64(st, 0) != 0;
	else if (s != SQLITE_DONE)
		rc = tds_store_error(db, "reading a freeze");
	sqlite3_finalize(st);
	return rc;
}

/* ---- receiving a report ---- */

typedef struct report_ctx {
	tds_contract *ct;
	const char *reporter_org, *reporter_node;
	const json_t *in;
	json_t *out;
	bool froze;
} report_ctx;

static json_t *report_row(sqlite3_stmt *st)
{
	const char *body = (const char *)sqlite3_column_text(st, 0);
	json_t *o = NULL;
	if (tds_json_parse(body, strlen(body), &o) < 0)
		return NULL;
	char t[TDS_TIME_MAX];
	tds_time_format(sqlite3_column_int64(st, 1), t);
	json_object_set_new(o, "received_at", json_string(t));
	if (sqlite3_column_text(st, 2))
		json_object_set_new(o, "reporter_node", json_string((const char *)sqlite3_column_text(st, 2)));
	return o;
}

static int stored_report(sqlite3 *db, const char *id, json_t **out)
{
	sqlite3_stmt *st = NULL;
	*out = NULL;
	int rc = tds_store_prepare(db, "SELECT body, received_at, reporter_node FROM contract_violation_reports WHERE id = ?",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		*out = report_row(st);
	else if (s != SQLITE_DONE)
		rc = tds_store_error(db, "reading a violation report");
	sqlite3_finalize(st);
	if (!rc && s == SQLITE_ROW && !*out)
		rc = tds_error_set(TDS_EINTERNAL, "corrupt_report", "a stored violation report does not parse");
	return rc;
}

static int freeze_row_tx(sqlite3 *db, const char *contract_id, int frozen, const char *report_id, const char *by,
			 const char *reason)
{
	sqlite3_stmt *st = NULL;
	int rc = tds_store_prepare(
	    db,
	    frozen ? "INSERT INTO contract_freezes (contract_id, frozen, frozen_at, report_id, reason, updated_at) "
		     "VALUES (?1, 1, ?2, ?3, ?5, ?2) ON CONFLICT (contract_id) DO UPDATE SET frozen = 1, frozen_at = ?2, "
		     "report_id = ?3, unfrozen_at = NULL, unfrozen_by = NULL, reason = ?5, updated_at = ?2"
		   : "UPDATE contract_freezes SET frozen = 0, unfrozen_at = ?2, unfrozen_by = ?4, reason = ?5, "
		     "updated_at = ?2 WHERE contract_id = ?1",
	    &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, contract_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, tds_now_ms());
	sqlite3_bind_text(st, 3, report_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, by, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, reason, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "recording a freeze");
	sqlite3_finalize(st);
	return rc;
}

static int receive_tx(sqlite3 *db, void *p)
{
	report_ctx *x = p;
	const json_t *in = x->in;
	const char *id = tds_json_str(in, "id", ""), *cid = tds_json_str(in, "contract_id", "");
	int rc = stored_report(db, id, &x->out);
	if (rc || x->out) {
		if (x->out && strcmp(tds_json_str(x->out, "contract_id", ""), cid) != 0) {
			json_decref(x->out);
			x->out = NULL;
			return tds_error_set(TDS_ECONFLICT, "violation_id_taken", "violation id %s names another contract", id);
		}
		return rc; /* a resend: the stored record */
	}
	ct_row r;
	if ((rc = ct_row_load(db, NULL, cid, &r)))
		return rc;
	if (strcmp(r.provider, x->reporter_org) != 0)
		rc = tds_error_set(TDS_EPERM, "not_the_provider",
				   "only the provider's connectors report violations of contract %s", cid);
	else if (strcmp(tds_json_str(in, "provider_org", ""), r.provider) != 0 ||
		 strcmp(tds_json_str(in, "consumer_org", ""), r.consumer) != 0)
		rc = tds_error_set(TDS_EINVAL, "invalid_report", "provider_org and consumer_org must be the contract's parties");
	else if (tds_json_int(in, "version", 0) < 1 || tds_json_int(in, "version", 0) > r.version)
		rc = tds_error_set(TDS_EINVAL, "invalid_report", "version must be a version of the contract");
	ct_row_free(&r);
	if (rc)
		return rc;
	int64_t at;
	tds_time_parse(tds_json_str(in, "at", ""), &at);
	bool frozen = tds_json_bool(in, "frozen", false), serious = tds_json_bool(in, "serious", false);
	char *body = tds_json_dumps(in);
	sqlite3_stmt *st = NULL;
	rc = body ? tds_store_prepare(db,
				      "INSERT INTO contract_violation_reports (id, contract_id, version, provider_org, "
				      "consumer_org, reporter_node, code, clause, serious, frozen, count, body, at, received_at) "
				      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
				      &st)
		  : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if (!rc) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, cid, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, tds_json_int(in, "version", 0));
		sqlite3_bind_text(st, 4, tds_json_str(in, "provider_org", ""), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, tds_json_str(in, "consumer_org", ""), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, x->reporter_node, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, tds_json_str(in, "code", ""), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, tds_json_str(in, "clause", ""), -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 9, serious);
		sqlite3_bind_int(st, 10, frozen);
		sqlite3_bind_int64(st, 11, tds_json_int(in, "violations", 0));
		sqlite3_bind_text(st, 12, body, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 13, at);
		sqlite3_bind_int64(st, 14, tds_now_ms());
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "storing a violation report");
		sqlite3_finalize(st);
	}
	free(body);
	tds_ledger_actor actor = {.org = x->reporter_org, .node = x->reporter_node};
	if (!rc)
		rc = ct_evidence_tx(x->ct, db, "contract.violation_reported", &actor, cid, id,
				    json_pack("{s:s, s:s, s:s, s:b, s:b, s:I}", "consumer_org",
					      tds_json_str(in, "consumer_org", ""), "code", tds_json_str(in, "code", ""),
					      "clause", tds_json_str(in, "clause", ""), "serious", serious, "frozen", frozen,
					      "violations", (json_int_t)tds_json_int(in, "violations", 0)));
	bool already = false;
	if (!rc && frozen && !(rc = ct_frozen_on_operator(db, cid, &already)) && !already) {
		x->froze = true;
		json_t *fb = json_pack("{s:s, s:s}", "violation_id", id, "reason",
				       serious ? "a serious violation" : "the contract's violation limit was reached");
		rc = fb ? freeze_row_tx(db, cid, 1, id, NULL, tds_json_str(fb, "reason", "")) : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		if (!rc)
			rc = ct_feed_add_tx(x->ct, db, cid, "frozen", fb);
		if (!rc)
			rc = ct_evidence_tx(x->ct, db, "contract.frozen", &actor, cid, id, json_incref(fb));
		json_decref(fb);
	}
	if (!rc)
		rc = stored_report(db, id, &x->out);
	return rc;
}

int tds_contract_violation_receive(tds_contract *ct, const char *reporter_org, const char *reporter_node,
				   const json_t *report, json_t **out)
{
	static const tds_json_field F[] = {
	    {"id", TDS_JSON_STRING, true, TDS_ID_MAX},		{"contract_id", TDS_JSON_STRING, true, TDS_ID_MAX},
	    {"version", TDS_JSON_INTEGER, true, 0},		{"consumer_org", TDS_JSON_STRING, true, TDS_ID_MAX},
	    {"provider_org", TDS_JSON_STRING, true, TDS_ID_MAX},	{"account", TDS_JSON_STRING, false, TDS_ID_MAX},
	    {"connector", TDS_JSON_STRING, false, TDS_ID_MAX},	{"code", TDS_JSON_STRING, true, 64},
	    {"clause", TDS_JSON_STRING, true, 256},		{"reason", TDS_JSON_STRING, true, 512},
	    {"serious", TDS_JSON_BOOL, true, 0},		{"frozen", TDS_JSON_BOOL, true, 0},
	    {"violations", TDS_JSON_INTEGER, true, 0},		{"request", TDS_JSON_OBJECT, true, 0},
	    {"at", TDS_JSON_STRING, true, TDS_TIME_MAX},
	};
	*out = NULL;
	if (!ct->is_operator)
		return tds_error_set(TDS_ECONFLICT, "not_the_operator", "violation reports go to the operator");
	if (!reporter_org || !reporter_node)
		return tds_error_set(TDS_EPERM, "forbidden", "violation reports are signed calls of a provider's connector");
	int rc = tds_json_check(report, F, TDS_ARRAY_LEN(F), false);
	if (rc)
		return rc;
	int64_t at;
	const char *code = tds_json_str(report, "code", "");
	bool code_ok = *code != 0;
	for (const char *c = code; *c; c++)
		code_ok &= (*c >= 'a' && *c <= 'z') || *c == '_';
	if (!tds_id_valid(tds_json_str(report, "id", ""), "vio") || !tds_id_valid(tds_json_str(report, "contract_id", ""), "ctr") ||
	    !tds_id_valid(tds_json_str(report, "consumer_org", ""), "org") ||
	    !tds_id_valid(tds_json_str(report, "provider_org", ""), "org"))
		return tds_error_set(TDS_EINVAL, "invalid_report", "id (vio_…), contract_id (ctr_…) and the parties' org ids "
								   "must be well formed");
	if ((json_object_get(report, "account") && !tds_id_valid(tds_json_str(report, "account", ""), "acc")) ||
	    (json_object_get(report, "connector") && !tds_id_valid(tds_json_str(report, "connector", ""), "node")))
		return tds_error_set(TDS_EINVAL, "invalid_report", "account must be an account id, connector a node id");
	if (!code_ok)
		return tds_error_set(TDS_EINVAL, "invalid_report", "code must be a snake_case decision code");
	if (tds_time_parse(tds_json_str(report, "at", ""), &at) < 0)
		return tds_error_set(TDS_EINVAL, "invalid_report", "at must be an RFC 3339 time");
	if (tds_json_int(report, "violations", -1) < 0)
		return tds_error_set(TDS_EINVAL, "invalid_report", "violations must be a non-negative integer");
	report_ctx x = {.ct = ct, .reporter_org = reporter_org, .reporter_node = reporter_node, .in = report};
	rc = tds_store_tx(ct->store, receive_tx, &x);
	if (rc) {
		json_decref(x.out);
		return rc;
	}
	if (x.froze)
		tds_log_fields(TDS_LOG_WARN, "contract_frozen",
			       json_pack("{s:s, s:s}", "contract", tds_json_str(report, "contract_id", ""), "consumer",
					 tds_json_str(report, "consumer_org", "")));
	*out = x.out;
	return 0;
}

/* ---- listing ---- */

int tds_contract_violation_list(tds_contract *ct, const char *org, const char *contract_id, int limit,
				const char *cursor, json_t **out)
{
	*out = NULL;
	if (cursor && !tds_id_valid(cursor, "vio"))
		return tds_error_set(TDS_EINVAL, "invalid_cursor", "cursor must be a violation id from next_cursor");
	if (contract_id && !tds_id_valid(contract_id, "ctr"))
		return tds_error_set(TDS_EINVAL, "invalid_contract_id", "contract_id must be a contract id (ctr_…)");
	sqlite3 *db = tds_store_conn(ct->store);
	if (!db)
		return tds_error_code();
	char sql[512];
	if (ct->is_operator)
		snprintf(sql, sizeof sql,
			 "SELECT body, received_at, reporter_node, id FROM contract_violation_reports WHERE id > ?1 "
			 "AND (?2 IS NULL OR provider_org = ?2 OR consumer_org = ?2) AND (?3 IS NULL OR contract_id = ?3) "
			 "ORDER BY id LIMIT ?4");
	else
		snprintf(sql, sizeof sql,
			 "SELECT id, contract_id, version, org, account, connector, code, clause, reason, serious, froze, "
			 "count, request, at FROM enforce_violations WHERE id > ?1 AND (?2 IS NULL OR org = ?2 OR "
			 "contract_id IN (SELECT id FROM enforce_contracts WHERE provider_org = ?2)) AND (?3 IS NULL OR "
			 "contract_id = ?3) ORDER BY id LIMIT ?4");
	sqlite3_stmt *st = NULL;
	int rc = tds_store_prepare(db, sql, &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, cursor ? cursor : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, contract_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, limit + 1);
	json_t *items = json_array();
	int s, n = 0;
	char last[TDS_ID_MAX] = "";
	bool more = false;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == limit) {
			more = true;
			break;
		}
		json_t *o;
		if (ct->is_operator) {
			o = report_row(st);
			snprintf(last, sizeof last, "%s", (const char *)sqlite3_column_text(st, 3));
		} else {
			char at[TDS_TIME_MAX];
			tds_time_format(sqlite3_column_int64(st, 13), at);
			json_t *req = NULL;
			const char *rt = (const char *)sqlite3_column_text(st, 12);
			tds_json_parse(rt, strlen(rt), &req);
			o = json_pack("{s:s, s:s, s:I, s:s, s:s?, s:s?, s:s, s:s, s:s, s:b, s:b, s:I, s:o*, s:s}", "id",
				      sqlite3_column_text(st, 0), "contract_id", sqlite3_column_text(st, 1), "version",
				      (json_int_t)sqlite3_column_int64(st, 2), "consumer_org", sqlite3_column_text(st, 3),
				      "account", sqlite3_column_text(st, 4), "connector", sqlite3_column_text(st, 5), "code",
				      sqlite3_column_text(st, 6), "clause", sqlite3_column_text(st, 7), "reason",
				      sqlite3_column_text(st, 8), "serious", sqlite3_column_int(st, 9) != 0, "froze",
				      sqlite3_column_int(st, 10) != 0, "violations", (json_int_t)sqlite3_column_int64(st, 11),
				      "request", req, "at", at);
			snprintf(last, sizeof last, "%s", (const char *)sqlite3_column_text(st, 0));
		}
		if (!o) {
			rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
			break;
		}
		json_array_append_new(items, o);
		n++;
	}
	if (!rc && s != SQLITE_ROW && s != SQLITE_DONE)
		rc = tds_store_error(db, "listing violations");
	sqlite3_finalize(st);
	if (rc) {
		json_decref(items);
		return rc;
	}
	*out = json_pack("{s:o, s:s?}", "items", items, "next_cursor", more ? last : NULL);
	return *out ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
}

/* ---- unfreezing ---- */

typedef struct unfreeze_ctx {
	tds_contract *ct;
	const tds_contract_party *who;
	const char *id, *reason;
} unfreeze_ctx;

static int unfreeze_tx(sqlite3 *db, void *p)
{
	unfreeze_ctx *x = p;
	ct_row r;
	int rc = ct_row_load(db, NULL, x->id, &r);
	if (rc)
		return rc;
	ct_row_free(&r);
	bool frozen;
	if ((rc = ct_frozen_on_operator(db, x->id, &frozen)))
		return rc;
	if (!frozen)
		return tds_error_set(TDS_ECONFLICT, "not_frozen", "contract %s is not frozen", x->id);
	const char *by = x->who->account ? x->who->account : x->who->connector;
	if ((rc = freeze_row_tx(db, x->id, 0, NULL, by, x->reason)))
		return rc;
	json_t *body = json_pack("{s:s}", "reason", x->reason);
	rc = body ? ct_feed_add_tx(x->ct, db, x->id, "unfrozen", body) : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	json_decref(body);
	tds_ledger_actor actor = {.org = x->who->org, .account = x->who->account};
	if (!rc)
		rc = ct_evidence_tx(x->ct, db, "contract.unfrozen", &actor, x->id, NULL,
				    json_pack("{s:s}", "reason", x->reason));
	return rc;
}

int tds_contract_unfreeze(tds_contract *ct, const tds_contract_party *who, const char *contract_id,
			  const char *reason, json_t **out)
{
	*out = NULL;
	if (!ct->is_operator)
		return tds_error_set(TDS_ECONFLICT, "not_the_operator", "only the operator unfreezes a contract");
	if (!who || !who->oversight)
		return tds_error_set(TDS_EPERM, "forbidden", "unfreezing is a reviewed action of the operator");
	if (!reason || !*reason)
		return tds_error_set(TDS_EINVAL, "reason_required", "say why the contract is unfrozen (reason)");
	unfreeze_ctx x = {.ct = ct, .who = who, .id = contract_id, .reason = reason};
	int rc = tds_store_tx(ct->store, unfreeze_tx, &x);
	if (rc)
		return rc;
	char at[TDS_TIME_MAX];
	tds_time_format(tds_now_ms(), at);
	*out = json_pack("{s:s, s:b, s:s, s:s}", "contract_id", contract_id, "frozen", 0, "unfrozen_at", at, "reason", reason);
	return *out ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
}
