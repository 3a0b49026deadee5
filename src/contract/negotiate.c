/*
 * negotiate.c — negotiation (协商, contract.h section 2): counter-proposals by the provider, the
 * consumer or a named service organisation, each an immutable new version; the deterministic checks
 * every version goes through, each issue explained by a code, a JSON path and a reason; diffs
 * between versions; the parties' acceptance of a version.
 *
 * Decision (docs/contracts.md): a proposal that is well-formed but has issues is stored, flagged with
 * its issues, so the other side sees exactly what is wrong and answers with a fix; a malformed one
 * (wrong types, unknown members, unparsable times) is refused with 400 and stores nothing. Accepting
 * or signing a version with issues is refused (TDS_EUNPROC "contract_has_issues").
 *
 * Not for drafting (order.c) nor signatures (sign.c).
 */
#include "contract/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS (24LL * 3600 * 1000)
#define CLAUSE_MAX 8000
#define NOTE_MAX 1000

static const char *const CLAUSES[] = {"data_use_rules", "security_duties", "performance_supervision", "breach_handling"};

/* ---- checks ---- */

static void issue(json_t *issues, const char *code, const char *path, const char *fmt, ...) TDS_PRINTF(4, 5);

static void issue(json_t *issues, const char *code, const char *path, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	json_array_append_new(issues, json_pack("{s:s, s:s, s:s}", "code", code, "path", path, "reason", reason));
}

static bool blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\n' && *s != '\t' && *s != '\r')
			return false;
	return true;
}

static bool in_strings(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		if (json_is_string(v) && !strcmp(json_string_value(v), s))
			return true;
	}
	return false;
}

static bool has_field(const json_t *entry, const char *name)
{
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(entry, "fields"), i, f) {
		if (!strcmp(tds_json_str(f, "name", ""), name))
			return true;
	}
	return false;
}

typedef struct check_ctx {
	const json_t *entry;
	const char *consumer;
	int64_t from, to; /* 0 when unknown */
	json_t *issues;
} check_ctx;

/* Values of a rightOperand: a string, or the strings of an array (others skipped). */
static void each_value(const json_t *right, const char *path, void (*fn)(check_ctx *, const char *, const char *),
		       check_ctx *x)
{
	char p[512];
	if (json_is_string(right)) {
		fn(x, json_string_value(right), path);
		return;
	}
	size_t i;
	json_t *v;
	json_array_foreach(right, i, v) {
		if (json_is_string(v) && snprintf(p, sizeof p, "%s[%zu]", path, i) < (int)sizeof p)
			fn(x, json_string_value(v), p);
	}
}

static void check_field(check_ctx *x, const char *v, const char *path)
{
	if (!has_field(x->entry, v))
		issue(x->issues, "field_not_in_product", path, "the product has no field '%s': a contract grants only the product's fields", v);
}

static void check_purpose(check_ctx *x, const char *v, const char *path)
{
	if (!in_strings(json_object_get(x->entry, "scenarios"), v))
		issue(x->issues, "purpose_not_in_product", path,
		      "'%s' is not one of the product's scenarios: purposes are limited to what the product declares", v);
}

static void check_recipient(check_ctx *x, const char *v, const char *path)
{
	if (!strncmp(v, "org_", 4) && strcmp(v, x->consumer))
		issue(x->issues, "recipient_not_party", path,
		      "recipient '%s' is another organisation than the consumer: the contract may not grant use to third parties", v);
}

/* The constraints of a permission (recursively through and/or/xone). */
static void walk(check_ctx *x, const json_t *list, const char *path)
{
	size_t i;
	json_t *c;
	char p[512], rp[560];
	json_array_foreach(list, i, c) {
		if (snprintf(p, sizeof p, "%s[%zu]", path, i) >= (int)sizeof p)
			continue; /* deeper than any policy the compiler admits */
		static const char *const logical[] = {"and", "or", "xone"};
		bool nested = false;
		for (size_t k = 0; k < 3; k++) {
			const json_t *sub = json_object_get(c, logical[k]);
			if (json_is_array(sub) && snprintf(rp, sizeof rp, "%s.%s", p, logical[k]) < (int)sizeof rp) {
				walk(x, sub, rp);
				nested = true;
			}
		}
		if (nested)
			continue;
		const char *left = tds_json_str(c, "leftOperand", ""), *op = tds_json_str(c, "operator", "");
		const json_t *right = json_object_get(c, "rightOperand");
		bool positive = !strcmp(op, "eq") || !strcmp(op, "isAnyOf");
		if (snprintf(rp, sizeof rp, "%s.rightOperand", p) >= (int)sizeof rp)
			continue;
		if (positive && !strcmp(left, "field"))
			each_value(right, rp, check_field, x);
		else if (positive && !strcmp(left, "purpose"))
			each_value(right, rp, check_purpose, x);
		else if (positive && !strcmp(left, "recipient"))
			each_value(right, rp, check_recipient, x);
		else if (!strcmp(left, "dateTime") && json_is_string(right) && x->from && x->to) {
			int64_t t;
			if (!tds_time_parse(json_string_value(right), &t) && (t < x->from || t > x->to))
				issue(x->issues, "policy_window_outside", rp,
				      "the dateTime bound %s lies outside the contract's validity window", json_string_value(right));
		}
	}
}

