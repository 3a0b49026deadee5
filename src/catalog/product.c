/*
 * product.c — data products (数据产品, catalog.h section 9): API, dataset and file products built
 * on an approved resource, immutable versions with their content hash, review (审核) by an operator
 * outside the product's organisation, the product code (产品标识) on the first approval, listing
 * (上架) in the fused catalog through the outbox, delisting (下架), updates that wait for review
 * while the listed version stays listed, and forced removal. Every change and its evidence entry
 * commit in one transaction.
 *
 * Not for HTTP (routes.c), the SQL validator (sqlcheck.c), the code's check character (rescode.c)
 * or sending outbox entries (fused.c).
 *
 * Invariants:
 *   - a version's content, content_hash and file_name never change once written (a trigger refuses
 *     it); its status moves once, pending_review → approved | rejected;
 *   - at most one version of a product is pending_review, and it is the latest;
 *   - approved_version is the highest approved version; a listed product is offered to the fused
 *     catalog at approved_version, and every change of what is offered (listing, a newly approved
 *     version while listed, delisting, removal while listed) writes an outbox entry in the same
 *     transaction, whose "version" is the product's catalog revision (one above the last entry);
 *   - a file product's bytes are DIR/data/<file_name> (0600), named by the version that uploaded
 *     them; later versions without a new upload refer to the same file; files no version names are
 *     removed when the catalog opens (source.c's cleanup).
 *
 * States of a product:
 *   pending_review → approved (approval) | rejected (rejection, no version ever approved)
 *   rejected → pending_review (update)
 *   approved | delisted → listed (list) → delisted (delist)
 *   approved | listed | delisted: update adds a pending version, the state is kept until review
 *   any but removed → removed (operator)
 */
#include "catalog/internal.h"

#include "anon/anon.h"
#include "http/http.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PRD_NAME_MAX 128
#define PRD_TAGS_MAX 32
#define PRD_TAG_MAX 32
#define PRD_SCENARIOS_MAX 16
#define PRD_SCENARIO_MAX 200
#define PRD_PARAMS_MAX 32
#define PRD_FILTERS_MAX 32
#define PRD_FIELDS_MAX 1000
#define PRD_WIZARD_LIMIT_DEFAULT 1000
#define PRD_WIZARD_LIMIT_MAX 100000

static const char MIGRATION_SQL[] =
    "CREATE TABLE products ("
    "  id TEXT PRIMARY KEY, org_id TEXT, resource_id TEXT NOT NULL,"
    "  form TEXT NOT NULL CHECK (form IN ('api','dataset','file')), name TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('pending_review','rejected','approved','listed','delisted','removed')),"
    "  latest_version INTEGER NOT NULL, approved_version INTEGER, serial INTEGER UNIQUE, code TEXT UNIQUE,"
    "  scope TEXT, note TEXT, listed_at INTEGER, created_by TEXT,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) STRICT;"
    "CREATE INDEX products_org ON products(org_id, id);"
    "CREATE TABLE product_versions ("
    "  product_id TEXT NOT NULL REFERENCES products(id), version INTEGER NOT NULL CHECK (version >= 1),"
    "  status TEXT NOT NULL CHECK (status IN ('pending_review','approved','rejected')),"
    "  content TEXT NOT NULL, content_hash TEXT NOT NULL, hash_alg TEXT NOT NULL, file_name TEXT,"
    "  created_by TEXT, created_at INTEGER NOT NULL, reviewed_at INTEGER,"
    "  PRIMARY KEY (product_id, version)) STRICT;"
    "CREATE INDEX product_versions_file ON product_versions(file_name) WHERE file_name IS NOT NULL;"
    "CREATE TRIGGER product_versions_immutable BEFORE UPDATE OF product_id, version, content, content_hash,"
    "  hash_alg, file_name, created_by, created_at ON product_versions"
    "  BEGIN SELECT RAISE(ABORT, 'product versions are immutable'); END;"
    "CREATE TRIGGER product_versions_kept BEFORE DELETE ON product_versions"
    "  BEGIN SELECT RAISE(ABORT, 'product versions are kept'); END;"
    "CREATE TABLE product_reviews ("
    "  id TEXT PRIMARY KEY, product_id TEXT NOT NULL REFERENCES products(id), version INTEGER NOT NULL,"
    "  reviewer TEXT, reviewer_org TEXT, decision TEXT NOT NULL CHECK (decision IN ('approve','reject')),"
    "  reasons TEXT NOT NULL, created_at INTEGER NOT NULL) STRICT;"
    "CREATE INDEX product_reviews_prd ON product_reviews(product_id, version);";

const char *cat_product_migration(void) { return MIGRATION_SQL; }

/* ---- small helpers ---- */

static bool printable(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return tds_utf8_valid(s, strlen(s));
}

static json_t *time_json(int64_t ms)
{
	char t[TDS_TIME_MAX];
	return ms <= 0 || tds_time_format(ms, t) ? json_null() : json_string(t);
}

static json_t *col_str(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return s ? json_string(s) : json_null();
}

static json_t *col_json(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	json_t *j = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
	return j ? j : json_null();
}

static json_t *col_int(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? json_null() : json_integer(sqlite3_column_int64(st, i));
}

static void cpy(char *dst, size_t cap, sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	snprintf(dst, cap, "%s", s ? s : "");
}

#define NOMEM() tds_error_set(TDS_ENOMEM, NULL, "out of memory")

/* Sets the error again with a prefix naming where it is ("spec.fields[2]: …"), keeping its code
 * and, unless `name` is given, its name. */
static int restate(const char *name, const char *fmt, ...) TDS_PRINTF(2, 3);
static int restate(const char *name, const char *fmt, ...)
{
	char msg[600], pre[200], nm[64];
	snprintf(msg, sizeof msg, "%s", tds_error_message());
	snprintf(nm, sizeof nm, "%s", name ? name : tds_error_name());
	int code = tds_error_code();
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof pre, fmt, ap);
	va_end(ap);
	return tds_error_set(code ? code : TDS_EINVAL, nm, "%s: %s", pre, msg);
}

/* Sets `key` on o to v (stolen); ENOMEM when either fails. */
static int set_new(json_t *o, const char *key, json_t *v)
{
	return v && json_object_set_new(o, key, v) == 0 ? 0 : NOMEM();
}

/* Evidence in the caller's transaction; subjects: the product, its code (if any), its resource. */
static int evidence(tds_catalog *c, sqlite3 *db, const char *type, const tds_ledger_actor *actor, const char *id,
		    const char *code, const char *resource, json_t *payload)
{
	if (!payload)
		return NOMEM();
	if (!c->ledger) {
		json_decref(payload);
		return tds_error_set(TDS_EINTERNAL, "no_ledger", "the catalog was opened without a ledger: changes need evidence");
	}
	tds_ledger_actor a = actor ? *actor : (tds_ledger_actor){0};
	if (!a.node && c->node_id[0])
		a.node = c->node_id;
	const char *subjects[3];
	size_t n = 0;
	subjects[n++] = id;
	if (code && *code)
		subjects[n++] = code;
	if (resource && *resource)
		subjects[n++] = resource;
	tds_ledger_entry_in e = {.type = type, .actor = a, .subjects = subjects, .nsubjects = n, .payload = payload};
	uint64_t idx;
	int rc = tds_ledger_append_tx(c->ledger, db, &e, &idx);
	json_decref(payload);
	return rc;
}

/* ---- common members ---- */

/* GB/T 4754-2017 sections and the divisions (two digits) each holds. */
static const struct {
	char section;
	int lo, hi;
} INDUSTRY[] = {{'A', 1, 5},   {'B', 6, 12},  {'C', 13, 43}, {'D', 44, 46}, {'E', 47, 50}, {'F', 51, 52}, {'G', 53, 60},
		{'H', 61, 62}, {'I', 63, 65}, {'J', 66, 69}, {'K', 70, 70}, {'L', 71, 72}, {'M', 73, 75}, {'N', 76, 79},
		{'O', 80, 82}, {'P', 83, 83}, {'Q', 84, 85}, {'R', 86, 90}, {'S', 91, 96}, {'T', 97, 97}};

static int check_industry(const char *s)
{
	size_t n = strlen(s);
	size_t k = 0;
	while (k < TDS_ARRAY_LEN(INDUSTRY) && INDUSTRY[k].section != s[0])
		k++;
	if (k == TDS_ARRAY_LEN(INDUSTRY) || !(n == 1 || n == 3 || n == 4 || n == 5) || strspn(s + 1, "0123456789") != n - 1)
		return tds_error_set(TDS_EINVAL, "invalid_industry",
				     "industry must be a GB/T 4754-2017 code: a section letter A-T, optionally followed by its "
				     "2-digit division and up to 2 more digits (e.g. I, I65, I6510)");
	if (n >= 3) {
		int div = (s[1] - '0') * 10 + (s[2] - '0');
		if (div < INDUSTRY[k].lo || div > INDUSTRY[k].hi)
			return tds_error_set(TDS_EINVAL, "invalid_industry",
					     "industry %c%c%c: division %02d is not in section %c (its divisions are %02d-%02d)", s[0],
					     s[1], s[2], div, s[0], INDUSTRY[k].lo, INDUSTRY[k].hi);
	}
	return 0;
}

static int check_strings(const json_t *arr, const char *what, size_t max_len)
{
	size_t i;
	json_t *t;
	json_array_foreach(arr, i, t) {
		const char *s = json_string_value(t);
		if (!*s || strlen(s) > max_len || !printable(s))
			return tds_error_set(TDS_EINVAL, "invalid_field", "%s[%zu] must be 1-%zu bytes of text without control characters",
					     what, i, max_len);
		for (size_t k = 0; k < i; k++)
			if (!strcmp(s, json_string_value(json_array_get(arr, k))))
				return tds_error_set(TDS_EINVAL, "invalid_field", "%s[%zu] repeats %s[%zu]", what, i, what, k);
	}
	return 0;
}

