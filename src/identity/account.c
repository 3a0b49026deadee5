/*
 * account.c — accounts, password login with throttling, sessions, password change, API keys and
 * bearer-token authentication with effective roles: the user centre (用户中心). See identity.h for
 * the model and the secrets policy. Every write is one transaction with its evidence entry.
 *
 * Not here: organisations, persons and members (org.c), role grants (role.c), qualifications
 * (qual.c), HTTP (routes.c).
 */
#include "identity/internal.h"

#include <stdlib.h>
#include <string.h>

#define TOKEN_BYTES 32
#define SESSION_PREFIX "tds_s_"
#define APIKEY_PREFIX "tds_k_"

/* Schema. Version 1 is the foundation's first cut; version 2 adds organisations, persons, role
 * applications and grants, qualifications, account links and login throttling; version 3 connectors
 * and the certificate revocation list. Never edit a migration that has shipped: add the next one. */
static const tds_migration MIGRATIONS[] = {
    {1, "CREATE TABLE accounts ("
	"  id TEXT PRIMARY KEY,"
	"  username TEXT NOT NULL UNIQUE,"
	"  password_hash TEXT NOT NULL,"
	"  roles INTEGER NOT NULL,"
	"  disabled INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL) STRICT;"
	"CREATE TABLE sessions ("
	"  id TEXT PRIMARY KEY,"
	"  token_hash BLOB NOT NULL UNIQUE,"
	"  account_id TEXT NOT NULL REFERENCES accounts(id),"
	"  created_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  revoked_at INTEGER) STRICT;"
	"CREATE INDEX sessions_account ON sessions(account_id);"
	"CREATE TABLE api_keys ("
	"  id TEXT PRIMARY KEY,"
	"  key_hash BLOB NOT NULL UNIQUE,"
	"  account_id TEXT NOT NULL REFERENCES accounts(id),"
	"  name TEXT NOT NULL,"
	"  roles INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  revoked_at INTEGER) STRICT;"
	"CREATE INDEX api_keys_account ON api_keys(account_id);"},
    {2, /* organisations (组织) and their real-name information (实名认证) */
	"CREATE TABLE orgs ("
	"  id TEXT PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  type TEXT NOT NULL,"
	"  status TEXT NOT NULL,"            /* registered | submitted | verified | rejected */
	"  uscc TEXT,"                       /* 统一社会信用代码 */
	"  legal_rep TEXT,"
	"  licence_hash TEXT,"
	"  submitted_at INTEGER,"
	"  reviewed_by TEXT,"
	"  reviewed_at INTEGER,"
	"  review_reason TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL) STRICT;"
	/* a code belongs to one organisation, unless a review rejected the claim */
	"CREATE UNIQUE INDEX orgs_uscc ON orgs(uscc) WHERE uscc IS NOT NULL AND status <> 'rejected';"
	"CREATE INDEX orgs_status ON orgs(status, id);"
	/* natural persons (自然人): the ID number only as HMAC and masked */
	"CREATE TABLE persons ("
	"  id TEXT PRIMARY KEY,"
	"  display_name TEXT NOT NULL,"
	"  status TEXT NOT NULL,"
	"  real_name TEXT,"
	"  id_hmac BLOB,"
	"  id_masked TEXT,"
	"  submitted_at INTEGER,"
	"  reviewed_by TEXT,"
	"  reviewed_at INTEGER,"
	"  review_reason TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL) STRICT;"
	"CREATE UNIQUE INDEX persons_id_hmac ON persons(id_hmac) WHERE id_hmac IS NOT NULL AND status <> 'rejected';"
	"CREATE INDEX persons_status ON persons(status, id);"
	"ALTER TABLE accounts ADD COLUMN kind TEXT NOT NULL DEFAULT 'local';"
	"ALTER TABLE accounts ADD COLUMN org_id TEXT REFERENCES orgs(id);"
	"ALTER TABLE accounts ADD COLUMN person_id TEXT REFERENCES persons(id);"
	"ALTER TABLE accounts ADD COLUMN org_admin INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE accounts ADD COLUMN role_mask INTEGER;" /* NULL: all the holder's roles */
	"CREATE INDEX accounts_org ON accounts(org_id, id);"
	"ALTER TABLE sessions ADD COLUMN client_ip TEXT;"
	/* role applications and grants; holder = an org_ or psn_ id */
	"CREATE TABLE role_applications ("
	"  id TEXT PRIMARY KEY,"
	"  holder_id TEXT NOT NULL,"
	"  role INTEGER NOT NULL,"
	"  service_type TEXT,"
	"  justification TEXT NOT NULL,"
	"  status TEXT NOT NULL,"            /* pending | granted | rejected */
	"  applied_by TEXT NOT NULL,"
	"  reviewed_by TEXT,"
	"  reviewed_at INTEGER,"
	"  review_reason TEXT,"
	"  created_at INTEGER NOT NULL) STRICT;"
	"CREATE UNIQUE INDEX role_applications_pending ON role_applications(holder_id, role) WHERE status = 'pending';"
	"CREATE INDEX role_applications_status ON role_applications(status, id);"
	"CREATE TABLE role_grants ("
	"  holder_id TEXT NOT NULL,"
	"  role INTEGER NOT NULL,"
	"  service_type TEXT,"
	"  application_id TEXT NOT NULL REFERENCES role_applications(id),"
	"  status TEXT NOT NULL,"            /* active | suspended */
	"  suspended_reason TEXT,"           /* qualification | manual */
	"  suspended_note TEXT,"
	"  suspended_at INTEGER,"
	"  granted_by TEXT NOT NULL,"
	"  granted_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  PRIMARY KEY (holder_id, role)) STRICT;"
	/* qualifications (运营资质) */
	"CREATE TABLE qualifications ("
	"  id TEXT PRIMARY KEY,"
	"  org_id TEXT NOT NULL REFERENCES orgs(id),"
	"  type TEXT NOT NULL,"
	"  level INTEGER NOT NULL,"
	"  name TEXT,"
	"  issuer TEXT NOT NULL,"
	"  cert_no TEXT,"
	"  valid_from TEXT NOT NULL,"        /* YYYY-MM-DD as given */
	"  valid_to TEXT NOT NULL,"
	"  valid_from_ms INTEGER NOT NULL,"  /* start of valid_from, Beijing time */
	"  valid_until_ms INTEGER NOT NULL," /* end of valid_to (exclusive) */
	"  doc_hash TEXT NOT NULL,"
	"  status TEXT NOT NULL,"            /* pending | approved | rejected | revoked | expired */
	"  warned_at INTEGER,"
	"  submitted_by TEXT NOT NULL,"
	"  reviewed_by TEXT,"
	"  reviewed_at INTEGER,"
	"  review_reason TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL) STRICT;"
	"CREATE INDEX qualifications_org ON qualifications(org_id, id);"
	"CREATE INDEX qualifications_status ON qualifications(status, valid_until_ms);"
	/* failed logins inside the throttling window */
	"CREATE TABLE login_failures ("
	"  username TEXT NOT NULL,"
	"  client_ip TEXT,"
	"  at INTEGER NOT NULL) STRICT;"
	"CREATE INDEX login_failures_user ON login_failures(username, at);"
	"CREATE INDEX login_failures_ip ON login_failures(client_ip, at);"},
    {3, /* connectors (连接器入驻), their node certificates, presence and the revocation list */
	"CREATE TABLE connectors ("
	"  id TEXT PRIMARY KEY,"
	"  org_id TEXT NOT NULL REFERENCES orgs(id),"
	"  name TEXT NOT NULL,"
	"  vendor_serial TEXT NOT NULL,"
	"  ips TEXT NOT NULL,"                /* JSON array of addresses */
	"  software_version TEXT NOT NULL,"
	"  api_endpoint TEXT NOT NULL,"
	"  data_endpoint TEXT NOT NULL,"
	"  hw_fingerprint TEXT NOT NULL,"
	"  node_id TEXT NOT NULL,"
	"  public_key_pem TEXT NOT NULL,"
	"  key_id TEXT NOT NULL,"
	"  key_alg TEXT NOT NULL,"
	"  status TEXT NOT NULL,"             /* pending | approved | rejected | revoked */
	"  registered_by TEXT NOT NULL,"
	"  reviewed_by TEXT,"
	"  reviewed_at INTEGER,"
	"  review_reason TEXT,"
	"  client_id TEXT UNIQUE,"
	"  secret_hash BLOB,"                 /* HMAC(secret key, ClientSecret) */
	"  cert_serial TEXT UNIQUE,"
	"  certificate TEXT,"                 /* canonical JSON */
	"  cert_issued_at INTEGER,"
	"  cert_expires_at INTEGER,"
	"  enrolled_at INTEGER,"
	"  revoked_by TEXT,"
	"  revoked_at INTEGER,"
	"  revoke_reason TEXT,"
	"  presence TEXT NOT NULL DEFAULT 'unknown'," /* unknown | online | offline */
	"  presence_at INTEGER,"
	"  last_seen_at INTEGER,"
	"  heartbeat TEXT,"                   /* the last heartbeat's report, JSON */
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL) STRICT;"
	"CREATE UNIQUE INDEX connectors_node ON connectors(node_id) WHERE status IN ('pending', 'approved');"
	"CREATE UNIQUE INDEX connectors_device ON connectors(hw_fingerprint) WHERE status IN ('pending', 'approved');"
	"CREATE UNIQUE INDEX connectors_key ON connectors(key_id) WHERE status <> 'rejected';"
	"CREATE INDEX connectors_org ON connectors(org_id, id);"
	"CREATE INDEX connectors_status ON connectors(status, id);"
	"CREATE INDEX connectors_presence ON connectors(presence, last_seen_at);"
	"CREATE TABLE cert_revocations ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  serial TEXT NOT NULL UNIQUE,"
	"  connector_id TEXT NOT NULL REFERENCES connectors(id),"
	"  node_id TEXT NOT NULL,"
	"  org_id TEXT NOT NULL,"
	"  revoked_at INTEGER NOT NULL,"
	"  reason TEXT NOT NULL) STRICT;"},
};

