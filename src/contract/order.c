/*
 * order.c — orders (订单) and drafts (contract.h section 2). A consumer organisation orders a
 * product entry of the operator's fused catalog with a requested scope; the order keeps a copy of
 * the entry as it was ordered (the product version), so that the draft and every later check of the
 * contract run against what was ordered, not against a later version of the product. The operator
 * then drafts the contract from the template of the product's form: parties, product, the
 * template's clauses, and an ODRL policy pre-filled from the order and narrowed to the entry's
 * authorised scope (its fields, its scenarios as purposes, the consumer as the only recipient, the
 * validity as a dateTime window), plus the template's obligations and prohibitions.
 *
 * Not for negotiation and checks (negotiate.c), nor for the catalog itself (src/catalog).
 */
#include "contract/internal.h"

#include "http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS (24LL * 3600 * 1000)
#define ORDER_NOTE_MAX 1000

static const char *const ENVIRONMENTS[] = {"sandbox-dev", "sandbox-prod", "consumer-domain", "provider-domain"};

static json_t *col_str(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return s ? json_string(s) : json_null();
}

static json_t *col_json(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	json_t *j = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
	return j ? j : json_null();
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

static bool plain_text(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (!n || n > max)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return tds_utf8_valid(s, n);
}

/* Strings of an array are unique, plain text of at most max bytes. */
static int check_strings(const json_t *arr, const char *name, size_t max)
{
	size_t i, k;
	json_t *v, *w;
	json_array_foreach(arr, i, v) {
		if (!plain_text(json_string_value(v), max))
			return tds_error_set(TDS_EINVAL, "invalid_field", "%s[%zu] must be 1-%zu bytes of text", name, i, max);
		json_array_foreach(arr, k, w) {
			if (k < i && json_equal(v, w))
				return tds_error_set(TDS_EINVAL, "invalid_field", "%s[%zu] repeats '%s'", name, i, json_string_value(v));
		}
	}
	return 0;
}

/* The members of an order request. */
static const tds_json_field ORDER_FIELDS[] = {
    {"product_id", TDS_JSON_STRING, false, TDS_ID_MAX},
    {"product_code", TDS_JSON_STRING, false, 256},
    {"actions", TDS_JSON_STRING_ARRAY, true, 8},
    {"fields", TDS_JSON_STRING_ARRAY, false, TDS_POLICY_MAX_SET},
    {"purposes", TDS_JSON_STRING_ARRAY, false, 16},
    {"purpose", TDS_JSON_STRING, false, TDS_POLICY_MAX_STRING}, /* one purpose: purposes [purpose] */
    {"validity", TDS_JSON_OBJECT, false, 0},
    {"count", TDS_JSON_INTEGER, false, 0},
    {"rate", TDS_JSON_OBJECT, false, 0},
    {"environment", TDS_JSON_STRING_ARRAY, false, 4},
    {"note", TDS_JSON_STRING, false, ORDER_NOTE_MAX},
    {"authorization_id", TDS_JSON_STRING, false, TDS_ID_MAX}, /* an authorization list (授权清单) to stay within */
};

static int check_request_scope(const json_t *in, const json_t *entry, const json_t *tpl, const json_t *actions,
			       const json_t *fields, const json_t *purposes, const json_t *validity, const json_t *rate,
			       const json_t *env, json_t **req);

/* Checks an order request's shape (400s) and fills the defaults from the entry and template
 * (422s for a scope the product does not have). *req: the normalised request. */
static int check_request(const json_t *in, const json_t *entry, const json_t *tpl, json_t **req)
{
	*req = NULL;
	int rc = tds_json_check(in, ORDER_FIELDS, TDS_ARRAY_LEN(ORDER_FIELDS), false);
	if (rc)
		return rc;
	const json_t *actions = json_object_get(in, "actions"), *fields = json_object_get(in, "fields"),
		     *purposes = json_object_get(in, "purposes"), *validity = json_object_get(in, "validity"),
		     *rate = json_object_get(in, "rate"), *env = json_object_get(in, "environment");
	if (!json_array_size(actions))
		return tds_error_set(TDS_EINVAL, "invalid_actions", "actions names at least one action (read, query, …)");
	if (purposes && json_object_get(in, "purpose"))
		return tds_error_set(TDS_EINVAL, "invalid_purposes", "give purpose (one) or purposes (a list), not both");
	json_t *one = json_object_get(in, "purpose") ? json_pack("[O]", json_object_get(in, "purpose")) : NULL;
	if (one)
		purposes = one;
	rc = check_request_scope(in, entry, tpl, actions, fields, purposes, validity, rate, env, req);
	json_decref(one);
	return rc;
}

/* The rest of check_request, with the purposes normalised to a list (NULL: none given). */
static int check_request_scope(const json_t *in, const json_t *entry, const json_t *tpl, const json_t *actions,
			       const json_t *fields, const json_t *purposes, const json_t *validity, const json_t *rate,
			       const json_t *env, json_t **req)
{
	static const tds_json_field vf[] = {{"from", TDS_JSON_STRING, true, TDS_TIME_MAX + 8},
					    {"to", TDS_JSON_STRING, true, TDS_TIME_MAX + 8}};
	static const tds_json_field rf[] = {{"limit", TDS_JSON_INTEGER, true, 0}, {"unit", TDS_JSON_STRING, true, 8}};
	int rc;
	if ((rc = check_strings(actions, "actions", 16)) || (fields && (rc = check_strings(fields, "fields", TDS_POLICY_MAX_STRING))) ||
	    (purposes && (rc = check_strings(purposes, "purposes", TDS_POLICY_MAX_STRING))) ||
	    (env && (rc = check_strings(env, "environment", 32))))
		return rc;
	size_t i;
	json_t *v;
	json_array_foreach(actions, i, v) {
		int a = tds_policy_action_parse(json_string_value(v));
		if (a < 0 || a == TDS_POLICY_ACTION_USE)
			return tds_error_set(TDS_EINVAL, "invalid_actions",
					     "actions[%zu] '%s' is not an action: read, query, compute, download or derive", i,
					     json_string_value(v));
	}
	json_array_foreach(env, i, v) {
		bool ok = false;
		for (size_t k = 0; k < TDS_ARRAY_LEN(ENVIRONMENTS); k++)
			ok |= !strcmp(json_string_value(v), ENVIRONMENTS[k]);
		if (!ok)
			return tds_error_set(TDS_EINVAL, "invalid_environment",
					     "environment[%zu] must be sandbox-dev, sandbox-prod, consumer-domain or provider-domain", i);
	}
	int64_t from = 0, to = 0;
	if (validity) {
		if ((rc = tds_json_check(validity, vf, TDS_ARRAY_LEN(vf), false)))
			return tds_error_wrap("validity: ");
		if (tds_time_parse(tds_json_str(validity, "from", ""), &from) || tds_time_parse(tds_json_str(validity, "to", ""), &to))
			return tds_error_set(TDS_EINVAL, "invalid_validity", "validity.from and validity.to must be RFC 3339 times");
	}
	if (json_object_get(in, "count") && (tds_json_int(in, "count", 0) < 1 || tds_json_int(in, "count", 0) > 1000000000000LL))
		return tds_error_set(TDS_EINVAL, "invalid_count", "count must be 1-10^12 uses");
	if (rate) {
		if ((rc = tds_json_check(rate, rf, TDS_ARRAY_LEN(rf), false)))
			return tds_error_wrap("rate: ");
		const char *unit = tds_json_str(rate, "unit", "");
		json_int_t lim = json_integer_value(json_object_get(rate, "limit"));
		if (strcmp(unit, "minute") && strcmp(unit, "day"))
			return tds_error_set(TDS_EINVAL, "invalid_rate", "rate.unit must be minute or day");
		if (lim < 1 || lim > 1000000000LL)
			return tds_error_set(TDS_EINVAL, "invalid_rate", "rate.limit must be 1-10^9");
	}
	const char *note = tds_json_str(in, "note", NULL);
	if (note && !plain_text(note, ORDER_NOTE_MAX))
		return tds_error_set(TDS_EINVAL, "invalid_note", "note must be text without control characters");

	/* against the product and the template */
	const char *form = tds_json_str(entry, "form", "");
	json_array_foreach(actions, i, v) {
		if (!ct_form_allows(form, json_string_value(v)))
			return tds_error_set(TDS_EUNPROC, "action_not_allowed", "actions[%zu]: a %s product does not allow '%s'", i,
					     form, json_string_value(v));
	}
	json_array_foreach(fields, i, v) {
		if (!has_field(entry, json_string_value(v)))
			return tds_error_set(TDS_EUNPROC, "field_not_in_product", "fields[%zu]: the product has no field '%s'", i,
					     json_string_value(v));
	}
	json_array_foreach(purposes, i, v) {
		if (!in_strings(json_object_get(entry, "scenarios"), json_string_value(v)))
			return tds_error_set(TDS_EUNPROC, "purpose_not_in_product",
					     "purposes[%zu]: '%s' is not one of the product's scenarios", i, json_string_value(v));
	}
	json_int_t max_days = json_integer_value(json_object_get(json_object_get(tpl, "policy_defaults"), "max_validity_days"));
	if (max_days < 1)
		max_days = 366;
	if (!validity) {
		from = tds_now_ms() / 1000 * 1000;
		to = from + (max_days < 365 ? max_days : 365) * DAY_MS;
	}
	if (to <= from)
		return tds_error_set(TDS_EUNPROC, "validity_empty", "validity.to must be after validity.from");
	if (to - from > max_days * DAY_MS)
		return tds_error_set(TDS_EUNPROC, "validity_too_long", "a %s contract lasts at most %lld days (the template's limit)",
				     form, (long long)max_days);

	json_t *r = json_deep_copy(in);
	if (!r)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	json_object_del(r, "product_id");
	json_object_del(r, "product_code");
	json_object_del(r, "purpose");
	if (purposes)
		json_object_set(r, "purposes", (json_t *)purposes);
	if (!fields) {
		json_t *all = json_array();
		json_t *fd;
		json_array_foreach(json_object_get(entry, "fields"), i, fd)
			json_array_append_new(all, json_string(tds_json_str(fd, "name", "")));
		json_object_set_new(r, "fields", all);
	}
	if (!purposes) {
		const json_t *sc = json_object_get(entry, "scenarios");
		json_object_set_new(r, "purposes", sc ? json_deep_copy(sc) : json_array());
	}
	char tf[TDS_TIME_MAX], tt[TDS_TIME_MAX];
	if (tds_time_format(from, tf) || tds_time_format(to, tt)) {
		json_decref(r);
		return tds_error_set(TDS_EINVAL, "invalid_validity", "validity must lie within years 0001-9999");
	}
	json_object_set_new(r, "validity", json_pack("{s:s, s:s}", "from", tf, "to", tt));
	*req = r;
	return 0;
}

/* ---- orders ---- */

typedef struct order_ctx {
	tds_contract *ct;
	const tds_ledger_actor *actor;
	const char *consumer;
	json_t *entry, *req;
	char id[TDS_ID_MAX];
} order_ctx;

static int order_tx(sqlite3 *db, void *arg)
{
	order_ctx *x = arg;
	char *req = tds_json_dumps(x->req), *entry = tds_json_dumps(x->entry);
	sqlite3_stmt *st = NULL;
	int64_t now = tds_now_ms();
	int rc = req && entry ? tds_store_prepare(db, "INSERT INTO contract_orders (id, consumer_org, provider_org, product_id,"
						    " product_code, product_version, form, request, entry, status, created_by,"
						    " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,'open',?,?,?)", &st)
			      : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if (!rc) {
		sqlite3_bind_text(st, 1, x->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, x->consumer, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, tds_json_str(x->entry, "org_id", ""), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, tds_json_str(x->entry, "id", ""), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, tds_json_str(x->entry, "code", NULL), -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, tds_json_int(x->entry, "version", 1));
		sqlite3_bind_text(st, 7, tds_json_str(x->entry, "form", ""), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, req, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 9, entry, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 10, x->actor ? x->actor->account : NULL, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 11, now);
		sqlite3_bind_int64(st, 12, now);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "inserting order");
	}
	sqlite3_finalize(st);
	free(req);
	free(entry);
	if (!rc)
		rc = ct_evidence_tx(x->ct, db, "contract.order_placed", x->actor, x->id, tds_json_str(x->entry, "id", NULL),
				    json_pack("{s:s, s:s, s:I, s:O}", "consumer_org", x->consumer, "provider_org",
					      tds_json_str(x->entry, "org_id", ""), "product_version",
					      (json_int_t)tds_json_int(x->entry, "version", 1), "request", x->req));
	return rc;
}

