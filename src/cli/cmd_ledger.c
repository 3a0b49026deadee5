/*
 * cmd_ledger.c — `tds ledger verify --dir DIR [--json]` (offline verification of a node's evidence
 * ledger from its directory) and `tds bench ledger [--json] …` (append, proof and verification
 * figures; DESIGN §7 metric names). Not for the ledger's logic, which lives in src/ledger/.
 */
#include "cli/cli.h"
#include "http/http.h"
#include "ledger/ledger.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static int print_json(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	if (!s)
		return 1;
	puts(s);
	free(s);
	return 0;
}

static void to_hex(const uint8_t *h, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[h[i] >> 4];
		out[2 * i + 1] = d[h[i] & 15];
	}
	out[2 * n] = 0;
}

/* Reports a failure to run (not a discrepancy): exit 1. */
static int run_failed(bool json, const char *what)
{
	if (json) {
		json_t *o = json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code", tds_error_name(), "message",
				      tds_error_message());
		print_json(o);
		json_decref(o);
	} else {
		fprintf(stderr, "tds: %s: %s\n", what, tds_error_message());
	}
	return 1;
}

/* The log's public key from a node directory: node.pub, else node.key sealed under master.key. */
static int load_public_key(const char *dir, tds_key **out)
{
	char p[4096];
	tds_buf b = TDS_BUF_INIT;
	struct stat st;
	int rc;
	if ((rc = tds_path_join(p, sizeof p, dir, "node.pub")))
		return rc;
	if (stat(p, &st) == 0) {
		if (!(rc = tds_file_read(p, 64 * 1024, &b)))
			rc = tds_key_from_pem(b.data, b.len, out);
		tds_buf_free(&b);
		return rc ? tds_error_wrap("%s: ", p) : 0;
	}
	uint8_t master[TDS_MASTER_KEY_LEN];
	if ((rc = tds_path_join(p, sizeof p, dir, "master.key")) || (rc = tds_file_read(p, 64, &b)))
		return tds_error_set(TDS_EIO, "no_public_key", "%s has neither node.pub nor node.key with master.key; "
				     "copy the node's node.pub into it", dir);
	if (b.len != TDS_MASTER_KEY_LEN) {
		memset(b.data, 0, b.len);
		tds_buf_free(&b);
		return tds_error_set(TDS_EINVAL, "invalid_key_file", "%s must hold %d bytes", p, TDS_MASTER_KEY_LEN);
	}
	memcpy(master, b.data, TDS_MASTER_KEY_LEN);
	memset(b.data, 0, b.len);
	tds_buf_free(&b);
	if (!(rc = tds_path_join(p, sizeof p, dir, "node.key")))
		rc = tds_key_load_sealed(p, master, out);
	memset(master, 0, sizeof master);
	return rc;
}

static int ledger_verify(const char *dir, bool json)
{
	char p[4096];
	struct stat st;
	tds_key *key = NULL;
	tds_store *store = NULL;
	tds_ledger_verify_result r;
	if (tds_path_join(p, sizeof p, dir, "tds.db") || stat(p, &st) != 0) {
		tds_error_set(TDS_EIO, "no_database", "%s has no tds.db: is --dir a node directory made by `tds node init`?", dir);
		return run_failed(json, "ledger verify");
	}
	tds_ledger_verify_opts o = {0};
	int64_t t0 = tds_monotonic_us();
	if (load_public_key(dir, &key) || tds_store_open(p, &store)) {
		tds_key_free(key);
		return run_failed(json, "ledger verify");
	}
	o.key = key;
	int rc = tds_ledger_verify(store, &o, &r);
	double secs = (double)(tds_monotonic_us() - t0) / 1e6;
	tds_store_close(store);
	tds_key_free(key);
	if (rc)
		return run_failed(json, "ledger verify");
	char root[TDS_HASH_HEX_LEN + 1];
	to_hex(r.root, TDS_HASH_LEN, root);
	if (json) {
		json_t *o2 = json_pack("{s:b, s:I, s:I, s:s, s:I}", "ok", r.ok, "entries", (json_int_t)r.entries,
				       "checkpoints", (json_int_t)r.checkpoints, "root", root, "elapsed_ms",
				       (json_int_t)(secs * 1000));
		if (r.ok)
			json_object_set_new(o2, "first_error", json_null());
		else
			json_object_set_new(o2, "first_error",
					    json_pack("{s:o, s:s, s:s}", "index",
						      r.has_index ? json_integer((json_int_t)r.error_index) : json_null(),
						      "code", r.error_code, "reason", r.error));
		print_json(o2);
		json_decref(o2);
	} else if (r.ok) {
		printf("账本校验通过 ledger verified: %llu entries, %llu checkpoints, root %s (%.2f s)\n",
		       (unsigned long long)r.entries, (unsigned long long)r.checkpoints, root, secs);
	} else {
		if (r.has_index)
			printf("账本校验失败 ledger verification FAILED at entry %llu [%s]: %s\n",
			       (unsigned long long)r.error_index, r.error_code, r.error);
		else
			printf("账本校验失败 ledger verification FAILED [%s]: %s\n", r.error_code, r.error);
	}
	return r.ok ? 0 : 1;
}

