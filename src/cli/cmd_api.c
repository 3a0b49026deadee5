/*
 * cmd_api.c — the management API client verbs of `tds`: each verb is one HTTP call to the node
 * given by --node (or TDS_NODE) with the bearer token of --token (or TDS_TOKEN). With --json the
 * response body is printed as one JSON line; without it, indented. Exit 0 on a 2xx answer, 1 on any
 * other answer or a connection failure, 2 on bad usage.
 *
 * The identity verbs (org, person, role, qualification, member, whitelist, password, session,
 * connector) are a table (VERBS below): each names its method, a path with the positional ids it
 * takes, the flags it accepts (--legal-rep becomes the JSON member legal_rep) and whether the flags go
 * in the body or, for lists, the query string. Passwords may come from TDS_PASSWORD instead of
 * --password, a ClientSecret from TDS_CLIENT_SECRET instead of --client-secret (keeps it out of ps).
 * `connector register` is the one verb with its own code: repeated --ip, --public-key FILE, and
 * --from-node URL, which reads the node id and public key from the connector's own /api/v1/node.
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
		if (strcmp(name, "role") == 0 || strcmp(name, "ip") == 0) {
			const char *key = name[0] == 'r' ? "roles" : "ips";
			json_t *arr = json_object_get(c->body, key);
			if (!arr)
				json_object_set_new(c->body, key, arr = json_array());
			json_t *item = json_string(v);
			if (!item)
				return tds_cli_usage("%s must be valid UTF-8", a);
			json_array_append_new(arr, item);
		} else if (strcmp(name, "expires-in-s") == 0 || strcmp(name, "limit") == 0 || strcmp(name, "level") == 0) {
			char *end;
			long long x = strtoll(v, &end, 10);
			if (!*v || *end)
				return tds_cli_usage("%s must be an integer", a);
			json_object_set_new(c->body, strcmp(name, "expires-in-s") == 0 ? "expires_in_s" : name, json_integer(x));
		} else {
			json_t *s = json_string(v);
			if (!s)
				return tds_cli_usage("%s must be valid UTF-8", a);
			char key[64];
			snprintf(key, sizeof key, "%s", name);
			for (char *k = key; *k; k++)
				if (*k == '-')
					*k = '_';
			json_object_set_new(c->body, key, s);
		}
	}
	*positional = npos;
	return 0;
}

static bool is(const char *a, const char *b) { return a && strcmp(a, b) == 0; }

/* ---- identity verbs ---- */

static const char *const F_REGISTER_ORG[] = {"username", "password", "name", "type", NULL};
static const char *const F_REGISTER_PERSON[] = {"username", "password", "display-name", NULL};
static const char *const F_VERIFY_ORG[] = {"uscc", "legal-rep", "licence-hash", NULL};
static const char *const F_VERIFY_PERSON[] = {"real-name", "id-number", NULL};
static const char *const F_REVIEW[] = {"decision", "reason", NULL};
static const char *const F_PAGE_STATUS[] = {"status", "limit", "cursor", NULL};
static const char *const F_ROLE_LIST[] = {"status", "holder", "limit", "cursor", NULL};
static const char *const F_QUAL_LIST[] = {"status", "org", "limit", "cursor", NULL};
static const char *const F_PAGE[] = {"limit", "cursor", NULL};
static const char *const F_APPLY[] = {"role", "justification", "service-type", NULL};
static const char *const F_QUAL_ADD[] = {"type", "level", "name", "issuer", "cert-no", "valid-from", "valid-to", "doc-hash", NULL};
static const char *const F_MEMBER_ADD[] = {"username", "password", "role", NULL};
static const char *const F_PASSWORD[] = {"old-password", "new-password", NULL};
static const char *const F_REASON[] = {"reason", NULL};
static const char *const F_CON_LIST[] = {"status", "org", "presence", "limit", "cursor", NULL};
static const char *const F_ENROLL[] = {"client-id", "client-secret", "operator-key-id", NULL};
static const char *const F_CON_REGISTER[] = {"name", "vendor-serial", "ip", "software-version", "api-endpoint",
					     "data-endpoint", "hw-fingerprint", "node-id", "public-key", "from-node", NULL};

typedef struct id_verb {
	const char *noun, *verb, *method;
	const char *path;           /* printf format with one %s per positional id */
	int npos;                   /* positional ids */
	const char *const *flags;   /* accepted flags, NULL = none */
	bool query;                 /* flags go in the query string (lists) */
	const char *default_decision; /* "approve" for role grant, else NULL */
} id_verb;

