/* netset.c — IP network sets for trusted relays (SpamAssassin's trusted_networks syntax).
 * Built once by the command-line client, then read-only; lookups are a linear scan for
 * the most specific match (operators list a handful of networks). */
#include "repgraph/netset.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"

typedef struct {
  uint8_t addr[16]; /* IPv4 as IPv4-mapped IPv6, so one comparison serves both */
  unsigned prefix;  /* over the 128 bits */
  bool negate;
} entry_t;

struct rg_netset {
  entry_t *entries;
  size_t n, cap;
};

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Parses an address into the 16-byte form; *is_v4 tells which family it was. */
static bool parse_addr(const char *s, uint8_t out[16], bool *is_v4) {
  struct in_addr a4;
  if (inet_pton(AF_INET, s, &a4) == 1) {
    memcpy(out, v4_mapped, 12);
    memcpy(out + 12, &a4, 4);
    *is_v4 = true;
    return true;
  }
  *is_v4 = false;
  return inet_pton(AF_INET6, s, out) == 1;
}

static void clear_host_bits(uint8_t a[16], unsigned prefix) {
  for (unsigned bit = prefix; bit < 128; bit++) a[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
}

static bool matches(const entry_t *e, const uint8_t a[16]) {
  unsigned full = e->prefix / 8, rest = e->prefix % 8;
  if (memcmp(e->addr, a, full) != 0) return false;
  if (!rest) return true;
  uint8_t mask = (uint8_t)(0xffu << (8 - rest));
  return (e->addr[full] & mask) == (a[full] & mask);
}

/* Parses one entry (NUL-terminated, no separators). */
static int parse_entry(const char *text, entry_t *e) {
  char buf[80];
  const char *p = text;
  memset(e, 0, sizeof *e);
  if (*p == '!') e->negate = true, p++;
  size_t len = strlen(p);
  if (len == 0 || len >= sizeof buf) return RG_ECONFIG;
  memcpy(buf, p, len + 1);
  char *slash = strchr(buf, '/');
  long prefix = -1;
  if (slash) {
    char *end;
    *slash = '\0';
    prefix = strtol(slash + 1, &end, 10);
    if (end == slash + 1 || *end || prefix < 0) return RG_ECONFIG;
  }
  char *addr = buf;
  size_t alen = strlen(addr);
  if (alen >= 2 && addr[0] == '[' && addr[alen - 1] == ']') addr[alen - 1] = '\0', addr++;
  bool is_v4;
  alen = strlen(addr);
  if (alen && addr[alen - 1] == '.' && prefix < 0) { /* "10." "192.168." "172.16.0." */
    unsigned octets = 0;
    char tmp[24] = "";
    for (const char *q = addr; *q; q++) {
      if (*q == '.')
        octets++;
      else if (!isdigit((unsigned char)*q))
        return RG_ECONFIG;
    }
    if (octets < 1 || octets > 3 || alen > 12) return RG_ECONFIG;
    strcpy(tmp, addr);
    for (unsigned i = octets; i < 4; i++) strcat(tmp, i == 3 ? "0" : "0.");
    if (!parse_addr(tmp, e->addr, &is_v4) || !is_v4) return RG_ECONFIG;
    e->prefix = 96 + 8 * octets;
  } else {
    char padded[24];
    unsigned dots = 0;
    bool v4ish = alen > 0 && alen < 12;
    for (const char *q = addr; v4ish && *q; q++) {
      if (*q == '.')
        dots++;
      else if (!isdigit((unsigned char)*q))
        v4ish = false;
    }
    if (v4ish && dots < 3 && prefix >= 0) { /* "127/8", "10.0.1/24" */
      strcpy(padded, addr);
      for (unsigned i = dots; i < 3; i++) strcat(padded, ".0");
      addr = padded;
    }
    if (!parse_addr(addr, e->addr, &is_v4)) return RG_ECONFIG;
    if (prefix > (is_v4 ? 32 : 128)) return RG_ECONFIG;
    e->prefix = prefix < 0 ? 128 : (unsigned)prefix + (is_v4 ? 96 : 0);
  }
  clear_host_bits(e->addr, e->prefix);
  return RG_OK;
}

rg_netset_t *rg_netset_new(void) {
  return calloc(1, sizeof(rg_netset_t));
}

int rg_netset_add(rg_netset_t *set, const char *list, char *err, size_t errlen) {
  size_t start_n = set->n;
  const char *p = list;
  char word[96];
  while (*p) {
    while (*p && (*p == ',' || isspace((unsigned char)*p))) p++;
    if (!*p) break;
    size_t n = strcspn(p, ", \t\r\n");
    if (n >= sizeof word) n = sizeof word - 1;
    memcpy(word, p, n);
    word[n] = '\0';
    p += strcspn(p, ", \t\r\n");
    entry_t e;
    if (parse_entry(word, &e) != RG_OK) {
      snprintf(err, errlen, "'%s' is not an IP address or network (IP, IP/len, 10., !IP)", word);
      set->n = start_n;
      return RG_ECONFIG;
    }
    if (set->n == set->cap) {
      size_t cap = set->cap ? set->cap * 2 : 8;
      entry_t *grown = realloc(set->entries, cap * sizeof *grown);
      if (!grown) {
        set->n = start_n;
        return RG_ENOMEM;
      }
      set->entries = grown, set->cap = cap;
    }
    set->entries[set->n++] = e;
  }
  return RG_OK;
}

size_t rg_netset_count(const rg_netset_t *set) {
  return set ? set->n : 0;
}

bool rg_netset_contains(const rg_netset_t *set, const char *ip) {
  uint8_t a[16];
  bool is_v4;
  if (!set || !parse_addr(ip, a, &is_v4)) return false;
  const entry_t *best = NULL;
  for (size_t i = 0; i < set->n; i++)
    if (matches(&set->entries[i], a) && (!best || set->entries[i].prefix > best->prefix))
      best = &set->entries[i];
  return best && !best->negate;
}

void rg_netset_free(rg_netset_t *set) {
  if (!set) return;
  free(set->entries);
  free(set);
}