/* ---- tds ledger verify --node URL ----
 * Fetches the node's checkpoint and checks its signature (with --key, or the key the node reports:
 * trust on first use), streams every leaf of the checkpoint's tree, checks each leaf's index and
 * recomputes the root. When the root differs, asks for each entry's inclusion proof against the
 * signed root to name the first entry the node serves differently from what it signed. */

typedef struct remote {
	tds_http_client *c;
	const char *url;
} remote;

static int get_json(remote *r, const char *path, json_t **out)
{
	long status = 0;
	*out = NULL;
	int rc = tds_http_client_json(r->c, "GET", path, NULL, &status, out);
	if (rc)
		return rc;
	if (status != 200) {
		json_t *err = json_object_get(*out, "error");
		rc = tds_error_set(status == 401 || status == 403 ? TDS_EAUTH : TDS_EIO, tds_json_str(err, "code", "node_error"),
				   "GET %s answered %ld: %s", path, status, tds_json_str(err, "message", "no message"));
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

/* Root of leaf hashes h[0..n) per RFC 9162: fold of the complete subtrees, right to left. */
static int stream_root(tds_suite suite, const uint8_t (*h)[TDS_HASH_LEN], uint64_t n, uint8_t root[TDS_HASH_LEN])
{
	uint8_t stack[65][TDS_HASH_LEN];
	int top = 0;
	if (n == 0)
		return tds_ledger_empty_root(suite, root);
	for (uint64_t i = 0; i < n; i++) {
		memcpy(stack[top++], h[i], TDS_HASH_LEN);
		for (uint64_t k = i + 1; (k & 1) == 0; k >>= 1, top--) /* merge completed pairs */
			tds_ledger_node_hash(suite, stack[top - 2], stack[top - 1], stack[top - 2]);
	}
	memcpy(root, stack[top - 1], TDS_HASH_LEN);
	for (int j = top - 2; j >= 0; j--)
		tds_ledger_node_hash(suite, stack[j], root, root);
	return 0;
}

static int remote_verify(const char *url, const char *token, const char *key_file, bool json)
{
	remote r = {tds_http_client_new(url, 30000), url};
	tds_key *key = NULL;
	json_t *info = NULL, *cpj = NULL;
	uint8_t (*leaves)[TDS_HASH_LEN] = NULL;
	tds_ledger_head head;
	int rc, result = 1;
	bool pinned = key_file != NULL;
	char origin[TDS_LEDGER_ORIGIN_MAX + 1], code[64] = "", reason[512] = "";
	int64_t bad_index = -1;
	uint64_t cosigs = 0;
	if (!r.c)
		return run_failed(json, "ledger verify");
	if (token)
		tds_http_client_set_token(r.c, token);
	if ((rc = get_json(&r, "/api/v1/node", &info)))
		goto failed;
	snprintf(origin, sizeof origin, "tds.local/%s", tds_json_str(info, "node_id", ""));
	if (key_file) {
		tds_buf b = TDS_BUF_INIT;
		rc = tds_file_read(key_file, 64 * 1024, &b);
		if (!rc)
			rc = tds_key_from_pem(b.data, b.len, &key);
		tds_buf_free(&b);
	} else {
		const char *pem = tds_json_str(info, "public_key_pem", "");
		rc = tds_key_from_pem(pem, strlen(pem), &key);
	}
	if (rc || (rc = get_json(&r, "/api/v1/ledger/checkpoint", &cpj)))
		goto failed;
	const char *note = tds_json_str(cpj, "note", "");
	tds_ledger_note parsed;
	if (tds_ledger_checkpoint_open(note, strlen(note), origin, key, &head, &parsed)) {
		snprintf(code, sizeof code, "%s", tds_error_name());
		snprintf(reason, sizeof reason, "checkpoint: %s", tds_error_message());
		goto report;
	}
	cosigs = parsed.nsigs - 1;
	if (head.size > (uint64_t)1 << 28) {
		rc = tds_error_set(TDS_EUNPROC, "too_large", "remote verification handles up to 2^28 entries; verify on the node with --dir");
		goto failed;
	}
	leaves = malloc((head.size ? head.size : 1) * sizeof *leaves);
	if (!leaves) {
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto failed;
	}
	tds_suite suite = tds_key_suite(key);
	for (uint64_t i = 0; i < head.size;) {
		char path[96];
		json_t *page;
		snprintf(path, sizeof path, "/api/v1/ledger/leaves?from=%llu&limit=1000", (unsigned long long)i);
		if ((rc = get_json(&r, path, &page)))
			goto failed;
		json_t *arr = json_object_get(page, "leaves");
		size_t n = json_array_size(arr);
		if (n == 0) {
			json_decref(page);
			snprintf(code, sizeof code, "entry_missing");
			snprintf(reason, sizeof reason, "the node serves no entry %llu but signed a tree of %llu",
				 (unsigned long long)i, (unsigned long long)head.size);
			bad_index = (int64_t)i;
			goto report;
		}
		for (size_t k = 0; k < n && i < head.size; k++, i++) {
			const char *b64 = json_string_value(json_array_get(arr, k));
			tds_buf leaf = TDS_BUF_INIT;
			json_t *lj = NULL;
			bool ok = b64 && tds_b64_decode(b64, strlen(b64), &leaf) == 0 &&
				  tds_json_parse(leaf.data, leaf.len, &lj) == 0 &&
				  json_integer_value(json_object_get(lj, "index")) == (json_int_t)i &&
				  json_is_integer(json_object_get(lj, "index"));
			if (ok)
				tds_ledger_leaf_hash(suite, leaf.data, leaf.len, leaves[i]);
			json_decref(lj);
			tds_buf_free(&leaf);
			if (!ok) {
				json_decref(page);
				snprintf(code, sizeof code, "index_mismatch");
				snprintf(reason, sizeof reason, "entry %llu is malformed or carries another index",
					 (unsigned long long)i);
				bad_index = (int64_t)i;
				goto report;
			}
		}
		json_decref(page);
		if (!json) {
			fprintf(stderr, "\r%llu / %llu", (unsigned long long)i, (unsigned long long)head.size);
			fflush(stderr);
		}
	}
	if (!json)
		fprintf(stderr, "\n");
	uint8_t root[TDS_HASH_LEN];
	stream_root(suite, (const uint8_t(*)[TDS_HASH_LEN])leaves, head.size, root);
	if (!tds_ct_equal(root, head.root, TDS_HASH_LEN)) {
		snprintf(code, sizeof code, "root_mismatch");
		snprintf(reason, sizeof reason, "the entries served do not hash to the signed root");
		/* name the first entry whose served leaf is not in the signed tree */
		for (uint64_t i = 0; i < head.size; i++) {
			char path[96];
			json_t *e;
			tds_ledger_proof proof;
			snprintf(path, sizeof path, "/api/v1/ledger/entries/%llu?size=%llu", (unsigned long long)i,
				 (unsigned long long)head.size);
			if (get_json(&r, path, &e))
				break;
			bool in = tds_ledger_proof_from_json(json_object_get(e, "proof"), &proof) == 0 &&
				  tds_ledger_verify_inclusion(suite, i, head.size, leaves[i], proof.hash[0], proof.len,
							      head.root) == 0;
			json_decref(e);
			if (!in) {
				bad_index = (int64_t)i;
				snprintf(reason, sizeof reason, "entry %llu as served is not the one the signed tree holds",
					 (unsigned long long)i);
				break;
			}
		}
	} else {
		result = 0;
	}
report:
	if (json) {
		char hex[TDS_HASH_HEX_LEN + 1];
		to_hex(head.root, TDS_HASH_LEN, hex);
		json_t *o = json_pack("{s:b, s:s, s:s, s:I, s:s, s:I, s:b}", "ok", result == 0, "node", url, "origin", origin,
				      "entries", (json_int_t)head.size, "root", hex, "cosignatures", (json_int_t)cosigs,
				      "key_pinned", pinned);
		json_object_set_new(o, "first_error",
				    result == 0 ? json_null()
						: json_pack("{s:o, s:s, s:s}", "index",
							    bad_index >= 0 ? json_integer(bad_index) : json_null(), "code", code,
							    "reason", reason));
		print_json(o);
		json_decref(o);
	} else if (result == 0) {
		printf("账本校验通过 ledger verified: %llu entries of %s match its signed checkpoint (%llu cosignatures)%s\n",
		       (unsigned long long)head.size, origin, (unsigned long long)cosigs,
		       pinned ? "" : "; key taken from the node itself, pass --key node.pub to pin it");
	} else {
		printf("账本校验失败 ledger verification FAILED [%s]: %s\n", code, reason);
	}
	goto done;
failed:
	result = run_failed(json, "ledger verify");
done:
	free(leaves);
	json_decref(info);
	json_decref(cpj);
	tds_key_free(key);
	tds_http_client_free(r.c);
	return result;
}

int tds_cli_ledger(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "verify") != 0)
		return tds_cli_usage("ledger: expected `tds ledger verify (--dir DIR | --node URL) [--json]`");
	const char *dir = NULL, *node = NULL, *token = getenv("TDS_TOKEN"), *key = NULL;
	bool json = false;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--node") == 0 && i + 1 < argc)
			node = argv[++i];
		else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc)
			token = argv[++i];
		else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
			key = argv[++i];
		else
			return tds_cli_usage("ledger verify: unexpected argument %s", argv[i]);
	}
	if (!dir && !node)
		node = getenv("TDS_NODE");
	if ((dir && node) || (!dir && !node))
		return tds_cli_usage("ledger verify: give exactly one of --dir DIR or --node URL");
	tds_log_set_level(TDS_LOG_WARN);
	return dir ? ledger_verify(dir, json) : remote_verify(node, token, key, json);
}

