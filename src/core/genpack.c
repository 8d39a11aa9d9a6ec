/* genpack.c — a generation as bytes (see genpack.h).
 *
 * Pack:     "RGGP", version (1), generation (u64 BE), log sequence (u64), schema (u32), then
 *           rows: table (1), key length (1), value length (u32), key, value.
 * Chunk:    version (1), generation (u64), index (u32), count (u32), offset in the pack
 *           (u64), then that part of the pack.
 * Manifest: version (1), generation, log sequence, schema, chunks (u32), total bytes (u64),
 *           first and last stream sequence (u64 each), BLAKE2b-256 of the pack (32). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "repgraph/buf.h"
#include "repgraph/err.h"
#include "repgraph/genpack.h"
#include "repgraph/grow.h"

#define PACK_HEAD 25 /* magic, version, generation, log sequence, schema */
#define ROW_HEAD  6  /* table, key length, value length */

struct rg_genpack {
  uint8_t *buf;
  size_t len, cap;
  uint64_t gen;
  uint8_t sum[RG_GENPACK_SUM_BYTES];
  uint8_t **chunks; /* sealed: each chunk, head included */
  size_t *chunk_len;
  uint32_t n_chunks;
  int sealed;
};

struct rg_genpack_reader {
  rg_genpack_manifest_t m;
  uint8_t *buf;
  uint8_t *have; /* [chunks]: chunk i taken */
  uint32_t n_have;
  int verified;
  size_t pos; /* next row */
};

static int reserve(rg_genpack_t *p, size_t more) {
  if (more > SIZE_MAX - p->len) return RG_ENOMEM;
  return rg_grow((void **)&p->buf, &p->cap, p->len + more, 1);
}

int rg_genpack_new(uint64_t gen, uint64_t log_seq, uint32_t schema, rg_genpack_t **out) {
  *out = NULL;
  rg_genpack_t *p = calloc(1, sizeof *p);
  if (!p || reserve(p, PACK_HEAD)) {
    free(p);
    return RG_ENOMEM;
  }
  memcpy(p->buf, "RGGP", 4);
  p->buf[4] = RG_GENPACK_VERSION;
  rg_put_u64be(p->buf + 5, gen);
  rg_put_u64be(p->buf + 13, log_seq);
  rg_put_u32be(p->buf + 21, schema);
  p->len = PACK_HEAD;
  p->gen = gen;
  *out = p;
  return RG_OK;
}

int rg_genpack_add(rg_genpack_t *p, uint8_t table, const void *key, size_t klen, const void *val,
                   size_t vlen) {
  if (p->sealed) return RG_EINTERNAL;
  if (klen > RG_GENPACK_MAX_KEY || vlen > RG_GENPACK_MAX_VALUE) return RG_ETOO_LARGE;
  if (reserve(p, ROW_HEAD + klen + vlen)) return RG_ENOMEM;
  uint8_t *d = p->buf + p->len;
  d[0] = table;
  d[1] = (uint8_t)klen;
  rg_put_u32be(d + 2, (uint32_t)vlen);
  if (klen) memcpy(d + ROW_HEAD, key, klen);
  if (vlen) memcpy(d + ROW_HEAD + klen, val, vlen);
  p->len += ROW_HEAD + klen + vlen;
  return RG_OK;
}

