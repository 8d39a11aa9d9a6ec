/* backup.c — the backup op: a consistent compacted copy of the live store into a new
 * directory on the server's host (rg_store_backup: LMDB's compacting copy of one read
 * snapshot, written as DEST.partial and renamed, with its manifest). The copy runs on a
 * thread of its own, never on the loop or the writer: lookups and ingest go on while it
 * runs. Its reply comes when the copy is in place or has failed. One backup at a time.
 * Loop thread, except copy_main (the backup thread). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/log.h"

#define PATH_MAX_BYTES 900 /* as rg_store_backup takes */

/* A backup request: its reply, and what the thread reports. */
typedef struct {
  rg_write_t base;
  char path[PATH_MAX_BYTES + 1];
  bool repack; /* rows rewritten in key order (rg_store_backup) */
  uint64_t job;
  rg_backup_manifest_t manifest;
  double ms;
  bool started; /* its thread runs (else it waits for the logged ingests' merge) */
} backup_job_t;

struct rg__backup {
  rg_engine_t *engine;
  uv_async_t done_async;
  pthread_t thread;
  backup_job_t *running; /* the loop's: set at start, cleared when delivered */
  atomic_bool finished;  /* set by the thread after it wrote the job's result */
  uint64_t next_job;
  char last_path[PATH_MAX_BYTES + 1];
  int64_t last_at; /* when the last successful backup started, 0 = none */
};

static void job_free(rg_write_t *w) {
  free(w);
}

static void job_reply(const rg_write_t *base, rg_wr_t *wr) {
  const backup_job_t *j = (const backup_job_t *)base;
  const rg_backup_manifest_t *m = &j->manifest;
  rg_wr_reply(wr, base->has_id, base->id, 4);
  rg_wr_str(wr, "job"), rg_wr_uint(wr, j->job);
  rg_wr_str(wr, "path"), rg_wr_str(wr, j->path);
  rg_wr_str(wr, "ms"), rg_wr_double(wr, j->ms);
  rg_wr_str(wr, "manifest");
  rg_wr_map(wr, 8);
  rg_wr_str(wr, "schema_version"), rg_wr_uint(wr, m->schema_version);
  rg_wr_str(wr, "generation"), rg_wr_uint(wr, m->generation);
  rg_wr_str(wr, "created_at"), rg_wr_int(wr, m->created_at);
  rg_wr_str(wr, "data_bytes"), rg_wr_uint(wr, m->data_bytes);
  rg_wr_str(wr, "blake2b_256"), rg_wr_str(wr, m->checksum);
  rg_wr_str(wr, "actors");
  rg_wr_map(wr, RG_ACTOR_TYPE_MAX - RG_ACTOR_TYPE_MIN + 1);
  for (int ty = RG_ACTOR_TYPE_MIN; ty <= RG_ACTOR_TYPE_MAX; ty++)
    rg_wr_str(wr, rg_actor_type_name(ty)), rg_wr_uint(wr, m->counts.actors[ty]);
  rg_wr_str(wr, "edges");
  rg_wr_map(wr, RG_EDGE_KIND_COUNT);
  for (int k = 0; k < RG_EDGE_KIND_COUNT; k++)
    rg_wr_str(wr, rg_edge_kind_name(k)), rg_wr_uint(wr, m->counts.edges[k]);
  rg_wr_str(wr, "labels"), rg_wr_uint(wr, m->counts.labels);
}

/* The backup thread: the copy, then a wake-up for the loop. */
static void *copy_main(void *arg) {
  struct rg__backup *b = arg;
  backup_job_t *j = b->running;
  uint64_t t0 = rg_clock_mono_us();
  j->base.head.result =
      rg_store_backup(b->engine->store, j->path, j->repack, &j->manifest, j->base.error,
                      sizeof j->base.error);
  j->ms = (double)(rg_clock_mono_us() - t0) / 1000;
  atomic_store(&b->finished, true);
  uv_async_send(&b->done_async);
  return NULL;
}

/* Loop thread: joins a finished copy and answers its request. */
static void deliver(struct rg__backup *b) {
  backup_job_t *j = b->running;
  if (!j || !atomic_load(&b->finished)) return;
  pthread_join(b->thread, NULL);
  b->running = NULL;
  atomic_store(&b->finished, false);
  rg_metrics_t *m = &b->engine->metrics;
  if (j->base.head.result) {
    atomic_fetch_add(&m->backups_failed, 1);
    rg_log_error("backup %llu to %s failed: %s", (unsigned long long)j->job, j->path,
                 j->base.error[0] ? j->base.error : rg_strerror(j->base.head.result));
  } else {
    atomic_fetch_add(&m->backups_ok, 1);
    snprintf(b->last_path, sizeof b->last_path, "%s", j->path);
    b->last_at = j->manifest.created_at;
    rg_log_info("backup %llu: %s, %llu bytes, generation %llu, in %.0f ms",
                (unsigned long long)j->job, j->path, (unsigned long long)j->manifest.data_bytes,
                (unsigned long long)j->manifest.generation, j->ms);
  }
  rg__engine_complete(&j->base);
}

static void on_done_async(uv_async_t *h) {
  deliver(h->data);
}

int rg__backup_init(rg_engine_t *e) {
  struct rg__backup *b = calloc(1, sizeof *b);
  if (!b) return RG_ENOMEM;
  b->engine = e;
  if (uv_async_init(e->loop, &b->done_async, on_done_async)) {
    free(b);
    return RG_EINTERNAL;
  }
  b->done_async.data = b;
  e->backup = b;
  return RG_OK;
}

