/*
 * test_cert.c — node certificates (节点证书): the operator issues a connector's certificate and
 * every other node verifies it. Round trips in both suites and across suites, the validity window,
 * each tampered member, wrong issuers and algorithms, unknown or missing members, malformed values
 * and oversized input, and the certificate hash used by caches and revocation lists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "crypto/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS (24LL * 3600 * 1000)
#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */

static tds_key *gm_op, *intl_op, *gm_node, *intl_node;

static int setup(void **state)
{
	if (tds_key_generate(TDS_SUITE_GM, &gm_op) || tds_key_generate(TDS_SUITE_INTL, &intl_op) ||
	    tds_key_generate(TDS_SUITE_GM, &gm_node) || tds_key_generate(TDS_SUITE_INTL, &intl_node))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	tds_key_free(gm_op);
	tds_key_free(intl_op);
	tds_key_free(gm_node);
	tds_key_free(intl_node);
	return 0;
}

/* A connector's statement as the operator would fill it after approving a registration. */
static void statement(tds_node_cert *c, const tds_key *subject)
{
	memset(c, 0, sizeof *c);
	assert_int_equal(tds_id_new("crt", c->serial), 0);
	assert_int_equal(tds_id_new("node", c->node_id), 0);
	assert_int_equal(tds_id_new("org", c->org_id), 0);
	assert_int_equal(tds_id_new("node", c->issuer_node_id), 0);
	c->role = TDS_NODE_ROLE_CONNECTOR;
	snprintf(c->api_endpoint, sizeof c->api_endpoint, "https://connector-1.example.cn:8443");
	snprintf(c->data_endpoint, sizeof c->data_endpoint, "https://connector-1.example.cn:9443/data/v1");
	memset(c->hw_fingerprint, 'a', TDS_HASH_HEX_LEN);
	c->hw_fingerprint[7] = '3';
	c->issued_at_ms = T0;
	c->expires_at_ms = T0 + 365 * DAY_MS;
	assert_int_equal(tds_cert_set_key(c, subject), 0);
}

static char *issue(const tds_node_cert *c, const tds_key *issuer)
{
	tds_buf out = TDS_BUF_INIT;
	assert_int_equal(tds_cert_issue(c, issuer, &out), 0);
	return tds_buf_steal(&out);
}

static void expect_fail(const char *json, const tds_key *issuer, int64_t now, int code, const char *name)
{
	tds_node_cert out;
	tds_key *sub = (tds_key *)(uintptr_t)1;
	int rc = tds_cert_parse_verify(json, strlen(json), issuer, now, &out, &sub);
	if (rc != code || strcmp(tds_error_name(), name) != 0)
		fail_msg("expected %d %s, got %d %s: %s", code, name, rc, tds_error_name(), tds_error_message());
	assert_null(sub);
	assert_int_equal(out.node_id[0], 0); /* zeroed on failure */
}

static void round_trip(const tds_key *issuer, const tds_key *subject)
{
	tds_node_cert c, out;
	statement(&c, subject);
	char *json = issue(&c, issuer);
	tds_key *sub = NULL;
	assert_int_equal(tds_cert_parse_verify(json, strlen(json), issuer, T0 + DAY_MS, &out, &sub), 0);
	assert_string_equal(out.node_id, c.node_id);
	assert_string_equal(out.org_id, c.org_id);
	assert_string_equal(out.serial, c.serial);
	assert_string_equal(out.api_endpoint, c.api_endpoint);
	assert_string_equal(out.data_endpoint, c.data_endpoint);
	assert_string_equal(out.hw_fingerprint, c.hw_fingerprint);
	assert_string_equal(out.issuer_node_id, c.issuer_node_id);
	assert_int_equal(out.role, TDS_NODE_ROLE_CONNECTOR);
	assert_int_equal(out.issued_at_ms, c.issued_at_ms);
	assert_int_equal(out.expires_at_ms, c.expires_at_ms);
	assert_int_equal(out.key_suite, tds_key_suite(subject));
	assert_int_equal(out.sig_suite, tds_key_suite(issuer));
	char kid[TDS_KEY_ID_LEN + 1];
	assert_int_equal(tds_key_id(issuer, kid), 0);
	assert_string_equal(out.issuer_key_id, kid);
	assert_int_equal(tds_key_id(subject, kid), 0);
	assert_string_equal(out.key_id, kid);
	/* the subject key that comes out verifies the subject's signatures */
	assert_non_null(sub);
	char kid2[TDS_KEY_ID_LEN + 1];
	assert_int_equal(tds_key_id(sub, kid2), 0);
	assert_string_equal(kid, kid2);
	tds_buf sig = TDS_BUF_INIT;
	assert_int_equal(tds_sign(subject, "hello", 5, &sig), 0);
	assert_int_equal(tds_verify(sub, "hello", 5, (const uint8_t *)sig.data, sig.len), 0);
	tds_buf_free(&sig);
	tds_key_free(sub);
	/* the issued form is canonical JSON: issuing writes exactly what canonicalisation gives */
	json_t *doc;
	assert_int_equal(tds_json_parse(json, strlen(json), &doc), 0);
	tds_buf canon = TDS_BUF_INIT;
	assert_int_equal(tds_json_canonical(doc, &canon), 0);
	assert_string_equal(canon.data, json);
	tds_buf_free(&canon);
	json_decref(doc);
	/* subject_key may be NULL */
	assert_int_equal(tds_cert_parse_verify(json, strlen(json), issuer, T0, &out, NULL), 0);
	free(json);
}

