/*
 * keyhole run [serve options] [--cmd-user USER] -- CMD [ARGS...]
 *
 * Starts the bridge (`keyhole serve`, in its own process group so a
 * terminal's ^C reaches CMD, not the bridge), waits until it serves, runs
 * CMD with PAPERCLIP_API_URL (the bridge URL) and PAPERCLIP_API_KEY (the
 * bridge token, never the credential) added to its environment, forwards
 * SIGINT/SIGTERM/SIGHUP to CMD, drains the bridge when CMD exits, and exits
 * with CMD's status (128+N when CMD was killed by signal N).
 *
 * CMD is the sandbox's side.  It must not get what the bridge has:
 *
 *  - As root, CMD runs as --cmd-user (default nobody): supplementary
 *    groups dropped, setresgid/setresuid, the bounding and ambient sets
 *    emptied and no_new_privs set, so no capability and no set-uid program
 *    brings root back.  `--cmd-user root` keeps root, with a warning.
 *  - Not root, CMD has the bridge's own uid and can read what that user
 *    can (the credential file included) unless it is sandboxed itself;
 *    this is said at start-up, in --help and in keyhole(8).
 *  - CMD does not learn where the credential is for free: this process and
 *    the bridge are not dumpable (their /proc/PID/environ and memory are
 *    closed to CMD even under the same uid), the serve options are copied
 *    and then wiped from this process's argv (/proc/PID/cmdline, readable
 *    by every user), and the bridge is a fork of this process running
 *    serve_main() on the copies, so its cmdline is the wiped one too.
 *
 * This process never reads the credential.  If it came in the environment
 * ($KEYHOLE_CREDENTIAL, or a $CREDENTIALS_DIRECTORY), only the bridge gets
 * it: it is wiped here right after the bridge starts and removed from
 * CMD's environment.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "kh_limits.h"
#include "priv.h"

#define RUN_READY_WAIT_MS 15000

struct run {
	pid_t serve;
	pid_t cmd;
	char tmpdir[64];
	char ready[PATH_MAX];
	char token[2 * 32 + 1];
	char base_url[256];
	bool own_token;
	/* the serve options, copied out of argv (which is then wiped) */
	char **sargv;
	int sargc;
	/* CMD's identity when root: drop to cmd_uid/cmd_gid unless keep_root */
	bool drop_cmd;
	uid_t cmd_uid;
	gid_t cmd_gid;
};

static void __attribute__((format(printf, 1, 2)))
run_say(const char *fmt, ...)
{
	va_list ap;
	char line[512];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "keyhole run: %s\n", line);
}

static void
run_cleanup(struct run *r)
{
	if (r->tmpdir[0] != '\0') {
		unlink(r->ready);
		rmdir(r->tmpdir);
	}
}

static void
run_wipe_env(const char *name)
{
	char *v = getenv(name);

	if (v != NULL) {
		explicit_bzero(v, strlen(v));
		unsetenv(name);
	}
}

