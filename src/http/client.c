/*
 * client.c — an HTTP client over libcurl for calls to other nodes, the CLI and tests: one easy
 * handle per tds_http_client (connections are kept alive between calls), bearer token, JSON in and
 * out, bounded responses (64 MiB), and the caller's request id forwarded as X-Request-Id.
 *
 * Not thread-safe per client: give each thread its own. With a signer set
 * (tds_http_client_set_signer) every request is signed per RFC 9421 (sign.c: Content-Digest,
 * Signature-Input, Signature) over the exact URL sent; a caller that passes its own Signature header
 * is left alone. Redirects are not followed, and only http and https are spoken.
 */
#include "http/http.h"

#include "crypto/crypto.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_RESPONSE (64u * 1024 * 1024)

struct tds_http_client {
	CURL *curl;
	char *base;        /* without a trailing '/' */
	long timeout_ms;
	char *auth_header; /* "Authorization: Bearer …" or NULL */
	const tds_key *sign_key; /* borrowed; NULL = requests are not signed */
	char *sign_keyid;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

tds_http_client *tds_http_client_new(const char *base_url, long timeout_ms)
{
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		tds_error_set(TDS_EIO, "http_client", "libcurl failed to initialise: %s", curl_easy_strerror(global_rc));
		return NULL;
	}
	if (!base_url || (strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0)) {
		tds_error_set(TDS_EINVAL, "invalid_url", "base URL must start with http:// or https://");
		return NULL;
	}
	tds_http_client *c = calloc(1, sizeof *c);
	if (!c || !(c->base = strdup(base_url)) || !(c->curl = curl_easy_init())) {
		if (c)
			free(c->base);
		free(c);
		tds_error_set(TDS_ENOMEM, NULL, "out of memory creating an HTTP client");
		return NULL;
	}
	size_t n = strlen(c->base);
	while (n > 0 && c->base[n - 1] == '/')
		c->base[--n] = 0;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
	return c;
}

static void clear_token(tds_http_client *c)
{
	if (c->auth_header) {
		explicit_bzero(c->auth_header, strlen(c->auth_header));
		free(c->auth_header);
		c->auth_header = NULL;
	}
}

void tds_http_client_free(tds_http_client *c)
{
	if (!c)
		return;
	clear_token(c);
	free(c->sign_keyid);
	curl_easy_cleanup(c->curl);
	free(c->base);
	free(c);
}

void tds_http_client_set_token(tds_http_client *c, const char *bearer)
{
	clear_token(c);
	if (!bearer || !*bearer)
		return;
	for (const char *p = bearer; *p; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) {
			tds_log(TDS_LOG_WARN, "http_client", "bearer token has characters outside printable ASCII; "
				"sending no Authorization header");
			return;
		}
	static const char PREFIX[] = "Authorization: Bearer ";
	size_t n = strlen(bearer);
	c->auth_header = malloc(sizeof PREFIX + n);
	if (!c->auth_header)
		return;
	memcpy(c->auth_header, PREFIX, sizeof PREFIX - 1);
	memcpy(c->auth_header + sizeof PREFIX - 1, bearer, n + 1);
}

int tds_http_client_set_signer(tds_http_client *c, const tds_key *key, const char *keyid)
{
	free(c->sign_keyid);
	c->sign_keyid = NULL;
	c->sign_key = NULL;
	if (!key)
		return 0;
	if (!tds_key_has_private(key))
		return tds_error_set(TDS_EINVAL, "no_private_key", "signing requests needs a private key");
	size_t n = keyid ? strlen(keyid) : 0;
	bool ok = n > 0 && n <= TDS_SIG_MAX_KEYID;
	for (size_t i = 0; ok && i < n; i++)
		ok = keyid[i] >= 0x21 && keyid[i] <= 0x7e && keyid[i] != '"' && keyid[i] != '\\';
	if (!ok)
		return tds_error_set(TDS_EINVAL, "invalid_signature_request",
				     "keyid must be 1-%d visible ASCII characters without quotes or backslashes",
				     TDS_SIG_MAX_KEYID);
	if (!(c->sign_keyid = strdup(keyid)))
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory setting a signer");
	c->sign_key = key;
	return 0;
}

