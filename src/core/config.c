/* config.c — option table, INI loading (libinih) and validation. Called at start-up
 * from one thread; the resulting rg_config_t is read-only afterwards. */
#include "repgraph/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/log.h"
#include "repgraph/vocab.h"

typedef enum {
  OPT_STR,
  OPT_U32,
  OPT_SIZE32,
  OPT_SIZE,
  OPT_DURATION,
  OPT_RATIO,
  OPT_MODE /* octal permission bits, uint32_t */
} opt_kind_t;

typedef struct {
  const char *name; /* "section.key" */
  opt_kind_t kind;
  size_t offset;
  size_t str_cap;
  uint64_t min, max;
  const char *def;
  const char *help;
} opt_t;

#define STR(field, name, def, help)                                                            \
  {                                                                                            \
    name, OPT_STR, offsetof(rg_config_t, field), sizeof(((rg_config_t *)0)->field), 0, 0, def, \
        help                                                                                   \
  }
#define NUM(kind, field, name, min, max, def, help) \
  { name, kind, offsetof(rg_config_t, field), 0, min, max, def, help }

static const opt_t options[] = {
    STR(data_dir, "store.data_dir", "./repgraph-data", "LMDB environment directory"),
    NUM(OPT_SIZE, map_size_bytes, "store.map_size", 1 << 20, UINT64_C(1) << 44, "64M",
        "initial LMDB map size; doubles when full"),
    NUM(OPT_SIZE, map_max_bytes, "store.map_max", 1 << 20, UINT64_C(1) << 44, "64G",
        "largest map size; past it ingest answers storage_full"),
    NUM(OPT_DURATION, half_life_s, "graph.half_life", 60, UINT64_C(10) * 365 * 86400, "7d",
        "edge weight half-life"),
    NUM(OPT_U32, net_prefix_v4, "graph.net_prefix_v4", 8, 32, "24", "bits of an IPv4 net"),
    NUM(OPT_U32, net_prefix_v6, "graph.net_prefix_v6", 16, 128, "64", "bits of an IPv6 net"),
    STR(listen_host, "server.listen", "127.0.0.1", "TCP listen address"),
    NUM(OPT_U32, port, "server.port", 0, 65535, "7411", "TCP port; 0 disables TCP"),
    STR(unix_socket, "server.unix_socket", "",
        "Unix socket path; empty = <data_dir>/repgraphd.sock, none = off"),
    NUM(OPT_MODE, unix_mode, "server.unix_mode", 0, 0777, "0660",
        "permissions of the Unix socket (octal); its group may connect"),
    STR(log_level, "server.log_level", "info", "error | warn | info | debug"),
    STR(key_file, "auth.key_file", "",
        "\"name role token\" lines (mode 600/640); empty = no authentication"),
    STR(tls_cert, "tls.cert", "",
        "PEM certificate chain: TLS on the TCP listener (not the Unix socket); empty = off"),
    STR(tls_key, "tls.key", "",
        "PEM private key of tls.cert (mode 600/640); empty = in tls.cert's file"),
    STR(tls_client_ca, "tls.client_ca", "",
        "PEM CA certificates: clients must present a certificate one of them signed "
        "(mutual TLS); empty = no client certificates"),
    STR(tls_min_version, "tls.min_version", "TLS1.2", "oldest protocol accepted: TLS1.2 | TLS1.3"),
    STR(tls_ciphers, "tls.ciphers", "",
        "OpenSSL cipher list for TLS 1.2; empty = OpenSSL's defaults (TLS 1.3 suites are "
        "OpenSSL's)"),
    NUM(OPT_DURATION, auth_timeout_s, "auth.timeout", 1, 3600, "5s",
        "with a key file, a connection that has not authenticated this long is closed"),
    NUM(OPT_SIZE32, max_frame_bytes, "limits.max_frame_bytes", 64, 1u << 30, "16M",
        "largest request frame"),
    NUM(OPT_U32, max_batch_items, "limits.max_batch_items", 1, 10000000, "100000",
        "edges, observations, labels or actors in one request"),
    NUM(OPT_U32, max_recipients, "limits.max_recipients", 1, 100000, "1000",
        "recipients in one observation"),
    NUM(OPT_U32, max_connections, "limits.max_connections", 1, 1000000, "1024",
        "concurrent connections"),
    NUM(OPT_SIZE, max_output_bytes, "limits.max_output_bytes", 4096, UINT64_C(1) << 40, "64M",
        "unread reply bytes queued for one connection before it is dropped; past half of "
        "it the connection is not read until they drain"),
    NUM(OPT_DURATION, output_stall_s, "limits.output_stall", 1, 86400, "30s",
        "a connection past half of max_output_bytes whose replies make no progress this "
        "long is dropped"),
    NUM(OPT_U32, max_pending_writes, "limits.max_pending_writes", 1, 100000, "64",
        "write requests of one connection queued for the writer before it stops reading"),
    NUM(OPT_U32, max_page_items, "limits.max_page_items", 1, 1000000, "10000",
        "rows (clusters, actors, nodes + edges) in one reply of clusters, top, neighbors, export"),
    NUM(OPT_U32, max_scan_edges, "limits.max_scan_edges", 1, 100000000, "20000",
        "edges one export page reads, and a neighbors request per step (a hub's rest is skipped)"),
    NUM(OPT_U32, max_scan_clusters, "limits.max_scan_clusters", 1, 100000000, "10000",
        "clusters one clusters request reads (other sorts than suspicion, selective filters); "
        "past it the reply says truncated and where to continue (scan_from)"),
    NUM(OPT_U32, max_label_cluster, "limits.max_label_cluster", 1, 100000000, "100000",
        "members of a cluster label_cluster labels in one transaction; a larger one is "
        "refused (too_large): label it with `repgraph label --file` in batches"),
    NUM(OPT_U32, write_slice_edges, "limits.write_slice_edges", 100, 100000000, "20000",
        "a larger ingest commits in slices of about this many edges (whole observations), "
        "with other clients' writes between them"),
    NUM(OPT_DURATION, idle_timeout_s, "limits.idle_timeout", 0, 86400 * 30, "5m",
        "close connections idle this long; 0 = never"),
    NUM(OPT_DURATION, evict_idle_s, "limits.evict_idle", 0, 86400, "1s",
        "at limits.max_connections, a new connection closes the longest-idle one if it has "
        "been idle this long (else the new one is refused with busy)"),
    NUM(OPT_DURATION, frame_timeout_s, "limits.frame_timeout", 0, 86400, "30s",
        "a frame must arrive whole this long after its first byte; 0 = never"),
    NUM(OPT_U32, max_depth, "limits.max_depth", 4, RG_PROTO_DEPTH_MAX, "16",
        "nesting of maps and arrays in a request"),
    NUM(OPT_U32, max_string_bytes, "limits.max_string_bytes", 64, 1u << 20, "1024",
        "longest string in a request field (notes, tokens)"),
    NUM(OPT_DURATION, recompute_interval_s, "recompute.interval", 0, 86400 * 30, "1h",
        "recompute reputation this often; 0 = only on request"),
    NUM(OPT_U32, recompute_seed, "recompute.seed", 0, UINT32_MAX, "1",
        "random seed of community detection (same seed, same graph: same clusters)"),
    NUM(OPT_U32, min_messages, "score.min_messages", 0, 1000000, "3",
        "fewer messages than this: band neutral, whatever the score"),
    NUM(OPT_DURATION, min_age_s, "score.min_age", 0, 86400 * 365, "1h",
        "actors younger than this: band neutral"),
    NUM(OPT_RATIO, band_bad, "score.band_bad", 0, 1, "0.8",
        "reputation from which the band is bad"),
    NUM(OPT_RATIO, band_suspicious, "score.band_suspicious", 0, 1, "0.6",
        "reputation from which the band is suspicious"),
    NUM(OPT_RATIO, band_good, "score.band_good", 0, 1, "0.3",
        "reputation up to which the band is good"),
    NUM(OPT_RATIO, prior, "score.prior", 0, 1, "0.5",
        "reputation of an actor with no path to a label"),
    NUM(OPT_RATIO, check_reject, "check.reject", 0, 1, "0.9",
        "combined score from which check says reject while not derived (check.reject_fpr)"),
    NUM(OPT_RATIO, check_quarantine, "check.quarantine", 0, 1, "0.75",
        "combined score from which check says quarantine while not derived "
        "(check.quarantine_fpr)"),
    NUM(OPT_RATIO, check_tempfail, "check.tempfail", 0, 1, "0.6",
        "combined score from which check says tempfail (greylist) while the recomputation "
        "cannot derive it from check.tempfail_fpr (too few held-out labels)"),
    NUM(OPT_RATIO, check_tempfail_fpr, "check.tempfail_fpr", 0, 1, "0.01",
        "false-positive budget of tempfail: the recomputation sets its threshold where at most "
        "this share of held-out good-labelled senders would get it (95% upper bound)"),
    NUM(OPT_RATIO, check_quarantine_fpr, "check.quarantine_fpr", 0, 1, "0.001",
        "false-positive budget of quarantine (as check.tempfail_fpr)"),
    NUM(OPT_RATIO, check_reject_fpr, "check.reject_fpr", 0, 1, "0.0001",
        "false-positive budget of reject (as check.tempfail_fpr)"),
    NUM(OPT_RATIO, check_holdout_share, "check.holdout_share", 0, 1, "0.2",
        "share of the labelled addresses (of each verdict) held out of a second propagation "
        "to estimate the rates; at most 0.5; 0 = never derive, always the fixed thresholds"),
    NUM(OPT_RATIO, check_min_holdout, "check.min_holdout", 3, 1000, "3",
        "held-out good labels a level needs per unit of budget: ceil(min_holdout / budget), "
        "e.g. 300 for 0.01 (3 = the rule of three); fewer and it keeps its fixed threshold"),
    NUM(OPT_RATIO, cluster_min_reputation, "label.cluster_min_reputation", 0, 1, "0.5",
        "label_cluster bad skips members scored below this (good: above 1 minus it), and "
        "members labelled the other way, unless the request says force"),
    STR(check_mode, "check.mode", "enforce",
        "enforce: check answers its verdicts; observe: every answer is accept, the verdict it "
        "would have been is reported (would_be) and counted (roll-outs)"),
    NUM(OPT_U32, check_shared_users, "check.shared_users", 1, 100000000, "10",
        "an IP, net or domain with this many senders is shared: it counts by the share of "
        "its senders that score bad, not by its own reputation"),
    NUM(OPT_U32, commit_max_requests, "writer.commit_max_requests", 1, 100000, "256",
        "write requests grouped into one commit"),
    NUM(OPT_DURATION, max_future_skew_s, "ingest.max_future_skew", 0, 86400 * 365, "1h",
        "an item's ts further ahead of the server clock than this is clamped to the server "
        "time (counted in stats ingest.ts_clamped)"),
    STR(reference_time, "graph.reference_time", "newest",
        "time decay, age and the evidence rule are measured at: newest = the newest time seen "
        "in the store if older than now (replays), now = the server clock"),
    NUM(OPT_U32, fold_local_case, "actor.fold_local_case", 0, 1, "1",
        "1: address local parts are lower-cased (Alice@ and alice@ are one actor); 0: kept"),
    STR(subaddress_sep, "actor.subaddress_separators", "",
        "empty: user+tag@ is its own actor; else characters (e.g. \"+\" or \"+-\") from "
        "the first of which the local part's tag is stripped"),
    STR(policy_listen, "policy.listen", "",
        "Postfix policy listener, host:port on loopback (e.g. 127.0.0.1:10040); empty = off"),
    STR(policy_unix, "policy.unix", "", "Postfix policy listener on a Unix socket; empty = off"),
    NUM(OPT_U32, policy_budget_ms, "policy.budget_ms", 1, 60000, "50",
        "a policy request is answered within this many ms, or with DUNNO"),
    STR(policy_mode, "policy.mode", "enforce",
        "enforce (the actions below) | observe (PREPEND a header only, nothing refused)"),
    STR(policy_action[0], "policy.action_accept", "DUNNO", "Postfix action for accept"),
    STR(policy_action[1], "policy.action_tempfail", "DEFER_IF_PERMIT",
        "Postfix action for tempfail"),
    STR(policy_action[2], "policy.action_quarantine", "HOLD", "Postfix action for quarantine"),
    STR(policy_action[3], "policy.action_reject", "REJECT",
        "Postfix action for reject (one of " RG_POLICY_ACTIONS ")"),
    STR(policy_header, "policy.header", "X-Repgraph", "header name that PREPEND adds"),
    STR(policy_record_state, "policy.record_state", "END-OF-MESSAGE",
        "protocol_state at which a message becomes an observation: DATA | END-OF-MESSAGE | none"),
    NUM(OPT_U32, policy_record_rejected, "policy.record_rejected", 0, 1, "0",
        "1: recipients repgraph refused are recorded too"),
    NUM(OPT_U32, policy_max_line, "policy.max_line", 64, 1u << 20, "2048",
        "bytes of one policy request line"),
    NUM(OPT_U32, policy_max_attributes, "policy.max_attributes", 8, 100000, "128",
        "attributes of one policy request"),
    NUM(OPT_SIZE32, policy_max_request, "policy.max_request", 256, 1u << 24, "16K",
        "bytes of one policy request"),
    NUM(OPT_DURATION, policy_request_timeout_s, "policy.request_timeout", 1, 3600, "10s",
        "a policy request must arrive whole this long after its first byte"),
    NUM(OPT_DURATION, policy_idle_timeout_s, "policy.idle_timeout", 0, 86400, "1h",
        "close policy connections idle this long; 0 = never (Postfix closes after 300 s)"),
    NUM(OPT_U32, policy_max_connections, "policy.max_connections", 1, 1000000, "1024",
        "concurrent policy connections"),
    NUM(OPT_U32, policy_max_queue, "policy.max_queue", 1, 10000000, "1000",
        "writes queued for the writer past which policy observations are dropped (counted)"),
    NUM(OPT_U32, provisional, "score.provisional", 0, 1, "1",
        "1: lookups of actors first seen after the generation answer a provisional score from "
        "their neighbours"),
    NUM(OPT_SIZE32, offload_bytes, "limits.offload_bytes", 0, 1u << 30, "256K",
        "frames at least this large are decoded (and an ingest prepared) on a pool thread, "
        "not the loop; 0 = never"),
    NUM(OPT_U32, pseudonymise, "store.pseudonymise", 0, 1, "0",
        "1: identifiers are stored only as keyed pseudonyms (store.pseudonym_key_file); fixed "
        "when the store is created, a store of the other mode is refused"),
    STR(pseudonym_key_file, "store.pseudonym_key_file", "",
        "the pseudonym key: 64 hex digits (openssl rand -hex 32), mode 600/640; keep a copy "
        "apart from the store's backups"),
    NUM(OPT_DURATION, retention_edges_s, "retention.edges", 0, UINT64_C(10) * 365 * 86400, "0",
        "edges not seen for this long are deleted by the retention sweep, and actors left with "
        "no edge and no label with them; 0 = keep edges forever"),
    NUM(OPT_DURATION, retention_labels_s, "retention.labels", 0, UINT64_C(10) * 365 * 86400, "0",
        "labels given longer ago than this are retracted by the sweep (the history keeps the "
        "retraction); 0 = keep labels forever"),
    NUM(OPT_DURATION, retention_interval_s, "retention.interval", 1, 86400 * 30, "1h",
        "a retention sweep pass starts this often (when retention.edges or .labels is set)"),
    NUM(OPT_U32, retention_slice_rows, "retention.slice_rows", 1, 1000000, "200",
        "edges (or labels) one sweep slice deletes at most, with the actors they leave with "
        "nothing, in one transaction of its own between client writes; it looks at ten times "
        "as many rows"),
    NUM(OPT_U32, retention_slice_pause_ms, "retention.slice_pause_ms", 0, 60000, "20",
        "pause between two slices of a sweep pass, ms"),
    /* the learned model (model.c; README "The learned model") */
    NUM(OPT_U32, model_enabled, "model.enabled", 0, 1, "1",
        "1: train the gradient-boosted model at each recomputation and serve it when there are "
        "enough labels (model.min_labels); 0: serve the propagation"),
    NUM(OPT_U32, model_folds, "model.folds", 2, 10, "3",
        "k of the out-of-fold propagation and training (each fold costs one more walk pair)"),
    NUM(OPT_U32, model_min_labels, "model.min_labels", 2, 10000000, "30",
        "labelled actors needed per class (bad, good); fewer and the propagation is served"),
    NUM(OPT_U32, model_rounds, "model.rounds", 1, 2000, "60", "boosting rounds"),
    NUM(OPT_U32, model_max_depth, "model.max_depth", 1, 12, "5", "depth of each tree"),
    NUM(OPT_RATIO, model_eta, "model.eta", 0, 1, "0.15", "learning rate"),
    NUM(OPT_U32, model_threads, "model.threads", 1, 64, "1",
        "XGBoost threads (more than 1 only on an idle machine: OpenMP spins when oversubscribed)"),
    NUM(OPT_U32, model_max_train, "model.max_train", 100, 100000000, "30000",
        "labelled actors trained on (a deterministic stratified sample above it)"),
    NUM(OPT_U32, model_explain_max, "model.explain_max", 0, 100000000, "20000",
        "highest-scoring actors (suspicious or worse) whose feature contributions become reasons"),
    NUM(OPT_RATIO, model_max_auc_drop, "model.max_auc_drop", 0, 1, "0.05",
        "held-out AUC this far below the previous generation's flags the generation"),
    NUM(OPT_U32, model_block_on_drop, "model.block_on_drop", 0, 1, "0",
        "1: a flagged generation is not published (the previous one stays)"),
    STR(model_features_out, "model.features_out", "",
        "file to write each recomputation's feature table to (TSV, for reference models); "
        "\"\" = none"),
    NUM(OPT_U32, model_guard, "model.guard", 0, 1, "1",
        "1: a sender alone on its IPs and domain with no bad neighbour stays below the bad band "
        "(the model is extrapolating there)"),
    NUM(OPT_U32, model_monotone, "model.monotone", 0, 1, "1",
        "1: more evidence of badness (bad neighbours, bad mass) never lowers the model's score, "
        "evidence of goodness never raises it"),
    NUM(OPT_U32, model_blend, "model.blend", 0, 1, "0",
        "1: serve the larger of the model's and the propagation's calibrated probability, "
        "recalibrated on the same out-of-fold labels"),
    NUM(OPT_SIZE, lookup_cache_bytes, "lookup.cache_bytes", 0, UINT64_C(1) << 40, "64M",
        "encoded lookup results kept in memory per actor (least recently used go first), "
        "until a committed write changes that actor; 0 = off"),
    NUM(OPT_U32, cluster_enabled, "cluster.enabled", 0, 1, "0",
        "1: writes go through the JetStream stream and every replica applies them in order"),
    STR(cluster_nats, "cluster.nats", "nats://127.0.0.1:4222",
        "NATS server URLs, comma-separated (cluster mode)"),
    STR(cluster_stream, "cluster.stream", "repgraph", "JetStream stream of the writes"),
    NUM(OPT_U32, cluster_replicas, "cluster.replicas", 1, 5, "3",
        "replicas of the stream in JetStream (R3 survives one NATS node down)"),
    STR(cluster_node, "cluster.node", "", "this replica's name (letters, digits, - and _)"),
    NUM(OPT_DURATION, cluster_read_wait_s, "cluster.read_wait", 1, 3600, "5s",
        "a write waits this long for JetStream's ack and its apply here, else not_applied"),
    NUM(OPT_U32, cluster_max_lag, "cluster.max_lag", 0, 100000000, "1000",
        "stats' cluster.ready is false while more messages than this wait to be applied"),
    NUM(OPT_U32, wal_enabled, "wal.enabled", 0, 1, "0",
        "1: ingest is appended to a log in <data_dir>/wal and acknowledged after its fsync; "
        "the writer merges the log into the store in large transactions"),
    NUM(OPT_U32, wal_merge_edges, "wal.merge_edges", 1000, 100000000, "1000000",
        "logged edges one merge into the store takes (whole requests)"),
    NUM(OPT_U32, wal_merge_ms, "wal.merge_ms", 10, 3600000, "1000",
        "logged edges wait at most this many ms before a merge starts"),
    NUM(OPT_U32, wal_max_unmerged_edges, "wal.max_unmerged_edges", 1000, 1000000000, "3000000",
        "logged edges not yet merged past which new ingests wait for a merge"),
    NUM(OPT_DURATION, cluster_snapshot_interval_s, "cluster.snapshot_interval", 0,
        UINT64_C(30) * 86400, "1h",
        "the leader publishes a compacted copy of its store (new replicas start from it and "
        "the log after it) after a generation, when its last one is older than this; 0 = never"),
    NUM(OPT_DURATION, cluster_stream_max_age_s, "cluster.stream_max_age", 0,
        UINT64_C(10) * 365 * 86400, "0",
        "the writes stream drops entries older than this (snapshots must cover them: "
        "cluster.snapshot_interval shorter; at least 2m); 0 = keeps every entry"),
    NUM(OPT_SIZE, cluster_stream_max_bytes, "cluster.stream_max_bytes", 0, UINT64_C(1) << 50, "0",
        "the writes stream drops its oldest entries past this size (needs "
        "cluster.snapshot_interval); 0 = no limit"),
    NUM(OPT_DURATION, cluster_lease_ttl_s, "cluster.lease_ttl", 3, 3600, "10s",
        "the recompute lease lasts this long unless renewed (every third of it); the leader "
        "alone recomputes and publishes the generation, the others adopt it"),
/* label.weight_<source>, defaults from RG_LABEL_SOURCE_MAP: a new source gets its option. */
#define RG__WEIGHT_OPTION(name, num, text, weight)                       \
  NUM(OPT_RATIO, label_weight[num], "label.weight_" text, 0, 1, #weight, \
      "seed weight of a label from source " text " (unless the label gives one)"),
    RG_LABEL_SOURCE_MAP(RG__WEIGHT_OPTION)
#undef RG__WEIGHT_OPTION
    STR(metrics_listen, "metrics.listen", "",
        "HTTP listener for /metrics (Prometheus), /healthz and /readyz, host:port (e.g. "
        "127.0.0.1:9411); empty = off"),
    NUM(OPT_U32, metrics_ready_generation, "metrics.ready_requires_generation", 0, 1, "0",
        "1: /readyz answers 503 until a recomputation has published a generation"),
    NUM(OPT_U32, metrics_max_connections, "metrics.max_connections", 1, 10000, "16",
        "concurrent HTTP connections to the metrics listener"),
    STR(log_format, "log.format", "logfmt",
        "logfmt (ts=… level=… msg=\"…\") | json (one object per line); to stderr"),
    NUM(OPT_U32, log_actors, "log.actors", 0, 1, "0",
        "1: actor identifiers (addresses, IPs, domains) may appear in lines above debug level "
        "and in the request log; 0: only at debug"),
    NUM(OPT_RATIO, log_requests, "log.requests", 0, 1, "0",
        "share of requests logged (op, id, result, duration) at info, e.g. 0.01; 0 = none"),
};
#define RG__WEIGHT_FITS(name, num, text, weight)                                  \
  _Static_assert(num < sizeof(((rg_config_t *)0)->label_weight) / sizeof(double), \
                 "rg_config_t.label_weight has no slot for source " text);
