/*
 * anon — sensitive-data discovery and grading (敏感数据识别与分类分级): which columns of a table hold
 * personal, sensitive or enterprise data, how identifiable they are, what grade the table gets and
 * how each column should be masked. Later issues add masking, pseudonyms, generalisation and
 * re-identification risk to this room. It depends on base only: it knows nothing of HTTP, SQL,
 * catalogs or crypto; any source (the catalog's importer, `tds scan`, a sandbox output review) feeds
 * it values.
 *
 * What a scan decides, per column:
 *
 *   category (数据类别)          personal (个人) | enterprise (企业) | public_affairs (公共事务) | other (其他)
 *   pi (个人信息)                 PIPL art. 4: information relating to an identified or identifiable person
 *   spi (敏感个人信息)            PIPL art. 28: biometrics, religious beliefs, specific identity, medical
 *                                 and health, financial accounts, whereabouts and tracks, minors under 14
 *   identifiability (可识别性)    ISO/IEC 20889 (with the data classes of ISO/IEC 19941), most identifiable
 *                                 first: identified (已识别), pseudonymized (假名化), unlinked_pseudonymized
 *                                 (去关联假名化), anonymized (匿名化), aggregated (聚合); plus not_personal for
 *                                 columns that hold no personal information at all
 *   level                         internal level L1-L4 (内部级别), mapped by the rules to a grade
 *   grade (数据级别)              GB/T 43697-2024: general (一般数据), important (重要数据), core (核心数据)
 *
 * and it names the detector that decided, its hit ratio and confidence, the reasons in words, and a
 * suggested masking (DESIGN §6: an ID number keeps its first 6 and last 4 characters, a mobile number
 * its first 3 and last 4). The table gets a summary: the highest level and grade, whether PI and SPI
 * are present, and the table's identifiability.
 *
 * Detectors validate, they do not merely match: resident ID numbers (GB 11643: ISO 7064 MOD 11-2
 * check character, a real birth date, a province code), unified social credit codes (GB 32100 check
 * character), bank cards (Luhn and issuer prefixes), mobile and landline numbers, email, IPv4/IPv6,
 * licence plates, templates (passports, ICD-10 codes, age bands), personal names (surname list),
 * addresses (province, city, district and street words), dates of birth, term lists (medical terms)
 * and numbers (amounts, statistics). A column-name context (姓名, mobile, 诊断 …) lowers the hit ratio
 * a detector needs, and some detectors (dates of birth, amounts, ICD-10 codes) fire only with it.
 *
 * Rules are data (rules/anon-rules.json, format "tds.anon.rules/1", documented in docs/anon.md): the
 * detectors in priority order, each with its kind, parameters (province codes, issuer prefixes,
 * surnames, term lists, templates …), column-name keywords, thresholds and what it means (category,
 * pi, spi with its legal basis, identifiability, level, mask); the level-to-grade map; the null
 * markers; and escalations (e.g. SPI of ≥ 1,000,000 rows raises the level). A reviewer's override of
 * a column (category, flags, identifiability or level, always with a reason) is applied on top of
 * what was detected and kept beside it.
 *
 * Threads: a tds_anon_rules is immutable once loaded and may be shared; a scan or a table belongs to
 * one thread at a time. Nothing here logs values: they are personal data.
 */
#ifndef TDS_ANON_H
#define TDS_ANON_H

#include "base/base.h"

/* ------------------------------------------------------------------------------------------------
 * Vocabulary
 * ---------------------------------------------------------------------------------------------- */

typedef enum {
	TDS_ANON_CAT_OTHER = 0,      /* "other" 其他 */
	TDS_ANON_CAT_PERSONAL,       /* "personal" 个人 */
	TDS_ANON_CAT_ENTERPRISE,     /* "enterprise" 企业 */
	TDS_ANON_CAT_PUBLIC_AFFAIRS  /* "public_affairs" 公共事务 */
} tds_anon_category;