/* Checks the members of a create (create = true) or update request; the spec is checked later. */
static int check_common(const json_t *in, bool create)
{
	static const tds_json_field fc[] = {
	    {"resource_id", TDS_JSON_STRING, true, TDS_ID_MAX},
	    {"form", TDS_JSON_STRING, true, 16},
	    {"name", TDS_JSON_STRING, true, PRD_NAME_MAX},
	    {"scenarios", TDS_JSON_STRING_ARRAY, true, PRD_SCENARIOS_MAX},
	    {"spec", TDS_JSON_OBJECT, true, 0},
	    {"description", TDS_JSON_STRING, false, 4000},
	    {"industry", TDS_JSON_STRING, false, 8},
	    {"domain", TDS_JSON_STRING, false, 64},
	    {"tags", TDS_JSON_STRING_ARRAY, false, PRD_TAGS_MAX},
	};
	tds_json_field fu[TDS_ARRAY_LEN(fc) - 2];
	for (size_t k = 2; k < TDS_ARRAY_LEN(fc); k++) {
		fu[k - 2] = fc[k];
		fu[k - 2].required = false;
	}
	int rc = tds_json_check(in, create ? fc : fu, create ? TDS_ARRAY_LEN(fc) : TDS_ARRAY_LEN(fu), false);
	if (rc)
		return rc;
	if (!create && json_object_size(in) == 0)
		return tds_error_set(TDS_EINVAL, "empty_update", "an update names at least one member");
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)in, k, v) {
		if (json_is_null(v))
			return tds_error_set(TDS_EINVAL, "invalid_field", "field '%s' may not be null: leave it out instead", k);
	}
	const char *name = tds_json_str(in, "name", NULL);
	if (name && (!*name || !printable(name)))
		return tds_error_set(TDS_EINVAL, "invalid_name", "name must be 1-%d bytes of text without control characters",
				     PRD_NAME_MAX);
	const char *desc = tds_json_str(in, "description", NULL);
	bool desc_ok = desc ? tds_utf8_valid(desc, strlen(desc)) : true;
	for (const unsigned char *p = (const unsigned char *)desc; desc && desc_ok && *p; p++)
		desc_ok = !((*p < 0x20 && *p != '\n' && *p != '\r' && *p != '\t') || *p == 0x7f);
	if (!desc_ok)
		return tds_error_set(TDS_EINVAL, "invalid_field",
				     "field 'description' must be UTF-8 text without control characters other than line breaks and tabs");
	const char *dom = tds_json_str(in, "domain", NULL);
	if (dom && !printable(dom))
		return tds_error_set(TDS_EINVAL, "invalid_field", "field 'domain' may not hold control characters");
	const char *ind = tds_json_str(in, "industry", NULL);
	if (ind && (rc = check_industry(ind)))
		return rc;
	const json_t *sc = json_object_get(in, "scenarios");
	if (sc && json_array_size(sc) == 0)
		return tds_error_set(TDS_EINVAL, "invalid_field", "scenarios must name at least one use scenario (purpose)");
	if ((rc = check_strings(sc, "scenarios", PRD_SCENARIO_MAX)) ||
	    (rc = check_strings(json_object_get(in, "tags"), "tags", PRD_TAG_MAX)))
		return rc;
	const char *form = tds_json_str(in, "form", NULL);
	if (form && strcmp(form, "api") && strcmp(form, "dataset") && strcmp(form, "file"))
		return tds_error_set(TDS_EINVAL, "invalid_form", "form must be api, dataset or file");
	return 0;
}

/* ---- the resource a product is built on ---- */

typedef struct resinfo {
	json_t *res;           /* the resource (tds_catalog_resource_get) */
	const json_t *columns; /* its table's columns from the profile (borrowed from res) */
	const json_t *scan;    /* its scan's columns (borrowed) */
	char org[TDS_ID_MAX];
	char path[PATH_MAX], table[72];
} resinfo;

static void resinfo_free(resinfo *r)
{
	json_decref(r->res);
	r->res = NULL;
}

static int resinfo_load(tds_catalog *c, const char *org, const char *id, resinfo *r)
{
	memset(r, 0, sizeof *r);
	if (!tds_id_valid(id, "res"))
		return tds_error_set(TDS_EINVAL, "invalid_resource_id", "resource_id must be a resource id (res_…)");
	int rc = tds_catalog_resource_get(c, org, id, &r->res);
	if (rc)
		return rc;
	char st[32];
	snprintf(st, sizeof st, "%s", tds_json_str(r->res, "status", ""));
	if (strcmp(st, "approved") && strcmp(st, "published")) {
		resinfo_free(r);
		return tds_error_set(TDS_ECONFLICT, "resource_not_approved",
				     "a product is built on an approved or published resource; this one is %s", st);
	}
	snprintf(r->org, sizeof r->org, "%s", tds_json_str(r->res, "org_id", ""));
	r->columns = json_object_get(json_array_get(json_object_get(json_object_get(r->res, "profile"), "tables"), 0), "columns");
	r->scan = json_object_get(json_object_get(r->res, "scan"), "columns");
	if ((rc = tds_catalog_source_data(c, tds_json_str(r->res, "source_id", ""), r->path, sizeof r->path, r->table))) {
		resinfo_free(r);
		return rc;
	}
	if (!json_is_array(r->columns)) {
		resinfo_free(r);
		return tds_error_set(TDS_EUNPROC, "not_imported", "the resource's source has no imported table");
	}
	return 0;
}

static const json_t *find_named(const json_t *arr, const char *name)
{
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o) {
		if (!strcmp(tds_json_str(o, "name", ""), name))
			return o;
	}
	return NULL;
}

/* ---- api spec ---- */

static const char *const PARAM_TYPES[] = {"integer", "decimal", "text", "date", "datetime", "boolean"};

static bool known(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (!strcmp(s, list[i]))
			return true;
	return false;
}

/* A column's type from its declared SQL type (csv import's declarations), NULL when unknown. */
static const char *decl_type(const char *dt)
{
	for (int t = 0; dt && t < TDS_COL_NTYPES; t++)
		if (!sqlite3_stricmp(dt, tds_col_type_sql((tds_col_type)t)))
			return tds_col_type_name((tds_col_type)t);
	return NULL;
}

/* Checks the SQL against the resource and builds "outputs" from the result columns. */
static int check_sql(const resinfo *r, const char *sql, const json_t *params, const json_t *labels, json_t **outputs)
{
	const char *names[PRD_PARAMS_MAX];
	size_t np = 0, i;
	json_t *p, *cols = NULL;
	*outputs = NULL;
	json_array_foreach(params, i, p) {
		if (np < PRD_PARAMS_MAX)
			names[np++] = tds_json_str(p, "name", "");
	}
	int rc = tds_product_sql_check_file(r->path, r->table, sql, names, np, &cols);
	if (rc)
		return rc;
	json_t *out = json_array(), *c;
	if (!out) {
		json_decref(cols);
		return NOMEM();
	}
	json_array_foreach(cols, i, c) {
		const char *n = tds_json_str(c, "name", "");
		const json_t *rc_col = find_named(r->columns, n);
		const char *label = tds_json_str(labels, n, NULL);
		if (!label)
			label = rc_col ? tds_json_str(rc_col, "label", n) : n;
		const char *type = decl_type(tds_json_str(c, "decl_type", NULL));
		if (!type)
			type = rc_col ? tds_json_str(rc_col, "type", "any") : "any";
		json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "name", n, "label", label, "type", type));
	}
	json_decref(cols);
	/* every label names an output column */
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)labels, k, v) {
		if (!find_named(out, k)) {
			json_decref(out);
			return tds_error_set(TDS_EINVAL, "invalid_labels", "labels: \"%s\" is not an output column of the SQL", k);
		}
	}
	*outputs = out;
	return 0;
}

static int check_params(const json_t *params, json_t **out)
{
	static const tds_json_field f[] = {{"name", TDS_JSON_STRING, true, 64},
					   {"type", TDS_JSON_STRING, true, 16},
					   {"required", TDS_JSON_BOOL, false, 0},
					   {"description", TDS_JSON_STRING, false, 500}};
	*out = json_array();
	size_t i;
	json_t *p;
	json_array_foreach(params, i, p) {
		int rc = tds_json_check(p, f, TDS_ARRAY_LEN(f), false);
		if (rc) {
			json_decref(*out);
			return restate("invalid_parameter", "spec.parameters[%zu]", i);
		}
		const char *n = tds_json_str(p, "name", ""), *t = tds_json_str(p, "type", ""), *d = tds_json_str(p, "description", NULL);
		const char *why = !tds_product_param_name_valid(n) ? "name must be 1-64 letters, digits or '_', not starting with a digit"
				  : !known(t, PARAM_TYPES, TDS_ARRAY_LEN(PARAM_TYPES)) ? "type must be integer, decimal, text, date, datetime or boolean"
				  : d && !printable(d) ? "description may not hold control characters"
						       : NULL;
		for (size_t k = 0; !why && k < i; k++)
			if (!strcmp(n, tds_json_str(json_array_get(params, k), "name", "")))
				why = "the name is declared twice";
		if (why) {
			json_decref(*out);
			return tds_error_set(TDS_EINVAL, "invalid_parameter", "parameters[%zu]: %s", i, why);
		}
		json_array_append_new(*out, json_pack("{s:s, s:s, s:b, s:s?}", "name", n, "type", t, "required",
						      tds_json_bool(p, "required", true), "description", d));
	}
	return 0;
}

static int spec_script(const resinfo *r, const json_t *in, json_t **spec)
{
	static const tds_json_field f[] = {{"mode", TDS_JSON_STRING, true, 8},
					   {"sql", TDS_JSON_STRING, true, TDS_PRODUCT_SQL_MAX},
					   {"parameters", TDS_JSON_ARRAY, false, PRD_PARAMS_MAX},
					   {"labels", TDS_JSON_OBJECT, false, 0}};
	int rc = tds_json_check(in, f, TDS_ARRAY_LEN(f), false);
	if (rc)
		return restate(NULL, "spec");
	const json_t *labels = json_object_get(in, "labels");
	const char *k;
	json_t *v, *params = NULL, *outputs = NULL;
	json_object_foreach((json_t *)labels, k, v) {
		if (!json_is_string(v) || !*json_string_value(v) || strlen(json_string_value(v)) > 128 ||
		    !printable(json_string_value(v)))
			return tds_error_set(TDS_EINVAL, "invalid_labels", "labels[\"%s\"] must be 1-128 bytes of text", k);
	}
	if ((rc = check_params(json_object_get(in, "parameters"), &params)))
		return rc;
	if ((rc = check_sql(r, tds_json_str(in, "sql", ""), params, labels, &outputs))) {
		json_decref(params);
		return rc;
	}
	*spec = json_pack("{s:s, s:s, s:s, s:o, s:o}", "mode", "script", "table", r->table, "sql", tds_json_str(in, "sql", ""),
			  "parameters", params, "outputs", outputs);
	return *spec ? 0 : NOMEM();
}