static const id_verb VERBS[] = {
    {"org", "register", "POST", "/api/v1/orgs", 0, F_REGISTER_ORG, false, NULL},
    {"org", "show", "GET", "/api/v1/orgs/%s", 1, NULL, false, NULL},
    {"org", "list", "GET", "/api/v1/orgs", 0, F_PAGE_STATUS, true, NULL},
    {"org", "verify", "POST", "/api/v1/orgs/%s/verification", 1, F_VERIFY_ORG, false, NULL},
    {"org", "review", "POST", "/api/v1/orgs/%s/review", 1, F_REVIEW, false, NULL},
    {"person", "register", "POST", "/api/v1/persons", 0, F_REGISTER_PERSON, false, NULL},
    {"person", "show", "GET", "/api/v1/persons/%s", 1, NULL, false, NULL},
    {"person", "list", "GET", "/api/v1/persons", 0, F_PAGE_STATUS, true, NULL},
    {"person", "verify", "POST", "/api/v1/persons/%s/verification", 1, F_VERIFY_PERSON, false, NULL},
    {"person", "review", "POST", "/api/v1/persons/%s/review", 1, F_REVIEW, false, NULL},
    {"role", "apply", "POST", "/api/v1/role-applications", 0, F_APPLY, false, NULL},
    {"role", "grant", "POST", "/api/v1/role-applications/%s/review", 1, F_REVIEW, false, "approve"},
    {"role", "list", "GET", "/api/v1/role-applications", 0, F_ROLE_LIST, true, NULL},
    {"role", "suspend", "POST", "/api/v1/orgs/%s/roles/%s/suspend", 2, F_REASON, false, NULL},
    {"role", "restore", "POST", "/api/v1/orgs/%s/roles/%s/restore", 2, F_REASON, false, NULL},
    {"qualification", "add", "POST", "/api/v1/orgs/%s/qualifications", 1, F_QUAL_ADD, false, NULL},
    {"qualification", "review", "POST", "/api/v1/qualifications/%s/review", 1, F_REVIEW, false, NULL},
    {"qualification", "list", "GET", "/api/v1/qualifications", 0, F_QUAL_LIST, true, NULL},
    {"member", "add", "POST", "/api/v1/orgs/%s/members", 1, F_MEMBER_ADD, false, NULL},
    {"member", "list", "GET", "/api/v1/orgs/%s/members", 1, F_PAGE, true, NULL},
    {"member", "disable", "POST", "/api/v1/orgs/%s/members/%s/disable", 2, NULL, false, NULL},
    {"member", "enable", "POST", "/api/v1/orgs/%s/members/%s/enable", 2, NULL, false, NULL},
    {"whitelist", NULL, "GET", "/api/v1/whitelist", 0, F_PAGE, true, NULL},
    {"password", "change", "POST", "/api/v1/me/password", 0, F_PASSWORD, false, NULL},
    {"session", "list", "GET", "/api/v1/me/sessions", 0, NULL, false, NULL},
    {"session", "revoke", "DELETE", "/api/v1/me/sessions/%s", 1, NULL, false, NULL},
    {"me", NULL, "GET", "/api/v1/me", 0, NULL, false, NULL},
    {"connector", "show", "GET", "/api/v1/connectors/%s", 1, NULL, false, NULL},
    {"connector", "list", "GET", "/api/v1/connectors", 0, F_CON_LIST, true, NULL},
    {"connector", "approve", "POST", "/api/v1/connectors/%s/review", 1, F_REASON, false, "approve"},
    {"connector", "reject", "POST", "/api/v1/connectors/%s/review", 1, F_REASON, false, "reject"},
    {"connector", "revoke", "POST", "/api/v1/connectors/%s/revoke", 1, F_REASON, false, NULL},
    {"connector", "enroll", "POST", "/api/v1/node/enrollment", 0, F_ENROLL, false, NULL},
};

