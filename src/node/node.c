/*
 * node.c — creating a node directory (`tds node init`) and running a node (`tdsd --dir DIR`):
 * configuration, master key, node key, database, the bootstrap admin, the two listeners (management
 * API and data plane), signals and shutdown. Modules are wired here and nowhere else.
 */
#include "node/node.h"

#include "crypto/crypto.h"
#include "http/http.h"
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
    {"ledger.checkpoint_interval_s", TDS_CONF_INT, "60", 0, 86400,
     "issue a checkpoint and ask the witnesses to cosign it this often (0: only on demand)"},
    {"ledger.witnesses", TDS_CONF_STRING, NULL, 0, 0,
     "comma-separated management API URLs of the witnesses of this node's log (a connector's operator is always one)"},
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
	pthread_t publisher, watcher;
	bool publisher_started, watcher_started, stopping;
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
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
	return tds_resp_json(resp, 200, o);
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
	    (rc = tds_router_add(n->api_router, "GET", "/api/v1/node", TDS_ROLES_PUBLIC, node_info, n,
				 "This node's id, role, suite and public key")) ||
	    (rc = tds_router_add(n->api_router, "GET", "/api/v1/routes", TDS_ROLE_ADMIN, route_list, n,
				 "Every route of this node with the roles it admits")) ||
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

/* Issues a checkpoint every ledger.checkpoint_interval_s and has the witnesses cosign it. */
static void *publisher(void *arg)
{
	node *n = arg;
	int64_t every = tds_config_int(n->cfg, "ledger.checkpoint_interval_s") * 1000;
	pthread_mutex_lock(&n->stop_lock);
	while (!n->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t due = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + every;
		ts.tv_sec = due / 1000;
		ts.tv_nsec = (due % 1000) * 1000000;
		while (!n->stopping && pthread_cond_timedwait(&n->stop_cond, &n->stop_lock, &ts) == 0)
			;
		if (n->stopping)
			break;
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

/* Runs identity's qualification expiry watch every identity.watch_interval_s. */
static void *watcher(void *arg)
{
	node *n = arg;
	int64_t every = tds_config_int(n->cfg, "identity.watch_interval_s") * 1000;
	pthread_mutex_lock(&n->stop_lock);
	while (!n->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t due = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + every;
		ts.tv_sec = due / 1000;
		ts.tv_nsec = (due % 1000) * 1000000;
		while (!n->stopping && pthread_cond_timedwait(&n->stop_cond, &n->stop_lock, &ts) == 0)
			;
		if (n->stopping)
			break;
		pthread_mutex_unlock(&n->stop_lock);
		json_t *report = NULL;
		if (tds_identity_watch(n->identity, tds_now_ms(), &report))
			tds_log(TDS_LOG_WARN, "identity_watch_failed", "%s", tds_error_message());
		else
			tds_log_fields(TDS_LOG_DEBUG, "identity_watch", report);
		pthread_mutex_lock(&n->stop_lock);
	}
	pthread_mutex_unlock(&n->stop_lock);
	return NULL;
}

static int node_start(node *n, const char *dir)
{
	uint8_t master[TDS_MASTER_KEY_LEN], pii_key[32];
	char p[4096];
	int rc;
	const char *role = tds_config_get(n->cfg, "node.role");
	if ((rc = check_choice("node.role", role, "operator", "connector")) ||
	    (rc = tds_suite_parse(tds_config_get(n->cfg, "node.suite"), &n->suite)))
		return rc;
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
	if (rc)
		return rc;
	tds_identity_opts iopts = {.session_ttl_ms = tds_config_int(n->cfg, "identity.session_ttl_s") * 1000,
				   .ledger = n->ledger, .node_id = tds_config_get(n->cfg, "node.id"), .pii_key = pii_key,
				   .requirements = tds_config_get(n->cfg, "identity.required_qualifications"),
				   .login_max_failures = (int)tds_config_int(n->cfg, "identity.login_max_failures"),
				   .login_max_failures_ip = (int)tds_config_int(n->cfg, "identity.login_max_failures_ip"),
				   .login_window_ms = tds_config_int(n->cfg, "identity.login_window_s") * 1000};
	tds_witness_opts wopts = {.store = n->store, .name = origin, .key = n->key, .own = n->ledger};
	if ((rc = tds_store_migrate(n->store, "node", NODE_MIGRATIONS, TDS_ARRAY_LEN(NODE_MIGRATIONS))) ||
	    (rc = tds_identity_open(n->store, &iopts, &n->identity)) || (rc = tds_witness_open(&wopts, &n->witness)) ||
	    (rc = witness_list(n))) {
		memset(pii_key, 0, sizeof pii_key);
		return rc;
	}
	memset(pii_key, 0, sizeof pii_key);
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
	    .auth = tds_identity_http_auth,
	    .auth_ctx = n->identity,
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
	if (tds_config_int(n->cfg, "identity.watch_interval_s") > 0) {
		if (pthread_create(&n->watcher, NULL, watcher, n) != 0)
			return tds_error_set(TDS_EIO, NULL, "cannot start the qualification watch thread");
		n->watcher_started = true;
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
	tds_server_stop(n->api);
	tds_server_stop(n->data);
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
