/*
 * enforcer.h — what the enforcement side's files (enforce.c, sync.c, token.c, violation.c) share:
 * the connector's in-memory table of local contracts (compiled policy, counters, journal), the
 * operator key that verifies filings and tokens, the cache of verified tokens and the revocation
 * list. Nothing outside these files sees it; the rest of the module sees contract.h and internal.h.
 *
 * Invariants:
 *   - An entry is created from a committed enforce_contracts row and never changes its id, version,
 *     policy or counters; an amendment installs a new entry (the old one is retired and freed with
 *     the enforcer, since decisions may still hold it).
 *   - state, frozen and violations of an entry are written only after the store committed them, so
 *     memory never runs ahead of the database.
 *   - Every counter charge reaches the entry's pending journal (the policy journal hook, under the
 *     counters' lock); tds_contract_flush moves pending records to enforce_journal. The database
 *     value of a slot is the snapshot's, then the journal's records in seq order (absolute values).
 */
#ifndef TDS_CONTRACT_ENFORCER_H
#define TDS_CONTRACT_ENFORCER_H

#include "contract/internal.h"

enum { CT_FILED = 0, CT_ACTIVE, CT_SUSPENDED, CT_TERMINATED, CT_EXPIRED };

typedef struct ct_entry {
	char id[TDS_ID_MAX];
	int64_t version;
	bool provider; /* this connector's organisation is the contract's provider */
	char provider_org[TDS_ID_MAX], consumer_org[TDS_ID_MAX];
	int64_t valid_from, valid_to, freeze_after;
	int state;          /* CT_…; atomic */
	int frozen;         /* atomic */
	int64_t violations; /* atomic */
	tds_policy *policy;
	tds_policy_counters *counters;
	size_t n_slots;
	tds_contract_journal *journal; /* the counters' charges not yet in the store */
	struct ct_entry *next;         /* hash chain, or the retired list */
} ct_entry;

#define CT_BUCKETS 256
#define CT_TOKEN_CACHE 512
#define CT_REVOKED_BUCKETS 256

typedef struct ct_revoked {
	char id[TDS_ID_MAX];
	struct ct_revoked *next;
} ct_revoked;

/* A verified token: its exact text (a hit needs the same bytes) and its claims. */
typedef struct ct_token_slot {
	uint64_t hash; /* of the signature part: picks the slot, filters before the comparison */
	size_t len;
	char *text;    /* NULL: empty slot */
	const tds_key *key; /* the operator key it verified under: a hit needs the key in place */
	tds_token_claims claims;
} ct_token_slot;

typedef struct ct_retired_key {
	tds_key *key;
	struct ct_retired_key *next;
} ct_retired_key;

struct ct_enforcer {
	pthread_rwlock_t lock; /* the table of entries */
	ct_entry *buckets[CT_BUCKETS];
	ct_entry *retired;
	pthread_mutex_t op_mu; /* operator key and this node's organisation */
	tds_key *operator_key;
	ct_retired_key *old_keys;
	char *operator_pem;
	char operator_node[TDS_ID_MAX], own_org[TDS_ID_MAX];
	pthread_mutex_t tok_mu; /* token cache and revocation list */
	ct_token_slot *tokens;
	tds_ratelimit *verifies; /* uncached token verifications per peer address */
	ct_revoked *revoked[CT_REVOKED_BUCKETS];
	pthread_mutex_t flush_mu; /* one flush at a time */
	int64_t last_snapshot_ms;
	pthread_mutex_t sync_mu; /* one sync pass at a time */
};

/* The enforcer of ct, made (and the local contracts loaded) on first use; NULL with the error set. */
struct ct_enforcer *ct_enf(tds_contract *ct);

/* Looks up an entry; call between ct_enf_read_lock and ct_enf_unlock. */
ct_entry *ct_enf_find(struct ct_enforcer *e, const char *id);
void ct_enf_read_lock(struct ct_enforcer *e);
void ct_enf_write_lock(struct ct_enforcer *e);
void ct_enf_unlock(struct ct_enforcer *e);

/* Builds an entry for a stored contract document (compiles its policy, makes its counters with the
 * journal hook). The caller restores counters and installs it. */
int ct_entry_new(const json_t *document, bool provider, const char *provider_org, const char *consumer_org,
		 int state, int64_t frozen, int64_t violations, ct_entry **out);
void ct_entry_free(ct_entry *x);
/* Installs x (write lock held), retiring an entry of the same id. */
void ct_enf_install(struct ct_enforcer *e, ct_entry *x);
/* Counters of x from the store: the snapshot (or, of another policy version, its counters carried
 * over by clause), then the journal's later records. */
int ct_entry_restore(sqlite3 *db, ct_entry *x);
/* Carries the live counters of `from` into `to` by clause and kind (an amendment keeps what was
 * used), then stores a snapshot of `to` and drops the contract's journal, inside the caller's
 * transaction. */
int ct_entry_carry_tx(sqlite3 *db, const ct_entry *from, ct_entry *to);
/* Stores a snapshot of x's counters (journal records of x up to now are dropped), in the caller's tx. */
int ct_entry_snapshot_tx(sqlite3 *db, ct_entry *x);

int ct_state_parse(const char *s);
const char *ct_state_name(int state);

/* The operator's key (borrowed until ct_enforce_free) and this node's organisation; NULL key and
 * TDS_EUNPROC "not_enrolled" before ct_enforce_set_operator. */
int ct_enf_operator(struct ct_enforcer *e, const tds_key **key, char own_org[TDS_ID_MAX], char op_node[TDS_ID_MAX]);

/* Revocation list (connector). */
bool ct_enf_revoked(struct ct_enforcer *e, const char *token_id);
void ct_enf_revoke(struct ct_enforcer *e, const char *token_id);
/* Forgets revocations of tokens that are past any possible expiry: a token id (a ULID) carries its
 * issue time, and no token lives longer than TDS_CONTRACT_TOKEN_MAX_TTL_MS plus the skew. Also
 * from the store (in its own transaction). */
int ct_enf_prune_revoked(tds_contract *ct, struct ct_enforcer *e, int64_t now_ms);
/* A revocation matters for tokens issued after this time. */
#define CT_REVOKED_KEEP_MS (TDS_CONTRACT_TOKEN_MAX_TTL_MS + 2 * TDS_CONTRACT_TOKEN_SKEW_MS + 3600 * 1000LL)

/* Feed state: the last seq applied. */
int ct_feed_after(sqlite3 *db, int64_t *after);

/* Operator side: whether a contract is frozen on the operator (contract_freezes). */
int ct_frozen_on_operator(sqlite3 *db, const char *contract_id, bool *frozen);

#endif
