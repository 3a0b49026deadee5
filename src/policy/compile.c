/*
 * compile.c — the strict parser and compiler of policies (policy JSON → tds_policy).
 *
 * One pass over the document: each member is checked against the grammar of docs/policy.md as it is
 * read, every refusal names its JSON path, and the flat arrays of internal.h are filled as we go
 * (nodes and duties in growable scratch arrays, copied into the policy's arena at the end). The
 * contradiction checks (empty dateTime window, purpose or environment with nothing left, a granted
 * field prohibited outright) run per rule once its constraints are read.
 */
#include "policy/internal.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_ 192

typedef struct cctx {
	tds_policy *p;
	pol_node *nodes;
	size_t n_nodes, cap_nodes;
	tds_policy_obligation *duties;
	size_t n_duties, cap_duties;
	pol_cidr *cidrs;
	size_t n_cidrs, cap_cidrs;
	const char *strings[TDS_POLICY_MAX_STRINGS];
	size_t n_strings;
	pol_slot *slots;
	size_t n_slots, cap_slots;
} cctx;

static int bad(const char *path, const char *fmt, ...) TDS_PRINTF(2, 3);
static int bad(const char *path, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return tds_error_set(TDS_EINVAL, "invalid_policy", "%s: %s", path, msg);
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 16;
	while (nc < need)
		nc *= 2;
	void *n = realloc(*arr, nc * elem);
	if (!n)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory compiling a policy");
	memset((char *)n + *cap * elem, 0, (nc - *cap) * elem);
	*arr = n;
	*cap = nc;
	return 0;
}

static const char *const ACTIONS[TDS_POLICY_ACTION_COUNT_] = {"read",	"query",      "compute", "download",
							       "derive", "distribute", "export",  "grantUse"};

int tds_policy_action_parse(const char *name)
{
	if (!name)
		return -1;
	for (int i = 0; i < TDS_POLICY_ACTION_COUNT_; i++)
		if (!strcmp(name, ACTIONS[i]))
			return i;
	if (!strcmp(name, "use"))
		return TDS_POLICY_ACTION_USE;
	return -1;
}

const char *tds_policy_action_name(int action)
{
	if (action >= 0 && action < TDS_POLICY_ACTION_COUNT_)
		return ACTIONS[action];
	return action == TDS_POLICY_ACTION_USE ? "use" : "?";
}

static const char *const LEFTS[] = {"dateTime", "count",  "rate",	 "purpose",	"recipient",	 "field",
				    "rowFilter", "spatial", "environment", "elapsedTime", "privacyBudget"};
static const char *const OPS[] = {"eq", "neq", "lt", "lteq", "gt", "gteq", "isAnyOf", "isNoneOf"};
static const char *const ENVS[] = {"sandbox-dev", "sandbox-prod", "consumer-domain", "provider-domain"};

/* --- strings ------------------------------------------------------------------------------------ */

static int check_string(const char *path, const json_t *v, const char **out)
{
	if (!json_is_string(v))
		return bad(path, "must be a string");
	size_t len = json_string_length(v);
	if (len == 0)
		return bad(path, "must not be empty");
	if (len > TDS_POLICY_MAX_STRING)
		return bad(path, "longer than %d bytes", TDS_POLICY_MAX_STRING);
	const char *s = json_string_value(v);
	if (strlen(s) != len)
		return bad(path, "contains a NUL byte");
	*out = s;
	return 0;
}

static int intern(cctx *c, const char *path, const char *s, unsigned *id)
{
	for (size_t i = 0; i < c->n_strings; i++)
		if (!strcmp(c->strings[i], s)) {
			*id = (unsigned)i;
			return 0;
		}
	if (c->n_strings >= TDS_POLICY_MAX_STRINGS)
		return bad(path, "more than %d distinct strings in the policy", TDS_POLICY_MAX_STRINGS);
	c->strings[c->n_strings] = tds_arena_strdup(c->p->arena, s);
	*id = (unsigned)c->n_strings++;
	return 0;
}

static const char *keep(cctx *c, const char *s)
{
	return tds_arena_strdup(c->p->arena, s);
}

/* --- members ------------------------------------------------------------------------------------ */

/* Refuses any member of obj not in the NULL-terminated list. */
static int only_members(const char *path, const json_t *obj, const char *const *allowed)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)obj, k, v)
	{
		bool ok = false;
		for (size_t i = 0; allowed[i] && !ok; i++)
			ok = !strcmp(k, allowed[i]);
		if (!ok)
			return bad(path, "unknown member '%.64s'", k);
	}
	return 0;
}

/* Paths are short (the nesting is bounded: well under PATH_MAX_ bytes); vsnprintf keeps them bounded anyway. */
static void pathf(char *out, const char *fmt, ...) TDS_PRINTF(2, 3);
static void pathf(char *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, PATH_MAX_, fmt, ap);
	va_end(ap);
}

static void subpath(char *out, const char *path, const char *member)
{
	pathf(out, "%s.%s", path, member);
}
static void itempath(char *out, const char *path, const char *member, size_t i)
{
	if (path[0])
		pathf(out, "%s.%s[%zu]", path, member, i);
	else
		pathf(out, "%s[%zu]", member, i);
}

