/*
 * test_base.c — unit tests of the base room: buffers and codecs, arena, JSON (strict parse,
 * canonical form, schema checks), ids, RFC 3339 time, configuration layers and errors.
 */
#include "base/base.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static void test_buf_and_codecs(void **state)
{
	(void)state;
	tds_buf b = TDS_BUF_INIT;
	assert_int_equal(tds_buf_printf(&b, "%s-%d", "abc", 42), 0);
	assert_string_equal(b.data, "abc-42");
	for (int i = 0; i < 1000; i++)
		assert_int_equal(tds_buf_putc(&b, 'x'), 0);
	assert_int_equal(b.len, 1006);
	tds_buf_reset(&b);
	assert_int_equal(tds_hex_encode("\x01\xab\xff", 3, &b), 0);
	assert_string_equal(b.data, "01abff");
	tds_buf_reset(&b);
	assert_int_equal(tds_hex_decode("01ABff", 6, &b), 0);
	assert_memory_equal(b.data, "\x01\xab\xff", 3);
	assert_int_equal(tds_hex_decode("0g", 2, &b), TDS_EINVAL);
	assert_int_equal(tds_hex_decode("abc", 3, &b), TDS_EINVAL);

	/* RFC 4648 §10 vectors */
	static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (size_t i = 0; i < 7; i++) {
		tds_buf_reset(&b);
		assert_int_equal(tds_b64_encode(plain[i], strlen(plain[i]), &b), 0);
		assert_string_equal(b.data ? b.data : "", enc[i]);
		tds_buf_reset(&b);
		assert_int_equal(tds_b64_decode(enc[i], strlen(enc[i]), &b), 0);
		assert_int_equal(b.len, strlen(plain[i]));
		if (b.len)
			assert_memory_equal(b.data, plain[i], b.len);
	}
	tds_buf_reset(&b);
	assert_int_equal(tds_b64url_encode("\xfb\xff", 2, &b), 0);
	assert_string_equal(b.data, "-_8");
	static const char *bad[] = {"Zg=", "Z===", "Zm9v!", "Zh==", "=Zm9", "Zm=v"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(bad); i++)
		assert_int_equal(tds_b64_decode(bad[i], strlen(bad[i]), &b), TDS_EINVAL);
	assert_int_equal(tds_b64url_decode("A", 1, &b), TDS_EINVAL);
	tds_buf_free(&b);
}

static void test_arena(void **state)
{
	(void)state;
	tds_arena *a = tds_arena_new(256);
	char *s = tds_arena_printf(a, "%s/%d", "x", 7);
	assert_string_equal(s, "x/7");
	void *big = tds_arena_alloc(a, 100000);
	memset(big, 1, 100000);
	for (int i = 0; i < 1000; i++) {
		uintptr_t p = (uintptr_t)tds_arena_alloc(a, (size_t)i % 37 + 1);
		assert_int_equal(p % 16, 0);
	}
	assert_string_equal(s, "x/7");
	assert_true(tds_arena_used(a) > 100000);
	tds_arena_free(a);
}

static char *canon_of(const char *text)
{
	json_t *v;
	if (tds_json_parse(text, strlen(text), &v))
		return NULL;
	tds_buf b = TDS_BUF_INIT;
	int rc = tds_json_canonical(v, &b);
	json_decref(v);
	if (rc) {
		tds_buf_free(&b);
		return NULL;
	}
	return tds_buf_steal(&b);
}

static void test_json_canonical(void **state)
{
	(void)state;
	char *c = canon_of("{ \"b\" : [1, 2, {\"z\":null, \"a\":true}], \"a\":\"x\\u000a\\\"\\/\" , \"\\u00e9\":-5}");
	assert_non_null(c);
	assert_string_equal(c, "{\"a\":\"x\\n\\\"/\",\"b\":[1,2,{\"a\":true,\"z\":null}],\"\xc3\xa9\":-5}");
	free(c);
	/* NFC: "e" + combining acute becomes U+00E9 */
	c = canon_of("[\"e\\u0301\", \"\\u0001\"]");
	assert_string_equal(c, "[\"\xc3\xa9\",\"\\u0001\"]");
	free(c);
	/* keys equal after NFC are a conflict */
	assert_null(canon_of("{\"e\\u0301\":1,\"\\u00e9\":2}"));
	/* reals are refused */
	assert_null(canon_of("{\"amount\":1.5}"));
	assert_string_equal(tds_error_name(), "non_integer_number");
	c = canon_of("9223372036854775807");
	assert_string_equal(c, "9223372036854775807");
	free(c);
	/* empty objects, nested too (found by fuzz_operator_statement: qsort saw a NULL array) */
	c = canon_of("{\"a\":{},\"b\":[{}]}");
	assert_string_equal(c, "{\"a\":{},\"b\":[{}]}");
	free(c);
}

