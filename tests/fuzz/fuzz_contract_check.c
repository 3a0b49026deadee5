/*
 * fuzz_contract_check.c — libFuzzer target for the contract engine's checks and diff on the terms a
 * party proposes (tds_contract_check, tds_contract_json_diff). Any bytes are parsed as outside JSON
 * (tds_json_parse); an object's members clauses, policy, validity and violation_policy replace those
 * of a fixed draft, and the result is checked against a fixed product entry and template: the check
 * must answer (never crash, leak or loop), every issue must carry a known code, a JSONPath starting
 * at "$" and a reason; a document diffed with itself has no changes, and every change of the diff
 * against the draft has an op and a "$" path.
 */
#include "contract/contract.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char DRAFT[] =
    "{\"type\":\"tds.contract/1\",\"id\":\"ctr_01JAAAAAAAAAAAAAAAAAAAAAAA\",\"version\":1,"
    "\"template\":{\"id\":\"tpl_00000000000000000000000AP1\",\"version\":1,\"form\":\"api\"},"
    "\"order_id\":\"ord_01JAAAAAAAAAAAAAAAAAAAAAAA\",\"provider\":{\"org_id\":\"org_01JTAXAAAAAAAAAAAAAAAAAAAA\"},"
    "\"consumer\":{\"org_id\":\"org_01JBANKAAAAAAAAAAAAAAAAAAA\"},\"service\":[],"
    "\"product\":{\"id\":\"prd_01JAAAAAAAAAAAAAAAAAAAAAAA\",\"code\":null,\"version\":1,\"form\":\"api\"},"
    "\"clauses\":{\"data_use_rules\":\"a\",\"security_duties\":\"b\",\"performance_supervision\":\"c\","
    "\"breach_handling\":\"d\"},"
    "\"policy\":{\"uid\":\"ctr_01JAAAAAAAAAAAAAAAAAAAAAAA/v1\",\"permission\":[{\"action\":[\"query\"],\"constraint\":["
    "{\"leftOperand\":\"dateTime\",\"operator\":\"gteq\",\"rightOperand\":\"2026-12-01T00:00:00Z\"},"
    "{\"leftOperand\":\"dateTime\",\"operator\":\"lt\",\"rightOperand\":\"2027-12-01T00:00:00Z\"},"
    "{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"credit-risk\"},"
    "{\"leftOperand\":\"field\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"name\",\"tax_amount\"]}]}],"
    "\"obligation\":[{\"action\":\"log\"}]},"
    "\"validity\":{\"from\":\"2026-12-01T00:00:00Z\",\"to\":\"2027-12-01T00:00:00Z\"},"
    "\"violation_policy\":{\"freeze_after\":3}}";
static const char ENTRY[] = "{\"kind\":\"product\",\"id\":\"prd_01JAAAAAAAAAAAAAAAAAAAAAAA\",\"form\":\"api\","
			    "\"fields\":[{\"name\":\"name\"},{\"name\":\"tax_amount\"},{\"name\":\"id_no\"}],"
			    "\"scenarios\":[\"credit-risk\",\"anti-fraud\"]}";
static const char TEMPLATE[] = "{\"policy_defaults\":{\"max_validity_days\":366}}";

static const char *const CODES[] = {"clause_missing",	      "validity_invalid",	"validity_empty",
				    "validity_too_long",      "violation_policy_invalid", "policy_invalid",
				    "action_not_allowed",     "field_not_in_product",	"purpose_not_in_product",
				    "purpose_unrestricted",   "recipient_not_party",	"window_missing",
				    "policy_window_outside"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static json_t *draft, *entry, *tpl;
	if (!draft) {
		draft = json_loads(DRAFT, 0, NULL);
		entry = json_loads(ENTRY, 0, NULL);
		tpl = json_loads(TEMPLATE, 0, NULL);
		if (!draft || !entry || !tpl)
			abort();
	}
	char *copy = malloc(size ? size : 1); /* exact size: reads past the input are caught */
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	json_t *in = NULL;
	int rc = tds_json_parse(copy, size, &in);
	free(copy);
	if (rc)
		return 0;
	json_t *doc = json_deep_copy(draft);
	static const char *const members[] = {"clauses", "policy", "validity", "violation_policy"};
	for (size_t i = 0; json_is_object(in) && i < 4; i++)
		if (json_object_get(in, members[i]))
			json_object_set(doc, members[i], json_object_get(in, members[i]));
	json_t *issues = NULL;
	if (tds_contract_check(doc, entry, tpl, &issues) || !json_is_array(issues))
		abort();
	size_t i;
	json_t *it;
	json_array_foreach(issues, i, it) {
		const char *code = json_string_value(json_object_get(it, "code")),
			   *path = json_string_value(json_object_get(it, "path")),
			   *reason = json_string_value(json_object_get(it, "reason"));
		bool known = false;
		for (size_t k = 0; code && k < sizeof CODES / sizeof *CODES; k++)
			known |= !strcmp(code, CODES[k]);
		if (!known || !path || path[0] != '$' || !reason || !*reason)
			abort();
	}
	json_t *same = tds_contract_json_diff(doc, doc), *changes = tds_contract_json_diff(draft, doc);
	if (!same || json_array_size(same) || !changes)
		abort();
	json_array_foreach(changes, i, it) {
		const char *op = json_string_value(json_object_get(it, "op")), *path = json_string_value(json_object_get(it, "path"));
		if (!op || !path || path[0] != '$')
			abort();
	}
	json_decref(same);
	json_decref(changes);
	json_decref(issues);
	json_decref(doc);
	json_decref(in);
	return 0;
}
