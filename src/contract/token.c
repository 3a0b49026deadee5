/*
 * token.c — authorization tokens (使用授权令牌, contract.h section 4): the text form, issuing with the
 * operator's key, the strict offline verifier, the binding check, and the operator's records of
 * issued and revoked tokens.
 *
 * Not here: the connector's cache of verified tokens and its revocation list (enforce.c, which
 * calls the verifier), the feed that carries revocations (sync.c reads it, contract.c keeps it).
 *
 * Invariants: a token is "tds1." B64URL(claims) "." B64URL(signature); the claims bytes are the
 * canonical JSON of the claims object, so re-encoding what was parsed gives the same bytes, and the
 * signature covers exactly those bytes. The verifier accepts nothing the issuer could not have made:
 * tds_contract_token_issue runs the same claim checks (check_claims) before signing.
 */
#include "contract/enforcer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_TYPE "tds.token/1"
#define SIG_B64_MAX 128 /* base64url of at most TDS_SIG_MAX bytes, with room */

static const char *const MODES[] = {"api", "dataset", "file", "compute"};

static bool mode_valid(const char *m)
{
	for (size_t i = 0; i < TDS_ARRAY_LEN(MODES); i++)
		if (strcmp(m, MODES[i]) == 0)
			return true;
	return false;
}

static int bad_claims(const char *fmt, const char *arg)
{
	return tds_error_set(TDS_EINVAL, "token_bad_claims", fmt, arg);
}

/* Validates the claims struct (what issue signs and verify returns). */
static int check_claims(const tds_token_claims *c)
{
	if (!tds_id_valid(c->id, "tok"))
		return bad_claims("jti: must be a token id (tok_…)%s", "");
	if (!tds_id_valid(c->issuer, "node"))
		return bad_claims("iss: must be the operator's node id (node_…)%s", "");
	if (!tds_id_valid(c->org, "org"))
		return bad_claims("sub.org: must be an organisation id (org_…)%s", "");
	bool acc = c->account[0] != 0, con = c->connector[0] != 0;
	if (acc == con)
		return bad_claims("sub: must name exactly one of account and connector%s", "");
	if (acc && !tds_id_valid(c->account, "acc"))
		return bad_claims("sub.account: must be an account id (acc_…)%s", "");
	if (con && !tds_id_valid(c->connector, "node"))
		return bad_claims("sub.connector: must be a node id (node_…)%s", "");
	if (!tds_id_valid(c->audience, "org"))
		return bad_claims("aud: must be the provider's organisation id (org_…)%s", "");
	if (!tds_id_valid(c->contract_id, "ctr"))
		return bad_claims("ctr: must be a contract id (ctr_…)%s", "");
	if (c->version < 1 || c->version > 1000000)
		return bad_claims("ver: must be a contract version 1..1000000%s", "");
	if (c->n_products < 1 || c->n_products > TDS_CONTRACT_TOKEN_MAX_PRODUCTS)
		return bad_claims("products: must list 1 to 16 product ids%s", "");
	for (size_t i = 0; i < c->n_products; i++)
		if (!tds_id_valid(c->products[i], NULL))
			return bad_claims("products: '%s' is not a product id", c->products[i]);
	uint32_t all = (1u << TDS_POLICY_ACTION_COUNT_) - 1;
	if (!c->actions || (c->actions & ~all && c->actions != (1u << TDS_POLICY_ACTION_USE)))
		return bad_claims("actions: must list policy actions%s", "");
	if (!mode_valid(c->mode))
		return bad_claims("mode: must be api, dataset, file or compute, not '%s'", c->mode);
	if (c->limit_count < -1 || c->limit_per_minute < -1 || c->limit_per_day < -1 || !c->limit_count ||
	    !c->limit_per_minute || !c->limit_per_day)
		return bad_claims("limits: each limit must be a positive integer%s", "");
	char t[TDS_TIME_MAX];
	if (tds_time_format(c->issued_at_ms, t) || tds_time_format(c->not_before_ms, t) ||
	    tds_time_format(c->expires_at_ms, t))
		return bad_claims("iat, nbf, exp: must be times of years 0001-9999%s", "");
	if (c->not_before_ms < c->issued_at_ms || c->expires_at_ms <= c->not_before_ms ||
	    c->expires_at_ms - c->issued_at_ms > TDS_CONTRACT_TOKEN_MAX_TTL_MS)
		return bad_claims("exp: must follow nbf >= iat and lie at most 24 hours after iat%s", "");
	return 0;
}

