/*
 * test_anon.c — the anon module without a node: check characters against published valid numbers
 * and every single-character corruption; each detector with valid values and near misses
 * (wrong check characters, impossible birth dates, unknown regions, Luhn failures, mobile prefixes,
 * plates …); columns and tables classified from small fixtures (category, PI, SPI, identifiability,
 * level and grade, masks, escalation by volume); reviewer overrides; the JSON form both ways; the
 * rules loader refusing bad files with the path of the bad member; the CSV reader's edge cases
 * (BOM, CRLF, quoted newlines, unbalanced quotes, ragged rows, invalid UTF-8, long fields, chunk
 * boundaries); masking; and `tds scan` / `tds bench scan` end to end.
 */
#include "anon/anon.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

int tds_cli_scan(int argc, char **argv);
int tds_cli_bench_scan(int argc, char **argv);

/* cmd_scan.c reports usage errors through the CLI's helper, which lives in main_tds.c */
int tds_cli_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 2;
}

static tds_anon_rules *R;
#define NOW 1781496000000LL /* 2026-06-15 Beijing: fixed "today" */

static int setup(void **state)
{
	(void)state;
	char path[4096];
	if (tds_anon_rules_load_default(&R, path, sizeof path)) {
		fprintf(stderr, "rules %s: %s\n", path, tds_error_message());
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tds_anon_rules_free(R);
	return 0;
}

static bool det(const char *id, const char *col, const char *v)
{
	return tds_anon_detect(R, id, col, v, strlen(v), NOW);
}

#define YES(id, col, v)                                                                                                \
	do {                                                                                                           \
		if (!det(id, col, v))                                                                                  \
			fail_msg("%s should accept '%s' (column %s)", id, v, col ? col : "-");                         \
	} while (0)
#define NO(id, col, v)                                                                                                 \
	do {                                                                                                           \
		if (det(id, col, v))                                                                                   \
			fail_msg("%s should refuse '%s' (column %s)", id, v, col ? col : "-");                         \
	} while (0)

/* ------------------------------------------------------------------------------------------------
 * Check characters
 * ---------------------------------------------------------------------------------------------- */

static char id_check(const char *s17)
{
	static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
	int sum = 0;
	for (int i = 0; i < 17; i++)
		sum += (s17[i] - '0') * w[i];
	return "10X98765432"[sum % 11];
}

/* an 18-character ID from region + date (YYYYMMDD) + sequence, with its right check character */
static void make_id(char out[19], const char *region6, const char *ymd, const char *seq3)
{
	snprintf(out, 19, "%s%s%s", region6, ymd, seq3);
	out[17] = id_check(out);
	out[18] = 0;
}

static char luhn_digit(const char *s, size_t n)
{
	int sum = 0;
	for (size_t i = 0; i < n; i++) {
		int d = s[n - 1 - i] - '0';
		if (i % 2 == 0) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	return (char)('0' + (10 - sum % 10) % 10);
}

static char uscc_check(const char *s17)
{
	static const char A[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
	static const int w[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
	int sum = 0;
	for (int i = 0; i < 17; i++)
		sum += (int)(strchr(A, s17[i]) - A) * w[i];
	return A[(31 - sum % 31) % 31];
}

/* GB 11643-1999's own sample and valid numbers from open-source validators' tests */
static const char *const ID_VALID[] = {"11010519491231002X", "11010119900307299X", "371724201006052210",
				       "110101199003074477", "430102197606046442"};
/* published valid unified social credit codes */
static const char *const USCC_VALID[] = {"91350100M000100Y43", "91370100780603055K", "91310110666007217T",
					 "91350500676532779B", "91510100350611266D", "91330101589882738D",
					 "91510100MA6BKY6U36"};

static void test_check_characters(void **state)
{
	(void)state;
	assert_true(tds_anon_luhn_valid("4111111111111111", 16));
	assert_true(tds_anon_luhn_valid("79927398713", 11)); /* the classic example */
	assert_false(tds_anon_luhn_valid("79927398710", 11));
	assert_false(tds_anon_luhn_valid("4111-1111", 9));
	assert_false(tds_anon_luhn_valid("0", 1));
	for (size_t i = 0; i < TDS_ARRAY_LEN(ID_VALID); i++) {
		assert_true(tds_anon_gb11643_check(ID_VALID[i], 18));
		for (size_t pos = 0; pos < 18; pos++) /* every single-character substitution is caught */
			for (const char *c = "0123456789X"; *c; c++) {
				char b[19];
				memcpy(b, ID_VALID[i], 19);
				if (b[pos] == *c || (pos < 17 && *c == 'X'))
					continue;
				b[pos] = *c;
				if (tds_anon_gb11643_check(b, 18))
					fail_msg("corruption %s accepted", b);
			}
	}
	for (size_t i = 0; i < TDS_ARRAY_LEN(USCC_VALID); i++) {
		assert_true(tds_anon_gb32100_check(USCC_VALID[i], 18));
		for (size_t pos = 0; pos < 18; pos++)
			for (const char *c = "0123456789ABCDEFGHJKLMNPQRTUWXY"; *c; c++) {
				char b[19];
				memcpy(b, USCC_VALID[i], 19);
				if (b[pos] == *c)
					continue;
				b[pos] = *c;
				if (tds_anon_gb32100_check(b, 18))
					fail_msg("corruption %s accepted", b);
			}
	}
	assert_false(tds_anon_gb32100_check("91350100m000100Y43", 18)); /* lower case */
	assert_false(tds_anon_gb11643_check("1101051949123100", 16));
	assert_true(tds_anon_gb11643_check("11010519491231002x", 18)); /* lower-case x as written in data */
}

/* ------------------------------------------------------------------------------------------------
 * Detectors
 * ---------------------------------------------------------------------------------------------- */

static void test_resident_id(void **state)
{
	(void)state;
	for (size_t i = 0; i < TDS_ARRAY_LEN(ID_VALID); i++)
		YES("resident_id", NULL, ID_VALID[i]);
	YES("resident_id", NULL, "11010519491231002x");
	char id[19];
	make_id(id, "440305", "20000229", "123"); /* leap day */
	YES("resident_id", NULL, id);
	make_id(id, "650102", "20260615", "001"); /* born today */
	YES("resident_id", NULL, id);
	/* wrong check character */
	memcpy(id, "11010519491231002X", 19);
	id[17] = '3';
	NO("resident_id", NULL, id);
	/* impossible or out-of-range birth dates, with their own right check characters */
	const char *bad_dates[] = {"19901301", "19900230", "19000229", "20260616", "18991231", "19850431", "19900000"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(bad_dates); i++) {
		make_id(id, "110105", bad_dates[i], "123");
		NO("resident_id", NULL, id);
	}
	/* regions that are no province */
	const char *bad_regions[] = {"000000", "160101", "190101", "470101", "550101", "660101", "720101", "830101",
				     "990101"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(bad_regions); i++) {
		make_id(id, bad_regions[i], "19900307", "123");
		NO("resident_id", NULL, id);
	}
	/* first generation, 15 digits: region + YYMMDD of the 1900s */
	YES("resident_id", NULL, "110105491231002");
	NO("resident_id", NULL, "110105491331002"); /* month 13 */
	NO("resident_id", NULL, "990105491231002"); /* region */
	NO("resident_id", NULL, "1101054912310");
	NO("resident_id", NULL, "11010519491231002XX");
	NO("resident_id", NULL, "1101051949123100 X");
	NO("resident_id", NULL, "");
}

static void test_phones(void **state)
{
	(void)state;
	const char *mobiles[] = {"13812345678", "19912345678", "14512345678", "+8613812345678", "+86 13812345678",
				 "0086-13812345678", "8613812345678", "138-1234-5678", "138 1234 5678", "+86 138 1234 5678"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(mobiles); i++)
		YES("mobile", NULL, mobiles[i]);
	const char *not_mobiles[] = {"12812345678", "10012345678", "11012345678", "1381234567", "138123456789",
				     "138-12345678", "138 1234-5678", "+8713812345678", "23812345678", "1381234567a",
				     "138--1234-5678", "-13812345678"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(not_mobiles); i++)
		NO("mobile", NULL, not_mobiles[i]);
	const char *landlines[] = {"010-62345678", "(010)62345678", "(010) 62345678", "0755-2345678", "0755 23456789",
				   "01062345678", "075523456789", "021-52345678-123", "0571-87654321"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(landlines); i++)
		YES("landline", NULL, landlines[i]);
	const char *not_landlines[] = {"010-6234567", "000-62345678", "01-62345678", "010-01234567", "010-12345678",
				       "400-123-4567", "0755-234567", "62345678", "13812345678", "026-62345678",
				       "0155-2345678", "010-62345678-", "010-62345678-1234567", "(010-62345678"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(not_landlines); i++)
		NO("landline", NULL, not_landlines[i]);
}

static void test_bank_card(void **state)
{
	(void)state;
	char c[32];
	const char *bins[] = {"622202", "621700", "436742", "524047", "356833", "955880", "601382"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(bins); i++)
		for (size_t len = 16; len <= 19; len++) {
			snprintf(c, sizeof c, "%s%0*d", bins[i], (int)(len - 7), 1234567);
			c[len - 1] = luhn_digit(c, len - 1);
			c[len] = 0;
			YES("bank_card", NULL, c);
			c[len - 1] = (char)('0' + (c[len - 1] - '0' + 1) % 10); /* Luhn failure */
			NO("bank_card", NULL, c);
		}
	YES("bank_card", NULL, "4111 1111 1111 1111");
	YES("bank_card", NULL, "4111-1111-1111-1111");
	NO("bank_card", NULL, "4111 1111-1111 1111"); /* mixed separators */
	NO("bank_card", NULL, "411 1111 1111 11111");   /* not in fours */
	/* no issuer prefix of the rules, a valid Luhn digit */
	strcpy(c, "123456789012345");
	c[15] = luhn_digit(c, 15);
	c[16] = 0;
	NO("bank_card", NULL, c);
	/* 15 digits */
	strcpy(c, "62220212345678");
	c[14] = luhn_digit(c, 14);
	c[15] = 0;
	NO("bank_card", NULL, c);
}

static void test_uscc(void **state)
{
	(void)state;
	for (size_t i = 0; i < TDS_ARRAY_LEN(USCC_VALID); i++)
		YES("uscc", NULL, USCC_VALID[i]);
	char u[19];
	memcpy(u, "91350100M000100Y43", 19);
	u[17] = '4';
	NO("uscc", NULL, u); /* wrong check character */
	NO("uscc", NULL, "91350100m000100y43");
	NO("uscc", NULL, "91350100I000100Y43");
	NO("uscc", NULL, "91350100M000100Y4");
	/* authority 0 and region 99, each with a right check character */
	strcpy(u, "01350100M000100Y4");
	u[17] = uscc_check(u);
	u[18] = 0;
	NO("uscc", NULL, u);
	strcpy(u, "91990100M000100Y4");
	u[17] = uscc_check(u);
	u[18] = 0;
	NO("uscc", NULL, u);
	/* and the same code with a real region passes */
	strcpy(u, "91440300MA5XXXXX0");
	u[17] = uscc_check(u);
	u[18] = 0;
	YES("uscc", NULL, u);
}

static void test_net(void **state)
{
	(void)state;
	const char *emails[] = {"zhang.wei@example.com", "li_na+tag@mail.gov.cn", "a@b.co", "X@QQ.COM", "user-1@sub.example.org"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(emails); i++)
		YES("email", NULL, emails[i]);
	const char *not_emails[] = {"user@host", "a..b@qq.com", "@qq.com", "user@qq.c", ".a@qq.com", "a.@qq.com",
				    "a@-qq.com", "a@qq-.com", "a@q_q.com", "a b@qq.com", "z***@qq.com", "a@b@c.com", "a@qq.c0m"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(not_emails); i++)
		NO("email", NULL, not_emails[i]);
	YES("ipv4", NULL, "192.168.1.10");
	YES("ipv4", NULL, "0.0.0.0");
	YES("ipv4", NULL, "255.255.255.255");
	const char *not_v4[] = {"256.1.2.3", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.", ".1.2.3", "1..2.3", "1.2.3.a"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(not_v4); i++)
		NO("ipv4", NULL, not_v4[i]);
	const char *v6[] = {"::", "::1", "1::", "2001:db8::1", "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
			    "fe80::1:2", "::ffff:192.168.1.10", "1:2:3:4:5:6:7::", "1:2:3:4:5:6:1.2.3.4"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(v6); i++)
		YES("ipv6", NULL, v6[i]);
	const char *not_v6[] = {":::", "1::2::3", "12345::1", "g::1", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", ":1",
				"1:", "12:30:45", "00:1A:2B:3C:4D:5E", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(not_v6); i++)
		NO("ipv6", NULL, not_v6[i]);
}

static void test_plates_and_templates(void **state)
{
	(void)state;
	const char *plates[] = {"京A12345", "粤B·12345", "川A 1B2C3", "沪AD12345", "沪AFA1234", "粤B12345D", "京A1234学",
				"苏E8888警", "浙A-12345"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(plates); i++)
		YES("plate", NULL, plates[i]);
	const char *not_plates[] = {"甲A12345", "京I12345", "京A1234", "京A123456", "京A1234567", "京AO1234", "京A12345学",
				    "京AD1234A", "京a12345", "京12345", "A12345"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(not_plates); i++)
		NO("plate", NULL, not_plates[i]);
	YES("passport", NULL, "E12345678");
	YES("passport", NULL, "EA1234567");
	YES("passport", NULL, "G12345678");
	const char *not_passports[] = {"E1234567", "A12345678", "EI1234567", "EO1234567", "E123456789", "e12345678"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(not_passports); i++)
		NO("passport", NULL, not_passports[i]);
	/* ICD-10 codes need a diagnosis column */
	YES("icd10", "诊断", "E11.9");
	YES("icd10", "诊断编码", "I10");
	YES("icd10", "diagnosis_code", "J45.901");
	YES("icd10", "诊断", "I10.x00x002");
	NO("icd10", "诊断", "E1");
	NO("icd10", "诊断", "E1190");
	NO("icd10", "诊断", "11.9");
	NO("icd10", "诊断", "e11.9");
	NO("icd10", "备注", "E11.9");
	NO("icd10", NULL, "E11.9");
	YES("age_band", "年龄段", "20-29");
	YES("age_band", "age_group", "60岁以上");
	NO("age_band", "年龄", "20-29");
}

static void test_text(void **state)
{
	(void)state;
	const char *names[] = {"张三", "王小明", "欧阳娜娜", "司马相如", "令狐冲", "艾力·买买提", "阿卜杜拉·吐尔逊·买买提"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(names); i++)
		YES("person_name", "姓名", names[i]);
	const char *not_names[] = {"王", "王小明明明", "张3", "先生", "测试用户", "Zhang San", "·艾力", "艾力·", "艾力··买买提",
				   "禤小明" /* a surname the rules do not list */};
	for (size_t i = 0; i < TDS_ARRAY_LEN(not_names); i++)
		NO("person_name", "姓名", not_names[i]);
	const char *addresses[] = {"北京市海淀区中关村大街27号", "广东省深圳市南山区科技园路1号", "上海市浦东新区世纪大道100号",
				   "中山路12号5栋", "浙江省杭州市西湖区文三路90号东部软件园", "内蒙古自治区呼和浩特市新城区新华大街1号"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(addresses); i++)
		YES("address", "住址", addresses[i]);
	const char *not_addresses[] = {"北京市", "广东省深圳市", "华为技术有限公司", "海淀区", "中山路", "北京大学人民医院"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(not_addresses); i++)
		NO("address", "住址", not_addresses[i]);
	const char *medical[] = {"高血压", "2型糖尿病", "慢性支气管炎急性发作", "HIV阳性", "Type 2 diabetes", "疑似肺癌"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(medical); i++)
		YES("medical", NULL, medical[i]);
	const char *not_medical[] = {"正常", "未见异常", "archive", "体检合格", "Diabetesfree"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(not_medical); i++)
		NO("medical", NULL, not_medical[i]);
}

static void test_dates_and_amounts(void **state)
{
	(void)state;
	const char *dates[] = {"1990-03-07", "1990/3/7", "19900307", "1990年3月7日", "1990年03月07", "1990.03.07",
			       "1990-03-07 00:00:00", "1990-03-07T08:30", "2000-02-29", "2026-06-15"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(dates); i++)
		YES("birth_date", "出生日期", dates[i]);
	const char *not_dates[] = {"1990-02-30", "1990-13-01", "2026-06-16", "1899-12-31", "1990-3", "90-03-07",
				   "1990/03-07", "1900-02-29", "1990-03-07 25:00", "1990-03-07 12:60", "199003071"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(not_dates); i++)
		NO("birth_date", "出生日期", not_dates[i]);
	NO("birth_date", "登记日期", "1990-03-07"); /* needs its context */
	NO("birth_date", NULL, "1990-03-07");
	const char *amounts[] = {"1234.56", "1,234.56", "¥1234", "￥1,234,567.00", "-12.50", "3.5万元", "1200元",
				 "RMB 1,000.00", "0", "0.5", "CNY-5"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(amounts); i++)
		YES("amount", "金额", amounts[i]);
	const char *not_amounts[] = {"12.345", "1,23,456.00", "12.3.4", "0012.50", "12,34", "$-", "abc", "1.2e5",
				     "12 345", "1,234,56", ".5", "5."};
	for (size_t i = 0; i < TDS_ARRAY_LEN(not_amounts); i++)
		NO("amount", "金额", not_amounts[i]);
	NO("amount", "备注", "1234.56");
	YES("aggregate", "人数", "1,204");
	YES("aggregate", "占比", "12.5%");
	YES("masked", NULL, "110105********002X");
	YES("masked", NULL, "138****5678");
	YES("masked", NULL, "张*");
	NO("masked", NULL, "****");
	YES("pseudonym", "user_id", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
	YES("pseudonym", "用户标识", "123e4567-e89b-12d3-a456-426614174000");
	NO("pseudonym", "user_id", "9F86d081884c7d659a2feaa0c55ad015"); /* mixed case */
	NO("pseudonym", "file_hash", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
	assert_false(det("no_such_detector", NULL, "x"));
}

/* ------------------------------------------------------------------------------------------------
 * Columns and tables
 * ---------------------------------------------------------------------------------------------- */

static tds_anon_table *column(const char *name, const char *const *values, size_t n)
{
	tds_anon_table *t;
	tds_anon_scan_opts o = {.now_ms = NOW};
	assert_int_equal(tds_anon_scan_column(R, name, values, NULL, n, &o, &t), 0);
	return t;
}

static void test_columns(void **state)
{
	(void)state;
	const char *mob[] = {"13812345678", "13912345678", "+86 150 1234 5678", "", "NULL", "18612345678"};
	tds_anon_table *t = column("手机号", mob, TDS_ARRAY_LEN(mob));
	const tds_anon_column *c = tds_anon_table_column(t, 0);
	assert_string_equal(c->detector, "mobile");
	assert_int_equal(c->values, 4);
	assert_int_equal(c->empty, 2);
	assert_int_equal(c->verdict.category, TDS_ANON_CAT_PERSONAL);
	assert_true(c->verdict.pi);
	assert_false(c->verdict.spi);
	assert_int_equal(c->verdict.identifiability, TDS_ANON_ID_IDENTIFIED);
	assert_int_equal(c->verdict.level, 2);
	assert_int_equal(c->grade, TDS_ANON_GRADE_GENERAL);
	assert_int_equal(c->mask.method, TDS_ANON_MASK_KEEP);
	assert_int_equal(c->mask.first, 3);
	assert_int_equal(c->mask.last, 4);
	assert_true(c->confidence > 0.9);
	assert_true(c->nreasons >= 1);
	assert_non_null(strstr(c->reasons[0], "4 of 4 values"));
	tds_anon_table_free(t);

	const char *ids[] = {"11010519491231002X", "110101199003074477", "430102197606046442", "not an id"};
	t = column("证件号码", ids, TDS_ARRAY_LEN(ids));
	c = tds_anon_table_column(t, 0);
	assert_string_equal(c->detector, "resident_id");
	assert_true(c->verdict.spi);
	assert_int_equal(c->verdict.level, 3);
	assert_non_null(strstr(c->spi_basis, "PIPL art. 28"));
	assert_int_equal(c->mask.first, 6);
	assert_int_equal(c->mask.last, 4);
	tds_anon_table_free(t);

	/* without context a detector needs 80% of the values, with it 50% */
	const char *half[] = {"13812345678", "13912345678", "x", "y"};
	t = column("备注", half, 4);
	assert_null(tds_anon_table_column(t, 0)->detector);
	assert_int_equal(tds_anon_table_column(t, 0)->verdict.category, TDS_ANON_CAT_OTHER);
	assert_int_equal(tds_anon_table_column(t, 0)->verdict.level, 1);
	assert_non_null(strstr(tds_anon_table_column(t, 0)->reasons[0], "closest is mobile"));
	tds_anon_table_free(t);
	t = column("联系电话", half, 4);
	assert_string_equal(tds_anon_table_column(t, 0)->detector, "mobile");
	tds_anon_table_free(t);

	t = column("统一社会信用代码", USCC_VALID, TDS_ARRAY_LEN(USCC_VALID));
	c = tds_anon_table_column(t, 0);
	assert_string_equal(c->detector, "uscc");
	assert_int_equal(c->verdict.category, TDS_ANON_CAT_ENTERPRISE);
	assert_false(c->verdict.pi);
	assert_int_equal(c->verdict.identifiability, TDS_ANON_ID_NOT_PERSONAL);
	tds_anon_table_free(t);

	/* a salary column: amounts (no PI) and the column's name (personal financial information) */
	const char *pay[] = {"8,500.00", "12000", "¥9,800.50"};
	t = column("月工资", pay, 3);
	c = tds_anon_table_column(t, 0);
	assert_string_equal(c->detector, "personal_finance");
	assert_int_equal(c->verdict.category, TDS_ANON_CAT_PERSONAL);
	assert_true(c->verdict.spi);
	assert_int_equal(c->verdict.level, 3);
	bool amount_fired = false;
	for (size_t i = 0; i < c->nhits; i++)
		amount_fired |= strcmp(c->hits[i].detector, "amount") == 0 && c->hits[i].fired;
	assert_true(amount_fired);
	tds_anon_table_free(t);

	/* a mixed column: emails and addresses fire together */
	const char *mix[] = {"a@qq.com", "b@163.com", "192.168.0.1", "10.0.0.2", "2001:db8::1", "x"};
	t = column("网络标识", mix, TDS_ARRAY_LEN(mix));
	c = tds_anon_table_column(t, 0);
	assert_string_equal(c->detector, "email");
	assert_non_null(strstr(c->reasons[0], "fired together"));
	tds_anon_table_free(t);

	/* public affairs by name */
	const char *pen[] = {"京市监罚〔2026〕12号", "京市监罚〔2026〕13号"};
	t = column("行政处罚决定书文号", pen, 2);
	c = tds_anon_table_column(t, 0);
	assert_int_equal(c->verdict.category, TDS_ANON_CAT_PUBLIC_AFFAIRS);
	assert_false(c->verdict.pi);
	tds_anon_table_free(t);

	/* dates of birth of minors make the column sensitive */
	const char *kids[] = {"2016-05-01", "1980-01-01", "1975-12-31"};
	t = column("出生日期", kids, 3);
	c = tds_anon_table_column(t, 0);
	assert_string_equal(c->detector, "birth_date");
	assert_true(c->verdict.spi);
	assert_int_equal(c->verdict.level, 3);
	assert_non_null(strstr(c->spi_basis, "minors"));
	tds_anon_table_free(t);
	const char *adults[] = {"1990-05-01", "1980-01-01"};
	t = column("出生日期", adults, 2);
	assert_false(tds_anon_table_column(t, 0)->verdict.spi);
	assert_int_equal(tds_anon_table_column(t, 0)->mask.method, TDS_ANON_MASK_YEAR);
	tds_anon_table_free(t);

	/* empty column */
	const char *none[] = {"", " ", "NULL", "不详"};
	t = column("姓名", none, 4);
	c = tds_anon_table_column(t, 0);
	assert_int_equal(c->values, 0);
	assert_int_equal(c->empty, 4);
	assert_null(c->detector);
	assert_non_null(strstr(c->reasons[0], "no values"));
	tds_anon_table_free(t);
}

/* a small patient table fed row by row */
static tds_anon_table *patients(uint64_t rows_total)
{
	const char *names[] = {"姓名", "身份证号", "诊断", "就诊金额", "科室"};
	const char *rows[][5] = {
	    {"张三", "11010519491231002X", "高血压", "120.50", "心内科"},
	    {"李四", "110101199003074477", "2型糖尿病", "88.00", "内分泌科"},
	    {"王五", "430102197606046442", "E11.9", "1,020.00", "内分泌科"},
	    {"赵六", "371724201006052210", "肺炎", "300", "儿科"},
	};
	tds_anon_scan *s;
	tds_anon_scan_opts o = {.now_ms = NOW, .rows_total = rows_total};
	assert_int_equal(tds_anon_scan_new(R, names, 5, &o, &s), 0);
	for (size_t i = 0; i < 4; i++) {
		tds_anon_field f[5];
		for (size_t k = 0; k < 5; k++)
			f[k] = (tds_anon_field){rows[i][k], strlen(rows[i][k])};
		tds_anon_scan_row(s, f, 5);
	}
	assert_int_equal(tds_anon_scan_value(s, 99, "x", 1), 0); /* out of range: ignored */
	tds_anon_table *t;
	assert_int_equal(tds_anon_scan_finish(s, &t), 0);
	tds_anon_scan_free(s);
	return t;
}

static void test_table(void **state)
{
	(void)state;
	tds_anon_table *t = patients(0);
	const tds_anon_summary *s = tds_anon_table_summary(t);
	assert_int_equal(tds_anon_table_ncolumns(t), 5);
	assert_int_equal(s->rows_scanned, 4);
	assert_int_equal(s->rows_total, 4);
	assert_true(s->pi);
	assert_true(s->spi);
	assert_int_equal(s->level, 3);
	assert_int_equal(s->grade, TDS_ANON_GRADE_GENERAL);
	assert_int_equal(s->identifiability, TDS_ANON_ID_IDENTIFIED);
	assert_int_equal(s->columns_spi, 2);
	const tds_anon_column *d = tds_anon_table_find(t, "诊断");
	assert_string_equal(d->detector, "medical");
	assert_int_equal(d->verdict.identifiability, TDS_ANON_ID_IDENTIFIED); /* follows the ID column */
	bool follows = false;
	for (size_t i = 0; i < d->nreasons; i++)
		follows |= strstr(d->reasons[i], "follows the table") != NULL;
	assert_true(follows);
	assert_string_equal(tds_anon_table_find(t, "就诊金额")->detector, "amount");
	assert_false(tds_anon_table_find(t, "就诊金额")->verdict.pi);
	assert_null(tds_anon_table_find(t, "科室")->detector);
	assert_null(tds_anon_table_find(t, "no such"));
	assert_null(tds_anon_table_column(t, 5));
	tds_anon_table_free(t);

	/* the same table at 2,000,000 rows: SPI columns escalate to L4, important data */
	t = patients(2000000);
	s = tds_anon_table_summary(t);
	assert_int_equal(s->level, 4);
	assert_int_equal(s->grade, TDS_ANON_GRADE_IMPORTANT);
	assert_int_equal(tds_anon_table_find(t, "身份证号")->verdict.level, 4);
	assert_int_equal(tds_anon_table_find(t, "姓名")->verdict.level, 2); /* PI, not SPI */
	tds_anon_table_free(t);

	/* diagnoses alone: no identifier in the table */
	const char *dx[] = {"高血压", "肺炎"};
	t = column("诊断", dx, 2);
	assert_int_equal(tds_anon_table_column(t, 0)->verdict.identifiability, TDS_ANON_ID_UNLINKED);
	tds_anon_table_free(t);
}

static void test_json_and_overrides(void **state)
{
	(void)state;
	tds_anon_table *t = patients(0);
	json_t *j = tds_anon_table_json(t);
	assert_string_equal(json_string_value(json_object_get(j, "format")), "tds.anon.scan/1");
	json_t *cols = json_object_get(j, "columns");
	assert_int_equal(json_array_size(cols), 5);
	json_t *c1 = json_array_get(cols, 1);
	assert_string_equal(json_string_value(json_object_get(c1, "grade_zh")), "一般");
	assert_string_equal(json_string_value(json_object_get(c1, "level")), "L3");
	assert_true(json_is_null(json_object_get(c1, "override")));

	/* the JSON reads back to the same JSON */
	tds_anon_table *t2;
	assert_int_equal(tds_anon_table_from_json(R, j, &t2), 0);
	json_t *j2 = tds_anon_table_json(t2);
	char *a = json_dumps(j, JSON_SORT_KEYS), *b = json_dumps(j2, JSON_SORT_KEYS);
	assert_string_equal(a, b);
	free(a);
	free(b);
	json_decref(j2);

	/* overrides: the reviewer says the department column is health information */
	tds_anon_verdict v = {TDS_ANON_CAT_PERSONAL, true, true, TDS_ANON_ID_IDENTIFIED, 3};
	assert_int_equal(tds_anon_override(t2, "科室", &v, "", NULL), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "invalid_anon_override");
	assert_int_equal(tds_anon_override(t2, "no such", &v, "why", NULL), TDS_ENOTFOUND);
	assert_string_equal(tds_error_name(), "anon_unknown_column");
	tds_anon_verdict bad = {TDS_ANON_CAT_PERSONAL, false, true, TDS_ANON_ID_IDENTIFIED, 3};
	assert_int_equal(tds_anon_override(t2, "科室", &bad, "why", NULL), TDS_EINVAL);
	bad = (tds_anon_verdict){TDS_ANON_CAT_PERSONAL, true, false, TDS_ANON_ID_IDENTIFIED, 5};
	assert_int_equal(tds_anon_override(t2, "科室", &bad, "why", NULL), TDS_EINVAL);
	bad = (tds_anon_verdict){TDS_ANON_CAT_OTHER, false, false, TDS_ANON_ID_PSEUDONYMIZED, 1};
	assert_int_equal(tds_anon_override(t2, "科室", &bad, "why", NULL), TDS_EINVAL);
	assert_int_equal(tds_anon_override(t2, "科室", &v, "科室名称可推断病情 department reveals the condition", "reviewer-1"), 0);
	const tds_anon_column *k = tds_anon_table_find(t2, "科室");
	assert_true(k->overridden);
	assert_true(k->verdict.spi);
	assert_false(k->detected.spi);
	assert_string_equal(k->override_by, "reviewer-1");
	assert_int_equal(tds_anon_table_summary(t2)->columns_overridden, 1);
	assert_int_equal(tds_anon_table_summary(t2)->columns_spi, 3);

	/* JSON overrides: partial, strict */
	json_t *o = json_pack("{s:s, s:s, s:s}", "column", "姓名", "reason", "public figure list", "level", "L1");
	assert_int_equal(tds_anon_override_json(t2, o), 0);
	json_decref(o);
	assert_int_equal(tds_anon_table_find(t2, "姓名")->verdict.level, 1);
	assert_true(tds_anon_table_find(t2, "姓名")->verdict.pi); /* kept from the detected verdict */
	o = json_pack("{s:s, s:s, s:s}", "column", "姓名", "reason", "x", "colour", "red");
	assert_int_equal(tds_anon_override_json(t2, o), TDS_EINVAL);
	assert_non_null(strstr(tds_error_message(), "colour"));
	json_decref(o);
	o = json_pack("{s:s, s:s, s:s}", "column", "姓名", "reason", "x", "level", "L9");
	assert_int_equal(tds_anon_override_json(t2, o), TDS_EINVAL);
	assert_non_null(strstr(tds_error_message(), "level"));
	json_decref(o);
	o = json_pack("{s:s, s:s, s:b}", "column", "身份证号", "reason", "x", "pi", 0);
	assert_int_equal(tds_anon_override_json(t2, o), TDS_EINVAL); /* spi stays true: contradiction */
	json_decref(o);

	/* overrides survive the JSON round trip, with what was detected */
	json_t *j3 = tds_anon_table_json(t2);
	json_t *ov = json_object_get(json_array_get(json_object_get(j3, "columns"), 4), "override");
	assert_true(json_is_object(ov));
	assert_false(json_is_true(json_object_get(json_object_get(ov, "detected"), "spi")));
	tds_anon_table *t3;
	assert_int_equal(tds_anon_table_from_json(R, j3, &t3), 0);
	assert_true(tds_anon_table_find(t3, "科室")->overridden);
	assert_false(tds_anon_table_find(t3, "科室")->detected.spi);
	tds_anon_table_free(t3);

	/* malformed stored results are refused naming the member */
	json_t *bj = json_deep_copy(j3);
	json_object_set_new(json_array_get(json_object_get(bj, "columns"), 2), "level", json_string("L7"));
	assert_int_equal(tds_anon_table_from_json(R, bj, &t3), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "invalid_anon_scan");
	assert_non_null(strstr(tds_error_message(), "columns[2]"));
	json_decref(bj);
	bj = json_deep_copy(j3);
	json_object_set_new(bj, "format", json_string("other"));
	assert_int_equal(tds_anon_table_from_json(R, bj, &t3), TDS_EINVAL);
	json_decref(bj);
	json_decref(j3);
	json_decref(j);
	tds_anon_table_free(t2);
	tds_anon_table_free(t);
}

/* ------------------------------------------------------------------------------------------------
 * Rules files
 * ---------------------------------------------------------------------------------------------- */

static json_t *default_rules_json(void)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/rules/anon-rules.json", getenv("TDS_SOURCE_DIR") ? getenv("TDS_SOURCE_DIR") : ".");
	json_error_t e;
	json_t *j = json_load_file(path, 0, &e);
	assert_non_null(j);
	return j;
}

static json_t *detector(json_t *rules, const char *id)
{
	json_t *ds = json_object_get(rules, "detectors");
	for (size_t i = 0; i < json_array_size(ds); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(ds, i), "id")), id) == 0)
			return json_array_get(ds, i);
	fail_msg("no detector %s", id);
	return NULL;
}

/* loads j (consumed) and expects a refusal whose message starts with `path` */
static void refused(json_t *j, const char *path)
{
	char *s = json_dumps(j, 0);
	json_decref(j);
	tds_anon_rules *r = NULL;
	int rc = tds_anon_rules_load(s, strlen(s), &r);
	free(s);
	if (rc == 0) {
		tds_anon_rules_free(r);
		fail_msg("rules with a bad %s were accepted", path);
	}
	assert_int_equal(rc, TDS_EINVAL);
	assert_string_equal(tds_error_name(), "invalid_anon_rules");
	if (strncmp(tds_error_message(), path, strlen(path)) != 0)
		fail_msg("expected the path %s, got: %s", path, tds_error_message());
}

static int index_of(json_t *rules, const char *id)
{
	json_t *ds = json_object_get(rules, "detectors");
	for (size_t i = 0; i < json_array_size(ds); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(ds, i), "id")), id) == 0)
			return (int)i;
	return -1;
}

