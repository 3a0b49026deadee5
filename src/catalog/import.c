/*
 * import.c — streaming CSV import into a SQLite file of its own (catalog.h section 3).
 *
 * Not for the registry (source.c decides where the file goes and records the metadata) nor for
 * reading CSV (csv.c).
 *
 * Two threads per pass. The calling thread reads records, classifies and profiles every value and
 * writes typed cells into a batch (BATCH_ROWS rows; text copied into the batch's byte buffer, which
 * is reused, so nothing is allocated per row). The writer thread owns the SQLite connection from
 * BEGIN to COMMIT and binds each batch's cells to one prepared INSERT (text SQLITE_STATIC, pointing
 * into the batch). NBATCH batches circulate between the two: free → filled by the parser → written →
 * free. A batch is never touched by both threads at once: ownership moves under `lock`.
 *
 * Declared types come from the first rows (tds_csv_sniff). When a later value does not fit its
 * column's declared type, the writer is stopped, the parser only profiles the rest of the file, and
 * a second pass writes a fresh file with the types of the whole file.
 *
 * The file is DB_PATH.tmp-XXXXXX until it is complete and synced; journal_mode=OFF and
 * synchronous=OFF are safe because nobody else opens it and a failure deletes it. Success renames
 * it over DB_PATH and syncs the directory.
 */
#include "catalog/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH_ROWS 8192
#define NBATCH 4
#define PROGRESS_EVERY 65536

enum { K_NULL = 0, K_INT, K_REAL, K_TEXT };

typedef struct cell {
	uint32_t kind, len;
	union {
		int64_t i;
		double d;
		size_t off;
	} v;
} cell;

typedef struct batch {
	cell *cells;
	size_t rows;
	char *text;
	size_t tlen, tcap;
} batch;

typedef struct pipe {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	batch b[NBATCH];
	int state[NBATCH]; /* 0 free, 1 full */
	size_t next_write;  /* writer takes batches in order */
	bool done, stop;    /* parser finished / writer must stop */
	size_t ncols;
	sqlite3 *db;
	sqlite3_stmt *ins, *insn; /* one row; `per` rows */
	size_t per;
	int err;            /* writer's error code, 0 if none */
	char errmsg[512];
	uint64_t written;
	pthread_t thread;
} pipe_t;

/* ---- writer thread ---- */

/* Binds `rows` rows of cells starting at c to st (parameters from 1). */
static void bind_rows(sqlite3_stmt *st, const batch *b, const cell *c, size_t rows, size_t ncols)
{
	int col = 1;
	for (size_t i = 0; i < rows * ncols; i++, c++, col++) {
		switch (c->kind) {
		case K_INT:
			sqlite3_bind_int64(st, col, c->v.i);
			break;
		case K_REAL:
			sqlite3_bind_double(st, col, c->v.d);
			break;
		case K_TEXT:
			sqlite3_bind_text(st, col, b->text + c->v.off, (int)c->len, SQLITE_STATIC);
			break;
		default:
			sqlite3_bind_null(st, col);
		}
	}
}

static int step(pipe_t *p, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	snprintf(p->errmsg, sizeof p->errmsg, "%s", sqlite3_errmsg(p->db));
	return -1;
}

/* Groups of p->per rows go through the multi-row INSERT (one statement execution per group, which
 * is what makes bulk loading fast: measured 2.3-3.0 M rows/s with 32 rows per statement against
 * 1.0-1.8 M with one), the rest through the one-row INSERT. */
static int write_batch(pipe_t *p, batch *b)
{
	size_t r = 0, n = p->ncols;
	for (; p->per > 1 && r + p->per <= b->rows; r += p->per) {
		bind_rows(p->insn, b, b->cells + r * n, p->per, n);
		if (step(p, p->insn))
			return -1;
	}
	for (; r < b->rows; r++) {
		bind_rows(p->ins, b, b->cells + r * n, 1, n);
		if (step(p, p->ins))
			return -1;
	}
	p->written += b->rows;
	return 0;
}

