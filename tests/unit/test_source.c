/*
 * test_source.c — the source registry on a real store and ledger: a provider registers a CSV by
 * path and by upload, imports it, reads its metadata and sample, imports again, deletes it; paths
 * that leave the import directory (.., absolute, symlinks) are refused; organisations see only their
 * own sources; a failed import keeps the previous data and is evidenced; start-up removes what an
 * interrupted import left; a SQLite file is profiled read-only in place; and, when PostgreSQL's
 * server programs are installed, a throwaway server checks the read-only session, the sealed
 * connection string and the profile of a table.
 */
#include "catalog/catalog.h"
#include "crypto/crypto.h"
#include "http/http.h"
#include "ledger/ledger.h"
#include "store/store.h"

#include <dirent.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct fx {
	char dir[64], imp[128];
	tds_store *store;
	tds_key *key;
	uint8_t master[TDS_MASTER_KEY_LEN];
	tds_ledger *lg;
	tds_catalog *cat;
} fx;

static fx *F;
static const tds_ledger_actor PROV_A = {.org = "org_01JAAAAAAAAAAAAAAAAAAAAAAA", .account = "acc_01JAAAAAAAAAAAAAAAAAAAAAAA"};
static const char *ORG_A = "org_01JAAAAAAAAAAAAAAAAAAAAAAA", *ORG_B = "org_01JBBBBBBBBBBBBBBBBBBBBBBB";

static void ok(int rc)
{
	if (rc)
		fail_msg("failed: %s (%s)", tds_error_message(), tds_error_name());
}

static int open_catalog(void)
{
	tds_catalog_opts co = {.ledger = F->lg, .node_id = "node_01JAAAAAAAAAAAAAAAAAAAAAAA", .dir = F->dir,
			       .seal_key = F->master, .suite = TDS_SUITE_GM};
	return tds_catalog_open(F->store, &co, &F->cat);
}

static int fx_setup(void **state)
{
	(void)state;
	F = calloc(1, sizeof *F);
	strcpy(F->dir, "/tmp/tds-source-XXXXXX");
	if (!mkdtemp(F->dir))
		return -1;
	char p[128];
	snprintf(p, sizeof p, "%s/tds.db", F->dir);
	if (tds_store_open(p, &F->store) || tds_key_generate(TDS_SUITE_GM, &F->key) || tds_random(F->master, sizeof F->master))
		return -1;
	tds_ledger_opts lo = {.store = F->store, .suite = TDS_SUITE_GM, .origin = "tds.local/node_source_test", .key = F->key,
			      .master = F->master};
	if (tds_ledger_open(&lo, &F->lg) || open_catalog())
		return -1;
	snprintf(F->imp, sizeof F->imp, "%s", tds_catalog_import_dir(F->cat));
	return 0;
}

static int fx_teardown(void **state)
{
	(void)state;
	tds_catalog_free(F->cat);
	tds_ledger_free(F->lg);
	tds_store_close(F->store);
	tds_key_free(F->key);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", F->dir);
	int rc = system(cmd);
	free(F);
	return rc == 0 ? 0 : -1;
}

static void write_file(const char *dir, const char *name, const char *data)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	fputs(data, f);
	fclose(f);
}

static int count_files(const char *dir, const char *pattern)
{
	char p[512];
	glob_t g;
	snprintf(p, sizeof p, "%s/%s", dir, pattern);
	int n = glob(p, 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
	globfree(&g);
	return n;
}

static const char *data_dir(void)
{
	static char p[128];
	snprintf(p, sizeof p, "%s/data", F->dir);
	return p;
}

/* Evidence types recorded about a subject, in order, joined by spaces. */
static void evidence_of(const char *id, char *out, size_t cap)
{
	tds_ledger_query q = {.subject = id, .limit = 50};
	json_t *res;
	ok(tds_ledger_search(F->lg, &q, &res));
	out[0] = 0;
	json_t *e;
	size_t i;
	json_array_foreach(json_object_get(res, "items"), i, e) {
		json_t *entry = json_object_get(e, "entry") ? json_object_get(e, "entry") : e;
		snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? " " : "", tds_json_str(entry, "type", "?"));
	}
	json_decref(res);
}

static const char TAX_CSV[] = "纳税人识别号,企业名称,税额,申报日期\n"
			      "91350100M000100Y43,甲公司,1200.50,2024-01-15\n"
			      "91370100780603055K,乙公司,,2024-02-15\n"
			      "91310110666007217T,丙公司,88,2024-03-15\n";

