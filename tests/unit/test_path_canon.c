/*
 * Properties of the canonical path (src/check/path.c): the bytes the
 * policy matches are the bytes the upstream receives, no spelling of a
 * dot segment or an encoded separator survives, and the parent's
 * re-check accepts exactly what the child produced.
 */
#include <stdint.h>
#include <string.h>

#include "kh_test.h"
#include "kh_limits.h"
#include "path.h"

static char canon_out[KH_PATH_MAX + 1];

/* Canonicalize a C string; returns the status, output in canon_out. */
static int
canon(const char *in)
{
	size_t n = 0;
	int r;

	canon_out[0] = '\0';
	r = path_canonicalize((const uint8_t *)in, strlen(in), canon_out,
	    sizeof(canon_out), &n);
	if (r == 0 && n != strlen(canon_out))
		return -999;	/* outlen disagrees with the NUL */
	return r;
}

/* in is accepted and canonicalizes to want, which is itself canonical. */
#define CHECK_CANON(in, want) do { \
	CHECK_EQ_INT(canon(in), 0); \
	CHECK_EQ_STR(canon_out, want); \
	CHECK(path_is_canonical(want, strlen(want))); \
} while (0)

/* in is rejected with status, and the parent would not accept it either. */
#define CHECK_REJECT(in, status) do { \
	CHECK_EQ_INT(canon(in), status); \
	CHECK(!path_is_canonical(in, strlen(in))); \
} while (0)

static void
plain_paths_are_unchanged(void)
{
	CHECK_CANON("/", "/");
	CHECK_CANON("/api/agents/me", "/api/agents/me");
	CHECK_CANON("/api/issues/issue-1/comments", "/api/issues/issue-1/comments");
	CHECK_CANON("/a/b/", "/a/b/");
	CHECK_CANON("/a:b@c!$&'()*+,;=", "/a:b@c!$&'()*+,;=");
	CHECK_CANON("/...", "/...");
	CHECK_CANON("/.well-known/x", "/.well-known/x");
	CHECK_CANON("/a..b/c.", "/a..b/c.");
	CHECK_CANON("/a;b=c", "/a;b=c");
}

static void
encoded_unreserved_is_decoded(void)
{
	CHECK_CANON("/%61%70%69", "/api");
	CHECK_CANON("/%7E%5F%2D", "/~_-");
	CHECK_CANON("/x%2Ey", "/x.y");
	CHECK_CANON("/%2e%2e%2e", "/...");
	CHECK_CANON("/%2ehidden", "/.hidden");
}

static void
other_encodings_get_uppercase_hex(void)
{
	CHECK_CANON("/a%20b", "/a%20b");
	CHECK_CANON("/a%3a%3Ab", "/a%3A%3Ab");
	CHECK_CANON("/%25", "/%25");
	CHECK_CANON("/%252e%252e", "/%252e%252e");	/* double encoding is data */
	CHECK_CANON("/%3f%23", "/%3F%23");
	CHECK_CANON("/%7b%7D", "/%7B%7D");
}

static void
encoded_separators_are_rejected(void)
{
	CHECK_REJECT("/a%2Fb", 400);
	CHECK_REJECT("/a%2fb", 400);
	CHECK_REJECT("/a%5Cb", 400);
	CHECK_REJECT("/a%5cb", 400);
	CHECK_REJECT("/a%00b", 400);
	CHECK_REJECT("/a%0Ab", 400);
	CHECK_REJECT("/a%0d%0ab", 400);
	CHECK_REJECT("/a%7Fb", 400);
	CHECK_REJECT("/a%1b", 400);
}

/*
 * Document keys and names are user text: Paperclip's own bridge forwards
 * /api/issues/X/documents/caf%C3%A9 and Express decodes it to "café".
 * A percent-encoded byte >= 0x80 is kept encoded, never decoded, in one
 * spelling (upper-case hex), so the parent's fixed-point check accepts
 * exactly this form and nothing else.
 */