RG_LABEL_SOURCE_MAP(RG__WEIGHT_FITS)
#undef RG__WEIGHT_FITS
#define N_OPTIONS (sizeof options / sizeof options[0])

static const opt_t *find_option(const char *name) {
  for (size_t i = 0; i < N_OPTIONS; i++)
    if (strcmp(options[i].name, name) == 0) return &options[i];
  return NULL;
}

/* Parses an unsigned number with an optional unit suffix into *out. */
static int parse_number(const char *text, opt_kind_t kind, uint64_t *out) {
  char *end;
  errno = 0;
  if (!isdigit((unsigned char)*text)) return -1;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno) return -1;
  uint64_t mult = 1;
  if (kind == OPT_MODE) {
    v = strtoull(text, &end, 8);
    if (errno || *end) return -1;
  }
  if (*end && (kind == OPT_SIZE || kind == OPT_SIZE32)) {
    const char *units = "KMGT";
    const char *u = strchr(units, toupper((unsigned char)*end));
    if (!u) return -1;
    mult = UINT64_C(1) << (10 * (u - units + 1));
    end++;
    if (*end == 'i' || *end == 'I') end++;
    if (*end == 'B' || *end == 'b') end++;
  } else if (*end && kind == OPT_DURATION) {
    switch (*end) {
      case 's': mult = 1; break;
      case 'm': mult = 60; break;
      case 'h': mult = 3600; break;
      case 'd': mult = 86400; break;
      default: return -1;
    }
    end++;
  }
  if (*end) return -1;
  if (v > UINT64_MAX / mult) return -1;
  *out = (uint64_t)v * mult;
  return 0;
}