static void test_rules_errors(void **state)
{
	(void)state;
	json_t *j = default_rules_json();
	char p[128];
	int mob = index_of(j, "mobile"), rid = index_of(j, "resident_id"), pp = index_of(j, "passport");
	json_decref(j);

	j = default_rules_json();
	json_object_set_new(j, "format", json_string("tds.anon.rules/2"));
	refused(j, "format");

	j = default_rules_json();
	json_object_set_new(j, "colour", json_string("red"));
	refused(j, "(top level)");

	j = default_rules_json();
	json_object_del(j, "detectors");
	refused(j, "detectors");

	j = default_rules_json();
	json_object_set_new(detector(j, "mobile"), "kind", json_string("telepathy"));
	snprintf(p, sizeof p, "detectors[%d].kind", mob);
	refused(j, p);

	j = default_rules_json();
	json_array_set_new(json_object_get(json_object_get(detector(j, "resident_id"), "params"), "provinces"), 2,
			   json_string("1"));
	snprintf(p, sizeof p, "detectors[%d].params.provinces[2]", rid);
	refused(j, p);

	j = default_rules_json();
	json_object_set_new(json_object_get(detector(j, "resident_id"), "params"), "min_year", json_string("1900"));
	snprintf(p, sizeof p, "detectors[%d].params.min_year", rid);
	refused(j, p);

	j = default_rules_json();
	json_object_set_new(json_object_get(detector(j, "resident_id"), "params"), "checksum", json_true());
	snprintf(p, sizeof p, "detectors[%d].params", rid);
	refused(j, p);

	j = default_rules_json();
	json_object_set_new(detector(j, "passport"), "id", json_string("mobile"));
	snprintf(p, sizeof p, "detectors[%d]", pp);
	refused(j, p);

	j = default_rules_json();
	json_object_set_new(detector(j, "mobile"), "pi", json_false());
	json_object_set_new(detector(j, "mobile"), "spi", json_true());
	snprintf(p, sizeof p, "detectors[%d].spi", mob);
	refused(j, p);

	j = default_rules_json();
	json_object_set_new(detector(j, "mobile"), "spi", json_true());
	snprintf(p, sizeof p, "detectors[%d].spi_basis", mob);
	refused(j, p);

	j = default_rules_json();
	json_object_set_new(detector(j, "mobile"), "level", json_string("L5"));
	snprintf(p, sizeof p, "detectors[%d].level", mob);
	refused(j, p);

	j = default_rules_json();
	json_object_set_new(detector(j, "mobile"), "mask", json_pack("{s:s, s:i, s:i}", "method", "keep", "first", 0, "last", 0));
	snprintf(p, sizeof p, "detectors[%d].mask", mob);
	refused(j, p);

	j = default_rules_json();
	json_object_set_new(detector(j, "mobile"), "min_hit_ratio", json_real(1.5));
	snprintf(p, sizeof p, "detectors[%d].min_hit_ratio", mob);
	refused(j, p);

	j = default_rules_json();
	json_array_set_new(json_object_get(json_object_get(detector(j, "passport"), "params"), "templates"), 1,
			   json_string("E\\"));
	snprintf(p, sizeof p, "detectors[%d].params.templates[1]", pp);
	refused(j, p);

	j = default_rules_json();
	json_object_set_new(json_object_get(json_object_get(j, "levels"), "L3"), "grade", json_string("core"));
	refused(j, "levels.L4.grade"); /* L4 (important) would be below L3 (core) */

	j = default_rules_json();
	json_object_set_new(json_object_get(json_object_get(j, "levels"), "L2"), "grade", json_string("secret"));
	refused(j, "levels.L2.grade");

	j = default_rules_json();
	json_array_append_new(json_object_get(j, "null_values"), json_integer(0));
	snprintf(p, sizeof p, "null_values[%zu]", json_array_size(json_object_get(j, "null_values")) - 1);
	refused(j, p);

	j = default_rules_json();
	json_object_set_new(json_array_get(json_object_get(j, "escalations"), 0), "when", json_string("always"));
	refused(j, "escalations[0].when");

	j = default_rules_json();
	json_object_set_new(detector(j, "mobile"), "requires_context", json_true());
	json_object_set_new(detector(j, "mobile"), "context", json_array());
	snprintf(p, sizeof p, "detectors[%d].context", mob);
	refused(j, p);

	j = default_rules_json();
	json_object_set_new(detector(j, "mobile"), "identifiability", json_string("not_personal"));
	snprintf(p, sizeof p, "detectors[%d].identifiability", mob);
	refused(j, p);

	/* not JSON at all: the parser's message with line and column */
	tds_anon_rules *r;
	assert_int_equal(tds_anon_rules_load("{\"format\":\n", 11, &r), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "invalid_anon_rules");
	assert_non_null(strstr(tds_error_message(), "line"));
	assert_true(tds_anon_rules_load_file("/nonexistent/anon-rules.json", &r) < 0);
	assert_string_equal(tds_error_name(), "anon_rules_unreadable");

	/* a disabled detector is left out; an operator's own keyword detector is added */
	j = default_rules_json();
	json_object_set_new(detector(j, "mobile"), "enabled", json_false());
	json_array_append_new(json_object_get(j, "detectors"),
			      json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:s, s:[s]}", "id", "student_no", "kind",
					"template", "name", "学号 student number", "category", "personal", "pi", 1, "spi",
					0, "identifiability", "identified", "level", "L2", "context", "学号"));
	json_object_set_new(detector(j, "student_no"), "params", json_pack("{s:[s]}", "templates", "S########"));
	char *s = json_dumps(j, 0);
	json_decref(j);
	assert_int_equal(tds_anon_rules_load(s, strlen(s), &r), 0);
	free(s);
	assert_int_equal(tds_anon_rules_find(r, "mobile"), -1);
	assert_true(tds_anon_detect(r, "student_no", NULL, "S20260001", 9, NOW));
	assert_false(tds_anon_detect(r, "student_no", NULL, "S2026001", 8, NOW));
	tds_anon_rules_free(r);

	assert_string_equal(tds_anon_rules_version(R), "default-2026.1");
	assert_true(tds_anon_rules_count(R) >= 20);
	assert_string_equal(tds_anon_rules_detector_id(R, 0), "resident_id");
	assert_null(tds_anon_rules_detector_id(R, 999));
	assert_int_equal(tds_anon_rules_grade(R, 4), TDS_ANON_GRADE_IMPORTANT);
	assert_int_equal(tds_anon_rules_grade(R, 1), TDS_ANON_GRADE_GENERAL);
}

