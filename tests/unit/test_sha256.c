/* SHA-256 against FIPS 180-4's examples and a length at each padding edge
 * (compared with sha256sum's answers). */
#include <string.h>

#include "kh_test.h"
#include "sha256.h"

static const char *
hex_of(const char *s, size_t n)
{
	static char hex[65];
	sha256_hex((const uint8_t *)s, n, hex);
	return hex;
}

int
main(void)
{
	char buf[200];

	CHECK_EQ_STR(hex_of("", 0),
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	CHECK_EQ_STR(hex_of("abc", 3),
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	CHECK_EQ_STR(hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56),
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* 55, 63 and 64 bytes: the last one-block, the first two-block, a
	 * whole block (sha256sum of 'a' repeated). */
	memset(buf, 'a', sizeof(buf));
	CHECK_EQ_STR(hex_of(buf, 55),
	    "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
	CHECK_EQ_STR(hex_of(buf, 63),
	    "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34");
	CHECK_EQ_STR(hex_of(buf, 64),
	    "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
	TEST_DONE();
}