int tds_identity_open(tds_store *store, const tds_identity_opts *opts, tds_identity **out)
{
	*out = NULL;
	if (sodium_init() < 0)
		return tds_error_set(TDS_EINTERNAL, NULL, "libsodium failed to initialise");
	tds_identity_requirements req;
	int rc = tds_identity_requirements_parse(opts && opts->requirements ? opts->requirements
									 : TDS_IDENTITY_DEFAULT_REQUIREMENTS,
						 &req);
	if (rc)
		return rc;
	if ((rc = tds_store_migrate(store, "identity", MIGRATIONS, TDS_ARRAY_LEN(MIGRATIONS))))
		return rc;
	tds_identity *id = calloc(1, sizeof *id);
	if (!id)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	id->store = store;
	id->req = req;
	id->ledger = opts ? opts->ledger : NULL;
	snprintf(id->node_id, sizeof id->node_id, "%s", opts && opts->node_id ? opts->node_id : "");
	if (opts && opts->pii_key) {
		memcpy(id->pii_key, opts->pii_key, ID_PII_KEY_LEN);
		id->has_pii_key = true;
	}
	if (opts && opts->secret_key) {
		memcpy(id->secret_key, opts->secret_key, ID_SECRET_KEY_LEN);
		id->has_secret_key = true;
	}
	id->witness = opts ? opts->witness : NULL;
	if (opts && opts->node_key) {
		if (!tds_key_has_private(opts->node_key) || tds_key_id(opts->node_key, id->node_key_id)) {
			free(id);
			return tds_error_set(TDS_EINVAL, "no_private_key", "identity signs node certificates: give it the "
					     "node's private key, or none");
		}
		id->node_key = opts->node_key;
	}
	id->opts.cert_ttl_ms = opts && opts->cert_ttl_ms > 0 ? opts->cert_ttl_ms : 365LL * 24 * 3600 * 1000;
	id->opts.offline_after_ms = opts && opts->offline_after_ms > 0 ? opts->offline_after_ms : 90LL * 1000;
	id->opts.session_ttl_ms = opts && opts->session_ttl_ms > 0 ? opts->session_ttl_ms : 12LL * 3600 * 1000;
	id->opts.apikey_max_ttl_ms = opts && opts->apikey_max_ttl_ms > 0 ? opts->apikey_max_ttl_ms : 365LL * 24 * 3600 * 1000;
	id->opts.login_max_failures = opts && opts->login_max_failures > 0 ? opts->login_max_failures : 5;
	id->opts.login_max_failures_ip = opts && opts->login_max_failures_ip > 0 ? opts->login_max_failures_ip : 50;
	id->opts.login_window_ms = opts && opts->login_window_ms > 0 ? opts->login_window_ms : 15LL * 60 * 1000;
	id->opts.signup_max_per_ip = opts && opts->signup_max_per_ip > 0 ? opts->signup_max_per_ip : 20;
	if (!(id->signups = tds_ratelimit_new(0, 3600 * 1000, (uint32_t)id->opts.signup_max_per_ip))) {
		free(id);
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	}
	id->opts.warn_before_ms = opts && opts->warn_before_ms > 0 ? opts->warn_before_ms : 30LL * 24 * 3600 * 1000;
	char pw[32];
	randombytes_buf(pw, sizeof pw);
	if (crypto_pwhash_str_alg(id->dummy_hash, pw, sizeof pw, crypto_pwhash_OPSLIMIT_INTERACTIVE,
				  crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0) {
		free(id);
		return tds_error_set(TDS_ENOMEM, NULL, "argon2id needs 64 MiB of memory and could not get it");
	}
	*out = id;
	return 0;
}

void tds_identity_free(tds_identity *id)
{
	if (!id)
		return;
	sodium_memzero(id->pii_key, sizeof id->pii_key);
	sodium_memzero(id->secret_key, sizeof id->secret_key);
	tds_ratelimit_free(id->signups);
	free(id->routes);
	free(id);
}

const tds_identity_requirements *tds_identity_requirements_of(const tds_identity *id) { return &id->req; }

/* ---- validation ---- */

int tds_identity_check_username(const char *u)
{
	size_t n = u ? strlen(u) : 0;
	if (n < 3 || n > 64 || !(u[0] >= 'a' && u[0] <= 'z'))
		goto bad;
	for (size_t i = 0; i < n; i++) {
		char c = u[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			goto bad;
	}
	return 0;
bad:
	return tds_error_set(TDS_EINVAL, "invalid_username",
			     "username must be 3-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter");
}

int tds_identity_check_password(const char *p)
{
	size_t n = p ? strlen(p) : 0;
	if (n < 12 || n > 256)
		return tds_error_set(TDS_EINVAL, "weak_password", "password must be 12 to 256 bytes long");
	if (!tds_utf8_valid(p, n))
		return tds_error_set(TDS_EINVAL, "invalid_password", "password must be valid UTF-8");
	return 0;
}

/* ---- helpers ---- */

#define ACCOUNT_COLS "id,username,roles,disabled,created_at,kind,org_id,person_id,org_admin,role_mask"

static json_t *account_row_json(sqlite3_stmt *st)
{
	json_t *o = json_pack("{s:s, s:s, s:o, s:b, s:o, s:s, s:o, s:o, s:b}", "id", (const char *)sqlite3_column_text(st, 0),
			      "username", (const char *)sqlite3_column_text(st, 1), "roles",
			      tds_roles_to_json((tds_roles)sqlite3_column_int64(st, 2)), "disabled", sqlite3_column_int(st, 3),
			      "created_at", id_time_json(sqlite3_column_int64(st, 4)), "kind",
			      (const char *)sqlite3_column_text(st, 5), "org_id", id_col_str(st, 6), "person_id",
			      id_col_str(st, 7), "org_admin", sqlite3_column_int(st, 8));
	json_object_set_new(o, "role_restriction", sqlite3_column_type(st, 9) == SQLITE_NULL
							   ? json_null()
							   : tds_roles_to_json((tds_roles)sqlite3_column_int64(st, 9)));
	return o;
}

/* New random token with the prefix, and its SHA-256. */
static int make_token(const char *prefix, char *token, size_t cap, unsigned char hash[32])
{
	unsigned char raw[TOKEN_BYTES];
	randombytes_buf(raw, sizeof raw);
	tds_buf b = TDS_BUF_INIT;
	int rc = tds_buf_puts(&b, prefix);
	if (!rc)
		rc = tds_b64url_encode(raw, sizeof raw, &b);
	if (!rc && b.len >= cap)
		rc = tds_error_set(TDS_EINTERNAL, NULL, "token buffer too small");
	if (!rc) {
		memcpy(token, b.data, b.len + 1);
		crypto_hash_sha256(hash, (const unsigned char *)token, b.len);
	}
	sodium_memzero(raw, sizeof raw);
	tds_buf_free(&b);
	return rc;
}

/* Effective roles of an account (identity.h): own roles, plus the verified holder's active grants
 * within the member's restriction; nothing while the holder is not verified. *org_id (may be NULL,
 * cap TDS_ID_MAX) gets the account's organisation. TDS_ENOTFOUND for a missing or disabled account. */
static int effective_roles(sqlite3 *db, const char *account_id, tds_roles *out, char *org_id)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db,
				   "SELECT a.roles, a.role_mask, a.org_id, a.person_id,"
				   " CASE WHEN a.org_id IS NOT NULL THEN (SELECT status FROM orgs WHERE id = a.org_id)"
				   "      WHEN a.person_id IS NOT NULL THEN (SELECT status FROM persons WHERE id = a.person_id) END,"
				   " (SELECT COALESCE(SUM(role), 0) FROM role_grants"
				   "   WHERE holder_id = COALESCE(a.org_id, a.person_id) AND status = 'active')"
				   " FROM accounts a WHERE a.id = ? AND a.disabled = 0",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		tds_roles own = (tds_roles)sqlite3_column_int64(st, 0);
		bool has_mask = sqlite3_column_type(st, 1) != SQLITE_NULL;
		tds_roles mask = has_mask ? (tds_roles)sqlite3_column_int64(st, 1) : ~(tds_roles)0;
		bool holder = sqlite3_column_type(st, 2) != SQLITE_NULL || sqlite3_column_type(st, 3) != SQLITE_NULL;
		const char *status = (const char *)sqlite3_column_text(st, 4);
		tds_roles grants = (tds_roles)sqlite3_column_int64(st, 5);
		if (!holder)
			*out = own;
		else if (!status || strcmp(status, "verified") != 0)
			*out = 0; /* a basic account until real-name verification is approved */
		else
			*out = own | (grants & mask);
		if (org_id)
			id_col_copy(st, 2, org_id, TDS_ID_MAX);
	} else if (s == SQLITE_DONE) {
		rc = tds_error_set(TDS_ENOTFOUND, "account_not_found", "no active account %s", account_id);
	} else {
		rc = tds_store_error(db, "reading roles");
	}
	sqlite3_finalize(st);
	return rc;
}

