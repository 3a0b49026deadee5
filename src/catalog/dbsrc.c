/*
 * dbsrc.c — database sources (catalog.h section 4): the common face (tables, profile, rows) and the
 * SQLite backend. A SQLite source is opened read-only (SQLITE_OPEN_READONLY, query_only, defensive,
 * trusted_schema off: a view in an untrusted file cannot call functions with side effects). The
 * PostgreSQL backend is in pg.c.
 *
 * Not for writing anything, ever; not for choosing which files may be opened (source.c checks paths
 * against the import directory before calling here).
 */
#include "catalog/internal.h"
#include "catalog/pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tds_dbsrc {
	int kind; /* 1 sqlite, 2 postgres */
	sqlite3 *db;
	cat_pg *pg;
};

const char *tds_dbsrc_kind(const tds_dbsrc *s)
{
	return s->kind == 1 ? "sqlite" : "postgres";
}

int tds_dbsrc_open_sqlite(const char *path, tds_dbsrc **out)
{
	*out = NULL;
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
		sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
		sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
		sqlite3_busy_timeout(db, 5000);
		rc = sqlite3_exec(db, "PRAGMA query_only=1; SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		int e = tds_error_set(TDS_EIO, "cannot_open", "cannot open the SQLite database: %s",
				      db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return e;
	}
	tds_dbsrc *s = calloc(1, sizeof *s);
	if (!s) {
		sqlite3_close(db);
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	}
	s->kind = 1;
	s->db = db;
	*out = s;
	return 0;
}

int tds_dbsrc_open_pg(const char *conninfo, tds_dbsrc **out)
{
	*out = NULL;
	tds_dbsrc *s = calloc(1, sizeof *s);
	if (!s)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	int rc = cat_pg_open(conninfo, &s->pg);
	if (rc) {
		free(s);
		return rc;
	}
	s->kind = 2;
	*out = s;
	return 0;
}

void tds_dbsrc_close(tds_dbsrc *s)
{
	if (!s)
		return;
	sqlite3_close(s->db);
	cat_pg_close(s->pg);
	free(s);
}

static int sq_error(sqlite3 *db, const char *what)
{
	return tds_error_set(TDS_EIO, "source_read_failed", "%s: %s", what, sqlite3_errmsg(db));
}

int tds_dbsrc_tables(tds_dbsrc *s, json_t **out)
{
	*out = NULL;
	if (s->kind == 2)
		return cat_pg_tables(s->pg, out);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT name FROM sqlite_schema WHERE type IN ('table','view') AND name NOT LIKE 'sqlite\\_%' "
			       "ESCAPE '\\' ORDER BY name LIMIT ?",
			       -1, &st, NULL) != SQLITE_OK)
		return sq_error(s->db, "listing tables");
	sqlite3_bind_int(st, 1, TDS_DBSRC_MAX_TABLES);
	json_t *arr = json_array();
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (name && tds_utf8_valid(name, strlen(name)))
			json_array_append_new(arr, json_string(name));
	}
	sqlite3_finalize(st);
	if (r != SQLITE_DONE) {
		json_decref(arr);
		return sq_error(s->db, "listing tables");
	}
	*out = arr;
	return 0;
}

/* Table names from callers: 1..255 bytes, no control characters (they are quoted, never pasted). */
int cat_check_table_name(const char *t)
{
	size_t n = t ? strlen(t) : 0;
	if (n == 0 || n > 255 || !tds_utf8_valid(t, n))
		return tds_error_set(TDS_EINVAL, "invalid_table", "table must be 1-255 bytes of UTF-8");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f)
			return tds_error_set(TDS_EINVAL, "invalid_table", "table names may not contain control characters");
	return 0;
}

static int sq_select(tds_dbsrc *s, const char *table, int limit, sqlite3_stmt **st)
{
	int rc = cat_check_table_name(table);
	if (rc)
		return rc;
	sqlite3_stmt *chk;
	if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM sqlite_schema WHERE type IN ('table','view') AND name = ?", -1, &chk,
			       NULL) != SQLITE_OK)
		return sq_error(s->db, "looking up the table");
	sqlite3_bind_text(chk, 1, table, -1, SQLITE_STATIC);
	int r = sqlite3_step(chk);
	sqlite3_finalize(chk);
	if (r != SQLITE_ROW)
		return tds_error_set(TDS_ENOTFOUND, "no_such_table", "the database has no table or view of that name");
	tds_buf sql = TDS_BUF_INIT;
	rc = tds_buf_puts(&sql, "SELECT * FROM ");
	if (!rc)
		rc = tds_sql_quote_ident(&sql, table);
	if (!rc && limit > 0)
		rc = tds_buf_printf(&sql, " LIMIT %d", limit);
	if (!rc && sqlite3_prepare_v2(s->db, sql.data, -1, st, NULL) != SQLITE_OK)
		rc = sq_error(s->db, "reading the table");
	tds_buf_free(&sql);
	return rc;
}