/* Loop thread: the logged ingests before a backup are merged (or the engine stops): its copy
 * starts (or it is answered). */
static void start_copy(void *ctx, bool merged) {
  struct rg__backup *b = ctx;
  backup_job_t *j = b->running;
  if (merged && pthread_create(&b->thread, NULL, copy_main, b) == 0) {
    j->started = true;
    rg_log_info("backup %llu to %s started", (unsigned long long)j->job, j->path);
    return;
  }
  b->running = NULL;
  rg_engine_write_set_error(&j->base, merged ? RG_EINTERNAL : RG_ESHUTTING_DOWN,
                            merged ? "cannot start the backup thread" : NULL);
  atomic_fetch_add(&b->engine->metrics.backups_failed, 1);
  rg__engine_complete(&j->base);
}

/* A destination the server takes: absolute, no "." or ".." components, no NUL. */
static bool path_ok(rg_str_t p) {
  if (p.len == 0 || p.len > PATH_MAX_BYTES || p.ptr[0] != '/' || memchr(p.ptr, '\0', p.len))
    return false;
  for (uint32_t i = 0; i < p.len; i++) {
    if (p.ptr[i] != '/') continue;
    uint32_t n = 0;
    while (i + 1 + n < p.len && p.ptr[i + 1 + n] != '/') n++;
    if ((n == 1 && p.ptr[i + 1] == '.') || (n == 2 && p.ptr[i + 1] == '.' && p.ptr[i + 2] == '.'))
      return false;
  }
  return p.ptr[p.len - 1] != '/';
}

int rg__backup_request(rg_engine_t *e, const rg_request_t *req, rg_buf_t *out,
                       rg_write_done_fn done, void *ctx, rg_write_t **pending) {
  struct rg__backup *b = e->backup;
  if (e->stopping || !b)
    return rg_proto_write_error(out, req->has_id, req->id, RG_ESHUTTING_DOWN, NULL);
  if (!path_ok(req->path))
    return rg_proto_write_error(out, req->has_id, req->id, RG_EBAD_REQUEST,
                                "path: expected an absolute path of a new directory on the "
                                "server's host, without . or .. components");
  if (b->running) {
    char msg[PATH_MAX_BYTES + 64];
    snprintf(msg, sizeof msg, "backup %llu to %s is still running",
             (unsigned long long)b->running->job, b->running->path);
    return rg_proto_write_error(out, req->has_id, req->id, RG_EBUSY, msg);
  }
  backup_job_t *j = calloc(1, sizeof *j);
  if (!j) return rg_proto_write_error(out, req->has_id, req->id, RG_ENOMEM, NULL);
  int wait;
  j->base = (rg_write_t){.engine = e,
                         .op = RG_OP_BACKUP,
                         .has_id = req->has_id,
                         .id = req->id,
                         .started_us = rg_clock_mono_us(),
                         .done = done,
                         .ctx = ctx,
                         .reply = job_reply,
                         .free = job_free};
  memcpy(j->path, req->path.ptr, req->path.len);
  j->repack = req->repack;
  j->job = ++b->next_job;
  b->running = j;
  atomic_store(&b->finished, false);
  /* with wal.enabled, the copy holds every ingest acknowledged before it: merged first */
  if ((wait = rg__wal_when_merged(e, start_copy, b)) == 0) {
    *pending = &j->base;
    return RG_OK;
  }
  if (wait < 0 || pthread_create(&b->thread, NULL, copy_main, b) != 0) {
    b->running = NULL;
    free(j);
    return rg_proto_write_error(out, req->has_id, req->id, wait < 0 ? wait : RG_EINTERNAL,
                                wait < 0 ? NULL : "cannot start the backup thread");
  }
  j->started = true;
  rg_log_info("backup %llu to %s started", (unsigned long long)j->job, j->path);
  *pending = &j->base;
  return RG_OK;
}

void rg__backup_stop(rg_engine_t *e) {
  struct rg__backup *b = e->backup;
  if (!b) return;
  if (b->running && b->running->started) { /* one waiting for a merge: rg__wal_stop answers */
    rg_log_info("waiting for backup %llu to finish", (unsigned long long)b->running->job);
    pthread_join(b->thread, NULL); /* the copy cannot be interrupted; it is bounded */
    backup_job_t *j = b->running;
    b->running = NULL;
    atomic_fetch_add(j->base.head.result ? &e->metrics.backups_failed : &e->metrics.backups_ok, 1);
    rg__engine_complete(&j->base);
  }
  uv_close((uv_handle_t *)&b->done_async, NULL);
}

void rg__backup_free(rg_engine_t *e) {
  free(e->backup);
  e->backup = NULL;
}

void rg__backup_stats(rg_engine_t *e, rg_wr_t *wr) {
  struct rg__backup *b = e->backup;
  rg_wr_map(wr, 5);
  rg_wr_str(wr, "completed"), rg_wr_uint(wr, atomic_load(&e->metrics.backups_ok));
  rg_wr_str(wr, "failed"), rg_wr_uint(wr, atomic_load(&e->metrics.backups_failed));
  rg_wr_str(wr, "running"), rg_wr_bool(wr, b && b->running);
  rg_wr_str(wr, "last_path"), b && b->last_at ? rg_wr_str(wr, b->last_path) : rg_wr_nil(wr);
  rg_wr_str(wr, "last_at"), b && b->last_at ? rg_wr_int(wr, b->last_at) : rg_wr_nil(wr);
}