static void *writer(void *arg)
{
	pipe_t *p = arg;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		size_t i = p->next_write;
		while (p->state[i] != 1 && !p->done && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stop || p->state[i] != 1)
			break; /* stopped, or done with nothing left */
		pthread_mutex_unlock(&p->lock);
		int bad = write_batch(p, &p->b[i]);
		pthread_mutex_lock(&p->lock);
		p->state[i] = 0;
		p->b[i].rows = 0;
		p->b[i].tlen = 0;
		p->next_write = (i + 1) % NBATCH;
		if (bad) {
			p->err = TDS_EIO;
			p->stop = true;
		}
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* ---- parser side ---- */

/* Waits for batch i to be free; false when the writer stopped. */
static bool take_free(pipe_t *p, size_t i)
{
	pthread_mutex_lock(&p->lock);
	while (p->state[i] != 0 && !p->stop)
		pthread_cond_wait(&p->cond, &p->lock);
	bool ok = !p->stop;
	pthread_mutex_unlock(&p->lock);
	return ok;
}

static void hand_over(pipe_t *p, size_t i)
{
	pthread_mutex_lock(&p->lock);
	p->state[i] = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static int text_cell(batch *b, cell *c, const char *s, size_t len)
{
	if (b->tlen + len > b->tcap) {
		size_t nc = b->tcap ? b->tcap : (1u << 20);
		while (nc < b->tlen + len)
			nc *= 2;
		char *t = realloc(b->text, nc);
		if (!t)
			return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		b->text = t;
		b->tcap = nc;
	}
	memcpy(b->text + b->tlen, s, len);
	c->kind = K_TEXT;
	c->len = (uint32_t)len;
	c->v.off = b->tlen;
	b->tlen += len;
	return 0;
}

typedef struct pass_result {
	tds_profile *prof;
	uint64_t rows, ragged;
	uint64_t ragged_lines[10];
	bool mismatch; /* a value did not fit its declared type */
} pass_result;

typedef struct import_ctx {
	tds_csv *r;
	const tds_csv_schema *schema;
	const tds_csv_import_opts *o;
	const char *table;
	int64_t t0;
	int pass;
} import_ctx;

static int progress(import_ctx *ic, uint64_t rows)
{
	if (!ic->o->progress)
		return 0;
	tds_import_progress pr = {rows, tds_csv_bytes_read(ic->r), tds_csv_bytes_total(ic->r),
				  tds_monotonic_us() - ic->t0, ic->pass};
	if (ic->o->progress(ic->o->progress_ctx, &pr))
		return tds_error_set(TDS_ECONFLICT, "import_cancelled", "the import was cancelled");
	return 0;
}

static int sqlite_fail(sqlite3 *db, const char *what)
{
	return tds_error_set(TDS_EIO, "import_failed", "%s: %s", what, db ? sqlite3_errmsg(db) : "cannot open");
}

/* CREATE TABLE text for the declared types. */
static int create_sql(const import_ctx *ic, const tds_col_type *types, tds_buf *out)
{
	int rc = tds_buf_puts(out, "CREATE TABLE ");
	if (!rc)
		rc = tds_sql_quote_ident(out, ic->table);
	if (!rc)
		rc = tds_buf_puts(out, " (");
	for (size_t c = 0; !rc && c < ic->schema->ncols; c++) {
		if (c)
			rc = tds_buf_puts(out, ", ");
		if (!rc)
			rc = tds_sql_quote_ident(out, ic->schema->cols[c].name);
		if (!rc)
			rc = tds_buf_printf(out, " %s", tds_col_type_sql(types[c]));
	}
	return rc ? rc : tds_buf_putc(out, ')');
}

/* INSERT text with `per` rows of parameters. */
static int insert_sql(const import_ctx *ic, size_t per, tds_buf *out)
{
	int rc = tds_buf_puts(out, "INSERT INTO ");
	if (!rc)
		rc = tds_sql_quote_ident(out, ic->table);
	if (!rc)
		rc = tds_buf_puts(out, " VALUES ");
	for (size_t r = 0; !rc && r < per; r++) {
		rc = tds_buf_puts(out, r ? ",(" : "(");
		for (size_t c = 0; !rc && c < ic->schema->ncols; c++)
			rc = tds_buf_puts(out, c ? ",?" : "?");
		if (!rc)
			rc = tds_buf_putc(out, ')');
	}
	return rc;
}

static int open_tmp(const char *tmp, sqlite3 **db)
{
	int rc = sqlite3_open_v2(tmp, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, NULL);
	if (rc != SQLITE_OK)
		return sqlite_fail(*db, "opening the import file");
	/* 16 KiB pages measured fastest for bulk inserts here (fewer page splits than 4 KiB, smaller
	 * writes than 64 KiB); nobody else reads the file until it is complete, so no journal. */
	if (sqlite3_exec(*db,
			 "PRAGMA page_size=16384; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
			 "PRAGMA locking_mode=EXCLUSIVE; PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;",
			 NULL, NULL, NULL) != SQLITE_OK)
		return sqlite_fail(*db, "configuring the import file");
	return 0;
}

/* One pass: writes every record into a new file `tmp` (unless write is false: profile only). */
static int run_pass(import_ctx *ic, const char *tmp, const tds_col_type *declared, pass_result *res)
{
	const tds_csv_schema *s = ic->schema;
	size_t n = s->ncols;
	pipe_t p;
	memset(&p, 0, sizeof p);
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	p.ncols = n;
	tds_buf create = TDS_BUF_INIT, insert = TDS_BUF_INIT, insertn = TDS_BUF_INIT;
	bool thread = false, writing = true;
	int wfd = open(tmp, O_RDONLY | O_CLOEXEC);
	int rc = 0;
	memset(res, 0, sizeof *res);
	if (!(res->prof = tds_profile_new(n))) {
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < NBATCH; i++)
		if (!(p.b[i].cells = malloc(BATCH_ROWS * n * sizeof(cell)))) {
			rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
			goto done;
		}
	{
		if ((rc = open_tmp(tmp, &p.db)))
			goto done;
		int maxvar = sqlite3_limit(p.db, SQLITE_LIMIT_VARIABLE_NUMBER, -1);
		p.per = (size_t)maxvar / n < 32 ? (size_t)maxvar / n : 32;
		if ((rc = create_sql(ic, declared, &create)) || (rc = insert_sql(ic, 1, &insert)) ||
		    (p.per > 1 && (rc = insert_sql(ic, p.per, &insertn))))
			goto done;
		if (sqlite3_exec(p.db, create.data, NULL, NULL, NULL) != SQLITE_OK) {
			rc = sqlite_fail(p.db, "creating the table");
			goto done;
		}
		if (sqlite3_prepare_v3(p.db, insert.data, -1, SQLITE_PREPARE_PERSISTENT, &p.ins, NULL) != SQLITE_OK ||
		    (p.per > 1 && sqlite3_prepare_v3(p.db, insertn.data, -1, SQLITE_PREPARE_PERSISTENT, &p.insn, NULL) != SQLITE_OK)) {
			rc = sqlite_fail(p.db, "preparing the insert");
			goto done;
		}
		if (sqlite3_exec(p.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
			rc = sqlite_fail(p.db, "starting the transaction");
			goto done;
		}
		if (pthread_create(&p.thread, NULL, writer, &p) != 0) {
			rc = tds_error_set(TDS_EIO, "import_failed", "cannot start the writer thread");
			goto done;
		}
		thread = true;
	}
	if ((rc = tds_csv_rewind(ic->r)))
		goto done;
	tds_csv_record rec;
	size_t cur = 0;
	batch *b = NULL;
	if (writing) {
		if (!take_free(&p, cur)) {
			writing = false;
		} else {
			b = &p.b[cur];
		}
	}
	bool first = true;
	int got;
	while ((got = tds_csv_next(ic->r, &rec)) == 1) {
		if (first) {
			first = false;
			if (s->header)
				continue;
		}
		if (rec.n != n) {
			if (!csv_opts(ic->r)->report_ragged) {
				rc = cat_line_error(TDS_EINVAL, "ragged_row", rec.line, "expected %zu fields, found %zu", n, rec.n);
				goto stop;
			}
			if (res->ragged < TDS_ARRAY_LEN(res->ragged_lines))
				res->ragged_lines[res->ragged] = rec.line;
			res->ragged++;
			continue;
		}
		prof_add_row(res->prof);
		cell *row = writing ? b->cells + b->rows * n : NULL;
		for (size_t c = 0; c < n; c++) {
			const char *v = rec.field[c];
			size_t len = rec.len[c];
			if (tds_value_is_null(v, len)) {
				prof_add_null(res->prof, c);
				if (row)
					row[c].kind = K_NULL;
				continue;
			}
			tds_value tv;
			unsigned types = prof_add_value(res->prof, c, v, len, &tv);
			tds_col_type dt = declared[c];
			if (!(types & T_BIT(dt))) {
				res->mismatch = true;
				if (writing) { /* the file will be rewritten with the final types: stop writing */
					writing = false;
					row = NULL;
				}
			}
			if (!row)
				continue;
			switch (dt) {
			case TDS_COL_INTEGER:
			case TDS_COL_BOOLEAN:
				row[c].kind = K_INT;
				row[c].v.i = tv.i;
				break;
			case TDS_COL_DECIMAL:
				row[c].kind = K_REAL;
				row[c].v.d = tv.d;
				break;
			case TDS_COL_DATE:
			case TDS_COL_DATETIME:
				if ((rc = text_cell(b, &row[c], tv.date, len)))
					goto stop;
				break;
			default:
				if ((rc = text_cell(b, &row[c], v, len)))
					goto stop;
			}
		}
		res->rows++;
		if (row && ++b->rows == BATCH_ROWS) {
			hand_over(&p, cur);
			cur = (cur + 1) % NBATCH;
			if (!take_free(&p, cur)) {
				writing = false;
				b = NULL;
			} else {
				b = &p.b[cur];
			}
		}
		if (res->rows % PROGRESS_EVERY == 0) {
			/* start writing back what SQLite has written so far, so that the disk works while
			 * we parse and the final fsync has only the tail left (measured: the fsync of a
			 * 236 MB file otherwise takes 0.5-0.9 s after the last row) */
			if (wfd >= 0)
				sync_file_range(wfd, 0, 0, SYNC_FILE_RANGE_WRITE);
			if ((rc = progress(ic, res->rows)))
				goto stop;
		}
	}
	if (got < 0) {
		rc = got;
		goto stop;
	}
	if (writing && b && b->rows)
		hand_over(&p, cur);
stop:
	if (thread) {
		pthread_mutex_lock(&p.lock);
		p.done = true;
		if (rc || !writing)
			p.stop = true; /* an error, or the types were wrong: drop the file */
		pthread_cond_broadcast(&p.cond);
		pthread_mutex_unlock(&p.lock);
		pthread_join(p.thread, NULL);
		thread = false;
		if (!rc && p.err)
			rc = tds_error_set(TDS_EIO, "import_failed", "writing rows failed: %s", p.errmsg);
	}
	if (!rc && writing) {
		if (sqlite3_exec(p.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			rc = sqlite_fail(p.db, "committing");
	}
	if (!rc)
		rc = progress(ic, res->rows);
done:
	sqlite3_finalize(p.ins);
	sqlite3_finalize(p.insn);
	if (p.db && sqlite3_close(p.db) != SQLITE_OK && !rc)
		rc = tds_error_set(TDS_EIO, "import_failed", "closing the import file failed");
	if (wfd >= 0)
		close(wfd);
	for (size_t i = 0; i < NBATCH; i++) {
		free(p.b[i].cells);
		free(p.b[i].text);
	}
	pthread_mutex_destroy(&p.lock);
	pthread_cond_destroy(&p.cond);
	tds_buf_free(&create);
	tds_buf_free(&insert);
	tds_buf_free(&insertn);
	if (rc) {
		tds_profile_free(res->prof);
		res->prof = NULL;
	}
	return rc;
}

/* ---- the import ---- */

static int sync_path(const char *path, bool dir)
{
	int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return tds_error_set(TDS_EIO, "import_failed", "cannot open %s to sync it: %s", path, strerror(errno));
	int rc = fsync(fd) == 0 ? 0 : tds_error_set(TDS_EIO, "import_failed", "fsync of %s failed: %s", path, strerror(errno));
	close(fd);
	return rc;
}

static int make_tmp(const char *db_path, char *tmp, size_t cap)
{
	if ((size_t)snprintf(tmp, cap, "%s.tmp-XXXXXX", db_path) >= cap)
		return tds_error_set(TDS_EINVAL, "invalid_path", "the import file path is too long");
	int fd = mkstemp(tmp);
	if (fd < 0)
		return tds_error_set(TDS_EIO, "import_failed", "cannot create %s: %s", tmp, strerror(errno));
	close(fd);
	return 0;
}

static const char *delimiter_name(char d)
{
	return d == '\t' ? "\\t" : d == ';' ? ";" : d == '|' ? "|" : ",";
}

int tds_csv_import(tds_csv *r, const char *db_path, const tds_csv_import_opts *opts, json_t **meta)
{
	*meta = NULL;
	tds_csv_import_opts o = opts ? *opts : (tds_csv_import_opts){0};
	char table[80], tmp[4200] = "";
	const char *want = o.table && *o.table ? o.table : "data";
	tds_sql_name(want, strlen(want), table, sizeof table);
	if (strncasecmp(table, "sqlite_", 7) == 0) { /* SQLite reserves these names */
		memmove(table + 2, table, strlen(table) + 1);
		table[0] = 't';
		table[1] = '_';
	}
	tds_csv_schema schema = {0};
	pass_result res = {0};
	tds_hash_ctx *h = NULL;
	tds_col_type *declared = NULL;
	json_t *out = NULL;
	int rc;
	import_ctx ic = {.r = r, .schema = &schema, .o = &o, .table = table, .t0 = tds_monotonic_us(), .pass = 1};
	if ((rc = tds_csv_rewind(r)) || (rc = tds_csv_sniff(r, o.sniff_rows, &schema)))
		goto done;
	if (!(declared = malloc(schema.ncols * sizeof *declared))) {
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto done;
	}
	for (size_t c = 0; c < schema.ncols; c++)
		declared[c] = schema.cols[c].type;
	if (o.hash_suite && !(h = tds_hash_new(o.hash_suite))) {
		rc = tds_error_code();
		goto done;
	}
	if ((rc = make_tmp(db_path, tmp, sizeof tmp)))
		goto done;
	csv_set_hash(r, h);
	rc = run_pass(&ic, tmp, declared, &res);
	csv_set_hash(r, NULL);
	if (rc)
		goto done;
	if (res.mismatch) { /* the first rows misled the declared types: write again with the real ones */
		for (size_t c = 0; c < schema.ncols; c++)
			declared[c] = tds_profile_type(res.prof, c);
		tds_profile_free(res.prof);
		res.prof = NULL;
		unlink(tmp);
		ic.pass = 2;
		if ((rc = make_tmp(db_path, tmp, sizeof tmp)) || (rc = run_pass(&ic, tmp, declared, &res)))
			goto done;
		if (res.mismatch) {
			rc = tds_error_set(TDS_EINTERNAL, "import_failed", "column types changed between two reads of the same input");
			goto done;
		}
	}
	char dir[4200];
	snprintf(dir, sizeof dir, "%s", db_path);
	int64_t sync0 = tds_monotonic_us();
	if ((rc = sync_path(tmp, false)))
		goto done;
	int64_t sync_us = tds_monotonic_us() - sync0;
	if (rename(tmp, db_path) != 0) {
		rc = tds_error_set(TDS_EIO, "import_failed", "cannot rename the import file into place: %s", strerror(errno));
		goto done;
	}
	tmp[0] = 0;
	if ((rc = sync_path(dirname(dir), true)))
		goto done;

	const char **names = calloc(schema.ncols, sizeof *names), **labels = calloc(schema.ncols, sizeof *labels);
	if (!names || !labels) {
		free(names);
		free(labels);
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto done;
	}
	for (size_t c = 0; c < schema.ncols; c++) {
		names[c] = schema.cols[c].name;
		labels[c] = schema.cols[c].label;
	}
	json_t *cols = tds_profile_json(res.prof, names, labels);
	free(names);
	free(labels);
	json_t *lines = json_array();
	for (uint64_t i = 0; i < res.ragged && i < TDS_ARRAY_LEN(res.ragged_lines); i++)
		json_array_append_new(lines, json_integer((json_int_t)res.ragged_lines[i]));
	int64_t us = tds_monotonic_us() - ic.t0;
	char secs[32], sync_secs[32];
	snprintf(secs, sizeof secs, "%lld.%03lld", (long long)(us / 1000000), (long long)(us / 1000 % 1000));
	snprintf(sync_secs, sizeof sync_secs, "%lld.%03lld", (long long)(sync_us / 1000000), (long long)(sync_us / 1000 % 1000));
	out = json_pack("{s:s, s:b, s:s, s:I, s:I, s:i, s:I, s:o, s:s, s:[{s:s, s:I, s:o}]}", "encoding",
			tds_csv_encoding_name(tds_csv_encoding_of(r)), "header", schema.header, "delimiter",
			delimiter_name(csv_opts(r)->delimiter), "rows", (json_int_t)res.rows, "bytes",
			(json_int_t)tds_csv_bytes_read(r), "passes", ic.pass, "ragged_rows", (json_int_t)res.ragged,
			"ragged_lines", lines, "seconds", secs, "tables", "name", table, "row_count",
			(json_int_t)res.rows, "columns", cols);
	if (!out) {
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto done;
	}
	json_object_set_new(out, "sync_seconds", json_string(sync_secs));
	if (h) {
		uint8_t digest[TDS_HASH_LEN];
		tds_buf hex = TDS_BUF_INIT;
		if (!(rc = tds_hash_final(h, digest)) && !(rc = tds_hex_encode(digest, sizeof digest, &hex))) {
			json_object_set_new(out, "content_hash", json_string(hex.data));
			json_object_set_new(out, "hash_alg", json_string(tds_hash_alg(o.hash_suite)));
		}
		tds_buf_free(&hex);
	}
done:
	if (tmp[0])
		unlink(tmp);
	if (rc) {
		json_decref(out);
		out = NULL;
	}
	*meta = out;
	tds_hash_free(h);
	tds_profile_free(res.prof);
	free(declared);
	tds_csv_schema_free(&schema);
	return rc;
}
