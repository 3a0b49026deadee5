/*
 * fused.c — the fused catalog (融合目录, catalog.h section 10): the outbox on every node, the
 * operator's entries from every connector and imported public-data items, and search.
 *
 * Not for products or resources themselves (product.c, resource.c), which only add outbox rows.
 */
#include "catalog/internal.h"

#include <stdlib.h>
#include <string.h>

static const char MIGRATION_SQL[] =
    "CREATE TABLE catalog_outbox ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, entry_id TEXT NOT NULL,"
    "  version INTEGER NOT NULL, entry TEXT NOT NULL, created_at INTEGER NOT NULL, sent_at INTEGER) STRICT;"
    "CREATE INDEX catalog_outbox_pending ON catalog_outbox(seq) WHERE sent_at IS NULL;";

const char *cat_fused_migration(void) { return MIGRATION_SQL; }

int cat_outbox_add_tx(tds_catalog *c, sqlite3 *db, const json_t *entry)
{
	(void)c;
	const char *kind = tds_json_str(entry, "kind", NULL), *id = tds_json_str(entry, "id", NULL);
	json_int_t version = json_integer_value(json_object_get(entry, "version"));
	if (!kind || !id || version < 1)
		return tds_error_set(TDS_EINTERNAL, "bad_outbox_entry", "an outbox entry needs kind, id and version");
	char *text = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	sqlite3_stmt *st = NULL;
	int rc = tds_store_prepare(db,
				   "INSERT INTO catalog_outbox (kind, entry_id, version, entry, created_at) VALUES (?,?,?,?,?)",
				   &st);
	if (!rc) {
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, version);
		sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, tds_now_ms());
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "recording an outbox entry");
	}
	sqlite3_finalize(st);
	free(text);
	return rc;
}
