/*
 * http — the node's HTTP face: a server over libmicrohttpd (thread pool), a router with path
 * parameters and per-route roles, JSON request/response helpers, request ids, access log,
 * /healthz and /metrics (Prometheus text), a client over libcurl, and node-to-node request signing
 * (RFC 9421 / RFC 9530, last section: signer, verifier for the authenticator chain, replay cache).
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
 * names "unsupported_media_type" → 415, "method_not_allowed" → 405, "uri_too_long" → 414,
 * "service_unavailable" → 503 and "operator_unreachable" → 502, which keep their TDS_EINVAL/TDS_EIO
 * code). Returns 0. */
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
 * there are no credentials. Called only when the route needs roles or credentials are sent
 * (Authorization, Signature or Signature-Input), so a signed call to a public route is verified too. */
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
 * under (principal, method, request path, K) with a SHA-256 fingerprint of the body, and a retry with the
 * same key and body gets that answer again (header "Idempotent-Replayed: true") without running the
 * handler; the same key with a different body gets 422 "idempotency_key_reused". Keyed requests are
 * serialised per (scope, key) through striped locks, so two concurrent retries cannot both run.
 * Non-2xx answers are not kept: a retry after an error runs again. The store is the node's (it owns persistence). */
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

/* ------------------------------------------------------------------------------------------------
 * Request signing (RFC 9421 HTTP Message Signatures, RFC 9530 Content-Digest), DESIGN §2
 *
 * Calls between nodes carry a signature by the calling node's key. What we send (sign.c):
 *
 *   Content-Digest: sha-256=:<base64 SHA-256 of the body>:          (only when there is a body)
 *   Signature-Input: tds=("@method" "@target-uri" "content-digest");created=1767225600
 *                    ;keyid="<key id>";alg="ed25519";nonce="<22 base64url chars, 16 random bytes>"
 *   Signature: tds=:<base64 signature over the RFC 9421 §2.5 signature base>:
 *
 * - Label "tds". Components: "@method", "@target-uri", and "content-digest" when the request has a
 *   body. Parameters in this order: created (Unix seconds), keyid, alg, nonce.
 * - alg: "ed25519" is RFC 9421 §3.3.6 (Ed25519, RFC 8032, 64-byte signature). "sm2-sm3" is ours (not
 *   in the IANA registry): SM2 signature with SM3 and the default user id 1234567812345678 (GB/T
 *   32918), the signature encoded as DER SEQUENCE {r, s} as GM/T 0009 specifies (at most 72 bytes),
 *   exactly what tds_sign makes. The alg must name the suite of the key the keyid resolves to.
 * - keyid: 1-256 visible ASCII characters without '"' or '\'; its meaning belongs to the resolver.
 *   TDS nodes send their key id (tds_key_id, 64 hex), which identity maps to a node certificate.
 * - Content-Digest: we send sha-256; we accept sha-256 and sha-512 (RFC 9530 §5, the two
 *   algorithms the registry marks active). Every sha-256/sha-512 member present must match the body
 *   and at least one must be present; other algorithms are ignored (RFC 9530 §2 lets a recipient
 *   ignore digests; a weak one alone never satisfies us).
 * - @target-uri is scheme "://" authority request-target, with the scheme and host lower-cased and
 *   a default port (80 for http, 443 for https) dropped on both sides; path and query are taken
 *   byte for byte as sent (no percent-decoding, no dot-segment removal).
 *
 * Verification (tds_sig_verify, tds_http_verify_signature) refuses, all TDS_EAUTH unless noted:
 *   malformed_signature     Signature/Signature-Input/a covered field unparseable (RFC 8941, only
 *                           integers, strings, tokens, byte sequences and booleans; duplicate
 *                           dictionary keys or parameters are errors), over TDS_SIG_MAX_FIELD
 *                           bytes, a required parameter missing, a covered field absent
 *   signature_label_missing no "tds" member in Signature-Input or Signature
 *   unsupported_signature   a component, parameter or alg we do not implement
 *   insufficient_coverage   "@method", "@target-uri" or (with a body) "content-digest" not covered
 *   stale_signature         created older than the clock skew, or expires passed (an
 *                           optional parameter we accept; it gets no skew: the signer chose it)
 *   future_signature        created later than now + clock skew
 *   malformed_digest        Content-Digest unparseable or without a sha-256/sha-512 member
 *   digest_missing          a body without a Content-Digest field
 *   digest_mismatch         Content-Digest does not match the body
 *   unknown_key             the resolver does not know the keyid (other resolver errors pass through,
 *                           e.g. identity's "certificate_revoked")
 *   algorithm_mismatch      alg is not the algorithm of the resolved key
 *   bad_signature           the signature does not verify
 *   replayed_request        this (keyid, nonce) was accepted within the replay window
 *   replay_cache_full       TDS_ELIMIT (429): the nonce cache holds its capacity of live entries;
 *                           the request is refused rather than risk forgetting a nonce
 * Checks run cheapest first; the nonce is recorded only after the signature verified, so forged
 * requests cannot fill the cache.
 *
 * Clock skew: created must lie within [now - skew, now + skew] (default 300 s); a nonce is kept
 * 2 x skew after it was accepted, which covers every moment its signature could still be fresh.
 *
 * Behind a proxy: the verifier rebuilds @target-uri from the scheme it is configured with (default
 * "http": the server speaks plain HTTP) and the Host header. Behind a TLS-terminating reverse proxy,
 * set opts.scheme = "https" and opts.authority = the public host[:port] callers use; the proxy must
 * forward path and query unchanged. X-Forwarded-* headers are never trusted.
 * ---------------------------------------------------------------------------------------------- */

