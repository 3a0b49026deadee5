/*
 * store — the node's SQLite database: one file per node in its directory, WAL journal, foreign
 * keys on, a busy timeout, synchronous=FULL (a committed transaction survives power loss), one
 * connection per thread, versioned migrations owned by each module, and a transaction helper.
 *
 * Not for domain logic or SQL of other modules: each module owns its tables, creates them through
 * its migrations, and is the only one to read or write them. PostgreSQL may come later behind this
 * same face, which is why callers go through tds_store_* rather than opening files themselves.
 */
#ifndef TDS_STORE_H
#define TDS_STORE_H

#include "base/base.h"

#include <sqlite3.h>

typedef struct tds_store tds_store;

/* One step of a module's schema. Versions start at 1 and increase by one; a migration that has
 * run is never edited (add a new one). */
typedef struct tds_migration {
	int version;
	const char *sql; /* one or more statements */
} tds_migration;

/* Opens (creating if needed) the database at `path`. TDS_EIO when it cannot be opened or is not a
 * database. The store hands out a connection per thread; close it after every user is gone. */
int tds_store_open(const char *path, tds_store **out);
void tds_store_close(tds_store *s);
const char *tds_store_path(const tds_store *s);

/* The calling thread's connection, opened on first use (NULL with the error set on failure).
 * Owned by the store; closed when the thread exits or the store closes. */
sqlite3 *tds_store_conn(tds_store *s);

/* Runs `module`'s migrations that have not run yet, each in its own transaction, recording them in
 * the schema_migrations table. Refuses (TDS_EINVAL) versions that are not 1, 2, 3…, and
 * (TDS_ECONFLICT) a database whose recorded version for the module is newer than this binary's. */
int tds_store_migrate(tds_store *s, const char *module, const tds_migration *m, size_t n);
/* Current schema version of a module (0 if none). */
int tds_store_version(tds_store *s, const char *module, int *version);

/* Runs fn inside BEGIN IMMEDIATE … COMMIT on the thread's connection; rolls back when fn returns
 * non-zero (and returns that code). A busy database is retried within the busy timeout. Nested
 * calls join the outer transaction (fn's failure then fails the outer one). */
typedef int (*tds_tx_fn)(sqlite3 *db, void *ctx);
int tds_store_tx(tds_store *s, tds_tx_fn fn, void *ctx);

/* Prepares a statement (TDS_EINTERNAL naming the SQL error on failure: a bad statement is a bug). */
int tds_store_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt);
/* Converts the connection's last SQLite error into a TDS error: constraint violations become
 * TDS_ECONFLICT, busy/locked TDS_ELIMIT, full disk and I/O TDS_EIO, others TDS_EINTERNAL.
 * `what` says what was being done ("inserting account"). Returns the code. */
int tds_store_error(sqlite3 *db, const char *what);
/* Executes SQL without results (several statements allowed). */
int tds_store_exec(sqlite3 *db, const char *sql);

/* Column text copied into the arena (NULL for SQL NULL). */
char *tds_store_col_text(tds_arena *a, sqlite3_stmt *st, int col);

#endif
