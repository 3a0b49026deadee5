/*
 * delivery.c — API and dataset delivery on the provider's connector, their records, metering and
 * receipts (docs/delivery.md). One delivery is: the token's claims (which contract, which
 * products), the product's approved version and its data file, the caller's input checked, the
 * statement prepared, the decision (charging the contract's counters), the obligations turned into
 * per-column masks, the page of rows written in the chosen format, and — before the bytes leave —
 * the delivery record, its metering record and its evidence entry (content hash of exactly those
 * bytes) committed in one transaction.
 *
 * Not for HTTP (routes.c), not for decisions themselves (the contract and policy modules), not for
 * masking rules' semantics (the anon module).
 */
#include "delivery/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char MIGRATION_1[] =
    /* one row per delivered page: what was sent, under which contract, and its receipt */
    "CREATE TABLE delivery_records ("
    "  id TEXT PRIMARY KEY, contract_id TEXT NOT NULL, contract_version INTEGER NOT NULL,"
    "  provider_org TEXT NOT NULL, consumer_org TEXT NOT NULL, account TEXT, connector TEXT,"
    "  product_id TEXT NOT NULL, product_version INTEGER NOT NULL, form TEXT NOT NULL, format TEXT NOT NULL,"
    "  rows INTEGER NOT NULL, bytes INTEGER NOT NULL, content_hash TEXT NOT NULL,"
    "  cursor TEXT NOT NULL, next_cursor TEXT NOT NULL, delivered_at INTEGER NOT NULL,"
    "  evidence_index INTEGER NOT NULL,"
    "  receipt TEXT NOT NULL DEFAULT 'pending' CHECK (receipt IN ('pending','confirmed')),"
    "  receipt_at INTEGER, receipt_by TEXT) STRICT;"
    "CREATE INDEX delivery_records_contract ON delivery_records(contract_id, id);"
    "CREATE INDEX delivery_records_consumer ON delivery_records(consumer_org, id);"
    /* metering events for the metering issue to price: read in seq order */
    "CREATE TABLE delivery_metering ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT, delivery_id TEXT NOT NULL REFERENCES delivery_records(id),"
    "  contract_id TEXT NOT NULL, consumer_org TEXT NOT NULL, product_id TEXT NOT NULL, calls INTEGER NOT NULL,"
    "  rows INTEGER NOT NULL, bytes INTEGER NOT NULL, duration_us INTEGER NOT NULL, at INTEGER NOT NULL) STRICT;";

static const tds_migration MIGRATIONS[] = {{1, MIGRATION_1}};

int tds_delivery_open(tds_store *store, const tds_delivery_opts *opts, tds_delivery **out)
{
	*out = NULL;
	if (!store || !opts || !opts->ledger || !opts->catalog || !opts->contract)
		return tds_error_set(TDS_EINVAL, "invalid_options", "delivery needs a store, a ledger, a catalog and contracts");
	int rc = tds_store_migrate(store, "delivery", MIGRATIONS, TDS_ARRAY_LEN(MIGRATIONS));
	if (rc)
		return rc;
	tds_delivery *d = calloc(1, sizeof *d);
	if (!d)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	d->store = store;
	d->ledger = opts->ledger;
	d->catalog = opts->catalog;
	d->contract = opts->contract;
	snprintf(d->node_id, sizeof d->node_id, "%s", opts->node_id ? opts->node_id : "");
	d->suite = opts->suite;
	d->is_operator = opts->is_operator;
	if (opts->pseudonym_key) {
		memcpy(d->pseudonym_key, opts->pseudonym_key, sizeof d->pseudonym_key);
		d->has_pseudonym_key = true;
	}
	*out = d;
	return 0;
}

void tds_delivery_free(tds_delivery *d)
{
	if (d)
		memset(d->pseudonym_key, 0, sizeof d->pseudonym_key);
	free(d);
}

void tds_delivery_result_free(tds_delivery_result *r)
{
	if (r)
		tds_buf_free(&r->body);
}

/* ---- masks ---- */

static int keep_rule(int first, int last, tds_anon_mask *out)
{
	if (first < 0 || last < 0 || first > 64 || last > 64 || first + last == 0)
		return tds_error_set(TDS_EINVAL, "invalid_mask_rule", "keep rules keep 0-64 characters at each end, at least one");
	*out = (tds_anon_mask){.method = TDS_ANON_MASK_KEEP, .first = first, .last = last};
	return 0;
}

/* A decimal 0..64 at *s, advancing it. */
static int small_num(const char **s)
{
	int v = 0, n = 0;
	while (**s >= '0' && **s <= '9' && n < 3) {
		v = v * 10 + (**s - '0');
		(*s)++;
		n++;
	}
	return n == 0 || (n > 1 && (*s)[-n] == '0') ? -1 : v;
}

int tds_delivery_mask_rule_parse(const char *rule, tds_anon_mask *out)
{
	memset(out, 0, sizeof *out);
	if (!rule)
		return tds_error_set(TDS_EINVAL, "invalid_mask_rule", "a mask duty needs a rule");
	if (!strcmp(rule, "resident_id"))
		return keep_rule(6, 4, out);
	if (!strcmp(rule, "mobile"))
		return keep_rule(3, 4, out);
	if (!strcmp(rule, "hash")) {
		out->method = TDS_ANON_MASK_HASH;
		return 0;
	}
	static const struct {
		const char *name;
		tds_anon_mask_method m;
	} named[] = {{"none", TDS_ANON_MASK_NONE},
		     {"email", TDS_ANON_MASK_EMAIL},
		     {"year", TDS_ANON_MASK_YEAR},
		     {"ip", TDS_ANON_MASK_IP},
		     {"suppress", TDS_ANON_MASK_SUPPRESS}};
	for (size_t i = 0; i < TDS_ARRAY_LEN(named); i++)
		if (!strcmp(rule, named[i].name)) {
			out->method = named[i].m;
			return 0;
		}
	if (!strncmp(rule, "keep_", 5)) {
		const char *s = rule + 5;
		int first = 0, last = 0;
		bool any = false;
		if (!strncmp(s, "first", 5)) {
			s += 5;
			if ((first = small_num(&s)) < 0)
				goto bad;
			any = true;
			if (*s == '_' && !strncmp(s + 1, "last", 4))
				s++;
			else if (*s)
				goto bad;
		}
		if (!strncmp(s, "last", 4)) {
			s += 4;
			if ((last = small_num(&s)) < 0)
				goto bad;
			any = true;
		}
		if (!any || *s)
			goto bad;
		return keep_rule(first, last, out);
	}
bad:
	return tds_error_set(TDS_EINVAL, "invalid_mask_rule",
			     "mask rule \"%.64s\" is not one of keep_firstF_lastL, keep_firstF, keep_lastL, resident_id, mobile, "
			     "none, email, year, ip, suppress, hash",
			     rule);
}