/* ------------------------------------------------------------------------------------------------
 * CSV reader
 * ---------------------------------------------------------------------------------------------- */

/* Reads all of text with the given chunk size; rows joined as "a|b;c|d;" into out; returns the
 * reader's final result (0 or the error). */
static int read_all(const char *text, size_t len, size_t chunk, size_t max_field, char *out, size_t cap)
{
	tds_anon_csv *r;
	tds_anon_csv_opts o = {.chunk = chunk, .max_field = max_field};
	assert_int_equal(tds_anon_csv_from_memory(text, len, &o, &r), 0);
	const tds_anon_field *f;
	size_t n, used = 0;
	int rc;
	out[0] = 0;
	while ((rc = tds_anon_csv_next(r, &f, &n)) > 0)
		for (size_t i = 0; i < n; i++)
			used += (size_t)snprintf(out + used, used < cap ? cap - used : 0, "%.*s%s", (int)f[i].len, f[i].data,
						 i + 1 < n ? "|" : ";");
	tds_anon_csv_free(r);
	return rc;
}

static void csv_ok(const char *text, const char *want)
{
	char out[4096];
	for (size_t chunk = 1; chunk <= 9; chunk++) { /* every chunk boundary */
		int rc = read_all(text, strlen(text), chunk, 0, out, sizeof out);
		if (rc != 0)
			fail_msg("chunk %zu: %s", chunk, tds_error_message());
		if (strcmp(out, want) != 0)
			fail_msg("chunk %zu: got '%s', want '%s'", chunk, out, want);
	}
}

