/*
 * test_http.c — the http module end to end: a real server on an ephemeral port with a router of
 * test routes and a stub authenticator ("admin-token" is an admin, "user-token" a consumer,
 * anything else forged), driven by the module's own client. Also the decoders and the router on
 * their own, and a raw socket for what a well-behaved client would never send.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/http.h"
#include "http/http_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY 4096

typedef struct fixture {
	tds_router *router;
	tds_server *server;
	tds_http_client *client;
	char base[64];
} fixture;

static fixture F;
static _Atomic int health_fail;

/* ---- test routes ---- */

static int h_thing(tds_req *req, tds_resp *resp)
{
	return tds_resp_json(resp, 200, json_pack("{s:s, s:s}", "id", tds_req_param(req, "id"), "route", "param"));
}

static int h_special(tds_req *req, tds_resp *resp)
{
	return tds_resp_json(resp, 200, json_pack("{s:s}", "route", "special"));
}

static int h_delete(tds_req *req, tds_resp *resp)
{
	return tds_resp_json(resp, 200, json_pack("{s:s}", "deleted", tds_req_param(req, "id")));
}

static int h_two(tds_req *req, tds_resp *resp)
{
	return tds_resp_json(resp, 200, json_pack("{s:s, s:s}", "x", tds_req_param(req, "x"), "y",
						  tds_req_param(req, "y")));
}

static const tds_json_field THING_FIELDS[] = {
	{"name", TDS_JSON_STRING, true, 64},
	{"count", TDS_JSON_INTEGER, false, 0},
};

static int h_create(tds_req *req, tds_resp *resp)
{
	json_t *body;
	int rc = tds_req_json(req, THING_FIELDS, TDS_ARRAY_LEN(THING_FIELDS), false, &body);
	if (rc < 0)
		return rc;
	tds_resp_header(resp, "Location", "/api/v1/things/new");
	return tds_resp_json(resp, 201, json_pack("{s:s, s:s, s:o}", "name", tds_json_str(body, "name", ""),
						  "by", req->principal->username, "roles",
						  tds_roles_to_json(req->principal->roles)));
}

static int h_admin(tds_req *req, tds_resp *resp)
{
	return tds_resp_json(resp, 200, json_pack("{s:b}", "admin", 1));
}

static int h_conflict(tds_req *req, tds_resp *resp)
{
	return tds_error_set(TDS_ECONFLICT, "thing_exists", "a thing with this name exists; pick another");
}

static int h_unproc(tds_req *req, tds_resp *resp)
{
	tds_error_set(TDS_EUNPROC, "quota_exceeded", "the contract allows 3 calls");
	tds_error_set_details(json_pack("{s:i}", "allowed", 3));
	return TDS_EUNPROC;
}

static int h_noresp(tds_req *req, tds_resp *resp) { return 0; }

static int h_list(tds_req *req, tds_resp *resp)
{
	int limit;
	const char *cursor;
	int rc = tds_req_page(req, 20, 100, &limit, &cursor);
	if (rc < 0)
		return rc;
	return tds_resp_json(resp, 200, json_pack("{s:i, s:s?}", "limit", limit, "cursor", cursor));
}

static int h_query(tds_req *req, tds_resp *resp)
{
	const char *q = tds_req_query(req, "q");
	return tds_resp_json(resp, 200, json_pack("{s:s?, s:s}", "q", q, "path", req->path));
}

static int h_slow(tds_req *req, tds_resp *resp)
{
	struct timespec ts = {0, 300 * 1000 * 1000};
	nanosleep(&ts, NULL);
	return tds_resp_data(resp, 200, "text/plain", "slow", 4);
}

static int auth_stub(void *ctx, tds_req *req, tds_principal *out)
{
	const char *h = tds_req_header(req, "Authorization");
	if (!h)
		return 0;
	if (strcmp(h, "Bearer admin-token") == 0) {
		out->account_id = tds_arena_strdup(req->arena, "acc_admin");
		out->username = "admin";
		out->roles = TDS_ROLE_ADMIN;
		return 0;
	}
	if (strcmp(h, "Bearer user-token") == 0) {
		out->account_id = "acc_user";
		out->username = "user";
		out->roles = TDS_ROLE_CONSUMER;
		return 0;
	}
	return tds_error_set(TDS_EAUTH, "invalid_token", "the token is not valid; sign in again");
}

static int health_cb(void *ctx)
{
	if (health_fail)
		return tds_error_set(TDS_EIO, "database_unavailable", "database is not answering");
	return 0;
}

static tds_router *make_router(void)
{
	tds_router *r = tds_router_new();
	assert_non_null(r);
	assert_int_equal(tds_router_add(r, "GET", "/api/v1/things/{id}", TDS_ROLES_PUBLIC, h_thing, NULL, "Get"), 0);
	assert_int_equal(tds_router_add(r, "GET", "/api/v1/things/special", TDS_ROLES_PUBLIC, h_special, NULL, "Sp"), 0);
	assert_int_equal(tds_router_add(r, "DELETE", "/api/v1/things/{id}", TDS_ROLE_ADMIN, h_delete, NULL, "Del"), 0);
	assert_int_equal(tds_router_add(r, "POST", "/api/v1/things", TDS_ROLES_ANY_USER, h_create, NULL, "New"), 0);
	assert_int_equal(tds_router_add(r, "GET", "/api/v1/a/{x}/b/{y}", TDS_ROLES_PUBLIC, h_two, NULL, "Two"), 0);
	assert_int_equal(tds_router_add(r, "GET", "/api/v1/admin/only", TDS_ROLE_ADMIN, h_admin, NULL, "Adm"), 0);
	assert_int_equal(tds_router_add(r, "GET", "/api/v1/fail/conflict", TDS_ROLES_PUBLIC, h_conflict, NULL, "C"), 0);
	assert_int_equal(tds_router_add(r, "GET", "/api/v1/fail/unproc", TDS_ROLES_PUBLIC, h_unproc, NULL, "U"), 0);
	assert_int_equal(tds_router_add(r, "GET", "/api/v1/fail/noresp", TDS_ROLES_PUBLIC, h_noresp, NULL, "N"), 0);
	assert_int_equal(tds_router_add(r, "GET", "/api/v1/list", TDS_ROLES_PUBLIC, h_list, NULL, "List"), 0);
	assert_int_equal(tds_router_add(r, "GET", "/api/v1/query", TDS_ROLES_PUBLIC, h_query, NULL, "Q"), 0);
	assert_int_equal(tds_router_add(r, "GET", "/api/v1/slow", TDS_ROLES_PUBLIC, h_slow, NULL, "Slow"), 0);
	return r;
}

