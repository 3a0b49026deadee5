/*
 * decide.c — the decision point (PDP) and the counters.
 *
 * tds_policy_decide resolves the request once against the policy's string table (purpose, subject
 * ids, region and its parents, fields → bitsets; IP parsed), then walks the rules: prohibitions
 * first (any that applies denies), then permissions in order. A permission's stateless constraints
 * are evaluated without a lock; its stateful ones (count, rate, budget) are checked and charged
 * together under the counters' mutex, so the check and the charge are one atomic step and a deny
 * charges nothing. Nothing here allocates: the decision points at static text and at the compiled
 * policy.
 */
#include "policy/internal.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* the request, resolved against the policy */
typedef struct resolved {
	const tds_policy_request *rq;
	int purpose, env, row;    /* string ids or -1 (absent or unknown) */
	bool has_purpose, has_env, has_row;
	pol_set subject;          /* ids of org, account, connector */
	bool has_subject;
	pol_set region;           /* ids of the region and its parents */
	bool has_region;
	pol_set fields;           /* ids of requested fields */
	bool fields_unknown;      /* some requested field is not in the policy's table */
	int ip_family;            /* 0 none */
	uint8_t ip[16];
	uint64_t eps;             /* micro-ε */
	bool has_eps;
	int64_t now_ms;
} resolved;

static const char *const CODE_REASON[][2] = {
    [L_DATETIME] = {"outside_window", "the request falls outside the policy's validity window"},
    [L_COUNT] = {"count_exhausted", "the permitted number of uses is exhausted"},
    [L_RATE] = {"rate_exceeded", "the permitted rate of use is exceeded for the current window"},
    [L_PURPOSE] = {"purpose_not_allowed", "the declared purpose is not permitted"},
    [L_RECIPIENT] = {"recipient_not_allowed", "the requesting organisation or connector is not a permitted recipient"},
    [L_FIELD] = {"field_not_granted", "a requested field is not granted"},
    [L_ROWFILTER] = {"row_filter_not_allowed", "the row-filter parameter is outside its permitted bound"},
    [L_SPATIAL] = {"location_not_allowed", "the client address or region is not permitted"},
    [L_ENVIRONMENT] = {"environment_not_allowed", "the execution environment is not permitted"},
    [L_ELAPSED] = {"retention_expired", "the retention period of the data has elapsed"},
    [L_BUDGET] = {"budget_exhausted", "the privacy budget (epsilon) would be exceeded, or no epsilon above 0 was requested"},
    [L_AND] = {"constraint_not_met", "a logical constraint is not satisfied"},
    [L_OR] = {"constraint_not_met", "a logical constraint is not satisfied"},
    [L_XONE] = {"constraint_not_met", "a logical constraint is not satisfied"},
};

static bool single(int id, bool has, const pol_node *n)
{
	if (!has)
		return false;
	bool in = id >= 0 && pol_set_has(&n->set, (unsigned)id);
	return (n->op == OP_EQ || n->op == OP_ANYOF) ? in : !in;
}

/* Evaluates a stateless node (stateful ones are handled by the caller). `all`: a permission (every
 * requested field must satisfy a field constraint) or a prohibition (some field). */
