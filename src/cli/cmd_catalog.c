/*
 * cmd_catalog.c — `tds catalog …`: the fused catalog (融合目录) client verbs against the operator's
 * /api/v1/catalog routes (search, show, related, import), and `tds bench catalog`: 100,000 generated
 * product entries indexed through the real upsert path, then thousands of mixed searches through the
 * real search function, with latency percentiles.
 *
 * Not for the catalog logic itself (src/catalog/fused.c).
 */
#include "cli/cli.h"

#include "base/base.h"
#include "catalog/catalog.h"
#include "crypto/crypto.h"
#include "http/http.h"
#include "ledger/ledger.h"
#include "store/store.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int usage(void)
{
	return tds_cli_usage(
	    "catalog: expected one of\n"
	    "  catalog search [WORDS] [--kind product|resource|public_item] [--form api|dataset|file] [--domain D]\n"
	    "                 [--grade 一般|重要|核心] [--frequency F] [--authorization A] [--org ORG]\n"
	    "                 [--sort relevance|recency|popularity] [--limit N] [--cursor C]\n"
	    "  catalog show ID|CODE [--dcat]\n"
	    "  catalog related ID [--limit N]\n"
	    "  catalog import FILE.csv|FILE.json          (operator: a public-data catalog, 公共数据目录)\n"
	    "  (every verb takes --json)");
}

static void query_value(tds_buf *b, const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			tds_buf_putc(b, (char)*p);
		else
			tds_buf_printf(b, "%%%02X", *p);
	}
}

static void add_query(tds_buf *path, const char *name, const char *v)
{
	tds_buf_printf(path, "%c%s=", strchr(path->data ? path->data : "", '?') ? '&' : '?', name);
	query_value(path, v);
}

static bool is_entry_id(const char *s)
{
	return tds_id_valid(s, "prd") || tds_id_valid(s, "res") || tds_id_valid(s, "pub");
}

/* Prints a search page for people: one line per entry. */
static void print_page(const json_t *out)
{
	const json_t *items = json_object_get(out, "items");
	size_t i;
	json_t *e;
	if (!json_array_size(items))
		printf("没有找到 no entries found\n");
	json_array_foreach(items, i, e) {
		const char *form = tds_json_str(e, "form", NULL), *grade = tds_json_str(e, "grade", NULL);
		printf("%-30s  %-11s %-7s %-4s  %s\n", tds_json_str(e, "id", ""), tds_json_str(e, "kind", ""), form ? form : "-",
		       grade ? grade : "-", tds_json_str(e, "title", ""));
	}
	const char *next = tds_json_str(out, "next_cursor", NULL);
	if (next)
		printf("更多 more: --cursor %s\n", next);
}