int rg_config_set(rg_config_t *c, const char *name, const char *value, char *err, size_t errlen) {
  const opt_t *o = find_option(name);
  if (!o) {
    snprintf(err, errlen, "unknown option '%s'", name);
    return RG_ECONFIG;
  }
  char *field = (char *)c + o->offset;
  if (o->kind == OPT_STR) {
    if (strlen(value) >= o->str_cap) {
      snprintf(err, errlen, "%s: value longer than %zu bytes", name, o->str_cap - 1);
      return RG_ECONFIG;
    }
    strcpy(field, value);
    return RG_OK;
  }
  if (o->kind == OPT_RATIO) {
    char *end;
    double d = strtod(value, &end);
    if (end == value || *end || !(d >= (double)o->min && d <= (double)o->max)) {
      snprintf(err, errlen, "%s: '%s' is not a number in [%" PRIu64 ", %" PRIu64 "]", name,
               value, o->min, o->max);
      return RG_ECONFIG;
    }
    *(double *)field = d;
    return RG_OK;
  }
  uint64_t v;
  if (parse_number(value, o->kind, &v) != 0 || v < o->min || v > o->max) {
    snprintf(err, errlen, "%s: '%s' is not a %s in [%" PRIu64 ", %" PRIu64 "]", name, value,
             o->kind == OPT_SIZE || o->kind == OPT_SIZE32 ? "size"
             : o->kind == OPT_DURATION                    ? "duration"
             : o->kind == OPT_MODE                        ? "mode (octal)"
                                                          : "number",
             o->min, o->max);
    return RG_ECONFIG;
  }
  if (o->kind == OPT_U32 || o->kind == OPT_SIZE32 || o->kind == OPT_MODE)
    *(uint32_t *)field = (uint32_t)v;
  else
    *(uint64_t *)field = v; /* sizes and durations are uint64_t fields */
  return RG_OK;
}

