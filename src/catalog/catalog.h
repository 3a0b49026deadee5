/*
 * catalog — what a provider brings into the space and how others find it: data sources (数据源) on
 * the connector, and (later in this issue) resources (数据资源), products (数据产品), classification
 * and grading (分类分级), codes (数据标识) and the fused catalog (融合目录) with search.
 *
 * This header is the module's whole public face. It is organised in sections, one per concept:
 *
 *   1. Column types and profiles   value classification and per-column statistics, shared by every
 *                                  kind of source (and later by resources)
 *   2. CSV reader                  RFC 4180, streaming, UTF-8 and GB18030, total on any input
 *   3. CSV import                  streaming import into a source's own SQLite file
 *   4. Database sources            SQLite files (opened read-only) and PostgreSQL tables (libpq,
 *                                  read-only session)
 *   5. Source registry             the connector's `sources` table, evidence, the module handle
 *   6. Resource codes              the code an approved resource gets, with its check character
 *   7. Resources                   registration, scan, review, publication, deregistration
 *   8. HTTP routes
 *   9. Products                    API, dataset and file products, versions, review, codes, listing
 *  10. Fused catalog and search    the operator's catalog of every connector's listed resources and
 *                                  products plus imported public-data items; search; the outbox
 *
 * Raw data stays on the connector (数据不出域). A source's raw rows live in a SQLite file of their
 * own under DIR/data/ (never in the control database tds.db); what leaves the connector later is
 * metadata only: schema, types, counts, null ratios, distinct estimates, ranges. Samples are for the
 * owner's eyes and for the sensitive-data scan; they never leave the connector except through
 * masking (a later step). docs/catalog.md explains the storage layout and every decision.
 *
 * Errors follow base.h: bad input is TDS_EINVAL with a snake_case name and a message naming the line
 * (and column or byte offset) that is wrong; a well-formed request the module refuses is TDS_EUNPROC
 * or TDS_ECONFLICT; file and database failures are TDS_EIO.
 */
#ifndef TDS_CATALOG_H
#define TDS_CATALOG_H

#include "base/base.h"
#include "crypto/crypto.h"
#include "ledger/ledger.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ================================================================================================
 * 1. Column types and profiles
 * ================================================================================================
 *
 * Every value of a source is seen as text and classified. The rules (exact, so that a type never
 * loses information when the value is stored typed):
 *
 *   null      "" (empty), "NULL", "null", "\N"
 *   integer   -?(0|[1-9][0-9]{0,14}): at most 15 digits, so every value is exact in a JSON client
 *             (2^53); longer digit strings are identifiers (ID, card and account numbers): text.
 *             Leading zeros ("007", a code) make text.
 *   decimal   -?(0|[1-9][0-9]*)\.[0-9]+ with at most 15 significant digits (exact as a double)
 *   date      YYYY-MM-DD or YYYY/MM/DD, a real calendar day, years 1000-9999 (stored as YYYY-MM-DD)
 *   datetime  a date, 'T' or ' ', HH:MM[:SS[.fraction]] and optionally Z or ±HH:MM
 *   boolean   true/false, yes/no, t/f, y/n (ASCII, any case), 是/否
 *   text      anything else
 *
 * A column's type is the first of integer, decimal, date, datetime, boolean that every non-null
 * value of the column satisfies (an integer also satisfies decimal), else text; a column with only
 * nulls is text.
 */

typedef enum {
	TDS_COL_INTEGER = 0,
	TDS_COL_DECIMAL,
	TDS_COL_DATE,
	TDS_COL_DATETIME,
	TDS_COL_BOOLEAN,
	TDS_COL_TEXT,
	TDS_COL_NTYPES
} tds_col_type;

/* "integer", "decimal", "date", "datetime", "boolean", "text"; NULL for an unknown value. */
const char *tds_col_type_name(tds_col_type t);
/* SQL type declared for a column of this type in an imported table: INTEGER, REAL, "DATE TEXT",
 * "DATETIME TEXT", BOOLEAN, TEXT (SQLite affinities: INTEGER, REAL, TEXT, TEXT, NUMERIC, TEXT). */
const char *tds_col_type_sql(tds_col_type t);

/* True when s[0..len) is a null marker (rules above). */
bool tds_value_is_null(const char *s, size_t len);

/* A classified value: the set of types it satisfies (bit 1 << tds_col_type; always includes text)
 * and its typed form for the most specific of them. */
typedef struct tds_value {
	unsigned types;
	int64_t i;       /* integer; boolean as 0/1 */
	double d;        /* decimal (and integer) */
	char date[36];   /* date/datetime normalised: '/' → '-' in the date part; NUL-terminated */
} tds_value;

/* Classifies s[0..len) (not null: check tds_value_is_null first). Total over any bytes. */
void tds_value_classify(const char *s, size_t len, tds_value *out);

/* A profile gathers, per column: nulls, non-null count, a HyperLogLog distinct estimate
 * (2^12 registers, ±1.6 %), min/max for integer, decimal, date and datetime columns, the longest
 * value, and the inferred type. Not thread-safe. */
typedef struct tds_profile tds_profile;

/* A profile of ncols columns (1..TDS_CSV_MAX_COLUMNS); NULL on allocation failure. */
tds_profile *tds_profile_new(size_t ncols);
void tds_profile_free(tds_profile *p); /* NULL is fine */
/* Adds one value of column c: s == NULL is SQL NULL; otherwise the null markers count as null. */
void tds_profile_add(tds_profile *p, size_t c, const char *s, size_t len);
/* Column c's inferred type so far. */
tds_col_type tds_profile_type(const tds_profile *p, size_t c);
/* Rows seen (the number of values added to column 0). */
uint64_t tds_profile_rows(const tds_profile *p);
/* The columns as a JSON array (new reference) of
 *   {"name","label","type","nulls","null_ratio","distinct_estimate","max_length","min","max"}
 * names[c] is the column's SQL name, labels[c] its original name (labels may be NULL); null_ratio is
 * a decimal string with 4 places ("0.0125": metadata may be signed, and signed JSON has no reals);
 * min/max are JSON integers for integer columns and strings otherwise, absent for text and boolean
 * columns and for columns with only nulls. */
json_t *tds_profile_json(const tds_profile *p, const char *const *names, const char *const *labels);

/* Column and table names: the SQL name made from a source's own name (header cell, table name).
 * Keeps letters, digits, '_' and any non-ASCII UTF-8 (Chinese names stay Chinese); other ASCII runs
 * become one '_'; leading/trailing '_' are trimmed; a name that is empty or starts with a digit gets
 * the prefix "c_"; at most 64 bytes (cut on a character boundary). Writes a NUL-terminated name into
 * out (cap >= 72). Callers still quote names in SQL (tds_sql_quote_ident); sanitising makes them
 * readable in product SQL, quoting makes them safe. */
