/*
 * test_ledger.c — the evidence ledger: RFC 9162 proofs (the RFC's own 7-leaf example, then
 * brute force against the RFC's recursive definitions on random trees up to 1,000 leaves, both hash
 * functions), verifiers refusing bad proofs, checkpoint and cosignature notes (round trips for both
 * suites, malformed notes refused), the two append paths (group commit from many threads; appends
 * inside a caller's transaction that rolls back), tampering with the SQLite file found by verify,
 * and crypto-shredding that keeps the log verifiable.
 */
#include "ledger/ledger.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define H TDS_HASH_LEN

static const tds_suite SUITES[] = {TDS_SUITE_GM, TDS_SUITE_INTL};

/* ------------------------------------------------------------------------------------------------
 * A node directory for one test: store, node key, master key, ledger
 * ---------------------------------------------------------------------------------------------- */

typedef struct fixture {
	char dir[64], path[128];
	tds_suite suite;
	tds_store *store;
	tds_key *key;
	uint8_t master[TDS_MASTER_KEY_LEN];
	tds_ledger *lg;
	char origin[64];
} fixture;

static void fx_open_ledger(fixture *f)
{
	tds_ledger_opts o = {.store = f->store, .suite = f->suite, .origin = f->origin, .key = f->key,
			     .master = f->master};
	int rc = tds_ledger_open(&o, &f->lg);
	if (rc)
		fprintf(stderr, "tds_ledger_open: %s\n", tds_error_message());
	assert_int_equal(rc, 0);
}

static void fx_init(fixture *f, tds_suite suite)
{
	memset(f, 0, sizeof *f);
	f->suite = suite;
	strcpy(f->dir, "/tmp/tds-ledger-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/tds.db", f->dir);
	snprintf(f->origin, sizeof f->origin, "tds.local/node_test_%s", tds_suite_name(suite));
	assert_int_equal(tds_store_open(f->path, &f->store), 0);
	assert_int_equal(tds_key_generate(suite, &f->key), 0);
	assert_int_equal(tds_random(f->master, sizeof f->master), 0);
	fx_open_ledger(f);
}

static void fx_reopen(fixture *f)
{
	tds_ledger_free(f->lg);
	tds_store_close(f->store);
	assert_int_equal(tds_store_open(f->path, &f->store), 0);
	fx_open_ledger(f);
}

static void fx_free(fixture *f)
{
	char cmd[128];
	tds_ledger_free(f->lg);
	tds_store_close(f->store);
	tds_key_free(f->key);
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
}

static void random_hashes(uint8_t *out, size_t n)
{
	assert_int_equal(tds_random(out, n * H), 0);
}

/* ------------------------------------------------------------------------------------------------
 * RFC 9162 §2.1.1 definitions, recursively, as the reference
 * ---------------------------------------------------------------------------------------------- */

static uint64_t split(uint64_t n)
{
	uint64_t k = 1;
	while (k * 2 < n)
		k *= 2;
	return k;
}

static void ref_mth(tds_suite s, const uint8_t (*lv)[H], uint64_t a, uint64_t b, uint8_t out[H])
{
	uint64_t n = b - a;
	if (n == 0) {
		tds_ledger_empty_root(s, out);
	} else if (n == 1) {
		memcpy(out, lv[a], H);
	} else {
		uint8_t l[H], r[H];
		uint64_t k = split(n);
		ref_mth(s, lv, a, a + k, l);
		ref_mth(s, lv, a + k, b, r);
		tds_ledger_node_hash(s, l, r, out);
	}
}

static void add(tds_ledger_proof *p, const uint8_t h[H])
{
	assert_true(p->len < TDS_LEDGER_PROOF_MAX);
	memcpy(p->hash[p->len++], h, H);
}

static void ref_path(tds_suite s, const uint8_t (*lv)[H], uint64_t m, uint64_t a, uint64_t b, tds_ledger_proof *p)
{
	uint64_t n = b - a;
	uint8_t h[H];
	if (n <= 1)
		return;
	uint64_t k = split(n);
	if (m < k) {
		ref_path(s, lv, m, a, a + k, p);
		ref_mth(s, lv, a + k, b, h);
	} else {
		ref_path(s, lv, m - k, a + k, b, p);
		ref_mth(s, lv, a, a + k, h);
	}
	add(p, h);
}

static void ref_subproof(tds_suite s, const uint8_t (*lv)[H], uint64_t m, uint64_t a, uint64_t b, bool first,
			 tds_ledger_proof *p)
{
	uint64_t n = b - a;
	uint8_t h[H];
	if (m == n) {
		if (!first) {
			ref_mth(s, lv, a, b, h);
			add(p, h);
		}
		return;
	}
	uint64_t k = split(n);
	if (m <= k) {
		ref_subproof(s, lv, m, a, a + k, first, p);
		ref_mth(s, lv, a + k, b, h);
	} else {
		ref_subproof(s, lv, m - k, a + k, b, false, p);
		ref_mth(s, lv, a, a + k, h);
	}
	add(p, h);
}

static void assert_proof_equal(const tds_ledger_proof *a, const tds_ledger_proof *b)
{
	assert_int_equal(a->len, b->len);
	if (a->len)
		assert_memory_equal(a->hash, b->hash, a->len * H);
}

/* ------------------------------------------------------------------------------------------------
 * RFC 9162 §2.1.5: the 7-leaf example
 * ---------------------------------------------------------------------------------------------- */

