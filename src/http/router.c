/*
 * router.c — the route table and the decoders that feed it: request paths split into
 * percent-decoded segments, query strings, page limits, cursors, JSON content types.
 *
 * A route is "METHOD /literal/{param}/…". Matching scans the table once per request, comparing the
 * request's decoded segments with each pattern of the same length, and allocates nothing; among the
 * patterns that match, the one with a literal at the earliest segment where they differ wins (so
 * "/things/special" beats "/things/{id}"), which a bit score computes in one pass. Parameters are
 * matched on any non-empty segment and validated afterwards (http_param_ok), so "/things/..%2Fx"
 * reaches the right route and is refused with 400 rather than sliding to a 404.
 *
 * Not for authentication, bodies or responses (server.c, request.c). Every decoder here reads
 * outside input: each is total and has a fuzz target (tests/fuzz/fuzz_http_request.c).
 */
#include "http/http_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct tds_router {
	http_route **routes;
	size_t n, cap;
};

/* ---- decoders ---- */

long http_pct_decode(const char *s, size_t n, bool plus, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			if (n - i < 3)
				return -1;
			int hi = tds_hex_digit((unsigned char)s[i + 1]), lo = tds_hex_digit((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus) {
			out[o++] = ' ';
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = 0;
	return (long)o;
}

int http_path_split(tds_arena *a, const char *raw, size_t len, http_path *out)
{
	memset(out, 0, sizeof *out);
	if (len > HTTP_MAX_PATH)
		return tds_error_set(TDS_EINVAL, "uri_too_long", "request path is longer than %d bytes",
				     HTTP_MAX_PATH);
	if (len == 0 || raw[0] != '/')
		return tds_error_set(TDS_EINVAL, "invalid_path", "request path must start with '/'");
	char *whole = tds_arena_alloc(a, len + 1);
	if (http_pct_decode(raw, len, false, whole) < 0)
		return tds_error_set(TDS_EINVAL, "invalid_path", "request path has a malformed %%-escape");
	out->decoded = whole;
	if (len == 1)
		return 0; /* "/" has no segments */

	/* one buffer holds every decoded segment, each NUL-terminated: never longer than the input */
	char *buf = tds_arena_alloc(a, len + 1);
	size_t used = 0, start = 1;
	while (start <= len) {
		const char *slash = memchr(raw + start, '/', len - start);
		size_t end = slash ? (size_t)(slash - raw) : len;
		if (out->nseg == HTTP_MAX_SEGS) {
			out->nseg = HTTP_MAX_SEGS + 1;
			return 0;
		}
		long d = http_pct_decode(raw + start, end - start, false, buf + used);
		if (d < 0)
			return tds_error_set(TDS_EINVAL, "invalid_path", "request path has a malformed %%-escape");
		out->seg[out->nseg] = buf + used;
		out->seg_len[out->nseg] = (size_t)d;
		out->nseg++;
		used += (size_t)d + 1;
		start = end + 1;
	}
	return 0;
}

bool http_param_ok(const char *s, size_t len)
{
	if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
			return false;
	}
	return tds_utf8_valid(s, len);
}

int http_query_parse(tds_arena *a, const char *q, size_t len, http_kv **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	size_t pieces = 1;
	for (size_t i = 0; i < len; i++)
		pieces += q[i] == '&';
	if (len == 0)
		return 0;
	if (pieces > HTTP_MAX_QUERY_ARGS * 4)
		return tds_error_set(TDS_EINVAL, "invalid_query", "more than %d query arguments",
				     HTTP_MAX_QUERY_ARGS);
	http_kv *kv = tds_arena_alloc(a, pieces * sizeof *kv);
	size_t count = 0, start = 0;
	while (start <= len) {
		const char *amp = memchr(q + start, '&', len - start);
		size_t end = amp ? (size_t)(amp - q) : len;
		if (end > start) {
			if (count == HTTP_MAX_QUERY_ARGS)
				return tds_error_set(TDS_EINVAL, "invalid_query", "more than %d query arguments",
						     HTTP_MAX_QUERY_ARGS);
			const char *eq = memchr(q + start, '=', end - start);
			size_t klen = eq ? (size_t)(eq - q) - start : end - start;
			size_t vstart = eq ? (size_t)(eq - q) + 1 : end;
			char *k = tds_arena_alloc(a, klen + 1), *v = tds_arena_alloc(a, end - vstart + 1);
			long kd = http_pct_decode(q + start, klen, true, k);
			long vd = http_pct_decode(q + vstart, end - vstart, true, v);
			if (kd < 0 || vd < 0)
				return tds_error_set(TDS_EINVAL, "invalid_query",
						     "query string has a malformed %%-escape");
			if (strlen(k) != (size_t)kd || strlen(v) != (size_t)vd ||
			    !tds_utf8_valid(k, (size_t)kd) || !tds_utf8_valid(v, (size_t)vd))
				return tds_error_set(TDS_EINVAL, "invalid_query",
						     "query arguments must be UTF-8 text without NUL bytes");
			kv[count].key = k;
			kv[count].value = v;
			count++;
		}
		start = end + 1;
	}
	*out = kv;
	*n = count;
	return 0;
}

int http_parse_limit(const char *s, int def, int max, int *out)
{
	if (!s) {
		*out = def;
		return 0;
	}
	long v = 0;
	size_t i = 0;
	for (; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 9)
			break;
		v = v * 10 + (s[i] - '0');
	}
	if (i == 0 || s[i] || v < 1 || v > max)
		return tds_error_set(TDS_EINVAL, "invalid_limit", "limit must be an integer from 1 to %d", max);
	*out = (int)v;
	return 0;
}

