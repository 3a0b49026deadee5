/*
 * test_csv.c — the CSV reader on every edge (BOM, CRLF and CR, quoted line breaks, doubled quotes,
 * unbalanced quotes named by line, ragged rows, invalid UTF-8 named by line and byte offset, GB18030
 * input converted to UTF-8, 10 MB fields refused, NUL bytes, UTF-16, empty input, buffer
 * boundaries), header detection both ways, value classification and type inference, SQL names,
 * and the import: typed table, a second pass when the first rows mislead, cancellation and a killed
 * import leave no table, metadata figures on a fixture.
 */
#include "catalog/catalog.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static void ok(int rc)
{
	if (rc)
		fail_msg("failed: %s (%s)", tds_error_message(), tds_error_name());
}

/* Every record of the input as a JSON array of arrays of strings; returns the reader's final code
 * (0 at a clean end). */
static int parse(const void *data, size_t len, const tds_csv_opts *o, json_t **out)
{
	tds_csv *r;
	*out = json_array();
	int rc = tds_csv_open_mem(data, len, o, &r);
	if (rc)
		return rc;
	tds_csv_record rec;
	while ((rc = tds_csv_next(r, &rec)) == 1) {
		json_t *row = json_array();
		for (size_t i = 0; i < rec.n; i++) {
			assert_int_equal(strlen(rec.field[i]), rec.len[i]); /* NUL-terminated */
			json_array_append_new(row, json_stringn(rec.field[i], rec.len[i]));
		}
		json_array_append_new(row, json_integer((json_int_t)rec.line)); /* last: the line */
		json_array_append_new(*out, row);
	}
	tds_csv_free(r);
	return rc;
}

static const char *cell(json_t *rows, size_t r, size_t c)
{
	return json_string_value(json_array_get(json_array_get(rows, r), c));
}

static json_int_t line_of(json_t *rows, size_t r)
{
	json_t *row = json_array_get(rows, r);
	return json_integer_value(json_array_get(row, json_array_size(row) - 1));
}

static void expect_error(const char *data, size_t len, const tds_csv_opts *o, const char *name, const char *in_msg)
{
	json_t *rows;
	int rc = parse(data, len, o, &rows);
	json_decref(rows);
	if (rc >= 0)
		fail_msg("expected %s, got success", name);
	assert_string_equal(tds_error_name(), name);
	if (in_msg && !strstr(tds_error_message(), in_msg))
		fail_msg("message '%s' does not contain '%s'", tds_error_message(), in_msg);
}

/* ---- reader ---- */

static void test_basic_and_line_ends(void **state)
{
	(void)state;
	json_t *rows;
	const char crlf[] = "a,b\r\n1,2\r\n3,\r\n";
	ok(parse(crlf, sizeof crlf - 1, NULL, &rows));
	assert_int_equal(json_array_size(rows), 3);
	assert_string_equal(cell(rows, 1, 1), "2");
	assert_string_equal(cell(rows, 2, 1), ""); /* trailing delimiter: an empty last field */
	assert_int_equal(line_of(rows, 2), 3);
	json_decref(rows);

	const char cr[] = "a,b\r1,2\rx,y"; /* old Mac line ends, no final line end */
	ok(parse(cr, sizeof cr - 1, NULL, &rows));
	assert_int_equal(json_array_size(rows), 3);
	assert_string_equal(cell(rows, 2, 1), "y");
	assert_int_equal(line_of(rows, 2), 3);
	json_decref(rows);

	const char blank[] = "\n\na,b\n\n\n1,2\n\n"; /* blank lines skipped but counted */
	ok(parse(blank, sizeof blank - 1, NULL, &rows));
	assert_int_equal(json_array_size(rows), 2);
	assert_int_equal(line_of(rows, 0), 3);
	assert_int_equal(line_of(rows, 1), 6);
	json_decref(rows);

	tds_csv_opts semi = {.delimiter = ';'};
	const char s[] = "a;b,c\n";
	ok(parse(s, sizeof s - 1, &semi, &rows));
	assert_string_equal(cell(rows, 0, 1), "b,c");
	json_decref(rows);

	tds_csv_opts bad = {.delimiter = '"'};
	tds_csv *r;
	assert_int_equal(tds_csv_open_mem("x", 1, &bad, &r), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "invalid_csv_options");
}

static void test_bom(void **state)
{
	(void)state;
	json_t *rows;
	const char d[] = "\xEF\xBB\xBFname,v\n\xE7\xBA\xB3,1\n";
	tds_csv *r;
	ok(tds_csv_open_mem(d, sizeof d - 1, NULL, &r));
	tds_csv_record rec;
	assert_int_equal(tds_csv_next(r, &rec), 1);
	assert_string_equal(rec.field[0], "name"); /* BOM removed */
	assert_int_equal(tds_csv_encoding_of(r), TDS_CSV_UTF8);
	tds_csv_free(r);
	/* a UTF-8 BOM with encoding gb18030 contradicts it */
	tds_csv_opts gb = {.encoding = TDS_CSV_GB18030};
	expect_error(d, sizeof d - 1, &gb, "encoding_mismatch", "line 1");
	/* UTF-16 is refused with a way out */
	expect_error("\xFF\xFE" "a\0,\0", 6, NULL, "unsupported_encoding", "UTF-16");
	/* a BOM alone is an empty file */
	ok(parse("\xEF\xBB\xBF", 3, NULL, &rows));
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);
}