static int spec_wizard(const resinfo *r, const json_t *in, json_t **spec)
{
	static const tds_json_field f[] = {{"mode", TDS_JSON_STRING, true, 8},	  {"table", TDS_JSON_STRING, false, 128},
					   {"fields", TDS_JSON_STRING_ARRAY, true, 1000}, {"filters", TDS_JSON_ARRAY, false, PRD_FILTERS_MAX},
					   {"order_by", TDS_JSON_ARRAY, false, 8},	  {"limit", TDS_JSON_INTEGER, false, 0}};
	static const tds_json_field ff[] = {{"field", TDS_JSON_STRING, true, 128},
					    {"op", TDS_JSON_STRING, true, 8},
					    {"param", TDS_JSON_STRING, false, 64},
					    {"required", TDS_JSON_BOOL, false, 0}};
	static const tds_json_field fo[] = {{"field", TDS_JSON_STRING, true, 128}, {"desc", TDS_JSON_BOOL, false, 0}};
	static const struct {
		const char *op, *sql, *suffix;
	} OPS[] = {{"eq", "=", ""},	    {"ne", "<>", ""},	    {"lt", "<", "_max"}, {"le", "<=", "_max"},
		   {"gt", ">", "_min"}, {"ge", ">=", "_min"}, {"like", "LIKE", ""}};
	int rc = tds_json_check(in, f, TDS_ARRAY_LEN(f), false);
	if (rc)
		return restate(NULL, "spec");
	const char *table = tds_json_str(in, "table", NULL);
	if (table && strcmp(table, r->table))
		return tds_error_set(TDS_EINVAL, "invalid_table", "spec.table: \"%s\" is not this resource's table (\"%s\")", table,
				     r->table);
	const json_t *fields = json_object_get(in, "fields"), *filters = json_object_get(in, "filters"),
		     *order = json_object_get(in, "order_by");
	int64_t limit = tds_json_int(in, "limit", PRD_WIZARD_LIMIT_DEFAULT);
	if (limit < 1 || limit > PRD_WIZARD_LIMIT_MAX)
		return tds_error_set(TDS_EINVAL, "invalid_limit", "spec.limit must be 1-%d", PRD_WIZARD_LIMIT_MAX);
	if (json_array_size(fields) == 0)
		return tds_error_set(TDS_EINVAL, "invalid_field", "spec.fields names at least one output column");
	tds_buf sql = TDS_BUF_INIT;
	json_t *params = json_array();
	size_t i;
	json_t *v;
	rc = params ? tds_buf_puts(&sql, "SELECT ") : NOMEM();
	json_array_foreach(fields, i, v) {
		const char *n = json_string_value(v);
		if (!rc && !find_named(r->columns, n))
			rc = tds_error_set(TDS_EINVAL, "unknown_column", "spec.fields[%zu]: \"%s\" is not a column of the resource", i, n);
		for (size_t k = 0; !rc && k < i; k++)
			if (!strcmp(n, json_string_value(json_array_get(fields, k))))
				rc = tds_error_set(TDS_EINVAL, "invalid_field", "spec.fields[%zu] repeats \"%s\"", i, n);
		if (!rc && i)
			rc = tds_buf_puts(&sql, ", ");
		if (!rc)
			rc = tds_sql_quote_ident(&sql, n);
	}
	if (!rc && !(rc = tds_buf_puts(&sql, " FROM ")))
		rc = tds_sql_quote_ident(&sql, r->table);
	json_array_foreach(filters, i, v) {
		if (rc)
			break;
		if ((rc = tds_json_check(v, ff, TDS_ARRAY_LEN(ff), false))) {
			rc = restate("invalid_filter", "spec.filters[%zu]", i);
			break;
		}
		const char *field = tds_json_str(v, "field", ""), *op = tds_json_str(v, "op", "");
		const json_t *col = find_named(r->columns, field);
		size_t k = 0;
		while (k < TDS_ARRAY_LEN(OPS) && strcmp(OPS[k].op, op))
			k++;
		if (!col) {
			rc = tds_error_set(TDS_EINVAL, "unknown_column", "spec.filters[%zu]: \"%s\" is not a column of the resource", i,
					   field);
			break;
		}
		if (k == TDS_ARRAY_LEN(OPS)) {
			rc = tds_error_set(TDS_EINVAL, "invalid_filter", "spec.filters[%zu]: op must be eq, ne, lt, le, gt, ge or like", i);
			break;
		}
		char pname[96];
		snprintf(pname, sizeof pname, "%s%s", field, OPS[k].suffix);
		const char *pn = tds_json_str(v, "param", pname);
		if (!tds_product_param_name_valid(pn)) {
			rc = tds_error_set(TDS_EINVAL, "invalid_filter",
					   "spec.filters[%zu]: the parameter name \"%s\" is not valid; give one with \"param\" (letters, "
					   "digits, '_')", i, pn);
			break;
		}
		if (find_named(params, pn)) {
			rc = tds_error_set(TDS_EINVAL, "invalid_filter",
					   "spec.filters[%zu]: parameter \"%s\" is used by another filter; name it with \"param\"", i, pn);
			break;
		}
		bool required = tds_json_bool(v, "required", true);
		const char *type = !strcmp(op, "like") ? "text" : tds_json_str(col, "type", "text");
		json_array_append_new(params, json_pack("{s:s, s:s, s:b}", "name", pn, "type", type, "required", required));
		rc = tds_buf_puts(&sql, i ? " AND " : " WHERE ");
		if (!rc && !required)
			rc = tds_buf_printf(&sql, "(:%s IS NULL OR ", pn);
		if (!rc)
			rc = tds_sql_quote_ident(&sql, field);
		if (!rc)
			rc = tds_buf_printf(&sql, " %s :%s%s", OPS[k].sql, pn, required ? "" : ")");
	}
	json_array_foreach(order, i, v) {
		if (rc)
			break;
		if ((rc = tds_json_check(v, fo, TDS_ARRAY_LEN(fo), false))) {
			rc = restate("invalid_order", "spec.order_by[%zu]", i);
			break;
		}
		const char *field = tds_json_str(v, "field", "");
		if (!find_named(r->columns, field)) {
			rc = tds_error_set(TDS_EINVAL, "unknown_column", "spec.order_by[%zu]: \"%s\" is not a column of the resource", i,
					   field);
			break;
		}
		if (!(rc = tds_buf_puts(&sql, i ? ", " : " ORDER BY ")) && !(rc = tds_sql_quote_ident(&sql, field)))
			rc = tds_buf_puts(&sql, tds_json_bool(v, "desc", false) ? " DESC" : " ASC");
	}
	if (!rc)
		rc = tds_buf_printf(&sql, " LIMIT %lld", (long long)limit);
	json_t *outputs = NULL;
	if (!rc)
		rc = check_sql(r, (const char *)sql.data, params, NULL, &outputs);
	if (!rc) {
		json_t *wiz = json_deep_copy(in);
		*spec = json_pack("{s:s, s:s, s:s, s:O, s:o, s:o}", "mode", "wizard", "table", r->table, "sql",
				  (const char *)sql.data, "parameters", params, "outputs", outputs, "wizard", wiz);
		rc = *spec ? 0 : NOMEM();
	}
	json_decref(params);
	tds_buf_free(&sql);
	return rc;
}

static int spec_api(const resinfo *r, const json_t *in, json_t **spec)
{
	const char *mode = tds_json_str(in, "mode", NULL);
	if (mode && !strcmp(mode, "wizard"))
		return spec_wizard(r, in, spec);
	if (mode && !strcmp(mode, "script"))
		return spec_script(r, in, spec);
	return tds_error_set(TDS_EINVAL, "invalid_spec", "spec.mode must be wizard or script for an api product");
}

/* ---- dataset spec ---- */

/* A mask given as a method name or object, checked against the anon module's methods. */
static int check_mask(const json_t *m, size_t i, json_t **out)
{
	static const tds_json_field f[] = {{"method", TDS_JSON_STRING, true, 16},
					   {"first", TDS_JSON_INTEGER, false, 0},
					   {"last", TDS_JSON_INTEGER, false, 0}};
	json_t *o = json_is_string(m) ? json_pack("{s:s}", "method", json_string_value(m)) : json_deep_copy(m);
	if (!o)
		return json_is_string(m) || json_is_object(m)
			   ? NOMEM()
			   : tds_error_set(TDS_EINVAL, "invalid_mask", "spec.fields[%zu].mask must be a method name or an object", i);
	int rc = tds_json_check(o, f, TDS_ARRAY_LEN(f), false);
	if (rc) {
		json_decref(o);
		return restate("invalid_mask", "spec.fields[%zu].mask", i);
	}
	const char *meth = tds_json_str(o, "method", "");
	int k = 0;
	while (tds_anon_mask_method_name((tds_anon_mask_method)k) && strcmp(tds_anon_mask_method_name((tds_anon_mask_method)k), meth))
		k++;
	int64_t first = tds_json_int(o, "first", 0), last = tds_json_int(o, "last", 0);
	bool keep = k == TDS_ANON_MASK_KEEP, has_fl = json_object_get(o, "first") || json_object_get(o, "last");
	const char *why = !tds_anon_mask_method_name((tds_anon_mask_method)k)
			      ? "method must be one of the anon module's masking methods: none, keep, email, year, ip, suppress, hash"
			  : !keep && has_fl				   ? "first and last belong to the keep method only"
			  : keep && (first < 0 || first > 64 || last < 0 || last > 64) ? "first and last are 0-64 characters"
			  : keep && first + last == 0 ? "keep needs first or last above 0 (use suppress to hide everything)"
						      : NULL;
	if (why) {
		json_decref(o);
		return tds_error_set(TDS_EINVAL, "invalid_mask", "spec.fields[%zu].mask: %s", i, why);
	}
	if (keep) {
		json_object_set_new(o, "first", json_integer(first));
		json_object_set_new(o, "last", json_integer(last));
	}
	*out = o;
	return 0;
}

