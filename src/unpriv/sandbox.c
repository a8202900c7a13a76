/*
 * keyhole-net confinement, in DESIGN.md's order, each step fatal:
 *
 *   1. chroot to an empty root-owned directory and chdir("/")    (root only)
 *   2. setgroups(0), setresgid, setresuid to the unprivileged user,
 *      then prove that uid 0 cannot be regained                    (root only)
 *   3. drop every capability, including the bounding set (libcap-ng)
 *   4. rlimits: no files written, no core, no processes, bounded fds
 *   5. PR_SET_NO_NEW_PRIVS
 *   6. seccomp allowlist, architecture checked, default KILL_PROCESS
 *
 * The policy text was read (fd 4) and the event base created before this:
 * after it, the child can only use fds it already holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cap-ng.h>
#include <seccomp.h>
#ifdef KH_SANITIZE
#include <sanitizer/common_interface_defs.h>
#endif

#include "log.h"
#include "sandbox.h"
#include "sbx.h"

static void __attribute__((noreturn))
sandbox_fail(const char *step)
{
	log_error("confinement failed at %s: %s", step, strerror(errno));
	_exit(1);
}

/*
 * The child's whole syscall surface once serving.  Who needs each:
 */
static const char *const sandbox_allowed[] = {
	/* libevent's epoll loop and bufferevents on sockets it holds */
	"epoll_wait", "epoll_pwait", "epoll_ctl",
	"read", "readv", "recvfrom", "recvmsg",
	"write", "writev", "sendto", "sendmsg",
	"close", "shutdown",
	/* evconnlistener: new client sockets (accept4 sets NONBLOCK and
	 * CLOEXEC itself; fcntl for libevent's own flag checks) */
	"accept4", "accept", "fcntl", "setsockopt", "getsockname",
	"getpeername",
	/* libevent's monotonic clock (usually vDSO, syscall as fallback) */
	"clock_gettime", "gettimeofday",
	/* malloc: heap growth and release */
	"brk", "mmap", "munmap", "mremap", "madvise",
	/* leaving, and glibc's internal uses */
	"exit", "exit_group", "rt_sigreturn", "futex", "getpid",
	"getrandom",
	NULL,
};

#ifdef KH_SANITIZE
/*
 * Sanitizer builds only (cmake -DKH_SANITIZE=ON, for tests; never a
 * release).  The ASan/UBSan runtime inside the child needs:
 *  - sigaltstack(NULL, &old): __asan_handle_no_return, run before every
 *    noreturn call such as _exit(), queries the alternate signal stack.
 *    Only the query (first argument NULL) is allowed: no stack can be
 *    installed.  Without it every exit of an ASan child is a SIGSYS.
 *  - open/openat/readlink failing instead of killing: a report re-reads
 *    /proc/self/maps and falls back to the copy cached by
 *    __sanitizer_sandbox_on_notify() only when the open fails.  They fail
 *    with EACCES: the child still opens nothing.
 * test_sandbox_filter checks both builds: a normal build kills all four.
 */
static int
sandbox_sanitizer_rules(scmp_filter_ctx ctx)
{
	static const char *const fail[] = {
		"open", "openat", "readlink", "pipe", "pipe2", NULL,
	};

	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sigaltstack), 1,
	    SCMP_A0(SCMP_CMP_EQ, 0)) != 0)
		return -1;
	for (const char *const *n = fail; *n != NULL; n++)
		if (sbx_rule(ctx, SCMP_ACT_ERRNO(EACCES), *n) < 0)
			return -1;
	return 0;
}
#endif

int
sandbox_filter_install(void)
{
	scmp_filter_ctx ctx = sbx_new(SCMP_ACT_KILL_PROCESS);
	int rc = -1;

	if (ctx == NULL)
		return -1;
	if (sbx_allow_list(ctx, sandbox_allowed) < 0)
		goto out;
	/* ioctl: only FIONREAD, which evbuffer_read uses to size reads. */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
	    SCMP_A1(SCMP_CMP_EQ, FIONREAD)) != 0)
		goto out;
	/* mprotect: glibc's malloc may change protections, never to exec. */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) != 0)
		goto out;
