/*
 * routes.c — identity's HTTP handlers: translation only (validate the request shape, call
 * identity.h, shape the JSON answer).
 *
 * Every route names an action of the permission matrix (matrix.c), and one wrapper (guard) checks
 * it before the handler runs, before the body is even parsed: the route's path id, when it names an
 * organisation or person, is validated and passed as the holder of scoped actions. The router's role
 * gate comes from the same matrix entry: role-only actions admit exactly the action's roles at the
 * router. Self-service actions (own account, own organisation) must also admit a *basic* account,
 * which has no roles until its real-name verification is approved: those routes admit
 * TDS_ROLES_ANY_USER, which the router opens to every authenticated account (roles 0 included),
 * and the guard checks the scope (403 without it).
 */
#include "identity/internal.h"

#include <stdlib.h>
#include <string.h>

#define SELF_SERVICE TDS_ROLES_ANY_USER

/* How the guard treats a route. */
typedef enum {
	G_PUBLIC = 0,   /* no credentials needed (a principal is used when sent) */
	G_PRINCIPAL,    /* any authenticated principal, account or node */
	G_ACTION        /* the named action of the matrix */
} guard_kind;

struct id_route {
	tds_identity *id;
	guard_kind kind;
	const char *action;
	const char *holder_param; /* path parameter naming the holder ("id"), or NULL */
	const char *holder_prefix; /* "org" or "psn" */
	tds_handler fn;
};

static tds_identity *ident(tds_req *req) { return ((struct id_route *)req->route_ctx)->id; }

static int need_principal(tds_req *req)
{
	if (req->principal)
		return 0;
	return tds_error_set(TDS_EAUTH, "unauthenticated", "this route needs credentials: send Authorization: Bearer <token>");
}

/* The one permission check in front of every identity handler. */
static int guard(tds_req *req, tds_resp *resp)
{
	const struct id_route *r = req->route_ctx;
	int rc;
	if (r->kind == G_PRINCIPAL && (rc = need_principal(req)))
		return rc;
	if (r->kind == G_ACTION) {
		const tds_identity_action *a = tds_identity_action_find(r->action);
		if (a && a->scope != TDS_SCOPE_PUBLIC && (rc = need_principal(req)))
			return rc; /* 401 before anything about the request is judged */
		const char *holder = NULL;
		if (r->holder_param) {
			holder = tds_req_param(req, r->holder_param);
			if (!tds_id_valid(holder, r->holder_prefix))
				return tds_error_set(TDS_EINVAL, "invalid_id", "the path id must look like %s_<26 characters>",
						     r->holder_prefix);
		}
		if ((rc = id_require(r->id, req->principal, r->action, holder)))
			return rc;
	}
	return r->fn(req, resp);
}

static int reply(tds_resp *resp, int status, int rc, json_t *out)
{
	if (rc)
		return rc;
	return tds_resp_json(resp, status, out);
}

static int page(tds_req *req, int *limit, const char **cursor) { return tds_req_page(req, 50, 500, limit, cursor); }

/* Optional query argument; an empty one counts as absent. */
static const char *query(tds_req *req, const char *name)
{
	const char *v = tds_req_query(req, name);
	return v && *v ? v : NULL;
}

static int roles_field(json_t *body, const char *key, tds_roles def, tds_roles *out)
{
	json_t *arr = json_object_get(body, key);
	if (!arr || json_is_null(arr)) {
		*out = def;
		return 0;
	}
	int rc = tds_roles_from_json(arr, out);
	return rc ? tds_error_wrap("field '%s': ", key) : 0;
}

static int decision(json_t *body, tds_review_decision *d)
{
	return tds_identity_decision_parse(tds_json_str(body, "decision", NULL), d);
}

static const tds_json_field REVIEW[] = {
    {"decision", TDS_JSON_STRING, true, 16},
    {"reason", TDS_JSON_STRING, false, 2000},
};

/* ---- auth, me ---- */

static int login(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"username", TDS_JSON_STRING, true, 64},
	    {"password", TDS_JSON_STRING, true, 256},
	};
	json_t *body = NULL, *out = NULL;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc)
		return rc;
	rc = tds_identity_login_from(ident(req), tds_json_str(body, "username", NULL), tds_json_str(body, "password", NULL),
				     req->client_ip, &out);
	if (rc == TDS_ELIMIT) {
		/* answer with the error and Retry-After (the seconds are in the error's details) */
		char secs[24];
		snprintf(secs, sizeof secs, "%lld", (long long)tds_json_int(tds_error_details(), "retry_after_s", 60));
		tds_resp_error(resp);
		tds_resp_header(resp, "Retry-After", secs);
		return 0;
	}
	return reply(resp, 200, rc, out);
}

static int logout(tds_req *req, tds_resp *resp)
{
	const tds_principal *p = req->principal;
	if (p->via_api_key)
		return tds_error_set(TDS_EINVAL, "not_a_session", "this request used an API key; revoke keys with DELETE /api/v1/api-keys/{id}");
	int rc = tds_identity_logout(ident(req), p->account_id, p->session_id);
	return reply(resp, 200, rc, rc ? NULL : json_pack("{s:b}", "logged_out", 1));
}