static int spec_dataset(const resinfo *r, const json_t *in, json_t **spec)
{
	static const tds_json_field f[] = {{"fields", TDS_JSON_ARRAY, true, PRD_FIELDS_MAX}};
	static const tds_json_field ff[] = {
	    {"name", TDS_JSON_STRING, true, 128}, {"permission", TDS_JSON_STRING, false, 16}, {"mask", TDS_JSON_ANY, false, 0}};
	int rc = tds_json_check(in, f, TDS_ARRAY_LEN(f), false);
	if (rc)
		return restate(NULL, "spec");
	const json_t *fields = json_object_get(in, "fields");
	if (json_array_size(fields) == 0)
		return tds_error_set(TDS_EINVAL, "invalid_field", "spec.fields names at least one column");
	json_t *out = json_array(), *v;
	size_t i;
	if (!out)
		return NOMEM();
	json_array_foreach(fields, i, v) {
		if ((rc = tds_json_check(v, ff, TDS_ARRAY_LEN(ff), false))) {
			rc = restate("invalid_field", "spec.fields[%zu]", i);
			break;
		}
		const char *n = tds_json_str(v, "name", ""), *perm = tds_json_str(v, "permission", NULL);
		const json_t *col = find_named(r->columns, n);
		if (!col) {
			rc = tds_error_set(TDS_EINVAL, "unknown_column", "spec.fields[%zu]: \"%s\" is not a column of the resource", i, n);
			break;
		}
		if (find_named(out, n)) {
			rc = tds_error_set(TDS_EINVAL, "invalid_field", "spec.fields[%zu] repeats \"%s\"", i, n);
			break;
		}
		if (perm && strcmp(perm, "read") && strcmp(perm, "masked") && strcmp(perm, "compute_only")) {
			rc = tds_error_set(TDS_EINVAL, "invalid_permission", "spec.fields[%zu].permission must be read, masked or compute_only",
					   i);
			break;
		}
		json_t *mask = NULL;
		const json_t *given = json_object_get(v, "mask");
		if (given) {
			if ((rc = check_mask(given, i, &mask)))
				break;
		} else {
			const json_t *sm = json_object_get(find_named(r->scan, n), "mask");
			mask = sm ? json_deep_copy(sm) : json_pack("{s:s}", "method", "none");
		}
		bool hides = strcmp(tds_json_str(mask, "method", "none"), "none") != 0;
		if (!perm)
			perm = hides ? "masked" : "read";
		if (!strcmp(perm, "masked") && !hides) {
			json_decref(mask);
			rc = tds_error_set(TDS_EUNPROC, "mask_required",
					   "spec.fields[%zu] (\"%s\"): permission masked needs a mask that hides something; give one",
					   i, n);
			break;
		}
		json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", n, "label", tds_json_str(col, "label", n),
						     "type", tds_json_str(col, "type", "text"), "permission", perm, "mask", mask));
	}
	if (rc) {
		json_decref(out);
		return rc;
	}
	*spec = json_pack("{s:s, s:o}", "table", r->table, "fields", out);
	return *spec ? 0 : NOMEM();
}

/* ---- file spec ---- */

static bool media_type_valid(const char *s)
{
	static const char tchar[] = "!#$&-^_.+0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
	size_t n = strlen(s), a = strspn(s, tchar);
	if (n > 127 || a == 0 || s[a] != '/')
		return false;
	size_t b = strspn(s + a + 1, tchar);
	return b > 0 && a + 1 + b == n;
}

static bool file_name_valid(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= 255 && printable(s) && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") && strcmp(s, "..");
}

/* Cuts s[0..n) to at most max bytes on a UTF-8 character boundary. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

/* A preview of text or CSV content: first lines (or records), each at most 512 bytes, at most
 * TDS_PRODUCT_PREVIEW_MAX bytes in all; null for other content. */
static json_t *preview(const char *media, const char *fname, const uint8_t *data, size_t len)
{
	size_t fl = strlen(fname);
	bool csv = !strcmp(media, "text/csv") || (fl > 4 && !sqlite3_stricmp(fname + fl - 4, ".csv"));
	bool text = csv || !strncmp(media, "text/", 5) || !strcmp(media, "application/json");
	if (!text)
		return json_null();
	if (csv) {
		tds_csv *r;
		tds_csv_opts o = {.max_field = 65536};
		if (!tds_csv_open_mem(data, len, &o, &r)) {
			json_t *rows = json_array();
			tds_csv_record rec;
			size_t total = 0;
			int s = 0;
			while (rows && json_array_size(rows) < TDS_PRODUCT_PREVIEW_LINES && total < TDS_PRODUCT_PREVIEW_MAX &&
			       (s = tds_csv_next(r, &rec)) == 1) {
				json_t *row = json_array();
				for (size_t i = 0; row && i < rec.n && i < 64 && total < TDS_PRODUCT_PREVIEW_MAX; i++) {
					size_t cut = utf8_cut(rec.field[i], rec.len[i], 256);
					json_array_append_new(row, json_stringn(rec.field[i], cut));
					total += cut + 1;
				}
				json_array_append_new(rows, row);
			}
			const char *enc = tds_csv_encoding_name(tds_csv_encoding_of(r));
			tds_csv_free(r);
			if (rows && s >= 0)
				return json_pack("{s:s, s:s, s:o}", "kind", "csv", "encoding", enc, "rows", rows);
			json_decref(rows);
		}
	}
	/* text: the longest valid UTF-8 prefix's first lines */
	json_t *lines = json_array();
	size_t pos = 0, total = 0;
	while (lines && pos < len && json_array_size(lines) < TDS_PRODUCT_PREVIEW_LINES && total < TDS_PRODUCT_PREVIEW_MAX) {
		const uint8_t *nl = memchr(data + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - data) : len, n = end - pos;
		if (n && data[pos + n - 1] == '\r')
			n--;
		size_t cut = utf8_cut((const char *)data + pos, n, 512);
		if (!tds_utf8_valid((const char *)data + pos, cut))
			break;
		json_array_append_new(lines, json_stringn((const char *)data + pos, cut));
		total += cut + 1;
		pos = end + 1;
	}
	if (!lines || json_array_size(lines) == 0) {
		json_decref(lines);
		return json_null();
	}
	return json_pack("{s:s, s:o}", "kind", "text", "lines", lines);
}

/* Checks a file spec and writes the upload as DIR/data/<id>-v<version>.file; *written: its name
 * (the caller removes the file if the transaction fails). */
static int spec_file(tds_catalog *c, const char *id, int64_t version, const json_t *in, json_t **spec, char *written,
		     size_t cap)
{
	static const tds_json_field f[] = {{"file_name", TDS_JSON_STRING, true, 255},
					   {"media_type", TDS_JSON_STRING, true, 127},
					   {"content_base64", TDS_JSON_STRING, true, 0}};
	written[0] = 0;
	int rc = tds_json_check(in, f, TDS_ARRAY_LEN(f), false);
	if (rc)
		return restate(NULL, "spec");
	const char *fname = tds_json_str(in, "file_name", ""), *media = tds_json_str(in, "media_type", ""),
		   *b64 = tds_json_str(in, "content_base64", "");
	if (!file_name_valid(fname))
		return tds_error_set(TDS_EINVAL, "invalid_file_name",
				     "spec.file_name must be 1-255 bytes without control characters, '/' or '\\'");
	if (!media_type_valid(media))
		return tds_error_set(TDS_EINVAL, "invalid_media_type", "spec.media_type must be a media type like text/csv");
	tds_buf content = TDS_BUF_INIT;
	if (tds_b64_decode(b64, strlen(b64), &content)) {
		tds_buf_free(&content);
		return tds_error_set(TDS_EINVAL, "invalid_content", "spec.content_base64 is not valid base64");
	}
	if (content.len == 0) {
		tds_buf_free(&content);
		return tds_error_set(TDS_EINVAL, "empty_file", "spec.content_base64 holds no bytes");
	}
	uint8_t h[TDS_HASH_LEN];
	tds_buf hex = TDS_BUF_INIT;
	char name[TDS_ID_MAX + 32], path[PATH_MAX];
	/* a name of its own: two racing updates both write version N+1, and the loser's cleanup must not
	   overwrite or delete the winner's file */
	uint8_t nonce[8];
	if ((rc = tds_random(nonce, sizeof nonce))) {
		tds_buf_free(&content);
		return rc;
	}
	snprintf(name, sizeof name, "%s-v%lld-%02x%02x%02x%02x%02x%02x%02x%02x.file", id, (long long)version, nonce[0],
		 nonce[1], nonce[2], nonce[3], nonce[4], nonce[5], nonce[6], nonce[7]);
	if (!(rc = tds_hash(c->suite, content.data, content.len, h)) && !(rc = tds_hex_encode(h, sizeof h, &hex)) &&
	    !(rc = tds_path_join(path, sizeof path, c->data_dir, name)) &&
	    !(rc = tds_file_write_atomic(path, content.data, content.len, 0600))) {
		snprintf(written, cap, "%s", name);
		*spec = json_pack("{s:s, s:s, s:I, s:s%, s:s, s:s, s:o}", "file_name", fname, "media_type", media, "size",
				  (json_int_t)content.len, "hash", (const char *)hex.data, hex.len, "hash_alg",
				  tds_hash_alg(c->suite), "stored_as", name, "preview",
				  preview(media, fname, (const uint8_t *)content.data, content.len));
		rc = *spec ? 0 : NOMEM();
	}
	tds_buf_free(&content);
	tds_buf_free(&hex);
	return rc;
}

/* ---- rows ---- */

#define PCOLS                                                                                                   \
	"id, org_id, resource_id, form, name, status, latest_version, approved_version, code, scope, note, created_by," \
	" created_at, updated_at, listed_at"

typedef struct prow {
	char id[TDS_ID_MAX], org[TDS_ID_MAX], resource[TDS_ID_MAX], form[16], status[16], created_by[TDS_ID_MAX + 8];
	char code[TDS_RESCODE_MAX];
	bool has_org;
	int64_t latest, approved, listed_at;
	char *scope; /* malloc'd, may be NULL */
} prow;

static void prow_free(prow *r)
{
	free(r->scope);
	r->scope = NULL;
}

static int load(sqlite3 *db, const char *org, const char *id, prow *r)
{
	memset(r, 0, sizeof *r);
	if (!tds_id_valid(id, "prd"))
		return tds_error_set(TDS_ENOTFOUND, "product_not_found", "no such product");
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT " PCOLS " FROM products WHERE id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		cpy(r->id, sizeof r->id, st, 0);
		r->has_org = sqlite3_column_type(st, 1) != SQLITE_NULL;
		cpy(r->org, sizeof r->org, st, 1);
		cpy(r->resource, sizeof r->resource, st, 2);
		cpy(r->form, sizeof r->form, st, 3);
		cpy(r->status, sizeof r->status, st, 5);
		r->latest = sqlite3_column_int64(st, 6);
		r->approved = sqlite3_column_int64(st, 7);
		cpy(r->code, sizeof r->code, st, 8);
		const char *sc = (const char *)sqlite3_column_text(st, 9);
		if (sc && !(r->scope = strdup(sc)))
			rc = NOMEM();
		cpy(r->created_by, sizeof r->created_by, st, 11);
		r->listed_at = sqlite3_column_int64(st, 14);
		if (!rc && org && (!r->has_org || strcmp(org, r->org) != 0))
			rc = tds_error_set(TDS_ENOTFOUND, "product_not_found", "no such product");
	} else {
		rc = s == SQLITE_DONE ? tds_error_set(TDS_ENOTFOUND, "product_not_found", "no such product")
				      : tds_store_error(db, "reading product");
	}
	sqlite3_finalize(st);
	if (rc)
		prow_free(r);
	return rc;
}

