/*
 * test_connectors.c — the white paper's connector onboarding (连接器入驻) on real nodes: an operator and
 * two connector nodes (the enterprise's on the gm suite, the bank's on intl). An enterprise registers,
 * is verified, becomes a provider and registers its connector; a reviewer approves it (ClientID,
 * ClientSecret, node certificate, ledger witnessed); the connector enrols with the CLI and heartbeats
 * (online, last_seen moving); a bank does the same as a consumer with the CLI. The connectors' signed
 * calls are accepted as TDS_ROLE_NODE by the operator and by each other; a replayed or re-signed
 * request is refused; the connector's checkpoints are cosigned by the operator over signed calls.
 * Then the bank's connector is revoked: its signed calls are refused by the operator at once and by
 * the enterprise's connector after its next revocation poll, and its publishing stops. A stopped
 * connector is marked offline after the configured silence and online again after a restart (which
 * reloads its certificate). Bad input on every new endpoint gets a clear 4xx and changes nothing.
 *
 * Tests run in order and build on each other.
 */
#include "harness.h"

#include "crypto/crypto.h"
#include "identity/identity.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

static const char *PW = "correct horse battery staple";
static const char *HASH1 = "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b";

static tn_node *op, *ent, *bank;
static char *admin;
static char env_op[300];
static char *const OP_ENV[] = {"TDS_LEDGER_CHECKPOINT_INTERVAL_S=0", "TDS_CONNECTOR_OFFLINE_AFTER_S=3", NULL};
static char *con_env[] = {env_op, "TDS_LEDGER_CHECKPOINT_INTERVAL_S=0", "TDS_CONNECTOR_HEARTBEAT_INTERVAL_S=1",
			  "TDS_CONNECTOR_REVOCATION_POLL_S=1", NULL};

/* What the tests learn and share. */
static struct {
	char acme[64], acme_admin[128], bank_org[64], bank_admin[128];
	char ent_con[64], ent_serial[64], bank_con[64], bank_serial[64];
	char bank_client[64], bank_secret[128];
	char op_key_id[80];
	tds_key *bank_key, *ent_key;
} S;

static int setup(void **state)
{
	(void)state;
	op = tn_init("operator", "gm");
	ent = tn_init("connector", "gm");
	bank = tn_init("connector", "intl"); /* another suite: certificates and signatures name their algorithm */
	if (tn_start(op, OP_ENV))
		return -1;
	snprintf(env_op, sizeof env_op, "TDS_NODE_OPERATOR_URL=%s", op->api);
	if (tn_start(ent, con_env) || tn_start(bank, con_env))
		return -1;
	admin = tn_login_admin(op);
	return admin ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(admin);
	tds_key_free(S.bank_key);
	tds_key_free(S.ent_key);
	int a = tn_stop(ent), b = tn_stop(bank), c = tn_stop(op);
	tn_free(ent);
	tn_free(bank);
	tn_free(op);
	return a == 0 && b == 0 && c == 0 ? 0 : -1;
}

/* ---- helpers ---- */

static long call(tn_node *n, const char *method, const char *path, const char *token, const char *body, json_t **out)
{
	json_t *tmp = NULL;
	long st = tn_json(n, method, path, token, body, out ? out : &tmp);
	json_decref(tmp);
	return st;
}