static int whoami(tds_req *req, tds_resp *resp)
{
	const tds_principal *p = req->principal;
	return tds_resp_json(resp, 200,
			     json_pack("{s:s?, s:s?, s:s?, s:o, s:s?, s:b}", "account_id", p->account_id, "username", p->username,
				       "org_id", p->org_id, "roles", tds_roles_to_json(p->roles), "session_id", p->session_id,
				       "via_api_key", p->via_api_key));
}

static int me(tds_req *req, tds_resp *resp)
{
	json_t *out = NULL;
	int rc = tds_identity_me(ident(req), req->principal, &out);
	return reply(resp, 200, rc, out);
}

static int password_change(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"old_password", TDS_JSON_STRING, true, 256},
	    {"new_password", TDS_JSON_STRING, true, 256},
	};
	json_t *body = NULL, *out = NULL;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc)
		return rc;
	rc = tds_identity_password_change(ident(req), req->principal, tds_json_str(body, "old_password", NULL),
					  tds_json_str(body, "new_password", NULL), &out);
	return reply(resp, 200, rc, out);
}

static int session_list(tds_req *req, tds_resp *resp)
{
	json_t *out = NULL;
	int rc = tds_identity_session_list(ident(req), req->principal, &out);
	return reply(resp, 200, rc, out);
}

static int session_revoke(tds_req *req, tds_resp *resp)
{
	const char *sid = tds_req_param(req, "id");
	int rc = tds_identity_logout(ident(req), req->principal->account_id, sid);
	return reply(resp, 200, rc, rc ? NULL : json_pack("{s:s, s:b}", "id", sid, "revoked", 1));
}

static int permissions(tds_req *req, tds_resp *resp)
{
	json_t *m = tds_identity_matrix_json(ident(req), req->principal);
	json_object_set_new(m, "requirements", tds_identity_requirements_json(tds_identity_requirements_of(ident(req))));
	return tds_resp_json(resp, 200, m);
}

/* ---- accounts (node administrators) ---- */

static int account_create(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"username", TDS_JSON_STRING, true, 64},
	    {"password", TDS_JSON_STRING, true, 256},
	    {"roles", TDS_JSON_STRING_ARRAY, false, TDS_ROLES_ALL_NAMES},
	};
	json_t *body = NULL, *out = NULL;
	tds_roles roles;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc || (rc = roles_field(body, "roles", 0, &roles)))
		return rc;
	rc = tds_identity_account_create(ident(req), req->principal->account_id, tds_json_str(body, "username", NULL),
					 tds_json_str(body, "password", NULL), roles, &out);
	return reply(resp, 201, rc, out);
}

