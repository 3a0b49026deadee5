/*
 * routes.c — the catalog's HTTP handlers: data sources (数据源) and resources (数据资源).
 * Translation only: the request's JSON into the module's inputs, the principal into an organisation
 * scope and an evidence actor, the result into JSON. Source routes admit provider and admin; a
 * provider acts only on its own organisation's sources, an admin on all. Resource routes: provider
 * and admin register, update, publish and deregister (a provider only its organisation's); operator
 * and admin review, override scan verdicts, confirm deregistrations and remove; all three read (a
 * provider only its own). tds_identity_can actions come with the catalog's part of the permission
 * matrix. Product routes follow the resources' model: provider and admin register, update, list and
 * delist; operator and admin review and remove; all three read (a provider only its own).
 */
#include "catalog/internal.h"

#include "http/http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SOURCE_ROLES (TDS_ROLE_PROVIDER | TDS_ROLE_ADMIN)
#define RES_PROVIDER_ROLES (TDS_ROLE_PROVIDER | TDS_ROLE_ADMIN)
#define RES_REVIEW_ROLES (TDS_ROLE_OPERATOR | TDS_ROLE_ADMIN)
#define RES_READ_ROLES (TDS_ROLE_PROVIDER | TDS_ROLE_OPERATOR | TDS_ROLE_ADMIN)

static tds_catalog *cat_of(tds_req *req) { return req->route_ctx; }

/* The organisation whose sources the principal may see: NULL (all) for an admin, its own for a
 * provider; a provider without an organisation may see nothing. */
static int scope(tds_req *req, const char **org)
{
	const tds_principal *p = req->principal;
	*org = NULL;
	if (p->roles & TDS_ROLE_ADMIN)
		return 0;
	if (!p->org_id)
		return tds_error_set(TDS_EPERM, "no_organisation", "sources belong to organisations; this account has none");
	*org = p->org_id;
	return 0;
}

static tds_ledger_actor actor_of(tds_req *req)
{
	return (tds_ledger_actor){.org = req->principal->org_id, .account = req->principal->account_id};
}

static int source_create(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"name", TDS_JSON_STRING, true, 128},	   {"kind", TDS_JSON_STRING, true, 16},
	    {"path", TDS_JSON_STRING, false, 1024},	   {"content_base64", TDS_JSON_STRING, false, 0},
	    {"connection", TDS_JSON_STRING, false, 4096}, {"table", TDS_JSON_STRING, false, 255},
	    {"encoding", TDS_JSON_STRING, false, 16},	   {"header", TDS_JSON_STRING, false, 8},
	    {"delimiter", TDS_JSON_STRING, false, 2},	   {"ragged", TDS_JSON_STRING, false, 8},
	};
	json_t *in;
	const char *org;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &in);
	if (rc || (rc = scope(req, &org)))
		return rc;
	tds_source_new s = {.org_id = req->principal->org_id,
			    .name = tds_json_str(in, "name", NULL),
			    .kind = tds_json_str(in, "kind", NULL),
			    .path = tds_json_str(in, "path", NULL),
			    .connection = tds_json_str(in, "connection", NULL),
			    .table = tds_json_str(in, "table", NULL)};
	const char *enc = tds_json_str(in, "encoding", NULL), *hdr = tds_json_str(in, "header", NULL),
		   *delim = tds_json_str(in, "delimiter", NULL), *ragged = tds_json_str(in, "ragged", NULL);
	if (enc && (rc = tds_csv_encoding_parse(enc, &s.csv.encoding)))
		return rc;
	if (hdr) {
		if (strcmp(hdr, "auto") && strcmp(hdr, "yes") && strcmp(hdr, "no"))
			return tds_error_set(TDS_EINVAL, "invalid_header", "header must be auto, yes or no");
		s.csv.header = hdr[0] == 'y' ? TDS_CSV_HEADER_YES : hdr[0] == 'n' ? TDS_CSV_HEADER_NO : TDS_CSV_HEADER_AUTO;
	}
	if (delim) {
		if (strcmp(delim, ",") && strcmp(delim, ";") && strcmp(delim, "|") && strcmp(delim, "\t") && strcmp(delim, "\\t"))
			return tds_error_set(TDS_EINVAL, "invalid_delimiter", "delimiter must be , ; | or \\t");
		s.csv.delimiter = delim[0] == '\\' ? '\t' : delim[0];
	}
	if (ragged) {
		if (strcmp(ragged, "refuse") && strcmp(ragged, "report"))
			return tds_error_set(TDS_EINVAL, "invalid_ragged", "ragged must be refuse or report");
		s.csv.report_ragged = strcmp(ragged, "report") == 0;
	}
	tds_buf content = TDS_BUF_INIT;
	const char *b64 = tds_json_str(in, "content_base64", NULL);
	if (b64) {
		if (tds_b64_decode(b64, strlen(b64), &content)) {
			tds_buf_free(&content);
			return tds_error_set(TDS_EINVAL, "invalid_content", "content_base64 is not valid base64");
		}
		s.content = content.data ? content.data : "";
		s.content_len = content.len;
	}
	tds_ledger_actor a = actor_of(req);
	json_t *out;
	rc = tds_catalog_source_create(cat_of(req), &a, &s, &out);
	tds_buf_free(&content);
	return rc ? rc : tds_resp_json(resp, 201, out);
}