void rg_config_defaults(rg_config_t *c) {
  memset(c, 0, sizeof *c);
  char err[256];
  for (size_t i = 0; i < N_OPTIONS; i++) {
    if (rg_config_set(c, options[i].name, options[i].def, err, sizeof err) != RG_OK)
      rg_log_error("config: invalid built-in default: %s", err); /* test_config guards this */
  }
}

typedef struct {
  rg_config_t *c;
  char *err;
  size_t errlen;
  int rc;
} ini_ctx_t;

static int on_ini_entry(void *user, const char *section, const char *key, const char *value) {
  ini_ctx_t *ctx = user;
  if (ctx->rc != RG_OK) return 0; /* keep the first error's message: its line is reported */
  char name[128];
  snprintf(name, sizeof name, "%s.%s", section, key);
  ctx->rc = rg_config_set(ctx->c, name, value, ctx->err, ctx->errlen);
  return ctx->rc == RG_OK;
}

int rg_config_load_file(rg_config_t *c, const char *path, char *err, size_t errlen) {
  ini_ctx_t ctx = {c, err, errlen, RG_OK};
  char msg[256] = "";
  ctx.err = msg;
  ctx.errlen = sizeof msg;
  int line = ini_parse(path, on_ini_entry, &ctx);
  if (line == -1) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return RG_EIO;
  }
  if (line != 0) {
    snprintf(err, errlen, "%s:%d: %s", path, line, msg[0] ? msg : "syntax error");
    return RG_ECONFIG;
  }
  return RG_OK;
}

