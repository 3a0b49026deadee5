/*
 * routes.c — the contract module's HTTP handlers. Translation only: request JSON into the module's
 * inputs, the principal into parties and evidence actors, results into JSON.
 *
 * Operator side (this first block): templates, orders, drafts, negotiation, signatures, the feed,
 * acknowledgements and the operator's actions. Readers: operator, admin, regulator and auditor see
 * every contract and order; a provider, consumer or service account sees those of its organisation
 * (as a party or a named service organisation); a connector (a signed node call) those of its
 * certificate's organisation. Party actions need the role matching the organisation's place in the
 * contract: the provider's account acts for the provider, the consumer's for the consumer, a service
 * account for a named service organisation.
 *
 * Connector side: the signing route (POST /api/v1/contracts/{id}/sign), then the enforcement block.
 */
#include "contract/internal.h"

#include "http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STAFF_ROLES (TDS_ROLE_OPERATOR | TDS_ROLE_ADMIN | TDS_ROLE_REGULATOR | TDS_ROLE_AUDITOR)
#define PARTY_ROLES (TDS_ROLE_PROVIDER | TDS_ROLE_CONSUMER | TDS_ROLE_SERVICE)
#define READ_ROLES (STAFF_ROLES | PARTY_ROLES | TDS_ROLE_NODE)
#define OPERATOR_ROLES (TDS_ROLE_OPERATOR | TDS_ROLE_ADMIN)
#define ORDER_READ_ROLES (STAFF_ROLES | TDS_ROLE_PROVIDER | TDS_ROLE_CONSUMER)

static tds_contract *ct_of(tds_req *req) { return req->route_ctx; }

static tds_ledger_actor actor_of(tds_req *req)
{
	const tds_principal *p = req->principal;
	return (tds_ledger_actor){.org = p->org_id,
				  .account = p->account_id,
				  .node = (p->roles & TDS_ROLE_NODE) && !p->account_id ? p->username : NULL};
}

/* NULL (everything) for staff; the caller's organisation otherwise. */
static int reader_org(tds_req *req, const char **org)
{
	const tds_principal *p = req->principal;
	*org = NULL;
	if ((p->roles & STAFF_ROLES) && !(p->roles & TDS_ROLE_NODE))
		return 0;
	if (!p->org_id)
		return tds_error_set(TDS_EPERM, "no_organisation", "contracts belong to organisations; this caller has none");
	*org = p->org_id;
	return 0;
}

static int body_object(tds_req *req, json_t **in) { return tds_req_json(req, NULL, 0, true, in); }

/* A decimal query argument in [min, max]; *out = def when absent. */
static int query_int(tds_req *req, const char *name, int64_t min, int64_t max, int64_t def, int64_t *out)
{
	const char *s = tds_req_query(req, name);
	*out = def;
	if (!s)
		return 0;
	size_t n = strlen(s);
	if (n == 0 || n > 15 || strspn(s, "0123456789") != n || (*out = strtoll(s, NULL, 10)) < min || *out > max)
		return tds_error_set(TDS_EINVAL, "invalid_query", "%s must be a whole number %lld-%lld", name, (long long)min,
				     (long long)max);
	return 0;
}

/* The caller's organisation must hold the place in contract id that its role names:
 * provider ↔ TDS_ROLE_PROVIDER, consumer ↔ TDS_ROLE_CONSUMER, service ↔ TDS_ROLE_SERVICE. */
