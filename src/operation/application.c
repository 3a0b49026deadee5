/*
 * application.c — authorization applications (授权申请, operation.h section 2): the strict shape of an
 * application, the deterministic minimum-necessary check (最小必要) that flags issues on every save,
 * drafts, updates, (re)submission, reads and lists.
 *
 * Not for reviews (review.c) nor the authorization list (authorization.c).
 */
#include "operation/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NEEDS 32
#define MAX_FIELDS 200
#define MAX_QUALS 16
#define MAX_PERIOD_MS (1096LL * OP_DAY_MS) /* 3 years */
#define MIN_MEASURE_CHARS 4

static const char *const SECURITY_MEASURES[] = {"transfer_encryption", "access_control", "masking", "logging",
						"destruction"};
static const char *const FREQUENCIES[] = {"once", "realtime", "daily", "weekly", "monthly", "quarterly", "yearly",
					  "on_demand"};
static const char *const VOLUME_UNITS[] = {"records", "calls", "files", "megabytes"};

/* Words in a field's name or label that make it sensitive (personal identifiers, contacts, accounts,
 * health, biometrics): such a field needs a justification of its own. Lower-case ASCII words match
 * the lower-cased name; the Chinese ones match anywhere in the name or label. */
static const char *const SENSITIVE_WORDS[] = {
    "id_no",  "id_card", "idcard",   "id_number", "identity", "passport", "mobile", "phone",  "email",
    "address", "bank_account", "card_no", "account_no", "birth", "health", "medical", "diagnos", "face",
    "fingerprint", "biometric", "身份证", "证件号", "护照", "手机", "电话", "邮箱", "住址", "地址",
    "银行卡", "账号", "出生", "健康", "病", "医疗", "诊断", "人脸", "指纹", "生物识别"};

/* Authorization types that say the item is not opened at all. */
static const char *const CLOSED_TYPES[] = {"不予开放", "禁止开放", "不开放", "禁止", "not_open", "closed"};

static bool one_of(const char *s, const char *const *set, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (!strcmp(s, set[i]))
			return true;
	return false;
}

static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		n += (*p & 0xc0) != 0x80;
	return n;
}

/* ---- shape (400s) and normalisation ---- */

static const tds_json_field APP_FIELDS[] = {
    {"scenario", TDS_JSON_OBJECT, true, 0},	{"purpose", TDS_JSON_STRING, true, 64},
    {"industry", TDS_JSON_STRING, true, 64},	{"ai_training", TDS_JSON_BOOL, false, 0},
    {"special_supervision", TDS_JSON_BOOL, false, 0}, {"qualifications", TDS_JSON_STRING_ARRAY, false, MAX_QUALS},
    {"needs", TDS_JSON_ARRAY, true, MAX_NEEDS}, {"security_plan", TDS_JSON_OBJECT, true, 0},
};

static int bad(const char *name, const char *fmt, ...) TDS_PRINTF(2, 3);
static int bad(const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = tds_error_setv(TDS_EINVAL, name, fmt, ap);
	va_end(ap);
	return rc;
}