/* True when `word` (up to a space or the end) is one of the space-separated `list`. */
static int word_in(const char *word, const char *list) {
  size_t n = strcspn(word, " ");
  for (const char *p = list; *p; p += strcspn(p, " "), p += *p == ' ')
    if (strcspn(p, " ") == n && strncmp(p, word, n) == 0) return n > 0;
  return 0;
}

/* The policy.* rules: known mode, actions and state; a loopback host:port. */
static int validate_policy(const rg_config_t *c, char *err, size_t errlen) {
  static const char *const verdicts[4] = {"accept", "tempfail", "quarantine", "reject"};
  if (!word_in(c->policy_mode, "enforce observe") || strchr(c->policy_mode, ' ')) {
    snprintf(err, errlen, "policy.mode: '%s' is not enforce or observe", c->policy_mode);
    return RG_ECONFIG;
  }
  for (int i = 0; i < 4; i++)
    if (!word_in(c->policy_action[i], RG_POLICY_ACTIONS) || strchr(c->policy_action[i], ' ')) {
      snprintf(err, errlen, "policy.action_%s: '%s' is not one of " RG_POLICY_ACTIONS, verdicts[i],
               c->policy_action[i]);
      return RG_ECONFIG;
    }
  if (!word_in(c->policy_record_state, "DATA END-OF-MESSAGE none") ||
      strchr(c->policy_record_state, ' ')) {
    snprintf(err, errlen, "policy.record_state: '%s' is not DATA, END-OF-MESSAGE or none",
             c->policy_record_state);
    return RG_ECONFIG;
  }
  for (const char *h = c->policy_header; *h; h++)
    if (*h <= ' ' || *h == ':' || *h > '~') {
      snprintf(err, errlen, "policy.header: '%s' is not a header field name", c->policy_header);
      return RG_ECONFIG;
    }
  if (!c->policy_header[0]) {
    snprintf(err, errlen, "policy.header is empty");
    return RG_ECONFIG;
  }
  if (c->policy_listen[0]) {
    char host[80];
    unsigned port;
    if (rg_config_split_host_port(c->policy_listen, host, sizeof host, &port) != RG_OK) {
      snprintf(err, errlen, "policy.listen: '%s' is not host:port (or [v6]:port)",
               c->policy_listen);
      return RG_ECONFIG;
    }
    if (!rg_config_is_loopback(host)) {
      snprintf(err, errlen,
               "policy.listen: %s is not a loopback address: the policy protocol has no "
               "authentication and records what it is told, so it listens on loopback or "
               "policy.unix only",
               host);
      return RG_ECONFIG;
    }
  }
  return RG_OK;
}

