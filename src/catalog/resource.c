/*
 * resource.c — data resources (数据资源, catalog.h section 7): registration from an imported source
 * with the source's profile and a sensitive-data scan (敏感数据识别) of its table, reviewers'
 * column overrides, review (审核) by one or — for 重要/核心 grades — two reviewers, the resource
 * code (数据资源标识) on approval, publication with a scope, updates (new versions), deregistration
 * (注销) confirmed by the operator, and forced removal. Every change and its evidence entry commit
 * in the same transaction.
 *
 * Not for HTTP (routes.c), nor for the code's check character (rescode.c), nor for the scan engine
 * itself (src/anon).
 *
 * States (docs/catalog.md has the diagram):
 *   pending_review → approved (enough approvals of the current version) | rejected (one rejection)
 *   rejected → pending_review (update)
 *   approved → published (publish) → published (publish again: new scope)
 *   approved | published → pending_review (update that raises the level above the approved one)
 *   approved | published → deregistering (provider) → deregistered (operator confirms destruction)
 *   any but deregistered | removed → removed (operator)
 */
#include "catalog/internal.h"

#include "anon/anon.h"
#include "http/http.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RES_NAME_MAX 128
#define RES_TAGS_MAX 32
#define RES_TAG_MAX 32

static const char *const FREQUENCIES[] = {"realtime", "hourly", "daily", "weekly", "monthly",
					  "quarterly", "yearly", "irregular", "once"};

/* ---- rules and scan ---- */

static int rules_of(tds_catalog *c, const tds_anon_rules **out)
{
	int rc = 0;
	pthread_mutex_lock(&c->lock);
	if (!c->rules) {
		char path[PATH_MAX];
		if ((rc = tds_anon_rules_load_default(&c->rules, path, sizeof path)))
			tds_log(TDS_LOG_ERROR, "catalog_rules", "cannot load the scan rules %s: %s", path, tds_error_message());
	}
	*out = c->rules;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* Scans the imported table of source `src` (first TDS_RESOURCE_SCAN_ROWS rows; rows_total from the
 * source's metadata `meta`, so that volume escalations see the whole table). *out: the result. */
static int scan_source(tds_catalog *c, const tds_anon_rules *rules, const char *src, const json_t *meta,
		       tds_anon_table **out)
{
	char path[PATH_MAX], table[72];
	*out = NULL;
	int rc = tds_catalog_source_data(c, src, path, sizeof path, table);
	if (rc)
		return rc;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	tds_anon_scan *scan = NULL;
	tds_anon_field *fields = NULL;
	const char **names = NULL;
	tds_buf sql = TDS_BUF_INIT;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		rc = tds_error_set(TDS_EIO, "cannot_open", "cannot open the source's data: %s", sqlite3_errmsg(db));
		goto out;
	}
	if ((rc = tds_buf_puts(&sql, "SELECT * FROM ")) || (rc = tds_sql_quote_ident(&sql, table)) ||
	    (rc = tds_buf_printf(&sql, " LIMIT %d", TDS_RESOURCE_SCAN_ROWS)) ||
	    (rc = tds_store_prepare(db, (const char *)sql.data, &st)))
		goto out;
	int ncols = sqlite3_column_count(st);
	if (ncols <= 0 || !(names = calloc((size_t)ncols, sizeof *names)) ||
	    !(fields = calloc((size_t)ncols, sizeof *fields))) {
		rc = ncols <= 0 ? tds_error_set(TDS_EUNPROC, "empty_source", "the source's table has no columns")
				: tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto out;
	}
	for (int i = 0; i < ncols; i++)
		names[i] = sqlite3_column_name(st, i);
	if ((rc = tds_anon_scan_new(rules, names, (size_t)ncols, NULL, &scan)))
		goto out;
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < ncols; i++) {
			const char *v = (const char *)sqlite3_column_text(st, i);
			fields[i].data = v ? v : "";
			fields[i].len = v ? (size_t)sqlite3_column_bytes(st, i) : 0;
		}
		tds_anon_scan_row(scan, fields, (size_t)ncols);
	}
	if (s != SQLITE_DONE) {
		rc = tds_store_error(db, "reading the source's data");
		goto out;
	}
	const json_t *t0 = json_array_get(json_object_get(meta, "tables"), 0);
	json_int_t total = json_integer_value(json_object_get(t0, "row_count"));
	if (total > 0)
		tds_anon_scan_set_rows_total(scan, (uint64_t)total);
	rc = tds_anon_scan_finish(scan, out);
out:
	tds_anon_scan_free(scan);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(names);
	free(fields);
	tds_buf_free(&sql);
	return rc;
}

/* Applies the overrides of `old` (a stored scan) to the fresh table t, by column name; columns that
 * are gone are skipped. */
static int keep_overrides(const tds_anon_rules *rules, const json_t *old, tds_anon_table *t)
{
	tds_anon_table *o;
	int rc = tds_anon_table_from_json(rules, old, &o);
	if (rc)
		return rc;
	for (size_t i = 0; !rc && i < tds_anon_table_ncolumns(o); i++) {
		const tds_anon_column *col = tds_anon_table_column(o, i);
		if (col->overridden && tds_anon_table_find(t, col->name))
			rc = tds_anon_override(t, col->name, &col->verdict, col->override_reason, col->override_by);
	}
	tds_anon_table_free(o);
	return rc;
}

/* ---- input checks ---- */

static bool printable(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return tds_utf8_valid(s, strlen(s));
}

/* Checks the metadata members of a create (create = true) or update request and copies them into
 * md (an object: description, attributes, source_category, update_frequency, domain, tags). */