static int check_need(const json_t *n, size_t i, json_t **out)
{
	static const tds_json_field nf[] = {{"entry", TDS_JSON_STRING, true, 256}, {"fields", TDS_JSON_ARRAY, true, MAX_FIELDS},
					    {"volume", TDS_JSON_OBJECT, true, 0},  {"frequency", TDS_JSON_STRING, true, 16},
					    {"period", TDS_JSON_OBJECT, true, 0}};
	static const tds_json_field vf[] = {{"amount", TDS_JSON_INTEGER, true, 0}, {"unit", TDS_JSON_STRING, true, 16}};
	static const tds_json_field pf[] = {{"from", TDS_JSON_STRING, true, TDS_TIME_MAX + 8},
					    {"to", TDS_JSON_STRING, true, TDS_TIME_MAX + 8}};
	static const tds_json_field ff[] = {{"name", TDS_JSON_STRING, true, 128},
					    {"justification", TDS_JSON_STRING, false, 2000}};
	*out = NULL;
	if (tds_json_check(n, nf, TDS_ARRAY_LEN(nf), false))
		return tds_error_wrap("needs[%zu]: ", i);
	if (!op_text_ok(tds_json_str(n, "entry", ""), 256, false))
		return bad("invalid_need", "needs[%zu].entry must name a catalog entry by id or code", i);
	const json_t *vol = json_object_get(n, "volume"), *per = json_object_get(n, "period");
	if (tds_json_check(vol, vf, TDS_ARRAY_LEN(vf), false))
		return tds_error_wrap("needs[%zu].volume: ", i);
	int64_t amount = tds_json_int(vol, "amount", 0);
	if (amount < 1 || amount > 1000000000000LL)
		return bad("invalid_need", "needs[%zu].volume.amount must be 1-10^12", i);
	if (!one_of(tds_json_str(vol, "unit", ""), VOLUME_UNITS, TDS_ARRAY_LEN(VOLUME_UNITS)))
		return bad("invalid_need", "needs[%zu].volume.unit must be records, calls, files or megabytes", i);
	if (!one_of(tds_json_str(n, "frequency", ""), FREQUENCIES, TDS_ARRAY_LEN(FREQUENCIES)))
		return bad("invalid_need",
			   "needs[%zu].frequency must be once, realtime, daily, weekly, monthly, quarterly, yearly or on_demand", i);
	int64_t from, to;
	if (tds_json_check(per, pf, TDS_ARRAY_LEN(pf), false))
		return tds_error_wrap("needs[%zu].period: ", i);
	if (tds_time_parse(tds_json_str(per, "from", ""), &from) || tds_time_parse(tds_json_str(per, "to", ""), &to))
		return bad("invalid_need", "needs[%zu].period.from and .to must be RFC 3339 times", i);
	char tf[TDS_TIME_MAX], tt[TDS_TIME_MAX];
	if (tds_time_format(from, tf) || tds_time_format(to, tt))
		return bad("invalid_need", "needs[%zu].period must lie within years 0001-9999", i);
	json_t *fields = json_array();
	size_t k;
	json_t *f;
	json_array_foreach(json_object_get(n, "fields"), k, f) {
		json_t *nf2 = NULL;
		if (json_is_string(f)) {
			nf2 = json_pack("{s:O}", "name", f);
		} else if (json_is_object(f)) {
			if (tds_json_check(f, ff, TDS_ARRAY_LEN(ff), false)) {
				json_decref(fields);
				return tds_error_wrap("needs[%zu].fields[%zu]: ", i, k);
			}
			const char *j = tds_json_str(f, "justification", NULL);
			if (j && !op_text_ok(j, 2000, true)) {
				json_decref(fields);
				return bad("invalid_need", "needs[%zu].fields[%zu].justification must be non-blank text", i, k);
			}
			nf2 = json_deep_copy(f);
		}
		if (!nf2 || !op_text_ok(tds_json_str(nf2, "name", ""), 128, false)) {
			json_decref(nf2);
			json_decref(fields);
			return bad("invalid_need", "needs[%zu].fields[%zu] must be a field name or {\"name\",\"justification\"}", i, k);
		}
		json_array_append_new(fields, nf2);
	}
	*out = json_pack("{s:O, s:o, s:{s:I, s:O}, s:O, s:{s:s, s:s}}", "entry", json_object_get(n, "entry"), "fields",
			 fields, "volume", "amount", (json_int_t)amount, "unit", json_object_get(vol, "unit"), "frequency",
			 json_object_get(n, "frequency"), "period", "from", tf, "to", tt);
	return *out ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
}

