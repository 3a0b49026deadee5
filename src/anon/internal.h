/*
 * anon/internal.h — what the anon sources share and nothing outside src/anon may use: the compiled
 * form of the rules (detectors with their parameters in lookup-friendly shapes), the value shape
 * classes of the scan's pre-filter, the validators, and the table's layout.
 *
 * Invariants: a compiled rules object is immutable and owns everything through one arena; detector
 * i of the rules is bit i of every match mask; validators read exactly the bytes they are given
 * (no terminator needed) and decide from them alone, plus "today" for dates.
 */
#ifndef TDS_ANON_INTERNAL_H
#define TDS_ANON_INTERNAL_H

#include "anon/anon.h"

#include <string.h>

/* ---- detector kinds: the validators written in code; the rules choose and parameterise them ---- */

typedef enum {
	K_RESIDENT_ID = 0,
	K_USCC,
	K_BANK_CARD,
	K_MOBILE,
	K_LANDLINE,
	K_TEMPLATE,
	K_EMAIL,
	K_IPV4,
	K_IPV6,
	K_PLATE,
	K_MASKED,
	K_HEX_TOKEN,
	K_TERMS,
	K_ADDRESS,
	K_PERSON_NAME,
	K_DATE,
	K_NUMBER,
	K_COLUMN,
	K_COUNT
} det_kind;

const char *anon_kind_name(det_kind k);
/* What a hit of this kind means, for reasons ("pass the GB 11643 check …"). */
const char *anon_kind_meaning(det_kind k);

/* identifiability value of a detector that describes persons identified elsewhere in the table */
#define ID_ATTRIBUTE (-1)

/* ---- value shape: one bit per class of byte present; the pre-filter of the scan ---- */

enum {
	SH_DIGIT = 1u << 0,
	SH_UPPER = 1u << 1,
	SH_LOWER = 1u << 2,
	SH_HIGH = 1u << 3, /* any byte >= 0x80 */
	SH_AT = 1u << 4,
	SH_DOT = 1u << 5,
	SH_COLON = 1u << 6,
	SH_DASH = 1u << 7,
	SH_SPACE = 1u << 8, /* space or tab */
	SH_PLUS = 1u << 9,
	SH_PAREN = 1u << 10,
	SH_STAR = 1u << 11,
	SH_SLASH = 1u << 12,
	SH_COMMA = 1u << 13,
	SH_UNDERSCORE = 1u << 14,
	SH_PERCENT = 1u << 15,
	SH_LTGT = 1u << 16, /* < > */
	SH_OTHER = 1u << 17, /* other printable ASCII punctuation */
	SH_CTRL = 1u << 18,  /* control characters */
	SH_ALL = (1u << 19) - 1
};

/* ---- small lookup structures (arena-allocated, immutable after build) ---- */

/* A set of code points (open addressing; 0 marks an empty slot, so code point 0 is never a member). */
typedef struct cpset {
	uint32_t *slot;
	uint32_t mask;
} cpset;

static inline uint32_t cp_hash(uint32_t cp) { return cp * 2654435761u; }

static inline bool cpset_has(const cpset *s, uint32_t cp)
{
	if (!s->slot || cp == 0)
		return false;
	for (uint32_t i = cp_hash(cp) & s->mask;; i = (i + 1) & s->mask) {
		if (s->slot[i] == cp)
			return true;
		if (s->slot[i] == 0)
			return false;
	}
}

/* Terms indexed by their first code point (ASCII terms are stored lower-case and match ASCII
 * case-insensitively, at ASCII word boundaries). Each term carries a class (address word kinds). */
typedef struct term {
	const char *s;
	uint32_t len;
	uint8_t cls;
	bool fold;         /* has ASCII letters: compare case-insensitively */
	bool ascii_alpha_start, ascii_alpha_end;
} term;

typedef struct bucket {
	uint32_t key; /* first code point, 0 = empty */
	uint32_t start, count;
} bucket;

typedef struct termdict {
	term *terms; /* grouped by first code point, longest first within a group */
	size_t n;
	uint8_t *first; /* bitmap over the BMP: code points that start a term (lower-cased ASCII) */
	bucket *b;
	uint32_t mask;
	uint32_t any_of; /* SH_* classes of the terms' first bytes */
} termdict;

/* Longest term starting at v[0..n) whose first code point is cp; its length (0 = none) and class.
 * `prev` is the byte before v (0 at the start), for ASCII word boundaries. */
size_t termdict_match_at(const termdict *d, const unsigned char *v, size_t n, uint32_t cp, unsigned char prev,
			 uint8_t *cls);

/* A template: one unit per byte of the value; high byte class, low byte the literal. */
enum { T_LIT = 0, T_DIGIT, T_UPPER, T_UPPER_NO_IO };
typedef struct tmpl {
	uint16_t *u;
	uint32_t n;
} tmpl;

