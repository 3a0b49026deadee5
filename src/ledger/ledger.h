/*
 * ledger — the evidence ledger (存证溯源): every node's append-only log of evidence entries, the
 * Merkle tree over it (RFC 9162 §2), signed checkpoints (C2SP tlog-checkpoint on signed-note),
 * inclusion and consistency proofs, the cosignature format witnesses use (C2SP tlog-cosignature),
 * sealed payloads that can be crypto-shredded, and verification of a whole stored log.
 *
 * Not here (later issues build on this face): HTTP routes, the witness protocol between nodes,
 * split-view alerts, forwarding of connector entries to the operator's central log, audit queries.
 *
 * ------------------------------------------------------------------------------------------------
 * Invariants
 *
 * 1. Append-only. Entry i, once committed, never changes and is never deleted; the log of size n is
 *    entries 0..n-1 with no gaps. SQLite triggers refuse UPDATE and DELETE on ledger_entries and
 *    ledger_nodes (defence in depth: tampering is still possible with direct file access, and
 *    `tds ledger verify` finds it). The only deletion the ledger does is crypto-shredding: removing
 *    rows of ledger_data_keys, which never touches anything hashed.
 *
 * 2. Hashing. H is the node's suite hash: SM3 (gm) or SHA-256 (intl), 32 bytes.
 *      leaf hash  = H(0x00 || d)            d = the entry's leaf bytes (3.)
 *      node hash  = H(0x01 || left || right)
 *      MTH({})    = H("")
 *      MTH(D[n])  = per RFC 9162 §2.1.1: split at k, the largest power of two below n.
 *    Proofs are RFC 9162 §2.1.3 (inclusion, PATH(m, D[n])) and §2.1.4 (consistency, PROOF(m, D[n])),
 *    hashes ordered from the leaves up, exactly as the RFC lists them.
 *
 * 3. Leaf bytes. d is the canonical JSON (base.h: sorted keys, no whitespace) of the entry without
 *    its sealed payload, with exactly these members in this order:
 *      {"actor":{"account":A,"node":N,"org":O},"index":I,"payload_hash":"<64 hex>",
 *       "subjects":[S,…],"time":"<RFC 3339 UTC, milliseconds>","type":"<type>"}
 *    A, N, O are strings or null; I is the entry's position (decimal, no leading zeros); S are
 *    strings; payload_hash is lower-case hex of H(canonical JSON of the payload). Every string in d
 *    is printable ASCII without '"' or '\' (ids, codes, type names), so d needs no escapes and is its
 *    own canonical form. The entry as served adds "payload_sealed" (base64 of the sealed payload,
 *    between "payload_hash" and "subjects"); it is not part of d, so shredding never changes a hash.
 *
 * 4. Sealed payloads and crypto-shredding. Each entry has a fresh random data key DK (AEAD key
 *    length of the suite). The payload's canonical JSON is sealed as
 *      payload = 0x01 || nonce(12) || AEAD(DK, nonce, aad = "tds-ledger-payload/v1", payload JSON)
 *    DK is stored wrapped once per reader in ledger_data_keys:
 *      wrapped = 0x01 || nonce(12) || AEAD(KEK, nonce,
 *                    aad = "tds-ledger-dk/v1\n" || reader || "\n" || raw payload hash, DK)
 *    reader "node" is this node, KEK = HKDF(suite hash, salt = "", ikm = node master key,
 *    info = "tds-ledger-kek/v1", L = AEAD key length). Recipient readers (regulator, the entry's
 *    parties) will be public-key ids wrapped to their keys (later issue). Opening checks that the
 *    plaintext hashes to payload_hash. Crypto-shredding deletes every wrapped-key row of an entry:
 *    the ciphertext stays, unreadable; payload_hash, the leaf and the tree stay intact.
 *
 * 5. Storage (SQLite, migrations of module "ledger"):
 *      ledger_meta(key, value)                  suite and origin this log was created with
 *      ledger_entries(idx PK, leaf, type, actor_org, actor_account, actor_node, time_ms,
 *                     subjects, payload)        one row per entry; leaf = d; the other columns
 *                                               repeat d's fields for search (verify checks them)
 *      ledger_data_keys(idx, reader, wrapped)   wrapped data keys (4.)
 *      ledger_nodes(level, idx, hash)           every complete subtree: level 0 = leaf hashes,
 *                                               node (l, i) = MTH of leaves [i·2^l, (i+1)·2^l)
 *      ledger_checkpoints(id, size, root, note, issued_ms)   every checkpoint issued, in order
 *      ledger_cosignatures(checkpoint_id, witness, key_id, timestamp, line, received_ms)
 *    An append of entry i writes its entry row, its data-key row, node (0, i) and every node it
 *    completes (on average one more), in the same transaction. The root of any size n and every
 *    proof element is a fold of at most log2(n) stored complete nodes, so any proof at any size is
 *    O(log n) reads. Nodes at levels >= 6 of the committed tree are also kept in memory (1 byte per
 *    leaf), with the frontier of the committed size; the lower levels are point reads.
 *    The tree size is the number of level-0 nodes; the committed entries must agree (verify checks).
 *
 * 6. Checkpoints (C2SP tlog-checkpoint, signed-note):
 *      <origin>\n<size>\n<base64 root>\n\n— <origin> <base64(key id || signature)>\n
 *    The origin is the log's name, "tds.local/<node id>" by default; the key name is the origin.
 *    key id = first 4 bytes (big-endian) of SHA-256(name || 0x0A || signature type || public key).
 *    Signature types:
 *      0x01                               Ed25519 over the note text (signed-note).
 *      0xFF "tds/sm2-sm3" (12 bytes)      SM2 with SM3 and distinguishing id 1234567812345678
 *                                         (GB/T 32918) over the note text, DER (r,s) signature;
 *                                         public key = 65-byte uncompressed point 04 || x || y.
 *    0xFF is the byte signed-note reserves for signature types it does not assign, followed (as it
 *    recommends) by a longer identifier unlikely to collide; "tds/" marks it as TDS's own.
 *    TDS checkpoints carry no extension lines; parsers refuse them.
 *
 * 7. Cosignatures (C2SP tlog-cosignature, timestamped v1): a signature line on a checkpoint,
 *      — <witness name> base64(key id || u64 big-endian timestamp || signature)
 *    over the message "cosignature/v1\ntime <timestamp>\n" || checkpoint note text. Types:
 *      0x04                                           Ed25519 (tlog-cosignature), 64-byte signature
 *      0xFF "tds/sm2-sm3-cosignature/v1" (27 bytes)   SM2-SM3 analogue, DER signature
 *    The witness protocol (fetch, check consistency, cosign, split-view alerts) is a later issue.
 *
 * ------------------------------------------------------------------------------------------------
 * Errors follow base.h. Bad input (malformed note, proof, entry) is TDS_EINVAL with a snake_case
 * name; a signature or proof that does not check is TDS_ECRYPTO ("bad_signature", "bad_proof");
 * database failures are TDS_EIO / TDS_ELIMIT from the store.
 *
 * Threads and durability: a tds_ledger is thread-safe. The first tds_ledger_append starts three
 * threads: the committer writes every queued entry of every caller in one transaction (group
 * commit, synchronous=NORMAL: the WAL is written, not yet synced); the syncer fdatasyncs the WAL and
 * only then releases the callers of every batch committed before that call, so the disk syncs one
 * batch while the committer writes the next; the checkpointer copies the WAL into the database
 * (SQLite PASSIVE checkpoints) off the commit path. An append returns only once its entry is on disk.
 * Readers may see an entry a few milliseconds before it is durable; a checkpoint commits with
 * synchronous=FULL, which syncs the WAL up to and including it, so nothing a signed checkpoint
 * covers can be lost by a power cut. Appends inside a caller's transaction, proofs and reads run on
 * the calling thread's store connection; each proof reads its nodes in one read transaction.
 */
