/*
 * contract.c — the module handle and the operator's contract records (contract.h sections 1-3): the
 * schema (migration 1), reading contracts (one, lists, versions), the operator's actions on a filed
 * contract (suspend, resume, terminate), expiry, the distribution feed to the parties' connectors
 * (双渠道下发) and their acknowledgements, and the helpers the other files share (evidence, canonical
 * bytes and their hash).
 *
 * Not here: templates (template.c), orders and drafts (order.c), proposals, checks and diffs
 * (negotiate.c), signatures and filing (sign.c), tokens and enforcement (token.c, enforce.c, sync.c).
 *
 * Invariants of the tables:
 *   - contract_versions rows are never updated or deleted: a version is immutable once made, its
 *     document stored as its canonical JSON, the bytes the parties sign.
 *   - contracts.version is the latest version; contracts.effective_version the version in force
 *     (the last one filed), NULL until the first filing.
 *   - acceptances, signatures and acks name the version they are about; a new version never
 *     inherits them.
 *   - contract_feed.seq only grows; rows are never changed.
 */
#include "contract/internal.h"

#include "http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char MIGRATION_SQL[] =
    "CREATE TABLE contract_templates ("
    "  id TEXT NOT NULL, version INTEGER NOT NULL, form TEXT NOT NULL"
    "  CHECK (form IN ('api','dataset','file','compute')), name TEXT NOT NULL, clauses TEXT NOT NULL,"
    "  policy_defaults TEXT NOT NULL, created_by TEXT, created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (id, version)) STRICT;"
    "CREATE INDEX contract_templates_form ON contract_templates(form, version);"
    "CREATE TABLE contract_orders ("
    "  id TEXT PRIMARY KEY, consumer_org TEXT NOT NULL, provider_org TEXT NOT NULL, product_id TEXT NOT NULL,"
    "  product_code TEXT, product_version INTEGER NOT NULL, form TEXT NOT NULL, request TEXT NOT NULL,"
    "  entry TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('open','drafted')), contract_id TEXT,"
    "  created_by TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) STRICT;"
    "CREATE INDEX contract_orders_consumer ON contract_orders(consumer_org, id);"
    "CREATE INDEX contract_orders_provider ON contract_orders(provider_org, id);"
    "CREATE TABLE contracts ("
    "  id TEXT PRIMARY KEY, order_id TEXT NOT NULL UNIQUE REFERENCES contract_orders(id),"
    "  provider_org TEXT NOT NULL, consumer_org TEXT NOT NULL, service_orgs TEXT NOT NULL,"
    "  product_id TEXT NOT NULL, product_code TEXT, form TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('draft','negotiating','signed','filed','active','suspended',"
    "                                      'expired','terminated')),"
    "  version INTEGER NOT NULL, effective_version INTEGER, valid_from INTEGER, valid_to INTEGER,"
    "  reason TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) STRICT;"
    "CREATE INDEX contracts_provider ON contracts(provider_org, id);"
    "CREATE INDEX contracts_consumer ON contracts(consumer_org, id);"
    "CREATE INDEX contracts_expiry ON contracts(state, valid_to);"
    "CREATE TABLE contract_versions ("
    "  contract_id TEXT NOT NULL REFERENCES contracts(id), version INTEGER NOT NULL, document TEXT NOT NULL,"
    "  document_hash TEXT NOT NULL, issues TEXT NOT NULL, proposed_by_org TEXT, proposed_by_account TEXT,"
    "  proposed_by_role TEXT NOT NULL, note TEXT, created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (contract_id, version)) STRICT;"
    "CREATE TABLE contract_acceptances ("
    "  contract_id TEXT NOT NULL, version INTEGER NOT NULL, org_id TEXT NOT NULL, account TEXT,"
    "  created_at INTEGER NOT NULL, PRIMARY KEY (contract_id, version, org_id)) STRICT;"
    "CREATE TABLE contract_signatures ("
    "  contract_id TEXT NOT NULL, version INTEGER NOT NULL, org_id TEXT NOT NULL, key_id TEXT NOT NULL,"
    "  alg TEXT NOT NULL, signature TEXT NOT NULL, created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (contract_id, version, org_id)) STRICT;"
    "CREATE TABLE contract_filings ("
    "  contract_id TEXT NOT NULL, version INTEGER NOT NULL, number TEXT NOT NULL UNIQUE, year INTEGER NOT NULL,"
    "  serial INTEGER NOT NULL, filing TEXT NOT NULL, created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (contract_id, version), UNIQUE (year, serial)) STRICT;"
    "CREATE TABLE contract_acks ("
    "  contract_id TEXT NOT NULL, version INTEGER NOT NULL, org_id TEXT NOT NULL, key_id TEXT,"
    "  created_at INTEGER NOT NULL, PRIMARY KEY (contract_id, version, org_id)) STRICT;"
    "CREATE TABLE contract_feed ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT, contract_id TEXT NOT NULL, provider_org TEXT NOT NULL,"
    "  consumer_org TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL, created_at INTEGER NOT NULL);"
    "CREATE INDEX contract_feed_provider ON contract_feed(provider_org, seq);"
    "CREATE INDEX contract_feed_consumer ON contract_feed(consumer_org, seq);"
    /* version 1 of each form's template; the operator adds versions */
    "INSERT INTO contract_templates VALUES ('tpl_00000000000000000000000AP1', 1, 'api', 'API 产品数据使用合约',"
    "  '{\"data_use_rules\":\"使用方仅可在约定的用途、期限、字段与调用频次内调用接口，不得缓存或留存超出约定的数据，"
    "不得将接口返回结果用于约定以外的目的。\",\"security_duties\":\"双方应保障接口调用链路安全，使用方应对访问凭证妥善保管，"
    "发生数据安全事件应在24小时内通知对方与平台运营方。\",\"performance_supervision\":\"平台运营方依据使用控制策略对每次调用"
    "进行监测、计量与存证，双方可查阅履约记录。\",\"breach_handling\":\"违反约定的调用将被拒绝并记录，累计违规达到约定次数时"
    "平台自动冻结使用权限，并由平台运营方复核处理；造成损失的，违约方依法承担责任。\"}',"
    "  '{\"obligations\":[{\"action\":\"log\"}],\"prohibitions\":[{\"action\":[\"distribute\",\"export\",\"grantUse\"]}],"
    "\"violation_policy\":{\"freeze_after\":3},\"max_validity_days\":366}', NULL, 0);"
    "INSERT INTO contract_templates VALUES ('tpl_00000000000000000000000DS1', 1, 'dataset', '数据集产品数据使用合约',"
    "  '{\"data_use_rules\":\"使用方仅可在约定的用途、期限与字段范围内使用数据集，不得再分发、转授权或导出原始数据，"
    "约定期满后应删除并提供删除证明。\",\"security_duties\":\"使用方应在约定的运行环境中处理数据，落实访问控制、加密存储与操作留痕，"
    "发生数据安全事件应在24小时内通知对方与平台运营方。\",\"performance_supervision\":\"平台运营方依据使用控制策略对数据使用"
    "进行监测与存证，双方可查阅履约记录。\",\"breach_handling\":\"违反约定的使用将被拒绝并记录，累计违规达到约定次数时平台自动冻结"
    "使用权限，并由平台运营方复核处理；造成损失的，违约方依法承担责任。\"}',"
    "  '{\"obligations\":[{\"action\":\"log\"}],\"prohibitions\":[{\"action\":[\"distribute\",\"grantUse\"]}],"
    "\"violation_policy\":{\"freeze_after\":3},\"max_validity_days\":366}', NULL, 0);"
    "INSERT INTO contract_templates VALUES ('tpl_00000000000000000000000F11', 1, 'file', '文件产品数据使用合约',"
    "  '{\"data_use_rules\":\"使用方仅可在约定的用途与期限内使用文件内容，不得再分发或转授权，约定期满后应删除文件并提供删除证明。\","
    "\"security_duties\":\"使用方应妥善保管文件，落实访问控制与加密存储，发生数据安全事件应在24小时内通知对方与平台运营方。\","
    "\"performance_supervision\":\"平台运营方对文件的获取与使用进行计量与存证，双方可查阅履约记录。\","
    "\"breach_handling\":\"违反约定的使用将被拒绝并记录，累计违规达到约定次数时平台自动冻结使用权限，并由平台运营方复核处理；"
    "造成损失的，违约方依法承担责任。\"}',"
    "  '{\"obligations\":[{\"action\":\"log\"}],\"prohibitions\":[{\"action\":[\"distribute\",\"grantUse\"]}],"
    "\"violation_policy\":{\"freeze_after\":3},\"max_validity_days\":366}', NULL, 0);"
    "INSERT INTO contract_templates VALUES ('tpl_00000000000000000000000CT1', 1, 'compute', '计算任务数据使用合约',"
    "  '{\"data_use_rules\":\"使用方仅可在约定的用途、期限与计算环境内提交计算任务，只获取约定的计算结果，不得获取原始数据。\","
    "\"security_duties\":\"计算在约定的可信环境中进行，双方应保障任务与结果的传输安全，发生数据安全事件应在24小时内通知对方与平台运营方。\","
    "\"performance_supervision\":\"平台运营方对每个计算任务进行计量、监测与存证，双方可查阅履约记录。\","
    "\"breach_handling\":\"违反约定的任务将被拒绝并记录，累计违规达到约定次数时平台自动冻结使用权限，并由平台运营方复核处理；"
    "造成损失的，违约方依法承担责任。\"}',"
    "  '{\"obligations\":[{\"action\":\"log\"}],\"prohibitions\":[{\"action\":[\"distribute\",\"export\",\"grantUse\"]}],"
    "\"violation_policy\":{\"freeze_after\":3},\"max_validity_days\":366}', NULL, 0);";

