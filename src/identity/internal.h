/*
 * internal.h — what identity's files share and nobody else sees: the handle, the schema version
 * helpers, the evidence helper and small SQL/JSON utilities. Not a public interface: other modules
 * include identity.h only.
 */
#ifndef TDS_IDENTITY_INTERNAL_H
#define TDS_IDENTITY_INTERNAL_H

#include "identity/identity.h"

#include <sodium.h>

#define ID_PII_KEY_LEN 32
#define ID_SECRET_KEY_LEN 32

struct tds_identity {
	tds_store *store;
	tds_identity_opts opts;
	tds_ledger *ledger;
	char node_id[TDS_ID_MAX];
	char dummy_hash[crypto_pwhash_STRBYTES]; /* verified against for unknown users: equal timing */
	bool has_pii_key;
	uint8_t pii_key[ID_PII_KEY_LEN];
	tds_identity_requirements req;
	struct id_route *routes; /* per-route handler contexts (routes.c), freed with the handle */
	tds_ratelimit *signups;  /* public registrations per client address (each costs an argon2id hash) */
	/* connectors (connector.c) */
	const tds_key *node_key;            /* signs certificates and statements; NULL: approval refused */
	char node_key_id[TDS_KEY_ID_LEN + 1];
	bool has_secret_key;
	uint8_t secret_key[ID_SECRET_KEY_LEN]; /* keyed hash of ClientSecrets */
	tds_witness *witness;
};

/* Who acts, as read from the database for a principal (an account's current relations). */
typedef struct id_actor {
	char account_id[TDS_ID_MAX];
	char org_id[TDS_ID_MAX];    /* "" when none */
	char person_id[TDS_ID_MAX]; /* "" when none */
	char kind[8];               /* local | org | person */
	bool org_admin;
	char holder_status[16];     /* the org's or person's status, "" when none */
} id_actor;

/* Reads the principal's account relations. TDS_EAUTH "unauthenticated" for a principal without an
 * account (a node, anonymous), TDS_ENOTFOUND when the account vanished. */
int id_actor_load(tds_identity *id, sqlite3 *db, const tds_principal *p, id_actor *out);

/* Evidence actor of a principal (NULL members stay null). */
tds_ledger_actor id_ledger_actor(const tds_identity *id, const tds_principal *p);

/* Appends the evidence entry of a change inside the change's transaction (steals payload).
 * s1, s2, s3 are the subjects (NULLs are skipped). */
int id_evidence(tds_identity *id, sqlite3 *db, const char *type, tds_ledger_actor actor, const char *s1,
		const char *s2, const char *s3, json_t *payload);
/* Same, for an actor that is just an account id (or NULL for the node itself). */
int id_evidence_by(tds_identity *id, sqlite3 *db, const char *type, const char *by, const char *s1,
		   const char *s2, const char *s3, json_t *payload);

/* Records a refused privileged attempt ("identity.refused", payload {action, code}) in its own
 * transaction and returns the refusal, whose error (code, name, message) it keeps intact. Call it
 * outside any transaction, after the refusal's error is set; returns that error's code. */
int id_refused(tds_identity *id, const tds_principal *p, const char *action, const char *subject);

/* Appends one evidence entry in its own transaction (for events that change nothing else, such as a
 * rehearsed watch); steals payload. */
int id_note(tds_identity *id, const tds_principal *p, const char *type, const char *subject, json_t *payload);

/* Steps a statement expected to finish, finalizes it; the store's error otherwise. */
int id_step_done(sqlite3 *db, sqlite3_stmt *st, const char *what);
/* RFC 3339 JSON string, or null for an unformattable time. */
json_t *id_time_json(int64_t ms);
/* Column as JSON: string, or null for SQL NULL. */
json_t *id_col_str(sqlite3_stmt *st, int col);
/* Column time (ms) as RFC 3339 JSON string, or null for SQL NULL. */
json_t *id_col_time(sqlite3_stmt *st, int col);
/* Copies a column's text into out (cap bytes), "" for NULL. */
void id_col_copy(sqlite3_stmt *st, int col, char *out, size_t cap);
/* Wraps a page of rows: {"items":items,"next_cursor":last item's "id" when more, else null}. */
json_t *id_page(json_t *items, bool more);
/* Steps a list query (bound with LIMIT limit + 1) into {"items":[row(st)…],"next_cursor"} in *out;
 * the caller finalizes st. A database error is mapped with `what` ("listing accounts"). */
