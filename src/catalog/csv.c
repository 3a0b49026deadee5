/*
 * csv.c — the CSV reader (catalog.h section 2): input (memory or a file descriptor), encoding
 * detection and conversion to UTF-8 (GB18030 through iconv), the RFC 4180 tokenizer, and the
 * shape guess (header detection, column names and types).
 *
 * Not for storing anything: import.c streams records into SQLite; dbsrc reads databases.
 *
 * Data flow and invariants:
 *
 *   input --read--> raw[raw_pos, raw_len) --validate/convert--> buf[0, end) --tokenize--> record
 *
 *   - raw holds input bytes not yet moved to buf; raw_base is the input offset of raw[0], so any raw
 *     byte's offset in the file is raw_base + index (error messages name it).
 *   - buf[0, end) is valid UTF-8 without any check left to do; end <= cap - 1, so buf[end] can always
 *     take the NUL that ends the last field of the input.
 *   - The tokenizer works on buf[pos, end). A record in progress starts at rec_start; its fields are
 *     kept as offsets (foff) until the record is complete, so refilling may move the record to the
 *     front of buf (or grow buf) and only the offsets shift. Quoted fields are unescaped in place:
 *     the write index w never passes the read index pos.
 *   - line is the physical line (from 1) of buf[pos]: LF, and a CR not followed by LF, end a line.
 *   - The first error is sticky: every later call returns it again.
 */
#include "catalog/internal.h"

#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RAW_CAP (1u << 20)    /* read size, and the window the encoding is detected on */
#define BUF_INIT ((1u << 20) + 1)

enum { S_START = 0, S_UNQUOTED, S_QUOTED };

struct tds_csv {
	tds_csv_opts o;
	/* input */
	int fd;
	bool own_fd;
	const uint8_t *mem;
	size_t mem_len, mem_pos;
	bool in_eof;
	uint64_t total;
	tds_hash_ctx *hash; /* borrowed: updated with every input byte read */
	/* encoding */
	tds_csv_encoding enc;
	bool started;
	iconv_t cd;
	uint8_t *raw;
	size_t raw_pos, raw_len;
	uint64_t raw_base;
	/* UTF-8 buffer and tokenizer */
	char *buf;
	size_t cap, end, pos, rec_start;
	uint64_t buf_base; /* UTF-8 input: input offset of buf[0] */
	uint64_t line, rec_line;
	bool skip_lf;
	size_t nf, fcap;
	size_t *foff, *flen;
	char **fptr;
	uint8_t cls[256]; /* non-zero: delimiter, CR, LF, NUL */
	/* sticky error */
	int err;
	char errname[48];
	char errmsg[768];
};

void csv_set_hash(tds_csv *r, tds_hash_ctx *h)
{
	r->hash = h;
}

const tds_csv_opts *csv_opts(const tds_csv *r)
{
	return &r->o;
}

const char *tds_csv_encoding_name(tds_csv_encoding e)
{
	switch (e) {
	case TDS_CSV_AUTO:
		return "auto";
	case TDS_CSV_UTF8:
		return "utf-8";
	case TDS_CSV_GB18030:
		return "gb18030";
	}
	return NULL;
}

int tds_csv_encoding_parse(const char *s, tds_csv_encoding *out)
{
	static const struct {
		const char *name;
		tds_csv_encoding e;
	} names[] = {{"auto", TDS_CSV_AUTO}, {"utf-8", TDS_CSV_UTF8},	  {"utf8", TDS_CSV_UTF8},
		     {"gb18030", TDS_CSV_GB18030}, {"gbk", TDS_CSV_GB18030}, {"gb2312", TDS_CSV_GB18030}};
	for (size_t i = 0; s && i < TDS_ARRAY_LEN(names); i++)
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].e;
			return 0;
		}
	return tds_error_set(TDS_EINVAL, "invalid_encoding_name", "encoding must be auto, utf-8 or gb18030");
}

/* ---- errors ---- */