/* True for ids and role names that may go into a path as they are. */
static bool path_safe(const char *s)
{
	if (!*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* Appends "name=value" to a query string, percent-encoding the value. */
static void query_add(char *q, size_t cap, const char *name, const char *value)
{
	size_t n = strlen(q);
	n += (size_t)snprintf(q + n, n < cap ? cap - n : 0, "%s%s=", strchr(q, '?') ? "&" : "?", name);
	for (const unsigned char *v = (const unsigned char *)value; *v && n + 4 < cap; v++) {
		if ((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') || (*v >= '0' && *v <= '9') || *v == '_' ||
		    *v == '-' || *v == '.')
			q[n++] = (char)*v;
		else
			n += (size_t)snprintf(q + n, cap - n, "%%%02X", *v);
	}
	q[n < cap ? n : cap - 1] = 0;
}

/* Runs one of VERBS; returns -1 when (noun, verb) is not in the table. */
static int identity_verb(const char *node, const char *token, int argc, char **argv)
{
	const char *noun = argv[0], *vb = argc > 1 ? argv[1] : NULL;
	const id_verb *v = NULL;
	for (size_t i = 0; i < TDS_ARRAY_LEN(VERBS) && !v; i++)
		if (is(noun, VERBS[i].noun) && (VERBS[i].verb ? is(vb, VERBS[i].verb) : true))
			v = &VERBS[i];
	if (!v)
		return -1;
	call c = {.method = v->method};
	char *pos[2] = {0};
	int npos = v->npos;
	int rc = flags_to_body(argc, argv, v->verb ? 2 : 1, &c, v->flags, &npos, pos);
	if (!rc && npos != v->npos)
		rc = tds_cli_usage("%s %s: give %d id%s", noun, vb ? vb : "", v->npos, v->npos == 1 ? "" : "s");
	for (int i = 0; !rc && i < npos; i++)
		if (!path_safe(pos[i]))
			rc = tds_cli_usage("'%s' is not an id", pos[i]);
	if (rc) {
		json_decref(c.body);
		return rc;
	}
	snprintf(c.path, sizeof c.path, v->path, npos > 0 ? pos[0] : "", npos > 1 ? pos[1] : "");
	json_t *roles = json_object_get(c.body, "roles");
	if (v->flags == F_APPLY && roles) { /* one role per application */
		if (json_array_size(roles) != 1) {
			json_decref(c.body);
			return tds_cli_usage("role apply: give exactly one --role");
		}
		json_object_set(c.body, "role", json_array_get(roles, 0));
		json_object_del(c.body, "roles");
	}
	if (v->default_decision && !json_object_get(c.body, "decision"))
		json_object_set_new(c.body, "decision", json_string(v->default_decision));
	if (v->flags == F_REGISTER_ORG || v->flags == F_REGISTER_PERSON || v->flags == F_MEMBER_ADD) {
		const char *pw = getenv("TDS_PASSWORD");
		if (pw && !json_object_get(c.body, "password"))
			json_object_set_new(c.body, "password", json_string(pw));
	}
	if (v->flags == F_ENROLL) {
		const char *secret = getenv("TDS_CLIENT_SECRET");
		if (secret && !json_object_get(c.body, "client_secret"))
			json_object_set_new(c.body, "client_secret", json_string(secret));
	}
	if (v->query) {
		const char *key;
		json_t *val;
		json_object_foreach(c.body, key, val) {
			char num[32];
			const char *text = json_string_value(val);
			if (json_is_integer(val)) {
				snprintf(num, sizeof num, "%lld", (long long)json_integer_value(val));
				text = num;
			}
			query_add(c.path, sizeof c.path, key, text ? text : "");
		}
	}
	if (v->query || strcmp(v->method, "GET") == 0 || strcmp(v->method, "DELETE") == 0) {
		json_decref(c.body);
		c.body = NULL;
	}
	return run(node, token, &c);
}

/* `connector register`: flags into the registration body; --public-key FILE is read, and
 * --from-node URL asks the connector itself for its node id and public key (and is the default
 * --api-endpoint). The operator is never asked to fetch anything. */
static int connector_register(const char *node, const char *token, int argc, char **argv)
{
	call c = {.method = "POST"};
	char *pos[1] = {0};
	int npos = 0;
	int rc = flags_to_body(argc, argv, 2, &c, F_CON_REGISTER, &npos, pos);
	const char *file = rc ? NULL : tds_json_str(c.body, "public_key", NULL);
	if (file) {
		tds_buf pem = TDS_BUF_INIT;
		if (tds_file_read(file, 65536, &pem)) {
			fprintf(stderr, "tds: cannot read %s: %s\n", file, tds_error_message());
			rc = 1;
		} else {
			json_object_set_new(c.body, "public_key_pem", json_stringn(pem.data, pem.len));
		}
		tds_buf_free(&pem);
		json_object_del(c.body, "public_key");
	}
	const char *from = rc ? NULL : tds_json_str(c.body, "from_node", NULL);
	if (from) {
		tds_http_client *cl = tds_http_client_new(from, 15000);
		long status = 0;
		json_t *info = NULL;
		if (!cl || tds_http_client_json(cl, "GET", "/api/v1/node", NULL, &status, &info) || status != 200 ||
		    !tds_json_str(info, "node_id", NULL) || !tds_json_str(info, "public_key_pem", NULL)) {
			fprintf(stderr, "tds: 无法读取连接器节点信息 cannot read %s/api/v1/node (HTTP %ld)\n", from, status);
			rc = 1;
		} else {
			if (!json_object_get(c.body, "node_id"))
				json_object_set(c.body, "node_id", json_object_get(info, "node_id"));
			if (!json_object_get(c.body, "public_key_pem"))
				json_object_set(c.body, "public_key_pem", json_object_get(info, "public_key_pem"));
			if (!json_object_get(c.body, "api_endpoint"))
				json_object_set_new(c.body, "api_endpoint", json_string(from));
		}
		tds_http_client_free(cl);
		json_decref(info);
		json_object_del(c.body, "from_node");
	}
	if (rc) {
		json_decref(c.body);
		return rc;
	}
	snprintf(c.path, sizeof c.path, "/api/v1/connectors");
	return run(node, token, &c);
}

int tds_cli_api(const char *node, const char *token, int argc, char **argv)
{
	call c = {.method = "GET"};
	const char *noun = argv[0], *verb = argc > 1 ? argv[1] : NULL;
	char *pos[2] = {0};
	int npos = 0, rc = 0;
	if (is(noun, "connector") && is(verb, "register"))
		return connector_register(node, token, argc, argv);
	int id_rc = identity_verb(node, token, argc, argv);
	if (id_rc >= 0)
		return id_rc;
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
