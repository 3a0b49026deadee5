/*
 * store.c — SQLite connections, migrations and transactions (see store.h).
 *
 * Each thread gets its own connection (SQLite connections must not be shared across threads without
 * serialisation, and WAL lets readers proceed while one writer commits). Connections live in a
 * per-store list so tds_store_close can close those of threads still alive; a thread-specific key's
 * destructor closes a thread's connection when the thread ends.
 */
#include "store/store.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BUSY_TIMEOUT_MS 10000

typedef struct conn {
	struct conn *next, *prev;
	tds_store *store;
	sqlite3 *db;
	int tx_depth;
} conn;

struct tds_store {
	char *path;
	pthread_key_t key;
	pthread_mutex_t lock;
	conn *conns;
};

static void conn_close(conn *c)
{
	sqlite3_close_v2(c->db);
	free(c);
}

static void conn_unlink(tds_store *s, conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

static void thread_exit(void *p)
{
	conn *c = p;
	tds_store *s = c->store;
	pthread_mutex_lock(&s->lock);
	conn_unlink(s, c);
	pthread_mutex_unlock(&s->lock);
	conn_close(c);
}

int tds_store_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int rc = tds_store_error(db, "executing SQL");
		sqlite3_free(msg);
		return rc;
	}
	return 0;
}

static int open_db(const char *path, sqlite3 **out)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		tds_error_set(TDS_EIO, "database_unavailable", "cannot open database %s: %s", path,
			      db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close_v2(db);
		return TDS_EIO;
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(db, 1);
	rc = tds_store_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
				"PRAGMA trusted_schema=OFF; PRAGMA temp_store=MEMORY;");
	if (rc) {
		tds_error_wrap("database %s: ", path);
		sqlite3_close_v2(db);
		return rc == TDS_EINTERNAL ? TDS_EIO : rc;
	}
	*out = db;
	return 0;
}

int tds_store_open(const char *path, tds_store **out)
{
	*out = NULL;
	tds_store *s = calloc(1, sizeof *s);
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	}
	pthread_mutex_init(&s->lock, NULL);
	if (pthread_key_create(&s->key, thread_exit) != 0) {
		free(s->path);
		free(s);
		return tds_error_set(TDS_EIO, NULL, "cannot create a thread key");
	}
	sqlite3 *db = tds_store_conn(s);
	if (!db || tds_store_exec(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
				      " module TEXT NOT NULL, version INTEGER NOT NULL, applied_at INTEGER NOT NULL,"
				      " PRIMARY KEY (module, version)) STRICT")) {
		int rc = tds_error_code();
		tds_store_close(s);
		return rc ? rc : TDS_EIO;
	}
	*out = s;
	return 0;
}

void tds_store_close(tds_store *s)
{
	if (!s)
		return;
	pthread_key_delete(s->key);
	pthread_mutex_lock(&s->lock);
	for (conn *c = s->conns, *n; c; c = n) {
		n = c->next;
		conn_close(c);
	}
	s->conns = NULL;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_destroy(&s->lock);
	free(s->path);
	free(s);
}

const char *tds_store_path(const tds_store *s) { return s->path; }

static conn *thread_conn(tds_store *s)
{
	conn *c = pthread_getspecific(s->key);
	if (c)
		return c;
	c = calloc(1, sizeof *c);
	if (!c) {
		tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		return NULL;
	}
	if (open_db(s->path, &c->db)) {
		free(c);
		return NULL;
	}
	c->store = s;
	pthread_mutex_lock(&s->lock);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	pthread_mutex_unlock(&s->lock);
	pthread_setspecific(s->key, c);
	return c;
}

sqlite3 *tds_store_conn(tds_store *s)
{
	conn *c = thread_conn(s);
	return c ? c->db : NULL;
}