static void test_quotes(void **state)
{
	(void)state;
	json_t *rows;
	const char d[] = "id,text\n1,\"multi\nline, with comma\"\n2,\"he said \"\"hi\"\"\"\n3,\"\"\n4,ab\"c\n5,x\n";
	ok(parse(d, sizeof d - 1, NULL, &rows));
	assert_int_equal(json_array_size(rows), 6);
	assert_string_equal(cell(rows, 1, 1), "multi\nline, with comma");
	assert_string_equal(cell(rows, 2, 1), "he said \"hi\"");
	assert_int_equal(line_of(rows, 2), 4); /* the quoted line break counts */
	assert_string_equal(cell(rows, 3, 1), "");
	assert_string_equal(cell(rows, 4, 1), "ab\"c"); /* a quote inside an unquoted field is literal */
	assert_int_equal(line_of(rows, 5), 7);
	json_decref(rows);
	/* quoted field at the very end of input, no line end */
	ok(parse("\"a\"\"\"", 5, NULL, &rows));
	assert_string_equal(cell(rows, 0, 0), "a\"");
	json_decref(rows);
	/* CRLF inside quotes kept as written */
	ok(parse("\"a\r\nb\",c\r\n", 10, NULL, &rows));
	assert_string_equal(cell(rows, 0, 0), "a\r\nb");
	json_decref(rows);
}

static void test_unbalanced_quote(void **state)
{
	(void)state;
	const char d[] = "a,b\n1,2\n3,\"never closed\n4,5\n6,7\n";
	expect_error(d, sizeof d - 1, NULL, "unbalanced_quote", "line 3, column 2");
	const char e[] = "a,b\n\"x\"y,2\n";
	expect_error(e, sizeof e - 1, NULL, "invalid_quoted_field", "line 2, column 1");
	/* the error is sticky */
	tds_csv *r;
	tds_csv_record rec;
	ok(tds_csv_open_mem(d, sizeof d - 1, NULL, &r));
	while (tds_csv_next(r, &rec) == 1)
		;
	assert_int_equal(tds_csv_next(r, &rec), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "unbalanced_quote");
	tds_csv_free(r);
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	tds_csv_opts u = {.encoding = TDS_CSV_UTF8};
	const char d[] = "a,b\n1,2\nxy,\xC3\x28\n"; /* byte 13 (0-based) starts a broken sequence */
	expect_error(d, sizeof d - 1, &u, "invalid_encoding", "line 3, byte offset 11");
	/* auto: not UTF-8 and not GB18030 either (0xFF is no GB18030 lead byte): reported as UTF-8 */
	const char e[] = "a,b\n1,\xFF\n";
	expect_error(e, sizeof e - 1, NULL, "invalid_encoding", "line 2, byte offset 6");
	assert_non_null(strstr(tds_error_message(), "gb18030"));
	/* overlong, surrogate, cut at the end */
	expect_error("a\xC0\xAF\n", 4, &u, "invalid_encoding", "byte offset 1");
	expect_error("a\xED\xA0\x80\n", 5, &u, "invalid_encoding", "byte offset 1");
	expect_error("abc\xE7\xBA", 5, &u, "invalid_encoding", "cut by the end");
	/* NUL byte named with its offset */
	expect_error("a,b\n1,\0\n", 8, NULL, "nul_byte", "line 2, column 2, byte offset 6");
}

static void test_gb18030(void **state)
{
	(void)state;
	/* 纳税人 in GB18030 is C4 C9 CB B0 C8 CB; 识别号 is CA B6 B1 F0 BA C5 */
	const char d[] = "\xC4\xC9\xCB\xB0\xC8\xCB,\xCA\xB6\xB1\xF0\xBA\xC5\n\xD5\xC5\xC8\xFD,91350100M000100Y43\n";
	json_t *rows;
	tds_csv *r;
	tds_csv_record rec;
	ok(tds_csv_open_mem(d, sizeof d - 1, NULL, &r)); /* detected */
	assert_int_equal(tds_csv_next(r, &rec), 1);
	assert_int_equal(tds_csv_encoding_of(r), TDS_CSV_GB18030);
	assert_string_equal(rec.field[0], "纳税人");
	assert_string_equal(rec.field[1], "识别号");
	assert_int_equal(tds_csv_next(r, &rec), 1);
	assert_string_equal(rec.field[0], "张三");
	tds_csv_free(r);
	tds_csv_opts gb = {.encoding = TDS_CSV_GB18030};
	ok(parse(d, sizeof d - 1, &gb, &rows));
	assert_string_equal(cell(rows, 0, 0), "纳税人");
	json_decref(rows);
	/* the GB18030 BOM (84 31 95 33) is removed and selects the encoding */
	const char b[] = "\x84\x31\x95\x33\xC4\xC9\n";
	ok(tds_csv_open_mem(b, sizeof b - 1, NULL, &r));
	assert_int_equal(tds_csv_next(r, &rec), 1);
	assert_string_equal(rec.field[0], "纳");
	assert_int_equal(tds_csv_encoding_of(r), TDS_CSV_GB18030);
	tds_csv_free(r);
	/* an invalid GB18030 sequence is named by line and offset */
	const char bad[] = "a\n\xC4\xC9\n\xC4\x7F\n";
	expect_error(bad, sizeof bad - 1, &gb, "invalid_encoding", "line 3, byte offset 5");
	/* four-byte GB18030 (U+00A5 ¥ is 81 30 84 36) */
	ok(parse("\x81\x30\x84\x36\n", 5, &gb, &rows));
	assert_string_equal(cell(rows, 0, 0), "\xC2\xA5");
	json_decref(rows);
}