static int account_list(tds_req *req, tds_resp *resp)
{
	int limit;
	const char *cursor;
	json_t *out = NULL;
	int rc = page(req, &limit, &cursor);
	if (rc || (rc = tds_identity_account_list(ident(req), limit, cursor, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int account_get(tds_req *req, tds_resp *resp)
{
	const char *id = tds_req_param(req, "id");
	const tds_principal *p = req->principal;
	json_t *out = NULL;
	if (!tds_identity_can(p, "account.manage") && (!p->account_id || strcmp(p->account_id, id) != 0))
		return tds_error_set(TDS_EPERM, "forbidden", "you may read only your own account");
	int rc = tds_identity_account_get(ident(req), id, &out);
	return reply(resp, 200, rc, out);
}

static int account_set_disabled(tds_req *req, tds_resp *resp, bool disabled)
{
	const char *id = tds_req_param(req, "id");
	if (disabled && req->principal->account_id && strcmp(req->principal->account_id, id) == 0)
		return tds_error_set(TDS_ECONFLICT, "cannot_disable_self", "an administrator cannot disable their own account");
	json_t *out = NULL;
	int rc = tds_identity_account_set_disabled(ident(req), req->principal->account_id, id, disabled);
	if (rc || (rc = tds_identity_account_get(ident(req), id, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int account_disable(tds_req *req, tds_resp *resp) { return account_set_disabled(req, resp, true); }
static int account_enable(tds_req *req, tds_resp *resp) { return account_set_disabled(req, resp, false); }

/* ---- API keys (own) ---- */

static int apikey_create(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"name", TDS_JSON_STRING, true, 128},
	    {"roles", TDS_JSON_STRING_ARRAY, false, TDS_ROLES_ALL_NAMES},
	    {"expires_in_s", TDS_JSON_INTEGER, false, 0},
	};
	json_t *body = NULL, *out = NULL;
	tds_roles roles;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc || (rc = roles_field(body, "roles", req->principal->roles, &roles)))
		return rc;
	/* a caller using a restricted key holds only that key's roles: it cannot mint a broader key */
	if (req->principal->via_api_key && (roles & ~req->principal->roles))
		return tds_error_set(TDS_EPERM, "role_escalation",
				     "an API key cannot create a key with roles it does not carry itself");
	int64_t secs = tds_json_int(body, "expires_in_s", 90LL * 24 * 3600);
	if (secs <= 0 || secs > INT64_MAX / 1000)
		return tds_error_set(TDS_EINVAL, "invalid_expiry", "expires_in_s must be a positive number of seconds");
	rc = tds_identity_apikey_create(ident(req), req->principal->account_id, tds_json_str(body, "name", NULL), roles,
					secs * 1000, &out);
	return reply(resp, 201, rc, out);
}

static int apikey_list(tds_req *req, tds_resp *resp)
{
	json_t *out = NULL;
	int rc = tds_identity_apikey_list(ident(req), req->principal->account_id, &out);
	return reply(resp, 200, rc, out);
}

static int apikey_revoke(tds_req *req, tds_resp *resp)
{
	const char *id = tds_req_param(req, "id");
	int rc = tds_identity_apikey_revoke(ident(req), req->principal->account_id, id);
	return reply(resp, 200, rc, rc ? NULL : json_pack("{s:s, s:b}", "id", id, "revoked", 1));
}

/* ---- organisations ---- */

/* Public sign-up costs an argon2id hash (64 MiB) and a ledger entry: at most
 * signup_max_per_ip per client address per hour. Returns 0 or sets a 429 answer in resp (rc 1). */
static int signup_limited(tds_req *req, tds_resp *resp)
{
	int64_t retry = 0;
	if (tds_ratelimit_take(ident(req)->signups, req->client_ip ? req->client_ip : "-", tds_now_ms(), &retry))
		return 0;
	char secs[24];
	snprintf(secs, sizeof secs, "%lld", (long long)((retry + 999) / 1000));
	tds_error_set(TDS_ELIMIT, "too_many_registrations",
		      "too many registrations from this address; retry after %s seconds (Retry-After)", secs);
	tds_resp_error(resp);
	tds_resp_header(resp, "Retry-After", secs);
	return 1;
}

static int org_register(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"username", TDS_JSON_STRING, true, 64},
	    {"password", TDS_JSON_STRING, true, 256},
	    {"name", TDS_JSON_STRING, true, 200},
	    {"type", TDS_JSON_STRING, true, 16},
	};
	json_t *body = NULL, *out = NULL;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc)
		return rc;
	if (signup_limited(req, resp))
		return 0;
	tds_org_registration r = {tds_json_str(body, "username", NULL), tds_json_str(body, "password", NULL),
				  tds_json_str(body, "name", NULL), tds_json_str(body, "type", NULL)};
	rc = tds_identity_org_register(ident(req), &r, &out);
	return reply(resp, 201, rc, out);
}

static int org_list(tds_req *req, tds_resp *resp)
{
	int limit;
	const char *cursor;
	json_t *out = NULL;
	int rc = page(req, &limit, &cursor);
	if (!rc)
		rc = tds_identity_org_list(ident(req), query(req, "status"), limit, cursor, &out);
	return reply(resp, 200, rc, out);
}

static int org_get(tds_req *req, tds_resp *resp)
{
	json_t *out = NULL;
	int rc = tds_identity_org_get(ident(req), req->principal, tds_req_param(req, "id"), &out);
	return reply(resp, 200, rc, out);
}

static int org_submit(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"uscc", TDS_JSON_STRING, true, 64},
	    {"legal_rep", TDS_JSON_STRING, true, 100},
	    {"licence_hash", TDS_JSON_STRING, true, 64},
	};
	json_t *body = NULL, *out = NULL;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc)
		return rc;
	tds_org_verification v = {tds_json_str(body, "uscc", NULL), tds_json_str(body, "legal_rep", NULL),
				  tds_json_str(body, "licence_hash", NULL)};
	rc = tds_identity_org_submit(ident(req), req->principal, tds_req_param(req, "id"), &v, &out);
	return reply(resp, 200, rc, out);
}

static int org_review(tds_req *req, tds_resp *resp)
{
	json_t *body = NULL, *out = NULL;
	tds_review_decision d;
	int rc = tds_req_json(req, REVIEW, TDS_ARRAY_LEN(REVIEW), false, &body);
	if (rc || (rc = decision(body, &d)))
		return rc;
	rc = tds_identity_org_review(ident(req), req->principal, tds_req_param(req, "id"), d,
				     tds_json_str(body, "reason", NULL), &out);
	return reply(resp, 200, rc, out);
}

/* ---- persons ---- */

static int person_register(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"username", TDS_JSON_STRING, true, 64},
	    {"password", TDS_JSON_STRING, true, 256},
	    {"display_name", TDS_JSON_STRING, true, 100},
	};
	json_t *body = NULL, *out = NULL;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc)
		return rc;
	if (signup_limited(req, resp))
		return 0;
	rc = tds_identity_person_register(ident(req), tds_json_str(body, "username", NULL),
					  tds_json_str(body, "password", NULL), tds_json_str(body, "display_name", NULL), &out);
	return reply(resp, 201, rc, out);
}

static int person_list(tds_req *req, tds_resp *resp)
{
	int limit;
	const char *cursor;
	json_t *out = NULL;
	int rc = page(req, &limit, &cursor);
	if (!rc)
		rc = tds_identity_person_list(ident(req), query(req, "status"), limit, cursor, &out);
	return reply(resp, 200, rc, out);
}

static int person_get(tds_req *req, tds_resp *resp)
{
	json_t *out = NULL;
	int rc = tds_identity_person_get(ident(req), req->principal, tds_req_param(req, "id"), &out);
	return reply(resp, 200, rc, out);
}

static int person_submit(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"real_name", TDS_JSON_STRING, true, 100},
	    {"id_number", TDS_JSON_STRING, true, 32},
	};
	json_t *body = NULL, *out = NULL;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc)
		return rc;
	rc = tds_identity_person_submit(ident(req), req->principal, tds_req_param(req, "id"),
					tds_json_str(body, "real_name", NULL), tds_json_str(body, "id_number", NULL), &out);
	return reply(resp, 200, rc, out);
}