void tds_sql_name(const char *s, size_t len, char *out, size_t cap);
/* Appends "name" with '"' doubled: a quoted SQL identifier. */
int tds_sql_quote_ident(tds_buf *b, const char *name);

/* ================================================================================================
 * 2. CSV reader
 * ================================================================================================
 *
 * RFC 4180 with the tolerances real files need: records end with CRLF, LF or a lone CR; fields are
 * separated by the delimiter (',' unless told); a field in double quotes may hold delimiters, line
 * breaks and doubled quotes (""). After a closing quote only a delimiter or a line end may follow.
 * A quote inside an unquoted field is kept as a literal character. Blank lines are skipped (and
 * counted in line numbers). Lines are physical lines of the file, from 1.
 *
 * Encodings: UTF-8 or GB18030 (GB 18030-2005 through glibc's iconv), converted to UTF-8 as the input
 * streams. TDS_CSV_AUTO detects: a UTF-8 BOM (EF BB BF) → UTF-8; a GB18030 BOM (84 31 95 33) →
 * GB18030; otherwise the first 1 MiB is checked: valid UTF-8 → UTF-8, else valid GB18030 → GB18030,
 * else UTF-8 (and the reader reports the first invalid byte). BOMs are removed. UTF-16 input (its
 * BOM, or NUL bytes) is refused with a message saying to convert it.
 *
 * The reader is total: any byte sequence gives records or one of these errors (all TDS_EINVAL,
 * except record_too_large TDS_ETOOBIG), after which every call returns the same error:
 *   unbalanced_quote      "line 7: quoted field starting here is never closed"
 *   invalid_quoted_field  a character other than delimiter or line end after a closing quote
 *   field_too_large       a field longer than max_field bytes (line and column named)
 *   too_many_columns      more than max_columns fields in a record
 *   invalid_encoding      bytes that are not valid in the input encoding (line and byte offset)
 *   nul_byte              a NUL byte (line and byte offset)
 *   unsupported_encoding  UTF-16 / UTF-32 input
 *   encoding_mismatch     a BOM that contradicts the encoding given
 *   read_failed           TDS_EIO from the input
 * ---------------------------------------------------------------------------------------------- */

typedef enum { TDS_CSV_AUTO = 0, TDS_CSV_UTF8, TDS_CSV_GB18030 } tds_csv_encoding;
typedef enum { TDS_CSV_HEADER_AUTO = 0, TDS_CSV_HEADER_YES, TDS_CSV_HEADER_NO } tds_csv_header;

#define TDS_CSV_MAX_FIELD_DEFAULT (1u << 20) /* 1 MiB */
#define TDS_CSV_MAX_COLUMNS 1000
#define TDS_CSV_MAX_RECORD (64u << 20)       /* bytes of one record after conversion */

/* "auto", "utf-8", "gb18030"; parse also accepts "utf8", "gbk" (a subset of GB18030), any case.
 * TDS_EINVAL "invalid_encoding_name". */
const char *tds_csv_encoding_name(tds_csv_encoding e);
int tds_csv_encoding_parse(const char *s, tds_csv_encoding *out);

typedef struct tds_csv_opts {
	tds_csv_encoding encoding; /* default auto */
	tds_csv_header header;     /* default auto (see tds_csv_sniff) */
	size_t max_field;          /* bytes of one field after conversion; 0 = TDS_CSV_MAX_FIELD_DEFAULT */
	unsigned max_columns;      /* 0 = TDS_CSV_MAX_COLUMNS (also the upper bound) */
	char delimiter;            /* 0 = ','; one of , ; | TAB */
	bool report_ragged;        /* import: skip and report rows with the wrong number of fields instead
				      of refusing the file */
} tds_csv_opts;

typedef struct tds_csv tds_csv;

/* A reader over memory (borrowed: must outlive the reader) or a file descriptor (read with read(2);
 * closed by tds_csv_free when own_fd). TDS_EINVAL "invalid_csv_options" for a bad delimiter or
 * limit. Nothing is read until the first tds_csv_next. */
int tds_csv_open_mem(const void *data, size_t len, const tds_csv_opts *opts, tds_csv **out);
int tds_csv_open_fd(int fd, bool own_fd, const tds_csv_opts *opts, tds_csv **out);
void tds_csv_free(tds_csv *r); /* NULL is fine */

/* One record. Fields are NUL-terminated UTF-8 inside the reader's buffer (quotes removed, "" made
 * "), valid until the next call on the reader. */
typedef struct tds_csv_record {
	size_t n;              /* fields, >= 1 */
	char **field;
	const size_t *len;     /* bytes of each field (a field may not contain NUL: refused on input) */
	uint64_t line;         /* physical line where the record starts */
} tds_csv_record;

/* Reads the next record: 1 and *rec filled, 0 at the end of input, or a negative code (errors
 * above). */
int tds_csv_next(tds_csv *r, tds_csv_record *rec);

/* Starts over from the first byte (the detected encoding is kept). TDS_EINVAL "not_rewindable" for
 * a descriptor that cannot seek. */
int tds_csv_rewind(tds_csv *r);

/* The encoding in use: the one given, or the detected one after the first tds_csv_next. */
tds_csv_encoding tds_csv_encoding_of(const tds_csv *r);
/* Input bytes consumed so far and, when known (a regular file or memory), the input's size (else 0). */
uint64_t tds_csv_bytes_read(const tds_csv *r);
uint64_t tds_csv_bytes_total(const tds_csv *r);

/* A table's shape as guessed from its first rows. */
typedef struct tds_csv_column {
	char name[72];    /* SQL name (tds_sql_name, made unique case-insensitively with _2, _3, …) */
	char *label;      /* the header cell as written, or NULL without a header (malloc'd) */
	tds_col_type type;
} tds_csv_column;

typedef struct tds_csv_schema {
	size_t ncols;
	tds_csv_column *cols; /* malloc'd */
	bool header;          /* the first record is a header */
	uint64_t rows_seen;   /* data records read for the guess */
} tds_csv_schema;