#ifdef KH_SANITIZE
	if (sandbox_sanitizer_rules(ctx) < 0)
		goto out;
#endif
	rc = seccomp_load(ctx);
out:
	seccomp_release(ctx);
	return rc == 0 ? 0 : -1;
}

static void
sandbox_drop_user(const struct child_config *cfg)
{
	uid_t r, e, s;

	if (cfg->do_chroot) {
		if (chroot(cfg->chroot_dir) < 0)
			sandbox_fail("chroot");
		if (chdir("/") < 0)
			sandbox_fail("chdir");
	}
	if (!cfg->drop_user)
		return;
	/* libcap-ng keeps CAP_SETPCAP across the id change just long enough
	 * to clear the bounding set, which a non-root uid could not do, then
	 * applies the empty capability sets configured here. */
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_change_id((int)cfg->uid, (int)cfg->gid,
	    CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING) != 0)
		sandbox_fail("setresuid/setresgid (capng_change_id)");
	gid_t g[2];
	if (getgroups(2, g) != 0 || getgid() != (gid_t)cfg->gid ||
	    getegid() != (gid_t)cfg->gid) {
		errno = EPERM;
		sandbox_fail("gid check");
	}
	if (setuid(0) == 0 || getresuid(&r, &e, &s) < 0 || r == 0 || e == 0 ||
	    s == 0) {
		errno = EPERM;
		sandbox_fail("uid check");
	}
	/* A credential change clears the parent-death signal: set it again
	 * so the child never outlives its supervisor. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		sandbox_fail("PR_SET_PDEATHSIG");
	if (getppid() == 1)
		_exit(1);
}

static void
sandbox_rlimits(const struct child_config *cfg)
{
	/* fds: clients + listeners + the link, epoll and stdio. */
	rlim_t nofile = (rlim_t)cfg->max_conns + cfg->nlisteners + 16;
	struct rlimit zero = { 0, 0 }, files = { nofile, nofile };

	if (setrlimit(RLIMIT_NOFILE, &files) < 0)
		sandbox_fail("RLIMIT_NOFILE");
	if (setrlimit(RLIMIT_FSIZE, &zero) < 0)
		sandbox_fail("RLIMIT_FSIZE");
	if (setrlimit(RLIMIT_CORE, &zero) < 0)
		sandbox_fail("RLIMIT_CORE");
	if (setrlimit(RLIMIT_MEMLOCK, &zero) < 0)
		sandbox_fail("RLIMIT_MEMLOCK");
	/* Only meaningful for a non-root uid (root ignores RLIMIT_NPROC);
	 * as root without --user the seccomp filter forbids fork anyway. */
	if (cfg->drop_user && setrlimit(RLIMIT_NPROC, &zero) < 0)
		sandbox_fail("RLIMIT_NPROC");
}

void
sandbox_confine(const struct child_config *cfg)
{
#ifdef KH_SANITIZE
	/* Sanitizer builds only: let ASan/UBSan read what a report needs
	 * (the binary's name, the memory map) while /proc is still reachable;
	 * inside the sandbox they could not, and a report would end in
	 * SIGSYS instead of being printed. */
	__sanitizer_sandbox_on_notify(NULL);
#endif
	sandbox_drop_user(cfg);
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_apply(CAPNG_SELECT_BOTH) != 0) {
		/* Without CAP_SETPCAP the bounding set cannot be changed: a
		 * child started by a non-root parent keeps a bounding set it
		 * can never use (no_new_privs below), so clearing the
		 * effective/permitted/inheritable sets is what remains. */
		if (geteuid() == 0 || capng_apply(CAPNG_SELECT_CAPS) != 0)
			sandbox_fail("capabilities");
	}
	sandbox_rlimits(cfg);
	if (prctl(PR_SET_DUMPABLE, 0) < 0)
		sandbox_fail("PR_SET_DUMPABLE");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		sandbox_fail("PR_SET_NO_NEW_PRIVS");
	if (sandbox_filter_install() < 0)
		sandbox_fail("seccomp");
}
