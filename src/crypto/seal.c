/*
 * seal.c — sealed secrets: AEAD under a per-message key derived from the node master key, bound to
 * a context label (format in crypto.h), and sealed private-key files (mode 0600, refused when group
 * or others may read them). Not for choosing, storing or rotating the master key itself (node).
 */
#include "crypto/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEAL_VERSION 1
#define SALT_LEN 16
#define CONTEXT_MAX 1024
#define KEY_FILE_CONTEXT "key-file"
#define KEY_FILE_MAX (64 * 1024)

static const char ARMOR_BEGIN[] = "-----BEGIN TDS SEALED KEY-----\n";
static const char ARMOR_END[] = "-----END TDS SEALED KEY-----\n";

/* The message key: HKDF(master, salt, "tds-seal:" || context). */
static int derive(tds_suite suite, const uint8_t *master, const uint8_t *salt, const char *context,
		  uint8_t *key)
{
	char info[sizeof "tds-seal:" + CONTEXT_MAX];
	int n = snprintf(info, sizeof info, "tds-seal:%s", context);
	int rc = tds_hkdf(suite, salt, SALT_LEN, master, TDS_MASTER_KEY_LEN, info, (size_t)n, key,
			  tds_aead_key_len(suite));
	OPENSSL_cleanse(info, sizeof info);
	return rc;
}

static int check_context(const char *context)
{
	if (!context || strlen(context) > CONTEXT_MAX)
		return tds_error_set(TDS_EINVAL, "invalid_context",
				     "seal context must be a string of at most %d bytes", CONTEXT_MAX);
	return 0;
}

/* AAD = header (version, suite, salt, nonce) || context. */
static int make_aad(const uint8_t *header, const char *context, tds_buf *aad)
{
	int rc = tds_buf_append(aad, header, TDS_SEAL_HEADER_LEN);
	return rc ? rc : tds_buf_puts(aad, context);
}

int tds_seal(tds_suite suite, const uint8_t master[TDS_MASTER_KEY_LEN], const char *context,
	     const void *pt, size_t ptlen, tds_buf *out)
{
	int rc = tds_crypto_enter(suite);
	if (rc || (rc = check_context(context)))
		return rc;
	if (ptlen > SIZE_MAX / 2)
		return tds_error_set(TDS_ETOOBIG, NULL, "secret of %zu bytes is too large to seal", ptlen);
	uint8_t header[TDS_SEAL_HEADER_LEN], key[TDS_AEAD_KEY_MAX];
	header[0] = SEAL_VERSION;
	header[1] = (uint8_t)suite;
	if ((rc = tds_random(header + 2, SALT_LEN + TDS_AEAD_NONCE_LEN)))
		return rc;
	tds_buf aad = TDS_BUF_INIT;
	if ((rc = make_aad(header, context, &aad)) || (rc = tds_buf_reserve(out, ptlen + TDS_SEAL_OVERHEAD)))
		goto done;
	if ((rc = derive(suite, master, header + 2, context, key)))
		goto done;
	uint8_t *dst = (uint8_t *)out->data + out->len;
	memcpy(dst, header, TDS_SEAL_HEADER_LEN);
	rc = tds_aead_seal(suite, key, header + 2 + SALT_LEN, aad.data, aad.len, pt, ptlen,
			   dst + TDS_SEAL_HEADER_LEN);
	if (!rc) {
		out->len += ptlen + TDS_SEAL_OVERHEAD;
		out->data[out->len] = 0;
	}
done:
	OPENSSL_cleanse(key, sizeof key);
	tds_buf_free(&aad);
	return rc;
}

int tds_unseal(const uint8_t master[TDS_MASTER_KEY_LEN], const char *context, const void *in,
	       size_t inlen, tds_buf *out)
{
	int rc = tds_crypto_init();
	if (rc || (rc = check_context(context)))
		return rc;
	const uint8_t *p = in;
	if (inlen < TDS_SEAL_OVERHEAD)
		return tds_error_set(TDS_EINVAL, "invalid_sealed_data",
				     "sealed data of %zu bytes is shorter than the %d-byte minimum", inlen,
				     TDS_SEAL_OVERHEAD);
	if (p[0] != SEAL_VERSION)
		return tds_error_set(TDS_EINVAL, "invalid_sealed_data",
				     "sealed data has version %u; this build reads version %d", p[0], SEAL_VERSION);
	tds_suite suite = (tds_suite)p[1];
	if (!tds_suite_valid(suite))
		return tds_error_set(TDS_EINVAL, "invalid_sealed_data", "sealed data names unknown suite %u",
				     p[1]);
	size_t ptlen = inlen - TDS_SEAL_OVERHEAD;
	uint8_t key[TDS_AEAD_KEY_MAX];
	tds_buf aad = TDS_BUF_INIT;
	if ((rc = make_aad(p, context, &aad)) || (rc = tds_buf_reserve(out, ptlen)))
		goto done;
	if ((rc = derive(suite, master, p + 2, context, key)))
		goto done;
	rc = tds_aead_open(suite, key, p + 2 + SALT_LEN, aad.data, aad.len, p + TDS_SEAL_HEADER_LEN,
			   inlen - TDS_SEAL_HEADER_LEN, (uint8_t *)out->data + out->len);
	if (!rc) {
		out->len += ptlen;
		out->data[out->len] = 0;
	} else if (rc == TDS_ECRYPTO && strcmp(tds_error_name(), "decrypt_failed") == 0) {
		tds_error_set(TDS_ECRYPTO, "decrypt_failed",
			      "sealed data does not open: wrong master key or context '%.60s', or the data was altered",
			      context);
	}
done:
	OPENSSL_cleanse(key, sizeof key);
	tds_buf_free(&aad);
	return rc;
}