/* Reads up to max_rows records (0 = 10,000) from the reader's current position and guesses the
 * shape. The column count is the first record's. Header (with TDS_CSV_HEADER_AUTO): the first
 * record is a header when every cell is non-empty, not a null marker, classifies as text only, the
 * cells are distinct, and either some column's later values are not all text, or no later value of
 * a column repeats its header cell (or there are no later records). Header cells must not contain
 * control characters (TDS_EINVAL "invalid_column_name", naming line and column). Rows with another
 * number of fields are refused ("ragged_row", naming the line, the expected and the found count)
 * unless opts.report_ragged, when they are skipped. Types are those of the rows read. An empty input
 * is TDS_EUNPROC "empty_csv". The reader is left after the rows read: rewind before importing. */
int tds_csv_sniff(tds_csv *r, size_t max_rows, tds_csv_schema *out);
void tds_csv_schema_free(tds_csv_schema *s);

/* ================================================================================================
 * 3. CSV import
 * ================================================================================================
 *
 * tds_csv_import streams a CSV into a new SQLite file holding one table with typed columns:
 *
 *   - the first 10,000 records give the header and the declared column types (tds_csv_sniff);
 *   - the whole input is then read once more from the start, every value classified, profiled and
 *     bound typed (text bound SQLITE_STATIC, no allocation per row) to one prepared INSERT; a parser
 *     thread hands batches of 8,192 rows to a writer thread, so parsing and SQLite run on two cores;
 *   - should a later value not fit a declared type (a column whose first 10,000 values were integers
 *     holds "n/a" further down), the import runs again with the types of the whole file, so stored
 *     values never lose their written form;
 *   - the file is written as DB_PATH.tmp-XXXXXX with journal_mode=OFF and synchronous=OFF (nothing
 *     else can see it), fsync'd, then renamed over DB_PATH, and the directory fsync'd. An interrupted
 *     import (crash, power cut, cancel, error) leaves at most the temporary file, never a half table;
 *     the registry removes stale temporary files when it opens.
 * ---------------------------------------------------------------------------------------------- */

typedef struct tds_import_progress {
	uint64_t rows;         /* data rows imported so far */
	uint64_t bytes;        /* input bytes read so far */
	uint64_t total_bytes;  /* input size when known, else 0 */
	int64_t elapsed_us;
	int pass;              /* 1, or 2 when the import runs again with corrected types */
} tds_import_progress;

/* Called about every 65,536 rows and once at the end. Return non-zero to cancel the import
 * (TDS_ECONFLICT "import_cancelled"; nothing is left behind). Runs on the calling thread. */
typedef int (*tds_import_progress_fn)(void *ctx, const tds_import_progress *p);

typedef struct tds_csv_import_opts {
	const char *table;          /* table name (sanitised with tds_sql_name); NULL = "data" */
	tds_import_progress_fn progress;
	void *progress_ctx;
	tds_suite hash_suite;       /* hash the input bytes with this suite's hash (0 = do not) */
	size_t sniff_rows;          /* 0 = 10,000 */
} tds_csv_import_opts;

/* Imports the reader's input (from its first byte: the reader must be rewindable) into a new SQLite
 * file at db_path (atomically replacing any file there). On success *meta (new reference) is
 *   {"encoding","header","delimiter","rows","bytes","passes","ragged_rows","ragged_lines":[…first 10],
 *    "content_hash","hash_alg" (when hashed), "seconds",
 *    "tables":[{"name","row_count","columns":[…tds_profile_json…]}]}
 * Errors: the reader's (naming the line), TDS_EUNPROC "empty_csv" / "no_rows"… , TDS_EIO for the
 * file, TDS_ECONFLICT "import_cancelled". */
int tds_csv_import(tds_csv *r, const char *db_path, const tds_csv_import_opts *opts, json_t **meta);

/* ================================================================================================
 * 4. Database sources: SQLite files and PostgreSQL tables
 * ================================================================================================
 *
 * Read-only by construction. SQLite files are opened with SQLITE_OPEN_READONLY, query_only,
 * trusted_schema off and the defensive flag. PostgreSQL connections are made with
 * default_transaction_read_only=on in the startup options, then SET SESSION CHARACTERISTICS AS
 * TRANSACTION READ ONLY, and both settings are read back and verified before anything else runs
 * (TDS_EUNPROC "not_read_only" otherwise); statement_timeout is 60 s. The PostgreSQL role should
 * itself be read-only (SELECT grants only): the session setting stops TDS from writing by mistake, the
 * role stops anyone. A role that can write to a profiled table is reported in the metadata
 * ("role_can_write": true). Connection strings may not use passfile or service (they read files on
 * the connector): TDS_EINVAL "invalid_connection".
 *
 * Table names: SQLite "name"; PostgreSQL "name" (schema public) or "schema.name"; identifiers are
 * always quoted, never interpolated. Values are profiled from their text form like CSV values.
 * ---------------------------------------------------------------------------------------------- */

typedef struct tds_dbsrc tds_dbsrc;

#define TDS_DBSRC_MAX_TABLES 64 /* tables listed and profiled per source */

/* Opens a SQLite file read-only. TDS_EIO "cannot_open" when it is missing or not a database. */
int tds_dbsrc_open_sqlite(const char *path, tds_dbsrc **out);
/* Connects to PostgreSQL (libpq connection string or URI) and makes the session read-only (above).
 * TDS_EIO "connection_failed" (the server's message, never the password), TDS_EINVAL
 * "invalid_connection", TDS_EUNPROC "not_read_only". */
int tds_dbsrc_open_pg(const char *conninfo, tds_dbsrc **out);
void tds_dbsrc_close(tds_dbsrc *s); /* NULL is fine */
/* "sqlite" or "postgres". */
const char *tds_dbsrc_kind(const tds_dbsrc *s);

/* Tables (and views) as a JSON array of names, at most TDS_DBSRC_MAX_TABLES, sorted. */
int tds_dbsrc_tables(tds_dbsrc *s, json_t **out);
/* Reads every row of `table` once and returns {"name","row_count","columns":[…tds_profile_json…,
 * each with "source_type", the declared type]} (+ "role_can_write" for PostgreSQL).
 * TDS_ENOTFOUND "no_such_table". */
int tds_dbsrc_profile(tds_dbsrc *s, const char *table, json_t **out);
/* The first `limit` rows (1..1000): {"table","columns":[names],"rows":[[v,…],…]}, values as JSON
 * integers, reals, strings or null (SQLite blobs as {"blob_bytes":n}). */
int tds_dbsrc_rows(tds_dbsrc *s, const char *table, int limit, json_t **out);

