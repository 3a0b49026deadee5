/*
 * identity — who may act on a node. This first cut (foundation issue) holds accounts with role
 * sets, password login (argon2id through libsodium) returning opaque session tokens, and API keys.
 * The identity issue grows it into organisations, persons, real-name review (实名认证), role grants,
 * qualifications and connector registration, on the same tables.
 *
 * Secrets: passwords are stored only as argon2id strings; session tokens and API keys only as
 * SHA-256 hashes (they are 256-bit random values, so a fast hash is enough and lookups stay O(1)).
 * A token is shown once, when it is made. Tokens look like "tds_s_<43 chars>" (session) and
 * "tds_k_<43 chars>" (API key) so that secret scanners and humans can tell them apart.
 *
 * Evidence: every change (account created, disabled or enabled, login, logout, API key created or
 * revoked) appends an entry to the node's ledger in the same transaction as the change itself
 * (types "identity.account_created", "identity.account_disabled", "identity.account_enabled",
 * "identity.session_started", "identity.session_ended", "identity.apikey_created",
 * "identity.apikey_revoked"). Payloads never hold secrets or password hashes.
 *
 * Not for HTTP: routes.c translates requests into these calls.
 */
#ifndef TDS_IDENTITY_H
#define TDS_IDENTITY_H

#include "base/base.h"
#include "http/http.h"
#include "ledger/ledger.h"
#include "store/store.h"

typedef struct tds_identity tds_identity;

typedef struct tds_identity_opts {
	int64_t session_ttl_ms;  /* default 12 h */
	int64_t apikey_max_ttl_ms; /* default 365 days */
	tds_ledger *ledger;      /* evidence of every change; required for changes (borrowed) */
	const char *node_id;     /* actor node in evidence entries (copied) */
} tds_identity_opts;

/* Runs identity's migrations on the store and returns a handle (the store must outlive it). */
int tds_identity_open(tds_store *store, const tds_identity_opts *opts, tds_identity **out);
void tds_identity_free(tds_identity *id);

/* Usernames: 3-64 characters of a-z 0-9 . _ -, starting with a letter. Passwords: 12-256 bytes of
 * UTF-8. Returns TDS_EINVAL with a message saying which rule failed. */
int tds_identity_check_username(const char *username);
int tds_identity_check_password(const char *password);

/* Creates an account; `by` is the acting account id (NULL: the node itself, e.g. bootstrap).
 * TDS_ECONFLICT "username_taken" when the name exists. *out (may be NULL):
 * the account as JSON (id, username, roles, created_at, disabled). */
int tds_identity_account_create(tds_identity *id, const char *by, const char *username, const char *password,
				tds_roles roles, json_t **out);
int tds_identity_account_get(tds_identity *id, const char *account_id, json_t **out);
/* Page of accounts in creation order after `cursor` (an account id or NULL):
 * {"items":[…],"next_cursor":"acc_…"|null}. */
int tds_identity_account_list(tds_identity *id, int limit, const char *cursor, json_t **out);
/* Enables or disables an account; disabling also ends its sessions. */
int tds_identity_account_set_disabled(tds_identity *id, const char *by, const char *account_id, bool disabled);

/* Password login. TDS_EAUTH "invalid_credentials" for an unknown user, a wrong password or a
 * disabled account (the same message for each, so usernames cannot be probed). *out:
 * {"token":"tds_s_…","session_id":"ses_…","expires_at":"…","account":{…}}. */
int tds_identity_login(tds_identity *id, const char *username, const char *password, json_t **out);
/* Ends a session (only the account's own; TDS_ENOTFOUND otherwise). */
int tds_identity_logout(tds_identity *id, const char *account_id, const char *session_id);

/* API keys: roles must be a subset of the account's (TDS_EPERM otherwise); expires_in_ms within
 * (0, apikey_max_ttl]. The key's effective roles are always intersected with the account's current
 * roles. *out: {"id":"key_…","key":"tds_k_…" (shown once),"name","roles","expires_at"}. */
int tds_identity_apikey_create(tds_identity *id, const char *account_id, const char *name, tds_roles roles,
			       int64_t expires_in_ms, json_t **out);
int tds_identity_apikey_list(tds_identity *id, const char *account_id, json_t **out);
int tds_identity_apikey_revoke(tds_identity *id, const char *account_id, const char *key_id);

/* Resolves a bearer token to a principal (strings from `arena`). TDS_EAUTH "invalid_token" for an
 * unknown, expired or revoked token or a disabled account. */
int tds_identity_authenticate(tds_identity *id, const char *token, tds_arena *arena, tds_principal *out);

/* tds_authenticator for the http server (ctx = tds_identity*): reads "Authorization: Bearer …". */
int tds_identity_http_auth(void *ctx, tds_req *req, tds_principal *out);

/* Registers identity's routes (/api/v1/auth/…, /api/v1/accounts…, /api/v1/api-keys…). */
int tds_identity_routes(tds_identity *id, tds_router *r);

#endif
