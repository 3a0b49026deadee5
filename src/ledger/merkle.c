/*
 * merkle.c — RFC 9162 §2 hashing, inclusion and consistency proofs built from any source of
 * complete-subtree hashes, and the two verifiers (§2.1.3.2, §2.1.4.2). Pure functions: no storage,
 * no allocation. Where nodes live is log.c's business; what a leaf holds is ledger.h's.
 *
 * Building proofs without recursion. Let e = n-1 (the last leaf) and call (l, i) the complete
 * subtree of leaves [i·2^l, (i+1)·2^l). RFC 9162's tree for n leaves is the perfect tree over
 * 2^ceil(log2 n) leaves in which each node whose right half is empty is replaced by its left half.
 * Walk up from leaf m — or, for a consistency proof, from the complete node (B, m') at base level B,
 * with e' = e >> B — and let d = bitlen(m' xor e'), the level where that path meets the last leaf's:
 *   - below level d-1 every sibling lies left of the last leaf's path, so it is complete:
 *     (B+l, (m' >> l) xor 1);
 *   - at level d-1 the sibling is the subtree holding the last leaf, leaves [a, n): one complete
 *     node when n is a multiple of its width, else the fold of the complete subtrees named by the low
 *     bits of n (the "frontier" of n below that level);
 *   - from level d up the path is the last leaf's, which has a (complete, left) sibling
 *     (B+l, (e' >> l) - 1) exactly where bit l of e' is set.
 * A consistency proof PROOF(m, D[n]) is the node (B, m') = (tz(m), (m-1) >> tz(m)) — left out when
 * m is a power of two, as the RFC does — followed by that walk. Each proof element is one node read
 * or a fold of at most log2(n) of them. The RFC 9162 §2.1.5 examples come out as the RFC lists them,
 * and the unit tests compare with the RFC's recursive definitions on random trees.
 */
#include "ledger/internal.h"

#include <stdio.h>
#include <string.h>

static unsigned bitlen(uint64_t x) { return x ? 64u - (unsigned)__builtin_clzll(x) : 0u; }

int tds_ledger_leaf_hash(tds_suite suite, const void *d, size_t len, uint8_t out[TDS_HASH_LEN])
{
	static const uint8_t prefix = 0x00;
	return tds_hash2(suite, &prefix, 1, d, len, out);
}

int tds_ledger_node_hash(tds_suite suite, const uint8_t left[TDS_HASH_LEN],
			 const uint8_t right[TDS_HASH_LEN], uint8_t out[TDS_HASH_LEN])
{
	/* copy first: out may be left or right */
	uint8_t buf[1 + 2 * TDS_HASH_LEN];
	buf[0] = 0x01;
	memcpy(buf + 1, left, TDS_HASH_LEN);
	memcpy(buf + 1 + TDS_HASH_LEN, right, TDS_HASH_LEN);
	return tds_hash(suite, buf, sizeof buf, out);
}

int tds_ledger_empty_root(tds_suite suite, uint8_t out[TDS_HASH_LEN])
{
	return tds_hash(suite, NULL, 0, out);
}

/* ---- building ---- */

static int push(tds_ledger_proof *p, const uint8_t h[TDS_HASH_LEN])
{
	if (p->len >= TDS_LEDGER_PROOF_MAX)
		return tds_error_set(TDS_EINTERNAL, "proof_too_long", "proof exceeds %d hashes (a bug)",
				     TDS_LEDGER_PROOF_MAX);
	memcpy(p->hash[p->len++], h, TDS_HASH_LEN);
	return 0;
}

/* MTH of the last (n mod 2^below) leaves of a tree of n leaves: the fold, smallest first, of the
 * complete nodes (l, (n>>l)-1) for the set bits l < below of n. n mod 2^below must not be 0. */
static int fold_low(tds_suite suite, uint64_t n, unsigned below, tl_node_fn fn, void *ctx,
		    uint8_t out[TDS_HASH_LEN])
{
	uint8_t node[TDS_HASH_LEN];
	bool have = false;
	int rc;
	for (unsigned l = 0; l < below && l < 64; l++) {
		if (!(n >> l & 1))
			continue;
		if ((rc = fn(ctx, l, (n >> l) - 1, have ? node : out)))
			return rc;
		if (have && (rc = tds_ledger_node_hash(suite, node, out, out)))
			return rc;
		have = true;
	}
	if (!have)
		return tds_error_set(TDS_EINTERNAL, "internal_error", "empty fold (a bug)");
	return 0;
}