/* ================================================================================================
 * 5. Source registry (connector side)
 * ================================================================================================
 *
 * The connector's `sources` table: id "src_…", owning organisation, name (unique per organisation),
 * kind csv | sqlite | postgres, location, status registered | importing | imported | failed, the
 * imported table, metadata JSON, timestamps. Every change is evidenced in the same transaction:
 *   catalog.source_registered  {kind, name, location}          subjects: source id
 *   catalog.source_imported    {rows, tables, columns, bytes, content_hash, hash_alg}
 *   catalog.source_import_failed {code}
 *   catalog.source_deleted     {kind, name}
 *
 * Locations. CSV and SQLite files are named by a path relative to the import directory
 * (catalog.import_dir, default DIR/import): absolute paths, ".." and symlinks that lead out of it are
 * refused (TDS_EINVAL "invalid_path"), so a caller of the API cannot read the node's own files. A
 * CSV may instead be uploaded in the registration request (content_base64, bounded by the API's
 * body limit); it is kept as DIR/data/<id>.upload.csv. PostgreSQL sources take a connection string,
 * stored sealed (tds_seal under the node's key, context "catalog-source-conn"); only a redacted
 * form (password removed) is ever shown.
 *
 * Raw data. An imported CSV lives in DIR/data/<id>-<n>.db (n counts imports), one table named after
 * the source. See docs/catalog.md for why this is not tds.db.
 * ---------------------------------------------------------------------------------------------- */

typedef struct tds_catalog tds_catalog;

typedef struct tds_catalog_opts {
	tds_ledger *ledger;       /* evidence (borrowed, required for changes) */
	const char *node_id;      /* actor node of evidence entries (copied) */
	const char *dir;          /* node directory: raw data goes to DIR/data (required, copied) */
	const char *import_dir;   /* server-side files must lie under it; NULL = DIR/import (copied) */
	const uint8_t *seal_key;  /* 32 bytes sealing connection strings (copied); NULL = postgres refused */
	tds_suite suite;          /* suite for sealing and content hashes */
	int sample_rows;          /* default rows of a sample, 0 = 20 */
	const char *code_base;    /* resource codes: the space's URI (section 6); NULL = TDS_RESCODE_DEFAULT_BASE */
} tds_catalog_opts;

/* Runs the "catalog" migrations, creates DIR/data (0700) and the import directory if missing,
 * removes stale temporary import files and raw-data files no source refers to, and marks sources
 * left "importing" by a crash as "failed" (error "interrupted"). */
int tds_catalog_open(tds_store *store, const tds_catalog_opts *opts, tds_catalog **out);
void tds_catalog_free(tds_catalog *c); /* NULL is fine */
/* The import directory in use (absolute, resolved). */
const char *tds_catalog_import_dir(const tds_catalog *c);

/* A source to register. */
typedef struct tds_source_new {
	const char *org_id;       /* owner (NULL: the node itself, e.g. an administrator) */
	const char *name;         /* 1..128 bytes of UTF-8 without control characters */
	const char *kind;         /* "csv", "sqlite", "postgres" */
	const char *path;         /* csv, sqlite: relative to the import directory */
	const void *content;      /* csv: uploaded bytes instead of a path */
	size_t content_len;
	const char *connection;   /* postgres: connection string (sealed at rest) */
	const char *table;        /* sqlite, postgres: profile only this table (default: every table) */
	tds_csv_opts csv;         /* csv: encoding, header, delimiter, report_ragged */
} tds_source_new;

/* Registers a source: checks the location (the file opens; the database opens read-only; the
 * PostgreSQL session is read-only), stores it, evidences it. *out: the source as JSON (below).
 * TDS_EINVAL for bad input (named), TDS_ECONFLICT "source_name_taken". */
int tds_catalog_source_create(tds_catalog *c, const tds_ledger_actor *actor, const tds_source_new *in, json_t **out);

/* Imports a source: a CSV is streamed into its own SQLite file (section 3); a SQLite or PostgreSQL
 * source is profiled in place (nothing copied). The metadata replaces the previous one, atomically
 * with the data file. One import per source at a time (TDS_ECONFLICT "import_running"); progress
 * (may be NULL) is called as in section 3 and is visible meanwhile in tds_catalog_source_get. A
 * failed import keeps the previous data and metadata, sets status "failed" with the error and is
 * evidenced. `org` (NULL = any) restricts to that organisation's sources. *out: the source. */
int tds_catalog_source_import(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const char *id,
			      tds_import_progress_fn progress, void *progress_ctx, json_t **out);

/* A source as JSON:
 *   {"id","org_id","name","kind","location","options","status","table","error","metadata",
 *    "created_at","updated_at","imported_at","progress"(while importing)}
 * TDS_ENOTFOUND "source_not_found" (also when it belongs to another organisation than `org`). */
int tds_catalog_source_get(tds_catalog *c, const char *org, const char *id, json_t **out);
/* Page of sources (without metadata) in id order after cursor: {"items":[…],"next_cursor":…|null}. */
int tds_catalog_source_list(tds_catalog *c, const char *org, int limit, const char *cursor, json_t **out);
/* The first `limit` rows (0 = the default sample size, at most 1000) of the source's table `table`
 * (NULL = its only or first table): {"table","columns","rows"}. A CSV source must be imported first
 * (TDS_EUNPROC "not_imported"). */
int tds_catalog_source_sample(tds_catalog *c, const char *org, const char *id, const char *table, int limit,
			      json_t **out);
/* Deletes a source, its raw-data file and its uploaded file; evidenced. */
int tds_catalog_source_delete(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const char *id);

/* The raw-data SQLite file and table of an imported CSV source (for the scan and products):
 * path written into path_out (cap bytes), table into table_out (cap >= 72). TDS_EUNPROC
 * "not_imported" before the first import. */
int tds_catalog_source_data(tds_catalog *c, const char *id, char *path_out, size_t cap, char *table_out);

/* ================================================================================================
 * 6. Resource codes (数据资源标识, rescode.c)
 * ================================================================================================
 *
 * An approved resource gets a code: BASE "/res/" SERIAL CHECK, e.g. tds://space.local/res/000000427.
 * BASE is the space's URI (config catalog.code_base, default "tds://space.local"); SERIAL is the
 * resource's serial number in this space, TDS_RESCODE_SERIAL_DIGITS decimal digits with leading
 * zeros; CHECK is the ISO 7064 MOD 37,36 check character (hybrid system, M = 36, characters 0-9 and
 * A-Z) computed over SERIAL. A hybrid MOD 37,36 check detects every single-character substitution
 * and every transposition of adjacent characters in SERIAL; a change to BASE or "/res/" is caught by
 * comparing them literally. Every code taken as input is validated with tds_rescode_parse.
 * ---------------------------------------------------------------------------------------------- */

