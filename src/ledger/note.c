/*
 * note.c — signed notes (C2SP signed-note), checkpoint bodies (C2SP tlog-checkpoint) and timestamped
 * cosignatures (C2SP tlog-cosignature v1), with TDS's SM2 signature types (ledger.h invariants 6, 7).
 *
 * Everything that reads a note is strict and total: it checks the whole input before trusting any
 * part, never reads outside [note, note+len), and names the line and the fault when it refuses.
 * Not here: which keys to trust (the caller passes them), the witness protocol, storage.
 */
#include "ledger/internal.h"

#include <stdio.h>
#include <string.h>

#define EM_DASH "\xe2\x80\x94"
#define SIG_PREFIX EM_DASH " "
#define SIG_PREFIX_LEN 4
#define COSIG_HEADER "cosignature/v1\n"

/* Signature type identifiers (ledger.h invariants 6 and 7). */
static const uint8_t TYPE_ED25519[] = {0x01};
static const uint8_t TYPE_ED25519_COSIG[] = {0x04};
static const uint8_t TYPE_SM2[] = "\xff" "tds/sm2-sm3";
static const uint8_t TYPE_SM2_COSIG[] = "\xff" "tds/sm2-sm3-cosignature/v1";

static int invalid(const char *name, const char *fmt, ...) TDS_PRINTF(2, 3);
static int invalid(const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = tds_error_setv(TDS_EINVAL, name, fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- names ---- */

/* Decodes one code point of valid UTF-8 (the caller checked validity) and advances *i. */
static uint32_t next_cp(const unsigned char *s, size_t len, size_t *i)
{
	unsigned char c = s[*i];
	size_t n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
	for (size_t k = 1; k < n && *i + k < len; k++)
		cp = cp << 6 | (s[*i + k] & 0x3f);
	*i += n;
	return cp;
}

static bool unicode_space(uint32_t cp)
{
	return cp == 0x20 || (cp >= 0x09 && cp <= 0x0d) || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
	       (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
	       cp == 0x205f || cp == 0x3000;
}

/* A key name or origin: 1..255 bytes of UTF-8 without control characters, Unicode spaces or '+'. */
static bool name_ok(const char *s, size_t len)
{
	if (len == 0 || len > TDS_LEDGER_ORIGIN_MAX || !tds_utf8_valid(s, len))
		return false;
	for (size_t i = 0; i < len;) {
		uint32_t cp = next_cp((const unsigned char *)s, len, &i);
		if (cp < 0x20 || cp == 0x7f || cp == '+' || unicode_space(cp))
			return false;
	}
	return true;
}

static int check_name(const char *what, const char *s)
{
	if (!s || !name_ok(s, strlen(s)))
		return invalid(strcmp(what, "origin") == 0 ? "invalid_origin" : "invalid_key_name",
			       "%s must be 1-%d bytes of UTF-8 without spaces, '+' or control characters, "
			       "e.g. \"tds.local/node_01J…\"", what, TDS_LEDGER_ORIGIN_MAX);
	return 0;
}

/* Note text rules: valid UTF-8, no control characters but newline. */
static bool text_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\n')
			return false;
	return tds_utf8_valid(s, len);
}

/* ---- key ids ---- */

static int sig_type(tds_ledger_sig_kind kind, tds_suite suite, const uint8_t **id, size_t *len)
{
	if (suite == TDS_SUITE_INTL) {
		*id = kind == TDS_LEDGER_SIG_NOTE ? TYPE_ED25519 : TYPE_ED25519_COSIG;
		*len = 1;
	} else if (suite == TDS_SUITE_GM) {
		*id = kind == TDS_LEDGER_SIG_NOTE ? TYPE_SM2 : TYPE_SM2_COSIG;
		*len = kind == TDS_LEDGER_SIG_NOTE ? sizeof TYPE_SM2 - 1 : sizeof TYPE_SM2_COSIG - 1;
	} else {
		return invalid("unknown_suite", "key of an unknown suite");
	}
	if (kind != TDS_LEDGER_SIG_NOTE && kind != TDS_LEDGER_SIG_COSIGNATURE)
		return invalid("invalid_argument", "unknown signature kind %d", (int)kind);
	return 0;
}

int tds_ledger_key_id(const char *name, tds_ledger_sig_kind kind, const tds_key *key, uint32_t *id)
{
	const uint8_t *type = NULL;
	size_t tlen = 0;
	int rc;
	if ((rc = check_name("key name", name)) || (rc = sig_type(kind, tds_key_suite(key), &type, &tlen)))
		return rc;
	tds_buf b = TDS_BUF_INIT;
	uint8_t h[TDS_HASH_LEN];
	if (!(rc = tds_buf_puts(&b, name)) && !(rc = tds_buf_putc(&b, '\n')) &&
	    !(rc = tds_buf_append(&b, type, tlen)) && !(rc = tds_key_public_raw(key, &b)) &&
	    !(rc = tds_hash(TDS_SUITE_INTL, b.data, b.len, h))) /* SHA-256 whatever the suite, per signed-note */
		*id = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	tds_buf_free(&b);
	return rc;
}

/* ---- notes ---- */

int tds_ledger_note_parse(const char *note, size_t len, tds_ledger_note *out)
{
	out->text = NULL;
	out->text_len = 0;
	out->nsigs = 0;
	if (len > TDS_LEDGER_NOTE_MAX)
		return invalid("invalid_note", "note of %zu bytes exceeds the %d-byte limit", len, TDS_LEDGER_NOTE_MAX);
	if (len == 0 || note[len - 1] != '\n')
		return invalid("invalid_note", "note must end with a newline");
	if (!text_ok(note, len))
		return invalid("invalid_note", "note must be UTF-8 without control characters other than newline");
	/* the text ends at the last blank line */
	size_t split = len;
	for (size_t i = len - 1; i-- > 0;)
		if (note[i] == '\n' && note[i + 1] == '\n') {
			split = i;
			break;
		}
	if (split == len)
		return invalid("invalid_note", "note has no blank line between its text and its signatures");
	out->text = note;
	out->text_len = split + 1;
	const char *p = note + split + 2, *end = note + len;
	if (p == end)
		return invalid("invalid_note", "note has no signature lines after its blank line");
	tds_buf raw = TDS_BUF_INIT;
	int rc = 0;
	for (size_t line = 1; p < end; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)); /* found: the note ends with '\n' */
		size_t n = (size_t)(nl - p);
		if (out->nsigs == TDS_LEDGER_NOTE_SIGS_MAX) {
			rc = invalid("invalid_note", "note has more than %d signature lines", TDS_LEDGER_NOTE_SIGS_MAX);
			break;
		}
		if (n < SIG_PREFIX_LEN || memcmp(p, SIG_PREFIX, SIG_PREFIX_LEN) != 0) {
			rc = invalid("invalid_note", "signature line %zu must start with an em dash (U+2014) and a space", line);
			break;
		}
		const char *name = p + SIG_PREFIX_LEN;
		const char *sp = memchr(name, ' ', (size_t)(nl - name));
		if (!sp || !name_ok(name, (size_t)(sp - name))) {
			rc = invalid("invalid_note", "signature line %zu must be \"— <key name> <base64>\" with a key name "
				     "of 1-%d bytes without spaces or '+'", line, TDS_LEDGER_ORIGIN_MAX);
			break;
		}
		tds_buf_reset(&raw);
		if (tds_b64_decode(sp + 1, (size_t)(nl - sp - 1), &raw) != 0 || raw.len < 5) {
			rc = invalid("invalid_note", "signature line %zu: the signature must be standard padded base64 "
				     "of a 4-byte key id and a signature", line);
			break;
		}
		tds_ledger_note_sig *s = &out->sigs[out->nsigs++];
		const uint8_t *r = (const uint8_t *)raw.data;
		s->name = name;
		s->name_len = (size_t)(sp - name);
		s->key_id = (uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 | (uint32_t)r[2] << 8 | r[3];
		s->sig_len = raw.len - 4;
		s->sig_kept = s->sig_len <= TDS_LEDGER_SIG_MAX;
		if (s->sig_kept)
			memcpy(s->sig, r + 4, s->sig_len);
		p = nl + 1;
	}
	tds_buf_free(&raw);
	if (rc) {
		out->nsigs = 0;
		out->text = NULL;
		out->text_len = 0;
	}
	return rc;
}

/* Appends "— <name> base64(key id || prefix || sig)\n". */
static int sig_line(const char *name, uint32_t key_id, const uint8_t *prefix, size_t plen,
		    const tds_buf *sig, tds_buf *out)
{
	uint8_t raw[4 + 8 + TDS_SIG_MAX];
	if (plen > 8 || sig->len > TDS_SIG_MAX)
		return tds_error_set(TDS_EINTERNAL, "internal_error", "signature too long (a bug)");
	raw[0] = (uint8_t)(key_id >> 24), raw[1] = (uint8_t)(key_id >> 16);
	raw[2] = (uint8_t)(key_id >> 8), raw[3] = (uint8_t)key_id;
	if (plen)
		memcpy(raw + 4, prefix, plen);
	memcpy(raw + 4 + plen, sig->data, sig->len);
	int rc;
	if ((rc = tds_buf_puts(out, SIG_PREFIX)) || (rc = tds_buf_puts(out, name)) || (rc = tds_buf_putc(out, ' ')) ||
	    (rc = tds_b64_encode(raw, 4 + plen + sig->len, out)) || (rc = tds_buf_putc(out, '\n')))
		return rc;
	return 0;
}

int tds_ledger_note_sign(const char *text, size_t len, const char *name, const tds_key *key, tds_buf *out)
{
	uint32_t id;
	int rc;
	if (len == 0 || text[len - 1] != '\n' || len > TDS_LEDGER_NOTE_MAX / 2 || !text_ok(text, len))
		return invalid("invalid_note", "note text must be non-empty UTF-8 without control characters "
			       "other than newline, end with a newline and stay below %d bytes", TDS_LEDGER_NOTE_MAX / 2);
	if ((rc = tds_ledger_key_id(name, TDS_LEDGER_SIG_NOTE, key, &id)))
		return rc;
	tds_buf sig = TDS_BUF_INIT;
	size_t start = out->len;
	if (!(rc = tds_sign(key, text, len, &sig)) && !(rc = tds_buf_append(out, text, len)) &&
	    !(rc = tds_buf_putc(out, '\n')))
		rc = sig_line(name, id, NULL, 0, &sig, out);
	if (rc && out->data) {
		out->len = start;
		out->data[start] = 0;
	}
	tds_buf_free(&sig);
	return rc;
}

static bool sig_is(const tds_ledger_note_sig *s, const char *name, uint32_t id)
{
	size_t n = strlen(name);
	return s->key_id == id && s->name_len == n && memcmp(s->name, name, n) == 0;
}

int tds_ledger_note_verify(const char *note, size_t len, const char *name, const tds_key *key,
			   tds_ledger_note *out)
{
	uint32_t id;
	int rc;
	if ((rc = tds_ledger_note_parse(note, len, out)) || (rc = tds_ledger_key_id(name, TDS_LEDGER_SIG_NOTE, key, &id)))
		return rc;
	size_t found = 0;
	for (size_t i = 0; i < out->nsigs; i++) {
		const tds_ledger_note_sig *s = &out->sigs[i];
		if (!sig_is(s, name, id))
			continue; /* another key: ignored, as signed-note requires */
		if (!s->sig_kept || tds_verify(key, out->text, out->text_len, s->sig, s->sig_len) != 0)
			return tds_error_set(TDS_ECRYPTO, "bad_signature",
					     "the signature of %s (key id %08x) on this note does not verify: the note was "
					     "altered or signed by another key", name, id);
		found++;
	}
	if (!found)
		return tds_error_set(TDS_EAUTH, "unknown_signer",
				     "the note carries no signature of key %s+%08x; check the origin and the public key",
				     name, id);
	return 0;
}

/* ---- checkpoints ---- */

#define INT63_MAX UINT64_C(9223372036854775807)

int tds_ledger_checkpoint_body(const tds_ledger_head *cp, tds_buf *out)
{
	int rc;
	if ((rc = check_name("origin", cp->origin)))
		return rc;
	if (cp->size > INT63_MAX)
		return invalid("invalid_size", "tree size %llu exceeds 2^63-1", (unsigned long long)cp->size);
	size_t start = out->len;
	if ((rc = tds_buf_printf(out, "%s\n%llu\n", cp->origin, (unsigned long long)cp->size)) ||
	    (rc = tds_b64_encode(cp->root, TDS_HASH_LEN, out)) || (rc = tds_buf_putc(out, '\n'))) {
		if (out->data) {
			out->len = start;
			out->data[start] = 0;
		}
		return rc;
	}
	return 0;
}

/* Strict decimal in 63 bits: digits only, no sign, no leading zeros (except "0"). */
static bool parse_u63(const char *s, size_t n, uint64_t *out)
{
	if (n == 0 || n > 19 || (n > 1 && s[0] == '0'))
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (INT63_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

int tds_ledger_checkpoint_parse(const char *text, size_t len, tds_ledger_head *out)
{
	memset(out, 0, sizeof *out);
	static const char *what[] = {"origin", "tree size", "root hash"};
	const char *line[3];
	size_t n[3], pos = 0;
	for (int i = 0; i < 3; i++) {
		const char *nl = pos < len ? memchr(text + pos, '\n', len - pos) : NULL;
		if (!nl)
			return invalid("invalid_checkpoint", "checkpoint ends before its %s line (line %d); a checkpoint "
				       "is three lines: origin, tree size, base64 root hash", what[i], i + 1);
		line[i] = text + pos;
		n[i] = (size_t)(nl - line[i]);
		pos += n[i] + 1;
	}
	if (pos != len)
		return invalid("invalid_checkpoint", "checkpoint has text after its root hash line; TDS checkpoints "
			       "have no extension lines");
	if (!name_ok(line[0], n[0]))
		return invalid("invalid_checkpoint", "line 1: origin must be 1-%d bytes of UTF-8 without spaces, '+' "
			       "or control characters", TDS_LEDGER_ORIGIN_MAX);
	if (!parse_u63(line[1], n[1], &out->size))
		return invalid("invalid_checkpoint", "line 2: tree size must be a decimal number below 2^63 without "
			       "sign or leading zeros");
	tds_buf raw = TDS_BUF_INIT;
	int ok = n[2] == 44 && tds_b64_decode(line[2], n[2], &raw) == 0 && raw.len == TDS_HASH_LEN;
	if (ok)
		memcpy(out->root, raw.data, TDS_HASH_LEN);
	tds_buf_free(&raw);
	if (!ok) {
		memset(out, 0, sizeof *out);
		return invalid("invalid_checkpoint", "line 3: root hash must be standard base64 of exactly 32 bytes");
	}
	memcpy(out->origin, line[0], n[0]);
	out->origin[n[0]] = 0;
	return 0;
}

int tds_ledger_checkpoint_sign(const tds_ledger_head *cp, const tds_key *key, tds_buf *out)
{
	tds_buf body = TDS_BUF_INIT;
	int rc = tds_ledger_checkpoint_body(cp, &body);
	if (!rc)
		rc = tds_ledger_note_sign(body.data, body.len, cp->origin, key, out);
	tds_buf_free(&body);
	return rc;
}

int tds_ledger_checkpoint_open(const char *note, size_t len, const char *origin, const tds_key *key,
			       tds_ledger_head *out, tds_ledger_note *parsed)
{
	tds_ledger_note local;
	tds_ledger_note *nt = parsed ? parsed : &local;
	tds_ledger_head cp;
	int rc;
	if ((rc = check_name("origin", origin)) || (rc = tds_ledger_note_parse(note, len, nt)) ||
	    (rc = tds_ledger_checkpoint_parse(nt->text, nt->text_len, &cp)))
		return rc;
	if (strcmp(cp.origin, origin) != 0)
		return invalid("wrong_origin", "checkpoint is for origin \"%s\", expected \"%s\"", cp.origin, origin);
	if ((rc = tds_ledger_note_verify(note, len, origin, key, nt)))
		return rc;
	if (out)
		*out = cp;
	return 0;
}

/* ---- cosignatures ---- */

static int cosig_message(uint64_t ts, const char *text, size_t len, tds_buf *msg)
{
	int rc;
	if ((rc = tds_buf_printf(msg, COSIG_HEADER "time %llu\n", (unsigned long long)ts)) ||
	    (rc = tds_buf_append(msg, text, len)))
		return rc;
	return 0;
}

int tds_ledger_cosign(const char *text, size_t len, const char *name, const tds_key *key,
		      uint64_t timestamp, tds_buf *line)
{
	tds_ledger_head cp;
	uint32_t id;
	int rc;
	if ((rc = tds_ledger_checkpoint_parse(text, len, &cp)) ||
	    (rc = tds_ledger_key_id(name, TDS_LEDGER_SIG_COSIGNATURE, key, &id)))
		return rc;
	if (timestamp > INT63_MAX)
		return invalid("invalid_timestamp", "cosignature timestamp %llu exceeds 2^63-1",
			       (unsigned long long)timestamp);
	tds_buf msg = TDS_BUF_INIT, sig = TDS_BUF_INIT;
	uint8_t ts[8];
	for (int i = 0; i < 8; i++)
		ts[i] = (uint8_t)(timestamp >> (56 - 8 * i));
	if (!(rc = cosig_message(timestamp, text, len, &msg)) && !(rc = tds_sign(key, msg.data, msg.len, &sig)))
		rc = sig_line(name, id, ts, sizeof ts, &sig, line);
	tds_buf_free(&msg);
	tds_buf_free(&sig);
	return rc;
}

int tds_ledger_cosignature_verify(const char *note, size_t len, const char *name, const tds_key *key,
				  uint64_t *timestamp)
{
	tds_ledger_note nt;
	tds_ledger_head cp;
	uint32_t id;
	int rc;
	if ((rc = tds_ledger_note_parse(note, len, &nt)) ||
	    (rc = tds_ledger_checkpoint_parse(nt.text, nt.text_len, &cp)) ||
	    (rc = tds_ledger_key_id(name, TDS_LEDGER_SIG_COSIGNATURE, key, &id)))
		return rc;
	size_t found = 0;
	uint64_t first_ts = 0;
	tds_buf msg = TDS_BUF_INIT;
	for (size_t i = 0; i < nt.nsigs && !rc; i++) {
		const tds_ledger_note_sig *s = &nt.sigs[i];
		if (!sig_is(s, name, id))
			continue;
		uint64_t ts = 0;
		if (s->sig_kept && s->sig_len > 8)
			for (int k = 0; k < 8; k++)
				ts = ts << 8 | s->sig[k];
		if (!s->sig_kept || s->sig_len <= 8 || ts > INT63_MAX) {
			rc = invalid("invalid_cosignature", "cosignature of %s must be an 8-byte timestamp below 2^63 "
				     "followed by a signature", name);
			break;
		}
		tds_buf_reset(&msg);
		if ((rc = cosig_message(ts, nt.text, nt.text_len, &msg)))
			break;
		if (tds_verify(key, msg.data, msg.len, s->sig + 8, s->sig_len - 8) != 0) {
			rc = tds_error_set(TDS_ECRYPTO, "bad_signature",
					   "the cosignature of witness %s (key id %08x) does not verify: the checkpoint was "
					   "altered or the line was made with another key", name, id);
			break;
		}
		if (!found++)
			first_ts = ts;
	}
	tds_buf_free(&msg);
	if (rc)
		return rc;
	if (!found)
		return tds_error_set(TDS_ENOTFOUND, "no_cosignature",
				     "the checkpoint carries no cosignature of witness %s+%08x", name, id);
	if (timestamp)
		*timestamp = first_ts;
	return 0;
}