int rg_genpack_seal(rg_genpack_t *p, size_t chunk_bytes, rg_genpack_manifest_t *m) {
  if (p->sealed) return RG_EINTERNAL;
  if (!chunk_bytes) return RG_EBAD_REQUEST;
  size_t n = (p->len + chunk_bytes - 1) / chunk_bytes;
  if (n > RG_GENPACK_MAX_CHUNKS) return RG_EBAD_REQUEST;
  p->chunks = calloc(n, sizeof *p->chunks);
  p->chunk_len = calloc(n, sizeof *p->chunk_len);
  if (!p->chunks || !p->chunk_len) goto fail;
  for (size_t i = 0; i < n; i++) {
    size_t off = i * chunk_bytes, len = p->len - off < chunk_bytes ? p->len - off : chunk_bytes;
    uint8_t *c = malloc(RG_GENPACK_CHUNK_HEAD + len);
    if (!c) goto fail;
    c[0] = RG_GENPACK_VERSION;
    rg_put_u64be(c + 1, p->gen);
    rg_put_u32be(c + 9, (uint32_t)i);
    rg_put_u32be(c + 13, (uint32_t)n);
    rg_put_u64be(c + 17, off);
    memcpy(c + RG_GENPACK_CHUNK_HEAD, p->buf + off, len);
    p->chunks[i] = c;
    p->chunk_len[i] = RG_GENPACK_CHUNK_HEAD + len;
  }
  crypto_generichash(p->sum, sizeof p->sum, p->buf, p->len, NULL, 0);
  p->n_chunks = (uint32_t)n;
  p->sealed = 1;
  *m = (rg_genpack_manifest_t){.generation = p->gen,
                               .log_seq = rg_get_u64be(p->buf + 13),
                               .schema = rg_get_u32be(p->buf + 21),
                               .chunks = (uint32_t)n,
                               .total = p->len};
  memcpy(m->sum, p->sum, sizeof m->sum);
  return RG_OK;
fail:
  for (size_t i = 0; p->chunks && i < n; i++) free(p->chunks[i]);
  free(p->chunks);
  free(p->chunk_len);
  p->chunks = NULL;
  p->chunk_len = NULL;
  return RG_ENOMEM;
}

int rg_genpack_chunk(rg_genpack_t *p, uint32_t i, const uint8_t **data, size_t *len) {
  if (!p->sealed || i >= p->n_chunks) return RG_ENOT_FOUND;
  *data = p->chunks[i];
  *len = p->chunk_len[i];
  return RG_OK;
}

void rg_genpack_free(rg_genpack_t *p) {
  if (!p) return;
  for (uint32_t i = 0; p->chunks && i < p->n_chunks; i++) free(p->chunks[i]);
  free(p->chunks);
  free(p->chunk_len);
  free(p->buf);
  free(p);
}

/* ---- manifests ------------------------------------------------------------------------ */

void rg_genpack_manifest_encode(const rg_genpack_manifest_t *m,
                                uint8_t out[RG_GENPACK_MANIFEST_LEN]) {
  out[0] = RG_GENPACK_VERSION;
  rg_put_u64be(out + 1, m->generation);
  rg_put_u64be(out + 9, m->log_seq);
  rg_put_u32be(out + 17, m->schema);
  rg_put_u32be(out + 21, m->chunks);
  rg_put_u64be(out + 25, m->total);
  rg_put_u64be(out + 33, m->first_seq);
  rg_put_u64be(out + 41, m->last_seq);
  memcpy(out + 49, m->sum, RG_GENPACK_SUM_BYTES);
}

int rg_genpack_manifest_decode(const void *data, size_t len, rg_genpack_manifest_t *m) {
  const uint8_t *d = data;
  if (len != RG_GENPACK_MANIFEST_LEN || d[0] != RG_GENPACK_VERSION) return RG_EBAD_REQUEST;
  *m = (rg_genpack_manifest_t){.generation = rg_get_u64be(d + 1),
                               .log_seq = rg_get_u64be(d + 9),
                               .schema = rg_get_u32be(d + 17),
                               .chunks = rg_get_u32be(d + 21),
                               .total = rg_get_u64be(d + 25),
                               .first_seq = rg_get_u64be(d + 33),
                               .last_seq = rg_get_u64be(d + 41)};
  memcpy(m->sum, d + 49, RG_GENPACK_SUM_BYTES);
  if (!m->chunks || m->chunks > RG_GENPACK_MAX_CHUNKS) return RG_EBAD_REQUEST;
  return RG_OK;
}

/* ---- reading ---------------------------------------------------------------------------- */

int rg_genpack_reader_new(const rg_genpack_manifest_t *m, uint64_t max_total,
                          rg_genpack_reader_t **out) {
  *out = NULL;
  if (m->total < PACK_HEAD || m->total > max_total || m->total > SIZE_MAX || !m->chunks ||
      m->chunks > RG_GENPACK_MAX_CHUNKS || m->chunks > m->total)
    return RG_EBAD_REQUEST;
  rg_genpack_reader_t *r = calloc(1, sizeof *r);
  if (!r) return RG_ENOMEM;
  r->m = *m;
  r->buf = calloc(1, (size_t)m->total);
  r->have = calloc(m->chunks, 1);
  if (!r->buf || !r->have) {
    rg_genpack_reader_free(r);
    return RG_ENOMEM;
  }
  *out = r;
  return RG_OK;
}