static json_t *time_json(int64_t ms)
{
	char t[TDS_TIME_MAX];
	return tds_time_format(ms, t) ? NULL : json_string(t);
}

/* The claims object (new reference), or NULL on allocation failure. */
static json_t *claims_json(const tds_token_claims *c)
{
	json_t *sub = json_pack("{s:s}", "org", c->org), *products = json_array(), *actions = json_array(),
	       *limits = json_object();
	if (sub)
		json_object_set_new(sub, c->account[0] ? "account" : "connector",
				    json_string(c->account[0] ? c->account : c->connector));
	for (size_t i = 0; products && i < c->n_products; i++)
		json_array_append_new(products, json_string(c->products[i]));
	if (c->actions == (1u << TDS_POLICY_ACTION_USE)) {
		json_array_append_new(actions, json_string("use"));
	} else {
		for (int a = 0; actions && a < TDS_POLICY_ACTION_COUNT_; a++)
			if (c->actions & (1u << a))
				json_array_append_new(actions, json_string(tds_policy_action_name(a)));
	}
	if (limits && c->limit_count > 0)
		json_object_set_new(limits, "count", json_integer(c->limit_count));
	if (limits && c->limit_per_minute > 0)
		json_object_set_new(limits, "per_minute", json_integer(c->limit_per_minute));
	if (limits && c->limit_per_day > 0)
		json_object_set_new(limits, "per_day", json_integer(c->limit_per_day));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o*, s:s, s:s, s:I, s:o*, s:o*, s:s, s:o*, s:o*, s:o*, s:o*}",
			 "typ", TOKEN_TYPE, "alg", tds_sig_alg(c->suite), "kid", c->key_id, "iss", c->issuer, "jti",
			 c->id, "sub", sub, "aud", c->audience, "ctr", c->contract_id, "ver", (json_int_t)c->version,
			 "products", products, "actions", actions, "mode", c->mode, "limits", limits, "iat",
			 time_json(c->issued_at_ms), "nbf", time_json(c->not_before_ms), "exp",
			 time_json(c->expires_at_ms));
}

int tds_contract_token_issue(const tds_token_claims *claims, const tds_key *operator_key, tds_buf *out)
{
	if (!claims || !operator_key || !out)
		return tds_error_set(TDS_EINVAL, "invalid_argument", "claims, key and output are required");
	if (!tds_key_has_private(operator_key))
		return tds_error_set(TDS_EINVAL, "no_private_key", "tokens are signed with the operator's private key");
	tds_token_claims c = *claims;
	c.suite = tds_key_suite(operator_key);
	int rc = tds_key_id(operator_key, c.key_id);
	if (rc || (rc = check_claims(&c)))
		return rc;
	json_t *j = claims_json(&c);
	tds_buf canon = TDS_BUF_INIT, sig = TDS_BUF_INIT, text = TDS_BUF_INIT;
	rc = j ? tds_json_canonical(j, &canon) : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if (!rc)
		rc = tds_sign(operator_key, canon.data, canon.len, &sig);
	if (!rc && !(rc = tds_buf_puts(&text, TDS_CONTRACT_TOKEN_PREFIX)) &&
	    !(rc = tds_b64url_encode(canon.data, canon.len, &text)) && !(rc = tds_buf_putc(&text, '.')))
		rc = tds_b64url_encode(sig.data, sig.len, &text);
	if (!rc && text.len > TDS_CONTRACT_TOKEN_MAX_LEN)
		rc = tds_error_set(TDS_ETOOBIG, "token_too_large", "the claims make a token longer than %d bytes",
				   TDS_CONTRACT_TOKEN_MAX_LEN);
	if (!rc)
		rc = tds_buf_append(out, text.data, text.len);
	json_decref(j);
	tds_buf_free(&canon);
	tds_buf_free(&sig);
	tds_buf_free(&text);
	return rc;
}

