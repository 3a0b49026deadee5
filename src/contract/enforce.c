/*
 * enforce.c — the connector's enforcement point (contract.h section 5): the local contracts in
 * memory (compiled once), tds_contract_decide, the counters' journal and snapshots in SQLite,
 * violations, automatic freezes (权限冻结) and their outbox of reports to the operator. Also the
 * schema of the enforcement side (migration 2, both node kinds).
 *
 * Not here: pulling the operator's feed and sending the outbox (sync.c), tokens (token.c), the
 * operator's handling of reports and unfreezing (violation.c).
 *
 * Counters (docs/contracts.md "Counters"): the policy journal hook copies the new absolute values of
 * the charged slots into the entry's pending array (last value per slot wins) — a few nanoseconds
 * under the counters' lock, nothing else on the hot path. tds_contract_flush (every sync pass, about
 * every second, and at close) appends the pending records to enforce_journal; now and then it
 * stores a snapshot and drops the journal rows it covers. At start: snapshot, then the journal's
 * later records in seq order. A clean stop loses nothing; a crash loses at most the charges since
 * the last flush (write-behind, documented).
 *
 * Violations: every deny made by the contract's policy (not the refusals for the contract's state or
 * a freeze) is recorded with its evidence and a report in the outbox, in one transaction; the count
 * and the freeze decision are read and written in that transaction, so concurrent denials count
 * exactly and freeze exactly once.
 */
#include "contract/enforcer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char MIGRATION_SQL[] =
    /* connector: contracts it is a party to, as filed */
    "CREATE TABLE enforce_contracts ("
    "  id TEXT PRIMARY KEY, version INTEGER NOT NULL, role TEXT NOT NULL CHECK (role IN ('provider','consumer')),"
    "  provider_org TEXT NOT NULL, consumer_org TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('filed','active','suspended','terminated','expired')),"
    "  document TEXT NOT NULL, document_hash TEXT NOT NULL, signatures TEXT NOT NULL, filing TEXT NOT NULL,"
    "  valid_from INTEGER NOT NULL, valid_to INTEGER NOT NULL, freeze_after INTEGER NOT NULL,"
    "  violations INTEGER NOT NULL DEFAULT 0, frozen INTEGER NOT NULL DEFAULT 0, frozen_at INTEGER,"
    "  frozen_reason TEXT, acked_version INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL) STRICT;"
    /* counters: snapshot per contract, journal of absolute values */
    "CREATE TABLE enforce_counters ("
    "  contract_id TEXT PRIMARY KEY, policy_uid TEXT NOT NULL, snapshot TEXT NOT NULL,"
    "  journal_seq INTEGER NOT NULL, updated_at INTEGER NOT NULL) STRICT;"
    "CREATE TABLE enforce_journal ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT, contract_id TEXT NOT NULL, policy_uid TEXT NOT NULL,"
    "  slot INTEGER NOT NULL, kind INTEGER NOT NULL, win INTEGER NOT NULL, used INTEGER NOT NULL) STRICT;"
    "CREATE INDEX enforce_journal_contract ON enforce_journal(contract_id, seq);"
    "CREATE TABLE enforce_violations ("
    "  id TEXT PRIMARY KEY, contract_id TEXT NOT NULL, version INTEGER NOT NULL, org TEXT NOT NULL,"
    "  account TEXT, connector TEXT, code TEXT NOT NULL, clause TEXT NOT NULL, reason TEXT NOT NULL,"
    "  serious INTEGER NOT NULL, froze INTEGER NOT NULL, count INTEGER NOT NULL, request TEXT NOT NULL,"
    "  at INTEGER NOT NULL) STRICT;"
    "CREATE INDEX enforce_violations_contract ON enforce_violations(contract_id, id);"
    /* reports to the operator, sent and retried by sync.c */
    "CREATE TABLE enforce_outbox ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, ref TEXT NOT NULL, body TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL, last_error TEXT,"
    "  created_at INTEGER NOT NULL) STRICT;"
    "CREATE TABLE enforce_revoked_tokens ("
    "  token_id TEXT PRIMARY KEY, contract_id TEXT NOT NULL, revoked_at INTEGER NOT NULL) STRICT;"
    "CREATE TABLE enforce_feed_state (id INTEGER PRIMARY KEY CHECK (id = 1), after INTEGER NOT NULL) STRICT;"
    /* operator: tokens issued, reports received, freezes */
    "CREATE TABLE contract_tokens ("
    "  id TEXT PRIMARY KEY, contract_id TEXT NOT NULL, version INTEGER NOT NULL, org TEXT NOT NULL,"
    "  account TEXT, connector TEXT, issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
    "  revoked_at INTEGER, revoked_by TEXT, revoke_reason TEXT) STRICT;"
    "CREATE INDEX contract_tokens_contract ON contract_tokens(contract_id, id);"
    "CREATE TABLE contract_violation_reports ("
    "  id TEXT PRIMARY KEY, contract_id TEXT NOT NULL, version INTEGER NOT NULL, provider_org TEXT NOT NULL,"
    "  consumer_org TEXT NOT NULL, reporter_node TEXT, code TEXT NOT NULL, clause TEXT NOT NULL,"
    "  serious INTEGER NOT NULL, frozen INTEGER NOT NULL, count INTEGER NOT NULL, body TEXT NOT NULL,"
    "  at INTEGER NOT NULL, received_at INTEGER NOT NULL) STRICT;"
    "CREATE INDEX contract_violation_reports_contract ON contract_violation_reports(contract_id, id);"
    "CREATE TABLE contract_freezes ("
    "  contract_id TEXT PRIMARY KEY, frozen INTEGER NOT NULL, frozen_at INTEGER, report_id TEXT,"
    "  unfrozen_at INTEGER, unfrozen_by TEXT, reason TEXT, updated_at INTEGER NOT NULL) STRICT;";

const char *ct_enforce_migration(void) { return MIGRATION_SQL; }

static const char *const STATES[] = {"filed", "active", "suspended", "terminated", "expired"};

int ct_state_parse(const char *s)
{
	for (size_t i = 0; s && i < TDS_ARRAY_LEN(STATES); i++)
		if (strcmp(s, STATES[i]) == 0)
			return (int)i;
	return -1;
}

const char *ct_state_name(int state)
{
	return state >= 0 && (size_t)state < TDS_ARRAY_LEN(STATES) ? STATES[state] : "unknown";
}

/* ---- entries ---- */

static unsigned bucket_of(const char *id)
{
	unsigned h = 2166136261u;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % CT_BUCKETS;
}