static int
run_make_token(struct run *r)
{
	uint8_t raw[32];
	static const char hex[] = "0123456789abcdef";

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -1;
	for (size_t i = 0; i < sizeof(raw); i++) {
		r->token[2 * i] = hex[raw[i] >> 4];
		r->token[2 * i + 1] = hex[raw[i] & 15];
	}
	r->token[2 * sizeof(raw)] = '\0';
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

/* The token CMD gets: the configured one (file or environment), or a
 * fresh random one handed to the bridge in its environment. */
static int
run_token(struct run *r, const struct kh_config *cfg)
{
	const char *env = getenv("PAPERCLIP_BRIDGE_TOKEN");

	if (cfg->token_file != NULL) {
		FILE *f = fopen(cfg->token_file, "re");
		size_t n;
		if (f == NULL) {
			run_say("cannot read --token-file %s: %s",
			    cfg->token_file, strerror(errno));
			return -1;
		}
		n = fread(r->token, 1, sizeof(r->token) - 1, f);
		fclose(f);
		r->token[n] = '\0';
		r->token[strcspn(r->token, "\r\n")] = '\0';
		return 0;
	}
	if (env != NULL && *env != '\0') {
		if (strlen(env) >= sizeof(r->token)) {
			run_say("$PAPERCLIP_BRIDGE_TOKEN is longer than %zu bytes",
			    sizeof(r->token) - 1);
			return -1;
		}
		strcpy(r->token, env);
		return 0;
	}
	r->own_token = true;
	return run_make_token(r);
}

/* The bridge: a fork of this process running serve_main() on the copied
 * options (no exec: an exec would put them back into a cmdline). */
static pid_t
run_start_bridge(struct run *r, bool add_ready)
{
	pid_t pid;

	if (add_ready) {
		r->sargv[r->sargc++] = "--ready-file";
		r->sargv[r->sargc++] = r->ready;
		r->sargv[r->sargc] = NULL;
	}
	pid = fork();
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0);	/* a terminal's ^C is for CMD, not the bridge */
		if (r->own_token)
			setenv("PAPERCLIP_BRIDGE_TOKEN", r->token, 1);
		explicit_bzero(r->token, sizeof(r->token));
		_exit(serve_main(r->sargc, r->sargv));
	}
	return pid;
}

/* Wait for the ready file; read baseUrl from it (keyhole's own format). */
static int
run_wait_ready(struct run *r)
{
	for (int waited = 0; waited < RUN_READY_WAIT_MS; waited += 20) {
		int st;
		char buf[1024];
		FILE *f;

		if (waitpid(r->serve, &st, WNOHANG) == r->serve) {
			run_say("the bridge exited before serving (status %d)",
			    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
			r->serve = -1;
			return -1;
		}
		if ((f = fopen(r->ready, "re")) != NULL) {
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
			buf[n] = '\0';
			const char *u = strstr(buf, "\"baseUrl\":\"");
			if (u != NULL) {
				u += strlen("\"baseUrl\":\"");
				size_t ul = strcspn(u, "\"");
				if (ul > 0 && ul < sizeof(r->base_url)) {
					memcpy(r->base_url, u, ul);
					r->base_url[ul] = '\0';
					return 0;
				}
			}
		}
		struct timespec ts = { 0, 20 * 1000000 };
		nanosleep(&ts, NULL);
	}
	run_say("the bridge did not become ready within %d ms",
	    RUN_READY_WAIT_MS);
	return -1;
}

/* In CMD's process, as root: become cmd_uid for good.  Between fork and
 * exec; every failure ends the process before CMD runs. */
static void
run_drop_cmd(const struct run *r)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	/* The bounding set first (needs CAP_SETPCAP, which setresuid is
	 * about to take away): a set-uid-root program could otherwise hand
	 * capabilities back.  no_new_privs below makes set-uid bits inert. */
	for (int cap = 0; cap <= 63; cap++) {
		int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (in < 0)
			break;
		if (in > 0 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			goto fail;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		goto fail;
	if (setgroups(0, NULL) < 0 ||
	    setresgid(r->cmd_gid, r->cmd_gid, r->cmd_gid) < 0 ||
	    setresuid(r->cmd_uid, r->cmd_uid, r->cmd_uid) < 0)
		goto fail;
	/* No way back: uid 0 cannot be regained, no capability is left. */
	if (setuid(0) == 0 || getresuid(&ru, &eu, &su) < 0 || ru == 0 ||
	    eu == 0 || su == 0 || getresgid(&rg, &eg, &sg) < 0 ||
	    rg != r->cmd_gid || eg != r->cmd_gid || sg != r->cmd_gid)
		goto fail;
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		goto fail;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		goto fail;
	return;
fail:
	fprintf(stderr, "keyhole run: cannot drop CMD to uid %u: %s\n",
	    (unsigned)r->cmd_uid, strerror(errno));
	_exit(127);
}

static pid_t
run_start_cmd(struct run *r, char **cmd)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (r->drop_cmd)
		run_drop_cmd(r);
	/* CMD gets the bridge URL and token, nothing of keyhole's own. */
	run_wipe_env("KEYHOLE_CREDENTIAL");
	unsetenv("CREDENTIALS_DIRECTORY");
	unsetenv("PAPERCLIP_BRIDGE_TOKEN");
	unsetenv("NOTIFY_SOCKET");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	setenv("PAPERCLIP_API_URL", r->base_url, 1);
	setenv("PAPERCLIP_API_KEY", r->token, 1);
	syscall(SYS_close_range, 3U, ~0U, 0);
	execvp(cmd[0], cmd);
	fprintf(stderr, "keyhole run: cannot run %s: %s\n", cmd[0],
	    strerror(errno));
	_exit(127);
}

/* SIGTERM the bridge and wait for its drain; SIGKILL past the bound. */
static void
run_stop_bridge(struct run *r, uint32_t drain_ms)
{
	int st;

	if (r->serve <= 0)
		return;
	kill(r->serve, SIGTERM);
	for (uint32_t waited = 0; waited < drain_ms + 5000; waited += 20) {
		if (waitpid(r->serve, &st, WNOHANG) == r->serve) {
			r->serve = -1;
			return;
		}
		struct timespec ts = { 0, 20 * 1000000 };
		nanosleep(&ts, NULL);
	}
	run_say("the bridge did not stop in time; killing it");
	kill(r->serve, SIGKILL);
	waitpid(r->serve, &st, 0);
	r->serve = -1;
}

static int
run_status_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 1;
}

