/*
 * log.c — the ledger of a node: schema, opening, the two append paths (inside a caller's transaction;
 * durable group commit through one committer thread), the committed tree in memory, roots and
 * proofs from stored nodes, checkpoints, entries, sealed payloads and crypto-shredding.
 *
 * The in-memory tree is a cache of the *committed* log only: its size, the frontier of that size
 * (the complete subtrees its binary digits name) and every node at level >= TL_CACHE_LEVEL. It
 * advances in two ways, both from committed data: the committer publishes its batch after COMMIT
 * returns, and any reader outside a transaction that finds more level-0 nodes in the database than
 * it knows (appends committed by callers' transactions) catches up from the database. An append
 * inside a caller's transaction therefore never touches it: it works on a private copy of the
 * frontier, so a rollback leaves nothing to undo and the next append gets the same index.
 *
 * Writers are serialised by SQLite (BEGIN IMMEDIATE); each one reads the tree size from the database
 * inside its write transaction, so the committer and callers' transactions can interleave freely.
 * Not here: Merkle arithmetic (merkle.c), note formats (note.c), whole-log verification (verify.c).
 */
#include "ledger/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_BATCH 8192
#define BULK_CHUNK 65536
#define CKPT_FRAMES 1000 /* WAL frames that make the checkpointer run (SQLite's default threshold) */
#define SEAL_VERSION 0x01
#define PAYLOAD_AAD "tds-ledger-payload/v1"
#define DK_AAD "tds-ledger-dk/v1\n"
#define KEK_INFO "tds-ledger-kek/v1"

static const tds_migration MIGRATIONS[] = {
    {1, "CREATE TABLE ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;"
	"CREATE TABLE ledger_entries ("
	"  idx INTEGER PRIMARY KEY,"
	"  leaf BLOB NOT NULL,"
	"  type TEXT NOT NULL,"
	"  actor_org TEXT, actor_account TEXT, actor_node TEXT,"
	"  time_ms INTEGER NOT NULL,"
	"  subjects TEXT NOT NULL,"
	"  payload BLOB NOT NULL) STRICT;"
	"CREATE TABLE ledger_data_keys ("
	"  idx INTEGER NOT NULL, reader TEXT NOT NULL, wrapped BLOB NOT NULL,"
	"  PRIMARY KEY (idx, reader)) STRICT, WITHOUT ROWID;"
	"CREATE TABLE ledger_nodes ("
	"  level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,"
	"  PRIMARY KEY (level, idx)) STRICT, WITHOUT ROWID;"
	"CREATE TABLE ledger_checkpoints ("
	"  id INTEGER PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL,"
	"  issued_ms INTEGER NOT NULL) STRICT;"
	"CREATE TABLE ledger_cosignatures ("
	"  checkpoint_id INTEGER NOT NULL REFERENCES ledger_checkpoints(id), witness TEXT NOT NULL,"
	"  key_id INTEGER NOT NULL, timestamp INTEGER NOT NULL, line TEXT NOT NULL, received_ms INTEGER NOT NULL,"
	"  PRIMARY KEY (checkpoint_id, witness, key_id)) STRICT, WITHOUT ROWID;"
	"CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries"
	"  BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;"
	"CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries"
	"  BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;"
	"CREATE TRIGGER ledger_nodes_no_update BEFORE UPDATE ON ledger_nodes"
	"  BEGIN SELECT RAISE(ABORT, 'ledger tree nodes are append-only'); END;"
	"CREATE TRIGGER ledger_nodes_no_delete BEFORE DELETE ON ledger_nodes"
	"  BEGIN SELECT RAISE(ABORT, 'ledger tree nodes are append-only'); END;"},
};

#define SQL_SIZE "SELECT idx FROM ledger_nodes WHERE level = 0 ORDER BY idx DESC LIMIT 1"
#define SQL_NODE "SELECT hash FROM ledger_nodes WHERE level = ? AND idx = ?"
#define SQL_INS_ENTRY                                                                                   \
	"INSERT INTO ledger_entries(idx, leaf, type, actor_org, actor_account, actor_node, time_ms, subjects," \
	" payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
#define SQL_INS_KEY "INSERT INTO ledger_data_keys(idx, reader, wrapped) VALUES (?, '" TDS_LEDGER_READER_NODE "', ?)"
#define SQL_INS_NODE "INSERT INTO ledger_nodes(level, idx, hash) VALUES (?, ?, ?)"

/* ------------------------------------------------------------------------------------------------
 * Validation and leaf bytes
 * ---------------------------------------------------------------------------------------------- */

static int bad_entry(const char *field, const char *rule)
{
	return tds_error_set(TDS_EINVAL, "invalid_entry", "entry field '%s' %s", field, rule);
}

static bool id_char(unsigned char c) { return c >= 0x21 && c <= 0x7e && c != '"' && c != '\\'; }

static bool id_ok(const char *s, size_t n)
{
	if (n == 0 || n > TDS_LEDGER_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!id_char((unsigned char)s[i]))
			return false;
	return true;
}

static bool type_ok(const char *s, size_t n)
{
	if (n == 0 || n > TDS_LEDGER_TYPE_MAX || s[0] < 'a' || s[0] > 'z' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (s[i - 1] == '.')
				return false;
		} else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
			return false;
		}
	}
	return true;
}

/* ---- the strict leaf parser (ledger.h invariant 3) ---- */

typedef struct cursor {
	const char *p, *end, *start;
} cursor;

static bool lit(cursor *c, const char *s, size_t n)
{
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
		return false;
	c->p += n;
	return true;
}
#define LIT(c, s) lit(c, s, sizeof(s) - 1)

static bool str(cursor *c, tl_str *out, size_t max)
{
	if (!LIT(c, "\""))
		return false;
	const char *s = c->p;
	while (c->p < c->end && *c->p != '"') {
		if (!id_char((unsigned char)*c->p))
			return false;
		c->p++;
	}
	size_t n = (size_t)(c->p - s);
	if (c->p == c->end || n == 0 || n > max)
		return false;
	c->p++;
	out->p = s;
	out->n = n;
	return true;
}

static bool str_or_null(cursor *c, tl_str *out, size_t max)
{
	if (LIT(c, "null")) {
		out->p = NULL;
		out->n = 0;
		return true;
	}
	return str(c, out, max);
}

static bool u63(cursor *c, uint64_t *out)
{
	const char *s = c->p;
	uint64_t v = 0;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		uint64_t d = (uint64_t)(*c->p - '0');
		if (v > (UINT64_C(9223372036854775807) - d) / 10)
			return false;
		v = v * 10 + d;
		c->p++;
	}
	size_t n = (size_t)(c->p - s);
	if (n == 0 || (n > 1 && s[0] == '0'))
		return false;
	*out = v;
	return true;
}