/* ------------------------------------------------------------------------------------------------
 * tds bench ledger
 * ---------------------------------------------------------------------------------------------- */

typedef struct bench_opts {
	uint64_t tree_n;       /* leaves of the proof tree */
	uint64_t durable_n;    /* entries appended durably (batched callers) */
	uint64_t verify_n;     /* entries appended without fsync, then verified */
	uint64_t single_n;     /* entries appended by single-entry callers (each mode) */
	uint64_t samples;      /* inclusion proofs timed */
	int threads, batch;    /* batched callers: threads, entries per call */
	int single_threads;    /* single-entry callers */
	tds_suite suite;
	const char *base;
	bool json;
} bench_opts;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* The synthetic leaf hash of leaf i of the proof tree (so verification can recompute it). */
static void synthetic_leaf(uint64_t i, uint8_t out[TDS_HASH_LEN])
{
	uint64_t s = i * 4 + 1;
	for (int k = 0; k < 4; k++) {
		uint64_t v = splitmix(&s);
		memcpy(out + 8 * k, &v, 8);
	}
}

typedef struct bench_node {
	char dir[4200];
	tds_store *store;
	tds_key *key;
	tds_ledger *lg;
} bench_node;

static void bench_node_close(bench_node *b)
{
	static const char *files[] = {"tds.db", "tds.db-wal", "tds.db-shm"};
	char p[4300];
	tds_ledger_free(b->lg);
	tds_store_close(b->store);
	tds_key_free(b->key);
	b->lg = NULL;
	b->store = NULL;
	b->key = NULL;
	for (size_t i = 0; i < TDS_ARRAY_LEN(files); i++) {
		snprintf(p, sizeof p, "%s/%s", b->dir, files[i]);
		unlink(p);
	}
	rmdir(b->dir);
}

