/* wal.h — an append-only write-ahead log in a directory of segment files, with its own
 * thread: records appended on the loop thread are written and fsync'd in groups (group
 * commit) and handed back to the loop (uv_async) once durable. The log knows nothing of what
 * a record holds: a payload of bytes and a sequence number. rg_wal_replay reads a directory
 * back at start-up, before the log is opened, and cuts off a torn last record.
 *
 * On disk: segments named <first seq, 20 digits>.wal, each starting with the 8-byte magic
 * "RGWAL001", then records: payload length (u32 BE), sequence (u64 BE), checksum (u64 BE,
 * XXH3-64 of the 12 bytes before it and the payload), payload. */
#ifndef RG_WAL_H
#define RG_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define RG_WAL_RECORD_HEADER 20       /* length, sequence, checksum */
#define RG_WAL_RECORD_MAX    (1u << 30) /* largest payload */

typedef struct rg_wal rg_wal_t;
typedef struct rg_wal_rec rg_wal_rec_t;

/* A record to append. The caller fills data, len (and ctx), keeps the payload alive and
 * the struct in place until the durable callback has it back; the log sets the rest. */
struct rg_wal_rec {
  const uint8_t *data;
  size_t len;
  void *ctx;             /* the caller's */
  uint64_t seq;          /* set by rg_wal_append */
  int result;            /* in the durable callback: 0, or RG_EIO (not durable) */
  uint8_t hdr[RG_WAL_RECORD_HEADER];
  rg_wal_rec_t *next;    /* the log's */
};

/* Loop thread: records [first ...] (a list in append order, linked by next) are durable
 * (result 0) or failed (RG_EIO: a write or fsync failed; every later append fails too). */
typedef void (*rg_wal_durable_fn)(void *ctx, rg_wal_rec_t *first);

typedef struct {
  const char *dir;        /* created if missing */
  uint64_t next_seq;      /* the sequence of the first record appended (>= 1) */
  uint64_t segment_bytes; /* a segment this large is closed and a new one started */
  rg_wal_durable_fn durable;
  void *ctx;
} rg_wal_opts_t;

/* Counters; any thread. */
typedef struct {
  uint64_t appended;  /* records made durable since open */
  uint64_t fsyncs;    /* group commits */
  uint64_t bytes;     /* bytes in the segments on disk */
  uint64_t segments;  /* segment files on disk */
  bool failed;        /* a write or fsync failed: appends fail */
} rg_wal_stats_t;

/* Opens the log in opts->dir and starts its thread. Every record already in the directory
 * must be merged (rg_wal_replay first): its segments are removed once the first new one is
 * in place. 0 with *out owned by the caller (rg_wal_stop, then rg_wal_free), RG_EIO with a
 * message in err, RG_ENOMEM, RG_EINTERNAL (thread or loop handle). */
int rg_wal_open(const rg_wal_opts_t *opts, uv_loop_t *loop, rg_wal_t **out, char *err,
                size_t errlen);

/* Loop thread: queues r (r->seq set: the next sequence). The log owns r until the durable
 * callback hands it back. */
void rg_wal_append(rg_wal_t *w, rg_wal_rec_t *r);

/* Any thread: every record up to merged_seq is in the store; segments holding only such
 * records are removed (on the log's thread, soon). */
void rg_wal_release(rg_wal_t *w, uint64_t merged_seq);

/* Fills *out. Any thread. */
void rg_wal_stats(rg_wal_t *w, rg_wal_stats_t *out);

/* Writes and syncs what is queued, stops the thread, delivers the last durable callbacks
 * (they run now) and starts closing the loop handle. Idempotent; accepts NULL. */
void rg_wal_stop(rg_wal_t *w);

/* Frees the log after rg_wal_stop and one more turn of the loop. Accepts NULL. */
void rg_wal_free(rg_wal_t *w);

/* Called by rg_wal_replay for each intact record after `after`, in sequence order; a
 * non-zero return stops the replay and is returned by it. data is valid during the call. */
typedef int (*rg_wal_replay_fn)(void *ctx, uint64_t seq, const uint8_t *data, size_t len);

/* Reads the log in dir (none, or an empty directory: nothing to do). Records up to `after`
 * are skipped. A record cut short or failing its checksum at the end of the last segment (a
 * crash mid-append: it was never acknowledged) ends the log: the segment is truncated
 * before it and *dropped_bytes says how much went. *last: the last intact sequence seen (0
 * if none). 0; RG_EIO with a message in err (unreadable, a bad record before the end of the
 * log, sequences out of order); or fn's non-zero return. */
int rg_wal_replay(const char *dir, uint64_t after, rg_wal_replay_fn fn, void *ctx,
                  uint64_t *last, uint64_t *dropped_bytes, char *err, size_t errlen);

/* Removes every segment in dir (after their records were merged with the log off). 0 or
 * RG_EIO with a message in err. */
int rg_wal_remove_all(const char *dir, char *err, size_t errlen);

#endif
