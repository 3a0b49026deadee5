/*
 * node.c — creating a node directory (`tds node init`) and running a node (`tdsd --dir DIR`):
 * configuration, master key, node key, database, the bootstrap admin, the two listeners (management
 * API and data plane), the authenticator chain (RFC 9421 signatures of other nodes, then bearer
 * tokens), the background threads, signals and shutdown. Modules are wired here and nowhere else.
 *
 * Node certificates (节点证书): an operator issues them (identity) and resolves signers from its own
 * registry. A connector enrols once (POST /api/v1/node/enrollment with the ClientID and ClientSecret
 * of its approval): it fetches its certificate from node.operator_url, checks it is its own, keeps it
 * in DIR/node.cert with the operator's key in DIR/operator.pub (both reloaded at start), and from
 * then on signs every call to the operator and to witnesses with keyid = the certificate's serial,
 * sends heartbeats, and polls the operator's signed revocation list.
 */
#include "node/node.h"

#include "crypto/crypto.h"
#include "http/http.h"
#include "catalog/catalog.h"
#include "contract/contract.h"
#include "delivery/delivery.h"
#include "operation/operation.h"
#include "identity/identity.h"
#include "ledger/ledger.h"
#include "store/store.h"

#include <pthread.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

extern char **environ;

static const tds_conf_key SCHEMA[] = {
    {"node.id", TDS_CONF_STRING, NULL, 0, 0, "node id, set by tds node init; never change it"},
    {"node.role", TDS_CONF_STRING, "connector", 0, 0, "operator or connector"},
    {"node.suite", TDS_CONF_STRING, "gm", 0, 0, "crypto suite of the space: gm (SM2/SM3/SM4) or intl"},
    {"node.name", TDS_CONF_STRING, NULL, 0, 0, "display name"},
    {"node.operator_url", TDS_CONF_STRING, NULL, 0, 0, "connectors: the operator's management API URL"},
    {"api.bind", TDS_CONF_STRING, "127.0.0.1", 0, 0, "management API listen address"},
    {"api.port", TDS_CONF_INT, "0", 0, 65535, "management API port (0: pick a free port)"},
    {"api.threads", TDS_CONF_INT, "4", 1, 256, "management API worker threads"},
    {"api.max_body", TDS_CONF_INT, "1048576", 1024, 67108864, "largest accepted request body in bytes"},
    {"data.bind", TDS_CONF_STRING, "127.0.0.1", 0, 0, "data plane listen address"},
    {"data.port", TDS_CONF_INT, "0", 0, 65535, "data plane port (0: pick a free port)"},
    {"data.threads", TDS_CONF_INT, "4", 1, 256, "data plane worker threads"},
    {"data.max_body", TDS_CONF_INT, "1048576", 1024, 67108864, "largest accepted request body in bytes"},
    {"http.access_log", TDS_CONF_BOOL, "true", 0, 0, "log one line per request"},
    {"log.level", TDS_CONF_STRING, "info", 0, 0, "debug, info, warn, error or off"},
    {"identity.session_ttl_s", TDS_CONF_INT, "43200", 60, 2592000, "session lifetime in seconds"},
    {"identity.required_qualifications", TDS_CONF_STRING, NULL, 0, 0,
     "qualifications each role needs, e.g. provider=dengbao:2;auth_operator=dengbao:3 (unset: identity's default)"},
    {"identity.watch_interval_s", TDS_CONF_INT, "3600", 0, 86400,
     "run the qualification expiry watch this often (0: only on demand)"},
    {"identity.login_max_failures", TDS_CONF_INT, "5", 1, 1000, "failed logins per username within the window before 429"},
    {"identity.login_max_failures_ip", TDS_CONF_INT, "50", 1, 100000, "failed logins per client address within the window before 429"},
    {"identity.login_window_s", TDS_CONF_INT, "900", 10, 86400, "login throttling window in seconds"},
    {"identity.signup_max_per_ip", TDS_CONF_INT, "20", 1, 1000000,
     "public registrations (organisations, persons) per client address per hour before 429"},
    {"operation.initial_review_days", TDS_CONF_INT, "5", 1, 365,
     "operator: days from an application's (re)submission to its acceptance and initial review (overdue after)"},
    {"operation.final_review_days", TDS_CONF_INT, "10", 1, 365,
     "operator: days from the start of an application's final review to its decision (overdue after)"},
    {"catalog.import_dir", TDS_CONF_STRING, NULL, 0, 0,
     "server-side CSV/SQLite sources must lie under this directory (default DIR/import)"},
    {"catalog.code_base", TDS_CONF_STRING, TDS_RESCODE_DEFAULT_BASE, 0, 0,
     "the space's URI; resource codes are BASE/res/SERIAL plus a check character"},
    {"ledger.checkpoint_interval_s", TDS_CONF_INT, "60", 0, 86400,
     "issue a checkpoint and ask the witnesses to cosign it this often (0: only on demand)"},
    {"ledger.witnesses", TDS_CONF_STRING, NULL, 0, 0,
     "comma-separated management API URLs of the witnesses of this node's log (a connector's operator is always one)"},
    {"connector.heartbeat_interval_s", TDS_CONF_INT, "30", 0, 3600,
     "connectors: send a signed heartbeat to the operator this often (0: never)"},
    {"connector.revocation_poll_s", TDS_CONF_INT, "5", 0, 3600,
     "connectors: fetch the operator's signed revocation list this often (0: never; first use of a key still asks)"},
    {"connector.catalog_sync_interval_ms", TDS_CONF_INT, "1000", 0, 3600000,
     "connectors: send the catalog outbox (published resources, listed products) to the operator this often (0: never)"},
    {"connector.offline_after_s", TDS_CONF_INT, "90", 1, 86400,
     "operator: mark a connector offline after this many seconds without a heartbeat"},
    {"connector.cert_validity_days", TDS_CONF_INT, "365", 1, 3650, "operator: validity of the node certificates it issues"},
};

const tds_conf_key *tds_node_config_schema(size_t *n)
{
	*n = TDS_ARRAY_LEN(SCHEMA);
	return SCHEMA;
}

static int check_choice(const char *what, const char *v, const char *a, const char *b)
{
	if (v && (strcmp(v, a) == 0 || strcmp(v, b) == 0))
		return 0;
	return tds_error_set(TDS_EINVAL, "invalid_config", "%s must be %s or %s, got '%s'", what, a, b, v ? v : "");
}

/* ---- tds node init ---- */

static int random_password(char out[257])
{
	uint8_t raw[24];
	tds_buf b = TDS_BUF_INIT;
	int rc = tds_random(raw, sizeof raw);
	if (!rc)
		rc = tds_b64url_encode(raw, sizeof raw, &b);
	if (!rc) {
		memcpy(out, b.data, 32);
		out[32] = 0;
	}
	tds_buf_free(&b);
	return rc;
}

static const char *NODE_FILES[] = {"tds.conf", "master.key", "node.key", "node.pub", "tds.db", "tds.db-wal", "tds.db-shm"};

static void remove_node_files(const char *dir)
{
	char p[4096];
	for (size_t i = 0; i < TDS_ARRAY_LEN(NODE_FILES); i++)
		if (!tds_path_join(p, sizeof p, dir, NODE_FILES[i]))
			unlink(p);
}

