/*
 * codes.c — validators of the identity codes that come from outside: the unified social credit code
 * (统一社会信用代码, GB 32100-2015), the resident identity number (公民身份号码, GB 11643-1999, ISO 7064
 * MOD 11-2), calendar dates of certificates, document hashes, qualification type names and the role
 * requirements spec. Pure functions: no database, no allocation, total over any bytes (each has a fuzz
 * target, tests/fuzz/fuzz_identity_codes.c). Error messages never echo a code or number back: they
 * are personal or business data, and messages end up in logs.
 *
 * Check characters detect every single-character substitution: 31 and 11 are prime and no weight is
 * a multiple of them, so changing one character changes the weighted sum by a non-zero residue.
 * Known limitation: a few codes issued in early pilot regions before GB 32100 (e.g. some Fujian codes
 * of 2015) carry a check character the standard's algorithm does not give; they are refused here like
 * any other mistyped code, and such an organisation needs its corrected code.
 */
#include "anon/anon.h"
#include "identity/internal.h"

#include <string.h>
#include <time.h>

#define BEIJING_OFFSET_MS (8LL * 3600 * 1000)

/* ---- unified social credit code ---- */

static const char USCC_CHARS[] = "0123456789ABCDEFGHJKLMNPQRTUWXY"; /* value = index, 31 characters */

static int uscc_value(unsigned char c)
{
	if (c == 0)
		return -1;
	const char *p = memchr(USCC_CHARS, c, sizeof USCC_CHARS - 1);
	return p ? (int)(p - USCC_CHARS) : -1;
}

static int bad_uscc(const char *fmt, size_t pos)
{
	return tds_error_set(TDS_EINVAL, "invalid_uscc", fmt, pos);
}

int tds_identity_check_uscc(const char *s, size_t len)
{
	if (!s || len != 18)
		return tds_error_set(TDS_EINVAL, "invalid_uscc",
				     "a unified social credit code (统一社会信用代码) has exactly 18 characters, this one has %zu",
				     s ? len : 0);
	for (size_t i = 0; i < 18; i++) {
		unsigned char c = (unsigned char)s[i];
		int v = uscc_value(c);
		if (v < 0) {
			if (c >= 'a' && c <= 'z')
				return bad_uscc("character %zu of the unified social credit code is a lower-case letter: "
						"write the code in upper case",
						i + 1);
			return bad_uscc("character %zu of the unified social credit code is not allowed: codes use only "
					"0-9 and the letters A-H J-N P-R T-U W-Y (never I, O, S, V or Z)",
					i + 1);
		}
	}
	/* the arithmetic is anon's (one implementation); the explanations above are identity's */
	if (!tds_anon_gb32100_check(s, len))
		return tds_error_set(TDS_EINVAL, "invalid_uscc",
				     "the check character (the 18th) of the unified social credit code does not "
				     "match the other 17 (GB 32100-2015): one character is probably mistyped");
	return 0;
}

/* ---- resident identity number ---- */


static bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in(int y, int m)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return d[m - 1] + (m == 2 && leap(y));
}

