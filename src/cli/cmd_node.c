/*
 * cmd_node.c — `tds node init` (create a node directory) and `tds version`.
 */
#include "cli/cli.h"
#include "node/node.h"

#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int print_json(json_t *o, bool pretty)
{
	char *s = json_dumps(o, pretty ? JSON_INDENT(2) | JSON_PRESERVE_ORDER : JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!s)
		return 1;
	puts(s);
	free(s);
	return 0;
}

static int parse_port(const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == 0 || *end || v < 0 || v > 65535)
		return -1;
	*out = (int)v;
	return 0;
}

int tds_cli_node(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "init") != 0)
		return tds_cli_usage("node: expected `tds node init --role operator|connector --dir DIR …`");
	tds_node_init_opts o = {0};
	bool json = false;
	for (int i = 2; i < argc;) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--json") == 0) {
			json = true;
			i++;
			continue;
		}
		if (!v)
			return tds_cli_usage("node init: %s needs a value", a);
		if (strcmp(a, "--role") == 0)
			o.role = v;
		else if (strcmp(a, "--dir") == 0)
			o.dir = v;
		else if (strcmp(a, "--suite") == 0)
			o.suite = v;
		else if (strcmp(a, "--name") == 0)
			o.name = v;
		else if (strcmp(a, "--operator") == 0)
			o.operator_url = v;
		else if (strcmp(a, "--admin-user") == 0)
			o.admin_user = v;
		else if (strcmp(a, "--admin-password") == 0)
			o.admin_password = v;
		else if (strcmp(a, "--api-port") == 0) {
			if (parse_port(v, &o.api_port))
				return tds_cli_usage("node init: --api-port must be 0-65535");
		} else if (strcmp(a, "--data-port") == 0) {
			if (parse_port(v, &o.data_port))
				return tds_cli_usage("node init: --data-port must be 0-65535");
		} else
			return tds_cli_usage("node init: unknown option %s", a);
		i += 2;
	}
	if (!o.role || !o.dir)
		return tds_cli_usage("node init: --role and --dir are required");
	tds_log_set_level(TDS_LOG_WARN);
	json_t *out;
	if (tds_node_init(&o, &out)) {
		if (json) {
			json_t *e = json_pack("{s:{s:s, s:s}}", "error", "code", tds_error_name(), "message", tds_error_message());
			print_json(e, false);
			json_decref(e);
		} else {
			fprintf(stderr, "节点初始化失败 node init failed: %s\n", tds_error_message());
		}
		return 1;
	}
	if (!json) {
		fprintf(stderr, "节点已创建 node created in %s. Keep the admin password below: it is shown only once.\n",
			o.dir);
	}
	print_json(out, !json);
	json_decref(out);
	return 0;
}

int tds_cli_version(int argc, char **argv)
{
	bool json = argc > 1 && strcmp(argv[1], "--json") == 0;
	if (argc > 2 || (argc == 2 && !json))
		return tds_cli_usage("version: the only option is --json");
	if (json) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:[ss]}", "name", "tds", "version", TDS_VERSION, "sqlite",
				      sqlite3_libversion(), "suites", "gm", "intl");
		print_json(o, false);
		json_decref(o);
	} else {
		printf("tds %s (可信数据空间 trusted data space)\n", TDS_VERSION);
	}
	return 0;
}
