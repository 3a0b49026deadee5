/*
 * matrix.c — the permission matrix (权限矩阵): the one table that says which roles may perform which
 * action, and which self-service scope (own account, own organisation) opens an action to accounts
 * without those roles. docs/identity.md shows the same table; a unit test keeps the two in step.
 *
 * Every identity route names its action; routes.c derives the router's coarse role gate from this
 * table and calls tds_identity_can / tds_identity_can_on before anything else. Later modules add
 * their actions here (one line each) and call tds_identity_can.
 *
 * Not here: state rules (an unverified organisation has no roles, nobody reviews their own
 * organisation, platform roles need an administrator to grant them): those live with the data they
 * depend on, in org.c, role.c and qual.c.
 */
#include "identity/internal.h"

#include <string.h>

#define R_ADMIN TDS_ROLE_ADMIN
#define R_REVIEW (TDS_ROLE_ADMIN | TDS_ROLE_OPERATOR)                                         /* platform reviewers */
#define R_OVERSIGHT (TDS_ROLE_ADMIN | TDS_ROLE_OPERATOR | TDS_ROLE_REGULATOR | TDS_ROLE_AUDITOR) /* who may read everything */
#define R_PARTICIPANT (TDS_ROLES_ANY_USER)                                                     /* any role at all */

static const tds_identity_action ACTIONS[] = {
    /* registration and the user centre */
    {"org.register", 0, TDS_SCOPE_PUBLIC, "组织注册", "Register an organisation and its admin account"},
    {"person.register", 0, TDS_SCOPE_PUBLIC, "自然人注册", "Register a natural person and their account"},
    {"account.self", 0, TDS_SCOPE_SELF, "用户中心", "Own account: whoami, password change, sessions, API keys, logout"},
    {"account.manage", R_ADMIN, TDS_SCOPE_ROLES, "账号管理", "Create local accounts with roles, list, disable and enable any account"},
    /* real-name verification */
    {"org.verify", 0, TDS_SCOPE_ORG_ADMIN, "实名认证申请", "Submit the organisation's real-name information"},
    {"org.read", R_OVERSIGHT, TDS_SCOPE_MEMBER, "组织查看", "Read an organisation with its roles"},
    {"org.list", R_OVERSIGHT, TDS_SCOPE_ROLES, "组织列表", "List organisations (e.g. those awaiting review)"},
    {"org.review", R_REVIEW, TDS_SCOPE_ROLES, "实名认证审核", "Approve or reject an organisation's real-name verification"},
    {"person.verify", 0, TDS_SCOPE_SELF, "个人实名认证申请", "Submit one's own name and resident ID number"},
    {"person.read", R_OVERSIGHT, TDS_SCOPE_SELF, "自然人查看", "Read a person record (masked ID number)"},
    {"person.list", R_OVERSIGHT, TDS_SCOPE_ROLES, "自然人列表", "List persons"},
    {"person.review", R_REVIEW, TDS_SCOPE_ROLES, "个人实名认证审核", "Approve or reject a person's real-name verification"},
    /* members */
    {"member.manage", 0, TDS_SCOPE_ORG_ADMIN, "成员管理", "Add, disable, enable and restrict the organisation's member accounts"},
    {"member.list", R_OVERSIGHT, TDS_SCOPE_ORG_ADMIN, "成员列表", "List the organisation's member accounts"},
    /* roles */
    {"role.apply", 0, TDS_SCOPE_ORG_ADMIN, "角色申请", "Apply for a role with a justification (org admin, or a verified person)"},
    {"role.list", R_OVERSIGHT, TDS_SCOPE_ORG_ADMIN, "角色申请列表", "List role applications (everyone's, or one's own holder's)"},
    {"role.grant", R_REVIEW, TDS_SCOPE_ROLES, "角色授予", "Grant or reject a role application"},
    {"role.grant_platform", R_ADMIN, TDS_SCOPE_ROLES, "平台角色授予", "Grant the operator, regulator and auditor roles"},
    {"role.suspend", R_REVIEW, TDS_SCOPE_ROLES, "角色暂停", "Suspend or restore a granted role by hand"},
    /* qualifications */
    {"qualification.submit", 0, TDS_SCOPE_ORG_ADMIN, "资质提交", "Record a qualification of the organisation"},
    {"qualification.read", R_OVERSIGHT, TDS_SCOPE_MEMBER, "资质查看", "Read an organisation's qualifications"},
    {"qualification.list", R_OVERSIGHT, TDS_SCOPE_ROLES, "资质列表", "List every organisation's qualifications"},
    {"qualification.review", R_REVIEW, TDS_SCOPE_ROLES, "资质审核", "Approve, reject or revoke a qualification"},
    {"whitelist.read", R_PARTICIPANT, TDS_SCOPE_ROLES, "合作方白名单", "Read the partner whitelist"},
    {"identity.watch", R_REVIEW, TDS_SCOPE_ROLES, "资质到期巡检", "Run the qualification expiry watch now"},
    /* connectors and node certificates */
    {"connector.register", 0, TDS_SCOPE_ORG_ADMIN, "连接器入驻申请", "Register a connector of the organisation (device, node, key)"},
    {"connector.read", R_OVERSIGHT, TDS_SCOPE_MEMBER, "连接器查看", "Read and list connectors (everyone's, or one's own organisation's)"},
    {"connector.list", R_OVERSIGHT, TDS_SCOPE_ROLES, "连接器列表", "List every organisation's connectors"},
    {"connector.review", R_REVIEW, TDS_SCOPE_ROLES, "连接器审核", "Approve (issue ClientID, secret and certificate) or reject a connector"},
    {"connector.revoke", R_REVIEW, TDS_SCOPE_ROLES, "证书吊销", "Revoke a connector's node certificate"},
    {"connector.enroll", 0, TDS_SCOPE_PUBLIC, "连接器入网", "Fetch the node certificate with the ClientID and ClientSecret"},
    {"connector.heartbeat", TDS_ROLE_NODE, TDS_SCOPE_ROLES, "连接器心跳", "Report a connector's status and health (signed by the node)"},
    {"connector.status", R_OVERSIGHT | TDS_ROLE_NODE, TDS_SCOPE_ROLES, "证书状态", "Certificate status and revocation list, signed by the operator"},
    {"node.enroll", R_ADMIN, TDS_SCOPE_ROLES, "节点入网", "Have this connector node fetch and install its certificate"},
    /* other modules */
    {"ledger.audit", R_OVERSIGHT, TDS_SCOPE_ROLES, "存证审计", "Search and read evidence entries with proofs"},
};

