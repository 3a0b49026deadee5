/*
 * node — `tdsd`: wires the modules for the node's role (operator or connector), owns the process
 * state (config, store, keys, listeners), and runs until SIGTERM/SIGINT. Also `tds node init`, which
 * creates a node directory. The only module allowed global mutable state (the running node).
 *
 * A node directory holds:
 *   tds.conf        INI configuration (node id, role, suite, name, ports, …)
 *   master.key      32 random bytes, mode 0600: seals every other secret
 *   node.key        the node's private key (SM2 or Ed25519), sealed under the master key, 0600
 *   node.pub        its public key (PEM)
 *   tds.db          SQLite database (WAL)
 */
#ifndef TDS_NODE_H
#define TDS_NODE_H

#include "base/base.h"

#include <stdint.h>

/* Options of `tds node init`. Ports: 0 = pick a free port each time the node starts. */
typedef struct tds_node_init_opts {
	const char *dir;
	const char *role;     /* "operator" | "connector" */
	const char *suite;    /* "gm" | "intl" (default gm) */
	const char *name;     /* display name, default "<role> node" */
	const char *operator_url; /* connectors: the operator's API URL (optional for now) */
	int api_port, data_port;
	const char *admin_user;   /* default "admin" */
	const char *admin_password; /* NULL = generate a random one */
} tds_node_init_opts;

/* Creates the node directory: config, master key, node key pair, database with every module's
 * migrations, the bootstrap admin account. Refuses a directory that already holds a node
 * (TDS_ECONFLICT). On success *out is a JSON object with node id, role, suite, key id, paths and the
 * admin credentials (shown once). */
int tds_node_init(const tds_node_init_opts *opts, json_t **out);

/* `tdsd` main: parses flags (--dir DIR, --api-port, --data-port, --log-level, --set key=value),
 * starts the node and blocks until SIGTERM/SIGINT. Returns the process exit code. */
int tds_node_main(int argc, char **argv);

/* Configuration schema of a node (every key of tds.conf). */
const tds_conf_key *tds_node_config_schema(size_t *n);

#endif
