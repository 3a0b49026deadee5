/*
 * routes.c — the operation module's HTTP handlers (operator only). Translation only: the principal
 * into a caller, request JSON into the module's inputs, results into JSON. The module itself checks
 * roles, organisations and states (operation.h), so the same rules hold for every caller.
 */
#include "operation/internal.h"

#include <string.h>

#define APPLICANT_ROLES (TDS_ROLE_CONSUMER | TDS_ROLE_DEVELOPER)
#define READ_ROLES (APPLICANT_ROLES | OP_READ_ALL_ROLES)
#define REVIEW_ROLES (OP_REVIEWER_ROLES | TDS_ROLE_REGULATOR)

static tds_operation *op_of(tds_req *req) { return req->route_ctx; }

static tds_operation_caller caller_of(tds_req *req)
{
	const tds_principal *p = req->principal;
	return (tds_operation_caller){.org = p->org_id, .account = p->account_id, .roles = p->roles};
}

static int body_object(tds_req *req, json_t **in) { return tds_req_json(req, NULL, 0, true, in); }

static int app_create(tds_req *req, tds_resp *resp)
{
	json_t *in, *out;
	tds_operation_caller c = caller_of(req);
	int rc = body_object(req, &in);
	if (rc || (rc = tds_operation_application_create(op_of(req), &c, in, &out)))
		return rc;
	return tds_resp_json(resp, 201, out);
}

static int app_update(tds_req *req, tds_resp *resp)
{
	json_t *in, *out;
	tds_operation_caller c = caller_of(req);
	int rc = body_object(req, &in);
	if (rc || (rc = tds_operation_application_update(op_of(req), &c, tds_req_param(req, "id"), in, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int app_submit(tds_req *req, tds_resp *resp)
{
	json_t *in, *out;
	tds_operation_caller c = caller_of(req);
	int rc = body_object(req, &in);
	if (rc || (rc = tds_operation_application_submit(op_of(req), &c, tds_req_param(req, "id"), in, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int app_review(tds_req *req, tds_resp *resp)
{
	json_t *in, *out;
	tds_operation_caller c = caller_of(req);
	int rc = body_object(req, &in);
	if (rc || (rc = tds_operation_review(op_of(req), &c, tds_req_param(req, "id"), in, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int app_get(tds_req *req, tds_resp *resp)
{
	json_t *out;
	tds_operation_caller c = caller_of(req);
	int rc = tds_operation_application_get(op_of(req), &c, tds_req_param(req, "id"), &out);
	return rc ? rc : tds_resp_json(resp, 200, out);
}

static int app_list(tds_req *req, tds_resp *resp)
{
	int limit;
	const char *cursor;
	json_t *out;
	tds_operation_caller c = caller_of(req);
	int rc = tds_req_page(req, 20, 100, &limit, &cursor);
	if (rc || (rc = tds_operation_application_list(op_of(req), &c, tds_req_query(req, "state"), limit, cursor, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int app_overdue(tds_req *req, tds_resp *resp)
{
	int limit;
	const char *cursor;
	json_t *out;
	tds_operation_caller c = caller_of(req);
	int rc = tds_req_page(req, 20, 100, &limit, &cursor);
	if (rc || (rc = tds_operation_overdue(op_of(req), &c, tds_now_ms(), limit, cursor, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int auth_get(tds_req *req, tds_resp *resp)
{
	json_t *out;
	tds_operation_caller c = caller_of(req);
	int rc = tds_operation_authorization_get(op_of(req), &c, tds_req_param(req, "id"), &out);
	return rc ? rc : tds_resp_json(resp, 200, out);
}

static int auth_list(tds_req *req, tds_resp *resp)
{
	int limit;
	const char *cursor;
	json_t *out;
	tds_operation_caller c = caller_of(req);
	int rc = tds_req_page(req, 20, 100, &limit, &cursor);
	if (rc || (rc = tds_operation_authorization_list(op_of(req), &c, limit, cursor, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

int tds_operation_routes(tds_operation *op, tds_router *api)
{
	static const struct {
		const char *method, *path;
		tds_roles roles;
		tds_handler fn;
		const char *summary;
	} R[] = {
	    {"POST", "/api/v1/applications", APPLICANT_ROLES, app_create,
	     "Draft an authorization application (授权申请) for one scenario; the minimum-necessary check flags issues"},
	    {"GET", "/api/v1/applications", READ_ROLES, app_list, "Applications: reviewers see all, applicants their own"},
	    {"GET", "/api/v1/applications/overdue", REVIEW_ROLES, app_overdue, "Review steps past their deadline"},
	    {"GET", "/api/v1/applications/{id}", READ_ROLES, app_get, "One application with its issues and review steps"},
	    {"PUT", "/api/v1/applications/{id}", APPLICANT_ROLES, app_update,
	     "Replace the content of a draft or rejected application"},
	    {"POST", "/api/v1/applications/{id}/submit", APPLICANT_ROLES, app_submit,
	     "Submit a draft, or resubmit a rejected application with a rectification statement"},
	    {"POST", "/api/v1/applications/{id}/reviews", REVIEW_ROLES, app_review,
	     "Accept, review (initial, final) or concur as the regulator: approve or reject with reasons and advice"},
	    {"GET", "/api/v1/authorizations", READ_ROLES, auth_list, "Authorization lists (授权清单)"},
	    {"GET", "/api/v1/authorizations/{id}", READ_ROLES, auth_get, "One authorization list, item by item"},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(R); i++) {
		int rc = tds_router_add(api, R[i].method, R[i].path, R[i].roles, R[i].fn, op, R[i].summary);
		if (rc)
			return rc;
	}
	return 0;
}