/* An order naming an authorization list stays within it (the node's authorization_check). */
static int within_authorization(tds_contract *ct, sqlite3 *db, const char *consumer_org, const order_ctx *x)
{
	const char *aid = tds_json_str(x->req, "authorization_id", NULL);
	if (!aid)
		return 0;
	if (!tds_id_valid(aid, "aut"))
		return tds_error_set(TDS_EINVAL, "invalid_authorization", "authorization_id must be an authorization list id (aut_…)");
	if (!ct->node.authorization_check)
		return tds_error_set(TDS_EUNPROC, "authorization_unavailable", "this node cannot check authorization lists");
	json_t *terms = json_pack("{s:s, s:s, s:[], s:[], s:[]}", "consumer_org", consumer_org, "entry_id",
				  tds_json_str(x->entry, "id", ""), "fields", "purposes", "unrestricted");
	json_t *issues = json_array();
	const json_t *v = json_object_get(x->req, "validity");
	int64_t from = 0, to = 0;
	tds_time_parse(tds_json_str(v, "from", ""), &from);
	tds_time_parse(tds_json_str(v, "to", ""), &to);
	const char *what[] = {"fields", "purposes"};
	for (size_t k = 0; terms && k < 2; k++) {
		size_t i;
		json_t *s;
		json_array_foreach(json_object_get(x->req, what[k]), i, s) {
			char path[48];
			snprintf(path, sizeof path, "$.%s[%zu]", what[k], i);
			json_array_append_new(json_object_get(terms, what[k]), json_pack("{s:O, s:s}", "name", s, "path", path));
		}
	}
	if (terms)
		json_object_set_new(terms, "validity", json_pack("{s:I, s:I, s:s}", "from", (json_int_t)from, "to", (json_int_t)to,
								 "path", "$.validity"));
	int rc = terms && issues ? ct->node.authorization_check(ct->node.ctx, db, aid, terms, issues)
				 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if (!rc && json_array_size(issues)) {
		rc = tds_error_set(TDS_EUNPROC, "beyond_authorization", "the order goes beyond authorization list %s (%s)", aid,
				   tds_json_str(json_array_get(issues, 0), "reason", ""));
		tds_error_set_details(json_pack("{s:O}", "issues", issues));
	}
	json_decref(terms);
	json_decref(issues);
	return rc;
}