static void
encoded_utf8_is_kept_encoded(void)
{
	CHECK_CANON("/api/issues/X/documents/caf%C3%A9",
	    "/api/issues/X/documents/caf%C3%A9");
	CHECK_CANON("/api/issues/X/documents/caf%c3%a9",
	    "/api/issues/X/documents/caf%C3%A9");
	CHECK_CANON("/caf%C3%a9", "/caf%C3%A9");
	CHECK_CANON("/%E2%82%AC", "/%E2%82%AC");		/* U+20AC, 3 bytes */
	CHECK_CANON("/%f0%9f%98%80/x", "/%F0%9F%98%80/x");	/* U+1F600, 4 */
	CHECK_CANON("/%e6%96%87%e6%9b%b8", "/%E6%96%87%E6%9B%B8");
	CHECK_CANON("/%C2%A0", "/%C2%A0");			/* U+00A0 */
	CHECK_CANON("/%F4%8F%BF%BF", "/%F4%8F%BF%BF");	/* U+10FFFF */
	CHECK_CANON("/%EF%BF%BF", "/%EF%BF%BF");		/* U+FFFF */
	CHECK_CANON("/%e2%80%ae", "/%E2%80%AE");		/* U+202E */
	CHECK_CANON("/caf%C3%A9;v=1", "/caf%C3%A9;v=1");
	CHECK_CANON("/%C3%A9%20%C3%A9/", "/%C3%A9%20%C3%A9/");
	/* Characters whose compatibility form holds dots are ordinary
	 * unless the whole name would be '.' or '..' */
	CHECK_CANON("/a%EF%BC%8E", "/a%EF%BC%8E");		/* a + U+FF0E */
	CHECK_CANON("/%E2%80%A6", "/%E2%80%A6");		/* U+2026 -> ... */
	CHECK_CANON("/%E2%80%A5.", "/%E2%80%A5.");		/* ... as well */
	CHECK_CANON("/%E2%92%88", "/%E2%92%88");		/* U+2488 -> 1. */
	CHECK_CANON("/a%EF%BC%9Bb", "/a%EF%BC%9Bb");	/* a U+FF1B b */
	CHECK_CANON("/%EF%BC%85%32%65", "/%EF%BC%852e");	/* like %252e */
	CHECK(!path_is_canonical("/caf%c3%a9", 10));		/* lower-case hex */
	CHECK(path_is_canonical("/caf%C3%A9", 10));
}

/* Encoded bytes >= 0x80 must be UTF-8 (RFC 3629): no overlong form (the
 * classic %C0%AE dot), surrogate, code point above U+10FFFF, stray or
 * missing continuation byte; Express's decodeURIComponent refuses all
 * of them too (400).  C1 controls are controls. */
static void
encoded_non_utf8_is_rejected(void)
{
	CHECK_REJECT("/%C0%AE%C0%AE/etc", 400);	/* overlong UTF-8 '.' */
	CHECK_REJECT("/%c0%af", 400);
	CHECK_REJECT("/%C1%81", 400);
	CHECK_REJECT("/%E0%80%AE", 400);
	CHECK_REJECT("/%E0%9F%BF", 400);		/* overlong U+07FF */
	CHECK_REJECT("/%F0%80%80%AE", 400);
	CHECK_REJECT("/%F0%8F%BF%BF", 400);	/* overlong U+FFFF */
	CHECK_REJECT("/%80", 400);
	CHECK_REJECT("/%BF", 400);
	CHECK_REJECT("/a%A9", 400);
	CHECK_REJECT("/%E9", 400);			/* Latin-1 e-acute */
	CHECK_REJECT("/caf%C3", 400);			/* cut short */
	CHECK_REJECT("/caf%C3/%A9", 400);		/* split by '/' */
	CHECK_REJECT("/caf%C3a", 400);
	CHECK_REJECT("/%E2%82", 400);
	CHECK_REJECT("/%F0%9F%98", 400);
	CHECK_REJECT("/%C3%A9%A9", 400);		/* one continuation too many */
	CHECK_REJECT("/%ED%A0%80", 400);		/* U+D800 surrogate */
	CHECK_REJECT("/%ED%BF%BF", 400);
	CHECK_REJECT("/%F4%90%80%80", 400);		/* U+110000 */
	CHECK_REJECT("/%F5%80%80%80", 400);
	CHECK_REJECT("/%F8%88%80%80%80", 400);
	CHECK_REJECT("/%FE", 400);
	CHECK_REJECT("/%FF", 400);
	CHECK_REJECT("/%C2%80", 400);			/* U+0080 C1 control */
	CHECK_REJECT("/a%C2%85b", 400);		/* U+0085 NEL */
	CHECK_REJECT("/%c2%9f", 400);
}

