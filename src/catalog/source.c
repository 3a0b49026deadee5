/*
 * source.c — the source registry on the connector (catalog.h section 5): the `sources` table,
 * locations checked against the import directory, sealed PostgreSQL connection strings, imports
 * (CSV into DIR/data/<id>-<n>.db; database sources profiled in place), samples, deletion, evidence,
 * and the start-up cleanup that makes an interrupted import leave nothing behind.
 *
 * Not for HTTP (routes.c) nor for reading CSV or databases (csv.c, import.c, dbsrc.c, pg.c).
 *
 * Invariants:
 *   - a row's data_file, when set, names a complete file in DIR/data written by tds_csv_import;
 *     it changes only in the transaction that records the import and its evidence;
 *   - every file in DIR/data is either the data_file or the upload of a source, the file of a
 *     product version (product.c), or garbage that tds_catalog_open removes (temporary files of
 *     interrupted imports, files of failed commits);
 *   - "importing" is never stored: it is the in-memory `running` list, so a crash leaves the last
 *     committed state, not a stuck status;
 *   - a connection string is stored only sealed; `location` holds its redacted form.
 */
#include "catalog/internal.h"
#include "catalog/pg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

#define SEAL_CONTEXT "catalog-source-conn"
#define NAME_MAX_BYTES 128
#define CONN_MAX 4096

static const tds_migration MIGRATIONS[] = {
    {1, "CREATE TABLE sources ("
	"  id TEXT PRIMARY KEY, org_id TEXT, name TEXT NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('csv','sqlite','postgres')),"
	"  location TEXT NOT NULL, connection_sealed BLOB, options TEXT NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('registered','imported','failed')),"
	"  import_count INTEGER NOT NULL DEFAULT 0, data_file TEXT, imported_table TEXT, metadata TEXT, last_error TEXT,"
	"  created_by TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, imported_at INTEGER) STRICT;"
	"CREATE UNIQUE INDEX sources_org_name ON sources(ifnull(org_id, ''), name);"
	"CREATE INDEX sources_org ON sources(org_id, id);"},
};

/* ---- opening ---- */

static int mkdir_p(const char *path)
{
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return tds_error_set(TDS_EIO, NULL, "cannot create %s: %s", path, strerror(errno));
	return 0;
}

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 && (path[n] == '/' || (n == 1 && dir[0] == '/'));
}

static int evidence(tds_catalog *c, sqlite3 *db, const char *type, const tds_ledger_actor *actor, const char *id,
		    json_t *payload)
{
	if (!c->ledger) {
		json_decref(payload);
		return tds_error_set(TDS_EINTERNAL, "no_ledger", "the catalog was opened without a ledger: changes need evidence");
	}
	tds_ledger_actor a = actor ? *actor : (tds_ledger_actor){0};
	if (!a.node && c->node_id[0])
		a.node = c->node_id;
	const char *subjects[1] = {id};
	tds_ledger_entry_in e = {.type = type, .actor = a, .subjects = subjects, .nsubjects = 1, .payload = payload};
	uint64_t idx;
	int rc = tds_ledger_append_tx(c->ledger, db, &e, &idx);
	json_decref(payload);
	return rc;
}

/* Removes what interrupted imports and failed commits left in DIR/data. */
static int cleanup(tds_catalog *c)
{
	sqlite3 *db = tds_store_conn(c->store);
	if (!db)
		return tds_error_code();
	DIR *d = opendir(c->data_dir);
	if (!d)
		return tds_error_set(TDS_EIO, NULL, "cannot read %s: %s", c->data_dir, strerror(errno));
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "SELECT 1 FROM sources WHERE data_file = ?1 OR (id || '.upload.csv') = ?1"
				       " UNION ALL SELECT 1 FROM product_versions WHERE file_name = ?1", &st);
	struct dirent *e;
	while (!rc && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		bool keep = false;
		if (!strstr(e->d_name, ".tmp-")) {
			sqlite3_bind_text(st, 1, e->d_name, -1, SQLITE_TRANSIENT);
			keep = sqlite3_step(st) == SQLITE_ROW;
			sqlite3_reset(st);
		}
		if (!keep) {
			char p[PATH_MAX];
			if (!tds_path_join(p, sizeof p, c->data_dir, e->d_name) && unlink(p) == 0)
				tds_log(TDS_LOG_INFO, "catalog_cleanup", "removed %s (left by an interrupted import or deletion)", p);
		}
	}
	sqlite3_finalize(st);
	closedir(d);
	return rc;
}

