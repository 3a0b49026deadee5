/*
 * cmd_delivery.c — `tds delivery …`: the data-plane client verbs (docs/delivery.md). query and export
 * call the provider connector's data listener (--node is its data URL) with the consumer's
 * authorization token from TDS_USAGE_TOKEN (kept out of the process list); receipt confirms a
 * delivery on the connector's management API with the same token; list reads the deliveries with a
 * management token (--token). Not the place for delivery logic: this is an HTTP client.
 */
#include "cli/cli.h"

#include "http/http.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
	return tds_cli_usage(
	    "expected one of (the consumer's token in TDS_USAGE_TOKEN)\n"
	    "  delivery query PRD --field F… [--param NAME=VALUE]… [--purpose P] [--environment E]\n"
	    "                 [--limit N] [--cursor C] [--csv]          (--node: the provider's data URL)\n"
	    "  delivery export PRD --field F… [--format csv|ndjson] [--limit N] [--cursor C] [--purpose P]\n"
	    "                  [--environment E] [--all]                (--node: the provider's data URL)\n"
	    "  delivery receipt DLV --hash ALG:HEX                      (--node: the provider's API URL)\n"
	    "  delivery list [--contract CTR] [--limit N] [--cursor C]  (--node API URL, --token: its account)\n"
	    "  VALUE is JSON when it parses as a JSON scalar (2025, true, \"2025\"), else text; every verb takes --json");
}

typedef struct args {
	const char *pos;
	json_t *flags; /* name → array of strings */
	bool json, csv, all;
} args;

static int parse(int argc, char **argv, const char *const *allowed, args *a)
{
	a->flags = json_object();
	for (int i = 2; i < argc; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "--json") || !strcmp(s, "--csv") || !strcmp(s, "--all")) {
			*(s[2] == 'j' ? &a->json : s[2] == 'c' ? &a->csv : &a->all) = true;
			continue;
		}
		if (strncmp(s, "--", 2)) {
			if (a->pos)
				return tds_cli_usage("unexpected argument '%s'", s);
			a->pos = s;
			continue;
		}
		bool ok = false;
		for (size_t k = 0; allowed[k]; k++)
			ok |= !strcmp(s + 2, allowed[k]);
		if (!ok)
			return tds_cli_usage("unknown option %s", s);
		if (i + 1 >= argc)
			return tds_cli_usage("%s needs a value", s);
		json_t *arr = json_object_get(a->flags, s + 2);
		if (!arr)
			json_object_set_new(a->flags, s + 2, arr = json_array());
		json_array_append_new(arr, json_string(argv[++i]));
	}
	return 0;
}

static const char *flag(const args *a, const char *name)
{
	json_t *v = json_object_get(a->flags, name);
	return json_string_value(json_array_get(v, json_array_size(v) ? json_array_size(v) - 1 : 0));
}

static const char *usage_token(void)
{
	const char *t = getenv("TDS_USAGE_TOKEN");
	return t && *t ? t : NULL;
}

static void report_error(long status, const tds_buf *body)
{
	json_t *out = NULL;
	tds_json_parse(body->data ? body->data : "", body->len, &out);
	json_t *err = json_object_get(out, "error");
	json_t *det = json_object_get(err, "details");
	fprintf(stderr, "tds: 请求失败 HTTP %ld: %s (%s)%s%s\n", status, tds_json_str(err, "message", "no message"),
		tds_json_str(err, "code", "unknown"), det ? " clause " : "", det ? tds_json_str(det, "clause", "") : "");
	json_decref(out);
}

