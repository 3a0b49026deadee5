/*
 * identity — who may act in the space, and why (主体接入与管理, 用户中心).
 *
 * The model (docs/identity.md has the full picture, the permission matrix and the workflows):
 *
 *   account            a login (username + argon2id password), with sessions and API keys. Its kind is
 *                      "local" (made by a node administrator, e.g. the bootstrap admin), "org" (an
 *                      organisation's admin or member account) or "person".
 *   organisation 组织  government department 政府部门, public institution 事业单位, enterprise 企业,
 *                      bank 银行, insurer 保险机构, research body 科研机构, or other. Registers itself
 *                      (public self-registration: the organisation and its admin account in one call);
 *                      its admin account (org_admin) creates and manages member sub-accounts.
 *   natural person     registers with a person account.
 *   自然人
 *   real-name          实名认证: an organisation submits its unified social credit code (统一社会信用代码,
 *   verification       GB 32100-2015 check character), legal representative and a licence scan hash; a
 *                      person submits name and resident ID number (GB 11643, ISO 7064 MOD 11-2), stored
 *                      only as an HMAC (duplicate detection) and a masked form (first 6, last 4). A
 *                      platform reviewer approves or rejects with a reason. Until approved an account is
 *                      a basic account: it has no effective roles at all.
 *   roles              applied for with a justification and granted by review (provider 数据提供方,
 *                      consumer 数据使用方, developer 开发方, service 数商 with a sub-type development /
 *                      brokerage / custody, auth_operator 授权运营方, operator 平台运营方, regulator 监管方,
 *                      auditor 审计方). An organisation may hold several. Members inherit their
 *                      organisation's granted, active roles, optionally restricted to a subset by the
 *                      organisation's admin.
 *   qualifications     运营资质: ISO/IEC 27701, 等保 (level 1-4), DSMC (数据安全能力成熟度, level 1-5),
 *                      industry licence, other; issuer, validity dates, document hash; reviewed. Roles may
 *                      require qualifications (configurable, default: provider and service need 等保 ≥ 2,
 *                      auth_operator and operator need 等保 ≥ 3). The partner whitelist (合作方白名单) is
 *                      the set of verified organisations holding active roles whose requirements are met.
 *                      tds_identity_watch warns 30 days before a qualification expires and, on expiry or
 *                      revocation, suspends the roles that depended on it (and restores them when a valid
 *                      qualification is approved again).
 *
 * Effective roles of a principal = the account's own roles ∪ (the holder's granted, active roles ∩ the
 * member's restriction), where the holder is the account's organisation or person, and nothing at all
 * while that holder is not verified. API keys further intersect with the roles fixed at their creation.
 *
 * Authorisation: one permission matrix (matrix.c) maps actions ("org.review", "role.grant", …) to the
 * roles that may perform them on anything, plus a scope for self-service (own account, own
 * organisation as its admin or member). Every identity route checks it; later modules call
 * tds_identity_can with their own actions.
 *
 * Secrets and personal data: passwords are stored only as argon2id strings; session tokens and API
 * keys only as SHA-256 hashes; resident ID numbers only as HMAC (suite hash, a key the node derives
 * from its master key) and masked. Nothing personal is logged; evidence payloads are sealed by the
 * ledger and hold masked forms only.
 *
 * Evidence: every change and every refused privileged attempt is an entry in the node's ledger,
 * appended in the same transaction as the change ("identity.*" types, listed in docs/identity.md).
 *
 *   connectors         连接器入驻: a verified organisation holding a role registers a connector (device
 *                      information, hardware fingerprint hash, the node's id and public key); a platform
 *                      reviewer not of that organisation approves it, and the operator issues a ClientID,
 *                      a ClientSecret (shown once, kept only as a keyed hash) and a node certificate
 *                      (节点证书, crypto.h) signed with the operator's node key. The connector node
 *                      enrols with its ClientID/secret (receives its certificate), signs its calls with
 *                      keyid = the certificate's serial, and sends heartbeats; the operator marks it
 *                      offline after a configurable silence. A certificate can be revoked; the operator
 *                      refuses a revoked serial at once, and other nodes learn it from the operator's
 *                      signed revocation list (node keys, below).
 *
 * Not here: HTTP (routes.c translates requests into these calls); signing and verifying requests
 * (http), certificate format (crypto); the node wires the authenticator chain and the threads.
 */
#ifndef TDS_IDENTITY_H
#define TDS_IDENTITY_H

#include "base/base.h"
#include "http/http.h"
#include "ledger/ledger.h"
#include "store/store.h"

typedef struct tds_identity tds_identity;

/* ------------------------------------------------------------------------------------------------
 * Qualification types and role requirements
 * ---------------------------------------------------------------------------------------------- */

typedef enum {
	TDS_QUAL_ISO27701 = 1,     /* "iso27701": ISO/IEC 27701 privacy information management */
	TDS_QUAL_DENGBAO,          /* "dengbao": 网络安全等级保护 (等保), level 1-4 */
	TDS_QUAL_DSMC,             /* "dsmc": 数据安全能力成熟度 (GB/T 37988), level 1-5 */
	TDS_QUAL_INDUSTRY_LICENCE, /* "industry_licence": 行业许可证, named */
	TDS_QUAL_OTHER             /* "other": named */
} tds_qual_type;

