/*
 * unit_filter [options] -- CMD [ARGS...]: run CMD under the seccomp
 * filters a systemd unit would install, so a test can start keyhole as
 * systemd would without systemd as PID 1 (tests/integration/
 * test_unit_sandbox.py expands the unit's SystemCallFilter= with
 * `systemd-analyze syscall-filter` and hands the result here).
 *
 *   --allow FILE      SystemCallFilter=: the allowed system calls, one name
 *                     a line; every other call kills the process (SIGSYS),
 *                     as systemd's default action does.  Names this
 *                     architecture does not have are skipped, as systemd
 *                     skips them.
 *   --families LIST   RestrictAddressFamilies=: socket() of any other
 *                     family fails with EAFNOSUPPORT (comma-separated:
 *                     unix, inet, inet6, netlink).
 *   --namespaces LIST RestrictNamespaces=: unshare, clone and setns with a
 *                     namespace flag outside LIST fail with EPERM (LIST
 *                     "none", or comma-separated: net, mnt, ...).
 *   --mdwe            MemoryDenyWriteExecute=yes: mmap/mprotect asking for
 *                     PROT_WRITE|PROT_EXEC (or mprotect to PROT_EXEC) fail
 *                     with EPERM.
 *
 * Each is a filter of its own, as systemd installs them; all survive exec
 * and are inherited by everything CMD starts.
 */
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <seccomp.h>

static void __attribute__((noreturn))
die(const char *what)
{
	fprintf(stderr, "unit_filter: %s\n", what);
	exit(125);
}

static void
load(scmp_filter_ctx ctx, const char *what)
{
	if (seccomp_load(ctx) != 0)
		die(what);
	seccomp_release(ctx);
}

static void
filter_allow(const char *file)
{
	char line[128];
	FILE *f = fopen(file, "re");
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int n = 0;

	if (f == NULL || ctx == NULL)
		die("cannot read the allow list");
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		int nr = seccomp_syscall_resolve_name(line);
		if (nr == __NR_SCMP_ERROR)
			continue;
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) != 0)
			die(line);
		n++;
	}
	fclose(f);
	if (n == 0)
		die("empty allow list");
	load(ctx, "cannot load the system call filter");
}

static void
filter_families(char *list)
{
	static const struct { const char *name; int af; } fam[] = {
		{ "unix", AF_UNIX }, { "inet", AF_INET }, { "inet6", AF_INET6 },
		{ "netlink", AF_NETLINK }, { "packet", AF_PACKET },
	};
	bool allowed[64] = { false };
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

	if (ctx == NULL)
		die("seccomp_init");
	/* A name not in the table allows nothing. */
	for (char *t = strtok(list, ","); t != NULL; t = strtok(NULL, ","))
		for (size_t i = 0; i < sizeof(fam) / sizeof(fam[0]); i++)
			if (strcmp(t, fam[i].name) == 0)
				allowed[fam[i].af] = true;
	for (int af = 0; af < 64; af++)
		if (!allowed[af] && seccomp_rule_add(ctx,
		    SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
		    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)af)) != 0)
			die("address family rule");
	/* Families above the table's range: refused too. */
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT),
	    SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_GE, 64)) != 0)
		die("address family rule");
	load(ctx, "cannot load the address family filter");
}

static void
filter_namespaces(char *list)
{
	static const struct { const char *name; unsigned long flag; } ns[] = {
		{ "cgroup", CLONE_NEWCGROUP }, { "ipc", CLONE_NEWIPC },
		{ "net", CLONE_NEWNET }, { "mnt", CLONE_NEWNS },
		{ "pid", CLONE_NEWPID }, { "user", CLONE_NEWUSER },
		{ "uts", CLONE_NEWUTS },
	};
	unsigned long ok = 0, all = 0;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

	if (ctx == NULL)
		die("seccomp_init");
	for (char *t = strtok(list, ","); t != NULL; t = strtok(NULL, ","))
		for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
			if (strcmp(t, ns[i].name) == 0)
				ok |= ns[i].flag;
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		unsigned long f = ns[i].flag;
		all |= f;
		if (ok & f)
			continue;
		/* unshare(flags), clone(flags, ...): any forbidden bit */
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
		    SCMP_SYS(unshare), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, f, f)) ||
		    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
		    SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, f, f)) ||
		    /* setns(fd, type): that type */
		    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
		    SCMP_SYS(setns), 1, SCMP_A1(SCMP_CMP_EQ, f)))
			die("namespace rule");
	}
	/* setns(fd, 0) joins whatever fd is: only if everything is allowed
	 * (systemd does the same).  clone3 hides its flags: ENOSYS, so libc
	 * falls back to clone (as systemd answers). */
	if (ok != all && (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
	    SCMP_SYS(setns), 1, SCMP_A1(SCMP_CMP_EQ, 0)) ||
	    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)))
		die("namespace rule");
	load(ctx, "cannot load the namespace filter");
}

static void
filter_mdwe(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	const scmp_datum_t wx = PROT_WRITE | PROT_EXEC;

	if (ctx == NULL ||
	    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mmap), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, wx, wx)) ||
	    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mprotect), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC)) ||
	    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
	    SCMP_SYS(pkey_mprotect), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC)))
		die("mdwe rule");
	load(ctx, "cannot load the write-xor-execute filter");
}

int
main(int argc, char **argv)
{
	const char *allow = NULL;
	char *families = NULL, *namespaces = NULL;
	bool mdwe = false;
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--allow") == 0 && i + 1 < argc)
			allow = argv[++i];
		else if (strcmp(argv[i], "--families") == 0 && i + 1 < argc)
			families = argv[++i];
		else if (strcmp(argv[i], "--namespaces") == 0 && i + 1 < argc)
			namespaces = argv[++i];
		else if (strcmp(argv[i], "--mdwe") == 0)
			mdwe = true;
		else
			die("usage: unit_filter [--allow FILE] [--families L] "
			    "[--namespaces L] [--mdwe] -- CMD [ARGS...]");
	}
	if (i + 1 >= argc)
		die("no command");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		die("no_new_privs");
	/* The system call filter last: it may not allow what the others'
	 * loading needs (systemd loads its own in the same order). */
	if (families != NULL)
		filter_families(families);
	if (namespaces != NULL)
		filter_namespaces(namespaces);
	if (mdwe)
		filter_mdwe();
	if (allow != NULL)
		filter_allow(allow);
	execvp(argv[i + 1], argv + i + 1);
	perror("unit_filter: exec");
	return 127;
}
