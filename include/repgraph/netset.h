/* netset.h — a set of IP networks, the way SpamAssassin's trusted_networks reads: entries
 * "IP", "IP/len", a trailing-dot IPv4 prefix ("10." = /8, "192.168." = /16), "[IPv6]",
 * and "!" before an entry to exclude it; the most specific matching entry decides.
 * Immutable after building; any thread may query it. Pure C, no allocation on lookup. */
#ifndef RG_NETSET_H
#define RG_NETSET_H

#include <stdbool.h>
#include <stddef.h>

typedef struct rg_netset rg_netset_t;

/* A new empty set. NULL when out of memory. Free with rg_netset_free. */
rg_netset_t *rg_netset_new(void);

/* Adds the entries of `list` (separated by commas and/or white space). 0; RG_ECONFIG with
 * the offending entry in err (capacity errlen) — the set is then unchanged; RG_ENOMEM. */
int rg_netset_add(rg_netset_t *set, const char *list, char *err, size_t errlen);

/* Number of entries added. */
size_t rg_netset_count(const rg_netset_t *set);

/* True when the IP text `ip` (IPv4, IPv6, IPv4-mapped IPv6; no brackets) is in the set: its
 * most specific matching entry exists and is not an exclusion. False for non-IP text. */
bool rg_netset_contains(const rg_netset_t *set, const char *ip);

/* Frees the set. Accepts NULL. */
void rg_netset_free(rg_netset_t *set);

#endif