static void rfc_example(tds_suite s)
{
	fixture f;
	fx_init(&f, s);
	uint8_t lv[7][H], g[H], h[H], i[H], k[H], l[H], root[H], got[H];
	for (int n = 0; n < 7; n++) {
		char d[8];
		snprintf(d, sizeof d, "d%d", n);
		assert_int_equal(tds_ledger_leaf_hash(s, d, strlen(d), lv[n]), 0);
	}
	/* a..f = lv[0..5], j = lv[6] */
	tds_ledger_node_hash(s, lv[0], lv[1], g);
	tds_ledger_node_hash(s, lv[2], lv[3], h);
	tds_ledger_node_hash(s, lv[4], lv[5], i);
	tds_ledger_node_hash(s, g, h, k);
	tds_ledger_node_hash(s, i, lv[6], l);
	tds_ledger_node_hash(s, k, l, root);
	assert_int_equal(tds_ledger_append_leaf_hashes(f.lg, lv[0], 7), 0);

	uint8_t hash0[H], hash1[H], hash2[H];
	tds_ledger_node_hash(s, g, lv[2], hash0); /* 3 leaves */
	memcpy(hash1, k, H);                    /* 4 leaves */
	tds_ledger_node_hash(s, k, i, hash2);   /* 6 leaves */
	assert_int_equal(tds_ledger_root(f.lg, 7, got), 0);
	assert_memory_equal(got, root, H);
	assert_int_equal(tds_ledger_root(f.lg, 3, got), 0);
	assert_memory_equal(got, hash0, H);
	assert_int_equal(tds_ledger_root(f.lg, 4, got), 0);
	assert_memory_equal(got, hash1, H);
	assert_int_equal(tds_ledger_root(f.lg, 6, got), 0);
	assert_memory_equal(got, hash2, H);

	struct {
		uint64_t m;
		const uint8_t *want[4];
		size_t n;
	} paths[] = {
	    {0, {lv[1], h, l}, 3},    /* [b, h, l] */
	    {3, {lv[2], g, l}, 3},    /* [c, g, l] */
	    {4, {lv[5], lv[6], k}, 3}, /* [f, j, k] */
	    {6, {i, k}, 2},           /* [i, k] */
	};
	tds_ledger_proof p;
	for (size_t t = 0; t < TDS_ARRAY_LEN(paths); t++) {
		assert_int_equal(tds_ledger_inclusion_proof(f.lg, paths[t].m, 7, &p), 0);
		assert_int_equal(p.len, paths[t].n);
		for (size_t e = 0; e < p.len; e++)
			assert_memory_equal(p.hash[e], paths[t].want[e], H);
		assert_int_equal(tds_ledger_verify_inclusion(s, paths[t].m, 7, lv[paths[t].m], p.hash[0], p.len, root), 0);
	}
	struct {
		uint64_t m;
		const uint8_t *first;
		const uint8_t *want[4];
		size_t n;
	} proofs[] = {
	    {3, hash0, {lv[2], lv[3], g, l}, 4}, /* PROOF(3, D[7]) = [c, d, g, l] */
	    {4, hash1, {l}, 1},                  /* PROOF(4, D[7]) = [l] */
	    {6, hash2, {i, lv[6], k}, 3},        /* PROOF(6, D[7]) = [i, j, k] */
	};
	for (size_t t = 0; t < TDS_ARRAY_LEN(proofs); t++) {
		assert_int_equal(tds_ledger_consistency_proof(f.lg, proofs[t].m, 7, &p), 0);
		assert_int_equal(p.len, proofs[t].n);
		for (size_t e = 0; e < p.len; e++)
			assert_memory_equal(p.hash[e], proofs[t].want[e], H);
		assert_int_equal(tds_ledger_verify_consistency(s, proofs[t].m, 7, proofs[t].first, root, p.hash[0], p.len), 0);
	}
	fx_free(&f);
}

static void test_rfc9162_example(void **state)
{
	(void)state;
	for (size_t i = 0; i < TDS_ARRAY_LEN(SUITES); i++)
		rfc_example(SUITES[i]);
}

/* ------------------------------------------------------------------------------------------------
 * Brute force against the recursive definitions
 * ---------------------------------------------------------------------------------------------- */

static void check_sizes(fixture *f, const uint8_t (*lv)[H], uint64_t n, bool all)
{
	tds_suite s = f->suite;
	tds_ledger_proof got, want;
	uint8_t root[H], r1[H], got_root[H];
	ref_mth(s, lv, 0, n, root);
	assert_int_equal(tds_ledger_root(f->lg, n, got_root), 0);
	assert_memory_equal(got_root, root, H);
	uint64_t tries = all ? n + 1 : 12;
	for (uint64_t t = 0; t < tries; t++) {
		uint64_t m = all ? t : (uint64_t)rand() % (n + 1);
		if (m < n) {
			want.len = 0;
			ref_path(s, lv, m, 0, n, &want);
			assert_int_equal(tds_ledger_inclusion_proof(f->lg, m, n, &got), 0);
			assert_proof_equal(&got, &want);
			assert_int_equal(tds_ledger_verify_inclusion(s, m, n, lv[m], got.hash[0], got.len, root), 0);
			/* a wrong leaf or index, or a changed, missing or extra hash fails */
			if (n > 1) {
				assert_int_not_equal(tds_ledger_verify_inclusion(s, m, n, lv[(m + 1) % n], got.hash[0], got.len, root), 0);
				assert_int_not_equal(tds_ledger_verify_inclusion(s, (m + 1) % n, n, lv[m], got.hash[0], got.len, root), 0);
			}
			if (got.len) {
				got.hash[got.len - 1][7] ^= 0x40;
				assert_int_equal(tds_ledger_verify_inclusion(s, m, n, lv[m], got.hash[0], got.len, root), TDS_ECRYPTO);
				assert_int_equal(tds_ledger_verify_inclusion(s, m, n, lv[m], got.hash[0], got.len - 1, root), TDS_EINVAL);
			}
			assert_int_equal(tds_ledger_verify_inclusion(s, m, n, lv[m], got.hash[0], got.len + 1, root), TDS_EINVAL);
		}
		want.len = 0;
		if (m > 0 && m < n)
			ref_subproof(s, lv, m, 0, n, true, &want);
		assert_int_equal(tds_ledger_consistency_proof(f->lg, m, n, &got), 0);
		assert_proof_equal(&got, &want);
		ref_mth(s, lv, 0, m, r1);
		assert_int_equal(tds_ledger_verify_consistency(s, m, n, r1, root, got.hash[0], got.len), 0);
		if (m > 0 && m < n) {
			assert_int_not_equal(tds_ledger_verify_consistency(s, m, n, root, root, got.hash[0], got.len), 0);
			assert_int_not_equal(tds_ledger_verify_consistency(s, m - 1, n, r1, root, got.hash[0], got.len), 0);
			got.hash[0][0] ^= 1;
			assert_int_not_equal(tds_ledger_verify_consistency(s, m, n, r1, root, got.hash[0], got.len), 0);
			assert_int_equal(tds_ledger_verify_consistency(s, m, n, r1, root, got.hash[0], got.len + 1), TDS_EINVAL);
		}
	}
}

static void brute_force(tds_suite s)
{
	enum { N = 1000 };
	fixture f;
	fx_init(&f, s);
	uint8_t(*lv)[H] = malloc(N * H);
	assert_non_null(lv);
	random_hashes(lv[0], N);
	/* grow the tree in uneven chunks; check every size up to 70 exhaustively as it passes */
	uint64_t n = 0;
	while (n < 70) {
		assert_int_equal(tds_ledger_append_leaf_hashes(f.lg, lv[n], 1), 0);
		n++;
		check_sizes(&f, lv, n, true);
	}
	while (n < N) {
		uint64_t step = 1 + (uint64_t)rand() % 97;
		if (n + step > N)
			step = N - n;
		assert_int_equal(tds_ledger_append_leaf_hashes(f.lg, lv[n], step), 0);
		n += step;
		check_sizes(&f, lv, n, false);
	}
	/* older sizes from the full tree, after reopening (cache loaded from the database) */
	fx_reopen(&f);
	uint64_t sizes[] = {1, 2, 3, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512, 513, 777, 999, 1000};
	for (size_t i = 0; i < TDS_ARRAY_LEN(sizes); i++)
		check_sizes(&f, lv, sizes[i], false);
	for (int i = 0; i < 30; i++)
		check_sizes(&f, lv, 1 + (uint64_t)rand() % N, false);
	tds_ledger_proof p;
	assert_int_equal(tds_ledger_inclusion_proof(f.lg, 5, N + 1, &p), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "invalid_size");
	assert_int_equal(tds_ledger_inclusion_proof(f.lg, N, N, &p), TDS_EINVAL);
	assert_int_equal(tds_ledger_consistency_proof(f.lg, 10, 5, &p), TDS_EINVAL);
	free(lv);
	fx_free(&f);
}

