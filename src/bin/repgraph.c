/* repgraph.c — the command-line client for people and scripts: ping, ingest (NDJSON,
 * pipelined batches with progress, cli_ingest.c), lookup, label, forget, stats; the mail
 * commands are in repgraph_mail.c. Human-readable output by default, --json for scripts.
 * Exit codes: 0 ok, 1 the server answered with an error or rejected input, or the output
 * could not be written, 2 usage, 3 cannot reach the server. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "repgraph/client.h"
#include "repgraph/clock.h"
#include "repgraph/config.h"
#include "repgraph/err.h"
#include "repgraph/proto.h"
#include "repgraph/transcode.h"

#include "cli.h"
#include "cli_ingest.h"

/* Sends {op, actors: argv} (or just {op} if actors is NULL) and prints the reply. */
static int simple_request(cli_t *cli, const char *op, int n, char **actors) {
  rg_buf_t frame;
  rg_wr_t w;
  rg_json_t *reply = NULL;
  rg_buf_init(&frame, 0);
  rg__cli_begin(cli, &w, &frame, op, actors ? 1 : 0);
  if (actors) {
    rg_wr_str(&w, "actors");
    rg_wr_array(&w, (uint32_t)n);
    for (int i = 0; i < n; i++) rg_wr_str(&w, actors[i]);
  }
  int rc = rg_wr_end(&w);
  if (rc) {
    fprintf(stderr, "repgraph: cannot encode request: %s\n", rg_strerror(rc));
    rg_buf_free(&frame);
    return EXIT_USAGE;
  }
  if (!(rc = rg__cli_connect(cli)) && !(rc = rg__cli_roundtrip(cli, &frame, &reply)))
    rc = rg__cli_print(cli, reply);
  rg_json_free(reply);
  rg_buf_free(&frame);
  return rc;
}

static int cmd_ping(cli_t *cli, int argc, char **argv) {
  (void)argv;
  if (argc != 1) return EXIT_USAGE;
  return simple_request(cli, "ping", 0, NULL);
}

static int cmd_stats(cli_t *cli, int argc, char **argv) {
  (void)argv;
  if (argc != 1) return EXIT_USAGE;
  return simple_request(cli, "stats", 0, NULL);
}

static int cmd_lookup(cli_t *cli, int argc, char **argv) {
  if (argc < 2) return EXIT_USAGE;
  return simple_request(cli, "lookup", argc - 1, argv + 1);
}

static int cmd_forget(cli_t *cli, int argc, char **argv) {
  if (argc < 2) return EXIT_USAGE;
  return simple_request(cli, "forget", argc - 1, argv + 1);
}

static int cmd_label(cli_t *cli, int argc, char **argv) {
  static const struct option opts[] = {{"source", required_argument, NULL, 's'},
                                       {"weight", required_argument, NULL, 'w'},
                                       {"note", required_argument, NULL, 'n'},
                                       {"file", required_argument, NULL, 'f'},
                                       {NULL, 0, NULL, 0}};
  const char *source = NULL, *note = NULL, *file = NULL;
  double weight = -1;
  int opt;
  optind = 0; /* GNU getopt: restart on the sub-command's arguments */
  while ((opt = getopt_long(argc, argv, "s:w:n:f:", opts, NULL)) != -1) {
    if (opt == 's')
      source = optarg;
    else if (opt == 'n')
      note = optarg;
    else if (opt == 'w')
      weight = strtod(optarg, NULL);
    else if (opt == 'f')
      file = optarg;
    else
      return EXIT_USAGE;
  }
  if (file) return argc == optind ? rg__cmd_label_file(cli, file, source) : EXIT_USAGE;
  if (argc - optind != 2) return EXIT_USAGE;
  rg_buf_t frame;
  rg_wr_t w;
  rg_json_t *reply = NULL;
  rg_buf_init(&frame, 0);
  rg__cli_begin(cli, &w, &frame, "label", 1);
  rg_wr_str(&w, "labels");
  rg_wr_array(&w, 1);
  rg_wr_map(&w, 2 + (source != NULL) + (note != NULL) + (weight >= 0));
  rg_wr_str(&w, "actor");
  rg_wr_str(&w, argv[optind]);
  rg_wr_str(&w, "verdict");
  rg_wr_str(&w, argv[optind + 1]);
  if (source) rg_wr_str(&w, "source"), rg_wr_str(&w, source);
  if (note) rg_wr_str(&w, "note"), rg_wr_str(&w, note);
  if (weight >= 0) rg_wr_str(&w, "weight"), rg_wr_double(&w, weight);
  int rc = rg_wr_end(&w);
  if (!rc && !(rc = rg__cli_connect(cli)) && !(rc = rg__cli_roundtrip(cli, &frame, &reply))) {
    rc = rg__cli_print(cli, reply);
    const rg_json_t *rejected = rg_json_get(reply, "rejected");
    for (size_t i = 0; i < rg_json_size(rejected); i++) {
      fprintf(stderr, "repgraph: rejected: %s\n",
              rg_json_str(rg_json_get(rg_json_at(rejected, i), "message")));
      rc = EXIT_REJECTED;
    }
  }
  rg_json_free(reply);
  rg_buf_free(&frame);
  return rc;
}

