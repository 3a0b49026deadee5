/*
 * buf.c — growable byte strings (tds_buf) and the hex / base64 codecs built on them.
 * The decoders take outside input: they are total and reject anything not exactly canonical.
 */
#include "base/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tds_buf_init(tds_buf *b) { b->data = NULL, b->len = 0, b->cap = 0; }

void tds_buf_free(tds_buf *b)
{
	free(b->data);
	tds_buf_init(b);
}

void tds_buf_reset(tds_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = 0;
}

int tds_buf_reserve(tds_buf *b, size_t extra)
{
	if (extra > SIZE_MAX - b->len - 1)
		return tds_error_set(TDS_ENOMEM, NULL, "buffer size overflow");
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	char *p = realloc(b->data, cap);
	if (!p)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory growing a buffer to %zu bytes", cap);
	b->data = p;
	b->cap = cap;
	return 0;
}

int tds_buf_append(tds_buf *b, const void *data, size_t len)
{
	int rc = tds_buf_reserve(b, len);
	if (rc)
		return rc;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = 0;
	return 0;
}

int tds_buf_puts(tds_buf *b, const char *s) { return tds_buf_append(b, s, strlen(s)); }

int tds_buf_putc(tds_buf *b, char c) { return tds_buf_append(b, &c, 1); }

int tds_buf_vprintf(tds_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return tds_error_set(TDS_EINTERNAL, NULL, "bad format string");
	int rc = tds_buf_reserve(b, (size_t)n);
	if (rc)
		return rc;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int tds_buf_printf(tds_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = tds_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

char *tds_buf_steal(tds_buf *b)
{
	if (!b->data && tds_buf_reserve(b, 0))
		return NULL;
	char *p = b->data;
	tds_buf_init(b);
	return p;
}

/* ---- hex ---- */

int tds_hex_encode(const void *data, size_t len, tds_buf *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = data;
	if (len > SIZE_MAX / 2 - 1)
		return tds_error_set(TDS_ENOMEM, NULL, "hex input too large");
	int rc = tds_buf_reserve(out, len * 2);
	if (rc)
		return rc;
	char *o = out->data + out->len;
	for (size_t i = 0; i < len; i++) {
		*o++ = digits[p[i] >> 4];
		*o++ = digits[p[i] & 15];
	}
	out->len += len * 2;
	out->data[out->len] = 0;
	return 0;
}

int tds_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int tds_hex_decode(const char *hex, size_t len, tds_buf *out)
{
	if (len % 2)
		return tds_error_set(TDS_EINVAL, "invalid_hex", "hex string has an odd number of digits (%zu)", len);
	int rc = tds_buf_reserve(out, len / 2);
	if (rc)
		return rc;
	size_t start = out->len;
	for (size_t i = 0; i < len; i += 2) {
		int hi = tds_hex_digit((unsigned char)hex[i]), lo = tds_hex_digit((unsigned char)hex[i + 1]);
		if (hi < 0 || lo < 0) {
			out->len = start;
			out->data[start] = 0;
			return tds_error_set(TDS_EINVAL, "invalid_hex", "invalid hex digit at offset %zu", hi < 0 ? i : i + 1);
		}
		out->data[out->len++] = (char)(hi << 4 | lo);
	}
	out->data[out->len] = 0;
	return 0;
}

/* ---- base64 (RFC 4648 §4 padded, §5 url-safe unpadded) ---- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_encode(const void *data, size_t len, tds_buf *out, const char *alpha, bool pad)
{
	const unsigned char *p = data;
	if (len > (SIZE_MAX / 4) * 3 - 3)
		return tds_error_set(TDS_ENOMEM, NULL, "base64 input too large");
	int rc = tds_buf_reserve(out, (len + 2) / 3 * 4);
	if (rc)
		return rc;
	char *o = out->data + out->len;
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = alpha[v >> 18 & 63], *o++ = alpha[v >> 12 & 63];
		*o++ = alpha[v >> 6 & 63], *o++ = alpha[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		*o++ = alpha[v >> 18 & 63], *o++ = alpha[v >> 12 & 63];
		if (pad)
			*o++ = '=', *o++ = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		*o++ = alpha[v >> 18 & 63], *o++ = alpha[v >> 12 & 63], *o++ = alpha[v >> 6 & 63];
		if (pad)
			*o++ = '=';
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = 0;
	return 0;
}

static int b64_decode(const char *in, size_t len, tds_buf *out, const char *alpha, bool pad)
{
	int8_t map[256];
	memset(map, -1, sizeof map);
	for (int i = 0; i < 64; i++)
		map[(unsigned char)alpha[i]] = (int8_t)i;
	size_t body = len;
	if (pad) {
		if (len % 4)
			return tds_error_set(TDS_EINVAL, "invalid_base64", "base64 length %zu is not a multiple of 4", len);
		if (len && in[len - 1] == '=')
			body--;
		if (len > 1 && in[len - 2] == '=')
			body--;
	} else if (len % 4 == 1) {
		return tds_error_set(TDS_EINVAL, "invalid_base64", "base64url length %zu is impossible", len);
	}
	int rc = tds_buf_reserve(out, body / 4 * 3 + 3);
	if (rc)
		return rc;
	size_t start = out->len;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < body; i++) {
		int v = map[(unsigned char)in[i]];
		if (v < 0) {
			out->len = start;
			out->data[start] = 0;
			return tds_error_set(TDS_EINVAL, "invalid_base64", "invalid base64 character at offset %zu", i);
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out->data[out->len++] = (char)(acc >> bits & 0xff);
		}
	}
	/* leftover bits must be zero, or two encodings would decode to the same bytes */
	if (bits && (acc & ((1u << bits) - 1))) {
		out->len = start;
		out->data[start] = 0;
		return tds_error_set(TDS_EINVAL, "invalid_base64", "base64 has non-zero padding bits");
	}
	out->data[out->len] = 0;
	return 0;
}

int tds_b64_encode(const void *d, size_t n, tds_buf *o) { return b64_encode(d, n, o, B64, true); }
int tds_b64_decode(const char *s, size_t n, tds_buf *o) { return b64_decode(s, n, o, B64, true); }
int tds_b64url_encode(const void *d, size_t n, tds_buf *o) { return b64_encode(d, n, o, B64URL, false); }
int tds_b64url_decode(const char *s, size_t n, tds_buf *o) { return b64_decode(s, n, o, B64URL, false); }