static int state_error(const prow *r, const char *action)
{
	return tds_error_set(TDS_ECONFLICT, "invalid_state", "cannot %s a product that is %s", action, r->status);
}

/* Status of version v of product id ("" when absent) into out. */
static int version_status(sqlite3 *db, const char *id, int64_t v, char out[16])
{
	sqlite3_stmt *st;
	out[0] = 0;
	int rc = tds_store_prepare(db, "SELECT status FROM product_versions WHERE product_id = ? AND version = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, v);
	if (sqlite3_step(st) == SQLITE_ROW)
		cpy(out, 16, st, 0);
	sqlite3_finalize(st);
	return 0;
}

/* Runs an UPDATE of products with ?1 the id, ?2 now, ?3 text a, ?4 integer n (when n >= 0). */
static int exec_update(sqlite3 *db, const char *sql, const char *id, const char *a, int64_t n)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, sql, &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, tds_now_ms());
	if (a)
		sqlite3_bind_text(st, 3, a, -1, SQLITE_STATIC);
	if (n >= 0)
		sqlite3_bind_int64(st, 4, n);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "updating product");
	sqlite3_finalize(st);
	return rc;
}

/* Inserts version `version` with its canonical content and hash. */
static int insert_version(tds_catalog *c, sqlite3 *db, const char *id, int64_t version, const char *canon,
			  const char *hash, const char *file, const char *by)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "INSERT INTO product_versions (product_id, version, status, content, content_hash,"
				       " hash_alg, file_name, created_by, created_at) VALUES (?,?,'pending_review',?,?,?,?,?,?)", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	sqlite3_bind_text(st, 3, canon, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, tds_hash_alg(c->suite), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, file, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, tds_now_ms());
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "inserting product version");
	sqlite3_finalize(st);
	return rc;
}

/* ---- fused-catalog entries ---- */

/* The outbox entry offering version `version` of product r with `scope` (JSON text). The entry's
 * own "version" is the catalog revision of the product (cat_outbox_next_version): it grows with
 * every offer and withdrawal, so that the operator, which keeps the highest, sees a relisting after
 * a delisting; the product version itself stays readable from the product (approved_version). */
static int offer_tx(tds_catalog *c, sqlite3 *db, const prow *r, int64_t version, const char *scope, int64_t listed_at)
{
	sqlite3_stmt *st;
	json_t *content = NULL, *res_md = NULL, *entry = NULL, *fields = json_array(), *sc = NULL;
	int level = 0, rc;
	int64_t revision;
	char grade[16] = "";
	if (!fields)
		return NOMEM();
	if ((rc = cat_outbox_next_version(db, "product", r->id, &revision, NULL)))
		goto out;
	if ((rc = tds_store_prepare(db, "SELECT content FROM product_versions WHERE product_id = ? AND version = ?", &st)))
		goto out;
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	if (sqlite3_step(st) == SQLITE_ROW)
		content = col_json(st, 0);
	sqlite3_finalize(st);
	if ((rc = tds_store_prepare(db, "SELECT level, grade, metadata FROM resources WHERE id = ?", &st)))
		goto out;
	sqlite3_bind_text(st, 1, r->resource, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		level = sqlite3_column_int(st, 0);
		cpy(grade, sizeof grade, st, 1);
		res_md = col_json(st, 2);
	}
	sqlite3_finalize(st);
	if (!json_is_object(content)) {
		rc = tds_error_set(TDS_EINTERNAL, NULL, "version %lld of %s is missing", (long long)version, r->id);
		goto out;
	}
	const json_t *spec = json_object_get(content, "spec");
	const json_t *src = !strcmp(r->form, "api") ? json_object_get(spec, "outputs")
			    : !strcmp(r->form, "dataset") ? json_object_get(spec, "fields") : NULL;
	size_t i;
	json_t *f;
	json_array_foreach(src, i, f) {
		/* labels come from CSV headers of any length: the catalog takes at most 256 bytes */
		const char *label = tds_json_str(f, "label", "");
		json_array_append_new(fields, json_pack("{s:O?, s:s%, s:O?}", "name", json_object_get(f, "name"), "label", label,
							utf8_cut(label, strlen(label), 256), "type", json_object_get(f, "type")));
	}
	tds_anon_grade g;
	char lv[4];
	snprintf(lv, sizeof lv, "L%d", level);
	const char *zh = grade[0] && !tds_anon_grade_parse(grade, &g) ? tds_anon_grade_name_zh(g) : NULL;
	const char *format = !strcmp(r->form, "api")  ? "application/json"
			     : !strcmp(r->form, "file") ? tds_json_str(spec, "media_type", NULL)
							: NULL;
	sc = scope ? json_loads(scope, 0, NULL) : json_pack("{s:s}", "scope", "space");
	entry = json_pack("{s:s, s:s, s:s?, s:I, s:s?, s:O?, s:O?, s:s, s:O?, s:O?, s:s?, s:s?, s:O?, s:o, s:O?, s:O?, s:O,"
			  " s:n, s:s?, s:n, s:n, s:[], s:o, s:o}",
			  "kind", "product", "id", r->id, "code", r->code[0] ? r->code : NULL, "version", (json_int_t)revision,
			  "org_id", r->has_org ? r->org : NULL, "title", json_object_get(content, "name"), "description",
			  json_object_get(content, "description"), "form", r->form, "domain", json_object_get(content, "domain"),
			  "tags", json_object_get(content, "tags"), "grade", zh, "level", level ? lv : NULL,
			  "update_frequency", json_object_get(res_md, "update_frequency"), "fields", fields, "scenarios",
			  json_object_get(content, "scenarios"), "industry", json_object_get(content, "industry"), "scope", sc,
			  "authorization_type", "format", format, "usage_restrictions", "application_path",
			  "required_materials", "issued", time_json(listed_at), "modified", time_json(tds_now_ms()));
	fields = NULL;
	if (!entry) {
		rc = NOMEM();
		goto out;
	}
	/* absent optional members travel as null / [] */
	static const char *const nullable[] = {"description", "domain", "industry", "update_frequency", "org_id", "code", "grade",
					       "level", "format"};
	for (i = 0; i < TDS_ARRAY_LEN(nullable); i++)
		if (!json_object_get(entry, nullable[i]))
			json_object_set_new(entry, nullable[i], json_null());
	if (!json_is_array(json_object_get(entry, "tags")))
		json_object_set_new(entry, "tags", json_array());
	rc = cat_outbox_add_tx(c, db, entry);
out:
	json_decref(fields);
	json_decref(entry);
	json_decref(sc);
	json_decref(content);
	json_decref(res_md);
	return rc;
}

static int withdraw_tx(tds_catalog *c, sqlite3 *db, const prow *r)
{
	int64_t revision;
	int rc = cat_outbox_next_version(db, "product", r->id, &revision, NULL);
	if (rc)
		return rc;
	json_t *e = json_pack("{s:s, s:s, s:I, s:b}", "kind", "product", "id", r->id, "version", (json_int_t)revision,
			      "withdrawn", 1);
	if (!e)
		return NOMEM();
	rc = cat_outbox_add_tx(c, db, e);
	json_decref(e);
	return rc;
}

/* Delists every listed product of resource `resource` (deregistration or removal of the resource),
 * in the caller's transaction: status delisted, a withdrawal in the outbox, evidence
 * catalog.product_delisted with reason "resource_withdrawn". */
int cat_products_resource_withdrawn_tx(tds_catalog *c, sqlite3 *db, const tds_ledger_actor *actor, const char *resource)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT id FROM products WHERE resource_id = ? AND status = 'listed' ORDER BY id", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, resource, -1, SQLITE_STATIC);
	json_t *ids = json_array();
	while (ids && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(ids, col_str(st, 0));
	sqlite3_finalize(st);
	if (!ids)
		return NOMEM();
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v) {
		prow r;
		if ((rc = load(db, NULL, json_string_value(v), &r)))
			break;
		rc = exec_update(db, "UPDATE products SET updated_at = ?2, status = 'delisted', note = ?3 WHERE id = ?1", r.id,
				 "resource_withdrawn", -1);
		if (!rc)
			rc = withdraw_tx(c, db, &r);
		if (!rc)
			rc = evidence(c, db, "catalog.product_delisted", actor, r.id, r.code, r.resource,
				      json_pack("{s:I, s:s}", "version", (json_int_t)r.approved, "reason", "resource_withdrawn"));
		prow_free(&r);
		if (rc)
			break;
	}
	json_decref(ids);
	return rc;
}

/* ---- operations ---- */

typedef enum { OP_CREATE, OP_UPDATE, OP_REVIEW, OP_LIST, OP_DELIST, OP_REMOVE } op_kind;

typedef struct op_ctx {
	tds_catalog *c;
	const tds_ledger_actor *actor;
	const char *org, *id;
	const json_t *in;
	op_kind op;
	/* create and update */
	const char *resource, *form, *name;
	char *canon; /* canonical content */
	char hash[2 * TDS_HASH_LEN + 1];
	char file[TDS_ID_MAX + 32]; /* file name written for this version ("" = none) */
	char new_id[TDS_ID_MAX];
	char owner[TDS_ID_MAX];
	int64_t base_version; /* update: the latest version seen before the transaction */
	json_t *scope;	      /* list */
} op_ctx;

static int hash_content(op_ctx *x, const json_t *content)
{
	tds_buf b = TDS_BUF_INIT;
	uint8_t h[TDS_HASH_LEN];
	int rc = tds_json_canonical(content, &b);
	if (!rc && !(rc = tds_hash(x->c->suite, b.data, b.len, h))) {
		for (size_t i = 0; i < TDS_HASH_LEN; i++)
			snprintf(x->hash + 2 * i, 3, "%02x", h[i]);
		if (!(rc = tds_buf_putc(&b, 0)))
			x->canon = tds_buf_steal(&b);
	}
	tds_buf_free(&b);
	return rc;
}

static int create_tx(sqlite3 *db, void *arg)
{
	op_ctx *x = arg;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "INSERT INTO products (id, org_id, resource_id, form, name, status, latest_version,"
				       " created_by, created_at, updated_at) VALUES (?,?,?,?,?,'pending_review',1,?,?,?)", &st);
	if (rc)
		return rc;
	int64_t now = tds_now_ms();
	sqlite3_bind_text(st, 1, x->new_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, x->owner[0] ? x->owner : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, x->resource, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, x->form, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, x->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, x->actor->account, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, now);
	sqlite3_bind_int64(st, 8, now);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "inserting product");
	sqlite3_finalize(st);
	if (!rc)
		rc = insert_version(x->c, db, x->new_id, 1, x->canon, x->hash, x->file[0] ? x->file : NULL, x->actor->account);
	if (!rc)
		rc = evidence(x->c, db, "catalog.product_registered", x->actor, x->new_id, NULL, x->resource,
			      json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "resource_id", x->resource, "form", x->form, "name",
					x->name, "version", 1, "content_hash", x->hash, "hash_alg", tds_hash_alg(x->c->suite)));
	return rc;
}

