/*
 * operation — authorized operation of public data (公共数据授权运营) on the operator: applications
 * (授权申请, one scenario each: 一事一申请) with a minimum-necessary check (最小必要), reviews (初审 by the
 * authorization operator, 终审 with the industry regulator joining when the scenario needs it),
 * deadlines and overdue steps, and the authorization list (授权清单) that an approval creates item by
 * item and that the contract module checks contract terms against.
 *
 * This header is the module's whole public face, in sections:
 *   1. Module handle
 *   2. Applications and the minimum-necessary check   (application.c)
 *   3. Reviews, progress and deadlines                 (review.c)
 *   4. Authorization lists and the contract-terms check (authorization.c)
 *   5. HTTP routes                                      (routes.c)
 *
 * Depends on contract (DESIGN §4) and, through it, on the fused catalog (section 10 of catalog.h)
 * and identity (qualifications). The contract module never calls upward: the node hands it
 * tds_operation_terms_check as a callback (tds_contract_node.authorization_check).
 * docs/operation.md explains the model and every rule.
 *
 * Not here yet (issue 7, later): consent of data subjects, product filing (备案), the demand hall
 * (需求大厅), credit files (信用档案) and workbenches.
 */
#ifndef TDS_OPERATION_H
#define TDS_OPERATION_H

#include "base/base.h"
#include "catalog/catalog.h"
#include "ledger/ledger.h"
#include "store/store.h"

#include <stdbool.h>

/* ================================================================================================
 * 1. Module handle
 * ================================================================================================ */

typedef struct tds_operation tds_operation;

/* Whether qualification `qual_id` is an approved, valid qualification of organisation `org`:
 * 0 yes; TDS_ENOTFOUND when it is not (not the organisation's, pending, rejected, revoked or
 * expired); another negative code when the answer could not be had. */
typedef int (*tds_operation_qualified_fn)(void *ctx, const char *org, const char *qual_id);

typedef struct tds_operation_opts {
	tds_ledger *ledger;      /* evidence (borrowed, required) */
	tds_catalog *catalog;    /* the operator's fused catalog (borrowed, required) */
	const char *node_id;     /* actor node of evidence entries (copied) */
	tds_operation_qualified_fn qualified; /* required */
	void *qualified_ctx;
	int initial_review_days; /* deadline of acceptance + initial review, from submission; 0 = 5 */
	int final_review_days;   /* deadline of the final review, from its start; 0 = 10 */
} tds_operation_opts;

/* Runs the "operation" migrations. */
int tds_operation_open(tds_store *store, const tds_operation_opts *opts, tds_operation **out);
void tds_operation_free(tds_operation *op); /* NULL is fine */

/* Who is asking (the routes fill it from the principal). */
typedef struct tds_operation_caller {
	const char *org;     /* the caller's organisation, NULL when none */
	const char *account; /* "acc_…" */
	uint32_t roles;      /* tds_roles bits (http.h) */
} tds_operation_caller;