/*
 * A server that applies Unicode normalization (NFKC) after decoding turns
 * U+FF0F into '/', U+FF0E U+FF0E into '..', U+FF1B into ';'.  So these
 * get the treatment of their ASCII forms: a separator is refused like
 * %2F/%5C, dots count as dots and semicolons end the name for the
 * dot-segment test.
 */
static void
unicode_forms_of_separators_and_dots_are_rejected(void)
{
	CHECK_REJECT("/a%EF%BC%8Fb", 400);		/* U+FF0F fullwidth / */
	CHECK_REJECT("/a%EF%BC%BCb", 400);		/* U+FF3C fullwidth \ */
	CHECK_REJECT("/a%EF%B9%A8b", 400);		/* U+FE68 small \ */
	CHECK_REJECT("/%E2%84%80", 400);		/* U+2100 a/c */
	CHECK_REJECT("/%E2%84%81", 400);		/* U+2101 a/s */
	CHECK_REJECT("/%E2%84%85", 400);		/* U+2105 c/o */
	CHECK_REJECT("/%E2%84%86", 400);		/* U+2106 c/u */
	CHECK_REJECT("/%EF%BC%8E", 400);		/* U+FF0E -> . */
	CHECK_REJECT("/a/%EF%BC%8E%EF%BC%8E/b", 400);	/* -> .. */
	CHECK_REJECT("/a/.%EF%BC%8E/b", 400);
	CHECK_REJECT("/a/%EF%BC%8E./b", 400);
	CHECK_REJECT("/a/%E2%80%A5/b", 400);		/* U+2025 -> .. */
	CHECK_REJECT("/a/%E2%80%A4/b", 400);		/* U+2024 -> . */
	CHECK_REJECT("/a/%E2%80%A4%E2%80%A4", 400);
	CHECK_REJECT("/a/%EF%B9%92/b", 400);		/* U+FE52 -> . */
	CHECK_REJECT("/a/%EF%B8%B0/b", 400);		/* U+FE30 -> .. */
	CHECK_REJECT("/a/..%EF%BC%9Bx/b", 400);	/* U+FF1B -> ..;x */
	CHECK_REJECT("/a/..%CD%BE/b", 400);		/* U+037E -> ; */
	CHECK_REJECT("/a/%EF%BC%8E%EF%B9%94/b", 400);	/* U+FE54 -> ; */
	CHECK_REJECT("/a/.%EF%B8%94x/b", 400);		/* U+FE14 -> ; */
	CHECK_REJECT("/a/%EF%BC%9Bx/b", 400);		/* empty name: '//' */
	CHECK_REJECT("/a/%E2%80%A5;x", 400);
}

static void
invalid_percent_is_rejected(void)
{
	CHECK_REJECT("/%", 400);
	CHECK_REJECT("/%4", 400);
	CHECK_REJECT("/a%", 400);
	CHECK_REJECT("/%zz", 400);
	CHECK_REJECT("/%G1", 400);
	CHECK_REJECT("/%+1", 400);
	CHECK_REJECT("/% 1", 400);
}