/* ---- verification ---- */

static bool b64url_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
	       ch == '_';
}

static int copy_id(char dst[TDS_ID_MAX], const json_t *v, const char *member, const char *prefix)
{
	const char *s = json_string_value(v);
	if (!s || !tds_id_valid(s, prefix))
		return tds_error_set(TDS_EINVAL, "token_bad_claims", "%s: must be an id%s%s%s", member, prefix ? " (" : "",
				     prefix ? prefix : "", prefix ? "_…)" : "");
	snprintf(dst, TDS_ID_MAX, "%s", s);
	return 0;
}

static int time_member(const json_t *o, const char *member, int64_t *ms)
{
	const char *s = tds_json_str(o, member, NULL);
	if (!s || tds_time_parse(s, ms) < 0)
		return tds_error_set(TDS_EINVAL, "token_bad_claims", "%s: must be an RFC 3339 time", member);
	return 0;
}

static int limit_member(const json_t *limits, const char *member, int64_t *out)
{
	const json_t *v = json_object_get(limits, member);
	*out = -1;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1)
		return tds_error_set(TDS_EINVAL, "token_bad_claims", "limits.%s: must be a positive integer", member);
	*out = json_integer_value(v);
	return 0;
}

/* Fills c from the parsed claims object (strict: every member, nothing else). */
static int parse_claims(const json_t *o, tds_token_claims *c)
{
	static const tds_json_field F[] = {
	    {"typ", TDS_JSON_STRING, true, 32},	   {"alg", TDS_JSON_STRING, true, 16},
	    {"kid", TDS_JSON_STRING, true, TDS_KEY_ID_LEN}, {"iss", TDS_JSON_STRING, true, TDS_ID_MAX},
	    {"jti", TDS_JSON_STRING, true, TDS_ID_MAX},	   {"sub", TDS_JSON_OBJECT, true, 0},
	    {"aud", TDS_JSON_STRING, true, TDS_ID_MAX},	   {"ctr", TDS_JSON_STRING, true, TDS_ID_MAX},
	    {"ver", TDS_JSON_INTEGER, true, 0},	   {"products", TDS_JSON_STRING_ARRAY, true, TDS_CONTRACT_TOKEN_MAX_PRODUCTS},
	    {"actions", TDS_JSON_STRING_ARRAY, true, 16}, {"mode", TDS_JSON_STRING, true, 15},
	    {"limits", TDS_JSON_OBJECT, true, 0},	   {"iat", TDS_JSON_STRING, true, TDS_TIME_MAX},
	    {"nbf", TDS_JSON_STRING, true, TDS_TIME_MAX}, {"exp", TDS_JSON_STRING, true, TDS_TIME_MAX},
	};
	static const tds_json_field SUB[] = {{"org", TDS_JSON_STRING, true, TDS_ID_MAX},
					     {"account", TDS_JSON_STRING, false, TDS_ID_MAX},
					     {"connector", TDS_JSON_STRING, false, TDS_ID_MAX}};
	static const tds_json_field LIMITS[] = {{"count", TDS_JSON_INTEGER, false, 0},
						{"per_minute", TDS_JSON_INTEGER, false, 0},
						{"per_day", TDS_JSON_INTEGER, false, 0}};
	const json_t *sub = json_object_get(o, "sub"), *limits = json_object_get(o, "limits");
	if (tds_json_check(o, F, TDS_ARRAY_LEN(F), false) || tds_json_check(sub, SUB, TDS_ARRAY_LEN(SUB), false) ||
	    tds_json_check(limits, LIMITS, TDS_ARRAY_LEN(LIMITS), false))
		return tds_error_set(TDS_EINVAL, "token_bad_claims", "claims: %s", tds_error_message());
	if (strcmp(tds_json_str(o, "typ", ""), TOKEN_TYPE) != 0)
		return tds_error_set(TDS_EINVAL, "token_bad_claims", "typ: must be \"%s\"", TOKEN_TYPE);
	if (tds_sig_alg_parse(tds_json_str(o, "alg", ""), &c->suite) < 0)
		return tds_error_set(TDS_EINVAL, "token_bad_claims", "alg: must be sm2-sm3 or ed25519");
	const char *kid = tds_json_str(o, "kid", "");
	size_t kl = strlen(kid);
	bool hex = kl == TDS_KEY_ID_LEN;
	for (size_t i = 0; hex && i < kl; i++)
		hex = (kid[i] >= '0' && kid[i] <= '9') || (kid[i] >= 'a' && kid[i] <= 'f');
	if (!hex)
		return tds_error_set(TDS_EINVAL, "token_bad_claims", "kid: must be a key id, 64 lower-case hex");
	memcpy(c->key_id, kid, kl + 1);
	int rc;
	if ((rc = copy_id(c->issuer, json_object_get(o, "iss"), "iss", "node")) ||
	    (rc = copy_id(c->id, json_object_get(o, "jti"), "jti", "tok")) ||
	    (rc = copy_id(c->org, json_object_get(sub, "org"), "sub.org", "org")) ||
	    (rc = copy_id(c->audience, json_object_get(o, "aud"), "aud", "org")) ||
	    (rc = copy_id(c->contract_id, json_object_get(o, "ctr"), "ctr", "ctr")))
		return rc;
	const json_t *acc = json_object_get(sub, "account"), *con = json_object_get(sub, "connector");
	if (!acc == !con)
		return tds_error_set(TDS_EINVAL, "token_bad_claims", "sub: must name exactly one of account and connector");
	if ((acc && (rc = copy_id(c->account, acc, "sub.account", "acc"))) ||
	    (con && (rc = copy_id(c->connector, con, "sub.connector", "node"))))
		return rc;
	c->version = json_integer_value(json_object_get(o, "ver"));
	const json_t *arr = json_object_get(o, "products"), *v;
	size_t i;
	json_array_foreach(arr, i, v) {
		if ((rc = copy_id(c->products[i], v, "products[]", NULL)))
			return rc;
	}
	c->n_products = json_array_size(arr);
	arr = json_object_get(o, "actions");
	json_array_foreach(arr, i, v) {
		int a = tds_policy_action_parse(json_string_value(v));
		if (a < 0)
			return tds_error_set(TDS_EINVAL, "token_bad_claims", "actions[%zu]: unknown action", i);
		if (c->actions & (1u << a))
			return tds_error_set(TDS_EINVAL, "token_bad_claims", "actions[%zu]: listed twice", i);
		c->actions |= 1u << a;
	}
	if ((c->actions & (1u << TDS_POLICY_ACTION_USE)) && c->actions != (1u << TDS_POLICY_ACTION_USE))
		return tds_error_set(TDS_EINVAL, "token_bad_claims", "actions: \"use\" covers every action: list it alone");
	snprintf(c->mode, sizeof c->mode, "%s", tds_json_str(o, "mode", ""));
	if ((rc = limit_member(limits, "count", &c->limit_count)) ||
	    (rc = limit_member(limits, "per_minute", &c->limit_per_minute)) ||
	    (rc = limit_member(limits, "per_day", &c->limit_per_day)) ||
	    (rc = time_member(o, "iat", &c->issued_at_ms)) || (rc = time_member(o, "nbf", &c->not_before_ms)) ||
	    (rc = time_member(o, "exp", &c->expires_at_ms)))
		return rc;
	return check_claims(c);
}

