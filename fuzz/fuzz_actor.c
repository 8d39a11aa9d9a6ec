/* fuzz_actor.c — libFuzzer target for actor normalisation, which every identifier a client
 * sends goes through. The first byte b picks the entry point: b % 5 is rg_actor_parse of the
 * "type:identifier" text (0) or rg_actor_normalize_opts as one of the types; b / 5 picks the
 * options (bit 0: keep local-part case, bit 1: strip "+" tags, bit 2: strip "+-" tags) and,
 * with bit 3, rg_actor_normalize_helo instead; bit 4 accepts pseudonyms (store.pseudonymise).
 * Checked properties: the result is NUL-terminated at its length and valid UTF-8;
 * normalising is idempotent with the same options (formatting the result and parsing it
 * again gives the same actor); a pseudonym comes only where they are accepted and has no net
 * or domain; otherwise an ip has a net and an address other than the null sender a domain. */
#include <stdlib.h>
#include <string.h>

#include "repgraph/actor.h"
#include "repgraph/err.h"
#include "repgraph/text.h"

#define CHECK(cond)       \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  /* Its own allocation of exactly the text, so reading past it is an ASan error. */
  size_t len = size - 1;
  char *text = malloc(len ? len : 1);
  CHECK(text);
  memcpy(text, data + 1, len);
  rg_actor_t a, again, derived;
  const char *reason = NULL;
  int type = data[0] % (RG_ACTOR_TYPE_MAX + 1), bits = data[0] / (RG_ACTOR_TYPE_MAX + 1);
  rg_actor_opts_t o;
  rg_actor_opts_default(&o);
  o.fold_local_case = !(bits & 1);
  if (bits & 2) strcpy(o.subaddress_sep, "+");
  if (bits & 4) strcpy(o.subaddress_sep, "+-");
  o.pseudonyms = (bits & 16) != 0;
  int rc = (bits & 8)  ? rg_actor_normalize_helo(text, len, &a, &reason)
           : type == 0 ? rg_actor_parse_opts(text, len, &o, &a, &reason)
                       : rg_actor_normalize_opts((rg_actor_type_t)type, text, len, &o, &a, &reason);
  free(text);
  if (rc != RG_OK) {
    CHECK(rc == RG_EINVALID_ACTOR && reason && reason[0]);
    return 0;
  }
  CHECK(rg_actor_type_name(a.type) != NULL);
  CHECK(a.len <= RG_ACTOR_KEY_MAX && a.key[a.len] == '\0' && strlen(a.key) == a.len);
  CHECK(rg_utf8_valid(a.key, a.len));
  char formatted[RG_ACTOR_TEXT_MAX];
  int n = rg_actor_format(&a, formatted, sizeof formatted);
  CHECK(n > 0);
  CHECK(rg_actor_parse_opts(formatted, (size_t)n, &o, &again, &reason) == RG_OK);
  CHECK(again.type == a.type && again.len == a.len && memcmp(again.key, a.key, a.len) == 0);
  if (rg_actor_is_pseudonym(&a)) {
    CHECK(o.pseudonyms && !(bits & 8)); /* HELO names are plaintext */
    CHECK(rg_actor_net_of(&a, 24, 64, &derived) != RG_OK);
    CHECK(rg_actor_domain_of(&a, &derived) != RG_OK);
    return 0;
  }
  if (a.type == RG_ACTOR_IP) {
    CHECK(rg_actor_net_of(&a, 24, 64, &derived) == RG_OK && derived.type == RG_ACTOR_NET);
  }
  if (a.type == RG_ACTOR_ADDRESS && !rg_actor_is_null_sender(&a)) {
    CHECK(rg_actor_domain_of(&a, &derived) == RG_OK && derived.type == RG_ACTOR_DOMAIN);
  }
  return 0;
}