static int person_review(tds_req *req, tds_resp *resp)
{
	json_t *body = NULL, *out = NULL;
	tds_review_decision d;
	int rc = tds_req_json(req, REVIEW, TDS_ARRAY_LEN(REVIEW), false, &body);
	if (rc || (rc = decision(body, &d)))
		return rc;
	rc = tds_identity_person_review(ident(req), req->principal, tds_req_param(req, "id"), d,
					tds_json_str(body, "reason", NULL), &out);
	return reply(resp, 200, rc, out);
}

/* ---- members ---- */

static int member_add(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"username", TDS_JSON_STRING, true, 64},
	    {"password", TDS_JSON_STRING, true, 256},
	    {"roles", TDS_JSON_STRING_ARRAY, false, TDS_ROLES_ALL_NAMES},
	};
	json_t *body = NULL, *out = NULL;
	tds_roles roles = 0;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc || (rc = roles_field(body, "roles", 0, &roles)))
		return rc;
	bool has = json_is_array(json_object_get(body, "roles"));
	rc = tds_identity_member_add(ident(req), req->principal, tds_req_param(req, "id"), tds_json_str(body, "username", NULL),
				     tds_json_str(body, "password", NULL), has, roles, &out);
	return reply(resp, 201, rc, out);
}

static int member_list(tds_req *req, tds_resp *resp)
{
	int limit;
	const char *cursor;
	json_t *out = NULL;
	int rc = page(req, &limit, &cursor);
	if (!rc)
		rc = tds_identity_member_list(ident(req), tds_req_param(req, "id"), limit, cursor, &out);
	return reply(resp, 200, rc, out);
}

static int member_set_disabled(tds_req *req, tds_resp *resp, bool disabled)
{
	json_t *out = NULL;
	const char *acc = tds_req_param(req, "account");
	if (disabled && req->principal->account_id && strcmp(req->principal->account_id, acc) == 0)
		return tds_error_set(TDS_ECONFLICT, "cannot_disable_self", "an organisation admin cannot disable their own account");
	int rc = tds_identity_member_set_disabled(ident(req), req->principal, tds_req_param(req, "id"), acc, disabled, &out);
	return reply(resp, 200, rc, out);
}

static int member_disable(tds_req *req, tds_resp *resp) { return member_set_disabled(req, resp, true); }
static int member_enable(tds_req *req, tds_resp *resp) { return member_set_disabled(req, resp, false); }

static int member_restrict(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {{"roles", TDS_JSON_ANY, false, 0}};
	json_t *body = NULL, *out = NULL;
	tds_roles roles = 0;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc)
		return rc;
	json_t *arr = json_object_get(body, "roles");
	if (!arr) /* null is meaningful here (no restriction), so it is told apart from absent */
		return tds_error_set(TDS_EINVAL, "missing_field", "field 'roles' is required: an array of role names, or null");
	if (!json_is_null(arr) && (rc = tds_roles_from_json(arr, &roles)))
		return tds_error_wrap("field 'roles' (an array of role names, or null to lift the restriction): ");
	rc = tds_identity_member_restrict(ident(req), req->principal, tds_req_param(req, "id"),
					  tds_req_param(req, "account"), !json_is_null(arr), roles, &out);
	return reply(resp, 200, rc, out);
}

/* ---- roles ---- */

static int role_apply(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"role", TDS_JSON_STRING, true, 32},
	    {"justification", TDS_JSON_STRING, true, 2000},
	    {"service_type", TDS_JSON_STRING, false, 16},
	};
	json_t *body = NULL, *out = NULL;
	tds_roles role;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc || (rc = tds_role_parse(tds_json_str(body, "role", NULL), &role)))
		return rc;
	rc = tds_identity_role_apply(ident(req), req->principal, role, tds_json_str(body, "service_type", NULL),
				     tds_json_str(body, "justification", NULL), &out);
	return reply(resp, 201, rc, out);
}

static int role_list(tds_req *req, tds_resp *resp)
{
	int limit;
	const char *cursor, *holder = query(req, "holder");
	json_t *out = NULL;
	int rc = page(req, &limit, &cursor);
	if (rc)
		return rc;
	if (!tds_identity_can(req->principal, "role.list")) {
		/* an organisation's admin (or a person) sees its own holder's applications only */
		sqlite3 *db = tds_store_conn(ident(req)->store);
		id_actor ac;
		if (!db)
			return tds_error_code();
		if ((rc = id_actor_load(ident(req), db, req->principal, &ac)))
			return rc;
		const char *own = ac.org_id[0] ? ac.org_id : ac.person_id;
		if (holder && strcmp(holder, own) != 0)
			return tds_error_set(TDS_EPERM, "forbidden", "you may list only your own organisation's applications");
		rc = tds_identity_role_list(ident(req), query(req, "status"), own, limit, cursor, &out);
	} else {
		rc = tds_identity_role_list(ident(req), query(req, "status"), holder, limit, cursor, &out);
	}
	return reply(resp, 200, rc, out);
}