int tds_contract_token_verify(const char *token, size_t len, const tds_key *operator_key, int64_t now_ms,
			      tds_token_claims *out)
{
	memset(out, 0, sizeof *out);
	if (!operator_key)
		return tds_error_set(TDS_EINVAL, "invalid_argument", "the operator's key is required to verify tokens");
	if (len > TDS_CONTRACT_TOKEN_MAX_LEN)
		return tds_error_set(TDS_ETOOBIG, "token_too_large", "a token is at most %d bytes",
				     TDS_CONTRACT_TOKEN_MAX_LEN);
	size_t pl = strlen(TDS_CONTRACT_TOKEN_PREFIX);
	if (!token || len < pl || memcmp(token, TDS_CONTRACT_TOKEN_PREFIX, pl) != 0)
		return tds_error_set(TDS_EINVAL, "token_malformed", "a token starts with \"%s\"", TDS_CONTRACT_TOKEN_PREFIX);
	const char *p = token + pl, *end = token + len, *dot = NULL;
	for (const char *q = p; q < end; q++) {
		if (*q == '.') {
			if (dot)
				return tds_error_set(TDS_EINVAL, "token_malformed", "a token has exactly three dot-separated parts");
			dot = q;
		} else if (!b64url_char(*q)) {
			return tds_error_set(TDS_EINVAL, "token_malformed",
					     "a token holds only base64url characters after its prefix (byte %zu)",
					     (size_t)(q - token));
		}
	}
	if (!dot || dot == p || dot + 1 == end)
		return tds_error_set(TDS_EINVAL, "token_malformed", "a token has exactly three dot-separated parts");
	if ((size_t)(end - dot - 1) > SIG_B64_MAX)
		return tds_error_set(TDS_EINVAL, "token_malformed", "the signature part is too long");
	tds_buf claims = TDS_BUF_INIT, sig = TDS_BUF_INIT, canon = TDS_BUF_INIT;
	json_t *o = NULL;
	tds_token_claims c = {0};
	char kid[TDS_KEY_ID_LEN + 1];
	int rc = 0;
	if (tds_b64url_decode(p, (size_t)(dot - p), &claims) < 0 ||
	    tds_b64url_decode(dot + 1, (size_t)(end - dot - 1), &sig) < 0) {
		rc = tds_error_set(TDS_EINVAL, "token_bad_encoding", "a part of the token is not unpadded base64url");
		goto out;
	}
	if (!claims.len || tds_json_parse(claims.data, claims.len, &o) < 0 || !json_is_object(o)) {
		rc = tds_error_set(TDS_EINVAL, "token_bad_json", "the token's claims are not a JSON object%s%s",
				   o ? "" : ": ", o ? "" : tds_error_message());
		goto out;
	}
	if (tds_json_canonical(o, &canon) < 0 || canon.len != claims.len || memcmp(canon.data, claims.data, canon.len)) {
		rc = tds_error_set(TDS_EINVAL, "token_not_canonical", "the token's claims are not in canonical JSON form");
		goto out;
	}
	if ((rc = parse_claims(o, &c)))
		goto out;
	if ((rc = tds_key_id(operator_key, kid)))
		goto out;
	if (strcmp(kid, c.key_id) != 0) {
		rc = tds_error_set(TDS_EAUTH, "token_unknown_key", "the token was not signed with this space's operator key");
		goto out;
	}
	if (c.suite != tds_key_suite(operator_key)) {
		rc = tds_error_set(TDS_EAUTH, "token_alg_mismatch", "the token's alg is not the operator key's algorithm (%s)",
				   tds_sig_alg(tds_key_suite(operator_key)));
		goto out;
	}
	if (tds_verify(operator_key, claims.data, claims.len, (const uint8_t *)sig.data, sig.len) < 0) {
		rc = tds_error_set(TDS_EAUTH, "token_bad_signature", "the token's signature does not verify: it was altered "
								      "or not made by the operator");
		goto out;
	}
	if (now_ms < c.not_before_ms - TDS_CONTRACT_TOKEN_SKEW_MS) {
		rc = tds_error_set(TDS_EAUTH, "token_not_yet_valid", "the token is not valid yet");
		goto out;
	}
	if (now_ms >= c.expires_at_ms + TDS_CONTRACT_TOKEN_SKEW_MS) {
		rc = tds_error_set(TDS_EAUTH, "token_expired", "the token has expired: ask the operator for a new one");
		goto out;
	}
	*out = c;
out:
	json_decref(o);
	tds_buf_free(&claims);
	tds_buf_free(&sig);
	tds_buf_free(&canon);
	return rc;
}

