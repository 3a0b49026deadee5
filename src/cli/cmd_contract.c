/*
 * cmd_contract.c — `tds contract …` and `tds order …`: the digital contract (数字合约) client verbs,
 * one HTTP call each, against the operator's /api/v1/contract-templates, /api/v1/orders and
 * /api/v1/contracts routes (and, for `contract sign`, a party's connector). Options become the
 * request's JSON members; the node checks them. JSON-valued options take the JSON text itself or
 * @FILE to read it from a file.
 *
 * Not for the contract logic (src/contract).
 */
#include "cli/cli.h"

#include "base/base.h"
#include "http/http.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int contract_usage(void)
{
	return tds_cli_usage(
	    "contract: expected one of\n"
	    "  contract template list | template show TPL [--version N]\n"
	    "  contract template create --form api|dataset|file|compute --name N --clauses JSON --defaults JSON\n"
	    "  contract list [--state S] [--limit N] [--cursor C] | contract show CTR | contract versions CTR\n"
	    "  contract version CTR N | contract diff CTR --from N --to M\n"
	    "  contract propose CTR --base N (--terms JSON | --patch JSON) [--note T]\n"
	    "  contract accept CTR --version N --hash H       (a party, on the operator)\n"
	    "  contract sign CTR --version N --hash H         (a party, on its connector)\n"
	    "  contract suspend|resume|terminate CTR --reason R\n"
	    "  JSON: the text itself or @FILE; every verb takes --json");
}

static int order_usage(void)
{
	return tds_cli_usage("order: expected one of\n"
			     "  order create (--product PRD | --code CODE) --action A [--action A]… [--field F]… [--purpose P]…\n"
			     "               [--from RFC3339 --to RFC3339] [--count N] [--rate N/minute|N/day] [--env E]…\n"
			     "               [--note T]                   (a consumer, on the operator)\n"
			     "  order list [--limit N] [--cursor C] | order show ORD\n"
			     "  order draft ORD [--service ORG]…            (the operator drafts the contract)\n"
			     "  every verb takes --json");
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

/* A JSON value from the text or @FILE. */
static json_t *json_arg(const char *v)
{
	if (v[0] != '@')
		return json_loads(v, JSON_DECODE_ANY, NULL);
	tds_buf b = TDS_BUF_INIT;
	json_t *j = NULL;
	if (!tds_file_read(v + 1, 1 << 20, &b))
		j = json_loadb(b.data ? b.data : "", b.len, JSON_DECODE_ANY, NULL);
	tds_buf_free(&b);
	return j;
}

static bool whole(const char *s, long long *out)
{
	size_t n = strlen(s);
	if (n == 0 || n > 15 || strspn(s, "0123456789") != n)
		return false;
	*out = strtoll(s, NULL, 10);
	return true;
}

/* Options of one invocation: flags with values (repeatable ones collected), positional args. */
typedef struct opts {
	const char *pos[3];
	int npos;
	json_t *flags; /* name → string, or array for repeated flags */
	bool json;
} opts;

static int parse(const char *noun, int argc, char **argv, int from, opts *o)
{
	o->flags = json_object();
	for (int i = from; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--json")) {
			o->json = true;
			continue;
		}
		if (strncmp(a, "--", 2)) {
			if (o->npos >= 3)
				return tds_cli_usage("%s: unexpected argument '%s'", noun, a);
			o->pos[o->npos++] = a;
			continue;
		}
		if (i + 1 >= argc)
			return tds_cli_usage("%s: %s needs a value", noun, a);
		json_t *prev = json_object_get(o->flags, a + 2);
		if (!prev) {
			json_object_set_new(o->flags, a + 2, json_string(argv[i + 1]));
		} else if (json_is_array(prev)) {
			json_array_append_new(prev, json_string(argv[i + 1]));
		} else {
			json_object_set_new(o->flags, a + 2, json_pack("[O, s]", prev, argv[i + 1]));
		}
		i++;
	}
	return 0;
}

/* Every flag of o must be in allowed (NULL-terminated). */
static int only(const char *noun, const opts *o, const char *const *allowed)
{
	const char *k;
	json_t *v;
	json_object_foreach(o->flags, k, v) {
		bool ok = false;
		for (size_t i = 0; allowed[i]; i++)
			ok |= !strcmp(k, allowed[i]);
		if (!ok)
			return tds_cli_usage("%s: unknown option --%s", noun, k);
	}
	return 0;
}

static const char *flag(const opts *o, const char *name)
{
	json_t *v = json_object_get(o->flags, name);
	return json_is_array(v) ? json_string_value(json_array_get(v, json_array_size(v) - 1)) : json_string_value(v);
}