static int bench_node_open(const bench_opts *o, const char *name, bool nondurable, bench_node *b)
{
	char p[4300];
	uint8_t master[TDS_MASTER_KEY_LEN];
	int rc;
	memset(b, 0, sizeof *b);
	snprintf(b->dir, sizeof b->dir, "%s/%s", o->base, name);
	if (mkdir(b->dir, 0700) != 0)
		return tds_error_set(TDS_EIO, NULL, "cannot create %s: %s", b->dir, strerror(errno));
	snprintf(p, sizeof p, "%s/tds.db", b->dir);
	if ((rc = tds_store_open(p, &b->store)) || (rc = tds_key_generate(o->suite, &b->key)) ||
	    (rc = tds_random(master, sizeof master)))
		return rc;
	tds_ledger_opts lo = {.store = b->store, .suite = o->suite, .origin = "tds.local/node_bench", .key = b->key,
			      .master = master, .nondurable = nondurable};
	rc = tds_ledger_open(&lo, &b->lg);
	memset(master, 0, sizeof master);
	return rc;
}

typedef struct appender {
	tds_ledger *lg;
	uint64_t count;
	int id, batch, rc;
	char err[256];
} appender;

static void *append_main(void *arg)
{
	appender *a = arg;
	enum { MAXB = 256 };
	char data[MAXB][249], subj[MAXB][40], org[32], acc[32];
	const char *subjects[MAXB][1];
	json_t *pl[MAXB];
	tds_ledger_entry_in e[MAXB];
	snprintf(org, sizeof org, "org_01JBENCH%02d", a->id % 7);
	snprintf(acc, sizeof acc, "acc_01JBENCH%04d", a->id);
	for (uint64_t i = 0; i < a->count && !a->rc;) {
		size_t n = (size_t)(a->count - i < (uint64_t)a->batch ? a->count - i : (uint64_t)a->batch);
		for (size_t k = 0; k < n; k++, i++) {
			/* 256-byte payload: {"d":"<248 characters>"} in canonical form */
			memset(data[k], '0', 248);
			data[k][248] = 0;
			for (uint64_t v = i * 1000 + (uint64_t)a->id, d = 247; v; v /= 10, d--)
				data[k][d] = (char)('0' + v % 10);
			snprintf(subj[k], sizeof subj[k], "res_01JBENCH%012llu", (unsigned long long)i);
			subjects[k][0] = subj[k];
			pl[k] = json_pack("{s:s}", "d", data[k]);
			e[k] = (tds_ledger_entry_in){.type = "delivery.api_called",
						     .actor = {.org = org, .account = acc, .node = "node_01JBENCH"},
						     .subjects = subjects[k],
						     .nsubjects = 1,
						     .payload = pl[k]};
		}
		uint64_t idx;
		a->rc = n == 1 ? tds_ledger_append(a->lg, e, &idx) : tds_ledger_append_batch(a->lg, e, n, &idx);
		for (size_t k = 0; k < n; k++)
			json_decref(pl[k]);
		if (a->rc)
			snprintf(a->err, sizeof a->err, "%s", tds_error_message());
	}
	return NULL;
}

