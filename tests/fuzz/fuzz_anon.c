/*
 * fuzz_anon.c — libFuzzer target for the anon module's parsers of outside input. The first byte
 * chooses what the rest of the input is:
 *   0  a CSV file, read with a chunk size from the second byte (so rows straddle every boundary) and
 *      scanned with the default rules; the table goes to JSON and back
 *   1  a rules file; when accepted, a few values are scanned with it
 *   2  values, one per line, the first line a column name: every detector on every value, a column
 *      scan, and every masking method
 *   3  a stored scan result or an override (JSON) applied to a fixed table
 * Everything must be accepted or refused with an error, never crash, leak or read past the input
 * (each parser gets an exact-size copy, so ASan sees any over-read); what is accepted must be sane.
 */
#include "anon/anon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tds_anon_rules *rules(void)
{
	static tds_anon_rules *r;
	if (!r && tds_anon_rules_load_default(&r, NULL, 0)) {
		fprintf(stderr, "fuzz_anon: cannot load the default rules: %s\n", tds_error_message());
		abort();
	}
	return r;
}

#define NOW 1781496000000LL

static void roundtrip(tds_anon_table *t)
{
	json_t *j = tds_anon_table_json(t);
	if (!j)
		abort();
	tds_anon_table *t2;
	if (tds_anon_table_from_json(rules(), j, &t2) != 0)
		abort(); /* our own output must read back */
	json_t *j2 = tds_anon_table_json(t2);
	if (!json_equal(j, j2))
		abort();
	json_decref(j2);
	tds_anon_table_free(t2);
	json_decref(j);
}

static void fuzz_csv(const uint8_t *d, size_t n, size_t chunk)
{
	tds_anon_csv *r;
	tds_anon_csv_opts o = {.chunk = chunk, .max_field = 4096};
	if (tds_anon_csv_from_memory((const char *)d, n, &o, &r))
		abort();
	const tds_anon_field *f;
	size_t nf;
	tds_anon_scan *s = NULL;
	int rc;
	while ((rc = tds_anon_csv_next(r, &f, &nf)) > 0) {
		if (nf == 0)
			abort();
		for (size_t i = 0; i < nf; i++)
			if (f[i].len > n)
				abort();
		if (!s) {
			char **names = calloc(nf, sizeof *names);
			for (size_t i = 0; i < nf; i++)
				names[i] = strndup(f[i].data, f[i].len);
			tds_anon_scan_opts so = {.now_ms = NOW};
			if (tds_anon_scan_new(rules(), (const char *const *)names, nf, &so, &s))
				s = NULL;
			for (size_t i = 0; i < nf; i++)
				free(names[i]);
			free(names);
			if (!s)
				break;
		} else {
			tds_anon_scan_row(s, f, nf);
		}
	}
	if (rc < 0 && !*tds_error_name())
		abort();
	if (s) {
		tds_anon_table *t;
		if (tds_anon_scan_finish(s, &t))
			abort();
		roundtrip(t);
		tds_anon_table_free(t);
		tds_anon_scan_free(s);
	}
	tds_anon_csv_free(r);
}

static void fuzz_rules(const uint8_t *d, size_t n)
{
	tds_anon_rules *r;
	if (tds_anon_rules_load((const char *)d, n, &r)) {
		if (strcmp(tds_error_name(), "invalid_anon_rules") != 0)
			abort();
		return;
	}
	const char *names[] = {"姓名", "phone", "金额"};
	tds_anon_scan *s;
	if (tds_anon_scan_new(r, names, 3, NULL, &s) == 0) {
		const char *vals[] = {"张三", "13812345678", "1,234.50", "11010519491231002X", "北京市海淀区中关村大街27号"};
		for (size_t i = 0; i < TDS_ARRAY_LEN(vals); i++)
			for (size_t c = 0; c < 3; c++)
				tds_anon_scan_value(s, c, vals[i], strlen(vals[i]));
		tds_anon_table *t;
		if (tds_anon_scan_finish(s, &t))
			abort();
		json_decref(tds_anon_table_json(t));
		tds_anon_table_free(t);
		tds_anon_scan_free(s);
	}
	tds_anon_rules_free(r);
}