int dlv_mask_from_json(const json_t *m, tds_anon_mask *out)
{
	memset(out, 0, sizeof *out);
	const char *meth = tds_json_str(m, "method", NULL);
	if (!meth)
		return tds_error_set(TDS_EINTERNAL, "invalid_mask", "a stored product field has no mask method");
	if (!strcmp(meth, "keep"))
		return keep_rule((int)tds_json_int(m, "first", 0), (int)tds_json_int(m, "last", 0), out);
	return tds_delivery_mask_rule_parse(meth, out);
}

/* ---- keyed pseudonyms ---- */

static int contract_key(tds_suite suite, const uint8_t key[32], const char *contract_id, uint8_t out[TDS_HASH_LEN])
{
	if (!tds_id_valid(contract_id, "ctr"))
		return tds_error_set(TDS_EINVAL, "invalid_contract", "a pseudonym is keyed by a contract id (ctr_…)");
	char info[64];
	int n = snprintf(info, sizeof info, "tds-pseudonym:%s", contract_id);
	return tds_hmac(suite, key, 32, info, (size_t)n, out);
}

static int pseudonym_with(tds_suite suite, const uint8_t ckey[TDS_HASH_LEN], const char *v, size_t n, tds_buf *out)
{
	uint8_t h[TDS_HASH_LEN];
	int rc = tds_hmac(suite, ckey, TDS_HASH_LEN, v, n, h);
	return rc ? rc : tds_hex_encode(h, 16, out);
}

int tds_delivery_pseudonym(tds_suite suite, const uint8_t key[32], const char *contract_id, const char *value,
			   size_t len, tds_buf *out)
{
	uint8_t ck[TDS_HASH_LEN];
	int rc = contract_key(suite, key, contract_id, ck);
	if (!rc)
		rc = pseudonym_with(suite, ck, value, len, out);
	memset(ck, 0, sizeof ck);
	return rc;
}

/* One mask on one value: the anon module's methods, or the contract's pseudonym for "hash". */
static int mask_value(const dlv_column *c, const tds_anon_mask *m, const char *v, size_t n, tds_buf *out)
{
	if (m->method == TDS_ANON_MASK_HASH)
		return c->ckey ? pseudonym_with(c->suite, c->ckey, v, n, out)
			       : tds_error_set(TDS_EINTERNAL, NULL, "a hash mask without a contract key");
	return tds_anon_mask_apply(m, v, n, out);
}

/* ---- output ---- */

int dlv_csv_cell(tds_buf *b, const char *v, size_t n)
{
	bool quote = false;
	for (size_t i = 0; i < n && !quote; i++)
		quote = v[i] == ',' || v[i] == '"' || v[i] == '\n' || v[i] == '\r';
	if (!quote)
		return tds_buf_append(b, v, n);
	int rc = tds_buf_putc(b, '"');
	for (size_t i = 0; i < n && !rc; i++)
		rc = v[i] == '"' ? tds_buf_append(b, "\"\"", 2) : tds_buf_putc(b, v[i]);
	return rc ? rc : tds_buf_putc(b, '"');
}

/* The value of column c of the current row as JSON (masked where the column says so). */
static json_t *cell_json(sqlite3_stmt *st, const dlv_column *c, tds_buf *tmp)
{
	int t = sqlite3_column_type(st, c->col);
	if (t == SQLITE_NULL)
		return json_null();
	if (t == SQLITE_BLOB) { /* not from CSV imports; delivered as hex, never as raw bytes */
		tds_buf_reset(tmp);
		if (tds_buf_puts(tmp, "\\x") ||
		    tds_hex_encode(sqlite3_column_blob(st, c->col), (size_t)sqlite3_column_bytes(st, c->col), tmp))
			return NULL;
		return json_stringn(tmp->data, tmp->len);
	}
	if (t == SQLITE_INTEGER && !c->product_mask && !c->duty_mask)
		return json_integer(sqlite3_column_int64(st, c->col));
	const char *v = (const char *)sqlite3_column_text(st, c->col);
	size_t n = (size_t)sqlite3_column_bytes(st, c->col);
	if (!v)
		return json_null();
	if (!c->product_mask && !c->duty_mask)
		return json_stringn(v, n);
	tds_buf_reset(tmp);
	tds_buf a = TDS_BUF_INIT;
	int rc = 0;
	if (c->product_mask && c->duty_mask) {
		rc = mask_value(c, &c->pmask, v, n, &a);
		if (!rc)
			rc = mask_value(c, &c->dmask, a.data ? a.data : "", a.len, tmp);
	} else {
		rc = mask_value(c, c->product_mask ? &c->pmask : &c->dmask, v, n, tmp);
	}
	tds_buf_free(&a);
	return rc ? NULL : json_stringn(tmp->data ? tmp->data : "", tmp->len);
}

/* ---- the product ---- */

void dlv_product_free(dlv_product *p)
{
	json_decref(p->product);
	json_decref(p->version);
	memset(p, 0, sizeof *p);
}

static int product_load(tds_delivery *d, const char *id, const char *form, dlv_product *p)
{
	memset(p, 0, sizeof *p);
	int rc = tds_catalog_product_get(d->catalog, NULL, id, &p->product);
	if (rc)
		return rc;
	const char *status = tds_json_str(p->product, "status", "");
	p->number = tds_json_int(p->product, "approved_version", 0);
	if (!strcmp(status, "removed"))
		return tds_error_set(TDS_ECONFLICT, "product_removed", "the product %s was removed by the operator", id);
	if (p->number <= 0)
		return tds_error_set(TDS_ECONFLICT, "product_not_approved", "the product %s has no approved version", id);
	if (strcmp(tds_json_str(p->product, "form", ""), form))
		return tds_error_set(TDS_ECONFLICT, "wrong_form", "the product %s is a %s product: %s", id,
				     tds_json_str(p->product, "form", ""),
				     !strcmp(form, "api") ? "export it with GET /data/v1/products/{id}/export"
							  : "query it with POST /data/v1/products/{id}/query");
	if ((rc = tds_catalog_product_version(d->catalog, NULL, id, p->number, &p->version)))
		return rc;
	const json_t *content = json_object_get(p->version, "content");
	p->spec = json_object_get(content, "spec");
	json_t *res = NULL;
	if ((rc = tds_catalog_resource_get(d->catalog, NULL, tds_json_str(content, "resource_id", ""), &res)))
		return rc;
	rc = tds_catalog_source_data(d->catalog, tds_json_str(res, "source_id", ""), p->path, sizeof p->path, p->table);
	json_decref(res);
	if (rc)
		return tds_error_set(TDS_ECONFLICT, "data_unavailable",
				     "the product's data is not available on this connector (%s)", tds_error_message());
	return 0;
}

/* ---- caller input ---- */

static const json_t *named(const json_t *arr, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) if (!strcmp(tds_json_str(v, "name", ""), name)) return v;
	return NULL;
}