static void test_brute_force(void **state)
{
	(void)state;
	srand(9162);
	for (size_t i = 0; i < TDS_ARRAY_LEN(SUITES); i++)
		brute_force(SUITES[i]);
}

static void test_verifier_edges(void **state)
{
	(void)state;
	uint8_t path[TDS_LEDGER_PROOF_MAX + 2][H], leaf[H], root[H];
	random_hashes(path[0], TDS_LEDGER_PROOF_MAX + 2);
	random_hashes(leaf, 1);
	random_hashes(root, 1);
	uint64_t sizes[] = {0, 1, 2, 3, UINT64_C(1) << 62, UINT64_C(1) << 63, (UINT64_C(1) << 63) + 1, UINT64_MAX - 1, UINT64_MAX};
	for (size_t a = 0; a < TDS_ARRAY_LEN(sizes); a++)
		for (size_t b = 0; b < TDS_ARRAY_LEN(sizes); b++)
			for (size_t len = 0; len <= TDS_LEDGER_PROOF_MAX + 2; len += 1) {
				int rc = tds_ledger_verify_inclusion(TDS_SUITE_INTL, sizes[a], sizes[b], leaf, path[0], len, root);
				assert_true(rc == TDS_EINVAL || rc == TDS_ECRYPTO);
				rc = tds_ledger_verify_consistency(TDS_SUITE_GM, sizes[a], sizes[b], leaf, root, path[0], len);
				assert_true(rc == TDS_EINVAL || rc == TDS_ECRYPTO);
			}
	/* the trivial cases */
	uint8_t empty[H];
	tds_ledger_empty_root(TDS_SUITE_INTL, empty);
	assert_int_equal(tds_ledger_verify_consistency(TDS_SUITE_INTL, 0, 5, empty, root, NULL, 0), 0);
	assert_int_equal(tds_ledger_verify_consistency(TDS_SUITE_INTL, 0, 5, root, root, NULL, 0), TDS_ECRYPTO);
	assert_int_equal(tds_ledger_verify_consistency(TDS_SUITE_INTL, 5, 5, root, root, NULL, 0), 0);
	assert_int_equal(tds_ledger_verify_consistency(TDS_SUITE_INTL, 5, 5, root, root, path[0], 1), TDS_EINVAL);
	assert_int_equal(tds_ledger_verify_consistency(TDS_SUITE_INTL, 6, 5, root, root, NULL, 0), TDS_EINVAL);
	assert_int_equal(tds_ledger_verify_inclusion(TDS_SUITE_INTL, 0, 1, leaf, NULL, 0, leaf), 0);
	assert_int_equal(tds_ledger_verify_inclusion((tds_suite)7, 0, 1, leaf, NULL, 0, leaf), TDS_EINVAL);
}

/* ------------------------------------------------------------------------------------------------
 * Notes, checkpoints, cosignatures
 * ---------------------------------------------------------------------------------------------- */

static void checkpoint_round_trip(tds_suite s)
{
	tds_key *log_key, *witness, *other;
	assert_int_equal(tds_key_generate(s, &log_key), 0);
	assert_int_equal(tds_key_generate(s, &witness), 0);
	assert_int_equal(tds_key_generate(s, &other), 0);
	tds_ledger_head cp = {.origin = "tds.local/node_01JTEST", .size = 20852163}, got;
	random_hashes(cp.root, 1);
	tds_buf note = TDS_BUF_INIT, body = TDS_BUF_INIT, line = TDS_BUF_INIT, raw = TDS_BUF_INIT;
	assert_int_equal(tds_ledger_checkpoint_sign(&cp, log_key, &note), 0);
	assert_int_equal(tds_ledger_checkpoint_body(&cp, &body), 0);
	assert_true(note.len > body.len + 1);
	assert_memory_equal(note.data, body.data, body.len);
	assert_int_equal(note.data[body.len], '\n');
	assert_memory_equal(note.data + body.len + 1, "\xe2\x80\x94 tds.local/node_01JTEST ", 27);

	/* key id = SHA-256(name || 0x0A || type || public key)[:4], as in the signature line */
	tds_buf kb = TDS_BUF_INIT;
	uint8_t h[H];
	tds_buf_puts(&kb, "tds.local/node_01JTEST\n");
	if (s == TDS_SUITE_INTL)
		tds_buf_putc(&kb, 0x01);
	else
		tds_buf_append(&kb, "\xff" "tds/sm2-sm3", 12);
	tds_key_public_raw(log_key, &kb);
	tds_hash(TDS_SUITE_INTL, kb.data, kb.len, h);
	uint32_t id;
	assert_int_equal(tds_ledger_key_id(cp.origin, TDS_LEDGER_SIG_NOTE, log_key, &id), 0);
	assert_int_equal(id, (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3]);
	char *sig = note.data + body.len + 1 + 27;
	assert_int_equal(tds_b64_decode(sig, strlen(sig) - 1, &raw), 0);
	assert_memory_equal(raw.data, h, 4);
	if (s == TDS_SUITE_INTL)
		assert_int_equal(raw.len, 4 + 64);
	tds_buf_free(&kb);

	assert_int_equal(tds_ledger_checkpoint_open(note.data, note.len, cp.origin, log_key, &got, NULL), 0);
	assert_string_equal(got.origin, cp.origin);
	assert_int_equal(got.size, cp.size);
	assert_memory_equal(got.root, cp.root, H);
	/* another key, another origin */
	assert_int_equal(tds_ledger_checkpoint_open(note.data, note.len, cp.origin, other, &got, NULL), TDS_EAUTH);
	assert_string_equal(tds_error_name(), "unknown_signer");
	assert_int_equal(tds_ledger_checkpoint_open(note.data, note.len, "tds.local/other", log_key, &got, NULL), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "wrong_origin");
	/* one changed byte of the body breaks the signature */
	char *bad = strdup(note.data);
	bad[body.len - 3] = bad[body.len - 3] == 'A' ? 'B' : 'A';
	int rc = tds_ledger_checkpoint_open(bad, note.len, cp.origin, log_key, &got, NULL);
	assert_true(rc == TDS_ECRYPTO || rc == TDS_EINVAL);
	free(bad);

	/* cosignature: made over the body, appended as a line, verified with its timestamp */
	assert_int_equal(tds_ledger_cosign(body.data, body.len, "witness.example/w1", witness, 1679315147, &line), 0);
	tds_buf cosigned = TDS_BUF_INIT;
	tds_buf_append(&cosigned, note.data, note.len);
	tds_buf_append(&cosigned, line.data, line.len);
	uint64_t ts = 0;
	assert_int_equal(tds_ledger_cosignature_verify(cosigned.data, cosigned.len, "witness.example/w1", witness, &ts), 0);
	assert_int_equal(ts, 1679315147);
	/* the log's signature still verifies with the cosignature beside it */
	assert_int_equal(tds_ledger_checkpoint_open(cosigned.data, cosigned.len, cp.origin, log_key, &got, NULL), 0);
	assert_int_equal(tds_ledger_cosignature_verify(note.data, note.len, "witness.example/w1", witness, &ts), TDS_ENOTFOUND);
	assert_int_equal(tds_ledger_cosignature_verify(cosigned.data, cosigned.len, "witness.example/w1", other, &ts), TDS_ENOTFOUND);
	/* the witness's line on another checkpoint does not verify */
	tds_ledger_head cp2 = cp;
	cp2.size++;
	tds_buf note2 = TDS_BUF_INIT;
	assert_int_equal(tds_ledger_checkpoint_sign(&cp2, log_key, &note2), 0);
	tds_buf_append(&note2, line.data, line.len);
	assert_int_equal(tds_ledger_cosignature_verify(note2.data, note2.len, "witness.example/w1", witness, &ts), TDS_ECRYPTO);
	/* the cosignature key id uses the cosignature type, not the note type */
	uint32_t nid, cid;
	tds_ledger_key_id("witness.example/w1", TDS_LEDGER_SIG_NOTE, witness, &nid);
	tds_ledger_key_id("witness.example/w1", TDS_LEDGER_SIG_COSIGNATURE, witness, &cid);
	assert_int_not_equal(nid, cid);
	assert_int_equal(tds_ledger_cosign(body.data, body.len, "w", witness, UINT64_C(1) << 63, &line), TDS_EINVAL);
	assert_int_equal(tds_ledger_cosign("junk\n", 5, "w", witness, 1, &line), TDS_EINVAL);

	tds_buf_free(&note);
	tds_buf_free(&note2);
	tds_buf_free(&body);
	tds_buf_free(&line);
	tds_buf_free(&raw);
	tds_buf_free(&cosigned);
	tds_key_free(log_key);
	tds_key_free(witness);
	tds_key_free(other);
}

