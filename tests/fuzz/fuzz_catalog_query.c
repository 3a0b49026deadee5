/*
 * fuzz_catalog_query.c — libFuzzer target for the fused catalog's query parser (cat_fts_query):
 * any bytes as a search's q must give TDS_EINVAL or an FTS5 MATCH expression that SQLite accepts
 * against the catalog's own index definition (a syntax error there would be a 500 for a user's
 * query). Checked on the way: every term is quoted (an even number of '"'), at most 16 terms, and
 * the expression runs on a small index holding Chinese and English text.
 */
#include "catalog/internal.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sqlite3 *db;

static void open_index(void)
{
	if (db)
		return;
	if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
	    sqlite3_exec(db,
			 "CREATE VIRTUAL TABLE catalog_fts USING fts5(title, tags, fields, body, facets,"
			 " tokenize = 'unicode61 remove_diacritics 2', prefix = '1');"
			 "INSERT INTO catalog_fts VALUES ('企业 业纳 纳税 税信 信用 用 ', '纳税 税 ', 'tax amount 纳税 税额 额 ',"
			 " 'Employment figures 社保 保 ', 'fk70726f64756374');",
			 NULL, NULL, NULL) != SQLITE_OK)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	open_index();
	char *q = malloc(size + 1);
	if (!q)
		return 0;
	memcpy(q, data, size);
	q[size] = 0;
	tds_buf m = TDS_BUF_INIT;
	int terms = 0;
	bool prefix = false;
	int rc = cat_fts_query(q, &m, &terms, &prefix);
	if (rc == 0 && terms > 0) {
		size_t quotes = 0;
		for (size_t i = 0; i < m.len; i++)
			quotes += m.data[i] == '"';
		if (terms > 16 || quotes % 2)
			abort();
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db, "SELECT count(*) FROM catalog_fts WHERE catalog_fts MATCH ?", -1, &st, NULL) != SQLITE_OK)
			abort();
		sqlite3_bind_text(st, 1, m.data, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_ROW)
			abort(); /* the expression was not valid FTS5 */
		sqlite3_finalize(st);
	} else if (rc && rc != TDS_EINVAL) {
		abort();
	}
	tds_buf_free(&m);
	free(q);
	return 0;
}
