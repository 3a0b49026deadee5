/*
 * sign.c — node-to-node request signing: the subset of RFC 9421 (HTTP Message Signatures) and
 * RFC 9530 (Content-Digest) that TDS speaks, both sides (formats and error names in http.h).
 *
 * Pieces, in order of use:
 *   - a parser for the RFC 8941 structured fields we need (dictionaries whose values are items or
 *     inner lists, with parameters; bare items integer, string, token, byte sequence, boolean). It
 *     is total: every byte string gives a result or an error, it never reads past its input, and
 *     everything it builds lives in the caller's arena with fixed upper bounds on counts;
 *   - the signature base of RFC 9421 §2.5, built from the parsed Signature-Input so signer and
 *     verifier share one implementation (the signer writes its Signature-Input, parses it back
 *     and signs the base of that);
 *   - the replay cache: a fixed-size open-addressing table of (keyid, nonce) tags with expiry
 *     times under one mutex. Invariants: at most one slot per tag; a slot is empty iff expires == 0;
 *     a live entry (expires > now) is never dropped, so when live entries reach the capacity new
 *     nonces are refused (replay_cache_full) instead of forgetting one inside its window;
 *   - the policy (tds_sig_verify), the server adapter and the signer.
 *
 * Not for deciding who a keyid is (the resolver: identity looks up node certificates and
 * revocations), nor for signing responses.
 */
#include "http/http_internal.h"

#include "crypto/crypto.h"

#include <limits.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SF_MAX_MEMBERS 16
#define SF_MAX_ITEMS TDS_SIG_MAX_COMPONENTS
#define SF_MAX_PARAMS 8
#define SF_MAX_KEY 64
#define SIG_MAX_BASE 16384
#define SIG_MAX_VALUE 8192  /* one covered field value */
#define SIG_MAX_FIELDS 256  /* header lines of a request the server adapter looks at */
#define NONCE_BYTES 16
#define NONCE_MIN_CHARS 22  /* base64url of 16 bytes */
#define NONCE_MAX_CHARS 128

/* ------------------------------------------------------------------------------------------------
 * RFC 8941 structured fields (subset)
 * ---------------------------------------------------------------------------------------------- */

typedef enum { SF_INT = 1, SF_STRING, SF_TOKEN, SF_BINARY, SF_BOOL } sf_type;

typedef struct sf_bare {
	sf_type type;
	int64_t i;       /* SF_INT */
	bool b;          /* SF_BOOL */
	const char *s;   /* SF_STRING (unescaped), SF_TOKEN, SF_BINARY (decoded bytes) */
	size_t len;
} sf_bare;

typedef struct sf_param {
	const char *key;
	sf_bare v;
} sf_param;

typedef struct sf_item {
	sf_bare v;
	sf_param params[SF_MAX_PARAMS];
	size_t nparams;
} sf_item;

typedef struct sf_member {
	const char *key;
	bool inner;                  /* inner list (items, list params) or a single item */
	sf_item item;                /* !inner; its params are the member's */
	sf_item *items;              /* inner: arena array of SF_MAX_ITEMS */
	size_t nitems;
	sf_param params[SF_MAX_PARAMS]; /* inner: the list's parameters */
	size_t nparams;
} sf_member;

typedef struct sf_dict {
	sf_member m[SF_MAX_MEMBERS];
	size_t n;
} sf_dict;

typedef struct sf_parser {
	const char *s;
	size_t n, pos;
	tds_arena *a;
	const char *field; /* for messages */
	const char *err_name;
} sf_parser;

static int sf_fail(sf_parser *p, const char *what)
{
	return tds_error_set(TDS_EAUTH, p->err_name, "%s is not a valid structured field: %s at byte %zu",
			     p->field, what, p->pos);
}

static int peek(const sf_parser *p) { return p->pos < p->n ? (unsigned char)p->s[p->pos] : -1; }

static bool is_lcalpha(int c) { return c >= 'a' && c <= 'z'; }
static bool is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_digit(int c) { return c >= '0' && c <= '9'; }