static void test_round_trips(void **state)
{
	round_trip(gm_op, gm_node);
	round_trip(intl_op, intl_node);
}

static void test_cross_suite(void **state)
{
	round_trip(gm_op, intl_node);
	round_trip(intl_op, gm_node);
}

static void test_format(void **state)
{
	tds_node_cert c;
	statement(&c, intl_node);
	c.role = TDS_NODE_ROLE_OPERATOR;
	char *json = issue(&c, gm_op);
	json_t *doc;
	assert_int_equal(tds_json_parse(json, strlen(json), &doc), 0);
	assert_string_equal(tds_json_str(doc, "sig_alg", ""), "sm2-sm3");
	json_t *st = json_object_get(doc, "cert");
	assert_string_equal(tds_json_str(st, "type", ""), "tds.node_cert");
	assert_int_equal(tds_json_int(st, "version", 0), 1);
	assert_string_equal(tds_json_str(st, "role", ""), "operator");
	assert_string_equal(tds_json_str(st, "key_alg", ""), "ed25519");
	assert_string_equal(tds_json_str(st, "issued_at", ""), "2026-01-01T00:00:00.000Z");
	assert_string_equal(tds_json_str(st, "expires_at", ""), "2027-01-01T00:00:00.000Z");
	assert_string_equal(tds_json_str(st, "issuer", ""), c.issuer_node_id);
	assert_int_equal(json_object_size(st), 15);
	assert_int_equal(json_object_size(doc), 3);
	/* the statement helper gives the same object (once issuer_key_id is known) */
	assert_null(tds_cert_statement_json(&c));
	assert_string_equal(tds_error_name(), "invalid_certificate");
	assert_int_equal(tds_key_id(gm_op, c.issuer_key_id), 0);
	json_t *again = tds_cert_statement_json(&c);
	assert_non_null(again);
	assert_true(json_equal(again, st));
	json_decref(again);
	json_decref(doc);
	free(json);
}

/* Any formatting of the same certificate verifies: the signature is over the canonical form. */
static void test_reformatted(void **state)
{
	tds_node_cert c, out;
	statement(&c, gm_node);
	char *json = issue(&c, intl_op);
	json_t *doc;
	assert_int_equal(tds_json_parse(json, strlen(json), &doc), 0);
	char *pretty = json_dumps(doc, JSON_INDENT(3));
	assert_int_equal(tds_cert_parse_verify(pretty, strlen(pretty), intl_op, T0, &out, NULL), 0);
	uint8_t h1[TDS_HASH_LEN], h2[TDS_HASH_LEN];
	assert_int_equal(tds_cert_hash(json, strlen(json), h1), 0);
	assert_int_equal(tds_cert_hash(pretty, strlen(pretty), h2), 0);
	assert_memory_equal(h1, h2, sizeof h1);
	free(pretty);
	json_decref(doc);
	free(json);
}