/* Name of a qualification type, NULL for an unknown value. */
const char *tds_identity_qual_type_name(tds_qual_type t);
/* Parses a qualification type name; TDS_EINVAL "invalid_qualification_type" otherwise. */
int tds_identity_qual_type_parse(const char *s, tds_qual_type *out);

#define TDS_IDENTITY_REQ_MAX 4 /* requirements per role */

/* What a role needs: every listed qualification approved and valid (min_level 0 = any level). */
typedef struct tds_identity_requirements {
	struct {
		unsigned n;
		struct {
			tds_qual_type type;
			int min_level;
		} req[TDS_IDENTITY_REQ_MAX];
	} role[TDS_ROLES_ALL_NAMES];
} tds_identity_requirements;

#define TDS_IDENTITY_DEFAULT_REQUIREMENTS \
	"provider=dengbao:2;service=dengbao:2;auth_operator=dengbao:3;operator=dengbao:3"

/* Parses a requirements spec: rules separated by ';', each "role=type[:level][+type[:level]]…" (an
 * empty right side means none), e.g. TDS_IDENTITY_DEFAULT_REQUIREMENTS. Roles and types are the API
 * names; levels 1-4 for dengbao, 1-5 for dsmc, none for other types; a role may appear once. The
 * empty string means no requirements. Total over any input: TDS_EINVAL "invalid_requirements" naming
 * the rule otherwise. */
int tds_identity_requirements_parse(const char *spec, tds_identity_requirements *out);
/* The requirements as JSON {"provider":[{"type":"dengbao","min_level":2}],…} (new reference). */
json_t *tds_identity_requirements_json(const tds_identity_requirements *r);

/* ------------------------------------------------------------------------------------------------
 * Opening
 * ---------------------------------------------------------------------------------------------- */

typedef struct tds_identity_opts {
	int64_t session_ttl_ms;    /* default 12 h */
	int64_t apikey_max_ttl_ms; /* default 365 days */
	tds_ledger *ledger;        /* evidence of every change; required for changes (borrowed) */
	const char *node_id;       /* actor node in evidence entries (copied) */
	/* 32-byte key for the HMAC of resident ID numbers (copied). The node derives it from its master
	 * key; NULL leaves person verification refused with "no_pii_key" (everything else works). */
	const uint8_t *pii_key;
	/* Role requirements spec (tds_identity_requirements_parse); NULL = the default. */
	const char *requirements;
	int login_max_failures;    /* failed logins per username within the window; default 5 */
	int login_max_failures_ip; /* failed logins per client address within the window; default 50 */
	int64_t login_window_ms;   /* default 15 minutes */
	int signup_max_per_ip;     /* public registrations (orgs, persons) per client address per hour; default 20 */
	int64_t warn_before_ms;    /* qualification expiry warning; default 30 days */
	/* Connectors (operator). The node's private key signs node certificates and the operator's
	 * status statements (borrowed; NULL leaves approval refused with "no_node_key"). */
	const tds_key *node_key;
	/* 32-byte key of the keyed hash (HMAC, suite hash) that keeps ClientSecrets (copied). The node
	 * derives it from its master key; NULL leaves approval and enrolment refused ("no_secret_key"). */
	const uint8_t *secret_key;
	/* Approved connectors' ledgers are registered here for witnessing (borrowed; may be NULL). */
	tds_witness *witness;
	int64_t cert_ttl_ms;       /* validity of issued node certificates; default 365 days */
	int64_t offline_after_ms;  /* a connector silent this long is marked offline; default 90 s */
} tds_identity_opts;

/* Runs identity's migrations on the store and returns a handle (the store must outlive it).
 * TDS_EINVAL "invalid_requirements" for a bad requirements spec. */
int tds_identity_open(tds_store *store, const tds_identity_opts *opts, tds_identity **out);
/* Frees the handle (wiping the PII key); NULL is fine. */
void tds_identity_free(tds_identity *id);
/* The requirements in force (borrowed). */
const tds_identity_requirements *tds_identity_requirements_of(const tds_identity *id);

/* ------------------------------------------------------------------------------------------------
 * Validators of outside input (codes.c). Pure and total: they read exactly len bytes, never more.
 * ---------------------------------------------------------------------------------------------- */

/* Usernames: 3-64 characters of a-z 0-9 . _ -, starting with a letter. Passwords: 12-256 bytes of
 * UTF-8. Returns TDS_EINVAL with a message saying which rule failed. */
int tds_identity_check_username(const char *username);
int tds_identity_check_password(const char *password);

/* Unified social credit code (统一社会信用代码, GB 32100-2015): exactly 18 characters of
 * 0-9 A-H J-N P-R T-U W-Y (upper case; no I, O, S, V, Z), the 18th being the check character
 * C18 = 31 - (Σ value(Ci)·Wi mod 31), 31 → 0, with W = 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28.
 * TDS_EINVAL "invalid_uscc" saying which rule failed (never echoing the code). */
int tds_identity_check_uscc(const char *s, size_t len);