/* RFC 9110 tchar */
static bool is_tchar(int c)
{
	return is_alpha(c) || is_digit(c) || (c > 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void skip_sp(sf_parser *p)
{
	while (peek(p) == ' ')
		p->pos++;
}

static void skip_ows(sf_parser *p)
{
	while (peek(p) == ' ' || peek(p) == '\t')
		p->pos++;
}

static int sf_key(sf_parser *p, const char **out)
{
	size_t start = p->pos;
	int c = peek(p);
	if (!is_lcalpha(c) && c != '*')
		return sf_fail(p, "expected a key");
	p->pos++;
	while ((c = peek(p)) >= 0 && (is_lcalpha(c) || is_digit(c) || c == '_' || c == '-' || c == '.' || c == '*'))
		p->pos++;
	if (p->pos - start > SF_MAX_KEY)
		return sf_fail(p, "key too long");
	*out = tds_arena_strndup(p->a, p->s + start, p->pos - start);
	return 0;
}

static int sf_bare_item(sf_parser *p, sf_bare *v)
{
	memset(v, 0, sizeof *v);
	int c = peek(p);
	if (c == '-' || is_digit(c)) {
		bool neg = c == '-';
		if (neg)
			p->pos++;
		int64_t x = 0;
		size_t digits = 0;
		while (is_digit(peek(p))) {
			if (++digits > 15)
				return sf_fail(p, "integer longer than 15 digits");
			x = x * 10 + (peek(p) - '0');
			p->pos++;
		}
		if (digits == 0)
			return sf_fail(p, "expected a digit");
		if (peek(p) == '.')
			return sf_fail(p, "decimals are not supported");
		v->type = SF_INT;
		v->i = neg ? -x : x;
		return 0;
	}
	if (c == '"') {
		/* measure and check first, then copy: allocations stay proportional to the input */
		size_t start = ++p->pos, len = 0;
		for (;;) {
			c = peek(p);
			if (c < 0)
				return sf_fail(p, "unterminated string");
			p->pos++;
			if (c == '"')
				break;
			if (c == '\\') {
				c = peek(p);
				if (c != '"' && c != '\\')
					return sf_fail(p, "bad escape in string");
				p->pos++;
			} else if (c < 0x20 || c > 0x7e) {
				return sf_fail(p, "string holds a character outside visible ASCII");
			}
			len++;
		}
		char *out = tds_arena_alloc(p->a, len + 1);
		size_t o = 0;
		for (size_t i = start; o < len; i++) {
			if (p->s[i] == '\\')
				i++;
			out[o++] = p->s[i];
		}
		out[o] = 0;
		v->type = SF_STRING;
		v->s = out;
		v->len = o;
		return 0;
	}
	if (is_alpha(c) || c == '*') {
		size_t start = p->pos++;
		while ((c = peek(p)) >= 0 && (is_tchar(c) || c == ':' || c == '/'))
			p->pos++;
		v->type = SF_TOKEN;
		v->s = tds_arena_strndup(p->a, p->s + start, p->pos - start);
		v->len = p->pos - start;
		return 0;
	}
	if (c == ':') {
		size_t start = ++p->pos;
		while ((c = peek(p)) >= 0 && c != ':') {
			if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '/' && c != '=')
				return sf_fail(p, "byte sequence holds a character outside base64");
			p->pos++;
		}
		if (c != ':')
			return sf_fail(p, "unterminated byte sequence");
		tds_buf raw = TDS_BUF_INIT;
		if (tds_b64_decode(p->s + start, p->pos - start, &raw) < 0) {
			tds_buf_free(&raw);
			return sf_fail(p, "byte sequence is not valid base64");
		}
		p->pos++;
		v->type = SF_BINARY;
		v->len = raw.len;
		char *d = tds_arena_alloc(p->a, raw.len + 1);
		if (raw.len)
			memcpy(d, raw.data, raw.len);
		v->s = d;
		tds_buf_free(&raw);
		return 0;
	}
	if (c == '?') {
		p->pos++;
		c = peek(p);
		if (c != '0' && c != '1')
			return sf_fail(p, "boolean must be ?0 or ?1");
		p->pos++;
		v->type = SF_BOOL;
		v->b = c == '1';
		return 0;
	}
	return sf_fail(p, "expected an item");
}

static int sf_params(sf_parser *p, sf_param *params, size_t *n)
{
	*n = 0;
	while (peek(p) == ';') {
		p->pos++;
		skip_sp(p);
		const char *key;
		int rc = sf_key(p, &key);
		if (rc < 0)
			return rc;
		for (size_t i = 0; i < *n; i++)
			if (strcmp(params[i].key, key) == 0)
				return sf_fail(p, "duplicate parameter");
		if (*n == SF_MAX_PARAMS)
			return sf_fail(p, "too many parameters");
		sf_param *pr = &params[(*n)++];
		pr->key = key;
		if (peek(p) == '=') {
			p->pos++;
			if ((rc = sf_bare_item(p, &pr->v)) < 0)
				return rc;
		} else {
			memset(&pr->v, 0, sizeof pr->v);
			pr->v.type = SF_BOOL;
			pr->v.b = true;
		}
	}
	return 0;
}

static int sf_item_full(sf_parser *p, sf_item *it)
{
	int rc = sf_bare_item(p, &it->v);
	return rc < 0 ? rc : sf_params(p, it->params, &it->nparams);
}

static int sf_inner_list(sf_parser *p, sf_member *m)
{
	p->pos++; /* '(' */
	m->inner = true;
	m->items = tds_arena_alloc(p->a, sizeof(sf_item) * SF_MAX_ITEMS);
	m->nitems = 0;
	for (;;) {
		skip_sp(p);
		if (peek(p) == ')') {
			p->pos++;
			break;
		}
		if (m->nitems == SF_MAX_ITEMS)
			return sf_fail(p, "too many items in an inner list");
		int rc = sf_item_full(p, &m->items[m->nitems++]);
		if (rc < 0)
			return rc;
		int c = peek(p);
		if (c != ' ' && c != ')')
			return sf_fail(p, "expected ' ' or ')' in an inner list");
	}
	return sf_params(p, m->params, &m->nparams);
}

/* Parses a whole Dictionary field value. Duplicate keys are an error (RFC 8941 keeps the last; a
 * signature with two "tds" members is not something we guess about). */
static int sf_dictionary(sf_parser *p, sf_dict *d)
{
	d->n = 0;
	while (p->n > 0 && (p->s[p->n - 1] == ' ' || p->s[p->n - 1] == '\t'))
		p->n--;
	skip_sp(p);
	if (p->pos == p->n)
		return 0;
	for (;;) {
		if (d->n == SF_MAX_MEMBERS)
			return sf_fail(p, "too many dictionary members");
		sf_member *m = &d->m[d->n];
		memset(m, 0, sizeof *m);
		int rc = sf_key(p, &m->key);
		if (rc < 0)
			return rc;
		for (size_t i = 0; i < d->n; i++)
			if (strcmp(d->m[i].key, m->key) == 0)
				return sf_fail(p, "duplicate dictionary key");
		if (peek(p) == '=') {
			p->pos++;
			rc = peek(p) == '(' ? sf_inner_list(p, m) : sf_item_full(p, &m->item);
		} else {
			m->item.v.type = SF_BOOL;
			m->item.v.b = true;
			rc = sf_params(p, m->item.params, &m->item.nparams);
		}
		if (rc < 0)
			return rc;
		d->n++;
		skip_ows(p);
		if (p->pos == p->n)
			return 0;
		if (peek(p) != ',')
			return sf_fail(p, "expected ',' between dictionary members");
		p->pos++;
		skip_ows(p);
		if (p->pos == p->n)
			return sf_fail(p, "trailing ','");
	}
}

static const sf_member *dict_get(const sf_dict *d, const char *key)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->m[i].key, key) == 0)
			return &d->m[i];
	return NULL;
}

static int parse_dict(tds_arena *a, const char *field, const char *value, const char *err_name, sf_dict *d)
{
	size_t n = strlen(value);
	if (n > TDS_SIG_MAX_FIELD)
		return tds_error_set(TDS_EAUTH, err_name, "%s is longer than %d bytes", field, TDS_SIG_MAX_FIELD);
	sf_parser p = {value, n, 0, a, field, err_name};
	return sf_dictionary(&p, d);
}

/* RFC 8941 §4.1 serialisation of a bare item and of parameters. */
static int ser_bare(tds_buf *b, const sf_bare *v)
{
	switch (v->type) {
	case SF_INT:
		return tds_buf_printf(b, "%lld", (long long)v->i);
	case SF_STRING: {
		int rc = tds_buf_putc(b, '"');
		for (size_t i = 0; rc == 0 && i < v->len; i++) {
			if (v->s[i] == '"' || v->s[i] == '\\')
				rc = tds_buf_putc(b, '\\');
			if (rc == 0)
				rc = tds_buf_putc(b, v->s[i]);
		}
		return rc ? rc : tds_buf_putc(b, '"');
	}
	case SF_TOKEN:
		return tds_buf_append(b, v->s, v->len);
	case SF_BINARY: {
		int rc = tds_buf_putc(b, ':');
		if (rc == 0)
			rc = tds_b64_encode(v->s, v->len, b);
		return rc ? rc : tds_buf_putc(b, ':');
	}
	case SF_BOOL:
		return tds_buf_puts(b, v->b ? "?1" : "?0");
	}
	return tds_error_set(TDS_EINTERNAL, "internal_error", "unknown structured field type");
}

