/*
 * routes.c — the ledger's HTTP handlers: checkpoints (read, issue and publish), entries with
 * inclusion proofs, consistency proofs, the witness endpoint (cosign) and its administration, and
 * audit search. Translation only; the logic is in log.c, publish.c, witness.c and search.c.
 */
#include "ledger/internal.h"

#include "http/http.h"

#include <stdlib.h>
#include <string.h>

#define AUDIT_ROLES (TDS_ROLE_ADMIN | TDS_ROLE_OPERATOR | TDS_ROLE_REGULATOR | TDS_ROLE_AUDITOR)

static tds_ledger_routes_ctx *ctx_of(tds_req *req) { return req->route_ctx; }

/* Decimal without sign, spaces or leading zeros, below 2^63. */
static int parse_u64(const char *s, const char *what, uint64_t *out)
{
	uint64_t v = 0;
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 19 || (n > 1 && s[0] == '0'))
		goto bad;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto bad;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > INT64_MAX)
		goto bad;
	*out = v;
	return 0;
bad:
	return tds_error_set(TDS_EINVAL, "invalid_number", "%s must be a non-negative decimal integer", what);
}

static json_t *b64_json(const uint8_t *h)
{
	tds_buf b = TDS_BUF_INIT;
	json_t *v = tds_b64_encode(h, TDS_HASH_LEN, &b) ? json_null() : json_string(b.data);
	tds_buf_free(&b);
	return v;
}

/* The cosigned checkpoint; issues the first one when there is none yet. */
static int latest(tds_ledger *lg, tds_buf *note, tds_ledger_head *cp)
{
	int rc = tds_ledger_checkpoint_cosigned(lg, note, cp);
	if (rc == TDS_ENOTFOUND) {
		tds_buf_reset(note);
		rc = tds_ledger_checkpoint(lg, note, cp);
	}
	return rc;
}

static int checkpoint_get(tds_req *req, tds_resp *resp)
{
	tds_buf note = TDS_BUF_INIT;
	tds_ledger_head cp;
	int rc = latest(ctx_of(req)->ledger, &note, &cp);
	if (!rc)
		rc = tds_resp_json(resp, 200,
				   json_pack("{s:s, s:I, s:o, s:s}", "origin", cp.origin, "size", (json_int_t)cp.size, "root",
					     b64_json(cp.root), "note", note.data));
	tds_buf_free(&note);
	return rc;
}

static int checkpoint_issue(tds_req *req, tds_resp *resp)
{
	tds_ledger_routes_ctx *c = ctx_of(req);
	json_t *report;
	int rc = tds_ledger_publish(c->ledger, c->witnesses, c->nwitnesses, &report);
	if (rc)
		return rc;
	tds_buf note = TDS_BUF_INIT;
	tds_ledger_head cp;
	if ((rc = tds_ledger_checkpoint_cosigned(c->ledger, &note, &cp)) == 0)
		json_object_set_new(report, "note", json_string(note.data));
	tds_buf_free(&note);
	if (rc) {
		json_decref(report);
		return rc;
	}
	return tds_resp_json(resp, 200, report);
}