int op_application_normalise(const json_t *in, json_t **out)
{
	static const tds_json_field sf[] = {{"name", TDS_JSON_STRING, true, 200}, {"description", TDS_JSON_STRING, true, 8000}};
	*out = NULL;
	if (tds_json_check(in, APP_FIELDS, TDS_ARRAY_LEN(APP_FIELDS), false))
		return tds_error_code();
	const json_t *sc = json_object_get(in, "scenario"), *plan = json_object_get(in, "security_plan");
	if (tds_json_check(sc, sf, TDS_ARRAY_LEN(sf), false))
		return tds_error_wrap("scenario: ");
	if (!op_text_ok(tds_json_str(sc, "name", ""), 200, false) || !op_text_ok(tds_json_str(sc, "description", ""), 8000, true))
		return bad("invalid_scenario", "scenario.name and scenario.description must be non-blank text");
	if (!op_text_ok(tds_json_str(in, "purpose", ""), 64, false))
		return bad("invalid_purpose", "purpose must be non-blank text of at most 64 bytes (e.g. credit-risk)");
	if (!op_text_ok(tds_json_str(in, "industry", ""), 64, false))
		return bad("invalid_industry", "industry must be non-blank text of at most 64 bytes (e.g. finance)");
	size_t i, k;
	json_t *v, *w;
	json_array_foreach(json_object_get(in, "qualifications"), i, v) {
		if (!tds_id_valid(json_string_value(v), "qual"))
			return bad("invalid_qualifications", "qualifications[%zu] must be a qualification id (qual_…)", i);
		json_array_foreach(json_object_get(in, "qualifications"), k, w) {
			if (k < i && json_equal(v, w))
				return bad("invalid_qualifications", "qualifications[%zu] repeats %s", i, json_string_value(v));
		}
	}
	if (!json_array_size(json_object_get(in, "needs")))
		return bad("invalid_needs", "needs lists at least one catalog entry (one scenario, its data needs)");
	const char *key;
	json_object_foreach((json_t *)plan, key, v) {
		if (!one_of(key, SECURITY_MEASURES, TDS_ARRAY_LEN(SECURITY_MEASURES)))
			return bad("invalid_security_plan",
				   "security_plan.%s is not a measure: transfer_encryption, access_control, masking, logging, destruction",
				   key);
		if (!json_is_string(v) || strlen(json_string_value(v)) > 4000 ||
		    (strlen(json_string_value(v)) && !op_text_ok(json_string_value(v), 4000, true)))
			return bad("invalid_security_plan", "security_plan.%s must be text of at most 4000 bytes", key);
	}
	const json_t *q = json_object_get(in, "qualifications");
	json_t *r = json_pack("{s:{s:O, s:O}, s:O, s:O, s:b, s:b, s:o, s:[], s:O}", "scenario", "name",
			      json_object_get(sc, "name"), "description", json_object_get(sc, "description"), "purpose",
			      json_object_get(in, "purpose"), "industry", json_object_get(in, "industry"), "ai_training",
			      tds_json_bool(in, "ai_training", false), "special_supervision",
			      tds_json_bool(in, "special_supervision", false), "qualifications",
			      q ? json_incref((json_t *)q) : json_array(),
			      "needs", "security_plan", plan);
	if (!r)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	json_t *needs = json_object_get(r, "needs");
	json_array_foreach(json_object_get(in, "needs"), i, v) {
		json_t *n;
		int rc = check_need(v, i, &n);
		if (rc) {
			json_decref(r);
			return rc;
		}
		json_array_append_new(needs, n);
	}
	*out = r;
	return 0;
}

/* ---- the minimum-necessary check (pure) ---- */

static void issue(json_t *issues, const char *code, const char *reason, const char *path_fmt, ...) TDS_PRINTF(4, 5);
static void issue(json_t *issues, const char *code, const char *reason, const char *path_fmt, ...)
{
	char path[256];
	va_list ap;
	va_start(ap, path_fmt);
	vsnprintf(path, sizeof path, path_fmt, ap);
	va_end(ap);
	json_array_append_new(issues, json_pack("{s:s, s:s, s:s}", "code", code, "path", path, "reason", reason));
}

static bool contains_word(const char *hay, const char *word)
{
	if (!hay)
		return false;
	if ((unsigned char)word[0] >= 0x80)
		return strstr(hay, word) != NULL;
	char low[256];
	size_t n = 0;
	for (; hay[n] && n < sizeof low - 1; n++)
		low[n] = (char)(hay[n] >= 'A' && hay[n] <= 'Z' ? hay[n] + 32 : hay[n]);
	low[n] = 0;
	return strstr(low, word) != NULL;
}

static bool field_sensitive(const json_t *decl)
{
	const char *name = tds_json_str(decl, "name", NULL), *label = tds_json_str(decl, "label", NULL);
	for (size_t i = 0; i < TDS_ARRAY_LEN(SENSITIVE_WORDS); i++)
		if (contains_word(name, SENSITIVE_WORDS[i]) || contains_word(label, SENSITIVE_WORDS[i]))
			return true;
	return false;
}

static const json_t *declared_field(const json_t *entry, const char *name)
{
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(entry, "fields"), i, f) {
		if (!strcmp(tds_json_str(f, "name", ""), name))
			return f;
	}
	return NULL;
}