/* GB18030 and UTF-8 inputs larger than the 1 MiB read size: characters and quoted fields cross
 * every buffer boundary; every record comes back intact. */
static void test_buffer_boundaries(void **state)
{
	(void)state;
	tds_buf u = TDS_BUF_INIT, g = TDS_BUF_INIT;
	const size_t n = 60000;
	for (size_t i = 0; i < n; i++) {
		ok(tds_buf_printf(&u, "%zu,\"纳税人 \"\"%zu\"\"\n第二行\",税\n", i, i));
		ok(tds_buf_printf(&g, "%zu,\"\xC4\xC9\xCB\xB0\xC8\xCB \"\"%zu\"\"\n\xB5\xDA\xB6\xFE\xD0\xD0\",\xCB\xB0\n", i, i));
	}
	assert_true(u.len > 2u << 20);
	for (int k = 0; k < 2; k++) {
		tds_buf *b = k ? &g : &u;
		tds_csv *r;
		tds_csv_record rec;
		ok(tds_csv_open_mem(b->data, b->len, NULL, &r));
		size_t got = 0;
		int rc;
		while ((rc = tds_csv_next(r, &rec)) == 1) {
			char want[64];
			snprintf(want, sizeof want, "纳税人 \"%zu\"\n第二行", got);
			if (rec.n != 3 || strcmp(rec.field[1], want) != 0 || strcmp(rec.field[2], "税") != 0 ||
			    rec.line != 2 * got + 1)
				fail_msg("record %zu differs (%s): '%s'", got, k ? "gb18030" : "utf-8", rec.n > 1 ? rec.field[1] : "");
			got++;
		}
		ok(rc);
		assert_int_equal(got, n);
		assert_int_equal(tds_csv_encoding_of(r), k ? TDS_CSV_GB18030 : TDS_CSV_UTF8);
		assert_int_equal(tds_csv_bytes_read(r), b->len);
		tds_csv_free(r);
	}
	tds_buf_free(&u);
	tds_buf_free(&g);
}

static void test_field_too_large(void **state)
{
	(void)state;
	size_t big = 10u << 20;
	char *d = malloc(big + 64);
	memcpy(d, "a,b\n1,", 6);
	memset(d + 6, 'x', big);
	memcpy(d + 6 + big, "\n", 1);
	expect_error(d, big + 7, NULL, "field_too_large", "line 2, column 2");
	d[6] = '"'; /* quoted: still refused, named by the line where it started */
	expect_error(d, big + 7, NULL, "field_too_large", "line 2, column 2");
	/* a larger limit admits it */
	tds_csv_opts o = {.max_field = 16u << 20};
	d[6] = 'x';
	json_t *rows;
	ok(parse(d, big + 7, &o, &rows));
	assert_int_equal(strlen(cell(rows, 1, 1)), big);
	json_decref(rows);
	free(d);
	/* too many columns */
	tds_buf b = TDS_BUF_INIT;
	for (int i = 0; i < 1200; i++)
		ok(tds_buf_puts(&b, "x,"));
	expect_error(b.data, b.len, NULL, "too_many_columns", "line 1");
	tds_buf_free(&b);
}

static void test_empty(void **state)
{
	(void)state;
	json_t *rows;
	ok(parse("", 0, NULL, &rows));
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);
	ok(parse("\n\r\n\n", 4, NULL, &rows));
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);
	tds_csv *r;
	tds_csv_schema s;
	ok(tds_csv_open_mem(NULL, 0, NULL, &r));
	assert_int_equal(tds_csv_sniff(r, 0, &s), TDS_EUNPROC);
	assert_string_equal(tds_error_name(), "empty_csv");
	tds_csv_free(r);
}

static void test_non_rewindable(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "a\n1\n", 4), 4);
	close(p[1]);
	tds_csv *r;
	tds_csv_record rec;
	ok(tds_csv_open_fd(p[0], true, NULL, &r));
	assert_int_equal(tds_csv_next(r, &rec), 1);
	assert_int_equal(tds_csv_rewind(r), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "not_rewindable");
	tds_csv_free(r);
}

/* ---- shape: header and types ---- */

static void sniff(const char *d, const tds_csv_opts *o, tds_csv_schema *s)
{
	tds_csv *r;
	ok(tds_csv_open_mem(d, strlen(d), o, &r));
	ok(tds_csv_sniff(r, 0, s));
	tds_csv_free(r);
}