/* A provider registers a CSV in the import directory, imports it, reads it, imports it again. */
static void test_csv_by_path(void **state)
{
	(void)state;
	write_file(F->imp, "tax.csv", TAX_CSV);
	tds_source_new in = {.org_id = ORG_A, .name = "企业纳税 2024", .kind = "csv", .path = "tax.csv"};
	json_t *s;
	ok(tds_catalog_source_create(F->cat, &PROV_A, &in, &s));
	char id[TDS_ID_MAX];
	snprintf(id, sizeof id, "%s", tds_json_str(s, "id", ""));
	assert_true(tds_id_valid(id, "src"));
	assert_string_equal(tds_json_str(s, "status", ""), "registered");
	assert_string_equal(tds_json_str(s, "location", ""), "tax.csv");
	json_decref(s);
	/* the name is unique within the organisation */
	assert_int_equal(tds_catalog_source_create(F->cat, &PROV_A, &in, &s), TDS_ECONFLICT);
	assert_string_equal(tds_error_name(), "source_name_taken");

	ok(tds_catalog_source_import(F->cat, &PROV_A, ORG_A, id, NULL, NULL, &s));
	assert_string_equal(tds_json_str(s, "status", ""), "imported");
	assert_string_equal(tds_json_str(s, "table", ""), "企业纳税_2024");
	json_t *meta = json_object_get(s, "metadata");
	assert_string_equal(tds_json_str(meta, "kind", ""), "csv");
	assert_string_equal(tds_json_str(meta, "hash_alg", ""), "sm3");
	json_t *t = json_array_get(json_object_get(meta, "tables"), 0);
	assert_int_equal(tds_json_int(t, "row_count", 0), 3);
	json_t *tax = json_array_get(json_object_get(t, "columns"), 2);
	assert_string_equal(tds_json_str(tax, "type", ""), "decimal");
	assert_string_equal(tds_json_str(tax, "null_ratio", ""), "0.3333");
	json_decref(s);
	assert_int_equal(count_files(data_dir(), "src_*-1.db"), 1);

	/* the sample: raw rows, for the owner */
	ok(tds_catalog_source_sample(F->cat, ORG_A, id, NULL, 2, &s));
	assert_int_equal(json_array_size(json_object_get(s, "rows")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(s, "columns"), 1)), "企业名称");
	assert_string_equal(json_string_value(json_array_get(json_array_get(json_object_get(s, "rows"), 0), 1)), "甲公司");
	json_decref(s);
	char path[512], table[80];
	ok(tds_catalog_source_data(F->cat, id, path, sizeof path, table));
	assert_string_equal(table, "企业纳税_2024");

	/* import again: a new file replaces the old one */
	write_file(F->imp, "tax.csv", "纳税人识别号,企业名称,税额,申报日期\n91350100M000100Y43,甲公司,1,2024-01-15\n");
	ok(tds_catalog_source_import(F->cat, &PROV_A, NULL, id, NULL, NULL, &s));
	assert_int_equal(tds_json_int(s, "imports", 0), 2);
	json_decref(s);
	assert_int_equal(count_files(data_dir(), "src_*-1.db"), 0);
	assert_int_equal(count_files(data_dir(), "src_*-2.db"), 1);

	/* a broken file: the import fails with its line, the previous data stays, evidenced */
	write_file(F->imp, "tax.csv", "a,b\n1,\"open\n");
	assert_int_equal(tds_catalog_source_import(F->cat, &PROV_A, ORG_A, id, NULL, NULL, &s), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "unbalanced_quote");
	assert_non_null(strstr(tds_error_message(), "line 2"));
	ok(tds_catalog_source_get(F->cat, ORG_A, id, &s));
	assert_string_equal(tds_json_str(s, "status", ""), "failed");
	assert_non_null(strstr(tds_json_str(s, "error", ""), "line 2"));
	assert_int_equal(tds_json_int(json_array_get(json_object_get(json_object_get(s, "metadata"), "tables"), 0), "row_count", 0), 1);
	json_decref(s);
	ok(tds_catalog_source_sample(F->cat, ORG_A, id, NULL, 0, &s));
	assert_int_equal(json_array_size(json_object_get(s, "rows")), 1);
	json_decref(s);

	char ev[512];
	evidence_of(id, ev, sizeof ev);
	assert_string_equal(ev, "catalog.source_registered catalog.source_imported catalog.source_imported "
				"catalog.source_import_failed");

	/* another organisation sees nothing of it */
	assert_int_equal(tds_catalog_source_get(F->cat, ORG_B, id, &s), TDS_ENOTFOUND);
	assert_int_equal(tds_catalog_source_sample(F->cat, ORG_B, id, NULL, 0, &s), TDS_ENOTFOUND);
	ok(tds_catalog_source_list(F->cat, ORG_B, 10, NULL, &s));
	assert_int_equal(json_array_size(json_object_get(s, "items")), 0);
	json_decref(s);
	ok(tds_catalog_source_list(F->cat, ORG_A, 10, NULL, &s));
	assert_int_equal(json_array_size(json_object_get(s, "items")), 1);
	assert_null(json_object_get(json_array_get(json_object_get(s, "items"), 0), "metadata"));
	json_decref(s);
	assert_int_equal(tds_catalog_source_delete(F->cat, &PROV_A, ORG_B, id), TDS_ENOTFOUND);

	ok(tds_catalog_source_delete(F->cat, &PROV_A, ORG_A, id));
	assert_int_equal(count_files(data_dir(), "src_*"), 0);
	assert_int_equal(tds_catalog_source_get(F->cat, NULL, id, &s), TDS_ENOTFOUND);
	evidence_of(id, ev, sizeof ev);
	assert_non_null(strstr(ev, "catalog.source_deleted"));
}

