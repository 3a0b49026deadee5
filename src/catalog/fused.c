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
#include <strings.h>

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
    "CREATE VIRTUAL TABLE catalog_fts USING fts5(title, tags, fields, body, facets,"
    "  tokenize = 'unicode61 remove_diacritics 2', prefix = '1');"
    "INSERT INTO catalog_fts (catalog_fts, rank) VALUES ('rank', 'bm25(8.0, 4.0, 2.0, 1.0, 0.0)');";

const char *cat_fused_migration(void) { return MIGRATION_SQL; }

void tds_catalog_set_operator(tds_catalog *c, bool is_operator) { c->is_operator = is_operator; }

/* ---- outbox (every node) ---- */

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

int cat_fts_query(const char *q, tds_buf *out, int *terms, bool *prefix)
{
	*terms = 0;
	if (prefix)
		*prefix = false;
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
			rc = tds_buf_puts(out, "{title tags fields body} : \"");
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
			/* one CJK character: a prefix query (the prefix='1' index answers it); a word: that
			 * word, or words beginning so when it ends in '*' ('"' cannot occur in either) */
			bool star = !cjk && len && *p == '*';
			if (!(rc = tds_buf_append(out, start, (size_t)(p - start))))
				rc = tds_buf_puts(out, cjk || star ? "\"*" : "\"");
			if (star && prefix)
				*prefix = true;
		}
	}
	return rc;
}

/* ---- facets: the filterable members as tokens of their own column ----
 * A filter on a common word (tax AND domain = energy) would otherwise read every row the word
 * matches; as index tokens the filter is an intersection of doclists. A token is a two-letter tag
 * and the value's bytes in hex ("fd" + hex("tax") = "fd746178"), so any value is one token. */

static const struct {
	const char *member, *tag;
} FACETS[] = {{"kind", "fk"}, {"form", "ff"}, {"domain", "fd"}, {"grade", "fg"}, {"update_frequency", "fu"},
	      {"authorization_type", "fa"}, {"org_id", "fo"}};

static int facet_token(tds_buf *b, const char *tag, const char *v)
{
	int rc = tds_buf_puts(b, tag);
	for (const unsigned char *p = (const unsigned char *)v; !rc && *p; p++)
		rc = tds_buf_printf(b, "%02x", *p);
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
	tds_buf t[5] = {TDS_BUF_INIT, TDS_BUF_INIT, TDS_BUF_INIT, TDS_BUF_INIT, TDS_BUF_INIT};
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
	for (size_t i = 0; !rc && i < TDS_ARRAY_LEN(FACETS); i++) {
		const char *v = tds_json_str(e, FACETS[i].member, NULL);
		if (v && !(rc = facet_token(&t[4], FACETS[i].tag, v)))
			rc = tds_buf_putc(&t[4], ' ');
	}
	sqlite3_stmt *st = NULL;
	if (!rc && !(rc = tds_store_prepare(db, "INSERT INTO catalog_fts (rowid, title, tags, fields, body, facets)"
						" VALUES (?,?,?,?,?,?)", &st))) {
		sqlite3_bind_int64(st, 1, n);
		for (int i = 0; i < 5; i++)
			sqlite3_bind_text(st, i + 2, t[i].data ? t[i].data : "", -1, SQLITE_STATIC);
		rc = step_done(db, st, "indexing entry");
	}
	for (int i = 0; i < 5; i++)
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
	int rc = tds_store_prepare(db, "SELECT n, org_id, version, withdrawn, entry, issued FROM catalog_entries WHERE id = ?",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, ce->id, -1, SQLITE_STATIC);
	int64_t n = -1, have = 0, issued = -1;
	bool was_withdrawn = false;
	json_t *old = NULL;
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		n = sqlite3_column_int64(st, 0);
		if (strcmp((const char *)sqlite3_column_text(st, 1), org) != 0)
			rc = tds_error_set(TDS_ECONFLICT, "entry_owned_elsewhere",
					   "entry %s belongs to another organisation; ids are unique across the space", ce->id);
		have = sqlite3_column_int64(st, 2);
		was_withdrawn = sqlite3_column_int(st, 3) != 0;
		if (sqlite3_column_type(st, 5) != SQLITE_NULL)
			issued = sqlite3_column_int64(st, 5);
		if (!rc && ce->withdrawn)
			old = json_loads((const char *)sqlite3_column_text(st, 4), 0, NULL);
	} else if (s != SQLITE_DONE) {
		rc = tds_store_error(db, "reading entry");
	}
	sqlite3_finalize(st);
	/* an older version changes nothing; an equal one only when it lists or withdraws again (a
	 * product relisted at its approved version, decision 57) */
	if (rc || (n >= 0 && (ce->version < have || (ce->version == have && ce->withdrawn == was_withdrawn)))) {
		json_decref(old);
		return rc;
	}
	/* issued: as given, else when first received */
	if (!ce->withdrawn) {
		if (ce->issued < 0)
			ce->issued = issued >= 0 ? issued : ce->modified;
		char t[TDS_TIME_MAX];
		tds_time_format(ce->issued, t);
		json_object_set_new(ce->e, "issued", json_string(t));
	}
	/* a withdrawal keeps what the entry said (for readers of its id), marked withdrawn */
	json_t *stored = ce->e;
	if (ce->withdrawn && old) { /* withdrawn again (a confirmation after a deregistration): still readable */
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
			sqlite3_bind_int64(st, 16, ce->issued);
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

/* ---- the outbox (every node) ---- */

/* On the operator, its own producers' entries go straight into its fused catalog, in the same
 * transaction (there is no operator to send them to): applied under a savepoint, the row recorded
 * as sent, or as failed with the error when the entry is refused (the producer's change stands). */
static int apply_local_tx(tds_catalog *c, sqlite3 *db, const json_t *entry, char **error)
{
	*error = NULL;
	const char *org = tds_json_str(entry, "org_id", NULL);
	if (!org)
		org = c->node_id;
	tds_ledger_actor a = {.org = tds_json_str(entry, "org_id", NULL), .node = c->node_id};
	centry ce;
	bool applied;
	int rc = tds_store_exec(db, "SAVEPOINT fused_local");
	if (rc)
		return rc;
	int arc = check_entry(entry, org, &ce);
	if (!arc)
		arc = upsert_one(c, db, &a, org, &ce, &applied);
	json_decref(ce.e);
	if (arc) {
		if (asprintf(error, "%d %s: %s", tds_error_http_status(arc), tds_error_name(), tds_error_message()) < 0)
			*error = NULL;
		tds_log_fields(TDS_LOG_ERROR, "catalog_entry_refused",
			       json_pack("{s:s, s:s}", "id", tds_json_str(entry, "id", ""), "error", *error ? *error : "refused"));
		rc = tds_store_exec(db, "ROLLBACK TO fused_local");
	}
	int rrc = tds_store_exec(db, "RELEASE fused_local");
	return rc ? rc : rrc;
}

int cat_outbox_add_tx(tds_catalog *c, sqlite3 *db, const json_t *entry)
{
	const char *kind = tds_json_str(entry, "kind", NULL), *id = tds_json_str(entry, "id", NULL);
	json_int_t version = json_integer_value(json_object_get(entry, "version"));
	if (!kind || !id || version < 1)
		return tds_error_set(TDS_EINTERNAL, "bad_outbox_entry", "an outbox entry needs kind, id and version");
	char *error = NULL;
	int rc = c && c->is_operator ? apply_local_tx(c, db, entry, &error) : 0;
	if (rc)
		return rc;
	char *text = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text) {
		free(error);
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	}
	sqlite3_stmt *st = NULL;
	rc = tds_store_prepare(db,
			       "INSERT INTO catalog_outbox (kind, entry_id, version, entry, created_at, sent_at, failed_at, error)"
			       " VALUES (?1, ?2, ?3, ?4, ?5, CASE WHEN ?6 AND ?7 IS NULL THEN ?5 END, CASE WHEN ?7 IS NOT NULL THEN ?5 END, ?7)",
			       &st);
	if (!rc) {
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, version);
		sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, tds_now_ms());
		sqlite3_bind_int(st, 6, c && c->is_operator);
		sqlite3_bind_text(st, 7, error, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "recording an outbox entry");
	}
	sqlite3_finalize(st);
	free(text);
	free(error);
	return rc;
}

