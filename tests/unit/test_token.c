/*
 * test_token.c — authorization tokens (contract.h section 4): issuing, and every refusal of the
 * strict offline verifier, table-driven: each row a way to spoil a token (or a time to verify it at)
 * and the exact error it must get. Both suites' operator keys.
 */
#include "contract/contract.h"
#include "crypto/crypto.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */

static tds_key *OP[2], *OTHER[2];

static void ok(int rc)
{
	if (rc)
		fail_msg("failed: %s (%s)", tds_error_message(), tds_error_name());
}

static tds_token_claims base_claims(void)
{
	tds_token_claims c = {0};
	strcpy(c.id, "tok_01JAAAAAAAAAAAAAAAAAAAAAAA");
	strcpy(c.issuer, "node_01JQQQQQQQQQQQQQQQQQQQQQQQ");
	strcpy(c.org, "org_01JBBBBBBBBBBBBBBBBBBBBBBB");
	strcpy(c.account, "acc_01JBBBBBBBBBBBBBBBBBBBBBBB");
	strcpy(c.audience, "org_01JTTTTTTTTTTTTTTTTTTTTTTT");
	strcpy(c.contract_id, "ctr_01JCCCCCCCCCCCCCCCCCCCCCCC");
	c.version = 2;
	c.n_products = 1;
	strcpy(c.products[0], "prd_01JPPPPPPPPPPPPPPPPPPPPPPP");
	c.actions = 1u << TDS_POLICY_ACTION_READ | 1u << TDS_POLICY_ACTION_QUERY;
	strcpy(c.mode, "api");
	c.limit_count = 1000;
	c.limit_per_minute = 60;
	c.limit_per_day = -1;
	c.issued_at_ms = c.not_before_ms = T0;
	c.expires_at_ms = T0 + TDS_CONTRACT_TOKEN_TTL_MS;
	return c;
}

static char *issue(const tds_token_claims *c, const tds_key *k)
{
	tds_buf b = TDS_BUF_INIT;
	ok(tds_contract_token_issue(c, k, &b));
	return tds_buf_steal(&b);
}

/* The token's claims (decoded) and signature (decoded). */
static void split(const char *tok, tds_buf *claims, tds_buf *sig)
{
	const char *p = tok + strlen(TDS_CONTRACT_TOKEN_PREFIX), *dot = strchr(p, '.');
	assert_non_null(dot);
	ok(tds_b64url_decode(p, (size_t)(dot - p), claims));
	ok(tds_b64url_decode(dot + 1, strlen(dot + 1), sig));
}

/* "tds1." b64url(claims) "." b64url(sig) from raw parts */
static char *assemble(const void *claims, size_t clen, const void *sig, size_t slen)
{
	tds_buf b = TDS_BUF_INIT;
	tds_buf_puts(&b, TDS_CONTRACT_TOKEN_PREFIX);
	tds_b64url_encode(claims, clen, &b);
	tds_buf_putc(&b, '.');
	tds_b64url_encode(sig, slen, &b);
	return tds_buf_steal(&b);
}

/* Signs arbitrary claims text with k (a token the issuer would never make). */
static char *forge(const char *claims_text, const tds_key *k)
{
	tds_buf sig = TDS_BUF_INIT;
	ok(tds_sign(k, claims_text, strlen(claims_text), &sig));
	char *t = assemble(claims_text, strlen(claims_text), sig.data, sig.len);
	tds_buf_free(&sig);
	return t;
}

/* A valid token's claims as JSON with one member replaced (NULL value: removed), canonical. */
static char *claims_with(const char *tok, const char *member, json_t *value)
{
	tds_buf claims = TDS_BUF_INIT, sig = TDS_BUF_INIT, canon = TDS_BUF_INIT;
	split(tok, &claims, &sig);
	json_t *o;
	ok(tds_json_parse(claims.data, claims.len, &o));
	if (value)
		json_object_set_new(o, member, value);
	else
		json_object_del(o, member);
	ok(tds_json_canonical(o, &canon));
	json_decref(o);
	tds_buf_free(&claims);
	tds_buf_free(&sig);
	return tds_buf_steal(&canon);
}

