/*
 * enforce.c — the connector's enforcement point (contract.h section 5). Being written: only the
 * migration slot exists yet.
 */
#include "contract/internal.h"

static const char MIGRATION_SQL[] = "CREATE TABLE connector_contracts (id TEXT PRIMARY KEY) STRICT;";

const char *ct_enforce_migration(void) { return MIGRATION_SQL; }