static int setup(void **state)
{
	tds_log_set_level(TDS_LOG_WARN);
	F.router = make_router();
	tds_server_opts o = {.name = "api", .port = 0, .threads = 4, .max_body = MAX_BODY, .auth = auth_stub,
			     .access_log = true};
	assert_int_equal(tds_server_start(F.router, &o, &F.server), 0);
	assert_true(tds_server_port(F.server) > 0);
	tds_server_set_health(F.server, health_cb, NULL);
	snprintf(F.base, sizeof F.base, "http://127.0.0.1:%u", tds_server_port(F.server));
	F.client = tds_http_client_new(F.base, 10000);
	assert_non_null(F.client);
	return 0;
}

static int teardown(void **state)
{
	tds_http_client_free(F.client);
	tds_server_stop(F.server);
	tds_router_free(F.router);
	return 0;
}

/* ---- helpers ---- */

typedef struct result {
	long status;
	json_t *json;
	tds_http_response r;
} result;

static void done(result *res)
{
	json_decref(res->json);
	tds_http_response_free(&res->r);
}

/* One request; token NULL for none; body and content type optional; extra header optional. */
static result call(const char *method, const char *path, const char *token, const char *ctype, const char *body,
		   const char *extra)
{
	result res = {0};
	const char *hdrs[4] = {0};
	char ct[128], auth[128];
	int n = 0;
	if (ctype) {
		snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
		hdrs[n++] = ct;
	}
	if (token) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
		hdrs[n++] = auth;
	}
	if (extra)
		hdrs[n++] = extra;
	int rc = tds_http_client_do(F.client, method, path, hdrs, body, body ? strlen(body) : 0, &res.r);
	assert_int_equal(rc, 0);
	res.status = res.r.status;
	if (strncmp(res.r.content_type, "application/json", 16) == 0 && res.r.body.len)
		assert_int_equal(tds_json_parse(res.r.body.data, res.r.body.len, &res.json), 0);
	return res;
}

/* Checks the DESIGN §5 error shape and the code; returns the message. */
static const char *expect_error(result *res, long status, const char *code)
{
	if (res->status != status)
		print_error("expected %ld, got %ld: %s\n", status, res->status, res->r.body.data);
	assert_int_equal(res->status, status);
	assert_non_null(res->json);
	json_t *err = json_object_get(res->json, "error");
	assert_true(json_is_object(err));
	assert_string_equal(json_string_value(json_object_get(err, "code")), code);
	assert_true(json_is_string(json_object_get(err, "message")));
	assert_true(json_string_length(json_object_get(err, "message")) > 0);
	const char *rid = json_string_value(json_object_get(res->json, "request_id"));
	assert_non_null(rid);
	char hdr[80];
	assert_true(tds_http_response_header(&res->r, "X-Request-Id", hdr, sizeof hdr));
	assert_string_equal(hdr, rid);
	size_t keys = json_object_size(err);
	assert_true(keys == 2 || (keys == 3 && json_is_object(json_object_get(err, "details"))));
	assert_int_equal(json_object_size(res->json), 2);
	return json_string_value(json_object_get(err, "message"));
}

/* Sends raw bytes on a fresh connection and reads the status code of the answer. */
static int raw_status(const char *req, size_t len, const char *then, size_t then_len)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(tds_server_port(F.server))};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	if (then)
		send(fd, then, then_len, MSG_NOSIGNAL); /* the server may have closed: errors are fine */
	char buf[512];
	ssize_t got = 0, r;
	while (got < (ssize_t)sizeof buf - 1 && (r = recv(fd, buf + got, sizeof buf - 1 - (size_t)got, 0)) > 0) {
		got += r;
		if (memchr(buf, '\n', (size_t)got))
			break;
	}
	close(fd);
	buf[got > 0 ? got : 0] = 0;
	int status = 0;
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	return status;
}

/* ---- server tests ---- */

static void test_route_params(void **state)
{
	result r = call("GET", "/api/v1/things/abc", NULL, NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "id")), "abc");
	assert_string_equal(json_string_value(json_object_get(r.json, "route")), "param");
	char v[64];
	assert_true(tds_http_response_header(&r.r, "Cache-Control", v, sizeof v));
	assert_string_equal(v, "no-store");
	assert_true(tds_http_response_header(&r.r, "X-Content-Type-Options", v, sizeof v));
	assert_string_equal(v, "nosniff");
	assert_true(tds_http_response_header(&r.r, "X-Request-Id", v, sizeof v));
	assert_true(tds_id_valid(v, "req"));
	done(&r);

	r = call("GET", "/api/v1/things/a%20b%C3%A9", NULL, NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "id")), "a b\xc3\xa9");
	done(&r);

	r = call("GET", "/api/v1/a/1/b/two", NULL, NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "x")), "1");
	assert_string_equal(json_string_value(json_object_get(r.json, "y")), "two");
	done(&r);

	r = call("GET", "/api/v1/query?q=hello+world%21&z=1", NULL, NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "q")), "hello world!");
	assert_string_equal(json_string_value(json_object_get(r.json, "path")), "/api/v1/query");
	done(&r);

	r = call("GET", "/api/v1/query?q=%zz", NULL, NULL, NULL, NULL);
	expect_error(&r, 400, "invalid_query");
	done(&r);

	r = call("HEAD", "/api/v1/things/abc", NULL, NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.r.body.len, 0);
	done(&r);
}