static int entry_get(tds_req *req, tds_resp *resp)
{
	tds_ledger *lg = ctx_of(req)->ledger;
	uint64_t index = 0, size = 0, committed = 0;
	int rc = parse_u64(tds_req_param(req, "index"), "index", &index);
	if (rc || (rc = tds_ledger_size(lg, &committed, NULL)))
		return rc;
	if (index >= committed)
		return tds_error_set(TDS_ENOTFOUND, "no_such_entry", "entry %llu does not exist (size %llu)",
				     (unsigned long long)index, (unsigned long long)committed);
	tds_buf note = TDS_BUF_INIT;
	tds_ledger_head cp;
	const char *qs = tds_req_query(req, "size");
	bool against_checkpoint = false;
	if (qs) {
		if ((rc = parse_u64(qs, "size", &size)))
			return rc;
		if (size <= index || size > committed)
			return tds_error_set(TDS_EINVAL, "invalid_size", "size must be above the index and at most %llu",
					     (unsigned long long)committed);
	} else if ((rc = latest(lg, &note, &cp)) == 0 && cp.size > index) {
		size = cp.size;
		against_checkpoint = true;
	} else if (rc && rc != TDS_ENOTFOUND && rc != TDS_EINVAL) {
		tds_buf_free(&note);
		return rc;
	} else {
		size = committed; /* newer than the latest checkpoint: proof against the committed tree */
	}
	tds_ledger_entry e = {.leaf = TDS_BUF_INIT, .payload_sealed = TDS_BUF_INIT};
	tds_ledger_proof proof;
	uint8_t root[TDS_HASH_LEN];
	json_t *ej = NULL;
	if (!(rc = tds_ledger_entry_get(lg, index, &e)) && !(rc = tds_ledger_entry_json(&e, &ej)) &&
	    !(rc = tds_ledger_inclusion_proof(lg, index, size, &proof)) && !(rc = tds_ledger_root(lg, size, root))) {
		json_object_set_new(ej, "payload_shredded", json_boolean(e.shredded));
		rc = tds_resp_json(resp, 200,
				   json_pack("{s:o, s:o, s:I, s:o, s:o, s:s?}", "entry", ej, "leaf_hash", b64_json(e.leaf_hash),
					     "size", (json_int_t)size, "root", b64_json(root), "proof",
					     tds_ledger_proof_to_json(&proof), "checkpoint",
					     against_checkpoint ? note.data : NULL));
		ej = NULL;
	}
	json_decref(ej);
	tds_ledger_entry_release(&e);
	tds_buf_free(&note);
	return rc;
}

/* Raw leaf bytes of a range, so that a remote verifier can recompute the tree (tds ledger verify --node). */
static int leaves_get(tds_req *req, tds_resp *resp)
{
	tds_ledger *lg = ctx_of(req)->ledger;
	uint64_t from = 0, committed = 0;
	int limit;
	const char *cursor;
	int rc = parse_u64(tds_req_query(req, "from"), "from", &from);
	if (rc || (rc = tds_req_page(req, 1000, 1000, &limit, &cursor)) || (rc = tds_ledger_size(lg, &committed, NULL)))
		return rc;
	if (cursor)
		return tds_error_set(TDS_EINVAL, "invalid_cursor", "this list pages with from=, not cursor=");
	if (from > committed)
		return tds_error_set(TDS_EINVAL, "invalid_size", "from must be at most %llu", (unsigned long long)committed);
	json_t *items = json_array();
	tds_buf b = TDS_BUF_INIT;
	for (uint64_t i = from; i < committed && i < from + (uint64_t)limit && !rc; i++) {
		tds_ledger_entry e = {.leaf = TDS_BUF_INIT, .payload_sealed = TDS_BUF_INIT};
		tds_buf_reset(&b);
		if (!(rc = tds_ledger_entry_get(lg, i, &e)) && !(rc = tds_b64_encode(e.leaf.data, e.leaf.len, &b)))
			json_array_append_new(items, json_string(b.data));
		tds_ledger_entry_release(&e);
	}
	tds_buf_free(&b);
	if (rc) {
		json_decref(items);
		return rc;
	}
	return tds_resp_json(resp, 200, json_pack("{s:I, s:I, s:o}", "from", (json_int_t)from, "size", (json_int_t)committed,
						  "leaves", items));
}

static int consistency_get(tds_req *req, tds_resp *resp)
{
	tds_ledger *lg = ctx_of(req)->ledger;
	uint64_t from = 0, to = 0, committed = 0;
	tds_ledger_proof proof;
	uint8_t r1[TDS_HASH_LEN], r2[TDS_HASH_LEN];
	int rc;
	if ((rc = parse_u64(tds_req_query(req, "from"), "from", &from)) ||
	    (rc = parse_u64(tds_req_query(req, "to"), "to", &to)) || (rc = tds_ledger_size(lg, &committed, NULL)))
		return rc;
	if (from > to || to > committed)
		return tds_error_set(TDS_EINVAL, "invalid_size", "need from <= to <= %llu (the committed size)",
				     (unsigned long long)committed);
	if ((rc = tds_ledger_consistency_proof(lg, from, to, &proof)) || (rc = tds_ledger_root(lg, from, r1)) ||
	    (rc = tds_ledger_root(lg, to, r2)))
		return rc;
	return tds_resp_json(resp, 200,
			     json_pack("{s:I, s:I, s:o, s:o, s:o}", "from", (json_int_t)from, "to", (json_int_t)to,
				       "from_root", b64_json(r1), "to_root", b64_json(r2), "proof",
				       tds_ledger_proof_to_json(&proof)));
}