static void test_json_parse_rejects(void **state)
{
	(void)state;
	static const char *bad[] = {
	    "", "{", "{\"a\":1,\"a\":2}", "{\"a\":1} x", "[1,]", "\"\xff\"", "{\"a\":\"\\u0000\"}", "nul",
	    "99999999999999999999999",
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(bad); i++) {
		json_t *v = NULL;
		assert_int_equal(tds_json_parse(bad[i], strlen(bad[i]), &v), TDS_EINVAL);
		assert_null(v);
		assert_string_equal(tds_error_name(), "invalid_json");
	}
	char deep[200];
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	json_t *v = NULL;
	assert_int_equal(tds_json_parse(deep, sizeof deep, &v), TDS_EINVAL);
	assert_non_null(strstr(tds_error_message(), "deeper"));
}

static void test_json_check(void **state)
{
	(void)state;
	static const tds_json_field f[] = {
	    {"name", TDS_JSON_STRING, true, 8},
	    {"age", TDS_JSON_INTEGER, false, 0},
	    {"roles", TDS_JSON_STRING_ARRAY, false, 3},
	};
	struct {
		const char *body;
		int rc;
		const char *name;
	} cases[] = {
	    {"{\"name\":\"li\"}", 0, NULL},
	    {"{\"name\":\"li\",\"age\":3,\"roles\":[\"a\"]}", 0, NULL},
	    {"{}", TDS_EINVAL, "missing_field"},
	    {"{\"name\":5}", TDS_EINVAL, "invalid_field"},
	    {"{\"name\":\"123456789\"}", TDS_EINVAL, "field_too_long"},
	    {"{\"name\":\"x\",\"roles\":[1]}", TDS_EINVAL, "invalid_field"},
	    {"{\"name\":\"x\",\"roles\":[\"a\",\"b\",\"c\",\"d\"]}", TDS_EINVAL, "field_too_long"},
	    {"{\"name\":\"x\",\"admin\":true}", TDS_EINVAL, "unknown_field"},
	    {"[1]", TDS_EINVAL, "invalid_body"},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(cases); i++) {
		json_t *v;
		assert_int_equal(tds_json_parse(cases[i].body, strlen(cases[i].body), &v), 0);
		int rc = tds_json_check(v, f, TDS_ARRAY_LEN(f), false);
		assert_int_equal(rc, cases[i].rc);
		if (cases[i].name)
			assert_string_equal(tds_error_name(), cases[i].name);
		json_decref(v);
	}
	json_t *o = json_pack("{s:s,s:I,s:b}", "a", "b", "n", (json_int_t)7, "t", 1);
	assert_string_equal(tds_json_str(o, "a", NULL), "b");
	assert_null(tds_json_str(o, "n", NULL));
	assert_int_equal(tds_json_int(o, "n", 0), 7);
	assert_int_equal(tds_json_int(o, "a", -1), -1);
	assert_true(tds_json_bool(o, "t", false));
	json_decref(o);
}