static void test_literal_precedence(void **state)
{
	result r = call("GET", "/api/v1/things/special", NULL, NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "route")), "special");
	done(&r);
	/* an escaped literal is the same literal */
	r = call("GET", "/api/v1/things/%73pecial", NULL, NULL, NULL, NULL);
	assert_string_equal(json_string_value(json_object_get(r.json, "route")), "special");
	done(&r);
	r = call("GET", "/api/v1/things/specials", NULL, NULL, NULL, NULL);
	assert_string_equal(json_string_value(json_object_get(r.json, "route")), "param");
	done(&r);
}

static void test_not_found_vs_method(void **state)
{
	result r = call("GET", "/api/v1/nothing/here", NULL, NULL, NULL, NULL);
	expect_error(&r, 404, "not_found");
	done(&r);
	r = call("GET", "/api/v1/things/abc/", NULL, NULL, NULL, NULL); /* trailing slash: another path */
	expect_error(&r, 404, "not_found");
	done(&r);
	r = call("GET", "/api/v1/things//", NULL, NULL, NULL, NULL);
	expect_error(&r, 404, "not_found");
	done(&r);

	r = call("PUT", "/api/v1/things/abc", NULL, "application/json", "{}", NULL);
	expect_error(&r, 405, "method_not_allowed");
	char allow[64];
	assert_true(tds_http_response_header(&r.r, "Allow", allow, sizeof allow));
	assert_string_equal(allow, "GET, DELETE");
	done(&r);
	r = call("POST", "/api/v1/things/special", NULL, NULL, NULL, NULL);
	expect_error(&r, 405, "method_not_allowed");
	done(&r);
}

static void test_path_traversal(void **state)
{
	static const char *const BAD[] = {
		"/api/v1/things/..%2F..%2Fetc", "/api/v1/things/%00", "/api/v1/things/a%00b", "/api/v1/things/..",
		"/api/v1/things/.", "/api/v1/things/%2e%2e", "/api/v1/things/a%5Cb", "/api/v1/things/a%0Ab",
		"/api/v1/things/%FF", "/api/v1/things/%7F", "/api/v1/a/..%2f/b/x",
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(BAD); i++) {
		result r = call("GET", BAD[i], NULL, NULL, NULL, NULL);
		expect_error(&r, 400, "invalid_path");
		done(&r);
	}
	result r = call("GET", "/api/v1/things/%zz", NULL, NULL, NULL, NULL);
	expect_error(&r, 400, "invalid_path");
	done(&r);

	char longpath[2100] = "/api/v1/things/";
	memset(longpath + strlen(longpath), 'a', sizeof longpath - 1 - strlen(longpath));
	longpath[sizeof longpath - 1] = 0;
	r = call("GET", longpath, NULL, NULL, NULL, NULL);
	expect_error(&r, 414, "uri_too_long");
	done(&r);
}

static void test_json_body(void **state)
{
	result r = call("POST", "/api/v1/things", "user-token", "application/json", "{\"name\":\"w\",\"count\":3}", NULL);
	assert_int_equal(r.status, 201);
	assert_string_equal(json_string_value(json_object_get(r.json, "by")), "user");
	assert_string_equal(json_string_value(json_array_get(json_object_get(r.json, "roles"), 0)), "consumer");
	char loc[64];
	assert_true(tds_http_response_header(&r.r, "Location", loc, sizeof loc));
	assert_string_equal(loc, "/api/v1/things/new");
	done(&r);

	r = call("POST", "/api/v1/things", "user-token", "application/json; charset=UTF-8", "{\"name\":\"w\"}", NULL);
	assert_int_equal(r.status, 201);
	done(&r);
	r = call("POST", "/api/v1/things", "user-token", NULL, "{\"name\":\"w\"}", "Content-Type:");
	assert_int_equal(r.status, 201); /* no Content-Type at all is accepted */
	done(&r);

	r = call("POST", "/api/v1/things", "user-token", "application/json", "{\"name\":", NULL);
	expect_error(&r, 400, "invalid_json");
	done(&r);
	r = call("POST", "/api/v1/things", "user-token", "application/json", "[1,2]", NULL);
	expect_error(&r, 400, "invalid_json");
	done(&r);
	r = call("POST", "/api/v1/things", "user-token", "application/json", "", NULL);
	expect_error(&r, 400, "invalid_json");
	done(&r);
	r = call("POST", "/api/v1/things", "user-token", "application/json", "{\"name\":5}", NULL);
	const char *msg = expect_error(&r, 400, "invalid_field");
	assert_non_null(strstr(msg, "'name'"));
	done(&r);
	r = call("POST", "/api/v1/things", "user-token", "application/json", "{\"name\":\"x\",\"bogus\":1}", NULL);
	msg = expect_error(&r, 400, "unknown_field");
	assert_non_null(strstr(msg, "bogus"));
	done(&r);
	r = call("POST", "/api/v1/things", "user-token", "application/json", "{}", NULL);
	msg = expect_error(&r, 400, "missing_field");
	assert_non_null(strstr(msg, "name"));
	done(&r);
	r = call("POST", "/api/v1/things", "user-token", "application/json", "{\"name\":\"\xff\xfe\"}", NULL);
	expect_error(&r, 400, "invalid_json");
	done(&r);
	r = call("POST", "/api/v1/things", "user-token", "application/json", "{\"name\":\"a\",\"name\":\"b\"}", NULL);
	expect_error(&r, 400, "invalid_json");
	done(&r);

	r = call("POST", "/api/v1/things", "user-token", "text/plain", "{\"name\":\"w\"}", NULL);
	expect_error(&r, 415, "unsupported_media_type");
	done(&r);
	r = call("POST", "/api/v1/things", "user-token", "application/json; charset=latin1", "{\"name\":\"w\"}", NULL);
	expect_error(&r, 415, "unsupported_media_type");
	done(&r);
}

