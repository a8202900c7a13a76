/*
 * keyhole run, CMD's side (run.c has the whole story): whom CMD runs as,
 * and its start.  As root CMD becomes --cmd-user (default nobody) for
 * good; not as root it shares keyhole's uid, which is said out loud.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "run.h"

/* Whom CMD runs as (see the comment at the top).  Returns 0 or 2. */
int
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

pid_t
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
	unsetenv("WATCHDOG_USEC");	/* systemd's watchdog is keyhole's */
	unsetenv("WATCHDOG_PID");
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