/* Direct constraints of a permission: has a lower and an upper dateTime bound; has a positive
 * purpose constraint. */
static void direct(const json_t *list, bool *lower, bool *upper, bool *purpose)
{
	size_t i;
	json_t *c;
	*lower = *upper = *purpose = false;
	json_array_foreach(list, i, c) {
		const char *left = tds_json_str(c, "leftOperand", ""), *op = tds_json_str(c, "operator", "");
		if (!strcmp(left, "dateTime")) {
			*lower |= !strcmp(op, "gteq") || !strcmp(op, "gt");
			*upper |= !strcmp(op, "lt") || !strcmp(op, "lteq");
		}
		*purpose |= !strcmp(left, "purpose") && (!strcmp(op, "eq") || !strcmp(op, "isAnyOf"));
	}
}

int tds_contract_check(const json_t *doc, const json_t *entry, const json_t *template_, json_t **issues_out)
{
	json_t *issues = json_array();
	*issues_out = NULL;
	if (!issues)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	char path[512];
	/* mandatory clauses */
	const json_t *clauses = json_object_get(doc, "clauses");
	for (size_t i = 0; i < TDS_ARRAY_LEN(CLAUSES); i++) {
		const json_t *c = json_object_get(clauses, CLAUSES[i]);
		snprintf(path, sizeof path, "$.clauses.%s", CLAUSES[i]);
		if (!json_is_string(c) || blank(json_string_value(c)))
			issue(issues, "clause_missing", path, "the mandatory clause %s is %s", CLAUSES[i],
			      json_is_string(c) ? "empty" : "missing");
	}
	/* validity */
	const json_t *validity = json_object_get(doc, "validity");
	int64_t from = 0, to = 0;
	bool times = !tds_time_parse(tds_json_str(validity, "from", ""), &from) && !tds_time_parse(tds_json_str(validity, "to", ""), &to);
	json_int_t max_days = json_integer_value(json_object_get(json_object_get(template_, "policy_defaults"), "max_validity_days"));
	if (!times) {
		issue(issues, "validity_invalid", "$.validity", "validity needs RFC 3339 times from and to");
		from = to = 0;
	} else if (to <= from) {
		issue(issues, "validity_empty", "$.validity.to", "the validity window is empty: to must be after from");
		from = to = 0;
	} else if (max_days > 0 && to - from > max_days * DAY_MS) {
		issue(issues, "validity_too_long", "$.validity.to", "a %s contract lasts at most %lld days (template limit)",
		      tds_json_str(json_object_get(doc, "product"), "form", ""), (long long)max_days);
	}
	/* violation policy */
	const json_t *fa = json_object_get(json_object_get(doc, "violation_policy"), "freeze_after");
	if (!json_is_integer(fa) || json_integer_value(fa) < 1 || json_integer_value(fa) > 100)
		issue(issues, "violation_policy_invalid", "$.violation_policy.freeze_after",
		      "freeze_after must be an integer 1-100: the number of violations that freezes the consumer's use");
	/* the policy compiles (the compiler refuses contradictions) */
	const json_t *policy = json_object_get(doc, "policy");
	tds_policy *pol = NULL;
	if (!json_is_object(policy)) {
		issue(issues, "policy_invalid", "$.policy", "the contract has no policy");
	} else if (tds_policy_compile_json(policy, &pol)) {
		const char *m = tds_error_message();
		const char *colon = strstr(m, ": ");
		size_t n = colon ? (size_t)(colon - m) : 0;
		if (n && n < 300 && !memchr(m, ' ', n))
			snprintf(path, sizeof path, "$.policy.%.*s", (int)n, m);
		else
			snprintf(path, sizeof path, "$.policy");
		issue(issues, "policy_invalid", path, "%s", m);
	}
	tds_policy_free(pol);
	/* scope: actions, fields, purposes, recipients, window */
	const char *form = tds_json_str(json_object_get(doc, "product"), "form", "");
	check_ctx x = {.entry = entry, .consumer = tds_json_str(json_object_get(doc, "consumer"), "org_id", ""),
		       .from = from, .to = to, .issues = issues};
	size_t i;
	json_t *perm;
	json_array_foreach(json_object_get(policy, "permission"), i, perm) {
		const json_t *act = json_object_get(perm, "action");
		json_t *one = json_is_string(act) ? json_pack("[O]", act) : json_incref((json_t *)act);
		size_t k;
		json_t *a;
		json_array_foreach(one, k, a) {
			if (!json_is_string(a))
				continue;
			if (json_is_string(act))
				snprintf(path, sizeof path, "$.policy.permission[%zu].action", i);
			else
				snprintf(path, sizeof path, "$.policy.permission[%zu].action[%zu]", i, k);
			const char *name = json_string_value(a);
			if (!strcmp(name, "use"))
				issue(issues, "action_not_allowed", path,
				      "'use' covers every action; a %s product allows only its own actions: name them", form);
			else if (!ct_form_allows(form, name))
				issue(issues, "action_not_allowed", path, "a %s product does not allow '%s'", form, name);
		}
		json_decref(one);
		const json_t *cons = json_object_get(perm, "constraint");
		snprintf(path, sizeof path, "$.policy.permission[%zu].constraint", i);
		walk(&x, cons, path);
		bool lower, upper, purpose;
		direct(cons, &lower, &upper, &purpose);
		if (!lower || !upper)
			issue(issues, "window_missing", path,
			      "the permission lacks a dateTime %s bound: it must enforce the validity window",
			      !lower ? "lower (gteq)" : "upper (lt)");
		if (json_array_size(json_object_get(entry, "scenarios")) && !purpose)
			issue(issues, "purpose_unrestricted", path,
			      "the permission admits any purpose: name the purposes (eq / isAnyOf) among the product's scenarios");
	}
	*issues_out = issues;
	return 0;
}

