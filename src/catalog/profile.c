/*
 * profile.c — what a value is and what a column looks like: the classification rules of catalog.h
 * section 1 (null markers, integer, decimal, date, datetime, boolean, text), per-column statistics
 * (nulls, HyperLogLog distinct estimate, min/max, longest value, inferred type) and SQL names.
 *
 * Not for reading files or databases: csv.c, import.c and dbsrc feed values in. The classifier runs
 * on every value of an import, so it decides from the first byte where it can and never allocates.
 *
 * Invariants: a column's type mask only shrinks; TEXT is always in it; HyperLogLog registers hold
 * the maximum rank seen (1..53) for their bucket, 0 when empty.
 */
#include "catalog/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HLL_P 12
#define HLL_M (1u << HLL_P)
#define ALL_TYPES (T_BIT(TDS_COL_NTYPES) - 1)

static const char *const TYPE_NAMES[TDS_COL_NTYPES] = {"integer", "decimal", "date", "datetime", "boolean", "text"};
/* Dates are declared "DATE TEXT" / "DATETIME TEXT": TEXT affinity (SQLite gives a type name containing
 * TEXT text affinity), so SQLite stores them as written without first trying to read a number. */
static const char *const TYPE_SQL[TDS_COL_NTYPES] = {"INTEGER", "REAL", "DATE TEXT", "DATETIME TEXT", "BOOLEAN", "TEXT"};

const char *tds_col_type_name(tds_col_type t)
{
	return (unsigned)t < TDS_COL_NTYPES ? TYPE_NAMES[t] : NULL;
}

const char *tds_col_type_sql(tds_col_type t)
{
	return (unsigned)t < TDS_COL_NTYPES ? TYPE_SQL[t] : NULL;
}

bool tds_value_is_null(const char *s, size_t len)
{
	switch (len) {
	case 0:
		return true;
	case 2:
		return s[0] == '\\' && s[1] == 'N';
	case 4:
		return memcmp(s, "NULL", 4) == 0 || memcmp(s, "null", 4) == 0;
	default:
		return false;
	}
}

/* ---- classification ---- */

static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static const double POW10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

/* integer and decimal (rules in catalog.h). Sets types when the value is one. */
static void classify_number(const char *s, size_t len, tds_value *o)
{
	size_t i = 0;
	bool neg = false;
	if (s[0] == '-') {
		neg = true;
		i = 1;
	}
	size_t int_start = i;
	while (i < len && is_digit((unsigned char)s[i]))
		i++;
	size_t nint = i - int_start;
	if (nint == 0 || (nint > 1 && s[int_start] == '0'))
		return;
	if (i == len) {
		if (nint > 15)
			return;
		int64_t v = 0;
		for (size_t k = int_start; k < len; k++)
			v = v * 10 + (s[k] - '0');
		o->i = neg ? -v : v;
		o->d = (double)o->i;
		o->types |= T_BIT(TDS_COL_INTEGER) | T_BIT(TDS_COL_DECIMAL);
		return;
	}
	if (s[i] != '.')
		return;
	size_t frac_start = ++i;
	while (i < len && is_digit((unsigned char)s[i]))
		i++;
	size_t nfrac = i - frac_start;
	if (i != len || nfrac == 0)
		return;
	/* significant digits: the integer part unless it is the lone 0, plus the fraction */
	size_t sig = (nint == 1 && s[int_start] == '0') ? 0 : nint;
	if (sig + nfrac > 15)
		return;
	int64_t m = 0;
	for (size_t k = int_start; k < int_start + nint; k++)
		m = m * 10 + (s[k] - '0');
	for (size_t k = frac_start; k < len; k++)
		m = m * 10 + (s[k] - '0');
	double d = (double)m / POW10[nfrac]; /* both exact: one correctly rounded division */
	o->d = neg ? -d : d;
	o->types |= T_BIT(TDS_COL_DECIMAL);
}

static int two(const char *s) { return (s[0] - '0') * 10 + (s[1] - '0'); }

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit((unsigned char)s[i]))
			return false;
	return true;
}

static bool valid_day(int y, int m, int d)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (y < 1000 || m < 1 || m > 12 || d < 1)
		return false;
	int max = mdays[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
	return d <= max;
}

