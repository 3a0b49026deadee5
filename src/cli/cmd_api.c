/*
 * cmd_api.c — the management API client verbs of `tds`: each verb is one HTTP call to the node
 * given by --node (or TDS_NODE) with the bearer token of --token (or TDS_TOKEN). With --json the
 * response body is printed as one JSON line; without it, indented. Exit 0 on a 2xx answer, 1 on any
 * other answer or a connection failure, 2 on bad usage.
 */
#include "cli/cli.h"
#include "http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct call {
	const char *method;
	char path[1024];
	json_t *body; /* owned */
	bool json;
} call;

static int print_json(const json_t *o, bool compact)
{
	char *s = json_dumps(o, compact ? JSON_COMPACT : JSON_INDENT(2));
	if (s)
		puts(s);
	free(s);
	return 0;
}

static int run(const char *node, const char *token, call *c)
{
	if (!node) {
		json_decref(c->body);
		return tds_cli_usage("no node: pass --node URL (or set TDS_NODE)");
	}
	tds_http_client *cl = tds_http_client_new(node, 30000);
	if (!cl) {
		json_decref(c->body);
		fprintf(stderr, "tds: cannot create an HTTP client\n");
		return 1;
	}
	if (token)
		tds_http_client_set_token(cl, token);
	long status = 0;
	json_t *out = NULL;
	int rc = tds_http_client_json(cl, c->method, c->path, c->body, &status, &out);
	tds_http_client_free(cl);
	json_decref(c->body);
	if (rc) {
		if (c->json) {
			json_t *e = json_pack("{s:{s:s, s:s}}", "error", "code", "connection_failed", "message", tds_error_message());
			print_json(e, true);
			json_decref(e);
		}
		fprintf(stderr, "tds: 无法连接节点 cannot reach %s: %s\n", node, tds_error_message());
		return 1;
	}
	bool ok = status >= 200 && status < 300;
	if (out)
		print_json(out, c->json);
	else if (c->json)
		printf("{\"status\":%ld}\n", status);
	if (!ok && !c->json) {
		json_t *err = json_object_get(out, "error");
		fprintf(stderr, "tds: 请求失败 HTTP %ld: %s (%s)\n", status, tds_json_str(err, "message", "no message"),
			tds_json_str(err, "code", "unknown"));
	}
	json_decref(out);
	return ok ? 0 : 1;
}

/* Reads flags of the form --name value into a JSON body; repeated --role flags become "roles". */
static int flags_to_body(int argc, char **argv, int start, call *c, const char *const *allowed, int *positional,
			 char **pos)
{
	c->body = json_object();
	int npos = 0;
	for (int i = start; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--json") == 0) {
			c->json = true;
			continue;
		}
		if (strncmp(a, "--", 2) != 0) {
			if (npos >= *positional)
				return tds_cli_usage("unexpected argument '%s'", a);
			pos[npos++] = argv[i];
			continue;
		}
		if (i + 1 >= argc)
			return tds_cli_usage("%s needs a value", a);
		const char *name = a + 2;
		bool known = false;
		for (size_t k = 0; allowed && allowed[k]; k++)
			known = known || strcmp(allowed[k], name) == 0;
		if (!known)
			return tds_cli_usage("unknown option %s", a);
		const char *v = argv[++i];
		if (strcmp(name, "role") == 0) {
			json_t *roles = json_object_get(c->body, "roles");
			if (!roles)
				json_object_set_new(c->body, "roles", roles = json_array());
			json_array_append_new(roles, json_string(v));
		} else if (strcmp(name, "expires-in-s") == 0 || strcmp(name, "limit") == 0) {
			char *end;
			long long x = strtoll(v, &end, 10);
			if (!*v || *end)
				return tds_cli_usage("%s must be an integer", a);
			json_object_set_new(c->body, strcmp(name, "limit") == 0 ? "limit" : "expires_in_s", json_integer(x));
		} else {
			json_t *s = json_string(v);
			if (!s)
				return tds_cli_usage("%s must be valid UTF-8", a);
			json_object_set_new(c->body, name, s);
		}
	}
	*positional = npos;
	return 0;
}

static bool is(const char *a, const char *b) { return a && strcmp(a, b) == 0; }