typedef enum {
	M_NONE,
	M_TOO_LONG,
	M_PREFIX,
	M_TWO_PARTS,
	M_FOUR_PARTS,
	M_BAD_CHAR,
	M_EMPTY_CLAIMS,
	M_BAD_B64,
	M_NOT_JSON,
	M_JSON_ARRAY,
	M_DUP_KEY,
	M_NOT_CANONICAL,
	M_MISSING_MEMBER,
	M_UNKNOWN_MEMBER,
	M_WRONG_TYPE,
	M_BOTH_SUBJECTS,
	M_BAD_TYP,
	M_TOO_LONG_LIFE,
	M_UNKNOWN_ACTION,
	M_ALTERED_CLAIMS,
	M_OTHER_KEY,
	M_OTHER_KEY_FORGED_KID,
	M_ALG_MISMATCH,
	M_TRUNCATED_SIG,
	M_SIG_TOO_LONG,
	M_LONG_SIG_PART,
} mutation;

typedef struct row {
	const char *name;
	mutation m;
	int64_t at;       /* verification time, relative to T0 */
	int want;         /* 0 or TDS_E… */
	const char *code; /* error name */
} row;

#define SKEW TDS_CONTRACT_TOKEN_SKEW_MS
#define TTL TDS_CONTRACT_TOKEN_TTL_MS

static const row ROWS[] = {
    {"valid", M_NONE, 0, 0, NULL},
    {"valid at the last ms of the skew after exp", M_NONE, TTL + SKEW - 1, 0, NULL},
    {"expired", M_NONE, TTL + SKEW, TDS_EAUTH, "token_expired"},
    {"valid at the first ms of the skew before nbf", M_NONE, -SKEW, 0, NULL},
    {"not yet valid", M_NONE, -SKEW - 1, TDS_EAUTH, "token_not_yet_valid"},
    {"oversized", M_TOO_LONG, 0, TDS_ETOOBIG, "token_too_large"},
    {"other prefix", M_PREFIX, 0, TDS_EINVAL, "token_malformed"},
    {"two parts", M_TWO_PARTS, 0, TDS_EINVAL, "token_malformed"},
    {"four parts", M_FOUR_PARTS, 0, TDS_EINVAL, "token_malformed"},
    {"a '+' (base64, not base64url)", M_BAD_CHAR, 0, TDS_EINVAL, "token_malformed"},
    {"empty claims part", M_EMPTY_CLAIMS, 0, TDS_EINVAL, "token_malformed"},
    {"a base64url length that cannot be", M_BAD_B64, 0, TDS_EINVAL, "token_bad_encoding"},
    {"claims not JSON", M_NOT_JSON, 0, TDS_EINVAL, "token_bad_json"},
    {"claims a JSON array", M_JSON_ARRAY, 0, TDS_EINVAL, "token_bad_json"},
    {"claims with a duplicate key", M_DUP_KEY, 0, TDS_EINVAL, "token_bad_json"},
    {"claims not canonical", M_NOT_CANONICAL, 0, TDS_EINVAL, "token_not_canonical"},
    {"claims without exp", M_MISSING_MEMBER, 0, TDS_EINVAL, "token_bad_claims"},
    {"claims with an unknown member", M_UNKNOWN_MEMBER, 0, TDS_EINVAL, "token_bad_claims"},
    {"ver a string", M_WRONG_TYPE, 0, TDS_EINVAL, "token_bad_claims"},
    {"sub with account and connector", M_BOTH_SUBJECTS, 0, TDS_EINVAL, "token_bad_claims"},
    {"typ of another statement", M_BAD_TYP, 0, TDS_EINVAL, "token_bad_claims"},
    {"a lifetime over 24 hours", M_TOO_LONG_LIFE, 0, TDS_EINVAL, "token_bad_claims"},
    {"an unknown action", M_UNKNOWN_ACTION, 0, TDS_EINVAL, "token_bad_claims"},
    {"altered claims, original signature", M_ALTERED_CLAIMS, 0, TDS_EAUTH, "token_bad_signature"},
    {"signed by another key", M_OTHER_KEY, 0, TDS_EAUTH, "token_unknown_key"},
    {"another key claiming the operator's kid", M_OTHER_KEY_FORGED_KID, 0, TDS_EAUTH, "token_bad_signature"},
    {"alg of the other suite", M_ALG_MISMATCH, 0, TDS_EAUTH, "token_alg_mismatch"},
    {"truncated signature", M_TRUNCATED_SIG, 0, TDS_EAUTH, "token_bad_signature"},
    {"signature bytes appended", M_SIG_TOO_LONG, 0, TDS_EAUTH, "token_bad_signature"},
    {"a huge signature part", M_LONG_SIG_PART, 0, TDS_EINVAL, "token_malformed"},
};