/* Resident identity number (公民身份号码, GB 11643-1999): 17 digits and a check character from
 * "10X98765432" indexed by Σ digit·W mod 11 (ISO 7064 MOD 11-2, W = 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8
 * 4 2), X in upper case; positions 7-14 a real date between 1900-01-01 and the day of now_ms (Beijing
 * time; 0 = now). TDS_EINVAL "invalid_id_number" saying which rule failed (never echoing the number). */
int tds_identity_check_resident_id(const char *s, size_t len, int64_t now_ms);

/* Masked form of a valid 18-character ID number: first 6, eight '*', last 4 (DESIGN §6). */
void tds_identity_mask_resident_id(const char *id, char out[19]);

/* A calendar date "YYYY-MM-DD" (exactly 10 bytes) → the millisecond its day starts in Beijing time
 * (UTC+8, the time zone of the certificates it reads). TDS_EINVAL "invalid_date" otherwise. */
int tds_identity_parse_date(const char *s, size_t len, int64_t *day_start_ms);

/* A document reference: exactly 64 lower-case hex characters (a SM3 or SHA-256 hash of the scan).
 * TDS_EINVAL "invalid_document_hash" otherwise. */
int tds_identity_check_doc_hash(const char *s, size_t len);

/* ------------------------------------------------------------------------------------------------
 * Permission matrix (matrix.c): the one place that says who may do what.
 * ---------------------------------------------------------------------------------------------- */

/* Who besides the roles of an action may perform it. */
typedef enum {
	TDS_SCOPE_ROLES = 0,  /* only principals holding one of the roles */
	TDS_SCOPE_PUBLIC,     /* anyone, without credentials */
	TDS_SCOPE_SELF,       /* any signed-in account, on its own account / own person record */
	TDS_SCOPE_ORG_ADMIN,  /* the admin account of the organisation concerned (or a verified person for
				 their own record, where the action says so) */
	TDS_SCOPE_MEMBER      /* any account of the organisation concerned (or the person themself) */
} tds_identity_scope;

typedef struct tds_identity_action {
	const char *name;         /* "org.review" */
	tds_roles roles;          /* roles that may perform it on anything */
	tds_identity_scope scope; /* who else, on their own things */
	const char *zh;           /* Chinese name */
	const char *summary;      /* one line */
} tds_identity_action;

/* The matrix: *n actions in documentation order. */
const tds_identity_action *tds_identity_actions(size_t *n);
/* The action named `name`, NULL when there is none. */
const tds_identity_action *tds_identity_action_find(const char *name);

/* 1 when the principal (NULL = anonymous) may perform `action` by its roles alone: it holds one of the
 * action's roles, or the action is public, or the action's scope is SELF and the principal is an
 * account. 0 otherwise, and for an unknown action (fail closed; logged as a bug). Scoped actions on
 * an organisation need tds_identity_can_on. */
int tds_identity_can(const tds_principal *p, const char *action);

/* 1 when the principal may perform `action` on the organisation or person `holder_id` ("org_…",
 * "psn_…"; NULL = the principal's own): tds_identity_can, or the action's scope admits the principal's
 * relation to the holder (its org admin, member, or the person). 0 when not; negative on a database
 * error. */
int tds_identity_can_on(tds_identity *id, const tds_principal *p, const char *action, const char *holder_id);

/* The matrix as JSON {"actions":[{name,zh,summary,roles,scope}]} and, for a principal (may be NULL),
 * "allowed":[names it may perform by role, or on its own account, organisation or person record]. */
json_t *tds_identity_matrix_json(tds_identity *id, const tds_principal *p);

/* ------------------------------------------------------------------------------------------------
 * Accounts, login, sessions, API keys (account.c) — the user centre 用户中心
 * ---------------------------------------------------------------------------------------------- */

/* Creates a local account; `by` is the acting account id (NULL: the node itself, e.g. bootstrap).
 * TDS_ECONFLICT "username_taken" when the name exists. *out (may be NULL): the account as JSON (id,
 * username, kind, roles, org_id, person_id, org_admin, created_at, disabled). */
int tds_identity_account_create(tds_identity *id, const char *by, const char *username, const char *password,
				tds_roles roles, json_t **out);
/* One account as JSON (see tds_identity_account_create); TDS_ENOTFOUND "account_not_found". */
int tds_identity_account_get(tds_identity *id, const char *account_id, json_t **out);
/* Page of accounts in creation order after `cursor` (an account id or NULL):
 * {"items":[…],"next_cursor":"acc_…"|null}. */
int tds_identity_account_list(tds_identity *id, int limit, const char *cursor, json_t **out);
/* Enables or disables an account; disabling also ends its sessions. */
int tds_identity_account_set_disabled(tds_identity *id, const char *by, const char *account_id, bool disabled);

/* Password login (tds_identity_login_from with no client address). */
int tds_identity_login(tds_identity *id, const char *username, const char *password, json_t **out);
/* Password login. TDS_EAUTH "invalid_credentials" for an unknown user, a wrong password or a
 * disabled account (the same message for each, so usernames cannot be probed); every failure is
 * evidenced ("identity.login_failed"). Throttled: after login_max_failures failures for a username
 * (or login_max_failures_ip from one client address) within login_window_ms, TDS_ELIMIT
 * "too_many_attempts" with details {"retry_after_s":N} until the oldest failure leaves the window; a
 * successful login clears the username's failures. *out: {"token":"tds_s_…","session_id":"ses_…",
 * "expires_at":"…","account":{…}}. */