#define TDS_RESCODE_SERIAL_DIGITS 8
#define TDS_RESCODE_SERIAL_MAX 99999999ull
#define TDS_RESCODE_BASE_MAX 200
#define TDS_RESCODE_MAX (TDS_RESCODE_BASE_MAX + 5 + TDS_RESCODE_SERIAL_DIGITS + 2)
#define TDS_RESCODE_DEFAULT_BASE "tds://space.local"

/* ISO 7064 MOD 37,36 check character ('0'-'9', 'A'-'Z') of body[0..n) (characters 0-9, A-Z);
 * 0 when body holds any other byte. */
char tds_rescode_check_char(const char *body, size_t n);
/* 0 when base is a usable code base: "scheme://…", 8-200 bytes of printable ASCII without spaces,
 * '?', '#' or a trailing '/'; TDS_EINVAL "invalid_code_base" otherwise. */
int tds_rescode_base_check(const char *base);
/* Writes the code of `serial` (1..TDS_RESCODE_SERIAL_MAX) under base into out (cap >= TDS_RESCODE_MAX). */
int tds_rescode_format(const char *base, uint64_t serial, char *out, size_t cap);
/* Checks that code is a code under base with a correct check character; *serial (may be NULL) gets
 * its serial. TDS_EINVAL "invalid_code" with a message saying what is wrong. */
int tds_rescode_parse(const char *base, const char *code, uint64_t *serial);

/* ================================================================================================
 * 7. Resources (数据资源, resource.c)
 * ================================================================================================
 *
 * A resource describes a provider's imported source for the space: metadata (name, description,
 * business attributes (业务属性) as a JSON object, source category, update frequency (realtime,
 * hourly, daily, weekly, monthly, quarterly, yearly, irregular, once), domain (领域), tags), the
 * source's profile, and the sensitive-data scan (敏感数据识别, src/anon) of the source's imported
 * table (its first TDS_RESOURCE_SCAN_ROWS rows; volume escalations use the whole row count). The
 * scan's table level L1-L4 and grade (一般/重要/核心) are the resource's.
 *
 * Lifecycle (each step and its evidence entry commit in one transaction; subjects: the resource id
 * and, once it has one, its code):
 *   register        provider → pending_review                     catalog.resource_registered
 *   override        reviewer changes a column's verdict, with a reason (pending_review only);
 *                   the level and grade follow                     catalog.resource_overridden
 *   review          reviewer approves or rejects version V with legality (compliant |
 *                   non_compliant), masking_adequate, filing_status (filed | not_required | pending)
 *                   and reasons (required to reject). High-risk resources — level L3 or L4, or
 *                   grade 重要 or 核心 — need two approvals by different reviewers, others one. On the last approval the resource is approved and gets its
 *                   code (section 6), once; a rejection makes it rejected.      catalog.resource_reviewed
 *                   A reviewer of the resource's own organisation, or its registrant, is refused
 *                   (TDS_EPERM "self_review") and the refusal is evidenced: catalog.resource_review_refused
 *   publish         provider, approved | published → published, scope {"scope":"space"} |
 *                   {"scope":"roles","roles":[…]} | {"scope":"orgs","orgs":[org ids]}
 *                                                                  catalog.resource_published
 *   update          provider: new metadata, a fresh scan of the source (reviewers' overrides kept by
 *                   column name), version + 1. A rejected resource goes back to pending_review; an
 *                   approved or published one too when its level rises above the approved level
 *                   (its code stays); otherwise the state is kept.  catalog.resource_updated
 *   deregister      provider, approved | published → deregistering, with a reason
 *                                                                  catalog.resource_deregister_requested
 *   confirm         operator, deregistering → deregistered, copies_destroyed must be true
 *                                                                  catalog.resource_deregistered
 *   remove          operator, any state but deregistered | removed → removed, with a reason
 *                                                                  catalog.resource_removed
 * A step from a state that does not allow it is TDS_ECONFLICT "invalid_state". Input objects are
 * checked strictly (unknown members are TDS_EINVAL). `org` arguments (NULL = any) restrict provider
 * operations and reads to that organisation's resources (TDS_ENOTFOUND "resource_not_found" else).
 *
 * A resource as JSON: {"id","org_id","source_id","name","version","metadata","level":"L3","grade",
 * "grade_zh","status","code","scope","note","created_by","created_at","updated_at"} and, for one
 * resource (not in lists), "profile", "scan" (tds.anon.scan/1), "reviews":[…], "approvals" (of the
 * current version) and "approvals_needed".
 * ---------------------------------------------------------------------------------------------- */

#define TDS_RESOURCE_SCAN_ROWS 100000

/* in: {"source_id","name", and optional "description","attributes","source_category",
 * "update_frequency","domain","tags"}. The source must be an imported CSV source of `org`
 * (TDS_EUNPROC "not_imported"). The source's organisation owns the resource. */
int tds_catalog_resource_create(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const json_t *in,
				json_t **out);
/* in: any of the metadata members of create except source_id (at least one). */
int tds_catalog_resource_update(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const char *id,
				const json_t *in, json_t **out);
/* in: as tds_anon_override_json without "by" (the actor's account is recorded). */
int tds_catalog_resource_override(tds_catalog *c, const tds_ledger_actor *actor, const char *id, const json_t *in,
				  json_t **out);
/* in: {"decision":"approve"|"reject","legality","masking_adequate","filing_status","reasons":[…]}.
 * An approval must say compliant, masking_adequate true and filed | not_required (TDS_EUNPROC
 * "inconsistent_review"); the same reviewer approving twice is TDS_ECONFLICT "second_reviewer_required". */
int tds_catalog_resource_review(tds_catalog *c, const tds_ledger_actor *actor, const char *id, const json_t *in,
				json_t **out);
int tds_catalog_resource_publish(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const char *id,
				 const json_t *in, json_t **out);
/* in: {"reason"}. */
int tds_catalog_resource_deregister(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const char *id,
				    const json_t *in, json_t **out);
/* in: {"copies_destroyed": true, "note"}; false is TDS_EUNPROC "copies_not_destroyed". */
int tds_catalog_resource_confirm_deregistration(tds_catalog *c, const tds_ledger_actor *actor, const char *id,
						 const json_t *in, json_t **out);
/* in: {"reason"}. */
int tds_catalog_resource_remove(tds_catalog *c, const tds_ledger_actor *actor, const char *id, const json_t *in,
				json_t **out);
int tds_catalog_resource_get(tds_catalog *c, const char *org, const char *id, json_t **out);
/* The resource with this code; the code is validated first (TDS_EINVAL "invalid_code"). */
int tds_catalog_resource_by_code(tds_catalog *c, const char *org, const char *code, json_t **out);
/* Page in id order after cursor, optionally of one status: {"items":[…],"next_cursor":…|null}. */
int tds_catalog_resource_list(tds_catalog *c, const char *org, const char *status, int limit, const char *cursor,
			      json_t **out);

