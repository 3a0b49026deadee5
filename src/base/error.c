/*
 * error.c — the thread-local last error of DESIGN §5: a negative code, a stable snake_case name and
 * an English message (and optional JSON details). Not for logging: the caller decides what to do.
 */
#include "base/base.h"

#include <stdio.h>
#include <string.h>

#define MSG_MAX 512

static _Thread_local int err_code;
static _Thread_local char err_name[64];
static _Thread_local char err_msg[MSG_MAX];
static _Thread_local json_t *err_details;

const char *tds_error_default_name(int code)
{
	switch (code) {
	case TDS_OK: return "";
	case TDS_EINVAL: return "invalid_request";
	case TDS_EAUTH: return "unauthenticated";
	case TDS_EPERM: return "forbidden";
	case TDS_ENOTFOUND: return "not_found";
	case TDS_ECONFLICT: return "conflict";
	case TDS_ETOOBIG: return "too_large";
	case TDS_EUNPROC: return "unprocessable";
	case TDS_ELIMIT: return "rate_limited";
	case TDS_EIO: return "io_error";
	case TDS_ENOMEM: return "out_of_memory";
	case TDS_ECRYPTO: return "crypto_error";
	default: return "internal_error";
	}
}

int tds_error_setv(int code, const char *name, const char *fmt, va_list ap)
{
	err_code = code;
	snprintf(err_name, sizeof err_name, "%s", name ? name : tds_error_default_name(code));
	vsnprintf(err_msg, sizeof err_msg, fmt ? fmt : "", ap);
	if (err_details) {
		json_decref(err_details);
		err_details = NULL;
	}
	return code;
}

int tds_error_set(int code, const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tds_error_setv(code, name, fmt, ap);
	va_end(ap);
	return code;
}

int tds_error_wrap(const char *fmt, ...)
{
	char prefix[MSG_MAX], old[MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, err_msg, sizeof old);
	size_t plen = strnlen(prefix, sizeof prefix - 1);
	memcpy(err_msg, prefix, plen);
	size_t olen = strnlen(old, sizeof err_msg - 1 - plen);
	memcpy(err_msg + plen, old, olen);
	err_msg[plen + olen] = 0;
	return err_code;
}

int tds_error_code(void) { return err_code; }
const char *tds_error_name(void) { return err_name; }
const char *tds_error_message(void) { return err_msg; }

void tds_error_clear(void)
{
	err_code = 0;
	err_name[0] = 0;
	err_msg[0] = 0;
	if (err_details) {
		json_decref(err_details);
		err_details = NULL;
	}
}

void tds_error_set_details(json_t *details)
{
	if (err_details)
		json_decref(err_details);
	err_details = details;
}

json_t *tds_error_details(void) { return err_details; }

int tds_error_http_status(int code)
{
	switch (code) {
	case TDS_OK: return 200;
	case TDS_EINVAL: return 400;
	case TDS_EAUTH: return 401;
	case TDS_EPERM: return 403;
	case TDS_ENOTFOUND: return 404;
	case TDS_ECONFLICT: return 409;
	case TDS_ETOOBIG: return 413;
	case TDS_EUNPROC: return 422;
	case TDS_ELIMIT: return 429;
	case TDS_ECRYPTO: return 400;
	default: return 500;
	}
}
