/*
 * contract.c — the module handle and the operator's contract records (contract.h sections 1-2).
 */
#include "contract/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char MIGRATION_SQL[] = "CREATE TABLE contracts (id TEXT PRIMARY KEY) STRICT;";

const char *ct_core_migration(void) { return MIGRATION_SQL; }

int tds_contract_open(tds_store *store, const tds_contract_opts *opts, tds_contract **out)
{
	*out = NULL;
	if (!store || !opts || !opts->ledger)
		return tds_error_set(TDS_EINVAL, "invalid_options", "the contract module needs a store and a ledger");
	tds_contract *ct = calloc(1, sizeof *ct);
	if (!ct)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	ct->store = store;
	ct->ledger = opts->ledger;
	ct->catalog = opts->catalog;
	ct->key = opts->key;
	ct->suite = opts->suite;
	ct->is_operator = opts->is_operator;
	snprintf(ct->node_id, sizeof ct->node_id, "%s", opts->node_id ? opts->node_id : "");
	pthread_mutex_init(&ct->lock, NULL);
	const tds_migration all[] = {{1, ct_core_migration()}, {2, ct_enforce_migration()}};
	int rc = tds_store_migrate(store, "contract", all, TDS_ARRAY_LEN(all));
	if (rc) {
		tds_contract_free(ct);
		return rc;
	}
	*out = ct;
	return 0;
}

void tds_contract_free(tds_contract *ct)
{
	if (!ct)
		return;
	pthread_mutex_destroy(&ct->lock);
	free(ct);
}