int tds_identity_login_from(tds_identity *id, const char *username, const char *password, const char *client_ip,
			    json_t **out);
/* Ends a session (only the account's own; TDS_ENOTFOUND otherwise). */
int tds_identity_logout(tds_identity *id, const char *account_id, const char *session_id);

/* Changes the principal's password: the old one must verify (failures count towards the login
 * throttle and are evidenced), the new one follow tds_identity_check_password and differ from it.
 * Ends every other session of the account (the calling session stays). *out: {"sessions_ended":n}. */
int tds_identity_password_change(tds_identity *id, const tds_principal *p, const char *old_password,
				 const char *new_password, json_t **out);
/* The account's live sessions: {"items":[{id,created_at,expires_at,client_ip,current}]}. */
int tds_identity_session_list(tds_identity *id, const tds_principal *p, json_t **out);

/* API keys: roles must be a subset of the account's effective roles (TDS_EPERM "role_escalation",
 * evidenced, otherwise); expires_in_ms within (0, apikey_max_ttl]. The key's effective roles are
 * always intersected with the account's current effective roles. *out: {"id":"key_…","key":"tds_k_…"
 * (shown once),"name","roles","expires_at"}. */
int tds_identity_apikey_create(tds_identity *id, const char *account_id, const char *name, tds_roles roles,
			       int64_t expires_in_ms, json_t **out);
/* The account's API keys, never their secrets: {"items":[{id,name,roles,created_at,expires_at,revoked_at}]}. */
int tds_identity_apikey_list(tds_identity *id, const char *account_id, json_t **out);
/* Revokes one of the account's live keys (TDS_ENOTFOUND "not_found" otherwise), with evidence. */
int tds_identity_apikey_revoke(tds_identity *id, const char *account_id, const char *key_id);

/* Resolves a bearer token to a principal (strings from `arena`): account, org_id (when the account
 * belongs to an organisation) and effective roles (see the top of this file). TDS_EAUTH
 * "invalid_token" for an unknown, expired or revoked token or a disabled account. */
int tds_identity_authenticate(tds_identity *id, const char *token, tds_arena *arena, tds_principal *out);

/* tds_authenticator for the http server (ctx = tds_identity*): reads "Authorization: Bearer …". */
int tds_identity_http_auth(void *ctx, tds_req *req, tds_principal *out);

/* The principal's account, its organisation or person (status, roles) and effective roles. */
int tds_identity_me(tds_identity *id, const tds_principal *p, json_t **out);

/* ------------------------------------------------------------------------------------------------
 * Organisations and persons, real-name verification, members (org.c)
 *
 * Functions that take a principal check the permission matrix themselves (and the state rules); the
 * list functions, which take none, leave the matrix to their caller (routes.c checks every route).
 * ---------------------------------------------------------------------------------------------- */

/* Organisation types: "government" 政府部门, "institution" 事业单位, "enterprise" 企业, "bank" 银行,
 * "insurer" 保险机构, "research" 科研机构, "other". */
typedef struct tds_org_registration {
	const char *username, *password; /* the organisation's admin account */
	const char *name;                /* 1-200 bytes of UTF-8 */
	const char *type;
} tds_org_registration;

/* Public self-registration: creates the organisation (status "registered") and its admin account
 * (kind org, org_admin, no roles) in one transaction. *out: {"org":{…},"account":{…}}. Errors:
 * "username_taken" (409), "invalid_org_type", "invalid_name", username/password rules (400). */
int tds_identity_org_register(tds_identity *id, const tds_org_registration *r, json_t **out);

typedef struct tds_org_verification {
	const char *uscc;         /* 统一社会信用代码 */
	const char *legal_rep;    /* 法定代表人, 1-100 bytes */
	const char *licence_hash; /* 营业执照 scan: 64 lower-case hex */
} tds_org_verification;

/* The organisation's admin submits real-name information (status registered or rejected →
 * "submitted"). TDS_ECONFLICT "uscc_taken" when another organisation that was not rejected holds the
 * code, "already_submitted"/"already_verified" otherwise; TDS_EPERM "not_org_admin". */
int tds_identity_org_submit(tds_identity *id, const tds_principal *p, const char *org_id,
			    const tds_org_verification *v, json_t **out);

/* Review decisions. */
typedef enum { TDS_REVIEW_APPROVE = 1, TDS_REVIEW_REJECT, TDS_REVIEW_REVOKE } tds_review_decision;
/* "approve" / "reject" / "revoke"; TDS_EINVAL "invalid_decision" otherwise. */
int tds_identity_decision_parse(const char *s, tds_review_decision *out);

/* A platform reviewer approves (→ "verified") or rejects (→ "rejected", reason required) a submitted
 * organisation. Reviewing one's own organisation is refused (TDS_EPERM "self_review", evidenced).
 * TDS_ECONFLICT "not_submitted" when there is nothing to review. */
int tds_identity_org_review(tds_identity *id, const tds_principal *p, const char *org_id,
			    tds_review_decision d, const char *reason, json_t **out);
