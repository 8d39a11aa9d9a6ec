/* mail.h — one RFC 5322 message into one observation {ts, sender, recipients[], client_ip,
 * helo?}: GMime 3 reads the header fields, addresses (RFC 2047 encoded words, groups,
 * comments, quoted local parts) and dates; received.h finds the client hop; actor.h
 * normalises every identifier. Only the header section is parsed (bodies are never
 * decoded). Call rg_mail_init once before any thread uses the rest; then any thread. */
#ifndef RG_MAIL_H
#define RG_MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repgraph/actor.h"
#include "repgraph/netset.h"
#include "repgraph/received.h"

#define RG_MAIL_HEADER_MAX     (1u << 20) /* a header section over 1 MiB is skipped */
#define RG_MAIL_RECIPIENTS_MAX 1000u      /* the server's limits.max_recipients default */
#define RG_MAIL_HOPS_MAX       64u        /* Received fields read per message */

/* Why a message gives no observation. X(NAME, "reason shown in the summary"). */
#define RG_MAIL_SKIP_MAP(X)                        \
  X(TOO_LARGE, "over the size cap")                \
  X(UNREADABLE, "unreadable")                      \
  X(NOT_MESSAGE, "not a message")                  \
  X(BINARY, "binary data in the header section")   \
  X(TRUNCATED, "truncated in the header section")  \
  X(HEADER_TOO_LARGE, "header section over 1 MiB") \
  X(NO_SENDER, "no sender")                        \
  X(BAD_SENDER, "invalid sender")                  \
  X(NO_RECIPIENTS, "no valid recipient")           \
  X(NO_CLIENT_IP, "no client IP in the Received chain")

typedef enum {
  RG_MAIL_OK = 0,
#define RG__MAIL_SKIP_ENUM(name, text) RG_MAIL_SKIP_##name,
  RG_MAIL_SKIP_MAP(RG__MAIL_SKIP_ENUM)
#undef RG__MAIL_SKIP_ENUM
      RG_MAIL_SKIP_COUNT
} rg_mail_skip_t;

/* The summary text of a skip reason ("" for RG_MAIL_OK, "?" out of range). */
const char *rg_mail_skip_name(int skip);

typedef struct {
  const rg_netset_t *trusted; /* NULL or empty: SpamAssassin's inference (received.h) */
  /* Recipient headers, most trusted first; the first one present gives the recipients
   * (every instance of it); none present: To and Cc. NULL: Delivered-To, X-Original-To,
   * Envelope-To. */
  const char *const *rcpt_headers;
  size_t n_rcpt_headers;
  int64_t fallback_ts; /* used when neither Received nor Date gives a time (mbox From_) */
} rg_mail_opts_t;

/* What one message says. Reused across messages: rg_mail_parse clears it. */
typedef struct {
  int64_t ts;                                  /* 0: no time found (the server's clock applies) */
  bool has_sender, has_ip, has_helo, internal; /* internal: every relay was trusted */
  bool has_rdns;
  rg_actor_t sender, client_ip;
  char helo[RG_RECEIVED_NAME_MAX]; /* normalised domain, or the literal as written */
  char rdns[RG_RECEIVED_NAME_MAX]; /* the client's reverse name as the relay resolved it */
  rg_actor_t *recipients;          /* owned (rg_mail_obs_free) */
  uint32_t n_recipients, cap_recipients, dropped_recipients;
  char detail[200];    /* for a skip: what exactly was wrong */
  rg_received_t *hops; /* scratch for the Received chain; owned */
} rg_mail_obs_t;

/* Initialises GMime. Call once, before threads. */
void rg_mail_init(void);

/* Reads the message of `len` bytes into *obs. 0 with *skip = RG_MAIL_OK (an observation
 * ready to send) or a skip reason (the fields found are still set: feedback uses a sender
 * without a client IP); RG_ENOMEM. */
int rg_mail_parse(const char *data, size_t len, const rg_mail_opts_t *opts, rg_mail_obs_t *obs,
                  rg_mail_skip_t *skip);

/* Frees what the observation owns (recipients, scratch). Accepts NULL. */
void rg_mail_obs_free(rg_mail_obs_t *obs);

#endif
