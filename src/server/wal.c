/* wal.c — the write-ahead log (see wal.h): segment files in one directory, a thread that
 * writes queued records and fsyncs them in groups, removal of merged segments, and the
 * start-up replay that cuts off a torn tail. rg_wal_append and the durable callbacks run on
 * the loop thread, the writing on the log's own thread; rg_wal_replay on whichever thread
 * opens the engine, before the log is opened. */
#define _GNU_SOURCE
#include "repgraph/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "repgraph/buf.h"
#include "repgraph/err.h"
#include "repgraph/grow.h"
#include "repgraph/log.h"

#define WAL_MAGIC     "RGWAL001"
#define WAL_MAGIC_LEN 8
#define SEG_NAME_LEN  24 /* 20 digits + ".wal" */

typedef struct {
  uint64_t first; /* sequence of its first record */
  uint64_t size;  /* bytes */
} segment_t;

struct rg_wal {
  char dir[512];
  rg_wal_opts_t opts;
  uv_async_t async;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  rg_wal_rec_t *queue_head, *queue_tail; /* waiting for the log's thread */
  rg_wal_rec_t *done_head, *done_tail;   /* written (or failed), waiting for the loop */
  uint64_t release_seq;                  /* rg_wal_release's latest, under lock */
  bool stopping, stopped;
  uint64_t next_seq; /* loop thread */
  /* the log's thread */
  int fd;
  segment_t *segs; /* on disk, oldest first; the last is being written */
  size_t n_segs, cap_segs;
  uint64_t released;
  rg_buf_t stage;
  /* stats */
  _Atomic uint64_t appended, fsyncs, bytes, segments;
  atomic_bool failed;
};

/* ---- files -------------------------------------------------------------------------- */

static void seg_path(char *buf, size_t cap, const char *dir, uint64_t first) {
  snprintf(buf, cap, "%s/%020llu.wal", dir, (unsigned long long)first);
}

static bool seg_name(const char *name, uint64_t *first) {
  if (strlen(name) != SEG_NAME_LEN || strcmp(name + 20, ".wal") != 0) return false;
  uint64_t v = 0;
  for (int i = 0; i < 20; i++) {
    if (name[i] < '0' || name[i] > '9') return false;
    v = v * 10 + (uint64_t)(name[i] - '0');
  }
  *first = v;
  return true;
}

static int cmp_seg(const void *a, const void *b) {
  uint64_t x = ((const segment_t *)a)->first, y = ((const segment_t *)b)->first;
  return x < y ? -1 : x > y;
}

/* The segments in dir, oldest first (*out malloc'd, NULL when none). A missing directory
 * has none. 0, RG_EIO or RG_ENOMEM. */
static int list_segments(const char *dir, segment_t **out, size_t *n, char *err, size_t errlen) {
  *out = NULL;
  *n = 0;
  size_t cap = 0;
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT) return RG_OK;
    return rg_fail(err, errlen, RG_EIO, "%s: %s", dir, strerror(errno));
  }
  struct dirent *de;
  int rc = RG_OK;
  while ((de = readdir(d)) && !rc) {
    uint64_t first;
    if (!seg_name(de->d_name, &first)) continue;
    char path[600];
    struct stat st;
    seg_path(path, sizeof path, dir, first);
    if (stat(path, &st) != 0) {
      rc = rg_fail(err, errlen, RG_EIO, "%s: %s", path, strerror(errno));
      break;
    }
    if ((rc = rg_grow((void **)out, &cap, *n + 1, sizeof **out))) break;
    (*out)[(*n)++] = (segment_t){first, (uint64_t)st.st_size};
  }
  closedir(d);
  if (rc) {
    free(*out);
    *out = NULL;
    *n = 0;
    return rc;
  }
  if (*n) qsort(*out, *n, sizeof **out, cmp_seg);
  return RG_OK;
}