const char *ct_core_migration(void) { return MIGRATION_SQL; }

int tds_contract_open(tds_store *store, const tds_contract_opts *opts, tds_contract **out)
{
	*out = NULL;
	if (!store || !opts || !opts->ledger)
		return tds_error_set(TDS_EINVAL, "invalid_options", "the contract module needs a store and a ledger");
	tds_contract *ct = calloc(1, sizeof *ct);
	if (!ct)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	ct->store = store;
	ct->ledger = opts->ledger;
	ct->catalog = opts->catalog;
	ct->key = opts->key;
	ct->suite = opts->suite;
	ct->is_operator = opts->is_operator;
	ct->node = opts->node;
	snprintf(ct->node_id, sizeof ct->node_id, "%s", opts->node_id ? opts->node_id : "");
	pthread_mutex_init(&ct->lock, NULL);
	const tds_migration all[] = {{1, ct_core_migration()}, {2, ct_enforce_migration()}};
	int rc = tds_store_migrate(store, "contract", all, TDS_ARRAY_LEN(all));
	if (rc) {
		tds_contract_free(ct);
		return rc;
	}
	*out = ct;
	return 0;
}

void tds_contract_free(tds_contract *ct)
{
	if (!ct)
		return;
	ct_enforce_free(ct); /* flushes the counters' journal first */
	pthread_mutex_destroy(&ct->lock);
	free(ct);
}

