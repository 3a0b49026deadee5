/*
 * contract — digital contracts (数字合约) on the operator and their enforcement on connectors: templates
 * per product form, orders, drafts, negotiation rounds with deterministic clause checks, signing by
 * both parties with their suite keys, the operator's countersignature and filing (备案), distribution
 * to both connectors with acknowledgements (双渠道下发), authorization tokens (使用授权令牌), and the
 * connector's enforcement point: decisions through the policy module's PDP with counters that survive
 * restarts, violations, automatic freezes (权限冻结) and violation reports.
 *
 * This header is the module's whole public face, in sections:
 *   1. Module handle
 *   2. Templates, orders, drafts, negotiation, signing, filing  (operator; contract.c, template.c,
 *      negotiate.c, sign.c)
 *   3. Distribution and acknowledgement                       (connector pulls; operator records acks)
 *   4. Authorization tokens                                   (token.c)
 *   5. Enforcement: decisions, counters, violations, freezes  (enforce.c)
 *   6. HTTP routes                                            (routes.c)
 *
 * Depends on catalog (orders name fused-catalog product entries) and policy (the ODRL engine);
 * docs/contracts.md explains the model and every decision.
 */
#ifndef TDS_CONTRACT_H
#define TDS_CONTRACT_H

#include "base/base.h"
#include "catalog/catalog.h"
#include "crypto/crypto.h"
#include "ledger/ledger.h"
#include "policy/policy.h"
#include "store/store.h"

#include <stdbool.h>

/* ================================================================================================
 * 1. Module handle
 * ================================================================================================ */

typedef struct tds_contract tds_contract;

typedef struct tds_contract_opts {
	tds_ledger *ledger;     /* evidence (borrowed, required) */
	tds_catalog *catalog;   /* fused catalog entries (borrowed; the operator's) */
	const tds_key *key;     /* this node's key (borrowed): the operator countersigns and signs tokens
				   with it; a connector signs its party's signature with it */
	const char *node_id;    /* actor node of evidence entries (copied) */
	tds_suite suite;
	bool is_operator;
} tds_contract_opts;

/* Runs the "contract" migrations. */
int tds_contract_open(tds_store *store, const tds_contract_opts *opts, tds_contract **out);
void tds_contract_free(tds_contract *ct); /* NULL is fine */

/* ================================================================================================
 * 6. HTTP routes (routes.c)
 * ================================================================================================ */

struct tds_router;

int tds_contract_routes(tds_contract *ct, struct tds_router *api, struct tds_router *data);

#endif
