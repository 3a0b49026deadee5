/*
 * template.c — contract templates (合约模板, contract.h section 2): one template per product form
 * (api, dataset, file, compute), versioned. A version holds the four mandatory clauses and the
 * policy defaults every draft of that form starts from; versions are immutable (a change is a new
 * version), and a contract names the template version it was drafted from. Migration 1 (contract.c)
 * seeds version 1 of each form. Also the table of actions each product form allows.
 *
 * Not for drafting (order.c) nor for the checks of a contract (negotiate.c).
 */
#include "contract/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEMPLATE_NAME_MAX 128
#define CLAUSE_MAX 8000

static const struct {
	const char *form;
	const char *actions[5];
} FORMS[] = {
    {"api", {"read", "query", NULL}},
    {"dataset", {"read", "query", "download", "derive", NULL}},
    {"file", {"read", "download", NULL}},
    {"compute", {"compute", "derive", NULL}},
};

static const char *const CLAUSES[] = {"data_use_rules", "security_duties", "performance_supervision", "breach_handling"};

bool ct_form_valid(const char *form)
{
	for (size_t i = 0; form && i < TDS_ARRAY_LEN(FORMS); i++)
		if (!strcmp(form, FORMS[i].form))
			return true;
	return false;
}

bool ct_form_allows(const char *form, const char *action)
{
	for (size_t i = 0; form && action && i < TDS_ARRAY_LEN(FORMS); i++)
		if (!strcmp(form, FORMS[i].form))
			for (size_t k = 0; FORMS[i].actions[k]; k++)
				if (!strcmp(action, FORMS[i].actions[k]))
					return true;
	return false;
}

static json_t *col_json(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	json_t *j = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
	return j ? j : json_null();
}

static json_t *col_str(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return s ? json_string(s) : json_null();
}

#define TCOLS "id, version, form, name, clauses, policy_defaults, created_by, created_at"

static json_t *row_json(sqlite3_stmt *st)
{
	json_t *o = json_pack("{s:o, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "id", col_str(st, 0), "version",
			      (json_int_t)sqlite3_column_int64(st, 1), "form", col_str(st, 2), "name", col_str(st, 3), "clauses",
			      col_json(st, 4), "policy_defaults", col_json(st, 5), "created_by", col_str(st, 6), "created_at",
			      ct_time_json(sqlite3_column_int64(st, 7)));
	if (o) {
		json_t *actions = json_array();
		for (size_t i = 0; i < TDS_ARRAY_LEN(FORMS); i++)
			if (!strcmp(json_string_value(json_object_get(o, "form")), FORMS[i].form))
				for (size_t k = 0; FORMS[i].actions[k]; k++)
					json_array_append_new(actions, json_string(FORMS[i].actions[k]));
		json_object_set_new(o, "allowed_actions", actions);
	}
	return o;
}

int ct_template_get_tx(sqlite3 *db, const char *id, const char *form, int64_t version, json_t **out)
{
	*out = NULL;
	if (id && !tds_id_valid(id, "tpl"))
		return tds_error_set(TDS_ENOTFOUND, "template_not_found", "no such template");
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT " TCOLS " FROM contract_templates WHERE (?1 IS NULL OR id = ?1)"
				       " AND (?2 IS NULL OR form = ?2) AND (?3 = 0 OR version = ?3) ORDER BY version DESC LIMIT 1",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, form, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, version);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		rc = (*out = row_json(st)) ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	else if (s == SQLITE_DONE)
		rc = tds_error_set(TDS_ENOTFOUND, "template_not_found", version ? "no such template version" : "no such template");
	else
		rc = tds_store_error(db, "reading template");
	sqlite3_finalize(st);
	return rc;
}

int tds_contract_template_get(tds_contract *ct, const char *id, int64_t version, json_t **out)
{
	*out = NULL;
	if (version < 0)
		return tds_error_set(TDS_EINVAL, "invalid_version", "version must be >= 1");
	sqlite3 *db = tds_store_conn(ct->store);
	if (!db)
		return tds_error_code();
	if (!id || !tds_id_valid(id, "tpl"))
		return tds_error_set(TDS_ENOTFOUND, "template_not_found", "no such template");
	return ct_template_get_tx(db, id, NULL, version, out);
}

