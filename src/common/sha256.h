/* SHA-256 (FIPS 180-4), for the gateway upload's hash check (connect
 * launcher).  Not for secrets: no constant-time concern. */
#ifndef KH_SHA256_H
#define KH_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t n;
};

void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *p, size_t len);
void sha256_final(struct sha256 *c, uint8_t out[32]);
/* out: 64 lower-case hex digits and a NUL. */
void sha256_hex(const uint8_t d[32], char out[65]);

#endif