static void check_fields(const json_t *need, const json_t *entry, size_t i, json_t *issues)
{
	const json_t *fields = json_object_get(need, "fields");
	size_t declared = json_array_size(json_object_get(entry, "fields"));
	const char *grade = tds_json_str(entry, "grade", "");
	bool graded = !strcmp(grade, "重要") || !strcmp(grade, "核心");
	if (declared && !json_array_size(fields))
		issue(issues, "fields_missing",
		      "the entry declares its fields: name the ones the scenario needs (minimum necessary), not the whole entry",
		      "$.needs[%zu].fields", i);
	size_t k, m;
	json_t *f, *g;
	json_array_foreach(fields, k, f) {
		const char *name = tds_json_str(f, "name", "");
		bool repeated = false;
		json_array_foreach(fields, m, g) repeated |= m < k && !strcmp(tds_json_str(g, "name", ""), name);
		if (repeated) {
			issue(issues, "field_repeated", "the field is named twice", "$.needs[%zu].fields[%zu]", i, k);
			continue;
		}
		const json_t *decl = declared_field(entry, name);
		if (!decl) {
			issue(issues, "field_not_in_entry",
			      declared ? "the entry does not declare this field"
				       : "the entry declares no fields: it is applied for whole, with an empty field list",
			      "$.needs[%zu].fields[%zu]", i, k);
			continue;
		}
		if ((graded || field_sensitive(decl)) && !tds_json_str(f, "justification", NULL))
			issue(issues, "field_justification_missing",
			      graded ? "every field of an entry graded 重要 or 核心 needs a justification of its own"
				     : "a sensitive field (personal identifier, contact, account, health or biometric) needs a "
				       "justification of its own, or leave it out",
			      "$.needs[%zu].fields[%zu]", i, k);
	}
}

int tds_operation_check(const json_t *app, const json_t *entries, const char *applicant_org, const bool *qual_ok,
			int64_t now_ms, json_t **issues_out)
{
	*issues_out = NULL;
	json_t *issues = json_array();
	if (!issues)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	const json_t *quals = json_object_get(app, "qualifications");
	if (!json_array_size(quals))
		issue(issues, "qualification_missing", "name at least one approved qualification of the applicant",
		      "$.qualifications");
	for (size_t i = 0; i < json_array_size(quals); i++)
		if (!qual_ok[i])
			issue(issues, "qualification_invalid",
			      "not an approved, valid qualification of the applicant's organisation", "$.qualifications[%zu]", i);
	const json_t *plan = json_object_get(app, "security_plan");
	for (size_t i = 0; i < TDS_ARRAY_LEN(SECURITY_MEASURES); i++) {
		const char *m = tds_json_str(plan, SECURITY_MEASURES[i], "");
		if (utf8_chars(m) < MIN_MEASURE_CHARS)
			issue(issues, "security_measure_missing",
			      "every measure of the security plan is required (at least 4 characters saying what is done)",
			      "$.security_plan.%s", SECURITY_MEASURES[i]);
	}
	const char *purpose = tds_json_str(app, "purpose", "");
	size_t i, k;
	json_t *need, *other;
	json_array_foreach(json_object_get(app, "needs"), i, need) {
		const json_t *e = json_array_get(entries, i);
		if (!json_is_object(e)) {
			issue(issues, "entry_not_found", "no such entry in the fused catalog (or not published to the applicant)",
			      "$.needs[%zu].entry", i);
			continue;
		}
		bool repeated = false;
		json_array_foreach(json_object_get(app, "needs"), k, other) {
			const json_t *e2 = json_array_get(entries, k);
			repeated |= k < i && json_is_object(e2) &&
				    !strcmp(tds_json_str(e2, "id", ""), tds_json_str(e, "id", "-"));
		}
		const char *kind = tds_json_str(e, "kind", "");
		const char *atype = tds_json_str(e, "authorization_type", NULL);
		if (repeated)
			issue(issues, "need_repeated", "the entry is named by an earlier need: one need per entry",
			      "$.needs[%zu].entry", i);
		else if (tds_json_bool(e, "withdrawn", false))
			issue(issues, "entry_withdrawn", "the entry was withdrawn from the catalog", "$.needs[%zu].entry", i);
		else if (strcmp(kind, "product") && strcmp(kind, "public_item"))
			issue(issues, "entry_kind_refused", "only public-data items and products are applied for, not resources",
			      "$.needs[%zu].entry", i);
		else if (applicant_org && !strcmp(tds_json_str(e, "org_id", ""), applicant_org))
			issue(issues, "own_entry", "an organisation does not apply for its own data", "$.needs[%zu].entry", i);
		else if (one_of(atype, CLOSED_TYPES, TDS_ARRAY_LEN(CLOSED_TYPES)))
			issue(issues, "entry_not_authorizable", "the entry's authorization type says it is not opened",
			      "$.needs[%zu].entry", i);
		else {
			const json_t *sc = json_object_get(e, "scenarios");
			bool listed = !json_array_size(sc);
			json_array_foreach(sc, k, other) listed |= json_is_string(other) && !strcmp(json_string_value(other), purpose);
			if (!listed)
				issue(issues, "purpose_not_in_entry", "the entry declares scenarios and the purpose is not one of them",
				      "$.needs[%zu].entry", i);
			check_fields(need, e, i, issues);
		}
		int64_t from = 0, to = 0;
		const json_t *per = json_object_get(need, "period");
		tds_time_parse(tds_json_str(per, "from", ""), &from);
		tds_time_parse(tds_json_str(per, "to", ""), &to);
		if (to <= from)
			issue(issues, "period_empty", "period.to must be after period.from", "$.needs[%zu].period", i);
		else if (to - from > MAX_PERIOD_MS)
			issue(issues, "period_too_long", "a period lasts at most 3 years; apply again later", "$.needs[%zu].period", i);
		else if (to <= now_ms)
			issue(issues, "period_ended", "the period is already over", "$.needs[%zu].period", i);
	}
	*issues_out = issues;
	return 0;
}