/* ---- accounts ---- */

typedef struct create_ctx {
	tds_identity *id;
	const char *by, *username, *hash;
	tds_roles roles;
	char id_str[TDS_ID_MAX];
	int64_t now;
} create_ctx;

static int create_tx(sqlite3 *db, void *p)
{
	create_ctx *c = p;
	int rc = id_insert_account(db, c->id_str, c->username, c->hash, c->roles, "local", NULL, NULL, false, false, 0,
				   c->now);
	if (rc)
		return rc;
	return id_evidence_by(c->id, db, "identity.account_created", c->by, c->id_str, NULL, NULL,
			      json_pack("{s:s, s:s, s:o}", "username", c->username, "kind", "local", "roles",
					tds_roles_to_json(c->roles)));
}

int tds_identity_account_create(tds_identity *id, const char *by, const char *username, const char *password,
				tds_roles roles, json_t **out)
{
	int rc;
	if ((rc = tds_identity_check_username(username)) || (rc = tds_identity_check_password(password)))
		return rc;
	if (roles & ~(tds_roles)TDS_ROLES_ANY_USER)
		return tds_error_set(TDS_EINVAL, "invalid_role", "unknown role bits");
	char hash[crypto_pwhash_STRBYTES];
	if ((rc = id_hash_password(password, hash)))
		return rc;
	create_ctx c = {.id = id, .by = by, .username = username, .hash = hash, .roles = roles, .now = tds_now_ms()};
	if ((rc = tds_id_new("acc", c.id_str)))
		return rc;
	if ((rc = tds_store_tx(id->store, create_tx, &c)))
		return rc;
	return out ? tds_identity_account_get(id, c.id_str, out) : 0;
}