int tds_contract_token_check_binding(const tds_token_claims *c, const char *audience_org, const char *caller_node)
{
	if (!audience_org || strcmp(c->audience, audience_org) != 0)
		return tds_error_set(TDS_EPERM, "token_wrong_audience",
				     "the token was issued for another provider's connector, not this one");
	if (c->connector[0] && (!caller_node || strcmp(caller_node, c->connector) != 0))
		return tds_error_set(TDS_EPERM, "token_wrong_connector",
				     "the token is bound to connector %s: that connector must present it with a signed call",
				     c->connector);
	return 0;
}

/* ---- the operator's records ---- */

/* Actions and limits a contract's policy grants, for the claims: the union of the permissions'
 * actions; the smallest count and per-minute / per-day rate any permission sets. */
static void grants_of(const json_t *policy, tds_token_claims *c)
{
	c->limit_count = c->limit_per_minute = c->limit_per_day = -1;
	size_t i, j;
	const json_t *perm, *k;
	json_array_foreach(json_object_get(policy, "permission"), i, perm) {
		const json_t *act = json_object_get(perm, "action");
		if (json_is_string(act)) {
			int a = tds_policy_action_parse(json_string_value(act));
			if (a >= 0)
				c->actions |= 1u << a;
		}
		json_array_foreach(act, j, k) {
			int a = tds_policy_action_parse(json_string_value(k));
			if (a >= 0)
				c->actions |= 1u << a;
		}
		json_array_foreach(json_object_get(perm, "constraint"), j, k) {
			const char *left = tds_json_str(k, "leftOperand", ""), *op = tds_json_str(k, "operator", "");
			const json_t *r = json_object_get(k, "rightOperand");
			if (!json_is_integer(r))
				continue;
			int64_t n = json_integer_value(r) - (strcmp(op, "lt") == 0);
			int64_t *slot = strcmp(left, "count") == 0 ? &c->limit_count
					: strcmp(left, "rate") == 0   ? (strcmp(tds_json_str(k, "unit", ""), "day") == 0
										 ? &c->limit_per_day
										 : &c->limit_per_minute)
								      : NULL;
			if (slot && n >= 1 && (*slot < 0 || n < *slot))
				*slot = n;
		}
	}
	if (c->actions & (1u << TDS_POLICY_ACTION_USE))
		c->actions = 1u << TDS_POLICY_ACTION_USE;
}

