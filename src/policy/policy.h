/*
 * policy — usage control (使用控制): the policy language, its compiler, the decision point (PDP) and
 * the counters behind stateful constraints.
 *
 * A policy is a JSON document in the ODRL 2.2 information model (docs/policy.md has the grammar and
 * examples): permissions, prohibitions and duties over actions, each rule narrowed by constraints
 * {leftOperand, operator, rightOperand} and by logical constraints {"and"|"or"|"xone": […]}.
 * tds_policy_compile parses it strictly and builds an immutable compiled form once: flat arrays of
 * rules, constraint nodes and duties; every string interned to a small id (sets are bitsets);
 * times, durations, CIDR ranges and decimals pre-parsed. tds_policy_decide then answers
 * permit | deny for one request without allocating, with the clause that decided, a stable code, an
 * English reason and the obligations to fulfil.
 *
 * Invariants of the grammar (the compiler refuses anything else with TDS_EINVAL, name
 * "invalid_policy", and a message that starts with the JSON path of the bad member, e.g.
 * "permission[0].constraint[2].rightOperand: …"):
 *   - Every object has only the members listed in docs/policy.md; every member has one JSON type.
 *     Decimals (privacyBudget) are strings ("0.5"), never JSON reals; reals are refused everywhere.
 *   - Each left operand accepts only its own operators and right-operand type; stateful operands
 *     (count, rate, privacyBudget) appear only directly in a rule's constraint list (never under
 *     "or"/"xone", so a counter is charged exactly when its rule permits).
 *   - No rule is contradictory: its dateTime window is non-empty, counts and budgets are
 *     non-negative, purpose and environment constraints leave some value allowed, and no field is
 *     both granted by a permission and unconditionally prohibited for an overlapping action.
 *   - Sizes are bounded (TDS_POLICY_MAX_*), so a decision's obligations always fit its fixed array.
 *
 * Decision (DESIGN: policy depends on base only): a prohibition whose actions cover the request and
 * whose constraints all hold denies, whatever the permissions say. Otherwise the first permission
 * that covers the action and whose constraints all hold permits — its stateful constraints are
 * checked and charged atomically under the counters' lock, so N concurrent callers never exceed a
 * count, a rate or a budget; a denied request charges nothing. No covering permission: deny.
 *
 * Thread safety: a compiled policy is immutable and may be shared by any number of threads.
 * Counters are thread-safe. A decision struct belongs to its caller.
 */
#ifndef TDS_POLICY_H
#define TDS_POLICY_H

#include "base/base.h"

/* Limits (documented in docs/policy.md). Anything larger is refused by the compiler. */
#define TDS_POLICY_MAX_BYTES (64 * 1024) /* policy JSON text */
#define TDS_POLICY_MAX_RULES 32          /* permissions; and separately prohibitions */
#define TDS_POLICY_MAX_CONSTRAINTS 32    /* constraint nodes per rule, logical ones included */
#define TDS_POLICY_MAX_DEPTH 4           /* nesting of logical constraints */
#define TDS_POLICY_MAX_DUTIES 16         /* duties per permission; and policy-level obligations */
#define TDS_POLICY_MAX_STRINGS 256       /* distinct strings (fields, purposes, ids, regions …) */
#define TDS_POLICY_MAX_SET 64            /* items in one rightOperand list */
#define TDS_POLICY_MAX_STRING 128        /* bytes of any string */
#define TDS_POLICY_MAX_FIELDS 64         /* fields in one request */
#define TDS_POLICY_MAX_OBLIGATIONS (2 * TDS_POLICY_MAX_DUTIES)

/* A compiled policy (immutable). */
typedef struct tds_policy tds_policy;

/* Stateful counters of one policy for one scope (the caller's choice: usually one contract and
 * one consumer). */
typedef struct tds_policy_counters tds_policy_counters;

/* Compiles policy JSON text (exactly len bytes, at most TDS_POLICY_MAX_BYTES: TDS_ETOOBIG beyond).
 * On success *out owns the compiled policy (tds_policy_free). On failure returns TDS_EINVAL with a
 * message that starts with the path of the offending member, and *out is NULL. */
