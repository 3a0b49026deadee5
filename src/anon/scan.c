/*
 * scan.c — the scan engine: values in, per-column tallies, then the verdict of every column and of
 * the table. Not for reading CSV (csv.c), rules (rules.c) or JSON (result.c).
 *
 * Hot path (tds_anon_scan_value): trim, null markers, one pass over the bytes OR-ing their shape
 * classes, a per-column cache from (shape, length) to the detectors whose pre-filter admits it,
 * then those validators in priority order until an exclusive one matches. No allocation, no
 * locking; typically one or two validators run per value.
 *
 * Decision (tds_anon_scan_finish), per column:
 *   1. a value detector fires when it matched at least min_values values and its hit ratio reaches
 *      min_hit_ratio, or context_min_hit_ratio when the column name matched its keywords; a column
 *      detector fires when the name matched;
 *   2. when nothing fired, value detectors each with at least secondary_min_ratio fire together if
 *      their ratios add up to the threshold (mixed columns: emails and IP addresses);
 *   3. once something fired, value detectors with at least secondary_min_ratio fire too;
 *   4. the deciding detector is the fired one with the highest level, then the most hits; the
 *      category is its category; pi, spi are the OR of the fired; the level their maximum;
 *      identifiability the most identifying (attribute detectors take the table's);
 *   5. table-wide: attribute columns, escalations by row count, grades from levels.
 */
#include "anon/internal.h"

#include <stdio.h>
#include <stdlib.h>

#define MAX_COLUMNS 16384
#define CACHE_BITS 5

typedef struct ccache {
	uint32_t key;
	uint64_t mask;
} ccache;

typedef struct col {
	const char *name;
	uint64_t cand; /* value detectors that may run on this column */
	uint64_t ctx;  /* detectors whose keywords the column name matched */
	uint64_t values, empty, minors;
	uint64_t *hits; /* per detector */
	ccache cache[1u << CACHE_BITS];
} col;

struct tds_anon_scan {
	const tds_anon_rules *r;
	tds_arena *arena;
	col *cols;
	size_t ncols;
	vctx vc;
	uint64_t rows, rows_total;
};

int tds_anon_scan_new(const tds_anon_rules *r, const char *const *names, size_t ncols, const tds_anon_scan_opts *opts,
		      tds_anon_scan **out)
{
	*out = NULL;
	if (ncols == 0 || ncols > MAX_COLUMNS)
		return tds_error_set(TDS_EINVAL, "invalid_scan", "a scanned table has 1 to %d columns, not %zu", MAX_COLUMNS,
				     ncols);
	for (size_t c = 0; names && c < ncols; c++)
		if (names[c] && !tds_utf8_valid(names[c], strlen(names[c])))
			return tds_error_set(TDS_EINVAL, "invalid_scan", "column %zu: the name is not valid UTF-8", c + 1);
	tds_arena *a = tds_arena_new(256 * 1024);
	tds_anon_scan *s = tds_arena_alloc(a, sizeof *s);
	s->r = r;
	s->arena = a;
	s->ncols = ncols;
	s->cols = tds_arena_alloc(a, ncols * sizeof *s->cols);
	s->vc.today = anon_today(opts ? opts->now_ms : 0);
	s->rows_total = opts ? opts->rows_total : 0;
	for (size_t c = 0; c < ncols; c++) {
		col *cl = &s->cols[c];
		cl->name = tds_arena_strdup(a, names && names[c] ? names[c] : "");
		cl->hits = tds_arena_alloc(a, (r->ndet + 1) * sizeof *cl->hits);
		for (size_t i = 0; i < r->ndet; i++) {
			const det *d = &r->det[i];
			bool ctx = anon_context_match(d->ctx, d->nctx, cl->name) >= 0 &&
				   anon_context_match(d->ctx_ex, d->nctx_ex, cl->name) < 0;
			if (ctx)
				cl->ctx |= UINT64_C(1) << i;
			if (d->kind != K_COLUMN && (!d->requires_context || ctx))
				cl->cand |= UINT64_C(1) << i;
		}
	}
	*out = s;
	return 0;
}