/* A stream or node name: what NATS takes in subject tokens and consumer names. */
static int name_ok(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_') return 0;
  return 1;
}

#define RG_STREAM_MIN_AGE_S 120 /* JetStream's default duplicate window */

/* The cluster.* rules (only with cluster.enabled): a node name, a stream name, NATS URLs,
 * and no front door that writes around the log. */
static int validate_cluster(const rg_config_t *c, char *err, size_t errlen) {
  if (!c->cluster_enabled) return RG_OK;
  if (!name_ok(c->cluster_node)) {
    snprintf(err, errlen, "cluster.node: '%s' must be set to letters, digits, - and _",
             c->cluster_node);
    return RG_ECONFIG;
  }
  if (!name_ok(c->cluster_stream)) {
    snprintf(err, errlen, "cluster.stream: '%s' is not letters, digits, - and _",
             c->cluster_stream);
    return RG_ECONFIG;
  }
  if (!c->cluster_nats[0]) {
    snprintf(err, errlen, "cluster.nats is empty");
    return RG_ECONFIG;
  }
  if (c->wal_enabled) {
    snprintf(err, errlen,
             "cluster.enabled with wal.enabled: the stream is the log in cluster mode; set "
             "wal.enabled=0");
    return RG_ECONFIG;
  }
  if (c->policy_listen[0] || c->policy_unix[0]) {
    snprintf(err, errlen,
             "cluster.enabled with the policy listener: its observations would not go "
             "through the log (not built yet); run the policy service off");
    return RG_ECONFIG;
  }
  if ((c->cluster_stream_max_age_s || c->cluster_stream_max_bytes) &&
      !c->cluster_snapshot_interval_s) {
    snprintf(err, errlen,
             "cluster.stream_max_age or cluster.stream_max_bytes with cluster.snapshot_interval "
             "0: the stream would drop entries no snapshot covers, and a replica behind them "
             "could never catch up; set cluster.snapshot_interval");
    return RG_ECONFIG;
  }
  if (c->cluster_stream_max_age_s && c->cluster_stream_max_age_s < RG_STREAM_MIN_AGE_S) {
    snprintf(err, errlen,
             "cluster.stream_max_age (%" PRIu64 "s) must be 0 or at least %ds: JetStream's "
             "duplicate window (2 min), in which a resent write is stored once, must fit in it",
             c->cluster_stream_max_age_s, RG_STREAM_MIN_AGE_S);
    return RG_ECONFIG;
  }
  if (c->cluster_stream_max_age_s &&
      c->cluster_snapshot_interval_s >= c->cluster_stream_max_age_s) {
    snprintf(err, errlen,
             "cluster.snapshot_interval (%" PRIu64 "s) must be shorter than "
             "cluster.stream_max_age (%" PRIu64 "s): snapshots must cover what the stream drops",
             c->cluster_snapshot_interval_s, c->cluster_stream_max_age_s);
    return RG_ECONFIG;
  }
  if (c->retention_edges_s || c->retention_labels_s) {
    snprintf(err, errlen,
             "cluster.enabled with retention.edges or retention.labels: each replica would "
             "expire on its own clock, around the log (not built yet); set them to 0");
    return RG_ECONFIG;
  }
  return RG_OK;
}