int tds_contract_order_create(tds_contract *ct, const tds_ledger_actor *actor, const char *consumer_org,
			      uint32_t roles, const json_t *in, json_t **out)
{
	*out = NULL;
	if (!ct->catalog)
		return tds_error_set(TDS_EINTERNAL, "no_catalog", "the contract module was opened without the fused catalog");
	if (!consumer_org || !tds_id_valid(consumer_org, "org"))
		return tds_error_set(TDS_EPERM, "no_organisation", "orders are placed by an organisation; this account has none");
	int rc = tds_json_check(in, ORDER_FIELDS, TDS_ARRAY_LEN(ORDER_FIELDS), false); /* the shape first: 400s */
	if (rc)
		return rc;
	const json_t *pid = json_object_get(in, "product_id"), *pcode = json_object_get(in, "product_code");
	if (!pid == !pcode || (pid && !json_is_string(pid)) || (pcode && !json_is_string(pcode)))
		return tds_error_set(TDS_EINVAL, "invalid_product", "give exactly one of product_id (prd_…) and product_code");
	const char *key = json_string_value(pid ? pid : pcode);
	if (pid && !tds_id_valid(key, "prd"))
		return tds_error_set(TDS_EINVAL, "invalid_product", "product_id must be a product id (prd_…)");
	if (strlen(key) > 256)
		return tds_error_set(TDS_EINVAL, "invalid_product", "product_code is at most 256 bytes");
	order_ctx x = {.ct = ct, .actor = actor, .consumer = consumer_org};
	json_t *tpl = NULL;
	sqlite3 *db = tds_store_conn(ct->store);
	rc = db ? tds_catalog_entry_get(ct->catalog, key, &x.entry) : tds_error_code();
	if (rc == TDS_ENOTFOUND)
		rc = tds_error_set(TDS_ENOTFOUND, "product_not_found", "the fused catalog has no product %s", key);
	if (rc)
		goto out;
	tds_catalog_viewer v = {.org = consumer_org, .roles = roles};
	if (!tds_catalog_entry_visible(x.entry, &v)) {
		/* out of scope: it does not exist for this organisation (as on the catalog's routes); its
		   kind or withdrawal would tell otherwise */
		rc = tds_error_set(TDS_ENOTFOUND, "product_not_found", "the fused catalog has no product %s", key);
	} else if (strcmp(tds_json_str(x.entry, "kind", ""), "product")) {
		rc = tds_error_set(TDS_EUNPROC, "not_a_product", "%s is a catalog %s, not a product: only products are ordered", key,
				   tds_json_str(x.entry, "kind", "entry"));
	} else if (tds_json_bool(x.entry, "withdrawn", false)) {
		rc = tds_error_set(TDS_EUNPROC, "product_withdrawn", "the product %s was withdrawn from the catalog", key);
	} else if (!strcmp(tds_json_str(x.entry, "org_id", ""), consumer_org)) {
		rc = tds_error_set(TDS_EUNPROC, "own_product", "an organisation does not order its own product");
	} else if (!ct_form_valid(tds_json_str(x.entry, "form", NULL))) {
		rc = tds_error_set(TDS_EUNPROC, "no_template", "the product has no form a contract template covers");
	}
	if (rc || (rc = ct_template_get_tx(db, NULL, tds_json_str(x.entry, "form", ""), 0, &tpl)) ||
	    (rc = check_request(in, x.entry, tpl, &x.req)) || (rc = within_authorization(ct, db, consumer_org, &x)) ||
	    (rc = tds_id_new("ord", x.id)))
		goto out;
	json_object_del(x.entry, "popularity");
	if ((rc = tds_store_tx(ct->store, order_tx, &x)))
		goto out;
	if (tds_catalog_entry_bump(ct->catalog, tds_json_str(x.entry, "id", ""), consumer_org))
		tds_log(TDS_LOG_WARN, "catalog_bump_failed", "order %s: %s", x.id, tds_error_message());
	rc = tds_contract_order_get(ct, NULL, x.id, out);
out:
	json_decref(tpl);
	json_decref(x.entry);
	json_decref(x.req);
	return rc;
}