static void test_window(void **state)
{
	tds_node_cert c, out;
	statement(&c, gm_node);
	char *json = issue(&c, gm_op);
	size_t n = strlen(json);
	/* edges: the skew allowance at both ends */
	assert_int_equal(tds_cert_parse_verify(json, n, gm_op, c.issued_at_ms - TDS_CERT_SKEW_MS, &out, NULL), 0);
	assert_int_equal(tds_cert_parse_verify(json, n, gm_op, c.expires_at_ms + TDS_CERT_SKEW_MS, &out, NULL), 0);
	expect_fail(json, gm_op, c.issued_at_ms - TDS_CERT_SKEW_MS - 1, TDS_EAUTH, "certificate_not_yet_valid");
	expect_fail(json, gm_op, c.expires_at_ms + TDS_CERT_SKEW_MS + 1, TDS_EAUTH, "certificate_expired");
	expect_fail(json, gm_op, c.expires_at_ms + 30 * DAY_MS, TDS_EAUTH, "certificate_expired");
	free(json);

	/* an empty or inverted window never issues */
	statement(&c, gm_node);
	c.expires_at_ms = c.issued_at_ms;
	tds_buf b = TDS_BUF_INIT;
	assert_int_equal(tds_cert_issue(&c, gm_op, &b), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "invalid_certificate");
	assert_int_equal(b.len, 0);
}

/* Replaces one statement member (or envelope member when top) and serialises again. */
static char *edit(const char *json, bool top, const char *key, json_t *value)
{
	json_t *doc;
	assert_int_equal(tds_json_parse(json, strlen(json), &doc), 0);
	json_t *o = top ? doc : json_object_get(doc, "cert");
	if (value)
		json_object_set_new(o, key, value);
	else
		json_object_del(o, key);
	char *s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return s;
}

static void test_tampered(void **state)
{
	tds_node_cert c;
	statement(&c, intl_node);
	char *json = issue(&c, gm_op);
	char other_node[TDS_ID_MAX], other_org[TDS_ID_MAX], other_serial[TDS_ID_MAX];
	assert_int_equal(tds_id_new("node", other_node), 0);
	assert_int_equal(tds_id_new("org", other_org), 0);
	assert_int_equal(tds_id_new("crt", other_serial), 0);
	tds_buf pk = TDS_BUF_INIT, raw = TDS_BUF_INIT;
	assert_int_equal(tds_key_public_raw(intl_op, &raw), 0); /* another valid Ed25519 key */
	assert_int_equal(tds_b64_encode(raw.data, raw.len, &pk), 0);
	struct {
		const char *key;
		json_t *value;
	} cases[] = {
		{"node_id", json_string(other_node)},
		{"org_id", json_string(other_org)},
		{"serial", json_string(other_serial)},
		{"issuer", json_string(other_node)},
		{"role", json_string("operator")},
		{"api_endpoint", json_string("https://evil.example:8443")},
		{"data_endpoint", json_string("http://connector-1.example.cn:9443/data/v1")},
		{"public_key", json_string(pk.data)},
		{"hw_fingerprint", json_string("0000000000000000000000000000000000000000000000000000000000000000")},
		{"issued_at", json_string("2025-12-31T00:00:00.000Z")},
		{"expires_at", json_string("2036-01-01T00:00:00.000Z")},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(cases); i++) {
		char *t = edit(json, false, cases[i].key, cases[i].value);
		expect_fail(t, gm_op, T0, TDS_ECRYPTO, "certificate_bad_signature");
		free(t);
	}
	/* a signature of something else */
	tds_buf sig = TDS_BUF_INIT, b64 = TDS_BUF_INIT;
	assert_int_equal(tds_sign(gm_op, "x", 1, &sig), 0);
	assert_int_equal(tds_b64_encode(sig.data, sig.len, &b64), 0);
	char *t = edit(json, true, "signature", json_string(b64.data));
	expect_fail(t, gm_op, T0, TDS_ECRYPTO, "certificate_bad_signature");
	free(t);
	tds_buf_free(&sig);
	tds_buf_free(&b64);
	tds_buf_free(&pk);
	tds_buf_free(&raw);
	free(json);
}

