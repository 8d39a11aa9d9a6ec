/* fuzz_received.c — libFuzzer target for the Received parser and the trust walk, which read
 * what any sender may write into a message. Input: NUL-separated segments; the first is a
 * trusted-networks list (refused lists are fine), each other one a Received field body in
 * its own exact-size allocation. Checked properties: a header with an IP gives canonical
 * text (canonicalising it again is the identity) and NUL-terminated names; dates are never
 * negative; the walk names a hop that has an IP. */
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/received.h"

#define CHECK(cond)       \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

#define HOPS_MAX 32

static bool terminated(const char *s, size_t cap) {
  return memchr(s, '\0', cap) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = (const char *)data, *end = p + size;
  const char *nul = memchr(p, '\0', size);
  size_t first = nul ? (size_t)(nul - p) : size;
  char list[256], err[200];
  size_t n = first < sizeof list - 1 ? first : sizeof list - 1;
  memcpy(list, p, n);
  list[n] = '\0';
  rg_netset_t *trusted = rg_netset_new();
  CHECK(trusted);
  if (rg_netset_add(trusted, list, err, sizeof err) != RG_OK) CHECK(rg_netset_count(trusted) == 0);
  static rg_received_t hops[HOPS_MAX];
  size_t n_hops = 0;
  p = nul ? nul + 1 : end;
  while (p < end && n_hops < HOPS_MAX) {
    nul = memchr(p, '\0', (size_t)(end - p));
    size_t len = nul ? (size_t)(nul - p) : (size_t)(end - p);
    char *h = malloc(len ? len : 1);
    CHECK(h);
    memcpy(h, p, len);
    rg_received_t *r = &hops[n_hops++];
    int rc = rg_received_parse(h, len, r);
    free(h);
    CHECK(rc == RG_OK || rc == RG_ENOT_FOUND);
    CHECK(terminated(r->ip, sizeof r->ip) && terminated(r->helo, sizeof r->helo) &&
          terminated(r->rdns, sizeof r->rdns) && terminated(r->by, sizeof r->by));
    CHECK((rc == RG_OK) == (r->ip[0] != '\0'));
    CHECK(r->ts >= 0);
    if (rc == RG_OK) {
      char again[RG_RECEIVED_IP_MAX];
      CHECK(rg_received_canon_ip(r->ip, strlen(r->ip), again) == RG_OK);
      CHECK(strcmp(again, r->ip) == 0);
      (void)rg_netset_contains(trusted, r->ip);
    }
    p = nul ? nul + 1 : end;
  }
  size_t at = 0;
  bool internal;
  if (rg_received_client(hops, n_hops, trusted, &at, &internal) == RG_OK)
    CHECK(at < n_hops && hops[at].ip[0]);
  rg_netset_free(trusted);
  return 0;
}
