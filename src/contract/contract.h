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
struct tds_http_client;
struct tds_principal;

/* What the module needs of its node, as callbacks (the node owns certificates and the keyring). */
typedef struct tds_contract_node {
	void *ctx;
	/* Operator: the public key and organisation of the connector certificate `serial` ("crt_…"), as
	 * tds_nodekeys_resolve answers (principal->org_id; TDS_ENOTFOUND unknown, TDS_EAUTH revoked or
	 * expired). *key stays valid for the node's life. */
	int (*resolve)(void *ctx, const char *serial, tds_arena *arena, const tds_key **key,
		       struct tds_principal *principal);
	/* Connector: a new client to the operator whose requests are signed with this node's current
	 * certificate, that certificate's serial and organisation. TDS_EUNPROC "not_enrolled" before
	 * enrolment. The caller frees the client. */
	int (*operator_client)(void *ctx, struct tds_http_client **client, char serial[TDS_ID_MAX],
			       char org_id[TDS_ID_MAX]);
} tds_contract_node;

typedef struct tds_contract_opts {
	tds_ledger *ledger;     /* evidence (borrowed, required) */
	tds_catalog *catalog;   /* fused catalog entries (borrowed; the operator's) */
	const tds_key *key;     /* this node's key (borrowed): the operator countersigns and signs tokens
				   with it; a connector signs its party's signature with it */
	const char *node_id;    /* actor node of evidence entries (copied) */
	tds_suite suite;
	bool is_operator;
	tds_contract_node node; /* callbacks (copied); absent ones make the routes needing them 503 */
} tds_contract_opts;

/* Runs the "contract" migrations. */
int tds_contract_open(tds_store *store, const tds_contract_opts *opts, tds_contract **out);
void tds_contract_free(tds_contract *ct); /* NULL is fine */

/* ================================================================================================
 * 2. Templates, orders, drafts, negotiation, signing, filing (operator)
 * ================================================================================================
 *
 * Templates (合约模板, template.c): one per product form — api, dataset, file, compute — holding the
 * four mandatory clauses (data_use_rules 数据使用规则, security_duties 安全义务,
 * performance_supervision 履约监督, breach_handling 违约处理) and policy defaults
 *   {"obligations":[duty…],      added to every draft's policy "obligation" (e.g. {"action":"log"})
 *    "prohibitions":[rule…],     added to every draft's policy "prohibition"
 *    "violation_policy":{"freeze_after":N},
 *    "max_validity_days":D}      a contract of this form may not last longer
 * Migration 1 seeds version 1 of each; the operator adds versions (immutable once made). A template:
 *   {"id":"tpl_…","version":N,"form","name","clauses":{…},"policy_defaults":{…},"created_by","created_at"}
 *
 * Orders (订单): a consumer organisation orders a product entry of the fused catalog (by "product_id"
 * or "product_code") with a requested scope:
 *   {"product_id"|"product_code", "actions":["query",…], "fields":["…"], "purposes":["…"], "validity":{"from","to"}, "count":N, "rate":{"limit":N,"unit":"minute"|"day"},
 *    "environment":["consumer-domain",…], "note":"…"}
 * The entry is kept with the order (the product version ordered), so every later check runs against
 * what was ordered. An order: {"id":"ord_…","consumer_org","provider_org","product":{id,code,version,
 * form},"request":{…},"status":"open"|"drafted","contract_id","created_by","created_at"}.
 *
 * Contract document: the canonical JSON of
 *   {"type":"tds.contract/1","id":"ctr_…","version":N,
 *    "template":{"id","version","form"},"order_id":"ord_…",
 *    "provider":{"org_id"},"consumer":{"org_id"},"service":[{"org_id"}…],
 *    "product":{"id","code","version","form"},
 *    "clauses":{"data_use_rules","security_duties","performance_supervision","breach_handling"},
 *    "policy":{ODRL, docs/policy.md; "uid":"ctr_…/vN","assigner":provider,"assignee":consumer,
 *              "target":product id},
 *    "validity":{"from":RFC 3339,"to":RFC 3339},
 *    "violation_policy":{"freeze_after":N}}
 * document_hash = "<tds_hash_alg>:<hex>" of those bytes ("sm3:…" or "sha256:…").
 *
 * States:  draft → negotiating (first proposal) → signed (both parties' signatures on the version
 * both accepted) → filed (at once: the operator countersigns, 备案编号) → active (both connectors
 * acknowledged) → suspended ⇄ active; filed | active | suspended → expired (validity ended) |
 * terminated (operator); draft | negotiating → terminated too (negotiation abandoned). An amendment
 * of an active or suspended contract is a new version through proposal → accept → sign; the state
 * keeps its value and the version in force stays until the amendment is filed (feed "amended").
 * A transition from another state is TDS_ECONFLICT "invalid_state". Each change and its evidence
 * entry ("contract.…") commit in one transaction.
 *
 * Checks (deterministic, negotiate.c) on every version, each issue {"code","path","reason"}:
 *   policy_invalid          the policy does not compile (contradictions included): path from the
 *                           compiler's message ("policy.permission[0].constraint[2]")
 *   field_not_in_product    a field constraint names a field the product does not output
 *   purpose_not_in_product  a purpose the product's scenarios do not list
 *   action_not_allowed      a permitted action the product form does not allow
 *                           (api: read, query; dataset: read, query, download, derive;
 *                           file: read, download; compute: compute, derive)
 *   recipient_not_party     a recipient constraint naming another organisation than the consumer
 *   clause_missing          a mandatory clause absent or blank
 *   validity_empty          validity.to not after validity.from
 *   validity_too_long       longer than the template's max_validity_days
 *   policy_window_outside   a dateTime constraint outside the validity window
 *   violation_policy_invalid freeze_after not an integer 1..100
 * A proposal with issues is stored, flagged (its "issues" list), so the other side sees what is
 * wrong and answers with a fix; accepting or signing a version with issues is TDS_EUNPROC
 * "contract_has_issues" with the list in the error's details.
 * ---------------------------------------------------------------------------------------------- */