/* One organisation with its granted roles (members and platform roles; TDS_EPERM otherwise). */
int tds_identity_org_get(tds_identity *id, const tds_principal *p, const char *org_id, json_t **out);
/* Page of organisations (optionally of one status) in id order: {"items","next_cursor"}. */
int tds_identity_org_list(tds_identity *id, const char *status, int limit, const char *cursor, json_t **out);

/* Public self-registration of a natural person and their account (kind person, no roles).
 * display_name: 1-100 bytes. *out: {"person":{…},"account":{…}}. */
int tds_identity_person_register(tds_identity *id, const char *username, const char *password,
				 const char *display_name, json_t **out);
/* The person submits name and resident ID number (TDS_ECONFLICT "id_number_taken" for a number another
 * person that was not rejected submitted; TDS_EINTERNAL "no_pii_key" when the node gave no key). */
int tds_identity_person_submit(tds_identity *id, const tds_principal *p, const char *person_id,
			       const char *real_name, const char *id_number, json_t **out);
/* A platform reviewer approves or rejects a submitted person, as tds_identity_org_review. */
int tds_identity_person_review(tds_identity *id, const tds_principal *p, const char *person_id,
			       tds_review_decision d, const char *reason, json_t **out);
/* One person (the ID number masked) with its grants: the person or platform roles. */
int tds_identity_person_get(tds_identity *id, const tds_principal *p, const char *person_id, json_t **out);
/* Page of persons (optionally of one status) in id order: {"items","next_cursor"}. */
int tds_identity_person_list(tds_identity *id, const char *status, int limit, const char *cursor, json_t **out);

/* The organisation's admin adds a member sub-account (kind org). restrict_roles: when has_restriction,
 * the member inherits only these of the organisation's roles (admin and node are refused:
 * TDS_EPERM "role_escalation", evidenced). */
int tds_identity_member_add(tds_identity *id, const tds_principal *p, const char *org_id, const char *username,
			    const char *password, bool has_restriction, tds_roles restrict_roles, json_t **out);
/* Page of the organisation's accounts (admin and members) in id order. */
int tds_identity_member_list(tds_identity *id, const char *org_id, int limit, const char *cursor, json_t **out);
/* Disables (ending its sessions) or enables a member; the admin cannot disable itself. */
int tds_identity_member_set_disabled(tds_identity *id, const tds_principal *p, const char *org_id,
				     const char *account_id, bool disabled, json_t **out);
/* Sets (has_restriction) or clears a member's role restriction. */
int tds_identity_member_restrict(tds_identity *id, const tds_principal *p, const char *org_id,
				 const char *account_id, bool has_restriction, tds_roles roles, json_t **out);

/* ------------------------------------------------------------------------------------------------
 * Role applications and grants (role.c)
 * ---------------------------------------------------------------------------------------------- */

/* The roles organisations may apply for; persons may apply for consumer and developer only. */
#define TDS_ROLES_APPLICABLE                                                                              \
	(TDS_ROLE_PROVIDER | TDS_ROLE_CONSUMER | TDS_ROLE_DEVELOPER | TDS_ROLE_SERVICE | TDS_ROLE_AUTH_OPERATOR | \
	 TDS_ROLE_OPERATOR | TDS_ROLE_REGULATOR | TDS_ROLE_AUDITOR)
#define TDS_ROLES_PERSON_APPLICABLE (TDS_ROLE_CONSUMER | TDS_ROLE_DEVELOPER)
/* Roles only a node administrator may grant ("role.grant_platform"). */
#define TDS_ROLES_PLATFORM (TDS_ROLE_OPERATOR | TDS_ROLE_REGULATOR | TDS_ROLE_AUDITOR)

/* The principal (its organisation's admin, or a verified person) applies for one role with a
 * justification (1-2000 bytes); service_type ("development" 开发, "brokerage" 经纪, "custody" 托管) is
 * required for the service role and refused for others. Refusals: TDS_EPERM "not_verified" (holder
 * not verified), "role_escalation" (a role that cannot be applied for; evidenced), "not_org_admin";
 * TDS_ECONFLICT "role_held", "application_pending". */
int tds_identity_role_apply(tds_identity *id, const tds_principal *p, tds_roles role, const char *service_type,
			    const char *justification, json_t **out);
/* Page of applications, filtered by status ("pending", "granted", "rejected"; NULL any) and holder
 * (NULL any). */
int tds_identity_role_list(tds_identity *id, const char *status, const char *holder_id, int limit,
			   const char *cursor, json_t **out);
/* Grants or rejects a pending application. Granting needs the role's qualification requirements met
 * (TDS_EUNPROC "qualification_required", naming what is missing) and, for TDS_ROLES_PLATFORM, the
 * "role.grant_platform" permission (TDS_EPERM "role_escalation", evidenced). Self review refused. */
int tds_identity_role_review(tds_identity *id, const tds_principal *p, const char *application_id,
			     tds_review_decision d, const char *reason, json_t **out);
/* Suspends (suspend true, reason required) or restores a holder's granted role by hand. */
int tds_identity_role_suspend(tds_identity *id, const tds_principal *p, const char *holder_id, tds_roles role,
			      bool suspend, const char *reason, json_t **out);
