/*
 * mask.c — applies a suggested masking (脱敏) to one value, so that a suggestion can be shown and
 * tested on real values. Not the masking module of `tds mask` (rules per column, keys for hashes):
 * only the keyless methods live here. Characters are UTF-8 code points; a malformed byte counts as
 * one character, so any input gives output and nothing is read past `len`.
 */
#include "anon/internal.h"

/* Byte length of the character at s[0..n): 1 for ASCII or a malformed byte. */
static size_t charlen(const unsigned char *s, size_t n)
{
	uint32_t cp;
	int l = anon_u8dec(s, n, &cp);
	return l ? (size_t)l : 1;
}

static int keep(const unsigned char *v, size_t len, int first, int last, tds_buf *out)
{
	size_t chars = 0;
	for (size_t i = 0; i < len; i += charlen(v + i, len - i))
		chars++;
	if (chars <= (size_t)first + (size_t)last) { /* nothing would stay hidden */
		for (size_t i = 0; i < chars; i++)
			if (tds_buf_putc(out, '*'))
				return TDS_ENOMEM;
		return 0;
	}
	size_t k = 0;
	for (size_t i = 0; i < len; k++) {
		size_t l = charlen(v + i, len - i);
		int rc = (k < (size_t)first || k >= chars - (size_t)last) ? tds_buf_append(out, v + i, l)
									  : tds_buf_putc(out, '*');
		if (rc)
			return TDS_ENOMEM;
		i += l;
	}
	return 0;
}

int tds_anon_mask_apply(const tds_anon_mask *m, const char *str, size_t len, tds_buf *out)
{
	const unsigned char *v = (const unsigned char *)str;
	if (!v)
		len = 0;
	switch (m->method) {
	case TDS_ANON_MASK_NONE:
		return len ? tds_buf_append(out, v, len) : tds_buf_reserve(out, 1);
	case TDS_ANON_MASK_KEEP:
		return keep(v, len, m->first, m->last, out);
	case TDS_ANON_MASK_EMAIL: {
		const unsigned char *at = len ? memchr(v, '@', len) : NULL;
		if (!at || at == v)
			return tds_buf_putc(out, '*');
		size_t l = charlen(v, (size_t)(at - v));
		if (tds_buf_append(out, v, l) || tds_buf_puts(out, "***"))
			return TDS_ENOMEM;
		return tds_buf_append(out, at, len - (size_t)(at - v));
	}
	case TDS_ANON_MASK_YEAR:
		if (len >= 4 && anon_digit(v[0]) && anon_digit(v[1]) && anon_digit(v[2]) && anon_digit(v[3]))
			return tds_buf_append(out, v, 4);
		return tds_buf_putc(out, '*');
	case TDS_ANON_MASK_IP: {
		bool v6 = len && memchr(v, ':', len);
		char sep = v6 ? ':' : '.';
		int keep_groups = v6 ? 4 : 2, seen = 0;
		size_t i = 0;
		for (; i < len && seen < keep_groups; i++)
			if (v[i] == sep && (seen++, seen == keep_groups || (v6 && i + 1 < len && v[i + 1] == ':')))
				break;
		if (i >= len) /* not an address of that shape: hide it all */
			return tds_buf_putc(out, '*');
		if (tds_buf_append(out, v, i))
			return TDS_ENOMEM;
		return tds_buf_puts(out, v6 ? ":*" : ".*.*");
	}
	case TDS_ANON_MASK_SUPPRESS:
		return tds_buf_putc(out, '*');
	case TDS_ANON_MASK_HASH:
		return tds_error_set(TDS_EUNPROC, "mask_needs_key",
				     "hash masking needs a pseudonymisation key: the masking module (tds mask) applies it");
	}
	return tds_error_set(TDS_EINVAL, "invalid_mask", "unknown masking method");
}