static int cmd_status(cli_t *cli, int argc, char **argv) {
  (void)argv;
  if (argc != 1) return EXIT_USAGE;
  return simple_request(cli, "status", 0, NULL);
}

static int cmd_recompute(cli_t *cli, int argc, char **argv) {
  bool wait = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--wait") == 0)
      wait = true;
    else
      return EXIT_USAGE;
  }
  rg_buf_t frame;
  rg_wr_t w;
  rg_json_t *reply = NULL;
  rg_buf_init(&frame, 0);
  rg__cli_begin(cli, &w, &frame, "recompute", 1);
  rg_wr_str(&w, "wait"), rg_wr_bool(&w, wait);
  int rc = rg_wr_end(&w);
  if (!rc && !(rc = rg__cli_connect(cli)) && !(rc = rg__cli_roundtrip(cli, &frame, &reply)))
    rc = rg__cli_print(cli, reply);
  rg_json_free(reply);
  rg_buf_free(&frame);
  return rc;
}

static int cmd_check(cli_t *cli, int argc, char **argv) {
  static const struct option opts[] = {{"helo", required_argument, NULL, 'e'},
                                       {"rdns", required_argument, NULL, 'd'},
                                       {"authenticated", no_argument, NULL, 'a'},
                                       {"rcpt", required_argument, NULL, 'r'},
                                       {NULL, 0, NULL, 0}};
  const char *helo = NULL, *rdns = NULL, *rcpts[64];
  bool authenticated = false;
  int n_rcpts = 0, opt;
  optind = 0; /* GNU getopt: restart on the sub-command's arguments */
  while ((opt = getopt_long(argc, argv, "e:d:ar:", opts, NULL)) != -1) {
    if (opt == 'e')
      helo = optarg;
    else if (opt == 'd')
      rdns = optarg;
    else if (opt == 'a')
      authenticated = true;
    else if (opt == 'r' && n_rcpts < 64)
      rcpts[n_rcpts++] = optarg;
    else
      return EXIT_USAGE;
  }
  if (argc - optind != 2) return EXIT_USAGE;
  rg_buf_t frame;
  rg_wr_t w;
  rg_json_t *reply = NULL;
  rg_buf_init(&frame, 0);
  rg__cli_begin(cli, &w, &frame, "check", 3 + (helo != NULL) + (rdns != NULL) + authenticated);
  rg_wr_str(&w, "sender"), rg_wr_str(&w, argv[optind]);
  rg_wr_str(&w, "client_ip"), rg_wr_str(&w, argv[optind + 1]);
  if (helo) rg_wr_str(&w, "helo"), rg_wr_str(&w, helo);
  if (rdns) rg_wr_str(&w, "rdns"), rg_wr_str(&w, rdns);
  if (authenticated) rg_wr_str(&w, "authenticated"), rg_wr_bool(&w, true);
  rg_wr_str(&w, "recipients");
  rg_wr_array(&w, (uint32_t)n_rcpts);
  for (int i = 0; i < n_rcpts; i++) rg_wr_str(&w, rcpts[i]);
  int rc = rg_wr_end(&w);
  if (!rc && !(rc = rg__cli_connect(cli)) && !(rc = rg__cli_roundtrip(cli, &frame, &reply)))
    rc = rg__cli_print(cli, reply);
  rg_json_free(reply);
  rg_buf_free(&frame);
  return rc;
}

