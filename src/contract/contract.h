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
	/* Operator: checks terms against authorization list (授权清单) authorization_id on db and appends
	 * {"code","path","reason"} issues — the operation module's tds_operation_terms_check (terms shape
	 * there). A callback because operation depends on contract, never the reverse. NULL: orders
	 * naming an authorization list are refused (TDS_EUNPROC "authorization_unavailable"). */
	int (*authorization_check)(void *ctx, sqlite3 *db, const char *authorization_id, const json_t *terms,
				   json_t *issues);
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
 *   {"product_id"|"product_code", "actions":["query",…], "fields":["…"], "purposes":["…"] | "purpose":"…",
 *    "validity":{"from","to"}, "count":N, "rate":{"limit":N,"unit":"minute"|"day"},
 *    "environment":["consumer-domain",…], "note":"…", "authorization_id":"aut_…"}
 * An order naming an authorization list (授权清单, the operation module) must stay within it (fields,
 * purposes, validity; TDS_EUNPROC "beyond_authorization" with the issues in the details), and so
 * must every version of its contract: the check adds the list's issues (field_not_authorized,
 * purpose_not_authorized, fields_unrestricted, purpose_unrestricted, validity_beyond_authorization,
 * entry_not_authorized, authorization_not_held, authorization_expired, authorization_not_found).
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
 * bits (http.h), for the entry's scope (tds_catalog_entry_visible). An entry out of the caller's
 * scope is TDS_ENOTFOUND "product_not_found" like a missing one (nothing about it is told); the
 * entry must be a product (TDS_EUNPROC "not_a_product"), not withdrawn ("product_withdrawn"), of
 * another organisation ("own_product"); the requested
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
 * operator and checking in.document_hash. The caller is a local account of this connector, which
 * belongs to the connector's organisation (its certificate's): an admin signs for whichever side
 * that organisation is; otherwise as_provider / as_consumer (the account's roles) must cover that
 * side (TDS_EPERM "wrong_role"). *out: the operator's answer. */
int tds_contract_sign_local(tds_contract *ct, bool admin, bool as_provider, bool as_consumer, const char *id,
			    const json_t *in, json_t **out);

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
 * 4. Authorization tokens (使用授权令牌, token.c)
 *
 * The operator issues a token per active contract to the consumer, bound to one of its accounts or
 * to one of its connectors; provider connectors verify it OFFLINE with the operator's public key
 * (DIR/operator.pub) and the token revocation list the contract feed delivers ("token_revoked").
 *
 * Text form:  "tds1." base64url(claims) "." base64url(signature)   (base64url unpadded)
 *   claims     the canonical JSON (base.h) of
 *                {"typ":"tds.token/1","alg":"sm2-sm3"|"ed25519","kid":"<64 hex operator key id>",
 *                 "iss":"node_…" (operator node),"jti":"tok_…",
 *                 "sub":{"org":"org_…","account":"acc_…"} | {"org":"org_…","connector":"node_…"},
 *                 "aud":"org_…" (the provider organisation),"ctr":"ctr_…","ver":N,
 *                 "products":["…",…] (1..16 ids),"actions":["query",…] (policy action names),
 *                 "mode":"api"|"dataset"|"file"|"compute",
 *                 "limits":{"count":N,"per_minute":N,"per_day":N} (each optional: the contract's),
 *                 "iat","nbf","exp": RFC 3339 times (exp - iat at most TDS_CONTRACT_TOKEN_MAX_TTL_MS)}
 *   signature  tds_sign(operator key, claims bytes) — the bytes must be canonical, so one token has
 *              exactly one valid encoding.
 *
 * Verification (tds_contract_token_verify) is strict and names each refusal:
 *   TDS_ETOOBIG "token_too_large"     more than TDS_CONTRACT_TOKEN_MAX_LEN bytes
 *   TDS_EINVAL  "token_malformed"     not "tds1.<claims>.<signature>" (prefix, parts, characters)
 *               "token_bad_encoding"  a part is not unpadded base64url
 *               "token_bad_json"      claims are not a JSON object (strict parse, base.h)
 *               "token_not_canonical" claims are not in canonical form
 *               "token_bad_claims"    a member missing, unknown, of the wrong type or value (named)
 *   TDS_EAUTH   "token_unknown_key"   kid is not the operator key's id
 *               "token_alg_mismatch"  alg is not the operator key's algorithm
 *               "token_bad_signature" the signature does not verify over the claims
 *               "token_not_yet_valid" now < nbf - TDS_CONTRACT_TOKEN_SKEW_MS
 *               "token_expired"       now >= exp + TDS_CONTRACT_TOKEN_SKEW_MS
 *               "token_revoked"       on the revocation list (the module's check, not the pure verifier)
 *   TDS_EPERM   "token_wrong_audience"  aud is not the verifying connector's organisation
 *               "token_wrong_connector" a connector-bound token presented by another caller
 * ================================================================================================ */

#define TDS_CONTRACT_TOKEN_PREFIX "tds1."
#define TDS_CONTRACT_TOKEN_MAX_LEN 4096
#define TDS_CONTRACT_TOKEN_TTL_MS (15 * 60 * 1000)     /* lifetime of an issued token */
#define TDS_CONTRACT_TOKEN_MAX_TTL_MS (24 * 3600 * 1000) /* longest lifetime a verifier accepts */
#define TDS_CONTRACT_TOKEN_SKEW_MS (60 * 1000)         /* clock difference admitted at both ends */
#define TDS_CONTRACT_TOKEN_MAX_PRODUCTS 16

typedef struct tds_token_claims {
	char id[TDS_ID_MAX];                /* jti, "tok_<ULID>" */
	char issuer[TDS_ID_MAX];            /* iss, the operator's node id */
	char key_id[TDS_KEY_ID_LEN + 1];    /* kid (tds_contract_token_issue fills it) */
	tds_suite suite;                    /* alg's suite (filled by issue) */
	char org[TDS_ID_MAX];               /* sub.org: the consumer organisation */
	char account[TDS_ID_MAX];           /* sub.account, or "" */
	char connector[TDS_ID_MAX];         /* sub.connector (a node id), or ""; exactly one of the two */
	char audience[TDS_ID_MAX];          /* aud: the provider organisation */
	char contract_id[TDS_ID_MAX];       /* ctr */
	int64_t version;                    /* ver: the contract version */
	size_t n_products;
	char products[TDS_CONTRACT_TOKEN_MAX_PRODUCTS][TDS_ID_MAX];
	uint32_t actions;                   /* bit (1u << tds_policy_action) per action; USE = all */
	char mode[16];                      /* usage mode: the product form */
	int64_t limit_count, limit_per_minute, limit_per_day; /* -1 when the contract sets none */
	int64_t issued_at_ms, not_before_ms, expires_at_ms;
} tds_token_claims;

/* Signs the claims with the operator's private key and appends the token text to out. The claims
 * are validated as the verifier would (key_id and suite are taken from the key); out is unchanged
 * on failure. */
int tds_contract_token_issue(const tds_token_claims *claims, const tds_key *operator_key, tds_buf *out);

/* Parses and verifies token[0..len) under the operator's public key at now_ms: structure, canonical
 * claims, key id, algorithm, signature, validity window (errors above). *out is zeroed on failure.
 * Pure: no revocation list, audience or caller (see tds_contract_token_check_binding). */
int tds_contract_token_verify(const char *token, size_t len, const tds_key *operator_key, int64_t now_ms,
			      tds_token_claims *out);

/* Checks a verified token's binding: aud must be audience_org ("token_wrong_audience"); a token
 * bound to a connector must be presented by that connector's signed call, caller_node being the
 * signer's node id (NULL when the caller did not sign: "token_wrong_connector"). */
int tds_contract_token_check_binding(const tds_token_claims *c, const char *audience_org, const char *caller_node);

/* Who is asking, as the routes resolve the principal. */
typedef struct tds_contract_party {
	const char *org;       /* the principal's organisation (NULL when none) */
	const char *account;   /* "acc_…" for an account, NULL for a node */
	const char *connector; /* the calling node's id for a signed node call, else NULL */
	bool oversight;        /* operator or admin role: may act on any contract */
} tds_contract_party;

/* Operator: issues a token for contract_id to `who`, an account or connector of the contract's
 * consumer organisation, when the contract is active and not frozen (TDS_ECONFLICT
 * "contract_not_active" / "contract_frozen"; TDS_EPERM "not_the_consumer"; TDS_ENOTFOUND
 * "contract_not_found"). Recorded (contract_tokens) and evidenced ("contract.token_issued"). *out:
 * {"token","token_id","contract_id","version","expires_at","claims":{…}}. Refresh = ask again. */
int tds_contract_token_create(tds_contract *ct, const tds_contract_party *who, const char *contract_id,
			      json_t **out);

/* Operator: revokes a token (oversight, or the consumer organisation that holds it) with a reason;
 * the feed carries a "token_revoked" item to the contract's connectors. TDS_ECONFLICT
 * "already_revoked"; TDS_ENOTFOUND "token_not_found". *out: the token record. */
int tds_contract_token_revoke(tds_contract *ct, const tds_contract_party *who, const char *contract_id,
			      const char *token_id, const char *reason, json_t **out);

/* ================================================================================================
 * 5. Enforcement on connectors: local contracts, decisions, counters, violations, freezes
 *    (enforce.c, sync.c; docs/contracts.md "Enforcement")
 *
 * A connector keeps every contract it is a party to (from the operator's feed, countersignature
 * verified with DIR/operator.pub), compiled once. tds_contract_decide is the data plane's in-process
 * call: the contract must be active (not filed-only, suspended, terminated or past its validity) and
 * its consumer not frozen, then the policy module decides with the contract's counters. Counters are
 * journalled to SQLite through the policy journal hook (write-behind, absolute values, snapshots),
 * restored and replayed at start. Every deny by the contract's policy is a violation: recorded,
 * evidenced, reported to the operator through an outbox; the consumer is frozen on that contract
 * when its violations reach the contract's violation_policy.freeze_after, or at once for a serious
 * one (a prohibited action, or a bulk-export pattern: a denied export/distribute, or a denied
 * request naming more than TDS_CONTRACT_BULK_FIELDS fields). Only the operator unfreezes (feed
 * "unfrozen").
 * ================================================================================================ */

#define TDS_CONTRACT_BULK_FIELDS 16
#define TDS_CONTRACT_DEFAULT_FREEZE_AFTER 3

/* Where this connector's operator is; the node passes it on every sync (it may change on
 * re-enrolment). */
typedef struct tds_contract_link {
	const char *operator_url;      /* node.operator_url */
	const char *operator_pub_path; /* DIR/operator.pub: verifies filings and tokens */
	const char *operator_node_id;  /* the certificate's issuer */
	const char *own_serial;        /* this node's certificate serial: signs calls to the operator */
	const char *own_org_id;        /* this node's organisation */
	const char *own_node_id;
} tds_contract_link;

/* Installs the operator's public key (PEM) and node id and this connector's organisation, which
 * verify filings and tokens; no network. The node calls it when it loads or receives its
 * certificate, so decisions work from the first request after a start; every sync pass does it again
 * from DIR/operator.pub. TDS_EINVAL for a key that does not parse or malformed ids. */
int tds_contract_set_operator(tds_contract *ct, const char *operator_pem, const char *operator_node_id,
			      const char *own_org_id);

/* One pass of the connector's duties (the node calls it about every second once enrolled):
 * installs the operator key when DIR/operator.pub changed, flushes the counters' journal (and a
 * snapshot now and then), sends queued violation reports, then pulls the feed after the last seq
 * seen, applying each item exactly once (filed/amended: verify, store, compile, acknowledge;
 * activated, suspended, resumed, terminated, expired, frozen, unfrozen, token_revoked). An item that
 * cannot be applied stops the pass (it is retried next time); the seq is stored with the item's
 * effect in one transaction. *report (may be NULL): {"applied":n,"after":seq,"reports_sent":n}. */
int tds_contract_sync(tds_contract *ct, const tds_contract_link *link, json_t **report);

/* Applies one feed item {"seq","contract_id","kind","body"} as a sync pass does (verified, stored,
 * exactly once by seq) without asking the operator; for tools and benchmarks that hold items from
 * elsewhere. Needs the operator key (tds_contract_set_operator). *ack_version (may be NULL) > 0 when
 * the item filed a version that the operator should be told about (a sync pass does it). */
int tds_contract_feed_apply(tds_contract *ct, const json_t *item, int64_t *ack_version);

/* A decision request of the data plane. */
typedef struct tds_contract_request {
	const char *token;        /* authorization token (the consumer's credential), or NULL … */
	size_t token_len;
	const char *contract_id;  /* … and a contract id, for trusted local callers (the subject is the
				     contract's consumer; account/connector below are vouched for) */
	const char *account, *connector;
	const char *caller_node;  /* node id of a signed caller, else NULL */
	const char *peer;         /* the address the request came from: at most
				     TDS_CONTRACT_TOKEN_VERIFY_PER_MIN tokens not yet cached are verified per
				     peer and minute (TDS_ELIMIT "token_verify_limited"); NULL: no limit */
	tds_policy_request policy; /* action, purpose, fields, … (org/account/connector are set here) */
} tds_contract_request;

/* Signature verifications of new tokens per peer address and minute: a consumer's gateway verifies
 * a token once per 15 minutes, a caller sending made-up tokens costs an SM2 verification each. */
#define TDS_CONTRACT_TOKEN_VERIFY_PER_MIN 600

typedef struct tds_contract_outcome {
	char contract_id[TDS_ID_MAX];
	int64_t version;
	int64_t violations;          /* the consumer's counted violations of this contract */
	bool frozen;                 /* after this decision */
	char violation_id[TDS_ID_MAX]; /* "vio_…" when this deny was recorded as a violation */
} tds_contract_outcome;

/* Decides one request at now_ms. Returns 0 with a decision (permit or deny; state refusals have the
 * codes contract_not_active, contract_suspended, contract_terminated, contract_expired, frozen and
 * the clause ""), or an error without a decision: a token refusal (section 4 codes), TDS_ENOTFOUND
 * "contract_not_found" (no such contract on this connector), TDS_EPERM "not_the_provider" (only the
 * provider's connector enforces), TDS_EINVAL "invalid_request" (the policy module's). A violation's
 * records are committed before the call returns. Thread-safe. */
int tds_contract_decide(tds_contract *ct, const tds_contract_request *req, int64_t now_ms, tds_policy_decision *d,
			tds_contract_outcome *o);

/* The verified claims of a token presented to this connector, checked as tds_contract_decide checks
 * them (size, cache or verifier under the per-peer limit, time, audience, connector binding,
 * revocation) but without deciding or charging anything: for the data plane's own checks (which
 * contract and products a token names; a consumer's delivery receipt). Errors as section 4, and
 * TDS_ECONFLICT "not_a_connector" on the operator. Thread-safe. */
int tds_contract_token_claims(tds_contract *ct, const tds_contract_request *req, int64_t now_ms,
			      tds_token_claims *out);

/* Writes the counters' pending journal records to the store (the node's sync does it every pass;
 * tds_contract_free does it last). snapshot: also store snapshots and truncate the journal. */
int tds_contract_flush(tds_contract *ct, bool snapshot);

/* The write-behind journal of one counters object (one per local contract): attached as the
 * counters' journal hook, it keeps the latest state of every slot charged since the last take
 * (absolute values: the last record per slot is all that matters). The hook costs one uncontended
 * mutex and a copy per charged slot on the decision path; the store is written by whoever takes
 * (tds_contract_flush), never by a decision. Thread-safe. */
typedef struct tds_contract_journal tds_contract_journal;

/* A journal attached to c (n_slots = tds_policy_counter_slots of c's policy). NULL on ENOMEM. */
tds_contract_journal *tds_contract_journal_new(tds_policy_counters *c, size_t n_slots);
/* Detaches and frees (NULL is fine). */
void tds_contract_journal_free(tds_contract_journal *j, tds_policy_counters *c);
/* Moves the pending records into out[0..n_slots) and returns how many; *charged (may be NULL) tells
 * whether anything was charged since the last take that asked for it (snapshots are due then). */
size_t tds_contract_journal_take(tds_contract_journal *j, tds_policy_slot_state *out, bool *charged);
/* Puts back records that could not be stored, unless a newer record of the slot arrived meanwhile. */
void tds_contract_journal_putback(tds_contract_journal *j, const tds_policy_slot_state *st, size_t n, bool charged);

/* Stops enforcement at shutdown, once no request or sync runs: flushes the journal with a snapshot
 * and frees the local contracts (a later call makes them again from the store). NULL is fine. */
void tds_contract_stop(tds_contract *ct);

/* A contract as this connector holds it: {"id","version","role":"provider"|"consumer","state",
 * "provider_org","consumer_org","document_hash","valid_from","valid_to","freeze_after","frozen",
 * "violations","counters":{snapshot}}. TDS_ENOTFOUND "contract_not_found". */
int tds_contract_local_get(tds_contract *ct, const char *id, json_t **out);

/* Violations: on a connector its own records, on the operator the reports received. org: only
 * those where this organisation is a party (NULL = all). Paged by id. *out: {"items":[…],
 * "next_cursor"}. */
int tds_contract_violation_list(tds_contract *ct, const char *org, const char *contract_id, int limit,
				const char *cursor, json_t **out);

/* Operator: a connector's violation report (signed call of the provider's connector: reporter_org
 * must be the contract's provider). Stored once per violation id (a resend answers the stored
 * record), evidenced ("contract.violation_reported"); a report with "frozen":true freezes the
 * contract on the operator (new tokens refused) and tells the consumer's connectors (feed
 * "frozen"). */
int tds_contract_violation_receive(tds_contract *ct, const char *reporter_org, const char *reporter_node,
				   const json_t *report, json_t **out);

/* Operator: unfreezes a frozen contract (oversight only, reason required): evidenced
 * ("contract.unfrozen"), feed "unfrozen" to both connectors. TDS_ECONFLICT "not_frozen". */
int tds_contract_unfreeze(tds_contract *ct, const tds_contract_party *who, const char *contract_id,
			  const char *reason, json_t **out);

/* ================================================================================================
 * 6. HTTP routes (routes.c)
 * ================================================================================================ */

struct tds_router;

int tds_contract_routes(tds_contract *ct, struct tds_router *api, struct tds_router *data);

#endif
