/*
 * http_internal.h — what the files of src/http share with each other and with their tests and fuzz
 * targets, and nobody else: the route table, the request-path and query decoders, the per-request
 * context behind tds_req/tds_resp, and the metrics counters. Other modules include http.h only.
 *
 * Invariants:
 *  - A router is read-only once a server runs on it; matching allocates nothing per route scanned.
 *  - Every decoded path segment, query key and value lives in the request arena, is NUL-terminated
 *    and carries its real length (a "%00" shows up as a length longer than strlen()).
 *  - A request context (http_ctx) is born in the URI-log callback, dies in the completion callback;
 *    everything it points to is its arena, its body buffer, or jansson values it releases there.
 */
#ifndef TDS_HTTP_INTERNAL_H
#define TDS_HTTP_INTERNAL_H

#include "http/http.h"

#include <stdatomic.h>

#define HTTP_MAX_PATH 2048     /* raw path bytes (before '?'); longer gets 414 */
#define HTTP_MAX_URI 8192      /* raw request target bytes; longer gets 414 */
#define HTTP_MAX_SEGS 32       /* segments of a pattern; request paths with more match nothing */
#define HTTP_MAX_QUERY_ARGS 64 /* more query arguments get 400 */
#define HTTP_MAX_RESP_HEADERS 16
#define HTTP_MAX_CURSOR 128

/* ------------------------------------------------------------------------------------------------
 * Decoding (router.c). All total: any byte string gives 0 or TDS_EINVAL, never a crash.
 * ---------------------------------------------------------------------------------------------- */

/* Percent-decodes s[0..n) into out (room for n + 1 bytes), '+' as space when `plus`. Returns the
 * decoded length, or -1 on a malformed escape ("%", "%4", "%zz"). out is NUL-terminated. */
long http_pct_decode(const char *s, size_t n, bool plus, char *out);

typedef struct http_path {
	size_t nseg;              /* 0 for "/"; HTTP_MAX_SEGS + 1 when the path has more segments */
	const char *seg[HTTP_MAX_SEGS];
	size_t seg_len[HTTP_MAX_SEGS];
	const char *decoded;      /* the whole path, decoded (stops at a decoded NUL, if any) */
} http_path;

/* Splits a raw request path ("/api/v1/x/a%20b", no query) into decoded segments. TDS_EINVAL
 * "invalid_path" when it does not start with '/' or has a malformed escape, "uri_too_long" (414)
 * beyond HTTP_MAX_PATH bytes. An empty segment ("//", trailing '/') is kept, and matches no
 * parameter. */
int http_path_split(tds_arena *a, const char *raw, size_t len, http_path *out);

/* True when a decoded segment may be a path parameter: non-empty, not "." or "..", no '/', '\\',
 * NUL or control character, valid UTF-8. */
bool http_param_ok(const char *s, size_t len);

typedef struct http_kv {
	const char *key, *value;
} http_kv;

/* Parses a raw query string (without '?'): '&'-separated key[=value], '+' and %XX decoded. Empty
 * pieces are skipped. TDS_EINVAL "invalid_query" on a malformed escape, a decoded NUL or invalid
 * UTF-8, or more than HTTP_MAX_QUERY_ARGS arguments. */
int http_query_parse(tds_arena *a, const char *q, size_t len, http_kv **out, size_t *n);

/* Strict page-limit parse: ASCII digits only (no sign, space or suffix), value in 1..max.
 * NULL s gives def. TDS_EINVAL "invalid_limit" otherwise. */
int http_parse_limit(const char *s, int def, int max, int *out);
/* Cursor check: NULL or "" is "no cursor" (*out = NULL); else ≤ HTTP_MAX_CURSOR printable ASCII
 * bytes (0x21-0x7e). TDS_EINVAL "invalid_cursor" otherwise. */
int http_check_cursor(const char *s, const char **out);