static int check_meta(const json_t *in, bool create, json_t *md)
{
	static const tds_json_field fc[] = {
	    {"source_id", TDS_JSON_STRING, true, TDS_ID_MAX},
	    {"name", TDS_JSON_STRING, true, RES_NAME_MAX},
	    {"description", TDS_JSON_STRING, false, 4000},
	    {"attributes", TDS_JSON_OBJECT, false, 0},
	    {"source_category", TDS_JSON_STRING, false, 64},
	    {"update_frequency", TDS_JSON_STRING, false, 16},
	    {"domain", TDS_JSON_STRING, false, 64},
	    {"tags", TDS_JSON_STRING_ARRAY, false, RES_TAGS_MAX},
	};
	/* on update every member but source_id, all optional */
	tds_json_field fu[TDS_ARRAY_LEN(fc) - 1];
	for (size_t k = 1; k < TDS_ARRAY_LEN(fc); k++) {
		fu[k - 1] = fc[k];
		fu[k - 1].required = false;
	}
	int rc = tds_json_check(in, create ? fc : fu, create ? TDS_ARRAY_LEN(fc) : TDS_ARRAY_LEN(fu), false);
	if (rc)
		return rc;
	if (!create) {
		/* every member optional on update, but something must change */
		if (json_object_size(in) == 0)
			return tds_error_set(TDS_EINVAL, "empty_update", "an update names at least one metadata field");
	}
	const char *name = tds_json_str(in, "name", NULL);
	if (name && (!*name || !printable(name)))
		return tds_error_set(TDS_EINVAL, "invalid_name", "name must be 1-%d bytes of text without control characters",
				     RES_NAME_MAX);
	static const char *const texts[] = {"source_category", "domain"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(texts); i++) {
		const char *v = tds_json_str(in, texts[i], NULL);
		if (v && !printable(v))
			return tds_error_set(TDS_EINVAL, "invalid_field", "field '%s' may not hold control characters", texts[i]);
	}
	const char *desc = tds_json_str(in, "description", NULL);
	if (desc && !tds_utf8_valid(desc, strlen(desc)))
		return tds_error_set(TDS_EINVAL, "invalid_field", "field 'description' must be UTF-8");
	const char *freq = tds_json_str(in, "update_frequency", NULL);
	if (freq) {
		bool known = false;
		for (size_t i = 0; i < TDS_ARRAY_LEN(FREQUENCIES); i++)
			known |= strcmp(freq, FREQUENCIES[i]) == 0;
		if (!known)
			return tds_error_set(TDS_EINVAL, "invalid_update_frequency",
					     "update_frequency must be realtime, hourly, daily, weekly, monthly, quarterly, "
					     "yearly, irregular or once");
	}
	const json_t *tags = json_object_get(in, "tags");
	size_t i;
	json_t *t;
	json_array_foreach(tags, i, t) {
		const char *s = json_string_value(t);
		if (!*s || strlen(s) > RES_TAG_MAX || !printable(s))
			return tds_error_set(TDS_EINVAL, "invalid_tag", "tags[%zu] must be 1-%d bytes without control characters", i,
					     RES_TAG_MAX);
	}
	const json_t *attrs = json_object_get(in, "attributes");
	if (attrs) {
		char *d = tds_json_dumps(attrs);
		size_t n = d ? strlen(d) : 0;
		free(d);
		if (n > 8192)
			return tds_error_set(TDS_EINVAL, "invalid_attributes", "attributes may take at most 8 KiB of JSON");
	}
	const char *keys[] = {"description", "attributes", "source_category", "update_frequency", "domain", "tags"};
	for (i = 0; i < TDS_ARRAY_LEN(keys); i++) {
		json_t *v = json_object_get(in, keys[i]);
		if (v && json_object_set(md, keys[i], v))
			return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	}
	return 0;
}

/* Checks a publication scope: {"scope":"space"} | {"scope":"roles","roles":[…]} |
 * {"scope":"orgs","orgs":["org_…",…]}; *out: the canonical scope object (new reference). */
static int check_scope(const json_t *in, json_t **out)
{
	static const tds_json_field f[] = {
	    {"scope", TDS_JSON_STRING, true, 8},
	    {"roles", TDS_JSON_STRING_ARRAY, false, 16},
	    {"orgs", TDS_JSON_STRING_ARRAY, false, 256},
	};
	*out = NULL;
	int rc = tds_json_check(in, f, TDS_ARRAY_LEN(f), false);
	if (rc)
		return rc;
	const char *kind = tds_json_str(in, "scope", "");
	const json_t *roles = json_object_get(in, "roles"), *orgs = json_object_get(in, "orgs");
	size_t i;
	json_t *v;
	if (strcmp(kind, "space") == 0) {
		if (roles || orgs)
			return tds_error_set(TDS_EINVAL, "invalid_scope", "scope 'space' takes neither roles nor orgs");
		*out = json_pack("{s:s}", "scope", "space");
	} else if (strcmp(kind, "roles") == 0) {
		if (orgs || json_array_size(roles) == 0)
			return tds_error_set(TDS_EINVAL, "invalid_scope", "scope 'roles' takes a non-empty roles array and no orgs");
		json_array_foreach(roles, i, v) {
			tds_roles r;
			if (tds_role_parse(json_string_value(v), &r))
				return tds_error_set(TDS_EINVAL, "invalid_scope", "roles[%zu] is not a role", i);
		}
		*out = json_pack("{s:s, s:O}", "scope", "roles", "roles", roles);
	} else if (strcmp(kind, "orgs") == 0) {
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
	return *out ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
}

/* ---- rows ---- */

static const char *const MIGRATION_SQL =
    "CREATE TABLE resources ("
    "  id TEXT PRIMARY KEY, org_id TEXT, source_id TEXT NOT NULL, name TEXT NOT NULL,"
    "  version INTEGER NOT NULL, metadata TEXT NOT NULL, profile TEXT, scan TEXT NOT NULL,"
    "  level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 4), grade TEXT NOT NULL, approved_level INTEGER,"
    "  status TEXT NOT NULL CHECK (status IN ('pending_review','rejected','approved','published',"
    "                                         'deregistering','deregistered','removed')),"
    "  serial INTEGER UNIQUE, code TEXT UNIQUE, scope TEXT, note TEXT,"
    "  created_by TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) STRICT;"
    "CREATE INDEX resources_org ON resources(org_id, id);"
    "CREATE TABLE resource_reviews ("
    "  id TEXT PRIMARY KEY, resource_id TEXT NOT NULL REFERENCES resources(id), version INTEGER NOT NULL,"
    "  reviewer TEXT, reviewer_org TEXT, decision TEXT NOT NULL CHECK (decision IN ('approve','reject')),"
    "  legality TEXT NOT NULL, masking_adequate INTEGER NOT NULL, filing_status TEXT NOT NULL,"
    "  reasons TEXT NOT NULL, created_at INTEGER NOT NULL) STRICT;"
    "CREATE INDEX resource_reviews_res ON resource_reviews(resource_id, version);";

const char *cat_resource_migration(void) { return MIGRATION_SQL; }

#define RCOLS                                                                                             \
	"id, org_id, source_id, name, version, metadata, profile, scan, level, grade, approved_level, status, " \
	"code, scope, note, created_by, created_at, updated_at"

static json_t *time_json(int64_t ms)
{
	char t[TDS_TIME_MAX];
	return tds_time_format(ms, t) ? json_null() : json_string(t);
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

/* The row as JSON; full adds the profile and the scan. */
static json_t *row_json(sqlite3_stmt *st, bool full)
{
	int level = sqlite3_column_int(st, 8);
	char lv[4];
	snprintf(lv, sizeof lv, "L%d", level);
	tds_anon_grade g;
	const char *grade = (const char *)sqlite3_column_text(st, 9);
	const char *zh = grade && !tds_anon_grade_parse(grade, &g) ? tds_anon_grade_name_zh(g) : NULL;
	json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:I, s:o, s:s, s:o, s:s?, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
			      col_str(st, 0), "org_id", col_str(st, 1), "source_id", col_str(st, 2), "name", col_str(st, 3),
			      "version", (json_int_t)sqlite3_column_int64(st, 4), "metadata", col_json(st, 5), "level", lv,
			      "grade", col_str(st, 9), "grade_zh", zh, "status", col_str(st, 11), "code", col_str(st, 12),
			      "scope", col_json(st, 13), "note", col_str(st, 14), "created_by", col_str(st, 15),
			      "created_at", time_json(sqlite3_column_int64(st, 16)), "updated_at",
			      time_json(sqlite3_column_int64(st, 17)));
	if (o && full) {
		json_object_set_new(o, "profile", col_json(st, 6));
		json_object_set_new(o, "scan", col_json(st, 7));
	}
	return o;
}

/* What the transitions need of a row. */
typedef struct rrow {
	char id[TDS_ID_MAX], org[TDS_ID_MAX], source[TDS_ID_MAX], status[16], created_by[TDS_ID_MAX + 8];
	char code[TDS_RESCODE_MAX];
	bool has_org;
	int64_t version;
	int level, approved_level;
	char *scan;     /* malloc'd */
	char *metadata; /* malloc'd */
} rrow;

static void rrow_free(rrow *r)
{
	free(r->scan);
	free(r->metadata);
	r->scan = r->metadata = NULL;
}

static void cpy(char *dst, size_t cap, sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	snprintf(dst, cap, "%s", s ? s : "");
}

/* Loads a resource; org (NULL = any) must own it. TDS_ENOTFOUND "resource_not_found". */
static int load(sqlite3 *db, const char *org, const char *id, rrow *r)
{
	memset(r, 0, sizeof *r);
	if (!tds_id_valid(id, "res"))
		return tds_error_set(TDS_ENOTFOUND, "resource_not_found", "no such resource");
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT " RCOLS " FROM resources WHERE id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		cpy(r->id, sizeof r->id, st, 0);
		r->has_org = sqlite3_column_type(st, 1) != SQLITE_NULL;
		cpy(r->org, sizeof r->org, st, 1);
		cpy(r->source, sizeof r->source, st, 2);
		r->version = sqlite3_column_int64(st, 4);
		r->level = sqlite3_column_int(st, 8);
		r->approved_level = sqlite3_column_int(st, 10);
		cpy(r->status, sizeof r->status, st, 11);
		cpy(r->code, sizeof r->code, st, 12);
		cpy(r->created_by, sizeof r->created_by, st, 15);
		r->metadata = strdup((const char *)sqlite3_column_text(st, 5));
		r->scan = strdup((const char *)sqlite3_column_text(st, 7));
		if (!r->metadata || !r->scan)
			rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		else if (org && (!r->has_org || strcmp(org, r->org) != 0))
			rc = tds_error_set(TDS_ENOTFOUND, "resource_not_found", "no such resource");
	} else {
		rc = s == SQLITE_DONE ? tds_error_set(TDS_ENOTFOUND, "resource_not_found", "no such resource")
				      : tds_store_error(db, "reading resource");
	}
	sqlite3_finalize(st);
	if (rc)
		rrow_free(r);
	return rc;
}

