/*
 * fused.c — the fused catalog (融合目录, catalog.h section 10): the outbox on every node and its
 * sender, the operator's entries from every connector and imported public-data items, search with
 * Chinese support, related entries, popularity and the DCAT 3 view.
 *
 * Not for products or resources themselves (product.c, resource.c), which only add outbox rows, nor
 * for HTTP (routes.c).
 *
 * Storage (catalog migration 4):
 *   catalog_outbox       rows to send to the operator, in seq order; sent_at once the operator
 *                        answered, failed_at + error when it refused the row for good (4xx)
 *   catalog_entries      one row per entry id (ids are ULIDs: one id, one kind, one provider org);
 *                        the normalised entry JSON plus the columns filters and sorts read
 *   catalog_entry_orgs   the organisations of an {"scope":"orgs"} entry
 *   catalog_tags         tag → entry, for related suggestions
 *   catalog_usage        entry × organisation use counts (orders, views reported by contracts)
 *   catalog_fts          FTS5 (unicode61) over title, tags, fields and body, where every run of
 *                        CJK characters is indexed as its overlapping bigrams plus its last
 *                        character (docs/architecture.md decision 47): a 2-character query is one
 *                        token, a longer one a phrase of bigrams, a single character a prefix query.
 *
 * Invariants: a catalog_entries row exists for every id ever received (a withdrawal of an unknown id
 * leaves a tombstone, so an older copy arriving late cannot bring it back); its version only grows;
 * catalog_fts holds exactly the rows that are not withdrawn; every applied change commits with its
 * evidence entry (catalog.entry_received | catalog.entry_withdrawn).
 */
#include "catalog/internal.h"

#include "http/http.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char MIGRATION_SQL[] =
    "CREATE TABLE catalog_outbox ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, entry_id TEXT NOT NULL,"
    "  version INTEGER NOT NULL, entry TEXT NOT NULL, created_at INTEGER NOT NULL, sent_at INTEGER,"
    "  attempts INTEGER NOT NULL DEFAULT 0, failed_at INTEGER, error TEXT) STRICT;"
    "CREATE INDEX catalog_outbox_pending ON catalog_outbox(seq) WHERE sent_at IS NULL AND failed_at IS NULL;"
    "CREATE INDEX catalog_outbox_entry ON catalog_outbox(kind, entry_id, version);"
    "CREATE TABLE catalog_entries ("
    "  n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
    "  kind TEXT NOT NULL CHECK (kind IN ('product','resource','public_item')),"
    "  org_id TEXT NOT NULL, code TEXT, version INTEGER NOT NULL, withdrawn INTEGER NOT NULL,"
    "  title TEXT, form TEXT, domain TEXT, grade TEXT, update_frequency TEXT, authorization_type TEXT,"
    "  scope_kind TEXT NOT NULL CHECK (scope_kind IN ('space','roles','orgs')), scope_roles INTEGER NOT NULL,"
    "  entry TEXT NOT NULL, issued INTEGER, modified INTEGER NOT NULL, received_at INTEGER NOT NULL,"
    "  popularity INTEGER NOT NULL DEFAULT 0) STRICT;"
    "CREATE INDEX catalog_entries_code ON catalog_entries(code) WHERE code IS NOT NULL;"
    "CREATE INDEX catalog_entries_recent ON catalog_entries(withdrawn, modified);"
    "CREATE INDEX catalog_entries_popular ON catalog_entries(withdrawn, popularity, modified);"
    "CREATE INDEX catalog_entries_org ON catalog_entries(org_id, kind, title);"
    "CREATE TABLE catalog_entry_orgs (n INTEGER NOT NULL, org_id TEXT NOT NULL,"
    "  PRIMARY KEY (n, org_id)) STRICT, WITHOUT ROWID;"
    "CREATE TABLE catalog_tags (tag TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (tag, n)) STRICT, WITHOUT ROWID;"
    "CREATE INDEX catalog_tags_entry ON catalog_tags(n);"
    "CREATE TABLE catalog_usage (n INTEGER NOT NULL, org_id TEXT NOT NULL, uses INTEGER NOT NULL,"
    "  last_at INTEGER NOT NULL, PRIMARY KEY (n, org_id)) STRICT, WITHOUT ROWID;"
    "CREATE INDEX catalog_usage_org ON catalog_usage(org_id, n);"
    "CREATE VIRTUAL TABLE catalog_fts USING fts5(title, tags, fields, body,"
    "  tokenize = 'unicode61 remove_diacritics 2', prefix = '1');"
    "INSERT INTO catalog_fts (catalog_fts, rank) VALUES ('rank', 'bm25(8.0, 4.0, 2.0, 1.0)');";

const char *cat_fused_migration(void) { return MIGRATION_SQL; }

void tds_catalog_set_operator(tds_catalog *c, bool is_operator) { c->is_operator = is_operator; }

/* ---- outbox (every node) ---- */

