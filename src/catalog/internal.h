/*
 * internal.h — what the catalog's files share and nobody else sees: the fast profile entry points
 * used by the import's parser thread, the module handle, and small helpers.
 */
#ifndef TDS_CATALOG_INTERNAL_H
#define TDS_CATALOG_INTERNAL_H

#include "anon/anon.h"
#include "catalog/catalog.h"

#include <pthread.h>

#define T_BIT(t) (1u << (t))
#define T_TEXT_ONLY T_BIT(TDS_COL_TEXT)

/* Adds a non-null value that is not a null marker. Classifies it only while the column may still
 * be something other than text (else returns T_TEXT_ONLY without touching *v); returns the value's
 * type set, with *v filled when it has more than text. */
unsigned prof_add_value(tds_profile *p, size_t c, const char *s, size_t len, tds_value *v);
/* Adds a SQL NULL / null marker. */
void prof_add_null(tds_profile *p, size_t c);
/* Counts one row (values are added per column; rows are counted once). */
void prof_add_row(tds_profile *p);

/* A 64-bit hash of bytes (not cryptographic: distinct estimates). */
uint64_t cat_hash64(const void *data, size_t len);

/* Hash every input byte the reader reads into h (borrowed; NULL stops). */
void csv_set_hash(tds_csv *r, tds_hash_ctx *h);

/* The reader's options as checked at open (delimiter and max_field filled in). */
const tds_csv_opts *csv_opts(const tds_csv *r);

/* Sets an error naming a line: "line L: …". */
int cat_line_error(int code, const char *name, uint64_t line, const char *fmt, ...) TDS_PRINTF(4, 5);

/* Import state visible while an import runs. */
typedef struct cat_running {
	char id[TDS_ID_MAX];
	tds_import_progress p;
	struct cat_running *next;
} cat_running;

struct tds_catalog {
	tds_store *store;
	tds_ledger *ledger;
	char node_id[TDS_ID_MAX + 8];
	char *dir, *data_dir, *import_dir;
	uint8_t seal_key[TDS_MASTER_KEY_LEN];
	bool have_seal_key;
	tds_suite suite;
	int sample_rows;
	pthread_mutex_t lock; /* guards running and rules */
	cat_running *running;
	char *code_base;        /* resource codes: catalog.code_base */
	tds_anon_rules *rules;  /* scan rules, loaded on first use (resource.c) */
	bool is_operator;       /* fused catalog: this node is the operator (fused.c) */
};

/* The SQL of the catalog's migration 2: resources and their reviews (resource.c). */
const char *cat_resource_migration(void);
/* Migration 3: products and their versions (product.c). */
const char *cat_product_migration(void);
/* Delists every listed product of a resource that is being deregistered or removed, inside the
 * caller's transaction (status delisted, outbox withdrawal, evidence; product.c). */
int cat_products_resource_withdrawn_tx(tds_catalog *c, sqlite3 *db, const tds_ledger_actor *actor, const char *resource);
/* Migration 4: the outbox and the fused catalog (fused.c). */
const char *cat_fused_migration(void);

/* Records a fused-catalog entry (catalog.h section 10; borrowed) to be sent to the operator, inside
 * the caller's transaction on db. The entry carries its kind, id and version. On the operator node
 * the entry is applied to its own fused catalog at once (under a savepoint; a refused entry is
 * recorded as failed and does not fail the caller). */
int cat_outbox_add_tx(tds_catalog *c, sqlite3 *db, const json_t *entry);
/* The version the next outbox entry of (kind, id) should carry: one above the highest recorded, 1
 * for the first; *any (may be NULL) says whether the entry was ever offered. For producers whose own
 * version does not change on every catalog-visible step (a resource published again). */
int cat_outbox_next_version(sqlite3 *db, const char *kind, const char *id, int64_t *version, bool *any);
/* Turns a search query into an FTS5 MATCH expression over the fused catalog's index (CJK runs as
 * bigram phrases, single CJK characters as prefixes, words as words, "word*" as a prefix); *terms:
 * the words found (0: none); *prefix (may be NULL): a word prefix was asked for. */
int cat_fts_query(const char *q, tds_buf *out, int *terms, bool *prefix);

#endif