/* ---- drafts, updates, submission ---- */

/* The entries of an application's needs as the applicant sees them (null: absent or hidden), and
 * its issues. */
static int evaluate(tds_operation *op, const tds_operation_caller *who, const json_t *app, json_t **entries,
		    json_t **issues)
{
	*entries = *issues = NULL;
	json_t *es = json_array();
	size_t i;
	json_t *need;
	tds_catalog_viewer v = {.org = who->org, .roles = who->roles};
	json_array_foreach(json_object_get(app, "needs"), i, need) {
		json_t *e = NULL;
		int rc = tds_catalog_entry_get(op->catalog, tds_json_str(need, "entry", ""), &e);
		if (rc == TDS_ENOTFOUND || (rc == TDS_ECONFLICT && !strcmp(tds_error_name(), "ambiguous_code"))) {
			rc = 0;
		} else if (rc) {
			json_decref(es);
			return rc;
		}
		if (e && !tds_catalog_entry_visible(e, &v)) {
			json_decref(e);
			e = NULL;
		}
		if (e)
			json_object_del(e, "popularity");
		json_array_append_new(es, e ? e : json_null());
	}
	const json_t *quals = json_object_get(app, "qualifications");
	bool qok[MAX_QUALS] = {0};
	for (i = 0; i < json_array_size(quals) && i < MAX_QUALS; i++) {
		int rc = op->qualified(op->qualified_ctx, who->org, json_string_value(json_array_get(quals, i)));
		if (rc && rc != TDS_ENOTFOUND) {
			json_decref(es);
			return rc;
		}
		qok[i] = rc == 0;
	}
	int rc = tds_operation_check(app, es, who->org, qok, tds_now_ms(), issues);
	if (rc)
		json_decref(es);
	else
		*entries = es;
	return rc;
}

static int applicant(const tds_operation_caller *who)
{
	if (!(who->roles & OP_APPLICANT_ROLES))
		return tds_error_set(TDS_EPERM, "wrong_role", "applications are made by a consumer or developer account");
	if (!who->org || !tds_id_valid(who->org, "org"))
		return tds_error_set(TDS_EPERM, "no_organisation", "applications are made by an organisation; this account has none");
	return 0;
}

typedef struct save_ctx {
	tds_operation *op;
	const tds_operation_caller *who;
	const char *id;
	json_t *body, *entries, *issues;
	bool create;
	const char *rectification, *note;
	int64_t now;
} save_ctx;

