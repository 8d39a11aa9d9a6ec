/* buf.h — a growable byte buffer with a hard cap, for socket input/output and encoding.
 * Not thread-safe: one owner at a time. */
#ifndef RG_BUF_H
#define RG_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint8_t *data; /* owned; valid bytes are data[0..len) */
  size_t len;
  size_t cap;
  size_t max; /* hard cap on len; 0 means SIZE_MAX */
} rg_buf_t;

/* Initialises an empty buffer that will never hold more than `max` bytes (0 = no cap). */
void rg_buf_init(rg_buf_t *b, size_t max);

/* Makes room for `extra` more bytes. 0 on success, RG_ETOO_LARGE if len + extra would pass
 * the cap, RG_ENOMEM if allocation fails. Pointers into data are invalidated. */
int rg_buf_reserve(rg_buf_t *b, size_t extra);

/* Appends n bytes. Same errors as rg_buf_reserve; on error the buffer is unchanged. */
int rg_buf_append(rg_buf_t *b, const void *p, size_t n);

/* Drops the first n bytes (n <= len), moving the rest to the front. */
void rg_buf_consume(rg_buf_t *b, size_t n);

/* Empties the buffer and, if it grew past `keep` bytes of capacity, gives memory back. */
void rg_buf_reset(rg_buf_t *b, size_t keep);

/* Frees the storage; the buffer is empty and reusable afterwards. Accepts NULL. */
void rg_buf_free(rg_buf_t *b);

/* Big-endian integer helpers for keys and frame headers. */
void rg_put_u16be(uint8_t *p, uint16_t v);
void rg_put_u32be(uint8_t *p, uint32_t v);
void rg_put_u64be(uint8_t *p, uint64_t v);
uint16_t rg_get_u16be(const uint8_t *p);
uint32_t rg_get_u32be(const uint8_t *p);
uint64_t rg_get_u64be(const uint8_t *p);

#endif