/* ================================================================================================
 * 9. Products (数据产品, product.c; SQL validator sqlcheck.c; codes rescode.c)
 * ================================================================================================
 *
 * A product packages a resource for use. It is built on one resource of the same organisation
 * that is approved or published, and takes one of three forms:
 *
 *   api      a stored, validated SELECT over the resource's table plus an interface spec:
 *            parameters (name, type, required) and output fields (name, label, type). Two ways in:
 *              wizard  {"mode":"wizard","table"?,"fields":[col…],"filters":[{"field","op","param"?,
 *                      "required"?}],"order_by"?:[{"field","desc"?}],"limit"?}: the SQL is generated
 *                      (ops eq ne lt le gt ge like; an optional filter is (:p IS NULL OR …));
 *              script  {"mode":"script","sql","parameters":[{"name","type","required"?,
 *                      "description"?}],"labels"?:{column: label}}: a parameterised SELECT checked
 *                      by tds_product_sql_check on the resource's data file.
 *            Both are checked the same way; the stored spec is {"mode","table","sql","parameters",
 *            "outputs", and for the wizard "wizard" (the input)}.
 *   dataset  {"fields":[{"name","permission"?,"mask"?}]}: chosen columns with a field-level
 *            permission (read | masked | compute_only) and a masking rule of the anon module
 *            (a method name "suppress" | "email" | "year" | "ip" | "hash" | "none", or
 *            {"method":"keep","first","last"}); without one the resource scan's suggested mask is
 *            the default, and the permission defaults to masked when that mask hides anything.
 *   file     {"file_name","media_type","content_base64"}: the upload (bounded by api.max_body) is
 *            kept as DIR/data/<product id>-v<N>.file (0600) with its size, the suite hash
 *            ("hash", "hash_alg") and, for text and CSV, a preview (first lines, bounded).
 *
 * Common members: "name" (1-128 bytes, no control characters), "description" (≤ 4000), "scenarios"
 * (1-16 declared use scenarios / purposes, each 1-200 bytes: contracts check purposes against
 * them), "industry" (GB/T 4754-2017: a section letter A-T, optionally followed by the 2-digit
 * division of that section and up to 2 more digits: "I", "I65", "I6510"), "domain", "tags" (≤ 32,
 * each 1-32 bytes). Unknown members are TDS_EINVAL.
 *
 * Versions. Every registration or update writes an immutable version: its content (the members
 * above, the form, the resource id and the checked spec) as canonical JSON with its suite hash.
 * A version is pending_review, approved or rejected; its content never changes (a trigger refuses
 * any edit), so tds_catalog_product_version returns exactly what was approved, and a contract pins
 * (product id, version, content_hash).
 *
 * Lifecycle (each step and its evidence entry commit in one transaction; subjects: the product id,
 * its code once it has one, and its resource id):
 *   register   provider → pending_review (version 1)                catalog.product_registered
 *   review     operator/admin, not of the product's organisation and not its registrant
 *              (TDS_EPERM "self_review", evidenced: catalog.product_review_refused), approves or
 *              rejects the pending version: {"decision","reasons"(required to reject),"version"?}.
 *              The first approval gives the product its code BASE "/prd/" SERIAL CHECK (the check
 *              character of resource codes, section 6). A listed product moves to the newly
 *              approved version (a new outbox entry). Approval needs the resource still approved
 *              or published (TDS_ECONFLICT "resource_not_approved").  catalog.product_reviewed
 *   list       provider, approved | delisted → listed, with a scope like a resource's publication
 *              (default the whole space); the resource must still be approved or published. The
 *              fused-catalog entry (section 10, kind "product") goes to the outbox in the same
 *              transaction; its "version" is the product's catalog revision (one above its last
 *              outbox entry: a relisting outranks the delisting), not the product version.
 *                                                                   catalog.product_listed
 *   delist     provider, listed → delisted; outbox entry {"withdrawn":true}.  catalog.product_delisted
 *              The deregistration or removal of the resource delists its listed products the
 *              same way, in its transaction (note and reason "resource_withdrawn").
 *   update     provider, any state but removed while no version waits for review: version N+1,
 *              pending_review. A rejected product goes back to pending_review; an approved, listed
 *              or delisted one keeps its state (and a listed one stays listed at its last approved
 *              version) until the new version is reviewed.       catalog.product_updated
 *   remove     operator/admin, any state but removed → removed, with a reason; a listed product is
 *              withdrawn from the fused catalog.                     catalog.product_removed
 * Wrong states are TDS_ECONFLICT "invalid_state" ("review_pending" for an update while a version
 * waits). `org` arguments (NULL = any) restrict to that organisation's products (TDS_ENOTFOUND
 * "product_not_found" else).
 *
 * A product as JSON: {"id","org_id","resource_id","form","name","status","version" (latest),
 * "approved_version","pending_version","code","scope","note","created_by","created_at",
 * "updated_at"} and, for one product (not in lists), "current" (the latest version, as
 * tds_catalog_product_version gives it), "approved" (the last approved version, when another) and
 * "reviews".
 * ---------------------------------------------------------------------------------------------- */

#define TDS_PRODUCT_SQL_MAX 16384 /* bytes of an API product's SQL */
#define TDS_PRODUCT_PREVIEW_LINES 20
#define TDS_PRODUCT_PREVIEW_MAX 8192 /* bytes of a file product's preview */

/* Product codes: BASE "/prd/" SERIAL CHECK, as resource codes (section 6) with "/prd/": same base,
 * same 8-digit serials (a series of their own), same ISO 7064 MOD 37,36 check character. */
int tds_prdcode_format(const char *base, uint64_t serial, char *out, size_t cap);
/* TDS_EINVAL "invalid_code" with a message saying what is wrong. */
int tds_prdcode_parse(const char *base, const char *code, uint64_t *serial);

/* Checks an API product's SQL with SQLite's own parser on `db` (the resource's data, opened with
 * tds_product_sql_open; the fuzz target uses an in-memory database): exactly one statement (only
 * spaces, comments and ';' after it), at most TDS_PRODUCT_SQL_MAX bytes of UTF-8, prepared under an
 * authorizer that admits SELECT, reads of `table` (any column) in the main database and the
 * deterministic built-in functions listed in sqlcheck.c, and denies ATTACH, DETACH, PRAGMA, every
 * write and schema change, the schema tables, other tables, recursive CTEs and every other function;
 * sqlite3_stmt_readonly, no EXPLAIN, the table actually read; parameters named (:name) only and
 * exactly the `nparams` declared names (each used). The statement is prepared, never stepped.
 * *columns (may be NULL): the output columns [{"name","decl_type"}] (unique names).
 * TDS_EINVAL "invalid_sql" with "offset N: …" naming the byte offset of the token that is wrong
 * (e.g. `offset 17: table "accounts" is not this resource's table ("企业纳税")`), or
 * "invalid_parameter". The authorizer is removed from db before returning. */