int tds_catalog_entry_upsert_many(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const json_t *entries,
				  size_t *applied)
{
	if (applied)
		*applied = 0;
	if (!json_is_array(entries))
		return tds_error_set(TDS_EINVAL, "invalid_entry", "entries must be an array");
	size_t n = json_array_size(entries);
	centry *ce = calloc(n ? n : 1, sizeof *ce);
	bool *ap = calloc(n ? n : 1, sizeof *ap);
	int rc = ce && ap ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	for (size_t i = 0; !rc && i < n; i++) {
		if ((rc = check_entry(json_array_get(entries, i), org, &ce[i]))) {
			char pre[48];
			snprintf(pre, sizeof pre, "entries[%zu]: ", i);
			rc = rewrap(pre);
		}
	}
	if (!rc) {
		upsert_ctx x = {.c = c, .actor = actor, .org = org, .ce = ce, .n = n, .applied = ap};
		rc = tds_store_tx(c->store, upsert_tx, &x);
	}
	for (size_t i = 0; ce && i < n; i++) {
		if (!rc && applied && ap[i])
			(*applied)++;
		json_decref(ce[i].e);
	}
	free(ce);
	free(ap);
	return rc;
}

/* ---- entries: reads ---- */

#define ECOLS "e.n, e.entry, e.withdrawn, e.popularity, e.org_id, e.scope_kind, e.scope_roles"

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
	int rc = tds_store_prepare(db, by_id ? "SELECT " ECOLS " FROM catalog_entries e WHERE e.id = ?"
					     : "SELECT " ECOLS " FROM catalog_entries e WHERE e.code = ? ORDER BY e.withdrawn, e.n LIMIT 2",
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

/* ---- visibility ---- */

#define SEES_ALL (TDS_ROLE_ADMIN | TDS_ROLE_OPERATOR | TDS_ROLE_REGULATOR)

bool tds_catalog_entry_visible(const json_t *e, const tds_catalog_viewer *v)
{
	if (v->roles & SEES_ALL)
		return true;
	const char *org = tds_json_str(e, "org_id", NULL);
	if (v->org && org && !strcmp(v->org, org))
		return true;
	const json_t *scope = json_object_get(e, "scope");
	const char *k = tds_json_str(scope, "scope", "space");
	size_t i;
	json_t *x;
	if (!strcmp(k, "space"))
		return true;
	if (!strcmp(k, "roles")) {
		json_array_foreach(json_object_get(scope, "roles"), i, x) {
			tds_roles b;
			if (!tds_role_parse(json_string_value(x), &b) && (v->roles & b))
				return true;
		}
		return false;
	}
	json_array_foreach(json_object_get(scope, "orgs"), i, x) {
		if (v->org && !strcmp(v->org, json_string_value(x)))
			return true;
	}
	return false;
}

/* The SQL condition matching tds_catalog_entry_visible on catalog_entries e, with ?9 the viewer's
 * organisation and ?10 its roles; "" for those who see everything. */
static const char *visible_sql(const tds_catalog_viewer *v)
{
	return (v->roles & SEES_ALL) ? ""
				     : " AND (e.scope_kind = 'space' OR e.org_id = ?9"
				       " OR (e.scope_kind = 'roles' AND (e.scope_roles & ?10) != 0)"
				       " OR (e.scope_kind = 'orgs' AND EXISTS (SELECT 1 FROM catalog_entry_orgs o"
				       " WHERE o.n = e.n AND o.org_id = ?9)))";
}

/* ---- search ---- */

#define SEARCH_MAX_OFFSET 10000
#define SEARCH_RANK_WINDOW 2000 /* relevance ranks at most this many matches */
#define SEARCH_SPARSE 4000      /* recency and popularity read and sort at most this many matches */

static int check_filter(const char *v, const char *name, const char *const *set, size_t n, const char *allowed)
{
	if (!v)
		return 0;
	if (set ? !one_of(v, set, n) : (!*v || strlen(v) > 128 || !printable(v)))
		return tds_error_set(TDS_EINVAL, "invalid_filter", "%s must be %s", name,
				     allowed ? allowed : "1-128 bytes of text without control characters");
	return 0;
}

int tds_catalog_search(tds_catalog *c, const tds_catalog_viewer *v, const tds_catalog_query *q, json_t **out)
{
	*out = NULL;
	static const char *const KINDS[] = {"product", "resource", "public_item"};
	static const char *const FORMS[] = {"api", "dataset", "file"};
	static const char *const GRADE_EN[] = {"general", "important", "core"};
	const char *grade = q->grade;
	for (size_t i = 0; grade && i < 3; i++)
		if (!strcmp(grade, GRADE_EN[i]))
			grade = GRADES[i];
	int rc;
	if ((rc = check_filter(q->kind, "kind", KINDS, 3, "product, resource or public_item")) ||
	    (rc = check_filter(q->form, "form", FORMS, 3, "api, dataset or file")) ||
	    (rc = check_filter(grade, "grade", GRADES, 3, "一般, 重要 or 核心 (general, important, core)")) ||
	    (rc = check_filter(q->update_frequency, "update_frequency", FREQUENCIES, TDS_ARRAY_LEN(FREQUENCIES),
			       "realtime, hourly, daily, weekly, monthly, quarterly, yearly, irregular or once")) ||
	    (rc = check_filter(q->domain, "domain", NULL, 0, NULL)) ||
	    (rc = check_filter(q->authorization_type, "authorization_type", NULL, 0, NULL)))
		return rc;
	if (q->org && !subject_ok(q->org))
		return tds_error_set(TDS_EINVAL, "invalid_filter", "org must be an organisation id");
	const char *sort = q->sort ? q->sort : q->q && *q->q ? "relevance" : "recency";
	if (strcmp(sort, "relevance") && strcmp(sort, "recency") && strcmp(sort, "popularity"))
		return tds_error_set(TDS_EINVAL, "invalid_sort", "sort must be relevance, recency or popularity");
	int limit = q->limit ? q->limit : 20;
	if (limit < 1 || limit > 100)
		return tds_error_set(TDS_EINVAL, "invalid_limit", "limit must be 1-100");
	long offset = 0;
	if (q->cursor) {
		size_t n = strlen(q->cursor);
		if (n == 0 || n > 5 || strspn(q->cursor, "0123456789") != n || (offset = atol(q->cursor)) > SEARCH_MAX_OFFSET)
			return tds_error_set(TDS_EINVAL, "invalid_cursor",
					     "cursor must be a next_cursor of an earlier page (at most %d results deep: narrow the search)",
					     SEARCH_MAX_OFFSET);
	}
	tds_buf match = TDS_BUF_INIT, sql = TDS_BUF_INIT;
	int terms = 0;
	bool word_prefix = false;
	if (q->q && (rc = cat_fts_query(q->q, &match, &terms, &word_prefix)))
		goto out;
	if (q->q && *q->q && !terms) {
		rc = tds_error_set(TDS_EINVAL, "invalid_query", "q must hold a letter, a digit or a Chinese character");
		goto out;
	}
	if (!terms && !strcmp(sort, "relevance"))
		sort = "recency"; /* nothing to rank by */
	static const char *const FILTERS[] = {" AND e.kind = ?2", " AND e.form = ?3", " AND e.domain = ?4",
					      " AND e.grade = ?5", " AND e.update_frequency = ?6",
					      " AND e.authorization_type = ?7", " AND e.org_id = ?8"};
	const char *vals[] = {q->kind, q->form, q->domain, grade, q->update_frequency, q->authorization_type, q->org};
	/* with words, the filters join the MATCH as facet tokens: an intersection in the index */
	for (size_t i = 0; !rc && terms && i < TDS_ARRAY_LEN(vals); i++)
		if (vals[i] && !(rc = tds_buf_puts(&match, " facets : \"")) && !(rc = facet_token(&match, FACETS[i].tag, vals[i])))
			rc = tds_buf_putc(&match, '"');
	sqlite3 *db = rc ? NULL : tds_store_conn(c->store);
	sqlite3_stmt *st = NULL;
	if (!rc && !db)
		rc = tds_error_code();
	if (rc)
		goto out;
	/* Three plans (docs/architecture.md decision 73):
	 *  - relevance: bm25 over at most SEARCH_RANK_WINDOW matches, the most recently received (FTS5
	 *    walks its doclists in rowid order and ranks only what it returns); exact below the window;
	 *  - recency or popularity with few matches: read every match, then sort;
	 *  - recency or popularity with many: walk the sort's index and probe the full-text index per row
	 *    (stops after a page). Choosing by the match count keeps both cheap: walking the index for
	 *    a rare phrase would probe every entry, reading a common word's every match would sort tens of
	 *    thousands of rows. */
	bool rank = terms && !strcmp(sort, "relevance"), sparse = false;
	/* (a word prefix is never probed per row: FTS5 re-reads its whole doclist each time; the
	 * window below takes its place) */
	if (terms && !rank && !word_prefix) {
		if ((rc = tds_store_prepare(db, "SELECT count(*) FROM (SELECT rowid FROM catalog_fts WHERE catalog_fts MATCH ?1"
					       " LIMIT ?2)", &st)))
			goto out;
		sqlite3_bind_text(st, 1, match.data, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, SEARCH_SPARSE + 1);
		int s1 = sqlite3_step(st);
		sparse = s1 == SQLITE_ROW && sqlite3_column_int(st, 0) <= SEARCH_SPARSE;
		if (s1 != SQLITE_ROW)
			rc = tds_store_error(db, "searching the catalog");
		sqlite3_finalize(st);
		st = NULL;
		if (rc)
			goto out;
	}
	bool window = rank || (terms && word_prefix);
	if (window)
		rc = tds_buf_puts(&sql, "SELECT " ECOLS " FROM (SELECT rowid AS m, rank AS score FROM catalog_fts"
					" WHERE catalog_fts MATCH ?1 ORDER BY rowid DESC LIMIT ?13) s"
					" JOIN catalog_entries e ON e.n = s.m WHERE e.withdrawn = 0");
	else if (terms && sparse)
		rc = tds_buf_puts(&sql, "SELECT " ECOLS " FROM (SELECT rowid AS m FROM catalog_fts WHERE catalog_fts MATCH ?1) s"
					" CROSS JOIN catalog_entries e ON e.n = s.m WHERE e.withdrawn = 0");
	else if (terms)
		rc = tds_buf_puts(&sql, "SELECT " ECOLS " FROM catalog_fts f JOIN catalog_entries e ON e.n = f.rowid"
					" WHERE catalog_fts MATCH ?1 AND e.withdrawn = 0");
	else
		rc = tds_buf_puts(&sql, "SELECT " ECOLS " FROM catalog_entries e WHERE e.withdrawn = 0");
	for (size_t i = 0; !rc && !terms && i < TDS_ARRAY_LEN(FILTERS); i++)
		if (vals[i])
			rc = tds_buf_puts(&sql, FILTERS[i]);
	if (!rc)
		rc = tds_buf_puts(&sql, visible_sql(v));
	if (!rc)
		rc = tds_buf_puts(&sql, rank				 ? " ORDER BY s.score, e.n"
					: !strcmp(sort, "popularity") ? " ORDER BY e.popularity DESC, e.modified DESC, e.n DESC"
								       : " ORDER BY e.modified DESC, e.n DESC");
	if (!rc)
		rc = tds_buf_puts(&sql, " LIMIT ?11 OFFSET ?12");
	if (rc || (rc = tds_store_prepare(db, sql.data, &st)))
		goto out;
	if (terms)
		sqlite3_bind_text(st, 1, match.data, -1, SQLITE_STATIC);
	for (size_t i = 0; !terms && i < TDS_ARRAY_LEN(vals); i++)
		if (vals[i])
			sqlite3_bind_text(st, (int)i + 2, vals[i], -1, SQLITE_STATIC);
	if (!(v->roles & SEES_ALL)) {
		sqlite3_bind_text(st, 9, v->org, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 10, v->roles);
	}
	sqlite3_bind_int(st, 11, limit + 1);
	sqlite3_bind_int64(st, 12, offset);
	if (window)
		sqlite3_bind_int(st, 13, rank ? SEARCH_RANK_WINDOW : SEARCH_SPARSE);
	json_t *items = json_array();
	int n = 0, s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW && n < limit) {
		json_t *e = entry_row(st);
		if (e)
			json_array_append_new(items, e);
		n++;
	}
	bool more = s == SQLITE_ROW && offset + limit <= SEARCH_MAX_OFFSET;
	if (s != SQLITE_ROW && s != SQLITE_DONE)
		rc = tds_store_error(db, "searching the catalog");
	sqlite3_finalize(st);
	if (rc) {
		json_decref(items);
		goto out;
	}
	char next[24];
	snprintf(next, sizeof next, "%ld", offset + limit);
	*out = json_pack("{s:o, s:s?, s:s}", "items", items, "next_cursor", more ? next : NULL, "sort", sort);
	if (!*out)
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
out:
	tds_buf_free(&match);
	tds_buf_free(&sql);
	return rc;
}