/* ---- diff ---- */

static bool ident(const char *k)
{
	if (!*k || (*k >= '0' && *k <= '9'))
		return false;
	for (; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') || *k == '_' || *k == '@'))
			return false;
	return true;
}

static void change(json_t *out, const char *op, const char *path, const json_t *old, const json_t *new_)
{
	json_t *c = json_pack("{s:s, s:s}", "op", op, "path", path);
	if (old)
		json_object_set(c, "old", (json_t *)old);
	if (new_)
		json_object_set(c, "new", (json_t *)new_);
	json_array_append_new(out, c);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static void diff_rec(const json_t *a, const json_t *b, tds_buf *path, json_t *out)
{
	size_t mark = path->len;
	if (json_is_object(a) && json_is_object(b)) {
		size_t n = json_object_size(a) + json_object_size(b), k = 0;
		const char **keys = calloc(n ? n : 1, sizeof *keys);
		const char *key;
		json_t *v;
		json_object_foreach((json_t *)a, key, v) keys[k++] = key;
		json_object_foreach((json_t *)b, key, v) if (!json_object_get(a, key)) keys[k++] = key;
		qsort(keys, k, sizeof *keys, cmp_str);
		for (size_t i = 0; i < k; i++) {
			if (ident(keys[i]))
				tds_buf_printf(path, ".%s", keys[i]);
			else
				tds_buf_printf(path, "['%s']", keys[i]);
			const json_t *x = json_object_get(a, keys[i]), *y = json_object_get(b, keys[i]);
			if (!x)
				change(out, "added", path->data, NULL, y);
			else if (!y)
				change(out, "removed", path->data, x, NULL);
			else
				diff_rec(x, y, path, out);
			path->len = mark;
			path->data[mark] = 0;
		}
		free(keys);
		return;
	}
	if (json_is_array(a) && json_is_array(b)) {
		size_t na = json_array_size(a), nb = json_array_size(b);
		for (size_t i = 0; i < (na > nb ? na : nb); i++) {
			tds_buf_printf(path, "[%zu]", i);
			if (i >= na)
				change(out, "added", path->data, NULL, json_array_get(b, i));
			else if (i >= nb)
				change(out, "removed", path->data, json_array_get(a, i), NULL);
			else
				diff_rec(json_array_get(a, i), json_array_get(b, i), path, out);
			path->len = mark;
			path->data[mark] = 0;
		}
		return;
	}
	if (!json_equal((json_t *)a, (json_t *)b))
		change(out, "changed", path->data, a, b);
}

json_t *tds_contract_json_diff(const json_t *a, const json_t *b)
{
	json_t *out = json_array();
	tds_buf path = TDS_BUF_INIT;
	if (out && !tds_buf_puts(&path, "$"))
		diff_rec(a, b, &path, out);
	tds_buf_free(&path);
	return out;
}

int tds_contract_diff(tds_contract *ct, const char *org, const char *id, int64_t from, int64_t to, json_t **out)
{
	*out = NULL;
	if (from < 1 || to < 1)
		return tds_error_set(TDS_EINVAL, "invalid_version", "from and to must be versions >= 1");
	sqlite3 *db = tds_store_conn(ct->store);
	if (!db)
		return tds_error_code();
	ct_row r;
	int rc = ct_row_load(db, org, id, &r);
	if (rc)
		return rc;
	json_t *a = NULL, *b = NULL;
	char ha[TDS_HASH_HEX_LEN + 16], hb[TDS_HASH_HEX_LEN + 16];
	if (!(rc = ct_version_load(db, r.id, from, &a, ha, NULL)) && !(rc = ct_version_load(db, r.id, to, &b, hb, NULL))) {
		json_t *changes = tds_contract_json_diff(a, b);
		*out = json_pack("{s:s, s:{s:I, s:s}, s:{s:I, s:s}, s:o}", "contract_id", r.id, "from", "version",
				 (json_int_t)from, "document_hash", ha, "to", "version", (json_int_t)to, "document_hash", hb,
				 "changes", changes);
		rc = *out ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	}
	json_decref(a);
	json_decref(b);
	ct_row_free(&r);
	return rc;
}

/* ---- versions ---- */

int ct_version_insert_tx(tds_contract *ct, sqlite3 *db, const char *id, int64_t version, const json_t *doc,
			 const json_t *issues, const tds_ledger_actor *actor, const char *role, const char *note,
			 char hash[TDS_HASH_HEX_LEN + 16])
{
	tds_buf canon = TDS_BUF_INIT;
	char *iss = tds_json_dumps(issues);
	sqlite3_stmt *st = NULL;
	int64_t now = tds_now_ms(), from = 0, to = 0;
	int rc = iss ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if (!rc && !(rc = ct_canonical(doc, &canon)) && !(rc = ct_document_hash(ct, doc, hash)) &&
	    !(rc = tds_store_prepare(db, "INSERT INTO contract_versions (contract_id, version, document, document_hash, issues,"
					 " proposed_by_org, proposed_by_account, proposed_by_role, note, created_at)"
					 " VALUES (?,?,?,?,?,?,?,?,?,?)", &st))) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, version);
		sqlite3_bind_text(st, 3, canon.data, (int)canon.len, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, hash, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, iss, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, actor ? actor->org : NULL, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, actor ? actor->account : NULL, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, role, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 9, note, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 10, now);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "inserting contract version");
		sqlite3_finalize(st);
		st = NULL;
	}
	const json_t *validity = json_object_get(doc, "validity");
	tds_time_parse(tds_json_str(validity, "from", ""), &from);
	tds_time_parse(tds_json_str(validity, "to", ""), &to);
	/* the validity shown follows the latest version until the first filing, then the version in force */
	if (!rc && !(rc = tds_store_prepare(db, "UPDATE contracts SET version = ?2, updated_at = ?3,"
						" valid_from = CASE WHEN effective_version IS NULL THEN ?4 ELSE valid_from END,"
						" valid_to = CASE WHEN effective_version IS NULL THEN ?5 ELSE valid_to END"
						" WHERE id = ?1", &st))) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, version);
		sqlite3_bind_int64(st, 3, now);
		sqlite3_bind_int64(st, 4, from);
		sqlite3_bind_int64(st, 5, to);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "updating contract");
		sqlite3_finalize(st);
	}
	tds_buf_free(&canon);
	free(iss);
	return rc;
}

