/*
 * rules.c — loads and checks the rules file (format "tds.anon.rules/1", docs/anon.md) and compiles
 * it into the shapes the scan needs: flags per province code, code-point sets for surnames and plate
 * provinces, term dictionaries indexed by first character, templates as unit arrays, and the
 * pre-filter masks of each detector. Not for scanning (scan.c) nor validating values
 * (validators.c).
 *
 * The loader is strict and total: any JSON is either compiled or refused with the exact path of the
 * first bad member ("detectors[3].params.provinces[2]: …"), because a typo in a rules file that
 * silently disabled a detector would let personal data through unflagged.
 */
#include "anon/internal.h"

#include <stdio.h>
#include <stdlib.h>

#define MAX_LIST 100000  /* items in one list */
#define MAX_STRING 4096  /* bytes of one string */

/* ------------------------------------------------------------------------------------------------
 * Vocabulary
 * ---------------------------------------------------------------------------------------------- */

static const char *const CATEGORY[] = {"other", "personal", "enterprise", "public_affairs"};
static const char *const IDENT[] = {"not_personal", "aggregated", "anonymized", "unlinked_pseudonymized",
				    "pseudonymized", "identified"};
static const char *const GRADE[] = {NULL, "general", "important", "core"};
static const char *const GRADE_ZH[] = {NULL, "一般", "重要", "核心"};
static const char *const MASK[] = {"none", "keep", "email", "year", "ip", "suppress", "hash"};

static int parse_in(const char *s, const char *const *names, size_t n, size_t from)
{
	for (size_t i = from; s && i < n; i++)
		if (names[i] && strcmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

const char *tds_anon_category_name(tds_anon_category c)
{
	return (unsigned)c < TDS_ARRAY_LEN(CATEGORY) ? CATEGORY[c] : NULL;
}

int tds_anon_category_parse(const char *s, tds_anon_category *out)
{
	int i = parse_in(s, CATEGORY, TDS_ARRAY_LEN(CATEGORY), 0);
	if (i < 0)
		return tds_error_set(TDS_EINVAL, "invalid_category",
				     "category must be personal, enterprise, public_affairs or other");
	*out = (tds_anon_category)i;
	return 0;
}

const char *tds_anon_identifiability_name(tds_anon_identifiability i)
{
	return (unsigned)i < TDS_ARRAY_LEN(IDENT) ? IDENT[i] : NULL;
}

int tds_anon_identifiability_parse(const char *s, tds_anon_identifiability *out)
{
	int i = parse_in(s, IDENT, TDS_ARRAY_LEN(IDENT), 0);
	if (i < 0)
		return tds_error_set(TDS_EINVAL, "invalid_identifiability",
				     "identifiability must be identified, pseudonymized, unlinked_pseudonymized, anonymized, "
				     "aggregated or not_personal");
	*out = (tds_anon_identifiability)i;
	return 0;
}

const char *tds_anon_grade_name(tds_anon_grade g) { return (unsigned)g < 4 ? GRADE[g] : NULL; }
const char *tds_anon_grade_name_zh(tds_anon_grade g) { return (unsigned)g < 4 ? GRADE_ZH[g] : NULL; }

int tds_anon_grade_parse(const char *s, tds_anon_grade *out)
{
	int i = parse_in(s, GRADE, 4, 1);
	if (i < 0)
		i = parse_in(s, GRADE_ZH, 4, 1);
	if (i < 0)
		return tds_error_set(TDS_EINVAL, "invalid_grade", "grade must be general, important or core (一般, 重要, 核心)");
	*out = (tds_anon_grade)i;
	return 0;
}

const char *tds_anon_mask_method_name(tds_anon_mask_method m)
{
	return (unsigned)m < TDS_ARRAY_LEN(MASK) ? MASK[m] : NULL;
}

/* ------------------------------------------------------------------------------------------------
 * Loader helpers: every error names its path
 * ---------------------------------------------------------------------------------------------- */

typedef struct ld {
	tds_anon_rules *r;
	tds_arena *a;
} ld;

static int bad(const char *path, const char *fmt, ...) TDS_PRINTF(2, 3);
static int bad(const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return tds_error_set(TDS_EINVAL, "invalid_anon_rules", "%s: %s", path, msg);
}

/* Refuses members of o not listed in `allowed` (NULL-terminated). */
static int only(const char *path, const json_t *o, const char *const *allowed)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)o, k, v) {
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = strcmp(*a, k) == 0;
		if (!ok) {
			tds_buf list = TDS_BUF_INIT;
			for (const char *const *a = allowed; *a; a++)
				tds_buf_printf(&list, "%s%s", *a, a[1] ? ", " : "");
			int rc = bad(path, "unknown member '%.80s' (allowed: %s)", k, list.data ? list.data : "none");
			tds_buf_free(&list);
			return rc;
		}
	}
	return 0;
}

static void sub(char *out, size_t cap, const char *path, const char *key)
{
	snprintf(out, cap, "%s%s%s", path, *path ? "." : "", key);
}

static void idx(char *out, size_t cap, const char *path, size_t i) { snprintf(out, cap, "%s[%zu]", path, i); }

static int get_obj(const char *path, const json_t *o, const char *key, bool required, json_t **out)
{
	char p[256];
	sub(p, sizeof p, path, key);
	*out = json_object_get(o, key);
	if (!*out)
		return required ? bad(p, "required member is missing") : 0;
	if (!json_is_object(*out))
		return bad(p, "must be an object");
	return 0;
}

static int check_string(const char *p, const json_t *v, size_t max, bool nonempty)
{
	if (!json_is_string(v))
		return bad(p, "must be a string");
	size_t n = json_string_length(v);
	if (nonempty && n == 0)
		return bad(p, "must not be empty");
	if (n > max)
		return bad(p, "is longer than %zu bytes", max);
	if (strlen(json_string_value(v)) != n)
		return bad(p, "contains a NUL character");
	return 0;
}

static int get_str(ld *l, const char *path, const json_t *o, const char *key, bool required, size_t max,
		   const char **out)
{
	char p[256];
	sub(p, sizeof p, path, key);
	json_t *v = json_object_get(o, key);
	if (!v) {
		*out = NULL;
		return required ? bad(p, "required member is missing") : 0;
	}
	int rc = check_string(p, v, max, true);
	if (rc)
		return rc;
	*out = tds_arena_strdup(l->a, json_string_value(v));
	return 0;
}

static int get_bool(const char *path, const json_t *o, const char *key, bool required, bool def, bool *out)
{
	char p[256];
	sub(p, sizeof p, path, key);
	json_t *v = json_object_get(o, key);
	*out = def;
	if (!v)
		return required ? bad(p, "required member is missing") : 0;
	if (!json_is_boolean(v))
		return bad(p, "must be true or false");
	*out = json_is_true(v);
	return 0;
}