static int init_files(const tds_node_init_opts *o, tds_suite suite, json_t *out)
{
	char p[4096], node_id[TDS_ID_MAX], key_id[TDS_KEY_ID_LEN + 1];
	uint8_t master[TDS_MASTER_KEY_LEN];
	tds_key *key = NULL;
	tds_config *cfg = NULL;
	tds_store *store = NULL;
	tds_identity *ident = NULL;
	tds_ledger *ledger = NULL;
	tds_buf b = TDS_BUF_INIT;
	json_t *admin = NULL;
	int rc;
	size_t nschema;
	const tds_conf_key *schema = tds_node_config_schema(&nschema);

	if ((rc = tds_random(master, sizeof master)) || (rc = tds_path_join(p, sizeof p, o->dir, "master.key")) ||
	    (rc = tds_file_write_atomic(p, master, sizeof master, 0600)))
		goto done;
	if ((rc = tds_key_generate(suite, &key)) || (rc = tds_path_join(p, sizeof p, o->dir, "node.key")) ||
	    (rc = tds_key_save_sealed(key, master, p)) || (rc = tds_key_public_pem(key, &b)) ||
	    (rc = tds_path_join(p, sizeof p, o->dir, "node.pub")) ||
	    (rc = tds_file_write_atomic(p, b.data, b.len, 0644)) || (rc = tds_key_id(key, key_id)))
		goto done;

	char name[256], port[16];
	snprintf(name, sizeof name, "%s", o->name ? o->name : (strcmp(o->role, "operator") == 0 ? "operator node" : "connector node"));
	cfg = tds_config_new(schema, nschema);
	if (!cfg) {
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto done;
	}
	if ((rc = tds_id_new("node", node_id)) || (rc = tds_config_set(cfg, "node.id", node_id)) ||
	    (rc = tds_config_set(cfg, "node.role", o->role)) || (rc = tds_config_set(cfg, "node.suite", tds_suite_name(suite))) ||
	    (rc = tds_config_set(cfg, "node.name", name)))
		goto done;
	if (o->operator_url && (rc = tds_config_set(cfg, "node.operator_url", o->operator_url)))
		goto done;
	snprintf(port, sizeof port, "%d", o->api_port);
	if ((rc = tds_config_set(cfg, "api.port", port)))
		goto done;
	snprintf(port, sizeof port, "%d", o->data_port);
	if ((rc = tds_config_set(cfg, "data.port", port)))
		goto done;
	tds_buf_reset(&b);
	if ((rc = tds_buf_puts(&b, "; TDS node configuration, written by `tds node init`.\n"
				   "; Environment variables TDS_<SECTION>_<KEY> and tdsd flags override it.\n\n")) ||
	    (rc = tds_config_write(cfg, &b)) || (rc = tds_path_join(p, sizeof p, o->dir, "tds.conf")) ||
	    (rc = tds_file_write_atomic(p, b.data, b.len, 0600)))
		goto done;

	char password[257];
	const char *user = o->admin_user ? o->admin_user : "admin";
	if (o->admin_password)
		snprintf(password, sizeof password, "%s", o->admin_password);
	else if ((rc = random_password(password)))
		goto done;
	tds_roles roles = TDS_ROLE_ADMIN | (strcmp(o->role, "operator") == 0 ? TDS_ROLE_OPERATOR : 0);
	char origin[TDS_LEDGER_ORIGIN_MAX + 1];
	snprintf(origin, sizeof origin, "tds.local/%s", node_id);
	if ((rc = tds_path_join(p, sizeof p, o->dir, "tds.db")) || (rc = tds_store_open(p, &store)))
		goto done;
	tds_ledger_opts lopts = {.store = store, .suite = suite, .origin = origin, .key = key, .master = master};
	if ((rc = tds_ledger_open(&lopts, &ledger)))
		goto done;
	tds_identity_opts iopts = {.ledger = ledger, .node_id = node_id};
	if ((rc = tds_identity_open(store, &iopts, &ident)) ||
	    (rc = tds_identity_account_create(ident, NULL, user, password, roles, &admin)))
		goto done;

	json_object_set_new(out, "node_id", json_string(node_id));
	json_object_set_new(out, "role", json_string(o->role));
	json_object_set_new(out, "suite", json_string(tds_suite_name(suite)));
	json_object_set_new(out, "name", json_string(name));
	json_object_set_new(out, "dir", json_string(o->dir));
	json_object_set_new(out, "key_id", json_string(key_id));
	json_object_set_new(out, "origin", json_string(origin));
	json_object_set_new(out, "sig_alg", json_string(tds_sig_alg(suite)));
	json_object_set_new(out, "admin", json_pack("{s:s, s:s, s:O}", "username", user, "password", password,
						    "account_id", json_object_get(admin, "id")));
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "tdsd --dir %s", o->dir);
	json_object_set_new(out, "start", json_string(cmd));
	memset(password, 0, sizeof password);
done:
	memset(master, 0, sizeof master);
	json_decref(admin);
	tds_identity_free(ident);
	tds_ledger_free(ledger);
	tds_store_close(store);
	tds_config_free(cfg);
	tds_key_free(key);
	tds_buf_free(&b);
	return rc;
}

int tds_node_init(const tds_node_init_opts *o, json_t **out)
{
	*out = NULL;
	tds_suite suite;
	int rc;
	if (!o->dir || !*o->dir)
		return tds_error_set(TDS_EINVAL, "missing_dir", "--dir is required");
	if ((rc = check_choice("role", o->role, "operator", "connector")))
		return rc;
	if ((rc = tds_suite_parse(o->suite ? o->suite : "gm", &suite)))
		return rc;
	if (o->api_port < 0 || o->api_port > 65535 || o->data_port < 0 || o->data_port > 65535)
		return tds_error_set(TDS_EINVAL, "invalid_port", "ports must be between 0 and 65535");
	if (o->operator_url && strncmp(o->operator_url, "http://", 7) != 0 && strncmp(o->operator_url, "https://", 8) != 0)
		return tds_error_set(TDS_EINVAL, "invalid_url", "--operator must be an http:// or https:// URL");
	if ((o->admin_user && (rc = tds_identity_check_username(o->admin_user))) ||
	    (o->admin_password && (rc = tds_identity_check_password(o->admin_password))))
		return rc;
	if (mkdir(o->dir, 0700) != 0 && errno != EEXIST)
		return tds_error_set(TDS_EIO, NULL, "cannot create %s: %s", o->dir, strerror(errno));
	char p[4096];
	for (size_t i = 0; i < TDS_ARRAY_LEN(NODE_FILES); i++) {
		if ((rc = tds_path_join(p, sizeof p, o->dir, NODE_FILES[i])))
			return rc;
		if (access(p, F_OK) == 0)
			return tds_error_set(TDS_ECONFLICT, "node_exists",
					     "%s already holds a node (%s exists); choose another --dir", o->dir, NODE_FILES[i]);
	}
	if ((rc = tds_crypto_init()))
		return rc;
	json_t *res = json_object();
	if ((rc = init_files(o, suite, res))) {
		remove_node_files(o->dir); /* nothing half-made is left behind */
		json_decref(res);
		return rc;
	}
	*out = res;
	return 0;
}

/* ---- tdsd ---- */

typedef struct node {
	tds_config *cfg;
	tds_suite suite;
	tds_key *key;
	tds_store *store;
	tds_identity *identity;
	tds_router *api_router, *data_router;
	tds_server *api, *data;
	char key_id[TDS_KEY_ID_LEN + 1];
	int64_t started_ms;
	uint8_t idem_key[TDS_MASTER_KEY_LEN]; /* seals kept answers: they may hold secrets shown once */
	tds_idempotency idem;
	tds_ledger *ledger;
	tds_witness *witness;
	tds_ledger_routes_ctx ledger_routes;
	char *witness_urls[17];
	size_t nwitness;
	pthread_t publisher, watcher, connector;
	bool publisher_started, watcher_started, connector_started, stopping;
	bool kick;                   /* wakes the connector thread at once (stop_lock) */
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	/* node certificates: who signed a request; this connector's own certificate */
	const char *dir;
	bool is_operator;
	tds_nodekeys *keys;
	tds_sig_verifier *verifier;
	pthread_mutex_t cert_lock;   /* enrolled, cert */
	pthread_mutex_t enroll_lock; /* one enrolment at a time */
	bool enrolled;
	tds_node_cert cert;
	tds_catalog *catalog;
	tds_contract *contract;
	tds_operation *operation; /* the operator's authorized-operation workflow (NULL on connectors) */
	tds_delivery *delivery;   /* the data plane (its routes answer not_a_connector on the operator) */
} node;

