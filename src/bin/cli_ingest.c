/* cli_ingest.c — the client's pipelined batches (see cli_ingest.h): one thread, one
 * connection, replies matched to requests by id; requests kept under --max-frame; a lost
 * connection is recovered from once (what the server answered is kept, what it refused is
 * reported line by line, what it never read is sent again on a new connection). */
#include "cli_ingest.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/grow.h"

#define REPLY_MAX (256u << 20)
/* Bytes of a request besides its items: map, id, op, the item arrays' names and headers
 * (52 for an ingest, 34 for a label request), rounded up. */
#define FRAME_OVERHEAD 64
/* Internal results (never exit codes): the connection failed; the server sent an error
 * without id, which it does only before closing the connection. */
#define LOST  (-1)
#define FATAL (-2)

static void batch_reset(rg__batch_t *b) {
  b->edges.len = b->observations.len = b->labels.len = 0;
  b->n_edges = b->n_observations = b->n_labels = 0;
  b->state[RG__PART_INGEST] = b->state[RG__PART_LABELS] = RG__REQ_EMPTY;
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

static size_t frame_cap(const rg__ingest_t *in) {
  size_t cap = in->max_frame ? in->max_frame : RG__INGEST_MAX_FRAME_DEFAULT;
  return cap < 2 * FRAME_OVERHEAD ? 2 * FRAME_OVERHEAD : cap;
}

/* "16 MiB", "64 KiB" or "1000 bytes". */
static const char *format_size(size_t n, char *buf, size_t cap) {
  if (n >= (1u << 20) && n % (1u << 20) == 0)
    snprintf(buf, cap, "%zu MiB", n >> 20);
  else if (n >= 1024 && n % 1024 == 0)
    snprintf(buf, cap, "%zu KiB", n >> 10);
  else
    snprintf(buf, cap, "%zu bytes", n);
  return buf;
}

/* What an item of that kind is called ("line"). */
static const char *noun(const rg__ingest_t *in, rg__item_t kind) {
  return kind == RG__ITEM_LABEL ? "label" : in->noun ? in->noun : "line";
}

/* What the items are called, in the plural ("lines"). */
static const char *plural(const rg__ingest_t *in) {
  return in->noun_plural ? in->noun_plural : "lines";
}

static uint32_t part_items(const rg__batch_t *b, int part) {
  return part == RG__PART_LABELS ? b->n_labels : b->n_edges + b->n_observations;
}

static size_t part_bytes(const rg__batch_t *b, int part) {
  return part == RG__PART_LABELS ? b->labels.len : b->edges.len + b->observations.len;
}

/* The k-th batch in flight, oldest first. */
static rg__batch_t *in_flight(rg__ingest_t *in, uint32_t k) {
  return &in->slots[(in->head + in->window - in->inflight + k) % in->window];
}

static bool has_state(const rg__batch_t *b, uint8_t state) {
  return b->state[RG__PART_INGEST] == state || b->state[RG__PART_LABELS] == state;
}

static size_t count_state(rg__ingest_t *in, uint8_t state) {
  size_t n = 0;
  for (uint32_t k = 0; k < in->inflight; k++)
    for (int p = 0; p < RG__PARTS; p++) n += in_flight(in, k)->state[p] == state;
  return n;
}

/* Reports every item of a batch's request as rejected with one reason, in input order, and
 * counts them; the request is done. */
static void reject_part(rg__ingest_t *in, rg__batch_t *b, int part, const char *code,
                        const char *why) {
  bool labels = part == RG__PART_LABELS;
  uint32_t n = part_items(b, part), e = 0, o = 0;
  char where[4200];
  for (uint32_t i = 0; i < n; i++) {
    size_t tag;
    if (labels)
      tag = b->label_lines[i];
    else if (o == b->n_observations || (e < b->n_edges && b->edge_lines[e] < b->obs_lines[o]))
      tag = b->edge_lines[e++];
    else
      tag = b->obs_lines[o++];
    describe(in, tag, where, sizeof where);
    fprintf(stderr, "%s: rejected%s: %s: %s\n", where, labels ? " label" : "", code, why);
  }
  *(labels ? &in->labels_rejected : &in->rejected) += n;
  b->state[part] = RG__REQ_DONE;
  in->resolved++;
}

/* Accounts for the reply to one of a batch's requests. */
static void account(rg__ingest_t *in, rg__batch_t *b, int part, const rg_json_t *reply) {
  bool labels = part == RG__PART_LABELS;
  const rg_json_t *error = rg_json_get(reply, "error");
  if (error) {
    char why[1200];
    snprintf(why, sizeof why, "%s (its batch of %u %s was refused as a whole)",
             rg_json_str(rg_json_get(error, "message")), part_items(b, part),
             labels ? "labels" : plural(in));
    reject_part(in, b, part, rg_json_str(rg_json_get(error, "code")), why);
    return;
  }
  *(labels ? &in->labels_accepted : &in->accepted) +=
      (size_t)rg_json_int(rg_json_get(reply, "accepted"));
  *(labels ? &in->labels_rejected : &in->rejected) +=
      (size_t)rg_json_int(rg_json_get(reply, "rejected_count"));
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
  b->state[part] = RG__REQ_DONE;
  in->resolved++;
}

static void set_str(char **dst, const char *s) {
  free(*dst);
  *dst = strdup(s);
}

/* Reads one reply and accounts for it with the request of its id. 0; LOST (why in
 * lost_why); FATAL after an error without id (kept in fatal_code / fatal_message). */
static int read_reply(rg__ingest_t *in) {
  rg_buf_t body;
  rg_json_t *reply = NULL;
  rg_buf_init(&body, 0);
  int rc = rg_client_recv(in->cli->conn, &body, REPLY_MAX);
  if (!rc) rc = rg_json_from_msgpack(body.data, body.len, &reply);
  rg_buf_free(&body);
  if (rc) {
    const char *tls = rg_client_tls_error(in->cli->conn);
    snprintf(in->lost_why, sizeof in->lost_why, "no reply from the server: %s%s%s", rg_strerror(rc),
             tls[0] ? ": TLS: " : "", tls);
    return LOST;
  }
  /* Request ids start at 1: 0 is an absent or nil id (a frame the server did not decode). */
  uint64_t want = (uint64_t)rg_json_int(rg_json_get(reply, "id"));
  const rg_json_t *error = rg_json_get(reply, "error");
  if (!want) {
    if (error) {
      set_str(&in->fatal_code, rg_json_str(rg_json_get(error, "code")));
      set_str(&in->fatal_message, rg_json_str(rg_json_get(error, "message")));
    } else {
      fprintf(stderr, "repgraph: ignoring a reply without an id\n");
    }
    rg_json_free(reply);
    return error ? FATAL : 0;
  }
  bool found = false;
  for (uint32_t k = 0; !found && k < in->inflight; k++) {
    rg__batch_t *b = in_flight(in, k);
    for (int p = 0; !found && p < RG__PARTS; p++) {
      if (b->state[p] == RG__REQ_SENT && b->id[p] == want) {
        account(in, b, p, reply);
        found = true;
      }
    }
  }
  if (!found)
    fprintf(stderr, "repgraph: reply id %llu matches no batch in flight\n",
            (unsigned long long)want);
  rg_json_free(reply);
  return 0;
}

/* Sends one request of a batch with a new id. 0, LOST, or EXIT_USAGE (cannot encode). */
static int send_part(rg__ingest_t *in, rg__batch_t *b, int part) {
  rg_buf_t frame;
  rg_wr_t w;
  rg_buf_init(&frame, 0);
  b->id[part] = ++in->cli->next_id;
  rg_wr_begin(&w, &frame);
  rg_wr_map(&w, part == RG__PART_LABELS ? 3 : 4);
  rg_wr_str(&w, "id");
  rg_wr_uint(&w, b->id[part]);
  rg_wr_str(&w, "op");
  if (part == RG__PART_LABELS) {
    rg_wr_str(&w, "label");
    rg_wr_str(&w, "labels");
    rg_wr_array(&w, b->n_labels);
    rg_wr_raw(&w, b->labels.data, b->labels.len);
  } else {
    rg_wr_str(&w, "ingest");
    rg_wr_str(&w, "edges");
    rg_wr_array(&w, b->n_edges);
    rg_wr_raw(&w, b->edges.data, b->edges.len);
    rg_wr_str(&w, "observations");
    rg_wr_array(&w, b->n_observations);
    rg_wr_raw(&w, b->observations.data, b->observations.len);
  }
  int rc = rg_wr_end(&w);
  if (rc) {
    rg_buf_free(&frame);
    fprintf(stderr, "repgraph: cannot encode a batch: %s\n", rg_strerror(rc));
    return EXIT_USAGE;
  }
  rc = rg_client_send(in->cli->conn, frame.data, frame.len);
  rg_buf_free(&frame);
  if (rc) {
    const char *tls = rg_client_tls_error(in->cli->conn);
    snprintf(in->lost_why, sizeof in->lost_why, "cannot send a batch: %s%s%s", rg_strerror(rc),
             tls[0] ? ": TLS: " : "", tls);
    b->state[part] = RG__REQ_PARTIAL; /* not all of it went out: never read whole */
    return LOST;
  }
  b->state[part] = RG__REQ_SENT;
  return 0;
}

/* Sends every queued request, oldest first. 0, LOST or EXIT_USAGE. */
static int flush_queued(rg__ingest_t *in) {
  for (uint32_t k = 0; k < in->inflight; k++) {
    rg__batch_t *b = in_flight(in, k);
    for (int p = 0; p < RG__PARTS; p++) {
      if (b->state[p] != RG__REQ_QUEUED) continue;
      int rc = send_part(in, b, p);
      if (rc) return rc;
    }
  }
  return 0;
}

/* The first and last tags of a batch's request (input order). */
static void part_range(const rg__batch_t *b, int part, size_t *lo, size_t *hi) {
  if (part == RG__PART_LABELS) {
    *lo = b->label_lines[0], *hi = b->label_lines[b->n_labels - 1];
    return;
  }
  *lo = SIZE_MAX, *hi = 0;
  if (b->n_edges) *lo = b->edge_lines[0], *hi = b->edge_lines[b->n_edges - 1];
  if (b->n_observations) {
    if (b->obs_lines[0] < *lo) *lo = b->obs_lines[0];
    if (b->obs_lines[b->n_observations - 1] > *hi) *hi = b->obs_lines[b->n_observations - 1];
  }
}

/* Before giving up: which requests in flight were never acknowledged (the ones before are
 * stored; nothing after them was sent). */
static void report_unsettled(rg__ingest_t *in) {
  for (uint32_t k = 0; k < in->inflight; k++) {
    rg__batch_t *b = in_flight(in, k);
    for (int p = 0; p < RG__PARTS; p++) {
      if (b->state[p] != RG__REQ_SENT && b->state[p] != RG__REQ_QUEUED &&
          b->state[p] != RG__REQ_PARTIAL)
        continue;
      char from[4200], to[4200];
      size_t lo, hi;
      part_range(b, p, &lo, &hi);
      describe(in, lo, from, sizeof from);
      describe(in, hi, to, sizeof to);
      fprintf(stderr, "repgraph: not acknowledged: %s to %s (%u %s%s)\n", from, to,
              part_items(b, p), p == RG__PART_LABELS ? "labels" : plural(in),
              b->state[p] == RG__REQ_SENT ? ", sent: they may or may not be stored" : ", not sent");
    }
  }
}

/* After LOST or FATAL: takes the replies still readable (if drain), closes the connection,
 * reconnects and settles the unanswered requests (see cli_ingest.h). 0 (queued requests
 * are sent by the caller), EXIT_UNREACHABLE or the connection's error. */
static int recover(rg__ingest_t *in, bool drain) {
  /* The server answers in order, except that an error without id (a frame it would not
   * read) may come before the replies of writes still committing; it closes after both,
   * so once the connection has ended the first request left unanswered, whole or partly
   * sent, is the refused one. No draining after a failed read: the connection is gone, or
   * timed out. */
  while (drain && read_reply(in) != LOST) continue; /* up to the end of the connection */
  rg_client_close(in->cli->conn);
  in->cli->conn = NULL;
  size_t sent = count_state(in, RG__REQ_SENT), partial = count_state(in, RG__REQ_PARTIAL);
  if (in->fatal_code)
    fprintf(stderr, "repgraph: the server closed the connection after an error: %s: %s\n",
            in->fatal_code, in->fatal_message ? in->fatal_message : "");
  else
    fprintf(stderr, "repgraph: lost the server while ingesting: %s\n", in->lost_why);
  bool settles = in->fatal_code ? sent + partial > 0 : sent > 0; /* a request is settled */
  if (in->reconnected && in->resolved == in->resolved_at_connect && !settles) {
    fprintf(stderr,
            "repgraph: the connection was lost again before the server answered "
            "anything on it: giving up\n");
    return EXIT_UNREACHABLE;
  }
  fprintf(stderr, "repgraph: reconnecting\n");
  int rc = rg__cli_connect(in->cli);
  if (rc) {
    report_unsettled(in);
    return rc;
  }
  bool first = true;
  for (uint32_t k = 0; k < in->inflight; k++) {
    rg__batch_t *b = in_flight(in, k);
    for (int p = 0; p < RG__PARTS; p++) {
      if (b->state[p] != RG__REQ_SENT && b->state[p] != RG__REQ_PARTIAL) continue;
      if (in->fatal_code && first) {
        char why[1200];
        snprintf(why, sizeof why, "%s (its batch of %u %s was refused as a whole)",
                 in->fatal_message ? in->fatal_message : "", part_items(b, p),
                 p == RG__PART_LABELS ? "labels" : plural(in));
        reject_part(in, b, p, in->fatal_code, why);
      } else if (in->fatal_code || b->state[p] == RG__REQ_PARTIAL) {
        b->state[p] = RG__REQ_QUEUED; /* never read whole by the server: send again */
      } else {
        reject_part(in, b, p, "no_reply",
                    "the connection was lost before the server answered its batch: it may "
                    "or may not be stored");
      }
      first = false;
    }
  }
  if (in->fatal_code && strcmp(in->fatal_code, "too_large") == 0 && !in->hinted) {
    char lim[32];
    fprintf(stderr,
            "repgraph: hint: the server's limits.max_frame_bytes is below --max-frame (%s): "
            "pass --max-frame with its value\n",
            format_size(frame_cap(in), lim, sizeof lim));
    in->hinted = true;
  }
  free(in->fatal_code), free(in->fatal_message);
  in->fatal_code = in->fatal_message = NULL;
  in->reconnected = true;
  in->resolved_at_connect = in->resolved;
  return 0;
}

/* Waits for the oldest batch in flight, sending what recovery queued again, and accounts
 * for its replies. */
static int ingest_collect(rg__ingest_t *in) {
  rg__batch_t *b = in_flight(in, 0);
  for (;;) {
    int rc;
    bool reading = !has_state(b, RG__REQ_QUEUED);
    if (!reading)
      rc = flush_queued(in);
    else if (has_state(b, RG__REQ_SENT))
      rc = read_reply(in);
    else
      break;
    if (rc == LOST || rc == FATAL) rc = recover(in, !(reading && rc == LOST));
    if (rc) return rc;
  }
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

/* Sends the batch at the head of the ring, first collecting a reply if the window is full. */
static int ingest_send(rg__ingest_t *in) {
  rg__batch_t *b = &in->slots[in->head];
  if (b->n_edges + b->n_observations + b->n_labels == 0) return 0;
  for (int p = 0; p < RG__PARTS; p++)
    b->state[p] = part_items(b, p) ? RG__REQ_QUEUED : RG__REQ_EMPTY;
  in->head = (in->head + 1) % in->window;
  in->inflight++;
  int rc = flush_queued(in);
  if (rc == LOST) rc = recover(in, true); /* what it queued again goes out with the next batch */
  if (rc) return rc;
  rg__ingest_progress(in, false);
  if (in->inflight == in->window) return ingest_collect(in);
  return 0;
}

int rg__ingest_add(rg__ingest_t *in, rg__item_t kind, const void *msgpack, size_t len, size_t tag,
                   size_t src_len) {
  int part = kind == RG__ITEM_LABEL ? RG__PART_LABELS : RG__PART_INGEST, rc;
  size_t room = frame_cap(in) - FRAME_OVERHEAD;
  if (len > room) {
    char where[4200], lim[32], size[64];
    describe(in, tag, where, sizeof where);
    if (src_len)
      snprintf(size, sizeof size, "%zu bytes (%zu as msgpack)", src_len, len);
    else
      snprintf(size, sizeof size, "%zu bytes as msgpack", len);
    fprintf(stderr,
            "%s: rejected%s: too_large: %s of %s exceeds --max-frame (%s), the server's "
            "limits.max_frame_bytes\n",
            where, kind == RG__ITEM_LABEL ? " label" : "", noun(in, kind), size,
            format_size(frame_cap(in), lim, sizeof lim));
    *(kind == RG__ITEM_LABEL ? &in->labels_rejected : &in->rejected) += 1;
    return 0;
  }
  rg__batch_t *b = &in->slots[in->head];
  if (part_bytes(b, part) + len > room) { /* it would push the request over: send first */
    if ((rc = ingest_send(in))) return rc;
    b = &in->slots[in->head];
  }
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
  free(in->fatal_code), free(in->fatal_message);
  in->fatal_code = in->fatal_message = NULL;
}
