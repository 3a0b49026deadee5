/*
 * routes.c — the contract module's HTTP handlers. Translation only: request JSON into the module's
 * inputs, the principal into parties and evidence actors, results into JSON.
 */
#include "contract/internal.h"

#include "http/http.h"

int tds_contract_routes(tds_contract *ct, struct tds_router *api, struct tds_router *data)
{
	(void)ct;
	(void)api;
	(void)data;
	return 0;
}
