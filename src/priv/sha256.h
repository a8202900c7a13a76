/*
 * SHA-256 (libcrypto) in the parent: fingerprints the operator compares
 * (the policy's hash in keyhole_policy_info, metrics.c; an upload's hash,
 * connect_launch.c) and the audit log's digests (audit*.c: the chain,
 * bodies, queries).  Not for secrets.
 */
#ifndef KH_SHA256_H
#define KH_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32u

/* Fetch the algorithm and make the one reusable context (sha256() does it
 * on first use; the audit log does it at start-up to fail there).
 * Returns 0, or -1 without memory or without OpenSSL's default provider. */
int sha256_init(void);
/* The digest of p[0..n) (p may be NULL when n is 0); all zeros if
 * OpenSSL fails (never seen): visibly wrong, never stale. */
void sha256(const void *p, size_t n, uint8_t out[SHA256_LEN]);
/* Lower-case hex into hex[65] (hex_lower, hex.h). */
void sha256_hex(const void *p, size_t n, char hex[2 * SHA256_LEN + 1]);

#endif