static int get_real(const char *path, const json_t *o, const char *key, double min, double max, double def,
		    double *out)
{
	char p[256];
	sub(p, sizeof p, path, key);
	json_t *v = json_object_get(o, key);
	*out = def;
	if (!v)
		return 0;
	if (!json_is_number(v))
		return bad(p, "must be a number");
	double x = json_number_value(v);
	if (!(x >= min && x <= max))
		return bad(p, "must be between %g and %g", min, max);
	*out = x;
	return 0;
}

static int get_int(const char *path, const json_t *o, const char *key, int64_t min, int64_t max, int64_t def,
		   int64_t *out)
{
	char p[256];
	sub(p, sizeof p, path, key);
	json_t *v = json_object_get(o, key);
	*out = def;
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return bad(p, "must be an integer");
	json_int_t x = json_integer_value(v);
	if (x < min || x > max)
		return bad(p, "must be between %lld and %lld", (long long)min, (long long)max);
	*out = x;
	return 0;
}

/* A list of strings; each item checked by `check` (may be NULL). */
typedef int (*item_check)(const char *p, const char *s, size_t n);

static int get_strs(ld *l, const char *path, const json_t *o, const char *key, bool required, bool nonempty,
		    item_check check, const char ***out, size_t *n)
{
	char p[256], pi[280];
	sub(p, sizeof p, path, key);
	json_t *v = json_object_get(o, key);
	*out = NULL;
	*n = 0;
	if (!v)
		return required ? bad(p, "required member is missing") : 0;
	if (!json_is_array(v))
		return bad(p, "must be an array of strings");
	size_t len = json_array_size(v);
	if (nonempty && len == 0)
		return bad(p, "must not be empty");
	if (len > MAX_LIST)
		return bad(p, "has more than %d items", MAX_LIST);
	const char **a = tds_arena_alloc(l->a, (len + 1) * sizeof *a);
	for (size_t i = 0; i < len; i++) {
		json_t *it = json_array_get(v, i);
		idx(pi, sizeof pi, p, i);
		int rc = check_string(pi, it, MAX_STRING, true);
		if (rc)
			return rc;
		if (check && (rc = check(pi, json_string_value(it), json_string_length(it))))
			return rc;
		a[i] = tds_arena_strdup(l->a, json_string_value(it));
	}
	*out = a;
	*n = len;
	return 0;
}

static int utf8_item(const char *p, const char *s, size_t n)
{
	return tds_utf8_valid(s, n) ? 0 : bad(p, "is not valid UTF-8");
}

static int two_digits(const char *p, const char *s, size_t n)
{
	return n == 2 && anon_digit((unsigned char)s[0]) && anon_digit((unsigned char)s[1])
		   ? 0
		   : bad(p, "must be two digits (\"11\")");
}

static int digit_string(const char *p, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!anon_digit((unsigned char)s[i]))
			return bad(p, "must contain digits only");
	return n <= 8 ? 0 : bad(p, "must have at most 8 digits");
}

static int country_code(const char *p, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!anon_digit((unsigned char)s[i]) && !(i == 0 && s[i] == '+'))
			return bad(p, "must be digits with an optional leading '+'");
	return n <= 6 ? 0 : bad(p, "must have at most 6 characters");
}

static size_t *lengths(ld *l, const char **s, size_t n)
{
	size_t *len = tds_arena_alloc(l->a, (n + 1) * sizeof *len);
	for (size_t i = 0; i < n; i++)
		len[i] = strlen(s[i]);
	return len;
}

/* Han characters only; counts them. */
static int han_chars(const char *p, const char *s, size_t n, size_t *count)
{
	*count = 0;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		int l = anon_u8dec((const unsigned char *)s + i, n - i, &cp);
		if (!l || !anon_is_han(cp))
			return bad(p, "must contain Chinese (Han) characters only");
		i += (size_t)l;
		(*count)++;
	}
	return 0;
}

static int compound_surname(const char *p, const char *s, size_t n)
{
	size_t c;
	int rc = han_chars(p, s, n, &c);
	if (rc)
		return rc;
	return c == 2 ? 0 : bad(p, "a compound surname has exactly 2 characters");
}

static int level_parse(const char *p, const char *s, int *out)
{
	if (s && strlen(s) == 2 && s[0] == 'L' && s[1] >= '1' && s[1] <= '4') {
		*out = s[1] - '0';
		return 0;
	}
	return bad(p, "must be a level L1, L2, L3 or L4");
}

/* ------------------------------------------------------------------------------------------------
 * Lookup structures
 * ---------------------------------------------------------------------------------------------- */

static uint32_t pow2_at_least(size_t n)
{
	uint32_t c = 8;
	while (c < n * 2)
		c <<= 1;
	return c;
}

static void cpset_build(tds_arena *a, cpset *s, const uint32_t *cps, size_t n)
{
	uint32_t cap = pow2_at_least(n);
	s->slot = tds_arena_alloc(a, cap * sizeof *s->slot);
	s->mask = cap - 1;
	for (size_t k = 0; k < n; k++) {
		if (!cps[k] || cpset_has(s, cps[k]))
			continue;
		uint32_t i = cp_hash(cps[k]) & s->mask;
		while (s->slot[i])
			i = (i + 1) & s->mask;
		s->slot[i] = cps[k];
	}
}

/* The code points of a string already checked to be Han characters. */
static int cpset_from_string(ld *l, const char *p, const char *s, cpset *out)
{
	size_t n = strlen(s), count;
	int rc = han_chars(p, s, n, &count);
	if (rc)
		return rc;
	uint32_t *cps = tds_arena_alloc(l->a, (count + 1) * sizeof *cps);
	size_t k = 0;
	for (size_t i = 0; i < n;) {
		int len = anon_u8dec((const unsigned char *)s + i, n - i, &cps[k++]);
		i += (size_t)len;
	}
	cpset_build(l->a, out, cps, k);
	return 0;
}

static int term_cmp(const void *x, const void *y)
{
	const term *a = x, *b = y;
	uint32_t ca, cb;
	anon_u8dec((const unsigned char *)a->s, a->len, &ca);
	anon_u8dec((const unsigned char *)b->s, b->len, &cb);
	if (ca != cb)
		return ca < cb ? -1 : 1;
	return a->len > b->len ? -1 : a->len < b->len;
}