int id_page_run(sqlite3 *db, sqlite3_stmt *st, int limit, json_t *(*row)(sqlite3_stmt *st), const char *what,
		json_t **out);

/* Validates a free-text field: valid UTF-8 (the JSON layer guarantees it), 1..max bytes, no control
 * characters; error "invalid_<field>" naming the field. */
int id_check_text(const char *field, const char *s, size_t max);
/* Hashes a password with argon2id (out: crypto_pwhash_STRBYTES). */
int id_hash_password(const char *password, char *out);
/* Inserts an account row (no evidence): kind, org/person links, org_admin, optional role mask. */
int id_insert_account(sqlite3 *db, const char *account_id, const char *username, const char *hash, tds_roles roles,
		      const char *kind, const char *org_id, const char *person_id, bool org_admin, bool has_mask,
		      tds_roles mask, int64_t now);
/* Ends every live session of an account except `keep` (may be NULL); *n (may be NULL) = how many. */
int id_end_sessions(sqlite3 *db, const char *account_id, const char *keep, int *n);

/* The role bit as its single index (0..9), or -1 for zero or several bits. */
int id_role_index(tds_roles role);
/* True when the holder ("org_…"/"psn_…") meets `role`'s requirements at now_ms (reads the
 * qualifications table on db); *missing (may be NULL) gets a description of what is missing. */
int id_requirements_met(tds_identity *id, sqlite3 *db, const char *holder_id, tds_roles role, int64_t now_ms,
			bool *met, char *missing, size_t cap);
/* Suspends the holder's active roles whose requirements are not met at now_ms (reason
 * "qualification") and restores those suspended for that reason whose requirements are met again,
 * with evidence, inside the caller's transaction. Appends {"holder","role"} objects to the arrays
 * (either may be NULL). */
int id_reconcile_roles(tds_identity *id, sqlite3 *db, const char *holder_id, int64_t now_ms, const char *by,
		       json_t *suspended, json_t *restored);

/* 0 when the principal may perform `action` on `holder` (NULL: its own), per the matrix; otherwise
 * TDS_EAUTH "unauthenticated" (no principal) or TDS_EPERM "forbidden" naming the action. */
int id_require(tds_identity *id, const tds_principal *p, const char *action, const char *holder);

/* JSON of one organisation with its grants / one person (masked), read on db. */
int id_org_json(tds_identity *id, sqlite3 *db, const char *org_id, json_t **out);
int id_person_json(tds_identity *id, sqlite3 *db, const char *person_id, json_t **out);
/* A page of accounts, all (org_id NULL) or one organisation's. */
int id_account_page(tds_identity *id, const char *org_id, int limit, const char *cursor, json_t **out);
/* Validates a holder id: "org_…" or "psn_…"; TDS_EINVAL "invalid_id" otherwise. */
int id_check_holder(const char *holder_id);

/* The certificate of `serial` as the registry holds it: *status is "valid", "expired" (past its
 * expiry), or "revoked"; cert_json (may be NULL) gets the certificate. TDS_ENOTFOUND when no
 * connector holds that serial. For tds_nodekeys on the operator. */
int id_cert_state(tds_identity *id, const char *serial, int64_t now_ms, char status[16], tds_buf *cert_json);

/* 0, or TDS_EPERM "self_review" (evidenced) when the principal's own organisation or person is
 * `holder`: nobody reviews their own applications. */
int id_refuse_self_review(tds_identity *id, const tds_principal *p, const char *action, const char *holder);

#endif