static int role_review(tds_req *req, tds_resp *resp)
{
	json_t *body = NULL, *out = NULL;
	tds_review_decision d;
	int rc = tds_req_json(req, REVIEW, TDS_ARRAY_LEN(REVIEW), false, &body);
	if (rc || (rc = decision(body, &d)))
		return rc;
	rc = tds_identity_role_review(ident(req), req->principal, tds_req_param(req, "id"), d,
				      tds_json_str(body, "reason", NULL), &out);
	return reply(resp, 200, rc, out);
}

static int role_suspend_or_restore(tds_req *req, tds_resp *resp, bool suspend)
{
	static const tds_json_field f[] = {{"reason", TDS_JSON_STRING, false, 2000}};
	json_t *body = NULL, *out = NULL;
	tds_roles role;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc || (rc = tds_role_parse(tds_req_param(req, "role"), &role)))
		return rc;
	rc = tds_identity_role_suspend(ident(req), req->principal, tds_req_param(req, "id"), role, suspend,
				       tds_json_str(body, "reason", NULL), &out);
	return reply(resp, 200, rc, rc ? NULL : json_pack("{s:s, s:o}", "holder_id", tds_req_param(req, "id"), "roles", out));
}

static int role_suspend(tds_req *req, tds_resp *resp) { return role_suspend_or_restore(req, resp, true); }
static int role_restore(tds_req *req, tds_resp *resp) { return role_suspend_or_restore(req, resp, false); }

/* ---- qualifications, whitelist, watch ---- */

static int qualification_add(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"type", TDS_JSON_STRING, true, 32},
	    {"level", TDS_JSON_INTEGER, false, 0},
	    {"name", TDS_JSON_STRING, false, 200},
	    {"issuer", TDS_JSON_STRING, true, 200},
	    {"cert_no", TDS_JSON_STRING, false, 100},
	    {"valid_from", TDS_JSON_STRING, true, 10},
	    {"valid_to", TDS_JSON_STRING, true, 10},
	    {"doc_hash", TDS_JSON_STRING, true, 64},
	};
	json_t *body = NULL, *out = NULL;
	tds_qualification_in q = {0};
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc || (rc = tds_identity_qual_type_parse(tds_json_str(body, "type", NULL), &q.type)))
		return rc;
	int64_t level = tds_json_int(body, "level", 0);
	if (level < 0 || level > 9)
		return tds_error_set(TDS_EINVAL, "invalid_level", "level must be 1-4 (dengbao) or 1-5 (dsmc)");
	q.level = (int)level;
	q.name = tds_json_str(body, "name", NULL);
	q.issuer = tds_json_str(body, "issuer", NULL);
	q.cert_no = tds_json_str(body, "cert_no", NULL);
	q.valid_from = tds_json_str(body, "valid_from", NULL);
	q.valid_to = tds_json_str(body, "valid_to", NULL);
	q.doc_hash = tds_json_str(body, "doc_hash", NULL);
	rc = tds_identity_qualification_add(ident(req), req->principal, tds_req_param(req, "id"), &q, &out);
	return reply(resp, 201, rc, out);
}

static int qualification_list_org(tds_req *req, tds_resp *resp)
{
	int limit;
	const char *cursor;
	json_t *out = NULL;
	int rc = page(req, &limit, &cursor);
	if (!rc)
		rc = tds_identity_qualification_list(ident(req), tds_req_param(req, "id"), query(req, "status"), limit, cursor,
						     &out);
	return reply(resp, 200, rc, out);
}

static int qualification_list(tds_req *req, tds_resp *resp)
{
	int limit;
	const char *cursor;
	json_t *out = NULL;
	int rc = page(req, &limit, &cursor);
	if (!rc)
		rc = tds_identity_qualification_list(ident(req), query(req, "org"), query(req, "status"), limit, cursor, &out);
	return reply(resp, 200, rc, out);
}

static int qualification_review(tds_req *req, tds_resp *resp)
{
	json_t *body = NULL, *out = NULL;
	tds_review_decision d;
	int rc = tds_req_json(req, REVIEW, TDS_ARRAY_LEN(REVIEW), false, &body);
	if (rc || (rc = decision(body, &d)))
		return rc;
	rc = tds_identity_qualification_review(ident(req), req->principal, tds_req_param(req, "id"), d,
					       tds_json_str(body, "reason", NULL), &out);
	return reply(resp, 200, rc, out);
}

static int whitelist(tds_req *req, tds_resp *resp)
{
	int limit;
	const char *cursor;
	json_t *out = NULL;
	int rc = page(req, &limit, &cursor);
	if (!rc)
		rc = tds_identity_whitelist(ident(req), tds_now_ms(), limit, cursor, &out);
	return reply(resp, 200, rc, out);
}

static int watch(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {{"at", TDS_JSON_STRING, false, 64}};
	json_t *body = NULL, *out = NULL;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc)
		return rc;
	int64_t now = tds_now_ms(), at = now;
	const char *s = tds_json_str(body, "at", NULL);
	if (s) {
		/* rehearsing a later day: only a node administrator, and never the past */
		if (!tds_identity_can(req->principal, "account.manage"))
			return tds_error_set(TDS_EPERM, "forbidden", "only a node administrator may run the watch at another time");
		if ((rc = tds_time_parse(s, &at)))
			return tds_error_wrap("field 'at': ");
		if (at < now)
			return tds_error_set(TDS_EINVAL, "invalid_time", "field 'at' must not be in the past");
		/* whatever the rehearsal suspends is evidenced as usual; the rehearsal itself too */
		char t[TDS_TIME_MAX];
		tds_time_format(at, t);
		if ((rc = id_note(ident(req), req->principal, "identity.watch_rehearsed", NULL, json_pack("{s:s}", "at", t))))
			return rc;
	}
	rc = tds_identity_watch(ident(req), at, &out);
	return reply(resp, 200, rc, out);
}