static int save_tx(sqlite3 *db, void *arg)
{
	save_ctx *x = arg;
	op_app a = {0};
	int rc = 0;
	if (!x->create) {
		if ((rc = op_app_load(db, x->id, &a)))
			return rc;
		if (strcmp(a.org, x->who->org)) {
			op_app_free(&a);
			return tds_error_set(TDS_ENOTFOUND, "application_not_found", "no such application");
		}
		if (strcmp(a.state, "draft") && strcmp(a.state, "rejected")) {
			rc = tds_error_set(TDS_ECONFLICT, "invalid_state", "cannot change an application that is %s", a.state);
			op_app_free(&a);
			return rc;
		}
		op_app_free(&a);
	}
	char *body = tds_json_dumps(x->body), *entries = tds_json_dumps(x->entries), *issues = tds_json_dumps(x->issues);
	bool reg = tds_json_bool(x->body, "ai_training", false) || tds_json_bool(x->body, "special_supervision", false);
	sqlite3_stmt *st = NULL;
	rc = body && entries && issues
		 ? tds_store_prepare(db, x->create ? "INSERT INTO op_applications (body, entries, issues, regulator_required,"
						     " updated_at, id, org_id, state, round, created_by, created_at)"
						     " VALUES (?1,?2,?3,?4,?5,?6,?7,'draft',0,?8,?5)"
						   : "UPDATE op_applications SET body = ?1, entries = ?2, issues = ?3,"
						     " regulator_required = ?4, updated_at = ?5 WHERE id = ?6",
				     &st)
		 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if (!rc) {
		sqlite3_bind_text(st, 1, body, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, entries, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, issues, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, reg);
		sqlite3_bind_int64(st, 5, x->now);
		sqlite3_bind_text(st, 6, x->id, -1, SQLITE_STATIC);
		if (x->create) {
			sqlite3_bind_text(st, 7, x->who->org, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 8, x->who->account, -1, SQLITE_STATIC);
		}
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "saving application");
	}
	sqlite3_finalize(st);
	free(body);
	free(entries);
	free(issues);
	if (!rc)
		rc = op_evidence_tx(x->op, db, x->create ? "operation.application_drafted" : "operation.application_updated",
				    x->who, x->id, NULL,
				    json_pack("{s:s, s:O, s:I, s:b}", "org_id", x->who->org, "purpose",
					      json_object_get(x->body, "purpose"), "issues", (json_int_t)json_array_size(x->issues),
					      "regulator_required", reg));
	return rc;
}

static int save(tds_operation *op, const tds_operation_caller *who, const char *id, const json_t *in, json_t **out)
{
	*out = NULL;
	int rc = applicant(who);
	if (rc)
		return rc;
	save_ctx x = {.op = op, .who = who, .create = id == NULL, .now = tds_now_ms()};
	char nid[TDS_ID_MAX];
	if (!id) {
		if ((rc = tds_id_new("apl", nid)))
			return rc;
		x.id = nid;
	} else if (!tds_id_valid(id, "apl")) {
		return tds_error_set(TDS_ENOTFOUND, "application_not_found", "no such application");
	} else {
		x.id = id;
	}
	if (!(rc = op_application_normalise(in, &x.body)) && !(rc = evaluate(op, who, x.body, &x.entries, &x.issues)))
		rc = tds_store_tx(op->store, save_tx, &x);
	json_decref(x.body);
	json_decref(x.entries);
	json_decref(x.issues);
	return rc ? rc : tds_operation_application_get(op, who, x.id, out);
}

int tds_operation_application_create(tds_operation *op, const tds_operation_caller *who, const json_t *in, json_t **out)
{
	return save(op, who, NULL, in, out);
}

int tds_operation_application_update(tds_operation *op, const tds_operation_caller *who, const char *id,
				     const json_t *in, json_t **out)
{
	return save(op, who, id, in, out);
}

