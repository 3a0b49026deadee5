/*
 * org.c — organisations (组织) and natural persons (自然人): public self-registration, real-name
 * verification (实名认证) submitted by the holder and reviewed by a platform reviewer, and the
 * organisation admin's management of member sub-accounts.
 *
 * States of an organisation or person:
 *
 *   registered --submit--> submitted --approve--> verified
 *        ^                     |
 *        +----(resubmit)-- rejected <--reject--+
 *
 * Only "verified" holders have effective roles (account.c). A unified social credit code or an ID
 * number (by its HMAC) belongs to at most one holder that was not rejected: a claim on someone
 * else's code gets 409 until a reviewer rejects the other claim.
 *
 * Every change is one transaction with its evidence entry; refused privileged attempts (reviewing
 * one's own organisation, restricting a member to roles nobody may hold) are evidenced too.
 * Not here: role grants (role.c), qualifications (qual.c), HTTP (routes.c).
 */
#include "identity/internal.h"

#include <string.h>

static const char *const ORG_TYPES[] = {"government", "institution", "enterprise", "bank", "insurer", "research", "other"};

static int check_org_type(const char *t)
{
	for (size_t i = 0; t && i < TDS_ARRAY_LEN(ORG_TYPES); i++)
		if (strcmp(t, ORG_TYPES[i]) == 0)
			return 0;
	return tds_error_set(TDS_EINVAL, "invalid_org_type",
			     "organisation type must be government (政府部门), institution (事业单位), enterprise (企业), "
			     "bank (银行), insurer (保险机构), research (科研机构) or other");
}

int id_check_holder(const char *h)
{
	if (tds_id_valid(h, "org") || tds_id_valid(h, "psn"))
		return 0;
	return tds_error_set(TDS_EINVAL, "invalid_id", "holder must be an organisation id (org_…) or a person id (psn_…)");
}

static int check_status_filter(const char *status)
{
	static const char *const S[] = {"registered", "submitted", "verified", "rejected"};
	for (size_t i = 0; status && i < TDS_ARRAY_LEN(S); i++)
		if (strcmp(status, S[i]) == 0)
			return 0;
	return status ? tds_error_set(TDS_EINVAL, "invalid_status",
				      "status must be registered, submitted, verified or rejected")
		      : 0;
}

/* ---- JSON ---- */

#define ORG_COLS                                                                                        \
	"id, name, type, status, uscc, legal_rep, licence_hash, submitted_at, reviewed_at, review_reason," \
	" created_at"

static json_t *org_row_json(sqlite3_stmt *st)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", id_col_str(st, 0), "name",
			 id_col_str(st, 1), "type", id_col_str(st, 2), "status", id_col_str(st, 3), "uscc", id_col_str(st, 4),
			 "legal_rep", id_col_str(st, 5), "licence_hash", id_col_str(st, 6), "submitted_at",
			 id_col_time(st, 7), "reviewed_at", id_col_time(st, 8), "review_reason", id_col_str(st, 9),
			 "created_at", id_col_time(st, 10));
}

int id_org_json(tds_identity *id, sqlite3 *db, const char *org_id, json_t **out)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT " ORG_COLS " FROM orgs WHERE id=?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, org_id, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	json_t *o = NULL;
	if (s == SQLITE_ROW)
		o = org_row_json(st);
	else if (s == SQLITE_DONE)
		rc = tds_error_set(TDS_ENOTFOUND, "org_not_found", "no organisation %s", org_id);
	else
		rc = tds_store_error(db, "reading organisation");
	sqlite3_finalize(st);
	if (rc)
		return rc;
	json_t *grants = NULL;
	if ((rc = tds_identity_grants_json(id, org_id, &grants))) {
		json_decref(o);
		return rc;
	}
	json_object_set_new(o, "roles", grants);
	*out = o;
	return 0;
}

#define PERSON_COLS "id, display_name, status, real_name, id_masked, submitted_at, reviewed_at, review_reason, created_at"

static json_t *person_row_json(sqlite3_stmt *st)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", id_col_str(st, 0), "display_name",
			 id_col_str(st, 1), "status", id_col_str(st, 2), "real_name", id_col_str(st, 3), "id_number_masked",
			 id_col_str(st, 4), "submitted_at", id_col_time(st, 5), "reviewed_at", id_col_time(st, 6),
			 "review_reason", id_col_str(st, 7), "created_at", id_col_time(st, 8));
}

