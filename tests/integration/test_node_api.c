/*
 * test_node_api.c — a real operator `tdsd` on ephemeral ports: health and metrics on both
 * listeners, node info, login, roles (401/403), accounts, API keys, logout, every kind of bad input
 * answered with a clear 4xx in the DESIGN §5 shape and changing nothing, the OpenAPI document in
 * step with the registered routes, graceful shutdown and restart with state kept.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static tn_node *node;
static char *admin;

static int setup(void **state)
{
	(void)state;
	node = tn_init("operator", "gm");
	if (tn_start(node, NULL))
		return -1;
	admin = tn_login_admin(node);
	return admin ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(admin);
	int st = tn_stop(node);
	tn_free(node);
	return st == 0 ? 0 : -1;
}

static void expect_error(json_t *body, const char *code)
{
	json_t *err = json_object_get(body, "error");
	assert_non_null(err);
	if (strcmp(tds_json_str(err, "code", ""), code) != 0)
		fail_msg("expected error code %s, got %s (%s)", code, tds_json_str(err, "code", "?"),
			 tds_json_str(err, "message", "?"));
	assert_true(strlen(tds_json_str(err, "message", "")) > 5);
	assert_non_null(tds_json_str(body, "request_id", NULL));
}

static int account_count(void)
{
	json_t *out;
	assert_int_equal(tn_json(node, "GET", "/api/v1/accounts?limit=500", admin, NULL, &out), 200);
	int n = (int)json_array_size(json_object_get(out, "items"));
	json_decref(out);
	return n;
}

static void test_health_metrics_info(void **state)
{
	(void)state;
	json_t *out;
	for (int api = 0; api <= 1; api++) {
		assert_int_equal(tn_call(node, api, "GET", "/healthz", NULL, NULL, NULL, 0, &out), 200);
		assert_string_equal(tds_json_str(out, "status", ""), "ok");
		json_decref(out);
	}
	assert_int_equal(tn_json(node, "GET", "/api/v1/node", NULL, NULL, &out), 200);
	assert_string_equal(tds_json_str(out, "role", ""), "operator");
	assert_string_equal(tds_json_str(out, "suite", ""), "gm");
	assert_string_equal(tds_json_str(out, "sig_alg", ""), "sm2-sm3");
	assert_string_equal(tds_json_str(out, "node_id", ""), tds_json_str(node->init, "node_id", "x"));
	assert_non_null(strstr(tds_json_str(out, "public_key_pem", ""), "BEGIN PUBLIC KEY"));
	json_decref(out);
	assert_int_equal(tn_call(node, 0, "GET", "/data/v1/node", NULL, NULL, NULL, 0, &out), 200);
	json_decref(out);

	/* metrics are Prometheus text and count the requests above */
	tds_http_client *c = tds_http_client_new(node->api, 10000);
	tds_http_response r = {0};
	assert_int_equal(tds_http_client_do(c, "GET", "/metrics", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.content_type, "text/plain"));
	assert_non_null(strstr(r.body.data, "# TYPE tds_http_requests_total counter"));
	assert_non_null(strstr(r.body.data, "route=\"/api/v1/node\""));
	assert_non_null(strstr(r.body.data, "tds_http_request_duration_seconds_bucket"));
	tds_buf_free(&r.body);
	tds_http_client_free(c);
}

