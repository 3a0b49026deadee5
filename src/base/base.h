/*
 * base — the room every other module stands on: errors, buffers, arenas, JSON (with canonical JSON
 * for anything signed or hashed), ids, time, logging and configuration.
 *
 * It knows nothing of HTTP, SQL or cryptography. Everything here is thread-safe unless a comment says
 * otherwise; the only per-thread state is the last error and the current request id.
 *
 * Error model (DESIGN §5): functions return 0 or a negative TDS_E… code and, on failure, leave a
 * thread-local error made of the code, a stable snake_case name ("invalid_json") and an English
 * message that says what went wrong and how to fix it. HTTP maps the code to a status.
 */
#ifndef TDS_BASE_H
#define TDS_BASE_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef TDS_VERSION
#define TDS_VERSION "0.0.0"
#endif

#define TDS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define TDS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------------------------------
 * Errors
 * ---------------------------------------------------------------------------------------------- */

enum {
	TDS_OK = 0,
	TDS_EINVAL = -1,    /* bad input: 400 */
	TDS_EAUTH = -2,     /* missing or bad credentials: 401 */
	TDS_EPERM = -3,     /* authenticated but not allowed: 403 */
	TDS_ENOTFOUND = -4, /* 404 */
	TDS_ECONFLICT = -5, /* state conflict, duplicate: 409 */
	TDS_ETOOBIG = -6,   /* body or field too large: 413 */
	TDS_EUNPROC = -7,   /* well-formed but semantically refused: 422 */
	TDS_ELIMIT = -8,    /* rate or quota limit: 429 */
	TDS_EIO = -9,       /* file, database or network failure: 500 (or 502/503 for peers) */
	TDS_ENOMEM = -10,   /* 500 */
	TDS_ECRYPTO = -11,  /* signature or decryption failure on input: 400; library failure: 500 */
	TDS_EINTERNAL = -12 /* a bug: 500 */
};

/* Sets the calling thread's last error and returns `code`, so callers can `return tds_error_set(…)`.
 * `name` is a stable snake_case code for clients ("invalid_json"); the message is printf-formatted. */
int tds_error_set(int code, const char *name, const char *fmt, ...) TDS_PRINTF(3, 4);
int tds_error_setv(int code, const char *name, const char *fmt, va_list ap);
/* Prefixes the current message with context ("config line 3: " + message); returns the current code. */
int tds_error_wrap(const char *fmt, ...) TDS_PRINTF(1, 2);
int tds_error_code(void);          /* last code set on this thread, TDS_OK if none */
const char *tds_error_name(void);  /* "" if none */
const char *tds_error_message(void); /* "" if none */
void tds_error_clear(void);
/* Detail object attached to the last error (may be NULL); the error owns it. */
void tds_error_set_details(json_t *details); /* steals the reference */
json_t *tds_error_details(void);             /* borrowed */
/* HTTP status for an error code (400…500). */
int tds_error_http_status(int code);
/* Default snake_case name for a code, used when a caller passes name == NULL. */
const char *tds_error_default_name(int code);

/* ------------------------------------------------------------------------------------------------
 * Buffers: a growable byte string, always NUL-terminated (data[len] == 0) once anything is added.
 * ---------------------------------------------------------------------------------------------- */

typedef struct tds_buf {
	char *data;
	size_t len;
	size_t cap;
} tds_buf;

#define TDS_BUF_INIT {NULL, 0, 0}

void tds_buf_init(tds_buf *b);
void tds_buf_free(tds_buf *b);            /* releases memory; b is left empty and reusable */
void tds_buf_reset(tds_buf *b);           /* len = 0, keeps capacity */
int tds_buf_reserve(tds_buf *b, size_t extra); /* TDS_ENOMEM on overflow or allocation failure */
int tds_buf_append(tds_buf *b, const void *data, size_t len);
int tds_buf_puts(tds_buf *b, const char *s);
int tds_buf_putc(tds_buf *b, char c);
int tds_buf_printf(tds_buf *b, const char *fmt, ...) TDS_PRINTF(2, 3);
int tds_buf_vprintf(tds_buf *b, const char *fmt, va_list ap);
/* Transfers ownership of the data to the caller (free() it); b is left empty. Never NULL on success. */
char *tds_buf_steal(tds_buf *b);

/* Hex (lower case) and base64 (standard, padded) / base64url (unpadded) codecs. Decoders are total:
 * any input that is not exactly valid gives TDS_EINVAL. */
int tds_hex_encode(const void *data, size_t len, tds_buf *out);
/* Value of one hex digit (either case), or -1. */
int tds_hex_digit(int c);
int tds_hex_decode(const char *hex, size_t len, tds_buf *out);
int tds_b64_encode(const void *data, size_t len, tds_buf *out);
int tds_b64_decode(const char *b64, size_t len, tds_buf *out);
int tds_b64url_encode(const void *data, size_t len, tds_buf *out);
int tds_b64url_decode(const char *b64, size_t len, tds_buf *out);

