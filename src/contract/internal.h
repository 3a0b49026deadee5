/*
 * internal.h — what the contract module's files share and nobody else sees.
 */
#ifndef TDS_CONTRACT_INTERNAL_H
#define TDS_CONTRACT_INTERNAL_H

#include "contract/contract.h"

#include <pthread.h>

struct tds_contract {
	tds_store *store;
	tds_ledger *ledger;
	tds_catalog *catalog;
	const tds_key *key;
	char node_id[TDS_ID_MAX + 8];
	tds_suite suite;
	bool is_operator;
	pthread_mutex_t lock;
};

/* Migration 1: templates, orders, contracts, versions, signatures, acks (contract.c). */
const char *ct_core_migration(void);
/* Migration 2: connector-side contracts, counters, violations, freezes, token revocations (enforce.c). */
const char *ct_enforce_migration(void);

#endif
