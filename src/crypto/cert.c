/*
 * cert.c — node certificates (节点证书): the operator's signed statement binding a node to its
 * organisation, role, endpoints, public key and hardware fingerprint (format in crypto.h).
 *
 * One validator (check_cert) guards both directions: tds_cert_issue refuses to sign a statement the
 * parser would refuse, and the parser runs the same checks on what it read, so "issues" implies
 * "parses". The signed bytes are always recomputed (tds_json_canonical of the parsed "cert"
 * object), never taken from the input.
 *
 * Not for storing certificates, revocation or deciding who may hold one (identity), nor for X.509.
 */
#include "crypto/crypto.h"

#include <stdio.h>
#include <string.h>

#define CERT_TYPE "tds.node_cert"
#define CERT_VERSION 1

const char *tds_node_role_name(tds_node_role role)
{
	switch (role) {
	case TDS_NODE_ROLE_OPERATOR:
		return "operator";
	case TDS_NODE_ROLE_CONNECTOR:
		return "connector";
	}
	return NULL;
}

int tds_node_role_parse(const char *s, tds_node_role *out)
{
	if (s && strcmp(s, "operator") == 0)
		*out = TDS_NODE_ROLE_OPERATOR;
	else if (s && strcmp(s, "connector") == 0)
		*out = TDS_NODE_ROLE_CONNECTOR;
	else
		return tds_error_set(TDS_EINVAL, "invalid_node_role", "node role must be 'operator' or 'connector'");
	return 0;
}

static int bad(const char *fmt, const char *what)
{
	return tds_error_set(TDS_EINVAL, "invalid_certificate", fmt, what);
}

/* An endpoint: http:// or https://, a non-empty authority, printable ASCII without spaces, quotes,
 * backslashes or angle brackets, at most TDS_CERT_URL_MAX bytes. */
static bool url_ok(const char *u)
{
	size_t n = strnlen(u, TDS_CERT_URL_MAX + 1);
	if (n > TDS_CERT_URL_MAX)
		return false;
	size_t skip;
	if (strncmp(u, "https://", 8) == 0)
		skip = 8;
	else if (strncmp(u, "http://", 7) == 0)
		skip = 7;
	else
		return false;
	if (u[skip] == 0 || u[skip] == '/' || u[skip] == '?' || u[skip] == '#' || u[skip] == '@')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)u[i];
		if (c < 0x21 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>')
			return false;
	}
	return true;
}