static int fail(tds_csv *r, int code, const char *name, const char *fmt, ...) TDS_PRINTF(4, 5);
static int fail(tds_csv *r, int code, const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->errmsg, sizeof r->errmsg, fmt, ap);
	va_end(ap);
	snprintf(r->errname, sizeof r->errname, "%s", name);
	r->err = code;
	return tds_error_set(code, name, "%s", r->errmsg);
}

static int resurface(tds_csv *r)
{
	return tds_error_set(r->err, r->errname, "%s", r->errmsg);
}

/* ---- opening ---- */

static int check_opts(const tds_csv_opts *in, tds_csv_opts *o)
{
	*o = in ? *in : (tds_csv_opts){0};
	if (!o->delimiter)
		o->delimiter = ',';
	if (o->delimiter != ',' && o->delimiter != ';' && o->delimiter != '|' && o->delimiter != '\t')
		return tds_error_set(TDS_EINVAL, "invalid_csv_options", "delimiter must be one of , ; | or TAB");
	if (!o->max_field)
		o->max_field = TDS_CSV_MAX_FIELD_DEFAULT;
	if (o->max_field > TDS_CSV_MAX_RECORD / 2)
		return tds_error_set(TDS_EINVAL, "invalid_csv_options", "max_field must be at most %u bytes",
				     TDS_CSV_MAX_RECORD / 2);
	if (!o->max_columns)
		o->max_columns = TDS_CSV_MAX_COLUMNS;
	if (o->max_columns > TDS_CSV_MAX_COLUMNS)
		return tds_error_set(TDS_EINVAL, "invalid_csv_options", "max_columns must be at most %d", TDS_CSV_MAX_COLUMNS);
	if ((unsigned)o->encoding > TDS_CSV_GB18030 || (unsigned)o->header > TDS_CSV_HEADER_NO)
		return tds_error_set(TDS_EINVAL, "invalid_csv_options", "unknown encoding or header mode");
	return 0;
}

static int open_common(const tds_csv_opts *opts, tds_csv **out)
{
	*out = NULL;
	tds_csv *r = calloc(1, sizeof *r);
	if (!r)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	int rc = check_opts(opts, &r->o);
	if (rc) {
		free(r);
		return rc;
	}
	r->fd = -1;
	r->cd = (iconv_t)-1;
	r->enc = r->o.encoding;
	r->line = 1;
	r->raw = malloc(RAW_CAP);
	r->buf = malloc(BUF_INIT);
	r->cap = BUF_INIT;
	r->fcap = 64;
	r->foff = malloc(r->fcap * sizeof *r->foff);
	r->flen = malloc(r->fcap * sizeof *r->flen);
	r->fptr = malloc(r->fcap * sizeof *r->fptr);
	if (!r->raw || !r->buf || !r->foff || !r->flen || !r->fptr) {
		tds_csv_free(r);
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	}
	r->cls[(unsigned char)r->o.delimiter] = 1;
	r->cls['\n'] = 1;
	r->cls['\r'] = 1;
	r->cls[0] = 1;
	*out = r;
	return 0;
}

int tds_csv_open_mem(const void *data, size_t len, const tds_csv_opts *opts, tds_csv **out)
{
	int rc = open_common(opts, out);
	if (rc)
		return rc;
	(*out)->mem = data;
	(*out)->mem_len = data ? len : 0;
	(*out)->total = (*out)->mem_len;
	return 0;
}

int tds_csv_open_fd(int fd, bool own_fd, const tds_csv_opts *opts, tds_csv **out)
{
	int rc = open_common(opts, out);
	if (rc) {
		if (own_fd && fd >= 0)
			close(fd);
		return rc;
	}
	(*out)->fd = fd;
	(*out)->own_fd = own_fd;
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		(*out)->total = (uint64_t)st.st_size;
	return 0;
}

void tds_csv_free(tds_csv *r)
{
	if (!r)
		return;
	if (r->own_fd && r->fd >= 0)
		close(r->fd);
	if (r->cd != (iconv_t)-1)
		iconv_close(r->cd);
	free(r->raw);
	free(r->buf);
	free(r->foff);
	free(r->flen);
	free(r->fptr);
	free(r);
}

