/*
 * test_rescode.c — resource codes (数据资源标识): the ISO 7064 MOD 37,36 check character against
 * hand-checked values, formatting and parsing under a base, every single-character corruption of
 * a code refused, every adjacent transposition in the serial refused, and bad bases refused.
 */
#include "catalog/catalog.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static const char *BASE = "tds://space.local";

static void test_check_char(void **state)
{
	(void)state;
	/* ISO 7064 MOD 37,36 (hybrid, M = 36) worked by hand: "0": P=36, S=36, P=72 mod 37=35,
	 * check = (37-35) mod 36 = 2 */
	assert_int_equal(tds_rescode_check_char("0", 1), '2');
	/* the defining property: running the check character through the same recursion leaves 1 */
	const char *bodies[] = {"00000001", "00000427", "99999999", "A1B2C3", "ZZZZ"};
	for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
		char c = tds_rescode_check_char(bodies[i], strlen(bodies[i]));
		assert_true((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'));
		int p = 36;
		char full[16];
		snprintf(full, sizeof full, "%s%c", bodies[i], c);
		for (size_t k = 0; full[k]; k++) {
			int a = full[k] <= '9' ? full[k] - '0' : full[k] - 'A' + 10;
			int s = (p + a) % 36;
			p = ((s ? s : 36) * 2) % 37;
			if (!full[k + 1])
				assert_int_equal(s, 1);
		}
	}
	assert_int_equal(tds_rescode_check_char("00a", 3), 0);
	assert_int_equal(tds_rescode_check_char("0-0", 3), 0);
}

static void test_format_parse(void **state)
{
	(void)state;
	char code[TDS_RESCODE_MAX];
	uint64_t serial;
	assert_int_equal(tds_rescode_format(BASE, 427, code, sizeof code), 0);
	assert_int_equal(strncmp(code, "tds://space.local/res/00000427", 30), 0);
	assert_int_equal(strlen(code), 31);
	assert_int_equal(tds_rescode_parse(BASE, code, &serial), 0);
	assert_int_equal(serial, 427);
	assert_int_equal(tds_rescode_format(BASE, TDS_RESCODE_SERIAL_MAX, code, sizeof code), 0);
	assert_int_equal(tds_rescode_parse(BASE, code, &serial), 0);
	assert_int_equal(serial, TDS_RESCODE_SERIAL_MAX);
	assert_int_equal(tds_rescode_format(BASE, 0, code, sizeof code), TDS_EINVAL);
	assert_int_equal(tds_rescode_format(BASE, TDS_RESCODE_SERIAL_MAX + 1, code, sizeof code), TDS_EINVAL);
	char small[20];
	assert_int_equal(tds_rescode_format(BASE, 1, small, sizeof small), TDS_EINVAL);
	/* another space's code, truncated and extended codes, the zero serial */
	assert_int_equal(tds_rescode_format(BASE, 1, code, sizeof code), 0);
	assert_int_equal(tds_rescode_parse("tds://other.space", code, NULL), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "invalid_code");
	char longer[TDS_RESCODE_MAX + 2];
	snprintf(longer, sizeof longer, "%sX", code);
	assert_int_equal(tds_rescode_parse(BASE, longer, NULL), TDS_EINVAL);
	code[strlen(code) - 1] = 0;
	assert_int_equal(tds_rescode_parse(BASE, code, NULL), TDS_EINVAL);
	char zero[64];
	snprintf(zero, sizeof zero, "%s/res/00000000%c", BASE, tds_rescode_check_char("00000000", 8));
	assert_int_equal(tds_rescode_parse(BASE, zero, NULL), TDS_EINVAL);
	assert_int_equal(tds_rescode_parse(BASE, "", NULL), TDS_EINVAL);
	assert_int_equal(tds_rescode_parse(BASE, NULL, NULL), TDS_EINVAL);
}

/* Every single-character change of every position to every other printable ASCII character. */
static void test_every_corruption_detected(void **state)
{
	(void)state;
	const uint64_t serials[] = {1, 42, 427, 1000000, 31415926, TDS_RESCODE_SERIAL_MAX};
	for (size_t s = 0; s < sizeof serials / sizeof *serials; s++) {
		char code[TDS_RESCODE_MAX], bad[TDS_RESCODE_MAX];
		assert_int_equal(tds_rescode_format(BASE, serials[s], code, sizeof code), 0);
		size_t n = strlen(code);
		for (size_t i = 0; i < n; i++)
			for (int ch = 0x20; ch < 0x7f; ch++) {
				if (ch == code[i])
					continue;
				memcpy(bad, code, n + 1);
				bad[i] = (char)ch;
				if (tds_rescode_parse(BASE, bad, NULL) == 0)
					fail_msg("corruption %s accepted (position %zu)", bad, i);
			}
		/* adjacent transpositions in the serial and check character */
		size_t first = strlen(BASE) + 5;
		for (size_t i = first; i + 1 < n; i++) {
			if (code[i] == code[i + 1])
				continue;
			memcpy(bad, code, n + 1);
			bad[i] = code[i + 1];
			bad[i + 1] = code[i];
			if (tds_rescode_parse(BASE, bad, NULL) == 0)
				fail_msg("transposition %s accepted", bad);
		}
	}
}

static void test_bases(void **state)
{
	(void)state;
	assert_int_equal(tds_rescode_base_check(TDS_RESCODE_DEFAULT_BASE), 0);
	assert_int_equal(tds_rescode_base_check("https://tds.example.cn/space"), 0);
	const char *bad[] = {NULL, "", "space.local", "tds://space.local/", "://space", "tds://spa ce.local",
			     "tds://space.local?x", "tds://空间.local"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(tds_rescode_base_check(bad[i]), TDS_EINVAL);
		assert_string_equal(tds_error_name(), "invalid_code_base");
	}
	char code[TDS_RESCODE_MAX];
	assert_int_equal(tds_rescode_format("tds://space.local/", 1, code, sizeof code), TDS_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_char),
	    cmocka_unit_test(test_format_parse),
	    cmocka_unit_test(test_every_corruption_detected),
	    cmocka_unit_test(test_bases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
