/*
 * validators.c — the value validators behind every detector kind: check characters (GB 11643 MOD
 * 11-2, GB 32100, Luhn), number formats (mobile, landline, bank card), structured identifiers
 * (email, IPv4, IPv6, licence plates, templates, hex tokens), Chinese text (personal names,
 * addresses, term lists) and values (dates of birth, amounts). Not for deciding columns (scan.c)
 * nor for reading rules (rules.c): each function here looks at one value and the detector's
 * compiled parameters, and answers yes or no.
 *
 * Every validator is total: it reads exactly the n bytes it is given, never past them, needs no
 * terminator, allocates nothing and accepts any bytes (malformed UTF-8 simply does not match). They
 * are written for the scan's hot path: most reject on their first bytes.
 */
#include "anon/internal.h"

#include <time.h>

/* ------------------------------------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------------------------------- */

int anon_u8dec(const unsigned char *s, size_t n, uint32_t *cp)
{
	if (n == 0)
		return 0;
	unsigned c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		if (n < 2 || (s[1] & 0xc0) != 0x80)
			return 0;
		*cp = ((c & 0x1fu) << 6) | (s[1] & 0x3fu);
		return 2;
	}
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		uint32_t v = ((c & 0x0fu) << 12) | ((s[1] & 0x3fu) << 6) | (s[2] & 0x3fu);
		if (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))
			return 0;
		*cp = v;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		uint32_t v = ((c & 0x07u) << 18) | ((s[1] & 0x3fu) << 12) | ((s[2] & 0x3fu) << 6) | (s[3] & 0x3fu);
		if (v < 0x10000 || v > 0x10ffff)
			return 0;
		*cp = v;
		return 4;
	}
	return 0;
}

bool anon_is_han(uint32_t cp)
{
	return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0xf900 && cp <= 0xfaff) ||
	       (cp >= 0x20000 && cp <= 0x3134f);
}

static bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static bool valid_ymd(int y, int m, int d)
{
	static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= dim[m - 1] + (m == 2 && leap(y));
}

static int num(const unsigned char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* a[0..n) == b[0..n) for the short strings of the rules (inline: no library call per value) */
static inline bool eqn(const unsigned char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != (unsigned char)b[i])
			return false;
	return true;
}

static bool all_digits(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!anon_digit(s[i]))
			return false;
	return true;
}

