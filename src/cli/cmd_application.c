/*
 * cmd_application.c — `tds application …`, `tds review …` and `tds authorization …`: the authorized
 * operation (授权运营) client verbs, one HTTP call each, against the operator's /api/v1/applications
 * and /api/v1/authorizations routes. An application's content is JSON (the text itself or @FILE);
 * review findings come as repeated --finding NAME=ok:NOTE | NAME=no:NOTE. The node checks everything.
 *
 * Not for the workflow itself (src/operation).
 */
#include "cli/cli.h"

#include "base/base.h"
#include "http/http.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int application_usage(void)
{
	return tds_cli_usage(
	    "application: expected one of\n"
	    "  application create --body JSON            draft an application (a consumer or developer)\n"
	    "  application update APL --body JSON        replace a draft or rejected application\n"
	    "  application submit APL [--note T] [--rectification T]   (rectification: resubmitting a rejected one)\n"
	    "  application list [--state S] [--limit N] [--cursor C] | application show APL\n"
	    "  application overdue [--limit N] [--cursor C]             review steps past their deadline\n"
	    "  JSON: the text itself or @FILE; every verb takes --json");
}

static int review_usage(void)
{
	return tds_cli_usage("review: expected\n"
			     "  review APL --stage accept|initial|final|regulator --decision approve|reject\n"
			     "             [--finding NAME=ok:NOTE | --finding NAME=no:NOTE]… [--reasons R] [--advice A]\n"
			     "             [--condition C]… [--json]");
}

static int authorization_usage(void)
{
	return tds_cli_usage("authorization: expected one of\n"
			     "  authorization list [--limit N] [--cursor C] | authorization show AUT   (--json on each)");
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

typedef struct opts {
	const char *pos[2];
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
			if (o->npos >= 2)
				return tds_cli_usage("%s: unexpected argument '%s'", noun, a);
			o->pos[o->npos++] = a;
			continue;
		}
		if (i + 1 >= argc)
			return tds_cli_usage("%s: %s needs a value", noun, a);
		json_t *prev = json_object_get(o->flags, a + 2);
		if (!prev)
			json_object_set_new(o->flags, a + 2, json_string(argv[i + 1]));
		else if (json_is_array(prev))
			json_array_append_new(prev, json_string(argv[i + 1]));
		else
			json_object_set_new(o->flags, a + 2, json_pack("[O, s]", prev, argv[i + 1]));
		i++;
	}
	return 0;
}

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
		if (json_is_array(v) && strcmp(k, "finding") && strcmp(k, "condition"))
			return tds_cli_usage("%s: --%s is given once", noun, k);
	}
	return 0;
}

static const char *flag(const opts *o, const char *name) { return json_string_value(json_object_get(o->flags, name)); }

static json_t *flags(const opts *o, const char *name)
{
	json_t *v = json_object_get(o->flags, name);
	if (!v)
		return NULL;
	return json_is_array(v) ? json_incref(v) : json_pack("[O]", v);
}