int tl_root(tds_suite suite, uint64_t n, tl_node_fn fn, void *ctx, uint8_t out[TDS_HASH_LEN])
{
	if (n == 0)
		return tds_ledger_empty_root(suite, out);
	return fold_low(suite, n, 64, fn, ctx, out);
}

/* The walk from complete node (base, mp) up to the root of the tree of n leaves (see the top). */
static int walk(tds_suite suite, unsigned base, uint64_t mp, uint64_t n, tl_node_fn fn, void *ctx,
		tds_ledger_proof *p)
{
	uint8_t h[TDS_HASH_LEN];
	uint64_t ep = (n - 1) >> base;
	unsigned d = bitlen(mp ^ ep);
	int rc;
	for (unsigned l = 0; l + 1 < d; l++)
		if ((rc = fn(ctx, base + l, (mp >> l) ^ 1, h)) || (rc = push(p, h)))
			return rc;
	if (d >= 1) {
		unsigned level = base + d - 1; /* < 64: mp, ep < 2^(64-base) */
		if ((n & ((UINT64_C(1) << level) - 1)) == 0)
			rc = fn(ctx, level, ep >> (d - 1), h);
		else
			rc = fold_low(suite, n, level, fn, ctx, h);
		if (rc || (rc = push(p, h)))
			return rc;
	}
	for (unsigned l = d; base + l < 64 && (ep >> l) != 0; l++)
		if ((ep >> l & 1) && ((rc = fn(ctx, base + l, (ep >> l) - 1, h)) || (rc = push(p, h))))
			return rc;
	return 0;
}

int tl_inclusion(tds_suite suite, uint64_t m, uint64_t n, tl_node_fn fn, void *ctx, tds_ledger_proof *p)
{
	p->len = 0;
	if (m >= n)
		return tds_error_set(TDS_EINVAL, "invalid_index", "index %llu is not below tree size %llu",
				     (unsigned long long)m, (unsigned long long)n);
	return walk(suite, 0, m, n, fn, ctx, p);
}

int tl_consistency(tds_suite suite, uint64_t m, uint64_t n, tl_node_fn fn, void *ctx, tds_ledger_proof *p)
{
	p->len = 0;
	if (m > n)
		return tds_error_set(TDS_EINVAL, "invalid_size",
				     "consistency from size %llu to the smaller size %llu is impossible; give the older size first",
				     (unsigned long long)m, (unsigned long long)n);
	if (m == 0 || m == n)
		return 0;
	unsigned base = (unsigned)__builtin_ctzll(m);
	uint64_t mp = (m - 1) >> base;
	int rc;
	if (mp != 0) { /* m is not a power of two: the verifier does not know this node */
		uint8_t h[TDS_HASH_LEN];
		if ((rc = fn(ctx, base, mp, h)) || (rc = push(p, h)))
			return rc;
	}
	return walk(suite, base, mp, n, fn, ctx, p);
}

/* ---- verifying (RFC 9162 §2.1.3.2 and §2.1.4.2, step by step) ---- */

static int bad_proof(const char *what)
{
	return tds_error_set(TDS_ECRYPTO, "bad_proof", "%s proof does not lead to the expected root hash: "
			     "the log cannot prove this; fetch a fresh proof or treat the log as misbehaving", what);
}

static int invalid_proof(const char *fmt, unsigned long long a, unsigned long long b)
{
	char msg[256];
	snprintf(msg, sizeof msg, fmt, a, b);
	return tds_error_set(TDS_EINVAL, "invalid_proof", "%s", msg);
}

