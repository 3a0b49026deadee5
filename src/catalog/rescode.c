/*
 * rescode.c — resource codes (数据资源标识, catalog.h section 6): the URI a resource gets on approval,
 * BASE "/res/" SERIAL CHECK, and its check character, ISO 7064 MOD 37,36 (the hybrid system with
 * M = 36 over the alphabet 0-9 A-Z) computed over the serial; product codes (section 9) are the
 * same with "/prd/". Pure functions: no store, no state.
 *
 * Not for assigning serials (resource.c and product.c do, inside the approval's transaction).
 */
#include "catalog/internal.h"

#include <stdio.h>
#include <string.h>

#define M 36

/* Value of an ISO 7064 MOD 37,36 character: 0-9 → 0-9, A-Z → 10-35; -1 otherwise (lower case too). */
static int val36(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A' + 10;
	return -1;
}

char tds_rescode_check_char(const char *body, size_t n)
{
	int p = M;
	for (size_t i = 0; i < n; i++) {
		int a = val36(body[i]);
		if (a < 0)
			return 0;
		int s = (p + a) % M;
		if (s == 0)
			s = M;
		p = (s * 2) % (M + 1);
	}
	int c = (M + 1 - p) % M;
	return (char)(c < 10 ? '0' + c : 'A' + c - 10);
}

int tds_rescode_base_check(const char *base)
{
	size_t n = base ? strlen(base) : 0;
	const char *colon = base ? strstr(base, "://") : NULL;
	if (n < 8 || n > TDS_RESCODE_BASE_MAX || !colon || colon == base || base[n - 1] == '/')
		return tds_error_set(TDS_EINVAL, "invalid_code_base",
				     "catalog.code_base must be a URI like tds://space.example (8-%d bytes, no trailing '/')",
				     TDS_RESCODE_BASE_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)base[i] <= 0x20 || (unsigned char)base[i] >= 0x7f || base[i] == '?' || base[i] == '#')
			return tds_error_set(TDS_EINVAL, "invalid_code_base",
					     "catalog.code_base may hold only printable ASCII without spaces, '?' or '#'");
	return 0;
}

/* Codes of both kinds: BASE "/" KIND "/" SERIAL CHECK, KIND "res" or "prd"; `what` names the kind
 * in messages ("resource", "product"). */
static int code_format(const char *base, const char *kind, const char *what, uint64_t serial, char *out, size_t cap)
{
	int rc = tds_rescode_base_check(base);
	if (rc)
		return rc;
	if (serial == 0 || serial > TDS_RESCODE_SERIAL_MAX)
		return tds_error_set(TDS_EINVAL, "invalid_serial", "%s serials run from 1 to %llu", what,
				     (unsigned long long)TDS_RESCODE_SERIAL_MAX);
	char body[16];
	snprintf(body, sizeof body, "%0*llu", TDS_RESCODE_SERIAL_DIGITS, (unsigned long long)serial);
	int w = snprintf(out, cap, "%s/%s/%s%c", base, kind, body, tds_rescode_check_char(body, strlen(body)));
	if (w < 0 || (size_t)w >= cap)
		return tds_error_set(TDS_EINVAL, "invalid_code", "the code does not fit in %zu bytes", cap);
	return 0;
}

static int code_parse(const char *base, const char *kind, const char *what, const char *code, uint64_t *serial)
{
	size_t bn = base ? strlen(base) : 0, n = code ? strlen(code) : 0;
	char seg[8];
	snprintf(seg, sizeof seg, "/%s/", kind);
	if (serial)
		*serial = 0;
	if (n != bn + 5 + TDS_RESCODE_SERIAL_DIGITS + 1 || memcmp(code, base, bn) != 0 || memcmp(code + bn, seg, 5) != 0)
		return tds_error_set(TDS_EINVAL, "invalid_code",
				     "a %s code is %s/%s/ followed by %d digits and a check character", what,
				     base ? base : "(base)", kind, TDS_RESCODE_SERIAL_DIGITS);
	const char *body = code + bn + 5;
	uint64_t v = 0;
	for (int i = 0; i < TDS_RESCODE_SERIAL_DIGITS; i++) {
		if (body[i] < '0' || body[i] > '9')
			return tds_error_set(TDS_EINVAL, "invalid_code", "the serial of a %s code is %d digits", what,
					     TDS_RESCODE_SERIAL_DIGITS);
		v = v * 10 + (uint64_t)(body[i] - '0');
	}
	if (v == 0 || body[TDS_RESCODE_SERIAL_DIGITS] != tds_rescode_check_char(body, TDS_RESCODE_SERIAL_DIGITS))
		return tds_error_set(TDS_EINVAL, "invalid_code",
				     "the check character of the %s code is wrong (ISO 7064 MOD 37,36): mistyped?", what);
	if (serial)
		*serial = v;
	return 0;
}

int tds_rescode_format(const char *base, uint64_t serial, char *out, size_t cap)
{
	return code_format(base, "res", "resource", serial, out, cap);
}

int tds_rescode_parse(const char *base, const char *code, uint64_t *serial)
{
	return code_parse(base, "res", "resource", code, serial);
}

int tds_prdcode_format(const char *base, uint64_t serial, char *out, size_t cap)
{
	return code_format(base, "prd", "product", serial, out, cap);
}

int tds_prdcode_parse(const char *base, const char *code, uint64_t *serial)
{
	return code_parse(base, "prd", "product", code, serial);
}