static bool hex64(cursor *c, const char **out)
{
	if (c->end - c->p < TDS_HASH_HEX_LEN)
		return false;
	for (int i = 0; i < TDS_HASH_HEX_LEN; i++) {
		char ch = c->p[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return false;
	}
	*out = c->p;
	c->p += TDS_HASH_HEX_LEN;
	return true;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ", as tds_time_format writes it. */
static bool time_shape(const tl_str *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	if (t->n != sizeof shape - 1)
		return false;
	for (size_t i = 0; i < t->n; i++)
		if (shape[i] == 'd' ? (t->p[i] < '0' || t->p[i] > '9') : t->p[i] != shape[i])
			return false;
	return true;
}

static int leaf_fail(const cursor *c, const char *expected)
{
	return tds_error_set(TDS_EINVAL, "invalid_leaf", "leaf bytes are not a TDS evidence entry: at offset %zu "
			     "expected %s", (size_t)(c->p - c->start), expected);
}

int tl_leaf_parse(const char *d, size_t len, tl_leaf *out)
{
	cursor c = {d, d + len, d};
	memset(out, 0, sizeof *out);
	if (!LIT(&c, "{\"actor\":{\"account\":"))
		return leaf_fail(&c, "{\"actor\":{\"account\":");
	if (!str_or_null(&c, &out->account, TDS_LEDGER_ID_MAX))
		return leaf_fail(&c, "actor.account (an id string or null)");
	if (!LIT(&c, ",\"node\":") || !str_or_null(&c, &out->node, TDS_LEDGER_ID_MAX))
		return leaf_fail(&c, ",\"node\": and an id string or null");
	if (!LIT(&c, ",\"org\":") || !str_or_null(&c, &out->org, TDS_LEDGER_ID_MAX))
		return leaf_fail(&c, ",\"org\": and an id string or null");
	if (!LIT(&c, "},\"index\":") || !u63(&c, &out->index))
		return leaf_fail(&c, "},\"index\": and a decimal index");
	if (!LIT(&c, ",\"payload_hash\":\"") || !hex64(&c, &out->payload_hash) || !LIT(&c, "\""))
		return leaf_fail(&c, ",\"payload_hash\": and 64 lower-case hex digits");
	if (!LIT(&c, ",\"subjects\":["))
		return leaf_fail(&c, ",\"subjects\":[");
	out->subjects.p = c.p - 1;
	if (!LIT(&c, "]")) {
		do {
			tl_str s;
			if (out->nsubjects == TDS_LEDGER_SUBJECTS_MAX || !str(&c, &s, TDS_LEDGER_ID_MAX))
				return leaf_fail(&c, "a subject id string (at most 32 subjects)");
			out->nsubjects++;
		} while (LIT(&c, ","));
		if (!LIT(&c, "]"))
			return leaf_fail(&c, "] after the subjects");
	}
	out->subjects.n = (size_t)(c.p - out->subjects.p);
	if (!LIT(&c, ",\"time\":") || !str(&c, &out->time, 32) || !time_shape(&out->time))
		return leaf_fail(&c, ",\"time\": and a time \"YYYY-MM-DDTHH:MM:SS.mmmZ\"");
	if (!LIT(&c, ",\"type\":") || !str(&c, &out->type, TDS_LEDGER_TYPE_MAX) || !type_ok(out->type.p, out->type.n))
		return leaf_fail(&c, ",\"type\": and an entry type such as \"identity.account_created\"");
	if (!LIT(&c, "}") || c.p != c.end)
		return leaf_fail(&c, "the closing } and the end of the leaf");
	return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Preparing an entry (on the caller's thread): validation, leaf text around the index, sealing
 * ---------------------------------------------------------------------------------------------- */

typedef struct tl_prep {
	tds_buf b; /* head | tail | sealed payload | wrapped data key */
	size_t head_len, tail_len, payload_len, wrapped_len;
	size_t subj_off, subj_len; /* the subjects array inside b */
	const char *type, *org, *account, *node; /* borrowed from the caller's entry */
	int64_t time_ms;
} tl_prep;

static int put_id(tds_buf *b, const char *s)
{
	if (!s)
		return tds_buf_puts(b, "null");
	int rc;
	if ((rc = tds_buf_putc(b, '"')) || (rc = tds_buf_puts(b, s)) || (rc = tds_buf_putc(b, '"')))
		return rc;
	return 0;
}

static int seal_blob(tds_suite suite, const uint8_t *key, const uint8_t nonce[TDS_AEAD_NONCE_LEN],
		     const void *aad, size_t aadlen, const void *pt, size_t ptlen, tds_buf *out)
{
	int rc = tds_buf_reserve(out, 1 + TDS_AEAD_NONCE_LEN + ptlen + TDS_AEAD_TAG_LEN);
	if (rc)
		return rc;
	uint8_t *o = (uint8_t *)out->data + out->len;
	o[0] = SEAL_VERSION;
	memcpy(o + 1, nonce, TDS_AEAD_NONCE_LEN);
	if ((rc = tds_aead_seal(suite, key, nonce, aad, aadlen, pt, ptlen, o + 1 + TDS_AEAD_NONCE_LEN)))
		return rc;
	out->len += 1 + TDS_AEAD_NONCE_LEN + ptlen + TDS_AEAD_TAG_LEN;
	out->data[out->len] = 0;
	return 0;
}

static int dk_aad(const uint8_t hash[TDS_HASH_LEN], char aad[64])
{
	size_t n = sizeof DK_AAD - 1;
	memcpy(aad, DK_AAD, n);
	memcpy(aad + n, TDS_LEDGER_READER_NODE "\n", sizeof TDS_LEDGER_READER_NODE);
	n += sizeof TDS_LEDGER_READER_NODE;
	memcpy(aad + n, hash, TDS_HASH_LEN);
	return (int)(n + TDS_HASH_LEN);
}

#define RND_LEN (TDS_AEAD_KEY_MAX + 2 * TDS_AEAD_NONCE_LEN) /* data key, payload nonce, wrap nonce */

/* Validates and prepares one entry. rnd: RND_LEN fresh random bytes, used (and wiped) here. */
static int prepare(tds_ledger *lg, const tds_ledger_entry_in *e, tl_prep *p, uint8_t *rnd)
{
	memset(p, 0, sizeof *p);
	if (!lg->has_kek)
		return tds_error_set(TDS_EINVAL, "no_master_key",
				     "this ledger was opened without the node master key, so it cannot seal payloads; "
				     "open it with tds_ledger_opts.master");
	if (!e->type || !type_ok(e->type, strlen(e->type)))
		return bad_entry("type", "must be 1-64 bytes of lower-case letters, digits and '_' in dot-separated "
				 "segments, starting with a letter (e.g. \"identity.account_created\")");
	const char *const names[3] = {"actor.org", "actor.account", "actor.node"};
	const char *const vals[3] = {e->actor.org, e->actor.account, e->actor.node};
	for (int i = 0; i < 3; i++)
		if (vals[i] && !id_ok(vals[i], strlen(vals[i])))
			return bad_entry(names[i], "must be null or 1-128 printable ASCII characters without quotes, "
					 "backslashes or spaces (an id)");
	if (e->nsubjects > TDS_LEDGER_SUBJECTS_MAX || (e->nsubjects && !e->subjects))
		return bad_entry("subjects", "may list at most 32 ids");
	for (size_t i = 0; i < e->nsubjects; i++)
		if (!e->subjects[i] || !id_ok(e->subjects[i], strlen(e->subjects[i])))
			return bad_entry("subjects", "must hold ids of 1-128 printable ASCII characters without quotes, "
					 "backslashes or spaces");
	char when[TDS_TIME_MAX];
	p->time_ms = e->time_ms ? e->time_ms : tds_now_ms();
	if (tds_time_format(p->time_ms, when))
		return bad_entry("time_ms", "must be a time in years 0001-9999");
	p->type = e->type;
	p->org = e->actor.org;
	p->account = e->actor.account;
	p->node = e->actor.node;

	/* payload: canonical JSON, its hash, sealed under a fresh data key wrapped under the KEK */
	tds_buf pj = TDS_BUF_INIT;
	uint8_t ph[TDS_HASH_LEN];
	size_t klen = tds_aead_key_len(lg->suite);
	char hex[TDS_HASH_HEX_LEN + 1], aad[64];
	int rc;
	if (e->payload)
		rc = tds_json_canonical(e->payload, &pj);
	else
		rc = tds_buf_puts(&pj, "null");
	if (rc) {
		tds_error_wrap("entry field 'payload': ");
		goto done;
	}
	if (pj.len > TDS_LEDGER_PAYLOAD_MAX) {
		rc = tds_error_set(TDS_ETOOBIG, "payload_too_large", "entry payload of %zu bytes exceeds %d bytes; "
				   "store large data elsewhere and put its hash in the payload", pj.len, TDS_LEDGER_PAYLOAD_MAX);
		goto done;
	}
	if ((rc = tds_hash(lg->suite, pj.data, pj.len, ph)) ||
	    (rc = tds_buf_reserve(&p->b, 400 + TDS_LEDGER_ID_MAX * (3 + e->nsubjects) + pj.len + 2 * TDS_SEAL_OVERHEAD)))
		goto done;
	for (int i = 0; i < TDS_HASH_LEN; i++) {
		hex[2 * i] = "0123456789abcdef"[ph[i] >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[ph[i] & 15];
	}
	hex[TDS_HASH_HEX_LEN] = 0;

	/* head: {"actor":{…},"index":   tail: ,"payload_hash":…} */
	tds_buf *b = &p->b;
	if ((rc = tds_buf_puts(b, "{\"actor\":{\"account\":")) || (rc = put_id(b, e->actor.account)) ||
	    (rc = tds_buf_puts(b, ",\"node\":")) || (rc = put_id(b, e->actor.node)) ||
	    (rc = tds_buf_puts(b, ",\"org\":")) || (rc = put_id(b, e->actor.org)) || (rc = tds_buf_puts(b, "},\"index\":")))
		goto done;
	p->head_len = b->len;
	if ((rc = tds_buf_puts(b, ",\"payload_hash\":\"")) || (rc = tds_buf_puts(b, hex)) ||
	    (rc = tds_buf_puts(b, "\",\"subjects\":")))
		goto done;
	p->subj_off = b->len;
	if ((rc = tds_buf_putc(b, '[')))
		goto done;
	for (size_t i = 0; i < e->nsubjects; i++)
		if ((i && (rc = tds_buf_putc(b, ','))) || (rc = put_id(b, e->subjects[i])))
			goto done;
	if ((rc = tds_buf_putc(b, ']')))
		goto done;
	p->subj_len = b->len - p->subj_off;
	if ((rc = tds_buf_printf(b, ",\"time\":\"%s\",\"type\":\"%s\"}", when, e->type)))
		goto done;
	p->tail_len = b->len - p->head_len;
	if ((rc = seal_blob(lg->suite, rnd, rnd + klen, PAYLOAD_AAD, sizeof PAYLOAD_AAD - 1, pj.data, pj.len, b)))
		goto done;
	p->payload_len = b->len - p->head_len - p->tail_len;
	int alen = dk_aad(ph, aad);
	if ((rc = seal_blob(lg->suite, lg->kek, rnd + klen + TDS_AEAD_NONCE_LEN, aad, (size_t)alen, rnd, klen, b)))
		goto done;
	p->wrapped_len = b->len - p->head_len - p->tail_len - p->payload_len;
done:
	memset(rnd, 0, RND_LEN);
	if (pj.data)
		memset(pj.data, 0, pj.len);
	tds_buf_free(&pj);
	if (rc)
		tds_buf_free(&p->b);
	return rc;
}

static void prep_free(tl_prep *p)
{
	if (p->b.data)
		memset(p->b.data, 0, p->b.len);
	tds_buf_free(&p->b);
}

/* ------------------------------------------------------------------------------------------------
 * Per-thread statements
 * ---------------------------------------------------------------------------------------------- */

static void thread_clear(tl_thread *t)
{
	sqlite3_finalize(t->node_get);
	sqlite3_finalize(t->size_get);
	sqlite3_finalize(t->ins_entry);
	sqlite3_finalize(t->ins_key);
	sqlite3_finalize(t->ins_node);
	sqlite3_finalize(t->begin);
	sqlite3_finalize(t->commit);
	t->node_get = t->size_get = t->ins_entry = t->ins_key = t->ins_node = t->begin = t->commit = NULL;
}

static void thread_exit(void *arg)
{
	tl_thread *t = arg;
	tds_ledger *lg = t->lg;
	pthread_mutex_lock(&lg->tlock);
	if (t->prev)
		t->prev->next = t->next;
	else
		lg->threads = t->next;
	if (t->next)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&lg->tlock);
	thread_clear(t);
	free(t);
}

/* The calling thread's statement cache for `db` (NULL: the thread's store connection). */
static tl_thread *thread_get(tds_ledger *lg, sqlite3 *db)
{
	if (!db && !(db = tds_store_conn(lg->store)))
		return NULL;
	tl_thread *t = pthread_getspecific(lg->tkey);
	if (t && t->db == db)
		return t;
	if (!t) {
		if (!(t = calloc(1, sizeof *t))) {
			tds_error_set(TDS_ENOMEM, NULL, "out of memory");
			return NULL;
		}
		t->lg = lg;
		pthread_mutex_lock(&lg->tlock);
		t->next = lg->threads;
		if (lg->threads)
			lg->threads->prev = t;
		lg->threads = t;
		pthread_mutex_unlock(&lg->tlock);
		pthread_setspecific(lg->tkey, t);
	} else {
		thread_clear(t);
	}
	t->db = db;
	return t;
}

static int stmt(tl_thread *t, sqlite3_stmt **st, const char *sql)
{
	if (*st)
		return 0;
	return tds_store_prepare(t->db, sql, st);
}

/* Committed-or-visible tree size: number of level-0 nodes on this connection's view. */
static int db_size(tl_thread *t, uint64_t *n)
{
	int rc = stmt(t, &t->size_get, SQL_SIZE);
	if (rc)
		return rc;
	int s = sqlite3_step(t->size_get);
	if (s == SQLITE_ROW)
		*n = (uint64_t)sqlite3_column_int64(t->size_get, 0) + 1;
	else if (s == SQLITE_DONE)
		*n = 0;
	else
		rc = tds_store_error(t->db, "reading the ledger size");
	sqlite3_reset(t->size_get);
	return rc;
}

static int corrupt(unsigned level, uint64_t index)
{
	return tds_error_set(TDS_EIO, "ledger_corrupt", "ledger tree node (level %u, index %llu) is missing or "
			     "malformed in the database; run `tds ledger verify --dir DIR` to locate the damage",
			     level, (unsigned long long)index);
}

static int db_node(tl_thread *t, unsigned level, uint64_t index, uint8_t out[TDS_HASH_LEN])
{
	int rc = stmt(t, &t->node_get, SQL_NODE);
	if (rc)
		return rc;
	sqlite3_bind_int(t->node_get, 1, (int)level);
	sqlite3_bind_int64(t->node_get, 2, (sqlite3_int64)index);
	int s = sqlite3_step(t->node_get);
	if (s == SQLITE_ROW && sqlite3_column_bytes(t->node_get, 0) == TDS_HASH_LEN)
		memcpy(out, sqlite3_column_blob(t->node_get, 0), TDS_HASH_LEN);
	else if (s == SQLITE_ROW || s == SQLITE_DONE)
		rc = corrupt(level, index);
	else
		rc = tds_store_error(t->db, "reading a ledger tree node");
	sqlite3_reset(t->node_get);
	return rc;
}

/* ------------------------------------------------------------------------------------------------
 * The committed tree in memory
 * ---------------------------------------------------------------------------------------------- */

static int vec_push(tl_hashvec *v, const uint8_t h[TDS_HASH_LEN])
{
	if (v->n == v->cap) {
		uint64_t cap = v->cap ? v->cap * 2 : 1024;
		void *p = realloc(v->h, (size_t)cap * TDS_HASH_LEN);
		if (!p)
			return tds_error_set(TDS_ENOMEM, NULL, "out of memory caching ledger tree nodes");
		v->h = p;
		v->cap = cap;
	}
	memcpy(v->h[v->n++], h, TDS_HASH_LEN);
	return 0;
}

/* Node source over the memory cache, then the connection of `th`. */
typedef struct tl_src {
	tds_ledger *lg;
	tl_thread *th;
	bool locked; /* the caller holds lg->lock */
} tl_src;

static int src_node(void *ctx, unsigned level, uint64_t index, uint8_t out[TDS_HASH_LEN])
{
	tl_src *s = ctx;
	tds_ledger *lg = s->lg;
	bool hit = false;
	if (!s->locked)
		pthread_mutex_lock(&lg->lock);
	if (level >= TL_CACHE_LEVEL && level < TL_LEVELS && index < lg->cache[level].n) {
		memcpy(out, lg->cache[level].h[index], TDS_HASH_LEN);
		hit = true;
	} else if (level < TL_LEVELS && (lg->size >> level & 1) && index == (lg->size >> level) - 1) {
		memcpy(out, lg->frontier[level], TDS_HASH_LEN);
		hit = true;
	}
	if (!s->locked)
		pthread_mutex_unlock(&lg->lock);
	return hit ? 0 : db_node(s->th, level, index, out);
}

/* Brings the memory state up to the committed size n (> lg->size), reading only nodes below n, which
 * are committed and immutable. Called with lg->lock held. All or nothing. */
static int catch_up(tds_ledger *lg, tl_thread *th, uint64_t n)
{
	sqlite3_stmt *st = NULL;
	uint8_t frontier[TL_LEVELS][TDS_HASH_LEN];
	int rc = tds_store_prepare(th->db, "SELECT idx, hash FROM ledger_nodes WHERE level = ? AND idx >= ? AND idx < ? "
					   "ORDER BY idx", &st);
	for (unsigned l = TL_CACHE_LEVEL; !rc && l < TL_LEVELS && (n >> l) > lg->cache[l].n; l++) {
		uint64_t lo = lg->cache[l].n, hi = n >> l;
		sqlite3_bind_int(st, 1, (int)l);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)lo);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)hi);
		int s;
		while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
			if ((uint64_t)sqlite3_column_int64(st, 0) != lg->cache[l].n ||
			    sqlite3_column_bytes(st, 1) != TDS_HASH_LEN)
				rc = corrupt(l, lg->cache[l].n);
			else
				rc = vec_push(&lg->cache[l], sqlite3_column_blob(st, 1));
		}
		if (!rc && s != SQLITE_DONE)
			rc = tds_store_error(th->db, "reading ledger tree nodes");
		if (!rc && lg->cache[l].n != hi)
			rc = corrupt(l, lg->cache[l].n);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	/* the frontier of n: upper levels from the (extended) cache, lower ones from memory when the
	 * node is the same as in the old frontier, else from the database */
	uint64_t old = lg->size;
	for (unsigned l = 0; !rc && l < TL_LEVELS; l++) {
		if (!(n >> l & 1))
			continue;
		if (l >= TL_CACHE_LEVEL)
			memcpy(frontier[l], lg->cache[l].h[(n >> l) - 1], TDS_HASH_LEN);
		else if ((old >> l) == (n >> l))
			memcpy(frontier[l], lg->frontier[l], TDS_HASH_LEN);
		else
			rc = db_node(th, l, (n >> l) - 1, frontier[l]);
	}
	if (rc) {
		for (unsigned l = TL_CACHE_LEVEL; l < TL_LEVELS; l++)
			lg->cache[l].n = old >> l;
		return rc;
	}
	memcpy(lg->frontier, frontier, sizeof frontier);
	lg->size = n;
	return 0;
}

