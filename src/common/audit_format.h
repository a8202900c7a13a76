/*
 * keyhole's audit log format: what the writer (the parent, src/priv/
 * audit*.c), the record parser (src/parse/audit_record.c) and the
 * verifier (keyhole-audit, src/audit/) agree on.  The whole schema, field
 * by field: docs/keyhole-audit.5.
 *
 * A log is one or more files of lines, each line one JSON object ending
 * in '\n', written in this field order and never reformatted:
 *
 *   {"v":1,"seq":N,"time":"<ISO 8601 UTC>","run":"<32 hex>",
 *    "prev":"<64 hex>","type":"request"|"event"|"checkpoint", ...}
 *
 *   v      AUDIT_VERSION; a verifier refuses a version it does not know
 *   seq    1, 2, 3, ... over the whole chain, across files and restarts
 *   run    random per `keyhole serve` start (not --run-id)
 *   prev   SHA-256 of the previous record's exact bytes (without its
 *          '\n'); 64 zeros for the first record of a new chain.  The
 *          first record of a rotated file links to the last record of
 *          the file before it.
 *
 * A checkpoint's last field is the signature, "sig": base64 of the
 * Ed25519 signature of AUDIT_SIG_CONTEXT followed by the record's bytes
 * up to (not including) ,"sig":" -- so it signs prev, and through prev
 * every record before it.  A checkpoint written when keyhole stops has
 * "final":true right before "sig"; the parent resuming a file reads that
 * to tell a clean stop from a crash.
 */
#ifndef KH_AUDIT_FORMAT_H
#define KH_AUDIT_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define AUDIT_VERSION		1
/* Every record begins with exactly these bytes, then seq's digits. */
#define AUDIT_PREFIX		"{\"v\":1,\"seq\":"
/* Raw SHA-256 and Ed25519 sizes, bytes. */
#define AUDIT_HASH_LEN		32
#define AUDIT_SIG_LEN		64
#define AUDIT_PUBKEY_LEN	32
/* A key's fingerprint: the first 16 bytes of SHA-256(raw public key),
 * written as 32 lower-case hex digits in "key". */
#define AUDIT_FP_LEN		16
/* base64 (with padding) of a signature and of a raw public key. */
#define AUDIT_SIG_B64_LEN	88
#define AUDIT_PUBKEY_B64_LEN	44
/* The signature field and what follows it: ,"sig":"<88>"} */
#define AUDIT_SIG_FIELD		",\"sig\":\""
#define AUDIT_SIG_TAIL_LEN	(sizeof(AUDIT_SIG_FIELD) - 1 + \
				 AUDIT_SIG_B64_LEN + 2)
/* Right before the signature field in the checkpoint keyhole writes
 * when it stops. */
#define AUDIT_FINAL_FIELD	",\"final\":true"
/* What a checkpoint's signature covers starts with this (domain
 * separation: no other message signed with the key can pass for one). */
#define AUDIT_SIG_CONTEXT	"keyhole-audit-v1 checkpoint\n"

/*
 * The seq of a record line, from its first bytes (exact, not through a
 * double): AUDIT_PREFIX, 1 to 19 digits without a leading zero, at most
 * 2^63, then ','.  0 and *seq set, or -1 if the line does not begin so.
 * The verifier's record parser and the parent resuming a file both read
 * it here.
 */
static inline int
audit_seq_parse(const void *line, size_t n, uint64_t *seq)
{
	const unsigned char *p = line;
	size_t pl = sizeof(AUDIT_PREFIX) - 1, i;
	uint64_t v = 0;

	if (n < pl + 2 || memcmp(p, AUDIT_PREFIX, pl) != 0)
		return -1;
	for (i = pl; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
		if (i - pl >= 19)
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (i == pl || i >= n || p[i] != ',' || p[pl] == '0' ||
	    v > (UINT64_C(1) << 63))
		return -1;
	*seq = v;
	return 0;
}

#endif
