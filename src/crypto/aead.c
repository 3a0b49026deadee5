/*
 * aead.c — authenticated encryption: SM4-GCM (gm) through libgcrypt, since Debian's OpenSSL 3.0 has
 * no SM4-GCM, and AES-256-GCM (intl) through OpenSSL. 12-byte nonces and 16-byte tags only.
 * Not for nonce management (callers pick random or counter nonces) nor for streaming large files.
 */
#include "crypto/internal.h"

#include <gcrypt.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <string.h>

/* OpenSSL's EVP update functions take an int length: feed large inputs in pieces. */
#define OSSL_CHUNK ((size_t)1 << 30)

const char *tds_aead_alg(tds_suite suite)
{
	switch (suite) {
	case TDS_SUITE_GM: return "sm4-gcm";
	case TDS_SUITE_INTL: return "aes-256-gcm";
	}
	return NULL;
}

size_t tds_aead_key_len(tds_suite suite)
{
	switch (suite) {
	case TDS_SUITE_GM: return 16;
	case TDS_SUITE_INTL: return 32;
	}
	return 0;
}

static int gcry_fail(const char *what, gcry_error_t e)
{
	return tds_error_set(TDS_ECRYPTO, "crypto_library_error", "SM4-GCM %s failed: %s", what,
			     gcry_strerror(e));
}

/* SM4-GCM, both directions. On open, a tag mismatch returns 1 (not an error code). */
static int sm4gcm(bool enc, const uint8_t *key, const uint8_t *nonce, const void *aad, size_t aadlen,
		  const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
	gcry_cipher_hd_t h;
	gcry_error_t e = gcry_cipher_open(&h, GCRY_CIPHER_SM4, GCRY_CIPHER_MODE_GCM, 0);
	if (e)
		return gcry_fail("open", e);
	int rc = 0;
	if ((e = gcry_cipher_setkey(h, key, 16))) {
		rc = gcry_fail("setkey", e);
		goto done;
	}
	if ((e = gcry_cipher_setiv(h, nonce, TDS_AEAD_NONCE_LEN))) {
		rc = gcry_fail("setiv", e);
		goto done;
	}
	if (aadlen && (e = gcry_cipher_authenticate(h, aad, aadlen))) {
		rc = gcry_fail("authenticate", e);
		goto done;
	}
	if (len) {
		gcry_cipher_final(h);
		e = enc ? gcry_cipher_encrypt(h, out, len, in, len) : gcry_cipher_decrypt(h, out, len, in, len);
		if (e) {
			rc = gcry_fail(enc ? "encrypt" : "decrypt", e);
			goto done;
		}
	}
	if (enc) {
		if ((e = gcry_cipher_gettag(h, tag, TDS_AEAD_TAG_LEN)))
			rc = gcry_fail("gettag", e);
	} else {
		e = gcry_cipher_checktag(h, tag, TDS_AEAD_TAG_LEN);
		if (gcry_err_code(e) == GPG_ERR_CHECKSUM)
			rc = 1;
		else if (e)
			rc = gcry_fail("checktag", e);
	}
done:
	gcry_cipher_close(h);
	return rc;
}

/* AES-256-GCM, both directions. On open, a tag mismatch returns 1. */
static int aesgcm(bool enc, const uint8_t *key, const uint8_t *nonce, const void *aad, size_t aadlen,
		  const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	if (!c)
		return tds_crypto_ossl_fail("EVP_CIPHER_CTX_new");
	int rc = 0, n;
	const uint8_t *a = aad;
	if (!EVP_CipherInit_ex2(c, tds_crypto_aes256gcm(), key, nonce, enc ? 1 : 0, NULL)) {
		rc = tds_crypto_ossl_fail("AES-256-GCM init");
		goto done;
	}
	for (size_t off = 0; off < aadlen; off += OSSL_CHUNK) {
		size_t k = aadlen - off < OSSL_CHUNK ? aadlen - off : OSSL_CHUNK;
		if (!EVP_CipherUpdate(c, NULL, &n, a + off, (int)k)) {
			rc = tds_crypto_ossl_fail("AES-256-GCM aad");
			goto done;
		}
	}
	for (size_t off = 0; off < len; off += OSSL_CHUNK) {
		size_t k = len - off < OSSL_CHUNK ? len - off : OSSL_CHUNK;
		if (!EVP_CipherUpdate(c, out + off, &n, in + off, (int)k) || (size_t)n != k) {
			rc = tds_crypto_ossl_fail("AES-256-GCM update");
			goto done;
		}
	}
	if (enc) {
		if (!EVP_CipherFinal_ex(c, out + len, &n) ||
		    !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TDS_AEAD_TAG_LEN, tag))
			rc = tds_crypto_ossl_fail("AES-256-GCM final");
	} else {
		if (!EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TDS_AEAD_TAG_LEN, tag)) {
			rc = tds_crypto_ossl_fail("AES-256-GCM set tag");
			goto done;
		}
		if (EVP_CipherFinal_ex(c, out + len, &n) <= 0) {
			ERR_clear_error();
			rc = 1;
		}
	}
done:
	EVP_CIPHER_CTX_free(c);
	return rc;
}

int tds_aead_seal(tds_suite suite, const uint8_t *key, const uint8_t nonce[TDS_AEAD_NONCE_LEN],
		  const void *aad, size_t aadlen, const void *pt, size_t ptlen, uint8_t *out)
{
	int rc = tds_crypto_enter(suite);
	if (rc)
		return rc;
	if (ptlen > SIZE_MAX - TDS_AEAD_TAG_LEN)
		return tds_error_set(TDS_ETOOBIG, NULL, "plaintext too large");
	uint8_t tag[TDS_AEAD_TAG_LEN];
	if (suite == TDS_SUITE_GM)
		rc = sm4gcm(true, key, nonce, aad, aadlen, pt, ptlen, out, tag);
	else
		rc = aesgcm(true, key, nonce, aad, aadlen, pt, ptlen, out, tag);
	if (rc)
		return rc;
	memcpy(out + ptlen, tag, TDS_AEAD_TAG_LEN);
	return 0;
}

int tds_aead_open(tds_suite suite, const uint8_t *key, const uint8_t nonce[TDS_AEAD_NONCE_LEN],
		  const void *aad, size_t aadlen, const void *in, size_t inlen, uint8_t *out)
{
	int rc = tds_crypto_enter(suite);
	if (rc)
		return rc;
	if (inlen < TDS_AEAD_TAG_LEN)
		return tds_error_set(TDS_ECRYPTO, "decrypt_failed",
				     "ciphertext of %zu bytes is shorter than the %d-byte tag", inlen,
				     TDS_AEAD_TAG_LEN);
	size_t len = inlen - TDS_AEAD_TAG_LEN;
	uint8_t tag[TDS_AEAD_TAG_LEN]; /* copied first: out may overlap in */
	memcpy(tag, (const uint8_t *)in + len, TDS_AEAD_TAG_LEN);
	if (suite == TDS_SUITE_GM)
		rc = sm4gcm(false, key, nonce, aad, aadlen, in, len, out, tag);
	else
		rc = aesgcm(false, key, nonce, aad, aadlen, in, len, out, tag);
	if (rc) {
		if (len)
			OPENSSL_cleanse(out, len);
		if (rc == 1)
			return tds_error_set(TDS_ECRYPTO, "decrypt_failed",
					     "%s authentication failed: wrong key, nonce or associated data, or altered ciphertext",
					     tds_aead_alg(suite));
	}
	return rc;
}
