/* lookup_cache.c — the encoded-result cache of lookups (see lookup_cache.h): a chained hash
 * table of nodes, each one allocation holding its key and its bytes, on a doubly linked
 * list in order of use for eviction, stamped with the epoch they were stored in; a second
 * chain by actor id finds the nodes of one actor. Loop thread only. */
#include "repgraph/lookup_cache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "repgraph/err.h"

#define MIN_BUCKETS 1024 /* the table starts here and doubles when it holds one node per bucket */
#define MAX_CHAIN   8    /* a key whose bucket holds this many is not stored: see hash_of */

typedef struct node {
  struct node *chain;       /* next in the bucket */
  struct node *id_chain;    /* next in the bucket of its actor id (not for id 0) */
  struct node *prev, *next; /* in order of use: c->head the most recent */
  uint64_t hash, epoch, unknown_epoch;
  uint32_t key_len, cap; /* cap: bytes of room for the value */
  rg_lookup_entry_t e;   /* e.bytes points into data, after the key */
  uint8_t data[];
} node_t;

struct rg_lookup_cache {
  node_t **buckets, **by_id; /* both n_buckets long */
  size_t n_buckets, n_nodes, bytes, max_bytes;
  node_t *head, *tail;
  uint64_t epoch, unknown_epoch, seed;
  uint64_t hits, misses, evictions, invalidations, refused;
};

/* XXH3 with a random seed: a few dozen instructions for an actor, where SipHash costs ten
 * times that. It is not a keyed hash an attacker cannot collide, so a bucket holds at most
 * MAX_CHAIN nodes: colliding keys cost a bounded probe and are simply not cached. */
static uint64_t hash_of(const rg_lookup_cache_t *c, const void *key, size_t len) {
  return XXH3_64bits_withSeed(key, len, c->seed);
}

#define STALE UINT64_MAX /* the epoch of a node ended by rg_lookup_cache_invalidate_actor */

static uint64_t id_hash(uint64_t id) {
  return id * 0x9e3779b97f4a7c15ull; /* ids are the store's, not the client's */
}

static size_t node_bytes(const node_t *n) {
  return sizeof *n + n->key_len + n->cap;
}

int rg_lookup_cache_open(size_t max_bytes, const uint8_t key[16], rg_lookup_cache_t **out) {
  *out = NULL;
  if (!max_bytes) return RG_OK;
  rg_lookup_cache_t *c = calloc(1, sizeof *c);
  if (!c) return RG_ENOMEM;
  c->n_buckets = MIN_BUCKETS;
  c->buckets = calloc(c->n_buckets, sizeof *c->buckets);
  c->by_id = calloc(c->n_buckets, sizeof *c->by_id);
  if (!c->buckets || !c->by_id) {
    free(c->buckets);
    free(c->by_id);
    free(c);
    return RG_ENOMEM;
  }
  c->bytes = sizeof *c + 2 * c->n_buckets * sizeof *c->buckets;
  c->max_bytes = max_bytes;
  memcpy(&c->seed, key, sizeof c->seed);
  *out = c;
  return RG_OK;
}

void rg_lookup_cache_free(rg_lookup_cache_t *c) {
  if (!c) return;
  for (node_t *n = c->head, *next; n; n = next) {
    next = n->next;
    free(n);
  }
  free(c->buckets);
  free(c->by_id);
  free(c);
}

static void lru_unlink(rg_lookup_cache_t *c, node_t *n) {
  if (n->prev)
    n->prev->next = n->next;
  else
    c->head = n->next;
  if (n->next)
    n->next->prev = n->prev;
  else
    c->tail = n->prev;
  n->prev = n->next = NULL;
}

static void lru_push_front(rg_lookup_cache_t *c, node_t *n) {
  n->prev = NULL;
  n->next = c->head;
  if (c->head) c->head->prev = n;
  c->head = n;
  if (!c->tail) c->tail = n;
}

static node_t **bucket_of(const rg_lookup_cache_t *c, uint64_t hash) {
  return &c->buckets[hash & (c->n_buckets - 1)];
}

static node_t **id_bucket_of(const rg_lookup_cache_t *c, uint64_t id) {
  return &c->by_id[id_hash(id) >> 32 & (c->n_buckets - 1)];
}

static bool valid(const rg_lookup_cache_t *c, const node_t *n) {
  return n->epoch == c->epoch && (n->e.actor_id || n->unknown_epoch == c->unknown_epoch);
}

/* The node of key, or NULL; *chain counts the nodes looked at. */
static node_t *find(const rg_lookup_cache_t *c, uint64_t hash, const void *key, size_t len,
                    unsigned *chain) {
  *chain = 0;
  for (node_t *n = *bucket_of(c, hash); n; n = n->chain, ++*chain)
    if (n->hash == hash && n->key_len == len && memcmp(n->data, key, len) == 0) return n;
  return NULL;
}