int tds_catalog_open(tds_store *store, const tds_catalog_opts *o, tds_catalog **out)
{
	*out = NULL;
	if (!o || !o->dir || !*o->dir)
		return tds_error_set(TDS_EINVAL, "invalid_options", "the catalog needs the node directory");
	tds_catalog *c = calloc(1, sizeof *c);
	if (!c)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	pthread_mutex_init(&c->lock, NULL);
	c->store = store;
	c->ledger = o->ledger;
	c->suite = o->suite ? o->suite : TDS_SUITE_GM;
	c->sample_rows = o->sample_rows > 0 ? o->sample_rows : 20;
	snprintf(c->node_id, sizeof c->node_id, "%s", o->node_id ? o->node_id : "");
	if (o->seal_key) {
		memcpy(c->seal_key, o->seal_key, TDS_MASTER_KEY_LEN);
		c->have_seal_key = true;
	}
	char p[PATH_MAX], rp[PATH_MAX];
	int rc = 0;
	if (!realpath(o->dir, rp)) {
		rc = tds_error_set(TDS_EIO, NULL, "cannot resolve %s: %s", o->dir, strerror(errno));
		goto fail;
	}
	if (!(c->dir = strdup(rp)) || tds_path_join(p, sizeof p, rp, "data") || !(c->data_dir = strdup(p))) {
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto fail;
	}
	if (o->import_dir)
		snprintf(p, sizeof p, "%s", o->import_dir);
	else if ((rc = tds_path_join(p, sizeof p, rp, "import")))
		goto fail;
	if ((rc = mkdir_p(c->data_dir)) || (rc = mkdir_p(p)))
		goto fail;
	if (!realpath(p, rp)) {
		rc = tds_error_set(TDS_EIO, NULL, "cannot resolve the import directory %s: %s", p, strerror(errno));
		goto fail;
	}
	if (!(c->import_dir = strdup(rp))) {
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto fail;
	}
	const char *base = o->code_base ? o->code_base : TDS_RESCODE_DEFAULT_BASE;
	if ((rc = tds_rescode_base_check(base)))
		goto fail;
	if (!(c->code_base = strdup(base))) {
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		goto fail;
	}
	/* version 2, the resources (resource.c), keeps its SQL beside the code that uses it */
	const tds_migration all[] = {MIGRATIONS[0], {2, cat_resource_migration()}, {3, cat_product_migration()},
				     {4, cat_fused_migration()}};
	if ((rc = tds_store_migrate(store, "catalog", all, TDS_ARRAY_LEN(all))) || (rc = cleanup(c)))
		goto fail;
	*out = c;
	return 0;
fail:
	tds_catalog_free(c);
	return rc;
}

void tds_catalog_free(tds_catalog *c)
{
	if (!c)
		return;
	free(c->dir);
	free(c->data_dir);
	free(c->import_dir);
	free(c->code_base);
	tds_anon_rules_free(c->rules);
	memset(c->seal_key, 0, sizeof c->seal_key);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

const char *tds_catalog_import_dir(const tds_catalog *c)
{
	return c->import_dir;
}

/* ---- locations ---- */

/* Opens `rel` beneath the import directory: no absolute path, no "..", no symlink that leaves the
 * directory (openat2 RESOLVE_BENEATH; on kernels without it, realpath and a prefix check), a
 * regular file, and never a file of the node itself. *fd (O_RDONLY) and the resolved path. */
static int open_beneath(tds_catalog *c, const char *rel, int *fd, char resolved[PATH_MAX])
{
	*fd = -1;
	size_t n = rel ? strlen(rel) : 0;
	if (n == 0 || n > 1024 || rel[0] == '/' || !tds_utf8_valid(rel, n))
		return tds_error_set(TDS_EINVAL, "invalid_path", "path must be a relative path (1-1024 bytes) inside the import directory");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)rel[i] < 0x20)
			return tds_error_set(TDS_EINVAL, "invalid_path", "path may not contain control characters");
	for (const char *s = rel; s; s = strchr(s, '/')) {
		if (*s == '/')
			s++;
		if (strncmp(s, "..", 2) == 0 && (s[2] == '/' || s[2] == 0))
			return tds_error_set(TDS_EINVAL, "invalid_path", "path may not contain '..'");
	}
	int dfd = open(c->import_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return tds_error_set(TDS_EIO, NULL, "cannot open the import directory: %s", strerror(errno));
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
	int f = (int)syscall(SYS_openat2, dfd, rel, &how, sizeof how);
	if (f < 0 && (errno == ENOSYS || errno == EPERM)) { /* older kernels, seccomp filters */
		char full[PATH_MAX], real[PATH_MAX];
		if (tds_path_join(full, sizeof full, c->import_dir, rel) == 0 && realpath(full, real)) {
			if (under(real, c->import_dir))
				f = open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
			else
				errno = EXDEV;
		}
	}
	int e = errno;
	close(dfd);
	if (f < 0) {
		if (e == EXDEV || e == ELOOP)
			return tds_error_set(TDS_EINVAL, "invalid_path", "path leads out of the import directory (symlink or '..')");
		if (e == ENOENT)
			return tds_error_set(TDS_EINVAL, "invalid_path", "no such file in the import directory");
		return tds_error_set(TDS_EINVAL, "invalid_path", "cannot open the file: %s", strerror(e));
	}
	struct stat st;
	char link[64];
	ssize_t len;
	snprintf(link, sizeof link, "/proc/self/fd/%d", f);
	if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(f);
		return tds_error_set(TDS_EINVAL, "invalid_path", "path must name a regular file");
	}
	if ((len = readlink(link, resolved, PATH_MAX - 1)) <= 0) {
		close(f);
		return tds_error_set(TDS_EIO, NULL, "cannot resolve the opened file");
	}
	resolved[len] = 0;
	if (!under(resolved, c->import_dir) || (under(resolved, c->dir) && !under(c->import_dir, c->dir)) ||
	    under(resolved, c->data_dir)) {
		close(f);
		return tds_error_set(TDS_EINVAL, "invalid_path", "path leads out of the import directory");
	}
	fcntl(f, F_SETFL, fcntl(f, F_GETFL) & ~O_NONBLOCK);
	*fd = f;
	return 0;
}