/* ---- related ---- */

int tds_catalog_related(tds_catalog *c, const tds_catalog_viewer *v, const char *key, int limit, json_t **out)
{
	*out = NULL;
	if (limit == 0)
		limit = 10;
	if (limit < 1 || limit > 50)
		return tds_error_set(TDS_EINVAL, "invalid_limit", "limit must be 1-50");
	sqlite3 *db = tds_store_conn(c->store);
	if (!db)
		return tds_error_code();
	sqlite3_stmt *st;
	int rc = find_entry(db, key, &st);
	if (rc)
		return rc;
	int64_t n = sqlite3_column_int64(st, 0);
	json_t *self = entry_row(st);
	sqlite3_finalize(st);
	if (!self)
		return tds_error_set(TDS_EINTERNAL, NULL, "stored entry is not JSON");
	bool visible = tds_catalog_entry_visible(self, v);
	json_decref(self);
	if (!visible)
		return tds_error_set(TDS_ENOTFOUND, "entry_not_found", "no such catalog entry");
	/* shared tags count 1 each, organisations that used both 2 each */
	tds_buf sql = TDS_BUF_INIT;
	rc = tds_buf_printf(&sql,
			    "WITH t AS (SELECT g.n, count(*) AS k FROM catalog_tags g"
			    "   WHERE g.tag IN (SELECT tag FROM catalog_tags WHERE n = ?1) AND g.n != ?1 GROUP BY g.n),"
			    " u AS (SELECT x.n, count(*) AS k FROM catalog_usage x"
			    "   WHERE x.org_id IN (SELECT org_id FROM catalog_usage WHERE n = ?1) AND x.n != ?1 GROUP BY x.n),"
			    " s AS (SELECT n, sum(tk) AS tk, sum(uk) AS uk FROM (SELECT n, k AS tk, 0 AS uk FROM t"
			    "   UNION ALL SELECT n, 0, k FROM u) GROUP BY n)"
			    " SELECT " ECOLS ", s.tk, s.uk FROM s JOIN catalog_entries e ON e.n = s.n WHERE e.withdrawn = 0%s"
			    " ORDER BY s.tk + 2 * s.uk DESC, e.popularity DESC, e.n LIMIT ?11",
			    visible_sql(v));
	if (rc || (rc = tds_store_prepare(db, sql.data, &st))) {
		tds_buf_free(&sql);
		return rc;
	}
	tds_buf_free(&sql);
	sqlite3_bind_int64(st, 1, n);
	if (!(v->roles & SEES_ALL)) {
		sqlite3_bind_text(st, 9, v->org, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 10, v->roles);
	}
	sqlite3_bind_int(st, 11, limit);
	json_t *items = json_array();
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *e = entry_row(st);
		if (!e)
			continue;
		int64_t tk = sqlite3_column_int64(st, 7), uk = sqlite3_column_int64(st, 8);
		json_object_set_new(e, "shared_tags", json_integer((json_int_t)tk));
		json_object_set_new(e, "co_users", json_integer((json_int_t)uk));
		json_object_set_new(e, "related_score", json_integer((json_int_t)(tk + 2 * uk)));
		json_array_append_new(items, e);
	}
	if (s != SQLITE_DONE)
		rc = tds_store_error(db, "finding related entries");
	sqlite3_finalize(st);
	if (rc) {
		json_decref(items);
		return rc;
	}
	*out = json_pack("{s:o}", "items", items);
	return *out ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
}