/* ================================================================================================
 * 2. Applications (授权申请)
 * ================================================================================================
 *
 * An organisation with the consumer or developer role applies for public data for ONE scenario:
 *   {"scenario":{"name","description"},          the scenario (场景), 1-200 / 1-8000 bytes
 *    "purpose":"credit-risk",                     the purpose code the data is used for (1-64 bytes)
 *    "industry":"finance",                        the applicant's industry (1-64 bytes)
 *    "ai_training":false, "special_supervision":false,   either true: a regulator joins the final review
 *    "qualifications":["qual_…"],                 the organisation's approved qualifications
 *    "needs":[{"entry":"prd_…|pub_…|code",        a fused-catalog entry of kind product or public_item
 *              "fields":["name" | {"name","justification"}],
 *              "volume":{"amount":N,"unit":"records"|"calls"|"files"|"megabytes"},
 *              "frequency":"once"|"realtime"|"daily"|"weekly"|"monthly"|"quarterly"|"yearly"|"on_demand",
 *              "period":{"from","to"}}],          1-32 needs, RFC 3339 times
 *    "security_plan":{"transfer_encryption","access_control","masking","logging","destruction"}}
 * Malformed input (types, unknown members, lengths, unparsable times) is refused, TDS_EINVAL naming
 * the member, and stores nothing. Content is CHECKED, not refused, on every save: each issue is
 * {"code","path","reason"} (path a JSONPath into the application), stored with the draft, and
 * submission is refused (TDS_EUNPROC "application_has_issues", the issues in the details) while any
 * remains. The minimum-necessary check (最小必要, deterministic):
 *   qualification_missing      no qualification given
 *   qualification_invalid      not an approved, valid qualification of the applicant
 *   security_measure_missing   a security-plan member absent or shorter than 4 characters
 *   entry_not_found            no such entry, or hidden from the applicant by its scope
 *   entry_withdrawn            the entry was withdrawn from the catalog
 *   entry_kind_refused         a resource entry (only products and public items are applied for)
 *   own_entry                  the applicant's own entry
 *   entry_not_authorizable     the entry's authorization type says it is not opened (不予开放, 禁止…)
 *   need_repeated              the same entry twice (one need per entry)
 *   purpose_not_in_entry       the entry declares scenarios and the purpose is not one of them
 *   fields_missing             the entry declares fields and the need names none (no "everything")
 *   field_not_in_entry         a field the entry does not declare (an entry without declared
 *                              fields is applied for whole: fields must be empty)
 *   field_repeated             a field named twice in one need
 *   field_justification_missing a sensitive field without a justification: a field whose name or
 *                              label names personal identifiers, contacts, accounts, health or
 *                              biometrics (id_no, 身份证, mobile, 手机, address, 住址, bank account,
 *                              银行卡, health, 病, face, 人脸 …), and every field of an entry graded
 *                              重要 or 核心
 *   period_empty / period_too_long / period_ended   to <= from / more than 3 years / already over
 *
 * States:  draft → submitted (submit) → initial_review (accepted, 受理) → final_review (initial
 * approval) → approved (final approval, and the regulator's when required) | rejected (a rejection
 * at any review step); rejected → submitted (resubmission with a rectification statement, 整改说明,
 * after an update). Anything else is TDS_ECONFLICT "invalid_state". An application:
 *   {"id":"apl_…","org_id","state","round":N,"regulator_required":bool, …the content…,
 *    "entries":[snapshot of each need's entry], "issues":[…], "steps":[…], "due_at", "overdue",
 *    "authorization_id","created_by","created_at","updated_at","submitted_at"}
 * ---------------------------------------------------------------------------------------------- */

/* A new draft by the caller's organisation (consumer or developer role: TDS_EPERM "wrong_role"). */
int tds_operation_application_create(tds_operation *op, const tds_operation_caller *who, const json_t *in,
				     json_t **out);
/* Replaces the content of a draft or rejected application of the caller's organisation. */
int tds_operation_application_update(tds_operation *op, const tds_operation_caller *who, const char *id,
				     const json_t *in, json_t **out);
/* Submits a draft ({} or {"note"}) or resubmits a rejected application ({"rectification":"…"},
 * required then: TDS_EINVAL "rectification_required"). The check runs again first. */
int tds_operation_application_submit(tds_operation *op, const tds_operation_caller *who, const char *id,
				     const json_t *in, json_t **out);
/* Reviewers (authorization operator, operator, admin, regulator, auditor) read every application;
 * others only their organisation's (another's is TDS_ENOTFOUND "application_not_found"). */
int tds_operation_application_get(tds_operation *op, const tds_operation_caller *who, const char *id, json_t **out);
/* {"items":[summaries],"next_cursor"}; state NULL = any. */
int tds_operation_application_list(tds_operation *op, const tds_operation_caller *who, const char *state, int limit,
				   const char *cursor, json_t **out);

/* The minimum-necessary check of one application's content (normalised as stored) against the
 * entries it names (entries[i] the snapshot for needs[i], or JSON null when not found/hidden),
 * pure: *issues a new array. qual_ok[i] tells whether qualifications[i] passed. now_ms: for
 * period_ended. */
int tds_operation_check(const json_t *app, const json_t *entries, const char *applicant_org, const bool *qual_ok,
			int64_t now_ms, json_t **issues);

/* ================================================================================================
 * 3. Reviews (审核), progress and deadlines
 * ================================================================================================
 *
 * POST …/reviews {"stage","decision":"approve"|"reject","findings":{…},"reasons","advice","conditions"}
 *   stage "accept"    (受理) submitted → initial_review; reviewer roles: authorization operator,
 *                     operator, admin. No findings.
 *   stage "initial"   (初审) initial_review → final_review | rejected; findings required, each
 *                     {"ok":bool,"note":"…"}: scenario_compliance (场景合规), industry_relevance
 *                     (与主营业务相关), necessity (必要性).
 *   stage "final"     (终审) by the same roles: findings security (安全可控), public_interest
 *                     (公共利益优先); optional "conditions" (specific restrictions for the list).
 *   stage "regulator" (监管会审) only when regulator_required, by a regulator account: finding
 *                     supervision (监管意见).
 * A rejection needs "reasons" and "advice" (整改建议) (TDS_EINVAL "reasons_required" /
 * "advice_required"); an approval with a finding not ok is TDS_EUNPROC "findings_contradict_decision".
 * Nobody reviews their own organisation's application (TDS_EPERM "own_application"); other roles
 * are TDS_EPERM "wrong_role"; the final decision is made by another account than the round's
 * initial one (four eyes: TDS_EPERM "same_reviewer"). In final_review the final and regulator decisions are both needed:
 * the second approval makes the application approved and creates its authorization list in the
 * same transaction; either rejection rejects. A step already decided in this round is TDS_ECONFLICT
 * "already_decided"; a stage that does not match the state "invalid_state". Each step is a row and
 * an evidence entry in one transaction, so two reviewers deciding at once yield one decision.
 *
 * Deadlines: submitted and initial_review are due initial_review_days after (re)submission,
 * final_review final_review_days after it began. GET …/applications/overdue lists the steps past due.
 * ---------------------------------------------------------------------------------------------- */