void tds_anon_scan_free(tds_anon_scan *s)
{
	if (s)
		tds_arena_free(s->arena);
}

/* Detectors of `cand` whose pre-filter admits this shape and length (SIZE_MAX: any length). */
static uint64_t prefilter(const tds_anon_rules *r, uint64_t cand, uint32_t shape, size_t len)
{
	uint64_t m = 0;
	while (cand) {
		int i = __builtin_ctzll(cand);
		cand &= cand - 1;
		const det *d = &r->det[i];
		if ((shape & ~d->allowed) == 0 && (shape & d->required) == d->required && (!d->any_of || (shape & d->any_of)) &&
		    (len == SIZE_MAX || (len >= d->min_len && len <= d->max_len)))
			m |= UINT64_C(1) << i;
	}
	return m;
}

static bool is_null(const tds_anon_rules *r, const unsigned char *v, size_t len)
{
	if (len > r->null_max || (len < 32 && !(r->null_lens >> len & 1)))
		return false;
	for (size_t i = 0; i < r->nnulls; i++) {
		if (r->null_len[i] != len)
			continue;
		size_t k = 0;
		while (k < len && (unsigned char)r->nulls[i][k] == v[k])
			k++;
		if (k == len)
			return true;
	}
	return false;
}

uint64_t tds_anon_scan_value(tds_anon_scan *s, size_t ci, const char *v, size_t len)
{
	if (ci >= s->ncols || (!v && len))
		return 0;
	const tds_anon_rules *r = s->r;
	const unsigned char *p = (const unsigned char *)v;
	col *c = &s->cols[ci];
	while (len && (p[0] == ' ' || p[0] == '\t'))
		p++, len--;
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len == 0 || is_null(r, p, len)) {
		c->empty++;
		return 0;
	}
	c->values++;
	uint32_t shape = 0, s1 = 0, s2 = 0, s3 = 0; /* four chains, no dependency between them */
	size_t k = 0;
	for (; k + 4 <= len; k += 4) {
		shape |= r->shape[p[k]];
		s1 |= r->shape[p[k + 1]];
		s2 |= r->shape[p[k + 2]];
		s3 |= r->shape[p[k + 3]];
	}
	for (; k < len; k++)
		shape |= r->shape[p[k]];
	shape |= s1 | s2 | s3;
	uint64_t cand;
	if (len < 256) { /* shapes repeat within a column: cache the shape filter, then the length table */
		uint32_t key = shape + 1;
		ccache *e = &c->cache[(key * 2654435761u) >> (32 - CACHE_BITS)];
		if (e->key != key) {
			e->key = key;
			e->mask = prefilter(r, c->cand, shape, SIZE_MAX);
		}
		cand = e->mask & r->lenmask[len];
	} else {
		cand = prefilter(r, c->cand, shape, len);
	}
	uint64_t m = 0;
	while (cand) {
		int i = __builtin_ctzll(cand);
		cand &= cand - 1;
		const det *d = &r->det[i];
		bool minor = false;
		if (anon_match(d, &s->vc, p, len, &minor)) {
			m |= UINT64_C(1) << i;
			c->hits[i]++;
			c->minors += minor;
			if (d->exclusive)
				break;
		}
	}
	return m;
}

void tds_anon_scan_row(tds_anon_scan *s, const tds_anon_field *f, size_t n)
{
	if (n > s->ncols)
		n = s->ncols;
	for (size_t i = 0; i < n; i++)
		tds_anon_scan_value(s, i, f[i].data, f[i].len);
	s->rows++;
}

void tds_anon_scan_set_rows_total(tds_anon_scan *s, uint64_t rows) { s->rows_total = rows; }

/* ------------------------------------------------------------------------------------------------
 * Decision
 * ---------------------------------------------------------------------------------------------- */

typedef struct tally {
	size_t det;
	uint64_t hits;
	double ratio, conf;
	bool ctx, fired, together, secondary;
} tally;

/* fired first; among fired: higher level, value detectors before column detectors, more hits,
 * rule order; among the rest: higher ratio, rule order */
