/*
 * fuzz_proof.c — libFuzzer target for the two RFC 9162 proof verifiers, with arbitrary proof bytes,
 * indexes and sizes (including 0, 2^63 and 2^64-1), and a differential check: honest proofs built
 * over a small in-memory tree always verify, and a proof changed by the input never verifies for
 * another root. Nothing may crash or read past the path it is given.
 *
 * Input layout (short inputs are zero-padded):
 *   byte 0       bit 0: suite (gm/intl); bits 1-2: mode (0 raw inclusion, 1 raw consistency,
 *                2 honest inclusion, 3 honest consistency)
 *   bytes 1-8    a (index or first size), big-endian; byte 17 selects special values for a and b
 *   bytes 9-16   b (tree size or second size)
 *   bytes 18-49  a leaf hash or first root; bytes 50-81 a root
 *   bytes 82-    the proof hashes (as many whole 32-byte hashes as there are), or for honest
 *                modes bytes XORed into the proof
 */
#include "ledger/internal.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define H TDS_HASH_LEN
#define HEADER 82
#define MAXN 300

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint64_t special(uint64_t v, uint8_t sel)
{
	static const uint64_t vals[] = {0, 1, 2, 3, 7, UINT64_C(1) << 32, UINT64_C(1) << 62, UINT64_C(1) << 63,
					(UINT64_C(1) << 63) - 1, (UINT64_C(1) << 63) + 1, UINT64_MAX - 1, UINT64_MAX};
	return sel < TDS_ARRAY_LEN(vals) ? vals[sel] : v;
}

/* A small in-memory tree: leaf i's hash is H(i), nodes by the RFC's recursion. */
typedef struct mem_tree {
	tds_suite suite;
	uint8_t leaf[MAXN][H];
} mem_tree;

static void mth(const mem_tree *t, uint64_t a, uint64_t b, uint8_t out[H])
{
	if (b - a == 1) {
		memcpy(out, t->leaf[a], H);
		return;
	}
	uint64_t k = 1;
	while (k * 2 < b - a)
		k *= 2;
	uint8_t l[H], r[H];
	mth(t, a, a + k, l);
	mth(t, a + k, b, r);
	tds_ledger_node_hash(t->suite, l, r, out);
}

static int node(void *ctx, unsigned level, uint64_t index, uint8_t out[H])
{
	const mem_tree *t = ctx;
	uint64_t a = index << level, b = (index + 1) << level;
	if (level > 16 || b > MAXN)
		abort(); /* the builder asked for a node outside the tree */
	mth(t, a, b, out);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t hdr[HEADER] = {0};
	memcpy(hdr, data, size < HEADER ? size : HEADER);
	tds_suite suite = hdr[0] & 1 ? TDS_SUITE_GM : TDS_SUITE_INTL;
	int mode = hdr[0] >> 1 & 3;
	uint64_t a = special(be64(hdr + 1), hdr[17] & 15), b = special(be64(hdr + 9), hdr[17] >> 4);
	const uint8_t *h1 = hdr + 18, *h2 = hdr + 50;
	const uint8_t *rest = size > HEADER ? data + HEADER : NULL;
	size_t rlen = size > HEADER ? size - HEADER : 0;

	if (mode < 2) {
		/* raw: exactly the whole hashes present, copied so that reading past them is caught */
		size_t n = rlen / H;
		uint8_t *path = n ? malloc(n * H) : NULL;
		if (n)
			memcpy(path, rest, n * H);
		int rc = mode == 0 ? tds_ledger_verify_inclusion(suite, a, b, h1, path, n, h2)
				   : tds_ledger_verify_consistency(suite, a, b, h1, h2, path, n);
		if (rc != 0 && rc != TDS_EINVAL && rc != TDS_ECRYPTO)
			abort();
		free(path);
		tds_error_clear();
		return 0;
	}

	/* honest proofs over a tree of n <= MAXN leaves, then the input's changes */
	static mem_tree t;
	uint64_t n = 1 + b % MAXN, m = a % (n + 1);
	t.suite = suite;
	for (uint64_t i = 0; i < n; i++) {
		uint8_t idx[8];
		for (int k = 0; k < 8; k++)
			idx[k] = (uint8_t)(i >> (56 - 8 * k));
		tds_hash(suite, idx, sizeof idx, t.leaf[i]);
	}
	uint8_t root[H], r1[H];
	tds_ledger_proof p;
	mth(&t, 0, n, root);
	int rc;
	if (mode == 2) {
		m %= n;
		if (tl_inclusion(suite, m, n, node, &t, &p) || tds_ledger_verify_inclusion(suite, m, n, t.leaf[m], p.hash[0], p.len, root))
			abort();
	} else {
		if (m == 0)
			tds_ledger_empty_root(suite, r1);
		else
			mth(&t, 0, m, r1);
		if (tl_consistency(suite, m, n, node, &t, &p) ||
		    tds_ledger_verify_consistency(suite, m, n, r1, root, p.hash[0], p.len))
			abort();
	}
	bool changed = false;
	for (size_t i = 0; i < rlen && i < p.len * H; i++) {
		p.hash[i / H][i % H] ^= rest[i];
		changed |= rest[i] != 0;
	}
	rc = mode == 2 ? tds_ledger_verify_inclusion(suite, m, n, t.leaf[m], p.hash[0], p.len, root)
		       : tds_ledger_verify_consistency(suite, m, n, r1, root, p.hash[0], p.len);
	if (changed && rc == 0)
		abort(); /* a changed proof verified: a second preimage, or a verifier bug */
	if (!changed && rc != 0)
		abort();
	tds_error_clear();
	return 0;
}