int rg_genpack_reader_add(rg_genpack_reader_t *r, const void *chunk, size_t len) {
  const uint8_t *c = chunk;
  if (len < RG_GENPACK_CHUNK_HEAD || c[0] != RG_GENPACK_VERSION ||
      rg_get_u64be(c + 1) != r->m.generation)
    return RG_ENOT_FOUND;
  uint32_t i = rg_get_u32be(c + 9), n = rg_get_u32be(c + 13);
  uint64_t off = rg_get_u64be(c + 17), body = len - RG_GENPACK_CHUNK_HEAD;
  if (n != r->m.chunks || i >= n || off > r->m.total || body > r->m.total - off)
    return RG_EBAD_REQUEST;
  if (r->have[i]) return memcmp(r->buf + off, c + RG_GENPACK_CHUNK_HEAD, body) ? RG_EBAD_REQUEST : 0;
  memcpy(r->buf + off, c + RG_GENPACK_CHUNK_HEAD, body);
  r->have[i] = 1;
  r->n_have++;
  r->verified = 0;
  return RG_OK;
}

int rg_genpack_reader_complete(const rg_genpack_reader_t *r) {
  return r->n_have == r->m.chunks;
}

int rg_genpack_reader_verify(rg_genpack_reader_t *r, char *err, size_t errlen) {
  r->verified = 0;
  if (!rg_genpack_reader_complete(r)) {
    snprintf(err, errlen, "%u of %u chunks", r->n_have, r->m.chunks);
    return RG_ENOT_FOUND;
  }
  uint8_t sum[RG_GENPACK_SUM_BYTES];
  crypto_generichash(sum, sizeof sum, r->buf, (size_t)r->m.total, NULL, 0);
  if (sodium_memcmp(sum, r->m.sum, sizeof sum) != 0)
    return rg_fail(err, errlen, RG_EBAD_REQUEST, "checksum mismatch");
  const uint8_t *b = r->buf;
  if (memcmp(b, "RGGP", 4) || b[4] != RG_GENPACK_VERSION ||
      rg_get_u64be(b + 5) != r->m.generation || rg_get_u64be(b + 13) != r->m.log_seq ||
      rg_get_u32be(b + 21) != r->m.schema)
    return rg_fail(err, errlen, RG_EBAD_REQUEST, "header does not match the manifest");
  for (size_t pos = PACK_HEAD; pos < r->m.total;) {
    if (r->m.total - pos < ROW_HEAD)
      return rg_fail(err, errlen, RG_EBAD_REQUEST, "row cut at byte %zu", pos);
    uint64_t need = (uint64_t)ROW_HEAD + b[pos + 1] + rg_get_u32be(b + pos + 2);
    if (b[pos + 1] > RG_GENPACK_MAX_KEY || rg_get_u32be(b + pos + 2) > RG_GENPACK_MAX_VALUE ||
        need > r->m.total - pos)
      return rg_fail(err, errlen, RG_EBAD_REQUEST, "row at byte %zu does not fit", pos);
    pos += (size_t)need;
  }
  r->verified = 1;
  r->pos = PACK_HEAD;
  return RG_OK;
}

int rg_genpack_reader_next(rg_genpack_reader_t *r, uint8_t *table, const uint8_t **key,
                           size_t *klen, const uint8_t **val, size_t *vlen) {
  if (!r->verified) return RG_EBAD_REQUEST;
  if (r->pos >= r->m.total) return 0;
  const uint8_t *d = r->buf + r->pos;
  *table = d[0];
  *klen = d[1];
  *vlen = rg_get_u32be(d + 2);
  *key = d + ROW_HEAD;
  *val = d + ROW_HEAD + *klen;
  r->pos += ROW_HEAD + *klen + *vlen;
  return 1;
}

void rg_genpack_reader_rewind(rg_genpack_reader_t *r) {
  r->pos = PACK_HEAD;
}

void rg_genpack_reader_free(rg_genpack_reader_t *r) {
  if (!r) return;
  free(r->buf);
  free(r->have);
  free(r);
}
