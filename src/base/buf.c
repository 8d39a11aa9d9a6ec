/* buf.c — capped byte buffer and big-endian helpers. Single owner; no locking. */
#include "repgraph/buf.h"

#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"

void rg_buf_init(rg_buf_t *b, size_t max) {
  b->data = NULL;
  b->len = b->cap = 0;
  b->max = max ? max : SIZE_MAX;
}

int rg_buf_reserve(rg_buf_t *b, size_t extra) {
  if (extra > b->max - b->len) return RG_ETOO_LARGE;
  size_t need = b->len + extra;
  if (need <= b->cap) return RG_OK;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  if (cap > b->max) cap = b->max;
  uint8_t *p = realloc(b->data, cap);
  if (!p) return RG_ENOMEM;
  b->data = p;
  b->cap = cap;
  return RG_OK;
}

int rg_buf_append(rg_buf_t *b, const void *p, size_t n) {
  int rc = rg_buf_reserve(b, n);
  if (rc) return rc;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  return RG_OK;
}

void rg_buf_consume(rg_buf_t *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

void rg_buf_reset(rg_buf_t *b, size_t keep) {
  b->len = 0;
  if (b->cap > keep) {
    free(b->data);
    b->data = NULL;
    b->cap = 0;
  }
}

void rg_buf_free(rg_buf_t *b) {
  if (!b) return;
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

void rg_put_u16be(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

void rg_put_u32be(uint8_t *p, uint32_t v) {
  for (int i = 3; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

void rg_put_u64be(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

uint16_t rg_get_u16be(const uint8_t *p) {
  return (uint16_t)((p[0] << 8) | p[1]);
}

uint32_t rg_get_u32be(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

uint64_t rg_get_u64be(const uint8_t *p) {
  return ((uint64_t)rg_get_u32be(p) << 32) | rg_get_u32be(p + 4);
}