static void test_body_limit(void **state)
{
	char *big = malloc(MAX_BODY + 2);
	memset(big, ' ', MAX_BODY + 1);
	big[0] = '{';
	big[MAX_BODY] = '}';
	big[MAX_BODY + 1] = 0;
	result r = call("POST", "/api/v1/things", "user-token", "application/json", big, NULL);
	expect_error(&r, 413, "body_too_large");
	done(&r);
	/* exactly the limit is fine (and then fails on content) */
	big[MAX_BODY - 1] = '}';
	big[MAX_BODY] = 0;
	r = call("POST", "/api/v1/things", "user-token", "application/json", big, NULL);
	expect_error(&r, 400, "missing_field");
	done(&r);
	free(big);

	/* chunked upload without Content-Length: refused once the bytes pass the limit */
	char head[512];
	int n = snprintf(head, sizeof head, "POST /api/v1/things HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
			 "user-token\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
	size_t chunk = 1000, nchunks = 6;
	tds_buf body = TDS_BUF_INIT;
	for (size_t i = 0; i < nchunks; i++) {
		tds_buf_printf(&body, "%zx\r\n", chunk);
		for (size_t j = 0; j < chunk; j++)
			tds_buf_putc(&body, ' ');
		tds_buf_puts(&body, "\r\n");
	}
	tds_buf_puts(&body, "0\r\n\r\n");
	assert_int_equal(raw_status(head, (size_t)n, body.data, body.len), 413);
	tds_buf_free(&body);
	/* and a Content-Length that announces too much is refused before the body */
	n = snprintf(head, sizeof head, "POST /api/v1/things HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n");
	assert_int_equal(raw_status(head, (size_t)n, NULL, 0), 413);
}

static void test_auth(void **state)
{
	result r = call("POST", "/api/v1/things", NULL, "application/json", "{\"name\":\"w\"}", NULL);
	expect_error(&r, 401, "unauthenticated");
	char www[128];
	assert_true(tds_http_response_header(&r.r, "WWW-Authenticate", www, sizeof www));
	assert_true(strncmp(www, "Bearer", 6) == 0);
	done(&r);

	r = call("POST", "/api/v1/things", "forged-token", "application/json", "{\"name\":\"w\"}", NULL);
	expect_error(&r, 401, "invalid_token");
	assert_true(tds_http_response_header(&r.r, "WWW-Authenticate", www, sizeof www));
	assert_non_null(strstr(www, "invalid_token"));
	done(&r);

	/* credentials sent to a public route are still checked */
	r = call("GET", "/api/v1/things/x", "forged-token", NULL, NULL, NULL);
	expect_error(&r, 401, "invalid_token");
	done(&r);

	r = call("GET", "/api/v1/admin/only", "user-token", NULL, NULL, NULL);
	expect_error(&r, 403, "forbidden");
	done(&r);
	r = call("DELETE", "/api/v1/things/x", "user-token", NULL, NULL, NULL);
	expect_error(&r, 403, "forbidden");
	done(&r);
	r = call("GET", "/api/v1/admin/only", NULL, NULL, NULL, NULL);
	expect_error(&r, 401, "unauthenticated");
	done(&r);
	r = call("GET", "/api/v1/admin/only", "admin-token", NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	done(&r);
	r = call("DELETE", "/api/v1/things/x", "admin-token", NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "deleted")), "x");
	done(&r);

	/* the client's own token */
	tds_http_client_set_token(F.client, "admin-token");
	long status;
	json_t *out;
	assert_int_equal(tds_http_client_json(F.client, "GET", "/api/v1/admin/only", NULL, &status, &out), 0);
	assert_int_equal(status, 200);
	assert_true(json_is_true(json_object_get(out, "admin")));
	json_decref(out);
	json_t *in = json_pack("{s:s}", "name", "via-json");
	assert_int_equal(tds_http_client_json(F.client, "POST", "/api/v1/things", in, &status, &out), 0);
	json_decref(in);
	assert_int_equal(status, 201);
	assert_string_equal(json_string_value(json_object_get(out, "by")), "admin");
	json_decref(out);
	tds_http_client_set_token(F.client, NULL);
	assert_int_equal(tds_http_client_json(F.client, "GET", "/api/v1/admin/only", NULL, &status, &out), 0);
	assert_int_equal(status, 401);
	json_decref(out);
}

static void test_handler_errors(void **state)
{
	result r = call("GET", "/api/v1/fail/conflict", NULL, NULL, NULL, NULL);
	const char *msg = expect_error(&r, 409, "thing_exists");
	assert_non_null(strstr(msg, "pick another"));
	done(&r);
	r = call("GET", "/api/v1/fail/unproc", NULL, NULL, NULL, NULL);
	expect_error(&r, 422, "quota_exceeded");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(r.json, "error"),
									    "details"), "allowed")), 3);
	done(&r);
	tds_log_set_level(TDS_LOG_OFF); /* the 500 is logged as an error: keep the test output clean */
	r = call("GET", "/api/v1/fail/noresp", NULL, NULL, NULL, NULL);
	tds_log_set_level(TDS_LOG_WARN);
	expect_error(&r, 500, "internal_error");
	done(&r);
}

