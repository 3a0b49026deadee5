/*
 * cmd_crypto.c — `tds crypto …`: offline tools over the crypto room for operators and for
 * interoperability checks against other implementations (the openssl command line, GmSSL, …):
 * key generation, signing, verification, hashing, AEAD, HMAC and HKDF in either suite.
 *
 * Output is always one JSON object on stdout. A failure prints its message on stderr (and, with
 * --json, an {"error":{"code","message"}} object on stdout) and exits 1; bad usage (unknown verb or
 * flag, missing or malformed argument) prints the usage on stderr and exits 2.
 * Not for anything that needs a running node or the node's master key.
 */
#include "cli/cli.h"
#include "crypto/crypto.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY_FILE_MAX (64 * 1024)
#define INPUT_MAX ((size_t)1 << 30) /* whole-message verbs hold the message in memory */

static const char USAGE[] =
	"usage: tds crypto <verb> --suite gm|intl [options] [--json]\n"
	"  keygen  [--out KEY.pem]                        new key pair (with --out: private PEM, mode 0600)\n"
	"  sign    --key KEY.pem DATA                     signature (SM2-SM3 DER / Ed25519)\n"
	"  verify  --key KEY.pem DATA SIG                 {\"valid\":…}; exit 0 valid, 1 not\n"
	"  hash    DATA                                   SM3 / SHA-256\n"
	"  hmac    --key-hex K DATA                       HMAC-SM3 / HMAC-SHA256\n"
	"  hkdf    --ikm-hex K [--salt-hex S] [--info-hex I | --info TEXT] [--length N]\n"
	"  encrypt --key-hex K [--nonce-hex N] [--aad-hex A] DATA     SM4-GCM / AES-256-GCM\n"
	"  decrypt --key-hex K --nonce-hex N [--aad-hex A] --ciphertext-hex C\n"
	"DATA: --in FILE (- for stdin) | --data-hex HEX | --data-b64 B64 | --data TEXT\n"
	"SIG:  --sig-hex HEX | --sig-b64 B64 | --sig-file FILE (raw bytes, e.g. DER)\n"
	"gm: SM2 (id 1234567812345678) / SM3 / SM4-GCM (16-byte key); intl: Ed25519 / SHA-256 / AES-256-GCM\n"
	"(32-byte key). Nonces are 12 bytes, ciphertexts end with a 16-byte tag.\n";

/* Every flag any verb takes; each verb lists those it accepts. */
enum {
	O_SUITE,
	O_KEY,
	O_OUT,
	O_IN,
	O_DATA_HEX,
	O_DATA_B64,
	O_DATA,
	O_SIG_HEX,
	O_SIG_B64,
	O_SIG_FILE,
	O_KEY_HEX,
	O_NONCE_HEX,
	O_AAD_HEX,
	O_CT_HEX,
	O_IKM_HEX,
	O_SALT_HEX,
	O_INFO_HEX,
	O_INFO,
	O_LENGTH,
	O_COUNT
};

static const char *const FLAG_NAMES[O_COUNT] = {
	"--suite",   "--key",     "--out",       "--in",      "--data-hex",       "--data-b64", "--data",
	"--sig-hex", "--sig-b64", "--sig-file",  "--key-hex", "--nonce-hex",      "--aad-hex",  "--ciphertext-hex",
	"--ikm-hex", "--salt-hex", "--info-hex", "--info",    "--length",
};

#define F(o) (1u << (o))
#define DATA_FLAGS (F(O_IN) | F(O_DATA_HEX) | F(O_DATA_B64) | F(O_DATA))

struct verb;

struct opts {
	const struct verb *verb;
	const char *v[O_COUNT];
	bool json;
	tds_suite suite;
};

struct verb {
	const char *name;
	unsigned allowed, required;
	int (*run)(struct opts *o);
};

/* ---- output ---- */

static int usage_error(const char *fmt, ...) TDS_PRINTF(1, 2);

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("tds crypto: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\n", stderr);
	va_end(ap);
	fputs(USAGE, stderr);
	return 2;
}

/* Prints a JSON object on stdout and frees it. */
static int emit(json_t *obj)
{
	char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	if (!s) {
		fputs("tds crypto: out of memory formatting the result\n", stderr);
		return 1;
	}
	puts(s);
	free(s);
	return 0;
}