/* ---- public-data catalog import ---- */

#define IMPORT_MAX_ITEMS 10000

/* Column names: the English member, then the Chinese headers accepted for it. */
static const struct {
	const char *name;
	const char *zh[4];
} COLUMNS[] = {
    {"name", {"目录名称", "数据项名称", "资源名称", "名称"}},
    {"type", {"类型", "资源类型", "数据类型", NULL}},
    {"format", {"格式", "数据格式", "资源格式", NULL}},
    {"update_frequency", {"更新频率", "更新周期", NULL, NULL}},
    {"authorization_type", {"授权类型", "开放类型", "共享类型", NULL}},
    {"usage_restrictions", {"使用限制", "使用要求", NULL, NULL}},
    {"application_path", {"申请路径", "申请途径", NULL, NULL}},
    {"required_materials", {"申请材料", "所需材料", NULL, NULL}},
    {"description", {"描述", "摘要", "说明", NULL}},
    {"domain", {"领域", "所属领域", NULL, NULL}},
    {"tags", {"标签", "关键词", NULL, NULL}},
};

/* The English member a column header or JSON key names, or NULL. */
static const char *column_of(const char *h)
{
	for (size_t i = 0; i < TDS_ARRAY_LEN(COLUMNS); i++) {
		if (!strcmp(h, COLUMNS[i].name))
			return COLUMNS[i].name;
		for (size_t k = 0; k < 4 && COLUMNS[i].zh[k]; k++)
			if (!strcmp(h, COLUMNS[i].zh[k]))
				return COLUMNS[i].name;
	}
	return NULL;
}

static const char *form_of(const char *type)
{
	static const struct {
		const char *in, *form;
	} T[] = {{"api", "api"},     {"API", "api"},	     {"接口", "api"},	{"服务接口", "api"}, {"dataset", "dataset"},
		 {"库表", "dataset"}, {"数据集", "dataset"}, {"数据库", "dataset"}, {"file", "file"}, {"文件", "file"}};
	for (size_t i = 0; i < TDS_ARRAY_LEN(T); i++)
		if (!strcmp(type, T[i].in))
			return T[i].form;
	return NULL;
}

static const char *frequency_of(const char *f)
{
	static const struct {
		const char *in, *code;
	} T[] = {{"实时", "realtime"}, {"每小时", "hourly"},	 {"每日", "daily"},	  {"每天", "daily"},
		 {"日", "daily"},	 {"每周", "weekly"},	 {"周", "weekly"},	  {"每月", "monthly"},
		 {"月", "monthly"},	 {"每季度", "quarterly"}, {"季度", "quarterly"}, {"每年", "yearly"},
		 {"年", "yearly"},	 {"每年度", "yearly"},	 {"不定期", "irregular"}, {"一次性", "once"}};
	if (one_of(f, FREQUENCIES, TDS_ARRAY_LEN(FREQUENCIES)))
		return f;
	for (size_t i = 0; i < TDS_ARRAY_LEN(T); i++)
		if (!strcmp(f, T[i].in))
			return T[i].code;
	return NULL;
}