int rg_config_split_host_port(const char *text, char *host, size_t cap, unsigned *port) {
  const char *colon = strrchr(text, ':');
  if (!colon || colon == text) return RG_ECONFIG;
  const char *h = text;
  size_t n = (size_t)(colon - text);
  if (h[0] == '[') {
    if (n < 2 || h[n - 1] != ']') return RG_ECONFIG;
    h++, n -= 2;
  } else if (memchr(h, ':', n)) {
    return RG_ECONFIG; /* a v6 address needs brackets */
  }
  if (n == 0 || n >= cap) return RG_ECONFIG;
  char *end;
  errno = 0;
  unsigned long p = strtoul(colon + 1, &end, 10);
  if (errno || end == colon + 1 || *end || p == 0 || p > 65535) return RG_ECONFIG;
  memcpy(host, h, n);
  host[n] = '\0';
  *port = (unsigned)p;
  return RG_OK;
}

int rg_config_validate(const rg_config_t *c, char *err, size_t errlen) {
  rg_log_level_t level;
  if (rg_log_level_parse(c->log_level, &level) != RG_OK) {
    snprintf(err, errlen, "server.log_level: '%s' is not error, warn, info or debug", c->log_level);
    return RG_ECONFIG;
  }
  if (c->map_size_bytes > c->map_max_bytes) {
    snprintf(err, errlen, "store.map_size is larger than store.map_max");
    return RG_ECONFIG;
  }
  if (!(c->band_good < c->band_suspicious && c->band_suspicious <= c->band_bad)) {
    snprintf(err, errlen, "score bands must satisfy band_good < band_suspicious <= band_bad");
    return RG_ECONFIG;
  }
  if (!(c->check_tempfail <= c->check_quarantine && c->check_quarantine <= c->check_reject)) {
    snprintf(err, errlen, "check thresholds must satisfy tempfail <= quarantine <= reject");
    return RG_ECONFIG;
  }
  if (!(c->check_tempfail_fpr > 0 && c->check_quarantine_fpr > 0 && c->check_reject_fpr > 0 &&
        c->check_tempfail_fpr <= 0.5 && c->check_quarantine_fpr <= 0.5 &&
        c->check_reject_fpr <= 0.5)) {
    snprintf(err, errlen, "check.tempfail_fpr, quarantine_fpr and reject_fpr must be in (0, 0.5]");
    return RG_ECONFIG;
  }
  if (c->check_holdout_share > 0.5) {
    snprintf(err, errlen, "check.holdout_share must be at most 0.5");
    return RG_ECONFIG;
  }
  if (!c->data_dir[0]) {
    snprintf(err, errlen, "store.data_dir is empty");
    return RG_ECONFIG;
  }
  if ((c->tls_key[0] || c->tls_client_ca[0]) && !c->tls_cert[0]) {
    snprintf(err, errlen, "%s is set but tls.cert is not: TLS needs the server's certificate",
             c->tls_key[0] ? "tls.key" : "tls.client_ca");
    return RG_ECONFIG;
  }
  if (c->tls_cert[0] && c->port == 0) {
    snprintf(err, errlen, "tls.cert is set but server.port is 0: TLS is for the TCP listener");
    return RG_ECONFIG;
  }
  if (strcmp(c->tls_min_version, "TLS1.2") != 0 && strcmp(c->tls_min_version, "TLS1.3") != 0) {
    snprintf(err, errlen, "tls.min_version: '%s' is not TLS1.2 or TLS1.3", c->tls_min_version);
    return RG_ECONFIG;
  }
  /* Beyond loopback a client must prove who it is: a token, or a certificate the CA signed. */
  if (c->port && !rg_config_is_loopback(c->listen_host) && !c->key_file[0] &&
      !(c->tls_cert[0] && c->tls_client_ca[0])) {
    snprintf(err, errlen,
             "server.listen is %s, not a loopback address: anyone who can reach that port could "
             "read, ingest, relabel and forget actors, so listening there requires "
             "authentication: set auth.key_file, or tls.cert with tls.client_ca (clients then "
             "need a certificate) (see README, Security), or listen on 127.0.0.1%s",
             c->listen_host,
             c->tls_cert[0] ? "; TLS without tls.client_ca encrypts but lets anyone in" : "");
    return RG_ECONFIG;
  }
  if (c->key_file[0] && c->frame_timeout_s == 0) {
    snprintf(err, errlen,
             "limits.frame_timeout is 0 but auth.key_file is set: a client could start a frame "
             "and never finish it, holding a connection slot for ever; set a frame timeout "
             "(e.g. 30s)");
    return RG_ECONFIG;
  }
  if (strcmp(c->check_mode, "enforce") != 0 && strcmp(c->check_mode, "observe") != 0) {
    snprintf(err, errlen, "check.mode: '%s' is not enforce or observe", c->check_mode);
    return RG_ECONFIG;
  }
  if (strcmp(c->reference_time, "newest") != 0 && strcmp(c->reference_time, "now") != 0) {
    snprintf(err, errlen, "graph.reference_time: '%s' is not newest or now", c->reference_time);
    return RG_ECONFIG;
  }
  for (const char *p = c->subaddress_sep; *p; p++) {
    if (*p == '@' || *p == '"' || *p == '\\' || (unsigned char)*p <= 0x20 ||
        (unsigned char)*p >= 0x7f) {
      snprintf(err, errlen, "actor.subaddress_separators: '%c' cannot separate a tag", *p);
      return RG_ECONFIG;
    }
  }
  if (validate_policy(c, err, errlen) != RG_OK) return RG_ECONFIG;
  if (c->pseudonymise != (c->pseudonym_key_file[0] != '\0')) {
    snprintf(err, errlen, c->pseudonymise
                              ? "store.pseudonymise = 1 needs store.pseudonym_key_file"
                              : "store.pseudonym_key_file is set but store.pseudonymise is 0");
    return RG_ECONFIG;
  }
  if (c->metrics_listen[0]) {
    char host[80];
    unsigned char a[16];
    unsigned port;
    if (rg_config_split_host_port(c->metrics_listen, host, sizeof host, &port) != RG_OK ||
        (inet_pton(AF_INET, host, a) != 1 && inet_pton(AF_INET6, host, a) != 1)) {
      snprintf(err, errlen, "metrics.listen: '%s' is not IP:port (or [v6]:port)",
               c->metrics_listen);
      return RG_ECONFIG;
    }
  }
  if (strcmp(c->log_format, "logfmt") != 0 && strcmp(c->log_format, "json") != 0) {
    snprintf(err, errlen, "log.format: '%s' is not logfmt or json", c->log_format);
    return RG_ECONFIG;
  }
  if (validate_cluster(c, err, errlen) != RG_OK) return RG_ECONFIG;
  if (c->port == 0 && strcmp(c->unix_socket, "none") == 0) {
    snprintf(err, errlen, "no listener: server.port is 0 and server.unix_socket is none");
    return RG_ECONFIG;
  }
  return RG_OK;
}