static int sync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return RG_EIO;
  int rc = fsync(fd) == 0 ? RG_OK : RG_EIO;
  close(fd);
  return rc;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return RG_EIO;
    p += k;
    n -= (size_t)k;
  }
  return RG_OK;
}

/* Creates (or empties) the segment whose first record will be `first`, with its magic,
 * durable with its directory entry. 0 with *fd set, or RG_EIO. */
static int create_segment(const char *dir, uint64_t first, int *fd) {
  char path[600];
  seg_path(path, sizeof path, dir, first);
  *fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
  if (*fd < 0) {
    rg_log_error("wal: %s: %s", path, strerror(errno));
    return RG_EIO;
  }
  if (write_all(*fd, (const uint8_t *)WAL_MAGIC, WAL_MAGIC_LEN) || fdatasync(*fd) ||
      sync_dir(dir)) {
    rg_log_error("wal: %s: %s", path, strerror(errno));
    close(*fd);
    *fd = -1;
    return RG_EIO;
  }
  return RG_OK;
}

/* ---- records ------------------------------------------------------------------------ */

static uint64_t checksum(const uint8_t hdr[12], const uint8_t *data, size_t len) {
  return XXH3_64bits_withSeed(data, len, XXH3_64bits(hdr, 12));
}

/* Fills r->hdr for payload r->data and sequence r->seq. */
static void seal(rg_wal_rec_t *r) {
  rg_put_u32be(r->hdr, (uint32_t)r->len);
  rg_put_u64be(r->hdr + 4, r->seq);
  rg_put_u64be(r->hdr + 12, checksum(r->hdr, r->data, r->len));
}

/* ---- the log's thread ----------------------------------------------------------------- */

/* Removes the segments whose records are all at most merged (never the one being written). */
static void remove_merged(rg_wal_t *w, uint64_t merged) {
  size_t keep = 0;
  for (size_t i = 0; i < w->n_segs; i++) {
    bool last = i + 1 == w->n_segs;
    if (!last && w->segs[i + 1].first - 1 <= merged) {
      char path[600];
      seg_path(path, sizeof path, w->dir, w->segs[i].first);
      if (unlink(path) == 0 || errno == ENOENT) {
        atomic_fetch_sub(&w->bytes, w->segs[i].size);
        atomic_fetch_sub(&w->segments, 1);
        continue;
      }
      rg_log_warn("wal: cannot remove %s: %s", path, strerror(errno));
    }
    w->segs[keep++] = w->segs[i];
  }
  w->n_segs = keep;
}

/* Starts a new segment for records from `first` on. 0 or RG_EIO / RG_ENOMEM. */
static int rotate(rg_wal_t *w, uint64_t first) {
  int fd, rc = rg_grow((void **)&w->segs, &w->cap_segs, w->n_segs + 1, sizeof *w->segs);
  if (rc || (rc = create_segment(w->dir, first, &fd))) return rc;
  if (w->fd >= 0) close(w->fd);
  w->fd = fd;
  w->segs[w->n_segs++] = (segment_t){first, WAL_MAGIC_LEN};
  atomic_fetch_add(&w->bytes, WAL_MAGIC_LEN);
  atomic_fetch_add(&w->segments, 1);
  return RG_OK;
}

