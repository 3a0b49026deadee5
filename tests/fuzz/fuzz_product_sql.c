/*
 * fuzz_product_sql.c — libFuzzer target for the API products' SQL validator (tds_product_sql_check):
 * any bytes as SQL, with 0-3 declared parameters chosen by the first byte, checked on an in-memory
 * database that holds the resource's table "data" and a table "secret" that must stay out of reach.
 * Never a crash or a read past the input; every refusal is TDS_EINVAL with a name and, when it gives
 * a byte offset, one inside the input; every acceptance yields output columns, a statement that
 * SQLite itself prepares as read-only without the authorizer, and names only declared parameters;
 * the authorizer is gone afterwards (the connection reads "secret" again).
 */
#include "catalog/catalog.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sqlite3 *db;

static void init(void)
{
	if (db)
		return;
	if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
	    sqlite3_exec(db,
			 "CREATE TABLE data (id INTEGER, name TEXT, amount REAL, day \"DATE TEXT\");"
			 "CREATE TABLE secret (password TEXT);"
			 "INSERT INTO data VALUES (1, 'a', 1.5, '2024-01-01'), (2, 'b', NULL, '2024-01-02');"
			 "INSERT INTO secret VALUES ('hunter2');",
			 NULL, NULL, NULL) != SQLITE_OK)
		abort();
	sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	init();
	static const char *const PARAMS[] = {"year", "name", "x"};
	size_t np = data[0] % 4;
	char *sql = malloc(size);
	if (!sql)
		return 0;
	memcpy(sql, data + 1, size - 1);
	sql[size - 1] = 0;
	size_t n = strlen(sql); /* what the validator sees (up to the first NUL) */
	json_t *cols = NULL;
	int rc = tds_product_sql_check(db, "data", sql, PARAMS, np, &cols);
	if (rc) {
		if (rc != TDS_EINVAL || cols || !*tds_error_name())
			abort();
		const char *m = tds_error_message();
		if (strncmp(m, "offset ", 7) == 0) {
			long off = strtol(m + 7, NULL, 10);
			if (off < 0 || (size_t)off > (n > TDS_PRODUCT_SQL_MAX ? TDS_PRODUCT_SQL_MAX : n))
				abort();
		}
	} else {
		if (!json_is_array(cols) || json_array_size(cols) == 0 || n == 0 || n > TDS_PRODUCT_SQL_MAX)
			abort();
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(db, sql, (int)n, &st, NULL) != SQLITE_OK || !st || !sqlite3_stmt_readonly(st))
			abort();
		for (int i = 1; i <= sqlite3_bind_parameter_count(st); i++) {
			const char *pn = sqlite3_bind_parameter_name(st, i);
			bool declared = false;
			for (size_t k = 0; pn && k < np; k++)
				declared |= pn[0] == ':' && strcmp(pn + 1, PARAMS[k]) == 0;
			if (!declared)
				abort();
		}
		sqlite3_finalize(st);
	}
	json_decref(cols);
	if (sqlite3_exec(db, "SELECT password FROM secret", NULL, NULL, NULL) != SQLITE_OK)
		abort(); /* the authorizer was removed */
	free(sql);
	return 0;
}