static int submit_tx(sqlite3 *db, void *arg)
{
	save_ctx *x = arg;
	op_app a;
	int rc = op_app_load(db, x->id, &a);
	if (rc)
		return rc;
	if (strcmp(a.org, x->who->org)) {
		rc = tds_error_set(TDS_ENOTFOUND, "application_not_found", "no such application");
	} else if (strcmp(a.state, "draft") && strcmp(a.state, "rejected")) {
		rc = tds_error_set(TDS_ECONFLICT, "invalid_state", "cannot submit an application that is %s", a.state);
	} else if (!strcmp(a.state, "rejected") && !x->rectification) {
		rc = tds_error_set(TDS_EINVAL, "rectification_required",
				   "a rejected application is resubmitted with a rectification statement (整改说明): \"rectification\"");
	} else if (!strcmp(a.state, "draft") && x->rectification) {
		rc = tds_error_set(TDS_EINVAL, "invalid_field", "rectification is for resubmitting a rejected application");
	}
	if (rc) {
		op_app_free(&a);
		return rc;
	}
	bool resubmit = !strcmp(a.state, "rejected");
	int64_t round = a.round + 1;
	/* the check runs again: the catalog and qualifications may have changed since the draft */
	json_t *body = json_incref(a.body);
	op_app_free(&a);
	char *issues = tds_json_dumps(x->issues), *entries = tds_json_dumps(x->entries);
	sqlite3_stmt *st = NULL;
	rc = issues && entries ? tds_store_prepare(db, "UPDATE op_applications SET state = 'submitted', round = ?, issues = ?,"
						     " entries = ?, due_at = ?, submitted_at = ?, updated_at = ?, reminded_due = NULL"
						     " WHERE id = ?", &st)
			       : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if (!rc) {
		sqlite3_bind_int64(st, 1, round);
		sqlite3_bind_text(st, 2, issues, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, entries, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, x->now + x->op->initial_ms);
		sqlite3_bind_int64(st, 5, x->now);
		sqlite3_bind_int64(st, 6, x->now);
		sqlite3_bind_text(st, 7, x->id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "submitting application");
	}
	sqlite3_finalize(st);
	free(issues);
	free(entries);
	if (!rc)
		rc = op_step_add_tx(db, x->id, round, resubmit ? "resubmit" : "submit", "submitted", x->who, "applicant", NULL,
				    resubmit ? x->rectification : x->note, NULL, x->now);
	if (!rc)
		rc = op_evidence_tx(x->op, db, resubmit ? "operation.application_resubmitted" : "operation.application_submitted",
				    x->who, x->id, NULL,
				    json_pack("{s:s, s:I, s:O, s:s?}", "org_id", x->who->org, "round", (json_int_t)round, "needs",
					      json_object_get(body, "needs"), "rectification", x->rectification));
	json_decref(body);
	return rc;
}

int tds_operation_application_submit(tds_operation *op, const tds_operation_caller *who, const char *id,
				     const json_t *in, json_t **out)
{
	static const tds_json_field f[] = {{"rectification", TDS_JSON_STRING, false, 8000}, {"note", TDS_JSON_STRING, false, 2000}};
	*out = NULL;
	int rc = applicant(who);
	if (rc || (rc = tds_json_check(in, f, TDS_ARRAY_LEN(f), false)))
		return rc;
	save_ctx x = {.op = op, .who = who, .id = id, .now = tds_now_ms(),
		      .rectification = tds_json_str(in, "rectification", NULL), .note = tds_json_str(in, "note", NULL)};
	if ((x.rectification && !op_text_ok(x.rectification, 8000, true)) || (x.note && !op_text_ok(x.note, 2000, true)))
		return tds_error_set(TDS_EINVAL, "invalid_field", "rectification and note must be non-blank text");
	sqlite3 *db = tds_store_conn(op->store);
	op_app a;
	if (!db)
		return tds_error_code();
	if ((rc = op_app_load(db, id, &a)))
		return rc;
	if (strcmp(a.org, who->org)) {
		op_app_free(&a);
		return tds_error_set(TDS_ENOTFOUND, "application_not_found", "no such application");
	}
	rc = evaluate(op, who, a.body, &x.entries, &x.issues);
	op_app_free(&a);
	if (!rc && json_array_size(x.issues)) {
		rc = tds_error_set(TDS_EUNPROC, "application_has_issues",
				   "the application has %zu issue%s (minimum-necessary check): fix them and submit again",
				   json_array_size(x.issues), json_array_size(x.issues) == 1 ? "" : "s");
		tds_error_set_details(json_pack("{s:O}", "issues", x.issues));
	}
	if (!rc)
		rc = tds_store_tx(op->store, submit_tx, &x);
	json_decref(x.entries);
	json_decref(x.issues);
	return rc ? rc : tds_operation_application_get(op, who, id, out);
}

/* ---- reads ---- */

#define ACOLS                                                                                                      \
	"id, org_id, state, round, regulator_required, body, entries, issues, ifnull(due_at, 0), authorization_id,"     \
	" created_by, created_at, updated_at, ifnull(submitted_at, 0)"

