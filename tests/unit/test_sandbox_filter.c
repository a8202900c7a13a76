/*
 * The child's seccomp allowlist, tested the Chromium/systemd way: fork,
 * install the filter in the fork, try one syscall, and check in the parent
 * how the fork ended.  Forbidden calls must end in SIGSYS (kill, not an
 * errno the attacker can ignore); the calls the child serves with must
 * keep working.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kh_test.h"
#include "sandbox.h"

typedef void (*probe_fn)(void);

/* Returns the fork's wait status. */
static int
run_confined(probe_fn probe)
{
	pid_t pid = fork();
	int st = 0;

	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
		    sandbox_filter_install() != 0)
			_exit(99);
		probe();
		_exit(0);
	}
	waitpid(pid, &st, 0);
	return st;
}

static bool
killed_by_sigsys(int st)
{
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS;
}

static void probe_execve(void)
{
	char *argv[] = { "/bin/true", NULL }, *envp[] = { NULL };
	execve("/bin/true", argv, envp);
}
static void probe_socket(void) { (void)socket(AF_INET, SOCK_STREAM, 0); }
static void probe_connect(void) { (void)connect(3, NULL, 0); }
static void probe_fork(void) { (void)syscall(SYS_fork); }
static void probe_ptrace(void) { (void)syscall(SYS_ptrace, 0, 0, 0, 0); }
static void probe_mprotect_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	(void)mprotect(p, 4096, PROT_READ | PROT_EXEC);
}
static void probe_ioctl_other(void) { (void)syscall(SYS_ioctl, 0, 0x5401 /* TCGETS */, 0); }
static void probe_setuid(void) { (void)syscall(SYS_setuid, 0); }
static void probe_chmod(void) { (void)syscall(SYS_chmod, "/tmp", 0777); }
/*
 * Calls a sanitizer build turns from SIGSYS into EACCES (sandbox.c: the
 * runtime must see them fail to use its cached /proc/self/maps).  Each
 * probe exits 0 only if the call failed with EACCES, so in a sanitizer
 * build the test still proves that nothing was opened.
 */
static void
probe_exit_eacces(long rc)
{
	_exit(rc < 0 && errno == EACCES ? 0 : 1);
}
static void probe_open(void) { probe_exit_eacces(syscall(SYS_open, "/etc/passwd", O_RDONLY)); }
static void probe_openat(void) { probe_exit_eacces(syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY)); }
static void
probe_readlink(void)
{
	char buf[64];
	probe_exit_eacces(syscall(SYS_readlink, "/proc/self/exe", buf, sizeof(buf)));
}
static void
probe_pipe2(void)
{
	int fds[2];
	probe_exit_eacces(syscall(SYS_pipe2, fds, 0));
}

/* Installing an alternate signal stack: killed in every build. */
static void
probe_sigaltstack_set(void)
{
	static char stack[65536];
	stack_t ss = { .ss_sp = stack, .ss_size = sizeof(stack) };
	(void)syscall(SYS_sigaltstack, &ss, NULL);
}
/* Querying it: allowed only in sanitizer builds (ASan does it before
 * every noreturn call, _exit included); killed in a normal build. */
static void
probe_sigaltstack_query(void)
{
	stack_t old;
	(void)syscall(SYS_sigaltstack, NULL, &old);
}

/* What the child serves with: must survive. */
static void
probe_allowed(void)
{
	int sv[2] = { -1, -1 };
	char b = 'x';
	void *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		_exit(2);
	munmap(p, 1 << 20);
	(void)getpid();
	/* write/read on an fd held before confinement (stdout/stderr) */
	if (write(2, "", 0) < 0)
		_exit(3);
	(void)sv;
	(void)b;
	_exit(0);
}

int
main(void)
{
	static const struct { const char *name; probe_fn fn; } forbidden[] = {
		{ "execve", probe_execve },
		{ "socket", probe_socket },
		{ "connect", probe_connect },
		{ "fork", probe_fork },
		{ "ptrace", probe_ptrace },
		{ "mprotect(PROT_EXEC)", probe_mprotect_exec },
		{ "ioctl(TCGETS)", probe_ioctl_other },
		{ "setuid", probe_setuid },
		{ "chmod", probe_chmod },
		{ "sigaltstack(set)", probe_sigaltstack_set },
#ifndef KH_SANITIZE
		{ "sigaltstack(query)", probe_sigaltstack_query },
		{ "open", probe_open },
		{ "openat", probe_openat },
		{ "readlink", probe_readlink },
		{ "pipe2", probe_pipe2 },
#endif
	};

	for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
		int st = run_confined(forbidden[i].fn);
		if (!killed_by_sigsys(st))
			fprintf(stderr, "child_filter_kills_%s: status 0x%x\n",
			    forbidden[i].name, st);
		CHECK(killed_by_sigsys(st));
	}
	int st = run_confined(probe_allowed);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
#ifdef KH_SANITIZE
	/* The sanitizer-build allowances, and nothing wider: the stack query
	 * passes; open, openat, readlink and pipe2 fail with EACCES. */
	static const probe_fn eacces[] = {
		probe_sigaltstack_query, probe_open, probe_openat,
		probe_readlink, probe_pipe2,
	};
	for (size_t i = 0; i < sizeof(eacces) / sizeof(eacces[0]); i++) {
		st = run_confined(eacces[i]);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
#endif
	TEST_DONE();
}
