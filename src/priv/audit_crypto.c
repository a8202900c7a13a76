/*
 * keyhole audit log: the Ed25519 key, with OpenSSL's libcrypto (no
 * cryptography of keyhole's own; SHA-256 is sha256.c's, the parent's one).
 *
 * The key file is read as the credential is (secret.c: a regular file,
 * not accessible by group or others, into a locked page excluded from
 * core dumps and from fork), as `openssl genpkey -algorithm ed25519`
 * writes it: a PEM PKCS#8 private key.  Once decoded, the PEM text is
 * wiped and only the 32-byte private seed stays, in that page; each
 * signature makes OpenSSL's key object from it and frees it at once
 * (OpenSSL wipes a private key when it frees it), so the one lasting
 * copy is the locked one.  A signature costs ~60 us: checkpoints are
 * every N records or T seconds, never per request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "audit_int.h"
#include "log.h"
#include "sha256.h"

/* A PEM private key file, bytes: an Ed25519 one is 119. */
#define AUDIT_KEY_FILE_MAX 4096u

static int
audit_key_decode(const struct secret *pem, const char *src,
    struct audit_key *k, uint8_t seed[32])
{
	BIO *bio = BIO_new_mem_buf(pem->buf, (int)pem->len);
	EVP_PKEY *pk = NULL;
	size_t sl = 32, pl = AUDIT_PUBKEY_LEN;
	uint8_t fp[AUDIT_HASH_LEN];
	int rc = -1;

	if (bio == NULL)
		return -1;
	pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
	BIO_free(bio);
	if (pk == NULL || EVP_PKEY_get_base_id(pk) != EVP_PKEY_ED25519) {
		log_fatal("audit key %s is not an Ed25519 private key in PEM "
		    "(make one with: openssl genpkey -algorithm ed25519 -out "
		    "FILE)", src);
		goto out;
	}
	if (EVP_PKEY_get_raw_private_key(pk, seed, &sl) != 1 || sl != 32 ||
	    EVP_PKEY_get_raw_public_key(pk, k->pub, &pl) != 1 ||
	    pl != AUDIT_PUBKEY_LEN) {
		log_fatal("audit key %s: cannot read the key", src);
		goto out;
	}
	EVP_EncodeBlock((unsigned char *)k->pub_b64, k->pub, AUDIT_PUBKEY_LEN);
	sha256(k->pub, AUDIT_PUBKEY_LEN, fp);
	hex_lower(fp, AUDIT_FP_LEN, k->fp_hex);
	rc = 0;
out:
	EVP_PKEY_free(pk);
	return rc;
}

int
audit_key_load(const char *path, struct audit_key *k)
{
	char buf[4096];
	const char *src = path;
	uint8_t seed[32];
	int rc;

	memset(k, 0, sizeof(*k));
	if (src == NULL) {
		const char *dir = getenv("CREDENTIALS_DIRECTORY");
		if (dir == NULL || *dir != '/') {
			log_fatal("--audit-log needs a signing key: give "
			    "--audit-key FILE (openssl genpkey -algorithm "
			    "ed25519 -out FILE; mode 0600) or a systemd "
			    "credential named keyhole-audit-key");
			return -1;
		}
		snprintf(buf, sizeof(buf), "%s/keyhole-audit-key", dir);
		src = buf;
	}
	if (secret_load_file(src, "audit key", AUDIT_KEY_FILE_MAX,
	    &k->page) < 0)
		return -1;
	rc = audit_key_decode(&k->page, src, k, seed);
	/* The PEM is no longer needed: the seed takes its place. */
	OPENSSL_cleanse(k->page.buf, k->page.len);
	if (rc == 0) {
		memcpy(k->page.buf, seed, sizeof(seed));
		k->page.len = sizeof(seed);
	}
	OPENSSL_cleanse(seed, sizeof(seed));
	if (rc < 0)
		secret_free(&k->page);
	return rc;
}

void
audit_key_free(struct audit_key *k)
{
	secret_free(&k->page);
}

int
audit_key_sign(const struct audit_key *k, const char *msg, size_t n,
    char out[AUDIT_SIG_B64_LEN + 1])
{
	static const char ctx_str[] = AUDIT_SIG_CONTEXT;
	size_t cl = sizeof(ctx_str) - 1, sl = AUDIT_SIG_LEN;
	uint8_t sig[AUDIT_SIG_LEN];
	unsigned char *m = malloc(cl + n);
	EVP_PKEY *pk = NULL;
	EVP_MD_CTX *ctx = NULL;
	int rc = -1;

	if (m == NULL)
		return -1;
	memcpy(m, ctx_str, cl);
	memcpy(m + cl, msg, n);
	pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
	    (const unsigned char *)k->page.buf, 32);
	ctx = EVP_MD_CTX_new();
	/* Ed25519 is one-shot: no digest is named (NULL). */
	if (pk != NULL && ctx != NULL &&
	    EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk) == 1 &&
	    EVP_DigestSign(ctx, sig, &sl, m, cl + n) == 1 &&
	    sl == AUDIT_SIG_LEN) {
		EVP_EncodeBlock((unsigned char *)out, sig, AUDIT_SIG_LEN);
		rc = 0;
	}
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	free(m);
	return rc;
}
