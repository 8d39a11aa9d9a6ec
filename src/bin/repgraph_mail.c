/* repgraph_mail.c — the mail commands of the repgraph client: `ingest-mail` (files, mbox,
 * Maildir -> observations through the shared pipelined writer, optional labels for every
 * sender) and `feedback` (one message -> labels of its sender and client IP, for Junk /
 * Not-Junk hooks). The message -> observation mapping is rg_mail (GMime); reading the
 * sources is rg_mailsrc. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/mail.h"
#include "repgraph/mailsrc.h"

#include "cli.h"
#include "cli_ingest.h"

#define RCPT_HEADERS_MAX 16
#define FEEDBACK_KEEP    (4u << 20) /* feedback reads this much of a message: the headers */

/* ---- a set of actors already labelled in this run ------------------------------------- */

typedef struct {
  char **slots;
  size_t cap, n;
} seen_t;

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* Adds s; 1 if it was new, 0 if already there, RG_ENOMEM. */
static int seen_add(seen_t *set, const char *s) {
  if (set->n * 2 >= set->cap) {
    size_t cap = set->cap ? set->cap * 2 : 1024;
    char **slots = calloc(cap, sizeof *slots);
    if (!slots) return RG_ENOMEM;
    for (size_t i = 0; i < set->cap; i++) {
      if (!set->slots[i]) continue;
      size_t j = fnv1a(set->slots[i]) & (cap - 1);
      while (slots[j]) j = (j + 1) & (cap - 1);
      slots[j] = set->slots[i];
    }
    free(set->slots);
    set->slots = slots, set->cap = cap;
  }
  size_t j = fnv1a(s) & (set->cap - 1);
  for (; set->slots[j]; j = (j + 1) & (set->cap - 1))
    if (strcmp(set->slots[j], s) == 0) return 0;
  if (!(set->slots[j] = strdup(s))) return RG_ENOMEM;
  set->n++;
  return 1;
}

static void seen_free(seen_t *set) {
  for (size_t i = 0; i < set->cap; i++) free(set->slots[i]);
  free(set->slots);
}

/* ---- shared option handling --------------------------------------------------------- */

typedef struct {
  rg_netset_t *trusted;
  const char *rcpt[RCPT_HEADERS_MAX];
  char *rcpt_text;
  size_t n_rcpt;
} mail_conf_t;

static int add_trusted(mail_conf_t *mc, const char *list) {
  char err[200];
  if (!mc->trusted && !(mc->trusted = rg_netset_new())) return EXIT_USAGE;
  if (rg_netset_add(mc->trusted, list, err, sizeof err) != RG_OK) {
    fprintf(stderr, "repgraph: --trusted: %s\n", err);
    return EXIT_USAGE;
  }
  return 0;
}