static void test_wrong_issuer(void **state)
{
	tds_node_cert c;
	statement(&c, gm_node);
	char *json = issue(&c, gm_op);
	/* another operator key of the same suite */
	tds_key *other;
	assert_int_equal(tds_key_generate(TDS_SUITE_GM, &other), 0);
	expect_fail(json, other, T0, TDS_ECRYPTO, "certificate_wrong_issuer");
	/* forged: claims the other key as issuer, still carries gm_op's signature */
	char kid[TDS_KEY_ID_LEN + 1];
	assert_int_equal(tds_key_id(other, kid), 0);
	char *t = edit(json, false, "issuer_key_id", json_string(kid));
	expect_fail(t, other, T0, TDS_ECRYPTO, "certificate_bad_signature");
	free(t);
	/* an issuer of the other suite */
	expect_fail(json, intl_op, T0, TDS_ECRYPTO, "certificate_wrong_issuer");
	/* sig_alg that is not the issuer key's algorithm */
	t = edit(json, true, "sig_alg", json_string("ed25519"));
	expect_fail(t, gm_op, T0, TDS_ECRYPTO, "certificate_alg_mismatch");
	free(t);
	t = edit(json, true, "sig_alg", json_string("rsa-pss-sha512"));
	expect_fail(t, gm_op, T0, TDS_EINVAL, "invalid_certificate");
	free(t);
	/* the subject's own key is no issuer */
	expect_fail(json, gm_node, T0, TDS_ECRYPTO, "certificate_wrong_issuer");
	tds_key_free(other);
	free(json);
}

static void test_issue_refusals(void **state)
{
	tds_node_cert c;
	tds_buf out = TDS_BUF_INIT;
	statement(&c, gm_node);
	/* a public issuer key cannot sign */
	tds_buf pem = TDS_BUF_INIT;
	tds_key *pub;
	assert_int_equal(tds_key_public_pem(gm_op, &pem), 0);
	assert_int_equal(tds_key_from_pem(pem.data, pem.len, &pub), 0);
	assert_int_equal(tds_cert_issue(&c, pub, &out), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "no_private_key");
	tds_key_free(pub);
	tds_buf_free(&pem);
	/* issuer_key_id naming another key */
	assert_int_equal(tds_key_id(intl_op, c.issuer_key_id), 0);
	assert_int_equal(tds_cert_issue(&c, gm_op, &out), TDS_ECRYPTO);
	assert_string_equal(tds_error_name(), "certificate_wrong_issuer");
	/* the right one is fine */
	assert_int_equal(tds_key_id(gm_op, c.issuer_key_id), 0);
	assert_int_equal(tds_cert_issue(&c, gm_op, &out), 0);
	tds_buf_free(&out);

	/* statements the parser would refuse are not signed */
	tds_node_cert bad;
#define REFUSE(stmt)                                                                                   \
	do {                                                                                           \
		statement(&bad, gm_node);                                                              \
		stmt;                                                                                  \
		assert_int_equal(tds_cert_issue(&bad, gm_op, &out), TDS_EINVAL);                       \
		assert_string_equal(tds_error_name(), "invalid_certificate");                          \
		assert_int_equal(out.len, 0);                                                          \
	} while (0)
	REFUSE(snprintf(bad.node_id, sizeof bad.node_id, "node_../../etc/passwd"));
	REFUSE(snprintf(bad.node_id, sizeof bad.node_id, "%s", bad.org_id)); /* wrong prefix */
	REFUSE(snprintf(bad.org_id, sizeof bad.org_id, "org_"));
	REFUSE(snprintf(bad.serial, sizeof bad.serial, "serial-1"));
	REFUSE(bad.issuer_node_id[0] = 0);
	REFUSE(bad.role = (tds_node_role)7);
	REFUSE(snprintf(bad.api_endpoint, sizeof bad.api_endpoint, "ftp://x.example"));
	REFUSE(snprintf(bad.api_endpoint, sizeof bad.api_endpoint, "https://"));
	REFUSE(snprintf(bad.api_endpoint, sizeof bad.api_endpoint, "https://a b.example"));
	REFUSE(snprintf(bad.data_endpoint, sizeof bad.data_endpoint, "http://x.example/\"quoted\""));
	REFUSE(bad.hw_fingerprint[0] = 'A');
	REFUSE(bad.hw_fingerprint[63] = 0);
	REFUSE(bad.public_key_len = 31);
	REFUSE(bad.key_suite = (tds_suite)0);
	REFUSE(bad.issued_at_ms = -1000LL * 86400 * 365 * 3000);
#undef REFUSE
}