static long callf(tn_node *n, const char *method, const char *token, json_t **out, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static long callf(tn_node *n, const char *method, const char *token, json_t **out, const char *path, const char *fmt, ...)
{
	char body[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof body, fmt, ap);
	va_end(ap);
	return call(n, method, path, token, body, out);
}

#define expect(got, want, out, what)                                                                        \
	do {                                                                                                \
		long got_ = (got);                                                                          \
		expect_status(got_, want, out, what);                                                       \
	} while (0)

static void expect_status(long got, long want, json_t *out, const char *what)
{
	if (got != want) {
		json_t *e = json_object_get(out, "error");
		fail_msg("%s: HTTP %ld, expected %ld (%s: %s)", what, got, want, tds_json_str(e, "code", "-"),
			 tds_json_str(e, "message", "-"));
	}
}

static void expect_code(json_t *out, const char *code)
{
	const char *got = tds_json_str(json_object_get(out, "error"), "code", "");
	if (strcmp(got, code) != 0)
		fail_msg("expected error %s, got %s (%s)", code, got, tds_json_str(json_object_get(out, "error"), "message", ""));
	assert_true(strlen(tds_json_str(json_object_get(out, "error"), "message", "")) > 10);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static void login(tn_node *n, const char *user, const char *pw, char *token, size_t cap)
{
	json_t *out = NULL;
	expect(callf(n, "POST", NULL, &out, "/api/v1/auth/login", "{\"username\":\"%s\",\"password\":\"%s\"}", user, pw), 200,
	       out, "login");
	snprintf(token, cap, "%s", tds_json_str(out, "token", ""));
	json_decref(out);
}

/* Number of evidence entries of a type about a subject on the operator. */
static size_t evidence(const char *type, const char *subject)
{
	char path[256];
	json_t *out = NULL;
	snprintf(path, sizeof path, "/api/v1/ledger/search?type=%s&subject=%s&limit=500", type, subject);
	expect(call(op, "GET", path, admin, NULL, &out), 200, out, "ledger search");
	size_t n = json_array_size(json_object_get(out, "items"));
	json_decref(out);
	return n;
}

/* A verified organisation holding `role`, with its admin logged in. */
static void onboard_org(const char *user, const char *name, const char *type, const char *uscc, const char *role,
			int dengbao, char *org, char *token)
{
	json_t *out = NULL;
	char path[160];
	expect(callf(op, "POST", NULL, &out, "/api/v1/orgs", "{\"username\":\"%s\",\"password\":\"%s\",\"name\":\"%s\",\"type\":\"%s\"}",
		     user, PW, name, type),
	       201, out, "register org");
	snprintf(org, 64, "%s", tds_json_str(json_object_get(out, "org"), "id", ""));
	json_decref(out);
	login(op, user, PW, token, 128);
	snprintf(path, sizeof path, "/api/v1/orgs/%s/verification", org);
	expect(callf(op, "POST", token, &out, path, "{\"uscc\":\"%s\",\"legal_rep\":\"张三\",\"licence_hash\":\"%s\"}", uscc, HASH1),
	       200, out, "submit verification");
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/orgs/%s/review", org);
	expect(call(op, "POST", path, admin, "{\"decision\":\"approve\"}", &out), 200, out, "verify org");
	json_decref(out);
	if (!role)
		return;
	if (dengbao) {
		char from[TDS_TIME_MAX], to[TDS_TIME_MAX];
		tds_time_format(tds_now_ms() - 100LL * 86400000, from);
		tds_time_format(tds_now_ms() + 400LL * 86400000, to);
		from[10] = to[10] = 0;
		snprintf(path, sizeof path, "/api/v1/orgs/%s/qualifications", org);
		expect(callf(op, "POST", token, &out, path,
			     "{\"type\":\"dengbao\",\"level\":%d,\"issuer\":\"公安部第三研究所\",\"valid_from\":\"%s\","
			     "\"valid_to\":\"%s\",\"doc_hash\":\"%s\"}",
			     dengbao, from, to, HASH1),
		       201, out, "qualification");
		snprintf(path, sizeof path, "/api/v1/qualifications/%s/review", tds_json_str(out, "id", ""));
		json_decref(out);
		expect(call(op, "POST", path, admin, "{\"decision\":\"approve\"}", &out), 200, out, "approve qualification");
		json_decref(out);
	}
	expect(callf(op, "POST", token, &out, "/api/v1/role-applications", "{\"role\":\"%s\",\"justification\":\"开展%s业务\"}",
		     role, role),
	       201, out, "apply");
	snprintf(path, sizeof path, "/api/v1/role-applications/%s/review", tds_json_str(out, "id", ""));
	json_decref(out);
	expect(call(op, "POST", path, admin, "{\"decision\":\"approve\"}", &out), 200, out, "grant");
	json_decref(out);
}

/* 64 hex characters: SHA-256 of text (a hardware description). */
static void fingerprint(const char *text, char out[65])
{
	uint8_t h[TDS_HASH_LEN];
	tds_buf b = TDS_BUF_INIT;
	assert_int_equal(tds_hash(TDS_SUITE_INTL, text, strlen(text), h), 0);
	assert_int_equal(tds_hex_encode(h, sizeof h, &b), 0);
	memcpy(out, b.data, 65);
	tds_buf_free(&b);
}

/* The registration body of a connector node (node id and key from its own /api/v1/node). */
static json_t *registration(tn_node *n, const char *name, const char *device)
{
	json_t *info = NULL;
	expect(call(n, "GET", "/api/v1/node", NULL, NULL, &info), 200, info, "node info");
	char fp[65];
	fingerprint(device, fp);
	json_t *body = json_pack("{s:s, s:s, s:[s, s], s:s, s:s, s:s, s:s, s:O, s:O}", "name", name, "vendor_serial",
				 "HW-2025-0001", "ips", "127.0.0.1", "::1", "software_version", TDS_VERSION, "api_endpoint",
				 n->api, "data_endpoint", n->data, "hw_fingerprint", fp, "node_id",
				 json_object_get(info, "node_id"), "public_key_pem", json_object_get(info, "public_key_pem"));
	json_decref(info);
	return body;
}

static long post_json(tn_node *n, const char *path, const char *token, const json_t *body, json_t **out)
{
	char *text = json_dumps(body, 0);
	long st = call(n, "POST", path, token, text, out);
	free(text);
	return st;
}

/* Runs the tds CLI; *out gets the JSON it printed. */
static int cli(const char *env, tn_node *n, const char *token, const char *args, json_t **out)
{
	char cmd[4096], *o = NULL;
	snprintf(cmd, sizeof cmd, "%s %s/tds --node %s --token %s %s --json 2>/dev/null", env ? env : "", tn_bin_dir(), n->api,
		 token, args);
	int st = tn_run(cmd, &o);
	if (out)
		*out = json_loads(o, 0, NULL);
	free(o);
	return st;
}

/* The connector's node key, read from its directory as tdsd does. */
static tds_key *node_key(tn_node *n)
{
	char p[512];
	tds_buf m = TDS_BUF_INIT;
	snprintf(p, sizeof p, "%s/master.key", n->dir);
	assert_int_equal(tds_file_read(p, 64, &m), 0);
	assert_int_equal(m.len, TDS_MASTER_KEY_LEN);
	snprintf(p, sizeof p, "%s/node.key", n->dir);
	tds_key *k = NULL;
	assert_int_equal(tds_key_load_sealed(p, (const uint8_t *)m.data, &k), 0);
	memset(m.data, 0, m.len);
	tds_buf_free(&m);
	return k;
}

/* A request signed with key under keyid (RFC 9421); *out the JSON answer. */
static long signed_call(tn_node *n, const char *method, const char *path, const tds_key *key, const char *keyid,
			const char *body, json_t **out)
{
	tds_http_client *c = tds_http_client_new(n->api, 10000);
	assert_int_equal(tds_http_client_set_signer(c, key, keyid), 0);
	const char *h[] = {"Content-Type: application/json", NULL};
	tds_http_response r = {0};
	int rc = tds_http_client_do(c, method, path, body ? h : NULL, body, body ? strlen(body) : 0, &r);
	tds_http_client_free(c);
	assert_int_equal(rc, 0);
	if (out)
		*out = r.body.len ? json_loadb(r.body.data, r.body.len, 0, NULL) : NULL;
	long st = r.status;
	tds_http_response_free(&r);
	return st;
}

static void expect_node(json_t *who, const char *org)
{
	json_t *roles = json_object_get(who, "roles");
	assert_int_equal(json_array_size(roles), 1);
	assert_string_equal(json_string_value(json_array_get(roles, 0)), "node");
	assert_string_equal(tds_json_str(who, "org_id", ""), org);
	assert_null(tds_json_str(who, "account_id", NULL));
}

/* The connector as the operator sees it. */
static json_t *connector(const char *id)
{
	char path[128];
	json_t *out = NULL;
	snprintf(path, sizeof path, "/api/v1/connectors/%s", id);
	expect(call(op, "GET", path, admin, NULL, &out), 200, out, "read connector");
	return out;
}

/* Waits (up to 20 s) until the connector's presence is `want`. */
static void wait_presence(const char *id, const char *want)
{
	for (int i = 0; i < 200; i++) {
		json_t *c = connector(id);
		bool ok = strcmp(tds_json_str(c, "presence", ""), want) == 0;
		json_decref(c);
		if (ok)
			return;
		sleep_ms(100);
	}
	fail_msg("connector %s never became %s", id, want);
}

/* ---- the white paper's onboarding ---- */

static void test_enterprise_connector(void **state)
{
	(void)state;
	json_t *out = NULL, *body;
	char path[256];
	onboard_org("acme", "示例数据科技有限公司", "enterprise", "91350100M000100Y43", "provider", 3, S.acme, S.acme_admin);

	/* the organisation's admin registers its connector: pending, evidenced */
	body = registration(ent, "acme-connector-01", "acme rack 3, slot 7, board SN A1");
	expect(post_json(op, "/api/v1/connectors", S.acme_admin, body, &out), 201, out, "register connector");
	json_decref(body);
	snprintf(S.ent_con, sizeof S.ent_con, "%s", tds_json_str(out, "id", ""));
	assert_true(tds_id_valid(S.ent_con, "con"));
	assert_string_equal(tds_json_str(out, "status", ""), "pending");
	assert_string_equal(tds_json_str(out, "org_id", ""), S.acme);
	assert_string_equal(tds_json_str(out, "node_id", ""), tds_json_str(ent->init, "node_id", "x"));
	assert_string_equal(tds_json_str(out, "key_id", ""), tds_json_str(ent->init, "key_id", "x"));
	assert_string_equal(tds_json_str(out, "presence", ""), "unknown");
	assert_true(json_is_null(json_object_get(out, "client_id")));
	json_decref(out);
	assert_int_equal(evidence("identity.connector_registered", S.ent_con), 1);
	/* the organisation sees it; nobody sees a secret */
	expect(call(op, "GET", "/api/v1/connectors", S.acme_admin, NULL, &out), 200, out, "own connectors");
	assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
	json_decref(out);

	/* a platform reviewer approves: ClientID, ClientSecret (shown once), certificate, witnessed log */
	snprintf(path, sizeof path, "/api/v1/connectors/%s/review", S.ent_con);
	expect(call(op, "POST", path, admin, "{\"decision\":\"approve\",\"reason\":\"设备信息核验一致\"}", &out), 200, out, "approve");
	assert_string_equal(tds_json_str(out, "status", ""), "approved");
	const char *client = tds_json_str(out, "client_id", ""), *secret = tds_json_str(out, "client_secret", "");
	assert_true(tds_id_valid(client, "client"));
	assert_true(strncmp(secret, TDS_CLIENT_SECRET_PREFIX, strlen(TDS_CLIENT_SECRET_PREFIX)) == 0);
	snprintf(S.ent_serial, sizeof S.ent_serial, "%s", tds_json_str(out, "cert_serial", ""));
	snprintf(S.op_key_id, sizeof S.op_key_id, "%s", tds_json_str(json_object_get(out, "operator"), "key_id", ""));
	assert_string_equal(S.op_key_id, tds_json_str(op->init, "key_id", "x"));
	json_t *cert = json_object_get(json_object_get(out, "certificate"), "cert");
	assert_string_equal(tds_json_str(cert, "serial", ""), S.ent_serial);
	assert_string_equal(tds_json_str(cert, "org_id", ""), S.acme);
	assert_string_equal(tds_json_str(cert, "role", ""), "connector");
	assert_string_equal(tds_json_str(cert, "api_endpoint", ""), ent->api);
	char client_id[64], client_secret[128];
	snprintf(client_id, sizeof client_id, "%s", client);
	snprintf(client_secret, sizeof client_secret, "%s", secret);
	json_decref(out);
	/* the secret is never shown again */
	json_t *again = connector(S.ent_con);
	char *text = json_dumps(again, 0);
	assert_null(strstr(text, client_secret));
	assert_null(json_object_get(again, "client_secret"));
	free(text);
	json_decref(again);
	assert_int_equal(evidence("identity.connector_approved", S.ent_con), 1);
	assert_int_equal(evidence("identity.certificate_issued", S.ent_serial), 1);
	/* the connector's ledger is witnessed by the operator from now on */
	expect(call(op, "GET", "/api/v1/ledger/witness/logs", admin, NULL, &out), 200, out, "witnessed logs");
	bool witnessed = false;
	size_t i;
	json_t *it;
	json_array_foreach(json_object_get(out, "items"), i, it) witnessed =
	    witnessed || strcmp(tds_json_str(it, "origin", ""), tds_json_str(ent->init, "origin", "x")) == 0;
	assert_true(witnessed);
	json_decref(out);

	/* the connector enrols with the CLI (the secret through the environment, the operator pinned) */
	char *ent_admin = tn_login_admin(ent), env[256], args[512];
	snprintf(env, sizeof env, "TDS_CLIENT_SECRET='%s'", client_secret);
	snprintf(args, sizeof args, "connector enroll --client-id %s --operator-key-id %s", client_id, S.op_key_id);
	assert_int_equal(cli(env, ent, ent_admin, args, &out), 0);
	assert_true(json_is_true(json_object_get(out, "enrolled")));
	assert_string_equal(tds_json_str(out, "serial", ""), S.ent_serial);
	json_decref(out);
	free(ent_admin);
	expect(call(ent, "GET", "/api/v1/node", NULL, NULL, &out), 200, out, "node info");
	assert_string_equal(tds_json_str(json_object_get(out, "certificate"), "serial", ""), S.ent_serial);
	json_decref(out);
	assert_int_equal(evidence("identity.connector_enrolled", S.ent_con), 1);

	/* it heartbeats: online, and last_seen moves */
	wait_presence(S.ent_con, "online");
	json_t *c1 = connector(S.ent_con);
	char seen1[TDS_TIME_MAX];
	snprintf(seen1, sizeof seen1, "%s", tds_json_str(c1, "last_seen_at", ""));
	json_t *hb = json_object_get(c1, "heartbeat");
	assert_string_equal(tds_json_str(hb, "status", ""), "ok");
	assert_string_equal(tds_json_str(hb, "version", ""), TDS_VERSION);
	assert_true(tds_json_int(json_object_get(hb, "health"), "disk_free_bytes", 0) > 0);
	json_decref(c1);
	sleep_ms(2200);
	json_t *c2 = connector(S.ent_con);
	assert_true(strcmp(tds_json_str(c2, "last_seen_at", ""), seen1) > 0);
	assert_string_equal(tds_json_str(c2, "presence", ""), "online");
	json_decref(c2);
	assert_int_equal(evidence("identity.connector_online", S.ent_con), 1);
}

static void test_bank_connector_with_cli(void **state)
{
	(void)state;
	json_t *out = NULL;
	char args[1024], fp[65];
	onboard_org("citybank", "示例城市商业银行", "bank", "91370100780603055K", "consumer", 0, S.bank_org, S.bank_admin);
	fingerprint("citybank dc-2 host 14", fp);
	snprintf(args, sizeof args,
		 "connector register --from-node %s --name citybank-connector --vendor-serial SN-77 --ip 10.0.0.7 "
		 "--ip 10.0.0.8 --software-version %s --data-endpoint %s --hw-fingerprint %s",
		 bank->api, TDS_VERSION, bank->data, fp);
	assert_int_equal(cli(NULL, op, S.bank_admin, args, &out), 0);
	snprintf(S.bank_con, sizeof S.bank_con, "%s", tds_json_str(out, "id", ""));
	assert_string_equal(tds_json_str(out, "key_alg", ""), "ed25519");
	assert_string_equal(tds_json_str(out, "api_endpoint", ""), bank->api);
	assert_int_equal(json_array_size(json_object_get(out, "ips")), 2);
	json_decref(out);
	/* the bank may not approve itself; a reviewer lists pending ones and approves */
	snprintf(args, sizeof args, "connector approve %s", S.bank_con);
	assert_int_equal(cli(NULL, op, S.bank_admin, args, NULL), 1);
	assert_int_equal(cli(NULL, op, admin, "connector list --status pending", &out), 0);
	assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
	json_decref(out);
	assert_int_equal(cli(NULL, op, admin, args, &out), 0);
	snprintf(S.bank_serial, sizeof S.bank_serial, "%s", tds_json_str(out, "cert_serial", ""));
	snprintf(S.bank_client, sizeof S.bank_client, "%s", tds_json_str(out, "client_id", ""));
	snprintf(S.bank_secret, sizeof S.bank_secret, "%s", tds_json_str(out, "client_secret", ""));
	json_decref(out);
	/* enrolment over the API: a wrong pinned operator key is refused and nothing is installed */
	char *bank_admin_tok = tn_login_admin(bank), body[512];
	snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"client_secret\":\"%s\",\"operator_key_id\":\"%064d\"}", S.bank_client,
		 S.bank_secret, 0);
	expect(call(bank, "POST", "/api/v1/node/enrollment", bank_admin_tok, body, &out), 422, out, "wrong operator key");
	expect_code(out, "operator_key_mismatch");
	json_decref(out);
	expect(call(bank, "GET", "/api/v1/node", NULL, NULL, &out), 200, out, "node info");
	assert_true(json_is_null(json_object_get(out, "certificate")));
	json_decref(out);
	snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"client_secret\":\"%s\"}", S.bank_client, S.bank_secret);
	expect(call(bank, "POST", "/api/v1/node/enrollment", bank_admin_tok, body, &out), 200, out, "enrol");
	assert_string_equal(tds_json_str(out, "org_id", ""), S.bank_org);
	json_decref(out);
	free(bank_admin_tok);
	wait_presence(S.bank_con, "online");
	snprintf(args, sizeof args, "connector show %s", S.bank_con);
	assert_int_equal(cli(NULL, op, S.bank_admin, args, &out), 0);
	assert_string_equal(tds_json_str(out, "presence", ""), "online");
	json_decref(out);
	/* the operator's own view: both connectors approved and online */
	assert_int_equal(cli(NULL, op, admin, "connector list --status approved --presence online", &out), 0);
	assert_int_equal(json_array_size(json_object_get(out, "items")), 2);
	json_decref(out);
}