/* Paths must stay inside the import directory. */
static void test_path_checks(void **state)
{
	(void)state;
	write_file(F->imp, "ok.csv", "a\n1\n");
	char p[256], q[256];
	snprintf(p, sizeof p, "%s/sub", F->imp);
	assert_int_equal(mkdir(p, 0700), 0);
	write_file(p, "in.csv", "a\n1\n");
	snprintf(q, sizeof q, "%s/tds.db", F->dir);
	snprintf(p, sizeof p, "%s/escape.csv", F->imp);
	assert_int_equal(symlink(q, p), 0); /* a symlink out of the import directory */
	snprintf(p, sizeof p, "%s/inside.csv", F->imp);
	assert_int_equal(symlink("sub/in.csv", p), 0); /* a symlink that stays inside */
	static const char *const bad[] = {"../tds.db", "/etc/passwd", "sub/../../tds.db", "escape.csv", "sub", "missing.csv",
					  "", "..", "a\nb.csv"};
	json_t *s;
	for (size_t i = 0; i < TDS_ARRAY_LEN(bad); i++) {
		tds_source_new in = {.org_id = ORG_A, .name = "bad", .kind = i % 2 ? "csv" : "sqlite", .path = bad[i]};
		int rc = tds_catalog_source_create(F->cat, &PROV_A, &in, &s);
		if (rc != TDS_EINVAL || strcmp(tds_error_name(), "invalid_path") != 0)
			fail_msg("path '%s' gave %d %s", bad[i], rc, tds_error_name());
	}
	static const char *const good[] = {"ok.csv", "sub/in.csv", "inside.csv", "./ok.csv"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(good); i++) {
		char name[32];
		snprintf(name, sizeof name, "good %zu", i);
		tds_source_new in = {.org_id = ORG_A, .name = name, .kind = "csv", .path = good[i]};
		ok(tds_catalog_source_create(F->cat, &PROV_A, &in, &s));
		ok(tds_catalog_source_delete(F->cat, &PROV_A, NULL, tds_json_str(s, "id", "")));
		json_decref(s);
	}
	/* bad input of other kinds */
	tds_source_new k = {.org_id = ORG_A, .name = "x", .kind = "excel", .path = "ok.csv"};
	assert_int_equal(tds_catalog_source_create(F->cat, &PROV_A, &k, &s), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "invalid_kind");
	tds_source_new n = {.org_id = ORG_A, .name = "tab\there", .kind = "csv", .path = "ok.csv"};
	assert_int_equal(tds_catalog_source_create(F->cat, &PROV_A, &n, &s), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "invalid_name");
	tds_source_new both = {.org_id = ORG_A, .name = "x", .kind = "csv", .path = "ok.csv", .content = "a\n", .content_len = 2};
	assert_int_equal(tds_catalog_source_create(F->cat, &PROV_A, &both, &s), TDS_EINVAL);
	/* a file that is not CSV is refused at registration, naming the line */
	write_file(F->imp, "bin.csv", "ok\n\xff\xfe\xfd\n");
	tds_source_new bin = {.org_id = ORG_A, .name = "bin", .kind = "csv", .path = "bin.csv"};
	tds_csv_opts utf8 = {.encoding = TDS_CSV_UTF8};
	bin.csv = utf8;
	json_t *t;
	ok(tds_catalog_source_create(F->cat, &PROV_A, &bin, &t)); /* the first record is fine */
	assert_int_equal(tds_catalog_source_import(F->cat, &PROV_A, ORG_A, tds_json_str(t, "id", ""), NULL, NULL, &s), TDS_EINVAL);
	assert_non_null(strstr(tds_error_message(), "line 2, byte offset 3"));
	ok(tds_catalog_source_delete(F->cat, &PROV_A, ORG_A, tds_json_str(t, "id", "")));
	json_decref(t);
}

