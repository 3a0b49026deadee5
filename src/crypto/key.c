/*
 * key.c — signing keys (SM2 for gm, Ed25519 for intl) on top of OpenSSL 3's EVP_PKEY: generation,
 * PEM and raw import/export, key ids, and sign/verify.
 *
 * Invariants of a tds_key: `pkey` is an OpenSSL key of type "SM2" (suite gm) or "ED25519" (suite
 * intl) — never a generic "EC" key; `pub` holds its raw public key (65 bytes 04||x||y, or 32 bytes),
 * computed once at creation; `priv` says whether the private half is present. Nothing changes after
 * creation, which is what makes concurrent sign/verify on one key safe (OpenSSL allows concurrent
 * read-only use of an EVP_PKEY; every operation builds its own EVP_MD_CTX / EVP_PKEY_CTX).
 *
 * Not for sealing keys at rest (seal.c) nor for certificates.
 */
#include "crypto/internal.h"

#include <assert.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define PEM_MAX (64 * 1024)
#define SM2_PUB_LEN 65
#define ED25519_LEN 32
#define ED25519_SIG_LEN 64

struct tds_key {
	EVP_PKEY *pkey;
	tds_suite suite;
	bool priv;
	size_t publen;
	uint8_t pub[SM2_PUB_LEN];
};

static const char *key_type_for(tds_suite suite) { return suite == TDS_SUITE_GM ? "SM2" : "ED25519"; }

/* ---- building keys ---- */

/* Raw public key of an SM2 key: 04 || x || y from its coordinates, whatever point format it carries. */
static int sm2_pub_raw(EVP_PKEY *pkey, uint8_t out[SM2_PUB_LEN])
{
	BIGNUM *x = NULL, *y = NULL;
	int rc = 0;
	if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y)) {
		rc = tds_crypto_ossl_fail("reading the SM2 public key");
		goto done;
	}
	out[0] = 0x04;
	if (BN_bn2binpad(x, out + 1, 32) != 32 || BN_bn2binpad(y, out + 33, 32) != 32)
		rc = tds_error_set(TDS_EINVAL, "invalid_key", "SM2 public key coordinates exceed 256 bits");
done:
	BN_free(x);
	BN_free(y);
	return rc;
}

/* Wraps an EVP_PKEY of a supported type, taking ownership of it in every case. */
static int wrap(EVP_PKEY *pkey, tds_suite suite, bool priv, tds_key **out)
{
	tds_key *k = calloc(1, sizeof *k);
	if (!k) {
		EVP_PKEY_free(pkey);
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory allocating a key");
	}
	k->pkey = pkey;
	k->suite = suite;
	k->priv = priv;
	int rc = 0;
	if (suite == TDS_SUITE_GM) {
		rc = sm2_pub_raw(pkey, k->pub);
		k->publen = SM2_PUB_LEN;
	} else {
		k->publen = ED25519_LEN;
		size_t n = ED25519_LEN;
		if (!EVP_PKEY_get_raw_public_key(pkey, k->pub, &n) || n != ED25519_LEN)
			rc = tds_crypto_ossl_fail("reading the Ed25519 public key");
	}
	if (rc) {
		tds_key_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

/* An SM2 key from its parts: private scalar d (may be NULL) and public point (65 bytes). */
static int sm2_fromdata(const BIGNUM *d, const uint8_t *pub, size_t publen, EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int rc = 0;
	if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "SM2", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, publen) ||
	    (d && !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d)) ||
	    !(params = OSSL_PARAM_BLD_to_param(bld))) {
		rc = tds_crypto_ossl_fail("building SM2 key parameters");
		goto done;
	}
	if (!(ctx = EVP_PKEY_CTX_new_from_name(NULL, "SM2", NULL)) || EVP_PKEY_fromdata_init(ctx) <= 0) {
		rc = tds_crypto_ossl_fail("EVP_PKEY_fromdata_init(SM2)");
		goto done;
	}
	if (EVP_PKEY_fromdata(ctx, out, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		ERR_clear_error();
		rc = tds_error_set(TDS_EINVAL, "invalid_key", "SM2 public key is not a point on the SM2 curve");
	}
done:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params); /* OSSL_PARAM_free clears secret (BIGNUM) values it holds */
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