static char *make(mutation m, const tds_key *op, const tds_key *other)
{
	tds_token_claims c = base_claims();
	char *good = issue(&c, op), *t = NULL, *cl = NULL;
	tds_buf claims = TDS_BUF_INIT, sig = TDS_BUF_INIT, b = TDS_BUF_INIT;
	split(good, &claims, &sig);
	char kid[TDS_KEY_ID_LEN + 1];
	tds_key_id(op, kid);
	switch (m) {
	case M_NONE: t = strdup(good); break;
	case M_TOO_LONG:
		t = calloc(1, TDS_CONTRACT_TOKEN_MAX_LEN + 2);
		memcpy(t, good, strlen(good));
		memset(t + strlen(good), 'A', TDS_CONTRACT_TOKEN_MAX_LEN + 1 - strlen(good));
		break;
	case M_PREFIX: t = strdup(good); t[3] = '2'; break;
	case M_TWO_PARTS:
		t = strdup(good);
		*strrchr(t, '.') = 0;
		break;
	case M_FOUR_PARTS:
		tds_buf_printf(&b, "%s.AAAA", good);
		t = tds_buf_steal(&b);
		break;
	case M_BAD_CHAR: t = strdup(good); t[10] = '+'; break;
	case M_EMPTY_CLAIMS:
		tds_buf_printf(&b, "tds1.%s", strrchr(good, '.'));
		t = tds_buf_steal(&b);
		break;
	case M_BAD_B64:
		tds_buf_printf(&b, "tds1.A%s", strrchr(good, '.'));
		t = tds_buf_steal(&b);
		break;
	case M_NOT_JSON: t = forge("not json", op); break;
	case M_JSON_ARRAY: t = forge("[1,2]", op); break;
	case M_DUP_KEY: t = forge("{\"a\":1,\"a\":2}", op); break;
	case M_NOT_CANONICAL: {
		json_t *o;
		tds_json_parse(claims.data, claims.len, &o);
		char *pretty = json_dumps(o, JSON_INDENT(1));
		t = forge(pretty, op);
		free(pretty);
		json_decref(o);
		break;
	}
	case M_MISSING_MEMBER: cl = claims_with(good, "exp", NULL); break;
	case M_UNKNOWN_MEMBER: cl = claims_with(good, "extra", json_string("x")); break;
	case M_WRONG_TYPE: cl = claims_with(good, "ver", json_string("2")); break;
	case M_BOTH_SUBJECTS:
		cl = claims_with(good, "sub", json_pack("{s:s, s:s, s:s}", "org", c.org, "account", c.account, "connector",
							"node_01JBBBBBBBBBBBBBBBBBBBBBBB"));
		break;
	case M_BAD_TYP: cl = claims_with(good, "typ", json_string("tds.node_cert")); break;
	case M_TOO_LONG_LIFE: cl = claims_with(good, "exp", json_string("2026-01-02T00:00:00.001Z")); break;
	case M_UNKNOWN_ACTION: cl = claims_with(good, "actions", json_pack("[s]", "sell")); break;
	case M_ALTERED_CLAIMS: {
		char *alt = claims_with(good, "ver", json_integer(3));
		t = assemble(alt, strlen(alt), sig.data, sig.len);
		free(alt);
		break;
	}
	case M_OTHER_KEY: t = issue(&c, other); break;
	case M_OTHER_KEY_FORGED_KID: {
		char *alt = claims_with(good, "kid", json_string(kid)); /* unchanged kid, signed by other */
		t = forge(alt, other);
		free(alt);
		break;
	}
	case M_ALG_MISMATCH:
		cl = claims_with(good, "alg", json_string(tds_key_suite(op) == TDS_SUITE_GM ? "ed25519" : "sm2-sm3"));
		break;
	case M_TRUNCATED_SIG: t = assemble(claims.data, claims.len, sig.data, sig.len - 1); break;
	case M_SIG_TOO_LONG: {
		tds_buf s2 = TDS_BUF_INIT;
		tds_buf_append(&s2, sig.data, sig.len);
		tds_buf_append(&s2, "\0\0", 2);
		t = assemble(claims.data, claims.len, s2.data, s2.len);
		tds_buf_free(&s2);
		break;
	}
	case M_LONG_SIG_PART: {
		char big[300];
		memset(big, 'A', sizeof big);
		t = assemble(claims.data, claims.len, big, sizeof big);
		break;
	}
	}
	if (cl) {
		t = forge(cl, op);
		free(cl);
	}
	free(good);
	tds_buf_free(&claims);
	tds_buf_free(&sig);
	return t;
}