int tds_identity_account_get(tds_identity *id, const char *account_id, json_t **out)
{
	if (!tds_id_valid(account_id, "acc"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "account id must look like acc_<26 characters>");
	sqlite3 *db = tds_store_conn(id->store);
	sqlite3_stmt *st;
	int rc;
	if (!db)
		return tds_error_code();
	if ((rc = tds_store_prepare(db, "SELECT " ACCOUNT_COLS " FROM accounts WHERE id=?", &st)))
		return rc;
	sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		*out = account_row_json(st);
	else if (s == SQLITE_DONE)
		rc = tds_error_set(TDS_ENOTFOUND, "account_not_found", "no account %s", account_id);
	else
		rc = tds_store_error(db, "reading account");
	sqlite3_finalize(st);
	return rc;
}

int id_account_page(tds_identity *id, const char *org_id, int limit, const char *cursor, json_t **out)
{
	if (cursor && !tds_id_valid(cursor, "acc"))
		return tds_error_set(TDS_EINVAL, "invalid_cursor", "cursor must be the next_cursor of a previous page");
	sqlite3 *db = tds_store_conn(id->store);
	sqlite3_stmt *st;
	int rc;
	if (!db)
		return tds_error_code();
	if ((rc = tds_store_prepare(db, org_id ? "SELECT " ACCOUNT_COLS " FROM accounts WHERE id > ? AND org_id = ?"
						 " ORDER BY id LIMIT ?"
					       : "SELECT " ACCOUNT_COLS " FROM accounts WHERE id > ? ORDER BY id LIMIT ?",
				    &st)))
		return rc;
	int k = 1;
	sqlite3_bind_text(st, k++, cursor ? cursor : "", -1, SQLITE_STATIC);
	if (org_id)
		sqlite3_bind_text(st, k++, org_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, k, limit + 1);
	rc = id_page_run(db, st, limit, account_row_json, "listing accounts", out);
	sqlite3_finalize(st);
	return rc;
}

int tds_identity_account_list(tds_identity *id, int limit, const char *cursor, json_t **out)
{
	return id_account_page(id, NULL, limit, cursor, out);
}

typedef struct disable_ctx {
	tds_identity *id;
	const char *by, *account_id;
	bool disabled;
} disable_ctx;

static int disable_tx(sqlite3 *db, void *p)
{
	disable_ctx *c = p;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "UPDATE accounts SET disabled=?, updated_at=? WHERE id=?", &st);
	if (rc)
		return rc;
	sqlite3_bind_int(st, 1, c->disabled);
	sqlite3_bind_int64(st, 2, tds_now_ms());
	sqlite3_bind_text(st, 3, c->account_id, -1, SQLITE_STATIC);
	if ((rc = id_step_done(db, st, "updating account")))
		return rc;
	if (sqlite3_changes(db) == 0)
		return tds_error_set(TDS_ENOTFOUND, "account_not_found", "no account %s", c->account_id);
	if ((rc = id_evidence_by(c->id, db, c->disabled ? "identity.account_disabled" : "identity.account_enabled", c->by,
				 c->account_id, NULL, NULL, NULL)))
		return rc;
	return c->disabled ? id_end_sessions(db, c->account_id, NULL, NULL) : 0;
}