void ct_enf_read_lock(struct ct_enforcer *e) { pthread_rwlock_rdlock(&e->lock); }
void ct_enf_write_lock(struct ct_enforcer *e) { pthread_rwlock_wrlock(&e->lock); }
void ct_enf_unlock(struct ct_enforcer *e) { pthread_rwlock_unlock(&e->lock); }

ct_entry *ct_enf_find(struct ct_enforcer *e, const char *id)
{
	for (ct_entry *x = e->buckets[bucket_of(id)]; x; x = x->next)
		if (strcmp(x->id, id) == 0)
			return x;
	return NULL;
}

void ct_enf_install(struct ct_enforcer *e, ct_entry *x)
{
	ct_entry **pp = &e->buckets[bucket_of(x->id)];
	for (; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->id, x->id) == 0) {
			ct_entry *old = *pp;
			x->next = old->next;
			*pp = x;
			old->next = e->retired; /* a decision may still hold it */
			e->retired = old;
			return;
		}
	}
	x->next = NULL;
	*pp = x;
}

/* ---- the journal ---- */

struct tds_contract_journal {
	pthread_mutex_t mu;
	size_t n_slots;
	bool any, charged;
	uint8_t *dirty;
	tds_policy_slot_state *pending;
};

/* The policy journal hook: under the counters' lock, so records arrive in charge order. */
static void journal_hook(void *ctx, const tds_policy_slot_state *st, size_t n)
{
	tds_contract_journal *j = ctx;
	pthread_mutex_lock(&j->mu);
	for (size_t i = 0; i < n; i++) {
		if (st[i].slot < j->n_slots) {
			j->pending[st[i].slot] = st[i];
			j->dirty[st[i].slot] = 1;
		}
	}
	j->any = j->charged = true;
	pthread_mutex_unlock(&j->mu);
}

tds_contract_journal *tds_contract_journal_new(tds_policy_counters *c, size_t n_slots)
{
	tds_contract_journal *j = calloc(1, sizeof *j);
	if (!j)
		return NULL;
	j->n_slots = n_slots;
	j->pending = calloc(n_slots ? n_slots : 1, sizeof *j->pending);
	j->dirty = calloc(n_slots ? n_slots : 1, 1);
	if (!j->pending || !j->dirty) {
		free(j->pending);
		free(j->dirty);
		free(j);
		return NULL;
	}
	pthread_mutex_init(&j->mu, NULL);
	if (c)
		tds_policy_counters_set_journal(c, journal_hook, j);
	return j;
}

void tds_contract_journal_free(tds_contract_journal *j, tds_policy_counters *c)
{
	if (!j)
		return;
	if (c)
		tds_policy_counters_set_journal(c, NULL, NULL);
	pthread_mutex_destroy(&j->mu);
	free(j->pending);
	free(j->dirty);
	free(j);
}

size_t tds_contract_journal_take(tds_contract_journal *j, tds_policy_slot_state *out, bool *charged)
{
	size_t n = 0;
	pthread_mutex_lock(&j->mu);
	if (j->any) {
		for (size_t k = 0; k < j->n_slots; k++) {
			if (j->dirty[k]) {
				out[n++] = j->pending[k];
				j->dirty[k] = 0;
			}
		}
		j->any = false;
	}
	if (charged) {
		*charged = j->charged;
		j->charged = false;
	}
	pthread_mutex_unlock(&j->mu);
	return n;
}

void tds_contract_journal_putback(tds_contract_journal *j, const tds_policy_slot_state *st, size_t n, bool charged)
{
	pthread_mutex_lock(&j->mu);
	for (size_t k = 0; k < n; k++) {
		uint32_t s = st[k].slot;
		if (s < j->n_slots && !j->dirty[s]) {
			j->pending[s] = st[k];
			j->dirty[s] = 1;
			j->any = true;
		}
	}
	j->charged |= charged;
	pthread_mutex_unlock(&j->mu);
}

void ct_entry_free(ct_entry *x)
{
	if (!x)
		return;
	tds_contract_journal_free(x->journal, x->counters);
	tds_policy_counters_free(x->counters);
	tds_policy_free(x->policy);
	free(x);
}

int ct_entry_new(const json_t *doc, bool provider, const char *provider_org, const char *consumer_org, int state,
		 int64_t frozen, int64_t violations, ct_entry **out)
{
	*out = NULL;
	ct_entry *x = calloc(1, sizeof *x);
	if (!x)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	snprintf(x->id, sizeof x->id, "%s", tds_json_str(doc, "id", ""));
	x->version = tds_json_int(doc, "version", 0);
	x->provider = provider;
	snprintf(x->provider_org, sizeof x->provider_org, "%s", provider_org);
	snprintf(x->consumer_org, sizeof x->consumer_org, "%s", consumer_org);
	x->state = state;
	x->frozen = frozen != 0;
	x->violations = violations;
	const json_t *validity = json_object_get(doc, "validity");
	int rc = 0;
	if (tds_time_parse(tds_json_str(validity, "from", ""), &x->valid_from) < 0 ||
	    tds_time_parse(tds_json_str(validity, "to", ""), &x->valid_to) < 0)
		rc = tds_error_set(TDS_EINVAL, "invalid_contract", "the contract's validity.from and validity.to must be "
								   "RFC 3339 times");
	x->freeze_after = tds_json_int(json_object_get(doc, "violation_policy"), "freeze_after",
				       TDS_CONTRACT_DEFAULT_FREEZE_AFTER);
	if (!rc && (x->freeze_after < 1 || x->freeze_after > 100))
		rc = tds_error_set(TDS_EINVAL, "invalid_contract", "violation_policy.freeze_after must be 1..100");
	if (!rc && tds_policy_compile_json(json_object_get(doc, "policy"), &x->policy) < 0)
		rc = tds_error_wrap("contract %s policy: ", x->id);
	if (!rc) {
		x->n_slots = tds_policy_counter_slots(x->policy);
		x->counters = tds_policy_counters_new(x->policy);
		if (!x->counters || !(x->journal = tds_contract_journal_new(x->counters, x->n_slots)))
			rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	}
	if (rc) {
		ct_entry_free(x);
		return rc;
	}
	*out = x;
	return 0;
}

/* The rule part of a counter's clause ("permission[0]" of "permission[0].constraint[2]"): its length. */
static size_t rule_len(const char *clause)
{
	const char *c = strstr(clause, ".constraint[");
	return c ? (size_t)(c - clause) : strlen(clause);
}

