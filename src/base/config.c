/*
 * config.c — node configuration: a fixed schema of "section.key" entries, filled from tds.conf
 * (INI, parsed by libinih), then TDS_<SECTION>_<KEY> environment variables, then flags. Every value
 * is validated against its key's type when it is set, so a loaded config is always well-typed and
 * readers never re-check. Unknown keys in the file are errors (a typo must not be silently ignored);
 * unknown TDS_* environment variables are not (the environment is shared with other tools).
 */
#include "base/base.h"

#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>

/* libinih reads lines of at most 199 bytes (INI_MAX_LINE 200) and splits longer ones silently, so
 * longer lines are refused before parsing, and values are kept short enough to write back. */
#define MAX_LINE 199
#define MAX_VALUE 160

struct tds_config {
	const tds_conf_key *schema;
	size_t n;
	char **values; /* NULL = not set (default applies) */
};

tds_config *tds_config_new(const tds_conf_key *schema, size_t n)
{
	tds_config *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->values = calloc(n ? n : 1, sizeof *c->values);
	if (!c->values) {
		free(c);
		return NULL;
	}
	c->schema = schema;
	c->n = n;
	return c;
}

void tds_config_free(tds_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->values[i]);
	free(c->values);
	free(c);
}

static ssize_t find(const tds_config *c, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->schema[i].key, key) == 0)
			return (ssize_t)i;
	return -1;
}

static int parse_int(const char *v, int64_t *out)
{
	if (!v || !*v)
		return -1;
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || *end || end == v)
		return -1;
	*out = x;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcmp(v, yes[i]) == 0)
			return *out = true, 0;
		if (strcmp(v, no[i]) == 0)
			return *out = false, 0;
	}
	return -1;
}

static int validate(const tds_conf_key *k, const char *value)
{
	if (!tds_utf8_valid(value, strlen(value)))
		return tds_error_set(TDS_EINVAL, "invalid_config", "%s: value is not valid UTF-8", k->key);
	for (const char *p = value; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) /* also refuses INI multi-line values */
			return tds_error_set(TDS_EINVAL, "invalid_config", "%s: value contains a control character",
					     k->key);
		/* what tds.conf could not hold: it would read back as a comment or lose its spaces */
		if (*p == ';' && (p == value || p[-1] == ' '))
			return tds_error_set(TDS_EINVAL, "invalid_config",
					     "%s: a ';' at the start of a value or after a space starts a comment", k->key);
	}
	size_t n = strlen(value);
	if (n > MAX_VALUE)
		return tds_error_set(TDS_EINVAL, "invalid_config", "%s: value is longer than %d bytes", k->key, MAX_VALUE);
	if (n && (value[0] == ' ' || value[n - 1] == ' '))
		return tds_error_set(TDS_EINVAL, "invalid_config", "%s: value has leading or trailing spaces", k->key);
	if (k->type == TDS_CONF_INT) {
		int64_t x;
		if (parse_int(value, &x))
			return tds_error_set(TDS_EINVAL, "invalid_config", "%s must be an integer, got '%.64s'", k->key,
					     value);
		if (x < k->min || x > k->max)
			return tds_error_set(TDS_EINVAL, "invalid_config", "%s must be between %lld and %lld, got %lld",
					     k->key, (long long)k->min, (long long)k->max, (long long)x);
	} else if (k->type == TDS_CONF_BOOL) {
		bool b;
		if (parse_bool(value, &b))
			return tds_error_set(TDS_EINVAL, "invalid_config", "%s must be true or false, got '%.64s'",
					     k->key, value);
	}
	return 0;
}

int tds_config_set(tds_config *c, const char *key, const char *value)
{
	ssize_t i = find(c, key);
	if (i < 0)
		return tds_error_set(TDS_EINVAL, "unknown_config_key", "unknown configuration key '%.80s'", key);
	int rc = validate(&c->schema[i], value);
	if (rc)
		return rc;
	char *dup = strdup(value);
	if (!dup)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	free(c->values[i]);
	c->values[i] = dup;
	return 0;
}

typedef struct load_ctx {
	tds_config *c;
	int failed;
	bool *seen; /* per schema key: set by this file already (also catches INI continuation lines) */
} load_ctx;

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
	load_ctx *lc = user;
	if (lc->failed) /* keep the first error; inih goes on reading */
		return 1;
	char key[256];
	if (!section[0]) {
		tds_error_set(TDS_EINVAL, "invalid_config", "key '%.64s' must be inside a [section]", name);
		lc->failed = 1;
		return 0;
	}
	snprintf(key, sizeof key, "%s.%s", section, name);
	ssize_t i = find(lc->c, key);
	if (i >= 0 && lc->seen[i]) {
		tds_error_set(TDS_EINVAL, "invalid_config", "%.80s is set twice (or continued on an indented line)", key);
		lc->failed = 1;
		return 0;
	}
	if (i >= 0)
		lc->seen[i] = true;
	if (tds_config_set(lc->c, key, value)) {
		lc->failed = 1;
		return 0;
	}
	return 1;
}