static void test_checkpoint_notes(void **state)
{
	(void)state;
	for (size_t i = 0; i < TDS_ARRAY_LEN(SUITES); i++)
		checkpoint_round_trip(SUITES[i]);
}

static void test_malformed_notes(void **state)
{
	(void)state;
	tds_key *key;
	assert_int_equal(tds_key_generate(TDS_SUITE_INTL, &key), 0);
	tds_ledger_head cp = {.origin = "example.com/log", .size = 7}, got;
	random_hashes(cp.root, 1);
	tds_buf good = TDS_BUF_INIT, body = TDS_BUF_INIT;
	assert_int_equal(tds_ledger_checkpoint_sign(&cp, key, &good), 0);
	assert_int_equal(tds_ledger_checkpoint_body(&cp, &body), 0);
	const char *sigline = good.data + body.len + 1; /* "— example.com/log …\n" */
	char root_b64[64];
	snprintf(root_b64, sizeof root_b64, "%.*s", 44, body.data + strlen("example.com/log\n7\n"));

	/* each malformed note is refused with TDS_EINVAL (bad structure) or a signature error */
	char cases[32][512];
	int n = 0;
	snprintf(cases[n++], 512, "%s", body.data);                                  /* no signatures */
	snprintf(cases[n++], 512, "%s\n", body.data);                                /* blank line, no signature */
	snprintf(cases[n++], 512, "%s%s", body.data, sigline);                       /* no blank line */
	snprintf(cases[n++], 512, "%s\n%.*s", body.data, (int)strlen(sigline) - 1, sigline); /* no final newline */
	snprintf(cases[n++], 512, "%s\n-- example.com/log AAAAAAAA\n", body.data);    /* not an em dash */
	snprintf(cases[n++], 512, "%s\n\xe2\x80\x94 example.com/log AAAA\n", body.data); /* 3 bytes: no signature */
	snprintf(cases[n++], 512, "%s\n\xe2\x80\x94 example.com/log AAAAAAA=x\n", body.data); /* bad base64 */
	snprintf(cases[n++], 512, "%s\n\xe2\x80\x94 example.com/log  AAAAAAAA\n", body.data); /* two spaces */
	snprintf(cases[n++], 512, "%s\n\xe2\x80\x94 ex+ample AAAAAAAA\n", body.data);  /* '+' in name */
	snprintf(cases[n++], 512, "%s\n\xe2\x80\x94  AAAAAAAA\n", body.data);         /* empty name */
	snprintf(cases[n++], 512, "%s\n%s\n", body.data, sigline);                   /* trailing blank line */
	snprintf(cases[n++], 512, "example.com/log\n7\n%s\nextension\n\n%s", root_b64, sigline); /* extension line */
	snprintf(cases[n++], 512, "example.com/log\n7\n\n%s", sigline);               /* missing root line */
	snprintf(cases[n++], 512, "example.com/log\n07\n%s\n\n%s", root_b64, sigline); /* leading zero */
	snprintf(cases[n++], 512, "example.com/log\n+7\n%s\n\n%s", root_b64, sigline);
	snprintf(cases[n++], 512, "example.com/log\n-7\n%s\n\n%s", root_b64, sigline);
	snprintf(cases[n++], 512, "example.com/log\n18446744073709551616\n%s\n\n%s", root_b64, sigline);
	snprintf(cases[n++], 512, "example.com/log\n9223372036854775808\n%s\n\n%s", root_b64, sigline);
	snprintf(cases[n++], 512, "example.com/log\n7\n%.40s\n\n%s", root_b64, sigline); /* short root */
	snprintf(cases[n++], 512, "example.com/log\n7\n%sAAAA\n\n%s", root_b64, sigline); /* long root */
	snprintf(cases[n++], 512, "example.com/log\n7\n%.43s!\n\n%s", root_b64, sigline); /* bad base64 root */
	snprintf(cases[n++], 512, "example.com/log\r\n7\n%s\n\n%s", root_b64, sigline); /* control character */
	snprintf(cases[n++], 512, "example.com/log\n7\n%s\n\n%s", root_b64, sigline); /* fine structure... */
	cases[n - 1][3] = (char)0xff;                                                /* ...but invalid UTF-8 */
	snprintf(cases[n++], 512, "other.example/log\n7\n%s\n\n%s", root_b64, sigline); /* wrong origin */
	snprintf(cases[n++], 512, "example.com/log\n8\n%s\n\n%s", root_b64, sigline); /* altered size */
	snprintf(cases[n++], 512, "%s\n\xe2\x80\x94 someone.else/key AAAAAAAAAAAA\n", body.data); /* unknown signer */
	for (int i = 0; i < n; i++) {
		int rc = tds_ledger_checkpoint_open(cases[i], strlen(cases[i]), "example.com/log", key, &got, NULL);
		if (rc == 0)
			fail_msg("malformed note %d was accepted:\n%s", i, cases[i]);
		assert_true(rc == TDS_EINVAL || rc == TDS_ECRYPTO || rc == TDS_EAUTH);
		assert_true(strlen(tds_error_message()) > 10);
	}
	/* too many signature lines */
	tds_buf many = TDS_BUF_INIT;
	tds_buf_append(&many, good.data, good.len);
	for (int i = 0; i < TDS_LEDGER_NOTE_SIGS_MAX; i++)
		tds_buf_puts(&many, "\xe2\x80\x94 w.example/x AAAAAAAAAAAA\n");
	tds_ledger_note nt;
	assert_int_equal(tds_ledger_note_parse(many.data, many.len, &nt), TDS_EINVAL);
	/* 16 unknown signatures beside the right one are fine (signed-note asks for at least 16) */
	tds_buf_reset(&many);
	tds_buf_append(&many, good.data, good.len);
	for (int i = 0; i < 16; i++)
		tds_buf_puts(&many, "\xe2\x80\x94 w.example/x AAAAAAAAAAAA\n");
	assert_int_equal(tds_ledger_checkpoint_open(many.data, many.len, "example.com/log", key, &got, NULL), 0);
	/* a NUL byte inside */
	tds_buf_reset(&many);
	tds_buf_append(&many, good.data, good.len);
	many.data[3] = 0;
	assert_int_equal(tds_ledger_checkpoint_open(many.data, many.len, "example.com/log", key, &got, NULL), TDS_EINVAL);
	/* the note text must be a checkpoint; origins with spaces cannot be signed */
	tds_ledger_head bad = {.origin = "has space", .size = 1};
	assert_int_equal(tds_ledger_checkpoint_sign(&bad, key, &many), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "invalid_origin");
	tds_buf_free(&many);
	tds_buf_free(&good);
	tds_buf_free(&body);
	tds_key_free(key);
}