#ifndef TDS_LEDGER_H
#define TDS_LEDGER_H

#include "base/base.h"
#include "crypto/crypto.h"
#include "store/store.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TDS_LEDGER_PROOF_MAX 66       /* hashes in any proof of a tree below 2^64 leaves */
#define TDS_LEDGER_ORIGIN_MAX 255     /* bytes of an origin or key name */
#define TDS_LEDGER_TYPE_MAX 64        /* bytes of an entry type */
#define TDS_LEDGER_ID_MAX 128         /* bytes of an actor id or a subject */
#define TDS_LEDGER_SUBJECTS_MAX 32    /* subjects per entry */
#define TDS_LEDGER_PAYLOAD_MAX (1 << 20) /* bytes of a payload's canonical JSON */
#define TDS_LEDGER_NOTE_MAX (128 * 1024) /* bytes of a signed note */
#define TDS_LEDGER_NOTE_SIGS_MAX 64   /* signature lines in a note (signed-note asks for >= 16) */
#define TDS_LEDGER_SIG_MAX 96         /* bytes of a signature TDS makes (after the key id) */
#define TDS_LEDGER_READER_NODE "node" /* the reader id of this node's own wrapped data keys */
#define TDS_LEDGER_BATCH_MAX 65536    /* entries per tds_ledger_append_batch */

