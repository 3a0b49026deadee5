/*
 * harness.h — integration-test helpers: make a node directory with `tds node init`, start a real
 * `tdsd` on ephemeral loopback ports, call it over HTTP, stop it with SIGTERM and clean up.
 */
#ifndef TDS_TEST_HARNESS_H
#define TDS_TEST_HARNESS_H

#include "base/base.h"
#include "http/http.h"

#include <sys/types.h>

typedef struct tn_node {
	char dir[256];
	char api[128], data[128];
	char admin_user[64], admin_password[128];
	json_t *init; /* output of tds node init */
	pid_t pid;
	int stdout_fd;
} tn_node;

/* Directory of built binaries (TDS_BIN_DIR, set by CTest). */
const char *tn_bin_dir(void);
/* `tds node init --role ROLE --suite SUITE` into a fresh temp dir. Aborts the test on failure. */
tn_node *tn_init(const char *role, const char *suite);
/* Starts tdsd for the node (extra env "K=V" strings may be NULL-terminated list or NULL); waits for
 * the listening line. Returns 0 or -1. */
int tn_start(tn_node *n, char *const *extra_env);
/* SIGTERM, wait; returns the exit status (or -1 if it had to be killed). */
int tn_stop(tn_node *n);
/* Stops if running and removes the directory. */
void tn_free(tn_node *n);
/* One request to the management API (api=1) or the data plane (api=0). body may be NULL.
 * Returns the status; *out gets the parsed JSON (or NULL) when out is non-NULL. */
long tn_call(tn_node *n, int api, const char *method, const char *path, const char *token,
	     const char *content_type, const char *body, size_t body_len, json_t **out);
/* Like tn_call with extra request headers ("Name: value", NULL-terminated) and, when replayed is
 * non-NULL, whether the answer carried "Idempotent-Replayed: true". */
long tn_call_h(tn_node *n, int api, const char *method, const char *path, const char *token,
	       const char *const *headers, const char *body, size_t body_len, json_t **out, bool *replayed);
/* Shorthand for JSON bodies given as text. */
long tn_json(tn_node *n, const char *method, const char *path, const char *token, const char *body, json_t **out);
/* Logs in as the bootstrap admin and returns a malloc'd token. */
char *tn_login_admin(tn_node *n);
/* Runs a shell command, captures stdout into *out (malloc'd), returns the exit status. */
int tn_run(const char *cmd, char **out);

/* ---- a small data space: organisations and enrolled connectors (for multi-node tests) ----
 * These print what failed to stderr and return -1 (or NULL) so the caller can fail its test. */

/* Logs in with a username and password; a malloc'd token or NULL. */
char *tn_login(tn_node *n, const char *user, const char *password);
/* On the operator (its admin token `admin`): registers organisation `name` of `type` with admin
 * account `user` (password TN_PASSWORD), has it verified with `uscc`, files a level-3 dengbao
 * qualification when `role` is "provider", and grants `role` (NULL: none). Fills org (64 bytes)
 * and the organisation admin's token (128 bytes). */
#define TN_PASSWORD "correct horse battery staple"
int tn_onboard_org(tn_node *op, const char *admin, const char *user, const char *name, const char *type,
		   const char *uscc, const char *role, char *org, char *token);
/* Registers connector node `con` for the organisation of `org_token` on the operator, approves it
 * with `admin` and enrols it (POST /api/v1/node/enrollment with its own bootstrap admin). Fills the
 * connector id and certificate serial (64 bytes each; either may be NULL). `con` must run with
 * TDS_NODE_OPERATOR_URL set to the operator. */
int tn_enroll_connector(tn_node *op, const char *admin, const char *org_token, tn_node *con, const char *name,
			char *con_id, char *serial);

#endif