/* Beijing date of a time as y, m, d. */
static void beijing_ymd(int64_t ms, int *y, int *m, int *d)
{
	time_t t = (time_t)((ms + BEIJING_OFFSET_MS) / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	*y = tm.tm_year + 1900;
	*m = tm.tm_mon + 1;
	*d = tm.tm_mday;
}

static int num(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

int tds_identity_check_resident_id(const char *s, size_t len, int64_t now_ms)
{
	if (!s || len != 18)
		return tds_error_set(TDS_EINVAL, "invalid_id_number",
				     "a resident ID number (公民身份号码) has exactly 18 characters, this one has %zu",
				     s ? len : 0);
	for (size_t i = 0; i < 17; i++)
		if (s[i] < '0' || s[i] > '9')
			return tds_error_set(TDS_EINVAL, "invalid_id_number",
					     "character %zu of the resident ID number must be a digit (only the 18th may be X)",
					     i + 1);
	if (s[17] == 'x')
		return tds_error_set(TDS_EINVAL, "invalid_id_number",
				     "write the check character X of the resident ID number in upper case");
	if (!((s[17] >= '0' && s[17] <= '9') || s[17] == 'X'))
		return tds_error_set(TDS_EINVAL, "invalid_id_number",
				     "the 18th character of the resident ID number must be a digit or X");
	if (!tds_anon_gb11643_check(s, len))
		return tds_error_set(TDS_EINVAL, "invalid_id_number",
				     "the check character (the 18th) of the resident ID number does not match the other "
				     "17 (GB 11643, ISO 7064 MOD 11-2): one digit is probably mistyped");
	int y = num(s + 6, 4), m = num(s + 10, 2), d = num(s + 12, 2);
	int ty, tm, td;
	beijing_ymd(now_ms > 0 ? now_ms : tds_now_ms(), &ty, &tm, &td);
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > days_in(y, m) || y * 10000 + m * 100 + d > ty * 10000 + tm * 100 + td)
		return tds_error_set(TDS_EINVAL, "invalid_id_number",
				     "characters 7-14 of the resident ID number must be a birth date (YYYYMMDD) between "
				     "1900-01-01 and today");
	return 0;
}

void tds_identity_mask_resident_id(const char *id, char out[19])
{
	memcpy(out, id, 6);
	memset(out + 6, '*', 8);
	memcpy(out + 14, id + 14, 4);
	out[18] = 0;
}

/* ---- dates and document hashes ---- */

int tds_identity_parse_date(const char *s, size_t len, int64_t *out)
{
	if (!s || len != 10 || s[4] != '-' || s[7] != '-')
		goto bad;
	for (size_t i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			goto bad;
	int y = num(s, 4), m = num(s + 5, 2), d = num(s + 8, 2);
	if (y < 1900 || y > 9998 || m < 1 || m > 12 || d < 1 || d > days_in(y, m))
		goto bad;
	char t[32];
	snprintf(t, sizeof t, "%.10sT00:00:00+08:00", s);
	if (tds_time_parse(t, out) < 0)
		goto bad;
	return 0;
bad:
	return tds_error_set(TDS_EINVAL, "invalid_date", "dates are written YYYY-MM-DD (a real calendar day, year 1900-9998)");
}

int tds_identity_check_doc_hash(const char *s, size_t len)
{
	if (!s || len != 64)
		goto bad;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			goto bad;
	return 0;
bad:
	return tds_error_set(TDS_EINVAL, "invalid_document_hash",
			     "a document reference is the SM3 or SHA-256 hash of the scanned document: 64 lower-case hex "
			     "characters (e.g. `tds crypto hash --suite gm FILE`)");
}

/* ---- qualification types ---- */

static const char *const QUAL_NAMES[] = {NULL, "iso27701", "dengbao", "dsmc", "industry_licence", "other"};

const char *tds_identity_qual_type_name(tds_qual_type t)
{
	return t >= TDS_QUAL_ISO27701 && t <= TDS_QUAL_OTHER ? QUAL_NAMES[t] : NULL;
}

int tds_identity_qual_type_parse(const char *s, tds_qual_type *out)
{
	for (int t = TDS_QUAL_ISO27701; s && t <= TDS_QUAL_OTHER; t++)
		if (strcmp(s, QUAL_NAMES[t]) == 0) {
			*out = (tds_qual_type)t;
			return 0;
		}
	return tds_error_set(TDS_EINVAL, "invalid_qualification_type",
			     "qualification type must be iso27701, dengbao (等保), dsmc, industry_licence or other");
}

/* ---- requirements spec ---- */

static int bad_req(size_t rule, const char *why)
{
	return tds_error_set(TDS_EINVAL, "invalid_requirements",
			     "requirements rule %zu: %s; write rules like \"provider=dengbao:2;auth_operator=dengbao:3+iso27701\"",
			     rule, why);
}

/* Parses one "type[:level]" item of s[0..n). */
static int parse_req_item(const char *s, size_t n, size_t rule, tds_qual_type *type, int *level)
{
	const char *colon = memchr(s, ':', n);
	size_t tl = colon ? (size_t)(colon - s) : n;
	char name[24];
	if (tl == 0 || tl >= sizeof name)
		return bad_req(rule, "a requirement needs a qualification type");
	memcpy(name, s, tl);
	name[tl] = 0;
	if (tds_identity_qual_type_parse(name, type) < 0)
		return bad_req(rule, "unknown qualification type (iso27701, dengbao, dsmc, industry_licence)");
	if (*type == TDS_QUAL_OTHER)
		return bad_req(rule, "'other' qualifications cannot be required");
	*level = 0;
	if (!colon)
		return 0;
	size_t ll = n - tl - 1;
	if (ll != 1 || colon[1] < '1' || colon[1] > '9')
		return bad_req(rule, "a level is one digit after ':'");
	*level = colon[1] - '0';
	int max = *type == TDS_QUAL_DENGBAO ? 4 : *type == TDS_QUAL_DSMC ? 5 : 0;
	if (*level > max)
		return bad_req(rule, max ? "level out of range (dengbao 1-4, dsmc 1-5)" : "only dengbao and dsmc have levels");
	return 0;
}

int tds_identity_requirements_parse(const char *spec, tds_identity_requirements *out)
{
	memset(out, 0, sizeof *out);
	if (!spec)
		return 0;
	size_t len = strlen(spec), rule = 0;
	bool seen[TDS_ROLES_ALL_NAMES] = {false};
	if (len > 4096)
		return tds_error_set(TDS_EINVAL, "invalid_requirements", "the requirements spec is longer than 4096 bytes");
	const char *p = spec, *end = spec + len;
	while (p < end) {
		rule++;
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *re = semi ? semi : end;
		const char *eq = memchr(p, '=', (size_t)(re - p));
		if (!eq)
			return bad_req(rule, "expected role=requirements");
		char role[24];
		size_t rl = (size_t)(eq - p);
		if (rl == 0 || rl >= sizeof role)
			return bad_req(rule, "missing or over-long role name");
		memcpy(role, p, rl);
		role[rl] = 0;
		tds_roles bit;
		if (tds_role_parse(role, &bit) < 0 || !(bit & TDS_ROLES_APPLICABLE))
			return bad_req(rule, "unknown role, or a role nobody applies for");
		int ri = id_role_index(bit);
		if (seen[ri])
			return bad_req(rule, "the role appears twice");
		seen[ri] = true;
		const char *q = eq + 1;
		while (q < re) {
			const char *plus = memchr(q, '+', (size_t)(re - q));
			const char *ie = plus ? plus : re;
			if (out->role[ri].n == TDS_IDENTITY_REQ_MAX)
				return bad_req(rule, "at most 4 requirements per role");
			unsigned k = out->role[ri].n;
			if (parse_req_item(q, (size_t)(ie - q), rule, &out->role[ri].req[k].type, &out->role[ri].req[k].min_level) < 0)
				return tds_error_code();
			out->role[ri].n++;
			if (plus && plus + 1 == re)
				return bad_req(rule, "nothing after '+'");
			q = plus ? plus + 1 : re;
		}
		if (semi && semi + 1 == end)
			break; /* a trailing ';' is fine */
		p = semi ? semi + 1 : end;
	}
	return 0;
}

json_t *tds_identity_requirements_json(const tds_identity_requirements *r)
{
	json_t *o = json_object();
	for (unsigned i = 0; i < TDS_ROLES_ALL_NAMES; i++) {
		if (!r->role[i].n)
			continue;
		json_t *arr = json_array();
		for (unsigned k = 0; k < r->role[i].n; k++) {
			json_t *it = json_pack("{s:s}", "type", tds_identity_qual_type_name(r->role[i].req[k].type));
			if (r->role[i].req[k].min_level)
				json_object_set_new(it, "min_level", json_integer(r->role[i].req[k].min_level));
			json_array_append_new(arr, it);
		}
		json_object_set_new(o, tds_role_name(1u << i), arr);
	}
	return o;
}

int id_role_index(tds_roles role)
{
	if (role == 0 || (role & (role - 1)))
		return -1;
	for (int i = 0; i < TDS_ROLES_ALL_NAMES; i++)
		if (role == (1u << i))
			return i;
	return -1;
}
