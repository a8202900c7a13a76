/*
 * keyhole secrets: loading the upstream credential and the bridge token.
 *
 * Sources, first found wins:
 *   credential: --credential-file FILE (must not be accessible by group or
 *               others), $KEYHOLE_CREDENTIAL (wiped and removed from the
 *               environment at once), $CREDENTIALS_DIRECTORY/keyhole-credential
 *               (systemd LoadCredential=).  Never argv.
 *   token:      --token-file FILE, $PAPERCLIP_BRIDGE_TOKEN (wiped/removed).
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kh_limits.h"
#include "log.h"
#include "secret.h"
#include "util.h"

/* Bytes kept free in front of a secret in its page, for secret_prefixed. */
#define SECRET_ROOM 64u

/* The last error, for a reload's report (reload.c). */
static char secret_err[512];

static void __attribute__((format(printf, 1, 2)))
secret_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(secret_err, sizeof(secret_err), fmt, ap);
	va_end(ap);
	log_fatal("%s", secret_err);
}

const char *
secret_error(void)
{
	return secret_err;
}

static int
secret_alloc(struct secret *s, size_t cap)
{
	long pg = sysconf(_SC_PAGESIZE);
	/* Room in front (secret_prefixed), the secret and its NUL, and
	 * behind it room for a line holding its base64 (secret_base64_line). */
	size_t need = SECRET_ROOM + cap + 1 + SECRET_ROOM + (cap + 2) / 3 * 4 + 1;
	size_t maplen = (need + (size_t)pg - 1) / (size_t)pg * (size_t)pg;
	void *p = mmap(NULL, maplen, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	/* Keep it out of swap and out of core dumps.  mlock can fail under a
	 * small RLIMIT_MEMLOCK as non-root: warn, do not refuse to run. */
	if (mlock(p, maplen) < 0)
		log_warn("mlock of secret page: %s",
		    strerror(errno));
	(void)madvise(p, maplen, MADV_DONTDUMP);
	(void)madvise(p, maplen, MADV_DONTFORK);
	s->page = p;
	s->buf = (char *)p + SECRET_ROOM;
	s->len = 0;
	s->maplen = maplen;
	return 0;
}

void
secret_free(struct secret *s)
{
	if (s->page != NULL) {
		explicit_bzero(s->page, s->maplen);
		munlock(s->page, s->maplen);
		munmap(s->page, s->maplen);
	}
	s->page = NULL;
	s->buf = NULL;
	s->len = 0;
}

int
secret_dup(struct secret *dst, const struct secret *src)
{
	size_t cap = src->len;	/* room as secret_alloc gives any secret */

	memset(dst, 0, sizeof(*dst));
	if (src->page == NULL || secret_alloc(dst, cap) < 0)
		return -1;
	memcpy(dst->buf, src->buf, src->len + 1);
	dst->len = src->len;
	return 0;
}

bool
secret_equal(const struct secret *a, const struct secret *b)
{
	return a->len == b->len && a->buf != NULL && b->buf != NULL &&
	    memcmp(a->buf, b->buf, a->len) == 0;
}

const char *
secret_prefixed(struct secret *s, const char *prefix)
{
	size_t n = strlen(prefix);

	if (s->buf == NULL || n > SECRET_ROOM)
		return NULL;
	memcpy(s->buf - n, prefix, n);
	return s->buf - n;
}

const char *
secret_base64_line(struct secret *s, const char *prefix)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *in = (const unsigned char *)s->buf;
	size_t n = strlen(prefix), off, room;
	char *out;

	if (s->buf == NULL)
		return NULL;
	out = s->buf + s->len + 1;
	room = s->maplen - (size_t)(out - (char *)s->page);
	if (n + (s->len + 2) / 3 * 4 + 1 > room)
		return NULL;
	memcpy(out, prefix, n);
	off = n;
	for (size_t i = 0; i < s->len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < s->len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < s->len)
			v |= in[i + 2];
		out[off++] = b64[(v >> 18) & 63];
		out[off++] = b64[(v >> 12) & 63];
		out[off++] = i + 1 < s->len ? b64[(v >> 6) & 63] : '=';
		out[off++] = i + 2 < s->len ? b64[v & 63] : '=';
	}
	out[off] = '\0';
	return out;
}

/* Secrets go into an HTTP header: visible ASCII only, no spaces. */
static int
secret_check(const struct secret *s, const char *what, const char *src,
    size_t min)
{
	if (s->len < min) {
		secret_fail("%s from %s is %s (need at least %zu "
		    "bytes)", what, src, s->len ? "too short" : "empty", min);
		return -1;
	}
	for (size_t i = 0; i < s->len; i++) {
		unsigned char c = (unsigned char)s->buf[i];
		if (c < 0x21 || c > 0x7e) {
			secret_fail("%s from %s holds a byte that is "
			    "not visible ASCII at offset %zu (no spaces, controls "
			    "or UTF-8)", what, src, i);
			return -1;
		}
	}
	return 0;
}