/* date, datetime (rules in catalog.h). */
static void classify_date(const char *s, size_t len, tds_value *o)
{
	if (len < 10 || len >= sizeof o->date || !digits(s, 4) || (s[4] != '-' && s[4] != '/') || s[7] != s[4] ||
	    !digits(s + 5, 2) || !digits(s + 8, 2))
		return;
	int y = two(s) * 100 + two(s + 2);
	if (!valid_day(y, two(s + 5), two(s + 8)))
		return;
	if (len == 10) {
		memcpy(o->date, s, 10);
		o->date[4] = o->date[7] = '-';
		o->date[10] = 0;
		o->types |= T_BIT(TDS_COL_DATE);
		return;
	}
	if (s[10] != 'T' && s[10] != ' ')
		return;
	size_t i = 11;
	if (len < i + 5 || !digits(s + i, 2) || s[i + 2] != ':' || !digits(s + i + 3, 2) || two(s + i) > 23 ||
	    two(s + i + 3) > 59)
		return;
	i += 5;
	if (i < len && s[i] == ':') {
		if (len < i + 3 || !digits(s + i + 1, 2) || two(s + i + 1) > 60)
			return;
		i += 3;
		if (i < len && s[i] == '.') {
			size_t f = ++i;
			while (i < len && is_digit((unsigned char)s[i]))
				i++;
			if (i == f || i - f > 9)
				return;
		}
	}
	if (i < len && s[i] == 'Z') {
		i++;
	} else if (i < len && (s[i] == '+' || s[i] == '-')) {
		if (len < i + 6 || !digits(s + i + 1, 2) || s[i + 3] != ':' || !digits(s + i + 4, 2) || two(s + i + 1) > 23 ||
		    two(s + i + 4) > 59)
			return;
		i += 6;
	}
	if (i != len)
		return;
	memcpy(o->date, s, len);
	o->date[4] = o->date[7] = '-';
	o->date[len] = 0;
	o->types |= T_BIT(TDS_COL_DATETIME);
}

static bool ascii_ieq(const char *s, size_t len, const char *w)
{
	size_t n = strlen(w);
	if (n != len)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != w[i])
			return false;
	}
	return true;
}

static void classify_bool(const char *s, size_t len, tds_value *o)
{
	static const char *const yes[] = {"true", "yes", "t", "y"}, *const no[] = {"false", "no", "f", "n"};
	if (len > 5)
		return;
	for (size_t k = 0; k < 4; k++) {
		if (ascii_ieq(s, len, yes[k]) || (len == 3 && memcmp(s, "\xe6\x98\xaf", 3) == 0)) { /* 是 */
			o->i = 1;
			o->types |= T_BIT(TDS_COL_BOOLEAN);
			return;
		}
		if (ascii_ieq(s, len, no[k]) || (len == 3 && memcmp(s, "\xe5\x90\xa6", 3) == 0)) { /* 否 */
			o->i = 0;
			o->types |= T_BIT(TDS_COL_BOOLEAN);
			return;
		}
	}
}

void tds_value_classify(const char *s, size_t len, tds_value *o)
{
	o->types = T_TEXT_ONLY;
	if (!len)
		return;
	unsigned char c0 = (unsigned char)s[0];
	if (c0 == '-' || is_digit(c0)) {
		classify_number(s, len, o);
		if (o->types == T_TEXT_ONLY && is_digit(c0))
			classify_date(s, len, o);
		return;
	}
	classify_bool(s, len, o);
}

/* ---- hashing ---- */

