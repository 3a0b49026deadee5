/*
 * http — the node's HTTP face: a server over libmicrohttpd (thread pool), a router with path
 * parameters and per-route roles, JSON request/response helpers, request ids, access log,
 * /healthz and /metrics (Prometheus text), and a client over libcurl.
 *
 * It is not for domain logic: a module's routes.c registers handlers that translate a request into
 * calls on the module's header and the result into JSON, nothing more. Authentication is delegated:
 * the node installs an authenticator callback (identity owns accounts and tokens), and the router
 * refuses a request whose principal lacks every role the route admits (401 without credentials,
 * 403 with the wrong ones) before the handler runs.
 *
 * Error bodies always have the DESIGN §5 shape:
 *   {"error":{"code":"snake_case","message":"…","details":{…}},"request_id":"…"}
 * ("details" only when the error has some).
 *
 * A module's routes.c, in short:
 *
 *   static const tds_json_field NEW_THING[] = {{"name", TDS_JSON_STRING, true, 128}};
 *   static int thing_create(tds_req *req, tds_resp *resp)
 *   {
 *           json_t *in;
 *           int rc = tds_req_json(req, NEW_THING, TDS_ARRAY_LEN(NEW_THING), false, &in);
 *           if (rc < 0)
 *                   return rc;                        // 400/413/415 with the error body
 *           char id[TDS_ID_MAX];
 *           if ((rc = thing_new(req->route_ctx, tds_json_str(in, "name", ""), id)) < 0)
 *                   return rc;                        // the module's error, mapped to a status
 *           return tds_resp_json(resp, 201, json_pack("{s:s}", "id", id));
 *   }
 *   int thing_routes(tds_router *r, thing_store *st)
 *   {
 *           return tds_router_add(r, "POST", "/api/v1/things", TDS_ROLE_PROVIDER, thing_create, st,
 *                                 "Register a thing");
 *   }
 */
#ifndef TDS_HTTP_H
#define TDS_HTTP_H

#include "base/base.h"

#include <stdbool.h>
#include <stdint.h>

/* ------------------------------------------------------------------------------------------------
 * Roles. A principal holds a set; a route admits a set. The identity issue grows the model, but the
 * bits are stable (they are stored in the database).
 * ---------------------------------------------------------------------------------------------- */

typedef uint32_t tds_roles;

enum {
	TDS_ROLE_ADMIN = 1u << 0,          /* node administrator (bootstrap account) */
	TDS_ROLE_PROVIDER = 1u << 1,       /* 数据提供方 */
	TDS_ROLE_CONSUMER = 1u << 2,       /* 数据使用方 */
	TDS_ROLE_DEVELOPER = 1u << 3,      /* 开发方 */
	TDS_ROLE_SERVICE = 1u << 4,        /* 数商 (development, brokerage, custody) */
	TDS_ROLE_AUTH_OPERATOR = 1u << 5,  /* 授权运营方 */
	TDS_ROLE_OPERATOR = 1u << 6,       /* 平台运营方 */
	TDS_ROLE_REGULATOR = 1u << 7,      /* 监管方 */
	TDS_ROLE_AUDITOR = 1u << 8,        /* 审计方 */
	TDS_ROLE_NODE = 1u << 9,           /* another node calling with a signed request */
};
#define TDS_ROLES_PUBLIC 0u                 /* route needs no credentials */
#define TDS_ROLES_ANY_USER 0x3ffu            /* any authenticated principal */
#define TDS_ROLES_ALL_NAMES 10

/* Role name ("admin", "provider", …) for one bit; NULL for an unknown bit. */
const char *tds_role_name(tds_roles bit);
/* Parses a role name into its bit; TDS_EINVAL naming the unknown role. */
int tds_role_parse(const char *name, tds_roles *out);
/* Role set as a JSON array of names (new reference). */
json_t *tds_roles_to_json(tds_roles roles);
/* Role set from a JSON array of names; TDS_EINVAL on a non-array, non-string or unknown name. */
int tds_roles_from_json(const json_t *arr, tds_roles *out);

/* Who is calling, filled by the authenticator. Strings are owned by the request arena. */
typedef struct tds_principal {
	const char *account_id; /* "acc_…" or NULL for a node */
	const char *username;
	const char *org_id;     /* NULL until the identity issue adds organisations */
	const char *session_id; /* "ses_…" or API key id "key_…" */
	tds_roles roles;
	bool via_api_key;
} tds_principal;

/* ------------------------------------------------------------------------------------------------
 * Requests and responses. Everything a handler allocates comes from req->arena.
 * ---------------------------------------------------------------------------------------------- */

typedef struct tds_req tds_req;
typedef struct tds_resp tds_resp;

struct tds_req {
	tds_arena *arena;
	const char *method;       /* "GET", "POST", … */
	const char *path;         /* decoded path, without query */
	const char *request_id;   /* from a valid X-Request-Id header or generated */
	const char *client_ip;
	const tds_principal *principal; /* NULL on public routes without credentials */
	const char *body;         /* raw body (NUL-terminated), NULL if none */
	size_t body_len;
	void *route_ctx;          /* the ctx given at tds_router_add */
	void *internal;           /* server use only */
};

