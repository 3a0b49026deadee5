/*
 * csv.c — a small, fast, strict RFC 4180 reader for the scan (the catalog has its own importer; this
 * one exists so that anon depends on base only). UTF-8 only, fields separated by one byte, records
 * by LF or CRLF, double quotes around fields that hold delimiters, quotes or line breaks. Not a
 * general-purpose CSV library: no type inference, no other encodings, no dialect guessing.
 *
 * How it reads: the file is read in chunks into one buffer; a row is parsed in place and handed out
 * as pointers into the buffer (no allocation per row or field). When a row runs past the buffered
 * bytes, the unconsumed tail moves to the front, more is read, and the row is parsed again from
 * its start; a row longer than the buffer grows it, up to 4 × max_field. Doubled quotes inside a
 * quoted field are collapsed in place only once the whole row has been seen, so a re-parse always
 * sees the original bytes.
 *
 * Strictness (each error names the line, and the field where it helps): an unclosed quote, a quote
 * inside an unquoted field, text after a closing quote, a carriage return without a line feed, a
 * row whose field count differs from the first row's, invalid UTF-8, an over-long field. Empty lines
 * are skipped. Errors are sticky: after one, every call returns it again.
 */
#include "anon/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define DEFAULT_MAX_FIELD (64u * 1024 * 1024)
#define DEFAULT_CHUNK (1u * 1024 * 1024)
#define MAX_FIELDS 65536

struct tds_anon_csv {
	int fd;
	bool own_fd;
	const char *mem;
	size_t mem_len, mem_pos;
	bool is_mem;
	char *buf;
	size_t cap, beg, end; /* unconsumed bytes are buf[beg, end) */
	bool eof, started;
	char delim;
	size_t max_field, max_row, chunk;
	bool allow_ragged;
	size_t expect; /* fields of the first row, 0 until it is read */
	tds_anon_field *f;
	unsigned char *esc; /* per field: 1 = quoted with doubled quotes inside, 2 = quoted */
	size_t nf, fcap;
	uint64_t line;     /* physical line of buf[beg] */
	uint64_t row_line; /* line of the last row returned */
	uint64_t offset;   /* bytes consumed before buf[beg] */
	int err;
	char err_name[40];
	char *err_msg;
	bool special[256];
};

static int csv_new(const tds_anon_csv_opts *o, tds_anon_csv **out)
{
	tds_anon_csv *r = calloc(1, sizeof *r);
	if (!r)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	r->fd = -1;
	r->delim = o && o->delimiter ? o->delimiter : ',';
	r->max_field = o && o->max_field ? o->max_field : DEFAULT_MAX_FIELD;
	r->chunk = o && o->chunk ? o->chunk : DEFAULT_CHUNK;
	r->allow_ragged = o && o->allow_ragged;
	r->max_row = r->max_field > SIZE_MAX / 8 ? SIZE_MAX / 2 : r->max_field * 4 + 4096;
	r->line = 1;
	r->special[(unsigned char)r->delim] = r->special['\n'] = r->special['\r'] = r->special['"'] = true;
	if (r->delim == '"' || r->delim == '\n' || r->delim == '\r') {
		free(r);
		return tds_error_set(TDS_EINVAL, "invalid_csv_options", "the delimiter cannot be a quote or a line break");
	}
	*out = r;
	return 0;
}

int tds_anon_csv_open(const char *path, const tds_anon_csv_opts *o, tds_anon_csv **out)
{
	*out = NULL;
	tds_anon_csv *r = NULL;
	int rc = csv_new(o, &r);
	if (rc)
		return rc;
	if (strcmp(path, "-") == 0) {
		r->fd = 0;
	} else {
		r->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (r->fd < 0) {
			rc = tds_error_set(TDS_EIO, "csv_unreadable", "cannot open %s: %s", path, strerror(errno));
			free(r);
			return rc;
		}
		r->own_fd = true;
		posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	}
	*out = r;
	return 0;
}

int tds_anon_csv_from_memory(const char *data, size_t len, const tds_anon_csv_opts *o, tds_anon_csv **out)
{
	*out = NULL;
	tds_anon_csv *r = NULL;
	int rc = csv_new(o, &r);
	if (rc)
		return rc;
	r->is_mem = true;
	r->mem = data;
	r->mem_len = data ? len : 0;
	*out = r;
	return 0;
}

