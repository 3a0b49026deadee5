/*
 * test_store.c — SQLite store: pragmas, migrations (order, idempotence, too-new schema),
 * transactions (commit, rollback keeps the error, nesting) and a connection per thread.
 */
#include "store/store.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[64], path[128];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/tds-store-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof path, "%s/tds.db", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd);
}

static const tds_migration MIGS[] = {
    {1, "CREATE TABLE things (id TEXT PRIMARY KEY, n INTEGER NOT NULL) STRICT;"},
    {2, "ALTER TABLE things ADD COLUMN label TEXT;"},
};

static int count_things(tds_store *s)
{
	sqlite3_stmt *st;
	assert_int_equal(tds_store_prepare(tds_store_conn(s), "SELECT COUNT(*) FROM things", &st), 0);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void test_open_and_migrate(void **state)
{
	(void)state;
	tds_store *s;
	assert_int_equal(tds_store_open(path, &s), 0);
	sqlite3 *db = tds_store_conn(s);
	sqlite3_stmt *st;
	assert_int_equal(tds_store_prepare(db, "PRAGMA journal_mode", &st), 0);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	assert_int_equal(tds_store_prepare(db, "PRAGMA foreign_keys", &st), 0);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	sqlite3_finalize(st);

	assert_int_equal(tds_store_migrate(s, "test", MIGS, 1), 0);
	assert_int_equal(tds_store_migrate(s, "test", MIGS, 2), 0);
	assert_int_equal(tds_store_migrate(s, "test", MIGS, 2), 0); /* idempotent */
	int v;
	assert_int_equal(tds_store_version(s, "test", &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(tds_store_migrate(s, "test", MIGS, 1), TDS_ECONFLICT);
	assert_string_equal(tds_error_name(), "schema_too_new");
	static const tds_migration gap[] = {{1, "SELECT 1"}, {3, "SELECT 1"}};
	assert_int_equal(tds_store_migrate(s, "other", gap, 2), TDS_EINVAL);
	static const tds_migration broken[] = {{1, "CREATE TABLE ok1 (a INTEGER);"}, {2, "CREATE TABLE ("}};
	assert_int_not_equal(tds_store_migrate(s, "broken", broken, 2), 0);
	assert_non_null(strstr(tds_error_message(), "migration broken v2"));
	assert_int_equal(tds_store_version(s, "broken", &v), 0);
	assert_int_equal(v, 1); /* v1 committed, v2 rolled back */
	tds_store_close(s);

	/* reopen: state persisted */
	assert_int_equal(tds_store_open(path, &s), 0);
	assert_int_equal(tds_store_version(s, "test", &v), 0);
	assert_int_equal(v, 2);
	tds_store_close(s);
}

static int insert_then(sqlite3 *db, void *ctx)
{
	int fail = *(int *)ctx;
	if (tds_store_exec(db, "INSERT INTO things(id,n) VALUES(hex(randomblob(8)),1)"))
		return tds_error_code();
	if (fail)
		return tds_error_set(TDS_EUNPROC, "refused", "refused on purpose");
	return 0;
}

static int nested(sqlite3 *db, void *ctx)
{
	tds_store *s = ctx;
	int ok = 0;
	if (tds_store_exec(db, "INSERT INTO things(id,n) VALUES('outer',1)"))
		return tds_error_code();
	return tds_store_tx(s, insert_then, &ok);
}

static void test_transactions(void **state)
{
	(void)state;
	tds_store *s;
	assert_int_equal(tds_store_open(path, &s), 0);
	assert_int_equal(tds_store_migrate(s, "test", MIGS, 2), 0);
	int before = count_things(s);
	int ok = 0, fail = 1;
	assert_int_equal(tds_store_tx(s, insert_then, &ok), 0);
	assert_int_equal(count_things(s), before + 1);
	assert_int_equal(tds_store_tx(s, insert_then, &fail), TDS_EUNPROC);
	assert_string_equal(tds_error_name(), "refused");
	assert_int_equal(count_things(s), before + 1);
	assert_int_equal(tds_store_tx(s, nested, s), 0);
	assert_int_equal(count_things(s), before + 3);
	/* constraint violations map to conflict */
	assert_int_equal(tds_store_exec(tds_store_conn(s), "INSERT INTO things(id,n) VALUES('outer',2)"), TDS_ECONFLICT);
	tds_store_close(s);
}

static tds_store *shared;

static void *writer(void *arg)
{
	(void)arg;
	int ok = 0;
	for (int i = 0; i < 50; i++)
		if (tds_store_tx(shared, insert_then, &ok))
			return (void *)1;
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	assert_int_equal(tds_store_open(path, &shared), 0);
	assert_int_equal(tds_store_migrate(shared, "test", MIGS, 2), 0);
	int before = count_things(shared);
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, writer, NULL);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		assert_null(r);
	}
	assert_int_equal(count_things(shared), before + 200);
	tds_store_close(shared);
}

static void test_bad_file(void **state)
{
	(void)state;
	char p[160];
	snprintf(p, sizeof p, "%s/not-a-db", dir);
	FILE *f = fopen(p, "w");
	fputs("this is not a database, just text that is long enough to have a header..........", f);
	fclose(f);
	tds_store *s = NULL;
	assert_int_not_equal(tds_store_open(p, &s), 0);
	assert_null(s);
	assert_int_equal(tds_store_open("/nonexistent-dir/x.db", &s), TDS_EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_and_migrate),
	    cmocka_unit_test(test_transactions),
	    cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_bad_file),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
