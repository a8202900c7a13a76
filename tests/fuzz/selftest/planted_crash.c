/*
 * Not a keyhole harness (it is outside the tests/fuzz/fuzz_*.c glob): a
 * target with a planted bug for `scripts/fuzz.sh selftest`, which shows
 * that libFuzzer and AFL++ each find it from the seed "KH", that the
 * script saves the input where and as ctest's replay reads it
 * (<corpus>/crash-<sha1>), and that replay_main.c -- the program behind
 * every fuzz.replay.<name> test -- fails on the saved file.
 *
 * The bug: an input starting "KH!" breaks a property (abort(), as every
 * harness reports a broken property), so the replay fails in any build,
 * with or without sanitizers.  One byte past the seed keeps the search
 * short for both engines.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= 1 && data[0] == 'K')
		if (size >= 2 && data[1] == 'H')
			if (size >= 3 && data[2] == '!')
				abort();
	return 0;
}