static bool upper(unsigned char c) { return c >= 'A' && c <= 'Z'; }
static bool lower(unsigned char c) { return c >= 'a' && c <= 'z'; }
static bool alnum(unsigned char c) { return anon_digit(c) || upper(c) || lower(c); }
static bool hexd(unsigned char c) { return anon_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

int anon_today(int64_t now_ms)
{
	if (now_ms <= 0)
		now_ms = tds_now_ms();
	time_t t = (time_t)((now_ms + 8LL * 3600 * 1000) / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

/* ------------------------------------------------------------------------------------------------
 * Check characters
 * ---------------------------------------------------------------------------------------------- */

static const int ID_W[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};

bool tds_anon_gb11643_check(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	if (!s || n != 18)
		return false;
	int sum = 0;
	for (int i = 0; i < 17; i++) {
		if (!anon_digit(s[i]))
			return false;
		sum += (s[i] - '0') * ID_W[i];
	}
	unsigned char c = s[17] == 'x' ? 'X' : s[17];
	return c == (unsigned char)"10X98765432"[sum % 11];
}

/* GB 32100: value of each character (index in this string), -1 otherwise */
static const char USCC_CHARS[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
static const int USCC_W[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};

static int uscc_value(unsigned char c)
{
	if (anon_digit(c))
		return c - '0';
	if (!upper(c))
		return -1;
	const char *p = memchr(USCC_CHARS + 10, c, sizeof USCC_CHARS - 11);
	return p ? (int)(p - USCC_CHARS) : -1;
}

bool tds_anon_gb32100_check(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	if (!s || n != 18)
		return false;
	int sum = 0;
	for (int i = 0; i < 17; i++) {
		int v = uscc_value(s[i]);
		if (v < 0)
			return false;
		sum += v * USCC_W[i];
	}
	int c = uscc_value(s[17]);
	return c >= 0 && c == (31 - sum % 31) % 31;
}

bool tds_anon_luhn_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	if (!s || n < 2)
		return false;
	static const unsigned char dbl[10] = {0, 2, 4, 6, 8, 1, 3, 5, 7, 9}; /* 2d, digits summed */
	unsigned sum = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)s[n - 1 - i] - '0';
		if (d > 9)
			return false;
		sum += (i & 1) ? dbl[d] : d;
	}
	return sum % 10 == 0;
}

/* ------------------------------------------------------------------------------------------------
 * Identity numbers
 * ---------------------------------------------------------------------------------------------- */

/* GB 11643 (18 characters: region, birth date, sequence, check) and the first-generation 15-digit
 * number (region, YYMMDD of the 1900s, sequence; no check character). */
static bool match_resident_id(const det *d, const vctx *c, const unsigned char *v, size_t n)
{
	int y, m, dd;
	if (n == 18) {
		if (!tds_anon_gb11643_check((const char *)v, n))
			return false;
		y = num(v + 6, 4);
		m = num(v + 10, 2);
		dd = num(v + 12, 2);
	} else if (n == 15 && d->accept15) {
		if (!all_digits(v, 15))
			return false;
		y = 1900 + num(v + 6, 2);
		m = num(v + 8, 2);
		dd = num(v + 10, 2);
	} else {
		return false;
	}
	if (!d->region[num(v, 2)])
		return false;
	return y >= d->min_year && valid_ymd(y, m, dd) && y * 10000 + m * 100 + dd <= c->today;
}

/* GB 32100: registration authority, a region code in characters 3-8, the check character. */
static bool match_uscc(const det *d, const unsigned char *v, size_t n)
{
	if (n != 18 || !d->authority[v[0]] || !all_digits(v + 2, 6) || !d->region[num(v + 2, 2)])
		return false;
	return tds_anon_gb32100_check((const char *)v, n);
}

/* 16-19 digits (optionally in groups of 4 separated by one kind of space or dash), an issuer
 * prefix from the rules, and the Luhn check digit. */
static bool match_bank_card(const det *d, const unsigned char *v, size_t n)
{
	char dg[20];
	size_t k = 0, group = 0;
	unsigned char sep = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = v[i];
		if (anon_digit(ch)) {
			if (k == 19)
				return false;
			dg[k++] = (char)ch;
			group++;
		} else if (ch == ' ' || ch == '-') {
			if (group != 4 || (sep && ch != sep))
				return false;
			sep = ch;
			group = 0;
		} else {
			return false;
		}
	}
	if (group == 0 || !d->len_ok[k])
		return false;
	bool bin = false;
	for (size_t i = 0; i < d->nstrs && !bin; i++)
		bin = d->lens[i] <= k && eqn((const unsigned char *)dg, d->strs[i], d->lens[i]);
	return bin && tds_anon_luhn_valid(dg, k);
}

/* Mobile: optional country code (+86, 0086, 86) and separator, then 11 digits 1[3-9]…, written
 * whole or as 3-4-4 with one kind of space or dash. */
static bool match_mobile(const det *d, const unsigned char *v, size_t n)
{
	size_t p = 0;
	for (size_t i = 0; i < d->nstrs; i++) {
		size_t l = d->lens[i];
		if (l < n && eqn(v, d->strs[i], l)) {
			p = l;
			if (v[p] == ' ' || v[p] == '-')
				p++;
			break;
		}
	}
	char dg[11];
	size_t k = 0;
	unsigned char sep = 0;
	for (size_t i = p; i < n; i++) {
		unsigned char ch = v[i];
		if (anon_digit(ch)) {
			if (k == 11)
				return false;
			dg[k++] = (char)ch;
		} else if ((ch == ' ' || ch == '-') && i > p && anon_digit(v[i - 1]) &&
			   ((k == 3 && !sep) || (k == 7 && sep == ch))) {
			sep = ch;
		} else {
			return false;
		}
	}
	if (k != 11 || (sep && !anon_digit(v[n - 1])))
		return false;
	if (sep) { /* both separators present */
		size_t seps = 0;
		for (size_t i = p; i < n; i++)
			seps += v[i] == sep;
		if (seps != 2)
			return false;
	}
	return dg[0] == '1' && d->prefix2[(dg[0] - '0') * 10 + (dg[1] - '0')];
}

/* Area code: "0" + a three-digit-area pair from the rules (010, 02x), or "0" + 3 digits whose first
 * is an allowed four-digit-area digit. */