/* ------------------------------------------------------------------------------------------------
 * Merkle tree: pure functions over hashes (RFC 9162 §2). No storage, no allocation.
 * ---------------------------------------------------------------------------------------------- */

/* out = H(0x00 || d[0..len)). TDS_EINVAL for an invalid suite. */
int tds_ledger_leaf_hash(tds_suite suite, const void *d, size_t len, uint8_t out[TDS_HASH_LEN]);

/* out = H(0x01 || left || right). */
int tds_ledger_node_hash(tds_suite suite, const uint8_t left[TDS_HASH_LEN],
			 const uint8_t right[TDS_HASH_LEN], uint8_t out[TDS_HASH_LEN]);

/* out = MTH of the empty tree = H(""). */
int tds_ledger_empty_root(tds_suite suite, uint8_t out[TDS_HASH_LEN]);

/* A proof: `len` hashes, ordered as RFC 9162 lists them (from the leaves up). hash[0] is also the
 * contiguous byte array the verifiers take. */
typedef struct tds_ledger_proof {
	size_t len;
	uint8_t hash[TDS_LEDGER_PROOF_MAX][TDS_HASH_LEN];
} tds_ledger_proof;

/* Verifies that `leaf_hash` is leaf `index` of the tree of `size` leaves whose root is `root`, given
 * path[0 .. path_len*32) (RFC 9162 §2.1.3.2). Total for any input: index >= size, a path longer
 * than 64 or of the wrong length for (index, size) fail without reading past path_len hashes.
 * Returns 0 when the proof checks; TDS_EINVAL "invalid_proof" when (index, size, path_len) cannot
 * describe a proof; TDS_ECRYPTO "bad_proof" when the hashes do not lead to `root`. */
int tds_ledger_verify_inclusion(tds_suite suite, uint64_t index, uint64_t size,
				const uint8_t leaf_hash[TDS_HASH_LEN], const uint8_t *path, size_t path_len,
				const uint8_t root[TDS_HASH_LEN]);

/* Verifies that the tree of size2 leaves with root2 extends the tree of size1 leaves with root1,
 * given the consistency proof path[0 .. path_len*32) (RFC 9162 §2.1.4.2). Edge cases the RFC leaves
 * to the caller: size1 == size2 needs an empty path and root1 == root2; size1 == 0 needs an empty
 * path and root1 == H(""). Errors as tds_ledger_verify_inclusion (size1 > size2 is invalid_proof). */
int tds_ledger_verify_consistency(tds_suite suite, uint64_t size1, uint64_t size2,
				  const uint8_t root1[TDS_HASH_LEN], const uint8_t root2[TDS_HASH_LEN],
				  const uint8_t *path, size_t path_len);

/* ------------------------------------------------------------------------------------------------
 * Signed notes, checkpoints and cosignatures (C2SP signed-note, tlog-checkpoint, tlog-cosignature).
 * Formats and signature type bytes: invariants 6 and 7 above. Parsers are strict and total.
 * ---------------------------------------------------------------------------------------------- */

/* What a signature line asserts; with the key's suite it fixes the signature type identifier. */
typedef enum {
	TDS_LEDGER_SIG_NOTE = 1,       /* a log's signature on its checkpoint (0x01 / 0xFF "tds/sm2-sm3") */
	TDS_LEDGER_SIG_COSIGNATURE = 2 /* a witness's timestamped cosignature (0x04 / 0xFF "tds/sm2-sm3-cosignature/v1") */
} tds_ledger_sig_kind;

/* One signature line of a parsed note. name points into the parsed input (not NUL-terminated).
 * sig holds the bytes after the key id when they fit TDS_LEDGER_SIG_MAX (sig_len), else sig_len is
 * the true length and sig_kept is false (such a line can only be from a key TDS does not use). */