/* Path parameter by name ("id" for "/api/v1/accounts/{id}"), NULL if the route has none. */
const char *tds_req_param(const tds_req *req, const char *name);
/* Query argument, NULL if absent. */
const char *tds_req_query(const tds_req *req, const char *name);
/* Request header (case-insensitive), NULL if absent. */
const char *tds_req_header(const tds_req *req, const char *name);
/* Parses the body as a JSON object (tds_json_parse rules) and checks it against `fields`.
 * TDS_EINVAL when the body is missing, not JSON, not an object or fails the check; TDS_EINVAL with
 * name "unsupported_media_type" when Content-Type is set and not application/json. The returned
 * object is released with the request. */
int tds_req_json(tds_req *req, const tds_json_field *fields, size_t n, bool allow_unknown, json_t **out);
/* Reads `limit` (1..max, default def) and `cursor` (opaque string ≤ 128 bytes) query arguments.
 * limit must be plain decimal digits ("10abc", "+5", " 5" are refused: TDS_EINVAL "invalid_limit");
 * the cursor must be printable ASCII without spaces ("invalid_cursor"); an empty cursor is none. */
int tds_req_page(const tds_req *req, int def, int max, int *limit, const char **cursor);

/* The decoding half of tds_req_json, without a request (for fuzzing and for callers holding a body
 * from elsewhere): checks the content type (NULL or "" means absent), parses, requires an object,
 * applies tds_json_check. On success *out is a new reference the caller releases. */
int tds_http_decode_json_body(const char *content_type, const char *body, size_t len,
			      const tds_json_field *fields, size_t n, bool allow_unknown, json_t **out);

/* Sets a JSON body (steals `body`) with the given status. */
int tds_resp_json(tds_resp *resp, int status, json_t *body);
/* Sets a body of any type (copied). */
int tds_resp_data(tds_resp *resp, int status, const char *content_type, const void *data, size_t len);
/* Sets the DESIGN §5 error body from the thread's last error (status from the code, except the
 * names "unsupported_media_type" → 415, "method_not_allowed" → 405, "uri_too_long" → 414 and
 * "service_unavailable" → 503, which keep their TDS_EINVAL/TDS_EIO code). Returns 0. */
int tds_resp_error(tds_resp *resp);
/* Adds a response header (copied; at most 16). TDS_EINTERNAL for a name that is not an HTTP token or a
 * value with control characters. Content-Type, X-Request-Id, Cache-Control: no-store and
 * X-Content-Type-Options: nosniff are always sent. */
int tds_resp_header(tds_resp *resp, const char *name, const char *value);

/* A handler returns 0 after setting the response, or a negative TDS_E… code with the thread's last
 * error set, in which case the server answers with tds_resp_error. */
typedef int (*tds_handler)(tds_req *req, tds_resp *resp);

/* ------------------------------------------------------------------------------------------------
 * Router
 * ---------------------------------------------------------------------------------------------- */

typedef struct tds_router tds_router;

tds_router *tds_router_new(void);
void tds_router_free(tds_router *r);
/* Registers `method pattern`. Pattern segments are literals or "{name}"; a parameter matches one
 * non-empty segment. `roles` is the set admitted (TDS_ROLES_PUBLIC for none needed). `summary` is
 * a one-line description (used by the OpenAPI consistency test). Returns TDS_ECONFLICT for a
 * duplicate, TDS_EINVAL for a malformed pattern. */
int tds_router_add(tds_router *r, const char *method, const char *pattern, tds_roles roles,
		   tds_handler handler, void *ctx, const char *summary);

typedef struct tds_route_info {
	const char *method;
	const char *pattern;
	tds_roles roles;
	const char *summary;
} tds_route_info;
/* Number of routes and the i-th (registration order). */
size_t tds_router_count(const tds_router *r);
const tds_route_info *tds_router_get(const tds_router *r, size_t i);

/* ------------------------------------------------------------------------------------------------
 * Server
 * ---------------------------------------------------------------------------------------------- */

/* Authenticator: given the request (headers available), fill *out and return 0; return TDS_EAUTH
 * when credentials are present but invalid; return 0 with out->roles == 0 and account_id NULL when
 * there are no credentials. Called only when the route needs roles or credentials are sent. */
typedef int (*tds_authenticator)(void *ctx, tds_req *req, tds_principal *out);