static int area_len(const det *d, const unsigned char *v, size_t n)
{
	if (n < 3 || v[0] != '0' || !anon_digit(v[1]) || !anon_digit(v[2]))
		return 0;
	if (d->prefix2[num(v + 1, 2)])
		return 3;
	if (n >= 4 && anon_digit(v[3]) && d->first_digit[v[1] - '0'])
		return 4;
	return 0;
}

/* Landline: (0AA)NNNNNNNN, 0AA-NNNNNNNN, 0AAA NNNNNNN, 0AANNNNNNNN …, with an optional -extension
 * after a separated form. Subscriber numbers have 7-8 digits and start with 2-9; three-digit areas
 * have 8-digit subscribers. */
static bool match_landline(const det *d, const unsigned char *v, size_t n)
{
	size_t i = 0;
	bool paren = n > 0 && v[0] == '(';
	if (paren)
		i = 1;
	int al = area_len(d, v + i, n - i);
	if (!al)
		return false;
	size_t sub = i + (size_t)al; /* start of the subscriber number */
	if (paren) {
		if (sub >= n || v[sub] != ')')
			return false;
		sub++;
		if (sub < n && (v[sub] == ' ' || v[sub] == '-'))
			sub++;
	} else if (sub < n && (v[sub] == ' ' || v[sub] == '-')) {
		sub++;
	} else { /* all digits: the area length decides where the subscriber starts */
		if (!all_digits(v, n))
			return false;
		size_t sl = n - (size_t)al;
		return (al == 3 ? sl == 8 : (sl == 7 || sl == 8)) && v[al] >= '2';
	}
	size_t e = sub;
	while (e < n && anon_digit(v[e]))
		e++;
	size_t sl = e - sub;
	if (!(al == 3 ? sl == 8 : (sl == 7 || sl == 8)) || v[sub] < '2')
		return false;
	if (e == n)
		return true;
	if (v[e] != '-' || n - e - 1 < 1 || n - e - 1 > 6)
		return false;
	return all_digits(v + e + 1, n - e - 1);
}

/* ------------------------------------------------------------------------------------------------
 * Structured identifiers
 * ---------------------------------------------------------------------------------------------- */

static bool match_template(const det *d, const unsigned char *v, size_t n)
{
	for (size_t t = 0; t < d->ntmpls; t++) {
		const tmpl *tp = &d->tmpls[t];
		if (tp->n != n)
			continue;
		size_t j = 0;
		for (; j < n; j++) {
			unsigned char ch = v[j];
			uint16_t u = tp->u[j];
			unsigned lit = u & 0xff;
			switch (u >> 8) {
			case T_LIT:
				if (ch != lit)
					goto next;
				break;
			case T_DIGIT:
				if (!anon_digit(ch))
					goto next;
				break;
			case T_UPPER:
				if (!upper(ch))
					goto next;
				break;
			default: /* T_UPPER_NO_IO */
				if (!upper(ch) || ch == 'I' || ch == 'O')
					goto next;
				break;
			}
		}
		return true;
next:;
	}
	return false;
}

static bool email_local_char(unsigned char c)
{
	return alnum(c) || (c && strchr("!#$%&'+/=?^_`{|}~.-", c)); /* no '*': masked values */
}

/* RFC 5321 shapes, ASCII: local part of 1-64 characters without leading, trailing or doubled dots;
 * a domain of at least two labels (1-63 letters, digits, hyphens, not at a label's ends) whose last
 * label is alphabetic with at least 2 letters; at most 254 bytes in all. */
static bool match_email(const unsigned char *v, size_t n)
{
	if (n < 6 || n > 254)
		return false;
	const unsigned char *at = memchr(v, '@', n);
	if (!at)
		return false;
	size_t ll = (size_t)(at - v);
	if (ll < 1 || ll > 64 || v[0] == '.' || v[ll - 1] == '.')
		return false;
	for (size_t i = 0; i < ll; i++)
		if (!email_local_char(v[i]) || (v[i] == '.' && v[i + 1] == '.'))
			return false;
	const unsigned char *dm = at + 1;
	size_t dl = n - ll - 1, labels = 0, start = 0;
	if (dl < 4)
		return false;
	for (size_t i = 0; i <= dl; i++) {
		if (i == dl || dm[i] == '.') {
			size_t len = i - start;
			if (len < 1 || len > 63 || dm[start] == '-' || dm[i - 1] == '-')
				return false;
			labels++;
			if (i == dl) { /* top-level label */
				if (len < 2)
					return false;
				for (size_t j = start; j < i; j++)
					if (!upper(dm[j]) && !lower(dm[j]))
						return false;
			}
			start = i + 1;
		} else if (!alnum(dm[i]) && dm[i] != '-') {
			return false;
		}
	}
	return labels >= 2;
}