int tds_operation_review(tds_operation *op, const tds_operation_caller *who, const char *id, const json_t *in,
			 json_t **out);
/* Applications whose current step is past its deadline at now_ms, oldest due first:
 * {"items":[{"application_id","org_id","state","stage","due_at","overdue_ms"}],"next_cursor"} (reviewer
 * roles only). */
int tds_operation_overdue(tds_operation *op, const tds_operation_caller *who, int64_t now_ms, int limit,
			  const char *cursor, json_t **out);
/* The reminder pass: logs one "application_overdue" line per overdue step at now_ms that was not
 * reminded of yet (once per step), *n (may be NULL) how many. */
int tds_operation_remind(tds_operation *op, int64_t now_ms, int *n);

/* ================================================================================================
 * 4. Authorization lists (授权清单)
 * ================================================================================================
 *
 *   {"id":"aut_…","application_id","holder_org","state":"active"|"expired","scenario","purpose",
 *    "industry","valid_from","valid_to","issued_at",
 *    "items":[{"entry_id","code","name","kind","type","fields":[{"name","label","type"}],
 *              "scope_of_use":{"scenario","purpose","industry"},"validity":{"from","to"},
 *              "volume","frequency",
 *              "restrictions":{"general":[{"code","text"}…],"specific":["…"]}}],
 *    "traceability":[{"code","text"}…]}
 * General restrictions: no_marketing (不得用于营销), no_reauthorization (不得向第三方再授权),
 * scenario_only (不得超出所列场景使用). Specific ones: the entry's usage_restrictions and the final
 * reviewers' conditions.
 * ---------------------------------------------------------------------------------------------- */

/* Holder organisation or reviewer roles; others TDS_ENOTFOUND "authorization_not_found". */
int tds_operation_authorization_get(tds_operation *op, const tds_operation_caller *who, const char *id, json_t **out);
int tds_operation_authorization_list(tds_operation *op, const tds_operation_caller *who, int limit, const char *cursor,
				     json_t **out);

/* Checks contract terms against authorization list `authorization_id`, on db (the caller's
 * connection, inside or outside its transaction). terms:
 *   {"consumer_org":"org_…","entry_id":"prd_…","at":ms,
 *    "fields":[{"name","path"}],"purposes":[{"name","path"}],
 *    "unrestricted":[{"what":"field"|"purpose","path"}],      a grant without a field/purpose limit
 *    "validity":{"from":ms,"to":ms,"path"}}
 * Appends {"code","path","reason"} to issues: authorization_not_found, authorization_not_held (the
 * consumer is not the holder), authorization_expired, entry_not_authorized, field_not_authorized,
 * purpose_not_authorized, fields_unrestricted, purpose_unrestricted, validity_beyond_authorization.
 * Returns 0, or a negative code when the check could not run (issues unchanged then). */
int tds_operation_terms_check(tds_operation *op, sqlite3 *db, const char *authorization_id, const json_t *terms,
			      json_t *issues);

/* ================================================================================================
 * 5. HTTP routes (routes.c; operator only)
 * ================================================================================================
 *   POST /api/v1/applications            create a draft (consumer, developer)
 *   GET  /api/v1/applications            list
 *   GET  /api/v1/applications/overdue    overdue steps (reviewers)
 *   GET  /api/v1/applications/{id}       one, with its steps
 *   PUT  /api/v1/applications/{id}       replace the content of a draft or rejected application
 *   POST /api/v1/applications/{id}/submit
 *   POST /api/v1/applications/{id}/reviews
 *   GET  /api/v1/authorizations          list
 *   GET  /api/v1/authorizations/{id}     one
 */

struct tds_router;

int tds_operation_routes(tds_operation *op, struct tds_router *api);

#endif