/* Catches the memory state up with the database when the calling thread's connection is outside a
 * transaction (inside one it could see uncommitted rows). */
static int sync_committed(tds_ledger *lg, tl_thread *th)
{
	if (!sqlite3_get_autocommit(th->db))
		return 0;
	uint64_t n = 0;
	int rc = db_size(th, &n);
	if (rc)
		return rc;
	pthread_mutex_lock(&lg->lock);
	if (n > lg->size)
		rc = catch_up(lg, th, n);
	else if (n < lg->size)
		rc = tds_error_set(TDS_EIO, "ledger_corrupt", "the database holds %llu ledger leaves but %llu were "
				   "committed: tree nodes were deleted; run `tds ledger verify`",
				   (unsigned long long)n, (unsigned long long)lg->size);
	pthread_mutex_unlock(&lg->lock);
	return rc;
}

static void mem_root(tds_ledger *lg, uint8_t out[TDS_HASH_LEN])
{
	/* caller holds lg->lock; the frontier is all in memory */
	bool have = false;
	for (unsigned l = 0; l < TL_LEVELS; l++)
		if (lg->size >> l & 1) {
			if (have)
				tds_ledger_node_hash(lg->suite, lg->frontier[l], out, out);
			else
				memcpy(out, lg->frontier[l], TDS_HASH_LEN);
			have = true;
		}
	if (!have)
		tds_ledger_empty_root(lg->suite, out);
}

/* ------------------------------------------------------------------------------------------------
 * Writing: a private copy of the tree state advances as entries and nodes are inserted
 * ---------------------------------------------------------------------------------------------- */

typedef struct tl_tree {
	uint64_t size;
	uint8_t frontier[TL_LEVELS][TDS_HASH_LEN];
} tl_tree;

typedef struct tl_rec { /* a node at a cached level, to publish after commit */
	uint64_t index;
	unsigned level;
	uint8_t hash[TDS_HASH_LEN];
} tl_rec;

static int ins_node(tl_thread *t, unsigned level, uint64_t index, const uint8_t h[TDS_HASH_LEN])
{
	int rc = stmt(t, &t->ins_node, SQL_INS_NODE);
	if (rc)
		return rc;
	sqlite3_bind_int(t->ins_node, 1, (int)level);
	sqlite3_bind_int64(t->ins_node, 2, (sqlite3_int64)index);
	sqlite3_bind_blob(t->ins_node, 3, h, TDS_HASH_LEN, SQLITE_STATIC);
	if (sqlite3_step(t->ins_node) != SQLITE_DONE)
		rc = tds_store_error(t->db, "writing a ledger tree node");
	sqlite3_reset(t->ins_node);
	return rc;
}

