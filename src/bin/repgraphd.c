/* repgraphd.c — the server's main: options (command line over config file over defaults),
 * logging, then rg_server_run until SIGINT/SIGTERM; SIGHUP re-reads the file and the same
 * command line (rg_server_reload). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/config.h"
#include "repgraph/err.h"
#include "repgraph/log.h"
#include "repgraph/server.h"
#include "repgraph/store.h"

static void usage(FILE *f) {
  rg_config_t defaults;
  rg_config_defaults(&defaults);
  fprintf(f,
          "usage: repgraphd [options]\n"
          "The repgraph server: ingests mail graph edges into an LMDB store and answers\n"
          "reputation lookups over msgpack frames (TCP and a Unix socket).\n\n"
          "  -c, --config FILE     read an INI file (see ops/repgraphd.conf.example)\n"
          "  -d, --data DIR        store.data_dir\n"
          "  -l, --listen ADDR     server.listen (TCP address; loopback by default)\n"
          "  -p, --port N          server.port (0 disables TCP; default %d)\n"
          "  -u, --unix PATH       server.unix_socket (\"none\" disables it)\n"
          "  -s, --set KEY=VALUE   any option below, e.g. --set limits.max_frame_bytes=1M\n"
          "  -v, --log-level LEVEL server.log_level\n"
          "  -r, --restore DIR     restore the backup in DIR (repgraph backup) into\n"
          "                        store.data_dir, which must be missing or empty, check it\n"
          "                        and exit; then start repgraphd as usual\n"
          "  -h, --help            this text\n"
          "  -V, --version         print the version\n\n"
          "Options (INI section.key, default, meaning):\n",
          RG_DEFAULT_PORT);
  rg_config_describe(&defaults, f);
}

/* The command line, kept so that SIGHUP rebuilds the configuration the same way: defaults,
 * then the config file, then the options given on the command line, in their order. */
typedef struct {
  const char *config_file; /* NULL: none */
  int n;
  const char *name[256];
  const char *value[256];
} args_t;

/* Builds the configuration from args into *cfg and validates it. 0 or RG_ECONFIG / RG_EIO
 * with a message in err. */
static int build_config(void *ctx, rg_config_t *cfg, char *err, size_t errlen) {
  const args_t *a = ctx;
  rg_config_defaults(cfg);
  int rc = a->config_file ? rg_config_load_file(cfg, a->config_file, err, errlen) : RG_OK;
  for (int i = 0; i < a->n && !rc; i++) rc = rg_config_set(cfg, a->name[i], a->value[i], err, errlen);
  if (!rc) rc = rg_config_validate(cfg, err, errlen);
  return rc;
}

/* --restore: the backup into the data directory, then opened as the server would (schema
 * check and upgrade) and its counts compared with the manifest. 0 or 1, having said why. */
