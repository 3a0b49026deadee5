/*
 * log.c — JSON-lines logging to stderr. One line per event, written with a single write(2) so lines
 * from different threads never interleave. The level is process-wide (set once at start-up); the
 * request id is per thread. Not for audit evidence: that is the ledger's job.
 */
#include "base/base.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_int log_level = TDS_LOG_INFO;
static _Thread_local char request_id[72];

static const char *LEVELS[] = {"debug", "info", "warn", "error", "off"};

void tds_log_set_level(tds_log_level level) { atomic_store(&log_level, (int)level); }

int tds_log_parse_level(const char *s, tds_log_level *out)
{
	for (int i = 0; i < (int)TDS_ARRAY_LEN(LEVELS); i++)
		if (s && strcmp(s, LEVELS[i]) == 0) {
			*out = (tds_log_level)i;
			return 0;
		}
	return tds_error_set(TDS_EINVAL, "invalid_log_level", "log level must be debug, info, warn, error or off");
}

void tds_log_set_request_id(const char *id)
{
	snprintf(request_id, sizeof request_id, "%s", id ? id : "");
}

const char *tds_log_request_id(void) { return request_id[0] ? request_id : NULL; }

void tds_log_fields(tds_log_level level, const char *event, json_t *fields)
{
	if ((int)level < atomic_load(&log_level) || level >= TDS_LOG_OFF) {
		json_decref(fields);
		return;
	}
	json_t *o = json_object();
	char ts[TDS_TIME_MAX];
	tds_time_format(tds_now_ms(), ts);
	json_object_set_new(o, "ts", json_string(ts));
	json_object_set_new(o, "level", json_string(LEVELS[level]));
	json_object_set_new(o, "event", json_string(event ? event : "log"));
	if (request_id[0])
		json_object_set_new(o, "request_id", json_string(request_id));
	if (json_is_object(fields))
		json_object_update_missing(o, fields);
	json_decref(fields);
	char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!line)
		return;
	size_t n = strlen(line);
	line[n] = '\n'; /* replaces the NUL: write exactly n + 1 bytes */
	ssize_t w = write(STDERR_FILENO, line, n + 1);
	(void)w;
	free(line);
}

void tds_log(tds_log_level level, const char *event, const char *fmt, ...)
{
	if ((int)level < atomic_load(&log_level))
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_t *f = json_object();
	/* json_string refuses invalid UTF-8; fall back so a bad message never silences a log line */
	json_t *m = json_string(msg);
	json_object_set_new(f, "msg", m ? m : json_string("(message not valid UTF-8)"));
	tds_log_fields(level, event, f);
}