static bool eval(const tds_policy *p, const pol_node *n, const resolved *r, bool all, const pol_node **failed)
{
	bool positive = n->op == OP_EQ || n->op == OP_ANYOF;
	bool ok;
	switch (n->left) {
	case L_DATETIME:
		switch (n->op) {
		case OP_LT: ok = r->now_ms < n->v; break;
		case OP_LTEQ: ok = r->now_ms <= n->v; break;
		case OP_GT: ok = r->now_ms > n->v; break;
		default: ok = r->now_ms >= n->v; break;
		}
		break;
	case L_ELAPSED: {
		int64_t el = r->rq->acquired_ms ? r->now_ms - r->rq->acquired_ms : 0;
		ok = n->op == OP_LT ? el < n->v * 1000 : el <= n->v * 1000;
		break;
	}
	case L_PURPOSE: ok = single(r->purpose, r->has_purpose, n); break;
	case L_ENVIRONMENT: ok = single(r->env, r->has_env, n); break;
	case L_ROWFILTER: ok = single(r->row, r->has_row, n); break;
	case L_RECIPIENT:
		ok = r->has_subject && (positive ? pol_set_meets(&r->subject, &n->set) : !pol_set_meets(&r->subject, &n->set));
		break;
	case L_FIELD:
		if (!r->rq->n_fields) /* no fields named: nothing to hold the constraint against */
			ok = false;
		else if (all) /* every field: f ∈ S, or f ∉ S */
			ok = positive ? !r->fields_unknown && pol_set_within(&r->fields, &n->set)
				      : !pol_set_meets(&r->fields, &n->set);
		else /* some field */
			ok = positive ? pol_set_meets(&r->fields, &n->set)
				      : r->fields_unknown || !pol_set_within(&r->fields, &n->set);
		break;
	case L_SPATIAL: {
		bool in = r->has_region && pol_set_meets(&r->region, &n->set);
		for (size_t i = 0; !in && r->ip_family && i < n->n_cidr; i++)
			in = pol_cidr_match(&p->cidrs[n->cidr_first + i], r->ip_family, r->ip);
		ok = (r->has_region || r->ip_family) && (positive ? in : !in);
		break;
	}
	case L_AND:
	case L_OR:
	case L_XONE: {
		size_t held = 0;
		const pol_node *sub = NULL;
		for (size_t i = 0; i < n->n; i++) {
			const pol_node *f = NULL;
			if (eval(p, &p->nodes[n->first + i], r, all, &f))
				held++;
			else if (!sub)
				sub = f;
			if (n->left == L_AND && held != i + 1)
				break;
			if (n->left == L_OR && held)
				break;
		}
		ok = n->left == L_AND ? held == n->n : n->left == L_OR ? held > 0 : held == 1;
		if (!ok && n->left == L_AND && sub) {
			*failed = sub; /* name the leaf that failed inside an "and" */
			return false;
		}
		break;
	}
	default: ok = true; break; /* stateful: checked under the lock */
	}
	if (!ok)
		*failed = n;
	return ok;
}

static void deny(tds_policy_decision *d, const char *code, const char *reason, const char *clause)
{
	d->permit = false;
	d->code = code;
	d->reason = reason;
	d->clause = clause;
	d->n_obligations = 0;
}

static int invalid(tds_policy_decision *d, const char *fmt, const char *arg)
{
	deny(d, "invalid_request", "the request is malformed", "");
	return tds_error_set(TDS_EINVAL, "invalid_request", fmt, arg);
}

static void journal(tds_policy_counters *c, const pol_rule *r)
{
	tds_policy_slot_state st[TDS_POLICY_MAX_CONSTRAINTS];
	size_t n = 0;
	const tds_policy *p = c->p;
	for (size_t i = r->first; i < (size_t)r->first + r->n; i++) {
		const pol_node *nd = &p->nodes[i];
		if (!nd->stateful)
			continue;
		st[n].slot = nd->slot;
		st[n].kind = p->slots[nd->slot].kind;
		st[n].window = c->c[nd->slot].window;
		st[n].used = c->c[nd->slot].used;
		n++;
	}
	c->journal(c->journal_ctx, st, n);
}

/* Checks and charges the rule's stateful constraints as one step; *failed on refusal. */
static bool charge(tds_policy_counters *c, const pol_rule *r, const resolved *rv, const pol_node **failed)
{
	const tds_policy *p = c->p;
	bool ok = true;
	assert(r->n <= TDS_POLICY_MAX_CONSTRAINTS);
	pthread_mutex_lock(&c->mu);
	for (size_t i = r->first; i < (size_t)r->first + r->n && ok; i++) {
		const pol_node *nd = &p->nodes[i];
		if (!nd->stateful)
			continue;
		pol_counter *k = &c->c[nd->slot];
		switch (nd->left) {
		case L_COUNT: ok = k->used + 1 <= (uint64_t)nd->v; break;
		case L_RATE: {
			int64_t w = pol_window(nd->unit, rv->now_ms);
			uint64_t used = w == k->window ? k->used : w < k->window ? UINT64_MAX - 1 : 0;
			ok = used + 1 <= (uint64_t)nd->v;
			break;
		}
		default: ok = rv->has_eps && rv->eps > 0 && k->used + rv->eps <= (uint64_t)nd->v; break;
		}
		if (!ok)
			*failed = nd;
	}
	if (ok) {
		bool any = false;
		for (size_t i = r->first; i < (size_t)r->first + r->n; i++) {
			const pol_node *nd = &p->nodes[i];
			if (!nd->stateful)
				continue;
			pol_counter *k = &c->c[nd->slot];
			any = true;
			if (nd->left == L_COUNT) {
				k->used++;
			} else if (nd->left == L_RATE) {
				int64_t w = pol_window(nd->unit, rv->now_ms);
				if (w != k->window) {
					k->window = w;
					k->used = 0;
				}
				k->used++;
			} else {
				k->used += rv->eps;
			}
		}
		if (any && c->journal)
			journal(c, r);
	}
	pthread_mutex_unlock(&c->mu);
	return ok;
}

