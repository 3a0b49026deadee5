/*
 * connector.c — connectors (连接器入驻) on the operator: registration of a device and its node, review
 * by a platform reviewer, issue of the ClientID, ClientSecret and node certificate (节点证书),
 * enrolment, heartbeats and the presence watch, revocation, and the signed statements other nodes
 * read (certificate status, revocation list). States, uniqueness rules and formats: identity.h.
 *
 * Every change is one transaction with its evidence entry; approval also registers the connector's
 * ledger with the witness inside that transaction, so a connector is witnessed exactly when it is
 * approved. The ClientSecret leaves this file once, in the approval's answer; only its HMAC under the
 * node's secret key is stored, and it is compared in constant time.
 *
 * Not here: resolving request keyids and the connector's side (nodekeys.c), HTTP (routes.c).
 */
#include "identity/internal.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_BYTES 32
#define SECRET_B64_LEN 43 /* base64url of 32 bytes, unpadded */
#define HEALTH_MAX 16

/* ---- validation of outside input ---- */

static bool visible_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* An endpoint as node certificates accept it (crypto.h): http:// or https://, an authority, at most
 * TDS_CERT_URL_MAX visible ASCII characters without quotes, backslashes or angle brackets. */
static int check_url(const char *field, const char *u)
{
	size_t n = u ? strlen(u) : 0;
	size_t skip = n && strncmp(u, "https://", 8) == 0 ? 8 : n && strncmp(u, "http://", 7) == 0 ? 7 : 0;
	bool ok = skip && n <= TDS_CERT_URL_MAX && u[skip] && u[skip] != '/' && u[skip] != '?' && u[skip] != '#' &&
		  u[skip] != '@' && visible_ascii(u, n);
	for (size_t i = 0; ok && i < n; i++)
		ok = u[i] != '"' && u[i] != '\\' && u[i] != '<' && u[i] != '>';
	if (!ok)
		return tds_error_set(TDS_EINVAL, "invalid_url",
				     "field '%s' must be an http:// or https:// URL of at most %d visible ASCII characters", field,
				     TDS_CERT_URL_MAX);
	return 0;
}

static int check_fingerprint(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	bool ok = n == TDS_HASH_HEX_LEN;
	for (size_t i = 0; ok && i < n; i++)
		ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
	if (!ok)
		return tds_error_set(TDS_EINVAL, "invalid_fingerprint",
				     "hw_fingerprint must be the SM3 or SHA-256 hash of the hardware description: 64 lower-case hex characters");
	return 0;
}

static int check_version(const char *field, const char *v)
{
	size_t n = v ? strlen(v) : 0;
	bool ok = n >= 1 && n <= 64;
	for (size_t i = 0; ok && i < n; i++)
		ok = (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= '0' && v[i] <= '9') ||
		     v[i] == '.' || v[i] == '+' || v[i] == '-' || v[i] == '_';
	if (!ok)
		return tds_error_set(TDS_EINVAL, "invalid_version", "field '%s' must be 1-64 characters of A-Z a-z 0-9 . + - _",
				     field);
	return 0;
}

/* 1-16 distinct IPv4/IPv6 addresses; *out gets them in canonical text form (inet_ntop). */
static int check_ips(const json_t *ips, json_t **out)
{
	*out = NULL;
	size_t n = json_is_array(ips) ? json_array_size(ips) : 0;
	if (n < 1 || n > TDS_CONNECTOR_IPS_MAX)
		return tds_error_set(TDS_EINVAL, "invalid_ips", "ips must be an array of 1-%d IP addresses",
				     TDS_CONNECTOR_IPS_MAX);
	json_t *canon = json_array();
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(ips, i));
		unsigned char bin[16];
		char text[INET6_ADDRSTRLEN];
		int af = s && strchr(s, ':') ? AF_INET6 : AF_INET;
		if (!s || strlen(s) >= INET6_ADDRSTRLEN || inet_pton(af, s, bin) != 1 || !inet_ntop(af, bin, text, sizeof text)) {
			json_decref(canon);
			return tds_error_set(TDS_EINVAL, "invalid_ips", "ips item %zu is not an IPv4 or IPv6 address", i);
		}
		for (size_t k = 0; k < json_array_size(canon); k++)
			if (strcmp(json_string_value(json_array_get(canon, k)), text) == 0) {
				json_decref(canon);
				return tds_error_set(TDS_EINVAL, "invalid_ips", "ips item %zu repeats an address", i);
			}
		json_array_append_new(canon, json_string(text));
	}
	*out = canon;
	return 0;
}

