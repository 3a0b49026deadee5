/*
 * product.c — data products (数据产品, catalog.h section 9). Being written: only the migration slot
 * exists yet.
 */
#include "catalog/internal.h"

static const char MIGRATION_SQL[] = "CREATE TABLE products (id TEXT PRIMARY KEY) STRICT;";

const char *cat_product_migration(void) { return MIGRATION_SQL; }