static int restore_backup(const rg_config_t *cfg, const char *from) {
  char err[512];
  rg_backup_manifest_t m;
  rg_store_counts_t c;
  rg_store_t *s = NULL;
  rg_txn_t *t = NULL;
  int rc = rg_store_restore(from, cfg->data_dir, &m, err, sizeof err);
  if (rc) {
    fprintf(stderr, "repgraphd: restore: %s\n", err);
    return 1;
  }
  rg_pseudonym_t *key = NULL; /* a pseudonymised store opens with its key only */
  if (cfg->pseudonymise &&
      (rc = rg_pseudonym_load(cfg->pseudonym_key_file, &key, err, sizeof err))) {
    fprintf(stderr, "repgraphd: restore: %s\n", err);
    return 1;
  }
  rg_store_opts_t so = {cfg->data_dir, cfg->map_size_bytes, cfg->map_max_bytes,
                        (double)cfg->half_life_s, key};
  rc = rg_store_open(&so, &s, err, sizeof err);
  if (rc) {
    rg_pseudonym_free(key);
    fprintf(stderr, "repgraphd: restore: the restored store does not open: %s\n", err);
    return 1;
  }
  if (!(rc = rg_store_read_begin(s, &t))) rc = rg_store_counts(t, &c);
  rg_store_end(t);
  rg_store_close(s);
  rg_pseudonym_free(key);
  if (rc || memcmp(&c, &m.counts, sizeof c) != 0) {
    fprintf(stderr, "repgraphd: restore: the restored store's counts differ from %s's manifest\n",
            from);
    return 1;
  }
  uint64_t actors = 0, edges = 0;
  for (int ty = RG_ACTOR_TYPE_MIN; ty <= RG_ACTOR_TYPE_MAX; ty++) actors += c.actors[ty];
  for (int k = 0; k < RG_EDGE_KIND_COUNT; k++) edges += c.edges[k];
  printf(
      "restored %s into %s: schema %llu, generation %llu, %llu actors, %llu edges, "
      "%llu labels, %llu bytes (BLAKE2b-256 %s)\n",
      from, cfg->data_dir, (unsigned long long)m.schema_version, (unsigned long long)m.generation,
      (unsigned long long)actors, (unsigned long long)edges, (unsigned long long)c.labels,
      (unsigned long long)m.data_bytes, m.checksum);
  return 0;
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                           {"data", required_argument, NULL, 'd'},
                                           {"listen", required_argument, NULL, 'l'},
                                           {"port", required_argument, NULL, 'p'},
                                           {"unix", required_argument, NULL, 'u'},
                                           {"set", required_argument, NULL, 's'},
                                           {"log-level", required_argument, NULL, 'v'},
                                           {"help", no_argument, NULL, 'h'},
                                           {"version", no_argument, NULL, 'V'},
                                           {"restore", required_argument, NULL, 'r'},
                                           {NULL, 0, NULL, 0}};
  static const char *const names[128] = {['d'] = "store.data_dir",
                                         ['l'] = "server.listen",
                                         ['p'] = "server.port",
                                         ['u'] = "server.unix_socket",
                                         ['v'] = "server.log_level"};
  static args_t args;
  rg_config_t cfg;
  char err[512];
  const char *restore = NULL;

  int opt;
  while ((opt = getopt_long(argc, argv, "c:d:l:p:u:s:v:r:hV", longopts, NULL)) != -1) {
    if (opt == 'h') {
      usage(stdout);
      return 0;
    }
    if (opt == 'V') {
      printf("repgraphd %s\n", RG_VERSION);
      return 0;
    }
    if (opt == '?') {
      usage(stderr);
      return 2;
    }
    if (opt == 'c') {
      args.config_file = optarg;
      continue;
    }
    if (args.n == (int)(sizeof args.name / sizeof args.name[0])) {
      fprintf(stderr, "repgraphd: too many options\n");
      return 2;
    }
    if (opt == 's') {
      char *eq = strchr(optarg, '=');
      if (!eq) {
        fprintf(stderr, "repgraphd: --set needs KEY=VALUE, got '%s'\n", optarg);
        return 2;
      }
      *eq = '\0';
      args.name[args.n] = optarg;
      args.value[args.n++] = eq + 1;
    } else if (opt == 'r') {
      restore = optarg;
    } else if (opt > 0 && opt < 128 && names[opt]) {
      args.name[args.n] = names[opt];
      args.value[args.n++] = optarg;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "repgraphd: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (build_config(&args, &cfg, err, sizeof err) != RG_OK) {
    fprintf(stderr, "repgraphd: %s\n", err);
    return 2;
  }
  rg_config_apply_log(&cfg);
  signal(SIGPIPE, SIG_IGN);
  if (restore) return restore_backup(&cfg, restore);

  uv_loop_t *loop = uv_default_loop();
  rg_server_t *srv;
  int rc = rg_server_open(&cfg, loop, &srv, err, sizeof err);
  if (rc) {
    rg_log_error("cannot start: %s", err);
    return 1;
  }
  rg_server_set_reload(srv, build_config, &args);
  rg_log_info("repgraphd %s serving store %s", RG_VERSION, cfg.data_dir);
  rg_server_run(srv);
  rg_server_close(srv);
  uv_loop_close(loop);
  return 0;
}
