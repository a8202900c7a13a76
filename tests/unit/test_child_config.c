/*
 * MSG_CONFIG (src/common/child_config.c): what the parent tells a new
 * child, the run's {variable} bindings and its count of mutations
 * included, and what the child refuses.  Each test is named after the
 * property it guards.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "child_config.h"
#include "kh_test.h"
#include "policy_table.h"
#include "wire.h"

static void
child_config_carries_bindings_and_mutation_count(void)
{
	struct child_config c, back;
	struct wbuf w;
	struct msg_reader r;
	char why[512];

	memset(&c, 0, sizeof(c));
	c.max_conns = c.max_inflight = c.max_headers = 8;
	c.max_head = 1024;
	c.head_timeout_ms = c.body_timeout_ms = c.idle_timeout_ms = 1000;
	c.write_timeout_ms = 1000;
	c.nlisteners = 1;
	strcpy(c.token, "0123456789abcdef0123");
	c.token_len = strlen(c.token);
	CHECK_EQ_INT(policy_binding_add(&c.vars, "issue=BRI-7", why,
	    sizeof(why)), 0);
	CHECK_EQ_INT(policy_binding_add(&c.vars, "company=c%201", why,
	    sizeof(why)), 0);
	c.mutations_used = 41;
	wbuf_init(&w);
	msg_begin(&w, MSG_CONFIG, 0);
	child_config_encode(&c, &w);
	CHECK_EQ_INT(msg_finish(&w), 0);
	msg_reader_init(&r, w.buf + KH_WIRE_HDR, w.len - KH_WIRE_HDR);
	CHECK_EQ_INT(child_config_decode(&r, &back), 0);
	CHECK_EQ_INT(back.vars.n, 2);
	CHECK_EQ_STR(back.vars.b[1].name, "company");
	CHECK_EQ_STR(back.vars.b[1].value, "c%201");
	CHECK_EQ_INT(back.mutations_used, 41);

	/* A value the parent would never send is refused by the child. */
	strcpy(c.vars.b[0].value, "a/b");
	c.vars.b[0].vlen = 3;
	wbuf_free(&w);
	wbuf_init(&w);
	msg_begin(&w, MSG_CONFIG, 0);
	child_config_encode(&c, &w);
	CHECK_EQ_INT(msg_finish(&w), 0);
	msg_reader_init(&r, w.buf + KH_WIRE_HDR, w.len - KH_WIRE_HDR);
	CHECK_EQ_INT(child_config_decode(&r, &back), -1);
	wbuf_free(&w);
}

int
main(void)
{
	child_config_carries_bindings_and_mutation_count();
	TEST_DONE();
}
