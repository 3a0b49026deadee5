/*
 * internal.h — what the delivery module's files share: the handle, and the pieces of a delivery
 * (the product's approved version and its data, the policy check, the row writer) that query and
 * export both use. Not a public header: other modules include delivery.h only.
 */
#ifndef TDS_DELIVERY_INTERNAL_H
#define TDS_DELIVERY_INTERNAL_H

#include "delivery/delivery.h"

#include "catalog/catalog.h"
#include "contract/contract.h"
#include "ledger/ledger.h"
#include "policy/policy.h"
#include "store/store.h"

struct tds_delivery {
	tds_store *store;
	tds_ledger *ledger;
	tds_catalog *catalog;
	tds_contract *contract;
	char node_id[TDS_ID_MAX];
	tds_suite suite;
	bool is_operator;
	bool has_pseudonym_key;
	uint8_t pseudonym_key[32];
};

/* The product a request names, as its approved version holds it. */
typedef struct dlv_product {
	json_t *product;       /* tds_catalog_product_get */
	json_t *version;       /* tds_catalog_product_version of approved_version */
	const json_t *spec;    /* version.content.spec (borrowed from version) */
	int64_t number;        /* the approved version */
	char path[1024];       /* the resource's data file */
	char table[80];        /* and its table */
} dlv_product;

void dlv_product_free(dlv_product *p);

/* One output column of a delivery: its name, the mask to apply (product mask, then the contract's
 * mask duty), and its index in the statement's result. */
typedef struct dlv_column {
	const char *name;
	int col;
	bool product_mask, duty_mask;
	tds_anon_mask pmask, dmask;
	const uint8_t *ckey; /* the contract's pseudonym key K_c, for "hash" masks (NULL: none needed) */
	tds_suite suite;
} dlv_column;

/* Parses a product field's mask object {"method","first"?,"last"?}; TDS_EUNPROC
 * "mask_rule_unsupported" for hash. */
int dlv_mask_from_json(const json_t *m, tds_anon_mask *out);

/* Binds the caller's parameters (`given`, a JSON object or NULL) to st by name (":name") and by the
 * type each has in `declared` (the product's [{"name","type","required"}]): integer a JSON integer,
 * decimal a decimal string or an integer, boolean true/false, text a string of at most
 * TDS_DELIVERY_PARAM_MAX bytes, date "YYYY-MM-DD" (a calendar date), datetime RFC 3339; an optional
 * parameter not given (or null) is bound NULL. TDS_EINVAL "invalid_parameters" (not an object),
 * "unknown_parameter", "missing_parameter", "invalid_parameter_type". *row_filter: the value of a
 * text parameter named "row_filter", else NULL (borrowed from given). */
int dlv_bind_params(sqlite3_stmt *st, const json_t *declared, const json_t *given, const char **row_filter);

/* Appends v[0..n) as one CSV cell: as is, or quoted ("" for a quote) when it holds , " CR or LF. */
int dlv_csv_cell(tds_buf *b, const char *v, size_t n);

#endif
