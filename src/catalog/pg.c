/*
 * pg.c — PostgreSQL tables as data sources, through libpq, in a read-only session.
 *
 * The session is made read-only three times over: the startup packet carries
 * "-c default_transaction_read_only=on", then SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY
 * runs, and both settings are read back before any other statement; anything else is refused
 * ("not_read_only"). The role itself should hold SELECT grants only (docs/catalog.md): the session
 * settings keep TDS from writing, the role keeps everyone from writing. Rows are streamed in libpq's
 * single-row mode so a large table is never held in memory. Identifiers are escaped with
 * PQescapeIdentifier; values travel as parameters.
 *
 * Not for choosing which servers may be reached (that is the registering provider's connection
 * string), nor for storing the connection string (source.c seals it).
 */
#include "catalog/internal.h"
#include "catalog/pg.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cat_pg {
	PGconn *conn;
};

static int pg_fail(PGconn *c, const char *what)
{
	char msg[512];
	snprintf(msg, sizeof msg, "%s", c ? PQerrorMessage(c) : "out of memory");
	msg[strcspn(msg, "\n")] = 0;
	return tds_error_set(TDS_EIO, "source_read_failed", "%s: %s", what, msg);
}

/* Runs a statement expecting `want`; 0 and *res (caller clears) or an error. */
static int exec_params(cat_pg *p, const char *sql, int n, const char *const *vals, ExecStatusType want, PGresult **res)
{
	PGresult *r = PQexecParams(p->conn, sql, n, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(r) != want) {
		int rc = pg_fail(p->conn, "PostgreSQL query failed");
		PQclear(r);
		return rc;
	}
	*res = r;
	return 0;
}

void cat_pg_close(cat_pg *p)
{
	if (!p)
		return;
	PQfinish(p->conn);
	free(p);
}

int cat_pg_open(const char *conninfo, cat_pg **out)
{
	*out = NULL;
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &err);
	if (!opts) {
		PQfreemem(err);
		return tds_error_set(TDS_EINVAL, "invalid_connection", "the PostgreSQL connection string cannot be parsed");
	}
	PQfreemem(err);
	const char *keys[64], *vals[64];
	int n = 0, rc = 0;
	bool have_timeout = false;
	for (PQconninfoOption *o = opts; o->keyword && n < 60; o++) {
		if (!o->val)
			continue;
		if (strcmp(o->keyword, "passfile") == 0 || strcmp(o->keyword, "service") == 0) {
			rc = tds_error_set(TDS_EINVAL, "invalid_connection",
					   "connection strings may not use %s (it reads files on the connector)", o->keyword);
			break;
		}
		if (strcmp(o->keyword, "options") == 0)
			continue; /* replaced below */
		have_timeout = have_timeout || strcmp(o->keyword, "connect_timeout") == 0;
		keys[n] = o->keyword;
		vals[n++] = o->val;
	}
	if (rc) {
		PQconninfoFree(opts);
		return rc;
	}
	keys[n] = "options";
	vals[n++] = "-c default_transaction_read_only=on -c statement_timeout=60000";
	if (!have_timeout) {
		keys[n] = "connect_timeout";
		vals[n++] = "10";
	}
	keys[n] = "fallback_application_name";
	vals[n++] = "tds-catalog";
	keys[n] = NULL;
	vals[n] = NULL;
	cat_pg *p = calloc(1, sizeof *p);
	if (!p) {
		PQconninfoFree(opts);
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	}
	p->conn = PQconnectdbParams(keys, vals, 0);
	PQconninfoFree(opts);
	if (PQstatus(p->conn) != CONNECTION_OK) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", p->conn ? PQerrorMessage(p->conn) : "out of memory");
		msg[strcspn(msg, "\n")] = 0;
		cat_pg_close(p);
		return tds_error_set(TDS_EIO, "connection_failed", "cannot connect to PostgreSQL: %s", msg);
	}
	PGresult *r = PQexec(p->conn, "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		rc = pg_fail(p->conn, "making the session read-only");
	PQclear(r);
	if (!rc && !(rc = exec_params(p, "SELECT current_setting('default_transaction_read_only'),"
					 " current_setting('transaction_read_only')", 0, NULL, PGRES_TUPLES_OK, &r))) {
		if (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), "on") != 0 || strcmp(PQgetvalue(r, 0, 1), "on") != 0)
			rc = tds_error_set(TDS_EUNPROC, "not_read_only", "the PostgreSQL session could not be made read-only");
		PQclear(r);
	}
	if (rc) {
		cat_pg_close(p);
		return rc;
	}
	*out = p;
	return 0;
}