tds_csv_encoding tds_csv_encoding_of(const tds_csv *r)
{
	return r->enc;
}

uint64_t tds_csv_bytes_read(const tds_csv *r)
{
	return r->raw_base + r->raw_pos;
}

uint64_t tds_csv_bytes_total(const tds_csv *r)
{
	return r->total;
}

int tds_csv_rewind(tds_csv *r)
{
	if (r->fd < 0)
		r->mem_pos = 0;
	else if (lseek(r->fd, 0, SEEK_SET) != 0)
		return tds_error_set(TDS_EINVAL, "not_rewindable", "the CSV input cannot be read twice (not a regular file)");
	if (r->cd != (iconv_t)-1)
		iconv(r->cd, NULL, NULL, NULL, NULL);
	if (r->started && r->enc != TDS_CSV_AUTO)
		r->o.encoding = r->enc; /* keep what detection found */
	r->in_eof = false;
	r->started = false;
	r->raw_pos = r->raw_len = 0;
	r->raw_base = 0;
	r->end = r->pos = r->rec_start = 0;
	r->buf_base = 0;
	r->line = 1;
	r->skip_lf = false;
	r->err = 0;
	return 0;
}

/* ---- input ---- */

/* Reads more input into raw after its unconsumed tail. 0 at the end of input. */
static int read_raw(tds_csv *r)
{
	if (r->raw_pos > 0) {
		memmove(r->raw, r->raw + r->raw_pos, r->raw_len - r->raw_pos);
		r->raw_base += r->raw_pos;
		r->raw_len -= r->raw_pos;
		r->raw_pos = 0;
	}
	size_t want = RAW_CAP - r->raw_len, got;
	if (want == 0)
		return 1;
	if (r->fd < 0) {
		got = r->mem_len - r->mem_pos < want ? r->mem_len - r->mem_pos : want;
		if (got)
			memcpy(r->raw + r->raw_len, r->mem + r->mem_pos, got);
		r->mem_pos += got;
	} else {
		ssize_t n;
		do
			n = read(r->fd, r->raw + r->raw_len, want);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return fail(r, TDS_EIO, "read_failed", "reading the CSV input failed: %s", strerror(errno));
		got = (size_t)n;
	}
	if (got == 0) {
		r->in_eof = true;
		return 0;
	}
	if (r->hash && tds_hash_update(r->hash, r->raw + r->raw_len, got))
		return fail(r, TDS_EINTERNAL, "hash_failed", "hashing the CSV input failed");
	r->raw_len += got;
	return 1;
}

/* Length of the longest prefix of s[0..n) that is well-formed UTF-8 (base.h rules). Sets *incomplete
 * when what stops it is a sequence cut by the end of s (it may complete with more input). */
static size_t utf8_prefix(const uint8_t *s, size_t n, bool *incomplete)
{
	size_t i = 0;
	*incomplete = false;
	while (i < n) {
		/* ASCII fast path, 8 bytes at a time */
		while (i + 8 <= n) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (w & 0x8080808080808080ull)
				break;
			i += 8;
		}
		if (i >= n)
			break;
		uint8_t c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t need;
		uint8_t lo = 0x80, hi = 0xBF;
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			if (c == 0xE0)
				lo = 0xA0;
			if (c == 0xED)
				hi = 0x9F; /* no surrogates */
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			if (c == 0xF0)
				lo = 0x90;
			if (c == 0xF4)
				hi = 0x8F;
		} else {
			return i;
		}
		for (size_t k = 1; k <= need; k++) {
			if (i + k >= n) {
				*incomplete = true;
				return i;
			}
			uint8_t b = s[i + k];
			if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF))
				return i;
		}
		i += need + 1;
	}
	return i;
}