/* An uploaded CSV (GB18030, in the request) is kept beside the data and removed with the source. */
static void test_csv_upload(void **state)
{
	(void)state;
	const char gb[] = "\xC4\xC9\xCB\xB0\xC8\xCB,\xCB\xB0\xB6\xEE\n\xD5\xC5\xC8\xFD,12.5\n\xC0\xEE\xCB\xC4,7\n";
	tds_source_new in = {.org_id = ORG_A, .name = "upload", .kind = "csv", .content = gb, .content_len = sizeof gb - 1};
	json_t *s;
	ok(tds_catalog_source_create(F->cat, &PROV_A, &in, &s));
	char id[TDS_ID_MAX];
	snprintf(id, sizeof id, "%s", tds_json_str(s, "id", ""));
	assert_string_equal(tds_json_str(s, "location", ""), "upload");
	json_decref(s);
	assert_int_equal(count_files(data_dir(), "*.upload.csv"), 1);
	ok(tds_catalog_source_import(F->cat, &PROV_A, ORG_A, id, NULL, NULL, &s));
	assert_string_equal(tds_json_str(json_object_get(s, "metadata"), "encoding", ""), "gb18030");
	json_decref(s);
	ok(tds_catalog_source_sample(F->cat, ORG_A, id, NULL, 5, &s));
	assert_string_equal(json_string_value(json_array_get(json_object_get(s, "columns"), 0)), "纳税人");
	assert_string_equal(json_string_value(json_array_get(json_array_get(json_object_get(s, "rows"), 1), 0)), "李四");
	json_decref(s);
	ok(tds_catalog_source_delete(F->cat, &PROV_A, ORG_A, id));
	assert_int_equal(count_files(data_dir(), "*"), 0);
}

typedef struct reentry {
	const char *id;
	int import_rc, delete_rc;
	bool done;
} reentry;

static int try_again(void *ctx, const tds_import_progress *p)
{
	reentry *r = ctx;
	(void)p;
	if (!r->done) {
		json_t *s = NULL;
		r->import_rc = tds_catalog_source_import(F->cat, &PROV_A, ORG_A, r->id, NULL, NULL, &s);
		r->delete_rc = tds_catalog_source_delete(F->cat, &PROV_A, ORG_A, r->id);
		json_t *g = NULL;
		if (tds_catalog_source_get(F->cat, ORG_A, r->id, &g) == 0 && strcmp(tds_json_str(g, "status", ""), "importing") != 0)
			r->import_rc = 1; /* the running import must show */
		json_decref(g);
		json_decref(s);
		r->done = true;
	}
	return 0;
}

/* One import per source at a time; deletion waits for it; start-up removes leftovers. */
static void test_running_and_cleanup(void **state)
{
	(void)state;
	write_file(F->imp, "one.csv", "a,b\n1,2\n");
	tds_source_new in = {.org_id = ORG_A, .name = "one", .kind = "csv", .path = "one.csv"};
	json_t *s;
	ok(tds_catalog_source_create(F->cat, &PROV_A, &in, &s));
	char id[TDS_ID_MAX];
	snprintf(id, sizeof id, "%s", tds_json_str(s, "id", ""));
	json_decref(s);
	reentry re = {.id = id};
	ok(tds_catalog_source_import(F->cat, &PROV_A, ORG_A, id, try_again, &re, &s));
	json_decref(s);
	assert_true(re.done);
	assert_int_equal(re.import_rc, TDS_ECONFLICT);
	assert_int_equal(re.delete_rc, TDS_ECONFLICT);

	/* what a crash leaves: a temporary file, a file no source refers to */
	char stray[160];
	snprintf(stray, sizeof stray, "%s-2.db.tmp-AbC123", id);
	write_file(data_dir(), stray, "partial");
	write_file(data_dir(), "src_01JZZZZZZZZZZZZZZZZZZZZZZZ-1.db", "orphan");
	tds_catalog_free(F->cat);
	ok(open_catalog());
	assert_int_equal(count_files(data_dir(), "*"), 1); /* only the source's own data file */
	ok(tds_catalog_source_sample(F->cat, ORG_A, id, NULL, 0, &s));
	assert_int_equal(json_array_size(json_object_get(s, "rows")), 1);
	json_decref(s);
	ok(tds_catalog_source_delete(F->cat, &PROV_A, ORG_A, id));
}