/* Dotted decimal, four parts 0-255, no leading zeros. */
static bool match_ipv4(const unsigned char *v, size_t n)
{
	if (n < 7 || n > 15)
		return false;
	int parts = 0;
	size_t i = 0;
	while (i <= n) {
		size_t s = i;
		int val = 0;
		while (i < n && anon_digit(v[i]) && i - s < 3)
			val = val * 10 + (v[i++] - '0');
		size_t len = i - s;
		if (len == 0 || val > 255 || (len > 1 && v[s] == '0'))
			return false;
		parts++;
		if (i == n)
			break;
		if (v[i] != '.' || parts == 4)
			return false;
		i++;
	}
	return parts == 4;
}

/* RFC 4291 §2.2 text forms: eight groups of 1-4 hex digits, one "::" standing for one or more
 * zero groups, an optional dotted IPv4 tail counting as two groups. No zone index, no brackets. */
static bool match_ipv6(const unsigned char *v, size_t n)
{
	if (n < 2 || n > 45)
		return false;
	int groups = 0, dc = -1;
	size_t i = 0;
	if (v[0] == ':') {
		if (v[1] != ':')
			return false;
		dc = 0;
		i = 2;
		if (i == n)
			return true;
	}
	for (;;) {
		size_t s = i;
		while (i < n && hexd(v[i]) && i - s < 5)
			i++;
		if (i - s == 0)
			return false;
		if (i < n && v[i] == '.') { /* IPv4 tail */
			if (groups > 6 || !match_ipv4(v + s, n - s))
				return false;
			groups += 2;
			break;
		}
		if (i - s > 4)
			return false;
		groups++;
		if (i == n)
			break;
		if (v[i] != ':' || groups == 8)
			return false;
		i++;
		if (i < n && v[i] == ':') {
			if (dc >= 0)
				return false;
			dc = groups;
			i++;
			if (i == n)
				break;
		} else if (i == n) {
			return false;
		}
	}
	return dc >= 0 ? groups <= 7 : groups == 8;
}

static bool plate_serial(unsigned char c) { return anon_digit(c) || (upper(c) && c != 'I' && c != 'O'); }

/* GA 36-2018 shapes: province abbreviation, issuing-authority letter, optional separator (· or a
 * space or hyphen), then 5 serial characters (digits and letters other than I and O), 4 and a
 * suffix character (学, 警, 挂 …), or 6 for new-energy vehicles (D/F + 5, or 5 digits + D/F). */
static bool match_plate(const det *d, const unsigned char *v, size_t n)
{
	uint32_t cp;
	int l = anon_u8dec(v, n, &cp);
	if (!l || !cpset_has(&d->set1, cp))
		return false;
	size_t i = (size_t)l;
	if (i >= n || !upper(v[i]) || v[i] == 'I')
		return false;
	i++;
	if (i + 2 <= n && v[i] == 0xc2 && v[i + 1] == 0xb7)
		i += 2;
	else if (i < n && (v[i] == ' ' || v[i] == '-'))
		i++;
	const unsigned char *r = v + i;
	size_t k = 0;
	while (i + k < n && r[k] < 0x80) {
		if (!plate_serial(r[k]))
			return false;
		k++;
	}
	if (i + k < n) { /* suffix character */
		int sl = anon_u8dec(r + k, n - i - k, &cp);
		if (!sl || i + k + (size_t)sl != n || !cpset_has(&d->set2, cp) || k != 4)
			return false;
		return true;
	}
	if (k == 5)
		return true;
	if (k != 6)
		return false;
	if ((r[0] == 'D' || r[0] == 'F') && all_digits(r + 2, 4))
		return true;
	return all_digits(r, 5) && (r[5] == 'D' || r[5] == 'F');
}

/* Values masked by someone already: stars hiding part of a value, with something left visible. */
static bool match_masked(const det *d, const unsigned char *v, size_t n)
{
	int stars = 0;
	size_t shown = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '*')
			stars++;
		else if (alnum(v[i]) || v[i] >= 0x80)
			shown++;
		else if (v[i] < 0x20 || v[i] == 0x7f)
			return false;
	}
	return stars >= d->min_stars && shown > 0;
}