int tds_store_error(sqlite3 *db, const char *what)
{
	int ext = sqlite3_extended_errcode(db), prim = ext & 0xff;
	const char *msg = sqlite3_errmsg(db);
	switch (prim) {
	case SQLITE_CONSTRAINT:
		return tds_error_set(TDS_ECONFLICT, "conflict", "%s: %s", what, msg);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return tds_error_set(TDS_ELIMIT, "database_busy", "%s: database busy, retry shortly", what);
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_READONLY:
		return tds_error_set(TDS_EIO, "database_error", "%s: %s", what, msg);
	case SQLITE_NOMEM:
		return tds_error_set(TDS_ENOMEM, NULL, "%s: out of memory", what);
	default:
		return tds_error_set(TDS_EINTERNAL, "database_error", "%s: %s", what, msg);
	}
}

int tds_store_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt)
{
	if (sqlite3_prepare_v2(db, sql, -1, stmt, NULL) != SQLITE_OK)
		return tds_store_error(db, "preparing statement");
	return 0;
}

char *tds_store_col_text(tds_arena *a, sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return NULL;
	const unsigned char *t = sqlite3_column_text(st, col);
	return tds_arena_strndup(a, (const char *)t, (size_t)sqlite3_column_bytes(st, col));
}

int tds_store_tx(tds_store *s, tds_tx_fn fn, void *ctx)
{
	conn *c = thread_conn(s);
	if (!c)
		return tds_error_code();
	if (c->tx_depth > 0) { /* join the outer transaction */
		c->tx_depth++;
		int rc = fn(c->db, ctx);
		c->tx_depth--;
		return rc;
	}
	int rc = tds_store_exec(c->db, "BEGIN IMMEDIATE");
	if (rc)
		return rc;
	c->tx_depth = 1;
	rc = fn(c->db, ctx);
	c->tx_depth = 0;
	if (rc) {
		/* keep fn's error: the rollback must not overwrite it */
		char *saved = NULL;
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, &saved);
		sqlite3_free(saved);
		return rc;
	}
	rc = tds_store_exec(c->db, "COMMIT");
	if (rc)
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int tds_store_version(tds_store *s, const char *module, int *version)
{
	sqlite3 *db = tds_store_conn(s);
	sqlite3_stmt *st;
	if (!db)
		return tds_error_code();
	int rc = tds_store_prepare(db, "SELECT COALESCE(MAX(version),0) FROM schema_migrations WHERE module=?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, module, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	else
		rc = tds_store_error(db, "reading schema version");
	sqlite3_finalize(st);
	return rc;
}

typedef struct mig_ctx {
	const char *module;
	const tds_migration *m;
} mig_ctx;

static int apply(sqlite3 *db, void *p)
{
	mig_ctx *mc = p;
	int rc = tds_store_exec(db, mc->m->sql);
	if (rc)
		return tds_error_wrap("migration %s v%d: ", mc->module, mc->m->version);
	sqlite3_stmt *st;
	if ((rc = tds_store_prepare(db, "INSERT INTO schema_migrations(module,version,applied_at) VALUES(?,?,?)", &st)))
		return rc;
	sqlite3_bind_text(st, 1, mc->module, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, mc->m->version);
	sqlite3_bind_int64(st, 3, tds_now_ms());
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "recording migration");
	sqlite3_finalize(st);
	return rc;
}

int tds_store_migrate(tds_store *s, const char *module, const tds_migration *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (m[i].version != (int)i + 1)
			return tds_error_set(TDS_EINVAL, "bad_migration", "%s: migration %zu has version %d, expected %zu",
					     module, i, m[i].version, i + 1);
	int current = 0;
	int rc = tds_store_version(s, module, &current);
	if (rc)
		return rc;
	if (current > (int)n)
		return tds_error_set(TDS_ECONFLICT, "schema_too_new",
				     "database schema of %s is at version %d but this tdsd knows only %zu; upgrade tdsd",
				     module, current, n);
	for (size_t i = (size_t)current; i < n; i++) {
		mig_ctx mc = {module, &m[i]};
		if ((rc = tds_store_tx(s, apply, &mc)))
			return rc;
	}
	return 0;
}