/* Lines before the byte that is about to be added at buf[end]. */
static uint64_t line_at_end(const tds_csv *r)
{
	uint64_t line = r->line;
	for (size_t i = r->pos; i < r->end; i++)
		if (r->buf[i] == '\n' || (r->buf[i] == '\r' && (i + 1 >= r->end || r->buf[i + 1] != '\n')))
			line++;
	return line;
}

static int invalid_encoding(tds_csv *r, uint64_t offset, const char *what)
{
	const uint8_t *b = r->raw + (offset - r->raw_base);
	return fail(r, TDS_EINVAL, "invalid_encoding",
		    "line %llu, byte offset %llu: %s (byte 0x%02X)%s", (unsigned long long)line_at_end(r),
		    (unsigned long long)offset, what, *b,
		    r->enc == TDS_CSV_UTF8 ? "; if the file is GB18030 or GBK, give encoding gb18030" : "");
}

static bool gb18030_ok(const uint8_t *s, size_t n, bool more)
{
	iconv_t cd = iconv_open("UTF-8", "GB18030");
	if (cd == (iconv_t)-1)
		return false;
	char out[16384];
	char *in = (char *)s;
	size_t left = n;
	bool ok = true;
	while (left > 0) {
		char *o = out;
		size_t oleft = sizeof out;
		if (iconv(cd, &in, &left, &o, &oleft) == (size_t)-1) {
			if (errno == E2BIG)
				continue;
			ok = errno == EINVAL && more; /* cut sequence at the end of the window */
			break;
		}
	}
	iconv_close(cd);
	return ok;
}

/* First fill: the detection window, BOMs, the encoding. */
static int start(tds_csv *r)
{
	int rc;
	while (r->raw_len < RAW_CAP && !r->in_eof)
		if ((rc = read_raw(r)) < 0)
			return rc;
	const uint8_t *s = r->raw;
	size_t n = r->raw_len, skip = 0;
	tds_csv_encoding bom = TDS_CSV_AUTO;
	if (n >= 2 && ((s[0] == 0xFF && s[1] == 0xFE) || (s[0] == 0xFE && s[1] == 0xFF)))
		return fail(r, TDS_EINVAL, "unsupported_encoding",
			    "line 1: the file is UTF-16 or UTF-32 (byte order mark %02X %02X); save it as UTF-8 or GB18030",
			    s[0], s[1]);
	if (n >= 4 && s[0] == 0 && s[1] == 0 && s[2] == 0xFE && s[3] == 0xFF)
		return fail(r, TDS_EINVAL, "unsupported_encoding", "line 1: the file is UTF-32; save it as UTF-8 or GB18030");
	if (n >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) {
		bom = TDS_CSV_UTF8;
		skip = 3;
	} else if (n >= 4 && s[0] == 0x84 && s[1] == 0x31 && s[2] == 0x95 && s[3] == 0x33) {
		bom = TDS_CSV_GB18030;
		skip = 4;
	}
	if (bom != TDS_CSV_AUTO && r->o.encoding != TDS_CSV_AUTO && bom != r->o.encoding)
		return fail(r, TDS_EINVAL, "encoding_mismatch", "line 1: the file starts with a %s byte order mark but encoding %s was given",
			    tds_csv_encoding_name(bom), tds_csv_encoding_name(r->o.encoding));
	r->enc = r->o.encoding != TDS_CSV_AUTO ? r->o.encoding : bom;
	if (r->enc == TDS_CSV_AUTO) {
		bool incomplete;
		size_t ok = utf8_prefix(s, n, &incomplete);
		if (ok == n || (incomplete && !r->in_eof))
			r->enc = TDS_CSV_UTF8;
		else
			r->enc = gb18030_ok(s, n, !r->in_eof) ? TDS_CSV_GB18030 : TDS_CSV_UTF8;
	}
	if (r->enc == TDS_CSV_GB18030 && r->cd == (iconv_t)-1) {
		r->cd = iconv_open("UTF-8", "GB18030");
		if (r->cd == (iconv_t)-1)
			return fail(r, TDS_EINTERNAL, "iconv_unavailable", "this system's iconv has no GB18030 converter");
	}
	r->raw_pos = skip;
	r->started = true;
	return 0;
}

