/*
 * keyhole parent configuration: the audit log's options (`--audit-log
 * FILE` and its companions; audit.c, keyhole-audit(5)).
 */
#include <string.h>

#include "config.h"
#include "kh_limits.h"

void
config_audit_defaults(struct kh_config *cfg)
{
	cfg->audit_ckpt_records = KH_DEF_AUDIT_CKPT_RECORDS;
	cfg->audit_ckpt_secs = KH_DEF_AUDIT_CKPT_SECS;
}

void
config_audit_opt(int which, const char *arg, struct kh_config *cfg)
{
	switch (which) {
	case 0:			/* --audit-log */
		cfg->audit_log = arg;
		break;
	case 1:			/* --audit-key */
		cfg->audit_key = arg;
		break;
	case 2:			/* --audit-checkpoint-records */
		cfg->audit_ckpt_records = (uint32_t)config_num(
		    "--audit-checkpoint-records", arg, 1,
		    KH_AUDIT_CKPT_RECORDS_MAX);
		break;
	case 3:			/* --audit-checkpoint-secs */
		cfg->audit_ckpt_secs = (uint32_t)config_num(
		    "--audit-checkpoint-secs", arg, 1, KH_AUDIT_CKPT_SECS_MAX);
		break;
	case 4:			/* --audit-max-bytes */
		cfg->audit_max_bytes = config_num("--audit-max-bytes",
		    arg, 0, UINT64_MAX / 2);
		if (cfg->audit_max_bytes != 0 &&
		    cfg->audit_max_bytes < KH_AUDIT_MAX_BYTES_MIN)
			config_die("--audit-max-bytes: at least %u (or 0)",
			    KH_AUDIT_MAX_BYTES_MIN);
		break;
	case 5:			/* --audit-sync */
		if (strcmp(arg, "all") == 0)
			cfg->audit_sync_all = true;
		else if (strcmp(arg, "mutations") == 0)
			cfg->audit_sync_all = false;
		else
			config_die("--audit-sync %s: use mutations or all",
			    arg);
		break;
	}
}

void
config_audit_check(const struct kh_config *cfg)
{
	if (cfg->audit_key != NULL && cfg->audit_log == NULL)
		config_die("--audit-key needs --audit-log FILE");
}
