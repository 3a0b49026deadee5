/*
 * test_sqlcheck.c — the API products' SQL validator (catalog.h section 9) on an in-memory database
 * holding the resource's table "企业纳税" and a table "accounts" that must stay out of reach: what
 * a provider may write (SELECTs with filters, aggregates, CTEs, self-joins, named parameters) passes
 * and gives its output columns; writes, ATTACH, PRAGMA, schema tables, other tables, table-valued
 * functions, recursive CTEs, non-deterministic or unknown functions, several statements,
 * positional or undeclared or unused parameters, EXPLAIN and oversize input are refused with the
 * byte offset of the offending token.
 */
#include "catalog/catalog.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static sqlite3 *DB;
static const char *T = "企业纳税";

static int setup(void **state)
{
	(void)state;
	if (sqlite3_open(":memory:", &DB) != SQLITE_OK)
		return -1;
	return sqlite3_exec(DB,
			    "CREATE TABLE \"企业纳税\" (纳税人识别号 TEXT, 企业名称 TEXT, 纳税额 REAL, 年份 INTEGER, 申报日期 \"DATE TEXT\");"
			    "CREATE TABLE accounts (id TEXT, password_hash TEXT);"
			    "INSERT INTO \"企业纳税\" VALUES ('91310110666007217T', '上海某贸易有限公司', 8800.0, 2024, '2024-10-15');",
			    NULL, NULL, NULL) == SQLITE_OK
		   ? 0
		   : -1;
}

static int teardown(void **state)
{
	(void)state;
	sqlite3_close(DB);
	return 0;
}

static int check(const char *sql, const char *const *params, size_t n, json_t **cols)
{
	return tds_product_sql_check(DB, T, sql, params, n, cols);
}

static void good(const char *sql, const char *const *params, size_t n)
{
	json_t *cols = NULL;
	if (check(sql, params, n, &cols))
		fail_msg("refused %s: %s", sql, tds_error_message());
	assert_true(json_array_size(cols) > 0);
	json_decref(cols);
}

/* Refused, with a message containing `want` (e.g. "offset 14:"). */
static void bad(const char *sql, const char *const *params, size_t n, const char *want)
{
	json_t *cols = (json_t *)1;
	int rc = check(sql, params, n, &cols);
	if (rc != TDS_EINVAL)
		fail_msg("accepted (%d) %s", rc, sql);
	assert_null(cols);
	if (want && !strstr(tds_error_message(), want))
		fail_msg("%s: message \"%s\" lacks \"%s\"", sql, tds_error_message(), want);
}

static void test_accepts_selects(void **state)
{
	(void)state;
	const char *year[] = {"year"}, *two[] = {"year", "name"};
	good("SELECT 企业名称, 纳税额 FROM 企业纳税 WHERE 年份 = :year", year, 1);
	good("select \"企业名称\" from \"企业纳税\" where 年份 >= :year and 企业名称 like :name -- trailing comment", two, 2);
	good("SELECT 年份, count(*) AS n, sum(纳税额) AS total, round(avg(纳税额), 2) AS mean FROM 企业纳税 GROUP BY 年份", NULL, 0);
	good("SELECT count(*) AS n FROM 企业纳税", NULL, 0);
	good("WITH y AS (SELECT 年份, 纳税额 FROM 企业纳税) SELECT 年份, max(纳税额) AS top FROM y GROUP BY 年份;", NULL, 0);
	good("SELECT a.企业名称 FROM 企业纳税 a JOIN 企业纳税 b ON a.纳税人识别号 = b.纳税人识别号", NULL, 0);
	good("SELECT upper(substr(纳税人识别号, 1, 6)) AS prefix, coalesce(纳税额, 0) AS amount FROM 企业纳税 ;  /* done */ ;", NULL, 0);
	good("SELECT 企业名称 FROM 企业纳税 WHERE (:year IS NULL OR 年份 = :year)", year, 1);

	/* output columns: names and declared types */
	json_t *cols;
	assert_int_equal(check("SELECT 纳税额, 年份 AS y, 申报日期 FROM 企业纳税", NULL, 0, &cols), 0);
	assert_int_equal(json_array_size(cols), 3);
	assert_string_equal(tds_json_str(json_array_get(cols, 0), "name", ""), "纳税额");
	assert_string_equal(tds_json_str(json_array_get(cols, 0), "decl_type", ""), "REAL");
	assert_string_equal(tds_json_str(json_array_get(cols, 1), "name", ""), "y");
	assert_string_equal(tds_json_str(json_array_get(cols, 2), "decl_type", ""), "DATE TEXT");
	json_decref(cols);
}

