/*
 * verify.c — verification of a whole stored log, for `tds ledger verify --dir DIR`: recompute the
 * tree from the stored entry bytes and check everything else the database claims against it.
 *
 * One pass over ledger_entries in index order, one cursor per tree level over ledger_nodes in index
 * order beside it; every leaf hash and every complete subtree recomputed is compared with the stored
 * node as soon as it is complete, and the root at each checkpoint's size with the signed root. The
 * hot loop allocates nothing: the leaf is parsed in place (internal.h tl_leaf_parse), hashes live in
 * a 64-level frontier on the stack. The first discrepancy stops the run and is described with the
 * entry it concerns:
 *   entry_missing        a gap in the indexes, or leaves/checkpoints beyond the last entry
 *   entry_reordered      an entry whose "index" field is not its position (swapped or moved rows)
 *   leaf_malformed       leaf bytes that are not an evidence entry
 *   column_mismatch      a search column (type, actor, time, subjects) that differs from the leaf
 *   leaf_hash_mismatch   leaf bytes that no longer hash to the stored leaf hash (an edited entry)
 *   checkpoint_root_mismatch  entries and tree rewritten together: the signed root disagrees; the
 *                        change lies between the previous good checkpoint and this one
 *   tree_node_mismatch / tree_node_missing / tree_node_extra   a damaged nodes table
 *   checkpoint_*         a checkpoint with a bad signature, origin, order or stored columns
 *   inconsistent_checkpoints   a consistency proof between successive checkpoints fails
 * Entries after the last checkpoint are covered by no signature: an edit that rewrites them and the
 * tree together cannot be told from the truth, which is why nodes checkpoint often.
 */
#include "ledger/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct vcp {
	int64_t id;
	uint64_t size;
	uint8_t root[TDS_HASH_LEN];
} vcp;

typedef struct vstate {
	sqlite3 *db;
	tds_suite suite;
	tds_ledger_verify_result *r;
	sqlite3_stmt *level[TL_LEVELS]; /* cursors over ledger_nodes, opened on first use */
	bool level_done[TL_LEVELS];
	sqlite3_stmt *node_get;
} vstate;

static int fail(tds_ledger_verify_result *r, bool has_index, uint64_t index, const char *code, const char *fmt, ...)
	TDS_PRINTF(5, 6);
static int fail(tds_ledger_verify_result *r, bool has_index, uint64_t index, const char *code, const char *fmt, ...)
{
	va_list ap;
	r->ok = false;
	r->has_index = has_index;
	r->error_index = index;
	snprintf(r->error_code, sizeof r->error_code, "%s", code);
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof r->error, fmt, ap);
	va_end(ap);
	return 1; /* stop, not an error of the run */
}

static void hex(const uint8_t *h, char out[TDS_HASH_HEX_LEN + 1])
{
	static const char d[] = "0123456789abcdef";
	for (int i = 0; i < TDS_HASH_LEN; i++) {
		out[2 * i] = d[h[i] >> 4];
		out[2 * i + 1] = d[h[i] & 15];
	}
	out[TDS_HASH_HEX_LEN] = 0;
}

