/*
 * account.c — accounts, password login, sessions and API keys (the foundation's first-cut auth).
 * See identity.h for the model and the secrets policy. Every write is one transaction.
 */
#include "identity/identity.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_BYTES 32
#define SESSION_PREFIX "tds_s_"
#define APIKEY_PREFIX "tds_k_"

struct tds_identity {
	tds_store *store;
	tds_identity_opts opts;
	tds_ledger *ledger;
	char node_id[TDS_ID_MAX];
	char dummy_hash[crypto_pwhash_STRBYTES]; /* verified against for unknown users: equal timing */
};

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
};

int tds_identity_open(tds_store *store, const tds_identity_opts *opts, tds_identity **out)
{
	*out = NULL;
	if (sodium_init() < 0)
		return tds_error_set(TDS_EINTERNAL, NULL, "libsodium failed to initialise");
	int rc = tds_store_migrate(store, "identity", MIGRATIONS, TDS_ARRAY_LEN(MIGRATIONS));
	if (rc)
		return rc;
	tds_identity *id = calloc(1, sizeof *id);
	if (!id)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	id->store = store;
	id->ledger = opts ? opts->ledger : NULL;
	snprintf(id->node_id, sizeof id->node_id, "%s", opts && opts->node_id ? opts->node_id : "");
	id->opts.session_ttl_ms = 12LL * 3600 * 1000;
	id->opts.apikey_max_ttl_ms = 365LL * 24 * 3600 * 1000;
	if (opts && opts->session_ttl_ms > 0)
		id->opts.session_ttl_ms = opts->session_ttl_ms;
	if (opts && opts->apikey_max_ttl_ms > 0)
		id->opts.apikey_max_ttl_ms = opts->apikey_max_ttl_ms;
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

void tds_identity_free(tds_identity *id) { free(id); }

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

static json_t *time_json(int64_t ms)
{
	char t[TDS_TIME_MAX];
	if (tds_time_format(ms, t))
		return json_null();
	return json_string(t);
}

static json_t *account_row_json(sqlite3_stmt *st)
{
	/* columns: id, username, roles, disabled, created_at */
	return json_pack("{s:s, s:s, s:o, s:b, s:o}", "id", (const char *)sqlite3_column_text(st, 0), "username",
			 (const char *)sqlite3_column_text(st, 1), "roles",
			 tds_roles_to_json((tds_roles)sqlite3_column_int64(st, 2)), "disabled",
			 sqlite3_column_int(st, 3), "created_at", time_json(sqlite3_column_int64(st, 4)));
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

static int step_done(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : tds_store_error(db, what);
	sqlite3_finalize(st);
	return rc;
}

/* Appends the evidence entry of a change inside the change's transaction (steals payload). */
static int evidence(tds_identity *id, sqlite3 *db, const char *type, const char *by, const char *subject,
		    const char *subject2, json_t *payload)
{
	if (!id->ledger) {
		json_decref(payload);
		return tds_error_set(TDS_EINTERNAL, "no_ledger", "identity was opened without a ledger: changes need evidence");
	}
	const char *subjects[2] = {subject, subject2};
	tds_ledger_entry_in e = {
	    .type = type,
	    .actor = {.account = by, .node = id->node_id[0] ? id->node_id : NULL},
	    .subjects = subjects,
	    .nsubjects = subject2 ? 2 : 1,
	    .payload = payload,
	};
	uint64_t idx;
	int rc = tds_ledger_append_tx(id->ledger, db, &e, &idx);
	json_decref(payload);
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
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "INSERT INTO accounts(id,username,password_hash,roles,created_at,updated_at)"
				       " VALUES(?,?,?,?,?,?)", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, c->id_str, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->username, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, c->roles);
	sqlite3_bind_int64(st, 5, c->now);
	sqlite3_bind_int64(st, 6, c->now);
	rc = step_done(db, st, "creating account");
	if (rc == TDS_ECONFLICT)
		return tds_error_set(TDS_ECONFLICT, "username_taken", "username '%s' is already taken", c->username);
	if (rc)
		return rc;
	return evidence(c->id, db, "identity.account_created", c->by, c->id_str, NULL,
			json_pack("{s:s, s:o}", "username", c->username, "roles", tds_roles_to_json(c->roles)));
}

int tds_identity_account_create(tds_identity *id, const char *by, const char *username, const char *password,
				tds_roles roles, json_t **out)
{
	int rc;
	if ((rc = tds_identity_check_username(username)) || (rc = tds_identity_check_password(password)))
		return rc;
	char hash[crypto_pwhash_STRBYTES];
	if (crypto_pwhash_str_alg(hash, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
				  crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return tds_error_set(TDS_ENOMEM, NULL, "argon2id could not get its memory; retry");
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
	if ((rc = tds_store_prepare(db, "SELECT id,username,roles,disabled,created_at FROM accounts WHERE id=?", &st)))
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

int tds_identity_account_list(tds_identity *id, int limit, const char *cursor, json_t **out)
{
	if (cursor && !tds_id_valid(cursor, "acc"))
		return tds_error_set(TDS_EINVAL, "invalid_cursor", "cursor must be the next_cursor of a previous page");
	sqlite3 *db = tds_store_conn(id->store);
	sqlite3_stmt *st;
	int rc;
	if (!db)
		return tds_error_code();
	if ((rc = tds_store_prepare(db, "SELECT id,username,roles,disabled,created_at FROM accounts WHERE id > ?"
				       " ORDER BY id LIMIT ?", &st)))
		return rc;
	sqlite3_bind_text(st, 1, cursor ? cursor : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, limit + 1);
	json_t *items = json_array();
	int s, n = 0;
	while ((s = sqlite3_step(st)) == SQLITE_ROW && n < limit) {
		json_array_append_new(items, account_row_json(st));
		n++;
	}
	if (s != SQLITE_ROW && s != SQLITE_DONE) {
		rc = tds_store_error(db, "listing accounts");
		json_decref(items);
	} else {
		bool more = s == SQLITE_ROW;
		json_t *last = json_array_get(items, json_array_size(items) - 1);
		*out = json_pack("{s:o, s:o}", "items", items, "next_cursor",
				 more && last ? json_incref(json_object_get(last, "id")) : json_null());
	}
	sqlite3_finalize(st);
	return rc;
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
	if ((rc = step_done(db, st, "updating account")))
		return rc;
	if (sqlite3_changes(db) == 0)
		return tds_error_set(TDS_ENOTFOUND, "account_not_found", "no account %s", c->account_id);
	if ((rc = evidence(c->id, db, c->disabled ? "identity.account_disabled" : "identity.account_enabled", c->by,
			   c->account_id, NULL, NULL)))
		return rc;
	if (!c->disabled)
		return 0;
	if ((rc = tds_store_prepare(db, "UPDATE sessions SET revoked_at=? WHERE account_id=? AND revoked_at IS NULL",
				    &st)))
		return rc;
	sqlite3_bind_int64(st, 1, tds_now_ms());
	sqlite3_bind_text(st, 2, c->account_id, -1, SQLITE_STATIC);
	return step_done(db, st, "ending sessions");
}

int tds_identity_account_set_disabled(tds_identity *id, const char *by, const char *account_id, bool disabled)
{
	if (!tds_id_valid(account_id, "acc"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "account id must look like acc_<26 characters>");
	disable_ctx c = {id, by, account_id, disabled};
	return tds_store_tx(id->store, disable_tx, &c);
}

/* ---- sessions ---- */

typedef struct login_ctx {
	tds_identity *id;
	char session_id[TDS_ID_MAX];
	const char *account_id;
	unsigned char hash[32];
	int64_t now, expires;
} login_ctx;

static int login_tx(sqlite3 *db, void *p)
{
	login_ctx *c = p;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "INSERT INTO sessions(id,token_hash,account_id,created_at,expires_at)"
				       " VALUES(?,?,?,?,?)", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, c->session_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, c->hash, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, c->now);
	sqlite3_bind_int64(st, 5, c->expires);
	int rc2 = step_done(db, st, "creating session");
	if (rc2)
		return rc2;
	return evidence(c->id, db, "identity.session_started", c->account_id, c->account_id, c->session_id, NULL);
}

int tds_identity_login(tds_identity *id, const char *username, const char *password, json_t **out)
{
	if (!username || !password)
		return tds_error_set(TDS_EINVAL, "missing_field", "username and password are required");
	sqlite3 *db = tds_store_conn(id->store);
	sqlite3_stmt *st;
	int rc;
	if (!db)
		return tds_error_code();
	if ((rc = tds_store_prepare(db, "SELECT id,username,roles,disabled,created_at,password_hash FROM accounts"
				       " WHERE username=?", &st)))
		return rc;
	sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s != SQLITE_ROW && s != SQLITE_DONE) {
		rc = tds_store_error(db, "reading account");
		sqlite3_finalize(st);
		return rc;
	}
	const char *hash = s == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 5) : id->dummy_hash;
	bool ok = crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
	if (!ok || s != SQLITE_ROW || sqlite3_column_int(st, 3)) {
		sqlite3_finalize(st);
		tds_log(TDS_LOG_WARN, "login_failed", "failed login attempt");
		return tds_error_set(TDS_EAUTH, "invalid_credentials", "username or password is wrong");
	}
	json_t *account = account_row_json(st);
	login_ctx c = {.id = id, .account_id = json_string_value(json_object_get(account, "id")), .now = tds_now_ms()};
	sqlite3_finalize(st);
	c.expires = c.now + id->opts.session_ttl_ms;
	char token[96];
	if ((rc = tds_id_new("ses", c.session_id)) || (rc = make_token(SESSION_PREFIX, token, sizeof token, c.hash)) ||
	    (rc = tds_store_tx(id->store, login_tx, &c))) {
		json_decref(account);
		return rc;
	}
	*out = json_pack("{s:s, s:s, s:o, s:o}", "token", token, "session_id", c.session_id, "expires_at",
			 time_json(c.expires), "account", account);
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
	if ((rc = step_done(db, st, "revoking")))
		return rc;
	if (sqlite3_changes(db) == 0)
		return tds_error_set(TDS_ENOTFOUND, "not_found", "no active %s %s for this account", c->what, c->id);
	return evidence(c->ident, db, c->evidence_type, c->account_id, c->account_id, c->id, NULL);
}

int tds_identity_logout(tds_identity *id, const char *account_id, const char *session_id)
{
	if (!tds_id_valid(session_id, "ses"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "session id must look like ses_<26 characters>");
	revoke_ctx c = {id, "UPDATE sessions SET revoked_at=? WHERE id=? AND account_id=? AND revoked_at IS NULL",
			account_id, session_id, "session", "identity.session_ended"};
	return tds_store_tx(id->store, revoke_tx, &c);
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
	/* the account's roles are read inside the transaction so a concurrent role change cannot slip by */
	int rc = tds_store_prepare(db, "SELECT roles, disabled FROM accounts WHERE id=?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, c->account_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return tds_error_set(TDS_ENOTFOUND, "account_not_found", "no account %s", c->account_id);
	}
	tds_roles have = (tds_roles)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (c->roles & ~have)
		return tds_error_set(TDS_EPERM, "role_escalation", "an API key cannot carry roles its account lacks");
	if ((rc = tds_store_prepare(db, "INSERT INTO api_keys(id,key_hash,account_id,name,roles,created_at,expires_at)"
				       " VALUES(?,?,?,?,?,?,?)", &st)))
		return rc;
	sqlite3_bind_text(st, 1, c->key_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, c->hash, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, c->roles);
	sqlite3_bind_int64(st, 6, c->now);
	sqlite3_bind_int64(st, 7, c->expires);
	if ((rc = step_done(db, st, "creating API key")))
		return rc;
	return evidence(c->id, db, "identity.apikey_created", c->account_id, c->account_id, c->key_id,
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
		return tds_error_set(TDS_EINVAL, "invalid_roles", "an API key needs at least one role");
	key_ctx c = {.id = id, .account_id = account_id, .name = name, .roles = roles, .now = tds_now_ms()};
	c.expires = c.now + expires_in_ms;
	char key[96];
	int rc;
	if ((rc = tds_id_new("key", c.key_id)) || (rc = make_token(APIKEY_PREFIX, key, sizeof key, c.hash)) ||
	    (rc = tds_store_tx(id->store, key_tx, &c)))
		return rc;
	*out = json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", c.key_id, "key", key, "name", name, "roles",
			 tds_roles_to_json(roles), "expires_at", time_json(c.expires));
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
				       " WHERE account_id=? ORDER BY id", &st)))
		return rc;
	sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
	json_t *items = json_array();
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		bool revoked = sqlite3_column_type(st, 5) != SQLITE_NULL;
		json_array_append_new(
		    items, json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "id", (const char *)sqlite3_column_text(st, 0),
				     "name", (const char *)sqlite3_column_text(st, 1), "roles",
				     tds_roles_to_json((tds_roles)sqlite3_column_int64(st, 2)), "created_at",
				     time_json(sqlite3_column_int64(st, 3)), "expires_at",
				     time_json(sqlite3_column_int64(st, 4)), "revoked_at",
				     revoked ? time_json(sqlite3_column_int64(st, 5)) : json_null()));
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
	const char *sql = session ? "SELECT a.id, a.username, a.roles, s.id FROM sessions s JOIN accounts a"
				    " ON a.id = s.account_id WHERE s.token_hash=? AND s.revoked_at IS NULL"
				    " AND s.expires_at > ? AND a.disabled = 0"
				  : "SELECT a.id, a.username, a.roles & k.roles, k.id FROM api_keys k JOIN accounts a"
				    " ON a.id = k.account_id WHERE k.key_hash=? AND k.revoked_at IS NULL"
				    " AND k.expires_at > ? AND a.disabled = 0";
	if ((rc = tds_store_prepare(db, sql, &st)))
		return rc;
	sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, tds_now_ms());
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		out->account_id = tds_store_col_text(arena, st, 0);
		out->username = tds_store_col_text(arena, st, 1);
		out->roles = (tds_roles)sqlite3_column_int64(st, 2);
		out->session_id = tds_store_col_text(arena, st, 3);
		out->via_api_key = apikey;
	} else if (s == SQLITE_DONE) {
		rc = tds_error_set(TDS_EAUTH, "invalid_token", "the token is unknown, expired or revoked; log in again");
	} else {
		rc = tds_store_error(db, "checking token");
	}
	sqlite3_finalize(st);
	return rc;
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
