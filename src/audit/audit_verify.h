/*
 * keyhole-audit: verification of an audit log (keyhole-audit(5)).  Pure:
 * the files are given as buffers, the answer is a report; no I/O, so the
 * fuzz harness (tests/fuzz/fuzz_audit_verify.c) runs exactly this.
 *
 * The files are read as one chain, in the order given: every record's
 * seq one more than the one before, its "prev" the SHA-256 of the one
 * before (the first record of a chain has 64 zeros; a log may also begin
 * in the middle of one, when older files are not given), every
 * checkpoint's Ed25519 signature valid -- with a --pubkey key when any is
 * given, else with the key the log's start and rotate records name.  A
 * line that is not a record is accepted only when the record right after
 * it says it is the line a crash cut short (a "recover" event with its
 * exact size and SHA-256).  At the first record that breaks the chain the
 * verifier looks around it (KH_AUDIT_LOOKAROUND records) to say what
 * happened: a record edited, removed, inserted or moved, files given out
 * of order, a signature that does not verify.  A log that holds together
 * must also end with the final checkpoint keyhole writes when it stops:
 * otherwise what follows its last checkpoint is not signed, and records
 * after it may have been cut off.
 */
#ifndef KH_AUDIT_VERIFY_H
#define KH_AUDIT_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit_format.h"

/* The verdicts, which are also keyhole-audit's exit statuses. */
enum av_kind {
	AV_OK = 0,		/* whole, every signature valid, closed by the
				   final checkpoint */
	AV_USAGE = 2,		/* (keyhole-audit: usage, unreadable file or key) */
	AV_TRUNCATED = 3,	/* holds together up to its last checkpoint, but
				   does not end with the final one: records after
				   it are unsigned or cut off (a bridge still
				   running, a crash not yet restarted, or a cut) */
	AV_EDITED = 4,		/* a record's bytes changed (or a line that is no
				   record) */
	AV_REMOVED = 5,		/* records missing from the chain */
	AV_INSERTED = 6,	/* a record that is not part of the chain */
	AV_REORDERED = 7,	/* records moved */
	AV_SIGNATURE = 8,	/* a checkpoint whose signature does not verify,
				   or by a key not given with --pubkey */
	AV_FILES = 9,		/* the files do not follow each other: out of
				   order, or one missing */
};

struct av_file {
	const char *name;
	const uint8_t *data;
	size_t len;
};

/* Where a record is: file index and line number (from 1). */
struct av_where {
	size_t file;
	uint64_t line;
};

#define AV_LIST_MAX 8

struct av_report {
	enum av_kind kind;
	struct av_where where;		/* the first broken record (kind != OK) */
	char why[768];
	/* What was read (up to the break, if any). */
	uint64_t records, requests, forwarded, refused_parent, refused_child;
	uint64_t events, checkpoints;
	uint64_t first_seq, last_seq;
	bool mid_chain;			/* the first record is not a chain's first */
	char first_time[40], last_time[40];
	size_t runs;			/* start events */
	char run_ids[AV_LIST_MAX][65];	/* their runId (operator's), "" if none */
	bool have_ckpt;
	struct av_where ckpt;
	uint64_t ckpt_seq;
	char ckpt_time[40];
	bool ckpt_final;
	uint64_t after_ckpt;		/* records after the last checkpoint */
	size_t recoveries;		/* recover records: keyhole resumed a
					   file it had not closed (a crash) */
	struct {
		struct av_where where;	/* the recover record */
		uint64_t torn_bytes;	/* the line cut short before it, or 0 */
	} recover[AV_LIST_MAX];
	size_t nkeys;			/* fingerprints that signed checkpoints */
	char keys[AV_LIST_MAX][2 * AUDIT_FP_LEN + 1];
	bool keys_given;		/* checked against --pubkey keys */
};

struct av_opts {
	/* Raw Ed25519 public keys (--pubkey): every checkpoint must verify
	 * with one of them.  None: with the keys the log's records name. */
	const uint8_t (*pub)[AUDIT_PUBKEY_LEN];
	size_t npub;
	/* --partial: the log may begin in the middle of a chain (its older
	 * files deleted); otherwise its first record must be a chain's
	 * first (seq 1), or records before it count as removed. */
	bool partial;
};

/* Verify files[0..n) as one log.  Fills *rep and returns rep->kind. */
enum av_kind av_verify(const struct av_file *files, size_t n,
    const struct av_opts *o, struct av_report *rep);

/* The verdict's name ("ok", "truncated", "edited", ...). */
const char *av_kind_name(enum av_kind k);

#endif