/* Hex digests of the configured lengths (one letter case, at least one digit and one letter) and
 * RFC 9562 UUIDs. */
static bool match_hex_token(const det *d, const unsigned char *v, size_t n)
{
	if (d->uuid && n == 36) {
		for (size_t i = 0; i < 36; i++) {
			bool dash = i == 8 || i == 13 || i == 18 || i == 23;
			if (dash ? v[i] != '-' : !hexd(v[i]))
				return false;
		}
		return true;
	}
	if (n > 128 || !d->len_ok[n])
		return false;
	bool lo = false, up = false, dig = false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = v[i];
		if (anon_digit(ch))
			dig = true;
		else if (ch >= 'a' && ch <= 'f')
			lo = true;
		else if (ch >= 'A' && ch <= 'F')
			up = true;
		else
			return false;
	}
	return dig && (lo != up);
}

/* ------------------------------------------------------------------------------------------------
 * Chinese text
 * ---------------------------------------------------------------------------------------------- */

static unsigned char lower_ascii(unsigned char c) { return upper(c) ? (unsigned char)(c + 32) : c; }

/* Longest term of bucket-key cp starting at v[0..n); see termdict_match_at. */
static inline size_t dict_at(const termdict *d, const unsigned char *v, size_t n, uint32_t cp, unsigned char prev,
			     uint8_t *cls)
{
	uint32_t i = cp_hash(cp) & d->mask;
	while (d->b[i].key != cp) {
		if (d->b[i].key == 0)
			return 0;
		i = (i + 1) & d->mask;
	}
	const term *t = d->terms + d->b[i].start;
	for (uint32_t k = 0; k < d->b[i].count; k++, t++) { /* longest first */
		if (t->len > n)
			continue;
		size_t j = 0; /* the key says the first characters decode alike; the bytes must be alike too */
		if (t->fold)
			while (j < t->len && lower_ascii(v[j]) == (unsigned char)t->s[j])
				j++;
		else
			while (j < t->len && v[j] == (unsigned char)t->s[j])
				j++;
		if (j < t->len)
			continue;
		if (t->ascii_alpha_start && (upper(prev) || lower(prev)))
			continue;
		if (t->ascii_alpha_end && t->len < n && (upper(v[t->len]) || lower(v[t->len])))
			continue;
		*cls = t->cls;
		return t->len;
	}
	return 0;
}

size_t termdict_match_at(const termdict *d, const unsigned char *v, size_t n, uint32_t cp, unsigned char prev,
			 uint8_t *cls)
{
	if (!d->b || n == 0)
		return 0;
	if (cp < 0x80)
		cp = lower_ascii((unsigned char)cp);
	if (cp < 65536 && !(d->first[cp >> 3] >> (cp & 7) & 1))
		return 0;
	uint32_t dcp;
	int l = anon_u8dec(v, n, &dcp);
	if (!l || (dcp < 0x80 ? lower_ascii((unsigned char)dcp) : dcp) != cp) /* cp must be v's first character */
		return 0;
	return dict_at(d, v, n, cp, prev, cls);
}

/* Walks v with the dictionary, longest match first, skipping matched terms, and counts matches by
 * class (bits 0-3). Stops at the first match when `need` is NULL, or as soon as need(counts) says
 * enough. Returns the number of matches seen; malformed bytes match nothing. */
typedef bool (*dict_need)(const int counts[4]);

static int dict_scan(const termdict *d, const unsigned char *v, size_t n, int counts[4], dict_need need)
{
	size_t i = 0;
	int found = 0;
	if (!d->b)
		return 0;
	while (i < n) {
		uint32_t cp;
		int l;
		unsigned char c0 = v[i];
		if (c0 < 0x80) {
			cp = c0 >= 'A' && c0 <= 'Z' ? c0 + 32u : c0;
			l = 1;
		} else if ((c0 & 0xf0) == 0xe0 && i + 2 < n) {
			/* the common case, a three-byte character. No validation here: a key from malformed
			 * bytes can only lead to a byte comparison that fails. */
			cp = ((c0 & 0x0fu) << 12) | ((v[i + 1] & 0x3fu) << 6) | (v[i + 2] & 0x3fu);
			l = 3;
		} else if (!(l = anon_u8dec(v + i, n - i, &cp))) {
			i++; /* a malformed byte matches nothing */
			continue;
		}
		if (cp >= 65536 || (d->first[cp >> 3] >> (cp & 7) & 1)) {
			uint8_t cls = 0;
			size_t m = dict_at(d, v + i, n - i, cp, i ? v[i - 1] : 0, &cls);
			if (m) {
				found++;
				for (int b = 0; b < 4; b++)
					counts[b] += (cls >> b) & 1;
				if (!need || need(counts))
					return found;
				i += m;
				continue;
			}
		}
		i += (size_t)l;
	}
	return found;
}

