/*
 * cmd_scan.c — `tds scan FILE.csv [--json] [--rules FILE] [--sample N] …` (sensitive-data discovery
 * and grading of a CSV file, offline, with the same engine the catalog uses) and `tds bench scan`
 * (throughput and per-detector precision and recall over a generated CSV with known labels; DESIGN
 * §7 metric names). Not for detection logic, which lives in src/anon/.
 *
 * The benchmark's generator writes ten mixed columns (names; resident IDs and passports; mobile and
 * landline numbers; bank cards; credit codes and plates; emails and IP addresses; addresses; dates
 * of birth; diagnoses and ICD-10 codes; amounts). Every value is drawn from a deterministic
 * generator and labelled with the detector it belongs to, or as a near miss: a valid-looking value
 * with one defect (wrong check character, impossible date, unknown region or issuer prefix, a digit
 * too many, a forbidden letter). Near misses are built so that they belong to no other detector
 * either (e.g. they keep the digit count of their own kind), so every prediction can be scored.
 * Some values are hard on purpose and counted as they fall: names with rare surnames the rules do
 * not list (misses of person_name), and resident ID numbers with an impossible birth date, whose
 * 18 digits can pass the Luhn check of a card issuer prefix (false bank cards).
 */
#include "anon/anon.h"
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* Entry points (dispatched from main_tds.c; declared in cli.h by the lead). */

static int print_json(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
	if (!s)
		return 1;
	puts(s);
	free(s);
	return 0;
}

static int failed(bool json, const char *what)
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

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int load_rules(const char *path, tds_anon_rules **r, char *used, size_t cap)
{
	if (path) {
		snprintf(used, cap, "%s", path);
		return tds_anon_rules_load_file(path, r);
	}
	return tds_anon_rules_load_default(r, used, cap);
}

/* ------------------------------------------------------------------------------------------------
 * tds scan
 * ---------------------------------------------------------------------------------------------- */

static const char *category_zh(tds_anon_category c)
{
	static const char *const zh[] = {"其他", "个人", "企业", "公共事务"};
	return (unsigned)c < 4 ? zh[c] : "";
}

static const char *ident_zh(tds_anon_identifiability i)
{
	static const char *const zh[] = {"非个人信息", "聚合", "匿名化", "去关联假名化", "假名化", "已识别"};
	return (unsigned)i < 6 ? zh[i] : "";
}

static void print_human(const char *file, const tds_anon_table *t)
{
	const tds_anon_summary *s = tds_anon_table_summary(t);
	printf("敏感数据扫描 sensitive-data scan: %s\n", file);
	printf("  行 rows %llu (scanned %llu), 列 columns %zu\n", (unsigned long long)s->rows_total,
	       (unsigned long long)s->rows_scanned, tds_anon_table_ncolumns(t));
	printf("  表级 table: L%d %s数据 (%s); 个人信息 PI %s (%zu columns); 敏感个人信息 SPI %s (%zu); 可识别性 %s %s\n\n",
	       s->level, tds_anon_grade_name_zh(s->grade), tds_anon_grade_name(s->grade), s->pi ? "yes" : "no",
	       s->columns_pi, s->spi ? "yes" : "no", s->columns_spi, ident_zh(s->identifiability),
	       tds_anon_identifiability_name(s->identifiability));
	for (size_t i = 0; i < tds_anon_table_ncolumns(t); i++) {
		const tds_anon_column *c = tds_anon_table_column(t, i);
		const tds_anon_verdict *v = &c->verdict;
		printf("[%zu] %s: %s %s; PI %s; SPI %s; %s %s; L%d %s数据 (%s)", i + 1, c->name,
		       category_zh(v->category), tds_anon_category_name(v->category), v->pi ? "yes" : "no",
		       v->spi ? "yes" : "no", ident_zh(v->identifiability), tds_anon_identifiability_name(v->identifiability),
		       v->level, tds_anon_grade_name_zh(c->grade), tds_anon_grade_name(c->grade));
		if (c->detector)
			printf("; detector %s (confidence %.2f)", c->detector, c->confidence);
		if (c->mask.method == TDS_ANON_MASK_KEEP)
			printf("; 脱敏 mask: keep first %d, last %d", c->mask.first, c->mask.last);
		else if (c->mask.method != TDS_ANON_MASK_NONE)
			printf("; 脱敏 mask: %s", tds_anon_mask_method_name(c->mask.method));
		printf("\n");
		for (size_t k = 0; k < c->nreasons; k++)
			printf("    - %s\n", c->reasons[k]);
		if (c->spi_basis && v->spi)
			printf("    - SPI basis: %s\n", c->spi_basis);
	}
}

/* Header names must be usable as column names: valid UTF-8 (the reader checked), no control
 * characters, unique. */
static int check_header(const tds_anon_field *f, size_t n, char ***names_out)
{
	char **names = calloc(n, sizeof *names);
	if (!names)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	*names_out = names;
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < f[i].len; k++) {
			unsigned char c = (unsigned char)f[i].data[k];
			if (c < 0x20 || c == 0x7f)
				return tds_error_set(TDS_EINVAL, "csv_bad_header",
						     "line 1, field %zu: a column name contains a control character", i + 1);
		}
		if (f[i].len > 1000)
			return tds_error_set(TDS_EINVAL, "csv_bad_header", "line 1, field %zu: a column name is longer than 1000 bytes",
					     i + 1);
		names[i] = strndup(f[i].data, f[i].len);
		if (!names[i])
			return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		for (size_t k = 0; k < i; k++)
			if (strcmp(names[k], names[i]) == 0)
				return tds_error_set(TDS_EINVAL, "csv_bad_header",
						     "line 1: fields %zu and %zu have the same column name; column names must be "
						     "unique (reviewers override columns by name)",
						     k + 1, i + 1);
	}
	return 0;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