#define OCOLS                                                                                                   \
	"id, consumer_org, provider_org, product_id, product_code, product_version, form, request, status, "         \
	"contract_id, created_by, created_at, updated_at"

static json_t *order_json(sqlite3_stmt *st)
{
	return json_pack("{s:o, s:o, s:o, s:{s:o, s:o, s:I, s:o}, s:o, s:o, s:o, s:o, s:o, s:o}", "id", col_str(st, 0),
			 "consumer_org", col_str(st, 1), "provider_org", col_str(st, 2), "product", "id", col_str(st, 3),
			 "code", col_str(st, 4), "version", (json_int_t)sqlite3_column_int64(st, 5), "form", col_str(st, 6),
			 "request", col_json(st, 7), "status", col_str(st, 8), "contract_id", col_str(st, 9), "created_by",
			 col_str(st, 10), "created_at", ct_time_json(sqlite3_column_int64(st, 11)), "updated_at",
			 ct_time_json(sqlite3_column_int64(st, 12)));
}

int tds_contract_order_get(tds_contract *ct, const char *org, const char *id, json_t **out)
{
	*out = NULL;
	if (!tds_id_valid(id, "ord"))
		return tds_error_set(TDS_ENOTFOUND, "order_not_found", "no such order");
	sqlite3 *db = tds_store_conn(ct->store);
	if (!db)
		return tds_error_code();
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT " OCOLS " FROM contract_orders WHERE id = ?1"
				       " AND (?2 IS NULL OR consumer_org = ?2 OR provider_org = ?2)", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, org, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		rc = (*out = order_json(st)) ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	else
		rc = s == SQLITE_DONE ? tds_error_set(TDS_ENOTFOUND, "order_not_found", "no such order")
				      : tds_store_error(db, "reading order");
	sqlite3_finalize(st);
	return rc;
}

