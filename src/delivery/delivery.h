/*
 * delivery — the data plane (数据交付): where a contract meets real bytes. The provider's connector
 * answers a consumer's API query (API交付) and exports a dataset product (数据集交付) under the
 * contract: every request passes the policy check (策略检查: the consumer's authorization token,
 * then tds_contract_decide with the requested fields, purpose, environment, client address and row
 * filter), gets the contract's obligations applied (mask duties through the anon module's masking,
 * the product's own field masks for datasets), and is metered and receipted (交付存证): the
 * delivery record, its metering record and its evidence entry (with the content hash of exactly
 * the bytes sent) commit in one transaction before the bytes leave; the consumer confirms receipt
 * with the same hash.
 *
 * Not here: file delivery (one-time links), stream delivery (subscriptions), watermarking and
 * consumer-side storage — see docs/delivery.md, "Not done". Not for HTTP either: routes.c
 * translates requests into the calls below.
 *
 * Denials. A request the contract's terms deny is TDS_EPERM with the decision's code as the
 * error's name (field_not_granted, count_exhausted, purpose_not_allowed, row_filter_not_allowed,
 * action_not_granted, frozen, contract_expired, …) and details {"clause","reason","contract_id",
 * "version","violations","frozen","violation_id"?}: the clause that denied it. The contract module
 * records violations (tds_contract_decide); this module adds nothing to them.
 *
 * Order of checks (cheap and caller-caused first, so bad input never charges a count):
 *   token (401/403/413/429, contract.h section 4) → the product is the token's (403
 *   "product_not_in_contract") and of the route's form (409 "wrong_form"), approved (409
 *   "product_not_approved") → parameters, fields, cursor, limit (400) → the data opened and the
 *   statement prepared → the decision (403 on deny; the count is charged on permit) → obligations
 *   that cannot be met (409 "obligation_unsupported", fail closed) → rows → record and evidence.
 */
#ifndef TDS_DELIVERY_H
#define TDS_DELIVERY_H

#include "anon/anon.h"
#include "base/base.h"
#include "crypto/crypto.h"

#include <stdbool.h>

typedef struct tds_delivery tds_delivery;
typedef struct tds_store tds_store;
typedef struct tds_ledger tds_ledger;
typedef struct tds_catalog tds_catalog;
typedef struct tds_contract tds_contract;
struct tds_router;

#define TDS_DELIVERY_QUERY_MAX_LIMIT 1000   /* rows of one API page */
#define TDS_DELIVERY_QUERY_DEFAULT_LIMIT 100
#define TDS_DELIVERY_EXPORT_MAX_LIMIT 10000 /* rows of one export page */
#define TDS_DELIVERY_EXPORT_DEFAULT_LIMIT 1000
#define TDS_DELIVERY_MAX_FIELDS 64          /* fields one request may name (TDS_POLICY_MAX_FIELDS) */
#define TDS_DELIVERY_PARAM_MAX 4096         /* bytes of one text parameter */

typedef struct tds_delivery_opts {
	tds_ledger *ledger;     /* evidence (borrowed, required) */
	tds_catalog *catalog;   /* products and their data (borrowed, required) */
	tds_contract *contract; /* tokens and decisions (borrowed, required) */
	const char *node_id;    /* evidence actor node (copied) */
	tds_suite suite;        /* content hashes, pseudonyms */
	const uint8_t *pseudonym_key; /* 32 bytes (copied): keys the "hash" masks' pseudonyms; NULL = such
					 masks refuse the delivery (409 obligation_unsupported) */
	bool is_operator;       /* the operator delivers nothing: routes answer 409 not_a_connector */
} tds_delivery_opts;

/* Runs the "delivery" migrations. TDS_EINVAL when a required member is missing. */
int tds_delivery_open(tds_store *store, const tds_delivery_opts *opts, tds_delivery **out);
void tds_delivery_free(tds_delivery *d); /* NULL is fine */

/* Who is asking. */
typedef struct tds_delivery_caller {
	const char *token;       /* the consumer's authorization token (tds1.…), or NULL */
	size_t token_len;
	const char *caller_node; /* node id of a signed caller (connector-bound tokens, receipts), or NULL */
	const char *caller_org;  /* organisation of a signed caller, or NULL */
	const char *peer;        /* client address: the policy's spatial constraints and the
				    token-verification limit */
} tds_delivery_caller;

typedef enum { TDS_DELIVERY_JSON = 0, TDS_DELIVERY_CSV, TDS_DELIVERY_NDJSON } tds_delivery_format;

/* One delivery request. Strings are borrowed for the call. */
typedef struct tds_delivery_request {
	const char *product_id;   /* "prd_…" */
	const json_t *parameters; /* API: {"name": value} typed as the product declares; NULL = none */
	const char *const *fields; /* output fields wanted (required, 1..TDS_DELIVERY_MAX_FIELDS, distinct) */
	size_t n_fields;
	const char *purpose;      /* declared purpose (the policy's purpose constraint) */
	const char *environment;  /* consumer-domain | provider-domain | sandbox-dev | sandbox-prod */
	int limit;                /* rows; 0 = the default */
	const char *cursor;       /* from a previous page's next_cursor; NULL or "" = from the start */
	tds_delivery_format format;
} tds_delivery_request;