static bool ascii_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Builds a dictionary from lists (each with its class bit); strings must be valid UTF-8. */
static void dict_build(ld *l, termdict *d, const char **const *lists, const size_t *ns, const uint8_t *cls,
		       size_t nlists)
{
	size_t total = 0;
	for (size_t k = 0; k < nlists; k++)
		total += ns[k];
	memset(d, 0, sizeof *d);
	if (!total)
		return;
	d->terms = tds_arena_alloc(l->a, total * sizeof *d->terms);
	d->any_of = 0;
	for (size_t k = 0; k < nlists; k++)
		for (size_t i = 0; i < ns[k]; i++) {
			char *s = tds_arena_strdup(l->a, lists[k][i]);
			for (char *c = s; *c; c++)
				if (*c >= 'A' && *c <= 'Z')
					*c = (char)(*c + 32);
			term *t = &d->terms[d->n++];
			t->s = s;
			t->len = (uint32_t)strlen(s);
			t->cls = cls[k];
			t->ascii_alpha_start = ascii_alpha((unsigned char)s[0]);
			t->ascii_alpha_end = ascii_alpha((unsigned char)s[t->len - 1]);
			for (const char *c = s; *c; c++)
				t->fold |= ascii_alpha((unsigned char)*c);
			d->any_of |= t->ascii_alpha_start ? SH_UPPER | SH_LOWER : l->r->shape[(unsigned char)s[0]];
		}
	qsort(d->terms, d->n, sizeof *d->terms, term_cmp);
	uint32_t cap = pow2_at_least(d->n);
	d->b = tds_arena_alloc(l->a, cap * sizeof *d->b);
	d->mask = cap - 1;
	d->first = tds_arena_alloc(l->a, 65536 / 8);
	for (size_t i = 0; i < d->n; i++) {
		uint32_t cp;
		anon_u8dec((const unsigned char *)d->terms[i].s, d->terms[i].len, &cp);
		if (cp < 65536)
			d->first[cp >> 3] |= (uint8_t)(1u << (cp & 7));
		uint32_t h = cp_hash(cp) & d->mask;
		while (d->b[h].key && d->b[h].key != cp)
			h = (h + 1) & d->mask;
		if (!d->b[h].key) {
			d->b[h].key = cp;
			d->b[h].start = (uint32_t)i;
		}
		d->b[h].count++;
	}
}

/* Template syntax: '#' a digit, 'A' an upper-case letter, '@' an upper-case letter other than I and
 * O, '\' escapes the next character; anything else stands for itself (byte by byte). */
static int tmpl_compile(ld *l, const char *p, const char *s, tmpl *out, uint32_t *allowed)
{
	size_t n = strlen(s);
	if (!tds_utf8_valid(s, n))
		return bad(p, "is not valid UTF-8");
	out->u = tds_arena_alloc(l->a, (n + 1) * sizeof *out->u);
	out->n = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		uint16_t u;
		if (c == '\\') {
			if (i + 1 == n)
				return bad(p, "ends with a lone '\\' (escape the character that follows it)");
			c = (unsigned char)s[++i];
			u = (uint16_t)(T_LIT << 8 | c);
			*allowed |= l->r->shape[c];
		} else if (c == '#') {
			u = T_DIGIT << 8;
			*allowed |= SH_DIGIT;
		} else if (c == 'A') {
			u = T_UPPER << 8;
			*allowed |= SH_UPPER;
		} else if (c == '@') {
			u = T_UPPER_NO_IO << 8;
			*allowed |= SH_UPPER;
		} else {
			if (c < 0x20 || c == 0x7f)
				return bad(p, "contains a control character");
			u = (uint16_t)(T_LIT << 8 | c);
			*allowed |= l->r->shape[c];
		}
		out->u[out->n++] = u;
	}
	if (out->n == 0 || out->n > 128)
		return bad(p, "a template has 1-128 characters");
	return 0;
}

static uint32_t shape_of(const tds_anon_rules *r, const char *s)
{
	uint32_t m = 0;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		m |= r->shape[*c];
	return m;
}

/* ------------------------------------------------------------------------------------------------
 * Detectors
 * ---------------------------------------------------------------------------------------------- */

static const char *const DET_MEMBERS[] = {"id", "kind", "name", "category", "pi", "spi", "spi_basis",
					  "identifiability", "level", "mask", "context", "context_exclude",
					  "requires_context", "exclusive", "min_hit_ratio", "context_min_hit_ratio",
					  "confidence", "enabled", "params", NULL};

static int regions(ld *l, const char *p, const json_t *params, const char *key, bool flags[100])
{
	const char **s;
	size_t n;
	int rc = get_strs(l, p, params, key, true, true, two_digits, &s, &n);
	for (size_t i = 0; !rc && i < n; i++)
		flags[(s[i][0] - '0') * 10 + (s[i][1] - '0')] = true;
	return rc;
}