static bool before(const tds_anon_rules *r, const tally *a, const tally *b)
{
	if (a->fired != b->fired)
		return a->fired;
	if (a->fired) {
		const det *da = &r->det[a->det], *db = &r->det[b->det];
		if (da->level != db->level)
			return da->level > db->level;
		bool ca = da->kind == K_COLUMN, cb = db->kind == K_COLUMN;
		if (ca != cb)
			return cb;
		if (a->hits != b->hits)
			return a->hits > b->hits;
		return a->det < b->det;
	}
	if (a->ratio != b->ratio)
		return a->ratio > b->ratio;
	return a->det < b->det;
}

static char *pct(char buf[16], double x)
{
	snprintf(buf, 16, "%.1f%%", x * 100);
	return buf;
}

typedef struct colwork {
	bool pending; /* identifiability follows the table */
	tds_anon_identifiability own;
	const char **reasons;
	size_t nreasons, cap;
} colwork;

static void reason(tds_arena *a, colwork *w, const char *fmt, ...) TDS_PRINTF(3, 4);
static void reason(tds_arena *a, colwork *w, const char *fmt, ...)
{
	if (w->nreasons == w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 8;
		const char **n = tds_arena_alloc(a, nc * sizeof *n);
		if (w->nreasons)
			memcpy(n, w->reasons, w->nreasons * sizeof *n);
		w->reasons = n;
		w->cap = nc;
	}
	va_list ap;
	va_start(ap, fmt);
	char tmp[1024];
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	w->reasons[w->nreasons++] = tds_arena_strdup(a, tmp);
}