char *cat_pg_redact(const char *conninfo)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &err);
	PQfreemem(err);
	if (!opts) {
		tds_error_set(TDS_EINVAL, "invalid_connection", "the PostgreSQL connection string cannot be parsed");
		return NULL;
	}
	tds_buf b = TDS_BUF_INIT;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val || strcmp(o->keyword, "password") == 0)
			continue;
		tds_buf_printf(&b, "%s%s='", b.len ? " " : "", o->keyword);
		for (const char *c = o->val; *c; c++) {
			if (*c == '\'' || *c == '\\')
				tds_buf_putc(&b, '\\');
			tds_buf_putc(&b, *c);
		}
		tds_buf_putc(&b, '\'');
	}
	PQconninfoFree(opts);
	if (!b.data)
		tds_buf_puts(&b, "");
	return tds_buf_steal(&b);
}

int cat_pg_tables(cat_pg *p, json_t **out)
{
	*out = NULL;
	PGresult *r = NULL;
	char lim[16];
	snprintf(lim, sizeof lim, "%d", TDS_DBSRC_MAX_TABLES);
	const char *v[1] = {lim};
	int rc = exec_params(p,
			     "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT IN "
			     "('pg_catalog','information_schema') ORDER BY 1, 2 LIMIT $1::int",
			     1, v, PGRES_TUPLES_OK, &r);
	if (rc)
		return rc;
	json_t *arr = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		char name[300];
		snprintf(name, sizeof name, "%s.%s", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
		if (tds_utf8_valid(name, strlen(name)))
			json_array_append_new(arr, json_string(name));
	}
	PQclear(r);
	*out = arr;
	return 0;
}

/* "schema.table" or "table" (schema public) → parts; the table must exist. */
static int resolve(cat_pg *p, const char *table, char schema[128], char name[128])
{
	int rc = cat_check_table_name(table);
	if (rc)
		return rc;
	const char *dot = strchr(table, '.');
	if (dot) {
		if ((size_t)(dot - table) >= 128 || strlen(dot + 1) >= 128 || dot == table || !dot[1])
			return tds_error_set(TDS_EINVAL, "invalid_table", "table must be name or schema.name (each at most 127 bytes)");
		snprintf(schema, 128, "%.*s", (int)(dot - table), table);
		snprintf(name, 128, "%s", dot + 1);
	} else {
		if (strlen(table) >= 128)
			return tds_error_set(TDS_EINVAL, "invalid_table", "table names are at most 127 bytes");
		snprintf(schema, 128, "public");
		snprintf(name, 128, "%s", table);
	}
	PGresult *r = NULL;
	const char *v[2] = {schema, name};
	if ((rc = exec_params(p, "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2", 2, v,
			      PGRES_TUPLES_OK, &r)))
		return rc;
	int found = PQntuples(r);
	PQclear(r);
	if (!found)
		return tds_error_set(TDS_ENOTFOUND, "no_such_table", "the database has no table or view of that name");
	return 0;
}

static int select_sql(cat_pg *p, const char *schema, const char *name, int limit, tds_buf *sql)
{
	char *s = PQescapeIdentifier(p->conn, schema, strlen(schema));
	char *t = PQescapeIdentifier(p->conn, name, strlen(name));
	int rc = s && t ? tds_buf_printf(sql, "SELECT * FROM %s.%s", s, t) : pg_fail(p->conn, "quoting the table name");
	if (!rc && limit > 0)
		rc = tds_buf_printf(sql, " LIMIT %d", limit);
	PQfreemem(s);
	PQfreemem(t);
	return rc;
}