/* ---- shared helpers ---- */

json_t *ct_time_json(int64_t ms)
{
	char t[TDS_TIME_MAX];
	return tds_time_format(ms, t) ? json_null() : json_string(t);
}

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

static void cpy(char *dst, size_t cap, sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	snprintf(dst, cap, "%s", s ? s : "");
}

int ct_evidence_tx(tds_contract *ct, sqlite3 *db, const char *type, const tds_ledger_actor *actor, const char *id,
		   const char *id2, json_t *payload)
{
	if (!payload)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	tds_ledger_actor a = actor ? *actor : (tds_ledger_actor){0};
	if (!a.node && ct->node_id[0])
		a.node = ct->node_id;
	const char *subjects[2] = {id, id2};
	tds_ledger_entry_in e = {.type = type, .actor = a, .subjects = subjects, .nsubjects = id2 && *id2 ? 2 : 1,
				 .payload = payload};
	uint64_t idx;
	int rc = tds_ledger_append_tx(ct->ledger, db, &e, &idx);
	json_decref(payload);
	return rc;
}

int ct_canonical(const json_t *doc, tds_buf *out)
{
	tds_buf_reset(out);
	return tds_json_canonical(doc, out);
}

int ct_document_hash(tds_contract *ct, const json_t *doc, char out[TDS_HASH_HEX_LEN + 16])
{
	tds_buf b = TDS_BUF_INIT, hex = TDS_BUF_INIT;
	uint8_t h[TDS_HASH_LEN];
	int rc = tds_json_canonical(doc, &b);
	if (!rc)
		rc = tds_hash(ct->suite, b.data, b.len, h);
	if (!rc)
		rc = tds_hex_encode(h, sizeof h, &hex);
	if (!rc)
		snprintf(out, TDS_HASH_HEX_LEN + 16, "%s:%s", tds_hash_alg(ct->suite), hex.data);
	tds_buf_free(&b);
	tds_buf_free(&hex);
	return rc;
}

#define ROW_COLS                                                                                              \
	"id, order_id, provider_org, consumer_org, service_orgs, product_id, form, state, version, "                 \
	"ifnull(effective_version, 0), ifnull(valid_from, 0), ifnull(valid_to, 0)"

static bool sees(const ct_row *r, const char *org)
{
	if (!org)
		return true;
	if (!strcmp(org, r->provider) || !strcmp(org, r->consumer))
		return true;
	size_t i;
	json_t *v;
	json_array_foreach(r->service, i, v) {
		if (json_is_string(v) && !strcmp(json_string_value(v), org))
			return true;
	}
	return false;
}

int ct_row_load(sqlite3 *db, const char *org, const char *id, ct_row *r)
{
	memset(r, 0, sizeof *r);
	if (!tds_id_valid(id, "ctr"))
		return tds_error_set(TDS_ENOTFOUND, "contract_not_found", "no such contract");
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT " ROW_COLS " FROM contracts WHERE id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		cpy(r->id, sizeof r->id, st, 0);
		cpy(r->order_id, sizeof r->order_id, st, 1);
		cpy(r->provider, sizeof r->provider, st, 2);
		cpy(r->consumer, sizeof r->consumer, st, 3);
		r->service = col_json(st, 4);
		cpy(r->product_id, sizeof r->product_id, st, 5);
		cpy(r->form, sizeof r->form, st, 6);
		cpy(r->state, sizeof r->state, st, 7);
		r->version = sqlite3_column_int64(st, 8);
		r->effective_version = sqlite3_column_int64(st, 9);
		r->valid_from = sqlite3_column_int64(st, 10);
		r->valid_to = sqlite3_column_int64(st, 11);
		if (!json_is_array(r->service)) {
			json_decref(r->service);
			r->service = json_array();
		}
		if (!sees(r, org))
			rc = tds_error_set(TDS_ENOTFOUND, "contract_not_found", "no such contract");
	} else {
		rc = s == SQLITE_DONE ? tds_error_set(TDS_ENOTFOUND, "contract_not_found", "no such contract")
				      : tds_store_error(db, "reading contract");
	}
	sqlite3_finalize(st);
	if (rc)
		ct_row_free(r);
	return rc;
}

void ct_row_free(ct_row *r)
{
	json_decref(r->service);
	r->service = NULL;
}

int ct_state_error(const ct_row *r, const char *action)
{
	return tds_error_set(TDS_ECONFLICT, "invalid_state", "cannot %s a contract that is %s", action, r->state);
}

int ct_set_state_tx(sqlite3 *db, const char *id, const char *state, const char *reason)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "UPDATE contracts SET state = ?, reason = ifnull(?, reason), updated_at = ? WHERE id = ?",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, tds_now_ms());
	sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "updating contract");
	sqlite3_finalize(st);
	return rc;
}