static bool lower_hex64(const char *s)
{
	if (strnlen(s, TDS_HASH_HEX_LEN + 1) != TDS_HASH_HEX_LEN)
		return false;
	for (size_t i = 0; i < TDS_HASH_HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Every rule a statement must meet, for issuing and parsing alike. */
static int check_cert(const tds_node_cert *c)
{
	if (!tds_id_valid(c->serial, "crt"))
		return bad("certificate member '%s' must be an id 'crt_<ULID>'", "serial");
	if (!tds_id_valid(c->node_id, "node"))
		return bad("certificate member '%s' must be an id 'node_<ULID>'", "node_id");
	if (!tds_id_valid(c->org_id, "org"))
		return bad("certificate member '%s' must be an id 'org_<ULID>'", "org_id");
	if (!tds_id_valid(c->issuer_node_id, "node"))
		return bad("certificate member '%s' must be an id 'node_<ULID>'", "issuer");
	if (!tds_node_role_name(c->role))
		return bad("certificate member '%s' must be 'operator' or 'connector'", "role");
	if (!url_ok(c->api_endpoint))
		return bad("certificate member '%s' must be an http:// or https:// URL of at most 256 visible "
			   "ASCII characters", "api_endpoint");
	if (!url_ok(c->data_endpoint))
		return bad("certificate member '%s' must be an http:// or https:// URL of at most 256 visible "
			   "ASCII characters", "data_endpoint");
	if (!lower_hex64(c->hw_fingerprint))
		return bad("certificate member '%s' must be 64 lower-case hex characters", "hw_fingerprint");
	if (!lower_hex64(c->issuer_key_id))
		return bad("certificate member '%s' must be 64 lower-case hex characters", "issuer_key_id");
	if (!tds_suite_valid(c->key_suite))
		return bad("certificate member '%s' must be 'sm2-sm3' or 'ed25519'", "key_alg");
	size_t want = c->key_suite == TDS_SUITE_GM ? 65 : 32;
	if (c->public_key_len != want)
		return bad("certificate member '%s' has the wrong length for its key_alg", "public_key");
	char ts[TDS_TIME_MAX];
	if (tds_time_format(c->issued_at_ms, ts) < 0)
		return bad("certificate member '%s' is out of range", "issued_at");
	if (tds_time_format(c->expires_at_ms, ts) < 0)
		return bad("certificate member '%s' is out of range", "expires_at");
	if (c->expires_at_ms <= c->issued_at_ms)
		return bad("certificate member '%s' must be later than issued_at", "expires_at");
	return 0;
}

int tds_cert_set_key(tds_node_cert *cert, const tds_key *subject)
{
	tds_buf raw = TDS_BUF_INIT;
	int rc = tds_key_public_raw(subject, &raw);
	if (rc == 0 && raw.len > sizeof cert->public_key)
		rc = tds_error_set(TDS_EINTERNAL, "internal_error", "raw public key longer than expected");
	if (rc == 0)
		rc = tds_key_id(subject, cert->key_id);
	if (rc == 0) {
		memcpy(cert->public_key, raw.data, raw.len);
		cert->public_key_len = raw.len;
		cert->key_suite = tds_key_suite(subject);
	}
	tds_buf_free(&raw);
	return rc;
}

json_t *tds_cert_statement_json(const tds_node_cert *c)
{
	if (check_cert(c) < 0)
		return NULL;
	char issued[TDS_TIME_MAX], expires[TDS_TIME_MAX];
	tds_buf pk = TDS_BUF_INIT;
	if (tds_time_format(c->issued_at_ms, issued) < 0 || tds_time_format(c->expires_at_ms, expires) < 0 ||
	    tds_b64_encode(c->public_key, c->public_key_len, &pk) < 0) {
		tds_buf_free(&pk);
		return NULL;
	}
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i}",
			      "api_endpoint", c->api_endpoint, "data_endpoint", c->data_endpoint, "expires_at",
			      expires, "hw_fingerprint", c->hw_fingerprint, "issued_at", issued, "issuer",
			      c->issuer_node_id, "issuer_key_id", c->issuer_key_id, "key_alg",
			      tds_sig_alg(c->key_suite), "node_id", c->node_id, "org_id", c->org_id, "public_key",
			      pk.data, "role", tds_node_role_name(c->role), "serial", c->serial, "type", CERT_TYPE,
			      "version", CERT_VERSION);
	tds_buf_free(&pk);
	if (!o)
		tds_error_set(TDS_ENOMEM, NULL, "out of memory building a certificate");
	return o;
}