static void resolve_id(const tds_policy *p, const char *s, pol_set *set, bool *has)
{
	if (!s || !*s)
		return;
	*has = true;
	int id = pol_lookup(p, s);
	if (id >= 0)
		pol_set_add(set, (unsigned)id);
}

int tds_policy_decide(const tds_policy *p, tds_policy_counters *counters, const tds_policy_request *rq,
		      int64_t now_ms, tds_policy_decision *d)
{
	if (!p || !rq || !d) {
		if (d)
			deny(d, "invalid_request", "the request is malformed", "");
		return tds_error_set(TDS_EINVAL, "invalid_request", "policy, request and decision are required");
	}
	if (rq->action < 0 || rq->action >= TDS_POLICY_ACTION_COUNT_)
		return invalid(d, "unknown action%s", "");
	if (p->n_slots && (!counters || counters->p != p))
		return invalid(d, "the policy has stateful constraints: counters made for it are required%s", "");
	if (rq->n_fields > TDS_POLICY_MAX_FIELDS || (rq->n_fields && !rq->fields))
		return invalid(d, "at most 64 fields per request%s", "");

	resolved r;
	memset(&r, 0, sizeof r);
	r.rq = rq;
	r.now_ms = now_ms;
	r.purpose = r.env = r.row = -1;
	if (rq->purpose)
		r.has_purpose = true, r.purpose = pol_lookup(p, rq->purpose);
	if (rq->environment)
		r.has_env = true, r.env = pol_lookup(p, rq->environment);
	if (rq->row_filter)
		r.has_row = true, r.row = pol_lookup(p, rq->row_filter);
	resolve_id(p, rq->org, &r.subject, &r.has_subject);
	resolve_id(p, rq->account, &r.subject, &r.has_subject);
	resolve_id(p, rq->connector, &r.subject, &r.has_subject);
	if (rq->region && *rq->region) {
		/* "CN-GD-SZ" also matches "CN-GD" and "CN" */
		char buf[TDS_POLICY_MAX_STRING + 1];
		size_t len = strnlen(rq->region, sizeof buf);
		if (len < sizeof buf) {
			memcpy(buf, rq->region, len + 1);
			r.has_region = true;
			for (;;) {
				int id = pol_lookup(p, buf);
				if (id >= 0)
					pol_set_add(&r.region, (unsigned)id);
				char *dash = strrchr(buf, '-');
				if (!dash)
					break;
				*dash = 0;
			}
		} else {
			r.has_region = true; /* too long to be any region we know */
		}
	}
	for (size_t i = 0; i < rq->n_fields; i++) {
		int id = rq->fields[i] ? pol_lookup(p, rq->fields[i]) : -1;
		if (id >= 0)
			pol_set_add(&r.fields, (unsigned)id);
		else
			r.fields_unknown = true;
	}
	if (rq->client_ip && *rq->client_ip) {
		if (inet_pton(AF_INET, rq->client_ip, r.ip) == 1)
			r.ip_family = 4;
		else if (inet_pton(AF_INET6, rq->client_ip, r.ip) == 1)
			r.ip_family = 6;
		else
			return invalid(d, "client IP '%.64s' is not an IPv4 or IPv6 address", rq->client_ip);
	}
	if (rq->epsilon) {
		if (tds_policy_decimal_parse(rq->epsilon, &r.eps))
			return invalid(d, "epsilon '%.32s' is not a decimal string", rq->epsilon);
		r.has_eps = true;
	}

	uint32_t bit = 1u << rq->action;
	/* prohibitions override permissions */
	for (size_t j = 0; j < p->n_proh; j++) {
		const pol_rule *q = &p->proh[j];
		if (!(q->actions & bit))
			continue;
		bool applies = true;
		const pol_node *f = NULL;
		for (size_t i = q->first; i < (size_t)q->first + q->n && applies; i++)
			applies = eval(p, &p->nodes[i], &r, false, &f);
		if (applies) {
			deny(d, "prohibited", "the action is prohibited by the policy", q->path);
			return 0;
		}
	}
	const pol_node *first_fail = NULL;
	for (size_t k = 0; k < p->n_perm; k++) {
		const pol_rule *pr = &p->perm[k];
		if (!(pr->actions & bit))
			continue;
		const pol_node *f = NULL;
		bool ok = true, stateful = false;
		for (size_t i = pr->first; i < (size_t)pr->first + pr->n && ok; i++) {
			ok = eval(p, &p->nodes[i], &r, true, &f);
			stateful |= p->nodes[i].stateful;
		}
		if (ok && stateful)
			ok = charge(counters, pr, &r, &f);
		if (!ok) {
			if (!first_fail)
				first_fail = f;
			continue;
		}
		d->permit = true;
		d->code = "permit";
		d->reason = "permitted by the policy";
		d->clause = pr->path;
		size_t n = 0;
		for (size_t i = 0; i < pr->n_duty; i++)
			d->obligations[n++] = p->duties[pr->duty_first + i];
		for (size_t i = 0; i < p->n_pol_duty; i++)
			d->obligations[n++] = p->duties[p->pol_duty_first + i];
		assert(n <= TDS_POLICY_MAX_OBLIGATIONS); /* the compiler bounds duties */
		d->n_obligations = n;
		return 0;
	}
	if (!first_fail) {
		deny(d, "action_not_granted", "no permission of the policy grants this action", "");
		return 0;
	}
	deny(d, CODE_REASON[first_fail->left][0], CODE_REASON[first_fail->left][1], first_fail->path);
	return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Counters
 * ---------------------------------------------------------------------------------------------- */

tds_policy_counters *tds_policy_counters_new(const tds_policy *p)
{
	tds_policy_counters *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->c = calloc(p->n_slots ? p->n_slots : 1, sizeof *c->c);
	if (!c->c) {
		free(c);
		return NULL;
	}
	c->p = p;
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

void tds_policy_counters_free(tds_policy_counters *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->mu);
	free(c->c);
	free(c);
}

void tds_policy_counters_set_journal(tds_policy_counters *c, tds_policy_journal_fn fn, void *ctx)
{
	pthread_mutex_lock(&c->mu);
	c->journal = fn;
	c->journal_ctx = ctx;
	pthread_mutex_unlock(&c->mu);
}

int tds_policy_counters_get(tds_policy_counters *c, uint32_t slot, tds_policy_slot_state *out)
{
	if (slot >= c->p->n_slots)
		return tds_error_set(TDS_EINVAL, "invalid_slot", "counter slot %u out of range", slot);
	pthread_mutex_lock(&c->mu);
	out->slot = slot;
	out->kind = c->p->slots[slot].kind;
	out->window = c->c[slot].window;
	out->used = c->c[slot].used;
	pthread_mutex_unlock(&c->mu);
	return 0;
}

int tds_policy_counters_set(tds_policy_counters *c, const tds_policy_slot_state *s)
{
	if (s->slot >= c->p->n_slots || c->p->slots[s->slot].kind != s->kind)
		return tds_error_set(TDS_EINVAL, "invalid_slot", "counter slot %u out of range or of another kind", s->slot);
	pthread_mutex_lock(&c->mu);
	c->c[s->slot].window = s->kind == TDS_POLICY_SLOT_RATE ? s->window : 0;
	c->c[s->slot].used = s->used;
	pthread_mutex_unlock(&c->mu);
	return 0;
}

static const char *const SLOT_KIND[] = {"count", "rate", "privacyBudget"};

static void micro_text(uint64_t m, char out[32])
{
	char frac[8];
	snprintf(frac, sizeof frac, "%06llu", (unsigned long long)(m % 1000000));
	size_t n = 6;
	while (n > 1 && frac[n - 1] == '0')
		n--;
	frac[n] = 0;
	snprintf(out, 32, "%llu.%s", (unsigned long long)(m / 1000000), frac);
}

int tds_policy_counters_snapshot(tds_policy_counters *c, json_t **out)
{
	const tds_policy *p = c->p;
	json_t *arr = json_array();
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < p->n_slots; i++) {
		json_t *used;
		if (p->slots[i].kind == TDS_POLICY_SLOT_BUDGET) {
			char t[32];
			micro_text(c->c[i].used, t);
			used = json_string(t);
		} else {
			used = json_integer((json_int_t)c->c[i].used);
		}
		json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:o}", "clause", p->slots[i].path, "kind",
						     SLOT_KIND[p->slots[i].kind], "window", (json_int_t)c->c[i].window,
						     "used", used));
	}
	pthread_mutex_unlock(&c->mu);
	*out = json_pack("{s:s, s:o}", "policy", p->uid, "counters", arr);
	if (!*out)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory taking a counters snapshot");
	return 0;
}

