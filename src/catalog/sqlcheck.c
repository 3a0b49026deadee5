/*
 * sqlcheck.c — the validator of API products' SQL (catalog.h section 9): a product's query must be
 * one read-only SELECT over its resource's one table, with named parameters that are exactly the
 * declared ones. SQLite's own parser decides what the statement is: the query is prepared (never
 * stepped) on the resource's data file opened read-only, with an authorizer that admits SELECT,
 * reads of that one table and a whitelist of deterministic built-in functions, and denies
 * everything else (ATTACH, PRAGMA, writes, schema tables, other tables, recursive CTEs, any other
 * function). No hand parser judges SQL here: the small lexer below only finds the byte offset of
 * the token SQLite (or the authorizer) complained about, so that errors can say where.
 *
 * Not for running product queries (delivery does, on a connection opened the same way) nor for
 * building the wizard's SQL (product.c).
 */
#include "catalog/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deterministic built-in functions a product query may call. Left out on purpose: random,
 * randomblob, the date and time functions ('now' makes them non-deterministic), printf/format and
 * zeroblob (a width or size can ask for gigabytes), changes, last_insert_rowid, sqlite_*,
 * load_extension, the JSON functions and anything registered by an extension or application. */
static const char *const FUNCTIONS[] = {
    "abs",	   "avg",	  "ceil",	 "ceiling",   "char",	  "coalesce",	  "count",	 "cume_dist",
    "dense_rank",  "exp",	  "first_value", "floor",     "glob",	  "group_concat", "hex",	 "ifnull",
    "iif",	   "instr",	  "lag",	 "last_value", "lead",	  "length",	  "like",	 "likelihood",
    "likely",	   "ln",	  "log",	 "log10",     "log2",	  "lower",	  "ltrim",	 "max",
    "min",	   "mod",	  "nth_value",	 "ntile",     "nullif",	  "percent_rank", "pi",		 "pow",
    "power",	   "quote",	  "rank",	 "replace",   "round",	  "row_number",	  "rtrim",	 "sign",
    "sqrt",	   "substr",	  "substring",	 "sum",	      "total",	  "trim",	  "trunc",	 "typeof",
    "unicode",	   "unlikely",	  "upper",
};

/* ---- a lexer that only locates tokens (SQLite decides what they mean) ---- */

static bool id_start(unsigned char ch)
{
	return ch == '_' || ch >= 0x80 || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z');
}
static bool id_char(unsigned char ch)
{
	return id_start(ch) || ch == '$' || (ch >= '0' && ch <= '9');
}

/* ASCII-case-insensitive equality of s[0..n) and the NUL-terminated t. */
static bool same(const char *s, size_t n, const char *t)
{
	size_t m = strlen(t);
	if (n != m)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char a = (unsigned char)s[i], b = (unsigned char)t[i];
		if (a < 0x80 && b < 0x80 && (a | 0x20) >= 'a' && (a | 0x20) <= 'z')
			a |= 0x20, b |= 0x20;
		if (a != b)
			return false;
	}
	return true;
}

/* Unquotes a quoted identifier q[0..n) (quotes included, doubled closing quotes) into out; false
 * when it does not fit. */
static bool unquote(const char *q, size_t n, char *out, size_t cap)
{
	char close = q[0] == '[' ? ']' : q[0];
	size_t o = 0;
	for (size_t i = 1; i + 1 < n; i++) {
		if (q[i] == close && close != ']' && i + 2 < n && q[i + 1] == close)
			i++;
		if (o + 1 >= cap)
			return false;
		out[o++] = q[i];
	}
	out[o] = 0;
	return true;
}

typedef enum { TK_END, TK_IDENT, TK_QUOTED, TK_PARAM, TK_STRING, TK_OTHER } tok_kind;

/* The token at or after *pos (whitespace and comments skipped): kind, start and length. Total over
 * any bytes. */