int id_person_json(tds_identity *id, sqlite3 *db, const char *person_id, json_t **out)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT " PERSON_COLS " FROM persons WHERE id=?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, person_id, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	json_t *o = NULL;
	if (s == SQLITE_ROW)
		o = person_row_json(st);
	else if (s == SQLITE_DONE)
		rc = tds_error_set(TDS_ENOTFOUND, "person_not_found", "no person %s", person_id);
	else
		rc = tds_store_error(db, "reading person");
	sqlite3_finalize(st);
	if (rc)
		return rc;
	json_t *grants = NULL;
	if ((rc = tds_identity_grants_json(id, person_id, &grants))) {
		json_decref(o);
		return rc;
	}
	json_object_set_new(o, "roles", grants);
	*out = o;
	return 0;
}

/* Reads the holder's status into out (cap 16); TDS_ENOTFOUND when it does not exist. */
static int holder_status(sqlite3 *db, const char *holder, char *out)
{
	bool org = strncmp(holder, "org_", 4) == 0;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, org ? "SELECT status FROM orgs WHERE id=?" : "SELECT status FROM persons WHERE id=?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, holder, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		id_col_copy(st, 0, out, 16);
	else if (s == SQLITE_DONE)
		rc = tds_error_set(TDS_ENOTFOUND, org ? "org_not_found" : "person_not_found", "no %s %s",
				   org ? "organisation" : "person", holder);
	else
		rc = tds_store_error(db, "reading status");
	sqlite3_finalize(st);
	return rc;
}

/* ---- registration ---- */

typedef struct reg_ctx {
	tds_identity *id;
	const char *username, *hash, *name, *type;
	char holder[TDS_ID_MAX], account[TDS_ID_MAX];
	bool person;
	int64_t now;
} reg_ctx;

static int reg_tx(sqlite3 *db, void *arg)
{
	reg_ctx *c = arg;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, c->person ? "INSERT INTO persons(id, display_name, status, created_at, updated_at)"
						   " VALUES(?,?,'registered',?,?)"
						 : "INSERT INTO orgs(id, name, type, status, created_at, updated_at)"
						   " VALUES(?,?,?,'registered',?,?)",
				   &st);
	if (rc)
		return rc;
	int k = 1;
	sqlite3_bind_text(st, k++, c->holder, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, k++, c->name, -1, SQLITE_STATIC);
	if (!c->person)
		sqlite3_bind_text(st, k++, c->type, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, k++, c->now);
	sqlite3_bind_int64(st, k, c->now);
	if ((rc = id_step_done(db, st, c->person ? "registering person" : "registering organisation")))
		return rc;
	if ((rc = id_insert_account(db, c->account, c->username, c->hash, 0, c->person ? "person" : "org",
				    c->person ? NULL : c->holder, c->person ? c->holder : NULL, !c->person, false, 0, c->now)))
		return rc;
	tds_ledger_actor actor = {.account = c->account, .org = c->person ? NULL : c->holder,
				  .node = c->id->node_id[0] ? c->id->node_id : NULL};
	json_t *payload = c->person ? json_pack("{s:s}", "username", c->username)
				    : json_pack("{s:s, s:s, s:s}", "name", c->name, "type", c->type, "username", c->username);
	return id_evidence(c->id, db, c->person ? "identity.person_registered" : "identity.org_registered", actor, c->holder,
			   c->account, NULL, payload);
}

static int do_register(tds_identity *id, reg_ctx *c, const char *password, json_t **out)
{
	int rc;
	if ((rc = tds_identity_check_username(c->username)) || (rc = tds_identity_check_password(password)))
		return rc;
	char hash[crypto_pwhash_STRBYTES];
	if ((rc = id_hash_password(password, hash)))
		return rc;
	c->hash = hash;
	c->id = id;
	c->now = tds_now_ms();
	if ((rc = tds_id_new(c->person ? "psn" : "org", c->holder)) || (rc = tds_id_new("acc", c->account)) ||
	    (rc = tds_store_tx(id->store, reg_tx, c)))
		return rc;
	sqlite3 *db = tds_store_conn(id->store);
	json_t *holder = NULL, *acc = NULL;
	if (!db)
		return tds_error_code();
	if ((rc = c->person ? id_person_json(id, db, c->holder, &holder) : id_org_json(id, db, c->holder, &holder)))
		return rc;
	if ((rc = tds_identity_account_get(id, c->account, &acc))) {
		json_decref(holder);
		return rc;
	}
	*out = json_pack("{s:o, s:o}", c->person ? "person" : "org", holder, "account", acc);
	return 0;
}