/* ------------------------------------------------------------------------------------------------
 * Entries and appends
 * ---------------------------------------------------------------------------------------------- */

static json_t *payload_of(int i)
{
	char pad[240];
	memset(pad, 'x', sizeof pad - 1);
	pad[sizeof pad - 1] = 0;
	return json_pack("{s:i, s:s, s:s}", "n", i, "pad", pad, "name", "张三");
}

static int append_one(fixture *f, int i, uint64_t *index)
{
	const char *subjects[] = {"res_01JAAAAAAAAAAAAAAAAAAAAAAA", "prd_01JBBBBBBBBBBBBBBBBBBBBBBB"};
	json_t *pl = payload_of(i);
	tds_ledger_entry_in e = {.type = "identity.account_created",
				 .actor = {.org = "org_01JORG", .account = "acc_01JACC", .node = "node_01JNODE"},
				 .subjects = subjects,
				 .nsubjects = 2,
				 .payload = pl};
	int rc = tds_ledger_append(f->lg, &e, index);
	json_decref(pl);
	return rc;
}

static void verify_ok(fixture *f, uint64_t entries)
{
	tds_ledger_verify_result r;
	tds_ledger_verify_opts o = {.key = f->key, .origin = f->origin};
	assert_int_equal(tds_ledger_verify(f->store, &o, &r), 0);
	if (!r.ok)
		fail_msg("verify: %s: %s", r.error_code, r.error);
	assert_int_equal(r.entries, entries);
}

static void test_entry_format(void **state)
{
	(void)state;
	fixture f;
	fx_init(&f, TDS_SUITE_GM);
	uint64_t idx;
	assert_int_equal(append_one(&f, 1, &idx), 0);
	assert_int_equal(idx, 0);
	tds_ledger_entry e;
	assert_int_equal(tds_ledger_entry_get(f.lg, 0, &e), 0);
	/* the leaf bytes are their own canonical JSON, with the documented members */
	json_t *j;
	tds_buf canon = TDS_BUF_INIT;
	assert_int_equal(tds_json_parse(e.leaf.data, e.leaf.len, &j), 0);
	assert_int_equal(tds_json_canonical(j, &canon), 0);
	assert_int_equal(canon.len, e.leaf.len);
	assert_memory_equal(canon.data, e.leaf.data, e.leaf.len);
	assert_int_equal(json_object_size(j), 6);
	assert_int_equal(json_integer_value(json_object_get(j, "index")), 0);
	assert_string_equal(json_string_value(json_object_get(j, "type")), "identity.account_created");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "actor"), "org")), "org_01JORG");
	assert_int_equal(json_array_size(json_object_get(j, "subjects")), 2);
	/* payload_hash = hex of SM3(canonical payload) */
	json_t *pl = payload_of(1);
	tds_buf pc = TDS_BUF_INIT, hx = TDS_BUF_INIT;
	uint8_t ph[H];
	tds_json_canonical(pl, &pc);
	tds_hash(TDS_SUITE_GM, pc.data, pc.len, ph);
	tds_hex_encode(ph, H, &hx);
	assert_string_equal(json_string_value(json_object_get(j, "payload_hash")), hx.data);
	/* the leaf hash is H(0x00 || leaf) and the proof of a one-entry log is empty */
	uint8_t lh[H], root[H];
	uint64_t size;
	tds_ledger_leaf_hash(TDS_SUITE_GM, e.leaf.data, e.leaf.len, lh);
	assert_memory_equal(lh, e.leaf_hash, H);
	assert_int_equal(tds_ledger_size(f.lg, &size, root), 0);
	assert_int_equal(size, 1);
	assert_memory_equal(root, lh, H);
	/* served form: the leaf plus payload_sealed; the payload opens to what went in */
	json_t *served, *opened;
	assert_int_equal(tds_ledger_entry_json(&e, &served), 0);
	assert_true(json_is_string(json_object_get(served, "payload_sealed")));
	assert_false(e.shredded);
	assert_int_equal(tds_ledger_payload_open(f.lg, 0, &opened), 0);
	assert_true(json_equal(opened, pl));
	json_decref(served);
	json_decref(opened);
	json_decref(pl);
	json_decref(j);
	tds_buf_free(&canon);
	tds_buf_free(&pc);
	tds_buf_free(&hx);
	tds_ledger_entry_release(&e);

	/* bad entries change nothing */
	const char *bad_subject[] = {"has space"};
	const char *ok_subject[] = {"res_1"};
	tds_ledger_entry_in bad[] = {
	    {.type = NULL},
	    {.type = "Identity.created"},
	    {.type = "identity..created"},
	    {.type = "identity.created."},
	    {.type = "identity.cre-ated"},
	    {.type = "identity.created", .actor = {.org = "org \"x\""}},
	    {.type = "identity.created", .actor = {.account = ""}},
	    {.type = "identity.created", .subjects = bad_subject, .nsubjects = 1},
	    {.type = "identity.created", .subjects = ok_subject, .nsubjects = 33},
	    {.type = "identity.created", .time_ms = INT64_MAX},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(bad); i++) {
		assert_int_equal(tds_ledger_append(f.lg, &bad[i], &idx), TDS_EINVAL);
		assert_string_equal(tds_error_name(), "invalid_entry");
	}
	/* a batch is all or nothing */
	tds_ledger_entry_in two[2] = {{.type = "identity.created"}, {.type = "Bad"}};
	assert_int_equal(tds_ledger_append_batch(f.lg, two, 2, &idx), TDS_EINVAL);
	assert_non_null(strstr(tds_error_message(), "batch entry 1"));
	assert_int_equal(tds_ledger_append_batch(f.lg, two, 0, &idx), TDS_EINVAL);
	json_t *real = json_real(1.5);
	tds_ledger_entry_in e2 = {.type = "identity.created", .payload = real};
	assert_int_equal(tds_ledger_append(f.lg, &e2, &idx), TDS_EINVAL);
	json_decref(real);
	assert_int_equal(tds_ledger_size(f.lg, &size, NULL), 0);
	assert_int_equal(size, 1);
	assert_int_equal(tds_ledger_entry_get(f.lg, 1, &e), TDS_ENOTFOUND);
	fx_free(&f);
}