/* The holder's grants: [{role,service_type,status,suspended_reason,granted_at,…}] (new reference). */
int tds_identity_grants_json(tds_identity *id, const char *holder_id, json_t **out);

/* ------------------------------------------------------------------------------------------------
 * Qualifications, whitelist and the expiry watch (qual.c)
 * ---------------------------------------------------------------------------------------------- */

typedef struct tds_qualification_in {
	tds_qual_type type;
	int level;               /* dengbao 1-4, dsmc 1-5; 0 for the other types */
	const char *name;        /* what it is: required for industry_licence and other; 1-200 bytes */
	const char *issuer;      /* 1-200 bytes */
	const char *cert_no;     /* certificate number, optional, 1-100 bytes */
	const char *valid_from;  /* "YYYY-MM-DD" */
	const char *valid_to;    /* "YYYY-MM-DD", inclusive; after valid_from and not already past */
	const char *doc_hash;    /* 64 lower-case hex */
} tds_qualification_in;

/* The organisation's admin records a qualification (status "pending"). */
int tds_identity_qualification_add(tds_identity *id, const tds_principal *p, const char *org_id,
				   const tds_qualification_in *q, json_t **out);
/* Page of qualifications of one organisation (org_id) or all (NULL), optionally of one status. */
int tds_identity_qualification_list(tds_identity *id, const char *org_id, const char *status, int limit,
				    const char *cursor, json_t **out);
/* A platform reviewer approves or rejects a pending qualification, or revokes an approved one (which
 * suspends the roles that needed it, in the same transaction). Approving restores roles the watch had
 * suspended for lack of it. Self review refused. */
int tds_identity_qualification_review(tds_identity *id, const tds_principal *p, const char *qualification_id,
				      tds_review_decision d, const char *reason, json_t **out);

/* The partner whitelist (合作方白名单) at now_ms: verified organisations with at least one active role
 * whose qualification requirements are met, each with those roles and its valid qualifications.
 * {"items":[{org_id,name,type,uscc,roles,qualifications}],"next_cursor"}. */
int tds_identity_whitelist(tds_identity *id, int64_t now_ms, int limit, const char *cursor, json_t **out);

/* The expiry watch; the node calls it periodically, tests with an explicit clock. At now_ms:
 * approved qualifications that expire within warn_before_ms and were not yet warned about are warned
 * about (log event "qualification_expiring" + evidence "identity.qualification_expiring", once);
 * expired ones become "expired" (evidence); every active role whose requirements are no longer met is
 * suspended (evidence "identity.role_suspended", reason "qualification"), and roles suspended for that
 * reason whose requirements are met again are restored. Each organisation's changes are one
 * transaction. *report (may be NULL): {"at","warned":[…],"expired":[…],"suspended":[…],
 * "restored":[…]}. */
int tds_identity_watch(tds_identity *id, int64_t now_ms, json_t **report);

/* ------------------------------------------------------------------------------------------------
 * Connectors (连接器入驻) and node certificates (connector.c), on the operator
 *
 * States of a connector:
 *
 *   pending --approve--> approved --revoke--> revoked
 *      |
 *      +----reject----> rejected       (the device, node and key may be registered again)
 *
 * Presence (heartbeats, approved connectors only): unknown → online (first heartbeat) → offline
 * (silent for offline_after_ms, found by tds_identity_connector_watch) → online (next heartbeat).
 * Every state and presence change is one transaction with its evidence entry.
 *
 * Uniqueness: a node id and a hardware fingerprint belong to at most one pending or approved
 * connector; a public key to at most one connector that was not rejected (a revoked key never
 * returns). ClientIDs are "client_<ULID>"; ClientSecrets "tds_cs_" + 43 base64url characters (256
 * random bits), stored only as HMAC(secret_key, secret) and compared in constant time: a slow hash
 * adds nothing to a 256-bit random secret, and the key (derived from the master key) keeps a copy of
 * the database alone from testing guesses.
 *
 * Operator statements (运营方声明): the certificate status and the revocation list are served as
 * statements the operator signs with its node key, so that a connector can believe them whatever
 * carried them:
 *
 *   {"statement":{"type":"tds.cert_status"|"tds.revocations","issuer":"node_…",
 *                 "issuer_key_id":"<64 hex>","at":"<RFC 3339>", …members of the type},
 *    "sig_alg":"sm2-sm3"|"ed25519","signature":"<base64 of tds_sign over the canonical statement>"}
 *
 *   tds.cert_status:  "serial", "status" ("valid" | "expired" | "revoked"), "certificate" (the
 *                     certificate object), and when revoked "revoked_at", "reason"
 *   tds.revocations:  "since", "next" (the last seq listed, or since), "more" (bool), "items":
 *                     [{"seq","serial","node_id","org_id","revoked_at","reason"}] in seq order
 *
 * Readers refuse a statement of another type, issuer or key, or whose "at" is more than
 * TDS_CERT_SKEW_MS from their clock (a stale "valid" cannot be replayed for long).
 * ---------------------------------------------------------------------------------------------- */

#define TDS_CONNECTOR_IPS_MAX 16
#define TDS_CLIENT_SECRET_PREFIX "tds_cs_"