static void test_signed_calls(void **state)
{
	(void)state;
	json_t *out = NULL;
	S.bank_key = node_key(bank);
	S.ent_key = node_key(ent);
	/* a connector's signed call to the operator: TDS_ROLE_NODE with its organisation */
	expect(signed_call(op, "GET", "/api/v1/auth/whoami", S.bank_key, S.bank_serial, NULL, &out), 200, out, "whoami");
	expect_node(out, S.bank_org);
	json_decref(out);
	/* nodes read the whitelist */
	expect(signed_call(op, "GET", "/api/v1/whitelist", S.ent_key, S.ent_serial, NULL, &out), 200, out, "whitelist");
	json_decref(out);
	/* but not accounts */
	expect(signed_call(op, "GET", "/api/v1/accounts", S.ent_key, S.ent_serial, NULL, &out), 403, out, "accounts");
	json_decref(out);
	/* and to the other connector, which asks the operator on first sight (an intl key, a gm verifier) */
	expect(signed_call(ent, "GET", "/api/v1/auth/whoami", S.bank_key, S.bank_serial, NULL, &out), 200, out,
	       "whoami at the enterprise connector");
	expect_node(out, S.bank_org);
	json_decref(out);
	expect(signed_call(bank, "GET", "/api/v1/auth/whoami", S.ent_key, S.ent_serial, NULL, &out), 200, out,
	       "whoami at the bank connector");
	expect_node(out, S.acme);
	json_decref(out);

	/* a replayed request: the same signature twice */
	char url[256];
	snprintf(url, sizeof url, "%s/api/v1/auth/whoami", op->api);
	tds_sig_headers sh;
	assert_int_equal(tds_sig_sign(S.bank_key, S.bank_serial, "GET", url, NULL, 0, tds_now_ms(), &sh), 0);
	char si[1100], sg[200];
	snprintf(si, sizeof si, "Signature-Input: %s", sh.signature_input);
	snprintf(sg, sizeof sg, "Signature: %s", sh.signature);
	const char *h[] = {si, sg, NULL};
	expect(tn_call_h(op, 1, "GET", "/api/v1/auth/whoami", NULL, h, NULL, 0, &out, NULL), 200, out, "first");
	json_decref(out);
	expect(tn_call_h(op, 1, "GET", "/api/v1/auth/whoami", NULL, h, NULL, 0, &out, NULL), 401, out, "replay");
	expect_code(out, "replayed_request");
	json_decref(out);
	/* the same headers on another target, a signature under another key, an unknown serial */
	assert_int_equal(tds_sig_sign(S.bank_key, S.bank_serial, "GET", url, NULL, 0, tds_now_ms(), &sh), 0);
	snprintf(si, sizeof si, "Signature-Input: %s", sh.signature_input);
	snprintf(sg, sizeof sg, "Signature: %s", sh.signature);
	expect(tn_call_h(op, 1, "GET", "/api/v1/me", NULL, h, NULL, 0, &out, NULL), 401, out, "moved");
	expect_code(out, "bad_signature");
	json_decref(out);
	tds_key *other = NULL;
	assert_int_equal(tds_key_generate(TDS_SUITE_INTL, &other), 0);
	expect(signed_call(op, "GET", "/api/v1/auth/whoami", other, S.bank_serial, NULL, &out), 401, out, "another key");
	expect_code(out, "bad_signature");
	json_decref(out);
	tds_key_free(other);
	char nobody[TDS_ID_MAX];
	tds_id_new("crt", nobody);
	expect(signed_call(op, "GET", "/api/v1/auth/whoami", S.bank_key, nobody, NULL, &out), 401, out, "unknown serial");
	expect_code(out, "unknown_key");
	json_decref(out);
	expect(signed_call(ent, "GET", "/api/v1/auth/whoami", S.bank_key, nobody, NULL, &out), 401, out,
	       "unknown serial at a connector");
	expect_code(out, "unknown_key");
	json_decref(out);
	expect(signed_call(op, "GET", "/api/v1/auth/whoami", S.bank_key, "node-key-1", NULL, &out), 401, out, "keyid format");
	expect_code(out, "unknown_key");
	json_decref(out);

	/* the enterprise connector's checkpoint is cosigned by the operator over signed calls */
	char *tok = tn_login_admin(ent);
	expect(call(ent, "POST", "/api/v1/ledger/checkpoint", tok, "{}", &out), 200, out, "publish");
	json_t *w = json_array_get(json_object_get(out, "witnesses"), 0);
	if (!json_is_true(json_object_get(w, "ok")))
		fail_msg("the operator refused to cosign: %s", tds_json_str(json_object_get(w, "error"), "message", ""));
	json_decref(out);
	free(tok);
}