static int no_witness(void)
{
	return tds_error_set(TDS_ENOTFOUND, "not_a_witness", "this node does not witness other logs");
}

static int cosign(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"checkpoint", TDS_JSON_STRING, true, TDS_LEDGER_NOTE_MAX},
	    {"old_size", TDS_JSON_INTEGER, true, 0},
	    {"proof", TDS_JSON_ARRAY, false, TDS_LEDGER_PROOF_MAX},
	};
	tds_witness *w = ctx_of(req)->witness;
	json_t *body;
	tds_ledger_proof proof;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc || (rc = tds_ledger_proof_from_json(json_object_get(body, "proof"), &proof)))
		return rc;
	if (!w)
		return no_witness();
	json_int_t old = json_integer_value(json_object_get(body, "old_size"));
	if (old < 0)
		return tds_error_set(TDS_EINVAL, "invalid_number", "old_size must not be negative");
	const char *note = tds_json_str(body, "checkpoint", "");
	tds_buf line = TDS_BUF_INIT;
	uint64_t known = 0;
	rc = tds_witness_cosign(w, note, strlen(note), (uint64_t)old, &proof, &line, &known);
	if (!rc)
		rc = tds_resp_json(resp, 200,
				   json_pack("{s:s, s:s, s:I}", "witness", tds_witness_name(w), "cosignature", line.data,
					     "size", (json_int_t)known));
	tds_buf_free(&line);
	return rc;
}

static int witness_logs_get(tds_req *req, tds_resp *resp)
{
	json_t *out;
	if (!ctx_of(req)->witness)
		return no_witness();
	int rc = tds_witness_log_list(ctx_of(req)->witness, &out);
	return rc ? rc : tds_resp_json(resp, 200, out);
}

static int witness_logs_add(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"origin", TDS_JSON_STRING, true, TDS_LEDGER_ORIGIN_MAX},
	    {"public_key_pem", TDS_JSON_STRING, true, 4096},
	    {"url", TDS_JSON_STRING, false, 512},
	};
	json_t *body;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc)
		return rc;
	if (!ctx_of(req)->witness)
		return no_witness();
	const char *origin = tds_json_str(body, "origin", NULL);
	if ((rc = tds_witness_log_add(ctx_of(req)->witness, origin, tds_json_str(body, "public_key_pem", NULL),
				      tds_json_str(body, "url", NULL))))
		return rc;
	return tds_resp_json(resp, 201, json_pack("{s:s, s:I}", "origin", origin, "size", (json_int_t)0));
}

static int split_views_get(tds_req *req, tds_resp *resp)
{
	json_t *out;
	if (!ctx_of(req)->witness)
		return no_witness();
	int rc = tds_witness_split_views(ctx_of(req)->witness, &out);
	return rc ? rc : tds_resp_json(resp, 200, out);
}

/* Crypto-shredding (retention): the payload's keys are destroyed, the tree stays intact. */
static int shred(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {{"reason", TDS_JSON_STRING, true, 512}};
	tds_ledger *lg = ctx_of(req)->ledger;
	json_t *body;
	uint64_t index = 0, committed = 0, evidence = 0;
	int rc = parse_u64(tds_req_param(req, "index"), "index", &index);
	if (rc || (rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body)) || (rc = tds_ledger_size(lg, &committed, NULL)))
		return rc;
	const char *reason = tds_json_str(body, "reason", "");
	if (strlen(reason) < 5)
		return tds_error_set(TDS_EINVAL, "invalid_reason", "give the legal reason for erasure (at least 5 characters)");
	if (index >= committed)
		return tds_error_set(TDS_ENOTFOUND, "no_such_entry", "entry %llu does not exist", (unsigned long long)index);
	tds_ledger_actor actor = {.account = req->principal->account_id, .org = req->principal->org_id};
	if ((rc = tds_ledger_shred(lg, NULL, index, reason, &actor, &evidence)))
		return rc;
	return tds_resp_json(resp, 200, json_pack("{s:I, s:b, s:I}", "index", (json_int_t)index, "shredded", 1, "evidence",
						  (json_int_t)evidence));
}

