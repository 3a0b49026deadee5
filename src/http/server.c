/*
 * server.c — the HTTP server: libmicrohttpd (internal polling thread + thread pool) in front of a
 * tds_router, and the fixed phases every request passes through:
 *
 *   request line  → context + arena born (URI-log callback), in-flight gauge up
 *   headers       → request id, path and query decoded, route matched, Content-Length checked;
 *                   404 / 405 / 400 / 413 / 414 answered here, before any body is read
 *   body chunks   → appended to one buffer, 413 as soon as max_body would be passed
 *   body complete → authentication and roles (401 / 403), handler, response queued
 *   answer queued → request counted (status, latency), in-flight gauge down
 *   completed     → access log, arena and body freed
 *
 * One connection is served by one pool thread from first byte to completion, so a request's
 * context needs no locks; the only shared state is the read-only router, the atomic counters and
 * the health callback (under a mutex). Not for domain logic, request signing or rate limits: those
 * plug in as handlers or as the authenticator.
 */
#include "http/http_internal.h"

#include "crypto/crypto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IDEM_STRIPES 64

struct tds_server {
	struct MHD_Daemon *daemon;
	tds_router *router;
	http_metrics *metrics;
	char name[32];
	size_t max_body;
	bool access_log;
	unsigned drain_timeout_s;
	tds_authenticator auth;
	void *auth_ctx;
	uint16_t port;
	atomic_int active; /* requests between request line and completion (drain waits on it) */
	pthread_mutex_t health_lock;
	tds_health_check health;
	void *health_ctx;
	const tds_idempotency *idem;
	/* requests with the same (scope, Idempotency-Key) run one at a time; different keys rarely share a
	 * stripe, so a slow keyed request does not hold up everyone else's */
	pthread_mutex_t idem_locks[IDEM_STRIPES];
};

/* ---- built-in routes ---- */

static int healthz(tds_req *req, tds_resp *resp)
{
	tds_server *s = ((http_ctx *)req->internal)->server;
	pthread_mutex_lock(&s->health_lock);
	tds_health_check fn = s->health;
	void *ctx = s->health_ctx;
	pthread_mutex_unlock(&s->health_lock);
	char ts[TDS_TIME_MAX];
	if (tds_time_format(tds_now_ms(), ts) < 0)
		ts[0] = 0;
	if (fn) {
		tds_error_clear();
		if (fn(ctx) < 0) {
			json_t *m = json_string(tds_error_message());
			return tds_resp_json(resp, 503,
					     json_pack("{s:s, s:s, s:s, s:{s:s, s:o}}", "status", "unhealthy",
						       "server", s->name, "time", ts, "error", "code",
						       tds_error_name()[0] ? tds_error_name() : "unhealthy",
						       "message", m ? m : json_string("health check failed")));
		}
	}
	return tds_resp_json(resp, 200, json_pack("{s:s, s:s, s:s}", "status", "ok", "server", s->name,
						  "time", ts));
}

static int metrics(tds_req *req, tds_resp *resp)
{
	tds_server *s = ((http_ctx *)req->internal)->server;
	tds_buf out = TDS_BUF_INIT;
	int rc = tds_server_metrics(s, &out);
	if (rc == 0)
		rc = tds_resp_data(resp, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len);
	tds_buf_free(&out);
	return rc;
}

/* ---- responses ---- */

/* Hands the response to MHD. The body goes with it (MHD frees it, even when it refuses the
 * response), so a refused response must be rebuilt before another try. */
static enum MHD_Result queue(http_ctx *c)
{
	tds_resp *r = &c->resp;
	if (!r->status) {
		tds_error_set(TDS_EINTERNAL, "internal_error", "the handler set no response; this is a bug");
		tds_resp_error(r);
	}
	int status = r->status;
	size_t len = r->body_len;
	struct MHD_Response *mr;
	if (len)
		mr = MHD_create_response_from_buffer(len, r->body, MHD_RESPMEM_MUST_FREE);
	else
		mr = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!mr)
		return MHD_NO;
	r->body = NULL;
	r->body_len = 0;
	r->status = 0;
	bool ok = MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
					  r->content_type ? r->content_type : "application/json") == MHD_YES &&
		  MHD_add_response_header(mr, "X-Request-Id", c->request_id) == MHD_YES &&
		  MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES &&
		  MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff") == MHD_YES;
	for (size_t i = 0; ok && i < r->nheaders; i++)
		ok = MHD_add_response_header(mr, r->hname[i], r->hvalue[i]) == MHD_YES;
	enum MHD_Result ret = ok ? MHD_queue_response(c->conn, (unsigned)status, mr) : MHD_NO;
	MHD_destroy_response(mr);
	if (ret == MHD_YES) {
		c->queued = true;
		c->status = status;
		c->bytes = len;
		/* counted when answered, not when sent: a client that has its answer sees it counted */
		http_metrics_record(c->server->metrics, c->route, c->req.method, status,
				    tds_monotonic_us() - c->start_us);
		http_metrics_in_flight(c->server->metrics, -1);
	}
	return ret;
}

