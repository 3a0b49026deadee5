/*
 * result.c — scan results: the table and its summary, the JSON form ("tds.anon.scan/1") both ways,
 * and reviewer overrides (人工复核) on top of what was detected. Not for deciding anything from
 * values (scan.c).
 *
 * A table owns all its strings through one arena. An override replaces a column's verdict and
 * keeps the detected one beside it (`detected`), so the JSON always shows both; the summary is
 * recomputed from the columns after every change.
 */
#include "anon/internal.h"

#include <stdio.h>
#include <stdlib.h>

tds_anon_table *anon_table_new(const tds_anon_rules *r, size_t ncols)
{
	tds_arena *a = tds_arena_new(64 * 1024);
	tds_anon_table *t = tds_arena_alloc(a, sizeof *t);
	t->arena = a;
	t->rules_version = tds_arena_strdup(a, r->version);
	memcpy(t->grade, r->grade, sizeof t->grade);
	t->default_level = r->default_level;
	t->ncols = ncols;
	t->cols = tds_arena_alloc(a, (ncols + 1) * sizeof *t->cols);
	return t;
}

void anon_table_summarize(tds_anon_table *t)
{
	tds_anon_summary *s = &t->sum;
	s->level = t->ncols ? TDS_ANON_LEVEL_MIN : t->default_level;
	s->pi = s->spi = false;
	s->identifiability = TDS_ANON_ID_NOT_PERSONAL;
	s->columns_pi = s->columns_spi = s->columns_overridden = 0;
	for (size_t i = 0; i < t->ncols; i++) {
		const tds_anon_column *c = &t->cols[i];
		if (c->verdict.level > s->level)
			s->level = c->verdict.level;
		s->pi |= c->verdict.pi;
		s->spi |= c->verdict.spi;
		s->columns_pi += c->verdict.pi;
		s->columns_spi += c->verdict.spi;
		s->columns_overridden += c->overridden;
		if (c->verdict.identifiability > s->identifiability)
			s->identifiability = c->verdict.identifiability;
	}
	s->grade = t->grade[s->level];
}

size_t tds_anon_table_ncolumns(const tds_anon_table *t) { return t->ncols; }

const tds_anon_column *tds_anon_table_column(const tds_anon_table *t, size_t i)
{
	return i < t->ncols ? &t->cols[i] : NULL;
}

const tds_anon_column *tds_anon_table_find(const tds_anon_table *t, const char *name)
{
	for (size_t i = 0; name && i < t->ncols; i++)
		if (strcmp(t->cols[i].name, name) == 0)
			return &t->cols[i];
	return NULL;
}

const tds_anon_summary *tds_anon_table_summary(const tds_anon_table *t) { return &t->sum; }

void tds_anon_table_free(tds_anon_table *t)
{
	if (t)
		tds_arena_free(t->arena);
}

/* ------------------------------------------------------------------------------------------------
 * JSON out
 * ---------------------------------------------------------------------------------------------- */