/* Appends the signature headers for this request to the list (curl copies each string). */
static int sign_into(tds_http_client *c, const char *method, const char *url, const void *body, size_t len,
		     struct curl_slist **hl)
{
	tds_sig_headers sh;
	int rc = tds_sig_sign(c->sign_key, c->sign_keyid, method, url, body, len, tds_now_ms(), &sh);
	if (rc < 0)
		return rc;
	char line[sizeof sh.signature_input + 32];
	struct curl_slist *t;
	const char *names[3] = {"Content-Digest", "Signature-Input", "Signature"};
	const char *values[3] = {sh.content_digest, sh.signature_input, sh.signature};
	for (int i = 0; i < 3; i++) {
		if (!values[i][0])
			continue;
		snprintf(line, sizeof line, "%s: %s", names[i], values[i]);
		if (!(t = curl_slist_append(*hl, line)))
			return tds_error_set(TDS_ENOMEM, NULL, "out of memory building request headers");
		*hl = t;
	}
	return 0;
}

void tds_http_response_free(tds_http_response *resp)
{
	if (!resp)
		return;
	tds_buf_free(&resp->body);
	resp->status = 0;
	resp->content_type[0] = 0;
	resp->headers[0] = 0;
	resp->headers_len = 0;
}

typedef struct sink {
	tds_buf *buf;
	bool too_big, oom;
} sink;

static size_t on_data(char *data, size_t size, size_t nmemb, void *userdata)
{
	sink *k = userdata;
	size_t n = size * nmemb;
	if (n > MAX_RESPONSE - k->buf->len) {
		k->too_big = true;
		return 0; /* makes curl fail with CURLE_WRITE_ERROR */
	}
	if (tds_buf_append(k->buf, data, n) < 0) {
		k->oom = true;
		return 0;
	}
	return n;
}

/* Keeps the header lines of the last response only (a 100 Continue or redirect starts over). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	tds_http_response *r = userdata;
	size_t n = size * nmemb;
	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		r->headers_len = 0;
		return n;
	}
	if (n <= 2) /* the blank line closing the block */
		return n;
	if (n < sizeof r->headers - r->headers_len) {
		memcpy(r->headers + r->headers_len, data, n);
		r->headers_len += n;
		r->headers[r->headers_len] = 0;
	}
	return n;
}

bool tds_http_response_header(const tds_http_response *resp, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name);
	const char *p = resp->headers, *end = resp->headers + resp->headers_len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = eol ? eol : end;
		if ((size_t)(line_end - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			const char *v = p + nlen + 1;
			while (v < line_end && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = line_end;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if (cap) {
				size_t n = (size_t)(ve - v) < cap - 1 ? (size_t)(ve - v) : cap - 1;
				memcpy(out, v, n);
				out[n] = 0;
			}
			return true;
		}
		p = line_end + 1;
	}
	return false;
}

static bool has_header(const char *const *headers, const char *name)
{
	size_t n = strlen(name);
	for (; headers && *headers; headers++)
		if (strncasecmp(*headers, name, n) == 0 && (*headers)[n] == ':')
			return true;
	return false;
}