/* The one counter of `arr` of this kind in the rule of `clause`; NULL when none or several. */
static const json_t *only_of_kind(const json_t *arr, const char *kind, const char *clause)
{
	size_t i, rl = rule_len(clause);
	const json_t *v, *found = NULL;
	json_array_foreach(arr, i, v) {
		const char *c = tds_json_str(v, "clause", "");
		if (strcmp(tds_json_str(v, "kind", ""), kind) || rule_len(c) != rl || strncmp(c, clause, rl))
			continue;
		if (found)
			return NULL;
		found = v;
	}
	return found;
}

/* The counter of the old snapshot that counter `a` of the new policy continues: the one with the
 * same clause and kind; else, when a constraint was added or removed before it (its clause moved),
 * the only counter of that kind in the same rule, if the new rule has only one too. */
static const json_t *carried_from(const json_t *old, const json_t *mine, const json_t *a)
{
	const char *clause = tds_json_str(a, "clause", "-"), *kind = tds_json_str(a, "kind", "-");
	size_t j;
	const json_t *b;
	json_array_foreach(old, j, b) {
		if (!strcmp(clause, tds_json_str(b, "clause", "+")) && !strcmp(kind, tds_json_str(b, "kind", "+")))
			return b;
	}
	return only_of_kind(mine, kind, clause) == a ? only_of_kind(old, kind, clause) : NULL;
}

/* Sets the counters of `to` from a snapshot JSON of any version: the same policy restores as is;
 * another carries each counter the new policy continues (carried_from). */
static int counters_from_snapshot(ct_entry *to, const json_t *snap)
{
	if (strcmp(tds_json_str(snap, "policy", ""), tds_policy_uid(to->policy)) == 0)
		return tds_policy_counters_restore(to->counters, snap);
	json_t *mine = NULL;
	int rc = tds_policy_counters_snapshot(to->counters, &mine);
	if (rc)
		return rc;
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(mine, "counters"), i, a) {
		const json_t *b = carried_from(json_object_get(snap, "counters"), json_object_get(mine, "counters"), a);
		if (b) {
			tds_policy_slot_state st = {.slot = (uint32_t)i, .window = tds_json_int(b, "window", 0)};
			const json_t *u = json_object_get(b, "used");
			const char *kind = tds_json_str(a, "kind", "");
			if (strcmp(kind, "privacyBudget") == 0) {
				st.kind = TDS_POLICY_SLOT_BUDGET;
				if (!json_is_string(u) || tds_policy_decimal_parse(json_string_value(u), &st.used))
					continue;
			} else {
				st.kind = strcmp(kind, "rate") == 0 ? TDS_POLICY_SLOT_RATE : TDS_POLICY_SLOT_COUNT;
				if (!json_is_integer(u) || json_integer_value(u) < 0)
					continue;
				st.used = (uint64_t)json_integer_value(u);
			}
			tds_policy_counters_set(to->counters, &st);
		}
	}
	json_decref(mine);
	return 0;
}

int ct_entry_restore(sqlite3 *db, ct_entry *x)
{
	sqlite3_stmt *st = NULL;
	int64_t after = 0;
	int rc = tds_store_prepare(db, "SELECT snapshot, journal_seq FROM enforce_counters WHERE contract_id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, x->id, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		json_t *snap = NULL;
		const char *text = (const char *)sqlite3_column_text(st, 0);
		after = sqlite3_column_int64(st, 1);
		if (tds_json_parse(text, strlen(text), &snap) == 0)
			rc = counters_from_snapshot(x, snap);
		else
			rc = tds_error_wrap("counters snapshot of %s: ", x->id);
		json_decref(snap);
	} else if (s != SQLITE_DONE) {
		rc = tds_store_error(db, "reading a counters snapshot");
	}
	sqlite3_finalize(st);
	if (rc || (rc = tds_store_prepare(db,
					  "SELECT slot, kind, win, used FROM enforce_journal WHERE contract_id = ? AND "
					  "policy_uid = ? AND seq > ? ORDER BY seq",
					  &st)))
		return rc;
	sqlite3_bind_text(st, 1, x->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, tds_policy_uid(x->policy), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, after);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		tds_policy_slot_state ss = {.slot = (uint32_t)sqlite3_column_int64(st, 0),
					    .kind = (tds_policy_slot_kind)sqlite3_column_int(st, 1),
					    .window = sqlite3_column_int64(st, 2),
					    .used = (uint64_t)sqlite3_column_int64(st, 3)};
		if (tds_policy_counters_set(x->counters, &ss) < 0)
			tds_log(TDS_LOG_WARN, "journal_record_skipped", "contract %s: %s", x->id, tds_error_message());
	}
	if (s != SQLITE_DONE)
		rc = tds_store_error(db, "replaying the counters journal");
	sqlite3_finalize(st);
	return rc;
}

int ct_entry_snapshot_tx(sqlite3 *db, ct_entry *x)
{
	json_t *snap = NULL;
	int rc = tds_policy_counters_snapshot(x->counters, &snap);
	char *text = rc ? NULL : tds_json_dumps(snap);
	json_decref(snap);
	if (!rc && !text)
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	sqlite3_stmt *st = NULL;
	if (!rc)
		rc = tds_store_prepare(db,
				       "INSERT INTO enforce_counters (contract_id, policy_uid, snapshot, journal_seq, updated_at) "
				       "VALUES (?1, ?2, ?3, COALESCE((SELECT max(seq) FROM enforce_journal), 0), ?4) "
				       "ON CONFLICT (contract_id) DO UPDATE SET policy_uid = ?2, snapshot = ?3, "
				       "journal_seq = excluded.journal_seq, updated_at = ?4",
				       &st);
	if (!rc) {
		sqlite3_bind_text(st, 1, x->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, tds_policy_uid(x->policy), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, tds_now_ms());
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "storing a counters snapshot");
		sqlite3_finalize(st);
	}
	free(text);
	if (!rc && !(rc = tds_store_prepare(db, "DELETE FROM enforce_journal WHERE contract_id = ?", &st))) {
		/* every record of x so far is in the snapshot (taken after they were drained) */
		sqlite3_bind_text(st, 1, x->id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "truncating the counters journal");
		sqlite3_finalize(st);
	}
	return rc;
}

int ct_entry_carry_tx(sqlite3 *db, const ct_entry *from, ct_entry *to)
{
	json_t *snap = NULL;
	int rc = tds_policy_counters_snapshot(from->counters, &snap);
	if (!rc)
		rc = counters_from_snapshot(to, snap);
	json_decref(snap);
	return rc ? rc : ct_entry_snapshot_tx(db, to);
}

/* ---- the enforcer ---- */