static int party_role(tds_req *req, const char *id, bool service_ok)
{
	const tds_principal *p = req->principal;
	if (!p->org_id)
		return tds_error_set(TDS_EPERM, "no_organisation", "parties are organisations; this account has none");
	json_t *c;
	int rc = tds_contract_get(ct_of(req), p->org_id, id, &c);
	if (rc)
		return rc;
	const char *org = p->org_id;
	bool ok = (!strcmp(org, tds_json_str(c, "provider_org", "")) && (p->roles & TDS_ROLE_PROVIDER)) ||
		  (!strcmp(org, tds_json_str(c, "consumer_org", "")) && (p->roles & TDS_ROLE_CONSUMER));
	if (service_ok && (p->roles & TDS_ROLE_SERVICE)) {
		size_t i;
		json_t *v;
		json_array_foreach(json_object_get(c, "service_orgs"), i, v) ok |= !strcmp(json_string_value(v), org);
	}
	json_decref(c);
	return ok ? 0
		  : tds_error_set(TDS_EPERM, "wrong_role",
				  "act for the provider with a provider account, for the consumer with a consumer account%s",
				  service_ok ? ", for a named service organisation with a service account" : "");
}

/* ---- templates ---- */

static int tpl_list(tds_req *req, tds_resp *resp)
{
	json_t *out;
	int rc = tds_contract_template_list(ct_of(req), &out);
	return rc ? rc : tds_resp_json(resp, 200, out);
}

