/*
 * routes.c — identity's HTTP handlers: login/logout/whoami, accounts (admin), API keys (own).
 * Translation only: validate the request shape, call identity.h, shape the JSON answer.
 */
#include "identity/identity.h"

#include <string.h>

#define ANY_ACCOUNT (TDS_ROLES_ANY_USER & ~(tds_roles)TDS_ROLE_NODE)

static tds_identity *ctx_of(tds_req *req) { return req->route_ctx; }

static int login(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"username", TDS_JSON_STRING, true, 64},
	    {"password", TDS_JSON_STRING, true, 256},
	};
	json_t *body, *out;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc)
		return rc;
	if ((rc = tds_identity_login(ctx_of(req), tds_json_str(body, "username", NULL),
				     tds_json_str(body, "password", NULL), &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int logout(tds_req *req, tds_resp *resp)
{
	const tds_principal *p = req->principal;
	if (p->via_api_key)
		return tds_error_set(TDS_EINVAL, "not_a_session", "this request used an API key; revoke keys with DELETE /api/v1/api-keys/{id}");
	int rc = tds_identity_logout(ctx_of(req), p->account_id, p->session_id);
	if (rc)
		return rc;
	return tds_resp_json(resp, 200, json_pack("{s:b}", "logged_out", 1));
}

static int whoami(tds_req *req, tds_resp *resp)
{
	const tds_principal *p = req->principal;
	return tds_resp_json(resp, 200,
			     json_pack("{s:s?, s:s?, s:o, s:s?, s:b}", "account_id", p->account_id, "username", p->username,
				       "roles", tds_roles_to_json(p->roles), "session_id", p->session_id, "via_api_key",
				       p->via_api_key));
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

static int account_create(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"username", TDS_JSON_STRING, true, 64},
	    {"password", TDS_JSON_STRING, true, 256},
	    {"roles", TDS_JSON_STRING_ARRAY, false, TDS_ROLES_ALL_NAMES},
	};
	json_t *body, *out;
	tds_roles roles;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc || (rc = roles_field(body, "roles", 0, &roles)))
		return rc;
	if ((rc = tds_identity_account_create(ctx_of(req), req->principal->account_id, tds_json_str(body, "username", NULL),
					      tds_json_str(body, "password", NULL), roles, &out)))
		return rc;
	return tds_resp_json(resp, 201, out);
}

static int account_list(tds_req *req, tds_resp *resp)
{
	int limit;
	const char *cursor;
	json_t *out;
	int rc = tds_req_page(req, 50, 500, &limit, &cursor);
	if (rc || (rc = tds_identity_account_list(ctx_of(req), limit, cursor, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int account_get(tds_req *req, tds_resp *resp)
{
	const char *id = tds_req_param(req, "id");
	const tds_principal *p = req->principal;
	json_t *out;
	if (!(p->roles & TDS_ROLE_ADMIN) && (!p->account_id || strcmp(p->account_id, id) != 0))
		return tds_error_set(TDS_EPERM, "forbidden", "you may read only your own account");
	int rc = tds_identity_account_get(ctx_of(req), id, &out);
	if (rc)
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int account_set_disabled(tds_req *req, tds_resp *resp, bool disabled)
{
	const char *id = tds_req_param(req, "id");
	if (disabled && req->principal->account_id && strcmp(req->principal->account_id, id) == 0)
		return tds_error_set(TDS_ECONFLICT, "cannot_disable_self", "an administrator cannot disable their own account");
	json_t *out;
	int rc = tds_identity_account_set_disabled(ctx_of(req), req->principal->account_id, id, disabled);
	if (rc || (rc = tds_identity_account_get(ctx_of(req), id, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int account_disable(tds_req *req, tds_resp *resp) { return account_set_disabled(req, resp, true); }
static int account_enable(tds_req *req, tds_resp *resp) { return account_set_disabled(req, resp, false); }

static int apikey_create(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"name", TDS_JSON_STRING, true, 128},
	    {"roles", TDS_JSON_STRING_ARRAY, false, TDS_ROLES_ALL_NAMES},
	    {"expires_in_s", TDS_JSON_INTEGER, false, 0},
	};
	json_t *body, *out;
	tds_roles roles;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc || (rc = roles_field(body, "roles", req->principal->roles, &roles)))
		return rc;
	int64_t secs = tds_json_int(body, "expires_in_s", 90LL * 24 * 3600);
	if (secs <= 0 || secs > INT64_MAX / 1000)
		return tds_error_set(TDS_EINVAL, "invalid_expiry", "expires_in_s must be a positive number of seconds");
	if ((rc = tds_identity_apikey_create(ctx_of(req), req->principal->account_id, tds_json_str(body, "name", NULL),
					     roles, secs * 1000, &out)))
		return rc;
	return tds_resp_json(resp, 201, out);
}

static int apikey_list(tds_req *req, tds_resp *resp)
{
	json_t *out;
	int rc = tds_identity_apikey_list(ctx_of(req), req->principal->account_id, &out);
	if (rc)
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int apikey_revoke(tds_req *req, tds_resp *resp)
{
	const char *id = tds_req_param(req, "id");
	int rc = tds_identity_apikey_revoke(ctx_of(req), req->principal->account_id, id);
	if (rc)
		return rc;
	return tds_resp_json(resp, 200, json_pack("{s:s, s:b}", "id", id, "revoked", 1));
}

int tds_identity_routes(tds_identity *id, tds_router *r)
{
	static const struct {
		const char *method, *pattern;
		tds_roles roles;
		tds_handler fn;
		const char *summary;
	} routes[] = {
	    {"POST", "/api/v1/auth/login", TDS_ROLES_PUBLIC, login, "Log in with username and password; returns a session token"},
	    {"POST", "/api/v1/auth/logout", ANY_ACCOUNT, logout, "End the calling session"},
	    {"GET", "/api/v1/auth/whoami", TDS_ROLES_ANY_USER, whoami, "The calling principal and its roles"},
	    {"POST", "/api/v1/accounts", TDS_ROLE_ADMIN, account_create, "Create an account"},
	    {"GET", "/api/v1/accounts", TDS_ROLE_ADMIN, account_list, "List accounts (paged)"},
	    {"GET", "/api/v1/accounts/{id}", TDS_ROLES_ANY_USER, account_get, "Read an account (admin, or your own)"},
	    {"POST", "/api/v1/accounts/{id}/disable", TDS_ROLE_ADMIN, account_disable, "Disable an account and end its sessions"},
	    {"POST", "/api/v1/accounts/{id}/enable", TDS_ROLE_ADMIN, account_enable, "Enable a disabled account"},
	    {"POST", "/api/v1/api-keys", ANY_ACCOUNT, apikey_create, "Create an API key for your account (shown once)"},
	    {"GET", "/api/v1/api-keys", ANY_ACCOUNT, apikey_list, "List your API keys"},
	    {"DELETE", "/api/v1/api-keys/{id}", ANY_ACCOUNT, apikey_revoke, "Revoke one of your API keys"},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(routes); i++) {
		int rc = tds_router_add(r, routes[i].method, routes[i].pattern, routes[i].roles, routes[i].fn, id,
					routes[i].summary);
		if (rc)
			return rc;
	}
	return 0;
}