int tds_cli_scan(int argc, char **argv)
{
	const char *file = NULL, *rules_path = NULL;
	bool json = false, header = true;
	uint64_t sample = 10000, rows_hint = 0;
	char delim = ',';
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		uint64_t x;
		if (strcmp(a, "--json") == 0)
			json = true;
		else if (strcmp(a, "--no-header") == 0)
			header = false;
		else if (strcmp(a, "--rules") == 0 && i + 1 < argc)
			rules_path = argv[++i];
		else if (strcmp(a, "--sample") == 0 && i + 1 < argc && !parse_u64(argv[i + 1], 0, UINT64_MAX, &x))
			sample = x, i++;
		else if (strcmp(a, "--rows-total") == 0 && i + 1 < argc && !parse_u64(argv[i + 1], 1, UINT64_MAX, &x))
			rows_hint = x, i++;
		else if (strcmp(a, "--delimiter") == 0 && i + 1 < argc && strlen(argv[i + 1]) == 1)
			delim = argv[++i][0];
		else if (a[0] == '-' && a[1])
			return tds_cli_usage("scan: bad option %s (usage: tds scan FILE.csv [--json] [--rules FILE] "
					     "[--sample N] [--no-header] [--delimiter C] [--rows-total N])", a);
		else if (!file)
			file = a;
		else
			return tds_cli_usage("scan: one file at a time (got %s and %s)", file, a);
	}
	if (!file)
		return tds_cli_usage("scan: expected `tds scan FILE.csv [--json] [--rules FILE] [--sample N]`");
	tds_anon_rules *r = NULL;
	tds_anon_csv *csv = NULL;
	tds_anon_scan *s = NULL;
	tds_anon_table *t = NULL;
	char **names = NULL;
	size_t ncols = 0;
	char used[4096];
	int rc = 1;
	if (load_rules(rules_path, &r, used, sizeof used)) {
		failed(json, "scan: rules");
		goto out;
	}
	tds_anon_csv_opts o = {.delimiter = delim};
	if (tds_anon_csv_open(file, &o, &csv)) {
		failed(json, "scan");
		goto out;
	}
	const tds_anon_field *f;
	size_t n;
	int got = tds_anon_csv_next(csv, &f, &n);
	if (got < 0) {
		tds_error_wrap("%s: ", file);
		failed(json, "scan");
		goto out;
	}
	if (got == 0) {
		tds_error_set(TDS_EINVAL, "csv_empty", "%s: the file has no rows", file);
		failed(json, "scan");
		goto out;
	}
	ncols = n;
	if (header) {
		if (check_header(f, n, &names)) {
			tds_error_wrap("%s: ", file);
			failed(json, "scan");
			goto out;
		}
	} else {
		names = calloc(n, sizeof *names);
		for (size_t i = 0; names && i < n; i++) {
			names[i] = malloc(32);
			if (names[i])
				snprintf(names[i], 32, "column_%zu", i + 1);
		}
	}
	if (tds_anon_scan_new(r, (const char *const *)names, ncols, NULL, &s)) {
		failed(json, "scan");
		goto out;
	}
	uint64_t rows = 0;
	if (!header) {
		tds_anon_scan_row(s, f, n);
		rows++;
	}
	while ((got = tds_anon_csv_next(csv, &f, &n)) > 0) {
		if (sample == 0 || rows < sample)
			tds_anon_scan_row(s, f, n);
		rows++;
	}
	if (got < 0) {
		tds_error_wrap("%s: ", file);
		failed(json, "scan");
		goto out;
	}
	tds_anon_scan_set_rows_total(s, rows_hint ? rows_hint : rows);
	if (tds_anon_scan_finish(s, &t)) {
		failed(json, "scan");
		goto out;
	}
	if (json) {
		json_t *j = tds_anon_table_json(t);
		json_object_set_new(j, "ok", json_true());
		json_object_set_new(j, "file", json_string(file));
		print_json(j);
		json_decref(j);
	} else {
		print_human(file, t);
	}
	rc = 0;
out:
	tds_anon_table_free(t);
	tds_anon_scan_free(s);
	tds_anon_csv_free(csv);
	tds_anon_rules_free(r);
	free_names(names, ncols);
	return rc;
}

/* ------------------------------------------------------------------------------------------------
 * tds bench scan: the generator
 * ---------------------------------------------------------------------------------------------- */

enum { L_NULL = 0xfe, L_NEG = 0xff };

/* detectors the generator labels, in the order of `lab` below */
enum {
	D_NAME, D_ID, D_PASSPORT, D_MOBILE, D_LANDLINE, D_CARD, D_USCC, D_PLATE, D_EMAIL, D_IPV4, D_IPV6,
	D_ADDRESS, D_BIRTH, D_MEDICAL, D_ICD10, D_AMOUNT, D_N
};
static const char *const LABELLED[D_N] = {"person_name", "resident_id", "passport", "mobile",  "landline", "bank_card",
					  "uscc",	 "plate",	"email",    "ipv4",    "ipv6",	   "address",
					  "birth_date",	 "medical",	"icd10",    "amount"};

typedef struct gen {
	uint64_t s;
	uint8_t lab[D_N]; /* rules index of each labelled detector */
	char *buf;
	size_t len, cap;
	FILE *f;
	uint64_t bytes;
	uint8_t *labels;
	size_t nlabels, lcap;
} gen;