static void test_page(void **state)
{
	static const struct {
		const char *path;
		long status;
		int limit;
	} CASES[] = {
		{"/api/v1/list", 200, 20},          {"/api/v1/list?limit=50", 200, 50},
		{"/api/v1/list?limit=100", 200, 100}, {"/api/v1/list?limit=101", 400, 0},
		{"/api/v1/list?limit=0", 400, 0},   {"/api/v1/list?limit=10abc", 400, 0},
		{"/api/v1/list?limit=-1", 400, 0},  {"/api/v1/list?limit=+5", 400, 0},
		{"/api/v1/list?limit=", 400, 0},    {"/api/v1/list?limit=99999999999999999999", 400, 0},
		{"/api/v1/list?limit=%205", 400, 0},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(CASES); i++) {
		result r = call("GET", CASES[i].path, NULL, NULL, NULL, NULL);
		if (CASES[i].status == 200) {
			assert_int_equal(r.status, 200);
			assert_int_equal(json_integer_value(json_object_get(r.json, "limit")), CASES[i].limit);
		} else {
			expect_error(&r, 400, "invalid_limit");
		}
		done(&r);
	}
	result r = call("GET", "/api/v1/list?cursor=abc_DEF-1", NULL, NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "cursor")), "abc_DEF-1");
	done(&r);
	r = call("GET", "/api/v1/list?cursor=a%20b", NULL, NULL, NULL, NULL);
	expect_error(&r, 400, "invalid_cursor");
	done(&r);
	char path[300] = "/api/v1/list?cursor=";
	memset(path + strlen(path), 'c', 129);
	r = call("GET", path, NULL, NULL, NULL, NULL);
	expect_error(&r, 400, "invalid_cursor");
	done(&r);
}

static void test_request_id(void **state)
{
	result r = call("GET", "/api/v1/things/x", NULL, NULL, NULL, "X-Request-Id: abc-123.X_y");
	char v[80];
	assert_true(tds_http_response_header(&r.r, "X-Request-Id", v, sizeof v));
	assert_string_equal(v, "abc-123.X_y");
	done(&r);
	static const char *const BAD[] = {
		"X-Request-Id: bad id!", "X-Request-Id: a/b",
		"X-Request-Id: 12345678901234567890123456789012345678901234567890123456789012345",
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(BAD); i++) {
		r = call("GET", "/api/v1/nothing", NULL, NULL, NULL, BAD[i]);
		assert_true(tds_http_response_header(&r.r, "X-Request-Id", v, sizeof v));
		assert_true(tds_id_valid(v, "req"));
		assert_string_equal(json_string_value(json_object_get(r.json, "request_id")), v);
		done(&r);
	}
	/* the client forwards the calling thread's request id (a handler calling another node) */
	tds_log_set_request_id("fwd-42");
	r = call("GET", "/api/v1/things/x", NULL, NULL, NULL, NULL);
	tds_log_set_request_id(NULL);
	assert_true(tds_http_response_header(&r.r, "X-Request-Id", v, sizeof v));
	assert_string_equal(v, "fwd-42");
	done(&r);
	/* 64 characters are still fine */
	r = call("GET", "/api/v1/things/x", NULL, NULL, NULL,
		 "X-Request-Id: 1234567890123456789012345678901234567890123456789012345678901234");
	assert_true(tds_http_response_header(&r.r, "X-Request-Id", v, sizeof v));
	assert_int_equal(strlen(v), 64);
	done(&r);
}

static uint64_t counter_value(const char *text, const char *series)
{
	const char *p = strstr(text, series);
	if (!p)
		return 0;
	return strtoull(p + strlen(series), NULL, 10);
}