/* Writes a group of records and fsyncs it once; sets each record's result. */
static void write_group(rg_wal_t *w, rg_wal_rec_t *group) {
  int rc = atomic_load(&w->failed) ? RG_EIO : RG_OK;
  segment_t *cur = w->n_segs ? &w->segs[w->n_segs - 1] : NULL;
  if (!rc && (!cur || cur->size >= w->opts.segment_bytes)) rc = rotate(w, group->seq);
  w->stage.len = 0;
  for (rg_wal_rec_t *r = group; r && !rc; r = r->next) {
    rc = rg_buf_append(&w->stage, r->hdr, RG_WAL_RECORD_HEADER);
    if (!rc) rc = rg_buf_append(&w->stage, r->data, r->len);
  }
  if (!rc && (rc = write_all(w->fd, w->stage.data, w->stage.len)) == RG_OK &&
      fdatasync(w->fd) != 0)
    rc = RG_EIO;
  if (rc) {
    if (!atomic_exchange(&w->failed, true))
      rg_log_error("wal: writing to %s failed (%s): ingest is refused until a restart",
                   w->dir, errno ? strerror(errno) : rg_strerror(rc));
  } else {
    w->segs[w->n_segs - 1].size += w->stage.len;
    atomic_fetch_add(&w->bytes, w->stage.len);
    atomic_fetch_add(&w->fsyncs, 1);
  }
  if (w->stage.cap > (1u << 24)) rg_buf_reset(&w->stage, 1u << 20);
  for (rg_wal_rec_t *r = group; r; r = r->next) {
    r->result = rc;
    if (!rc) atomic_fetch_add(&w->appended, 1);
  }
}

/* Appends the records first .. last (linked already) to the list head .. tail. */
static void chain(rg_wal_rec_t **head, rg_wal_rec_t **tail, rg_wal_rec_t *first,
                  rg_wal_rec_t *last) {
  if (*tail)
    (*tail)->next = first;
  else
    *head = first;
  *tail = last;
}

