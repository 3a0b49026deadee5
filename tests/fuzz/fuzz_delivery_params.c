/*
 * fuzz_delivery_params.c — libFuzzer target for the delivery module's parameter binding and mask
 * rules (src/delivery/delivery.c). The input is JSON text {"declared":[{"name","type","required"}],
 * "given":{…},"rule":"…","value":"…"} (anything else is fed to the mask-rule parser as a rule):
 * declared parameters with valid names become a SELECT of those parameters on an in-memory
 * database; the given ones are bound through dlv_bind_params. Any input must be bound or refused
 * with one of the documented codes, never crash, leak or read out of bounds; what is bound must
 * come back with the declared type (integer → INTEGER, decimal → INTEGER or REAL, boolean → 0/1,
 * text/date/datetime → TEXT), a date must be 10 bytes, and a parameter not given must be NULL.
 */
#include "delivery/internal.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const CODES[] = {"invalid_parameters", "unknown_parameter", "missing_parameter",
				    "invalid_parameter_type"};

static void rule(const char *r, const char *value)
{
	tds_anon_mask m;
	int rc = tds_delivery_mask_rule_parse(r, &m);
	if (rc) {
		if (strcmp(tds_error_name(), "invalid_mask_rule"))
			abort();
		return;
	}
	if (m.method == TDS_ANON_MASK_KEEP && (m.first < 0 || m.last < 0 || m.first > 64 || m.last > 64 || !(m.first + m.last)))
		abort();
	tds_buf b = TDS_BUF_INIT;
	static const uint8_t key[32] = {1};
	if (value && (m.method == TDS_ANON_MASK_HASH
			  ? tds_delivery_pseudonym(TDS_SUITE_GM, key, "ctr_01JAAAAAAAAAAAAAAAAAAAAAAA", value, strlen(value), &b) ||
				b.len != 32
			  : tds_anon_mask_apply(&m, value, strlen(value), &b) != 0))
		abort();
	tds_buf_free(&b);
}

static void bind(const json_t *declared, const json_t *given)
{
	if (!json_is_array(declared) || json_array_size(declared) > 16)
		return;
	tds_buf sql = TDS_BUF_INIT;
	tds_buf_puts(&sql, "SELECT 0");
	size_t i;
	json_t *p;
	json_array_foreach(declared, i, p) {
		const char *n = json_string_value(json_object_get(p, "name"));
		if (!n || !tds_product_param_name_valid(n)) {
			tds_buf_free(&sql);
			return;
		}
		tds_buf_printf(&sql, ", :%s", n);
	}
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	if (sqlite3_open(":memory:", &db) != SQLITE_OK || sqlite3_prepare_v2(db, sql.data, -1, &st, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		tds_buf_free(&sql); /* duplicate names make one parameter: fine, but not this target's business */
		return;
	}
	tds_buf_free(&sql);
	const char *rf = NULL;
	int rc = dlv_bind_params(st, declared, given, &rf);
	if (rc) {
		bool known = false;
		for (size_t k = 0; k < sizeof CODES / sizeof *CODES; k++)
			known = known || !strcmp(tds_error_name(), CODES[k]);
		if (rc != TDS_EINVAL || !known)
			abort();
	} else if (sqlite3_step(st) == SQLITE_ROW) {
		json_array_foreach(declared, i, p) {
			const char *n = json_string_value(json_object_get(p, "name")), *t = json_string_value(json_object_get(p, "type"));
			int ct = sqlite3_column_type(st, (int)i + 1);
			const json_t *v = given ? json_object_get(given, n) : NULL;
			if (!v || json_is_null(v)) {
				if (ct != SQLITE_NULL)
					abort();
				continue;
			}
			if (!t)
				t = "text";
			if ((!strcmp(t, "integer") && ct != SQLITE_INTEGER) ||
			    (!strcmp(t, "decimal") && ct != SQLITE_INTEGER && ct != SQLITE_FLOAT) ||
			    (!strcmp(t, "boolean") && (ct != SQLITE_INTEGER || sqlite3_column_int64(st, (int)i + 1) > 1)) ||
			    (!strcmp(t, "date") && (ct != SQLITE_TEXT || sqlite3_column_bytes(st, (int)i + 1) != 10)))
				abort();
		}
	}
	(void)rf;
	sqlite3_finalize(st);
	sqlite3_close(db);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	json_t *in = NULL;
	if (tds_json_parse((const char *)data, size, &in)) {
		char *r = malloc(size + 1);
		if (!r)
			return 0;
		memcpy(r, data, size);
		r[size] = 0;
		rule(r, "11010119900307299X");
		free(r);
		return 0;
	}
	if (json_is_object(in)) {
		bind(json_object_get(in, "declared"), json_object_get(in, "given"));
		const char *r = json_string_value(json_object_get(in, "rule"));
		if (r)
			rule(r, json_string_value(json_object_get(in, "value")));
	}
	json_decref(in);
	return 0;
}
