/*
 * keyhole-audit: check a keyhole audit log (`keyhole audit verify` runs
 * this program).  A program of its own, never the bridge: the files it
 * reads are hostile input (whoever could write them may have), so it is
 * parsed here, by src/parse/audit_record.c, and never in the process
 * that holds the upstream credential.  It needs no privilege: read access
 * to the files and, to know who signed them, the public key.
 *
 *   keyhole-audit verify [--pubkey PEMFILE]... [--partial] FILE...
 *
 * Exit status: the verdict (audit_verify.h, docs/keyhole-audit.5):
 * 0 intact, 2 usage or unreadable input, 3 truncated, 4 edited,
 * 5 removed, 6 inserted, 7 reordered, 8 signature, 9 files.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "audit_verify.h"
#include "kh_limits.h"

#define AUDIT_PUBKEYS_MAX 8

static void
usage(FILE *f)
{
	fprintf(f,
"usage: keyhole audit verify [--pubkey PEMFILE]... [--partial] FILE...\n"
"\n"
"Checks a keyhole audit log (keyhole serve --audit-log): FILEs in order,\n"
"oldest first (after a rotation: FILE.<seq>... then FILE), as one chain:\n"
"every record linked to the one before it by its SHA-256, every signed\n"
"checkpoint valid, the log closed by the checkpoint keyhole writes when it\n"
"stops.  Prints a summary, or the first broken record and why.\n"
"\n"
"  --pubkey PEMFILE  the Ed25519 public key the checkpoints must be signed\n"
"                    with (openssl pkey -in KEY -pubout); may be repeated.\n"
"                    Without it, the key the log's own records name is\n"
"                    used: that proves the log consistent, not who wrote it\n"
"  --partial         the log may begin in the middle of its chain (older\n"
"                    files deleted)\n"
"\n"
"Exit status: 0 intact; 2 usage or unreadable input; 3 truncated (intact\n"
"up to its last checkpoint, but not closed: unsigned records after it, or\n"
"records cut off; also a bridge still running); 4 edited; 5 removed;\n"
"6 inserted; 7 reordered; 8 signature invalid; 9 files out of order.\n"
"The format: man 5 keyhole-audit.\n");
}

static void
on_sigbus(int sig)
{
	static const char m[] = "keyhole-audit: a file shrank while being "
	    "read\n";

	(void)sig;
	(void)!write(STDERR_FILENO, m, sizeof(m) - 1);
	_exit(AV_USAGE);
}

static int
load_pubkey(const char *path, uint8_t out[AUDIT_PUBKEY_LEN])
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *pk;
	size_t len = AUDIT_PUBKEY_LEN;
	int rc = -1;

	if (f == NULL) {
		fprintf(stderr, "keyhole-audit: %s: %s\n", path, strerror(errno));
		return -1;
	}
	pk = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (pk != NULL && EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519 &&
	    EVP_PKEY_get_raw_public_key(pk, out, &len) == 1 &&
	    len == AUDIT_PUBKEY_LEN)
		rc = 0;
	else
		fprintf(stderr, "keyhole-audit: %s is not an Ed25519 public key "
		    "in PEM (make it with: openssl pkey -in KEY -pubout)\n",
		    path);
	EVP_PKEY_free(pk);
	return rc;
}

/* The file, mapped read-only (NULL and 0 for an empty one). */
static int
map_file(const char *path, struct av_file *f)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	f->name = path;
	f->data = NULL;
	f->len = 0;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "keyhole-audit: %s: %s\n", path,
		    fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (st.st_size > 0) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
		    fd, 0);
		if (p == MAP_FAILED) {
			fprintf(stderr, "keyhole-audit: %s: %s\n", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		f->data = p;
		f->len = (size_t)st.st_size;
	}
	close(fd);
	return 0;
}

static void
unmap_files(struct av_file *fs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fs[i].data != NULL)
			munmap((void *)(uintptr_t)fs[i].data, fs[i].len);
	free(fs);
}