/* Appends n entries from `threads` threads, `batch` entries per call; returns entries per second
 * (or -1 with the error set). */
static double bench_appends(tds_ledger *lg, int threads, int batch, uint64_t n)
{
	int t = threads;
	pthread_t *th = calloc((size_t)t, sizeof *th);
	appender *a = calloc((size_t)t, sizeof *a);
	double rate = -1;
	if (!th || !a) {
		tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto done;
	}
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 1 << 20);
	double t0 = now_s();
	int started = 0;
	for (int i = 0; i < t; i++) {
		a[i] = (appender){.lg = lg, .count = n / (uint64_t)t + ((uint64_t)i < n % (uint64_t)t), .id = i, .batch = batch};
		if (pthread_create(&th[i], &attr, append_main, &a[i]) != 0)
			break;
		started++;
	}
	pthread_attr_destroy(&attr);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	double dt = now_s() - t0;
	if (started < t) {
		tds_error_set(TDS_EIO, NULL, "cannot start appender threads");
		goto done;
	}
	for (int i = 0; i < t; i++)
		if (a[i].rc) {
			tds_error_set(a[i].rc, NULL, "append failed: %s", a[i].err);
			goto done;
		}
	rate = (double)n / dt;
done:
	free(th);
	free(a);
	return rate;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	qsort(v, n, sizeof *v, cmp_double);
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static void progress(const bench_opts *o, const char *fmt, ...) TDS_PRINTF(2, 3);
static void progress(const bench_opts *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bench ledger: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	(void)o;
}