/* Compares a recomputed complete node with the next stored node of its level. */
static int check_node(vstate *v, unsigned level, uint64_t index, const uint8_t h[TDS_HASH_LEN])
{
	sqlite3_stmt **st = &v->level[level];
	int rc;
	if (!*st) {
		if ((rc = tds_store_prepare(v->db, "SELECT idx, hash FROM ledger_nodes WHERE level = ? ORDER BY idx", st)))
			return rc;
		sqlite3_bind_int(*st, 1, (int)level);
	}
	int s = v->level_done[level] ? SQLITE_DONE : sqlite3_step(*st);
	if (s == SQLITE_DONE)
		v->level_done[level] = true;
	else if (s != SQLITE_ROW)
		return tds_store_error(v->db, "reading ledger tree nodes");
	uint64_t leaf0 = index << level;
	if (s == SQLITE_DONE || (uint64_t)sqlite3_column_int64(*st, 0) != index) {
		if (level == 0)
			return fail(v->r, true, index, "tree_node_missing", "entry %llu has no leaf hash in the stored tree "
				    "(tree nodes were deleted)", (unsigned long long)index);
		return fail(v->r, false, leaf0, "tree_node_missing", "the stored tree lacks node (level %u, index %llu) "
			    "over entries %llu..%llu", level, (unsigned long long)index, (unsigned long long)leaf0,
			    (unsigned long long)(leaf0 + (UINT64_C(1) << level) - 1));
	}
	if (sqlite3_column_bytes(*st, 1) != TDS_HASH_LEN || memcmp(sqlite3_column_blob(*st, 1), h, TDS_HASH_LEN) != 0) {
		char want[TDS_HASH_HEX_LEN + 1];
		hex(h, want);
		if (level == 0)
			return fail(v->r, true, index, "leaf_hash_mismatch", "entry %llu was altered: its stored bytes hash "
				    "to %s, not to the leaf hash recorded when it was appended", (unsigned long long)index, want);
		return fail(v->r, false, leaf0, "tree_node_mismatch", "stored tree node (level %u, index %llu) over "
			    "entries %llu..%llu differs from the recomputed %s", level, (unsigned long long)index,
			    (unsigned long long)leaf0, (unsigned long long)(leaf0 + (UINT64_C(1) << level) - 1), want);
	}
	return 0;
}

static bool col_eq(sqlite3_stmt *st, int col, const tl_str *s)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return s->p == NULL;
	return s->p && (size_t)sqlite3_column_bytes(st, col) == s->n &&
	       memcmp(sqlite3_column_text(st, col), s->p, s->n) == 0;
}

/* Checks the search columns of an entry row against its parsed leaf. Returns the column's name, or NULL. */
static const char *columns(sqlite3_stmt *st, const tl_leaf *lf)
{
	char when[TDS_TIME_MAX];
	if (!col_eq(st, 2, &lf->type))
		return "type";
	if (!col_eq(st, 3, &lf->org))
		return "actor_org";
	if (!col_eq(st, 4, &lf->account))
		return "actor_account";
	if (!col_eq(st, 5, &lf->node))
		return "actor_node";
	if (sqlite3_column_type(st, 6) != SQLITE_INTEGER || tds_time_format(sqlite3_column_int64(st, 6), when) ||
	    strlen(when) != lf->time.n || memcmp(when, lf->time.p, lf->time.n) != 0)
		return "time_ms";
	if (!col_eq(st, 7, &lf->subjects))
		return "subjects";
	return NULL;
}

static void fold(tds_suite suite, uint64_t n, uint8_t fr[TL_LEVELS][TDS_HASH_LEN], uint8_t out[TDS_HASH_LEN])
{
	bool have = false;
	for (unsigned l = 0; l < TL_LEVELS; l++)
		if (n >> l & 1) {
			if (have)
				tds_ledger_node_hash(suite, fr[l], out, out);
			else
				memcpy(out, fr[l], TDS_HASH_LEN);
			have = true;
		}
	if (!have)
		tds_ledger_empty_root(suite, out);
}

static int db_node_fn(void *ctx, unsigned level, uint64_t index, uint8_t out[TDS_HASH_LEN])
{
	vstate *v = ctx;
	int rc = 0;
	if (!v->node_get && (rc = tds_store_prepare(v->db, "SELECT hash FROM ledger_nodes WHERE level = ? AND idx = ?",
						    &v->node_get)))
		return rc;
	sqlite3_bind_int(v->node_get, 1, (int)level);
	sqlite3_bind_int64(v->node_get, 2, (sqlite3_int64)index);
	int s = sqlite3_step(v->node_get);
	if (s == SQLITE_ROW && sqlite3_column_bytes(v->node_get, 0) == TDS_HASH_LEN)
		memcpy(out, sqlite3_column_blob(v->node_get, 0), TDS_HASH_LEN);
	else if (s == SQLITE_ROW || s == SQLITE_DONE)
		rc = tds_error_set(TDS_EIO, "ledger_corrupt", "tree node (level %u, index %llu) is missing", level,
				   (unsigned long long)index);
	else
		rc = tds_store_error(v->db, "reading a ledger tree node");
	sqlite3_reset(v->node_get);
	return rc;
}