static int params_for(ld *l, det *d, const char *p, const json_t *pm)
{
	int rc = 0;
	int64_t x;
	char q[256];
	const char *s;
	const char **list;
	size_t n;
	tds_anon_rules *r = l->r;
	switch (d->kind) {
	case K_RESIDENT_ID:
		if ((rc = only(p, pm, (const char *const[]){"provinces", "min_year", "accept_15_digit", NULL})) ||
		    (rc = regions(l, p, pm, "provinces", d->region)) ||
		    (rc = get_int(p, pm, "min_year", 1800, 2100, 1900, &x)) ||
		    (rc = get_bool(p, pm, "accept_15_digit", false, true, &d->accept15)))
			return rc;
		d->min_year = (int)x;
		d->allowed = SH_DIGIT | SH_UPPER | SH_LOWER;
		d->required = SH_DIGIT;
		d->min_len = 15;
		d->max_len = 18;
		return 0;
	case K_USCC:
		if ((rc = only(p, pm, (const char *const[]){"authorities", "regions", NULL})) ||
		    (rc = get_str(l, p, pm, "authorities", true, 64, &s)) || (rc = regions(l, p, pm, "regions", d->region)))
			return rc;
		for (const char *c = s; *c; c++) {
			if (!anon_digit((unsigned char)*c) && !strchr("ABCDEFGHJKLMNPQRTUWXY", *c)) {
				sub(q, sizeof q, p, "authorities");
				return bad(q, "'%c' is not a character of unified social credit codes", *c);
			}
			d->authority[(unsigned char)*c] = true;
		}
		d->allowed = SH_DIGIT | SH_UPPER;
		d->min_len = d->max_len = 18;
		return 0;
	case K_BANK_CARD: {
		if ((rc = only(p, pm, (const char *const[]){"bins", "lengths", NULL})) ||
		    (rc = get_strs(l, p, pm, "bins", true, true, digit_string, &d->strs, &d->nstrs)))
			return rc;
		json_t *ls = json_object_get(pm, "lengths");
		sub(q, sizeof q, p, "lengths");
		if (!ls || !json_is_array(ls) || json_array_size(ls) == 0)
			return bad(q, "must be a non-empty array of card lengths (12-19)");
		for (size_t i = 0; i < json_array_size(ls); i++) {
			json_t *it = json_array_get(ls, i);
			char qi[280];
			idx(qi, sizeof qi, q, i);
			if (!json_is_integer(it) || json_integer_value(it) < 12 || json_integer_value(it) > 19)
				return bad(qi, "must be an integer between 12 and 19");
			d->len_ok[json_integer_value(it)] = true;
		}
		d->allowed = SH_DIGIT | SH_SPACE | SH_DASH;
		d->required = SH_DIGIT;
		d->min_len = 12;
		d->max_len = 23;
		return 0;
	}
	case K_MOBILE:
		if ((rc = only(p, pm, (const char *const[]){"prefixes", "country_codes", NULL})) ||
		    (rc = get_strs(l, p, pm, "prefixes", true, true, two_digits, &list, &n)) ||
		    (rc = get_strs(l, p, pm, "country_codes", false, false, country_code, &d->strs, &d->nstrs)))
			return rc;
		for (size_t i = 0; i < n; i++) {
			if (list[i][0] != '1') {
				sub(q, sizeof q, p, "prefixes");
				return bad(q, "mobile number prefixes start with 1 (\"13\"-\"19\")");
			}
			d->prefix2[(list[i][0] - '0') * 10 + (list[i][1] - '0')] = true;
		}
		d->allowed = SH_DIGIT | SH_SPACE | SH_DASH | SH_PLUS;
		d->required = SH_DIGIT;
		d->min_len = 11;
		d->max_len = 24;
		return 0;
	case K_LANDLINE:
		if ((rc = only(p, pm, (const char *const[]){"three_digit_areas", "four_digit_area_first", NULL})) ||
		    (rc = regions(l, p, pm, "three_digit_areas", d->prefix2)) ||
		    (rc = get_str(l, p, pm, "four_digit_area_first", true, 10, &s)))
			return rc;
		for (const char *c = s; *c; c++) {
			if (!anon_digit((unsigned char)*c)) {
				sub(q, sizeof q, p, "four_digit_area_first");
				return bad(q, "must contain digits only");
			}
			d->first_digit[*c - '0'] = true;
		}
		d->allowed = SH_DIGIT | SH_DASH | SH_SPACE | SH_PAREN;
		d->required = SH_DIGIT;
		d->min_len = 10;
		d->max_len = 24;
		return 0;
	case K_TEMPLATE:
		if ((rc = only(p, pm, (const char *const[]){"templates", NULL})) ||
		    (rc = get_strs(l, p, pm, "templates", true, true, NULL, &list, &n)))
			return rc;
		d->tmpls = tds_arena_alloc(l->a, n * sizeof *d->tmpls);
		d->ntmpls = n;
		d->min_len = SIZE_MAX;
		for (size_t i = 0; i < n; i++) {
			char q2[300];
			sub(q, sizeof q, p, "templates");
			idx(q2, sizeof q2, q, i);
			if ((rc = tmpl_compile(l, q2, list[i], &d->tmpls[i], &d->allowed)))
				return rc;
			if (d->tmpls[i].n < d->min_len)
				d->min_len = d->tmpls[i].n;
			if (d->tmpls[i].n > d->max_len)
				d->max_len = d->tmpls[i].n;
		}
		return 0;
	case K_EMAIL:
		d->allowed = SH_DIGIT | SH_UPPER | SH_LOWER | SH_AT | SH_DOT | SH_DASH | SH_PLUS | SH_UNDERSCORE |
			     SH_PERCENT | SH_SLASH | SH_OTHER;
		d->required = SH_AT | SH_DOT;
		d->min_len = 6;
		d->max_len = 254;
		return only(p, pm, (const char *const[]){NULL});
	case K_IPV4:
		d->allowed = d->required = SH_DIGIT | SH_DOT;
		d->min_len = 7;
		d->max_len = 15;
		return only(p, pm, (const char *const[]){NULL});
	case K_IPV6:
		d->allowed = SH_DIGIT | SH_UPPER | SH_LOWER | SH_COLON | SH_DOT;
		d->required = SH_COLON;
		d->min_len = 2;
		d->max_len = 45;
		return only(p, pm, (const char *const[]){NULL});
	case K_PLATE:
		if ((rc = only(p, pm, (const char *const[]){"provinces", "suffixes", NULL})) ||
		    (rc = get_str(l, p, pm, "provinces", true, 1024, &s)))
			return rc;
		sub(q, sizeof q, p, "provinces");
		if ((rc = cpset_from_string(l, q, s, &d->set1)))
			return rc;
		{
			json_t *sv = json_object_get(pm, "suffixes");
			sub(q, sizeof q, p, "suffixes");
			if (sv && (rc = check_string(q, sv, 1024, false)))
				return rc;
			if (sv && (rc = cpset_from_string(l, q, json_string_value(sv), &d->set2)))
				return rc;
		}
		d->allowed = SH_HIGH | SH_DIGIT | SH_UPPER | SH_SPACE | SH_DASH;
		d->required = SH_HIGH | SH_UPPER;
		d->min_len = 9;
		d->max_len = 16;
		return 0;
	case K_MASKED:
		if ((rc = only(p, pm, (const char *const[]){"min_stars", NULL})) ||
		    (rc = get_int(p, pm, "min_stars", 1, 64, 1, &x)))
			return rc;
		d->min_stars = (int)x;
		d->allowed = SH_ALL & ~SH_CTRL;
		d->required = SH_STAR;
		d->min_len = 2;
		d->max_len = 1024;
		return 0;
	case K_HEX_TOKEN: {
		if ((rc = only(p, pm, (const char *const[]){"lengths", "uuid", NULL})) ||
		    (rc = get_bool(p, pm, "uuid", false, false, &d->uuid)))
			return rc;
		json_t *ls = json_object_get(pm, "lengths");
		sub(q, sizeof q, p, "lengths");
		if (!ls || !json_is_array(ls) || (json_array_size(ls) == 0 && !d->uuid))
			return bad(q, "must be an array of digest lengths (8-128 hex characters)");
		d->min_len = d->uuid ? 36 : SIZE_MAX;
		d->max_len = d->uuid ? 36 : 0;
		for (size_t i = 0; i < json_array_size(ls); i++) {
			json_t *it = json_array_get(ls, i);
			char qi[280];
			idx(qi, sizeof qi, q, i);
			if (!json_is_integer(it) || json_integer_value(it) < 8 || json_integer_value(it) > 128)
				return bad(qi, "must be an integer between 8 and 128");
			size_t len = (size_t)json_integer_value(it);
			d->len_ok[len] = true;
			d->min_len = len < d->min_len ? len : d->min_len;
			d->max_len = len > d->max_len ? len : d->max_len;
		}
		d->allowed = SH_DIGIT | SH_UPPER | SH_LOWER | (d->uuid ? SH_DASH : 0);
		d->required = SH_DIGIT;
		return 0;
	}
	case K_TERMS: {
		if ((rc = only(p, pm, (const char *const[]){"terms", "match", NULL})) ||
		    (rc = get_strs(l, p, pm, "terms", true, true, utf8_item, &list, &n)) ||
		    (rc = get_str(l, p, pm, "match", false, 16, &s)))
			return rc;
		if (s && strcmp(s, "contains") != 0 && strcmp(s, "exact") != 0) {
			sub(q, sizeof q, p, "match");
			return bad(q, "must be \"contains\" or \"exact\"");
		}
		d->exact = s && strcmp(s, "exact") == 0;
		const char **const lists[] = {list};
		dict_build(l, &d->dict, lists, &n, (const uint8_t[]){1}, 1);
		d->any_of = d->dict.any_of;
		d->allowed = SH_ALL & ~SH_CTRL;
		d->min_len = 1;
		d->max_len = SIZE_MAX;
		return 0;
	}
	case K_ADDRESS: {
		const char **pv, **ad, **st, **bd;
		size_t ns[4];
		if ((rc = only(p, pm, (const char *const[]){"min_chars", "provinces", "admin_words", "street_words",
							     "building_words", NULL})) ||
		    (rc = get_int(p, pm, "min_chars", 1, 100, 5, &x)) ||
		    (rc = get_strs(l, p, pm, "provinces", true, true, utf8_item, &pv, &ns[0])) ||
		    (rc = get_strs(l, p, pm, "admin_words", true, true, utf8_item, &ad, &ns[1])) ||
		    (rc = get_strs(l, p, pm, "street_words", true, true, utf8_item, &st, &ns[2])) ||
		    (rc = get_strs(l, p, pm, "building_words", true, true, utf8_item, &bd, &ns[3])))
			return rc;
		d->min_chars = (int)x;
		const char **const lists[] = {pv, ad, st, bd};
		dict_build(l, &d->dict, lists, ns, (const uint8_t[]){1, 2, 4, 8}, 4);
		d->allowed = SH_ALL & ~SH_CTRL;
		d->required = SH_HIGH;
		d->min_len = (size_t)d->min_chars;
		d->max_len = 4096;
		return 0;
	}
	case K_PERSON_NAME: {
		int64_t mn, mx, md;
		if ((rc = only(p, pm, (const char *const[]){"min_chars", "max_chars", "max_chars_with_dot", "surnames",
							     "compound_surnames", NULL})) ||
		    (rc = get_int(p, pm, "min_chars", 1, 10, 2, &mn)) || (rc = get_int(p, pm, "max_chars", mn, 10, mn > 4 ? mn : 4, &mx)) ||
		    (rc = get_int(p, pm, "max_chars_with_dot", mx, 30, 15, &md)) ||
		    (rc = get_str(l, p, pm, "surnames", true, 65536, &s)) ||
		    (rc = get_strs(l, p, pm, "compound_surnames", false, false, compound_surname, &list, &n)))
			return rc;
		d->min_chars = (int)mn;
		d->max_chars = (int)mx;
		d->max_chars_dot = (int)md;
		sub(q, sizeof q, p, "surnames");
		if ((rc = cpset_from_string(l, q, s, &d->set1)))
			return rc;
		const char **const lists[] = {list};
		dict_build(l, &d->dict, lists, &n, (const uint8_t[]){1}, 1);
		d->allowed = SH_HIGH;
		d->required = SH_HIGH;
		d->min_len = (size_t)(3 * mn);
		d->max_len = (size_t)(8 * md);
		return 0;
	}
	case K_DATE:
		if ((rc = only(p, pm, (const char *const[]){"min_year", "minors_age", "minors_min_count", "minors_basis",
							     NULL})) ||
		    (rc = get_int(p, pm, "min_year", 1800, 2100, 1900, &x)))
			return rc;
		d->min_year = (int)x;
		if ((rc = get_int(p, pm, "minors_age", 0, 30, 0, &x)))
			return rc;
		d->minors_age = (int)x;
		if ((rc = get_int(p, pm, "minors_min_count", 1, INT64_MAX, 1, &x)))
			return rc;
		d->minors_min_count = (uint64_t)x;
		if ((rc = get_str(l, p, pm, "minors_basis", d->minors_age > 0, 500, &d->minors_basis)))
			return rc;
		d->allowed = SH_DIGIT | SH_DASH | SH_SLASH | SH_DOT | SH_HIGH | SH_SPACE | SH_COLON | SH_UPPER;
		d->required = SH_DIGIT;
		d->min_len = 8;
		d->max_len = 40;
		return 0;
	case K_NUMBER:
		if ((rc = only(p, pm, (const char *const[]){"currency", "suffixes", "max_decimals", "thousands", "integers",
							     NULL})) ||
		    (rc = get_strs(l, p, pm, "currency", false, false, utf8_item, &d->strs, &d->nstrs)) ||
		    (rc = get_strs(l, p, pm, "suffixes", false, false, utf8_item, &d->strs2, &d->nstrs2)) ||
		    (rc = get_int(p, pm, "max_decimals", 0, 10, 2, &x)) ||
		    (rc = get_bool(p, pm, "thousands", false, true, &d->thousands)) ||
		    (rc = get_bool(p, pm, "integers", false, true, &d->integers)))
			return rc;
		d->max_decimals = (int)x;
		d->allowed = SH_DIGIT | SH_DOT | SH_COMMA | SH_DASH | SH_PLUS | SH_SPACE;
		for (size_t i = 0; i < d->nstrs; i++)
			d->allowed |= shape_of(r, d->strs[i]);
		for (size_t i = 0; i < d->nstrs2; i++)
			d->allowed |= shape_of(r, d->strs2[i]);
		d->required = SH_DIGIT;
		d->min_len = 1;
		d->max_len = 64;
		return 0;
	case K_COLUMN:
		return 0;
	default:
		return bad(p, "internal: unknown kind");
	}
}