int ct_version_load(sqlite3 *db, const char *id, int64_t version, json_t **doc, char hash[TDS_HASH_HEX_LEN + 16],
		    json_t **issues)
{
	if (doc)
		*doc = NULL;
	if (issues)
		*issues = NULL;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT document, document_hash, issues FROM contract_versions"
				       " WHERE contract_id = ? AND version = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		if (doc && !(*doc = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL)))
			rc = tds_error_set(TDS_EINTERNAL, NULL, "stored version %lld of %s is not JSON", (long long)version, id);
		if (hash)
			cpy(hash, TDS_HASH_HEX_LEN + 16, st, 1);
		if (!rc && issues && !(*issues = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL)))
			rc = tds_error_set(TDS_EINTERNAL, NULL, "stored issues of %s are not JSON", id);
	} else {
		rc = s == SQLITE_DONE ? tds_error_set(TDS_ENOTFOUND, "version_not_found", "the contract has no version %lld",
						      (long long)version)
				      : tds_store_error(db, "reading contract version");
	}
	sqlite3_finalize(st);
	if (rc) {
		if (doc) {
			json_decref(*doc);
			*doc = NULL;
		}
		if (issues) {
			json_decref(*issues);
			*issues = NULL;
		}
	}
	return rc;
}

int ct_issues_error(const json_t *issues)
{
	int rc = tds_error_set(TDS_EUNPROC, "contract_has_issues",
			       "the version has %zu issue(s) the engine flagged; propose a version that fixes them",
			       json_array_size(issues));
	tds_error_set_details(json_pack("{s:O}", "issues", (json_t *)issues));
	return rc;
}

/* ---- feed ---- */

int ct_feed_add_tx(tds_contract *ct, sqlite3 *db, const char *contract_id, const char *kind, const json_t *body)
{
	(void)ct;
	char *b = body ? tds_json_dumps(body) : strdup("{}");
	if (!b)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "INSERT INTO contract_feed (contract_id, provider_org, consumer_org, kind, body, created_at)"
				       " SELECT id, provider_org, consumer_org, ?2, ?3, ?4 FROM contracts WHERE id = ?1", &st);
	if (!rc) {
		sqlite3_bind_text(st, 1, contract_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, b, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, tds_now_ms());
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "adding a feed item");
		else if (sqlite3_changes(db) != 1)
			rc = tds_error_set(TDS_ENOTFOUND, "contract_not_found", "no such contract");
		sqlite3_finalize(st);
	}
	free(b);
	return rc;
}

/* ct_feed_add_tx with a body of its own (stolen). */
static int feed_add_new(tds_contract *ct, sqlite3 *db, const char *id, const char *kind, json_t *body)
{
	int rc = body ? ct_feed_add_tx(ct, db, id, kind, body) : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	json_decref(body);
	return rc;
}

int tds_contract_feed(tds_contract *ct, const char *org, int64_t after, int limit, json_t **out)
{
	*out = NULL;
	if (!org || !tds_id_valid(org, "org"))
		return tds_error_set(TDS_EPERM, "no_organisation", "the feed is for a party's connector; this caller has no organisation");
	if (after < 0)
		return tds_error_set(TDS_EINVAL, "invalid_after", "after must be a feed sequence number >= 0");
	if (limit < 1 || limit > 500)
		limit = 100;
	int rc = tds_contract_expire_due(ct, tds_now_ms(), NULL);
	if (rc)
		return rc;
	sqlite3 *db = tds_store_conn(ct->store);
	if (!db)
		return tds_error_code();
	sqlite3_stmt *st;
	if ((rc = tds_store_prepare(db, "SELECT seq, contract_id, kind, body, created_at FROM contract_feed"
				       " WHERE seq > ?1 AND (provider_org = ?2 OR consumer_org = ?2) ORDER BY seq LIMIT ?3", &st)))
		return rc;
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_text(st, 2, org, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, limit);
	json_t *items = json_array();
	int64_t last = after;
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		last = sqlite3_column_int64(st, 0);
		json_array_append_new(items, json_pack("{s:I, s:o, s:o, s:o, s:o}", "seq", (json_int_t)last, "contract_id",
						       col_str(st, 1), "kind", col_str(st, 2), "body", col_json(st, 3),
						       "created_at", ct_time_json(sqlite3_column_int64(st, 4))));
	}
	if (s != SQLITE_DONE)
		rc = tds_store_error(db, "reading the feed");
	sqlite3_finalize(st);
	if (rc) {
		json_decref(items);
		return rc;
	}
	*out = json_pack("{s:o, s:I}", "items", items, "next_after", (json_int_t)last);
	return *out ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
}

/* ---- the contract record ---- */