int tds_cert_issue(const tds_node_cert *cert, const tds_key *issuer, tds_buf *out)
{
	if (!cert || !issuer || !out)
		return tds_error_set(TDS_EINVAL, "invalid_certificate", "certificate, issuer key and output are required");
	if (!tds_key_has_private(issuer))
		return tds_error_set(TDS_EINVAL, "no_private_key", "issuing a certificate needs the issuer's private key");
	tds_node_cert c = *cert;
	char kid[TDS_KEY_ID_LEN + 1];
	int rc = tds_key_id(issuer, kid);
	if (rc < 0)
		return rc;
	if (c.issuer_key_id[0] == 0)
		memcpy(c.issuer_key_id, kid, sizeof kid);
	else if (strncmp(c.issuer_key_id, kid, sizeof kid) != 0)
		return tds_error_set(TDS_ECRYPTO, "certificate_wrong_issuer",
				     "issuer_key_id names another key than the one signing; leave it empty or set "
				     "the signing key's id");
	json_t *stmt = tds_cert_statement_json(&c);
	if (!stmt)
		return tds_error_code() ? tds_error_code() : TDS_ENOMEM;
	tds_buf canon = TDS_BUF_INIT, sig = TDS_BUF_INIT, b64 = TDS_BUF_INIT;
	json_t *env = NULL;
	if ((rc = tds_json_canonical(stmt, &canon)) == 0 && (rc = tds_sign(issuer, canon.data, canon.len, &sig)) == 0 &&
	    (rc = tds_b64_encode(sig.data, sig.len, &b64)) == 0) {
		env = json_pack("{s:O, s:s, s:s}", "cert", stmt, "sig_alg", tds_sig_alg(tds_key_suite(issuer)),
				"signature", b64.data);
		if (!env)
			rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory building a certificate");
	}
	if (rc == 0) {
		tds_buf_reset(&canon);
		rc = tds_json_canonical(env, &canon);
	}
	if (rc == 0)
		rc = tds_buf_append(out, canon.data, canon.len);
	json_decref(env);
	json_decref(stmt);
	tds_buf_free(&canon);
	tds_buf_free(&sig);
	tds_buf_free(&b64);
	return rc;
}

/* ---- parsing ---- */

static const tds_json_field ENVELOPE[] = {
	{"cert", TDS_JSON_OBJECT, true, 0},
	{"sig_alg", TDS_JSON_STRING, true, 16},
	{"signature", TDS_JSON_STRING, true, 128},
};

static const tds_json_field STATEMENT[] = {
	{"api_endpoint", TDS_JSON_STRING, true, TDS_CERT_URL_MAX},
	{"data_endpoint", TDS_JSON_STRING, true, TDS_CERT_URL_MAX},
	{"expires_at", TDS_JSON_STRING, true, 40},
	{"hw_fingerprint", TDS_JSON_STRING, true, TDS_HASH_HEX_LEN},
	{"issued_at", TDS_JSON_STRING, true, 40},
	{"issuer", TDS_JSON_STRING, true, TDS_ID_MAX - 1},
	{"issuer_key_id", TDS_JSON_STRING, true, TDS_KEY_ID_LEN},
	{"key_alg", TDS_JSON_STRING, true, 16},
	{"node_id", TDS_JSON_STRING, true, TDS_ID_MAX - 1},
	{"org_id", TDS_JSON_STRING, true, TDS_ID_MAX - 1},
	{"public_key", TDS_JSON_STRING, true, 128},
	{"role", TDS_JSON_STRING, true, 16},
	{"serial", TDS_JSON_STRING, true, TDS_ID_MAX - 1},
	{"type", TDS_JSON_STRING, true, 32},
	{"version", TDS_JSON_INTEGER, true, 0},
};

/* Re-labels a schema error (missing_field, unknown_field, …) as invalid_certificate. */
static int schema_fail(const char *where)
{
	char msg[256];
	snprintf(msg, sizeof msg, "%s", tds_error_message());
	return tds_error_set(TDS_EINVAL, "invalid_certificate", "certificate %s: %s", where, msg);
}

/* Copies a member string that tds_json_check already bounded; refuses embedded NULs. */
static int take(const json_t *o, const char *name, char *dst, size_t cap)
{
	const json_t *v = json_object_get(o, name);
	size_t n = json_string_length(v);
	if (n >= cap || strlen(json_string_value(v)) != n)
		return bad("certificate member '%s' is too long or holds a NUL", name);
	memcpy(dst, json_string_value(v), n + 1);
	return 0;
}

static int take_time(const json_t *o, const char *name, int64_t *ms)
{
	if (tds_time_parse(json_string_value(json_object_get(o, name)), ms) < 0)
		return bad("certificate member '%s' must be an RFC 3339 date-time", name);
	return 0;
}