static inline uint64_t mum(uint64_t a, uint64_t b)
{
	__extension__ unsigned __int128 r = (unsigned __int128)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

uint64_t cat_hash64(const void *data, size_t len)
{
	const uint8_t *p = data;
	const uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull, k2 = 0x8ebc6af09c88c6e3ull;
	uint64_t h = k0 ^ mum(len, k1);
	while (len >= 16) {
		uint64_t a, b;
		memcpy(&a, p, 8);
		memcpy(&b, p + 8, 8);
		h = mum(a ^ k1, b ^ h);
		p += 16;
		len -= 16;
	}
	uint64_t a = 0, b = 0;
	if (len >= 8) {
		memcpy(&a, p, 8);
		memcpy(&b, p + len - 8, 8); /* overlapping tail */
	} else if (len > 0) {
		uint8_t t[8] = {0};
		memcpy(t, p, len);
		memcpy(&a, t, 8);
		b = len;
	}
	return mum(mum(a ^ k2, b ^ h) ^ k0, k1 ^ len);
}

/* ---- profiles ---- */

typedef struct colstat {
	unsigned mask;
	uint64_t nulls, count, max_len;
	bool have_num, have_date, have_dt;
	int64_t imin, imax;
	double dmin, dmax;
	char date_min[36], date_max[36], dt_min[36], dt_max[36];
	uint8_t *hll;
} colstat;

struct tds_profile {
	size_t ncols;
	uint64_t rows;
	colstat *c;
};

tds_profile *tds_profile_new(size_t ncols)
{
	if (ncols == 0 || ncols > TDS_CSV_MAX_COLUMNS)
		return NULL;
	tds_profile *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->ncols = ncols;
	p->c = calloc(ncols, sizeof *p->c);
	uint8_t *regs = calloc(ncols, HLL_M);
	if (!p->c || !regs) {
		free(regs);
		free(p->c);
		free(p);
		return NULL;
	}
	for (size_t i = 0; i < ncols; i++) {
		p->c[i].mask = ALL_TYPES;
		p->c[i].hll = regs + i * HLL_M;
	}
	return p;
}

void tds_profile_free(tds_profile *p)
{
	if (!p)
		return;
	if (p->c)
		free(p->c[0].hll);
	free(p->c);
	free(p);
}

static inline void hll_add(uint8_t *regs, const char *s, size_t len)
{
	uint64_t h = cat_hash64(s, len);
	uint32_t idx = (uint32_t)(h >> (64 - HLL_P));
	uint64_t rest = (h << HLL_P) | (1ull << (HLL_P - 1)); /* a stop bit bounds the rank */
	uint8_t rank = (uint8_t)(__builtin_clzll(rest) + 1);
	if (rank > regs[idx])
		regs[idx] = rank;
}

static uint64_t hll_estimate(const uint8_t *regs)
{
	double sum = 0;
	unsigned zeros = 0;
	for (unsigned j = 0; j < HLL_M; j++) {
		sum += ldexp(1.0, -regs[j]);
		zeros += regs[j] == 0;
	}
	double m = HLL_M, alpha = 0.7213 / (1 + 1.079 / m);
	double e = alpha * m * m / sum;
	if (e <= 2.5 * m && zeros)
		e = m * log(m / zeros); /* linear counting for small cardinalities */
	return (uint64_t)(e + 0.5);
}

void prof_add_null(tds_profile *p, size_t c)
{
	p->c[c].nulls++;
}

void prof_add_row(tds_profile *p)
{
	p->rows++;
}

static void keep_min_max(char *mn, char *mx, bool *have, const char *v)
{
	if (!*have) {
		strcpy(mn, v);
		strcpy(mx, v);
		*have = true;
		return;
	}
	if (strcmp(v, mn) < 0)
		strcpy(mn, v);
	if (strcmp(v, mx) > 0)
		strcpy(mx, v);
}

unsigned prof_add_value(tds_profile *p, size_t c, const char *s, size_t len, tds_value *v)
{
	colstat *cs = &p->c[c];
	cs->count++;
	if (len > cs->max_len)
		cs->max_len = len;
	hll_add(cs->hll, s, len);
	if (cs->mask == T_TEXT_ONLY)
		return T_TEXT_ONLY;
	tds_value_classify(s, len, v);
	cs->mask &= v->types;
	if (v->types & T_BIT(TDS_COL_DECIMAL)) {
		bool isint = v->types & T_BIT(TDS_COL_INTEGER);
		if (!cs->have_num) {
			cs->dmin = cs->dmax = v->d;
			cs->imin = cs->imax = isint ? v->i : 0;
			cs->have_num = true;
		} else {
			if (v->d < cs->dmin)
				cs->dmin = v->d;
			if (v->d > cs->dmax)
				cs->dmax = v->d;
			if (isint && v->i < cs->imin)
				cs->imin = v->i;
			if (isint && v->i > cs->imax)
				cs->imax = v->i;
		}
	} else if (v->types & T_BIT(TDS_COL_DATE)) {
		keep_min_max(cs->date_min, cs->date_max, &cs->have_date, v->date);
	} else if (v->types & T_BIT(TDS_COL_DATETIME)) {
		keep_min_max(cs->dt_min, cs->dt_max, &cs->have_dt, v->date);
	}
	return v->types;
}

void tds_profile_add(tds_profile *p, size_t c, const char *s, size_t len)
{
	if (c >= p->ncols)
		return;
	if (c == 0)
		p->rows++;
	if (!s || tds_value_is_null(s, len)) {
		prof_add_null(p, c);
		return;
	}
	tds_value v;
	prof_add_value(p, c, s, len, &v);
}

static tds_col_type mask_type(unsigned mask)
{
	for (int t = 0; t < TDS_COL_NTYPES; t++)
		if (mask & T_BIT(t))
			return (tds_col_type)t;
	return TDS_COL_TEXT;
}

tds_col_type tds_profile_type(const tds_profile *p, size_t c)
{
	if (c >= p->ncols || p->c[c].count == 0)
		return TDS_COL_TEXT;
	return mask_type(p->c[c].mask);
}

uint64_t tds_profile_rows(const tds_profile *p)
{
	return p->rows;
}

static json_t *dec_json(double d)
{
	char b[40];
	snprintf(b, sizeof b, "%.15g", d);
	return json_string(b);
}

json_t *tds_profile_json(const tds_profile *p, const char *const *names, const char *const *labels)
{
	json_t *arr = json_array();
	for (size_t c = 0; c < p->ncols; c++) {
		const colstat *cs = &p->c[c];
		tds_col_type t = tds_profile_type(p, c);
		uint64_t total = cs->count + cs->nulls;
		char ratio[48];
		/* four places, rounded half up, in integer arithmetic */
		uint64_t r = total ? (cs->nulls * 20000 / total + 1) / 2 : 0;
		snprintf(ratio, sizeof ratio, "%llu.%04llu", (unsigned long long)(r / 10000), (unsigned long long)(r % 10000));
		uint64_t distinct = cs->count ? hll_estimate(cs->hll) : 0;
		if (distinct > cs->count)
			distinct = cs->count;
		if (cs->count && !distinct)
			distinct = 1;
		json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:I, s:I}", "name", names ? names[c] : "", "type",
				      tds_col_type_name(t), "nulls", (json_int_t)cs->nulls, "null_ratio", ratio,
				      "distinct_estimate", (json_int_t)distinct, "max_length", (json_int_t)cs->max_len);
		if (labels && labels[c])
			json_object_set_new(o, "label", json_string(labels[c]));
		if (t == TDS_COL_INTEGER && cs->have_num) {
			json_object_set_new(o, "min", json_integer(cs->imin));
			json_object_set_new(o, "max", json_integer(cs->imax));
		} else if (t == TDS_COL_DECIMAL && cs->have_num) {
			json_object_set_new(o, "min", dec_json(cs->dmin));
			json_object_set_new(o, "max", dec_json(cs->dmax));
		} else if (t == TDS_COL_DATE && cs->have_date) {
			json_object_set_new(o, "min", json_string(cs->date_min));
			json_object_set_new(o, "max", json_string(cs->date_max));
		} else if (t == TDS_COL_DATETIME && cs->have_dt) {
			json_object_set_new(o, "min", json_string(cs->dt_min));
			json_object_set_new(o, "max", json_string(cs->dt_max));
		}
		json_array_append_new(arr, o);
	}
	return arr;
}