int ct_authorization_issues(tds_contract *ct, sqlite3 *db, const char *order_id, const json_t *doc, json_t *issues)
{
	sqlite3_stmt *st;
	json_t *req = NULL;
	int rc = tds_store_prepare(db, "SELECT request FROM contract_orders WHERE id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, order_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		req = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
	sqlite3_finalize(st);
	const char *aid = tds_json_str(req, "authorization_id", NULL);
	if (!aid) {
		json_decref(req);
		return 0;
	}
	if (!ct->node.authorization_check) {
		json_decref(req);
		return tds_error_set(TDS_EUNPROC, "authorization_unavailable", "this node cannot check authorization lists");
	}
	/* the document's grants: every field and purpose a permission names, and permissions naming none */
	json_t *terms = json_pack("{s:s, s:s, s:[], s:[], s:[]}", "consumer_org",
				  tds_json_str(json_object_get(doc, "consumer"), "org_id", ""), "entry_id",
				  tds_json_str(json_object_get(doc, "product"), "id", ""), "fields", "purposes", "unrestricted");
	size_t i, j, k;
	json_t *perm, *c, *v;
	json_array_foreach(json_object_get(json_object_get(doc, "policy"), "permission"), i, perm) {
		bool lim[2] = {false, false};
		const char *what[] = {"field", "purpose"}, *list[] = {"fields", "purposes"};
		json_array_foreach(json_object_get(perm, "constraint"), j, c) {
			const char *op = tds_json_str(c, "operator", "");
			if (strcmp(op, "eq") && strcmp(op, "isAnyOf"))
				continue;
			for (int w = 0; w < 2; w++) {
				if (strcmp(tds_json_str(c, "leftOperand", ""), what[w]))
					continue;
				lim[w] = true;
				const json_t *ro = json_object_get(c, "rightOperand");
				char path[128];
				if (json_is_string(ro)) {
					snprintf(path, sizeof path, "$.policy.permission[%zu].constraint[%zu].rightOperand", i, j);
					json_array_append_new(json_object_get(terms, list[w]), json_pack("{s:O, s:s}", "name", ro, "path", path));
				}
				json_array_foreach(ro, k, v) {
					snprintf(path, sizeof path, "$.policy.permission[%zu].constraint[%zu].rightOperand[%zu]", i, j, k);
					if (json_is_string(v))
						json_array_append_new(json_object_get(terms, list[w]),
								      json_pack("{s:O, s:s}", "name", v, "path", path));
				}
			}
		}
		for (int w = 0; w < 2; w++) {
			char path[64];
			snprintf(path, sizeof path, "$.policy.permission[%zu]", i);
			if (!lim[w])
				json_array_append_new(json_object_get(terms, "unrestricted"),
						      json_pack("{s:s, s:s}", "what", what[w], "path", path));
		}
	}
	int64_t from = 0, to = 0;
	const json_t *val = json_object_get(doc, "validity");
	if (!tds_time_parse(tds_json_str(val, "from", ""), &from) && !tds_time_parse(tds_json_str(val, "to", ""), &to))
		json_object_set_new(terms, "validity",
				    json_pack("{s:I, s:I, s:s}", "from", (json_int_t)from, "to", (json_int_t)to, "path", "$.validity"));
	rc = ct->node.authorization_check(ct->node.ctx, db, aid, terms, issues);
	json_decref(terms);
	json_decref(req);
	return rc;
}

/* The order's entry and the contract's template (as drafted). */
static int context_of(sqlite3 *db, const char *order_id, const json_t *doc, json_t **entry, json_t **tpl)
{
	*entry = *tpl = NULL;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT entry FROM contract_orders WHERE id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, order_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		*entry = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
	sqlite3_finalize(st);
	if (!*entry)
		return tds_error_set(TDS_EINTERNAL, NULL, "the order %s of a contract is missing", order_id);
	const json_t *t = json_object_get(doc, "template");
	rc = ct_template_get_tx(db, tds_json_str(t, "id", ""), NULL, tds_json_int(t, "version", 1), tpl);
	if (rc) {
		json_decref(*entry);
		*entry = NULL;
	}
	return rc;
}

/* ---- proposals ---- */

/* True when v holds a JSON real anywhere (canonical JSON has integers only). */
static bool has_real(const json_t *v)
{
	if (json_is_real(v))
		return true;
	size_t i;
	const char *k;
	json_t *x;
	if (json_is_array(v))
		json_array_foreach(v, i, x) if (has_real(x)) return true;
	if (json_is_object(v))
		json_object_foreach((json_t *)v, k, x) if (has_real(x)) return true;
	return false;
}

/* Checks the shape of terms (full = every member required) and the members it has. 400s only. */
static int check_terms(const json_t *t, bool full)
{
	tds_json_field f[] = {
	    {"clauses", TDS_JSON_OBJECT, full, 0},
	    {"policy", TDS_JSON_OBJECT, full, 0},
	    {"validity", TDS_JSON_OBJECT, full, 0},
	    {"violation_policy", TDS_JSON_OBJECT, full, 0},
	};
	static const tds_json_field vf[] = {{"from", TDS_JSON_STRING, true, TDS_TIME_MAX + 8},
					    {"to", TDS_JSON_STRING, true, TDS_TIME_MAX + 8}};
	static const tds_json_field pf[] = {{"freeze_after", TDS_JSON_INTEGER, true, 0}};
	const char *which = full ? "terms" : "patch";
	int rc = tds_json_check(t, f, TDS_ARRAY_LEN(f), false);
	if (rc)
		return tds_error_wrap("%s: ", which);
	if (!full && json_object_size(t) == 0)
		return tds_error_set(TDS_EINVAL, "empty_patch", "a patch changes at least one of clauses, policy, validity, violation_policy");
	const json_t *clauses = json_object_get(t, "clauses");
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)clauses, key, v) {
		bool known = false;
		for (size_t i = 0; i < TDS_ARRAY_LEN(CLAUSES); i++)
			known |= !strcmp(key, CLAUSES[i]);
		if (!known)
			return tds_error_set(TDS_EINVAL, "invalid_field",
					     "%s.clauses: unknown clause '%s' (data_use_rules, security_duties, performance_supervision, "
					     "breach_handling)", which, key);
		if (!(json_is_string(v) || (!full && json_is_null(v))))
			return tds_error_set(TDS_EINVAL, "invalid_field", "%s.clauses.%s must be a string%s", which, key,
					     full ? "" : " (or null to remove it)");
		if (json_is_string(v) && (json_string_length(v) > CLAUSE_MAX || !tds_utf8_valid(json_string_value(v), json_string_length(v))))
			return tds_error_set(TDS_EINVAL, "invalid_field", "%s.clauses.%s must be at most %d bytes of UTF-8", which, key,
					     CLAUSE_MAX);
	}
	const json_t *validity = json_object_get(t, "validity");
	int64_t ms;
	if (validity) {
		if ((rc = tds_json_check(validity, vf, TDS_ARRAY_LEN(vf), false)))
			return tds_error_wrap("%s.validity: ", which);
		if (tds_time_parse(tds_json_str(validity, "from", ""), &ms) || tds_time_parse(tds_json_str(validity, "to", ""), &ms))
			return tds_error_set(TDS_EINVAL, "invalid_validity", "%s.validity: from and to must be RFC 3339 times", which);
	}
	const json_t *vp = json_object_get(t, "violation_policy");
	if (vp && (rc = tds_json_check(vp, pf, TDS_ARRAY_LEN(pf), false)))
		return tds_error_wrap("%s.violation_policy: ", which);
	if (has_real(t))
		return tds_error_set(TDS_EINVAL, "invalid_number",
				     "%s: a JSON real is not allowed in a contract: write decimals as strings (\"0.5\")", which);
	const json_t *pol = json_object_get(t, "policy");
	if (pol) {
		char *s = tds_json_dumps(pol);
		size_t n = s ? strlen(s) : 0;
		free(s);
		if (n > TDS_POLICY_MAX_BYTES)
			return tds_error_set(TDS_ETOOBIG, "policy_too_large", "%s.policy is larger than %d bytes", which,
					     TDS_POLICY_MAX_BYTES);
	}
	return 0;
}

