/*
 * fuzz_pem_key.c — libFuzzer target for everything in the crypto room that parses outside input:
 * PEM key import (text as given, and arbitrary DER wrapped in each PEM label so the fuzzer reaches
 * the ASN.1 decoders without a corpus), raw public and private keys, signature verification (the
 * input as a signature, and as a message), AEAD open and sealed-secret unsealing. Any input must be
 * accepted or refused with an error, never crash, leak or read out of bounds; a key that loads must
 * survive a PEM round trip and verify its own signatures.
 *
 * The first input byte picks the mode, the rest is the payload.
 */
#include "crypto/crypto.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tds_key *fixed_key[3]; /* indexed by suite; made once, reachable for the whole run */

static const tds_key *key_for(tds_suite s)
{
	if (!fixed_key[s] && tds_key_generate(s, &fixed_key[s]) != 0)
		abort();
	return fixed_key[s];
}

/* A key that loaded must behave: PEM round trip to the same id, signatures that verify. */
static void exercise(const tds_key *k)
{
	char id[TDS_KEY_ID_LEN + 1], id2[TDS_KEY_ID_LEN + 1];
	tds_buf pem = TDS_BUF_INIT, sig = TDS_BUF_INIT, raw = TDS_BUF_INIT;
	tds_key *again = NULL;
	if (tds_key_id(k, id) || tds_key_public_pem(k, &pem) || tds_key_from_pem(pem.data, pem.len, &again) ||
	    tds_key_id(again, id2) || strcmp(id, id2) != 0)
		abort();
	tds_key_free(again);
	again = NULL;
	if (tds_key_public_raw(k, &raw) ||
	    tds_key_from_public_raw(tds_key_suite(k), (const uint8_t *)raw.data, raw.len, &again))
		abort();
	if (tds_key_has_private(k)) {
		if (tds_sign(k, "fuzz", 4, &sig) || tds_verify(again, "fuzz", 4, (const uint8_t *)sig.data, sig.len))
			abort();
		tds_buf_reset(&pem);
		if (tds_key_private_pem(k, &pem))
			abort();
	}
	tds_key_free(again);
	tds_buf_free(&pem);
	tds_buf_free(&sig);
	tds_buf_free(&raw);
}

static void try_pem(const char *text, size_t len)
{
	tds_key *k = NULL;
	if (tds_key_from_pem(text, len, &k) == 0) {
		exercise(k);
		tds_key_free(k);
	} else if (k) {
		abort(); /* failure must leave *out NULL */
	}
}

/* Wraps DER bytes (base64) in a PEM block with the given label. */
static void try_der(const char *label, const uint8_t *der, size_t len)
{
	tds_buf pem = TDS_BUF_INIT;
	if (tds_buf_printf(&pem, "-----BEGIN %s-----\n", label) == 0 && tds_b64_encode(der, len, &pem) == 0 &&
	    tds_buf_printf(&pem, "\n-----END %s-----\n", label) == 0)
		try_pem(pem.data, pem.len);
	tds_buf_free(&pem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	tds_suite suite = (mode & 0x10) ? TDS_SUITE_INTL : TDS_SUITE_GM;
	static const char *const labels[] = {"PUBLIC KEY", "PRIVATE KEY", "EC PRIVATE KEY", "SM2 PRIVATE KEY"};
	tds_key *k = NULL;
	tds_buf out = TDS_BUF_INIT;

	switch (mode & 0x0f) {
	case 0: /* PEM text as given */
		try_pem((const char *)p, n);
		break;
	case 1: /* arbitrary DER under each key label */
	case 2:
	case 3:
	case 4:
		try_der(labels[(mode & 0x0f) - 1], p, n);
		break;
	case 5: /* raw public key */
		if (tds_key_from_public_raw(suite, p, n, &k) == 0)
			exercise(k);
		break;
	case 6: /* raw private key */
		if (tds_key_from_private_raw(suite, p, n, &k) == 0)
			exercise(k);
		break;
	case 7: /* the input as a signature of a fixed message */
		if (tds_verify(key_for(suite), "message", 7, p, n) == 0)
			abort(); /* a forgery */
		break;
	case 8: { /* the input as a message, with a real signature of something else */
		tds_buf sig = TDS_BUF_INIT;
		if (tds_sign(key_for(suite), "message", 7, &sig) != 0)
			abort();
		int rc = tds_verify(key_for(suite), p, n, (const uint8_t *)sig.data, sig.len);
		if (rc == 0 && !(n == 7 && memcmp(p, "message", 7) == 0))
			abort();
		tds_buf_free(&sig);
		break;
	}
	case 9: { /* AEAD open of arbitrary ciphertext */
		static const uint8_t key[32], nonce[12];
		uint8_t *pt = malloc(n + 1);
		if (tds_aead_open(suite, key, nonce, NULL, 0, p, n, pt) == 0 && n < TDS_AEAD_TAG_LEN)
			abort();
		free(pt);
		break;
	}
	case 10: { /* sealed secrets */
		static const uint8_t master[32];
		tds_unseal(master, "fuzz", p, n, &out);
		break;
	}
	default:
		break;
	}
	tds_key_free(k);
	tds_buf_free(&out);
	return 0;
}