static void test_login_and_roles(void **state)
{
	(void)state;
	json_t *out;
	assert_int_equal(tn_json(node, "POST", "/api/v1/auth/login", NULL,
				 "{\"username\":\"admin\",\"password\":\"wrong-password-123\"}", &out), 401);
	expect_error(out, "invalid_credentials");
	json_decref(out);
	assert_int_equal(tn_json(node, "POST", "/api/v1/auth/login", NULL,
				 "{\"username\":\"nobody\",\"password\":\"wrong-password-123\"}", &out), 401);
	expect_error(out, "invalid_credentials");
	json_decref(out);

	/* no token, forged token, malformed header */
	assert_int_equal(tn_json(node, "GET", "/api/v1/auth/whoami", NULL, NULL, &out), 401);
	expect_error(out, "unauthenticated");
	json_decref(out);
	assert_int_equal(tn_json(node, "GET", "/api/v1/auth/whoami", "tds_s_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, &out), 401);
	json_decref(out);
	assert_int_equal(tn_json(node, "GET", "/api/v1/auth/whoami", "not-a-token", NULL, &out), 401);
	json_decref(out);

	assert_int_equal(tn_json(node, "GET", "/api/v1/auth/whoami", admin, NULL, &out), 200);
	assert_string_equal(tds_json_str(out, "username", ""), "admin");
	json_t *roles = json_object_get(out, "roles");
	assert_string_equal(json_string_value(json_array_get(roles, 0)), "admin");
	json_decref(out);

	/* an ordinary consumer account */
	assert_int_equal(tn_json(node, "POST", "/api/v1/accounts", admin,
				 "{\"username\":\"bank-ops\",\"password\":\"correct horse battery\",\"roles\":[\"consumer\"]}", &out),
			 201);
	char acc[64];
	snprintf(acc, sizeof acc, "%s", tds_json_str(out, "id", ""));
	assert_true(tds_id_valid(acc, "acc"));
	json_decref(out);
	assert_int_equal(tn_json(node, "POST", "/api/v1/accounts", admin,
				 "{\"username\":\"bank-ops\",\"password\":\"correct horse battery\"}", &out), 409);
	expect_error(out, "username_taken");
	json_decref(out);
	assert_int_equal(tn_json(node, "POST", "/api/v1/auth/login", NULL,
				 "{\"username\":\"bank-ops\",\"password\":\"correct horse battery\"}", &out), 200);
	char *tok = strdup(tds_json_str(out, "token", ""));
	json_decref(out);

	assert_int_equal(tn_json(node, "GET", "/api/v1/accounts", tok, NULL, &out), 403);
	expect_error(out, "forbidden");
	json_decref(out);
	assert_int_equal(tn_json(node, "POST", "/api/v1/accounts", tok,
				 "{\"username\":\"evil\",\"password\":\"correct horse battery\",\"roles\":[\"admin\"]}", &out), 403);
	json_decref(out);
	char path[128];
	snprintf(path, sizeof path, "/api/v1/accounts/%s", acc);
	assert_int_equal(tn_json(node, "GET", path, tok, NULL, &out), 200); /* own account */
	json_decref(out);
	json_t *me;
	assert_int_equal(tn_json(node, "GET", "/api/v1/auth/whoami", admin, NULL, &me), 200);
	snprintf(path, sizeof path, "/api/v1/accounts/%s", tds_json_str(me, "account_id", ""));
	json_decref(me);
	assert_int_equal(tn_json(node, "GET", path, tok, NULL, &out), 403); /* someone else's */
	json_decref(out);

	/* API keys: role escalation refused; a key works until revoked */
	assert_int_equal(tn_json(node, "POST", "/api/v1/api-keys", tok, "{\"name\":\"ci\",\"roles\":[\"admin\"]}", &out), 403);
	expect_error(out, "role_escalation");
	json_decref(out);
	assert_int_equal(tn_json(node, "POST", "/api/v1/api-keys", tok, "{\"name\":\"ci\",\"expires_in_s\":3600}", &out), 201);
	char *key = strdup(tds_json_str(out, "key", ""));
	char key_id[64];
	snprintf(key_id, sizeof key_id, "%s", tds_json_str(out, "id", ""));
	assert_true(strncmp(key, "tds_k_", 6) == 0);
	json_decref(out);
	assert_int_equal(tn_json(node, "GET", "/api/v1/auth/whoami", key, NULL, &out), 200);
	assert_true(json_is_true(json_object_get(out, "via_api_key")));
	json_decref(out);
	/* a key restricted to fewer roles than its account cannot mint a broader key */
	json_t *narrow;
	assert_int_equal(tn_json(node, "POST", "/api/v1/api-keys", admin, "{\"name\":\"narrow\",\"roles\":[\"operator\"]}", &narrow), 201);
	assert_int_equal(tn_json(node, "POST", "/api/v1/api-keys", tds_json_str(narrow, "key", ""),
				 "{\"name\":\"wider\",\"roles\":[\"admin\"]}", &out), 403);
	json_decref(out);
	json_decref(narrow);
	assert_int_equal(tn_json(node, "GET", "/api/v1/api-keys", tok, NULL, &out), 200);
	assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
	assert_null(json_object_get(json_array_get(json_object_get(out, "items"), 0), "key")); /* never shown again */
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/api-keys/%s", key_id);
	assert_int_equal(tn_json(node, "DELETE", path, tok, NULL, &out), 200);
	json_decref(out);
	assert_int_equal(tn_json(node, "DELETE", path, tok, NULL, &out), 404);
	json_decref(out);
	assert_int_equal(tn_json(node, "GET", "/api/v1/auth/whoami", key, NULL, &out), 401);
	json_decref(out);

	/* disabling the account ends its session */
	snprintf(path, sizeof path, "/api/v1/accounts/%s/disable", acc);
	assert_int_equal(tn_json(node, "POST", path, admin, "{}", &out), 200);
	assert_true(json_is_true(json_object_get(out, "disabled")));
	json_decref(out);
	assert_int_equal(tn_json(node, "GET", "/api/v1/auth/whoami", tok, NULL, &out), 401);
	json_decref(out);
	free(key);
	free(tok);
}

static void test_bad_input(void **state)
{
	(void)state;
	int before = account_count();
	struct {
		const char *method, *path, *ctype, *body;
		long status;
		const char *code;
	} cases[] = {
	    {"POST", "/api/v1/accounts", "application/json", "{\"username\":", 400, "invalid_json"},
	    {"POST", "/api/v1/accounts", "application/json", "", 400, "invalid_json"},
	    {"POST", "/api/v1/accounts", "application/json", "[1,2]", 400, NULL},
	    {"POST", "/api/v1/accounts", "application/json", "{\"username\":5,\"password\":\"correct horse battery\"}", 400, "invalid_field"},
	    {"POST", "/api/v1/accounts", "application/json", "{\"username\":\"u1x\",\"password\":\"correct horse battery\",\"is_admin\":true}", 400, "unknown_field"},
	    {"POST", "/api/v1/accounts", "application/json", "{\"username\":\"u2x\",\"password\":\"correct horse battery\",\"roles\":[\"emperor\"]}", 400, "invalid_role"},
	    {"POST", "/api/v1/accounts", "application/json", "{\"username\":\"u3x\",\"password\":\"short\"}", 400, "weak_password"},
	    {"POST", "/api/v1/accounts", "application/json", "{\"username\":\"../etc\",\"password\":\"correct horse battery\"}", 400, "invalid_username"},
	    {"POST", "/api/v1/accounts", "application/json", "{\"username\":\"u4\xff\",\"password\":\"correct horse battery\"}", 400, "invalid_json"},
	    {"POST", "/api/v1/accounts", "application/json", "{\"username\":\"u5x\",\"username\":\"u6x\",\"password\":\"correct horse battery\"}", 400, "invalid_json"},
	    {"POST", "/api/v1/accounts", "text/plain", "{\"username\":\"u7x\",\"password\":\"correct horse battery\"}", 415, "unsupported_media_type"},
	    {"GET", "/api/v1/accounts/..%2F..%2Fetc%2Fpasswd", NULL, NULL, 400, NULL},
	    {"GET", "/api/v1/accounts/acc_%00", NULL, NULL, 400, NULL},
	    {"GET", "/api/v1/accounts/not-an-id", NULL, NULL, 400, "invalid_id"},
	    {"GET", "/api/v1/accounts/acc_01JAAAAAAAAAAAAAAAAAAAAAAA", NULL, NULL, 404, "account_not_found"},
	    {"GET", "/api/v1/accounts?limit=0", NULL, NULL, 400, NULL},
	    {"GET", "/api/v1/accounts?limit=10abc", NULL, NULL, 400, NULL},
	    {"GET", "/api/v1/accounts?cursor=..%2F", NULL, NULL, 400, NULL},
	    {"GET", "/api/v1/nowhere", NULL, NULL, 404, "not_found"},
	    {"DELETE", "/api/v1/accounts", NULL, NULL, 405, "method_not_allowed"},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(cases); i++) {
		json_t *out = NULL;
		long st = tn_call(node, 1, cases[i].method, cases[i].path, admin, cases[i].ctype, cases[i].body,
				  cases[i].body ? strlen(cases[i].body) : 0, &out);
		if (st != cases[i].status)
			fail_msg("case %zu %s %s: status %ld, expected %ld", i, cases[i].method, cases[i].path, st,
				 cases[i].status);
		if (cases[i].code)
			expect_error(out, cases[i].code);
		else
			assert_non_null(json_object_get(out, "error"));
		json_decref(out);
	}
	/* an oversized body gets 413 without being read */
	size_t big = 2 * 1024 * 1024;
	char *body = malloc(big);
	memset(body, ' ', big);
	body[0] = '{';
	body[big - 1] = '}';
	json_t *out = NULL;
	long st = tn_call(node, 1, "POST", "/api/v1/accounts", admin, "application/json", body, big, &out);
	assert_int_equal(st, 413);
	json_decref(out);
	free(body);
	assert_int_equal(account_count(), before); /* nothing changed */
}

/* docs/openapi.yaml lists exactly the routes the node registers. The document is read line by line:
 * a path is a line "  /…:" and an operation a line "    get:" (and so on) under it. */
static void test_openapi_matches_routes(void **state)
{
	(void)state;
	char path[1024];
	snprintf(path, sizeof path, "%s/docs/openapi.yaml", getenv("TDS_SOURCE_DIR") ? getenv("TDS_SOURCE_DIR") : ".");
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	json_t *doc = json_object(); /* "METHOD path" -> true */
	char line[1024], cur[512] = "";
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (strncmp(line, "  /", 3) == 0 && line[strlen(line) - 1] == ':') {
			snprintf(cur, sizeof cur, "%.*s", (int)strlen(line) - 3, line + 2);
		} else if (cur[0] && strncmp(line, "    ", 4) == 0 && line[4] != ' ') {
			static const char *methods[] = {"get", "post", "put", "patch", "delete"};
			for (size_t i = 0; i < 5; i++) {
				size_t ml = strlen(methods[i]);
				if (strncmp(line + 4, methods[i], ml) == 0 && line[4 + ml] == ':') {
					char key[600], up[8];
					for (size_t k = 0; k <= ml; k++)
						up[k] = (char)(methods[i][k] >= 'a' ? methods[i][k] - 32 : methods[i][k]);
					snprintf(key, sizeof key, "%s %s", up, cur);
					json_object_set_new(doc, key, json_true());
				}
			}
		} else if (line[0] && line[0] != ' ' && line[0] != '#') {
			cur[0] = 0; /* left the paths: section */
		}
	}
	fclose(f);
	assert_true(json_object_size(doc) > 5);

	json_t *out;
	assert_int_equal(tn_json(node, "GET", "/api/v1/routes", admin, NULL, &out), 200);
	json_t *items = json_object_get(out, "items"), *r;
	size_t i;
	json_t *registered = json_object();
	json_array_foreach(items, i, r) {
		char key[600];
		snprintf(key, sizeof key, "%s %s", tds_json_str(r, "method", ""), tds_json_str(r, "path", ""));
		json_object_set_new(registered, key, json_true());
		if (!json_object_get(doc, key))
			fail_msg("route %s is registered but missing from docs/openapi.yaml", key);
	}
	const char *key;
	json_t *v;
	json_object_foreach(doc, key, v) {
		if (!json_object_get(registered, key))
			fail_msg("docs/openapi.yaml lists %s but no such route is registered", key);
	}
	json_decref(registered);
	json_decref(out);
	json_decref(doc);
}

static void test_idempotency_key(void **state)
{
	(void)state;
	const char *h1[] = {"Content-Type: application/json", "Idempotency-Key: create-key-7f3a", NULL};
	const char *body = "{\"name\":\"nightly\",\"expires_in_s\":600}";
	json_t *a, *b, *out;
	bool replayed = true;
	assert_int_equal(tn_call_h(node, 1, "POST", "/api/v1/api-keys", admin, h1, body, strlen(body), &a, &replayed), 201);
	assert_false(replayed);
	assert_int_equal(tn_call_h(node, 1, "POST", "/api/v1/api-keys", admin, h1, body, strlen(body), &b, &replayed), 201);
	assert_true(replayed);
	assert_string_equal(tds_json_str(a, "id", "a"), tds_json_str(b, "id", "b"));
	assert_string_equal(tds_json_str(a, "key", "a"), tds_json_str(b, "key", "b"));
	json_decref(a);
	json_decref(b);
	assert_int_equal(tn_json(node, "GET", "/api/v1/api-keys", admin, NULL, &out), 200);
	size_t n = 0, i;
	json_t *k;
	json_array_foreach(json_object_get(out, "items"), i, k) n += strcmp(tds_json_str(k, "name", ""), "nightly") == 0;
	assert_int_equal(n, 1); /* the retry created nothing */
	json_decref(out);
	const char *other = "{\"name\":\"other\"}";
	assert_int_equal(tn_call_h(node, 1, "POST", "/api/v1/api-keys", admin, h1, other, strlen(other), &out, NULL), 422);
	expect_error(out, "idempotency_key_reused");
	json_decref(out);
	const char *h2[] = {"Content-Type: application/json", "Idempotency-Key: has space", NULL};
	assert_int_equal(tn_call_h(node, 1, "POST", "/api/v1/api-keys", admin, h2, body, strlen(body), &out, NULL), 400);
	expect_error(out, "invalid_idempotency_key");
	json_decref(out);
	/* the key is scoped to the request's path, not its route pattern: the same key and body on another
	 * account's disable route must disable that account, not replay the first answer */
	json_t *a1, *a2;
	assert_int_equal(tn_json(node, "POST", "/api/v1/accounts", admin,
				 "{\"username\":\"idem-one\",\"password\":\"correct horse battery\"}", &a1), 201);
	assert_int_equal(tn_json(node, "POST", "/api/v1/accounts", admin,
				 "{\"username\":\"idem-two\",\"password\":\"correct horse battery\"}", &a2), 201);
	const char *h3[] = {"Content-Type: application/json", "Idempotency-Key: disable-batch-1", NULL};
	char p1[128], p2[128];
	snprintf(p1, sizeof p1, "/api/v1/accounts/%s/disable", tds_json_str(a1, "id", ""));
	snprintf(p2, sizeof p2, "/api/v1/accounts/%s/disable", tds_json_str(a2, "id", ""));
	assert_int_equal(tn_call_h(node, 1, "POST", p1, admin, h3, "{}", 2, &out, &replayed), 200);
	json_decref(out);
	assert_int_equal(tn_call_h(node, 1, "POST", p2, admin, h3, "{}", 2, &out, &replayed), 200);
	assert_false(replayed);
	assert_string_equal(tds_json_str(out, "id", ""), tds_json_str(a2, "id", "x"));
	assert_true(json_is_true(json_object_get(out, "disabled")));
	json_decref(out);
	json_decref(a1);
	json_decref(a2);

	/* the kept answer holds a secret shown once: it must not sit in clear in the database */
	char cmd[600], *dump = NULL;
	snprintf(cmd, sizeof cmd, "sqlite3 %s/tds.db \"SELECT hex(body) FROM idempotency_keys\"", node->dir);
	assert_int_equal(tn_run(cmd, &dump), 0);
	assert_true(strlen(dump) > 100);
	assert_null(strstr(dump, "74647" "35F6B5F")); /* hex of "tds_k_" */
	free(dump);
}

static void test_logout_restart(void **state)
{
	(void)state;
	char *tok = tn_login_admin(node);
	assert_non_null(tok);
	json_t *out;
	assert_int_equal(tn_json(node, "POST", "/api/v1/auth/logout", tok, "{}", &out), 200);
	json_decref(out);
	assert_int_equal(tn_json(node, "GET", "/api/v1/auth/whoami", tok, NULL, &out), 401);
	json_decref(out);
	free(tok);

	/* SIGTERM stops cleanly (exit 0); the restarted node keeps accounts and sessions */
	assert_int_equal(tn_stop(node), 0);
	char *every_second[] = {"TDS_LEDGER_CHECKPOINT_INTERVAL_S=1", NULL};
	assert_int_equal(tn_start(node, every_second), 0);
	/* the publisher thread issues checkpoints on its own, without any request asking */
	char cmd[600], *count = NULL;
	snprintf(cmd, sizeof cmd, "sleep 1.5; sqlite3 %s/tds.db 'SELECT COUNT(*) FROM ledger_checkpoints'", node->dir);
	assert_int_equal(tn_run(cmd, &count), 0);
	assert_true(atoi(count) >= 1);
	free(count);
	assert_int_equal(tn_json(node, "GET", "/api/v1/auth/whoami", admin, NULL, &out), 200);
	json_decref(out);
	assert_int_equal(tn_json(node, "GET", "/api/v1/accounts?limit=1", admin, NULL, &out), 200);
	assert_true(json_is_string(json_object_get(out, "next_cursor")));
	json_t *next;
	char path[128];
	snprintf(path, sizeof path, "/api/v1/accounts?limit=1&cursor=%s", tds_json_str(out, "next_cursor", ""));
	assert_int_equal(tn_json(node, "GET", path, admin, NULL, &next), 200);
	assert_string_not_equal(tds_json_str(json_array_get(json_object_get(next, "items"), 0), "id", ""),
				tds_json_str(json_array_get(json_object_get(out, "items"), 0), "id", ""));
	json_decref(next);
	json_decref(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_health_metrics_info),
	    cmocka_unit_test(test_login_and_roles),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_openapi_matches_routes),
	    cmocka_unit_test(test_idempotency_key),
	    cmocka_unit_test(test_logout_restart),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