int rg_config_is_loopback(const char *host) {
  unsigned char a[16];
  static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static const unsigned char v6_loopback[16] = {[15] = 1};
  if (inet_pton(AF_INET, host, a) == 1) return a[0] == 127;
  if (inet_pton(AF_INET6, host, a) != 1) return 0;
  return memcmp(a, v6_loopback, 16) == 0 || (memcmp(a, v4_mapped, 12) == 0 && a[12] == 127);
}

const char *rg_config_unix_path(const rg_config_t *c, char *buf, size_t cap) {
  if (strcmp(c->unix_socket, "none") == 0) return NULL;
  int n = c->unix_socket[0] ? snprintf(buf, cap, "%s", c->unix_socket)
                            : snprintf(buf, cap, "%s/repgraphd.sock", c->data_dir);
  return n > 0 && (size_t)n < cap ? buf : NULL;
}

void rg_config_describe(const rg_config_t *c, void *out) {
  FILE *f = out;
  for (size_t i = 0; i < N_OPTIONS; i++) {
    const opt_t *o = &options[i];
    fprintf(f, "  %-28s default %-16s %s\n", o->name, o->def[0] ? o->def : "\"\"", o->help);
  }
  (void)c;
}

/* Options SIGHUP re-reads: logging, the verdict thresholds and check rules, the score bands
 * and label weights. Everything else (listeners, the store, limits) needs a restart. */
static int reloadable(const char *name) {
  static const char *const prefixes[] = {"server.log_level", "log.", "check.", "score.", "label."};
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
    if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0) return 1;
  return 0;
}

static size_t option_size(const opt_t *o) {
  switch (o->kind) {
    case OPT_STR: return o->str_cap;
    case OPT_U32:
    case OPT_SIZE32:
    case OPT_MODE: return sizeof(uint32_t);
    case OPT_RATIO: return sizeof(double);
    default: return sizeof(uint64_t);
  }
}

/* Appends ", name" (or "name") to list, truncating quietly. */
static void list_add(char *list, size_t cap, const char *name) {
  size_t n = strlen(list);
  if (cap > n) snprintf(list + n, cap - n, "%s%s", n ? ", " : "", name);
}

void rg_config_reload(rg_config_t *cur, const rg_config_t *next, char *applied, size_t applied_cap,
                      char *ignored, size_t ignored_cap) {
  if (applied_cap) applied[0] = '\0';
  if (ignored_cap) ignored[0] = '\0';
  for (size_t i = 0; i < N_OPTIONS; i++) {
    const opt_t *o = &options[i];
    char *to = (char *)cur + o->offset;
    const char *from = (const char *)next + o->offset;
    size_t n = option_size(o);
    if (o->kind == OPT_STR ? strcmp(to, from) == 0 : memcmp(to, from, n) == 0) continue;
    if (reloadable(o->name)) {
      memcpy(to, from, n);
      list_add(applied, applied_cap, o->name);
    } else {
      list_add(ignored, ignored_cap, o->name);
    }
  }
}

void rg_config_apply_log(const rg_config_t *c) {
  rg_log_level_t level;
  rg_log_format_t format;
  if (rg_log_level_parse(c->log_level, &level) == RG_OK) rg_log_set_level(level);
  if (rg_log_format_parse(c->log_format, &format) == RG_OK) rg_log_set_format(format);
  rg_log_set_actors(c->log_actors != 0);
  rg_log_set_request_share(c->log_requests);
}