/* True when a Content-Type admits a JSON body: absent/empty, or application/json with optional
 * parameters, of which charset (if any) must be utf-8. Case-insensitive. */
bool http_content_type_json(const char *content_type);

/* True when an X-Request-Id may be echoed: 1-64 bytes of [A-Za-z0-9._-]. */
bool http_request_id_ok(const char *s);

/* ------------------------------------------------------------------------------------------------
 * Router (router.c)
 * ---------------------------------------------------------------------------------------------- */

typedef struct http_seg {
	const char *text; /* literal text, or the parameter name */
	size_t len;
	bool param;
} http_seg;

typedef struct http_route {
	tds_route_info info; /* method, pattern, summary: owned copies */
	tds_handler handler;
	void *ctx;
	size_t index;        /* registration order; indexes the metrics counters */
	size_t nseg;
	http_seg seg[HTTP_MAX_SEGS];
} http_route;

typedef enum { HTTP_MATCH_OK = 0, HTTP_MATCH_NONE, HTTP_MATCH_METHOD } http_match_result;

/* Finds the route for method + path: among routes whose pattern matches, the one with a literal at
 * the earliest segment where they differ; HEAD also matches GET routes. HTTP_MATCH_METHOD when the
 * path matches some pattern but no route of this method; then `allow` (if non-NULL) receives the
 * admitted methods ("GET, POST"). */
http_match_result http_router_match(const tds_router *r, const char *method, const http_path *p,
				    const http_route **out, tds_buf *allow);
const http_route *http_router_route(const tds_router *r, size_t i);
bool http_router_has(const tds_router *r, const char *method, const char *pattern);

/* ------------------------------------------------------------------------------------------------
 * Per-request context (server.c, request.c)
 * ---------------------------------------------------------------------------------------------- */

typedef struct http_json_ref {
	json_t *v;
	struct http_json_ref *next;
} http_json_ref;

struct tds_resp {
	int status;          /* 0 until set */
	const char *content_type;
	char *body;          /* malloc'd, handed to MHD */
	size_t body_len;
	size_t nheaders;
	const char *hname[HTTP_MAX_RESP_HEADERS], *hvalue[HTTP_MAX_RESP_HEADERS];
	struct http_ctx *ctx;
};

struct MHD_Connection;

typedef struct http_ctx {
	tds_req req;
	tds_resp resp;
	tds_server *server;
	struct MHD_Connection *conn;
	const http_route *route;
	http_path path;
	http_kv *query;
	size_t nquery;
	tds_buf body;
	const char *raw_uri;
	size_t raw_path_len;
	int64_t start_us;
	tds_principal principal;
	http_json_ref *jsons;
	int status;          /* status queued, 0 until then */
	size_t bytes;        /* response body bytes */
	size_t dropped;      /* body bytes read and dropped after a 413 */
	bool started, too_big, queued;
	char request_id[TDS_ID_MAX > 65 ? TDS_ID_MAX : 65];
} http_ctx;

/* HTTP status for an error: tds_error_http_status(code), except for the names the HTTP layer
 * owns (unsupported_media_type 415, method_not_allowed 405, uri_too_long 414,
 * service_unavailable 503). */
int http_status_for(int code, const char *name);

/* ------------------------------------------------------------------------------------------------
 * Metrics (metrics.c): counters per route x method x status slot, one histogram per server.
 * ---------------------------------------------------------------------------------------------- */

typedef struct http_metrics http_metrics;

http_metrics *http_metrics_new(size_t nroutes);
void http_metrics_free(http_metrics *m);
/* route == NULL: unmatched. Lock-free (relaxed atomics). */
void http_metrics_record(http_metrics *m, const http_route *route, const char *method, int status,
			 int64_t duration_us);
void http_metrics_in_flight(http_metrics *m, int delta);
int http_metrics_render(const http_metrics *m, const tds_router *r, const char *server, tds_buf *out);

#endif