typedef struct tds_key tds_key; /* crypto/crypto.h */

#define TDS_SIG_LABEL "tds"
#define TDS_SIG_DEFAULT_SKEW_MS (300 * 1000)
#define TDS_SIG_DEFAULT_REPLAY_CAPACITY 262144 /* live nonces; about 16 bytes x 2 each */
#define TDS_SIG_MAX_FIELD 4096  /* bytes of Signature-Input, Signature or Content-Digest */
#define TDS_SIG_MAX_KEYID 256
#define TDS_SIG_MAX_COMPONENTS 16

/* Values of the headers that sign one request ("" content_digest when there is no body). */
typedef struct tds_sig_headers {
	char content_digest[128];
	char signature_input[1024];
	char signature[160];
} tds_sig_headers;

/* A request as the verifier sees it. Field names are case-insensitive; a name given several times
 * is combined in order with ", " (RFC 9110 §5.3). Nothing is copied. */
typedef struct tds_sig_field {
	const char *name, *value;
} tds_sig_field;

typedef struct tds_sig_message {
	const char *method;      /* "POST" */
	const char *scheme;      /* "http" or "https" */
	const char *authority;   /* host[:port] as in the Host header */
	const char *target;      /* request target as sent: "/path?query", raw */
	const tds_sig_field *fields;
	size_t nfields;
	const void *body;        /* may be NULL when body_len is 0 */
	size_t body_len;
} tds_sig_message;

/* Appends the RFC 9530 Content-Digest value for body ("sha-256=:…:"). */
int tds_content_digest(const void *body, size_t len, tds_buf *out);

/* Checks a Content-Digest field value against body (rules above). 0 on a match; TDS_EAUTH
 * "malformed_digest" or "digest_mismatch" otherwise. */
int tds_content_digest_check(const char *field, const void *body, size_t len);

/* Signs a request to target_uri (absolute: "http://host:port/path?query", no fragment or userinfo)
 * with key (private) under keyid at time now_ms, filling *out. A fresh random nonce every call.
 * TDS_EINVAL "invalid_signature_request" for a bad method, URI or keyid. */
int tds_sig_sign(const tds_key *key, const char *keyid, const char *method, const char *target_uri,
		 const void *body, size_t body_len, int64_t now_ms, tds_sig_headers *out);