/* ---- connectors (连接器入驻) and node certificates ---- */

static int connector_register(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"name", TDS_JSON_STRING, true, 100},
	    {"vendor_serial", TDS_JSON_STRING, true, 100},
	    {"ips", TDS_JSON_STRING_ARRAY, true, TDS_CONNECTOR_IPS_MAX},
	    {"software_version", TDS_JSON_STRING, true, 64},
	    {"api_endpoint", TDS_JSON_STRING, true, TDS_CERT_URL_MAX},
	    {"data_endpoint", TDS_JSON_STRING, true, TDS_CERT_URL_MAX},
	    {"hw_fingerprint", TDS_JSON_STRING, true, TDS_HASH_HEX_LEN},
	    {"node_id", TDS_JSON_STRING, true, TDS_ID_MAX},
	    {"public_key_pem", TDS_JSON_STRING, true, 4096},
	};
	json_t *body = NULL, *out = NULL;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc)
		return rc;
	tds_connector_in in = {
	    .name = tds_json_str(body, "name", NULL),
	    .vendor_serial = tds_json_str(body, "vendor_serial", NULL),
	    .ips = json_object_get(body, "ips"),
	    .software_version = tds_json_str(body, "software_version", NULL),
	    .api_endpoint = tds_json_str(body, "api_endpoint", NULL),
	    .data_endpoint = tds_json_str(body, "data_endpoint", NULL),
	    .hw_fingerprint = tds_json_str(body, "hw_fingerprint", NULL),
	    .node_id = tds_json_str(body, "node_id", NULL),
	    .public_key_pem = tds_json_str(body, "public_key_pem", NULL),
	};
	rc = tds_identity_connector_register(ident(req), req->principal, &in, &out);
	return reply(resp, 201, rc, out);
}

static int connector_list(tds_req *req, tds_resp *resp)
{
	int limit;
	const char *cursor, *org = query(req, "org");
	json_t *out = NULL;
	int rc = page(req, &limit, &cursor);
	if (rc)
		return rc;
	if (!tds_identity_can(req->principal, "connector.list")) {
		/* an organisation's own accounts see its own connectors only */
		sqlite3 *db = tds_store_conn(ident(req)->store);
		id_actor ac;
		if (!db)
			return tds_error_code();
		if ((rc = id_actor_load(ident(req), db, req->principal, &ac)))
			return rc;
		if (org && strcmp(org, ac.org_id) != 0)
			return tds_error_set(TDS_EPERM, "forbidden", "you may list only your own organisation's connectors");
		if (!ac.org_id[0]) /* a person: no connectors */
			return tds_resp_json(resp, 200, json_pack("{s:[], s:n}", "items", "next_cursor"));
		org = ac.org_id;
		rc = tds_identity_connector_list(ident(req), org, query(req, "status"), query(req, "presence"), limit, cursor,
						 &out);
	} else {
		rc = tds_identity_connector_list(ident(req), org, query(req, "status"), query(req, "presence"), limit, cursor,
						 &out);
	}
	return reply(resp, 200, rc, out);
}

static int connector_get(tds_req *req, tds_resp *resp)
{
	json_t *out = NULL;
	int rc = tds_identity_connector_get(ident(req), req->principal, tds_req_param(req, "id"), &out);
	return reply(resp, 200, rc, out);
}

static int connector_review(tds_req *req, tds_resp *resp)
{
	json_t *body = NULL, *out = NULL;
	tds_review_decision d;
	int rc = tds_req_json(req, REVIEW, TDS_ARRAY_LEN(REVIEW), false, &body);
	if (rc || (rc = decision(body, &d)))
		return rc;
	rc = tds_identity_connector_review(ident(req), req->principal, tds_req_param(req, "id"), d,
					   tds_json_str(body, "reason", NULL), &out);
	return reply(resp, 200, rc, out);
}

static int connector_revoke(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {{"reason", TDS_JSON_STRING, true, 2000}};
	json_t *body = NULL, *out = NULL;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc)
		return rc;
	rc = tds_identity_connector_revoke(ident(req), req->principal, tds_req_param(req, "id"),
					   tds_json_str(body, "reason", NULL), &out);
	return reply(resp, 200, rc, out);
}

static int connector_enroll(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"client_id", TDS_JSON_STRING, true, TDS_ID_MAX},
	    {"client_secret", TDS_JSON_STRING, true, 128},
	};
	json_t *body = NULL, *out = NULL;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc)
		return rc;
	rc = tds_identity_connector_enroll(ident(req), tds_json_str(body, "client_id", NULL),
					   tds_json_str(body, "client_secret", NULL), req->client_ip, &out);
	return reply(resp, 200, rc, out);
}

static int connector_heartbeat(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"status", TDS_JSON_STRING, true, 16},
	    {"version", TDS_JSON_STRING, true, 64},
	    {"uptime_s", TDS_JSON_INTEGER, true, 0},
	    {"health", TDS_JSON_OBJECT, false, 0},
	};
	json_t *body = NULL, *out = NULL;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc)
		return rc;
	rc = tds_identity_connector_heartbeat(ident(req), req->principal, body, &out);
	return reply(resp, 200, rc, out);
}