static int update_tx(sqlite3 *db, void *arg)
{
	op_ctx *x = arg;
	prow r;
	int rc = load(db, x->org, x->id, &r);
	if (rc)
		return rc;
	char vs[16];
	if (!strcmp(r.status, "removed")) {
		rc = state_error(&r, "update");
	} else if (r.latest != x->base_version) {
		rc = tds_error_set(TDS_ECONFLICT, "concurrent_update", "the product changed meanwhile; read it again and retry");
	} else if (!(rc = version_status(db, r.id, r.latest, vs)) && !strcmp(vs, "pending_review")) {
		rc = tds_error_set(TDS_ECONFLICT, "review_pending",
				   "version %lld waits for review; update after it is reviewed", (long long)r.latest);
	}
	int64_t v = r.latest + 1;
	const char *status = !strcmp(r.status, "rejected") ? "pending_review" : r.status;
	if (!rc)
		rc = insert_version(x->c, db, r.id, v, x->canon, x->hash, x->file[0] ? x->file : NULL, x->actor->account);
	if (!rc)
		rc = exec_update(db, "UPDATE products SET updated_at = ?2, status = ?3, latest_version = ?4 WHERE id = ?1", r.id,
				 status, v);
	if (!rc && x->name)
		rc = exec_update(db, "UPDATE products SET name = ?3 WHERE id = ?1", r.id, x->name, -1);
	if (!rc)
		rc = evidence(x->c, db, "catalog.product_updated", x->actor, r.id, r.code, r.resource,
			      json_pack("{s:I, s:s, s:s, s:s}", "version", (json_int_t)v, "content_hash", x->hash, "hash_alg",
					tds_hash_alg(x->c->suite), "status", status));
	prow_free(&r);
	return rc;
}

/* The reviewer may not review what its own organisation (or itself) registered or updated. */
static bool self_review(sqlite3 *db, const prow *r, const tds_ledger_actor *a)
{
	if ((r->has_org && a->org && strcmp(r->org, a->org) == 0) ||
	    (a->account && r->created_by[0] && strcmp(r->created_by, a->account) == 0))
		return true;
	if (!a->account)
		return false;
	sqlite3_stmt *st;
	if (tds_store_prepare(db, "SELECT 1 FROM product_versions WHERE product_id = ? AND version = ? AND created_by = ?", &st))
		return false;
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->latest);
	sqlite3_bind_text(st, 3, a->account, -1, SQLITE_STATIC);
	bool self = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return self;
}

static int review_tx(sqlite3 *db, void *arg)
{
	op_ctx *x = arg;
	prow r;
	int rc = load(db, NULL, x->id, &r);
	if (rc)
		return rc;
	const char *decision = tds_json_str(x->in, "decision", "");
	bool approve = !strcmp(decision, "approve");
	char vs[16], rid[TDS_ID_MAX], code[TDS_RESCODE_MAX], *reasons = NULL;
	sqlite3_stmt *st = NULL;
	snprintf(code, sizeof code, "%s", r.code);
	if ((rc = version_status(db, r.id, r.latest, vs)))
		goto out;
	if (!strcmp(r.status, "removed") || strcmp(vs, "pending_review")) {
		rc = tds_error_set(TDS_ECONFLICT, "invalid_state", "no version of this product waits for review (it is %s)", r.status);
		goto out;
	}
	json_int_t want = json_integer_value(json_object_get(x->in, "version"));
	if (json_object_get(x->in, "version") && want != r.latest) {
		rc = tds_error_set(TDS_ECONFLICT, "version_mismatch", "version %lld waits for review, not %lld", (long long)r.latest,
				   (long long)want);
		goto out;
	}
	json_t *rs = json_object_get(x->in, "reasons");
	reasons = rs ? tds_json_dumps(rs) : strdup("[]");
	if (!reasons || (rc = tds_id_new("prv", rid)) ||
	    (rc = tds_store_prepare(db, "INSERT INTO product_reviews (id, product_id, version, reviewer, reviewer_org, decision,"
					" reasons, created_at) VALUES (?,?,?,?,?,?,?,?)", &st))) {
		rc = rc ? rc : NOMEM();
		goto out;
	}
	int64_t now = tds_now_ms();
	sqlite3_bind_text(st, 1, rid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r.id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, r.latest);
	sqlite3_bind_text(st, 4, x->actor->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, x->actor->org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, decision, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, reasons, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, now);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "inserting product review");
	sqlite3_finalize(st);
	st = NULL;
	if (rc)
		goto out;
	if ((rc = tds_store_prepare(db, "UPDATE product_versions SET status = ?, reviewed_at = ? WHERE product_id = ? AND version = ?",
				    &st)))
		goto out;
	sqlite3_bind_text(st, 1, approve ? "approved" : "rejected", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_text(st, 3, r.id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, r.latest);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "updating product version");
	sqlite3_finalize(st);
	st = NULL;
	if (rc)
		goto out;
	const char *status = r.status;
	if (approve) {
		/* the resource must still stand: no approval of a product whose resource was withdrawn */
		char res_status[16] = "";
		if ((rc = tds_store_prepare(db, "SELECT status FROM resources WHERE id = ?", &st)))
			goto out;
		sqlite3_bind_text(st, 1, r.resource, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			cpy(res_status, sizeof res_status, st, 0);
		sqlite3_finalize(st);
		st = NULL;
		if (strcmp(res_status, "approved") && strcmp(res_status, "published")) {
			rc = tds_error_set(TDS_ECONFLICT, "resource_not_approved",
					   "the product's resource is %s: approve products of approved or published resources only",
					   res_status[0] ? res_status : "gone");
			goto out;
		}
		if (!code[0]) {
			uint64_t serial = 1;
			if ((rc = tds_store_prepare(db, "SELECT ifnull(max(serial), 0) + 1 FROM products", &st)))
				goto out;
			if (sqlite3_step(st) == SQLITE_ROW)
				serial = (uint64_t)sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
			st = NULL;
			if ((rc = tds_prdcode_format(x->c->code_base, serial, code, sizeof code)) ||
			    (rc = exec_update(db, "UPDATE products SET updated_at = ?2, code = ?3, serial = ?4 WHERE id = ?1", r.id, code,
					      (int64_t)serial)))
				goto out;
			snprintf(r.code, sizeof r.code, "%s", code);
		}
		if (!strcmp(status, "pending_review") || !strcmp(status, "rejected"))
			status = "approved";
		if ((rc = exec_update(db, "UPDATE products SET updated_at = ?2, status = ?3, approved_version = ?4 WHERE id = ?1",
				      r.id, status, r.latest)))
			goto out;
		if (!strcmp(status, "listed") && (rc = offer_tx(x->c, db, &r, r.latest, r.scope, r.listed_at)))
			goto out; /* a listed product moves to its newly approved version */
	} else {
		if (!strcmp(status, "pending_review"))
			status = "rejected";
		if ((rc = exec_update(db, "UPDATE products SET updated_at = ?2, status = ?3 WHERE id = ?1", r.id, status, -1)))
			goto out;
	}
	rc = evidence(x->c, db, "catalog.product_reviewed", x->actor, r.id, code, r.resource,
		      json_pack("{s:s, s:I, s:o, s:s, s:s?}", "decision", decision, "version", (json_int_t)r.latest, "reasons",
				rs ? json_incref(rs) : json_array(), "status", status, "code", code[0] ? code : NULL));
out:
	sqlite3_finalize(st);
	free(reasons);
	prow_free(&r);
	return rc;
}

static int simple_tx(sqlite3 *db, void *arg)
{
	op_ctx *x = arg;
	prow r;
	int rc = load(db, x->org, x->id, &r);
	if (rc)
		return rc;
	json_t *payload = NULL;
	const char *type = NULL, *reason = tds_json_str(x->in, "reason", NULL);
	switch (x->op) {
	case OP_LIST: {
		if (strcmp(r.status, "approved") && strcmp(r.status, "delisted")) {
			rc = state_error(&r, "list");
			break;
		}
		sqlite3_stmt *st;
		char rs[16] = "";
		if ((rc = tds_store_prepare(db, "SELECT status FROM resources WHERE id = ?", &st)))
			break;
		sqlite3_bind_text(st, 1, r.resource, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			cpy(rs, sizeof rs, st, 0);
		sqlite3_finalize(st);
		if (strcmp(rs, "approved") && strcmp(rs, "published")) {
			rc = tds_error_set(TDS_ECONFLICT, "resource_not_approved",
					   "the product's resource is %s: only products of approved or published resources are listed",
					   rs[0] ? rs : "gone");
			break;
		}
		char *scope = tds_json_dumps(x->scope);
		int64_t listed_at = r.listed_at ? r.listed_at : tds_now_ms();
		if (!scope) {
			rc = NOMEM();
			break;
		}
		rc = exec_update(db, "UPDATE products SET updated_at = ?2, status = 'listed', scope = ?3,"
				     " listed_at = ifnull(listed_at, ?4) WHERE id = ?1", r.id, scope, listed_at);
		if (!rc)
			rc = offer_tx(x->c, db, &r, r.approved, scope, listed_at);
		free(scope);
		type = "catalog.product_listed";
		payload = json_pack("{s:I, s:O}", "version", (json_int_t)r.approved, "scope", x->scope);
		break;
	}
	case OP_DELIST:
		if (strcmp(r.status, "listed")) {
			rc = state_error(&r, "delist");
			break;
		}
		rc = exec_update(db, "UPDATE products SET updated_at = ?2, status = 'delisted', note = ifnull(?3, note) WHERE id = ?1",
				 r.id, reason, -1);
		if (!rc)
			rc = withdraw_tx(x->c, db, &r);
		type = "catalog.product_delisted";
		payload = json_pack("{s:I, s:s?}", "version", (json_int_t)r.approved, "reason", reason);
		break;
	case OP_REMOVE:
		if (!strcmp(r.status, "removed")) {
			rc = state_error(&r, "remove");
			break;
		}
		rc = exec_update(db, "UPDATE products SET updated_at = ?2, status = 'removed', note = ?3 WHERE id = ?1", r.id, reason,
				 -1);
		if (!rc && !strcmp(r.status, "listed"))
			rc = withdraw_tx(x->c, db, &r);
		type = "catalog.product_removed";
		payload = json_pack("{s:s, s:s}", "reason", reason ? reason : "", "previous_status", r.status);
		break;
	default:
		rc = tds_error_set(TDS_EINTERNAL, NULL, "unknown product operation");
	}
	if (!rc)
		rc = evidence(x->c, db, type, x->actor, r.id, r.code, r.resource, payload);
	else
		json_decref(payload);
	prow_free(&r);
	return rc;
}

/* ---- public face ---- */

/* One version as JSON; TDS_ENOTFOUND "version_not_found". */
static int version_json(sqlite3 *db, const char *id, int64_t version, json_t **out)
{
	*out = NULL;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT version, status, content, content_hash, hash_alg, created_by, created_at,"
				       " reviewed_at FROM product_versions WHERE product_id = ? AND version = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*out = json_pack("{s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "product_id", id, "version",
				 (json_int_t)sqlite3_column_int64(st, 0), "status", col_str(st, 1), "content", col_json(st, 2),
				 "content_hash", col_str(st, 3), "hash_alg", col_str(st, 4), "created_by", col_str(st, 5),
				 "created_at", time_json(sqlite3_column_int64(st, 6)), "reviewed_at",
				 time_json(sqlite3_column_int64(st, 7)));
		rc = *out ? 0 : NOMEM();
	} else {
		rc = tds_error_set(TDS_ENOTFOUND, "version_not_found", "no such version of the product");
	}
	sqlite3_finalize(st);
	return rc;
}