/* Forward signals to CMD until it exits; returns its exit code. */
static int
run_supervise(struct run *r, const sigset_t *set)
{
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(set, &si), st;
		pid_t pid;

		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(r->cmd, sig);
			continue;
		}
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			if (pid == r->cmd)
				return run_status_code(st);
			if (pid == r->serve) {
				r->serve = -1;
				run_say("the bridge exited unexpectedly (status "
				    "%d); stopping the command",
				    run_status_code(st));
				kill(r->cmd, SIGTERM);
				waitpid(r->cmd, &st, 0);
				return 1;
			}
		}
	}
}

/*
 * Copy the serve options (argv[1..dd)) into r->sargv ("serve" first, room
 * for --ready-file), taking out --cmd-user; then wipe the originals so
 * /proc/PID/cmdline no longer shows them.  Returns 0, or 2 on a usage
 * error (reported).
 */
static int
run_take_options(struct run *r, int dd, char **argv, const char **cmd_user)
{
	r->sargv = calloc((size_t)dd + 4, sizeof(char *));
	if (r->sargv == NULL)
		return 1;
	r->sargv[r->sargc++] = "serve";
	for (int i = 1; i < dd; i++) {
		if (strcmp(argv[i], "--cmd-user") == 0) {
			if (i + 1 == dd) {
				run_say("--cmd-user needs a USER");
				return 2;
			}
			*cmd_user = argv[++i];
			continue;
		}
		if (strncmp(argv[i], "--cmd-user=", 11) == 0) {
			*cmd_user = argv[i] + 11;
			continue;
		}
		if ((r->sargv[r->sargc++] = strdup(argv[i])) == NULL)
			return 1;
	}
	r->sargv[r->sargc] = NULL;
	if (*cmd_user != NULL && (*cmd_user = strdup(*cmd_user)) == NULL)
		return 1;
	for (int i = 1; i < dd; i++)
		explicit_bzero(argv[i], strlen(argv[i]));
	return 0;
}