static uint64_t rnd(gen *g)
{
	uint64_t z = (g->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned below(gen *g, unsigned n) { return (unsigned)((rnd(g) >> 32) * n >> 32); }
static bool chance(gen *g, unsigned pct) { return below(g, 100) < pct; }

static void put(gen *g, const void *p, size_t n)
{
	if (g->len + n > g->cap) {
		fwrite(g->buf, 1, g->len, g->f);
		g->len = 0;
	}
	memcpy(g->buf + g->len, p, n);
	g->len += n;
	g->bytes += n;
}

static void puts_(gen *g, const char *s) { put(g, s, strlen(s)); }
static void putch(gen *g, char c) { put(g, &c, 1); }

/* n decimal digits of v, zero-padded */
static void putnum(gen *g, uint64_t v, int n)
{
	char t[24];
	for (int i = n - 1; i >= 0; i--) {
		t[i] = (char)('0' + v % 10);
		v /= 10;
	}
	put(g, t, (size_t)n);
}

static void putuint(gen *g, uint64_t v)
{
	char t[24];
	int n = 0;
	do
		t[23 - n++] = (char)('0' + v % 10);
	while ((v /= 10));
	put(g, t + 24 - n, (size_t)n);
}

/* v as exactly n decimal digits (v < 10^n) */
static void fixed(char *out, unsigned v, int n)
{
	for (int i = n - 1; i >= 0; i--, v /= 10)
		out[i] = (char)('0' + v % 10);
}

static void digits(gen *g, char *out, int n)
{
	for (int i = 0; i < n; i++)
		out[i] = (char)('0' + below(g, 10));
}

/* the i-th character (3 UTF-8 bytes) of a string of BMP Han characters */
static void hanchar(gen *g, const char *list)
{
	size_t n = strlen(list) / 3;
	put(g, list + 3 * below(g, (unsigned)n), 3);
}

static const char *pick(gen *g, const char *const *list, size_t n) { return list[below(g, (unsigned)n)]; }
#define PICK(g, a) pick(g, a, TDS_ARRAY_LEN(a))

static void label(gen *g, uint8_t l)
{
	if (g->nlabels == g->lcap) {
		g->lcap = g->lcap ? g->lcap * 2 : 1 << 20;
		g->labels = realloc(g->labels, g->lcap);
		if (!g->labels)
			abort();
	}
	g->labels[g->nlabels++] = l;
}

static const char SURNAMES[] = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
			       "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤";
static const char GIVEN[] = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文辉宇浩然子轩梓涵一诺欣怡佳琪雨桐思远俊博晨阳睿哲";
static const char RARE_SURNAMES[] = "禤仉佴郦妫笪蹇厍钭";
static const char *const COMPOUND[] = {"欧阳", "司马", "上官", "诸葛"};
static const char *const MINORITY[] = {"买买提", "艾力", "阿卜杜拉", "吐尔逊", "古丽", "努尔", "热依拉", "迪丽"};
static const char *const NOT_NAMES[] = {"先生", "女士", "经理", "测试用户", "本人", "家属", "同事", "某某"};

static uint8_t gen_name(gen *g)
{
	if (below(g, 200) == 0) { /* a real name with a rare surname the rules do not list: a known miss */
		hanchar(g, RARE_SURNAMES);
		hanchar(g, GIVEN);
		hanchar(g, GIVEN);
		return g->lab[D_NAME];
	}
	unsigned k = below(g, 100);
	if (k < 88) {
		if (chance(g, 3))
			puts_(g, PICK(g, COMPOUND));
		else
			hanchar(g, SURNAMES);
		int given = chance(g, 70) ? 2 : 1;
		for (int i = 0; i < given; i++)
			hanchar(g, GIVEN);
		return g->lab[D_NAME];
	}
	if (k < 90) {
		puts_(g, PICK(g, MINORITY));
		puts_(g, "·");
		puts_(g, PICK(g, MINORITY));
		return g->lab[D_NAME];
	}
	if (k < 91) {
		puts_(g, "不详");
		return L_NULL;
	}
	switch (below(g, 5)) {
	case 0: /* one character */
		hanchar(g, SURNAMES);
		break;
	case 1: /* five characters */
		hanchar(g, SURNAMES);
		for (int i = 0; i < 4; i++)
			hanchar(g, GIVEN);
		break;
	case 2: /* a digit */
		hanchar(g, SURNAMES);
		hanchar(g, GIVEN);
		putch(g, (char)('1' + below(g, 9)));
		break;
	case 3: /* no surname */
		puts_(g, PICK(g, NOT_NAMES));
		break;
	default: /* Latin letters */
		puts_(g, "Zhang Wei");
		break;
	}
	return L_NEG;
}

static const char *const PROVINCES[] = {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34",
					"35", "36", "37", "41", "42", "43", "44", "45", "46", "50", "51", "52",
					"53", "54", "61", "62", "63", "64", "65", "71", "81", "82"};
static const char *const BAD_REGIONS[] = {"00", "19", "20", "39", "49", "60", "70", "90", "99"};

static char id_check(const char *s)
{
	static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
	int sum = 0;
	for (int i = 0; i < 17; i++)
		sum += (s[i] - '0') * w[i];
	return "10X98765432"[sum % 11];
}

static void ymd(gen *g, int y0, int y1, int *y, int *m, int *d)
{
	static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	*y = y0 + (int)below(g, (unsigned)(y1 - y0 + 1));
	*m = 1 + (int)below(g, 12);
	*d = 1 + (int)below(g, (unsigned)dim[*m - 1]);
}

/* 17 digits of a resident ID: region (city codes 01-09, so that no ID doubles as a credit code's
 * region), birth date, sequence */
static void id17(gen *g, char *s, const char *region, int y, int m, int d)
{
	memcpy(s, region, 2);
	s[2] = '0';
	s[3] = (char)('1' + below(g, 9));
	digits(g, s + 4, 2);
	fixed(s + 6, (unsigned)y, 4);
	fixed(s + 10, (unsigned)m, 2);
	fixed(s + 12, (unsigned)d, 2);
	digits(g, s + 14, 3);
}

static uint8_t gen_id(gen *g)
{
	char s[20];
	int y, m, d;
	unsigned k = below(g, 100);
	if (k < 73) {
		ymd(g, 1930, 2024, &y, &m, &d);
		id17(g, s, PICK(g, PROVINCES), y, m, d);
		s[17] = id_check(s);
		put(g, s, 18);
		return g->lab[D_ID];
	}
	if (k < 75) { /* first generation, 15 digits */
		ymd(g, 1930, 1999, &y, &m, &d);
		memcpy(s, PICK(g, PROVINCES), 2);
		s[2] = '0';
		s[3] = (char)('1' + below(g, 9));
		digits(g, s + 4, 2);
		fixed(s + 6, (unsigned)(y % 100), 2);
		fixed(s + 8, (unsigned)m, 2);
		fixed(s + 10, (unsigned)d, 2);
		digits(g, s + 12, 3);
		put(g, s, 15);
		return g->lab[D_ID];
	}
	if (k < 87) {
		s[0] = chance(g, 80) ? 'E' : 'G';
		digits(g, s + 1, 8);
		if (s[0] == 'E' && chance(g, 40))
			s[1] = "ABCDEFGHJKLMNPQRSTUVWXYZ"[below(g, 24)];
		put(g, s, 9);
		return g->lab[D_PASSPORT];
	}
	switch (below(g, 7)) {
	case 0: /* wrong check character */
		ymd(g, 1930, 2024, &y, &m, &d);
		id17(g, s, PICK(g, PROVINCES), y, m, d);
		s[17] = "0123456789X"[(strchr("0123456789X", id_check(s)) - "0123456789X" + 1 + below(g, 10)) % 11];
		put(g, s, 18);
		break;
	case 1: { /* impossible or future birth date, correct check character */
		static const char *const bad[] = {"19901301", "19900230", "19850431", "20990101", "19000000", "18991231"};
		const char *b = PICK(g, bad);
		id17(g, s, PICK(g, PROVINCES), 1990, 1, 1);
		memcpy(s + 6, b, 8);
		s[17] = id_check(s);
		put(g, s, 18);
		break;
	}
	case 2: /* unknown province code, correct check character */
		ymd(g, 1930, 2024, &y, &m, &d);
		id17(g, s, PICK(g, BAD_REGIONS), y, m, d);
		s[17] = id_check(s);
		put(g, s, 18);
		break;
	case 3: /* passport with 7 digits */
		s[0] = 'E';
		digits(g, s + 1, 7);
		put(g, s, 8);
		break;
	case 4: /* unknown passport letter */
		s[0] = "ABCHKMP"[below(g, 7)];
		digits(g, s + 1, 8);
		put(g, s, 9);
		break;
	case 5: /* forbidden letter */
		s[0] = 'E';
		s[1] = chance(g, 50) ? 'I' : 'O';
		digits(g, s + 2, 7);
		put(g, s, 9);
		break;
	default: /* 9 digits */
		s[0] = 'E';
		digits(g, s + 1, 9);
		put(g, s, 10);
		break;
	}
	return L_NEG;
}

static const char *const AREA3[] = {"010", "020", "021", "022", "023", "024", "025", "027", "028", "029"};

static uint8_t gen_phone(gen *g)
{
	char s[16];
	unsigned k = below(g, 100);
	if (k < 60) {
		s[0] = '1';
		s[1] = (char)('3' + below(g, 7));
		digits(g, s + 2, 9);
		unsigned f = below(g, 20);
		if (f == 0)
			puts_(g, "+86");
		else if (f == 1)
			puts_(g, "+86 ");
		else if (f == 2)
			puts_(g, "0086");
		if (f == 3 || f == 4) {
			char sep = f == 3 ? '-' : ' ';
			put(g, s, 3);
			putch(g, sep);
			put(g, s + 3, 4);
			putch(g, sep);
			put(g, s + 7, 4);
		} else {
			put(g, s, 11);
		}
		return g->lab[D_MOBILE];
	}
	if (k < 88) {
		bool three = chance(g, 50);
		char area[5];
		if (three)
			memcpy(area, PICK(g, AREA3), 4);
		else
			snprintf(area, sizeof area, "0%c%c%c", (char)('3' + below(g, 7)), (char)('0' + below(g, 10)),
				 (char)('0' + below(g, 10)));
		int sl = three ? 8 : (chance(g, 50) ? 7 : 8);
		s[0] = (char)('2' + below(g, 8));
		digits(g, s + 1, sl - 1);
		unsigned f = below(g, 10);
		if (f < 5) {
			puts_(g, area);
			putch(g, '-');
		} else if (f < 7) {
			putch(g, '(');
			puts_(g, area);
			putch(g, ')');
		} else if (f < 8) {
			puts_(g, area);
			putch(g, ' ');
		} else {
			puts_(g, area);
		}
		put(g, s, (size_t)sl);
		if (f < 5 && chance(g, 10)) {
			putch(g, '-');
			putnum(g, below(g, 1000), 3);
		}
		return g->lab[D_LANDLINE];
	}
	switch (below(g, 7)) {
	case 0: /* 11 digits, 10/11/12 prefix */
		s[0] = '1';
		s[1] = (char)('0' + below(g, 3));
		digits(g, s + 2, 9);
		put(g, s, 11);
		break;
	case 1: /* 12 digits */
		s[0] = '1';
		s[1] = (char)('3' + below(g, 7));
		digits(g, s + 2, 10);
		put(g, s, 12);
		break;
	case 2: /* 10 digits */
		s[0] = '1';
		s[1] = (char)('3' + below(g, 7));
		digits(g, s + 2, 8);
		put(g, s, 10);
		break;
	case 3: /* no such area code */
		puts_(g, chance(g, 50) ? "000-" : "01-");
		s[0] = (char)('2' + below(g, 8));
		digits(g, s + 1, 7);
		put(g, s, 8);
		break;
	case 4: /* subscriber starting with 0 or 1 */
		puts_(g, PICK(g, AREA3));
		putch(g, '-');
		s[0] = (char)('0' + below(g, 2));
		digits(g, s + 1, 7);
		put(g, s, 8);
		break;
	case 5: /* service number */
		puts_(g, "400-");
		digits(g, s, 3);
		put(g, s, 3);
		putch(g, '-');
		digits(g, s, 4);
		put(g, s, 4);
		break;
	default: /* too short */
		puts_(g, "0755-");
		s[0] = (char)('2' + below(g, 8));
		digits(g, s + 1, 5);
		put(g, s, 6);
		break;
	}
	return L_NEG;
}

static char luhn_digit(const char *s, int n) /* check digit for s[0..n) */
{
	int sum = 0;
	for (int i = 0; i < n; i++) {
		int d = s[n - 1 - i] - '0';
		if (i % 2 == 0) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	return (char)('0' + (10 - sum % 10) % 10);
}

static const char *const BINS[] = {"622202", "621700", "622848", "621661", "622588", "436742", "524047", "356833",
				   "955880", "601382"};

static void card(gen *g, char *s, const char *bin, int len, bool valid)
{
	memcpy(s, bin, 6);
	digits(g, s + 6, len - 7);
	s[len - 1] = luhn_digit(s, len - 1);
	if (!valid)
		s[len - 1] = (char)('0' + (s[len - 1] - '0' + 1 + below(g, 9)) % 10);
}

static uint8_t gen_card(gen *g)
{
	char s[24];
	unsigned k = below(g, 100);
	if (k < 88) {
		int len = chance(g, 50) ? 16 : 19;
		card(g, s, PICK(g, BINS), len, true);
		unsigned f = below(g, 20);
		if (f < 3) {
			char sep = f < 2 ? ' ' : '-';
			for (int i = 0; i < len; i += 4) {
				if (i)
					putch(g, sep);
				put(g, s + i, (size_t)(len - i < 4 ? len - i : 4));
			}
		} else {
			put(g, s, (size_t)len);
		}
		return g->lab[D_CARD];
	}
	int len;
	switch (below(g, 3)) {
	case 0: /* Luhn failure */
		len = chance(g, 50) ? 16 : 19;
		card(g, s, PICK(g, BINS), len, false);
		break;
	case 1: { /* no issuer prefix (and no province code) */
		static const char *const nobin[] = {"100000", "240000", "700000", "830000"};
		len = chance(g, 50) ? 16 : 19;
		card(g, s, PICK(g, nobin), len, true);
		break;
	}
	default: /* 15 or 20 digits, prefixes that are no province code */
		len = chance(g, 50) ? 15 : 20;
		card(g, s, chance(g, 50) ? "955880" : "601382", len, true);
		break;
	}
	put(g, s, (size_t)len);
	return L_NEG;
}

static const char USCC_ALPHA[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

static char uscc_check(const char *s)
{
	static const int w[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
	int sum = 0;
	for (int i = 0; i < 17; i++)
		sum += (int)(strchr(USCC_ALPHA, s[i]) - USCC_ALPHA) * w[i];
	return USCC_ALPHA[(31 - sum % 31) % 31];
}

static void uscc(gen *g, char *s)
{
	static const char *const auth[] = {"91", "92", "93", "11", "12", "13", "19", "51", "52", "53", "Y1"};
	memcpy(s, PICK(g, auth), 2);
	memcpy(s + 2, PICK(g, PROVINCES), 2);
	s[4] = (char)('0' + below(g, 3));
	s[5] = (char)('0' + below(g, 10));
	s[6] = (char)('0' + below(g, 4));
	s[7] = (char)('0' + below(g, 10));
	for (int i = 8; i < 17; i++)
		s[i] = chance(g, 75) ? (char)('0' + below(g, 10)) : USCC_ALPHA[10 + below(g, 21)];
	s[17] = uscc_check(s);
}

static const char PLATE_PROV[] = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";
static const char SERIAL[] = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789012345678901234567890123456789";

static uint8_t gen_reg(gen *g)
{
	char s[24];
	unsigned k = below(g, 100);
	if (k < 50) {
		uscc(g, s);
		put(g, s, 18);
		return g->lab[D_USCC];
	}
	if (k < 88) {
		hanchar(g, PLATE_PROV);
		putch(g, "ABCDEFGHJKLMNPQRSTUVWXYZ"[below(g, 24)]);
		unsigned f = below(g, 20);
		if (f == 0)
			puts_(g, "·");
		if (f < 14) {
			for (int i = 0; i < 5; i++)
				putch(g, SERIAL[below(g, sizeof SERIAL - 1)]);
		} else if (f < 17) { /* new energy, small */
			putch(g, chance(g, 50) ? 'D' : 'F');
			putch(g, SERIAL[below(g, sizeof SERIAL - 1)]);
			digits(g, s, 4);
			put(g, s, 4);
		} else if (f < 19) { /* new energy, large */
			digits(g, s, 5);
			put(g, s, 5);
			putch(g, chance(g, 50) ? 'D' : 'F');
		} else {
			for (int i = 0; i < 4; i++)
				putch(g, SERIAL[below(g, sizeof SERIAL - 1)]);
			hanchar(g, "学警挂");
		}
		return g->lab[D_PLATE];
	}
	switch (below(g, 8)) {
	case 0: /* wrong check character */
		uscc(g, s);
		s[17] = USCC_ALPHA[(strchr(USCC_ALPHA, s[17]) - USCC_ALPHA + 1 + below(g, 30)) % 31];
		put(g, s, 18);
		break;
	case 1: /* a letter codes never use */
		uscc(g, s);
		s[8 + below(g, 9)] = "IOSVZ"[below(g, 5)];
		put(g, s, 18);
		break;
	case 2: /* lower case */
		uscc(g, s);
		s[8] = 'M';
		s[17] = uscc_check(s);
		for (int i = 0; i < 18; i++)
			if (s[i] >= 'A' && s[i] <= 'Z')
				s[i] = (char)(s[i] + 32);
		put(g, s, 18);
		break;
	case 3:
		puts_(g, "甲A");
		digits(g, s, 5);
		put(g, s, 5);
		break;
	case 4:
		hanchar(g, PLATE_PROV);
		puts_(g, "I");
		digits(g, s, 5);
		put(g, s, 5);
		break;
	case 5: { /* 4 or 7 serial characters */
		int sn = chance(g, 50) ? 4 : 7;
		hanchar(g, PLATE_PROV);
		putch(g, 'A');
		digits(g, s, sn);
		put(g, s, (size_t)sn);
		break;
	}
	case 6:
		hanchar(g, PLATE_PROV);
		puts_(g, "AO");
		digits(g, s, 4);
		put(g, s, 4);
		break;
	default:
		hanchar(g, PLATE_PROV);
		puts_(g, "AD");
		digits(g, s, 4);
		put(g, s, 4);
		putch(g, 'A');
		break;
	}
	return L_NEG;
}

static const char *const DOMAINS[] = {"qq.com", "163.com", "126.com", "gmail.com", "sina.com.cn", "example.org",
				      "company.cn", "mail.gov.cn"};
static const char *const LOCALS[] = {"zhang.wei", "li_na", "user", "wangfang", "chen.jie", "liu-yang", "admin", "x"};

static void put_hex_group(gen *g)
{
	static const char h[] = "0123456789abcdef";
	int n = 1 + (int)below(g, 4);
	putch(g, h[1 + below(g, 15)]);
	for (int i = 1; i < n; i++)
		putch(g, h[below(g, 16)]);
}

static void put_ipv4(gen *g)
{
	for (int i = 0; i < 4; i++) {
		if (i)
			putch(g, '.');
		putuint(g, below(g, 256));
	}
}

static uint8_t gen_net(gen *g)
{
	unsigned k = below(g, 100);
	if (k < 45) {
		puts_(g, PICK(g, LOCALS));
		if (chance(g, 60))
			putuint(g, below(g, 10000));
		putch(g, '@');
		puts_(g, PICK(g, DOMAINS));
		return g->lab[D_EMAIL];
	}
	if (k < 80) {
		put_ipv4(g);
		return g->lab[D_IPV4];
	}
	if (k < 92) {
		unsigned f = below(g, 3);
		if (f == 0) { /* full */
			for (int i = 0; i < 8; i++) {
				if (i)
					putch(g, ':');
				put_hex_group(g);
			}
		} else if (f == 1) { /* compressed */
			int head = 1 + (int)below(g, 3), tail = 1 + (int)below(g, 3);
			for (int i = 0; i < head; i++) {
				if (i)
					putch(g, ':');
				put_hex_group(g);
			}
			puts_(g, "::");
			for (int i = 0; i < tail; i++) {
				if (i)
					putch(g, ':');
				put_hex_group(g);
			}
		} else {
			puts_(g, "::ffff:");
			put_ipv4(g);
		}
		return g->lab[D_IPV6];
	}
	static const char *const bad[] = {"user@host", "a..b@qq.com", "@qq.com", "user@qq.c", "256.1.2.3", "1.2.3",
					  "01.2.3.4", "1::2::3", "12345::1", "g::1", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9"};
	puts_(g, PICK(g, bad));
	return L_NEG;
}

static const char PLACE[] = "东西南北华新安平阳明光兴盛丰泰宁昌隆福海山江河湖林春秋金玉清长永和顺成嘉德";
static const char *const PROV_FULL[] = {"北京市", "上海市", "天津市", "重庆市", "广东省", "浙江省", "江苏省",
					"四川省", "湖北省", "山东省", "广西壮族自治区", "内蒙古自治区"};

static void place2(gen *g)
{
	hanchar(g, PLACE);
	hanchar(g, PLACE);
}

static uint8_t gen_address(gen *g)
{
	unsigned k = below(g, 100);
	if (k < 90) {
		unsigned f = below(g, 20);
		if (f < 12)
			puts_(g, PICK(g, PROV_FULL));
		if (f < 17) {
			place2(g);
			puts_(g, "市");
			place2(g);
			puts_(g, chance(g, 80) ? "区" : "县");
		}
		place2(g);
		puts_(g, chance(g, 60) ? "路" : chance(g, 50) ? "街" : "大道");
		putuint(g, 1 + below(g, 999));
		puts_(g, "号");
		if (chance(g, 30)) {
			putuint(g, 1 + below(g, 30));
			puts_(g, "栋");
			putuint(g, 1 + below(g, 6));
			puts_(g, "单元");
			putuint(g, 101 + below(g, 2000));
			puts_(g, "室");
		}
		return g->lab[D_ADDRESS];
	}
	switch (below(g, 4)) {
	case 0: /* province and city only */
		puts_(g, PICK(g, PROV_FULL));
		place2(g);
		puts_(g, "市");
		break;
	case 1:
		place2(g);
		puts_(g, "科技有限公司");
		break;
	case 2:
		place2(g);
		hanchar(g, PLACE);
		puts_(g, "医院");
		break;
	default:
		place2(g);
		hanchar(g, PLACE);
		puts_(g, "大学");
		break;
	}
	return L_NEG;
}

static uint8_t gen_birth(gen *g)
{
	int y, m, d;
	unsigned k = below(g, 100);
	if (k < 88) {
		ymd(g, 1930, 2024, &y, &m, &d);
		unsigned f = below(g, 20);
		char t[48];
		if (f < 10)
			snprintf(t, sizeof t, "%04d-%02d-%02d", y, m, d);
		else if (f < 12)
			snprintf(t, sizeof t, "%04d/%d/%d", y, m, d);
		else if (f < 15)
			snprintf(t, sizeof t, "%04d%02d%02d", y, m, d);
		else if (f < 17)
			snprintf(t, sizeof t, "%04d年%d月%d日", y, m, d);
		else if (f < 19)
			snprintf(t, sizeof t, "%04d-%02d-%02d 00:00:00", y, m, d);
		else
			snprintf(t, sizeof t, "%04d.%02d.%02d", y, m, d);
		puts_(g, t);
		return g->lab[D_BIRTH];
	}
	static const char *const bad[] = {"1990-02-30", "1990-13-01", "2099-01-01", "1899-12-31", "1990-3",
					  "90-03-07",	"1990/03-07", "1985-04-31", "2023-02-29"};
	puts_(g, PICK(g, bad));
	return L_NEG;
}

static const char *const DIAG[] = {"高血压", "糖尿病", "冠心病", "肺炎", "支气管炎", "哮喘", "脑梗死", "胃炎",
				   "肝硬化", "乳腺癌", "肺癌", "抑郁症", "骨折", "痛风", "贫血", "白内障",
				   "慢阻肺", "肾结石", "甲亢", "类风湿关节炎", "帕金森病", "癫痫", "湿疹", "鼻炎"};
static const char *const DIAG_PRE[] = {"", "", "急性", "慢性", "2型", "疑似"};
static const char *const DIAG_POST[] = {"", "", "", "待查", "（稳定期）", "3级"};

static uint8_t gen_diag(gen *g)
{
	unsigned k = below(g, 100);
	if (k < 60) {
		puts_(g, PICK(g, DIAG_PRE));
		puts_(g, PICK(g, DIAG));
		puts_(g, PICK(g, DIAG_POST));
		return g->lab[D_MEDICAL];
	}
	if (k < 88) {
		putch(g, "ABCDEFGHIJKLMNOPQRSTVZ"[below(g, 22)]);
		putnum(g, below(g, 100), 2);
		unsigned f = below(g, 4);
		if (f) {
			putch(g, '.');
			putnum(g, below(g, 1000), (int)f);
		}
		return g->lab[D_ICD10];
	}
	if (k < 89) {
		puts_(g, "无");
		return L_NULL;
	}
	static const char *const bad[] = {"未见异常", "正常", "复查", "随访", "咨询", "体检",
					  "E1",	      "E1190", "11.9", "EE11.9", "E11..9", "e11.9"};
	puts_(g, PICK(g, bad));
	return L_NEG;
}

static uint8_t gen_amount(gen *g)
{
	unsigned k = below(g, 100);
	if (k < 88) {
		uint64_t yuan = below(g, 10) < 7 ? below(g, 10000) : below(g, 100000000);
		unsigned cents = below(g, 100), f = below(g, 20);
		bool quoted = f >= 3 && f < 6 && yuan >= 1000; /* thousands separators need CSV quotes */
		if (quoted)
			putch(g, '"');
		if (f < 2)
			puts_(g, chance(g, 50) ? "¥" : "RMB ");
		else if (f < 3)
			putch(g, '-');
		if (quoted) {
			char t[32];
			int n = snprintf(t, sizeof t, "%llu", (unsigned long long)yuan), first = n % 3 ? n % 3 : 3;
			put(g, t, (size_t)first);
			for (int i = first; i < n; i += 3) {
				putch(g, ',');
				put(g, t + i, 3);
			}
		} else {
			putuint(g, yuan);
		}
		if (f != 6) {
			putch(g, '.');
			putnum(g, cents, 2);
		}
		if (f == 7)
			puts_(g, "元");
		if (quoted)
			putch(g, '"');
		return g->lab[D_AMOUNT];
	}
	static const char *const bad[] = {"12.345", "\"1,23,456.00\"", "12.3.4", "0012.50", "\"12,34\"", "$-", "abc", "1.2e5"};
	puts_(g, PICK(g, bad));
	return L_NEG;
}

static const char *const BENCH_COLUMNS[10] = {"姓名", "证件号码", "联系电话", "银行卡号", "登记号码",
					      "网络标识", "家庭住址", "出生日期", "诊断", "金额"};
static uint8_t (*const BENCH_GEN[10])(gen *) = {gen_name, gen_id, gen_phone, gen_card, gen_reg,
						gen_net, gen_address, gen_birth, gen_diag, gen_amount};
/* the detector expected to decide each column */
static const int BENCH_EXPECT[10] = {D_NAME, D_ID, D_MOBILE, D_CARD, D_PLATE, D_EMAIL, D_ADDRESS, D_BIRTH, D_MEDICAL, D_AMOUNT};

static int generate(gen *g, const char *path, uint64_t target)
{
	g->f = fopen(path, "wb");
	if (!g->f)
		return tds_error_set(TDS_EIO, "bench_io", "cannot create %s: %s", path, strerror(errno));
	g->cap = 4 << 20;
	g->buf = malloc(g->cap);
	if (!g->buf)
		abort();
	for (int c = 0; c < 10; c++) {
		if (c)
			putch(g, ',');
		puts_(g, BENCH_COLUMNS[c]);
	}
	puts_(g, "\r\n");
	while (g->bytes < target) {
		for (int c = 0; c < 10; c++) {
			if (c)
				putch(g, ',');
			label(g, BENCH_GEN[c](g));
		}
		puts_(g, "\r\n");
	}
	fwrite(g->buf, 1, g->len, g->f);
	int bad = ferror(g->f);
	if (fclose(g->f) || bad)
		return tds_error_set(TDS_EIO, "bench_io", "writing %s failed", path);
	g->f = NULL;
	free(g->buf);
	g->buf = NULL;
	return 0;
}

/* ------------------------------------------------------------------------------------------------
 * tds bench scan: scoring
 * ---------------------------------------------------------------------------------------------- */


static double thread_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct score {
	uint64_t tp, fp, fn;
} score;

int tds_cli_bench_scan(int argc, char **argv)
{
	bool json = false, keep = false;
	uint64_t mb = 1000, seed = 20260615;
	const char *dir = NULL, *rules_path = NULL;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		uint64_t x;
		if (strcmp(a, "--json") == 0)
			json = true;
		else if (strcmp(a, "--keep") == 0)
			keep = true;
		else if (strcmp(a, "--mb") == 0 && i + 1 < argc && !parse_u64(argv[i + 1], 1, 1000000, &x))
			mb = x, i++;
		else if (strcmp(a, "--seed") == 0 && i + 1 < argc && !parse_u64(argv[i + 1], 0, UINT64_MAX, &x))
			seed = x, i++;
		else if (strcmp(a, "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(a, "--rules") == 0 && i + 1 < argc)
			rules_path = argv[++i];
		else
			return tds_cli_usage("bench scan: bad option %s (options: --json --mb N --seed S --dir DIR --rules FILE "
					     "--keep)", a);
	}
	tds_log_set_level(TDS_LOG_WARN);
	tds_anon_rules *r = NULL;
	tds_anon_csv *csv = NULL;
	tds_anon_scan *s = NULL;
	tds_anon_table *t = NULL;
	char used[4096], base[4096], path[4200];
	gen g = {.s = seed};
	int rc = 1;
	base[0] = 0;
	if (load_rules(rules_path, &r, used, sizeof used)) {
		failed(json, "bench scan: rules");
		goto out;
	}
	for (int d = 0; d < D_N; d++) {
		int i = tds_anon_rules_find(r, LABELLED[d]);
		if (i < 0) {
			tds_error_set(TDS_EINVAL, "bench_rules", "the rules %s lack detector '%s' that the benchmark labels",
				      used, LABELLED[d]);
			failed(json, "bench scan");
			goto out;
		}
		g.lab[d] = (uint8_t)i;
	}
	snprintf(base, sizeof base, "%s/tds-bench-scan-XXXXXX", dir ? dir : "/tmp");
	if (!mkdtemp(base)) {
		tds_error_set(TDS_EIO, "bench_io", "cannot create a temporary directory under %s: %s", dir ? dir : "/tmp",
			      strerror(errno));
		base[0] = 0;
		failed(json, "bench scan");
		goto out;
	}
	snprintf(path, sizeof path, "%s/bench.csv", base);
	if (!json)
		fprintf(stderr, "bench scan: generating %llu MB in %s …\n", (unsigned long long)mb, path);
	double g0 = wall_s();
	if (generate(&g, path, mb * 1000000)) {
		failed(json, "bench scan");
		goto out;
	}
	double gen_s = wall_s() - g0;
	struct stat st;
	stat(path, &st);
	uint64_t bytes = (uint64_t)st.st_size;
	if (!json)
		fprintf(stderr, "bench scan: generated %llu bytes, %zu values in %.1f s; scanning …\n",
			(unsigned long long)bytes, g.nlabels, gen_s);

	/* the scan: reader + every detector, on this thread; labels are compared inside the timed loop */
	size_t ndet = tds_anon_rules_count(r);
	score *sc = calloc(ndet, sizeof *sc);
	if (!sc)
		abort();
	uint64_t values = 0, rows = 0, mismatched = 0;
	double c0 = thread_cpu_s(), w0 = wall_s();
	if (tds_anon_csv_open(path, NULL, &csv)) {
		free(sc);
		failed(json, "bench scan");
		goto out;
	}
	const tds_anon_field *f;
	size_t n;
	int got = tds_anon_csv_next(csv, &f, &n);
	const char *names[10];
	for (size_t i = 0; i < 10 && got > 0 && i < n; i++)
		names[i] = BENCH_COLUMNS[i];
	/* fixed "today" (2026-06-15 Beijing) so that the labels of dates stay true */
	tds_anon_scan_opts so = {.now_ms = 1781496000000LL};
	if (got <= 0 || n != 10 || tds_anon_scan_new(r, names, 10, &so, &s)) {
		if (got >= 0 && n != 10)
			tds_error_set(TDS_EINTERNAL, "bench_header", "the generated header has %zu fields", n);
		free(sc);
		failed(json, "bench scan");
		goto out;
	}
	while ((got = tds_anon_csv_next(csv, &f, &n)) > 0) {
		for (size_t c = 0; c < n; c++) {
			uint64_t m = tds_anon_scan_value(s, c, f[c].data, f[c].len);
			uint8_t l = values < g.nlabels ? g.labels[values] : L_NEG;
			values++;
			if (l < ndet) {
				if (m >> l & 1) {
					sc[l].tp++;
					m &= ~(UINT64_C(1) << l);
				} else {
					sc[l].fn++;
				}
			}
			while (m) {
				int i = __builtin_ctzll(m);
				m &= m - 1;
				sc[i].fp++;
			}
		}
		rows++;
	}
	if (got < 0 || tds_anon_scan_finish(s, &t)) {
		free(sc);
		failed(json, "bench scan");
		goto out;
	}
	double cpu = thread_cpu_s() - c0, wall = wall_s() - w0;
	if (values != g.nlabels)
		mismatched = values > g.nlabels ? values - g.nlabels : g.nlabels - values;

	double minp = 1, minr = 1;
	json_t *det = json_object();
	for (size_t i = 0; i < ndet; i++) {
		if (sc[i].tp + sc[i].fp + sc[i].fn == 0)
			continue;
		double p = sc[i].tp + sc[i].fp ? (double)sc[i].tp / (double)(sc[i].tp + sc[i].fp) : 1;
		double rc_ = sc[i].tp + sc[i].fn ? (double)sc[i].tp / (double)(sc[i].tp + sc[i].fn) : 1;
		if (p < minp)
			minp = p;
		if (sc[i].tp + sc[i].fn && rc_ < minr)
			minr = rc_;
		json_object_set_new(det, tds_anon_rules_detector_id(r, i),
				    json_pack("{s:I, s:I, s:I, s:f, s:f}", "tp", (json_int_t)sc[i].tp, "fp",
					      (json_int_t)sc[i].fp, "fn", (json_int_t)sc[i].fn, "precision", p, "recall", rc_));
	}
	free(sc);
	json_t *cols = json_array();
	int cols_ok = 0;
	for (size_t c = 0; c < 10; c++) {
		const tds_anon_column *col = tds_anon_table_column(t, c);
		bool ok = col->detector && strcmp(col->detector, LABELLED[BENCH_EXPECT[c]]) == 0;
		cols_ok += ok;
		char lvl[4] = {'L', (char)('0' + col->verdict.level), 0};
		json_array_append_new(cols, json_pack("{s:s, s:s?, s:s, s:b, s:b, s:s, s:s, s:b}", "name", col->name,
						      "detector", col->detector, "expected", LABELLED[BENCH_EXPECT[c]],
						      "pi", col->verdict.pi, "spi", col->verdict.spi, "level", lvl, "grade",
						      tds_anon_grade_name(col->grade), "as_expected", ok));
	}
	double mbps = (double)bytes / 1e6 / cpu;
	json_t *metrics = json_pack("{s:f, s:f, s:f}", "mb_per_s_per_core", mbps, "min_precision", minp, "min_recall", minr);
	json_object_set_new(metrics, "mb_per_s_wall", json_real((double)bytes / 1e6 / wall));
	json_object_set_new(metrics, "values_per_s_per_core", json_integer((json_int_t)((double)values / cpu)));
	json_object_set_new(metrics, "scan_cpu_s", json_real(cpu));
	json_object_set_new(metrics, "scan_wall_s", json_real(wall));
	json_object_set_new(metrics, "generate_s", json_real(gen_s));
	json_object_set_new(metrics, "columns_as_expected", json_integer(cols_ok));
	json_object_set_new(metrics, "detectors", det);
	json_t *params = json_pack("{s:I, s:I, s:I, s:I, s:I, s:s, s:i, s:I}", "bytes", (json_int_t)bytes, "rows",
				   (json_int_t)rows, "values", (json_int_t)values, "seed", (json_int_t)seed, "mb",
				   (json_int_t)mb, "rules_version", tds_anon_rules_version(r), "detectors_enabled", (int)ndet,
				   "label_mismatch", (json_int_t)mismatched);
	json_t *outj = json_pack("{s:s, s:o, s:o, s:o, s:o}", "bench", "scan", "machine", tds_cli_bench_machine(), "metrics", metrics,
				 "params", params, "columns", cols);
	if (json) {
		print_json(outj);
	} else {
		printf("扫描基准 scan benchmark: %llu bytes, %llu rows, %llu values, %zu detectors (rules %s)\n",
		       (unsigned long long)bytes, (unsigned long long)rows, (unsigned long long)values, ndet,
		       tds_anon_rules_version(r));
		printf("  throughput   %8.1f MB/s per core (%.2f s CPU), %.1f MB/s wall (%.2f s)\n", mbps, cpu,
		       (double)bytes / 1e6 / wall, wall);
		printf("  accuracy     min precision %.4f, min recall %.4f over the labelled detectors\n", minp, minr);
		const char *k;
		json_t *v;
		json_object_foreach(det, k, v) {
			printf("    %-14s precision %.4f recall %.4f (tp %lld, fp %lld, fn %lld)\n", k,
			       json_real_value(json_object_get(v, "precision")), json_real_value(json_object_get(v, "recall")),
			       (long long)json_integer_value(json_object_get(v, "tp")),
			       (long long)json_integer_value(json_object_get(v, "fp")),
			       (long long)json_integer_value(json_object_get(v, "fn")));
		}
		printf("  columns      %d of 10 decided by the expected detector\n", cols_ok);
	}
	json_decref(outj);
	rc = mismatched ? 1 : 0;
	if (mismatched)
		fprintf(stderr, "tds: bench scan: %llu values more or fewer than labelled\n", (unsigned long long)mismatched);
out:
	tds_anon_table_free(t);
	tds_anon_scan_free(s);
	tds_anon_csv_free(csv);
	tds_anon_rules_free(r);
	free(g.labels);
	free(g.buf);
	if (g.f)
		fclose(g.f);
	if (base[0]) {
		if (keep) {
			fprintf(stderr, "bench scan: kept %s\n", path);
		} else {
			unlink(path);
			rmdir(base);
		}
	}
	return rc;
}
