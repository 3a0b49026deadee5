/*
 * test_api_junk.c — every management route of a real operator node, called with junk: path
 * parameters that are traversals, NULs, broken escapes, huge or foreign ids; query strings with bad
 * limits, cursors and sizes; bodies that are not JSON, not objects, nest too deep, repeat keys, or
 * carry well-known member names with values of every wrong type; tokens missing or forged. Bad input
 * must always get a 4xx answer (never a 5xx), and the node must stay healthy. Deterministic (fixed
 * seed), so a failure names a reproducible request.
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
	char *env[] = {"TDS_LEDGER_CHECKPOINT_INTERVAL_S=0", "TDS_IDENTITY_SIGNUP_MAX_PER_IP=1000000", NULL};
	if (tn_start(node, env))
		return -1;
	admin = tn_login_admin(node);
	return admin ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(admin);
	int rc = tn_stop(node);
	tn_free(node);
	return rc == 0 ? 0 : -1;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t next(void)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}
#define PICK(a) ((a)[next() % TDS_ARRAY_LEN(a)])

static const char *IDS[] = {"acc_01JAAAAAAAAAAAAAAAAAAAAAAA", "..", "%2e%2e", "%2F", "%00", "%E2%82", "0", "-1",
			    "99999999999999999999", "crt_01JAAAAAAAAAAAAAAAAAAAAAAA", "src_01JAAAAAAAAAAAAAAAAAAAAAAA",
			    "res_01JAAAAAAAAAAAAAAAAAAAAAAA", "org_01JAAAAAAAAAAAAAAAAAAAAAAA", "admin", "provider",
			    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"};
static const char *QUERIES[] = {"", "?limit=0", "?limit=-1", "?limit=abc", "?limit=501", "?cursor=..", "?cursor=%00",
				"?from=-1&to=x", "?from=5&to=1", "?size=x", "?type=a%22b", "?from=yesterday", "?code=tds://x",
				"?limit=1&cursor=1"};
static const char *KEYS[] = {"name", "username", "password", "kind", "path", "content_base64", "reason", "roles",
			     "decision", "origin", "public_key_pem", "url", "checkpoint", "old_size", "proof", "uscc",
			     "legal_rep", "licence_hash", "type", "real_name", "id_number", "scope", "orgs", "role",
			     "justification", "expires_in_s", "code", "fields", "tags", "description", "source_id",
			     "copies_destroyed", "at", "client_id", "client_secret", "hw_fingerprint", "ips", "level"};
static const char *VALUES[] = {"null", "true", "false", "0", "-1", "9223372036854775807", "-9223372036854775808", "1.5",
			       "\"\"", "\"../../etc/passwd\"", "\"tds://space.local/res/000000011\"",
			       "\"2026-13-45T00:00:00Z\"", "[]", "[1,\"a\"]", "{}", "{\"a\":{\"b\":[]}}", "\"\\u0000\"",
			       "\"\\ud800\"", "\"provider\"", "[\"admin\"]"};
static const char *BODIES[] = {"", "{", "[]", "null", "{\"a\":1,\"a\":2}", "\xff\xfe", "{\"x\":[[[[[[[[[[[[[[[[[[[["
									   "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]"};

static void test_no_route_answers_5xx_to_junk(void **state)
{
	(void)state;
	json_t *routes = NULL;
	assert_int_equal(tn_json(node, "GET", "/api/v1/routes", admin, NULL, &routes), 200);
	size_t i, calls = 0;
	json_t *r;
	json_array_foreach(json_object_get(routes, "items"), i, r) {
		if (strcmp(tds_json_str(r, "listener", ""), "api") != 0)
			continue;
		const char *pattern = tds_json_str(r, "path", ""), *method = tds_json_str(r, "method", "GET");
		if (strcmp(pattern, "/api/v1/auth/logout") == 0)
			continue; /* would end the admin's session */
		for (int k = 0; k < 20; k++) {
			char path[1024];
			size_t o = 0;
			for (const char *p = pattern; *p && o < 700;) {
				if (*p == '{') {
					const char *id = PICK(IDS);
					o += (size_t)snprintf(path + o, sizeof path - o, "%s", id);
					p = strchr(p, '}') + 1;
				} else {
					path[o++] = *p++;
				}
			}
			path[o] = 0;
			if (next() % 3 == 0)
				snprintf(path + o, sizeof path - o, "%s", PICK(QUERIES));
			tds_buf body = TDS_BUF_INIT;
			bool with_body = strcmp(method, "GET") != 0;
			if (with_body && next() % 4 == 0) {
				tds_buf_puts(&body, PICK(BODIES));
			} else if (with_body) {
				tds_buf_putc(&body, '{');
				int members = (int)(next() % 6);
				for (int m = 0; m < members; m++)
					tds_buf_printf(&body, "%s\"%s\":%s", m ? "," : "", PICK(KEYS), PICK(VALUES));
				tds_buf_putc(&body, '}');
			}
			static const char *tokens[] = {NULL, "tds_s_forged", "garbage"};
			const char *tok = next() % 10 ? admin : PICK(tokens);
			json_t *out = NULL;
			long st = tn_call(node, 1, method, path, tok, with_body ? "application/json" : NULL,
					  with_body ? (body.data ? body.data : "") : NULL, body.len, &out);
			calls++;
			if (st < 0 || st >= 500)
				fail_msg("%s %s with body %.200s answered %ld: %.300s", method, path, body.data ? body.data : "",
					 st, tds_json_str(json_object_get(out, "error"), "message", ""));
			json_decref(out);
			tds_buf_free(&body);
		}
	}
	json_decref(routes);
	assert_true(calls > 500);
	json_t *out = NULL;
	assert_int_equal(tn_json(node, "GET", "/healthz", NULL, NULL, &out), 200);
	json_decref(out);
	assert_int_equal(tn_json(node, "GET", "/api/v1/auth/whoami", admin, NULL, &out), 200);
	json_decref(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_no_route_answers_5xx_to_junk)};
	return cmocka_run_group_tests(tests, setup, teardown);
}
