/*
 * The queue transport's additions to the child's seccomp filter: file
 * calls only relative to the queue directory fds (13-15), openat only
 * with O_NOFOLLOW, renames only requests/ -> processing/ and within
 * responses/, listing only requests/ and processing/.  Forbidden calls end
 * in SIGSYS; the calls the queue serves with keep working.
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

#include "child_config.h"
#include "kh_test.h"
#include "sandbox.h"

typedef void (*probe_fn)(void);
static char dir[] = "/tmp/kh-qfilter-XXXXXX";

static int
run_confined(probe_fn probe)
{
	pid_t pid = fork();
	int st = 0;

	if (pid == 0) {
		static const char *const sub[] = { "requests", "processing",
		    "responses" };
		for (int i = 0; i < 3; i++) {
			char p[128];
			snprintf(p, sizeof(p), "%s/%s", dir, sub[i]);
			int fd = open(p, O_RDONLY | O_DIRECTORY);
			if (fd < 0 || dup2(fd, KH_CHILD_FD_QREQ + i) < 0)
				_exit(98);
		}
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
		    sandbox_filter_install_for(true) != 0)
			_exit(99);
		probe();
		_exit(0);
	}
	waitpid(pid, &st, 0);
	return st;
}

static bool
sigsys(int st)
{
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS;
}

/* Sanitizer builds answer openat(AT_FDCWD) EACCES instead of killing
 * (sandbox.c: the runtime re-reads /proc/self/maps); it must still fail. */
static void p_open_cwd_fails(void)
{
	long r = syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY | O_NOFOLLOW);
	_exit(r == -1 && errno == EACCES ? 0 : 1);
}
static void p_open_cwd(void) { (void)syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY | O_NOFOLLOW); }
static void p_open_follow(void) { (void)syscall(SYS_openat, KH_CHILD_FD_QREQ, "a.json", O_RDONLY); }
static void p_open_other_fd(void) { (void)syscall(SYS_openat, 0, "a.json", O_RDONLY | O_NOFOLLOW); }
static void p_unlink_cwd(void) { (void)syscall(SYS_unlinkat, AT_FDCWD, "/tmp/x", 0); }
static void p_rename_back(void) { (void)syscall(SYS_renameat2, KH_CHILD_FD_QPROC, "a", KH_CHILD_FD_QREQ, "a", 0); }
static void p_rename_out(void) { (void)syscall(SYS_renameat2, KH_CHILD_FD_QREQ, "a", AT_FDCWD, "/tmp/a", 0); }
static void p_list_responses(void) { char b[512]; (void)syscall(SYS_getdents64, KH_CHILD_FD_QRESP, b, sizeof(b)); }
static void p_newfstatat(void) { struct stat st; (void)syscall(SYS_newfstatat, AT_FDCWD, "/etc/passwd", &st, 0); }
static void p_mkdirat(void) { (void)syscall(SYS_mkdirat, KH_CHILD_FD_QRESP, "d", 0700); }
static void p_symlinkat(void) { (void)syscall(SYS_symlinkat, "/etc/passwd", KH_CHILD_FD_QRESP, "l"); }

/* What the queue serves with. */
static void
p_allowed(void)
{
	char b[1024];
	struct stat st;
	int fd = (int)syscall(SYS_openat, KH_CHILD_FD_QRESP, "r.json.tmp",
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, "{}", 2) != 2 || syscall(SYS_fstat, fd, &st) != 0)
		_exit(2);
	close(fd);
	if (syscall(SYS_renameat2, KH_CHILD_FD_QRESP, "r.json.tmp",
	    KH_CHILD_FD_QRESP, "r.json", 0) != 0)
		_exit(3);
	if (syscall(SYS_getdents64, KH_CHILD_FD_QREQ, b, sizeof(b)) < 0 ||
	    syscall(SYS_lseek, KH_CHILD_FD_QREQ, 0, SEEK_SET) < 0)
		_exit(4);
	fd = (int)syscall(SYS_openat, KH_CHILD_FD_QREQ, "q.json",
	    O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		_exit(5);
	close(fd);
	if (syscall(SYS_renameat2, KH_CHILD_FD_QREQ, "q.json", KH_CHILD_FD_QPROC,
	    "q.json", 1 /* RENAME_NOREPLACE */) != 0)
		_exit(6);
	if (syscall(SYS_unlinkat, KH_CHILD_FD_QPROC, "q.json", 0) != 0 ||
	    syscall(SYS_unlinkat, KH_CHILD_FD_QRESP, "r.json", 0) != 0)
		_exit(7);
	_exit(0);
}

int
main(void)
{
	static const struct { const char *name; probe_fn fn; } forbidden[] = {
#ifndef KH_SANITIZE
		{ "openat(AT_FDCWD)", p_open_cwd },
#endif
		{ "openat without O_NOFOLLOW", p_open_follow },
		{ "openat(other fd)", p_open_other_fd },
		{ "unlinkat(AT_FDCWD)", p_unlink_cwd },
		{ "renameat2 processing->requests", p_rename_back },
		{ "renameat2 out of the queue", p_rename_out },
		{ "getdents64(responses)", p_list_responses },
		{ "newfstatat(path)", p_newfstatat },
		{ "mkdirat", p_mkdirat },
		{ "symlinkat", p_symlinkat },
	};
	char p[128], cmd[160];

	if (mkdtemp(dir) == NULL)
		return 2;
	static const char *const sub[] = { "requests", "processing", "responses" };
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, sub[i]);
		if (mkdir(p, 0700) != 0)
			return 2;
	}
	snprintf(p, sizeof(p), "%s/requests/q.json", dir);
	int fd = open(p, O_WRONLY | O_CREAT, 0600);
	if (fd < 0)
		return 2;
	close(fd);

	for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
		int st = run_confined(forbidden[i].fn);
		if (!sigsys(st))
			fprintf(stderr, "queue_filter_kills_%s: status 0x%x\n",
			    forbidden[i].name, st);
		CHECK(sigsys(st));
	}
#ifdef KH_SANITIZE
	int stc = run_confined(p_open_cwd_fails);
	CHECK(WIFEXITED(stc) && WEXITSTATUS(stc) == 0);
	(void)p_open_cwd;
#else
	(void)p_open_cwd_fails;
#endif
	int st = run_confined(p_allowed);
	if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		fprintf(stderr, "queue_filter_allows_its_calls: status 0x%x\n", st);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 2;
	TEST_DONE();
}