static int params_for(ld *l, det *d, const char *p, const json_t *pm);

static int compile_params(ld *l, det *d, const char *p, const json_t *pm)
{
	int rc = params_for(l, d, p, pm);
	if (!rc) {
		d->lens = lengths(l, d->strs, d->nstrs);
		d->lens2 = lengths(l, d->strs2, d->nstrs2);
	}
	return rc;
}

static int parse_mask(const char *path, const json_t *o, tds_anon_mask *m)
{
	json_t *mo;
	int rc = get_obj(path, o, "mask", false, &mo);
	char p[256];
	sub(p, sizeof p, path, "mask");
	m->method = TDS_ANON_MASK_NONE;
	m->first = m->last = 0;
	if (rc || !mo)
		return rc;
	if ((rc = only(p, mo, (const char *const[]){"method", "first", "last", NULL})))
		return rc;
	const char *meth = tds_json_str(mo, "method", NULL);
	char pm[280];
	sub(pm, sizeof pm, p, "method");
	int i = parse_in(meth, MASK, TDS_ARRAY_LEN(MASK), 0);
	if (i < 0)
		return bad(pm, "must be one of none, keep, email, year, ip, suppress, hash");
	m->method = (tds_anon_mask_method)i;
	int64_t f, l;
	if ((rc = get_int(p, mo, "first", 0, 64, 0, &f)) || (rc = get_int(p, mo, "last", 0, 64, 0, &l)))
		return rc;
	if (m->method != TDS_ANON_MASK_KEEP && (json_object_get(mo, "first") || json_object_get(mo, "last")))
		return bad(p, "first and last belong to the keep method only");
	if (m->method == TDS_ANON_MASK_KEEP && f + l == 0)
		return bad(p, "keep needs first or last above 0 (use suppress to hide everything)");
	m->first = (int)f;
	m->last = (int)l;
	return 0;
}

