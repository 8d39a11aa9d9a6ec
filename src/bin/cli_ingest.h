/* cli_ingest.h — the repgraph client's pipelined writer, shared by `ingest` (NDJSON) and
 * `ingest-mail` / `feedback`: items are added to the batch at the head of a ring of
 * `window` batches; a full batch (or one the next item would push over max_frame) goes
 * out as one ingest request (and, if it holds labels, one label request right after it)
 * without waiting, and replies, matched by id, are collected oldest batch first when the
 * ring is full and at the end. Every item carries a tag (the input line, or a message
 * number) that rejections are reported with. A lost connection is recovered from as
 * rg__ingest_finish says, whichever call meets it. Not a public header. */
#ifndef RG_CLI_INGEST_H
#define RG_CLI_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"

/* The two requests a batch may make: its ingest (edges + observations) and its labels. */
enum { RG__PART_INGEST, RG__PART_LABELS, RG__PARTS };

/* Where a batch's request stands: nothing to send, to be sent (again, after a lost
 * connection), sent and waiting for its reply, partly sent when the connection failed,
 * answered (or rejected as a whole). */
enum { RG__REQ_EMPTY, RG__REQ_QUEUED, RG__REQ_SENT, RG__REQ_PARTIAL, RG__REQ_DONE };

/* The default of --max-frame: the server's default limits.max_frame_bytes. */
#define RG__INGEST_MAX_FRAME_DEFAULT (16u << 20)

typedef struct {
  uint64_t id[RG__PARTS]; /* request ids of the last send */
  uint8_t state[RG__PARTS];
  rg_buf_t edges, observations, labels;
  uint32_t n_edges, n_observations, n_labels;
  size_t *edge_lines, *obs_lines, *label_lines;
  size_t cap_edges, cap_obs, cap_labels;
} rg__batch_t;

typedef struct rg__ingest rg__ingest_t;
struct rg__ingest {
  cli_t *cli;
  const char *path;               /* input name in messages */
  const char *noun, *noun_plural; /* what an item is called in messages; NULL: "line(s)" */
  uint32_t batch_size, window;
  size_t max_frame;   /* largest request body to send (--max-frame); 0: the default */
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
  /* Recovery from a lost connection (cli_ingest.c's own). */
  char *fatal_code, *fatal_message; /* the server's id-less error before it closed */
  char lost_why[160];
  size_t resolved, resolved_at_connect; /* requests answered; as of the last reconnection */
  bool reconnected, hinted;
};

/* The kinds of items a batch holds. */
typedef enum { RG__ITEM_EDGE, RG__ITEM_OBSERVATION, RG__ITEM_LABEL } rg__item_t;

/* Allocates the ring (set cli, path, batch_size, window, progress first; the connection
 * must be open). 0 or EXIT_USAGE (out of memory). */
int rg__ingest_open(rg__ingest_t *in);

/* Appends one item, already encoded as one msgpack value, with its tag; sends the batch
 * when it is full, or first when the item would push its request over max_frame. An item
 * that alone would is reported as rejected (too_large; src_len, its size in the input, is
 * named if not 0) and counted. 0, EXIT_USAGE (out of memory) or EXIT_UNREACHABLE. */
int rg__ingest_add(rg__ingest_t *in, rg__item_t kind, const void *msgpack, size_t len, size_t tag,
                   size_t src_len);

/* Sends what is left and collects every reply. 0, EXIT_UNREACHABLE, or EXIT_REJECTED
 * when the server refuses the token on reconnecting. A request the server refuses as a whole has each
 * of its items reported and counted rejected. When the connection is lost, the replies
 * still readable are taken; if the server closed it after an error without id (a frame it
 * would not read, e.g. over its limits.max_frame_bytes), the first unanswered request is
 * rejected with that error and the later ones, never read, are sent again; otherwise the
 * unanswered ones are rejected (no_reply: they may or may not be stored). Then it
 * reconnects and goes on; EXIT_UNREACHABLE when that fails, or when a reconnected
 * connection is lost again before anything was answered on it. */
int rg__ingest_finish(rg__ingest_t *in);

/* Prints the progress line (stderr) if progress is on; at most twice a second unless final. */
void rg__ingest_progress(rg__ingest_t *in, bool final);

/* Frees the ring. Safe on a zeroed or half-opened writer. */
void rg__ingest_close(rg__ingest_t *in);

#endif
