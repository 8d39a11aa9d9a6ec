/* gen_truth.c — the generator's actor registry (a string hash set in first-seen order) and the
 * truth and seed-label files written from it. See gen_truth.h. */
#include "gen_truth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char *name;
  const char *kase;
  bool bad, sender, labelled;
} rec_t;

struct gt {
  rec_t *recs;
  size_t n, cap;
  uint32_t *slots; /* record index + 1; 0 = empty */
  size_t n_slots;  /* a power of two, kept at least twice n */
};

static void *must(void *p) {
  if (!p) {
    fprintf(stderr, "gen_mail: out of memory\n");
    exit(2);
  }
  return p;
}

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

gt_t *gt_new(void) {
  gt_t *g = must(calloc(1, sizeof *g));
  g->n_slots = 1u << 16;
  g->slots = must(calloc(g->n_slots, sizeof *g->slots));
  return g;
}

void gt_free(gt_t *g) {
  if (!g) return;
  for (size_t i = 0; i < g->n; i++) free(g->recs[i].name);
  free(g->recs);
  free(g->slots);
  free(g);
}

static size_t slot_of(const gt_t *g, const char *name) {
  size_t i = fnv1a(name) & (g->n_slots - 1);
  while (g->slots[i] && strcmp(g->recs[g->slots[i] - 1].name, name)) i = (i + 1) & (g->n_slots - 1);
  return i;
}

static void grow(gt_t *g) {
  uint32_t *old = g->slots;
  size_t n_old = g->n_slots;
  g->n_slots *= 2;
  g->slots = must(calloc(g->n_slots, sizeof *g->slots));
  for (size_t i = 0; i < n_old; i++)
    if (old[i]) g->slots[slot_of(g, g->recs[old[i] - 1].name)] = old[i];
  free(old);
}

void gt_note(gt_t *g, const char *name, bool bad, const char *kase, bool sender) {
  size_t s = slot_of(g, name);
  if (g->slots[s]) {
    g->recs[g->slots[s] - 1].sender |= sender;
    return;
  }
  if (g->n == g->cap) {
    g->cap = g->cap ? 2 * g->cap : 4096;
    g->recs = must(realloc(g->recs, g->cap * sizeof *g->recs));
  }
  g->recs[g->n] = (rec_t){.name = must(strdup(name)), .kase = kase, .bad = bad, .sender = sender};
  g->slots[s] = (uint32_t)++g->n;
  if (2 * g->n > g->n_slots) grow(g);
}

static FILE *open_out(const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(2);
  }
  return f;
}

static void close_out(FILE *f, const char *path) {
  if (ferror(f) | fclose(f)) {
    perror(path);
    exit(2);
  }
}

void gt_write_actors(const gt_t *g, const char *path, bool with_case) {
  FILE *f = open_out(path);
  for (size_t i = 0; i < g->n; i++)
    fprintf(f, "%s\t%s%s%s\n", g->recs[i].name, g->recs[i].bad ? "bad" : "good",
            with_case ? "\t" : "", with_case ? g->recs[i].kase : "");
  close_out(f, path);
}

/* splitmix64 on its own state, so that labels never disturb the traffic's random stream. */
static uint64_t next(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static size_t type_len(const char *name) {
  const char *c = strchr(name, ':');
  return c ? (size_t)(c - name) : strlen(name);
}

static bool is_address(const rec_t *r) {
  return type_len(r->name) == 7 && !strncmp(r->name, "address", 7);
}

/* Indices of the records of one type and verdict, shuffled. */
static size_t group(const gt_t *g, const rec_t *like, size_t *out, uint64_t *rng) {
  size_t n = 0, tl = type_len(like->name);
  for (size_t i = 0; i < g->n; i++)
    if (g->recs[i].bad == like->bad && type_len(g->recs[i].name) == tl &&
        !strncmp(g->recs[i].name, like->name, tl))
      out[n++] = i;
  for (size_t i = n; i > 1; i--) {
    size_t j = next(rng) % i, t = out[i - 1];
    out[i - 1] = out[j];
    out[j] = t;
  }
  return n;
}

static void emit(FILE *f, rec_t *r, bool bad, double noise) {
  r->labelled = true;
  fprintf(f, "%s,%s,%s\n", r->name, bad ? "bad" : "good",
          bad && is_address(r) && noise > 0 ? "user_report" : "analyst");
}

/* Candidates for wrong spam reports: honest sender addresses (bulk ones only if `bulk`). */
typedef struct {
  size_t *idx, n;
} pool_t;

static pool_t pool_of(const gt_t *g, bool bulk) {
  pool_t p = {must(malloc((g->n ? g->n : 1) * sizeof *p.idx)), 0};
  for (size_t i = 0; i < g->n; i++) {
    const rec_t *r = &g->recs[i];
    if (is_address(r) && r->sender && !r->bad && (!bulk || !strcmp(r->kase, "bulk")))
      p.idx[p.n++] = i;
  }
  return p;
}

/* A random unlabelled member of the pool, removed from it; NULL when none is left. */
static rec_t *pick(gt_t *g, pool_t *p, uint64_t *rng) {
  while (p->n) {
    size_t k = next(rng) % p->n;
    rec_t *r = &g->recs[p->idx[k]];
    p->idx[k] = p->idx[--p->n];
    if (!r->labelled) return r;
  }
  return NULL;
}

void gt_write_labels(gt_t *g, const char *path, double share, double noise, uint64_t seed) {
  FILE *f = open_out(path);
  size_t *idx = must(malloc((g->n ? g->n : 1) * sizeof *idx));
  size_t wrong = 0; /* wrong spam reports still to place */
  uint64_t rng = seed ^ 0x5eed1abe15ULL;
  fprintf(f, "actor,verdict,source\n");
  for (size_t i = 0; i < g->n; i++) g->recs[i].labelled = false;
  for (size_t first = 0; first < g->n; first++) {
    const rec_t *like = &g->recs[first];
    bool seen = false; /* groups are visited at their first member, in first-seen order */
    for (size_t i = 0; i < first && !seen; i++)
      seen = g->recs[i].bad == like->bad && type_len(g->recs[i].name) == type_len(like->name) &&
             !strncmp(g->recs[i].name, like->name, type_len(like->name));
    if (seen) continue;
    size_t n = group(g, like, idx, &rng);
    size_t k = (size_t)fmax(1.0, round(share * (double)n));
    size_t w = is_address(like) && like->bad ? (size_t)round(noise * (double)k) : 0;
    for (size_t i = 0; i + w < k; i++) emit(f, &g->recs[idx[i]], like->bad, noise);
    wrong += w;
  }
  /* Wrong reports: "spam" clicks on honest senders, half of them on bulk mail. */
  pool_t bulk = pool_of(g, true), honest = pool_of(g, false);
  for (size_t i = 0; i < wrong; i++) {
    rec_t *r = next(&rng) % 2 ? pick(g, &bulk, &rng) : NULL;
    if (!r) r = pick(g, &honest, &rng);
    if (r) emit(f, r, true, noise);
  }
  free(bulk.idx), free(honest.idx);
  free(idx);
  close_out(f, path);
}