int tds_cli_catalog(const char *node, const char *token, int argc, char **argv)
{
	if (argc < 2)
		return usage();
	static const struct {
		const char *flag, *param, *verb;
	} FLAGS[] = {{"kind", "kind", "search"},	  {"form", "form", "search"},
		     {"domain", "domain", "search"},	  {"grade", "grade", "search"},
		     {"frequency", "update_frequency", "search"}, {"authorization", "authorization_type", "search"},
		     {"org", "org", "search"},		  {"sort", "sort", "search"},
		     {"limit", "limit", "search"},	  {"cursor", "cursor", "search"},
		     {"limit", "limit", "related"}};
	const char *verb = argv[1];
	if (strcmp(verb, "search") && strcmp(verb, "show") && strcmp(verb, "related") && strcmp(verb, "import"))
		return usage();
	bool json = false, dcat = false;
	tds_buf path = TDS_BUF_INIT, words = TDS_BUF_INIT, file = TDS_BUF_INIT;
	const char *arg = NULL;
	json_t *out = NULL;
	int rc = 0;
	tds_buf_puts(&path, "");
	for (int i = 2; i < argc && !rc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--json")) {
			json = true;
			continue;
		}
		if (!strcmp(a, "--dcat") && !strcmp(verb, "show")) {
			dcat = true;
			continue;
		}
		if (strncmp(a, "--", 2) != 0) {
			if (!strcmp(verb, "search")) { /* words: all of them, space-separated */
				if (words.len)
					tds_buf_putc(&words, ' ');
				tds_buf_puts(&words, a);
			} else if (arg) {
				rc = tds_cli_usage("catalog %s: unexpected argument '%s'", verb, a);
			} else {
				arg = a;
			}
			continue;
		}
		size_t k = 0;
		while (k < TDS_ARRAY_LEN(FLAGS) && (strcmp(FLAGS[k].flag, a + 2) || strcmp(FLAGS[k].verb, verb)))
			k++;
		if (k == TDS_ARRAY_LEN(FLAGS))
			rc = tds_cli_usage("catalog %s: unknown option %s", verb, a);
		else if (!v)
			rc = tds_cli_usage("catalog %s: %s needs a value", verb, a);
		else
			add_query(&path, FLAGS[k].param, v);
		i++;
	}
	if (rc)
		goto done;
	tds_buf full = TDS_BUF_INIT;
	const char *method = "GET", *ctype = NULL;
	if (!strcmp(verb, "search")) {
		tds_buf_puts(&full, "/api/v1/catalog/search");
		if (words.len)
			add_query(&full, "q", words.data);
	} else if (!arg) {
		tds_buf_free(&full);
		rc = usage();
		goto done;
	} else if (!strcmp(verb, "show")) {
		if (is_entry_id(arg)) {
			tds_buf_printf(&full, "/api/v1/catalog/entries/%s", arg);
			if (dcat)
				tds_buf_puts(&full, "?format=dcat");
		} else if (dcat) {
			tds_buf_free(&full);
			rc = tds_cli_usage("catalog show: --dcat needs the entry's id (prd_…, res_…, pub_…)");
			goto done;
		} else {
			tds_buf_puts(&full, "/api/v1/catalog/entry-codes");
			add_query(&full, "code", arg);
		}
	} else if (!strcmp(verb, "related")) {
		if (!is_entry_id(arg)) {
			tds_buf_free(&full);
			rc = tds_cli_usage("catalog related: '%s' is not an entry id (prd_…, res_…, pub_…)", arg);
			goto done;
		}
		tds_buf_printf(&full, "/api/v1/catalog/entries/%s/related", arg);
	} else { /* import */
		size_t n = strlen(arg);
		bool csv = n > 4 && !strcasecmp(arg + n - 4, ".csv");
		if (!csv && !(n > 5 && !strcasecmp(arg + n - 5, ".json"))) {
			tds_buf_free(&full);
			rc = tds_cli_usage("catalog import: give a .csv or a .json file");
			goto done;
		}
		if (tds_file_read(arg, 64u << 20, &file)) {
			fprintf(stderr, "tds: 无法读取 cannot read %s: %s\n", arg, tds_error_message());
			tds_buf_free(&full);
			rc = 1;
			goto done;
		}
		tds_buf_puts(&full, "/api/v1/catalog/import");
		method = "POST";
		ctype = csv ? "Content-Type: text/csv" : "Content-Type: application/json";
	}
	if (path.len) /* the options' query: path holds "?a=…&b=…" */
		tds_buf_printf(&full, "%c%s", strchr(full.data, '?') ? '&' : '?', path.data + 1);
	if (!node) {
		tds_buf_free(&full);
		rc = tds_cli_usage("no node: pass --node URL (or set TDS_NODE)");
		goto done;
	}
	tds_http_client *cl = tds_http_client_new(node, 120000);
	if (!cl) {
		tds_buf_free(&full);
		rc = 1;
		goto done;
	}
	if (token)
		tds_http_client_set_token(cl, token);
	long status = 0;
	int hrc;
	if (ctype) {
		const char *headers[] = {ctype, NULL};
		tds_http_response r = {0};
		hrc = tds_http_client_do(cl, method, full.data, headers, file.data ? file.data : "", file.len, &r);
		status = r.status;
		if (!hrc && r.body.len)
			out = json_loadb(r.body.data, r.body.len, 0, NULL);
		tds_http_response_free(&r);
	} else {
		hrc = tds_http_client_json(cl, method, full.data, NULL, &status, &out);
	}
	tds_http_client_free(cl);
	tds_buf_free(&full);
	if (hrc) {
		fprintf(stderr, "tds: 无法连接节点 cannot reach %s: %s\n", node, tds_error_message());
		rc = 1;
		goto done;
	}
	bool ok = status >= 200 && status < 300;
	if (out && (json || !ok || strcmp(verb, "search"))) {
		char *s = json_dumps(out, json ? JSON_COMPACT : JSON_INDENT(2));
		if (s)
			puts(s);
		free(s);
	} else if (out) {
		print_page(out);
	}
	if (!ok) {
		json_t *err = json_object_get(out, "error");
		if (!json)
			fprintf(stderr, "tds: 请求失败 HTTP %ld: %s (%s)\n", status, tds_json_str(err, "message", "no message"),
				tds_json_str(err, "code", "unknown"));
		rc = 1;
	}