int tds_product_sql_check(sqlite3 *db, const char *table, const char *sql, const char *const *params, size_t nparams,
			  json_t **columns);
/* Opens a resource's data file for product SQL: read-only, query_only, defensive, untrusted schema,
 * no extensions, no attached databases. TDS_EIO "cannot_open". */
int tds_product_sql_open(const char *path, sqlite3 **out);
/* tds_product_sql_open + tds_product_sql_check + close. */
int tds_product_sql_check_file(const char *path, const char *table, const char *sql, const char *const *params,
			       size_t nparams, json_t **columns);
/* True for a parameter name: 1-64 bytes of letters, digits, '_' and non-ASCII UTF-8, not starting
 * with a digit. */
bool tds_product_param_name_valid(const char *name);

/* in: {"resource_id","name","form","spec", "scenarios", optional "description","industry","domain",
 * "tags"}. *out: the product. */
int tds_catalog_product_create(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const json_t *in,
			       json_t **out);
/* in: any member of create but resource_id and form (at least one); members left out keep the
 * previous version's value ("spec" replaces the whole spec; a file product without a new spec keeps
 * its file). */
int tds_catalog_product_update(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const char *id,
			       const json_t *in, json_t **out);
/* in: {"decision":"approve"|"reject","reasons":[…],"version"?}; "version", when given, must be
 * the pending one (TDS_ECONFLICT "version_mismatch"). */
int tds_catalog_product_review(tds_catalog *c, const tds_ledger_actor *actor, const char *id, const json_t *in,
			       json_t **out);
/* in: {} or a scope as for tds_catalog_resource_publish ({"scope":"space"} by default). */
int tds_catalog_product_list_on(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const char *id,
				const json_t *in, json_t **out);
/* in: {} or {"reason"}. */
int tds_catalog_product_delist(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const char *id,
			       const json_t *in, json_t **out);
/* in: {"reason"}. */
int tds_catalog_product_remove(tds_catalog *c, const tds_ledger_actor *actor, const char *id, const json_t *in,
			       json_t **out);
int tds_catalog_product_get(tds_catalog *c, const char *org, const char *id, json_t **out);
/* One version, exactly as stored: {"product_id","version","status","content","content_hash",
 * "hash_alg","created_by","created_at","reviewed_at"}. TDS_ENOTFOUND "version_not_found". */
int tds_catalog_product_version(tds_catalog *c, const char *org, const char *id, int64_t version, json_t **out);
/* The product with this code; the code is validated first (TDS_EINVAL "invalid_code"). */
int tds_catalog_product_by_code(tds_catalog *c, const char *org, const char *code, json_t **out);
/* Page in id order after cursor, optionally of one status and/or form:
 * {"items":[…],"next_cursor":…|null}. */
int tds_catalog_product_list(tds_catalog *c, const char *org, const char *status, const char *form, int limit,
			     const char *cursor, json_t **out);
/* The bytes of a file product's version (malloc'd into *data, *len), checked against the stored
 * hash (TDS_EIO "file_corrupt" otherwise). For delivery. */
int tds_catalog_product_file(tds_catalog *c, const char *org, const char *id, int64_t version, void **data, size_t *len);

/* ================================================================================================
 * 10. Fused catalog (融合目录) and search (fused.c)
 * ================================================================================================
 *
 * The operator's catalog holds one *entry* per listed product, published resource and imported
 * public-data catalog item, from every connector. Only metadata: never rows, never samples.
 *
 * An entry is a JSON object (the shape every producer and reader relies on):
 *
 *   {"kind": "product" | "resource" | "public_item",
 *    "id": "prd_…" | "res_…" | "pub_…"       the producer's id (unique per kind and provider org),
 *    "code": "…" | null                      product / resource code with its check character,
 *    "version": N                            the producer's version (>= 1); a higher one replaces,
 *    "org_id": "org_…"                       the provider (on the operator: set from the caller,
 *                                            never trusted from the body),
 *    "title": "…", "description": "…",
 *    "form": "api" | "dataset" | "file" | null          products only,
 *    "domain": "…" | null, "tags": ["…"],
 *    "grade": "一般" | "重要" | "核心" | null, "level": "L1".."L4" | null,
 *    "update_frequency": "daily" | … | null,
 *    "fields": [{"name","label","type"}],               output fields / columns (names only),
 *    "scenarios": ["…"], "industry": "…" | null,        products only,
 *    "scope": {"scope":"space"} | {"scope":"roles","roles":[…]} | {"scope":"orgs","orgs":[…]},
 *    "authorization_type": "…" | null, "format": "…" | null,
 *    "usage_restrictions": "…" | null, "application_path": "…" | null,
 *    "required_materials": ["…"],                       public_item fields (may be null/[] otherwise),
 *    "issued": RFC 3339, "modified": RFC 3339}
 *
 * A withdrawn entry (delisted product, deregistered or removed resource) travels as
 * {"kind","id","version","withdrawn":true}.
 *
 * Outbox: a connector never calls the operator inside a transaction. Producers record the entry in
 * the outbox table in the same transaction as the change that causes it (cat_outbox_add_tx,
 * internal.h); the node's connector loop sends pending rows to the operator, signed, in order,
 * and marks them sent. Re-sending is harmless: the operator keeps the highest version. On the
 * operator itself the entry goes straight into its fused catalog in the producer's transaction
 * (there is nobody to send it to); the outbox row records it as sent, or as failed when refused.
 *
 * On the operator every entry id (a ULID) names one entry of one kind from one organisation: an id
 * another organisation already holds is refused (TDS_ECONFLICT "entry_owned_elsewhere"). Applied
 * changes are evidenced in the same transaction: catalog.entry_received (payload kind, version,
 * org_id, title) and catalog.entry_withdrawn (kind, version, org_id), subjects the id and the code.
 * Uses (orders, counted by contracts through tds_catalog_entry_bump) make an entry's popularity and
 * its co-usage with other entries; they are counters, not evidence.
 * ---------------------------------------------------------------------------------------------- */