void tds_anon_csv_free(tds_anon_csv *r)
{
	if (!r)
		return;
	if (r->own_fd)
		close(r->fd);
	free(r->buf);
	free(r->f);
	free(r->esc);
	free(r->err_msg);
	free(r);
}

uint64_t tds_anon_csv_line(const tds_anon_csv *r) { return r->row_line; }
uint64_t tds_anon_csv_offset(const tds_anon_csv *r) { return r->offset; }

static int fail(tds_anon_csv *r, int code, const char *name, const char *fmt, ...) TDS_PRINTF(4, 5);
static int fail(tds_anon_csv *r, int code, const char *name, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	r->err = code;
	snprintf(r->err_name, sizeof r->err_name, "%s", name);
	free(r->err_msg);
	r->err_msg = strdup(msg);
	return tds_error_set(code, name, "%s", msg);
}

/* Reads more bytes after the unconsumed ones; 0 at the end of input. */
static int fill(tds_anon_csv *r)
{
	if (r->eof)
		return 0;
	if (r->beg > 0) {
		memmove(r->buf, r->buf + r->beg, r->end - r->beg);
		r->end -= r->beg;
		r->beg = 0;
	}
	if (r->cap - r->end < r->chunk + 1) {
		size_t nc = r->cap ? r->cap * 2 : r->chunk + 1;
		if (nc < r->end + r->chunk + 1)
			nc = r->end + r->chunk + 1;
		char *nb = realloc(r->buf, nc);
		if (!nb)
			return fail(r, TDS_ENOMEM, "out_of_memory", "out of memory reading the CSV input");
		r->buf = nb;
		r->cap = nc;
	}
	size_t got;
	if (r->is_mem) {
		got = r->mem_len - r->mem_pos < r->chunk ? r->mem_len - r->mem_pos : r->chunk;
		memcpy(r->buf + r->end, r->mem + r->mem_pos, got);
		r->mem_pos += got;
	} else {
		ssize_t n;
		do
			n = read(r->fd, r->buf + r->end, r->chunk);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return fail(r, TDS_EIO, "csv_unreadable", "reading the CSV input failed near line %llu: %s",
				    (unsigned long long)r->line, strerror(errno));
		got = (size_t)n;
	}
	if (got == 0)
		r->eof = true;
	r->end += got;
	return (int)(got > 0);
}

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

#ifndef __SSE2__
/* Nonzero when a byte of w is zero; its lowest set bit marks the first such byte. */
static inline uint64_t zero_byte(uint64_t w) { return (w - ONES) & ~w & HIGHS; }
#endif

/* True when s[0..n) is valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF):
 * ASCII runs eight bytes at a time, three-byte sequences (Chinese text) inline. */
static bool utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (i + 8 <= n) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (!(w & HIGHS)) {
				i += 8;
				continue;
			}
		}
		unsigned char c = s[i];
		if (c < 0x80) {
			i++;
		} else if (c >= 0xe1 && c <= 0xef && c != 0xed) { /* no overlong or surrogate possible */
			if (i + 2 >= n || (s[i + 1] & 0xc0) != 0x80 || (s[i + 2] & 0xc0) != 0x80)
				return false;
			i += 3;
		} else {
			uint32_t cp;
			int l = anon_u8dec(s + i, n - i, &cp);
			if (!l)
				return false;
			i += (size_t)l;
		}
	}
	return true;
}

static int grow_fields(tds_anon_csv *r)
{
	if (r->fcap >= MAX_FIELDS)
		return fail(r, TDS_EINVAL, "csv_too_many_fields", "line %llu has more than %d fields",
			    (unsigned long long)r->line, MAX_FIELDS);
	size_t nc = r->fcap ? r->fcap * 2 : 64;
	tds_anon_field *f = realloc(r->f, nc * sizeof *f);
	if (!f)
		return fail(r, TDS_ENOMEM, "out_of_memory", "out of memory");
	r->f = f;
	unsigned char *e = realloc(r->esc, nc);
	if (!e)
		return fail(r, TDS_ENOMEM, "out_of_memory", "out of memory");
	r->esc = e;
	r->fcap = nc;
	return 0;
}

/* Parses the row at buf[beg]: 1 a row (fields in r->f), 2 an empty line skipped, 0 more input is
 * needed, or an error. */
