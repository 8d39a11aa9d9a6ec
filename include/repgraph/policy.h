/* policy.h — repgraphd's Postfix SMTPD access policy listener: a TCP (loopback) and/or
 * Unix-socket front door on the server's loop that answers `protocol_state=RCPT` requests
 * from the `check` verdict, mapped to a Postfix action by the config (policy.*), and hands
 * each accepted message to the writer as one observation without waiting for it. It fails
 * open (action=DUNNO) on any trouble. Loop thread only. */
#ifndef RG_POLICY_H
#define RG_POLICY_H

#include <uv.h>

#include "repgraph/config.h"
#include "repgraph/engine.h"

typedef struct rg_policy rg_policy_t;

/* Binds the listeners configured by policy.listen / policy.unix on `loop`, answering from
 * `engine` (borrowed: it must outlive the listener, and rg_engine_stop must come after
 * rg_policy_shutdown). 0 with *out owned by the caller, or with *out NULL when neither is
 * set; RG_ECONFIG / RG_EIO / RG_ENOMEM with a message in err otherwise. */
int rg_policy_open(const rg_config_t *cfg, uv_loop_t *loop, rg_engine_t *engine, rg_policy_t **out,
                   char *err, size_t errlen);

/* Stops accepting and closes every policy connection (Postfix then uses its
 * default_action). Observations already queued still commit. Idempotent; accepts NULL. */
void rg_policy_shutdown(rg_policy_t *p);

/* Frees the listener; call after rg_policy_shutdown and after the loop has run the close
 * callbacks (and after rg_engine_stop: queued observations report to it). Accepts NULL. */
void rg_policy_close(rg_policy_t *p);

#endif