int cat_outbox_add_tx(tds_catalog *c, sqlite3 *db, const json_t *entry)
{
	(void)c;
	const char *kind = tds_json_str(entry, "kind", NULL), *id = tds_json_str(entry, "id", NULL);
	json_int_t version = json_integer_value(json_object_get(entry, "version"));
	if (!kind || !id || version < 1)
		return tds_error_set(TDS_EINTERNAL, "bad_outbox_entry", "an outbox entry needs kind, id and version");
	char *text = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	sqlite3_stmt *st = NULL;
	int rc = tds_store_prepare(db,
				   "INSERT INTO catalog_outbox (kind, entry_id, version, entry, created_at) VALUES (?,?,?,?,?)",
				   &st);
	if (!rc) {
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, version);
		sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, tds_now_ms());
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "recording an outbox entry");
	}
	sqlite3_finalize(st);
	free(text);
	return rc;
}

int cat_outbox_next_version(sqlite3 *db, const char *kind, const char *id, int64_t *version, bool *any)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT max(version) FROM catalog_outbox WHERE kind = ? AND entry_id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	*version = 1;
	if (any)
		*any = false;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*version = sqlite3_column_int64(st, 0) + 1;
		if (any)
			*any = true;
	}
	sqlite3_finalize(st);
	return 0;
}

/* ---- text ---- */

/* Decodes one UTF-8 code point at s (len > 0 bytes left); *n its length. Invalid bytes decode as
 * U+FFFD of length 1 (input is validated before; this keeps the function total anyway). */
static uint32_t utf8_next(const unsigned char *s, size_t len, size_t *n)
{
	uint32_t c = s[0];
	size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
	if (k == 0 || k > len) {
		*n = 1;
		return 0xFFFD;
	}
	if (k == 1) {
		*n = 1;
		return c;
	}
	c &= 0x7F >> k;
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xC0) != 0x80) {
			*n = 1;
			return 0xFFFD;
		}
		c = (c << 6) | (s[i] & 0x3F);
	}
	*n = k;
	return c;
}

/* Characters written without spaces between words: Han (with extensions and compatibility
 * ideographs), kana and Hangul syllables. */
static bool is_cjk(uint32_t c)
{
	return (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xF900 && c <= 0xFAFF) ||
	       (c >= 0x20000 && c <= 0x3134F) || (c >= 0x3040 && c <= 0x309F) || (c >= 0x30A0 && c <= 0x30FF) ||
	       (c >= 0xAC00 && c <= 0xD7AF);
}

/* Appends s as indexed text: every other character unchanged (the unicode61 tokenizer splits it),
 * every CJK run c1…cn as " c1c2 c2c3 … c(n-1)cn cn ". Each character then begins a token, so a
 * prefix query on one character finds it anywhere, a 2-character word is a token, and a longer word
 * is a phrase of consecutive bigrams. */
static int index_text(tds_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : ""), *prev = NULL;
	size_t len = strlen((const char *)p), prevn = 0;
	int rc = 0;
	while (!rc && len) {
		size_t n;
		uint32_t c = utf8_next(p, len, &n);
		if (is_cjk(c)) {
			if (prev && !(rc = tds_buf_putc(b, ' ')) && !(rc = tds_buf_append(b, prev, prevn)))
				rc = tds_buf_append(b, p, n);
			prev = p;
			prevn = n;
		} else {
			if (prev && !(rc = tds_buf_putc(b, ' ')) && !(rc = tds_buf_append(b, prev, prevn)))
				rc = tds_buf_putc(b, ' ');
			prev = NULL;
			if (!rc)
				rc = tds_buf_append(b, p, n);
		}
		p += n;
		len -= n;
	}
	if (!rc && prev && !(rc = tds_buf_putc(b, ' ')) && !(rc = tds_buf_append(b, prev, prevn)))
		rc = tds_buf_putc(b, ' ');
	if (!rc)
		rc = tds_buf_putc(b, ' ');
	return rc;
}

static int index_array(tds_buf *b, const json_t *a, const char *member)
{
	size_t i;
	json_t *v;
	int rc = 0;
	json_array_foreach(a, i, v) {
		if (rc)
			break;
		rc = index_text(b, member ? json_string_value(json_object_get(v, member)) : json_string_value(v));
	}
	return rc;
}