static void test_verifier_table(void **state)
{
	(void)state;
	for (int s = 0; s < 2; s++) {
		for (size_t i = 0; i < TDS_ARRAY_LEN(ROWS); i++) {
			const row *r = &ROWS[i];
			char *t = make(r->m, OP[s], OTHER[s]);
			assert_non_null(t);
			tds_token_claims c;
			tds_error_clear();
			int rc = tds_contract_token_verify(t, strlen(t), OP[s], T0 + r->at, &c);
			if (rc != r->want || (r->code && strcmp(tds_error_name(), r->code) != 0))
				fail_msg("%s, %s: got %d %s (%s), wanted %d %s", tds_suite_name(tds_key_suite(OP[s])), r->name, rc,
					 tds_error_name(), tds_error_message(), r->want, r->code ? r->code : "");
			if (rc == 0) {
				assert_string_equal(c.id, "tok_01JAAAAAAAAAAAAAAAAAAAAAAA");
				assert_int_equal(c.version, 2);
			} else {
				assert_int_equal(c.id[0], 0); /* nothing left behind */
			}
			free(t);
		}
	}
}

static void test_round_trip(void **state)
{
	(void)state;
	for (int s = 0; s < 2; s++) {
		tds_token_claims in = base_claims(), out;
		in.account[0] = 0;
		strcpy(in.connector, "node_01JBBBBBBBBBBBBBBBBBBBBBBB");
		in.limit_count = -1;
		in.limit_per_day = 5000;
		char *t = issue(&in, OP[s]);
		assert_true(strncmp(t, "tds1.", 5) == 0);
		assert_true(strlen(t) < TDS_CONTRACT_TOKEN_MAX_LEN);
		ok(tds_contract_token_verify(t, strlen(t), OP[s], T0 + 1000, &out));
		assert_string_equal(out.connector, in.connector);
		assert_string_equal(out.account, "");
		assert_string_equal(out.org, in.org);
		assert_string_equal(out.audience, in.audience);
		assert_string_equal(out.contract_id, in.contract_id);
		assert_string_equal(out.issuer, in.issuer);
		assert_string_equal(out.products[0], in.products[0]);
		assert_int_equal(out.n_products, 1);
		assert_int_equal(out.actions, in.actions);
		assert_string_equal(out.mode, "api");
		assert_int_equal(out.limit_count, -1);
		assert_int_equal(out.limit_per_minute, 60);
		assert_int_equal(out.limit_per_day, 5000);
		assert_int_equal(out.expires_at_ms, in.expires_at_ms);
		assert_int_equal(out.suite, tds_key_suite(OP[s]));
		char kid[TDS_KEY_ID_LEN + 1];
		tds_key_id(OP[s], kid);
		assert_string_equal(out.key_id, kid);
		/* the binding: right audience and caller; then each refusal */
		ok(tds_contract_token_check_binding(&out, in.audience, in.connector));
		assert_int_equal(tds_contract_token_check_binding(&out, "org_01JXXXXXXXXXXXXXXXXXXXXXXX", in.connector), TDS_EPERM);
		assert_string_equal(tds_error_name(), "token_wrong_audience");
		assert_int_equal(tds_contract_token_check_binding(&out, in.audience, NULL), TDS_EPERM);
		assert_string_equal(tds_error_name(), "token_wrong_connector");
		assert_int_equal(tds_contract_token_check_binding(&out, in.audience, "node_01JXXXXXXXXXXXXXXXXXXXXXXX"), TDS_EPERM);
		assert_string_equal(tds_error_name(), "token_wrong_connector");
		/* an account-bound token is a bearer credential: any caller */
		tds_token_claims acc = base_claims();
		acc.suite = out.suite;
		ok(tds_contract_token_check_binding(&acc, acc.audience, NULL));
		/* "use" covers every action and travels alone */
		in.actions = 1u << TDS_POLICY_ACTION_USE;
		free(t);
		t = issue(&in, OP[s]);
		ok(tds_contract_token_verify(t, strlen(t), OP[s], T0, &out));
		assert_int_equal(out.actions, 1u << TDS_POLICY_ACTION_USE);
		free(t);
	}
}