/* A SQLite file in the import directory is profiled read-only in place. */
static void test_sqlite_source(void **state)
{
	(void)state;
	char p[256];
	snprintf(p, sizeof p, "%s/shebao.db", F->imp);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "CREATE TABLE insured (person_id TEXT, name TEXT, paid_months INTEGER, base REAL, since TEXT);"
				      "INSERT INTO insured VALUES ('110105194912310020','张三',12,5200.5,'2020-01-01'),"
				      " ('110105194912310021','李四',NULL,6100,'2021-06-30'), ('110105194912310022','王五',36,4800,NULL);"
				      "CREATE TABLE \"odd \"\"name\" (x);"
				      "CREATE VIEW v AS SELECT name FROM insured;",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	struct stat before, after;
	assert_int_equal(stat(p, &before), 0);
	tds_source_new in = {.org_id = ORG_A, .name = "社保参保", .kind = "sqlite", .path = "shebao.db"};
	json_t *s;
	ok(tds_catalog_source_create(F->cat, &PROV_A, &in, &s));
	char id[TDS_ID_MAX];
	snprintf(id, sizeof id, "%s", tds_json_str(s, "id", ""));
	json_decref(s);
	ok(tds_catalog_source_import(F->cat, &PROV_A, ORG_A, id, NULL, NULL, &s));
	json_t *tables = json_object_get(json_object_get(s, "metadata"), "tables");
	assert_int_equal(json_array_size(tables), 3);
	json_t *ins = json_array_get(tables, 0); /* sorted: insured, odd "name, v */
	assert_string_equal(tds_json_str(ins, "name", ""), "insured");
	assert_int_equal(tds_json_int(ins, "row_count", 0), 3);
	json_t *months = json_array_get(json_object_get(ins, "columns"), 2);
	assert_string_equal(tds_json_str(months, "type", ""), "integer");
	assert_string_equal(tds_json_str(months, "source_type", ""), "INTEGER");
	assert_string_equal(tds_json_str(months, "null_ratio", ""), "0.3333");
	assert_int_equal(tds_json_int(months, "max", 0), 36);
	assert_string_equal(tds_json_str(json_array_get(json_object_get(ins, "columns"), 0), "type", ""), "text");
	json_decref(s);
	ok(tds_catalog_source_sample(F->cat, ORG_A, id, "odd \"name", 5, &s));
	json_decref(s);
	ok(tds_catalog_source_sample(F->cat, ORG_A, id, "insured", 2, &s));
	assert_int_equal(json_array_size(json_object_get(s, "rows")), 2);
	assert_int_equal(json_integer_value(json_array_get(json_array_get(json_object_get(s, "rows"), 0), 2)), 12);
	json_decref(s);
	assert_int_equal(tds_catalog_source_sample(F->cat, ORG_A, id, "nope; DROP TABLE insured", 2, &s), TDS_ENOTFOUND);
	assert_string_equal(tds_error_name(), "no_such_table");
	assert_int_equal(stat(p, &after), 0);
	assert_int_equal(before.st_mtime, after.st_mtime); /* never written */
	assert_int_equal(before.st_size, after.st_size);
	/* a table named at registration must exist */
	tds_source_new t = {.org_id = ORG_A, .name = "missing", .kind = "sqlite", .path = "shebao.db", .table = "nope"};
	assert_int_equal(tds_catalog_source_create(F->cat, &PROV_A, &t, &s), TDS_ENOTFOUND);
	/* a file that is not a database */
	write_file(F->imp, "not.db", "hello, this is not sqlite at all, not even close...................................");
	tds_source_new nd = {.org_id = ORG_A, .name = "notdb", .kind = "sqlite", .path = "not.db"};
	assert_int_equal(tds_catalog_source_create(F->cat, &PROV_A, &nd, &s), TDS_EIO);
	assert_string_equal(tds_error_name(), "cannot_open");
	ok(tds_catalog_source_delete(F->cat, &PROV_A, ORG_A, id));
}

/* ---- PostgreSQL, with a throwaway server when its programs are installed ---- */

static char PGDIR[64], PGBIN[256];
static bool pg_up;

static int sh(const char *fmt, ...) TDS_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* Finds initdb/pg_ctl (Debian: /usr/lib/postgresql/<v>/bin), starts a server on a Unix socket in a
 * temporary directory (as the postgres user when running as root: initdb refuses root). */