static void test_header_detection(void **state)
{
	(void)state;
	tds_csv_schema s;
	sniff("name,age,joined\nAlice,30,2024-01-02\nBob,41,2023-12-31\n", NULL, &s);
	assert_true(s.header);
	assert_string_equal(s.cols[1].name, "age");
	assert_string_equal(s.cols[1].label, "age");
	assert_int_equal(s.cols[1].type, TDS_COL_INTEGER);
	assert_int_equal(s.cols[2].type, TDS_COL_DATE);
	assert_int_equal(s.rows_seen, 2);
	tds_csv_schema_free(&s);

	sniff("1,2\n3,4\n", NULL, &s); /* numbers: no header */
	assert_false(s.header);
	assert_string_equal(s.cols[0].name, "c1");
	assert_null(s.cols[0].label);
	assert_int_equal(s.rows_seen, 2);
	tds_csv_schema_free(&s);

	sniff("city,code\nbeijing,A1\nshanghai,B2\n", NULL, &s); /* all text, header cells never repeat */
	assert_true(s.header);
	tds_csv_schema_free(&s);

	sniff("x,y\nx,y\nz,y\n", NULL, &s); /* all text, first row repeats as data */
	assert_false(s.header);
	tds_csv_schema_free(&s);

	sniff("a,a\n1,2\n", NULL, &s); /* duplicate cells: not a header */
	assert_false(s.header);
	tds_csv_schema_free(&s);

	sniff("a,,c\n1,2,3\n", NULL, &s); /* an empty cell: not a header */
	assert_false(s.header);
	tds_csv_schema_free(&s);

	tds_csv_opts yes = {.header = TDS_CSV_HEADER_YES}, no = {.header = TDS_CSV_HEADER_NO};
	sniff("1,2\n3,4\n", &yes, &s);
	assert_true(s.header);
	assert_string_equal(s.cols[0].name, "c_1"); /* a name starting with a digit gets a prefix */
	tds_csv_schema_free(&s);
	sniff("name,age\nAlice,30\n", &no, &s);
	assert_false(s.header);
	assert_int_equal(s.cols[1].type, TDS_COL_TEXT); /* "age" is data now */
	tds_csv_schema_free(&s);

	sniff("only,header\n", NULL, &s); /* a lone text row is a header */
	assert_true(s.header);
	assert_int_equal(s.rows_seen, 0);
	tds_csv_schema_free(&s);

	/* names: sanitised, unique case-insensitively, Chinese kept */
	sniff("纳税人 识别号,Amount (元),amount,select,\"na\"\"me\"\n1,2,3,4,5\n", NULL, &s);
	assert_true(s.header);
	assert_string_equal(s.cols[0].name, "纳税人_识别号");
	assert_string_equal(s.cols[1].name, "Amount_元");
	assert_string_equal(s.cols[2].name, "amount");
	assert_string_equal(s.cols[3].name, "select");
	assert_string_equal(s.cols[4].name, "na_me");
	assert_string_equal(s.cols[0].label, "纳税人 识别号");
	tds_csv_schema_free(&s);
	sniff("ID,id,Id\n1,2,3\n", NULL, &s);
	assert_string_equal(s.cols[1].name, "id_2");
	assert_string_equal(s.cols[2].name, "Id_3");
	tds_csv_schema_free(&s);
}

static void test_header_control_chars_and_ragged(void **state)
{
	(void)state;
	tds_csv *r;
	tds_csv_schema s;
	const char d[] = "name,ag\x01e\nAlice,30\n";
	ok(tds_csv_open_mem(d, sizeof d - 1, NULL, &r));
	assert_int_equal(tds_csv_sniff(r, 0, &s), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "invalid_column_name");
	assert_non_null(strstr(tds_error_message(), "line 1: column 2"));
	tds_csv_free(r);
	const char tab[] = "\"a\tb\",c\nx,1\n";
	tds_csv_opts yes = {.header = TDS_CSV_HEADER_YES};
	ok(tds_csv_open_mem(tab, sizeof tab - 1, &yes, &r));
	assert_int_equal(tds_csv_sniff(r, 0, &s), TDS_EINVAL);
	tds_csv_free(r);

	const char rag[] = "a,b\n1,2\n3\n4,5\n";
	ok(tds_csv_open_mem(rag, sizeof rag - 1, NULL, &r));
	assert_int_equal(tds_csv_sniff(r, 0, &s), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "ragged_row");
	assert_non_null(strstr(tds_error_message(), "line 3: expected 2 fields"));
	tds_csv_free(r);
	tds_csv_opts rep = {.report_ragged = true};
	ok(tds_csv_open_mem(rag, sizeof rag - 1, &rep, &r));
	ok(tds_csv_sniff(r, 0, &s));
	assert_int_equal(s.rows_seen, 2);
	tds_csv_schema_free(&s);
	tds_csv_free(r);
}

static unsigned types_of(const char *s)
{
	tds_value v;
	tds_value_classify(s, strlen(s), &v);
	return v.types;
}

#define T(x) (1u << (x))