static int finish(load_ctx *lc, int rc, const char *what)
{
	if (rc == 0 && !lc->failed)
		return 0;
	if (rc == -2)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory reading %s", what);
	if (lc->failed)
		return tds_error_wrap("%s line %d: ", what, rc);
	return tds_error_set(TDS_EINVAL, "invalid_config",
			     "%s line %d: syntax error (expected [section] or key = value)", what, rc);
}

static int check_lines(const char *text, size_t len, const char *what)
{
	size_t line = 1, start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || text[i] == '\n') {
			if (i - start > MAX_LINE)
				return tds_error_set(TDS_EINVAL, "invalid_config", "%s line %zu is longer than %d bytes",
						     what, line, MAX_LINE);
			line++;
			start = i + 1;
		}
	}
	return 0;
}

int tds_config_load_string(tds_config *c, const char *text, size_t len)
{
	if (memchr(text, 0, len))
		return tds_error_set(TDS_EINVAL, "invalid_config", "configuration contains a NUL byte");
	if (check_lines(text, len, "configuration"))
		return TDS_EINVAL;
	char *copy = malloc(len + 1);
	if (!copy)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	memcpy(copy, text, len);
	copy[len] = 0;
	load_ctx lc = {c, 0, calloc(c->n ? c->n : 1, sizeof(bool))};
	if (!lc.seen) {
		free(copy);
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	}
	int rc = ini_parse_string(copy, on_entry, &lc);
	free(copy);
	free(lc.seen);
	return finish(&lc, rc, "configuration");
}

int tds_config_load_file(tds_config *c, const char *path)
{
	tds_buf b = TDS_BUF_INIT;
	int rc = tds_file_read(path, 1 << 20, &b);
	if (rc) {
		tds_buf_free(&b);
		return rc;
	}
	load_ctx lc = {c, 0, NULL};
	if (memchr(b.data, 0, b.len)) {
		tds_buf_free(&b);
		return tds_error_set(TDS_EINVAL, "invalid_config", "%s contains a NUL byte", path);
	}
	if (check_lines(b.data, b.len, path)) {
		tds_buf_free(&b);
		return TDS_EINVAL;
	}
	if (!(lc.seen = calloc(c->n ? c->n : 1, sizeof(bool)))) {
		tds_buf_free(&b);
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	}
	rc = ini_parse_string(b.data, on_entry, &lc);
	free(lc.seen);
	tds_buf_free(&b);
	return finish(&lc, rc, path);
}

int tds_config_load_env(tds_config *c, char *const *envp)
{
	for (; envp && *envp; envp++) {
		const char *e = *envp;
		if (strncmp(e, "TDS_", 4) != 0)
			continue;
		const char *eq = strchr(e, '=');
		if (!eq || eq - e - 4 <= 0 || eq - e - 4 >= 200)
			continue;
		char key[256];
		size_t n = (size_t)(eq - e - 4);
		bool dotted = false;
		for (size_t i = 0; i < n; i++) {
			char ch = e[4 + i];
			if (ch == '_' && !dotted) {
				key[i] = '.';
				dotted = true;
			} else {
				key[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
			}
		}
		key[n] = 0;
		if (find(c, key) < 0)
			continue;
		if (tds_config_set(c, key, eq + 1))
			return tds_error_wrap("environment variable %.*s: ", (int)(eq - e), e);
	}
	return 0;
}

const char *tds_config_get(const tds_config *c, const char *key)
{
	ssize_t i = find(c, key);
	if (i < 0)
		return NULL;
	return c->values[i] ? c->values[i] : c->schema[i].def;
}

int64_t tds_config_int(const tds_config *c, const char *key)
{
	int64_t x = 0;
	const char *v = tds_config_get(c, key);
	if (v && parse_int(v, &x) == 0)
		return x;
	return 0;
}

bool tds_config_bool(const tds_config *c, const char *key)
{
	bool b = false;
	const char *v = tds_config_get(c, key);
	if (v)
		parse_bool(v, &b);
	return b;
}

int tds_config_write(const tds_config *c, tds_buf *out)
{
	/* sections in schema order, each once */
	for (size_t i = 0; i < c->n; i++) {
		const char *dot = strchr(c->schema[i].key, '.');
		size_t slen = (size_t)(dot - c->schema[i].key);
		bool seen = false, any = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strncmp(c->schema[j].key, c->schema[i].key, slen + 1) == 0;
		if (seen)
			continue;
		for (size_t j = i; j < c->n; j++) {
			if (strncmp(c->schema[j].key, c->schema[i].key, slen + 1) != 0 || !c->values[j])
				continue;
			if (!any && tds_buf_printf(out, "%s[%.*s]\n", out->len ? "\n" : "", (int)slen, c->schema[i].key))
				return tds_error_code();
			any = true;
			if (c->schema[j].help && tds_buf_printf(out, "; %s\n", c->schema[j].help))
				return tds_error_code();
			if (tds_buf_printf(out, "%s = %s\n", c->schema[j].key + slen + 1, c->values[j]))
				return tds_error_code();
		}
	}
	return 0;
}