static int signatures_json(sqlite3 *db, const char *id, int64_t version, json_t **out)
{
	sqlite3_stmt *st;
	*out = json_array();
	int rc = tds_store_prepare(db, "SELECT org_id, key_id, alg, signature, created_at FROM contract_signatures"
				       " WHERE contract_id = ? AND version = ? ORDER BY created_at, org_id", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(*out, json_pack("{s:o, s:o, s:o, s:o, s:o}", "org_id", col_str(st, 0), "key_id",
						      col_str(st, 1), "alg", col_str(st, 2), "signature", col_str(st, 3),
						      "signed_at", ct_time_json(sqlite3_column_int64(st, 4))));
	sqlite3_finalize(st);
	return 0;
}

static int orgs_of(sqlite3 *db, const char *sql, const char *id, int64_t version, json_t **out)
{
	sqlite3_stmt *st;
	*out = json_array();
	int rc = tds_store_prepare(db, sql, &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(*out, json_pack("{s:o, s:o}", "org_id", col_str(st, 0), "at",
						      ct_time_json(sqlite3_column_int64(st, 1))));
	sqlite3_finalize(st);
	return 0;
}

int ct_contract_get_tx(tds_contract *ct, sqlite3 *db, const char *id, json_t **out)
{
	(void)ct;
	*out = NULL;
	ct_row r;
	int rc = ct_row_load(db, NULL, id, &r);
	if (rc)
		return rc;
	sqlite3_stmt *st;
	json_t *o = NULL, *doc = NULL, *sigs = NULL, *acks = NULL, *accepted = NULL, *filing = json_null();
	char hash[TDS_HASH_HEX_LEN + 16];
	int64_t shown = r.effective_version ? r.effective_version : r.version;
	if ((rc = ct_version_load(db, r.id, shown, &doc, hash, NULL)) || (rc = signatures_json(db, r.id, shown, &sigs)) ||
	    (rc = orgs_of(db, "SELECT org_id, created_at FROM contract_acks WHERE contract_id = ? AND version = ? ORDER BY created_at",
			  r.id, shown, &acks)) ||
	    (rc = orgs_of(db, "SELECT org_id, created_at FROM contract_acceptances WHERE contract_id = ? AND version = ?"
			      " ORDER BY created_at", r.id, r.version, &accepted)))
		goto out;
	if (r.effective_version) {
		if ((rc = tds_store_prepare(db, "SELECT filing FROM contract_filings WHERE contract_id = ? AND version = ?", &st)))
			goto out;
		sqlite3_bind_text(st, 1, r.id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, r.effective_version);
		if (sqlite3_step(st) == SQLITE_ROW) {
			json_decref(filing);
			filing = col_json(st, 0);
		}
		sqlite3_finalize(st);
	}
	if ((rc = tds_store_prepare(db, "SELECT order_id, product_code, reason, created_at, updated_at FROM contracts WHERE id = ?",
				    &st)))
		goto out;
	sqlite3_bind_text(st, 1, r.id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		rc = tds_store_error(db, "reading contract");
		goto out;
	}
	o = json_pack("{s:s, s:s, s:I, s:o, s:s, s:s, s:O, s:o, s:{s:s, s:o, s:s}, s:O, s:s, s:O, s:O, s:O, s:O, s:o, s:o, "
		      "s:o, s:o, s:o}",
		      "id", r.id, "state", r.state, "version", (json_int_t)r.version, "effective_version",
		      r.effective_version ? json_integer(r.effective_version) : json_null(), "provider_org", r.provider,
		      "consumer_org", r.consumer, "service_orgs", r.service, "order_id", col_str(st, 0), "product", "id",
		      r.product_id, "code", col_str(st, 1), "form", r.form, "document", doc, "document_hash", hash,
		      "signatures", sigs, "filing", filing, "acks", acks, "accepted_by", accepted, "valid_from",
		      r.valid_from ? ct_time_json(r.valid_from) : json_null(), "valid_to",
		      r.valid_to ? ct_time_json(r.valid_to) : json_null(), "reason", col_str(st, 2), "created_at",
		      ct_time_json(sqlite3_column_int64(st, 3)), "updated_at", ct_time_json(sqlite3_column_int64(st, 4)));
	sqlite3_finalize(st);
	if (o) {
		json_t *p = json_object_get(doc, "product");
		json_object_set(json_object_get(o, "product"), "version", json_object_get(p, "version"));
		json_object_set_new(o, "pending_version",
				    r.effective_version && r.version > r.effective_version ? json_integer(r.version) : json_null());
	}
	rc = o ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
out:
	json_decref(doc);
	json_decref(sigs);
	json_decref(acks);
	json_decref(accepted);
	json_decref(filing);
	ct_row_free(&r);
	*out = o;
	return rc;
}

int tds_contract_get(tds_contract *ct, const char *org, const char *id, json_t **out)
{
	*out = NULL;
	int rc = tds_contract_expire_due(ct, tds_now_ms(), NULL);
	sqlite3 *db = rc ? NULL : tds_store_conn(ct->store);
	if (rc || !db)
		return rc ? rc : tds_error_code();
	ct_row r;
	if ((rc = ct_row_load(db, org, id, &r)))
		return rc;
	ct_row_free(&r);
	return ct_contract_get_tx(ct, db, id, out);
}

static const char *const STATES[] = {"draft", "negotiating", "signed", "filed", "active", "suspended", "expired", "terminated"};

int tds_contract_list(tds_contract *ct, const char *org, const char *state, int limit, const char *cursor, json_t **out)
{
	*out = NULL;
	bool known = !state;
	for (size_t i = 0; state && i < TDS_ARRAY_LEN(STATES); i++)
		known |= strcmp(state, STATES[i]) == 0;
	if (!known)
		return tds_error_set(TDS_EINVAL, "invalid_state_filter",
				     "state must be draft, negotiating, signed, filed, active, suspended, expired or terminated");
	if (cursor && !tds_id_valid(cursor, "ctr"))
		return tds_error_set(TDS_EINVAL, "invalid_cursor", "cursor must be a contract id from next_cursor");
	if (limit < 1 || limit > 500)
		limit = 50;
	int rc = tds_contract_expire_due(ct, tds_now_ms(), NULL);
	sqlite3 *db = rc ? NULL : tds_store_conn(ct->store);
	if (rc || !db)
		return rc ? rc : tds_error_code();
	sqlite3_stmt *st;
	if ((rc = tds_store_prepare(db, "SELECT id, state, version, effective_version, provider_org, consumer_org, service_orgs,"
				       " product_id, product_code, form, valid_from, valid_to, created_at, updated_at FROM contracts"
				       " WHERE (?1 IS NULL OR provider_org = ?1 OR consumer_org = ?1 OR"
				       "        EXISTS (SELECT 1 FROM json_each(service_orgs) WHERE value = ?1))"
				       " AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR id > ?3) ORDER BY id LIMIT ?4", &st)))
		return rc;
	sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, cursor, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, limit + 1);
	json_t *items = json_array();
	int n = 0, s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW && n < limit) {
		json_t *eff = sqlite3_column_type(st, 3) == SQLITE_NULL ? json_null() : json_integer(sqlite3_column_int64(st, 3));
		json_array_append_new(items,
				      json_pack("{s:o, s:o, s:I, s:o, s:o, s:o, s:o, s:{s:o, s:o, s:o}, s:o, s:o, s:o, s:o}", "id",
						col_str(st, 0), "state", col_str(st, 1), "version",
						(json_int_t)sqlite3_column_int64(st, 2), "effective_version", eff, "provider_org",
						col_str(st, 4), "consumer_org", col_str(st, 5), "service_orgs", col_json(st, 6),
						"product", "id", col_str(st, 7), "code", col_str(st, 8), "form", col_str(st, 9),
						"valid_from",
						sqlite3_column_type(st, 10) == SQLITE_NULL ? json_null()
											   : ct_time_json(sqlite3_column_int64(st, 10)),
						"valid_to",
						sqlite3_column_type(st, 11) == SQLITE_NULL ? json_null()
											   : ct_time_json(sqlite3_column_int64(st, 11)),
						"created_at", ct_time_json(sqlite3_column_int64(st, 12)), "updated_at",
						ct_time_json(sqlite3_column_int64(st, 13))));
		n++;
	}
	bool more = s == SQLITE_ROW;
	if (s != SQLITE_ROW && s != SQLITE_DONE)
		rc = tds_store_error(db, "listing contracts");
	sqlite3_finalize(st);
	if (rc) {
		json_decref(items);
		return rc;
	}
	json_t *last = json_array_get(items, json_array_size(items) - 1);
	*out = json_pack("{s:o, s:O?}", "items", items, "next_cursor", more && last ? json_object_get(last, "id") : NULL);
	return *out ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
}