/* ---- Idempotency-Key store (see tds_idempotency in http.h) ----
 * Kept answers live 24 hours in the node's database, sealed (an API key or token in a kept answer
 * must not sit in clear in the database). */

#define IDEM_TTL_MS (24LL * 3600 * 1000)

static const tds_migration NODE_MIGRATIONS[] = {
    {1, "CREATE TABLE idempotency_keys ("
	"  scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status INTEGER NOT NULL,"
	"  content_type TEXT NOT NULL, body BLOB NOT NULL, created_at INTEGER NOT NULL,"
	"  PRIMARY KEY (scope, key)) STRICT;"
	"CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);"},
};

static int idem_lookup(void *ctx, const char *scope, const char *key, char fp[65], int *status, char ctype[128],
		       tds_buf *body)
{
	node *n = ctx;
	sqlite3 *db = tds_store_conn(n->store);
	sqlite3_stmt *st;
	int rc;
	if (!db)
		return tds_error_code();
	if ((rc = tds_store_prepare(db, "SELECT fingerprint, status, content_type, body FROM idempotency_keys"
				       " WHERE scope=? AND key=? AND created_at > ?", &st)))
		return rc;
	sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, tds_now_ms() - IDEM_TTL_MS);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		snprintf(fp, 65, "%s", (const char *)sqlite3_column_text(st, 0));
		*status = sqlite3_column_int(st, 1);
		snprintf(ctype, 128, "%s", (const char *)sqlite3_column_text(st, 2));
		rc = tds_unseal(n->idem_key, scope, sqlite3_column_blob(st, 3), (size_t)sqlite3_column_bytes(st, 3), body);
	} else {
		rc = r == SQLITE_DONE ? TDS_ENOTFOUND : tds_store_error(db, "reading idempotency key");
	}
	sqlite3_finalize(st);
	return rc;
}

typedef struct idem_save_ctx {
	const char *scope, *key, *fp, *ctype;
	int status;
	tds_buf sealed;
} idem_save_ctx;

static int idem_save_tx(sqlite3 *db, void *p)
{
	idem_save_ctx *c = p;
	sqlite3_stmt *st;
	int64_t now = tds_now_ms();
	int rc = tds_store_prepare(db, "DELETE FROM idempotency_keys WHERE created_at <= ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, now - IDEM_TTL_MS);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : tds_store_error(db, "expiring idempotency keys");
	sqlite3_finalize(st);
	if (rc || (rc = tds_store_prepare(db, "INSERT OR REPLACE INTO idempotency_keys"
					      "(scope,key,fingerprint,status,content_type,body,created_at) VALUES(?,?,?,?,?,?,?)",
					      &st)))
		return rc;
	sqlite3_bind_text(st, 1, c->scope, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->fp, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, c->status);
	sqlite3_bind_text(st, 5, c->ctype, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, c->sealed.data, (int)c->sealed.len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, now);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : tds_store_error(db, "keeping idempotent answer");
	sqlite3_finalize(st);
	return rc;
}

static int idem_save(void *ctx, const char *scope, const char *key, const char *fp, int status, const char *ctype,
		     const void *body, size_t len)
{
	node *n = ctx;
	idem_save_ctx c = {scope, key, fp, ctype, status, TDS_BUF_INIT};
	int rc = tds_seal(n->suite, n->idem_key, scope, body, len, &c.sealed);
	if (!rc)
		rc = tds_store_tx(n->store, idem_save_tx, &c);
	tds_buf_free(&c.sealed);
	return rc;
}

static int node_info(tds_req *req, tds_resp *resp)
{
	node *n = req->route_ctx;
	tds_buf pem = TDS_BUF_INIT;
	int rc = tds_key_public_pem(n->key, &pem);
	if (rc)
		return rc;
	char started[TDS_TIME_MAX];
	tds_time_format(n->started_ms, started);
	json_t *o = json_pack("{s:s?, s:s?, s:s?, s:s, s:s, s:s, s:s, s:s, s:s}", "node_id",
			      tds_config_get(n->cfg, "node.id"), "role", tds_config_get(n->cfg, "node.role"), "name",
			      tds_config_get(n->cfg, "node.name"), "suite", tds_suite_name(n->suite), "sig_alg",
			      tds_sig_alg(n->suite), "key_id", n->key_id, "public_key_pem", pem.data, "version",
			      TDS_VERSION, "started_at", started);
	tds_buf_free(&pem);
	/* a connector's certificate, once enrolled: what other nodes will see as its keyid */
	json_t *cert = json_null();
	pthread_mutex_lock(&n->cert_lock);
	if (n->enrolled) {
		char expires[TDS_TIME_MAX];
		tds_time_format(n->cert.expires_at_ms, expires);
		cert = json_pack("{s:s, s:s, s:s, s:s}", "serial", n->cert.serial, "org_id", n->cert.org_id, "issuer",
				 n->cert.issuer_node_id, "expires_at", expires);
	}
	pthread_mutex_unlock(&n->cert_lock);
	json_object_set_new(o, "certificate", cert);
	return tds_resp_json(resp, 200, o);
}

/* ---- node certificates: the connector's side ---- */

/* Starts using a verified certificate: the keyring asks this operator about other nodes, and calls to
 * the operator and to witnesses are signed with keyid = the serial. */
static int activate_cert(node *n, const tds_node_cert *cert, const char *operator_pem)
{
	int rc = tds_nodekeys_set_operator(n->keys, tds_config_get(n->cfg, "node.operator_url"), operator_pem,
					   cert->issuer_node_id, n->key, cert->serial);
	if (!rc)
		rc = tds_ledger_set_signer(n->ledger, n->key, cert->serial);
	if (!rc) /* tokens and filings verify from the first request, before the first sync pass */
		rc = tds_contract_set_operator(n->contract, operator_pem, cert->issuer_node_id, cert->org_id);
	if (rc)
		return rc;
	pthread_mutex_lock(&n->cert_lock);
	n->cert = *cert;
	n->enrolled = true;
	pthread_mutex_unlock(&n->cert_lock);
	pthread_mutex_lock(&n->stop_lock);
	n->kick = true; /* heartbeat and revocation list now */
	pthread_cond_broadcast(&n->stop_cond);
	pthread_mutex_unlock(&n->stop_lock);
	return 0;
}

/* Reloads DIR/node.cert and DIR/operator.pub at start, when both exist. A certificate that no
 * longer verifies (expired, another key) is reported and left unused: the node runs unenrolled. */
static void load_cert(node *n)
{
	char cp[4096], kp[4096];
	if (tds_path_join(cp, sizeof cp, n->dir, "node.cert") || tds_path_join(kp, sizeof kp, n->dir, "operator.pub") ||
	    access(cp, F_OK) != 0 || access(kp, F_OK) != 0)
		return;
	tds_buf cert = TDS_BUF_INIT, pem = TDS_BUF_INIT;
	tds_key *op = NULL;
	tds_node_cert c;
	int rc = tds_file_read(cp, TDS_CERT_MAX_LEN, &cert);
	if (!rc)
		rc = tds_file_read(kp, 65536, &pem);
	if (!rc)
		rc = tds_key_from_pem(pem.data, pem.len, &op);
	if (!rc)
		rc = tds_cert_parse_verify(cert.data, cert.len, op, tds_now_ms(), &c, NULL);
	if (!rc && (strcmp(c.node_id, tds_config_get(n->cfg, "node.id")) != 0 || strcmp(c.key_id, n->key_id) != 0))
		rc = tds_error_set(TDS_ECRYPTO, "certificate_mismatch", "node.cert belongs to another node or key");
	if (!rc && !tds_config_get(n->cfg, "node.operator_url"))
		rc = tds_error_set(TDS_EINVAL, "no_operator", "node.operator_url is not set");
	if (!rc)
		rc = activate_cert(n, &c, pem.data);
	if (rc)
		tds_log_fields(TDS_LOG_WARN, "certificate_not_loaded",
			       json_pack("{s:s, s:s}", "code", tds_error_name(), "msg", tds_error_message()));
	tds_key_free(op);
	tds_buf_free(&cert);
	tds_buf_free(&pem);
}

static bool lower_hex64(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	bool ok = n == TDS_KEY_ID_LEN;
	for (size_t i = 0; ok && i < n; i++)
		ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
	return ok;
}

/* POST /api/v1/node/enrollment on a connector: fetch, check, keep and use its certificate. */
static int node_enroll(tds_req *req, tds_resp *resp)
{
	static const tds_json_field f[] = {
	    {"client_id", TDS_JSON_STRING, true, TDS_ID_MAX},
	    {"client_secret", TDS_JSON_STRING, true, 128},
	    {"operator_key_id", TDS_JSON_STRING, false, TDS_KEY_ID_LEN},
	};
	node *n = req->route_ctx;
	if (!tds_identity_can(req->principal, "node.enroll"))
		return tds_error_set(TDS_EPERM, "forbidden", "only this node's administrator enrols it");
	json_t *body = NULL;
	int rc = tds_req_json(req, f, TDS_ARRAY_LEN(f), false, &body);
	if (rc)
		return rc;
	const char *pinned = tds_json_str(body, "operator_key_id", NULL);
	if (pinned && !lower_hex64(pinned))
		return tds_error_set(TDS_EINVAL, "invalid_key_id", "operator_key_id must be the operator's key id: 64 lower-case hex");
	if (n->is_operator)
		return tds_error_set(TDS_ECONFLICT, "not_a_connector",
				     "this is the operator node: it issues certificates and does not enrol");
	const char *op_url = tds_config_get(n->cfg, "node.operator_url");
	if (!op_url)
		return tds_error_set(TDS_ECONFLICT, "no_operator",
				     "node.operator_url is not set: configure the operator's URL (tds.conf or TDS_NODE_OPERATOR_URL)");
	tds_buf cert = TDS_BUF_INIT, pem = TDS_BUF_INIT;
	tds_node_cert c;
	char path[4096];
	pthread_mutex_lock(&n->enroll_lock);
	rc = tds_nodekeys_enroll(op_url, tds_json_str(body, "client_id", NULL), tds_json_str(body, "client_secret", NULL),
				 pinned, n->key, tds_config_get(n->cfg, "node.id"), &cert, &pem, &c);
	if (!rc && !(rc = tds_path_join(path, sizeof path, n->dir, "operator.pub")))
		rc = tds_file_write_atomic(path, pem.data, pem.len, 0644);
	if (!rc && !(rc = tds_path_join(path, sizeof path, n->dir, "node.cert")))
		rc = tds_file_write_atomic(path, cert.data, cert.len, 0644);
	if (!rc)
		rc = activate_cert(n, &c, pem.data);
	pthread_mutex_unlock(&n->enroll_lock);
	tds_buf_free(&cert);
	tds_buf_free(&pem);
	if (rc)
		return rc;
	char expires[TDS_TIME_MAX];
	tds_time_format(c.expires_at_ms, expires);
	/* the connector's own evidence of its certificate */
	const char *subjects[] = {c.serial};
	json_t *payload = json_pack("{s:s, s:s, s:s, s:s}", "serial", c.serial, "org_id", c.org_id, "issuer",
				    c.issuer_node_id, "expires_at", expires);
	tds_ledger_entry_in e = {.type = "node.certificate_installed",
				 .actor = {.account = req->principal->account_id, .node = tds_config_get(n->cfg, "node.id")},
				 .subjects = subjects, .nsubjects = 1, .payload = payload};
	uint64_t idx;
	rc = tds_ledger_append(n->ledger, &e, &idx);
	json_decref(payload);
	if (rc)
		return rc;
	tds_log_fields(TDS_LOG_INFO, "enrolled", json_pack("{s:s, s:s}", "serial", c.serial, "org_id", c.org_id));
	return tds_resp_json(resp, 200,
			     json_pack("{s:b, s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "enrolled", 1, "serial", c.serial, "node_id",
				       c.node_id, "org_id", c.org_id, "expires_at", expires, "operator", "node_id",
				       c.issuer_node_id, "key_id", c.issuer_key_id));
}

/* Authenticator chain: an RFC 9421 signature of another node first, then bearer tokens. */
static int node_auth(void *ctx, tds_req *req, tds_principal *out)
{
	node *n = ctx;
	int rc = tds_http_verify_signature(req, n->verifier, out);
	if (rc < 0 || out->roles)
		return rc; /* refused, or a node (TDS_ROLE_NODE, org from its certificate) */
	const char *h = tds_req_header(req, "Authorization");
	if (h && strncasecmp(h, "Bearer " TDS_CONTRACT_TOKEN_PREFIX, 7 + strlen(TDS_CONTRACT_TOKEN_PREFIX)) == 0)
		return 0; /* a consumer's usage token (contract.h section 4): the data plane checks it, not identity */
	return tds_identity_http_auth(n->identity, req, out);
}

static int route_list(tds_req *req, tds_resp *resp)
{
	node *n = req->route_ctx;
	json_t *items = json_array();
	tds_router *routers[] = {n->api_router, n->data_router};
	for (size_t k = 0; k < 2; k++)
		for (size_t i = 0; i < tds_router_count(routers[k]); i++) {
			const tds_route_info *ri = tds_router_get(routers[k], i);
			json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:o, s:s?}", "listener", k ? "data" : "api",
							       "method", ri->method, "path", ri->pattern, "roles",
							       tds_roles_to_json(ri->roles), "summary", ri->summary));
		}
	return tds_resp_json(resp, 200, json_pack("{s:o}", "items", items));
}

