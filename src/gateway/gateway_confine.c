/*
 * keyhole-gateway's own seccomp filter, installed by main once everything
 * that opens, binds or creates is done (the listener bound, stdin/stdout
 * taken, the queue directories opened and ready.json written), before the
 * first byte from an agent or the host is read.  PR_SET_NO_NEW_PRIVS
 * first (a filter needs it without CAP_SYS_ADMIN, and exec could no
 * longer gain privileges anyway); the architecture is checked (sbx_new:
 * another ABI is killed) and the default action kills the process.
 *
 * It is the same filter in the static and the dynamic binary, and
 * libseccomp links statically (Debian ships libseccomp.a).
 * it.test_h2_gateway proves the kill: KEYHOLE_GATEWAY_TEST_EXECVE=1 makes
 * the confined gateway call execve, and it must die of SIGSYS.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include <seccomp.h>

#include "gateway.h"
#include "sbx.h"

/* Both transports, serving.  Who needs each: */
static const char *const gw_allowed[] = {
	/* libevent's epoll loop, bufferevents on the agent sockets and on
	 * stdin/stdout, and its signal socketpair (send/recv) */
	"epoll_wait", "epoll_pwait", "epoll_ctl",
	"read", "readv", "recvfrom",
	"write", "writev", "sendto",
	"close",
	/* evconnlistener: agent connections (accept4 sets NONBLOCK and
	 * CLOEXEC; fcntl for libevent's flag checks); TCP_NODELAY */
	"accept4", "accept", "fcntl", "setsockopt", "getsockname",
	/* libevent's monotonic clock and the queue's timestamps (vDSO
	 * usually; the system call as fallback) */
	"clock_gettime", "gettimeofday",
	/* malloc: heap growth and release */
	"brk", "mmap", "munmap", "mremap", "madvise",
	/* leaving, and libc's internal uses; getrandom: the queue's
	 * request ids */
	"exit", "exit_group", "rt_sigreturn", "futex", "getpid",
	"getrandom",
	/* fstat by fd: stdio and fdopendir look at the fds they use */
	"fstat",
	NULL,
};

/*
 * queue_v1's file calls, only relative to the queue directories the
 * gateway opened at start (gateway_dirs.c), never AT_FDCWD: request files
 * created and renamed in requests/, response files read and removed in
 * responses/, requests/ listed (a dup of its fd, so getdents64 and lseek
 * cannot be tied to one fd; without open they read nothing new).
 */
static int
gw_queue_rules(scmp_filter_ctx ctx, const struct gw *g)
{
	const uint32_t A = SCMP_ACT_ALLOW;
	const scmp_datum_t dirs[] = { (scmp_datum_t)g->reqfd,
	    (scmp_datum_t)g->respfd };
	int rc = 0;

	for (size_t i = 0; i < 2; i++) {
		/* always O_NOFOLLOW: a planted symlink is never followed */
		rc |= seccomp_rule_add(ctx, A, SCMP_SYS(openat), 2,
		    SCMP_A0(SCMP_CMP_EQ, dirs[i]),
		    SCMP_A2(SCMP_CMP_MASKED_EQ, O_NOFOLLOW, O_NOFOLLOW));
		rc |= seccomp_rule_add(ctx, A, SCMP_SYS(unlinkat), 1,
		    SCMP_A0(SCMP_CMP_EQ, dirs[i]));
		/* fstatat(dir, name, AT_SYMLINK_NOFOLLOW): the depth count */
		rc |= seccomp_rule_add(ctx, A, SCMP_SYS(newfstatat), 1,
		    SCMP_A0(SCMP_CMP_EQ, dirs[i]));
	}
	/* <id>.json.tmp -> <id>.json inside requests/ */
	rc |= seccomp_rule_add(ctx, A, SCMP_SYS(renameat), 2,
	    SCMP_A0(SCMP_CMP_EQ, dirs[0]), SCMP_A2(SCMP_CMP_EQ, dirs[0]));
	rc |= seccomp_rule_add(ctx, A, SCMP_SYS(renameat2), 2,
	    SCMP_A0(SCMP_CMP_EQ, dirs[0]), SCMP_A2(SCMP_CMP_EQ, dirs[0]));
	/* the depth count's directory stream: dup, getdents64, lseek
	 * (rewinddir); a root gateway gives each request file to the owner
	 * of requests/: geteuid, fchown (by fd) */
	static const char *const more[] = { "dup", "getdents64", "lseek",
	    "geteuid", "fchown", NULL };
	if (sbx_allow_list(ctx, more) < 0)
		rc = -1;
	return rc == 0 ? 0 : -1;
}

#ifdef KH_SANITIZE
/* Sanitizer builds only (tests): as keyhole-net's filter
 * (src/unpriv/sandbox.c), the ASan runtime's queries of the signal stack
 * are allowed and its opens of /proc/self/maps fail with EACCES. */
static int
gw_sanitizer_rules(scmp_filter_ctx ctx)
{
	return sbx_sanitizer_rules(ctx, NULL);
}
#endif

int
gw_confine(const struct gw *g, bool queue)
{
	scmp_filter_ctx ctx;
	int rc = -1;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	if ((ctx = sbx_new(SCMP_ACT_KILL_PROCESS)) == NULL)
		return -1;
	if (sbx_allow_list(ctx, gw_allowed) < 0)
		goto out;
	/* fstat as glibc makes it: newfstatat(fd, "", AT_EMPTY_PATH) */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(newfstatat), 1,
	    SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH)) != 0)
		goto out;
	/* ioctl: only FIONREAD, which evbuffer_read uses to size reads */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
	    SCMP_A1(SCMP_CMP_EQ, FIONREAD)) != 0)
		goto out;
	/* mprotect: malloc may change protections, never to executable */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) != 0)
		goto out;
	if (queue && gw_queue_rules(ctx, g) < 0)
		goto out;
#ifdef KH_SANITIZE
	if (gw_sanitizer_rules(ctx) < 0)
		goto out;
#endif
	rc = seccomp_load(ctx);
out:
	seccomp_release(ctx);
	if (rc != 0)
		errno = rc < 0 ? -rc : EINVAL;
	return rc == 0 ? 0 : -1;
}