/* Loads, checks (signature, origin, stored columns, order) and returns the checkpoints in issue order. */
static int load_checkpoints(vstate *v, const char *origin, const tds_key *key, vcp **out, size_t *count)
{
	sqlite3_stmt *st;
	vcp *cps = NULL;
	size_t n = 0, cap = 0;
	int rc = tds_store_prepare(v->db, "SELECT id, size, root, note FROM ledger_checkpoints ORDER BY id", &st);
	if (rc)
		return rc;
	int s;
	while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		tds_ledger_head cp;
		const char *note = (const char *)sqlite3_column_text(st, 3);
		size_t len = (size_t)sqlite3_column_bytes(st, 3);
		if (tds_ledger_checkpoint_open(note ? note : "", len, origin, key, &cp, NULL) != 0) {
			rc = fail(v->r, false, 0, "checkpoint_invalid", "checkpoint #%lld does not verify: %s",
				  (long long)id, tds_error_message());
			break;
		}
		if ((uint64_t)sqlite3_column_int64(st, 1) != cp.size || sqlite3_column_bytes(st, 2) != TDS_HASH_LEN ||
		    memcmp(sqlite3_column_blob(st, 2), cp.root, TDS_HASH_LEN) != 0) {
			rc = fail(v->r, false, 0, "checkpoint_column_mismatch", "checkpoint #%lld: the stored size or root "
				  "columns differ from its signed note", (long long)id);
			break;
		}
		if (n && cp.size < cps[n - 1].size) {
			rc = fail(v->r, false, 0, "checkpoint_order", "checkpoint #%lld has size %llu, smaller than the "
				  "checkpoint issued before it (%llu): a log never shrinks", (long long)id,
				  (unsigned long long)cp.size, (unsigned long long)cps[n - 1].size);
			break;
		}
		if (n == cap) {
			size_t c2 = cap ? cap * 2 : 64;
			vcp *p = realloc(cps, c2 * sizeof *p);
			if (!p) {
				rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
				break;
			}
			cps = p;
			cap = c2;
		}
		cps[n].id = id;
		cps[n].size = cp.size;
		memcpy(cps[n].root, cp.root, TDS_HASH_LEN);
		n++;
	}
	if (!rc && s != SQLITE_DONE)
		rc = tds_store_error(v->db, "reading checkpoints");
	sqlite3_finalize(st);
	*out = cps;
	*count = n;
	return rc;
}