static void csv_err(const char *text, size_t len, const char *name, const char *needle)
{
	char out[4096];
	for (size_t chunk = 1; chunk <= 9; chunk += 4) {
		int rc = read_all(text, len, chunk, 0, out, sizeof out);
		if (rc >= 0)
			fail_msg("'%s' accepted (chunk %zu)", text, chunk);
		assert_string_equal(tds_error_name(), name);
		if (!strstr(tds_error_message(), needle))
			fail_msg("message '%s' lacks '%s'", tds_error_message(), needle);
	}
}

static void test_csv(void **state)
{
	(void)state;
	csv_ok("a,b\n1,2\n", "a|b;1|2;");
	csv_ok("\xef\xbb\xbf" "a,b\r\n1,2\r\n", "a|b;1|2;");       /* BOM, CRLF */
	csv_ok("a,b\n1,2", "a|b;1|2;");                             /* no final newline */
	csv_ok("a,b\n\n1,2\n\r\n\n", "a|b;1|2;");                   /* empty lines skipped */
	csv_ok("a,b\n\"x,y\",\"he said \"\"hi\"\"\"\n", "a|b;x,y|he said \"hi\";");
	csv_ok("a,b\n\"line1\nline2\",2\n3,4\n", "a|b;line1\nline2|2;3|4;");
	csv_ok("a,b\n\"\",\n", "a|b;|;");
	csv_ok("a\n\"\"\n", "a;;");
	csv_ok("名字,城市\n张三,北京\n", "名字|城市;张三|北京;");

	/* line numbers follow physical lines, quoted newlines included */
	const char *t = "a,b\n\"1\n2\n3\",x\n4,5\n";
	tds_anon_csv *r;
	assert_int_equal(tds_anon_csv_from_memory(t, strlen(t), NULL, &r), 0);
	const tds_anon_field *f;
	size_t n;
	assert_int_equal(tds_anon_csv_next(r, &f, &n), 1);
	assert_int_equal(tds_anon_csv_line(r), 1);
	assert_int_equal(tds_anon_csv_next(r, &f, &n), 1);
	assert_int_equal(tds_anon_csv_line(r), 2);
	assert_int_equal(tds_anon_csv_next(r, &f, &n), 1);
	assert_int_equal(tds_anon_csv_line(r), 5);
	assert_int_equal(tds_anon_csv_next(r, &f, &n), 0);
	assert_int_equal(tds_anon_csv_offset(r), strlen(t));
	tds_anon_csv_free(r);

	const char *s;
	s = "a,b\n1,2\n\"open,3\n4,5\n";
	csv_err(s, strlen(s), "csv_unbalanced_quote", "line 3, field 1");
	s = "a,b\n1,x\"y\n";
	csv_err(s, strlen(s), "csv_bad_quote", "line 2, field 2");
	s = "a,b\n\"x\"y,2\n";
	csv_err(s, strlen(s), "csv_bad_quote", "after the closing quote");
	s = "a,b\n1,2\r3,4\n";
	csv_err(s, strlen(s), "csv_bare_cr", "line 2");
	s = "a,b\n1,2\n1,2,3\n";
	csv_err(s, strlen(s), "csv_ragged_row", "line 3 has 3 fields, the first row has 2");
	s = "a,b\n1,2\n\"q\nq\",\xff\n";
	csv_err(s, strlen(s), "csv_invalid_utf8", "line 4, field 2"); /* the field after the quoted line break */
	s = "a,b\n\xe4\xb8,2\n"; /* truncated character */
	csv_err(s, strlen(s), "csv_invalid_utf8", "line 2, field 1");
	s = "a,b\n\xc0\x80,2\n"; /* overlong NUL */
	csv_err(s, strlen(s), "csv_invalid_utf8", "line 2");
	s = "a,b\n\xed\xa0\x80,2\n"; /* surrogate */
	csv_err(s, strlen(s), "csv_invalid_utf8", "line 2");
	s = "\xff\xfe" "a\0,\0b\0";
	csv_err(s, 8, "csv_unsupported_encoding", "UTF-16");

	/* a very long field: 10 MB read through 1 MB chunks, and refused under a smaller limit */
	size_t big = 10u << 20;
	char *text = malloc(big + 64);
	assert_non_null(text);
	memcpy(text, "a,b\n\"", 5);
	memset(text + 5, 'x', big);
	memcpy(text + 5 + big, "\",2\n3,4\n", 9);
	tds_anon_csv_opts o = {0};
	assert_int_equal(tds_anon_csv_from_memory(text, strlen(text), &o, &r), 0);
	assert_int_equal(tds_anon_csv_next(r, &f, &n), 1);
	assert_int_equal(tds_anon_csv_next(r, &f, &n), 1);
	assert_int_equal(f[0].len, big);
	assert_int_equal(tds_anon_csv_next(r, &f, &n), 1);
	assert_int_equal(tds_anon_csv_next(r, &f, &n), 0);
	tds_anon_csv_free(r);
	o.max_field = 1u << 20;
	assert_int_equal(tds_anon_csv_from_memory(text, strlen(text), &o, &r), 0);
	assert_int_equal(tds_anon_csv_next(r, &f, &n), 1);
	assert_int_equal(tds_anon_csv_next(r, &f, &n), TDS_ETOOBIG);
	assert_string_equal(tds_error_name(), "csv_field_too_long");
	assert_non_null(strstr(tds_error_message(), "line 2"));
	assert_int_equal(tds_anon_csv_next(r, &f, &n), TDS_ETOOBIG); /* sticky */
	tds_anon_csv_free(r);
	/* unquoted, too */
	text[4] = 'y';
	text[5 + big] = 'y';
	assert_int_equal(tds_anon_csv_from_memory(text, strlen(text), &o, &r), 0);
	assert_int_equal(tds_anon_csv_next(r, &f, &n), 1);
	assert_int_equal(tds_anon_csv_next(r, &f, &n), TDS_ETOOBIG);
	tds_anon_csv_free(r);
	free(text);

	/* another delimiter; ragged rows allowed on request */
	o = (tds_anon_csv_opts){.delimiter = ';', .allow_ragged = true};
	s = "a;b\n1;2;3\n";
	assert_int_equal(tds_anon_csv_from_memory(s, strlen(s), &o, &r), 0);
	assert_int_equal(tds_anon_csv_next(r, &f, &n), 1);
	assert_int_equal(tds_anon_csv_next(r, &f, &n), 1);
	assert_int_equal(n, 3);
	tds_anon_csv_free(r);
	o = (tds_anon_csv_opts){.delimiter = '"'};
	assert_int_equal(tds_anon_csv_from_memory(s, strlen(s), &o, &r), TDS_EINVAL);
	assert_int_equal(tds_anon_csv_open("/nonexistent.csv", NULL, &r), TDS_EIO);
}

