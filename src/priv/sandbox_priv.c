/*
 * keyhole parent confinement, applied once everything privileged is done
 * (credential loaded and locked, listeners bound, child binary opened).
 *
 * - Not dumpable: no core file, no ptrace or /proc/PID/mem by same-uid
 *   processes.
 * - Capabilities (when root): only what restarting a confined child
 *   needs: CAP_SETUID/CAP_SETGID/CAP_SYS_CHROOT (the child drops to its
 *   user in its chroot), CAP_SETPCAP (the child empties its bounding set)
 *   and CAP_KILL (signal a child that runs under another uid).  Everything else, including the bounding set, goes.
 * - no_new_privs, then a seccomp filter.  The parent's default action is
 *   EPERM rather than kill: libcurl and the resolver take paths that are
 *   hard to enumerate, and a missed syscall must fail one request with a
 *   502, not take the credential holder down.  What an attacker who
 *   reached code execution here would want is listed explicitly as
 *   KILL_PROCESS.  execveat is allowed only on the child binary's fd.
 *   The filter is inherited by every child (seccomp filters survive fork
 *   and exec), so the child's start-up calls must pass it too.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cap-ng.h>
#include <seccomp.h>

#include "log.h"
#include "priv.h"
#include "sbx.h"

static const char *const sandbox_priv_allowed[] = {
	/* memory, I/O, event loop (libevent epoll), libcurl sockets */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "close",
	"lseek", "mmap", "munmap", "mprotect", "mremap", "brk", "madvise",
	"munlock", "mlock", "fstat", "newfstatat", "statx", "stat", "lstat",
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "poll",
	"ppoll", "select", "pselect6", "socket", "connect", "getsockname",
	"getpeername", "setsockopt", "getsockopt", "sendto", "recvfrom",
	"sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "bind",
	"socketpair", "pipe2", "eventfd2", "fcntl", "ioctl", "dup", "dup2",
	"dup3", "close_range",
	/* files: CA bundle, resolver config, ready file */
	"openat", "open", "access", "faccessat", "faccessat2", "readlink",
	"getdents64", "rename", "renameat", "unlink", "fsync", "fdatasync",
	"memfd_create", "ftruncate", "umask",
	/* the audit log's rotation by size: FILE.<seq> linked to FILE
	 * (audit_file.c) */
	"linkat",
	/* the child: fork, reap, signal (exec is restricted below) */
	"clone", "clone3", "fork", "vfork", "wait4", "waitid", "kill",
	"tgkill", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
	"sigaltstack", "restart_syscall",
	/* threads (libcurl's resolver), time, identity, misc */
	"futex", "set_robust_list", "get_robust_list", "rseq",
	"set_tid_address", "getpid", "getppid", "gettid", "getuid", "geteuid",
	"getgid", "getegid", "getresuid", "getresgid", "getgroups",
	"getrandom", "clock_gettime", "clock_getres", "clock_nanosleep",
	"nanosleep", "gettimeofday", "time", "uname", "sysinfo",
	"sched_getaffinity", "sched_yield", "exit", "exit_group",
	"prlimit64", "getrlimit", "arch_prctl", "prctl",
	/* what the exec'd child does before its own filter is installed
	 * (fchdir: into the queue directory to chroot there; landlock_*:
	 * the queue transport's file-system confinement) */
	"chroot", "chdir", "fchdir", "setgroups",
	"landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
	"setresuid", "setresgid", "setuid", "setgid", "capget", "capset",
	"seccomp", "setrlimit",
	/* what the child does while serving (its filter stacks on this one,
	 * so everything it needs must pass here too) */
	"accept4", "accept",
	/* the queue transport's child: claim (renameat2 NOREPLACE), release
	 * (unlinkat); its own filter limits both to the queue fds */
	"renameat2", "unlinkat",
	NULL,
};

/* Never needed by keyhole; an attacker's first moves.  KILL, not EPERM. */
static const char *const sandbox_priv_killed[] = {
	"execve", "ptrace", "process_vm_readv", "process_vm_writev",
	"mount", "umount2", "pivot_root", "init_module", "finit_module",
	"delete_module", "kexec_load", "kexec_file_load", "bpf",
	"perf_event_open", "userfaultfd", "unshare", "setns", "keyctl",
	"add_key", "request_key", "swapon", "swapoff", "reboot",
	"open_by_handle_at", "name_to_handle_at", "iopl", "ioperm",
	NULL,
};

static int
sandbox_priv_caps(void)
{
	if (geteuid() != 0)
		return 0;	/* nothing to drop; CapBnd needs CAP_SETPCAP */
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_updatev(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED |
	    CAPNG_BOUNDING_SET, CAP_SETUID, CAP_SETGID, CAP_SYS_CHROOT, CAP_SETPCAP,
	    CAP_KILL, -1) != 0 || capng_apply(CAPNG_SELECT_BOTH) != 0) {
		log_error("cannot drop capabilities");
		return -1;
	}
	return 0;
}

static int
sandbox_priv_seccomp(const struct parent *p)
{
	scmp_filter_ctx ctx = sbx_new(SCMP_ACT_ERRNO(EPERM));
	int rc = -1;

	if (ctx == NULL)
		return -1;
	if (sbx_allow_list(ctx, sandbox_priv_allowed) < 0)
		goto out;
	for (const char *const *n = sandbox_priv_killed; *n != NULL; n++)
		if (sbx_rule(ctx, SCMP_ACT_KILL_PROCESS, *n) < 0)
			goto out;
	/* Exec only the child binary opened at start-up, by fd. */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(execveat), 2,
	    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)p->exe_fd),
	    SCMP_A4(SCMP_CMP_EQ, AT_EMPTY_PATH)) != 0)
		goto out;
	rc = seccomp_load(ctx);
out:
	seccomp_release(ctx);
	return rc == 0 ? 0 : -1;
}

int
sandbox_priv_enter(struct parent *p)
{
	if (prctl(PR_SET_DUMPABLE, 0) != 0) {
		log_error("PR_SET_DUMPABLE: %s", strerror(errno));
		return -1;
	}
	if (sandbox_priv_caps() < 0)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		log_error("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	if (sandbox_priv_seccomp(p) < 0) {
		log_error("cannot install the parent's seccomp filter");
		return -1;
	}
	return 0;
}
