/*
 * hash.c — SM3 / SHA-256 hashing (one-shot and incremental), HMAC and HKDF with the suite's hash.
 * The one-shot path is on the ledger's hot path (millions of Merkle nodes): it goes through
 * libgcrypt's stateless gcry_md_hash_buffers (no allocation, no shared state). The incremental
 * context reuses one EVP_MD_CTX and the EVP_MD fetched at initialisation.
 * Not for keyed hashing beyond HMAC/HKDF, nor for password hashing.
 */
#include "crypto/internal.h"

#include <gcrypt.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <stdlib.h>

struct tds_hash_ctx {
	EVP_MD_CTX *md;
	tds_suite suite;
};

static int gcry_algo(tds_suite suite) { return suite == TDS_SUITE_GM ? GCRY_MD_SM3 : GCRY_MD_SHA256; }

const char *tds_hash_alg(tds_suite suite)
{
	switch (suite) {
	case TDS_SUITE_GM: return "sm3";
	case TDS_SUITE_INTL: return "sha256";
	}
	return NULL;
}

int tds_hash2(tds_suite suite, const void *a, size_t alen, const void *b, size_t blen,
	      uint8_t out[TDS_HASH_LEN])
{
	int rc = tds_crypto_enter(suite);
	if (rc)
		return rc;
	static const uint8_t empty[1];
	gcry_buffer_t iov[2] = {
		{.size = 0, .off = 0, .len = alen, .data = alen ? (void *)a : (void *)empty},
		{.size = 0, .off = 0, .len = blen, .data = blen ? (void *)b : (void *)empty},
	};
	gcry_error_t e = gcry_md_hash_buffers(gcry_algo(suite), 0, out, iov, 2);
	if (e)
		return tds_error_set(TDS_ECRYPTO, "crypto_library_error", "%s hash failed: %s",
				     tds_hash_alg(suite), gcry_strerror(e));
	return 0;
}

int tds_hash(tds_suite suite, const void *data, size_t len, uint8_t out[TDS_HASH_LEN])
{
	return tds_hash2(suite, data, len, NULL, 0, out);
}

/* ---- incremental ---- */

tds_hash_ctx *tds_hash_new(tds_suite suite)
{
	if (tds_crypto_enter(suite))
		return NULL;
	tds_hash_ctx *ctx = calloc(1, sizeof *ctx);
	if (!ctx) {
		tds_error_set(TDS_ENOMEM, NULL, "out of memory allocating a hash context");
		return NULL;
	}
	ctx->suite = suite;
	ctx->md = EVP_MD_CTX_new();
	if (!ctx->md || !EVP_DigestInit_ex2(ctx->md, tds_crypto_md(suite), NULL)) {
		tds_crypto_ossl_fail("EVP_DigestInit_ex2");
		tds_hash_free(ctx);
		return NULL;
	}
	return ctx;
}

int tds_hash_update(tds_hash_ctx *ctx, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	if (!EVP_DigestUpdate(ctx->md, data, len))
		return tds_crypto_ossl_fail("EVP_DigestUpdate");
	return 0;
}

int tds_hash_final(tds_hash_ctx *ctx, uint8_t out[TDS_HASH_LEN])
{
	unsigned int n = 0;
	if (!EVP_DigestFinal_ex(ctx->md, out, &n) || n != TDS_HASH_LEN)
		return tds_crypto_ossl_fail("EVP_DigestFinal_ex");
	/* Reset for the next message: same EVP_MD, same EVP_MD_CTX. */
	if (!EVP_DigestInit_ex2(ctx->md, tds_crypto_md(ctx->suite), NULL))
		return tds_crypto_ossl_fail("EVP_DigestInit_ex2");
	return 0;
}

void tds_hash_free(tds_hash_ctx *ctx)
{
	if (!ctx)
		return;
	EVP_MD_CTX_free(ctx->md);
	free(ctx);
}

/* ---- HMAC, HKDF ---- */

int tds_hmac(tds_suite suite, const void *key, size_t klen, const void *data, size_t dlen,
	     uint8_t out[TDS_HASH_LEN])
{
	int rc = tds_crypto_enter(suite);
	if (rc)
		return rc;
	if (klen > INT_MAX)
		return tds_error_set(TDS_EINVAL, "invalid_key", "HMAC key of %zu bytes is too long", klen);
	static const uint8_t empty[1];
	unsigned int n = 0;
	if (!HMAC(tds_crypto_md(suite), klen ? key : empty, (int)klen, dlen ? data : empty, dlen, out,
		  &n) || n != TDS_HASH_LEN)
		return tds_crypto_ossl_fail("HMAC");
	return 0;
}

int tds_hkdf(tds_suite suite, const void *salt, size_t slen, const void *ikm, size_t ilen,
	     const void *info, size_t infolen, uint8_t *out, size_t outlen)
{
	int rc = tds_crypto_enter(suite);
	if (rc)
		return rc;
	if (outlen == 0 || outlen > 255 * TDS_HASH_LEN)
		return tds_error_set(TDS_EINVAL, "invalid_length",
				     "HKDF output length %zu is out of range 1..%d", outlen, 255 * TDS_HASH_LEN);
	static const uint8_t zero_salt[TDS_HASH_LEN];
	static uint8_t empty[1];
	OSSL_PARAM params[5], *p = params;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)EVP_MD_get0_name(tds_crypto_md(suite)), 0);
	/* RFC 5869 §2.2: a missing salt is HashLen zeros (OpenSSL refuses an empty one). */
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
						 slen ? (void *)salt : (void *)zero_salt,
						 slen ? slen : sizeof zero_salt);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ilen ? (void *)ikm : empty, ilen);
	if (infolen)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen);
	*p = OSSL_PARAM_construct_end();

	EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(tds_crypto_hkdf_kdf());
	if (!kctx)
		return tds_crypto_ossl_fail("EVP_KDF_CTX_new");
	if (EVP_KDF_derive(kctx, out, outlen, params) != 1)
		rc = tds_crypto_ossl_fail("HKDF");
	EVP_KDF_CTX_free(kctx);
	return rc;
}