typedef struct tds_server_opts {
	const char *name;         /* "api" or "data": used in logs and metrics labels */
	const char *bind;         /* address, default "127.0.0.1" */
	uint16_t port;            /* 0 = pick a free port */
	unsigned threads;         /* thread pool size, default 4 */
	size_t max_body;          /* bytes, default 1 MiB; larger bodies get 413 */
	unsigned connection_timeout_s; /* default 30 */
	tds_authenticator auth;
	void *auth_ctx;
	bool access_log;          /* default on in tdsd */
	unsigned max_connections; /* concurrent connections, default 1024 */
	unsigned drain_timeout_s; /* tds_server_stop waits this long for in-flight requests, default 10 */
	const struct tds_idempotency *idempotency; /* NULL: Idempotency-Key headers are ignored */
} tds_server_opts;

/* Idempotency-Key support for create endpoints (POST). When an authenticated POST carries "Idempotency-Key: K"
 * (1-128 bytes of 0x21-0x7e) and the server has a store, the first request's 2xx answer is kept
 * under (principal, method, route, K) with a SHA-256 fingerprint of the body, and a retry with the
 * same key and body gets that answer again (header "Idempotent-Replayed: true") without running the
 * handler; the same key with a different body gets 422 "idempotency_key_reused". Keyed requests are
 * serialised per server so that two concurrent retries cannot both run. Non-2xx answers are not kept:
 * a retry after an error runs again. The store is the node's (it owns persistence). */
typedef struct tds_idempotency {
	/* 0 and the stored answer (status, content type, body appended to `body`); TDS_ENOTFOUND when
	 * the key is new. fingerprint is 64 hex characters. */
	int (*lookup)(void *ctx, const char *scope, const char *key, char fingerprint_out[65], int *status,
		      char content_type[128], tds_buf *body);
	int (*save)(void *ctx, const char *scope, const char *key, const char *fingerprint, int status,
		    const char *content_type, const void *body, size_t len);
	void *ctx;
} tds_idempotency;

typedef struct tds_server tds_server;

/* Starts listening; /healthz and /metrics are added to the router automatically (public) unless
 * it already has them. The router must outlive the server and must not change while a server runs
 * on it: register every route first, and start servers that share a router one after the other.
 * TDS_EINVAL for a bind address that is not a numeric IPv4/IPv6 address ("localhost" is taken as
 * 127.0.0.1), TDS_EIO "listen_failed" when the port cannot be bound.
 *
 * Request phases: headers → route, path parameters, Content-Length (404, 405, 400, 414, 413 answered
 * before any body is read) → body (413 once max_body is passed) → authenticator and roles (401, 403)
 * → handler. Every response carries X-Request-Id, Cache-Control: no-store and
 * X-Content-Type-Options: nosniff; HEAD is served by GET routes. */
int tds_server_start(tds_router *router, const tds_server_opts *opts, tds_server **out);
uint16_t tds_server_port(const tds_server *s);
/* Stops accepting (MHD_quiesce_daemon), waits up to drain_timeout_s for requests already received,
 * then stops the daemon and frees the server. NULL is fine. */
void tds_server_stop(tds_server *s);
/* Prometheus text for this server's counters (appended to out). */
int tds_server_metrics(const tds_server *s, tds_buf *out);
/* Extra health check: return 0 when healthy, else set the error. Called by /healthz. */
typedef int (*tds_health_check)(void *ctx);
void tds_server_set_health(tds_server *s, tds_health_check fn, void *ctx);

/* ------------------------------------------------------------------------------------------------
 * Client (libcurl). One handle per thread or per caller; not shared between threads.
 * ---------------------------------------------------------------------------------------------- */

typedef struct tds_http_response {
	long status;
	tds_buf body;
	char content_type[128];
	/* Header lines of the final response ("Name: value\r\n"…), truncated beyond 4 KiB; read them
	 * with tds_http_response_header. Inline, so freeing the body is all the cleanup there is. */
	char headers[4096];
	size_t headers_len;
} tds_http_response;

typedef struct tds_http_client tds_http_client;

tds_http_client *tds_http_client_new(const char *base_url, long timeout_ms);
void tds_http_client_free(tds_http_client *c);
void tds_http_client_set_token(tds_http_client *c, const char *bearer); /* copied; NULL clears */
/* Performs a request to base_url + path. `body` may be NULL. `headers` is a NULL-terminated list of
 * "Name: value" strings or NULL. Returns 0 when any HTTP response arrived (check resp->status);
 * TDS_EIO on connection failure. The caller frees resp->body. */
int tds_http_client_do(tds_http_client *c, const char *method, const char *path,
		       const char *const *headers, const void *body, size_t body_len,
		       tds_http_response *resp);
/* Frees resp->body and clears the response. */
void tds_http_response_free(tds_http_response *resp);
/* Copies the value of the first response header `name` (case-insensitive) into out (truncated to
 * cap - 1 bytes). Returns true when the header was present. */
bool tds_http_response_header(const tds_http_response *resp, const char *name, char *out, size_t cap);
/* Same, with a JSON body (may be NULL) and a parsed JSON response (*out, new reference, NULL when
 * the response is not JSON). */
int tds_http_client_json(tds_http_client *c, const char *method, const char *path, const json_t *body,
			 long *status, json_t **out);

#endif
