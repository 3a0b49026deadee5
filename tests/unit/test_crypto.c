/*
 * test_crypto.c — known-answer and behaviour tests of the crypto room. Every algorithm is checked
 * against published vectors (GB/T 32905 SM3, GB/T 32907 SM4, RFC 8998 SM4-GCM, GB/T 32918.5 SM2,
 * RFC 8032 Ed25519, McGrew–Viega/NIST AES-GCM, RFC 4231 HMAC, RFC 5869 HKDF) or against an
 * independent implementation (a signature made by the openssl 3.0 command line), then the failure
 * paths: tampered messages, signatures, ciphertexts and sealed data, foreign key types, key files
 * open to others.
 */
#include "crypto/crypto.h"

#include <gcrypt.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- helpers ---- */

/* Decodes hex (spaces allowed) into out; returns the byte count. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	char clean[4096];
	size_t n = 0;
	for (const char *p = hex; *p; p++)
		if (*p != ' ') {
			assert_true(n < sizeof clean);
			clean[n++] = *p;
		}
	tds_buf b = TDS_BUF_INIT;
	assert_int_equal(tds_hex_decode(clean, n, &b), 0);
	assert_true(b.len <= cap);
	if (b.len)
		memcpy(out, b.data, b.len);
	size_t len = b.len;
	tds_buf_free(&b);
	return len;
}

static void assert_hex(const uint8_t *got, size_t len, const char *want_hex)
{
	uint8_t want[1024];
	size_t n = unhex(want_hex, want, sizeof want);
	assert_int_equal(len, n);
	assert_memory_equal(got, want, n);
}

static void assert_error(int rc, int code, const char *name)
{
	assert_int_equal(rc, code);
	assert_string_equal(tds_error_name(), name);
}

/* ---- suites ---- */

static void test_suites(void **state)
{
	(void)state;
	tds_suite s;
	assert_int_equal(tds_crypto_init(), 0);
	assert_int_equal(tds_crypto_init(), 0);
	assert_int_equal(tds_suite_parse("gm", &s), 0);
	assert_int_equal(s, TDS_SUITE_GM);
	assert_int_equal(tds_suite_parse("intl", &s), 0);
	assert_int_equal(s, TDS_SUITE_INTL);
	assert_error(tds_suite_parse("GM", &s), TDS_EINVAL, "unknown_suite");
	assert_error(tds_suite_parse("", &s), TDS_EINVAL, "unknown_suite");
	assert_string_equal(tds_suite_name(TDS_SUITE_GM), "gm");
	assert_string_equal(tds_suite_name(TDS_SUITE_INTL), "intl");
	assert_string_equal(tds_hash_alg(TDS_SUITE_GM), "sm3");
	assert_string_equal(tds_hash_alg(TDS_SUITE_INTL), "sha256");
	assert_string_equal(tds_sig_alg(TDS_SUITE_GM), "sm2-sm3");
	assert_string_equal(tds_sig_alg(TDS_SUITE_INTL), "ed25519");
	assert_string_equal(tds_aead_alg(TDS_SUITE_GM), "sm4-gcm");
	assert_string_equal(tds_aead_alg(TDS_SUITE_INTL), "aes-256-gcm");
	assert_int_equal(tds_aead_key_len(TDS_SUITE_GM), 16);
	assert_int_equal(tds_aead_key_len(TDS_SUITE_INTL), 32);
	assert_int_equal(tds_sig_alg_parse("sm2-sm3", &s), 0);
	assert_int_equal(s, TDS_SUITE_GM);
	assert_int_equal(tds_sig_alg_parse("ed25519", &s), 0);
	assert_int_equal(s, TDS_SUITE_INTL);
	assert_error(tds_sig_alg_parse("rsa", &s), TDS_EINVAL, "unknown_algorithm");
	uint8_t out[32];
	assert_error(tds_hash((tds_suite)7, "x", 1, out), TDS_EINVAL, "unknown_suite");
}

/* ---- hashes ---- */

/* GB/T 32905-2016 Appendix A (SM3) and FIPS 180-2 B.1 (SHA-256 "abc"). */
static const char SM3_ABC[] = "66c7f0f4 62eeedd9 d1f2d46b dc10e4e2 4167c487 5cf2f7a2 297da02b 8f4ba8e0";
static const char SM3_ABCD16[] = "debe9ff9 2275b8a1 38604889 c18e5a4d 6fdb70e5 387e5765 293dcba3 9c0c5732";
static const char SHA256_ABC[] = "ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c b410ff61 f20015ad";
static const char SHA256_EMPTY[] = "e3b0c442 98fc1c14 9afbf4c8 996fb924 27ae41e4 649b934c a495991b 7852b855";

static void test_hash_vectors(void **state)
{
	(void)state;
	uint8_t out[TDS_HASH_LEN];
	char abcd16[65] = "";
	for (int i = 0; i < 16; i++)
		strcat(abcd16, "abcd");

	assert_int_equal(tds_hash(TDS_SUITE_GM, "abc", 3, out), 0);
	assert_hex(out, 32, SM3_ABC);
	assert_int_equal(tds_hash(TDS_SUITE_GM, abcd16, 64, out), 0);
	assert_hex(out, 32, SM3_ABCD16);
	assert_int_equal(tds_hash(TDS_SUITE_INTL, "abc", 3, out), 0);
	assert_hex(out, 32, SHA256_ABC);
	assert_int_equal(tds_hash(TDS_SUITE_INTL, NULL, 0, out), 0);
	assert_hex(out, 32, SHA256_EMPTY);

	/* hash2 splits anywhere */
	for (size_t cut = 0; cut <= 64; cut += 7) {
		assert_int_equal(tds_hash2(TDS_SUITE_GM, abcd16, cut, abcd16 + cut, 64 - cut, out), 0);
		assert_hex(out, 32, SM3_ABCD16);
	}
	assert_int_equal(tds_hash2(TDS_SUITE_INTL, "a", 1, "bc", 2, out), 0);
	assert_hex(out, 32, SHA256_ABC);
	assert_int_equal(tds_hash2(TDS_SUITE_INTL, NULL, 0, NULL, 0, out), 0);
	assert_hex(out, 32, SHA256_EMPTY);

	/* the incremental context (OpenSSL path), reused after final */
	tds_hash_ctx *ctx = tds_hash_new(TDS_SUITE_GM);
	assert_non_null(ctx);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 64; i += 4)
			assert_int_equal(tds_hash_update(ctx, abcd16 + i, 4), 0);
		assert_int_equal(tds_hash_final(ctx, out), 0);
		assert_hex(out, 32, SM3_ABCD16);
		assert_int_equal(tds_hash_update(ctx, "ab", 2), 0);
		assert_int_equal(tds_hash_update(ctx, "", 0), 0);
		assert_int_equal(tds_hash_update(ctx, "c", 1), 0);
		assert_int_equal(tds_hash_final(ctx, out), 0);
		assert_hex(out, 32, SM3_ABC);
	}
	tds_hash_free(ctx);
	ctx = tds_hash_new(TDS_SUITE_INTL);
	assert_non_null(ctx);
	assert_int_equal(tds_hash_update(ctx, "abc", 3), 0);
	assert_int_equal(tds_hash_final(ctx, out), 0);
	assert_hex(out, 32, SHA256_ABC);
	assert_int_equal(tds_hash_final(ctx, out), 0);
	assert_hex(out, 32, SHA256_EMPTY);
	tds_hash_free(ctx);
	tds_hash_free(NULL);
	assert_null(tds_hash_new((tds_suite)0));
	assert_string_equal(tds_error_name(), "unknown_suite");
}