int tds_identity_org_register(tds_identity *id, const tds_org_registration *r, json_t **out)
{
	int rc;
	if ((rc = id_check_text("name", r->name, 200)) || (rc = check_org_type(r->type)))
		return rc;
	reg_ctx c = {.username = r->username, .name = r->name, .type = r->type};
	return do_register(id, &c, r->password, out);
}

int tds_identity_person_register(tds_identity *id, const char *username, const char *password,
				 const char *display_name, json_t **out)
{
	int rc = id_check_text("display_name", display_name, 100);
	if (rc)
		return rc;
	reg_ctx c = {.username = username, .name = display_name, .person = true};
	return do_register(id, &c, password, out);
}

/* ---- real-name submission ---- */

typedef struct submit_ctx {
	tds_identity *id;
	const tds_principal *p;
	const char *holder;
	const tds_org_verification *v;       /* organisations */
	const char *real_name, *masked;       /* persons */
	uint8_t hmac[TDS_HASH_LEN];
} submit_ctx;

static int submittable(sqlite3 *db, const char *holder)
{
	char status[16];
	int rc = holder_status(db, holder, status);
	if (rc)
		return rc;
	if (strcmp(status, "submitted") == 0)
		return tds_error_set(TDS_ECONFLICT, "already_submitted",
				     "real-name information was already submitted and awaits review");
	if (strcmp(status, "verified") == 0)
		return tds_error_set(TDS_ECONFLICT, "already_verified", "real-name verification was already approved");
	return 0;
}