static int ser_params(tds_buf *b, const sf_param *params, size_t n)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = tds_buf_printf(b, ";%s", params[i].key);
		if (rc == 0 && !(params[i].v.type == SF_BOOL && params[i].v.b))
			rc = tds_buf_putc(b, '=') ? TDS_ENOMEM : ser_bare(b, &params[i].v);
	}
	return rc;
}

/* ------------------------------------------------------------------------------------------------
 * Message access
 * ---------------------------------------------------------------------------------------------- */

static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* The combined value of every field line named `name` (RFC 9110 §5.3, RFC 9421 §2.1: each value
 * trimmed, joined with ", "), in the arena; NULL when absent. TDS_EAUTH via *rc when too long. */
static const char *field_value(const tds_sig_message *m, tds_arena *a, const char *name, size_t max,
			       const char *err_name, int *rc)
{
	*rc = 0;
	size_t total = 0, count = 0;
	for (size_t i = 0; i < m->nfields; i++)
		if (m->fields[i].name && m->fields[i].value && strcasecmp(m->fields[i].name, name) == 0) {
			total += strnlen(m->fields[i].value, max + 1) + 2;
			count++;
			if (total > max + 2) {
				*rc = tds_error_set(TDS_EAUTH, err_name, "field '%s' is longer than %zu bytes", name, max);
				return NULL;
			}
		}
	if (!count)
		return NULL;
	char *out = tds_arena_alloc(a, total + 1);
	size_t o = 0;
	for (size_t i = 0; i < m->nfields; i++)
		if (m->fields[i].name && m->fields[i].value && strcasecmp(m->fields[i].name, name) == 0) {
			const char *v = m->fields[i].value;
			size_t n = strlen(v);
			trim(&v, &n);
			if (o) {
				memcpy(out + o, ", ", 2);
				o += 2;
			}
			memcpy(out + o, v, n);
			o += n;
		}
	out[o] = 0;
	if (o > max) {
		*rc = tds_error_set(TDS_EAUTH, err_name, "field '%s' is longer than %zu bytes", name, max);
		return NULL;
	}
	return out;
}

/* Lower-cases scheme and host and drops the scheme's default port. The authority must be a
 * non-empty host (reg-name, IPv4 or [IPv6]) with an optional port: no userinfo, no spaces. */
static int norm_authority(tds_arena *a, const char *scheme, const char *auth, size_t len, const char **out)
{
	if (len == 0 || len > 255)
		return -1;
	char *s = tds_arena_strndup(a, auth, len);
	size_t host_end = len;
	if (s[0] == '[') {
		char *rb = memchr(s, ']', len);
		if (!rb)
			return -1;
		host_end = (size_t)(rb - s) + 1;
	} else {
		char *colon = memchr(s, ':', len);
		if (colon)
			host_end = (size_t)(colon - s);
	}
	if (host_end == 0)
		return -1;
	for (size_t i = 0; i < host_end; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(is_alpha(c) || is_digit(c) || c == '.' || c == '-' || c == '_' || c == '~' || c == '%' ||
		      (s[0] == '[' && (c == '[' || c == ']' || c == ':'))))
			return -1;
		if (c >= 'A' && c <= 'Z')
			s[i] = (char)(c + 32);
	}
	if (host_end < len) {
		if (s[host_end] != ':' || host_end + 1 == len || len - host_end - 1 > 5)
			return -1;
		long port = 0;
		for (size_t i = host_end + 1; i < len; i++) {
			if (!is_digit((unsigned char)s[i]))
				return -1;
			port = port * 10 + (s[i] - '0');
		}
		if (port > 65535)
			return -1;
		const char *digits = s + host_end + 1;
		if ((strcmp(scheme, "http") == 0 && strcmp(digits, "80") == 0) ||
		    (strcmp(scheme, "https") == 0 && strcmp(digits, "443") == 0))
			s[host_end] = 0;
	}
	*out = s;
	return 0;
}

static int norm_scheme(const char *in, size_t len, const char **out)
{
	if (len == 4 && strncasecmp(in, "http", 4) == 0)
		*out = "http";
	else if (len == 5 && strncasecmp(in, "https", 5) == 0)
		*out = "https";
	else
		return -1;
	return 0;
}

/* A request target in origin form: "/" then visible ASCII, no fragment. */
static bool target_ok(const char *t)
{
	if (!t || t[0] != '/')
		return false;
	for (const char *p = t; *p; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e || *p == '#')
			return false;
	return strlen(t) <= HTTP_MAX_URI;
}

static bool method_ok(const char *m)
{
	if (!m || !*m || strlen(m) > 32)
		return false;
	for (const char *p = m; *p; p++)
		if (!is_tchar((unsigned char)*p))
			return false;
	return true;
}

static bool keyid_ok(const char *k, size_t len)
{
	if (len == 0 || len > TDS_SIG_MAX_KEYID)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] > 0x7e || k[i] == '"' || k[i] == '\\')
			return false;
	return true;
}

/* ------------------------------------------------------------------------------------------------
 * Signature base (RFC 9421 §2.5)
 * ---------------------------------------------------------------------------------------------- */

static bool is_field_name(const char *s, size_t len)
{
	if (len == 0 || len > 64)
		return false;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || !is_tchar(c))
			return false;
	}
	return true;
}

static const char *const DERIVED[] = {"@method", "@target-uri", "@authority", "@scheme", "@path", "@query"};

/* Value of a derived component; the message was checked by the caller. */
static const char *derived_value(const tds_sig_message *m, tds_arena *a, const char *name, const char *scheme,
				 const char *authority)
{
	const char *q = strchr(m->target, '?');
	size_t plen = q ? (size_t)(q - m->target) : strlen(m->target);
	if (strcmp(name, "@method") == 0)
		return m->method;
	if (strcmp(name, "@target-uri") == 0)
		return tds_arena_printf(a, "%s://%s%s", scheme, authority, m->target);
	if (strcmp(name, "@authority") == 0)
		return authority;
	if (strcmp(name, "@scheme") == 0)
		return scheme;
	if (strcmp(name, "@path") == 0)
		return plen ? tds_arena_strndup(a, m->target, plen) : "/";
	/* @query: "?" and the query, or "?" alone when there is none (RFC 9421 §2.2.7) */
	return q ? q : "?";
}

static bool value_ok(const char *v)
{
	for (; *v; v++)
		if (((unsigned char)*v < 0x20 && *v != '\t') || (unsigned char)*v > 0x7e)
			return false;
	return true;
}