done:
	json_decref(out);
	tds_buf_free(&path);
	tds_buf_free(&words);
	tds_buf_free(&file);
	return rc;
}

/* ------------------------------------------------------------------------------------------------
 * tds bench catalog
 * ---------------------------------------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

#define PICK(a, s) ((a)[rng_next(s) % TDS_ARRAY_LEN(a)])

/* Word lists of the public-data domains the white paper names. */
static const char *const REGIONS[] = {"杭州市", "宁波市", "温州市", "上海市", "北京市", "深圳市", "成都市", "武汉市",
				      "南京市", "苏州市", "合肥市", "福州市", "济南市", "西安市", "长沙市", "郑州市"};
static const struct {
	const char *domain, *pinyin;
	const char *subjects[6];
	const char *tags[6];
} DOMAINS[] = {
    {"tax", "shuiwu", {"企业纳税", "纳税信用", "增值税发票", "个人所得税", "税务登记", "欠税公告"},
     {"纳税", "税务", "发票", "信用", "企业", "tax"}},
    {"social_security", "shebao", {"社保缴纳", "养老保险", "参保登记", "失业保险", "工伤认定", "社保卡"},
     {"社保", "养老", "参保", "就业", "个人", "shebao"}},
    {"medical", "yibao", {"医保结算", "门诊就诊", "住院记录", "药品目录", "医疗机构", "医保报销"},
     {"医保", "医疗", "就诊", "健康", "药品", "yibao"}},
    {"market", "shichang", {"企业登记", "工商注册", "经营异常", "股权变更", "行政处罚", "商标注册"},
     {"企业", "登记", "工商", "信用", "市场监管", "business"}},
    {"energy", "nengyuan", {"企业用电", "居民用水", "燃气缴费", "能耗统计", "电力负荷", "碳排放"},
     {"用电", "能源", "水务", "碳排放", "统计", "energy"}},
    {"housing", "fangchan", {"不动产登记", "住房公积金", "房屋交易", "租赁备案", "土地出让", "建设许可"},
     {"不动产", "公积金", "房产", "土地", "住房", "housing"}},
    {"transport", "jiaotong", {"车辆登记", "驾驶证", "交通违法", "公交客流", "道路运输", "停车收费"},
     {"交通", "车辆", "出行", "违法", "运输", "traffic"}},
    {"credit", "xinyong", {"公共信用", "失信被执行", "信用评价", "红黑名单", "信用修复", "融资信用"},
     {"信用", "金融", "风控", "企业", "评价", "credit"}},
};
static const char *const PRODUCTS[] = {"查询接口", "核验服务", "统计数据集", "明细数据集", "评估模型", "月度报表",
				       "画像服务", "变动提醒", "批量比对", "风险评分"};