int tds_contract_versions(tds_contract *ct, const char *org, const char *id, json_t **out)
{
	*out = NULL;
	sqlite3 *db = tds_store_conn(ct->store);
	if (!db)
		return tds_error_code();
	ct_row r;
	int rc = ct_row_load(db, org, id, &r);
	if (rc)
		return rc;
	sqlite3_stmt *st;
	if ((rc = tds_store_prepare(db, "SELECT version, document_hash, json_array_length(issues), proposed_by_org,"
				       " proposed_by_account, proposed_by_role, note, created_at FROM contract_versions"
				       " WHERE contract_id = ? ORDER BY version", &st))) {
		ct_row_free(&r);
		return rc;
	}
	sqlite3_bind_text(st, 1, r.id, -1, SQLITE_STATIC);
	json_t *items = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(items, json_pack("{s:I, s:o, s:I, s:{s:o, s:o, s:o}, s:o, s:o}", "version",
						       (json_int_t)sqlite3_column_int64(st, 0), "document_hash", col_str(st, 1),
						       "issues", (json_int_t)sqlite3_column_int64(st, 2), "proposed_by", "org_id",
						       col_str(st, 3), "account", col_str(st, 4), "role", col_str(st, 5), "note",
						       col_str(st, 6), "created_at", ct_time_json(sqlite3_column_int64(st, 7))));
	sqlite3_finalize(st);
	*out = json_pack("{s:s, s:I, s:o}", "contract_id", r.id, "latest_version", (json_int_t)r.version, "items", items);
	ct_row_free(&r);
	return *out ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
}

int tds_contract_version_get(tds_contract *ct, const char *org, const char *id, int64_t version, json_t **out)
{
	*out = NULL;
	sqlite3 *db = tds_store_conn(ct->store);
	if (!db)
		return tds_error_code();
	ct_row r;
	int rc = ct_row_load(db, org, id, &r);
	if (rc)
		return rc;
	json_t *doc = NULL, *issues = NULL, *sigs = NULL, *acc = NULL;
	char hash[TDS_HASH_HEX_LEN + 16];
	sqlite3_stmt *st = NULL;
	if ((rc = ct_version_load(db, r.id, version, &doc, hash, &issues)) || (rc = signatures_json(db, r.id, version, &sigs)) ||
	    (rc = orgs_of(db, "SELECT org_id, created_at FROM contract_acceptances WHERE contract_id = ? AND version = ?"
			      " ORDER BY created_at", r.id, version, &acc)) ||
	    (rc = tds_store_prepare(db, "SELECT proposed_by_org, proposed_by_account, proposed_by_role, note, created_at"
					" FROM contract_versions WHERE contract_id = ? AND version = ?", &st)))
		goto out;
	sqlite3_bind_text(st, 1, r.id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = tds_store_error(db, "reading contract version");
		goto out;
	}
	*out = json_pack("{s:s, s:I, s:I, s:s, s:O, s:s, s:O, s:{s:o, s:o, s:o}, s:o, s:o, s:O, s:O}", "contract_id", r.id,
			 "version", (json_int_t)version, "latest_version", (json_int_t)r.version, "state", r.state, "document",
			 doc, "document_hash", hash, "issues", issues, "proposed_by", "org_id", col_str(st, 0), "account",
			 col_str(st, 1), "role", col_str(st, 2), "note", col_str(st, 3), "created_at",
			 ct_time_json(sqlite3_column_int64(st, 4)), "accepted_by", acc, "signatures", sigs);
	rc = *out ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
out:
	sqlite3_finalize(st);
	json_decref(doc);
	json_decref(issues);
	json_decref(sigs);
	json_decref(acc);
	ct_row_free(&r);
	return rc;
}