/* Appends the RFC 9421 §2.5 signature base of the signature `label` of message m: its covered
 * components from m's Signature-Input field, then "@signature-params". No policy: any supported
 * component and parameter, no clock or replay check (for tests, tools and debugging). TDS_EAUTH
 * with the names above when the field is missing or malformed. */
int tds_sig_base(const tds_sig_message *m, const char *label, tds_buf *out);

/* Resolves a keyid to a public key and the principal it speaks for. Return 0 with *key set (borrowed:
 * it must stay valid until release(ctx, key), or for the resolver's life without a release) and
 * *principal filled (strings from `arena` or longer-lived storage); TDS_ENOTFOUND for an unknown
 * keyid; TDS_EAUTH with the error set to refuse a known one (revoked, expired certificate); any other
 * code for a failure of its own. Called from several server threads at once. Cache parsed keys by
 * keyid: parsing a PEM or a raw SM2 point per request costs more than the verify. */
typedef int (*tds_sig_resolver)(void *ctx, const char *keyid, tds_arena *arena, const tds_key **key,
				tds_principal *principal);
typedef void (*tds_sig_release)(void *ctx, const tds_key *key);

typedef struct tds_sig_verifier_opts {
	tds_sig_resolver resolve; /* required */
	tds_sig_release release;  /* optional */
	void *ctx;                /* for both */
	int64_t clock_skew_ms;    /* 0 = TDS_SIG_DEFAULT_SKEW_MS */
	size_t replay_capacity;   /* live nonces kept at most; 0 = TDS_SIG_DEFAULT_REPLAY_CAPACITY */
	const char *scheme;       /* tds_http_verify_signature: NULL = "http" */
	const char *authority;    /* tds_http_verify_signature: NULL = the Host header */
} tds_sig_verifier_opts;

typedef struct tds_sig_verifier tds_sig_verifier;

/* A verifier with its own nonce cache (strings in opts are copied). TDS_EINVAL for a missing
 * resolver or a bad scheme/authority; TDS_ENOMEM. Thread-safe once made. */
int tds_sig_verifier_new(const tds_sig_verifier_opts *opts, tds_sig_verifier **out);
void tds_sig_verifier_free(tds_sig_verifier *v); /* NULL is fine */

/* Verifies the "tds" signature of m at now_ms (rules above). Returns 0 with out->roles == 0 when m
 * carries neither Signature nor Signature-Input; 0 with the resolver's principal plus
 * TDS_ROLE_NODE (session_id defaults to the keyid) on success; a negative code with the error set
 * otherwise. Temporary data and principal strings come from arena. */
int tds_sig_verify(const tds_sig_verifier *v, const tds_sig_message *m, int64_t now_ms, tds_arena *arena,
		   tds_principal *out);

/* tds_sig_verify on a server request: method, Host (or opts.authority), the raw request target,
 * every header field line and the body, at the wall clock. */
int tds_http_verify_signature(tds_req *req, const tds_sig_verifier *v, tds_principal *out);

/* tds_authenticator over tds_http_verify_signature (ctx = const tds_sig_verifier *), for a node's
 * authenticator chain: a request without a signature yields no principal. A chain in the node:
 *
 *   static int node_auth(void *ctx, tds_req *req, tds_principal *out)
 *   {
 *           struct node *n = ctx;
 *           int rc = tds_http_verify_signature(req, n->sig_verifier, out);
 *           if (rc < 0 || out->roles)
 *                   return rc;                    // refused, or a node
 *           return tds_identity_http_auth(n->identity, req, out);   // bearer tokens
 *   }
 *
 * The server calls the authenticator for every protected route and whenever Authorization,
 * Signature or Signature-Input is sent, so every signed call passes through it. */
int tds_sig_http_auth(void *ctx, tds_req *req, tds_principal *out);

/* Makes the client sign every request with key (borrowed: it must outlive the client or the next
 * call here) under keyid (copied), unless the caller's headers already hold a Signature. NULL key
 * stops signing. TDS_EINVAL for a public-only key or a bad keyid (then signing is off). */
int tds_http_client_set_signer(tds_http_client *c, const tds_key *key, const char *keyid);

#endif
