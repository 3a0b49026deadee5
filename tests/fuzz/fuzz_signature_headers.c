/*
 * fuzz_signature_headers.c — libFuzzer target for request-signature verification (http/sign.c):
 * arbitrary Signature-Input, Signature, Content-Digest, a covered extra field, request target and
 * body go through the RFC 8941 parser, the Content-Digest check, the signature base and the whole
 * verifier policy (clock, coverage, digest, key resolution, signature, replay cache). Any input must
 * be accepted or refused with an error, never crash, leak or read out of bounds.
 *
 * Input: one flag byte, then up to six NUL-separated sections
 *   Signature-Input \0 Signature \0 Content-Digest \0 X-Extra \0 target \0 body
 * A missing section is an absent field (the target defaults to "/"). Flag bits: 0-1 method (GET,
 * POST, PUT, DELETE), 2 scheme https, 3 duplicate the Signature-Input line, 4 upper-case field
 * names. The resolver knows keyid "fuzz-ed25519" (the RFC 8032 test 1 key) and "fuzz-sm2" (fixed
 * scalar), so seeds signed with them at FUZZ_NOW reach the signature check and the replay cache.
 */
#include "crypto/crypto.h"
#include "http/http.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW 1767225600000LL

static tds_key *ed_key, *sm2_key;
static tds_sig_verifier *verifier;

static const uint8_t ED_SEED[32] = {0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a,
				     0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32,
				     0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};
static const uint8_t SM2_D[32] = {0x39, 0x45, 0x20, 0x8f, 0x7b, 0x21, 0x44, 0xb1, 0x3f, 0x36, 0xe3,
				   0x8a, 0xc6, 0xd3, 0x9f, 0x95, 0x88, 0x93, 0x93, 0x69, 0x28, 0x60,
				   0xb5, 0x1a, 0x42, 0xfb, 0x81, 0xef, 0x4d, 0xf7, 0xc5, 0xb8};

static int resolve(void *ctx, const char *keyid, tds_arena *a, const tds_key **key, tds_principal *p)
{
	if (strcmp(keyid, "fuzz-ed25519") == 0)
		*key = ed_key;
	else if (strcmp(keyid, "fuzz-sm2") == 0)
		*key = sm2_key;
	else if (strcmp(keyid, "revoked") == 0)
		return tds_error_set(TDS_EAUTH, "certificate_revoked", "revoked");
	else
		return TDS_ENOTFOUND;
	p->org_id = tds_arena_strdup(a, "org_fuzz");
	return 0;
}

static void init(void)
{
	if (verifier)
		return;
	tds_sig_verifier_opts o = {.resolve = resolve, .replay_capacity = 1024};
	if (tds_key_from_private_raw(TDS_SUITE_INTL, ED_SEED, sizeof ED_SEED, &ed_key) ||
	    tds_key_from_private_raw(TDS_SUITE_GM, SM2_D, sizeof SM2_D, &sm2_key) || tds_sig_verifier_new(&o, &verifier))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init();
	if (size < 1 || size > 64 * 1024)
		return 0;
	uint8_t flags = data[0];
	/* copy, so every section is NUL-terminated */
	char *buf = malloc(size + 1);
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = 0;
	const char *sec[6] = {NULL};
	size_t nsec = 0;
	const char *p = buf, *end = buf + size - 1;
	while (nsec < 6 && p <= end) {
		sec[nsec++] = p;
		const char *z = memchr(p, 0, (size_t)(end - p) + 1);
		p = z + 1;
	}
	static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};
	bool upper = flags & 0x10;
	tds_sig_field f[7];
	size_t nf = 0;
	f[nf++] = (tds_sig_field){upper ? "HOST" : "host", "node.example:8080"};
	if (sec[0])
		f[nf++] = (tds_sig_field){upper ? "SIGNATURE-INPUT" : "signature-input", sec[0]};
	if (sec[0] && (flags & 0x08))
		f[nf++] = (tds_sig_field){"Signature-Input", sec[0]};
	if (sec[1])
		f[nf++] = (tds_sig_field){upper ? "SIGNATURE" : "signature", sec[1]};
	if (sec[2])
		f[nf++] = (tds_sig_field){upper ? "CONTENT-DIGEST" : "content-digest", sec[2]};
	if (sec[3])
		f[nf++] = (tds_sig_field){"X-Extra", sec[3]};
	const char *body = sec[5];
	size_t body_len = body ? (size_t)(end - body) : 0;
	tds_sig_message m = {
		.method = methods[flags & 3],
		.scheme = (flags & 0x04) ? "https" : "http",
		.authority = "node.example:8080",
		.target = sec[4] && sec[4][0] ? sec[4] : "/",
		.fields = f,
		.nfields = nf,
		.body = body,
		.body_len = body_len,
	};

	if (sec[2])
		tds_content_digest_check(sec[2], body, body_len);
	tds_buf base = TDS_BUF_INIT;
	if (tds_sig_base(&m, "tds", &base) == 0 && base.len == 0)
		abort(); /* a base always ends with @signature-params */
	tds_buf_free(&base);
	tds_arena *a = tds_arena_new(0);
	tds_principal pr;
	int rc = tds_sig_verify(verifier, &m, FUZZ_NOW, a, &pr);
	if (rc == 0 && pr.roles != 0 && !(pr.roles & TDS_ROLE_NODE))
		abort();
	if (rc < 0 && pr.roles != 0)
		abort(); /* a refusal never leaves a principal */
	if (rc < 0 && !tds_error_name()[0])
		abort(); /* every refusal is named */
	tds_arena_free(a);
	free(buf);
	return 0;
}