/* ------------------------------------------------------------------------------------------------
 * Arena: per-request memory freed in one go. Not thread-safe; one arena belongs to one request.
 * Allocation failure aborts the process (there is no sane recovery mid-request).
 * ---------------------------------------------------------------------------------------------- */

typedef struct tds_arena tds_arena;

tds_arena *tds_arena_new(size_t chunk_size); /* 0 = default (16 KiB) */
void tds_arena_free(tds_arena *a);            /* frees every allocation and the arena; NULL is fine */
void *tds_arena_alloc(tds_arena *a, size_t size);  /* 16-byte aligned, zeroed */
char *tds_arena_strdup(tds_arena *a, const char *s);
char *tds_arena_strndup(tds_arena *a, const char *s, size_t n);
char *tds_arena_printf(tds_arena *a, const char *fmt, ...) TDS_PRINTF(2, 3);
size_t tds_arena_used(const tds_arena *a);

/* ------------------------------------------------------------------------------------------------
 * JSON
 * ---------------------------------------------------------------------------------------------- */

/* Parses a complete JSON document from outside input: rejects invalid UTF-8, duplicate keys,
 * nesting deeper than 64, NUL bytes in strings, trailing data. On failure returns TDS_EINVAL with
 * name "invalid_json" and a message naming line and column. */
int tds_json_parse(const char *data, size_t len, json_t **out);

/* Canonical JSON for signing and hashing: object keys sorted by their UTF-8 bytes, no insignificant
 * whitespace, strings NFC-normalised with only the escapes JSON requires, integers only (a real
 * number gives TDS_EINVAL: put decimals in strings). Appends to `out`. */
int tds_json_canonical(const json_t *v, tds_buf *out);

/* Schema-checked access to request objects. A field spec lists the members an object may have;
 * tds_json_check refuses a non-object, a missing required member, a member of the wrong type, a
 * string longer than max_len (bytes) and, unless allow_unknown, any member not listed. The error
 * names the field ("field 'roles' must be an array of strings"). */
typedef enum {
	TDS_JSON_STRING = 1,
	TDS_JSON_INTEGER,
	TDS_JSON_BOOL,
	TDS_JSON_OBJECT,
	TDS_JSON_ARRAY,
	TDS_JSON_STRING_ARRAY,
	TDS_JSON_ANY
} tds_json_type;

typedef struct tds_json_field {
	const char *name;
	tds_json_type type;
	bool required;
	size_t max_len; /* strings (bytes) and arrays (items); 0 = no limit beyond the body limit */
} tds_json_field;

int tds_json_check(const json_t *obj, const tds_json_field *fields, size_t n, bool allow_unknown);

/* Accessors that return a default when the member is absent or of another type. */
const char *tds_json_str(const json_t *obj, const char *key, const char *def);
int64_t tds_json_int(const json_t *obj, const char *key, int64_t def);
bool tds_json_bool(const json_t *obj, const char *key, bool def);

/* Dumps compactly into a malloc'd string (caller frees); NULL on allocation failure. */
char *tds_json_dumps(const json_t *v);

/* ------------------------------------------------------------------------------------------------
 * UTF-8 and identifiers
 * ---------------------------------------------------------------------------------------------- */

/* True when s[0..len) is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
bool tds_utf8_valid(const char *s, size_t len);

/* Ids are "<prefix>_<ULID>": a lower-case prefix of 1-8 letters, then 26 Crockford base32 characters
 * (48-bit millisecond time, 80 random bits; monotonic within one process). */
#define TDS_ID_MAX 40
int tds_id_new(const char *prefix, char out[TDS_ID_MAX]);
/* True when `id` is a well-formed id with this prefix (NULL prefix: any). Rejects anything that could
 * be a path or injection ("../", "/", "%", spaces). */
bool tds_id_valid(const char *id, const char *prefix);
/* Millisecond time encoded in an id, or -1 when malformed. */
int64_t tds_id_time_ms(const char *id);

/* ------------------------------------------------------------------------------------------------
 * Time: int64 milliseconds since the Unix epoch, UTC.
 * ---------------------------------------------------------------------------------------------- */

int64_t tds_now_ms(void);        /* wall clock */
int64_t tds_monotonic_us(void);  /* for durations */
#define TDS_TIME_MAX 32
/* "2026-11-23T15:55:35.123Z". Returns TDS_EINVAL for times outside years 0001-9999. */
int tds_time_format(int64_t ms, char out[TDS_TIME_MAX]);
/* RFC 3339 date-time: "YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)"; fractions beyond milliseconds are
 * truncated. Strict: rejects out-of-range fields and trailing text. */