/* Takes n out of the table and the list and frees it. */
static void remove_node(rg_lookup_cache_t *c, node_t *n) {
  node_t **p = bucket_of(c, n->hash);
  while (*p != n) p = &(*p)->chain;
  *p = n->chain;
  if (n->e.actor_id) {
    p = id_bucket_of(c, n->e.actor_id);
    while (*p != n) p = &(*p)->id_chain;
    *p = n->id_chain;
  }
  lru_unlink(c, n);
  c->bytes -= node_bytes(n);
  c->n_nodes--;
  free(n);
}

/* Doubles the tables when they hold a node per bucket; a failed allocation keeps the old. */
static void maybe_grow(rg_lookup_cache_t *c) {
  if (c->n_nodes < c->n_buckets) return;
  size_t n = c->n_buckets * 2, extra = 2 * c->n_buckets * sizeof *c->buckets;
  if (c->bytes + extra > c->max_bytes) return; /* long chains rather than past the budget */
  node_t **b = calloc(n, sizeof *b), **bi = calloc(n, sizeof *bi);
  if (!b || !bi) {
    free(b);
    free(bi);
    return;
  }
  for (node_t *x = c->head; x; x = x->next) {
    node_t **to = &b[x->hash & (n - 1)];
    x->chain = *to;
    *to = x;
    if (x->e.actor_id) {
      to = &bi[id_hash(x->e.actor_id) >> 32 & (n - 1)];
      x->id_chain = *to;
      *to = x;
    }
  }
  free(c->buckets);
  free(c->by_id);
  c->buckets = b;
  c->by_id = bi;
  c->n_buckets = n;
  c->bytes += extra;
}

rg_lookup_entry_t *rg_lookup_cache_get(rg_lookup_cache_t *c, const void *key, size_t len) {
  if (!c) return NULL;
  unsigned chain;
  node_t *n = find(c, hash_of(c, key, len), key, len, &chain);
  if (!n || !valid(c, n)) {
    c->misses++;
    return NULL;
  }
  c->hits++;
  if (c->head != n) {
    lru_unlink(c, n);
    lru_push_front(c, n);
  }
  return &n->e;
}

int rg_lookup_cache_put(rg_lookup_cache_t *c, const void *key, size_t len, const rg_lookup_entry_t *e) {
  if (!c) return RG_OK;
  if (e->len > RG_LOOKUP_ENTRY_MAX || len > RG_LOOKUP_ENTRY_MAX) return RG_ETOO_LARGE;
  uint64_t hash = hash_of(c, key, len);
  unsigned chain;
  node_t *n = find(c, hash, key, len, &chain);
  if (n) remove_node(c, n); /* *chain counted the nodes before it only */
  if (chain >= MAX_CHAIN) {
    c->refused++;
    return RG_EBUSY;
  }
  size_t size = sizeof *n + len + e->len;
  if (size + sizeof *c + 2 * c->n_buckets * sizeof *c->buckets > c->max_bytes) return RG_ETOO_LARGE;
  if (!(n = malloc(size))) return RG_ENOMEM;
  n->hash = hash;
  n->key_len = (uint32_t)len;
  n->cap = e->len;
  memcpy(n->data, key, len);
  n->epoch = c->epoch;
  n->unknown_epoch = c->unknown_epoch;
  n->e = *e;
  n->e.bytes = n->data + len;
  memcpy(n->e.bytes, e->bytes, e->len);
  node_t **b = bucket_of(c, hash);
  n->chain = *b;
  *b = n;
  if (n->e.actor_id) {
    b = id_bucket_of(c, n->e.actor_id);
    n->id_chain = *b;
    *b = n;
  }
  lru_push_front(c, n);
  c->n_nodes++;
  c->bytes += node_bytes(n);
  while (c->bytes > c->max_bytes && c->tail && c->tail != n) {
    remove_node(c, c->tail);
    c->evictions++;
  }
  maybe_grow(c);
  return RG_OK;
}

void rg_lookup_cache_invalidate_actor(rg_lookup_cache_t *c, uint64_t id) {
  if (!c || !id) return;
  for (node_t *n = *id_bucket_of(c, id); n; n = n->id_chain)
    if (n->e.actor_id == id) n->epoch = STALE;
}

void rg_lookup_cache_invalidate_unknown(rg_lookup_cache_t *c) {
  if (c) c->unknown_epoch++;
}

void rg_lookup_cache_invalidate(rg_lookup_cache_t *c) {
  if (!c) return;
  if (++c->epoch == STALE) c->epoch = 0;
  c->invalidations++;
}

void rg_lookup_cache_stats(const rg_lookup_cache_t *c, rg_lookup_cache_stats_t *out) {
  memset(out, 0, sizeof *out);
  if (!c) return;
  *out = (rg_lookup_cache_stats_t){c->n_nodes,   c->bytes,         c->max_bytes, c->hits,
                                   c->misses,    c->evictions,     c->invalidations,
                                   c->refused};
}