int tds_contract_order_list(tds_contract *ct, const char *org, int limit, const char *cursor, json_t **out)
{
	*out = NULL;
	if (cursor && !tds_id_valid(cursor, "ord"))
		return tds_error_set(TDS_EINVAL, "invalid_cursor", "cursor must be an order id from next_cursor");
	if (limit < 1 || limit > 500)
		limit = 50;
	sqlite3 *db = tds_store_conn(ct->store);
	if (!db)
		return tds_error_code();
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT " OCOLS " FROM contract_orders WHERE (?1 IS NULL OR consumer_org = ?1 OR"
				       " provider_org = ?1) AND (?2 IS NULL OR id > ?2) ORDER BY id LIMIT ?3", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, cursor, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, limit + 1);
	json_t *items = json_array();
	int n = 0, s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW && n < limit) {
		json_array_append_new(items, order_json(st));
		n++;
	}
	bool more = s == SQLITE_ROW;
	if (s != SQLITE_ROW && s != SQLITE_DONE)
		rc = tds_store_error(db, "listing orders");
	sqlite3_finalize(st);
	if (rc) {
		json_decref(items);
		return rc;
	}
	json_t *last = json_array_get(items, json_array_size(items) - 1);
	*out = json_pack("{s:o, s:O?}", "items", items, "next_cursor", more && last ? json_object_get(last, "id") : NULL);
	return *out ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
}

