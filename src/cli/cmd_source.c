/*
 * cmd_source.c — `tds bench import [--json] [--rows N] …` (CSV import throughput: generate a
 * deterministic 10-column CSV, import it with tds_csv_import, report rows/s and MB/s) and the data
 * source client verbs `tds source (add|list|show|import|sample|delete) …` against a node's
 * management API. Not for the import itself, which lives in src/catalog/.
 */
#include "catalog/catalog.h"
#include "cli/cli.h"
#include "http/http.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>


static int print_json(const json_t *o, bool compact)
{
	char *s = json_dumps(o, compact ? JSON_COMPACT | JSON_PRESERVE_ORDER : JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!s)
		return 1;
	puts(s);
	free(s);
	return 0;
}

/* ------------------------------------------------------------------------------------------------
 * tds bench import
 * ---------------------------------------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static const char *const SURNAMES[] = {"张", "王", "李", "赵", "刘", "陈", "杨", "黄", "吴", "周", "徐", "孙"};
static const char *const GIVEN[] = {"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟"};
static const char *const CITIES_ZH[] = {"北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "西安", "南京", "重庆"};
static const char *const TRADES[] = {"科技", "贸易", "建设", "物流", "医药", "能源", "餐饮", "教育"};
static const char *const FORMS[] = {"有限公司", "股份有限公司", "集团有限公司"};
static const char *const CITIES[] = {"beijing", "shanghai", "guangzhou", "shenzhen", "hangzhou", "chengdu", "wuhan", "xian"};

#define PICK(a, r) (a)[(r) % TDS_ARRAY_LEN(a)]

/* Writes the benchmark CSV: a header and `rows` rows of 10 columns (integer id, integer licence
 * number, decimal amount, decimal rate, date, datetime, short code, ASCII city, Chinese name, Chinese
 * company name), from a fixed seed so every run imports the same bytes. */
static int generate(const char *path, uint64_t rows, uint64_t *bytes)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return tds_error_set(TDS_EIO, NULL, "cannot create %s: %s", path, strerror(errno));
	static char buf[1 << 20];
	setvbuf(f, buf, _IOFBF, sizeof buf);
	uint64_t seed = 20240501;
	fputs("id,licence_no,amount,rate,reg_date,updated_at,code,city,法人姓名,企业名称\n", f);
	static const char alnum[] = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
	for (uint64_t i = 1; i <= rows; i++) {
		uint64_t a = splitmix(&seed), b = splitmix(&seed), c = splitmix(&seed);
		char code[7];
		for (int k = 0; k < 6; k++)
			code[k] = alnum[(a >> (k * 6)) % (sizeof alnum - 1)];
		code[6] = 0;
		unsigned y = 2000 + (unsigned)(b % 24), m = 1 + (unsigned)(b >> 8) % 12, d = 1 + (unsigned)(b >> 16) % 28;
		fprintf(f, "%llu,%llu,%llu.%02u,0.%04u,%04u-%02u-%02u,%04u-%02u-%02u %02u:%02u:%02u,%s,%s,%s%s%s,%s%s%s\n",
			(unsigned long long)i, (unsigned long long)(100000000 + a % 900000000),
			(unsigned long long)(c % 10000000), (unsigned)(c >> 32) % 100, (unsigned)(c >> 40) % 10000, y, m, d,
			y, m, d, (unsigned)(a >> 40) % 24, (unsigned)(a >> 46) % 60, (unsigned)(a >> 52) % 60, code,
			PICK(CITIES, b >> 24), PICK(SURNAMES, c >> 8), PICK(GIVEN, c >> 16),
			(c >> 24) % 2 ? PICK(GIVEN, c >> 28) : "", PICK(CITIES_ZH, a >> 20), PICK(TRADES, a >> 28),
			PICK(FORMS, b >> 32));
	}
	long size = ftell(f);
	if (fclose(f) != 0 || size < 0)
		return tds_error_set(TDS_EIO, NULL, "writing %s failed", path);
	*bytes = (uint64_t)size;
	return 0;
}

typedef struct bench_progress {
	bool quiet;
	int64_t last_us;
} bench_progress;