static void
secret_trim(struct secret *s)
{
	while (s->len > 0 &&
	    (s->buf[s->len - 1] == '\n' || s->buf[s->len - 1] == '\r'))
		s->buf[--s->len] = '\0';
}

/* Read a whole file into a fresh secret page: a regular file of at most
 * cap - 1 bytes, not accessible by group or others when private_only. */
static int
secret_read_file(struct secret *s, const char *path, const char *what,
    bool private_only, size_t cap)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		secret_fail("cannot open %s file %s: %s", what,
		    path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		secret_fail("%s file %s is not a regular file",
		    what, path);
		close(fd);
		return -1;
	}
	if (private_only && (st.st_mode & 077) != 0) {
		secret_fail("%s file %s is accessible by group or "
		    "others (mode %04o); fix with: chmod 600 %s", what, path,
		    (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return -1;
	}
	if (st.st_size > (off_t)cap) {
		secret_fail("%s file %s is larger than %zu bytes",
		    what, path, cap);
		close(fd);
		return -1;
	}
	if (secret_alloc(s, cap) < 0) {
		close(fd);
		return -1;
	}
	ssize_t n = util_read_upto(fd, s->buf, cap);
	if (n < 0 || (size_t)n == cap) {
		if (n < 0)
			secret_fail("reading %s file %s: %s",
			    what, path, strerror(errno));
		else
			secret_fail("%s file %s is too large",
			    what, path);
		close(fd);
		secret_free(s);
		return -1;
	}
	s->len = (size_t)n;
	close(fd);
	return 0;
}

static int
secret_from_file(struct secret *s, const char *path, const char *what,
    bool private_only, size_t cap, size_t min)
{
	if (secret_read_file(s, path, what, private_only, cap) < 0)
		return -1;
	secret_trim(s);
	if (secret_check(s, what, path, min) < 0) {
		secret_free(s);
		return -1;
	}
	return 0;
}

/* Copy an environment variable into a secret page, then wipe the original
 * bytes and remove the variable so nothing exec'd later can inherit it. */
static int
secret_from_env(struct secret *s, const char *name, const char *what,
    size_t cap, size_t min)
{
	char *v = getenv(name);
	size_t n;

	if (v == NULL)
		return 1;
	n = strlen(v);
	if (n >= cap) {
		secret_fail("$%s is too large", name);
		explicit_bzero(v, n);
		unsetenv(name);
		return -1;
	}
	if (secret_alloc(s, cap) < 0)
		return -1;
	memcpy(s->buf, v, n);
	s->len = n;
	explicit_bzero(v, n);
	unsetenv(name);
	secret_trim(s);
	if (secret_check(s, what, name, min) < 0) {
		secret_free(s);
		return -1;
	}
	return 0;
}

int
secret_load_credential(const struct kh_config *cfg, struct secret *s)
{
	const char *dir;
	int r;

	memset(s, 0, sizeof(*s));
	if (cfg->credential_file != NULL) {
		/* Drop the env copy too, so it cannot leak to a child. */
		char *v = getenv("KEYHOLE_CREDENTIAL");
		if (v != NULL) {
			explicit_bzero(v, strlen(v));
			unsetenv("KEYHOLE_CREDENTIAL");
		}
		return secret_from_file(s, cfg->credential_file, "credential",
		    true, KH_CRED_MAX, 1);
	}
	r = secret_from_env(s, "KEYHOLE_CREDENTIAL", "credential", KH_CRED_MAX,
	    1);
	if (r <= 0)
		return r;
	dir = getenv("CREDENTIALS_DIRECTORY");
	if (dir != NULL && *dir == '/') {
		char path[4096];
		snprintf(path, sizeof(path), "%s/keyhole-credential", dir);
		if (access(path, F_OK) == 0)
			return secret_from_file(s, path, "credential", true,
			    KH_CRED_MAX, 1);
	}
	secret_fail("no upstream credential: give "
	    "--credential-file FILE (mode 0600), $KEYHOLE_CREDENTIAL, or a "
	    "systemd credential named keyhole-credential");
	return -1;
}

int
secret_load_token(const struct kh_config *cfg, struct secret *s)
{
	int r;

	memset(s, 0, sizeof(*s));
	if (cfg->token_file != NULL)
		return secret_from_file(s, cfg->token_file, "bridge token",
		    false, KH_TOKEN_MAX, KH_TOKEN_MIN);
	r = secret_from_env(s, "PAPERCLIP_BRIDGE_TOKEN", "bridge token",
	    KH_TOKEN_MAX, KH_TOKEN_MIN);
	if (r <= 0)
		return r;
	secret_fail("no bridge token: give --token-file FILE or "
	    "$PAPERCLIP_BRIDGE_TOKEN (at least %u visible ASCII bytes)",
	    KH_TOKEN_MIN);
	return -1;
}

int
secret_load_file(const char *path, const char *what, size_t cap,
    struct secret *s)
{
	memset(s, 0, sizeof(*s));
	return secret_read_file(s, path, what, true, cap);
}
