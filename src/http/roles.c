/*
 * roles.c — names of the role bits of http.h ("admin", "provider", …) and their JSON form (an array
 * of names, in bit order). The bits are stored in databases, so a name never changes meaning.
 * Not for deciding who holds which role: that is identity's job; the router only compares bits.
 */
#include "http/http.h"

#include <string.h>

static const char *const NAMES[TDS_ROLES_ALL_NAMES] = {
	"admin", "provider", "consumer", "developer", "service",
	"auth_operator", "operator", "regulator", "auditor", "node",
};

const char *tds_role_name(tds_roles bit)
{
	for (unsigned i = 0; i < TDS_ROLES_ALL_NAMES; i++)
		if (bit == (1u << i))
			return NAMES[i];
	return NULL;
}

int tds_role_parse(const char *name, tds_roles *out)
{
	for (unsigned i = 0; name && i < TDS_ROLES_ALL_NAMES; i++)
		if (strcmp(name, NAMES[i]) == 0) {
			*out = 1u << i;
			return 0;
		}
	return tds_error_set(TDS_EINVAL, "invalid_role",
			     "unknown role '%.32s'; roles are admin, provider, consumer, developer, service, "
			     "auth_operator, operator, regulator, auditor, node",
			     name ? name : "(null)");
}

json_t *tds_roles_to_json(tds_roles roles)
{
	json_t *arr = json_array();
	if (!arr)
		return NULL;
	for (unsigned i = 0; i < TDS_ROLES_ALL_NAMES; i++)
		if (roles & (1u << i))
			json_array_append_new(arr, json_string(NAMES[i]));
	return arr;
}

int tds_roles_from_json(const json_t *arr, tds_roles *out)
{
	if (!json_is_array(arr))
		return tds_error_set(TDS_EINVAL, "invalid_role", "roles must be an array of role names");
	tds_roles roles = 0;
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		tds_roles bit = 0;
		if (!json_is_string(v))
			return tds_error_set(TDS_EINVAL, "invalid_role", "roles[%zu] must be a string", i);
		if (tds_role_parse(json_string_value(v), &bit) < 0)
			return tds_error_code();
		roles |= bit;
	}
	*out = roles;
	return 0;
}