int http_check_cursor(const char *s, const char **out)
{
	*out = NULL;
	if (!s || !s[0])
		return 0;
	size_t i = 0;
	for (; s[i]; i++)
		if (i >= HTTP_MAX_CURSOR || (unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return tds_error_set(TDS_EINVAL, "invalid_cursor",
					     "cursor must be the opaque string a previous page returned");
	*out = s;
	return 0;
}

static const char *skip_ows(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

bool http_content_type_json(const char *ct)
{
	if (!ct)
		return true;
	ct = skip_ows(ct);
	if (!*ct)
		return true;
	static const char MT[] = "application/json";
	if (strncasecmp(ct, MT, sizeof MT - 1) != 0)
		return false;
	const char *p = skip_ows(ct + sizeof MT - 1);
	while (*p) {
		if (*p != ';')
			return false;
		p = skip_ows(p + 1);
		const char *name = p;
		while (*p && *p != '=' && *p != ';' && *p != ' ' && *p != '\t')
			p++;
		size_t nlen = (size_t)(p - name);
		p = skip_ows(p);
		if (*p != '=') {
			if (nlen == 0 && (*p == ';' || !*p))
				continue; /* "application/json;" */
			return false;
		}
		p = skip_ows(p + 1);
		bool quoted = *p == '"';
		if (quoted)
			p++;
		const char *val = p;
		while (*p && (quoted ? *p != '"' : (*p != ';' && *p != ' ' && *p != '\t')))
			p++;
		size_t vlen = (size_t)(p - val);
		if (quoted) {
			if (*p != '"')
				return false;
			p++;
		}
		p = skip_ows(p);
		if (nlen == 7 && strncasecmp(name, "charset", 7) == 0 &&
		    !((vlen == 5 && strncasecmp(val, "utf-8", 5) == 0) ||
		      (vlen == 4 && strncasecmp(val, "utf8", 4) == 0)))
			return false;
	}
	return true;
}

bool http_request_id_ok(const char *s)
{
	if (!s)
		return false;
	size_t i = 0;
	for (; s[i]; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '.' || c == '_' || c == '-';
		if (!ok || i >= 64)
			return false;
	}
	return i > 0;
}

/* ---- router ---- */

tds_router *tds_router_new(void)
{
	tds_router *r = calloc(1, sizeof *r);
	if (!r)
		tds_error_set(TDS_ENOMEM, NULL, "out of memory creating a router");
	return r;
}

static void route_free(http_route *rt)
{
	if (!rt)
		return;
	free((char *)rt->info.method);
	free((char *)rt->info.pattern);
	free((char *)rt->info.summary);
	for (size_t i = 0; i < rt->nseg; i++)
		free((char *)rt->seg[i].text);
	free(rt);
}

void tds_router_free(tds_router *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		route_free(r->routes[i]);
	free(r->routes);
	free(r);
}

static bool method_ok(const char *m)
{
	if (!m || !*m || strlen(m) > 16)
		return false;
	for (const char *p = m; *p; p++)
		if (*p < 'A' || *p > 'Z')
			return false;
	return true;
}

/* Literal segments are stored decoded-equal to what a client sends: unreserved characters only,
 * so "%41" and "A" meet; '{' '}' appear only as a whole-segment parameter. */
static bool literal_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '_' || c == '.' || c == '~' || c == ':' || c == '@' || c == '!' || c == '$' ||
	       c == '\'' || c == '(' || c == ')' || c == '*' || c == ',' || c == ';' || c == '=';
}

static bool param_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_' ||
		      (i > 0 && s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

static int parse_pattern(const char *pattern, http_route *rt)
{
	size_t len = pattern ? strlen(pattern) : 0;
	if (len == 0 || pattern[0] != '/' || len > HTTP_MAX_PATH)
		return tds_error_set(TDS_EINVAL, "invalid_pattern", "route pattern must start with '/'");
	if (len == 1)
		return 0;
	size_t start = 1;
	while (start <= len) {
		const char *slash = memchr(pattern + start, '/', len - start);
		size_t end = slash ? (size_t)(slash - pattern) : len;
		const char *s = pattern + start;
		size_t n = end - start;
		if (rt->nseg == HTTP_MAX_SEGS)
			return tds_error_set(TDS_EINVAL, "invalid_pattern", "route pattern has more than %d segments",
					     HTTP_MAX_SEGS);
		http_seg *sg = &rt->seg[rt->nseg];
		if (n >= 2 && s[0] == '{' && s[n - 1] == '}') {
			if (!param_name_ok(s + 1, n - 2))
				return tds_error_set(TDS_EINVAL, "invalid_pattern",
						     "route pattern '%s': bad parameter name", pattern);
			for (size_t i = 0; i < rt->nseg; i++)
				if (rt->seg[i].param && rt->seg[i].len == n - 2 &&
				    memcmp(rt->seg[i].text, s + 1, n - 2) == 0)
					return tds_error_set(TDS_EINVAL, "invalid_pattern",
							     "route pattern '%s' repeats a parameter", pattern);
			sg->param = true;
			sg->text = strndup(s + 1, n - 2);
			sg->len = n - 2;
		} else {
			bool ok = n > 0 && !(n == 1 && s[0] == '.') && !(n == 2 && s[0] == '.' && s[1] == '.');
			for (size_t i = 0; ok && i < n; i++)
				ok = literal_char_ok(s[i]);
			if (!ok)
				return tds_error_set(TDS_EINVAL, "invalid_pattern",
						     "route pattern '%s': segment %zu is not a plain literal or {name}",
						     pattern, rt->nseg + 1);
			sg->text = strndup(s, n);
			sg->len = n;
		}
		rt->nseg++;
		if (!sg->text)
			return tds_error_set(TDS_ENOMEM, NULL, "out of memory adding a route");
		start = end + 1;
	}
	return 0;
}

/* Same shape: would match exactly the same paths. */
static bool same_shape(const http_route *a, const http_route *b)
{
	if (a->nseg != b->nseg)
		return false;
	for (size_t i = 0; i < a->nseg; i++) {
		if (a->seg[i].param != b->seg[i].param)
			return false;
		if (!a->seg[i].param &&
		    (a->seg[i].len != b->seg[i].len || memcmp(a->seg[i].text, b->seg[i].text, a->seg[i].len)))
			return false;
	}
	return true;
}

int tds_router_add(tds_router *r, const char *method, const char *pattern, tds_roles roles,
		   tds_handler handler, void *ctx, const char *summary)
{
	if (!r || !handler)
		return tds_error_set(TDS_EINVAL, "invalid_route", "router and handler are required");
	if (!method_ok(method))
		return tds_error_set(TDS_EINVAL, "invalid_route", "route method must be an upper-case token");
	http_route *rt = calloc(1, sizeof *rt);
	if (!rt)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory adding a route");
	int rc = parse_pattern(pattern, rt);
	if (rc < 0) {
		route_free(rt);
		return rc;
	}
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->routes[i]->info.method, method) == 0 && same_shape(r->routes[i], rt)) {
			route_free(rt);
			return tds_error_set(TDS_ECONFLICT, "duplicate_route", "route %s %s is already registered "
					     "(as %s)", method, pattern, r->routes[i]->info.pattern);
		}
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 32;
		http_route **p = realloc(r->routes, cap * sizeof *p);
		if (!p) {
			route_free(rt);
			return tds_error_set(TDS_ENOMEM, NULL, "out of memory adding a route");
		}
		r->routes = p;
		r->cap = cap;
	}
	rt->info.method = strdup(method);
	rt->info.pattern = strdup(pattern);
	rt->info.summary = strdup(summary ? summary : "");
	rt->info.roles = roles;
	rt->handler = handler;
	rt->ctx = ctx;
	rt->index = r->n;
	if (!rt->info.method || !rt->info.pattern || !rt->info.summary) {
		route_free(rt);
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory adding a route");
	}
	r->routes[r->n++] = rt;
	return 0;
}

