/*
 * crypto — the two crypto suites of a data space, behind one face: hashes, HMAC/HKDF, AEAD,
 * signing keys, signatures and sealed secrets (keys at rest under the node master key).
 *
 * Suites (DESIGN §2, §6). Every node of a space has a key of the space's suite, but every hash and
 * signature carries its algorithm name, so nodes of either suite can verify each other.
 *
 *   suite  hash (32 bytes)        signature                              AEAD (nonce 12, tag 16)
 *   gm     SM3, GB/T 32905        SM2 with SM3, GB/T 32918, user id     SM4-GCM, GB/T 32907 + the GCM
 *                                 "1234567812345678", DER (r,s)          mode of RFC 8998, key 16 bytes
 *   intl   SHA-256                Ed25519 (pure, RFC 8032), 64 bytes     AES-256-GCM, key 32 bytes
 *
 * Where each primitive comes from, and why:
 *   - SM2, Ed25519, AES-256-GCM, HMAC, HKDF and the incremental hash context: OpenSSL 3. Algorithm
 *     objects (EVP_MD, EVP_CIPHER, EVP_KDF) are fetched once (pthread_once) and reused.
 *   - SM4-GCM: libgcrypt (GCRY_CIPHER_SM4 + GCRY_CIPHER_MODE_GCM). Debian 12's OpenSSL 3.0 has SM4
 *     in ECB/CBC/CTR/… but no SM4-GCM; libgcrypt 1.10 has it. Checked against RFC 8998 Appendix A.1.
 *   - One-shot hashes (tds_hash, tds_hash2): libgcrypt's gcry_md_hash_buffers. It keeps no state and
 *     allocates nothing, so it needs no per-thread context, and on this machine it is the fastest
 *     option for the ledger's small Merkle inputs (65 bytes: SM3 ~280 ns vs ~345 ns for a reused
 *     EVP_MD_CTX, SHA-256 ~100 ns vs ~113 ns). The unit tests check both paths against the same
 *     published vectors.
 *   - Randomness: OpenSSL RAND_bytes (DRBG seeded from getrandom).
 *
 * SM2 details that matter for interoperability: OpenSSL 3 handles SM2 as its own key type ("SM2",
 * not "EC"); the distinguishing id is set explicitly on every sign/verify (OpenSSL 3.0's command line
 * does not default it: pass `-pkeyopt distid:1234567812345678`). OpenSSL 3 decodes every key on the
 * SM2 curve as an SM2 key, whatever its encoding (PKCS#8, SEC1 "EC PRIVATE KEY" / "SM2 PRIVATE KEY",
 * SubjectPublicKeyInfo with a compressed or uncompressed point); all of them are accepted.
 *
 * Sealed secrets (tds_seal): AEAD under a key derived per message from a 32-byte master key.
 *
 *   offset  size  field
 *   0       1     version, 0x01
 *   1       1     suite (1 gm, 2 intl)
 *   2       16    salt, random per message
 *   18      12    nonce, random per message
 *   30      n+16  AEAD ciphertext || tag
 *
 *   key = HKDF(suite hash, salt = salt, ikm = master, info = "tds-seal:" || context, L = key length)
 *   AAD = bytes 0..29 (version, suite, salt, nonce) || context
 * A blob therefore opens only with the same master key and the same context string, and any
 * changed byte (header included) makes it fail with "decrypt_failed".
 *
 * Sealed key files (tds_key_save_sealed) hold the sealed PKCS#8 PEM of a private key, context
 * "key-file", base64-armoured between "-----BEGIN TDS SEALED KEY-----" / "-----END TDS SEALED
 * KEY-----" lines, mode 0600. Loading refuses a file that group or others may access.
 *
 * Errors follow base.h: 0 or a negative TDS_E… code with the thread's last error set. Bad input is
 * TDS_EINVAL; a signature or tag that does not check is TDS_ECRYPTO ("bad_signature",
 * "decrypt_failed"); a library failure is TDS_ECRYPTO "crypto_library_error" with OpenSSL's reason.
 *
 * Threads: everything here is thread-safe. A tds_key is immutable after creation, so several threads
 * may sign and verify with the same key at once; a tds_hash_ctx belongs to one thread at a time.
 * Every entry point that needs the libraries calls tds_crypto_init itself (accessors of objects that
 * already exist do not need to); calling it early only moves the (small) one-time cost.
 *
 * Not here: TLS, X.509 certificate handling, request signing (http), the identity
 * tables that keep node certificates and revocations (identity),
 * PSI primitives (privacy, on libsodium's ristretto255). Secrets handled here are wiped (OPENSSL_cleanse)
 * from the buffers this module owns; buffers the caller owns are the caller's to wipe.
 */
