/*
 * keyhole-net confinement, in the order docs/design.md gives, each step
 * fatal (SECURITY.md I10):
 *
 *   0. everything that would later open a file BY NAME is done now, while
 *      names still resolve in the real file system: the time zone (glibc
 *      opens /etc/localtime the first time it formats a time, and checks it
 *      again on later calls while TZ is unset) and, when root, libcap-ng's
 *      work on the bounding and ambient sets (it reads /proc/<tid>/status).
 *      After step 1 the root may be the queue directory, which the sandbox
 *      writes: a FIFO planted at one of those names would hang the child
 *      (as root, at every restart), a planted file would be parsed.
 *   1. chroot to an empty root-owned directory                   (root only;
 *      with the queue transport: into the queue directory, by its fd)
 *   2. setgroups(0), setresgid, setresuid to the unprivileged user, which
 *      clears every capability, then prove that uid 0 and no capability can
 *      be regained — plain system calls that take no path     (root only)
 *   3. capabilities: all sets empty (checked with capget)
 *   4. rlimits: no files written, no core, no processes, bounded fds
 *   5. PR_SET_NO_NEW_PRIVS
 *   5b. queue transport: Landlock (sandbox_landlock.c) — the file system is
 *      reduced to the three queue directories (fds 13-15).  Without a chroot (not root) it is
 *      the only thing that keeps openat(13, "../../x") inside the queue, so
 *      a kernel without it (ABI 2+) is fatal; the parent refuses such a
 *      configuration before it starts a child (queue_dirs.c)
 *   6. seccomp allowlist, architecture checked, default KILL_PROCESS
 *
 * The policy text was read (fd 4) and the event base created before this:
 * after it, the child can only use fds it already holds.  No function
 * called after step 1 may open, stat, connect to or exec anything by name
 * (it.test_confine traces the child to prove it).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sys/syscall.h>

#include <cap-ng.h>
#include <seccomp.h>
#ifdef KH_SANITIZE
#include <sanitizer/common_interface_defs.h>
#endif

#include "log.h"
#include "net.h"
#include "sandbox.h"
#include "sbx.h"

void
sandbox_fail(const char *step)
{
	link_fatal("confinement failed at %s: %s", step, strerror(errno));
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

/*
 * The queue transport's additions: file calls, each only relative to the
 * queue directories the parent opened (fixed fds 13-15), never AT_FDCWD
 * or another fd.  A path like "../x" relative to those fds is kept
 * inside by the chroot into the queue directory (root) and by Landlock;
 * the child itself only ever passes validated "<id>.json" names.
 */
static int
sandbox_queue_rules(scmp_filter_ctx ctx)
{
	static const int dirs[] = { KH_CHILD_FD_QREQ, KH_CHILD_FD_QPROC,
	    KH_CHILD_FD_QRESP };
	const uint32_t A = SCMP_ACT_ALLOW;
	int rc = 0;

	for (size_t i = 0; i < 3; i++) {
		scmp_datum_t fd = (scmp_datum_t)dirs[i];
		/* openat: request files (read), responses (create); always
		 * O_NOFOLLOW, so a planted symlink is never followed. */
		rc |= seccomp_rule_add(ctx, A, SCMP_SYS(openat), 2,
		    SCMP_A0(SCMP_CMP_EQ, fd),
		    SCMP_A2(SCMP_CMP_MASKED_EQ, O_NOFOLLOW, O_NOFOLLOW));
		/* unlinkat: release a claim, a stale tmp, a duplicate. */
		rc |= seccomp_rule_add(ctx, A, SCMP_SYS(unlinkat), 1,
		    SCMP_A0(SCMP_CMP_EQ, fd));
	}
	/* The claim (requests/ -> processing/) and the response rename
	 * (responses/ -> responses/); renameat2 carries RENAME_NOREPLACE. */
	rc |= seccomp_rule_add(ctx, A, SCMP_SYS(renameat2), 2,
	    SCMP_A0(SCMP_CMP_EQ, KH_CHILD_FD_QREQ),
	    SCMP_A2(SCMP_CMP_EQ, KH_CHILD_FD_QPROC));
	rc |= seccomp_rule_add(ctx, A, SCMP_SYS(renameat2), 2,
	    SCMP_A0(SCMP_CMP_EQ, KH_CHILD_FD_QRESP),
	    SCMP_A2(SCMP_CMP_EQ, KH_CHILD_FD_QRESP));
	if (seccomp_syscall_resolve_name("renameat") > 0)
		rc |= seccomp_rule_add(ctx, A, SCMP_SYS(renameat), 2,
		    SCMP_A0(SCMP_CMP_EQ, KH_CHILD_FD_QRESP),
		    SCMP_A2(SCMP_CMP_EQ, KH_CHILD_FD_QRESP));
	/* Listing requests/ (scan) and processing/ (recovery at start). */
	for (int fd = KH_CHILD_FD_QREQ; fd <= KH_CHILD_FD_QPROC; fd++) {
		rc |= seccomp_rule_add(ctx, A, SCMP_SYS(getdents64), 1,
		    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fd));
		rc |= seccomp_rule_add(ctx, A, SCMP_SYS(lseek), 1,
		    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fd));
	}
	/* fstat by fd only (no path): the type/size/inode checks.  The
	 * inotify fd needs nothing beyond read(). */
	if (sbx_allow(ctx, "fstat") < 0)
		rc = -1;
	return rc == 0 ? 0 : -1;
}