/* ISO 8601 duration without years or months: PnW | PnDTnHnMnS (any subset, at least one). */
static int parse_duration(const char *path, const json_t *v, int64_t *secs)
{
	const char *s;
	int rc;
	if ((rc = check_string(path, v, &s)))
		return rc;
	if (*s++ != 'P')
		return bad(path, "must be an ISO 8601 duration such as \"P30D\" or \"PT12H\"");
	int64_t total = 0;
	bool in_time = false, any = false;
	const char *order_d = "WD", *order_t = "HMS";
	size_t pos_d = 0, pos_t = 0;
	while (*s) {
		if (*s == 'T' && !in_time) {
			in_time = true;
			s++;
			if (!*s)
				return bad(path, "a 'T' must be followed by hours, minutes or seconds");
			continue;
		}
		if (*s < '0' || *s > '9')
			return bad(path, "must be an ISO 8601 duration such as \"P30D\" or \"PT12H\" (no years or months)");
		int64_t n = 0;
		while (*s >= '0' && *s <= '9') {
			if (n > 1000000000)
				return bad(path, "duration too long");
			n = n * 10 + (*s++ - '0');
		}
		int64_t mul = 0;
		const char *order = in_time ? order_t : order_d;
		size_t *pos = in_time ? &pos_t : &pos_d;
		const char *at = *s ? strchr(order + *pos, *s) : NULL;
		if (!at)
			return bad(path, "must be an ISO 8601 duration such as \"P30D\" or \"PT12H\" (no years or months)");
		*pos = (size_t)(at - order) + 1;
		switch (*s) {
		case 'W': mul = 7 * 86400; break;
		case 'D': mul = 86400; break;
		case 'H': mul = 3600; break;
		case 'M': mul = 60; break;
		default: mul = 1; break;
		}
		if (!in_time && *s == 'W' && s[1])
			return bad(path, "weeks cannot be combined with other units");
		total += n * mul;
		if (total > (int64_t)100 * 366 * 86400)
			return bad(path, "duration longer than 100 years");
		any = true;
		s++;
	}
	if (!any)
		return bad(path, "an empty duration");
	*secs = total;
	return 0;
}

int tds_policy_decimal_parse(const char *s, uint64_t *micro)
{
	if (!s || !*s)
		return tds_error_set(TDS_EINVAL, "invalid_decimal", "a decimal string is required (\"0.5\")");
	uint64_t ip = 0, fp = 0;
	size_t nd = 0, nf = 0;
	const char *p = s;
	while (*p >= '0' && *p <= '9') {
		if (++nd > 12)
			return tds_error_set(TDS_EINVAL, "invalid_decimal", "decimal too large (at most 10^12)");
		ip = ip * 10 + (uint64_t)(*p++ - '0');
	}
	if (nd == 0)
		return tds_error_set(TDS_EINVAL, "invalid_decimal", "'%.32s' is not a decimal such as \"0.5\"", s);
	if (nd > 1 && s[0] == '0')
		return tds_error_set(TDS_EINVAL, "invalid_decimal", "'%.32s' has a leading zero", s);
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			if (++nf > 6)
				return tds_error_set(TDS_EINVAL, "invalid_decimal",
						     "'%.32s' has more than 6 fractional digits", s);
			fp = fp * 10 + (uint64_t)(*p++ - '0');
		}
		if (nf == 0)
			return tds_error_set(TDS_EINVAL, "invalid_decimal", "'%.32s' has no digits after the point", s);
	}
	if (*p)
		return tds_error_set(TDS_EINVAL, "invalid_decimal", "'%.32s' is not a decimal such as \"0.5\"", s);
	for (size_t i = nf; i < 6; i++)
		fp *= 10;
	*micro = ip * 1000000 + fp;
	return 0;
}

/* --- CIDR ----------------------------------------------------------------------------------------- */

int pol_cidr_parse(const char *s, pol_cidr *out)
{
	char buf[64];
	size_t len = strlen(s);
	if (len >= sizeof buf)
		return -1;
	memcpy(buf, s, len + 1);
	char *slash = strchr(buf, '/');
	long bits = -1;
	if (slash) {
		*slash = 0;
		const char *b = slash + 1;
		if (!*b || strlen(b) > 3)
			return -1;
		bits = 0;
		for (; *b; b++) {
			if (*b < '0' || *b > '9')
				return -1;
			bits = bits * 10 + (*b - '0');
		}
		if (slash[1] == '0' && slash[2])
			return -1;
	}
	memset(out, 0, sizeof *out);
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = 4;
		if (bits < 0)
			bits = 32;
		if (bits > 32)
			return -1;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = 6;
		if (bits < 0)
			bits = 128;
		if (bits > 128)
			return -1;
	} else {
		return -1;
	}
	out->bits = (uint8_t)bits;
	/* host bits must be zero: "10.0.0.1/8" is a typo for something */
	size_t nbytes = out->family == 4 ? 4 : 16;
	for (size_t i = 0; i < nbytes; i++) {
		int keepbits = (int)bits - (int)i * 8;
		uint8_t mask = keepbits >= 8 ? 0xff : keepbits <= 0 ? 0 : (uint8_t)(0xff << (8 - keepbits));
		if (out->addr[i] & ~mask)
			return -2;
	}
	return 0;
}

