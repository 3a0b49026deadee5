/*
 * cli — the `tds` command: API client verbs against a node, offline tools (crypto, …) and node set-up.
 * Each command family lives in its own cmd_<family>.c and exposes one entry point here. Every entry
 * point returns the process exit code: 0 success, 1 a failure the printed message explains, 2 bad usage.
 * With --json every command prints exactly one JSON object on stdout.
 */
#ifndef TDS_CLI_H
#define TDS_CLI_H

#include "base/base.h"

/* `tds crypto (keygen|sign|verify|hash|encrypt|decrypt|hmac|hkdf) --suite gm|intl …`
 * argv[0] is "crypto". */
int tds_cli_crypto(int argc, char **argv);

/* `tds node init …`; argv[0] is "node". */
int tds_cli_node(int argc, char **argv);

/* `tds version [--json]`. */
int tds_cli_version(int argc, char **argv);

/* API client verbs: `tds --node URL --token T <noun> <verb> …`. argv starts at <noun>. */
int tds_cli_api(const char *node_url, const char *token, int argc, char **argv);

/* `tds ledger verify (--dir DIR | --node URL) [--json]`; argv[0] is "ledger". */
int tds_cli_ledger(int argc, char **argv);

/* `tds bench NAME [--json] …`; argv[0] is "bench". */
int tds_cli_bench(int argc, char **argv);

/* `tds bench import [--json] [--rows N]`; argv[0] is "bench", argv[1] "import". */
int tds_cli_bench_import(int argc, char **argv);

/* `tds source (add | list | show | import | sample | delete) …` against a connector; argv[0] is "source". */
int tds_cli_source(const char *node_url, const char *token, int argc, char **argv);
/* tds resource (register | list | show | code | update | override | review | publish | deregister | confirm |
 * remove): the data resource client verbs (cmd_resource.c). */
int tds_cli_resource(const char *node_url, const char *token, int argc, char **argv);
/* tds product (create | list | show | version | code | update | review | list-on | delist | remove): the data
 * product client verbs (cmd_product.c). */
int tds_cli_product(const char *node_url, const char *token, int argc, char **argv);
/* tds catalog (search | show | related | import): the fused catalog (融合目录) client verbs (cmd_catalog.c). */
int tds_cli_catalog(const char *node_url, const char *token, int argc, char **argv);
/* `tds bench catalog [--json] [--products N] [--queries N]`; argv[0] is "bench", argv[1] "catalog". */
int tds_cli_bench_catalog(int argc, char **argv);

/* tds contract (template … | list | show | versions | version | diff | propose | accept | sign | suspend | resume |
 * terminate) and tds order (create | list | show | draft): the digital contract client verbs (cmd_contract.c). */
int tds_cli_contract(const char *node_url, const char *token, int argc, char **argv);
int tds_cli_order(const char *node_url, const char *token, int argc, char **argv);
/* tds token (create | revoke), tds decision, tds violation (list | unfreeze | contract): the usage-control
 * client verbs (cmd_enforce.c); argv[0] is the noun. */
int tds_cli_enforce(const char *node_url, const char *token, int argc, char **argv);
/* tds delivery (query | export | receipt | list): the data-plane client verbs (cmd_delivery.c); the
 * consumer's token comes from TDS_USAGE_TOKEN. */
int tds_cli_delivery(const char *node_url, const char *token, int argc, char **argv);

/* tds application (create | update | submit | list | show | overdue), tds review APL …, tds authorization
 * (list | show): the authorized operation (授权运营) client verbs (cmd_application.c); argv[0] is the noun. */
int tds_cli_application(const char *node_url, const char *token, int argc, char **argv);
int tds_cli_review(const char *node_url, const char *token, int argc, char **argv);
int tds_cli_authorization(const char *node_url, const char *token, int argc, char **argv);

/* `tds scan FILE.csv [--json] [--rules FILE] [--sample N]`: offline sensitive-data discovery and
 * grading; argv[0] is "scan". */
int tds_cli_scan(int argc, char **argv);

/* `tds bench scan [--json] [--mb N]`; argv[0] is "bench", argv[1] "scan". */
int tds_cli_bench_scan(int argc, char **argv);

/* `tds bench pdp [--json] …`; argv[0] is "bench", argv[1] "pdp". */
int tds_cli_bench_pdp(int argc, char **argv);

/* The "machine" object of every bench report: cores, cpu, mem_mb, os, sqlite, load_avg_1m (new
 * reference). */
json_t *tds_cli_bench_machine(void);

/* Prints a usage error to stderr and returns 2. */
int tds_cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