static void test_mask(void **state)
{
	(void)state;
	struct {
		tds_anon_mask m;
		const char *in, *out;
	} cases[] = {
	    {{TDS_ANON_MASK_KEEP, 6, 4}, "11010519491231002X", "110105********002X"},
	    {{TDS_ANON_MASK_KEEP, 3, 4}, "13812345678", "138****5678"},
	    {{TDS_ANON_MASK_KEEP, 1, 0}, "张三", "张*"},
	    {{TDS_ANON_MASK_KEEP, 1, 0}, "欧阳娜娜", "欧***"},
	    {{TDS_ANON_MASK_KEEP, 6, 4}, "123", "***"},
	    {{TDS_ANON_MASK_EMAIL, 0, 0}, "zhang.wei@example.com", "z***@example.com"},
	    {{TDS_ANON_MASK_EMAIL, 0, 0}, "no-at-sign", "*"},
	    {{TDS_ANON_MASK_YEAR, 0, 0}, "1990-03-07", "1990"},
	    {{TDS_ANON_MASK_YEAR, 0, 0}, "三月", "*"},
	    {{TDS_ANON_MASK_IP, 0, 0}, "192.168.1.10", "192.168.*.*"},
	    {{TDS_ANON_MASK_IP, 0, 0}, "2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3:8d3:*"},
	    {{TDS_ANON_MASK_IP, 0, 0}, "fe80::1", "fe80:*"},
	    {{TDS_ANON_MASK_IP, 0, 0}, "hello", "*"},
	    {{TDS_ANON_MASK_SUPPRESS, 0, 0}, "高血压", "*"},
	    {{TDS_ANON_MASK_NONE, 0, 0}, "abc", "abc"},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(cases); i++) {
		tds_buf b = TDS_BUF_INIT;
		assert_int_equal(tds_anon_mask_apply(&cases[i].m, cases[i].in, strlen(cases[i].in), &b), 0);
		if (strcmp(b.data ? b.data : "", cases[i].out) != 0)
			fail_msg("case %zu: got '%s', want '%s'", i, b.data ? b.data : "", cases[i].out);
		tds_buf_free(&b);
	}
	tds_buf b = TDS_BUF_INIT;
	tds_anon_mask h = {TDS_ANON_MASK_HASH, 0, 0};
	assert_int_equal(tds_anon_mask_apply(&h, "x", 1, &b), TDS_EUNPROC);
	tds_buf_free(&b);
	assert_string_equal(tds_anon_mask_method_name(TDS_ANON_MASK_KEEP), "keep");
}