/* Ordered from least to most identifiable, so that max() gives the more identifiable class. */
typedef enum {
	TDS_ANON_ID_NOT_PERSONAL = 0, /* "not_personal": no personal information */
	TDS_ANON_ID_AGGREGATED,       /* "aggregated" 聚合: statistics, no row per person */
	TDS_ANON_ID_ANONYMIZED,       /* "anonymized" 匿名化: generalised so no person can be identified */
	TDS_ANON_ID_UNLINKED,         /* "unlinked_pseudonymized" 去关联假名化: identifiers removed or masked irreversibly */
	TDS_ANON_ID_PSEUDONYMIZED,    /* "pseudonymized" 假名化: aliases someone can link back (tokens, hashes, IPs) */
	TDS_ANON_ID_IDENTIFIED        /* "identified" 已识别: direct identifiers */
} tds_anon_identifiability;

typedef enum {
	TDS_ANON_GRADE_GENERAL = 1, /* "general" 一般数据 */
	TDS_ANON_GRADE_IMPORTANT,   /* "important" 重要数据 */
	TDS_ANON_GRADE_CORE         /* "core" 核心数据 */
} tds_anon_grade;

#define TDS_ANON_LEVEL_MIN 1 /* L1 */
#define TDS_ANON_LEVEL_MAX 4 /* L4 */

/* Stable English codes of the vocabulary ("personal", "identified", "general") and the Chinese names
 * of grades ("一般"); NULL for a value out of range. The *_parse functions return 0 or TDS_EINVAL. */
const char *tds_anon_category_name(tds_anon_category c);
int tds_anon_category_parse(const char *s, tds_anon_category *out);
const char *tds_anon_identifiability_name(tds_anon_identifiability i);
int tds_anon_identifiability_parse(const char *s, tds_anon_identifiability *out);
const char *tds_anon_grade_name(tds_anon_grade g);
const char *tds_anon_grade_name_zh(tds_anon_grade g);
int tds_anon_grade_parse(const char *s, tds_anon_grade *out);

/* A suggested masking of a column's values (脱敏建议). The masking module applies them; here they
 * are advice attached to each column. */
typedef enum {
	TDS_ANON_MASK_NONE = 0, /* "none": keep as is */
	TDS_ANON_MASK_KEEP,     /* "keep": keep the first `first` and last `last` characters, '*' between */
	TDS_ANON_MASK_EMAIL,    /* "email": first character of the local part and the domain ("z***@example.com") */
	TDS_ANON_MASK_YEAR,     /* "year": a date generalised to its year */
	TDS_ANON_MASK_IP,       /* "ip": the network half (IPv4 a.b.*.*, IPv6 the first 4 groups) */
	TDS_ANON_MASK_SUPPRESS, /* "suppress": the whole value replaced by "*" */
	TDS_ANON_MASK_HASH      /* "hash": a keyed pseudonym (needs a key: applied by the masking module) */
} tds_anon_mask_method;

typedef struct tds_anon_mask {
	tds_anon_mask_method method;
	int first, last; /* characters (not bytes), for TDS_ANON_MASK_KEEP */
} tds_anon_mask;

const char *tds_anon_mask_method_name(tds_anon_mask_method m);
/* Applies a mask to one value (UTF-8; characters counted as code points), appending to `out`.
 * Values too short to keep anything hidden are masked whole. TDS_EUNPROC for TDS_ANON_MASK_HASH
 * (it needs a key this module does not hold); TDS_ENOMEM. */
int tds_anon_mask_apply(const tds_anon_mask *m, const char *v, size_t len, tds_buf *out);

/* ------------------------------------------------------------------------------------------------
 * Check characters (pure, total over any bytes, no allocation)
 * ---------------------------------------------------------------------------------------------- */

/* Luhn (ISO/IEC 7812-1) over n ASCII digits; false if any byte is not a digit or n < 2. */
bool tds_anon_luhn_valid(const char *digits, size_t n);
/* GB 11643 / ISO 7064 MOD 11-2 check character of an 18-character resident ID number (only the
 * check: see tds_anon_detect for birth date and province). The 18th may be 'X' or 'x'. */
