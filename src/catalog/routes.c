/*
 * routes.c — the catalog's HTTP handlers (data sources for now). Translation only: the request's
 * JSON into a tds_source_new, the principal into an organisation scope and an evidence actor, the
 * result into JSON. Every route admits provider and admin; a provider acts only on its own
 * organisation's sources, an admin on all (tds_identity_can actions come with the catalog's part of
 * the permission matrix).
 */
#include "catalog/internal.h"

#include "http/http.h"

#include <stdlib.h>
#include <string.h>

#define SOURCE_ROLES (TDS_ROLE_PROVIDER | TDS_ROLE_ADMIN)

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

int tds_catalog_routes(tds_catalog *c, struct tds_router *r)
{
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
	return 0;
}