typedef struct issue_ctx {
	tds_contract *ct;
	const tds_contract_party *who;
	const char *id;
	tds_token_claims c;
	tds_buf token;
} issue_ctx;

static int issue_tx(sqlite3 *db, void *p)
{
	issue_ctx *x = p;
	ct_row r;
	int rc = ct_row_load(db, NULL, x->id, &r);
	if (rc)
		return rc;
	json_t *rec = NULL;
	bool frozen = false;
	int64_t now = tds_now_ms();
	if (!x->who->org || strcmp(x->who->org, r.consumer) != 0)
		rc = strcmp(x->who->org ? x->who->org : "", r.provider) == 0 || x->who->oversight
			 ? tds_error_set(TDS_EPERM, "not_the_consumer", "tokens of %s are issued to its consumer only", x->id)
			 : tds_error_set(TDS_ENOTFOUND, "contract_not_found", "no such contract");
	else if (strcmp(r.state, "active") != 0)
		rc = tds_error_set(TDS_ECONFLICT, "contract_not_active", "contract %s is %s: tokens are issued for active "
									 "contracts only", x->id, r.state);
	else if (r.valid_to && now >= r.valid_to)
		rc = tds_error_set(TDS_ECONFLICT, "contract_not_active", "contract %s is past its validity", x->id);
	else if (!(rc = ct_frozen_on_operator(db, x->id, &frozen)) && frozen)
		rc = tds_error_set(TDS_ECONFLICT, "contract_frozen",
				   "the consumer's use of %s is frozen after violations: no tokens until the operator "
				   "unfreezes it", x->id);
	if (!rc)
		rc = ct_contract_get_tx(x->ct, db, x->id, &rec);
	const json_t *doc = json_object_get(rec, "document");
	tds_token_claims *c = &x->c;
	if (!rc) {
		memset(c, 0, sizeof *c);
		rc = tds_id_new("tok", c->id);
		snprintf(c->issuer, sizeof c->issuer, "%.*s", TDS_ID_MAX - 1, x->ct->node_id);
		snprintf(c->org, sizeof c->org, "%s", r.consumer);
		snprintf(c->account, sizeof c->account, "%s", x->who->account ? x->who->account : "");
		snprintf(c->connector, sizeof c->connector, "%s", x->who->account ? "" : x->who->connector ? x->who->connector : "");
		snprintf(c->audience, sizeof c->audience, "%s", r.provider);
		snprintf(c->contract_id, sizeof c->contract_id, "%s", r.id);
		c->version = tds_json_int(doc, "version", r.effective_version);
		c->n_products = 1;
		snprintf(c->products[0], sizeof c->products[0], "%s", r.product_id);
		snprintf(c->mode, sizeof c->mode, "%s", r.form);
		grants_of(json_object_get(doc, "policy"), c);
		c->issued_at_ms = c->not_before_ms = now;
		c->expires_at_ms = now + TDS_CONTRACT_TOKEN_TTL_MS;
		if (r.valid_to && c->expires_at_ms > r.valid_to)
			c->expires_at_ms = r.valid_to;
	}
	if (!rc)
		rc = tds_contract_token_issue(c, x->ct->key, &x->token);
	if (!rc) {
		/* the issued claims, as a verifier will read them */
		tds_key_id(x->ct->key, c->key_id);
		c->suite = tds_key_suite(x->ct->key);
	}
	sqlite3_stmt *st = NULL;
	if (!rc && !(rc = tds_store_prepare(db,
					    "INSERT INTO contract_tokens (id, contract_id, version, org, account, connector, "
					    "issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
					    &st))) {
		sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, c->contract_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, c->version);
		sqlite3_bind_text(st, 4, c->org, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, c->account[0] ? c->account : NULL, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, c->connector[0] ? c->connector : NULL, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, c->issued_at_ms);
		sqlite3_bind_int64(st, 8, c->expires_at_ms);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "recording a token");
		sqlite3_finalize(st);
	}
	tds_ledger_actor actor = {.org = x->who->org, .account = x->who->account};
	if (!rc)
		rc = ct_evidence_tx(x->ct, db, "contract.token_issued", &actor, c->contract_id, c->id,
				    json_pack("{s:I, s:s, s:s, s:I}", "version", (json_int_t)c->version, "subject",
					      c->account[0] ? c->account : c->connector, "audience", c->audience, "expires_at_ms",
					      (json_int_t)c->expires_at_ms));
	json_decref(rec);
	ct_row_free(&r);
	return rc;
}