static int health(void *ctx)
{
	node *n = ctx;
	sqlite3 *db = tds_store_conn(n->store);
	if (!db)
		return tds_error_code();
	return tds_store_exec(db, "SELECT 1");
}

static int add_routes(node *n)
{
	int rc;
	n->ledger_routes = (tds_ledger_routes_ctx){n->ledger, n->witness, (const char *const *)n->witness_urls, n->nwitness};
	if ((rc = tds_identity_routes(n->identity, n->api_router)) ||
	    (rc = tds_ledger_routes(&n->ledger_routes, n->api_router)) ||
	    (rc = tds_catalog_routes(n->catalog, n->api_router)) ||
	    (rc = tds_contract_routes(n->contract, n->api_router, n->data_router)) ||
	    (n->operation && (rc = tds_operation_routes(n->operation, n->api_router))) ||
	    (rc = tds_delivery_routes(n->delivery, n->api_router, n->data_router)) ||
	    (rc = tds_router_add(n->api_router, "GET", "/api/v1/node", TDS_ROLES_PUBLIC, node_info, n,
				 "This node's id, role, suite and public key")) ||
	    (rc = tds_router_add(n->api_router, "GET", "/api/v1/routes", TDS_ROLE_ADMIN, route_list, n,
				 "Every route of this node with the roles it admits")) ||
	    (rc = tds_router_add(n->api_router, "POST", "/api/v1/node/enrollment", TDS_ROLE_ADMIN, node_enroll, n,
				 "Connector: fetch and install this node's certificate with its ClientID and ClientSecret")) ||
	    (rc = tds_router_add(n->data_router, "GET", "/data/v1/node", TDS_ROLES_PUBLIC, node_info, n,
				 "This node's id, role, suite and public key (data plane)")))
		return rc;
	return 0;
}