static const char *const PURPOSES[] = {"供银行信贷审批使用", "支持保险核保与理赔", "用于普惠金融风控", "服务政务协同办理",
				       "支撑城市治理分析", "用于企业信用评价", "辅助人力资源核验", "用于科研统计分析"};
static const char *const DETAILS[] = {"按统一社会信用代码查询", "按月汇总更新", "数据经脱敏处理", "支持批量调用",
				      "提供近三年历史记录", "返回结构化字段", "结果经审核后输出", "按区县维度统计"};
static const struct {
	const char *name, *label;
} FIELDS[] = {{"uscc", "统一社会信用代码"}, {"org_name", "企业名称"}, {"tax_amount", "纳税额"},
	      {"tax_level", "纳税等级"},	{"period", "所属期"},	    {"insured_count", "参保人数"},
	      {"base_amount", "缴费基数"},	{"visit_date", "就诊日期"}, {"amount", "金额"},
	      {"district", "区县"},		{"status", "状态"},	    {"credit_score", "信用评分"},
	      {"power_kwh", "用电量"},		{"house_area", "房屋面积"}, {"plate_no", "号牌号码"},
	      {"updated_at", "更新时间"}};
static const char *const FORMS[] = {"api", "api", "dataset", "dataset", "file"};
static const char *const GRADES[] = {"一般", "一般", "一般", "重要", "核心"};
static const char *const FREQS[] = {"realtime", "daily", "weekly", "monthly", "monthly", "quarterly", "yearly"};