/* Splits "a；b、c;d" into a JSON array of trimmed non-empty parts. */
static json_t *split_list(const char *s)
{
	json_t *a = json_array();
	const char *p = s;
	while (a && *p) {
		size_t n = strcspn(p, ";|");
		const char *sep = NULL;
		/* the full-width separators "；" (EF BC 9B) and "、" (E3 80 81) */
		for (const char *q = p; q < p + n; q++) {
			if (!strncmp(q, "\xef\xbc\x9b", 3) || !strncmp(q, "\xe3\x80\x81", 3)) {
				sep = q;
				break;
			}
		}
		size_t len = sep ? (size_t)(sep - p) : n;
		const char *b = p, *e = p + len;
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > b)
			json_array_append_new(a, json_stringn(b, (size_t)(e - b)));
		p += sep ? len + 3 : n + (p[n] ? 1 : 0);
	}
	return a;
}

/* One item (keys in English or Chinese) as an entry of kind public_item without id and version;
 * errors are "<where>: …" (TDS_EINVAL). */
static int item_entry(const json_t *item, const char *where, json_t **out)
{
	*out = NULL;
	if (!json_is_object(item))
		return tds_error_set(TDS_EINVAL, "invalid_import", "%s: an item must be a JSON object", where);
	json_t *m = json_object();
	const char *key;
	json_t *v;
	int rc = 0;
	json_object_foreach((json_t *)item, key, v) {
		const char *col = column_of(key);
		if (!col) {
			rc = tds_error_set(TDS_EINVAL, "invalid_import", "%s: unknown column '%.64s' (docs/catalog.md lists the columns)",
					   where, key);
			break;
		}
		if (json_object_get(m, col)) {
			rc = tds_error_set(TDS_EINVAL, "invalid_import", "%s: column '%s' is given twice", where, col);
			break;
		}
		bool list = !strcmp(col, "required_materials") || !strcmp(col, "tags");
		if (json_is_null(v))
			continue;
		if (list && json_is_string(v)) {
			json_object_set_new(m, col, split_list(json_string_value(v)));
		} else if (list ? !json_is_array(v) : !json_is_string(v)) {
			rc = tds_error_set(TDS_EINVAL, "invalid_import", "%s: column '%s' must be %s", where, col,
					   list ? "an array of strings or a ';'-separated string" : "a string");
			break;
		} else {
			json_object_set(m, col, v);
		}
	}
	const char *name = tds_json_str(m, "name", NULL), *type = tds_json_str(m, "type", NULL),
		   *freq = tds_json_str(m, "update_frequency", NULL);
	const char *form = type ? form_of(type) : NULL, *fcode = freq ? frequency_of(freq) : NULL;
	if (!rc && (!name || !*name))
		rc = tds_error_set(TDS_EINVAL, "invalid_import", "%s: name (目录名称) is required", where);
	else if (!rc && !type)
		rc = tds_error_set(TDS_EINVAL, "invalid_import", "%s: type (类型) is required", where);
	else if (!rc && !form)
		rc = tds_error_set(TDS_EINVAL, "invalid_import",
				   "%s: type '%.64s' is not api, dataset or file (接口, 库表, 数据集, 文件)", where, type);
	else if (!rc && freq && !fcode)
		rc = tds_error_set(TDS_EINVAL, "invalid_import",
				   "%s: update_frequency '%.64s' is not one of realtime, hourly, daily, weekly, monthly, quarterly, "
				   "yearly, irregular, once (实时, 每小时, 每日, 每周, 每月, 每季度, 每年, 不定期, 一次性)",
				   where, freq);
	if (!rc) {
		json_t *e = json_pack("{s:s, s:s, s:s, s:s?, s:{s:s}}", "kind", "public_item", "title", name, "form", form,
				      "update_frequency", fcode, "scope", "scope", "space");
		static const char *const COPY[] = {"format", "authorization_type", "usage_restrictions", "application_path",
						   "required_materials", "description", "domain", "tags"};
		for (size_t i = 0; e && i < TDS_ARRAY_LEN(COPY); i++) {
			json_t *x = json_object_get(m, COPY[i]);
			if (x)
				json_object_set(e, COPY[i], x);
		}
		if (!e)
			rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		*out = e;
	}
	json_decref(m);
	return rc;
}

typedef struct import_ctx {
	tds_catalog *c;
	const tds_ledger_actor *actor;
	const char *org;
	json_t *entries; /* items as entries (without id, version) */
	json_t *where;   /* "line N" / "items[i]" per entry */
	json_t *result;  /* items of the answer */
} import_ctx;

static int import_tx(sqlite3 *db, void *arg)
{
	import_ctx *x = arg;
	int rc = 0;
	size_t i;
	json_t *e;
	json_array_foreach(x->entries, i, e) {
		const char *where = json_string_value(json_array_get(x->where, i));
		/* the organisation's item of this name, if imported before: a new version of it */
		sqlite3_stmt *st;
		if ((rc = tds_store_prepare(db, "SELECT id, version FROM catalog_entries WHERE org_id = ? AND kind = 'public_item'"
					       " AND title = ?", &st)))
			break;
		sqlite3_bind_text(st, 1, x->org, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, tds_json_str(e, "title", ""), -1, SQLITE_STATIC);
		char id[TDS_ID_MAX] = "";
		int64_t version = 1;
		if (sqlite3_step(st) == SQLITE_ROW) {
			snprintf(id, sizeof id, "%s", (const char *)sqlite3_column_text(st, 0));
			version = sqlite3_column_int64(st, 1) + 1;
		}
		sqlite3_finalize(st);
		if (!id[0] && (rc = tds_id_new("pub", id)))
			break;
		json_object_set_new(e, "id", json_string(id));
		json_object_set_new(e, "version", json_integer((json_int_t)version));
		centry ce;
		bool applied = false;
		if ((rc = check_entry(e, x->org, &ce))) {
			char m[512];
			snprintf(m, sizeof m, "%s", tds_error_message());
			rc = tds_error_set(TDS_EINVAL, "invalid_import", "%s: %s", where, m);
			break;
		}
		rc = upsert_one(x->c, db, x->actor, x->org, &ce, &applied);
		json_decref(ce.e);
		if (rc)
			break;
		json_array_append_new(x->result, json_pack("{s:s, s:s, s:s, s:I}", "line", where, "id", id, "title",
							   tds_json_str(e, "title", ""), "version", (json_int_t)version));
	}
	return rc;
}