typedef struct worker {
	fixture *f;
	int count, failures, batch;
	uint64_t *indexes;
} worker;

/* Appends `count` entries, one per call or `batch` per tds_ledger_append_batch call. */
static void *append_worker(void *arg)
{
	worker *w = arg;
	const char *subjects[] = {"res_01JAAAAAAAAAAAAAAAAAAAAAAA"};
	for (int i = 0; i < w->count;) {
		if (w->batch <= 1) {
			if (append_one(w->f, i, &w->indexes[i]) != 0)
				w->failures++;
			i++;
			continue;
		}
		tds_ledger_entry_in e[16];
		json_t *pl[16];
		int n = w->count - i < w->batch ? w->count - i : w->batch;
		for (int k = 0; k < n; k++) {
			pl[k] = payload_of(i + k);
			e[k] = (tds_ledger_entry_in){.type = "metering.event_recorded", .actor = {.org = "org_01JORG"},
						     .subjects = subjects, .nsubjects = 1, .payload = pl[k]};
		}
		uint64_t first;
		if (tds_ledger_append_batch(w->f->lg, e, (size_t)n, &first) != 0)
			w->failures++;
		for (int k = 0; k < n; k++) {
			w->indexes[i + k] = first + (uint64_t)k; /* consecutive within a call */
			json_decref(pl[k]);
		}
		i += n;
	}
	return NULL;
}

static void group_commit(tds_suite s)
{
	enum { THREADS = 8, EACH = 300 };
	static const int batch[THREADS] = {1, 1, 1, 1, 1, 16, 7, 3}; /* single and batched callers mixed */
	fixture f;
	fx_init(&f, s);
	pthread_t t[THREADS];
	worker w[THREADS];
	uint64_t *idx = calloc(THREADS * EACH, sizeof *idx);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (worker){&f, EACH, 0, batch[i], idx + i * EACH};
		assert_int_equal(pthread_create(&t[i], NULL, append_worker, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
		for (int k = 1; k < EACH; k++) /* each caller's entries in its order */
			assert_true(w[i].indexes[k] > w[i].indexes[k - 1]);
	}
	/* every index exactly once: 0 .. THREADS*EACH-1; a batch's entries are consecutive */
	for (int k = 1; k < EACH; k++)
		if (k % 16)
			assert_int_equal(w[5].indexes[k], w[5].indexes[k - 1] + 1);
	char *seen = calloc(THREADS * EACH, 1);
	for (int i = 0; i < THREADS * EACH; i++) {
		assert_true(idx[i] < THREADS * EACH);
		assert_int_equal(seen[idx[i]], 0);
		seen[idx[i]] = 1;
	}
	free(seen);
	free(idx);
	tds_buf note = TDS_BUF_INIT;
	tds_ledger_head cp, cp2;
	assert_int_equal(tds_ledger_checkpoint(f.lg, &note, &cp), 0);
	assert_int_equal(cp.size, THREADS * EACH);
	/* durable: everything is there after closing and reopening the store */
	fx_reopen(&f);
	uint64_t size;
	uint8_t root[H];
	assert_int_equal(tds_ledger_size(f.lg, &size, root), 0);
	assert_int_equal(size, THREADS * EACH);
	assert_memory_equal(root, cp.root, H);
	tds_buf latest = TDS_BUF_INIT;
	assert_int_equal(tds_ledger_checkpoint_latest(f.lg, &latest, &cp2), 0);
	assert_int_equal(latest.len, note.len);
	assert_memory_equal(latest.data, note.data, note.len);
	/* the same size gives back the same checkpoint */
	tds_buf_reset(&latest);
	assert_int_equal(tds_ledger_checkpoint(f.lg, &latest, &cp2), 0);
	assert_memory_equal(latest.data, note.data, note.len);
	tds_key *pub = NULL;
	tds_buf pem = TDS_BUF_INIT;
	tds_key_public_pem(f.key, &pem);
	tds_key_from_pem(pem.data, pem.len, &pub);
	assert_int_equal(tds_ledger_checkpoint_open(note.data, note.len, f.origin, pub, &cp2, NULL), 0);
	/* an inclusion proof of a random entry against the checkpoint */
	tds_ledger_entry e;
	tds_ledger_proof p;
	assert_int_equal(tds_ledger_entry_get(f.lg, 1234, &e), 0);
	assert_int_equal(tds_ledger_inclusion_proof(f.lg, 1234, cp.size, &p), 0);
	assert_int_equal(tds_ledger_verify_inclusion(s, 1234, cp.size, e.leaf_hash, p.hash[0], p.len, cp2.root), 0);
	tds_ledger_entry_release(&e);
	verify_ok(&f, THREADS * EACH);
	tds_buf_free(&pem);
	tds_key_free(pub);
	tds_buf_free(&note);
	tds_buf_free(&latest);
	fx_free(&f);
}

static void test_group_commit(void **state)
{
	(void)state;
	for (size_t i = 0; i < TDS_ARRAY_LEN(SUITES); i++)
		group_commit(SUITES[i]);
}

typedef struct tx_ctx {
	fixture *f;
	int n;
	bool fail;
	uint64_t idx[4];
} tx_ctx;

static int tx_append(sqlite3 *db, void *arg)
{
	tx_ctx *c = arg;
	json_t *pl = json_pack("{s:s}", "state", "changed");
	tds_ledger_entry_in e = {.type = "identity.role_granted", .actor = {.account = "acc_1"}, .payload = pl};
	int rc = 0;
	for (int i = 0; i < c->n && !rc; i++)
		rc = tds_ledger_append_tx(c->f->lg, db, &e, &c->idx[i]);
	json_decref(pl);
	if (!rc && c->fail)
		rc = tds_error_set(TDS_ECONFLICT, "state_conflict", "the state change failed");
	return rc;
}

static void test_append_tx(void **state)
{
	(void)state;
	fixture f;
	fx_init(&f, TDS_SUITE_INTL);
	uint64_t idx, size;
	uint8_t root_before[H], root[H];
	for (int i = 0; i < 5; i++)
		assert_int_equal(append_one(&f, i, &idx), 0);
	assert_int_equal(tds_ledger_size(f.lg, &size, root_before), 0);

	/* outside a transaction: refused */
	tds_ledger_entry_in e = {.type = "identity.role_granted"};
	assert_int_equal(tds_ledger_append_tx(f.lg, tds_store_conn(f.store), &e, &idx), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "no_transaction");

	/* the state change fails: its evidence rolls back with it */
	tx_ctx c = {&f, 3, true, {0}};
	assert_int_equal(tds_store_tx(f.store, tx_append, &c), TDS_ECONFLICT);
	assert_int_equal(c.idx[0], 5);
	assert_int_equal(c.idx[2], 7);
	assert_int_equal(tds_ledger_size(f.lg, &size, root), 0);
	assert_int_equal(size, 5);
	assert_memory_equal(root, root_before, H);
	tds_ledger_entry en;
	assert_int_equal(tds_ledger_entry_get(f.lg, 5, &en), TDS_ENOTFOUND);

	/* the next appends (both paths) take the same indexes */
	c = (tx_ctx){&f, 2, false, {0}};
	assert_int_equal(tds_store_tx(f.store, tx_append, &c), 0);
	assert_int_equal(c.idx[0], 5);
	assert_int_equal(c.idx[1], 6);
	assert_int_equal(append_one(&f, 9, &idx), 0);
	assert_int_equal(idx, 7);
	c = (tx_ctx){&f, 1, false, {0}};
	assert_int_equal(tds_store_tx(f.store, tx_append, &c), 0);
	assert_int_equal(c.idx[0], 8);
	/* proofs see entries committed by callers' transactions */
	tds_ledger_proof p;
	tds_ledger_head cp;
	assert_int_equal(tds_ledger_checkpoint(f.lg, NULL, &cp), 0);
	assert_int_equal(cp.size, 9);
	assert_int_equal(tds_ledger_entry_get(f.lg, 8, &en), 0);
	assert_int_equal(tds_ledger_inclusion_proof(f.lg, 8, 9, &p), 0);
	assert_int_equal(tds_ledger_verify_inclusion(TDS_SUITE_INTL, 8, 9, en.leaf_hash, p.hash[0], p.len, cp.root), 0);
	tds_ledger_entry_release(&en);
	verify_ok(&f, 9);
	fx_free(&f);
}

/* ------------------------------------------------------------------------------------------------
 * Tampering with the SQLite file
 * ---------------------------------------------------------------------------------------------- */

enum { TAMPER_N = 50 };

static void build_log(fixture *f)
{
	uint64_t idx;
	for (int i = 0; i < TAMPER_N; i++) {
		assert_int_equal(append_one(f, i, &idx), 0);
		if (idx == 9 || idx == 19 || idx == 39 || idx == 49)
			assert_int_equal(tds_ledger_checkpoint(f->lg, NULL, NULL), 0);
	}
	verify_ok(f, TAMPER_N);
}

static sqlite3 *attacker(fixture *f)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TRIGGER ledger_entries_no_update; DROP TRIGGER ledger_entries_no_delete;"
					  "DROP TRIGGER ledger_nodes_no_update; DROP TRIGGER ledger_nodes_no_delete;",
				      NULL, NULL, NULL), SQLITE_OK);
	return db;
}