/* Moves bytes from raw to buf (validating or converting). Returns bytes added (0 when raw holds
 * only a cut sequence), or an error. */
static int transfer(tds_csv *r)
{
	size_t space = r->cap - 1 - r->end;
	uint8_t *src = r->raw + r->raw_pos;
	size_t n = r->raw_len - r->raw_pos;
	if (r->enc == TDS_CSV_GB18030) {
		char *in = (char *)src, *o = r->buf + r->end;
		size_t left = n, oleft = space;
		size_t res = iconv(r->cd, &in, &left, &o, &oleft);
		int e = errno;
		size_t used = n - left, made = space - oleft;
		r->raw_pos += used;
		r->end += made;
		if (res == (size_t)-1 && e == EILSEQ && made == 0)
			return invalid_encoding(r, r->raw_base + r->raw_pos, "invalid GB18030 sequence");
		return (int)(made > 0);
	}
	size_t m = n < space ? n : space;
	bool incomplete;
	size_t ok = utf8_prefix(src, m, &incomplete);
	if (ok == 0 && !incomplete)
		return invalid_encoding(r, r->raw_base + r->raw_pos, "invalid UTF-8");
	memcpy(r->buf + r->end, src, ok);
	r->raw_pos += ok;
	r->end += ok;
	return ok > 0;
}

/* Makes room at the end of buf (moving the record in progress to the front, or growing buf) and
 * adds input. 1 when bytes were added, 0 at the end of input, negative on error. */
static int fill(tds_csv *r, size_t *fstart, size_t *w)
{
	if (r->err)
		return resurface(r);
	if (!r->started) {
		int rc = start(r);
		if (rc)
			return rc;
	}
	if (r->rec_start > 0) {
		size_t sh = r->rec_start;
		memmove(r->buf, r->buf + sh, r->end - sh);
		r->end -= sh;
		r->pos -= sh;
		r->buf_base += sh;
		for (size_t i = 0; i < r->nf; i++)
			r->foff[i] -= sh;
		if (fstart)
			*fstart -= sh;
		if (w)
			*w -= sh;
		r->rec_start = 0;
	}
	if (r->end + 8 >= r->cap) { /* room for at least one converted character */
		if (r->cap >= TDS_CSV_MAX_RECORD + 1)
			return fail(r, TDS_ETOOBIG, "record_too_large", "line %llu: a record is larger than %u bytes",
				    (unsigned long long)r->rec_line, TDS_CSV_MAX_RECORD);
		size_t nc = (r->cap - 1) * 2 + 1;
		if (nc > TDS_CSV_MAX_RECORD + 1)
			nc = TDS_CSV_MAX_RECORD + 1;
		char *nb = realloc(r->buf, nc);
		if (!nb)
			return fail(r, TDS_ENOMEM, "out_of_memory", "out of memory growing the CSV buffer");
		r->buf = nb;
		r->cap = nc;
	}
	for (;;) {
		if (r->raw_pos < r->raw_len) {
			int rc = transfer(r);
			if (rc)
				return rc;
		}
		if (r->in_eof) {
			if (r->raw_pos < r->raw_len)
				return invalid_encoding(r, r->raw_base + r->raw_pos,
							r->enc == TDS_CSV_GB18030 ? "GB18030 sequence cut by the end of the file"
										  : "UTF-8 sequence cut by the end of the file");
			return 0;
		}
		int rc = read_raw(r);
		if (rc < 0)
			return rc;
	}
}

/* ---- tokenizer ---- */

static int nul_byte(tds_csv *r, size_t at)
{
	if (r->enc == TDS_CSV_UTF8)
		return fail(r, TDS_EINVAL, "nul_byte",
			    "line %llu, column %zu, byte offset %llu: NUL byte (is the file UTF-16? save it as UTF-8)",
			    (unsigned long long)r->line, r->nf + 1, (unsigned long long)(r->buf_base + at));
	return fail(r, TDS_EINVAL, "nul_byte", "line %llu, column %zu: NUL byte", (unsigned long long)r->line, r->nf + 1);
}

