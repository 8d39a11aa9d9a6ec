/* cli.h — what the repgraph client's command modules share: cli.c (the connection, requests
 * and replies), used by repgraph.c (main and the core commands) and repgraph_analyst.c (the
 * analysts' commands). Not a public header. */
#ifndef RG_CLI_H
#define RG_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repgraph/client.h"
#include "repgraph/proto.h"
#include "repgraph/transcode.h"

#define EXIT_REJECTED    1
#define EXIT_USAGE       2
#define EXIT_UNREACHABLE 3

#define RG__CLI_REPLY_MAX (256u << 20) /* largest reply the client accepts */

typedef struct {
  const char *host;
  unsigned port;
  const char *unix_path;
  char *token; /* authenticate with it after connecting; NULL = don't */
  bool tls;     /* TCP over TLS, verifying the server (--tls) */
  rg_client_tls_t tls_opts; /* --tls-ca, --tls-name, --tls-cert, --tls-key */
  bool json;
  int timeout_ms;
  rg_client_t *conn;
  uint64_t next_id;
} cli_t;

typedef struct {
  const char *name;
  int (*run)(cli_t *cli, int argc, char **argv);
  const char *args;
  const char *help;
} command_t;

/* Replaces cli->token with a copy of `token` (NULL: none), wiping the old one. 0 or
 * EXIT_USAGE (out of memory) with a message: never carry on unauthenticated. */
int rg__cli_set_token(cli_t *cli, const char *token);

/* Reads the token from the first line of a file (trailing whitespace dropped) into
 * cli->token. 0 or EXIT_USAGE with a message. */
int rg__cli_read_token_file(cli_t *cli, const char *path);

/* Connects (once). 0 or EXIT_UNREACHABLE after printing why. */
int rg__cli_connect(cli_t *cli);

/* Sends one framed request and decodes its reply into *reply (caller frees). 0 or
 * EXIT_UNREACHABLE after printing why. */
int rg__cli_roundtrip(cli_t *cli, rg_buf_t *frame, rg_json_t **reply);

/* Prints a reply (JSON with --json, else text) and flushes stdout; an error reply goes to
 * stderr and gives EXIT_REJECTED, as does a reply that cannot be printed (with why). */
int rg__cli_print(cli_t *cli, const rg_json_t *reply);

/* Flushes stdout at the end of a command: rc, or EXIT_REJECTED (after saying why on
 * stderr) when what was printed could not be written and rc was 0 or help (-1). */
int rg__cli_finish_output(int rc);

/* 3 when s[0..n) starts with a UTF-8 byte order mark (what some editors write at the start
 * of a file), else 0: callers skip it on an input's first line. */
size_t rg__cli_bom_len(const char *s, size_t n);

/* Parses --max-frame (a size from 1K to 1G) into *out. 0 or EXIT_USAGE with a message. */
#define RG__CLI_MAX_FRAME_MIN 1024u
#define RG__CLI_MAX_FRAME_MAX (1u << 30)
int rg__cli_max_frame(const char *text, size_t *out);

/* Sizes like 16M, 512K, 1G or plain bytes (K = 1024). 0 on a malformed value. */
size_t rg__cli_parse_size(const char *s);

/* Starts a request frame {id, op, …n_fields more}. */
void rg__cli_begin(cli_t *cli, rg_wr_t *w, rg_buf_t *frame, const char *op, uint32_t n_fields);

/* The analysts' commands (repgraph_analyst.c), for the command table. */
int rg__cmd_clusters(cli_t *cli, int argc, char **argv);
int rg__cmd_top(cli_t *cli, int argc, char **argv);
int rg__cmd_neighbors(cli_t *cli, int argc, char **argv);
int rg__cmd_export(cli_t *cli, int argc, char **argv);
int rg__cmd_label_file(cli_t *cli, const char *path, const char *source);
int rg__cmd_label_cluster(cli_t *cli, int argc, char **argv);
int rg__cmd_unlabel(cli_t *cli, int argc, char **argv);
int rg__cmd_history(cli_t *cli, int argc, char **argv);

/* backup (repgraph_backup.c). */
int rg__cmd_backup(cli_t *cli, int argc, char **argv);

/* The mail commands (repgraph_mail.c). */
int rg__cmd_ingest_mail(cli_t *cli, int argc, char **argv);
int rg__cmd_feedback(cli_t *cli, int argc, char **argv);

#endif