/* Operator side: applies one entry from `org` (the provider: the caller's certificate organisation,
 * or the importing organisation for public items). The entry is checked strictly against the shape
 * above (TDS_EINVAL "invalid_entry" naming the member; unknown members refused; a withdrawn entry
 * carries only kind, id, version, withdrawn); org_id is set from `org`, never taken from the body.
 * An older version changes nothing (*applied = false), and so does an equal one unless it flips
 * the entry between listed and withdrawn (a product delisted and relisted at its approved version:
 * one outbox sends them in order, so the last one wins). A withdrawal keeps the
 * entry readable by id (marked withdrawn) but takes it out of search; a withdrawal of an unknown id
 * leaves a tombstone so a late older copy cannot bring it back. */
int tds_catalog_entry_upsert(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const json_t *entry,
			     bool *applied);
/* The same for several entries of one organisation in one transaction, all or nothing (the first
 * bad entry is TDS_EINVAL naming its index): bulk loads and the benchmark. *applied (may be NULL):
 * how many changed something. */
int tds_catalog_entry_upsert_many(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const json_t *entries,
				  size_t *applied);
/* One entry by its id or its code (TDS_ENOTFOUND "entry_not_found"; a code several live entries
 * carry is TDS_ECONFLICT "ambiguous_code"): the entry JSON plus "withdrawn" and "popularity". */
int tds_catalog_entry_get(tds_catalog *c, const char *key, json_t **out);
/* Records one use (an order, a view) of entry `id` by organisation `org`: popularity + 1, and the
 * co-usage that related suggestions read. TDS_ENOTFOUND "entry_not_found". */
int tds_catalog_entry_bump(tds_catalog *c, const char *id, const char *org);

/* Who is looking: search, related and reads show an entry with scope roles only to principals with
 * one of those roles, with scope orgs only to those organisations; the provider always sees its
 * own; operators, admins and regulators see everything. */
typedef struct tds_catalog_viewer {
	const char *org;  /* NULL: none */
	uint32_t roles;   /* tds_roles bits (http.h) */
} tds_catalog_viewer;

/* True when v may see entry e (as returned by tds_catalog_entry_get). */
bool tds_catalog_entry_visible(const json_t *e, const tds_catalog_viewer *v);

/* A search. Every member is optional. */
typedef struct tds_catalog_query {
	const char *q;            /* words; Chinese of any length (1-character words match as prefixes) */
	const char *kind, *form, *domain, *grade, *update_frequency, *authorization_type, *org;
	const char *sort;         /* "relevance" (bm25; the default with q), "recency" (modified; the
				     default without q), "popularity" */
	int limit;                /* 1-100, 0 = 20 */
	const char *cursor;       /* next_cursor of the previous page */
} tds_catalog_query;

/* Entries visible to v, never withdrawn ones: {"items":[entry + "popularity"],"next_cursor":…|null}.
 * Bad filters, sorts, queries and cursors are TDS_EINVAL naming the parameter. */
int tds_catalog_search(tds_catalog *c, const tds_catalog_viewer *v, const tds_catalog_query *q, json_t **out);
/* Up to limit (1-50, 0 = 10) entries related to `key` (id or code) that v may see: shared tags and
 * co-usage (organisations that used this entry used those), {"items":[entry + "related_score",
 * "shared_tags", "co_users"]}. */
int tds_catalog_related(tds_catalog *c, const tds_catalog_viewer *v, const char *key, int limit, json_t **out);

/* Public-data catalog import (公共数据目录, operator): items become entries of kind public_item
 * owned by `org`. JSON: an array of objects with "name" (目录名称), "type" (类型: api | dataset |
 * file or 接口 | 库表 | 数据集 | 文件), "format", "update_frequency" (a code or 实时, 每日, 每周, 每月,
 * 每季度, 每年, 不定期 …), "authorization_type", "usage_restrictions", "application_path",
 * "required_materials" (array) and optional "description", "domain", "tags"; CSV: the same columns
 * by English or Chinese header (docs/catalog.md), required_materials separated by ';' '；' or '、'.
 * All or nothing: the first bad item is TDS_EINVAL "invalid_import" naming the item or line, with
 * every bad line in the error's details. An item whose name this organisation already imported
 * updates that entry (a new version). *out: {"imported":N,"items":[{"line","id","title","version"}]}. */
int tds_catalog_import_items(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const json_t *items,
			     json_t **out);
int tds_catalog_import_csv(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const void *csv,
			   size_t len, json_t **out);

/* The DCAT 3 view of an entry (JSON-LD, new reference): dcat:Dataset, or dcat:DataService for API
 * products; base is the space's URI for @id. docs/catalog.md has the mapping. */
json_t *tds_catalog_entry_dcat(const json_t *e, const char *base);

/* Connector side: sends pending outbox rows to the operator through `client` (signed by the
 * caller), in seq order, in batches of 100, POST /api/v1/catalog/entries; marks them sent on the
 * operator's answer. A row the operator refuses for good (4xx) is marked failed with the error and
 * logged; a transient failure stops the flush and keeps the order for the next one. *sent: rows
 * marked sent (may be NULL). Returns 0, or the transient failure's code. */
struct tds_http_client;
int tds_catalog_outbox_flush(tds_catalog *c, struct tds_http_client *client, int *sent);
/* Operator: POST /api/v1/catalog/entries body {"entries":[…]} (1-100) from org's connector, each
 * applied in its own transaction: {"results":[{"id","version","applied"} | {"id","version","status",
 * "error":{"code","message"}}]}. Kind public_item is refused here (imports only). */
int tds_catalog_entries_receive(tds_catalog *c, const tds_ledger_actor *actor, const char *org, const json_t *body,
				json_t **out);
/* Whether this node is the operator (routes refuse operator-only calls elsewhere). */
void tds_catalog_set_operator(tds_catalog *c, bool is_operator);

/* ================================================================================================
 * 8. HTTP routes (routes.c)
 * ================================================================================================
 *
 *   POST   /api/v1/sources                 register (JSON: name, kind, path | content_base64 |
 *                                          connection, table, encoding, header, delimiter, ragged)
 *   GET    /api/v1/sources                 list (limit, cursor)
 *   GET    /api/v1/sources/{id}            one source with its metadata
 *   POST   /api/v1/sources/{id}/import     import or profile now; answers when done
 *   GET    /api/v1/sources/{id}/sample     first rows (limit, table) — for the owner's eyes only
 *   DELETE /api/v1/sources/{id}            delete the source and its raw data
 *
 * All admit provider and admin; a provider sees and changes only its organisation's sources.
 */

struct tds_router;

int tds_catalog_routes(tds_catalog *c, struct tds_router *r);

#endif