static int set_rcpt_headers(mail_conf_t *mc, const char *list) {
  free(mc->rcpt_text);
  if (!(mc->rcpt_text = strdup(list))) return EXIT_USAGE;
  mc->n_rcpt = 0;
  for (char *save, *t = strtok_r(mc->rcpt_text, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
    if (mc->n_rcpt == RCPT_HEADERS_MAX) {
      fprintf(stderr, "repgraph: --rcpt-headers: at most %d names\n", RCPT_HEADERS_MAX);
      return EXIT_USAGE;
    }
    mc->rcpt[mc->n_rcpt++] = t;
  }
  return 0;
}

static void mail_conf_free(mail_conf_t *mc) {
  rg_netset_free(mc->trusted);
  free(mc->rcpt_text);
}

static rg_mail_opts_t mail_opts(const mail_conf_t *mc) {
  rg_mail_opts_t o = {.trusted = mc->trusted};
  if (mc->n_rcpt) o.rcpt_headers = mc->rcpt, o.n_rcpt_headers = mc->n_rcpt;
  return o;
}

/* Writes the msgpack map of a label {actor, verdict, source, note?} to w. */
static void write_label(rg_wr_t *w, const rg_actor_t *a, const char *verdict, const char *source,
                        const char *note) {
  char text[RG_ACTOR_TEXT_MAX];
  rg_actor_format(a, text, sizeof text);
  rg_wr_map(w, 3 + (note != NULL));
  rg_wr_str(w, "actor"), rg_wr_str(w, text);
  rg_wr_str(w, "verdict"), rg_wr_str(w, verdict);
  rg_wr_str(w, "source"), rg_wr_str(w, source);
  if (note) rg_wr_str(w, "note"), rg_wr_str(w, note);
}

/* ---- ingest-mail ---------------------------------------------------------------------- */

typedef struct {
  rg__ingest_t in;
  rg_mail_opts_t opts;
  rg_mail_obs_t obs;
  const char *label, *source, *note;
  bool label_ip, print; /* print: observations as NDJSON on stdout, nothing sent */
  seen_t labelled;
  size_t read, queued, skipped, unreadable, skips[RG_MAIL_SKIP_COUNT];
  char **origins; /* ring of the origins of items that may still be in flight */
  size_t n_origins;
  bool tty;
} mail_run_t;

static void describe_origin(rg__ingest_t *in, size_t tag, char *buf, size_t cap) {
  mail_run_t *run = in->ctx;
  const char *o = run->origins[tag % run->n_origins];
  snprintf(buf, cap, "%s", o ? o : "?");
}

static void mail_progress(mail_run_t *run, bool final) {
  if (!run->tty) return;
  uint64_t now = rg_clock_mono_us();
  if (!final && now - run->in.last_progress_us < 500000) return;
  run->in.last_progress_us = now;
  double secs = (double)(now - run->in.started_us) / 1e6;
  fprintf(stderr, "\r%zu messages, %zu queued, %zu accepted, %zu skipped, %.0f msg/s%s", run->read,
          run->queued, run->in.accepted, run->skipped, secs > 0 ? (double)run->read / secs : 0.0,
          final ? "\n" : "");
}

static void note_skip(mail_run_t *run, const char *origin, rg_mail_skip_t skip,
                      const char *detail) {
  run->skipped++;
  run->skips[skip]++;
  if (skip == RG_MAIL_SKIP_UNREADABLE) run->unreadable++;
  fprintf(stderr, "%s%s: skipped: %s%s%s\n", run->tty ? "\r\033[K" : "", origin,
          rg_mail_skip_name(skip), detail && *detail ? ": " : "", detail ? detail : "");
}

static int queue_label(mail_run_t *run, const rg_actor_t *a, size_t tag) {
  char text[RG_ACTOR_TEXT_MAX];
  rg_actor_format(a, text, sizeof text);
  int fresh = seen_add(&run->labelled, text);
  if (fresh < 0) return EXIT_USAGE;
  if (!fresh) return 0;
  rg_wr_t w;
  run->in.scratch.len = 0;
  rg_wr_init(&w, &run->in.scratch);
  write_label(&w, a, run->label, run->source, run->note);
  if (w.err) return EXIT_USAGE;
  return rg__ingest_add(&run->in, RG__ITEM_LABEL, run->in.scratch.data, run->in.scratch.len, tag,
                        0);
}

static void put_json_str(const char *s, size_t n) {
  putchar('"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c < 0x20)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

/* --print: the observation as one NDJSON line, the input `repgraph ingest` takes. */
static void print_observation(const rg_mail_obs_t *o) {
  printf("{");
  if (o->ts > 0) printf("\"ts\":%lld,", (long long)o->ts);
  printf("\"sender\":");
  put_json_str(o->sender.key, o->sender.len);
  printf(",\"recipients\":[");
  for (uint32_t i = 0; i < o->n_recipients; i++) {
    if (i) putchar(',');
    put_json_str(o->recipients[i].key, o->recipients[i].len);
  }
  printf("],\"client_ip\":");
  put_json_str(o->client_ip.key, o->client_ip.len);
  if (o->has_helo) printf(",\"helo\":"), put_json_str(o->helo, strlen(o->helo));
  if (o->has_rdns) printf(",\"rdns\":"), put_json_str(o->rdns, strlen(o->rdns));
  printf("}\n");
}

/* One message from a source: parse, encode, queue (and label). */
static int on_message(void *ctx, const rg_mailsrc_msg_t *m) {
  mail_run_t *run = ctx;
  run->read++; /* every message met, so read = queued + skipped */
  mail_progress(run, false);
  if (m->skip) {
    note_skip(run, m->origin, m->skip, m->detail);
    return 0;
  }
  rg_mail_skip_t skip;
  run->opts.fallback_ts = m->from_line_ts;
  if (rg_mail_parse(m->data, m->len, &run->opts, &run->obs, &skip) != RG_OK) return EXIT_USAGE;
  if (skip) {
    note_skip(run, m->origin, skip, run->obs.detail);
    return 0;
  }
  if (run->print) {
    run->queued++;
    print_observation(&run->obs);
    return 0;
  }
  size_t tag = run->queued++;
  char **slot = &run->origins[tag % run->n_origins];
  free(*slot);
  *slot = strdup(m->origin);
  const rg_mail_obs_t *o = &run->obs;
  rg_wr_t w;
  run->in.scratch.len = 0;
  rg_wr_init(&w, &run->in.scratch);
  rg_wr_map(&w, 3 + (o->ts > 0) + o->has_helo + o->has_rdns);
  if (o->ts > 0) rg_wr_str(&w, "ts"), rg_wr_int(&w, o->ts);
  rg_wr_str(&w, "sender"), rg_wr_strn(&w, o->sender.key, o->sender.len);
  rg_wr_str(&w, "recipients");
  rg_wr_array(&w, o->n_recipients);
  for (uint32_t i = 0; i < o->n_recipients; i++)
    rg_wr_strn(&w, o->recipients[i].key, o->recipients[i].len);
  rg_wr_str(&w, "client_ip"), rg_wr_strn(&w, o->client_ip.key, o->client_ip.len);
  if (o->has_helo) rg_wr_str(&w, "helo"), rg_wr_str(&w, o->helo);
  if (o->has_rdns) rg_wr_str(&w, "rdns"), rg_wr_str(&w, o->rdns);
  if (w.err) return EXIT_USAGE;
  int rc = rg__ingest_add(&run->in, RG__ITEM_OBSERVATION, run->in.scratch.data, run->in.scratch.len,
                          tag, 0);
  /* A bounce is stored but never labelled: its sender is no one, and its IP the bouncing
   * MTA (backscatter's victim, not its author). */
  bool bounce = rg_actor_is_null_sender(&o->sender);
  if (!rc && run->label && !bounce) rc = queue_label(run, &o->sender, tag);
  if (!rc && run->label && run->label_ip && !bounce) rc = queue_label(run, &o->client_ip, tag);
  return rc;
}

static void print_mail_summary(mail_run_t *run, bool json) {
  double secs = (double)(rg_clock_mono_us() - run->in.started_us) / 1e6;
  if (json) {
    printf(
        "{\"messages\":%zu,\"queued\":%zu,\"accepted\":%zu,\"rejected\":%zu,\"skipped\":%zu,"
        "\"skips\":{",
        run->read, run->queued, run->in.accepted, run->in.rejected, run->skipped);
    bool first = true;
    for (int s = 1; s < RG_MAIL_SKIP_COUNT; s++)
      if (run->skips[s]) {
        printf("%s\"%s\":%zu", first ? "" : ",", rg_mail_skip_name(s), run->skips[s]);
        first = false;
      }
    printf("},\"labels_accepted\":%zu,\"labels_rejected\":%zu,\"seconds\":%.3f}\n",
           run->in.labels_accepted, run->in.labels_rejected, secs);
    return;
  }
  printf("messages read:     %zu\n", run->read);
  printf("observations sent: %zu (%zu accepted, %zu rejected by the server)\n", run->queued,
         run->in.accepted, run->in.rejected);
  printf("skipped:           %zu\n", run->skipped);
  for (int s = 1; s < RG_MAIL_SKIP_COUNT; s++)
    if (run->skips[s]) printf("  %-34s %zu\n", rg_mail_skip_name(s), run->skips[s]);
  if (run->label)
    printf("labels:            %zu accepted, %zu rejected\n", run->in.labels_accepted,
           run->in.labels_rejected);
  printf("time:              %.2f s (%.0f messages/s)\n", secs,
         secs > 0 ? (double)run->read / secs : 0.0);
}

int rg__cmd_ingest_mail(cli_t *cli, int argc, char **argv) {
  static const struct option opts[] = {{"recursive", no_argument, NULL, 'r'},
                                       {"trusted", required_argument, NULL, 't'},
                                       {"rcpt-headers", required_argument, NULL, 'R'},
                                       {"max-size", required_argument, NULL, 'm'},
                                       {"label", required_argument, NULL, 'l'},
                                       {"label-ip", no_argument, NULL, 'I'},
                                       {"source", required_argument, NULL, 's'},
                                       {"note", required_argument, NULL, 'n'},
                                       {"batch", required_argument, NULL, 'b'},
                                       {"window", required_argument, NULL, 'w'},
                                       {"progress", no_argument, NULL, 'P'},
                                       {"print", no_argument, NULL, 'p'},
                                       {"max-frame", required_argument, NULL, 'F'},
                                       {NULL, 0, NULL, 0}};
  mail_conf_t mc = {0};
  mail_run_t run = {.in = {.cli = cli, .batch_size = 1000, .window = 8, .path = "ingest-mail"},
                    .tty = isatty(2)};
  rg_mailsrc_opts_t src = {.max_bytes = RG_MAILSRC_MAX_DEFAULT};
  int opt, rc = 0;
  optind = 0; /* GNU getopt: restart on the sub-command's arguments */
  while (!rc && (opt = getopt_long(argc, argv, "rt:R:m:l:Is:n:b:w:PpF:", opts, NULL)) != -1) {
    switch (opt) {
      case 'r': src.recursive = true; break;
      case 't': rc = add_trusted(&mc, optarg); break;
      case 'R': rc = set_rcpt_headers(&mc, optarg); break;
      case 'm': rc = (src.max_bytes = rg__cli_parse_size(optarg)) ? 0 : EXIT_USAGE; break;
      case 'l': run.label = optarg; break;
      case 'I': run.label_ip = true; break;
      case 's': run.source = optarg; break;
      case 'n': run.note = optarg; break;
      case 'b': run.in.batch_size = (uint32_t)strtoul(optarg, NULL, 10); break;
      case 'w': run.in.window = (uint32_t)strtoul(optarg, NULL, 10); break;
      case 'P': run.tty = true; break;
      case 'p': run.print = true; break;
      case 'F': rc = rg__cli_max_frame(optarg, &run.in.max_frame) ? EXIT_USAGE : 0; break;
      default: rc = EXIT_USAGE;
    }
  }
  if (!rc && run.print && run.label) {
    fprintf(stderr, "repgraph: --print sends nothing: it does not go with --label\n");
    rc = EXIT_USAGE;
  }
  if (!rc && (optind >= argc || !run.in.batch_size || !run.in.window)) rc = EXIT_USAGE;
  if (!rc && run.label && strcmp(run.label, "bad") && strcmp(run.label, "good")) {
    fprintf(stderr, "repgraph: --label is bad or good\n");
    rc = EXIT_USAGE;
  }
  if (!rc && (run.label_ip || run.source || run.note) && !run.label) {
    fprintf(stderr, "repgraph: --label-ip, --source and --note go with --label\n");
    rc = EXIT_USAGE;
  }
  if (!rc && run.label && !run.source) run.source = "feed";
  if (rc) {
    mail_conf_free(&mc);
    return rc;
  }
  rg_mail_init();
  run.opts = mail_opts(&mc);
  run.in.ctx = &run;
  run.in.describe = describe_origin;
  run.in.noun = "observation", run.in.noun_plural = "observations";
  run.in.quiet_progress = true;
  run.n_origins = (size_t)(run.in.window + 1) * run.in.batch_size;
  run.origins = calloc(run.n_origins, sizeof *run.origins);
  if (!run.origins) rc = EXIT_USAGE;
  if (!rc && !run.print) rc = rg__cli_connect(cli);
  if (!rc) rc = rg__ingest_open(&run.in);
  run.in.last_progress_us = run.in.started_us;
  for (int i = optind; !rc && i < argc; i++) {
    rc = rg_mailsrc_walk(argv[i], &src, on_message, &run);
    if (rc < 0) { /* RG_ENOMEM from the walker */
      fprintf(stderr, "repgraph: %s\n", rg_strerror(rc));
      rc = EXIT_USAGE;
    }
  }
  if (!rc && !run.print) rc = rg__ingest_finish(&run.in);
  mail_progress(&run, true);
  if (!rc && !run.print) print_mail_summary(&run, cli->json);
  if (!rc && run.print) {
    fflush(stdout);
    fprintf(stderr, "%zu messages, %zu observations printed, %zu skipped\n", run.read, run.queued,
            run.skipped);
  }
  for (size_t i = 0; run.origins && i < run.n_origins; i++) free(run.origins[i]);
  free(run.origins);
  rg__ingest_close(&run.in);
  rg_mail_obs_free(&run.obs);
  seen_free(&run.labelled);
  mail_conf_free(&mc);
  if (rc) return rc;
  return run.in.rejected || run.in.labels_rejected || run.unreadable ? EXIT_REJECTED : 0;
}

/* ---- feedback ------------------------------------------------------------------------- */

/* Reads up to FEEDBACK_KEEP bytes of f into *out and drains the rest (a pipe's writer must
 * not see EPIPE). 0 or EXIT_USAGE. */
static int read_message(FILE *f, rg_buf_t *out) {
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    size_t room = out->len < FEEDBACK_KEEP ? FEEDBACK_KEEP - out->len : 0;
    if (room && rg_buf_append(out, chunk, n < room ? n : room)) return EXIT_USAGE;
  }
  return ferror(f) ? EXIT_USAGE : 0;
}

int rg__cmd_feedback(cli_t *cli, int argc, char **argv) {
  static const struct option opts[] = {{"spam", no_argument, NULL, 'S'},
                                       {"ham", no_argument, NULL, 'H'},
                                       {"source", required_argument, NULL, 's'},
                                       {"note", required_argument, NULL, 'n'},
                                       {"trusted", required_argument, NULL, 't'},
                                       {"no-ip", no_argument, NULL, 'N'},
                                       {NULL, 0, NULL, 0}};
  mail_conf_t mc = {0};
  const char *verdict = NULL, *source = "user_report", *note = NULL;
  bool label_ip = true;
  int opt, rc = 0;
  optind = 0;
  while (!rc && (opt = getopt_long(argc, argv, "SHs:n:t:N", opts, NULL)) != -1) {
    switch (opt) {
      case 'S': rc = verdict ? EXIT_USAGE : 0, verdict = "bad"; break;
      case 'H': rc = verdict ? EXIT_USAGE : 0, verdict = "good"; break;
      case 's': source = optarg; break;
      case 'n': note = optarg; break;
      case 't': rc = add_trusted(&mc, optarg); break;
      case 'N': label_ip = false; break;
      default: rc = EXIT_USAGE;
    }
  }
  if (!rc && (!verdict || argc - optind > 1)) rc = EXIT_USAGE;
  const char *path = optind < argc ? argv[optind] : "-";
  FILE *f = NULL;
  if (!rc && !(f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb"))) {
    perror(path);
    rc = EXIT_USAGE;
  }
  rg_buf_t msg, frame;
  rg_buf_init(&msg, 0);
  rg_buf_init(&frame, 0);
  rg_mail_obs_t obs = {0};
  rg_json_t *reply = NULL;
  if (!rc && (rc = read_message(f, &msg))) fprintf(stderr, "repgraph: %s: cannot read\n", path);
  if (f && f != stdin) fclose(f);
  if (rc) goto out;
  const char *data = (const char *)msg.data;
  size_t len = msg.len;
  if (len >= 5 && memcmp(data, "From ", 5) == 0) { /* an mbox From_ line before the message */
    const char *nl = memchr(data, '\n', len);
    len = nl ? len - (size_t)(nl + 1 - data) : 0;
    data = nl ? nl + 1 : data;
  }
  rg_mail_init();
  rg_mail_opts_t mo = mail_opts(&mc);
  rg_mail_skip_t skip;
  if ((rc = rg_mail_parse(data ? data : "", len, &mo, &obs, &skip))) {
    rc = EXIT_USAGE;
    goto out;
  }
  if (!obs.has_sender) {
    fprintf(stderr, "repgraph: %s: no sender to label: %s%s%s\n", path, rg_mail_skip_name(skip),
            obs.detail[0] ? ": " : "", obs.detail);
    rc = EXIT_REJECTED;
    goto out;
  }
  if (rg_actor_is_null_sender(&obs.sender)) {
    fprintf(stderr, "repgraph: %s: a bounce (null sender): nothing to label\n", path);
    rc = EXIT_REJECTED;
    goto out;
  }
  bool with_ip = label_ip && obs.has_ip;
  rg_wr_t w;
  rg__cli_begin(cli, &w, &frame, "label", 1);
  rg_wr_str(&w, "labels");
  rg_wr_array(&w, 1 + with_ip);
  write_label(&w, &obs.sender, verdict, source, note);
  if (with_ip) write_label(&w, &obs.client_ip, verdict, source, note);
  if (rg_wr_end(&w)) {
    rc = EXIT_USAGE;
    goto out;
  }
  if ((rc = rg__cli_connect(cli)) || (rc = rg__cli_roundtrip(cli, &frame, &reply))) goto out;
  const rg_json_t *error = rg_json_get(reply, "error");
  const rg_json_t *rejected = rg_json_get(reply, "rejected");
  for (size_t i = 0; i < rg_json_size(rejected); i++) {
    fprintf(stderr, "repgraph: rejected: %s\n",
            rg_json_str(rg_json_get(rg_json_at(rejected, i), "message")));
    rc = EXIT_REJECTED;
  }
  if (error) {
    rc = rg__cli_print(cli, reply);
  } else if (cli->json) {
    rg__cli_print(cli, reply);
  } else if (!rc) {
    char s[RG_ACTOR_TEXT_MAX], ip[RG_ACTOR_TEXT_MAX] = "";
    rg_actor_format(&obs.sender, s, sizeof s);
    if (with_ip) rg_actor_format(&obs.client_ip, ip, sizeof ip);
    printf("labelled %s%s%s %s (%s)\n", s, with_ip ? " and " : "", ip, verdict, source);
  }
out:
  rg_json_free(reply);
  rg_mail_obs_free(&obs);
  rg_buf_free(&msg);
  rg_buf_free(&frame);
  mail_conf_free(&mc);
  return rc;
}