static void test_refuses_writes_and_escapes(void **state)
{
	(void)state;
	bad("DELETE FROM 企业纳税", NULL, 0, "offset 0: DELETE is not allowed");
	bad("  INSERT INTO 企业纳税 (年份) VALUES (1)", NULL, 0, "offset 2: INSERT");
	bad("UPDATE 企业纳税 SET 纳税额 = 0", NULL, 0, "offset 0: UPDATE");
	bad("DROP TABLE accounts", NULL, 0, "offset 0:");
	bad("CREATE TABLE x (a)", NULL, 0, "offset 0:");
	bad("ATTACH DATABASE '/tmp/x.db' AS x", NULL, 0, "offset 0: ATTACH is not allowed");
	bad("DETACH DATABASE main", NULL, 0, "DETACH");
	bad("PRAGMA table_info(accounts)", NULL, 0, "offset 0: PRAGMA is not allowed");
	bad("BEGIN", NULL, 0, "not allowed");
	bad("VACUUM", NULL, 0, "only a read-only SELECT");
	bad("EXPLAIN SELECT 年份 FROM 企业纳税", NULL, 0, "EXPLAIN");
	/* another table, named by its byte offset */
	bad("SELECT id, password_hash FROM accounts", NULL, 0, "offset 30: table \"accounts\" is not this resource's table");
	bad("SELECT 年份 FROM 企业纳税 WHERE 年份 IN (SELECT id FROM \"accounts\")", NULL, 0,
	    "table \"accounts\" is not this resource's table");
	bad("SELECT count(*) FROM accounts", NULL, 0, "accounts");
	/* schema tables and table-valued functions */
	bad("SELECT sql FROM sqlite_master", NULL, 0, "offset 16: the schema table \"sqlite_master\" may not be read");
	bad("SELECT name FROM sqlite_schema", NULL, 0, "sqlite_schema");
	bad("SELECT name FROM sqlite_temp_master", NULL, 0, "sqlite_temp_master");
	bad("SELECT * FROM pragma_table_info('accounts')", NULL, 0,
	    "offset 14: the table-valued function pragma_table_info() is not allowed");
	bad("SELECT * FROM json_each('[1,2]')", NULL, 0, "offset 14: the table-valued function json_each() is not allowed");
	bad("SELECT 年份 FROM 企业纳税 JOIN pragma_table_list AS p", NULL, 0, "table-valued function");
	/* recursive CTE tricks */
	bad("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT 年份 FROM 企业纳税, c", NULL, 0,
	    "offset 5: recursive");
	bad("WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT 年份 FROM 企业纳税, c", NULL, 0, "recursive");
	/* functions outside the whitelist */
	bad("SELECT random() AS r, 年份 FROM 企业纳税", NULL, 0, "offset 7: function random() is not allowed");
	bad("SELECT 年份 FROM 企业纳税 WHERE 申报日期 < date('now')", NULL, 0, "function date()");
	bad("SELECT load_extension('x') AS x, 年份 FROM 企业纳税", NULL, 0, "load_extension");
	bad("SELECT printf('%.*c', 1000000000, 'x') AS x, 年份 FROM 企业纳税", NULL, 0, "printf");
	bad("SELECT sqlite_version() AS v, 年份 FROM 企业纳税", NULL, 0, "sqlite_version");
	bad("SELECT no_such_function(年份) FROM 企业纳税", NULL, 0, NULL);
	/* statements that read nothing of the resource */
	bad("SELECT 1", NULL, 0, "does not read");
}