static int check_connector_id(const char *cid)
{
	if (!tds_id_valid(cid, "con"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "connector id must look like con_<26 characters>");
	return 0;
}

static int check_choice(const char *field, const char *v, const char *const *set, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		if (strcmp(v, set[i]) == 0)
			return 0;
	if (!v)
		return 0;
	tds_buf b = TDS_BUF_INIT;
	for (size_t i = 0; i < n; i++)
		tds_buf_printf(&b, "%s%s", i ? ", " : "", set[i]);
	tds_error_set(TDS_EINVAL, "invalid_status", "%s must be one of %s", field, b.data ? b.data : "");
	tds_buf_free(&b);
	return TDS_EINVAL;
}

static const char *const STATUSES[] = {"pending", "approved", "rejected", "revoked"};
static const char *const PRESENCES[] = {"unknown", "online", "offline"};
static const char *const HB_STATUSES[] = {"ok", "degraded", "maintenance"};

/* ---- rows as JSON ---- */

#define CON_COLS                                                                                              \
	"id, org_id, name, vendor_serial, ips, software_version, api_endpoint, data_endpoint, hw_fingerprint,"  \
	" node_id, public_key_pem, key_id, key_alg, status, registered_by, reviewed_by, reviewed_at,"             \
	" review_reason, client_id, cert_serial, certificate, cert_issued_at, cert_expires_at, enrolled_at,"     \
	" revoked_by, revoked_at, revoke_reason, presence, presence_at, last_seen_at, heartbeat, created_at"

/* Members of a connector's JSON in CON_COLS order: 's' text, 't' time, 'j' stored JSON. */
static const struct {
	const char *name;
	char kind;
} CON_JSON[] = {
    {"id", 's'},           {"org_id", 's'},         {"name", 's'},           {"vendor_serial", 's'},
    {"ips", 'j'},          {"software_version", 's'}, {"api_endpoint", 's'}, {"data_endpoint", 's'},
    {"hw_fingerprint", 's'}, {"node_id", 's'},      {"public_key_pem", 's'}, {"key_id", 's'},
    {"key_alg", 's'},      {"status", 's'},         {"registered_by", 's'},  {"reviewed_by", 's'},
    {"reviewed_at", 't'},  {"review_reason", 's'},  {"client_id", 's'},      {"cert_serial", 's'},
    {"certificate", 'j'},  {"cert_issued_at", 't'}, {"cert_expires_at", 't'}, {"enrolled_at", 't'},
    {"revoked_by", 's'},   {"revoked_at", 't'},     {"revoke_reason", 's'},  {"presence", 's'},
    {"presence_at", 't'},  {"last_seen_at", 't'},   {"heartbeat", 'j'},      {"created_at", 't'},
};

static json_t *con_row_json(sqlite3_stmt *st)
{
	json_t *o = json_object();
	for (int i = 0; i < (int)TDS_ARRAY_LEN(CON_JSON); i++) {
		json_t *v;
		if (CON_JSON[i].kind == 't') {
			v = id_col_time(st, i);
		} else if (CON_JSON[i].kind == 'j') {
			const char *s = (const char *)sqlite3_column_text(st, i);
			v = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL; /* our own canonical JSON */
			if (!v)
				v = json_null();
		} else {
			v = id_col_str(st, i);
		}
		json_object_set_new(o, CON_JSON[i].name, v);
	}
	return o;
}

/* Reads a connector by id (col "id"), ClientID ("client_id") or certificate serial ("cert_serial"). */
static int con_load(sqlite3 *db, const char *col, const char *value, json_t **out)
{
	const char *sql = strcmp(col, "client_id") == 0	  ? "SELECT " CON_COLS " FROM connectors WHERE client_id=?"
			  : strcmp(col, "cert_serial") == 0 ? "SELECT " CON_COLS " FROM connectors WHERE cert_serial=?"
							    : "SELECT " CON_COLS " FROM connectors WHERE id=?";
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, sql, &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, value, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		*out = con_row_json(st);
	else if (s == SQLITE_DONE)
		rc = tds_error_set(TDS_ENOTFOUND, "connector_not_found", "no connector %s", value);
	else
		rc = tds_store_error(db, "reading connector");
	sqlite3_finalize(st);
	return rc;
}

static int con_get(tds_identity *id, const char *cid, json_t **out)
{
	sqlite3 *db = tds_store_conn(id->store);
	return db ? con_load(db, "id", cid, out) : tds_error_code();
}

/* 1 when the query (two optional text parameters) finds a row, 0 when not, negative on error. */
static int exists(sqlite3 *db, const char *sql, const char *a, const char *b)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, sql, &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if (b)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	rc = s == SQLITE_ROW ? 1 : s == SQLITE_DONE ? 0 : tds_store_error(db, "checking connectors");
	sqlite3_finalize(st);
	return rc;
}

/* ---- registration ---- */

typedef struct reg_ctx {
	tds_identity *id;
	const tds_principal *p;
	const tds_connector_in *in;
	const char *org_id, *pem, *key_alg;
	json_t *ips;
	char con_id[TDS_ID_MAX], key_id[TDS_KEY_ID_LEN + 1];
} reg_ctx;

static int reg_tx(sqlite3 *db, void *arg)
{
	reg_ctx *c = arg;
	const tds_connector_in *in = c->in;
	int rc;
	/* the organisation's standing, read inside the transaction */
	if ((rc = exists(db, "SELECT 1 FROM orgs WHERE id=? AND status='verified'", c->org_id, NULL)) < 0)
		return rc;
	if (!rc)
		return tds_error_set(TDS_EPERM, "not_verified",
				     "the organisation's real-name verification must be approved before it registers connectors");
	if ((rc = exists(db, "SELECT 1 FROM role_grants WHERE holder_id=? AND status='active'", c->org_id, NULL)) < 0)
		return rc;
	if (!rc)
		return tds_error_set(TDS_EPERM, "role_required",
				     "the organisation needs a granted, active role (provider, consumer, …) to register a connector");
	if ((rc = exists(db, "SELECT 1 FROM connectors WHERE node_id=? AND status IN ('pending','approved')", in->node_id,
			 NULL)) != 0)
		return rc < 0 ? rc
			      : tds_error_set(TDS_ECONFLICT, "node_registered",
					      "node %s is already registered as a connector (pending or approved)", in->node_id);
	if ((rc = exists(db, "SELECT 1 FROM connectors WHERE hw_fingerprint=? AND status IN ('pending','approved')",
			 in->hw_fingerprint, NULL)) != 0)
		return rc < 0 ? rc
			      : tds_error_set(TDS_ECONFLICT, "device_registered",
					      "a device with this hardware fingerprint is already registered (pending or approved)");
	if ((rc = exists(db, "SELECT 1 FROM connectors WHERE key_id=? AND status <> 'rejected'", c->key_id, NULL)) != 0)
		return rc < 0 ? rc
			      : tds_error_set(TDS_ECONFLICT, "key_registered",
					      "this public key is already registered (a revoked key never returns): generate a new node key");
	sqlite3_stmt *st;
	if ((rc = tds_store_prepare(db, "INSERT INTO connectors(id, org_id, name, vendor_serial, ips, software_version,"
				       " api_endpoint, data_endpoint, hw_fingerprint, node_id, public_key_pem, key_id, key_alg,"
				       " status, registered_by, created_at, updated_at)"
				       " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,'pending',?,?,?)",
				   &st)))
		return rc;
	char *ips = tds_json_dumps(c->ips);
	int64_t now = tds_now_ms();
	const char *text[] = {c->con_id,	 c->org_id,	     in->name,		   in->vendor_serial, ips,
			      in->software_version, in->api_endpoint, in->data_endpoint, in->hw_fingerprint, in->node_id,
			      c->pem,		 c->key_id,	     c->key_alg,	   c->p->account_id};
	for (int i = 0; i < (int)TDS_ARRAY_LEN(text); i++)
		sqlite3_bind_text(st, i + 1, text[i], -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 15, now);
	sqlite3_bind_int64(st, 16, now);
	free(ips);
	if ((rc = id_step_done(db, st, "registering connector")))
		return rc;
	json_t *payload = json_pack("{s:s, s:s, s:O, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "name", in->name,
				    "vendor_serial", in->vendor_serial, "ips", c->ips, "software_version", in->software_version,
				    "api_endpoint", in->api_endpoint, "data_endpoint", in->data_endpoint, "hw_fingerprint",
				    in->hw_fingerprint, "node_id", in->node_id, "key_id", c->key_id, "key_alg", c->key_alg);
	return id_evidence(c->id, db, "identity.connector_registered", id_ledger_actor(c->id, c->p), c->con_id, c->org_id,
			   NULL, payload);
}