static void test_classify(void **state)
{
	(void)state;
	unsigned num = T(TDS_COL_INTEGER) | T(TDS_COL_DECIMAL) | T(TDS_COL_TEXT);
	assert_int_equal(types_of("0"), num);
	assert_int_equal(types_of("-42"), num);
	assert_int_equal(types_of("123456789012345"), num);               /* 15 digits */
	assert_int_equal(types_of("1234567890123456"), T(TDS_COL_TEXT)); /* 16: an identifier */
	assert_int_equal(types_of("007"), T(TDS_COL_TEXT));              /* leading zero: a code */
	assert_int_equal(types_of("+5"), T(TDS_COL_TEXT));
	assert_int_equal(types_of("-"), T(TDS_COL_TEXT));
	unsigned dec = T(TDS_COL_DECIMAL) | T(TDS_COL_TEXT);
	assert_int_equal(types_of("3.14"), dec);
	assert_int_equal(types_of("-0.001"), dec);
	assert_int_equal(types_of("0.123456789012345"), dec);
	assert_int_equal(types_of("1.1234567890123456"), T(TDS_COL_TEXT)); /* 17 significant digits */
	assert_int_equal(types_of("1."), T(TDS_COL_TEXT));
	assert_int_equal(types_of(".5"), T(TDS_COL_TEXT));
	assert_int_equal(types_of("1e5"), T(TDS_COL_TEXT));
	assert_int_equal(types_of("2024-02-29"), T(TDS_COL_DATE) | T(TDS_COL_TEXT));
	assert_int_equal(types_of("2024/02/29"), T(TDS_COL_DATE) | T(TDS_COL_TEXT));
	assert_int_equal(types_of("2023-02-29"), T(TDS_COL_TEXT)); /* not a leap year */
	assert_int_equal(types_of("2024-13-01"), T(TDS_COL_TEXT));
	assert_int_equal(types_of("2024-01/01"), T(TDS_COL_TEXT));
	unsigned dt = T(TDS_COL_DATETIME) | T(TDS_COL_TEXT);
	assert_int_equal(types_of("2024-01-02 03:04"), dt);
	assert_int_equal(types_of("2024-01-02T03:04:05"), dt);
	assert_int_equal(types_of("2024-01-02T03:04:05.123456Z"), dt);
	assert_int_equal(types_of("2024-01-02 03:04:05+08:00"), dt);
	assert_int_equal(types_of("2024-01-02 24:00:00"), T(TDS_COL_TEXT));
	assert_int_equal(types_of("2024-01-02 03:04:05+8"), T(TDS_COL_TEXT));
	unsigned b = T(TDS_COL_BOOLEAN) | T(TDS_COL_TEXT);
	assert_int_equal(types_of("true"), b);
	assert_int_equal(types_of("FALSE"), b);
	assert_int_equal(types_of("Y"), b);
	assert_int_equal(types_of("是"), b);
	assert_int_equal(types_of("否"), b);
	assert_int_equal(types_of("maybe"), T(TDS_COL_TEXT));
	tds_value v;
	tds_value_classify("2024/02/29 10:00", 16, &v);
	assert_string_equal(v.date, "2024-02-29 10:00");
	tds_value_classify("-12.50", 6, &v);
	assert_true(v.d == -12.5);
	assert_true(tds_value_is_null("", 0) && tds_value_is_null("NULL", 4) && tds_value_is_null("null", 4) &&
		    tds_value_is_null("\\N", 2));
	assert_false(tds_value_is_null("Null", 4) || tds_value_is_null(" ", 1));
	/* total over every short byte string */
	for (int a = 0; a < 256; a++)
		for (int c = 0; c < 256; c += 7) {
			char s[3] = {(char)a, (char)c, 0};
			tds_value_classify(s, 2, &v);
			assert_true(v.types & T(TDS_COL_TEXT));
		}
}

static void test_sql_names(void **state)
{
	(void)state;
	char out[80];
	tds_sql_name("", 0, out, sizeof out);
	assert_string_equal(out, "c_");
	tds_sql_name("  Tax -- ID  ", 13, out, sizeof out);
	assert_string_equal(out, "Tax_ID");
	tds_sql_name("2024 income", 11, out, sizeof out);
	assert_string_equal(out, "c_2024_income");
	tds_sql_name("\"; DROP TABLE x; --", 19, out, sizeof out);
	assert_string_equal(out, "DROP_TABLE_x");
	/* 30 Chinese characters (90 bytes) cut to 21 characters (63 bytes): never inside a character */
	char zh[128] = "";
	for (int i = 0; i < 30; i++)
		strcat(zh, "税");
	tds_sql_name(zh, strlen(zh), out, sizeof out);
	assert_int_equal(strlen(out), 63);
	assert_true(tds_utf8_valid(out, strlen(out)));
	tds_buf b = TDS_BUF_INIT;
	ok(tds_sql_quote_ident(&b, "a\"b"));
	assert_string_equal(b.data, "\"a\"\"b\"");
	tds_buf_free(&b);
}

/* ---- import ---- */

static char DIR_[64];

static int dir_setup(void **state)
{
	(void)state;
	strcpy(DIR_, "/tmp/tds-csv-XXXXXX");
	return mkdtemp(DIR_) ? 0 : -1;
}

static int dir_teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", DIR_);
	return system(cmd) == 0 ? 0 : -1;
}

static void path_in(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", DIR_, name);
}

static int import_mem(const char *data, size_t len, const char *db, const tds_csv_opts *co,
		      const tds_csv_import_opts *io, json_t **meta)
{
	tds_csv *r;
	int rc = tds_csv_open_mem(data, len, co, &r);
	if (rc)
		return rc;
	rc = tds_csv_import(r, db, io, meta);
	tds_csv_free(r);
	return rc;
}

static int entries_in_dir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "ls -A %s | wc -l", DIR_);
	FILE *f = popen(cmd, "r");
	int n = -1;
	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = -1;
		pclose(f);
	}
	return n;
}