/* Error response from the thread's last error, with a header or two. */
static void fail(http_ctx *c)
{
	tds_resp_error(&c->resp);
}

static void fail_auth(http_ctx *c, bool bad_token)
{
	fail(c);
	tds_resp_header(&c->resp, "WWW-Authenticate",
			bad_token ? "Bearer realm=\"tds\", error=\"invalid_token\"" : "Bearer realm=\"tds\"");
}

/* ---- phases ---- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	tds_server *s = cls;
	tds_arena *a = tds_arena_new(0);
	http_ctx *c = tds_arena_alloc(a, sizeof *c);
	c->req.arena = a;
	c->req.internal = c;
	c->resp.ctx = c;
	c->server = s;
	c->conn = conn;
	c->start_us = tds_monotonic_us();
	c->raw_uri = tds_arena_strdup(a, uri ? uri : "");
	tds_buf_init(&c->body);
	http_metrics_in_flight(s->metrics, +1);
	atomic_fetch_add(&s->active, 1);
	return c;
}

static void set_client_ip(http_ctx *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char ip[INET6_ADDRSTRLEN] = "";
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, ip, sizeof ip);
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, ip,
				  sizeof ip);
	}
	c->req.client_ip = tds_arena_strdup(c->req.arena, ip);
}

/* Headers are in: decode, route, and answer everything that needs no body. Returns true when a
 * response is already decided. */
static bool begin(http_ctx *c, const char *method)
{
	tds_server *s = c->server;
	tds_req *req = &c->req;
	req->method = tds_arena_strdup(req->arena, method ? method : "");
	const char *rid = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "X-Request-Id");
	if (http_request_id_ok(rid))
		snprintf(c->request_id, sizeof c->request_id, "%s", rid);
	else if (tds_id_new("req", c->request_id) < 0)
		snprintf(c->request_id, sizeof c->request_id, "req_unknown");
	req->request_id = c->request_id;
	set_client_ip(c);
	tds_log_set_request_id(c->request_id);
	tds_error_clear();

	const char *uri = c->raw_uri;
	size_t ulen = strlen(uri);
	const char *qm = strchr(uri, '?');
	c->raw_path_len = qm ? (size_t)(qm - uri) : ulen;
	int rc;
	if (ulen > HTTP_MAX_URI)
		rc = tds_error_set(TDS_EINVAL, "uri_too_long", "request target is longer than %d bytes",
				   HTTP_MAX_URI);
	else
		rc = http_path_split(req->arena, uri, c->raw_path_len, &c->path);
	if (rc == 0 && qm)
		rc = http_query_parse(req->arena, qm + 1, ulen - c->raw_path_len - 1, &c->query, &c->nquery);
	if (rc < 0) {
		fail(c);
		return true;
	}
	req->path = c->path.decoded;

	tds_buf allow = TDS_BUF_INIT;
	http_match_result m = http_router_match(s->router, req->method, &c->path, &c->route, &allow);
	if (m == HTTP_MATCH_NONE) {
		tds_error_set(TDS_ENOTFOUND, "not_found", "no route for this path; the API is described in "
			      "docs/openapi.yaml");
		fail(c);
		return true;
	}
	if (m == HTTP_MATCH_METHOD) {
		tds_error_set(TDS_EINVAL, "method_not_allowed", "method %.16s is not allowed here; allowed: %s",
			      req->method, allow.data ? allow.data : "");
		fail(c);
		tds_resp_header(&c->resp, "Allow", allow.data ? allow.data : "");
		tds_buf_free(&allow);
		return true;
	}
	tds_buf_free(&allow);
	req->route_ctx = c->route->ctx;
	for (size_t i = 0; i < c->route->nseg; i++)
		if (c->route->seg[i].param && !http_param_ok(c->path.seg[i], c->path.seg_len[i])) {
			tds_error_set(TDS_EINVAL, "invalid_path",
				      "path parameter '%s' must be a plain name: no '/', '\\', control characters, "
				      "'.' or '..'", c->route->seg[i].text);
			fail(c);
			return true;
		}

	const char *cl = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(cl, &end, 10);
		if (errno == 0 && end != cl && n > s->max_body) {
			tds_error_set(TDS_ETOOBIG, "body_too_large", "request body is larger than %zu bytes",
				      s->max_body);
			fail(c);
			return true;
		}
		if (errno == 0 && end != cl && n > 0 && tds_buf_reserve(&c->body, (size_t)n) < 0) {
			fail(c);
			return true;
		}
	}
	return false;
}