int tds_policy_compile(const char *json, size_t len, tds_policy **out);
/* The same from a parsed document (borrowed). */
int tds_policy_compile_json(const json_t *doc, tds_policy **out);
void tds_policy_free(tds_policy *p); /* NULL is fine */

/* The policy's "uid" (borrowed from p). */
const char *tds_policy_uid(const tds_policy *p);
/* Number of counter slots (stateful constraints) the policy has. */
size_t tds_policy_counter_slots(const tds_policy *p);

/* Actions. TDS_POLICY_ACTION_USE in a rule covers every action. */
typedef enum {
	TDS_POLICY_ACTION_READ = 0,
	TDS_POLICY_ACTION_QUERY,
	TDS_POLICY_ACTION_COMPUTE,
	TDS_POLICY_ACTION_DOWNLOAD,
	TDS_POLICY_ACTION_DERIVE,
	TDS_POLICY_ACTION_DISTRIBUTE, /* redistribution to others */
	TDS_POLICY_ACTION_EXPORT,     /* export of raw rows */
	TDS_POLICY_ACTION_GRANT_USE,  /* re-authorisation to third parties ("grantUse") */
	TDS_POLICY_ACTION_COUNT_,
	TDS_POLICY_ACTION_USE = 31
} tds_policy_action;

/* "read" … "grantUse", "use"; -1 when unknown. */
int tds_policy_action_parse(const char *name);
const char *tds_policy_action_name(int action);

/* One request to decide. Every string is borrowed for the call; NULL means "not given". A
 * constraint over a value the request does not give does not hold (so a permission needing it
 * denies and a prohibition needing it does not apply). */
typedef struct tds_policy_request {
	const char *org;         /* subject: organisation id */
	const char *account;     /* subject: account id */
	const char *connector;   /* subject: connector id */
	int action;              /* tds_policy_action (not USE) */
	const char *purpose;     /* declared purpose */
	const char *environment; /* sandbox-dev | sandbox-prod | consumer-domain | provider-domain */
	const char *const *fields; /* output fields requested */
	size_t n_fields;           /* at most TDS_POLICY_MAX_FIELDS */
	const char *client_ip;     /* IPv4 or IPv6 text */
	const char *region;        /* region code, e.g. "CN-11" (hierarchical at '-') */
	const char *row_filter;    /* value of the row-filter parameter */
	const char *epsilon;       /* ε requested, a decimal string ("0.1"); NULL = none */
	int64_t acquired_ms;       /* when the data used was obtained (elapsedTime); 0 = now */
} tds_policy_request;

typedef enum {
	TDS_POLICY_DUTY_MASK = 0,
	TDS_POLICY_DUTY_WATERMARK,
	TDS_POLICY_DUTY_DELETE,
	TDS_POLICY_DUTY_LOG,
	TDS_POLICY_DUTY_PAY,
	TDS_POLICY_DUTY_NOTIFY
} tds_policy_duty_kind;

/* An obligation the permit carries. Strings are borrowed from the compiled policy. */
typedef struct tds_policy_obligation {
	tds_policy_duty_kind kind;
	const char *action;   /* "mask", "watermark", "delete", "log", "pay", "notify" */
	const char *field;    /* mask: the field */
	const char *rule;     /* mask: masking rule; watermark: code (may be NULL) */
	const char *ref;      /* pay: pricing rule reference; notify: recipient */
	int64_t after_s;      /* delete: seconds after delivery */
	const char *clause;   /* path of the duty in the policy */
} tds_policy_obligation;

/* The answer. `code`, `reason` and `clause` point to static text or into the compiled policy
 * (which must outlive the decision). Codes are stable snake_case:
 *   permit, prohibited, action_not_granted, outside_window, count_exhausted, rate_exceeded,
 *   budget_exhausted, purpose_not_allowed, recipient_not_allowed, field_not_granted,
 *   row_filter_not_allowed, location_not_allowed, environment_not_allowed, retention_expired,
 *   constraint_not_met (a logical or/xone constraint). */