/* ---- rows ---- */

typedef struct srow {
	char id[TDS_ID_MAX], kind[16], status[16];
	char *org, *name, *location, *options, *data_file, *table, *metadata, *error;
	tds_buf sealed;
	int64_t created, updated, imported, import_count;
	bool have_imported;
} srow;

static void srow_free(srow *r)
{
	free(r->org);
	free(r->name);
	free(r->location);
	free(r->options);
	free(r->data_file);
	free(r->table);
	free(r->metadata);
	free(r->error);
	if (r->sealed.data)
		memset(r->sealed.data, 0, r->sealed.len);
	tds_buf_free(&r->sealed);
	memset(r, 0, sizeof *r);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? strdup((const char *)t) : NULL;
}

#define SROW_COLS                                                                                                      \
	"id, org_id, name, kind, location, options, status, data_file, imported_table, metadata, last_error, created_at," \
	" updated_at, imported_at, import_count, connection_sealed"

static void srow_read(sqlite3_stmt *st, srow *r)
{
	memset(r, 0, sizeof *r);
	snprintf(r->id, sizeof r->id, "%s", (const char *)sqlite3_column_text(st, 0));
	r->org = col_dup(st, 1);
	r->name = col_dup(st, 2);
	snprintf(r->kind, sizeof r->kind, "%s", (const char *)sqlite3_column_text(st, 3));
	r->location = col_dup(st, 4);
	r->options = col_dup(st, 5);
	snprintf(r->status, sizeof r->status, "%s", (const char *)sqlite3_column_text(st, 6));
	r->data_file = col_dup(st, 7);
	r->table = col_dup(st, 8);
	r->metadata = col_dup(st, 9);
	r->error = col_dup(st, 10);
	r->created = sqlite3_column_int64(st, 11);
	r->updated = sqlite3_column_int64(st, 12);
	r->have_imported = sqlite3_column_type(st, 13) != SQLITE_NULL;
	r->imported = sqlite3_column_int64(st, 13);
	r->import_count = sqlite3_column_int64(st, 14);
	if (sqlite3_column_type(st, 15) == SQLITE_BLOB)
		tds_buf_append(&r->sealed, sqlite3_column_blob(st, 15), (size_t)sqlite3_column_bytes(st, 15));
}

/* Loads a source visible to `org` (NULL = any). */
static int load(tds_catalog *c, const char *org, const char *id, srow *r)
{
	if (!tds_id_valid(id, "src"))
		return tds_error_set(TDS_ENOTFOUND, "source_not_found", "no such source");
	sqlite3 *db = tds_store_conn(c->store);
	sqlite3_stmt *st;
	int rc;
	if (!db)
		return tds_error_code();
	if ((rc = tds_store_prepare(db, "SELECT " SROW_COLS " FROM sources WHERE id = ?", &st)))
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		srow_read(st, r);
		if (org && (!r->org || strcmp(org, r->org) != 0)) {
			srow_free(r);
			rc = tds_error_set(TDS_ENOTFOUND, "source_not_found", "no such source");
		}
	} else {
		rc = s == SQLITE_DONE ? tds_error_set(TDS_ENOTFOUND, "source_not_found", "no such source")
				      : tds_store_error(db, "reading source");
	}
	sqlite3_finalize(st);
	return rc;
}

static json_t *time_json(int64_t ms)
{
	char t[TDS_TIME_MAX];
	return tds_time_format(ms, t) ? json_null() : json_string(t);
}

static cat_running *running_find(tds_catalog *c, const char *id)
{
	for (cat_running *r = c->running; r; r = r->next)
		if (strcmp(r->id, id) == 0)
			return r;
	return NULL;
}

static json_t *srow_json(tds_catalog *c, const srow *r, bool with_meta)
{
	json_t *opts = NULL, *meta = NULL;
	if (r->options)
		tds_json_parse(r->options, strlen(r->options), &opts);
	if (with_meta && r->metadata)
		tds_json_parse(r->metadata, strlen(r->metadata), &meta);
	json_t *o = json_pack("{s:s, s:s?, s:s, s:s, s:s, s:o, s:s, s:s?, s:s?, s:o, s:o, s:I}", "id", r->id, "org_id", r->org,
			      "name", r->name, "kind", r->kind, "location", r->location ? r->location : "", "options",
			      opts ? opts : json_object(), "status", r->status, "table", r->table, "error", r->error,
			      "created_at", time_json(r->created), "updated_at", time_json(r->updated), "imports",
			      (json_int_t)r->import_count);
	json_object_set_new(o, "imported_at", r->have_imported ? time_json(r->imported) : json_null());
	if (with_meta)
		json_object_set_new(o, "metadata", meta ? meta : json_null());
	pthread_mutex_lock(&c->lock);
	cat_running *run = running_find(c, r->id);
	if (run) {
		json_object_set_new(o, "status", json_string("importing"));
		json_object_set_new(o, "progress",
				    json_pack("{s:I, s:I, s:I, s:i}", "rows", (json_int_t)run->p.rows, "bytes",
					      (json_int_t)run->p.bytes, "total_bytes", (json_int_t)run->p.total_bytes, "pass",
					      run->p.pass));
	}
	pthread_mutex_unlock(&c->lock);
	return o;
}