/* Appends n entries to a fresh ledger (durable or not) with the given callers; rate in *rate. When
 * keep is not NULL the node stays open for the caller (verification). */
static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int append_run(const bench_opts *o, const char *name, bool nondurable, int threads, int batch, uint64_t n,
		      double *rate, double *cpu_us, bench_node *keep)
{
	bench_node b;
	int rc;
	progress(o, "%s: %llu entries, %d threads x %d per call", name, (unsigned long long)n, threads, batch);
	if ((rc = bench_node_open(o, name, nondurable, &b))) {
		bench_node_close(&b);
		return rc;
	}
	double c0 = cpu_s();
	*rate = bench_appends(b.lg, threads, batch, n);
	*cpu_us = (cpu_s() - c0) * 1e6 / (double)n; /* process CPU (all threads, user + system) per entry */
	if (*rate < 0) {
		bench_node_close(&b);
		return tds_error_code() ? tds_error_code() : TDS_EIO;
	}
	if (keep)
		*keep = b;
	else
		bench_node_close(&b);
	return 0;
}

static int bench_ledger(const bench_opts *o)
{
	bench_node b;
	double durable = 0, nondurable = 0, single_d = 0, single_nd = 0, verify_s = 0, build_s = 0;
	double cpu_d = 0, cpu_nd = 0, cpu_sd = 0, cpu_snd = 0;
	double p50 = 0, p99 = 0, v50 = 0, v99 = 0;
	double *lat = NULL, *vlat = NULL;
	uint64_t verified = 0;
	int rc;

	/* 1. appends: batched callers and single-entry callers, with and without fsync */
	if ((rc = append_run(o, "durable", false, o->threads, o->batch, o->durable_n, &durable, &cpu_d, NULL)) ||
	    (rc = append_run(o, "durable-single", false, o->single_threads, 1, o->single_n, &single_d, &cpu_sd, NULL)) ||
	    (rc = append_run(o, "nondurable-single", true, o->single_threads, 1, o->single_n, &single_nd, &cpu_snd, NULL)) ||
	    (rc = append_run(o, "nondurable", true, o->threads, o->batch, o->verify_n, &nondurable, &cpu_nd, &b)))
		goto fail;

	/* 2. verification of the non-durable log (checkpointed first) */
	if ((rc = tds_ledger_checkpoint(b.lg, NULL, NULL))) {
		bench_node_close(&b);
		goto fail;
	}
	tds_ledger_free(b.lg);
	b.lg = NULL;
	progress(o, "verify: %llu entries", (unsigned long long)o->verify_n);
	tds_ledger_verify_result r;
	tds_ledger_verify_opts vo = {.key = b.key};
	double t0 = now_s();
	rc = tds_ledger_verify(b.store, &vo, &r);
	verify_s = now_s() - t0;
	verified = r.entries;
	bench_node_close(&b);
	if (rc)
		goto fail;
	if (!r.ok) {
		tds_error_set(TDS_EINTERNAL, "verify_failed", "verification of the benchmark log failed: %s", r.error);
		goto fail;
	}

	/* 3. inclusion proofs at tree_n leaves: the tree built from synthetic leaf hashes */
	progress(o, "proof tree: %llu leaves", (unsigned long long)o->tree_n);
	if ((rc = bench_node_open(o, "proofs", false, &b))) {
		bench_node_close(&b);
		goto fail;
	}
	enum { CHUNK = 1 << 20 };
	uint8_t(*leaves)[TDS_HASH_LEN] = malloc((size_t)CHUNK * TDS_HASH_LEN);
	lat = calloc(o->samples, sizeof *lat);
	vlat = calloc(o->samples, sizeof *vlat);
	if (!leaves || !lat || !vlat) {
		free(leaves);
		bench_node_close(&b);
		tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto fail;
	}
	t0 = now_s();
	for (uint64_t done = 0; done < o->tree_n && !rc;) {
		uint64_t k = o->tree_n - done < CHUNK ? o->tree_n - done : CHUNK;
		for (uint64_t i = 0; i < k; i++)
			synthetic_leaf(done + i, leaves[i]);
		rc = tds_ledger_append_leaf_hashes(b.lg, leaves[0], (size_t)k);
		done += k;
	}
	build_s = now_s() - t0;
	free(leaves);
	/* reopen: the proofs run against the state loaded from the database */
	tds_ledger_free(b.lg);
	b.lg = NULL;
	if (!rc) {
		uint8_t master[TDS_MASTER_KEY_LEN] = {0};
		tds_ledger_opts lo = {.store = b.store, .suite = o->suite, .key = b.key, .master = master};
		rc = tds_ledger_open(&lo, &b.lg);
	}
	uint64_t size = 0, seed = 42;
	uint8_t root[TDS_HASH_LEN], leaf[TDS_HASH_LEN];
	tds_ledger_proof p;
	if (rc || (rc = tds_ledger_size(b.lg, &size, root))) {
		bench_node_close(&b);
		goto fail;
	}
	progress(o, "inclusion proofs: %llu samples", (unsigned long long)o->samples);
	for (uint64_t i = 0; i < o->samples && !rc; i++) {
		uint64_t m = splitmix(&seed) % size;
		double a = now_s();
		rc = tds_ledger_inclusion_proof(b.lg, m, size, &p);
		double c = now_s();
		synthetic_leaf(m, leaf);
		double d = now_s();
		if (!rc)
			rc = tds_ledger_verify_inclusion(o->suite, m, size, leaf, p.hash[0], p.len, root);
		double e = now_s();
		lat[i] = (c - a) * 1e6;
		vlat[i] = (e - d) * 1e6;
	}
	bench_node_close(&b);
	if (rc)
		goto fail;
	p50 = pct(lat, o->samples, 0.5);
	p99 = pct(lat, o->samples, 0.99);
	v50 = pct(vlat, o->samples, 0.5);
	v99 = pct(vlat, o->samples, 0.99);
	free(lat);
	free(vlat);
	lat = vlat = NULL;

	double per_m = verify_s * 1e6 / (double)(verified ? verified : 1);
	json_t *metrics = json_pack("{s:I, s:I, s:f, s:f, s:I, s:f}", "appends_per_s_durable", (json_int_t)durable,
				    "appends_per_s_nondurable", (json_int_t)nondurable, "inclusion_proof_p50_us", p50,
				    "inclusion_verify_p50_us", v50, "tree_size", (json_int_t)size, "verify_1m_s", per_m);
	json_object_set_new(metrics, "appends_per_s_durable_single", json_integer((json_int_t)single_d));
	json_object_set_new(metrics, "appends_per_s_nondurable_single", json_integer((json_int_t)single_nd));
	json_object_set_new(metrics, "durable_over_nondurable", json_real(nondurable > 0 ? durable / nondurable : 0));
	json_object_set_new(metrics, "inclusion_proof_p99_us", json_real(p99));
	json_object_set_new(metrics, "inclusion_verify_p99_us", json_real(v99));
	json_object_set_new(metrics, "tree_build_s", json_real(build_s));
	json_object_set_new(metrics, "cpu_us_per_append_durable", json_real(cpu_d));
	json_object_set_new(metrics, "cpu_us_per_append_nondurable", json_real(cpu_nd));
	json_object_set_new(metrics, "cpu_us_per_append_durable_single", json_real(cpu_sd));
	json_object_set_new(metrics, "cpu_us_per_append_nondurable_single", json_real(cpu_snd));
	json_t *params = json_pack("{s:s, s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:i}", "suite", tds_suite_name(o->suite),
				   "threads", o->threads, "batch", o->batch, "single_threads", o->single_threads,
				   "durable_entries", (json_int_t)o->durable_n, "single_entries", (json_int_t)o->single_n,
				   "verify_entries", (json_int_t)verified, "proof_samples", (json_int_t)o->samples,
				   "payload_bytes", 256);
	json_t *out = json_pack("{s:s, s:o, s:o, s:o}", "bench", "ledger", "machine", tds_cli_bench_machine(), "metrics", metrics,
				"params", params);
	if (o->json) {
		print_json(out);
	} else {
		printf("账本基准 ledger benchmark (suite %s, 256-byte payloads)\n", tds_suite_name(o->suite));
		printf("  durable appends       %9.0f /s  %d threads x %d entries per call, fsync per group commit "
		       "(%.1f µs CPU each)\n", durable, o->threads, o->batch, cpu_d);
		printf("  non-durable appends   %9.0f /s  same callers, synchronous=OFF (%.1f µs CPU each; durable/non-durable "
		       "%.2f)\n", nondurable, cpu_nd, nondurable > 0 ? durable / nondurable : 0.0);
		printf("  single-entry appends  %9.0f /s  durable (%.1f µs CPU), %.0f /s non-durable (%.1f µs CPU); %d threads, "
		       "1 entry per call\n", single_d, cpu_sd, single_nd, cpu_snd, o->single_threads);
		printf("  verify                %9.2f s   per million entries (%llu entries in %.2f s)\n", per_m,
		       (unsigned long long)verified, verify_s);
		printf("  inclusion proof       %9.1f µs  p50, %.1f µs p99, tree of %llu leaves (built in %.1f s)\n", p50,
		       p99, (unsigned long long)size, build_s);
		printf("  inclusion verify      %9.1f µs  p50, %.1f µs p99\n", v50, v99);
	}
	json_decref(out);
	return 0;
fail:
	free(lat);
	free(vlat);
	fprintf(stderr, "tds: bench ledger: %s\n", tds_error_message());
	return 1;
}