static int org_submit_tx(sqlite3 *db, void *arg)
{
	submit_ctx *c = arg;
	int rc = submittable(db, c->holder);
	if (rc)
		return rc;
	sqlite3_stmt *st;
	if ((rc = tds_store_prepare(db, "UPDATE orgs SET uscc=?, legal_rep=?, licence_hash=?, status='submitted',"
				       " submitted_at=?, reviewed_by=NULL, reviewed_at=NULL, review_reason=NULL, updated_at=?"
				       " WHERE id=?",
				   &st)))
		return rc;
	int64_t now = tds_now_ms();
	sqlite3_bind_text(st, 1, c->v->uscc, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->v->legal_rep, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->v->licence_hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_text(st, 6, c->holder, -1, SQLITE_STATIC);
	rc = id_step_done(db, st, "submitting real-name information");
	if (rc == TDS_ECONFLICT)
		return tds_error_set(TDS_ECONFLICT, "uscc_taken",
				     "another organisation has claimed this unified social credit code; if it is yours, "
				     "contact the platform operator, who can reject the other claim");
	if (rc)
		return rc;
	return id_evidence(c->id, db, "identity.org_verification_submitted", id_ledger_actor(c->id, c->p), c->holder,
			   NULL, NULL,
			   json_pack("{s:s, s:s, s:s}", "uscc", c->v->uscc, "legal_rep", c->v->legal_rep, "licence_hash",
				     c->v->licence_hash));
}

int tds_identity_org_submit(tds_identity *id, const tds_principal *p, const char *org_id,
			    const tds_org_verification *v, json_t **out)
{
	if (!tds_id_valid(org_id, "org"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "organisation id must look like org_<26 characters>");
	int rc;
	if ((rc = id_require(id, p, "org.verify", org_id)))
		return rc;
	if (!v->uscc)
		return tds_error_set(TDS_EINVAL, "missing_field", "uscc (统一社会信用代码) is required");
	if ((rc = tds_identity_check_uscc(v->uscc, strlen(v->uscc))) || (rc = id_check_text("legal_rep", v->legal_rep, 100)) ||
	    (rc = tds_identity_check_doc_hash(v->licence_hash, v->licence_hash ? strlen(v->licence_hash) : 0)))
		return rc;
	submit_ctx c = {.id = id, .p = p, .holder = org_id, .v = v};
	if ((rc = tds_store_tx(id->store, org_submit_tx, &c)))
		return rc;
	sqlite3 *db = tds_store_conn(id->store);
	return db ? id_org_json(id, db, org_id, out) : tds_error_code();
}

static int person_submit_tx(sqlite3 *db, void *arg)
{
	submit_ctx *c = arg;
	int rc = submittable(db, c->holder);
	if (rc)
		return rc;
	sqlite3_stmt *st;
	if ((rc = tds_store_prepare(db, "UPDATE persons SET real_name=?, id_hmac=?, id_masked=?, status='submitted',"
				       " submitted_at=?, reviewed_by=NULL, reviewed_at=NULL, review_reason=NULL, updated_at=?"
				       " WHERE id=?",
				   &st)))
		return rc;
	int64_t now = tds_now_ms();
	sqlite3_bind_text(st, 1, c->real_name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, c->hmac, sizeof c->hmac, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->masked, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_text(st, 6, c->holder, -1, SQLITE_STATIC);
	rc = id_step_done(db, st, "submitting real-name information");
	if (rc == TDS_ECONFLICT)
		return tds_error_set(TDS_ECONFLICT, "id_number_taken",
				     "another person has claimed this ID number; if it is yours, contact the platform operator");
	if (rc)
		return rc;
	return id_evidence(c->id, db, "identity.person_verification_submitted", id_ledger_actor(c->id, c->p), c->holder,
			   NULL, NULL, json_pack("{s:s}", "id_number_masked", c->masked));
}

int tds_identity_person_submit(tds_identity *id, const tds_principal *p, const char *person_id,
			       const char *real_name, const char *id_number, json_t **out)
{
	if (!tds_id_valid(person_id, "psn"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "person id must look like psn_<26 characters>");
	int rc;
	if ((rc = id_require(id, p, "person.verify", person_id)))
		return rc;
	if (!id_number)
		return tds_error_set(TDS_EINVAL, "missing_field", "id_number (公民身份号码) is required");
	if ((rc = id_check_text("real_name", real_name, 100)) ||
	    (rc = tds_identity_check_resident_id(id_number, strlen(id_number), 0)))
		return rc;
	if (!id->has_pii_key)
		return tds_error_set(TDS_EINTERNAL, "no_pii_key",
				     "this node was started without a key for personal identifiers; the node must pass one "
				     "(derived from its master key) before persons can be verified");
	char masked[19];
	tds_identity_mask_resident_id(id_number, masked);
	submit_ctx c = {.id = id, .p = p, .holder = person_id, .real_name = real_name, .masked = masked};
	tds_suite suite = id->ledger ? tds_ledger_suite(id->ledger) : TDS_SUITE_GM;
	if ((rc = tds_hmac(suite, id->pii_key, sizeof id->pii_key, id_number, 18, c.hmac)))
		return rc;
	rc = tds_store_tx(id->store, person_submit_tx, &c);
	sodium_memzero(c.hmac, sizeof c.hmac);
	if (rc)
		return rc;
	sqlite3 *db = tds_store_conn(id->store);
	return db ? id_person_json(id, db, person_id, out) : tds_error_code();
}

/* ---- review ---- */

typedef struct review_ctx {
	tds_identity *id;
	const tds_principal *p;
	const char *holder, *reason;
	bool approve;
} review_ctx;

static int review_tx(sqlite3 *db, void *arg)
{
	review_ctx *c = arg;
	bool org = strncmp(c->holder, "org_", 4) == 0;
	char status[16];
	int rc = holder_status(db, c->holder, status);
	if (rc)
		return rc;
	if (strcmp(status, "submitted") != 0)
		return tds_error_set(TDS_ECONFLICT, "not_submitted",
				     "there is nothing to review: the %s is %s, and only submitted real-name information is reviewed",
				     org ? "organisation" : "person", status);
	sqlite3_stmt *st;
	if ((rc = tds_store_prepare(db, org ? "UPDATE orgs SET status=?, reviewed_by=?, reviewed_at=?, review_reason=?,"
					      " updated_at=? WHERE id=?"
					    : "UPDATE persons SET status=?, reviewed_by=?, reviewed_at=?, review_reason=?,"
					      " updated_at=? WHERE id=?",
				   &st)))
		return rc;
	int64_t now = tds_now_ms();
	sqlite3_bind_text(st, 1, c->approve ? "verified" : "rejected", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->p->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	if (c->reason)
		sqlite3_bind_text(st, 4, c->reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_text(st, 6, c->holder, -1, SQLITE_STATIC);
	if ((rc = id_step_done(db, st, "recording the review")))
		return rc;
	char type[64];
	snprintf(type, sizeof type, "identity.%s_%s", org ? "org" : "person", c->approve ? "verified" : "rejected");
	return id_evidence(c->id, db, type, id_ledger_actor(c->id, c->p), c->holder, NULL, NULL,
			   json_pack("{s:s?}", "reason", c->reason));
}

int id_refuse_self_review(tds_identity *id, const tds_principal *p, const char *action, const char *holder)
{
	sqlite3 *db = tds_store_conn(id->store);
	if (!db)
		return tds_error_code();
	id_actor ac;
	int rc = id_actor_load(id, db, p, &ac);
	if (rc)
		return rc;
	if ((ac.org_id[0] && strcmp(ac.org_id, holder) == 0) || (ac.person_id[0] && strcmp(ac.person_id, holder) == 0)) {
		tds_error_set(TDS_EPERM, "self_review",
			      "nobody reviews their own organisation's applications: another platform reviewer must decide");
		return id_refused(id, p, action, holder);
	}
	return 0;
}

static int review(tds_identity *id, const tds_principal *p, const char *holder, const char *action,
		  tds_review_decision d, const char *reason)
{
	int rc;
	if ((rc = id_require(id, p, action, holder)))
		return rc;
	if (d != TDS_REVIEW_APPROVE && d != TDS_REVIEW_REJECT)
		return tds_error_set(TDS_EINVAL, "invalid_decision", "real-name verification is approved or rejected");
	if (reason && (rc = id_check_text("reason", reason, 2000)))
		return rc;
	if (d == TDS_REVIEW_REJECT && !reason)
		return tds_error_set(TDS_EINVAL, "reason_required", "a rejection needs a reason the applicant can act on");
	if ((rc = id_refuse_self_review(id, p, action, holder)))
		return rc;
	review_ctx c = {id, p, holder, reason, d == TDS_REVIEW_APPROVE};
	return tds_store_tx(id->store, review_tx, &c);
}

int tds_identity_org_review(tds_identity *id, const tds_principal *p, const char *org_id,
			    tds_review_decision d, const char *reason, json_t **out)
{
	if (!tds_id_valid(org_id, "org"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "organisation id must look like org_<26 characters>");
	int rc = review(id, p, org_id, "org.review", d, reason);
	if (rc)
		return rc;
	sqlite3 *db = tds_store_conn(id->store);
	return db ? id_org_json(id, db, org_id, out) : tds_error_code();
}

int tds_identity_person_review(tds_identity *id, const tds_principal *p, const char *person_id,
			       tds_review_decision d, const char *reason, json_t **out)
{
	if (!tds_id_valid(person_id, "psn"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "person id must look like psn_<26 characters>");
	int rc = review(id, p, person_id, "person.review", d, reason);
	if (rc)
		return rc;
	sqlite3 *db = tds_store_conn(id->store);
	return db ? id_person_json(id, db, person_id, out) : tds_error_code();
}

int tds_identity_decision_parse(const char *s, tds_review_decision *out)
{
	if (s && strcmp(s, "approve") == 0)
		*out = TDS_REVIEW_APPROVE;
	else if (s && strcmp(s, "reject") == 0)
		*out = TDS_REVIEW_REJECT;
	else if (s && strcmp(s, "revoke") == 0)
		*out = TDS_REVIEW_REVOKE;
	else
		return tds_error_set(TDS_EINVAL, "invalid_decision", "decision must be approve, reject or revoke");
	return 0;
}

/* ---- reading ---- */

int tds_identity_org_get(tds_identity *id, const tds_principal *p, const char *org_id, json_t **out)
{
	if (!tds_id_valid(org_id, "org"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "organisation id must look like org_<26 characters>");
	int rc = id_require(id, p, "org.read", org_id);
	if (rc)
		return rc;
	sqlite3 *db = tds_store_conn(id->store);
	return db ? id_org_json(id, db, org_id, out) : tds_error_code();
}

int tds_identity_person_get(tds_identity *id, const tds_principal *p, const char *person_id, json_t **out)
{
	if (!tds_id_valid(person_id, "psn"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "person id must look like psn_<26 characters>");
	int rc = id_require(id, p, "person.read", person_id);
	if (rc)
		return rc;
	sqlite3 *db = tds_store_conn(id->store);
	return db ? id_person_json(id, db, person_id, out) : tds_error_code();
}

static int holder_list(tds_identity *id, bool person, const char *status, int limit, const char *cursor, json_t **out)
{
	int rc = check_status_filter(status);
	if (rc)
		return rc;
	if (cursor && !tds_id_valid(cursor, person ? "psn" : "org"))
		return tds_error_set(TDS_EINVAL, "invalid_cursor", "cursor must be the next_cursor of a previous page");
	sqlite3 *db = tds_store_conn(id->store);
	sqlite3_stmt *st;
	if (!db)
		return tds_error_code();
	if ((rc = tds_store_prepare(db, person ? "SELECT " PERSON_COLS " FROM persons WHERE id > ? AND (?2 IS NULL OR status = ?2)"
						 " ORDER BY id LIMIT ?3"
					       : "SELECT " ORG_COLS " FROM orgs WHERE id > ? AND (?2 IS NULL OR status = ?2)"
						 " ORDER BY id LIMIT ?3",
				    &st)))
		return rc;
	sqlite3_bind_text(st, 1, cursor ? cursor : "", -1, SQLITE_STATIC);
	if (status)
		sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, limit + 1);
	rc = id_page_run(db, st, limit, (person ? person_row_json : org_row_json), "listing", out);
	sqlite3_finalize(st);
	return rc;
}

int tds_identity_org_list(tds_identity *id, const char *status, int limit, const char *cursor, json_t **out)
{
	return holder_list(id, false, status, limit, cursor, out);
}

int tds_identity_person_list(tds_identity *id, const char *status, int limit, const char *cursor, json_t **out)
{
	return holder_list(id, true, status, limit, cursor, out);
}

/* ---- members ---- */

/* Refuses (with evidence) a role restriction naming roles members can never inherit. */
static int check_restriction(tds_identity *id, const tds_principal *p, const char *org_id, bool has, tds_roles roles)
{
	if (!has || !(roles & ~(tds_roles)TDS_ROLES_APPLICABLE))
		return 0;
	tds_error_set(TDS_EPERM, "role_escalation",
		      "members inherit only their organisation's granted roles; admin and node cannot be given to a member");
	return id_refused(id, p, "member.manage", org_id);
}

typedef struct member_ctx {
	tds_identity *id;
	const tds_principal *p;
	const char *org_id, *username, *hash, *account_id;
	bool has_mask, disabled;
	tds_roles mask;
	char new_id[TDS_ID_MAX];
} member_ctx;

static int member_add_tx(sqlite3 *db, void *arg)
{
	member_ctx *c = arg;
	char status[16];
	int rc = holder_status(db, c->org_id, status);
	if (rc)
		return rc;
	if ((rc = id_insert_account(db, c->new_id, c->username, c->hash, 0, "org", c->org_id, NULL, false, c->has_mask,
				    c->mask, tds_now_ms())))
		return rc;
	return id_evidence(c->id, db, "identity.member_added", id_ledger_actor(c->id, c->p), c->org_id, c->new_id, NULL,
			   json_pack("{s:s, s:o}", "username", c->username, "role_restriction",
				     c->has_mask ? tds_roles_to_json(c->mask) : json_null()));
}

int tds_identity_member_add(tds_identity *id, const tds_principal *p, const char *org_id, const char *username,
			    const char *password, bool has_restriction, tds_roles restrict_roles, json_t **out)
{
	if (!tds_id_valid(org_id, "org"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "organisation id must look like org_<26 characters>");
	int rc;
	if ((rc = id_require(id, p, "member.manage", org_id)) || (rc = tds_identity_check_username(username)) ||
	    (rc = tds_identity_check_password(password)) ||
	    (rc = check_restriction(id, p, org_id, has_restriction, restrict_roles)))
		return rc;
	char hash[crypto_pwhash_STRBYTES];
	if ((rc = id_hash_password(password, hash)))
		return rc;
	member_ctx c = {.id = id, .p = p, .org_id = org_id, .username = username, .hash = hash,
			.has_mask = has_restriction, .mask = restrict_roles};
	if ((rc = tds_id_new("acc", c.new_id)) || (rc = tds_store_tx(id->store, member_add_tx, &c)))
		return rc;
	return tds_identity_account_get(id, c.new_id, out);
}

int tds_identity_member_list(tds_identity *id, const char *org_id, int limit, const char *cursor, json_t **out)
{
	if (!tds_id_valid(org_id, "org"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "organisation id must look like org_<26 characters>");
	return id_account_page(id, org_id, limit, cursor, out);
}

/* Checks that account_id is a member of org_id other than the caller's own admin account. */
static int member_of(sqlite3 *db, const member_ctx *c)
{
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT org_admin FROM accounts WHERE id=? AND org_id=?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, c->account_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->org_id, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	bool admin = s == SQLITE_ROW && sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (s == SQLITE_DONE)
		return tds_error_set(TDS_ENOTFOUND, "member_not_found", "account %s is not a member of %s", c->account_id,
				     c->org_id);
	if (s != SQLITE_ROW)
		return tds_store_error(db, "reading member");
	if (admin && c->disabled)
		return tds_error_set(TDS_ECONFLICT, "cannot_disable_admin",
				     "the organisation's admin account cannot be disabled here; ask the platform operator");
	return 0;
}

static int member_disable_tx(sqlite3 *db, void *arg)
{
	member_ctx *c = arg;
	int rc = member_of(db, c);
	if (rc)
		return rc;
	sqlite3_stmt *st;
	if ((rc = tds_store_prepare(db, "UPDATE accounts SET disabled=?, updated_at=? WHERE id=?", &st)))
		return rc;
	sqlite3_bind_int(st, 1, c->disabled);
	sqlite3_bind_int64(st, 2, tds_now_ms());
	sqlite3_bind_text(st, 3, c->account_id, -1, SQLITE_STATIC);
	if ((rc = id_step_done(db, st, "updating member")))
		return rc;
	if (c->disabled && (rc = id_end_sessions(db, c->account_id, NULL, NULL)))
		return rc;
	return id_evidence(c->id, db, c->disabled ? "identity.member_disabled" : "identity.member_enabled",
			   id_ledger_actor(c->id, c->p), c->org_id, c->account_id, NULL, NULL);
}

int tds_identity_member_set_disabled(tds_identity *id, const tds_principal *p, const char *org_id,
				     const char *account_id, bool disabled, json_t **out)
{
	if (!tds_id_valid(org_id, "org") || !tds_id_valid(account_id, "acc"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "ids must look like org_<26 characters> and acc_<26 characters>");
	int rc = id_require(id, p, "member.manage", org_id);
	if (rc)
		return rc;
	member_ctx c = {.id = id, .p = p, .org_id = org_id, .account_id = account_id, .disabled = disabled};
	if ((rc = tds_store_tx(id->store, member_disable_tx, &c)))
		return rc;
	return tds_identity_account_get(id, account_id, out);
}

static int member_restrict_tx(sqlite3 *db, void *arg)
{
	member_ctx *c = arg;
	int rc = member_of(db, c);
	if (rc)
		return rc;
	sqlite3_stmt *st;
	if ((rc = tds_store_prepare(db, "UPDATE accounts SET role_mask=?, updated_at=? WHERE id=?", &st)))
		return rc;
	if (c->has_mask)
		sqlite3_bind_int64(st, 1, c->mask);
	sqlite3_bind_int64(st, 2, tds_now_ms());
	sqlite3_bind_text(st, 3, c->account_id, -1, SQLITE_STATIC);
	if ((rc = id_step_done(db, st, "restricting member")))
		return rc;
	return id_evidence(c->id, db, "identity.member_restricted", id_ledger_actor(c->id, c->p), c->org_id,
			   c->account_id, NULL,
			   json_pack("{s:o}", "role_restriction", c->has_mask ? tds_roles_to_json(c->mask) : json_null()));
}

int tds_identity_member_restrict(tds_identity *id, const tds_principal *p, const char *org_id,
				 const char *account_id, bool has_restriction, tds_roles roles, json_t **out)
{
	if (!tds_id_valid(org_id, "org") || !tds_id_valid(account_id, "acc"))
		return tds_error_set(TDS_EINVAL, "invalid_id", "ids must look like org_<26 characters> and acc_<26 characters>");
	int rc;
	if ((rc = id_require(id, p, "member.manage", org_id)) ||
	    (rc = check_restriction(id, p, org_id, has_restriction, roles)))
		return rc;
	member_ctx c = {.id = id, .p = p, .org_id = org_id, .account_id = account_id, .has_mask = has_restriction,
			.mask = roles};
	if ((rc = tds_store_tx(id->store, member_restrict_tx, &c)))
		return rc;
	return tds_identity_account_get(id, account_id, out);
}