int tds_identity_account_set_disabled(tds_identity *id, const char *by, const char *account_id, bool disabled)
{
	if (!tds_id_valid(account_id, "acc"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "account id must look like acc_<26 characters>");
	disable_ctx c = {id, by, account_id, disabled};
	return tds_store_tx(id->store, disable_tx, &c);
}

/* ---- login throttling ---- */

/* 0 when the username and client address may try again; TDS_ELIMIT "too_many_attempts" otherwise. */
static int throttle_check(tds_identity *id, sqlite3 *db, const char *username, const char *ip, int64_t now)
{
	int64_t since = now - id->opts.login_window_ms;
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1 && !ip)
			break;
		sqlite3_stmt *st;
		int rc = tds_store_prepare(db, pass == 0 ? "SELECT COUNT(*), MIN(at) FROM login_failures WHERE username=? AND at > ?"
							 : "SELECT COUNT(*), MIN(at) FROM login_failures WHERE client_ip=? AND at > ?",
					   &st);
		if (rc)
			return rc;
		sqlite3_bind_text(st, 1, pass == 0 ? username : ip, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, since);
		if (sqlite3_step(st) != SQLITE_ROW) {
			rc = tds_store_error(db, "counting failed logins");
			sqlite3_finalize(st);
			return rc;
		}
		int count = sqlite3_column_int(st, 0);
		int64_t oldest = sqlite3_column_int64(st, 1);
		sqlite3_finalize(st);
		int max = pass == 0 ? id->opts.login_max_failures : id->opts.login_max_failures_ip;
		if (count >= max) {
			int64_t wait_s = (oldest + id->opts.login_window_ms - now + 999) / 1000;
			if (wait_s < 1)
				wait_s = 1;
			tds_error_set(TDS_ELIMIT, "too_many_attempts",
				      "too many failed logins %s; retry after %lld seconds (Retry-After)",
				      pass == 0 ? "for this username" : "from this address", (long long)wait_s);
			tds_error_set_details(json_pack("{s:I}", "retry_after_s", (json_int_t)wait_s));
			return TDS_ELIMIT;
		}
	}
	return 0;
}

typedef struct failure_ctx {
	tds_identity *id;
	const char *username, *ip, *account_id, *via;
	int64_t now;
} failure_ctx;

static int failure_tx(sqlite3 *db, void *p)
{
	failure_ctx *c = p;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "DELETE FROM login_failures WHERE at <= ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, c->now - c->id->opts.login_window_ms);
	if ((rc = id_step_done(db, st, "expiring failed logins")))
		return rc;
	if ((rc = tds_store_prepare(db, "INSERT INTO login_failures(username, client_ip, at) VALUES(?,?,?)", &st)))
		return rc;
	sqlite3_bind_text(st, 1, c->username, -1, SQLITE_STATIC);
	if (c->ip)
		sqlite3_bind_text(st, 2, c->ip, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, c->now);
	if ((rc = id_step_done(db, st, "recording a failed login")))
		return rc;
	json_t *payload = json_pack("{s:s, s:s?}", "via", c->via, "client_ip", c->ip);
	if (tds_identity_check_username(c->username) == 0)
		json_object_set_new(payload, "username", json_string(c->username));
	tds_error_clear();
	return id_evidence_by(c->id, db, "identity.login_failed", c->account_id, c->account_id, NULL, NULL, payload);
}

/* Records a failed attempt with its evidence; keeps the caller's error (the failure answer). */
static void record_failure(tds_identity *id, const char *username, const char *ip, const char *account_id,
			   const char *via)
{
	int code = tds_error_code();
	char name[64], msg[512];
	snprintf(name, sizeof name, "%s", tds_error_name());
	snprintf(msg, sizeof msg, "%s", tds_error_message());
	failure_ctx c = {id, username, ip, account_id, via, tds_now_ms()};
	if (tds_store_tx(id->store, failure_tx, &c) < 0)
		tds_log(TDS_LOG_ERROR, "evidence_failed", "could not record a failed login: %s", tds_error_message());
	tds_error_set(code, name, "%s", msg);
}

/* ---- sessions ---- */

typedef struct login_ctx {
	tds_identity *id;
	char session_id[TDS_ID_MAX];
	const char *account_id, *username, *ip;
	unsigned char hash[32];
	int64_t now, expires;
} login_ctx;

static int login_tx(sqlite3 *db, void *p)
{
	login_ctx *c = p;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "INSERT INTO sessions(id,token_hash,account_id,created_at,expires_at,client_ip)"
				       " VALUES(?,?,?,?,?,?)",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, c->session_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, c->hash, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, c->now);
	sqlite3_bind_int64(st, 5, c->expires);
	if (c->ip)
		sqlite3_bind_text(st, 6, c->ip, -1, SQLITE_STATIC);
	if ((rc = id_step_done(db, st, "creating session")))
		return rc;
	if ((rc = tds_store_prepare(db, "DELETE FROM login_failures WHERE username=?", &st)))
		return rc;
	sqlite3_bind_text(st, 1, c->username, -1, SQLITE_STATIC);
	if ((rc = id_step_done(db, st, "clearing failed logins")))
		return rc;
	return id_evidence_by(c->id, db, "identity.session_started", c->account_id, c->account_id, c->session_id, NULL,
			      c->ip ? json_pack("{s:s}", "client_ip", c->ip) : NULL);
}

int tds_identity_login(tds_identity *id, const char *username, const char *password, json_t **out)
{
	return tds_identity_login_from(id, username, password, NULL, out);
}

