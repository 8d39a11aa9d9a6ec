/* config.h — the server's validated, read-only configuration. Every tunable and limit is
 * defined here once, with its unit, its default and its range; the INI file and the
 * command line both go through the same table. Load on one thread, then share read-only. */
#ifndef RG_CONFIG_H
#define RG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define RG_CONFIG_PATH_MAX 512
#define RG_DEFAULT_PORT    7411
#define RG_PROTO_DEPTH_MAX 64 /* highest limits.max_depth; the msgpack check's stack size */

typedef struct {
  char data_dir[RG_CONFIG_PATH_MAX];    /* LMDB environment directory */
  char listen_host[64];                 /* TCP address; loopback by default */
  uint32_t port;                        /* TCP port; 0 disables TCP */
  char unix_socket[RG_CONFIG_PATH_MAX]; /* "" = <data_dir>/repgraphd.sock, "none" = off */
  uint32_t unix_mode;                   /* permission bits of the Unix socket (0660) */
  char key_file[RG_CONFIG_PATH_MAX];    /* "name role token" lines; "" = no authentication */
  uint64_t auth_timeout_s;              /* with a key file: auth must arrive this soon, s */
  char log_level[16];                   /* error | warn | info | debug */
  uint64_t map_size_bytes;              /* initial LMDB map size */
  uint64_t map_max_bytes;               /* the map never grows past this: storage_full */
  uint64_t half_life_s;                 /* edge weight half-life, seconds */
  uint32_t net_prefix_v4;               /* bits of an IPv4 net actor */
  uint32_t net_prefix_v6;               /* bits of an IPv6 net actor */
  uint32_t max_frame_bytes;             /* largest accepted request frame */
  uint32_t max_batch_items;             /* edges+observations+labels+actors per request */
  uint32_t max_recipients;              /* recipients per observation */
  uint32_t max_connections;             /* concurrent client connections */
  uint64_t max_output_bytes;            /* queued reply bytes per connection before drop;
                                           past half of it the connection is not read */
  uint64_t output_stall_s;              /* above that half with no write progress: drop, s */
  uint32_t max_pending_writes;          /* queued writes per connection before it pauses */
  uint32_t max_page_items;              /* rows in one reply of the analyst reads */
  uint32_t max_scan_edges;              /* edges an export page / a neighbors step reads */
  uint32_t max_label_cluster;           /* members label_cluster labels at most */
  double cluster_min_reputation;
  char check_mode[16];          /* enforce | observe */
  uint32_t check_shared_users;  /* senders from which infrastructure counts as shared */        /* label_cluster skips members scored on the other side */
  uint32_t max_scan_clusters;           /* clusters one clusters request reads */
  uint32_t write_slice_edges;           /* a larger ingest commits in slices of this size */
  uint64_t idle_timeout_s;              /* close connections idle this long; 0 = never */
  uint64_t evict_idle_s;                /* at the limit, the longest idle this long gives way */
  uint64_t frame_timeout_s;             /* a started frame must be complete within; 0 = never */
  uint32_t max_depth;                   /* msgpack container nesting in a request */
  uint32_t max_string_bytes;            /* longest string field (notes, tokens) */
  uint32_t commit_max_requests;         /* write requests grouped into one commit */
  uint64_t recompute_interval_s;        /* timer; 0 = only on request */
  uint32_t recompute_seed;              /* RNG seed of community detection */
  uint32_t min_messages;                /* less evidence than this: band neutral */
  uint64_t min_age_s;                   /* younger than this: band neutral */
  double band_bad, band_suspicious, band_good; /* reputation thresholds of the bands */
  double prior;                         /* reputation with no path to any label */
  double check_reject, check_quarantine, check_tempfail; /* verdict thresholds of check */
  double check_tempfail_fpr, check_quarantine_fpr, check_reject_fpr; /* false-positive budgets */
  double check_holdout_share; /* share of labelled addresses held out to estimate the rates */
  double check_min_holdout;   /* held-out good labels per unit of budget (3: rule of three) */
  double label_weight[6]; /* seed weight per label source, indexed by rg_label_source_t 1..5 */
  uint64_t max_future_skew_s; /* an item's ts further ahead of the server clock is clamped, s */
  char reference_time[16];    /* "newest" (min(now, newest actor last_seen)) or "now" */
  uint32_t fold_local_case;   /* address local parts lower-cased: Alice@ == alice@ (0/1) */
  char subaddress_sep[8];     /* "" = keep user+tag@; else strip from the first of these chars */
  char tls_cert[RG_CONFIG_PATH_MAX];      /* PEM chain: TLS on the TCP listener; "" = off */
  char tls_key[RG_CONFIG_PATH_MAX];       /* its PEM private key; "" = in tls_cert's file */
  char tls_client_ca[RG_CONFIG_PATH_MAX]; /* PEM CAs; set = clients need a cert (mutual TLS) */
  char tls_min_version[16];               /* TLS1.2 | TLS1.3 */
  char tls_ciphers[256];                  /* TLS 1.2 cipher list; "" = OpenSSL's defaults */
  /* Postfix policy listener (src/server/policy.c); off unless a listener is set */
  char policy_listen[80];               /* "host:port" (loopback); "" = off */
  char policy_unix[RG_CONFIG_PATH_MAX]; /* Unix socket path; "" = off */
  uint32_t policy_budget_ms;            /* answer within this, else DUNNO */
  char policy_mode[16];                 /* enforce | observe (PREPEND only) */
  char policy_action[4][24];            /* per check verdict: accept, tempfail, quarantine, reject */
  char policy_header[64];               /* header name PREPEND adds */
  char policy_record_state[24];         /* DATA | END-OF-MESSAGE | none */
  uint32_t policy_record_rejected;      /* 1: recipients it rejected are recorded too */
  uint32_t policy_max_line;             /* bytes of one request line */
  uint32_t policy_max_attributes;       /* attributes of one request */
  uint32_t policy_max_request;          /* bytes of one request */
  uint64_t policy_request_timeout_s;    /* a started request must be complete within, s */
  uint64_t policy_idle_timeout_s;       /* close idle policy connections; 0 = never */
  uint32_t policy_max_connections;      /* concurrent policy connections */
  uint32_t policy_max_queue;            /* writer queue depth past which observations drop */
  uint32_t offload_bytes;               /* frames this large are decoded off the loop; 0 never */
  uint32_t provisional;                 /* 1: provisional scores for actors new since the generation */
  uint32_t pseudonymise;                /* 1: identifiers stored as keyed pseudonyms */
  char pseudonym_key_file[RG_CONFIG_PATH_MAX]; /* its key (64 hex digits, mode 600/640) */
  /* metrics and logging (http_metrics.c, log.c) */
  char metrics_listen[80];          /* "host:port" of /metrics, /healthz, /readyz; "" = off */
  uint32_t metrics_ready_generation; /* 1: not ready before the first generation */
  uint32_t metrics_max_connections; /* concurrent HTTP connections */
  char log_format[16];              /* logfmt | json */
  uint32_t log_actors;              /* 1: actor identifiers above debug level too */
  double log_requests;              /* share of requests in the request log, 0..1 */
  /* retention (src/server/retention.c); 0 = keep forever */
  uint64_t retention_edges_s;        /* edges not seen this long expire */
  uint64_t retention_labels_s;       /* labels older than this are retracted */
  uint64_t retention_interval_s;     /* a sweep pass starts this often */
  uint32_t retention_slice_rows;     /* rows one sweep slice deletes at most */
  uint32_t retention_slice_pause_ms; /* pause between two slices of a pass */
  /* the learned model (model.c) */
  uint32_t model_enabled;               /* 0/1 */
  uint32_t model_folds;                 /* k of the out-of-fold walks and training */
  uint32_t model_min_labels;            /* per class, else the propagation is served */
  uint32_t model_rounds, model_max_depth, model_threads, model_max_train, model_explain_max;
  double model_eta, model_max_auc_drop;
  uint32_t model_block_on_drop;         /* 0/1: a flagged generation is not published */
  char model_features_out[RG_CONFIG_PATH_MAX]; /* TSV of the features; "" = none */
  uint32_t model_guard;                 /* 0/1: the extrapolation guard */
  uint32_t model_monotone;              /* 0/1: monotone constraints on the evidence features */
  uint32_t model_blend;                 /* 0/1: the larger of model and calibrated propagation */
  uint64_t lookup_cache_bytes;          /* encoded lookup results kept (lookup_cache.h); 0 = off */
  /* Cluster mode (src/server/cluster.c): writes go through a NATS JetStream stream */
  uint32_t cluster_enabled;     /* 1: writes are published to the stream and applied from it */
  char cluster_nats[512];       /* NATS server URLs, comma-separated */
  char cluster_stream[64];      /* the JetStream stream (created if missing) */
  uint32_t cluster_replicas;    /* the stream's replicas (JetStream R) */
  char cluster_node[64];        /* this replica's name: its durable consumer is rg-<node> */
  uint64_t cluster_read_wait_s; /* a write waits this long to be applied here, s */
  uint32_t cluster_max_lag;     /* stats' cluster.ready is false past this many messages */
  /* The write-ahead log of ingest (src/server/wal.c, engine_wal.c) */
  uint32_t wal_enabled;            /* 1: ingest is acknowledged after the log's fsync */
  uint32_t wal_merge_edges;        /* a merge into the store takes this many logged edges */
  uint32_t wal_merge_ms;           /* logged edges wait at most this long for a merge */
  uint32_t wal_max_unmerged_edges; /* past this, new ingests wait for a merge */
  uint64_t cluster_lease_ttl_s; /* the recompute lease's TTL, s (renewed every third) */
  uint64_t cluster_snapshot_interval_s; /* the leader's store snapshots, at most this often */
  uint64_t cluster_stream_max_age_s;    /* the stream drops entries older than this; 0 = keeps */
  uint64_t cluster_stream_max_bytes;    /* the stream drops its oldest past this; 0 = no limit */
} rg_config_t;