static int check_fields(const tds_delivery_request *rq)
{
	if (!rq->fields || rq->n_fields == 0)
		return tds_error_set(TDS_EINVAL, "fields_required",
				     "name the fields you need (fields): only those are decided on and delivered");
	if (rq->n_fields > TDS_DELIVERY_MAX_FIELDS)
		return tds_error_set(TDS_EINVAL, "too_many_fields", "at most %d fields", TDS_DELIVERY_MAX_FIELDS);
	for (size_t i = 0; i < rq->n_fields; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(rq->fields[i], rq->fields[j]))
				return tds_error_set(TDS_EINVAL, "duplicate_field", "field \"%.128s\" is named twice", rq->fields[i]);
	return 0;
}

/* An unsigned decimal of at most 18 digits without leading zeros ("0" is fine). */
static int parse_cursor(const char *s, int64_t *out)
{
	*out = 0;
	if (!s || !*s)
		return 0;
	size_t n = strlen(s);
	if (n > 18 || strspn(s, "0123456789") != n || (n > 1 && s[0] == '0'))
		return tds_error_set(TDS_EINVAL, "invalid_cursor", "cursor must be a next_cursor this connector returned");
	*out = strtoll(s, NULL, 10);
	return 0;
}

static bool date_valid(const char *s)
{
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	int m = (s[5] - '0') * 10 + (s[6] - '0'), dd = (s[8] - '0') * 10 + (s[9] - '0');
	int y = atoi(s);
	static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m < 1 || m > 12 || dd < 1 || dd > days[m - 1])
		return false;
	return !(m == 2 && dd == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

static bool decimal_valid(const char *s)
{
	const char *p = s;
	if (*p == '-')
		p++;
	size_t n = strspn(p, "0123456789");
	if (n == 0 || n > 18)
		return false;
	p += n;
	if (*p == '.') {
		p++;
		size_t f = strspn(p, "0123456789");
		if (f == 0 || f > 18)
			return false;
		p += f;
	}
	return *p == 0;
}

int dlv_bind_params(sqlite3_stmt *st, const json_t *declared, const json_t *given, const char **row_filter)
{
	*row_filter = NULL;
	if (given && !json_is_object(given))
		return tds_error_set(TDS_EINVAL, "invalid_parameters", "parameters must be an object {name: value}");
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)given, k, v) {
		if (!named(declared, k))
			return tds_error_set(TDS_EINVAL, "unknown_parameter",
					     "parameter \"%.64s\" is not one of the product's parameters", k);
	}
	size_t i;
	json_t *p;
	json_array_foreach(declared, i, p) {
		const char *name = tds_json_str(p, "name", ""), *type = tds_json_str(p, "type", "text");
		char key[80];
		snprintf(key, sizeof key, ":%s", name);
		int idx = sqlite3_bind_parameter_index(st, key);
		v = given ? json_object_get(given, name) : NULL;
		if (!v || json_is_null(v)) {
			if (tds_json_bool(p, "required", false))
				return tds_error_set(TDS_EINVAL, "missing_parameter", "parameter \"%s\" (%s) is required", name, type);
			if (idx > 0)
				sqlite3_bind_null(st, idx);
			continue;
		}
		int rc = SQLITE_OK;
		const char *s = json_string_value(v);
		bool ok;
		if (!strcmp(type, "integer")) {
			ok = json_is_integer(v);
			if (ok && idx > 0)
				rc = sqlite3_bind_int64(st, idx, json_integer_value(v));
		} else if (!strcmp(type, "decimal")) {
			ok = json_is_integer(v) || (s && decimal_valid(s));
			if (ok && idx > 0)
				rc = s ? sqlite3_bind_double(st, idx, strtod(s, NULL))
				       : sqlite3_bind_int64(st, idx, json_integer_value(v));
		} else if (!strcmp(type, "boolean")) {
			ok = json_is_boolean(v);
			if (ok && idx > 0)
				rc = sqlite3_bind_int(st, idx, json_is_true(v));
		} else {
			int64_t ms;
			ok = s && strlen(s) <= TDS_DELIVERY_PARAM_MAX &&
			     (!strcmp(type, "date") ? date_valid(s) : !strcmp(type, "datetime") ? tds_time_parse(s, &ms) == 0 : true);
			if (ok && idx > 0)
				rc = sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT);
			if (ok && !strcmp(name, "row_filter"))
				*row_filter = s;
		}
		if (!ok)
			return tds_error_set(TDS_EINVAL, "invalid_parameter_type",
					     "parameter \"%s\" must be %s%s", name,
					     !strcmp(type, "integer")    ? "a JSON integer"
					     : !strcmp(type, "decimal")  ? "a decimal string (\"12.50\") or an integer"
					     : !strcmp(type, "boolean")  ? "true or false"
					     : !strcmp(type, "date")     ? "a date string YYYY-MM-DD"
					     : !strcmp(type, "datetime") ? "an RFC 3339 date-time string"
									 : "a string",
					     !strcmp(type, "text") ? " (at most 4096 bytes)" : "");
		if (rc != SQLITE_OK)
			return tds_error_set(TDS_EINTERNAL, "bind_failed", "binding parameter \"%s\" failed", name);
	}
	return 0;
}

/* ---- the policy check ---- */

typedef struct dlv_check {
	tds_token_claims claims;
	tds_policy_decision decision;
	tds_contract_outcome outcome;
} dlv_check;

static int claims_of(tds_delivery *d, const tds_delivery_caller *who, const char *product_id, tds_token_claims *c)
{
	if (d->is_operator)
		return tds_error_set(TDS_ECONFLICT, "not_a_connector", "data is delivered by the provider's connector, not the operator");
	if (!who->token || !who->token_len)
		return tds_error_set(TDS_EAUTH, "token_required",
				     "present the consumer's authorization token (Authorization: Bearer tds1.…)");
	tds_contract_request cr = {.token = who->token, .token_len = who->token_len, .caller_node = who->caller_node,
				   .peer = who->peer};
	int rc = tds_contract_token_claims(d->contract, &cr, tds_now_ms(), c);
	if (rc)
		return rc;
	if (!product_id)
		return 0;
	for (size_t i = 0; i < c->n_products; i++)
		if (!strcmp(c->products[i], product_id))
			return 0;
	return tds_error_set(TDS_EPERM, "product_not_in_contract", "the token's contract %s does not cover product %s",
			     c->contract_id, product_id);
}

