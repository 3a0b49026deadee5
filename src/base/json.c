/*
 * json.c — JSON over jansson: strict parsing of outside input, schema checks for request objects,
 * and canonical JSON for anything signed or hashed.
 *
 * Canonical form (our profile, close to RFC 8785 but simpler because reals are refused):
 *   - objects: members sorted by the bytes of their NFC-normalised UTF-8 keys, no duplicates;
 *   - no whitespace; strings NFC-normalised, escaping only '"', '\\' and U+0000-U+001F
 *     (\b \f \n \r \t, else \u00XX lower-case hex); everything else literal UTF-8;
 *   - numbers: integers only, in shortest decimal form; a real number is an error (amounts and
 *     decimals travel as strings, money as integer fen).
 * Not for pretty-printing or for parsing config (see config.c).
 */
#include "base/base.h"

#include <stdlib.h>
#include <string.h>
#include <uninorm.h>

#define MAX_DEPTH 64

/* jansson's own depth limit is 2048; ours is tighter, checked by a cheap pre-scan that skips strings. */
static int depth_ok(const char *s, size_t len, size_t *where)
{
	int depth = 0;
	bool in_str = false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > MAX_DEPTH) {
				*where = i;
				return 0;
			}
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return 1;
}

int tds_json_parse(const char *data, size_t len, json_t **out)
{
	*out = NULL;
	size_t where;
	if (!data || len == 0)
		return tds_error_set(TDS_EINVAL, "invalid_json", "request body is empty; send a JSON document");
	if (!depth_ok(data, len, &where))
		return tds_error_set(TDS_EINVAL, "invalid_json", "JSON nested deeper than %d levels (at byte %zu)",
				     MAX_DEPTH, where);
	json_error_t err;
	json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (!v)
		return tds_error_set(TDS_EINVAL, "invalid_json", "invalid JSON at line %d column %d: %s", err.line,
				     err.column, err.text);
	*out = v;
	return 0;
}

/* ---- canonical JSON ---- */

static bool is_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/* NFC form of s: either s itself (*owned = NULL) or a malloc'd copy in *owned. */
static int nfc(const char *s, size_t n, const char **res, size_t *rlen, uint8_t **owned)
{
	*owned = NULL;
	if (is_ascii(s, n)) {
		*res = s, *rlen = n;
		return 0;
	}
	size_t olen = 0;
	uint8_t *o = u8_normalize(UNINORM_NFC, (const uint8_t *)s, n, NULL, &olen);
	if (!o)
		return tds_error_set(TDS_EINVAL, "invalid_utf8", "string is not valid UTF-8");
	*owned = o;
	*res = (const char *)o, *rlen = olen;
	return 0;
}

static int put_string(tds_buf *out, const char *s, size_t n)
{
	const char *ns = s;
	size_t nl = 0;
	uint8_t *owned = NULL;
	int rc = nfc(s, n, &ns, &nl, &owned);
	if (rc)
		return rc;
	rc = tds_buf_putc(out, '"');
	size_t run = 0;
	for (size_t i = 0; i < nl && !rc; i++) {
		unsigned char c = (unsigned char)ns[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		rc = tds_buf_append(out, ns + run, i - run);
		run = i + 1;
		if (rc)
			break;
		switch (c) {
		case '"': rc = tds_buf_puts(out, "\\\""); break;
		case '\\': rc = tds_buf_puts(out, "\\\\"); break;
		case '\b': rc = tds_buf_puts(out, "\\b"); break;
		case '\f': rc = tds_buf_puts(out, "\\f"); break;
		case '\n': rc = tds_buf_puts(out, "\\n"); break;
		case '\r': rc = tds_buf_puts(out, "\\r"); break;
		case '\t': rc = tds_buf_puts(out, "\\t"); break;
		default: rc = tds_buf_printf(out, "\\u%04x", c); break;
		}
	}
	if (!rc)
		rc = tds_buf_append(out, ns + run, nl - run);
	if (!rc)
		rc = tds_buf_putc(out, '"');
	free(owned);
	return rc;
}

typedef struct member {
	const char *key; /* NFC */
	size_t klen;
	uint8_t *owned;
	const json_t *value;
} member;

static int member_cmp(const void *a, const void *b)
{
	const member *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->key, y->key, n);
	if (c)
		return c;
	return x->klen < y->klen ? -1 : x->klen > y->klen;
}

static int canon(const json_t *v, tds_buf *out, int depth);

static int canon_object(const json_t *v, tds_buf *out, int depth)
{
	size_t n = json_object_size(v), i = 0;
	int rc = 0;
	member *m = n ? calloc(n, sizeof *m) : NULL;
	if (n && !m)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory in canonical JSON");
	const char *k;
	size_t klen;
	json_t *val;
	json_object_keylen_foreach((json_t *)v, k, klen, val) {
		if ((rc = nfc(k, klen, &m[i].key, &m[i].klen, &m[i].owned)))
			goto done;
		m[i++].value = val;
	}
	if (n) /* qsort must not see the NULL of an empty object */
		qsort(m, n, sizeof *m, member_cmp);
	for (i = 0; i + 1 < n; i++)
		if (member_cmp(&m[i], &m[i + 1]) == 0) {
			rc = tds_error_set(TDS_EINVAL, "invalid_json",
					   "two object keys are equal after Unicode NFC normalisation");
			goto done;
		}
	rc = tds_buf_putc(out, '{');
	for (i = 0; i < n && !rc; i++) {
		if (i)
			rc = tds_buf_putc(out, ',');
		if (!rc)
			rc = put_string(out, m[i].key, m[i].klen);
		if (!rc)
			rc = tds_buf_putc(out, ':');
		if (!rc)
			rc = canon(m[i].value, out, depth + 1);
	}
	if (!rc)
		rc = tds_buf_putc(out, '}');
done:
	for (i = 0; i < n; i++)
		free(m[i].owned);
	free(m);
	return rc;
}

