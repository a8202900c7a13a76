/*
 * The queue transport's confinement as a whole (sandbox_confine), tried
 * the way a compromised child would: openat(13, "../../secret") walks up
 * from requests/ to a file beside the queue directory.  seccomp lets that
 * call through (dirfd 13, O_NOFOLLOW), so what stops it is the chroot into
 * the queue (root) or Landlock (not root).
 *
 *   queue_child_cannot_leave_the_queue_with_landlock
 *       not root, Landlock present: the read fails
 *   queue_child_refuses_to_run_without_landlock_or_chroot
 *       not root, Landlock made absent (a seccomp filter installed first
 *       answers ENOSYS to landlock_*, as a kernel without it does): the
 *       child must exit at confinement, never reach the read — before the
 *       fix it warned and the read returned the secret
 *   queue_child_chrooted_without_landlock_stays_inside
 *       root (chroot into the queue + setuid), Landlock absent: still no
 *       way out
 *
 * The "not root" cases run as root with drop_user off (what a non-root
 * parent configures); the secret and the directories are world-readable
 * so only the confinement, not a permission bit, can stop the read.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <seccomp.h>

#include "child_config.h"
#include "kh_test.h"
#include "log.h"
#include "sandbox.h"

#define SECRET "KH-QUEUE-CONFINE-SECRET"

static char dir[] = "/tmp/kh-qconfine-XXXXXX";
static char qdir[128];

enum probe_result {
	PROBE_BLOCKED = 0,	/* the read failed */
	PROBE_SETUP = 98,	/* the test's own set-up failed */
	PROBE_READ_SECRET = 3,	/* confinement did not hold */
};

/* A kernel without Landlock, as far as this process can tell. */
static int
hide_landlock(void)
{
	static const char *const calls[] = { "landlock_create_ruleset",
	    "landlock_add_rule", "landlock_restrict_self" };
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int rc = 0;

	if (ctx == NULL)
		return -1;
	for (size_t i = 0; i < 3; i++)
		rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
		    seccomp_syscall_resolve_name(calls[i]), 0);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	return rc;
}

/* Fork; in the child: fixed queue fds, optionally no Landlock, then the
 * real confinement and the escape attempt.  Returns the wait status. */
static int
run_confined(bool root_mode, bool no_landlock)
{
	pid_t pid = fork();
	int st = 0;

	if (pid == 0) {
		static const char *const sub[] = { "requests", "processing",
		    "responses" };
		struct child_config cfg;
		char p[256], buf[64];

		for (int i = 0; i < 3; i++) {
			snprintf(p, sizeof(p), "%s/%s", qdir, sub[i]);
			int fd = open(p, O_RDONLY | O_DIRECTORY);
			if (fd < 0 || dup2(fd, KH_CHILD_FD_QREQ + i) < 0)
				_exit(PROBE_SETUP);
		}
		memset(&cfg, 0, sizeof(cfg));
		cfg.max_conns = 16;
		cfg.queue = true;
		if (root_mode) {
			int fd = open(qdir, O_RDONLY | O_DIRECTORY);
			if (fd < 0 || dup2(fd, KH_CHILD_FD_QROOT) < 0)
				_exit(PROBE_SETUP);
			cfg.queue_chroot = true;
			cfg.drop_user = true;
			cfg.uid = 65534;
			cfg.gid = 65534;
		}
		if (no_landlock && hide_landlock() != 0)
			_exit(PROBE_SETUP);
		log_init("test_queue_confine", NULL);
		sandbox_confine(&cfg);
		/* A compromised child: up from requests/ to the secret. */
		int fd = (int)syscall(SYS_openat, KH_CHILD_FD_QREQ, "../../secret",
		    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			_exit(PROBE_BLOCKED);
		ssize_t n = read(fd, buf, sizeof(buf));
		_exit(n > 0 && memcmp(buf, SECRET, strlen(SECRET)) == 0 ?
		    PROBE_READ_SECRET : PROBE_BLOCKED);
	}
	waitpid(pid, &st, 0);
	return st;
}

static int
make_tree(void)
{
	static const char *const sub[] = { "requests", "processing",
	    "responses" };
	char p[256];
	int fd;

	if (mkdtemp(dir) == NULL || chmod(dir, 0755) != 0)
		return -1;
	snprintf(qdir, sizeof(qdir), "%s/q", dir);
	if (mkdir(qdir, 0777) != 0 || chmod(qdir, 0777) != 0)
		return -1;
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", qdir, sub[i]);
		if (mkdir(p, 0777) != 0 || chmod(p, 0777) != 0)
			return -1;
	}
	snprintf(p, sizeof(p), "%s/secret", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0 || write(fd, SECRET, strlen(SECRET)) !=
	    (ssize_t)strlen(SECRET) || fchmod(fd, 0644) != 0)
		return -1;
	close(fd);
	return 0;
}

static bool
exited(int st, int code)
{
	return WIFEXITED(st) && WEXITSTATUS(st) == code;
}

int
main(void)
{
	char cmd[160];
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    1 /* LANDLOCK_CREATE_RULESET_VERSION */);
	int st;

	if (make_tree() != 0) {
		perror("test set-up");
		return 2;
	}

	/* Not root, Landlock present (every CI kernel we run on has it;
	 * without it this case is the next one). */
	if (abi >= 2) {
		st = run_confined(false, false);
		if (!exited(st, PROBE_BLOCKED))
			fprintf(stderr, "queue_child_cannot_leave_the_queue_with_"
			    "landlock: status 0x%x\n", st);
		CHECK(exited(st, PROBE_BLOCKED));
	} else {
		fprintf(stderr, "note: this kernel has no Landlock ABI 2 (%ld): "
		    "the first case is the second\n", abi);
	}

	/* Not root, no Landlock: no confinement of the queue fds is left,
	 * so the child must not start at all (sandbox_fail exits 1). */
	st = run_confined(false, true);
	if (!exited(st, 1))
		fprintf(stderr, "queue_child_refuses_to_run_without_landlock_or_"
		    "chroot: status 0x%x (exit %d; 3 = read the secret)\n", st,
		    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	CHECK(exited(st, 1));

	/* Root: chroot into the queue + setuid holds without Landlock. */
	if (geteuid() == 0) {
		st = run_confined(true, true);
		if (!exited(st, PROBE_BLOCKED))
			fprintf(stderr, "queue_child_chrooted_without_landlock_"
			    "stays_inside: status 0x%x\n", st);
		CHECK(exited(st, PROBE_BLOCKED));
	}

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 2;
	TEST_DONE();
}