static int load_all(tds_contract *ct, struct ct_enforcer *e)
{
	sqlite3 *db = tds_store_conn(ct->store);
	if (!db)
		return tds_error_code();
	sqlite3_stmt *st = NULL;
	int rc = tds_store_prepare(db,
				   "SELECT id, role, provider_org, consumer_org, state, document, frozen, violations "
				   "FROM enforce_contracts ORDER BY id",
				   &st);
	if (rc)
		return rc;
	int s;
	while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(st, 5);
		json_t *doc = NULL;
		ct_entry *x = NULL;
		if (tds_json_parse(text, strlen(text), &doc) == 0 &&
		    ct_entry_new(doc, strcmp((const char *)sqlite3_column_text(st, 1), "provider") == 0,
				 (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3),
				 ct_state_parse((const char *)sqlite3_column_text(st, 4)), sqlite3_column_int64(st, 6),
				 sqlite3_column_int64(st, 7), &x) == 0 &&
		    ct_entry_restore(db, x) == 0) {
			ct_enf_install(e, x);
		} else {
			/* a stored contract that no longer loads is refused, never enforced loosely */
			tds_log_fields(TDS_LOG_ERROR, "contract_not_loaded",
				       json_pack("{s:s, s:s, s:s}", "contract", (const char *)sqlite3_column_text(st, 0),
						 "code", tds_error_name(), "msg", tds_error_message()));
			ct_entry_free(x);
		}
		json_decref(doc);
	}
	sqlite3_finalize(st);
	if (rc)
		return rc;
	if (!(rc = tds_store_prepare(db, "SELECT token_id FROM enforce_revoked_tokens", &st))) {
		int64_t before = tds_now_ms() - CT_REVOKED_KEEP_MS;
		while ((s = sqlite3_step(st)) == SQLITE_ROW)
			if (tds_id_time_ms((const char *)sqlite3_column_text(st, 0)) >= before) /* else long expired */
				ct_enf_revoke(e, (const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	return rc;
}

static void enforcer_free(struct ct_enforcer *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < CT_BUCKETS; i++) {
		for (ct_entry *x = e->buckets[i], *n; x; x = n) {
			n = x->next;
			ct_entry_free(x);
		}
	}
	for (ct_entry *x = e->retired, *n; x; x = n) {
		n = x->next;
		ct_entry_free(x);
	}
	for (size_t i = 0; i < CT_REVOKED_BUCKETS; i++) {
		for (ct_revoked *r = e->revoked[i], *n; r; r = n) {
			n = r->next;
			free(r);
		}
	}
	for (ct_retired_key *k = e->old_keys, *n; k; k = n) {
		n = k->next;
		tds_key_free(k->key);
		free(k);
	}
	tds_key_free(e->operator_key);
	free(e->operator_pem);
	for (size_t i = 0; e->tokens && i < CT_TOKEN_CACHE; i++)
		free(e->tokens[i].text);
	free(e->tokens);
	tds_ratelimit_free(e->verifies);
	pthread_rwlock_destroy(&e->lock);
	pthread_mutex_destroy(&e->op_mu);
	pthread_mutex_destroy(&e->tok_mu);
	pthread_mutex_destroy(&e->flush_mu);
	pthread_mutex_destroy(&e->sync_mu);
	free(e);
}

struct ct_enforcer *ct_enf(tds_contract *ct)
{
	struct ct_enforcer *e = __atomic_load_n(&ct->enf, __ATOMIC_ACQUIRE);
	if (e)
		return e;
	pthread_mutex_lock(&ct->lock);
	e = ct->enf;
	if (!e) {
		e = calloc(1, sizeof *e);
		if (e) {
			/* writers first: a steady stream of decisions must not starve the feed (nothing here
			   takes the read lock twice on one thread) */
			pthread_rwlockattr_t ra;
			pthread_rwlockattr_init(&ra);
			pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
			pthread_rwlock_init(&e->lock, &ra);
			pthread_rwlockattr_destroy(&ra);
			pthread_mutex_init(&e->op_mu, NULL);
			pthread_mutex_init(&e->tok_mu, NULL);
			pthread_mutex_init(&e->flush_mu, NULL);
			pthread_mutex_init(&e->sync_mu, NULL);
			e->tokens = calloc(CT_TOKEN_CACHE, sizeof *e->tokens);
			e->verifies = tds_ratelimit_new(0, 60 * 1000, TDS_CONTRACT_TOKEN_VERIFY_PER_MIN);
			e->last_snapshot_ms = tds_now_ms();
		}
		if (!e || !e->tokens || !e->verifies) {
			tds_error_set(TDS_ENOMEM, NULL, "out of memory");
			enforcer_free(e);
			e = NULL;
		} else if (!ct->is_operator && load_all(ct, e) < 0) {
			enforcer_free(e);
			e = NULL;
		} else {
			__atomic_store_n(&ct->enf, e, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&ct->lock);
	return e;
}

void ct_enforce_free(tds_contract *ct)
{
	if (!ct || !ct->enf)
		return;
	if (!ct->is_operator && tds_contract_flush(ct, true) < 0)
		tds_log(TDS_LOG_ERROR, "counters_not_flushed", "closing: %s", tds_error_message());
	enforcer_free(ct->enf);
	ct->enf = NULL;
}

void tds_contract_stop(tds_contract *ct)
{
	ct_enforce_free(ct);
}

int tds_contract_set_operator(tds_contract *ct, const char *operator_pem, const char *operator_node_id,
			      const char *own_org_id)
{
	return ct_enforce_set_operator(ct, operator_pem, operator_node_id, own_org_id);
}

int ct_enforce_set_operator(tds_contract *ct, const char *operator_pem, const char *operator_node_id,
			    const char *own_org_id)
{
	struct ct_enforcer *e = ct_enf(ct);
	if (!e)
		return tds_error_code();
	if (!operator_pem || !tds_id_valid(operator_node_id, "node") || !tds_id_valid(own_org_id, "org"))
		return tds_error_set(TDS_EINVAL, "invalid_argument", "the operator key, its node id and this node's "
								     "organisation are required");
	pthread_mutex_lock(&e->op_mu);
	bool same = e->operator_pem && strcmp(e->operator_pem, operator_pem) == 0 &&
		    strcmp(e->operator_node, operator_node_id) == 0 && strcmp(e->own_org, own_org_id) == 0;
	pthread_mutex_unlock(&e->op_mu);
	if (same)
		return 0;
	tds_key *k = NULL;
	int rc = tds_key_from_pem(operator_pem, strlen(operator_pem), &k);
	char *pem = rc ? NULL : strdup(operator_pem);
	ct_retired_key *old = rc ? NULL : calloc(1, sizeof *old);
	if (!rc && (!pem || !old))
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if (rc) {
		tds_key_free(k);
		free(pem);
		free(old);
		return rc;
	}
	pthread_mutex_lock(&e->op_mu);
	old->key = e->operator_key; /* a verification may still use it; kept to the end, so no later key takes its
				       address (cached tokens name their key by address) */
	old->next = e->old_keys;
	e->old_keys = old;
	e->operator_key = k;
	free(e->operator_pem);
	e->operator_pem = pem;
	snprintf(e->operator_node, sizeof e->operator_node, "%s", operator_node_id);
	snprintf(e->own_org, sizeof e->own_org, "%s", own_org_id);
	pthread_mutex_unlock(&e->op_mu);
	pthread_mutex_lock(&e->tok_mu); /* tokens verified under another key are forgotten */
	for (size_t i = 0; i < CT_TOKEN_CACHE; i++)
		free(e->tokens[i].text);
	memset(e->tokens, 0, CT_TOKEN_CACHE * sizeof *e->tokens);
	pthread_mutex_unlock(&e->tok_mu);
	return 0;
}

int ct_enf_operator(struct ct_enforcer *e, const tds_key **key, char own_org[TDS_ID_MAX], char op_node[TDS_ID_MAX])
{
	pthread_mutex_lock(&e->op_mu);
	*key = e->operator_key;
	if (own_org)
		memcpy(own_org, e->own_org, TDS_ID_MAX);
	if (op_node)
		memcpy(op_node, e->operator_node, TDS_ID_MAX);
	pthread_mutex_unlock(&e->op_mu);
	if (!*key)
		return tds_error_set(TDS_EUNPROC, "not_enrolled",
				     "this connector has not learnt its operator's key yet: enrol it (POST /api/v1/node/enrollment)");
	return 0;
}

bool ct_enf_revoked(struct ct_enforcer *e, const char *token_id)
{
	bool hit = false;
	pthread_mutex_lock(&e->tok_mu);
	for (ct_revoked *r = e->revoked[bucket_of(token_id) % CT_REVOKED_BUCKETS]; r && !hit; r = r->next)
		hit = strcmp(r->id, token_id) == 0;
	pthread_mutex_unlock(&e->tok_mu);
	return hit;
}

int ct_enf_prune_revoked(tds_contract *ct, struct ct_enforcer *e, int64_t now_ms)
{
	int64_t before = now_ms - CT_REVOKED_KEEP_MS;
	pthread_mutex_lock(&e->tok_mu);
	for (size_t i = 0; i < CT_REVOKED_BUCKETS; i++) {
		for (ct_revoked **pp = &e->revoked[i]; *pp;) {
			ct_revoked *r = *pp;
			if (tds_id_time_ms(r->id) < before) {
				*pp = r->next;
				free(r);
			} else {
				pp = &r->next;
			}
		}
	}
	pthread_mutex_unlock(&e->tok_mu);
	sqlite3 *db = tds_store_conn(ct->store);
	sqlite3_stmt *st = NULL;
	int rc = db ? tds_store_prepare(db, "DELETE FROM enforce_revoked_tokens WHERE revoked_at < ?", &st) : tds_error_code();
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, before);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tds_store_error(db, "pruning the token revocation list");
	sqlite3_finalize(st);
	return rc;
}

void ct_enf_revoke(struct ct_enforcer *e, const char *token_id)
{
	if (ct_enf_revoked(e, token_id))
		return;
	ct_revoked *r = calloc(1, sizeof *r);
	if (!r)
		return; /* the row is stored: the next start loads it */
	snprintf(r->id, sizeof r->id, "%s", token_id);
	pthread_mutex_lock(&e->tok_mu);
	unsigned b = bucket_of(token_id) % CT_REVOKED_BUCKETS;
	r->next = e->revoked[b];
	e->revoked[b] = r;
	pthread_mutex_unlock(&e->tok_mu);
}

/* ---- flushing the journal ---- */

typedef struct drained {
	ct_entry *x;
	size_t n;
	tds_policy_slot_state *st;
	bool snap;
} drained;

typedef struct flush_ctx {
	drained *d;
	size_t n;
	bool snapshot;
} flush_ctx;

static int flush_tx(sqlite3 *db, void *p)
{
	flush_ctx *f = p;
	sqlite3_stmt *st = NULL;
	int rc = tds_store_prepare(db,
				   "INSERT INTO enforce_journal (contract_id, policy_uid, slot, kind, win, used) "
				   "VALUES (?, ?, ?, ?, ?, ?)",
				   &st);
	for (size_t i = 0; !rc && i < f->n; i++) {
		drained *d = &f->d[i];
		for (size_t k = 0; !rc && k < d->n; k++) {
			sqlite3_reset(st);
			sqlite3_bind_text(st, 1, d->x->id, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, tds_policy_uid(d->x->policy), -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, d->st[k].slot);
			sqlite3_bind_int(st, 4, (int)d->st[k].kind);
			sqlite3_bind_int64(st, 5, d->st[k].window);
			sqlite3_bind_int64(st, 6, (int64_t)d->st[k].used);
			if (sqlite3_step(st) != SQLITE_DONE)
				rc = tds_store_error(db, "appending to the counters journal");
		}
	}
	sqlite3_finalize(st);
	for (size_t i = 0; !rc && f->snapshot && i < f->n; i++)
		if (f->d[i].snap)
			rc = ct_entry_snapshot_tx(db, f->d[i].x);
	return rc;
}

int tds_contract_flush(tds_contract *ct, bool snapshot)
{
	struct ct_enforcer *e = ct_enf(ct);
	if (!e)
		return tds_error_code();
	if (ct->is_operator)
		return 0;
	pthread_mutex_lock(&e->flush_mu);
	ct_enf_read_lock(e);
	size_t cap = 0, n = 0;
	for (size_t b = 0; b < CT_BUCKETS; b++)
		for (ct_entry *x = e->buckets[b]; x; x = x->next)
			cap++;
	drained *d = calloc(cap ? cap : 1, sizeof *d);
	int rc = d ? 0 : tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	for (size_t b = 0; !rc && b < CT_BUCKETS; b++) {
		for (ct_entry *x = e->buckets[b]; !rc && x; x = x->next) {
			d[n].x = x;
			d[n].st = calloc(x->n_slots ? x->n_slots : 1, sizeof *d[n].st);
			if (!d[n].st) {
				rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
				break;
			}
			bool charged = false;
			d[n].n = tds_contract_journal_take(x->journal, d[n].st, snapshot ? &charged : NULL);
			d[n].snap = charged;
			if (d[n].n || d[n].snap)
				n++;
			else
				free(d[n].st);
		}
	}
	flush_ctx f = {.d = d, .n = n, .snapshot = snapshot};
	if (!rc && n)
		rc = tds_store_tx(ct->store, flush_tx, &f);
	if (rc) {
		/* put back what was drained, unless a newer value arrived meanwhile */
		for (size_t i = 0; i < n; i++)
			tds_contract_journal_putback(d[i].x->journal, d[i].st, d[i].n, d[i].snap);
	} else if (snapshot) {
		__atomic_store_n(&e->last_snapshot_ms, tds_now_ms(), __ATOMIC_RELAXED);
	}
	ct_enf_unlock(e);
	for (size_t i = 0; i < n; i++)
		free(d[i].st);
	free(d);
	pthread_mutex_unlock(&e->flush_mu);
	return rc;
}

/* ---- decisions ---- */

static void deny(tds_policy_decision *d, const char *code, const char *reason)
{
	d->permit = false;
	d->code = code;
	d->reason = reason;
	d->clause = "";
	d->n_obligations = 0;
}

/* The verified claims of a token, from the cache or the verifier (the asymmetric operation runs once
 * per token). Time, binding and revocation are checked on every use. */
static int token_claims(tds_contract *ct, struct ct_enforcer *e, const tds_contract_request *req, int64_t now_ms,
			tds_token_claims *c)
{
	if (req->token_len > TDS_CONTRACT_TOKEN_MAX_LEN)
		return tds_error_set(TDS_ETOOBIG, "token_too_large", "a token is at most %d bytes",
				     TDS_CONTRACT_TOKEN_MAX_LEN);
	const tds_key *key;
	char own_org[TDS_ID_MAX];
	int rc = ct_enf_operator(e, &key, own_org, NULL);
	if (rc)
		return rc;
	/* the cache is keyed by the exact token text; the slot comes from a hash of the signature part
	   (distinct for every token the operator signs), the comparison is of every byte */
	const char *sigpart = memrchr(req->token, '.', req->token_len);
	sigpart = sigpart ? sigpart + 1 : req->token;
	uint64_t h = 1469598103934665603ULL;
	for (const char *q = sigpart; q < req->token + req->token_len; q++)
		h = (h ^ (unsigned char)*q) * 1099511628211ULL;
	h ^= req->token_len;
	ct_token_slot *slot = &e->tokens[h % CT_TOKEN_CACHE];
	bool hit = false;
	pthread_mutex_lock(&e->tok_mu);
	if (slot->text && slot->key == key && slot->hash == h && slot->len == req->token_len &&
	    !memcmp(slot->text, req->token, req->token_len)) {
		*c = slot->claims;
		hit = true;
	}
	pthread_mutex_unlock(&e->tok_mu);
	if (!hit) {
		int64_t retry_ms = 0;
		if (req->peer && !tds_ratelimit_take(e->verifies, req->peer, tds_now_ms(), &retry_ms)) {
			rc = tds_error_set(TDS_ELIMIT, "token_verify_limited",
					   "too many new tokens from this address; retry after %lld seconds (Retry-After)",
					   (long long)(retry_ms + 999) / 1000);
			tds_error_set_details(json_pack("{s:I}", "retry_after_s", (json_int_t)(retry_ms + 999) / 1000));
			return rc;
		}
		if ((rc = tds_contract_token_verify(req->token, req->token_len, key, now_ms, c)))
			return rc;
		char *copy = malloc(req->token_len + 1);
		if (copy) { /* else simply not cached */
			memcpy(copy, req->token, req->token_len);
			copy[req->token_len] = 0;
			pthread_mutex_lock(&e->tok_mu);
			free(slot->text);
			slot->text = copy;
			slot->hash = h;
			slot->len = req->token_len;
			slot->key = key; /* the key may have been replaced meanwhile: then it never hits */
			slot->claims = *c;
			pthread_mutex_unlock(&e->tok_mu);
		}
	} else if (now_ms < c->not_before_ms - TDS_CONTRACT_TOKEN_SKEW_MS) {
		return tds_error_set(TDS_EAUTH, "token_not_yet_valid", "the token is not valid yet");
	} else if (now_ms >= c->expires_at_ms + TDS_CONTRACT_TOKEN_SKEW_MS) {
		return tds_error_set(TDS_EAUTH, "token_expired", "the token has expired: ask the operator for a new one");
	}
	if ((rc = tds_contract_token_check_binding(c, own_org, req->caller_node)))
		return rc;
	if (ct_enf_revoked(e, c->id))
		return tds_error_set(TDS_EAUTH, "token_revoked", "the token %s was revoked by the operator", c->id);
	return 0;
}

typedef struct vio_ctx {
	tds_contract *ct;
	ct_entry *x;
	const tds_policy_request *rq;
	const tds_policy_decision *d;
	int64_t now_ms;
	bool serious;
	char id[TDS_ID_MAX];
	int64_t count;
	bool frozen, froze;
	bool late; /* frozen by a concurrent decision's transaction: this one is a refusal, not a violation */
} vio_ctx;

static bool serious_violation(const tds_policy_request *rq, const tds_policy_decision *d)
{
	if (strcmp(d->code, "prohibited") == 0)
		return true;
	if (rq->action == TDS_POLICY_ACTION_EXPORT || rq->action == TDS_POLICY_ACTION_DISTRIBUTE)
		return true; /* a bulk-export pattern: raw rows or redistribution asked for and refused */
	return rq->n_fields > TDS_CONTRACT_BULK_FIELDS;
}

/* The request without personal data: no IP address, no row-filter value (it may name a person). */
static json_t *request_summary(const tds_policy_request *rq)
{
	json_t *fields = json_array();
	for (size_t i = 0; fields && i < rq->n_fields && i < TDS_POLICY_MAX_FIELDS; i++)
		json_array_append_new(fields, json_string(rq->fields[i]));
	json_t *o = json_pack("{s:s, s:o*, s:b, s:b}", "action", tds_policy_action_name(rq->action), "fields", fields,
			      "client_ip_given", rq->client_ip != NULL, "row_filter_given", rq->row_filter != NULL);
	if (o && rq->purpose)
		json_object_set_new(o, "purpose", json_string(rq->purpose));
	if (o && rq->environment)
		json_object_set_new(o, "environment", json_string(rq->environment));
	if (o && rq->region)
		json_object_set_new(o, "region", json_string(rq->region));
	if (o && rq->epsilon)
		json_object_set_new(o, "epsilon", json_string(rq->epsilon));
	return o;
}

static int violation_tx(sqlite3 *db, void *p)
{
	vio_ctx *v = p;
	ct_entry *x = v->x;
	sqlite3_stmt *st = NULL;
	int rc = tds_store_prepare(db, "SELECT frozen FROM enforce_contracts WHERE id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, x->id, -1, SQLITE_STATIC);
	v->late = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) != 0;
	sqlite3_finalize(st);
	if (v->late)
		return 0;
	rc = tds_store_prepare(db,
				   "UPDATE enforce_contracts SET violations = violations + 1, updated_at = ?2 WHERE id = ?1 "
				   "RETURNING violations, frozen, freeze_after",
				   &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, x->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, v->now_ms);
	int64_t freeze_after = x->freeze_after;
	if (sqlite3_step(st) == SQLITE_ROW) {
		v->count = sqlite3_column_int64(st, 0);
		v->frozen = sqlite3_column_int64(st, 1) != 0;
		freeze_after = sqlite3_column_int64(st, 2);
	} else {
		rc = tds_store_error(db, "counting a violation");
	}
	sqlite3_finalize(st);
	if (rc)
		return rc;
	v->froze = !v->frozen && (v->serious || v->count >= freeze_after);
	char reason[160];
	snprintf(reason, sizeof reason, "%s", v->serious ? "a serious violation (prohibited action or bulk export)"
						       : "the contract's violation limit was reached");
	if (v->froze) {
		if ((rc = tds_store_prepare(db,
					    "UPDATE enforce_contracts SET frozen = 1, frozen_at = ?2, frozen_reason = ?3 "
					    "WHERE id = ?1",
					    &st)))
			return rc;
		sqlite3_bind_text(st, 1, x->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, v->now_ms);
		sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "freezing a contract");
		sqlite3_finalize(st);
		if (rc)
			return rc;
	}
	json_t *summary = request_summary(v->rq);
	char *summary_text = summary ? tds_json_dumps(summary) : NULL;
	char at[TDS_TIME_MAX];
	tds_time_format(v->now_ms, at);
	json_t *report = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:I, s:O*, s:s}", "id", v->id,
				   "contract_id", x->id, "version", (json_int_t)x->version, "consumer_org",
				   x->consumer_org, "provider_org", x->provider_org, "code", v->d->code, "clause",
				   v->d->clause, "reason", v->d->reason, "serious", v->serious, "frozen",
				   v->froze || v->frozen, "violations", (json_int_t)v->count, "request", summary, "at", at);
	if (report && v->rq->account)
		json_object_set_new(report, "account", json_string(v->rq->account));
	if (report && v->rq->connector)
		json_object_set_new(report, "connector", json_string(v->rq->connector));
	char *report_text = report ? tds_json_dumps(report) : NULL;
	if (!summary_text || !report_text)
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if (!rc && !(rc = tds_store_prepare(db,
					    "INSERT INTO enforce_violations (id, contract_id, version, org, account, connector, "
					    "code, clause, reason, serious, froze, count, request, at) "
					    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
					    &st))) {
		sqlite3_bind_text(st, 1, v->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, x->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, x->version);
		sqlite3_bind_text(st, 4, x->consumer_org, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, v->rq->account, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, v->rq->connector, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, v->d->code, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, v->d->clause, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 9, v->d->reason, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 10, v->serious);
		sqlite3_bind_int(st, 11, v->froze);
		sqlite3_bind_int64(st, 12, v->count);
		sqlite3_bind_text(st, 13, summary_text, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 14, v->now_ms);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "recording a violation");
		sqlite3_finalize(st);
	}
	if (!rc && !(rc = tds_store_prepare(db,
					    "INSERT INTO enforce_outbox (kind, ref, body, next_at, created_at) "
					    "VALUES ('violation', ?, ?, ?, ?)",
					    &st))) {
		sqlite3_bind_text(st, 1, v->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, report_text, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, v->now_ms);
		sqlite3_bind_int64(st, 4, v->now_ms);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tds_store_error(db, "queueing a violation report");
		sqlite3_finalize(st);
	}
	tds_ledger_actor actor = {.org = x->consumer_org, .account = v->rq->account};
	if (!rc)
		rc = ct_evidence_tx(v->ct, db, "contract.violation", &actor, x->id, v->id,
				    json_pack("{s:s, s:I, s:s, s:s, s:b, s:I, s:O*}", "violation", v->id, "version",
					      (json_int_t)x->version, "code", v->d->code, "clause", v->d->clause,
					      "serious", v->serious, "count", (json_int_t)v->count, "request", summary));
	if (!rc && v->froze)
		rc = ct_evidence_tx(v->ct, db, "contract.frozen", &actor, x->id, v->id,
				    json_pack("{s:s, s:s, s:I, s:I}", "violation", v->id, "reason", reason, "count",
					      (json_int_t)v->count, "freeze_after", (json_int_t)freeze_after));
	json_decref(summary);
	json_decref(report);
	free(summary_text);
	free(report_text);
	return rc;
}