/* Adds leaf hash h as leaf t->size: writes node (0, i) and every node it completes. */
static int push_leaf(tds_ledger *lg, tl_thread *th, tl_tree *t, const uint8_t h[TDS_HASH_LEN], tds_buf *recs)
{
	uint64_t i = t->size;
	uint8_t cur[TDS_HASH_LEN];
	unsigned l = 0;
	int rc = ins_node(th, 0, i, h);
	memcpy(cur, h, TDS_HASH_LEN);
	while (!rc && (i >> l & 1)) {
		if ((rc = tds_ledger_node_hash(lg->suite, t->frontier[l], cur, cur)))
			break;
		l++;
		rc = ins_node(th, l, i >> l, cur);
		if (!rc && l >= TL_CACHE_LEVEL && recs) {
			tl_rec r = {.index = i >> l, .level = l};
			memcpy(r.hash, cur, TDS_HASH_LEN);
			rc = tds_buf_append(recs, &r, sizeof r);
		}
	}
	if (rc)
		return rc;
	memcpy(t->frontier[l], cur, TDS_HASH_LEN);
	t->size++;
	return 0;
}

static int put_u64(tds_buf *b, uint64_t v)
{
	char d[20];
	size_t n = 0;
	do
		d[sizeof d - 1 - n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	return tds_buf_append(b, d + sizeof d - n, n);
}

/* Writes one prepared entry at index t->size (leaf is a scratch buffer). */
static int write_entry(tds_ledger *lg, tl_thread *th, tl_tree *t, const tl_prep *p, tds_buf *leaf, tds_buf *recs)
{
	uint64_t idx = t->size;
	uint8_t h[TDS_HASH_LEN];
	int rc;
	tds_buf_reset(leaf);
	if ((rc = tds_buf_append(leaf, p->b.data, p->head_len)) ||
	    (rc = put_u64(leaf, idx)) ||
	    (rc = tds_buf_append(leaf, p->b.data + p->head_len, p->tail_len)) ||
	    (rc = stmt(th, &th->ins_entry, SQL_INS_ENTRY)) || (rc = stmt(th, &th->ins_key, SQL_INS_KEY)))
		return rc;
	sqlite3_stmt *st = th->ins_entry;
	const char *pay = p->b.data + p->head_len + p->tail_len;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)idx);
	sqlite3_bind_blob(st, 2, leaf->data, (int)leaf->len, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, p->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, p->org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, p->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, p->node, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, p->time_ms);
	sqlite3_bind_text(st, 8, p->b.data + p->subj_off, (int)p->subj_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 9, pay, (int)p->payload_len, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(th->db, "writing a ledger entry");
	sqlite3_reset(st);
	if (rc)
		return rc;
	st = th->ins_key;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)idx);
	sqlite3_bind_blob(st, 2, pay + p->payload_len, (int)p->wrapped_len, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(th->db, "writing a ledger data key");
	sqlite3_reset(st);
	if (rc || (rc = tds_ledger_leaf_hash(lg->suite, leaf->data, leaf->len, h)))
		return rc;
	return push_leaf(lg, th, t, h, recs);
}

/* The writer's starting state inside its write transaction: the memory state when it matches the
 * size this connection sees, else the frontier read through the cache and the connection. */
static int tree_start(tds_ledger *lg, tl_thread *th, bool committed_view, tl_tree *t)
{
	uint64_t n = 0;
	int rc = db_size(th, &n);
	if (rc)
		return rc;
	pthread_mutex_lock(&lg->lock);
	if (committed_view && n > lg->size)
		rc = catch_up(lg, th, n);
	if (!rc && n < lg->size)
		rc = tds_error_set(TDS_ELIMIT, "database_busy",
				   "this transaction reads an older snapshot than the ledger's committed size %llu; run "
				   "ledger appends in a write transaction (tds_store_tx, BEGIN IMMEDIATE)",
				   (unsigned long long)lg->size);
	if (!rc && n == lg->size) {
		t->size = n;
		memcpy(t->frontier, lg->frontier, sizeof t->frontier);
		pthread_mutex_unlock(&lg->lock);
		return 0;
	}
	pthread_mutex_unlock(&lg->lock);
	if (rc)
		return rc;
	tl_src src = {lg, th, false};
	t->size = n;
	for (unsigned l = 0; l < TL_LEVELS; l++)
		if ((n >> l & 1) && (rc = src_node(&src, l, (n >> l) - 1, t->frontier[l])))
			return rc;
	return 0;
}

/* After a commit: make a batch visible if nothing else advanced the memory state meanwhile (if
 * something did, it caught up from the database, which already holds this batch). */
static int publish(tds_ledger *lg, uint64_t start, const tl_tree *t, const tds_buf *recs)
{
	int rc = 0;
	pthread_mutex_lock(&lg->lock);
	if (lg->size == start) {
		const tl_rec *r = (const tl_rec *)recs->data;
		size_t n = recs->len / sizeof *r;
		for (size_t i = 0; i < n && !rc; i++)
			rc = vec_push(&lg->cache[r[i].level], r[i].hash);
		if (rc) { /* out of memory: drop the cache back to the old size; readers use the database */
			for (unsigned l = TL_CACHE_LEVEL; l < TL_LEVELS; l++)
				lg->cache[l].n = start >> l;
		} else {
			memcpy(lg->frontier, t->frontier, sizeof lg->frontier);
			lg->size = t->size;
		}
	}
	pthread_mutex_unlock(&lg->lock);
	return rc;
}

/* ------------------------------------------------------------------------------------------------
 * Append inside the caller's transaction
 * ---------------------------------------------------------------------------------------------- */

int tds_ledger_append_tx(tds_ledger *lg, sqlite3 *db, const tds_ledger_entry_in *e, uint64_t *index)
{
	if (!db || sqlite3_get_autocommit(db))
		return tds_error_set(TDS_EINVAL, "no_transaction",
				     "tds_ledger_append_tx must run inside the caller's write transaction (tds_store_tx)");
	tl_prep p;
	tl_tree t;
	tds_buf leaf = TDS_BUF_INIT;
	uint8_t rnd[RND_LEN];
	int rc = tds_random(rnd, sizeof rnd);
	if (rc || (rc = prepare(lg, e, &p, rnd)))
		return rc;
	tl_thread *th = thread_get(lg, db);
	if (!th)
		rc = tds_error_code();
	else if (!(rc = tree_start(lg, th, false, &t)))
		rc = write_entry(lg, th, &t, &p, &leaf, NULL);
	if (!rc && index)
		*index = t.size - 1;
	tds_buf_free(&leaf);
	prep_free(&p);
	return rc;
}

/* ------------------------------------------------------------------------------------------------
 * Group commit
 * ---------------------------------------------------------------------------------------------- */

struct tl_request {
	tl_request *next;
	tl_request *wake[2]; /* callers of the same batch this one wakes (a binary tree of wake-ups) */
	sem_t done;
	tl_prep *preps; /* n prepared entries, appended with consecutive indexes */
	size_t n;
	tl_prep one;
	uint64_t index; /* of the first */
	int rc;
	char err_name[48];
	char err_msg[512];
};

static int commit_batch(tds_ledger *lg, tl_thread *th, tl_request *batch, tds_buf *leaf, tds_buf *recs)
{
	tl_tree t;
	int rc = tds_store_exec(th->db, "BEGIN IMMEDIATE");
	if (rc)
		return rc;
	tds_buf_reset(recs);
	rc = tree_start(lg, th, true, &t);
	uint64_t start = t.size;
	for (tl_request *r = batch; r && !rc; r = r->next) {
		r->index = t.size;
		for (size_t i = 0; i < r->n && !rc; i++)
			rc = write_entry(lg, th, &t, &r->preps[i], leaf, recs);
	}
	if (!rc)
		rc = tds_store_exec(th->db, "COMMIT");
	if (rc) {
		char *ignored = NULL;
		sqlite3_exec(th->db, "ROLLBACK", NULL, NULL, &ignored);
		sqlite3_free(ignored);
		return rc;
	}
	publish(lg, start, &t, recs); /* failure only drops the cache: the batch is committed */
	return 0;
}

/* WAL checkpoints off the commit path: the committer's connection does not checkpoint by itself
 * (its WAL hook replaces SQLite's auto-checkpoint); once a commit leaves CKPT_FRAMES or more frames
 * in the WAL, this thread copies them into the database with a PASSIVE checkpoint, on its own
 * connection, while the committer goes on appending. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	tds_ledger *lg = arg;
	(void)db;
	(void)name;
	if (frames >= CKPT_FRAMES && !atomic_exchange(&lg->ckpt_pending, true))
		sem_post(&lg->ckpt_work);
	return SQLITE_OK;
}

static void *checkpointer_main(void *arg)
{
	tds_ledger *lg = arg;
	pthread_setname_np(pthread_self(), "tds-ledger-ckpt");
	sqlite3 *db = tds_store_conn(lg->store);
	if (db && lg->nondurable)
		tds_store_exec(db, "PRAGMA synchronous=OFF");
	for (;;) {
		while (sem_wait(&lg->ckpt_work) != 0)
			; /* EINTR */
		if (atomic_load(&lg->stop))
			break;
		int rc = db ? sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) : SQLITE_OK;
		if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY) /* busy: another connection is checkpointing */
			tds_log(TDS_LOG_WARN, "ledger_wal_checkpoint_failed", "WAL checkpoint failed: %s", sqlite3_errmsg(db));
		atomic_store(&lg->ckpt_pending, false);
	}
	return NULL;
}

/* Takes every queued request, oldest first. Callers push onto a lock-free stack (one atomic
 * exchange-and-compare each); the committer takes the whole stack at once and reverses it. */
static tl_request *take_all(tds_ledger *lg)
{
	tl_request *r = atomic_exchange(&lg->queue, NULL), *fifo = NULL;
	while (r) {
		tl_request *next = r->next;
		r->next = fifo;
		fifo = r;
		r = next;
	}
	return fifo;
}