static bool match_terms(const det *d, const unsigned char *v, size_t n)
{
	if (d->exact) {
		uint32_t cp;
		uint8_t cls;
		return anon_u8dec(v, n, &cp) && termdict_match_at(&d->dict, v, n, cp, 0, &cls) == n;
	}
	int counts[4] = {0, 0, 0, 0};
	return dict_scan(&d->dict, v, n, counts, NULL) > 0;
}

/* the address rule's first half: a street-level word with an administrative word or province */
static bool address_enough(const int c[4]) { return c[2] >= 1 && c[0] + c[1] >= 1; }

/* Characters in v[0..n): bytes that are not UTF-8 continuation bytes, eight at a time. */
static size_t count_chars(const unsigned char *v, size_t n)
{
	size_t cont = 0, i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, v + i, 8);
		uint64_t t = (w & ~(w << 1) & UINT64_C(0x8080808080808080)) >> 7; /* 1 per 10xxxxxx byte */
		cont += (size_t)((t * UINT64_C(0x0101010101010101)) >> 56);     /* sum of the eight bytes */
	}
	for (; i < n; i++)
		cont += (v[i] & 0xc0) == 0x80;
	return n - cont;
}

/* Address: at least min_chars characters and a street-level word (路, 街, 村, 小区 …), with either
 * an administrative word or province name (省, 市, 区 …, 广东) or a building word (号, 栋, 室 …) and
 * a digit. A building word alone is not enough: document numbers end in 号 too (京政发〔2020〕5号). */
static bool match_address(const det *d, const unsigned char *v, size_t n)
{
	int counts[4] = {0, 0, 0, 0}; /* province, admin, street, building */
	if (count_chars(v, n) < (size_t)d->min_chars)
		return false;
	dict_scan(&d->dict, v, n, counts, address_enough);
	if (address_enough(counts))
		return true;
	if (counts[2] < 1 || counts[3] < 1)
		return false;
	for (size_t i = 0; i < n; i++)
		if (anon_digit(v[i]))
			return true;
	return false;
}

static bool name_dot(uint32_t cp) { return cp == 0xb7 || cp == 0x2022 || cp == 0x30fb || cp == 0xff0e; }

/* 2-4 Han characters starting with a surname from the rules (single or compound); or a
 * transliterated name: Han parts joined by a middle dot (艾力·买买提), at most max_chars_dot in all. */