int tds_time_parse(const char *s, int64_t *ms);

/* ------------------------------------------------------------------------------------------------
 * Logging: one JSON object per line on stderr:
 *   {"ts":"…","level":"info","event":"listening","msg":"…","request_id":"…", …fields}
 * Never log secrets or personal data.
 * ---------------------------------------------------------------------------------------------- */

typedef enum { TDS_LOG_DEBUG = 0, TDS_LOG_INFO, TDS_LOG_WARN, TDS_LOG_ERROR, TDS_LOG_OFF } tds_log_level;

void tds_log_set_level(tds_log_level level);
int tds_log_parse_level(const char *s, tds_log_level *out);
/* Current thread's request id, added to every line logged from this thread; NULL clears it. */
void tds_log_set_request_id(const char *id);
const char *tds_log_request_id(void);
/* Logs an event with a formatted message. */
void tds_log(tds_log_level level, const char *event, const char *fmt, ...) TDS_PRINTF(3, 4);
/* Logs an event with structured fields (steals `fields`, which may be NULL). */
void tds_log_fields(tds_log_level level, const char *event, json_t *fields);

/* ------------------------------------------------------------------------------------------------
 * Configuration: "section.key" → string value, from tds.conf (INI), then TDS_<SECTION>_<KEY>
 * environment variables, then explicit sets (flags), each layer overriding the one before.
 * A schema lists the keys that exist; anything else is an error with the line that holds it.
 * ---------------------------------------------------------------------------------------------- */

typedef enum { TDS_CONF_STRING = 1, TDS_CONF_INT, TDS_CONF_BOOL } tds_conf_type;

typedef struct tds_conf_key {
	const char *key;  /* "section.key", lower case, section without '_' */
	tds_conf_type type;
	const char *def;  /* default value as text, NULL = unset */
	int64_t min, max; /* for TDS_CONF_INT */
	const char *help;
} tds_conf_key;

typedef struct tds_config tds_config;

tds_config *tds_config_new(const tds_conf_key *schema, size_t n);
void tds_config_free(tds_config *c);
/* Loads INI text (NUL not required: exactly len bytes) / a file. TDS_EINVAL naming the line on a
 * syntax error, unknown key or ill-typed value; TDS_EIO when the file cannot be read. */
int tds_config_load_string(tds_config *c, const char *text, size_t len);
int tds_config_load_file(tds_config *c, const char *path);
/* Applies TDS_<SECTION>_<KEY> variables from `envp` (NULL-terminated, e.g. environ). Variables
 * that do not name a schema key are ignored (TDS_BIN_DIR and friends are not configuration). */
int tds_config_load_env(tds_config *c, char *const *envp);
/* Sets one key (flags); validates like the file loader. */
int tds_config_set(tds_config *c, const char *key, const char *value);
const char *tds_config_get(const tds_config *c, const char *key); /* value or default, may be NULL */
int64_t tds_config_int(const tds_config *c, const char *key);    /* validated by the loaders */
bool tds_config_bool(const tds_config *c, const char *key);
/* Writes the current values as INI (only keys that were set, grouped by section). */
int tds_config_write(const tds_config *c, tds_buf *out);

/* ------------------------------------------------------------------------------------------------
 * Rate limiting: fixed windows per key, in memory, bounded. Keys hash into a fixed table of slots;
 * two keys sharing a slot share its count, so a collision can only make the limit stricter, never
 * let more through. Thread-safe. For cheap front-line limits (public sign-up per client address);
 * limits that must survive restarts belong in the database.
 * ---------------------------------------------------------------------------------------------- */

typedef struct tds_ratelimit tds_ratelimit;

/* `slots` table size (0 = 4096), at most `max` takes per key per `window_ms`. NULL on ENOMEM. */
tds_ratelimit *tds_ratelimit_new(size_t slots, int64_t window_ms, uint32_t max);
void tds_ratelimit_free(tds_ratelimit *rl);
/* Counts one take for `key` at now_ms; false (and *retry_after_ms, may be NULL) when the key has
 * used up its window. */
bool tds_ratelimit_take(tds_ratelimit *rl, const char *key, int64_t now_ms, int64_t *retry_after_ms);

/* ------------------------------------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------------------------------- */

/* Writes a file atomically (temp file, fsync, rename, fsync dir) with the given mode. */
int tds_file_write_atomic(const char *path, const void *data, size_t len, int mode);
/* Reads a whole file (at most max bytes; TDS_ETOOBIG beyond). */
int tds_file_read(const char *path, size_t max, tds_buf *out);
/* Joins dir and name into out (TDS_EINVAL if it does not fit). */
int tds_path_join(char *out, size_t cap, const char *dir, const char *name);

#endif