/* One request; the response in *r (the caller frees it). 1 on a connection failure. */
static int request(const char *node, const char *bearer, const char *method, const char *path, const char *accept,
		   const char *body, tds_http_response *r)
{
	tds_http_client *cl = tds_http_client_new(node, 60000);
	if (!cl)
		return 1;
	if (bearer)
		tds_http_client_set_token(cl, bearer);
	char acc[64];
	const char *h[3];
	size_t k = 0;
	if (accept) {
		snprintf(acc, sizeof acc, "Accept: %s", accept);
		h[k++] = acc;
	}
	if (body)
		h[k++] = "Content-Type: application/json";
	h[k] = NULL;
	memset(r, 0, sizeof *r);
	int rc = tds_http_client_do(cl, method, path, h, body, body ? strlen(body) : 0, r);
	tds_http_client_free(cl);
	if (rc) {
		fprintf(stderr, "tds: 无法连接节点 cannot reach %s: %s\n", node, tds_error_message());
		return 1;
	}
	return 0;
}

static json_t *meta(const tds_http_response *r)
{
	char id[64] = "", ctr[64] = "", hash[128] = "", next[32] = "", rows[24] = "0";
	tds_http_response_header(r, "X-Delivery-Id", id, sizeof id);
	tds_http_response_header(r, "X-Contract-Id", ctr, sizeof ctr);
	tds_http_response_header(r, "X-Content-Hash", hash, sizeof hash);
	tds_http_response_header(r, "X-Next-Cursor", next, sizeof next);
	tds_http_response_header(r, "X-Rows", rows, sizeof rows);
	return json_pack("{s:s, s:s, s:s, s:I, s:s?}", "delivery_id", id, "contract_id", ctr, "content_hash", hash, "rows",
			 (json_int_t)strtoll(rows, NULL, 10), "next_cursor", next[0] ? next : NULL);
}

static int query(const char *node, args *a)
{
	const char *tok = usage_token();
	if (!a->pos || !tds_id_valid(a->pos, "prd"))
		return tds_cli_usage("query: give the product id (prd_…)");
	if (!tok)
		return tds_cli_usage("query: put the consumer's token in TDS_USAGE_TOKEN");
	json_t *fields = json_object_get(a->flags, "field");
	if (!fields)
		return tds_cli_usage("query: name the fields you need (--field F, repeated)");
	json_t *params = json_object();
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(a->flags, "param"), i, v) {
		const char *s = json_string_value(v), *eq = strchr(s, '=');
		if (!eq || eq == s) {
			json_decref(params);
			return tds_cli_usage("query: --param takes NAME=VALUE, not '%s'", s);
		}
		json_t *val = NULL;
		if (tds_json_parse(eq + 1, strlen(eq + 1), &val) || json_is_object(val) || json_is_array(val)) {
			json_decref(val);
			val = json_string(eq + 1);
		}
		char name[128];
		snprintf(name, sizeof name, "%.*s", (int)(eq - s), s);
		json_object_set_new(params, name, val);
	}
	json_t *body = json_pack("{s:o, s:O}", "parameters", params, "fields", fields);
	static const char *const pass[] = {"purpose", "environment", "cursor"};
	for (size_t k = 0; k < 3; k++)
		if (flag(a, pass[k]))
			json_object_set_new(body, pass[k], json_string(flag(a, pass[k])));
	if (flag(a, "limit"))
		json_object_set_new(body, "limit", json_integer(strtoll(flag(a, "limit"), NULL, 10)));
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	char path[128];
	snprintf(path, sizeof path, "/data/v1/products/%s/query", a->pos);
	tds_http_response r;
	int rc = text ? request(node, tok, "POST", path, a->csv ? "text/csv" : NULL, text, &r) : 1;
	free(text);
	if (rc)
		return rc;
	if (r.status != 200) {
		if (a->json && r.body.len)
			printf("%s\n", r.body.data);
		report_error(r.status, &r.body);
		tds_http_response_free(&r);
		return 1;
	}
	if (a->json) {
		json_t *m = meta(&r), *res = NULL;
		if (a->csv)
			json_object_set_new(m, "csv", json_stringn(r.body.data ? r.body.data : "", r.body.len));
		else if (!tds_json_parse(r.body.data, r.body.len, &res))
			json_object_set_new(m, "result", res);
		char *s = json_dumps(m, JSON_COMPACT);
		puts(s ? s : "{}");
		free(s);
		json_decref(m);
	} else {
		fwrite(r.body.data ? r.body.data : "", 1, r.body.len, stdout);
		if (!a->csv)
			putchar('\n');
	}
	tds_http_response_free(&r);
	return 0;
}