/* ---- create ---- */

static int check_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > NAME_MAX_BYTES || !tds_utf8_valid(name, n))
		return tds_error_set(TDS_EINVAL, "invalid_name", "name must be 1-%d bytes of UTF-8", NAME_MAX_BYTES);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return tds_error_set(TDS_EINVAL, "invalid_name", "name may not contain control characters");
	return 0;
}

static json_t *csv_options_json(const tds_csv_opts *o)
{
	static const char *const header[] = {"auto", "yes", "no"};
	char d[3] = {o->delimiter ? o->delimiter : ',', 0, 0};
	if (d[0] == '\t') {
		d[0] = '\\';
		d[1] = 't';
	}
	return json_pack("{s:s, s:s, s:s, s:b}", "encoding", tds_csv_encoding_name(o->encoding), "header",
			 header[o->header <= TDS_CSV_HEADER_NO ? o->header : 0], "delimiter", d, "ragged", o->report_ragged);
}

static int csv_options_parse(const json_t *j, tds_csv_opts *o)
{
	memset(o, 0, sizeof *o);
	const char *h = tds_json_str(j, "header", "auto"), *d = tds_json_str(j, "delimiter", ",");
	o->header = strcmp(h, "yes") == 0 ? TDS_CSV_HEADER_YES : strcmp(h, "no") == 0 ? TDS_CSV_HEADER_NO : TDS_CSV_HEADER_AUTO;
	o->delimiter = strcmp(d, "\\t") == 0 ? '\t' : d[0];
	o->report_ragged = tds_json_bool(j, "ragged", false);
	return tds_csv_encoding_parse(tds_json_str(j, "encoding", "auto"), &o->encoding);
}

typedef struct create_ctx {
	tds_catalog *c;
	const tds_ledger_actor *actor;
	const tds_source_new *in;
	const char *id, *location, *table;
	json_t *options;
	tds_buf sealed;
} create_ctx;