static json_t *row_json(sqlite3_stmt *st)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", col_str(st, 0), "org_id",
			 col_str(st, 1), "resource_id", col_str(st, 2), "form", col_str(st, 3), "name", col_str(st, 4), "status",
			 col_str(st, 5), "version", (json_int_t)sqlite3_column_int64(st, 6), "approved_version", col_int(st, 7),
			 "code", col_str(st, 8), "scope", col_json(st, 9), "note", col_str(st, 10), "created_by",
			 col_str(st, 11), "created_at", time_json(sqlite3_column_int64(st, 12)), "updated_at",
			 time_json(sqlite3_column_int64(st, 13)));
}

/* pending_version: the latest version when it waits for review, else null. */
static void add_pending(sqlite3 *db, json_t *o)
{
	char vs[16] = "";
	const char *id = json_string_value(json_object_get(o, "id"));
	json_int_t v = json_integer_value(json_object_get(o, "version"));
	if (id)
		version_status(db, id, v, vs);
	json_object_set_new(o, "pending_version", !strcmp(vs, "pending_review") ? json_integer(v) : json_null());
}

static int get_json(tds_catalog *c, const char *org, const char *id, const char *code, json_t **out)
{
	*out = NULL;
	sqlite3 *db = tds_store_conn(c->store);
	if (!db)
		return tds_error_code();
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, code ? "SELECT " PCOLS " FROM products WHERE code = ?" : "SELECT " PCOLS " FROM products WHERE id = ?",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, code ? code : id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW &&
	    (!org || (sqlite3_column_type(st, 1) != SQLITE_NULL && !strcmp(org, (const char *)sqlite3_column_text(st, 1)))))
		*out = row_json(st);
	else
		rc = tds_error_set(TDS_ENOTFOUND, "product_not_found", "no such product");
	sqlite3_finalize(st);
	if (rc || !*out)
		return rc ? rc : NOMEM();
	char pid[TDS_ID_MAX];
	snprintf(pid, sizeof pid, "%s", json_string_value(json_object_get(*out, "id")));
	json_int_t latest = json_integer_value(json_object_get(*out, "version"));
	json_int_t approved = json_integer_value(json_object_get(*out, "approved_version"));
	add_pending(db, *out);
	json_t *cur = NULL, *app = NULL, *reviews = json_array();
	if ((rc = version_json(db, pid, latest, &cur)) || (approved && approved != latest && (rc = version_json(db, pid, approved, &app))) ||
	    !reviews || (rc = tds_store_prepare(db, "SELECT id, version, reviewer, reviewer_org, decision, reasons, created_at"
						    " FROM product_reviews WHERE product_id = ? ORDER BY created_at, id", &st))) {
		rc = rc ? rc : NOMEM();
		json_decref(cur);
		json_decref(app);
		json_decref(reviews);
		json_decref(*out);
		*out = NULL;
		return rc;
	}
	sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(reviews, json_pack("{s:o, s:I, s:o, s:o, s:o, s:o, s:o}", "id", col_str(st, 0), "version",
							 (json_int_t)sqlite3_column_int64(st, 1), "reviewer", col_str(st, 2),
							 "reviewer_org", col_str(st, 3), "decision", col_str(st, 4), "reasons",
							 col_json(st, 5), "at", time_json(sqlite3_column_int64(st, 6))));
	sqlite3_finalize(st);
	json_object_set_new(*out, "current", cur);
	if (app)
		json_object_set_new(*out, "approved", app);
	json_object_set_new(*out, "reviews", reviews);
	return 0;
}

int tds_catalog_product_get(tds_catalog *c, const char *org, const char *id, json_t **out)
{
	*out = NULL;
	if (!tds_id_valid(id, "prd"))
		return tds_error_set(TDS_ENOTFOUND, "product_not_found", "no such product");
	return get_json(c, org, id, NULL, out);
}

int tds_catalog_product_by_code(tds_catalog *c, const char *org, const char *code, json_t **out)
{
	*out = NULL;
	int rc = tds_prdcode_parse(c->code_base, code, NULL);
	return rc ? rc : get_json(c, org, NULL, code, out);
}

int tds_catalog_product_version(tds_catalog *c, const char *org, const char *id, int64_t version, json_t **out)
{
	*out = NULL;
	sqlite3 *db = tds_store_conn(c->store);
	if (!db)
		return tds_error_code();
	prow r;
	int rc = load(db, org, id, &r);
	if (rc)
		return rc;
	prow_free(&r);
	if (version < 1)
		return tds_error_set(TDS_ENOTFOUND, "version_not_found", "no such version of the product");
	return version_json(db, id, version, out);
}

int tds_catalog_product_file(tds_catalog *c, const char *org, const char *id, int64_t version, void **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	json_t *v;
	int rc = tds_catalog_product_version(c, org, id, version, &v);
	if (rc)
		return rc;
	const json_t *spec = json_object_get(json_object_get(v, "content"), "spec");
	const char *name = tds_json_str(spec, "stored_as", NULL), *hash = tds_json_str(spec, "hash", "");
	char path[PATH_MAX];
	tds_buf b = TDS_BUF_INIT, hex = TDS_BUF_INIT;
	uint8_t h[TDS_HASH_LEN];
	if (!name) {
		rc = tds_error_set(TDS_EUNPROC, "not_a_file_product", "this product version holds no file");
	} else if (!(rc = tds_path_join(path, sizeof path, c->data_dir, name))) {
		FILE *f = fopen(path, "rb");
		if (!f) {
			rc = tds_error_set(TDS_EIO, "file_missing", "the product's file is missing: %s", strerror(errno));
		} else {
			char chunk[65536];
			size_t n;
			while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
				rc = tds_buf_append(&b, chunk, n);
			if (!rc && ferror(f))
				rc = tds_error_set(TDS_EIO, NULL, "cannot read the product's file");
			fclose(f);
		}
	}
	if (!rc && (!(rc = tds_hash(c->suite, b.data, b.len, h)) && !(rc = tds_hex_encode(h, sizeof h, &hex))) &&
	    (hex.len != strlen(hash) || memcmp(hex.data, hash, hex.len)))
		rc = tds_error_set(TDS_EIO, "file_corrupt", "the product's file no longer matches its hash");
	if (!rc) {
		*len = b.len;
		*data = b.data ? tds_buf_steal(&b) : calloc(1, 1);
	}
	tds_buf_free(&b);
	tds_buf_free(&hex);
	json_decref(v);
	return rc;
}

int tds_catalog_product_list(tds_catalog *c, const char *org, const char *status, const char *form, int limit,
			     const char *cursor, json_t **out)
{
	*out = NULL;
	static const char *const STATES[] = {"pending_review", "rejected", "approved", "listed", "delisted", "removed"};
	static const char *const FORMS[] = {"api", "dataset", "file"};
	if (status && !known(status, STATES, TDS_ARRAY_LEN(STATES)))
		return tds_error_set(TDS_EINVAL, "invalid_status",
				     "status must be pending_review, rejected, approved, listed, delisted or removed");
	if (form && !known(form, FORMS, TDS_ARRAY_LEN(FORMS)))
		return tds_error_set(TDS_EINVAL, "invalid_form", "form must be api, dataset or file");
	if (cursor && !tds_id_valid(cursor, "prd"))
		return tds_error_set(TDS_EINVAL, "invalid_cursor", "cursor must be a product id from next_cursor");
	if (limit < 1 || limit > 500)
		limit = 50;
	sqlite3 *db = tds_store_conn(c->store);
	if (!db)
		return tds_error_code();
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT " PCOLS " FROM products WHERE (?1 IS NULL OR org_id = ?1)"
				       " AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR form = ?3) AND (?4 IS NULL OR id > ?4)"
				       " ORDER BY id LIMIT ?5", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, form, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, cursor, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, limit + 1);
	json_t *items = json_array();
	int n = 0, s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW && n < limit) {
		json_array_append_new(items, row_json(st));
		n++;
	}
	bool more = s == SQLITE_ROW;
	if (s != SQLITE_ROW && s != SQLITE_DONE)
		rc = tds_store_error(db, "listing products");
	sqlite3_finalize(st);
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it) add_pending(db, it);
	if (rc) {
		json_decref(items);
		return rc;
	}
	json_t *last = json_array_get(items, json_array_size(items) - 1);
	*out = json_pack("{s:o, s:O?}", "items", items, "next_cursor", more && last ? json_object_get(last, "id") : NULL);
	return *out ? 0 : NOMEM();
}

/* Builds the content of a version: the common members of `in` over `prev` (the previous version's
 * content, NULL on create) and the spec (checked against the resource; a file is written). */
static int build_content(op_ctx *x, const resinfo *ri, const json_t *in, const json_t *prev, int64_t version)
{
	json_t *content = prev ? json_deep_copy(prev) : json_object(), *spec = NULL;
	if (!content)
		return NOMEM();
	static const char *const keys[] = {"name", "description", "scenarios", "industry", "domain", "tags"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(keys); i++) {
		json_t *v = json_object_get(in, keys[i]);
		if (v && json_object_set(content, keys[i], v)) {
			json_decref(content);
			return NOMEM();
		}
	}
	const json_t *sin = json_object_get(in, "spec");
	int rc = 0;
	if (sin) {
		const char *id = x->op == OP_CREATE ? x->new_id : x->id;
		rc = !strcmp(x->form, "api")	   ? spec_api(ri, sin, &spec)
		     : !strcmp(x->form, "dataset") ? spec_dataset(ri, sin, &spec)
						   : spec_file(x->c, id, version, sin, &spec, x->file, sizeof x->file);
		if (!rc)
			rc = set_new(content, "spec", spec);
	}
	if (!rc && prev && !sin && !strcmp(x->form, "file"))
		snprintf(x->file, sizeof x->file, "%s",
			 tds_json_str(json_object_get(prev, "spec"), "stored_as", "")); /* the same file, named again */
	if (!rc && !(rc = set_new(content, "form", json_string(x->form))) &&
	    !(rc = set_new(content, "resource_id", json_string(x->resource))))
		rc = hash_content(x, content);
	json_decref(content);
	return rc;
}