/* ---- detectors ---- */

typedef struct det {
	const char *id, *name;
	det_kind kind;
	tds_anon_category category;
	bool pi, spi, requires_context, exclusive;
	const char *spi_basis;
	int ident; /* tds_anon_identifiability or ID_ATTRIBUTE */
	int level;
	tds_anon_mask mask;
	const char **ctx; /* keywords, ASCII lower-cased */
	size_t nctx;
	const char **ctx_ex;
	size_t nctx_ex;
	double min_ratio, ctx_min_ratio, confidence;
	/* pre-filter: bytes of a candidate value fall in `allowed`, include every class of `required`,
	 * and its length is within [min_len, max_len] */
	uint32_t allowed, required, any_of; /* any_of: at least one of these classes (0 = no condition) */
	size_t min_len, max_len;

	/* parameters, by kind */
	bool region[100];       /* resident_id provinces, uscc regions */
	int min_year;           /* resident_id, date */
	bool accept15;          /* resident_id */
	bool authority[256];    /* uscc */
	const char **strs;      /* bank_card bins, mobile country codes, number currency symbols */
	size_t *lens, nstrs;
	const char **strs2;     /* number suffixes */
	size_t *lens2, nstrs2;
	bool len_ok[129];       /* bank_card, hex_token lengths */
	bool prefix2[100];      /* mobile prefixes, landline three-digit areas */
	bool first_digit[10];   /* landline four-digit areas */
	tmpl *tmpls;            /* template */
	size_t ntmpls;
	cpset set1, set2;       /* plate provinces and suffixes; person_name surnames */
	termdict dict;          /* terms; address words; person_name compound surnames */
	bool exact;             /* terms: whole value instead of contains */
	int min_chars, max_chars, max_chars_dot; /* person_name, address */
	int min_stars;          /* masked */
	bool uuid;              /* hex_token */
	int max_decimals;       /* number */
	bool thousands, integers;
	int minors_age;         /* date */
	uint64_t minors_min_count;
	const char *minors_basis;
} det;

typedef struct escalation {
	bool spi; /* true: applies to SPI columns; false: to PI columns */
	uint64_t min_rows;
	int level;
	const char *reason;
} escalation;

struct tds_anon_rules {
	tds_arena *arena;
	const char *version;
	tds_anon_grade grade[TDS_ANON_LEVEL_MAX + 1];
	const char *level_label[TDS_ANON_LEVEL_MAX + 1];
	double min_ratio, ctx_min_ratio, secondary_ratio, context_bonus;
	uint64_t min_values;
	int default_level;
	tds_anon_identifiability attr_ident;
	const char **nulls;
	size_t *null_len;
	size_t nnulls, null_max;
	uint32_t null_lens; /* bit L: some null marker has L bytes (L < 32) */
	escalation *esc;
	size_t nesc;
	det *det;
	size_t ndet;
	uint32_t shape[256];   /* byte → SH_* class */
	uint64_t lenmask[256]; /* length → detectors whose length range admits it */
};

/* ---- validators (validators.c): one per kind, total over any bytes ---- */

typedef struct vctx {
	int today; /* yyyymmdd, Beijing calendar */
} vctx;

int anon_today(int64_t now_ms); /* yyyymmdd in Beijing time of now_ms (0 = now) */

/* Does v[0..n) match detector d? *minor is set for a date of birth of a minor (K_DATE). K_COLUMN
 * never matches a value. */
bool anon_match(const det *d, const vctx *c, const unsigned char *v, size_t n, bool *minor);

/* Decodes one UTF-8 code point at s[0..n): its length (1-4) or 0 when malformed. */
int anon_u8dec(const unsigned char *s, size_t n, uint32_t *cp);
bool anon_is_han(uint32_t cp);

/* Index of the first keyword of `kw` found in the column name (ASCII compared case-insensitively,
 * ASCII keywords only at letter boundaries), or -1. */
int anon_context_match(const char *const *kw, size_t nkw, const char *name);

/* ---- tables (result.c) ---- */

struct tds_anon_table {
	tds_arena *arena;
	const char *rules_version;
	tds_anon_grade grade[TDS_ANON_LEVEL_MAX + 1];
	int default_level;
	tds_anon_column *cols;
	size_t ncols;
	tds_anon_summary sum;
};

tds_anon_table *anon_table_new(const tds_anon_rules *r, size_t ncols);
void anon_table_summarize(tds_anon_table *t);

static inline bool anon_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* A copy of the current error message in `buf` (a char array), for a new message that quotes it:
 * tds_error_set would otherwise format into the buffer it reads from. */
#define ANON_ERRMSG(buf) (snprintf((buf), sizeof(buf), "%s", tds_error_message()), (const char *)(buf))

#endif
