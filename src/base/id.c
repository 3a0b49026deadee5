/*
 * id.c — UTF-8 validation and "<prefix>_<ULID>" identifiers.
 *
 * A ULID is 48 bits of millisecond time then 80 random bits, written as 26 Crockford base32
 * characters, so ids sort by creation time. Within one process ids are strictly increasing: when
 * the clock has not moved (or went back), the previous id's random part is incremented. That
 * monotonic state is the one piece of process-wide state in base, guarded by a mutex.
 */
#include "base/base.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>

static const char CROCKFORD[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

bool tds_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		uint32_t cp;
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return false;
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

static pthread_mutex_t id_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t last_ms = -1;
static unsigned char last_rand[10];

static bool prefix_ok(const char *p, size_t *len)
{
	size_t n = 0;
	while (p[n] >= 'a' && p[n] <= 'z')
		n++;
	*len = n;
	return n >= 1 && n <= 8;
}

int tds_id_new(const char *prefix, char out[TDS_ID_MAX])
{
	size_t plen;
	if (!prefix || !prefix_ok(prefix, &plen) || prefix[plen])
		return tds_error_set(TDS_EINTERNAL, NULL, "id prefix must be 1-8 lower-case letters");
	unsigned char fresh[10];
	if (getrandom(fresh, sizeof fresh, 0) != (ssize_t)sizeof fresh)
		return tds_error_set(TDS_EIO, NULL, "getrandom failed while making an id");

	int64_t ms = tds_now_ms();
	unsigned char r[10];
	pthread_mutex_lock(&id_lock);
	if (ms <= last_ms) {
		ms = last_ms;
		int k = 9;
		while (k >= 0 && ++last_rand[k] == 0)
			k--;
		if (k < 0) /* 2^80 ids in one millisecond: move to the next one */
			last_ms = ++ms;
	} else {
		last_ms = ms;
		memcpy(last_rand, fresh, sizeof last_rand);
	}
	memcpy(r, last_rand, sizeof r);
	pthread_mutex_unlock(&id_lock);

	/* 128 bits: 6 bytes of time, 10 of randomness, as 26 base32 digits (top 2 bits are zero). */
	unsigned char bytes[16];
	for (int i = 0; i < 6; i++)
		bytes[i] = (unsigned char)((uint64_t)ms >> (40 - 8 * i));
	memcpy(bytes + 6, r, 10);
	memcpy(out, prefix, plen);
	out[plen] = '_';
	char *o = out + plen + 1;
	for (int i = 0; i < 26; i++) {
		int bit = 130 - 5 * (i + 1); /* lowest bit index of this digit in a 130-bit number */
		unsigned v = 0;
		for (int b = 4; b >= 0; b--) {
			int pos = bit + b; /* bit position from the least significant end */
			unsigned val = 0;
			if (pos < 128)
				val = bytes[15 - pos / 8] >> (pos % 8) & 1;
			v = v << 1 | val;
		}
		o[i] = CROCKFORD[v];
	}
	o[26] = 0;
	return 0;
}

static int crockford_val(char c)
{
	const char *p = c ? strchr(CROCKFORD, c) : NULL;
	return p ? (int)(p - CROCKFORD) : -1;
}

bool tds_id_valid(const char *id, const char *prefix)
{
	size_t plen;
	if (!id || !prefix_ok(id, &plen) || id[plen] != '_')
		return false;
	if (prefix && (strlen(prefix) != plen || memcmp(id, prefix, plen) != 0))
		return false;
	const char *u = id + plen + 1;
	for (int i = 0; i < 26; i++)
		if (crockford_val(u[i]) < 0)
			return false;
	return u[26] == 0 && crockford_val(u[0]) <= 7;
}

int64_t tds_id_time_ms(const char *id)
{
	if (!tds_id_valid(id, NULL))
		return -1;
	const char *u = strchr(id, '_') + 1;
	int64_t ms = 0;
	for (int i = 0; i < 10; i++) /* first 10 digits = 50 bits, the top 2 are zero */
		ms = ms << 5 | crockford_val(u[i]);
	return ms;
}