int cat_fts_query(const char *q, tds_buf *out, int *terms)
{
	*terms = 0;
	if (!q)
		return 0;
	size_t len = strlen(q);
	if (len > 256 || !tds_utf8_valid(q, len))
		return tds_error_set(TDS_EINVAL, "invalid_query", "q must be at most 256 bytes of UTF-8");
	const unsigned char *p = (const unsigned char *)q;
	int rc = 0;
	while (!rc && len) {
		size_t n;
		uint32_t c = utf8_next(p, len, &n);
		bool cjk = is_cjk(c), word = !cjk && (c >= 0x80 ? c != 0xFFFD && c != 0x3000 && !(c >= 0x3000 && c <= 0x303F) &&
								      !(c >= 0xFF00 && c <= 0xFF0F) && c != 0xFEFF
								    : ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9'));
		if (!cjk && !word) {
			p += n;
			len -= n;
			continue;
		}
		/* a run of the same class */
		const unsigned char *start = p;
		size_t chars = 0;
		while (len) {
			size_t m;
			uint32_t d = utf8_next(p, len, &m);
			bool dcjk = is_cjk(d), dword = !dcjk && (d >= 0x80 ? d != 0xFFFD && !(d >= 0x3000 && d <= 0x303F) &&
										 !(d >= 0xFF00 && d <= 0xFF0F) && d != 0xFEFF
									       : ((d | 0x20) >= 'a' && (d | 0x20) <= 'z') || (d >= '0' && d <= '9'));
			if (cjk ? !dcjk : !dword)
				break;
			p += m;
			len -= m;
			chars++;
		}
		if (++*terms > 16)
			return tds_error_set(TDS_EINVAL, "invalid_query", "q may hold at most 16 words");
		if (out->len)
			rc = tds_buf_putc(out, ' ');
		if (!rc)
			rc = tds_buf_putc(out, '"');
		if (!rc && cjk && chars >= 2) {
			/* the phrase of consecutive bigrams */
			const unsigned char *r = start, *pr = NULL;
			size_t rl = (size_t)(p - start), prn = 0;
			bool first = true;
			while (!rc && rl) {
				size_t m;
				utf8_next(r, rl, &m);
				if (pr) {
					if (!first)
						rc = tds_buf_putc(out, ' ');
					if (!rc && !(rc = tds_buf_append(out, pr, prn)))
						rc = tds_buf_append(out, r, m);
					first = false;
				}
				pr = r;
				prn = m;
				r += m;
				rl -= m;
			}
			if (!rc)
				rc = tds_buf_putc(out, '"');
		} else if (!rc) {
			/* one CJK character or a word: a prefix query ('"' cannot occur in a word) */
			if (!(rc = tds_buf_append(out, start, (size_t)(p - start))))
				rc = tds_buf_puts(out, "\"*");
		}
	}
	return rc;
}

/* ---- entries: checks ---- */

static const char *const FREQUENCIES[] = {"realtime", "hourly", "daily", "weekly", "monthly",
					  "quarterly", "yearly", "irregular", "once"};
static const char *const GRADES[] = {"一般", "重要", "核心"};

static bool printable(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return tds_utf8_valid(s, strlen(s));
}

/* Text allowing line breaks and tabs (descriptions). */
static bool text_ok(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && *p != '\n' && *p != '\r' && *p != '\t') || *p == 0x7f)
			return false;
	return tds_utf8_valid(s, strlen(s));
}

/* A code or id that can be a ledger subject: printable ASCII without '"' and '\'. */
static bool subject_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '"' || s[i] == '\\')
			return false;
	return true;
}

static bool one_of(const char *s, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, set[i]) == 0)
			return true;
	return false;
}

/* Re-raises the current error as TDS_EINVAL "invalid_entry" with a prefix. */
static int rewrap(const char *prefix)
{
	char m[512];
	snprintf(m, sizeof m, "%s", tds_error_message());
	return tds_error_set(TDS_EINVAL, "invalid_entry", "%s%s", prefix, m);
}

static int bad(const char *member, const char *what)
{
	return tds_error_set(TDS_EINVAL, "invalid_entry", "entry member '%s' %s", member, what);
}

/* A string array member: at most max items of 1..item_max bytes of printable text. */
static int check_strings(const json_t *a, const char *member, size_t item_max)
{
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v) {
		const char *s = json_string_value(v);
		if (!*s || strlen(s) > item_max || !printable(s)) {
			char m[64];
			snprintf(m, sizeof m, "%s[%zu]", member, i);
			return tds_error_set(TDS_EINVAL, "invalid_entry",
					     "entry member '%s' must be 1-%zu bytes of text without control characters", m, item_max);
		}
	}
	return 0;
}

/* The scope: {"scope":"space"} | {"scope":"roles","roles":[…]} | {"scope":"orgs","orgs":[…]};
 * *roles: the role bits of a roles scope. */
static int check_scope(const json_t *s, tds_roles *roles)
{
	static const tds_json_field f[] = {
	    {"scope", TDS_JSON_STRING, true, 8},
	    {"roles", TDS_JSON_STRING_ARRAY, false, 16},
	    {"orgs", TDS_JSON_STRING_ARRAY, false, 256},
	};
	*roles = 0;
	if (tds_json_check(s, f, TDS_ARRAY_LEN(f), false))
		return rewrap("entry member 'scope' is invalid: ");
	const char *k = tds_json_str(s, "scope", "");
	const json_t *r = json_object_get(s, "roles"), *o = json_object_get(s, "orgs");
	size_t i;
	json_t *v;
	if (!strcmp(k, "space")) {
		if (r || o)
			return bad("scope", "of kind space takes neither roles nor orgs");
	} else if (!strcmp(k, "roles")) {
		if (o || !json_array_size(r))
			return bad("scope", "of kind roles takes a non-empty roles array and no orgs");
		json_array_foreach(r, i, v) {
			tds_roles b;
			if (tds_role_parse(json_string_value(v), &b))
				return tds_error_set(TDS_EINVAL, "invalid_entry", "entry member 'scope.roles[%zu]' is not a role", i);
			*roles |= b;
		}
	} else if (!strcmp(k, "orgs")) {
		if (r || !json_array_size(o))
			return bad("scope", "of kind orgs takes a non-empty orgs array and no roles");
		json_array_foreach(o, i, v) {
			if (!tds_id_valid(json_string_value(v), "org"))
				return tds_error_set(TDS_EINVAL, "invalid_entry",
						     "entry member 'scope.orgs[%zu]' is not an organisation id", i);
		}
	} else {
		return bad("scope", "must name scope space, roles or orgs");
	}
	return 0;
}