/* Hands a finished batch (or several: a list linked by next) to its callers: records the outcome,
 * then wakes them as a binary tree — the first caller wakes two more, each of which wakes two
 * more…, so the wake-up system calls run on the callers' threads and the last of n callers is awake
 * after log2(n) hops. `slots` is scratch space for the tree. */
static void finish(tl_request *list, int rc, const char *name, const char *msg, tl_request ***slots, size_t *cap)
{
	size_t n = 0;
	for (tl_request *r = list; r; r = r->next, n++) {
		r->rc = rc;
		if (rc) {
			snprintf(r->err_name, sizeof r->err_name, "%s", name);
			snprintf(r->err_msg, sizeof r->err_msg, "%s", msg);
		}
		r->wake[0] = r->wake[1] = NULL;
	}
	if (!list)
		return;
	if (n > *cap) {
		tl_request **p = realloc(*slots, n * sizeof *p);
		if (p) {
			*slots = p;
			*cap = n;
		}
	}
	if (n > *cap) { /* no memory for the tree: each caller wakes the next */
		for (tl_request *r = list; r; r = r->next)
			r->wake[0] = r->next;
	} else {
		size_t i = 0;
		for (tl_request *r = list; r; r = r->next)
			(*slots)[i++] = r;
		for (i = 1; i < n; i++) /* request i is woken by request (i-1)/2 */
			(*slots)[(i - 1) / 2]->wake[(i - 1) % 2] = (*slots)[i];
	}
	sem_post(&list->done); /* from here on the requests belong to their callers */
}

/* Durability, pipelined. The committer's connection commits with synchronous=NORMAL: COMMIT writes
 * the WAL frames but does not wait for the disk. The syncer thread then calls fdatasync on the WAL
 * file and only after it returns wakes the callers of every batch committed before that call began,
 * so an append still returns only once its entry is on disk — but the committer writes the next
 * batch while the disk syncs the last one, instead of idling through every fsync. fdatasync flushes
 * the file's data whichever descriptor wrote it. Checkpoints and appends inside callers'
 * transactions commit with synchronous=FULL on their own connections, which syncs the same WAL
 * (everything before it included), so nothing signed or acknowledged can be lost. */
static int wal_sync(tds_ledger *lg)
{
	struct stat a, b;
	/* the WAL file exists while the committer's connection is open; reopen if it was replaced */
	if (lg->wal_fd >= 0 && (fstat(lg->wal_fd, &a) != 0 || stat(lg->wal_path, &b) != 0 || a.st_ino != b.st_ino ||
				a.st_dev != b.st_dev)) {
		close(lg->wal_fd);
		lg->wal_fd = -1;
	}
	if (lg->wal_fd < 0 && (lg->wal_fd = open(lg->wal_path, O_RDWR | O_CLOEXEC)) < 0)
		return tds_error_set(TDS_EIO, "fsync_failed", "cannot open %s to make ledger entries durable: %s",
				     lg->wal_path, strerror(errno));
	if (fdatasync(lg->wal_fd) != 0)
		return tds_error_set(TDS_EIO, "fsync_failed", "the entries were committed but could not be made "
				     "durable: fdatasync(%s) failed: %s; the disk is failing", lg->wal_path, strerror(errno));
	return 0;
}

static void *syncer_main(void *arg)
{
	tds_ledger *lg = arg;
	tl_request **slots = NULL;
	size_t cap = 0;
	pthread_setname_np(pthread_self(), "tds-ledger-sync");
	for (;;) {
		pthread_mutex_lock(&lg->slock);
		while (!lg->synced_head && !lg->sync_stop)
			pthread_cond_wait(&lg->scond, &lg->slock);
		tl_request *list = lg->synced_head;
		lg->synced_head = lg->synced_tail = NULL;
		bool stop = lg->sync_stop;
		pthread_mutex_unlock(&lg->slock);
		if (list) {
			int rc = wal_sync(lg);
			finish(list, rc, tds_error_name(), tds_error_message(), &slots, &cap);
			tds_error_clear();
		} else if (stop) {
			break;
		}
	}
	if (lg->wal_fd >= 0)
		close(lg->wal_fd);
	lg->wal_fd = -1;
	free(slots);
	return NULL;
}

/* The committer: commits everything queued while the previous batch was being committed (at most
 * max_batch entries per transaction, whole requests), then hands the batch to the syncer (or, when
 * nondurable, straight back to its callers). */
static void *committer_main(void *arg)
{
	tds_ledger *lg = arg;
	tds_buf leaf = TDS_BUF_INIT, recs = TDS_BUF_INIT;
	tl_request *pending = NULL, **slots = NULL;
	size_t cap = 0;
	pthread_setname_np(pthread_self(), "tds-ledger");
	tl_thread *th = thread_get(lg, NULL);
	int setup = th ? 0 : tds_error_code();
	if (!setup)
		setup = tds_store_exec(th->db, lg->nondurable ? "PRAGMA synchronous=OFF" : "PRAGMA synchronous=NORMAL");
	if (!setup)
		setup = tds_store_exec(th->db, "PRAGMA cache_size=-65536");
	if (!setup)
		sqlite3_wal_hook(th->db, wal_hook, lg);
	char setup_name[48] = "", setup_msg[512] = "";
	if (setup) {
		snprintf(setup_name, sizeof setup_name, "%s", tds_error_name());
		snprintf(setup_msg, sizeof setup_msg, "%s", tds_error_message());
	}
	for (;;) {
		if (!pending) {
			while (sem_wait(&lg->work) != 0)
				; /* EINTR */
			pending = take_all(lg);
			if (!pending) {
				if (atomic_load(&lg->stop) && !atomic_load(&lg->queue))
					break;
				continue; /* a wake-up for requests an earlier take already got */
			}
		}
		tl_request *batch = pending, *last = batch;
		for (size_t n = batch->n; last->next && n + last->next->n <= lg->max_batch;) {
			last = last->next;
			n += last->n;
		}
		pending = last->next;
		last->next = NULL;

		int rc = setup ? setup : commit_batch(lg, th, batch, &leaf, &recs);
		if (rc || lg->nondurable) {
			finish(batch, rc, setup ? setup_name : tds_error_name(), setup ? setup_msg : tds_error_message(),
			       &slots, &cap);
		} else { /* committed: durable once the syncer's next fdatasync returns */
			pthread_mutex_lock(&lg->slock);
			if (lg->synced_tail)
				lg->synced_tail->next = batch;
			else
				lg->synced_head = batch;
			lg->synced_tail = last;
			pthread_cond_signal(&lg->scond);
			pthread_mutex_unlock(&lg->slock);
		}
		tds_error_clear();
		if (!pending) { /* whatever arrived during the commit makes the next batch */
			pending = take_all(lg);
			if (!pending && atomic_load(&lg->stop))
				break;
		}
	}
	tds_buf_free(&leaf);
	tds_buf_free(&recs);
	free(slots);
	return NULL;
}

static int start_committer(tds_ledger *lg)
{
	int rc = 0;
	pthread_mutex_lock(&lg->qlock);
	if (!lg->committer_started) {
		int started = 0;
		if (pthread_create(&lg->checkpointer, NULL, checkpointer_main, lg) == 0 && ++started &&
		    pthread_create(&lg->syncer, NULL, syncer_main, lg) == 0 && ++started &&
		    pthread_create(&lg->committer, NULL, committer_main, lg) == 0) {
			lg->committer_started = true;
		} else {
			pthread_mutex_lock(&lg->slock);
			lg->sync_stop = true;
			pthread_cond_signal(&lg->scond);
			pthread_mutex_unlock(&lg->slock);
			if (started == 2)
				pthread_join(lg->syncer, NULL);
			atomic_store(&lg->stop, true);
			sem_post(&lg->ckpt_work);
			if (started >= 1)
				pthread_join(lg->checkpointer, NULL);
			atomic_store(&lg->stop, false);
			lg->sync_stop = false;
			rc = tds_error_set(TDS_EIO, "thread_failed", "cannot start the ledger's threads");
		}
	}
	pthread_mutex_unlock(&lg->qlock);
	return rc;
}

/* Queues a request and waits until its batch is committed (or failed). */
static int submit(tds_ledger *lg, tl_request *r)
{
	int rc;
	if (!atomic_load_explicit(&lg->started, memory_order_acquire)) {
		if ((rc = start_committer(lg)))
			return rc;
		atomic_store_explicit(&lg->started, true, memory_order_release);
	}
	sem_init(&r->done, 0, 0);
	tl_request *head = atomic_load(&lg->queue);
	do
		r->next = head;
	while (!atomic_compare_exchange_weak(&lg->queue, &head, r));
	if (!head) /* the stack was empty: the committer may be asleep */
		sem_post(&lg->work);
	while (sem_wait(&r->done) != 0)
		; /* EINTR */
	for (int i = 0; i < 2; i++)
		if (r->wake[i])
			sem_post(&r->wake[i]->done);
	sem_destroy(&r->done);
	if (r->rc)
		return tds_error_set(r->rc, r->err_name[0] ? r->err_name : NULL, "%s", r->err_msg);
	return 0;
}

int tds_ledger_append(tds_ledger *lg, const tds_ledger_entry_in *e, uint64_t *index)
{
	tl_request r;
	memset(&r, 0, sizeof r);
	uint8_t rnd[RND_LEN];
	int rc = tds_random(rnd, sizeof rnd);
	if (rc || (rc = prepare(lg, e, &r.one, rnd)))
		return rc;
	r.preps = &r.one;
	r.n = 1;
	rc = submit(lg, &r);
	prep_free(&r.one);
	if (!rc && index)
		*index = r.index;
	return rc;
}