static int keyword(const char *p, const char *s, size_t n)
{
	if (!tds_utf8_valid(s, n))
		return bad(p, "is not valid UTF-8");
	if (n > 100)
		return bad(p, "a keyword has at most 100 bytes");
	return 0;
}

static void lower_all(const char **a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (char *c = (char *)a[i]; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c + 32);
}

static int parse_detector(ld *l, const char *p, const json_t *o, det *d, bool *enabled)
{
	int rc;
	const char *s;
	char q[256];
	if (!json_is_object(o))
		return bad(p, "a detector must be an object");
	if ((rc = only(p, o, DET_MEMBERS)) || (rc = get_str(l, p, o, "id", true, 40, &d->id)))
		return rc;
	for (const char *c = d->id; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || anon_digit((unsigned char)*c) || *c == '_')) {
			sub(q, sizeof q, p, "id");
			return bad(q, "ids use lower-case letters, digits and '_' (\"resident_id\")");
		}
	if ((rc = get_str(l, p, o, "kind", true, 32, &s)))
		return rc;
	int k = -1;
	for (int i = 0; i < K_COUNT && k < 0; i++)
		if (strcmp(s, anon_kind_name((det_kind)i)) == 0)
			k = i;
	if (k < 0) {
		sub(q, sizeof q, p, "kind");
		return bad(q, "unknown kind '%.40s' (kinds: resident_id, uscc, bank_card, mobile, landline, template, email, "
			      "ipv4, ipv6, plate, masked, hex_token, terms, address, person_name, date, number, column)",
			   s);
	}
	d->kind = (det_kind)k;
	if ((rc = get_str(l, p, o, "name", true, 200, &d->name)) || (rc = get_str(l, p, o, "category", true, 32, &s)))
		return rc;
	if (tds_anon_category_parse(s, &d->category)) {
		sub(q, sizeof q, p, "category");
		return bad(q, "must be personal, enterprise, public_affairs or other");
	}
	if ((rc = get_bool(p, o, "pi", true, false, &d->pi)) || (rc = get_bool(p, o, "spi", true, false, &d->spi)) ||
	    (rc = get_str(l, p, o, "spi_basis", d->spi, 500, &d->spi_basis)) ||
	    (rc = get_str(l, p, o, "identifiability", true, 32, &s)))
		return rc;
	sub(q, sizeof q, p, "spi");
	if (d->spi && !d->pi)
		return bad(q, "sensitive personal information is personal information: set pi to true");
	sub(q, sizeof q, p, "identifiability");
	if (strcmp(s, "attribute") == 0) {
		d->ident = ID_ATTRIBUTE;
		if (!d->pi)
			return bad(q, "attribute (identifiability follows the table) applies to personal information only");
	} else {
		tds_anon_identifiability id;
		if (tds_anon_identifiability_parse(s, &id))
			return bad(q, "must be identified, pseudonymized, unlinked_pseudonymized, anonymized, aggregated, "
				      "not_personal or attribute");
		d->ident = (int)id;
		if (d->pi && id == TDS_ANON_ID_NOT_PERSONAL)
			return bad(q, "personal information cannot be not_personal");
		if (!d->pi && id >= TDS_ANON_ID_UNLINKED)
			return bad(q, "%s data is personal information: set pi to true", s);
	}
	if ((rc = get_str(l, p, o, "level", true, 8, &s)))
		return rc;
	sub(q, sizeof q, p, "level");
	if ((rc = level_parse(q, s, &d->level)) || (rc = parse_mask(p, o, &d->mask)) ||
	    (rc = get_strs(l, p, o, "context", false, false, keyword, &d->ctx, &d->nctx)) ||
	    (rc = get_strs(l, p, o, "context_exclude", false, false, keyword, &d->ctx_ex, &d->nctx_ex)) ||
	    (rc = get_bool(p, o, "requires_context", false, d->kind == K_COLUMN, &d->requires_context)) ||
	    (rc = get_bool(p, o, "exclusive", false, true, &d->exclusive)) ||
	    (rc = get_real(p, o, "min_hit_ratio", 0.0001, 1, l->r->min_ratio, &d->min_ratio)) ||
	    (rc = get_real(p, o, "context_min_hit_ratio", 0.0001, 1, l->r->ctx_min_ratio, &d->ctx_min_ratio)) ||
	    (rc = get_real(p, o, "confidence", 0, 1, 0.9, &d->confidence)) ||
	    (rc = get_bool(p, o, "enabled", false, true, enabled)))
		return rc;
	lower_all(d->ctx, d->nctx);
	lower_all(d->ctx_ex, d->nctx_ex);
	if ((d->requires_context || d->kind == K_COLUMN) && d->nctx == 0) {
		sub(q, sizeof q, p, "context");
		return bad(q, d->kind == K_COLUMN ? "a column detector needs column-name keywords"
						  : "requires_context needs column-name keywords");
	}
	if (d->kind == K_COLUMN && !d->requires_context) {
		sub(q, sizeof q, p, "requires_context");
		return bad(q, "a column detector always requires context");
	}
	json_t *pm = json_object_get(o, "params");
	sub(q, sizeof q, p, "params");
	if (pm && !json_is_object(pm))
		return bad(q, "must be an object");
	if (!pm && d->kind == K_COLUMN)
		return compile_params(l, d, q, NULL);
	json_t *empty = NULL;
	if (!pm)
		pm = empty = json_object();
	rc = compile_params(l, d, q, pm);
	json_decref(empty);
	return rc;
}