typedef struct tds_ledger_note_sig {
	const char *name;
	size_t name_len;
	uint32_t key_id;
	size_t sig_len;
	bool sig_kept;
	uint8_t sig[TDS_LEDGER_SIG_MAX];
} tds_ledger_note_sig;

/* A parsed signed note. text points into the input and includes its final newline. */
typedef struct tds_ledger_note {
	const char *text;
	size_t text_len;
	size_t nsigs;
	tds_ledger_note_sig sigs[TDS_LEDGER_NOTE_SIGS_MAX];
} tds_ledger_note;

/* The body of a checkpoint: a tree head (origin, size, root hash). */
typedef struct tds_ledger_head {
	char origin[TDS_LEDGER_ORIGIN_MAX + 1];
	uint64_t size;
	uint8_t root[TDS_HASH_LEN];
} tds_ledger_head;

/* Key id (invariant 6) of `key` under `name` for signatures of `kind`. TDS_EINVAL for a bad name
 * ("invalid_key_name": empty, longer than 255 bytes, with spaces, '+', control characters or invalid
 * UTF-8). */
int tds_ledger_key_id(const char *name, tds_ledger_sig_kind kind, const tds_key *key, uint32_t *id);

/* Parses a signed note: valid UTF-8, no control characters but newline, at most
 * TDS_LEDGER_NOTE_MAX bytes, text ending in a newline, a blank line, then 1..64 lines
 * "— <name> <base64>\n" whose base64 decodes to at least 5 bytes. `out` points into `note`, which
 * must outlive it. TDS_EINVAL "invalid_note" naming the line and the fault otherwise. */
int tds_ledger_note_parse(const char *note, size_t len, tds_ledger_note *out);

/* Signs note text (non-empty, ending in '\n', valid note text) with `key` under `name` and appends
 * the whole note (text, blank line, one signature line) to out. */
int tds_ledger_note_sign(const char *text, size_t len, const char *name, const tds_key *key,
			 tds_buf *out);

/* Parses `note` into `out` and verifies it against the (name, key) of a log, per signed-note: lines
 * of other keys are ignored; every line with this name and key id must verify (else TDS_ECRYPTO
 * "bad_signature", the whole note is refused); at least one must exist (else TDS_EAUTH
 * "unknown_signer", naming the key id expected). */
int tds_ledger_note_verify(const char *note, size_t len, const char *name, const tds_key *key,
			   tds_ledger_note *out);

/* Appends the checkpoint body "<origin>\n<size>\n<base64 root>\n" to out. TDS_EINVAL
 * "invalid_origin" for an origin that is empty, too long, or holds spaces, '+' or control
 * characters. */
int tds_ledger_checkpoint_body(const tds_ledger_head *cp, tds_buf *out);

/* Parses a checkpoint body (the note text): exactly three lines; an origin as above; a size in
 * decimal without sign or leading zeros that fits in 63 bits; a root in canonical base64 of exactly
 * 32 bytes. TDS_EINVAL "invalid_checkpoint" naming the line otherwise (extension lines included). */
int tds_ledger_checkpoint_parse(const char *text, size_t len, tds_ledger_head *out);

/* Signs cp with the log's key under name = cp->origin and appends the checkpoint note to out. */
int tds_ledger_checkpoint_sign(const tds_ledger_head *cp, const tds_key *key, tds_buf *out);

/* Verifies a checkpoint note from the log `origin` with its public key `key` (note signature under
 * name = origin) and parses its body into out (note may be NULL). Refuses a note whose origin line
 * differs from `origin` (TDS_EINVAL "wrong_origin"), plus every error of tds_ledger_note_verify and
 * tds_ledger_checkpoint_parse. */
int tds_ledger_checkpoint_open(const char *note, size_t len, const char *origin, const tds_key *key,
			       tds_ledger_head *out, tds_ledger_note *parsed);

/* Cosigns a checkpoint as witness `name` with `key` at `timestamp` (POSIX seconds, below 2^63):
 * `text` is the checkpoint note text (the body, without signature lines), which must parse as a
 * checkpoint. Appends one signature line "— <name> <base64>\n" to out; appending that line to the
 * checkpoint note gives the cosigned note. The caller checks consistency before cosigning. */