static void test_statement_and_parameter_rules(void **state)
{
	(void)state;
	const char *year[] = {"year"}, *bad_name[] = {"9x"}, *two[] = {"year", "unused"};
	bad("SELECT 年份 FROM 企业纳税; DELETE FROM 企业纳税", NULL, 0, "offset 33: only one statement");
	bad("SELECT 年份 FROM 企业纳税;SELECT 1", NULL, 0, "only one statement");
	bad("SELECT 年份 FROM 企业纳税; garbage", NULL, 0, "only one statement");
	bad("", NULL, 0, "empty");
	bad("  -- nothing\n /* at all */ ", NULL, 0, "no statement");
	bad("SELECT 年份 FROM 企业纳税 WHERE", NULL, 0, "offset 37: the statement is incomplete");
	bad("SELECT 年份 FROM 企业纳税 WHERE 年份 = = 1", NULL, 0, "syntax error");
	bad("SELEC 年份 FROM 企业纳税", NULL, 0, "offset 0:");
	bad("SELECT 年份 FROM 企业纳税 WHERE 年份 = ?", NULL, 0, "positional parameters");
	bad("SELECT 年份 FROM 企业纳税 WHERE 年份 = ?1", NULL, 0, "positional parameters");
	bad("SELECT 年份 FROM 企业纳税 WHERE 年份 = @year", year, 1, "only :name parameters");
	bad("SELECT 年份 FROM 企业纳税 WHERE 年份 = $year", year, 1, "only :name parameters");
	bad("SELECT 年份 FROM 企业纳税 WHERE 年份 = :yaer", year, 1, "parameter :yaer is not declared");
	bad("SELECT 年份 FROM 企业纳税 WHERE 年份 = :year", two, 2, "declared but the SQL does not use it");
	assert_int_equal(tds_product_sql_check(DB, T, "SELECT 年份 FROM 企业纳税 WHERE 年份 = :9x", bad_name, 1, NULL), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "invalid_parameter");
	bad("SELECT 年份, 年份 FROM 企业纳税", NULL, 0, "used twice");
	/* size and encoding */
	size_t n = TDS_PRODUCT_SQL_MAX + 10;
	char *big = malloc(n + 1);
	memset(big, ' ', n);
	memcpy(big, "SELECT 年份 FROM 企业纳税", strlen("SELECT 年份 FROM 企业纳税"));
	big[n] = 0;
	bad(big, NULL, 0, "longer than 16384 bytes");
	free(big);
	bad("SELECT 年份 FROM 企业纳税 WHERE 企业名称 = '\xff'", NULL, 0, "UTF-8");
	/* the authorizer is gone afterwards: the connection works as before */
	assert_int_equal(sqlite3_exec(DB, "SELECT count(*) FROM accounts", NULL, NULL, NULL), SQLITE_OK);
	assert_true(tds_product_param_name_valid("纳税额_min"));
	assert_false(tds_product_param_name_valid("a b"));
	assert_false(tds_product_param_name_valid(""));
}

static void test_file_is_read_only(void **state)
{
	(void)state;
	char path[] = "/tmp/tds-sqlcheck-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	sqlite3 *w;
	assert_int_equal(sqlite3_open(path, &w), SQLITE_OK);
	assert_int_equal(sqlite3_exec(w, "CREATE TABLE data (a INTEGER, b TEXT); INSERT INTO data VALUES (1, 'x');", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(w);
	json_t *cols;
	assert_int_equal(tds_product_sql_check_file(path, "data", "SELECT a, b FROM data", NULL, 0, &cols), 0);
	json_decref(cols);
	assert_int_equal(tds_product_sql_check_file(path, "data", "INSERT INTO data VALUES (2, 'y')", NULL, 0, NULL), TDS_EINVAL);
	sqlite3 *db;
	assert_int_equal(tds_product_sql_open(path, &db), 0);
	assert_int_not_equal(sqlite3_exec(db, "INSERT INTO data VALUES (3, 'z')", NULL, NULL, NULL), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db, "ATTACH DATABASE ':memory:' AS m", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(tds_product_sql_check_file("/nonexistent/x.db", "data", "SELECT a FROM data", NULL, 0, NULL), TDS_EIO);
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepts_selects),
	    cmocka_unit_test(test_refuses_writes_and_escapes),
	    cmocka_unit_test(test_statement_and_parameter_rules),
	    cmocka_unit_test(test_file_is_read_only),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