#ifndef TDS_CRYPTO_H
#define TDS_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define TDS_HASH_LEN 32        /* SM3 and SHA-256 */
#define TDS_HASH_HEX_LEN 64
#define TDS_AEAD_NONCE_LEN 12
#define TDS_AEAD_TAG_LEN 16
#define TDS_AEAD_KEY_MAX 32
#define TDS_MASTER_KEY_LEN 32
#define TDS_SEAL_HEADER_LEN 30 /* version, suite, salt, nonce */
#define TDS_SEAL_OVERHEAD (TDS_SEAL_HEADER_LEN + TDS_AEAD_TAG_LEN)
#define TDS_SIG_MAX 72         /* SM2 DER (r,s) at most 72 bytes; Ed25519 exactly 64 */
#define TDS_KEY_ID_LEN 64      /* hex characters, plus a NUL in char[TDS_KEY_ID_LEN + 1] */
#define TDS_SM2_DEFAULT_ID "1234567812345678"

/* ------------------------------------------------------------------------------------------------
 * Suites and initialisation
 * ---------------------------------------------------------------------------------------------- */

typedef enum { TDS_SUITE_GM = 1, TDS_SUITE_INTL = 2 } tds_suite;

/* Parses "gm" or "intl" (exactly, lower case) into *out. TDS_EINVAL "unknown_suite" otherwise. */
int tds_suite_parse(const char *s, tds_suite *out);

/* "gm" / "intl"; "unknown" for a value that is not a suite. Static string. */
const char *tds_suite_name(tds_suite suite);

/* True for TDS_SUITE_GM and TDS_SUITE_INTL. */
bool tds_suite_valid(tds_suite suite);

/* Initialises the libraries (libgcrypt version check with secure-memory warnings off, libsodium)
 * and fetches the algorithm objects once. Idempotent and thread-safe (pthread_once); every other
 * function here calls it. Returns 0, or TDS_ECRYPTO "crypto_init_failed" (then every call fails the
 * same way: the process lacks a required algorithm, e.g. OpenSSL without SM3). */
int tds_crypto_init(void);

/* ------------------------------------------------------------------------------------------------
 * Hashes: SM3 (gm) and SHA-256 (intl), both 32 bytes.
 * ---------------------------------------------------------------------------------------------- */

/* "sm3" / "sha256"; NULL for an invalid suite. Static string. */
const char *tds_hash_alg(tds_suite suite);

/* out = H(data). `data` may be NULL when len is 0. TDS_EINVAL for an invalid suite. */
int tds_hash(tds_suite suite, const void *data, size_t len, uint8_t out[TDS_HASH_LEN]);

/* out = H(a || b) without concatenating (Merkle nodes, prefixed messages). */
int tds_hash2(tds_suite suite, const void *a, size_t alen, const void *b, size_t blen,
	      uint8_t out[TDS_HASH_LEN]);

/* Incremental hash. tds_hash_new returns a context the caller frees with tds_hash_free, or NULL
 * with the last error set (invalid suite, out of memory). tds_hash_final writes the digest and
 * resets the context, so one context can hash many messages in turn. */
typedef struct tds_hash_ctx tds_hash_ctx;

tds_hash_ctx *tds_hash_new(tds_suite suite);
int tds_hash_update(tds_hash_ctx *ctx, const void *data, size_t len);
int tds_hash_final(tds_hash_ctx *ctx, uint8_t out[TDS_HASH_LEN]);
void tds_hash_free(tds_hash_ctx *ctx); /* NULL is fine */