/* An SM2 key pair from the private scalar d alone: checks 1 <= d <= n-2 and derives P = d*G. */
static int sm2_from_scalar(const BIGNUM *d, EVP_PKEY **out)
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_sm2);
	EC_POINT *p = g ? EC_POINT_new(g) : NULL;
	BN_CTX *bctx = BN_CTX_new();
	BIGNUM *nm1 = BN_new();
	uint8_t pub[SM2_PUB_LEN];
	int rc = 0;
	if (!g || !p || !bctx || !nm1 || !BN_copy(nm1, EC_GROUP_get0_order(g)) || !BN_sub_word(nm1, 1)) {
		rc = tds_crypto_ossl_fail("preparing the SM2 group");
		goto done;
	}
	if (BN_is_zero(d) || BN_is_negative(d) || BN_cmp(d, nm1) >= 0) {
		rc = tds_error_set(TDS_EINVAL, "invalid_key", "SM2 private key is out of range [1, n-2]");
		goto done;
	}
	if (!EC_POINT_mul(g, p, d, NULL, NULL, bctx) ||
	    EC_POINT_point2oct(g, p, POINT_CONVERSION_UNCOMPRESSED, pub, sizeof pub, bctx) != sizeof pub) {
		rc = tds_crypto_ossl_fail("deriving the SM2 public key");
		goto done;
	}
	rc = sm2_fromdata(d, pub, sizeof pub, out);
done:
	BN_free(nm1);
	BN_CTX_free(bctx);
	EC_POINT_free(p);
	EC_GROUP_free(g);
	return rc;
}

/* Names a key type for messages: "ED25519", "RSA", "EC (prime256v1)". */
static void describe(EVP_PKEY *pkey, char *buf, size_t cap)
{
	const char *t = EVP_PKEY_get0_type_name(pkey);
	char group[64] = "";
	if (EVP_PKEY_is_a(pkey, "EC") &&
	    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL))
		snprintf(buf, cap, "%s (%s)", t ? t : "EC", group);
	else
		snprintf(buf, cap, "%s", t ? t : "unknown");
	ERR_clear_error();
}

/* An SM2 private key as decoded carries the public point its file claims, which OpenSSL does not
 * check against the private scalar: a mismatched file would sign with d and publish another key.
 * Rebuild the key from d (range check, P = d*G) and refuse the file when its point differs.
 * (Ed25519 needs no such check: OpenSSL derives its public key from the seed.) Takes pkey. */
static int adopt_sm2_private(EVP_PKEY *pkey, tds_key **out)
{
	BIGNUM *d = NULL;
	EVP_PKEY *rebuilt = NULL;
	uint8_t claimed[SM2_PUB_LEN], derived[SM2_PUB_LEN];
	int rc = 0;
	if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d)) {
		rc = tds_crypto_ossl_fail("reading the SM2 private key");
		goto done;
	}
	if ((rc = sm2_from_scalar(d, &rebuilt)) || (rc = sm2_pub_raw(pkey, claimed)) ||
	    (rc = sm2_pub_raw(rebuilt, derived)))
		goto done;
	if (memcmp(claimed, derived, sizeof claimed) != 0) {
		rc = tds_error_set(TDS_EINVAL, "invalid_key",
				   "SM2 private key file is inconsistent: its public key is not d*G for its private key");
		goto done;
	}
	rc = wrap(rebuilt, TDS_SUITE_GM, true, out);
	rebuilt = NULL;
done:
	ERR_clear_error();
	BN_clear_free(d);
	EVP_PKEY_free(rebuilt);
	EVP_PKEY_free(pkey);
	return rc;
}

/* Classifies a freshly decoded key and wraps it; takes ownership of pkey. OpenSSL 3 decodes every
 * key on the SM2 curve (PKCS#8, SEC1 "EC PRIVATE KEY" or "SM2 PRIVATE KEY", SPKI) as type "SM2". */
static int adopt(EVP_PKEY *pkey, bool priv, tds_key **out)
{
	if (EVP_PKEY_is_a(pkey, "SM2") && priv)
		return adopt_sm2_private(pkey, out);
	if (EVP_PKEY_is_a(pkey, "SM2"))
		return wrap(pkey, TDS_SUITE_GM, priv, out);
	if (EVP_PKEY_is_a(pkey, "ED25519"))
		return wrap(pkey, TDS_SUITE_INTL, priv, out);
	char type[96];
	describe(pkey, type, sizeof type);
	EVP_PKEY_free(pkey);
	return tds_error_set(TDS_EINVAL, "unsupported_key_type",
			     "unsupported key type %s: TDS uses SM2 keys (suite gm) or ED25519 keys (suite intl)",
			     type);
}