/* Prints progress on stderr at most twice a second (and at the end). */
static int on_progress(void *ctx, const tds_import_progress *p)
{
	bench_progress *bp = ctx;
	if (bp->quiet || (p->elapsed_us - bp->last_us < 500000 && p->bytes < p->total_bytes))
		return 0;
	bp->last_us = p->elapsed_us;
	fprintf(stderr, "bench import: 导入 pass %d: %llu rows, %.1f of %.1f MB (%.0f%%), %.1f s\n", p->pass,
		(unsigned long long)p->rows, (double)p->bytes / 1e6, (double)p->total_bytes / 1e6,
		p->total_bytes ? 100.0 * (double)p->bytes / (double)p->total_bytes : 0.0, (double)p->elapsed_us / 1e6);
	return 0;
}


static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int tds_cli_bench_import(int argc, char **argv)
{
	uint64_t rows = 2000000;
	bool json = false, keep = false;
	const char *base = NULL;
	tds_suite suite = TDS_SUITE_INTL;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--json") == 0) {
			json = true;
		} else if (strcmp(a, "--keep") == 0) {
			keep = true;
		} else if (strcmp(a, "--rows") == 0 && v) {
			char *end;
			errno = 0;
			unsigned long long x = strtoull(v, &end, 10);
			if (errno || end == v || *end || v[0] == '-' || x < 1 || x > 1000000000ull)
				return tds_cli_usage("bench import: --rows must be 1..1000000000");
			rows = x;
			i++;
		} else if (strcmp(a, "--suite") == 0 && v) {
			if (tds_suite_parse(v, &suite))
				return tds_cli_usage("bench import: --suite must be gm or intl");
			i++;
		} else if (strcmp(a, "--dir") == 0 && v) {
			base = v;
			i++;
		} else {
			return tds_cli_usage("bench import: bad option %s (options: --rows N --suite gm|intl --dir DIR --keep --json)", a);
		}
	}
	tds_log_set_level(TDS_LOG_WARN);
	if (tds_crypto_init()) {
		fprintf(stderr, "tds: bench import: %s\n", tds_error_message());
		return 1;
	}
	char dir[256], csv[512], db[512];
	if (base)
		snprintf(dir, sizeof dir, "%s", base);
	else
		snprintf(dir, sizeof dir, "/tmp/tds-bench-import-XXXXXX");
	if (!base && !mkdtemp(dir)) {
		fprintf(stderr, "tds: bench import: cannot create a temporary directory: %s\n", strerror(errno));
		return 1;
	}
	snprintf(csv, sizeof csv, "%s/bench.csv", dir);
	snprintf(db, sizeof db, "%s/bench.db", dir);
	uint64_t bytes = 0;
	int rc;
	int64_t g0 = tds_monotonic_us();
	if (!json)
		fprintf(stderr, "bench import: generating %llu rows in %s\n", (unsigned long long)rows, csv);
	if ((rc = generate(csv, rows, &bytes))) {
		fprintf(stderr, "tds: bench import: %s\n", tds_error_message());
		return 1;
	}
	double gen_s = (double)(tds_monotonic_us() - g0) / 1e6;
	int fd = open(csv, O_RDONLY | O_CLOEXEC);
	tds_csv *r = NULL;
	json_t *meta = NULL;
	bench_progress bp = {.quiet = json};
	tds_csv_import_opts io = {.table = "bench", .progress = on_progress, .progress_ctx = &bp, .hash_suite = suite};
	double c0 = cpu_s();
	int64_t t0 = tds_monotonic_us();
	if (fd < 0)
		rc = tds_error_set(TDS_EIO, NULL, "cannot open %s", csv);
	else if (!(rc = tds_csv_open_fd(fd, true, NULL, &r)))
		rc = tds_csv_import(r, db, &io, &meta);
	int64_t us = tds_monotonic_us() - t0;
	double cpu = cpu_s() - c0;
	tds_csv_free(r);
	if (rc) {
		fprintf(stderr, "tds: bench import: %s (%s)\n", tds_error_message(), tds_error_name());
		json_decref(meta);
		return 1;
	}
	/* check what was stored */
	sqlite3 *chk = NULL;
	sqlite3_stmt *st = NULL;
	long long stored = -1;
	if (sqlite3_open_v2(db, &chk, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(chk, "SELECT count(*) FROM bench", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		stored = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(chk);
	struct stat sb;
	long long db_bytes = stat(db, &sb) == 0 ? (long long)sb.st_size : 0;
	if (stored != (long long)rows) {
		fprintf(stderr, "tds: bench import: the table holds %lld rows, expected %llu\n", stored, (unsigned long long)rows);
		json_decref(meta);
		return 1;
	}
	double secs = (double)us / 1e6;
	json_t *metrics = json_pack("{s:I, s:f, s:I}", "rows_per_s", (json_int_t)((double)rows / secs), "mb_per_s",
				    (double)bytes / 1e6 / secs, "rows", (json_int_t)rows);
	json_object_set_new(metrics, "seconds", json_real(secs));
	json_object_set_new(metrics, "csv_bytes", json_integer((json_int_t)bytes));
	json_object_set_new(metrics, "db_bytes", json_integer(db_bytes));
	json_object_set_new(metrics, "passes", json_incref(json_object_get(meta, "passes")));
	json_object_set_new(metrics, "cpu_s", json_real(cpu));
	json_object_set_new(metrics, "fsync_s", json_real(atof(tds_json_str(meta, "sync_seconds", "0"))));
	json_object_set_new(metrics, "generate_s", json_real(gen_s));
	json_t *params = json_pack("{s:i, s:s, s:s, s:s}", "columns", 10, "hash", tds_hash_alg(suite), "encoding",
				   tds_json_str(meta, "encoding", ""), "durability", "fsync of the file and directory before rename");
	json_t *out = json_pack("{s:s, s:o, s:o, s:o}", "bench", "import", "machine", tds_cli_bench_machine(), "metrics", metrics,
				"params", params);
	if (json) {
		print_json(out, true);
	} else {
		printf("CSV 导入基准 CSV import benchmark (10 columns, %s content hash)\n", tds_hash_alg(suite));
		printf("  rows      %12llu\n", (unsigned long long)rows);
		printf("  input     %12.1f MB  (generated in %.1f s)\n", (double)bytes / 1e6, gen_s);
		printf("  import    %12.2f s   %.0f rows/s, %.1f MB/s, %.2f s CPU\n", secs, (double)rows / secs,
		       (double)bytes / 1e6 / secs, cpu);
		printf("  database  %12.1f MB\n", (double)db_bytes / 1e6);
	}
	json_decref(out);
	json_decref(meta);
	if (!keep) {
		unlink(csv);
		unlink(db);
		if (!base)
			rmdir(dir);
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------------
 * tds source …: the data source client verbs (one HTTP call each)
 * ---------------------------------------------------------------------------------------------- */

static int source_usage(void)
{
	return tds_cli_usage("source: expected one of\n"
			     "  source add --name N --kind csv|sqlite|postgres (--path P | --file LOCAL.csv | --connection C)\n"
			     "             [--table T] [--encoding auto|utf-8|gb18030] [--header auto|yes|no] [--delimiter D]\n"
			     "             [--ragged refuse|report]\n"
			     "  source list [--limit N] [--cursor C] | source show ID | source import ID | source delete ID\n"
			     "  source sample ID [--limit N] [--table T]\n"
			     "  (every verb takes --json)");
}

/* Percent-encodes a query value (table names may be Chinese or hold spaces). */
static void query_value(tds_buf *b, const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			tds_buf_putc(b, (char)*p);
		else
			tds_buf_printf(b, "%%%02X", *p);
	}
}

int tds_cli_source(const char *node, const char *token, int argc, char **argv)
{
	if (argc < 2)
		return source_usage();
	const char *verb = argv[1], *id = NULL;
	bool json = false;
	json_t *body = NULL;
	tds_buf path = TDS_BUF_INIT, query = TDS_BUF_INIT;
	const char *method = "GET";
	int rc = 0;
	static const char *const add_flags[] = {"name", "kind", "path", "connection", "table", "encoding", "header",
						"delimiter", "ragged", NULL};
	bool add = strcmp(verb, "add") == 0, list = strcmp(verb, "list") == 0, sample = strcmp(verb, "sample") == 0;
	if (add)
		body = json_object();
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--json") == 0) {
			json = true;
			continue;
		}
		if (strncmp(a, "--", 2) != 0) {
			if (id || add || list) {
				rc = tds_cli_usage("source %s: unexpected argument '%s'", verb, a);
				goto done;
			}
			id = a;
			continue;
		}
		if (!v) {
			rc = tds_cli_usage("source %s: %s needs a value", verb, a);
			goto done;
		}
		i++;
		const char *name = a + 2;
		bool known = false;
		for (size_t k = 0; add && add_flags[k]; k++)
			known = known || strcmp(add_flags[k], name) == 0;
		if (add && known) {
			json_object_set_new(body, name, json_string(v));
		} else if (add && strcmp(name, "file") == 0) {
			tds_buf raw = TDS_BUF_INIT, b64 = TDS_BUF_INIT;
			if (tds_file_read(v, 64u << 20, &raw) || tds_b64_encode(raw.data ? raw.data : "", raw.len, &b64)) {
				fprintf(stderr, "tds: source add: cannot read %s: %s\n", v, tds_error_message());
				tds_buf_free(&raw);
				tds_buf_free(&b64);
				rc = 1;
				goto done;
			}
			json_object_set_new(body, "content_base64", json_string(b64.data));
			tds_buf_free(&raw);
			tds_buf_free(&b64);
		} else if ((list || sample) && (strcmp(name, "limit") == 0 || strcmp(name, "cursor") == 0 ||
						(sample && strcmp(name, "table") == 0))) {
			tds_buf_printf(&query, "%c%s=", query.len ? '&' : '?', name);
			query_value(&query, v);
		} else {
			rc = tds_cli_usage("source %s: unknown option %s", verb, a);
			goto done;
		}
	}
	if (add) {
		method = "POST";
		tds_buf_puts(&path, "/api/v1/sources");
	} else if (list) {
		tds_buf_puts(&path, "/api/v1/sources");
	} else if (!id || !tds_id_valid(id, "src")) {
		rc = id ? tds_cli_usage("source %s: '%s' is not a source id (src_…)", verb, id) : source_usage();
		goto done;
	} else if (strcmp(verb, "show") == 0) {
		tds_buf_printf(&path, "/api/v1/sources/%s", id);
	} else if (strcmp(verb, "import") == 0) {
		method = "POST";
		tds_buf_printf(&path, "/api/v1/sources/%s/import", id);
	} else if (sample) {
		tds_buf_printf(&path, "/api/v1/sources/%s/sample", id);
	} else if (strcmp(verb, "delete") == 0) {
		method = "DELETE";
		tds_buf_printf(&path, "/api/v1/sources/%s", id);
	} else {
		rc = source_usage();
		goto done;
	}
	if (query.len)
		tds_buf_append(&path, query.data, query.len);
	if (!node) {
		rc = tds_cli_usage("no node: pass --node URL (or set TDS_NODE)");
		goto done;
	}
	tds_http_client *cl = tds_http_client_new(node, 3600 * 1000); /* an import may take a while */
	if (!cl) {
		rc = 1;
		goto done;
	}
	if (token)
		tds_http_client_set_token(cl, token);
	long status = 0;
	json_t *out = NULL;
	if (!json && strcmp(verb, "import") == 0)
		fprintf(stderr, "tds: 导入中 importing %s …\n", id);
	int hrc = tds_http_client_json(cl, method, path.data, body, &status, &out);
	tds_http_client_free(cl);
	if (hrc) {
		fprintf(stderr, "tds: 无法连接节点 cannot reach %s: %s\n", node, tds_error_message());
		rc = 1;
	} else {
		if (out)
			print_json(out, json);
		if (status < 200 || status >= 300) {
			json_t *err = json_object_get(out, "error");
			if (!json)
				fprintf(stderr, "tds: 请求失败 HTTP %ld: %s (%s)\n", status, tds_json_str(err, "message", "no message"),
					tds_json_str(err, "code", "unknown"));
			rc = 1;
		}
	}
	json_decref(out);
done:
	json_decref(body);
	tds_buf_free(&path);
	tds_buf_free(&query);
	return rc;
}