static void
raw_forbidden_bytes_are_rejected(void)
{
	CHECK_REJECT("/a b", 400);
	CHECK_REJECT("/a\\b", 400);
	CHECK_REJECT("/a\\..\\b", 400);
	CHECK_REJECT("/a\tb", 400);
	CHECK_REJECT("/a\x7f", 400);
	CHECK_REJECT("/a\x01", 400);
	CHECK_REJECT("/caf\xc3\xa9", 400);
	CHECK_REJECT("/\x80", 400);
	CHECK_REJECT("/a\"b", 400);
	CHECK_REJECT("/a<b>", 400);
	CHECK_REJECT("/a^b", 400);
	CHECK_REJECT("/a`b", 400);
	CHECK_REJECT("/a{b}", 400);
	CHECK_REJECT("/a|b", 400);
	CHECK_REJECT("/a[b]", 400);
	CHECK_REJECT("/a?b", 400);	/* the caller splits the query off */
	CHECK_REJECT("/a#b", 400);
}

static void
embedded_nul_is_rejected(void)
{
	static const uint8_t in[] = { '/', 'a', 0, 'b' };
	char out[16];
	size_t n;

	CHECK_EQ_INT(path_canonicalize(in, sizeof(in), out, sizeof(out), &n),
	    400);
	CHECK(!path_is_canonical((const char *)in, sizeof(in)));
}

static void
path_must_start_with_slash(void)
{
	CHECK_REJECT("", 400);
	CHECK_REJECT("api", 400);
	CHECK_REJECT("*", 400);
	CHECK_REJECT("%2Fapi", 400);
	CHECK_REJECT("http://x/", 400);
}

static void
empty_segments_are_rejected(void)
{
	CHECK_REJECT("//", 400);
	CHECK_REJECT("//api", 400);
	CHECK_REJECT("/api//x", 400);
	CHECK_REJECT("/api/x//", 400);
	CHECK_REJECT("/;x/a", 400);
	CHECK_REJECT("/a/;/b", 400);
	CHECK_REJECT("/a/%3Bx", 400);
}

static void
dot_segments_are_rejected_in_every_spelling(void)
{
	CHECK_REJECT("/.", 400);
	CHECK_REJECT("/..", 400);
	CHECK_REJECT("/./a", 400);
	CHECK_REJECT("/a/../b", 400);
	CHECK_REJECT("/a/..", 400);
	CHECK_REJECT("/a/../", 400);
	CHECK_REJECT("/a/.", 400);
	CHECK_REJECT("/a/./", 400);
	CHECK_REJECT("/%2e%2e/a", 400);
	CHECK_REJECT("/%2E%2E/a", 400);
	CHECK_REJECT("/.%2e/a", 400);
	CHECK_REJECT("/%2E./a", 400);
	CHECK_REJECT("/%2e", 400);
	CHECK_REJECT("/a/..;/b", 400);
	CHECK_REJECT("/a/.;/b", 400);
	CHECK_REJECT("/a/..;x=1/b", 400);
	CHECK_REJECT("/a/%2e%2e;/b", 400);
	CHECK_REJECT("/a/..%3B/b", 400);
	CHECK_REJECT("/a/..%3b/b", 400);
	CHECK_REJECT("/api/issues/X/interactions/../accept", 400);
}

static void
length_limit_answers_414(void)
{
	static char in[KH_PATH_MAX + 2];
	static char dec[3 * KH_PATH_MAX + 1];
	char small[8];
	size_t n, i;

	in[0] = '/';
	memset(in + 1, 'a', KH_PATH_MAX - 1);
	in[KH_PATH_MAX] = '\0';
	CHECK_EQ_INT(canon(in), 0);			/* exactly the maximum */
	CHECK(path_is_canonical(in, KH_PATH_MAX));
	in[KH_PATH_MAX] = 'a';
	in[KH_PATH_MAX + 1] = '\0';
	CHECK_EQ_INT(canon(in), 414);
	CHECK(!path_is_canonical(in, KH_PATH_MAX + 1));
	/* The limit is on the canonical result, not the raw spelling. */
	dec[0] = '/';
	for (i = 0; i < KH_PATH_MAX - 1; i++)
		memcpy(dec + 1 + 3 * i, "%61", 3);
	dec[1 + 3 * (KH_PATH_MAX - 1)] = '\0';
	CHECK_EQ_INT(canon(dec), 0);
	CHECK_EQ_INT(strlen(canon_out), KH_PATH_MAX);
	/* A small buffer: 414, not an overflow. */
	CHECK_EQ_INT(path_canonicalize((const uint8_t *)"/abcdefgh", 9, small,
	    sizeof(small), &n), 414);
	CHECK_EQ_INT(path_canonicalize((const uint8_t *)"/%20%20", 7, small,
	    sizeof(small), &n), 0);
	CHECK_EQ_INT(path_canonicalize((const uint8_t *)"/%20%20", 7, small,
	    7, &n), 414);
	CHECK_EQ_INT(path_canonicalize((const uint8_t *)"/", 1, small, 0, &n),
	    414);
}