/* Whom CMD runs as (see the comment at the top).  Returns 0 or 2. */
static int
run_cmd_identity(struct run *r, const char *cmd_user)
{
	struct passwd *pw;

	if (geteuid() != 0) {
		if (cmd_user != NULL) {
			run_say("--cmd-user needs root (keyhole runs as uid %u)",
			    (unsigned)geteuid());
			return 2;
		}
		run_say("warning: not running as root: CMD runs as uid %u, the "
		    "bridge's own user, and can read every file that user can "
		    "read (the credential file included) and signal the bridge, "
		    "unless CMD is sandboxed itself (bubblewrap, a user "
		    "namespace, another user)", (unsigned)geteuid());
		return 0;
	}
	if (cmd_user == NULL)
		cmd_user = "nobody";
	if ((pw = getpwnam(cmd_user)) == NULL) {
		run_say("--cmd-user %s: no such user", cmd_user);
		return 2;
	}
	if (pw->pw_uid == 0) {
		run_say("warning: --cmd-user %s: CMD runs as root with every "
		    "capability; it can read the credential file; use this only "
		    "when CMD confines itself", cmd_user);
		return 0;
	}
	if (pw->pw_gid == 0) {
		run_say("--cmd-user %s: its group is root's (gid 0); choose an "
		    "unprivileged user", cmd_user);
		return 2;
	}
	r->drop_cmd = true;
	r->cmd_uid = pw->pw_uid;
	r->cmd_gid = pw->pw_gid;
	return 0;
}

int
run_main(int argc, char **argv)
{
	struct run r;
	struct kh_config cfg;
	sigset_t set;
	const char *cmd_user = NULL;
	int dd = -1, code;

	memset(&r, 0, sizeof(r));
	/* CMD may run as this uid: it must not read our memory or
	 * environment.  Inherited by the bridge (a fork). */
	if (prctl(PR_SET_DUMPABLE, 0) != 0) {
		run_say("PR_SET_DUMPABLE: %s", strerror(errno));
		return 1;
	}
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			dd = i;
			break;
		}
	if (dd < 0 || dd == argc - 1) {
		fprintf(stderr, "usage: keyhole run [serve options] [--cmd-user "
		    "USER] -- CMD [ARGS...]\n(see keyhole --help)\n");
		return 2;
	}
	if ((code = run_take_options(&r, dd, argv, &cmd_user)) != 0)
		return code;
	/* Check the serve options now: a typo fails before anything runs. */
	config_parse_serve(r.sargc, r.sargv, &cfg);
	if ((code = run_cmd_identity(&r, cmd_user)) != 0)
		return code;
	if (run_token(&r, &cfg) < 0)
		return 1;
	if (cfg.ready_file != NULL) {
		snprintf(r.ready, sizeof(r.ready), "%s", cfg.ready_file);
		unlink(r.ready);
	} else {
		strcpy(r.tmpdir, "/tmp/keyhole-run-XXXXXX");
		if (mkdtemp(r.tmpdir) == NULL) {
			run_say("mkdtemp: %s", strerror(errno));
			return 1;
		}
		snprintf(r.ready, sizeof(r.ready), "%s/ready.json", r.tmpdir);
	}

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);

	r.serve = run_start_bridge(&r, cfg.ready_file == NULL);
	/* The bridge has its own copies now. */
	run_wipe_env("KEYHOLE_CREDENTIAL");
	run_wipe_env("CREDENTIALS_DIRECTORY");
	if (r.serve < 0 || run_wait_ready(&r) < 0) {
		run_stop_bridge(&r, cfg.drain_ms);
		run_cleanup(&r);
		return 1;
	}
	r.cmd = run_start_cmd(&r, argv + dd + 1);
	if (r.cmd < 0) {
		run_say("fork: %s", strerror(errno));
		run_stop_bridge(&r, cfg.drain_ms);
		run_cleanup(&r);
		return 1;
	}
	code = run_supervise(&r, &set);
	run_stop_bridge(&r, cfg.drain_ms);
	run_cleanup(&r);
	explicit_bzero(r.token, sizeof(r.token));
	return code;
}