int tds_ledger_cosign(const char *text, size_t len, const char *name, const tds_key *key,
		      uint64_t timestamp, tds_buf *line);

/* Finds and verifies the cosignature of witness (name, key) on a checkpoint note, writing its
 * timestamp to *timestamp (may be NULL). TDS_ENOTFOUND "no_cosignature" when the note has no line of
 * that witness key; TDS_ECRYPTO "bad_signature" when one does not verify; TDS_EINVAL for a
 * malformed note, checkpoint body or timestamp. */
int tds_ledger_cosignature_verify(const char *note, size_t len, const char *name, const tds_key *key,
				  uint64_t *timestamp);

/* ------------------------------------------------------------------------------------------------
 * The ledger of a node
 * ---------------------------------------------------------------------------------------------- */

typedef struct tds_ledger tds_ledger;

typedef struct tds_ledger_opts {
	tds_store *store;     /* required, borrowed; must outlive the ledger */
	tds_suite suite;      /* required: the node's suite (tree hash, payload AEAD) */
	const char *origin;   /* checkpoint origin, e.g. "tds.local/node_01J…"; NULL = the stored one */
	const tds_key *key;   /* node private key for checkpoints (borrowed); NULL = cannot checkpoint */
	const uint8_t *master; /* 32-byte node master key (copied into a derived KEK); NULL = cannot
				  append or open payloads */
	bool nondurable;      /* group commit with synchronous=OFF (benchmarks only: not durable) */
	size_t max_batch;     /* entries per group commit at most; 0 = 8192 */
} tds_ledger_opts;

/* Opens the ledger on the store: runs the "ledger" migrations, checks the stored suite and origin
 * against opts (TDS_ECONFLICT "suite_mismatch" / "origin_mismatch"), loads the tree state.
 * TDS_EINVAL for missing options or a key of another suite. */
int tds_ledger_open(const tds_ledger_opts *opts, tds_ledger **out);

/* Stops the committer after it has answered every queued append, and frees the ledger. No call on
 * the ledger may run concurrently or later. NULL is fine. */
void tds_ledger_free(tds_ledger *lg);

/* The suite and origin in use (origin: static for the ledger's lifetime). */
tds_suite tds_ledger_suite(const tds_ledger *lg);
const char *tds_ledger_origin(const tds_ledger *lg);

/* An actor: who caused the evidenced event. NULL members are JSON null. */
typedef struct tds_ledger_actor {
	const char *org, *account, *node;
} tds_ledger_actor;

/* An evidence entry to append. Strings are printable ASCII without '"' or '\' (ids and codes):
 * type 1..64 bytes of [a-z0-9_] segments joined by '.', starting with a letter ("identity.account_created");
 * actor members and subjects 1..128 bytes; at most 32 subjects. */
typedef struct tds_ledger_entry_in {
	const char *type;
	int64_t time_ms;              /* 0 = now */
	tds_ledger_actor actor;
	const char *const *subjects;  /* nsubjects ids of the things the entry is about */
	size_t nsubjects;
	const json_t *payload;        /* any JSON (integers only, see base.h); NULL = null */
} tds_ledger_entry_in;

/* Appends durably with group commit: the entry is prepared (payload sealed) on the calling thread,
 * then queued; the committer writes every queued entry in one BEGIN IMMEDIATE … COMMIT and the
 * syncer makes the batch durable with one fdatasync (see Threads above). Returns once the entry is
 * on disk, with its position in *index. When the transaction fails nothing of the batch is written
 * and every caller of the batch gets the error; when the sync fails (TDS_EIO "fsync_failed", a
 * failing disk) the entry is committed but may not survive a power cut. TDS_EINVAL for a malformed
 * entry ("invalid_entry", naming the field). */
int tds_ledger_append(tds_ledger *lg, const tds_ledger_entry_in *e, uint64_t *index);

/* Appends n entries (1..TDS_LEDGER_BATCH_MAX) durably in one go, with consecutive indexes from
 * *first: the whole batch is prepared on the calling thread, then group-committed like
 * tds_ledger_append (it may share its transaction with other callers' entries). All or nothing: a
 * malformed entry fails the call before anything is queued ("batch entry 3: entry field 'type' …"). */
int tds_ledger_append_batch(tds_ledger *lg, const tds_ledger_entry_in *e, size_t n, uint64_t *first);