static tok_kind next_token(const char *s, size_t n, size_t *pos, size_t *start, size_t *len)
{
	size_t i = *pos;
	for (;;) {
		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f'))
			i++;
		if (i + 1 < n && s[i] == '-' && s[i + 1] == '-') {
			while (i < n && s[i] != '\n')
				i++;
			continue;
		}
		if (i + 1 < n && s[i] == '/' && s[i + 1] == '*') {
			i += 2;
			while (i < n && !(s[i] == '*' && i + 1 < n && s[i + 1] == '/'))
				i++;
			i = i < n ? i + 2 : n;
			continue;
		}
		break;
	}
	*start = i;
	if (i >= n) {
		*pos = *len = 0;
		*pos = n;
		return TK_END;
	}
	unsigned char ch = (unsigned char)s[i];
	tok_kind k = TK_OTHER;
	size_t j = i + 1;
	if (ch == '\'' || ch == '"' || ch == '`' || ch == '[') {
		char close = ch == '[' ? ']' : (char)ch;
		for (; j < n; j++) {
			if (s[j] == close) {
				if (close != ']' && j + 1 < n && s[j + 1] == close) {
					j++;
					continue;
				}
				j++;
				break;
			}
		}
		k = ch == '\'' ? TK_STRING : TK_QUOTED;
	} else if (id_start(ch)) {
		while (j < n && id_char((unsigned char)s[j]))
			j++;
		k = TK_IDENT;
	} else if (ch == ':' || ch == '@' || ch == '$' || ch == '?') {
		while (j < n && id_char((unsigned char)s[j]))
			j++;
		k = TK_PARAM;
	}
	*len = j - i;
	*pos = j;
	return k;
}

/* Offset of the first identifier or keyword spelled `name` (bare or quoted, ASCII case ignored);
 * -1 when none. */
static long find_ident(const char *s, size_t n, const char *name)
{
	size_t pos = 0, st, len;
	tok_kind k;
	char buf[256];
	while ((k = next_token(s, n, &pos, &st, &len)) != TK_END) {
		if (k == TK_IDENT && same(s + st, len, name))
			return (long)st;
		if (k == TK_QUOTED && len >= 2 && unquote(s + st, len, buf, sizeof buf) && same(buf, strlen(buf), name))
			return (long)st;
	}
	return -1;
}

/* Offset of the first parameter token exactly `param` (":year"), or, with param NULL, of the first
 * positional '?' parameter; -1 when none. */
static long find_param(const char *s, size_t n, const char *param)
{
	size_t pos = 0, st, len;
	tok_kind k;
	while ((k = next_token(s, n, &pos, &st, &len)) != TK_END) {
		if (k != TK_PARAM)
			continue;
		if (param ? len == strlen(param) && memcmp(s + st, param, len) == 0 : s[st] == '?')
			return (long)st;
	}
	return -1;
}

/* Offset of the first token at or after `from`; -1 when only whitespace and comments remain. */
static long first_token(const char *s, size_t n, size_t from)
{
	size_t pos = from, st, len;
	return next_token(s, n, &pos, &st, &len) == TK_END ? -1 : (long)st;
}

/* Offset and name of the table-valued function a FROM or JOIN names ("FROM json_each(" or "JOIN
 * pragma_table_list"); -1 when none is found. */
static long find_table_function(const char *s, size_t n, const char *table, char *name, size_t cap)
{
	size_t pos = 0, st, len, st2, len2;
	tok_kind k;
	bool after_from = false;
	while ((k = next_token(s, n, &pos, &st, &len)) != TK_END) {
		if (k == TK_IDENT && (same(s + st, len, "FROM") || same(s + st, len, "JOIN"))) {
			after_from = true;
			continue;
		}
		if (after_from && (k == TK_IDENT || k == TK_QUOTED)) {
			char buf[128];
			if (k == TK_QUOTED ? !unquote(s + st, len, buf, sizeof buf) : len >= sizeof buf)
				buf[0] = 0;
			else if (k == TK_IDENT)
				snprintf(buf, sizeof buf, "%.*s", (int)len, s + st);
			size_t p2 = pos;
			bool call = next_token(s, n, &p2, &st2, &len2) == TK_OTHER && s[st2] == '(';
			if (buf[0] && sqlite3_stricmp(buf, table) && (call || sqlite3_strnicmp(buf, "pragma_", 7) == 0)) {
				snprintf(name, cap, "%s", buf);
				return (long)st;
			}
		}
		after_from = false;
	}
	return -1;
}