/* ------------------------------------------------------------------------------------------------
 * HMAC and HKDF (RFC 2104, RFC 5869) with the suite's hash.
 * ---------------------------------------------------------------------------------------------- */

/* out = HMAC-H(key, data). key/data may be NULL when their length is 0. */
int tds_hmac(tds_suite suite, const void *key, size_t klen, const void *data, size_t dlen,
	     uint8_t out[TDS_HASH_LEN]);

/* RFC 5869 extract-then-expand into out[0..outlen). An empty salt means HashLen zero bytes, as the
 * RFC says. outlen must be 1..255*32, else TDS_EINVAL. */
int tds_hkdf(tds_suite suite, const void *salt, size_t slen, const void *ikm, size_t ilen,
	     const void *info, size_t infolen, uint8_t *out, size_t outlen);

/* ------------------------------------------------------------------------------------------------
 * Randomness and comparisons
 * ---------------------------------------------------------------------------------------------- */

/* Fills buf with n cryptographically strong random bytes. TDS_ECRYPTO if the DRBG fails. */
int tds_random(void *buf, size_t n);

/* Constant-time (in n) comparison of two buffers; true when equal. */
bool tds_ct_equal(const void *a, const void *b, size_t n);

/* ------------------------------------------------------------------------------------------------
 * AEAD: SM4-GCM (gm, 16-byte key) and AES-256-GCM (intl, 32-byte key); 12-byte nonce, 16-byte tag.
 * Never use a (key, nonce) pair twice: pick nonces with tds_random or a counter.
 * ---------------------------------------------------------------------------------------------- */

/* "sm4-gcm" / "aes-256-gcm"; NULL for an invalid suite. */
const char *tds_aead_alg(tds_suite suite);

/* 16 (gm) / 32 (intl); 0 for an invalid suite. */
size_t tds_aead_key_len(tds_suite suite);

/* Encrypts pt[0..ptlen) and writes ciphertext || tag (ptlen + 16 bytes) to out, which may be pt
 * itself. aad/pt may be NULL when their length is 0. TDS_EINVAL for an invalid suite. */
int tds_aead_seal(tds_suite suite, const uint8_t *key, const uint8_t nonce[TDS_AEAD_NONCE_LEN],
		  const void *aad, size_t aadlen, const void *pt, size_t ptlen, uint8_t *out);

/* Checks and decrypts in[0..inlen) = ciphertext || tag, writing inlen - 16 bytes to out (which may
 * be in). TDS_ECRYPTO "decrypt_failed" when the tag does not check (or inlen < 16): then out is
 * zeroed, never left holding unauthenticated plaintext. */
int tds_aead_open(tds_suite suite, const uint8_t *key, const uint8_t nonce[TDS_AEAD_NONCE_LEN],
		  const void *aad, size_t aadlen, const void *in, size_t inlen, uint8_t *out);

/* ------------------------------------------------------------------------------------------------
 * Signing keys: SM2 (gm) or Ed25519 (intl), private or public only. Opaque and immutable; the
 * suite follows from the key type. Every constructor returns a key the caller frees with
 * tds_key_free, and leaves *out NULL on failure.
 * ---------------------------------------------------------------------------------------------- */

typedef struct tds_key tds_key;

/* A fresh key pair of the suite. */
int tds_key_generate(tds_suite suite, tds_key **out);

/* Imports one PEM block: a PKCS#8 "PRIVATE KEY" (or a SEC1 "EC/SM2 PRIVATE KEY" on the SM2 curve) or
 * a SubjectPublicKeyInfo "PUBLIC KEY". The text need not be NUL-terminated (at most 64 KiB).
 * The suite is detected from the key type: SM2 -> gm, ED25519 -> intl. Errors (TDS_EINVAL):
 * "invalid_key" for anything that does not parse, "encrypted_key" for a password-protected key,
 * "unsupported_key_type" for other key types (RSA, EC P-256, Ed448, …), naming the type found. */
int tds_key_from_pem(const char *pem, size_t len, tds_key **out);