#ifdef KH_SANITIZE
/*
 * Sanitizer builds only (cmake -DKH_SANITIZE=ON, for tests; never a
 * release).  The ASan/UBSan runtime inside the child needs:
 *  - sigaltstack(NULL, &old): __asan_handle_no_return, run before every
 *    noreturn call such as _exit(), queries the alternate signal stack.
 *    Only the query (first argument NULL) is allowed: no stack can be
 *    installed.  Without it every exit of an ASan child is a SIGSYS.
 *  - open/openat(AT_FDCWD)/readlink failing instead of killing: a report
 *    re-reads /proc/self/maps and falls back to the copy cached by
 *    __sanitizer_sandbox_on_notify() only when the open fails.  They fail
 *    with EACCES: the child still opens nothing.
 * test_sandbox_filter checks both builds: a normal build kills all four.
 */
static int
sandbox_sanitizer_rules(scmp_filter_ctx ctx)
{
	static const char *const fail[] = { "pipe", "pipe2", NULL };

	return sbx_sanitizer_rules(ctx, fail);
}
#endif

int
sandbox_filter_install(void)
{
	return sandbox_filter_install_for(false);
}

int
sandbox_filter_install_for(bool queue)
{
	scmp_filter_ctx ctx = sbx_new(SCMP_ACT_KILL_PROCESS);
	int rc = -1;

	if (ctx == NULL)
		return -1;
	if (sbx_allow_list(ctx, sandbox_allowed) < 0)
		goto out;
	if (queue && sandbox_queue_rules(ctx) < 0)
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

/* Step 0: see the comment at the top. */
static void
sandbox_before_chroot(const struct child_config *cfg)
{
	/* A TZ that tzset() has seen is never looked up again (glibc only
	 * re-reads the zone when TZ changes, or on every call while TZ is
	 * unset).  The child formats no local time; UTC0 needs no file. */
	if (setenv("TZ", "UTC0", 1) != 0)
		sandbox_fail("setenv TZ");
	tzset();
	if (!cfg->drop_user)
		return;
	/* Root: empty the bounding set now, with libcap-ng (which reads
	 * /proc/<tid>/status to do it); the effective set still holds what
	 * steps 1 and 2 need.  The ambient set is cleared too, though
	 * setresuid below would clear it. */
	if (capng_get_caps_process() != 0)
		sandbox_fail("capng_get_caps_process");
	capng_clear(CAPNG_SELECT_BOUNDS);
	if (capng_apply(CAPNG_SELECT_BOUNDS) != 0)
		sandbox_fail("bounding set (capng_apply)");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		sandbox_fail("PR_CAP_AMBIENT_CLEAR_ALL");
}

/* Steps 3 and the checks of 2: no capability in any set, raw capset and
 * capget (libcap-ng's apply would re-read /proc by name). */
static void
sandbox_caps_zero(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		sandbox_fail("capset");
	memset(data, 0xff, sizeof(data));
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	hdr.pid = 0;
	if (syscall(SYS_capget, &hdr, data) < 0)
		sandbox_fail("capget");
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (data[i].effective != 0 || data[i].permitted != 0 ||
		    data[i].inheritable != 0) {
			errno = EPERM;
			sandbox_fail("capability check");
		}
}

static void
sandbox_drop_user(const struct child_config *cfg)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;
	gid_t g[2];

	/* Both chroots enter the directory by an fd and chroot("."): the
	 * working directory is the new root at once, and no name is looked
	 * up inside it (not even "/"). */
	if (cfg->do_chroot) {
		int fd = open(cfg->chroot_dir, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC);
		if (fd < 0 || fchdir(fd) < 0)
			sandbox_fail("open/fchdir (chroot directory)");
		close(fd);
		if (chroot(".") < 0)
			sandbox_fail("chroot");
	}
	/* The queue transport: the queue directory IS the root, entered by
	 * the fd the parent opened (no path to race), so even a compromised
	 * child resolving "../.." from fds 13-15 stays inside it. */
	if (cfg->queue_chroot) {
		if (fchdir(KH_CHILD_FD_QROOT) < 0)
			sandbox_fail("fchdir (queue directory)");
		if (chroot(".") < 0)
			sandbox_fail("chroot (queue directory)");
		close(KH_CHILD_FD_QROOT);
	}
	if (!cfg->drop_user)
		return;
	/* From root to the user: no KEEPCAPS, so setresuid empties the
	 * permitted, effective and ambient sets; the bounding set is already
	 * empty (step 0).  Nothing here looks a name up. */
	if (setgroups(0, NULL) < 0)
		sandbox_fail("setgroups");
	if (setresgid((gid_t)cfg->gid, (gid_t)cfg->gid, (gid_t)cfg->gid) < 0)
		sandbox_fail("setresgid");
	if (setresuid((uid_t)cfg->uid, (uid_t)cfg->uid, (uid_t)cfg->uid) < 0)
		sandbox_fail("setresuid");
	if (getgroups(2, g) != 0 || getresgid(&rg, &eg, &sg) < 0 ||
	    rg != (gid_t)cfg->gid || eg != (gid_t)cfg->gid ||
	    sg != (gid_t)cfg->gid) {
		errno = EPERM;
		sandbox_fail("gid check");
	}
	if (setuid(0) == 0 || getresuid(&r, &e, &s) < 0 || r == 0 || e == 0 ||
	    s == 0) {
		errno = EPERM;
		sandbox_fail("uid check");
	}
	for (int cap = 0; cap <= 63; cap++) {
		int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (in < 0)
			break;		/* past the kernel's last capability */
		if (in != 0) {
			errno = EPERM;
			sandbox_fail("bounding set check");
		}
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
	/* fds: clients + listeners + the link, epoll and stdio; the queue's;
	 * the metrics listener and its few scrapers. */
	rlim_t nofile = (rlim_t)cfg->max_conns + cfg->nlisteners + 16 +
	    (cfg->queue ? 8 : 0) + (cfg->metrics ? 1 + KH_METRICS_CONNS_MAX : 0);
	/* Files written: none, or with the queue transport, response files
	 * of at most KH_QUEUE_RESPONSE_FILE_MAX bytes. */
	rlim_t fsize = cfg->queue ? (rlim_t)KH_QUEUE_RESPONSE_FILE_MAX : 0;
	struct rlimit zero = { 0, 0 }, files = { nofile, nofile },
	    fsz = { fsize, fsize };

	if (setrlimit(RLIMIT_NOFILE, &files) < 0)
		sandbox_fail("RLIMIT_NOFILE");
	if (setrlimit(RLIMIT_FSIZE, &fsz) < 0)
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
	sandbox_before_chroot(cfg);
	sandbox_drop_user(cfg);
	sandbox_caps_zero();
	sandbox_rlimits(cfg);
	if (prctl(PR_SET_DUMPABLE, 0) < 0)
		sandbox_fail("PR_SET_DUMPABLE");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		sandbox_fail("PR_SET_NO_NEW_PRIVS");
	if (cfg->queue)
		sandbox_landlock(cfg);
	if (sandbox_filter_install_for(cfg->queue) < 0)
		sandbox_fail("seccomp");
}