int tds_contract_token_create(tds_contract *ct, const tds_contract_party *who, const char *contract_id, json_t **out)
{
	*out = NULL;
	if (!ct->is_operator)
		return tds_error_set(TDS_ECONFLICT, "not_the_operator", "tokens are issued by the operator");
	if (!who || (!who->account && !who->connector))
		return tds_error_set(TDS_EPERM, "forbidden", "a token is bound to an account or a connector of the consumer");
	if ((who->account && !tds_id_valid(who->account, "acc")) || (!who->account && !tds_id_valid(who->connector, "node")))
		return tds_error_set(TDS_EPERM, "forbidden", "a token is bound to an account or a connector of the consumer");
	if (!ct->key || !tds_key_has_private(ct->key))
		return tds_error_set(TDS_EINTERNAL, "no_node_key", "the operator has no signing key");
	issue_ctx x = {.ct = ct, .who = who, .id = contract_id, .token = TDS_BUF_INIT};
	int rc = tds_store_tx(ct->store, issue_tx, &x);
	if (!rc) {
		json_t *claims = claims_json(&x.c);
		char exp[TDS_TIME_MAX];
		tds_time_format(x.c.expires_at_ms, exp);
		*out = json_pack("{s:s, s:s, s:s, s:I, s:s, s:o*}", "token", x.token.data, "token_id", x.c.id, "contract_id",
				 x.c.contract_id, "version", (json_int_t)x.c.version, "expires_at", exp, "claims", claims);
		if (!*out)
			rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	}
	tds_buf_free(&x.token);
	return rc;
}