/* ------------------------------------------------------------------------------------------------
 * The file
 * ---------------------------------------------------------------------------------------------- */

static void init_shape(tds_anon_rules *r)
{
	for (int c = 0; c < 256; c++) {
		uint32_t s;
		if (c >= '0' && c <= '9')
			s = SH_DIGIT;
		else if (c >= 'A' && c <= 'Z')
			s = SH_UPPER;
		else if (c >= 'a' && c <= 'z')
			s = SH_LOWER;
		else if (c >= 0x80)
			s = SH_HIGH;
		else if (c < 0x20 && c != '\t')
			s = SH_CTRL;
		else if (c == 0x7f)
			s = SH_CTRL;
		else
			switch (c) {
			case '@': s = SH_AT; break;
			case '.': s = SH_DOT; break;
			case ':': s = SH_COLON; break;
			case '-': s = SH_DASH; break;
			case ' ':
			case '\t': s = SH_SPACE; break;
			case '+': s = SH_PLUS; break;
			case '(':
			case ')': s = SH_PAREN; break;
			case '*': s = SH_STAR; break;
			case '/': s = SH_SLASH; break;
			case ',': s = SH_COMMA; break;
			case '_': s = SH_UNDERSCORE; break;
			case '%': s = SH_PERCENT; break;
			case '<':
			case '>': s = SH_LTGT; break;
			default: s = SH_OTHER; break;
			}
		r->shape[c] = s;
	}
}

static int parse_levels(ld *l, const json_t *root)
{
	json_t *lv;
	int rc = get_obj("", root, "levels", true, &lv);
	if (rc || (rc = only("levels", lv, (const char *const[]){"L1", "L2", "L3", "L4", NULL})))
		return rc;
	tds_anon_grade prev = TDS_ANON_GRADE_GENERAL;
	for (int i = 1; i <= TDS_ANON_LEVEL_MAX; i++) {
		char key[4] = {'L', (char)('0' + i), 0}, p[32];
		json_t *e;
		if ((rc = get_obj("levels", lv, key, true, &e)))
			return rc;
		snprintf(p, sizeof p, "levels.%s", key);
		const char *g;
		if ((rc = only(p, e, (const char *const[]){"grade", "label", NULL})) ||
		    (rc = get_str(l, p, e, "grade", true, 32, &g)) ||
		    (rc = get_str(l, p, e, "label", false, 200, &l->r->level_label[i])))
			return rc;
		char pg[48];
		snprintf(pg, sizeof pg, "%s.grade", p);
		if (tds_anon_grade_parse(g, &l->r->grade[i]))
			return bad(pg, "must be general, important or core (一般, 重要, 核心)");
		if (l->r->grade[i] < prev)
			return bad(pg, "grades cannot decrease as levels rise (L%d has a higher grade)", i - 1);
		prev = l->r->grade[i];
	}
	return 0;
}

static int parse_defaults(ld *l, const json_t *root)
{
	tds_anon_rules *r = l->r;
	json_t *df;
	int rc = get_obj("", root, "defaults", false, &df);
	r->min_ratio = 0.8;
	r->ctx_min_ratio = 0.5;
	r->secondary_ratio = 0.05;
	r->context_bonus = 0.1;
	r->min_values = 1;
	r->default_level = 1;
	r->attr_ident = TDS_ANON_ID_UNLINKED;
	if (rc || !df)
		return rc;
	int64_t mv;
	const char *s;
	if ((rc = only("defaults", df,
		       (const char *const[]){"min_hit_ratio", "context_min_hit_ratio", "secondary_min_ratio", "min_values",
					     "context_bonus", "level", "attribute_identifiability", NULL})) ||
	    (rc = get_real("defaults", df, "min_hit_ratio", 0.0001, 1, 0.8, &r->min_ratio)) ||
	    (rc = get_real("defaults", df, "context_min_hit_ratio", 0.0001, 1, 0.5, &r->ctx_min_ratio)) ||
	    (rc = get_real("defaults", df, "secondary_min_ratio", 0.0001, 1, 0.05, &r->secondary_ratio)) ||
	    (rc = get_real("defaults", df, "context_bonus", 0, 1, 0.1, &r->context_bonus)) ||
	    (rc = get_int("defaults", df, "min_values", 1, INT64_MAX, 1, &mv)) ||
	    (rc = get_str(l, "defaults", df, "level", false, 8, &s)))
		return rc;
	r->min_values = (uint64_t)mv;
	if (s && (rc = level_parse("defaults.level", s, &r->default_level)))
		return rc;
	if ((rc = get_str(l, "defaults", df, "attribute_identifiability", false, 32, &s)))
		return rc;
	if (s) {
		tds_anon_identifiability id;
		if (tds_anon_identifiability_parse(s, &id) || id == TDS_ANON_ID_NOT_PERSONAL)
			return bad("defaults.attribute_identifiability",
				   "must be identified, pseudonymized, unlinked_pseudonymized, anonymized or aggregated");
		r->attr_ident = id;
	}
	return 0;
}

static int parse_escalations(ld *l, const json_t *root)
{
	json_t *e = json_object_get(root, "escalations");
	if (!e)
		return 0;
	if (!json_is_array(e))
		return bad("escalations", "must be an array");
	size_t n = json_array_size(e);
	if (n > 64)
		return bad("escalations", "at most 64 escalations");
	l->r->esc = tds_arena_alloc(l->a, (n + 1) * sizeof *l->r->esc);
	for (size_t i = 0; i < n; i++) {
		char p[48], q[64];
		snprintf(p, sizeof p, "escalations[%zu]", i);
		json_t *o = json_array_get(e, i);
		escalation *x = &l->r->esc[i];
		const char *when, *lvl;
		int64_t rows;
		int rc;
		if (!json_is_object(o))
			return bad(p, "must be an object");
		if ((rc = only(p, o, (const char *const[]){"when", "min_rows", "level", "reason", NULL})) ||
		    (rc = get_str(l, p, o, "when", true, 8, &when)) ||
		    (rc = get_int(p, o, "min_rows", 1, INT64_MAX, 0, &rows)) ||
		    (rc = get_str(l, p, o, "level", true, 8, &lvl)) ||
		    (rc = get_str(l, p, o, "reason", true, 500, &x->reason)))
			return rc;
		snprintf(q, sizeof q, "%s.when", p);
		if (strcmp(when, "spi") != 0 && strcmp(when, "pi") != 0)
			return bad(q, "must be \"spi\" or \"pi\"");
		x->spi = strcmp(when, "spi") == 0;
		snprintf(q, sizeof q, "%s.min_rows", p);
		if (!json_object_get(o, "min_rows"))
			return bad(q, "required member is missing");
		x->min_rows = (uint64_t)rows;
		snprintf(q, sizeof q, "%s.level", p);
		if ((rc = level_parse(q, lvl, &x->level)))
			return rc;
	}
	l->r->nesc = n;
	return 0;
}