static int decide(tds_delivery *d, const tds_delivery_caller *who, const tds_delivery_request *rq, int action,
		  const char *row_filter, dlv_check *k)
{
	tds_contract_request cr = {.token = who->token, .token_len = who->token_len, .caller_node = who->caller_node,
				   .peer = who->peer};
	cr.policy.action = action;
	cr.policy.fields = rq->fields;
	cr.policy.n_fields = rq->n_fields;
	cr.policy.purpose = rq->purpose;
	cr.policy.environment = rq->environment;
	cr.policy.client_ip = who->peer;
	cr.policy.row_filter = row_filter;
	int rc = tds_contract_decide(d->contract, &cr, tds_now_ms(), &k->decision, &k->outcome);
	if (rc)
		return rc;
	if (k->decision.permit)
		return 0;
	const tds_policy_decision *x = &k->decision;
	rc = tds_error_set(TDS_EPERM, x->code, "denied by the contract%s%s: %s", x->clause[0] ? "'s clause " : "",
			   x->clause, x->reason);
	json_t *det = json_pack("{s:s, s:s, s:s, s:I, s:I, s:b}", "clause", x->clause, "reason", x->reason, "contract_id",
				k->outcome.contract_id, "version", (json_int_t)k->outcome.version, "violations",
				(json_int_t)k->outcome.violations, "frozen", k->outcome.frozen);
	if (det && k->outcome.violation_id[0])
		json_object_set_new(det, "violation_id", json_string(k->outcome.violation_id));
	tds_error_set_details(det);
	return rc;
}

/* The decision's obligations as column masks; a duty this connector cannot fulfil refuses the
 * delivery (fail closed). *duties: the obligations' actions, for the evidence. */
static int apply_obligations(const tds_policy_decision *x, dlv_column *cols, size_t n, json_t *duties)
{
	for (size_t i = 0; i < x->n_obligations; i++) {
		const tds_policy_obligation *o = &x->obligations[i];
		json_array_append_new(duties, json_string(o->action));
		if (o->kind == TDS_POLICY_DUTY_WATERMARK)
			return tds_error_set(TDS_ECONFLICT, "obligation_unsupported",
					     "the contract requires a watermark (%s), which this connector cannot apply yet",
					     o->clause ? o->clause : "");
		if (o->kind != TDS_POLICY_DUTY_MASK)
			continue; /* log: the evidence entry; pay: the metering record; delete, notify: the consumer's side */
		tds_anon_mask m;
		if (tds_delivery_mask_rule_parse(o->rule, &m))
			return tds_error_set(TDS_ECONFLICT, "obligation_unsupported", "the contract's mask duty %s: %s",
					     o->clause ? o->clause : "", tds_error_message());
		for (size_t c = 0; c < n; c++)
			if (o->field && !strcmp(cols[c].name, o->field)) {
				cols[c].duty_mask = m.method != TDS_ANON_MASK_NONE;
				cols[c].dmask = m;
			}
	}
	return 0;
}

/* ---- the record ---- */

typedef struct rec_ctx {
	tds_delivery *d;
	const tds_token_claims *c;
	const dlv_check *k;
	const char *product_id, *form, *format, *cursor;
	int64_t product_version;
	const tds_delivery_result *r;
	const json_t *fields, *masked, *duties;
	int64_t at, duration_us;
} rec_ctx;

static int record_tx(sqlite3 *db, void *p)
{
	rec_ctx *x = p;
	const tds_delivery_result *r = x->r;
	const char *subjects[] = {r->id, x->k->outcome.contract_id, x->product_id};
	json_t *payload = json_pack("{s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:I, s:I, s:s, s:O, s:O, s:O, s:s, s:s}",
				    "delivery_id", r->id, "contract_id", x->k->outcome.contract_id, "contract_version",
				    (json_int_t)x->k->outcome.version, "product_id", x->product_id, "product_version",
				    (json_int_t)x->product_version, "form", x->form, "format", x->format, "rows",
				    (json_int_t)r->rows, "bytes", (json_int_t)r->body.len, "content_hash", r->content_hash,
				    "fields", x->fields, "masked", x->masked, "obligations", x->duties, "cursor", x->cursor,
				    "next_cursor", r->next_cursor);
	if (!payload)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	tds_ledger_entry_in e = {.type = "delivery.delivered",
				 .time_ms = x->at,
				 .actor = {.org = x->c->org,
					   .account = x->c->account[0] ? x->c->account : NULL,
					   .node = x->c->connector[0] ? x->c->connector : NULL},
				 .subjects = subjects,
				 .nsubjects = 3,
				 .payload = payload};
	uint64_t index = 0;
	int rc = tds_ledger_append_tx(x->d->ledger, db, &e, &index);
	json_decref(payload);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	if ((rc = tds_store_prepare(db,
				    "INSERT INTO delivery_records (id, contract_id, contract_version, provider_org, consumer_org, "
				    "account, connector, product_id, product_version, form, format, rows, bytes, content_hash, "
				    "cursor, next_cursor, delivered_at, evidence_index) "
				    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
				    &st)))
		return rc;
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, x->k->outcome.contract_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, x->k->outcome.version);
	sqlite3_bind_text(st, 4, x->c->audience, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, x->c->org, -1, SQLITE_STATIC);
	if (x->c->account[0])
		sqlite3_bind_text(st, 6, x->c->account, -1, SQLITE_STATIC);
	if (x->c->connector[0])
		sqlite3_bind_text(st, 7, x->c->connector, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, x->product_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, x->product_version);
	sqlite3_bind_text(st, 10, x->form, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, x->format, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 12, r->rows);
	sqlite3_bind_int64(st, 13, (sqlite3_int64)r->body.len);
	sqlite3_bind_text(st, 14, r->content_hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 15, x->cursor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 16, r->next_cursor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 17, x->at);
	sqlite3_bind_int64(st, 18, (sqlite3_int64)index);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : tds_store_error(db, "recording a delivery");
	sqlite3_finalize(st);
	if (rc || (rc = tds_store_prepare(db,
					  "INSERT INTO delivery_metering (delivery_id, contract_id, consumer_org, product_id, "
					  "calls, rows, bytes, duration_us, at) VALUES (?,?,?,?,1,?,?,?,?)",
					  &st)))
		return rc;
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, x->k->outcome.contract_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, x->c->org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, x->product_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, r->rows);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)r->body.len);
	sqlite3_bind_int64(st, 7, x->duration_us);
	sqlite3_bind_int64(st, 8, x->at);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : tds_store_error(db, "recording a metering event");
	sqlite3_finalize(st);
	return rc;
}

static int content_hash(tds_suite suite, const tds_buf *b, char out[80])
{
	uint8_t h[TDS_HASH_LEN];
	tds_buf hex = TDS_BUF_INIT;
	int rc = tds_hash(suite, b->data, b->len, h);
	if (!rc && !(rc = tds_hex_encode(h, sizeof h, &hex)))
		snprintf(out, 80, "%s:%s", tds_hash_alg(suite), hex.data);
	tds_buf_free(&hex);
	return rc;
}

static const char *format_name(tds_delivery_format f)
{
	return f == TDS_DELIVERY_CSV ? "csv" : f == TDS_DELIVERY_NDJSON ? "ndjson" : "json";
}