static void test_revocation(void **state)
{
	(void)state;
	json_t *out = NULL;
	char path[128], body[512];
	snprintf(path, sizeof path, "/api/v1/connectors/%s/revoke", S.bank_con);
	expect(call(op, "POST", path, S.bank_admin, "{\"reason\":\"自行吊销\"}", &out), 403, out, "the bank revokes");
	json_decref(out);
	expect(call(op, "POST", path, admin, "{\"reason\":\"设备失窃，密钥可能泄露\"}", &out), 200, out, "revoke");
	assert_string_equal(tds_json_str(out, "status", ""), "revoked");
	assert_string_equal(tds_json_str(out, "revoke_reason", ""), "设备失窃，密钥可能泄露");
	json_decref(out);
	assert_int_equal(evidence("identity.certificate_revoked", S.bank_serial), 1);

	/* refused by the operator at once */
	expect(signed_call(op, "GET", "/api/v1/auth/whoami", S.bank_key, S.bank_serial, NULL, &out), 401, out,
	       "revoked at the operator");
	expect_code(out, "certificate_revoked");
	json_decref(out);
	/* also on public routes: a signature is checked wherever it is sent */
	expect(signed_call(op, "GET", "/api/v1/node", S.bank_key, S.bank_serial, NULL, &out), 401, out, "public route");
	json_decref(out);
	out = NULL;
	/* refused by the other connector once it polled the revocation list (every second here) */
	long st = 0;
	for (int i = 0; i < 100 && st != 401; i++) {
		json_decref(out);
		out = NULL;
		st = signed_call(ent, "GET", "/api/v1/auth/whoami", S.bank_key, S.bank_serial, NULL, &out);
		if (st != 401)
			sleep_ms(100);
	}
	expect(st, 401, out, "revoked at the other connector");
	expect_code(out, "certificate_revoked");
	json_decref(out);
	/* the enterprise's calls still pass */
	expect(signed_call(op, "GET", "/api/v1/auth/whoami", S.ent_key, S.ent_serial, NULL, &out), 200, out, "others pass");
	json_decref(out);
	/* the revoked connector cannot publish to its witness, nor enrol again, nor be approved again */
	char *tok = tn_login_admin(bank);
	expect(call(bank, "POST", "/api/v1/ledger/checkpoint", tok, "{}", &out), 200, out, "publish");
	assert_false(json_is_true(json_object_get(json_array_get(json_object_get(out, "witnesses"), 0), "ok")));
	json_decref(out);
	free(tok);
	snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"client_secret\":\"%s\"}", S.bank_client, S.bank_secret);
	expect(call(op, "POST", "/api/v1/connectors/enroll", NULL, body, &out), 403, out, "enrol revoked");
	expect_code(out, "connector_revoked");
	json_decref(out);
	expect(call(op, "POST", path, admin, "{\"reason\":\"again\"}", &out), 409, out, "revoke twice");
	expect_code(out, "already_revoked");
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/connectors/%s/review", S.bank_con);
	expect(call(op, "POST", path, admin, "{\"decision\":\"approve\"}", &out), 409, out, "approve revoked");
	expect_code(out, "connector_revoked");
	json_decref(out);
	/* the revocation list is a statement signed by the operator */
	expect(call(op, "GET", "/api/v1/connectors/revocations?since=0", admin, NULL, &out), 200, out, "revocations");
	json_t *info = NULL;
	expect(call(op, "GET", "/api/v1/node", NULL, NULL, &info), 200, info, "operator info");
	const char *pem = tds_json_str(info, "public_key_pem", "");
	tds_key *opk = NULL;
	assert_int_equal(tds_key_from_pem(pem, strlen(pem), &opk), 0);
	const json_t *stmt = NULL;
	assert_int_equal(tds_nodekeys_statement_verify(out, "tds.revocations", tds_json_str(info, "node_id", ""), opk,
						       tds_now_ms(), &stmt),
			 0);
	assert_int_equal(json_array_size(json_object_get(stmt, "items")), 1);
	assert_string_equal(tds_json_str(json_array_get(json_object_get(stmt, "items"), 0), "serial", ""), S.bank_serial);
	/* a changed statement does not verify */
	json_object_set_new(json_object_get(out, "statement"), "items", json_array());
	assert_int_equal(tds_nodekeys_statement_verify(out, "tds.revocations", tds_json_str(info, "node_id", ""), opk,
						       tds_now_ms(), &stmt),
			 TDS_ECRYPTO);
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/connectors/certificates/%s", S.bank_serial);
	expect(signed_call(op, "GET", path, S.ent_key, S.ent_serial, NULL, &out), 200, out, "certificate status");
	assert_int_equal(tds_nodekeys_statement_verify(out, "tds.cert_status", tds_json_str(info, "node_id", ""), opk,
						       tds_now_ms(), &stmt),
			 0);
	assert_string_equal(tds_json_str(stmt, "status", ""), "revoked");
	json_decref(out);
	tds_key_free(opk);
	json_decref(info);
}