/* Appends inside the caller's open write transaction on `db` (from tds_store_tx: BEGIN IMMEDIATE),
 * so that a state change and its evidence commit together or not at all. *index is the entry's
 * position if the transaction commits; after a rollback nothing remains and the next append takes
 * the same index. The in-memory tree advances only from committed data (it catches up lazily).
 * TDS_EINVAL "no_transaction" when db is not inside a transaction. */
int tds_ledger_append_tx(tds_ledger *lg, sqlite3 *db, const tds_ledger_entry_in *e, uint64_t *index);

/* The committed tree size (number of entries) and, if root is not NULL, its root hash. */
int tds_ledger_size(tds_ledger *lg, uint64_t *size, uint8_t root[TDS_HASH_LEN]);

/* The root hash of the tree at any committed size (0 gives H("")). TDS_EINVAL "invalid_size" beyond
 * the committed size. */
int tds_ledger_root(tds_ledger *lg, uint64_t size, uint8_t root[TDS_HASH_LEN]);

/* Inclusion proof PATH(index, D[size]) from stored nodes: O(log size) reads. TDS_EINVAL
 * "invalid_size" when size exceeds the committed size, "invalid_index" when index >= size. */
int tds_ledger_inclusion_proof(tds_ledger *lg, uint64_t index, uint64_t size, tds_ledger_proof *out);

/* Consistency proof PROOF(size1, D[size2]), size1 <= size2 <= committed size (empty when size1 is 0
 * or equals size2). */
int tds_ledger_consistency_proof(tds_ledger *lg, uint64_t size1, uint64_t size2,
				 tds_ledger_proof *out);

/* Issues a checkpoint for the committed size, signed with the node key, stores it and appends the
 * note to `note` (may be NULL) and the body to *cp (may be NULL). When the latest stored checkpoint
 * already has this size, returns that one instead (checkpoints on an interval do not pile up).
 * TDS_EINVAL "no_signing_key" when the ledger was opened without a key. */
int tds_ledger_checkpoint(tds_ledger *lg, tds_buf *note, tds_ledger_head *cp);

/* The latest stored checkpoint. TDS_ENOTFOUND "no_checkpoint" before the first. */
int tds_ledger_checkpoint_latest(tds_ledger *lg, tds_buf *note, tds_ledger_head *cp);

/* A stored entry. */
typedef struct tds_ledger_entry {
	uint64_t index;
	tds_buf leaf;                   /* leaf bytes d */
	tds_buf payload_sealed;         /* sealed payload bytes (invariant 4) */
	uint8_t leaf_hash[TDS_HASH_LEN];
	bool shredded;                  /* no wrapped data key is left */
} tds_ledger_entry;

/* Reads entry `index` into out (call tds_ledger_entry_release after). TDS_ENOTFOUND
 * "no_such_entry" beyond the committed size. */
int tds_ledger_entry_get(tds_ledger *lg, uint64_t index, tds_ledger_entry *out);
void tds_ledger_entry_release(tds_ledger_entry *e);

/* The entry as served: the leaf's members plus "payload_sealed" (base64), in canonical order.
 * Caller owns *out. */
int tds_ledger_entry_json(const tds_ledger_entry *e, json_t **out);

/* Opens the sealed payload of entry `index` (this node's wrapped key) into *payload (caller owns).
 * TDS_ENOTFOUND "payload_shredded" when its data keys were destroyed; TDS_ECRYPTO "decrypt_failed"
 * for a payload or key that does not open or does not match payload_hash. */
int tds_ledger_payload_open(tds_ledger *lg, uint64_t index, json_t **payload);

/* Crypto-shreds entry `index`: deletes every wrapped data key of it and, in the same transaction,
 * appends the evidence entry "ledger.payload_shredded" (subjects: none; payload
 * {"index":index,"reason":reason}) by `actor`, whose position goes to *evidence (may be NULL).
 * Runs in its own transaction when db is NULL, else inside the caller's. Shredding twice is allowed
 * (the second one finds no key and still leaves evidence). */
int tds_ledger_shred(tds_ledger *lg, sqlite3 *db, uint64_t index, const char *reason,
		     const tds_ledger_actor *actor, uint64_t *evidence);