typedef struct prop_ctx {
	tds_contract *ct;
	const tds_ledger_actor *actor;
	const char *org, *id;
	const json_t *in;
	int64_t version;
} prop_ctx;

static const char *role_of(const ct_row *r, const char *org)
{
	if (!org)
		return NULL;
	if (!strcmp(org, r->provider))
		return "provider";
	if (!strcmp(org, r->consumer))
		return "consumer";
	size_t i;
	json_t *v;
	json_array_foreach(r->service, i, v) {
		if (!strcmp(json_string_value(v), org))
			return "service";
	}
	return NULL;
}

static bool negotiable(const ct_row *r)
{
	return !strcmp(r->state, "draft") || !strcmp(r->state, "negotiating") ||
	       ((!strcmp(r->state, "active") || !strcmp(r->state, "suspended")) && r->effective_version);
}

static int propose_tx(sqlite3 *db, void *arg)
{
	prop_ctx *x = arg;
	ct_row r;
	int rc = ct_row_load(db, x->org, x->id, &r);
	if (rc)
		return rc;
	json_t *doc = NULL, *entry = NULL, *tpl = NULL, *issues = NULL;
	char hash[TDS_HASH_HEX_LEN + 16];
	const char *role = role_of(&r, x->org);
	int64_t base = tds_json_int(x->in, "base_version", 0);
	if (!role) {
		rc = tds_error_set(TDS_EPERM, "not_a_party", "only the parties and the named service organisations propose");
		goto out;
	}
	if (!negotiable(&r)) {
		rc = ct_state_error(&r, "propose a version of");
		goto out;
	}
	if (base != r.version) {
		rc = tds_error_set(TDS_ECONFLICT, "stale_version",
				   "base_version %lld is not the latest version (%lld): read it and propose against it",
				   (long long)base, (long long)r.version);
		goto out;
	}
	if ((rc = ct_version_load(db, r.id, r.version, &doc, NULL, NULL)) || (rc = context_of(db, r.order_id, doc, &entry, &tpl)))
		goto out;
	const json_t *terms = json_object_get(x->in, "terms"), *patch = json_object_get(x->in, "patch");
	const json_t *t = terms ? terms : patch;
	if (terms) {
		json_object_set(doc, "clauses", json_object_get(t, "clauses"));
	} else if (json_object_get(t, "clauses")) {
		const char *key;
		json_t *v;
		json_t *clauses = json_object_get(doc, "clauses");
		json_object_foreach(json_object_get(t, "clauses"), key, v) {
			if (json_is_null(v))
				json_object_del(clauses, key);
			else
				json_object_set(clauses, key, v);
		}
	}
	static const char *const whole[] = {"policy", "validity", "violation_policy"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(whole); i++)
		if (json_object_get(t, whole[i]))
			json_object_set_new(doc, whole[i], json_deep_copy(json_object_get(t, whole[i])));
	/* what the engine sets: the version, and the policy's identity, parties and target */
	x->version = r.version + 1;
	json_object_set_new(doc, "version", json_integer(x->version));
	json_t *pol = json_object_get(doc, "policy");
	char uid[TDS_ID_MAX + 24];
	snprintf(uid, sizeof uid, "%s/v%lld", r.id, (long long)x->version);
	json_object_set_new(pol, "uid", json_string(uid));
	json_object_set_new(pol, "assigner", json_string(r.provider));
	json_object_set_new(pol, "assignee", json_string(r.consumer));
	json_object_set_new(pol, "target", json_string(r.product_id));
	if ((rc = tds_contract_check(doc, entry, tpl, &issues)) ||
	    (rc = ct_authorization_issues(x->ct, db, r.order_id, doc, issues)) ||
	    (rc = ct_version_insert_tx(x->ct, db, r.id, x->version, doc, issues, x->actor, role,
				       tds_json_str(x->in, "note", NULL), hash)))
		goto out;
	if (!strcmp(r.state, "draft") && (rc = ct_set_state_tx(db, r.id, "negotiating", NULL)))
		goto out;
	rc = ct_evidence_tx(x->ct, db, "contract.proposed", x->actor, r.id, NULL,
			    json_pack("{s:I, s:I, s:s, s:s, s:s, s:O, s:b}", "version", (json_int_t)x->version, "base_version",
				      (json_int_t)base, "role", role, "org_id", x->org, "document_hash", hash, "issues", issues,
				      "amendment", r.effective_version > 0));
out:
	json_decref(doc);
	json_decref(entry);
	json_decref(tpl);
	json_decref(issues);
	ct_row_free(&r);
	return rc;
}