static bool match_person_name(const det *d, const unsigned char *v, size_t n)
{
	uint32_t first = 0, second = 0;
	int chars = 0, dots = 0;
	bool prev_dot = true;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		int l = anon_u8dec(v + i, n - i, &cp);
		if (!l)
			return false;
		if (name_dot(cp)) {
			if (prev_dot)
				return false;
			dots++;
			prev_dot = true;
		} else if (anon_is_han(cp)) {
			if (chars == 0)
				first = cp;
			else if (chars == 1)
				second = cp;
			chars++;
			prev_dot = false;
			if (chars > d->max_chars_dot)
				return false;
		} else {
			return false;
		}
		i += (size_t)l;
	}
	if (dots)
		return !prev_dot && chars >= 2;
	if (chars < d->min_chars || chars > d->max_chars)
		return false;
	if (cpset_has(&d->set1, first))
		return true;
	if (chars < 3 || !d->dict.b)
		return false;
	unsigned char pair[8];
	size_t pl = 0;
	for (int k = 0; k < 2; k++) { /* re-encode the first two characters */
		uint32_t cp = k ? second : first;
		if (cp < 0x10000) {
			pair[pl++] = (unsigned char)(0xe0 | (cp >> 12));
			pair[pl++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
			pair[pl++] = (unsigned char)(0x80 | (cp & 0x3f));
		} else {
			pair[pl++] = (unsigned char)(0xf0 | (cp >> 18));
			pair[pl++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
			pair[pl++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
			pair[pl++] = (unsigned char)(0x80 | (cp & 0x3f));
		}
	}
	uint8_t cls;
	return termdict_match_at(&d->dict, pair, pl, first, 0, &cls) == pl;
}

/* ------------------------------------------------------------------------------------------------
 * Values
 * ---------------------------------------------------------------------------------------------- */

/* Reads 1-2 digits at v[*i]. */
static int digits12(const unsigned char *v, size_t n, size_t *i)
{
	if (*i >= n || !anon_digit(v[*i]))
		return -1;
	int x = v[(*i)++] - '0';
	if (*i < n && anon_digit(v[*i]))
		x = x * 10 + (v[(*i)++] - '0');
	return x;
}

static bool has(const unsigned char *v, size_t n, size_t i, const char *lit)
{
	size_t l = strlen(lit);
	return i + l <= n && memcmp(v + i, lit, l) == 0;
}

/* Dates: YYYY-MM-DD, YYYY/M/D, YYYY.MM.DD, YYYYMMDD, YYYY年M月D日, each optionally followed by a
 * time (" HH:MM[:SS[.fff]]" or "T…"). A real calendar day from min_year to today. */
static bool match_date(const det *d, const vctx *c, const unsigned char *v, size_t n, bool *minor)
{
	if (n < 8 || !all_digits(v, 4))
		return false;
	int y = num(v, 4), m, dd;
	size_t i;
	if (all_digits(v + 4, 4) && (n == 8 || !anon_digit(v[8]))) {
		m = num(v + 4, 2);
		dd = num(v + 6, 2);
		i = 8;
	} else if (v[4] == '-' || v[4] == '/' || v[4] == '.') {
		unsigned char sep = v[4];
		i = 5;
		if ((m = digits12(v, n, &i)) < 0 || i >= n || v[i] != sep)
			return false;
		i++;
		if ((dd = digits12(v, n, &i)) < 0)
			return false;
	} else if (has(v, n, 4, "年")) {
		i = 7;
		if ((m = digits12(v, n, &i)) < 0 || !has(v, n, i, "月"))
			return false;
		i += 3;
		if ((dd = digits12(v, n, &i)) < 0)
			return false;
		if (has(v, n, i, "日"))
			i += 3;
	} else {
		return false;
	}
	if (i < n) { /* time of day */
		if (v[i] != ' ' && v[i] != 'T')
			return false;
		i++;
		int hh = digits12(v, n, &i);
		if (hh < 0 || hh > 23 || i + 3 > n || v[i] != ':' || !all_digits(v + i + 1, 2) || num(v + i + 1, 2) > 59)
			return false;
		i += 3;
		if (i < n) {
			if (i + 3 > n || v[i] != ':' || !all_digits(v + i + 1, 2) || num(v + i + 1, 2) > 60)
				return false;
			i += 3;
			if (i < n) {
				if (v[i] != '.' || i + 1 == n || !all_digits(v + i + 1, n - i - 1) || n - i - 1 > 9)
					return false;
			}
		}
	}
	if (y < d->min_year || !valid_ymd(y, m, dd))
		return false;
	int ymd = y * 10000 + m * 100 + dd;
	if (ymd > c->today)
		return false;
	if (d->minors_age > 0 && ymd + d->minors_age * 10000 > c->today)
		*minor = true;
	return true;
}

/* Numbers: [sign] [currency [space]] digits (grouped by thousands or not, no leading zeros)
 * [.decimals] [[space] suffix]. */
static bool match_number(const det *d, const unsigned char *v, size_t n)
{
	size_t i = 0;
	if (i < n && (v[i] == '-' || v[i] == '+'))
		i++;
	for (size_t k = 0; k < d->nstrs; k++) {
		size_t l = d->lens[k];
		if (i + l <= n && eqn(v + i, d->strs[k], l)) {
			i += l;
			if (i < n && v[i] == ' ')
				i++;
			if (i < n && (v[i] == '-' || v[i] == '+') && i > 0 && v[0] != '-' && v[0] != '+')
				i++;
			break;
		}
	}
	size_t s = i;
	while (i < n && anon_digit(v[i]))
		i++;
	size_t g = i - s;
	if (g == 0 || (g > 1 && v[s] == '0'))
		return false;
	if (i < n && v[i] == ',') {
		if (!d->thousands || g > 3)
			return false;
		while (i < n && v[i] == ',') {
			if (i + 4 > n || !all_digits(v + i + 1, 3))
				return false;
			i += 4;
		}
		if (i < n && anon_digit(v[i]))
			return false;
	}
	bool decimals = false;
	if (i < n && v[i] == '.') {
		size_t ds = ++i;
		while (i < n && anon_digit(v[i]))
			i++;
		if (i == ds || (int)(i - ds) > d->max_decimals)
			return false;
		decimals = true;
	}
	if (!decimals && !d->integers)
		return false;
	if (i == n)
		return true;
	if (v[i] == ' ')
		i++;
	for (size_t k = 0; k < d->nstrs2; k++)
		if (n - i == d->lens2[k] && eqn(v + i, d->strs2[k], d->lens2[k]))
			return true;
	return false;
}

/* ------------------------------------------------------------------------------------------------
 * Dispatch
 * ---------------------------------------------------------------------------------------------- */

bool anon_match(const det *d, const vctx *c, const unsigned char *v, size_t n, bool *minor)
{
	switch (d->kind) {
	case K_RESIDENT_ID: return match_resident_id(d, c, v, n);
	case K_USCC: return match_uscc(d, v, n);
	case K_BANK_CARD: return match_bank_card(d, v, n);
	case K_MOBILE: return match_mobile(d, v, n);
	case K_LANDLINE: return match_landline(d, v, n);
	case K_TEMPLATE: return match_template(d, v, n);
	case K_EMAIL: return match_email(v, n);
	case K_IPV4: return match_ipv4(v, n);
	case K_IPV6: return match_ipv6(v, n);
	case K_PLATE: return match_plate(d, v, n);
	case K_MASKED: return match_masked(d, v, n);
	case K_HEX_TOKEN: return match_hex_token(d, v, n);
	case K_TERMS: return match_terms(d, v, n);
	case K_ADDRESS: return match_address(d, v, n);
	case K_PERSON_NAME: return match_person_name(d, v, n);
	case K_DATE: return match_date(d, c, v, n, minor);
	case K_NUMBER: return match_number(d, v, n);
	default: return false;
	}
}

static const char *const KIND_NAMES[K_COUNT] = {
    "resident_id", "uscc", "bank_card", "mobile", "landline", "template", "email", "ipv4", "ipv6",
    "plate", "masked", "hex_token", "terms", "address", "person_name", "date", "number", "column"};

static const char *const KIND_MEANINGS[K_COUNT] = {
    "pass GB 11643 (check character, real birth date, province code)",
    "pass GB 32100 (check character, registration authority, region code)",
    "pass the Luhn check with an issuer prefix",
    "are mobile numbers (1[3-9] and 11 digits)",
    "are landline numbers (area code and subscriber number)",
    "match one of the detector's templates",
    "are email addresses",
    "are IPv4 addresses",
    "are IPv6 addresses",
    "are licence plates (GA 36 formats)",
    "are already masked",
    "are hex digests or UUIDs",
    "contain a listed term",
    "are addresses (administrative and street words)",
    "are personal names (surname and 2-4 characters)",
    "are dates in the past",
    "are numbers in the detector's formats",
    "(column name only)"};

const char *anon_kind_name(det_kind k) { return k < K_COUNT ? KIND_NAMES[k] : NULL; }
const char *anon_kind_meaning(det_kind k) { return k < K_COUNT ? KIND_MEANINGS[k] : ""; }

int anon_context_match(const char *const *kw, size_t nkw, const char *name)
{
	if (!name || !*name)
		return -1;
	char low[512];
	size_t n = strlen(name);
	if (n >= sizeof low)
		n = sizeof low - 1;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)lower_ascii((unsigned char)name[i]);
	low[n] = 0;
	for (size_t k = 0; k < nkw; k++) {
		const char *w = kw[k];
		size_t wl = strlen(w);
		if (!wl)
			continue;
		bool a0 = lower((unsigned char)w[0]), a1 = lower((unsigned char)w[wl - 1]);
		for (const char *p = strstr(low, w); p; p = strstr(p + 1, w)) {
			if (a0 && p > low && lower((unsigned char)p[-1]))
				continue;
			if (a1 && lower((unsigned char)p[wl]))
				continue;
			return (int)k;
		}
	}
	return -1;
}
