/*
 * routes.c — the delivery module's HTTP handlers. Translation only: the consumer's token (the
 * Authorization header "Bearer tds1.…" or the body's "token"), a signed caller's node and
 * organisation, the request's body or query into a tds_delivery_request, and the result into the
 * response: the delivered bytes with X-Delivery-Id, X-Contract-Id, X-Content-Hash, X-Rows and
 * X-Next-Cursor headers.
 *
 * Data plane (the data listener): POST /data/v1/products/{id}/query, GET /data/v1/products/{id}/export.
 * Management API: GET /api/v1/deliveries, POST /api/v1/deliveries/{id}/receipt. Every route is
 * registered on both node kinds (one API description); the operator answers 409 not_a_connector.
 */
#include "delivery/internal.h"

#include "http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static tds_delivery *dlv_of(tds_req *req) { return req->route_ctx; }

/* The caller: a token from the body (when given) or the Authorization header, and a signed node. */
static tds_delivery_caller caller_of(tds_req *req, const char *body_token)
{
	const tds_principal *p = req->principal;
	bool node = p && (p->roles & TDS_ROLE_NODE) && !p->account_id;
	tds_delivery_caller c = {.caller_node = node ? p->username : NULL,
				 .caller_org = node ? p->org_id : NULL,
				 .peer = req->client_ip ? req->client_ip : "-"};
	const char *h = tds_req_header(req, "Authorization");
	if (body_token) {
		c.token = body_token;
	} else if (h && strncasecmp(h, "Bearer ", 7) == 0) {
		h += 7;
		while (*h == ' ')
			h++;
		if (strncmp(h, TDS_CONTRACT_TOKEN_PREFIX, strlen(TDS_CONTRACT_TOKEN_PREFIX)) == 0)
			c.token = h;
	}
	c.token_len = c.token ? strlen(c.token) : 0;
	return c;
}

/* An error answer, with Retry-After for a token-verification limit. */
static int refuse(tds_resp *resp, int rc)
{
	if (rc != TDS_ELIMIT)
		return rc;
	char secs[24];
	snprintf(secs, sizeof secs, "%lld", (long long)tds_json_int(tds_error_details(), "retry_after_s", 60));
	tds_resp_error(resp);
	tds_resp_header(resp, "Retry-After", secs);
	return 0;
}

static int send_result(tds_resp *resp, tds_delivery_result *r)
{
	char rows[24];
	snprintf(rows, sizeof rows, "%lld", (long long)r->rows);
	int rc = tds_resp_data(resp, 200, r->content_type, r->body.data, r->body.len);
	if (!rc)
		rc = tds_resp_header(resp, "X-Delivery-Id", r->id);
	if (!rc)
		rc = tds_resp_header(resp, "X-Contract-Id", r->contract_id);
	if (!rc)
		rc = tds_resp_header(resp, "X-Content-Hash", r->content_hash);
	if (!rc)
		rc = tds_resp_header(resp, "X-Rows", rows);
	if (!rc && r->next_cursor[0])
		rc = tds_resp_header(resp, "X-Next-Cursor", r->next_cursor);
	tds_delivery_result_free(r);
	return rc;
}

/* True when the Accept header asks for CSV (text/csv anywhere in it). */
static bool wants_csv(tds_req *req)
{
	const char *a = tds_req_header(req, "Accept");
	return a && strstr(a, "text/csv");
}