static json_t *bench_entry(uint64_t *s, size_t i, const char *const *orgs, size_t norgs, char *org_out)
{
	int d = (int)(rng_next(s) % TDS_ARRAY_LEN(DOMAINS));
	char title[256], desc[1024], id[TDS_ID_MAX];
	const char *subject = PICK(DOMAINS[d].subjects, s);
	snprintf(title, sizeof title, "%s%s%s", PICK(REGIONS, s), subject, PICK(PRODUCTS, s));
	snprintf(desc, sizeof desc, "%s%s，%s，%s。关键词：%s %s。", subject, "数据", PICK(DETAILS, s), PICK(PURPOSES, s),
		 DOMAINS[d].pinyin, PICK(DOMAINS[d].tags, s));
	/* ids: deterministic ULID-shaped (26 Crockford characters) */
	static const char B32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	char body[27];
	uint64_t x = 0x0190000000000000ull + i, y = rng_next(s);
	for (int k = 0; k < 13; k++) {
		body[k] = B32[(x >> (5 * (12 - k))) & 31];
		body[13 + k] = B32[(y >> (5 * (12 - k))) & 31];
	}
	body[0] = '0', body[1] = '1';
	body[26] = 0;
	snprintf(id, sizeof id, "prd_%s", body);
	json_t *tags = json_array(), *fields = json_array();
	int nt = 2 + (int)(rng_next(s) % 3), nf = 3 + (int)(rng_next(s) % 6);
	for (int k = 0; k < nt; k++) {
		const char *t = PICK(DOMAINS[d].tags, s);
		bool dup = false;
		size_t j;
		json_t *v;
		json_array_foreach(tags, j, v) dup |= !strcmp(json_string_value(v), t);
		if (!dup)
			json_array_append_new(tags, json_string(t));
	}
	for (int k = 0; k < nf; k++) {
		size_t f = rng_next(s) % TDS_ARRAY_LEN(FIELDS);
		json_array_append_new(fields, json_pack("{s:s, s:s, s:s}", "name", FIELDS[f].name, "label", FIELDS[f].label, "type",
							"text"));
	}
	size_t o = rng_next(s) % norgs;
	strcpy(org_out, orgs[o]);
	uint64_t sc = rng_next(s) % 20;
	json_t *scope = sc == 0	 ? json_pack("{s:s, s:[s]}", "scope", "roles", "roles", "consumer")
			: sc == 1 ? json_pack("{s:s, s:[s]}", "scope", "orgs", "orgs", orgs[(o + 1) % norgs])
				  : json_pack("{s:s}", "scope", "space");
	char mod[TDS_TIME_MAX];
	tds_time_format(1700000000000LL + (int64_t)(rng_next(s) % (86400000ULL * 700)), mod);
	return json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:o, s:[s], s:s, s:o, s:s}", "kind", "product",
			 "id", id, "version", 1, "title", title, "description", desc, "form", PICK(FORMS, s), "domain",
			 DOMAINS[d].domain, "tags", tags, "grade", PICK(GRADES, s), "update_frequency", PICK(FREQS, s), "fields",
			 fields, "scenarios", PICK(PURPOSES, s), "industry", "公共数据", "scope", scope, "modified", mod);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int tds_cli_bench_catalog(int argc, char **argv)
{
	bool json = false;
	long products = 100000, queries = 3000;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;
		if (!strcmp(a, "--json")) {
			json = true;
		} else if ((!strcmp(a, "--products") || !strcmp(a, "--queries")) && v) {
			long n = strtol(v, &end, 10);
			if (*end || n < 1 || n > 10000000)
				return tds_cli_usage("bench catalog: %s takes 1-10000000", a);
			*(a[2] == 'p' ? &products : &queries) = n;
			i++;
		} else {
			return tds_cli_usage("bench catalog: expected [--json] [--products N] [--queries N]");
		}
	}
	char dir[] = "/tmp/tds-bench-catalog-XXXXXX", p[128];
	if (!mkdtemp(dir)) {
		fprintf(stderr, "tds: cannot create a temporary directory: %s\n", strerror(errno));
		return 1;
	}
	snprintf(p, sizeof p, "%s/tds.db", dir);
	tds_store *store = NULL;
	tds_key *key = NULL;
	tds_ledger *lg = NULL;
	tds_catalog *cat = NULL;
	uint8_t master[TDS_MASTER_KEY_LEN];
	double *lat = NULL;
	char (*ids)[TDS_ID_MAX] = calloc((size_t)products, TDS_ID_MAX);
	int rc = ids ? tds_store_open(p, &store) : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if (!rc)
		rc = tds_key_generate(TDS_SUITE_GM, &key);
	if (!rc)
		rc = tds_random(master, sizeof master);
	if (!rc) {
		tds_ledger_opts lo = {.store = store, .suite = TDS_SUITE_GM, .origin = "tds.local/node_bench_catalog", .key = key,
				      .master = master};
		rc = tds_ledger_open(&lo, &lg);
	}
	if (!rc) {
		tds_catalog_opts co = {.ledger = lg, .node_id = "node_01JBENCH0000000000000000000", .dir = dir, .suite = TDS_SUITE_GM};
		rc = tds_catalog_open(store, &co, &cat);
	}
	if (rc) {
		fprintf(stderr, "tds: bench catalog: %s\n", tds_error_message());
		goto out;
	}
	tds_catalog_set_operator(cat, true);
	/* 200 provider organisations */
	enum { NORGS = 200 };
	static char orgbuf[NORGS][TDS_ID_MAX];
	const char *orgs[NORGS];
	for (int i = 0; i < NORGS; i++) {
		tds_id_new("org", orgbuf[i]);
		orgs[i] = orgbuf[i];
	}
	/* index: rounds of 5,000 entries, one transaction per organisation and round through
	 * tds_catalog_entry_upsert_many (the same check, store, index and evidence as one upsert) */
	uint64_t seed = 20261123;
	double t0 = now_s();
	long done = 0;
	while (done < products && !rc) {
		json_t *by_org[NORGS] = {0};
		long n = products - done < 5000 ? products - done : 5000;
		for (long k = 0; k < n; k++) {
			char org[TDS_ID_MAX];
			json_t *e = bench_entry(&seed, (size_t)(done + k), orgs, NORGS, org);
			snprintf(ids[done + k], TDS_ID_MAX, "%s", tds_json_str(e, "id", ""));
			int o = 0;
			while (strcmp(orgs[o], org))
				o++;
			if (!by_org[o])
				by_org[o] = json_array();
			json_array_append_new(by_org[o], e);
		}
		for (int o = 0; o < NORGS; o++) {
			if (by_org[o] && !rc) {
				tds_ledger_actor a = {.org = orgs[o], .node = "node_01JBENCHC0NNECT0R000000000"};
				rc = tds_catalog_entry_upsert_many(cat, &a, orgs[o], by_org[o], NULL);
			}
			json_decref(by_org[o]);
		}
		done += n;
	}
	double index_s = now_s() - t0;
	if (rc) {
		fprintf(stderr, "tds: bench catalog: indexing: %s\n", tds_error_message());
		goto out;
	}
	/* some use (orders), so that popularity has something to sort */
	for (int k = 0; k < 1000 && !rc; k++)
		rc = tds_catalog_entry_bump(cat, ids[rng_next(&seed) % (uint64_t)products], orgs[rng_next(&seed) % NORGS]);
	if (rc) {
		fprintf(stderr, "tds: bench catalog: use: %s\n", tds_error_message());
		goto out;
	}
	/* queries: two-character words, longer phrases, single characters, English and pinyin, with and
	 * without filters and sorts, as an operator (sees all) and as a consumer bank (scope checks) */
	static const char *const WORDS2[] = {"纳税", "社保", "医保", "企业", "信用", "登记", "养老", "发票", "用电", "交通",
					     "住房", "就诊", "统计", "车辆", "土地", "金融"};
	static const char *const PHRASES[] = {"纳税信用", "社保缴纳", "企业登记", "不动产登记", "医保结算", "住房公积金",
					      "增值税发票", "失信被执行", "养老保险", "杭州市企业纳税", "查询接口", "能耗统计"};
	static const char *const SINGLE[] = {"税", "保", "医", "电", "房", "车"};
	static const char *const LATIN[] = {"tax", "shebao", "yibao", "credit", "energy", "housing", "traffic", "uscc",
					    "tax_amount", "business", "shui*", "cred*"};
	static const char *const DOMS[] = {"tax", "social_security", "medical", "market", "energy", "housing", "transport",
					   "credit"};
	static const char *const SORTS[] = {"relevance", "recency", "popularity"};
	lat = calloc((size_t)queries, sizeof *lat);
	if (!lat) {
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto out;
	}
	tds_catalog_viewer op = {.roles = TDS_ROLE_OPERATOR}, bank = {.org = orgs[7], .roles = TDS_ROLE_CONSUMER};
	long hits = 0;
	int *cls = calloc((size_t)queries, sizeof *cls); /* query class, for the per-class figures */
	if (!cls) {
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto out;
	}
	for (long k = 0; k < queries && !rc; k++) {
		tds_catalog_query q = {0};
		uint64_t r = rng_next(&seed) % 100;
		q.q = r < 35 ? PICK(WORDS2, &seed) : r < 60 ? PICK(PHRASES, &seed) : r < 70 ? PICK(SINGLE, &seed)
		      : r < 90 ? PICK(LATIN, &seed) : NULL;
		cls[k] = r < 35 ? 0 : r < 60 ? 1 : r < 70 ? 2 : r < 90 ? 3 : 4;
		uint64_t f = rng_next(&seed) % 10;
		if (f < 2)
			q.form = PICK(FORMS, &seed);
		else if (f < 4)
			q.domain = PICK(DOMS, &seed);
		else if (f == 4)
			q.grade = "重要";
		if (rng_next(&seed) % 3 == 0 || !q.q)
			q.sort = PICK(SORTS, &seed);
		q.limit = 20;
		json_t *res = NULL;
		double s0 = now_s();
		rc = tds_catalog_search(cat, k % 2 ? &bank : &op, &q, &res);
		lat[k] = (now_s() - s0) * 1000.0;
		hits += (long)json_array_size(json_object_get(res, "items"));
		json_decref(res);
	}
	if (rc) {
		fprintf(stderr, "tds: bench catalog: search: %s\n", tds_error_message());
		goto out;
	}
	/* per class: p95 of two-character words, longer phrases, single characters, Latin words, no words */
	static const char *const CLS[] = {"p95_ms_2char", "p95_ms_phrase", "p95_ms_1char", "p95_ms_latin", "p95_ms_browse"};
	json_t *by_class = json_object();
	double *tmp = calloc((size_t)queries, sizeof *tmp);
	for (int c = 0; tmp && c < 5; c++) {
		size_t m = 0;
		for (long k = 0; k < queries; k++)
			if (cls[k] == c)
				tmp[m++] = lat[k];
		if (!m)
			continue;
		qsort(tmp, m, sizeof *tmp, cmp_double);
		char v[32];
		snprintf(v, sizeof v, "%.3f", tmp[(size_t)(m * 0.95)]);
		json_object_set_new(by_class, CLS[c], json_string(v));
	}
	free(tmp);
	free(cls);
	qsort(lat, (size_t)queries, sizeof *lat, cmp_double);
	double p50 = lat[(size_t)(queries * 0.50)], p95 = lat[(size_t)(queries * 0.95)],
	       p99 = lat[(size_t)(queries * 0.99) < (size_t)queries ? (size_t)(queries * 0.99) : (size_t)queries - 1];
	char s50[32], s95[32], s99[32], sidx[32], savg[32];
	snprintf(s50, sizeof s50, "%.3f", p50);
	snprintf(s95, sizeof s95, "%.3f", p95);
	snprintf(s99, sizeof s99, "%.3f", p99);
	snprintf(sidx, sizeof sidx, "%.1f", index_s);
	snprintf(savg, sizeof savg, "%.1f", (double)hits / (double)queries);
	json_t *report = json_pack("{s:s, s:o, s:{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:I, s:o}}", "bench", "catalog", "machine",
				   tds_cli_bench_machine(), "metrics", "products", (json_int_t)products, "queries",
				   (json_int_t)queries, "search_p50_ms", s50, "search_p95_ms", s95, "search_p99_ms", s99, "index_s",
				   sidx, "hits_per_query", savg, "entries_per_s",
				   (json_int_t)(index_s > 0 ? (double)products / index_s : 0), "by_class", by_class);
	if (json) {
		char *t = json_dumps(report, JSON_COMPACT);
		puts(t ? t : "{}");
		free(t);
	} else {
		printf("融合目录检索 catalog search: %ld products indexed in %.1f s; %ld queries: p50 %.2f ms, p95 %.2f ms, "
		       "p99 %.2f ms (%.1f hits per query)\n",
		       products, index_s, queries, p50, p95, p99, (double)hits / (double)queries);
	}
	json_decref(report);
out:
	free(lat);
	free(ids);
	tds_catalog_free(cat);
	tds_ledger_free(lg);
	tds_store_close(store);
	tds_key_free(key);
	memset(master, 0, sizeof master);
	if (getenv("TDS_BENCH_KEEP")) { /* for looking at query plans afterwards */
		fprintf(stderr, "tds: bench catalog: kept %s\n", dir);
		return rc ? 1 : 0;
	}
	static const char *files[] = {"tds.db", "tds.db-wal", "tds.db-shm"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(files); i++) {
		snprintf(p, sizeof p, "%s/%s", dir, files[i]);
		unlink(p);
	}
	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "tds: could not remove %s\n", dir);
	return rc ? 1 : 0;
}