/* Reports the thread's last error and returns 1. */
static int fail(const struct opts *o)
{
	const char *name = tds_error_name()[0] ? tds_error_name() : "internal_error";
	fprintf(stderr, "tds crypto %s: %s\n", o->verb ? o->verb->name : "", tds_error_message());
	if (o->json) {
		/* the message may quote user input that is not UTF-8: keep the JSON valid */
		char msg[512];
		snprintf(msg, sizeof msg, "%s", tds_error_message());
		json_t *m = json_string(msg);
		if (!m) {
			for (char *c = msg; *c; c++)
				if ((unsigned char)*c >= 0x80)
					*c = '?';
			m = json_string(msg);
		}
		emit(json_pack("{s:{s:s,s:o}}", "error", "code", name, "message", m));
	}
	return 1;
}

static json_t *hex_string(const void *data, size_t len)
{
	tds_buf b = TDS_BUF_INIT;
	json_t *j = tds_hex_encode(data, len, &b) ? NULL : json_stringn(b.data ? b.data : "", b.len);
	tds_buf_free(&b);
	return j;
}

static json_t *b64_string(const void *data, size_t len)
{
	tds_buf b = TDS_BUF_INIT;
	json_t *j = tds_b64_encode(data, len, &b) ? NULL : json_stringn(b.data ? b.data : "", b.len);
	tds_buf_free(&b);
	return j;
}

static void wipe(tds_buf *b)
{
	if (b->data)
		OPENSSL_cleanse(b->data, b->cap);
	tds_buf_free(b);
}

/* ---- input ---- */