int tds_contract_propose(tds_contract *ct, const tds_ledger_actor *actor, const char *org, const char *id,
			 const json_t *in, json_t **out)
{
	static const tds_json_field f[] = {
	    {"base_version", TDS_JSON_INTEGER, true, 0},
	    {"terms", TDS_JSON_OBJECT, false, 0},
	    {"patch", TDS_JSON_OBJECT, false, 0},
	    {"note", TDS_JSON_STRING, false, NOTE_MAX},
	};
	*out = NULL;
	int rc = tds_json_check(in, f, TDS_ARRAY_LEN(f), false);
	if (rc)
		return rc;
	const json_t *terms = json_object_get(in, "terms"), *patch = json_object_get(in, "patch");
	if (!terms == !patch)
		return tds_error_set(TDS_EINVAL, "invalid_proposal", "give exactly one of terms (the full terms) and patch (a change)");
	if ((rc = check_terms(terms ? terms : patch, terms != NULL)))
		return rc;
	const char *note = tds_json_str(in, "note", NULL);
	if (note && !tds_utf8_valid(note, strlen(note)))
		return tds_error_set(TDS_EINVAL, "invalid_note", "note must be UTF-8 text");
	if (!org)
		return tds_error_set(TDS_EPERM, "not_a_party", "only the parties and the named service organisations propose");
	if ((rc = tds_contract_expire_due(ct, tds_now_ms(), NULL)))
		return rc;
	prop_ctx x = {.ct = ct, .actor = actor, .org = org, .id = id, .in = in};
	if ((rc = tds_store_tx(ct->store, propose_tx, &x)))
		return rc;
	return tds_contract_version_get(ct, org, id, x.version, out);
}