static const char *content_type_of(tds_delivery_format f)
{
	return f == TDS_DELIVERY_CSV      ? "text/csv; charset=utf-8"
	       : f == TDS_DELIVERY_NDJSON ? "application/x-ndjson"
					  : "application/json";
}

/* Writes up to limit rows of st (already positioned) into r->body, counting them in r->rows; when
 * another row follows, r->next_cursor is set: the last rowid (rowid_col >= 0, exports) or the offset
 * after this page (API). */
static int write_rows(sqlite3_stmt *st, const dlv_column *cols, size_t n, int limit, tds_delivery_format f,
		      int rowid_col, int64_t offset, tds_delivery_result *r)
{
	tds_buf *b = &r->body, tmp = TDS_BUF_INIT;
	int rc = 0;
	json_t *items = f == TDS_DELIVERY_JSON ? json_array() : NULL;
	if (f == TDS_DELIVERY_CSV) {
		for (size_t c = 0; c < n && !rc; c++)
			rc = (c ? tds_buf_putc(b, ',') : 0) || dlv_csv_cell(b, cols[c].name, strlen(cols[c].name)) ? TDS_ENOMEM : 0;
		if (!rc)
			rc = tds_buf_append(b, "\r\n", 2);
	}
	int64_t last_rowid = 0;
	bool more = false;
	int s = SQLITE_DONE;
	while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->rows == limit) {
			more = true;
			break;
		}
		json_t *row = json_object();
		for (size_t c = 0; c < n && !rc; c++) {
			json_t *v = cell_json(st, &cols[c], &tmp);
			if (!v || !row) {
				json_decref(v);
				rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
				break;
			}
			if (f == TDS_DELIVERY_CSV) {
				if (c)
					rc = tds_buf_putc(b, ',');
				if (json_is_string(v))
					rc = rc ? rc : dlv_csv_cell(b, json_string_value(v), json_string_length(v));
				else if (json_is_integer(v))
					rc = rc ? rc : tds_buf_printf(b, "%lld", (long long)json_integer_value(v));
				json_decref(v);
			} else {
				json_object_set_new(row, cols[c].name, v);
			}
		}
		if (rowid_col >= 0)
			last_rowid = sqlite3_column_int64(st, rowid_col);
		if (!rc && f == TDS_DELIVERY_CSV)
			rc = tds_buf_append(b, "\r\n", 2);
		else if (!rc && f == TDS_DELIVERY_NDJSON) {
			char *line = json_dumps(row, JSON_PRESERVE_ORDER | JSON_COMPACT);
			rc = !line || tds_buf_puts(b, line) || tds_buf_putc(b, '\n') ? tds_error_set(TDS_ENOMEM, NULL, "out of memory") : 0;
			free(line);
		} else if (!rc && items) {
			json_array_append(items, row);
		}
		json_decref(row);
		r->rows++;
	}
	if (!rc && !more && s != SQLITE_DONE)
		rc = tds_error_set(TDS_EIO, "query_failed", "reading the product's data failed: %s",
				   sqlite3_errmsg(sqlite3_db_handle(st)));
	if (!rc && more)
		snprintf(r->next_cursor, sizeof r->next_cursor, "%lld",
			 rowid_col >= 0 ? (long long)last_rowid : (long long)(offset + r->rows));
	if (!rc && items) {
		json_t *fields = json_array();
		for (size_t c = 0; c < n; c++)
			json_array_append_new(fields, json_string(cols[c].name));
		json_t *doc = json_pack("{s:o, s:o, s:s?}", "fields", fields, "items", items, "next_cursor",
					r->next_cursor[0] ? r->next_cursor : NULL);
		items = NULL;
		if (doc && !json_object_get(doc, "next_cursor"))
			json_object_set_new(doc, "next_cursor", json_null());
		char *text = doc ? json_dumps(doc, JSON_PRESERVE_ORDER | JSON_COMPACT) : NULL;
		rc = !text || tds_buf_puts(b, text) ? tds_error_set(TDS_ENOMEM, NULL, "out of memory") : 0;
		free(text);
		json_decref(doc);
	}
	json_decref(items);
	tds_buf_free(&tmp);
	if (!rc && !b->data)
		rc = tds_buf_reserve(b, 1);
	return rc;
}

/* The common end of a delivery: obligations, rows, hash, record. */
typedef struct dlv_run {
	const char *form, *format_name;
	sqlite3_stmt *st;
	dlv_column *cols;
	size_t n;
	int limit, rowid_col;
	int64_t offset;
	const char *cursor;
} dlv_run;

static int finish(tds_delivery *d, const tds_token_claims *c, const dlv_check *k, const tds_delivery_request *rq,
		  const dlv_product *p, dlv_run *run, int64_t t0, tds_delivery_result *r)
{
	json_t *duties = json_array(), *fields = json_array(), *masked = json_array();
	uint8_t ckey[TDS_HASH_LEN];
	bool keyed = false;
	int rc = duties && fields && masked ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if (!rc)
		rc = apply_obligations(&k->decision, run->cols, run->n, duties);
	/* "hash" masks: the contract's pseudonym key, or no delivery */
	for (size_t i = 0; !rc && i < run->n; i++) {
		dlv_column *col = &run->cols[i];
		if (!((col->product_mask && col->pmask.method == TDS_ANON_MASK_HASH) ||
		      (col->duty_mask && col->dmask.method == TDS_ANON_MASK_HASH)))
			continue;
		if (!d->has_pseudonym_key)
			rc = tds_error_set(TDS_ECONFLICT, "obligation_unsupported",
					   "field \"%s\" is masked by a keyed pseudonym and this connector has no pseudonym key",
					   col->name);
		else if (!keyed && !(rc = contract_key(d->suite, d->pseudonym_key, k->outcome.contract_id, ckey)))
			keyed = true;
		col->ckey = ckey;
		col->suite = d->suite;
	}
	for (size_t i = 0; !rc && i < run->n; i++) {
		json_array_append_new(fields, json_string(run->cols[i].name));
		if (run->cols[i].product_mask || run->cols[i].duty_mask)
			json_array_append_new(masked, json_string(run->cols[i].name));
	}
	if (!rc)
		rc = write_rows(run->st, run->cols, run->n, run->limit, rq->format, run->rowid_col, run->offset, r);
	if (!rc && !(rc = content_hash(d->suite, &r->body, r->content_hash)) && !(rc = tds_id_new("dlv", r->id))) {
		r->content_type = content_type_of(rq->format);
		snprintf(r->contract_id, sizeof r->contract_id, "%s", k->outcome.contract_id);
		rec_ctx x = {.d = d,
			     .c = c,
			     .k = k,
			     .product_id = rq->product_id,
			     .form = run->form,
			     .format = run->format_name,
			     .cursor = run->cursor,
			     .product_version = p->number,
			     .r = r,
			     .fields = fields,
			     .masked = masked,
			     .duties = duties,
			     .at = tds_now_ms(),
			     .duration_us = tds_monotonic_us() - t0};
		rc = tds_store_tx(d->store, record_tx, &x);
	}
	memset(ckey, 0, sizeof ckey);
	json_decref(duties);
	json_decref(fields);
	json_decref(masked);
	return rc;
}

