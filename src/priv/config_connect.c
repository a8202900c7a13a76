/*
 * keyhole parent configuration: the http2_v1 options (`--connect CMD`,
 * connect.h).  One transport at a time: --connect serves one sandbox
 * over one command and listens nowhere (a session's end restarts the
 * child, which would cut HTTP clients).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "kh_limits.h"
#include "log.h"
#include "util.h"

/* Names CMD may never be given, whatever --connect-keep-env says: the
 * credential's and keyhole's own. */
static bool
config_connect_name_ok(const char *s)
{
	static const char *const never[] = { "KEYHOLE_CREDENTIAL",
	    "CREDENTIALS_DIRECTORY", "PAPERCLIP_BRIDGE_TOKEN", NULL };

	if (*s == '\0' || strlen(s) > 64 || strchr(s, '=') != NULL)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	for (size_t i = 0; never[i] != NULL; i++)
		if (strcmp(s, never[i]) == 0)
			return false;
	return strncmp(s, "PAPERCLIP_", 10) != 0 &&
	    strncmp(s, "KEYHOLE_", 8) != 0;
}

void
config_connect_opt(int which, const char *arg, struct kh_config *cfg)
{
	uint64_t v;

	switch (which) {
	case 0:			/* --connect */
		if (*arg == '\0' || strlen(arg) > KH_CONNECT_CMD_MAX)
			config_die("--connect: give a command of at "
			    "most %u bytes", KH_CONNECT_CMD_MAX);
		cfg->connect = arg;
		break;
	case 1:			/* --gateway-host */
		if (*arg == '\0' || strlen(arg) > 255 ||
		    strpbrk(arg, " \t\r\n'\"\\$`") != NULL)
			config_die("--gateway-host: '%s' is not a host",
			    arg);
		cfg->gateway_host = arg;
		break;
	case 2:			/* --gateway-port */
		if (util_parse_u64(arg, 1, 65535, &v) < 0)
			config_die("--gateway-port: '%s' is not a port "
			    "in [1, 65535]", arg);
		cfg->gateway_port = (uint16_t)v;
		break;
	case 3:			/* --gateway-cmd */
		if (*arg == '\0' || strlen(arg) > KH_CONNECT_CMD_MAX)
			config_die("--gateway-cmd: give a command");
		cfg->gateway_cmd = arg;
		break;
	case 4:			/* --gateway-upload */
		if (access(arg, R_OK) != 0)
			config_die("--gateway-upload: cannot read '%s'",
			    arg);
		cfg->gateway_upload = arg;
		break;
	case 5:			/* --gateway-path */
		if (arg[0] != '/' || strlen(arg) > 1024)
			config_die("--gateway-path: give an absolute "
			    "path");
		cfg->gateway_path = arg;
		break;
	case 6:			/* --connect-keep-env */
		if (!config_connect_name_ok(arg))
			config_die("--connect-keep-env: '%s' is not a "
			    "name keyhole passes on", arg);
		if (cfg->connect_nkeep == sizeof(cfg->connect_keep) /
		    sizeof(cfg->connect_keep[0]))
			config_die("--connect-keep-env: at most %zu",
			    sizeof(cfg->connect_keep) /
			    sizeof(cfg->connect_keep[0]));
		cfg->connect_keep[cfg->connect_nkeep++] = arg;
		break;
	case 7:			/* --h2-max-streams */
		if (util_parse_u64(arg, 1, KH_H2_STREAMS_MAX, &v) < 0)
			config_die("--h2-max-streams: '%s' is not a "
			    "number in [1, %u]", arg, KH_H2_STREAMS_MAX);
		cfg->h2_max_streams = (uint32_t)v;
		break;
	}
}

void
config_connect_check(struct kh_config *cfg)
{
	if (cfg->gateway_host == NULL)
		cfg->gateway_host = "127.0.0.1";
	if (cfg->h2_max_streams == 0)
		cfg->h2_max_streams = KH_H2_DEF_STREAMS;
	if (cfg->gateway_upload != NULL && cfg->gateway_path == NULL)
		cfg->gateway_path = "/tmp/keyhole/keyhole-gateway";
	if (cfg->connect == NULL) {
		if (cfg->gateway_port || cfg->gateway_cmd ||
		    cfg->gateway_upload || cfg->gateway_path ||
		    cfg->connect_nkeep)
			config_die("the --gateway-* and --connect-* "
			    "options need --connect CMD");
		return;
	}
	if (cfg->nlisten > 0 || cfg->queue_dir != NULL)
		config_die("--connect serves one sandbox over one "
		    "command: no --listen or --queue-dir beside it");
	if (cfg->gateway_port == 0)
		config_die("--connect needs --gateway-port PORT (the "
		    "port the gateway listens on in the sandbox)");
}