bool tds_anon_gb11643_check(const char *s, size_t n);
/* GB 32100 check character of an 18-character unified social credit code (upper case only). */
bool tds_anon_gb32100_check(const char *s, size_t n);

/* ------------------------------------------------------------------------------------------------
 * Rules
 * ---------------------------------------------------------------------------------------------- */

typedef struct tds_anon_rules tds_anon_rules;

/* At most this many detectors in one rules file (a scan reports matches as a 64-bit mask). */
#define TDS_ANON_MAX_DETECTORS 64

/* Loads rules from JSON text / a file. Strict: unknown members, wrong types, out-of-range values,
 * duplicate detector ids, unknown kinds, malformed templates and empty lists are refused with
 * TDS_EINVAL, name "invalid_anon_rules" and a message that starts with the exact path of the bad
 * member ("detectors[3].params.provinces[2]: …"). TDS_EIO when the file cannot be read. */
int tds_anon_rules_load(const char *json, size_t len, tds_anon_rules **out);
int tds_anon_rules_load_file(const char *path, tds_anon_rules **out);
/* The default rules: the file named by $TDS_ANON_RULES if set, else rules/anon-rules.json under
 * $TDS_SOURCE_DIR, else under the source tree this library was built from. The chosen path is
 * copied to `path` (may be NULL) for messages. */
int tds_anon_rules_load_default(tds_anon_rules **out, char *path, size_t path_cap);
void tds_anon_rules_free(tds_anon_rules *r);

/* The rules' own version string ("default-2026.1"); never NULL. */
const char *tds_anon_rules_version(const tds_anon_rules *r);
size_t tds_anon_rules_count(const tds_anon_rules *r);
/* Id of detector i (bit i of a match mask), NULL when out of range. */
const char *tds_anon_rules_detector_id(const tds_anon_rules *r, size_t i);
/* Index of a detector by id, or -1. */
int tds_anon_rules_find(const tds_anon_rules *r, const char *id);
/* Grade of an internal level (1-4) under these rules. */
tds_anon_grade tds_anon_rules_grade(const tds_anon_rules *r, int level);

/* Does this single value match detector `id` in a column named `column` (NULL = no name)? Applies
 * the detector's own context rule (a detector that requires context never matches without it) but
 * not the priority between detectors. For tests and tools: the scan is the fast path. False for an
 * unknown id. `now_ms` fixes "today" for dates (0 = the current time). */
bool tds_anon_detect(const tds_anon_rules *r, const char *id, const char *column, const char *v, size_t len,
		     int64_t now_ms);

/* ------------------------------------------------------------------------------------------------
 * Scanning
 * ---------------------------------------------------------------------------------------------- */

typedef struct tds_anon_scan tds_anon_scan;
typedef struct tds_anon_table tds_anon_table;

typedef struct tds_anon_scan_opts {
	int64_t now_ms;      /* "today" for birth dates and minors (Beijing calendar); 0 = current time */
	uint64_t rows_total; /* rows of the whole source when the caller fed a sample; 0 = rows fed */
} tds_anon_scan_opts;

/* One value of a row: bytes, not NUL-terminated. */
typedef struct tds_anon_field {
	const char *data;
	size_t len;
} tds_anon_field;

/* Starts a scan of a table with these column names (UTF-8; the names give detectors their context).
 * The rules must outlive the scan. TDS_EINVAL ("invalid_scan") for ncols == 0 or above 16,384, or a
 * name that is not valid UTF-8. */
int tds_anon_scan_new(const tds_anon_rules *r, const char *const *names, size_t ncols, const tds_anon_scan_opts *opts,
		      tds_anon_scan **out);
/* Feeds one value of column `col` (bytes need not be valid UTF-8 or NUL-terminated; ASCII spaces
 * around it are ignored; empty values and the rules' null markers count as empty). Returns the mask
 * of detectors that matched it (bit i = detector i): detectors run in priority order and an
 * exclusive one (the default) that matches ends the search, so with the default rules at most one
 * bit is set. 0 for an empty or unmatched value or an out-of-range column. The hot path: no
 * allocation, no error state. */
