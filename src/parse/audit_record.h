/*
 * keyhole audit records, read back: one line of an audit log parsed and
 * checked field by field, for the verifier (keyhole-audit).  The line is
 * hostile input (whoever could write the file may have written it), so
 * this lives in src/parse/, which the parent never links, and is fuzzed
 * (fuzz_audit_verify).  The format: audit_format.h, docs/keyhole-audit.5.
 *
 * Checked: at most KH_AUDIT_LINE_MAX bytes, no NUL; it begins with
 * AUDIT_PREFIX and a seq (1..2^63, no leading zero); one JSON object
 * with no duplicate key; "v" 1; "time" a string; "run" 32 and "prev" 64
 * lower-case hex digits; "type" request, event or checkpoint, with the
 * fields that type needs (below).  Other fields are not looked at: the
 * chain and the signatures cover every byte anyway.
 */
#ifndef KH_AUDIT_RECORD_H
#define KH_AUDIT_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit_format.h"

enum arec_type { AREC_REQUEST, AREC_EVENT, AREC_CHECKPOINT };

struct arec {
	uint64_t seq;
	uint8_t prev[AUDIT_HASH_LEN];
	bool genesis;			/* prev is 64 zeros */
	enum arec_type type;
	char time[40];
	char run[2 * 16 + 1];
	/* type request: "source" child or parent, "decision" */
	bool from_child;
	bool forwarded;
	/* type event: "event" ([a-z-], 1..23); the start and rotate events
	 * name the key ("key", "pubkey"), recover its torn line
	 * ("tornBytes", "tornSha256" or null), start the operator's run id
	 * ("runId", at most 64 bytes kept, or null) */
	char event[24];
	bool has_key;
	uint8_t fp[AUDIT_FP_LEN];
	uint8_t pub[AUDIT_PUBKEY_LEN];
	uint64_t torn_bytes;
	bool has_torn_sha;
	uint8_t torn_sha[AUDIT_HASH_LEN];
	char run_id[65];
	/* type checkpoint: "key" (fp), "records", "final", and "sig", the
	 * last field: the line ends with ,"sig":"<88 base64>"} and the
	 * signature covers AUDIT_SIG_CONTEXT || line[0..signed_len) */
	uint64_t records;
	bool final;
	uint8_t sig[AUDIT_SIG_LEN];
	size_t signed_len;
};

/* Returns 0 and fills *r, or -1 with *why (a static string). */
int arec_parse(const uint8_t *line, size_t len, struct arec *r,
    const char **why);

#endif
