/*
 * fuzz_identity_codes.c — libFuzzer target for identity's parsers of outside input: the unified
 * social credit code and resident ID number validators, certificate dates, document hashes,
 * qualification type and review decision names, and the role requirements spec. Every input must be
 * accepted or refused with an error, never crash or read past its bytes (each validator gets a copy
 * of exactly `size` bytes, so ASan sees any over-read); what is accepted must obey the format.
 */
#include "identity/identity.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char USCC_CHARS[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *exact = malloc(size ? size : 1); /* no terminator: the validators take a length */
	memcpy(exact, data, size);
	if (tds_identity_check_uscc(exact, size) == 0) {
		if (size != 18)
			abort();
		for (size_t i = 0; i < 18; i++)
			if (!exact[i] || !strchr(USCC_CHARS, exact[i]))
				abort();
	}
	/* a fixed clock keeps the run reproducible: 2026-06-15 Beijing */
	if (tds_identity_check_resident_id(exact, size, 1781496000000LL) == 0) {
		if (size != 18)
			abort();
		char masked[19];
		tds_identity_mask_resident_id(exact, masked);
		if (strlen(masked) != 18 || memcmp(masked + 6, "********", 8) != 0)
			abort();
	}
	int64_t ms;
	if (tds_identity_parse_date(exact, size, &ms) == 0 && size != 10)
		abort();
	if (tds_identity_check_doc_hash(exact, size) == 0 && size != 64)
		abort();
	free(exact);

	/* the NUL-terminated parsers */
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = 0;
	tds_identity_requirements req;
	if (tds_identity_requirements_parse(text, &req) == 0) {
		for (unsigned i = 0; i < TDS_ROLES_ALL_NAMES; i++)
			if (req.role[i].n > TDS_IDENTITY_REQ_MAX)
				abort();
		json_t *j = tds_identity_requirements_json(&req);
		if (!j)
			abort();
		json_decref(j);
	}
	tds_qual_type t;
	if (tds_identity_qual_type_parse(text, &t) == 0 && !tds_identity_qual_type_name(t))
		abort();
	tds_review_decision d;
	tds_identity_decision_parse(text, &d);
	tds_identity_check_username(text);
	tds_identity_check_password(text);
	free(text);
	tds_error_clear();
	return 0;
}