uint64_t tds_anon_scan_value(tds_anon_scan *s, size_t col, const char *v, size_t len);
/* Feeds one row: fields[i] to column i, for i < min(n, ncols). Counts the row. */
void tds_anon_scan_row(tds_anon_scan *s, const tds_anon_field *fields, size_t n);
/* Sets the total rows of the source (for escalations by volume) when the scan saw only a sample. */
void tds_anon_scan_set_rows_total(tds_anon_scan *s, uint64_t rows);
/* Decides every column and the table; the scan can be freed afterwards (the table copies what it
 * needs). TDS_ENOMEM only. */
int tds_anon_scan_finish(tds_anon_scan *s, tds_anon_table **out);
void tds_anon_scan_free(tds_anon_scan *s);

/* One column in one call: values[i] of lens[i] bytes (lens NULL: NUL-terminated strings). */
int tds_anon_scan_column(const tds_anon_rules *r, const char *name, const char *const *values, const size_t *lens,
			 size_t n, const tds_anon_scan_opts *opts, tds_anon_table **out);

/* ------------------------------------------------------------------------------------------------
 * Results
 * ---------------------------------------------------------------------------------------------- */

/* What a column is judged to be; detected by the scan or set by a reviewer. */
typedef struct tds_anon_verdict {
	tds_anon_category category;
	bool pi;  /* personal information (个人信息) */
	bool spi; /* sensitive personal information (敏感个人信息) */
	tds_anon_identifiability identifiability;
	int level; /* 1-4 */
} tds_anon_verdict;

/* A detector's tally in a column. */
typedef struct tds_anon_hit {
	const char *detector; /* id */
	const char *name;     /* display name from the rules */
	uint64_t hits;        /* values it matched (0 for a column-name detector) */
	double ratio;         /* hits / non-empty values */
	double confidence;    /* 0-1 */
	bool context;         /* the column name matched its keywords */
	bool fired;           /* it counts for the verdict */
} tds_anon_hit;

typedef struct tds_anon_column {
	size_t index;
	const char *name;
	uint64_t values; /* non-empty values seen */
	uint64_t empty;  /* empty values and null markers */
	tds_anon_verdict verdict;
	tds_anon_grade grade;     /* of verdict.level under the rules */
	const char *detector;     /* id of the deciding detector, NULL when none fired */
	double confidence;        /* of the deciding detector, 0 when none */
	const char *spi_basis;    /* legal basis of the SPI flag, NULL when not SPI */
	tds_anon_mask mask;       /* suggested masking */
	const tds_anon_hit *hits; /* fired detectors first, then others with a hit ratio of at least 1% */
	size_t nhits;
	const char *const *reasons; /* sentences, English, with the Chinese term once */
	size_t nreasons;
	bool overridden;
	tds_anon_verdict detected; /* what the scan decided (equal to verdict unless overridden) */
	const char *override_reason;
	const char *override_by; /* reviewer, may be NULL */
} tds_anon_column;

typedef struct tds_anon_summary {
	int level;               /* highest column level (the rules' default level for an empty table) */
	tds_anon_grade grade;
	bool pi, spi;
	tds_anon_identifiability identifiability; /* most identifiable column */
	size_t columns_pi, columns_spi, columns_overridden;
	uint64_t rows_scanned, rows_total;
} tds_anon_summary;

size_t tds_anon_table_ncolumns(const tds_anon_table *t);
const tds_anon_column *tds_anon_table_column(const tds_anon_table *t, size_t i); /* NULL when out of range */
/* Column by name (first match), NULL when absent. */
const tds_anon_column *tds_anon_table_find(const tds_anon_table *t, const char *name);
const tds_anon_summary *tds_anon_table_summary(const tds_anon_table *t);
void tds_anon_table_free(tds_anon_table *t);