/* A repeatable flag's values as a new array (NULL when absent). */
static json_t *flags(const opts *o, const char *name)
{
	json_t *v = json_object_get(o->flags, name);
	if (!v)
		return NULL;
	return json_is_array(v) ? json_incref(v) : json_pack("[O]", v);
}

/* Performs the call and prints the answer; the process exit code. */
static int call(const char *node, const char *token, const char *method, const char *path, json_t *body, bool json)
{
	if (!node)
		return tds_cli_usage("no node: pass --node URL (or set TDS_NODE)");
	tds_http_client *cl = tds_http_client_new(node, 120000);
	if (!cl)
		return 1;
	if (token)
		tds_http_client_set_token(cl, token);
	long status = 0;
	json_t *out = NULL;
	int rc = tds_http_client_json(cl, method, path, body, &status, &out);
	tds_http_client_free(cl);
	if (rc) {
		fprintf(stderr, "tds: 无法连接节点 cannot reach %s: %s\n", node, tds_error_message());
		return 1;
	}
	if (out) {
		char *s = json_dumps(out, json ? JSON_COMPACT : JSON_INDENT(2));
		if (s)
			puts(s);
		free(s);
	}
	rc = 0;
	if (status < 200 || status >= 300) {
		json_t *err = json_object_get(out, "error");
		if (!json)
			fprintf(stderr, "tds: 请求失败 HTTP %ld: %s (%s)\n", status, tds_json_str(err, "message", "no message"),
				tds_json_str(err, "code", "unknown"));
		rc = 1;
	}
	json_decref(out);
	return rc;
}

/* Adds ?name=value&… for the given flags present. */
static void add_query(tds_buf *path, const opts *o, const char *const *names)
{
	bool first = !strchr(path->data ? path->data : "", '?');
	for (size_t i = 0; names[i]; i++) {
		const char *v = flag(o, names[i]);
		if (!v)
			continue;
		tds_buf_printf(path, "%c%s=", first ? '?' : '&', names[i]);
		query_value(path, v);
		first = false;
	}
}

static int need_id(const char *noun, const char *verb, const char *id, const char *prefix)
{
	if (!id)
		return tds_cli_usage("%s %s: give the id", noun, verb);
	if (!tds_id_valid(id, prefix))
		return tds_cli_usage("%s %s: '%s' is not a %s id (%s_…)", noun, verb, id, prefix, prefix);
	return 0;
}

static int version_hash_body(const char *noun, const char *verb, const opts *o, json_t **body)
{
	long long v;
	const char *vs = flag(o, "version"), *h = flag(o, "hash");
	if (!vs || !h || !whole(vs, &v))
		return tds_cli_usage("%s %s: --version N and --hash H (the document_hash you were shown) are required", noun, verb);
	*body = json_pack("{s:I, s:s}", "version", (json_int_t)v, "document_hash", h);
	return 0;
}