bool pol_cidr_match(const pol_cidr *c, int family, const uint8_t addr[16])
{
	if (c->family != family)
		return false;
	int bits = c->bits;
	size_t full = (size_t)bits / 8;
	if (memcmp(c->addr, addr, full))
		return false;
	int rest = bits % 8;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (c->addr[full] & mask) == (addr[full] & mask);
}

/* --- constraints ---------------------------------------------------------------------------------- */

static bool is_region(const char *s)
{
	/* "CN", "CN-11", "CN-GD-SZ": upper-case letters and digits in '-'-separated parts, first part 2 letters */
	size_t n = strlen(s);
	if (n < 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z')
		return false;
	if (n > 2 && s[2] != '-')
		return false;
	char prev = 'A';
	for (size_t i = 2; i < n; i++) {
		char ch = s[i];
		bool alnum = (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
		if (!alnum && ch != '-')
			return false;
		if (ch == '-' && prev == '-')
			return false;
		prev = ch;
	}
	return prev != '-';
}

/* Reads a string or a list of strings (rightOperand of set operators) into node->set, checking
 * each value with `check` (may be NULL). */
static int read_set(cctx *c, const char *path, const json_t *v, pol_node *node, bool list,
		    int (*check)(cctx *, const char *, const char *, pol_node *))
{
	char ip[PATH_MAX_];
	if (!list) {
		const char *s;
		int rc = check_string(path, v, &s);
		if (rc)
			return rc;
		if (check && (rc = check(c, path, s, node)))
			return rc;
		unsigned id = 0;
		if (node->left == L_SPATIAL && (strchr(s, '.') || strchr(s, ':')))
			return 0;
		if ((rc = intern(c, path, s, &id)))
			return rc;
		pol_set_add(&node->set, id);
		return 0;
	}
	if (!json_is_array(v))
		return bad(path, "must be an array of strings for operator %s", OPS[node->op]);
	size_t n = json_array_size(v);
	if (n == 0)
		return bad(path, "must not be an empty array");
	if (n > TDS_POLICY_MAX_SET)
		return bad(path, "more than %d items", TDS_POLICY_MAX_SET);
	for (size_t i = 0; i < n; i++) {
		pathf(ip, "%s[%zu]", path, i);
		int rc = read_set(c, ip, json_array_get(v, i), node, false, check);
		if (rc)
			return rc;
	}
	return 0;
}

static int check_env(cctx *c, const char *path, const char *s, pol_node *node)
{
	for (size_t i = 0; i < TDS_ARRAY_LEN(ENVS); i++)
		if (!strcmp(s, ENVS[i]))
			return 0;
	return bad(path, "unknown environment '%.64s' (sandbox-dev, sandbox-prod, consumer-domain, provider-domain)", s);
}

static int check_spatial(cctx *c, const char *path, const char *s, pol_node *node)
{
	if (strchr(s, '.') || strchr(s, ':')) {
		pol_cidr cd;
		int r = pol_cidr_parse(s, &cd);
		if (r == -2)
			return bad(path, "'%.64s' has host bits set beyond its prefix length", s);
		if (r)
			return bad(path, "'%.64s' is neither an IPv4/IPv6 CIDR range nor a region code", s);
		if (node->n_cidr >= TDS_POLICY_MAX_SET)
			return bad(path, "too many ranges");
		if (grow((void **)&c->cidrs, &c->cap_cidrs, c->n_cidrs + 1, sizeof *c->cidrs))
			return TDS_ENOMEM;
		if (node->n_cidr == 0)
			node->cidr_first = (uint16_t)c->n_cidrs;
		c->cidrs[c->n_cidrs++] = cd;
		node->n_cidr++;
		return 0;
	}
	if (!is_region(s))
		return bad(path, "'%.64s' is neither an IPv4/IPv6 CIDR range nor a region code (\"CN\", \"CN-11\")", s);
	return 0;
}

static int parse_node(cctx *c, const char *path, const json_t *v, size_t idx, int depth, bool top,
		      bool prohibition);

static int parse_leaf(cctx *c, const char *path, const json_t *v, size_t idx, bool top, bool prohibition)
{
	static const char *const members[] = {"leftOperand", "operator", "rightOperand", "unit", NULL};
	char mp[PATH_MAX_];
	int rc;
	if ((rc = only_members(path, v, members)))
		return rc;
	pol_node node;
	memset(&node, 0, sizeof node);
	node.path = keep(c, path);

	const json_t *jl = json_object_get(v, "leftOperand"), *jo = json_object_get(v, "operator"),
		     *jr = json_object_get(v, "rightOperand"), *ju = json_object_get(v, "unit");
	const char *ls, *os;
	subpath(mp, path, "leftOperand");
	if (!jl)
		return bad(mp, "is required");
	if ((rc = check_string(mp, jl, &ls)))
		return rc;
	int left = -1;
	for (size_t i = 0; i < TDS_ARRAY_LEN(LEFTS); i++)
		if (!strcmp(ls, LEFTS[i]))
			left = (int)i;
	if (left < 0)
		return bad(mp, "unknown left operand '%.64s'", ls);
	node.left = (uint8_t)left;
	subpath(mp, path, "operator");
	if (!jo)
		return bad(mp, "is required");
	if ((rc = check_string(mp, jo, &os)))
		return rc;
	int op = -1;
	for (size_t i = 0; i < TDS_ARRAY_LEN(OPS); i++)
		if (!strcmp(os, OPS[i]))
			op = (int)i;
	if (op < 0)
		return bad(mp, "unknown operator '%.64s'", os);
	node.op = (uint8_t)op;
	/* which operators each operand takes */
	static const uint8_t allowed[] = {
	    [L_DATETIME] = 1 << OP_LT | 1 << OP_LTEQ | 1 << OP_GT | 1 << OP_GTEQ,
	    [L_COUNT] = 1 << OP_LT | 1 << OP_LTEQ,
	    [L_RATE] = 1 << OP_LT | 1 << OP_LTEQ,
	    [L_PURPOSE] = 1 << OP_EQ | 1 << OP_NEQ | 1 << OP_ANYOF | 1 << OP_NONEOF,
	    [L_RECIPIENT] = 1 << OP_EQ | 1 << OP_NEQ | 1 << OP_ANYOF | 1 << OP_NONEOF,
	    [L_FIELD] = 1 << OP_EQ | 1 << OP_NEQ | 1 << OP_ANYOF | 1 << OP_NONEOF,
	    [L_ROWFILTER] = 1 << OP_EQ | 1 << OP_NEQ | 1 << OP_ANYOF | 1 << OP_NONEOF,
	    [L_SPATIAL] = 1 << OP_EQ | 1 << OP_NEQ | 1 << OP_ANYOF | 1 << OP_NONEOF,
	    [L_ENVIRONMENT] = 1 << OP_EQ | 1 << OP_NEQ | 1 << OP_ANYOF | 1 << OP_NONEOF,
	    [L_ELAPSED] = 1 << OP_LT | 1 << OP_LTEQ,
	    [L_BUDGET] = 1 << OP_LTEQ,
	};
	if (!(allowed[left] >> op & 1))
		return bad(mp, "operator '%s' does not apply to left operand '%s'", os, ls);
	node.stateful = left == L_COUNT || left == L_RATE || left == L_BUDGET;
	if (node.stateful && !top)
		return bad(path, "'%s' may appear only directly in a rule's constraint list, not under or/xone", ls);
	if (node.stateful && prohibition)
		return bad(path, "'%s' does not apply to a prohibition", ls);
	subpath(mp, path, "unit");
	if (ju && left != L_RATE)
		return bad(mp, "only a 'rate' constraint takes a unit");
	subpath(mp, path, "rightOperand");
	if (!jr)
		return bad(mp, "is required");
	if (json_is_real(jr))
		return bad(mp, "a JSON real is not allowed: write decimals as strings (\"0.5\")");
	bool list = op == OP_ANYOF || op == OP_NONEOF;
	switch (left) {
	case L_DATETIME: {
		const char *s;
		if ((rc = check_string(mp, jr, &s)))
			return rc;
		if (tds_time_parse(s, &node.v))
			return bad(mp, "'%.64s' is not an RFC 3339 date-time (\"2026-01-01T00:00:00Z\")", s);
		break;
	}
	case L_COUNT:
	case L_RATE: {
		if (!json_is_integer(jr))
			return bad(mp, "must be an integer");
		json_int_t n = json_integer_value(jr);
		if (n < 0)
			return bad(mp, "must not be negative");
		if (n > (json_int_t)1 << 53)
			return bad(mp, "too large");
		node.v = op == OP_LT ? (int64_t)n - 1 : (int64_t)n;
		if (node.v < 1)
			return bad(mp, "the rule could never be used (limit below 1): remove it instead");
		if (left == L_RATE) {
			char up[PATH_MAX_];
			subpath(up, path, "unit");
			const char *u;
			if (!ju)
				return bad(up, "is required for a rate (\"minute\" or \"day\")");
			if ((rc = check_string(up, ju, &u)))
				return rc;
			if (!strcmp(u, "minute"))
				node.unit = RATE_MINUTE;
			else if (!strcmp(u, "day"))
				node.unit = RATE_DAY;
			else
				return bad(up, "unknown unit '%.32s' (\"minute\" or \"day\")", u);
		}
		break;
	}
	case L_ELAPSED:
		if ((rc = parse_duration(mp, jr, &node.v)))
			return rc;
		if (op == OP_LT && node.v == 0)
			return bad(mp, "elapsedTime below zero can never hold");
		break;
	case L_BUDGET: {
		const char *s;
		if (!json_is_string(jr))
			return bad(mp, "must be a decimal string (\"1.0\")");
		if ((rc = check_string(mp, jr, &s)))
			return rc;
		uint64_t micro;
		if (tds_policy_decimal_parse(s, &micro))
			return bad(mp, "%s", tds_error_message());
		if (micro == 0)
			return bad(mp, "a budget of 0 could never be used: remove the rule instead");
		node.v = (int64_t)micro;
		break;
	}
	case L_ENVIRONMENT:
		if ((rc = read_set(c, mp, jr, &node, list, check_env)))
			return rc;
		break;
	case L_SPATIAL:
		if ((rc = read_set(c, mp, jr, &node, list, check_spatial)))
			return rc;
		break;
	default:
		if ((rc = read_set(c, mp, jr, &node, list, NULL)))
			return rc;
		break;
	}
	if (node.stateful) {
		if (grow((void **)&c->slots, &c->cap_slots, c->n_slots + 1, sizeof *c->slots))
			return TDS_ENOMEM;
		node.slot = (uint32_t)c->n_slots;
		c->slots[c->n_slots].kind = left == L_COUNT	 ? TDS_POLICY_SLOT_COUNT
					    : left == L_RATE ? TDS_POLICY_SLOT_RATE
							     : TDS_POLICY_SLOT_BUDGET;
		c->slots[c->n_slots].unit = node.unit;
		c->slots[c->n_slots].path = node.path;
		c->n_slots++;
	}
	c->nodes[idx] = node;
	return 0;
}

static int parse_node(cctx *c, const char *path, const json_t *v, size_t idx, int depth, bool top,
		      bool prohibition)
{
	if (!json_is_object(v))
		return bad(path, "must be an object");
	static const char *const logic[] = {"and", "or", "xone"};
	for (size_t k = 0; k < 3; k++) {
		const json_t *arr = json_object_get(v, logic[k]);
		if (!arr)
			continue;
		if (json_object_size(v) != 1)
			return bad(path, "a logical constraint has exactly one member ('%s')", logic[k]);
		char mp[PATH_MAX_];
		subpath(mp, path, logic[k]);
		if (depth >= TDS_POLICY_MAX_DEPTH)
			return bad(mp, "logical constraints nested deeper than %d", TDS_POLICY_MAX_DEPTH);
		if (!json_is_array(arr) || json_array_size(arr) < 1)
			return bad(mp, "must be a non-empty array of constraints");
		size_t n = json_array_size(arr);
		if (c->n_nodes + n > c->cap_nodes)
			return bad(mp, "more than %d constraints in one rule", TDS_POLICY_MAX_CONSTRAINTS);
		size_t first = c->n_nodes;
		c->n_nodes += n;
		pol_node *node = &c->nodes[idx];
		memset(node, 0, sizeof *node);
		node->left = (uint8_t)(L_AND + k);
		node->first = (uint16_t)first;
		node->n = (uint16_t)n;
		node->path = keep(c, path);
		/* "and" keeps stateful operands allowed only at the top: children of a top "and" are not top */
		for (size_t i = 0; i < n; i++) {
			char ip[PATH_MAX_];
			pathf(ip, "%s[%zu]", mp, i);
			int rc = parse_node(c, ip, json_array_get(arr, i), first + i, depth + 1, false, prohibition);
			if (rc)
				return rc;
		}
		return 0;
	}
	return parse_leaf(c, path, v, idx, top, prohibition);
}

/* --- rules ------------------------------------------------------------------------------------------ */

static int parse_actions(const char *path, const json_t *v, uint32_t *mask)
{
	char ip[PATH_MAX_];
	*mask = 0;
	if (!v)
		return bad(path, "is required");
	if (json_is_string(v)) {
		int a = tds_policy_action_parse(json_string_value(v));
		if (a < 0)
			return bad(path, "unknown action '%.64s'", json_string_value(v));
		*mask = a == TDS_POLICY_ACTION_USE ? (1u << TDS_POLICY_ACTION_COUNT_) - 1 : 1u << a;
		return 0;
	}
	if (!json_is_array(v) || json_array_size(v) == 0)
		return bad(path, "must be an action or a non-empty array of actions");
	if (json_array_size(v) > TDS_POLICY_MAX_SET)
		return bad(path, "too many actions");
	for (size_t i = 0; i < json_array_size(v); i++) {
		uint32_t m;
		pathf(ip, "%s[%zu]", path, i);
		const json_t *it = json_array_get(v, i);
		if (!json_is_string(it))
			return bad(ip, "must be a string");
		int rc = parse_actions(ip, it, &m);
		if (rc)
			return rc;
		*mask |= m;
	}
	return 0;
}

static int parse_duty(cctx *c, const char *path, const json_t *v)
{
	static const char *const members[] = {"action", "field", "rule", "code", "after", "pricingRule", "recipient", NULL};
	static const char *const kinds[] = {"mask", "watermark", "delete", "log", "pay", "notify"};
	char mp[PATH_MAX_];
	int rc;
	if (!json_is_object(v))
		return bad(path, "must be an object");
	if ((rc = only_members(path, v, members)))
		return rc;
	subpath(mp, path, "action");
	const char *a;
	const json_t *ja = json_object_get(v, "action");
	if (!ja)
		return bad(mp, "is required");
	if ((rc = check_string(mp, ja, &a)))
		return rc;
	int kind = -1;
	for (size_t i = 0; i < TDS_ARRAY_LEN(kinds); i++)
		if (!strcmp(a, kinds[i]))
			kind = (int)i;
	if (kind < 0)
		return bad(mp, "unknown duty '%.64s' (mask, watermark, delete, log, pay, notify)", a);
	/* members each duty takes: required (R) or optional (O) */
	static const char *const need[][6] = {
	    [TDS_POLICY_DUTY_MASK] = {"Rfield", "Rrule", NULL},
	    [TDS_POLICY_DUTY_WATERMARK] = {"Ocode", NULL},
	    [TDS_POLICY_DUTY_DELETE] = {"Rafter", NULL},
	    [TDS_POLICY_DUTY_LOG] = {NULL},
	    [TDS_POLICY_DUTY_PAY] = {"RpricingRule", NULL},
	    [TDS_POLICY_DUTY_NOTIFY] = {"Rrecipient", NULL},
	};
	const char *k;
	json_t *jv;
	json_object_foreach((json_t *)v, k, jv)
	{
		if (!strcmp(k, "action"))
			continue;
		bool ok = false;
		for (size_t i = 0; need[kind][i] && !ok; i++)
			ok = !strcmp(need[kind][i] + 1, k);
		if (!ok)
			return bad(path, "a '%s' duty takes no member '%s'", a, k);
	}
	tds_policy_obligation o;
	memset(&o, 0, sizeof o);
	o.kind = (tds_policy_duty_kind)kind;
	o.action = kinds[kind];
	o.clause = keep(c, path);
	for (size_t i = 0; need[kind][i]; i++) {
		const char *m = need[kind][i] + 1;
		const json_t *x = json_object_get(v, m);
		subpath(mp, path, m);
		if (!x) {
			if (need[kind][i][0] == 'R')
				return bad(mp, "is required for a '%s' duty", a);
			continue;
		}
		if (!strcmp(m, "after")) {
			if ((rc = parse_duration(mp, x, &o.after_s)))
				return rc;
			continue;
		}
		const char *s;
		if ((rc = check_string(mp, x, &s)))
			return rc;
		if (!strcmp(m, "field"))
			o.field = keep(c, s);
		else if (!strcmp(m, "rule") || !strcmp(m, "code"))
			o.rule = keep(c, s);
		else
			o.ref = keep(c, s);
	}
	if (grow((void **)&c->duties, &c->cap_duties, c->n_duties + 1, sizeof *c->duties))
		return TDS_ENOMEM;
	c->duties[c->n_duties++] = o;
	return 0;
}

static int parse_duties(cctx *c, const char *path, const char *member, const json_t *arr, uint16_t *first,
			uint16_t *n)
{
	char mp[PATH_MAX_], ip[PATH_MAX_];
	if (path[0])
		subpath(mp, path, member);
	else
		pathf(mp, "%s", member);
	*first = (uint16_t)c->n_duties;
	*n = 0;
	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return bad(mp, "must be an array of duties");
	if (json_array_size(arr) > TDS_POLICY_MAX_DUTIES)
		return bad(mp, "more than %d duties", TDS_POLICY_MAX_DUTIES);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		itempath(ip, path, member, i);
		int rc = parse_duty(c, ip, json_array_get(arr, i));
		if (rc)
			return rc;
	}
	*n = (uint16_t)json_array_size(arr);
	return 0;
}

/* Contradictions inside one rule (top-level constraints are and-ed). */
static int rule_contradictions(cctx *c, const pol_rule *r)
{
	int64_t lo = INT64_MIN, hi = INT64_MAX;
	pol_set allow[2], deny[2];
	bool any_allow[2] = {false, false};
	memset(allow, 0, sizeof allow);
	memset(deny, 0, sizeof deny);
	for (size_t i = r->first; i < (size_t)r->first + r->n; i++) {
		const pol_node *nd = &c->nodes[i];
		if (nd->left == L_DATETIME) {
			if (nd->op == OP_GTEQ && nd->v > lo)
				lo = nd->v;
			if (nd->op == OP_GT && nd->v + 1 > lo)
				lo = nd->v + 1;
			if (nd->op == OP_LTEQ && nd->v < hi)
				hi = nd->v;
			if (nd->op == OP_LT && nd->v - 1 < hi)
				hi = nd->v - 1;
			if (lo > hi)
				return bad(nd->path, "contradicts the rule's other dateTime constraints: the validity window is empty");
		}
		int k = nd->left == L_PURPOSE ? 0 : nd->left == L_ENVIRONMENT ? 1 : -1;
		if (k < 0)
			continue;
		if (nd->op == OP_EQ || nd->op == OP_ANYOF) {
			if (!any_allow[k])
				allow[k] = nd->set;
			else
				for (size_t w = 0; w < TDS_POLICY_MAX_STRINGS / 64; w++)
					allow[k].w[w] &= nd->set.w[w];
			any_allow[k] = true;
		} else {
			for (size_t w = 0; w < TDS_POLICY_MAX_STRINGS / 64; w++)
				deny[k].w[w] |= nd->set.w[w];
		}
		if (any_allow[k] && pol_set_within(&allow[k], &deny[k]))
			return bad(nd->path, "contradicts the rule's other %s constraints: no %s is left allowed",
				   LEFTS[nd->left], LEFTS[nd->left]);
	}
	return 0;
}

/* A field granted by a permission (eq/isAnyOf) and prohibited outright (a prohibition of an
 * overlapping action whose constraints are all field eq/isAnyOf) is a contradiction. */
static int field_contradictions(cctx *c)
{
	tds_policy *p = c->p;
	for (size_t j = 0; j < p->n_proh; j++) {
		const pol_rule *q = &p->proh[j];
		pol_set qs;
		memset(&qs, 0, sizeof qs);
		bool only_fields = q->n > 0;
		for (size_t i = q->first; i < (size_t)q->first + q->n; i++) {
			const pol_node *nd = &c->nodes[i];
			if (nd->left != L_FIELD || (nd->op != OP_EQ && nd->op != OP_ANYOF))
				only_fields = false;
			else
				for (size_t w = 0; w < TDS_POLICY_MAX_STRINGS / 64; w++)
					qs.w[w] |= nd->set.w[w];
		}
		if (!only_fields)
			continue;
		for (size_t k = 0; k < p->n_perm; k++) {
			const pol_rule *r = &p->perm[k];
			if (!(r->actions & q->actions))
				continue;
			for (size_t i = r->first; i < (size_t)r->first + r->n; i++) {
				const pol_node *nd = &c->nodes[i];
				if (nd->left != L_FIELD || (nd->op != OP_EQ && nd->op != OP_ANYOF) || !pol_set_meets(&nd->set, &qs))
					continue;
				for (unsigned id = 0; id < c->n_strings; id++)
					if (pol_set_has(&nd->set, id) && pol_set_has(&qs, id))
						return bad(q->path, "field '%s' is both granted by %s and prohibited", c->strings[id],
							   nd->path);
			}
		}
	}
	return 0;
}

static int parse_rule(cctx *c, const char *path, const json_t *v, bool prohibition, pol_rule *r)
{
	static const char *const pmembers[] = {"action", "constraint", "duty", "target", "assignee", "assigner", "uid", NULL};
	static const char *const qmembers[] = {"action", "constraint", "target", "assignee", "assigner", "uid", NULL};
	char mp[PATH_MAX_];
	int rc;
	if (!json_is_object(v))
		return bad(path, "must be an object");
	if ((rc = only_members(path, v, prohibition ? qmembers : pmembers)))
		return rc;
	static const char *const strs[] = {"target", "assignee", "assigner", "uid"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(strs); i++) {
		const json_t *x = json_object_get(v, strs[i]);
		const char *s;
		subpath(mp, path, strs[i]);
		if (x && (rc = check_string(mp, x, &s)))
			return rc;
	}
	memset(r, 0, sizeof *r);
	r->path = keep(c, path);
	subpath(mp, path, "action");
	if ((rc = parse_actions(mp, json_object_get(v, "action"), &r->actions)))
		return rc;
	const json_t *cons = json_object_get(v, "constraint");
	subpath(mp, path, "constraint");
	if (cons) {
		if (!json_is_array(cons))
			return bad(mp, "must be an array of constraints");
		size_t n = json_array_size(cons);
		if (n > TDS_POLICY_MAX_CONSTRAINTS)
			return bad(mp, "more than %d constraints in one rule", TDS_POLICY_MAX_CONSTRAINTS);
		/* the rule's nodes live in nodes[first, first + MAX): room for the whole rule up front */
		size_t first = c->n_nodes;
		if (grow((void **)&c->nodes, &c->cap_nodes, first + TDS_POLICY_MAX_CONSTRAINTS, sizeof *c->nodes))
			return TDS_ENOMEM;
		size_t saved_cap = c->cap_nodes;
		c->cap_nodes = first + TDS_POLICY_MAX_CONSTRAINTS; /* bound the rule */
		c->n_nodes += n;
		r->first = (uint16_t)first;
		r->n = (uint16_t)n;
		for (size_t i = 0; i < n && !rc; i++) {
			char ip[PATH_MAX_];
			itempath(ip, path, "constraint", i);
			rc = parse_node(c, ip, json_array_get(cons, i), first + i, 0, true, prohibition);
		}
		c->cap_nodes = saved_cap;
		if (rc)
			return rc;
		if ((rc = rule_contradictions(c, r)))
			return rc;
	} else {
		r->first = (uint16_t)c->n_nodes;
	}
	if (!prohibition && (rc = parse_duties(c, path, "duty", json_object_get(v, "duty"), &r->duty_first, &r->n_duty)))
		return rc;
	return 0;
}

static int parse_rules(cctx *c, const json_t *doc, const char *member, bool prohibition, pol_rule *rules,
		       size_t *n)
{
	const json_t *arr = json_object_get(doc, member);
	*n = 0;
	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return bad(member, "must be an array");
	if (json_array_size(arr) > TDS_POLICY_MAX_RULES)
		return bad(member, "more than %d rules", TDS_POLICY_MAX_RULES);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		char ip[PATH_MAX_];
		itempath(ip, "", member, i);
		int rc = parse_rule(c, ip, json_array_get(arr, i), prohibition, &rules[i]);
		if (rc)
			return rc;
		*n = i + 1;
	}
	return 0;
}

