/*
 * arena.c — per-request memory (nginx's pool idea): allocations are carved from chunks and freed all
 * at once with the arena. Large allocations get a chunk of their own. Not thread-safe by design.
 */
#include "base/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 16
#define DEFAULT_CHUNK (16 * 1024)

typedef struct chunk {
	struct chunk *next;
	size_t size, used;
	_Alignas(ALIGN) unsigned char data[];
} chunk;

struct tds_arena {
	chunk *head;
	size_t chunk_size;
	size_t total;
};

static void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p) {
		fprintf(stderr, "{\"level\":\"error\",\"event\":\"out_of_memory\",\"bytes\":%zu}\n", n);
		abort();
	}
	return p;
}

tds_arena *tds_arena_new(size_t chunk_size)
{
	tds_arena *a = xmalloc(sizeof *a);
	a->head = NULL;
	a->chunk_size = chunk_size ? chunk_size : DEFAULT_CHUNK;
	a->total = 0;
	return a;
}

void tds_arena_free(tds_arena *a)
{
	if (!a)
		return;
	for (chunk *c = a->head, *n; c; c = n) {
		n = c->next;
		free(c);
	}
	free(a);
}

void *tds_arena_alloc(tds_arena *a, size_t size)
{
	if (size > SIZE_MAX - ALIGN - sizeof(chunk))
		abort();
	size = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	chunk *c = a->head;
	if (!c || c->size - c->used < size) {
		size_t csize = size > a->chunk_size / 4 ? size : a->chunk_size;
		chunk *n = xmalloc(sizeof(chunk) + csize);
		n->size = csize;
		n->used = 0;
		if (c && csize == size && c->size - c->used > 0) {
			/* a big allocation: keep the current chunk at the head for small ones */
			n->next = c->next;
			c->next = n;
		} else {
			n->next = c;
			a->head = n;
		}
		c = n;
	}
	void *p = c->data + c->used;
	c->used += size;
	a->total += size;
	memset(p, 0, size);
	return p;
}

char *tds_arena_strndup(tds_arena *a, const char *s, size_t n)
{
	char *p = tds_arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

char *tds_arena_strdup(tds_arena *a, const char *s) { return s ? tds_arena_strndup(a, s, strlen(s)) : NULL; }

char *tds_arena_printf(tds_arena *a, const char *fmt, ...)
{
	va_list ap, cp;
	va_start(ap, fmt);
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		n = 0;
	char *p = tds_arena_alloc(a, (size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

size_t tds_arena_used(const tds_arena *a) { return a->total; }