/* What was delivered. The caller frees it with tds_delivery_result_free. */
typedef struct tds_delivery_result {
	tds_buf body;                 /* exactly the bytes to send */
	const char *content_type;     /* static */
	char id[TDS_ID_MAX];          /* "dlv_…" */
	char contract_id[TDS_ID_MAX];
	char content_hash[80];        /* "<alg>:<hex>" of body */
	char next_cursor[24];         /* "" after the last page */
	int64_t rows;
} tds_delivery_result;

void tds_delivery_result_free(tds_delivery_result *r);

/* API delivery: runs the product's approved SELECT (read-only, on its resource's data) with the
 * caller's parameters bound by name and type, returns the requested output fields of up to `limit`
 * rows (1..TDS_DELIVERY_QUERY_MAX_LIMIT) from the cursor (an opaque row offset), masked as the
 * contract's mask duties say. JSON body: {"fields":[…],"items":[{field: value}],"next_cursor"};
 * CSV: a header line and one line per row (RFC 4180). Values: integers as numbers, reals as decimal
 * strings, text as strings, NULL as null (CSV: empty); masked values are strings.
 * The row filter: a parameter named "row_filter" is also the request's row filter for the policy's
 * rowFilter constraint (docs/delivery.md). Errors: TDS_EINVAL "unknown_parameter",
 * "missing_parameter", "invalid_parameter_type", "fields_required", "unknown_field",
 * "invalid_cursor", "invalid_limit"; the denials and refusals in the header comment. */
int tds_delivery_query(tds_delivery *d, const tds_delivery_caller *who, const tds_delivery_request *rq,
		       tds_delivery_result *out);

/* Dataset delivery: one page of up to `limit` rows (1..TDS_DELIVERY_EXPORT_MAX_LIMIT) of a dataset
 * product's fields after the cursor (a rowid), in rowid order, as CSV (header line first) or
 * NDJSON; fields with permission "read" as stored, "masked" through the product's mask, then the
 * contract's mask duties; "compute_only" fields are never delivered (TDS_EPERM
 * "field_not_deliverable", before any decision). The decision's action is "download". */
int tds_delivery_export(tds_delivery *d, const tds_delivery_caller *who, const tds_delivery_request *rq,
			tds_delivery_result *out);

/* The consumer confirms receipt of delivery `id` with the content hash of the bytes it received
 * ("<alg>:<hex>", compared in constant time). The caller is the consumer organisation's connector
 * (a signed call: caller_org) or holds a token of the delivery's contract. A match records the
 * receipt (evidence "delivery.receipt_confirmed"); a second identical receipt answers the stored
 * one; a different hash is refused (TDS_ECONFLICT "receipt_hash_mismatch") and the refusal is
 * evidenced ("delivery.receipt_refused"). TDS_ENOTFOUND "delivery_not_found" also for another
 * organisation's delivery. *out: the delivery record. */
int tds_delivery_receipt(tds_delivery *d, const tds_delivery_caller *who, const char *id, const char *content_hash,
			 json_t **out);

/* Deliveries in id order after cursor; consumer_org restricts to one consumer (NULL = all),
 * contract_id to one contract. *out: {"items":[{"id","contract_id","contract_version",
 * "consumer_org","account","connector","product_id","product_version","form","format","rows",
 * "bytes","content_hash","cursor","next_cursor","delivered_at","receipt":"pending"|"confirmed",
 * "receipt_at"}],"next_cursor"}. */
int tds_delivery_list(tds_delivery *d, const char *consumer_org, const char *contract_id, int limit, const char *cursor,
		      json_t **out);

/* Metering events (for the metering module to price), in seq order after `after_seq`:
 * {"items":[{"seq","delivery_id","contract_id","consumer_org","product_id","calls","rows","bytes",
 * "duration_us","at"}],"last_seq"} (last_seq = after_seq when there are none). limit 1..1000
 * (TDS_EINVAL "invalid_limit"). Each event was written in its delivery's transaction. */
int tds_delivery_metering(tds_delivery *d, int64_t after_seq, int limit, json_t **out);

/* Masking rules of contract duties ({"action":"mask","field","rule"}): "keep_firstF_lastL",
 * "keep_firstF", "keep_lastL" (F, L 0..64, not both 0), "resident_id" (keep 6 + 4, the white
 * paper's default), "mobile" (keep 3 + 4), the anon module's methods "none", "email", "year", "ip",
 * "suppress", and "hash" (a keyed pseudonym, tds_delivery_pseudonym). TDS_EINVAL
 * "invalid_mask_rule". */
int tds_delivery_mask_rule_parse(const char *rule, tds_anon_mask *out);

/* The keyed pseudonym (假名) of a value under one contract: the first 16 bytes of
 * HMAC(K_c, value) in lower-case hex (32 characters), K_c = HMAC(key, "tds-pseudonym:" contract_id),
 * with the suite's hash. The same value maps to the same pseudonym within a contract and to
 * unlinkable ones across contracts; without the key nobody can compute or invert them. Appends to
 * out; TDS_EINVAL for a malformed contract id. */
int tds_delivery_pseudonym(tds_suite suite, const uint8_t key[32], const char *contract_id, const char *value,
			   size_t len, tds_buf *out);

int tds_delivery_routes(tds_delivery *d, struct tds_router *api, struct tds_router *data);

#endif
