/* repgraph_backup.c — `repgraph backup DEST`: asks the server for a consistent copy of its
 * store in the new directory DEST on the server's host (the backup op) and prints its
 * manifest. A relative DEST is made absolute against this directory, which is only right
 * when the server runs on this host. Restoring is `repgraphd --restore DEST`. */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>

#include "cli.h"

#define BACKUP_TIMEOUT_MS (6 * 3600 * 1000) /* a copy of a large store takes a while */

/* DEST as an absolute path: its parent directory resolved (it must exist), then its name. */
static int absolute_dest(const char *dest, char *out, size_t cap) {
  char a[PATH_MAX], b[PATH_MAX], parent[PATH_MAX];
  snprintf(a, sizeof a, "%s", dest);
  snprintf(b, sizeof b, "%s", dest);
  size_t n = strlen(a);
  while (n > 1 && a[n - 1] == '/') a[--n] = '\0', b[n] = '\0';
  const char *name = basename(b);
  if (!realpath(dirname(a), parent)) {
    perror(dest);
    return EXIT_USAGE;
  }
  if (!strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, "/")) {
    fprintf(stderr, "repgraph: backup: DEST must name a new directory\n");
    return EXIT_USAGE;
  }
  if ((size_t)snprintf(out, cap, "%s/%s", strcmp(parent, "/") ? parent : "", name) >= cap) {
    fprintf(stderr, "repgraph: backup: DEST is too long\n");
    return EXIT_USAGE;
  }
  return 0;
}

int rg__cmd_backup(cli_t *cli, int argc, char **argv) {
  bool repack = argc == 3 && strcmp(argv[1], "--repack") == 0;
  if (repack) argv++, argc--;
  if (argc != 2) return EXIT_USAGE;
  char path[PATH_MAX];
  int rc = argv[1][0] == '/' ? 0 : absolute_dest(argv[1], path, sizeof path);
  if (rc) return rc;
  if (argv[1][0] == '/') snprintf(path, sizeof path, "%s", argv[1]);
  if (cli->timeout_ms < BACKUP_TIMEOUT_MS) cli->timeout_ms = BACKUP_TIMEOUT_MS;
  rg_buf_t frame;
  rg_wr_t w;
  rg_json_t *reply = NULL;
  rg_buf_init(&frame, 0);
  rg__cli_begin(cli, &w, &frame, "backup", 1 + repack);
  rg_wr_str(&w, "path"), rg_wr_str(&w, path);
  if (repack) rg_wr_str(&w, "repack"), rg_wr_bool(&w, true);
  rc = rg_wr_end(&w);
  if (!rc && !(rc = rg__cli_connect(cli)) && !(rc = rg__cli_roundtrip(cli, &frame, &reply)))
    rc = rg__cli_print(cli, reply);
  rg_json_free(reply);
  rg_buf_free(&frame);
  return rc;
}