static const char *id_prefix(const char *kind)
{
	return !strcmp(kind, "product") ? "prd" : !strcmp(kind, "resource") ? "res" : "pub";
}

/* A checked entry, normalised: every member of the shape present. */
typedef struct centry {
	json_t *e;        /* normalised entry (owned) */
	const char *kind, *id, *code;
	int64_t version, issued, modified;
	bool withdrawn;
	tds_roles roles;
} centry;

static json_t *nullable(const json_t *in, const char *k)
{
	json_t *v = json_object_get(in, k);
	return v ? json_incref(v) : json_null();
}

static json_t *array_or_empty(const json_t *in, const char *k)
{
	json_t *v = json_object_get(in, k);
	return json_is_array(v) ? json_incref(v) : json_array();
}

/* Checks `in` strictly and builds the normalised entry with org_id = org. */
static int check_entry(const json_t *in, const char *org, centry *ce)
{
	static const tds_json_field head[] = {
	    {"kind", TDS_JSON_STRING, true, 16}, {"id", TDS_JSON_STRING, true, TDS_ID_MAX},
	    {"version", TDS_JSON_INTEGER, true, 0}, {"withdrawn", TDS_JSON_BOOL, false, 0},
	    {"org_id", TDS_JSON_ANY, false, 0},
	};
	static const tds_json_field f[] = {
	    {"kind", TDS_JSON_STRING, true, 16},
	    {"id", TDS_JSON_STRING, true, TDS_ID_MAX},
	    {"code", TDS_JSON_STRING, false, 128},
	    {"version", TDS_JSON_INTEGER, true, 0},
	    {"withdrawn", TDS_JSON_BOOL, false, 0},
	    {"org_id", TDS_JSON_ANY, false, 0},
	    {"title", TDS_JSON_STRING, true, 256},
	    {"description", TDS_JSON_STRING, false, 8000},
	    {"form", TDS_JSON_STRING, false, 16},
	    {"domain", TDS_JSON_STRING, false, 64},
	    {"tags", TDS_JSON_STRING_ARRAY, false, 32},
	    {"grade", TDS_JSON_STRING, false, 16},
	    {"level", TDS_JSON_STRING, false, 2},
	    {"update_frequency", TDS_JSON_STRING, false, 16},
	    {"fields", TDS_JSON_ARRAY, false, 2000},
	    {"scenarios", TDS_JSON_STRING_ARRAY, false, 32},
	    {"industry", TDS_JSON_STRING, false, 64},
	    {"scope", TDS_JSON_OBJECT, true, 0},
	    {"authorization_type", TDS_JSON_STRING, false, 64},
	    {"format", TDS_JSON_STRING, false, 64},
	    {"usage_restrictions", TDS_JSON_STRING, false, 2000},
	    {"application_path", TDS_JSON_STRING, false, 1000},
	    {"required_materials", TDS_JSON_STRING_ARRAY, false, 32},
	    {"issued", TDS_JSON_STRING, false, 40},
	    {"modified", TDS_JSON_STRING, false, 40},
	};
	memset(ce, 0, sizeof *ce);
	if (!json_is_object(in))
		return tds_error_set(TDS_EINVAL, "invalid_entry", "an entry must be a JSON object");
	/* the head first, so that a withdrawal is recognised before the full shape is asked for */
	int rc = tds_json_check(in, head, TDS_ARRAY_LEN(head), true);
	if (rc)
		return rewrap("entry: ");
	ce->kind = tds_json_str(in, "kind", "");
	ce->id = tds_json_str(in, "id", "");
	ce->version = tds_json_int(in, "version", 0);
	ce->withdrawn = tds_json_bool(in, "withdrawn", false);
	static const char *const KINDS[] = {"product", "resource", "public_item"};
	if (!one_of(ce->kind, KINDS, TDS_ARRAY_LEN(KINDS)))
		return bad("kind", "must be product, resource or public_item");
	if (!tds_id_valid(ce->id, id_prefix(ce->kind)))
		return tds_error_set(TDS_EINVAL, "invalid_entry", "entry member 'id' must be an id of the form %s_<ULID> for kind %s",
				     id_prefix(ce->kind), ce->kind);
	if (ce->version < 1)
		return bad("version", "must be an integer of at least 1");
	const json_t *oj = json_object_get(in, "org_id");
	if (oj && !json_is_null(oj) && !json_is_string(oj))
		return bad("org_id", "must be a string or null (it is set from the caller's certificate anyway)");
	if (!org || !subject_ok(org))
		return tds_error_set(TDS_EINVAL, "invalid_org", "the provider organisation must be an id");
	if (ce->withdrawn) {
		if ((rc = tds_json_check(in, head, TDS_ARRAY_LEN(head), false)))
			return rewrap("a withdrawn entry carries only kind, id, version and withdrawn: ");
		ce->e = json_pack("{s:s, s:s, s:I, s:s, s:b}", "kind", ce->kind, "id", ce->id, "version", (json_int_t)ce->version,
				  "org_id", org, "withdrawn", 1);
		ce->kind = tds_json_str(ce->e, "kind", "");
		ce->id = tds_json_str(ce->e, "id", "");
		ce->modified = tds_now_ms();
		return ce->e ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	}
	if ((rc = tds_json_check(in, f, TDS_ARRAY_LEN(f), false)))
		return rewrap("entry: ");
	const char *code = tds_json_str(in, "code", NULL), *title = tds_json_str(in, "title", ""),
		   *desc = tds_json_str(in, "description", NULL), *form = tds_json_str(in, "form", NULL),
		   *grade = tds_json_str(in, "grade", NULL), *level = tds_json_str(in, "level", NULL),
		   *freq = tds_json_str(in, "update_frequency", NULL);
	if (code && !subject_ok(code))
		return bad("code", "must be 1-128 bytes of printable ASCII without spaces, '\"' or '\\'");
	if (!*title || !printable(title))
		return bad("title", "must be 1-256 bytes of text without control characters");
	if (desc && !text_ok(desc))
		return bad("description", "must be UTF-8 text without control characters other than line breaks and tabs");
	static const char *const FORMS[] = {"api", "dataset", "file"};
	if (form && (!strcmp(ce->kind, "resource") || !one_of(form, FORMS, TDS_ARRAY_LEN(FORMS))))
		return bad("form", !strcmp(ce->kind, "resource") ? "is for products and public items only (null for a resource)"
								: "must be api, dataset or file");
	if (!strcmp(ce->kind, "product") && !form)
		return bad("form", "is required for a product (api, dataset or file)");
	if (grade && !one_of(grade, GRADES, TDS_ARRAY_LEN(GRADES)))
		return bad("grade", "must be 一般, 重要 or 核心");
	if (level && (strlen(level) != 2 || level[0] != 'L' || level[1] < '1' || level[1] > '4'))
		return bad("level", "must be L1, L2, L3 or L4");
	if (freq && !one_of(freq, FREQUENCIES, TDS_ARRAY_LEN(FREQUENCIES)))
		return bad("update_frequency", "must be realtime, hourly, daily, weekly, monthly, quarterly, yearly, irregular or once");
	static const char *const TEXTS[] = {"domain", "industry", "authorization_type", "format", "application_path"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(TEXTS); i++) {
		const char *v = tds_json_str(in, TEXTS[i], NULL);
		if (v && (!*v || !printable(v)))
			return bad(TEXTS[i], "must be non-empty text without control characters");
	}
	const char *ur = tds_json_str(in, "usage_restrictions", NULL);
	if (ur && !text_ok(ur))
		return bad("usage_restrictions", "must be UTF-8 text without control characters other than line breaks and tabs");
	if ((rc = check_strings(json_object_get(in, "tags"), "tags", 32)) ||
	    (rc = check_strings(json_object_get(in, "scenarios"), "scenarios", 200)) ||
	    (rc = check_strings(json_object_get(in, "required_materials"), "required_materials", 200)))
		return rc;
	const json_t *fields = json_object_get(in, "fields");
	size_t i;
	json_t *fv;
	json_array_foreach(fields, i, fv) {
		static const tds_json_field ff[] = {
		    {"name", TDS_JSON_STRING, true, 128}, {"label", TDS_JSON_STRING, false, 256}, {"type", TDS_JSON_STRING, false, 32}};
		if (tds_json_check(fv, ff, TDS_ARRAY_LEN(ff), false))
		{
			char pre[64];
			snprintf(pre, sizeof pre, "entry member 'fields[%zu]' is invalid: ", i);
			return rewrap(pre);
		}
		static const char *const FK[] = {"name", "label", "type"};
		for (size_t k = 0; k < 3; k++) {
			const char *s = tds_json_str(fv, FK[k], NULL);
			if (s && (!*s || !printable(s)))
				return tds_error_set(TDS_EINVAL, "invalid_entry",
						     "entry member 'fields[%zu].%s' must be non-empty text without control characters", i, FK[k]);
		}
	}
	if ((rc = check_scope(json_object_get(in, "scope"), &ce->roles)))
		return rc;
	ce->modified = tds_now_ms();
	ce->issued = -1;
	static const char *const TIMES[] = {"issued", "modified"};
	for (size_t k = 0; k < 2; k++) {
		const char *t = tds_json_str(in, TIMES[k], NULL);
		int64_t ms;
		if (t && tds_time_parse(t, &ms))
			return bad(TIMES[k], "must be an RFC 3339 time");
		if (t)
			*(k ? &ce->modified : &ce->issued) = ms;
	}
	char mod[TDS_TIME_MAX];
	tds_time_format(ce->modified, mod);
	static const char *const NULLABLE[] = {"code", "description", "form", "domain", "grade", "level",
					       "update_frequency", "industry", "authorization_type", "format",
					       "usage_restrictions", "application_path", "issued"};
	static const char *const ARRAYS[] = {"tags", "fields", "scenarios", "required_materials"};
	if (!(ce->e = json_pack("{s:s, s:s, s:I, s:s, s:s, s:O, s:s}", "kind", ce->kind, "id", ce->id, "version",
				(json_int_t)ce->version, "org_id", org, "title", title, "scope", json_object_get(in, "scope"),
				"modified", mod)))
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	for (size_t k = 0; k < TDS_ARRAY_LEN(NULLABLE); k++)
		json_object_set_new(ce->e, NULLABLE[k], nullable(in, NULLABLE[k]));
	for (size_t k = 0; k < TDS_ARRAY_LEN(ARRAYS); k++)
		json_object_set_new(ce->e, ARRAYS[k], array_or_empty(in, ARRAYS[k]));
	ce->kind = tds_json_str(ce->e, "kind", "");
	ce->id = tds_json_str(ce->e, "id", "");
	ce->code = tds_json_str(ce->e, "code", NULL);
	return 0;
}