static void test_members(void **state)
{
	tds_node_cert c;
	statement(&c, gm_node);
	char *json = issue(&c, gm_op);
	/* unknown members, in the statement and in the envelope */
	char *t = edit(json, false, "admin", json_true());
	expect_fail(t, gm_op, T0, TDS_EINVAL, "invalid_certificate");
	assert_non_null(strstr(tds_error_message(), "admin"));
	free(t);
	t = edit(json, true, "comment", json_string("hi"));
	expect_fail(t, gm_op, T0, TDS_EINVAL, "invalid_certificate");
	free(t);
	/* every member is required */
	static const char *const members[] = {"api_endpoint", "data_endpoint", "expires_at", "hw_fingerprint",
					      "issued_at", "issuer", "issuer_key_id", "key_alg", "node_id",
					      "org_id", "public_key", "role", "serial", "type", "version"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(members); i++) {
		t = edit(json, false, members[i], NULL);
		expect_fail(t, gm_op, T0, TDS_EINVAL, "invalid_certificate");
		free(t);
	}
	static const char *const top[] = {"cert", "sig_alg", "signature"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(top); i++) {
		t = edit(json, true, top[i], NULL);
		expect_fail(t, gm_op, T0, TDS_EINVAL, "invalid_certificate");
		free(t);
	}
	/* wrong values, each refused before any signature check */
	struct {
		bool top;
		const char *key;
		json_t *v;
	} cases[] = {
		{false, "version", json_integer(2)},
		{false, "version", json_string("1")},
		{false, "type", json_string("tds.token")},
		{false, "role", json_string("admin")},
		{false, "key_alg", json_string("ecdsa-p256-sha256")},
		{false, "node_id", json_string("node_01")},
		{false, "node_id", json_integer(5)},
		{false, "issuer", json_string("org_01JABCDEFGHJKMNPQRSTVWXYZ0")},
		{false, "hw_fingerprint", json_string("zz")},
		{false, "issuer_key_id", json_string("ABCDEF")},
		{false, "public_key", json_string("not base64!")},
		{false, "public_key", json_string("AAAA")},
		{false, "issued_at", json_string("yesterday")},
		{false, "expires_at", json_string("2026-13-01T00:00:00Z")},
		{false, "api_endpoint", json_string("javascript:alert(1)")},
		{false, "org_id", json_null()},
		{true, "signature", json_string("%%%")},
		{true, "signature", json_string("")},
		{true, "cert", json_string("{}")},
		{true, "sig_alg", json_integer(1)},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(cases); i++) {
		t = edit(json, cases[i].top, cases[i].key, cases[i].v);
		expect_fail(t, gm_op, T0, TDS_EINVAL, "invalid_certificate");
		free(t);
	}
	/* an SM2 point not on the curve */
	tds_buf b64 = TDS_BUF_INIT;
	uint8_t point[65];
	memset(point, 0x11, sizeof point);
	point[0] = 4;
	assert_int_equal(tds_b64_encode(point, sizeof point, &b64), 0);
	t = edit(json, false, "public_key", json_string(b64.data));
	expect_fail(t, gm_op, T0, TDS_EINVAL, "invalid_certificate");
	free(t);
	tds_buf_free(&b64);
	free(json);
}

static void test_malformed_input(void **state)
{
	const char *bad[] = {"", "null", "[]", "\"cert\"", "{", "{\"cert\":{}}", "{\"cert\":{},\"cert\":{}}",
			     "{\"cert\":{},\"sig_alg\":\"ed25519\",\"signature\":\"AA==\"}"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(bad); i++)
		expect_fail(bad[i], gm_op, T0, TDS_EINVAL, "invalid_certificate");
	/* NULL input and NULL issuer */
	tds_node_cert out;
	assert_int_equal(tds_cert_parse_verify(NULL, 0, gm_op, T0, &out, NULL), TDS_EINVAL);
	tds_node_cert c;
	statement(&c, gm_node);
	char *json = issue(&c, gm_op);
	assert_int_equal(tds_cert_parse_verify(json, strlen(json), NULL, T0, &out, NULL), TDS_EINVAL);
	/* truncated at every length: refused, never a crash or over-read (ASan checks) */
	size_t n = strlen(json);
	for (size_t k = 0; k < n; k++) {
		char *cut = malloc(k ? k : 1);
		memcpy(cut, json, k);
		assert_true(tds_cert_parse_verify(cut, k, gm_op, T0, &out, NULL) < 0);
		free(cut);
	}
	free(json);
	/* huge input */
	size_t big = TDS_CERT_MAX_LEN + 1;
	char *huge = malloc(big + 1);
	memset(huge, ' ', big);
	huge[0] = '{';
	huge[big - 1] = '}';
	huge[big] = 0;
	expect_fail(huge, gm_op, T0, TDS_ETOOBIG, "certificate_too_large");
	uint8_t h[TDS_HASH_LEN];
	assert_int_equal(tds_cert_hash(huge, big, h), TDS_ETOOBIG);
	free(huge);
	/* deep nesting inside the limit */
	tds_buf deep = TDS_BUF_INIT;
	for (int i = 0; i < 2000; i++)
		tds_buf_putc(&deep, '[');
	for (int i = 0; i < 2000; i++)
		tds_buf_putc(&deep, ']');
	expect_fail(deep.data, gm_op, T0, TDS_EINVAL, "invalid_certificate");
	tds_buf_free(&deep);
}