/* ---- drafts ---- */

static json_t *constraint(const char *left, const char *op, json_t *right)
{
	return json_pack("{s:s, s:s, s:o}", "leftOperand", left, "operator", op, "rightOperand", right);
}

/* The draft's policy: one permission over the ordered actions with the order's scope, the
 * template's prohibitions and obligations. */
static json_t *draft_policy(const char *cid, const char *provider, const char *consumer, const char *product,
			    const json_t *req, const json_t *defaults)
{
	json_t *cons = json_array();
	const json_t *validity = json_object_get(req, "validity"), *rate = json_object_get(req, "rate");
	json_array_append_new(cons, constraint("dateTime", "gteq", json_string(tds_json_str(validity, "from", ""))));
	json_array_append_new(cons, constraint("dateTime", "lt", json_string(tds_json_str(validity, "to", ""))));
	if (json_object_get(req, "count"))
		json_array_append_new(cons, constraint("count", "lteq", json_integer(tds_json_int(req, "count", 1))));
	if (rate) {
		json_t *c = constraint("rate", "lteq", json_integer(tds_json_int(rate, "limit", 1)));
		json_object_set_new(c, "unit", json_string(tds_json_str(rate, "unit", "minute")));
		json_array_append_new(cons, c);
	}
	if (json_array_size(json_object_get(req, "purposes")))
		json_array_append_new(cons, constraint("purpose", "isAnyOf", json_deep_copy(json_object_get(req, "purposes"))));
	json_array_append_new(cons, constraint("recipient", "isAnyOf", json_pack("[s]", consumer)));
	if (json_array_size(json_object_get(req, "fields")))
		json_array_append_new(cons, constraint("field", "isAnyOf", json_deep_copy(json_object_get(req, "fields"))));
	if (json_array_size(json_object_get(req, "environment")))
		json_array_append_new(cons, constraint("environment", "isAnyOf", json_deep_copy(json_object_get(req, "environment"))));
	char uid[TDS_ID_MAX + 8];
	snprintf(uid, sizeof uid, "%s/v1", cid);
	json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[{s:O, s:o}]}", "uid", uid, "type", "Agreement", "assigner", provider,
			      "assignee", consumer, "target", product, "permission", "action", json_object_get(req, "actions"),
			      "constraint", cons);
	const json_t *pro = json_object_get(defaults, "prohibitions"), *obl = json_object_get(defaults, "obligations");
	if (p && json_array_size(pro))
		json_object_set_new(p, "prohibition", json_deep_copy(pro));
	if (p && json_array_size(obl))
		json_object_set_new(p, "obligation", json_deep_copy(obl));
	return p;
}

