/*
 * test_ledger_nodes.c — the ledger across real nodes: an operator, a regulator and a connector.
 * The connector's identity changes are evidence entries; its checkpoint is cosigned by the operator
 * (which anchors it in the central log) and by the regulator; inclusion proofs from the API verify
 * against the signed checkpoint; a forged checkpoint signed with the connector's own key (a split
 * view) is refused, kept as evidence and reported, and a bad-input tour of the witness endpoint.
 */
#include "harness.h"

#include "crypto/crypto.h"
#include "ledger/ledger.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static tn_node *op, *reg, *con;
static char *op_tok, *reg_tok, *con_tok;
static char origin[TDS_LEDGER_ORIGIN_MAX + 1];
static char env_op[300], env_wit[300];

static char *node_pem(tn_node *n)
{
	json_t *out;
	assert_int_equal(tn_json(n, "GET", "/api/v1/node", NULL, NULL, &out), 200);
	char *pem = strdup(tds_json_str(out, "public_key_pem", ""));
	json_decref(out);
	return pem;
}

static void add_witnessed_log(tn_node *w, const char *tok, const char *log_origin, const char *pem, const char *url)
{
	json_t *body = json_pack("{s:s, s:s, s:s}", "origin", log_origin, "public_key_pem", pem, "url", url), *out;
	char *text = json_dumps(body, 0);
	assert_int_equal(tn_json(w, "POST", "/api/v1/ledger/witness/logs", tok, text, &out), 201);
	json_decref(out);
	assert_int_equal(tn_json(w, "POST", "/api/v1/ledger/witness/logs", tok, text, &out), 409);
	json_decref(out);
	free(text);
	json_decref(body);
}

static int setup(void **state)
{
	(void)state;
	char *quiet[] = {"TDS_LEDGER_CHECKPOINT_INTERVAL_S=0", NULL};
	op = tn_init("operator", "gm");
	reg = tn_init("connector", "intl"); /* a regulator on the other suite: algorithms are named in the notes */
	con = tn_init("connector", "gm");
	if (tn_start(op, quiet) || tn_start(reg, quiet))
		return -1;
	snprintf(env_op, sizeof env_op, "TDS_NODE_OPERATOR_URL=%s", op->api);
	snprintf(env_wit, sizeof env_wit, "TDS_LEDGER_WITNESSES=%s", reg->api);
	char *cenv[] = {env_op, env_wit, "TDS_LEDGER_CHECKPOINT_INTERVAL_S=0", NULL};
	if (tn_start(con, cenv))
		return -1;
	op_tok = tn_login_admin(op);
	reg_tok = tn_login_admin(reg);
	con_tok = tn_login_admin(con);
	snprintf(origin, sizeof origin, "%s", tds_json_str(con->init, "origin", ""));
	return op_tok && reg_tok && con_tok && origin[0] ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(op_tok);
	free(reg_tok);
	free(con_tok);
	int a = tn_stop(con), b = tn_stop(reg), c = tn_stop(op);
	tn_free(con);
	tn_free(reg);
	tn_free(op);
	return a == 0 && b == 0 && c == 0 ? 0 : -1;
}

static void expect_code(json_t *out, const char *code)
{
	const char *got = tds_json_str(json_object_get(out, "error"), "code", "(none)");
	if (strcmp(got, code) != 0)
		fail_msg("expected %s, got %s: %s", code, got, tds_json_str(json_object_get(out, "error"), "message", ""));
}