/* Templates. in: {"form","name","clauses":{all four},"policy_defaults":{…}} — a new version of the
 * form's template. */
int tds_contract_template_create(tds_contract *ct, const tds_ledger_actor *actor, const json_t *in, json_t **out);
/* The latest version of every form's template: {"items":[…]}. */
int tds_contract_template_list(tds_contract *ct, json_t **out);
/* One template version (version 0 = the latest); TDS_ENOTFOUND "template_not_found". */
int tds_contract_template_get(tds_contract *ct, const char *id, int64_t version, json_t **out);

/* Orders. consumer_org: the caller's organisation (the ordering party); roles: the caller's role
 * bits (http.h), for the entry's scope (tds_catalog_entry_visible). The entry must be a product
 * (TDS_EUNPROC "not_a_product"), not withdrawn ("product_withdrawn"), visible to the caller
 * (TDS_EPERM "product_not_in_scope"), of another organisation ("own_product"); the requested
 * actions, fields and purposes must be the product's (TDS_EUNPROC "action_not_allowed",
 * "field_not_in_product", "purpose_not_in_product"); the validity non-empty and within the
 * template's limit ("validity_empty", "validity_too_long"). */
int tds_contract_order_create(tds_contract *ct, const tds_ledger_actor *actor, const char *consumer_org,
			      uint32_t roles, const json_t *in, json_t **out);
/* org NULL: any order; else only orders where org is the consumer or the provider. */
int tds_contract_order_get(tds_contract *ct, const char *org, const char *id, json_t **out);
int tds_contract_order_list(tds_contract *ct, const char *org, int limit, const char *cursor, json_t **out);

/* The operator drafts the contract of an open order. in: {} or {"service":["org_…"]}.
 * *out: the contract record (tds_contract_get). */
int tds_contract_draft(tds_contract *ct, const tds_ledger_actor *actor, const char *order_id, const json_t *in,
		       json_t **out);

/* A counter-proposal by org (the provider, the consumer or a named service organisation):
 *   {"base_version":N, "terms":{"clauses","policy","validity","violation_policy"}}   full terms, or
 *   {"base_version":N, "patch":{"clauses":{some},"policy":{…},"validity":{…},"violation_policy":{…}}},
 *   optional "note". base_version must be the latest (TDS_ECONFLICT "stale_version" otherwise).
 * Makes version N+1 (with its issues); *out: {"version","document","document_hash","issues",…}. */
int tds_contract_propose(tds_contract *ct, const tds_ledger_actor *actor, const char *org, const char *id,
			 const json_t *in, json_t **out);
/* Reads (org NULL: any contract; else a party or named service organisation). */
int tds_contract_get(tds_contract *ct, const char *org, const char *id, json_t **out);
/* {"items":[summaries],"next_cursor"}; state NULL = any. */
int tds_contract_list(tds_contract *ct, const char *org, const char *state, int limit, const char *cursor,
		      json_t **out);
int tds_contract_versions(tds_contract *ct, const char *org, const char *id, json_t **out);
/* One version: {"contract_id","version","latest_version","document","document_hash","issues",
 * "proposed_by":{"org_id","account","role"},"note","created_at","accepted_by":[org…],"signatures":[…]}. */
int tds_contract_version_get(tds_contract *ct, const char *org, const char *id, int64_t version, json_t **out);
/* {"from","to","changes":[{"op":"added"|"removed"|"changed","path":"$.policy.permission[0]…",
 *  "old":…,"new":…}]} between two versions (paths in JSONPath, array items by index). */