static int source_list(tds_req *req, tds_resp *resp)
{
	const char *org, *cursor;
	int limit, rc;
	json_t *out;
	if ((rc = scope(req, &org)) || (rc = tds_req_page(req, 50, 500, &limit, &cursor)))
		return rc;
	if (cursor && !tds_id_valid(cursor, "src"))
		return tds_error_set(TDS_EINVAL, "invalid_cursor", "cursor must be a source id from next_cursor");
	if ((rc = tds_catalog_source_list(cat_of(req), org, limit, cursor, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int source_get(tds_req *req, tds_resp *resp)
{
	const char *org;
	json_t *out;
	int rc = scope(req, &org);
	if (rc || (rc = tds_catalog_source_get(cat_of(req), org, tds_req_param(req, "id"), &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int source_import(tds_req *req, tds_resp *resp)
{
	const char *org;
	json_t *out;
	int rc = scope(req, &org);
	if (rc)
		return rc;
	if (req->body_len && !(req->body_len == 2 && memcmp(req->body, "{}", 2) == 0))
		return tds_error_set(TDS_EINVAL, "invalid_body", "import takes no body (options were set at registration)");
	tds_ledger_actor a = actor_of(req);
	if ((rc = tds_catalog_source_import(cat_of(req), &a, org, tds_req_param(req, "id"), NULL, NULL, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int source_sample(tds_req *req, tds_resp *resp)
{
	const char *org, *ls = tds_req_query(req, "limit");
	int rc = scope(req, &org), limit = 0;
	json_t *out;
	if (rc)
		return rc;
	if (ls) {
		size_t n = strlen(ls);
		if (n == 0 || n > 4 || strspn(ls, "0123456789") != n || (limit = atoi(ls)) < 1 || limit > 1000)
			return tds_error_set(TDS_EINVAL, "invalid_limit", "limit must be 1-1000");
	}
	if ((rc = tds_catalog_source_sample(cat_of(req), org, tds_req_param(req, "id"), tds_req_query(req, "table"), limit,
					    &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int source_delete(tds_req *req, tds_resp *resp)
{
	const char *org;
	int rc = scope(req, &org);
	if (rc)
		return rc;
	tds_ledger_actor a = actor_of(req);
	const char *id = tds_req_param(req, "id");
	if ((rc = tds_catalog_source_delete(cat_of(req), &a, org, id)))
		return rc;
	return tds_resp_json(resp, 200, json_pack("{s:s, s:b}", "id", id, "deleted", 1));
}

/* ---- resources ---- */

/* Readers: admin and operator see every resource, a provider its organisation's. */
static int res_scope(tds_req *req, const char **org)
{
	*org = NULL;
	if (req->principal->roles & (TDS_ROLE_ADMIN | TDS_ROLE_OPERATOR))
		return 0;
	return scope(req, org);
}

/* The request body as a JSON object (any members: the module checks them strictly). */
static int body_object(tds_req *req, json_t **in)
{
	return tds_req_json(req, NULL, 0, true, in);
}

static int res_create(tds_req *req, tds_resp *resp)
{
	const char *org;
	json_t *in, *out;
	int rc = body_object(req, &in);
	if (rc || (rc = scope(req, &org)))
		return rc;
	tds_ledger_actor a = actor_of(req);
	if ((rc = tds_catalog_resource_create(cat_of(req), &a, org, in, &out)))
		return rc;
	return tds_resp_json(resp, 201, out);
}

static int res_list(tds_req *req, tds_resp *resp)
{
	const char *org, *cursor;
	int limit, rc;
	json_t *out;
	if ((rc = res_scope(req, &org)) || (rc = tds_req_page(req, 50, 500, &limit, &cursor)) ||
	    (rc = tds_catalog_resource_list(cat_of(req), org, tds_req_query(req, "status"), limit, cursor, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int res_get(tds_req *req, tds_resp *resp)
{
	const char *org;
	json_t *out;
	int rc = res_scope(req, &org);
	if (rc || (rc = tds_catalog_resource_get(cat_of(req), org, tds_req_param(req, "id"), &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int res_by_code(tds_req *req, tds_resp *resp)
{
	const char *org, *code = tds_req_query(req, "code");
	json_t *out;
	int rc = res_scope(req, &org);
	if (rc)
		return rc;
	if (!code)
		return tds_error_set(TDS_EINVAL, "missing_code", "give the resource code as ?code=");
	if ((rc = tds_catalog_resource_by_code(cat_of(req), org, code, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

typedef int (*res_provider_fn)(tds_catalog *, const tds_ledger_actor *, const char *, const char *, const json_t *,
			       json_t **);
typedef int (*res_reviewer_fn)(tds_catalog *, const tds_ledger_actor *, const char *, const json_t *, json_t **);

static int res_provider_op(tds_req *req, tds_resp *resp, res_provider_fn fn)
{
	const char *org;
	json_t *in, *out;
	int rc = body_object(req, &in);
	if (rc || (rc = scope(req, &org)))
		return rc;
	tds_ledger_actor a = actor_of(req);
	if ((rc = fn(cat_of(req), &a, org, tds_req_param(req, "id"), in, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int res_reviewer_op(tds_req *req, tds_resp *resp, res_reviewer_fn fn)
{
	json_t *in, *out;
	int rc = body_object(req, &in);
	if (rc)
		return rc;
	tds_ledger_actor a = actor_of(req);
	if ((rc = fn(cat_of(req), &a, tds_req_param(req, "id"), in, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int res_update(tds_req *req, tds_resp *resp) { return res_provider_op(req, resp, tds_catalog_resource_update); }
static int res_publish(tds_req *req, tds_resp *resp) { return res_provider_op(req, resp, tds_catalog_resource_publish); }
static int res_deregister(tds_req *req, tds_resp *resp)
{
	return res_provider_op(req, resp, tds_catalog_resource_deregister);
}
static int res_override(tds_req *req, tds_resp *resp) { return res_reviewer_op(req, resp, tds_catalog_resource_override); }
static int res_review(tds_req *req, tds_resp *resp) { return res_reviewer_op(req, resp, tds_catalog_resource_review); }
static int res_confirm(tds_req *req, tds_resp *resp)
{
	return res_reviewer_op(req, resp, tds_catalog_resource_confirm_deregistration);
}
static int res_remove(tds_req *req, tds_resp *resp) { return res_reviewer_op(req, resp, tds_catalog_resource_remove); }

/* ---- products (数据产品): same role model as resources ---- */

static int prd_create(tds_req *req, tds_resp *resp)
{
	const char *org;
	json_t *in, *out;
	int rc = body_object(req, &in);
	if (rc || (rc = scope(req, &org)))
		return rc;
	tds_ledger_actor a = actor_of(req);
	if ((rc = tds_catalog_product_create(cat_of(req), &a, org, in, &out)))
		return rc;
	return tds_resp_json(resp, 201, out);
}

static int prd_list(tds_req *req, tds_resp *resp)
{
	const char *org, *cursor;
	int limit, rc;
	json_t *out;
	if ((rc = res_scope(req, &org)) || (rc = tds_req_page(req, 50, 500, &limit, &cursor)) ||
	    (rc = tds_catalog_product_list(cat_of(req), org, tds_req_query(req, "status"), tds_req_query(req, "form"), limit,
					   cursor, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int prd_get(tds_req *req, tds_resp *resp)
{
	const char *org;
	json_t *out;
	int rc = res_scope(req, &org);
	if (rc || (rc = tds_catalog_product_get(cat_of(req), org, tds_req_param(req, "id"), &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int prd_version(tds_req *req, tds_resp *resp)
{
	const char *org, *vs = tds_req_param(req, "version");
	json_t *out;
	int rc = res_scope(req, &org);
	if (rc)
		return rc;
	size_t n = vs ? strlen(vs) : 0;
	if (n == 0 || n > 9 || strspn(vs, "0123456789") != n || vs[0] == '0')
		return tds_error_set(TDS_EINVAL, "invalid_version", "the version is a positive integer");
	if ((rc = tds_catalog_product_version(cat_of(req), org, tds_req_param(req, "id"), atoll(vs), &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int prd_by_code(tds_req *req, tds_resp *resp)
{
	const char *org, *code = tds_req_query(req, "code");
	json_t *out;
	int rc = res_scope(req, &org);
	if (rc)
		return rc;
	if (!code)
		return tds_error_set(TDS_EINVAL, "missing_code", "give the product code as ?code=");
	if ((rc = tds_catalog_product_by_code(cat_of(req), org, code, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int prd_update(tds_req *req, tds_resp *resp) { return res_provider_op(req, resp, tds_catalog_product_update); }
static int prd_list_on(tds_req *req, tds_resp *resp) { return res_provider_op(req, resp, tds_catalog_product_list_on); }
static int prd_delist(tds_req *req, tds_resp *resp) { return res_provider_op(req, resp, tds_catalog_product_delist); }
static int prd_review(tds_req *req, tds_resp *resp) { return res_reviewer_op(req, resp, tds_catalog_product_review); }
static int prd_remove(tds_req *req, tds_resp *resp) { return res_reviewer_op(req, resp, tds_catalog_product_remove); }

static int product_routes(tds_catalog *c, struct tds_router *r)
{
	static const struct {
		const char *method, *pattern;
		tds_roles roles;
		tds_handler fn;
		const char *summary;
	} prd[] = {
	    {"POST", "/api/v1/products", RES_PROVIDER_ROLES, prd_create,
	     "Register a data product (数据产品) on an approved resource: an API (wizard or SQL script), a dataset or a file"},
	    {"GET", "/api/v1/products", RES_READ_ROLES, prd_list, "Data products (status, form, limit, cursor); a provider sees its own"},
	    {"GET", "/api/v1/product-codes", RES_READ_ROLES, prd_by_code, "The product with a code (?code=), the code validated"},
	    {"GET", "/api/v1/products/{id}", RES_READ_ROLES, prd_get,
	     "One product with its latest and last approved versions and its reviews"},
	    {"GET", "/api/v1/products/{id}/versions/{version}", RES_READ_ROLES, prd_version,
	     "One immutable version of a product, exactly as registered and reviewed (what a contract pins)"},
	    {"POST", "/api/v1/products/{id}/update", RES_PROVIDER_ROLES, prd_update,
	     "Update a product: a new version that needs review; a listed product stays listed at its approved version"},
	    {"POST", "/api/v1/products/{id}/review", RES_REVIEW_ROLES, prd_review,
	     "Approve or reject a product's pending version; the first approval gives the product its code"},
	    {"POST", "/api/v1/products/{id}/list", RES_PROVIDER_ROLES, prd_list_on,
	     "List (上架) an approved product in the fused catalog with a scope"},
	    {"POST", "/api/v1/products/{id}/delist", RES_PROVIDER_ROLES, prd_delist,
	     "Delist (下架) a product: withdrawn from the fused catalog"},
	    {"POST", "/api/v1/products/{id}/remove", RES_REVIEW_ROLES, prd_remove, "The operator removes a product (forced)"},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(prd); i++) {
		int rc = tds_router_add(r, prd[i].method, prd[i].pattern, prd[i].roles, prd[i].fn, c, prd[i].summary);
		if (rc)
			return rc;
	}
	return 0;
}

static int fused_routes(tds_catalog *c, struct tds_router *r);

int tds_catalog_routes(tds_catalog *c, struct tds_router *r)
{
	int frc = fused_routes(c, r); /* the fused catalog and search, at the end of this file */
	if (frc)
		return frc;
	static const struct {
		const char *method, *pattern;
		tds_handler fn;
		const char *summary;
	} routes[] = {
	    {"POST", "/api/v1/sources", source_create,
	     "Register a data source: a CSV (path in the import directory, or uploaded), a SQLite file or a PostgreSQL table"},
	    {"GET", "/api/v1/sources", source_list, "Data sources of the caller's organisation (all for an admin)"},
	    {"GET", "/api/v1/sources/{id}", source_get, "One data source with its metadata"},
	    {"POST", "/api/v1/sources/{id}/import", source_import,
	     "Import a CSV source into the connector's data store, or profile a database source in place"},
	    {"GET", "/api/v1/sources/{id}/sample", source_sample,
	     "The first rows of a source (limit, table) for the owner's eyes; raw data, never sent off the connector"},
	    {"DELETE", "/api/v1/sources/{id}", source_delete, "Delete a data source and its imported data"},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(routes); i++) {
		int rc = tds_router_add(r, routes[i].method, routes[i].pattern, SOURCE_ROLES, routes[i].fn, c, routes[i].summary);
		if (rc)
			return rc;
	}
	static const struct {
		const char *method, *pattern;
		tds_roles roles;
		tds_handler fn;
		const char *summary;
	} res[] = {
	    {"POST", "/api/v1/resources", RES_PROVIDER_ROLES, res_create,
	     "Register a data resource (数据资源) on an imported source: metadata, the source's profile and a sensitive-data scan"},
	    {"GET", "/api/v1/resources", RES_READ_ROLES, res_list, "Data resources (status, limit, cursor); a provider sees its own"},
	    {"GET", "/api/v1/resource-codes", RES_READ_ROLES, res_by_code, "The resource with a code (?code=), the code validated"},
	    {"GET", "/api/v1/resources/{id}", RES_READ_ROLES, res_get, "One resource with its profile, scan and reviews"},
	    {"PUT", "/api/v1/resources/{id}", RES_PROVIDER_ROLES, res_update,
	     "Update a resource's metadata: a new version, scanned again; re-reviewed when rejected or its level rises"},
	    {"POST", "/api/v1/resources/{id}/overrides", RES_REVIEW_ROLES, res_override,
	     "A reviewer overrides the scan's verdict of one column, with a reason"},
	    {"POST", "/api/v1/resources/{id}/reviews", RES_REVIEW_ROLES, res_review,
	     "Approve or reject a resource (legality, masking adequacy, filing status); 重要/核心 need two reviewers"},
	    {"POST", "/api/v1/resources/{id}/publish", RES_PROVIDER_ROLES, res_publish,
	     "Publish an approved resource to the whole space, members with a role, or named organisations"},
	    {"POST", "/api/v1/resources/{id}/deregister", RES_PROVIDER_ROLES, res_deregister,
	     "The provider asks to deregister (注销) a resource"},
	    {"POST", "/api/v1/resources/{id}/deregister/confirm", RES_REVIEW_ROLES, res_confirm,
	     "The operator confirms a deregistration once hosted copies are destroyed"},
	    {"POST", "/api/v1/resources/{id}/remove", RES_REVIEW_ROLES, res_remove, "The operator removes a resource (forced)"},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(res); i++) {
		int rc = tds_router_add(r, res[i].method, res[i].pattern, res[i].roles, res[i].fn, c, res[i].summary);
		if (rc)
			return rc;
	}
	return product_routes(c, r); /* products (数据产品) */
}

/* ---- fused catalog (融合目录) and search ---- */

#define CATALOG_IMPORT_ROLES (TDS_ROLE_OPERATOR | TDS_ROLE_ADMIN)

static tds_catalog_viewer viewer_of(tds_req *req)
{
	return (tds_catalog_viewer){.org = req->principal->org_id, .roles = req->principal->roles};
}

/* POST /api/v1/catalog/entries: a connector's outbox, signed by the connector (TDS_ROLE_NODE); the
 * provider organisation is the certificate's. */
static int cat_entries_receive(tds_req *req, tds_resp *resp)
{
	json_t *in, *out;
	int rc = body_object(req, &in);
	if (rc)
		return rc;
	const tds_principal *p = req->principal;
	if (!(p->roles & TDS_ROLE_NODE) || p->account_id)
		return tds_error_set(TDS_EPERM, "signed_connector_only", "catalog entries come from connectors' signed calls");
	tds_ledger_actor a = {.org = p->org_id, .node = p->username};
	if ((rc = tds_catalog_entries_receive(cat_of(req), &a, p->org_id, in, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int cat_search(tds_req *req, tds_resp *resp)
{
	tds_catalog_query q = {.q = tds_req_query(req, "q"),
			       .kind = tds_req_query(req, "kind"),
			       .form = tds_req_query(req, "form"),
			       .domain = tds_req_query(req, "domain"),
			       .grade = tds_req_query(req, "grade"),
			       .update_frequency = tds_req_query(req, "update_frequency"),
			       .authorization_type = tds_req_query(req, "authorization_type"),
			       .org = tds_req_query(req, "org"),
			       .sort = tds_req_query(req, "sort")};
	const char *cursor;
	int rc = tds_req_page(req, 20, 100, &q.limit, &cursor);
	if (rc)
		return rc;
	q.cursor = cursor;
	tds_catalog_viewer v = viewer_of(req);
	json_t *out;
	if ((rc = tds_catalog_search(cat_of(req), &v, &q, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

static int cat_entry_get(tds_req *req, tds_resp *resp)
{
	const char *format = tds_req_query(req, "format");
	if (format && strcmp(format, "json") && strcmp(format, "dcat"))
		return tds_error_set(TDS_EINVAL, "invalid_format", "format must be json or dcat");
	json_t *e;
	int rc = tds_catalog_entry_get(cat_of(req), tds_req_param(req, "id"), &e);
	if (rc)
		return rc;
	tds_catalog_viewer v = viewer_of(req);
	if (!tds_catalog_entry_visible(e, &v)) {
		json_decref(e);
		return tds_error_set(TDS_ENOTFOUND, "entry_not_found", "no such catalog entry");
	}
	if (format && !strcmp(format, "dcat")) {
		json_t *d = tds_catalog_entry_dcat(e, cat_of(req)->code_base);
		json_decref(e);
		return d ? tds_resp_json(resp, 200, d) : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	}
	return tds_resp_json(resp, 200, e);
}

/* GET /api/v1/catalog/entry-codes?code=: codes hold '/', which a path segment cannot carry. */
static int cat_entry_by_code(tds_req *req, tds_resp *resp)
{
	const char *code = tds_req_query(req, "code");
	if (!code || !*code)
		return tds_error_set(TDS_EINVAL, "missing_code", "give the entry's code as ?code=");
	json_t *e;
	int rc = tds_catalog_entry_get(cat_of(req), code, &e);
	if (rc)
		return rc;
	tds_catalog_viewer v = viewer_of(req);
	if (!tds_catalog_entry_visible(e, &v)) {
		json_decref(e);
		return tds_error_set(TDS_ENOTFOUND, "entry_not_found", "no such catalog entry");
	}
	return tds_resp_json(resp, 200, e);
}

static int cat_related(tds_req *req, tds_resp *resp)
{
	int limit, rc = tds_req_page(req, 10, 50, &limit, NULL);
	if (rc)
		return rc;
	tds_catalog_viewer v = viewer_of(req);
	json_t *out;
	if ((rc = tds_catalog_related(cat_of(req), &v, tds_req_param(req, "id"), limit, &out)))
		return rc;
	return tds_resp_json(resp, 200, out);
}

/* POST /api/v1/catalog/import: a JSON array of items, {"items":[…]}, {"content_base64":"<CSV>"} or
 * a text/csv body. The items belong to the importing principal's organisation, or to the node. */
static int cat_import(tds_req *req, tds_resp *resp)
{
	const char *ct = tds_req_header(req, "Content-Type");
	const char *org = req->principal->org_id ? req->principal->org_id : cat_of(req)->node_id;
	tds_ledger_actor a = actor_of(req);
	json_t *out = NULL;
	int rc;
	if (!req->body || !req->body_len)
		return tds_error_set(TDS_EINVAL, "invalid_body", "give the catalog: a JSON array of items or a CSV");
	if (ct && !strncasecmp(ct, "text/csv", 8)) {
		rc = tds_catalog_import_csv(cat_of(req), &a, org, req->body, req->body_len, &out);
	} else if (ct && strncasecmp(ct, "application/json", 16)) {
		return tds_error_set(TDS_EINVAL, "unsupported_media_type", "send application/json or text/csv");
	} else {
		json_error_t err;
		json_t *in = json_loadb(req->body, req->body_len, 0, &err);
		if (!in)
			return tds_error_set(TDS_EINVAL, "invalid_json", "the body is not JSON: %s (line %d)", err.text, err.line);
		if (json_is_array(in)) {
			rc = tds_catalog_import_items(cat_of(req), &a, org, in, &out);
		} else {
			static const tds_json_field f[] = {{"items", TDS_JSON_ARRAY, false, 0},
							   {"content_base64", TDS_JSON_STRING, false, 0}};
			const char *b64 = tds_json_str(in, "content_base64", NULL);
			rc = tds_json_check(in, f, TDS_ARRAY_LEN(f), false);
			if (!rc && !b64 == !json_object_get(in, "items"))
				rc = tds_error_set(TDS_EINVAL, "invalid_body", "give either items or content_base64 (a CSV)");
			if (!rc && b64) {
				tds_buf csv = TDS_BUF_INIT;
				if (tds_b64_decode(b64, strlen(b64), &csv))
					rc = tds_error_set(TDS_EINVAL, "invalid_content", "content_base64 is not valid base64");
				else
					rc = tds_catalog_import_csv(cat_of(req), &a, org, csv.data ? csv.data : "", csv.len, &out);
				tds_buf_free(&csv);
			} else if (!rc) {
				rc = tds_catalog_import_items(cat_of(req), &a, org, json_object_get(in, "items"), &out);
			}
		}
		json_decref(in);
	}
	return rc ? rc : tds_resp_json(resp, 201, out);
}

static int fused_routes(tds_catalog *c, struct tds_router *r)
{
	static const struct {
		const char *method, *pattern;
		tds_roles roles;
		tds_handler fn;
		const char *summary;
	} fc[] = {
	    {"POST", "/api/v1/catalog/entries", TDS_ROLE_NODE, cat_entries_receive,
	     "Operator: a connector's signed batch of fused-catalog entries (its outbox); the provider is the certificate's organisation"},
	    {"GET", "/api/v1/catalog/search", TDS_ROLES_ANY_USER, cat_search,
	     "Search the fused catalog (融合目录): q (Chinese or English), kind, form, domain, grade, update_frequency, "
	     "authorization_type, org, sort (relevance, recency, popularity), limit, cursor"},
	    {"GET", "/api/v1/catalog/entries/{id}", TDS_ROLES_ANY_USER, cat_entry_get,
	     "One fused-catalog entry by id; format=dcat gives its DCAT 3 JSON-LD view"},
	    {"GET", "/api/v1/catalog/entry-codes", TDS_ROLES_ANY_USER, cat_entry_by_code,
	     "The fused-catalog entry with a product or resource code (?code=)"},
	    {"GET", "/api/v1/catalog/entries/{id}/related", TDS_ROLES_ANY_USER, cat_related,
	     "Entries related to one: shared tags and co-usage (limit)"},
	    {"POST", "/api/v1/catalog/import", CATALOG_IMPORT_ROLES, cat_import,
	     "Operator: import a public-data catalog (公共数据目录) from JSON items or CSV; all or nothing, errors name the line"},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(fc); i++) {
		int rc = tds_router_add(r, fc[i].method, fc[i].pattern, fc[i].roles, fc[i].fn, c, fc[i].summary);
		if (rc)
			return rc;
	}
	return 0;
}
