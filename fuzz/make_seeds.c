/* make_seeds.c — writes the fuzzers' seed corpus from the small committed seed lists:
 * fuzz/seeds/requests.ndjson (a request of every op, written as JSON) becomes framed
 * msgpack for fuzz_frame (one file per request and one pipelined stream of them all) and
 * JSON lines and bare msgpack values (as replies) for fuzz_transcode;
 * fuzz/seeds/actors.txt becomes fuzz_actor inputs (parse and normalise entry points, and
 * lines with a '~' parsed with pseudonyms accepted too);
 * fuzz/seeds/received.txt becomes fuzz_received inputs; and fuzz_genpack gets published
 * generations made here (a manifest and its chunks, whole, with a chunk missing, and with the
 * chunks out of order). Usage: make_seeds SEED_DIR CORPUS_DIR (its subdirectories frame/,
 * transcode/, actor/, received/, genpack/ must exist). Exit 0 or 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/actor.h"
#include "repgraph/err.h"
#include "repgraph/genpack.h"
#include "repgraph/transcode.h"

static int write_file(const char *dir, const char *sub, const char *name, int n, const void *data,
                      size_t len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s/%s-%d", dir, sub, name, n);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
    fprintf(stderr, "make_seeds: cannot write %s\n", path);
    return 1;
  }
  return 0;
}

static FILE *open_seed(const char *dir, const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "r");
  if (!f) fprintf(stderr, "make_seeds: cannot read %s\n", path);
  return f;
}

static int requests(const char *seeds, const char *out) {
  FILE *in = open_seed(seeds, "requests.ndjson");
  if (!in) return 1;
  char line[8192], err[200];
  rg_buf_t stream;
  rg_buf_init(&stream, 0);
  int n = 0, rc = 0;
  while (!rc && fgets(line, sizeof line, in)) {
    size_t len = strcspn(line, "\n");
    if (!len) continue;
    rg_json_t *j;
    if (rg_json_parse(line, len, &j, err, sizeof err)) {
      fprintf(stderr, "make_seeds: requests.ndjson: %s\n", err);
      rc = 1;
      break;
    }
    rg_buf_t frame;
    rg_buf_init(&frame, 0);
    rg_wr_t w;
    rg_wr_begin(&w, &frame);
    rg_json_write_msgpack(j, &w);
    rc = rg_wr_end(&w) || rg_buf_append(&stream, frame.data, frame.len);
    rg_json_free(j);
    n++;
    if (!rc) rc = write_file(out, "frame", "request", n, frame.data, frame.len);
    if (!rc) rc = write_file(out, "transcode", "line", n, line, len);
    /* and as a reply: the bare msgpack value, without the frame's length */
    if (!rc && frame.len > 4)
      rc = write_file(out, "transcode", "value", n, frame.data + 4, frame.len - 4);
    rg_buf_free(&frame);
  }
  if (!rc) rc = write_file(out, "frame", "pipelined", n, stream.data, stream.len);
  /* A lookup reply echoing bytes that are not UTF-8, and a NaN. */
  static const char echo[] =
      "\x82\xa2id\x01\xa7results\x91\x82\xa5"
      "actor"
      "\xa4"
      "a\xff\\b"
      "\xa1"
      "x"
      "\xcb\x7f\xf8\0\0\0\0\0\0";
  if (!rc) rc = write_file(out, "transcode", "reply", 1, echo, sizeof echo - 1);
  rg_buf_free(&stream);
  fclose(in);
  return rc;
}

static int actors(const char *seeds, const char *out) {
  FILE *in = open_seed(seeds, "actors.txt");
  if (!in) return 1;
  char line[1024], input[1024];
  int n = 0, rc = 0;
  while (!rc && fgets(line, sizeof line, in)) {
    size_t len = strcspn(line, "\n");
    char *colon = memchr(line, ':', len);
    rg_actor_type_t type;
    if (!len || !colon) continue;
    input[0] = 0; /* rg_actor_parse of the whole text */
    memcpy(input + 1, line, len);
    rc = write_file(out, "actor", "parse", ++n, input, len + 1);
    if (!rc && rg_actor_type_parse(line, (size_t)(colon - line), &type) == RG_OK) {
      size_t ident = len - (size_t)(colon + 1 - line);
      input[0] = (char)type; /* rg_actor_normalize of the identifier as that type */
      memcpy(input + 1, colon + 1, ident);
      rc = write_file(out, "actor", "normalize", n, input, ident + 1);
    }
    if (!rc && memchr(line, RG_ACTOR_PSEUDONYM_MARK, len)) { /* parsed with pseudonyms on */
      input[0] = (char)(16 * (RG_ACTOR_TYPE_MAX + 1));
      memcpy(input + 1, line, len);
      rc = write_file(out, "actor", "pseudonym", n, input, len + 1);
    }
  }
  fclose(in);
  return rc;
}

