/* cli.c — what every command of the repgraph client shares: the connection (with its auth
 * token), one request's round trip, printing a reply, and starting a request frame. Main
 * thread of the client. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"

/* Sends {op: auth, token} as the connection's first request. 0, EXIT_REJECTED when the
 * server refuses the token, EXIT_UNREACHABLE when it does not answer. */
static int authenticate(cli_t *cli) {
  rg_buf_t frame;
  rg_wr_t w;
  rg_json_t *reply = NULL;
  rg_buf_init(&frame, 0);
  /* Room for the whole frame up front: no realloc leaves a copy of the token behind. */
  if (rg_buf_reserve(&frame, strlen(cli->token) + 64) != RG_OK) {
    fprintf(stderr, "repgraph: out of memory for the auth request\n");
    return EXIT_USAGE;
  }
  rg__cli_begin(cli, &w, &frame, "auth", 1);
  rg_wr_str(&w, "token"), rg_wr_str(&w, cli->token);
  int rc = rg_wr_end(&w) ? EXIT_USAGE : rg__cli_roundtrip(cli, &frame, &reply);
  const rg_json_t *error = rg_json_get(reply, "error");
  if (!rc && error) {
    fprintf(stderr, "repgraph: authentication refused: %s: %s\n",
            rg_json_str(rg_json_get(error, "code")), rg_json_str(rg_json_get(error, "message")));
    rc = EXIT_REJECTED;
  }
  rg_json_free(reply);
  explicit_bzero(frame.data, frame.cap);
  rg_buf_free(&frame);
  return rc;
}

int rg__cli_set_token(cli_t *cli, const char *token) {
  if (cli->token) explicit_bzero(cli->token, strlen(cli->token));
  free(cli->token);
  cli->token = token ? strdup(token) : NULL;
  if (token && !cli->token) {
    fprintf(stderr, "repgraph: out of memory for the token\n");
    return EXIT_USAGE;
  }
  return 0;
}

int rg__cli_connect(cli_t *cli) {
  char err[256];
  if (cli->conn) return 0;
  int rc = cli->tls && !cli->unix_path
               ? rg_client_connect_tls(cli->host, cli->port, cli->timeout_ms, &cli->tls_opts,
                                       &cli->conn, err, sizeof err)
               : rg_client_connect(cli->host, cli->port, cli->unix_path, cli->timeout_ms,
                                   &cli->conn, err, sizeof err);
  if (rc != RG_OK) {
    fprintf(stderr, "repgraph: %s\n", err);
    return EXIT_UNREACHABLE;
  }
  return cli->token ? authenticate(cli) : 0;
}

int rg__cli_read_token_file(cli_t *cli, const char *path) {
  FILE *f = fopen(path, "r");
  size_t cap = 0;
  ssize_t n = f ? getline(&cli->token, &cap, f) : -1;
  if (f) fclose(f);
  if (n <= 0) {
    free(cli->token); /* getline may have allocated it */
    cli->token = NULL;
    fprintf(stderr, "repgraph: %s: cannot read a token\n", path);
    return EXIT_USAGE;
  }
  while (n > 0 && strchr(" \t\r\n", cli->token[n - 1])) cli->token[--n] = '\0';
  return 0;
}

int rg__cli_roundtrip(cli_t *cli, rg_buf_t *frame, rg_json_t **reply) {
  rg_buf_t body;
  rg_buf_init(&body, 0);
  int rc = rg_client_send(cli->conn, frame->data, frame->len);
  if (!rc) rc = rg_client_recv(cli->conn, &body, RG__CLI_REPLY_MAX);
  if (!rc) rc = rg_json_from_msgpack(body.data, body.len, reply);
  rg_buf_free(&body);
  const char *tls = rc ? rg_client_tls_error(cli->conn) : "";
  if (rc)
    fprintf(stderr, "repgraph: no reply from server: %s%s%s\n", rg_strerror(rc),
            tls[0] ? ": TLS: " : "", tls);
  return rc ? EXIT_UNREACHABLE : 0;
}

int rg__cli_print(cli_t *cli, const rg_json_t *reply) {
  const rg_json_t *error = rg_json_get(reply, "error");
  rg_buf_t out;
  rg_buf_init(&out, 0);
  int rc = RG_OK;
  if (cli->json) {
    rc = rg_json_dump(reply, false, &out);
    if (!rc) rc = rg_buf_append(&out, "\n", 1);
  } else if (!error) {
    rc = rg_json_text(reply, &out);
  }
  bool written = !rc && (!out.len || fwrite(out.data, 1, out.len, stdout) == out.len);
  rg_buf_free(&out);
  if (rc || !written || fflush(stdout)) {
    fprintf(stderr, "repgraph: cannot print the reply: %s\n",
            rc ? rg_strerror(rc) : strerror(errno));
    clearerr(stdout); /* said once */
    return EXIT_REJECTED;
  }
  if (error) {
    fprintf(stderr, "repgraph: error %s: %s\n", rg_json_str(rg_json_get(error, "code")),
            rg_json_str(rg_json_get(error, "message")));
    return EXIT_REJECTED;
  }
  return 0;
}

int rg__cli_finish_output(int rc) {
  if (fflush(stdout) == 0 && !ferror(stdout)) return rc;
  fprintf(stderr, "repgraph: cannot write the output: %s\n",
          errno ? strerror(errno) : "write error");
  return rc > 0 ? rc : EXIT_REJECTED;
}

size_t rg__cli_parse_size(const char *s) {
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || *s == '-') return 0;
  if (*end == 'K' || *end == 'k')
    v <<= 10, end++;
  else if (*end == 'M' || *end == 'm')
    v <<= 20, end++;
  else if (*end == 'G' || *end == 'g')
    v <<= 30, end++;
  return *end ? 0 : (size_t)v;
}

void rg__cli_begin(cli_t *cli, rg_wr_t *w, rg_buf_t *frame, const char *op, uint32_t n_fields) {
  rg_wr_begin(w, frame);
  rg_wr_map(w, 2 + n_fields);
  rg_wr_str(w, "id");
  rg_wr_uint(w, ++cli->next_id);
  rg_wr_str(w, "op");
  rg_wr_str(w, op);
}

size_t rg__cli_bom_len(const char *s, size_t n) {
  return n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}

int rg__cli_max_frame(const char *text, size_t *out) {
  size_t v = rg__cli_parse_size(text);
  if (v < RG__CLI_MAX_FRAME_MIN || v > RG__CLI_MAX_FRAME_MAX) {
    fprintf(stderr,
            "repgraph: --max-frame is a size from 1K to 1G (like the server's "
            "limits.max_frame_bytes), not '%s'\n",
            text);
    return EXIT_USAGE;
  }
  *out = v;
  return 0;
}