static void
print_summary(const struct av_report *r, const struct av_file *fs)
{
	printf("  records: %llu", (unsigned long long)r->records);
	if (r->records > 0)
		printf(" (seq %llu to %llu%s)", (unsigned long long)r->first_seq,
		    (unsigned long long)r->last_seq, r->mid_chain ?
		    ", the log begins in the middle of its chain" : "");
	printf("\n  requests: %llu (forwarded %llu, refused by keyhole %llu, "
	    "refused by keyhole-net %llu); events: %llu; checkpoints: %llu\n",
	    (unsigned long long)r->requests, (unsigned long long)r->forwarded,
	    (unsigned long long)r->refused_parent,
	    (unsigned long long)r->refused_child, (unsigned long long)r->events,
	    (unsigned long long)r->checkpoints);
	if (r->records > 0)
		printf("  time: %s to %s\n", r->first_time, r->last_time);
	printf("  runs: %zu", r->runs);
	for (size_t i = 0; i < r->runs && i < AV_LIST_MAX; i++)
		printf("%s%s", i ? ", " : " (--run-id: ", r->run_ids[i][0] ?
		    r->run_ids[i] : "none");
	printf("%s\n", r->runs > 0 ? (r->runs > AV_LIST_MAX ? ", ...)" : ")") :
	    "");
	if (r->have_ckpt)
		printf("  last signed checkpoint: %s:%llu, seq %llu, %s%s\n",
		    fs[r->ckpt.file].name, (unsigned long long)r->ckpt.line,
		    (unsigned long long)r->ckpt_seq, r->ckpt_time,
		    r->ckpt_final ? " (final: keyhole stopped)" : "");
	else
		printf("  last signed checkpoint: none\n");
	for (size_t i = 0; i < r->nkeys; i++)
		printf("  signed by key %s (%s)\n", r->keys[i], r->keys_given ?
		    "a --pubkey key" : "named by the log itself; give --pubkey "
		    "to prove who signed");
	printf("  recoveries after a crash: %zu\n", r->recoveries);
	for (size_t i = 0; i < r->recoveries && i < AV_LIST_MAX; i++) {
		const struct av_where *w = &r->recover[i].where;
		printf("    %s:%llu: keyhole resumed a file it had not closed "
		    "(killed or crashed)", fs[w->file].name,
		    (unsigned long long)w->line);
		if (r->recover[i].torn_bytes > 0)
			printf("; the line before, %llu bytes cut short by the "
			    "crash, is kept", (unsigned long long)
			    r->recover[i].torn_bytes);
		printf("\n");
	}
}

int
main(int argc, char **argv)
{
	uint8_t keys[AUDIT_PUBKEYS_MAX][AUDIT_PUBKEY_LEN];
	struct av_opts o = { NULL, 0, false };
	struct av_report rep;
	struct av_file *fs;
	size_t nf = 0;
	int i = 2;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc < 3 || strcmp(argv[1], "verify") != 0) {
		usage(stderr);
		return AV_USAGE;
	}
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (strcmp(argv[i], "--partial") == 0) {
			o.partial = true;
		} else if (strcmp(argv[i], "--pubkey") == 0 && i + 1 < argc &&
		    o.npub < AUDIT_PUBKEYS_MAX) {
			if (load_pubkey(argv[++i], keys[o.npub]) < 0)
				return AV_USAGE;
			o.npub++;
		} else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return AV_USAGE;
		}
	}
	if (i >= argc || argc - i > (int)KH_AUDIT_FILES_MAX) {
		usage(stderr);
		return AV_USAGE;
	}
	o.pub = (const uint8_t (*)[AUDIT_PUBKEY_LEN])keys;
	signal(SIGBUS, on_sigbus);
	if ((fs = calloc((size_t)(argc - i), sizeof(*fs))) == NULL)
		return AV_USAGE;
	for (; i < argc; i++)
		if (map_file(argv[i], &fs[nf++]) < 0) {
			unmap_files(fs, nf);
			return AV_USAGE;
		}
	av_verify(fs, nf, &o, &rep);
	if (rep.kind == AV_OK) {
		printf("keyhole-audit: %zu file(s): intact\n", nf);
	} else {
		printf("keyhole-audit: %s:%llu: %s: %s\n",
		    fs[rep.where.file].name, (unsigned long long)rep.where.line,
		    av_kind_name(rep.kind), rep.why);
		printf("what was read before it:\n");
	}
	print_summary(&rep, fs);
	unmap_files(fs, nf);
	return rep.kind;
}