static void test_health_and_metrics(void **state)
{
	result r = call("GET", "/healthz", NULL, NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "status")), "ok");
	assert_string_equal(json_string_value(json_object_get(r.json, "server")), "api");
	int64_t ms;
	assert_int_equal(tds_time_parse(json_string_value(json_object_get(r.json, "time")), &ms), 0);
	done(&r);
	health_fail = 1;
	tds_log_set_level(TDS_LOG_ERROR);
	r = call("GET", "/healthz", NULL, NULL, NULL, NULL);
	tds_log_set_level(TDS_LOG_WARN);
	assert_int_equal(r.status, 503);
	assert_string_equal(json_string_value(json_object_get(r.json, "status")), "unhealthy");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "error"), "code")),
			    "database_unavailable");
	done(&r);
	health_fail = 0;

	static const char SERIES[] =
		"tds_http_requests_total{server=\"api\",route=\"/api/v1/things/{id}\",method=\"GET\",code=\"200\"} ";
	static const char UNMATCHED[] =
		"tds_http_requests_total{server=\"api\",route=\"unmatched\",method=\"GET\",code=\"404\"} ";
	r = call("GET", "/metrics", NULL, NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_true(strncmp(r.r.content_type, "text/plain; version=0.0.4", 25) == 0);
	const char *text = r.r.body.data;
	assert_non_null(strstr(text, "# TYPE tds_http_requests_total counter"));
	assert_non_null(strstr(text, "# HELP tds_http_requests_total "));
	assert_non_null(strstr(text, "# TYPE tds_http_request_duration_seconds histogram"));
	assert_non_null(strstr(text, "tds_http_request_duration_seconds_bucket{server=\"api\",le=\"0.005\"} "));
	assert_non_null(strstr(text, "tds_http_request_duration_seconds_bucket{server=\"api\",le=\"+Inf\"} "));
	assert_non_null(strstr(text, "tds_http_request_duration_seconds_sum{server=\"api\"} "));
	assert_non_null(strstr(text, "tds_http_request_duration_seconds_count{server=\"api\"} "));
	assert_non_null(strstr(text, "tds_http_requests_in_flight{server=\"api\"} 1"));
	assert_non_null(strstr(text, "# TYPE tds_process_start_time_seconds gauge"));
	const char *st = strstr(text, "\ntds_process_start_time_seconds ");
	assert_non_null(st);
	double start = strtod(st + 32, NULL);
	assert_true(start > 1.6e9 && start <= (double)tds_now_ms() / 1000.0 + 1);
	uint64_t before = counter_value(text, SERIES), before404 = counter_value(text, UNMATCHED);
	uint64_t count_before = counter_value(text, "tds_http_request_duration_seconds_count{server=\"api\"} ");
	done(&r);

	for (int i = 0; i < 3; i++) {
		r = call("GET", "/api/v1/things/m", NULL, NULL, NULL, NULL);
		done(&r);
	}
	r = call("GET", "/nope", NULL, NULL, NULL, NULL);
	done(&r);

	tds_buf out = TDS_BUF_INIT;
	assert_int_equal(tds_server_metrics(F.server, &out), 0);
	assert_int_equal(counter_value(out.data, SERIES), before + 3);
	assert_int_equal(counter_value(out.data, UNMATCHED), before404 + 1);
	/* the /metrics call itself finished after it was rendered: + 1 */
	assert_int_equal(counter_value(out.data, "tds_http_request_duration_seconds_count{server=\"api\"} "),
			 count_before + 5);
	assert_non_null(strstr(out.data, "tds_http_requests_in_flight{server=\"api\"} 0"));
	tds_buf_free(&out);
}

typedef struct worker {
	int ok, failed;
	char base[64];
	int id;
} worker;

static void *hammer(void *arg)
{
	worker *w = arg;
	tds_http_client *c = tds_http_client_new(w->base, 10000);
	if (!c) {
		w->failed = 200;
		return NULL;
	}
	for (int i = 0; i < 200; i++) {
		char path[64], want[32];
		snprintf(want, sizeof want, "t%d-%d", w->id, i);
		snprintf(path, sizeof path, "/api/v1/things/%s", want);
		long status;
		json_t *out;
		int rc = tds_http_client_json(c, "GET", path, NULL, &status, &out);
		if (rc == 0 && status == 200 && strcmp(tds_json_str(out, "id", ""), want) == 0)
			w->ok++;
		else
			w->failed++;
		json_decref(out);
	}
	tds_http_client_free(c);
	return NULL;
}

static void test_concurrent(void **state)
{
	enum { N = 4 };
	pthread_t t[N];
	worker w[N];
	for (int i = 0; i < N; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].id = i;
		snprintf(w[i].base, sizeof w[i].base, "%s", F.base);
		assert_int_equal(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failed, 0);
		assert_int_equal(w[i].ok, 200);
	}
}

typedef struct slow_call {
	char base[64];
	long status;
} slow_call;

static void *slow_request(void *arg)
{
	slow_call *sc = arg;
	tds_http_client *c = tds_http_client_new(sc->base, 10000);
	tds_http_response r;
	if (c && tds_http_client_do(c, "GET", "/api/v1/slow", NULL, NULL, 0, &r) == 0) {
		sc->status = r.status;
		tds_http_response_free(&r);
	}
	tds_http_client_free(c);
	return NULL;
}

static void test_stop_idle_and_draining(void **state)
{
	/* idle: start and stop at once */
	tds_router *r = make_router();
	tds_server *s;
	tds_server_opts o = {.name = "data", .threads = 2};
	assert_int_equal(tds_server_start(r, &o, &s), 0);
	tds_server_stop(s);
	tds_server_stop(NULL);
	/* the router keeps /healthz and /metrics; a second server on it starts fine */
	size_t routes = tds_router_count(r);
	assert_int_equal(tds_server_start(r, &o, &s), 0);
	assert_int_equal(tds_router_count(r), routes);

	/* draining: a request in flight when stop begins still gets its answer */
	slow_call sc = {.status = 0};
	snprintf(sc.base, sizeof sc.base, "http://127.0.0.1:%u", tds_server_port(s));
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, slow_request, &sc), 0);
	struct timespec ts = {0, 100 * 1000 * 1000};
	nanosleep(&ts, NULL);
	tds_server_stop(s);
	pthread_join(t, NULL);
	assert_int_equal(sc.status, 200);
	tds_router_free(r);

	/* a bad bind address and a port in use are refused */
	r = make_router();
	tds_server_opts bad = {.bind = "not-an-address"};
	assert_int_equal(tds_server_start(r, &bad, &s), TDS_EINVAL);
	tds_server_opts taken = {.port = tds_server_port(F.server)};
	tds_log_set_level(TDS_LOG_OFF); /* libmicrohttpd says why at warn level */
	assert_int_equal(tds_server_start(r, &taken, &s), TDS_EIO);
	tds_log_set_level(TDS_LOG_WARN);
	assert_null(s);
	tds_router_free(r);
}

/* ---- router and decoders without a server ---- */

static int h_dummy(tds_req *req, tds_resp *resp) { return 0; }