/* ---- acceptance ---- */

typedef struct accept_ctx {
	tds_contract *ct;
	const tds_ledger_actor *actor;
	const char *org, *id, *hash;
	int64_t version;
} accept_ctx;

static int accept_tx(sqlite3 *db, void *arg)
{
	accept_ctx *x = arg;
	ct_row r;
	int rc = ct_row_load(db, x->org, x->id, &r);
	if (rc)
		return rc;
	json_t *issues = NULL;
	char hash[TDS_HASH_HEX_LEN + 16];
	sqlite3_stmt *st = NULL;
	if (strcmp(x->org, r.provider) && strcmp(x->org, r.consumer)) {
		rc = tds_error_set(TDS_EPERM, "not_a_party", "only the provider and the consumer accept a version");
		goto out;
	}
	if (!negotiable(&r) || (r.effective_version && r.version == r.effective_version)) {
		rc = ct_state_error(&r, "accept a version of");
		goto out;
	}
	if (x->version != r.version) {
		rc = tds_error_set(TDS_ECONFLICT, "stale_version", "version %lld is not the latest version (%lld)",
				   (long long)x->version, (long long)r.version);
		goto out;
	}
	if ((rc = ct_version_load(db, r.id, r.version, NULL, hash, &issues)))
		goto out;
	if (strcmp(hash, x->hash)) {
		rc = tds_error_set(TDS_EUNPROC, "document_hash_mismatch",
				   "document_hash is not the hash of version %lld (%s): accept only what you were shown",
				   (long long)r.version, hash);
		goto out;
	}
	if (json_array_size(issues)) {
		rc = ct_issues_error(issues);
		goto out;
	}
	if ((rc = tds_store_prepare(db, "INSERT INTO contract_acceptances (contract_id, version, org_id, account, created_at)"
					" VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING", &st)))
		goto out;
	sqlite3_bind_text(st, 1, r.id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r.version);
	sqlite3_bind_text(st, 3, x->org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, x->actor ? x->actor->account : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, tds_now_ms());
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "recording acceptance");
	else if (sqlite3_changes(db) == 1)
		rc = ct_evidence_tx(x->ct, db, "contract.accepted", x->actor, r.id, NULL,
				    json_pack("{s:I, s:s, s:s}", "version", (json_int_t)r.version, "org_id", x->org,
					      "document_hash", hash));