/* ---- sealed key files ---- */

/* Wipes a buffer that held secret bytes, then frees it. */
static void buf_wipe(tds_buf *b)
{
	if (b->data)
		OPENSSL_cleanse(b->data, b->cap);
	tds_buf_free(b);
}

int tds_key_save_sealed(const tds_key *key, const uint8_t master[TDS_MASTER_KEY_LEN], const char *path)
{
	tds_buf pem = TDS_BUF_INIT, sealed = TDS_BUF_INIT, b64 = TDS_BUF_INIT, file = TDS_BUF_INIT;
	int rc;
	if ((rc = tds_key_private_pem(key, &pem)) ||
	    (rc = tds_seal(tds_key_suite(key), master, KEY_FILE_CONTEXT, pem.data, pem.len, &sealed)) ||
	    (rc = tds_b64_encode(sealed.data, sealed.len, &b64)) || (rc = tds_buf_puts(&file, ARMOR_BEGIN)))
		goto done;
	for (size_t off = 0; off < b64.len; off += 64) {
		size_t n = b64.len - off < 64 ? b64.len - off : 64;
		if ((rc = tds_buf_append(&file, b64.data + off, n)) || (rc = tds_buf_putc(&file, '\n')))
			goto done;
	}
	if ((rc = tds_buf_puts(&file, ARMOR_END)))
		goto done;
	rc = tds_file_write_atomic(path, file.data, file.len, 0600);
done:
	buf_wipe(&pem);
	tds_buf_free(&sealed);
	tds_buf_free(&b64);
	tds_buf_free(&file);
	return rc;
}

/* Reads the whole file through one descriptor, refusing modes open to group or others. */
static int read_key_file(const char *path, tds_buf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return tds_error_set(TDS_EIO, "io_error", "cannot open key file %s: %s", path, strerror(errno));
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) != 0) {
		rc = tds_error_set(TDS_EIO, "io_error", "cannot stat key file %s: %s", path, strerror(errno));
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = tds_error_set(TDS_EINVAL, "invalid_key_file", "key file %s is not a regular file", path);
		goto done;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		rc = tds_error_set(TDS_EPERM, "insecure_key_file",
				   "key file %s has mode %04o, which lets group or others access it: run chmod 600 %s",
				   path, (unsigned)(st.st_mode & 07777), path);
		goto done;
	}
	if (st.st_size > KEY_FILE_MAX) {
		rc = tds_error_set(TDS_EINVAL, "invalid_key_file", "key file %s is larger than %d bytes", path,
				   KEY_FILE_MAX);
		goto done;
	}
	if ((rc = tds_buf_reserve(out, (size_t)st.st_size + 1)))
		goto done;
	for (;;) {
		if (out->len >= KEY_FILE_MAX) {
			rc = tds_error_set(TDS_EINVAL, "invalid_key_file", "key file %s is larger than %d bytes",
					   path, KEY_FILE_MAX);
			goto done;
		}
		if ((rc = tds_buf_reserve(out, 4096)))
			goto done;
		ssize_t n = read(fd, out->data + out->len, out->cap - out->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = tds_error_set(TDS_EIO, "io_error", "cannot read key file %s: %s", path, strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
	}
	out->data[out->len] = 0;
done:
	close(fd);
	return rc;
}

/* Strips the armour and line breaks: text between the BEGIN and END lines, '\n'/'\r' removed. */
static int unarmor(const char *path, const tds_buf *file, tds_buf *b64)
{
	size_t blen = sizeof ARMOR_BEGIN - 1, elen = sizeof ARMOR_END - 2; /* END without its '\n' */
	if (file->len < blen || memcmp(file->data, ARMOR_BEGIN, blen) != 0)
		return tds_error_set(TDS_EINVAL, "invalid_key_file",
				     "%s is not a sealed key file (it does not start with %.30s)", path, ARMOR_BEGIN);
	const char *p = file->data + blen, *end = file->data + file->len;
	for (; p < end; p++) {
		if (*p == '\n' || *p == '\r')
			continue;
		if (*p == '-') {
			if ((size_t)(end - p) >= elen && memcmp(p, ARMOR_END, elen) == 0)
				return 0;
			break;
		}
		int rc = tds_buf_putc(b64, *p);
		if (rc)
			return rc;
	}
	return tds_error_set(TDS_EINVAL, "invalid_key_file", "%s has no %.28s line", path, ARMOR_END);
}

int tds_key_load_sealed(const char *path, const uint8_t master[TDS_MASTER_KEY_LEN], tds_key **out)
{
	*out = NULL;
	tds_buf file = TDS_BUF_INIT, b64 = TDS_BUF_INIT, sealed = TDS_BUF_INIT, pem = TDS_BUF_INIT;
	int rc;
	if ((rc = read_key_file(path, &file)) || (rc = unarmor(path, &file, &b64)))
		goto done;
	if ((rc = tds_b64_decode(b64.data, b64.len, &sealed))) {
		char why[256];
		snprintf(why, sizeof why, "%s", tds_error_message());
		rc = tds_error_set(TDS_EINVAL, "invalid_key_file", "key file %s: %s", path, why);
		goto done;
	}
	if ((rc = tds_unseal(master, KEY_FILE_CONTEXT, sealed.data, sealed.len, &pem))) {
		tds_error_wrap("key file %s: ", path);
		goto done;
	}
	if ((rc = tds_key_from_pem(pem.data, pem.len, out)))
		tds_error_wrap("key file %s: ", path);
done:
	tds_buf_free(&file);
	tds_buf_free(&b64);
	tds_buf_free(&sealed);
	buf_wipe(&pem);
	return rc;
}
