/*
 * cmd_product.c — `tds product …`: the data product (数据产品) client verbs against a node's
 * /api/v1/products routes, one HTTP call each: create, list, show, version, code, update, review,
 * list-on (上架), delist (下架), remove. Options become the request's JSON members; a product's spec
 * can be given whole (--spec JSON | --spec-file FILE) or built from flags: --sql and --param for an
 * API script, --field and --filter for the API wizard or a dataset, --file for a file product (read
 * here and sent base64). The node checks everything; this file only maps flags to members.
 *
 * Not for the product logic itself (src/catalog/product.c).
 */
#include "cli/cli.h"

#include "base/base.h"
#include "http/http.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int usage(void)
{
	return tds_cli_usage(
	    "product: expected one of\n"
	    "  product create --resource RES --name N --form api|dataset|file --scenario S… [--description D]\n"
	    "                 [--industry I6510] [--domain D] [--tag T]… SPEC\n"
	    "     SPEC: --spec JSON | --spec-file FILE\n"
	    "           | api script: --sql SQL [--param NAME:TYPE[:optional]]…\n"
	    "           | api wizard: --field COL… [--filter COL:OP[:PARAM]]… [--limit-rows N]\n"
	    "           | dataset:    --field COL[:read|masked|compute_only[:MASK]]…\n"
	    "           | file:       --file PATH [--media-type T]\n"
	    "  product list [--status S] [--form F] [--limit N] [--cursor C] | product show ID\n"
	    "  product version ID N | product code CODE\n"
	    "  product update ID [--form F (to build SPEC)] [--name N] [--description D] [--scenario S]… [--industry I]\n"
	    "                 [--domain D] [--tag T]… [SPEC]\n"
	    "  product review ID --decision approve|reject [--reason R]… [--version N]\n"
	    "  product list-on ID [--scope space|roles|orgs] [--role R]… [--org ORG]…\n"
	    "  product delist ID [--reason R] | product remove ID --reason R\n"
	    "  (every verb takes --json)");
}

/* flags that become members directly */
typedef enum { V_STR, V_ARRAY, V_INT, V_QUERY, V_LOCAL } vkind;
typedef struct flag {
	const char *verbs, *flag, *member; /* verbs: space-separated list */
	vkind kind;
} flag;

static const flag FLAGS[] = {
    {"create", "resource", "resource_id", V_STR},
    {"create update", "name", "name", V_STR},
    {"create update", "description", "description", V_STR},
    {"create update", "scenario", "scenarios", V_ARRAY},
    {"create update", "industry", "industry", V_STR},
    {"create update", "domain", "domain", V_STR},
    {"create update", "tag", "tags", V_ARRAY},
    {"create update", "form", "form", V_LOCAL},
    {"create update", "spec", "spec", V_LOCAL},
    {"create update", "spec-file", "spec-file", V_LOCAL},
    {"create update", "sql", "sql", V_LOCAL},
    {"create update", "param", "param", V_LOCAL},
    {"create update", "field", "field", V_LOCAL},
    {"create update", "filter", "filter", V_LOCAL},
    {"create update", "limit-rows", "limit-rows", V_LOCAL},
    {"create update", "file", "file", V_LOCAL},
    {"create update", "media-type", "media-type", V_LOCAL},
    {"review", "decision", "decision", V_STR},
    {"review", "reason", "reasons", V_ARRAY},
    {"review", "version", "version", V_INT},
    {"list-on", "scope", "scope", V_STR},
    {"list-on", "role", "roles", V_ARRAY},
    {"list-on", "org", "orgs", V_ARRAY},
    {"delist remove", "reason", "reason", V_STR},
    {"list", "status", "status", V_QUERY},
    {"list", "form", "form", V_QUERY},
    {"list", "limit", "limit", V_QUERY},
    {"list", "cursor", "cursor", V_QUERY},
};

static bool verb_in(const char *verbs, const char *verb)
{
	size_t n = strlen(verb);
	for (const char *p = verbs; (p = strstr(p, verb)); p += n)
		if ((p == verbs || p[-1] == ' ') && (p[n] == 0 || p[n] == ' '))
			return true;
	return false;
}

