/* cli_ingest.c — the client's pipelined batches (see cli_ingest.h): one thread, one
 * connection, replies matched to batches by order and checked by id. */
#include "cli_ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/grow.h"

#define REPLY_MAX (256u << 20)

static void batch_reset(rg__batch_t *b) {
  b->edges.len = b->observations.len = b->labels.len = 0;
  b->n_edges = b->n_observations = b->n_labels = 0;
}

static int note_line(size_t **lines, size_t *cap, uint32_t n, size_t line) {
  int rc = rg_grow((void **)lines, cap, (size_t)n + 1, sizeof **lines);
  if (rc) return rc;
  (*lines)[n] = line;
  return RG_OK;
}

static void describe(rg__ingest_t *in, size_t tag, char *buf, size_t cap) {
  if (in->describe)
    in->describe(in, tag, buf, cap);
  else
    snprintf(buf, cap, "%s:%zu", in->path, tag);
}

/* Accounts for one reply; `labels` says it answers the batch's label request. */
static void report_rejects(rg__ingest_t *in, rg__batch_t *b, const rg_json_t *reply, bool labels) {
  size_t *accepted = labels ? &in->labels_accepted : &in->accepted;
  size_t *rejected_n = labels ? &in->labels_rejected : &in->rejected;
  const rg_json_t *error = rg_json_get(reply, "error");
  if (error) {
    uint32_t n = labels ? b->n_labels : b->n_edges + b->n_observations;
    fprintf(stderr, "%s: batch of %u %s failed: %s: %s\n", in->path, n, labels ? "labels" : "lines",
            rg_json_str(rg_json_get(error, "code")), rg_json_str(rg_json_get(error, "message")));
    *rejected_n += n;
    return;
  }
  *accepted += (size_t)rg_json_int(rg_json_get(reply, "accepted"));
  *rejected_n += (size_t)rg_json_int(rg_json_get(reply, "rejected_count"));
  const rg_json_t *rejected = rg_json_get(reply, "rejected");
  for (size_t i = 0; i < rg_json_size(rejected); i++) {
    const rg_json_t *r = rg_json_at(rejected, i);
    const char *item = rg_json_str(rg_json_get(r, "item"));
    size_t idx = (size_t)rg_json_int(rg_json_get(r, "index")), line = 0;
    if (strcmp(item, "edges") == 0)
      line = idx < b->n_edges ? b->edge_lines[idx] : 0;
    else if (strcmp(item, "labels") == 0)
      line = idx < b->n_labels ? b->label_lines[idx] : 0;
    else
      line = idx < b->n_observations ? b->obs_lines[idx] : 0;
    char where[4200];
    describe(in, line, where, sizeof where);
    fprintf(stderr, "%s: rejected%s: %s: %s\n", where, labels ? " label" : "",
            rg_json_str(rg_json_get(r, "code")), rg_json_str(rg_json_get(r, "message")));
  }
}

static int collect_one(rg__ingest_t *in, rg__batch_t *b, uint64_t id, bool labels) {
  rg_buf_t body;
  rg_json_t *reply = NULL;
  rg_buf_init(&body, 0);
  int rc = rg_client_recv(in->cli->conn, &body, REPLY_MAX);
  if (!rc) rc = rg_json_from_msgpack(body.data, body.len, &reply);
  rg_buf_free(&body);
  if (rc) {
    fprintf(stderr, "repgraph: lost the server while ingesting: %s\n", rg_strerror(rc));
    return EXIT_UNREACHABLE;
  }
  if ((uint64_t)rg_json_int(rg_json_get(reply, "id")) != id)
    fprintf(stderr, "repgraph: reply id %lld does not match batch %llu\n",
            rg_json_int(rg_json_get(reply, "id")), (unsigned long long)id);
  report_rejects(in, b, reply, labels);
  rg_json_free(reply);
  return 0;
}

/* Waits for the oldest batch in flight and accounts for its replies. */
static int ingest_collect(rg__ingest_t *in) {
  rg__batch_t *b = &in->slots[(in->head + in->window - in->inflight) % in->window];
  int rc = 0;
  if (b->n_edges + b->n_observations) rc = collect_one(in, b, b->id, false);
  if (!rc && b->n_labels) rc = collect_one(in, b, b->label_id, true);
  if (rc) return rc;
  batch_reset(b);
  in->inflight--;
  return 0;
}

void rg__ingest_progress(rg__ingest_t *in, bool final) {
  uint64_t now = rg_clock_mono_us();
  if (!in->progress || in->quiet_progress || (!final && now - in->last_progress_us < 500000))
    return;
  in->last_progress_us = now;
  double secs = (double)(now - in->started_us) / 1e6;
  fprintf(stderr, "\r%zu lines, %zu accepted, %zu rejected, %.0f lines/s%s", in->lines,
          in->accepted, in->rejected, secs > 0 ? (double)in->lines / secs : 0.0, final ? "\n" : "");
}