/* Checks the message's own parts and normalises scheme and authority. */
static int check_message(const tds_sig_message *m, tds_arena *a, const char **scheme, const char **authority)
{
	if (!method_ok(m->method))
		return tds_error_set(TDS_EAUTH, "malformed_signature", "request method is not an HTTP token");
	if (!m->scheme || norm_scheme(m->scheme, strlen(m->scheme), scheme) < 0)
		return tds_error_set(TDS_EAUTH, "malformed_signature", "request scheme must be http or https");
	if (!m->authority || norm_authority(a, *scheme, m->authority, strlen(m->authority), authority) < 0)
		return tds_error_set(TDS_EAUTH, "malformed_signature",
				     "request has no usable Host: a host[:port] is needed to rebuild @target-uri");
	if (!target_ok(m->target))
		return tds_error_set(TDS_EAUTH, "malformed_signature",
				     "request target must be a path of visible ASCII starting with '/'");
	if (m->body_len && !m->body)
		return tds_error_set(TDS_EINVAL, "invalid_signature_request", "body length without a body");
	return 0;
}

/* The components of a Signature-Input member: strings naming supported components, no component
 * parameters, no duplicates. */
static int check_components(const sf_member *in)
{
	if (!in->inner)
		return tds_error_set(TDS_EAUTH, "malformed_signature",
				     "Signature-Input member must be an inner list of components");
	for (size_t i = 0; i < in->nitems; i++) {
		const sf_item *it = &in->items[i];
		if (it->v.type != SF_STRING)
			return tds_error_set(TDS_EAUTH, "malformed_signature",
					     "Signature-Input components must be strings");
		if (it->nparams)
			return tds_error_set(TDS_EAUTH, "unsupported_signature",
					     "component parameters (;sf ;key ;bs ;req ;tr ;name) are not supported");
		bool known = false;
		if (it->v.s[0] == '@') {
			for (size_t k = 0; k < TDS_ARRAY_LEN(DERIVED); k++)
				known = known || strcmp(it->v.s, DERIVED[k]) == 0;
			if (!known)
				return tds_error_set(TDS_EAUTH, "unsupported_signature",
						     "derived component '%.32s' is not supported; use @method, @target-uri, "
						     "@authority, @scheme, @path or @query", it->v.s);
		} else if (!is_field_name(it->v.s, it->v.len)) {
			return tds_error_set(TDS_EAUTH, "malformed_signature",
					     "component '%.32s' is not a lower-case field name", it->v.s);
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(in->items[j].v.s, it->v.s) == 0)
				return tds_error_set(TDS_EAUTH, "malformed_signature", "component '%.32s' is listed twice",
						     it->v.s);
	}
	return 0;
}

static int build_base(const tds_sig_message *m, tds_arena *a, const sf_member *in, const char *scheme,
		      const char *authority, tds_buf *out)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < in->nitems; i++) {
		const char *name = in->items[i].v.s;
		const char *v;
		if (name[0] == '@') {
			v = derived_value(m, a, name, scheme, authority);
		} else {
			v = field_value(m, a, name, SIG_MAX_VALUE, "malformed_signature", &rc);
			if (rc < 0)
				return rc;
			if (!v)
				return tds_error_set(TDS_EAUTH, "malformed_signature",
						     "covered field '%.64s' is not in the request", name);
		}
		if (!value_ok(v))
			return tds_error_set(TDS_EAUTH, "malformed_signature",
					     "component '%.64s' holds characters outside visible ASCII", name);
		rc = tds_buf_printf(out, "\"%s\": %s\n", name, v);
	}
	if (rc == 0)
		rc = tds_buf_puts(out, "\"@signature-params\": (");
	for (size_t i = 0; rc == 0 && i < in->nitems; i++) {
		if (i)
			rc = tds_buf_putc(out, ' ');
		if (rc == 0)
			rc = ser_bare(out, &in->items[i].v);
	}
	if (rc == 0)
		rc = tds_buf_putc(out, ')');
	if (rc == 0)
		rc = ser_params(out, in->params, in->nparams);
	if (rc == 0 && out->len > SIG_MAX_BASE)
		rc = tds_error_set(TDS_EAUTH, "malformed_signature", "signature base is longer than %d bytes",
				   SIG_MAX_BASE);
	return rc;
}

/* Finds `label` in Signature-Input (must be present) and, if sig_out, in Signature. */
static int find_label(const tds_sig_message *m, tds_arena *a, const char *label, const sf_member **in,
		      const sf_member **sig)
{
	int rc;
	const char *si = field_value(m, a, "signature-input", TDS_SIG_MAX_FIELD, "malformed_signature", &rc);
	if (rc < 0)
		return rc;
	if (!si)
		return tds_error_set(TDS_EAUTH, "malformed_signature", "request has no Signature-Input field");
	sf_dict *d = tds_arena_alloc(a, sizeof *d);
	if ((rc = parse_dict(a, "Signature-Input", si, "malformed_signature", d)) < 0)
		return rc;
	if (!(*in = dict_get(d, label)))
		return tds_error_set(TDS_EAUTH, "signature_label_missing",
				     "Signature-Input has no signature labelled '%s'", label);
	if (!sig)
		return 0;
	const char *sv = field_value(m, a, "signature", TDS_SIG_MAX_FIELD, "malformed_signature", &rc);
	if (rc < 0)
		return rc;
	if (!sv)
		return tds_error_set(TDS_EAUTH, "malformed_signature", "request has Signature-Input but no Signature");
	sf_dict *ds = tds_arena_alloc(a, sizeof *ds);
	if ((rc = parse_dict(a, "Signature", sv, "malformed_signature", ds)) < 0)
		return rc;
	if (!(*sig = dict_get(ds, label)))
		return tds_error_set(TDS_EAUTH, "signature_label_missing", "Signature has no signature labelled '%s'",
				     label);
	if ((*sig)->inner || (*sig)->item.v.type != SF_BINARY || (*sig)->item.nparams)
		return tds_error_set(TDS_EAUTH, "malformed_signature",
				     "Signature member '%s' must be a byte sequence (:base64:)", label);
	return 0;
}

int tds_sig_base(const tds_sig_message *m, const char *label, tds_buf *out)
{
	if (!m || !label || !out)
		return tds_error_set(TDS_EINVAL, "invalid_signature_request", "message, label and output are required");
	tds_arena *a = tds_arena_new(0);
	const char *scheme = NULL, *authority = NULL;
	const sf_member *in;
	tds_buf b = TDS_BUF_INIT;
	int rc = check_message(m, a, &scheme, &authority);
	if (rc == 0)
		rc = find_label(m, a, label, &in, NULL);
	if (rc == 0)
		rc = check_components(in);
	if (rc == 0)
		rc = build_base(m, a, in, scheme, authority, &b);
	if (rc == 0)
		rc = tds_buf_append(out, b.data, b.len);
	tds_buf_free(&b);
	tds_arena_free(a);
	return rc;
}

