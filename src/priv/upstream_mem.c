/*
 * keyhole upstream forwarding: the parent's memory around libcurl.
 *
 * Credential copies.  keyhole's own copy of the credential is one string
 * in a locked, MADV_DONTDUMP page: "authorization: Bearer <credential>"
 * (secret_prefixed), linked into each request's header list without a
 * copy.  libcurl still copies that line into the request it builds (a
 * heap buffer, and for https its upload buffer) while the request is
 * being sent.  Every block libcurl allocates goes through the allocators
 * below, which remember each block's size and wipe the block when
 * libcurl frees or grows it: once a request is written and its transfer
 * ended, no copy is left in freed heap for a later reader (a heap
 * disclosure bug, a swap file, /proc/PID/mem) to find.  While a request is
 * in flight its copies live in ordinary (unlocked) heap: keyhole does not
 * mlockall(), whose MCL_FUTURE would lock every upstream response buffer
 * (up to max_inflight x max_response) and, for an unprivileged parent,
 * make allocations fail at RLIMIT_MEMLOCK; the parent is not dumpable
 * (no core file).  SECURITY.md, "The credential in the parent's memory".
 *
 * Memory back after bursts.  glibc raises its mmap threshold each time a
 * large mmap'd block is freed, so after one burst of large responses the
 * next ones come from the heap, which keeps its high-water mark.  A fixed
 * threshold keeps every block of 128 KiB or more (response bodies, the
 * frames built from them) its own mapping, unmapped when freed; what the
 * small allocations left behind is given back with malloc_trim() once
 * the upstream has been idle for a moment.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "upstream_int.h"

/* Block header: the usable size, padded to malloc's alignment. */
#define UPMEM_HDR 16u
/* Blocks at least this large are mmap'd (bytes); glibc's default start. */
#define UPMEM_MMAP_THRESHOLD (128 * 1024)
/* Idle time before giving heap back (ms): once per burst, not per request. */
#define UPMEM_TRIM_MS 1000

static void *
upmem_malloc(size_t n)
{
	uint8_t *p;

	if (n > SIZE_MAX - UPMEM_HDR)
		return NULL;
	p = malloc(n + UPMEM_HDR);
	if (p == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + UPMEM_HDR;
}

static size_t
upmem_size(const void *q)
{
	size_t n;

	memcpy(&n, (const uint8_t *)q - UPMEM_HDR, sizeof(n));
	return n;
}

static void
upmem_free(void *q)
{
	if (q == NULL)
		return;
	explicit_bzero(q, upmem_size(q));
	free((uint8_t *)q - UPMEM_HDR);
}

/* Never realloc() in place: a block that moved would leave its old bytes
 * behind unwiped.  libcurl grows its buffers by doubling, so copying
 * keeps the total work linear. */
static void *
upmem_realloc(void *q, size_t n)
{
	size_t old;
	void *p;

	if (q == NULL)
		return upmem_malloc(n);
	old = upmem_size(q);
	if (n <= old) {
		explicit_bzero((uint8_t *)q + n, old - n);
		memcpy((uint8_t *)q - UPMEM_HDR, &n, sizeof(n));
		return q;
	}
	p = upmem_malloc(n);
	if (p == NULL)
		return NULL;
	memcpy(p, q, old);
	upmem_free(q);
	return p;
}

static void *
upmem_calloc(size_t nmemb, size_t size)
{
	void *p;

	if (size != 0 && nmemb > SIZE_MAX / size)
		return NULL;
	p = upmem_malloc(nmemb * size);
	if (p != NULL)
		memset(p, 0, nmemb * size);
	return p;
}

static char *
upmem_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = upmem_malloc(n);

	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

int
upstream_global_init(void)
{
	/* Fixed: glibc no longer moves it up after a large free. */
	(void)mallopt(M_MMAP_THRESHOLD, UPMEM_MMAP_THRESHOLD);
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, upmem_malloc, upmem_free,
	    upmem_realloc, upmem_strdup, upmem_calloc) != CURLE_OK) {
		log_fatal("libcurl initialisation failed");
		return -1;
	}
	return 0;
}

static void
upmem_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream *up = arg;

	(void)fd;
	(void)what;
	if (up->active == 0) {
		upstream_easy_drop(up);
		(void)malloc_trim(0);
	}
}

void
upstream_mem_idle(struct upstream *up)
{
	struct timeval tv = { UPMEM_TRIM_MS / 1000, (UPMEM_TRIM_MS % 1000) * 1000 };

	if (up->trim == NULL) {
		up->trim = evtimer_new(up->base, upmem_trim_cb, up);
		if (up->trim == NULL)
			return;
	}
	evtimer_add(up->trim, &tv);
}