static int load_master(const char *dir, uint8_t master[TDS_MASTER_KEY_LEN])
{
	char p[4096];
	struct stat st;
	int rc = tds_path_join(p, sizeof p, dir, "master.key");
	if (rc)
		return rc;
	if (stat(p, &st) != 0)
		return tds_error_set(TDS_EIO, NULL, "cannot read %s: %s (is --dir a node directory made by `tds node init`?)",
				     p, strerror(errno));
	if (st.st_mode & 077)
		return tds_error_set(TDS_EPERM, "insecure_key_file", "%s must not be readable by group or others (chmod 600)", p);
	tds_buf b = TDS_BUF_INIT;
	if ((rc = tds_file_read(p, 64, &b)) == 0 && b.len != TDS_MASTER_KEY_LEN)
		rc = tds_error_set(TDS_EINVAL, "invalid_key_file", "%s must hold exactly %d bytes", p, TDS_MASTER_KEY_LEN);
	if (!rc)
		memcpy(master, b.data, TDS_MASTER_KEY_LEN);
	if (b.data)
		memset(b.data, 0, b.len);
	tds_buf_free(&b);
	return rc;
}

/* Witness URLs: ledger.witnesses, plus the operator for a connector (its log is anchored there). */
static int witness_list(node *n)
{
	const char *list = tds_config_get(n->cfg, "ledger.witnesses");
	const char *op = tds_config_get(n->cfg, "node.operator_url");
	char buf[4096];
	snprintf(buf, sizeof buf, "%s%s%s", list ? list : "", list && op ? "," : "", op ? op : "");
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (strncmp(tok, "http://", 7) != 0 && strncmp(tok, "https://", 8) != 0)
			return tds_error_set(TDS_EINVAL, "invalid_config", "ledger.witnesses: '%s' is not an http(s) URL", tok);
		bool dup = false;
		for (size_t i = 0; i < n->nwitness; i++)
			dup = dup || strcmp(n->witness_urls[i], tok) == 0;
		if (dup)
			continue;
		if (n->nwitness == TDS_ARRAY_LEN(n->witness_urls))
			return tds_error_set(TDS_EINVAL, "invalid_config", "ledger.witnesses: at most %zu witnesses",
					     TDS_ARRAY_LEN(n->witness_urls));
		if (!(n->witness_urls[n->nwitness++] = strdup(tok)))
			return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	}
	return 0;
}

/* Waits on stop_cond until due_ms (INT64_MAX: until woken). Called and returns with stop_lock held;
 * false when the node is stopping. */
