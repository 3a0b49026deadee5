/*
 * request.c — what a handler calls: tds_req_* readers (parameters, query, headers, JSON body, page)
 * and tds_resp_* writers (JSON, raw data, the DESIGN §5 error body, extra headers).
 *
 * Everything a reader returns lives in the request arena or is released with the request; writers
 * keep one malloc'd body that the server hands to libmicrohttpd. Not for routing, authentication or
 * sockets (router.c, server.c): nothing here blocks.
 */
#include "http/http_internal.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

static http_ctx *ctx_of(const tds_req *req) { return req ? (http_ctx *)req->internal : NULL; }

const char *tds_req_param(const tds_req *req, const char *name)
{
	http_ctx *c = ctx_of(req);
	if (!c || !c->route || !name)
		return NULL;
	size_t n = strlen(name);
	for (size_t i = 0; i < c->route->nseg; i++) {
		const http_seg *sg = &c->route->seg[i];
		if (sg->param && sg->len == n && memcmp(sg->text, name, n) == 0)
			return c->path.seg[i];
	}
	return NULL;
}

const char *tds_req_query(const tds_req *req, const char *name)
{
	http_ctx *c = ctx_of(req);
	for (size_t i = 0; c && name && i < c->nquery; i++)
		if (strcmp(c->query[i].key, name) == 0)
			return c->query[i].value;
	return NULL;
}

const char *tds_req_header(const tds_req *req, const char *name)
{
	http_ctx *c = ctx_of(req);
	if (!c || !c->conn || !name)
		return NULL;
	return MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, name);
}

int tds_http_decode_json_body(const char *content_type, const char *body, size_t len,
			      const tds_json_field *fields, size_t n, bool allow_unknown, json_t **out)
{
	*out = NULL;
	if (!http_content_type_json(content_type))
		return tds_error_set(TDS_EINVAL, "unsupported_media_type",
				     "request body must be sent with Content-Type: application/json");
	if (!body || len == 0)
		return tds_error_set(TDS_EINVAL, "invalid_json", "request body is empty; send a JSON object");
	json_t *v;
	int rc = tds_json_parse(body, len, &v);
	if (rc < 0)
		return rc;
	if (!json_is_object(v)) {
		json_decref(v);
		return tds_error_set(TDS_EINVAL, "invalid_json", "request body must be a JSON object");
	}
	rc = tds_json_check(v, fields, fields ? n : 0, allow_unknown);
	if (rc < 0) {
		json_decref(v);
		return rc;
	}
	*out = v;
	return 0;
}

int tds_req_json(tds_req *req, const tds_json_field *fields, size_t n, bool allow_unknown, json_t **out)
{
	*out = NULL;
	http_ctx *c = ctx_of(req);
	json_t *v;
	int rc = tds_http_decode_json_body(tds_req_header(req, "Content-Type"), req->body, req->body_len,
					   fields, n, allow_unknown, &v);
	if (rc < 0)
		return rc;
	if (c) {
		http_json_ref *ref = tds_arena_alloc(req->arena, sizeof *ref);
		ref->v = v;
		ref->next = c->jsons;
		c->jsons = ref;
	}
	*out = v;
	return 0;
}

int tds_req_page(const tds_req *req, int def, int max, int *limit, const char **cursor)
{
	int rc = http_parse_limit(tds_req_query(req, "limit"), def, max, limit);
	if (rc < 0)
		return rc;
	const char *cur;
	rc = http_check_cursor(tds_req_query(req, "cursor"), &cur);
	if (rc < 0)
		return rc;
	if (cursor)
		*cursor = cur;
	return 0;
}

/* ---- responses ---- */

static void resp_clear_body(tds_resp *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
}

static int status_ok(int status)
{
	if (status < 100 || status > 599)
		return tds_error_set(TDS_EINTERNAL, "internal_error", "handler set HTTP status %d", status);
	return 0;
}

