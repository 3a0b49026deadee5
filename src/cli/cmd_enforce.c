/*
 * cmd_enforce.c — `tds token …`, `tds decision …` and `tds violation …`: the client verbs of
 * contract enforcement (使用控制), one HTTP call each: tokens (使用授权令牌) on the operator, a
 * usage-control decision on a provider's connector, violation lists on either, unfreezing (a
 * reviewed operator action) and a connector's copy of a contract.
 *
 * Not for the enforcement logic (src/contract/enforce.c). A usage token is a credential: pass it in
 * TDS_USAGE_TOKEN rather than on the command line, where other users of the machine can read it.
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
	    "expected one of\n"
	    "  token create CTR                              (a consumer account or connector, on the operator)\n"
	    "  token revoke CTR TOK --reason R               (operator/admin, or the consumer)\n"
	    "  decision (--contract CTR [--account ACC] [--connector NODE] | TDS_USAGE_TOKEN in the environment)\n"
	    "           --action A [--field F]… [--purpose P] [--environment E] [--client-ip IP] [--region R]\n"
	    "           [--row-filter V] [--epsilon E] [--acquired-at RFC3339]   (on the provider's connector)\n"
	    "  violation list [--contract CTR] [--limit N] [--cursor C]\n"
	    "  violation unfreeze CTR --reason R             (operator/admin, on the operator)\n"
	    "  violation contract CTR                        (a connector's copy: state, freeze, counters)\n"
	    "  every verb takes --json");
}

typedef struct args {
	const char *pos[3];
	int npos;
	json_t *flags; /* name → string, or array when repeated */
	bool json;
} args;

static int parse(int argc, char **argv, int from, const char *const *allowed, args *a)
{
	a->flags = json_object();
	for (int i = from; i < argc; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "--json")) {
			a->json = true;
			continue;
		}
		if (strncmp(s, "--", 2)) {
			if (a->npos >= 3)
				return tds_cli_usage("unexpected argument '%s'", s);
			a->pos[a->npos++] = s;
			continue;
		}
		bool ok = false;
		for (size_t k = 0; allowed[k]; k++)
			ok |= !strcmp(s + 2, allowed[k]);
		if (!ok)
			return tds_cli_usage("unknown option %s", s);
		if (i + 1 >= argc)
			return tds_cli_usage("%s needs a value", s);
		json_t *prev = json_object_get(a->flags, s + 2);
		if (!prev)
			json_object_set_new(a->flags, s + 2, json_string(argv[i + 1]));
		else if (json_is_array(prev))
			json_array_append_new(prev, json_string(argv[i + 1]));
		else
			json_object_set_new(a->flags, s + 2, json_pack("[O, s]", prev, argv[i + 1]));
		i++;
	}
	return 0;
}

static const char *flag(const args *a, const char *name)
{
	json_t *v = json_object_get(a->flags, name);
	return json_is_array(v) ? json_string_value(json_array_get(v, json_array_size(v) - 1)) : json_string_value(v);
}

static int need(const char *id, const char *prefix, const char *what)
{
	if (!id)
		return tds_cli_usage("give the %s", what);
	if (!tds_id_valid(id, prefix))
		return tds_cli_usage("'%s' is not a %s (%s_…)", id, what, prefix);
	return 0;
}

/* One call; prints the answer; the exit code. */
static int call(const char *node, const char *token, const char *method, const char *path, json_t *body, bool json)
{
	if (!node)
		return tds_cli_usage("no node: pass --node URL (or set TDS_NODE)");
	tds_http_client *cl = tds_http_client_new(node, 60000);
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
	rc = status >= 200 && status < 300 ? 0 : 1;
	if (rc && !json) {
		json_t *err = json_object_get(out, "error");
		fprintf(stderr, "tds: 请求失败 HTTP %ld: %s (%s)\n", status, tds_json_str(err, "message", "no message"),
			tds_json_str(err, "code", "unknown"));
	}
	json_decref(out);
	return rc;
}

static int token_cmd(const char *node, const char *token, int argc, char **argv)
{
	static const char *const allowed[] = {"reason", NULL};
	if (argc < 2)
		return usage();
	args a = {0};
	int rc = parse(argc, argv, 2, allowed, &a);
	char path[256];
	json_t *body = NULL;
	const char *verb = argv[1];
	if (!rc && !strcmp(verb, "create") && a.npos == 1 && !flag(&a, "reason") && !(rc = need(a.pos[0], "ctr", "contract id"))) {
		snprintf(path, sizeof path, "/api/v1/contracts/%s/tokens", a.pos[0]);
		body = json_object();
		rc = call(node, token, "POST", path, body, a.json);
	} else if (!rc && !strcmp(verb, "revoke") && a.npos == 2 && !(rc = need(a.pos[0], "ctr", "contract id")) &&
		   !(rc = need(a.pos[1], "tok", "token id"))) {
		if (!flag(&a, "reason"))
			rc = tds_cli_usage("token revoke: --reason is required");
		else {
			snprintf(path, sizeof path, "/api/v1/contracts/%s/tokens/%s/revoke", a.pos[0], a.pos[1]);
			body = json_pack("{s:s}", "reason", flag(&a, "reason"));
			rc = call(node, token, "POST", path, body, a.json);
		}
	} else if (!rc) {
		rc = usage();
	}
	json_decref(body);
	json_decref(a.flags);
	return rc;
}

