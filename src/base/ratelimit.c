/*
 * ratelimit.c — fixed-window rate limits per key in a bounded in-memory table (see base.h). A slot
 * holds the window's start and count for whichever keys hash to it; a collision merges counts,
 * which errs on the strict side. One mutex: takes are rare (sign-ups), not per request.
 */
#include "base/base.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct slot {
	int64_t window_start;
	uint32_t count;
} slot;

struct tds_ratelimit {
	pthread_mutex_t lock;
	size_t nslots;
	int64_t window_ms;
	uint32_t max;
	uint64_t seed;
	slot *slots;
};

tds_ratelimit *tds_ratelimit_new(size_t slots, int64_t window_ms, uint32_t max)
{
	tds_ratelimit *rl = calloc(1, sizeof *rl);
	if (!rl)
		return NULL;
	rl->nslots = slots ? slots : 4096;
	rl->slots = calloc(rl->nslots, sizeof *rl->slots);
	if (!rl->slots) {
		free(rl);
		return NULL;
	}
	rl->window_ms = window_ms > 0 ? window_ms : 1;
	rl->max = max;
	rl->seed = (uint64_t)tds_monotonic_us() * 0x9e3779b97f4a7c15ULL; /* per process: keys cannot aim at a slot */
	pthread_mutex_init(&rl->lock, NULL);
	return rl;
}

void tds_ratelimit_free(tds_ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl->slots);
	free(rl);
}

static uint64_t hash(uint64_t seed, const char *s)
{
	uint64_t h = 1469598103934665603ULL ^ seed; /* FNV-1a, seeded */
	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h ^ (h >> 29);
}

bool tds_ratelimit_take(tds_ratelimit *rl, const char *key, int64_t now_ms, int64_t *retry_after_ms)
{
	pthread_mutex_lock(&rl->lock);
	slot *sl = &rl->slots[hash(rl->seed, key) % rl->nslots];
	if (now_ms - sl->window_start >= rl->window_ms || now_ms < sl->window_start) {
		sl->window_start = now_ms;
		sl->count = 0;
	}
	bool ok = sl->count < rl->max;
	if (ok)
		sl->count++;
	else if (retry_after_ms)
		*retry_after_ms = sl->window_start + rl->window_ms - now_ms;
	pthread_mutex_unlock(&rl->lock);
	return ok;
}