int tds_ledger_append_batch(tds_ledger *lg, const tds_ledger_entry_in *e, size_t n, uint64_t *first)
{
	if (n == 0 || n > TDS_LEDGER_BATCH_MAX)
		return tds_error_set(TDS_EINVAL, "invalid_batch", "a batch holds 1-%d entries, not %zu",
				     TDS_LEDGER_BATCH_MAX, n);
	tl_request r;
	memset(&r, 0, sizeof r);
	if (!(r.preps = calloc(n, sizeof *r.preps)))
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	r.n = n;
	enum { RND_CHUNK = 64 }; /* one call to the DRBG per 64 entries */
	uint8_t rnd[RND_CHUNK * RND_LEN];
	int rc = 0;
	size_t ready = 0;
	for (; ready < n && !rc; ready++) {
		if (ready % RND_CHUNK == 0 && (rc = tds_random(rnd, sizeof rnd)))
			break;
		if ((rc = prepare(lg, &e[ready], &r.preps[ready], rnd + ready % RND_CHUNK * RND_LEN)))
			tds_error_wrap("batch entry %zu: ", ready);
	}
	memset(rnd, 0, sizeof rnd);
	if (!rc)
		rc = submit(lg, &r);
	for (size_t i = 0; i < ready; i++)
		prep_free(&r.preps[i]);
	free(r.preps);
	if (!rc && first)
		*first = r.index;
	return rc;
}

/* ------------------------------------------------------------------------------------------------
 * Bulk leaf hashes (benchmarks, tests)
 * ---------------------------------------------------------------------------------------------- */

typedef struct bulk_ctx {
	tds_ledger *lg;
	const uint8_t *hashes;
	size_t n;
	tl_tree t;
	uint64_t start;
	tds_buf recs;
} bulk_ctx;

static int bulk_tx(sqlite3 *db, void *arg)
{
	bulk_ctx *c = arg;
	tl_thread *th = thread_get(c->lg, db);
	if (!th)
		return tds_error_code();
	int rc = tree_start(c->lg, th, true, &c->t);
	c->start = c->t.size;
	tds_buf_reset(&c->recs);
	for (size_t i = 0; i < c->n && !rc; i++)
		rc = push_leaf(c->lg, th, &c->t, c->hashes + i * TDS_HASH_LEN, &c->recs);
	return rc;
}

int tds_ledger_append_leaf_hashes(tds_ledger *lg, const uint8_t *hashes, size_t n)
{
	sqlite3 *db = tds_store_conn(lg->store);
	if (!db)
		return tds_error_code();
	if (!sqlite3_get_autocommit(db))
		return tds_error_set(TDS_EINVAL, "in_transaction", "tds_ledger_append_leaf_hashes commits by itself; "
				     "do not call it inside a transaction");
	bulk_ctx c = {.lg = lg};
	int rc = 0;
	for (size_t done = 0; done < n && !rc; done += c.n) {
		c.hashes = hashes + done * TDS_HASH_LEN;
		c.n = n - done < BULK_CHUNK ? n - done : BULK_CHUNK;
		if (!(rc = tds_store_tx(lg->store, bulk_tx, &c)))
			rc = publish(lg, c.start, &c.t, &c.recs);
	}
	tds_buf_free(&c.recs);
	return rc;
}

/* ------------------------------------------------------------------------------------------------
 * Opening and closing
 * ---------------------------------------------------------------------------------------------- */

static int meta_get(sqlite3 *db, const char *key, char *out, size_t cap, bool *found)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT value FROM ledger_meta WHERE key = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	*found = s == SQLITE_ROW;
	if (*found)
		snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	else if (s != SQLITE_DONE)
		rc = tds_store_error(db, "reading ledger metadata");
	sqlite3_finalize(st);
	return rc;
}

static int meta_set(sqlite3 *db, const char *key, const char *value)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "INSERT INTO ledger_meta(key, value) VALUES (?, ?)", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "writing ledger metadata");
	sqlite3_finalize(st);
	return rc;
}

typedef struct meta_ctx {
	tds_ledger *lg;
	const char *origin;
} meta_ctx;

static int meta_tx(sqlite3 *db, void *arg)
{
	meta_ctx *m = arg;
	char suite[16], origin[TDS_LEDGER_ORIGIN_MAX + 1];
	bool found;
	int rc;
	if ((rc = meta_get(db, "suite", suite, sizeof suite, &found)))
		return rc;
	if (!found)
		rc = meta_set(db, "suite", tds_suite_name(m->lg->suite));
	else if (strcmp(suite, tds_suite_name(m->lg->suite)) != 0)
		rc = tds_error_set(TDS_ECONFLICT, "suite_mismatch", "this ledger was created with suite %s, not %s",
				   suite, tds_suite_name(m->lg->suite));
	if (rc || (rc = meta_get(db, "origin", origin, sizeof origin, &found)))
		return rc;
	if (!found && !m->origin)
		return tds_error_set(TDS_EINVAL, "no_origin", "a new ledger needs an origin (tds_ledger_opts.origin, "
				     "e.g. \"tds.local/<node id>\")");
	if (!found)
		rc = meta_set(db, "origin", m->origin);
	else if (m->origin && strcmp(origin, m->origin) != 0)
		rc = tds_error_set(TDS_ECONFLICT, "origin_mismatch", "this ledger's origin is \"%s\", not \"%s\"; a "
				   "log keeps its origin for life", origin, m->origin);
	snprintf(m->lg->origin, sizeof m->lg->origin, "%s", found ? origin : m->origin);
	return rc;
}

static int load_state(tds_ledger *lg)
{
	tl_thread *th = thread_get(lg, NULL);
	if (!th)
		return tds_error_code();
	uint64_t n = 0;
	int rc = db_size(th, &n);
	if (!rc && n > 0) {
		pthread_mutex_lock(&lg->lock);
		rc = catch_up(lg, th, n);
		pthread_mutex_unlock(&lg->lock);
	}
	return rc;
}

int tds_ledger_open(const tds_ledger_opts *o, tds_ledger **out)
{
	*out = NULL;
	if (!o || !o->store || !tds_suite_valid(o->suite))
		return tds_error_set(TDS_EINVAL, "invalid_argument", "tds_ledger_open needs a store and a suite");
	if (o->origin && (strlen(o->origin) == 0 || strlen(o->origin) > TDS_LEDGER_ORIGIN_MAX))
		return tds_error_set(TDS_EINVAL, "invalid_origin", "origin must be 1-%d bytes", TDS_LEDGER_ORIGIN_MAX);
	int rc;
	if (o->origin) {
		tds_ledger_head probe = {.size = 0};
		tds_buf b = TDS_BUF_INIT;
		snprintf(probe.origin, sizeof probe.origin, "%s", o->origin);
		rc = tds_ledger_checkpoint_body(&probe, &b); /* validates the origin */
		tds_buf_free(&b);
		if (rc)
			return rc;
	}
	if (o->key && (rc = tds_key_check_suite(o->key, o->suite)))
		return rc;
	if (o->key && !tds_key_has_private(o->key))
		return tds_error_set(TDS_EINVAL, "no_private_key", "the ledger signs checkpoints: give it the node's "
				     "private key, or NULL to open it read-only");
	tds_ledger *lg = calloc(1, sizeof *lg);
	if (!lg)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	lg->store = o->store;
	lg->suite = o->suite;
	lg->key = o->key;
	lg->nondurable = o->nondurable;
	lg->max_batch = o->max_batch ? o->max_batch : DEFAULT_BATCH;
	pthread_mutex_init(&lg->lock, NULL);
	pthread_mutex_init(&lg->qlock, NULL);
	pthread_mutex_init(&lg->tlock, NULL);
	sem_init(&lg->work, 0, 0);
	sem_init(&lg->ckpt_work, 0, 0);
	pthread_mutex_init(&lg->slock, NULL);
	pthread_cond_init(&lg->scond, NULL);
	pthread_mutex_init(&lg->sign_lock, NULL);
	lg->wal_fd = -1;
	if (pthread_key_create(&lg->tkey, thread_exit) != 0) {
		pthread_mutex_destroy(&lg->lock);
		pthread_mutex_destroy(&lg->qlock);
		pthread_mutex_destroy(&lg->tlock);
		sem_destroy(&lg->work);
		sem_destroy(&lg->ckpt_work);
		pthread_mutex_destroy(&lg->slock);
		pthread_cond_destroy(&lg->scond);
		pthread_mutex_destroy(&lg->sign_lock);
		free(lg);
		return tds_error_set(TDS_EIO, NULL, "cannot create a thread key");
	}
	meta_ctx m = {lg, o->origin};
	if ((rc = tds_store_migrate(o->store, "ledger", MIGRATIONS, TDS_ARRAY_LEN(MIGRATIONS))) ||
	    (rc = tds_store_tx(o->store, meta_tx, &m)))
		goto fail;
	const char *file = sqlite3_db_filename(tds_store_conn(o->store), "main");
	if (!file || !*file || snprintf(lg->wal_path, sizeof lg->wal_path, "%s-wal", file) >= (int)sizeof lg->wal_path) {
		rc = tds_error_set(TDS_EINVAL, "invalid_store", "the ledger needs an on-disk database in WAL mode");
		goto fail;
	}
	if (o->master) {
		size_t klen = tds_aead_key_len(o->suite);
		if ((rc = tds_hkdf(o->suite, NULL, 0, o->master, TDS_MASTER_KEY_LEN, KEK_INFO, sizeof KEK_INFO - 1,
				   lg->kek, klen)))
			goto fail;
		lg->has_kek = true;
	}
	if ((rc = load_state(lg)))
		goto fail;
	*out = lg;
	return 0;
fail:
	tds_ledger_free(lg);
	return rc;
}