static bool pg_start(void)
{
	glob_t g;
	if (glob("/usr/lib/postgresql/*/bin/pg_ctl", 0, NULL, &g) != 0 || g.gl_pathc == 0) {
		globfree(&g);
		return false;
	}
	snprintf(PGBIN, sizeof PGBIN, "%.*s", (int)(strlen(g.gl_pathv[g.gl_pathc - 1]) - strlen("/pg_ctl")),
		 g.gl_pathv[g.gl_pathc - 1]);
	globfree(&g);
	strcpy(PGDIR, "/tmp/tds-pg-XXXXXX");
	if (!mkdtemp(PGDIR))
		return false;
	const char *as = "";
	if (getuid() == 0) {
		if (sh("id postgres >/dev/null 2>&1") != 0)
			return false;
		if (sh("chown postgres %s", PGDIR) != 0)
			return false;
		as = "runuser -u postgres -- ";
	}
	if (sh("%s%s/initdb -D %s/data -A trust -U tds -E UTF8 --locale=C --no-sync >%s/initdb.log 2>&1", as, PGBIN, PGDIR,
	       PGDIR) != 0 ||
	    sh("%s%s/pg_ctl -D %s/data -l %s/server.log -w -t 60 -o \"-k %s -c listen_addresses='' -p 54321 -F\" start "
	       ">/dev/null 2>&1",
	       as, PGBIN, PGDIR, PGDIR, PGDIR) != 0)
		return false;
	return sh("%s/psql -q -h %s -p 54321 -U tds -d postgres -v ON_ERROR_STOP=1 -c \""
		  "CREATE TABLE public.filings (uscc text, amount numeric(12,2), filed date, paid boolean);"
		  "INSERT INTO public.filings VALUES ('91350100M000100Y43', 1200.50, '2024-01-15', true),"
		  " ('91370100780603055K', NULL, '2024-02-15', false);"
		  "CREATE SCHEMA tax; CREATE TABLE tax.\\\"纳税人\\\" (id int, name text); INSERT INTO tax.\\\"纳税人\\\" VALUES (1, '甲');"
		  "CREATE ROLE reader LOGIN PASSWORD 'r3ader-secret'; GRANT USAGE ON SCHEMA tax TO reader;"
		  "GRANT SELECT ON ALL TABLES IN SCHEMA public, tax TO reader;\" >/dev/null 2>&1",
		  PGBIN, PGDIR) == 0;
}

static int pg_setup(void **state)
{
	if (fx_setup(state))
		return -1;
	pg_up = pg_start();
	if (!pg_up)
		fprintf(stderr, "test_source: PostgreSQL server programs not found (or could not start): the PostgreSQL "
				"tests are skipped. Install Debian's postgresql package to run them.\n");
	return 0;
}

static int pg_teardown(void **state)
{
	if (PGDIR[0]) {
		sh("%s%s/pg_ctl -D %s/data -m immediate stop >/dev/null 2>&1", getuid() == 0 ? "runuser -u postgres -- " : "",
		   PGBIN, PGDIR);
		sh("rm -rf %s", PGDIR);
	}
	return fx_teardown(state);
}