static bool wait_until(node *n, int64_t due_ms)
{
	if (n->stopping)
		return false;
	if (due_ms == INT64_MAX) {
		pthread_cond_wait(&n->stop_cond, &n->stop_lock);
	} else {
		struct timespec ts = {.tv_sec = due_ms / 1000, .tv_nsec = (due_ms % 1000) * 1000000};
		pthread_cond_timedwait(&n->stop_cond, &n->stop_lock, &ts);
	}
	return !n->stopping;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Issues a checkpoint every ledger.checkpoint_interval_s and has the witnesses cosign it. */
static void *publisher(void *arg)
{
	node *n = arg;
	int64_t every = tds_config_int(n->cfg, "ledger.checkpoint_interval_s") * 1000;
	int64_t next = tds_now_ms() + every;
	pthread_mutex_lock(&n->stop_lock);
	while (!n->stopping) {
		if (tds_now_ms() < next) {
			wait_until(n, next);
			continue;
		}
		next = tds_now_ms() + every;
		pthread_mutex_unlock(&n->stop_lock);
		json_t *report = NULL;
		if (tds_ledger_publish(n->ledger, (const char *const *)n->witness_urls, n->nwitness, &report))
			tds_log(TDS_LOG_WARN, "checkpoint_failed", "%s", tds_error_message());
		else
			tds_log_fields(TDS_LOG_DEBUG, "checkpoint_published", report);
		pthread_mutex_lock(&n->stop_lock);
	}
	pthread_mutex_unlock(&n->stop_lock);
	return NULL;
}

/* Identity's watches: the qualification expiry watch every identity.watch_interval_s and, on the
 * operator, the connector presence watch a few times per connector.offline_after_s. */
static void *watcher(void *arg)
{
	node *n = arg;
	int64_t qual_every = tds_config_int(n->cfg, "identity.watch_interval_s") * 1000;
	int64_t offline_s = tds_config_int(n->cfg, "connector.offline_after_s");
	int64_t presence_every = n->is_operator ? (offline_s / 3 < 1 ? 1 : offline_s / 3 > 10 ? 10 : offline_s / 3) * 1000 : 0;
	int64_t now = tds_now_ms(), next_qual = now + qual_every, next_presence = now + presence_every;
	pthread_mutex_lock(&n->stop_lock);
	while (!n->stopping) {
		now = tds_now_ms();
		int64_t due = min64(qual_every ? next_qual : INT64_MAX, presence_every ? next_presence : INT64_MAX);
		if (due > now) {
			wait_until(n, due);
			continue;
		}
		pthread_mutex_unlock(&n->stop_lock);
		json_t *report = NULL;
		if (qual_every && now >= next_qual) {
			next_qual = now + qual_every;
			if (tds_identity_watch(n->identity, now, &report))
				tds_log(TDS_LOG_WARN, "identity_watch_failed", "%s", tds_error_message());
			else
				tds_log_fields(TDS_LOG_DEBUG, "identity_watch", report);
			if (n->operation && tds_operation_remind(n->operation, now, NULL)) /* overdue review steps */
				tds_log(TDS_LOG_WARN, "operation_remind_failed", "%s", tds_error_message());
		}
		if (presence_every && now >= next_presence) {
			next_presence = now + presence_every;
			if (tds_identity_connector_watch(n->identity, now, NULL))
				tds_log(TDS_LOG_WARN, "connector_watch_failed", "%s", tds_error_message());
		}
		pthread_mutex_lock(&n->stop_lock);
	}
	pthread_mutex_unlock(&n->stop_lock);
	return NULL;
}

/* A connector's heartbeat to its operator, signed with its certificate. Returns false when the
 * operator answered that this certificate is revoked. */
static bool send_heartbeat(node *n, const char *serial)
{
	struct statvfs fs;
	uint64_t size = 0;
	json_t *health = json_pack("{s:I}", "witnesses", (json_int_t)n->nwitness);
	if (statvfs(n->dir, &fs) == 0)
		json_object_set_new(health, "disk_free_bytes", json_integer((json_int_t)((uint64_t)fs.f_bavail * fs.f_frsize)));
	if (tds_ledger_size(n->ledger, &size, NULL) == 0)
		json_object_set_new(health, "ledger_entries", json_integer((json_int_t)size));
	json_t *body = json_pack("{s:s, s:s, s:I, s:o}", "status", "ok", "version", TDS_VERSION, "uptime_s",
				 (json_int_t)((tds_now_ms() - n->started_ms) / 1000), "health", health),
	       *out = NULL;
	tds_http_client *c = tds_http_client_new(tds_config_get(n->cfg, "node.operator_url"), 10000);
	long status = 0;
	int rc = c ? tds_http_client_set_signer(c, n->key, serial) : tds_error_code();
	if (!rc)
		rc = tds_http_client_json(c, "POST", "/api/v1/connectors/heartbeat", body, &status, &out);
	bool revoked = !rc && status == 401 &&
		       strcmp(tds_json_str(json_object_get(out, "error"), "code", ""), "certificate_revoked") == 0;
	if (revoked)
		tds_log_fields(TDS_LOG_ERROR, "own_certificate_revoked",
			       json_pack("{s:s, s:s}", "serial", serial, "msg",
					 "the operator revoked this node's certificate: heartbeats and revocation polls stop "
					 "until the node enrols again"));
	else if (rc || status != 200)
		tds_log_fields(TDS_LOG_WARN, "heartbeat_failed",
			       json_pack("{s:I, s:s}", "status", (json_int_t)status, "msg",
					 rc ? tds_error_message()
					    : tds_json_str(json_object_get(out, "error"), "message", "no message")));
	tds_http_client_free(c);
	json_decref(body);
	json_decref(out);
	return !revoked;
}

#define CONTRACT_SYNC_MS 1000

/* One pass of the contract module's connector duties (feed, acknowledgements, counters' journal,
 * violation reports): see tds_contract_sync. */
static void contract_sync(node *n, const char *serial)
{
	char pub[4096], org[TDS_ID_MAX], op_node[TDS_ID_MAX];
	pthread_mutex_lock(&n->cert_lock);
	snprintf(org, sizeof org, "%s", n->cert.org_id);
	snprintf(op_node, sizeof op_node, "%s", n->cert.issuer_node_id);
	pthread_mutex_unlock(&n->cert_lock);
	tds_contract_link link = {.operator_url = tds_config_get(n->cfg, "node.operator_url"), .operator_pub_path = pub,
				  .operator_node_id = op_node, .own_serial = serial, .own_org_id = org,
				  .own_node_id = tds_config_get(n->cfg, "node.id")};
	if (tds_path_join(pub, sizeof pub, n->dir, "operator.pub") || tds_contract_sync(n->contract, &link, NULL))
		tds_log_fields(TDS_LOG_WARN, "contract_sync_failed",
			       json_pack("{s:s, s:s}", "code", tds_error_name(), "msg", tds_error_message()));
}

/* Sends the catalog outbox (published resources, listed products) to the operator, signed. */
static void catalog_sync(node *n, const char *serial)
{
	tds_http_client *c = tds_http_client_new(tds_config_get(n->cfg, "node.operator_url"), 10000);
	int sent = 0, rc = c ? tds_http_client_set_signer(c, n->key, serial) : tds_error_code();
	if (!rc)
		rc = tds_catalog_outbox_flush(n->catalog, c, &sent);
	if (sent)
		tds_log_fields(TDS_LOG_DEBUG, "catalog_synced", json_pack("{s:i}", "entries", sent));
	if (rc && rc != TDS_EIO) /* the flush logs the operator's refusals itself */
		tds_log_fields(TDS_LOG_WARN, "catalog_sync_failed",
			       json_pack("{s:s, s:s}", "code", tds_error_name(), "msg", tds_error_message()));
	tds_http_client_free(c);
}

/* A connector's duties once enrolled: heartbeats every connector.heartbeat_interval_s, the
 * operator's revocation list every connector.revocation_poll_s and the contract feed every second.
 * Idle until enrolled, and again once the operator says this node's own certificate is revoked. */
static void *connector_loop(void *arg)
{
	node *n = arg;
	int64_t beat_every = tds_config_int(n->cfg, "connector.heartbeat_interval_s") * 1000;
	int64_t poll_every = tds_config_int(n->cfg, "connector.revocation_poll_s") * 1000;
	int64_t cat_every = tds_config_int(n->cfg, "connector.catalog_sync_interval_ms"), next_cat = INT64_MAX;
	int64_t next_beat = INT64_MAX, next_poll = INT64_MAX, next_sync = INT64_MAX;
	pthread_mutex_lock(&n->stop_lock);
	while (!n->stopping) {
		int64_t now = tds_now_ms();
		if (n->kick) { /* just enrolled */
			n->kick = false;
			next_beat = beat_every ? now : INT64_MAX;
			next_poll = poll_every ? now : INT64_MAX;
			next_cat = cat_every ? now : INT64_MAX; /* the catalog outbox at once, then every cat_every */
			next_sync = now;
		}
		int64_t due = min64(min64(next_beat, next_poll), next_sync);
		due = min64(due, next_cat);
		if (due > now) {
			wait_until(n, due);
			continue;
		}
		pthread_mutex_unlock(&n->stop_lock);
		char serial[TDS_ID_MAX];
		pthread_mutex_lock(&n->cert_lock);
		snprintf(serial, sizeof serial, "%s", n->cert.serial);
		pthread_mutex_unlock(&n->cert_lock);
		if (now >= next_beat) {
			next_beat = now + beat_every;
			if (!send_heartbeat(n, serial)) /* revoked: quiet until enrolled again (kick) */
				next_beat = next_poll = next_sync = INT64_MAX;
		}
		if (now >= next_poll) {
			next_poll = now + poll_every;
			int revoked = 0;
			if (tds_nodekeys_sync(n->keys, &revoked))
				tds_log_fields(TDS_LOG_WARN, "revocation_sync_failed",
					       json_pack("{s:s, s:s}", "code", tds_error_name(), "msg", tds_error_message()));
		}
		if (next_beat == INT64_MAX && next_poll == INT64_MAX && (beat_every || poll_every))
			next_cat = INT64_MAX; /* own certificate revoked: quiet until enrolled again */
		if (now >= next_cat) {
			next_cat = now + cat_every;
			catalog_sync(n, serial);
		}
		if (now >= next_sync) {
			next_sync = now + CONTRACT_SYNC_MS;
			contract_sync(n, serial);
		}
		pthread_mutex_lock(&n->stop_lock);
	}
	pthread_mutex_unlock(&n->stop_lock);
	return NULL;
}

/* ---- the contract module's view of this node (tds_contract_node) ---- */

/* Contract terms against an authorization list: the operation module's check (operation depends on
 * contract, so the contract module reaches it only through this callback). */
static int contract_authorization_check(void *ctx, sqlite3 *db, const char *authorization_id, const json_t *terms,
					json_t *issues)
{
	node *n = ctx;
	if (!n->operation)
		return tds_error_set(TDS_EUNPROC, "authorization_unavailable", "authorization lists live on the operator");
	return tds_operation_terms_check(n->operation, db, authorization_id, terms, issues);
}

/* The operation module's qualification check: an approved qualification of the organisation. */
static int operation_qualified(void *ctx, const char *org, const char *qual_id)
{
	node *n = ctx;
	json_t *out = NULL;
	const char *cursor = NULL;
	int rc, found = 0;
	char next[TDS_ID_MAX] = "";
	do {
		if ((rc = tds_identity_qualification_list(n->identity, org, "approved", 100, cursor, &out)))
			return rc;
		size_t i;
		json_t *q;
		json_array_foreach(json_object_get(out, "items"), i, q) found |= !strcmp(tds_json_str(q, "id", ""), qual_id);
		snprintf(next, sizeof next, "%s", tds_json_str(out, "next_cursor", ""));
		cursor = next[0] ? next : NULL;
		json_decref(out);
	} while (!found && cursor);
	return found ? 0 : tds_error_set(TDS_ENOTFOUND, "qualification_not_found", "no such approved qualification");
}

static int contract_resolve(void *ctx, const char *serial, tds_arena *arena, const tds_key **key, tds_principal *p)
{
	node *n = ctx;
	return tds_nodekeys_resolve(n->keys, serial, arena, key, p);
}

static int contract_operator_client(void *ctx, tds_http_client **client, char serial[TDS_ID_MAX], char org_id[TDS_ID_MAX])
{
	node *n = ctx;
	*client = NULL;
	pthread_mutex_lock(&n->cert_lock);
	bool enrolled = n->enrolled;
	snprintf(serial, TDS_ID_MAX, "%s", n->cert.serial);
	snprintf(org_id, TDS_ID_MAX, "%s", n->cert.org_id);
	pthread_mutex_unlock(&n->cert_lock);
	if (!enrolled)
		return tds_error_set(TDS_EUNPROC, "not_enrolled", "this connector has no certificate yet: enrol it with its operator");
	tds_http_client *c = tds_http_client_new(tds_config_get(n->cfg, "node.operator_url"), 10000);
	int rc = c ? tds_http_client_set_signer(c, n->key, serial) : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if (rc) {
		tds_http_client_free(c);
		return rc;
	}
	*client = c;
	return 0;
}

static int node_start(node *n, const char *dir)
{
	uint8_t master[TDS_MASTER_KEY_LEN], pii_key[32], secret_key[32], catalog_key[32], delivery_key[32];
	char p[4096];
	int rc;
	const char *role = tds_config_get(n->cfg, "node.role");
	if ((rc = check_choice("node.role", role, "operator", "connector")) ||
	    (rc = tds_suite_parse(tds_config_get(n->cfg, "node.suite"), &n->suite)))
		return rc;
	n->dir = dir;
	n->is_operator = strcmp(role, "operator") == 0;
	if (!tds_id_valid(tds_config_get(n->cfg, "node.id"), "node"))
		return tds_error_set(TDS_EINVAL, "invalid_config", "node.id is missing or malformed in tds.conf");
	tds_log_level level;
	if ((rc = tds_log_parse_level(tds_config_get(n->cfg, "log.level"), &level)))
		return rc;
	tds_log_set_level(level);
	if ((rc = tds_crypto_init()) || (rc = load_master(dir, master)))
		return rc;
	rc = tds_path_join(p, sizeof p, dir, "node.key");
	if (!rc)
		rc = tds_key_load_sealed(p, master, &n->key);
	if (!rc)
		rc = tds_hkdf(n->suite, NULL, 0, master, sizeof master, "tds-idempotency", 15, n->idem_key,
			      sizeof n->idem_key);
	if (!rc) /* the HMAC key of resident ID numbers: outside the database, so a copy of it does not
		    give away the numbers */
		rc = tds_hkdf(n->suite, NULL, 0, master, sizeof master, "tds-identity-pii", 16, pii_key, sizeof pii_key);
	if (!rc) /* the key of the keyed hash that keeps ClientSecrets (identity.h, connectors) */
		rc = tds_hkdf(n->suite, NULL, 0, master, sizeof master, "tds-identity-client-secret", 26, secret_key,
			      sizeof secret_key);
	if (!rc) /* seals data-source secrets (database connection strings) */
		rc = tds_hkdf(n->suite, NULL, 0, master, sizeof master, "tds-catalog-seal", 16, catalog_key,
			      sizeof catalog_key);
	if (!rc) /* keys the delivery's pseudonyms ("hash" masks), one derived key per contract */
		rc = tds_hkdf(n->suite, NULL, 0, master, sizeof master, "tds-delivery-pseudonym", 22, delivery_key,
			      sizeof delivery_key);
	if (!rc)
		rc = tds_key_check_suite(n->key, n->suite);
	if (!rc)
		rc = tds_key_id(n->key, n->key_id);
	char origin[TDS_LEDGER_ORIGIN_MAX + 1];
	snprintf(origin, sizeof origin, "tds.local/%s", tds_config_get(n->cfg, "node.id"));
	tds_ledger_opts lopts = {.suite = n->suite, .origin = origin, .key = n->key, .master = master};
	if (!rc && !(rc = tds_path_join(p, sizeof p, dir, "tds.db")) && !(rc = tds_store_open(p, &n->store))) {
		lopts.store = n->store;
		rc = tds_ledger_open(&lopts, &n->ledger);
	}
	memset(master, 0, sizeof master);
	if (rc) {
		memset(pii_key, 0, sizeof pii_key);
		memset(secret_key, 0, sizeof secret_key);
		memset(catalog_key, 0, sizeof catalog_key);
		memset(delivery_key, 0, sizeof delivery_key);
		return rc;
	}
	tds_witness_opts wopts = {.store = n->store, .name = origin, .key = n->key, .own = n->ledger};
	rc = tds_store_migrate(n->store, "node", NODE_MIGRATIONS, TDS_ARRAY_LEN(NODE_MIGRATIONS));
	if (!rc)
		rc = tds_witness_open(&wopts, &n->witness);
	tds_identity_opts iopts = {.session_ttl_ms = tds_config_int(n->cfg, "identity.session_ttl_s") * 1000,
				   .ledger = n->ledger, .node_id = tds_config_get(n->cfg, "node.id"), .pii_key = pii_key,
				   .requirements = tds_config_get(n->cfg, "identity.required_qualifications"),
				   .login_max_failures = (int)tds_config_int(n->cfg, "identity.login_max_failures"),
				   .login_max_failures_ip = (int)tds_config_int(n->cfg, "identity.login_max_failures_ip"),
				   .login_window_ms = tds_config_int(n->cfg, "identity.login_window_s") * 1000,
				   .signup_max_per_ip = (int)tds_config_int(n->cfg, "identity.signup_max_per_ip"),
				   /* connectors are certified by the operator only */
				   .node_key = n->is_operator ? n->key : NULL,
				   .secret_key = secret_key,
				   .witness = n->witness,
				   .cert_ttl_ms = tds_config_int(n->cfg, "connector.cert_validity_days") * 24 * 3600 * 1000,
				   .offline_after_ms = tds_config_int(n->cfg, "connector.offline_after_s") * 1000};
	if (!rc)
		rc = tds_identity_open(n->store, &iopts, &n->identity);
	memset(pii_key, 0, sizeof pii_key);
	memset(secret_key, 0, sizeof secret_key);
	tds_catalog_opts copts = {.ledger = n->ledger, .node_id = tds_config_get(n->cfg, "node.id"), .dir = dir,
				  .import_dir = tds_config_get(n->cfg, "catalog.import_dir"), .seal_key = catalog_key,
				  .code_base = tds_config_get(n->cfg, "catalog.code_base"),
				  .suite = n->suite};
	if (!rc)
		rc = tds_catalog_open(n->store, &copts, &n->catalog);
	if (!rc)
		tds_catalog_set_operator(n->catalog, n->is_operator);
	memset(catalog_key, 0, sizeof catalog_key);
	tds_contract_opts ctopts = {.ledger = n->ledger, .catalog = n->catalog, .key = n->key,
				    .node_id = tds_config_get(n->cfg, "node.id"), .suite = n->suite,
				    .is_operator = n->is_operator,
				    .node = {.ctx = n, .resolve = contract_resolve, .operator_client = contract_operator_client,
					     .authorization_check = contract_authorization_check}};
	if (!rc)
		rc = tds_contract_open(n->store, &ctopts, &n->contract);
	tds_operation_opts oopts = {.ledger = n->ledger, .catalog = n->catalog, .node_id = tds_config_get(n->cfg, "node.id"),
				    .qualified = operation_qualified, .qualified_ctx = n,
				    .initial_review_days = (int)tds_config_int(n->cfg, "operation.initial_review_days"),
				    .final_review_days = (int)tds_config_int(n->cfg, "operation.final_review_days")};
	if (!rc && n->is_operator)
		rc = tds_operation_open(n->store, &oopts, &n->operation);
	tds_delivery_opts dopts = {.ledger = n->ledger, .catalog = n->catalog, .contract = n->contract,
				   .node_id = tds_config_get(n->cfg, "node.id"), .suite = n->suite,
				   .pseudonym_key = delivery_key, .is_operator = n->is_operator};
	if (!rc)
		rc = tds_delivery_open(n->store, &dopts, &n->delivery);
	memset(delivery_key, 0, sizeof delivery_key);
	/* who signed a request: the registry on the operator, the operator's word on a connector */
	tds_sig_verifier_opts vopts = {.resolve = tds_nodekeys_resolve};
	if (!rc && !(rc = tds_nodekeys_new(n->is_operator ? n->identity : NULL, &n->keys))) {
		vopts.ctx = n->keys;
		rc = tds_sig_verifier_new(&vopts, &n->verifier);
	}
	if (rc || (rc = witness_list(n)))
		return rc;
	if (!n->is_operator)
		load_cert(n);
	n->idem = (tds_idempotency){idem_lookup, idem_save, n};
	n->api_router = tds_router_new();
	n->data_router = tds_router_new();
	if (!n->api_router || !n->data_router)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if ((rc = add_routes(n)))
		return rc;
	tds_server_opts api = {
	    .name = "api",
	    .bind = tds_config_get(n->cfg, "api.bind"),
	    .port = (uint16_t)tds_config_int(n->cfg, "api.port"),
	    .threads = (unsigned)tds_config_int(n->cfg, "api.threads"),
	    .max_body = (size_t)tds_config_int(n->cfg, "api.max_body"),
	    .auth = node_auth,
	    .auth_ctx = n,
	    .access_log = tds_config_bool(n->cfg, "http.access_log"),
	    .idempotency = &n->idem,
	};
	tds_server_opts data = api;
	data.name = "data";
	data.bind = tds_config_get(n->cfg, "data.bind");
	data.port = (uint16_t)tds_config_int(n->cfg, "data.port");
	data.threads = (unsigned)tds_config_int(n->cfg, "data.threads");
	data.max_body = (size_t)tds_config_int(n->cfg, "data.max_body");
	if ((rc = tds_server_start(n->api_router, &api, &n->api)))
		return tds_error_wrap("management API on %s:%u: ", api.bind, api.port);
	if ((rc = tds_server_start(n->data_router, &data, &n->data)))
		return tds_error_wrap("data plane on %s:%u: ", data.bind, data.port);
	tds_server_set_health(n->api, health, n);
	tds_server_set_health(n->data, health, n);
	n->started_ms = tds_now_ms();
	if (tds_config_int(n->cfg, "ledger.checkpoint_interval_s") > 0) {
		if (pthread_create(&n->publisher, NULL, publisher, n) != 0)
			return tds_error_set(TDS_EIO, NULL, "cannot start the checkpoint publisher thread");
		n->publisher_started = true;
	}
	if (tds_config_int(n->cfg, "identity.watch_interval_s") > 0 || n->is_operator) {
		if (pthread_create(&n->watcher, NULL, watcher, n) != 0)
			return tds_error_set(TDS_EIO, NULL, "cannot start the identity watch thread");
		n->watcher_started = true;
	}
	if (!n->is_operator) {
		if (pthread_create(&n->connector, NULL, connector_loop, n) != 0)
			return tds_error_set(TDS_EIO, NULL, "cannot start the connector thread");
		n->connector_started = true;
	}
	return 0;
}

static void node_stop(node *n)
{
	pthread_mutex_lock(&n->stop_lock);
	n->stopping = true;
	pthread_cond_broadcast(&n->stop_cond); /* the publisher and the watcher */
	pthread_mutex_unlock(&n->stop_lock);
	if (n->publisher_started)
		pthread_join(n->publisher, NULL);
	if (n->watcher_started)
		pthread_join(n->watcher, NULL);
	if (n->connector_started)
		pthread_join(n->connector, NULL);
	tds_server_stop(n->api);
	tds_server_stop(n->data);
	tds_contract_stop(n->contract); /* the counters' last journal records */
	tds_contract_free(n->contract);
	tds_operation_free(n->operation);
	tds_delivery_free(n->delivery);
	tds_catalog_free(n->catalog);
	tds_sig_verifier_free(n->verifier);
	tds_nodekeys_free(n->keys);
	tds_router_free(n->api_router);
	tds_router_free(n->data_router);
	tds_identity_free(n->identity);
	tds_witness_free(n->witness);
	tds_ledger_free(n->ledger);
	for (size_t i = 0; i < n->nwitness; i++)
		free(n->witness_urls[i]);
	tds_store_close(n->store);
	tds_key_free(n->key);
	tds_config_free(n->cfg);
	memset(n->idem_key, 0, sizeof n->idem_key);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: tdsd --dir DIR [--api-port P] [--data-port Q] [--log-level L] [--set section.key=value]…\n"
		   "Runs the TDS node whose directory DIR was made by `tds node init`. Stops on SIGTERM or SIGINT.\n"
		   "Configuration: DIR/tds.conf, then TDS_<SECTION>_<KEY> environment variables, then flags.\n");
}