/* fuzz/seeds/received.txt (headers separated by "%%" lines) becomes fuzz_received inputs:
 * each header alone (no trusted list) and all of them as one chain under a trusted list. */
static int received(const char *seeds, const char *out) {
  FILE *in = open_seed(seeds, "received.txt");
  if (!in) return 1;
  rg_buf_t one, chain;
  rg_buf_init(&one, 0);
  rg_buf_init(&chain, 0);
  static const char trusted[] = "10.0.0.0/8 192.168. !10.0.1.5 [2001:db8::]/32";
  int rc = rg_buf_append(&chain, trusted, sizeof trusted), n = 0; /* with its NUL */
  rc = rc || rg_buf_append(&one, "", 1);
  char line[4096];
  bool more = true;
  while (!rc && more) {
    more = fgets(line, sizeof line, in) != NULL;
    if (more && strcmp(line, "%%\n") != 0) {
      rc = rg_buf_append(&one, line, strlen(line));
      continue;
    }
    if (one.len > 1) {
      size_t len = one.len;
      if (one.data[len - 1] == '\n') len--; /* the field body ends before its line break */
      rc = write_file(out, "received", "header", ++n, one.data, len);
      if (!rc && chain.len > sizeof trusted) rc = rg_buf_append(&chain, "", 1);
      if (!rc) rc = rg_buf_append(&chain, one.data + 1, len - 1);
    }
    one.len = 1;
  }
  if (!rc) rc = write_file(out, "received", "chain", n, chain.data, chain.len);
  rg_buf_free(&one);
  rg_buf_free(&chain);
  fclose(in);
  return rc;
}

/* A pack of a few rows in chunks of 40 bytes, as fuzz_genpack reads it: the manifest, then
 * each chunk (in `order`, skipping index `skip`) with its 2-byte length. */
static int genpack_seed(const char *out, int n, const int *order, int skip) {
  rg_genpack_t *p;
  rg_genpack_manifest_t m;
  if (rg_genpack_new(7, 1234, 3, &p)) return 1;
  static const char *const keys[] = {"score-1", "score-2", "cluster-1"};
  for (int i = 0; i < 3; i++)
    if (rg_genpack_add(p, (uint8_t)(i + 1), keys[i], strlen(keys[i]), "value-of-a-row", 14)) {
      rg_genpack_free(p);
      return 1;
    }
  uint8_t buf[4096];
  size_t len = RG_GENPACK_MANIFEST_LEN;
  int rc = rg_genpack_seal(p, 40, &m);
  if (!rc) rg_genpack_manifest_encode(&m, buf);
  for (uint32_t k = 0; !rc && k < m.chunks; k++) {
    uint32_t i = order ? (uint32_t)order[k % 10] % m.chunks : k;
    const uint8_t *c;
    size_t clen;
    if ((int)i == skip) continue;
    if ((rc = rg_genpack_chunk(p, i, &c, &clen)) || len + 2 + clen > sizeof buf) break;
    buf[len++] = (uint8_t)(clen >> 8), buf[len++] = (uint8_t)clen;
    memcpy(buf + len, c, clen), len += clen;
  }
  rg_genpack_free(p);
  return rc || write_file(out, "genpack", "pack", n, buf, len);
}

static int genpacks(const char *out) {
  static const int reversed[] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
  return genpack_seed(out, 0, NULL, -1) || genpack_seed(out, 1, NULL, 1) ||
         genpack_seed(out, 2, reversed, -1);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: make_seeds SEED_DIR CORPUS_DIR\n");
    return 1;
  }
  return requests(argv[1], argv[2]) || actors(argv[1], argv[2]) || received(argv[1], argv[2]) ||
         genpacks(argv[2]);
}