static void test_postgres_source(void **state)
{
	(void)state;
	if (!pg_up) {
		skip();
		return;
	}
	char conn[512];
	snprintf(conn, sizeof conn, "host=%s port=54321 dbname=postgres user=reader password=r3ader-secret "
				    "options='-c default_transaction_read_only=off'", PGDIR);
	tds_dbsrc *src;
	ok(tds_dbsrc_open_pg(conn, &src)); /* the caller's options cannot undo read-only */
	json_t *t;
	ok(tds_dbsrc_tables(src, &t));
	assert_int_equal(json_array_size(t), 2);
	assert_string_equal(json_string_value(json_array_get(t, 0)), "public.filings");
	assert_string_equal(json_string_value(json_array_get(t, 1)), "tax.纳税人");
	json_decref(t);
	ok(tds_dbsrc_profile(src, "filings", &t));
	assert_int_equal(tds_json_int(t, "row_count", 0), 2);
	assert_false(json_is_true(json_object_get(t, "role_can_write")));
	json_t *amount = json_array_get(json_object_get(t, "columns"), 1);
	assert_string_equal(tds_json_str(amount, "type", ""), "decimal");
	assert_string_equal(tds_json_str(amount, "source_type", ""), "numeric");
	assert_string_equal(tds_json_str(amount, "null_ratio", ""), "0.5000");
	assert_string_equal(tds_json_str(json_array_get(json_object_get(t, "columns"), 2), "type", ""), "date");
	json_decref(t);
	assert_int_equal(tds_dbsrc_profile(src, "public.nope", &t), TDS_ENOTFOUND);
	tds_dbsrc_close(src);
	/* the owner role can write: reported */
	char owner[512];
	snprintf(owner, sizeof owner, "host=%s port=54321 dbname=postgres user=tds", PGDIR);
	ok(tds_dbsrc_open_pg(owner, &src));
	ok(tds_dbsrc_profile(src, "public.filings", &t));
	assert_true(json_is_true(json_object_get(t, "role_can_write")));
	json_decref(t);
	tds_dbsrc_close(src);
	/* files on the connector are out of reach */
	char pf[512];
	snprintf(pf, sizeof pf, "host=%s port=54321 dbname=postgres user=reader passfile=/etc/passwd", PGDIR);
	assert_int_equal(tds_dbsrc_open_pg(pf, &src), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "invalid_connection");

	/* registered: the connection string is sealed, only the redacted form is shown */
	tds_source_new in = {.org_id = ORG_A, .name = "申报", .kind = "postgres", .connection = conn, .table = "tax.纳税人"};
	json_t *s;
	ok(tds_catalog_source_create(F->cat, &PROV_A, &in, &s));
	char id[TDS_ID_MAX];
	snprintf(id, sizeof id, "%s", tds_json_str(s, "id", ""));
	assert_null(strstr(tds_json_str(s, "location", ""), "r3ader-secret"));
	assert_non_null(strstr(tds_json_str(s, "location", ""), "user='reader'"));
	json_decref(s);
	sqlite3 *db = tds_store_conn(F->store);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM sources WHERE instr(CAST(connection_sealed AS TEXT), 'secret')"
						" OR instr(location, 'secret') OR instr(options, 'secret')", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	ok(tds_catalog_source_import(F->cat, &PROV_A, ORG_A, id, NULL, NULL, &s));
	json_t *tables = json_object_get(json_object_get(s, "metadata"), "tables");
	assert_int_equal(json_array_size(tables), 1);
	assert_string_equal(tds_json_str(json_array_get(tables, 0), "name", ""), "tax.纳税人");
	json_decref(s);
	ok(tds_catalog_source_sample(F->cat, ORG_A, id, NULL, 0, &s));
	assert_string_equal(json_string_value(json_array_get(json_array_get(json_object_get(s, "rows"), 0), 1)), "甲");
	json_decref(s);
	ok(tds_catalog_source_delete(F->cat, &PROV_A, ORG_A, id));
	/* a server that is not there */
	tds_source_new down = {.org_id = ORG_A, .name = "down", .kind = "postgres",
			       .connection = "host=/nonexistent port=1 dbname=x user=y connect_timeout=2"};
	assert_int_equal(tds_catalog_source_create(F->cat, &PROV_A, &down, &s), TDS_EIO);
	assert_string_equal(tds_error_name(), "connection_failed");
}

/* ---- the routes, through a real server ---- */

static int auth_stub(void *ctx, tds_req *req, tds_principal *out)
{
	(void)ctx;
	const char *h = tds_req_header(req, "Authorization");
	if (!h)
		return 0;
	out->account_id = "acc_01JAAAAAAAAAAAAAAAAAAAAAAA";
	if (strcmp(h, "Bearer provider-a") == 0) {
		out->org_id = ORG_A;
		out->roles = TDS_ROLE_PROVIDER;
	} else if (strcmp(h, "Bearer provider-b") == 0) {
		out->org_id = ORG_B;
		out->roles = TDS_ROLE_PROVIDER;
	} else if (strcmp(h, "Bearer consumer") == 0) {
		out->org_id = ORG_B;
		out->roles = TDS_ROLE_CONSUMER;
	} else {
		return tds_error_set(TDS_EAUTH, "invalid_token", "bad token");
	}
	return 0;
}

static long call(tds_http_client *c, const char *token, const char *method, const char *path, const char *body, json_t **out)
{
	tds_http_client_set_token(c, token);
	json_t *b = NULL;
	if (body)
		assert_int_equal(tds_json_parse(body, strlen(body), &b), 0);
	long st = 0;
	*out = NULL;
	ok(tds_http_client_json(c, method, path, b, &st, out));
	json_decref(b);
	return st;
}