static void print_human(const json_t *out)
{
	/* an application or a list of them: one line each, then the issues and steps */
	const json_t *items = json_object_get(out, "items");
	if (items && !json_object_get(out, "id")) { /* a page (an authorization list has items too) */
		size_t i;
		json_t *it;
		json_array_foreach(items, i, it) {
			if (json_object_get(it, "application_id"))
				printf("%s  %-14s 逾期 overdue %lld h (due %s)\n", tds_json_str(it, "application_id", ""),
				       tds_json_str(it, "stage", ""), (long long)(tds_json_int(it, "overdue_ms", 0) / 3600000),
				       tds_json_str(it, "due_at", ""));
			else
				printf("%s  %-14s %s\n", tds_json_str(it, "id", ""), tds_json_str(it, "state", ""),
				       tds_json_str(json_object_get(it, "scenario"), "name", ""));
		}
		if (!json_array_size(items))
			puts("(无 none)");
		return;
	}
	const char *id = tds_json_str(out, "id", "");
	size_t i;
	json_t *v;
	if (!strncmp(id, "apl_", 4)) {
		/* an application: its state, issues and progress (审核进度) */
		printf("申请 application %s  状态 state %s  轮次 round %lld%s\n", id, tds_json_str(out, "state", ""),
		       (long long)tds_json_int(out, "round", 0), tds_json_bool(out, "regulator_required", false) ? "  监管会审 regulator joins" : "");
		printf("场景 scenario: %s (%s)\n", tds_json_str(json_object_get(out, "scenario"), "name", ""), tds_json_str(out, "purpose", ""));
		if (tds_json_str(out, "due_at", NULL))
			printf("期限 due: %s%s\n", tds_json_str(out, "due_at", ""), tds_json_bool(out, "overdue", false) ? "  已逾期 OVERDUE" : "");
		json_array_foreach(json_object_get(out, "issues"), i, v)
			printf("  问题 issue  %-40s %s: %s\n", tds_json_str(v, "path", ""), tds_json_str(v, "code", ""),
			       tds_json_str(v, "reason", ""));
		json_array_foreach(json_object_get(out, "steps"), i, v) {
			printf("  %s  第%lld轮 %-9s %-9s %s", tds_json_str(v, "at", ""), (long long)tds_json_int(v, "round", 0),
			       tds_json_str(v, "stage", ""), tds_json_str(v, "decision", ""), tds_json_str(v, "reviewer", "-"));
			if (tds_json_str(v, "reasons", NULL))
				printf("  理由 reasons: %s", tds_json_str(v, "reasons", ""));
			if (tds_json_str(v, "advice", NULL))
				printf("  整改建议 advice: %s", tds_json_str(v, "advice", ""));
			putchar('\n');
		}
		if (tds_json_str(out, "authorization_id", NULL))
			printf("授权清单 authorization list: %s\n", tds_json_str(out, "authorization_id", ""));
		return;
	}
	if (!strncmp(id, "aut_", 4)) {
		printf("授权清单 authorization list %s  持有 holder %s  %s  %s — %s\n", id, tds_json_str(out, "holder_org", ""),
		       tds_json_str(out, "state", ""), tds_json_str(out, "valid_from", ""), tds_json_str(out, "valid_to", ""));
		json_array_foreach(json_object_get(out, "items"), i, v) {
			printf("  %s (%s)  用途 purpose %s  字段 fields:", tds_json_str(v, "name", ""), tds_json_str(v, "entry_id", ""),
			       tds_json_str(json_object_get(v, "scope_of_use"), "purpose", ""));
			size_t k;
			json_t *f;
			json_array_foreach(json_object_get(v, "fields"), k, f) printf(" %s", tds_json_str(f, "name", ""));
			putchar('\n');
		}
		return;
	}
	char *s = json_dumps(out, JSON_INDENT(2));
	if (s)
		puts(s);
	free(s);
}

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
	bool okst = status >= 200 && status < 300;
	if (out && (json || okst)) {
		if (json) {
			char *s = json_dumps(out, JSON_COMPACT);
			if (s)
				puts(s);
			free(s);
		} else {
			print_human(out);
		}
	}
	if (!okst) {
		json_t *err = json_object_get(out, "error");
		if (!json) {
			fprintf(stderr, "tds: 请求失败 HTTP %ld: %s (%s)\n", status, tds_json_str(err, "message", "no message"),
				tds_json_str(err, "code", "unknown"));
			size_t i;
			json_t *is;
			json_array_foreach(json_object_get(json_object_get(err, "details"), "issues"), i, is)
				fprintf(stderr, "  %s  %s: %s\n", tds_json_str(is, "path", ""), tds_json_str(is, "code", ""),
					tds_json_str(is, "reason", ""));
		}
		json_decref(out);
		return 1;
	}
	json_decref(out);
	return 0;
}