int tds_cli_contract(const char *node, const char *token, int argc, char **argv)
{
	if (argc < 2)
		return contract_usage();
	const char *verb = argv[1];
	bool tpl = !strcmp(verb, "template");
	if (tpl && argc < 3)
		return contract_usage();
	const char *sub = tpl ? argv[2] : NULL;
	opts o = {0};
	tds_buf path = TDS_BUF_INIT;
	json_t *body = NULL;
	const char *method = "GET";
	int rc = parse("contract", argc, argv, tpl ? 3 : 2, &o);
	if (rc)
		goto done;
	const char *id = o.npos ? o.pos[0] : NULL;
	if (tpl && !strcmp(sub, "list")) {
		static const char *const a[] = {NULL};
		if (!(rc = only("contract template list", &o, a)))
			tds_buf_puts(&path, "/api/v1/contract-templates");
	} else if (tpl && !strcmp(sub, "show")) {
		static const char *const a[] = {"version", NULL};
		if (!(rc = only("contract template show", &o, a)) && !(rc = need_id("contract template", "show", id, "tpl"))) {
			tds_buf_printf(&path, "/api/v1/contract-templates/%s", id);
			add_query(&path, &o, a);
		}
	} else if (tpl && !strcmp(sub, "create")) {
		static const char *const a[] = {"form", "name", "clauses", "defaults", NULL};
		json_t *cl = flag(&o, "clauses") ? json_arg(flag(&o, "clauses")) : NULL,
		       *df = flag(&o, "defaults") ? json_arg(flag(&o, "defaults")) : NULL;
		if (!(rc = only("contract template create", &o, a))) {
			if (!flag(&o, "form") || !flag(&o, "name") || !cl || !df)
				rc = tds_cli_usage("contract template create: --form, --name, --clauses JSON and --defaults JSON are required");
			else
				body = json_pack("{s:s, s:s, s:O, s:O}", "form", flag(&o, "form"), "name", flag(&o, "name"), "clauses", cl,
						 "policy_defaults", df);
		}
		json_decref(cl);
		json_decref(df);
		method = "POST";
		tds_buf_puts(&path, "/api/v1/contract-templates");
	} else if (tpl) {
		rc = contract_usage();
	} else if (!strcmp(verb, "list")) {
		static const char *const a[] = {"state", "limit", "cursor", NULL};
		if (!(rc = only("contract list", &o, a))) {
			tds_buf_puts(&path, "/api/v1/contracts");
			add_query(&path, &o, a);
		}
	} else if (!strcmp(verb, "show") || !strcmp(verb, "versions")) {
		static const char *const a[] = {NULL};
		if (!(rc = only("contract", &o, a)) && !(rc = need_id("contract", verb, id, "ctr")))
			tds_buf_printf(&path, "/api/v1/contracts/%s%s", id, verb[0] == 'v' ? "/versions" : "");
	} else if (!strcmp(verb, "version")) {
		static const char *const a[] = {NULL};
		long long v;
		if (!(rc = only("contract version", &o, a)) && !(rc = need_id("contract", verb, id, "ctr"))) {
			if (o.npos < 2 || !whole(o.pos[1], &v))
				rc = tds_cli_usage("contract version CTR N: N is a version number");
			else
				tds_buf_printf(&path, "/api/v1/contracts/%s/versions/%lld", id, v);
		}
	} else if (!strcmp(verb, "diff")) {
		static const char *const a[] = {"from", "to", NULL};
		if (!(rc = only("contract diff", &o, a)) && !(rc = need_id("contract", verb, id, "ctr"))) {
			if (!flag(&o, "from") || !flag(&o, "to"))
				rc = tds_cli_usage("contract diff: --from N and --to M are required");
			tds_buf_printf(&path, "/api/v1/contracts/%s/diff", id);
			add_query(&path, &o, a);
		}
	} else if (!strcmp(verb, "propose")) {
		static const char *const a[] = {"base", "terms", "patch", "note", NULL};
		long long base;
		method = "POST";
		if (!(rc = only("contract propose", &o, a)) && !(rc = need_id("contract", verb, id, "ctr"))) {
			const char *t = flag(&o, "terms"), *p = flag(&o, "patch");
			json_t *j = t ? json_arg(t) : p ? json_arg(p) : NULL;
			if (!flag(&o, "base") || !whole(flag(&o, "base"), &base) || !t == !p || !json_is_object(j))
				rc = tds_cli_usage("contract propose: --base N and one of --terms JSON or --patch JSON (objects) are required");
			else
				body = json_pack("{s:I, s:O, s:s?}", "base_version", (json_int_t)base, t ? "terms" : "patch", j, "note",
						 flag(&o, "note"));
			json_decref(j);
			tds_buf_printf(&path, "/api/v1/contracts/%s/proposals", id);
		}
	} else if (!strcmp(verb, "accept") || !strcmp(verb, "sign")) {
		static const char *const a[] = {"version", "hash", NULL};
		method = "POST";
		if (!(rc = only("contract", &o, a)) && !(rc = need_id("contract", verb, id, "ctr")) &&
		    !(rc = version_hash_body("contract", verb, &o, &body)))
			tds_buf_printf(&path, "/api/v1/contracts/%s/%s", id, verb);
	} else if (!strcmp(verb, "suspend") || !strcmp(verb, "resume") || !strcmp(verb, "terminate")) {
		static const char *const a[] = {"reason", NULL};
		method = "POST";
		if (!(rc = only("contract", &o, a)) && !(rc = need_id("contract", verb, id, "ctr"))) {
			if (!flag(&o, "reason"))
				rc = tds_cli_usage("contract %s: --reason R is required", verb);
			body = json_pack("{s:s}", "reason", flag(&o, "reason") ? flag(&o, "reason") : "");
			tds_buf_printf(&path, "/api/v1/contracts/%s/%s", id, verb);
		}
	} else {
		rc = contract_usage();
	}
	if (!rc && o.npos > (!strcmp(verb, "version") ? 2 : tpl && (!strcmp(sub, "list") || !strcmp(sub, "create")) ? 0 : 1))
		rc = tds_cli_usage("contract %s: unexpected argument '%s'", verb, o.pos[o.npos - 1]);
	if (!rc && !strcmp(verb, "list") && o.npos)
		rc = tds_cli_usage("contract list: unexpected argument '%s'", o.pos[0]);
	if (!rc)
		rc = call(node, token, method, path.data, body, o.json);
done:
	json_decref(o.flags);
	json_decref(body);
	tds_buf_free(&path);
	return rc;
}

