/*
 * SHA-256 for fingerprints the operator compares (sha256.h), from
 * OpenSSL's libcrypto: no hand-written cryptography.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "sha256.h"

void
sha256(const uint8_t *p, size_t n, uint8_t out[SHA256_LEN])
{
	unsigned int len = 0;

	/* EVP_Digest fails only without memory; a zero digest then makes
	 * the fingerprint visibly wrong rather than stale. */
	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 ||
	    len != SHA256_LEN)
		memset(out, 0, SHA256_LEN);
}

void
sha256_hex(const uint8_t *p, size_t n, char hex[2 * SHA256_LEN + 1])
{
	uint8_t d[SHA256_LEN];

	sha256(p, n, d);
	for (size_t i = 0; i < SHA256_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}