/* What a connector registration declares about the device and the node. */
typedef struct tds_connector_in {
	const char *name;             /* device name, 1-100 bytes of text */
	const char *vendor_serial;    /* vendor serial number, 1-100 bytes of text */
	const json_t *ips;            /* 1-16 distinct IPv4/IPv6 addresses (strings) */
	const char *software_version; /* 1-64 characters of A-Z a-z 0-9 . + - _ */
	const char *api_endpoint;     /* management API, http(s) URL of <= 256 visible ASCII characters */
	const char *data_endpoint;    /* data plane, idem */
	const char *hw_fingerprint;   /* 64 lower-case hex: hash of the hardware description */
	const char *node_id;          /* "node_<ULID>": the connector's own GET /api/v1/node */
	const char *public_key_pem;   /* the node's public key (node.pub); a private key is refused */
} tds_connector_in;

/* The organisation's admin registers a connector (status "pending"). The organisation must be
 * verified (TDS_EPERM "not_verified") and hold an active role ("role_required"); persons cannot
 * ("org_required"). Bad input: TDS_EINVAL "invalid_field", "invalid_ips", "invalid_version",
 * "invalid_url", "invalid_fingerprint", "invalid_id", "invalid_key", "private_key_submitted".
 * Duplicates: TDS_ECONFLICT "node_registered", "device_registered", "key_registered". *out: the
 * connector (tds_identity_connector_get's shape). */
int tds_identity_connector_register(tds_identity *id, const tds_principal *p, const tds_connector_in *in,
				    json_t **out);

/* A platform reviewer approves or rejects (reason required) a pending connector; reviewing one's own
 * organisation's connector is refused (TDS_EPERM "self_review", evidenced). TDS_ECONFLICT
 * "connector_revoked" / "not_pending" otherwise. Approval, in one transaction: ClientID and
 * ClientSecret, a node certificate (role connector, valid cert_ttl_ms), the connector's ledger
 * "tds.local/<node id>" registered with the witness, evidence "identity.connector_approved" and
 * "identity.certificate_issued". *out: the connector plus, on approval, "client_id",
 * "client_secret" (shown this once), "certificate" and "operator" {node_id, key_id}. */
int tds_identity_connector_review(tds_identity *id, const tds_principal *p, const char *connector_id,
				  tds_review_decision d, const char *reason, json_t **out);

/* A platform reviewer revokes an approved connector's certificate with a reason (evidence
 * "identity.certificate_revoked"; the serial joins the revocation list; an online connector becomes
 * offline, since it can no longer be heard). TDS_ECONFLICT "already_revoked", "not_approved".
 * Effective at once for tds_nodekeys on this node. */
int tds_identity_connector_revoke(tds_identity *id, const tds_principal *p, const char *connector_id,
				  const char *reason, json_t **out);

/* One connector (members of its organisation, or oversight roles): device information, node id and
 * key, status, review, ClientID, certificate (object, when issued), presence, last heartbeat. Never
 * the secret. TDS_ENOTFOUND "connector_not_found". */
int tds_identity_connector_get(tds_identity *id, const tds_principal *p, const char *connector_id, json_t **out);

/* Page of connectors in id order, filtered by organisation, status (pending, approved, rejected,
 * revoked) and presence (unknown, online, offline); NULL = any. The caller checks the matrix. */
int tds_identity_connector_list(tds_identity *id, const char *org_id, const char *status, const char *presence,
				int limit, const char *cursor, json_t **out);

/* Enrolment (入网): the connector node presents its ClientID and ClientSecret and receives its
 * certificate. TDS_EAUTH "invalid_client" for an unknown ClientID or a wrong secret (evidenced as
 * "identity.connector_enroll_failed" when the ClientID is known); TDS_EPERM "connector_revoked".
 * Evidence "identity.connector_enrolled". *out: {"connector_id","node_id","org_id","serial",
 * "certificate":{…},"operator":{"node_id","key_id","sig_alg","public_key_pem"},"offline_after_s"}. */
int tds_identity_connector_enroll(tds_identity *id, const char *client_id, const char *client_secret,
				  const char *client_ip, json_t **out);

/* A heartbeat from the connector node `p` (a node principal: session_id is its certificate serial).
 * report: {"status":"ok"|"degraded"|"maintenance","version":"…","uptime_s":n,"health":{name:n,…}}
 * (health: at most 16 non-negative integers named [a-z0-9_]{1,32}). Records last_seen and the
 * report; a connector that was not online becomes online (evidence "identity.connector_online").
 * TDS_EPERM "not_a_connector" for a principal without a certificate here. *out: {"connector_id",
 * "presence","offline_after_s"}. */
int tds_identity_connector_heartbeat(tds_identity *id, const tds_principal *p, const json_t *report, json_t **out);

/* The presence watch: approved connectors online but silent since now_ms - offline_after_ms become
 * offline, each in its own transaction with evidence "identity.connector_offline" and the log event
 * "connector_offline" (warn, naming the organisation; the oversight issue turns it into an alert).
 * *report (may be NULL): {"at","offline":[{"id","org_id","node_id","last_seen_at"}]}. */
int tds_identity_connector_watch(tds_identity *id, int64_t now_ms, json_t **report);

