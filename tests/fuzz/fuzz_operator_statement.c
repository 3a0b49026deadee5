/*
 * fuzz_operator_statement.c — libFuzzer target for the operator statements a connector reads
 * (identity/nodekeys.c, format in identity.h): arbitrary bytes are parsed as JSON (tds_json_parse,
 * as the HTTP client does) and checked by tds_nodekeys_statement_verify as a tds.cert_status and as a
 * tds.revocations statement under a fixed SM2 and a fixed Ed25519 operator key. Any input must be
 * accepted or refused with an error, never crash, leak or read out of bounds, and an accepted one
 * must be the inner object of the type asked for, naming the operator.
 *
 * The keys are fixed (the RFC 8032 test 1 Ed25519 seed, the fixed SM2 scalar of fuzz_cert) so that
 * the seeds (tests/fuzz/corpus/fuzz_operator_statement, signed with them at FUZZ_NOW) reach the
 * signature check.
 */
#include "identity/identity.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW 1767225600000LL
#define FUZZ_OPERATOR "node_01KDWKQ0000000000000000000"

static tds_key *ed_op, *sm2_op;

static const uint8_t ED_SEED[32] = {0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a,
				     0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32,
				     0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};
static const uint8_t SM2_D[32] = {0x39, 0x45, 0x20, 0x8f, 0x7b, 0x21, 0x44, 0xb1, 0x3f, 0x36, 0xe3,
				   0x8a, 0xc6, 0xd3, 0x9f, 0x95, 0x88, 0x93, 0x93, 0x69, 0x28, 0x60,
				   0xb5, 0x1a, 0x42, 0xfb, 0x81, 0xef, 0x4d, 0xf7, 0xc5, 0xb8};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ed_op && (tds_key_from_private_raw(TDS_SUITE_INTL, ED_SEED, sizeof ED_SEED, &ed_op) ||
		       tds_key_from_private_raw(TDS_SUITE_GM, SM2_D, sizeof SM2_D, &sm2_op)))
		abort();
	json_t *doc = NULL;
	if (tds_json_parse((const char *)data, size, &doc))
		return 0;
	static const char *const TYPES[] = {"tds.cert_status", "tds.revocations"};
	const tds_key *keys[] = {ed_op, sm2_op};
	for (size_t t = 0; t < 2; t++)
		for (size_t k = 0; k < 2; k++) {
			const json_t *st = (const json_t *)1;
			int rc = tds_nodekeys_statement_verify(doc, TYPES[t], FUZZ_OPERATOR, keys[k], FUZZ_NOW, &st);
			if (rc == 0 && (!json_is_object(st) || strcmp(tds_json_str(st, "type", ""), TYPES[t]) != 0 ||
					strcmp(tds_json_str(st, "issuer", ""), FUZZ_OPERATOR) != 0))
				abort();
			if (rc != 0 && st)
				abort(); /* a refusal hands out nothing */
		}
	json_decref(doc);
	return 0;
}