static void test_routes(void **state)
{
	(void)state;
	tds_router *r = tds_router_new();
	ok(tds_catalog_routes(F->cat, r));
	assert_int_equal(tds_router_count(r), 33); /* 6 source, 11 resource, 10 product and 6 fused-catalog routes */
	tds_server_opts o = {.name = "api", .threads = 2, .max_body = 1 << 20, .auth = auth_stub};
	tds_server *srv;
	ok(tds_server_start(r, &o, &srv));
	char base[64];
	snprintf(base, sizeof base, "http://127.0.0.1:%u", tds_server_port(srv));
	tds_http_client *c = tds_http_client_new(base, 10000);
	json_t *out;
	write_file(F->imp, "tax.csv", TAX_CSV);
	assert_int_equal(call(c, NULL, "GET", "/api/v1/sources", NULL, &out), 401);
	json_decref(out);
	assert_int_equal(call(c, "consumer", "GET", "/api/v1/sources", NULL, &out), 403);
	json_decref(out);
	assert_int_equal(call(c, "provider-a", "POST", "/api/v1/sources", "{\"name\":\"t\",\"kind\":\"csv\",\"path\":\"../tds.db\"}", &out), 400);
	assert_string_equal(tds_json_str(json_object_get(out, "error"), "code", ""), "invalid_path");
	json_decref(out);
	assert_int_equal(call(c, "provider-a", "POST", "/api/v1/sources", "{\"name\":\"t\",\"kind\":\"csv\",\"path\":\"tax.csv\",\"encoding\":\"latin1\"}", &out), 400);
	json_decref(out);
	assert_int_equal(call(c, "provider-a", "POST", "/api/v1/sources", "{\"name\":\"纳税\",\"kind\":\"csv\",\"path\":\"tax.csv\",\"header\":\"yes\"}", &out), 201);
	char id[TDS_ID_MAX], path[128];
	snprintf(id, sizeof id, "%s", tds_json_str(out, "id", ""));
	assert_string_equal(tds_json_str(json_object_get(out, "options"), "header", ""), "yes");
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/sources/%s/sample", id);
	assert_int_equal(call(c, "provider-a", "GET", path, NULL, &out), 422);
	assert_string_equal(tds_json_str(json_object_get(out, "error"), "code", ""), "not_imported");
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/sources/%s/import", id);
	assert_int_equal(call(c, "provider-b", "POST", path, NULL, &out), 404); /* another organisation's */
	json_decref(out);
	assert_int_equal(call(c, "provider-a", "POST", path, NULL, &out), 200);
	assert_string_equal(tds_json_str(out, "status", ""), "imported");
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/sources/%s/sample?limit=1", id);
	assert_int_equal(call(c, "provider-a", "GET", path, NULL, &out), 200);
	assert_int_equal(json_array_size(json_object_get(out, "rows")), 1);
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/sources/%s/sample?limit=0", id);
	assert_int_equal(call(c, "provider-a", "GET", path, NULL, &out), 400);
	json_decref(out);
	/* an upload in the request body */
	tds_buf b64 = TDS_BUF_INIT, body = TDS_BUF_INIT;
	ok(tds_b64_encode("a,b\n1,2\n", 8, &b64));
	ok(tds_buf_printf(&body, "{\"name\":\"up\",\"kind\":\"csv\",\"content_base64\":\"%s\",\"ragged\":\"report\"}", b64.data));
	assert_int_equal(call(c, "provider-b", "POST", "/api/v1/sources", body.data, &out), 201);
	json_decref(out);
	tds_buf_free(&b64);
	tds_buf_free(&body);
	assert_int_equal(call(c, "provider-a", "GET", "/api/v1/sources?limit=1", NULL, &out), 200);
	assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
	assert_true(json_is_null(json_object_get(out, "next_cursor")));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/sources/%s", id);
	assert_int_equal(call(c, "provider-a", "GET", path, NULL, &out), 200);
	assert_int_equal(tds_json_int(json_array_get(json_object_get(json_object_get(out, "metadata"), "tables"), 0), "row_count", 0), 3);
	json_decref(out);
	assert_int_equal(call(c, "provider-b", "DELETE", path, NULL, &out), 404);
	json_decref(out);
	assert_int_equal(call(c, "provider-a", "DELETE", path, NULL, &out), 200);
	json_decref(out);
	assert_int_equal(call(c, "provider-a", "GET", path, NULL, &out), 404);
	json_decref(out);
	tds_http_client_free(c);
	tds_server_stop(srv);
	tds_router_free(r);
}

int main(void)
{
	tds_crypto_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_csv_by_path, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_path_checks, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_csv_upload, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_running_and_cleanup, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_sqlite_source, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_routes, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_postgres_source, pg_setup, pg_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
