/*
 * time.c — clocks and RFC 3339 text. Inside TDS time is int64 milliseconds UTC; JSON carries
 * "YYYY-MM-DDTHH:MM:SS.mmmZ". The parser is strict (it reads outside input): exact field widths,
 * real calendar days, offsets within ±23:59, no leap seconds, nothing trailing.
 */
#include "base/base.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t tds_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tds_monotonic_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's civil algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static const int64_t MIN_MS = -62135596800000LL; /* 0001-01-01T00:00:00Z */
static const int64_t MAX_MS = 253402300799999LL; /* 9999-12-31T23:59:59.999Z */

int tds_time_format(int64_t ms, char out[TDS_TIME_MAX])
{
	if (ms < MIN_MS || ms > MAX_MS) {
		out[0] = 0;
		return tds_error_set(TDS_EINVAL, "invalid_time", "time %lld ms is outside years 0001-9999",
				     (long long)ms);
	}
	int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
	int64_t rem = ms - days * 86400000;
	int y, mo, d;
	civil_from_days(days, &y, &mo, &d);
	char tmp[96]; /* the range check keeps the text at 24 bytes; the compiler cannot see that */
	snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo, d, (int)(rem / 3600000),
		 (int)(rem / 60000 % 60), (int)(rem / 1000 % 60), (int)(rem % 1000));
	memcpy(out, tmp, 25);
	out[24] = 0;
	return 0;
}

static bool digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

static bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int tds_time_parse(const char *s, int64_t *out)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, se, ms = 0;
	if (!s || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) || s[13] != ':' ||
	    !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se))
		goto bad;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap(y)) || h > 23 || mi > 59 ||
	    se > 59)
		goto bad;
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		int n = 0;
		while (p[n] >= '0' && p[n] <= '9') {
			if (n < 3)
				ms = ms * 10 + (p[n] - '0');
			n++;
		}
		if (n == 0 || n > 9)
			goto bad;
		for (int k = n; k < 3; k++)
			ms *= 10;
		p += n;
	}
	int64_t off_min = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
			goto bad;
		off_min = (*p == '+' ? 1 : -1) * (oh * 60 + om);
		p += 6;
	} else {
		goto bad;
	}
	if (*p)
		goto bad;
	int64_t t = days_from_civil(y, mo, d) * 86400000 + (int64_t)h * 3600000 + (int64_t)mi * 60000 +
		    (int64_t)se * 1000 + ms - off_min * 60000;
	if (t < MIN_MS || t > MAX_MS)
		goto bad;
	*out = t;
	return 0;
bad:
	return tds_error_set(TDS_EINVAL, "invalid_time",
			     "time must be RFC 3339, like 2026-11-23T15:55:35Z or 2026-11-23T23:55:35.120+08:00");
}