/* ------------------------------------------------------------------------------------------------
 * Content-Digest (RFC 9530)
 * ---------------------------------------------------------------------------------------------- */

int tds_content_digest(const void *body, size_t len, tds_buf *out)
{
	uint8_t h[TDS_HASH_LEN];
	int rc = tds_hash(TDS_SUITE_INTL, body ? body : "", body ? len : 0, h);
	if (rc == 0)
		rc = tds_buf_puts(out, "sha-256=:");
	if (rc == 0)
		rc = tds_b64_encode(h, sizeof h, out);
	return rc ? rc : tds_buf_putc(out, ':');
}

static int check_digest_dict(tds_arena *a, const char *field, const void *body, size_t len)
{
	sf_dict *d = tds_arena_alloc(a, sizeof *d);
	int rc = parse_dict(a, "Content-Digest", field, "malformed_digest", d);
	if (rc < 0)
		return rc;
	int known = 0;
	for (size_t i = 0; i < d->n; i++) {
		const sf_member *mb = &d->m[i];
		bool s256 = strcmp(mb->key, "sha-256") == 0, s512 = strcmp(mb->key, "sha-512") == 0;
		if (!s256 && !s512)
			continue;
		if (mb->inner || mb->item.v.type != SF_BINARY || mb->item.nparams)
			return tds_error_set(TDS_EAUTH, "malformed_digest",
					     "Content-Digest member '%s' must be a byte sequence without parameters", mb->key);
		uint8_t h[64];
		size_t hl = s256 ? 32 : 64;
		if (s256)
			rc = tds_hash(TDS_SUITE_INTL, body ? body : "", len, h);
		else
			rc = EVP_Digest(body ? body : "", len, h, NULL, EVP_sha512(), NULL) == 1
				     ? 0
				     : tds_error_set(TDS_EINTERNAL, "internal_error", "SHA-512 failed");
		if (rc < 0)
			return rc;
		if (mb->item.v.len != hl || !tds_ct_equal(h, mb->item.v.s, hl))
			return tds_error_set(TDS_EAUTH, "digest_mismatch",
					     "Content-Digest %s does not match the request body: the body was changed "
					     "or the digest computed over other bytes", mb->key);
		known++;
	}
	if (!known)
		return tds_error_set(TDS_EAUTH, "malformed_digest",
				     "Content-Digest has no sha-256 or sha-512 member; send sha-256=:<base64>:");
	return 0;
}

int tds_content_digest_check(const char *field, const void *body, size_t len)
{
	if (!field)
		return tds_error_set(TDS_EAUTH, "malformed_digest", "Content-Digest is missing");
	if (len && !body)
		return tds_error_set(TDS_EINVAL, "invalid_signature_request", "body length without a body");
	tds_arena *a = tds_arena_new(0);
	int rc = check_digest_dict(a, field, body, len);
	tds_arena_free(a);
	return rc;
}

/* ------------------------------------------------------------------------------------------------
 * Replay cache
 * ---------------------------------------------------------------------------------------------- */

typedef struct replay_slot {
	uint64_t tag;
	int64_t expires; /* ms; 0 = empty */
} replay_slot;

typedef struct replay_cache {
	pthread_mutex_t lock;
	replay_slot *slots;
	size_t mask;         /* slots - 1; slots is a power of two >= 2 x capacity */
	size_t used;         /* non-empty slots, live or expired */
	size_t capacity;     /* live entries at most */
	int64_t next_purge;  /* a purge before this time frees nothing */
	uint8_t salt[16];    /* tags are unpredictable, so nobody can aim collisions */
} replay_cache;

static int replay_init(replay_cache *c, size_t capacity)
{
	size_t slots = 16;
	while (slots < 2 * capacity) {
		if (slots > SIZE_MAX / 4 / sizeof(replay_slot))
			return tds_error_set(TDS_EINVAL, "invalid_verifier", "replay capacity too large");
		slots *= 2;
	}
	c->slots = calloc(slots, sizeof *c->slots);
	if (!c->slots)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory for the replay cache (%zu slots)", slots);
	c->mask = slots - 1;
	c->capacity = capacity;
	c->used = 0;
	c->next_purge = 0;
	pthread_mutex_init(&c->lock, NULL);
	return tds_random(c->salt, sizeof c->salt);
}

/* 64 bits of SHA-256(salt || keyid || 0 || nonce); both strings were bounded by read_params. */
static int replay_tag(const replay_cache *c, const char *keyid, const char *nonce, uint64_t *tag)
{
	uint8_t msg[sizeof c->salt + TDS_SIG_MAX_KEYID + 1 + NONCE_MAX_CHARS], h[TDS_HASH_LEN];
	size_t kl = strlen(keyid), nl = strlen(nonce);
	if (kl > TDS_SIG_MAX_KEYID || nl > NONCE_MAX_CHARS)
		return tds_error_set(TDS_EINTERNAL, "internal_error", "keyid or nonce longer than checked");
	memcpy(msg, c->salt, sizeof c->salt);
	memcpy(msg + sizeof c->salt, keyid, kl + 1);
	memcpy(msg + sizeof c->salt + kl + 1, nonce, nl);
	int rc = tds_hash(TDS_SUITE_INTL, msg, sizeof c->salt + kl + 1 + nl, h);
	if (rc == 0)
		memcpy(tag, h, sizeof *tag);
	return rc;
}

/* Drops expired entries by rebuilding the table; records when the next one can expire. */
static void replay_purge(replay_cache *c, int64_t now)
{
	size_t live = 0, slots = c->mask + 1;
	replay_slot *keep = malloc((c->used ? c->used : 1) * sizeof *keep);
	if (!keep)
		return; /* nothing freed: the caller refuses */
	int64_t earliest = INT64_MAX;
	for (size_t i = 0; i < slots; i++)
		if (c->slots[i].expires > now) {
			keep[live++] = c->slots[i];
			if (c->slots[i].expires < earliest)
				earliest = c->slots[i].expires;
		}
	memset(c->slots, 0, slots * sizeof *c->slots);
	for (size_t k = 0; k < live; k++) {
		size_t i = (size_t)keep[k].tag & c->mask;
		while (c->slots[i].expires)
			i = (i + 1) & c->mask;
		c->slots[i] = keep[k];
	}
	c->used = live;
	c->next_purge = earliest;
	free(keep);
}