/* The streaming pass. Returns 0 (all good), 1 (a discrepancy in r) or a negative error. */
static int stream(vstate *v, const vcp *cps, size_t ncp)
{
	tds_ledger_verify_result *r = v->r;
	uint8_t fr[TL_LEVELS][TDS_HASH_LEN], h[TDS_HASH_LEN], root[TDS_HASH_LEN];
	uint64_t n = 0, good = 0; /* good: size of the last checkpoint that matched */
	size_t next = 0;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(v->db, "SELECT idx, leaf, type, actor_org, actor_account, actor_node, time_ms, subjects "
					  "FROM ledger_entries ORDER BY idx", &st);
	if (rc)
		return rc;
	tds_ledger_empty_root(v->suite, root);
	for (; next < ncp && cps[next].size == 0; next++) { /* checkpoints of the empty log */
		if (memcmp(root, cps[next].root, TDS_HASH_LEN) != 0) {
			sqlite3_finalize(st);
			return fail(r, false, 0, "checkpoint_root_mismatch", "checkpoint #%lld of the empty log is signed "
				    "over a root other than the empty tree's", (long long)cps[next].id);
		}
		r->checkpoints++;
	}
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t idx = (uint64_t)sqlite3_column_int64(st, 0);
		if (idx != n) {
			rc = fail(r, true, n, "entry_missing", "entry %llu is missing: the next stored entry is %llu",
				  (unsigned long long)n, (unsigned long long)idx);
			break;
		}
		const char *leaf = sqlite3_column_blob(st, 1);
		size_t len = (size_t)sqlite3_column_bytes(st, 1);
		tl_leaf lf;
		const char *col;
		if (tl_leaf_parse(leaf ? leaf : "", len, &lf) != 0) {
			rc = fail(r, true, n, "leaf_malformed", "entry %llu: %s", (unsigned long long)n, tds_error_message());
			break;
		}
		if (lf.index != n) {
			rc = fail(r, true, n, "entry_reordered", "entry at position %llu says it is entry %llu: entries were "
				  "swapped or moved", (unsigned long long)n, (unsigned long long)lf.index);
			break;
		}
		if ((col = columns(st, &lf))) {
			rc = fail(r, true, n, "column_mismatch", "entry %llu: column %s differs from the hashed entry: the "
				  "search columns were edited", (unsigned long long)n, col);
			break;
		}
		if ((rc = tds_ledger_leaf_hash(v->suite, leaf, len, h)) || (rc = check_node(v, 0, n, h)))
			break;
		/* fold into the frontier, checking each node it completes */
		unsigned l = 0;
		while (n >> l & 1) {
			if ((rc = tds_ledger_node_hash(v->suite, fr[l], h, h)))
				break;
			l++;
			if ((rc = check_node(v, l, n >> l, h)))
				break;
		}
		if (rc)
			break;
		memcpy(fr[l], h, TDS_HASH_LEN);
		n++;
		r->entries = n;
		if (next < ncp && cps[next].size == n) {
			fold(v->suite, n, fr, root);
			for (; next < ncp && cps[next].size == n; next++) {
				if (memcmp(root, cps[next].root, TDS_HASH_LEN) != 0) {
					char want[TDS_HASH_HEX_LEN + 1];
					hex(root, want);
					rc = fail(r, true, good, "checkpoint_root_mismatch", "checkpoint #%lld is signed over another "
						  "root than entries 0..%llu hash to (%s): an entry in %llu..%llu was changed together "
						  "with the stored tree", (long long)cps[next].id, (unsigned long long)(n - 1), want,
						  (unsigned long long)good, (unsigned long long)(n - 1));
					break;
				}
				r->checkpoints++;
			}
			good = n;
			if (rc)
				break;
		}
	}
	if (!rc && s != SQLITE_DONE)
		rc = tds_store_error(v->db, "reading ledger entries");
	sqlite3_finalize(st);
	if (rc)
		return rc;
	fold(v->suite, n, fr, r->root);
	if (next < ncp)
		return fail(r, true, n, "entry_missing", "checkpoint #%lld covers %llu entries but only %llu are stored: "
			    "entries %llu.. were deleted", (long long)cps[next].id, (unsigned long long)cps[next].size,
			    (unsigned long long)n, (unsigned long long)n);
	/* nothing may be stored beyond the last entry */
	if ((rc = tds_store_prepare(v->db, "SELECT idx FROM ledger_nodes WHERE level = ? AND idx >= ? LIMIT 1", &st)))
		return rc;
	for (unsigned l = 0; l < TL_LEVELS && !rc; l++) {
		sqlite3_bind_int(st, 1, (int)l);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)(n >> l));
		s = sqlite3_step(st);
		if (s == SQLITE_ROW)
			rc = l == 0 ? fail(r, true, n, "entry_missing", "the tree has a leaf for entry %llu but the entry "
					   "is gone: entries at the end were deleted", (unsigned long long)n)
				    : fail(r, false, n, "tree_node_extra", "the stored tree has node (level %u, index %llu) "
					   "beyond the %llu entries", l, (unsigned long long)sqlite3_column_int64(st, 0),
					   (unsigned long long)n);
		else if (s != SQLITE_DONE)
			rc = tds_store_error(v->db, "reading ledger tree nodes");
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

