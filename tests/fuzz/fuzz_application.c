/*
 * fuzz_application.c — libFuzzer target for the authorization application's parser and the
 * minimum-necessary check (op_application_normalise, tds_operation_check). Any bytes are parsed as
 * outside JSON (tds_json_parse); an object is checked for shape, and a well-formed one is checked
 * against fixed catalog entries (a product with declared and sensitive fields, a public item without
 * fields, a withdrawn entry): the check must answer (never crash, leak or loop), the normalised
 * application must parse again to itself, and every issue must carry a known code, a JSONPath
 * starting at "$" and a reason.
 */
#include "operation/internal.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char ENTRIES[] =
    "[{\"kind\":\"product\",\"id\":\"prd_01JAAAAAAAAAAAAAAAAAAAAAAA\",\"org_id\":\"org_01JTAXAAAAAAAAAAAAAAAAAAAA\","
    "\"fields\":[{\"name\":\"name\",\"label\":\"企业名称\"},{\"name\":\"id_no\",\"label\":\"身份证号\"}],"
    "\"scenarios\":[\"credit-risk\"],\"grade\":\"一般\"},"
    "{\"kind\":\"public_item\",\"id\":\"pub_01JAAAAAAAAAAAAAAAAAAAAAAA\",\"org_id\":\"org_01JTAXAAAAAAAAAAAAAAAAAAAA\","
    "\"fields\":[],\"authorization_type\":\"有条件开放\"},"
    "null,"
    "{\"kind\":\"product\",\"id\":\"prd_01JBAAAAAAAAAAAAAAAAAAAAAA\",\"withdrawn\":true}]";

static const char *const CODES[] = {
    "qualification_missing", "qualification_invalid", "security_measure_missing", "entry_not_found",
    "entry_withdrawn", "entry_kind_refused", "own_entry", "entry_not_authorizable", "need_repeated",
    "purpose_not_in_entry", "fields_missing", "field_not_in_entry", "field_repeated", "field_justification_missing",
    "period_empty", "period_too_long", "period_ended"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *in = NULL, *app = NULL, *again = NULL, *issues = NULL;
	if (tds_json_parse((const char *)data, size, &in))
		return 0;
	if (op_application_normalise(in, &app) == 0) {
		if (op_application_normalise(app, &again) || !json_equal(app, again))
			abort(); /* the normalised form is a fixed point */
		json_t *base = json_loads(ENTRIES, 0, NULL), *entries = json_array();
		if (!base || !entries)
			abort();
		/* needs[i] sees entry i mod 4 */
		for (size_t i = 0; i < json_array_size(json_object_get(app, "needs")); i++)
			json_array_append(entries, json_array_get(base, i % 4));
		bool qok[16];
		for (size_t i = 0; i < 16; i++)
			qok[i] = (data[0] + i) % 2;
		if (tds_operation_check(app, entries, "org_01JBANKAAAAAAAAAAAAAAAAAAA", qok, 1767225600000LL, &issues))
			abort();
		size_t i;
		json_t *is;
		json_array_foreach(issues, i, is) {
			const char *code = tds_json_str(is, "code", ""), *path = tds_json_str(is, "path", "");
			bool known = false;
			for (size_t k = 0; k < sizeof CODES / sizeof CODES[0]; k++)
				known |= !strcmp(code, CODES[k]);
			if (!known || path[0] != '$' || !tds_json_str(is, "reason", NULL))
				abort();
		}
		json_decref(base);
		json_decref(entries);
	}
	json_decref(in);
	json_decref(app);
	json_decref(again);
	json_decref(issues);
	return 0;
}