static void decide_column(const tds_anon_scan *s, const col *c, tds_anon_table *t, tds_anon_column *out, colwork *w)
{
	const tds_anon_rules *r = s->r;
	tds_arena *a = t->arena;
	tally *ts = calloc(r->ndet + 1, sizeof *ts);
	if (!ts)
		abort();
	size_t nfired = 0;
	char p1[16], p2[16];
	for (size_t i = 0; i < r->ndet; i++) {
		const det *d = &r->det[i];
		tally *x = &ts[i];
		x->det = i;
		x->ctx = (c->ctx >> i) & 1;
		x->hits = c->hits[i];
		if (d->kind == K_COLUMN) {
			x->fired = x->ctx;
			x->conf = d->confidence;
		} else {
			x->ratio = c->values ? (double)x->hits / (double)c->values : 0;
			double thr = x->ctx ? d->ctx_min_ratio : d->min_ratio;
			x->fired = c->values >= r->min_values && x->hits > 0 && x->ratio >= thr;
			x->conf = x->ratio * d->confidence + (x->ctx ? r->context_bonus : 0);
			if (x->conf > 1)
				x->conf = 1;
		}
		nfired += x->fired;
	}
	if (nfired == 0 && c->values >= r->min_values) { /* mixed columns */
		double sum = 0;
		bool any_ctx = false;
		for (size_t i = 0; i < r->ndet; i++)
			if (r->det[i].kind != K_COLUMN && ts[i].ratio >= r->secondary_ratio) {
				sum += ts[i].ratio;
				any_ctx |= ts[i].ctx;
			}
		if (sum >= (any_ctx ? r->ctx_min_ratio : r->min_ratio))
			for (size_t i = 0; i < r->ndet; i++)
				if (r->det[i].kind != K_COLUMN && ts[i].ratio >= r->secondary_ratio) {
					ts[i].fired = ts[i].together = true;
					nfired++;
				}
	}
	if (nfired > 0)
		for (size_t i = 0; i < r->ndet; i++)
			if (!ts[i].fired && r->det[i].kind != K_COLUMN && ts[i].ratio >= r->secondary_ratio) {
				ts[i].fired = ts[i].secondary = true;
				nfired++;
			}
	/* order: insertion sort (at most 64) */
	for (size_t i = 1; i < r->ndet; i++) {
		tally x = ts[i];
		size_t j = i;
		while (j > 0 && before(r, &x, &ts[j - 1])) {
			ts[j] = ts[j - 1];
			j--;
		}
		ts[j] = x;
	}
	size_t keep = 0;
	while (keep < r->ndet && (ts[keep].fired || ts[keep].ratio >= 0.01))
		keep++;
	tds_anon_hit *hits = tds_arena_alloc(a, (keep + 1) * sizeof *hits);
	for (size_t i = 0; i < keep; i++) {
		const det *d = &r->det[ts[i].det];
		hits[i] = (tds_anon_hit){.detector = tds_arena_strdup(a, d->id), .name = tds_arena_strdup(a, d->name),
					 .hits = ts[i].hits, .ratio = ts[i].ratio, .confidence = ts[i].conf,
					 .context = ts[i].ctx, .fired = ts[i].fired};
	}
	out->hits = hits;
	out->nhits = keep;

	tds_anon_verdict v = {TDS_ANON_CAT_OTHER, false, false, TDS_ANON_ID_NOT_PERSONAL, r->default_level};
	w->own = TDS_ANON_ID_NOT_PERSONAL;
	if (nfired == 0) {
		if (c->values == 0)
			reason(a, w, "no values to judge: all %llu values are empty or null markers",
			       (unsigned long long)c->empty);
		else if (keep > 0)
			reason(a, w, "no detector reached its threshold; the closest is %s at %s of %llu values",
			       r->det[ts[0].det].id, pct(p1, ts[0].ratio), (unsigned long long)c->values);
		else
			reason(a, w, "no detector matched any of its %llu values, and the column name matches no keyword",
			       (unsigned long long)c->values);
	} else {
		const det *top = &r->det[ts[0].det];
		v.category = top->category;
		v.level = 0;
		bool attr = false;
		for (size_t i = 0; i < nfired; i++) {
			const det *d = &r->det[ts[i].det];
			const tally *x = &ts[i];
			v.pi |= d->pi;
			v.spi |= d->spi;
			if (d->level > v.level)
				v.level = d->level;
			if (d->ident == ID_ATTRIBUTE)
				attr = true;
			else if (d->ident > (int)w->own)
				w->own = (tds_anon_identifiability)d->ident;
			if (d->spi && !out->spi_basis)
				out->spi_basis = tds_arena_strdup(a, d->spi_basis);
			int k = anon_context_match(d->ctx, d->nctx, c->name);
			char ctxs[160] = "";
			if (x->ctx && k >= 0)
				snprintf(ctxs, sizeof ctxs, "; the column name matches \"%s\"", d->ctx[k]);
			if (d->kind == K_COLUMN)
				reason(a, w, "%s (%s): the column name matches \"%s\"", d->id, d->name, k >= 0 ? d->ctx[k] : "");
			else
				reason(a, w, "%s (%s): %llu of %llu values (%s) %s%s%s", d->id, d->name,
				       (unsigned long long)x->hits, (unsigned long long)c->values, pct(p1, x->ratio),
				       anon_kind_meaning(d->kind), ctxs,
				       x->together	   ? "; fired together with the other detectors of this mixed column"
				       : x->secondary ? "; a minority of a column another detector decided"
						      : "");
			if (d->kind == K_DATE && d->minors_age > 0 && c->minors >= d->minors_min_count) {
				v.spi = true;
				if (!out->spi_basis || !d->spi)
					out->spi_basis = tds_arena_strdup(a, d->minors_basis);
				if (v.level < 3)
					v.level = 3;
				reason(a, w, "%s: %llu values are dates of birth of minors under %d: %s; level raised to L3 at least",
				       d->id, (unsigned long long)c->minors, d->minors_age, d->minors_basis);
			}
		}
		if (v.pi && attr && w->own < TDS_ANON_ID_UNLINKED)
			w->pending = true;
		v.identifiability = w->own;
		out->detector = tds_arena_strdup(a, top->id);
		out->confidence = ts[0].conf;
		out->mask = top->mask;
		(void)p2;
	}
	out->verdict = v;
	free(ts);
}