/* A column name as JSON: the name when it is UTF-8, else "c<N>". */
static const char *col_name(const char *n, size_t i, char *tmp, size_t cap)
{
	if (n && *n && tds_utf8_valid(n, strlen(n)))
		return n;
	snprintf(tmp, cap, "c%zu", i + 1);
	return tmp;
}

int tds_dbsrc_profile(tds_dbsrc *s, const char *table, json_t **out)
{
	*out = NULL;
	if (s->kind == 2)
		return cat_pg_profile(s->pg, table, out);
	sqlite3_stmt *st;
	int rc = sq_select(s, table, 0, &st);
	if (rc)
		return rc;
	int ncols = sqlite3_column_count(st);
	if (ncols <= 0 || ncols > TDS_CSV_MAX_COLUMNS) {
		sqlite3_finalize(st);
		return tds_error_set(TDS_EUNPROC, "unsupported_table", "the table has no columns or more than %d",
				     TDS_CSV_MAX_COLUMNS);
	}
	tds_profile *p = tds_profile_new((size_t)ncols);
	if (!p) {
		sqlite3_finalize(st);
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	}
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		for (int c = 0; c < ncols; c++) {
			if (sqlite3_column_type(st, c) == SQLITE_NULL) {
				tds_profile_add(p, (size_t)c, NULL, 0);
				continue;
			}
			const char *v = (const char *)sqlite3_column_text(st, c);
			tds_profile_add(p, (size_t)c, v ? v : "", (size_t)sqlite3_column_bytes(st, c));
		}
	}
	if (r != SQLITE_DONE) {
		rc = sq_error(s->db, "reading the table");
	} else {
		const char **names = calloc((size_t)ncols, sizeof *names);
		char (*tmp)[16] = calloc((size_t)ncols, 16);
		if (!names || !tmp) {
			rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		} else {
			for (int c = 0; c < ncols; c++)
				names[c] = col_name(sqlite3_column_name(st, c), (size_t)c, tmp[c], 16);
			json_t *cols = tds_profile_json(p, names, NULL);
			for (int c = 0; c < ncols; c++) {
				const char *dt = sqlite3_column_decltype(st, c);
				json_object_set_new(json_array_get(cols, (size_t)c), "source_type",
						    json_string(dt && tds_utf8_valid(dt, strlen(dt)) ? dt : ""));
			}
			*out = json_pack("{s:s, s:I, s:o}", "name", table, "row_count", (json_int_t)tds_profile_rows(p),
					 "columns", cols);
		}
		free(names);
		free(tmp);
	}
	sqlite3_finalize(st);
	tds_profile_free(p);
	return rc;
}

int tds_dbsrc_rows(tds_dbsrc *s, const char *table, int limit, json_t **out)
{
	*out = NULL;
	if (limit < 1 || limit > 1000)
		return tds_error_set(TDS_EINVAL, "invalid_limit", "limit must be 1-1000");
	if (s->kind == 2)
		return cat_pg_rows(s->pg, table, limit, out);
	sqlite3_stmt *st;
	int rc = sq_select(s, table, limit, &st);
	if (rc)
		return rc;
	int ncols = sqlite3_column_count(st);
	json_t *names = json_array(), *rows = json_array();
	for (int c = 0; c < ncols; c++) {
		char tmp[16];
		json_array_append_new(names, json_string(col_name(sqlite3_column_name(st, c), (size_t)c, tmp, sizeof tmp)));
	}
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *row = json_array();
		for (int c = 0; c < ncols; c++) {
			json_t *v;
			switch (sqlite3_column_type(st, c)) {
			case SQLITE_INTEGER:
				v = json_integer(sqlite3_column_int64(st, c));
				break;
			case SQLITE_FLOAT:
				v = json_real(sqlite3_column_double(st, c));
				break;
			case SQLITE_TEXT: {
				const char *t = (const char *)sqlite3_column_text(st, c);
				size_t n = (size_t)sqlite3_column_bytes(st, c);
				v = t && tds_utf8_valid(t, n) && !memchr(t, 0, n) ? json_stringn(t, n)
										  : json_pack("{s:I}", "invalid_text_bytes", (json_int_t)n);
				break;
			}
			case SQLITE_BLOB:
				v = json_pack("{s:I}", "blob_bytes", (json_int_t)sqlite3_column_bytes(st, c));
				break;
			default:
				v = json_null();
			}
			json_array_append_new(row, v ? v : json_null());
		}
		json_array_append_new(rows, row);
	}
	if (r != SQLITE_DONE)
		rc = sq_error(s->db, "reading the table");
	sqlite3_finalize(st);
	if (rc) {
		json_decref(names);
		json_decref(rows);
		return rc;
	}
	*out = json_pack("{s:s, s:o, s:o}", "table", table, "columns", names, "rows", rows);
	return 0;
}