static void
is_canonical_accepts_only_fixed_points(void)
{
	CHECK(path_is_canonical("/api/agents/me", 14));
	CHECK(path_is_canonical("/a%20b", 6));
	CHECK(!path_is_canonical("/a%2a", 5));		/* lower-case hex */
	CHECK(!path_is_canonical("/%61", 4));		/* encoded unreserved */
	CHECK(!path_is_canonical("/a/../b", 7));
	CHECK(!path_is_canonical("", 0));
	CHECK(path_is_canonical("/a/b", 3));		/* "/a/": trailing slash */
}

static void
canonicalization_is_idempotent(void)
{
	static const char *const inputs[] = {
		"/", "/a%2a%3a", "/%7e%41b/", "/x;y=%2c", "/%252E", "/a/b/c/",
		"/%2E%2E%2E", "/@:!", "/%e", "/a%20%20b", "/caf%c3%a9",
		"/%f0%9f%98%80;%c3%a9", "/%EF%BC%85%32%65",
	};
	char once[KH_PATH_MAX + 1], twice[KH_PATH_MAX + 1];
	size_t i, n1, n2;

	for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		if (path_canonicalize((const uint8_t *)inputs[i],
		    strlen(inputs[i]), once, sizeof(once), &n1) != 0)
			continue;
		CHECK_EQ_INT(path_canonicalize((const uint8_t *)once, n1,
		    twice, sizeof(twice), &n2), 0);
		CHECK_EQ_STR(twice, once);
		CHECK(path_is_canonical(once, n1));
	}
}

static void
query_validation(void)
{
	CHECK(query_is_valid((const uint8_t *)"", 0));
	CHECK(query_is_valid((const uint8_t *)"a=1&b=2", 7));
	CHECK(query_is_valid((const uint8_t *)"a=%2F/?x", 8));
	CHECK(query_is_valid((const uint8_t *)"q=%e2%80%ae", 11));
	CHECK(!query_is_valid((const uint8_t *)"a b", 3));
	CHECK(!query_is_valid((const uint8_t *)"a#b", 3));
	CHECK(!query_is_valid((const uint8_t *)"a=%", 3));
	CHECK(!query_is_valid((const uint8_t *)"a=%4", 4));
	CHECK(!query_is_valid((const uint8_t *)"a=%zz", 5));
	CHECK(!query_is_valid((const uint8_t *)"a=\xc3\xa9", 4));
	CHECK(!query_is_valid((const uint8_t *)"a=\r\n", 4));
	CHECK(!query_is_valid((const uint8_t *)"a\\b", 3));
	CHECK(!query_is_valid((const uint8_t *)"a\0b", 3));
}

/*
 * Every path spelling of the HTTP corpus (tests/http/corpus.py, category
 * "path"), so the canonical-path function alone, without the rest of the
 * parser in front of it, gives the corpus's answer for each.
 */