static void test_issue_refusals(void **state)
{
	(void)state;
	tds_token_claims c;
	tds_buf b = TDS_BUF_INIT;
#define REFUSE(stmt)                                                                                                  \
	do {                                                                                                          \
		c = base_claims();                                                                                    \
		stmt;                                                                                                 \
		assert_int_equal(tds_contract_token_issue(&c, OP[0], &b), TDS_EINVAL);                                  \
		assert_string_equal(tds_error_name(), "token_bad_claims");                                            \
		assert_int_equal(b.len, 0);                                                                           \
	} while (0)
	REFUSE(strcpy(c.id, "ctr_01JAAAAAAAAAAAAAAAAAAAAAAA"));
	REFUSE(strcpy(c.issuer, "org_01JAAAAAAAAAAAAAAAAAAAAAAA"));
	REFUSE(c.account[0] = 0);
	REFUSE(strcpy(c.connector, "node_01JBBBBBBBBBBBBBBBBBBBBBBB"));
	REFUSE(strcpy(c.account, "../etc"));
	REFUSE(strcpy(c.audience, "tax"));
	REFUSE(c.version = 0);
	REFUSE(c.n_products = 0);
	REFUSE(c.n_products = TDS_CONTRACT_TOKEN_MAX_PRODUCTS + 1);
	REFUSE(strcpy(c.products[0], "a b"));
	REFUSE(c.actions = 0);
	REFUSE(c.actions = 1u << 20);
	REFUSE(strcpy(c.mode, "stream"));
	REFUSE(c.limit_count = 0);
	REFUSE(c.expires_at_ms = c.not_before_ms);
	REFUSE(c.not_before_ms = c.issued_at_ms - 1);
	REFUSE(c.expires_at_ms = c.issued_at_ms + TDS_CONTRACT_TOKEN_MAX_TTL_MS + 1);
	REFUSE(c.issued_at_ms = c.not_before_ms = -100000000000000LL);
#undef REFUSE
	/* a public key cannot issue */
	tds_buf pem = TDS_BUF_INIT;
	tds_key *pub = NULL;
	ok(tds_key_public_pem(OP[1], &pem));
	ok(tds_key_from_pem(pem.data, pem.len, &pub));
	c = base_claims();
	assert_int_equal(tds_contract_token_issue(&c, pub, &b), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "no_private_key");
	/* and verifies what the private half issued */
	char *t = issue(&c, OP[1]);
	tds_token_claims out;
	ok(tds_contract_token_verify(t, strlen(t), pub, T0, &out));
	assert_int_equal(tds_contract_token_verify(t, strlen(t), NULL, T0, &out), TDS_EINVAL);
	assert_int_equal(tds_contract_token_verify(NULL, 0, pub, T0, &out), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "token_malformed");
	free(t);
	tds_key_free(pub);
	tds_buf_free(&pem);
	tds_buf_free(&b);
}

static int setup(void **state)
{
	(void)state;
	return tds_key_generate(TDS_SUITE_GM, &OP[0]) || tds_key_generate(TDS_SUITE_INTL, &OP[1]) ||
		       tds_key_generate(TDS_SUITE_GM, &OTHER[0]) || tds_key_generate(TDS_SUITE_INTL, &OTHER[1])
		   ? -1
		   : 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) {
		tds_key_free(OP[i]);
		tds_key_free(OTHER[i]);
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_verifier_table),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_issue_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