static int tpl_get(tds_req *req, tds_resp *resp)
{
	int64_t v;
	json_t *out;
	int rc = query_int(req, "version", 1, INT32_MAX, 0, &v);
	if (rc || (rc = tds_contract_template_get(ct_of(req), tds_req_param(req, "id"), v, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int tpl_create(tds_req *req, tds_resp *resp)
{
	json_t *in, *out;
	int rc = body_object(req, &in);
	tds_ledger_actor a = actor_of(req);
	if (rc || (rc = tds_contract_template_create(ct_of(req), &a, in, &out)))
		return rc;
	return tds_resp_json(resp, 201, out);
}

/* ---- orders ---- */

static int order_create(tds_req *req, tds_resp *resp)
{
	json_t *in, *out;
	int rc = body_object(req, &in);
	tds_ledger_actor a = actor_of(req);
	if (rc || (rc = tds_contract_order_create(ct_of(req), &a, req->principal->org_id, req->principal->roles, in, &out)))
		return rc;
	return tds_resp_json(resp, 201, out);
}

static int order_list(tds_req *req, tds_resp *resp)
{
	const char *org, *cursor;
	int limit;
	json_t *out;
	int rc = reader_org(req, &org);
	if (rc || (rc = tds_req_page(req, 50, 500, &limit, &cursor)) ||
	    (rc = tds_contract_order_list(ct_of(req), org, limit, cursor, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int order_get(tds_req *req, tds_resp *resp)
{
	const char *org;
	json_t *out;
	int rc = reader_org(req, &org);
	if (rc || (rc = tds_contract_order_get(ct_of(req), org, tds_req_param(req, "id"), &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int order_draft(tds_req *req, tds_resp *resp)
{
	json_t *in, *out;
	int rc = req->body_len ? body_object(req, &in) : 0;
	json_t *empty = req->body_len ? NULL : json_object();
	tds_ledger_actor a = actor_of(req);
	if (!rc)
		rc = tds_contract_draft(ct_of(req), &a, tds_req_param(req, "id"), empty ? empty : in, &out);
	json_decref(empty);
	return rc ? rc : tds_resp_json(resp, 201, out);
}

/* ---- contracts ---- */

static int contract_list(tds_req *req, tds_resp *resp)
{
	const char *org, *cursor;
	int limit;
	json_t *out;
	int rc = reader_org(req, &org);
	if (rc || (rc = tds_req_page(req, 50, 500, &limit, &cursor)) ||
	    (rc = tds_contract_list(ct_of(req), org, tds_req_query(req, "state"), limit, cursor, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int contract_get(tds_req *req, tds_resp *resp)
{
	const char *org;
	json_t *out;
	int rc = reader_org(req, &org);
	if (rc || (rc = tds_contract_get(ct_of(req), org, tds_req_param(req, "id"), &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int contract_versions(tds_req *req, tds_resp *resp)
{
	const char *org;
	json_t *out;
	int rc = reader_org(req, &org);
	if (rc || (rc = tds_contract_versions(ct_of(req), org, tds_req_param(req, "id"), &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int contract_version(tds_req *req, tds_resp *resp)
{
	const char *org, *vs = tds_req_param(req, "version");
	json_t *out;
	int rc = reader_org(req, &org);
	if (rc)
		return rc;
	size_t n = strlen(vs);
	if (n == 0 || n > 9 || strspn(vs, "0123456789") != n || atol(vs) < 1)
		return tds_error_set(TDS_EINVAL, "invalid_version", "the version in the path must be a whole number >= 1");
	if ((rc = tds_contract_version_get(ct_of(req), org, tds_req_param(req, "id"), atol(vs), &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int contract_diff(tds_req *req, tds_resp *resp)
{
	const char *org;
	int64_t from, to;
	json_t *out;
	int rc = reader_org(req, &org);
	if (rc || (rc = query_int(req, "from", 1, INT32_MAX, 0, &from)) || (rc = query_int(req, "to", 1, INT32_MAX, 0, &to)))
		return rc;
	if (!from || !to)
		return tds_error_set(TDS_EINVAL, "invalid_query", "give the two versions to compare as ?from=N&to=M");
	if ((rc = tds_contract_diff(ct_of(req), org, tds_req_param(req, "id"), from, to, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int contract_propose(tds_req *req, tds_resp *resp)
{
	json_t *in, *out;
	const char *id = tds_req_param(req, "id");
	int rc = body_object(req, &in);
	tds_ledger_actor a = actor_of(req);
	if (rc || (rc = party_role(req, id, true)) ||
	    (rc = tds_contract_propose(ct_of(req), &a, req->principal->org_id, id, in, &out)))
		return rc;
	return tds_resp_json(resp, 201, out);
}

static int contract_accept(tds_req *req, tds_resp *resp)
{
	json_t *in, *out;
	const char *id = tds_req_param(req, "id");
	int rc = body_object(req, &in);
	tds_ledger_actor a = actor_of(req);
	if (rc || (rc = party_role(req, id, false)) ||
	    (rc = tds_contract_accept(ct_of(req), &a, req->principal->org_id, id, in, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int contract_signature(tds_req *req, tds_resp *resp)
{
	json_t *in, *out;
	int rc = body_object(req, &in);
	tds_ledger_actor a = actor_of(req);
	if (rc || (rc = tds_contract_sign_submit(ct_of(req), &a, req->principal->org_id, tds_req_param(req, "id"), in, &out)))
		return rc;
	return tds_resp_json(resp, 201, out);
}

static int contract_feed(tds_req *req, tds_resp *resp)
{
	int64_t after, limit;
	json_t *out;
	int rc = query_int(req, "after", 0, INT64_MAX / 2, 0, &after);
	if (rc || (rc = query_int(req, "limit", 1, 500, 100, &limit)) ||
	    (rc = tds_contract_feed(ct_of(req), req->principal->org_id, after, (int)limit, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int contract_ack(tds_req *req, tds_resp *resp)
{
	json_t *in, *out;
	int rc = body_object(req, &in);
	tds_ledger_actor a = actor_of(req);
	if (rc || (rc = tds_contract_ack(ct_of(req), &a, req->principal->org_id, tds_req_param(req, "id"), in, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

typedef int (*operator_fn)(tds_contract *, const tds_ledger_actor *, const char *, const json_t *, json_t **);

static int operator_action(tds_req *req, tds_resp *resp, operator_fn fn)
{
	json_t *in, *out;
	int rc = body_object(req, &in);
	tds_ledger_actor a = actor_of(req);
	if (rc || (rc = fn(ct_of(req), &a, tds_req_param(req, "id"), in, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int contract_suspend(tds_req *req, tds_resp *resp) { return operator_action(req, resp, tds_contract_suspend); }
static int contract_resume(tds_req *req, tds_resp *resp) { return operator_action(req, resp, tds_contract_resume); }
static int contract_terminate(tds_req *req, tds_resp *resp) { return operator_action(req, resp, tds_contract_terminate); }

/* ---- connector: signing ---- */

static int contract_sign(tds_req *req, tds_resp *resp)
{
	json_t *in, *out;
	const tds_principal *p = req->principal;
	int rc = body_object(req, &in);
	if (rc)
		return rc;
	if (ct_of(req)->is_operator)
		return tds_error_set(TDS_EUNPROC, "connector_only",
				     "contracts are signed on the party's connector, which submits the signature to the operator");
	if ((rc = tds_contract_sign_local(ct_of(req), p->roles & TDS_ROLE_ADMIN, p->roles & TDS_ROLE_PROVIDER,
					  p->roles & TDS_ROLE_CONSUMER, tds_req_param(req, "id"), in, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

typedef struct route {
	const char *method, *pattern;
	tds_roles roles;
	tds_handler fn;
	const char *summary;
} route;

static int add_all(tds_contract *ct, struct tds_router *r, const route *routes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc = tds_router_add(r, routes[i].method, routes[i].pattern, routes[i].roles, routes[i].fn, ct, routes[i].summary);
		if (rc)
			return rc;
	}
	return 0;
}

static int operator_routes(tds_contract *ct, struct tds_router *api)
{
	static const route routes[] = {
	    {"GET", "/api/v1/contract-templates", TDS_ROLES_ANY_USER & ~TDS_ROLE_NODE, tpl_list,
	     "Contract templates: the latest version for each product form (api, dataset, file, compute)"},
	    {"POST", "/api/v1/contract-templates", OPERATOR_ROLES, tpl_create,
	     "A new version of a form's contract template: the four mandatory clauses and policy defaults"},
	    {"GET", "/api/v1/contract-templates/{id}", TDS_ROLES_ANY_USER & ~TDS_ROLE_NODE, tpl_get,
	     "One contract template (?version=N; the latest by default)"},
	    {"POST", "/api/v1/orders", TDS_ROLE_CONSUMER, order_create,
	     "A consumer orders a product of the fused catalog with a requested scope (actions, fields, purposes, validity, limits)"},
	    {"GET", "/api/v1/orders", ORDER_READ_ROLES, order_list, "Orders (limit, cursor); a provider or consumer sees its own"},
	    {"GET", "/api/v1/orders/{id}", ORDER_READ_ROLES, order_get, "One order"},
	    {"POST", "/api/v1/orders/{id}/contract", OPERATOR_ROLES, order_draft,
	     "The operator drafts the contract of an order from the template of the product's form"},
	    {"GET", "/api/v1/contracts", READ_ROLES & ~TDS_ROLE_NODE, contract_list,
	     "Contracts (state, limit, cursor); parties and named service organisations see their own"},
	    {"GET", "/api/v1/contracts/feed", TDS_ROLE_NODE, contract_feed,
	     "Connector: the distribution feed of its organisation's contracts (after, limit)"},
	    {"GET", "/api/v1/contracts/{id}", READ_ROLES, contract_get,
	     "One contract: state, parties, the document in force (or the latest), signatures, filing, acknowledgements"},
	    {"GET", "/api/v1/contracts/{id}/versions", READ_ROLES, contract_versions, "The versions of a contract, oldest first"},
	    {"GET", "/api/v1/contracts/{id}/versions/{version}", READ_ROLES, contract_version,
	     "One version: document, hash, issues, who proposed it, acceptances and signatures"},
	    {"GET", "/api/v1/contracts/{id}/diff", READ_ROLES, contract_diff,
	     "What changed between two versions (?from=N&to=M): added, removed, changed with JSON paths"},
	    {"POST", "/api/v1/contracts/{id}/proposals", PARTY_ROLES, contract_propose,
	     "A counter-proposal (full terms or a patch) by the provider, the consumer or a named service organisation"},
	    {"POST", "/api/v1/contracts/{id}/accept", TDS_ROLE_PROVIDER | TDS_ROLE_CONSUMER, contract_accept,
	     "A party accepts the latest version (version and document_hash as shown)"},
	    {"POST", "/api/v1/contracts/{id}/signatures", TDS_ROLE_NODE, contract_signature,
	     "Connector: a party's signature over the canonical bytes of the accepted version; both make it signed and filed"},
	    {"POST", "/api/v1/contracts/{id}/ack", TDS_ROLE_NODE, contract_ack,
	     "Connector: acknowledges receipt of the filed version; both parties' make the contract active"},
	    {"POST", "/api/v1/contracts/{id}/suspend", OPERATOR_ROLES, contract_suspend, "The operator suspends an active contract (reason)"},
	    {"POST", "/api/v1/contracts/{id}/resume", OPERATOR_ROLES, contract_resume, "The operator resumes a suspended contract (reason)"},
	    {"POST", "/api/v1/contracts/{id}/terminate", OPERATOR_ROLES, contract_terminate,
	     "The operator terminates a contract (reason)"},
	};
	return add_all(ct, api, routes, TDS_ARRAY_LEN(routes));
}

static int connector_sign_routes(tds_contract *ct, struct tds_router *api)
{
	static const route routes[] = {
	    {"POST", "/api/v1/contracts/{id}/sign", TDS_ROLE_ADMIN | TDS_ROLE_PROVIDER | TDS_ROLE_CONSUMER, contract_sign,
	     "Sign a contract version for this connector's organisation (version and document_hash as shown) with the node key"},
	};
	return add_all(ct, api, routes, TDS_ARRAY_LEN(routes));
}

static int enforcement_routes(tds_contract *ct, struct tds_router *api);

int tds_contract_routes(tds_contract *ct, struct tds_router *api, struct tds_router *data)
{
	(void)data;
	/* the signing route exists on both kinds (one API description); the operator refuses it */
	int rc = connector_sign_routes(ct, api);
	if (!rc && ct->is_operator)
		rc = operator_routes(ct, api);
	if (!rc)
		rc = enforcement_routes(ct, api);
	return rc;
}

/* ---- enforcement (connector side), tokens, violations ---- */

/*
 * Tokens and violations on the operator; decisions and local contracts on connectors. Every route
 * exists on both node kinds (one API description); the wrong kind answers 409 (not_the_operator,
 * not_a_connector). POST /api/v1/decisions is public: the token in the body is the consumer's
 * credential; a caller naming a contract id instead must be this connector's admin or provider
 * account (its data plane). A signed node call presents the tokens bound to that connector.
 */

#define VIOLATION_READ_ROLES (STAFF_ROLES | TDS_ROLE_PROVIDER | TDS_ROLE_CONSUMER)

static tds_contract_party party_of(tds_req *req)
{
	const tds_principal *p = req->principal;
	bool node = p && (p->roles & TDS_ROLE_NODE) && !p->account_id;
	return (tds_contract_party){.org = p ? p->org_id : NULL,
				    .account = p && !node ? p->account_id : NULL,
				    .connector = node ? p->username : NULL,
				    .oversight = p && !node && (p->roles & OPERATOR_ROLES)};
}

static int reason_of(tds_req *req, const char **reason)
{
	static const tds_json_field f[] = {{"reason", TDS_JSON_STRING, true, 1024}};
	json_t *in;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &in);
	if (rc)
		return rc;
	*reason = tds_json_str(in, "reason", "");
	if (!**reason)
		return tds_error_set(TDS_EINVAL, "reason_required", "reason must say why (a non-empty string)");
	return 0;
}

static int token_create(tds_req *req, tds_resp *resp)
{
	if (req->body_len && !(req->body_len == 2 && memcmp(req->body, "{}", 2) == 0))
		return tds_error_set(TDS_EINVAL, "invalid_body", "a token request takes no body (or {})");
	tds_contract_party who = party_of(req);
	json_t *out;
	int rc = tds_contract_token_create(ct_of(req), &who, tds_req_param(req, "id"), &out);
	return rc ? rc : tds_resp_json(resp, 201, out);
}

static int token_revoke(tds_req *req, tds_resp *resp)
{
	const char *reason;
	tds_contract_party who = party_of(req);
	json_t *out;
	int rc = reason_of(req, &reason);
	if (rc || (rc = tds_contract_token_revoke(ct_of(req), &who, tds_req_param(req, "id"), tds_req_param(req, "tid"),
						  reason, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int contract_unfreeze(tds_req *req, tds_resp *resp)
{
	const char *reason;
	tds_contract_party who = party_of(req);
	json_t *out;
	int rc = reason_of(req, &reason);
	if (rc || (rc = tds_contract_unfreeze(ct_of(req), &who, tds_req_param(req, "id"), reason, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int violation_report(tds_req *req, tds_resp *resp)
{
	json_t *in, *out;
	tds_contract_party who = party_of(req);
	int rc = body_object(req, &in);
	if (rc || (rc = tds_contract_violation_receive(ct_of(req), who.org, who.connector, in, &out)))
		return rc;
	return tds_resp_json(resp, 201, out);
}

static int violation_list(tds_req *req, tds_resp *resp)
{
	const char *org = NULL, *cursor, *cid = tds_req_query(req, "contract_id");
	int limit, rc;
	json_t *out;
	const tds_principal *p = req->principal;
	/* on a connector its own accounts (no organisation of their own: they are the connector
	   organisation's) see its records; an account of another organisation only its own contracts' */
	if (!(p->roles & STAFF_ROLES) && (ct_of(req)->is_operator || p->org_id)) {
		if (!p->org_id)
			return tds_error_set(TDS_EPERM, "no_organisation", "violations are seen by the parties' organisations");
		org = p->org_id;
	}
	if ((rc = tds_req_page(req, 50, 500, &limit, &cursor)) ||
	    (rc = tds_contract_violation_list(ct_of(req), org, cid, limit, cursor, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int local_contract(tds_req *req, tds_resp *resp)
{
	json_t *out;
	if (ct_of(req)->is_operator)
		return tds_error_set(TDS_ECONFLICT, "not_a_connector", "the operator's contracts are at /api/v1/contracts/{id}");
	int rc = tds_contract_local_get(ct_of(req), tds_req_param(req, "id"), &out);
	if (rc)
		return rc;
	/* the connector's own accounts (no organisation of their own) belong to its organisation, a
	   party of every contract it holds; an account of an organisation must be of a party; a signed
	   call of another node is not one */
	const tds_principal *p = req->principal;
	if ((!p->account_id && (p->roles & TDS_ROLE_NODE)) ||
	    (!(p->roles & TDS_ROLE_ADMIN) && p->org_id && strcmp(p->org_id, tds_json_str(out, "provider_org", "")) &&
	     strcmp(p->org_id, tds_json_str(out, "consumer_org", "")))) {
		json_decref(out);
		return tds_error_set(TDS_ENOTFOUND, "contract_not_found", "this connector holds no such contract");
	}
	return tds_resp_json(resp, 200, out);
}

static json_t *obligation_json(const tds_policy_obligation *o)
{
	json_t *j = json_pack("{s:s, s:s}", "action", o->action, "clause", o->clause ? o->clause : "");
	if (j && o->field)
		json_object_set_new(j, "field", json_string(o->field));
	if (j && o->rule)
		json_object_set_new(j, o->kind == TDS_POLICY_DUTY_WATERMARK ? "code" : "rule", json_string(o->rule));
	if (j && o->ref)
		json_object_set_new(j, o->kind == TDS_POLICY_DUTY_PAY ? "pricing_rule" : "recipient", json_string(o->ref));
	if (j && o->kind == TDS_POLICY_DUTY_DELETE)
		json_object_set_new(j, "after_s", json_integer(o->after_s));
	return j;
}

static int decision(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"token", TDS_JSON_STRING, false, 0},	  {"contract_id", TDS_JSON_STRING, false, TDS_ID_MAX},
	    {"account", TDS_JSON_STRING, false, TDS_ID_MAX}, {"connector", TDS_JSON_STRING, false, TDS_ID_MAX},
	    {"action", TDS_JSON_STRING, true, 32},	  {"fields", TDS_JSON_STRING_ARRAY, false, TDS_POLICY_MAX_FIELDS},
	    {"purpose", TDS_JSON_STRING, false, TDS_POLICY_MAX_STRING},
	    {"environment", TDS_JSON_STRING, false, 32},	  {"client_ip", TDS_JSON_STRING, false, 64},
	    {"region", TDS_JSON_STRING, false, TDS_POLICY_MAX_STRING},
	    {"row_filter", TDS_JSON_STRING, false, TDS_POLICY_MAX_STRING},
	    {"epsilon", TDS_JSON_STRING, false, 32},	  {"acquired_at", TDS_JSON_STRING, false, TDS_TIME_MAX},
	};
	json_t *in;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &in);
	if (rc)
		return rc;
	const tds_principal *p = req->principal;
	tds_contract_request r = {0};
	r.token = tds_json_str(in, "token", NULL);
	r.contract_id = tds_json_str(in, "contract_id", NULL);
	if (!r.token == !r.contract_id)
		return tds_error_set(TDS_EINVAL, "invalid_request", "give exactly one of token and contract_id");
	if (r.token) {
		r.token_len = strlen(r.token);
		if (json_object_get(in, "account") || json_object_get(in, "connector"))
			return tds_error_set(TDS_EINVAL, "invalid_request", "the token names its subject: no account or connector");
	} else {
		/* the connector's own data plane, vouching for the subject */
		if (!p || !p->roles)
			return tds_error_set(TDS_EAUTH, "credentials_required",
					     "a decision by contract id needs this connector's admin or provider account");
		if (!(p->roles & (TDS_ROLE_ADMIN | TDS_ROLE_PROVIDER)) || (p->roles & TDS_ROLE_NODE))
			return tds_error_set(TDS_EPERM, "forbidden",
					     "only this connector's admin or provider accounts decide by contract id; consumers "
					     "present their token");
		r.account = tds_json_str(in, "account", NULL);
		r.connector = tds_json_str(in, "connector", NULL);
		if ((r.account && !tds_id_valid(r.account, "acc")) || (r.connector && !tds_id_valid(r.connector, "node")))
			return tds_error_set(TDS_EINVAL, "invalid_request", "account must be an account id, connector a node id");
	}
	if (p && (p->roles & TDS_ROLE_NODE) && !p->account_id)
		r.caller_node = p->username;
	r.peer = req->client_ip ? req->client_ip : "-";
	const char *action = tds_json_str(in, "action", "");
	r.policy.action = tds_policy_action_parse(action);
	if (r.policy.action < 0 || r.policy.action == TDS_POLICY_ACTION_USE)
		return tds_error_set(TDS_EINVAL, "invalid_action", "action must be one of read, query, compute, download, "
								   "derive, distribute, export, grantUse");
	const json_t *fields = json_object_get(in, "fields");
	const char **fv = NULL;
	if (fields) {
		fv = tds_arena_alloc(req->arena, (json_array_size(fields) + 1) * sizeof *fv);
		size_t i;
		json_t *v;
		json_array_foreach(fields, i, v) fv[i] = json_string_value(v);
		r.policy.fields = fv;
		r.policy.n_fields = json_array_size(fields);
	}
	r.policy.purpose = tds_json_str(in, "purpose", NULL);
	r.policy.environment = tds_json_str(in, "environment", NULL);
	r.policy.client_ip = tds_json_str(in, "client_ip", NULL);
	r.policy.region = tds_json_str(in, "region", NULL);
	r.policy.row_filter = tds_json_str(in, "row_filter", NULL);
	r.policy.epsilon = tds_json_str(in, "epsilon", NULL);
	const char *acq = tds_json_str(in, "acquired_at", NULL);
	if (acq && tds_time_parse(acq, &r.policy.acquired_ms) < 0)
		return tds_error_set(TDS_EINVAL, "invalid_request", "acquired_at must be an RFC 3339 time");
	tds_policy_decision d;
	tds_contract_outcome o;
	if ((rc = tds_contract_decide(ct_of(req), &r, tds_now_ms(), &d, &o))) {
		if (rc == TDS_ELIMIT) { /* the error's body, and Retry-After */
			char secs[24];
			snprintf(secs, sizeof secs, "%lld", (long long)tds_json_int(tds_error_details(), "retry_after_s", 60));
			tds_resp_error(resp);
			tds_resp_header(resp, "Retry-After", secs);
			return 0;
		}
		return rc;
	}
	json_t *obl = json_array();
	for (size_t i = 0; i < d.n_obligations; i++)
		json_array_append_new(obl, obligation_json(&d.obligations[i]));
	json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:b, s:s, s:I}", "decision", d.permit ? "permit" : "deny",
				"code", d.code, "reason", d.reason, "clause", d.clause, "obligations", obl, "violations",
				(json_int_t)o.violations, "frozen", o.frozen, "contract_id", o.contract_id, "version",
				(json_int_t)o.version);
	if (out && o.violation_id[0])
		json_object_set_new(out, "violation_id", json_string(o.violation_id));
	return out ? tds_resp_json(resp, 200, out) : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
}

static int enforcement_routes(tds_contract *ct, struct tds_router *api)
{
	static const route routes[] = {
	    {"POST", "/api/v1/contracts/{id}/tokens", TDS_ROLE_CONSUMER | TDS_ROLE_NODE, token_create,
	     "Operator: an authorization token (使用授权令牌) for an active, unfrozen contract, bound to the calling consumer "
	     "account or connector (15 minutes; ask again to refresh)"},
	    {"POST", "/api/v1/contracts/{id}/tokens/{tid}/revoke", OPERATOR_ROLES | TDS_ROLE_CONSUMER, token_revoke,
	     "Operator: revokes a token (reason); the feed tells the provider's connectors"},
	    {"POST", "/api/v1/contracts/{id}/unfreeze", OPERATOR_ROLES, contract_unfreeze,
	     "Operator: unfreezes a consumer's use of a contract after review (reason); the feed tells the connectors"},
	    {"POST", "/api/v1/violations", TDS_ROLE_NODE, violation_report,
	     "Operator: a provider connector's violation report (stored once per violation id, evidenced)"},
	    {"GET", "/api/v1/violations", VIOLATION_READ_ROLES, violation_list,
	     "Violations (contract_id, limit, cursor): reports on the operator, own records on a connector; parties see "
	     "their own"},
	    {"POST", "/api/v1/decisions", TDS_ROLES_PUBLIC, decision,
	     "Connector: a usage-control decision (permit | deny, obligations) for a token, or a contract id for this "
	     "connector's admin or provider accounts"},
	    {"GET", "/api/v1/enforcement/contracts/{id}", TDS_ROLE_ADMIN | TDS_ROLE_PROVIDER | TDS_ROLE_CONSUMER,
	     local_contract, "Connector: a contract as this connector holds it: state, freeze, violations, counters"},
	};
	return add_all(ct, api, routes, TDS_ARRAY_LEN(routes));
}