static int try_row(tds_anon_csv *r)
{
	unsigned char *b = (unsigned char *)r->buf;
	size_t p = r->beg, e = r->end, nf = 0;
	uint64_t nl = 0;
	const bool *sp = r->special;
	const unsigned char dl = (unsigned char)r->delim;
	bool newline;
	for (;;) {
		if (nf == r->fcap && grow_fields(r))
			return r->err;
		size_t fs, flen;
		unsigned char esc = 0;
		unsigned high = 1; /* any byte >= 0x80 in the field (quoted fields: assume so) */
		uint64_t fline = r->line + nl;
		if (p < e && b[p] == '"') {
			size_t q = p + 1;
			esc = 2;
			for (;;) {
				unsigned char *h = memchr(b + q, '"', e - q);
				if (!h) {
					if (!r->eof) {
						if (e - p > r->max_field + 2)
							return fail(r, TDS_ETOOBIG, "csv_field_too_long",
								    "line %llu, field %zu: a quoted field runs past %zu bytes "
								    "(is a closing quote missing?)",
								    (unsigned long long)fline, nf + 1, r->max_field);
						return 0;
					}
					return fail(r, TDS_EINVAL, "csv_unbalanced_quote",
						    "line %llu, field %zu: the quoted field that opens here is never closed "
						    "(unbalanced double quote)",
						    (unsigned long long)fline, nf + 1);
				}
				q = (size_t)(h - b);
				if (q + 1 < e) {
					if (b[q + 1] == '"') {
						esc = 1;
						q += 2;
						continue;
					}
					break;
				}
				if (!r->eof)
					return 0;
				break;
			}
			fs = p + 1;
			flen = q - fs;
			for (unsigned char *x = memchr(b + fs, '\n', flen); x; x = memchr(x + 1, '\n', (size_t)(b + q - (x + 1))))
				nl++;
			p = q + 1;
			if (p < e && b[p] != dl && b[p] != '\n' && b[p] != '\r')
				return fail(r, TDS_EINVAL, "csv_bad_quote",
					    "line %llu, field %zu: text after the closing quote (a quoted field must end at a "
					    "delimiter or the end of the line; double a quote inside it: \"\")",
					    (unsigned long long)(r->line + nl), nf + 1);
		} else {
			fs = p;
			high = 0;
#ifdef __SSE2__
			/* sixteen bytes at a time: the first delimiter, quote, LF or CR, and whether any byte
			 * before it is non-ASCII (only such fields need UTF-8 validation) */
			const __m128i cd = _mm_set1_epi8((char)dl), cq = _mm_set1_epi8('"'), cn = _mm_set1_epi8('\n'),
				      cr = _mm_set1_epi8('\r');
			while (p + 16 <= e) {
				__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + p));
				unsigned m = (unsigned)_mm_movemask_epi8(
				    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, cd), _mm_cmpeq_epi8(x, cq)),
						 _mm_or_si128(_mm_cmpeq_epi8(x, cn), _mm_cmpeq_epi8(x, cr))));
				unsigned h = (unsigned)_mm_movemask_epi8(x);
				if (m) {
					unsigned k = (unsigned)__builtin_ctz(m);
					high |= h & ((1u << k) - 1);
					p += k;
					goto found;
				}
				high |= h;
				p += 16;
			}
#else
			const uint64_t vd = ONES * dl;
			while (p + 8 <= e) { /* eight bytes at a time: delimiter, quote, LF or CR */
				uint64_t w, hit;
				memcpy(&w, b + p, 8);
				hit = zero_byte(w ^ vd) | zero_byte(w ^ (ONES * '"')) | zero_byte(w ^ (ONES * '\n')) |
				      zero_byte(w ^ (ONES * '\r'));
				if (hit) {
					size_t k = (size_t)__builtin_ctzll(hit) / 8;
					high |= (unsigned)((w & HIGHS & ((UINT64_C(1) << (8 * k)) - 1)) != 0);
					p += k;
					goto found;
				}
				high |= (unsigned)((w & HIGHS) != 0);
				p += 8;
			}
#endif
			while (p < e && !sp[b[p]])
				high |= b[p++] & 0x80u;