/* ------------------------------------------------------------------------------------------------
 * The CLI
 * ---------------------------------------------------------------------------------------------- */

/* Runs a CLI entry point with stdout captured into a temporary file; returns its exit code. */
static int capture(int (*fn)(int, char **), char **argv, int argc, char *out, size_t cap)
{
	char path[] = "/tmp/tds-anon-test-out-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	fflush(stdout);
	int saved = dup(1);
	dup2(fd, 1);
	int rc = fn(argc, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	ssize_t n = read(fd, out, cap - 1);
	out[n > 0 ? n : 0] = 0;
	close(fd);
	unlink(path);
	return rc;
}

static void test_cli(void **state)
{
	(void)state;
	char csv[] = "/tmp/tds-anon-test-XXXXXX.csv";
	int fd = mkstemps(csv, 4);
	assert_true(fd >= 0);
	const char *body = "\xef\xbb\xbf姓名,手机号,身份证号,备注\r\n"
			   "张三,13812345678,11010519491231002X,ok\r\n"
			   "李四,13912345678,110101199003074477,\"a, b\"\r\n";
	assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	close(fd);
	static char out[1 << 20];
	char *argv[] = {"scan", csv, "--json", "--sample", "10", NULL};
	assert_int_equal(capture(tds_cli_scan, argv, 5, out, sizeof out), 0);
	json_t *j = json_loads(out, 0, NULL);
	assert_non_null(j);
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "summary"), "rows_total")), 2);
	json_t *cols = json_object_get(j, "columns");
	assert_string_equal(json_string_value(json_object_get(json_array_get(cols, 1), "detector")), "mobile");
	assert_string_equal(json_string_value(json_object_get(json_array_get(cols, 2), "detector")), "resident_id");
	json_decref(j);

	/* human output */
	char *argv2[] = {"scan", csv, NULL};
	assert_int_equal(capture(tds_cli_scan, argv2, 2, out, sizeof out), 0);
	assert_non_null(strstr(out, "敏感数据扫描"));
	assert_non_null(strstr(out, "resident_id"));

	/* broken CSV: exit 1, the error names the line */
	fd = open(csv, O_WRONLY | O_TRUNC);
	const char *broken = "a,b\n1,2\n\"3,4\n";
	assert_int_equal(write(fd, broken, strlen(broken)), (ssize_t)strlen(broken));
	close(fd);
	assert_int_equal(capture(tds_cli_scan, argv, 5, out, sizeof out), 1);
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "csv_unbalanced_quote");
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(j, "error"), "message")), "line 3"));
	json_decref(j);
	/* duplicate column names */
	fd = open(csv, O_WRONLY | O_TRUNC);
	const char *dup_ = "a,a\n1,2\n";
	assert_int_equal(write(fd, dup_, strlen(dup_)), (ssize_t)strlen(dup_));
	close(fd);
	assert_int_equal(capture(tds_cli_scan, argv, 5, out, sizeof out), 1);
	assert_non_null(strstr(out, "csv_bad_header"));
	unlink(csv);

	char *bad[] = {"scan", NULL};
	assert_int_equal(tds_cli_scan(1, bad), 2);
	char *bad2[] = {"scan", "x.csv", "--frobnicate", NULL};
	assert_int_equal(tds_cli_scan(3, bad2), 2);

	/* the benchmark, small: the DESIGN §7 object with its stable metric names */
	char *bench[] = {"bench", "scan", "--json", "--mb", "2", NULL};
	assert_int_equal(capture(tds_cli_bench_scan, bench, 5, out, sizeof out), 0);
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "bench")), "scan");
	json_t *m = json_object_get(j, "metrics");
	assert_true(json_real_value(json_object_get(m, "mb_per_s_per_core")) > 0);
	assert_true(json_real_value(json_object_get(m, "min_precision")) >= 0.99);
	assert_true(json_real_value(json_object_get(m, "min_recall")) >= 0.99);
	assert_int_equal(json_integer_value(json_object_get(m, "columns_as_expected")), 10);
	assert_true(json_is_object(json_object_get(j, "machine")));
	json_decref(j);
	char *bench_bad[] = {"bench", "scan", "--mb", "0", NULL};
	assert_int_equal(tds_cli_bench_scan(4, bench_bad), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_characters), cmocka_unit_test(test_resident_id),
	    cmocka_unit_test(test_phones),	     cmocka_unit_test(test_bank_card),
	    cmocka_unit_test(test_uscc),	     cmocka_unit_test(test_net),
	    cmocka_unit_test(test_plates_and_templates), cmocka_unit_test(test_text),
	    cmocka_unit_test(test_dates_and_amounts), cmocka_unit_test(test_columns),
	    cmocka_unit_test(test_table),	     cmocka_unit_test(test_json_and_overrides),
	    cmocka_unit_test(test_rules_errors),     cmocka_unit_test(test_csv),
	    cmocka_unit_test(test_mask),	     cmocka_unit_test(test_cli),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