static void test_router_rules(void **state)
{
	tds_router *r = tds_router_new();
	assert_int_equal(tds_router_add(r, "GET", "/a/{id}", TDS_ROLES_PUBLIC, h_dummy, NULL, "x"), 0);
	assert_int_equal(tds_router_add(r, "GET", "/a/{other}", TDS_ROLES_PUBLIC, h_dummy, NULL, "x"), TDS_ECONFLICT);
	assert_int_equal(tds_router_add(r, "GET", "/a/{id}", TDS_ROLES_PUBLIC, h_dummy, NULL, "x"), TDS_ECONFLICT);
	assert_int_equal(tds_router_add(r, "POST", "/a/{id}", TDS_ROLE_ADMIN, h_dummy, NULL, "y"), 0);
	static const char *const BAD[] = {"", "a/b", "/a/{", "/a/{}", "/a/{1x}", "/a/{x}/{x}", "/a/b c", "/a/..",
					  "/a/x{y}", "/a//b"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(BAD); i++)
		assert_int_equal(tds_router_add(r, "GET", BAD[i], TDS_ROLES_PUBLIC, h_dummy, NULL, "x"), TDS_EINVAL);
	assert_int_equal(tds_router_add(r, "get", "/b", TDS_ROLES_PUBLIC, h_dummy, NULL, "x"), TDS_EINVAL);
	assert_int_equal(tds_router_add(r, "GET", "/b", TDS_ROLES_PUBLIC, NULL, NULL, "x"), TDS_EINVAL);
	assert_int_equal(tds_router_add(r, "GET", "/", TDS_ROLES_PUBLIC, h_dummy, NULL, NULL), 0);
	assert_int_equal(tds_router_count(r), 3);
	const tds_route_info *ri = tds_router_get(r, 1);
	assert_string_equal(ri->method, "POST");
	assert_string_equal(ri->pattern, "/a/{id}");
	assert_int_equal(ri->roles, TDS_ROLE_ADMIN);
	assert_string_equal(ri->summary, "y");
	assert_null(tds_router_get(r, 3));

	tds_arena *a = tds_arena_new(0);
	http_path p;
	const http_route *rt;
	tds_buf allow = TDS_BUF_INIT;
	assert_int_equal(http_path_split(a, "/", 1, &p), 0);
	assert_int_equal(p.nseg, 0);
	assert_int_equal(http_router_match(r, "GET", &p, &rt, NULL), HTTP_MATCH_OK);
	assert_int_equal(http_path_split(a, "/a/b", 4, &p), 0);
	assert_int_equal(http_router_match(r, "DELETE", &p, &rt, &allow), HTTP_MATCH_METHOD);
	assert_string_equal(allow.data, "GET, POST");
	assert_int_equal(http_router_match(r, "POST", &p, &rt, &allow), HTTP_MATCH_OK);
	assert_int_equal(rt->info.roles, TDS_ROLE_ADMIN);
	assert_int_equal(http_path_split(a, "/a/b/c", 6, &p), 0);
	assert_int_equal(http_router_match(r, "GET", &p, &rt, &allow), HTTP_MATCH_NONE);
	tds_buf_free(&allow);
	tds_arena_free(a);
	tds_router_free(r);
}