static void test_utf8(void **state)
{
	(void)state;
	assert_true(tds_utf8_valid("abc \xe6\x95\xb0\xe6\x8d\xae", 10));
	assert_false(tds_utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
	assert_false(tds_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
	assert_false(tds_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(tds_utf8_valid("\xe6\x95", 2));         /* truncated */
}

static void test_ids(void **state)
{
	(void)state;
	char a[TDS_ID_MAX], b[TDS_ID_MAX];
	int64_t before = tds_now_ms();
	assert_int_equal(tds_id_new("org", a), 0);
	assert_true(tds_id_valid(a, "org"));
	assert_false(tds_id_valid(a, "acc"));
	assert_int_equal(strlen(a), 4 + 26);
	int64_t t = tds_id_time_ms(a);
	assert_true(t >= before && t <= tds_now_ms());
	for (int i = 0; i < 10000; i++) {
		assert_int_equal(tds_id_new("org", b), 0);
		assert_true(strcmp(a, b) < 0); /* strictly increasing */
		strcpy(a, b);
	}
	static const char *bad[] = {"org_", "org_../../etc/passwd", "ORG_01J00000000000000000000000",
				    "org_01J0000000000000000000000U", "org_81J00000000000000000000000", "_01J00000000000000000000000",
				    "org_01J00000000000000000000000/", "toolongpfx_01J00000000000000000000000"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(bad); i++)
		assert_false(tds_id_valid(bad[i], NULL));
	assert_int_equal(tds_id_new("Bad", a), TDS_EINTERNAL);
}

static void test_time(void **state)
{
	(void)state;
	char s[TDS_TIME_MAX];
	int64_t ms;
	assert_int_equal(tds_time_format(0, s), 0);
	assert_string_equal(s, "1970-01-01T00:00:00.000Z");
	assert_int_equal(tds_time_format(1795449335123LL, s), 0);
	assert_string_equal(s, "2026-11-23T15:55:35.123Z");
	assert_int_equal(tds_time_format(-1, s), 0);
	assert_string_equal(s, "1969-12-31T23:59:59.999Z");
	assert_int_equal(tds_time_parse("2026-11-23T23:55:35.12+08:00", &ms), 0);
	assert_int_equal(ms, 1795449335120LL);
	assert_int_equal(tds_time_parse("2024-02-29T00:00:00Z", &ms), 0);
	static const char *bad[] = {"2023-02-29T00:00:00Z", "2026-11-23 15:55:35Z", "2026-11-23T15:55:35",
				    "2026-11-23T24:00:00Z", "2026-11-23T15:55:60Z", "2026-11-23T15:55:35.Z",
				    "2026-11-23T15:55:35Z ", "2026-1-23T15:55:35Z", "2026-11-23T15:55:35+8:00", ""};
	for (size_t i = 0; i < TDS_ARRAY_LEN(bad); i++)
		assert_int_equal(tds_time_parse(bad[i], &ms), TDS_EINVAL);
	/* round trip over a range of times */
	for (int64_t t = -5000000000000LL; t < 5000000000000LL; t += 123456789013LL) {
		assert_int_equal(tds_time_format(t, s), 0);
		assert_int_equal(tds_time_parse(s, &ms), 0);
		assert_int_equal(ms, t);
	}
}

static const tds_conf_key schema[] = {
    {"node.name", TDS_CONF_STRING, "node", 0, 0, "display name"},
    {"node.api_port", TDS_CONF_INT, "0", 0, 65535, "management port"},
    {"log.level", TDS_CONF_STRING, "info", 0, 0, NULL},
    {"http.access_log", TDS_CONF_BOOL, "true", 0, 0, NULL},
};

static void test_config_layers(void **state)
{
	(void)state;
	tds_config *c = tds_config_new(schema, TDS_ARRAY_LEN(schema));
	assert_string_equal(tds_config_get(c, "node.name"), "node");
	const char *ini = "; comment\n[node]\nname = 税务局\napi_port = 8080\n[http]\naccess_log = off\n";
	assert_int_equal(tds_config_load_string(c, ini, strlen(ini)), 0);
	assert_string_equal(tds_config_get(c, "node.name"), "税务局");
	assert_int_equal(tds_config_int(c, "node.api_port"), 8080);
	assert_false(tds_config_bool(c, "http.access_log"));
	char *env[] = {"TDS_NODE_API_PORT=9090", "TDS_BIN_DIR=/x", "PATH=/bin", NULL};
	assert_int_equal(tds_config_load_env(c, env), 0);
	assert_int_equal(tds_config_int(c, "node.api_port"), 9090);
	assert_int_equal(tds_config_set(c, "node.api_port", "7070"), 0);
	assert_int_equal(tds_config_int(c, "node.api_port"), 7070);
	char *badenv[] = {"TDS_NODE_API_PORT=abc", NULL};
	assert_int_equal(tds_config_load_env(c, badenv), TDS_EINVAL);
	assert_non_null(strstr(tds_error_message(), "TDS_NODE_API_PORT"));

	tds_buf out = TDS_BUF_INIT;
	assert_int_equal(tds_config_write(c, &out), 0);
	tds_config *d = tds_config_new(schema, TDS_ARRAY_LEN(schema));
	assert_int_equal(tds_config_load_string(d, out.data, out.len), 0);
	assert_int_equal(tds_config_int(d, "node.api_port"), 7070);
	assert_string_equal(tds_config_get(d, "node.name"), "税务局");
	tds_config_free(d);
	tds_buf_free(&out);
	tds_config_free(c);
}

static void test_config_errors(void **state)
{
	(void)state;
	struct {
		const char *text, *needle;
	} cases[] = {
	    {"[node]\nnmae = x\n", "line 2"},
	    {"[node]\napi_port = 70000\n", "between"},
	    {"[node]\napi_port = 80x\n", "integer"},
	    {"name = x\n", "[section]"},
	    {"[node]\njust a line\n", "line 2"},
	    {"[http]\naccess_log = maybe\n", "true or false"},
	    {"[node]\nname=;x\n", "comment"},
	    {"[node]\nname = a\n  continued\n", "twice"},
	    {"[node]\nname = a\n[node]\nname = b\n", "twice"},
	    {"[node]\nname = xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", "longer than"},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(cases); i++) {
		tds_config *c = tds_config_new(schema, TDS_ARRAY_LEN(schema));
		assert_int_equal(tds_config_load_string(c, cases[i].text, strlen(cases[i].text)), TDS_EINVAL);
		if (!strstr(tds_error_message(), cases[i].needle))
			fail_msg("case %zu: '%s' lacks '%s'", i, tds_error_message(), cases[i].needle);
		tds_config_free(c);
	}
	tds_config *c = tds_config_new(schema, TDS_ARRAY_LEN(schema));
	assert_int_equal(tds_config_load_string(c, "a\0b", 3), TDS_EINVAL);
	assert_int_equal(tds_config_set(c, "node.name", " padded"), TDS_EINVAL);
	assert_int_equal(tds_config_set(c, "node.name", "a ;b"), TDS_EINVAL);
	assert_int_equal(tds_config_set(c, "node.name", "a;b c"), 0);
	assert_int_equal(tds_config_load_file(c, "/nonexistent/tds.conf"), TDS_ENOTFOUND);
	tds_config_free(c);
}

static void test_errors_and_files(void **state)
{
	(void)state;
	assert_int_equal(tds_error_set(TDS_EPERM, NULL, "no %s", "way"), TDS_EPERM);
	assert_string_equal(tds_error_name(), "forbidden");
	tds_error_wrap("ctx: ");
	assert_string_equal(tds_error_message(), "ctx: no way");
	assert_int_equal(tds_error_http_status(TDS_ECONFLICT), 409);
	assert_int_equal(tds_error_http_status(TDS_EINTERNAL), 500);
	tds_error_clear();
	assert_int_equal(tds_error_code(), 0);

	char dir[] = "/tmp/tds-base-XXXXXX", path[256];
	assert_non_null(mkdtemp(dir));
	tds_path_join(path, sizeof path, dir, "f");
	assert_int_equal(tds_file_write_atomic(path, "secret", 6, 0600), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	tds_buf b = TDS_BUF_INIT;
	assert_int_equal(tds_file_read(path, 100, &b), 0);
	assert_string_equal(b.data, "secret");
	tds_buf_reset(&b);
	assert_int_equal(tds_file_read(path, 3, &b), TDS_ETOOBIG);
	tds_buf_free(&b);
	unlink(path);
	rmdir(dir);
}

static void test_ratelimit(void **state)
{
	(void)state;
	tds_ratelimit *rl = tds_ratelimit_new(64, 1000, 3);
	int64_t retry = 0;
	for (int i = 0; i < 3; i++)
		assert_true(tds_ratelimit_take(rl, "10.0.0.1", 5000 + i, &retry));
	assert_false(tds_ratelimit_take(rl, "10.0.0.1", 5100, &retry));
	assert_int_equal(retry, 900);
	assert_false(tds_ratelimit_take(rl, "10.0.0.1", 5999, NULL)); /* the last millisecond of the window */
	assert_true(tds_ratelimit_take(rl, "10.0.0.1", 6000, NULL));  /* a new window */
	/* other keys are counted on their own (64 slots, 20 keys: some may share, never more than 3) */
	int allowed = 0;
	for (int k = 0; k < 20; k++) {
		char key[16];
		snprintf(key, sizeof key, "10.0.1.%d", k);
		for (int i = 0; i < 5; i++)
			allowed += tds_ratelimit_take(rl, key, 7000, NULL);
	}
	assert_true(allowed <= 60 && allowed >= 3);
	tds_ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buf_and_codecs), cmocka_unit_test(test_arena),
	    cmocka_unit_test(test_json_canonical), cmocka_unit_test(test_json_parse_rejects),
	    cmocka_unit_test(test_json_check),     cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_ids),            cmocka_unit_test(test_time),
	    cmocka_unit_test(test_config_layers),  cmocka_unit_test(test_config_errors),
	    cmocka_unit_test(test_errors_and_files), cmocka_unit_test(test_ratelimit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