static int evidence(tds_catalog *c, sqlite3 *db, const char *type, const tds_ledger_actor *actor, const char *id,
		    const char *code, json_t *payload)
{
	if (!payload)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if (!c->ledger) {
		json_decref(payload);
		return tds_error_set(TDS_EINTERNAL, "no_ledger", "the catalog was opened without a ledger: changes need evidence");
	}
	tds_ledger_actor a = actor ? *actor : (tds_ledger_actor){0};
	if (!a.node && c->node_id[0])
		a.node = c->node_id;
	const char *subjects[2] = {id, code};
	tds_ledger_entry_in e = {.type = type, .actor = a, .subjects = subjects, .nsubjects = code && *code ? 2 : 1,
				 .payload = payload};
	uint64_t idx;
	int rc = tds_ledger_append_tx(c->ledger, db, &e, &idx);
	json_decref(payload);
	return rc;
}

static int state_error(const rrow *r, const char *action)
{
	return tds_error_set(TDS_ECONFLICT, "invalid_state", "cannot %s a resource that is %s", action, r->status);
}

static const char *grade_of(const tds_anon_rules *rules, int level)
{
	return tds_anon_grade_name(tds_anon_rules_grade(rules, level));
}

/* Approvals one version needs: two for high-risk resources — level L3 or L4, or a grade of 重要 or
 * 核心 under the rules (the default rules keep L3 at 一般: sensitive personal information is high
 * risk without being important data) — one otherwise. */
static int approvals_needed(const tds_anon_rules *rules, int level)
{
	return level >= 3 || tds_anon_rules_grade(rules, level) >= TDS_ANON_GRADE_IMPORTANT ? 2 : 1;
}

/* ---- operations ---- */

static int offer_tx(tds_catalog *c, sqlite3 *db, const char *id);

typedef enum { OP_CREATE, OP_UPDATE, OP_OVERRIDE, OP_REVIEW, OP_PUBLISH, OP_DEREGISTER, OP_CONFIRM, OP_REMOVE } op_kind;

typedef struct op_ctx {
	tds_catalog *c;
	const tds_anon_rules *rules;
	const tds_ledger_actor *actor;
	const char *org; /* scope of provider operations (NULL = any) */
	const char *id;
	const json_t *in;
	op_kind op;
	/* create and update */
	json_t *md;     /* metadata */
	char *scan;     /* scan JSON */
	char *profile;  /* profile JSON */
	int level;
	const char *name, *source;
	char owner[TDS_ID_MAX]; /* the source's organisation, which owns the resource ("" = none) */
	char new_id[TDS_ID_MAX];
} op_ctx;

/* Runs an UPDATE whose parameters are ?1 the id, ?2 the time now, ?3 text a and ?4 either text b or,
 * when b is NULL and n >= 0, the integer n (unbound parameters are NULL). */
static int exec_update_n(sqlite3 *db, const char *sql, const char *id, const char *a, const char *b, int64_t n)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, sql, &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, tds_now_ms());
	if (a)
		sqlite3_bind_text(st, 3, a, -1, SQLITE_STATIC);
	if (b)
		sqlite3_bind_text(st, 4, b, -1, SQLITE_STATIC);
	else if (n >= 0)
		sqlite3_bind_int64(st, 4, n);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "updating resource");
	sqlite3_finalize(st);
	return rc;
}