static void test_offline_and_back(void **state)
{
	(void)state;
	/* a revoked connector is offline: its heartbeats are refused */
	wait_presence(S.bank_con, "offline");
	/* the enterprise connector stops: offline after the 3 s silence, evidenced */
	assert_int_equal(tn_stop(ent), 0);
	wait_presence(S.ent_con, "offline");
	assert_int_equal(evidence("identity.connector_offline", S.ent_con), 1);
	/* it restarts, reloads its certificate and comes back online */
	assert_int_equal(tn_start(ent, con_env), 0);
	wait_presence(S.ent_con, "online");
	assert_int_equal(evidence("identity.connector_online", S.ent_con), 2);
	json_t *out = NULL;
	expect(call(ent, "GET", "/api/v1/node", NULL, NULL, &out), 200, out, "node info");
	assert_string_equal(tds_json_str(json_object_get(out, "certificate"), "serial", ""), S.ent_serial);
	json_decref(out);
	/* and still refuses the revoked bank (its keyring starts empty: the first sight asks the operator) */
	expect(signed_call(ent, "GET", "/api/v1/auth/whoami", S.bank_key, S.bank_serial, NULL, &out), 401, out,
	       "revoked after restart");
	expect_code(out, "certificate_revoked");
	json_decref(out);
}

