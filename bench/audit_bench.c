/*
 * audit_bench: what one audit record costs the parent (src/priv/audit*.c),
 * piece by piece, for the figures in SECURITY.md ("The audit log").  Not
 * a test: a measurement.
 *
 *   build/audit_bench [DIR]          (default /tmp; the file is removed)
 *
 * Each line is CPU time of this thread per operation, the best of five
 * rounds: building and chaining the record of a forwarded GET (its
 * response body of 320 bytes hashed) and of a POST, the write(2) of one
 * record alone and of 16 at once, fdatasync(2) after one record, and an
 * Ed25519 checkpoint.  Other load on the machine raises the system-call
 * figures more than the others.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "audit_int.h"
#include "log.h"

static double
bench_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct up_req req;
static uint8_t resp[320], sha[32];

static void
one_get(void)
{
	audit_digest(resp, sizeof(resp), sha);
	audit_forwarded(&req, UP_OK, 200, sizeof(resp), sha);
}

static void
one_post(void)
{
	strcpy(req.method, "POST");
	audit_digest(resp, sizeof(resp), sha);
	audit_forwarded(&req, UP_OK, 200, sizeof(resp), sha);
	strcpy(req.method, "GET");
}

/* us per call of f, n calls a round, best of 5; the pending buffer is
 * emptied between rounds (not counted). */
static double
bench(void (*f)(void), int n)
{
	double best = 1e9;

	for (int r = 0; r < 5; r++) {
		double t0 = bench_cpu();
		for (int i = 0; i < n; i++)
			f();
		double t = (bench_cpu() - t0) / n * 1e6;
		if (t < best)
			best = t;
		audit_g.buf.len = 0;
		audit_g.need_sync = false;
		audit_g.sync_records = 0;
	}
	return best;
}

static int fd_w;
static char line[700];

static void
one_write(void)
{
	if (write(fd_w, line, sizeof(line)) != (ssize_t)sizeof(line))
		abort();
}

static char lines16[16 * 700];

static void
sixteen_writes(void)
{
	if (write(fd_w, lines16, sizeof(lines16)) != (ssize_t)sizeof(lines16))
		abort();
}

static void
one_sync(void)
{
	one_write();
	if (fdatasync(fd_w) < 0)
		abort();
}

static void
one_checkpoint(void)
{
	(void)audit_checkpoint(false);
}

int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	static const char policy[] = "allow GET /api/agents/me\n";
	static struct kh_config cfg;
	static struct parent par;
	static struct kh_gen gen0;
	char path[512], key[512], wpath[512];
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	FILE *kf;
	int kfd;

	log_init("audit_bench", NULL);
	log_set_verbosity(LOG_ERROR);
	snprintf(path, sizeof(path), "%s/audit_bench.%d.log", dir, (int)getpid());
	snprintf(key, sizeof(key), "%s/audit_bench.%d.key", dir, (int)getpid());
	snprintf(wpath, sizeof(wpath), "%s/audit_bench.%d.w", dir, (int)getpid());
	kfd = open(key, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (pk == NULL || kfd < 0 || (kf = fdopen(kfd, "w")) == NULL ||
	    PEM_write_PrivateKey(kf, pk, NULL, NULL, 0, NULL, NULL) != 1)
		return 1;
	fclose(kf);
	cfg.audit_log = path;
	cfg.audit_key = key;
	cfg.audit_ckpt_records = 1000000;
	cfg.audit_ckpt_secs = 3600;
	cfg.upstream = "http://127.0.0.1:3100";
	cfg.policy_file = "p";
	par.cfg = &cfg;
	par.base = event_base_new();
	par.gen = &gen0;
	sha256(policy, sizeof(policy) - 1, gen0.sha256);
	if (audit_open(&par) < 0)
		return 1;
	req.id = 1;
	strcpy(req.method, "GET");
	strcpy(req.path, "/api/agents/me");
	strcpy(req.peer, "127.0.0.1:51234");
	req.rule_line = 1;
	req.sent = true;
	req.status = 200;
	memset(resp, 'x', sizeof(resp));
	memset(line, 'y', sizeof(line));
	memset(lines16, 'y', sizeof(lines16));
	fd_w = open(wpath, O_WRONLY | O_CREAT | O_APPEND, 0600);

	printf("record of a GET (build, 3 digests, chain)  %6.2f us\n",
	    bench(one_get, 20000));
	printf("record of a POST                            %6.2f us\n",
	    bench(one_post, 20000));
	printf("write(2) of one 700-byte record             %6.2f us\n",
	    bench(one_write, 20000));
	printf("write(2) of 16 records at once, per record  %6.2f us\n",
	    bench(sixteen_writes, 2000) / 16);
	printf("write + fdatasync(2) of one record          %6.2f us\n",
	    bench(one_sync, 300));
	printf("signed checkpoint (Ed25519)                 %6.2f us\n",
	    bench(one_checkpoint, 2000));
	close(fd_w);
	unlink(wpath);
	audit_close("bench", 0);
	event_base_free(par.base);
	unlink(path);
	unlink(key);
	EVP_PKEY_free(pk);
	return 0;
}