int cat_pg_profile(cat_pg *p, const char *table, json_t **out)
{
	*out = NULL;
	char schema[128], name[128];
	int rc = resolve(p, table, schema, name);
	if (rc)
		return rc;
	/* declared types and whether this role could write */
	PGresult *types = NULL, *w = NULL;
	const char *v[2] = {schema, name};
	if ((rc = exec_params(p, "SELECT data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2"
				 " ORDER BY ordinal_position", 2, v, PGRES_TUPLES_OK, &types)) ||
	    (rc = exec_params(p, "SELECT has_table_privilege(quote_ident($1) || '.' || quote_ident($2),"
				 " 'INSERT,UPDATE,DELETE,TRUNCATE')", 2, v, PGRES_TUPLES_OK, &w))) {
		PQclear(types);
		return rc;
	}
	bool can_write = PQntuples(w) == 1 && strcmp(PQgetvalue(w, 0, 0), "t") == 0;
	PQclear(w);
	tds_buf sql = TDS_BUF_INIT;
	tds_profile *prof = NULL;
	const char **names = NULL;
	int ncols = -1;
	if ((rc = select_sql(p, schema, name, 0, &sql)))
		goto done;
	if (!PQsendQuery(p->conn, sql.data) || !PQsetSingleRowMode(p->conn)) {
		rc = pg_fail(p->conn, "reading the table");
		goto done;
	}
	PGresult *r = NULL;
	while ((r = PQgetResult(p->conn))) {
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_SINGLE_TUPLE || (st == PGRES_TUPLES_OK && ncols < 0)) {
			if (ncols < 0) {
				ncols = PQnfields(r);
				if (ncols <= 0 || ncols > TDS_CSV_MAX_COLUMNS || !(prof = tds_profile_new((size_t)ncols)) ||
				    !(names = calloc((size_t)ncols, sizeof *names))) {
					rc = rc ? rc : tds_error_set(TDS_EUNPROC, "unsupported_table", "the table has no columns or more than %d",
								  TDS_CSV_MAX_COLUMNS);
					PQclear(r);
					continue; /* drain */
				}
				for (int c = 0; c < ncols; c++) {
					const char *fn = PQfname(r, c);
					names[c] = fn && tds_utf8_valid(fn, strlen(fn)) ? strdup(fn) : NULL;
				}
			}
			for (int i = 0; !rc && prof && i < PQntuples(r); i++)
				for (int c = 0; c < ncols; c++) {
					if (PQgetisnull(r, i, c))
						tds_profile_add(prof, (size_t)c, NULL, 0);
					else
						tds_profile_add(prof, (size_t)c, PQgetvalue(r, i, c), (size_t)PQgetlength(r, i, c));
				}
		} else if (st != PGRES_TUPLES_OK && !rc) {
			rc = pg_fail(p->conn, "reading the table");
		}
		PQclear(r);
	}
	if (!rc && prof) {
		for (int c = 0; c < ncols; c++)
			if (!names[c]) {
				char tmp[16];
				snprintf(tmp, sizeof tmp, "c%d", c + 1);
				names[c] = strdup(tmp);
			}
		json_t *cols = tds_profile_json(prof, names, NULL);
		for (int c = 0; c < ncols; c++)
			json_object_set_new(json_array_get(cols, (size_t)c), "source_type",
					    json_string(c < PQntuples(types) ? PQgetvalue(types, c, 0) : ""));
		char full[300];
		snprintf(full, sizeof full, "%s.%s", schema, name);
		*out = json_pack("{s:s, s:I, s:o, s:b}", "name", full, "row_count", (json_int_t)tds_profile_rows(prof), "columns",
				 cols, "role_can_write", can_write);
	} else if (!rc) {
		rc = tds_error_set(TDS_EUNPROC, "unsupported_table", "the table has no columns");
	}
done:
	for (int c = 0; names && c < ncols; c++)
		free((char *)names[c]);
	free(names);
	tds_profile_free(prof);
	tds_buf_free(&sql);
	PQclear(types);
	return rc;
}

int cat_pg_rows(cat_pg *p, const char *table, int limit, json_t **out)
{
	*out = NULL;
	char schema[128], name[128];
	int rc = resolve(p, table, schema, name);
	if (rc)
		return rc;
	tds_buf sql = TDS_BUF_INIT;
	PGresult *r = NULL;
	if (!(rc = select_sql(p, schema, name, limit, &sql)))
		rc = exec_params(p, sql.data, 0, NULL, PGRES_TUPLES_OK, &r);
	tds_buf_free(&sql);
	if (rc)
		return rc;
	json_t *cols = json_array(), *rows = json_array();
	int nf = PQnfields(r);
	for (int c = 0; c < nf; c++) {
		const char *fn = PQfname(r, c);
		json_array_append_new(cols, json_string(fn && tds_utf8_valid(fn, strlen(fn)) ? fn : "?"));
	}
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *row = json_array();
		for (int c = 0; c < nf; c++) {
			const char *val = PQgetvalue(r, i, c);
			size_t len = (size_t)PQgetlength(r, i, c);
			json_array_append_new(row, PQgetisnull(r, i, c) ? json_null()
					      : tds_utf8_valid(val, len) ? json_stringn(val, len)
									  : json_pack("{s:I}", "invalid_text_bytes", (json_int_t)len));
		}
		json_array_append_new(rows, row);
	}
	PQclear(r);
	char full[300];
	snprintf(full, sizeof full, "%s.%s", schema, name);
	*out = json_pack("{s:s, s:o, s:o}", "table", full, "columns", cols, "rows", rows);
	return 0;
}