static void test_import_and_query(void **state)
{
	(void)state;
	char db[128];
	path_in(db, sizeof db, "t1.db");
	const char d[] = "\xEF\xBB\xBF" "纳税人识别号,企业名称,税额,登记日期,更新时间,是否一般纳税人,\"na\"\"me\"\r\n"
			 "91350100M000100Y43,甲公司,1200.50,2024/01/02,2024-01-02 08:00:00,是,x\r\n"
			 "91370100780603055K,\"乙公司, 分公司\",NULL,2024-02-03,\\N,否,\r\n"
			 "91310110666007217T,丙公司,30,2024-03-04,2024-03-04T09:30:00Z,是,\"y\nz\"\r\n";
	json_t *meta;
	tds_csv_import_opts io = {.table = "tax 2024", .hash_suite = TDS_SUITE_INTL};
	ok(import_mem(d, sizeof d - 1, db, NULL, &io, &meta));
	assert_int_equal(json_integer_value(json_object_get(meta, "rows")), 3);
	assert_true(json_is_true(json_object_get(meta, "header")));
	assert_string_equal(tds_json_str(meta, "hash_alg", ""), "sha256");
	assert_int_equal(strlen(tds_json_str(meta, "content_hash", "")), 64);
	json_t *t = json_array_get(json_object_get(meta, "tables"), 0);
	assert_string_equal(tds_json_str(t, "name", ""), "tax_2024");
	json_t *cols = json_object_get(t, "columns");
	static const char *const want[] = {"text", "text", "decimal", "date", "datetime", "boolean", "text"};
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(tds_json_str(json_array_get(cols, i), "type", ""), want[i]);
	assert_string_equal(tds_json_str(json_array_get(cols, 6), "name", ""), "na_me");
	assert_string_equal(tds_json_str(json_array_get(cols, 6), "label", ""), "na\"me");
	json_decref(meta);

	sqlite3 *sq;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open_v2(db, &sq, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(sq,
					    "SELECT \"纳税人识别号\", \"企业名称\", typeof(\"税额\"), \"税额\", \"登记日期\","
					    " \"更新时间\", \"是否一般纳税人\", \"na_me\" FROM tax_2024 ORDER BY rowid",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "91350100M000100Y43");
	assert_string_equal((const char *)sqlite3_column_text(st, 2), "real");
	assert_true(sqlite3_column_double(st, 3) == 1200.5);
	assert_string_equal((const char *)sqlite3_column_text(st, 4), "2024-01-02"); /* normalised */
	assert_int_equal(sqlite3_column_int(st, 6), 1);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 1), "乙公司, 分公司");
	assert_int_equal(sqlite3_column_type(st, 3), SQLITE_NULL); /* NULL marker */
	assert_int_equal(sqlite3_column_type(st, 5), SQLITE_NULL); /* \N */
	assert_int_equal(sqlite3_column_type(st, 7), SQLITE_NULL); /* empty */
	assert_int_equal(sqlite3_column_int(st, 6), 0);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 2), "real"); /* 30 in a decimal column */
	assert_string_equal((const char *)sqlite3_column_text(st, 7), "y\nz");
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(sq, "SELECT type FROM pragma_table_info('tax_2024') ORDER BY cid", -1, &st, NULL),
			 SQLITE_OK);
	static const char *const decl[] = {"TEXT", "TEXT", "REAL", "DATE TEXT", "DATETIME TEXT", "BOOLEAN", "TEXT"};
	for (size_t i = 0; i < 7; i++) {
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), decl[i]);
	}
	sqlite3_finalize(st);
	sqlite3_close(sq);
	assert_int_equal(entries_in_dir(), 1); /* no temporary file left */

	/* a header-only CSV makes an empty table */
	path_in(db, sizeof db, "t2.db");
	ok(import_mem("a,b\n", 4, db, NULL, NULL, &meta));
	assert_int_equal(json_integer_value(json_object_get(meta, "rows")), 0);
	json_decref(meta);
	/* a reserved table name is adjusted */
	path_in(db, sizeof db, "t3.db");
	tds_csv_import_opts sq_name = {.table = "sqlite_master"};
	ok(import_mem("a\n1\n", 4, db, NULL, &sq_name, &meta));
	assert_string_equal(tds_json_str(json_array_get(json_object_get(meta, "tables"), 0), "name", ""), "t_sqlite_master");
	json_decref(meta);
	unlink(db);
	path_in(db, sizeof db, "t2.db");
	unlink(db);
	path_in(db, sizeof db, "t1.db");
	unlink(db);
}

/* The first 10,000 values of a column are integers, a later one is not: the import runs again so
 * the column is text and every value is stored as written. */
static void test_import_second_pass(void **state)
{
	(void)state;
	tds_buf b = TDS_BUF_INIT;
	ok(tds_buf_puts(&b, "id,v\n"));
	for (int i = 0; i < 12000; i++)
		ok(tds_buf_printf(&b, "%d,%s\n", i, i == 11000 ? "n/a" : i == 11001 ? "0042" : "17"));
	char db[128];
	path_in(db, sizeof db, "p2.db");
	json_t *meta;
	int progress_calls = 0;
	ok(import_mem(b.data, b.len, db, NULL, NULL, &meta));
	assert_int_equal(json_integer_value(json_object_get(meta, "passes")), 2);
	json_t *cols = json_object_get(json_array_get(json_object_get(meta, "tables"), 0), "columns");
	assert_string_equal(tds_json_str(json_array_get(cols, 1), "type", ""), "text");
	assert_string_equal(tds_json_str(json_array_get(cols, 0), "type", ""), "integer");
	json_decref(meta);
	sqlite3 *sq;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open_v2(db, &sq, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(sq, "SELECT v, typeof(v) FROM data WHERE id IN (5, 11001) ORDER BY id", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "17");
	assert_string_equal((const char *)sqlite3_column_text(st, 1), "text");
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "0042"); /* as written */
	sqlite3_finalize(st);
	sqlite3_close(sq);
	unlink(db);
	(void)progress_calls;
	tds_buf_free(&b);
}

