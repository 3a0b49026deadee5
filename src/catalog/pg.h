/*
 * pg.h — the PostgreSQL backend of database sources (pg.c), private to the catalog. Kept apart so
 * that only pg.c includes libpq's header.
 */
#ifndef TDS_CATALOG_PG_H
#define TDS_CATALOG_PG_H

#include "base/base.h"

typedef struct cat_pg cat_pg;

/* Connects read-only (catalog.h section 4); errors as tds_dbsrc_open_pg. */
int cat_pg_open(const char *conninfo, cat_pg **out);
void cat_pg_close(cat_pg *p); /* NULL is fine */
int cat_pg_tables(cat_pg *p, json_t **out);
int cat_pg_profile(cat_pg *p, const char *table, json_t **out);
int cat_pg_rows(cat_pg *p, const char *table, int limit, json_t **out);
/* The connection string without its password (new malloc'd string), for display; NULL on a
 * string libpq cannot parse (error set). */
char *cat_pg_redact(const char *conninfo);

/* dbsrc.c: table names from callers (1-255 bytes of UTF-8, no control characters). */
int cat_check_table_name(const char *t);

#endif
