/*
 * libFuzzer harness for keyhole-audit's verifier: av_verify()
 * (src/audit/audit_verify.c) and the record parser under it, arec_parse()
 * (src/parse/audit_record.c).  An audit log is hostile input: whoever
 * could write the file may have written anything into it.
 *
 * Input: one flag byte (bit 0: --partial; bit 1: check the signatures
 * with the seeds' public key, as --pubkey, instead of the keys the log
 * names), then the files, separated by NUL bytes (a NUL is never part
 * of a record), at most 8.  The seeds (tests/fuzz/corpus/audit_verify/,
 * written by tests/fuzz/make_audit_seeds.py with the real keyhole and
 * tests/fuzz/audit_seed_key.pem) are logs keyhole wrote and copies of
 * them tampered with in every way the verifier names.
 *
 * Properties (abort() when broken):
 *  - the verdict is one of enum av_kind, never AV_USAGE (nothing here
 *    runs out of memory), and its place names a file that was given;
 *  - the same input gives the same verdict, at the same place;
 *  - a log found intact is intact no more once any one of its bytes is
 *    changed: every byte is covered by the chain and the signature of
 *    the final checkpoint (the byte is chosen from the input).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit_verify.h"

#define FUZZ_FILES_MAX 8

/* The public key of tests/fuzz/audit_seed_key.pem (a test key). */
static const uint8_t fuzz_pub[1][AUDIT_PUBKEY_LEN] = { {
	0x0c, 0x72, 0x53, 0x8b, 0xc2, 0x45, 0x81, 0x1e, 0xc2, 0x72, 0xf4, 0x54,
	0x89, 0x6f, 0xca, 0x35, 0x6c, 0xa9, 0xf0, 0x4d, 0x78, 0xe2, 0xb1, 0xa9,
	0xd2, 0xf1, 0x9d, 0x1e, 0x7b, 0x7f, 0xe5, 0x07,
} };

static const char *const fuzz_names[FUZZ_FILES_MAX] = {
	"f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7",
};

static size_t
fuzz_split(uint8_t *data, size_t size, struct av_file *fs)
{
	size_t n = 0, start = 0;

	for (size_t i = 0; i <= size && n < FUZZ_FILES_MAX; i++) {
		if (i < size && data[i] != '\0')
			continue;
		if (n == FUZZ_FILES_MAX - 1)
			i = size;	/* the last file takes the rest */
		fs[n].name = fuzz_names[n];
		fs[n].data = data + start;
		fs[n].len = i - start;
		n++;
		start = i + 1;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct av_file fs[FUZZ_FILES_MAX];
	struct av_opts o = { NULL, 0, false };
	struct av_report *r1, *r2;
	enum av_kind k1, k2;
	uint8_t *copy;
	size_t nf;

	if (size < 1)
		return 0;
	o.partial = (data[0] & 1) != 0;
	if (data[0] & 2) {
		o.pub = fuzz_pub;
		o.npub = 1;
	}
	/* A copy of exactly the input's size: ASan sees a read past it. */
	copy = malloc(size - 1 + 1);
	r1 = malloc(sizeof(*r1));
	r2 = malloc(sizeof(*r2));
	if (copy == NULL || r1 == NULL || r2 == NULL)
		abort();
	memcpy(copy, data + 1, size - 1);
	nf = fuzz_split(copy, size - 1, fs);

	k1 = av_verify(fs, nf, &o, r1);
	if (k1 != r1->kind || (k1 != AV_OK && k1 != AV_TRUNCATED &&
	    k1 != AV_EDITED && k1 != AV_REMOVED && k1 != AV_INSERTED &&
	    k1 != AV_REORDERED && k1 != AV_SIGNATURE && k1 != AV_FILES))
		abort();
	if (k1 != AV_OK && r1->where.file >= nf)
		abort();
	k2 = av_verify(fs, nf, &o, r2);
	if (k2 != k1 || r2->where.file != r1->where.file ||
	    r2->where.line != r1->where.line)
		abort();

	if (k1 == AV_OK) {
		/* One byte of one file changed: no longer intact. */
		size_t total = 0, pick, f = 0;
		for (size_t i = 0; i < nf; i++)
			total += fs[i].len;
		if (total == 0)
			abort();	/* an empty log is never intact */
		pick = (size_t)data[size - 1] * 131 % total;
		while (pick >= fs[f].len) {
			pick -= fs[f].len;
			f++;
		}
		((uint8_t *)(uintptr_t)fs[f].data)[pick] ^= 0x20;
		if (av_verify(fs, nf, &o, r2) == AV_OK)
			abort();
	}
	free(r2);
	free(r1);
	free(copy);
	return 0;
}