int tds_identity_connector_register(tds_identity *id, const tds_principal *p, const tds_connector_in *in,
				    json_t **out)
{
	int rc;
	if ((rc = id_require(id, p, "connector.register", NULL)))
		return rc;
	if ((rc = id_check_text("name", in->name, 100)) || (rc = id_check_text("vendor_serial", in->vendor_serial, 100)) ||
	    (rc = check_version("software_version", in->software_version)) ||
	    (rc = check_url("api_endpoint", in->api_endpoint)) || (rc = check_url("data_endpoint", in->data_endpoint)) ||
	    (rc = check_fingerprint(in->hw_fingerprint)))
		return rc;
	if (!tds_id_valid(in->node_id, "node"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "node_id must be the connector's node id, node_<26 characters>");
	sqlite3 *db = tds_store_conn(id->store);
	id_actor ac;
	if (!db)
		return tds_error_code();
	if ((rc = id_actor_load(id, db, p, &ac)))
		return rc;
	if (!ac.org_id[0])
		return tds_error_set(TDS_EPERM, "org_required", "connectors are registered by an organisation's admin account");
	tds_key *key = NULL;
	if (!in->public_key_pem || (rc = tds_key_from_pem(in->public_key_pem, strlen(in->public_key_pem), &key)))
		return rc ? tds_error_wrap("field 'public_key_pem': ")
			  : tds_error_set(TDS_EINVAL, "missing_field", "public_key_pem (the node's node.pub) is required");
	reg_ctx c = {.id = id, .p = p, .in = in, .org_id = ac.org_id, .key_alg = tds_sig_alg(tds_key_suite(key))};
	tds_buf pem = TDS_BUF_INIT;
	if (tds_key_has_private(key))
		rc = tds_error_set(TDS_EINVAL, "private_key_submitted",
				   "public_key_pem holds a private key: never send it anywhere; send the node's public key "
				   "(node.pub, or public_key_pem of its GET /api/v1/node)");
	if (!rc)
		rc = tds_key_public_pem(key, &pem);
	if (!rc)
		rc = tds_key_id(key, c.key_id);
	tds_key_free(key);
	if (!rc)
		rc = check_ips(in->ips, &c.ips);
	c.pem = pem.data;
	if (!rc && !(rc = tds_id_new("con", c.con_id)))
		rc = tds_store_tx(id->store, reg_tx, &c);
	json_decref(c.ips);
	tds_buf_free(&pem);
	if (rc)
		return rc;
	return con_get(id, c.con_id, out);
}

/* ---- review: approval issues the ClientID, the ClientSecret and the certificate ---- */

typedef struct review_ctx {
	tds_identity *id;
	const tds_principal *p;
	const char *con_id, *org_id, *node_id, *reason, *pem, *api_endpoint;
	bool approve;
	char client_id[TDS_ID_MAX];
	uint8_t secret_hash[TDS_HASH_LEN];
	tds_node_cert cert;
	tds_buf cert_json;
	char cert_hash[TDS_HASH_HEX_LEN + 1];
} review_ctx;

/* The status of a connector inside a transaction, with the conflict errors of each transition. */
static int con_status(sqlite3 *db, const char *cid, char status[16])
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT status FROM connectors WHERE id=?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, cid, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		id_col_copy(st, 0, status, 16);
	else if (s == SQLITE_DONE)
		rc = tds_error_set(TDS_ENOTFOUND, "connector_not_found", "no connector %s", cid);
	else
		rc = tds_store_error(db, "reading connector");
	sqlite3_finalize(st);
	return rc;
}