/* The signed tds.cert_status statement of the certificate `serial` (TDS_ENOTFOUND
 * "certificate_not_found"). */
int tds_identity_cert_status(tds_identity *id, const char *serial, json_t **out);

/* The signed tds.revocations statement: revocations with seq > since, at most limit (1..500). */
int tds_identity_cert_revocations(tds_identity *id, int64_t since, int limit, json_t **out);

/* ------------------------------------------------------------------------------------------------
 * Node keys (节点密钥, nodekeys.c): who signed a request. keyid = the signer's certificate serial
 * ("crt_<ULID>"); tds_nodekeys_resolve is the tds_sig_resolver of the node's verifier (http.h).
 *
 *   operator   certificates are local: every resolve reads the certificate's status from the
 *              registry (an indexed read, far cheaper than the signature check), so a revocation
 *              is refused from the moment it commits; parsed keys are cached by serial.
 *   connector  certificates come from the operator: on first sight of a serial, its signed
 *              tds.cert_status (GET /api/v1/connectors/certificates/{serial}); then every
 *              poll_interval the signed tds.revocations since the last one seen
 *              (tds_nodekeys_sync). Unknown serials are remembered for 10 s, so a stream of made-up
 *              keyids cannot turn into a stream of calls to the operator.
 *
 * A resolved principal has no account: username = the signer's node id, org_id = the certificate's
 * organisation, session_id = the serial; the verifier adds TDS_ROLE_NODE. Refusals (TDS_EAUTH):
 * "certificate_revoked", "certificate_expired", "certificate_unverifiable" (the operator could not
 * be asked); an unknown serial is TDS_ENOTFOUND (the verifier answers "unknown_key"). Parsed keys
 * live as long as the keyring (no release needed). Thread-safe.
 * ---------------------------------------------------------------------------------------------- */

typedef struct tds_nodekeys tds_nodekeys;

/* identity: the operator's registry (NULL on a connector, which learns keys from its operator once
 * tds_nodekeys_set_operator is called). */
int tds_nodekeys_new(tds_identity *identity, tds_nodekeys **out);
void tds_nodekeys_free(tds_nodekeys *k); /* NULL is fine */

/* Connector: where certificates come from and how to ask. operator_pem: the operator's public key
 * (copied); operator_node_id: its node id (statements must name it); own_key (borrowed, must outlive
 * the keyring) and own_serial sign the requests to the operator. May be called again (re-enrolment):
 * the cache is kept, and keys replaced stay alive until tds_nodekeys_free. */
int tds_nodekeys_set_operator(tds_nodekeys *k, const char *operator_url, const char *operator_pem,
			      const char *operator_node_id, const tds_key *own_key, const char *own_serial);

/* tds_sig_resolver (ctx = tds_nodekeys *). */
int tds_nodekeys_resolve(void *ctx, const char *keyid, tds_arena *arena, const tds_key **key, tds_principal *out);

/* Connector: fetches the revocations listed since the last sync and marks them (also serials never
 * seen, so their first use is refused without a call). *revoked (may be NULL): how many were new.
 * A no-op before set_operator and on the operator. */
int tds_nodekeys_sync(tds_nodekeys *k, int *revoked);

/* The connector side of enrolment: POST {operator_url}/api/v1/connectors/enroll with the ClientID and
 * secret, then checks what came back: the certificate verifies under the operator key that came with
 * it, that key is pinned_key_id when one is given (64 hex, the operator's key id from the approval),
 * the certificate names own_node_id, role connector, and own_key's public key. On success
 * cert_json gets the certificate (canonical JSON) and operator_pem the operator's public key; *out
 * (may be NULL) the certificate's statement. Errors: TDS_EIO "operator_unreachable" (HTTP 502), the
 * operator's own error (code and message) for a refusal, TDS_EUNPROC "certificate_mismatch" /
 * "operator_key_mismatch" for an answer that does not belong to this node or this operator. */
int tds_nodekeys_enroll(const char *operator_url, const char *client_id, const char *client_secret,
			const char *pinned_key_id, const tds_key *own_key, const char *own_node_id, tds_buf *cert_json,
			tds_buf *operator_pem, tds_node_cert *out);

/* Verifies an operator statement (format above) of `type` from operator_node_id under operator_key
 * at now_ms; *statement (borrowed from doc, which the caller frees) is the inner object. TDS_ECRYPTO
 * "bad_statement" / TDS_EINVAL "invalid_statement" / TDS_EAUTH "stale_statement". */
int tds_nodekeys_statement_verify(const json_t *doc, const char *type, const char *operator_node_id,
				  const tds_key *operator_key, int64_t now_ms, const json_t **statement);

/* ------------------------------------------------------------------------------------------------
 * HTTP
 * ---------------------------------------------------------------------------------------------- */

/* Registers identity's routes on the management API router: /api/v1/auth/…, /api/v1/me…,
 * /api/v1/accounts…, /api/v1/api-keys…, /api/v1/orgs…, /api/v1/persons…, /api/v1/role-applications…,
 * /api/v1/qualifications…, /api/v1/whitelist, /api/v1/identity/…, /api/v1/connectors…. */
int tds_identity_routes(tds_identity *id, tds_router *r);

#endif