int tds_anon_scan_finish(tds_anon_scan *s, tds_anon_table **out)
{
	const tds_anon_rules *r = s->r;
	tds_anon_table *t = anon_table_new(r, s->ncols);
	colwork *w = calloc(s->ncols, sizeof *w);
	if (!w)
		abort();
	uint64_t rows = s->rows;
	for (size_t i = 0; i < s->ncols; i++) {
		const col *c = &s->cols[i];
		tds_anon_column *o = &t->cols[i];
		o->index = i;
		o->name = tds_arena_strdup(t->arena, c->name);
		o->values = c->values;
		o->empty = c->empty;
		if (c->values + c->empty > rows)
			rows = c->values + c->empty;
		decide_column(s, c, t, o, &w[i]);
	}
	/* identifiability of attribute columns follows the table */
	tds_anon_identifiability tid = TDS_ANON_ID_NOT_PERSONAL;
	for (size_t i = 0; i < s->ncols; i++)
		if (w[i].own > tid)
			tid = w[i].own;
	for (size_t i = 0; i < s->ncols; i++) {
		if (!w[i].pending)
			continue;
		tds_anon_column *o = &t->cols[i];
		if (tid >= TDS_ANON_ID_UNLINKED) {
			o->verdict.identifiability = tid;
			reason(t->arena, &w[i], "identifiability follows the table: it describes persons %s by other columns",
			       tds_anon_identifiability_name(tid));
		} else {
			o->verdict.identifiability = r->attr_ident;
			reason(t->arena, &w[i],
			       "no column identifies a person, but rows still describe individuals: %s (defaults."
			       "attribute_identifiability) until a re-identification risk check says otherwise",
			       tds_anon_identifiability_name(r->attr_ident));
		}
	}
	uint64_t total = s->rows_total ? s->rows_total : rows;
	for (size_t e = 0; e < r->nesc; e++) {
		const escalation *x = &r->esc[e];
		if (total < x->min_rows)
			continue;
		for (size_t i = 0; i < s->ncols; i++) {
			tds_anon_column *o = &t->cols[i];
			if ((x->spi ? o->verdict.spi : o->verdict.pi) && o->verdict.level < x->level) {
				o->verdict.level = x->level;
				reason(t->arena, &w[i], "%llu rows: %s (level L%d)", (unsigned long long)total, x->reason, x->level);
			}
		}
	}
	for (size_t i = 0; i < s->ncols; i++) {
		tds_anon_column *o = &t->cols[i];
		o->grade = t->grade[o->verdict.level];
		o->detected = o->verdict;
		o->reasons = w[i].reasons;
		o->nreasons = w[i].nreasons;
	}
	t->sum.rows_scanned = rows;
	t->sum.rows_total = total;
	free(w);
	anon_table_summarize(t);
	*out = t;
	return 0;
}

int tds_anon_scan_column(const tds_anon_rules *r, const char *name, const char *const *values, const size_t *lens,
			 size_t n, const tds_anon_scan_opts *opts, tds_anon_table **out)
{
	tds_anon_scan *s;
	int rc = tds_anon_scan_new(r, &name, 1, opts, &s);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		const char *v = values[i] ? values[i] : "";
		tds_anon_scan_value(s, 0, v, lens ? lens[i] : strlen(v));
		s->rows++;
	}
	rc = tds_anon_scan_finish(s, out);
	tds_anon_scan_free(s);
	return rc;
}

bool tds_anon_detect(const tds_anon_rules *r, const char *id, const char *column, const char *v, size_t len,
		     int64_t now_ms)
{
	int i = tds_anon_rules_find(r, id);
	if (i < 0 || (!v && len))
		return false;
	const det *d = &r->det[i];
	if (d->requires_context && (anon_context_match(d->ctx, d->nctx, column) < 0 ||
				    anon_context_match(d->ctx_ex, d->nctx_ex, column) >= 0))
		return false;
	const unsigned char *p = (const unsigned char *)v;
	while (len && (p[0] == ' ' || p[0] == '\t'))
		p++, len--;
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (!len)
		return false;
	vctx c = {anon_today(now_ms)};
	bool minor = false;
	return anon_match(d, &c, p, len, &minor);
}