/* For benchmarks and tests only: appends `n` raw leaf hashes (no entries) to the tree, committing
 * every 65,536. `tds ledger verify` reports such a log as missing its entries. */
int tds_ledger_append_leaf_hashes(tds_ledger *lg, const uint8_t *hashes, size_t n);

/* ------------------------------------------------------------------------------------------------
 * Verification of a stored log (`tds ledger verify --dir DIR`)
 * ---------------------------------------------------------------------------------------------- */

typedef struct tds_ledger_verify_opts {
	const tds_key *key;  /* the log's public key (node.pub); required; its suite is the log's */
	const char *origin;  /* expected origin; NULL = the one stored in ledger_meta */
} tds_ledger_verify_opts;

typedef struct tds_ledger_verify_result {
	bool ok;
	uint64_t entries;             /* entries read (all of them when ok) */
	uint64_t checkpoints;         /* checkpoints whose signature, root and consistency checked */
	uint8_t root[TDS_HASH_LEN];   /* root recomputed over the entries read */
	bool has_index;               /* the first error is tied to an entry */
	uint64_t error_index;         /* that entry's index */
	char error_code[48];          /* snake_case, e.g. "leaf_hash_mismatch" */
	char error[512];              /* what is wrong and where */
} tds_ledger_verify_result;

/* Recomputes the log from the store's entries, streaming (no per-entry allocation): each entry's
 * index field equals its position, its search columns match its leaf, its leaf hash and every
 * complete subtree equal the stored nodes, every stored checkpoint is signed by `key` for the
 * origin and has the recomputed root of its size, successive checkpoints are consistent (proofs
 * from the stored nodes), and nothing is stored beyond the last entry. Stops at the first
 * discrepancy and describes it in *r (r->ok false). Returns 0 when the verification ran (whatever
 * its outcome), or a negative code when it could not (database unreadable, bad options). */
int tds_ledger_verify(tds_store *store, const tds_ledger_verify_opts *opts, tds_ledger_verify_result *r);

/* ------------------------------------------------------------------------------------------------
 * Proofs as JSON (the API's shape): an array of base64 strings, one 32-byte hash each.
 * ---------------------------------------------------------------------------------------------- */

json_t *tds_ledger_proof_to_json(const tds_ledger_proof *p);
/* TDS_EINVAL "invalid_proof" for a non-array, more than TDS_LEDGER_PROOF_MAX items, or an item that
 * is not canonical base64 of exactly 32 bytes. */
int tds_ledger_proof_from_json(const json_t *arr, tds_ledger_proof *p);

/* ------------------------------------------------------------------------------------------------
 * Witnessing (witness.c). A witness keeps, per log origin it was told to witness, the latest
 * checkpoint it cosigned; it cosigns a new checkpoint of that log only when the log's signature
 * checks and a consistency proof from the cosigned one checks. A split view (same size and another
 * root, or a larger tree the log itself cannot prove consistent) is refused, kept as evidence
 * (witness_split_views, plus a "ledger.split_view" entry in the witness's own ledger) and logged
 * as the alert event "split_view_detected". Each cosignature is evidenced in the witness's own
 * ledger ("ledger.cosigned", payload {origin, size, root}): on the operator node that anchors every
 * connector's log in the central log.
 * ---------------------------------------------------------------------------------------------- */

typedef struct tds_witness tds_witness;

typedef struct tds_witness_opts {
	tds_store *store;    /* borrowed */
	const char *name;    /* witness key name, e.g. "tds.local/node_01J…" (the node's origin) */
	const tds_key *key;  /* the node's private key (borrowed) */
	tds_ledger *own;     /* the node's own ledger for evidence; may be NULL */
} tds_witness_opts;

/* Runs the "witness" migrations (also used by the log side's publishing state). */
int tds_witness_migrate(tds_store *store);
int tds_witness_open(const tds_witness_opts *opts, tds_witness **out);
void tds_witness_free(tds_witness *w);
const char *tds_witness_name(const tds_witness *w);

/* Starts witnessing the log `origin` whose checkpoints are signed by the public key in key_pem;
 * url (may be NULL) is where the witness can ask the log for consistency proofs. TDS_ECONFLICT
 * "log_exists" when already witnessed. */