/* Collects item errors: the first sets the error, all go to details. */
static void note_error(json_t *errors, const char *where)
{
	json_array_append_new(errors, json_pack("{s:s, s:s, s:s}", "line", where, "code", tds_error_name(), "message",
						tds_error_message()));
}

static int import_run(tds_catalog *c, const tds_ledger_actor *actor, const char *org, import_ctx *x, json_t *errors,
		      json_t **out)
{
	int rc = 0;
	if (!c->is_operator)
		rc = tds_error_set(TDS_EUNPROC, "not_operator", "public-data catalogs are imported on the operator node");
	else if (json_array_size(errors)) {
		json_t *first = json_array_get(errors, 0);
		rc = tds_error_set(TDS_EINVAL, "invalid_import", "%s (%zu bad item%s; error details list every one; nothing was imported)",
				   tds_json_str(first, "message", ""), json_array_size(errors),
				   json_array_size(errors) == 1 ? "" : "s");
		tds_error_set_details(json_pack("{s:O}", "errors", errors));
	} else if (!json_array_size(x->entries)) {
		rc = tds_error_set(TDS_EINVAL, "empty_import", "the catalog holds no items");
	} else {
		x->c = c;
		x->actor = actor;
		x->org = org;
		x->result = json_array();
		if (!(rc = tds_store_tx(c->store, import_tx, x)))
			*out = json_pack("{s:I, s:O}", "imported", (json_int_t)json_array_size(x->result), "items", x->result);
		json_decref(x->result);
		if (!rc && !*out)
			rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	}
	return rc;
}

/* Adds an item (or its error) to the import, refusing a name seen before. */
static void import_add(import_ctx *x, json_t *errors, json_t *names, const json_t *item, const char *where)
{
	json_t *e;
	if (item_entry(item, where, &e)) {
		note_error(errors, where);
		return;
	}
	const char *title = tds_json_str(e, "title", "");
	json_t *seen = json_object_get(names, title);
	if (seen) {
		tds_error_set(TDS_EINVAL, "invalid_import", "%s: name '%.128s' repeats %s", where, title, json_string_value(seen));
		note_error(errors, where);
		json_decref(e);
		return;
	}
	json_object_set_new(names, title, json_string(where));
	json_array_append_new(x->entries, e);
	json_array_append_new(x->where, json_string(where));
}

int tds_catalog_import_items(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const json_t *items,
			     json_t **out)
{
	*out = NULL;
	if (!json_is_array(items))
		return tds_error_set(TDS_EINVAL, "invalid_import", "the catalog must be an array of items");
	if (json_array_size(items) > IMPORT_MAX_ITEMS)
		return tds_error_set(TDS_ETOOBIG, "too_many_items", "at most %d items per import", IMPORT_MAX_ITEMS);
	import_ctx x = {.entries = json_array(), .where = json_array()};
	json_t *errors = json_array(), *names = json_object();
	size_t i;
	json_t *item;
	json_array_foreach(items, i, item) {
		char where[32];
		snprintf(where, sizeof where, "items[%zu]", i);
		import_add(&x, errors, names, item, where);
	}
	int rc = import_run(c, actor, org, &x, errors, out);
	json_decref(x.entries);
	json_decref(x.where);
	json_decref(errors);
	json_decref(names);
	return rc;
}

int tds_catalog_import_csv(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const void *csv, size_t len,
			   json_t **out)
{
	*out = NULL;
	tds_csv_opts o = {.header = TDS_CSV_HEADER_YES, .max_field = 64 * 1024, .max_columns = 64};
	tds_csv *r;
	int rc = tds_csv_open_mem(csv, len, &o, &r);
	if (rc)
		return rc;
	import_ctx x = {.entries = json_array(), .where = json_array()};
	json_t *errors = json_array(), *names = json_object(), *cols = json_array();
	tds_csv_record rec;
	int s = tds_csv_next(r, &rec);
	if (s == 0)
		rc = tds_error_set(TDS_EINVAL, "empty_import", "the CSV catalog is empty: give a header line and items");
	else if (s < 0)
		rc = s;
	for (size_t i = 0; !rc && i < rec.n; i++) {
		const char *col = column_of(rec.field[i]);
		if (!col) {
			rc = cat_line_error(TDS_EINVAL, "invalid_import", rec.line,
					    "column %zu: unknown header '%.64s' (name/目录名称, type/类型, format/格式, "
					    "update_frequency/更新频率, authorization_type/授权类型, usage_restrictions/使用限制, "
					    "application_path/申请路径, required_materials/申请材料, description, domain, tags)",
					    i + 1, rec.field[i]);
			break;
		}
		size_t k;
		json_t *prev;
		json_array_foreach(cols, k, prev) {
			if (!strcmp(json_string_value(prev), col))
				rc = cat_line_error(TDS_EINVAL, "invalid_import", rec.line, "column %zu repeats column '%s'", i + 1, col);
		}
		json_array_append_new(cols, json_string(col));
	}
	size_t ncols = json_array_size(cols), count = 0;
	while (!rc && (s = tds_csv_next(r, &rec)) == 1) {
		char where[32];
		snprintf(where, sizeof where, "line %llu", (unsigned long long)rec.line);
		if (++count > IMPORT_MAX_ITEMS) {
			rc = tds_error_set(TDS_ETOOBIG, "too_many_items", "at most %d items per import", IMPORT_MAX_ITEMS);
			break;
		}
		if (rec.n != ncols) {
			tds_error_set(TDS_EINVAL, "invalid_import", "%s: expected %zu fields, found %zu", where, ncols, rec.n);
			note_error(errors, where);
			continue;
		}
		json_t *item = json_object();
		for (size_t i = 0; i < rec.n; i++)
			if (rec.len[i])
				json_object_set_new(item, json_string_value(json_array_get(cols, i)), json_string(rec.field[i]));
		import_add(&x, errors, names, item, where);
		json_decref(item);
	}
	if (!rc && s < 0)
		rc = s;
	tds_csv_free(r);
	if (!rc)
		rc = import_run(c, actor, org, &x, errors, out);
	json_decref(x.entries);
	json_decref(x.where);
	json_decref(errors);
	json_decref(names);
	json_decref(cols);
	return rc;
}

/* ---- DCAT 3 ---- */

static const char *frequency_uri(const char *f)
{
	static const struct {
		const char *code, *eu;
	} T[] = {{"realtime", "CONT"}, {"hourly", "HOURLY"},	   {"daily", "DAILY"},	 {"weekly", "WEEKLY"},
		 {"monthly", "MONTHLY"}, {"quarterly", "QUARTERLY"}, {"yearly", "ANNUAL"}, {"irregular", "IRREG"},
		 {"once", "NEVER"}};
	for (size_t i = 0; f && i < TDS_ARRAY_LEN(T); i++)
		if (!strcmp(f, T[i].code))
			return T[i].eu;
	return NULL;
}