/* Reads a whole file ("-" is stdin), at most max bytes. Sets the last error on failure. */
static int read_all(const char *path, size_t max, tds_buf *out)
{
	bool is_stdin = strcmp(path, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	if (!f)
		return tds_error_set(TDS_EIO, "io_error", "cannot open %s: %s", path, strerror(errno));
	int rc = 0;
	for (;;) {
		if ((rc = tds_buf_reserve(out, 65536)))
			break;
		size_t n = fread(out->data + out->len, 1, 65536, f);
		out->len += n;
		out->data[out->len] = 0;
		if (out->len > max) {
			rc = tds_error_set(TDS_ETOOBIG, "too_large", "%s is larger than %zu bytes", path, max);
			break;
		}
		if (n < 65536) {
			if (ferror(f))
				rc = tds_error_set(TDS_EIO, "io_error", "cannot read %s: %s", path, strerror(errno));
			break;
		}
	}
	if (!is_stdin)
		fclose(f);
	return rc;
}

/* Decodes a hex or base64 argument; on bad input prints a usage error and returns 2. */
static int decode_arg(int flag, const char *value, bool b64, tds_buf *out)
{
	int rc = b64 ? tds_b64_decode(value, strlen(value), out) : tds_hex_decode(value, strlen(value), out);
	if (rc)
		return usage_error("%s: %s", FLAG_NAMES[flag], tds_error_message());
	return 0;
}

/* The message of a DATA option. 0, 1 (failure reported) or 2 (usage). */
static int load_data(const struct opts *o, tds_buf *out)
{
	if (o->v[O_IN]) {
		if (read_all(o->v[O_IN], INPUT_MAX, out))
			return fail(o);
		return 0;
	}
	if (o->v[O_DATA_HEX])
		return decode_arg(O_DATA_HEX, o->v[O_DATA_HEX], false, out);
	if (o->v[O_DATA_B64])
		return decode_arg(O_DATA_B64, o->v[O_DATA_B64], true, out);
	return tds_buf_puts(out, o->v[O_DATA]) ? fail(o) : 0;
}

/* Reads --key and checks it belongs to --suite. 0 or 1 (failure reported). */
static int load_key(const struct opts *o, tds_key **key)
{
	tds_buf pem = TDS_BUF_INIT;
	int rc = read_all(o->v[O_KEY], KEY_FILE_MAX, &pem); /* its errors name the file */
	if (!rc && ((rc = tds_key_from_pem(pem.data, pem.len, key)) ||
		    (rc = tds_key_check_suite(*key, o->suite))))
		tds_error_wrap("%s: ", o->v[O_KEY]);
	wipe(&pem);
	if (rc) {
		tds_key_free(*key);
		*key = NULL;
		return fail(o);
	}
	return 0;
}

/* A fixed-length hex argument (keys, nonces). 0 or 2 (usage). */
static int fixed_hex(int flag, const char *value, uint8_t *out, size_t want)
{
	tds_buf b = TDS_BUF_INIT;
	int rc = decode_arg(flag, value, false, &b);
	if (!rc && b.len != want)
		rc = usage_error("%s must be %zu bytes (%zu hex digits), got %zu bytes", FLAG_NAMES[flag], want,
				 want * 2, b.len);
	if (!rc)
		memcpy(out, b.data, want);
	wipe(&b);
	return rc;
}

/* ---- verbs ---- */

static json_t *key_json(const tds_key *key, bool with_private)
{
	tds_buf pub = TDS_BUF_INIT, raw = TDS_BUF_INIT, priv = TDS_BUF_INIT;
	char id[TDS_KEY_ID_LEN + 1];
	json_t *j = NULL;
	if (tds_key_public_pem(key, &pub) || tds_key_public_raw(key, &raw) || tds_key_id(key, id) ||
	    (with_private && tds_key_private_pem(key, &priv)))
		goto done;
	j = json_pack("{s:s,s:s,s:s,s:o,s:s}", "suite", tds_suite_name(tds_key_suite(key)), "alg",
		      tds_sig_alg(tds_key_suite(key)), "public_pem", pub.data, "public_hex",
		      hex_string(raw.data, raw.len), "key_id", id);
	if (j && with_private)
		json_object_set_new(j, "private_pem", json_string(priv.data));
done:
	tds_buf_free(&pub);
	tds_buf_free(&raw);
	wipe(&priv);
	return j;
}

static int run_keygen(struct opts *o)
{
	if (o->v[O_OUT] && access(o->v[O_OUT], F_OK) == 0) {
		tds_error_set(TDS_ECONFLICT, "file_exists", "%s already exists: not overwriting a key file",
			      o->v[O_OUT]);
		return fail(o);
	}
	tds_key *key = NULL;
	if (tds_key_generate(o->suite, &key))
		return fail(o);
	int rc = 0;
	if (o->v[O_OUT]) {
		tds_buf pem = TDS_BUF_INIT;
		if (tds_key_private_pem(key, &pem) || tds_file_write_atomic(o->v[O_OUT], pem.data, pem.len, 0600))
			rc = fail(o);
		wipe(&pem);
	}
	if (!rc) {
		json_t *j = key_json(key, !o->v[O_OUT]);
		if (!j)
			rc = fail(o);
		else {
			if (o->v[O_OUT])
				json_object_set_new(j, "private_key_file", json_string(o->v[O_OUT]));
			rc = emit(j);
		}
	}
	tds_key_free(key);
	return rc;
}

static int run_sign(struct opts *o)
{
	tds_key *key = NULL;
	tds_buf msg = TDS_BUF_INIT, sig = TDS_BUF_INIT;
	char id[TDS_KEY_ID_LEN + 1];
	int rc = load_key(o, &key);
	if (!rc)
		rc = load_data(o, &msg);
	if (!rc && (tds_sign(key, msg.data, msg.len, &sig) || tds_key_id(key, id)))
		rc = fail(o);
	if (!rc)
		rc = emit(json_pack("{s:s,s:s,s:s,s:o,s:o}", "suite", tds_suite_name(o->suite), "alg",
				    tds_sig_alg(o->suite), "key_id", id, "signature_hex", hex_string(sig.data, sig.len),
				    "signature_b64", b64_string(sig.data, sig.len)));
	tds_key_free(key);
	tds_buf_free(&msg);
	tds_buf_free(&sig);
	return rc;
}

static int run_verify(struct opts *o)
{
	int sigs = !!o->v[O_SIG_HEX] + !!o->v[O_SIG_B64] + !!o->v[O_SIG_FILE];
	if (sigs != 1)
		return usage_error("verify needs exactly one of --sig-hex, --sig-b64, --sig-file");
	tds_key *key = NULL;
	tds_buf msg = TDS_BUF_INIT, sig = TDS_BUF_INIT;
	int rc = 0;
	if (o->v[O_SIG_HEX])
		rc = decode_arg(O_SIG_HEX, o->v[O_SIG_HEX], false, &sig);
	else if (o->v[O_SIG_B64])
		rc = decode_arg(O_SIG_B64, o->v[O_SIG_B64], true, &sig);
	else if (read_all(o->v[O_SIG_FILE], 4096, &sig))
		rc = fail(o);
	if (!rc)
		rc = load_key(o, &key);
	if (!rc)
		rc = load_data(o, &msg);
	if (!rc) {
		char id[TDS_KEY_ID_LEN + 1];
		int v = tds_verify(key, msg.data, msg.len, (const uint8_t *)sig.data, sig.len);
		if (v && v != TDS_ECRYPTO) {
			rc = fail(o);
		} else if (tds_key_id(key, id)) {
			rc = fail(o);
		} else {
			json_t *j = json_pack("{s:b,s:s,s:s,s:s}", "valid", v == 0, "suite", tds_suite_name(o->suite),
					      "alg", tds_sig_alg(o->suite), "key_id", id);
			if (j && v)
				json_object_set_new(j, "reason", json_string(tds_error_message()));
			if (v)
				fprintf(stderr, "tds crypto verify: %s\n", tds_error_message());
			rc = emit(j);
			if (v)
				rc = 1;
		}
	}
	tds_key_free(key);
	tds_buf_free(&msg);
	tds_buf_free(&sig);
	return rc;
}

/* Hashes --in by streaming (files of any size); other DATA options in memory. */
static int run_hash(struct opts *o)
{
	uint8_t h[TDS_HASH_LEN];
	int rc = 0;
	if (o->v[O_IN]) {
		bool is_stdin = strcmp(o->v[O_IN], "-") == 0;
		FILE *f = is_stdin ? stdin : fopen(o->v[O_IN], "rb");
		if (!f) {
			tds_error_set(TDS_EIO, "io_error", "cannot open %s: %s", o->v[O_IN], strerror(errno));
			return fail(o);
		}
		tds_hash_ctx *ctx = tds_hash_new(o->suite);
		static uint8_t chunk[1 << 16];
		size_t n;
		while (ctx && !rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
			rc = tds_hash_update(ctx, chunk, n);
		if (!ctx || rc)
			rc = fail(o);
		else if (ferror(f))
			rc = (tds_error_set(TDS_EIO, "io_error", "cannot read %s", o->v[O_IN]), fail(o));
		else if (tds_hash_final(ctx, h))
			rc = fail(o);
		tds_hash_free(ctx);
		if (!is_stdin)
			fclose(f);
	} else {
		tds_buf msg = TDS_BUF_INIT;
		rc = load_data(o, &msg);
		if (!rc && tds_hash(o->suite, msg.data, msg.len, h))
			rc = fail(o);
		tds_buf_free(&msg);
	}
	if (rc)
		return rc;
	return emit(json_pack("{s:s,s:s,s:o}", "suite", tds_suite_name(o->suite), "alg", tds_hash_alg(o->suite),
			      "hex", hex_string(h, sizeof h)));
}

static int run_hmac(struct opts *o)
{
	tds_buf key = TDS_BUF_INIT, msg = TDS_BUF_INIT;
	uint8_t mac[TDS_HASH_LEN];
	int rc = decode_arg(O_KEY_HEX, o->v[O_KEY_HEX], false, &key);
	if (!rc)
		rc = load_data(o, &msg);
	if (!rc && tds_hmac(o->suite, key.data, key.len, msg.data, msg.len, mac))
		rc = fail(o);
	if (!rc) {
		char alg[32];
		snprintf(alg, sizeof alg, "hmac-%s", tds_hash_alg(o->suite));
		rc = emit(json_pack("{s:s,s:s,s:o}", "suite", tds_suite_name(o->suite), "alg", alg, "hex",
				    hex_string(mac, sizeof mac)));
	}
	wipe(&key);
	tds_buf_free(&msg);
	return rc;
}

static int run_hkdf(struct opts *o)
{
	if (o->v[O_INFO_HEX] && o->v[O_INFO])
		return usage_error("give --info-hex or --info, not both");
	long length = 32;
	if (o->v[O_LENGTH]) {
		char *end;
		errno = 0;
		length = strtol(o->v[O_LENGTH], &end, 10);
		if (errno || *end || end == o->v[O_LENGTH] || length < 1 || length > 255 * TDS_HASH_LEN)
			return usage_error("--length must be an integer from 1 to %d", 255 * TDS_HASH_LEN);
	}
	tds_buf ikm = TDS_BUF_INIT, salt = TDS_BUF_INIT, info = TDS_BUF_INIT;
	uint8_t *okm = malloc((size_t)length);
	int rc = okm ? 0 : (tds_error_set(TDS_ENOMEM, NULL, "out of memory"), fail(o));
	if (!rc)
		rc = decode_arg(O_IKM_HEX, o->v[O_IKM_HEX], false, &ikm);
	if (!rc && o->v[O_SALT_HEX])
		rc = decode_arg(O_SALT_HEX, o->v[O_SALT_HEX], false, &salt);
	if (!rc && o->v[O_INFO_HEX])
		rc = decode_arg(O_INFO_HEX, o->v[O_INFO_HEX], false, &info);
	if (!rc && o->v[O_INFO] && tds_buf_puts(&info, o->v[O_INFO]))
		rc = fail(o);
	if (!rc && tds_hkdf(o->suite, salt.data, salt.len, ikm.data, ikm.len, info.data, info.len, okm,
			    (size_t)length))
		rc = fail(o);
	if (!rc) {
		char alg[32];
		snprintf(alg, sizeof alg, "hkdf-%s", tds_hash_alg(o->suite));
		rc = emit(json_pack("{s:s,s:s,s:o}", "suite", tds_suite_name(o->suite), "alg", alg, "hex",
				    hex_string(okm, (size_t)length)));
	}
	if (okm) {
		OPENSSL_cleanse(okm, (size_t)length);
		free(okm);
	}
	wipe(&ikm);
	tds_buf_free(&salt);
	tds_buf_free(&info);
	return rc;
}

/* encrypt and decrypt share the key, nonce and AAD handling. */
static int run_aead(struct opts *o, bool enc)
{
	uint8_t key[TDS_AEAD_KEY_MAX], nonce[TDS_AEAD_NONCE_LEN];
	tds_buf aad = TDS_BUF_INIT, in = TDS_BUF_INIT;
	uint8_t *out = NULL;
	size_t outlen = 0;
	int rc = fixed_hex(O_KEY_HEX, o->v[O_KEY_HEX], key, tds_aead_key_len(o->suite));
	if (!rc && o->v[O_NONCE_HEX])
		rc = fixed_hex(O_NONCE_HEX, o->v[O_NONCE_HEX], nonce, sizeof nonce);
	else if (!rc && tds_random(nonce, sizeof nonce)) /* encrypt only: decrypt requires --nonce-hex */
		rc = fail(o);
	if (!rc && o->v[O_AAD_HEX])
		rc = decode_arg(O_AAD_HEX, o->v[O_AAD_HEX], false, &aad);
	if (!rc)
		rc = enc ? load_data(o, &in) : decode_arg(O_CT_HEX, o->v[O_CT_HEX], false, &in);
	if (!rc) {
		outlen = enc ? in.len + TDS_AEAD_TAG_LEN : (in.len >= TDS_AEAD_TAG_LEN ? in.len - TDS_AEAD_TAG_LEN : 0);
		out = malloc(outlen + 1);
		if (!out)
			rc = (tds_error_set(TDS_ENOMEM, NULL, "out of memory"), fail(o));
	}
	if (!rc && (enc ? tds_aead_seal(o->suite, key, nonce, aad.data, aad.len, in.data, in.len, out)
			: tds_aead_open(o->suite, key, nonce, aad.data, aad.len, in.data, in.len, out)))
		rc = fail(o);
	if (!rc) {
		json_t *j = json_pack("{s:s,s:s,s:o}", "suite", tds_suite_name(o->suite), "alg",
				      tds_aead_alg(o->suite), "nonce_hex", hex_string(nonce, sizeof nonce));
		if (j && enc) {
			json_object_set_new(j, "ciphertext_hex", hex_string(out, outlen));
		} else if (j) {
			json_object_set_new(j, "plaintext_hex", hex_string(out, outlen));
			json_t *text = json_stringn((const char *)out, outlen); /* NULL unless valid UTF-8 */
			if (text)
				json_object_set_new(j, "plaintext", text);
		}
		rc = emit(j);
	}
	OPENSSL_cleanse(key, sizeof key);
	if (out) {
		OPENSSL_cleanse(out, outlen);
		free(out);
	}
	tds_buf_free(&aad);
	wipe(&in);
	return rc;
}

static int run_encrypt(struct opts *o) { return run_aead(o, true); }
static int run_decrypt(struct opts *o) { return run_aead(o, false); }

static const struct verb VERBS[] = {
	{"keygen", F(O_SUITE) | F(O_OUT), F(O_SUITE), run_keygen},
	{"sign", F(O_SUITE) | F(O_KEY) | DATA_FLAGS, F(O_SUITE) | F(O_KEY), run_sign},
	{"verify", F(O_SUITE) | F(O_KEY) | DATA_FLAGS | F(O_SIG_HEX) | F(O_SIG_B64) | F(O_SIG_FILE),
	 F(O_SUITE) | F(O_KEY), run_verify},
	{"hash", F(O_SUITE) | DATA_FLAGS, F(O_SUITE), run_hash},
	{"hmac", F(O_SUITE) | F(O_KEY_HEX) | DATA_FLAGS, F(O_SUITE) | F(O_KEY_HEX), run_hmac},
	{"hkdf", F(O_SUITE) | F(O_IKM_HEX) | F(O_SALT_HEX) | F(O_INFO_HEX) | F(O_INFO) | F(O_LENGTH),
	 F(O_SUITE) | F(O_IKM_HEX), run_hkdf},
	{"encrypt", F(O_SUITE) | F(O_KEY_HEX) | F(O_NONCE_HEX) | F(O_AAD_HEX) | DATA_FLAGS,
	 F(O_SUITE) | F(O_KEY_HEX), run_encrypt},
	{"decrypt", F(O_SUITE) | F(O_KEY_HEX) | F(O_NONCE_HEX) | F(O_AAD_HEX) | F(O_CT_HEX),
	 F(O_SUITE) | F(O_KEY_HEX) | F(O_NONCE_HEX) | F(O_CT_HEX), run_decrypt},
};

/* Parses "--flag VALUE" / "--flag=VALUE" pairs and --json into o. 0 or 2 (usage). */
static int parse(int argc, char **argv, struct opts *o)
{
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--json") == 0) {
			o->json = true;
			continue;
		}
		const char *eq = strchr(a, '=');
		size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
		int flag = -1;
		for (int f = 0; f < O_COUNT; f++)
			if (strlen(FLAG_NAMES[f]) == nlen && strncmp(a, FLAG_NAMES[f], nlen) == 0)
				flag = f;
		if (flag < 0 || !(o->verb->allowed & F(flag)))
			return usage_error("%s: unknown option %.*s", o->verb->name, (int)nlen, a);
		if (o->v[flag])
			return usage_error("%s given twice", FLAG_NAMES[flag]);
		if (eq)
			o->v[flag] = eq + 1;
		else if (i + 1 < argc)
			o->v[flag] = argv[++i];
		else
			return usage_error("%s needs a value", FLAG_NAMES[flag]);
	}
	for (int f = 0; f < O_COUNT; f++)
		if ((o->verb->required & F(f)) && !o->v[f])
			return usage_error("%s: missing %s", o->verb->name, FLAG_NAMES[f]);
	if (o->verb->allowed & F(O_DATA)) {
		int n = 0;
		for (int f = O_IN; f <= O_DATA; f++)
			n += !!o->v[f];
		if (n != 1)
			return usage_error("%s needs exactly one of --in, --data-hex, --data-b64, --data", o->verb->name);
	}
	if (tds_suite_parse(o->v[O_SUITE], &o->suite))
		return usage_error("--suite: %s", tds_error_message());
	return 0;
}

int tds_cli_crypto(int argc, char **argv)
{
	if (argc < 2)
		return usage_error("missing verb");
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(USAGE, stdout);
		return 0;
	}
	struct opts o = {0};
	for (size_t i = 0; i < TDS_ARRAY_LEN(VERBS); i++)
		if (strcmp(argv[1], VERBS[i].name) == 0)
			o.verb = &VERBS[i];
	if (!o.verb)
		return usage_error("unknown verb '%s'", argv[1]);
	int rc = parse(argc, argv, &o);
	if (rc)
		return rc;
	if (tds_crypto_init())
		return fail(&o);
	return o.verb->run(&o);
}