static int exec_update(sqlite3 *db, const char *sql, const char *id, const char *a, const char *b)
{
	return exec_update_n(db, sql, id, a, b, -1);
}

static int create_tx(sqlite3 *db, void *arg)
{
	op_ctx *x = arg;
	char *md = tds_json_dumps(x->md);
	sqlite3_stmt *st;
	int rc = md ? tds_store_prepare(db, "INSERT INTO resources (id, org_id, source_id, name, version, metadata, profile,"
					    " scan, level, grade, status, created_by, created_at, updated_at)"
					    " VALUES (?,?,?,?,1,?,?,?,?,?,'pending_review',?,?,?)", &st)
		    : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if (rc) {
		free(md);
		return rc;
	}
	int64_t now = tds_now_ms();
	sqlite3_bind_text(st, 1, x->new_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, x->owner[0] ? x->owner : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, x->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, x->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, md, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, x->profile, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, x->scan, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 8, x->level);
	sqlite3_bind_text(st, 9, grade_of(x->rules, x->level), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, x->actor->account, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 11, now);
	sqlite3_bind_int64(st, 12, now);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "inserting resource");
	sqlite3_finalize(st);
	free(md);
	if (!rc)
		rc = evidence(x->c, db, "catalog.resource_registered", x->actor, x->new_id, NULL,
			      json_pack("{s:s, s:s, s:i, s:s, s:i}", "source_id", x->source, "name", x->name, "level", x->level,
					"grade", grade_of(x->rules, x->level), "approvals_needed",
					approvals_needed(x->rules, x->level)));
	return rc;
}

static int update_tx(sqlite3 *db, void *arg)
{
	op_ctx *x = arg;
	rrow r;
	int rc = load(db, x->org, x->id, &r);
	if (rc)
		return rc;
	if (strcmp(r.status, "pending_review") && strcmp(r.status, "rejected") && strcmp(r.status, "approved") &&
	    strcmp(r.status, "published")) {
		rc = state_error(&r, "update");
		goto out;
	}
	/* merge the new metadata over the stored one */
	json_t *old = json_loads(r.metadata, 0, NULL);
	if (!old) {
		rc = tds_error_set(TDS_EINTERNAL, NULL, "stored metadata of %s is not JSON", r.id);
		goto out;
	}
	json_object_update(old, x->md);
	char *md = tds_json_dumps(old);
	json_decref(old);
	bool approved = !strcmp(r.status, "approved") || !strcmp(r.status, "published");
	bool rereview = !strcmp(r.status, "rejected") || (approved && x->level > r.approved_level);
	const char *status = rereview ? "pending_review" : r.status;
	sqlite3_stmt *st;
	if (!md || (rc = tds_store_prepare(db, "UPDATE resources SET version = version + 1, metadata = ?, name = ifnull(?, name),"
					       " profile = ?, scan = ?, level = ?, grade = ?, status = ?, updated_at = ?"
					       " WHERE id = ?", &st))) {
		rc = rc ? rc : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		free(md);
		goto out;
	}
	sqlite3_bind_text(st, 1, md, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, x->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, x->profile, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, x->scan, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, x->level);
	sqlite3_bind_text(st, 6, grade_of(x->rules, x->level), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, tds_now_ms());
	sqlite3_bind_text(st, 9, r.id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "updating resource");
	sqlite3_finalize(st);
	free(md);
	if (!rc)
		rc = evidence(x->c, db, "catalog.resource_updated", x->actor, r.id, r.code,
			      json_pack("{s:I, s:i, s:s, s:b, s:s}", "version", (json_int_t)(r.version + 1), "level", x->level,
					"grade", grade_of(x->rules, x->level), "rereview", rereview, "status", status));
	if (!rc && approved)
		rc = offer_tx(x->c, db, r.id);
out:
	rrow_free(&r);
	return rc;
}

/* The reviewer may not review what its own organisation (or itself) registered. */
static bool self_review(const rrow *r, const tds_ledger_actor *a)
{
	return (r->has_org && a->org && strcmp(r->org, a->org) == 0) ||
	       (a->account && r->created_by[0] && strcmp(r->created_by, a->account) == 0);
}

static int override_tx(sqlite3 *db, void *arg)
{
	op_ctx *x = arg;
	rrow r;
	int rc = load(db, NULL, x->id, &r);
	if (rc)
		return rc;
	tds_anon_table *t = NULL;
	json_t *scan = NULL, *o = NULL;
	char *s = NULL;
	if (strcmp(r.status, "pending_review")) {
		rc = state_error(&r, "override a column of");
		goto out;
	}
	if (!(scan = json_loads(r.scan, 0, NULL)) || !(o = json_deep_copy(x->in))) {
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto out;
	}
	if (json_object_get(o, "by")) {
		rc = tds_error_set(TDS_EINVAL, "invalid_field", "field 'by' is set by the server: the reviewer's account");
		goto out;
	}
	if (x->actor->account)
		json_object_set_new(o, "by", json_string(x->actor->account));
	if ((rc = tds_anon_table_from_json(x->rules, scan, &t)) || (rc = tds_anon_override_json(t, o)))
		goto out;
	json_t *nj = tds_anon_table_json(t);
	s = nj ? tds_json_dumps(nj) : NULL;
	json_decref(nj);
	int level = tds_anon_table_summary(t)->level;
	if (!s) {
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto out;
	}
	sqlite3_stmt *st;
	if ((rc = tds_store_prepare(db, "UPDATE resources SET scan = ?, level = ?, grade = ?, updated_at = ? WHERE id = ?", &st)))
		goto out;
	sqlite3_bind_text(st, 1, s, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, level);
	sqlite3_bind_text(st, 3, grade_of(x->rules, level), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, tds_now_ms());
	sqlite3_bind_text(st, 5, r.id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "updating resource");
	sqlite3_finalize(st);
	if (rc)
		goto out;
	rc = evidence(x->c, db, "catalog.resource_overridden", x->actor, r.id, NULL,
		      json_pack("{s:s, s:s, s:i, s:s}", "column", tds_json_str(x->in, "column", ""), "reason",
				tds_json_str(x->in, "reason", ""), "level", level, "grade", grade_of(x->rules, level)));
out:
	free(s);
	json_decref(o);
	json_decref(scan);
	tds_anon_table_free(t);
	rrow_free(&r);
	return rc;
}

