/*
 * fuzz_checkpoint.c — libFuzzer target for everything in the ledger that reads a note: the
 * signed-note parser, the checkpoint body parser, checkpoint verification and cosignature
 * verification against fixed Ed25519 and SM2 keys, and the stored-leaf parser that verification
 * runs on database contents. Any input must parse or fail with an error, never crash or read past
 * its end; what parses must keep the invariants below (abort() otherwise).
 *
 * Seeds (tests/fuzz/corpus/fuzz_checkpoint/) are notes signed by the fixed keys: the log key name
 * and origin is "example.com/log", the witness is "witness.example/w1".
 */
#include "ledger/internal.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Fixed keys, from fixed private scalars/seeds, so that the seeds stay valid. */
static tds_key *keys[4]; /* log ed25519, witness ed25519, log sm2, witness sm2 */

static void init_keys(void)
{
	if (keys[0])
		return;
	uint8_t raw[32];
	for (int k = 0; k < 4; k++) {
		for (int i = 0; i < 32; i++)
			raw[i] = (uint8_t)(k * 31 + i + 1);
		if (tds_key_from_private_raw(k < 2 ? TDS_SUITE_INTL : TDS_SUITE_GM, raw, sizeof raw, &keys[k]) != 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_keys();
	const char *in = (const char *)data;
	tds_ledger_note nt;
	tds_ledger_head cp;
	uint64_t ts;

	if (tds_ledger_note_parse(in, size, &nt) == 0) {
		if (nt.text != in || nt.text_len == 0 || nt.text_len > size || nt.nsigs == 0 ||
		    nt.nsigs > TDS_LEDGER_NOTE_SIGS_MAX || in[nt.text_len - 1] != '\n')
			abort();
		for (size_t i = 0; i < nt.nsigs; i++)
			if (nt.sigs[i].name < in || nt.sigs[i].name + nt.sigs[i].name_len > in + size ||
			    nt.sigs[i].name_len == 0 || (nt.sigs[i].sig_kept && nt.sigs[i].sig_len > TDS_LEDGER_SIG_MAX))
				abort();
	}
	if (tds_ledger_checkpoint_parse(in, size, &cp) == 0) {
		/* a parsed body is canonical: formatting it again gives the same bytes */
		tds_buf b = TDS_BUF_INIT;
		if (tds_ledger_checkpoint_body(&cp, &b) != 0 || b.len != size || memcmp(b.data, in, size) != 0)
			abort();
		tds_buf_free(&b);
	}
	for (int k = 0; k < 4; k += 2) {
		int rc = tds_ledger_checkpoint_open(in, size, "example.com/log", keys[k], &cp, &nt);
		if (rc == 0 && (strcmp(cp.origin, "example.com/log") != 0 || cp.size > INT64_MAX))
			abort();
		rc = tds_ledger_cosignature_verify(in, size, "witness.example/w1", keys[k + 1], &ts);
		if (rc == 0 && ts > INT64_MAX)
			abort();
	}
	tl_leaf lf;
	if (tl_leaf_parse(in, size, &lf) == 0 && (lf.index > INT64_MAX || lf.nsubjects > TDS_LEDGER_SUBJECTS_MAX))
		abort();
	tds_error_clear();
	return 0;
}