static void fuzz_values(const uint8_t *d, size_t n)
{
	tds_anon_rules *r = rules();
	const uint8_t *nl = memchr(d, '\n', n);
	size_t hl = nl ? (size_t)(nl - d) : n;
	char *name = strndup((const char *)d, hl);
	const uint8_t *p = nl ? nl + 1 : d + n, *end = d + n;
	tds_anon_scan *s;
	tds_anon_scan_opts so = {.now_ms = NOW};
	if (tds_anon_scan_new(r, (const char *const *)&name, 1, &so, &s)) {
		if (tds_utf8_valid(name, strlen(name)))
			abort();
		free(name);
		return;
	}
	while (p < end) {
		const uint8_t *e = memchr(p, '\n', (size_t)(end - p));
		size_t len = e ? (size_t)(e - p) : (size_t)(end - p);
		char *v = malloc(len ? len : 1); /* exact size: ASan sees any over-read */
		memcpy(v, p, len);
		uint64_t m = tds_anon_scan_value(s, 0, v, len);
		if (m & (m - 1)) /* every default detector is exclusive: at most one matches */
			abort();
		for (size_t i = 0; i < tds_anon_rules_count(r); i++)
			tds_anon_detect(r, tds_anon_rules_detector_id(r, i), name, v, len, NOW);
		tds_anon_luhn_valid(v, len);
		tds_anon_gb11643_check(v, len);
		tds_anon_gb32100_check(v, len);
		for (int k = TDS_ANON_MASK_NONE; k <= TDS_ANON_MASK_HASH; k++) {
			tds_anon_mask mk = {(tds_anon_mask_method)k, 1 + (int)(len % 3), (int)(len % 5)};
			tds_buf b = TDS_BUF_INIT;
			int rc = tds_anon_mask_apply(&mk, v, len, &b);
			if (rc && k != TDS_ANON_MASK_HASH)
				abort();
			if (k == TDS_ANON_MASK_SUPPRESS && (b.len != 1 || b.data[0] != '*'))
				abort();
			tds_buf_free(&b);
		}
		free(v);
		p = e ? e + 1 : end;
	}
	tds_anon_table *t;
	if (tds_anon_scan_finish(s, &t))
		abort();
	roundtrip(t);
	tds_anon_table_free(t);
	tds_anon_scan_free(s);
	free(name);
}

static void fuzz_json(const uint8_t *d, size_t n)
{
	json_t *j;
	if (tds_json_parse((const char *)d, n, &j))
		return;
	tds_anon_table *t;
	if (tds_anon_table_from_json(rules(), j, &t) == 0) {
		roundtrip(t);
		tds_anon_table_free(t);
	}
	const char *v[] = {"13812345678", "13912345678"};
	if (tds_anon_scan_column(rules(), "手机号", v, NULL, 2, NULL, &t))
		abort();
	if (tds_anon_override_json(t, j) == 0) {
		const tds_anon_summary *s = tds_anon_table_summary(t);
		if (s->columns_overridden != 1 || !tds_anon_table_column(t, 0)->override_reason)
			abort();
		roundtrip(t);
	}
	tds_anon_table_free(t);
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint8_t *copy = malloc(size - 1);
	memcpy(copy, data + 1, size - 1);
	switch (data[0] & 3) {
	case 0:
		fuzz_csv(copy + 1, size - 2, 1 + data[1] % 64);
		break;
	case 1:
		fuzz_rules(copy, size - 1);
		break;
	case 2:
		fuzz_values(copy, size - 1);
		break;
	default:
		fuzz_json(copy, size - 1);
		break;
	}
	free(copy);
	return 0;
}