/* Parses the envelope into *out, the statement object (borrowed from *doc) and the signature. */
static int parse(const char *json, size_t len, tds_node_cert *out, json_t **doc, tds_buf *sig)
{
	memset(out, 0, sizeof *out);
	*doc = NULL;
	if (!json)
		return bad("%s", "certificate is missing");
	if (len > TDS_CERT_MAX_LEN)
		return tds_error_set(TDS_ETOOBIG, "certificate_too_large", "certificate is larger than %d bytes",
				     TDS_CERT_MAX_LEN);
	json_t *d;
	int rc = tds_json_parse(json, len, &d);
	if (rc < 0) {
		char msg[256];
		snprintf(msg, sizeof msg, "%s", tds_error_message());
		return tds_error_set(TDS_EINVAL, "invalid_certificate", "certificate is not valid JSON: %s", msg);
	}
	*doc = d;
	if (!json_is_object(d))
		return bad("%s", "certificate must be a JSON object");
	if (tds_json_check(d, ENVELOPE, TDS_ARRAY_LEN(ENVELOPE), false) < 0)
		return schema_fail("envelope");
	const json_t *st = json_object_get(d, "cert");
	if (tds_json_check(st, STATEMENT, TDS_ARRAY_LEN(STATEMENT), false) < 0)
		return schema_fail("statement");
	if (strcmp(json_string_value(json_object_get(st, "type")), CERT_TYPE) != 0)
		return bad("certificate member '%s' must be \"" CERT_TYPE "\"", "type");
	if (json_integer_value(json_object_get(st, "version")) != CERT_VERSION)
		return bad("certificate member '%s' must be 1 (no other version is known)", "version");
	if (tds_sig_alg_parse(json_string_value(json_object_get(d, "sig_alg")), &out->sig_suite) < 0)
		return bad("certificate member '%s' must be 'sm2-sm3' or 'ed25519'", "sig_alg");
	if (tds_sig_alg_parse(json_string_value(json_object_get(st, "key_alg")), &out->key_suite) < 0)
		return bad("certificate member '%s' must be 'sm2-sm3' or 'ed25519'", "key_alg");
	if (tds_node_role_parse(json_string_value(json_object_get(st, "role")), &out->role) < 0)
		return bad("certificate member '%s' must be 'operator' or 'connector'", "role");
	if ((rc = take(st, "serial", out->serial, sizeof out->serial)) ||
	    (rc = take(st, "node_id", out->node_id, sizeof out->node_id)) ||
	    (rc = take(st, "org_id", out->org_id, sizeof out->org_id)) ||
	    (rc = take(st, "api_endpoint", out->api_endpoint, sizeof out->api_endpoint)) ||
	    (rc = take(st, "data_endpoint", out->data_endpoint, sizeof out->data_endpoint)) ||
	    (rc = take(st, "hw_fingerprint", out->hw_fingerprint, sizeof out->hw_fingerprint)) ||
	    (rc = take(st, "issuer", out->issuer_node_id, sizeof out->issuer_node_id)) ||
	    (rc = take(st, "issuer_key_id", out->issuer_key_id, sizeof out->issuer_key_id)) ||
	    (rc = take_time(st, "issued_at", &out->issued_at_ms)) ||
	    (rc = take_time(st, "expires_at", &out->expires_at_ms)))
		return rc;
	const char *pk = json_string_value(json_object_get(st, "public_key"));
	tds_buf raw = TDS_BUF_INIT;
	if (tds_b64_decode(pk, strlen(pk), &raw) < 0 || raw.len > sizeof out->public_key) {
		tds_buf_free(&raw);
		return bad("certificate member '%s' must be the base64 raw public key", "public_key");
	}
	memcpy(out->public_key, raw.data ? raw.data : "", raw.len);
	out->public_key_len = raw.len;
	tds_buf_free(&raw);
	if ((rc = check_cert(out)) < 0)
		return rc;
	tds_key *k = NULL;
	if (tds_key_from_public_raw(out->key_suite, out->public_key, out->public_key_len, &k) < 0)
		return bad("certificate member '%s' is not a valid public key of its key_alg", "public_key");
	rc = tds_key_id(k, out->key_id);
	tds_key_free(k);
	if (rc < 0)
		return rc;
	if (sig) {
		const char *s = json_string_value(json_object_get(d, "signature"));
		if (tds_b64_decode(s, strlen(s), sig) < 0 || sig->len == 0 || sig->len > TDS_SIG_MAX)
			return bad("certificate member '%s' must be a base64 signature", "signature");
	}
	return 0;
}