static void drop_file(op_ctx *x, bool keep_previous)
{
	if (!x->file[0] || keep_previous)
		return;
	char path[PATH_MAX];
	if (!tds_path_join(path, sizeof path, x->c->data_dir, x->file))
		unlink(path);
}

int tds_catalog_product_create(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const json_t *in,
			       json_t **out)
{
	*out = NULL;
	op_ctx x = {.c = c, .actor = actor, .in = in, .op = OP_CREATE};
	resinfo ri = {0};
	int rc = check_common(in, true);
	if (!rc) {
		x.resource = tds_json_str(in, "resource_id", "");
		x.form = tds_json_str(in, "form", "");
		rc = resinfo_load(c, org, x.resource, &ri);
	}
	bool committed = false;
	if (!rc && !(rc = tds_id_new("prd", x.new_id)) && !(rc = build_content(&x, &ri, in, NULL, 1))) {
		x.name = tds_json_str(in, "name", "");
		snprintf(x.owner, sizeof x.owner, "%s", ri.org);
		if (!(rc = tds_store_tx(c->store, create_tx, &x))) {
			committed = true;
			rc = tds_catalog_product_get(c, NULL, x.new_id, out);
		}
	}
	if (rc && !committed)
		drop_file(&x, false);
	resinfo_free(&ri);
	free(x.canon);
	return rc;
}

int tds_catalog_product_update(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const char *id,
			       const json_t *in, json_t **out)
{
	*out = NULL;
	op_ctx x = {.c = c, .actor = actor, .org = org, .id = id, .in = in, .op = OP_UPDATE};
	resinfo ri = {0};
	prow r;
	json_t *prev = NULL;
	sqlite3 *db = tds_store_conn(c->store);
	int rc = !db ? tds_error_code() : load(db, org, id, &r);
	if (rc)
		return rc;
	char vs[16];
	if (!(rc = check_common(in, false))) {
		if (!strcmp(r.status, "removed"))
			rc = state_error(&r, "update");
		else if (!(rc = version_status(db, r.id, r.latest, vs)) && !strcmp(vs, "pending_review"))
			rc = tds_error_set(TDS_ECONFLICT, "review_pending", "version %lld waits for review; update after it is reviewed",
					   (long long)r.latest);
	}
	json_t *pv = NULL;
	if (!rc && !(rc = version_json(db, r.id, r.latest, &pv))) {
		prev = json_incref(json_object_get(pv, "content"));
		json_decref(pv);
	}
	if (!rc) {
		x.resource = r.resource;
		x.form = r.form;
		x.base_version = r.latest;
		rc = json_object_get(in, "spec") ? resinfo_load(c, NULL, r.resource, &ri) : 0;
	}
	bool new_file = json_object_get(in, "spec") != NULL, committed = false;
	x.name = tds_json_str(in, "name", NULL);
	if (!rc && !(rc = build_content(&x, &ri, in, prev, r.latest + 1)) && !(rc = tds_store_tx(c->store, update_tx, &x))) {
		committed = true;
		rc = tds_catalog_product_get(c, NULL, id, out);
	}
	if (rc && !committed)
		drop_file(&x, !new_file);
	json_decref(prev);
	resinfo_free(&ri);
	prow_free(&r);
	free(x.canon);
	return rc;
}

typedef struct refuse_ctx {
	tds_catalog *c;
	const tds_ledger_actor *actor;
	const char *id, *resource;
} refuse_ctx;

static int refuse_tx(sqlite3 *db, void *arg)
{
	refuse_ctx *x = arg;
	return evidence(x->c, db, "catalog.product_review_refused", x->actor, x->id, NULL, x->resource,
			json_pack("{s:s, s:s}", "action", "review", "reason", "self_review"));
}

int tds_catalog_product_review(tds_catalog *c, const tds_ledger_actor *actor, const char *id, const json_t *in,
			       json_t **out)
{
	static const tds_json_field f[] = {{"decision", TDS_JSON_STRING, true, 8},
					   {"reasons", TDS_JSON_STRING_ARRAY, false, 16},
					   {"version", TDS_JSON_INTEGER, false, 0}};
	*out = NULL;
	int rc = tds_json_check(in, f, TDS_ARRAY_LEN(f), false);
	if (rc)
		return rc;
	const char *d = tds_json_str(in, "decision", "");
	if (strcmp(d, "approve") && strcmp(d, "reject"))
		return tds_error_set(TDS_EINVAL, "invalid_decision", "decision must be approve or reject");
	const json_t *reasons = json_object_get(in, "reasons");
	size_t i;
	json_t *v;
	json_array_foreach(reasons, i, v) {
		const char *s = json_string_value(v);
		if (!*s || strlen(s) > 1000 || !printable(s))
			return tds_error_set(TDS_EINVAL, "invalid_reason", "reasons[%zu] must be 1-1000 bytes of text", i);
	}
	if (d[0] == 'r' && json_array_size(reasons) == 0)
		return tds_error_set(TDS_EINVAL, "reasons_required", "a rejection gives at least one reason");
	sqlite3 *db = tds_store_conn(c->store);
	prow r;
	if (!db)
		return tds_error_code();
	if ((rc = load(db, NULL, id, &r)))
		return rc;
	bool self = self_review(db, &r, actor);
	if (self) {
		refuse_ctx rx = {c, actor, r.id, r.resource};
		rc = tds_store_tx(c->store, refuse_tx, &rx);
		prow_free(&r);
		return rc ? rc
			  : tds_error_set(TDS_EPERM, "self_review",
					  "a reviewer may not review a product registered or updated by its own organisation or by itself");
	}
	prow_free(&r);
	op_ctx x = {.c = c, .actor = actor, .id = id, .in = in, .op = OP_REVIEW};
	if (!(rc = tds_store_tx(c->store, review_tx, &x)))
		rc = tds_catalog_product_get(c, NULL, id, out);
	return rc;
}

static int simple(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const char *id, const json_t *in,
		  op_kind op, json_t *scope, json_t **out)
{
	*out = NULL;
	op_ctx x = {.c = c, .actor = actor, .org = org, .id = id, .in = in, .op = op, .scope = scope};
	int rc = tds_store_tx(c->store, simple_tx, &x);
	return rc ? rc : tds_catalog_product_get(c, NULL, id, out);
}

/* A listing scope, as a resource's publication scope: {"scope":"space"} (the default, also for {}),
 * {"scope":"roles","roles":[…]} or {"scope":"orgs","orgs":["org_…",…]}. */
static int check_scope(const json_t *in, json_t **out)
{
	static const tds_json_field f[] = {
	    {"scope", TDS_JSON_STRING, false, 8}, {"roles", TDS_JSON_STRING_ARRAY, false, 16}, {"orgs", TDS_JSON_STRING_ARRAY, false, 256}};
	*out = NULL;
	int rc = tds_json_check(in, f, TDS_ARRAY_LEN(f), false);
	if (rc)
		return rc;
	const char *kind = tds_json_str(in, "scope", "space");
	const json_t *roles = json_object_get(in, "roles"), *orgs = json_object_get(in, "orgs");
	size_t i;
	json_t *v;
	if (!strcmp(kind, "space")) {
		if (roles || orgs)
			return tds_error_set(TDS_EINVAL, "invalid_scope", "scope 'space' takes neither roles nor orgs");
		*out = json_pack("{s:s}", "scope", "space");
	} else if (!strcmp(kind, "roles")) {
		if (orgs || json_array_size(roles) == 0)
			return tds_error_set(TDS_EINVAL, "invalid_scope", "scope 'roles' takes a non-empty roles array and no orgs");
		json_array_foreach(roles, i, v) {
			tds_roles r;
			if (tds_role_parse(json_string_value(v), &r))
				return tds_error_set(TDS_EINVAL, "invalid_scope", "roles[%zu] is not a role", i);
		}
		*out = json_pack("{s:s, s:O}", "scope", "roles", "roles", roles);
	} else if (!strcmp(kind, "orgs")) {
		if (roles || json_array_size(orgs) == 0)
			return tds_error_set(TDS_EINVAL, "invalid_scope", "scope 'orgs' takes a non-empty orgs array and no roles");
		json_array_foreach(orgs, i, v) {
			if (!tds_id_valid(json_string_value(v), "org"))
				return tds_error_set(TDS_EINVAL, "invalid_scope", "orgs[%zu] is not an organisation id", i);
		}
		*out = json_pack("{s:s, s:O}", "scope", "orgs", "orgs", orgs);
	} else {
		return tds_error_set(TDS_EINVAL, "invalid_scope", "scope must be space, roles or orgs");
	}
	return *out ? 0 : NOMEM();
}

int tds_catalog_product_list_on(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const char *id,
				const json_t *in, json_t **out)
{
	json_t *scope;
	*out = NULL;
	int rc = check_scope(in, &scope);
	if (rc)
		return rc;
	rc = simple(c, actor, org, id, in, OP_LIST, scope, out);
	json_decref(scope);
	return rc;
}

static int reason_check(const json_t *in, bool required)
{
	const tds_json_field f[] = {{"reason", TDS_JSON_STRING, required, 1000}};
	int rc = tds_json_check(in, f, 1, false);
	const char *r = tds_json_str(in, "reason", NULL);
	if (!rc && r && (!*r || !printable(r)))
		rc = tds_error_set(TDS_EINVAL, "invalid_reason", "reason must be 1-1000 bytes of text without control characters");
	return rc;
}

int tds_catalog_product_delist(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const char *id,
			       const json_t *in, json_t **out)
{
	int rc = reason_check(in, false);
	return rc ? (*out = NULL, rc) : simple(c, actor, org, id, in, OP_DELIST, NULL, out);
}

int tds_catalog_product_remove(tds_catalog *c, const tds_ledger_actor *actor, const char *id, const json_t *in,
			       json_t **out)
{
	int rc = reason_check(in, true);
	return rc ? (*out = NULL, rc) : simple(c, actor, NULL, id, in, OP_REMOVE, NULL, out);
}