static void query_value(tds_buf *b, const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			tds_buf_putc(b, (char)*p);
		else
			tds_buf_printf(b, "%%%02X", *p);
	}
}

static void push(json_t *o, const char *member, json_t *v)
{
	json_t *arr = json_object_get(o, member);
	if (!arr)
		json_object_set_new(o, member, arr = json_array());
	json_array_append_new(arr, v);
}

/* Splits "a:b:c" into at most 3 parts (copied into buf). */
static int split3(const char *v, char *buf, size_t cap, const char *part[3])
{
	snprintf(buf, cap, "%s", v);
	part[0] = buf;
	part[1] = part[2] = NULL;
	char *c = strchr(buf, ':');
	if (c) {
		*c = 0;
		part[1] = c + 1;
		if ((c = strchr(c + 1, ':'))) {
			*c = 0;
			part[2] = c + 1;
		}
	}
	return *part[0] ? 0 : -1;
}

static const char *media_of(const char *path)
{
	const char *dot = strrchr(path, '.');
	if (!dot)
		return "application/octet-stream";
	static const char *const MAP[][2] = {{".csv", "text/csv"},   {".txt", "text/plain"},	   {".json", "application/json"},
					     {".md", "text/markdown"}, {".xml", "application/xml"}, {".pdf", "application/pdf"}};
	for (size_t i = 0; i < TDS_ARRAY_LEN(MAP); i++)
		if (!strcasecmp(dot, MAP[i][0]))
			return MAP[i][1];
	return "application/octet-stream";
}

/* Builds body.spec from the local flags in `loc` (collected flag → value or array of values). */
static int build_spec(const char *verb, const json_t *loc, json_t *body)
{
	const char *form = tds_json_str(loc, "form", NULL), *spec = tds_json_str(loc, "spec", NULL),
		   *spec_file = tds_json_str(loc, "spec-file", NULL), *sql = tds_json_str(loc, "sql", NULL),
		   *file = tds_json_str(loc, "file", NULL);
	const json_t *fields = json_object_get(loc, "field"), *params = json_object_get(loc, "param"),
		     *filters = json_object_get(loc, "filter");
	int ways = !!spec + !!spec_file + !!sql + !!file + (fields && !sql ? 1 : 0);
	if (!strcmp(verb, "create")) {
		if (!form)
			return tds_cli_usage("product create: --form api|dataset|file is required");
		json_object_set_new(body, "form", json_string(form));
	}
	if (ways == 0) {
		if (params || filters || json_object_get(loc, "limit-rows") || json_object_get(loc, "media-type"))
			return tds_cli_usage("product %s: --param, --filter, --limit-rows and --media-type go with a spec", verb);
		return 0;
	}
	if (ways > 1)
		return tds_cli_usage("product %s: give one spec: --spec, --spec-file, --sql, --field or --file", verb);
	json_t *s = NULL;
	char buf[1024];
	const char *part[3];
	size_t i;
	json_t *v;
	if (spec || spec_file) {
		json_error_t e;
		s = spec ? json_loads(spec, 0, &e) : json_load_file(spec_file, 0, &e);
		if (!json_is_object(s)) {
			json_decref(s);
			return tds_cli_usage("product %s: the spec is not a JSON object (%s)", verb, e.text);
		}
	} else if (sql) {
		s = json_pack("{s:s, s:s, s:[]}", "mode", "script", "sql", sql, "parameters");
		json_array_foreach(params, i, v) {
			if (split3(json_string_value(v), buf, sizeof buf, part) || !part[1] || (part[2] && strcmp(part[2], "optional"))) {
				json_decref(s);
				return tds_cli_usage("product %s: --param takes NAME:TYPE or NAME:TYPE:optional", verb);
			}
			json_array_append_new(json_object_get(s, "parameters"),
					      json_pack("{s:s, s:s, s:b}", "name", part[0], "type", part[1], "required", !part[2]));
		}
	} else if (file) {
		tds_buf data = TDS_BUF_INIT, b64 = TDS_BUF_INIT;
		FILE *f = fopen(file, "rb");
		if (!f)
			return tds_cli_usage("product %s: cannot read %s", verb, file);
		char chunk[65536];
		size_t n;
		while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
			tds_buf_append(&data, chunk, n);
		fclose(f);
		tds_b64_encode(data.data ? data.data : "", data.len, &b64);
		const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
		s = json_pack("{s:s, s:s, s:s}", "file_name", base, "media_type", tds_json_str(loc, "media-type", media_of(file)),
			      "content_base64", b64.data ? (const char *)b64.data : "");
		tds_buf_free(&data);
		tds_buf_free(&b64);
	} else if (form && !strcmp(form, "dataset")) {
		s = json_pack("{s:[]}", "fields");
		json_array_foreach(fields, i, v) {
			if (split3(json_string_value(v), buf, sizeof buf, part)) {
				json_decref(s);
				return tds_cli_usage("product %s: --field takes COL[:PERMISSION[:MASK]]", verb);
			}
			json_t *fo = json_pack("{s:s}", "name", part[0]);
			if (part[1] && *part[1])
				json_object_set_new(fo, "permission", json_string(part[1]));
			if (part[2] && *part[2])
				json_object_set_new(fo, "mask", json_string(part[2]));
			json_array_append_new(json_object_get(s, "fields"), fo);
		}
	} else if (form && !strcmp(form, "api")) {
		s = json_pack("{s:s, s:O}", "mode", "wizard", "fields", (json_t *)fields);
		json_array_foreach(filters, i, v) {
			if (split3(json_string_value(v), buf, sizeof buf, part) || !part[1]) {
				json_decref(s);
				return tds_cli_usage("product %s: --filter takes COL:OP or COL:OP:PARAM", verb);
			}
			json_t *fo = json_pack("{s:s, s:s}", "field", part[0], "op", part[1]);
			if (part[2] && *part[2])
				json_object_set_new(fo, "param", json_string(part[2]));
			push(s, "filters", fo);
		}
		const char *lim = tds_json_str(loc, "limit-rows", NULL);
		if (lim)
			json_object_set_new(s, "limit", json_integer(atoll(lim)));
	} else {
		return tds_cli_usage("product %s: --field needs --form api or --form dataset", verb);
	}
	if (!s)
		return tds_cli_usage("product %s: cannot build the spec", verb);
	json_object_set_new(body, "spec", s);
	return 0;
}