static void exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

static void expect_tamper(fixture *f, const char *code, uint64_t index)
{
	tds_ledger_verify_result r;
	tds_ledger_verify_opts o = {.key = f->key, .origin = f->origin};
	assert_int_equal(tds_ledger_verify(f->store, &o, &r), 0);
	if (r.ok)
		fail_msg("tampering was not detected (expected %s at %llu)", code, (unsigned long long)index);
	if (strcmp(r.error_code, code) != 0 || !r.has_index || r.error_index != index)
		fail_msg("expected %s at entry %llu, got %s (index %s%llu): %s", code, (unsigned long long)index,
			 r.error_code, r.has_index ? "" : "none ", (unsigned long long)r.error_index, r.error);
}

/* Rewrites entry `i`'s leaf bytes with one character changed. */
static void edit_leaf(sqlite3 *db, int i, bool fix_nodes, tds_suite s)
{
	sqlite3_stmt *st;
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT leaf FROM ledger_entries WHERE idx = %d", i);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	size_t n = (size_t)sqlite3_column_bytes(st, 0);
	char *leaf = malloc(n);
	memcpy(leaf, sqlite3_column_blob(st, 0), n);
	sqlite3_finalize(st);
	char *ph = strstr(leaf, "\"payload_hash\":\"") + 16;
	ph[0] = ph[0] == 'a' ? 'b' : 'a'; /* another payload hash: a forged payload */
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE ledger_entries SET leaf = ? WHERE idx = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, leaf, (int)n, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, i);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	if (fix_nodes) { /* a careful attacker also rewrites the tree so that leaves and nodes agree */
		uint8_t(*lv)[H] = malloc(TAMPER_N * H);
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT leaf FROM ledger_entries ORDER BY idx", -1, &st, NULL), SQLITE_OK);
		for (int k = 0; k < TAMPER_N; k++) {
			assert_int_equal(sqlite3_step(st), SQLITE_ROW);
			tds_ledger_leaf_hash(s, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), lv[k]);
		}
		sqlite3_finalize(st);
		exec(db, "DELETE FROM ledger_nodes");
		assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO ledger_nodes(level, idx, hash) VALUES (?, ?, ?)", -1, &st, NULL), SQLITE_OK);
		for (int level = 0; (TAMPER_N >> level) > 0; level++)
			for (int k = 0; k < (TAMPER_N >> level); k++) {
				uint8_t h[H];
				ref_mth(s, (const uint8_t(*)[H])lv, (uint64_t)k << level, (uint64_t)(k + 1) << level, h);
				sqlite3_bind_int(st, 1, level);
				sqlite3_bind_int(st, 2, k);
				sqlite3_bind_blob(st, 3, h, H, SQLITE_TRANSIENT);
				assert_int_equal(sqlite3_step(st), SQLITE_DONE);
				sqlite3_reset(st);
			}
		sqlite3_finalize(st);
		free(lv);
	}
	free(leaf);
}

static void test_tampering(void **state)
{
	(void)state;
	struct {
		const char *what;
		const char *sql;
		int edit;       /* entry whose leaf to edit, -1 none */
		bool fix_nodes;
		const char *code;
		uint64_t index;
	} cases[] = {
	    {"edit", NULL, 17, false, "leaf_hash_mismatch", 17},
	    {"edit with the tree rewritten", NULL, 30, true, "checkpoint_root_mismatch", 20},
	    {"delete", "DELETE FROM ledger_entries WHERE idx = 23", -1, false, "entry_missing", 23},
	    {"delete the last", "DELETE FROM ledger_entries WHERE idx = 49", -1, false, "entry_missing", 49},
	    {"swap", "CREATE TEMP TABLE t AS SELECT * FROM ledger_entries WHERE idx IN (5, 9);"
		     "UPDATE ledger_entries SET leaf = (SELECT leaf FROM t WHERE idx = 9) WHERE idx = 5;"
		     "UPDATE ledger_entries SET leaf = (SELECT leaf FROM t WHERE idx = 5) WHERE idx = 9;",
	     -1, false, "entry_reordered", 5},
	    {"move", "UPDATE ledger_entries SET idx = 1000 WHERE idx = 12", -1, false, "entry_missing", 12},
	    {"search column", "UPDATE ledger_entries SET type = 'identity.nothing' WHERE idx = 33", -1, false,
	     "column_mismatch", 33},
	    {"time column", "UPDATE ledger_entries SET time_ms = time_ms + 1 WHERE idx = 3", -1, false, "column_mismatch", 3},
	    {"leaf node", "UPDATE ledger_nodes SET hash = zeroblob(32) WHERE level = 0 AND idx = 44", -1, false,
	     "leaf_hash_mismatch", 44},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(cases); i++) {
		fixture f;
		fx_init(&f, i % 2 ? TDS_SUITE_INTL : TDS_SUITE_GM);
		build_log(&f);
		sqlite3 *db = attacker(&f);
		if (cases[i].sql)
			exec(db, cases[i].sql);
		if (cases[i].edit >= 0)
			edit_leaf(db, cases[i].edit, cases[i].fix_nodes, f.suite);
		sqlite3_close(db);
		expect_tamper(&f, cases[i].code, cases[i].index);
		fx_free(&f);
	}
	/* a forged checkpoint note, and one whose signed size disagrees with its column */
	fixture f;
	fx_init(&f, TDS_SUITE_INTL);
	build_log(&f);
	sqlite3 *db = attacker(&f);
	exec(db, "UPDATE ledger_checkpoints SET note = replace(note, char(10) || '20' || char(10), char(10) || '21' || char(10)) "
		 "WHERE size = 20");
	sqlite3_close(db);
	tds_ledger_verify_result r;
	tds_ledger_verify_opts o = {.key = f.key, .origin = f.origin};
	assert_int_equal(tds_ledger_verify(f.store, &o, &r), 0);
	assert_false(r.ok);
	assert_string_equal(r.error_code, "checkpoint_invalid");
	/* the wrong key or origin */
	tds_key *other;
	tds_key_generate(TDS_SUITE_INTL, &other);
	o.key = other;
	assert_int_equal(tds_ledger_verify(f.store, &o, &r), 0);
	assert_false(r.ok);
	tds_key_free(other);
	o.key = f.key;
	o.origin = "tds.local/someone_else";
	assert_int_equal(tds_ledger_verify(f.store, &o, &r), 0);
	assert_false(r.ok);
	assert_string_equal(r.error_code, "wrong_origin");
	fx_free(&f);
}