typedef struct tds_policy_decision {
	bool permit;
	const char *code;
	const char *reason;   /* English sentence */
	const char *clause;   /* "permission[0]" on permit; the failing constraint's or the
				 prohibition's path on deny; "" when no rule covered the action */
	size_t n_obligations; /* permit only; never more than TDS_POLICY_MAX_OBLIGATIONS */
	tds_policy_obligation obligations[TDS_POLICY_MAX_OBLIGATIONS];
} tds_policy_decision;

/* Decides one request at now_ms (Unix ms, UTC). Never allocates. `counters` must come from
 * tds_policy_counters_new(p) and may be NULL only when the policy has no counter slots. On permit
 * the permitting rule's count, rate and budget counters are charged, atomically with their check.
 * Returns 0 when a decision was made (permit or deny, in *d); TDS_EINVAL for a malformed request
 * (unknown action, more than TDS_POLICY_MAX_FIELDS fields, an unparsable IP or ε, missing counters),
 * in which case *d is a deny with code "invalid_request". */
int tds_policy_decide(const tds_policy *p, tds_policy_counters *counters, const tds_policy_request *req,
		      int64_t now_ms, tds_policy_decision *d);

/* ------------------------------------------------------------------------------------------------
 * Counters. Rate windows are fixed UTC windows (the minute, the day) aligned to the epoch: the
 * count restarts at 0 when a request falls in a later window. Budgets are kept in millionths of ε
 * (decimals have at most 6 fractional digits).
 *
 * Persistence: the node keeps counters across restarts with a write-behind journal plus
 * snapshots. Every charge calls the journal hook (if set) under the counters' lock with the new
 * absolute values of the charged slots, so the node can append them to SQLite (the last record per
 * slot wins, and being absolute values, replaying records twice is harmless); from time to time it
 * stores tds_policy_counters_snapshot and truncates the journal. On start it restores the snapshot
 * and replays later records with tds_policy_counters_set. Without a journal, what was charged
 * since the last snapshot is lost in a crash (counts would be granted again).
 * ---------------------------------------------------------------------------------------------- */

typedef enum { TDS_POLICY_SLOT_COUNT = 0, TDS_POLICY_SLOT_RATE, TDS_POLICY_SLOT_BUDGET } tds_policy_slot_kind;

/* State of one slot: `used` uses (count, rate) or millionths of ε (budget); `window` the rate
 * window's index (minutes or days since the epoch; 0 for the others). */
typedef struct tds_policy_slot_state {
	uint32_t slot;
	tds_policy_slot_kind kind;
	int64_t window;
	uint64_t used;
} tds_policy_slot_state;

typedef void (*tds_policy_journal_fn)(void *ctx, const tds_policy_slot_state *states, size_t n);

/* New counters (all zero) for p, which must outlive them. NULL on allocation failure. */
tds_policy_counters *tds_policy_counters_new(const tds_policy *p);
void tds_policy_counters_free(tds_policy_counters *c); /* NULL is fine */
/* Sets the journal hook (NULL to remove). Call before sharing the counters between threads. */
void tds_policy_counters_set_journal(tds_policy_counters *c, tds_policy_journal_fn fn, void *ctx);
/* Reads / overwrites one slot (TDS_EINVAL for a slot out of range or of another kind). */
int tds_policy_counters_get(tds_policy_counters *c, uint32_t slot, tds_policy_slot_state *out);
int tds_policy_counters_set(tds_policy_counters *c, const tds_policy_slot_state *s);
/* Snapshot as JSON: {"policy":"<uid>","counters":[{"clause":"permission[0].constraint[1]",
 * "kind":"count"|"rate"|"privacyBudget","window":W,"used":U}, …]} (budget "used" is a decimal
 * string). Consistent: taken under the lock. *out is a new reference. */
int tds_policy_counters_snapshot(tds_policy_counters *c, json_t **out);
/* Restores a snapshot taken from counters of the same policy: the uid, every slot's clause and
 * kind must match, else TDS_EINVAL naming the member and nothing is changed. */
int tds_policy_counters_restore(tds_policy_counters *c, const json_t *snap);

/* Parses a non-negative decimal string with at most 6 fractional digits ("0.25") into millionths;
 * TDS_EINVAL otherwise (also above 10^12). */
int tds_policy_decimal_parse(const char *s, uint64_t *micro);

#endif
