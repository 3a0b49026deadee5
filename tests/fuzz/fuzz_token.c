/*
 * fuzz_token.c — libFuzzer target for authorization tokens (contract/token.c): arbitrary bytes go
 * through tds_contract_token_verify against a fixed Ed25519 and a fixed SM2 operator key, at a fixed
 * time. Any input must be accepted or refused with one of the documented errors, never crash, leak
 * or read out of bounds; a refusal leaves the claims zeroed; what is accepted must hold together:
 * its claims re-issue (under the same key) into a token that verifies to the same claims, and the
 * binding check answers for its own audience.
 *
 * The keys are fixed (the RFC 8032 test 1 Ed25519 seed, a fixed SM2 scalar) so that seeds issued with
 * them (tests/fuzz/corpus/fuzz_token) reach the signature check; time is FUZZ_NOW.
 */
#include "contract/contract.h"

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

static const char *const CODES[] = {"token_too_large",	  "token_malformed",	 "token_bad_encoding",
				    "token_bad_json",	  "token_not_canonical", "token_bad_claims",
				    "token_unknown_key",  "token_alg_mismatch",	 "token_bad_signature",
				    "token_not_yet_valid", "token_expired"};

static void verify_with(const char *tok, size_t len, const tds_key *op)
{
	tds_token_claims c;
	int rc = tds_contract_token_verify(tok, len, op, FUZZ_NOW, &c);
	if (rc) {
		bool known = false;
		for (size_t i = 0; i < sizeof CODES / sizeof *CODES; i++)
			known |= strcmp(tds_error_name(), CODES[i]) == 0;
		if (!known || c.id[0] || c.contract_id[0])
			abort(); /* an undocumented refusal, or something left behind */
		return;
	}
	/* accepted: the claims are coherent and issue again into a token with the same claims */
	tds_buf again = TDS_BUF_INIT;
	tds_token_claims d;
	if (tds_contract_token_issue(&c, op, &again) ||
	    tds_contract_token_verify(again.data, again.len, op, FUZZ_NOW, &d) || strcmp(c.id, d.id) ||
	    strcmp(c.contract_id, d.contract_id) || c.version != d.version || c.actions != d.actions ||
	    c.expires_at_ms != d.expires_at_ms || strcmp(c.org, d.org) || strcmp(c.audience, d.audience))
		abort();
	/* canonical claims and a deterministic signature algorithm (Ed25519) give the same bytes */
	if (tds_key_suite(op) == TDS_SUITE_INTL && (again.len != len || memcmp(again.data, tok, len)))
		abort();
	if (tds_contract_token_check_binding(&c, c.audience, c.connector[0] ? c.connector : NULL))
		abort();
	tds_buf_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ed_op && (tds_key_from_private_raw(TDS_SUITE_INTL, ED_SEED, sizeof ED_SEED, &ed_op) ||
		       tds_key_from_private_raw(TDS_SUITE_GM, SM2_D, sizeof SM2_D, &sm2_op)))
		abort();
	verify_with((const char *)data, size, ed_op);
	verify_with((const char *)data, size, sm2_op);
	return 0;
}