/* ---- operator actions, expiry ---- */

typedef enum { OP_SUSPEND, OP_RESUME, OP_TERMINATE, OP_EXPIRE } op_kind;

typedef struct op_ctx {
	tds_contract *ct;
	const tds_ledger_actor *actor;
	const char *id, *reason;
	op_kind op;
} op_ctx;

static int op_tx(sqlite3 *db, void *arg)
{
	op_ctx *x = arg;
	ct_row r;
	int rc = ct_row_load(db, NULL, x->id, &r);
	if (rc)
		return rc;
	const char *to = NULL, *type = NULL, *kind = NULL, *action = NULL;
	bool ok = false;
	switch (x->op) {
	case OP_SUSPEND:
		ok = !strcmp(r.state, "active");
		to = "suspended", type = "contract.suspended", kind = "suspended", action = "suspend";
		break;
	case OP_RESUME:
		ok = !strcmp(r.state, "suspended");
		to = "active", type = "contract.resumed", kind = "resumed", action = "resume";
		break;
	case OP_TERMINATE:
		ok = strcmp(r.state, "expired") && strcmp(r.state, "terminated");
		to = "terminated", type = "contract.terminated", kind = "terminated", action = "terminate";
		break;
	case OP_EXPIRE:
		ok = !strcmp(r.state, "filed") || !strcmp(r.state, "active") || !strcmp(r.state, "suspended");
		to = "expired", type = "contract.expired", kind = "expired", action = "expire";
		break;
	}
	if (!ok)
		rc = ct_state_error(&r, action);
	if (!rc)
		rc = ct_set_state_tx(db, r.id, to, x->reason);
	if (!rc)
		rc = ct_evidence_tx(x->ct, db, type, x->actor, r.id, NULL,
				    json_pack("{s:s, s:s, s:s?, s:I}", "from", r.state, "to", to, "reason", x->reason, "version",
					      (json_int_t)(r.effective_version ? r.effective_version : r.version)));
	/* the connectors know a contract once it was filed: only then does the change travel */
	if (!rc && r.effective_version)
		rc = feed_add_new(x->ct, db, r.id, kind,
				    json_pack("{s:I, s:s?}", "version", (json_int_t)r.effective_version, "reason", x->reason));
	ct_row_free(&r);
	return rc;
}

static int operator_op(tds_contract *ct, const tds_ledger_actor *actor, const char *id, const json_t *in, op_kind op,
		       json_t **out)
{
	static const tds_json_field f[] = {{"reason", TDS_JSON_STRING, true, 1000}};
	*out = NULL;
	int rc = tds_json_check(in, f, TDS_ARRAY_LEN(f), false);
	if (rc)
		return rc;
	const char *reason = tds_json_str(in, "reason", "");
	bool blank = true;
	for (const unsigned char *p = (const unsigned char *)reason; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return tds_error_set(TDS_EINVAL, "invalid_reason", "reason may not hold control characters");
		blank &= *p == ' ';
	}
	if (blank)
		return tds_error_set(TDS_EINVAL, "invalid_reason", "give a reason (1-1000 bytes of text)");
	if ((rc = tds_contract_expire_due(ct, tds_now_ms(), NULL)))
		return rc;
	op_ctx x = {.ct = ct, .actor = actor, .id = id, .reason = reason, .op = op};
	if ((rc = tds_store_tx(ct->store, op_tx, &x)))
		return rc;
	return tds_contract_get(ct, NULL, id, out);
}

int tds_contract_suspend(tds_contract *ct, const tds_ledger_actor *actor, const char *id, const json_t *in, json_t **out)
{
	return operator_op(ct, actor, id, in, OP_SUSPEND, out);
}

int tds_contract_resume(tds_contract *ct, const tds_ledger_actor *actor, const char *id, const json_t *in, json_t **out)
{
	return operator_op(ct, actor, id, in, OP_RESUME, out);
}

int tds_contract_terminate(tds_contract *ct, const tds_ledger_actor *actor, const char *id, const json_t *in,
			   json_t **out)
{
	return operator_op(ct, actor, id, in, OP_TERMINATE, out);
}

int tds_contract_expire_due(tds_contract *ct, int64_t now_ms, int *n)
{
	if (n)
		*n = 0;
	if (!ct->is_operator)
		return 0;
	sqlite3 *db = tds_store_conn(ct->store);
	if (!db)
		return tds_error_code();
	for (int round = 0; round < 64; round++) {
		char ids[32][TDS_ID_MAX];
		int k = 0;
		sqlite3_stmt *st;
		int rc = tds_store_prepare(db, "SELECT id FROM contracts WHERE state IN ('filed','active','suspended')"
					       " AND valid_to IS NOT NULL AND valid_to <= ? ORDER BY id LIMIT 32", &st);
		if (rc)
			return rc;
		sqlite3_bind_int64(st, 1, now_ms);
		while (k < 32 && sqlite3_step(st) == SQLITE_ROW)
			cpy(ids[k++], TDS_ID_MAX, st, 0);
		sqlite3_finalize(st);
		for (int i = 0; i < k; i++) {
			op_ctx x = {.ct = ct, .id = ids[i], .reason = "validity ended", .op = OP_EXPIRE};
			rc = tds_store_tx(ct->store, op_tx, &x);
			if (rc && rc != TDS_ECONFLICT) /* a concurrent reader expired it first */
				return rc;
			if (!rc && n)
				(*n)++;
		}
		if (k < 32)
			break;
	}
	return 0;
}