int tds_key_generate(tds_suite suite, tds_key **out)
{
	*out = NULL;
	int rc = tds_crypto_enter(suite);
	if (rc)
		return rc;
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, key_type_for(suite), NULL);
	if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_generate(ctx, &pkey) <= 0) {
		rc = tds_crypto_ossl_fail("generating a key");
		EVP_PKEY_CTX_free(ctx);
		return rc;
	}
	EVP_PKEY_CTX_free(ctx);
	return wrap(pkey, suite, true, out);
}

/* PEM password callback that refuses: without one OpenSSL would prompt on the terminal. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

int tds_key_from_pem(const char *pem, size_t len, tds_key **out)
{
	*out = NULL;
	int rc = tds_crypto_init();
	if (rc)
		return rc;
	if (!pem || len == 0)
		return tds_error_set(TDS_EINVAL, "invalid_key", "empty key: expected a PEM private or public key");
	if (len > PEM_MAX)
		return tds_error_set(TDS_EINVAL, "invalid_key", "key text of %zu bytes is too long (at most %d)",
				     len, PEM_MAX);
	/* The label of the first PEM block decides how to read it. */
	static const char begin[] = "-----BEGIN ";
	const char *b = memmem(pem, len, begin, sizeof begin - 1);
	if (!b)
		return tds_error_set(TDS_EINVAL, "invalid_key",
				     "no PEM block found: expected -----BEGIN PRIVATE KEY----- or -----BEGIN PUBLIC KEY-----");
	const char *label = b + sizeof begin - 1, *end = pem + len;
	const char *dash = memmem(label, (size_t)(end - label), "-----", 5);
	size_t llen = dash ? (size_t)(dash - label) : 0;
	bool is_pub = llen == 10 && memcmp(label, "PUBLIC KEY", 10) == 0;
	bool is_priv = llen >= 11 && memcmp(label + llen - 11, "PRIVATE KEY", 11) == 0;
	if (llen == 21 && memcmp(label, "ENCRYPTED PRIVATE KEY", 21) == 0)
		return tds_error_set(TDS_EINVAL, "encrypted_key",
				     "password-protected private keys are not supported: export it unencrypted (openssl pkey -in KEY) and seal it with the node master key");
	if (!is_pub && !is_priv) {
		bool printable = llen > 0 && llen < 40;
		for (size_t i = 0; printable && i < llen; i++)
			printable = label[i] >= 0x20 && label[i] < 0x7f;
		return tds_error_set(TDS_EINVAL, "invalid_key",
				     "PEM block '%.*s' is not a key: expected PRIVATE KEY or PUBLIC KEY",
				     printable ? (int)llen : 0, label);
	}

	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return tds_crypto_ossl_fail("BIO_new_mem_buf");
	/* no_password on both paths: a "Proc-Type: 4,ENCRYPTED" header fits any label */
	EVP_PKEY *pkey = is_pub ? PEM_read_bio_PUBKEY_ex(bio, NULL, no_password, NULL, NULL, NULL)
				: PEM_read_bio_PrivateKey_ex(bio, NULL, no_password, NULL, NULL, NULL);
	BIO_free(bio);
	if (!pkey) {
		unsigned long e = ERR_peek_last_error();
		char reason[160] = "";
		if (e)
			ERR_error_string_n(e, reason, sizeof reason);
		ERR_clear_error();
		return tds_error_set(TDS_EINVAL, "invalid_key", "cannot read the PEM %s key%s%s",
				     is_pub ? "public" : "private", reason[0] ? ": " : "", reason);
	}
	return adopt(pkey, is_priv, out);
}