static void add_query(tds_buf *path, const opts *o, const char *const *names)
{
	bool first = true;
	for (size_t i = 0; names[i]; i++) {
		const char *v = flag(o, names[i]);
		if (!v)
			continue;
		tds_buf_printf(path, "%c%s=", first ? '?' : '&', names[i]);
		query_value(path, v);
		first = false;
	}
}

/* Drops members whose value is null (absent options). */
static json_t *no_nulls(json_t *o)
{
	const char *k;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(o, tmp, k, v) {
		if (json_is_null(v))
			json_object_del(o, k);
	}
	return o;
}

static int need_id(const char *what, const char *id, const char *prefix)
{
	if (!id)
		return tds_cli_usage("%s: give the id", what);
	if (!tds_id_valid(id, prefix))
		return tds_cli_usage("%s: '%s' is not a %s_… id", what, id, prefix);
	return 0;
}

int tds_cli_application(const char *node, const char *token, int argc, char **argv)
{
	if (argc < 2)
		return application_usage();
	const char *verb = argv[1];
	opts o = {0};
	tds_buf path = TDS_BUF_INIT;
	json_t *body = NULL;
	const char *method = "GET";
	int rc = parse("application", argc, argv, 2, &o);
	const char *id = o.npos ? o.pos[0] : NULL;
	if (rc) {
	} else if (!strcmp(verb, "create") || !strcmp(verb, "update")) {
		static const char *const a[] = {"body", NULL};
		bool create = !strcmp(verb, "create");
		if (!(rc = only(create ? "application create" : "application update", &o, a)) &&
		    !(rc = create ? (o.npos ? tds_cli_usage("application create: no positional argument") : 0)
				  : need_id("application update", id, "apl"))) {
			if (!flag(&o, "body") || !(body = json_arg(flag(&o, "body"))) || !json_is_object(body))
				rc = tds_cli_usage("application %s: --body JSON (an object, or @FILE) is required", verb);
			method = create ? "POST" : "PUT";
			if (create)
				tds_buf_puts(&path, "/api/v1/applications");
			else
				tds_buf_printf(&path, "/api/v1/applications/%s", id);
		}
	} else if (!strcmp(verb, "submit")) {
		static const char *const a[] = {"note", "rectification", NULL};
		if (!(rc = only("application submit", &o, a)) && !(rc = need_id("application submit", id, "apl"))) {
			body = no_nulls(json_pack("{s:s?, s:s?}", "note", flag(&o, "note"), "rectification", flag(&o, "rectification")));
			method = "POST";
			tds_buf_printf(&path, "/api/v1/applications/%s/submit", id);
		}
	} else if (!strcmp(verb, "list") || !strcmp(verb, "overdue")) {
		static const char *const a[] = {"state", "limit", "cursor", NULL};
		static const char *const b[] = {"limit", "cursor", NULL};
		bool list = !strcmp(verb, "list");
		if (!(rc = only(list ? "application list" : "application overdue", &o, list ? a : b))) {
			if (o.npos)
				rc = tds_cli_usage("application %s: no positional argument", verb);
			tds_buf_puts(&path, list ? "/api/v1/applications" : "/api/v1/applications/overdue");
			add_query(&path, &o, list ? a : b);
		}
	} else if (!strcmp(verb, "show")) {
		static const char *const a[] = {NULL};
		if (!(rc = only("application show", &o, a)) && !(rc = need_id("application show", id, "apl")))
			tds_buf_printf(&path, "/api/v1/applications/%s", id);
	} else {
		rc = application_usage();
	}
	if (!rc)
		rc = call(node, token, method, path.data, body, o.json);
	json_decref(body);
	json_decref(o.flags);
	tds_buf_free(&path);
	return rc;
}

