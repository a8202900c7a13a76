/* Minimal assertions for keyhole's unit tests: every failure names the
 * file, line and expression, and main() returns non-zero. */
#ifndef KH_TEST_H
#define KH_TEST_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int kh_test_failures;
static int kh_test_checks;

#define CHECK(cond) do { kh_test_checks++; if (!(cond)) { kh_test_failures++; \
	fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_EQ_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); \
	kh_test_checks++; if (_a != _b) { kh_test_failures++; \
	fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a, _a, #b, _b); } } while (0)
#define CHECK_EQ_STR(a, b) do { const char *_a = (a), *_b = (b); kh_test_checks++; \
	if (_a == NULL || _b == NULL || strcmp(_a, _b) != 0) { kh_test_failures++; \
	fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a, \
	    _a ? _a : "(null)", _b ? _b : "(null)"); } } while (0)
#define TEST_DONE() do { printf("%d checks, %d failed\n", kh_test_checks, kh_test_failures); \
	return kh_test_failures ? 1 : 0; } while (0)
#endif