found:
			flen = p - fs;
			if (p == e && !r->eof) {
				if (flen > r->max_field)
					return fail(r, TDS_ETOOBIG, "csv_field_too_long",
						    "line %llu, field %zu: a field is longer than %zu bytes",
						    (unsigned long long)fline, nf + 1, r->max_field);
				return 0;
			}
			if (p < e && b[p] == '"')
				return fail(r, TDS_EINVAL, "csv_bad_quote",
					    "line %llu, field %zu: a double quote inside an unquoted field (quote the whole "
					    "field and double the quotes inside it: \"a \"\"b\"\"\")",
					    (unsigned long long)fline, nf + 1);
		}
		if (flen > r->max_field)
			return fail(r, TDS_ETOOBIG, "csv_field_too_long", "line %llu, field %zu: a field is longer than %zu bytes",
				    (unsigned long long)fline, nf + 1, r->max_field);
		if (high && !utf8_ok(b + fs, flen))
			return fail(r, TDS_EINVAL, "csv_invalid_utf8",
				    "line %llu, field %zu: invalid UTF-8 (convert the file first, e.g. iconv -f GB18030 -t "
				    "UTF-8)",
				    (unsigned long long)fline, nf + 1);
		r->f[nf].data = (const char *)b + fs;
		r->f[nf].len = flen;
		r->esc[nf] = esc;
		nf++;
		if (p == e) { /* end of input ends the row */
			newline = false;
			break;
		}
		unsigned char c = b[p];
		if (c == dl) {
			p++;
			continue;
		}
		if (c == '\n') {
			p++;
			newline = true;
			break;
		}
		/* '\r' */
		if (p + 1 == e && !r->eof)
			return 0;
		if (p + 1 < e && b[p + 1] == '\n') {
			p += 2;
			newline = true;
			break;
		}
		return fail(r, TDS_EINVAL, "csv_bare_cr",
			    "line %llu, field %zu: a carriage return not followed by a line feed (lines end in LF or CRLF)",
			    (unsigned long long)(r->line + nl), nf);
	}
	r->offset += p - r->beg;
	r->beg = p;
	r->row_line = r->line;
	r->line += nl + newline;
	r->nf = nf;
	if (nf == 1 && r->f[0].len == 0 && !r->esc[0])
		return 2;
	return 1;
}

static void unescape(tds_anon_field *f)
{
	char *s = (char *)f->data;
	size_t w = 0;
	for (size_t i = 0; i < f->len; i++) {
		s[w++] = s[i];
		if (s[i] == '"')
			i++; /* the second quote of a doubled pair */
	}
	f->len = w;
}

static int start(tds_anon_csv *r)
{
	r->started = true;
	while (r->end - r->beg < 4 && !r->eof)
		if (fill(r) < 0)
			return r->err;
	const unsigned char *b = (const unsigned char *)r->buf + r->beg;
	size_t n = r->end - r->beg;
	if (n >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf) {
		r->beg += 3;
		r->offset += 3;
	} else if (n >= 2 && ((b[0] == 0xff && b[1] == 0xfe) || (b[0] == 0xfe && b[1] == 0xff))) {
		return fail(r, TDS_EINVAL, "csv_unsupported_encoding",
			    "line 1: the file starts with a UTF-16 byte order mark; convert it to UTF-8 (iconv -f UTF-16 -t UTF-8)");
	} else if (n >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 0xfe && b[3] == 0xff) {
		return fail(r, TDS_EINVAL, "csv_unsupported_encoding",
			    "line 1: the file starts with a UTF-32 byte order mark; convert it to UTF-8");
	}
	return 0;
}

int tds_anon_csv_next(tds_anon_csv *r, const tds_anon_field **fields, size_t *n)
{
	*fields = NULL;
	*n = 0;
	if (r->err)
		return tds_error_set(r->err, r->err_name, "%s", r->err_msg ? r->err_msg : "");
	if (!r->started && start(r))
		return r->err;
	for (;;) {
		if (r->beg == r->end) {
			if (r->eof)
				return 0;
			if (fill(r) < 0)
				return r->err;
			continue;
		}
		int rc = try_row(r);
		if (rc == 1) {
			if (!r->expect)
				r->expect = r->nf;
			else if (r->nf != r->expect && !r->allow_ragged)
				return fail(r, TDS_EINVAL, "csv_ragged_row", "line %llu has %zu fields, the first row has %zu",
					    (unsigned long long)r->row_line, r->nf, r->expect);
			for (size_t i = 0; i < r->nf; i++)
				if (r->esc[i] == 1)
					unescape(&r->f[i]);
			*fields = r->f;
			*n = r->nf;
			return 1;
		}
		if (rc == 2)
			continue;
		if (rc < 0)
			return rc;
		if (r->end - r->beg >= r->max_row)
			return fail(r, TDS_ETOOBIG, "csv_row_too_long", "line %llu: a row is longer than %zu bytes",
				    (unsigned long long)r->line, r->max_row);
		if (fill(r) < 0)
			return r->err;
	}
}