/* Raw public key: Ed25519 32 bytes; SM2 the 65-byte uncompressed point 04 || x || y, which must lie
 * on the curve. TDS_EINVAL "invalid_key" otherwise. */
int tds_key_from_public_raw(tds_suite suite, const uint8_t *raw, size_t len, tds_key **out);

/* Raw private key: Ed25519 the 32-byte secret seed of RFC 8032; SM2 the 32-byte big-endian scalar
 * d with 1 <= d <= n-2. The public key is derived. TDS_EINVAL "invalid_key" otherwise. */
int tds_key_from_private_raw(tds_suite suite, const uint8_t *raw, size_t len, tds_key **out);

/* Appends the unencrypted PKCS#8 PEM of the private key to out. Secret: wipe it after use.
 * TDS_EINVAL "no_private_key" for a public-only key. */
int tds_key_private_pem(const tds_key *key, tds_buf *out);

/* Appends the SubjectPublicKeyInfo PEM of the public key to out. */
int tds_key_public_pem(const tds_key *key, tds_buf *out);

/* Appends the raw public key (Ed25519 32 bytes, SM2 65 bytes 04 || x || y) to out. */
int tds_key_public_raw(const tds_key *key, tds_buf *out);

/* True when the key can sign. */
bool tds_key_has_private(const tds_key *key);

/* The key's suite. */
tds_suite tds_key_suite(const tds_key *key);

/* Lower-case hex of the suite hash of the raw public key, NUL-terminated (64 + 1 bytes). */
int tds_key_id(const tds_key *key, char out[TDS_KEY_ID_LEN + 1]);

/* 0 when the key belongs to `suite`, else TDS_EINVAL "suite_mismatch" with a message such as
 * "SM2 key expected for suite gm, got ED25519". */
int tds_key_check_suite(const tds_key *key, tds_suite suite);

void tds_key_free(tds_key *key); /* NULL is fine */

/* ------------------------------------------------------------------------------------------------
 * Signatures
 * ---------------------------------------------------------------------------------------------- */

/* "sm2-sm3" / "ed25519"; NULL for an invalid suite. */
const char *tds_sig_alg(tds_suite suite);

/* The suite whose signature algorithm is named `alg` ("sm2-sm3", "ed25519"); TDS_EINVAL
 * "unknown_algorithm" otherwise. */
int tds_sig_alg_parse(const char *alg, tds_suite *out);

/* Signs msg[0..len) and appends the signature to sig: SM2 (SM3, id 1234567812345678) as DER
 * (r,s), at most 72 bytes; Ed25519 as 64 raw bytes. TDS_EINVAL "no_private_key" for a public key. */
int tds_sign(const tds_key *key, const void *msg, size_t len, tds_buf *sig);

/* 0 when sig is a valid signature of msg under key, else TDS_ECRYPTO "bad_signature" (also for a
 * malformed or wrongly sized signature). Never reads outside sig[0..siglen). */
int tds_verify(const tds_key *key, const void *msg, size_t len, const uint8_t *sig, size_t siglen);

/* ------------------------------------------------------------------------------------------------
 * Sealed secrets (format in the comment at the top of this file)
 * ---------------------------------------------------------------------------------------------- */

/* Seals pt[0..ptlen) under master for `context` (a NUL-terminated label such as "key-file" or
 * "db-password"; the same label is needed to unseal) and appends the blob (ptlen + 46 bytes). */
int tds_seal(tds_suite suite, const uint8_t master[TDS_MASTER_KEY_LEN], const char *context,
	     const void *pt, size_t ptlen, tds_buf *out);

/* Opens a blob made by tds_seal and appends the plaintext to out; the suite is read from the blob.
 * TDS_EINVAL "invalid_sealed_data" for a blob too short or of an unknown version or suite;
 * TDS_ECRYPTO "decrypt_failed" for a wrong master key, a wrong context or any altered byte (out
 * is then unchanged). */
int tds_unseal(const uint8_t master[TDS_MASTER_KEY_LEN], const char *context, const void *in,
	       size_t inlen, tds_buf *out);

