/*
 * core.c — the module's one-time initialisation (libgcrypt, libsodium, fetched OpenSSL algorithm
 * objects), suite names, randomness, constant-time comparison and error translation.
 * Not for any algorithm itself: hashes live in hash.c, AEAD in aead.c, keys in key.c.
 */
#include "crypto/internal.h"

#include <gcrypt.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* Written once under pthread_once, read-only afterwards. */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc = TDS_EINTERNAL;
static char init_msg[256];
static EVP_MD *md_sm3, *md_sha256;
static EVP_CIPHER *cipher_aes256gcm;
static EVP_KDF *kdf_hkdf;

static void init_fail(const char *what)
{
	unsigned long e = ERR_get_error();
	char reason[160] = "";
	if (e)
		ERR_error_string_n(e, reason, sizeof reason);
	ERR_clear_error();
	snprintf(init_msg, sizeof init_msg, "%s%s%s", what, reason[0] ? ": " : "", reason);
	init_rc = TDS_ECRYPTO;
}

static void init_once_fn(void)
{
	/* libgcrypt: the process may have initialised it already (another library); respect that. */
	if (!gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P)) {
		if (!gcry_check_version(GCRYPT_VERSION)) {
			init_fail("libgcrypt is older than the version TDS was built with");
			return;
		}
		/* We keep no secrets in libgcrypt's secure heap: turn it (and its warnings) off. */
		gcry_control(GCRYCTL_DISABLE_SECMEM_WARN);
		gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
		gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
	}
	if (sodium_init() < 0) {
		init_fail("sodium_init");
		return;
	}
	if (!(md_sm3 = EVP_MD_fetch(NULL, "SM3", NULL))) {
		init_fail("fetching SM3 from OpenSSL");
		return;
	}
	if (!(md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL))) {
		init_fail("fetching SHA256 from OpenSSL");
		return;
	}
	if (!(cipher_aes256gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL))) {
		init_fail("fetching AES-256-GCM from OpenSSL");
		return;
	}
	if (!(kdf_hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL))) {
		init_fail("fetching HKDF from OpenSSL");
		return;
	}
	/* SM4-GCM comes from libgcrypt: make sure this build has it. */
	if (gcry_cipher_test_algo(GCRY_CIPHER_SM4)) {
		init_fail("libgcrypt without SM4");
		return;
	}
	init_rc = 0;
}

int tds_crypto_init(void)
{
	if (pthread_once(&init_once, init_once_fn) != 0)
		return tds_error_set(TDS_EINTERNAL, "crypto_init_failed", "pthread_once failed");
	if (init_rc)
		return tds_error_set(init_rc, "crypto_init_failed", "crypto initialisation failed: %s",
				     init_msg);
	return 0;
}

const EVP_MD *tds_crypto_md(tds_suite suite)
{
	switch (suite) {
	case TDS_SUITE_GM: return md_sm3;
	case TDS_SUITE_INTL: return md_sha256;
	}
	return NULL;
}

const EVP_CIPHER *tds_crypto_aes256gcm(void) { return cipher_aes256gcm; }

EVP_KDF *tds_crypto_hkdf_kdf(void) { return kdf_hkdf; }

int tds_crypto_ossl_fail(const char *what)
{
	unsigned long e = ERR_get_error();
	char reason[200] = "no reason given";
	if (e)
		ERR_error_string_n(e, reason, sizeof reason);
	ERR_clear_error();
	return tds_error_set(TDS_ECRYPTO, "crypto_library_error", "%s failed: %s", what, reason);
}

int tds_crypto_bad_suite(tds_suite suite)
{
	return tds_error_set(TDS_EINVAL, "unknown_suite",
			     "unknown crypto suite %d: use gm (SM2/SM3/SM4) or intl (Ed25519/SHA-256/AES-256-GCM)",
			     (int)suite);
}

int tds_crypto_enter(tds_suite suite)
{
	int rc = tds_crypto_init();
	if (rc)
		return rc;
	if (!tds_suite_valid(suite))
		return tds_crypto_bad_suite(suite);
	return 0;
}

/* ---- suites ---- */

bool tds_suite_valid(tds_suite suite) { return suite == TDS_SUITE_GM || suite == TDS_SUITE_INTL; }

int tds_suite_parse(const char *s, tds_suite *out)
{
	if (s && strcmp(s, "gm") == 0) {
		*out = TDS_SUITE_GM;
		return 0;
	}
	if (s && strcmp(s, "intl") == 0) {
		*out = TDS_SUITE_INTL;
		return 0;
	}
	return tds_error_set(TDS_EINVAL, "unknown_suite",
			     "unknown crypto suite '%.40s': use gm (SM2/SM3/SM4) or intl (Ed25519/SHA-256/AES-256-GCM)",
			     s ? s : "(null)");
}

const char *tds_suite_name(tds_suite suite)
{
	switch (suite) {
	case TDS_SUITE_GM: return "gm";
	case TDS_SUITE_INTL: return "intl";
	}
	return "unknown";
}

/* ---- randomness, comparison ---- */

int tds_random(void *buf, size_t n)
{
	int rc = tds_crypto_init();
	if (rc)
		return rc;
	unsigned char *p = buf;
	while (n > 0) {
		int chunk = n > (size_t)INT_MAX ? INT_MAX : (int)n;
		if (RAND_bytes(p, chunk) != 1)
			return tds_crypto_ossl_fail("RAND_bytes");
		p += chunk;
		n -= (size_t)chunk;
	}
	return 0;
}

bool tds_ct_equal(const void *a, const void *b, size_t n)
{
	return n == 0 || CRYPTO_memcmp(a, b, n) == 0;
}
