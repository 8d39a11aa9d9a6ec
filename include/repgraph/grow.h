/* grow.h — the one growth rule for arrays that are filled one element (or a known count) at
 * a time: capacity doubles from RG_GROW_FIRST until it holds what is needed, with every size
 * checked for overflow. Not thread-safe: the caller owns the array. */
#ifndef RG_GROW_H
#define RG_GROW_H

#include <stddef.h>

#define RG_GROW_FIRST 16 /* elements allocated for an empty array */

/* Makes the array *p (capacity *cap elements of elem_size bytes) hold at least `need`
 * elements: nothing when it already does, else a realloc to the first doubling of *cap (or
 * of RG_GROW_FIRST when *cap is 0) that is at least need. 0 on success with *p and *cap
 * updated (the elements kept); RG_ENOMEM when the size overflows or allocation fails, with
 * *p and *cap unchanged and still valid; RG_EINTERNAL for an elem_size of 0. The caller
 * owns *p (free). */
int rg_grow(void **p, size_t *cap, size_t need, size_t elem_size);

#endif