static int cert_status(tds_req *req, tds_resp *resp)
{
	json_t *out = NULL;
	int rc = tds_identity_cert_status(ident(req), tds_req_param(req, "serial"), &out);
	return reply(resp, 200, rc, out);
}

static int cert_revocations(tds_req *req, tds_resp *resp)
{
	int limit;
	const char *cursor, *since = query(req, "since");
	int rc = tds_req_page(req, 500, 500, &limit, &cursor);
	if (rc)
		return rc;
	int64_t n = 0;
	size_t len = since ? strlen(since) : 0;
	bool ok = len <= 18 && !(len > 1 && since[0] == '0');
	for (size_t i = 0; ok && i < len; i++) {
		ok = since[i] >= '0' && since[i] <= '9';
		n = n * 10 + (since[i] - '0');
	}
	if (!ok)
		return tds_error_set(TDS_EINVAL, "invalid_number", "since must be a non-negative decimal sequence number");
	json_t *out = NULL;
	rc = tds_identity_cert_revocations(ident(req), n, limit, &out);
	return reply(resp, 200, rc, out);
}

/* ---- registration ---- */

int tds_identity_routes(tds_identity *id, tds_router *r)
{
	static const struct {
		const char *method, *pattern;
		guard_kind kind;
		const char *action, *holder_prefix; /* holder_prefix: the {id} path parameter is that holder */
		tds_handler fn;
		const char *summary;
	} routes[] = {
	    {"POST", "/api/v1/auth/login", G_PUBLIC, NULL, NULL, login, "Log in with username and password; returns a session token"},
	    {"POST", "/api/v1/auth/logout", G_ACTION, "account.self", NULL, logout, "End the calling session"},
	    {"GET", "/api/v1/auth/whoami", G_PRINCIPAL, NULL, NULL, whoami, "The calling principal and its effective roles"},
	    {"GET", "/api/v1/me", G_ACTION, "account.self", NULL, me, "Your account, organisation or person record, and effective roles"},
	    {"POST", "/api/v1/me/password", G_ACTION, "account.self", NULL, password_change, "Change your password (ends your other sessions)"},
	    {"GET", "/api/v1/me/sessions", G_ACTION, "account.self", NULL, session_list, "Your live sessions"},
	    {"DELETE", "/api/v1/me/sessions/{id}", G_ACTION, "account.self", NULL, session_revoke, "End one of your sessions"},
	    {"GET", "/api/v1/identity/permissions", G_PUBLIC, NULL, NULL, permissions, "The permission matrix, role requirements and what the caller may do"},
	    {"POST", "/api/v1/identity/watch", G_ACTION, "identity.watch", NULL, watch, "Run the qualification expiry watch now"},
	    {"POST", "/api/v1/accounts", G_ACTION, "account.manage", NULL, account_create, "Create a local account"},
	    {"GET", "/api/v1/accounts", G_ACTION, "account.manage", NULL, account_list, "List accounts (paged)"},
	    {"GET", "/api/v1/accounts/{id}", G_ACTION, "account.self", NULL, account_get, "Read an account (admin, or your own)"},
	    {"POST", "/api/v1/accounts/{id}/disable", G_ACTION, "account.manage", NULL, account_disable, "Disable an account and end its sessions"},
	    {"POST", "/api/v1/accounts/{id}/enable", G_ACTION, "account.manage", NULL, account_enable, "Enable a disabled account"},
	    {"POST", "/api/v1/api-keys", G_ACTION, "account.self", NULL, apikey_create, "Create an API key for your account (shown once)"},
	    {"GET", "/api/v1/api-keys", G_ACTION, "account.self", NULL, apikey_list, "List your API keys"},
	    {"DELETE", "/api/v1/api-keys/{id}", G_ACTION, "account.self", NULL, apikey_revoke, "Revoke one of your API keys"},
	    {"POST", "/api/v1/orgs", G_ACTION, "org.register", NULL, org_register, "Register an organisation and its admin account"},
	    {"GET", "/api/v1/orgs", G_ACTION, "org.list", NULL, org_list, "List organisations (paged, by status)"},
	    {"GET", "/api/v1/orgs/{id}", G_ACTION, "org.read", "org", org_get, "Read an organisation with its roles"},
	    {"POST", "/api/v1/orgs/{id}/verification", G_ACTION, "org.verify", "org", org_submit, "Submit the organisation's real-name information"},
	    {"POST", "/api/v1/orgs/{id}/review", G_ACTION, "org.review", NULL, org_review, "Approve or reject an organisation's real-name verification"},
	    {"GET", "/api/v1/orgs/{id}/members", G_ACTION, "member.list", "org", member_list, "List the organisation's accounts (paged)"},
	    {"POST", "/api/v1/orgs/{id}/members", G_ACTION, "member.manage", "org", member_add, "Add a member account to the organisation"},
	    {"POST", "/api/v1/orgs/{id}/members/{account}/disable", G_ACTION, "member.manage", "org", member_disable, "Disable a member account"},
	    {"POST", "/api/v1/orgs/{id}/members/{account}/enable", G_ACTION, "member.manage", "org", member_enable, "Enable a member account"},
	    {"POST", "/api/v1/orgs/{id}/members/{account}/roles", G_ACTION, "member.manage", "org", member_restrict, "Restrict a member to some of the organisation's roles"},
	    {"GET", "/api/v1/orgs/{id}/qualifications", G_ACTION, "qualification.read", "org", qualification_list_org, "The organisation's qualifications (paged)"},
	    {"POST", "/api/v1/orgs/{id}/qualifications", G_ACTION, "qualification.submit", "org", qualification_add, "Record a qualification of the organisation"},
	    {"POST", "/api/v1/orgs/{id}/roles/{role}/suspend", G_ACTION, "role.suspend", NULL, role_suspend, "Suspend a granted role of an organisation"},
	    {"POST", "/api/v1/orgs/{id}/roles/{role}/restore", G_ACTION, "role.suspend", NULL, role_restore, "Restore a suspended role of an organisation"},
	    {"POST", "/api/v1/persons", G_ACTION, "person.register", NULL, person_register, "Register a natural person and their account"},
	    {"GET", "/api/v1/persons", G_ACTION, "person.list", NULL, person_list, "List persons (paged, by status)"},
	    {"GET", "/api/v1/persons/{id}", G_ACTION, "person.read", "psn", person_get, "Read a person (ID number masked)"},
	    {"POST", "/api/v1/persons/{id}/verification", G_ACTION, "person.verify", "psn", person_submit, "Submit your name and resident ID number"},
	    {"POST", "/api/v1/persons/{id}/review", G_ACTION, "person.review", NULL, person_review, "Approve or reject a person's real-name verification"},
	    {"POST", "/api/v1/role-applications", G_ACTION, "role.apply", NULL, role_apply, "Apply for a role with a justification"},
	    {"GET", "/api/v1/role-applications", G_ACTION, "role.list", NULL, role_list, "List role applications (paged, by status and holder)"},
	    {"POST", "/api/v1/role-applications/{id}/review", G_ACTION, "role.grant", NULL, role_review, "Grant or reject a role application"},
	    {"GET", "/api/v1/qualifications", G_ACTION, "qualification.list", NULL, qualification_list, "List qualifications (paged, by status and organisation)"},
	    {"POST", "/api/v1/qualifications/{id}/review", G_ACTION, "qualification.review", NULL, qualification_review, "Approve, reject or revoke a qualification"},
	    {"GET", "/api/v1/whitelist", G_ACTION, "whitelist.read", NULL, whitelist, "The partner whitelist (合作方白名单)"},
	    {"POST", "/api/v1/connectors", G_ACTION, "connector.register", NULL, connector_register, "Register a connector of your organisation (连接器入驻)"},
	    {"GET", "/api/v1/connectors", G_ACTION, "connector.read", NULL, connector_list, "List connectors (paged; by organisation, status and presence)"},
	    {"GET", "/api/v1/connectors/{id}", G_ACTION, "connector.read", NULL, connector_get, "Read a connector with its certificate and presence"},
	    {"POST", "/api/v1/connectors/{id}/review", G_ACTION, "connector.review", NULL, connector_review, "Approve (ClientID, ClientSecret shown once, node certificate) or reject a connector"},
	    {"POST", "/api/v1/connectors/{id}/revoke", G_ACTION, "connector.revoke", NULL, connector_revoke, "Revoke a connector's node certificate"},
	    {"POST", "/api/v1/connectors/enroll", G_ACTION, "connector.enroll", NULL, connector_enroll, "A connector node fetches its certificate with its ClientID and ClientSecret"},
	    {"POST", "/api/v1/connectors/heartbeat", G_ACTION, "connector.heartbeat", NULL, connector_heartbeat, "A connector's heartbeat: status and health figures (signed by the node)"},
	    {"GET", "/api/v1/connectors/revocations", G_ACTION, "connector.status", NULL, cert_revocations, "Node certificates revoked after a sequence number (signed statement)"},
	    {"GET", "/api/v1/connectors/certificates/{serial}", G_ACTION, "connector.status", NULL, cert_status, "A node certificate and its status (signed statement)"},
	};
	size_t n = TDS_ARRAY_LEN(routes);
	free(id->routes);
	id->routes = calloc(n, sizeof *id->routes);
	if (!id->routes)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct id_route *ctx = &id->routes[i];
		*ctx = (struct id_route){id, routes[i].kind, routes[i].action, routes[i].holder_prefix ? "id" : NULL,
					 routes[i].holder_prefix, routes[i].fn};
		tds_roles gate = TDS_ROLES_PUBLIC;
		if (routes[i].kind == G_PRINCIPAL) {
			gate = SELF_SERVICE;
		} else if (routes[i].kind == G_ACTION) {
			const tds_identity_action *a = tds_identity_action_find(routes[i].action);
			if (!a)
				return tds_error_set(TDS_EINTERNAL, NULL, "route %s names unknown action %s", routes[i].pattern,
						     routes[i].action);
			gate = a->scope == TDS_SCOPE_ROLES ? a->roles : a->scope == TDS_SCOPE_PUBLIC ? TDS_ROLES_PUBLIC : SELF_SERVICE;
		}
		int rc = tds_router_add(r, routes[i].method, routes[i].pattern, gate, guard, ctx, routes[i].summary);
		if (rc)
			return rc;
	}
	return 0;
}