static void
corpus_path_spellings_are_refused(void)
{
	CHECK_REJECT("/api/issues/1/interactions/../accept", 400);
	CHECK_REJECT("/../api/agents/me", 400);
	CHECK_REJECT("/api/agents/me/..", 400);
	CHECK_REJECT("/api/./agents/me", 400);
	CHECK_REJECT("/api/agents/me/.", 400);
	CHECK_REJECT("/api/issues/1/interactions/%2e%2e/accept", 400);
	CHECK_REJECT("/api/issues/1/interactions/%2E%2E/accept", 400);
	CHECK_REJECT("/api/issues/1/interactions/%2e%2E/accept", 400);
	CHECK_REJECT("/api/issues/1/interactions/.%2e/accept", 400);
	CHECK_REJECT("/api/issues/1/interactions/%2E./accept", 400);
	CHECK_REJECT("/api/%2e/agents/me", 400);
	CHECK_REJECT("/api/issues/1/interactions/..;/accept", 400);
	CHECK_REJECT("/api/issues/1/interactions/..;x=1/accept", 400);
	CHECK_REJECT("/api/.;/agents/me", 400);
	CHECK_REJECT("/api/issues/1/interactions/%2e%2e;/accept", 400);
	CHECK_REJECT("/api/issues/1/interactions/..%3B/accept", 400);
	CHECK_REJECT("/api/issues/1/interactions/..%3b/accept", 400);
	CHECK_REJECT("/api/issues/1/interactions/%c0%ae%c0%ae/accept", 400);
	CHECK_REJECT("/api/issues/1/interactions/%C0%AE%C0%AE/accept", 400);
	CHECK_REJECT("/api/%e0%80%ae%e0%80%ae/agents/me", 400);
	CHECK_REJECT("/api/issues%c0%af..%c0%afagents/me", 400);
	CHECK_REJECT("/api/issues/1%2Finteractions/comments", 400);
	CHECK_REJECT("/api/issues/1%2finteractions/comments", 400);
	CHECK_REJECT("/api/issues/1/interactions/%2e%2e%2faccept", 400);
	CHECK_REJECT("/api/issues/1%5Cx/comments", 400);
	CHECK_REJECT("/api/issues/1%5cx/comments", 400);
	CHECK_REJECT("/api/agents/me%00", 400);
	CHECK_REJECT("/api/agents%00/me", 400);
	CHECK_REJECT("/api/agents/me%0a", 400);
	CHECK_REJECT("/api/agents/me%0d%0aX-Injected:%201", 400);
	CHECK_REJECT("/api/agents/me%7f", 400);
	CHECK_REJECT("/api/agents/m%e9", 400);
	CHECK_REJECT("/api/agents/caf%C3", 400);
	CHECK_REJECT("/api/issues/1/interactions/%EF%BC%8E%EF%BC%8E/accept", 400);
	CHECK_REJECT("/api/issues/1%EF%BC%8Finteractions/comments", 400);
	CHECK_REJECT("/api/agents/me%C2%85", 400);
	CHECK_REJECT("/api/agents/m%zze", 400);
	CHECK_REJECT("/api/agents/me%4", 400);
	CHECK_REJECT("/api/agents/me%", 400);
	CHECK_REJECT("/api/agents/%+1me", 400);
	CHECK_REJECT("/api/agents/m\xe9""", 400);
	CHECK_REJECT("/api/agents/caf\xc3""\xa9""", 400);
	CHECK_REJECT("/api/\x80""/me", 400);
	CHECK_REJECT("/api//agents/me", 400);
	CHECK_REJECT("//api/agents/me", 400);
	CHECK_REJECT("/api/agents/me//", 400);
	CHECK_REJECT("/api\\agents\\me", 400);
	CHECK_REJECT("/api/issues/1/interactions\\..\\accept", 400);
	CHECK_REJECT("/api/;x/agents/me", 400);
	CHECK_REJECT("/api/%3Bx/agents/me", 400);
	CHECK_REJECT("/api/agents/me#/../../admin", 400);
}