static json_t *level_json(int level)
{
	char l[4] = {'L', (char)('0' + level), 0};
	return json_string(l);
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *verdict_json(const tds_anon_table *t, const tds_anon_verdict *v)
{
	json_t *o = json_object();
	json_object_set_new(o, "category", json_string(tds_anon_category_name(v->category)));
	json_object_set_new(o, "pi", json_boolean(v->pi));
	json_object_set_new(o, "spi", json_boolean(v->spi));
	json_object_set_new(o, "identifiability", json_string(tds_anon_identifiability_name(v->identifiability)));
	json_object_set_new(o, "level", level_json(v->level));
	json_object_set_new(o, "grade", json_string(tds_anon_grade_name(t->grade[v->level])));
	json_object_set_new(o, "grade_zh", json_string(tds_anon_grade_name_zh(t->grade[v->level])));
	return o;
}

static json_t *round3(double x) { return json_real((double)(int64_t)(x * 10000 + 0.5) / 10000); }

static json_t *mask_json(const tds_anon_mask *m)
{
	json_t *o = json_pack("{s:s}", "method", tds_anon_mask_method_name(m->method));
	if (m->method == TDS_ANON_MASK_KEEP) {
		json_object_set_new(o, "first", json_integer(m->first));
		json_object_set_new(o, "last", json_integer(m->last));
	}
	return o;
}

json_t *tds_anon_table_json(const tds_anon_table *t)
{
	const tds_anon_summary *s = &t->sum;
	json_t *sum = verdict_json(t, &(tds_anon_verdict){TDS_ANON_CAT_OTHER, s->pi, s->spi, s->identifiability, s->level});
	json_object_del(sum, "category");
	json_object_set_new(sum, "columns", json_integer((json_int_t)t->ncols));
	json_object_set_new(sum, "columns_pi", json_integer((json_int_t)s->columns_pi));
	json_object_set_new(sum, "columns_spi", json_integer((json_int_t)s->columns_spi));
	json_object_set_new(sum, "columns_overridden", json_integer((json_int_t)s->columns_overridden));
	json_object_set_new(sum, "rows_scanned", json_integer((json_int_t)s->rows_scanned));
	json_object_set_new(sum, "rows_total", json_integer((json_int_t)s->rows_total));
	json_t *cols = json_array();
	for (size_t i = 0; i < t->ncols; i++) {
		const tds_anon_column *c = &t->cols[i];
		json_t *o = json_pack("{s:I, s:s, s:I, s:I}", "index", (json_int_t)c->index, "name", c->name, "values",
				      (json_int_t)c->values, "empty", (json_int_t)c->empty);
		json_t *vj = verdict_json(t, &c->verdict);
		json_object_update(o, vj);
		json_decref(vj);
		json_object_set_new(o, "detector", str_or_null(c->detector));
		json_object_set_new(o, "confidence", round3(c->confidence));
		json_object_set_new(o, "spi_basis", str_or_null(c->verdict.spi ? c->spi_basis : NULL));
		json_object_set_new(o, "mask", mask_json(&c->mask));
		json_t *hits = json_array();
		for (size_t k = 0; k < c->nhits; k++) {
			const tds_anon_hit *h = &c->hits[k];
			json_array_append_new(hits, json_pack("{s:s, s:s, s:I, s:o, s:o, s:b, s:b}", "detector", h->detector,
							      "name", h->name, "hits", (json_int_t)h->hits, "ratio",
							      round3(h->ratio), "confidence", round3(h->confidence),
							      "context", h->context, "fired", h->fired));
		}
		json_object_set_new(o, "hits", hits);
		json_t *rs = json_array();
		for (size_t k = 0; k < c->nreasons; k++)
			json_array_append_new(rs, json_string(c->reasons[k]));
		json_object_set_new(o, "reasons", rs);
		if (c->overridden) {
			json_t *ov = json_pack("{s:s, s:o, s:o}", "reason", c->override_reason, "by",
					       str_or_null(c->override_by), "detected", verdict_json(t, &c->detected));
			json_object_set_new(o, "override", ov);
		} else {
			json_object_set_new(o, "override", json_null());
		}
		json_array_append_new(cols, o);
	}
	return json_pack("{s:s, s:s, s:o, s:o}", "format", "tds.anon.scan/1", "rules_version", t->rules_version,
			 "summary", sum, "columns", cols);
}

/* ------------------------------------------------------------------------------------------------
 * Verdict checks shared by overrides and the JSON reader
 * ---------------------------------------------------------------------------------------------- */

static int check_verdict(const tds_anon_verdict *v, const char *code, const char *where)
{
	if (v->level < TDS_ANON_LEVEL_MIN || v->level > TDS_ANON_LEVEL_MAX)
		return tds_error_set(TDS_EINVAL, code, "%s: level must be L1-L4", where);
	if (!tds_anon_category_name(v->category))
		return tds_error_set(TDS_EINVAL, code, "%s: unknown category", where);
	if (!tds_anon_identifiability_name(v->identifiability))
		return tds_error_set(TDS_EINVAL, code, "%s: unknown identifiability", where);
	if (v->spi && !v->pi)
		return tds_error_set(TDS_EINVAL, code,
				     "%s: sensitive personal information is personal information: spi needs pi", where);
	if (!v->pi && v->identifiability >= TDS_ANON_ID_UNLINKED)
		return tds_error_set(TDS_EINVAL, code, "%s: identifiability %s implies personal information (pi)", where,
				     tds_anon_identifiability_name(v->identifiability));
	if (v->pi && v->identifiability == TDS_ANON_ID_NOT_PERSONAL)
		return tds_error_set(TDS_EINVAL, code, "%s: personal information cannot be not_personal", where);
	return 0;
}

static int level_from(const json_t *v, int *out)
{
	const char *s = json_string_value(v);
	if (!s || strlen(s) != 2 || s[0] != 'L' || s[1] < '1' || s[1] > '4')
		return -1;
	*out = s[1] - '0';
	return 0;
}

/* Reads verdict members present in o into v (others untouched). `p` prefixes messages. */
static int verdict_from(const json_t *o, tds_anon_verdict *v, const char *code, const char *p)
{
	json_t *x;
	if ((x = json_object_get(o, "category")) && tds_anon_category_parse(json_string_value(x), &v->category))
		return tds_error_set(TDS_EINVAL, code, "%scategory must be personal, enterprise, public_affairs or other", p);
	if ((x = json_object_get(o, "pi"))) {
		if (!json_is_boolean(x))
			return tds_error_set(TDS_EINVAL, code, "%spi must be true or false", p);
		v->pi = json_is_true(x);
	}
	if ((x = json_object_get(o, "spi"))) {
		if (!json_is_boolean(x))
			return tds_error_set(TDS_EINVAL, code, "%sspi must be true or false", p);
		v->spi = json_is_true(x);
	}
	if ((x = json_object_get(o, "identifiability")) &&
	    tds_anon_identifiability_parse(json_string_value(x), &v->identifiability))
		return tds_error_set(TDS_EINVAL, code,
				     "%sidentifiability must be identified, pseudonymized, unlinked_pseudonymized, anonymized, "
				     "aggregated or not_personal",
				     p);
	if ((x = json_object_get(o, "level")) && level_from(x, &v->level))
		return tds_error_set(TDS_EINVAL, code, "%slevel must be \"L1\", \"L2\", \"L3\" or \"L4\"", p);
	return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Overrides
 * ---------------------------------------------------------------------------------------------- */

static tds_anon_column *find_mut(tds_anon_table *t, const char *name)
{
	return (tds_anon_column *)tds_anon_table_find(t, name);
}

int tds_anon_override(tds_anon_table *t, const char *column, const tds_anon_verdict *v, const char *reason,
		      const char *by)
{
	tds_anon_column *c = column ? find_mut(t, column) : NULL;
	if (!c)
		return tds_error_set(TDS_ENOTFOUND, "anon_unknown_column", "the scanned table has no column named '%.100s'",
				     column ? column : "");
	if (!reason || !*reason)
		return tds_error_set(TDS_EINVAL, "invalid_anon_override",
				     "an override needs a reason: say why the reviewer disagrees with the scan");
	if (strlen(reason) > 1000 || !tds_utf8_valid(reason, strlen(reason)))
		return tds_error_set(TDS_EINVAL, "invalid_anon_override", "the reason must be UTF-8 of at most 1,000 bytes");
	if (by && (strlen(by) > 200 || !tds_utf8_valid(by, strlen(by))))
		return tds_error_set(TDS_EINVAL, "invalid_anon_override", "by must be UTF-8 of at most 200 bytes");
	int rc = check_verdict(v, "invalid_anon_override", "override");
	if (rc)
		return rc;
	c->verdict = *v;
	c->grade = t->grade[v->level];
	c->overridden = true;
	c->override_reason = tds_arena_strdup(t->arena, reason);
	c->override_by = by ? tds_arena_strdup(t->arena, by) : NULL;
	if (v->spi && !c->spi_basis)
		c->spi_basis = tds_arena_strdup(t->arena, "reviewer's judgement (see the override reason)");
	anon_table_summarize(t);
	return 0;
}

int tds_anon_override_json(tds_anon_table *t, const json_t *o)
{
	char em[512];
	static const tds_json_field fields[] = {
	    {"column", TDS_JSON_STRING, true, 1000},	  {"reason", TDS_JSON_STRING, true, 1000},
	    {"by", TDS_JSON_STRING, false, 200},	  {"category", TDS_JSON_STRING, false, 32},
	    {"pi", TDS_JSON_BOOL, false, 0},		  {"spi", TDS_JSON_BOOL, false, 0},
	    {"identifiability", TDS_JSON_STRING, false, 32}, {"level", TDS_JSON_STRING, false, 2},
	};
	if (tds_json_check(o, fields, TDS_ARRAY_LEN(fields), false))
		return tds_error_set(TDS_EINVAL, "invalid_anon_override", "override: %s", ANON_ERRMSG(em));
	const char *name = tds_json_str(o, "column", NULL);
	const tds_anon_column *c = tds_anon_table_find(t, name);
	if (!c)
		return tds_error_set(TDS_ENOTFOUND, "anon_unknown_column", "the scanned table has no column named '%.100s'",
				     name);
	tds_anon_verdict v = c->detected;
	int rc = verdict_from(o, &v, "invalid_anon_override", "override: ");
	if (rc)
		return rc;
	return tds_anon_override(t, name, &v, tds_json_str(o, "reason", NULL), tds_json_str(o, "by", NULL));
}

/* ------------------------------------------------------------------------------------------------
 * JSON in
 * ---------------------------------------------------------------------------------------------- */

#define BAD_SCAN(...) tds_error_set(TDS_EINVAL, "invalid_anon_scan", __VA_ARGS__)

static int mask_from(const json_t *o, tds_anon_mask *m, const char *p)
{
	char em[512];
	static const tds_json_field f[] = {
	    {"method", TDS_JSON_STRING, true, 16}, {"first", TDS_JSON_INTEGER, false, 0}, {"last", TDS_JSON_INTEGER, false, 0}};
	if (tds_json_check(o, f, TDS_ARRAY_LEN(f), false))
		return BAD_SCAN("%s.mask: %s", p, ANON_ERRMSG(em));
	const char *meth = tds_json_str(o, "method", "");
	int i = 0;
	while (tds_anon_mask_method_name((tds_anon_mask_method)i) && strcmp(tds_anon_mask_method_name((tds_anon_mask_method)i), meth))
		i++;
	if (!tds_anon_mask_method_name((tds_anon_mask_method)i))
		return BAD_SCAN("%s.mask.method: unknown method", p);
	m->method = (tds_anon_mask_method)i;
	int64_t first = tds_json_int(o, "first", 0), last = tds_json_int(o, "last", 0);
	if (first < 0 || first > 64 || last < 0 || last > 64)
		return BAD_SCAN("%s.mask: first and last are 0-64", p);
	m->first = (int)first;
	m->last = (int)last;
	return 0;
}

static int full_verdict(const json_t *o, tds_anon_verdict *v, const char *p)
{
	static const char *const need[] = {"category", "pi", "spi", "identifiability", "level"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(need); i++)
		if (!json_object_get(o, need[i]))
			return BAD_SCAN("%s.%s: required member is missing", p, need[i]);
	char pre[96];
	snprintf(pre, sizeof pre, "%s.", p);
	int rc = verdict_from(o, v, "invalid_anon_scan", pre);
	return rc ? rc : check_verdict(v, "invalid_anon_scan", p);
}

static int column_from(tds_anon_table *t, const json_t *o, size_t i, tds_anon_column *c)
{
	char em[512];
	static const tds_json_field f[] = {
	    {"index", TDS_JSON_INTEGER, true, 0},	  {"name", TDS_JSON_STRING, true, 0},
	    {"values", TDS_JSON_INTEGER, true, 0},	  {"empty", TDS_JSON_INTEGER, true, 0},
	    {"category", TDS_JSON_STRING, true, 32},	  {"pi", TDS_JSON_BOOL, true, 0},
	    {"spi", TDS_JSON_BOOL, true, 0},		  {"identifiability", TDS_JSON_STRING, true, 32},
	    {"level", TDS_JSON_STRING, true, 2},	  {"grade", TDS_JSON_STRING, false, 16},
	    {"grade_zh", TDS_JSON_STRING, false, 16},	  {"detector", TDS_JSON_ANY, false, 0},
	    {"confidence", TDS_JSON_ANY, true, 0},	  {"spi_basis", TDS_JSON_ANY, false, 0},
	    {"mask", TDS_JSON_OBJECT, true, 0},		  {"hits", TDS_JSON_ARRAY, true, 0},
	    {"reasons", TDS_JSON_STRING_ARRAY, true, 0}, {"override", TDS_JSON_ANY, false, 0},
	};
	char p[40];
	snprintf(p, sizeof p, "columns[%zu]", i);
	if (!json_is_object(o))
		return BAD_SCAN("%s: must be an object", p);
	if (tds_json_check(o, f, TDS_ARRAY_LEN(f), false))
		return BAD_SCAN("%s: %s", p, ANON_ERRMSG(em));
	tds_arena *a = t->arena;
	c->index = i;
	if (tds_json_int(o, "index", -1) != (int64_t)i)
		return BAD_SCAN("%s.index: columns are listed in order from 0", p);
	c->name = tds_arena_strdup(a, tds_json_str(o, "name", ""));
	int64_t values = tds_json_int(o, "values", -1), empty = tds_json_int(o, "empty", -1);
	if (values < 0 || empty < 0)
		return BAD_SCAN("%s: values and empty are counts (0 or more)", p);
	c->values = (uint64_t)values;
	c->empty = (uint64_t)empty;
	int rc = full_verdict(o, &c->verdict, p);
	if (rc)
		return rc;
	c->grade = t->grade[c->verdict.level];
	c->detected = c->verdict;
	json_t *x = json_object_get(o, "detector");
	if (x && !json_is_null(x) && !json_is_string(x))
		return BAD_SCAN("%s.detector: must be a string or null", p);
	c->detector = json_is_string(x) ? tds_arena_strdup(a, json_string_value(x)) : NULL;
	x = json_object_get(o, "confidence");
	if (!json_is_number(x) || json_number_value(x) < 0 || json_number_value(x) > 1)
		return BAD_SCAN("%s.confidence: must be a number from 0 to 1", p);
	c->confidence = json_number_value(x);
	x = json_object_get(o, "spi_basis");
	if (x && !json_is_null(x) && !json_is_string(x))
		return BAD_SCAN("%s.spi_basis: must be a string or null", p);
	c->spi_basis = json_is_string(x) ? tds_arena_strdup(a, json_string_value(x)) : NULL;
	if ((rc = mask_from(json_object_get(o, "mask"), &c->mask, p)))
		return rc;
	json_t *hs = json_object_get(o, "hits");
	tds_anon_hit *hits = tds_arena_alloc(a, (json_array_size(hs) + 1) * sizeof *hits);
	for (size_t k = 0; k < json_array_size(hs); k++) {
		static const tds_json_field hf[] = {
		    {"detector", TDS_JSON_STRING, true, 100}, {"name", TDS_JSON_STRING, true, 400},
		    {"hits", TDS_JSON_INTEGER, true, 0},      {"ratio", TDS_JSON_ANY, true, 0},
		    {"confidence", TDS_JSON_ANY, true, 0},    {"context", TDS_JSON_BOOL, true, 0},
		    {"fired", TDS_JSON_BOOL, true, 0}};
		json_t *h = json_array_get(hs, k);
		if (!json_is_object(h) || tds_json_check(h, hf, TDS_ARRAY_LEN(hf), false))
			return BAD_SCAN("%s.hits[%zu]: %s", p, k, json_is_object(h) ? ANON_ERRMSG(em) : "must be an object");
		json_t *ra = json_object_get(h, "ratio"), *co = json_object_get(h, "confidence");
		if (!json_is_number(ra) || !json_is_number(co) || tds_json_int(h, "hits", -1) < 0)
			return BAD_SCAN("%s.hits[%zu]: hits is a count, ratio and confidence are numbers", p, k);
		hits[k] = (tds_anon_hit){.detector = tds_arena_strdup(a, tds_json_str(h, "detector", "")),
					 .name = tds_arena_strdup(a, tds_json_str(h, "name", "")),
					 .hits = (uint64_t)tds_json_int(h, "hits", 0), .ratio = json_number_value(ra),
					 .confidence = json_number_value(co), .context = tds_json_bool(h, "context", false),
					 .fired = tds_json_bool(h, "fired", false)};
	}
	c->hits = hits;
	c->nhits = json_array_size(hs);
	json_t *rs = json_object_get(o, "reasons");
	const char **reasons = tds_arena_alloc(a, (json_array_size(rs) + 1) * sizeof *reasons);
	for (size_t k = 0; k < json_array_size(rs); k++)
		reasons[k] = tds_arena_strdup(a, json_string_value(json_array_get(rs, k)));
	c->reasons = reasons;
	c->nreasons = json_array_size(rs);
	json_t *ov = json_object_get(o, "override");
	if (!ov || json_is_null(ov))
		return 0;
	static const tds_json_field of[] = {
	    {"reason", TDS_JSON_STRING, true, 1000}, {"by", TDS_JSON_ANY, false, 0}, {"detected", TDS_JSON_OBJECT, true, 0}};
	char po[64];
	snprintf(po, sizeof po, "%s.override", p);
	if (!json_is_object(ov) || tds_json_check(ov, of, TDS_ARRAY_LEN(of), false))
		return BAD_SCAN("%s: %s", po, json_is_object(ov) ? ANON_ERRMSG(em) : "must be an object or null");
	json_t *by = json_object_get(ov, "by");
	if (by && !json_is_null(by) && !json_is_string(by))
		return BAD_SCAN("%s.by: must be a string or null", po);
	json_t *dj = json_object_get(ov, "detected");
	static const tds_json_field vf[] = {
	    {"category", TDS_JSON_STRING, true, 32}, {"pi", TDS_JSON_BOOL, true, 0},
	    {"spi", TDS_JSON_BOOL, true, 0},	     {"identifiability", TDS_JSON_STRING, true, 32},
	    {"level", TDS_JSON_STRING, true, 2},     {"grade", TDS_JSON_STRING, false, 16},
	    {"grade_zh", TDS_JSON_STRING, false, 16}};
	char pd[80];
	snprintf(pd, sizeof pd, "%s.detected", po);
	if (tds_json_check(dj, vf, TDS_ARRAY_LEN(vf), false))
		return BAD_SCAN("%s: %s", pd, ANON_ERRMSG(em));
	if ((rc = full_verdict(dj, &c->detected, pd)))
		return rc;
	c->overridden = true;
	c->override_reason = tds_arena_strdup(a, tds_json_str(ov, "reason", ""));
	c->override_by = json_is_string(by) ? tds_arena_strdup(a, json_string_value(by)) : NULL;
	if (!*c->override_reason)
		return BAD_SCAN("%s.reason: must not be empty", po);
	return 0;
}

int tds_anon_table_from_json(const tds_anon_rules *r, const json_t *j, tds_anon_table **out)
{
	char em[512];
	*out = NULL;
	static const tds_json_field f[] = {{"format", TDS_JSON_STRING, true, 64},
					   {"rules_version", TDS_JSON_STRING, true, 100},
					   {"summary", TDS_JSON_OBJECT, true, 0},
					   {"columns", TDS_JSON_ARRAY, true, 0}};
	if (!json_is_object(j) || tds_json_check(j, f, TDS_ARRAY_LEN(f), false))
		return BAD_SCAN("scan result: %s", json_is_object(j) ? ANON_ERRMSG(em) : "must be a JSON object");
	if (strcmp(tds_json_str(j, "format", ""), "tds.anon.scan/1") != 0)
		return BAD_SCAN("format: must be \"tds.anon.scan/1\"");
	json_t *cols = json_object_get(j, "columns"), *sum = json_object_get(j, "summary");
	if (json_array_size(cols) > 16384)
		return BAD_SCAN("columns: at most 16,384 columns");
	int64_t scanned = tds_json_int(sum, "rows_scanned", -1), total = tds_json_int(sum, "rows_total", -1);
	if (scanned < 0 || total < 0)
		return BAD_SCAN("summary: rows_scanned and rows_total are required counts");
	tds_anon_table *t = anon_table_new(r, json_array_size(cols));
	t->rules_version = tds_arena_strdup(t->arena, tds_json_str(j, "rules_version", ""));
	for (size_t i = 0; i < t->ncols; i++) {
		int rc = column_from(t, json_array_get(cols, i), i, &t->cols[i]);
		if (rc) {
			tds_anon_table_free(t);
			return rc;
		}
	}
	t->sum.rows_scanned = (uint64_t)scanned;
	t->sum.rows_total = (uint64_t)total;
	anon_table_summarize(t);
	*out = t;
	return 0;
}