static void test_parse_only(void **state)
{
	tds_node_cert c, out;
	statement(&c, gm_node);
	c.expires_at_ms = T0 + 1000;
	char *json = issue(&c, intl_op);
	/* expired and unverified, but readable: which issuer key to fetch */
	assert_int_equal(tds_cert_parse(json, strlen(json), &out), 0);
	char kid[TDS_KEY_ID_LEN + 1];
	assert_int_equal(tds_key_id(intl_op, kid), 0);
	assert_string_equal(out.issuer_key_id, kid);
	assert_int_equal(out.sig_suite, TDS_SUITE_INTL);
	assert_string_equal(out.node_id, c.node_id);
	/* structure is still checked */
	char *t = edit(json, false, "extra", json_integer(1));
	assert_int_equal(tds_cert_parse(t, strlen(t), &out), TDS_EINVAL);
	assert_int_equal(out.node_id[0], 0);
	free(t);
	free(json);
}

static void test_hash(void **state)
{
	tds_node_cert c;
	statement(&c, gm_node);
	char *a = issue(&c, gm_op);
	char *b = issue(&c, gm_op); /* SM2 signatures are randomised: same statement, new signature */
	char *d = issue(&c, intl_op);
	uint8_t ha[TDS_HASH_LEN], hb[TDS_HASH_LEN], hd[TDS_HASH_LEN], want[TDS_HASH_LEN];
	assert_int_equal(tds_cert_hash(a, strlen(a), ha), 0);
	assert_int_equal(tds_cert_hash(b, strlen(b), hb), 0);
	assert_int_equal(tds_cert_hash(d, strlen(d), hd), 0);
	assert_memory_not_equal(ha, hb, sizeof ha);
	assert_memory_not_equal(ha, hd, sizeof ha);
	/* SM3 of the canonical bytes for an SM2-signed certificate, SHA-256 for an Ed25519-signed one */
	assert_int_equal(tds_hash(TDS_SUITE_GM, a, strlen(a), want), 0);
	assert_memory_equal(ha, want, sizeof ha);
	assert_int_equal(tds_hash(TDS_SUITE_INTL, d, strlen(d), want), 0);
	assert_memory_equal(hd, want, sizeof hd);
	assert_int_equal(tds_cert_hash("{}", 2, ha), TDS_EINVAL);
	free(a);
	free(b);
	free(d);
}

static void test_roles(void **state)
{
	tds_node_role r;
	assert_int_equal(tds_node_role_parse("operator", &r), 0);
	assert_int_equal(r, TDS_NODE_ROLE_OPERATOR);
	assert_int_equal(tds_node_role_parse("connector", &r), 0);
	assert_int_equal(r, TDS_NODE_ROLE_CONNECTOR);
	assert_int_equal(tds_node_role_parse("Operator", &r), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "invalid_node_role");
	assert_int_equal(tds_node_role_parse(NULL, &r), TDS_EINVAL);
	assert_string_equal(tds_node_role_name(TDS_NODE_ROLE_CONNECTOR), "connector");
	assert_null(tds_node_role_name((tds_node_role)0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),    cmocka_unit_test(test_cross_suite),
		cmocka_unit_test(test_format),         cmocka_unit_test(test_reformatted),
		cmocka_unit_test(test_window),         cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_wrong_issuer),   cmocka_unit_test(test_issue_refusals),
		cmocka_unit_test(test_members),        cmocka_unit_test(test_malformed_input),
		cmocka_unit_test(test_parse_only),     cmocka_unit_test(test_hash),
		cmocka_unit_test(test_roles),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
