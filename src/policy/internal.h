/*
 * policy/internal.h — the compiled form shared by compile.c, decide.c and counters.c.
 *
 * A compiled policy is a handful of flat arrays in one arena:
 *   nodes    every constraint node; a rule's top-level constraints are nodes[first, first+n), a
 *            logical node's children are again a contiguous run nodes[first, first+n)
 *   duties   obligations ready to copy into a decision; a permission's are duties[first, first+n),
 *            the policy-level ones likewise
 *   cidrs    pre-parsed address ranges; a spatial node's are cidrs[first, first+n)
 *   strings  every distinct string, id = index; `sorted` orders ids by text for bsearch
 *   slots    one per stateful constraint (count, rate, privacyBudget)
 * A set of strings is a 256-bit set of ids (TDS_POLICY_MAX_STRINGS).
 */
#ifndef TDS_POLICY_INTERNAL_H
#define TDS_POLICY_INTERNAL_H

#include "policy/policy.h"

#include <pthread.h>

enum pol_left {
	L_DATETIME = 0,
	L_COUNT,
	L_RATE,
	L_PURPOSE,
	L_RECIPIENT,
	L_FIELD,
	L_ROWFILTER,
	L_SPATIAL,
	L_ENVIRONMENT,
	L_ELAPSED,
	L_BUDGET,
	L_AND,
	L_OR,
	L_XONE
};

enum pol_op { OP_EQ = 0, OP_NEQ, OP_LT, OP_LTEQ, OP_GT, OP_GTEQ, OP_ANYOF, OP_NONEOF };

enum { RATE_MINUTE = 0, RATE_DAY = 1 };

typedef struct pol_set {
	uint64_t w[TDS_POLICY_MAX_STRINGS / 64];
} pol_set;

typedef struct pol_cidr {
	uint8_t family; /* 4 or 6 */
	uint8_t bits;
	uint8_t addr[16];
} pol_cidr;

typedef struct pol_node {
	uint8_t left, op, unit;
	bool stateful;
	uint16_t first, n;            /* logical: children */
	uint16_t cidr_first, n_cidr;  /* spatial */
	uint32_t slot;                /* stateful: counter slot */
	int64_t v;                    /* ms (dateTime), limit (count, rate), s (elapsedTime), micro-ε */
	pol_set set;                  /* string operands */
	const char *path;
} pol_node;

typedef struct pol_rule {
	uint32_t actions; /* bit per tds_policy_action */
	uint16_t first, n;
	uint16_t duty_first, n_duty;
	const char *path;
} pol_rule;

typedef struct pol_slot {
	tds_policy_slot_kind kind;
	uint8_t unit;
	const char *path;
} pol_slot;

struct tds_policy {
	tds_arena *arena;
	const char *uid;
	pol_rule perm[TDS_POLICY_MAX_RULES];
	pol_rule proh[TDS_POLICY_MAX_RULES];
	size_t n_perm, n_proh;
	pol_node *nodes;
	size_t n_nodes;
	tds_policy_obligation *duties;
	size_t n_duties;
	uint16_t pol_duty_first, n_pol_duty;
	pol_cidr *cidrs;
	size_t n_cidrs;
	const char **strings;
	uint16_t *sorted;
	size_t n_strings;
	pol_slot *slots;
	size_t n_slots;
};

typedef struct pol_counter {
	int64_t window;
	uint64_t used;
} pol_counter;

struct tds_policy_counters {
	const tds_policy *p;
	pthread_mutex_t mu;
	tds_policy_journal_fn journal;
	void *journal_ctx;
	pol_counter *c; /* n_slots */
};

static inline bool pol_set_has(const pol_set *s, unsigned id)
{
	return (s->w[id >> 6] >> (id & 63)) & 1;
}
static inline void pol_set_add(pol_set *s, unsigned id)
{
	s->w[id >> 6] |= (uint64_t)1 << (id & 63);
}
static inline bool pol_set_meets(const pol_set *a, const pol_set *b)
{
	uint64_t x = 0;
	for (size_t i = 0; i < TDS_POLICY_MAX_STRINGS / 64; i++)
		x |= a->w[i] & b->w[i];
	return x != 0;
}
/* a ⊆ b */
static inline bool pol_set_within(const pol_set *a, const pol_set *b)
{
	uint64_t x = 0;
	for (size_t i = 0; i < TDS_POLICY_MAX_STRINGS / 64; i++)
		x |= a->w[i] & ~b->w[i];
	return x == 0;
}

/* Id of a string in the policy's table, or -1. */
int pol_lookup(const tds_policy *p, const char *s);
/* Parses "a.b.c.d/n" or "x::y/n" (a bare address is /32 or /128). */
int pol_cidr_parse(const char *s, pol_cidr *out);
bool pol_cidr_match(const pol_cidr *c, int family, const uint8_t addr[16]);
/* Rate window index of now_ms for a unit. */
static inline int64_t pol_window(uint8_t unit, int64_t now_ms)
{
	int64_t len = unit == RATE_DAY ? 86400000 : 60000;
	return now_ms >= 0 ? now_ms / len : -((-now_ms + len - 1) / len);
}

#endif