static json_t *app_json(sqlite3_stmt *st, bool full, int64_t now)
{
	json_t *body = op_col_json(st, 5);
	if (!json_is_object(body)) {
		json_decref(body);
		body = json_object();
	}
	int64_t due = sqlite3_column_int64(st, 8);
	json_object_set_new(body, "id", op_col_str(st, 0));
	json_object_set_new(body, "org_id", op_col_str(st, 1));
	json_object_set_new(body, "state", op_col_str(st, 2));
	json_object_set_new(body, "round", json_integer(sqlite3_column_int64(st, 3)));
	json_object_set_new(body, "regulator_required", json_boolean(sqlite3_column_int(st, 4)));
	if (full)
		json_object_set_new(body, "entries", op_col_json(st, 6));
	json_object_set_new(body, "issues", op_col_json(st, 7));
	json_object_set_new(body, "due_at", op_time_json(due));
	json_object_set_new(body, "overdue", json_boolean(due > 0 && due < now));
	json_object_set_new(body, "authorization_id", op_col_str(st, 9));
	json_object_set_new(body, "created_by", op_col_str(st, 10));
	json_object_set_new(body, "created_at", op_time_json(sqlite3_column_int64(st, 11)));
	json_object_set_new(body, "updated_at", op_time_json(sqlite3_column_int64(st, 12)));
	json_object_set_new(body, "submitted_at", op_time_json(sqlite3_column_int64(st, 13)));
	if (!full) {
		json_object_del(body, "needs");
		json_object_del(body, "security_plan");
		json_object_set_new(body, "issue_count", json_integer((json_int_t)json_array_size(json_object_get(body, "issues"))));
		json_object_del(body, "issues");
	}
	return body;
}

int tds_operation_application_get(tds_operation *op, const tds_operation_caller *who, const char *id, json_t **out)
{
	*out = NULL;
	if (!tds_id_valid(id, "apl"))
		return tds_error_set(TDS_ENOTFOUND, "application_not_found", "no such application");
	const char *org = op_reads_all(who) ? NULL : who->org;
	if (!op_reads_all(who) && !org)
		return tds_error_set(TDS_ENOTFOUND, "application_not_found", "no such application");
	sqlite3 *db = tds_store_conn(op->store);
	if (!db)
		return tds_error_code();
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT " ACOLS " FROM op_applications WHERE id = ?1 AND (?2 IS NULL OR org_id = ?2)", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, org, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	json_t *a = NULL, *steps = NULL;
	if (s == SQLITE_ROW)
		a = app_json(st, true, tds_now_ms());
	else
		rc = s == SQLITE_DONE ? tds_error_set(TDS_ENOTFOUND, "application_not_found", "no such application")
				      : tds_store_error(db, "reading application");
	sqlite3_finalize(st);
	if (!rc && !(rc = op_steps_json(db, id, &steps)))
		json_object_set_new(a, "steps", steps);
	if (rc)
		json_decref(a);
	else
		*out = a;
	return rc;
}

static const char *const STATES[] = {"draft", "submitted", "initial_review", "final_review", "approved", "rejected"};

int tds_operation_application_list(tds_operation *op, const tds_operation_caller *who, const char *state, int limit,
				   const char *cursor, json_t **out)
{
	*out = NULL;
	if (state && !one_of(state, STATES, TDS_ARRAY_LEN(STATES)))
		return tds_error_set(TDS_EINVAL, "invalid_query",
				     "state must be draft, submitted, initial_review, final_review, approved or rejected");
	if (cursor && !tds_id_valid(cursor, "apl"))
		return tds_error_set(TDS_EINVAL, "invalid_cursor", "cursor must be an application id from next_cursor");
	const char *org = op_reads_all(who) ? NULL : who->org;
	if (!op_reads_all(who) && !org)
		return tds_error_set(TDS_EPERM, "no_organisation", "applications belong to organisations; this account has none");
	if (limit < 1 || limit > 100)
		limit = 20;
	sqlite3 *db = tds_store_conn(op->store);
	if (!db)
		return tds_error_code();
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT " ACOLS " FROM op_applications WHERE (?1 IS NULL OR org_id = ?1)"
				       " AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR id > ?3) ORDER BY id LIMIT ?4", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, cursor, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, limit + 1);
	json_t *items = json_array();
	int n = 0, s;
	int64_t now = tds_now_ms();
	while ((s = sqlite3_step(st)) == SQLITE_ROW && n < limit) {
		json_array_append_new(items, app_json(st, false, now));
		n++;
	}
	bool more = s == SQLITE_ROW;
	if (s != SQLITE_ROW && s != SQLITE_DONE)
		rc = tds_store_error(db, "listing applications");
	sqlite3_finalize(st);
	if (rc) {
		json_decref(items);
		return rc;
	}
	json_t *last = json_array_get(items, json_array_size(items) - 1);
	*out = json_pack("{s:o, s:O?}", "items", items, "next_cursor", more && last ? json_object_get(last, "id") : NULL);
	return *out ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
}