int tds_contract_token_claims(tds_contract *ct, const tds_contract_request *req, int64_t now_ms,
			      tds_token_claims *out)
{
	memset(out, 0, sizeof *out);
	if (ct->is_operator)
		return tds_error_set(TDS_ECONFLICT, "not_a_connector", "tokens are checked by the provider's connector");
	if (!req->token)
		return tds_error_set(TDS_EAUTH, "token_required", "present the consumer's authorization token");
	struct ct_enforcer *e = ct_enf(ct);
	if (!e)
		return tds_error_code();
	int rc = token_claims(ct, e, req, now_ms, out);
	if (rc)
		memset(out, 0, sizeof *out);
	return rc;
}

int tds_contract_decide(tds_contract *ct, const tds_contract_request *req, int64_t now_ms, tds_policy_decision *d,
			tds_contract_outcome *o)
{
	memset(o, 0, sizeof *o);
	deny(d, "invalid_request", "the request is malformed");
	if (ct->is_operator)
		return tds_error_set(TDS_ECONFLICT, "not_a_connector", "decisions are made by the provider's connector, "
									 "not by the operator");
	struct ct_enforcer *e = ct_enf(ct);
	if (!e)
		return tds_error_code();
	tds_token_claims c;
	const char *contract_id = req->contract_id;
	int rc = 0;
	if (req->token) {
		if ((rc = token_claims(ct, e, req, now_ms, &c)))
			return rc;
		contract_id = c.contract_id;
	} else if (!tds_id_valid(contract_id, "ctr")) {
		return tds_error_set(TDS_EINVAL, "invalid_request", "name a token, or a contract id (ctr_…)");
	}
	ct_enf_read_lock(e);
	ct_entry *x = ct_enf_find(e, contract_id);
	if (!x) {
		rc = tds_error_set(TDS_ENOTFOUND, "contract_not_found", "this connector holds no contract %s", contract_id);
		goto out;
	}
	if (!x->provider) {
		rc = tds_error_set(TDS_EPERM, "not_the_provider",
				   "this connector's organisation is the consumer of %s: its provider's connector enforces it",
				   x->id);
		goto out;
	}
	tds_policy_request rq = req->policy;
	rq.org = x->consumer_org;
	rq.account = req->token ? (c.account[0] ? c.account : NULL) : req->account;
	rq.connector = req->token ? (c.connector[0] ? c.connector : NULL) : req->connector;
	if (req->token && strcmp(c.org, x->consumer_org) != 0) {
		rc = tds_error_set(TDS_EPERM, "token_wrong_subject", "the token's subject is not the consumer of %s", x->id);
		goto out;
	}
	snprintf(o->contract_id, sizeof o->contract_id, "%s", x->id);
	o->version = x->version;
	int state = __atomic_load_n(&x->state, __ATOMIC_ACQUIRE);
	o->frozen = __atomic_load_n(&x->frozen, __ATOMIC_ACQUIRE) != 0;
	o->violations = __atomic_load_n(&x->violations, __ATOMIC_ACQUIRE);
	bool refused = true; /* a refusal for the contract's state: not a violation */
	if (state == CT_FILED || (state == CT_ACTIVE && now_ms < x->valid_from)) {
		deny(d, "contract_not_active", "the contract is not in force yet");
	} else if (state == CT_SUSPENDED) {
		deny(d, "contract_suspended", "the operator suspended the contract");
	} else if (state == CT_TERMINATED) {
		deny(d, "contract_terminated", "the contract was terminated");
	} else if (state == CT_EXPIRED || now_ms >= x->valid_to) {
		deny(d, "contract_expired", "the contract's validity has ended");
	} else if (o->frozen) {
		deny(d, "frozen", "the consumer's use of this contract is frozen after violations; the operator reviews "
				  "and unfreezes");
	} else {
		refused = false;
		if (req->token && !(c.actions & (1u << TDS_POLICY_ACTION_USE)) && rq.action >= 0 &&
		    rq.action < TDS_POLICY_ACTION_COUNT_ && !(c.actions & (1u << rq.action))) {
			deny(d, "action_not_granted", "the token does not grant this action");
			d->clause = "token.actions";
		} else if (tds_policy_decide(x->policy, x->counters, &rq, now_ms, d) < 0) {
			rc = tds_error_code();
		}
	}
	if (refused || rc || d->permit)
		goto out;
	/* a deny by the contract's terms: a violation */
	vio_ctx v = {.ct = ct, .x = x, .rq = &rq, .d = d, .now_ms = now_ms, .serious = serious_violation(&rq, d)};
	if ((rc = tds_id_new("vio", v.id)) || (rc = tds_store_tx(ct->store, violation_tx, &v)))
		goto out;
	if (v.late) {
		__atomic_store_n(&x->frozen, 1, __ATOMIC_RELEASE);
		deny(d, "frozen", "the consumer's use of this contract is frozen after violations; the operator reviews "
				  "and unfreezes");
		o->frozen = true;
		o->violations = __atomic_load_n(&x->violations, __ATOMIC_ACQUIRE);
		goto out;
	}
	__atomic_store_n(&x->violations, v.count, __ATOMIC_RELEASE);
	if (v.froze) {
		__atomic_store_n(&x->frozen, 1, __ATOMIC_RELEASE);
		tds_log_fields(TDS_LOG_WARN, "contract_frozen",
			       json_pack("{s:s, s:s, s:I, s:s}", "contract", x->id, "consumer", x->consumer_org, "violations",
					 (json_int_t)v.count, "code", d->code));
	}
	o->violations = v.count;
	o->frozen = v.froze || v.frozen;
	snprintf(o->violation_id, sizeof o->violation_id, "%s", v.id);
out:
	ct_enf_unlock(e);
	return rc;
}