typedef struct draft_ctx {
	tds_contract *ct;
	const tds_ledger_actor *actor;
	const char *order_id;
	const json_t *service;
	char id[TDS_ID_MAX];
} draft_ctx;

static int draft_tx(sqlite3 *db, void *arg)
{
	draft_ctx *x = arg;
	sqlite3_stmt *st;
	json_t *req = NULL, *entry = NULL, *tpl = NULL, *doc = NULL, *issues = NULL;
	char provider[TDS_ID_MAX], consumer[TDS_ID_MAX], status[16], hash[TDS_HASH_HEX_LEN + 16];
	int rc = tds_store_prepare(db, "SELECT provider_org, consumer_org, request, entry, status FROM contract_orders WHERE id = ?",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, x->order_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(provider, sizeof provider, "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(consumer, sizeof consumer, "%s", (const char *)sqlite3_column_text(st, 1));
		req = col_json(st, 2);
		entry = col_json(st, 3);
		snprintf(status, sizeof status, "%s", (const char *)sqlite3_column_text(st, 4));
	} else {
		rc = tds_error_set(TDS_ENOTFOUND, "order_not_found", "no such order");
	}
	sqlite3_finalize(st);
	if (rc)
		goto out;
	if (strcmp(status, "open")) {
		rc = tds_error_set(TDS_ECONFLICT, "invalid_state", "the order was drafted already");
		goto out;
	}
	size_t i;
	json_t *v;
	json_array_foreach(x->service, i, v) {
		const char *s = json_string_value(v);
		if (!strcmp(s, provider) || !strcmp(s, consumer)) {
			rc = tds_error_set(TDS_EINVAL, "invalid_service", "service[%zu] is a party, not a service organisation", i);
			goto out;
		}
	}
	const char *form = tds_json_str(entry, "form", "");
	if ((rc = ct_template_get_tx(db, NULL, form, 0, &tpl)) || (rc = tds_id_new("ctr", x->id)))
		goto out;
	const json_t *defaults = json_object_get(tpl, "policy_defaults");
	json_t *service = json_array();
	json_array_foreach(x->service, i, v)
		json_array_append_new(service, json_pack("{s:O}", "org_id", v));
	doc = json_pack("{s:s, s:s, s:i, s:{s:s, s:I, s:s}, s:s, s:{s:s}, s:{s:s}, s:o, s:{s:s, s:O, s:I, s:s}, s:O, s:o, "
			"s:O, s:O}",
			"type", "tds.contract/1", "id", x->id, "version", 1, "template", "id", tds_json_str(tpl, "id", ""),
			"version", (json_int_t)tds_json_int(tpl, "version", 1), "form", form, "order_id", x->order_id, "provider",
			"org_id", provider, "consumer", "org_id", consumer, "service", service, "product", "id",
			tds_json_str(entry, "id", ""), "code", json_object_get(entry, "code") ? json_object_get(entry, "code") : json_null(),
			"version", (json_int_t)tds_json_int(entry, "version", 1), "form", form, "clauses",
			json_object_get(tpl, "clauses"), "policy",
			draft_policy(x->id, provider, consumer, tds_json_str(entry, "id", ""), req, defaults), "validity",
			json_object_get(req, "validity"), "violation_policy", json_object_get(defaults, "violation_policy"));
	if (!doc) {
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto out;
	}
	if ((rc = tds_contract_check(doc, entry, tpl, &issues)) || (rc = ct_authorization_issues(x->ct, db, x->order_id, doc, issues)))
		goto out;
	int64_t now = tds_now_ms(), from = 0, to = 0;
	tds_time_parse(tds_json_str(json_object_get(req, "validity"), "from", ""), &from);
	tds_time_parse(tds_json_str(json_object_get(req, "validity"), "to", ""), &to);
	char *svc = tds_json_dumps(x->service);
	if (!svc || (rc = tds_store_prepare(db, "INSERT INTO contracts (id, order_id, provider_org, consumer_org, service_orgs,"
						" product_id, product_code, form, state, version, valid_from, valid_to, created_at,"
						" updated_at) VALUES (?,?,?,?,?,?,?,?,'draft',1,?,?,?,?)", &st))) {
		free(svc);
		rc = rc ? rc : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto out;
	}
	sqlite3_bind_text(st, 1, x->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, x->order_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, provider, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, consumer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, svc, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, tds_json_str(entry, "id", ""), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, tds_json_str(entry, "code", NULL), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, form, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, from);
	sqlite3_bind_int64(st, 10, to);
	sqlite3_bind_int64(st, 11, now);
	sqlite3_bind_int64(st, 12, now);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "inserting contract");
	sqlite3_finalize(st);
	free(svc);
	if (rc || (rc = ct_version_insert_tx(x->ct, db, x->id, 1, doc, issues, x->actor, "operator", NULL, hash)))
		goto out;
	if ((rc = tds_store_prepare(db, "UPDATE contract_orders SET status = 'drafted', contract_id = ?, updated_at = ?"
					" WHERE id = ?", &st)))
		goto out;
	sqlite3_bind_text(st, 1, x->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_text(st, 3, x->order_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "updating order");
	sqlite3_finalize(st);
	if (!rc)
		rc = ct_evidence_tx(x->ct, db, "contract.drafted", x->actor, x->id, x->order_id,
				    json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:O}", "provider_org", provider, "consumer_org",
					      consumer, "product_id", tds_json_str(entry, "id", ""), "template_id",
					      tds_json_str(tpl, "id", ""), "template_version",
					      (json_int_t)tds_json_int(tpl, "version", 1), "document_hash", hash, "version",
					      (json_int_t)1, "issues", issues));
