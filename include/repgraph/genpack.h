/* genpack.h — a generation as bytes, to publish it to a cluster: a pack is a header
 * (generation, the log sequence it was computed at, the store's schema version) and a run of
 * rows (table byte, key, value), cut into numbered chunks of a bounded size, described by a
 * manifest (generation, chunk count, total bytes and a BLAKE2b-256 checksum of the whole).
 * A reader gathers chunks against a manifest and yields rows only once every chunk is in
 * and the checksum matches: a half-published or forged generation is refused as a whole.
 * Pure: no I/O, no store; any thread, one pack or reader per thread at a time. */
#ifndef RG_GENPACK_H
#define RG_GENPACK_H

#include <stddef.h>
#include <stdint.h>

#define RG_GENPACK_VERSION      1
#define RG_GENPACK_SUM_BYTES    32      /* BLAKE2b-256 */
#define RG_GENPACK_MANIFEST_LEN 81      /* version, gen, log_seq, schema, chunks, total, 2 seqs, sum */
#define RG_GENPACK_CHUNK_HEAD   25      /* version, gen, index, count, offset */
#define RG_GENPACK_MAX_KEY      64      /* a row's key, at most */
#define RG_GENPACK_MAX_VALUE    65536   /* a row's value, at most */
#define RG_GENPACK_MAX_CHUNKS   1000000 /* chunks a manifest may announce */

/* What a manifest says. first_seq, last_seq: where the chunks lie in the stream they were
 * published to (set by the publisher; the pack does not use them). */
typedef struct {
  uint64_t generation, log_seq;
  uint32_t schema;
  uint32_t chunks;
  uint64_t total;
  uint64_t first_seq, last_seq;
  uint8_t sum[RG_GENPACK_SUM_BYTES];
} rg_genpack_manifest_t;

typedef struct rg_genpack rg_genpack_t;

/* A new, empty pack of generation gen computed at log sequence log_seq by a store of
 * schema version schema. 0 with *out owned by the caller (rg_genpack_free) or RG_ENOMEM. */
int rg_genpack_new(uint64_t gen, uint64_t log_seq, uint32_t schema, rg_genpack_t **out);

/* Appends a row. 0, RG_ETOO_LARGE (a key over RG_GENPACK_MAX_KEY or a value over
 * RG_GENPACK_MAX_VALUE bytes), RG_ENOMEM. Not after rg_genpack_seal. */
int rg_genpack_add(rg_genpack_t *p, uint8_t table, const void *key, size_t klen, const void *val,
                   size_t vlen);

/* Ends the pack: computes its checksum and cuts it into chunks of at most chunk_bytes of
 * payload (plus RG_GENPACK_CHUNK_HEAD). Fills *m (first_seq, last_seq 0). 0, RG_EBAD_REQUEST
 * (chunk_bytes 0 or too many chunks), RG_ENOMEM. */
int rg_genpack_seal(rg_genpack_t *p, size_t chunk_bytes, rg_genpack_manifest_t *m);

/* Chunk i of a sealed pack: *data (valid until rg_genpack_free) and *len, head included.
 * 0 or RG_ENOT_FOUND (i out of range or not sealed). */
int rg_genpack_chunk(rg_genpack_t *p, uint32_t i, const uint8_t **data, size_t *len);

/* Frees a pack; accepts NULL. */
void rg_genpack_free(rg_genpack_t *p);

/* Encodes / decodes a manifest (RG_GENPACK_MANIFEST_LEN bytes). decode: 0 or
 * RG_EBAD_REQUEST (length, version, or more than RG_GENPACK_MAX_CHUNKS chunks). */
void rg_genpack_manifest_encode(const rg_genpack_manifest_t *m, uint8_t out[RG_GENPACK_MANIFEST_LEN]);
int rg_genpack_manifest_decode(const void *data, size_t len, rg_genpack_manifest_t *m);

typedef struct rg_genpack_reader rg_genpack_reader_t;

/* A reader for the generation manifest m announces. 0 with *out owned by the caller
 * (rg_genpack_reader_free), RG_EBAD_REQUEST (a total that cannot hold its chunks or is
 * over max_total bytes), RG_ENOMEM. */
int rg_genpack_reader_new(const rg_genpack_manifest_t *m, uint64_t max_total,
                          rg_genpack_reader_t **out);

/* Offers a chunk. 0 when taken; RG_ENOT_FOUND when it belongs to another generation or pack
 * (ignore it); RG_EBAD_REQUEST when it claims this generation but does not fit (a chunk of
 * a wrong count, a repeated index with other bytes, more bytes than the total). */
int rg_genpack_reader_add(rg_genpack_reader_t *r, const void *chunk, size_t len);

/* True when every chunk is in. */
int rg_genpack_reader_complete(const rg_genpack_reader_t *r);

/* Checks the gathered pack: every chunk in, the announced total, the checksum, the header
 * (version, generation, log sequence, schema of the manifest) and every row's framing.
 * 0, RG_ENOT_FOUND (chunks missing), RG_EBAD_REQUEST (anything else, with why in err).
 * After it succeeds, rg_genpack_reader_next yields the rows. */
int rg_genpack_reader_verify(rg_genpack_reader_t *r, char *err, size_t errlen);

/* The next row of a verified pack: 1 with *table, *key, *klen, *val, *vlen set (valid until
 * the reader is freed), 0 after the last row, RG_EBAD_REQUEST before a successful verify. */
int rg_genpack_reader_next(rg_genpack_reader_t *r, uint8_t *table, const uint8_t **key,
                           size_t *klen, const uint8_t **val, size_t *vlen);

/* Starts the rows again from the first (a verified reader). */
void rg_genpack_reader_rewind(rg_genpack_reader_t *r);

/* Frees a reader; accepts NULL. */
void rg_genpack_reader_free(rg_genpack_reader_t *r);

#endif