int tds_identity_login_from(tds_identity *id, const char *username, const char *password, const char *client_ip,
			    json_t **out)
{
	if (!username || !password)
		return tds_error_set(TDS_EINVAL, "missing_field", "username and password are required");
	if (strlen(username) > 256 || strlen(password) > 4096)
		return tds_error_set(TDS_EINVAL, "invalid_field", "username or password is too long");
	if (client_ip && strlen(client_ip) > 64)
		client_ip = NULL;
	sqlite3 *db = tds_store_conn(id->store);
	sqlite3_stmt *st;
	int rc;
	if (!db)
		return tds_error_code();
	if ((rc = throttle_check(id, db, username, client_ip, tds_now_ms())))
		return rc;
	if ((rc = tds_store_prepare(db, "SELECT " ACCOUNT_COLS ", password_hash FROM accounts WHERE username=?", &st)))
		return rc;
	sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s != SQLITE_ROW && s != SQLITE_DONE) {
		rc = tds_store_error(db, "reading account");
		sqlite3_finalize(st);
		return rc;
	}
	const char *hash = s == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 10) : id->dummy_hash;
	bool ok = crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
	if (!ok || s != SQLITE_ROW || sqlite3_column_int(st, 3)) {
		char acc[TDS_ID_MAX] = "";
		if (s == SQLITE_ROW)
			id_col_copy(st, 0, acc, sizeof acc);
		sqlite3_finalize(st);
		tds_log(TDS_LOG_WARN, "login_failed", "failed login attempt");
		tds_error_set(TDS_EAUTH, "invalid_credentials", "username or password is wrong");
		record_failure(id, username, client_ip, acc[0] ? acc : NULL, "login");
		return TDS_EAUTH;
	}
	json_t *account = account_row_json(st);
	login_ctx c = {.id = id, .account_id = json_string_value(json_object_get(account, "id")), .username = username,
		       .ip = client_ip, .now = tds_now_ms()};
	sqlite3_finalize(st);
	c.expires = c.now + id->opts.session_ttl_ms;
	char token[96];
	if ((rc = tds_id_new("ses", c.session_id)) || (rc = make_token(SESSION_PREFIX, token, sizeof token, c.hash)) ||
	    (rc = tds_store_tx(id->store, login_tx, &c))) {
		json_decref(account);
		return rc;
	}
	*out = json_pack("{s:s, s:s, s:o, s:o}", "token", token, "session_id", c.session_id, "expires_at",
			 id_time_json(c.expires), "account", account);
	sodium_memzero(token, sizeof token);
	return 0;
}

typedef struct revoke_ctx {
	tds_identity *ident;
	const char *sql, *account_id, *id, *what, *evidence_type;
} revoke_ctx;

static int revoke_tx(sqlite3 *db, void *p)
{
	revoke_ctx *c = p;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, c->sql, &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, tds_now_ms());
	sqlite3_bind_text(st, 2, c->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->account_id, -1, SQLITE_STATIC);
	if ((rc = id_step_done(db, st, "revoking")))
		return rc;
	if (sqlite3_changes(db) == 0)
		return tds_error_set(TDS_ENOTFOUND, "not_found", "no active %s %s for this account", c->what, c->id);
	return id_evidence_by(c->ident, db, c->evidence_type, c->account_id, c->account_id, c->id, NULL, NULL);
}

int tds_identity_logout(tds_identity *id, const char *account_id, const char *session_id)
{
	if (!tds_id_valid(session_id, "ses"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "session id must look like ses_<26 characters>");
	revoke_ctx c = {id, "UPDATE sessions SET revoked_at=? WHERE id=? AND account_id=? AND revoked_at IS NULL",
			account_id, session_id, "session", "identity.session_ended"};
	return tds_store_tx(id->store, revoke_tx, &c);
}

int tds_identity_session_list(tds_identity *id, const tds_principal *p, json_t **out)
{
	if (!p || !p->account_id)
		return tds_error_set(TDS_EAUTH, "unauthenticated", "this needs a signed-in account");
	sqlite3 *db = tds_store_conn(id->store);
	sqlite3_stmt *st;
	int rc;
	if (!db)
		return tds_error_code();
	if ((rc = tds_store_prepare(db, "SELECT id, created_at, expires_at, client_ip FROM sessions WHERE account_id=?"
				       " AND revoked_at IS NULL AND expires_at > ? ORDER BY id",
				   &st)))
		return rc;
	sqlite3_bind_text(st, 1, p->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, tds_now_ms());
	json_t *items = json_array();
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *sid = (const char *)sqlite3_column_text(st, 0);
		json_array_append_new(items, json_pack("{s:s, s:o, s:o, s:o, s:b}", "id", sid, "created_at",
						       id_col_time(st, 1), "expires_at", id_col_time(st, 2), "client_ip",
						       id_col_str(st, 3), "current",
						       !p->via_api_key && p->session_id && strcmp(p->session_id, sid) == 0));
	}
	if (s != SQLITE_DONE) {
		rc = tds_store_error(db, "listing sessions");
		json_decref(items);
	} else {
		*out = json_pack("{s:o}", "items", items);
	}
	sqlite3_finalize(st);
	return rc;
}

/* ---- password change ---- */

typedef struct password_ctx {
	tds_identity *id;
	const tds_principal *p;
	const char *hash;
	int ended;
} password_ctx;

static int password_tx(sqlite3 *db, void *arg)
{
	password_ctx *c = arg;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "UPDATE accounts SET password_hash=?, updated_at=? WHERE id=? AND disabled=0", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, c->hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, tds_now_ms());
	sqlite3_bind_text(st, 3, c->p->account_id, -1, SQLITE_STATIC);
	if ((rc = id_step_done(db, st, "changing password")))
		return rc;
	if (sqlite3_changes(db) == 0)
		return tds_error_set(TDS_ENOTFOUND, "account_not_found", "the account no longer exists or is disabled");
	const char *keep = c->p->via_api_key ? NULL : c->p->session_id;
	if ((rc = id_end_sessions(db, c->p->account_id, keep, &c->ended)))
		return rc;
	return id_evidence(c->id, db, "identity.password_changed", id_ledger_actor(c->id, c->p), c->p->account_id, NULL,
			   NULL, json_pack("{s:i}", "sessions_ended", c->ended));
}

