/*
 * internal.h — what the crypto module's own .c files share: the algorithm objects fetched once by
 * tds_crypto_init and the helper that turns an OpenSSL failure into a TDS error. Not part of the
 * module's face; nothing outside src/crypto includes it.
 */
#ifndef TDS_CRYPTO_INTERNAL_H
#define TDS_CRYPTO_INTERNAL_H

#include <openssl/evp.h>

#include "crypto/crypto.h"

/* Fetched once by tds_crypto_init; valid (non-NULL) after it returned 0. */
const EVP_MD *tds_crypto_md(tds_suite suite);  /* SM3 / SHA256, NULL for an invalid suite */
const EVP_CIPHER *tds_crypto_aes256gcm(void);
EVP_KDF *tds_crypto_hkdf_kdf(void);

/* Sets TDS_ECRYPTO "crypto_library_error" with "<what> failed: <OpenSSL reason>", empties the
 * thread's OpenSSL error queue and returns TDS_ECRYPTO. */
int tds_crypto_ossl_fail(const char *what);

/* Sets TDS_EINVAL "unknown_suite" for a value that is not a suite. */
int tds_crypto_bad_suite(tds_suite suite);

/* Calls tds_crypto_init and checks the suite: 0 or a negative code with the error set. */
int tds_crypto_enter(tds_suite suite);

#endif
