/* lookup_cache.h — encoded lookup results, one per actor as the client spelled it, so that a
 * repeated lookup is a hash probe and a copy instead of four B-tree reads and ~25 fields
 * of encoding. Whenever committed writes are handed back (before their replies go out) the
 * engine ends the entries they may have changed — those of the actors they name
 * (rg_lookup_cache_invalidate_actor), those of unknown actors when one was created, or all
 * (rg_lookup_cache_invalidate: an epoch; a generation flip is such a write) — so a lookup
 * never answers from before a write it could know of. Bounded by bytes; least recently
 * used entries go first. The keys are client bytes: hashed with a random seed, and a bucket
 * holds a bounded number of them, so keys made to collide cost a bounded probe and are not
 * cached (counted as refused). Loop thread only (no locking). */
#ifndef RG_LOOKUP_CACHE_H
#define RG_LOOKUP_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct rg_lookup_cache rg_lookup_cache_t;

/* One cached result. `bytes` is the msgpack map of the result as it was written for time
 * `now`; the parts that move with the clock are at byte offsets (0 = not in the entry):
 * the two decayed weights (msgpack float64 at off_weight_out / off_weight_in, decayed from
 * weight_out / weight_in as stored at rec_as_of) and as_of (an integer of as_of_len bytes at
 * off_as_of). The reader brings them to its own time and records that time in `now`.
 * actor_id: the store's id of the actor, 0 when it is not in the store. */
typedef struct {
  uint8_t *bytes; /* owned by the cache; valid until the next put, invalidate or free */
  uint32_t len;
  uint64_t actor_id;
  int64_t now;
  uint32_t off_weight_out, off_weight_in, off_as_of;
  uint32_t as_of_len;
  double weight_out, weight_in;
  int64_t rec_as_of;
} rg_lookup_entry_t;

typedef struct {
  uint64_t entries, bytes, max_bytes;
  uint64_t hits, misses, evictions, invalidations, refused;
} rg_lookup_cache_stats_t;

/* Largest entry kept (bytes of the encoded result); larger results are not cached. */
#define RG_LOOKUP_ENTRY_MAX (16 * 1024)

/* Creates a cache of at most max_bytes (entries, keys and the table counted) hashing keys
 * with a seed from the 16 random bytes `key`. max_bytes 0: *out = NULL, which every call below accepts as a
 * cache that holds nothing. 0 or RG_ENOMEM. */
int rg_lookup_cache_open(size_t max_bytes, const uint8_t key[16], rg_lookup_cache_t **out);

/* Frees the cache and its entries. Accepts NULL. */
void rg_lookup_cache_free(rg_lookup_cache_t *c);

/* The entry of this epoch for key (len bytes), or NULL (counted as a miss). A hit becomes
 * the most recently used. The entry may be updated in place (bytes patched, `now` moved);
 * its pointer is valid until the next put, invalidate or free. */
rg_lookup_entry_t *rg_lookup_cache_get(rg_lookup_cache_t *c, const void *key, size_t len);

/* Stores a copy of `e` (and of its e->len bytes) under key for the current epoch, replacing
 * any entry of the key, evicting the least recently used entries past max_bytes. 0,
 * RG_ETOO_LARGE (entry over RG_LOOKUP_ENTRY_MAX or the cache), RG_EBUSY (its bucket is
 * full) or RG_ENOMEM: then not stored, and the cache stays usable. */
int rg_lookup_cache_put(rg_lookup_cache_t *c, const void *key, size_t len, const rg_lookup_entry_t *e);

/* Ends the epoch: no entry stored before answers again. O(1); their memory is reused or
 * evicted as new entries come. */
void rg_lookup_cache_invalidate(rg_lookup_cache_t *c);

/* Ends the entries of actor `id` (every spelling of it), and only those. */
void rg_lookup_cache_invalidate_actor(rg_lookup_cache_t *c, uint64_t id);

/* Ends the entries of actors that were not in the store (actor_id 0): one has been created. */
void rg_lookup_cache_invalidate_unknown(rg_lookup_cache_t *c);

/* Sizes and counters (all 0 for NULL). */
void rg_lookup_cache_stats(const rg_lookup_cache_t *c, rg_lookup_cache_stats_t *out);

#endif