int tds_contract_template_list(tds_contract *ct, json_t **out)
{
	*out = NULL;
	sqlite3 *db = tds_store_conn(ct->store);
	if (!db)
		return tds_error_code();
	json_t *items = json_array();
	for (size_t i = 0; i < TDS_ARRAY_LEN(FORMS); i++) {
		json_t *t;
		int rc = ct_template_get_tx(db, NULL, FORMS[i].form, 0, &t);
		if (rc == TDS_ENOTFOUND)
			continue;
		if (rc) {
			json_decref(items);
			return rc;
		}
		json_array_append_new(items, t);
	}
	*out = json_pack("{s:o}", "items", items);
	return *out ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
}

/* Text of a clause or name: valid UTF-8, no control characters but newline and tab, not blank. */
static bool text_ok(const char *s)
{
	bool blank = true;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
			return false;
		blank &= *p == ' ' || *p == '\n' || *p == '\t';
	}
	return !blank && tds_utf8_valid(s, strlen(s));
}

/* Checks policy defaults: {"obligations":[duty…],"prohibitions":[rule…],"violation_policy":
 * {"freeze_after":N},"max_validity_days":D}; the duties and rules must compile. */
static int check_defaults(const json_t *d)
{
	static const tds_json_field f[] = {
	    {"obligations", TDS_JSON_ARRAY, false, TDS_POLICY_MAX_DUTIES},
	    {"prohibitions", TDS_JSON_ARRAY, false, TDS_POLICY_MAX_RULES},
	    {"violation_policy", TDS_JSON_OBJECT, true, 0},
	    {"max_validity_days", TDS_JSON_INTEGER, true, 0},
	};
	static const tds_json_field vf[] = {{"freeze_after", TDS_JSON_INTEGER, true, 0}};
	int rc = tds_json_check(d, f, TDS_ARRAY_LEN(f), false);
	if (rc)
		return tds_error_wrap("policy_defaults: ");
	if ((rc = tds_json_check(json_object_get(d, "violation_policy"), vf, TDS_ARRAY_LEN(vf), false)))
		return tds_error_wrap("policy_defaults.violation_policy: ");
	json_int_t fa = json_integer_value(json_object_get(json_object_get(d, "violation_policy"), "freeze_after"));
	json_int_t days = json_integer_value(json_object_get(d, "max_validity_days"));
	if (fa < 1 || fa > 100)
		return tds_error_set(TDS_EINVAL, "invalid_policy_defaults", "policy_defaults.violation_policy.freeze_after must be 1-100");
	if (days < 1 || days > 3660)
		return tds_error_set(TDS_EINVAL, "invalid_policy_defaults", "policy_defaults.max_validity_days must be 1-3660");
	json_t *probe = json_pack("{s:s, s:[{s:s}]}", "uid", "template-check", "permission", "action", "read");
	if (!probe)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	json_t *o = json_object_get(d, "obligations"), *p = json_object_get(d, "prohibitions");
	if (o && json_array_size(o))
		json_object_set(probe, "obligation", o);
	if (p && json_array_size(p))
		json_object_set(probe, "prohibition", p);
	tds_policy *pol = NULL;
	rc = tds_policy_compile_json(probe, &pol);
	tds_policy_free(pol);
	json_decref(probe);
	if (rc) {
		char msg[400];
		snprintf(msg, sizeof msg, "%s", tds_error_message());
		return tds_error_set(TDS_EINVAL, "invalid_policy_defaults",
				     "policy_defaults: the obligations and prohibitions must compile as policy parts: %s", msg);
	}
	return 0;
}

typedef struct tpl_ctx {
	tds_contract *ct;
	const tds_ledger_actor *actor;
	const json_t *in;
	char id[TDS_ID_MAX];
	int64_t version;
} tpl_ctx;