static int parse_nulls(ld *l, const json_t *root)
{
	tds_anon_rules *r = l->r;
	int rc = get_strs(l, "", root, "null_values", false, false, keyword, &r->nulls, &r->nnulls);
	if (rc)
		return rc;
	r->null_len = tds_arena_alloc(l->a, (r->nnulls + 1) * sizeof *r->null_len);
	for (size_t i = 0; i < r->nnulls; i++) {
		r->null_len[i] = strlen(r->nulls[i]);
		if (r->null_len[i] < 32)
			r->null_lens |= 1u << r->null_len[i];
		if (r->null_len[i] > r->null_max)
			r->null_max = r->null_len[i];
	}
	return 0;
}

int tds_anon_rules_load(const char *json, size_t len, tds_anon_rules **out)
{
	*out = NULL;
	json_t *root;
	int rc = tds_json_parse(json, len, &root);
	if (rc) {
		char em[512];
		return tds_error_set(TDS_EINVAL, "invalid_anon_rules", "rules file: %s", ANON_ERRMSG(em));
	}
	tds_arena *a = tds_arena_new(64 * 1024);
	tds_anon_rules *r = tds_arena_alloc(a, sizeof *r);
	r->arena = a;
	init_shape(r);
	ld l = {r, a};
	const char *fmt;
	json_t *dets;
	if (!json_is_object(root)) {
		rc = bad("(top level)", "the rules file must be a JSON object");
		goto done;
	}
	if ((rc = only("(top level)", root,
		       (const char *const[]){"format", "version", "description", "levels", "defaults", "null_values",
					     "escalations", "detectors", NULL})) ||
	    (rc = get_str(&l, "", root, "format", true, 64, &fmt)))
		goto done;
	if (strcmp(fmt, "tds.anon.rules/1") != 0) {
		rc = bad("format", "must be \"tds.anon.rules/1\" (this TDS reads no other rules format)");
		goto done;
	}
	if ((rc = get_str(&l, "", root, "version", true, 100, &r->version)) ||
	    (rc = get_str(&l, "", root, "description", false, 4096, &fmt)) || (rc = parse_levels(&l, root)) ||
	    (rc = parse_defaults(&l, root)) || (rc = parse_nulls(&l, root)) || (rc = parse_escalations(&l, root)))
		goto done;
	dets = json_object_get(root, "detectors");
	if (!dets || !json_is_array(dets) || json_array_size(dets) == 0) {
		rc = bad("detectors", "must be a non-empty array of detectors");
		goto done;
	}
	if (json_array_size(dets) > TDS_ANON_MAX_DETECTORS) {
		rc = bad("detectors", "at most %d detectors", TDS_ANON_MAX_DETECTORS);
		goto done;
	}
	r->det = tds_arena_alloc(a, json_array_size(dets) * sizeof *r->det);
	for (size_t i = 0; i < json_array_size(dets); i++) {
		char p[32];
		snprintf(p, sizeof p, "detectors[%zu]", i);
		det *d = &r->det[r->ndet];
		bool enabled;
		if ((rc = parse_detector(&l, p, json_array_get(dets, i), d, &enabled)))
			goto done;
		for (size_t k = 0; k < r->ndet; k++)
			if (strcmp(r->det[k].id, d->id) == 0) {
				rc = bad(p, "id '%s' is used twice (also by an earlier detector)", d->id);
				goto done;
			}
		if (enabled)
			r->ndet++;
		else
			memset(d, 0, sizeof *d);
	}
	for (size_t ln = 0; ln < 256; ln++)
		for (size_t i = 0; i < r->ndet; i++)
			if (ln >= r->det[i].min_len && ln <= r->det[i].max_len)
				r->lenmask[ln] |= UINT64_C(1) << i;
done:
	json_decref(root);
	if (rc) {
		tds_arena_free(a);
		return rc;
	}
	*out = r;
	return 0;
}

int tds_anon_rules_load_file(const char *path, tds_anon_rules **out)
{
	*out = NULL;
	tds_buf b = TDS_BUF_INIT;
	int rc = tds_file_read(path, 64 * 1024 * 1024, &b);
	if (rc) {
		char em[512];
		tds_buf_free(&b);
		return tds_error_set(rc, "anon_rules_unreadable", "cannot read the rules file %s: %s", path, ANON_ERRMSG(em));
	}
	rc = tds_anon_rules_load(b.data ? b.data : "", b.len, out);
	tds_buf_free(&b);
	if (rc)
		return tds_error_wrap("%s: ", path);
	return 0;
}

int tds_anon_rules_load_default(tds_anon_rules **out, char *path, size_t cap)
{
	char p[4096];
	const char *env = getenv("TDS_ANON_RULES"), *src = getenv("TDS_SOURCE_DIR");
	if (env && *env)
		snprintf(p, sizeof p, "%s", env);
	else
		snprintf(p, sizeof p, "%s/rules/anon-rules.json",
#ifdef TDS_SOURCE_DIR
			 src && *src ? src : TDS_SOURCE_DIR
#else
			 src && *src ? src : "."
#endif
		);
	if (path && cap)
		snprintf(path, cap, "%s", p);
	return tds_anon_rules_load_file(p, out);
}

void tds_anon_rules_free(tds_anon_rules *r)
{
	if (r)
		tds_arena_free(r->arena);
}

const char *tds_anon_rules_version(const tds_anon_rules *r) { return r->version; }
size_t tds_anon_rules_count(const tds_anon_rules *r) { return r->ndet; }

const char *tds_anon_rules_detector_id(const tds_anon_rules *r, size_t i)
{
	return i < r->ndet ? r->det[i].id : NULL;
}

int tds_anon_rules_find(const tds_anon_rules *r, const char *id)
{
	for (size_t i = 0; id && i < r->ndet; i++)
		if (strcmp(r->det[i].id, id) == 0)
			return (int)i;
	return -1;
}

tds_anon_grade tds_anon_rules_grade(const tds_anon_rules *r, int level)
{
	if (level < TDS_ANON_LEVEL_MIN)
		level = TDS_ANON_LEVEL_MIN;
	if (level > TDS_ANON_LEVEL_MAX)
		level = TDS_ANON_LEVEL_MAX;
	return r->grade[level];
}