static int review_tx(sqlite3 *db, void *arg)
{
	op_ctx *x = arg;
	rrow r;
	int rc = load(db, NULL, x->id, &r);
	if (rc)
		return rc;
	const json_t *in = x->in;
	const char *decision = tds_json_str(in, "decision", "");
	bool approve = strcmp(decision, "approve") == 0;
	sqlite3_stmt *st = NULL;
	char rid[TDS_ID_MAX], *reasons = NULL;
	int approvals = 0, needed = approvals_needed(x->rules, r.level);
	if (strcmp(r.status, "pending_review")) {
		rc = state_error(&r, "review");
		goto out;
	}
	/* a second approval must come from another reviewer */
	if ((rc = tds_store_prepare(db, "SELECT count(*) FROM resource_reviews WHERE resource_id = ? AND version = ?"
				       " AND decision = 'approve' AND reviewer IS ?", &st)))
		goto out;
	sqlite3_bind_text(st, 1, r.id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r.version);
	sqlite3_bind_text(st, 3, x->actor->account, -1, SQLITE_STATIC);
	bool again = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
	sqlite3_finalize(st);
	st = NULL;
	if (again) {
		rc = tds_error_set(TDS_ECONFLICT, "second_reviewer_required",
				   "this reviewer already approved version %lld; a different reviewer must give the second approval",
				   (long long)r.version);
		goto out;
	}
	json_t *rs = json_object_get(in, "reasons");
	reasons = rs ? tds_json_dumps(rs) : strdup("[]");
	if (!reasons || (rc = tds_id_new("rrv", rid)) ||
	    (rc = tds_store_prepare(db, "INSERT INTO resource_reviews (id, resource_id, version, reviewer, reviewer_org,"
					" decision, legality, masking_adequate, filing_status, reasons, created_at)"
					" VALUES (?,?,?,?,?,?,?,?,?,?,?)", &st))) {
		rc = rc ? rc : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto out;
	}
	sqlite3_bind_text(st, 1, rid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r.id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, r.version);
	sqlite3_bind_text(st, 4, x->actor->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, x->actor->org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, decision, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, tds_json_str(in, "legality", ""), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 8, tds_json_bool(in, "masking_adequate", false));
	sqlite3_bind_text(st, 9, tds_json_str(in, "filing_status", ""), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, reasons, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 11, tds_now_ms());
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = tds_store_error(db, "inserting review");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = tds_store_prepare(db, "SELECT count(DISTINCT ifnull(reviewer, id)) FROM resource_reviews"
					" WHERE resource_id = ? AND version = ? AND decision = 'approve'", &st)))
		goto out;
	sqlite3_bind_text(st, 1, r.id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r.version);
	if (sqlite3_step(st) == SQLITE_ROW)
		approvals = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	const char *status = !approve ? "rejected" : approvals >= needed ? "approved" : "pending_review";
	char code[TDS_RESCODE_MAX];
	snprintf(code, sizeof code, "%s", r.code);
	if (!strcmp(status, "approved") && !code[0]) {
		/* the next serial of this space: serials are never reused, even after removal */
		uint64_t serial = 1;
		if ((rc = tds_store_prepare(db, "SELECT ifnull(max(serial), 0) + 1 FROM resources", &st)))
			goto out;
		if (sqlite3_step(st) == SQLITE_ROW)
			serial = (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		st = NULL;
		if ((rc = tds_rescode_format(x->c->code_base, serial, code, sizeof code)))
			goto out;
		if ((rc = exec_update_n(db, "UPDATE resources SET updated_at = ?2, code = ?3, serial = ?4 WHERE id = ?1", r.id,
					code, NULL, (int64_t)serial)))
			goto out;
	}
	if (!strcmp(status, "approved")) {
		rc = exec_update_n(db, "UPDATE resources SET updated_at = ?2, status = ?3, approved_level = ?4 WHERE id = ?1",
				   r.id, status, NULL, r.level);
	} else {
		rc = exec_update(db, "UPDATE resources SET updated_at = ?2, status = ?3 WHERE id = ?1", r.id, status, NULL);
	}
	if (!rc)
		rc = evidence(x->c, db, "catalog.resource_reviewed", x->actor, r.id, code,
			      json_pack("{s:s, s:I, s:s, s:b, s:s, s:o, s:i, s:i, s:s, s:s?}", "decision", decision, "version",
					(json_int_t)r.version, "legality", tds_json_str(in, "legality", ""), "masking_adequate",
					tds_json_bool(in, "masking_adequate", false), "filing_status",
					tds_json_str(in, "filing_status", ""), "reasons", rs ? json_incref(rs) : json_array(), "approvals",
					approvals, "approvals_needed", needed, "status", status, "code",
					code[0] ? code : NULL));
out:
	sqlite3_finalize(st);
	free(reasons);
	rrow_free(&r);
	return rc;
}

static int simple_tx(sqlite3 *db, void *arg)
{
	op_ctx *x = arg;
	rrow r;
	int rc = load(db, x->org, x->id, &r);
	if (rc)
		return rc;
	json_t *scope = NULL, *payload = NULL;
	const char *type = NULL;
	const char *reason = tds_json_str(x->in, "reason", NULL);
	switch (x->op) {
	case OP_PUBLISH:
		if (strcmp(r.status, "approved") && strcmp(r.status, "published")) {
			rc = state_error(&r, "publish");
			break;
		}
		if ((rc = check_scope(x->in, &scope)))
			break;
		{
			char *s = tds_json_dumps(scope);
			rc = s ? exec_update(db, "UPDATE resources SET updated_at = ?2, status = 'published', scope = ?3 WHERE id = ?1",
					     r.id, s, NULL)
			       : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
			free(s);
		}
		type = "catalog.resource_published";
		payload = json_pack("{s:O, s:I}", "scope", scope, "version", (json_int_t)r.version);
		break;
	case OP_DEREGISTER:
		if (strcmp(r.status, "approved") && strcmp(r.status, "published")) {
			rc = state_error(&r, "deregister");
			break;
		}
		rc = exec_update(db, "UPDATE resources SET updated_at = ?2, status = 'deregistering', note = ?3 WHERE id = ?1",
				 r.id, reason, NULL);
		type = "catalog.resource_deregister_requested";
		payload = json_pack("{s:s}", "reason", reason);
		break;
	case OP_CONFIRM:
		if (strcmp(r.status, "deregistering")) {
			rc = state_error(&r, "confirm the deregistration of");
			break;
		}
		rc = exec_update(db, "UPDATE resources SET updated_at = ?2, status = 'deregistered', scope = NULL,"
				     " note = ifnull(?3, note) WHERE id = ?1", r.id, tds_json_str(x->in, "note", NULL), NULL);
		type = "catalog.resource_deregistered";
		payload = json_pack("{s:b, s:s?}", "copies_destroyed", 1, "note", tds_json_str(x->in, "note", NULL));
		break;
	case OP_REMOVE:
		if (!strcmp(r.status, "deregistered") || !strcmp(r.status, "removed")) {
			rc = state_error(&r, "remove");
			break;
		}
		rc = exec_update(db, "UPDATE resources SET updated_at = ?2, status = 'removed', scope = NULL, note = ?3 WHERE id = ?1",
				 r.id, reason, NULL);
		type = "catalog.resource_removed";
		payload = json_pack("{s:s, s:s}", "reason", reason, "previous_status", r.status);
		break;
	default:
		rc = tds_error_set(TDS_EINTERNAL, NULL, "unknown resource operation");
	}
	if (!rc)
		rc = evidence(x->c, db, type, x->actor, r.id, r.code, payload);
	else
		json_decref(payload);
	if (!rc)
		rc = offer_tx(x->c, db, r.id);
	if (!rc && (x->op == OP_DEREGISTER || x->op == OP_REMOVE)) /* its listed products go with it */
		rc = cat_products_resource_withdrawn_tx(x->c, db, x->actor, r.id);
	json_decref(scope);
	rrow_free(&r);
	return rc;
}