static int query(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"token", TDS_JSON_STRING, false, 0},
	    {"parameters", TDS_JSON_OBJECT, false, 0},
	    {"fields", TDS_JSON_STRING_ARRAY, true, TDS_DELIVERY_MAX_FIELDS},
	    {"purpose", TDS_JSON_STRING, false, TDS_POLICY_MAX_STRING},
	    {"environment", TDS_JSON_STRING, false, 32},
	    {"limit", TDS_JSON_INTEGER, false, 0},
	    {"cursor", TDS_JSON_STRING, false, 32},
	};
	json_t *in;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &in);
	if (rc)
		return rc;
	json_int_t limit = tds_json_int(in, "limit", 0);
	if (json_object_get(in, "limit") && (limit < 1 || limit > TDS_DELIVERY_QUERY_MAX_LIMIT))
		return tds_error_set(TDS_EINVAL, "invalid_limit", "limit must be 1-%d rows", TDS_DELIVERY_QUERY_MAX_LIMIT);
	const json_t *fields = json_object_get(in, "fields");
	const char **fv = tds_arena_alloc(req->arena, (json_array_size(fields) + 1) * sizeof *fv);
	size_t i;
	json_t *v;
	json_array_foreach(fields, i, v) fv[i] = json_string_value(v);
	tds_delivery_caller who = caller_of(req, tds_json_str(in, "token", NULL));
	tds_delivery_request rq = {.product_id = tds_req_param(req, "id"),
				   .parameters = json_object_get(in, "parameters"),
				   .fields = fv,
				   .n_fields = json_array_size(fields),
				   .purpose = tds_json_str(in, "purpose", NULL),
				   .environment = tds_json_str(in, "environment", NULL),
				   .limit = (int)limit,
				   .cursor = tds_json_str(in, "cursor", NULL),
				   .format = wants_csv(req) ? TDS_DELIVERY_CSV : TDS_DELIVERY_JSON};
	tds_delivery_result r;
	if ((rc = tds_delivery_query(dlv_of(req), &who, &rq, &r)))
		return refuse(resp, rc);
	return send_result(resp, &r);
}

static int export(tds_req *req, tds_resp *resp)
{
	if (strcmp(req->method, "GET")) /* HEAD would decide, charge and record a page nobody receives */
		return tds_error_set(TDS_EINVAL, "method_not_allowed", "an export is fetched with GET");
	const char *format = tds_req_query(req, "format"), *fields = tds_req_query(req, "fields");
	tds_delivery_request rq = {.product_id = tds_req_param(req, "id"),
				   .purpose = tds_req_query(req, "purpose"),
				   .environment = tds_req_query(req, "environment"),
				   .cursor = tds_req_query(req, "cursor")};
	if (!format || !strcmp(format, "csv"))
		rq.format = TDS_DELIVERY_CSV;
	else if (!strcmp(format, "ndjson"))
		rq.format = TDS_DELIVERY_NDJSON;
	else
		return tds_error_set(TDS_EINVAL, "invalid_format", "format must be csv or ndjson");
	const char *l = tds_req_query(req, "limit");
	if (l) {
		size_t n = strlen(l);
		if (n == 0 || n > 6 || strspn(l, "0123456789") != n || (rq.limit = atoi(l)) < 1 ||
		    rq.limit > TDS_DELIVERY_EXPORT_MAX_LIMIT)
			return tds_error_set(TDS_EINVAL, "invalid_limit", "limit must be 1-%d rows", TDS_DELIVERY_EXPORT_MAX_LIMIT);
	}
	if (rq.purpose && strlen(rq.purpose) > TDS_POLICY_MAX_STRING)
		return tds_error_set(TDS_EINVAL, "invalid_purpose", "purpose is at most %d bytes", TDS_POLICY_MAX_STRING);
	if (rq.environment && strlen(rq.environment) > 32)
		return tds_error_set(TDS_EINVAL, "invalid_environment", "environment is at most 32 bytes");
	if (!fields || !*fields)
		return tds_error_set(TDS_EINVAL, "fields_required", "name the fields you need: fields=a,b,…");
	if (strlen(fields) > 8192)
		return tds_error_set(TDS_ETOOBIG, "too_many_fields", "fields is at most 8192 bytes");
	const char **fv = tds_arena_alloc(req->arena, (TDS_DELIVERY_MAX_FIELDS + 1) * sizeof *fv);
	char *copy = tds_arena_strdup(req->arena, fields), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (rq.n_fields == TDS_DELIVERY_MAX_FIELDS)
			return tds_error_set(TDS_EINVAL, "too_many_fields", "at most %d fields", TDS_DELIVERY_MAX_FIELDS);
		fv[rq.n_fields++] = t;
	}
	rq.fields = fv;
	tds_delivery_caller who = caller_of(req, NULL);
	tds_delivery_result r;
	int rc = tds_delivery_export(dlv_of(req), &who, &rq, &r);
	if (rc)
		return refuse(resp, rc);
	return send_result(resp, &r);
}