static int review_tx(sqlite3 *db, void *arg)
{
	review_ctx *c = arg;
	char status[16];
	int rc = con_status(db, c->con_id, status);
	if (rc)
		return rc;
	if (strcmp(status, "revoked") == 0)
		return tds_error_set(TDS_ECONFLICT, "connector_revoked",
				     "this connector's certificate was revoked; a revoked connector is never approved again: "
				     "register the device anew with a new node key");
	if (strcmp(status, "pending") != 0)
		return tds_error_set(TDS_ECONFLICT, "not_pending", "there is nothing to review: the connector is %s", status);
	int64_t now = tds_now_ms();
	sqlite3_stmt *st;
	if (!c->approve) {
		if ((rc = tds_store_prepare(db, "UPDATE connectors SET status='rejected', reviewed_by=?, reviewed_at=?,"
					       " review_reason=?, updated_at=? WHERE id=?",
					   &st)))
			return rc;
		sqlite3_bind_text(st, 1, c->p->account_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_text(st, 3, c->reason, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, now);
		sqlite3_bind_text(st, 5, c->con_id, -1, SQLITE_STATIC);
		if ((rc = id_step_done(db, st, "recording the review")))
			return rc;
		return id_evidence(c->id, db, "identity.connector_rejected", id_ledger_actor(c->id, c->p), c->con_id, c->org_id,
				   NULL, json_pack("{s:s}", "reason", c->reason));
	}
	if ((rc = tds_store_prepare(db, "UPDATE connectors SET status='approved', reviewed_by=?, reviewed_at=?,"
				       " review_reason=?, client_id=?, secret_hash=?, cert_serial=?, certificate=?,"
				       " cert_issued_at=?, cert_expires_at=?, updated_at=? WHERE id=?",
				   &st)))
		return rc;
	sqlite3_bind_text(st, 1, c->p->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	if (c->reason)
		sqlite3_bind_text(st, 3, c->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->client_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, c->secret_hash, sizeof c->secret_hash, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, c->cert.serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, c->cert_json.data, (int)c->cert_json.len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, c->cert.issued_at_ms);
	sqlite3_bind_int64(st, 9, c->cert.expires_at_ms);
	sqlite3_bind_int64(st, 10, now);
	sqlite3_bind_text(st, 11, c->con_id, -1, SQLITE_STATIC);
	if ((rc = id_step_done(db, st, "recording the approval")))
		return rc;
	/* the connector's evidence log is witnessed from now on (architecture decision 22) */
	const char *witnessed = "none";
	if (c->id->witness) {
		char origin[TDS_LEDGER_ORIGIN_MAX + 1];
		snprintf(origin, sizeof origin, "tds.local/%s", c->node_id);
		rc = tds_witness_log_add(c->id->witness, origin, c->pem, c->api_endpoint);
		if (rc == TDS_ECONFLICT) { /* an administrator registered it by hand before */
			tds_error_clear();
			witnessed = "already_registered";
		} else if (rc) {
			return rc;
		} else {
			witnessed = "registered";
		}
	}
	if ((rc = id_evidence(c->id, db, "identity.connector_approved", id_ledger_actor(c->id, c->p), c->con_id, c->org_id,
			      NULL,
			      json_pack("{s:s, s:s, s:s?, s:s}", "client_id", c->client_id, "node_id", c->node_id, "reason",
					c->reason, "witness", witnessed))))
		return rc;
	char issued[TDS_TIME_MAX], expires[TDS_TIME_MAX];
	tds_time_format(c->cert.issued_at_ms, issued);
	tds_time_format(c->cert.expires_at_ms, expires);
	return id_evidence(c->id, db, "identity.certificate_issued", id_ledger_actor(c->id, c->p), c->con_id, c->org_id,
			   c->cert.serial,
			   json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "serial", c->cert.serial, "node_id", c->node_id, "key_id",
				     c->cert.key_id, "issued_at", issued, "expires_at", expires, "cert_hash", c->cert_hash));
}

/* Fills the certificate statement of an approved connector and signs it into c->cert_json. */
static int issue_certificate(tds_identity *id, const json_t *row, review_ctx *c)
{
	tds_node_cert *cert = &c->cert;
	memset(cert, 0, sizeof *cert);
	tds_key *key = NULL;
	int rc = tds_key_from_pem(c->pem, strlen(c->pem), &key);
	if (!rc)
		rc = tds_cert_set_key(cert, key);
	tds_key_free(key);
	if (rc || (rc = tds_id_new("crt", cert->serial)))
		return rc;
	snprintf(cert->node_id, sizeof cert->node_id, "%s", c->node_id);
	snprintf(cert->org_id, sizeof cert->org_id, "%s", c->org_id);
	cert->role = TDS_NODE_ROLE_CONNECTOR;
	snprintf(cert->api_endpoint, sizeof cert->api_endpoint, "%s", tds_json_str(row, "api_endpoint", ""));
	snprintf(cert->data_endpoint, sizeof cert->data_endpoint, "%s", tds_json_str(row, "data_endpoint", ""));
	snprintf(cert->hw_fingerprint, sizeof cert->hw_fingerprint, "%s", tds_json_str(row, "hw_fingerprint", ""));
	snprintf(cert->issuer_node_id, sizeof cert->issuer_node_id, "%s", id->node_id);
	cert->issued_at_ms = tds_now_ms();
	cert->expires_at_ms = cert->issued_at_ms + id->opts.cert_ttl_ms;
	uint8_t h[TDS_HASH_LEN];
	tds_buf hex = TDS_BUF_INIT;
	if ((rc = tds_cert_issue(cert, id->node_key, &c->cert_json)) ||
	    (rc = tds_cert_hash(c->cert_json.data, c->cert_json.len, h)) || (rc = tds_hex_encode(h, sizeof h, &hex)))
		goto done;
	snprintf(c->cert_hash, sizeof c->cert_hash, "%s", hex.data);
done:
	tds_buf_free(&hex);
	return rc;
}

/* A fresh ClientSecret and its keyed hash. */
static int make_secret(tds_identity *id, char *secret, size_t cap, uint8_t hash[TDS_HASH_LEN])
{
	uint8_t raw[SECRET_BYTES];
	tds_buf b = TDS_BUF_INIT;
	int rc = tds_random(raw, sizeof raw);
	if (!rc)
		rc = tds_buf_puts(&b, TDS_CLIENT_SECRET_PREFIX);
	if (!rc)
		rc = tds_b64url_encode(raw, sizeof raw, &b);
	if (!rc && b.len >= cap)
		rc = tds_error_set(TDS_EINTERNAL, NULL, "secret buffer too small");
	if (!rc)
		rc = tds_hmac(tds_key_suite(id->node_key), id->secret_key, sizeof id->secret_key, b.data, b.len, hash);
	if (!rc)
		memcpy(secret, b.data, b.len + 1);
	sodium_memzero(raw, sizeof raw);
	if (b.data)
		sodium_memzero(b.data, b.len);
	tds_buf_free(&b);
	return rc;
}

static int need_operator(const tds_identity *id)
{
	if (!id->node_key || !tds_id_valid(id->node_id, "node"))
		return tds_error_set(TDS_ECONFLICT, "not_an_operator",
				     "connectors are approved, enrolled and certified by the operator node, not here");
	if (!id->has_secret_key)
		return tds_error_set(TDS_EINTERNAL, "no_secret_key",
				     "this node was started without a key for ClientSecrets; the node must pass one (derived from "
				     "its master key)");
	return 0;
}

static json_t *operator_json(const tds_identity *id)
{
	return json_pack("{s:s, s:s, s:s}", "node_id", id->node_id, "key_id", id->node_key_id, "sig_alg",
			 tds_sig_alg(tds_key_suite(id->node_key)));
}

int tds_identity_connector_review(tds_identity *id, const tds_principal *p, const char *connector_id,
				  tds_review_decision d, const char *reason, json_t **out)
{
	int rc;
	if ((rc = check_connector_id(connector_id)) || (rc = id_require(id, p, "connector.review", NULL)))
		return rc;
	if (d != TDS_REVIEW_APPROVE && d != TDS_REVIEW_REJECT)
		return tds_error_set(TDS_EINVAL, "invalid_decision", "a connector registration is approved or rejected");
	if (reason && (rc = id_check_text("reason", reason, 2000)))
		return rc;
	if (d == TDS_REVIEW_REJECT && !reason)
		return tds_error_set(TDS_EINVAL, "reason_required", "a rejection needs a reason the applicant can act on");
	if (d == TDS_REVIEW_APPROVE && (rc = need_operator(id)))
		return rc;
	json_t *row = NULL;
	if ((rc = con_get(id, connector_id, &row)))
		return rc;
	review_ctx c = {.id = id, .p = p, .con_id = connector_id, .org_id = tds_json_str(row, "org_id", ""),
			.node_id = tds_json_str(row, "node_id", ""), .reason = reason, .pem = tds_json_str(row, "public_key_pem", ""),
			.api_endpoint = tds_json_str(row, "api_endpoint", NULL), .approve = d == TDS_REVIEW_APPROVE,
			.cert_json = TDS_BUF_INIT};
	char secret[96] = "";
	if ((rc = id_refuse_self_review(id, p, "connector.review", c.org_id)))
		goto done;
	if (c.approve && ((rc = tds_id_new("client", c.client_id)) ||
			  (rc = make_secret(id, secret, sizeof secret, c.secret_hash)) || (rc = issue_certificate(id, row, &c))))
		goto done;
	if ((rc = tds_store_tx(id->store, review_tx, &c)))
		goto done;
	json_t *result = NULL;
	if ((rc = con_get(id, connector_id, &result)))
		goto done;
	if (c.approve) {
		json_object_set_new(result, "client_id", json_string(c.client_id));
		json_object_set_new(result, "client_secret", json_string(secret));
		json_object_set_new(result, "operator", operator_json(id));
	}
	*out = result;
done:
	sodium_memzero(secret, sizeof secret);
	sodium_memzero(c.secret_hash, sizeof c.secret_hash);
	tds_buf_free(&c.cert_json);
	json_decref(row);
	return rc;
}

/* ---- revocation ---- */

typedef struct revoke_ctx {
	tds_identity *id;
	const tds_principal *p;
	const char *con_id, *reason;
	json_t *row;
} revoke_ctx;

static int revoke_tx(sqlite3 *db, void *arg)
{
	revoke_ctx *c = arg;
	char status[16];
	int rc = con_status(db, c->con_id, status);
	if (rc)
		return rc;
	if (strcmp(status, "revoked") == 0)
		return tds_error_set(TDS_ECONFLICT, "already_revoked", "this connector's certificate is already revoked");
	if (strcmp(status, "approved") != 0)
		return tds_error_set(TDS_ECONFLICT, "not_approved",
				     "only an approved connector holds a certificate to revoke; this one is %s (reject a pending "
				     "registration instead)",
				     status);
	/* the row as this transaction sees it: an approval that committed after the caller's first read
	 * must not leave the revocation list naming an empty serial */
	json_decref(c->row);
	c->row = NULL;
	if ((rc = con_load(db, "id", c->con_id, &c->row)))
		return rc;
	const char *serial = tds_json_str(c->row, "cert_serial", ""), *org = tds_json_str(c->row, "org_id", ""),
		   *node = tds_json_str(c->row, "node_id", "");
	int64_t now = tds_now_ms();
	sqlite3_stmt *st;
	/* a revoked connector can no longer be heard: it is offline from now on */
	if ((rc = tds_store_prepare(db, "UPDATE connectors SET status='revoked', revoked_by=?1, revoked_at=?2, revoke_reason=?3,"
				       " presence = CASE WHEN presence = 'unknown' THEN 'unknown' ELSE 'offline' END,"
				       " presence_at = CASE WHEN presence = 'online' THEN ?2 ELSE presence_at END,"
				       " updated_at=?2 WHERE id=?4",
				   &st)))
		return rc;
	sqlite3_bind_text(st, 1, c->p->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_text(st, 3, c->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->con_id, -1, SQLITE_STATIC);
	if ((rc = id_step_done(db, st, "revoking")))
		return rc;
	if ((rc = tds_store_prepare(db, "INSERT INTO cert_revocations(serial, connector_id, node_id, org_id, revoked_at, reason)"
				       " VALUES(?,?,?,?,?,?)",
				   &st)))
		return rc;
	sqlite3_bind_text(st, 1, serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->con_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, node, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, org, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_text(st, 6, c->reason, -1, SQLITE_STATIC);
	if ((rc = id_step_done(db, st, "listing the revocation")))
		return rc;
	return id_evidence(c->id, db, "identity.certificate_revoked", id_ledger_actor(c->id, c->p), c->con_id, org, serial,
			   json_pack("{s:s, s:s, s:s}", "serial", serial, "node_id", node, "reason", c->reason));
}

int tds_identity_connector_revoke(tds_identity *id, const tds_principal *p, const char *connector_id,
				  const char *reason, json_t **out)
{
	int rc;
	if ((rc = check_connector_id(connector_id)) || (rc = id_require(id, p, "connector.revoke", NULL)))
		return rc;
	if (!reason)
		return tds_error_set(TDS_EINVAL, "reason_required", "a revocation needs a reason");
	if ((rc = id_check_text("reason", reason, 2000)))
		return rc;
	revoke_ctx c = {id, p, connector_id, reason, NULL};
	if ((rc = con_get(id, connector_id, &c.row)))
		return rc;
	rc = tds_store_tx(id->store, revoke_tx, &c);
	json_decref(c.row);
	if (rc)
		return rc;
	tds_log_fields(TDS_LOG_WARN, "certificate_revoked", json_pack("{s:s}", "connector_id", connector_id));
	return con_get(id, connector_id, out);
}

/* ---- reading ---- */

int tds_identity_connector_get(tds_identity *id, const tds_principal *p, const char *connector_id, json_t **out)
{
	int rc = check_connector_id(connector_id);
	json_t *row = NULL;
	if (rc || (rc = con_get(id, connector_id, &row)))
		return rc;
	if ((rc = id_require(id, p, "connector.read", tds_json_str(row, "org_id", NULL)))) {
		json_decref(row);
		return rc;
	}
	*out = row;
	return 0;
}

int tds_identity_connector_list(tds_identity *id, const char *org_id, const char *status, const char *presence,
				int limit, const char *cursor, json_t **out)
{
	int rc;
	if (org_id && !tds_id_valid(org_id, "org"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "org must be an organisation id (org_…)");
	if ((rc = check_choice("status", status, STATUSES, TDS_ARRAY_LEN(STATUSES))) ||
	    (rc = check_choice("presence", presence, PRESENCES, TDS_ARRAY_LEN(PRESENCES))))
		return rc;
	if (cursor && !tds_id_valid(cursor, "con"))
		return tds_error_set(TDS_EINVAL, "invalid_cursor", "cursor must be the next_cursor of a previous page");
	sqlite3 *db = tds_store_conn(id->store);
	sqlite3_stmt *st;
	if (!db)
		return tds_error_code();
	if ((rc = tds_store_prepare(db, "SELECT " CON_COLS " FROM connectors WHERE id > ?1 AND (?2 IS NULL OR org_id = ?2)"
				       " AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR presence = ?4) ORDER BY id LIMIT ?5",
				   &st)))
		return rc;
	sqlite3_bind_text(st, 1, cursor ? cursor : "", -1, SQLITE_STATIC);
	const char *filters[] = {org_id, status, presence};
	for (int i = 0; i < 3; i++)
		if (filters[i])
			sqlite3_bind_text(st, i + 2, filters[i], -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, limit + 1);
	rc = id_page_run(db, st, limit, con_row_json, "listing connectors", out);
	sqlite3_finalize(st);
	return rc;
}

/* ---- enrolment ---- */

typedef struct enroll_ctx {
	tds_identity *id;
	const char *con_id, *org_id, *serial, *ip;
	bool failed;
} enroll_ctx;

static int enroll_tx(sqlite3 *db, void *arg)
{
	enroll_ctx *c = arg;
	tds_ledger_actor actor = {.org = c->org_id, .node = c->id->node_id[0] ? c->id->node_id : NULL};
	if (c->failed)
		return id_evidence(c->id, db, "identity.connector_enroll_failed", actor, c->con_id, c->org_id, NULL,
				   json_pack("{s:s?}", "client_ip", c->ip));
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "UPDATE connectors SET enrolled_at = COALESCE(enrolled_at, ?1), updated_at = ?1"
				       " WHERE id = ?2 AND status = 'approved'",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, tds_now_ms());
	sqlite3_bind_text(st, 2, c->con_id, -1, SQLITE_STATIC);
	if ((rc = id_step_done(db, st, "recording the enrolment")))
		return rc;
	if (sqlite3_changes(db) == 0) /* revoked in between */
		return tds_error_set(TDS_EPERM, "connector_revoked", "this connector's certificate was revoked");
	return id_evidence(c->id, db, "identity.connector_enrolled", actor, c->con_id, c->org_id, c->serial,
			   json_pack("{s:s, s:s?}", "serial", c->serial, "client_ip", c->ip));
}

static bool secret_well_formed(const char *s)
{
	size_t n = s ? strlen(s) : 0, pre = strlen(TDS_CLIENT_SECRET_PREFIX);
	if (n != pre + SECRET_B64_LEN || strncmp(s, TDS_CLIENT_SECRET_PREFIX, pre) != 0)
		return false;
	for (size_t i = pre; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

static int invalid_client(void)
{
	return tds_error_set(TDS_EAUTH, "invalid_client",
			     "the ClientID or ClientSecret is wrong: give the pair the operator issued when it approved the "
			     "connector");
}

int tds_identity_connector_enroll(tds_identity *id, const char *client_id, const char *client_secret,
				  const char *client_ip, json_t **out)
{
	int rc = need_operator(id);
	if (rc)
		return rc;
	if (!tds_id_valid(client_id, "client") || !secret_well_formed(client_secret))
		return invalid_client();
	if (client_ip && strlen(client_ip) > 64)
		client_ip = NULL;
	sqlite3 *db = tds_store_conn(id->store);
	sqlite3_stmt *st;
	if (!db)
		return tds_error_code();
	if ((rc = tds_store_prepare(db, "SELECT secret_hash FROM connectors WHERE client_id=?", &st)))
		return rc;
	sqlite3_bind_text(st, 1, client_id, -1, SQLITE_STATIC);
	uint8_t stored[TDS_HASH_LEN], given[TDS_HASH_LEN];
	int s = sqlite3_step(st);
	bool known = s == SQLITE_ROW && sqlite3_column_bytes(st, 0) == TDS_HASH_LEN;
	if (known)
		memcpy(stored, sqlite3_column_blob(st, 0), TDS_HASH_LEN);
	else if (s != SQLITE_ROW && s != SQLITE_DONE)
		rc = tds_store_error(db, "reading connector");
	sqlite3_finalize(st);
	if (rc)
		return rc;
	if ((rc = tds_hmac(tds_key_suite(id->node_key), id->secret_key, sizeof id->secret_key, client_secret,
			   strlen(client_secret), given)))
		return rc;
	bool match = known && tds_ct_equal(stored, given, TDS_HASH_LEN);
	sodium_memzero(given, sizeof given);
	if (!known)
		return invalid_client();
	json_t *row = NULL;
	if ((rc = con_load(db, "client_id", client_id, &row)))
		return rc;
	enroll_ctx c = {id, tds_json_str(row, "id", ""), tds_json_str(row, "org_id", ""),
			tds_json_str(row, "cert_serial", ""), client_ip, !match};
	if (!match) {
		if (tds_store_tx(id->store, enroll_tx, &c) < 0)
			tds_log(TDS_LOG_ERROR, "evidence_failed", "could not record a failed enrolment: %s", tds_error_message());
		tds_log_fields(TDS_LOG_WARN, "connector_enroll_failed", json_pack("{s:s}", "connector_id", c.con_id));
		json_decref(row);
		return invalid_client();
	}
	if (strcmp(tds_json_str(row, "status", ""), "approved") != 0) {
		json_decref(row);
		return tds_error_set(TDS_EPERM, "connector_revoked",
				     "this connector's certificate was revoked; it cannot enrol again");
	}
	tds_buf pem = TDS_BUF_INIT;
	if ((rc = tds_store_tx(id->store, enroll_tx, &c)) || (rc = tds_key_public_pem(id->node_key, &pem))) {
		json_decref(row);
		tds_buf_free(&pem);
		return rc;
	}
	json_t *op = operator_json(id);
	json_object_set_new(op, "public_key_pem", json_string(pem.data));
	*out = json_pack("{s:s, s:s, s:s, s:s, s:O, s:o, s:I}", "connector_id", c.con_id, "node_id",
			 tds_json_str(row, "node_id", ""), "org_id", c.org_id, "serial", c.serial, "certificate",
			 json_object_get(row, "certificate"), "operator", op, "offline_after_s",
			 (json_int_t)(id->opts.offline_after_ms / 1000));
	json_decref(row);
	tds_buf_free(&pem);
	return 0;
}

/* ---- heartbeats and the presence watch ---- */

/* Validates a heartbeat report and returns its stored form (new reference) with the receiving time. */
static int heartbeat_report(const json_t *r, int64_t now, json_t **out)
{
	const char *status = tds_json_str(r, "status", NULL);
	int rc = 0;
	if (!status)
		return tds_error_set(TDS_EINVAL, "missing_field", "status is required: ok, degraded or maintenance");
	if ((rc = check_choice("status", status, HB_STATUSES, TDS_ARRAY_LEN(HB_STATUSES))) ||
	    (rc = check_version("version", tds_json_str(r, "version", NULL))))
		return rc;
	json_t *up = json_object_get(r, "uptime_s");
	if (!json_is_integer(up) || json_integer_value(up) < 0)
		return tds_error_set(TDS_EINVAL, "invalid_field", "uptime_s must be a non-negative integer");
	json_t *health = json_object_get(r, "health"), *h = json_object();
	if (health && !json_is_object(health)) {
		json_decref(h);
		return tds_error_set(TDS_EINVAL, "invalid_field", "health must be an object of named non-negative integers");
	}
	if (json_object_size(health) > HEALTH_MAX) {
		json_decref(h);
		return tds_error_set(TDS_EINVAL, "invalid_field", "health holds at most %d figures", HEALTH_MAX);
	}
	const char *k;
	json_t *v;
	json_object_foreach(health, k, v) {
		size_t n = strlen(k);
		bool ok = n >= 1 && n <= 32 && json_is_integer(v) && json_integer_value(v) >= 0;
		for (size_t i = 0; ok && i < n; i++)
			ok = (k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_';
		if (!ok) {
			json_decref(h);
			return tds_error_set(TDS_EINVAL, "invalid_field",
					     "health figures are named [a-z0-9_]{1,32} and hold non-negative integers");
		}
		json_object_set(h, k, v);
	}
	char at[TDS_TIME_MAX];
	tds_time_format(now, at);
	*out = json_pack("{s:s, s:s, s:O, s:o, s:s}", "status", status, "version", tds_json_str(r, "version", ""),
			 "uptime_s", up, "health", h, "received_at", at);
	return 0;
}

typedef struct beat_ctx {
	tds_identity *id;
	const tds_principal *p;
	const json_t *report;
	int64_t now;
	char con_id[TDS_ID_MAX], org_id[TDS_ID_MAX];
} beat_ctx;

static int beat_tx(sqlite3 *db, void *arg)
{
	beat_ctx *c = arg;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT id, org_id, status, presence FROM connectors WHERE cert_serial=?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, c->p->session_id, -1, SQLITE_STATIC);
	char status[16] = "", presence[16] = "";
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		id_col_copy(st, 0, c->con_id, sizeof c->con_id);
		id_col_copy(st, 1, c->org_id, sizeof c->org_id);
		id_col_copy(st, 2, status, sizeof status);
		id_col_copy(st, 3, presence, sizeof presence);
	} else if (s != SQLITE_DONE) {
		rc = tds_store_error(db, "reading connector");
	}
	sqlite3_finalize(st);
	if (rc)
		return rc;
	if (s == SQLITE_DONE)
		return tds_error_set(TDS_EPERM, "not_a_connector", "heartbeats come from connector nodes certified by this operator");
	if (strcmp(status, "approved") != 0)
		return tds_error_set(TDS_EPERM, "connector_revoked", "this connector's certificate was revoked");
	char *text = tds_json_dumps(c->report);
	if ((rc = tds_store_prepare(db, "UPDATE connectors SET last_seen_at=?1, heartbeat=?2, updated_at=?1,"
				       " presence_at = CASE WHEN presence = 'online' THEN presence_at ELSE ?1 END,"
				       " presence = 'online' WHERE id=?3",
				   &st))) {
		free(text);
		return rc;
	}
	sqlite3_bind_int64(st, 1, c->now);
	sqlite3_bind_text(st, 2, text ? text : "null", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, c->con_id, -1, SQLITE_STATIC);
	free(text);
	if ((rc = id_step_done(db, st, "recording the heartbeat")) || strcmp(presence, "online") == 0)
		return rc;
	return id_evidence(c->id, db, "identity.connector_online", id_ledger_actor(c->id, c->p), c->con_id, c->org_id, NULL,
			   json_pack("{s:s, s:s, s:s}", "previous", presence, "status", tds_json_str(c->report, "status", ""),
				     "version", tds_json_str(c->report, "version", "")));
}

int tds_identity_connector_heartbeat(tds_identity *id, const tds_principal *p, const json_t *report, json_t **out)
{
	if (!p || p->account_id || !(p->roles & TDS_ROLE_NODE) || !tds_id_valid(p->session_id, "crt"))
		return tds_error_set(TDS_EPERM, "not_a_connector",
				     "heartbeats come from connector nodes, signed with their certificate (keyid = its serial)");
	beat_ctx c = {.id = id, .p = p, .now = tds_now_ms()};
	json_t *stored = NULL;
	int rc = heartbeat_report(report, c.now, &stored);
	if (rc)
		return rc;
	c.report = stored;
	rc = tds_store_tx(id->store, beat_tx, &c);
	json_decref(stored);
	if (rc)
		return rc;
	*out = json_pack("{s:s, s:s, s:I}", "connector_id", c.con_id, "presence", "online", "offline_after_s",
			 (json_int_t)(id->opts.offline_after_ms / 1000));
	return 0;
}

typedef struct offline_ctx {
	tds_identity *id;
	const json_t *item;
	int64_t cutoff, now;
	bool changed;
} offline_ctx;

static int offline_tx(sqlite3 *db, void *arg)
{
	offline_ctx *c = arg;
	const char *cid = tds_json_str(c->item, "id", ""), *org = tds_json_str(c->item, "org_id", "");
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "UPDATE connectors SET presence='offline', presence_at=?1, updated_at=?1"
				       " WHERE id=?2 AND status='approved' AND presence='online' AND last_seen_at < ?3",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, c->now);
	sqlite3_bind_text(st, 2, cid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, c->cutoff);
	if ((rc = id_step_done(db, st, "marking offline")))
		return rc;
	c->changed = sqlite3_changes(db) == 1;
	if (!c->changed) /* a heartbeat arrived in between */
		return 0;
	return id_evidence_by(c->id, db, "identity.connector_offline", NULL, cid, org, NULL,
			      json_pack("{s:O, s:I}", "last_seen_at", json_object_get(c->item, "last_seen_at"), "silent_s",
					(json_int_t)tds_json_int(c->item, "silent_s", 0)));
}

int tds_identity_connector_watch(tds_identity *id, int64_t now_ms, json_t **report)
{
	sqlite3 *db = tds_store_conn(id->store);
	sqlite3_stmt *st;
	int rc;
	if (!db)
		return tds_error_code();
	int64_t cutoff = now_ms - id->opts.offline_after_ms;
	if ((rc = tds_store_prepare(db, "SELECT id, org_id, node_id, last_seen_at FROM connectors WHERE status='approved'"
				       " AND presence='online' AND last_seen_at < ? ORDER BY id LIMIT 1000",
				   &st)))
		return rc;
	sqlite3_bind_int64(st, 1, cutoff);
	json_t *found = json_array(), *offline = json_array();
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(found, json_pack("{s:o, s:o, s:o, s:o, s:I}", "id", id_col_str(st, 0), "org_id",
						       id_col_str(st, 1), "node_id", id_col_str(st, 2), "last_seen_at",
						       id_col_time(st, 3), "silent_s",
						       (json_int_t)((now_ms - sqlite3_column_int64(st, 3)) / 1000)));
	if (s != SQLITE_DONE)
		rc = tds_store_error(db, "finding silent connectors");
	sqlite3_finalize(st);
	size_t i;
	json_t *item;
	json_array_foreach(found, i, item) {
		if (rc)
			break;
		offline_ctx c = {id, item, cutoff, now_ms, false};
		if ((rc = tds_store_tx(id->store, offline_tx, &c)) || !c.changed)
			continue;
		json_array_append(offline, item);
		/* the oversight issue turns this event into an alert to the organisation */
		tds_log_fields(TDS_LOG_WARN, "connector_offline", json_deep_copy(item));
	}
	json_decref(found);
	if (!rc && report)
		*report = json_pack("{s:o, s:o}", "at", id_time_json(now_ms), "offline", offline);
	else
		json_decref(offline);
	return rc;
}

/* ---- certificate status and the revocation list, as signed statements ---- */

/* Completes a statement (steals stmt) with issuer, key and time, and signs it into *out. */
static int sign_statement(tds_identity *id, json_t *stmt, json_t **out)
{
	int rc = need_operator(id);
	if (rc) {
		json_decref(stmt);
		return rc;
	}
	char at[TDS_TIME_MAX];
	tds_time_format(tds_now_ms(), at);
	json_object_set_new(stmt, "issuer", json_string(id->node_id));
	json_object_set_new(stmt, "issuer_key_id", json_string(id->node_key_id));
	json_object_set_new(stmt, "at", json_string(at));
	tds_buf canon = TDS_BUF_INIT, sig = TDS_BUF_INIT, b64 = TDS_BUF_INIT;
	if (!(rc = tds_json_canonical(stmt, &canon)) && !(rc = tds_sign(id->node_key, canon.data, canon.len, &sig)) &&
	    !(rc = tds_b64_encode(sig.data, sig.len, &b64)))
		*out = json_pack("{s:O, s:s, s:s}", "statement", stmt, "sig_alg", tds_sig_alg(tds_key_suite(id->node_key)),
				 "signature", b64.data);
	json_decref(stmt);
	tds_buf_free(&canon);
	tds_buf_free(&sig);
	tds_buf_free(&b64);
	return rc;
}

int id_cert_state(tds_identity *id, const char *serial, int64_t now_ms, char status[16], tds_buf *cert_json)
{
	sqlite3 *db = tds_store_conn(id->store);
	sqlite3_stmt *st;
	int rc;
	if (!db)
		return tds_error_code();
	if ((rc = tds_store_prepare(db, "SELECT status, certificate, cert_expires_at FROM connectors WHERE cert_serial=?", &st)))
		return rc;
	sqlite3_bind_text(st, 1, serial, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		bool revoked = strcmp((const char *)sqlite3_column_text(st, 0), "revoked") == 0;
		bool expired = now_ms > sqlite3_column_int64(st, 2) + TDS_CERT_SKEW_MS;
		snprintf(status, 16, "%s", revoked ? "revoked" : expired ? "expired" : "valid");
		if (cert_json)
			rc = tds_buf_puts(cert_json, (const char *)sqlite3_column_text(st, 1));
	} else if (s == SQLITE_DONE) {
		rc = tds_error_set(TDS_ENOTFOUND, "certificate_not_found", "no certificate %s was issued here", serial);
	} else {
		rc = tds_store_error(db, "reading certificate");
	}
	sqlite3_finalize(st);
	return rc;
}

int tds_identity_cert_status(tds_identity *id, const char *serial, json_t **out)
{
	if (!tds_id_valid(serial, "crt"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "a certificate serial looks like crt_<26 characters>");
	sqlite3 *db = tds_store_conn(id->store);
	json_t *row = NULL;
	char status[16];
	int rc;
	if (!db)
		return tds_error_code();
	if ((rc = id_cert_state(id, serial, tds_now_ms(), status, NULL)) || (rc = con_load(db, "cert_serial", serial, &row)))
		return rc;
	json_t *stmt = json_pack("{s:s, s:s, s:s, s:O}", "type", "tds.cert_status", "serial", serial, "status", status,
				 "certificate", json_object_get(row, "certificate"));
	if (strcmp(status, "revoked") == 0) {
		json_object_set(stmt, "revoked_at", json_object_get(row, "revoked_at"));
		json_object_set(stmt, "reason", json_object_get(row, "revoke_reason"));
	}
	json_decref(row);
	return sign_statement(id, stmt, out);
}

int tds_identity_cert_revocations(tds_identity *id, int64_t since, int limit, json_t **out)
{
	if (since < 0)
		return tds_error_set(TDS_EINVAL, "invalid_number", "since must be a non-negative sequence number");
	if (limit < 1 || limit > 500)
		return tds_error_set(TDS_EINVAL, "invalid_limit", "limit must be 1-500");
	sqlite3 *db = tds_store_conn(id->store);
	sqlite3_stmt *st;
	int rc;
	if (!db)
		return tds_error_code();
	if ((rc = tds_store_prepare(db, "SELECT seq, serial, node_id, org_id, revoked_at, reason FROM cert_revocations"
				       " WHERE seq > ? ORDER BY seq LIMIT ?",
				   &st)))
		return rc;
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int(st, 2, limit + 1);
	json_t *items = json_array();
	int s, n = 0;
	int64_t next = since;
	while ((s = sqlite3_step(st)) == SQLITE_ROW && n < limit) {
		next = sqlite3_column_int64(st, 0);
		json_array_append_new(items, json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "seq", (json_int_t)next, "serial",
						       id_col_str(st, 1), "node_id", id_col_str(st, 2), "org_id",
						       id_col_str(st, 3), "revoked_at", id_col_time(st, 4), "reason",
						       id_col_str(st, 5)));
		n++;
	}
	if (s != SQLITE_ROW && s != SQLITE_DONE)
		rc = tds_store_error(db, "listing revocations");
	sqlite3_finalize(st);
	if (rc) {
		json_decref(items);
		return rc;
	}
	return sign_statement(id,
			      json_pack("{s:s, s:I, s:I, s:b, s:o}", "type", "tds.revocations", "since", (json_int_t)since,
					"next", (json_int_t)next, "more", s == SQLITE_ROW, "items", items),
			      out);
}