int tds_key_from_public_raw(tds_suite suite, const uint8_t *raw, size_t len, tds_key **out)
{
	*out = NULL;
	int rc = tds_crypto_enter(suite);
	if (rc)
		return rc;
	EVP_PKEY *pkey = NULL;
	if (suite == TDS_SUITE_GM) {
		if (len != SM2_PUB_LEN || raw[0] != 0x04)
			return tds_error_set(TDS_EINVAL, "invalid_key",
					     "SM2 public key must be 65 bytes 04||x||y (uncompressed point), got %zu bytes",
					     len);
		rc = sm2_fromdata(NULL, raw, len, &pkey);
		if (rc)
			return rc;
	} else {
		if (len != ED25519_LEN)
			return tds_error_set(TDS_EINVAL, "invalid_key",
					     "Ed25519 public key must be 32 bytes, got %zu", len);
		pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, raw, len);
		if (!pkey) {
			ERR_clear_error();
			return tds_error_set(TDS_EINVAL, "invalid_key", "invalid Ed25519 public key");
		}
	}
	return wrap(pkey, suite, false, out);
}

int tds_key_from_private_raw(tds_suite suite, const uint8_t *raw, size_t len, tds_key **out)
{
	*out = NULL;
	int rc = tds_crypto_enter(suite);
	if (rc)
		return rc;
	if (len != 32)
		return tds_error_set(TDS_EINVAL, "invalid_key", "%s private key must be 32 bytes, got %zu",
				     suite == TDS_SUITE_GM ? "SM2" : "Ed25519", len);
	EVP_PKEY *pkey = NULL;
	if (suite == TDS_SUITE_GM) {
		BIGNUM *d = BN_secure_new();
		if (!d || !BN_bin2bn(raw, (int)len, d)) {
			BN_clear_free(d);
			return tds_crypto_ossl_fail("BN_bin2bn");
		}
		rc = sm2_from_scalar(d, &pkey);
		BN_clear_free(d);
		if (rc)
			return rc;
	} else {
		pkey = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, raw, len);
		if (!pkey)
			return tds_crypto_ossl_fail("importing the Ed25519 private key");
	}
	return wrap(pkey, suite, true, out);
}

/* ---- exporting ---- */

static int bio_to_buf(BIO *bio, tds_buf *out)
{
	char *p = NULL;
	long n = BIO_get_mem_data(bio, &p);
	if (n < 0)
		return tds_crypto_ossl_fail("BIO_get_mem_data");
	return tds_buf_append(out, p, (size_t)n);
}

int tds_key_private_pem(const tds_key *key, tds_buf *out)
{
	if (!key->priv)
		return tds_error_set(TDS_EINVAL, "no_private_key",
				     "this key has no private half: load the private key to export it");
	/* A secure-memory BIO: its buffer is wiped when freed. */
	BIO *bio = BIO_new(BIO_s_secmem());
	int rc = 0;
	if (!bio || !PEM_write_bio_PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL))
		rc = tds_crypto_ossl_fail("writing the private key PEM");
	else
		rc = bio_to_buf(bio, out);
	BIO_free(bio);
	return rc;
}

int tds_key_public_pem(const tds_key *key, tds_buf *out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int rc = 0;
	if (!bio || !PEM_write_bio_PUBKEY(bio, key->pkey))
		rc = tds_crypto_ossl_fail("writing the public key PEM");
	else
		rc = bio_to_buf(bio, out);
	BIO_free(bio);
	return rc;
}

int tds_key_public_raw(const tds_key *key, tds_buf *out)
{
	return tds_buf_append(out, key->pub, key->publen);
}

bool tds_key_has_private(const tds_key *key) { return key->priv; }

tds_suite tds_key_suite(const tds_key *key) { return key->suite; }

int tds_key_id(const tds_key *key, char out[TDS_KEY_ID_LEN + 1])
{
	uint8_t h[TDS_HASH_LEN];
	int rc = tds_hash(key->suite, key->pub, key->publen, h);
	if (rc)
		return rc;
	tds_buf hex = TDS_BUF_INIT;
	rc = tds_hex_encode(h, sizeof h, &hex);
	if (!rc)
		memcpy(out, hex.data, TDS_KEY_ID_LEN + 1);
	tds_buf_free(&hex);
	return rc;
}

int tds_key_check_suite(const tds_key *key, tds_suite suite)
{
	if (!tds_suite_valid(suite))
		return tds_crypto_bad_suite(suite);
	if (key->suite == suite)
		return 0;
	return tds_error_set(TDS_EINVAL, "suite_mismatch", "%s key expected for suite %s, got %s",
			     key_type_for(suite), tds_suite_name(suite), key_type_for(key->suite));
}

void tds_key_free(tds_key *key)
{
	if (!key)
		return;
	EVP_PKEY_free(key->pkey);
	free(key);
}