static int cancel_after_first(void *ctx, const tds_import_progress *p)
{
	int *calls = ctx;
	(*calls)++;
	return p->rows >= 65536;
}

static int die_after_first(void *ctx, const tds_import_progress *p)
{
	(void)ctx;
	if (p->rows >= 65536)
		raise(SIGKILL);
	return 0;
}

static void big_csv(tds_buf *b, int rows)
{
	ok(tds_buf_puts(b, "id,name,amount\n"));
	for (int i = 0; i < rows; i++)
		ok(tds_buf_printf(b, "%d,name %d,%d.25\n", i, i, i));
}

/* An import that is cancelled, fails, or whose process is killed leaves no table: the previous
 * file at the path is untouched and no new file appears there. */
static void test_interrupted_import(void **state)
{
	(void)state;
	char db[128];
	path_in(db, sizeof db, "keep.db");
	json_t *meta;
	ok(import_mem("a\nold\n", 6, db, NULL, NULL, &meta)); /* a previous import */
	json_decref(meta);
	tds_buf b = TDS_BUF_INIT;
	big_csv(&b, 200000);
	int calls = 0;
	tds_csv_import_opts io = {.progress = cancel_after_first, .progress_ctx = &calls};
	assert_int_equal(import_mem(b.data, b.len, db, NULL, &io, &meta), TDS_ECONFLICT);
	assert_string_equal(tds_error_name(), "import_cancelled");
	assert_null(meta);
	assert_int_equal(calls, 1);
	assert_int_equal(entries_in_dir(), 1); /* keep.db only: the temporary file is gone */
	sqlite3 *sq;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open_v2(db, &sq, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(sq, "SELECT a FROM data", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "old");
	sqlite3_finalize(st);
	sqlite3_close(sq);

	/* a broken row far down: refused with its line, nothing replaced */
	ok(tds_buf_puts(&b, "1,\"unbalanced\n"));
	assert_int_equal(import_mem(b.data, b.len, db, NULL, NULL, &meta), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "unbalanced_quote");
	assert_non_null(strstr(tds_error_message(), "line 200002"));
	assert_int_equal(entries_in_dir(), 1);

	/* killed mid-import: the target path never sees a partial file */
	char fresh[128];
	path_in(fresh, sizeof fresh, "fresh.db");
	b.len -= strlen("1,\"unbalanced\n");
	pid_t pid = fork();
	if (pid == 0) {
		tds_csv_import_opts die = {.progress = die_after_first};
		json_t *m;
		import_mem(b.data, b.len, fresh, NULL, &die, &m);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	struct stat sb;
	assert_int_equal(stat(fresh, &sb), -1); /* no table: only keep.db and the dead import's temp file */
	assert_int_equal(entries_in_dir(), 2);
	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -f %s/fresh.db.tmp-*", DIR_);
	assert_int_equal(system(cmd), 0);
	unlink(db);
	tds_buf_free(&b);
}

/* Metadata figures on a fixture with known answers. */
static void test_metadata_figures(void **state)
{
	(void)state;
	const char d[] = "id,score,city,day,flag\n"
			 "1,10.5,北京,2024-01-05,true\n"
			 "2,,上海,2024-03-01,false\n"
			 "3,7.25,北京,NULL,true\n"
			 "4,-2,广州,2023-12-31,\n"
			 "5,100,北京,2024-01-05,true\n"
			 "6,\\N,上海,2024-02-29,false\n"
			 "7,3,深圳,2024-01-01,true\n"
			 "8,3,北京,,true\n";
	char db[128];
	path_in(db, sizeof db, "meta.db");
	json_t *meta;
	ok(import_mem(d, sizeof d - 1, db, NULL, NULL, &meta));
	json_t *cols = json_object_get(json_array_get(json_object_get(meta, "tables"), 0), "columns");
	json_t *id = json_array_get(cols, 0), *score = json_array_get(cols, 1), *city = json_array_get(cols, 2),
	       *day = json_array_get(cols, 3), *flag = json_array_get(cols, 4);
	assert_string_equal(tds_json_str(id, "type", ""), "integer");
	assert_int_equal(tds_json_int(id, "min", -1), 1);
	assert_int_equal(tds_json_int(id, "max", -1), 8);
	assert_int_equal(tds_json_int(id, "distinct_estimate", -1), 8);
	assert_string_equal(tds_json_str(score, "type", ""), "decimal");
	assert_int_equal(tds_json_int(score, "nulls", -1), 2);
	assert_string_equal(tds_json_str(score, "null_ratio", ""), "0.2500");
	assert_string_equal(tds_json_str(score, "min", ""), "-2");
	assert_string_equal(tds_json_str(score, "max", ""), "100");
	assert_int_equal(tds_json_int(score, "distinct_estimate", -1), 5);
	assert_string_equal(tds_json_str(city, "type", ""), "text");
	assert_int_equal(tds_json_int(city, "distinct_estimate", -1), 4);
	assert_int_equal(tds_json_int(city, "max_length", -1), 6);
	assert_null(json_object_get(city, "min"));
	assert_string_equal(tds_json_str(day, "type", ""), "date");
	assert_string_equal(tds_json_str(day, "null_ratio", ""), "0.2500");
	assert_string_equal(tds_json_str(day, "min", ""), "2023-12-31");
	assert_string_equal(tds_json_str(day, "max", ""), "2024-03-01");
	assert_string_equal(tds_json_str(flag, "type", ""), "boolean");
	assert_string_equal(tds_json_str(flag, "null_ratio", ""), "0.1250");
	assert_int_equal(tds_json_int(flag, "distinct_estimate", -1), 2);
	json_decref(meta);
	unlink(db);

	/* distinct estimates stay within a few per cent at scale */
	tds_profile *p = tds_profile_new(1);
	char v[32];
	for (int i = 0; i < 200000; i++) {
		int n = snprintf(v, sizeof v, "value-%d", i % 50000);
		tds_profile_add(p, 0, v, (size_t)n);
	}
	json_t *pj = tds_profile_json(p, NULL, NULL);
	json_int_t est = tds_json_int(json_array_get(pj, 0), "distinct_estimate", 0);
	if (est < 48500 || est > 51500)
		fail_msg("distinct estimate %lld for 50000", (long long)est);
	json_decref(pj);
	tds_profile_free(p);
}

/* Ragged rows in report mode are skipped and their lines reported. */
static void test_import_ragged_report(void **state)
{
	(void)state;
	char db[128];
	path_in(db, sizeof db, "rag.db");
	json_t *meta;
	const char d[] = "a,b\n1,2\n3\n4,5\n6,7,8\n9,10\n";
	assert_int_equal(import_mem(d, sizeof d - 1, db, NULL, NULL, &meta), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "ragged_row");
	assert_non_null(strstr(tds_error_message(), "line 3"));
	tds_csv_opts rep = {.report_ragged = true};
	ok(import_mem(d, sizeof d - 1, db, &rep, NULL, &meta));
	assert_int_equal(json_integer_value(json_object_get(meta, "rows")), 3);
	assert_int_equal(json_integer_value(json_object_get(meta, "ragged_rows")), 2);
	json_t *lines = json_object_get(meta, "ragged_lines");
	assert_int_equal(json_integer_value(json_array_get(lines, 0)), 3);
	assert_int_equal(json_integer_value(json_array_get(lines, 1)), 5);
	json_decref(meta);
	unlink(db);
}

/* A GB18030 file on disk: detected, converted, imported, hashed over its raw bytes. */
static void test_import_gb18030_file(void **state)
{
	(void)state;
	char csv[128], db[128];
	path_in(csv, sizeof csv, "gb.csv");
	path_in(db, sizeof db, "gb.db");
	const char d[] = "\xC4\xC9\xCB\xB0\xC8\xCB,\xCB\xB0\xB6\xEE\n\xD5\xC5\xC8\xFD,12.5\n";
	FILE *f = fopen(csv, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(d, 1, sizeof d - 1, f), sizeof d - 1);
	fclose(f);
	tds_csv *r;
	json_t *meta;
	ok(tds_csv_open_fd(open(csv, O_RDONLY), true, NULL, &r));
	tds_csv_import_opts io = {.hash_suite = TDS_SUITE_GM};
	ok(tds_csv_import(r, db, &io, &meta));
	tds_csv_free(r);
	assert_string_equal(tds_json_str(meta, "encoding", ""), "gb18030");
	uint8_t h[TDS_HASH_LEN];
	tds_buf hex = TDS_BUF_INIT;
	ok(tds_hash(TDS_SUITE_GM, d, sizeof d - 1, h));
	ok(tds_hex_encode(h, sizeof h, &hex));
	assert_string_equal(tds_json_str(meta, "content_hash", ""), hex.data); /* of the raw bytes */
	tds_buf_free(&hex);
	json_t *col = json_array_get(json_object_get(json_array_get(json_object_get(meta, "tables"), 0), "columns"), 0);
	assert_string_equal(tds_json_str(col, "name", ""), "纳税人");
	json_decref(meta);
	unlink(csv);
	unlink(db);
}

int main(void)
{
	tds_crypto_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic_and_line_ends),
	    cmocka_unit_test(test_bom),
	    cmocka_unit_test(test_quotes),
	    cmocka_unit_test(test_unbalanced_quote),
	    cmocka_unit_test(test_invalid_utf8),
	    cmocka_unit_test(test_gb18030),
	    cmocka_unit_test(test_buffer_boundaries),
	    cmocka_unit_test(test_field_too_large),
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_non_rewindable),
	    cmocka_unit_test(test_header_detection),
	    cmocka_unit_test(test_header_control_chars_and_ragged),
	    cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_sql_names),
	    cmocka_unit_test(test_import_and_query),
	    cmocka_unit_test(test_import_second_pass),
	    cmocka_unit_test(test_interrupted_import),
	    cmocka_unit_test(test_metadata_figures),
	    cmocka_unit_test(test_import_ragged_report),
	    cmocka_unit_test(test_import_gb18030_file),
	};
	return cmocka_run_group_tests(tests, dir_setup, dir_teardown);
}
