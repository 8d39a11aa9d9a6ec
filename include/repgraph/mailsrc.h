/* mailsrc.h — where messages come from: a single RFC 5322 file, an mbox file (mboxrd or
 * mboxo "From " lines; told apart from a single message by its first line), or a Maildir
 * (new/ and cur/; with `recursive`, every Maildir++ subfolder and every file below a plain
 * directory too). Each message is handed to a callback; messages over the size cap are
 * reported without being read into memory. No MIME parsing here. One thread per walk. */
#ifndef RG_MAILSRC_H
#define RG_MAILSRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repgraph/mail.h"

#define RG_MAILSRC_MAX_DEFAULT (25u << 20) /* 25 MiB: the common provider limit */
#define RG_MAILSRC_DEPTH_MAX   32          /* directory levels below a path */

typedef struct {
  const char *origin; /* "path", or "path:LINE" (the From_ line) in an mbox */
  const char *data;   /* the message bytes; NULL when skip is set */
  size_t len;
  rg_mail_skip_t skip;  /* RG_MAIL_OK, RG_MAIL_SKIP_TOO_LARGE or RG_MAIL_SKIP_UNREADABLE */
  const char *detail;   /* why it is unreadable (strerror, "not a Maildir"), or "" */
  int64_t from_line_ts; /* the mbox From_ line's date; 0 when none */
} rg_mailsrc_msg_t;

/* Called for every message; all pointers are valid during the call only. A nonzero return
 * stops the walk and is returned by rg_mailsrc_walk. */
typedef int (*rg_mailsrc_cb)(void *ctx, const rg_mailsrc_msg_t *msg);

typedef struct {
  bool recursive;
  size_t max_bytes; /* per message; 0 = RG_MAILSRC_MAX_DEFAULT */
} rg_mailsrc_opts_t;

/* Reads every message under `path`. Unreadable files and directories are reported through
 * the callback (skip RG_MAIL_SKIP_UNREADABLE) and the walk goes on. 0, the callback's
 * nonzero value, or RG_ENOMEM. */
int rg_mailsrc_walk(const char *path, const rg_mailsrc_opts_t *opts, rg_mailsrc_cb cb, void *ctx);

#endif
