/*
 * main_tds.c — entry point of the `tds` command: global flags, then dispatch to a command family.
 */
#include "base/base.h"
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f, "tds — 可信数据空间 TDS command line\n\n"
		   "usage:\n"
		   "  tds version [--json]\n"
		   "  tds node init --role operator|connector --dir DIR [--suite gm|intl] [--name N]\n"
		   "                [--operator URL] [--api-port P] [--data-port Q]\n"
		   "  tds crypto (keygen|sign|verify|hash|encrypt|decrypt) --suite gm|intl …\n"
		   "  tds ledger verify (--dir DIR | --node URL [--token T] [--key node.pub]) [--json]\n"
		   "                                                recompute and check a node's whole ledger\n"
		   "  tds scan FILE.csv [--json] [--rules FILE]     sensitive-data discovery and grading (分类分级)\n"
		   "  tds bench (ledger [--n N] | import [--rows N] | scan [--mb N] | pdp | catalog [--products N]) [--json]\n"
		   "                                                benchmarks (JSON metrics, docs/performance.md)\n"
		   "  tds [--node URL] [--token TOKEN] <noun> <verb> … [--json]\n"
		   "      verbs: health | login --username U [--password P] | logout | whoami | node info | routes\n"
		   "             account (create --username U --password P [--role R]… | list | show ID | disable ID | enable ID)\n"
		   "             apikey (create --name N [--role R]… [--expires-in-s S] | list | revoke ID)\n"
		   "             org (register | show | list | verify | review)   person (register | show | list | verify | review)\n"
		   "             role (apply | grant | list | suspend | restore)   qualification (add | review | list)\n"
		   "             member (add | list | disable | enable)   whitelist   me   password change   session (list | revoke)\n"
		   "             connector register --name N --vendor-serial S --ip A [--ip B]… --software-version V\n"
		   "                 --data-endpoint URL --hw-fingerprint HEX (--from-node URL | --node-id ID --public-key FILE\n"
		   "                 --api-endpoint URL)            an organisation's admin, on the operator (连接器入驻)\n"
		   "             connector (approve ID [--reason R] | reject ID --reason R | revoke ID --reason R\n"
		   "                 | list [--status S] [--org O] [--presence P] | show ID)   platform reviewers, on the operator\n"
		   "             connector enroll --client-id C [--client-secret S] [--operator-key-id K]\n"
		   "                                                on the connector node, as its admin (入网; or TDS_CLIENT_SECRET)\n"
		   "             source (add --name N --kind K (--path P | --file F | --connection C) | list | show ID |\n"
		   "                     import ID | sample ID | delete ID)\n"
		   "             resource (register --source SRC --name N … | list | show ID | code CODE | update ID …\n"
		   "                     | override ID … | review ID … | publish ID --scope S | deregister ID | confirm ID\n"
		   "                     | remove ID)          data resources (数据资源); `tds resource` alone lists the flags\n"
		   "             product (create --resource RES --name N --form F --scenario S… SPEC | list | show ID\n"
		   "                     | version ID N | code CODE | update ID … | review ID … | list-on ID | delist ID\n"
		   "                     | remove ID)          data products (数据产品); `tds product` alone lists the flags\n"
		   "             catalog (search [WORDS] [--kind K] [--form F] [--domain D] [--grade G] [--sort S] … | show ID|CODE\n"
		   "                     [--dcat] | related ID | import FILE.csv|FILE.json)\n"
		   "                                           the fused catalog (融合目录); `tds catalog` alone lists the flags\n"
		   "             order (create --product PRD --action A … | list | show ID | draft ID [--service ORG]…)\n"
		   "             contract (template list|show|create … | list | show ID | versions ID | version ID N\n"
		   "                     | diff ID --from N --to M | propose ID --base N --patch JSON | accept ID --version N\n"
		   "                     --hash H | sign ID --version N --hash H | suspend|resume|terminate ID --reason R)\n"
		   "                                           digital contracts (数字合约); `tds contract` alone lists the flags\n"
		   "             token (create CTR | revoke CTR TOK --reason R) | decision --action A … | violation (list\n"
		   "                     | unfreeze CTR --reason R | contract CTR)\n"
		   "                                           usage control (使用控制): tokens, decisions, violations, freezes\n"
		   "             delivery (query PRD --field F… [--param N=V]… | export PRD --field F… [--all] | receipt DLV\n"
		   "                     --hash H | list)      data delivery (数据交付); the token in TDS_USAGE_TOKEN\n"
		   "             application (create --body JSON | update APL --body JSON | submit APL [--rectification T]\n"
		   "                     | list | show APL | overdue)   review APL --stage S --decision D [--finding N=ok:NOTE]…\n"
		   "                     authorization (list | show AUT)   authorized operation (授权运营); alone: the flags\n"
		   "      TDS_NODE and TDS_TOKEN in the environment stand in for --node and --token.\n");
}