static const char *media_type(const char *format, const char *form)
{
	static const struct {
		const char *fmt, *mt;
	} T[] = {{"csv", "text/csv"},
		 {"json", "application/json"},
		 {"xml", "application/xml"},
		 {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
		 {"xls", "application/vnd.ms-excel"},
		 {"pdf", "application/pdf"},
		 {"txt", "text/plain"},
		 {"parquet", "application/vnd.apache.parquet"}};
	for (size_t i = 0; format && i < TDS_ARRAY_LEN(T); i++)
		if (!strcasecmp(format, T[i].fmt))
			return T[i].mt;
	return form && !strcmp(form, "api") ? "application/json" : NULL;
}

static json_t *typed_time(const json_t *t)
{
	return json_is_string(t) ? json_pack("{s:O, s:s}", "@value", t, "@type", "xsd:dateTime") : NULL;
}

json_t *tds_catalog_entry_dcat(const json_t *e, const char *base)
{
	const char *id = tds_json_str(e, "id", ""), *form = tds_json_str(e, "form", NULL),
		   *code = tds_json_str(e, "code", NULL), *org = tds_json_str(e, "org_id", ""),
		   *format = tds_json_str(e, "format", NULL), *freq = frequency_uri(tds_json_str(e, "update_frequency", NULL));
	bool service = form && !strcmp(form, "api");
	char uri[512], pub[512], furi[128];
	snprintf(uri, sizeof uri, "%s/catalog/%s", base, id);
	snprintf(pub, sizeof pub, "%s/orgs/%s", base, org);
	json_t *d = json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:s}, s:s, s:s, s:s, s:O, s:O?, s:o, s:{s:s, s:s}}",
			      "@context", "dcat", "http://www.w3.org/ns/dcat#", "dct", "http://purl.org/dc/terms/", "foaf",
			      "http://xmlns.com/foaf/0.1/", "skos", "http://www.w3.org/2004/02/skos/core#", "xsd",
			      "http://www.w3.org/2001/XMLSchema#", "tds", "https://tds.example/ns#",
			      "@id", uri, "@type", service ? "dcat:DataService" : "dcat:Dataset", "dct:identifier",
			      code ? code : id, "dct:title", json_object_get(e, "title"), "dct:description",
			      json_is_string(json_object_get(e, "description")) ? json_object_get(e, "description") : NULL,
			      "dcat:keyword", array_or_empty(e, "tags"), "dct:publisher", "@id", pub, "@type", "foaf:Agent");
	if (!d)
		return NULL;
	json_t *themes = json_array();
	static const char *const THEME[] = {"domain", "industry"};
	for (size_t i = 0; i < 2; i++) {
		const char *t = tds_json_str(e, THEME[i], NULL);
		if (t)
			json_array_append_new(themes, json_pack("{s:s, s:s}", "@type", "skos:Concept", "skos:prefLabel", t));
	}
	json_object_set_new(d, "dcat:theme", themes);
	if (freq) {
		snprintf(furi, sizeof furi, "http://publications.europa.eu/resource/authority/frequency/%s", freq);
		json_object_set_new(d, "dct:accrualPeriodicity", json_pack("{s:s}", "@id", furi));
	}
	json_t *t;
	if ((t = typed_time(json_object_get(e, "issued"))))
		json_object_set_new(d, "dct:issued", t);
	if ((t = typed_time(json_object_get(e, "modified"))))
		json_object_set_new(d, "dct:modified", t);
	static const struct {
		const char *member, *term;
	} EXTRA[] = {{"authorization_type", "dct:accessRights"}, {"usage_restrictions", "dct:rights"},
		     {"grade", "tds:grade"},			{"level", "tds:level"},
		     {"kind", "tds:kind"},			{"application_path", "tds:applicationPath"}};
	for (size_t i = 0; i < TDS_ARRAY_LEN(EXTRA); i++) {
		const json_t *v = json_object_get(e, EXTRA[i].member);
		if (json_is_string(v))
			json_object_set(d, EXTRA[i].term, (json_t *)v);
	}
	if (json_array_size(json_object_get(e, "required_materials")))
		json_object_set(d, "tds:requiredMaterials", json_object_get(e, "required_materials"));
	if (json_array_size(json_object_get(e, "fields"))) {
		json_t *fields = json_array();
		size_t i;
		json_t *f;
		json_array_foreach(json_object_get(e, "fields"), i, f) json_array_append_new(
		    fields, json_pack("{s:O, s:O?, s:O?}", "tds:name", json_object_get(f, "name"), "tds:label",
				      json_object_get(f, "label"), "tds:type", json_object_get(f, "type")));
		json_object_set_new(d, "tds:fields", fields);
	}
	if (tds_json_bool(e, "withdrawn", false))
		json_object_set_new(d, "tds:withdrawn", json_true());
	/* the distribution: how the data is obtained */
	const char *mt = media_type(format, form);
	json_t *dist = json_pack("{s:s, s:s}", "@id", uri, "@type", "dcat:Distribution");
	if (dist) {
		json_object_set_new(dist, "@id", json_sprintf("%s#distribution", uri));
		if (format || form)
			json_object_set_new(dist, "dct:format", json_string(format ? format : form));
		if (mt)
			json_object_set_new(dist, "dcat:mediaType", json_sprintf("https://www.iana.org/assignments/media-types/%s", mt));
		if (service)
			json_object_set_new(dist, "dcat:accessService",
					    json_pack("{s:s, s:s, s:O}", "@id", uri, "@type", "dcat:DataService", "dct:title",
						      json_object_get(e, "title")));
		json_object_set_new(d, "dcat:distribution", json_pack("[o]", dist));
	}
	return d;
}

/* ---- sync: operator side ---- */

int tds_catalog_entries_receive(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const json_t *body,
				json_t **out)
{
	static const tds_json_field f[] = {{"entries", TDS_JSON_ARRAY, true, 100}};
	*out = NULL;
	if (!c->is_operator)
		return tds_error_set(TDS_EUNPROC, "not_operator", "catalog entries are sent to the operator node");
	if (!org)
		return tds_error_set(TDS_EPERM, "no_organisation", "the calling node's certificate names no organisation");
	int rc = tds_json_check(body, f, TDS_ARRAY_LEN(f), false);
	if (rc)
		return rc;
	const json_t *entries = json_object_get(body, "entries");
	if (!json_array_size(entries))
		return tds_error_set(TDS_EINVAL, "invalid_field", "field 'entries' must hold 1-100 entries");
	json_t *results = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(entries, i, e) {
		bool applied = false;
		if (!strcmp(tds_json_str(e, "kind", ""), "public_item"))
			rc = tds_error_set(TDS_EUNPROC, "kind_not_allowed", "public items come from catalog imports, not connectors");
		else
			rc = tds_catalog_entry_upsert(c, actor, org, e, &applied);
		json_t *r = json_pack("{s:o, s:o}", "id", nullable(e, "id"), "version", nullable(e, "version"));
		if (!rc) {
			json_object_set_new(r, "applied", json_boolean(applied));
		} else {
			int status = tds_error_http_status(rc);
			json_object_set_new(r, "status", json_integer(status));
			json_object_set_new(r, "error", json_pack("{s:s, s:s}", "code", tds_error_name(), "message", tds_error_message()));
		}
		json_array_append_new(results, r);
		/* a failure that may pass (busy, I/O): stop, so the connector re-sends from here in order */
		if (rc && (tds_error_http_status(rc) >= 500 || rc == TDS_ELIMIT))
			break;
	}
	*out = json_pack("{s:o}", "results", results);
	return *out ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
}