/* ---- ingest -------------------------------------------------------------------------- */

/* Adds one NDJSON line to the current batch: an edge ({"src",…}) or an observation
 * ({"sender",…}). Lines that are neither are reported and skipped. */
static int ingest_line(rg__ingest_t *in, const char *text, size_t len) {
  char err[200];
  rg_json_t *j;
  in->lines++;
  size_t i = 0;
  while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r')) i++;
  if (i == len || text[i] == '#') return 0;
  if (rg_json_parse(text, len, &j, err, sizeof err) != RG_OK) {
    fprintf(stderr, "%s:%zu: rejected: not JSON: %s\n", in->path, in->lines, err);
    in->rejected++;
    return 0;
  }
  bool edge = rg_json_has(j, "src"), obs = rg_json_has(j, "sender");
  if (edge == obs) {
    fprintf(
        stderr,
        "%s:%zu: rejected: expected an edge (with \"src\") or an observation (with \"sender\")\n",
        in->path, in->lines);
    in->rejected++;
    rg_json_free(j);
    return 0;
  }
  rg_wr_t w;
  in->scratch.len = 0;
  rg_wr_init(&w, &in->scratch);
  rg_json_write_msgpack(j, &w);
  rg_json_free(j);
  if (w.err) {
    fprintf(stderr, "repgraph: %s\n", rg_strerror(w.err));
    return EXIT_USAGE;
  }
  return rg__ingest_add(in, edge ? RG__ITEM_EDGE : RG__ITEM_OBSERVATION, in->scratch.data,
                        in->scratch.len, in->lines, len);
}

static int cmd_ingest(cli_t *cli, int argc, char **argv) {
  static const struct option opts[] = {{"batch", required_argument, NULL, 'b'},
                                       {"window", required_argument, NULL, 'w'},
                                       {"progress", no_argument, NULL, 'P'},
                                       {"max-frame", required_argument, NULL, 'F'},
                                       {NULL, 0, NULL, 0}};
  rg__ingest_t in = {.cli = cli, .batch_size = 1000, .window = 32, .progress = isatty(2)};
  int opt;
  optind = 0; /* GNU getopt: restart on the sub-command's arguments */
  while ((opt = getopt_long(argc, argv, "b:w:PF:", opts, NULL)) != -1) {
    if (opt == 'b')
      in.batch_size = (uint32_t)strtoul(optarg, NULL, 10);
    else if (opt == 'w')
      in.window = (uint32_t)strtoul(optarg, NULL, 10);
    else if (opt == 'P')
      in.progress = true;
    else if (opt == 'F' && rg__cli_max_frame(optarg, &in.max_frame) == 0)
      continue;
    else
      return EXIT_USAGE;
  }
  if (argc - optind != 1 || in.batch_size == 0 || in.window == 0) return EXIT_USAGE;
  in.path = argv[optind];
  FILE *f = strcmp(in.path, "-") == 0 ? stdin : fopen(in.path, "r");
  if (!f) {
    perror(in.path);
    return EXIT_USAGE;
  }
  int rc = rg__cli_connect(cli);
  if (!rc) rc = rg__ingest_open(&in);
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while (!rc && (n = getline(&line, &cap, f)) >= 0) {
    if (n > 0 && line[n - 1] == '\n') n--;
    size_t bom = in.lines == 0 ? rg__cli_bom_len(line, (size_t)n) : 0;
    rc = ingest_line(&in, line + bom, (size_t)n - bom);
  }
  if (!rc) rc = rg__ingest_finish(&in);
  rg__ingest_progress(&in, true);
  free(line);
  if (f != stdin) fclose(f);
  rg__ingest_close(&in);
  if (rc) return rc;
  double secs = (double)(rg_clock_mono_us() - in.started_us) / 1e6;
  if (cli->json)
    printf("{\"lines\":%zu,\"accepted\":%zu,\"rejected\":%zu,\"seconds\":%.3f}\n", in.lines,
           in.accepted, in.rejected, secs);
  else
    printf("ingested %zu of %zu lines (%zu rejected) in %.2f s\n", in.accepted, in.lines,
           in.rejected, secs);
  return in.rejected ? EXIT_REJECTED : 0;
}