int tds_cli_product(const char *node, const char *token, int argc, char **argv)
{
	if (argc < 2)
		return usage();
	static const char *const VERBS[] = {"create", "list", "show", "version", "code", "update",
					    "review", "list-on", "delist", "remove"};
	const char *verb = argv[1];
	bool json = false, known = false;
	for (size_t i = 0; i < TDS_ARRAY_LEN(VERBS); i++)
		known = known || strcmp(verb, VERBS[i]) == 0;
	if (!known)
		return usage();
	const char *args[2] = {NULL, NULL};
	int nargs = 0;
	json_t *body = json_object(), *loc = json_object(), *out = NULL;
	tds_buf path = TDS_BUF_INIT, query = TDS_BUF_INIT;
	int rc = 0;
	for (int i = 2; i < argc && !rc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--json") == 0) {
			json = true;
			continue;
		}
		if (strncmp(a, "--", 2) != 0) {
			if (nargs == 2)
				rc = tds_cli_usage("product %s: unexpected argument '%s'", verb, a);
			else
				args[nargs++] = a;
			continue;
		}
		const flag *f = NULL;
		for (size_t k = 0; k < TDS_ARRAY_LEN(FLAGS) && !f; k++)
			if (verb_in(FLAGS[k].verbs, verb) && strcmp(FLAGS[k].flag, a + 2) == 0)
				f = &FLAGS[k];
		if (!f) {
			rc = tds_cli_usage("product %s: unknown option %s", verb, a);
			break;
		}
		if (!v) {
			rc = tds_cli_usage("product %s: %s needs a value", verb, a);
			break;
		}
		i++;
		switch (f->kind) {
		case V_STR:
			json_object_set_new(body, f->member, json_string(v));
			break;
		case V_ARRAY:
			push(body, f->member, json_string(v));
			break;
		case V_INT: {
			size_t n = strlen(v);
			if (n == 0 || n > 9 || strspn(v, "0123456789") != n)
				rc = tds_cli_usage("product %s: %s takes a positive integer", verb, a);
			else
				json_object_set_new(body, f->member, json_integer(atoll(v)));
			break;
		}
		case V_QUERY:
			tds_buf_printf(&query, "%c%s=", query.len ? '&' : '?', f->member);
			query_value(&query, v);
			break;
		case V_LOCAL:
			if (!strcmp(f->member, "field") || !strcmp(f->member, "param") || !strcmp(f->member, "filter"))
				push(loc, f->member, json_string(v));
			else
				json_object_set_new(loc, f->member, json_string(v));
			break;
		}
	}
	const char *method = "POST", *id = args[0];
	bool has_body = true;
	if (rc)
		goto done;
	int want_args = !strcmp(verb, "create") || !strcmp(verb, "list") ? 0 : !strcmp(verb, "version") ? 2 : 1;
	if (nargs != want_args) {
		rc = nargs > want_args ? tds_cli_usage("product %s: unexpected argument '%s'", verb, args[want_args]) : usage();
		goto done;
	}
	if ((!strcmp(verb, "create") || !strcmp(verb, "update")) && (rc = build_spec(verb, loc, body)))
		goto done;
	if (!strcmp(verb, "create") || !strcmp(verb, "list")) {
		tds_buf_puts(&path, "/api/v1/products");
		if (verb[0] == 'l')
			method = "GET", has_body = false;
	} else if (!strcmp(verb, "code")) {
		tds_buf_puts(&path, "/api/v1/product-codes?code=");
		query_value(&path, id);
		method = "GET", has_body = false;
	} else if (!tds_id_valid(id, "prd")) {
		rc = tds_cli_usage("product %s: '%s' is not a product id (prd_…)", verb, id);
		goto done;
	} else {
		tds_buf_printf(&path, "/api/v1/products/%s", id);
		if (!strcmp(verb, "show")) {
			method = "GET", has_body = false;
		} else if (!strcmp(verb, "version")) {
			size_t n = strlen(args[1]);
			if (n == 0 || n > 9 || strspn(args[1], "0123456789") != n) {
				rc = tds_cli_usage("product version: the version is a positive integer");
				goto done;
			}
			tds_buf_printf(&path, "/versions/%s", args[1]);
			method = "GET", has_body = false;
		} else if (!strcmp(verb, "list-on")) {
			tds_buf_puts(&path, "/list");
		} else {
			tds_buf_printf(&path, "/%s", verb); /* update, review, delist, remove */
		}
	}
	if (query.len)
		tds_buf_append(&path, query.data, query.len);
	if (!node) {
		rc = tds_cli_usage("no node: pass --node URL (or set TDS_NODE)");
		goto done;
	}
	tds_http_client *cl = tds_http_client_new(node, 120000);
	if (!cl) {
		rc = 1;
		goto done;
	}
	if (token)
		tds_http_client_set_token(cl, token);
	long status = 0;
	int hrc = tds_http_client_json(cl, method, path.data, has_body ? body : NULL, &status, &out);
	tds_http_client_free(cl);
	if (hrc) {
		fprintf(stderr, "tds: 无法连接节点 cannot reach %s: %s\n", node, tds_error_message());
		rc = 1;
		goto done;
	}
	if (out) {
		char *s = json_dumps(out, json ? JSON_COMPACT : JSON_INDENT(2));
		if (s)
			puts(s);
		free(s);
	}
	if (status < 200 || status >= 300) {
		json_t *err = json_object_get(out, "error");
		if (!json)
			fprintf(stderr, "tds: 请求失败 HTTP %ld: %s (%s)\n", status, tds_json_str(err, "message", "no message"),
				tds_json_str(err, "code", "unknown"));
		rc = 1;
	}
done:
	json_decref(out);
	json_decref(body);
	json_decref(loc);
	tds_buf_free(&path);
	tds_buf_free(&query);
	return rc;
}
