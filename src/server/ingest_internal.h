/* ingest_internal.h — an ingest-kind write as ingest.c prepares it (actors once each, edges,
 * labels, per-item rejects, in slices), shared with ingest_record.c, which encodes an ingest
 * as a write-ahead log record and applies such records. Not a public header. */
#ifndef RG_INGEST_INTERNAL_H
#define RG_INGEST_INTERNAL_H

#include "engine_internal.h"

/* An actor named by a write, its identifier packed in the write's key buffer. */
typedef struct {
  uint32_t key_off;
  uint16_t key_len;
  uint8_t type;
  uint64_t messages;
  uint64_t submissions; /* authenticated submissions it sent */
  int64_t ts, ts_last;  /* earliest and latest time the write names it */
  uint64_t id;         /* set by the writer */
  uint32_t mark;       /* the last observation that named it as a recipient */
} job_actor_t;

typedef struct {
  uint32_t src, dst; /* indexes into actors */
  rg_edge_kind_t kind;
  int64_t ts;
  double weight;
  uint64_t count;
} job_edge_t;

typedef struct {
  uint32_t actor;
  rg_verdict_t verdict;
  rg_label_source_t source;
  double weight;
  int64_t ts;
  uint32_t note_off;
  uint16_t note_len;
} job_label_t;

typedef struct {
  uint8_t item;
  uint32_t index;
  int code;
  char message[160];
} reject_t;

/* One transaction's worth of a write: its actors (each once), edges and labels. A large
 * ingest is cut into slices of at most limits.write_slice_edges edges, whole observations each, so that
 * other clients' writes commit between them. */
typedef struct {
  const uint8_t *hash_key; /* the engine's actor_hash_key */
  rg_buf_t keys;           /* packed identifiers and notes */
  job_actor_t *actors;
  uint32_t n_actors;
  size_t cap_actors;
  uint32_t *actor_slots; /* hash of actors (index + 1, 0 free): each is stored once */
  uint32_t n_slots;
  job_edge_t *edges;
  uint32_t n_edges;
  size_t cap_edges;
  job_label_t *labels;
  uint32_t n_labels;
  uint32_t mark; /* the observation being expanded (recipients named twice count once) */
  uint32_t n_observations; /* accepted into this slice (metrics) */
} slice_t;

/* A client write: the common head, its slices (applied one per transaction, in order), and
 * what its reply reports. */
typedef struct {
  rg_write_t base;
  slice_t *slices;
  uint32_t n_slices, cur; /* cur: the slice the writer applies next */
  size_t cap_slices;
  reject_t *rejects;
  uint32_t n_rejects, n_rejected;
  rg_actor_t *rcpts;  /* one observation's recipients, normalised once while validated */
  size_t cap_rcpts;
  uint32_t accepted;  /* items accepted */
  uint32_t forgotten; /* forget: actors that existed; unlabel: labels retracted */
  struct {            /* unlabel: time and note of the retraction */
    int64_t ts;
    uint32_t note_off;
    uint16_t note_len;
  } retraction;
  bool guarded;            /* a label_cluster in cluster mode: it replies with ... */
  rg__guard_skips_t skips; /* ... what the guard skipped (rg__ingest_reply_skips) */
} ingest_write_t;

/* ingest.c: adds a normalised actor to the slice, once: an actor named again has its
 * messages added and its time span widened, so the writer updates each actor once per
 * slice. *index receives its position. 0 or RG_ENOMEM. Frees a slice's arrays (not s). */
int rg__slice_add_actor(slice_t *s, const rg_actor_t *a, int64_t ts, uint64_t messages,
                        uint32_t *index);
void rg__slice_free(slice_t *s);

/* ingest_record.c -------------------------------------------------------------------- */

/* Encodes the actors and edges of ingest write w (all its slices) as one log record,
 * appended to out; *edges and *observations count what it holds. 0 or the buffer's error. */
int rg__ingest_encode(const rg_write_t *w, rg_buf_t *out, uint64_t *edges, uint64_t *observations);

/* Writer thread (or start-up): applies a record of rg__ingest_encode in t, as the ingest's
 * own apply would have; *edges and *observations count what it held. 0, RG_EIO for a record
 * that does not decode, or the store's error. */
int rg__ingest_apply_record(rg_txn_t *t, const uint8_t *hash_key, const uint8_t *p, size_t len,
                            uint64_t *edges, uint64_t *observations);

/* Many records applied as one: each actor they name is upserted once (their messages and
 * time spans added up), then their edges are added. new: 0 or RG_ENOMEM (hash_key, the
 * engine's actor_hash_key, keys its hash of actors; borrowed); add: checks a record and takes its actors (the bytes stay the caller's
 * until free), 0, RG_EIO (does not decode), RG_ENOMEM; apply: as rg__ingest_apply_record,
 * for every record added. free accepts NULL. */
typedef struct rg__ingest_merge rg__ingest_merge_t;
int rg__ingest_merge_new(const uint8_t *hash_key, rg__ingest_merge_t **out);
int rg__ingest_merge_add(rg__ingest_merge_t *m, const uint8_t *p, size_t len);
int rg__ingest_merge_apply(rg_txn_t *t, rg__ingest_merge_t *m, uint64_t *edges,
                           uint64_t *observations);
void rg__ingest_merge_free(rg__ingest_merge_t *m);

#endif