/* 0 when (tag) was not live and is now recorded until now + ttl; TDS_EAUTH "replayed_request";
 * TDS_ELIMIT "replay_cache_full". */
static int replay_insert(replay_cache *c, uint64_t tag, int64_t now, int64_t ttl)
{
	pthread_mutex_lock(&c->lock);
	if (c->used >= c->capacity && now >= c->next_purge)
		replay_purge(c, now);
	size_t i = (size_t)tag & c->mask, reuse = SIZE_MAX;
	int rc = 0;
	for (;;) {
		replay_slot *s = &c->slots[i];
		if (s->expires == 0)
			break;
		if (s->tag == tag) {
			if (s->expires > now) {
				rc = tds_error_set(TDS_EAUTH, "replayed_request",
						   "this signature's nonce was already used: every signed request "
						   "needs a fresh nonce");
				goto out;
			}
			reuse = i; /* the only slot this tag can have */
			break;
		}
		if (s->expires <= now && reuse == SIZE_MAX)
			reuse = i;
		i = (i + 1) & c->mask;
	}
	if (reuse != SIZE_MAX) {
		c->slots[reuse].tag = tag;
		c->slots[reuse].expires = now + ttl;
	} else if (c->used >= c->capacity) {
		rc = tds_error_set(TDS_ELIMIT, "replay_cache_full",
				   "too many signed requests within the replay window (%zu); retry shortly",
				   c->capacity);
	} else {
		c->slots[i].tag = tag;
		c->slots[i].expires = now + ttl;
		c->used++;
	}
out:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* ------------------------------------------------------------------------------------------------
 * Verifier
 * ---------------------------------------------------------------------------------------------- */

struct tds_sig_verifier {
	tds_sig_resolver resolve;
	tds_sig_release release;
	void *ctx;
	int64_t skew_ms;
	char scheme[8];
	char *authority; /* normalised, NULL = Host */
	replay_cache *replay;
};

int tds_sig_verifier_new(const tds_sig_verifier_opts *opts, tds_sig_verifier **out)
{
	*out = NULL;
	if (!opts || !opts->resolve)
		return tds_error_set(TDS_EINVAL, "invalid_verifier", "a signature verifier needs a key resolver");
	if (opts->clock_skew_ms < 0 || opts->clock_skew_ms > 24LL * 3600 * 1000)
		return tds_error_set(TDS_EINVAL, "invalid_verifier", "clock skew must be 0 (default) to 24 hours");
	tds_sig_verifier *v = calloc(1, sizeof *v);
	if (!v)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory creating a signature verifier");
	v->resolve = opts->resolve;
	v->release = opts->release;
	v->ctx = opts->ctx;
	v->skew_ms = opts->clock_skew_ms ? opts->clock_skew_ms : TDS_SIG_DEFAULT_SKEW_MS;
	const char *scheme = "http";
	int rc = 0;
	if (opts->scheme && norm_scheme(opts->scheme, strlen(opts->scheme), &scheme) < 0)
		rc = tds_error_set(TDS_EINVAL, "invalid_verifier", "scheme must be http or https");
	snprintf(v->scheme, sizeof v->scheme, "%s", scheme);
	if (rc == 0 && opts->authority) {
		tds_arena *a = tds_arena_new(0);
		const char *norm;
		if (norm_authority(a, v->scheme, opts->authority, strlen(opts->authority), &norm) < 0)
			rc = tds_error_set(TDS_EINVAL, "invalid_verifier", "authority must be host[:port]");
		else if (!(v->authority = strdup(norm)))
			rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory creating a signature verifier");
		tds_arena_free(a);
	}
	if (rc == 0 && !(v->replay = calloc(1, sizeof *v->replay)))
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory creating a signature verifier");
	if (rc == 0 && (rc = replay_init(v->replay, opts->replay_capacity ? opts->replay_capacity
									   : TDS_SIG_DEFAULT_REPLAY_CAPACITY)) < 0) {
		free(v->replay->slots);
		free(v->replay);
		v->replay = NULL;
	}
	if (rc < 0) {
		free(v->authority);
		free(v);
		return rc;
	}
	*out = v;
	return 0;
}

void tds_sig_verifier_free(tds_sig_verifier *v)
{
	if (!v)
		return;
	pthread_mutex_destroy(&v->replay->lock);
	free(v->replay->slots);
	free(v->replay);
	free(v->authority);
	free(v);
}

typedef struct sig_params {
	int64_t created, expires;
	bool has_expires;
	const char *keyid, *nonce, *alg;
} sig_params;

static int read_params(const sf_member *in, sig_params *sp)
{
	memset(sp, 0, sizeof *sp);
	bool has_created = false;
	for (size_t i = 0; i < in->nparams; i++) {
		const sf_param *p = &in->params[i];
		bool is_int = p->v.type == SF_INT, is_str = p->v.type == SF_STRING;
		if (strcmp(p->key, "created") == 0 && is_int) {
			sp->created = p->v.i;
			has_created = true;
		} else if (strcmp(p->key, "expires") == 0 && is_int) {
			sp->expires = p->v.i;
			sp->has_expires = true;
		} else if (strcmp(p->key, "keyid") == 0 && is_str) {
			sp->keyid = p->v.s;
		} else if (strcmp(p->key, "nonce") == 0 && is_str) {
			sp->nonce = p->v.s;
		} else if (strcmp(p->key, "alg") == 0 && is_str) {
			sp->alg = p->v.s;
		} else if (!strcmp(p->key, "created") || !strcmp(p->key, "expires") || !strcmp(p->key, "keyid") ||
			   !strcmp(p->key, "nonce") || !strcmp(p->key, "alg")) {
			return tds_error_set(TDS_EAUTH, "malformed_signature",
					     "signature parameter '%s' has the wrong type (created/expires: integer; "
					     "keyid/nonce/alg: string)", p->key);
		} else {
			return tds_error_set(TDS_EAUTH, "unsupported_signature",
					     "signature parameter '%.16s' is not supported (created, expires, keyid, "
					     "nonce, alg)", p->key);
		}
	}
	if (!has_created || !sp->keyid || !sp->nonce || !sp->alg)
		return tds_error_set(TDS_EAUTH, "malformed_signature",
				     "signature parameters created, keyid, nonce and alg are all required");
	if (sp->created < 0 || (sp->has_expires && sp->expires < sp->created))
		return tds_error_set(TDS_EAUTH, "malformed_signature", "created/expires are out of range");
	if (!keyid_ok(sp->keyid, strlen(sp->keyid)))
		return tds_error_set(TDS_EAUTH, "malformed_signature",
				     "keyid must be 1-%d visible ASCII characters without quotes or backslashes",
				     TDS_SIG_MAX_KEYID);
	size_t nl = strlen(sp->nonce);
	bool nonce_ok = nl >= NONCE_MIN_CHARS && nl <= NONCE_MAX_CHARS;
	for (size_t i = 0; nonce_ok && i < nl; i++) {
		int c = (unsigned char)sp->nonce[i];
		nonce_ok = is_alpha(c) || is_digit(c) || c == '-' || c == '_';
	}
	if (!nonce_ok)
		return tds_error_set(TDS_EAUTH, "malformed_signature",
				     "nonce must be %d-%d base64url characters (at least 16 random bytes)", NONCE_MIN_CHARS,
				     NONCE_MAX_CHARS);
	return 0;
}

static bool covers(const sf_member *in, const char *name)
{
	for (size_t i = 0; i < in->nitems; i++)
		if (strcmp(in->items[i].v.s, name) == 0)
			return true;
	return false;
}

static bool has_field(const tds_sig_message *m, const char *name)
{
	for (size_t i = 0; i < m->nfields; i++)
		if (m->fields[i].name && m->fields[i].value && strcasecmp(m->fields[i].name, name) == 0)
			return true;
	return false;
}

/* The checks up to (not including) key resolution, cheapest first. */
static int precheck(const tds_sig_verifier *v, const tds_sig_message *m, int64_t now_ms, tds_arena *a,
		    const sf_member **in, const sf_member **sig, sig_params *sp, const char **scheme,
		    const char **authority)
{
	int rc;
	if ((rc = check_message(m, a, scheme, authority)) < 0 || (rc = find_label(m, a, TDS_SIG_LABEL, in, sig)) < 0 ||
	    (rc = check_components(*in)) < 0 || (rc = read_params(*in, sp)) < 0)
		return rc;
	if (!covers(*in, "@method") || !covers(*in, "@target-uri"))
		return tds_error_set(TDS_EAUTH, "insufficient_coverage",
				     "the signature must cover \"@method\" and \"@target-uri\"");
	if (m->body_len && !covers(*in, "content-digest"))
		return tds_error_set(TDS_EAUTH, "insufficient_coverage",
				     "a request with a body must cover \"content-digest\" in its signature");
	tds_suite suite;
	if (tds_sig_alg_parse(sp->alg, &suite) < 0)
		return tds_error_set(TDS_EAUTH, "unsupported_signature",
				     "signature alg '%.16s' is not supported: use ed25519 or sm2-sm3", sp->alg);
	int64_t now_s = now_ms / 1000, skew_s = (v->skew_ms + 999) / 1000;
	if (sp->created > now_s + skew_s)
		return tds_error_set(TDS_EAUTH, "future_signature",
				     "signature created %lld s in the future (more than the %lld s clock skew "
				     "allowed); check the caller's clock", (long long)(sp->created - now_s),
				     (long long)skew_s);
	if (sp->created < now_s - skew_s)
		return tds_error_set(TDS_EAUTH, "stale_signature",
				     "signature created %lld s ago (more than the %lld s allowed); sign each request "
				     "when sending it", (long long)(now_s - sp->created), (long long)skew_s);
	if (sp->has_expires && now_s > sp->expires) /* the signer's own limit: no skew added */
		return tds_error_set(TDS_EAUTH, "stale_signature", "signature expired %lld s ago",
				     (long long)(now_s - sp->expires));
	if (has_field(m, "content-digest")) {
		const char *cd = field_value(m, a, "content-digest", TDS_SIG_MAX_FIELD, "malformed_digest", &rc);
		if (rc < 0 || (rc = check_digest_dict(a, cd, m->body, m->body_len)) < 0)
			return rc;
	} else if (m->body_len) {
		return tds_error_set(TDS_EAUTH, "digest_missing",
				     "a signed request with a body needs a Content-Digest field (RFC 9530)");
	}
	return 0;
}

int tds_sig_verify(const tds_sig_verifier *v, const tds_sig_message *m, int64_t now_ms, tds_arena *arena,
		   tds_principal *out)
{
	memset(out, 0, sizeof *out);
	if (!v || !m || !arena)
		return tds_error_set(TDS_EINVAL, "invalid_signature_request", "verifier, message and arena are required");
	if (!has_field(m, "signature") && !has_field(m, "signature-input"))
		return 0;
	const sf_member *in, *sig;
	sig_params sp;
	const char *scheme = NULL, *authority = NULL;
	int rc = precheck(v, m, now_ms, arena, &in, &sig, &sp, &scheme, &authority);
	if (rc < 0)
		return rc;
	tds_buf base = TDS_BUF_INIT;
	if ((rc = build_base(m, arena, in, scheme, authority, &base)) < 0) {
		tds_buf_free(&base);
		return rc;
	}
	const tds_key *key = NULL;
	tds_principal p;
	memset(&p, 0, sizeof p);
	tds_error_clear();
	rc = v->resolve(v->ctx, sp.keyid, arena, &key, &p);
	if (rc == TDS_ENOTFOUND || (rc == 0 && !key)) {
		rc = tds_error_set(TDS_EAUTH, "unknown_key", "no node key is known for keyid '%.80s'", sp.keyid);
		key = NULL;
	} else if (rc < 0 && tds_error_code() != rc) {
		rc = tds_error_set(rc, rc == TDS_EAUTH ? "unknown_key" : NULL, "key resolution failed for keyid '%.80s'",
				   sp.keyid);
	}
	if (rc == 0 && strcmp(sp.alg, tds_sig_alg(tds_key_suite(key))) != 0)
		rc = tds_error_set(TDS_EAUTH, "algorithm_mismatch",
				   "signature alg is %.16s but the key of keyid '%.80s' is %s", sp.alg, sp.keyid,
				   tds_sig_alg(tds_key_suite(key)));
	if (rc == 0 && tds_verify(key, base.data, base.len, (const uint8_t *)sig->item.v.s, sig->item.v.len) < 0)
		rc = tds_error_set(TDS_EAUTH, "bad_signature",
				   "request signature does not verify: method, target, body or covered fields were "
				   "changed, or another key signed");
	if (key && v->release)
		v->release(v->ctx, key);
	tds_buf_free(&base);
	uint64_t tag = 0;
	if (rc == 0)
		rc = replay_tag(v->replay, sp.keyid, sp.nonce, &tag);
	if (rc == 0)
		rc = replay_insert(v->replay, tag, now_ms, 2 * v->skew_ms);
	if (rc < 0)
		return rc;
	*out = p;
	out->roles |= TDS_ROLE_NODE;
	if (!out->session_id)
		out->session_id = tds_arena_strdup(arena, sp.keyid);
	return 0;
}

/* ---- server adapter ---- */

typedef struct collect {
	tds_sig_field *f;
	size_t n, cap;
	tds_arena *a;
} collect;

static enum MHD_Result collect_field(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	collect *c = cls;
	if (c->f && c->n < c->cap) {
		c->f[c->n].name = key;
		c->f[c->n].value = value ? value : "";
	}
	c->n++;
	return MHD_YES;
}

int tds_http_verify_signature(tds_req *req, const tds_sig_verifier *v, tds_principal *out)
{
	memset(out, 0, sizeof *out);
	http_ctx *c = req ? (http_ctx *)req->internal : NULL;
	if (!c || !c->conn || !v)
		return tds_error_set(TDS_EINVAL, "invalid_signature_request", "a server request and a verifier are needed");
	if (!tds_req_header(req, "Signature") && !tds_req_header(req, "Signature-Input"))
		return 0;
	collect col = {NULL, 0, 0, req->arena};
	MHD_get_connection_values(c->conn, MHD_HEADER_KIND, collect_field, &col);
	if (col.n > SIG_MAX_FIELDS)
		return tds_error_set(TDS_EAUTH, "malformed_signature", "a signed request may carry at most %d header lines",
				     SIG_MAX_FIELDS);
	col.cap = col.n;
	col.f = tds_arena_alloc(req->arena, (col.n ? col.n : 1) * sizeof *col.f);
	col.n = 0;
	MHD_get_connection_values(c->conn, MHD_HEADER_KIND, collect_field, &col);
	tds_sig_message m = {
		.method = req->method,
		.scheme = v->scheme,
		.authority = v->authority ? v->authority : tds_req_header(req, "Host"),
		.target = c->raw_uri,
		.fields = col.f,
		.nfields = col.n < col.cap ? col.n : col.cap,
		.body = req->body,
		.body_len = req->body_len,
	};
	return tds_sig_verify(v, &m, tds_now_ms(), req->arena, out);
}

int tds_sig_http_auth(void *ctx, tds_req *req, tds_principal *out)
{
	return tds_http_verify_signature(req, ctx, out);
}

/* ------------------------------------------------------------------------------------------------
 * Signer
 * ---------------------------------------------------------------------------------------------- */

static int bad_request(const char *msg) { return tds_error_set(TDS_EINVAL, "invalid_signature_request", "%s", msg); }

int tds_sig_sign(const tds_key *key, const char *keyid, const char *method, const char *target_uri,
		 const void *body, size_t body_len, int64_t now_ms, tds_sig_headers *out)
{
	memset(out, 0, sizeof *out);
	if (!key || !tds_key_has_private(key))
		return tds_error_set(TDS_EINVAL, "no_private_key", "signing a request needs a private key");
	if (!keyid || !keyid_ok(keyid, strlen(keyid)))
		return bad_request("keyid must be 1-256 visible ASCII characters without quotes or backslashes");
	if (!method_ok(method))
		return bad_request("method must be an HTTP token");
	if (body_len && !body)
		return bad_request("body length without a body");
	if (now_ms < 0)
		return bad_request("time before 1970");
	const char *sep = target_uri ? strstr(target_uri, "://") : NULL;
	if (!sep)
		return bad_request("target URI must be absolute: http(s)://host[:port]/path");
	tds_arena *a = tds_arena_new(0);
	tds_buf si = TDS_BUF_INIT, cd = TDS_BUF_INIT, base = TDS_BUF_INIT, sig = TDS_BUF_INIT, sv = TDS_BUF_INIT;
	const char *scheme = NULL, *auth_raw = sep + 3, *authority = NULL;
	const char *slash = strchr(auth_raw, '/'), *q = strchr(auth_raw, '?');
	const char *auth_end = slash && (!q || slash < q) ? slash : q ? q : auth_raw + strlen(auth_raw);
	const char *target = *auth_end == '/' ? auth_end : tds_arena_printf(a, "/%s", auth_end);
	uint8_t nonce[NONCE_BYTES];
	int rc = 0;
	if (norm_scheme(target_uri, (size_t)(sep - target_uri), &scheme) < 0 ||
	    norm_authority(a, scheme, auth_raw, (size_t)(auth_end - auth_raw), &authority) < 0 || !target_ok(target))
		rc = bad_request("target URI must be http(s)://host[:port]/path[?query] in visible ASCII, without "
				 "userinfo or fragment");
	if (rc == 0 && body_len)
		rc = tds_content_digest(body, body_len, &cd);
	if (rc == 0)
		rc = tds_random(nonce, sizeof nonce);
	if (rc == 0)
		rc = tds_buf_printf(&si, TDS_SIG_LABEL "=(\"@method\" \"@target-uri\"%s);created=%lld;keyid=\"%s\";alg=\"%s\";nonce=\"",
				    body_len ? " \"content-digest\"" : "", (long long)(now_ms / 1000), keyid,
				    tds_sig_alg(tds_key_suite(key)));
	if (rc == 0)
		rc = tds_b64url_encode(nonce, sizeof nonce, &si);
	if (rc == 0)
		rc = tds_buf_putc(&si, '"');
	if (rc == 0) {
		tds_sig_field fields[2] = {{"signature-input", si.data}, {"content-digest", cd.data}};
		tds_sig_message m = {method, scheme, authority, target, fields, body_len ? 2 : 1, body, body_len};
		const sf_member *in;
		rc = find_label(&m, a, TDS_SIG_LABEL, &in, NULL);
		if (rc == 0)
			rc = build_base(&m, a, in, scheme, authority, &base);
	}
	if (rc == 0)
		rc = tds_sign(key, base.data, base.len, &sig);
	if (rc == 0)
		rc = tds_buf_puts(&sv, TDS_SIG_LABEL "=:");
	if (rc == 0)
		rc = tds_b64_encode(sig.data, sig.len, &sv);
	if (rc == 0)
		rc = tds_buf_putc(&sv, ':');
	if (rc == 0 && (si.len >= sizeof out->signature_input || sv.len >= sizeof out->signature ||
			cd.len >= sizeof out->content_digest))
		rc = tds_error_set(TDS_EINTERNAL, "internal_error", "signature headers longer than expected");
	if (rc == 0) {
		memcpy(out->signature_input, si.data, si.len + 1);
		memcpy(out->signature, sv.data, sv.len + 1);
		if (cd.len)
			memcpy(out->content_digest, cd.data, cd.len + 1);
	}
	tds_buf_free(&si);
	tds_buf_free(&cd);
	tds_buf_free(&base);
	tds_buf_free(&sig);
	tds_buf_free(&sv);
	tds_arena_free(a);
	return rc;
}