/* ---- the authorizer ---- */

typedef struct auth_ctx {
	const char *table;
	bool denied;
	int action;
	char name[128]; /* the table, function or keyword refused */
	bool read_table; /* the query reads the resource's table */
	bool recursive;  /* a recursive CTE was seen (reported before whatever else it caused) */
} auth_ctx;

static const char *action_word(int action)
{
	switch (action) {
	case SQLITE_INSERT:
		return "INSERT";
	case SQLITE_UPDATE:
		return "UPDATE";
	case SQLITE_DELETE:
		return "DELETE";
	case SQLITE_ATTACH:
		return "ATTACH";
	case SQLITE_DETACH:
		return "DETACH";
	case SQLITE_PRAGMA:
		return "PRAGMA";
	case SQLITE_TRANSACTION:
		return "a transaction statement";
	case SQLITE_SAVEPOINT:
		return "SAVEPOINT";
	case SQLITE_ALTER_TABLE:
		return "ALTER";
	case SQLITE_REINDEX:
		return "REINDEX";
	case SQLITE_ANALYZE:
		return "ANALYZE";
	case SQLITE_RECURSIVE:
		return "RECURSIVE";
	default:
		return action >= SQLITE_CREATE_INDEX && action <= SQLITE_DROP_VIEW ? "a schema change" : "this statement";
	}
}

static void deny(auth_ctx *a, int action, const char *name)
{
	if (a->denied)
		return;
	a->denied = true;
	a->action = action;
	snprintf(a->name, sizeof a->name, "%s", name ? name : "");
}

static int authorize(void *arg, int action, const char *p1, const char *p2, const char *dbname, const char *trigger)
{
	auth_ctx *a = arg;
	(void)trigger;
	switch (action) {
	case SQLITE_SELECT:
		return SQLITE_OK;
	case SQLITE_RECURSIVE:
		a->recursive = true;
		deny(a, action, NULL);
		return SQLITE_DENY;
	case SQLITE_READ:
		/* SQLite names no database for some reads (count(*)); only main holds tables here */
		if (p1 && (!dbname || strcmp(dbname, "main") == 0) && sqlite3_stricmp(p1, a->table) == 0) {
			a->read_table = true;
			return SQLITE_OK;
		}
		deny(a, action, p1);
		return SQLITE_DENY;
	case SQLITE_FUNCTION:
		for (size_t i = 0; p2 && i < TDS_ARRAY_LEN(FUNCTIONS); i++)
			if (sqlite3_stricmp(p2, FUNCTIONS[i]) == 0)
				return SQLITE_OK;
		deny(a, action, p2);
		return SQLITE_DENY;
	default:
		deny(a, action, action == SQLITE_ATTACH || action == SQLITE_DETACH || action == SQLITE_PRAGMA ? NULL : p1);
		return SQLITE_DENY;
	}
}

static bool schema_table(const char *t)
{
	return sqlite3_stricmp(t, "sqlite_master") == 0 || sqlite3_stricmp(t, "sqlite_schema") == 0 ||
	       sqlite3_stricmp(t, "sqlite_temp_master") == 0 || sqlite3_stricmp(t, "sqlite_temp_schema") == 0 ||
	       sqlite3_strnicmp(t, "sqlite_", 7) == 0;
}

#define SQL_ERR(off, ...) sql_error(off, __VA_ARGS__)

static int sql_error(long off, const char *fmt, ...) TDS_PRINTF(2, 3);
static int sql_error(long off, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (off >= 0)
		return tds_error_set(TDS_EINVAL, "invalid_sql", "offset %ld: %s", off, msg);
	return tds_error_set(TDS_EINVAL, "invalid_sql", "%s", msg);
}