/* ---- the fused catalog (catalog.h section 10) ---- */

/* Offers resource `id`'s state to the operator's fused catalog through the outbox, in the caller's
 * transaction: the entry while it is published, a withdrawal once it is not (only if it was ever
 * offered). Entry versions count the offers (a publication with a new scope keeps the resource's
 * version but must replace the operator's copy). */
static int offer_tx(tds_catalog *c, sqlite3 *db, const char *id)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT " RCOLS " FROM resources WHERE id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = tds_store_error(db, "reading resource");
		sqlite3_finalize(st);
		return rc;
	}
	int64_t version;
	bool offered;
	bool published = !strcmp((const char *)sqlite3_column_text(st, 11), "published");
	if ((rc = cat_outbox_next_version(db, "resource", id, &version, &offered)) || (!published && !offered)) {
		sqlite3_finalize(st);
		return rc;
	}
	json_t *e;
	if (!published) {
		e = json_pack("{s:s, s:s, s:I, s:b}", "kind", "resource", "id", id, "version", (json_int_t)version, "withdrawn", 1);
	} else {
		json_t *row = row_json(st, true), *md = json_object_get(row, "metadata"), *fields = json_array();
		const json_t *cols = json_object_get(json_array_get(json_object_get(json_object_get(row, "profile"), "tables"), 0),
						     "columns");
		size_t i;
		json_t *col;
		json_array_foreach(cols, i, col) {
			if (i >= 2000)
				break;
			const char *label = tds_json_str(col, "label", NULL);
			json_array_append_new(fields, json_pack("{s:O, s:s?, s:O}", "name", json_object_get(col, "name"), "label",
								label && strlen(label) <= 256 ? label : NULL, "type",
								json_object_get(col, "type")));
		}
		e = json_pack("{s:s, s:s, s:I, s:O, s:O, s:O, s:O?, s:n, s:O?, s:o, s:O, s:s, s:O?, s:o, s:O, s:O}", "kind",
			      "resource", "id", id, "version", (json_int_t)version, "code", json_object_get(row, "code"), "org_id",
			      json_object_get(row, "org_id"), "title", json_object_get(row, "name"), "description",
			      json_object_get(md, "description"), "form", "domain", json_object_get(md, "domain"), "tags",
			      json_is_array(json_object_get(md, "tags")) ? json_incref(json_object_get(md, "tags")) : json_array(),
			      "grade", json_object_get(row, "grade_zh"), "level", json_string_value(json_object_get(row, "level")),
			      "update_frequency", json_object_get(md, "update_frequency"), "fields", fields, "scope",
			      json_object_get(row, "scope"), "modified", json_object_get(row, "updated_at"));
		json_decref(row);
	}
	sqlite3_finalize(st);
	if (!e)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	rc = cat_outbox_add_tx(c, db, e);
	json_decref(e);
	return rc;
}

/* ---- public face ---- */

static int get_json(tds_catalog *c, const char *org, const char *id, const char *code, json_t **out)
{
	*out = NULL;
	sqlite3 *db = tds_store_conn(c->store);
	if (!db)
		return tds_error_code();
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, code ? "SELECT " RCOLS " FROM resources WHERE code = ?"
					    : "SELECT " RCOLS " FROM resources WHERE id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, code ? code : id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW &&
	    (!org || (sqlite3_column_type(st, 1) != SQLITE_NULL && !strcmp(org, (const char *)sqlite3_column_text(st, 1)))))
		*out = row_json(st, true);
	else
		rc = tds_error_set(TDS_ENOTFOUND, "resource_not_found", "no such resource");
	sqlite3_finalize(st);
	if (rc || !*out)
		return rc ? rc : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	/* the reviews of every version, oldest first */
	json_t *reviews = json_array();
	int64_t version = json_integer_value(json_object_get(*out, "version"));
	int approvals = 0;
	if ((rc = tds_store_prepare(db, "SELECT id, version, reviewer, reviewer_org, decision, legality, masking_adequate,"
					" filing_status, reasons, created_at FROM resource_reviews WHERE resource_id = ?"
					" ORDER BY created_at, id", &st))) {
		json_decref(reviews);
		json_decref(*out);
		*out = NULL;
		return rc;
	}
	sqlite3_bind_text(st, 1, json_string_value(json_object_get(*out, "id")), -1, SQLITE_TRANSIENT);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (sqlite3_column_int64(st, 1) == version && !strcmp((const char *)sqlite3_column_text(st, 4), "approve"))
			approvals++;
		json_array_append_new(reviews,
				      json_pack("{s:o, s:I, s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:o}", "id", col_str(st, 0),
						"version", (json_int_t)sqlite3_column_int64(st, 1), "reviewer", col_str(st, 2),
						"reviewer_org", col_str(st, 3), "decision", col_str(st, 4), "legality",
						col_str(st, 5), "masking_adequate", sqlite3_column_int(st, 6), "filing_status",
						col_str(st, 7), "reasons", col_json(st, 8), "at",
						time_json(sqlite3_column_int64(st, 9))));
	}
	sqlite3_finalize(st);
	json_object_set_new(*out, "reviews", reviews);
	json_object_set_new(*out, "approvals", json_integer(approvals));
	const tds_anon_rules *rules;
	const char *lv = json_string_value(json_object_get(*out, "level"));
	if (!rules_of(c, &rules) && lv)
		json_object_set_new(*out, "approvals_needed", json_integer(approvals_needed(rules, lv[1] - '0')));
	return 0;
}

int tds_catalog_resource_get(tds_catalog *c, const char *org, const char *id, json_t **out)
{
	*out = NULL;
	if (!tds_id_valid(id, "res"))
		return tds_error_set(TDS_ENOTFOUND, "resource_not_found", "no such resource");
	return get_json(c, org, id, NULL, out);
}