/* ---- HMAC, HKDF ---- */

/* HMAC computed by hand from the one-shot hash (RFC 2104), as an independent check. */
static void hmac_by_hand(tds_suite s, const uint8_t *key, size_t klen, const void *msg, size_t mlen,
			 uint8_t out[32])
{
	uint8_t k[64] = {0}, ipad[64], opad[64], inner[32];
	if (klen > 64)
		assert_int_equal(tds_hash(s, key, klen, k), 0);
	else
		memcpy(k, key, klen);
	for (int i = 0; i < 64; i++) {
		ipad[i] = k[i] ^ 0x36;
		opad[i] = k[i] ^ 0x5c;
	}
	assert_int_equal(tds_hash2(s, ipad, 64, msg, mlen, inner), 0);
	assert_int_equal(tds_hash2(s, opad, 64, inner, 32, out), 0);
}

static void test_hmac_hkdf(void **state)
{
	(void)state;
	uint8_t out[64], want[64], okm[42];
	const char *data = "what do ya want for nothing?";

	/* RFC 4231 test case 2 */
	assert_int_equal(tds_hmac(TDS_SUITE_INTL, "Jefe", 4, data, strlen(data), out), 0);
	assert_hex(out, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

	/* RFC 5869 test case 1 */
	uint8_t ikm[22], salt[13], info[10];
	memset(ikm, 0x0b, sizeof ikm);
	for (int i = 0; i < 13; i++)
		salt[i] = (uint8_t)i;
	for (int i = 0; i < 10; i++)
		info[i] = (uint8_t)(0xf0 + i);
	assert_int_equal(tds_hkdf(TDS_SUITE_INTL, salt, 13, ikm, 22, info, 10, okm, 42), 0);
	assert_hex(okm, 42, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");

	/* HMAC-SM3 and HMAC-SHA256 agree with a hand-made HMAC over the independent one-shot hash,
	 * for short and long (hashed-first) keys. */
	uint8_t longkey[131];
	memset(longkey, 0xaa, sizeof longkey);
	for (int s = TDS_SUITE_GM; s <= TDS_SUITE_INTL; s++) {
		assert_int_equal(tds_hmac((tds_suite)s, "Jefe", 4, data, strlen(data), out), 0);
		hmac_by_hand((tds_suite)s, (const uint8_t *)"Jefe", 4, data, strlen(data), want);
		assert_memory_equal(out, want, 32);
		assert_int_equal(tds_hmac((tds_suite)s, longkey, sizeof longkey, data, strlen(data), out), 0);
		hmac_by_hand((tds_suite)s, longkey, sizeof longkey, data, strlen(data), want);
		assert_memory_equal(out, want, 32);
		assert_int_equal(tds_hmac((tds_suite)s, NULL, 0, NULL, 0, out), 0);
	}
	assert_int_equal(tds_hmac(TDS_SUITE_GM, "Jefe", 4, data, strlen(data), out), 0);
	assert_int_equal(tds_hmac(TDS_SUITE_INTL, "Jefe", 4, data, strlen(data), want), 0);
	assert_memory_not_equal(out, want, 32);

	/* HKDF-SM3 by hand: PRK = HMAC(salt, IKM); T1 = HMAC(PRK, info||1); T2 = HMAC(PRK, T1||info||2) */
	uint8_t prk[32], t[32 + 10 + 1], t1[32], t2[32];
	assert_int_equal(tds_hmac(TDS_SUITE_GM, salt, 13, ikm, 22, prk), 0);
	memcpy(t, info, 10);
	t[10] = 1;
	assert_int_equal(tds_hmac(TDS_SUITE_GM, prk, 32, t, 11, t1), 0);
	memcpy(t, t1, 32);
	memcpy(t + 32, info, 10);
	t[42] = 2;
	assert_int_equal(tds_hmac(TDS_SUITE_GM, prk, 32, t, 43, t2), 0);
	assert_int_equal(tds_hkdf(TDS_SUITE_GM, salt, 13, ikm, 22, info, 10, okm, 42), 0);
	assert_memory_equal(okm, t1, 32);
	assert_memory_equal(okm + 32, t2, 10);

	/* an empty salt is HashLen zeros (RFC 5869 §2.2); an empty info is fine */
	uint8_t zeros[32] = {0}, a[32], b[32];
	assert_int_equal(tds_hkdf(TDS_SUITE_GM, NULL, 0, ikm, 22, NULL, 0, a, 32), 0);
	assert_int_equal(tds_hkdf(TDS_SUITE_GM, zeros, 32, ikm, 22, NULL, 0, b, 32), 0);
	assert_memory_equal(a, b, 32);
	assert_error(tds_hkdf(TDS_SUITE_GM, NULL, 0, ikm, 22, NULL, 0, a, 0), TDS_EINVAL, "invalid_length");
	uint8_t *big = malloc(255 * 32 + 1);
	assert_int_equal(tds_hkdf(TDS_SUITE_INTL, NULL, 0, ikm, 22, NULL, 0, big, 255 * 32), 0);
	assert_error(tds_hkdf(TDS_SUITE_INTL, NULL, 0, ikm, 22, NULL, 0, big, 255 * 32 + 1), TDS_EINVAL,
		     "invalid_length");
	free(big);
}

static void test_random_ct(void **state)
{
	(void)state;
	uint8_t a[32] = {0}, b[32] = {0}, zero[32] = {0};
	assert_int_equal(tds_random(a, sizeof a), 0);
	assert_int_equal(tds_random(b, sizeof b), 0);
	assert_memory_not_equal(a, b, 32);
	assert_memory_not_equal(a, zero, 32);
	assert_int_equal(tds_random(NULL, 0), 0);
	assert_true(tds_ct_equal(a, a, 32));
	assert_false(tds_ct_equal(a, b, 32));
	memcpy(b, a, 32);
	b[31] ^= 1;
	assert_false(tds_ct_equal(a, b, 32));
	assert_true(tds_ct_equal(NULL, NULL, 0));
}

/* ---- SM4 block cipher (GB/T 32907-2016 Appendix A) ---- */

static void test_sm4_block(void **state)
{
	(void)state;
	assert_int_equal(tds_crypto_init(), 0);
	uint8_t key[16], block[16];
	unhex("0123456789abcdeffedcba9876543210", key, 16);
	memcpy(block, key, 16);
	gcry_cipher_hd_t h;
	assert_int_equal(gcry_cipher_open(&h, GCRY_CIPHER_SM4, GCRY_CIPHER_MODE_ECB, 0), 0);
	assert_int_equal(gcry_cipher_setkey(h, key, 16), 0);
	assert_int_equal(gcry_cipher_encrypt(h, block, 16, NULL, 0), 0);
	assert_hex(block, 16, "681edf34d206965e86b3e94f536e4246");
	/* example 2: the same block encrypted 1,000,000 times, in place with one context */
	memcpy(block, key, 16);
	for (int i = 0; i < 1000000; i++)
		gcry_cipher_encrypt(h, block, 16, NULL, 0);
	assert_hex(block, 16, "595298c7c6fd271f0402f804c33d3f66");
	gcry_cipher_close(h);
}

/* ---- AEAD ---- */

static void test_sm4_gcm(void **state)
{
	(void)state;
	/* RFC 8998 Appendix A.1 */
	uint8_t key[16], iv[12], aad[20], pt[64], out[80], back[64];
	unhex("0123456789ABCDEFFEDCBA9876543210", key, 16);
	unhex("00001234567800000000ABCD", iv, 12);
	unhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2", aad, 20);
	unhex("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
	      "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA",
	      pt, 64);
	assert_int_equal(tds_aead_seal(TDS_SUITE_GM, key, iv, aad, 20, pt, 64, out), 0);
	assert_hex(out, 80,
		   "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
		   "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
		   "83DE3541E4C2B58177E065A9BF7B62EC");
	assert_int_equal(tds_aead_open(TDS_SUITE_GM, key, iv, aad, 20, out, 80, back), 0);
	assert_memory_equal(back, pt, 64);

	/* every single-bit change is caught, and the output is wiped */
	for (size_t i = 0; i < 80; i += 9) {
		out[i] ^= 0x01;
		memset(back, 0x55, sizeof back);
		assert_error(tds_aead_open(TDS_SUITE_GM, key, iv, aad, 20, out, 80, back), TDS_ECRYPTO,
			     "decrypt_failed");
		uint8_t zero[64] = {0};
		assert_memory_equal(back, zero, 64);
		out[i] ^= 0x01;
	}
	aad[0] ^= 1;
	assert_error(tds_aead_open(TDS_SUITE_GM, key, iv, aad, 20, out, 80, back), TDS_ECRYPTO, "decrypt_failed");
	aad[0] ^= 1;
	assert_error(tds_aead_open(TDS_SUITE_GM, key, iv, aad, 20, out, 15, back), TDS_ECRYPTO, "decrypt_failed");

	/* round trip: empty plaintext, no AAD, in place */
	uint8_t tag_only[16];
	assert_int_equal(tds_aead_seal(TDS_SUITE_GM, key, iv, NULL, 0, NULL, 0, tag_only), 0);
	assert_int_equal(tds_aead_open(TDS_SUITE_GM, key, iv, NULL, 0, tag_only, 16, back), 0);
	uint8_t buf[16 + 33];
	memcpy(buf, "thirty-three bytes of plaintext!!", 33);
	assert_int_equal(tds_aead_seal(TDS_SUITE_GM, key, iv, "ctx", 3, buf, 33, buf), 0);
	assert_memory_not_equal(buf, "thirty-three bytes of plaintext!!", 33);
	assert_int_equal(tds_aead_open(TDS_SUITE_GM, key, iv, "ctx", 3, buf, sizeof buf, buf), 0);
	assert_memory_equal(buf, "thirty-three bytes of plaintext!!", 33);
}

static void test_aes_gcm(void **state)
{
	(void)state;
	/* The Galois/Counter Mode of Operation (McGrew, Viega), test case 16 (= NIST SP 800-38D) */
	uint8_t key[32], iv[12], aad[20], pt[60], out[76], back[60];
	unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", key, 32);
	unhex("cafebabefacedbaddecaf888", iv, 12);
	unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", aad, 20);
	unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	      pt, 60);
	assert_int_equal(tds_aead_seal(TDS_SUITE_INTL, key, iv, aad, 20, pt, 60, out), 0);
	assert_hex(out, 76,
		   "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
		   "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
		   "76fc6ece0f4e1768cddf8853bb2d551b");
	assert_int_equal(tds_aead_open(TDS_SUITE_INTL, key, iv, aad, 20, out, 76, back), 0);
	assert_memory_equal(back, pt, 60);
	out[75] ^= 0x80;
	assert_error(tds_aead_open(TDS_SUITE_INTL, key, iv, aad, 20, out, 76, back), TDS_ECRYPTO,
		     "decrypt_failed");
	out[75] ^= 0x80;
	out[0] ^= 0x80;
	assert_error(tds_aead_open(TDS_SUITE_INTL, key, iv, aad, 20, out, 76, back), TDS_ECRYPTO,
		     "decrypt_failed");

	/* test case 13: zero key and nonce, empty plaintext and AAD: the tag alone */
	uint8_t zkey[32] = {0}, ziv[12] = {0}, tag[16];
	assert_int_equal(tds_aead_seal(TDS_SUITE_INTL, zkey, ziv, NULL, 0, NULL, 0, tag), 0);
	assert_hex(tag, 16, "530f8afbc74536b9a963b4f1c4cb738b");
	assert_int_equal(tds_aead_open(TDS_SUITE_INTL, zkey, ziv, NULL, 0, tag, 16, back), 0);
	assert_error(tds_aead_open(TDS_SUITE_INTL, zkey, ziv, "x", 1, tag, 16, back), TDS_ECRYPTO,
		     "decrypt_failed");
}

/* ---- Ed25519: RFC 8032 §7.1 TEST 1, 2, 3 ---- */

static const struct {
	const char *secret, *public, *msg, *sig;
} RFC8032[] = {
	{"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
	 "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
	 "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
	{"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
	 "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
	 "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
	{"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
	 "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
	 "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
};

static void test_ed25519_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < TDS_ARRAY_LEN(RFC8032); i++) {
		uint8_t secret[32], pub[32], msg[8], sig[64];
		unhex(RFC8032[i].secret, secret, 32);
		unhex(RFC8032[i].public, pub, 32);
		size_t mlen = unhex(RFC8032[i].msg, msg, sizeof msg);
		unhex(RFC8032[i].sig, sig, 64);

		tds_key *k = NULL, *p = NULL;
		assert_int_equal(tds_key_from_private_raw(TDS_SUITE_INTL, secret, 32, &k), 0);
		assert_true(tds_key_has_private(k));
		assert_int_equal(tds_key_suite(k), TDS_SUITE_INTL);
		tds_buf b = TDS_BUF_INIT;
		assert_int_equal(tds_key_public_raw(k, &b), 0);
		assert_hex((uint8_t *)b.data, b.len, RFC8032[i].public);
		tds_buf_reset(&b);
		assert_int_equal(tds_sign(k, msg, mlen, &b), 0);
		assert_hex((uint8_t *)b.data, b.len, RFC8032[i].sig);

		assert_int_equal(tds_key_from_public_raw(TDS_SUITE_INTL, pub, 32, &p), 0);
		assert_false(tds_key_has_private(p));
		assert_int_equal(tds_verify(p, msg, mlen, sig, 64), 0);
		sig[63] ^= 0x10;
		assert_error(tds_verify(p, msg, mlen, sig, 64), TDS_ECRYPTO, "bad_signature");
		sig[63] ^= 0x10;
		assert_error(tds_verify(p, "zz", 2, sig, 64), TDS_ECRYPTO, "bad_signature");
		assert_error(tds_verify(p, msg, mlen, sig, 63), TDS_ECRYPTO, "bad_signature");
		tds_buf_free(&b);
		tds_key_free(k);
		tds_key_free(p);
	}
}

/* ---- SM2 ---- */

/* GB/T 32918.5-2017 (= GM/T 0003.5-2012) Appendix A: signature on the recommended curve with the
 * default user id 1234567812345678. */
static const char GBT_D[] = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8";
static const char GBT_PUB[] = "04"
			      "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
			      "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13";
static const char GBT_R[] = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3";
static const char GBT_S[] = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA";

static void test_sm2_standard_vector(void **state)
{
	(void)state;
	/* DER (r,s): both integers have the high bit set, so each gets a 0x00 pad byte */
	uint8_t der[72];
	der[0] = 0x30, der[1] = 0x46, der[2] = 0x02, der[3] = 0x21, der[4] = 0x00;
	unhex(GBT_R, der + 5, 32);
	der[37] = 0x02, der[38] = 0x21, der[39] = 0x00;
	unhex(GBT_S, der + 40, 32);
	uint8_t pub[65], d[32];
	unhex(GBT_PUB, pub, 65);
	unhex(GBT_D, d, 32);
	const char *msg = "message digest";

	tds_key *p = NULL, *k = NULL;
	assert_int_equal(tds_key_from_public_raw(TDS_SUITE_GM, pub, 65, &p), 0);
	assert_int_equal(tds_verify(p, msg, strlen(msg), der, 72), 0);
	assert_error(tds_verify(p, "message digesT", 14, der, 72), TDS_ECRYPTO, "bad_signature");
	der[71] ^= 1;
	assert_error(tds_verify(p, msg, strlen(msg), der, 72), TDS_ECRYPTO, "bad_signature");
	der[71] ^= 1;

	/* the private key derives the published public key and makes verifiable signatures */
	assert_int_equal(tds_key_from_private_raw(TDS_SUITE_GM, d, 32, &k), 0);
	tds_buf b = TDS_BUF_INIT;
	assert_int_equal(tds_key_public_raw(k, &b), 0);
	assert_hex((uint8_t *)b.data, b.len, GBT_PUB);
	tds_buf_reset(&b);
	assert_int_equal(tds_sign(k, msg, strlen(msg), &b), 0);
	assert_true(b.len <= TDS_SIG_MAX);
	assert_int_equal(tds_verify(p, msg, strlen(msg), (uint8_t *)b.data, b.len), 0);

	/* invalid raw keys */
	tds_key *bad = NULL;
	pub[64] ^= 1; /* off the curve */
	assert_error(tds_key_from_public_raw(TDS_SUITE_GM, pub, 65, &bad), TDS_EINVAL, "invalid_key");
	assert_null(bad);
	pub[64] ^= 1;
	assert_error(tds_key_from_public_raw(TDS_SUITE_GM, pub + 1, 64, &bad), TDS_EINVAL, "invalid_key");
	uint8_t zero[32] = {0};
	assert_error(tds_key_from_private_raw(TDS_SUITE_GM, zero, 32, &bad), TDS_EINVAL, "invalid_key");
	uint8_t n[32]; /* the group order n itself is out of range */
	unhex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", n, 32);
	assert_error(tds_key_from_private_raw(TDS_SUITE_GM, n, 32, &bad), TDS_EINVAL, "invalid_key");
	n[31] -= 1; /* n-1 too (SM2 needs d+1 invertible) */
	assert_error(tds_key_from_private_raw(TDS_SUITE_GM, n, 32, &bad), TDS_EINVAL, "invalid_key");
	n[31] -= 1; /* n-2 is the largest valid key */
	assert_int_equal(tds_key_from_private_raw(TDS_SUITE_GM, n, 32, &bad), 0);
	tds_key_free(bad);

	tds_buf_free(&b);
	tds_key_free(k);
	tds_key_free(p);
}

/* Made with the openssl 3.0.19 command line, not with TDS:
 *   openssl genpkey -algorithm SM2 -out sm2.pem
 *   openssl pkey -in sm2.pem -pubout -out sm2pub.pem
 *   openssl pkeyutl -sign -rawin -digest sm3 -inkey sm2.pem -in msg -out sig.der \
 *       -pkeyopt distid:1234567812345678 */
static const char OSSL_SM2_PRIV[] = "-----BEGIN PRIVATE KEY-----\n"
				    "MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgJrwxwYEIZVTtCs8e\n"
				    "gZGIIDFRUOuSoYP3MIbas0XWGnChRANCAAQp0dQ+cpiBGVcbxOFT+8nisElnehJ0\n"
				    "4bqpUwbAgBfpBE1/p2M1kfZ7rdG4kvSTAs7rMEXrt6nT33jALnnQePAa\n"
				    "-----END PRIVATE KEY-----\n";
static const char OSSL_SM2_PUB[] = "-----BEGIN PUBLIC KEY-----\n"
				   "MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAEKdHUPnKYgRlXG8ThU/vJ4rBJZ3oS\n"
				   "dOG6qVMGwIAX6QRNf6djNZH2e63RuJL0kwLO6zBF67ep0994wC550HjwGg==\n"
				   "-----END PUBLIC KEY-----\n";
static const char OSSL_SM2_MSG[] = "TDS interop vector: signed by the openssl 3.0 command line";
static const char OSSL_SM2_SIG[] = "3046022100d3bc0178c730f85498203a15e0af3c7a90c68f2e3a46755e01774115d68e1876"
				   "022100cc83df986bf1fb5437fbafa44330ec9aa4866df69be97c6f256babe45f7f1885";

static void test_sm2_openssl_vector(void **state)
{
	(void)state;
	uint8_t sig[72];
	size_t siglen = unhex(OSSL_SM2_SIG, sig, sizeof sig);
	tds_key *pub = NULL, *priv = NULL;
	assert_int_equal(tds_key_from_pem(OSSL_SM2_PUB, strlen(OSSL_SM2_PUB), &pub), 0);
	assert_int_equal(tds_key_suite(pub), TDS_SUITE_GM);
	assert_false(tds_key_has_private(pub));
	assert_int_equal(tds_verify(pub, OSSL_SM2_MSG, strlen(OSSL_SM2_MSG), sig, siglen), 0);
	assert_error(tds_verify(pub, OSSL_SM2_MSG, strlen(OSSL_SM2_MSG) - 1, sig, siglen), TDS_ECRYPTO,
		     "bad_signature");
	sig[10] ^= 0x04;
	assert_error(tds_verify(pub, OSSL_SM2_MSG, strlen(OSSL_SM2_MSG), sig, siglen), TDS_ECRYPTO,
		     "bad_signature");
	sig[10] ^= 0x04;
	/* non-DER and truncated encodings are refused, never read past */
	assert_error(tds_verify(pub, OSSL_SM2_MSG, strlen(OSSL_SM2_MSG), sig, siglen - 1), TDS_ECRYPTO,
		     "bad_signature");
	assert_error(tds_verify(pub, OSSL_SM2_MSG, strlen(OSSL_SM2_MSG), sig + 8, 64), TDS_ECRYPTO,
		     "bad_signature");

	/* the private key file of the same pair, and the public halves agree */
	assert_int_equal(tds_key_from_pem(OSSL_SM2_PRIV, strlen(OSSL_SM2_PRIV), &priv), 0);
	assert_true(tds_key_has_private(priv));
	char id1[65], id2[65];
	assert_int_equal(tds_key_id(pub, id1), 0);
	assert_int_equal(tds_key_id(priv, id2), 0);
	assert_string_equal(id1, id2);
	assert_int_equal(strlen(id1), 64);
	tds_buf b = TDS_BUF_INIT;
	assert_int_equal(tds_key_public_pem(priv, &b), 0);
	assert_string_equal(b.data, OSSL_SM2_PUB);
	tds_buf_reset(&b);
	assert_int_equal(tds_key_public_raw(pub, &b), 0);
	uint8_t h[32];
	assert_int_equal(tds_hash(TDS_SUITE_GM, b.data, b.len, h), 0);
	tds_buf hex = TDS_BUF_INIT;
	assert_int_equal(tds_hex_encode(h, 32, &hex), 0);
	assert_string_equal(hex.data, id1);
	tds_buf_free(&hex);
	tds_buf_free(&b);
	tds_key_free(pub);
	tds_key_free(priv);
}

/* Legacy encodings of SM2 keys: the SEC1 "SM2 PRIVATE KEY" that `openssl ec` writes, the same DER
 * labelled "EC PRIVATE KEY" (older tools), and a SubjectPublicKeyInfo with a compressed point. */
static const char SM2_SEC1_BODY[] = "MHcCAQEEIPUXIqw0lmruDAe6xwKihorPFp9FFYFSnrCshMUn/s1RoAoGCCqBHM9V\n"
				    "AYItoUQDQgAEUp1Bt2bhAmuQKvrQUhLLLvptgJsa0796/ZK3nDeAisWdwJUv3pfZ\n"
				    "wFuEekI1MD1rAQwyThKJ8gxUDJA/vnCtZw==\n";
static const char SM2_COMPRESSED_PUB[] = "-----BEGIN PUBLIC KEY-----\n"
					 "MDkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DIgADUp1Bt2bhAmuQKvrQUhLLLvptgJsa\n"
					 "0796/ZK3nDeAisU=\n"
					 "-----END PUBLIC KEY-----\n";
static const char SM2_LEGACY_RAW[] = "04529d41b766e1026b902afad05212cb2efa6d809b1ad3bf7afd92b79c37808ac5"
				     "9dc0952fde97d9c05b847a4235303d6b010c324e1289f20c540c903fbe70ad67";

static void test_sm2_legacy_encodings(void **state)
{
	(void)state;
	const char *labels[] = {"SM2 PRIVATE KEY", "EC PRIVATE KEY"};
	tds_key *pub = NULL;
	assert_int_equal(tds_key_from_pem(SM2_COMPRESSED_PUB, strlen(SM2_COMPRESSED_PUB), &pub), 0);
	assert_int_equal(tds_key_suite(pub), TDS_SUITE_GM);
	tds_buf b = TDS_BUF_INIT;
	assert_int_equal(tds_key_public_raw(pub, &b), 0);
	assert_hex((uint8_t *)b.data, b.len, SM2_LEGACY_RAW);
	for (size_t i = 0; i < 2; i++) {
		char pem[512];
		snprintf(pem, sizeof pem, "-----BEGIN %s-----\n%s-----END %s-----\n", labels[i], SM2_SEC1_BODY,
			 labels[i]);
		tds_key *k = NULL;
		assert_int_equal(tds_key_from_pem(pem, strlen(pem), &k), 0);
		assert_int_equal(tds_key_suite(k), TDS_SUITE_GM);
		assert_true(tds_key_has_private(k));
		tds_buf_reset(&b);
		assert_int_equal(tds_key_public_raw(k, &b), 0);
		assert_hex((uint8_t *)b.data, b.len, SM2_LEGACY_RAW);
		tds_buf_reset(&b);
		assert_int_equal(tds_sign(k, "x", 1, &b), 0);
		assert_int_equal(tds_verify(pub, "x", 1, (uint8_t *)b.data, b.len), 0);
		tds_key_free(k);
	}
	tds_buf_free(&b);
	tds_key_free(pub);
}

/* Generated keys of both suites: sign/verify, tampering, PEM round trips, ids, suite checks. */
static void test_key_round_trips(void **state)
{
	(void)state;
	for (int s = TDS_SUITE_GM; s <= TDS_SUITE_INTL; s++) {
		tds_suite suite = (tds_suite)s, other = s == TDS_SUITE_GM ? TDS_SUITE_INTL : TDS_SUITE_GM;
		tds_key *k = NULL, *k2 = NULL, *pub = NULL, *pub2 = NULL, *stranger = NULL;
		assert_int_equal(tds_key_generate(suite, &k), 0);
		assert_int_equal(tds_key_generate(suite, &stranger), 0);
		assert_int_equal(tds_key_suite(k), suite);
		assert_true(tds_key_has_private(k));
		assert_int_equal(tds_key_check_suite(k, suite), 0);
		assert_error(tds_key_check_suite(k, other), TDS_EINVAL, "suite_mismatch");
		assert_string_equal(tds_error_message(), s == TDS_SUITE_GM
								 ? "ED25519 key expected for suite intl, got SM2"
								 : "SM2 key expected for suite gm, got ED25519");

		const char msg[] = "a provider registers data on its own connector";
		tds_buf sig = TDS_BUF_INIT, pem = TDS_BUF_INIT, ppem = TDS_BUF_INIT, raw = TDS_BUF_INIT;
		assert_int_equal(tds_sign(k, msg, sizeof msg - 1, &sig), 0);
		if (suite == TDS_SUITE_INTL)
			assert_int_equal(sig.len, 64);
		else
			assert_true(sig.len >= 8 && sig.len <= 72 && (uint8_t)sig.data[0] == 0x30);
		assert_int_equal(tds_verify(k, msg, sizeof msg - 1, (uint8_t *)sig.data, sig.len), 0);
		assert_error(tds_verify(stranger, msg, sizeof msg - 1, (uint8_t *)sig.data, sig.len), TDS_ECRYPTO,
			     "bad_signature");
		char tampered[sizeof msg];
		memcpy(tampered, msg, sizeof msg);
		tampered[0] ^= 0x20;
		assert_error(tds_verify(k, tampered, sizeof msg - 1, (uint8_t *)sig.data, sig.len), TDS_ECRYPTO,
			     "bad_signature");
		for (size_t i = 0; i < sig.len; i += 5) {
			sig.data[i] ^= 0x01;
			assert_int_not_equal(tds_verify(k, msg, sizeof msg - 1, (uint8_t *)sig.data, sig.len), 0);
			sig.data[i] ^= 0x01;
		}
		assert_error(tds_verify(k, msg, sizeof msg - 1, (uint8_t *)sig.data, 0), TDS_ECRYPTO,
			     "bad_signature");

		/* empty message */
		tds_buf_reset(&sig);
		assert_int_equal(tds_sign(k, NULL, 0, &sig), 0);
		assert_int_equal(tds_verify(k, NULL, 0, (uint8_t *)sig.data, sig.len), 0);

		/* PEM round trips keep the key */
		assert_int_equal(tds_key_private_pem(k, &pem), 0);
		assert_non_null(strstr(pem.data, "-----BEGIN PRIVATE KEY-----"));
		assert_int_equal(tds_key_public_pem(k, &ppem), 0);
		assert_non_null(strstr(ppem.data, "-----BEGIN PUBLIC KEY-----"));
		assert_int_equal(tds_key_from_pem(pem.data, pem.len, &k2), 0);
		assert_int_equal(tds_key_from_pem(ppem.data, ppem.len, &pub), 0);
		assert_int_equal(tds_key_suite(k2), suite);
		assert_int_equal(tds_key_suite(pub), suite);
		assert_false(tds_key_has_private(pub));
		assert_int_equal(tds_verify(pub, NULL, 0, (uint8_t *)sig.data, sig.len), 0);
		assert_int_equal(tds_key_public_raw(k, &raw), 0);
		assert_int_equal(raw.len, suite == TDS_SUITE_GM ? 65 : 32);
		assert_int_equal(tds_key_from_public_raw(suite, (uint8_t *)raw.data, raw.len, &pub2), 0);
		assert_int_equal(tds_verify(pub2, NULL, 0, (uint8_t *)sig.data, sig.len), 0);
		char id[4][65];
		assert_int_equal(tds_key_id(k, id[0]), 0);
		assert_int_equal(tds_key_id(k2, id[1]), 0);
		assert_int_equal(tds_key_id(pub, id[2]), 0);
		assert_int_equal(tds_key_id(stranger, id[3]), 0);
		assert_string_equal(id[0], id[1]);
		assert_string_equal(id[0], id[2]);
		assert_string_not_equal(id[0], id[3]);

		/* a public key neither signs nor exports a private PEM */
		assert_error(tds_sign(pub, msg, 1, &sig), TDS_EINVAL, "no_private_key");
		assert_error(tds_key_private_pem(pub, &pem), TDS_EINVAL, "no_private_key");
		/* raw keys of the wrong size */
		tds_key *bad = NULL;
		assert_error(tds_key_from_public_raw(suite, (uint8_t *)raw.data, raw.len - 1, &bad), TDS_EINVAL,
			     "invalid_key");
		assert_error(tds_key_from_private_raw(suite, (uint8_t *)raw.data, 31, &bad), TDS_EINVAL,
			     "invalid_key");
		assert_null(bad);

		tds_buf_free(&sig);
		tds_buf_free(&pem);
		tds_buf_free(&ppem);
		tds_buf_free(&raw);
		tds_key_free(k);
		tds_key_free(k2);
		tds_key_free(pub);
		tds_key_free(pub2);
		tds_key_free(stranger);
	}
	tds_key_free(NULL);
}

/* Keys of other types, made with the openssl command line, are refused by name. */
static const char RSA_PUB[] = "-----BEGIN PUBLIC KEY-----\n"
			      "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDuDrTpIiA4dahx0MJA8xrI7yqA\n"
			      "dkWXAAVI3aFwq3DqhSRUayJuMe17O18f56raahTovJSx4AV+xcBttwIeT1xoKeME\n"
			      "p1pm9/Sadj/k2Xb1WewFdvRG9EUKaW7LH0mZI7MWylU7Y6wktgkcLn3YybtetvS/\n"
			      "QegaYumQRYpSAu18+QIDAQAB\n"
			      "-----END PUBLIC KEY-----\n";
static const char P256_PRIV[] = "-----BEGIN PRIVATE KEY-----\n"
				"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAOxBAj8E6LfnubYb\n"
				"el2VAJLZrmgWJipbuKsFXgrJA9KhRANCAARqQzI4ZtCtDuUP2jnT7UBeJS77bJbJ\n"
				"N6WGWEpp/KtGonK8GfGoNLBMDD6oUYt0f2b5qNbNWbe8vMGFw1/DO1dq\n"
				"-----END PRIVATE KEY-----\n";
static const char ED448_PUB[] = "-----BEGIN PUBLIC KEY-----\n"
				"MEMwBQYDK2VxAzoAE6basJJvaSdlcroyqEsh7xgUlEkZD/jnuRX1YiyzyODkopqf\n"
				"pKDE1Xx7WqXWJsUgiyjtYJ54I9GA\n"
				"-----END PUBLIC KEY-----\n";

static void test_pem_refusals(void **state)
{
	(void)state;
	tds_key *k = NULL;
	assert_error(tds_key_from_pem(RSA_PUB, strlen(RSA_PUB), &k), TDS_EINVAL, "unsupported_key_type");
	assert_non_null(strstr(tds_error_message(), "RSA"));
	assert_error(tds_key_from_pem(P256_PRIV, strlen(P256_PRIV), &k), TDS_EINVAL, "unsupported_key_type");
	assert_non_null(strstr(tds_error_message(), "prime256v1"));
	assert_error(tds_key_from_pem(ED448_PUB, strlen(ED448_PUB), &k), TDS_EINVAL, "unsupported_key_type");
	assert_non_null(strstr(tds_error_message(), "ED448"));
	assert_null(k);

	const char *garbage[] = {
		"",
		"hello",
		"-----BEGIN PUBLIC KEY-----\nnot base64 at all\n-----END PUBLIC KEY-----\n",
		"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAEKdHUPnKYgRlXG8ThU\n-----END PUBLIC KEY-----\n",
		"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgJrwxwYEIZVTtCs8e\n",
		"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
		"-----BEGIN PUBLIC KEY",
		"-----BEGIN ",
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(garbage); i++) {
		assert_error(tds_key_from_pem(garbage[i], strlen(garbage[i]), &k), TDS_EINVAL, "invalid_key");
		assert_null(k);
	}
	const char enc[] = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
	assert_error(tds_key_from_pem(enc, strlen(enc), &k), TDS_EINVAL, "encrypted_key");
	/* an SM2 PKCS#8 file whose public point is not d*G (found by fuzz_pem_key: one base64 digit
	 * of the private scalar changed) would sign with one key and publish another */
	const char mismatched[] = "-----BEGIN PRIVATE KEY-----\n"
				  "MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgJrwxwYEIZVges8t\n"
				  "CTZGIIDFRUOuSoYP3MIbas0XWGnChRANCAAQp0dQ+cpiBGVcbxOFT+8nisElnehJ0\n"
				  "4bqpUwbAgBfpBE1/p2M1kfZ7rdG4kvSTAs7rMEXrt6nT33jALnnQePAa\n"
				  "-----END PRIVATE KEY-----\n";
	assert_error(tds_key_from_pem(mismatched, strlen(mismatched), &k), TDS_EINVAL, "invalid_key");
	assert_non_null(strstr(tds_error_message(), "inconsistent"));
	/* encryption headers are refused, never answered with a password prompt on the terminal */
	const char *headed[] = {"PUBLIC KEY", "EC PRIVATE KEY"};
	for (size_t i = 0; i < 2; i++) {
		char pem[512];
		snprintf(pem, sizeof pem,
			 "-----BEGIN %s-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n"
			 "%s-----END %s-----\n",
			 headed[i], SM2_SEC1_BODY, headed[i]);
		assert_error(tds_key_from_pem(pem, strlen(pem), &k), TDS_EINVAL, "invalid_key");
	}
	/* a public key where a private one is labelled is not accepted either */
	char swapped[512];
	snprintf(swapped, sizeof swapped, "-----BEGIN PRIVATE KEY-----\n%s", OSSL_SM2_PUB + 27);
	assert_error(tds_key_from_pem(swapped, strlen(swapped), &k), TDS_EINVAL, "invalid_key");
	/* the text need not be NUL-terminated: only len bytes are read */
	char copy[sizeof OSSL_SM2_PUB];
	memcpy(copy, OSSL_SM2_PUB, sizeof copy - 1);
	copy[sizeof copy - 1] = 'X';
	assert_int_equal(tds_key_from_pem(copy, sizeof copy - 1, &k), 0);
	tds_key_free(k);
}

/* ---- sealed secrets ---- */

static void test_seal(void **state)
{
	(void)state;
	uint8_t master[32], other[32];
	assert_int_equal(tds_random(master, 32), 0);
	memcpy(other, master, 32);
	other[0] ^= 1;
	const char secret[] = "db password: correct horse battery staple";
	for (int s = TDS_SUITE_GM; s <= TDS_SUITE_INTL; s++) {
		tds_buf blob = TDS_BUF_INIT, back = TDS_BUF_INIT, blob2 = TDS_BUF_INIT;
		assert_int_equal(tds_seal((tds_suite)s, master, "db-password", secret, strlen(secret), &blob), 0);
		assert_int_equal(blob.len, strlen(secret) + TDS_SEAL_OVERHEAD);
		assert_int_equal((uint8_t)blob.data[0], 1);
		assert_int_equal((uint8_t)blob.data[1], s);
		assert_int_equal(tds_unseal(master, "db-password", blob.data, blob.len, &back), 0);
		assert_int_equal(back.len, strlen(secret));
		assert_memory_equal(back.data, secret, back.len);

		/* sealing twice gives different blobs (fresh salt and nonce) */
		assert_int_equal(tds_seal((tds_suite)s, master, "db-password", secret, strlen(secret), &blob2), 0);
		assert_memory_not_equal(blob.data, blob2.data, blob.len);

		tds_buf_reset(&back);
		assert_error(tds_unseal(master, "db-passwore", blob.data, blob.len, &back), TDS_ECRYPTO,
			     "decrypt_failed");
		assert_error(tds_unseal(master, "", blob.data, blob.len, &back), TDS_ECRYPTO, "decrypt_failed");
		assert_error(tds_unseal(other, "db-password", blob.data, blob.len, &back), TDS_ECRYPTO,
			     "decrypt_failed");
		assert_int_equal(back.len, 0);
		/* every byte after the version/suite pair is authenticated */
		for (size_t i = 2; i < blob.len; i++) {
			blob.data[i] ^= 0x40;
			assert_error(tds_unseal(master, "db-password", blob.data, blob.len, &back), TDS_ECRYPTO,
				     "decrypt_failed");
			blob.data[i] ^= 0x40;
		}
		/* a changed suite byte names the other suite: wrong key length and algorithm, fails */
		blob.data[1] = (char)(s == TDS_SUITE_GM ? TDS_SUITE_INTL : TDS_SUITE_GM);
		assert_error(tds_unseal(master, "db-password", blob.data, blob.len, &back), TDS_ECRYPTO,
			     "decrypt_failed");
		blob.data[1] = 9;
		assert_error(tds_unseal(master, "db-password", blob.data, blob.len, &back), TDS_EINVAL,
			     "invalid_sealed_data");
		blob.data[1] = (char)s;
		blob.data[0] = 2;
		assert_error(tds_unseal(master, "db-password", blob.data, blob.len, &back), TDS_EINVAL,
			     "invalid_sealed_data");
		blob.data[0] = 1;
		assert_error(tds_unseal(master, "db-password", blob.data, blob.len - 1, &back), TDS_ECRYPTO,
			     "decrypt_failed");
		assert_error(tds_unseal(master, "db-password", blob.data, TDS_SEAL_OVERHEAD - 1, &back),
			     TDS_EINVAL, "invalid_sealed_data");
		assert_int_equal(tds_unseal(master, "db-password", blob.data, blob.len, &back), 0);

		/* empty secret */
		tds_buf_reset(&blob);
		tds_buf_reset(&back);
		assert_int_equal(tds_seal((tds_suite)s, master, "empty", NULL, 0, &blob), 0);
		assert_int_equal(blob.len, TDS_SEAL_OVERHEAD);
		assert_int_equal(tds_unseal(master, "empty", blob.data, blob.len, &back), 0);
		assert_int_equal(back.len, 0);
		tds_buf_free(&blob);
		tds_buf_free(&blob2);
		tds_buf_free(&back);
	}
}

static void test_key_files(void **state)
{
	(void)state;
	char dir[] = "/tmp/tds-crypto-test-XXXXXX", path[256];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/node.key", dir);
	uint8_t master[32], other[32];
	assert_int_equal(tds_random(master, 32), 0);
	assert_int_equal(tds_random(other, 32), 0);

	for (int s = TDS_SUITE_GM; s <= TDS_SUITE_INTL; s++) {
		tds_key *k = NULL, *back = NULL, *pub = NULL;
		assert_int_equal(tds_key_generate((tds_suite)s, &k), 0);
		assert_int_equal(tds_key_save_sealed(k, master, path), 0);
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		assert_int_equal(tds_key_load_sealed(path, master, &back), 0);
		assert_int_equal(tds_key_suite(back), s);
		assert_true(tds_key_has_private(back));
		char id1[65], id2[65];
		assert_int_equal(tds_key_id(k, id1), 0);
		assert_int_equal(tds_key_id(back, id2), 0);
		assert_string_equal(id1, id2);
		tds_key_free(back);
		back = NULL;

		assert_error(tds_key_load_sealed(path, other, &back), TDS_ECRYPTO, "decrypt_failed");
		assert_null(back);

		assert_int_equal(chmod(path, 0644), 0);
		assert_error(tds_key_load_sealed(path, master, &back), TDS_EPERM, "insecure_key_file");
		assert_non_null(strstr(tds_error_message(), "chmod 600"));
		assert_int_equal(chmod(path, 0640), 0);
		assert_error(tds_key_load_sealed(path, master, &back), TDS_EPERM, "insecure_key_file");
		assert_null(back);

		/* public keys have nothing to seal */
		tds_buf ppem = TDS_BUF_INIT;
		assert_int_equal(tds_key_public_pem(k, &ppem), 0);
		assert_int_equal(tds_key_from_pem(ppem.data, ppem.len, &pub), 0);
		assert_error(tds_key_save_sealed(pub, master, path), TDS_EINVAL, "no_private_key");
		tds_buf_free(&ppem);
		tds_key_free(pub);
		tds_key_free(k);
	}

	/* not a sealed key file */
	const char *junk[] = {"hello\n", "-----BEGIN TDS SEALED KEY-----\nAAAA\n",
			      "-----BEGIN TDS SEALED KEY-----\n!!!!\n-----END TDS SEALED KEY-----\n",
			      "-----BEGIN TDS SEALED KEY-----\nAAAA\n-----END TDS SEALED KEY-----\n"};
	const char *junk_err[] = {"invalid_key_file", "invalid_key_file", "invalid_key_file", "invalid_sealed_data"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(junk); i++) {
		assert_int_equal(tds_file_write_atomic(path, junk[i], strlen(junk[i]), 0600), 0);
		tds_key *k = NULL;
		assert_int_not_equal(tds_key_load_sealed(path, other, &k), 0);
		assert_string_equal(tds_error_name(), junk_err[i]);
		assert_null(k);
	}
	unlink(path);
	tds_key *k = NULL;
	assert_error(tds_key_load_sealed(path, master, &k), TDS_EIO, "io_error");
	assert_int_equal(rmdir(dir), 0);
}

/* ---- threads: several signers and verifiers on one key ---- */

struct thread_arg {
	const tds_key *key;
	int failures;
};

static void *sign_verify_loop(void *p)
{
	struct thread_arg *a = p;
	for (int i = 0; i < 100; i++) {
		char msg[32];
		int n = snprintf(msg, sizeof msg, "message %d", i);
		tds_buf sig = TDS_BUF_INIT;
		if (tds_sign(a->key, msg, (size_t)n, &sig) ||
		    tds_verify(a->key, msg, (size_t)n, (uint8_t *)sig.data, sig.len))
			a->failures++;
		if (tds_verify(a->key, msg, (size_t)n - 1, (uint8_t *)sig.data, sig.len) == 0)
			a->failures++;
		tds_buf_free(&sig);
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	for (int s = TDS_SUITE_GM; s <= TDS_SUITE_INTL; s++) {
		tds_key *k = NULL;
		assert_int_equal(tds_key_generate((tds_suite)s, &k), 0);
		pthread_t t[4];
		struct thread_arg args[4];
		for (int i = 0; i < 4; i++) {
			args[i] = (struct thread_arg){k, 0};
			assert_int_equal(pthread_create(&t[i], NULL, sign_verify_loop, &args[i]), 0);
		}
		for (int i = 0; i < 4; i++) {
			pthread_join(t[i], NULL);
			assert_int_equal(args[i].failures, 0);
		}
		tds_key_free(k);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suites),
		cmocka_unit_test(test_hash_vectors),
		cmocka_unit_test(test_hmac_hkdf),
		cmocka_unit_test(test_random_ct),
		cmocka_unit_test(test_sm4_block),
		cmocka_unit_test(test_sm4_gcm),
		cmocka_unit_test(test_aes_gcm),
		cmocka_unit_test(test_ed25519_vectors),
		cmocka_unit_test(test_sm2_standard_vector),
		cmocka_unit_test(test_sm2_openssl_vector),
		cmocka_unit_test(test_sm2_legacy_encodings),
		cmocka_unit_test(test_key_round_trips),
		cmocka_unit_test(test_pem_refusals),
		cmocka_unit_test(test_seal),
		cmocka_unit_test(test_key_files),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
