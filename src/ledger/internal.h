/*
 * internal.h — what the ledger's files share and nobody else sees: the Merkle proof builders over a
 * node source, the strict leaf parser, the ledger's in-memory tree state and per-thread statements.
 * Not a public face: other modules include ledger.h only.
 */
#ifndef TDS_LEDGER_INTERNAL_H
#define TDS_LEDGER_INTERNAL_H

#include "ledger/ledger.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

/* Levels at and above this one of the committed tree are kept in memory (1 byte per leaf). */
#define TL_CACHE_LEVEL 6
#define TL_LEVELS 64

/* ---- merkle.c: proofs over any source of complete subtree hashes ---- */

/* Writes the hash of the complete subtree (level, index), i.e. MTH of leaves
 * [index·2^level, (index+1)·2^level). Returns 0 or an error code with the error set. */
typedef int (*tl_node_fn)(void *ctx, unsigned level, uint64_t index, uint8_t out[TDS_HASH_LEN]);

/* MTH(D[n]) as the fold of the complete subtrees of n (at most popcount(n) node reads). */
int tl_root(tds_suite suite, uint64_t n, tl_node_fn fn, void *ctx, uint8_t out[TDS_HASH_LEN]);
/* PATH(m, D[n]), 0 <= m < n. */
int tl_inclusion(tds_suite suite, uint64_t m, uint64_t n, tl_node_fn fn, void *ctx, tds_ledger_proof *p);
/* PROOF(m, D[n]), 0 <= m <= n (empty for m == 0 or m == n). */
int tl_consistency(tds_suite suite, uint64_t m, uint64_t n, tl_node_fn fn, void *ctx, tds_ledger_proof *p);

/* ---- log.c: leaf bytes ---- */

/* Fields of a leaf (pointers into the leaf bytes, strings without their quotes). */
typedef struct tl_str {
	const char *p;
	size_t n; /* p == NULL: JSON null */
} tl_str;

typedef struct tl_leaf {
	tl_str org, account, node;
	uint64_t index;
	const char *payload_hash; /* 64 hex characters */
	tl_str subjects;          /* the raw JSON array, brackets included */
	size_t nsubjects;
	tl_str time;              /* RFC 3339 text */
	tl_str type;
} tl_leaf;

/* Parses leaf bytes in exactly the layout of ledger.h invariant 3. Total; TDS_EINVAL "invalid_leaf"
 * naming the offset and what was expected. */
int tl_leaf_parse(const char *d, size_t len, tl_leaf *out);

/* ---- the ledger object (log.c) ---- */

typedef struct tl_hashvec {
	uint8_t (*h)[TDS_HASH_LEN];
	uint64_t n, cap;
} tl_hashvec;

typedef struct tl_request tl_request;

/* Per-thread cached statements on one connection. */
typedef struct tl_thread {
	struct tl_thread *next, *prev;
	tds_ledger *lg;
	sqlite3 *db;
	sqlite3_stmt *node_get, *size_get, *ins_entry, *ins_key, *ins_node, *begin, *commit;
} tl_thread;

struct tds_ledger {
	tds_store *store;
	tds_suite suite;
	char origin[TDS_LEDGER_ORIGIN_MAX + 1];
	const tds_key *key;
	uint8_t kek[TDS_AEAD_KEY_MAX];
	bool has_kek;
	bool nondurable;
	size_t max_batch;

	/* committed tree state (lock) */
	pthread_mutex_t lock;
	uint64_t size;
	uint8_t frontier[TL_LEVELS][TDS_HASH_LEN]; /* [l] = node (l, (size>>l)-1) when bit l of size is set */
	tl_hashvec cache[TL_LEVELS];               /* levels >= TL_CACHE_LEVEL: cache[l].n == size >> l */

	/* group commit: a lock-free stack of requests, a semaphore that wakes the committer */
	_Atomic(tl_request *) queue;
	sem_t work;
	atomic_bool stop, started;
	pthread_mutex_t qlock; /* starting the committer */
	bool committer_started;
	pthread_t committer, checkpointer, syncer;
	sem_t ckpt_work;
	atomic_bool ckpt_pending;
	/* batches committed but not yet synced (slock); the syncer's WAL descriptor */
	pthread_mutex_t slock;
	pthread_cond_t scond;
	tl_request *synced_head, *synced_tail;
	bool sync_stop;
	int wal_fd;
	char wal_path[4096];

	/* request signer of publishing (sign_lock; tds_ledger_set_signer) */
	pthread_mutex_t sign_lock;
	const tds_key *sign_key;
	char sign_keyid[257];

	/* per-thread statements (tlock) */
	pthread_key_t tkey;
	pthread_mutex_t tlock;
	tl_thread *threads;
};

#endif