int tds_cli_order(const char *node, const char *token, int argc, char **argv)
{
	if (argc < 2)
		return order_usage();
	const char *verb = argv[1];
	opts o = {0};
	tds_buf path = TDS_BUF_INIT;
	json_t *body = NULL;
	const char *method = "GET";
	int rc = parse("order", argc, argv, 2, &o);
	if (rc)
		goto done;
	const char *id = o.npos ? o.pos[0] : NULL;
	if (!strcmp(verb, "create")) {
		static const char *const a[] = {"product", "code", "action", "field", "purpose", "from", "to",
						"count", "rate", "env", "note", NULL};
		method = "POST";
		tds_buf_puts(&path, "/api/v1/orders");
		if ((rc = only("order create", &o, a)))
			goto done;
		if (o.npos) {
			rc = tds_cli_usage("order create: unexpected argument '%s'", o.pos[0]);
			goto done;
		}
		if (!flag(&o, "product") == !flag(&o, "code") || !flag(&o, "action")) {
			rc = tds_cli_usage("order create: one of --product PRD or --code CODE, and at least one --action");
			goto done;
		}
		body = json_object();
		if (flag(&o, "product"))
			json_object_set_new(body, "product_id", json_string(flag(&o, "product")));
		else
			json_object_set_new(body, "product_code", json_string(flag(&o, "code")));
		static const char *const arrays[][2] = {{"action", "actions"}, {"field", "fields"}, {"purpose", "purposes"},
							{"env", "environment"}};
		for (size_t i = 0; i < TDS_ARRAY_LEN(arrays); i++) {
			json_t *v = flags(&o, arrays[i][0]);
			if (v)
				json_object_set_new(body, arrays[i][1], v);
		}
		if (!flag(&o, "from") != !flag(&o, "to")) {
			rc = tds_cli_usage("order create: --from and --to go together");
			goto done;
		}
		if (flag(&o, "from"))
			json_object_set_new(body, "validity", json_pack("{s:s, s:s}", "from", flag(&o, "from"), "to", flag(&o, "to")));
		long long n;
		if (flag(&o, "count")) {
			if (!whole(flag(&o, "count"), &n)) {
				rc = tds_cli_usage("order create: --count takes a whole number");
				goto done;
			}
			json_object_set_new(body, "count", json_integer(n));
		}
		if (flag(&o, "rate")) {
			const char *r = flag(&o, "rate"), *slash = strchr(r, '/');
			char num[16];
			if (!slash || (size_t)(slash - r) >= sizeof num) {
				rc = tds_cli_usage("order create: --rate takes N/minute or N/day");
				goto done;
			}
			snprintf(num, sizeof num, "%.*s", (int)(slash - r), r);
			if (!whole(num, &n)) {
				rc = tds_cli_usage("order create: --rate takes N/minute or N/day");
				goto done;
			}
			json_object_set_new(body, "rate", json_pack("{s:I, s:s}", "limit", (json_int_t)n, "unit", slash + 1));
		}
		if (flag(&o, "note"))
			json_object_set_new(body, "note", json_string(flag(&o, "note")));
	} else if (!strcmp(verb, "list")) {
		static const char *const a[] = {"limit", "cursor", NULL};
		if (!(rc = only("order list", &o, a))) {
			tds_buf_puts(&path, "/api/v1/orders");
			add_query(&path, &o, a);
			if (o.npos)
				rc = tds_cli_usage("order list: unexpected argument '%s'", o.pos[0]);
		}
	} else if (!strcmp(verb, "show")) {
		static const char *const a[] = {NULL};
		if (!(rc = only("order show", &o, a)) && !(rc = need_id("order", verb, id, "ord")))
			tds_buf_printf(&path, "/api/v1/orders/%s", id);
	} else if (!strcmp(verb, "draft")) {
		static const char *const a[] = {"service", NULL};
		method = "POST";
		if (!(rc = only("order draft", &o, a)) && !(rc = need_id("order", verb, id, "ord"))) {
			tds_buf_printf(&path, "/api/v1/orders/%s/contract", id);
			body = json_object();
			json_t *s = flags(&o, "service");
			if (s)
				json_object_set_new(body, "service", s);
		}
	} else {
		rc = order_usage();
	}
	if (!rc && o.npos > 1)
		rc = tds_cli_usage("order %s: unexpected argument '%s'", verb, o.pos[1]);
	if (!rc)
		rc = call(node, token, method, path.data, body, o.json);
done:
	json_decref(o.flags);
	json_decref(body);
	tds_buf_free(&path);
	return rc;
}