static int push_field(tds_csv *r, size_t off, size_t len)
{
	if (r->nf >= r->o.max_columns)
		return fail(r, TDS_EINVAL, "too_many_columns", "line %llu: more than %u fields in a record",
			    (unsigned long long)r->rec_line, r->o.max_columns);
	if (r->nf == r->fcap) {
		size_t nc = r->fcap * 2;
		size_t *a = realloc(r->foff, nc * sizeof *a);
		if (a)
			r->foff = a;
		size_t *b = realloc(r->flen, nc * sizeof *b);
		if (b)
			r->flen = b;
		char **c = realloc(r->fptr, nc * sizeof *c);
		if (c)
			r->fptr = c;
		if (!a || !b || !c)
			return fail(r, TDS_ENOMEM, "out_of_memory", "out of memory");
		r->fcap = nc;
	}
	r->buf[off + len] = 0;
	r->foff[r->nf] = off;
	r->flen[r->nf] = len;
	r->nf++;
	return 0;
}

static int too_large(tds_csv *r, uint64_t line)
{
	return fail(r, TDS_EINVAL, "field_too_large", "line %llu, column %zu: field longer than %zu bytes",
		    (unsigned long long)line, r->nf + 1, r->o.max_field);
}

static int finish(tds_csv *r, tds_csv_record *rec)
{
	for (size_t i = 0; i < r->nf; i++)
		r->fptr[i] = r->buf + r->foff[i];
	rec->n = r->nf;
	rec->field = r->fptr;
	rec->len = r->flen;
	rec->line = r->rec_line;
	return 1;
}

/* After a field: the terminator at buf[pos] is a delimiter (1: next field), a line end (0: record
 * done) or anything else (error). */
static int after_field(tds_csv *r)
{
	char c = r->buf[r->pos];
	if (c == r->o.delimiter) {
		r->pos++;
		return 1;
	}
	if (c == '\n') {
		r->pos++;
		r->line++;
		return 0;
	}
	if (c == '\r') {
		r->pos++;
		r->line++;
		r->skip_lf = true;
		return 0;
	}
	return -1;
}