int tds_identity_password_change(tds_identity *id, const tds_principal *p, const char *old_password,
				 const char *new_password, json_t **out)
{
	if (!p || !p->account_id)
		return tds_error_set(TDS_EAUTH, "unauthenticated", "this needs a signed-in account");
	if (!old_password || !new_password)
		return tds_error_set(TDS_EINVAL, "missing_field", "old_password and new_password are required");
	int rc = tds_identity_check_password(new_password);
	if (rc)
		return rc;
	if (strcmp(old_password, new_password) == 0)
		return tds_error_set(TDS_EINVAL, "password_unchanged", "the new password must differ from the old one");
	sqlite3 *db = tds_store_conn(id->store);
	sqlite3_stmt *st;
	if (!db)
		return tds_error_code();
	if ((rc = tds_store_prepare(db, "SELECT username, password_hash FROM accounts WHERE id=? AND disabled=0", &st)))
		return rc;
	sqlite3_bind_text(st, 1, p->account_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return tds_error_set(TDS_ENOTFOUND, "account_not_found", "the account no longer exists or is disabled");
	}
	char username[80], stored[crypto_pwhash_STRBYTES];
	id_col_copy(st, 0, username, sizeof username);
	id_col_copy(st, 1, stored, sizeof stored);
	sqlite3_finalize(st);
	if ((rc = throttle_check(id, db, username, NULL, tds_now_ms())))
		return rc;
	if (crypto_pwhash_str_verify(stored, old_password, strlen(old_password)) != 0) {
		tds_error_set(TDS_EPERM, "wrong_password", "the old password is wrong; give the current password to change it");
		record_failure(id, username, NULL, p->account_id, "password_change");
		return TDS_EPERM;
	}
	char hash[crypto_pwhash_STRBYTES];
	if ((rc = id_hash_password(new_password, hash)))
		return rc;
	password_ctx c = {id, p, hash, 0};
	if ((rc = tds_store_tx(id->store, password_tx, &c)))
		return rc;
	*out = json_pack("{s:b, s:i}", "changed", 1, "sessions_ended", c.ended);
	return 0;
}

/* ---- API keys ---- */

typedef struct key_ctx {
	tds_identity *id;
	char key_id[TDS_ID_MAX];
	const char *account_id, *name;
	tds_roles roles;
	unsigned char hash[32];
	int64_t now, expires;
} key_ctx;

static int key_tx(sqlite3 *db, void *p)
{
	key_ctx *c = p;
	sqlite3_stmt *st;
	/* effective roles are read inside the transaction so a concurrent change cannot slip by */
	tds_roles have = 0;
	int rc = effective_roles(db, c->account_id, &have, NULL);
	if (rc)
		return rc;
	if (c->roles & ~have)
		return tds_error_set(TDS_EPERM, "role_escalation", "an API key cannot carry roles its account does not hold");
	if ((rc = tds_store_prepare(db, "INSERT INTO api_keys(id,key_hash,account_id,name,roles,created_at,expires_at)"
				       " VALUES(?,?,?,?,?,?,?)",
				   &st)))
		return rc;
	sqlite3_bind_text(st, 1, c->key_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, c->hash, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, c->roles);
	sqlite3_bind_int64(st, 6, c->now);
	sqlite3_bind_int64(st, 7, c->expires);
	if ((rc = id_step_done(db, st, "creating API key")))
		return rc;
	return id_evidence_by(c->id, db, "identity.apikey_created", c->account_id, c->account_id, c->key_id, NULL,
			      json_pack("{s:s, s:o}", "name", c->name, "roles", tds_roles_to_json(c->roles)));
}

int tds_identity_apikey_create(tds_identity *id, const char *account_id, const char *name, tds_roles roles,
			       int64_t expires_in_ms, json_t **out)
{
	size_t nlen = name ? strlen(name) : 0;
	if (nlen < 1 || nlen > 128)
		return tds_error_set(TDS_EINVAL, "invalid_name", "API key name must be 1-128 bytes");
	if (expires_in_ms <= 0 || expires_in_ms > id->opts.apikey_max_ttl_ms)
		return tds_error_set(TDS_EINVAL, "invalid_expiry", "expires_in_s must be between 1 and %lld seconds",
				     (long long)(id->opts.apikey_max_ttl_ms / 1000));
	if (roles == 0)
		return tds_error_set(TDS_EINVAL, "invalid_roles",
				     "an API key needs at least one role, and the account has none yet (real-name verification "
				     "and a role grant come first)");
	key_ctx c = {.id = id, .account_id = account_id, .name = name, .roles = roles, .now = tds_now_ms()};
	c.expires = c.now + expires_in_ms;
	char key[96];
	int rc;
	if ((rc = tds_id_new("key", c.key_id)) || (rc = make_token(APIKEY_PREFIX, key, sizeof key, c.hash)))
		return rc;
	if ((rc = tds_store_tx(id->store, key_tx, &c))) {
		sodium_memzero(key, sizeof key);
		if (rc == TDS_EPERM) {
			tds_principal who = {.account_id = account_id};
			return id_refused(id, &who, "account.self", account_id);
		}
		return rc;
	}
	*out = json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", c.key_id, "key", key, "name", name, "roles",
			 tds_roles_to_json(roles), "expires_at", id_time_json(c.expires));
	sodium_memzero(key, sizeof key);
	return 0;
}

