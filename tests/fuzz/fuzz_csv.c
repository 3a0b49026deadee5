/*
 * fuzz_csv.c — libFuzzer target for the CSV reader and its encoding detector: any bytes, read with
 * options chosen by the first input byte (encoding auto/UTF-8/GB18030, delimiter, header mode, a small
 * or default field limit), must give records or one error, never a crash or a read past the input.
 * Checked on the way: every field is NUL-terminated at its length and is valid UTF-8 (whatever the
 * input encoding, the reader hands out UTF-8), record lines never go backwards, a rewind reads the
 * same records again, the shape guess and the value classifier accept whatever the reader gives.
 */
#include "catalog/catalog.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t read_all(tds_csv *r, int *rc)
{
	tds_csv_record rec;
	uint64_t h = 1469598103934665603ull, last = 0;
	while ((*rc = tds_csv_next(r, &rec)) == 1) {
		if (rec.n < 1 || rec.line < last)
			abort();
		last = rec.line;
		for (size_t i = 0; i < rec.n; i++) {
			if (rec.field[i][rec.len[i]] != 0 || memchr(rec.field[i], 0, rec.len[i]) ||
			    !tds_utf8_valid(rec.field[i], rec.len[i]))
				abort();
			tds_value v;
			if (!tds_value_is_null(rec.field[i], rec.len[i]))
				tds_value_classify(rec.field[i], rec.len[i], &v);
			for (size_t k = 0; k < rec.len[i]; k++)
				h = (h ^ (uint8_t)rec.field[i][k]) * 1099511628211ull;
			h = (h ^ 0x100) * 1099511628211ull;
		}
		h = (h ^ rec.line) * 1099511628211ull;
	}
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const char delims[] = {',', ';', '|', '\t'};
	uint8_t sel = data[0];
	tds_csv_opts o = {.encoding = (tds_csv_encoding)(sel % 3), .delimiter = delims[(sel >> 2) & 3],
			  .header = (tds_csv_header)((sel >> 4) % 3), .max_field = (sel & 0x40) ? 64 : 0,
			  .max_columns = (sel & 0x80) ? 8 : 0, .report_ragged = sel & 1};
	tds_csv *r;
	if (tds_csv_open_mem(data + 1, size - 1, &o, &r))
		return 0;
	int rc1, rc2;
	uint64_t h1 = read_all(r, &rc1);
	if (tds_csv_rewind(r))
		abort();
	uint64_t h2 = read_all(r, &rc2);
	if (h1 != h2 || rc1 != rc2)
		abort(); /* reading is deterministic */
	if (tds_csv_rewind(r))
		abort();
	tds_csv_schema s;
	if (tds_csv_sniff(r, 50, &s) == 0) {
		for (size_t c = 0; c < s.ncols; c++) {
			size_t n = strlen(s.cols[c].name);
			if (n == 0 || n > 70 || !tds_utf8_valid(s.cols[c].name, n))
				abort();
			for (size_t k = 0; k < c; k++)
				if (strcasecmp(s.cols[k].name, s.cols[c].name) == 0)
					abort(); /* names are unique */
		}
		tds_csv_schema_free(&s);
	}
	tds_csv_free(r);
	char name[80];
	tds_sql_name((const char *)data, size, name, sizeof name);
	if (!tds_utf8_valid((const char *)data, size) ? false : !tds_utf8_valid(name, strlen(name)))
		abort();
	return 0;
}