static int create_tx(sqlite3 *db, void *arg)
{
	create_ctx *x = arg;
	sqlite3_stmt *st;
	int64_t now = tds_now_ms();
	int rc = tds_store_prepare(db, "SELECT 1 FROM sources WHERE ifnull(org_id, '') = ifnull(?, '') AND name = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, x->in->org_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, x->in->name, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	sqlite3_finalize(st);
	if (s == SQLITE_ROW)
		return tds_error_set(TDS_ECONFLICT, "source_name_taken", "the organisation already has a source of that name");
	char *opts = tds_json_dumps(x->options);
	if (!opts)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if ((rc = tds_store_prepare(db, "INSERT INTO sources (id, org_id, name, kind, location, connection_sealed, options,"
				       " status, imported_table, created_by, created_at, updated_at)"
				       " VALUES (?,?,?,?,?,?,?,'registered',?,?,?,?)", &st))) {
		free(opts);
		return rc;
	}
	sqlite3_bind_text(st, 1, x->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, x->in->org_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, x->in->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, x->in->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, x->location, -1, SQLITE_STATIC);
	if (x->sealed.len)
		sqlite3_bind_blob(st, 6, x->sealed.data, (int)x->sealed.len, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, opts, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, x->table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, x->actor ? x->actor->account : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, now);
	sqlite3_bind_int64(st, 11, now);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : tds_store_error(db, "registering source");
	sqlite3_finalize(st);
	free(opts);
	if (rc)
		return rc;
	return evidence(x->c, db, "catalog.source_registered", x->actor, x->id,
			json_pack("{s:s, s:s, s:s}", "kind", x->in->kind, "name", x->in->name, "location", x->location));
}

/* Reads the first record to catch a file that is not CSV at all before it is registered. */
static int probe_csv(int fd, const tds_csv_opts *o)
{
	tds_csv *r;
	int rc = tds_csv_open_fd(fd, false, o, &r);
	if (rc)
		return rc;
	tds_csv_record rec;
	rc = tds_csv_next(r, &rec);
	tds_csv_free(r);
	if (rc == 0)
		return tds_error_set(TDS_EUNPROC, "empty_csv", "the CSV file holds no records");
	return rc < 0 ? rc : 0;
}

int tds_catalog_source_create(tds_catalog *c, const tds_ledger_actor *actor, const tds_source_new *in, json_t **out)
{
	*out = NULL;
	char id[TDS_ID_MAX], resolved[PATH_MAX], upload[PATH_MAX] = "";
	int rc, fd = -1;
	if ((rc = check_name(in->name)))
		return rc;
	const char *kind = in->kind ? in->kind : "";
	bool is_csv = strcmp(kind, "csv") == 0, is_sqlite = strcmp(kind, "sqlite") == 0, is_pg = strcmp(kind, "postgres") == 0;
	if (!is_csv && !is_sqlite && !is_pg)
		return tds_error_set(TDS_EINVAL, "invalid_kind", "kind must be csv, sqlite or postgres");
	if (in->table && (rc = cat_check_table_name(in->table)))
		return rc;
	if (is_csv && in->table)
		return tds_error_set(TDS_EINVAL, "invalid_table", "a CSV source has one table; leave table out");
	if ((is_csv && !!in->path == !!in->content) || (is_sqlite && !in->path) || (!is_csv && in->content))
		return tds_error_set(TDS_EINVAL, "invalid_location",
				     is_csv ? "give either path (inside the import directory) or content_base64"
					    : "a sqlite source needs path (inside the import directory)");
	if (is_pg && (!in->connection || !*in->connection || strlen(in->connection) > CONN_MAX))
		return tds_error_set(TDS_EINVAL, "invalid_connection", "a postgres source needs connection (at most %d bytes)", CONN_MAX);
	if (!is_pg && in->connection)
		return tds_error_set(TDS_EINVAL, "invalid_location", "connection is only for postgres sources");
	if ((rc = tds_id_new("src", id)))
		return rc;
	create_ctx x = {.c = c, .actor = actor, .in = in, .id = id, .table = in->table, .sealed = TDS_BUF_INIT};
	char *redacted = NULL;
	tds_dbsrc *src = NULL;
	if (is_csv) {
		x.options = csv_options_json(&in->csv);
		if (in->path) {
			if ((rc = open_beneath(c, in->path, &fd, resolved)) || (rc = probe_csv(fd, &in->csv)))
				goto done;
			x.location = in->path;
		} else {
			char name[TDS_ID_MAX + 16];
			snprintf(name, sizeof name, "%s.upload.csv", id);
			if ((rc = tds_path_join(upload, sizeof upload, c->data_dir, name)) ||
			    (rc = tds_file_write_atomic(upload, in->content, in->content_len, 0600)))
				goto done;
			tds_csv *r;
			tds_csv_record rec;
			if (!(rc = tds_csv_open_mem(in->content, in->content_len, &in->csv, &r))) {
				rc = tds_csv_next(r, &rec);
				tds_csv_free(r);
				rc = rc == 0 ? tds_error_set(TDS_EUNPROC, "empty_csv", "the CSV holds no records") : rc < 0 ? rc : 0;
			}
			if (rc)
				goto done;
			x.location = "upload";
		}
	} else if (is_sqlite) {
		x.options = json_object();
		if ((rc = open_beneath(c, in->path, &fd, resolved)) || (rc = tds_dbsrc_open_sqlite(resolved, &src)))
			goto done;
		x.location = in->path;
	} else {
		x.options = json_object();
		if (!c->have_seal_key) {
			rc = tds_error_set(TDS_EUNPROC, "no_seal_key", "this node cannot store connection strings (no sealing key)");
			goto done;
		}
		if (!(redacted = cat_pg_redact(in->connection))) {
			rc = tds_error_code();
			goto done;
		}
		if ((rc = tds_dbsrc_open_pg(in->connection, &src)) ||
		    (rc = tds_seal(c->suite, c->seal_key, SEAL_CONTEXT, in->connection, strlen(in->connection), &x.sealed)))
			goto done;
		x.location = redacted;
	}
	if (src && in->table) { /* the table must exist */
		json_t *rows = NULL;
		rc = tds_dbsrc_rows(src, in->table, 1, &rows);
		json_decref(rows);
		if (rc)
			goto done;
	}
	if (in->table)
		json_object_set_new(x.options, "table", json_string(in->table));
	x.table = NULL;
	if ((rc = tds_store_tx(c->store, create_tx, &x)))
		goto done;
	srow r;
	if (!(rc = load(c, NULL, id, &r))) {
		*out = srow_json(c, &r, true);
		srow_free(&r);
	}
done:
	if (rc && upload[0])
		unlink(upload);
	if (fd >= 0)
		close(fd);
	tds_dbsrc_close(src);
	free(redacted);
	json_decref(x.options);
	if (x.sealed.data)
		memset(x.sealed.data, 0, x.sealed.len);
	tds_buf_free(&x.sealed);
	return rc;
}

/* ---- get, list ---- */

int tds_catalog_source_get(tds_catalog *c, const char *org, const char *id, json_t **out)
{
	*out = NULL;
	srow r;
	int rc = load(c, org, id, &r);
	if (rc)
		return rc;
	*out = srow_json(c, &r, true);
	srow_free(&r);
	return 0;
}

int tds_catalog_source_list(tds_catalog *c, const char *org, int limit, const char *cursor, json_t **out)
{
	*out = NULL;
	sqlite3 *db = tds_store_conn(c->store);
	sqlite3_stmt *st;
	int rc;
	if (!db)
		return tds_error_code();
	if (limit < 1 || limit > 1000)
		limit = 50;
	if ((rc = tds_store_prepare(db, "SELECT " SROW_COLS " FROM sources WHERE (?1 IS NULL OR org_id = ?1)"
				       " AND id > ifnull(?2, '') ORDER BY id LIMIT ?3", &st)))
		return rc;
	sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, cursor, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, limit + 1);
	json_t *items = json_array();
	int n = 0, s;
	char last[TDS_ID_MAX] = "";
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (++n > limit)
			break;
		srow r;
		srow_read(st, &r);
		snprintf(last, sizeof last, "%s", r.id);
		json_array_append_new(items, srow_json(c, &r, false));
		srow_free(&r);
	}
	if (s != SQLITE_ROW && s != SQLITE_DONE)
		rc = tds_store_error(db, "listing sources");
	sqlite3_finalize(st);
	if (rc) {
		json_decref(items);
		return rc;
	}
	*out = json_pack("{s:o, s:s?}", "items", items, "next_cursor", n > limit ? last : NULL);
	return 0;
}