/* --finding NAME=ok:NOTE | NAME=no:NOTE into findings {NAME:{ok,note}}. */
static int findings_of(const opts *o, json_t **out)
{
	*out = NULL;
	json_t *fs = flags(o, "finding");
	if (!fs)
		return 0;
	json_t *f = json_object();
	size_t i;
	json_t *v;
	int rc = 0;
	json_array_foreach(fs, i, v) {
		const char *s = json_string_value(v), *eq = strchr(s, '='), *colon = eq ? strchr(eq, ':') : NULL;
		if (!eq || !colon || eq == s || (strncmp(eq + 1, "ok:", 3) && strncmp(eq + 1, "no:", 3))) {
			rc = tds_cli_usage("review: --finding takes NAME=ok:NOTE or NAME=no:NOTE, not '%s'", s);
			break;
		}
		char name[64];
		snprintf(name, sizeof name, "%.*s", (int)(eq - s) < 63 ? (int)(eq - s) : 63, s);
		json_object_set_new(f, name, json_pack("{s:b, s:s}", "ok", eq[1] == 'o', "note", colon + 1));
	}
	json_decref(fs);
	if (rc)
		json_decref(f);
	else
		*out = f;
	return rc;
}

int tds_cli_review(const char *node, const char *token, int argc, char **argv)
{
	opts o = {0};
	static const char *const a[] = {"stage", "decision", "finding", "reasons", "advice", "condition", NULL};
	json_t *body = NULL, *findings = NULL, *conds = NULL;
	tds_buf path = TDS_BUF_INIT;
	int rc = parse("review", argc, argv, 1, &o);
	const char *id = o.npos ? o.pos[0] : NULL;
	if (!rc && argc < 2)
		rc = review_usage();
	if (!rc && !(rc = only("review", &o, a)) && !(rc = need_id("review", id, "apl")) && !(rc = findings_of(&o, &findings))) {
		if (!flag(&o, "stage") || !flag(&o, "decision") || o.npos > 1) {
			rc = review_usage();
		} else {
			conds = flags(&o, "condition");
			body = no_nulls(json_pack("{s:s, s:s, s:O?, s:s?, s:s?, s:O?}", "stage", flag(&o, "stage"), "decision",
						  flag(&o, "decision"), "findings", findings, "reasons", flag(&o, "reasons"),
						  "advice", flag(&o, "advice"), "conditions", conds));
			tds_buf_printf(&path, "/api/v1/applications/%s/reviews", id);
			rc = call(node, token, "POST", path.data, body, o.json);
		}
	}
	json_decref(body);
	json_decref(findings);
	json_decref(conds);
	json_decref(o.flags);
	tds_buf_free(&path);
	return rc;
}

int tds_cli_authorization(const char *node, const char *token, int argc, char **argv)
{
	if (argc < 2)
		return authorization_usage();
	const char *verb = argv[1];
	opts o = {0};
	tds_buf path = TDS_BUF_INIT;
	int rc = parse("authorization", argc, argv, 2, &o);
	const char *id = o.npos ? o.pos[0] : NULL;
	if (rc) {
	} else if (!strcmp(verb, "list")) {
		static const char *const a[] = {"limit", "cursor", NULL};
		if (!(rc = only("authorization list", &o, a))) {
			if (o.npos)
				rc = tds_cli_usage("authorization list: no positional argument");
			tds_buf_puts(&path, "/api/v1/authorizations");
			add_query(&path, &o, a);
		}
	} else if (!strcmp(verb, "show")) {
		static const char *const a[] = {NULL};
		if (!(rc = only("authorization show", &o, a)) && !(rc = need_id("authorization show", id, "aut")))
			tds_buf_printf(&path, "/api/v1/authorizations/%s", id);
	} else {
		rc = authorization_usage();
	}
	if (!rc)
		rc = call(node, token, "GET", path.data, NULL, o.json);
	json_decref(o.flags);
	tds_buf_free(&path);
	return rc;
}