/* The error of a refused statement, with the offset of the token the authorizer refused. */
static int denial_error(sqlite3 *db, const auth_ctx *a, const char *sql, size_t n)
{
	long off;
	if (a->action == SQLITE_READ && !schema_table(a->name)) {
		/* a read of a name that is no table of the database is a CTE reading itself: recursion */
		sqlite3_stmt *st;
		bool is_table = true;
		if (sqlite3_prepare_v2(db, "SELECT 1 FROM main.sqlite_schema WHERE type IN ('table','view') AND name = ?1 COLLATE NOCASE",
				       -1, &st, NULL) == SQLITE_OK) {
			sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
			is_table = sqlite3_step(st) == SQLITE_ROW;
			sqlite3_finalize(st);
		}
		if (!is_table) {
			off = find_ident(sql, n, "RECURSIVE");
			return SQL_ERR(off >= 0 ? off : find_ident(sql, n, a->name),
				       "recursive common table expressions are not allowed (\"%s\" reads itself)", a->name);
		}
	}
	if (a->recursive) {
		off = find_ident(sql, n, "RECURSIVE");
		return SQL_ERR(off >= 0 ? off : find_ident(sql, n, a->name),
			       "recursive common table expressions are not allowed");
	}
	if (a->action == SQLITE_UPDATE && schema_table(a->name)) {
		/* SQLite writes its schema when it instantiates an eponymous virtual table: a table-valued
		   function (json_each, pragma_…), never a write of the query's own */
		char fn[128];
		off = find_table_function(sql, n, a->table, fn, sizeof fn);
		if (off >= 0)
			return SQL_ERR(off, "the table-valued function %s() is not allowed; a product reads only its resource's "
					    "table \"%s\"", fn, a->table);
		return SQL_ERR(-1, "table-valued functions and virtual tables are not allowed; a product reads only its "
				   "resource's table \"%s\"", a->table);
	}
	switch (a->action) {
	case SQLITE_READ:
		off = find_ident(sql, n, a->name);
		if (schema_table(a->name)) {
			/* SQLite reports the aliases (sqlite_schema …) by their old name: name what was written */
			static const char *const aliases[] = {"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"};
			const char *written = a->name;
			for (size_t i = 0; off < 0 && i < TDS_ARRAY_LEN(aliases); i++)
				if ((off = find_ident(sql, n, aliases[i])) >= 0)
					written = aliases[i];
			return SQL_ERR(off, "the schema table \"%s\" may not be read; a product reads only its resource's table \"%s\"",
				       written, a->table);
		}
		return SQL_ERR(off, "table \"%s\" is not this resource's table (\"%s\")", a->name, a->table);
	case SQLITE_FUNCTION:
		return SQL_ERR(find_ident(sql, n, a->name),
			       "function %s() is not allowed: only deterministic built-in functions may be called (docs/catalog.md lists them)",
			       a->name);
	case SQLITE_RECURSIVE:
		return SQL_ERR(find_ident(sql, n, "RECURSIVE"), "recursive common table expressions are not allowed");
	case SQLITE_ATTACH:
	case SQLITE_DETACH:
	case SQLITE_PRAGMA:
		off = find_ident(sql, n, action_word(a->action));
		return SQL_ERR(off, "%s is not allowed: a product query is one SELECT", action_word(a->action));
	default:
		return SQL_ERR(first_token(sql, n, 0), "%s is not allowed: a product query is one read-only SELECT",
			       action_word(a->action));
	}
}

/* Checks a parameter name: 1-64 bytes of letters, digits, '_' and non-ASCII UTF-8, not starting with
 * a digit (what SQLite reads after ':'). */
bool tds_product_param_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > 64 || !tds_utf8_valid(name, n) || !id_start((unsigned char)name[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!id_char((unsigned char)name[i]) || name[i] == '$')
			return false;
	return true;
}