static int decision_cmd(const char *node, const char *token, int argc, char **argv)
{
	static const char *const allowed[] = {"contract",  "account", "connector", "action",     "field",      "purpose",
					      "environment", "client-ip", "region",   "row-filter", "epsilon", "acquired-at",
					      NULL};
	args a = {0};
	int rc = parse(argc, argv, 1, allowed, &a);
	json_t *body = NULL;
	const char *usage_token = getenv("TDS_USAGE_TOKEN");
	if (!rc && a.npos)
		rc = tds_cli_usage("decision: unexpected argument '%s'", a.pos[0]);
	if (!rc && !flag(&a, "action"))
		rc = tds_cli_usage("decision: --action is required");
	if (!rc && !flag(&a, "contract") == !(usage_token && *usage_token))
		rc = tds_cli_usage("decision: give --contract CTR, or the consumer's token in TDS_USAGE_TOKEN (not both)");
	if (!rc) {
		body = json_pack("{s:s}", "action", flag(&a, "action"));
		if (flag(&a, "contract"))
			json_object_set_new(body, "contract_id", json_string(flag(&a, "contract")));
		else
			json_object_set_new(body, "token", json_string(usage_token));
		static const char *const map[][2] = {{"account", "account"},	     {"connector", "connector"},
						      {"purpose", "purpose"},	     {"environment", "environment"},
						      {"client-ip", "client_ip"},   {"region", "region"},
						      {"row-filter", "row_filter"}, {"epsilon", "epsilon"},
						      {"acquired-at", "acquired_at"}};
		for (size_t i = 0; i < TDS_ARRAY_LEN(map); i++)
			if (flag(&a, map[i][0]))
				json_object_set_new(body, map[i][1], json_string(flag(&a, map[i][0])));
		json_t *f = json_object_get(a.flags, "field");
		if (f)
			json_object_set_new(body, "fields", json_is_array(f) ? json_incref(f) : json_pack("[O]", f));
		/* a token call carries no bearer credentials: the usage token is the credential */
		rc = call(node, flag(&a, "contract") ? token : NULL, "POST", "/api/v1/decisions", body, a.json);
	}
	json_decref(body);
	json_decref(a.flags);
	return rc;
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

static int violation_cmd(const char *node, const char *token, int argc, char **argv)
{
	static const char *const allowed[] = {"contract", "limit", "cursor", "reason", NULL};
	if (argc < 2)
		return usage();
	args a = {0};
	int rc = parse(argc, argv, 2, allowed, &a);
	const char *verb = argv[1];
	json_t *body = NULL;
	tds_buf path = TDS_BUF_INIT;
	if (rc) {
	} else if (!strcmp(verb, "list") && !a.npos && !flag(&a, "reason")) {
		tds_buf_puts(&path, "/api/v1/violations");
		static const char *const q[][2] = {{"contract", "contract_id"}, {"limit", "limit"}, {"cursor", "cursor"}};
		char sep = '?';
		for (size_t i = 0; i < TDS_ARRAY_LEN(q); i++) {
			if (!flag(&a, q[i][0]))
				continue;
			tds_buf_printf(&path, "%c%s=", sep, q[i][1]);
			query_value(&path, flag(&a, q[i][0]));
			sep = '&';
		}
		rc = call(node, token, "GET", path.data, NULL, a.json);
	} else if (!strcmp(verb, "unfreeze") && a.npos == 1 && !(rc = need(a.pos[0], "ctr", "contract id"))) {
		if (!flag(&a, "reason") || flag(&a, "contract") || flag(&a, "limit") || flag(&a, "cursor")) {
			rc = tds_cli_usage("violation unfreeze CTR --reason R");
		} else {
			tds_buf_printf(&path, "/api/v1/contracts/%s/unfreeze", a.pos[0]);
			body = json_pack("{s:s}", "reason", flag(&a, "reason"));
			rc = call(node, token, "POST", path.data, body, a.json);
		}
	} else if (!strcmp(verb, "contract") && a.npos == 1 && json_object_size(a.flags) == 0 &&
		   !(rc = need(a.pos[0], "ctr", "contract id"))) {
		tds_buf_printf(&path, "/api/v1/enforcement/contracts/%s", a.pos[0]);
		rc = call(node, token, "GET", path.data, NULL, a.json);
	} else if (!rc) {
		rc = usage();
	}
	json_decref(body);
	json_decref(a.flags);
	tds_buf_free(&path);
	return rc;
}

int tds_cli_enforce(const char *node_url, const char *token, int argc, char **argv)
{
	if (argc < 1)
		return usage();
	if (!strcmp(argv[0], "token"))
		return token_cmd(node_url, token, argc, argv);
	if (!strcmp(argv[0], "decision"))
		return decision_cmd(node_url, token, argc, argv);
	if (!strcmp(argv[0], "violation"))
		return violation_cmd(node_url, token, argc, argv);
	return usage();
}