static int parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int tds_cli_bench(int argc, char **argv)
{
	if (argc < 2)
		return tds_cli_usage("bench: expected `tds bench ledger [--json] [--n N] …`");
	if (strcmp(argv[1], "import") == 0)
		return tds_cli_bench_import(argc, argv);
	if (strcmp(argv[1], "scan") == 0)
		return tds_cli_bench_scan(argc, argv);
	if (strcmp(argv[1], "pdp") == 0)
		return tds_cli_bench_pdp(argc, argv);
	if (strcmp(argv[1], "catalog") == 0)
		return tds_cli_bench_catalog(argc, argv);
	if (strcmp(argv[1], "ledger") != 0)
		return tds_cli_usage("bench: %s is not available yet (available: ledger, import, scan, pdp, catalog)", argv[1]);
	bench_opts o = {.tree_n = 10000000, .durable_n = 500000, .verify_n = 1000000, .single_n = 100000,
			.samples = 10000, .threads = 16, .batch = 32, .single_threads = 32, .suite = TDS_SUITE_INTL};
	char base[256];
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t x;
		if (strcmp(a, "--json") == 0) {
			o.json = true;
			continue;
		}
		if (!v)
			return tds_cli_usage("bench ledger: %s needs a value", a);
		i++;
		if (strcmp(a, "--n") == 0 && !parse_count(v, 1, UINT64_C(1) << 40, &x))
			o.tree_n = x;
		else if (strcmp(a, "--durable") == 0 && !parse_count(v, 1, UINT64_C(1) << 32, &x))
			o.durable_n = x;
		else if (strcmp(a, "--verify-n") == 0 && !parse_count(v, 1, UINT64_C(1) << 32, &x))
			o.verify_n = x;
		else if (strcmp(a, "--single") == 0 && !parse_count(v, 1, UINT64_C(1) << 32, &x))
			o.single_n = x;
		else if (strcmp(a, "--batch") == 0 && !parse_count(v, 1, 256, &x))
			o.batch = (int)x;
		else if (strcmp(a, "--single-threads") == 0 && !parse_count(v, 1, 1024, &x))
			o.single_threads = (int)x;
		else if (strcmp(a, "--samples") == 0 && !parse_count(v, 1, 10000000, &x))
			o.samples = x;
		else if (strcmp(a, "--threads") == 0 && !parse_count(v, 1, 256, &x))
			o.threads = (int)x;
		else if (strcmp(a, "--suite") == 0 && !tds_suite_parse(v, &o.suite))
			;
		else if (strcmp(a, "--dir") == 0)
			o.base = v;
		else
			return tds_cli_usage("bench ledger: bad option %s %s (options: --n N --durable N --verify-n N "
					     "--single N --samples N --threads T --batch B --single-threads T --suite gm|intl "
					     "--dir DIR --json)", a, v);
	}
	tds_log_set_level(TDS_LOG_WARN);
	if (tds_crypto_init())
		return 1;
	bool own_base = !o.base;
	if (own_base) {
		snprintf(base, sizeof base, "/tmp/tds-bench-ledger-XXXXXX");
		if (!mkdtemp(base)) {
			fprintf(stderr, "tds: bench ledger: cannot create a temporary directory: %s\n", strerror(errno));
			return 1;
		}
		o.base = base;
	}
	int rc = bench_ledger(&o);
	if (own_base)
		rmdir(base);
	return rc;
}