static void
corpus_path_spellings_are_canonicalized(void)
{
	CHECK_CANON("/api/agents/%6De",
	    "/api/agents/me");
	CHECK_CANON("/%61pi/agents/%6de",
	    "/api/agents/me");
	CHECK_CANON("/api/issues/a%3ab/comments",
	    "/api/issues/a%3Ab/comments");
	CHECK_CANON("/api/issues/.../comments",
	    "/api/issues/.../comments");
	CHECK_CANON("/api/issues/..a/comments",
	    "/api/issues/..a/comments");
	CHECK_CANON("/api/issues/%2e.x/comments",
	    "/api/issues/..x/comments");
	CHECK_CANON("/api/issues/%252e%252e/comments",
	    "/api/issues/%252e%252e/comments");
	CHECK_CANON("/api/issues/a%20b/comments",
	    "/api/issues/a%20b/comments");
	CHECK_CANON("/api/%20../agents/me",
	    "/api/%20../agents/me");
	CHECK_CANON("/api/issues/%7e/comments",
	    "/api/issues/~/comments");
	CHECK_CANON("/api/issues/a;b/comments",
	    "/api/issues/a;b/comments");
	CHECK_CANON("/api/issues/a%3bb/comments",
	    "/api/issues/a%3Bb/comments");
	CHECK_CANON("/api/issues/@:!$&'()*+,=/comments",
	    "/api/issues/@:!$&'()*+,=/comments");
	CHECK_CANON("/api/issues/BRI-7/documents/caf%C3%A9",
	    "/api/issues/BRI-7/documents/caf%C3%A9");
	CHECK_CANON("/api/issues/BRI-7/documents/caf%c3%a9",
	    "/api/issues/BRI-7/documents/caf%C3%A9");
	CHECK_CANON("/api/issues/BRI-7/documents/%E6%96%87%E6%9B%B8",
	    "/api/issues/BRI-7/documents/%E6%96%87%E6%9B%B8");
}

/*
 * A policy literal or a bound {variable} value is one segment exactly as
 * path_canonicalize writes it: the same function decides, so an operator
 * can bind `--var doc=caf%C3%A9` and a rule can name it, and neither can
 * name a segment no request can arrive with.
 */
static void
policy_segment_is_a_canonical_segment(void)
{
	static const char *const ok[] = {
		"me", "BRI-7", "caf%C3%A9", "%E6%96%87", "a%20b", "a;b", "...",
		"a%EF%BC%8E", "%E2%80%A6", "~", "a%3Bb",
	};
	static const char *const bad[] = {
		"", "caf%c3%a9", "caf\xc3\xa9", "%C3", "%C0%AE", "%61", ".", "..",
		"..;x", ";x", "%3Bx", "a/b", "%2F", "%EF%BC%8F", "%EF%BC%8E",
		"%E2%80%A5", "%C2%85", "a%0A", "%00", "a b", "a%2",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CHECK(path_segment_is_canonical(ok[i], strlen(ok[i])));
		if (!path_segment_is_canonical(ok[i], strlen(ok[i])))
			fprintf(stderr, "  refused: %s\n", ok[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(!path_segment_is_canonical(bad[i], strlen(bad[i])));
		if (path_segment_is_canonical(bad[i], strlen(bad[i])))
			fprintf(stderr, "  accepted: %s\n", bad[i]);
	}
}

int
main(void)
{
	plain_paths_are_unchanged();
	encoded_unreserved_is_decoded();
	other_encodings_get_uppercase_hex();
	encoded_separators_are_rejected();
	encoded_utf8_is_kept_encoded();
	encoded_non_utf8_is_rejected();
	unicode_forms_of_separators_and_dots_are_rejected();
	policy_segment_is_a_canonical_segment();
	invalid_percent_is_rejected();
	raw_forbidden_bytes_are_rejected();
	embedded_nul_is_rejected();
	path_must_start_with_slash();
	empty_segments_are_rejected();
	dot_segments_are_rejected_in_every_spelling();
	length_limit_answers_414();
	is_canonical_accepts_only_fixed_points();
	canonicalization_is_idempotent();
	query_validation();
	corpus_path_spellings_are_refused();
	corpus_path_spellings_are_canonicalized();
	TEST_DONE();
}
