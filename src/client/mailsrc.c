/* mailsrc.c — single files, mbox files and Maildir folders into messages, for ingest-mail
 * and feedback. Files are read whole (after a size check); mbox files are streamed line by
 * line so an oversized message is counted and passed over without being held. */
#include "repgraph/mailsrc.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "repgraph/buf.h"
#include "repgraph/err.h"

typedef struct {
  const rg_mailsrc_opts_t *o;
  size_t max;
  rg_mailsrc_cb cb;
  void *ctx;
} walk_t;

static int report(walk_t *w, const char *origin, rg_mail_skip_t skip, const char *detail) {
  rg_mailsrc_msg_t m = {.origin = origin, .skip = skip, .detail = detail ? detail : ""};
  return w->cb(w->ctx, &m);
}

/* A "From " line that separates messages: at the start of the file or after an empty line
 * (mboxrd and mboxo writers put one there), or one that carries a postmark date. */
static bool is_separator(const char *line, size_t n, bool after_blank, int64_t *ts) {
  if (n < 5 || memcmp(line, "From ", 5) != 0) return false;
  const char *sp = memchr(line + 5, ' ', n - 5); /* after the envelope sender */
  *ts = 0;
  if (sp && rg_received_parse_date(sp + 1, n - (size_t)(sp + 1 - line), ts) != RG_OK) *ts = 0;
  return after_blank || *ts > 0;
}

static int flush_mbox_message(walk_t *w, const char *path, size_t line_no, rg_buf_t *msg,
                              bool oversized, int64_t ts) {
  char origin[4096 + 32];
  snprintf(origin, sizeof origin, "%s:%zu", path, line_no);
  if (oversized) return report(w, origin, RG_MAIL_SKIP_TOO_LARGE, "");
  /* The empty line before the next separator belongs to the mbox, not the message. */
  if (msg->len >= 2 && msg->data[msg->len - 1] == '\n' && msg->data[msg->len - 2] == '\n')
    msg->len--;
  rg_mailsrc_msg_t m = {.origin = origin,
                        .data = (const char *)msg->data,
                        .len = msg->len,
                        .detail = "",
                        .from_line_ts = ts};
  return w->cb(w->ctx, &m);
}

static int walk_mbox(walk_t *w, const char *path, FILE *f) {
  rg_buf_t msg;
  rg_buf_init(&msg, 0);
  char *line = NULL;
  size_t cap = 0, line_no = 0, msg_line = 0;
  ssize_t n;
  bool in_msg = false, oversized = false, after_blank = true;
  int64_t msg_ts = 0, ts;
  int rc = RG_OK;
  while (!rc && (n = getline(&line, &cap, f)) >= 0) {
    line_no++;
    if (is_separator(line, (size_t)n, after_blank, &ts)) {
      if (in_msg) rc = flush_mbox_message(w, path, msg_line, &msg, oversized, msg_ts);
      in_msg = true, oversized = false, msg.len = 0, msg_line = line_no, msg_ts = ts;
      after_blank = false;
      continue;
    }
    after_blank = (n == 1 && line[0] == '\n') || (n == 2 && line[0] == '\r' && line[1] == '\n');
    if (!in_msg || oversized) continue;
    const char *p = line;
    size_t len = (size_t)n;
    size_t q = 0;
    while (q < len && p[q] == '>') q++;
    if (q > 0 && len - q >= 5 && memcmp(p + q, "From ", 5) == 0) p++, len--; /* mboxrd */
    if (msg.len + len > w->max) {
      oversized = true;
      continue;
    }
    if (rg_buf_append(&msg, p, len)) rc = RG_ENOMEM;
  }
  if (!rc && ferror(f)) rc = report(w, path, RG_MAIL_SKIP_UNREADABLE, strerror(errno));
  if (!rc && in_msg) rc = flush_mbox_message(w, path, msg_line, &msg, oversized, msg_ts);
  free(line);
  rg_buf_free(&msg);
  return rc;
}