typedef struct revoke_ctx {
	tds_contract *ct;
	const tds_contract_party *who;
	const char *cid, *tid, *reason;
	json_t *out;
} revoke_ctx;

static int revoke_tx(sqlite3 *db, void *p)
{
	revoke_ctx *x = p;
	sqlite3_stmt *st = NULL;
	int rc = tds_store_prepare(db,
				   "SELECT org, account, connector, version, issued_at, expires_at, revoked_at "
				   "FROM contract_tokens WHERE id = ? AND contract_id = ?",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, x->tid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, x->cid, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s != SQLITE_ROW) {
		rc = s == SQLITE_DONE ? tds_error_set(TDS_ENOTFOUND, "token_not_found", "contract %s has no token %s", x->cid, x->tid)
				      : tds_store_error(db, "reading a token");
	} else if (!x->who->oversight &&
		   (!x->who->org || strcmp(x->who->org, (const char *)sqlite3_column_text(st, 0)) != 0)) {
		rc = tds_error_set(TDS_ENOTFOUND, "token_not_found", "contract %s has no token %s", x->cid, x->tid);
	} else if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
		rc = tds_error_set(TDS_ECONFLICT, "already_revoked", "token %s is already revoked", x->tid);
	} else {
		char iat[TDS_TIME_MAX], exp[TDS_TIME_MAX], now[TDS_TIME_MAX];
		tds_time_format(sqlite3_column_int64(st, 4), iat);
		tds_time_format(sqlite3_column_int64(st, 5), exp);
		tds_time_format(tds_now_ms(), now);
		x->out = json_pack("{s:s, s:s, s:I, s:s, s:s?, s:s?, s:s, s:s, s:s, s:s}", "id", x->tid, "contract_id", x->cid,
				   "version", (json_int_t)sqlite3_column_int64(st, 3), "org", sqlite3_column_text(st, 0),
				   "account", sqlite3_column_text(st, 1), "connector", sqlite3_column_text(st, 2),
				   "issued_at", iat, "expires_at", exp, "revoked_at", now, "reason", x->reason);
		if (!x->out)
			rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	}
	sqlite3_finalize(st);
	if (rc)
		return rc;
	if ((rc = tds_store_prepare(db,
				    "UPDATE contract_tokens SET revoked_at = ?2, revoked_by = ?3, revoke_reason = ?4 WHERE id = ?1",
				    &st)))
		return rc;
	sqlite3_bind_text(st, 1, x->tid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, tds_now_ms());
	sqlite3_bind_text(st, 3, x->who->account ? x->who->account : x->who->connector, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, x->reason, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "revoking a token");
	sqlite3_finalize(st);
	json_t *body = rc ? NULL : json_pack("{s:s, s:s}", "token_id", x->tid, "reason", x->reason);
	if (!rc)
		rc = body ? ct_feed_add_tx(x->ct, db, x->cid, "token_revoked", body) : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	json_decref(body);
	tds_ledger_actor actor = {.org = x->who->org, .account = x->who->account};
	if (!rc)
		rc = ct_evidence_tx(x->ct, db, "contract.token_revoked", &actor, x->cid, x->tid,
				    json_pack("{s:s}", "reason", x->reason));
	return rc;
}

int tds_contract_token_revoke(tds_contract *ct, const tds_contract_party *who, const char *contract_id,
			      const char *token_id, const char *reason, json_t **out)
{
	*out = NULL;
	if (!ct->is_operator)
		return tds_error_set(TDS_ECONFLICT, "not_the_operator", "tokens are revoked at the operator");
	if (!tds_id_valid(contract_id, "ctr") || !tds_id_valid(token_id, "tok"))
		return tds_error_set(TDS_ENOTFOUND, "token_not_found", "no such token");
	if (!reason || !*reason)
		return tds_error_set(TDS_EINVAL, "reason_required", "say why the token is revoked (reason)");
	revoke_ctx x = {.ct = ct, .who = who, .cid = contract_id, .tid = token_id, .reason = reason};
	int rc = tds_store_tx(ct->store, revoke_tx, &x);
	if (rc) {
		json_decref(x.out);
		return rc;
	}
	*out = x.out;
	return 0;
}
