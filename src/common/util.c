/* keyhole small shared predicates: see util.h. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kh_limits.h"
#include "util.h"

bool
util_ct_equal(const uint8_t *given, size_t given_len, const uint8_t *expected,
    size_t expected_len)
{
	volatile uint8_t diff = 0;

	/* Always walk expected_len bytes; index given modulo its length so a
	 * short guess costs the same time as a right-length one. */
	for (size_t i = 0; i < expected_len; i++) {
		uint8_t g = given_len ? given[i % given_len] : 0;
		diff |= (uint8_t)(g ^ expected[i]);
	}
	return diff == 0 && given_len == expected_len;
}

int
util_sibling_path(const char *name, char *out, size_t cap)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;
	int w;

	if (n <= 0)
		return -1;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return -1;
	*slash = '\0';
	w = snprintf(out, cap, "%s/%s", self, name);
	return w < 0 || (size_t)w >= cap ? -1 : 0;
}

int64_t
util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool
util_method_safe(const char *method)
{
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
	    strcmp(method, "OPTIONS") == 0;
}

int
util_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

ssize_t
util_read_upto(int fd, void *buf, size_t cap)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < cap) {
		ssize_t r = read(fd, p + got, cap - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int
util_write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}