size_t tds_router_count(const tds_router *r) { return r ? r->n : 0; }

const tds_route_info *tds_router_get(const tds_router *r, size_t i)
{
	return r && i < r->n ? &r->routes[i]->info : NULL;
}

const http_route *http_router_route(const tds_router *r, size_t i)
{
	return r && i < r->n ? r->routes[i] : NULL;
}

bool http_router_has(const tds_router *r, const char *method, const char *pattern)
{
	for (size_t i = 0; r && i < r->n; i++)
		if (strcmp(r->routes[i]->info.method, method) == 0 &&
		    strcmp(r->routes[i]->info.pattern, pattern) == 0)
			return true;
	return false;
}

/* Score of a pattern against the path: bit (63 - i) set for a literal at segment i, so a literal
 * earlier wins; -1 when the pattern does not match. */
static int64_t score(const http_route *rt, const http_path *p)
{
	if (rt->nseg != p->nseg)
		return -1;
	int64_t sc = 0;
	for (size_t i = 0; i < rt->nseg; i++) {
		const http_seg *sg = &rt->seg[i];
		if (sg->param) {
			if (p->seg_len[i] == 0)
				return -1;
		} else {
			if (sg->len != p->seg_len[i] || memcmp(sg->text, p->seg[i], sg->len) != 0)
				return -1;
			sc |= INT64_C(1) << (62 - i);
		}
	}
	return sc;
}

