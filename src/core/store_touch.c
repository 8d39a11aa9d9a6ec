/* store_touch.c — which actors committed writes changed, for caches of reads (the loop's
 * lookup cache): a narrow write transaction notes the ids whose record or label it rewrote
 * and hands them to the store at commit; the reader takes them. A transaction not declared
 * narrow — any other write, whoever makes it — reports `wide`, so a cache errs towards
 * reading again. Write transactions on the writer thread; rg_store_take_touched any thread. */
#include <stdlib.h>
#include <string.h>

#include "repgraph/store.h"
#include "store_codec.h"

#define TXN_TOUCH_MAX   65536u   /* ids one transaction notes; past them it turns wide */
#define STORE_TOUCH_MAX 1048576u /* ids waiting to be taken; past them: wide */

static rg_txn_t *root_of(rg_txn_t *t) {
  while (t->parent) t = t->parent;
  return t;
}

void rg_store_set_narrow(rg_txn_t *t) {
  if (!t->read && !t->parent) t->narrow = true;
}

void rg__touch(rg_txn_t *t, uint64_t id) {
  t = root_of(t);
  if (!t->narrow) return;
  if (t->n_touched > 0 && t->touched[t->n_touched - 1] == id) return; /* both ends of an edge */
  if (t->n_touched == t->cap_touched) {
    uint32_t cap = t->cap_touched ? 2 * t->cap_touched : 64;
    uint64_t *p = cap <= TXN_TOUCH_MAX ? realloc(t->touched, cap * sizeof *p) : NULL;
    if (!p) {
      t->narrow = false; /* cannot say which: anything */
      return;
    }
    t->touched = p;
    t->cap_touched = cap;
  }
  t->touched[t->n_touched++] = id;
}

void rg__touch_created(rg_txn_t *t) {
  root_of(t)->created = true;
}

void rg__touch_publish(rg_txn_t *t) {
  rg_store_t *s = t->s;
  pthread_mutex_lock(&s->touch_lock);
  s->touch_created |= t->created;
  if (!t->narrow || s->n_touched + t->n_touched > STORE_TOUCH_MAX) s->touch_wide = true;
  if (!s->touch_wide && t->n_touched) {
    size_t need = s->n_touched + t->n_touched;
    if (need > s->cap_touched) {
      size_t cap = s->cap_touched ? s->cap_touched : 256;
      while (cap < need) cap *= 2;
      uint64_t *p = realloc(s->touched, cap * sizeof *p);
      if (p) {
        s->touched = p;
        s->cap_touched = cap;
      } else {
        s->touch_wide = true;
      }
    }
    if (!s->touch_wide) {
      memcpy(s->touched + s->n_touched, t->touched, t->n_touched * sizeof *t->touched);
      s->n_touched = need;
    }
  }
  pthread_mutex_unlock(&s->touch_lock);
}

void rg_store_take_touched(rg_store_t *s, rg_store_touched_t *out) {
  pthread_mutex_lock(&s->touch_lock);
  *out = (rg_store_touched_t){s->touch_wide ? NULL : s->touched, s->touch_wide ? 0 : s->n_touched,
                              s->touch_wide, s->touch_created};
  if (s->touch_wide) free(s->touched);
  s->touched = NULL;
  s->n_touched = s->cap_touched = 0;
  s->touch_wide = s->touch_created = false;
  pthread_mutex_unlock(&s->touch_lock);
}