/* The Postfix actions a policy verdict may map to (policy.action_*). */
#define RG_POLICY_ACTIONS "DUNNO PREPEND HOLD DEFER_IF_PERMIT DEFER REJECT"

/* Fills *c with the documented defaults. */
void rg_config_defaults(rg_config_t *c);

/* Sets one option by its INI name "section.key" (e.g. "limits.max_frame_bytes") from text.
 * Sizes accept K/M/G/T suffixes (powers of 1024), durations s/m/h/d.
 * 0 on success; RG_ECONFIG with a message in err (capacity errlen) otherwise. */
int rg_config_set(rg_config_t *c, const char *name, const char *value, char *err, size_t errlen);

/* Reads an INI file into *c (unknown keys are errors). 0 on success; RG_ECONFIG or RG_EIO
 * with a message naming the file and line in err. */
int rg_config_load_file(rg_config_t *c, const char *path, char *err, size_t errlen);

/* Checks cross-field rules (e.g. initial map <= maximum; a TCP address other than loopback
 * only with auth.key_file, or with TLS that verifies clients (tls.cert + tls.client_ca)).
 * 0 or RG_ECONFIG with message. */
int rg_config_validate(const rg_config_t *c, char *err, size_t errlen);

/* The Unix socket path in effect (resolving the "" default), or NULL if disabled.
 * Writes into buf (capacity cap); returns buf or NULL. */
const char *rg_config_unix_path(const rg_config_t *c, char *buf, size_t cap);

/* Splits "host:port" or "[v6]:port" into host (capacity cap) and a port in 1..65535.
 * 0 or RG_ECONFIG. */
int rg_config_split_host_port(const char *text, char *host, size_t cap, unsigned *port);

/* True when `host` is an IP literal in 127.0.0.0/8 or ::1 (or ::ffff:127.x.y.z). */
int rg_config_is_loopback(const char *host);

/* Copies into *cur the options of *next that can change while the server runs (SIGHUP):
 * server.log_level, log.*, check.*, score.*, label.*. Names the options it copied in applied
 * and the changed ones it left (they need a restart) in ignored, comma-separated (each
 * truncated to its capacity). *next should have passed rg_config_validate. */
void rg_config_reload(rg_config_t *cur, const rg_config_t *next, char *applied, size_t applied_cap,
                      char *ignored, size_t ignored_cap);

/* Sets the logging of the process from server.log_level and log.* (rg_log_set_…). */
void rg_config_apply_log(const rg_config_t *c);

/* Writes every option as "section.key = value  # unit: help" lines to `out` (a FILE *),
 * for --help and for the example config. */
void rg_config_describe(const rg_config_t *c, void *out);

#endif