static bool method_matches(const char *route_method, const char *method)
{
	return strcmp(route_method, method) == 0 ||
	       (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

http_match_result http_router_match(const tds_router *r, const char *method, const http_path *p,
				    const http_route **out, tds_buf *allow)
{
	*out = NULL;
	const http_route *best = NULL;
	int64_t best_score = -1;
	bool path_matched = false;
	for (size_t i = 0; i < r->n; i++) {
		const http_route *rt = r->routes[i];
		int64_t sc = score(rt, p);
		if (sc < 0)
			continue;
		path_matched = true;
		if (!method_matches(rt->info.method, method))
			continue;
		/* an exact-method route beats a GET route serving HEAD at the same score */
		if (sc > best_score || (sc == best_score && strcmp(rt->info.method, method) == 0)) {
			best = rt;
			best_score = sc;
		}
	}
	if (best) {
		*out = best;
		return HTTP_MATCH_OK;
	}
	if (!path_matched)
		return HTTP_MATCH_NONE;
	if (allow) {
		tds_buf_reset(allow);
		for (size_t i = 0; i < r->n; i++) {
			const http_route *rt = r->routes[i];
			if (score(rt, p) < 0)
				continue;
			bool seen = false; /* methods repeat across patterns that both match */
			for (size_t j = 0; j < i && !seen; j++)
				seen = score(r->routes[j], p) >= 0 &&
				       strcmp(r->routes[j]->info.method, rt->info.method) == 0;
			if (seen)
				continue;
			if (allow->len)
				tds_buf_puts(allow, ", ");
			tds_buf_puts(allow, rt->info.method);
		}
	}
	return HTTP_MATCH_METHOD;
}