static void test_decoders(void **state)
{
	tds_arena *a = tds_arena_new(0);
	http_path p;
	assert_int_equal(http_path_split(a, "/x/a%2Fb/%41", 12, &p), 0);
	assert_int_equal(p.nseg, 3);
	assert_string_equal(p.seg[1], "a/b");
	assert_string_equal(p.seg[2], "A");
	assert_int_equal(http_path_split(a, "/x/%00", 6, &p), 0);
	assert_int_equal(p.seg_len[1], 1);
	assert_int_equal(http_path_split(a, "x", 1, &p), TDS_EINVAL);
	assert_int_equal(http_path_split(a, "/%4", 3, &p), TDS_EINVAL);
	assert_int_equal(http_path_split(a, "/%", 2, &p), TDS_EINVAL);
	char many[200] = "";
	for (int i = 0; i < 40; i++)
		strcat(many, "/s");
	assert_int_equal(http_path_split(a, many, strlen(many), &p), 0);
	assert_int_equal(p.nseg, HTTP_MAX_SEGS + 1);

	assert_true(http_param_ok("abc", 3));
	assert_true(http_param_ok("...", 3));
	assert_false(http_param_ok("", 0));
	assert_false(http_param_ok(".", 1));
	assert_false(http_param_ok("..", 2));
	assert_false(http_param_ok("a\0b", 3));
	assert_false(http_param_ok("a\\b", 3));
	assert_false(http_param_ok("a\x1b", 2));
	assert_false(http_param_ok("\xc3", 1));

	http_kv *kv;
	size_t n;
	assert_int_equal(http_query_parse(a, "a=1&&b&c=x+y%2B", 15, &kv, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(kv[1].key, "b");
	assert_string_equal(kv[1].value, "");
	assert_string_equal(kv[2].value, "x y+");
	assert_int_equal(http_query_parse(a, "a=%00", 5, &kv, &n), TDS_EINVAL);
	assert_int_equal(http_query_parse(a, "a=%ff", 5, &kv, &n), TDS_EINVAL);
	assert_int_equal(http_query_parse(a, "", 0, &kv, &n), 0);
	assert_int_equal(n, 0);
	tds_buf q = TDS_BUF_INIT;
	for (int i = 0; i < 65; i++)
		tds_buf_printf(&q, "k%d=v&", i);
	assert_int_equal(http_query_parse(a, q.data, q.len, &kv, &n), TDS_EINVAL);
	tds_buf_free(&q);

	static const struct {
		const char *ct;
		bool ok;
	} CT[] = {
		{NULL, true}, {"", true}, {"application/json", true}, {"Application/JSON", true},
		{"application/json; charset=utf-8", true}, {"application/json;charset=\"UTF-8\"", true},
		{"application/json ; charset=utf-8", true}, {"application/json; foo=bar", true},
		{"application/json;", true}, {"application/jsonx", false}, {"text/json", false},
		{"application/json; charset=latin1", false}, {"application/json; charset", false},
		{"application/json; charset=\"utf-8", false}, {"multipart/form-data", false},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(CT); i++)
		if (http_content_type_json(CT[i].ct) != CT[i].ok)
			fail_msg("content type '%s' should be %s", CT[i].ct ? CT[i].ct : "(null)",
				 CT[i].ok ? "accepted" : "refused");

	assert_true(http_request_id_ok("a"));
	assert_false(http_request_id_ok(""));
	assert_false(http_request_id_ok(NULL));
	assert_false(http_request_id_ok("a b"));

	int lim;
	const char *cur;
	assert_int_equal(http_parse_limit(NULL, 7, 10, &lim), 0);
	assert_int_equal(lim, 7);
	assert_int_equal(http_parse_limit("010", 7, 10, &lim), 0);
	assert_int_equal(lim, 10);
	assert_int_equal(http_parse_limit("11", 7, 10, &lim), TDS_EINVAL);
	assert_int_equal(http_check_cursor("", &cur), 0);
	assert_null(cur);
	assert_int_equal(http_check_cursor("x\x7f", &cur), TDS_EINVAL);

	json_t *v;
	assert_int_equal(tds_http_decode_json_body("application/json", "{\"name\":\"n\"}", 12, THING_FIELDS, 2, false, &v), 0);
	json_decref(v);
	assert_int_equal(tds_http_decode_json_body("application/json", "{\"x\":1}", 7, NULL, 0, true, &v), 0);
	json_decref(v);
	assert_int_equal(tds_http_decode_json_body("text/plain", "{}", 2, NULL, 0, true, &v), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "unsupported_media_type");
	assert_int_equal(http_status_for(tds_error_code(), tds_error_name()), 415);
	assert_null(v);
	tds_arena_free(a);
}

static void test_roles(void **state)
{
	static const char *const NAMES[] = {"admin", "provider", "consumer", "developer", "service",
					    "auth_operator", "operator", "regulator", "auditor", "node"};
	for (unsigned i = 0; i < TDS_ROLES_ALL_NAMES; i++) {
		assert_string_equal(tds_role_name(1u << i), NAMES[i]);
		tds_roles b;
		assert_int_equal(tds_role_parse(NAMES[i], &b), 0);
		assert_int_equal(b, 1u << i);
	}
	assert_null(tds_role_name(1u << 10));
	assert_null(tds_role_name(3));
	tds_roles b;
	assert_int_equal(tds_role_parse("root", &b), TDS_EINVAL);
	assert_int_equal(tds_role_parse(NULL, &b), TDS_EINVAL);

	json_t *j = tds_roles_to_json(TDS_ROLE_ADMIN | TDS_ROLE_AUDITOR);
	char *s = json_dumps(j, JSON_COMPACT);
	assert_string_equal(s, "[\"admin\",\"auditor\"]");
	free(s);
	assert_int_equal(tds_roles_from_json(j, &b), 0);
	assert_int_equal(b, TDS_ROLE_ADMIN | TDS_ROLE_AUDITOR);
	json_decref(j);
	j = tds_roles_to_json(TDS_ROLES_ANY_USER);
	assert_int_equal(json_array_size(j), TDS_ROLES_ALL_NAMES);
	json_decref(j);
	j = json_pack("[s,i]", "admin", 1);
	assert_int_equal(tds_roles_from_json(j, &b), TDS_EINVAL);
	json_decref(j);
	j = json_pack("[s]", "nobody");
	assert_int_equal(tds_roles_from_json(j, &b), TDS_EINVAL);
	json_decref(j);
	assert_int_equal(tds_roles_from_json(NULL, &b), TDS_EINVAL);
	j = json_array();
	assert_int_equal(tds_roles_from_json(j, &b), 0);
	assert_int_equal(b, 0);
	json_decref(j);
}

static void test_client_errors(void **state)
{
	assert_null(tds_http_client_new("ftp://x", 1000));
	assert_null(tds_http_client_new(NULL, 1000));
	/* a port nobody listens on */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	socklen_t sl = sizeof sa;
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	close(fd);
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%u/", ntohs(sa.sin_port));
	tds_http_client *c = tds_http_client_new(url, 2000);
	assert_non_null(c);
	tds_http_response r;
	assert_int_equal(tds_http_client_do(c, "GET", "/x", NULL, NULL, 0, &r), TDS_EIO);
	assert_null(r.body.data);
	tds_http_client_free(c);
}

int main(void)
{
	const struct CMUnitTest server_tests[] = {
		cmocka_unit_test(test_route_params),
		cmocka_unit_test(test_literal_precedence),
		cmocka_unit_test(test_not_found_vs_method),
		cmocka_unit_test(test_path_traversal),
		cmocka_unit_test(test_json_body),
		cmocka_unit_test(test_body_limit),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_handler_errors),
		cmocka_unit_test(test_page),
		cmocka_unit_test(test_request_id),
		cmocka_unit_test(test_health_and_metrics),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_stop_idle_and_draining),
	};
	const struct CMUnitTest unit_tests[] = {
		cmocka_unit_test(test_router_rules),
		cmocka_unit_test(test_decoders),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_client_errors),
	};
	int failed = cmocka_run_group_tests_name("http_server", server_tests, setup, teardown);
	failed += cmocka_run_group_tests_name("http_units", unit_tests, NULL, NULL);
	return failed ? 1 : 0;
}
