/*
 * cmd_resource.c — `tds resource …`: the data resource (数据资源) client verbs against a node's
 * /api/v1/resources routes, one HTTP call each: register, list, show, code, update, override,
 * review, publish, deregister, confirm, remove. Options become the request's JSON members; the node
 * checks them (this file only maps flags to members and refuses ids that are not resource ids).
 *
 * Not for the resource logic itself (src/catalog/resource.c).
 */
#include "cli/cli.h"

#include "base/base.h"
#include "http/http.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
	return tds_cli_usage(
	    "resource: expected one of\n"
	    "  resource register --source SRC --name N [--description D] [--category C] [--frequency F] [--domain D]\n"
	    "                    [--tag T]… [--attributes JSON]\n"
	    "  resource list [--status S] [--limit N] [--cursor C] | resource show ID | resource code CODE\n"
	    "  resource update ID [--name N] [--description D] [--category C] [--frequency F] [--domain D] [--tag T]…\n"
	    "  resource override ID --column C --reason R [--level L1-L4] [--category C] [--identifiability I]\n"
	    "  resource review ID --decision approve|reject --legality compliant|non_compliant --masking-adequate yes|no\n"
	    "                  --filing filed|not_required|pending [--reason R]…\n"
	    "  resource publish ID --scope space|roles|orgs [--role R]… [--org ORG]…\n"
	    "  resource deregister ID --reason R | resource confirm ID [--note N] | resource remove ID --reason R\n"
	    "  (every verb takes --json)");
}

/* flag → JSON member, and how the value is read */
typedef enum { V_STR, V_ARRAY, V_BOOL, V_JSON, V_QUERY } vkind;
typedef struct flag {
	const char *verb, *flag, *member;
	vkind kind;
} flag;

static const flag FLAGS[] = {
    {"register", "source", "source_id", V_STR},	  {"register", "name", "name", V_STR},
    {"register", "description", "description", V_STR}, {"register", "category", "source_category", V_STR},
    {"register", "frequency", "update_frequency", V_STR}, {"register", "domain", "domain", V_STR},
    {"register", "tag", "tags", V_ARRAY},		  {"register", "attributes", "attributes", V_JSON},
    {"update", "name", "name", V_STR},		  {"update", "description", "description", V_STR},
    {"update", "category", "source_category", V_STR},	  {"update", "frequency", "update_frequency", V_STR},
    {"update", "domain", "domain", V_STR},		  {"update", "tag", "tags", V_ARRAY},
    {"update", "attributes", "attributes", V_JSON},	  {"override", "column", "column", V_STR},
    {"override", "reason", "reason", V_STR},		  {"override", "level", "level", V_STR},
    {"override", "category", "category", V_STR},	  {"override", "identifiability", "identifiability", V_STR},
    {"review", "decision", "decision", V_STR},		  {"review", "legality", "legality", V_STR},
    {"review", "masking-adequate", "masking_adequate", V_BOOL}, {"review", "filing", "filing_status", V_STR},
    {"review", "reason", "reasons", V_ARRAY},		  {"publish", "scope", "scope", V_STR},
    {"publish", "role", "roles", V_ARRAY},		  {"publish", "org", "orgs", V_ARRAY},
    {"deregister", "reason", "reason", V_STR},		  {"confirm", "note", "note", V_STR},
    {"remove", "reason", "reason", V_STR},		  {"list", "status", "status", V_QUERY},
    {"list", "limit", "limit", V_QUERY},		  {"list", "cursor", "cursor", V_QUERY},
};

static void query_value(tds_buf *b, const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			tds_buf_putc(b, (char)*p);
		else
			tds_buf_printf(b, "%%%02X", *p);
	}
}