static int consistency(vstate *v, const vcp *cps, size_t ncp)
{
	tds_ledger_proof p;
	for (size_t i = 1; i < ncp; i++) {
		int rc = tl_consistency(v->suite, cps[i - 1].size, cps[i].size, db_node_fn, v, &p);
		if (rc)
			return rc;
		if (tds_ledger_verify_consistency(v->suite, cps[i - 1].size, cps[i].size, cps[i - 1].root, cps[i].root,
						  p.hash[0], p.len) != 0)
			return fail(v->r, false, 0, "inconsistent_checkpoints", "checkpoints #%lld (size %llu) and #%lld "
				    "(size %llu) are not consistent: %s", (long long)cps[i - 1].id,
				    (unsigned long long)cps[i - 1].size, (long long)cps[i].id,
				    (unsigned long long)cps[i].size, tds_error_message());
	}
	return 0;
}

static int meta(sqlite3 *db, const char *key, char *out, size_t cap)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT value FROM ledger_meta WHERE key = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	else
		out[0] = 0;
	if (s != SQLITE_ROW && s != SQLITE_DONE)
		rc = tds_store_error(db, "reading ledger metadata");
	sqlite3_finalize(st);
	return rc;
}

int tds_ledger_verify(tds_store *store, const tds_ledger_verify_opts *o, tds_ledger_verify_result *r)
{
	memset(r, 0, sizeof *r);
	r->ok = true;
	if (!store || !o || !o->key)
		return tds_error_set(TDS_EINVAL, "invalid_argument", "ledger verification needs the store and the "
				     "log's public key");
	vstate v = {.db = tds_store_conn(store), .suite = tds_key_suite(o->key), .r = r};
	if (!v.db)
		return tds_error_code();
	tds_ledger_empty_root(v.suite, r->root);
	int version = 0, rc = tds_store_version(store, "ledger", &version);
	if (rc || version == 0)
		return rc; /* no ledger yet: nothing to contradict */
	char suite[16], origin[TDS_LEDGER_ORIGIN_MAX + 1];
	if ((rc = meta(v.db, "suite", suite, sizeof suite)) || (rc = meta(v.db, "origin", origin, sizeof origin)))
		return rc;
	if (strcmp(suite, tds_suite_name(v.suite)) != 0) {
		fail(r, false, 0, "suite_mismatch", "the ledger uses suite \"%s\" but the public key is of suite %s",
		     suite, tds_suite_name(v.suite));
		return 0;
	}
	if (o->origin && strcmp(o->origin, origin) != 0) {
		fail(r, false, 0, "wrong_origin", "the ledger's origin is \"%s\", expected \"%s\"", origin, o->origin);
		return 0;
	}
	/* one read transaction: a consistent snapshot even while the node appends */
	if ((rc = tds_store_exec(v.db, "BEGIN")))
		return rc;
	vcp *cps = NULL;
	size_t ncp = 0;
	rc = load_checkpoints(&v, origin, o->key, &cps, &ncp);
	if (!rc)
		rc = stream(&v, cps, ncp);
	for (unsigned l = 0; l < TL_LEVELS; l++)
		sqlite3_finalize(v.level[l]);
	if (!rc)
		rc = consistency(&v, cps, ncp);
	sqlite3_finalize(v.node_get);
	free(cps);
	char *ignored = NULL;
	sqlite3_exec(v.db, "COMMIT", NULL, NULL, &ignored);
	sqlite3_free(ignored);
	return rc > 0 ? 0 : rc;
}