int tds_policy_counters_restore(tds_policy_counters *c, const json_t *snap)
{
	const tds_policy *p = c->p;
	static const tds_json_field top[] = {{"policy", TDS_JSON_STRING, true, 0}, {"counters", TDS_JSON_ARRAY, true, 0}};
	if (tds_json_check(snap, top, TDS_ARRAY_LEN(top), false))
		return tds_error_wrap("counters snapshot: ");
	if (strcmp(json_string_value(json_object_get(snap, "policy")), p->uid))
		return tds_error_set(TDS_EINVAL, "invalid_snapshot", "policy: the snapshot is of policy '%s', not '%s'",
				     json_string_value(json_object_get(snap, "policy")), p->uid);
	const json_t *arr = json_object_get(snap, "counters");
	if (json_array_size(arr) != p->n_slots)
		return tds_error_set(TDS_EINVAL, "invalid_snapshot", "counters: %zu counters, the policy has %zu",
				     json_array_size(arr), p->n_slots);
	pol_counter *tmp = calloc(p->n_slots ? p->n_slots : 1, sizeof *tmp);
	if (!tmp)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	static const tds_json_field item[] = {{"clause", TDS_JSON_STRING, true, 0},
					      {"kind", TDS_JSON_STRING, true, 0},
					      {"window", TDS_JSON_INTEGER, true, 0},
					      {"used", TDS_JSON_ANY, true, 0}};
	for (size_t i = 0; i < p->n_slots; i++) {
		const json_t *it = json_array_get(arr, i);
		if (tds_json_check(it, item, TDS_ARRAY_LEN(item), false)) {
			free(tmp);
			return tds_error_wrap("counters[%zu]: ", i);
		}
		if (strcmp(json_string_value(json_object_get(it, "clause")), p->slots[i].path) ||
		    strcmp(json_string_value(json_object_get(it, "kind")), SLOT_KIND[p->slots[i].kind])) {
			free(tmp);
			return tds_error_set(TDS_EINVAL, "invalid_snapshot",
					     "counters[%zu]: the policy's counter %zu is the %s of %s", i, i,
					     SLOT_KIND[p->slots[i].kind], p->slots[i].path);
		}
		const json_t *u = json_object_get(it, "used");
		if (p->slots[i].kind == TDS_POLICY_SLOT_BUDGET) {
			if (!json_is_string(u) || tds_policy_decimal_parse(json_string_value(u), &tmp[i].used)) {
				free(tmp);
				return tds_error_set(TDS_EINVAL, "invalid_snapshot", "counters[%zu].used: must be a decimal string", i);
			}
		} else {
			if (!json_is_integer(u) || json_integer_value(u) < 0) {
				free(tmp);
				return tds_error_set(TDS_EINVAL, "invalid_snapshot",
						     "counters[%zu].used: must be a non-negative integer", i);
			}
			tmp[i].used = (uint64_t)json_integer_value(u);
		}
		tmp[i].window = p->slots[i].kind == TDS_POLICY_SLOT_RATE ? json_integer_value(json_object_get(it, "window")) : 0;
	}
	pthread_mutex_lock(&c->mu);
	memcpy(c->c, tmp, p->n_slots * sizeof *tmp);
	pthread_mutex_unlock(&c->mu);
	free(tmp);
	return 0;
}
