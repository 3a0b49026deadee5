/*
 * fuzz_http_request.c — the request-decoding path of the http module without sockets: the raw path
 * splitter and parameter check, route matching, the query parser, limit and cursor parsing, the
 * JSON content-type check and the JSON body decoder (tds_http_decode_json_body), the request-id
 * filter. Any input must give 0 or TDS_EINVAL, never a crash, a leak or a read past the input.
 *
 * Input layout: the bytes are used whole by each decoder, and also split at the first '\n' into a
 * header-ish part (content type, limit, cursor) and a body part (JSON).
 */
#include "http/http.h"
#include "http/http_internal.h"

#include <stdlib.h>
#include <string.h>

static int h_nop(tds_req *req, tds_resp *resp) { return 0; }

static tds_router *router(void)
{
	static tds_router *r;
	if (!r) {
		r = tds_router_new();
		tds_router_add(r, "GET", "/api/v1/things/{id}", TDS_ROLES_PUBLIC, h_nop, NULL, "");
		tds_router_add(r, "GET", "/api/v1/things/special", TDS_ROLES_PUBLIC, h_nop, NULL, "");
		tds_router_add(r, "DELETE", "/api/v1/things/{id}", TDS_ROLE_ADMIN, h_nop, NULL, "");
		tds_router_add(r, "GET", "/api/v1/a/{x}/b/{y}", TDS_ROLES_PUBLIC, h_nop, NULL, "");
		tds_router_add(r, "POST", "/api/v1/things", TDS_ROLES_ANY_USER, h_nop, NULL, "");
		tds_router_add(r, "GET", "/", TDS_ROLES_PUBLIC, h_nop, NULL, "");
	}
	return r;
}

static const tds_json_field FIELDS[] = {
	{"name", TDS_JSON_STRING, true, 64},
	{"count", TDS_JSON_INTEGER, false, 0},
	{"tags", TDS_JSON_STRING_ARRAY, false, 8},
	{"meta", TDS_JSON_OBJECT, false, 0},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	tds_arena *a = tds_arena_new(0);
	char *z = tds_arena_strndup(a, in, size); /* NUL-terminated copy (stops at an inner NUL) */

	http_path p;
	if (http_path_split(a, in, size, &p) == 0) {
		for (size_t i = 0; i < p.nseg && i < HTTP_MAX_SEGS; i++)
			(void)http_param_ok(p.seg[i], p.seg_len[i]);
		static const char *const METHODS[] = {"GET", "HEAD", "POST", "DELETE", "PATCH"};
		tds_buf allow = TDS_BUF_INIT;
		const http_route *rt;
		for (size_t m = 0; m < TDS_ARRAY_LEN(METHODS); m++)
			if (http_router_match(router(), METHODS[m], &p, &rt, &allow) == HTTP_MATCH_OK && !rt)
				abort();
		tds_buf_free(&allow);
	}

	http_kv *kv;
	size_t n;
	if (http_query_parse(a, in, size, &kv, &n) == 0)
		for (size_t i = 0; i < n; i++)
			if (!kv[i].key || !kv[i].value)
				abort();

	int limit;
	const char *cursor;
	if (http_parse_limit(z, 20, 100, &limit) == 0 && (limit < 1 || limit > 100))
		abort();
	(void)http_check_cursor(z, &cursor);
	(void)http_content_type_json(z);
	(void)http_request_id_ok(z);

	const char *nl = memchr(in, '\n', size);
	const char *ct = nl ? tds_arena_strndup(a, in, (size_t)(nl - in)) : NULL;
	const char *body = nl ? nl + 1 : in;
	size_t blen = nl ? size - (size_t)(nl + 1 - in) : size;
	json_t *v = NULL;
	if (tds_http_decode_json_body(ct, body, blen, FIELDS, TDS_ARRAY_LEN(FIELDS), size & 1, &v) == 0) {
		if (!json_is_object(v))
			abort();
		json_decref(v);
	} else if (v) {
		abort();
	}
	tds_error_clear();
	tds_arena_free(a);
	return 0;
}