const tds_identity_action *tds_identity_actions(size_t *n)
{
	*n = TDS_ARRAY_LEN(ACTIONS);
	return ACTIONS;
}

const tds_identity_action *tds_identity_action_find(const char *name)
{
	for (size_t i = 0; name && i < TDS_ARRAY_LEN(ACTIONS); i++)
		if (strcmp(ACTIONS[i].name, name) == 0)
			return &ACTIONS[i];
	return NULL;
}

static bool is_account(const tds_principal *p) { return p && p->account_id; }

/* By role alone (or public). */
static int can(const tds_identity_action *a, const tds_principal *p)
{
	if (a->scope == TDS_SCOPE_PUBLIC)
		return 1;
	return p && (p->roles & a->roles) ? 1 : 0;
}

int tds_identity_can(const tds_principal *p, const char *action)
{
	const tds_identity_action *a = tds_identity_action_find(action);
	if (!a) {
		tds_log(TDS_LOG_ERROR, "unknown_action", "permission check of unknown action '%.64s' denied; this is a bug",
			action ? action : "(null)");
		return 0;
	}
	return can(a, p) || (a->scope == TDS_SCOPE_SELF && is_account(p));
}

int tds_identity_can_on(tds_identity *id, const tds_principal *p, const char *action, const char *holder_id)
{
	const tds_identity_action *a = tds_identity_action_find(action);
	if (!a)
		return tds_identity_can(p, action); /* logs, denies */
	if (can(a, p))
		return 1;
	if (!is_account(p) || a->scope == TDS_SCOPE_ROLES || a->scope == TDS_SCOPE_PUBLIC)
		return 0;
	if (a->scope == TDS_SCOPE_SELF && !holder_id)
		return 1; /* the account itself */
	sqlite3 *db = tds_store_conn(id->store);
	if (!db)
		return tds_error_code();
	id_actor ac;
	int rc = id_actor_load(id, db, p, &ac);
	if (rc == TDS_ENOTFOUND || rc == TDS_EAUTH)
		return 0;
	if (rc < 0)
		return rc;
	const char *own = ac.org_id[0] ? ac.org_id : ac.person_id[0] ? ac.person_id : NULL;
	if (!own)
		return 0;
	if (holder_id && strcmp(holder_id, own) != 0)
		return 0;
	switch (a->scope) {
	case TDS_SCOPE_SELF:
	case TDS_SCOPE_MEMBER:
		return 1;
	case TDS_SCOPE_ORG_ADMIN:
		return ac.person_id[0] || ac.org_admin; /* a person is their own admin */
	default:
		return 0;
	}
}