/* Writes the key's private PEM sealed under master to path, atomically, mode 0600.
 * TDS_EINVAL "no_private_key" for a public key; TDS_EIO when the file cannot be written. */
int tds_key_save_sealed(const tds_key *key, const uint8_t master[TDS_MASTER_KEY_LEN],
			const char *path);

/* Reads a file written by tds_key_save_sealed. TDS_EPERM "insecure_key_file" when the file's mode
 * lets group or others access it; TDS_EIO when it cannot be read; TDS_EINVAL "invalid_key_file" when
 * it is not a sealed key file; TDS_ECRYPTO "decrypt_failed" for a wrong master key. */
int tds_key_load_sealed(const char *path, const uint8_t master[TDS_MASTER_KEY_LEN], tds_key **out);

/* ------------------------------------------------------------------------------------------------
 * Node certificates (节点证书), DESIGN §2
 *
 * The operator binds a node to its organisation, role, endpoints, public key and hardware
 * fingerprint with a statement signed by the operator's key. On the wire (and at rest) a
 * certificate is one JSON object, written in canonical form by tds_cert_issue:
 *
 *   {"cert":{
 *      "api_endpoint":"https://c1.example:8443",   http(s) URL, <= 256 bytes, no spaces
 *      "data_endpoint":"https://c1.example:9443",  idem
 *      "expires_at":"2027-01-01T00:00:00.000Z",    RFC 3339, after issued_at
 *      "hw_fingerprint":"<64 lower-case hex>",      hash of the device's hardware description
 *      "issued_at":"2026-01-01T00:00:00.000Z",
 *      "issuer":"node_<ULID>",                      the operator node
 *      "issuer_key_id":"<64 lower-case hex>",       tds_key_id of the operator key that signed
 *      "key_alg":"sm2-sm3"|"ed25519",               the subject key's algorithm (tds_sig_alg)
 *      "node_id":"node_<ULID>",
 *      "org_id":"org_<ULID>",
 *      "public_key":"<base64>",                     raw public key (SM2 65 bytes 04||x||y,
 *                                                   Ed25519 32 bytes), standard padded base64
 *      "role":"operator"|"connector",
 *      "serial":"crt_<ULID>",
 *      "type":"tds.node_cert",                      keeps this signature apart from every other
 *      "version":1},                                statement the operator signs
 *    "sig_alg":"sm2-sm3"|"ed25519",                 the issuer key's algorithm
 *    "signature":"<base64>"}                        tds_sign(issuer, canonical JSON of "cert")
 *
 * The signature covers tds_json_canonical of the "cert" object as parsed, so whitespace and member
 * order in transit do not matter; every member is ASCII, so NFC changes nothing. Either suite can
 * issue for a key of either suite: both algorithms are named.
 *
 * Verification is strict: every member above is required and no other is accepted, ids must be
 * well formed with their prefix (tds_id_valid), the input is at most TDS_CERT_MAX_LEN bytes. The
 * validity window admits TDS_CERT_SKEW_MS of clock difference at both ends (a certificate is
 * accepted while issued_at - skew <= now <= expires_at + skew), since issuer and verifier clocks are
 * never exactly equal.
 *
 * Errors: TDS_EINVAL "invalid_certificate" (malformed: the message names the member),
 * TDS_ETOOBIG "certificate_too_large", TDS_ECRYPTO "certificate_wrong_issuer" (issuer_key_id is not
 * the given issuer key), "certificate_alg_mismatch" (sig_alg is not the issuer key's algorithm),
 * "certificate_bad_signature"; TDS_EAUTH "certificate_expired", "certificate_not_yet_valid".
 * ---------------------------------------------------------------------------------------------- */

#define TDS_CERT_MAX_LEN 8192            /* bytes of certificate JSON accepted */
#define TDS_CERT_URL_MAX 256             /* bytes of an endpoint URL */
#define TDS_CERT_SKEW_MS (5 * 60 * 1000) /* clock difference admitted at both ends of the window */
#define TDS_PUBLIC_KEY_RAW_MAX 65        /* SM2 04||x||y; Ed25519 is 32 */