int tds_cli_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "tds: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n(run `tds help` for usage)\n");
	va_end(ap);
	return 2;
}

int main(int argc, char **argv)
{
	const char *node = getenv("TDS_NODE"), *token = getenv("TDS_TOKEN");
	int i = 1;
	tds_log_set_level(TDS_LOG_WARN);
	while (i < argc && strncmp(argv[i], "--", 2) == 0) {
		if (strcmp(argv[i], "--node") == 0 && i + 1 < argc) {
			node = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc) {
			token = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			return tds_cli_usage("unknown global option %s", argv[i]);
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	/* subcommands that take --node/--token themselves fall back to the environment */
	if (node)
		setenv("TDS_NODE", node, 1);
	if (token)
		setenv("TDS_TOKEN", token, 1);
	const char *cmd = argv[i];
	int sub_argc = argc - i;
	char **sub_argv = argv + i;
	if (strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0)
		return tds_cli_version(sub_argc, sub_argv);
	if (strcmp(cmd, "crypto") == 0)
		return tds_cli_crypto(sub_argc, sub_argv);
	if (strcmp(cmd, "ledger") == 0 && sub_argc > 1 && strcmp(sub_argv[1], "verify") == 0)
		return tds_cli_ledger(sub_argc, sub_argv);
	if (strcmp(cmd, "bench") == 0)
		return tds_cli_bench(sub_argc, sub_argv);
	if (strcmp(cmd, "scan") == 0)
		return tds_cli_scan(sub_argc, sub_argv);
	if (strcmp(cmd, "source") == 0)
		return tds_cli_source(node, token, sub_argc, sub_argv);
	if (strcmp(cmd, "resource") == 0)
		return tds_cli_resource(node, token, sub_argc, sub_argv);
	if (strcmp(cmd, "product") == 0)
		return tds_cli_product(node, token, sub_argc, sub_argv);
	if (strcmp(cmd, "catalog") == 0)
		return tds_cli_catalog(node, token, sub_argc, sub_argv);
	if (strcmp(cmd, "contract") == 0)
		return tds_cli_contract(node, token, sub_argc, sub_argv);
	if (strcmp(cmd, "order") == 0)
		return tds_cli_order(node, token, sub_argc, sub_argv);
	if (strcmp(cmd, "token") == 0 || strcmp(cmd, "decision") == 0 || strcmp(cmd, "violation") == 0)
		return tds_cli_enforce(node, token, sub_argc, sub_argv);
	if (strcmp(cmd, "delivery") == 0)
		return tds_cli_delivery(node, token, sub_argc, sub_argv);
	if (strcmp(cmd, "application") == 0)
		return tds_cli_application(node, token, sub_argc, sub_argv);
	if (strcmp(cmd, "review") == 0)
		return tds_cli_review(node, token, sub_argc, sub_argv);
	if (strcmp(cmd, "authorization") == 0)
		return tds_cli_authorization(node, token, sub_argc, sub_argv);
	if (strcmp(cmd, "node") == 0 && sub_argc > 1 && strcmp(sub_argv[1], "init") == 0)
		return tds_cli_node(sub_argc, sub_argv);
	return tds_cli_api(node, token, sub_argc, sub_argv);
}