int tds_catalog_resource_by_code(tds_catalog *c, const char *org, const char *code, json_t **out)
{
	*out = NULL;
	int rc = tds_rescode_parse(c->code_base, code, NULL);
	return rc ? rc : get_json(c, org, NULL, code, out);
}

int tds_catalog_resource_list(tds_catalog *c, const char *org, const char *status, int limit, const char *cursor,
			      json_t **out)
{
	*out = NULL;
	static const char *const STATES[] = {"pending_review", "rejected",	 "approved", "published",
					     "deregistering",  "deregistered", "removed"};
	bool known = !status;
	for (size_t i = 0; status && i < TDS_ARRAY_LEN(STATES); i++)
		known |= strcmp(status, STATES[i]) == 0;
	if (!known)
		return tds_error_set(TDS_EINVAL, "invalid_status",
				     "status must be pending_review, rejected, approved, published, deregistering, deregistered or removed");
	if (cursor && !tds_id_valid(cursor, "res"))
		return tds_error_set(TDS_EINVAL, "invalid_cursor", "cursor must be a resource id from next_cursor");
	if (limit < 1 || limit > 500)
		limit = 50;
	sqlite3 *db = tds_store_conn(c->store);
	if (!db)
		return tds_error_code();
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT " RCOLS " FROM resources WHERE (?1 IS NULL OR org_id = ?1)"
				       " AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR id > ?3) ORDER BY id LIMIT ?4", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, cursor, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, limit + 1);
	json_t *items = json_array();
	int n = 0, s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW && n < limit) {
		json_array_append_new(items, row_json(st, false));
		n++;
	}
	bool more = s == SQLITE_ROW;
	if (s != SQLITE_ROW && s != SQLITE_DONE)
		rc = tds_store_error(db, "listing resources");
	sqlite3_finalize(st);
	if (rc) {
		json_decref(items);
		return rc;
	}
	json_t *last = json_array_get(items, json_array_size(items) - 1);
	*out = json_pack("{s:o, s:O?}", "items", items, "next_cursor", more && last ? json_object_get(last, "id") : NULL);
	return *out ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
}

/* Scans the source and fills x->scan, x->profile, x->level; `old_scan` (may be NULL) gives
 * overrides to keep. */
static int prepare_scan(op_ctx *x, const char *org, const char *old_scan)
{
	json_t *src = NULL, *old = NULL;
	tds_anon_table *t = NULL;
	int rc = tds_catalog_source_get(x->c, org, x->source, &src);
	if (rc)
		return rc;
	const json_t *meta = json_object_get(src, "metadata");
	snprintf(x->owner, sizeof x->owner, "%s", tds_json_str(src, "org_id", ""));
	if (strcmp(tds_json_str(src, "status", ""), "imported") != 0 || !json_is_object(meta)) {
		rc = tds_error_set(TDS_EUNPROC, "not_imported", "import the source before registering a resource on it");
		goto out;
	}
	if ((rc = scan_source(x->c, x->rules, x->source, meta, &t)))
		goto out;
	if (old_scan && (!(old = json_loads(old_scan, 0, NULL)) || (rc = keep_overrides(x->rules, old, t)))) {
		rc = rc ? rc : tds_error_set(TDS_EINTERNAL, NULL, "stored scan is not JSON");
		goto out;
	}
	json_t *sj = tds_anon_table_json(t);
	x->scan = sj ? tds_json_dumps(sj) : NULL;
	json_decref(sj);
	x->profile = tds_json_dumps(meta);
	x->level = tds_anon_table_summary(t)->level;
	if (!x->scan || !x->profile)
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
out:
	json_decref(old);
	json_decref(src);
	tds_anon_table_free(t);
	return rc;
}

static void op_free(op_ctx *x)
{
	json_decref(x->md);
	free(x->scan);
	free(x->profile);
}

int tds_catalog_resource_create(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const json_t *in,
				json_t **out)
{
	*out = NULL;
	op_ctx x = {.c = c, .actor = actor, .in = in, .op = OP_CREATE, .md = json_object()};
	int rc = x.md ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if (!rc)
		rc = check_meta(in, true, x.md);
	if (!rc) {
		x.name = tds_json_str(in, "name", NULL);
		x.source = tds_json_str(in, "source_id", NULL);
		if (!tds_id_valid(x.source, "src"))
			rc = tds_error_set(TDS_EINVAL, "invalid_source_id", "source_id must be a source id (src_…)");
	}
	if (!rc && !(rc = rules_of(c, &x.rules)) && !(rc = prepare_scan(&x, org, NULL)) && !(rc = tds_id_new("res", x.new_id)) &&
	    !(rc = tds_store_tx(c->store, create_tx, &x)))
		rc = tds_catalog_resource_get(c, NULL, x.new_id, out);
	op_free(&x);
	return rc;
}

int tds_catalog_resource_update(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const char *id,
				const json_t *in, json_t **out)
{
	*out = NULL;
	op_ctx x = {.c = c, .actor = actor, .org = org, .id = id, .in = in, .op = OP_UPDATE, .md = json_object()};
	rrow r = {0};
	sqlite3 *db = tds_store_conn(c->store);
	int rc = !db ? tds_error_code() : x.md ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if (!rc)
		rc = load(db, org, id, &r);
	if (!rc)
		rc = check_meta(in, false, x.md);
	if (!rc) {
		x.name = tds_json_str(in, "name", NULL);
		x.source = r.source;
		if (!(rc = rules_of(c, &x.rules)) && !(rc = prepare_scan(&x, NULL, r.scan)) &&
		    !(rc = tds_store_tx(c->store, update_tx, &x)))
			rc = tds_catalog_resource_get(c, NULL, id, out);
	}
	rrow_free(&r);
	op_free(&x);
	return rc;
}

typedef struct refuse_ctx {
	tds_catalog *c;
	const tds_ledger_actor *actor;
	const char *id, *what;
} refuse_ctx;

static int refuse_tx(sqlite3 *db, void *arg)
{
	refuse_ctx *x = arg;
	return evidence(x->c, db, "catalog.resource_review_refused", x->actor, x->id, NULL,
			json_pack("{s:s, s:s}", "action", x->what, "reason", "self_review"));
}

/* Refuses (TDS_EPERM "self_review") a reviewer acting on a resource its own organisation or itself
 * registered, evidencing the refusal in a transaction of its own. */