/* ---- names ---- */

void tds_sql_name(const char *s, size_t len, char *out, size_t cap)
{
	size_t n = 0;
	bool pending_sep = false;
	if (cap < 72) {
		if (cap)
			out[0] = 0;
		return;
	}
	for (size_t i = 0; i < len && n < 64; i++) {
		unsigned char c = (unsigned char)s[i];
		bool keep = c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
		if (!keep || c == '_') {
			pending_sep = n > 0;
			continue;
		}
		if (pending_sep && n < 63) {
			out[n++] = '_';
		}
		pending_sep = false;
		out[n++] = (char)c;
	}
	/* cut on a character boundary: drop a trailing incomplete UTF-8 sequence */
	size_t k = n;
	while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80)
		k--;
	if (k > 0 && (unsigned char)out[k - 1] >= 0xC0) {
		unsigned char lead = (unsigned char)out[k - 1];
		size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
		if (n - (k - 1) < need)
			n = k - 1;
	}
	while (n > 0 && out[n - 1] == '_')
		n--;
	out[n] = 0;
	if (n == 0 || (out[0] >= '0' && out[0] <= '9')) {
		memmove(out + 2, out, n + 1);
		out[0] = 'c';
		out[1] = '_';
		if (n == 0)
			out[2] = 0;
	}
}

int tds_sql_quote_ident(tds_buf *b, const char *name)
{
	int rc = tds_buf_putc(b, '"');
	for (const char *p = name; !rc && *p; p++)
		rc = *p == '"' ? tds_buf_puts(b, "\"\"") : tds_buf_putc(b, *p);
	return rc ? rc : tds_buf_putc(b, '"');
}

int cat_line_error(int code, const char *name, uint64_t line, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return tds_error_set(code, name, "line %llu: %s", (unsigned long long)line, msg);
}