/* ------------------------------------------------------------------------------------------------
 * Crypto-shredding
 * ---------------------------------------------------------------------------------------------- */

static void test_shredding(void **state)
{
	(void)state;
	for (size_t si = 0; si < TDS_ARRAY_LEN(SUITES); si++) {
		fixture f;
		fx_init(&f, SUITES[si]);
		uint64_t idx, ev;
		for (int i = 0; i < 12; i++)
			assert_int_equal(append_one(&f, i, &idx), 0);
		tds_ledger_head before;
		assert_int_equal(tds_ledger_checkpoint(f.lg, NULL, &before), 0);
		json_t *pl;
		assert_int_equal(tds_ledger_payload_open(f.lg, 4, &pl), 0);
		json_decref(pl);
		tds_ledger_actor dpo = {.org = "org_01JORG", .account = "acc_01JDPO"};
		assert_int_equal(tds_ledger_shred(f.lg, NULL, 4, "PIPL art. 47 erasure request", &dpo, &ev), 0);
		assert_int_equal(ev, 12);
		assert_int_equal(tds_ledger_payload_open(f.lg, 4, &pl), TDS_ENOTFOUND);
		assert_string_equal(tds_error_name(), "payload_shredded");
		assert_int_equal(tds_ledger_payload_open(f.lg, 5, &pl), 0); /* the others still open */
		json_decref(pl);
		/* the evidence of the shredding is itself an entry */
		assert_int_equal(tds_ledger_payload_open(f.lg, ev, &pl), 0);
		assert_int_equal(json_integer_value(json_object_get(pl, "index")), 4);
		json_decref(pl);
		tds_ledger_entry e;
		assert_int_equal(tds_ledger_entry_get(f.lg, 4, &e), 0);
		assert_true(e.shredded);
		tds_ledger_entry_release(&e);
		assert_int_equal(tds_ledger_entry_get(f.lg, ev, &e), 0);
		assert_non_null(strstr(e.leaf.data, "\"type\":\"ledger.payload_shredded\""));
		tds_ledger_entry_release(&e);
		/* the tree is untouched: the old root is still the root at that size, and verify passes */
		uint8_t root[H];
		assert_int_equal(tds_ledger_root(f.lg, before.size, root), 0);
		assert_memory_equal(root, before.root, H);
		assert_int_equal(tds_ledger_checkpoint(f.lg, NULL, NULL), 0);
		verify_ok(&f, 13);
		assert_int_equal(tds_ledger_shred(f.lg, NULL, 99, "x", NULL, NULL), TDS_ENOTFOUND);
		assert_int_equal(tds_ledger_shred(f.lg, tds_store_conn(f.store), 4, "x", NULL, NULL), TDS_EINVAL);
		/* a payload swapped onto another entry does not open */
		sqlite3 *db = attacker(&f);
		exec(db, "UPDATE ledger_entries SET payload = (SELECT payload FROM ledger_entries WHERE idx = 6) WHERE idx = 7");
		sqlite3_close(db);
		assert_int_equal(tds_ledger_payload_open(f.lg, 7, &pl), TDS_ECRYPTO);
		fx_free(&f);
	}
}

static void test_reopen_checks(void **state)
{
	(void)state;
	fixture f;
	fx_init(&f, TDS_SUITE_INTL);
	tds_ledger *other;
	tds_ledger_opts o = {.store = f.store, .suite = TDS_SUITE_GM};
	assert_int_equal(tds_ledger_open(&o, &other), TDS_ECONFLICT);
	assert_string_equal(tds_error_name(), "suite_mismatch");
	o = (tds_ledger_opts){.store = f.store, .suite = TDS_SUITE_INTL, .origin = "tds.local/another"};
	assert_int_equal(tds_ledger_open(&o, &other), TDS_ECONFLICT);
	assert_string_equal(tds_error_name(), "origin_mismatch");
	/* read-only: no key, no master */
	o = (tds_ledger_opts){.store = f.store, .suite = TDS_SUITE_INTL};
	assert_int_equal(tds_ledger_open(&o, &other), 0);
	assert_string_equal(tds_ledger_origin(other), f.origin);
	assert_int_equal(tds_ledger_checkpoint(other, NULL, NULL), TDS_EINVAL);
	tds_ledger_entry_in e = {.type = "identity.created"};
	uint64_t idx;
	assert_int_equal(tds_ledger_append(other, &e, &idx), TDS_EINVAL);
	assert_string_equal(tds_error_name(), "no_master_key");
	tds_ledger_free(other);
	tds_buf note = TDS_BUF_INIT;
	assert_int_equal(tds_ledger_checkpoint_latest(f.lg, &note, NULL), TDS_ENOTFOUND);
	/* a checkpoint of the empty log verifies */
	tds_ledger_head cp;
	assert_int_equal(tds_ledger_checkpoint(f.lg, &note, &cp), 0);
	assert_int_equal(cp.size, 0);
	verify_ok(&f, 0);
	tds_buf_free(&note);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc9162_example),
	    cmocka_unit_test(test_brute_force),
	    cmocka_unit_test(test_verifier_edges),
	    cmocka_unit_test(test_checkpoint_notes),
	    cmocka_unit_test(test_malformed_notes),
	    cmocka_unit_test(test_entry_format),
	    cmocka_unit_test(test_group_commit),
	    cmocka_unit_test(test_append_tx),
	    cmocka_unit_test(test_tampering),
	    cmocka_unit_test(test_shredding),
	    cmocka_unit_test(test_reopen_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