static int search(tds_req *req, tds_resp *resp)
{
	tds_ledger_query q = {.type = tds_req_query(req, "type"), .actor = tds_req_query(req, "actor"),
			      .subject = tds_req_query(req, "subject")};
	const char *cursor;
	int rc = tds_req_page(req, 50, 500, &q.limit, &cursor);
	if (rc)
		return rc;
	if (cursor && (rc = parse_u64(cursor, "cursor", &q.cursor)))
		return rc;
	const char *from = tds_req_query(req, "from"), *to = tds_req_query(req, "to");
	if ((from && tds_time_parse(from, &q.from_ms)) || (to && tds_time_parse(to, &q.to_ms)))
		return tds_error_wrap("from/to: ");
	json_t *out;
	if ((rc = tds_ledger_search(ctx_of(req)->ledger, &q, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

int tds_ledger_routes(tds_ledger_routes_ctx *c, tds_router *r)
{
	static const struct {
		const char *method, *pattern;
		tds_roles roles;
		tds_handler fn;
		const char *summary;
	} routes[] = {
	    {"GET", "/api/v1/ledger/checkpoint", TDS_ROLES_PUBLIC, checkpoint_get,
	     "The latest checkpoint (C2SP signed note) with its witness cosignatures"},
	    {"POST", "/api/v1/ledger/checkpoint", TDS_ROLE_ADMIN | TDS_ROLE_OPERATOR, checkpoint_issue,
	     "Issue a checkpoint now and have the configured witnesses cosign it"},
	    {"GET", "/api/v1/ledger/entries/{index}", AUDIT_ROLES | TDS_ROLE_NODE, entry_get,
	     "One evidence entry (payload sealed) with its inclusion proof"},
	    {"POST", "/api/v1/ledger/entries/{index}/shred", TDS_ROLE_ADMIN, shred,
	     "Crypto-shred an entry's payload (lawful erasure); the hash chain stays intact and the act is evidenced"},
	    {"GET", "/api/v1/ledger/leaves", AUDIT_ROLES | TDS_ROLE_NODE, leaves_get,
	     "Raw leaf bytes of entries [from, from+limit) for remote verification"},
	    {"GET", "/api/v1/ledger/proof/consistency", TDS_ROLES_PUBLIC, consistency_get,
	     "Consistency proof between two tree sizes (query from, to)"},
	    {"POST", "/api/v1/ledger/cosign", TDS_ROLES_PUBLIC, cosign,
	     "Witness: cosign a log's checkpoint given a consistency proof from the last cosigned one"},
	    {"GET", "/api/v1/ledger/witness/logs", AUDIT_ROLES, witness_logs_get, "Logs this node witnesses"},
	    {"POST", "/api/v1/ledger/witness/logs", TDS_ROLE_ADMIN | TDS_ROLE_OPERATOR | TDS_ROLE_REGULATOR, witness_logs_add,
	     "Start witnessing a log (origin, public key, URL)"},
	    {"GET", "/api/v1/ledger/witness/split-views", AUDIT_ROLES, split_views_get,
	     "Split views this witness detected, with both checkpoints as evidence"},
	    {"GET", "/api/v1/ledger/search", AUDIT_ROLES, search,
	     "Audit search by type, actor, subject and time, with inclusion proofs"},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(routes); i++) {
		int rc = tds_router_add(r, routes[i].method, routes[i].pattern, routes[i].roles, routes[i].fn, c,
					routes[i].summary);
		if (rc)
			return rc;
	}
	return 0;
}