/* The result as JSON (format "tds.anon.scan/1", documented in docs/anon.md): rules version, summary,
 * and per column the verdict, grade, detector, hits, reasons, mask and override. New reference. */
json_t *tds_anon_table_json(const tds_anon_table *t);
/* Rebuilds a table from that JSON (as stored by the catalog), so that overrides can be applied to
 * a stored result. Grades are recomputed from levels under `r`. TDS_EINVAL ("invalid_anon_scan")
 * naming the bad member. */
int tds_anon_table_from_json(const tds_anon_rules *r, const json_t *j, tds_anon_table **out);

/* ------------------------------------------------------------------------------------------------
 * Reviewer overrides (人工复核)
 * ---------------------------------------------------------------------------------------------- */

/* Replaces the verdict of column `column` (by name) with `v`, keeping what was detected beside it,
 * and recomputes the grade and the table summary. `reason` is required (non-empty, at most 1,000
 * bytes); `by` names the reviewer (may be NULL). Errors: TDS_ENOTFOUND "anon_unknown_column";
 * TDS_EINVAL "invalid_anon_override" for a missing reason, a level outside 1-4, or pi false with spi
 * or a personal identifiability. Overriding again replaces the earlier override. */
int tds_anon_override(tds_anon_table *t, const char *column, const tds_anon_verdict *v, const char *reason,
		      const char *by);
/* The same from JSON: {"column": "手机号", "reason": "…", "by": "…", and any of "category", "pi",
 * "spi", "identifiability", "level" ("L1"-"L4")}; members left out keep the detected value. Unknown
 * members and ill-typed values are refused naming the member. */
int tds_anon_override_json(tds_anon_table *t, const json_t *o);

/* ------------------------------------------------------------------------------------------------
 * CSV reader (RFC 4180), for `tds scan` and anything else that needs to walk a CSV quickly
 * ---------------------------------------------------------------------------------------------- */

typedef struct tds_anon_csv tds_anon_csv;

typedef struct tds_anon_csv_opts {
	char delimiter;   /* 0 = ',' */
	size_t max_field; /* bytes, 0 = 64 MiB; longer fields are an error naming the line */
	size_t chunk;     /* read size, 0 = 1 MiB */
	bool allow_ragged; /* false: every row must have as many fields as the first */
} tds_anon_csv_opts;

/* Opens a file ("-" = standard input) / reads from memory (not copied: it must outlive the reader;
 * it is read, never written). A UTF-8 byte order mark is skipped; a UTF-16 or UTF-32 one is refused
 * ("csv_unsupported_encoding"). TDS_EIO when the file cannot be opened. */
int tds_anon_csv_open(const char *path, const tds_anon_csv_opts *opts, tds_anon_csv **out);
int tds_anon_csv_from_memory(const char *data, size_t len, const tds_anon_csv_opts *opts, tds_anon_csv **out);

/* Reads the next row. Returns 1 with *fields (valid until the next call) and *n set, 0 at the end,
 * or a negative error (TDS_EINVAL; TDS_ETOOBIG for a field above max_field; TDS_EIO) whose message
 * names the line: "csv_unbalanced_quote" (a quoted field never closed, named by the line it opened
 * on), "csv_bad_quote" (a quote inside an unquoted field, or text after a closing quote),
 * "csv_bare_cr", "csv_ragged_row", "csv_invalid_utf8", "csv_field_too_long",
 * "csv_unsupported_encoding". Quoted fields are unescaped ("" → "); lines end in LF or CRLF; empty
 * lines are skipped. After an error the reader returns the same error again. */
int tds_anon_csv_next(tds_anon_csv *r, const tds_anon_field **fields, size_t *n);
/* Physical line (1-based) on which the last row returned starts. */
uint64_t tds_anon_csv_line(const tds_anon_csv *r);
/* Bytes consumed so far (including the byte order mark). */
uint64_t tds_anon_csv_offset(const tds_anon_csv *r);
void tds_anon_csv_free(tds_anon_csv *r);

#endif