int tds_cli_api(const char *node, const char *token, int argc, char **argv)
{
	call c = {.method = "GET"};
	const char *noun = argv[0], *verb = argc > 1 ? argv[1] : NULL;
	char *pos[2] = {0};
	int npos = 0, rc = 0;
	if (is(noun, "health")) {
		snprintf(c.path, sizeof c.path, "/healthz");
		npos = 0;
		rc = flags_to_body(argc, argv, 1, &c, NULL, &npos, pos);
	} else if (is(noun, "whoami") || is(noun, "routes") || (is(noun, "node") && is(verb, "info"))) {
		snprintf(c.path, sizeof c.path, "%s",
			 is(noun, "whoami") ? "/api/v1/auth/whoami" : is(noun, "routes") ? "/api/v1/routes" : "/api/v1/node");
		rc = flags_to_body(argc, argv, is(noun, "node") ? 2 : 1, &c, NULL, &npos, pos);
	} else if (is(noun, "login")) {
		static const char *const allowed[] = {"username", "password", NULL};
		c.method = "POST";
		snprintf(c.path, sizeof c.path, "/api/v1/auth/login");
		rc = flags_to_body(argc, argv, 1, &c, allowed, &npos, pos);
		if (!rc && !json_object_get(c.body, "password")) {
			const char *pw = getenv("TDS_PASSWORD");
			if (!pw)
				rc = tds_cli_usage("login: give --password or set TDS_PASSWORD");
			else
				json_object_set_new(c.body, "password", json_string(pw));
		}
	} else if (is(noun, "logout")) {
		c.method = "POST";
		snprintf(c.path, sizeof c.path, "/api/v1/auth/logout");
		rc = flags_to_body(argc, argv, 1, &c, NULL, &npos, pos);
		json_decref(c.body);
		c.body = json_object();
	} else if (is(noun, "account") && is(verb, "create")) {
		static const char *const allowed[] = {"username", "password", "role", NULL};
		c.method = "POST";
		snprintf(c.path, sizeof c.path, "/api/v1/accounts");
		rc = flags_to_body(argc, argv, 2, &c, allowed, &npos, pos);
	} else if (is(noun, "account") && is(verb, "list")) {
		static const char *const allowed[] = {"limit", "cursor", NULL};
		rc = flags_to_body(argc, argv, 2, &c, allowed, &npos, pos);
		if (!rc) {
			const char *cur = tds_json_str(c.body, "cursor", NULL);
			snprintf(c.path, sizeof c.path, "/api/v1/accounts?limit=%lld%s%s",
				 (long long)tds_json_int(c.body, "limit", 50), cur ? "&cursor=" : "", cur ? cur : "");
			json_decref(c.body);
			c.body = NULL;
		}
	} else if (is(noun, "account") && (is(verb, "show") || is(verb, "disable") || is(verb, "enable"))) {
		npos = 1;
		rc = flags_to_body(argc, argv, 2, &c, NULL, &npos, pos);
		if (!rc && npos != 1)
			rc = tds_cli_usage("account %s: give the account id", verb);
		if (!rc) {
			json_decref(c.body);
			c.body = is(verb, "show") ? NULL : json_object();
			c.method = is(verb, "show") ? "GET" : "POST";
			snprintf(c.path, sizeof c.path, "/api/v1/accounts/%s%s", pos[0],
				 is(verb, "show") ? "" : is(verb, "disable") ? "/disable" : "/enable");
		}
	} else if (is(noun, "apikey") && is(verb, "create")) {
		static const char *const allowed[] = {"name", "role", "expires-in-s", NULL};
		c.method = "POST";
		snprintf(c.path, sizeof c.path, "/api/v1/api-keys");
		rc = flags_to_body(argc, argv, 2, &c, allowed, &npos, pos);
	} else if (is(noun, "apikey") && is(verb, "list")) {
		snprintf(c.path, sizeof c.path, "/api/v1/api-keys");
		rc = flags_to_body(argc, argv, 2, &c, NULL, &npos, pos);
		json_decref(c.body);
		c.body = NULL;
	} else if (is(noun, "apikey") && is(verb, "revoke")) {
		npos = 1;
		rc = flags_to_body(argc, argv, 2, &c, NULL, &npos, pos);
		if (!rc && npos != 1)
			rc = tds_cli_usage("apikey revoke: give the key id");
		if (!rc) {
			json_decref(c.body);
			c.body = NULL;
			c.method = "DELETE";
			snprintf(c.path, sizeof c.path, "/api/v1/api-keys/%s", pos[0]);
		}
	} else {
		return tds_cli_usage("unknown command '%s%s%s'", noun, verb ? " " : "", verb ? verb : "");
	}
	if (rc) {
		json_decref(c.body);
		return rc;
	}
	if (c.body && json_object_size(c.body) == 0 && strcmp(c.method, "GET") == 0) {
		json_decref(c.body);
		c.body = NULL;
	}
	return run(node, token, &c);
}
