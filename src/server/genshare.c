/* genshare.c — a generation shared between replicas (cluster mode): the leader packs its
 * current generation with every row as the store holds it; a follower adopts a verified
 * pack in one write transaction of the writer (solo), so the generation flips at once, as a
 * local one does, and an adoption that fails half-way leaves nothing behind. The recompute
 * hooks the cluster sets (who may recompute, who hears of a new generation) are here too. */
#include <stdlib.h>

#include "engine_internal.h"
#include "repgraph/err.h"
#include "repgraph/genpack.h"
#include "repgraph/log.h"

void rg_engine_set_recompute_hooks(rg_engine_t *e, rg_recompute_gate_fn gate,
                                   rg_generation_fn computed, void *ctx) {
  e->recompute_gate = gate;
  e->on_generation = computed;
  e->recompute_hook_ctx = ctx;
}

void rg_engine_set_generation_floor(rg_engine_t *e, uint64_t floor) {
  if (floor > e->generation_floor) e->generation_floor = floor;
}

/* ---- packing (any thread) -------------------------------------------------------------- */

static int pack_row(void *ctx, rg_genrow_t table, const uint8_t *key, size_t klen,
                    const uint8_t *val, size_t vlen) {
  return rg_genpack_add(ctx, (uint8_t)table, key, klen, val, vlen);
}

int rg_engine_pack_generation(rg_engine_t *e, uint64_t gen, rg_genpack_t **out) {
  *out = NULL;
  rg_txn_t *t;
  int rc = rg_store_read_begin(e->store, &t);
  if (rc) return rc;
  uint64_t seq = 0;
  rg_genpack_t *p = NULL;
  if (!(rc = rg_store_log_seq(t, &seq)) &&
      !(rc = rg_genpack_new(gen, seq, RG_STORE_SCHEMA_VERSION, &p)))
    rc = rg_store_scan_generation_rows(t, gen, pack_row, p);
  rg_store_end(t);
  if (rc) {
    rg_genpack_free(p);
    return rc;
  }
  *out = p;
  return RG_OK;
}

/* ---- adopting (the writer) ------------------------------------------------------------- */

typedef struct {
  rg_writer_req_t head;
  rg_engine_t *engine;
  uint64_t gen;
  rg_genpack_reader_t *reader;
  rg_adopt_done_fn done;
  void *ctx;
  bool replace; /* a generation gen of the store's own is replaced */
  bool stale;   /* writer: the store serves gen or a newer one already */
} adopt_t;

/* Writer thread: the whole generation in transaction t. */
static int adopt_apply(rg_txn_t *t, rg_writer_req_t *head) {
  adopt_t *a = (adopt_t *)head;
  rg_generation_t cur = {0};
  int rc = rg_store_get_generation(t, &cur);
  if (rc && rc != RG_ENOT_FOUND) return rc;
  a->stale = cur.generation > a->gen || (cur.generation == a->gen && !a->replace);
  if (a->stale) return RG_OK;
  bool done = false;
  while (!done && !(rc = rg_store_drop_generation(t, a->gen, UINT64_MAX, &done))) {
  } /* leftovers of a local attempt at the same number */
  if (rc) return rc;
  rg_genpack_reader_rewind(a->reader);
  uint8_t table;
  const uint8_t *key, *val;
  size_t klen, vlen;
  bool flipped = false;
  int more;
  while (!rc && (more = rg_genpack_reader_next(a->reader, &table, &key, &klen, &val, &vlen)) == 1) {
    if (table < RG_GENROW_SCORE || table > RG_GENROW_MAX) return RG_EBAD_REQUEST;
    rc = rg_store_put_generation_row(t, a->gen, (rg_genrow_t)table, key, klen, val, vlen);
    flipped |= table == RG_GENROW_GENERATION;
  }
  if (rc) return rc;
  if (more < 0) return more;
  if (!flipped) return RG_EBAD_REQUEST; /* no generation record: nothing to serve */
  /* keep the generation it replaces (readers may still be on it), as a local flip does */
  uint64_t keep = cur.generation == a->gen ? cur.generation - 1 : cur.generation;
  return keep ? rg_store_drop_generations_below(t, keep) : RG_OK;
}

static void adopt_failed(rg_writer_req_t *head) {
  rg_log_error("cluster: adopting generation %llu failed: %s",
               (unsigned long long)((adopt_t *)head)->gen, rg_strerror(head->result));
}

static void adopt_done(rg_writer_req_t *head) {
  adopt_t *a = (adopt_t *)head;
  int rc = head->result ? head->result : a->stale ? RG_ENOT_FOUND : RG_OK;
  rg_genpack_reader_free(a->reader);
  a->done(a->ctx, a->gen, rc);
  free(a);
}

int rg_engine_adopt_generation(rg_engine_t *e, uint64_t gen, rg_genpack_reader_t *r,
                               bool replace, rg_adopt_done_fn done, void *ctx) {
  adopt_t *a = calloc(1, sizeof *a);
  if (!a) {
    rg_genpack_reader_free(r);
    return RG_ENOMEM;
  }
  a->head = (rg_writer_req_t){.apply = adopt_apply,
                              .on_failed = adopt_failed,
                              .done = adopt_done,
                              .name = "adopt generation",
                              .solo = true};
  a->engine = e;
  a->gen = gen;
  a->replace = replace;
  a->reader = r;
  a->done = done;
  a->ctx = ctx;
  rg_writer_submit(e->writer, &a->head);
  return RG_OK;
}