int tds_http_client_do(tds_http_client *c, const char *method, const char *path,
		       const char *const *headers, const void *body, size_t body_len,
		       tds_http_response *resp)
{
	tds_buf_init(&resp->body);
	resp->status = 0;
	resp->content_type[0] = 0;
	resp->headers[0] = 0;
	resp->headers_len = 0;
	if (!c || !method || !*method || !path)
		return tds_error_set(TDS_EINVAL, "http_client", "client, method and path are required");
	tds_buf url = TDS_BUF_INIT;
	if (tds_buf_printf(&url, "%s%s%s", c->base, path[0] == '/' ? "" : "/", path) < 0)
		return tds_error_code();

	CURL *h = c->curl;
	curl_easy_reset(h);
	struct curl_slist *hl = NULL, *t;
	bool ok = true;
	for (const char *const *p = headers; ok && p && *p; p++)
		ok = (t = curl_slist_append(hl, *p)) != NULL && (hl = t);
	if (ok && c->auth_header && !has_header(headers, "Authorization"))
		ok = (t = curl_slist_append(hl, c->auth_header)) != NULL && (hl = t);
	const char *rid = tds_log_request_id();
	char ridh[96];
	if (ok && rid && !has_header(headers, "X-Request-Id")) {
		snprintf(ridh, sizeof ridh, "X-Request-Id: %s", rid);
		ok = (t = curl_slist_append(hl, ridh)) != NULL && (hl = t);
	}
	if (ok) /* no "Expect: 100-continue" round trip */
		ok = (t = curl_slist_append(hl, "Expect:")) != NULL && (hl = t);
	if (!ok) {
		curl_slist_free_all(hl);
		tds_buf_free(&url);
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory building request headers");
	}
	if (c->sign_key && !has_header(headers, "Signature")) {
		int rc = sign_into(c, method, url.data, body, body ? body_len : 0, &hl);
		if (rc < 0) {
			curl_slist_free_all(hl);
			tds_buf_free(&url);
			return rc;
		}
	}

	sink k = {&resp->body, false, false};
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_URL, url.data);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms < 10000 ? c->timeout_ms : 10000L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &k);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L); /* send the path as given: no dot-segment squashing */
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "tds/" TDS_VERSION);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MAX_RESPONSE);
	if (strcmp(method, "GET") == 0 && !body) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else {
		if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
		    strcmp(method, "PATCH") == 0) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
		}
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}

	CURLcode cc = curl_easy_perform(h);
	curl_slist_free_all(hl);
	tds_buf_free(&url);
	if (cc != CURLE_OK) {
		tds_buf_free(&resp->body);
		if (k.too_big || cc == CURLE_FILESIZE_EXCEEDED)
			return tds_error_set(TDS_ETOOBIG, "response_too_large", "response is larger than %u bytes",
					     MAX_RESPONSE);
		if (k.oom)
			return tds_error_set(TDS_ENOMEM, NULL, "out of memory reading a response");
		if (cc == CURLE_OPERATION_TIMEDOUT)
			return tds_error_set(TDS_EIO, "timeout", "%s %s%s: no response within %ld ms", method, c->base,
					     path, c->timeout_ms);
		return tds_error_set(TDS_EIO, "connection_failed", "%s %s%s: %s", method, c->base, path,
				     errbuf[0] ? errbuf : curl_easy_strerror(cc));
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	char *ct = NULL;
	if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
		snprintf(resp->content_type, sizeof resp->content_type, "%s", ct);
	if (!resp->body.data) /* empty bodies are "" too, so callers never see NULL */
		tds_buf_append(&resp->body, "", 0);
	return 0;
}

static bool is_json_type(const char *ct)
{
	static const char MT[] = "application/json";
	while (*ct == ' ')
		ct++;
	return strncasecmp(ct, MT, sizeof MT - 1) == 0 &&
	       (ct[sizeof MT - 1] == 0 || ct[sizeof MT - 1] == ';' || ct[sizeof MT - 1] == ' ');
}

int tds_http_client_json(tds_http_client *c, const char *method, const char *path, const json_t *body,
			 long *status, json_t **out)
{
	*out = NULL;
	*status = 0;
	char *data = NULL;
	if (body && !(data = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER)))
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory encoding a JSON request");
	static const char *const WITH_BODY[] = {"Content-Type: application/json", "Accept: application/json", NULL};
	static const char *const NO_BODY[] = {"Accept: application/json", NULL};
	tds_http_response r;
	int rc = tds_http_client_do(c, method, path, data ? WITH_BODY : NO_BODY, data, data ? strlen(data) : 0, &r);
	free(data);
	if (rc < 0)
		return rc;
	*status = r.status;
	if (is_json_type(r.content_type) && r.body.len) {
		json_t *v;
		rc = tds_json_parse(r.body.data, r.body.len, &v);
		if (rc < 0) {
			tds_http_response_free(&r);
			return tds_error_set(TDS_EIO, "invalid_response", "%s %s answered %ld with invalid JSON",
					     method, path, *status);
		}
		*out = v;
	}
	tds_http_response_free(&r);
	return 0;
}