int tds_csv_next(tds_csv *r, tds_csv_record *rec)
{
	int rc;
	if (r->err)
		return resurface(r);
	r->nf = 0;
	r->rec_start = r->pos;
	/* skip blank lines (and the LF of a CRLF split by the previous record) */
	for (;;) {
		if (r->pos == r->end) {
			r->rec_start = r->pos;
			if ((rc = fill(r, NULL, NULL)) <= 0)
				return rc;
			continue;
		}
		char c = r->buf[r->pos];
		if (r->skip_lf) {
			r->skip_lf = false;
			if (c == '\n') {
				r->pos++;
				continue;
			}
		}
		if (c == '\n' || c == '\r') {
			r->line++;
			r->pos++;
			r->skip_lf = c == '\r';
			continue;
		}
		break;
	}
	r->rec_start = r->pos;
	r->rec_line = r->line;
	for (;;) { /* one field per iteration */
		if (r->pos == r->end) {
			if ((rc = fill(r, NULL, NULL)) < 0)
				return rc;
			if (rc == 0) { /* end of input right after a delimiter: an empty last field */
				if ((rc = push_field(r, r->pos, 0)))
					return rc;
				return finish(r, rec);
			}
		}
		if (r->buf[r->pos] == '"') {
			uint64_t fline = r->line;
			size_t fstart = r->pos, w = r->pos;
			r->pos++;
			for (;;) {
				if (r->pos == r->end) {
					if ((rc = fill(r, &fstart, &w)) < 0)
						return rc;
					if (rc == 0)
						return fail(r, TDS_EINVAL, "unbalanced_quote",
							    "line %llu, column %zu: the quoted field starting here is never closed",
							    (unsigned long long)fline, r->nf + 1);
				}
				char *b = r->buf;
				char *q = memchr(b + r->pos, '"', r->end - r->pos);
				size_t stop = q ? (size_t)(q - b) : r->end;
				for (size_t i = r->pos; i < stop; i++) {
					char ch = b[i];
					if (ch == '\n')
						r->line++;
					else if (ch == 0) {
						r->pos = i;
						return nul_byte(r, i);
					}
					b[w++] = ch;
				}
				r->pos = stop;
				if (w - fstart > r->o.max_field)
					return too_large(r, fline);
				if (!q)
					continue;
				r->pos++; /* the quote */
				if (r->pos == r->end) {
					if ((rc = fill(r, &fstart, &w)) < 0)
						return rc;
					if (rc == 0) { /* closing quote at the end of input */
						if ((rc = push_field(r, fstart, w - fstart)))
							return rc;
						return finish(r, rec);
					}
				}
				if (r->buf[r->pos] == '"') { /* doubled quote */
					r->buf[w++] = '"';
					r->pos++;
					continue;
				}
				break;
			}
			size_t len = w - fstart;
			int a = after_field(r);
			if (a < 0)
				return fail(r, TDS_EINVAL, "invalid_quoted_field",
					    "line %llu, column %zu: only a delimiter or a line end may follow a closing quote",
					    (unsigned long long)r->line, r->nf + 1);
			if ((rc = push_field(r, fstart, len)))
				return rc;
			if (a == 0)
				return finish(r, rec);
			continue;
		}
		/* unquoted field */
		size_t fstart = r->pos;
		for (;;) {
			const char *b = r->buf;
			size_t p = r->pos, e = r->end;
			while (p < e && !r->cls[(unsigned char)b[p]])
				p++;
			r->pos = p;
			if (p - fstart > r->o.max_field)
				return too_large(r, r->line);
			if (p < e)
				break;
			if ((rc = fill(r, &fstart, NULL)) < 0)
				return rc;
			if (rc == 0) { /* last field of the input, no line end */
				if ((rc = push_field(r, fstart, r->pos - fstart)))
					return rc;
				return finish(r, rec);
			}
		}
		if (r->buf[r->pos] == 0)
			return nul_byte(r, r->pos);
		size_t len = r->pos - fstart;
		int a = after_field(r);
		if ((rc = push_field(r, fstart, len)))
			return rc;
		if (a == 0)
			return finish(r, rec);
	}
}

/* ---- shape guess ---- */

void tds_csv_schema_free(tds_csv_schema *s)
{
	if (!s)
		return;
	for (size_t i = 0; s->cols && i < s->ncols; i++)
		free(s->cols[i].label);
	free(s->cols);
	memset(s, 0, sizeof *s);
}