/* A regular file: an mbox when it starts with "From ", otherwise one message. */
static int walk_file(walk_t *w, const char *path, const struct stat *st) {
  FILE *f = fopen(path, "rb");
  if (!f) return report(w, path, RG_MAIL_SKIP_UNREADABLE, strerror(errno));
  char head[5];
  size_t got = fread(head, 1, sizeof head, f);
  if (got == 5 && memcmp(head, "From ", 5) == 0) {
    rewind(f);
    int rc = walk_mbox(w, path, f);
    fclose(f);
    return rc;
  }
  if ((size_t)st->st_size > w->max) {
    fclose(f);
    return report(w, path, RG_MAIL_SKIP_TOO_LARGE, "");
  }
  size_t size = (size_t)st->st_size;
  char *data = malloc(size ? size : 1);
  if (!data) {
    fclose(f);
    return RG_ENOMEM;
  }
  memcpy(data, head, got);
  size_t total = got + (size > got ? fread(data + got, 1, size - got, f) : 0);
  int err = ferror(f) ? errno : 0;
  fclose(f);
  int rc;
  if (err) {
    rc = report(w, path, RG_MAIL_SKIP_UNREADABLE, strerror(err));
  } else {
    rg_mailsrc_msg_t m = {.origin = path, .data = data, .len = total, .detail = ""};
    rc = w->cb(w->ctx, &m);
  }
  free(data);
  return rc;
}

static bool is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int walk_path(walk_t *w, const char *path, int depth);

/* Every entry of a directory: files (messages) when `files`, subdirectories when `dirs`.
 * Inside a Maildir only its new/ and cur/ hold messages; its other subdirectories are
 * Maildir++ folders. */
static int walk_entries(walk_t *w, const char *dir, bool files, bool dirs, bool in_maildir,
                        int depth) {
  DIR *d = opendir(dir);
  if (!d) return report(w, dir, RG_MAIL_SKIP_UNREADABLE, strerror(errno));
  struct dirent *e;
  int rc = RG_OK;
  char path[4096];
  while (!rc && (e = readdir(d))) {
    const char *name = e->d_name;
    if (!strcmp(name, ".") || !strcmp(name, "..")) continue;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) continue;
    struct stat st;
    if (lstat(path, &st) != 0) {
      rc = report(w, path, RG_MAIL_SKIP_UNREADABLE, strerror(errno));
    } else if (S_ISREG(st.st_mode) && files && name[0] != '.') {
      rc = walk_file(w, path, &st);
    } else if (S_ISDIR(st.st_mode) && dirs) { /* symlinked directories are not followed */
      if (in_maildir && (!strcmp(name, "cur") || !strcmp(name, "new") || !strcmp(name, "tmp")))
        continue;
      rc = walk_path(w, path, depth + 1);
    }
  }
  closedir(d);
  return rc;
}

static int walk_path(walk_t *w, const char *path, int depth) {
  struct stat st;
  if (stat(path, &st) != 0) return report(w, path, RG_MAIL_SKIP_UNREADABLE, strerror(errno));
  if (!S_ISDIR(st.st_mode)) return walk_file(w, path, &st);
  if (depth > RG_MAILSRC_DEPTH_MAX) return report(w, path, RG_MAIL_SKIP_UNREADABLE, "too deep");
  char sub[4096];
  snprintf(sub, sizeof sub, "%s/cur", path);
  bool has_cur = is_dir(sub);
  snprintf(sub, sizeof sub, "%s/new", path);
  bool has_new = is_dir(sub);
  int rc = RG_OK;
  if (has_new || has_cur) {
    if (has_new) rc = walk_entries(w, sub, true, false, false, depth);
    snprintf(sub, sizeof sub, "%s/cur", path);
    if (!rc && has_cur) rc = walk_entries(w, sub, true, false, false, depth);
    if (!rc && w->o->recursive) rc = walk_entries(w, path, false, true, true, depth);
    return rc;
  }
  if (!w->o->recursive)
    return report(w, path, RG_MAIL_SKIP_UNREADABLE,
                  "not a Maildir (no cur/ or new/; try --recursive)");
  return walk_entries(w, path, true, true, false, depth);
}

int rg_mailsrc_walk(const char *path, const rg_mailsrc_opts_t *o, rg_mailsrc_cb cb, void *ctx) {
  walk_t w = {
      .o = o, .max = o->max_bytes ? o->max_bytes : RG_MAILSRC_MAX_DEFAULT, .cb = cb, .ctx = ctx};
  return walk_path(&w, path, 0);
}