static int canon(const json_t *v, tds_buf *out, int depth)
{
	if (depth > MAX_DEPTH * 2)
		return tds_error_set(TDS_EINVAL, "invalid_json", "JSON nested too deeply for canonical form");
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return canon_object(v, out, depth);
	case JSON_ARRAY: {
		int rc = tds_buf_putc(out, '[');
		for (size_t i = 0; i < json_array_size(v) && !rc; i++) {
			if (i)
				rc = tds_buf_putc(out, ',');
			if (!rc)
				rc = canon(json_array_get(v, i), out, depth + 1);
		}
		return rc ? rc : tds_buf_putc(out, ']');
	}
	case JSON_STRING:
		return put_string(out, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return tds_buf_printf(out, "%lld", (long long)json_integer_value(v));
	case JSON_REAL:
		return tds_error_set(TDS_EINVAL, "non_integer_number",
				     "canonical JSON allows integers only; send decimals as strings");
	case JSON_TRUE:
		return tds_buf_puts(out, "true");
	case JSON_FALSE:
		return tds_buf_puts(out, "false");
	case JSON_NULL:
		return tds_buf_puts(out, "null");
	}
	return tds_error_set(TDS_EINTERNAL, NULL, "unknown JSON type");
}

int tds_json_canonical(const json_t *v, tds_buf *out)
{
	if (!v)
		return tds_error_set(TDS_EINVAL, "invalid_json", "no JSON value");
	size_t start = out->len;
	int rc = canon(v, out, 0);
	if (rc && out->data) {
		out->len = start;
		out->data[start] = 0;
	}
	return rc;
}

/* ---- schema checks ---- */

static const char *type_phrase(tds_json_type t)
{
	switch (t) {
	case TDS_JSON_STRING: return "a string";
	case TDS_JSON_INTEGER: return "an integer";
	case TDS_JSON_BOOL: return "a boolean";
	case TDS_JSON_OBJECT: return "an object";
	case TDS_JSON_ARRAY: return "an array";
	case TDS_JSON_STRING_ARRAY: return "an array of strings";
	default: return "a value";
	}
}

static bool type_ok(const json_t *v, tds_json_type t)
{
	switch (t) {
	case TDS_JSON_STRING: return json_is_string(v);
	case TDS_JSON_INTEGER: return json_is_integer(v);
	case TDS_JSON_BOOL: return json_is_boolean(v);
	case TDS_JSON_OBJECT: return json_is_object(v);
	case TDS_JSON_ARRAY: return json_is_array(v);
	case TDS_JSON_STRING_ARRAY: {
		if (!json_is_array(v))
			return false;
		for (size_t i = 0; i < json_array_size(v); i++)
			if (!json_is_string(json_array_get(v, i)))
				return false;
		return true;
	}
	case TDS_JSON_ANY: return true;
	}
	return false;
}

int tds_json_check(const json_t *obj, const tds_json_field *fields, size_t n, bool allow_unknown)
{
	if (!json_is_object(obj))
		return tds_error_set(TDS_EINVAL, "invalid_body", "request body must be a JSON object");
	for (size_t i = 0; i < n; i++) {
		const tds_json_field *f = &fields[i];
		json_t *v = json_object_get(obj, f->name);
		if (!v || json_is_null(v)) {
			if (f->required)
				return tds_error_set(TDS_EINVAL, "missing_field", "field '%s' is required", f->name);
			continue;
		}
		if (!type_ok(v, f->type))
			return tds_error_set(TDS_EINVAL, "invalid_field", "field '%s' must be %s", f->name,
					     type_phrase(f->type));
		if (f->max_len && json_is_string(v) && json_string_length(v) > f->max_len)
			return tds_error_set(TDS_EINVAL, "field_too_long", "field '%s' is longer than %zu bytes",
					     f->name, f->max_len);
		if (f->max_len && json_is_array(v) && json_array_size(v) > f->max_len)
			return tds_error_set(TDS_EINVAL, "field_too_long", "field '%s' has more than %zu items",
					     f->name, f->max_len);
	}
	if (allow_unknown)
		return 0;
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v) {
		size_t i = 0;
		while (i < n && strcmp(fields[i].name, key) != 0)
			i++;
		if (i == n)
			return tds_error_set(TDS_EINVAL, "unknown_field", "field '%.64s' is not accepted here", key);
	}
	return 0;
}

const char *tds_json_str(const json_t *obj, const char *key, const char *def)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : def;
}

int64_t tds_json_int(const json_t *obj, const char *key, int64_t def)
{
	json_t *v = json_object_get(obj, key);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

bool tds_json_bool(const json_t *obj, const char *key, bool def)
{
	json_t *v = json_object_get(obj, key);
	return json_is_boolean(v) ? json_is_true(v) : def;
}

char *tds_json_dumps(const json_t *v) { return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY); }