static int fail(const char *what)
{
	json_t *f = json_pack("{s:s, s:s, s:s}", "stage", what, "code", tds_error_name(), "msg", tds_error_message());
	tds_log_fields(TDS_LOG_ERROR, "startup_failed", f);
	fprintf(stderr, "tdsd: %s: %s\n", what, tds_error_message());
	return 1;
}

int tds_node_main(int argc, char **argv)
{
	const char *dir = getenv("TDS_DIR");
	const char *sets[64];
	size_t nsets = 0;
	for (int i = 1; i < argc; i += 2) { /* every option takes one value */
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--version") == 0) {
			printf("tdsd %s\n", TDS_VERSION);
			return 0;
		} else if (!v) {
			usage(stderr);
			return 2;
		} else if (strcmp(a, "--dir") == 0) {
			dir = v;
		} else if (strcmp(a, "--api-port") == 0 || strcmp(a, "--data-port") == 0 || strcmp(a, "--log-level") == 0 ||
			   strcmp(a, "--set") == 0) {
			if (nsets + 2 > TDS_ARRAY_LEN(sets)) {
				fprintf(stderr, "tdsd: too many flags\n");
				return 2;
			}
			sets[nsets++] = a;
			sets[nsets++] = v;
		} else {
			fprintf(stderr, "tdsd: unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (!dir) {
		usage(stderr);
		return 2;
	}
	size_t nschema;
	const tds_conf_key *schema = tds_node_config_schema(&nschema);
	node n = {0};
	pthread_mutex_init(&n.stop_lock, NULL);
	pthread_cond_init(&n.stop_cond, NULL);
	pthread_mutex_init(&n.cert_lock, NULL);
	pthread_mutex_init(&n.enroll_lock, NULL);
	n.cfg = tds_config_new(schema, nschema);
	char p[4096];
	if (!n.cfg || tds_path_join(p, sizeof p, dir, "tds.conf") || tds_config_load_file(n.cfg, p) ||
	    tds_config_load_env(n.cfg, environ)) {
		int code = fail("configuration");
		tds_config_free(n.cfg);
		return code;
	}
	for (size_t i = 0; i < nsets; i += 2) {
		int rc;
		if (strcmp(sets[i], "--set") == 0) {
			char key[128];
			const char *eq = strchr(sets[i + 1], '=');
			if (!eq || (size_t)(eq - sets[i + 1]) >= sizeof key) {
				fprintf(stderr, "tdsd: --set wants section.key=value\n");
				tds_config_free(n.cfg);
				return 2;
			}
			snprintf(key, sizeof key, "%.*s", (int)(eq - sets[i + 1]), sets[i + 1]);
			rc = tds_config_set(n.cfg, key, eq + 1);
		} else {
			const char *key = strcmp(sets[i], "--api-port") == 0	? "api.port"
					  : strcmp(sets[i], "--data-port") == 0 ? "data.port"
										: "log.level";
			rc = tds_config_set(n.cfg, key, sets[i + 1]);
		}
		if (rc) {
			int code = fail("flags");
			tds_config_free(n.cfg);
			return code;
		}
	}

	/* Block the stop signals before any thread starts, so that every thread inherits the mask and
	 * only sigwait below receives them. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (node_start(&n, dir)) {
		int code = fail("start");
		node_stop(&n);
		return code;
	}
	printf("{\"event\":\"listening\",\"api\":\"http://%s:%u\",\"data\":\"http://%s:%u\",\"node_id\":\"%s\",\"role\":\"%s\"}\n",
	       tds_config_get(n.cfg, "api.bind"), tds_server_port(n.api), tds_config_get(n.cfg, "data.bind"),
	       tds_server_port(n.data), tds_config_get(n.cfg, "node.id"), tds_config_get(n.cfg, "node.role"));
	fflush(stdout);
	tds_log_fields(TDS_LOG_INFO, "listening",
		       json_pack("{s:i, s:i, s:s?, s:s?}", "api_port", tds_server_port(n.api), "data_port",
				 tds_server_port(n.data), "node_id", tds_config_get(n.cfg, "node.id"), "role",
				 tds_config_get(n.cfg, "node.role")));
	int sig = 0;
	sigwait(&stop, &sig);
	tds_log(TDS_LOG_INFO, "stopping", "received %s; finishing in-flight requests", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	node_stop(&n);
	tds_log(TDS_LOG_INFO, "stopped", "node stopped cleanly");
	return 0;
}