static const char *scope_name(tds_identity_scope s)
{
	switch (s) {
	case TDS_SCOPE_PUBLIC: return "public";
	case TDS_SCOPE_SELF: return "self";
	case TDS_SCOPE_ORG_ADMIN: return "org_admin";
	case TDS_SCOPE_MEMBER: return "member";
	default: return "roles";
	}
}

json_t *tds_identity_matrix_json(tds_identity *id, const tds_principal *p)
{
	json_t *actions = json_array(), *allowed = json_array();
	id_actor ac;
	bool have_actor = false;
	sqlite3 *db = is_account(p) ? tds_store_conn(id->store) : NULL;
	if (db && id_actor_load(id, db, p, &ac) == 0)
		have_actor = true;
	tds_error_clear();
	for (size_t i = 0; i < TDS_ARRAY_LEN(ACTIONS); i++) {
		const tds_identity_action *a = &ACTIONS[i];
		json_array_append_new(actions, json_pack("{s:s, s:s, s:s, s:o, s:s}", "name", a->name, "zh", a->zh, "summary",
							 a->summary, "roles", tds_roles_to_json(a->roles), "scope",
							 scope_name(a->scope)));
		bool ok = can(a, p) || (a->scope == TDS_SCOPE_SELF && is_account(p));
		if (!ok && have_actor && (ac.org_id[0] || ac.person_id[0]))
			ok = a->scope == TDS_SCOPE_MEMBER || (a->scope == TDS_SCOPE_ORG_ADMIN && (ac.org_admin || ac.person_id[0]));
		if (ok)
			json_array_append_new(allowed, json_string(a->name));
	}
	return json_pack("{s:o, s:o}", "actions", actions, "allowed", allowed);
}

int id_require(tds_identity *id, const tds_principal *p, const char *action, const char *holder)
{
	if (!p || (!p->account_id && !p->roles)) {
		const tds_identity_action *a = tds_identity_action_find(action);
		if (a && a->scope == TDS_SCOPE_PUBLIC)
			return 0;
		return tds_error_set(TDS_EAUTH, "unauthenticated", "this needs credentials: send Authorization: Bearer <token>");
	}
	int ok = tds_identity_can_on(id, p, action, holder);
	if (ok < 0)
		return ok;
	if (ok)
		return 0;
	const tds_identity_action *a = tds_identity_action_find(action);
	const char *who = !a ? "nobody" : a->scope == TDS_SCOPE_ORG_ADMIN ? "the organisation's admin account or a platform role"
					: a->scope == TDS_SCOPE_MEMBER	  ? "the organisation's own accounts or a platform role"
					: a->scope == TDS_SCOPE_SELF	  ? "the account itself or a platform role"
									  : "a role the action admits";
	tds_error_set(TDS_EPERM, "forbidden", "'%s'%s%s%s needs %s (see GET /api/v1/identity/permissions)", action,
		      a ? " (" : "", a ? a->zh : "", a ? ")" : "", who);
	return TDS_EPERM;
}