/* Sets one flag's value on the body or the query; 0, or a usage error. */
static int set_flag(const char *verb, const flag *f, const char *v, json_t *body, tds_buf *query)
{
	json_t *arr;
	json_t *j;
	switch (f->kind) {
	case V_STR:
		json_object_set_new(body, f->member, json_string(v));
		return 0;
	case V_ARRAY:
		if (!(arr = json_object_get(body, f->member)))
			json_object_set_new(body, f->member, arr = json_array());
		json_array_append_new(arr, json_string(v));
		return 0;
	case V_BOOL:
		if (strcmp(v, "yes") && strcmp(v, "no"))
			return tds_cli_usage("resource %s: --%s takes yes or no", verb, f->flag);
		json_object_set_new(body, f->member, json_boolean(v[0] == 'y'));
		return 0;
	case V_JSON:
		if (!(j = json_loads(v, 0, NULL)))
			return tds_cli_usage("resource %s: --%s must be a JSON object", verb, f->flag);
		json_object_set_new(body, f->member, j);
		return 0;
	case V_QUERY:
		tds_buf_printf(query, "%c%s=", query->len ? '&' : '?', f->member);
		query_value(query, v);
		return 0;
	}
	return 0;
}

int tds_cli_resource(const char *node, const char *token, int argc, char **argv)
{
	if (argc < 2)
		return usage();
	static const char *const VERBS[] = {"register", "list", "show", "code", "update", "override",
					    "review", "publish", "deregister", "confirm", "remove"};
	const char *verb = argv[1], *arg = NULL;
	bool json = false, known = false;
	for (size_t i = 0; i < TDS_ARRAY_LEN(VERBS); i++)
		known = known || strcmp(verb, VERBS[i]) == 0;
	if (!known)
		return usage();
	json_t *body = json_object(), *out = NULL;
	tds_buf path = TDS_BUF_INIT, query = TDS_BUF_INIT;
	int rc = 0;
	for (int i = 2; i < argc && !rc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--json") == 0) {
			json = true;
			continue;
		}
		if (strncmp(a, "--", 2) != 0) {
			if (arg)
				rc = tds_cli_usage("resource %s: unexpected argument '%s'", verb, a);
			arg = a;
			continue;
		}
		const flag *f = NULL;
		for (size_t k = 0; k < TDS_ARRAY_LEN(FLAGS) && !f; k++)
			if (strcmp(FLAGS[k].verb, verb) == 0 && strcmp(FLAGS[k].flag, a + 2) == 0)
				f = &FLAGS[k];
		if (!f)
			rc = tds_cli_usage("resource %s: unknown option %s", verb, a);
		else if (!v)
			rc = tds_cli_usage("resource %s: %s needs a value", verb, a);
		else
			rc = set_flag(verb, f, v, body, &query);
		i++;
	}
	const char *method = "POST";
	bool has_body = true;
	if (rc)
		goto done;
	if (!strcmp(verb, "register") || !strcmp(verb, "list")) {
		if (arg) {
			rc = tds_cli_usage("resource %s: unexpected argument '%s'", verb, arg);
			goto done;
		}
		tds_buf_puts(&path, "/api/v1/resources");
		if (verb[0] == 'l')
			method = "GET", has_body = false;
	} else if (!strcmp(verb, "code")) {
		if (!arg) {
			rc = usage();
			goto done;
		}
		tds_buf_puts(&path, "/api/v1/resource-codes?code=");
		query_value(&path, arg);
		method = "GET", has_body = false;
	} else if (!arg || !tds_id_valid(arg, "res")) {
		rc = arg ? tds_cli_usage("resource %s: '%s' is not a resource id (res_…)", verb, arg) : usage();
		goto done;
	} else {
		tds_buf_printf(&path, "/api/v1/resources/%s", arg);
		if (!strcmp(verb, "show"))
			method = "GET", has_body = false;
		else if (!strcmp(verb, "update"))
			method = "PUT";
		else if (!strcmp(verb, "override"))
			tds_buf_puts(&path, "/overrides");
		else if (!strcmp(verb, "review"))
			tds_buf_puts(&path, "/reviews");
		else if (!strcmp(verb, "confirm")) {
			tds_buf_puts(&path, "/deregister/confirm");
			json_object_set_new(body, "copies_destroyed", json_true());
		} else
			tds_buf_printf(&path, "/%s", verb); /* publish, deregister, remove */
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
	tds_buf_free(&path);
	tds_buf_free(&query);
	return rc;
}