/* ---- entries: storage ---- */

static int step_done(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : tds_store_error(db, what);
	sqlite3_finalize(st);
	return rc;
}

static int exec_n(sqlite3 *db, const char *sql, int64_t n, const char *what)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, sql, &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, n);
	return step_done(db, st, what);
}

/* Replaces row n's search index, tags and scope organisations with those of entry e. */
static int index_entry(sqlite3 *db, int64_t n, const json_t *e)
{
	int rc;
	if ((rc = exec_n(db, "DELETE FROM catalog_fts WHERE rowid = ?", n, "unindexing entry")) ||
	    (rc = exec_n(db, "DELETE FROM catalog_tags WHERE n = ?", n, "removing entry tags")) ||
	    (rc = exec_n(db, "DELETE FROM catalog_entry_orgs WHERE n = ?", n, "removing entry scope")))
		return rc;
	if (tds_json_bool(e, "withdrawn", false))
		return 0;
	tds_buf t[4] = {TDS_BUF_INIT, TDS_BUF_INIT, TDS_BUF_INIT, TDS_BUF_INIT};
	static const char *const BODY[] = {"description", "domain", "industry", "authorization_type", "format",
					   "usage_restrictions", "code"};
	rc = index_text(&t[0], tds_json_str(e, "title", ""));
	if (!rc)
		rc = index_array(&t[1], json_object_get(e, "tags"), NULL);
	if (!rc && !(rc = index_array(&t[2], json_object_get(e, "fields"), "name")))
		rc = index_array(&t[2], json_object_get(e, "fields"), "label");
	for (size_t i = 0; !rc && i < TDS_ARRAY_LEN(BODY); i++)
		rc = index_text(&t[3], tds_json_str(e, BODY[i], NULL));
	if (!rc && !(rc = index_array(&t[3], json_object_get(e, "scenarios"), NULL)))
		rc = index_array(&t[3], json_object_get(e, "required_materials"), NULL);
	sqlite3_stmt *st = NULL;
	if (!rc && !(rc = tds_store_prepare(db, "INSERT INTO catalog_fts (rowid, title, tags, fields, body) VALUES (?,?,?,?,?)",
					    &st))) {
		sqlite3_bind_int64(st, 1, n);
		for (int i = 0; i < 4; i++)
			sqlite3_bind_text(st, i + 2, t[i].data ? t[i].data : "", -1, SQLITE_STATIC);
		rc = step_done(db, st, "indexing entry");
	}
	for (int i = 0; i < 4; i++)
		tds_buf_free(&t[i]);
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(e, "tags"), i, v) {
		if (rc || (rc = tds_store_prepare(db, "INSERT OR IGNORE INTO catalog_tags (tag, n) VALUES (?,?)", &st)))
			break;
		sqlite3_bind_text(st, 1, json_string_value(v), -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, n);
		rc = step_done(db, st, "recording entry tags");
	}
	const json_t *scope = json_object_get(e, "scope");
	json_array_foreach(json_object_get(scope, "orgs"), i, v) {
		if (rc || (rc = tds_store_prepare(db, "INSERT OR IGNORE INTO catalog_entry_orgs (n, org_id) VALUES (?,?)", &st)))
			break;
		sqlite3_bind_int64(st, 1, n);
		sqlite3_bind_text(st, 2, json_string_value(v), -1, SQLITE_STATIC);
		rc = step_done(db, st, "recording entry scope");
	}
	return rc;
}