static void run_idempotent(http_ctx *c, const char *key);
static void run_handler(http_ctx *c);

static bool has_principal(const tds_principal *p) { return p->roles != 0 || p->account_id != NULL; }

/* The whole request is in: authenticate, check roles, run the handler. */
static void handle(http_ctx *c)
{
	tds_server *s = c->server;
	tds_req *req = &c->req;
	const http_route *rt = c->route;
	tds_error_clear();
	if (c->body.len) {
		req->body = c->body.data;
		req->body_len = c->body.len;
	}
	bool protect = rt->info.roles != TDS_ROLES_PUBLIC;
	/* credentials sent are always checked, even on a public route: a bearer token, or a request
	 * signature (a revoked node's signed call is refused wherever it goes) */
	bool credentials = tds_req_header(req, MHD_HTTP_HEADER_AUTHORIZATION) || tds_req_header(req, "Signature") ||
			   tds_req_header(req, "Signature-Input");
	if (protect || credentials) {
		if (s->auth) {
			memset(&c->principal, 0, sizeof c->principal);
			int rc = s->auth(s->auth_ctx, req, &c->principal);
			if (rc == TDS_EAUTH) {
				if (tds_error_code() != TDS_EAUTH)
					tds_error_set(TDS_EAUTH, "unauthenticated", "credentials are not valid");
				fail_auth(c, true);
				return;
			}
			if (rc < 0) {
				if (tds_error_code() != rc)
					tds_error_set(rc, NULL, "authentication failed");
				fail(c);
				return;
			}
			if (has_principal(&c->principal))
				req->principal = &c->principal;
		}
		if (protect && !req->principal) {
			tds_error_set(TDS_EAUTH, "unauthenticated",
				      "this route needs credentials: send Authorization: Bearer <token>");
			fail_auth(c, false);
			return;
		}
		/* TDS_ROLES_ANY_USER admits every authenticated account, even one with no role yet (a
		 * basic account before its real-name review) */
		bool any_user = rt->info.roles == TDS_ROLES_ANY_USER && req->principal->account_id;
		if (protect && !any_user && !(req->principal->roles & rt->info.roles)) {
			tds_error_set(TDS_EPERM, "forbidden", "your roles do not admit %s %s", rt->info.method,
				      rt->info.pattern);
			fail(c);
			return;
		}
	}
	/* only authenticated callers: a public route has no principal to scope the key to */
	const char *ikey = s->idem && req->principal && strcmp(req->method, "POST") == 0
				   ? tds_req_header(req, "Idempotency-Key")
				   : NULL;
	if (ikey)
		run_idempotent(c, ikey);
	else
		run_handler(c);
}