/* ---- API delivery ---- */

int tds_delivery_query(tds_delivery *d, const tds_delivery_caller *who, const tds_delivery_request *rq,
		       tds_delivery_result *out)
{
	memset(out, 0, sizeof *out);
	int64_t t0 = tds_monotonic_us();
	dlv_check k;
	dlv_product p = {0};
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	dlv_column *cols = NULL;
	int64_t offset = 0;
	int limit = rq->limit ? rq->limit : TDS_DELIVERY_QUERY_DEFAULT_LIMIT;
	const char *row_filter = NULL;
	int rc;
	if (!tds_id_valid(rq->product_id, "prd"))
		return tds_error_set(TDS_ENOTFOUND, "product_not_found", "no such product");
	if ((rc = claims_of(d, who, rq->product_id, &k.claims)) || (rc = product_load(d, rq->product_id, "api", &p)))
		goto out;
	if ((rc = check_fields(rq)) || (rc = parse_cursor(rq->cursor, &offset)))
		goto out;
	if (limit < 1 || limit > TDS_DELIVERY_QUERY_MAX_LIMIT) {
		rc = tds_error_set(TDS_EINVAL, "invalid_limit", "limit must be 1-%d rows", TDS_DELIVERY_QUERY_MAX_LIMIT);
		goto out;
	}
	if (rq->format == TDS_DELIVERY_NDJSON) {
		rc = tds_error_set(TDS_EINVAL, "invalid_format", "API results are JSON or CSV (Accept: text/csv)");
		goto out;
	}
	const json_t *outputs = json_object_get(p.spec, "outputs");
	if (!(cols = calloc(rq->n_fields, sizeof *cols))) {
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < rq->n_fields; i++) {
		if (!named(outputs, rq->fields[i])) {
			rc = tds_error_set(TDS_EINVAL, "unknown_field", "field \"%.128s\" is not an output of the product",
					   rq->fields[i]);
			goto out;
		}
		cols[i].name = rq->fields[i];
		cols[i].col = -1;
	}
	if ((rc = tds_product_sql_open(p.path, &db)))
		goto out;
	const char *sql = tds_json_str(p.spec, "sql", "");
	if (sqlite3_prepare_v3(db, sql, -1, 0, &st, NULL) != SQLITE_OK || !st) {
		rc = tds_error_set(TDS_ECONFLICT, "data_unavailable", "the product's query no longer runs on its data: %s",
				   sqlite3_errmsg(db));
		goto out;
	}
	for (size_t i = 0; i < rq->n_fields; i++)
		for (int c = 0; c < sqlite3_column_count(st); c++)
			if (!strcmp(sqlite3_column_name(st, c), cols[i].name))
				cols[i].col = c;
	for (size_t i = 0; i < rq->n_fields; i++)
		if (cols[i].col < 0) {
			rc = tds_error_set(TDS_ECONFLICT, "data_unavailable", "the product's query has no column \"%s\"",
					   cols[i].name);
			goto out;
		}
	if ((rc = dlv_bind_params(st, json_object_get(p.spec, "parameters"), rq->parameters, &row_filter)))
		goto out;
	/* the decision: everything the caller could get wrong was checked above */
	if ((rc = decide(d, who, rq, TDS_POLICY_ACTION_QUERY, row_filter, &k)))
		goto out;
	for (int64_t skip = 0; skip < offset; skip++) {
		int s = sqlite3_step(st);
		if (s == SQLITE_DONE)
			break;
		if (s != SQLITE_ROW) {
			rc = tds_error_set(TDS_EIO, "query_failed", "reading the product's data failed: %s", sqlite3_errmsg(db));
			goto out;
		}
	}
	dlv_run run = {.form = "api",
		       .format_name = format_name(rq->format),
		       .st = st,
		       .cols = cols,
		       .n = rq->n_fields,
		       .limit = limit,
		       .rowid_col = -1,
		       .offset = offset,
		       .cursor = rq->cursor ? rq->cursor : ""};
	rc = finish(d, &k.claims, &k, rq, &p, &run, t0, out);
out:
	sqlite3_finalize(st);
	if (db)
		sqlite3_close(db);
	free(cols);
	dlv_product_free(&p);
	if (rc)
		tds_delivery_result_free(out);
	return rc;
}

/* ---- dataset delivery ---- */