static void test_witnessing_and_anchoring(void **state)
{
	(void)state;
	json_t *out;
	/* before registration the operator refuses to witness the connector */
	assert_int_equal(tn_json(con, "POST", "/api/v1/ledger/checkpoint", con_tok, "{}", &out), 200);
	json_t *ws = json_object_get(out, "witnesses");
	assert_int_equal(json_array_size(ws), 2);
	for (size_t i = 0; i < 2; i++)
		assert_false(json_is_true(json_object_get(json_array_get(ws, i), "ok")));
	json_decref(out);

	char *pem = node_pem(con);
	add_witnessed_log(op, op_tok, origin, pem, con->api);
	add_witnessed_log(reg, reg_tok, origin, pem, con->api);
	free(pem);

	/* evidence: accounts made on the connector */
	for (int i = 0; i < 3; i++) {
		char body[200];
		snprintf(body, sizeof body, "{\"username\":\"clerk-%d\",\"password\":\"a long enough password\"}", i);
		assert_int_equal(tn_json(con, "POST", "/api/v1/accounts", con_tok, body, &out), 201);
		json_decref(out);
	}
	assert_int_equal(tn_json(con, "POST", "/api/v1/ledger/checkpoint", con_tok, "{}", &out), 200);
	ws = json_object_get(out, "witnesses");
	for (size_t i = 0; i < json_array_size(ws); i++)
		if (!json_is_true(json_object_get(json_array_get(ws, i), "ok")))
			fail_msg("witness %s refused: %s", tds_json_str(json_array_get(ws, i), "url", ""),
				 tds_json_str(json_object_get(json_array_get(ws, i), "error"), "message", ""));
	json_decref(out);

	/* more evidence, a second round: witnesses need the consistency proof from their last size */
	assert_int_equal(tn_json(con, "POST", "/api/v1/accounts", con_tok,
				 "{\"username\":\"clerk-9\",\"password\":\"a long enough password\"}", &out), 201);
	json_decref(out);
	assert_int_equal(tn_json(con, "POST", "/api/v1/ledger/checkpoint", con_tok, "{}", &out), 200);
	ws = json_object_get(out, "witnesses");
	for (size_t i = 0; i < json_array_size(ws); i++)
		assert_true(json_is_true(json_object_get(json_array_get(ws, i), "ok")));
	json_decref(out);

	/* the cosigned checkpoint: the log's signature plus two cosignatures, each verifiable */
	assert_int_equal(tn_json(con, "GET", "/api/v1/ledger/checkpoint", NULL, NULL, &out), 200);
	const char *note = tds_json_str(out, "note", "");
	int lines = 0;
	for (const char *p = note; (p = strstr(p, "\xe2\x80\x94 ")); p++)
		lines++;
	assert_int_equal(lines, 3);
	tds_key *ck = NULL, *ok = NULL, *rk = NULL;
	char *cpem = node_pem(con), *opem = node_pem(op), *rpem = node_pem(reg);
	assert_int_equal(tds_key_from_pem(cpem, strlen(cpem), &ck), 0);
	assert_int_equal(tds_key_from_pem(opem, strlen(opem), &ok), 0);
	assert_int_equal(tds_key_from_pem(rpem, strlen(rpem), &rk), 0);
	tds_ledger_head head;
	assert_int_equal(tds_ledger_checkpoint_open(note, strlen(note), origin, ck, &head, NULL), 0);
	char wname[300];
	snprintf(wname, sizeof wname, "tds.local/%s", tds_json_str(op->init, "node_id", ""));
	assert_int_equal(tds_ledger_cosignature_verify(note, strlen(note), wname, ok, NULL), 0);
	snprintf(wname, sizeof wname, "tds.local/%s", tds_json_str(reg->init, "node_id", ""));
	assert_int_equal(tds_ledger_cosignature_verify(note, strlen(note), wname, rk, NULL), 0);
	json_decref(out);

	/* an entry's inclusion proof from the API verifies against the signed root */
	assert_int_equal(tn_json(con, "GET", "/api/v1/ledger/entries/0", con_tok, NULL, &out), 200);
	tds_ledger_proof proof;
	assert_int_equal(tds_ledger_proof_from_json(json_object_get(out, "proof"), &proof), 0);
	assert_int_equal(json_integer_value(json_object_get(out, "size")), (json_int_t)head.size);
	tds_buf lh = TDS_BUF_INIT;
	const char *lhs = tds_json_str(out, "leaf_hash", "");
	assert_int_equal(tds_b64_decode(lhs, strlen(lhs), &lh), 0);
	assert_int_equal(tds_ledger_verify_inclusion(TDS_SUITE_GM, 0, head.size, (uint8_t *)lh.data, proof.hash[0], proof.len,
						     head.root), 0);
	lh.data[0] ^= 1;
	assert_int_equal(tds_ledger_verify_inclusion(TDS_SUITE_GM, 0, head.size, (uint8_t *)lh.data, proof.hash[0], proof.len,
						     head.root), TDS_ECRYPTO);
	tds_buf_free(&lh);
	json_t *entry = json_object_get(out, "entry");
	assert_string_equal(tds_json_str(entry, "type", ""), "identity.account_created");
	assert_null(json_object_get(entry, "payload")); /* sealed: only its hash and ciphertext travel */
	json_decref(out);

	/* the operator anchored the connector's log: its own ledger holds the cosignatures */
	char path[512];
	snprintf(path, sizeof path, "/api/v1/ledger/search?type=ledger.cosigned&subject=%s", origin);
	assert_int_equal(tn_json(op, "GET", path, op_tok, NULL, &out), 200);
	assert_int_equal(json_array_size(json_object_get(out, "items")), 2);
	json_decref(out);
	/* anyone may replay the public, already cosigned checkpoint to the witness: it cosigns again but
	 * the witness's ledger does not grow */
	assert_int_equal(tn_json(con, "GET", "/api/v1/ledger/checkpoint", NULL, NULL, &out), 200);
	json_t *req = json_pack("{s:s, s:I, s:[]}", "checkpoint", tds_json_str(out, "note", ""), "old_size",
				json_integer_value(json_object_get(out, "size")), "proof");
	json_decref(out);
	char *text = json_dumps(req, 0);
	json_decref(req);
	uint64_t before = 0;
	assert_int_equal(tn_json(op, "GET", "/api/v1/ledger/proof/consistency?from=0&to=0", NULL, NULL, &out), 200);
	json_decref(out);
	assert_int_equal(tn_json(op, "GET", "/api/v1/ledger/search?limit=500", op_tok, NULL, &out), 200);
	before = (uint64_t)json_integer_value(json_object_get(out, "size"));
	json_decref(out);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(tn_json(op, "POST", "/api/v1/ledger/cosign", NULL, text, &out), 200);
		json_decref(out);
	}
	free(text);
	assert_int_equal(tn_json(op, "POST", "/api/v1/ledger/checkpoint", op_tok, "{}", &out), 200);
	json_decref(out);
	assert_int_equal(tn_json(op, "GET", "/api/v1/ledger/search?limit=500", op_tok, NULL, &out), 200);
	/* the operator's own size moved only by what the checkpoint call itself evidences (none) */
	assert_int_equal((uint64_t)json_integer_value(json_object_get(out, "size")), before);
	json_decref(out);
	/* audit search on the connector: identity events by prefix, with proofs */
	assert_int_equal(tn_json(con, "GET", "/api/v1/ledger/search?type=identity.&limit=2", con_tok, NULL, &out), 200);
	assert_int_equal(json_array_size(json_object_get(out, "items")), 2);
	assert_true(json_is_string(json_object_get(out, "next_cursor")));
	json_decref(out);
	tds_key_free(ck);
	tds_key_free(ok);
	tds_key_free(rk);
	free(cpem);
	free(opem);
	free(rpem);
}