int tds_contract_diff(tds_contract *ct, const char *org, const char *id, int64_t from, int64_t to, json_t **out);
/* Pure diff of two documents (the same "changes" array; new reference). */
json_t *tds_contract_json_diff(const json_t *a, const json_t *b);
/* The checks above of a document against the order's product entry and the template; *issues a
 * new array (empty when clean). */
int tds_contract_check(const json_t *doc, const json_t *entry, const json_t *template_, json_t **issues);

/* A party accepts a version: in {"version":N,"document_hash":"…"}; N must be the latest. */
int tds_contract_accept(tds_contract *ct, const tds_ledger_actor *actor, const char *org, const char *id,
			const json_t *in, json_t **out);

/* Signing (sign.c). Operator: a party's connector (caller_org, the certificate's organisation)
 * submits {"org_id","key_id","alg","signature"} (+ optional "version","document_hash") over the
 * canonical bytes of the latest version, which both parties accepted. Refusals, TDS_EUNPROC:
 * not_accepted, contract_has_issues, wrong_organisation (org_id not the caller's, or not a party, or
 * the certificate of another organisation), unknown_key, certificate_revoked, algorithm_mismatch,
 * signature_mismatch (not a signature over these bytes), version_mismatch; TDS_ECONFLICT
 * already_signed. When both have signed: signed, then filed in the same transaction. */
int tds_contract_sign_submit(tds_contract *ct, const tds_ledger_actor *actor, const char *caller_org,
			     const char *id, const json_t *in, json_t **out);
/* Connector: signs version in.version of contract id with the node key, after fetching it from the
 * operator and checking in.document_hash; caller_org: the caller's organisation (NULL for an admin)
 * and which party roles it may sign for (provider, consumer). *out: the operator's answer. */
int tds_contract_sign_local(tds_contract *ct, const char *caller_org, bool as_provider, bool as_consumer,
			    const char *id, const json_t *in, json_t **out);

/* Filing number (备案编号): "HT-YYYY-NNNNNN-C", YYYY the filing year (UTC), NNNNNN the year's serial,
 * C the ISO 7064 MOD 37,36 check character over "YYYYNNNNNN". */
#define TDS_CONTRACT_FILING_MAX 24
int tds_contract_filing_format(int year, uint32_t serial, char out[TDS_CONTRACT_FILING_MAX]);
/* 0 when well-formed with a correct check character; TDS_EINVAL "invalid_filing_number". */
int tds_contract_filing_parse(const char *number, int *year, uint32_t *serial);

/* Operator actions, in: {"reason"}: suspend (active → suspended), resume (suspended → active),
 * terminate (any state but expired | terminated → terminated). */
int tds_contract_suspend(tds_contract *ct, const tds_ledger_actor *actor, const char *id, const json_t *in,
			 json_t **out);
int tds_contract_resume(tds_contract *ct, const tds_ledger_actor *actor, const char *id, const json_t *in,
			json_t **out);
int tds_contract_terminate(tds_contract *ct, const tds_ledger_actor *actor, const char *id, const json_t *in,
			   json_t **out);
/* Expires every filed, active or suspended contract whose validity ended by now_ms (evidence, feed
 * "expired"); *n (may be NULL) how many. Run before reads, lists and the feed. */
int tds_contract_expire_due(tds_contract *ct, int64_t now_ms, int *n);

/* ================================================================================================
 * 3. Distribution and acknowledgement (双渠道下发)
 * ================================================================================================
 *
 * The operator's feed: one row per event a party's connectors must learn, in seq order:
 *   filed      {"document","signatures","filing"}          the contract as filed
 *   amended    {"document","signatures","filing"}          an amendment filed (new version in force)
 *   activated  {"version"}                                 both connectors acknowledged
 *   suspended | resumed | terminated | expired  {"version","reason"}
 * (and D's frozen, unfrozen, token_revoked). A connector pulls the rows where its organisation is a
 * party and acknowledges each filed version: {"version","document_hash"}; when both parties'
 * connectors acknowledged the version filed, filed → active.
 * ---------------------------------------------------------------------------------------------- */

/* {"items":[{"seq","contract_id","kind","body","created_at"}],"next_after":SEQ}; org: the caller's. */
int tds_contract_feed(tds_contract *ct, const char *org, int64_t after, int limit, json_t **out);
/* A party's connector acknowledges a filed version; idempotent per (contract, version, org). */
int tds_contract_ack(tds_contract *ct, const tds_ledger_actor *actor, const char *org, const char *id,
		     const json_t *in, json_t **out);

/* ================================================================================================
 * 6. HTTP routes (routes.c)
 * ================================================================================================ */

struct tds_router;

int tds_contract_routes(tds_contract *ct, struct tds_router *api, struct tds_router *data);

#endif