static int send_frame(rg__ingest_t *in, rg_buf_t *frame) {
  int rc = rg_client_send(in->cli->conn, frame->data, frame->len);
  rg_buf_free(frame);
  if (rc) {
    fprintf(stderr, "repgraph: cannot send batch: %s\n", rg_strerror(rc));
    return EXIT_UNREACHABLE;
  }
  return 0;
}

/* Sends the batch at the head of the ring, first collecting a reply if the window is full. */
static int ingest_send(rg__ingest_t *in) {
  rg__batch_t *b = &in->slots[in->head];
  if (b->n_edges + b->n_observations + b->n_labels == 0) return 0;
  rg_buf_t frame;
  rg_wr_t w;
  int rc = 0;
  if (b->n_edges + b->n_observations) {
    rg_buf_init(&frame, 0);
    b->id = ++in->cli->next_id;
    rg_wr_begin(&w, &frame);
    rg_wr_map(&w, 4);
    rg_wr_str(&w, "id");
    rg_wr_uint(&w, b->id);
    rg_wr_str(&w, "op");
    rg_wr_str(&w, "ingest");
    rg_wr_str(&w, "edges");
    rg_wr_array(&w, b->n_edges);
    rg_wr_raw(&w, b->edges.data, b->edges.len);
    rg_wr_str(&w, "observations");
    rg_wr_array(&w, b->n_observations);
    rg_wr_raw(&w, b->observations.data, b->observations.len);
    if (rg_wr_end(&w))
      rg_buf_free(&frame), rc = EXIT_UNREACHABLE;
    else
      rc = send_frame(in, &frame);
  }
  if (!rc && b->n_labels) {
    rg_buf_init(&frame, 0);
    rg__cli_begin(in->cli, &w, &frame, "label", 1);
    b->label_id = in->cli->next_id;
    rg_wr_str(&w, "labels");
    rg_wr_array(&w, b->n_labels);
    rg_wr_raw(&w, b->labels.data, b->labels.len);
    if (rg_wr_end(&w))
      rg_buf_free(&frame), rc = EXIT_UNREACHABLE;
    else
      rc = send_frame(in, &frame);
  }
  if (rc) return rc;
  in->head = (in->head + 1) % in->window;
  in->inflight++;
  rg__ingest_progress(in, false);
  if (in->inflight == in->window) return ingest_collect(in);
  return 0;
}

int rg__ingest_add(rg__ingest_t *in, rg__item_t kind, const void *msgpack, size_t len, size_t tag) {
  rg__batch_t *b = &in->slots[in->head];
  int rc;
  switch (kind) {
    case RG__ITEM_EDGE:
      rc = rg_buf_append(&b->edges, msgpack, len);
      if (!rc) rc = note_line(&b->edge_lines, &b->cap_edges, b->n_edges++, tag);
      break;
    case RG__ITEM_OBSERVATION:
      rc = rg_buf_append(&b->observations, msgpack, len);
      if (!rc) rc = note_line(&b->obs_lines, &b->cap_obs, b->n_observations++, tag);
      break;
    default:
      rc = rg_buf_append(&b->labels, msgpack, len);
      if (!rc) rc = note_line(&b->label_lines, &b->cap_labels, b->n_labels++, tag);
  }
  if (rc) {
    fprintf(stderr, "repgraph: %s\n", rg_strerror(rc));
    return EXIT_USAGE;
  }
  if (b->n_edges + b->n_observations >= in->batch_size || b->n_labels >= in->batch_size)
    return ingest_send(in);
  return 0;
}

int rg__ingest_open(rg__ingest_t *in) {
  in->slots = calloc(in->window, sizeof *in->slots);
  if (!in->slots) return EXIT_USAGE;
  for (uint32_t i = 0; i < in->window; i++) {
    rg_buf_init(&in->slots[i].edges, 0);
    rg_buf_init(&in->slots[i].observations, 0);
    rg_buf_init(&in->slots[i].labels, 0);
  }
  rg_buf_init(&in->scratch, 0);
  in->started_us = rg_clock_mono_us();
  return 0;
}

int rg__ingest_finish(rg__ingest_t *in) {
  int rc = ingest_send(in);
  while (!rc && in->inflight) rc = ingest_collect(in);
  return rc;
}

void rg__ingest_close(rg__ingest_t *in) {
  for (uint32_t i = 0; in->slots && i < in->window; i++) {
    rg_buf_free(&in->slots[i].edges);
    rg_buf_free(&in->slots[i].observations);
    rg_buf_free(&in->slots[i].labels);
    free(in->slots[i].edge_lines);
    free(in->slots[i].obs_lines);
    free(in->slots[i].label_lines);
  }
  if (in->slots) rg_buf_free(&in->scratch);
  free(in->slots);
  in->slots = NULL;
}