static int receipt(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {{"token", TDS_JSON_STRING, false, 0}, {"content_hash", TDS_JSON_STRING, true, 128}};
	json_t *in, *out;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &in);
	if (rc)
		return rc;
	tds_delivery_caller who = caller_of(req, tds_json_str(in, "token", NULL));
	if (!who.token && !who.caller_org) {
		const tds_principal *p = req->principal;
		return p && p->roles ? tds_error_set(TDS_EPERM, "not_the_consumer",
						     "a receipt comes from the consumer: its connector's signed call or its token")
				     : tds_error_set(TDS_EAUTH, "token_required",
						     "present the consumer's token, or call as the consumer's connector");
	}
	if ((rc = tds_delivery_receipt(dlv_of(req), &who, tds_req_param(req, "id"), tds_json_str(in, "content_hash", ""),
				       &out)))
		return refuse(resp, rc);
	return tds_resp_json(resp, 200, out);
}

static int list(tds_req *req, tds_resp *resp)
{
	tds_delivery *d = dlv_of(req);
	if (d->is_operator)
		return tds_error_set(TDS_ECONFLICT, "not_a_connector", "deliveries are listed by the provider's connector");
	const tds_principal *p = req->principal;
	const char *org = NULL, *cursor, *cid = tds_req_query(req, "contract_id");
	int limit, rc;
	if ((p->roles & TDS_ROLE_NODE) && !p->account_id) {
		if (!p->org_id)
			return tds_error_set(TDS_EPERM, "no_organisation", "the calling connector has no organisation");
		org = p->org_id; /* a consumer's connector: its organisation's deliveries */
	}
	if (cid && !tds_id_valid(cid, "ctr"))
		return tds_error_set(TDS_EINVAL, "invalid_query", "contract_id must be a contract id (ctr_…)");
	json_t *out;
	if ((rc = tds_req_page(req, 50, 500, &limit, &cursor)) || (rc = tds_delivery_list(d, org, cid, limit, cursor, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

int tds_delivery_routes(tds_delivery *d, struct tds_router *api, struct tds_router *data)
{
	int rc;
	if ((rc = tds_router_add(data, "POST", "/data/v1/products/{id}/query", TDS_ROLES_PUBLIC, query, d,
				 "Connector: API delivery — runs an API product's approved query under the consumer's token "
				 "(policy check, masking, metering, evidence); JSON or CSV, paged")) ||
	    (rc = tds_router_add(data, "GET", "/data/v1/products/{id}/export", TDS_ROLES_PUBLIC, export, d,
				 "Connector: dataset delivery — one page of a dataset product's fields (csv or ndjson) after a "
				 "rowid cursor, field permissions and masks applied")) ||
	    (rc = tds_router_add(api, "GET", "/api/v1/deliveries", TDS_ROLE_ADMIN | TDS_ROLE_PROVIDER | TDS_ROLE_NODE, list, d,
				 "Connector: deliveries made (contract_id, limit, cursor); a consumer's connector sees its own")) ||
	    (rc = tds_router_add(api, "POST", "/api/v1/deliveries/{id}/receipt", TDS_ROLES_PUBLIC, receipt, d,
				 "Connector: the consumer confirms receipt of a delivery with the content hash of the bytes "
				 "received (its connector's signed call or its token)")))
		return rc;
	return 0;
}