static bool idem_key_ok(const char *k)
{
	size_t n = strlen(k);
	if (n < 1 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (k[i] < 0x21 || k[i] > 0x7e)
			return false;
	return true;
}

/* Runs the handler once per (principal, route, key); replays the kept answer on a retry. */
static void run_idempotent(http_ctx *c, const char *key)
{
	tds_server *s = c->server;
	tds_req *req = &c->req;
	if (!idem_key_ok(key)) {
		tds_error_set(TDS_EINVAL, "invalid_idempotency_key", "Idempotency-Key must be 1-128 visible ASCII characters");
		fail(c);
		return;
	}
	const tds_principal *p = req->principal;
	char scope[512], fp[65], stored_fp[65] = "", ctype[128] = "";
	/* scoped to the real path, not the route pattern: the same key and body on /x/A and /x/B are
	 * two different requests */
	snprintf(scope, sizeof scope, "%s %s %.400s", p && p->account_id ? p->account_id : p && p->session_id ? p->session_id : "-",
		 c->route->info.method, req->path);
	uint8_t h[TDS_HASH_LEN];
	tds_buf hex = TDS_BUF_INIT, kept = TDS_BUF_INIT;
	if (tds_hash(TDS_SUITE_INTL, req->body ? req->body : "", req->body_len, h) < 0 ||
	    tds_hex_encode(h, sizeof h, &hex) < 0) {
		fail(c);
		tds_buf_free(&hex);
		return;
	}
	memcpy(fp, hex.data, 65);
	tds_buf_free(&hex);
	uint64_t stripe = 1469598103934665603ULL; /* FNV-1a over scope and key picks the lock */
	for (const char *q = scope; *q; q++)
		stripe = (stripe ^ (unsigned char)*q) * 1099511628211ULL;
	for (const char *q = key; *q; q++)
		stripe = (stripe ^ (unsigned char)*q) * 1099511628211ULL;
	pthread_mutex_t *lock = &s->idem_locks[stripe % IDEM_STRIPES];
	pthread_mutex_lock(lock);
	int status = 0;
	int rc = s->idem->lookup(s->idem->ctx, scope, key, stored_fp, &status, ctype, &kept);
	if (rc == 0 && strcmp(stored_fp, fp) != 0) {
		tds_error_set(TDS_EUNPROC, "idempotency_key_reused",
			      "this Idempotency-Key was used with a different request body; use a new key");
		fail(c);
	} else if (rc == 0) {
		tds_resp_data(&c->resp, status, ctype, kept.data ? kept.data : "", kept.len);
		tds_resp_header(&c->resp, "Idempotent-Replayed", "true");
	} else if (rc == TDS_ENOTFOUND) {
		run_handler(c);
		const tds_resp *r = &c->resp;
		if (r->status >= 200 && r->status < 300 &&
		    s->idem->save(s->idem->ctx, scope, key, fp, r->status, r->content_type ? r->content_type : "application/json",
				  r->body ? r->body : "", r->body_len) < 0)
			tds_log(TDS_LOG_WARN, "idempotency_save_failed", "answer not kept for retries: %s", tds_error_message());
	} else {
		fail(c);
	}
	pthread_mutex_unlock(lock);
	tds_buf_free(&kept);
}

static void run_handler(http_ctx *c)
{
	const http_route *rt = c->route;
	tds_req *req = &c->req;
	tds_error_clear();
	int rc = rt->handler(req, &c->resp);
	if (rc < 0) {
		if (tds_error_code() != rc)
			tds_error_set(rc, NULL, "request failed");
		tds_resp_error(&c->resp);
	} else if (!c->resp.status) {
		tds_error_set(TDS_EINTERNAL, "internal_error", "the handler set no response; this is a bug");
		tds_resp_error(&c->resp);
	}
	if (c->resp.status >= 500) /* 503 is a state (health, a peer down); other 5xx are bugs */
		tds_log(c->resp.status == 503 ? TDS_LOG_WARN : TDS_LOG_ERROR, "http_error", "%s %s answered %d: %s", rt->info.method, rt->info.pattern,
			c->resp.status, tds_error_code() ? tds_error_message() : "(no error set)");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **req_cls)
{
	http_ctx *c = *req_cls;
	if (!c)
		return MHD_NO;
	tds_server *s = c->server;
	enum MHD_Result ret = MHD_YES;
	if (!c->started) {
		c->started = true;
		if (begin(c, method))
			ret = queue(c);
		tds_log_set_request_id(NULL);
		return ret;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (c->queued || c->too_big) {
			/* answered (or about to be): drop the rest, but do not read a flood forever */
			c->dropped += n;
			return c->dropped > 4 * s->max_body + 4 * 1024 * 1024 ? MHD_NO : MHD_YES;
		}
		if (n > s->max_body - c->body.len) {
			c->too_big = true;
			tds_buf_free(&c->body);
			tds_log_set_request_id(c->request_id);
			tds_error_set(TDS_ETOOBIG, "body_too_large", "request body is larger than %zu bytes",
				      s->max_body);
			fail(c);
			/* libmicrohttpd 0.9.75 refuses a response mid-upload (later versions take it); then the
			 * rest of the body is read and dropped, and the final call answers */
			queue(c);
			tds_log_set_request_id(NULL);
			return MHD_YES;
		}
		if (tds_buf_append(&c->body, upload_data, n) < 0)
			return MHD_NO;
		return MHD_YES;
	}
	if (c->queued)
		return MHD_YES;
	tds_log_set_request_id(c->request_id);
	if (c->too_big) {
		tds_error_set(TDS_ETOOBIG, "body_too_large", "request body is larger than %zu bytes", s->max_body);
		fail(c);
	} else {
		handle(c);
	}
	ret = queue(c);
	tds_log_set_request_id(NULL);
	tds_error_clear();
	return ret;
}

/* Path for the access log: raw (never decoded, never the query), printable ASCII, bounded. */
static json_t *log_path(const http_ctx *c)
{
	char out[520];
	size_t o = 0;
	for (size_t i = 0; i < c->raw_path_len && o < 512; i++) {
		unsigned char ch = (unsigned char)c->raw_uri[i];
		if (ch < 0x21 || ch > 0x7e)
			o += (size_t)snprintf(out + o, sizeof out - o, "%%%02X", ch);
		else
			out[o++] = (char)ch;
	}
	out[o] = 0;
	return json_string(out);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	tds_server *s = cls;
	http_ctx *c = *req_cls;
	if (!c)
		return;
	*req_cls = NULL;
	int64_t us = tds_monotonic_us() - c->start_us;
	if (!c->queued)
		http_metrics_in_flight(s->metrics, -1);
	if (s->access_log && c->started) {
		tds_log_set_request_id(c->request_id);
		json_t *f = json_object();
		json_object_set_new(f, "server", json_string(s->name));
		json_object_set_new(f, "method", json_string(c->req.method));
		json_object_set_new(f, "path", log_path(c));
		json_object_set_new(f, "route", json_string(c->route ? c->route->info.pattern : "unmatched"));
		json_object_set_new(f, "status", json_integer(c->status));
		json_object_set_new(f, "duration_ms", json_integer((us + 999) / 1000));
		json_object_set_new(f, "duration_us", json_integer(us));
		json_object_set_new(f, "bytes", json_integer((json_int_t)c->bytes));
		json_object_set_new(f, "request_id", json_string(c->request_id));
		if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
			json_object_set_new(f, "aborted", json_true());
		if (c->req.principal && c->req.principal->account_id)
			json_object_set_new(f, "account_id", json_string(c->req.principal->account_id));
		tds_log_fields(TDS_LOG_INFO, "http_access", f);
		tds_log_set_request_id(NULL);
	}
	for (http_json_ref *j = c->jsons; j; j = j->next)
		json_decref(j->v);
	tds_buf_free(&c->body);
	free(c->resp.body);
	tds_arena_free(c->req.arena);
	atomic_fetch_sub(&s->active, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = 0;
	tds_log(TDS_LOG_WARN, "http_server", "%s: %s", ((tds_server *)cls)->name, msg);
}

/* ---- lifecycle ---- */

static int parse_bind(const char *bind, uint16_t port, struct sockaddr_storage *ss, socklen_t *len, bool *v6)
{
	memset(ss, 0, sizeof *ss);
	if (!bind || !*bind || strcmp(bind, "localhost") == 0)
		bind = "127.0.0.1";
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, bind, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof *in4;
		*v6 = false;
		return 0;
	}
	const char *b = bind;
	char tmp[INET6_ADDRSTRLEN + 2];
	size_t bl = strlen(b);
	if (bl >= 2 && b[0] == '[' && b[bl - 1] == ']' && bl - 2 < sizeof tmp) {
		memcpy(tmp, b + 1, bl - 2);
		tmp[bl - 2] = 0;
		b = tmp;
	}
	if (inet_pton(AF_INET6, b, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof *in6;
		*v6 = true;
		return 0;
	}
	return tds_error_set(TDS_EINVAL, "invalid_bind", "bind address '%.64s' is not an IPv4 or IPv6 address",
			     bind);
}

int tds_server_start(tds_router *router, const tds_server_opts *opts, tds_server **out)
{
	*out = NULL;
	static const tds_server_opts defaults = {0};
	if (!opts)
		opts = &defaults;
	if (!router)
		return tds_error_set(TDS_EINVAL, "invalid_server", "a server needs a router");
	struct sockaddr_storage ss;
	socklen_t sslen;
	bool v6 = false;
	int rc = parse_bind(opts->bind, opts->port, &ss, &sslen, &v6);
	if (rc < 0)
		return rc;
	if (!http_router_has(router, "GET", "/healthz") &&
	    (rc = tds_router_add(router, "GET", "/healthz", TDS_ROLES_PUBLIC, healthz, NULL,
				 "Liveness and health of this server")) < 0)
		return rc;
	if (!http_router_has(router, "GET", "/metrics") &&
	    (rc = tds_router_add(router, "GET", "/metrics", TDS_ROLES_PUBLIC, metrics, NULL,
				 "Prometheus metrics of this server")) < 0)
		return rc;

	tds_server *s = calloc(1, sizeof *s);
	if (!s)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory starting a server");
	snprintf(s->name, sizeof s->name, "%s", opts->name && *opts->name ? opts->name : "api");
	s->router = router;
	s->max_body = opts->max_body ? opts->max_body : 1024 * 1024;
	s->access_log = opts->access_log;
	s->drain_timeout_s = opts->drain_timeout_s ? opts->drain_timeout_s : 10;
	s->idem = opts->idempotency;
	for (size_t i = 0; i < IDEM_STRIPES; i++)
		pthread_mutex_init(&s->idem_locks[i], NULL);
	s->auth = opts->auth;
	s->auth_ctx = opts->auth_ctx;
	pthread_mutex_init(&s->health_lock, NULL);
	s->metrics = http_metrics_new(tds_router_count(router));
	if (!s->metrics) {
		pthread_mutex_destroy(&s->health_lock);
		for (size_t i = 0; i < IDEM_STRIPES; i++)
			pthread_mutex_destroy(&s->idem_locks[i]);
		free(s);
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory starting a server");
	}
	unsigned threads = opts->threads ? opts->threads : 4;
	unsigned timeout = opts->connection_timeout_s ? opts->connection_timeout_s : 30;
	unsigned limit = opts->max_connections ? opts->max_connections : 1024;
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	if (v6)
		flags |= MHD_USE_IPv6;
	s->daemon = MHD_start_daemon(flags, opts->port, NULL, NULL, on_request, s,
				     MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
				     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				     MHD_OPTION_THREAD_POOL_SIZE, threads,
				     MHD_OPTION_CONNECTION_TIMEOUT, timeout,
				     MHD_OPTION_CONNECTION_LIMIT, limit,
				     MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				     MHD_OPTION_END);
	if (!s->daemon) {
		int e = errno;
		http_metrics_free(s->metrics);
		pthread_mutex_destroy(&s->health_lock);
		for (size_t i = 0; i < IDEM_STRIPES; i++)
			pthread_mutex_destroy(&s->idem_locks[i]);
		free(s);
		return tds_error_set(TDS_EIO, "listen_failed", "cannot listen on %s port %u: %s",
				     opts->bind ? opts->bind : "127.0.0.1", (unsigned)opts->port,
				     e ? strerror(e) : "libmicrohttpd refused to start");
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : opts->port;
	*out = s;
	return 0;
}

uint16_t tds_server_port(const tds_server *s) { return s ? s->port : 0; }

void tds_server_stop(tds_server *s)
{
	if (!s)
		return;
	MHD_socket fd = MHD_quiesce_daemon(s->daemon);
	/* drain: requests already read keep running; wait for them, bounded */
	int64_t deadline = tds_monotonic_us() + (int64_t)s->drain_timeout_s * 1000000;
	while (atomic_load(&s->active) > 0 && tds_monotonic_us() < deadline) {
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(s->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	http_metrics_free(s->metrics);
	pthread_mutex_destroy(&s->health_lock);
	for (size_t i = 0; i < IDEM_STRIPES; i++)
		pthread_mutex_destroy(&s->idem_locks[i]);
	free(s);
}

int tds_server_metrics(const tds_server *s, tds_buf *out)
{
	return http_metrics_render(s->metrics, s->router, s->name, out);
}

void tds_server_set_health(tds_server *s, tds_health_check fn, void *ctx)
{
	pthread_mutex_lock(&s->health_lock);
	s->health = fn;
	s->health_ctx = ctx;
	pthread_mutex_unlock(&s->health_lock);
}