/* The connector's real key signs a checkpoint of a different tree: a split view. */
static void test_split_view_is_caught(void **state)
{
	(void)state;
	char p[512];
	tds_buf master = TDS_BUF_INIT;
	snprintf(p, sizeof p, "%s/master.key", con->dir);
	assert_int_equal(tds_file_read(p, 64, &master), 0);
	tds_key *key = NULL;
	snprintf(p, sizeof p, "%s/node.key", con->dir);
	assert_int_equal(tds_key_load_sealed(p, (const uint8_t *)master.data, &key), 0);
	tds_buf_free(&master);

	json_t *out;
	assert_int_equal(tn_json(reg, "GET", "/api/v1/ledger/witness/logs", reg_tok, NULL, &out), 200);
	json_int_t size = json_integer_value(json_object_get(json_array_get(json_object_get(out, "items"), 0), "size"));
	json_decref(out);
	assert_true(size > 0);

	tds_ledger_head forged = {0};
	snprintf(forged.origin, sizeof forged.origin, "%s", origin);
	forged.size = (uint64_t)size;
	memset(forged.root, 0x5a, sizeof forged.root);
	tds_buf note = TDS_BUF_INIT;
	assert_int_equal(tds_ledger_checkpoint_sign(&forged, key, &note), 0);
	json_t *req = json_pack("{s:s, s:I, s:[]}", "checkpoint", note.data, "old_size", size, "proof");
	char *text = json_dumps(req, 0);
	assert_int_equal(tn_json(reg, "POST", "/api/v1/ledger/cosign", NULL, text, &out), 409);
	expect_code(out, "split_view");
	json_decref(out);
	free(text);
	json_decref(req);

	/* a bigger forged tree with a garbage proof: the log itself cannot prove it either */
	forged.size = (uint64_t)size + 5;
	tds_buf_reset(&note);
	assert_int_equal(tds_ledger_checkpoint_sign(&forged, key, &note), 0);
	req = json_pack("{s:s, s:I, s:[s]}", "checkpoint", note.data, "old_size", size, "proof",
			"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
	text = json_dumps(req, 0);
	assert_int_equal(tn_json(reg, "POST", "/api/v1/ledger/cosign", NULL, text, &out), 409);
	expect_code(out, "split_view");
	json_decref(out);
	free(text);
	json_decref(req);
	tds_buf_free(&note);
	tds_key_free(key);

	assert_int_equal(tn_json(reg, "GET", "/api/v1/ledger/witness/split-views", reg_tok, NULL, &out), 200);
	json_t *items = json_object_get(out, "items");
	assert_int_equal(json_array_size(items), 2);
	assert_string_equal(tds_json_str(json_array_get(items, 0), "origin", ""), origin);
	assert_non_null(tds_json_str(json_object_get(json_array_get(items, 0), "presented"), "note", NULL));
	json_decref(out);
	/* and the regulator's own ledger evidences it */
	assert_int_equal(tn_json(reg, "GET", "/api/v1/ledger/search?type=ledger.split_view", reg_tok, NULL, &out), 200);
	assert_int_equal(json_array_size(json_object_get(out, "items")), 2);
	json_decref(out);

	/* the honest log still gets cosigned afterwards */
	assert_int_equal(tn_json(con, "POST", "/api/v1/ledger/checkpoint", con_tok, "{}", &out), 200);
	json_t *ws = json_object_get(out, "witnesses");
	for (size_t i = 0; i < json_array_size(ws); i++)
		assert_true(json_is_true(json_object_get(json_array_get(ws, i), "ok")));
	json_decref(out);
}

/* Lawful erasure: the payload's keys go, the entry and the tree stay, and the act is evidence. */
static void test_shred_keeps_the_chain(void **state)
{
	(void)state;
	json_t *out;
	assert_int_equal(tn_json(con, "POST", "/api/v1/ledger/entries/0/shred", con_tok,
				 "{\"reason\":\"PIPL art. 47 erasure request\"}", &out), 200);
	json_int_t ev = json_integer_value(json_object_get(out, "evidence"));
	json_decref(out);
	assert_int_equal(tn_json(con, "GET", "/api/v1/ledger/entries/0", con_tok, NULL, &out), 200);
	assert_true(json_is_true(json_object_get(json_object_get(out, "entry"), "payload_shredded")));
	json_decref(out);
	char path[64];
	snprintf(path, sizeof path, "/api/v1/ledger/entries/%lld", (long long)ev);
	assert_int_equal(tn_json(con, "GET", path, con_tok, NULL, &out), 200);
	assert_string_equal(tds_json_str(json_object_get(out, "entry"), "type", ""), "ledger.payload_shredded");
	json_decref(out);
	/* witnesses still cosign: nothing hashed changed */
	assert_int_equal(tn_json(con, "POST", "/api/v1/ledger/checkpoint", con_tok, "{}", &out), 200);
	json_t *ws = json_object_get(out, "witnesses");
	for (size_t i = 0; i < json_array_size(ws); i++)
		assert_true(json_is_true(json_object_get(json_array_get(ws, i), "ok")));
	json_decref(out);
}

static void test_witness_bad_input(void **state)
{
	(void)state;
	struct {
		const char *body;
		long status;
		const char *code;
	} cases[] = {
	    {"{\"checkpoint\":\"not a note\",\"old_size\":0}", 400, "invalid_note"},
	    {"{\"checkpoint\":\"x\\n1\\nAAAA\\n\\n\xe2\x80\x94 x AAAAAAA=\\n\",\"old_size\":0}", 400, NULL},
	    {"{\"checkpoint\":\"tds.local/unknown\\n1\\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\\n\\n\xe2\x80\x94 tds.local/unknown AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\\n\",\"old_size\":0}", 404, "unknown_log"},
	    {"{\"checkpoint\":\"a\",\"old_size\":-1}", 400, NULL},
	    {"{\"checkpoint\":\"a\",\"old_size\":0,\"proof\":[\"!!\"]}", 400, "invalid_proof"},
	    {"{\"checkpoint\":\"a\",\"old_size\":\"0\"}", 400, "invalid_field"},
	    {"{\"checkpoint\":\"a\",\"old_size\":0,\"extra\":1}", 400, "unknown_field"},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(cases); i++) {
		json_t *out = NULL;
		long st = tn_json(reg, "POST", "/api/v1/ledger/cosign", NULL, cases[i].body, &out);
		if (st != cases[i].status)
			fail_msg("case %zu: status %ld, wanted %ld (%s)", i, st, cases[i].status,
				 tds_json_str(json_object_get(out, "error"), "message", ""));
		if (cases[i].code)
			expect_code(out, cases[i].code);
		json_decref(out);
	}
	json_t *out;
	static const char *bad_paths[] = {"/api/v1/ledger/entries/abc", "/api/v1/ledger/entries/01",
					  "/api/v1/ledger/entries/99999999999999999999", "/api/v1/ledger/proof/consistency?from=5&to=2",
					  "/api/v1/ledger/proof/consistency?from=0", "/api/v1/ledger/search?from=yesterday",
					  "/api/v1/ledger/search?type=a%22b", "/api/v1/ledger/search?cursor=-1"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(bad_paths); i++) {
		long st = tn_json(con, "GET", bad_paths[i], con_tok, NULL, &out);
		if (st != 400)
			fail_msg("%s: status %ld, wanted 400", bad_paths[i], st);
		json_decref(out);
	}
	assert_int_equal(tn_json(con, "POST", "/api/v1/ledger/entries/0/shred", con_tok, "{\"reason\":\"x\"}", &out), 400);
	json_decref(out);
	assert_int_equal(tn_json(con, "POST", "/api/v1/ledger/entries/999999/shred", con_tok,
				 "{\"reason\":\"PIPL art. 47 erasure request\"}", &out), 404);
	json_decref(out);
	assert_int_equal(tn_json(con, "GET", "/api/v1/ledger/entries/999999", con_tok, NULL, &out), 404);
	json_decref(out);
	assert_int_equal(tn_json(con, "GET", "/api/v1/ledger/entries/0", NULL, NULL, &out), 401);
	json_decref(out);
	assert_int_equal(tn_json(con, "POST", "/api/v1/ledger/checkpoint", NULL, "{}", &out), 401);
	json_decref(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_witnessing_and_anchoring),
	    cmocka_unit_test(test_split_view_is_caught),
	    cmocka_unit_test(test_shred_keeps_the_chain),
	    cmocka_unit_test(test_witness_bad_input),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