out:
	sqlite3_finalize(st);
	json_decref(issues);
	ct_row_free(&r);
	return rc;
}

int tds_contract_accept(tds_contract *ct, const tds_ledger_actor *actor, const char *org, const char *id,
			const json_t *in, json_t **out)
{
	static const tds_json_field f[] = {{"version", TDS_JSON_INTEGER, true, 0},
					   {"document_hash", TDS_JSON_STRING, true, TDS_HASH_HEX_LEN + 16}};
	*out = NULL;
	int rc = tds_json_check(in, f, TDS_ARRAY_LEN(f), false);
	if (rc)
		return rc;
	accept_ctx x = {.ct = ct, .actor = actor, .org = org, .id = id, .version = tds_json_int(in, "version", 0),
			.hash = tds_json_str(in, "document_hash", "")};
	if (x.version < 1)
		return tds_error_set(TDS_EINVAL, "invalid_version", "version must be >= 1");
	if (!org)
		return tds_error_set(TDS_EPERM, "not_a_party", "only the provider and the consumer accept a version");
	if ((rc = tds_contract_expire_due(ct, tds_now_ms(), NULL)) || (rc = tds_store_tx(ct->store, accept_tx, &x)))
		return rc;
	return tds_contract_version_get(ct, org, id, x.version, out);
}
