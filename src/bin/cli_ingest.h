/* cli_ingest.h — the repgraph client's pipelined writer, shared by `ingest` (NDJSON) and
 * `ingest-mail` / `feedback`: items are added to the batch at the head of a ring of
 * `window` batches; a full batch goes out as one ingest request (and, if it holds labels,
 * one label request right after it) without waiting, and replies are collected oldest
 * first when the ring is full and at the end. Every item carries a tag (the input line,
 * or a message number) that rejections are reported with. Not a public header. */
#ifndef RG_CLI_INGEST_H
#define RG_CLI_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"

typedef struct {
  uint64_t id, label_id;
  rg_buf_t edges, observations, labels;
  uint32_t n_edges, n_observations, n_labels;
  size_t *edge_lines, *obs_lines, *label_lines;
  size_t cap_edges, cap_obs, cap_labels;
} rg__batch_t;

typedef struct rg__ingest rg__ingest_t;
struct rg__ingest {
  cli_t *cli;
  const char *path; /* input name in messages */
  uint32_t batch_size, window;
  rg__batch_t *slots; /* ring of `window` batches */
  uint32_t head, inflight;
  size_t lines, accepted, rejected, sent_items;
  size_t labels_accepted, labels_rejected;
  uint64_t started_us, last_progress_us;
  bool progress, quiet_progress; /* quiet: the caller prints its own progress line */
  /* Writes where item `tag` came from into buf; NULL: "path:tag". */
  void (*describe)(rg__ingest_t *in, size_t tag, char *buf, size_t cap);
  void *ctx;
  rg_buf_t scratch; /* for the caller to encode one item in before rg__ingest_add */
};

/* The kinds of items a batch holds. */
typedef enum { RG__ITEM_EDGE, RG__ITEM_OBSERVATION, RG__ITEM_LABEL } rg__item_t;

/* Allocates the ring (set cli, path, batch_size, window, progress first; the connection
 * must be open). 0 or EXIT_USAGE (out of memory). */
int rg__ingest_open(rg__ingest_t *in);

/* Appends one item, already encoded as one msgpack value, with its tag; sends the batch
 * when it is full. 0, EXIT_USAGE (out of memory) or EXIT_UNREACHABLE. */
int rg__ingest_add(rg__ingest_t *in, rg__item_t kind, const void *msgpack, size_t len, size_t tag);

/* Sends what is left and collects every reply. 0 or EXIT_UNREACHABLE. */
int rg__ingest_finish(rg__ingest_t *in);

/* Prints the progress line (stderr) if progress is on; at most twice a second unless final. */
void rg__ingest_progress(rg__ingest_t *in, bool final);

/* Frees the ring. Safe on a zeroed or half-opened writer. */
void rg__ingest_close(rg__ingest_t *in);

#endif