typedef enum { TDS_NODE_ROLE_OPERATOR = 1, TDS_NODE_ROLE_CONNECTOR = 2 } tds_node_role;

/* A certificate's statement, plus what parsing learns. Plain data: no pointers, nothing to free. */
typedef struct tds_node_cert {
	char serial[TDS_ID_MAX];                  /* "crt_<ULID>" */
	char node_id[TDS_ID_MAX];                 /* "node_<ULID>" */
	char org_id[TDS_ID_MAX];                  /* "org_<ULID>" */
	tds_node_role role;
	char api_endpoint[TDS_CERT_URL_MAX + 1];  /* control plane (management API) */
	char data_endpoint[TDS_CERT_URL_MAX + 1]; /* data plane */
	tds_suite key_suite;                      /* subject key */
	uint8_t public_key[TDS_PUBLIC_KEY_RAW_MAX];
	size_t public_key_len;
	char hw_fingerprint[TDS_HASH_HEX_LEN + 1]; /* 64 lower-case hex */
	char issuer_node_id[TDS_ID_MAX];
	char issuer_key_id[TDS_KEY_ID_LEN + 1];   /* empty: tds_cert_issue fills it */
	int64_t issued_at_ms, expires_at_ms;
	/* Filled by tds_cert_set_key and the parsers; ignored by tds_cert_issue. */
	char key_id[TDS_KEY_ID_LEN + 1];          /* tds_key_id of the subject key */
	tds_suite sig_suite;                      /* suite of the issuer's signature (parsers only) */
} tds_node_cert;

/* "operator" / "connector"; NULL for anything else. Static string. */
const char *tds_node_role_name(tds_node_role role);

/* Parses "operator" or "connector"; TDS_EINVAL "invalid_node_role" otherwise. */
int tds_node_role_parse(const char *s, tds_node_role *out);

/* Copies the subject key's suite, raw public key and key id into cert (private keys are fine: only
 * the public half is taken). */
int tds_cert_set_key(tds_node_cert *cert, const tds_key *subject);

/* Signs the statement with the issuer's private key and appends the certificate JSON (canonical
 * form) to out. The statement is validated exactly as tds_cert_parse_verify would: a certificate
 * that issues always verifies (within its window). An empty cert->issuer_key_id is taken from the
 * issuer key; a non-empty one must match it ("certificate_wrong_issuer"). TDS_EINVAL
 * "no_private_key" for a public issuer key. out is unchanged on failure. */
int tds_cert_issue(const tds_node_cert *cert, const tds_key *issuer, tds_buf *out);

/* Parses a certificate without trusting it: structure, members and values are checked as strictly
 * as by tds_cert_parse_verify, but neither the signature nor the time window. For reading which
 * issuer key to verify with (issuer_key_id) and for display. *out is zeroed on failure. */
int tds_cert_parse(const char *json, size_t len, tds_node_cert *out);

/* Parses and verifies a certificate against the issuer's public key at time now_ms: strict
 * structure, issuer_key_id == tds_key_id(issuer_pub), sig_alg == the issuer key's algorithm, a valid
 * signature, and the validity window with TDS_CERT_SKEW_MS allowance. On success fills *out and, if
 * subject_key is not NULL, sets *subject_key to the subject's public key (the caller frees it).
 * On failure *out is zeroed and *subject_key is NULL. */
int tds_cert_parse_verify(const char *json, size_t len, const tds_key *issuer_pub, int64_t now_ms,
			  tds_node_cert *out, tds_key **subject_key);

/* Hash of a certificate for caches and revocation lists: the suite hash (of sig_alg's suite) of the
 * canonical JSON of the whole certificate, signature included, so equal certificates in any
 * formatting hash alike and a re-signed certificate hashes differently. The input is parsed as by
 * tds_cert_parse (not verified). */
int tds_cert_hash(const char *json, size_t len, uint8_t out[TDS_HASH_LEN]);

/* The statement of cert as a JSON object (new reference), members as in the "cert" object above;
 * for APIs that show a certificate. NULL with the error set when cert does not validate. */
json_t *tds_cert_statement_json(const tds_node_cert *cert);

#endif
