/*
 * keyhole audit log: the state shared by audit.c, audit_record.c,
 * audit_file.c and audit_crypto.c.  Not for the rest of the parent,
 * which uses audit.h.
 */
#ifndef KH_AUDIT_INT_H
#define KH_AUDIT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "audit.h"
#include "audit_format.h"
#include "priv.h"
#include "secret.h"
#include "hex.h"
#include "sha256.h"

_Static_assert(AUDIT_HASH_LEN == SHA256_LEN, "the audit log's digests are SHA-256");

/* The Ed25519 key: its 32-byte private seed in a locked page like the
 * credential's (the PEM it came from is wiped there), the raw public key
 * and its fingerprint. */
struct audit_key {
	struct secret page;		/* seed at page.buf, page.len == 32 */
	uint8_t pub[AUDIT_PUBKEY_LEN];
	char pub_b64[AUDIT_PUBKEY_B64_LEN + 1];
	char fp_hex[2 * AUDIT_FP_LEN + 1];
};

/* Records appended and not yet written. */
struct audit_buf {
	char *p;
	size_t len, cap;
};

/* A record being built (audit_record.c): a line in buf[0..off), cut
 * (and so refused) when it would not fit. */
struct audit_line {
	char buf[KH_AUDIT_LINE_MAX];
	size_t off;
};

struct audit {
	bool on;
	bool failing;		/* the file cannot be written */
	bool closed;
	struct parent *p;
	struct event_base *base;
	/* Options. */
	uint32_t ckpt_records, ckpt_secs;
	uint64_t max_bytes;
	bool sync_all;
	/* The file: FILE's directory (by fd) and name, the open fd, its
	 * size as written, the seq of its first record. */
	int dirfd;
	int fd;
	char dir[4096];
	char name[256];
	uint64_t size;
	uint64_t file_first_seq;
	/* The chain: the next record's seq, the digest of the last record
	 * appended (its "prev"), records since the last checkpoint. */
	uint64_t seq;
	uint8_t head[AUDIT_HASH_LEN];
	uint64_t since_ckpt;
	char run[33];
	struct audit_key key;
	/* Appended, not yet written; whether what is pending needs an
	 * fdatasync before the answers held for it go out. */
	struct audit_buf buf;
	bool need_sync;
	uint64_t sync_records;		/* records waiting for fdatasync */
	int64_t sync_first_us;		/* since (audit_now_us) */
	/* Children with answers held for the next flush. */
	struct child *holders;
	/* Records not written: the child's over its bucket, anything over
	 * KH_AUDIT_PENDING_MAX while failing, memory. */
	uint64_t dropped_child, dropped_other;
	struct relay_bucket child_bucket;
	int64_t dropped_ms;		/* when the last "dropped" record went */
	struct event *flush_ev, *ckpt_ev, *retry_ev, *usr1_ev, *sync_ev;
	bool flush_active;
};

extern struct audit audit_g;

/* audit.c */
/* Append one finished line (no '\n'): the chain advances.  sync: the
 * answers held with it wait for fdatasync.  Returns 0, or -1 when it
 * could not be kept (memory): it is counted as dropped. */
int audit_append(const struct audit_line *l, bool sync);
/* Write what is pending now (and fdatasync when sync or needed), then
 * release the held answers.  Returns 0, or -1: the log is failing. */
int audit_flush_now(bool sync);
void audit_schedule(void);
/* CLOCK_MONOTONIC, microseconds (the group commit's clock). */
int64_t audit_now_us(void);

/* audit_record.c */
void audit_line_begin(struct audit_line *l, const char *type);
void audit_line_str(struct audit_line *l, const char *k, const char *v);
void audit_line_strn(struct audit_line *l, const char *k, const char *v,
    size_t n);
void audit_line_int(struct audit_line *l, const char *k, long long v);
void audit_line_bool(struct audit_line *l, const char *k, bool v);
void audit_line_null(struct audit_line *l, const char *k);
void audit_line_hex(struct audit_line *l, const char *k, const uint8_t *p,
    size_t n);
/* Close the object; false when the line did not fit. */
bool audit_line_end(struct audit_line *l);
/* The key's fields (start and rotate records carry them so that each
 * file names the key that signs it). */
void audit_line_key(struct audit_line *l);
/* Append a signed checkpoint (final: keyhole stops). */
int audit_checkpoint(bool final);
/* The "start" record (audit_open) and a "dropped" record if any were. */
int audit_record_start(void);
void audit_record_dropped(void);

/* audit_file.c */
/* Open FILE (creating it 0600), resume its chain: a torn last line is
 * kept and reported by a "recover" record.  Returns 0, or -1 after
 * log_fatal. */
int audit_file_open(const char *path);
/* Rotate: a checkpoint closes the current file, which is renamed
 * FILE.<seq of its first record> (by_size) or was moved away by the
 * operator (SIGUSR1), and the chain goes on in a new FILE. */
void audit_file_rotate(bool by_size);
void audit_file_usr1(evutil_socket_t sig, short what, void *arg);

/* audit_crypto.c (SHA-256 and hex: sha256.h) */
/* Load the key from path ($CREDENTIALS_DIRECTORY/keyhole-audit-key when
 * NULL).  Returns 0, or -1 after log_fatal. */
int audit_key_load(const char *path, struct audit_key *k);
void audit_key_free(struct audit_key *k);
/* Ed25519 signature of AUDIT_SIG_CONTEXT || msg[0..n), as base64 into
 * out (AUDIT_SIG_B64_LEN + NUL).  Returns 0 or -1. */
int audit_key_sign(const struct audit_key *k, const char *msg, size_t n,
    char out[AUDIT_SIG_B64_LEN + 1]);

#endif
