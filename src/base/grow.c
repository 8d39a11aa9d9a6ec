/* grow.c — see grow.h. Any thread, on arrays it owns. */
#include "repgraph/grow.h"

#include <stdint.h>
#include <stdlib.h>

#include "repgraph/err.h"

int rg_grow(void **p, size_t *cap, size_t need, size_t elem_size) {
  if (need <= *cap) return RG_OK;
  if (elem_size == 0) return RG_EINTERNAL; /* nothing to allocate: a caller's bug */
  size_t n = *cap ? *cap : RG_GROW_FIRST;
  while (n < need) n = n > SIZE_MAX / 2 ? need : n * 2;
  if (n > SIZE_MAX / elem_size) return RG_ENOMEM;
  void *q = realloc(*p, n * elem_size);
  if (!q) return RG_ENOMEM;
  *p = q;
  *cap = n;
  return RG_OK;
}