/* ---- import ---- */

typedef struct import_ctx2 {
	tds_catalog *c;
	cat_running *run;
	tds_import_progress_fn fn;
	void *fn_ctx;
} import_ctx2;

static int on_progress(void *ctx, const tds_import_progress *p)
{
	import_ctx2 *x = ctx;
	pthread_mutex_lock(&x->c->lock);
	x->run->p = *p;
	pthread_mutex_unlock(&x->c->lock);
	return x->fn ? x->fn(x->fn_ctx, p) : 0;
}

typedef struct done_ctx {
	tds_catalog *c;
	const tds_ledger_actor *actor;
	const char *id, *data_file, *table, *error_code, *error;
	json_t *meta;
	int64_t import_count;
} done_ctx;

static int import_done_tx(sqlite3 *db, void *arg)
{
	done_ctx *x = arg;
	sqlite3_stmt *st;
	int64_t now = tds_now_ms();
	int rc;
	if (x->error_code) {
		if ((rc = tds_store_prepare(db, "UPDATE sources SET status = 'failed', last_error = ?, updated_at = ? WHERE id = ?",
					    &st)))
			return rc;
		sqlite3_bind_text(st, 1, x->error, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_text(st, 3, x->id, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : tds_store_error(db, "recording the failed import");
		sqlite3_finalize(st);
		return rc ? rc
			  : evidence(x->c, db, "catalog.source_import_failed", x->actor, x->id,
				     json_pack("{s:s}", "code", x->error_code));
	}
	char *meta = tds_json_dumps(x->meta);
	if (!meta)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	if ((rc = tds_store_prepare(db, "UPDATE sources SET status = 'imported', last_error = NULL, data_file = ?,"
				       " imported_table = ?, metadata = ?, import_count = ?, imported_at = ?, updated_at = ?"
				       " WHERE id = ?", &st))) {
		free(meta);
		return rc;
	}
	sqlite3_bind_text(st, 1, x->data_file, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, x->table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, meta, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, x->import_count);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int64(st, 6, now);
	sqlite3_bind_text(st, 7, x->id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(db) == 1 ? 0 : tds_store_error(db, "recording the import");
	sqlite3_finalize(st);
	free(meta);
	if (rc)
		return rc;
	json_t *tables = json_object_get(x->meta, "tables"), *t;
	size_t i;
	json_int_t rows = 0, cols = 0;
	json_array_foreach(tables, i, t) {
		rows += json_integer_value(json_object_get(t, "row_count"));
		cols += (json_int_t)json_array_size(json_object_get(t, "columns"));
	}
	json_t *payload = json_pack("{s:I, s:I, s:I}", "rows", rows, "tables", (json_int_t)json_array_size(tables), "columns", cols);
	const char *hash = tds_json_str(x->meta, "content_hash", NULL);
	if (hash) {
		json_object_set_new(payload, "content_hash", json_string(hash));
		json_object_set_new(payload, "hash_alg", json_string(tds_json_str(x->meta, "hash_alg", "")));
		json_object_set(payload, "bytes", json_object_get(x->meta, "bytes"));
	}
	return evidence(x->c, db, "catalog.source_imported", x->actor, x->id, payload);
}

/* Profiles a database source in place: the registered table, or every table (at most 64). */
static int profile_db(tds_catalog *c, const srow *r, json_t **meta)
{
	*meta = NULL;
	tds_dbsrc *src = NULL;
	json_t *opts = NULL, *names = NULL, *tables = json_array();
	int rc, fd = -1;
	char resolved[PATH_MAX];
	if (r->options)
		tds_json_parse(r->options, strlen(r->options), &opts);
	const char *table = tds_json_str(opts, "table", NULL);
	if (strcmp(r->kind, "sqlite") == 0) {
		if (!(rc = open_beneath(c, r->location, &fd, resolved)))
			rc = tds_dbsrc_open_sqlite(resolved, &src);
	} else {
		tds_buf conn = TDS_BUF_INIT;
		if (!c->have_seal_key)
			rc = tds_error_set(TDS_EUNPROC, "no_seal_key", "this node cannot open sealed connection strings");
		else if (!(rc = tds_unseal(c->seal_key, SEAL_CONTEXT, r->sealed.data, r->sealed.len, &conn)))
			rc = tds_dbsrc_open_pg(conn.data, &src);
		if (conn.data)
			memset(conn.data, 0, conn.len);
		tds_buf_free(&conn);
	}
	if (!rc) {
		if (table)
			names = json_pack("[s]", table);
		else
			rc = tds_dbsrc_tables(src, &names);
	}
	size_t i;
	json_t *name;
	json_array_foreach(names, i, name) {
		json_t *t = NULL;
		if (rc || (rc = tds_dbsrc_profile(src, json_string_value(name), &t)))
			break;
		json_array_append_new(tables, t);
	}
	if (!rc)
		*meta = json_pack("{s:s, s:O}", "kind", r->kind, "tables", tables);
	json_decref(tables);
	json_decref(names);
	json_decref(opts);
	tds_dbsrc_close(src);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int import_csv(tds_catalog *c, const srow *r, import_ctx2 *pc, char *data_name, size_t cap, char *table, json_t **meta)
{
	int fd = -1, rc;
	char resolved[PATH_MAX], path[PATH_MAX];
	json_t *opts = NULL;
	tds_csv_opts co;
	if (r->options)
		tds_json_parse(r->options, strlen(r->options), &opts);
	rc = csv_options_parse(opts, &co);
	json_decref(opts);
	if (rc)
		return rc;
	if (strcmp(r->location, "upload") == 0) {
		char name[TDS_ID_MAX + 16];
		snprintf(name, sizeof name, "%s.upload.csv", r->id);
		if ((rc = tds_path_join(path, sizeof path, c->data_dir, name)))
			return rc;
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return tds_error_set(TDS_EIO, NULL, "the uploaded file is missing: %s", strerror(errno));
	} else if ((rc = open_beneath(c, r->location, &fd, resolved))) {
		return rc;
	}
	snprintf(data_name, cap, "%s-%lld.db", r->id, (long long)r->import_count + 1);
	tds_sql_name(r->name, strlen(r->name), table, 72);
	tds_csv *reader;
	if ((rc = tds_path_join(path, sizeof path, c->data_dir, data_name))) {
		close(fd);
		return rc;
	}
	if ((rc = tds_csv_open_fd(fd, true, &co, &reader)))
		return rc; /* tds_csv_open_fd closed fd */
	tds_csv_import_opts io = {.table = table, .progress = on_progress, .progress_ctx = pc, .hash_suite = c->suite};
	rc = tds_csv_import(reader, path, &io, meta);
	tds_csv_free(reader);
	if (!rc) { /* the table name as stored (tds_csv_import may have adjusted it) */
		const char *t = tds_json_str(json_array_get(json_object_get(*meta, "tables"), 0), "name", table);
		snprintf(table, 72, "%s", t);
		json_object_set_new(*meta, "kind", json_string("csv"));
	}
	return rc;
}

int tds_catalog_source_import(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const char *id,
			      tds_import_progress_fn progress, void *progress_ctx, json_t **out)
{
	*out = NULL;
	srow r;
	int rc = load(c, org, id, &r);
	if (rc)
		return rc;
	cat_running run = {0};
	snprintf(run.id, sizeof run.id, "%s", r.id);
	pthread_mutex_lock(&c->lock);
	bool busy = running_find(c, r.id) != NULL;
	if (!busy) {
		run.next = c->running;
		c->running = &run;
	}
	pthread_mutex_unlock(&c->lock);
	if (busy) {
		srow_free(&r);
		return tds_error_set(TDS_ECONFLICT, "import_running", "an import of this source is already running");
	}
	import_ctx2 pc = {c, &run, progress, progress_ctx};
	char data_name[TDS_ID_MAX + 32] = "", table[80] = "", path[PATH_MAX] = "";
	json_t *meta = NULL;
	if (strcmp(r.kind, "csv") == 0)
		rc = import_csv(c, &r, &pc, data_name, sizeof data_name, table, &meta);
	else
		rc = profile_db(c, &r, &meta);
	done_ctx d = {.c = c, .actor = actor, .id = r.id, .meta = meta, .import_count = r.import_count + 1,
		      .data_file = data_name[0] ? data_name : NULL, .table = table[0] ? table : NULL};
	char code[64], msg[800];
	int import_rc = rc;
	if (rc) {
		snprintf(code, sizeof code, "%s", tds_error_name());
		snprintf(msg, sizeof msg, "%s", tds_error_message());
		d.error_code = code;
		d.error = msg;
	} else if (strcmp(r.kind, "csv") != 0) { /* database sources keep no file */
		d.data_file = NULL;
	}
	if (data_name[0])
		tds_path_join(path, sizeof path, c->data_dir, data_name);
	rc = tds_store_tx(c->store, import_done_tx, &d);
	if ((rc || import_rc) && path[0])
		unlink(path); /* the new file is not recorded: drop it (a crash here is cleaned at open) */
	if (!rc && !import_rc && r.data_file && (!d.data_file || strcmp(r.data_file, d.data_file) != 0)) {
		char old[PATH_MAX];
		if (!tds_path_join(old, sizeof old, c->data_dir, r.data_file))
			unlink(old);
	}
	pthread_mutex_lock(&c->lock);
	for (cat_running **pp = &c->running; *pp; pp = &(*pp)->next)
		if (*pp == &run) {
			*pp = run.next;
			break;
		}
	pthread_mutex_unlock(&c->lock);
	json_decref(meta);
	if (import_rc) { /* the import's own error is the answer, not the bookkeeping's */
		tds_error_set(import_rc, code, "%s", msg);
		rc = import_rc;
	}
	if (!rc) {
		srow now;
		if (!(rc = load(c, NULL, r.id, &now))) {
			*out = srow_json(c, &now, true);
			srow_free(&now);
		}
	}
	srow_free(&r);
	return rc;
}

/* ---- samples, data ---- */

int tds_catalog_source_data(tds_catalog *c, const char *id, char *path_out, size_t cap, char *table_out)
{
	srow r;
	int rc = load(c, NULL, id, &r);
	if (rc)
		return rc;
	if (strcmp(r.kind, "csv") != 0 || !r.data_file || !r.table)
		rc = tds_error_set(TDS_EUNPROC, "not_imported",
				   strcmp(r.kind, "csv") ? "database sources are read in place; they have no data file"
							 : "the source has not been imported yet");
	else if (!(rc = tds_path_join(path_out, cap, c->data_dir, r.data_file)))
		snprintf(table_out, 72, "%s", r.table);
	srow_free(&r);
	return rc;
}

int tds_catalog_source_sample(tds_catalog *c, const char *org, const char *id, const char *table, int limit,
			      json_t **out)
{
	*out = NULL;
	srow r;
	int rc = load(c, org, id, &r);
	if (rc)
		return rc;
	if (limit <= 0)
		limit = c->sample_rows;
	if (limit > 1000)
		limit = 1000;
	tds_dbsrc *src = NULL;
	json_t *opts = NULL, *names = NULL;
	char path[PATH_MAX];
	int fd = -1;
	const char *t = table;
	if (strcmp(r.kind, "csv") == 0) {
		if (!r.data_file || !r.table) {
			rc = tds_error_set(TDS_EUNPROC, "not_imported", "import the source before asking for a sample");
		} else if (table && strcmp(table, r.table) != 0) {
			rc = tds_error_set(TDS_ENOTFOUND, "no_such_table", "a CSV source has one table, %s", r.table);
		} else if (!(rc = tds_path_join(path, sizeof path, c->data_dir, r.data_file))) {
			rc = tds_dbsrc_open_sqlite(path, &src);
			t = r.table;
		}
	} else {
		if (r.options)
			tds_json_parse(r.options, strlen(r.options), &opts);
		if (strcmp(r.kind, "sqlite") == 0) {
			if (!(rc = open_beneath(c, r.location, &fd, path)))
				rc = tds_dbsrc_open_sqlite(path, &src);
		} else {
			tds_buf conn = TDS_BUF_INIT;
			if (!c->have_seal_key)
				rc = tds_error_set(TDS_EUNPROC, "no_seal_key", "this node cannot open sealed connection strings");
			else if (!(rc = tds_unseal(c->seal_key, SEAL_CONTEXT, r.sealed.data, r.sealed.len, &conn)))
				rc = tds_dbsrc_open_pg(conn.data, &src);
			if (conn.data)
				memset(conn.data, 0, conn.len);
			tds_buf_free(&conn);
		}
		if (!rc && !t)
			t = tds_json_str(opts, "table", NULL);
		if (!rc && !t && !(rc = tds_dbsrc_tables(src, &names))) {
			t = json_string_value(json_array_get(names, 0));
			if (!t)
				rc = tds_error_set(TDS_ENOTFOUND, "no_such_table", "the database has no tables");
		}
	}
	if (!rc)
		rc = tds_dbsrc_rows(src, t, limit, out);
	tds_dbsrc_close(src);
	json_decref(names);
	json_decref(opts);
	if (fd >= 0)
		close(fd);
	srow_free(&r);
	return rc;
}

/* ---- delete ---- */

typedef struct del_ctx {
	tds_catalog *c;
	const tds_ledger_actor *actor;
	const srow *r;
} del_ctx;

static int delete_tx(sqlite3 *db, void *arg)
{
	del_ctx *x = arg;
	sqlite3_stmt *st;
	int rc = tds_store_prepare(db, "DELETE FROM sources WHERE id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, x->r->id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : tds_store_error(db, "deleting source");
	sqlite3_finalize(st);
	return rc ? rc
		  : evidence(x->c, db, "catalog.source_deleted", x->actor, x->r->id,
			     json_pack("{s:s, s:s}", "kind", x->r->kind, "name", x->r->name));
}

int tds_catalog_source_delete(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const char *id)
{
	srow r;
	int rc = load(c, org, id, &r);
	if (rc)
		return rc;
	pthread_mutex_lock(&c->lock);
	bool busy = running_find(c, r.id) != NULL;
	pthread_mutex_unlock(&c->lock);
	if (busy) {
		srow_free(&r);
		return tds_error_set(TDS_ECONFLICT, "import_running", "the source is being imported; delete it afterwards");
	}
	del_ctx x = {c, actor, &r};
	if (!(rc = tds_store_tx(c->store, delete_tx, &x))) {
		char p[PATH_MAX], name[TDS_ID_MAX + 16];
		if (r.data_file && !tds_path_join(p, sizeof p, c->data_dir, r.data_file))
			unlink(p);
		snprintf(name, sizeof name, "%s.upload.csv", r.id);
		if (!tds_path_join(p, sizeof p, c->data_dir, name))
			unlink(p);
	}
	srow_free(&r);
	return rc;
}