void tds_ledger_free(tds_ledger *lg)
{
	if (!lg)
		return;
	pthread_mutex_lock(&lg->qlock);
	atomic_store(&lg->stop, true);
	bool started = lg->committer_started;
	pthread_mutex_unlock(&lg->qlock);
	if (started) {
		sem_post(&lg->work);
		pthread_join(lg->committer, NULL); /* answers or hands on every queued append first */
		pthread_mutex_lock(&lg->slock);
		lg->sync_stop = true;
		pthread_cond_signal(&lg->scond);
		pthread_mutex_unlock(&lg->slock);
		pthread_join(lg->syncer, NULL);
		sem_post(&lg->ckpt_work);
		pthread_join(lg->checkpointer, NULL);
	}
	pthread_key_delete(lg->tkey);
	pthread_mutex_lock(&lg->tlock);
	for (tl_thread *t = lg->threads, *n; t; t = n) {
		n = t->next;
		thread_clear(t);
		free(t);
	}
	lg->threads = NULL;
	pthread_mutex_unlock(&lg->tlock);
	for (unsigned l = 0; l < TL_LEVELS; l++)
		free(lg->cache[l].h);
	memset(lg->kek, 0, sizeof lg->kek);
	pthread_mutex_destroy(&lg->lock);
	pthread_mutex_destroy(&lg->qlock);
	pthread_mutex_destroy(&lg->tlock);
	sem_destroy(&lg->work);
	sem_destroy(&lg->ckpt_work);
	pthread_mutex_destroy(&lg->slock);
	pthread_cond_destroy(&lg->scond);
	pthread_mutex_destroy(&lg->sign_lock);
	free(lg);
}

tds_suite tds_ledger_suite(const tds_ledger *lg) { return lg->suite; }
const char *tds_ledger_origin(const tds_ledger *lg) { return lg->origin; }

/* ------------------------------------------------------------------------------------------------
 * Sizes, roots, proofs
 * ---------------------------------------------------------------------------------------------- */

/* The calling thread's statements, with the memory state caught up when it may be. */
static tl_thread *reader(tds_ledger *lg)
{
	tl_thread *th = thread_get(lg, NULL);
	if (th && sync_committed(lg, th))
		return NULL;
	return th;
}

int tds_ledger_size(tds_ledger *lg, uint64_t *size, uint8_t root[TDS_HASH_LEN])
{
	if (!reader(lg))
		return tds_error_code();
	pthread_mutex_lock(&lg->lock);
	*size = lg->size;
	if (root)
		mem_root(lg, root);
	pthread_mutex_unlock(&lg->lock);
	return 0;
}

static int check_size(tds_ledger *lg, uint64_t size)
{
	pthread_mutex_lock(&lg->lock);
	uint64_t n = lg->size;
	pthread_mutex_unlock(&lg->lock);
	if (size > n)
		return tds_error_set(TDS_EINVAL, "invalid_size", "tree size %llu is beyond the committed size %llu",
				     (unsigned long long)size, (unsigned long long)n);
	return 0;
}

/* A thread for proofs at `size`: syncs only when the memory state is behind that size. */
static tl_thread *reader_for(tds_ledger *lg, uint64_t size)
{
	pthread_mutex_lock(&lg->lock);
	bool behind = size > lg->size;
	pthread_mutex_unlock(&lg->lock);
	tl_thread *th = behind ? reader(lg) : thread_get(lg, NULL);
	if (th && check_size(lg, size))
		return NULL;
	return th;
}

/* Node reads of one proof share one read transaction (one snapshot, one WAL read lock) when the
 * connection is not already inside a transaction. */
static bool read_begin(tl_thread *th)
{
	if (!sqlite3_get_autocommit(th->db) || stmt(th, &th->begin, "BEGIN") || stmt(th, &th->commit, "COMMIT"))
		return false;
	bool ok = sqlite3_step(th->begin) == SQLITE_DONE;
	sqlite3_reset(th->begin);
	return ok;
}

static void read_end(tl_thread *th, bool began)
{
	if (!began)
		return;
	sqlite3_step(th->commit); /* a read transaction: nothing to lose */
	sqlite3_reset(th->commit);
}

typedef enum { Q_ROOT, Q_INCLUSION, Q_CONSISTENCY } query_kind;

static int query(tds_ledger *lg, query_kind kind, uint64_t a, uint64_t size, tds_ledger_proof *p, uint8_t *root)
{
	tl_thread *th = reader_for(lg, size);
	if (!th)
		return tds_error_code();
	tl_src src = {lg, th, false};
	bool began = read_begin(th);
	int rc = kind == Q_ROOT        ? tl_root(lg->suite, size, src_node, &src, root)
		 : kind == Q_INCLUSION ? tl_inclusion(lg->suite, a, size, src_node, &src, p)
				       : tl_consistency(lg->suite, a, size, src_node, &src, p);
	read_end(th, began);
	return rc;
}

int tds_ledger_root(tds_ledger *lg, uint64_t size, uint8_t root[TDS_HASH_LEN])
{
	return query(lg, Q_ROOT, 0, size, NULL, root);
}

int tds_ledger_inclusion_proof(tds_ledger *lg, uint64_t index, uint64_t size, tds_ledger_proof *out)
{
	out->len = 0;
	if (index >= size)
		return tds_error_set(TDS_EINVAL, "invalid_index", "entry %llu is not in a tree of size %llu",
				     (unsigned long long)index, (unsigned long long)size);
	return query(lg, Q_INCLUSION, index, size, out, NULL);
}

int tds_ledger_consistency_proof(tds_ledger *lg, uint64_t size1, uint64_t size2, tds_ledger_proof *out)
{
	out->len = 0;
	return query(lg, Q_CONSISTENCY, size1, size2, out, NULL);
}

/* ------------------------------------------------------------------------------------------------
 * Checkpoints
 * ---------------------------------------------------------------------------------------------- */

static int latest(sqlite3 *db, tds_buf *note, tds_ledger_head *cp, bool *found)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT note FROM ledger_checkpoints ORDER BY id DESC LIMIT 1", &st);
	if (rc)
		return rc;
	int s = sqlite3_step(st);
	*found = s == SQLITE_ROW;
	if (*found) {
		const char *text = (const char *)sqlite3_column_text(st, 0);
		size_t len = (size_t)sqlite3_column_bytes(st, 0);
		tds_ledger_note nt;
		tds_ledger_head c;
		if (!(rc = tds_ledger_note_parse(text, len, &nt)) &&
		    !(rc = tds_ledger_checkpoint_parse(nt.text, nt.text_len, &c))) {
			if (cp)
				*cp = c;
			if (note)
				rc = tds_buf_append(note, text, len);
		} else {
			tds_error_wrap("stored checkpoint: ");
		}
	} else if (s != SQLITE_DONE) {
		rc = tds_store_error(db, "reading the latest checkpoint");
	}
	sqlite3_finalize(st);
	return rc;
}

int tds_ledger_checkpoint_latest(tds_ledger *lg, tds_buf *note, tds_ledger_head *cp)
{
	sqlite3 *db = tds_store_conn(lg->store);
	bool found;
	if (!db)
		return tds_error_code();
	int rc = latest(db, note, cp, &found);
	if (!rc && !found)
		rc = tds_error_set(TDS_ENOTFOUND, "no_checkpoint", "this ledger has not issued a checkpoint yet");
	return rc;
}

typedef struct cp_ctx {
	tds_ledger *lg;
	tds_buf *note;
	tds_ledger_head *cp;
} cp_ctx;

static int checkpoint_tx(sqlite3 *db, void *arg)
{
	cp_ctx *c = arg;
	tds_ledger *lg = c->lg;
	tds_ledger_head cur, last;
	bool found;
	int rc;
	/* inside BEGIN IMMEDIATE: no writer can commit, and the view is the committed log */
	tl_thread *th = thread_get(lg, db);
	if (!th)
		return tds_error_code();
	uint64_t n = 0;
	if ((rc = db_size(th, &n)))
		return rc;
	pthread_mutex_lock(&lg->lock);
	if (n > lg->size)
		rc = catch_up(lg, th, n);
	if (!rc && n != lg->size)
		rc = tds_error_set(TDS_EIO, "ledger_corrupt", "the database holds fewer ledger leaves than were committed");
	if (!rc) {
		memset(&cur, 0, sizeof cur);
		snprintf(cur.origin, sizeof cur.origin, "%s", lg->origin);
		cur.size = lg->size;
		mem_root(lg, cur.root);
	}
	pthread_mutex_unlock(&lg->lock);
	if (rc || (rc = latest(db, NULL, &last, &found)))
		return rc;
	if (found && last.size == cur.size) {
		if (memcmp(last.root, cur.root, TDS_HASH_LEN) != 0)
			return tds_error_set(TDS_EIO, "ledger_corrupt", "the latest stored checkpoint has size %llu but "
					     "another root; run `tds ledger verify`", (unsigned long long)cur.size);
		if (c->cp)
			*c->cp = last;
		return c->note ? latest(db, c->note, NULL, &found) : 0;
	}
	if (found && last.size > cur.size)
		return tds_error_set(TDS_EIO, "ledger_corrupt", "the latest stored checkpoint has size %llu, beyond "
				     "the log's %llu", (unsigned long long)last.size, (unsigned long long)cur.size);
	tds_buf note = TDS_BUF_INIT;
	sqlite3_stmt *st = NULL;
	if (!(rc = tds_ledger_checkpoint_sign(&cur, lg->key, &note)) &&
	    !(rc = tds_store_prepare(db, "INSERT INTO ledger_checkpoints(size, root, note, issued_ms) VALUES (?, ?, ?, ?)", &st))) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)cur.size);
		sqlite3_bind_blob(st, 2, cur.root, TDS_HASH_LEN, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, note.data, (int)note.len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, tds_now_ms());
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "storing a checkpoint");
	}
	sqlite3_finalize(st);
	if (!rc && c->note)
		rc = tds_buf_append(c->note, note.data, note.len);
	if (!rc && c->cp)
		*c->cp = cur;
	tds_buf_free(&note);
	return rc;
}