int tds_delivery_export(tds_delivery *d, const tds_delivery_caller *who, const tds_delivery_request *rq,
			tds_delivery_result *out)
{
	memset(out, 0, sizeof *out);
	int64_t t0 = tds_monotonic_us();
	dlv_check k;
	dlv_product p = {0};
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	dlv_column *cols = NULL;
	int64_t after = 0;
	int limit = rq->limit ? rq->limit : TDS_DELIVERY_EXPORT_DEFAULT_LIMIT;
	tds_buf sql = TDS_BUF_INIT;
	int rc;
	if (!tds_id_valid(rq->product_id, "prd"))
		return tds_error_set(TDS_ENOTFOUND, "product_not_found", "no such product");
	if ((rc = claims_of(d, who, rq->product_id, &k.claims)) || (rc = product_load(d, rq->product_id, "dataset", &p)))
		goto out;
	if ((rc = check_fields(rq)) || (rc = parse_cursor(rq->cursor, &after)))
		goto out;
	if (limit < 1 || limit > TDS_DELIVERY_EXPORT_MAX_LIMIT) {
		rc = tds_error_set(TDS_EINVAL, "invalid_limit", "limit must be 1-%d rows", TDS_DELIVERY_EXPORT_MAX_LIMIT);
		goto out;
	}
	if (rq->format == TDS_DELIVERY_JSON) {
		rc = tds_error_set(TDS_EINVAL, "invalid_format", "exports are csv or ndjson");
		goto out;
	}
	if (rq->parameters) {
		rc = tds_error_set(TDS_EINVAL, "unknown_parameter", "a dataset export takes no parameters");
		goto out;
	}
	const json_t *spec_fields = json_object_get(p.spec, "fields");
	if (!(cols = calloc(rq->n_fields, sizeof *cols))) {
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto out;
	}
	rc = tds_buf_puts(&sql, "SELECT rowid");
	for (size_t i = 0; !rc && i < rq->n_fields; i++) {
		const json_t *f = named(spec_fields, rq->fields[i]);
		if (!f) {
			rc = tds_error_set(TDS_EINVAL, "unknown_field", "field \"%.128s\" is not a field of the dataset", rq->fields[i]);
			goto out;
		}
		const char *perm = tds_json_str(f, "permission", "read");
		if (!strcmp(perm, "compute_only")) {
			rc = tds_error_set(TDS_EPERM, "field_not_deliverable",
					   "field \"%s\" is compute_only: usable in computation, never delivered", rq->fields[i]);
			goto out;
		}
		cols[i].name = rq->fields[i];
		cols[i].col = (int)i + 1;
		if (!strcmp(perm, "masked")) {
			if ((rc = dlv_mask_from_json(json_object_get(f, "mask"), &cols[i].pmask))) {
				rc = tds_error_set(TDS_ECONFLICT, "obligation_unsupported", "field \"%s\": %s", rq->fields[i],
						   tds_error_message());
				goto out;
			}
			cols[i].product_mask = cols[i].pmask.method != TDS_ANON_MASK_NONE;
		}
		char *q = sqlite3_mprintf(", \"%w\"", rq->fields[i]);
		rc = q ? tds_buf_puts(&sql, q) : TDS_ENOMEM;
		sqlite3_free(q);
	}
	char *from = sqlite3_mprintf(" FROM \"%w\" WHERE rowid > ?1 ORDER BY rowid LIMIT ?2", p.table);
	rc = rc || !from || tds_buf_puts(&sql, from) ? tds_error_set(TDS_ENOMEM, NULL, "out of memory") : 0;
	sqlite3_free(from);
	if (rc || (rc = tds_product_sql_open(p.path, &db)))
		goto out;
	if (sqlite3_prepare_v3(db, sql.data, -1, 0, &st, NULL) != SQLITE_OK || !st) {
		rc = tds_error_set(TDS_ECONFLICT, "data_unavailable", "the dataset's fields are not in its data: %s",
				   sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)limit + 1);
	if ((rc = decide(d, who, rq, TDS_POLICY_ACTION_DOWNLOAD, NULL, &k)))
		goto out;
	dlv_run run = {.form = "dataset",
		       .format_name = format_name(rq->format),
		       .st = st,
		       .cols = cols,
		       .n = rq->n_fields,
		       .limit = limit,
		       .rowid_col = 0,
		       .offset = 0,
		       .cursor = rq->cursor ? rq->cursor : ""};
	rc = finish(d, &k.claims, &k, rq, &p, &run, t0, out);
out:
	tds_buf_free(&sql);
	sqlite3_finalize(st);
	if (db)
		sqlite3_close(db);
	free(cols);
	dlv_product_free(&p);
	if (rc)
		tds_delivery_result_free(out);
	return rc;
}

/* ---- records, receipts ---- */

static json_t *record_json(sqlite3_stmt *st)
{
	char at[TDS_TIME_MAX], rat[TDS_TIME_MAX];
	tds_time_format(sqlite3_column_int64(st, 16), at);
	bool has_r = sqlite3_column_type(st, 18) != SQLITE_NULL;
	if (has_r)
		tds_time_format(sqlite3_column_int64(st, 18), rat);
	return json_pack("{s:s, s:s, s:I, s:s, s:s, s:s?, s:s?, s:s, s:I, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, "
			 "s:s?, s:I}",
			 "id", sqlite3_column_text(st, 0), "contract_id", sqlite3_column_text(st, 1), "contract_version",
			 (json_int_t)sqlite3_column_int64(st, 2), "provider_org", sqlite3_column_text(st, 3), "consumer_org",
			 sqlite3_column_text(st, 4), "account", sqlite3_column_text(st, 5), "connector",
			 sqlite3_column_text(st, 6), "product_id", sqlite3_column_text(st, 7), "product_version",
			 (json_int_t)sqlite3_column_int64(st, 8), "form", sqlite3_column_text(st, 9), "format",
			 sqlite3_column_text(st, 10), "rows", (json_int_t)sqlite3_column_int64(st, 11), "bytes",
			 (json_int_t)sqlite3_column_int64(st, 12), "content_hash", sqlite3_column_text(st, 13), "cursor",
			 sqlite3_column_text(st, 14), "next_cursor", sqlite3_column_text(st, 15), "delivered_at", at,
			 "receipt", sqlite3_column_text(st, 17), "receipt_at", has_r ? rat : NULL, "evidence_index",
			 (json_int_t)sqlite3_column_int64(st, 19));
}

#define RECORD_COLS                                                                                                  \
	"id, contract_id, contract_version, provider_org, consumer_org, account, connector, product_id, "             \
	"product_version, form, format, rows, bytes, content_hash, cursor, next_cursor, delivered_at, receipt, "      \
	"receipt_at, evidence_index"