/* ---- signatures ---- */

const char *tds_sig_alg(tds_suite suite)
{
	switch (suite) {
	case TDS_SUITE_GM: return "sm2-sm3";
	case TDS_SUITE_INTL: return "ed25519";
	}
	return NULL;
}

int tds_sig_alg_parse(const char *alg, tds_suite *out)
{
	if (alg && strcmp(alg, "sm2-sm3") == 0) {
		*out = TDS_SUITE_GM;
		return 0;
	}
	if (alg && strcmp(alg, "ed25519") == 0) {
		*out = TDS_SUITE_INTL;
		return 0;
	}
	return tds_error_set(TDS_EINVAL, "unknown_algorithm",
			     "unknown signature algorithm '%.40s': expected sm2-sm3 or ed25519",
			     alg ? alg : "(null)");
}

/* Prepares a DigestSign/DigestVerify context for the key: SM2 with SM3 and the default id,
 * Ed25519 with no digest (pure EdDSA). */
static int sig_init(const tds_key *key, EVP_MD_CTX *mctx, bool sign)
{
	EVP_PKEY_CTX *pctx = NULL;
	const char *md = key->suite == TDS_SUITE_GM ? "SM3" : NULL;
	int ok = sign ? EVP_DigestSignInit_ex(mctx, &pctx, md, NULL, NULL, key->pkey, NULL)
		      : EVP_DigestVerifyInit_ex(mctx, &pctx, md, NULL, NULL, key->pkey, NULL);
	if (ok != 1)
		return tds_crypto_ossl_fail(sign ? "EVP_DigestSignInit_ex" : "EVP_DigestVerifyInit_ex");
	/* The id must be set after init and before any data: it goes into Z = SM3(ENTL||ID||a||b||G||P). */
	if (key->suite == TDS_SUITE_GM &&
	    EVP_PKEY_CTX_set1_id(pctx, TDS_SM2_DEFAULT_ID, sizeof TDS_SM2_DEFAULT_ID - 1) != 1)
		return tds_crypto_ossl_fail("setting the SM2 user id");
	return 0;
}

int tds_sign(const tds_key *key, const void *msg, size_t len, tds_buf *sig)
{
	int rc = tds_crypto_init();
	if (rc)
		return rc;
	if (!key->priv)
		return tds_error_set(TDS_EINVAL, "no_private_key", "cannot sign with a public key");
	if ((rc = tds_buf_reserve(sig, TDS_SIG_MAX)))
		return rc;
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	if (!mctx)
		return tds_crypto_ossl_fail("EVP_MD_CTX_new");
	static const uint8_t empty[1];
	size_t n = TDS_SIG_MAX;
	if (!(rc = sig_init(key, mctx, true))) {
		if (EVP_DigestSign(mctx, (unsigned char *)sig->data + sig->len, &n, len ? msg : empty, len) != 1)
			rc = tds_crypto_ossl_fail(key->suite == TDS_SUITE_GM ? "SM2 signing" : "Ed25519 signing");
	}
	EVP_MD_CTX_free(mctx);
	if (rc)
		return rc;
	assert(n <= TDS_SIG_MAX);
	sig->len += n;
	sig->data[sig->len] = 0;
	return 0;
}

int tds_verify(const tds_key *key, const void *msg, size_t len, const uint8_t *sig, size_t siglen)
{
	int rc = tds_crypto_init();
	if (rc)
		return rc;
	bool size_ok = key->suite == TDS_SUITE_GM ? siglen >= 8 && siglen <= TDS_SIG_MAX
						  : siglen == ED25519_SIG_LEN;
	if (!size_ok)
		return tds_error_set(TDS_ECRYPTO, "bad_signature",
				     "%s signature of %zu bytes has the wrong size", tds_sig_alg(key->suite),
				     siglen);
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	if (!mctx)
		return tds_crypto_ossl_fail("EVP_MD_CTX_new");
	static const uint8_t empty[1];
	if (!(rc = sig_init(key, mctx, false))) {
		if (EVP_DigestVerify(mctx, sig, siglen, len ? msg : empty, len) != 1) {
			ERR_clear_error();
			rc = tds_error_set(TDS_ECRYPTO, "bad_signature",
					   "%s signature does not verify under this key", tds_sig_alg(key->suite));
		}
	}
	EVP_MD_CTX_free(mctx);
	return rc;
}
