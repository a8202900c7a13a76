/* keyhole run: shared by run.c (the bridge, the supervision) and
 * run_cmd.c (CMD's identity and start). */
#ifndef KH_RUN_H
#define KH_RUN_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

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

void run_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Wipe the variable's value where the environment block holds it, then
 * unset it. */
void run_wipe_env(const char *name);
/* Whom CMD runs as: fills drop_cmd/cmd_uid/cmd_gid, prints the not-root
 * warning.  Returns 0, or 2 after a usage error. */
int run_cmd_identity(struct run *r, const char *cmd_user);
/* Fork CMD with the bridge URL and token, as its user; returns its pid. */
pid_t run_start_cmd(struct run *r, char **cmd);

#endif
