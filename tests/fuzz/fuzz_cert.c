/*
 * fuzz_cert.c — libFuzzer target for node certificates (crypto/cert.c): arbitrary bytes go through
 * tds_cert_parse, tds_cert_parse_verify against a fixed SM2 and a fixed Ed25519 operator key, and
 * tds_cert_hash. Any input must be accepted or refused with an error, never crash, leak or read out
 * of bounds, and what is accepted must hold together: a parsed statement validates again, hashes,
 * and a verified one yields its subject key.
 *
 * The operator keys are fixed (the RFC 8032 test 1 Ed25519 seed, a fixed SM2 scalar) so that seeds
 * issued with them (tests/fuzz/corpus/fuzz_cert) reach the signature check; time is FUZZ_NOW.
 */
#include "crypto/crypto.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW 1767225600000LL

static tds_key *ed_op, *sm2_op;

static const uint8_t ED_SEED[32] = {0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a,
				     0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32,
				     0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};
static const uint8_t SM2_D[32] = {0x39, 0x45, 0x20, 0x8f, 0x7b, 0x21, 0x44, 0xb1, 0x3f, 0x36, 0xe3,
				   0x8a, 0xc6, 0xd3, 0x9f, 0x95, 0x88, 0x93, 0x93, 0x69, 0x28, 0x60,
				   0xb5, 0x1a, 0x42, 0xfb, 0x81, 0xef, 0x4d, 0xf7, 0xc5, 0xb8};

static void verify_with(const char *json, size_t len, const tds_key *issuer)
{
	tds_node_cert c;
	tds_key *sub = NULL;
	if (tds_cert_parse_verify(json, len, issuer, FUZZ_NOW, &c, &sub) == 0) {
		if (!sub || tds_key_suite(sub) != c.key_suite)
			abort();
		char kid[TDS_KEY_ID_LEN + 1];
		if (tds_key_id(sub, kid) || strcmp(kid, c.key_id) != 0)
			abort();
	} else if (sub || c.node_id[0]) {
		abort(); /* failure leaves nothing behind */
	}
	tds_key_free(sub);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ed_op && (tds_key_from_private_raw(TDS_SUITE_INTL, ED_SEED, sizeof ED_SEED, &ed_op) ||
		       tds_key_from_private_raw(TDS_SUITE_GM, SM2_D, sizeof SM2_D, &sm2_op)))
		abort();
	const char *json = (const char *)data;
	tds_node_cert c;
	uint8_t h[TDS_HASH_LEN];
	int parsed = tds_cert_parse(json, size, &c);
	int hashed = tds_cert_hash(json, size, h);
	if ((parsed == 0) != (hashed == 0))
		abort(); /* both accept exactly the well-formed certificates */
	if (parsed == 0) {
		json_t *st = tds_cert_statement_json(&c);
		if (!st)
			abort(); /* what parses, validates */
		json_decref(st);
	}
	verify_with(json, size, ed_op);
	verify_with(json, size, sm2_op);
	return 0;
}