static int create_tx(sqlite3 *db, void *arg)
{
	tpl_ctx *x = arg;
	const char *form = tds_json_str(x->in, "form", "");
	json_t *cur = NULL;
	int rc = ct_template_get_tx(db, NULL, form, 0, &cur);
	if (rc == TDS_ENOTFOUND) {
		rc = tds_id_new("tpl", x->id);
		x->version = 1;
	} else if (!rc) {
		snprintf(x->id, sizeof x->id, "%s", tds_json_str(cur, "id", ""));
		x->version = json_integer_value(json_object_get(cur, "version")) + 1;
	}
	json_decref(cur);
	if (rc)
		return rc;
	char *clauses = tds_json_dumps(json_object_get(x->in, "clauses"));
	char *defaults = tds_json_dumps(json_object_get(x->in, "policy_defaults"));
	sqlite3_stmt *st = NULL;
	if (!clauses || !defaults)
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	else if (!(rc = tds_store_prepare(db, "INSERT INTO contract_templates (" TCOLS ") VALUES (?,?,?,?,?,?,?,?)", &st))) {
		sqlite3_bind_text(st, 1, x->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, x->version);
		sqlite3_bind_text(st, 3, form, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, tds_json_str(x->in, "name", ""), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, clauses, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, defaults, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, x->actor ? x->actor->account : NULL, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 8, tds_now_ms());
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "inserting template");
	}
	sqlite3_finalize(st);
	free(clauses);
	free(defaults);
	if (!rc)
		rc = ct_evidence_tx(x->ct, db, "contract.template_created", x->actor, x->id, NULL,
				    json_pack("{s:s, s:I, s:s}", "form", form, "version", (json_int_t)x->version, "name",
					      tds_json_str(x->in, "name", "")));
	return rc;
}

int tds_contract_template_create(tds_contract *ct, const tds_ledger_actor *actor, const json_t *in, json_t **out)
{
	static const tds_json_field f[] = {
	    {"form", TDS_JSON_STRING, true, 16},
	    {"name", TDS_JSON_STRING, true, TEMPLATE_NAME_MAX},
	    {"clauses", TDS_JSON_OBJECT, true, 0},
	    {"policy_defaults", TDS_JSON_OBJECT, true, 0},
	};
	static const tds_json_field cf[] = {
	    {"data_use_rules", TDS_JSON_STRING, true, CLAUSE_MAX},
	    {"security_duties", TDS_JSON_STRING, true, CLAUSE_MAX},
	    {"performance_supervision", TDS_JSON_STRING, true, CLAUSE_MAX},
	    {"breach_handling", TDS_JSON_STRING, true, CLAUSE_MAX},
	};
	*out = NULL;
	int rc = tds_json_check(in, f, TDS_ARRAY_LEN(f), false);
	if (rc)
		return rc;
	if (!ct_form_valid(tds_json_str(in, "form", "")))
		return tds_error_set(TDS_EINVAL, "invalid_form", "form must be api, dataset, file or compute");
	if (!text_ok(tds_json_str(in, "name", "")))
		return tds_error_set(TDS_EINVAL, "invalid_name", "name must be 1-%d bytes of text", TEMPLATE_NAME_MAX);
	const json_t *clauses = json_object_get(in, "clauses");
	if ((rc = tds_json_check(clauses, cf, TDS_ARRAY_LEN(cf), false)))
		return tds_error_wrap("clauses: ");
	for (size_t i = 0; i < TDS_ARRAY_LEN(CLAUSES); i++)
		if (!text_ok(tds_json_str(clauses, CLAUSES[i], "")))
			return tds_error_set(TDS_EINVAL, "invalid_clause", "clauses.%s must be text, not blank", CLAUSES[i]);
	if ((rc = check_defaults(json_object_get(in, "policy_defaults"))))
		return rc;
	tpl_ctx x = {.ct = ct, .actor = actor, .in = in};
	if ((rc = tds_store_tx(ct->store, create_tx, &x)))
		return rc;
	return tds_contract_template_get(ct, x.id, x.version, out);
}