int tds_cert_parse(const char *json, size_t len, tds_node_cert *out)
{
	json_t *doc;
	int rc = parse(json, len, out, &doc, NULL);
	json_decref(doc);
	if (rc < 0)
		memset(out, 0, sizeof *out);
	return rc;
}

int tds_cert_parse_verify(const char *json, size_t len, const tds_key *issuer_pub, int64_t now_ms,
			  tds_node_cert *out, tds_key **subject_key)
{
	if (subject_key)
		*subject_key = NULL;
	json_t *doc = NULL;
	tds_buf sig = TDS_BUF_INIT, canon = TDS_BUF_INIT;
	char kid[TDS_KEY_ID_LEN + 1];
	int rc;
	if (!issuer_pub) {
		memset(out, 0, sizeof *out);
		return tds_error_set(TDS_EINVAL, "invalid_certificate", "verifying a certificate needs the issuer's key");
	}
	if ((rc = parse(json, len, out, &doc, &sig)) < 0 || (rc = tds_key_id(issuer_pub, kid)) < 0)
		goto done;
	if (strcmp(kid, out->issuer_key_id) != 0) {
		rc = tds_error_set(TDS_ECRYPTO, "certificate_wrong_issuer",
				   "certificate was issued by key %.16s…, not by the given issuer key %.16s…",
				   out->issuer_key_id, kid);
		goto done;
	}
	if (out->sig_suite != tds_key_suite(issuer_pub)) {
		rc = tds_error_set(TDS_ECRYPTO, "certificate_alg_mismatch",
				   "certificate sig_alg is %s but the issuer key is %s", tds_sig_alg(out->sig_suite),
				   tds_sig_alg(tds_key_suite(issuer_pub)));
		goto done;
	}
	if ((rc = tds_json_canonical(json_object_get(doc, "cert"), &canon)) < 0)
		goto done;
	if (tds_verify(issuer_pub, canon.data, canon.len, (const uint8_t *)sig.data, sig.len) < 0) {
		rc = tds_error_set(TDS_ECRYPTO, "certificate_bad_signature",
				   "certificate signature does not verify under the issuer key: the certificate "
				   "was altered or signed by someone else");
		goto done;
	}
	if (now_ms < out->issued_at_ms - TDS_CERT_SKEW_MS) {
		rc = tds_error_set(TDS_EAUTH, "certificate_not_yet_valid",
				   "certificate is valid only from its issued_at; check this node's clock");
		goto done;
	}
	if (now_ms > out->expires_at_ms + TDS_CERT_SKEW_MS) {
		rc = tds_error_set(TDS_EAUTH, "certificate_expired",
				   "certificate expired at its expires_at; the operator must issue a new one");
		goto done;
	}
	if (subject_key)
		rc = tds_key_from_public_raw(out->key_suite, out->public_key, out->public_key_len, subject_key);
done:
	json_decref(doc);
	tds_buf_free(&sig);
	tds_buf_free(&canon);
	if (rc < 0)
		memset(out, 0, sizeof *out);
	return rc;
}

int tds_cert_hash(const char *json, size_t len, uint8_t out[TDS_HASH_LEN])
{
	tds_node_cert c;
	json_t *doc;
	tds_buf canon = TDS_BUF_INIT;
	int rc = parse(json, len, &c, &doc, NULL);
	if (rc == 0)
		rc = tds_json_canonical(doc, &canon);
	if (rc == 0)
		rc = tds_hash(c.sig_suite, canon.data, canon.len, out);
	json_decref(doc);
	tds_buf_free(&canon);
	return rc;
}