int tds_witness_log_add(tds_witness *w, const char *origin, const char *key_pem, const char *url);
/* {"witness":name,"items":[{origin,url,size,root,added_at,cosigned_at}]} */
int tds_witness_log_list(tds_witness *w, json_t **out);
/* {"items":[{id,origin,detected_at,reason,known:{size,note},presented:{size,note}}]} */
int tds_witness_split_views(tds_witness *w, json_t **out);

/* The add-checkpoint step. `note` is the log's signed checkpoint; old_size is the size the log
 * believes this witness cosigned last, and proof is PROOF(old_size, D[new size]). On success appends
 * the cosignature line to `line`. *known_size is the witness's size for the log afterwards.
 * Errors: TDS_ENOTFOUND "unknown_log"; TDS_ECRYPTO "bad_signature" / TDS_EAUTH "unknown_signer"
 * (not signed by the log); TDS_ECONFLICT "old_size_mismatch" or "stale_checkpoint" (retry from
 * *known_size); TDS_ECONFLICT "split_view" (evidence kept); TDS_EUNPROC "bad_consistency_proof". */
int tds_witness_cosign(tds_witness *w, const char *note, size_t len, uint64_t old_size,
		       const tds_ledger_proof *proof, tds_buf *line, uint64_t *known_size);

/* ------------------------------------------------------------------------------------------------
 * Publishing (publish.c): the log's side of witnessing.
 * ---------------------------------------------------------------------------------------------- */

/* Issues (or reuses) the checkpoint for the committed size and asks each witness (base URL of a
 * node's management API) to cosign it, sending a consistency proof from the size that witness last
 * cosigned (kept in ledger_witness_state; a witness that knows another size is retried once from
 * its size). Each cosignature is verified with the witness's public key (read from its
 * /api/v1/node) and stored with the checkpoint. *report (may be NULL): {"checkpoint":{origin,size,
 * root},"witnesses":[{url,ok,witness?,error?}]}. Returns 0 even when witnesses fail (see the report);
 * negative only when no checkpoint could be issued. */
int tds_ledger_publish(tds_ledger *lg, const char *const *urls, size_t n, json_t **report);

/* Makes publishing sign its calls to witnesses (RFC 9421, http.h) with key under keyid, e.g. a
 * connector's node key under its certificate serial once it has enrolled. key is borrowed and must
 * outlive the ledger; keyid is copied (1-256 visible ASCII). NULL key: unsigned calls, as before.
 * May be called while a publish runs (the next witness call picks it up). */
int tds_ledger_set_signer(tds_ledger *lg, const tds_key *key, const char *keyid);

/* The latest checkpoint note with every cosignature it received appended (a cosigned checkpoint,
 * C2SP), its head in *cp. TDS_ENOTFOUND "no_checkpoint" before the first. */
int tds_ledger_checkpoint_cosigned(tds_ledger *lg, tds_buf *note, tds_ledger_head *cp);

/* ------------------------------------------------------------------------------------------------
 * Audit queries (穿透式查询, search.c) and HTTP (routes.c)
 * ---------------------------------------------------------------------------------------------- */

typedef struct tds_ledger_query {
	const char *type;      /* exact type, or a prefix ending in '.' ("identity.") */
	const char *actor;     /* matches actor org, account or node */
	const char *subject;   /* one of the entry's subjects */
	int64_t from_ms, to_ms; /* time range [from, to); 0 = open */
	uint64_t cursor;       /* first index to consider (0 = from the start; next_cursor of a page) */
	int limit;             /* 1..500 */
} tds_ledger_query;

/* Entries matching q in index order, each with an inclusion proof against the latest checkpoint
 * (or the committed size before the first checkpoint): {"size":n,"checkpoint":note|null,
 * "items":[{"entry":{…},"leaf_hash":b64,"proof":[b64…]}],"next_cursor":"<index>"|null}. */
int tds_ledger_search(tds_ledger *lg, const tds_ledger_query *q, json_t **out);

struct tds_router;
/* Registers the ledger's routes on the management API router. witness may be NULL (no witness
 * routes answer then with 404 "not_a_witness"); witnesses lists the URLs publish asks. */
typedef struct tds_ledger_routes_ctx {
	tds_ledger *ledger;
	tds_witness *witness;
	const char *const *witnesses;
	size_t nwitnesses;
} tds_ledger_routes_ctx;
int tds_ledger_routes(tds_ledger_routes_ctx *ctx, struct tds_router *r);

#endif