static int entry_evidence(tds_catalog *c, sqlite3 *db, const tds_ledger_actor *actor, const centry *ce, const char *org)
{
	if (!c->ledger)
		return tds_error_set(TDS_EINTERNAL, "no_ledger", "the catalog was opened without a ledger: changes need evidence");
	tds_ledger_actor a = actor ? *actor : (tds_ledger_actor){0};
	if (!a.node && c->node_id[0])
		a.node = c->node_id;
	json_t *payload = ce->withdrawn ? json_pack("{s:s, s:I, s:s}", "kind", ce->kind, "version", (json_int_t)ce->version,
						    "org_id", org)
					: json_pack("{s:s, s:I, s:s, s:s}", "kind", ce->kind, "version", (json_int_t)ce->version,
						    "org_id", org, "title", tds_json_str(ce->e, "title", ""));
	if (!payload)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	const char *subjects[2] = {ce->id, ce->code};
	tds_ledger_entry_in in = {.type = ce->withdrawn ? "catalog.entry_withdrawn" : "catalog.entry_received",
				  .actor = a,
				  .subjects = subjects,
				  .nsubjects = ce->code ? 2 : 1,
				  .payload = payload};
	uint64_t idx;
	int rc = tds_ledger_append_tx(c->ledger, db, &in, &idx);
	json_decref(payload);
	return rc;
}