static int refuse_self(tds_catalog *c, const tds_ledger_actor *actor, const char *id, const char *what)
{
	sqlite3 *db = tds_store_conn(c->store);
	rrow r;
	int rc = !db ? tds_error_code() : load(db, NULL, id, &r);
	if (rc)
		return rc;
	bool self = self_review(&r, actor);
	rrow_free(&r);
	if (!self)
		return 0;
	refuse_ctx x = {c, actor, id, what};
	if ((rc = tds_store_tx(c->store, refuse_tx, &x)))
		return rc;
	return tds_error_set(TDS_EPERM, "self_review",
			     "a reviewer may not %s a resource registered by its own organisation or by itself", what);
}

int tds_catalog_resource_override(tds_catalog *c, const tds_ledger_actor *actor, const char *id, const json_t *in,
				  json_t **out)
{
	*out = NULL;
	op_ctx x = {.c = c, .actor = actor, .id = id, .in = in, .op = OP_OVERRIDE};
	int rc = json_is_object(in) ? 0 : tds_error_set(TDS_EINVAL, "invalid_body", "the body must be a JSON object");
	if (!rc && !(rc = refuse_self(c, actor, id, "override")) && !(rc = rules_of(c, &x.rules)) &&
	    !(rc = tds_store_tx(c->store, override_tx, &x)))
		rc = tds_catalog_resource_get(c, NULL, id, out);
	return rc;
}

int tds_catalog_resource_review(tds_catalog *c, const tds_ledger_actor *actor, const char *id, const json_t *in,
				json_t **out)
{
	static const tds_json_field f[] = {
	    {"decision", TDS_JSON_STRING, true, 8},	{"legality", TDS_JSON_STRING, true, 16},
	    {"masking_adequate", TDS_JSON_BOOL, true, 0}, {"filing_status", TDS_JSON_STRING, true, 16},
	    {"reasons", TDS_JSON_STRING_ARRAY, false, 16},
	};
	*out = NULL;
	op_ctx x = {.c = c, .actor = actor, .id = id, .in = in, .op = OP_REVIEW};
	int rc = tds_json_check(in, f, TDS_ARRAY_LEN(f), false);
	if (rc)
		return rc;
	const char *d = tds_json_str(in, "decision", ""), *leg = tds_json_str(in, "legality", ""),
		   *fil = tds_json_str(in, "filing_status", "");
	const json_t *reasons = json_object_get(in, "reasons");
	size_t i;
	json_t *v;
	if (strcmp(d, "approve") && strcmp(d, "reject"))
		return tds_error_set(TDS_EINVAL, "invalid_decision", "decision must be approve or reject");
	if (strcmp(leg, "compliant") && strcmp(leg, "non_compliant"))
		return tds_error_set(TDS_EINVAL, "invalid_legality", "legality must be compliant or non_compliant");
	if (strcmp(fil, "filed") && strcmp(fil, "not_required") && strcmp(fil, "pending"))
		return tds_error_set(TDS_EINVAL, "invalid_filing_status", "filing_status must be filed, not_required or pending");
	json_array_foreach(reasons, i, v) {
		const char *s = json_string_value(v);
		if (!*s || strlen(s) > 1000 || !printable(s))
			return tds_error_set(TDS_EINVAL, "invalid_reason", "reasons[%zu] must be 1-1000 bytes of text", i);
	}
	bool approve = d[0] == 'a';
	if (!approve && json_array_size(reasons) == 0)
		return tds_error_set(TDS_EINVAL, "reasons_required", "a rejection gives at least one reason");
	if (approve && (strcmp(leg, "compliant") || !tds_json_bool(in, "masking_adequate", false) || !strcmp(fil, "pending")))
		return tds_error_set(TDS_EUNPROC, "inconsistent_review",
				     "an approval needs legality compliant, masking_adequate true and a filing status of filed or "
				     "not_required; reject instead, with reasons");
	if (!(rc = refuse_self(c, actor, id, "review")) && !(rc = rules_of(c, &x.rules)) &&
	    !(rc = tds_store_tx(c->store, review_tx, &x)))
		rc = tds_catalog_resource_get(c, NULL, id, out);
	return rc;
}

static int simple(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const char *id, const json_t *in,
		  op_kind op, json_t **out)
{
	*out = NULL;
	op_ctx x = {.c = c, .actor = actor, .org = org, .id = id, .in = in, .op = op};
	int rc = tds_store_tx(c->store, simple_tx, &x);
	return rc ? rc : tds_catalog_resource_get(c, NULL, id, out);
}

int tds_catalog_resource_publish(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const char *id,
				 const json_t *in, json_t **out)
{
	json_t *scope;
	int rc = check_scope(in, &scope); /* bad input is 400 whatever the state */
	json_decref(scope);
	return rc ? rc : simple(c, actor, org, id, in, OP_PUBLISH, out);
}

static int reason_only(const json_t *in, const char *extra)
{
	tds_json_field f[] = {{"reason", TDS_JSON_STRING, true, 1000}, {extra, TDS_JSON_STRING, false, 1000}};
	int rc = tds_json_check(in, f, extra ? 2 : 1, false);
	const char *r = tds_json_str(in, "reason", "");
	if (!rc && (!*r || !printable(r)))
		rc = tds_error_set(TDS_EINVAL, "invalid_reason", "reason must be 1-1000 bytes of text without control characters");
	return rc;
}

int tds_catalog_resource_deregister(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const char *id,
				    const json_t *in, json_t **out)
{
	int rc = reason_only(in, NULL);
	return rc ? (*out = NULL, rc) : simple(c, actor, org, id, in, OP_DEREGISTER, out);
}

int tds_catalog_resource_confirm_deregistration(tds_catalog *c, const tds_ledger_actor *actor, const char *id,
						 const json_t *in, json_t **out)
{
	static const tds_json_field f[] = {{"copies_destroyed", TDS_JSON_BOOL, true, 0}, {"note", TDS_JSON_STRING, false, 1000}};
	*out = NULL;
	int rc = tds_json_check(in, f, TDS_ARRAY_LEN(f), false);
	if (rc)
		return rc;
	const char *note = tds_json_str(in, "note", NULL);
	if (note && !printable(note))
		return tds_error_set(TDS_EINVAL, "invalid_note", "note may not hold control characters");
	if (!tds_json_bool(in, "copies_destroyed", false))
		return tds_error_set(TDS_EUNPROC, "copies_not_destroyed",
				     "confirm only once every hosted copy is destroyed (copies_destroyed: true)");
	return simple(c, actor, NULL, id, in, OP_CONFIRM, out);
}

int tds_catalog_resource_remove(tds_catalog *c, const tds_ledger_actor *actor, const char *id, const json_t *in,
				json_t **out)
{
	int rc = reason_only(in, NULL);
	return rc ? (*out = NULL, rc) : simple(c, actor, NULL, id, in, OP_REMOVE, out);
}