int tds_ledger_checkpoint(tds_ledger *lg, tds_buf *note, tds_ledger_head *cp)
{
	if (!lg->key)
		return tds_error_set(TDS_EINVAL, "no_signing_key", "this ledger was opened without the node key, so it "
				     "cannot sign checkpoints");
	sqlite3 *db = tds_store_conn(lg->store);
	if (!db)
		return tds_error_code();
	if (!sqlite3_get_autocommit(db))
		return tds_error_set(TDS_EINVAL, "in_transaction", "issue checkpoints outside a transaction: they "
				     "cover committed entries only");
	cp_ctx c = {lg, note, cp};
	return tds_store_tx(lg->store, checkpoint_tx, &c);
}

/* ------------------------------------------------------------------------------------------------
 * Entries, payloads, shredding
 * ---------------------------------------------------------------------------------------------- */

int tds_ledger_entry_get(tds_ledger *lg, uint64_t index, tds_ledger_entry *out)
{
	memset(out, 0, sizeof *out);
	sqlite3 *db = tds_store_conn(lg->store);
	sqlite3_stmt *st;
	if (!db)
		return tds_error_code();
	int rc = tds_store_prepare(db, "SELECT leaf, payload, EXISTS (SELECT 1 FROM ledger_data_keys k WHERE k.idx = e.idx) "
				       "FROM ledger_entries e WHERE e.idx = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, index > INT64_MAX ? -1 : (sqlite3_int64)index);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		out->index = index;
		out->shredded = sqlite3_column_int(st, 2) == 0;
		const void *leaf = sqlite3_column_blob(st, 0);
		size_t llen = (size_t)sqlite3_column_bytes(st, 0);
		if ((rc = tds_buf_append(&out->leaf, leaf ? leaf : "", llen)) ||
		    (rc = tds_buf_append(&out->payload_sealed, sqlite3_column_blob(st, 1) ? sqlite3_column_blob(st, 1) : "",
					 (size_t)sqlite3_column_bytes(st, 1))) ||
		    (rc = tds_ledger_leaf_hash(lg->suite, out->leaf.data, out->leaf.len, out->leaf_hash)))
			tds_ledger_entry_release(out);
	} else if (s == SQLITE_DONE) {
		rc = tds_error_set(TDS_ENOTFOUND, "no_such_entry", "the ledger has no entry %llu",
				   (unsigned long long)index);
	} else {
		rc = tds_store_error(db, "reading a ledger entry");
	}
	sqlite3_finalize(st);
	return rc;
}

void tds_ledger_entry_release(tds_ledger_entry *e)
{
	tds_buf_free(&e->leaf);
	tds_buf_free(&e->payload_sealed);
}

int tds_ledger_entry_json(const tds_ledger_entry *e, json_t **out)
{
	*out = NULL;
	json_t *o = NULL;
	tds_buf b = TDS_BUF_INIT;
	int rc = tds_json_parse(e->leaf.data ? e->leaf.data : "", e->leaf.len, &o);
	if (rc)
		return tds_error_wrap("ledger entry %llu: ", (unsigned long long)e->index);
	if ((rc = tds_b64_encode(e->payload_sealed.data, e->payload_sealed.len, &b))) {
		json_decref(o);
		return rc;
	}
	json_object_set_new(o, "payload_sealed", json_string(b.data ? b.data : ""));
	tds_buf_free(&b);
	*out = o;
	return 0;
}

/* Opens a blob made by seal_blob. */
static int open_blob(tds_suite suite, const uint8_t *key, const uint8_t *blob, size_t len, const void *aad,
		     size_t aadlen, tds_buf *out)
{
	if (len < 1 + TDS_AEAD_NONCE_LEN + TDS_AEAD_TAG_LEN || blob[0] != SEAL_VERSION)
		return tds_error_set(TDS_ECRYPTO, "decrypt_failed", "sealed ledger data is malformed");
	size_t n = len - 1 - TDS_AEAD_NONCE_LEN - TDS_AEAD_TAG_LEN;
	int rc = tds_buf_reserve(out, n + 1);
	if (rc)
		return rc;
	if ((rc = tds_aead_open(suite, key, blob + 1, aad, aadlen, blob + 1 + TDS_AEAD_NONCE_LEN,
				len - 1 - TDS_AEAD_NONCE_LEN, (uint8_t *)out->data + out->len)))
		return rc;
	out->len += n;
	out->data[out->len] = 0;
	return 0;
}

int tds_ledger_payload_open(tds_ledger *lg, uint64_t index, json_t **payload)
{
	*payload = NULL;
	if (!lg->has_kek)
		return tds_error_set(TDS_EINVAL, "no_master_key", "this ledger was opened without the node master key, "
				     "so it cannot open payloads");
	tds_ledger_entry e;
	int rc = tds_ledger_entry_get(lg, index, &e);
	if (rc)
		return rc;
	sqlite3 *db = tds_store_conn(lg->store);
	sqlite3_stmt *st = NULL;
	tds_buf dk = TDS_BUF_INIT, pt = TDS_BUF_INIT, hb = TDS_BUF_INIT;
	tl_leaf lf;
	uint8_t ph[TDS_HASH_LEN], check[TDS_HASH_LEN];
	char aad[64];
	if ((rc = tl_leaf_parse(e.leaf.data, e.leaf.len, &lf)) || (rc = tds_hex_decode(lf.payload_hash, TDS_HASH_HEX_LEN, &hb)))
		goto done;
	memcpy(ph, hb.data, TDS_HASH_LEN);
	if ((rc = tds_store_prepare(db, "SELECT wrapped FROM ledger_data_keys WHERE idx = ? AND reader = '"
					TDS_LEDGER_READER_NODE "'", &st)))
		goto done;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)index);
	int s = sqlite3_step(st);
	if (s == SQLITE_DONE) {
		rc = tds_error_set(TDS_ENOTFOUND, "payload_shredded", "the payload of ledger entry %llu was "
				   "crypto-shredded: its data key no longer exists", (unsigned long long)index);
		goto done;
	}
	if (s != SQLITE_ROW) {
		rc = tds_store_error(db, "reading a ledger data key");
		goto done;
	}
	int alen = dk_aad(ph, aad);
	if ((rc = open_blob(lg->suite, lg->kek, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), aad,
			    (size_t)alen, &dk)))
		goto done;
	if (dk.len != tds_aead_key_len(lg->suite)) {
		rc = tds_error_set(TDS_ECRYPTO, "decrypt_failed", "ledger data key of entry %llu has the wrong length",
				   (unsigned long long)index);
		goto done;
	}
	if ((rc = open_blob(lg->suite, (const uint8_t *)dk.data, (const uint8_t *)e.payload_sealed.data,
			    e.payload_sealed.len, PAYLOAD_AAD, sizeof PAYLOAD_AAD - 1, &pt)) ||
	    (rc = tds_hash(lg->suite, pt.data, pt.len, check)))
		goto done;
	if (!tds_ct_equal(check, ph, TDS_HASH_LEN)) {
		rc = tds_error_set(TDS_ECRYPTO, "decrypt_failed", "the payload of ledger entry %llu does not match its "
				   "payload_hash", (unsigned long long)index);
		goto done;
	}
	rc = tds_json_parse(pt.data, pt.len, payload);
done:
	sqlite3_finalize(st);
	if (dk.data)
		memset(dk.data, 0, dk.len);
	if (pt.data)
		memset(pt.data, 0, pt.len);
	tds_buf_free(&dk);
	tds_buf_free(&pt);
	tds_buf_free(&hb);
	tds_ledger_entry_release(&e);
	return rc;
}

typedef struct shred_ctx {
	tds_ledger *lg;
	uint64_t index;
	const char *reason;
	const tds_ledger_actor *actor;
	uint64_t evidence;
} shred_ctx;

static int shred_tx(sqlite3 *db, void *arg)
{
	shred_ctx *c = arg;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT 1 FROM ledger_entries WHERE idx = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)c->index);
	int s = sqlite3_step(st);
	sqlite3_finalize(st);
	if (s != SQLITE_ROW)
		return s == SQLITE_DONE ? tds_error_set(TDS_ENOTFOUND, "no_such_entry", "the ledger has no entry %llu",
							 (unsigned long long)c->index)
					: tds_store_error(db, "reading a ledger entry");
	if ((rc = tds_store_prepare(db, "DELETE FROM ledger_data_keys WHERE idx = ?", &st)))
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)c->index);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "deleting ledger data keys");
	sqlite3_finalize(st);
	if (rc)
		return rc;
	json_t *payload = json_pack("{s:I, s:s}", "index", (json_int_t)c->index, "reason", c->reason);
	if (!payload)
		return tds_error_set(TDS_EINVAL, "invalid_reason", "shredding reason must be UTF-8 text");
	tds_ledger_entry_in e = {.type = "ledger.payload_shredded", .payload = payload};
	if (c->actor)
		e.actor = *c->actor;
	rc = tds_ledger_append_tx(c->lg, db, &e, &c->evidence);
	json_decref(payload);
	return rc;
}

int tds_ledger_shred(tds_ledger *lg, sqlite3 *db, uint64_t index, const char *reason,
		     const tds_ledger_actor *actor, uint64_t *evidence)
{
	if (!reason || !*reason)
		return tds_error_set(TDS_EINVAL, "invalid_reason", "say why the payload is shredded (the legal basis)");
	if (index > INT64_MAX)
		return tds_error_set(TDS_ENOTFOUND, "no_such_entry", "the ledger has no entry %llu", (unsigned long long)index);
	if (db && sqlite3_get_autocommit(db))
		return tds_error_set(TDS_EINVAL, "no_transaction", "tds_ledger_shred with a connection must run inside "
				     "the caller's write transaction (or pass NULL to let it open its own)");
	shred_ctx c = {lg, index, reason, actor, 0};
	int rc = db ? shred_tx(db, &c) : tds_store_tx(lg->store, shred_tx, &c);
	if (!rc && evidence)
		*evidence = c.evidence;
	return rc;
}