typedef struct upsert_ctx {
	tds_catalog *c;
	const tds_ledger_actor *actor;
	const char *org;
	centry *ce;
	size_t n;      /* entries */
	bool *applied; /* per entry */
} upsert_ctx;

/* Applies one checked entry inside the caller's transaction. */
static int upsert_one(tds_catalog *c, sqlite3 *db, const tds_ledger_actor *actor, const char *org, centry *ce,
		      bool *applied)
{
	*applied = false;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT n, org_id, version, withdrawn, entry FROM catalog_entries WHERE id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, ce->id, -1, SQLITE_STATIC);
	int64_t n = -1, have = 0;
	json_t *old = NULL;
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		n = sqlite3_column_int64(st, 0);
		if (strcmp((const char *)sqlite3_column_text(st, 1), org) != 0)
			rc = tds_error_set(TDS_ECONFLICT, "entry_owned_elsewhere",
					   "entry %s belongs to another organisation; ids are unique across the space", ce->id);
		have = sqlite3_column_int64(st, 2);
		if (!rc && ce->withdrawn)
			old = json_loads((const char *)sqlite3_column_text(st, 4), 0, NULL);
	} else if (s != SQLITE_DONE) {
		rc = tds_store_error(db, "reading entry");
	}
	sqlite3_finalize(st);
	if (rc || (n >= 0 && ce->version <= have)) {
		json_decref(old);
		return rc; /* an older or equal version: nothing changes */
	}
	/* a withdrawal keeps what the entry said (for readers of its id), marked withdrawn */
	json_t *stored = ce->e;
	if (ce->withdrawn && old && !tds_json_bool(old, "withdrawn", false)) {
		json_object_set_new(old, "version", json_integer((json_int_t)ce->version));
		json_object_set_new(old, "withdrawn", json_true());
		stored = old;
	}
	char *text = tds_json_dumps(stored);
	const json_t *scope = json_object_get(stored, "scope");
	const char *sk = scope ? tds_json_str(scope, "scope", "space") : "space";
	tds_roles roles = ce->withdrawn ? 0 : ce->roles;
	if (ce->withdrawn && scope) {
		size_t i;
		json_t *v;
		json_array_foreach(json_object_get(scope, "roles"), i, v) {
			tds_roles b;
			if (!tds_role_parse(json_string_value(v), &b))
				roles |= b;
		}
	}
	if (!text)
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	else if (n < 0)
		rc = tds_store_prepare(db, "INSERT INTO catalog_entries (id, kind, org_id, code, version, withdrawn, title, form,"
					   " domain, grade, update_frequency, authorization_type, scope_kind, scope_roles, entry,"
					   " issued, modified, received_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,"
					   "?16,?17,?18)", &st);
	else
		rc = tds_store_prepare(db, "UPDATE catalog_entries SET kind = ?2, org_id = ?3, code = ?4, version = ?5,"
					   " withdrawn = ?6, title = ?7, form = ?8, domain = ?9, grade = ?10, update_frequency = ?11,"
					   " authorization_type = ?12, scope_kind = ?13, scope_roles = ?14, entry = ?15,"
					   " issued = ifnull(?16, issued), modified = ?17, received_at = ?18 WHERE id = ?1", &st);
	if (!rc) {
		int64_t now = tds_now_ms();
		sqlite3_bind_text(st, 1, ce->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, ce->kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, org, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, tds_json_str(stored, "code", NULL), -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, ce->version);
		sqlite3_bind_int(st, 6, ce->withdrawn);
		static const char *const COLS[] = {"title", "form", "domain", "grade", "update_frequency", "authorization_type"};
		for (int i = 0; i < 6; i++)
			sqlite3_bind_text(st, 7 + i, tds_json_str(stored, COLS[i], NULL), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 13, sk, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 14, roles);
		sqlite3_bind_text(st, 15, text, -1, SQLITE_STATIC);
		if (!ce->withdrawn)
			sqlite3_bind_int64(st, 16, ce->issued >= 0 ? ce->issued : ce->modified);
		sqlite3_bind_int64(st, 17, ce->modified);
		sqlite3_bind_int64(st, 18, now);
		rc = step_done(db, st, "storing entry");
	}
	if (!rc && n < 0)
		n = sqlite3_last_insert_rowid(db);
	json_t *indexed = json_pack("{s:b}", "withdrawn", 1);
	if (!rc)
		rc = index_entry(db, n, ce->withdrawn ? indexed : ce->e);
	json_decref(indexed);
	if (!rc)
		rc = entry_evidence(c, db, actor, ce, org);
	if (!rc)
		*applied = true;
	free(text);
	json_decref(old);
	return rc;
}

static int upsert_tx(sqlite3 *db, void *arg)
{
	upsert_ctx *x = arg;
	int rc = 0;
	for (size_t i = 0; !rc && i < x->n; i++)
		rc = upsert_one(x->c, db, x->actor, x->org, &x->ce[i], &x->applied[i]);
	return rc;
}