static int export(const char *node, args *a)
{
	const char *tok = usage_token(), *format = flag(a, "format") ? flag(a, "format") : "csv";
	if (!a->pos || !tds_id_valid(a->pos, "prd"))
		return tds_cli_usage("export: give the product id (prd_…)");
	if (!tok)
		return tds_cli_usage("export: put the consumer's token in TDS_USAGE_TOKEN");
	if (strcmp(format, "csv") && strcmp(format, "ndjson"))
		return tds_cli_usage("export: --format is csv or ndjson");
	json_t *fields = json_object_get(a->flags, "field");
	if (!fields)
		return tds_cli_usage("export: name the fields you need (--field F, repeated)");
	/* the query string: fields comma-separated, every value percent-encoded */
	tds_buf q = TDS_BUF_INIT, f = TDS_BUF_INIT;
	size_t i;
	json_t *v;
	json_array_foreach(fields, i, v) tds_buf_printf(&f, "%s%s", i ? "," : "", json_string_value(v));
	const char *names[] = {"fields", "format", "limit", "purpose", "environment"};
	const char *vals[] = {f.data, format, flag(a, "limit"), flag(a, "purpose"), flag(a, "environment")};
	tds_buf_printf(&q, "/data/v1/products/%s/export?", a->pos);
	for (size_t k = 0; k < 5; k++) {
		if (!vals[k])
			continue;
		tds_buf_printf(&q, "%s%s=", k ? "&" : "", names[k]);
		for (const unsigned char *p = (const unsigned char *)vals[k]; *p; p++)
			if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-_.~,", *p))
				tds_buf_putc(&q, (char)*p);
			else
				tds_buf_printf(&q, "%%%02X", *p);
	}
	tds_buf_free(&f);
	json_t *pages = json_array();
	tds_buf data = TDS_BUF_INIT;
	char cursor[32] = "";
	snprintf(cursor, sizeof cursor, "%s", flag(a, "cursor") ? flag(a, "cursor") : "");
	int64_t rows = 0;
	int rc = 0;
	for (int page = 0; !rc; page++) {
		char path[8192];
		snprintf(path, sizeof path, "%s%s%s", q.data, cursor[0] ? "&cursor=" : "", cursor);
		tds_http_response r;
		if ((rc = request(node, tok, "GET", path, NULL, NULL, &r)))
			break;
		if (r.status != 200) {
			report_error(r.status, &r.body);
			tds_http_response_free(&r);
			rc = 1;
			break;
		}
		json_t *m = meta(&r);
		rows += tds_json_int(m, "rows", 0);
		const char *body = r.body.data ? r.body.data : "";
		size_t len = r.body.len;
		if (page > 0 && !strcmp(format, "csv")) { /* one header line for the whole export */
			const char *nl = memchr(body, '\n', len);
			len = nl ? len - (size_t)(nl + 1 - body) : 0;
			body = nl ? nl + 1 : body;
		}
		if (a->json)
			tds_buf_append(&data, body, len);
		else
			fwrite(body, 1, len, stdout);
		snprintf(cursor, sizeof cursor, "%s", tds_json_str(m, "next_cursor", ""));
		json_object_del(m, "next_cursor");
		json_array_append_new(pages, m);
		tds_http_response_free(&r);
		if (!a->all || !cursor[0])
			break;
	}
	if (!rc && a->json) {
		json_t *out = json_pack("{s:O, s:I, s:s?, s:s%}", "pages", pages, "rows", (json_int_t)rows, "next_cursor",
					cursor[0] ? cursor : NULL, "data", data.data ? data.data : "", data.len);
		char *s = json_dumps(out, JSON_COMPACT);
		puts(s ? s : "{}");
		free(s);
		json_decref(out);
	} else if (!rc) {
		fprintf(stderr, "tds: %lld rows in %zu page(s)%s%s\n", (long long)rows, json_array_size(pages),
			cursor[0] ? "; next cursor " : "", cursor);
	}
	json_decref(pages);
	tds_buf_free(&data);
	tds_buf_free(&q);
	return rc;
}