int tds_resp_json(tds_resp *resp, int status, json_t *body)
{
	if (status_ok(status) < 0) {
		json_decref(body);
		return TDS_EINTERNAL;
	}
	if (!body)
		return tds_error_set(TDS_EINTERNAL, "internal_error", "response body could not be built");
	char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(body);
	if (!s)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory writing a JSON response");
	resp_clear_body(resp);
	resp->body = s;
	resp->body_len = strlen(s);
	resp->status = status;
	resp->content_type = "application/json";
	return 0;
}

int tds_resp_data(tds_resp *resp, int status, const char *content_type, const void *data, size_t len)
{
	if (status_ok(status) < 0)
		return TDS_EINTERNAL;
	char *copy = malloc(len ? len : 1);
	if (!copy)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory copying a %zu-byte response", len);
	if (len)
		memcpy(copy, data, len);
	resp_clear_body(resp);
	resp->body = copy;
	resp->body_len = len;
	resp->status = status;
	resp->content_type = content_type ? content_type : "application/octet-stream";
	if (resp->ctx)
		resp->content_type = tds_arena_strdup(resp->ctx->req.arena, resp->content_type);
	return 0;
}

int http_status_for(int code, const char *name)
{
	if (name && strcmp(name, "unsupported_media_type") == 0)
		return 415;
	if (name && strcmp(name, "method_not_allowed") == 0)
		return 405;
	if (name && strcmp(name, "uri_too_long") == 0)
		return 414;
	if (name && strcmp(name, "service_unavailable") == 0)
		return 503;
	if (name && strcmp(name, "operator_unreachable") == 0) /* a peer failed: the gateway answer */
		return 502;
	return tds_error_http_status(code);
}

int tds_resp_error(tds_resp *resp)
{
	int code = tds_error_code();
	const char *name = tds_error_name();
	const char *msg = tds_error_message();
	if (code >= 0) {
		code = TDS_EINTERNAL;
		name = "internal_error";
		msg = "the handler failed without saying why; this is a bug";
	}
	int status = http_status_for(code, name);
	json_t *err = json_object();
	json_object_set_new(err, "code", json_string(name[0] ? name : tds_error_default_name(code)));
	json_t *m = json_string(msg);
	json_object_set_new(err, "message", m ? m : json_string("(message not valid UTF-8)"));
	if (tds_error_details())
		json_object_set(err, "details", tds_error_details());
	json_t *body = json_object();
	json_object_set_new(body, "error", err);
	const char *rid = resp->ctx ? resp->ctx->req.request_id : tds_log_request_id();
	json_object_set_new(body, "request_id", rid ? json_string(rid) : json_null());
	if (tds_resp_json(resp, status, body) < 0) {
		static const char OOM[] = "{\"error\":{\"code\":\"out_of_memory\",\"message\":\"out of memory\"}}";
		resp_clear_body(resp);
		resp->status = 500;
		resp->content_type = "application/json";
		resp->body = strdup(OOM);
		resp->body_len = resp->body ? sizeof OOM - 1 : 0;
	}
	return 0;
}

static bool token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int tds_resp_header(tds_resp *resp, const char *name, const char *value)
{
	if (!name || !*name || !value)
		return tds_error_set(TDS_EINTERNAL, "invalid_header", "response header needs a name and value");
	for (const char *p = name; *p; p++)
		if (!token_char(*p))
			return tds_error_set(TDS_EINTERNAL, "invalid_header", "bad response header name");
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return tds_error_set(TDS_EINTERNAL, "invalid_header",
					     "response header %s has a control character", name);
	if (resp->nheaders == HTTP_MAX_RESP_HEADERS)
		return tds_error_set(TDS_EINTERNAL, "invalid_header", "more than %d response headers",
				     HTTP_MAX_RESP_HEADERS);
	tds_arena *a = resp->ctx ? resp->ctx->req.arena : NULL;
	if (!a)
		return tds_error_set(TDS_EINTERNAL, "invalid_header", "response has no request");
	resp->hname[resp->nheaders] = tds_arena_strdup(a, name);
	resp->hvalue[resp->nheaders] = tds_arena_strdup(a, value);
	resp->nheaders++;
	return 0;
}