/* ---- bad input ---- */

static size_t count_connectors(void)
{
	json_t *out = NULL;
	expect(call(op, "GET", "/api/v1/connectors?limit=500", admin, NULL, &out), 200, out, "list");
	size_t n = json_array_size(json_object_get(out, "items"));
	json_decref(out);
	return n;
}

/* Request bodies made for the bad-input table, freed after it. */
static char *kept[32];
static size_t nkept;

static char *keep(char *body)
{
	assert_true(nkept < TDS_ARRAY_LEN(kept));
	return kept[nkept++] = body;
}

static char *with(json_t *base, const char *key, json_t *value)
{
	json_t *b = json_deep_copy(base);
	if (value)
		json_object_set_new(b, key, value);
	else
		json_object_del(b, key);
	char *s = json_dumps(b, 0);
	json_decref(b);
	return s;
}

static void test_bad_input(void **state)
{
	(void)state;
	json_t *out = NULL;
	char path[256];
	/* an operator organisation, whose reviewer registers a connector of its own */
	char ops[64], ops_admin[128], basic[64], basic_admin[128], norole[64], norole_admin[128];
	onboard_org("ops-center", "数据运营中心", "institution", "91350500676532779B", "operator", 3, ops, ops_admin);
	onboard_org("norole-co", "未授权公司", "research", "91510100350611266D", NULL, 0, norole, norole_admin);
	expect(callf(op, "POST", NULL, &out, "/api/v1/orgs", "{\"username\":\"basic-co\",\"password\":\"%s\",\"name\":\"x\",\"type\":\"other\"}", PW),
	       201, out, "basic");
	snprintf(basic, sizeof basic, "%s", tds_json_str(json_object_get(out, "org"), "id", ""));
	json_decref(out);
	login(op, "basic-co", PW, basic_admin, sizeof basic_admin);

	/* a fresh node identity (no daemon needed to register) */
	tds_key *k = NULL, *k2 = NULL;
	assert_int_equal(tds_key_generate(TDS_SUITE_GM, &k), 0);
	assert_int_equal(tds_key_generate(TDS_SUITE_GM, &k2), 0);
	tds_buf pub = TDS_BUF_INIT, priv = TDS_BUF_INIT, pub2 = TDS_BUF_INIT;
	assert_int_equal(tds_key_public_pem(k, &pub), 0);
	assert_int_equal(tds_key_public_pem(k2, &pub2), 0);
	assert_int_equal(tds_key_private_pem(k, &priv), 0);
	char node_id[TDS_ID_MAX], node2[TDS_ID_MAX], fp[65], fp2[65];
	tds_id_new("node", node_id);
	tds_id_new("node", node2);
	fingerprint("ops device", fp);
	fingerprint("ops device 2", fp2);
	json_t *good = json_pack("{s:s, s:s, s:[s], s:s, s:s, s:s, s:s, s:s, s:s}", "name", "ops-connector", "vendor_serial",
				 "SN-1", "ips", "192.168.1.10", "software_version", "1.0.0", "api_endpoint",
				 "https://ops.example:8443", "data_endpoint", "https://ops.example:9443", "hw_fingerprint", fp,
				 "node_id", node_id, "public_key_pem", pub.data);
	json_t *ent_reg = registration(ent, "dup", "acme rack 3, slot 7, board SN A1");
	char *ent_dup = json_dumps(ent_reg, 0);
	json_object_set_new(ent_reg, "node_id", json_string(node2));
	json_object_set_new(ent_reg, "hw_fingerprint", json_string(fp2));
	char *key_dup = json_dumps(ent_reg, 0); /* the enterprise's key under another node and device */
	json_decref(ent_reg);
	char *good_text = json_dumps(good, 0);

	size_t before = count_connectors();
#define B(expr) keep(expr)
	struct {
		const char *method, *path, *token, *body;
		long status;
		const char *code;
	} cases[] = {
	    /* registration */
	    {"POST", "/api/v1/connectors", ops_admin, "{\"name\":", 400, "invalid_json"},
	    {"POST", "/api/v1/connectors", ops_admin, "[]", 400, NULL},
	    {"POST", "/api/v1/connectors", ops_admin, B(with(good, "ips", json_string("192.168.1.10"))), 400, "invalid_field"},
	    {"POST", "/api/v1/connectors", ops_admin, B(with(good, "node_id", json_integer(7))), 400, "invalid_field"},
	    {"POST", "/api/v1/connectors", ops_admin, B(with(good, "client_secret", json_string("x"))), 400, "unknown_field"},
	    {"POST", "/api/v1/connectors", ops_admin, B(with(good, "name", NULL)), 400, "missing_field"},
	    {"POST", "/api/v1/connectors", ops_admin, B(with(good, "name", json_string("a\ab"))), 400, "invalid_field"},
	    {"POST", "/api/v1/connectors", ops_admin, B(with(good, "hw_fingerprint", json_string("XYZ"))), 400, "invalid_fingerprint"},
	    {"POST", "/api/v1/connectors", ops_admin,
	     B(with(good, "hw_fingerprint", json_string("6B86B273FF34FCE19D6B804EFF5A3F5747ADA4EAA22F1D49C01E52DDB7875B4B"))), 400,
	     "invalid_fingerprint"},
	    {"POST", "/api/v1/connectors", ops_admin,
	     B(with(good, "public_key_pem", json_string("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))), 400,
	     "invalid_key"},
	    {"POST", "/api/v1/connectors", ops_admin, B(with(good, "public_key_pem", json_string(priv.data))), 400,
	     "private_key_submitted"},
	    {"POST", "/api/v1/connectors", ops_admin, B(with(good, "api_endpoint", json_string("ftp://ops.example"))), 400, "invalid_url"},
	    {"POST", "/api/v1/connectors", ops_admin, B(with(good, "api_endpoint", json_string("http://"))), 400, "invalid_url"},
	    {"POST", "/api/v1/connectors", ops_admin, B(with(good, "data_endpoint", json_string("http://a b"))), 400, "invalid_url"},
	    {"POST", "/api/v1/connectors", ops_admin, B(with(good, "ips", json_pack("[s]", "999.1.1.1"))), 400, "invalid_ips"},
	    {"POST", "/api/v1/connectors", ops_admin, B(with(good, "ips", json_pack("[s, s]", "10.0.0.1", "10.0.0.1"))), 400, "invalid_ips"},
	    {"POST", "/api/v1/connectors", ops_admin, B(with(good, "ips", json_array())), 400, "invalid_ips"},
	    {"POST", "/api/v1/connectors", ops_admin, B(with(good, "node_id", json_string("../../etc/passwd"))), 400, "invalid_id"},
	    {"POST", "/api/v1/connectors", ops_admin, B(with(good, "software_version", json_string("1.0 beta"))), 400, "invalid_version"},
	    {"POST", "/api/v1/connectors", ops_admin, ent_dup, 409, "node_registered"},
	    {"POST", "/api/v1/connectors", ops_admin, key_dup, 409, "key_registered"},
	    {"POST", "/api/v1/connectors", basic_admin, good_text, 403, "not_verified"},
	    {"POST", "/api/v1/connectors", norole_admin, good_text, 403, "role_required"},
	    {"POST", "/api/v1/connectors", admin, good_text, 403, "forbidden"},
	    {"POST", "/api/v1/connectors", NULL, good_text, 401, "unauthenticated"},
	    /* review and revoke */
	    {"POST", "/api/v1/connectors/not-an-id/review", admin, "{\"decision\":\"approve\"}", 400, "invalid_id"},
	    {"POST", "/api/v1/connectors/con_..%2F..%2Fx/review", admin, "{\"decision\":\"approve\"}", 400, NULL},
	    {"POST", "/api/v1/connectors/con_01JAAAAAAAAAAAAAAAAAAAAAAA/review", admin, "{\"decision\":\"approve\"}", 404, "connector_not_found"},
	    {"POST", "/api/v1/connectors/con_01JAAAAAAAAAAAAAAAAAAAAAAA/revoke", admin, "{}", 400, "missing_field"},
	    {"GET", "/api/v1/connectors/..%2F..%2Fetc%2Fpasswd", admin, NULL, 400, NULL},
	    /* enrolment */
	    {"POST", "/api/v1/connectors/enroll", NULL, "{\"client_id\":5,\"client_secret\":\"x\"}", 400, "invalid_field"},
	    {"POST", "/api/v1/connectors/enroll", NULL, "{\"client_id\":\"client_01JAAAAAAAAAAAAAAAAAAAAAAA\"}", 400, "missing_field"},
	    {"POST", "/api/v1/connectors/enroll", NULL,
	     "{\"client_id\":\"client_01JAAAAAAAAAAAAAAAAAAAAAAA\",\"client_secret\":\"tds_cs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}", 401,
	     "invalid_client"},
	    {"POST", "/api/v1/connectors/enroll", NULL, "{\"client_id\":\"../x\",\"client_secret\":\"y\",\"z\":1}", 400, "unknown_field"},
	    /* heartbeats come from nodes only */
	    {"POST", "/api/v1/connectors/heartbeat", admin, "{\"status\":\"ok\",\"version\":\"1\",\"uptime_s\":1}", 403, "forbidden"},
	    /* statements */
	    {"GET", "/api/v1/connectors/certificates/crt_x", admin, NULL, 400, "invalid_id"},
	    {"GET", "/api/v1/connectors/certificates/crt_01JAAAAAAAAAAAAAAAAAAAAAAA", admin, NULL, 404, "certificate_not_found"},
	    {"GET", "/api/v1/connectors/revocations?since=-1", admin, NULL, 400, "invalid_number"},
	    {"GET", "/api/v1/connectors/revocations?since=abc", admin, NULL, 400, "invalid_number"},
	    {"GET", "/api/v1/connectors/revocations?limit=0", admin, NULL, 400, NULL},
	    /* lists */
	    {"GET", "/api/v1/connectors?status=bogus", admin, NULL, 400, "invalid_status"},
	    {"GET", "/api/v1/connectors?presence=asleep", admin, NULL, 400, "invalid_status"},
	    {"GET", "/api/v1/connectors?org=org_1", admin, NULL, 400, "invalid_id"},
	    {"GET", "/api/v1/connectors?cursor=..%2F", admin, NULL, 400, NULL},
	    {"GET", "/api/v1/connectors?org=org_01JAAAAAAAAAAAAAAAAAAAAAAA", S.acme_admin, NULL, 403, "forbidden"},
	    /* enrolment on the operator itself */
	    {"POST", "/api/v1/node/enrollment", admin, "{\"client_id\":\"client_01JAAAAAAAAAAAAAAAAAAAAAAA\",\"client_secret\":\"x\"}", 409,
	     "not_a_connector"},
	    {"POST", "/api/v1/node/enrollment", admin, "{\"client_id\":\"x\",\"client_secret\":\"x\",\"operator_key_id\":\"xyz\"}", 400,
	     "invalid_key_id"},
	};
#undef B
	for (size_t i = 0; i < TDS_ARRAY_LEN(cases); i++) {
		json_t *o = NULL;
		long st = tn_call(op, 1, cases[i].method, cases[i].path, cases[i].token, cases[i].body ? "application/json" : NULL,
				  cases[i].body, cases[i].body ? strlen(cases[i].body) : 0, &o);
		if (st != cases[i].status)
			fail_msg("case %zu %s %s: HTTP %ld, expected %ld (%s: %s)", i, cases[i].method, cases[i].path, st,
				 cases[i].status, tds_json_str(json_object_get(o, "error"), "code", "-"),
				 tds_json_str(json_object_get(o, "error"), "message", "-"));
		if (cases[i].code)
			expect_code(o, cases[i].code);
		else
			assert_non_null(json_object_get(o, "error"));
		json_decref(o);
	}
	/* nothing changed */
	assert_int_equal(count_connectors(), before);

	/* a heartbeat with a bad report, signed by a certified connector */
	expect(signed_call(op, "POST", "/api/v1/connectors/heartbeat", S.ent_key, S.ent_serial,
			   "{\"status\":\"happy\",\"version\":\"1\",\"uptime_s\":1}", &out),
	       400, out, "bad status");
	json_decref(out);
	expect(signed_call(op, "POST", "/api/v1/connectors/heartbeat", S.ent_key, S.ent_serial,
			   "{\"status\":\"ok\",\"version\":\"1\",\"uptime_s\":-5}", &out),
	       400, out, "negative uptime");
	json_decref(out);
	expect(signed_call(op, "POST", "/api/v1/connectors/heartbeat", S.ent_key, S.ent_serial,
			   "{\"status\":\"ok\",\"version\":\"1\",\"uptime_s\":5,\"health\":{\"Disk Free\":1}}", &out),
	       400, out, "bad health name");
	json_decref(out);
	/* a wrong secret for a known ClientID is evidenced */
	size_t failed = evidence("identity.connector_enroll_failed", S.bank_con);
	char body[256];
	snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"client_secret\":\"tds_cs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
		 S.bank_client);
	expect(call(op, "POST", "/api/v1/connectors/enroll", NULL, body, &out), 401, out, "wrong secret");
	expect_code(out, "invalid_client");
	json_decref(out);
	assert_int_equal(evidence("identity.connector_enroll_failed", S.bank_con), failed + 1);
	/* a connector node refuses an enrolment the operator refuses, and keeps what it has */
	char *tok = tn_login_admin(ent);
	expect(call(ent, "POST", "/api/v1/node/enrollment", tok, body, &out), 401, out, "relayed refusal");
	expect_code(out, "invalid_client");
	json_decref(out);
	free(tok);
	expect(call(ent, "GET", "/api/v1/node", NULL, NULL, &out), 200, out, "node info");
	assert_string_equal(tds_json_str(json_object_get(out, "certificate"), "serial", ""), S.ent_serial);
	json_decref(out);

	/* the operator organisation's reviewer registers its own connector: another reviewer decides */
	expect(call(op, "POST", "/api/v1/connectors", ops_admin, good_text, &out), 201, out, "ops registers");
	char ops_con[64];
	snprintf(ops_con, sizeof ops_con, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	size_t refused = evidence("identity.refused", ops);
	snprintf(path, sizeof path, "/api/v1/connectors/%s/review", ops_con);
	expect(call(op, "POST", path, ops_admin, "{\"decision\":\"approve\"}", &out), 403, out, "own connector");
	expect_code(out, "self_review");
	json_decref(out);
	assert_int_equal(evidence("identity.refused", ops), refused + 1);
	/* a duplicate device while it is pending; a rejection needs a reason, then frees node and device */
	json_t *dup_dev = json_deep_copy(good);
	json_object_set_new(dup_dev, "node_id", json_string(node2));
	json_object_set_new(dup_dev, "public_key_pem", json_string(pub2.data));
	expect(post_json(op, "/api/v1/connectors", ops_admin, dup_dev, &out), 409, out, "same device");
	expect_code(out, "device_registered");
	json_decref(out);
	expect(call(op, "POST", path, admin, "{\"decision\":\"reject\"}", &out), 400, out, "reject without reason");
	expect_code(out, "reason_required");
	json_decref(out);
	expect(call(op, "POST", path, admin, "{\"decision\":\"revoke\",\"reason\":\"x\"}", &out), 400, out, "decision revoke");
	expect_code(out, "invalid_decision");
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/connectors/%s/revoke", ops_con);
	expect(call(op, "POST", path, admin, "{\"reason\":\"未批准\"}", &out), 409, out, "revoke pending");
	expect_code(out, "not_approved");
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/connectors/%s/review", ops_con);
	expect(call(op, "POST", path, admin, "{\"decision\":\"reject\",\"reason\":\"设备指纹与现场核验不符\"}", &out), 200, out,
	       "reject");
	assert_string_equal(tds_json_str(out, "status", ""), "rejected");
	json_decref(out);
	expect(call(op, "POST", path, admin, "{\"decision\":\"approve\"}", &out), 409, out, "approve rejected");
	expect_code(out, "not_pending");
	json_decref(out);
	assert_int_equal(evidence("identity.connector_rejected", ops_con), 1);
	expect(post_json(op, "/api/v1/connectors", ops_admin, dup_dev, &out), 201, out, "register again after rejection");
	json_decref(out);
	json_decref(dup_dev);
	/* another organisation's connector is not readable */
	snprintf(path, sizeof path, "/api/v1/connectors/%s", S.ent_con);
	expect(call(op, "GET", path, S.bank_admin, NULL, &out), 403, out, "another org's connector");
	json_decref(out);
	expect(call(op, "GET", "/api/v1/connectors", S.bank_admin, NULL, &out), 200, out, "own list");
	assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
	json_decref(out);

	for (size_t i = 0; i < nkept; i++)
		free(kept[i]);
	nkept = 0;
	free(ent_dup);
	free(key_dup);
	free(good_text);
	json_decref(good);
	tds_buf_free(&pub);
	tds_buf_free(&pub2);
	memset(priv.data, 0, priv.len);
	tds_buf_free(&priv);
	tds_key_free(k);
	tds_key_free(k2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_enterprise_connector),
	    cmocka_unit_test(test_bank_connector_with_cli),
	    cmocka_unit_test(test_signed_calls),
	    cmocka_unit_test(test_revocation),
	    cmocka_unit_test(test_offline_and_back),
	    cmocka_unit_test(test_bad_input),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