/* ---- acknowledgements ---- */

typedef struct ack_ctx {
	tds_contract *ct;
	const tds_ledger_actor *actor;
	const char *org, *id, *hash;
	int64_t version;
	bool activated, duplicate;
} ack_ctx;

static int ack_tx(sqlite3 *db, void *arg)
{
	ack_ctx *x = arg;
	ct_row r;
	int rc = ct_row_load(db, x->org, x->id, &r);
	if (rc)
		return rc;
	char hash[TDS_HASH_HEX_LEN + 16];
	sqlite3_stmt *st = NULL;
	if (strcmp(x->org, r.provider) && strcmp(x->org, r.consumer)) {
		rc = tds_error_set(TDS_EPERM, "not_a_party", "only the provider's and the consumer's connectors acknowledge");
		goto out;
	}
	if (!r.effective_version || !strcmp(r.state, "expired") || !strcmp(r.state, "terminated")) {
		rc = ct_state_error(&r, "acknowledge");
		goto out;
	}
	if (x->version != r.effective_version) {
		rc = tds_error_set(TDS_ECONFLICT, "version_mismatch",
				   "version %lld is not the version filed and in force (%lld): acknowledge what the feed delivered last",
				   (long long)x->version, (long long)r.effective_version);
		goto out;
	}
	if ((rc = ct_version_load(db, r.id, x->version, NULL, hash, NULL)))
		goto out;
	if (strcmp(hash, x->hash)) {
		rc = tds_error_set(TDS_EUNPROC, "document_hash_mismatch",
				   "document_hash is not the hash of version %lld as filed (%s): the connector holds other bytes",
				   (long long)x->version, hash);
		goto out;
	}
	if ((rc = tds_store_prepare(db, "INSERT INTO contract_acks (contract_id, version, org_id, key_id, created_at)"
					" VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING", &st)))
		goto out;
	sqlite3_bind_text(st, 1, r.id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, x->version);
	sqlite3_bind_text(st, 3, x->org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, x->actor ? x->actor->node : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, tds_now_ms());
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = tds_store_error(db, "recording an acknowledgement");
		goto out;
	}
	x->duplicate = sqlite3_changes(db) == 0;
	sqlite3_finalize(st);
	st = NULL;
	if (x->duplicate)
		goto out;
	int acks = 0;
	if ((rc = tds_store_prepare(db, "SELECT count(*) FROM contract_acks WHERE contract_id = ? AND version = ?", &st)))
		goto out;
	sqlite3_bind_text(st, 1, r.id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, x->version);
	if (sqlite3_step(st) == SQLITE_ROW)
		acks = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	x->activated = acks >= 2 && !strcmp(r.state, "filed");
	if ((rc = ct_evidence_tx(x->ct, db, "contract.acknowledged", x->actor, r.id, NULL,
				 json_pack("{s:s, s:I, s:s, s:i}", "org_id", x->org, "version", (json_int_t)x->version,
					   "document_hash", hash, "acks", acks))))
		goto out;
	if (x->activated && !(rc = ct_set_state_tx(db, r.id, "active", NULL)) &&
	    !(rc = ct_evidence_tx(x->ct, db, "contract.activated", x->actor, r.id, NULL,
				  json_pack("{s:I}", "version", (json_int_t)x->version))))
		rc = feed_add_new(x->ct, db, r.id, "activated", json_pack("{s:I}", "version", (json_int_t)x->version));
out:
	sqlite3_finalize(st);
	ct_row_free(&r);
	return rc;
}

int tds_contract_ack(tds_contract *ct, const tds_ledger_actor *actor, const char *org, const char *id, const json_t *in,
		     json_t **out)
{
	static const tds_json_field f[] = {{"version", TDS_JSON_INTEGER, true, 0},
					   {"document_hash", TDS_JSON_STRING, true, TDS_HASH_HEX_LEN + 16}};
	*out = NULL;
	int rc = tds_json_check(in, f, TDS_ARRAY_LEN(f), false);
	if (rc)
		return rc;
	if (!org || !tds_id_valid(org, "org"))
		return tds_error_set(TDS_EPERM, "no_organisation", "acknowledgements come from a party's connector");
	ack_ctx x = {.ct = ct, .actor = actor, .org = org, .id = id, .version = tds_json_int(in, "version", 0),
		     .hash = tds_json_str(in, "document_hash", "")};
	if (x.version < 1)
		return tds_error_set(TDS_EINVAL, "invalid_version", "version must be a contract version >= 1");
	if ((rc = tds_contract_expire_due(ct, tds_now_ms(), NULL)) || (rc = tds_store_tx(ct->store, ack_tx, &x)))
		return rc;
	json_t *c;
	if ((rc = tds_contract_get(ct, org, id, &c)))
		return rc;
	*out = json_pack("{s:s, s:I, s:b, s:s, s:o}", "contract_id", id, "version", (json_int_t)x.version, "recorded",
			 !x.duplicate, "state", tds_json_str(c, "state", ""), "contract", c);
	return *out ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
}