static bool has_control(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

/* ASCII case-insensitive equality (SQLite compares identifiers that way). */
static bool name_eq(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

/* Gives every column a unique SQL name: base name, then _2, _3, … */
static void unique_names(tds_csv_schema *s)
{
	for (size_t i = 0; i < s->ncols; i++) {
		char base[72];
		snprintf(base, sizeof base, "%s", s->cols[i].name);
		for (unsigned k = 2;; k++) {
			bool clash = false;
			for (size_t j = 0; j < i && !clash; j++)
				clash = name_eq(s->cols[j].name, s->cols[i].name);
			if (!clash)
				break;
			char suffix[16];
			int sl = snprintf(suffix, sizeof suffix, "_%u", k);
			size_t bl = strlen(base);
			if (bl + (size_t)sl > 64) {
				bl = 64 - (size_t)sl;
				while (bl > 0 && ((unsigned char)base[bl] & 0xC0) == 0x80)
					bl--;
			}
			snprintf(s->cols[i].name, sizeof s->cols[i].name, "%.*s%s", (int)bl, base, suffix);
		}
	}
}

int tds_csv_sniff(tds_csv *r, size_t max_rows, tds_csv_schema *out)
{
	memset(out, 0, sizeof *out);
	if (!max_rows)
		max_rows = 10000;
	tds_csv_record rec;
	int rc = tds_csv_next(r, &rec);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return tds_error_set(TDS_EUNPROC, "empty_csv", "the CSV input holds no records");
	size_t n = rec.n;
	uint64_t first_line = rec.line;
	char **first = calloc(n, sizeof *first);
	size_t *flen = calloc(n, sizeof *flen);
	bool *repeat = calloc(n, sizeof *repeat);
	tds_profile *p = tds_profile_new(n);
	out->cols = calloc(n, sizeof *out->cols);
	if (!first || !flen || !repeat || !p || !out->cols) {
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto done;
	}
	out->ncols = n;
	bool candidate = true, control = false;
	for (size_t c = 0; c < n; c++) {
		if (!(first[c] = malloc(rec.len[c] + 1))) {
			rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
			goto done;
		}
		memcpy(first[c], rec.field[c], rec.len[c] + 1);
		flen[c] = rec.len[c];
		tds_value v;
		tds_value_classify(first[c], flen[c], &v);
		if (tds_value_is_null(first[c], flen[c]) || v.types != T_TEXT_ONLY)
			candidate = false;
		control = control || has_control(first[c], flen[c]);
		for (size_t k = 0; k < c && candidate; k++)
			candidate = !(flen[k] == flen[c] && memcmp(first[k], first[c], flen[c]) == 0);
	}
	while (out->rows_seen < max_rows && (rc = tds_csv_next(r, &rec)) == 1) {
		if (rec.n != n) {
			if (r->o.report_ragged)
				continue;
			rc = cat_line_error(TDS_EINVAL, "ragged_row", rec.line, "expected %zu fields (as on line %llu), found %zu",
					    n, (unsigned long long)first_line, rec.n);
			goto done;
		}
		out->rows_seen++;
		for (size_t c = 0; c < n; c++) {
			tds_profile_add(p, c, rec.field[c], rec.len[c]);
			if (rec.len[c] == flen[c] && memcmp(rec.field[c], first[c], flen[c]) == 0)
				repeat[c] = true;
		}
	}
	if (rc < 0)
		goto done;
	rc = 0;
	bool header;
	if (r->o.header == TDS_CSV_HEADER_YES) {
		header = true;
	} else if (r->o.header == TDS_CSV_HEADER_NO) {
		header = false;
	} else {
		bool typed = false, repeats = false;
		for (size_t c = 0; c < n; c++) {
			typed = typed || tds_profile_type(p, c) != TDS_COL_TEXT;
			repeats = repeats || repeat[c];
		}
		header = candidate && (out->rows_seen == 0 || typed || !repeats);
	}
	if (header && control) {
		for (size_t c = 0; c < n; c++)
			if (has_control(first[c], flen[c])) {
				rc = cat_line_error(TDS_EINVAL, "invalid_column_name", first_line,
						    "column %zu: column names may not contain control characters", c + 1);
				goto done;
			}
	}
	out->header = header;
	for (size_t c = 0; c < n; c++) {
		if (header && flen[c] == 0) {
			snprintf(out->cols[c].name, sizeof out->cols[c].name, "c%zu", c + 1);
		} else if (header) {
			tds_sql_name(first[c], flen[c], out->cols[c].name, sizeof out->cols[c].name);
			out->cols[c].label = first[c];
			first[c] = NULL;
		} else {
			snprintf(out->cols[c].name, sizeof out->cols[c].name, "c%zu", c + 1);
			tds_profile_add(p, c, first[c], flen[c]);
		}
		out->cols[c].type = tds_profile_type(p, c);
	}
	if (!header)
		out->rows_seen++;
	unique_names(out);
done:
	for (size_t c = 0; first && c < n; c++)
		free(first[c]);
	free(first);
	free(flen);
	free(repeat);
	tds_profile_free(p);
	if (rc)
		tds_csv_schema_free(out);
	return rc;
}