/* ---- sync: connector side ---- */

#define FLUSH_BATCH 100
#define FLUSH_MAX_BATCHES 20

typedef struct mark_ctx {
	const int64_t *seq;
	const char *const *error; /* NULL = sent, else failed with this error */
	size_t n;
} mark_ctx;

static int mark_tx(sqlite3 *db, void *arg)
{
	mark_ctx *x = arg;
	int rc = 0;
	int64_t now = tds_now_ms();
	for (size_t i = 0; !rc && i < x->n; i++) {
		sqlite3_stmt *st;
		if ((rc = tds_store_prepare(db, x->error[i] ? "UPDATE catalog_outbox SET failed_at = ?2, error = ?3 WHERE seq = ?1"
							    : "UPDATE catalog_outbox SET sent_at = ?2 WHERE seq = ?1", &st)))
			break;
		sqlite3_bind_int64(st, 1, x->seq[i]);
		sqlite3_bind_int64(st, 2, now);
		if (x->error[i])
			sqlite3_bind_text(st, 3, x->error[i], -1, SQLITE_STATIC);
		rc = step_done(db, st, "marking outbox rows");
	}
	return rc;
}

static bool permanent(long status)
{
	return status >= 400 && status < 500 && status != 401 && status != 403 && status != 404 && status != 408 &&
	       status != 429;
}

static int flush_fail(const char *what, long status, const json_t *resp)
{
	const char *msg = tds_json_str(json_object_get(resp, "error"), "message", "no message");
	tds_log_fields(TDS_LOG_WARN, "catalog_sync_failed", json_pack("{s:s, s:I, s:s}", "step", what, "status",
								      (json_int_t)status, "msg", msg));
	return tds_error_set(TDS_EIO, "catalog_sync_failed", "the operator answered %ld to %s: %s", status, what, msg);
}

int tds_catalog_outbox_flush(tds_catalog *c, struct tds_http_client *client, int *sent)
{
	int total = 0, rc = 0, batch = FLUSH_BATCH;
	sqlite3 *db = tds_store_conn(c->store);
	if (!db)
		return tds_error_code();
	for (int round = 0; !rc && round < FLUSH_MAX_BATCHES; round++) {
		int64_t seq[FLUSH_BATCH];
		const char *err[FLUSH_BATCH] = {0};
		char *errs[FLUSH_BATCH] = {0};
		size_t n = 0, marked = 0;
		json_t *entries = json_array(), *resp = NULL;
		sqlite3_stmt *st;
		if ((rc = tds_store_prepare(db, "SELECT seq, entry FROM catalog_outbox WHERE sent_at IS NULL AND failed_at IS NULL"
					       " ORDER BY seq LIMIT ?", &st))) {
			json_decref(entries);
			break;
		}
		sqlite3_bind_int(st, 1, batch);
		while (sqlite3_step(st) == SQLITE_ROW && n < (size_t)batch) {
			json_t *e = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
			seq[n++] = sqlite3_column_int64(st, 0);
			json_array_append_new(entries, e ? e : json_object());
		}
		sqlite3_finalize(st);
		if (n == 0) {
			json_decref(entries);
			break;
		}
		json_t *body = json_pack("{s:o}", "entries", entries);
		long status = 0;
		rc = tds_http_client_json(client, "POST", "/api/v1/catalog/entries", body, &status, &resp);
		json_decref(body);
		if (rc) {
			tds_log_fields(TDS_LOG_WARN, "catalog_sync_failed",
				       json_pack("{s:s, s:s}", "code", tds_error_name(), "msg", tds_error_message()));
		} else if (status == 200) {
			const json_t *results = json_object_get(resp, "results");
			for (size_t i = 0; i < n && i < json_array_size(results); i++) {
				const json_t *r = json_array_get(results, i);
				long s = (long)tds_json_int(r, "status", 0);
				if (json_is_boolean(json_object_get(r, "applied"))) {
					marked++;
				} else if (permanent(s)) {
					const json_t *er = json_object_get(r, "error");
					char *m = NULL;
					if (asprintf(&m, "%ld %s: %s", s, tds_json_str(er, "code", ""), tds_json_str(er, "message", "")) < 0)
						m = NULL;
					errs[i] = m;
					err[i] = m ? m : "refused";
					tds_log_fields(TDS_LOG_ERROR, "catalog_entry_refused",
						       json_pack("{s:I, s:s}", "seq", (json_int_t)seq[i], "error", err[i]));
					marked++;
				} else {
					break; /* transient: keep the order, try again later */
				}
			}
			if (marked < n)
				rc = flush_fail("an entry", status, json_array_get(json_object_get(resp, "results"), marked));
		} else if (permanent(status) && n > 1) {
			batch = 1; /* find the row the operator refuses: one at a time */
		} else if (permanent(status)) {
			const json_t *er = json_object_get(resp, "error");
			char *m = NULL;
			if (asprintf(&m, "%ld %s: %s", status, tds_json_str(er, "code", ""), tds_json_str(er, "message", "")) < 0)
				m = NULL;
			errs[0] = m;
			err[0] = m ? m : "refused";
			tds_log_fields(TDS_LOG_ERROR, "catalog_entry_refused",
				       json_pack("{s:I, s:s}", "seq", (json_int_t)seq[0], "error", err[0]));
			marked = 1;
		} else {
			rc = flush_fail("the batch", status, resp);
		}
		if (marked) {
			mark_ctx mx = {.seq = seq, .error = err, .n = marked};
			int mrc = tds_store_tx(c->store, mark_tx, &mx);
			if (mrc && !rc)
				rc = mrc;
			for (size_t i = 0; i < marked; i++)
				if (!err[i])
					total++;
		}
		if (rc) {
			sqlite3_stmt *up;
			if (!tds_store_prepare(db, "UPDATE catalog_outbox SET attempts = attempts + 1 WHERE seq = ?", &up)) {
				sqlite3_bind_int64(up, 1, seq[marked < n ? marked : 0]);
				sqlite3_step(up);
				sqlite3_finalize(up);
			}
		}
		for (size_t i = 0; i < n; i++)
			free(errs[i]);
		json_decref(resp);
	}
	if (sent)
		*sent = total;
	return rc;
}