int tds_identity_apikey_list(tds_identity *id, const char *account_id, json_t **out)
{
	sqlite3 *db = tds_store_conn(id->store);
	sqlite3_stmt *st;
	int rc;
	if (!db)
		return tds_error_code();
	if ((rc = tds_store_prepare(db, "SELECT id,name,roles,created_at,expires_at,revoked_at FROM api_keys"
				       " WHERE account_id=? ORDER BY id",
				   &st)))
		return rc;
	sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
	json_t *items = json_array();
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		json_array_append_new(
		    items, json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "id", (const char *)sqlite3_column_text(st, 0),
				     "name", (const char *)sqlite3_column_text(st, 1), "roles",
				     tds_roles_to_json((tds_roles)sqlite3_column_int64(st, 2)), "created_at",
				     id_col_time(st, 3), "expires_at", id_col_time(st, 4), "revoked_at", id_col_time(st, 5)));
	}
	if (s != SQLITE_DONE) {
		rc = tds_store_error(db, "listing API keys");
		json_decref(items);
	} else {
		*out = json_pack("{s:o}", "items", items);
	}
	sqlite3_finalize(st);
	return rc;
}

int tds_identity_apikey_revoke(tds_identity *id, const char *account_id, const char *key_id)
{
	if (!tds_id_valid(key_id, "key"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "API key id must look like key_<26 characters>");
	revoke_ctx c = {id, "UPDATE api_keys SET revoked_at=? WHERE id=? AND account_id=? AND revoked_at IS NULL",
			account_id, key_id, "API key", "identity.apikey_revoked"};
	return tds_store_tx(id->store, revoke_tx, &c);
}

/* ---- authentication ---- */

int tds_identity_authenticate(tds_identity *id, const char *token, tds_arena *arena, tds_principal *out)
{
	memset(out, 0, sizeof *out);
	size_t n = token ? strlen(token) : 0;
	bool session = n > 6 && strncmp(token, SESSION_PREFIX, 6) == 0;
	bool apikey = n > 6 && strncmp(token, APIKEY_PREFIX, 6) == 0;
	if ((!session && !apikey) || n > 200)
		return tds_error_set(TDS_EAUTH, "invalid_token", "the bearer token is not a TDS session token or API key");
	unsigned char hash[32];
	crypto_hash_sha256(hash, (const unsigned char *)token, n);
	sqlite3 *db = tds_store_conn(id->store);
	sqlite3_stmt *st;
	int rc;
	if (!db)
		return tds_error_code();
	const char *sql = session ? "SELECT a.id, a.username, -1, s.id FROM sessions s JOIN accounts a"
				    " ON a.id = s.account_id WHERE s.token_hash=? AND s.revoked_at IS NULL"
				    " AND s.expires_at > ? AND a.disabled = 0"
				  : "SELECT a.id, a.username, k.roles, k.id FROM api_keys k JOIN accounts a"
				    " ON a.id = k.account_id WHERE k.key_hash=? AND k.revoked_at IS NULL"
				    " AND k.expires_at > ? AND a.disabled = 0";
	if ((rc = tds_store_prepare(db, sql, &st)))
		return rc;
	sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, tds_now_ms());
	int s = sqlite3_step(st);
	tds_roles key_roles = ~(tds_roles)0;
	if (s == SQLITE_ROW) {
		out->account_id = tds_store_col_text(arena, st, 0);
		out->username = tds_store_col_text(arena, st, 1);
		if (apikey)
			key_roles = (tds_roles)sqlite3_column_int64(st, 2);
		out->session_id = tds_store_col_text(arena, st, 3);
		out->via_api_key = apikey;
	} else if (s == SQLITE_DONE) {
		rc = tds_error_set(TDS_EAUTH, "invalid_token", "the token is unknown, expired or revoked; log in again");
	} else {
		rc = tds_store_error(db, "checking token");
	}
	sqlite3_finalize(st);
	if (rc)
		return rc;
	char org[TDS_ID_MAX] = "";
	tds_roles roles = 0;
	if ((rc = effective_roles(db, out->account_id, &roles, org))) {
		memset(out, 0, sizeof *out);
		if (rc == TDS_ENOTFOUND)
			return tds_error_set(TDS_EAUTH, "invalid_token", "the token's account is gone; log in again");
		return rc;
	}
	out->roles = roles & key_roles;
	out->org_id = org[0] ? tds_arena_strdup(arena, org) : NULL;
	return 0;
}

int tds_identity_http_auth(void *ctx, tds_req *req, tds_principal *out)
{
	memset(out, 0, sizeof *out);
	const char *h = tds_req_header(req, "Authorization");
	if (!h)
		return 0;
	if (strncasecmp(h, "Bearer ", 7) != 0)
		return tds_error_set(TDS_EAUTH, "invalid_token", "Authorization must be 'Bearer <token>'");
	const char *t = h + 7;
	while (*t == ' ')
		t++;
	return tds_identity_authenticate(ctx, t, req->arena, out);
}

/* ---- me ---- */

int tds_identity_me(tds_identity *id, const tds_principal *p, json_t **out)
{
	if (!p || !p->account_id)
		return tds_error_set(TDS_EAUTH, "unauthenticated", "this needs a signed-in account");
	json_t *acc = NULL, *holder = NULL;
	int rc = tds_identity_account_get(id, p->account_id, &acc);
	if (rc)
		return rc;
	sqlite3 *db = tds_store_conn(id->store);
	if (!db) {
		json_decref(acc);
		return tds_error_code();
	}
	const char *org = tds_json_str(acc, "org_id", NULL), *person = tds_json_str(acc, "person_id", NULL);
	if (org)
		rc = id_org_json(id, db, org, &holder);
	else if (person)
		rc = id_person_json(id, db, person, &holder);
	if (rc) {
		json_decref(acc);
		return rc;
	}
	*out = json_pack("{s:o, s:o, s:b}", "account", acc, "effective_roles", tds_roles_to_json(p->roles),
			 "via_api_key", p->via_api_key);
	if (holder)
		json_object_set_new(*out, org ? "org" : "person", holder);
	return 0;
}