int pol_lookup(const tds_policy *p, const char *s)
{
	size_t lo = 0, hi = p->n_strings;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int cmp = strcmp(s, p->strings[p->sorted[mid]]);
		if (cmp == 0)
			return p->sorted[mid];
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

static void *copy_out(tds_arena *a, const void *src, size_t n, size_t elem)
{
	void *d = tds_arena_alloc(a, n ? n * elem : 1);
	if (n)
		memcpy(d, src, n * elem);
	return d;
}

static int compile_doc(cctx *c, const json_t *doc)
{
	static const char *const members[] = {"@context", "@type", "type", "uid", "profile", "assigner", "assignee",
					      "target", "permission", "prohibition", "obligation", NULL};
	tds_policy *p = c->p;
	int rc;
	if (!json_is_object(doc))
		return bad("$", "a policy must be a JSON object");
	if ((rc = only_members("$", doc, members)))
		return rc;
	const char *s;
	const json_t *uid = json_object_get(doc, "uid");
	if (!uid)
		return bad("uid", "is required");
	if ((rc = check_string("uid", uid, &s)))
		return rc;
	p->uid = keep(c, s);
	static const char *const strs[] = {"profile", "assigner", "assignee", "target"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(strs); i++) {
		const json_t *x = json_object_get(doc, strs[i]);
		if (x && (rc = check_string(strs[i], x, &s)))
			return rc;
	}
	for (size_t i = 0; i < 2; i++) {
		const char *m = i ? "type" : "@type";
		const json_t *x = json_object_get(doc, m);
		if (!x)
			continue;
		if ((rc = check_string(m, x, &s)))
			return rc;
		if (strcmp(s, "Set") && strcmp(s, "Offer") && strcmp(s, "Agreement"))
			return bad(m, "must be \"Set\", \"Offer\" or \"Agreement\"");
	}
	const json_t *ctx = json_object_get(doc, "@context");
	if (ctx && !json_is_string(ctx) && !json_is_array(ctx) && !json_is_object(ctx))
		return bad("@context", "must be a string, an array or an object");
	if ((rc = parse_rules(c, doc, "permission", false, p->perm, &p->n_perm)))
		return rc;
	if ((rc = parse_rules(c, doc, "prohibition", true, p->proh, &p->n_proh)))
		return rc;
	if (p->n_perm == 0)
		return bad("permission", "a policy needs at least one permission");
	if ((rc = parse_duties(c, "", "obligation", json_object_get(doc, "obligation"), &p->pol_duty_first,
			       &p->n_pol_duty)))
		return rc;
	if ((rc = field_contradictions(c)))
		return rc;
	/* freeze: copy into the arena */
	p->nodes = copy_out(p->arena, c->nodes, c->n_nodes, sizeof *c->nodes);
	p->n_nodes = c->n_nodes;
	p->duties = copy_out(p->arena, c->duties, c->n_duties, sizeof *c->duties);
	p->n_duties = c->n_duties;
	p->cidrs = copy_out(p->arena, c->cidrs, c->n_cidrs, sizeof *c->cidrs);
	p->n_cidrs = c->n_cidrs;
	p->slots = copy_out(p->arena, c->slots, c->n_slots, sizeof *c->slots);
	p->n_slots = c->n_slots;
	p->strings = copy_out(p->arena, c->strings, c->n_strings, sizeof *c->strings);
	p->n_strings = c->n_strings;
	p->sorted = tds_arena_alloc(p->arena, (c->n_strings + 1) * sizeof *p->sorted);
	for (size_t i = 0; i < c->n_strings; i++)
		p->sorted[i] = (uint16_t)i;
	for (size_t i = 1; i < c->n_strings; i++) { /* insertion sort: at most 256 strings */
		uint16_t x = p->sorted[i];
		size_t j = i;
		while (j > 0 && strcmp(p->strings[p->sorted[j - 1]], p->strings[x]) > 0) {
			p->sorted[j] = p->sorted[j - 1];
			j--;
		}
		p->sorted[j] = x;
	}
	return 0;
}

int tds_policy_compile_json(const json_t *doc, tds_policy **out)
{
	*out = NULL;
	cctx c;
	memset(&c, 0, sizeof c);
	c.p = calloc(1, sizeof *c.p);
	if (!c.p)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory compiling a policy");
	c.p->arena = tds_arena_new(0);
	int rc = compile_doc(&c, doc);
	free(c.nodes);
	free(c.duties);
	free(c.cidrs);
	free(c.slots);
	if (rc) {
		tds_policy_free(c.p);
		return rc;
	}
	*out = c.p;
	return 0;
}

int tds_policy_compile(const char *json, size_t len, tds_policy **out)
{
	*out = NULL;
	if (len > TDS_POLICY_MAX_BYTES)
		return tds_error_set(TDS_ETOOBIG, "policy_too_big", "a policy is at most %d bytes, this one has %zu",
				     TDS_POLICY_MAX_BYTES, len);
	json_t *doc;
	int rc = tds_json_parse(json, len, &doc);
	if (rc)
		return rc;
	rc = tds_policy_compile_json(doc, out);
	json_decref(doc);
	return rc;
}

void tds_policy_free(tds_policy *p)
{
	if (!p)
		return;
	tds_arena_free(p->arena);
	free(p);
}

const char *tds_policy_uid(const tds_policy *p)
{
	return p->uid;
}

size_t tds_policy_counter_slots(const tds_policy *p)
{
	return p->n_slots;
}
