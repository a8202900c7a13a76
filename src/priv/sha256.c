/*
 * SHA-256 for the parent (sha256.h), from OpenSSL's libcrypto: no
 * hand-written cryptography.  The algorithm is fetched once and one
 * context reused (the parent is one thread): the audit log hashes every
 * record, body and query, and a digest of a short record then costs well
 * under a microsecond instead of a provider lookup each time.
 */
#include <string.h>

#include <openssl/evp.h>

#include "hex.h"
#include "sha256.h"

static EVP_MD *sha256_md;
static EVP_MD_CTX *sha256_ctx;

int
sha256_init(void)
{
	if (sha256_md == NULL)
		sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (sha256_ctx == NULL)
		sha256_ctx = EVP_MD_CTX_new();
	return sha256_md != NULL && sha256_ctx != NULL ? 0 : -1;
}

void
sha256(const void *p, size_t n, uint8_t out[SHA256_LEN])
{
	unsigned int len = 0;

	if (sha256_init() < 0 ||
	    EVP_DigestInit_ex2(sha256_ctx, sha256_md, NULL) != 1 ||
	    EVP_DigestUpdate(sha256_ctx, n > 0 ? p : "", n) != 1 ||
	    EVP_DigestFinal_ex(sha256_ctx, out, &len) != 1 ||
	    len != SHA256_LEN)
		memset(out, 0, SHA256_LEN);
}

void
sha256_hex(const void *p, size_t n, char hex[2 * SHA256_LEN + 1])
{
	uint8_t d[SHA256_LEN];

	sha256(p, n, d);
	hex_lower(d, SHA256_LEN, hex);
}