int tds_catalog_entry_upsert(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const json_t *entry,
			     bool *applied)
{
	*applied = false;
	centry ce;
	int rc = check_entry(entry, org, &ce);
	if (!rc) {
		upsert_ctx x = {.c = c, .actor = actor, .org = org, .ce = &ce, .n = 1, .applied = applied};
		rc = tds_store_tx(c->store, upsert_tx, &x);
		if (rc)
			*applied = false;
	}
	json_decref(ce.e);
	return rc;
}

/* ---- entries: reads ---- */

#define ECOLS "n, entry, withdrawn, popularity, org_id, scope_kind, scope_roles"

/* The stored entry of a row selected with ECOLS, plus withdrawn and popularity. */
static json_t *entry_row(sqlite3_stmt *st)
{
	json_t *e = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
	if (!e)
		return NULL;
	json_object_set_new(e, "withdrawn", json_boolean(sqlite3_column_int(st, 2)));
	json_object_set_new(e, "popularity", json_integer((json_int_t)sqlite3_column_int64(st, 3)));
	return e;
}

/* Finds an entry by id or code: *n its row. TDS_ENOTFOUND "entry_not_found"; a code that several
 * live entries carry (resource codes are minted per connector) is TDS_ECONFLICT "ambiguous_code". */
static int find_entry(sqlite3 *db, const char *key, sqlite3_stmt **out)
{
	*out = NULL;
	if (!key || !*key || strlen(key) > 256)
		return tds_error_set(TDS_ENOTFOUND, "entry_not_found", "no such catalog entry");
	sqlite3_stmt *st;
	bool by_id = tds_id_valid(key, "prd") || tds_id_valid(key, "res") || tds_id_valid(key, "pub");
	int rc = tds_store_prepare(db, by_id ? "SELECT " ECOLS " FROM catalog_entries WHERE id = ?"
					     : "SELECT " ECOLS " FROM catalog_entries WHERE code = ? ORDER BY withdrawn, n LIMIT 2",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	int s = sqlite3_step(st);
	if (s != SQLITE_ROW) {
		rc = s == SQLITE_DONE ? tds_error_set(TDS_ENOTFOUND, "entry_not_found", "no such catalog entry")
				      : tds_store_error(db, "reading entry");
		sqlite3_finalize(st);
		return rc;
	}
	if (!by_id) {
		/* a second live entry with this code: the code alone does not say which */
		sqlite3_stmt *chk;
		if ((rc = tds_store_prepare(db, "SELECT count(*) FROM catalog_entries WHERE code = ? AND withdrawn = 0", &chk))) {
			sqlite3_finalize(st);
			return rc;
		}
		sqlite3_bind_text(chk, 1, key, -1, SQLITE_TRANSIENT);
		int live = sqlite3_step(chk) == SQLITE_ROW ? sqlite3_column_int(chk, 0) : 0;
		sqlite3_finalize(chk);
		if (live > 1) {
			sqlite3_finalize(st);
			return tds_error_set(TDS_ECONFLICT, "ambiguous_code",
					     "%d entries from different connectors carry this code; ask by entry id", live);
		}
	}
	*out = st;
	return 0;
}

int tds_catalog_entry_get(tds_catalog *c, const char *key, json_t **out)
{
	*out = NULL;
	sqlite3 *db = tds_store_conn(c->store);
	if (!db)
		return tds_error_code();
	sqlite3_stmt *st;
	int rc = find_entry(db, key, &st);
	if (rc)
		return rc;
	*out = entry_row(st);
	sqlite3_finalize(st);
	return *out ? 0 : tds_error_set(TDS_EINTERNAL, NULL, "stored entry is not JSON");
}

typedef struct bump_ctx {
	const char *id, *org;
} bump_ctx;

static int bump_tx(sqlite3 *db, void *arg)
{
	bump_ctx *x = arg;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT n FROM catalog_entries WHERE id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, x->id, -1, SQLITE_STATIC);
	int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	if (n < 0)
		return tds_error_set(TDS_ENOTFOUND, "entry_not_found", "no such catalog entry");
	if ((rc = tds_store_prepare(db, "INSERT INTO catalog_usage (n, org_id, uses, last_at) VALUES (?1, ?2, 1, ?3)"
					" ON CONFLICT (n, org_id) DO UPDATE SET uses = uses + 1, last_at = ?3", &st)))
		return rc;
	sqlite3_bind_int64(st, 1, n);
	sqlite3_bind_text(st, 2, x->org, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, tds_now_ms());
	if ((rc = step_done(db, st, "recording entry use")))
		return rc;
	return exec_n(db, "UPDATE catalog_entries SET popularity = popularity + 1 WHERE n = ?", n, "counting entry use");
}

int tds_catalog_entry_bump(tds_catalog *c, const char *id, const char *org)
{
	if (!id || !(tds_id_valid(id, "prd") || tds_id_valid(id, "res") || tds_id_valid(id, "pub")))
		return tds_error_set(TDS_ENOTFOUND, "entry_not_found", "no such catalog entry");
	if (!org || !subject_ok(org))
		return tds_error_set(TDS_EINVAL, "invalid_org", "a use is counted for an organisation id");
	bump_ctx x = {id, org};
	return tds_store_tx(c->store, bump_tx, &x);
}