static int print_json(long status, const tds_buf *body, bool json)
{
	json_t *out = NULL;
	tds_json_parse(body->data ? body->data : "", body->len, &out);
	if (out) {
		char *s = json_dumps(out, json ? JSON_COMPACT : JSON_INDENT(2));
		if (s)
			puts(s);
		free(s);
	}
	json_decref(out);
	if (status >= 200 && status < 300)
		return 0;
	if (!json)
		report_error(status, body);
	return 1;
}

static int receipt(const char *node, args *a)
{
	const char *tok = usage_token(), *hash = flag(a, "hash");
	if (!a->pos || !tds_id_valid(a->pos, "dlv"))
		return tds_cli_usage("receipt: give the delivery id (dlv_…)");
	if (!hash)
		return tds_cli_usage("receipt: --hash ALG:HEX of the bytes received is required");
	if (!tok)
		return tds_cli_usage("receipt: put the consumer's token in TDS_USAGE_TOKEN");
	json_t *b = json_pack("{s:s}", "content_hash", hash);
	char *text = json_dumps(b, JSON_COMPACT), path[128];
	json_decref(b);
	snprintf(path, sizeof path, "/api/v1/deliveries/%s/receipt", a->pos);
	tds_http_response r;
	int rc = text ? request(node, tok, "POST", path, NULL, text, &r) : 1;
	free(text);
	if (rc)
		return rc;
	rc = print_json(r.status, &r.body, a->json);
	tds_http_response_free(&r);
	return rc;
}

static int list(const char *node, const char *token, args *a)
{
	if (a->pos)
		return tds_cli_usage("list: unexpected argument '%s'", a->pos);
	tds_buf path = TDS_BUF_INIT;
	tds_buf_puts(&path, "/api/v1/deliveries?");
	if (flag(a, "contract") && tds_id_valid(flag(a, "contract"), "ctr"))
		tds_buf_printf(&path, "contract_id=%s&", flag(a, "contract"));
	else if (flag(a, "contract")) {
		tds_buf_free(&path);
		return tds_cli_usage("list: --contract takes a contract id (ctr_…)");
	}
	if (flag(a, "limit"))
		tds_buf_printf(&path, "limit=%lld&", strtoll(flag(a, "limit"), NULL, 10));
	if (flag(a, "cursor") && !tds_id_valid(flag(a, "cursor"), "dlv")) {
		tds_buf_free(&path);
		return tds_cli_usage("list: --cursor takes the next_cursor of a previous page (dlv_…)");
	}
	if (flag(a, "cursor"))
		tds_buf_printf(&path, "cursor=%s&", flag(a, "cursor"));
	tds_http_response r;
	int rc = request(node, token, "GET", path.data, NULL, NULL, &r);
	tds_buf_free(&path);
	if (rc)
		return rc;
	rc = print_json(r.status, &r.body, a->json);
	tds_http_response_free(&r);
	return rc;
}

int tds_cli_delivery(const char *node_url, const char *token, int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!node_url)
		return tds_cli_usage("no node: pass --node URL (or set TDS_NODE)");
	static const char *const allowed[] = {"field", "param", "purpose", "environment", "limit", "cursor",
					      "format", "hash", "contract", NULL};
	args a = {0};
	int rc = parse(argc, argv, allowed, &a);
	const char *verb = argv[1];
	if (!rc) {
		if (!strcmp(verb, "query"))
			rc = query(node_url, &a);
		else if (!strcmp(verb, "export"))
			rc = export(node_url, &a);
		else if (!strcmp(verb, "receipt"))
			rc = receipt(node_url, &a);
		else if (!strcmp(verb, "list"))
			rc = list(node_url, token, &a);
		else
			rc = usage();
	}
	json_decref(a.flags);
	return rc;
}