static void *wal_main(void *arg) {
  rg_wal_t *w = arg;
  pthread_mutex_lock(&w->lock);
  for (;;) {
    while (!w->queue_head && !w->stopping && w->release_seq <= w->released)
      pthread_cond_wait(&w->wake, &w->lock);
    rg_wal_rec_t *group = w->queue_head, *last = w->queue_tail;
    w->queue_head = w->queue_tail = NULL;
    uint64_t release = w->release_seq;
    bool stop = w->stopping && !group;
    pthread_mutex_unlock(&w->lock);
    if (release > w->released) {
      remove_merged(w, release);
      w->released = release;
    }
    if (group) write_group(w, group);
    pthread_mutex_lock(&w->lock);
    if (group) {
      chain(&w->done_head, &w->done_tail, group, last);
      uv_async_send(&w->async);
    }
    if (stop) break;
  }
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

/* Loop thread: hands durable (or failed) records back, in order. */
static void deliver(rg_wal_t *w) {
  pthread_mutex_lock(&w->lock);
  rg_wal_rec_t *r = w->done_head;
  w->done_head = w->done_tail = NULL;
  pthread_mutex_unlock(&w->lock);
  if (r) w->opts.durable(w->opts.ctx, r);
}

static void on_async(uv_async_t *h) {
  deliver(h->data);
}

/* ---- the API ------------------------------------------------------------------------ */

int rg_wal_open(const rg_wal_opts_t *o, uv_loop_t *loop, rg_wal_t **out, char *err,
                size_t errlen) {
  *out = NULL;
  if (mkdir(o->dir, 0750) != 0 && errno != EEXIST)
    return rg_fail(err, errlen, RG_EIO, "wal: cannot create %s: %s", o->dir, strerror(errno));
  segment_t *old;
  size_t n_old;
  int rc = list_segments(o->dir, &old, &n_old, err, errlen);
  if (rc) return rc;
  rg_wal_t *w = calloc(1, sizeof *w);
  if (!w) {
    free(old);
    return RG_ENOMEM;
  }
  snprintf(w->dir, sizeof w->dir, "%s", o->dir);
  w->opts = *o;
  w->opts.dir = w->dir;
  w->next_seq = o->next_seq ? o->next_seq : 1;
  w->fd = -1;
  rg_buf_init(&w->stage, UINT32_MAX);
  pthread_mutex_init(&w->lock, NULL);
  pthread_cond_init(&w->wake, NULL);
  if ((rc = rotate(w, w->next_seq))) {
    rg_fail(err, errlen, rc, "wal: cannot create a segment in %s", w->dir);
    goto fail;
  }
  for (size_t i = 0; i < n_old; i++) { /* merged already (the caller replayed them) */
    if (old[i].first == w->next_seq) continue; /* the one just emptied and reused */
    char path[600];
    seg_path(path, sizeof path, w->dir, old[i].first);
    if (unlink(path) != 0 && errno != ENOENT)
      rg_log_warn("wal: cannot remove %s: %s", path, strerror(errno));
  }
  free(old);
  old = NULL;
  if (uv_async_init(loop, &w->async, on_async)) {
    rc = rg_fail(err, errlen, RG_EINTERNAL, "wal: cannot create its loop handle");
    goto fail;
  }
  w->async.data = w;
  if (pthread_create(&w->thread, NULL, wal_main, w) != 0) {
    uv_close((uv_handle_t *)&w->async, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    rc = rg_fail(err, errlen, RG_EINTERNAL, "wal: cannot start its thread");
    goto fail;
  }
  *out = w;
  return RG_OK;
fail:
  free(old);
  if (w->fd >= 0) close(w->fd);
  rg_buf_free(&w->stage);
  free(w->segs);
  pthread_mutex_destroy(&w->lock);
  pthread_cond_destroy(&w->wake);
  free(w);
  return rc;
}

void rg_wal_append(rg_wal_t *w, rg_wal_rec_t *r) {
  r->seq = w->next_seq++;
  r->result = RG_OK;
  r->next = NULL;
  seal(r);
  pthread_mutex_lock(&w->lock);
  chain(&w->queue_head, &w->queue_tail, r, r);
  pthread_cond_signal(&w->wake);
  pthread_mutex_unlock(&w->lock);
}

void rg_wal_release(rg_wal_t *w, uint64_t merged_seq) {
  pthread_mutex_lock(&w->lock);
  if (merged_seq > w->release_seq) {
    w->release_seq = merged_seq;
    pthread_cond_signal(&w->wake);
  }
  pthread_mutex_unlock(&w->lock);
}

void rg_wal_stats(rg_wal_t *w, rg_wal_stats_t *out) {
  *out = (rg_wal_stats_t){atomic_load(&w->appended), atomic_load(&w->fsyncs),
                          atomic_load(&w->bytes), atomic_load(&w->segments),
                          atomic_load(&w->failed)};
}

void rg_wal_stop(rg_wal_t *w) {
  if (!w || w->stopped) return;
  pthread_mutex_lock(&w->lock);
  w->stopping = true;
  pthread_cond_signal(&w->wake);
  pthread_mutex_unlock(&w->lock);
  pthread_join(w->thread, NULL);
  deliver(w);
  uv_close((uv_handle_t *)&w->async, NULL);
  w->stopped = true;
}

void rg_wal_free(rg_wal_t *w) {
  if (!w) return;
  if (w->fd >= 0) close(w->fd);
  rg_buf_free(&w->stage);
  free(w->segs);
  pthread_mutex_destroy(&w->lock);
  pthread_cond_destroy(&w->wake);
  free(w);
}

/* ---- replay ------------------------------------------------------------------------- */

/* Reads a whole file into *buf (malloc'd). 0 or RG_EIO / RG_ENOMEM. */
static int read_file(const char *path, uint8_t **buf, size_t *len) {
  *buf = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return RG_EIO;
  struct stat st;
  int rc = fstat(fd, &st) == 0 ? RG_OK : RG_EIO;
  if (!rc && st.st_size > 0 && !(*buf = malloc((size_t)st.st_size))) rc = RG_ENOMEM;
  size_t got = 0;
  while (!rc && got < (size_t)st.st_size) {
    ssize_t k = read(fd, *buf + got, (size_t)st.st_size - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) rc = RG_EIO;
    else got += (size_t)k;
  }
  close(fd);
  if (rc) {
    free(*buf);
    *buf = NULL;
    return rc;
  }
  *len = got;
  return RG_OK;
}

/* Cuts the last segment at `at` bytes (a torn tail) durably. 0 or RG_EIO. */
static int cut_tail(const char *path, size_t at) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return RG_EIO;
  int rc = ftruncate(fd, (off_t)at) == 0 && fdatasync(fd) == 0 ? RG_OK : RG_EIO;
  close(fd);
  return rc;
}

/* Replays one segment's bytes. *end: where the intact records end (== len when all are). */
static int replay_segment(const uint8_t *p, size_t len, uint64_t after, rg_wal_replay_fn fn,
                          void *ctx, uint64_t *last, size_t *end, const char *path, char *err,
                          size_t errlen) {
  size_t pos = WAL_MAGIC_LEN;
  *end = len < WAL_MAGIC_LEN ? 0 : len;
  if (len < WAL_MAGIC_LEN) return RG_OK; /* created, torn before its magic */
  if (memcmp(p, WAL_MAGIC, WAL_MAGIC_LEN) != 0)
    return rg_fail(err, errlen, RG_EIO, "wal: %s is not a log segment", path);
  while (pos < len) {
    if (len - pos < RG_WAL_RECORD_HEADER) break;
    uint32_t n = rg_get_u32be(p + pos);
    uint64_t seq = rg_get_u64be(p + pos + 4), sum = rg_get_u64be(p + pos + 12);
    if (n > RG_WAL_RECORD_MAX || len - pos - RG_WAL_RECORD_HEADER < n) break;
    const uint8_t *data = p + pos + RG_WAL_RECORD_HEADER;
    if (checksum(p + pos, data, n) != sum) break;
    if (seq <= *last)
      return rg_fail(err, errlen, RG_EIO, "wal: %s: record %llu follows %llu", path,
                     (unsigned long long)seq, (unsigned long long)*last);
    if (seq > after) {
      int rc = fn(ctx, seq, data, n);
      if (rc) return rc;
    }
    *last = seq;
    pos += RG_WAL_RECORD_HEADER + n;
  }
  *end = pos;
  return RG_OK;
}

int rg_wal_replay(const char *dir, uint64_t after, rg_wal_replay_fn fn, void *ctx,
                  uint64_t *last, uint64_t *dropped_bytes, char *err, size_t errlen) {
  *last = 0;
  *dropped_bytes = 0;
  segment_t *segs;
  size_t n;
  int rc = list_segments(dir, &segs, &n, err, errlen);
  for (size_t i = 0; i < n && !rc; i++) {
    char path[600];
    uint8_t *buf;
    size_t len, end;
    seg_path(path, sizeof path, dir, segs[i].first);
    if ((rc = read_file(path, &buf, &len))) {
      rg_fail(err, errlen, rc, "wal: cannot read %s: %s", path, strerror(errno));
      break;
    }
    rc = replay_segment(buf, len, after, fn, ctx, last, &end, path, err, errlen);
    free(buf);
    if (rc || end == len) continue;
    if (i + 1 < n) {
      rc = rg_fail(err, errlen, RG_EIO,
                   "wal: %s: damaged record at byte %zu before the end of the log", path, end);
      break;
    }
    rg_log_warn("wal: %s: dropping a torn last record (%zu bytes; never acknowledged)", path,
                len - end);
    *dropped_bytes = len - end;
    if (cut_tail(path, end))
      rc = rg_fail(err, errlen, RG_EIO, "wal: cannot truncate %s: %s", path, strerror(errno));
  }
  free(segs);
  return rc;
}

int rg_wal_remove_all(const char *dir, char *err, size_t errlen) {
  segment_t *segs;
  size_t n;
  int rc = list_segments(dir, &segs, &n, err, errlen);
  for (size_t i = 0; i < n && !rc; i++) {
    char path[600];
    seg_path(path, sizeof path, dir, segs[i].first);
    if (unlink(path) != 0 && errno != ENOENT)
      rc = rg_fail(err, errlen, RG_EIO, "wal: cannot remove %s: %s", path, strerror(errno));
  }
  free(segs);
  return rc;
}