/* ---- reading ---- */

int tds_contract_local_get(tds_contract *ct, const char *id, json_t **out)
{
	*out = NULL;
	if (!tds_id_valid(id, "ctr"))
		return tds_error_set(TDS_ENOTFOUND, "contract_not_found", "no such contract");
	struct ct_enforcer *e = ct_enf(ct);
	if (!e)
		return tds_error_code();
	sqlite3 *db = tds_store_conn(ct->store);
	sqlite3_stmt *st = NULL;
	int rc = db ? tds_store_prepare(db,
					"SELECT version, role, state, provider_org, consumer_org, document_hash, valid_from, "
					"valid_to, freeze_after, frozen, violations, acked_version, frozen_reason, filing "
					"FROM enforce_contracts WHERE id = ?",
					&st)
		    : tds_error_code();
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		char from[TDS_TIME_MAX], to[TDS_TIME_MAX];
		tds_time_format(sqlite3_column_int64(st, 6), from);
		tds_time_format(sqlite3_column_int64(st, 7), to);
		json_t *filing = NULL;
		const char *ft = (const char *)sqlite3_column_text(st, 13);
		tds_json_parse(ft, strlen(ft), &filing);
		*out = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:I, s:I, s:s?, s:s?}", "id", id,
				 "version", (json_int_t)sqlite3_column_int64(st, 0), "role", sqlite3_column_text(st, 1),
				 "state", sqlite3_column_text(st, 2), "provider_org", sqlite3_column_text(st, 3),
				 "consumer_org", sqlite3_column_text(st, 4), "document_hash", sqlite3_column_text(st, 5),
				 "valid_from", from, "valid_to", to, "freeze_after",
				 (json_int_t)sqlite3_column_int64(st, 8), "frozen", sqlite3_column_int64(st, 9) != 0,
				 "violations", (json_int_t)sqlite3_column_int64(st, 10), "acked_version",
				 (json_int_t)sqlite3_column_int64(st, 11), "frozen_reason", sqlite3_column_text(st, 12),
				 "filing_number", tds_json_str(filing, "number", NULL));
		json_decref(filing);
		if (!*out)
			rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	} else {
		rc = s == SQLITE_DONE ? tds_error_set(TDS_ENOTFOUND, "contract_not_found", "this connector holds no contract %s", id)
				      : tds_store_error(db, "reading a local contract");
	}
	sqlite3_finalize(st);
	if (rc)
		return rc;
	ct_enf_read_lock(e);
	ct_entry *x = ct_enf_find(e, id);
	json_t *snap = NULL;
	if (x && tds_policy_counters_snapshot(x->counters, &snap) == 0)
		json_object_set_new(*out, "counters", snap);
	ct_enf_unlock(e);
	return 0;
}
