/*
 * internal.h — what the contract module's files share and nobody else sees.
 */
#ifndef TDS_CONTRACT_INTERNAL_H
#define TDS_CONTRACT_INTERNAL_H

#include "contract/contract.h"

#include <pthread.h>

struct tds_contract {
	tds_store *store;
	tds_ledger *ledger;
	tds_catalog *catalog;
	const tds_key *key;
	char node_id[TDS_ID_MAX + 8];
	tds_suite suite;
	bool is_operator;
	tds_contract_node node;
	pthread_mutex_t lock;
	struct ct_enforcer *enf; /* enforcement state (enforce.c): made on first use, freed by ct_enforce_free */
};

/* Migration 1: templates, orders, contracts, versions, signatures, acks (contract.c). */
const char *ct_core_migration(void);
/* Migration 2: connector-side contracts, counters, violations, freezes, token revocations (enforce.c). */
const char *ct_enforce_migration(void);

/* ---- shared between the operator's files and the enforcement side (C implements, D calls) ---- */

/* Appends a feed row for contract_id (the parties read from the contracts row) inside the caller's
 * transaction on db. kind: "filed", "amended", "activated", "suspended", "resumed", "terminated",
 * "expired" (contract.c, sign.c) and "frozen", "unfrozen", "token_revoked" (enforcement); body is
 * borrowed. TDS_ENOTFOUND "contract_not_found". */
int ct_feed_add_tx(tds_contract *ct, sqlite3 *db, const char *contract_id, const char *kind, const json_t *body);

/* The contract record on db (inside or outside a transaction), as tds_contract_get answers it:
 *   {"id","state","version" (latest),"effective_version" (in force, null before filing),
 *    "provider_org","consumer_org","service_orgs":[…],"order_id","product":{…},
 *    "document" (the version in force once filed, else the latest),"document_hash",
 *    "signatures":[{"org_id","key_id","alg","signature"}] (of that version),
 *    "filing":{"number","filed_at","document_hash","countersignature"} | null,
 *    "acks":[{"org_id","version","at"}],"valid_from","valid_to","reason","created_at","updated_at"}
 * TDS_ENOTFOUND "contract_not_found". */
int ct_contract_get_tx(tds_contract *ct, sqlite3 *db, const char *id, json_t **out);

/* Evidence entry (type "contract.…", subjects: the contract id and, when given, a second id) in the
 * caller's transaction; steals payload. */
int ct_evidence_tx(tds_contract *ct, sqlite3 *db, const char *type, const tds_ledger_actor *actor, const char *id,
		   const char *id2, json_t *payload);

/* Canonical bytes of a document and its hash "<alg>:<hex>" (suite of the module). */
int ct_canonical(const json_t *doc, tds_buf *out);
int ct_document_hash(tds_contract *ct, const json_t *doc, char out[TDS_HASH_HEX_LEN + 16]);

/* What the operator's files need of a contracts row. */
typedef struct ct_row {
	char id[TDS_ID_MAX], order_id[TDS_ID_MAX], provider[TDS_ID_MAX], consumer[TDS_ID_MAX];
	char product_id[TDS_ID_MAX], form[16], state[16];
	json_t *service;           /* array of org ids (owned) */
	int64_t version;           /* latest */
	int64_t effective_version; /* in force; 0 before the first filing */
	int64_t valid_from, valid_to;
} ct_row;

/* Loads a contract; org (NULL = any) must be a party or a named service organisation, else
 * TDS_ENOTFOUND "contract_not_found" (as for a contract that does not exist). */
int ct_row_load(sqlite3 *db, const char *org, const char *id, ct_row *r);
void ct_row_free(ct_row *r);
/* TDS_ECONFLICT "invalid_state": cannot <action> a contract that is <state>. */
int ct_state_error(const ct_row *r, const char *action);
/* Sets the state (and updated_at) of a contract. */
int ct_set_state_tx(sqlite3 *db, const char *id, const char *state, const char *reason);
/* One stored version: its document (parsed), hash and issues (each out may be NULL). */
int ct_version_load(sqlite3 *db, const char *id, int64_t version, json_t **doc, char hash[TDS_HASH_HEX_LEN + 16],
		    json_t **issues);
/* The latest version has issues: TDS_EUNPROC "contract_has_issues" with them as details. */
int ct_issues_error(const json_t *issues);
/* RFC 3339 text of a time (JSON null when out of range). */
json_t *ct_time_json(int64_t ms);

/* Stores version `version` of contract id (document, its hash into hash, its issues), proposed by
 * actor in role ("operator", "provider", "consumer", "service"); sets contracts.version. */
int ct_version_insert_tx(tds_contract *ct, sqlite3 *db, const char *id, int64_t version, const json_t *doc,
			 const json_t *issues, const tds_ledger_actor *actor, const char *role, const char *note,
			 char hash[TDS_HASH_HEX_LEN + 16]);

/* The issues of doc against the authorization list its order names (none when it names none),
 * appended to issues (negotiate.c; the node's authorization_check callback). */
int ct_authorization_issues(tds_contract *ct, sqlite3 *db, const char *order_id, const json_t *doc, json_t *issues);

/* Template row of a form (latest version, or `version`), as tds_contract_template_get. */
int ct_template_get_tx(sqlite3 *db, const char *id, const char *form, int64_t version, json_t **out);

/* Product forms and the actions each allows. */
bool ct_form_valid(const char *form);
bool ct_form_allows(const char *form, const char *action);

/* ---- enforcement side (token.c, enforce.c, sync.c) ---- */

/* Flushes the counters' journal and frees ct->enf (NULL is fine). tds_contract_free must call it
 * before it frees anything else. */
void ct_enforce_free(tds_contract *ct);

/* Connector: installs the operator's public key (PEM text) and node id, which verify filings and
 * tokens (tds_contract_sync does it from DIR/operator.pub; tests call it directly). */
int ct_enforce_set_operator(tds_contract *ct, const char *operator_pem, const char *operator_node_id,
			    const char *own_org_id);

/* Connector: applies one feed item {"seq","contract_id","kind","body","created_at"} in one
 * transaction with the new last seq (items at or below the stored seq are skipped: exactly once).
 * *ack_version > 0 when a filed/amended version must now be acknowledged. */
int ct_sync_apply(tds_contract *ct, const json_t *item, int64_t *ack_version, char ack_hash[TDS_HASH_HEX_LEN + 16]);

#endif
