/*
 * SHA-256 (libcrypto), for fingerprints the operator compares: the
 * policy's hash in keyhole_policy_info (metrics.c).  Not for secrets.
 */
#ifndef KH_SHA256_H
#define KH_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32u

void sha256(const uint8_t *p, size_t n, uint8_t out[SHA256_LEN]);
/* Lower-case hex into hex[65]. */
void sha256_hex(const uint8_t *p, size_t n, char hex[2 * SHA256_LEN + 1]);

#endif