static int record_get(sqlite3 *db, const char *id, json_t **out)
{
	*out = NULL;
	sqlite3_stmt *st = NULL;
	int rc = tds_store_prepare(db, "SELECT " RECORD_COLS " FROM delivery_records WHERE id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		rc = (*out = record_json(st)) ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	else
		rc = s == SQLITE_DONE ? tds_error_set(TDS_ENOTFOUND, "delivery_not_found", "no such delivery")
				      : tds_store_error(db, "reading a delivery");
	sqlite3_finalize(st);
	return rc;
}

typedef struct receipt_ctx {
	tds_delivery *d;
	const char *id, *hash, *org, *account, *node;
	const char *contract; /* a token's contract: the delivery must be under it */
	bool mismatch;
	json_t *rec;
} receipt_ctx;

static bool hash_equal(const char *a, const char *b)
{
	size_t n = strlen(a);
	if (n != strlen(b))
		return false;
	unsigned char x = 0;
	for (size_t i = 0; i < n; i++)
		x |= (unsigned char)(a[i] ^ b[i]);
	return x == 0;
}

static int receipt_tx(sqlite3 *db, void *p)
{
	receipt_ctx *x = p;
	int rc = record_get(db, x->id, &x->rec);
	if (rc)
		return rc;
	if ((x->org && strcmp(x->org, tds_json_str(x->rec, "consumer_org", ""))) ||
	    (x->contract && strcmp(x->contract, tds_json_str(x->rec, "contract_id", ""))))
		return tds_error_set(TDS_ENOTFOUND, "delivery_not_found", "no such delivery under this consumer and contract");
	bool same = hash_equal(x->hash, tds_json_str(x->rec, "content_hash", ""));
	bool confirmed = !strcmp(tds_json_str(x->rec, "receipt", ""), "confirmed");
	if (same && confirmed)
		return 0; /* the same receipt again: the stored answer */
	const char *subjects[] = {x->id, tds_json_str(x->rec, "contract_id", "")};
	json_t *payload = json_pack("{s:s, s:s, s:s, s:s}", "delivery_id", x->id, "contract_id", subjects[1],
				    "content_hash", tds_json_str(x->rec, "content_hash", ""), "received_hash", x->hash);
	tds_ledger_entry_in e = {.type = same ? "delivery.receipt_confirmed" : "delivery.receipt_refused",
				 .actor = {.org = x->org, .account = x->account, .node = x->node},
				 .subjects = subjects,
				 .nsubjects = 2,
				 .payload = payload};
	rc = payload ? tds_ledger_append_tx(x->d->ledger, db, &e, NULL) : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	json_decref(payload);
	if (rc || !same) {
		x->mismatch = !same;
		return rc;
	}
	sqlite3_stmt *st = NULL;
	if ((rc = tds_store_prepare(db,
				    "UPDATE delivery_records SET receipt = 'confirmed', receipt_at = ?, receipt_by = ? "
				    "WHERE id = ?",
				    &st)))
		return rc;
	sqlite3_bind_int64(st, 1, tds_now_ms());
	sqlite3_bind_text(st, 2, x->node ? x->node : x->account ? x->account : x->org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, x->id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : tds_store_error(db, "recording a receipt");
	sqlite3_finalize(st);
	json_decref(x->rec);
	x->rec = NULL;
	return rc ? rc : record_get(db, x->id, &x->rec);
}

int tds_delivery_receipt(tds_delivery *d, const tds_delivery_caller *who, const char *id, const char *content_hash,
			 json_t **out)
{
	*out = NULL;
	if (d->is_operator)
		return tds_error_set(TDS_ECONFLICT, "not_a_connector", "receipts are given to the provider's connector");
	if (!tds_id_valid(id, "dlv"))
		return tds_error_set(TDS_ENOTFOUND, "delivery_not_found", "no such delivery");
	size_t hl = content_hash ? strlen(content_hash) : 0;
	const char *alg = tds_hash_alg(d->suite);
	size_t al = strlen(alg);
	if (hl != al + 1 + 2 * TDS_HASH_LEN || strncmp(content_hash, alg, al) || content_hash[al] != ':' ||
	    strspn(content_hash + al + 1, "0123456789abcdef") != 2 * TDS_HASH_LEN)
		return tds_error_set(TDS_EINVAL, "invalid_content_hash",
				     "content_hash must be \"%s:\" and %d lower-case hex digits of the bytes received", alg,
				     2 * TDS_HASH_LEN);
	receipt_ctx x = {.d = d, .id = id, .hash = content_hash};
	tds_token_claims c;
	char contract[TDS_ID_MAX] = "";
	if (who->caller_org && !who->token) {
		x.org = who->caller_org;
		x.node = who->caller_node;
	} else {
		int rc = claims_of(d, who, NULL, &c);
		if (rc)
			return rc;
		x.org = c.org;
		x.account = c.account[0] ? c.account : NULL;
		x.node = c.connector[0] ? c.connector : NULL;
		snprintf(contract, sizeof contract, "%s", c.contract_id);
	}
	x.contract = contract[0] ? contract : NULL;
	int rc = tds_store_tx(d->store, receipt_tx, &x);
	if (!rc && x.mismatch)
		rc = tds_error_set(TDS_ECONFLICT, "receipt_hash_mismatch",
				   "the hash is not that of the bytes delivered (%s); the refusal is evidenced",
				   tds_json_str(x.rec, "content_hash", ""));
	if (rc) {
		json_decref(x.rec);
		return rc;
	}
	*out = x.rec;
	return 0;
}

int tds_delivery_list(tds_delivery *d, const char *consumer_org, const char *contract_id, int limit, const char *cursor,
		      json_t **out)
{
	*out = NULL;
	sqlite3 *db = tds_store_conn(d->store);
	if (!db)
		return tds_error_code();
	sqlite3_stmt *st = NULL;
	int rc = tds_store_prepare(db,
				   "SELECT " RECORD_COLS " FROM delivery_records WHERE (?1 IS NULL OR consumer_org = ?1) "
				   "AND (?2 IS NULL OR contract_id = ?2) AND id > ?3 ORDER BY id LIMIT ?4",
				   &st);
	if (rc)
		return rc;
	if (consumer_org)
		sqlite3_bind_text(st, 1, consumer_org, -1, SQLITE_STATIC);
	if (contract_id)
		sqlite3_bind_text(st, 2, contract_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, cursor ? cursor : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, limit + 1);
	json_t *items = json_array();
	int s, n = 0;
	const char *next = NULL;
	while (items && (s = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == limit) {
			next = json_string_value(json_object_get(json_array_get(items, (size_t)n - 1), "id"));
			break;
		}
		json_array_append_new(items, record_json(st));
		n++;
	}
	if (items && !next && s != SQLITE_DONE)
		rc = tds_store_error(db, "listing deliveries");
	sqlite3_finalize(st);
	if (!rc)
		*out = json_pack("{s:O, s:s?}", "items", items, "next_cursor", next);
	json_decref(items);
	if (!rc && *out && !json_object_get(*out, "next_cursor"))
		json_object_set_new(*out, "next_cursor", json_null());
	return rc ? rc : *out ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
}

int tds_delivery_metering(tds_delivery *d, int64_t after_seq, int limit, json_t **out)
{
	*out = NULL;
	if (limit < 1 || limit > 1000)
		return tds_error_set(TDS_EINVAL, "invalid_limit", "limit must be 1-1000 events");
	sqlite3 *db = tds_store_conn(d->store);
	if (!db)
		return tds_error_code();
	sqlite3_stmt *st = NULL;
	int rc = tds_store_prepare(db,
				   "SELECT seq, delivery_id, contract_id, consumer_org, product_id, calls, rows, bytes, "
				   "duration_us, at FROM delivery_metering WHERE seq > ? ORDER BY seq LIMIT ?",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, after_seq);
	sqlite3_bind_int(st, 2, limit);
	json_t *items = json_array();
	int64_t last = after_seq;
	int s = SQLITE_DONE;
	while (items && (s = sqlite3_step(st)) == SQLITE_ROW) {
		char at[TDS_TIME_MAX];
		tds_time_format(sqlite3_column_int64(st, 9), at);
		last = sqlite3_column_int64(st, 0);
		json_array_append_new(
		    items, json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s}", "seq", (json_int_t)last, "delivery_id",
				     sqlite3_column_text(st, 1), "contract_id", sqlite3_column_text(st, 2), "consumer_org",
				     sqlite3_column_text(st, 3), "product_id", sqlite3_column_text(st, 4), "calls",
				     (json_int_t)sqlite3_column_int64(st, 5), "rows", (json_int_t)sqlite3_column_int64(st, 6),
				     "bytes", (json_int_t)sqlite3_column_int64(st, 7), "duration_us",
				     (json_int_t)sqlite3_column_int64(st, 8), "at", at));
	}
	if (!items)
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	else if (s != SQLITE_DONE)
		rc = tds_store_error(db, "reading metering events");
	sqlite3_finalize(st);
	if (!rc && !(*out = json_pack("{s:O, s:I}", "items", items, "last_seq", (json_int_t)last)))
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	json_decref(items);
	return rc;
}