int tds_product_sql_check(sqlite3 *db, const char *table, const char *sql, const char *const *params, size_t nparams,
			  json_t **columns)
{
	if (columns)
		*columns = NULL;
	size_t n = sql ? strlen(sql) : 0;
	if (!db || !table || !*table)
		return tds_error_set(TDS_EINTERNAL, NULL, "the SQL check needs a database and a table");
	if (n == 0)
		return tds_error_set(TDS_EINVAL, "invalid_sql", "the SQL is empty");
	if (n > TDS_PRODUCT_SQL_MAX)
		return tds_error_set(TDS_EINVAL, "invalid_sql", "offset %d: the SQL is longer than %d bytes", TDS_PRODUCT_SQL_MAX,
				     TDS_PRODUCT_SQL_MAX);
	if (!tds_utf8_valid(sql, n))
		return tds_error_set(TDS_EINVAL, "invalid_sql", "the SQL is not valid UTF-8");
	for (size_t i = 0; i < nparams; i++)
		if (!tds_product_param_name_valid(params[i]))
			return tds_error_set(TDS_EINVAL, "invalid_parameter", "parameter %zu has no valid name", i);

	auth_ctx a = {.table = table};
	sqlite3_stmt *st = NULL, *st2 = NULL;
	const char *tail = NULL;
	int rc = 0;
	sqlite3_set_authorizer(db, authorize, &a);
	int s = sqlite3_prepare_v3(db, sql, (int)n, 0, &st, &tail);
	if (s != SQLITE_OK) {
		sqlite3_set_authorizer(db, NULL, NULL);
		if (a.denied)
			rc = denial_error(db, &a, sql, n);
		else {
			int off = sqlite3_error_offset(db);
			const char *em = sqlite3_errmsg(db), *what = NULL;
			if (off < 0 && strcmp(em, "incomplete input") == 0) {
				rc = SQL_ERR((long)n, "the statement is incomplete (it ends too early)");
				goto out;
			}
			/* "no such table: main.x" and friends carry no offset: find the name */
			static const char *const nosuch[] = {"no such table: ", "no such column: ", "no such function: "};
			for (size_t i = 0; off < 0 && !what && i < TDS_ARRAY_LEN(nosuch); i++)
				if (strncmp(em, nosuch[i], strlen(nosuch[i])) == 0)
					what = em + strlen(nosuch[i]);
			if (what) {
				const char *dot = strrchr(what, '.');
				off = (int)find_ident(sql, n, dot ? dot + 1 : what);
			}
			rc = SQL_ERR(off, "%s", em);
		}
		goto out;
	}
	if (!st) {
		rc = tds_error_set(TDS_EINVAL, "invalid_sql", "the SQL holds no statement (only comments or spaces)");
		goto out;
	}
	/* exactly one statement: what follows may be only spaces, comments and semicolons */
	size_t toff = tail && tail >= sql && tail <= sql + n ? (size_t)(tail - sql) : n;
	if (toff < n) {
		a.denied = false;
		const char *t2 = NULL;
		s = sqlite3_prepare_v3(db, sql + toff, (int)(n - toff), 0, &st2, &t2);
		if (s != SQLITE_OK || st2) {
			long off = first_token(sql, n, toff);
			while (off >= 0 && sql[off] == ';')
				off = first_token(sql, n, (size_t)off + 1);
			rc = SQL_ERR(off, "only one statement is allowed; remove what follows the first");
			goto out;
		}
	}
	if (a.denied) { /* a denial SQLite did not turn into an error (it always does; belt and braces) */
		sqlite3_set_authorizer(db, NULL, NULL);
		rc = denial_error(db, &a, sql, n);
		goto out;
	}
	if (sqlite3_stmt_isexplain(st)) {
		rc = SQL_ERR(find_ident(sql, n, "EXPLAIN"), "EXPLAIN is not allowed: a product query is one SELECT");
		goto out;
	}
	if (!sqlite3_stmt_readonly(st) || sqlite3_column_count(st) == 0) {
		rc = SQL_ERR(first_token(sql, n, 0), "only a read-only SELECT is allowed");
		goto out;
	}
	if (!a.read_table) {
		rc = SQL_ERR(-1, "the query does not read the resource's table \"%s\"", table);
		goto out;
	}
	/* parameters: named (:name) only, exactly the declared ones */
	int np = sqlite3_bind_parameter_count(st);
	bool used[64] = {0};
	if (nparams > TDS_ARRAY_LEN(used)) {
		rc = tds_error_set(TDS_EINVAL, "invalid_parameter", "at most %zu parameters", TDS_ARRAY_LEN(used));
		goto out;
	}
	for (int i = 1; i <= np; i++) {
		const char *pn = sqlite3_bind_parameter_name(st, i);
		if (!pn || pn[0] == '?') {
			rc = SQL_ERR(find_param(sql, n, NULL), "positional parameters (?) are not allowed: name them (:name)");
			goto out;
		}
		if (pn[0] != ':') {
			rc = SQL_ERR(find_param(sql, n, pn), "parameter %s: only :name parameters are allowed", pn);
			goto out;
		}
		size_t k = 0;
		while (k < nparams && strcmp(params[k], pn + 1) != 0)
			k++;
		if (k == nparams) {
			rc = SQL_ERR(find_param(sql, n, pn), "parameter %s is not declared: declare it in parameters", pn);
			goto out;
		}
		used[k] = true;
	}
	for (size_t k = 0; k < nparams; k++)
		if (!used[k]) {
			rc = tds_error_set(TDS_EINVAL, "invalid_parameter",
					   "parameter \"%s\" is declared but the SQL does not use it (:%s)", params[k], params[k]);
			goto out;
		}
	/* output columns: unique names */
	int nc = sqlite3_column_count(st);
	json_t *cols = json_array();
	for (int i = 0; cols && i < nc; i++) {
		const char *cn = sqlite3_column_name(st, i), *dt = sqlite3_column_decltype(st, i);
		for (int k = 0; cn && k < i; k++)
			if (strcmp(cn, sqlite3_column_name(st, k)) == 0) {
				json_decref(cols);
				rc = tds_error_set(TDS_EINVAL, "invalid_sql",
						   "output column %d: the name \"%s\" is used twice; give each column its own name with AS",
						   i + 1, cn);
				goto out;
			}
		if (!cn || !*cn || !tds_utf8_valid(cn, strlen(cn)) || strlen(cn) > 128) {
			json_decref(cols);
			rc = tds_error_set(TDS_EINVAL, "invalid_sql", "output column %d needs a name of 1-128 bytes (use AS)", i + 1);
			goto out;
		}
		json_array_append_new(cols, json_pack("{s:s, s:s?}", "name", cn, "decl_type", dt));
	}
	if (!cols) {
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto out;
	}
	if (columns)
		*columns = cols;
	else
		json_decref(cols);
out:
	sqlite3_finalize(st2);
	sqlite3_finalize(st);
	sqlite3_set_authorizer(db, NULL, NULL);
	return rc;
}

int tds_product_sql_open(const char *path, sqlite3 **out)
{
	*out = NULL;
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		int rc = tds_error_set(TDS_EIO, "cannot_open", "cannot open the resource's data: %s",
				       db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return rc;
	}
	int on = 1, off = 0;
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, on, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, off, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, off, NULL);
	sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
	sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, TDS_PRODUCT_SQL_MAX);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK) {
		int rc = tds_error_set(TDS_EIO, "cannot_open", "cannot make the resource's data read-only: %s", sqlite3_errmsg(db));
		sqlite3_close(db);
		return rc;
	}
	*out = db;
	return 0;
}

int tds_product_sql_check_file(const char *path, const char *table, const char *sql, const char *const *params,
			       size_t nparams, json_t **columns)
{
	if (columns)
		*columns = NULL;
	sqlite3 *db;
	int rc = tds_product_sql_open(path, &db);
	if (rc)
		return rc;
	rc = tds_product_sql_check(db, table, sql, params, nparams, columns);
	sqlite3_close(db);
	return rc;
}