int tds_ledger_verify_inclusion(tds_suite suite, uint64_t index, uint64_t size,
				const uint8_t leaf_hash[TDS_HASH_LEN], const uint8_t *path, size_t path_len,
				const uint8_t root[TDS_HASH_LEN])
{
	if (!tds_suite_valid(suite))
		return tds_error_set(TDS_EINVAL, "unknown_suite", "invalid suite %d", (int)suite);
	if (index >= size)
		return invalid_proof("leaf index %llu is not below tree size %llu", index, size);
	if (path_len > 64)
		return invalid_proof("inclusion proof of %llu hashes is longer than any tree needs (%llu)",
				     path_len, 64);
	uint64_t fn = index, sn = size - 1;
	uint8_t r[TDS_HASH_LEN];
	int rc;
	memcpy(r, leaf_hash, TDS_HASH_LEN);
	for (size_t i = 0; i < path_len; i++) {
		const uint8_t *p = path + i * TDS_HASH_LEN;
		if (sn == 0)
			return invalid_proof("inclusion proof has %llu hashes, more than tree size %llu needs",
					     path_len, size);
		if ((fn & 1) || fn == sn) {
			rc = tds_ledger_node_hash(suite, p, r, r);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			rc = tds_ledger_node_hash(suite, r, p, r);
		}
		if (rc)
			return rc;
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return invalid_proof("inclusion proof has %llu hashes, fewer than tree size %llu needs", path_len, size);
	if (!tds_ct_equal(r, root, TDS_HASH_LEN))
		return bad_proof("inclusion");
	return 0;
}

int tds_ledger_verify_consistency(tds_suite suite, uint64_t size1, uint64_t size2,
				  const uint8_t root1[TDS_HASH_LEN], const uint8_t root2[TDS_HASH_LEN],
				  const uint8_t *path, size_t path_len)
{
	if (!tds_suite_valid(suite))
		return tds_error_set(TDS_EINVAL, "unknown_suite", "invalid suite %d", (int)suite);
	if (size1 > size2)
		return invalid_proof("the first tree size %llu is larger than the second %llu", size1, size2);
	if (path_len > TDS_LEDGER_PROOF_MAX)
		return invalid_proof("consistency proof of %llu hashes is longer than any tree needs (%llu)",
				     path_len, TDS_LEDGER_PROOF_MAX);
	if (size1 == size2 || size1 == 0) {
		uint8_t empty[TDS_HASH_LEN];
		int rc;
		if (path_len != 0)
			return invalid_proof("consistency proof from size %llu to %llu must be empty", size1, size2);
		if (size1 == 0) {
			if ((rc = tds_ledger_empty_root(suite, empty)))
				return rc;
			root2 = empty; /* any tree extends the empty one; root1 must be the empty root */
		}
		return tds_ct_equal(root1, root2, TDS_HASH_LEN) ? 0 : bad_proof("consistency");
	}
	if (path_len == 0)
		return invalid_proof("consistency proof from size %llu to %llu cannot be empty", size1, size2);
	/* step 2: for a power-of-two size1 the proof starts, implicitly, with root1 */
	bool pow2 = (size1 & (size1 - 1)) == 0;
	const uint8_t *first = pow2 ? root1 : path;
	size_t i = pow2 ? 0 : 1;
	uint64_t fn = size1 - 1, sn = size2 - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	uint8_t fr[TDS_HASH_LEN], sr[TDS_HASH_LEN];
	memcpy(fr, first, TDS_HASH_LEN);
	memcpy(sr, first, TDS_HASH_LEN);
	for (; i < path_len; i++) {
		const uint8_t *c = path + i * TDS_HASH_LEN;
		int rc = 0;
		if (sn == 0)
			return invalid_proof("consistency proof has %llu hashes, more than sizes up to %llu need",
					     path_len, size2);
		if ((fn & 1) || fn == sn) {
			if ((rc = tds_ledger_node_hash(suite, c, fr, fr)) || (rc = tds_ledger_node_hash(suite, c, sr, sr)))
				return rc;
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else if ((rc = tds_ledger_node_hash(suite, sr, c, sr))) {
			return rc;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return invalid_proof("consistency proof has %llu hashes, fewer than sizes up to %llu need",
				     path_len, size2);
	if (!tds_ct_equal(fr, root1, TDS_HASH_LEN) || !tds_ct_equal(sr, root2, TDS_HASH_LEN))
		return bad_proof("consistency");
	return 0;
}