out:
	json_decref(req);
	json_decref(entry);
	json_decref(tpl);
	json_decref(doc);
	json_decref(issues);
	return rc;
}

int tds_contract_draft(tds_contract *ct, const tds_ledger_actor *actor, const char *order_id, const json_t *in,
		       json_t **out)
{
	static const tds_json_field f[] = {{"service", TDS_JSON_STRING_ARRAY, false, 8}};
	*out = NULL;
	int rc = tds_json_check(in, f, TDS_ARRAY_LEN(f), false);
	if (rc)
		return rc;
	const json_t *service = json_object_get(in, "service");
	size_t i, k;
	json_t *v, *w;
	json_array_foreach(service, i, v) {
		if (!tds_id_valid(json_string_value(v), "org"))
			return tds_error_set(TDS_EINVAL, "invalid_service", "service[%zu] must be an organisation id (org_…)", i);
		json_array_foreach(service, k, w) {
			if (k < i && json_equal(v, w))
				return tds_error_set(TDS_EINVAL, "invalid_service", "service[%zu] repeats an organisation", i);
		}
	}
	if (!tds_id_valid(order_id, "ord"))
		return tds_error_set(TDS_ENOTFOUND, "order_not_found", "no such order");
	json_t *empty = json_array();
	draft_ctx x = {.ct = ct, .actor = actor, .order_id = order_id, .service = service ? service : empty};
	rc = tds_store_tx(ct->store, draft_tx, &x);
	json_decref(empty);
	return rc ? rc : tds_contract_get(ct, NULL, x.id, out);
}