/* ---- main ---------------------------------------------------------------------------- */

static const command_t commands[] = {
    {"ping", cmd_ping, "", "check that the server answers"},
    {"ingest", cmd_ingest, "[--batch N] [--window N] [--max-frame BYTES] [--progress] FILE|-",
     "stream NDJSON edges {src,dst,kind,ts?,weight?,count?} and observations\n"
     "  {ts?,sender,recipients[],client_ip,helo?} in pipelined batches; rejected lines are\n"
     "  reported with their line number and the rest is ingested; no request is larger\n"
     "  than --max-frame (default 16M, the server's default limits.max_frame_bytes)"},
    {"ingest-mail", rg__cmd_ingest_mail,
     "[--recursive] [--trusted CIDR,...] [--rcpt-headers H,...] [--max-size N[K|M|G]]\n"
     "       [--label bad|good [--label-ip] [--source S] [--note TEXT]] [--batch N] [--window N]\n"
     "       [--max-frame BYTES] [--progress] [--print] PATH...",
     "read RFC 5322 files, mbox files and Maildirs: one observation per message\n"
     "  (sender from Return-Path/Sender/From, recipients from Delivered-To/X-Original-To/\n"
     "  Envelope-To else To/Cc, client IP, HELO and time from the first Received hop outside\n"
     "  the trusted networks); skipped messages are counted per reason; --print writes the\n"
     "  observations as NDJSON to stdout (for `repgraph ingest`) and sends nothing"},
    {"feedback", rg__cmd_feedback,
     "--spam|--ham [--source S] [--note TEXT] [--trusted CIDR,...] [--no-ip] [FILE|-]",
     "label one message's sender and client IP bad (--spam) or good (--ham); source\n"
     "  user_report unless given: what a Junk / Not-Junk hook calls"},
    {"lookup", cmd_lookup, "TYPE:ID...", "show what the store knows of actors (e.g. ip:192.0.2.1)"},
    {"label", cmd_label,
     "[--source S] [--weight W] [--note TEXT] TYPE:ID bad|good\n"
     "       repgraph label --file verdicts.csv [--source S]",
     "record a verdict, or many from a CSV file\n"
     "  sources: analyst, user_report, spam_trap, allowlist, feed; --file reads CSV lines\n"
     "  actor,verdict[,source[,note]] (- for stdin) and reports each rejected line as FILE:LINE"},
    {"label-cluster", rg__cmd_label_cluster,
     "[--dry-run] [--force] [--min-reputation R] [--source S] [--note TEXT] [--weight W]\n"
     "  [--generation G] CLUSTER bad|good",
     "label the members of a cluster of the current generation; bad skips members labelled\n"
     "  good or scored below label.cluster_min_reputation (good: the mirror image) unless\n"
     "  --force; --dry-run shows the cluster's make-up and what would be labelled"},
    {"unlabel", rg__cmd_unlabel, "[--note TEXT] TYPE:ID...",
     "retract actors' labels (they stop being seeds; the history keeps the retraction)"},
    {"history", rg__cmd_history, "TYPE:ID...", "the labels an actor was given, newest first"},
    {"clusters", rg__cmd_clusters,
     "[--limit N] [--offset N] [--min-size N] [--min-suspicion X] [--type T]\n"
     "       [--after EPOCH] [--actor TYPE:ID] [--sort suspicion|size|bad_seed_share|"
     "mean_reputation|last_seen|first_seen]\n"
     "       [--scan-from N]",
     "the most suspicious clusters of the current generation"},
    {"top", rg__cmd_top, "[--metric reputation|anomaly] [--best] [--limit N] [--offset N] TYPE",
     "the worst (or best) actors of a type"},
    {"neighbors", rg__cmd_neighbors, "[--depth 1|2] [--limit N] TYPE:ID",
     "an actor's ego network, heaviest edges first, with every neighbour's scores"},
    {"export", rg__cmd_export,
     "(--cluster ID... | --actor TYPE:ID [--depth N] [--limit N]) --out PATH\n"
     "       [--format graphml|csv|json] [--page N] [--progress]",
     "write clusters or an ego network, with scores and edges, to a file\n"
     "  GraphML (igraph's writer), CSV (PATH/nodes.csv + PATH/edges.csv) or JSON; large\n"
     "  clusters stream in pages"},
    {"forget", cmd_forget, "TYPE:ID...", "delete actors with all their edges and labels"},
    {"stats", cmd_stats, "", "counts, store size, request counters and latencies"},
    {"recompute", cmd_recompute, "[--wait]",
     "recompute reputation now (for scheduled jobs); --wait replies when it is done"},
    {"status", cmd_status, "", "the current generation and the running or last recomputation"},
    {"check", cmd_check,
     "[--helo NAME] [--rdns NAME] [--authenticated] [--rcpt ADDRESS]... SENDER CLIENT_IP",
     "a filter's verdict on one message (accept, tempfail, quarantine, reject)"},
    {"backup", rg__cmd_backup, "[--repack] DEST",
     "a consistent copy of the server's store in the new directory DEST on the server's\n"
     "  host (data.mdb + manifest.json), taken while it serves; waits up to 6 h (or -t);\n"
     "  restore it with `repgraphd --restore DEST --data NEWDIR`; --repack rewrites every\n"
     "  row in key order so that pages thinned by retention are filled (slower, smaller)"},
    {"model", rg__cmd_model, "",
     "the learned model of the current generation: held-out quality, calibration, features"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
  fprintf(f,
          "usage: repgraph [-H HOST] [-p PORT] [-u SOCKET] [--tls [--tls-ca F] ...] "
          "[--token-file F] [--json] [-t MS] COMMAND [ARGS]\n\n"
          "  -H, --host HOST     server address (default 127.0.0.1)\n"
          "  -p, --port PORT     server TCP port (default %d)\n"
          "  -u, --unix PATH     use this Unix socket instead of TCP\n"
          "      --tls           TCP over TLS; the server's certificate and name are verified\n"
          "      --tls-ca F      PEM CAs to trust for it (default: the system's store)\n"
          "      --tls-name NAME the name its certificate must carry (default: HOST)\n"
          "      --tls-cert F    client certificate for mutual TLS (PEM chain)\n"
          "      --tls-key F     its private key (default: in the --tls-cert file)\n"
          "  -T, --token-file F  authenticate with the token on the first line of F\n"
          "      --token TOKEN   authenticate with TOKEN (visible to ps; prefer the file or\n"
          "                      the RG_TOKEN environment variable)\n"
          "  -j, --json          print replies as JSON, one per line\n"
          "  -t, --timeout MS    give up waiting for a reply after MS ms (default 60000)\n\n"
          "commands (repgraph COMMAND --help for one):\n",
          RG_DEFAULT_PORT);
  for (size_t i = 0; i < N_COMMANDS; i++)
    fprintf(f, "  %-13s %.*s\n", commands[i].name, (int)strcspn(commands[i].help, "\n"),
            commands[i].help);
  fprintf(f,
          "\nexit codes: 0 ok, 1 error reply, rejected input or output not written, 2 usage,\n"
          "3 server unreachable\n");
}

static void command_usage(const command_t *c, FILE *f) {
  fprintf(f, "usage: repgraph %s %s\n  %s\n", c->name, c->args, c->help);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {{"host", required_argument, NULL, 'H'},
                                       {"port", required_argument, NULL, 'p'},
                                       {"unix", required_argument, NULL, 'u'},
                                       {"token", required_argument, NULL, 'k'},
                                       {"token-file", required_argument, NULL, 'T'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"timeout", required_argument, NULL, 't'},
                                       {"help", no_argument, NULL, 'h'},
                                       {"tls", no_argument, NULL, 'S'},
                                       {"tls-ca", required_argument, NULL, 'A'},
                                       {"tls-name", required_argument, NULL, 'N'},
                                       {"tls-cert", required_argument, NULL, 'C'},
                                       {"tls-key", required_argument, NULL, 'K'},
                                       {NULL, 0, NULL, 0}};
  cli_t cli = {.host = "127.0.0.1", .port = RG_DEFAULT_PORT, .timeout_ms = 60000};
  int opt, rc = 0;
  const char *env_token = getenv("RG_TOKEN");
  if (env_token && *env_token) rc = rg__cli_set_token(&cli, env_token);
  while (!rc && (opt = getopt_long(argc, argv, "+H:p:u:T:jt:h", opts, NULL)) != -1) {
    switch (opt) {
      case 'H': cli.host = optarg; break;
      case 'p': cli.port = (unsigned)strtoul(optarg, NULL, 10); break;
      case 'u': cli.unix_path = optarg; break;
      case 'k': rc = rg__cli_set_token(&cli, optarg); break;
      case 'T':
        rg__cli_set_token(&cli, NULL);
        rc = rg__cli_read_token_file(&cli, optarg);
        break;
      case 'j': cli.json = true; break;
      case 't': cli.timeout_ms = atoi(optarg); break;
      case 'S': cli.tls = true; break;
      case 'A': cli.tls_opts.ca_file = optarg; break;
      case 'N': cli.tls_opts.server_name = optarg; break;
      case 'C': cli.tls_opts.cert_file = optarg; break;
      case 'K': cli.tls_opts.key_file = optarg; break;
      case 'h':
        usage(stdout);
        rc = -1;
        break;
      default: usage(stderr); rc = EXIT_USAGE;
    }
  }
  if (!rc && optind >= argc) {
    usage(stderr);
    rc = EXIT_USAGE;
  }
  if (!rc && !cli.tls &&
      (cli.tls_opts.ca_file || cli.tls_opts.server_name || cli.tls_opts.cert_file ||
       cli.tls_opts.key_file)) {
    fprintf(stderr, "repgraph: --tls-ca, --tls-name, --tls-cert and --tls-key need --tls\n");
    rc = EXIT_USAGE;
  }
  if (!rc && cli.tls && cli.unix_path) {
    fprintf(stderr, "repgraph: --tls is for TCP; the Unix socket is plaintext\n");
    rc = EXIT_USAGE;
  }
  if (rc) goto out;
  const command_t *cmd = NULL;
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (strcmp(argv[optind], commands[i].name) == 0) cmd = &commands[i];
  if (!cmd) {
    fprintf(stderr, "repgraph: unknown command '%s'\n", argv[optind]);
    usage(stderr);
    rc = EXIT_USAGE;
    goto out;
  }
  int sub_argc = argc - optind;
  char **sub_argv = argv + optind;
  for (int i = 1; i < sub_argc; i++) {
    if (strcmp(sub_argv[i], "--help") == 0 || strcmp(sub_argv[i], "-h") == 0) {
      command_usage(cmd, stdout);
      rc = -1;
      goto out;
    }
  }
  rc = cmd->run(&cli, sub_argc, sub_argv);
  if (rc == EXIT_USAGE && !cli.conn) command_usage(cmd, stderr);
out:
  rg_client_close(cli.conn);
  rg__cli_set_token(&cli, NULL);
  rc = rg__cli_finish_output(rc); /* what was printed must have been written */
  return rc < 0 ? 0 : rc;         /* -1: help was asked for */
}
