/* fuzz_mail.c — libFuzzer target for one message into one observation (GMime's header,
 * address and date parsing under our header-section checks, the Received chain, actor
 * normalisation). Input: the message bytes, in an exact-size allocation. Checked
 * properties: an observation has a sender, a client IP and 1..RG_MAIL_RECIPIENTS_MAX
 * distinct recipients, each already normalised (normalising again is the identity); the
 * time is never negative. */
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/mail.h"

#define CHECK(cond)       \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

static void check_normal(const rg_actor_t *a) {
  rg_actor_t again;
  CHECK(a->key[a->len] == '\0');
  CHECK(rg_actor_normalize(a->type, a->key, a->len, &again, NULL) == RG_OK);
  CHECK(again.len == a->len && memcmp(again.key, a->key, a->len) == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  rg_mail_init();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *msg = malloc(size ? size : 1);
  CHECK(msg);
  memcpy(msg, data, size);
  rg_mail_opts_t o = {0};
  rg_mail_obs_t obs = {0};
  rg_mail_skip_t skip;
  CHECK(rg_mail_parse(msg, size, &o, &obs, &skip) == RG_OK);
  free(msg);
  CHECK(skip >= RG_MAIL_OK && skip < RG_MAIL_SKIP_COUNT);
  CHECK(obs.ts >= 0);
  if (skip == RG_MAIL_OK) {
    CHECK(obs.has_sender && obs.has_ip);
    CHECK(obs.n_recipients >= 1 && obs.n_recipients <= RG_MAIL_RECIPIENTS_MAX);
    check_normal(&obs.sender);
    check_normal(&obs.client_ip);
    for (uint32_t i = 0; i < obs.n_recipients; i++) {
      check_normal(&obs.recipients[i]);
      for (uint32_t j = 0; j < i; j++)
        CHECK(strcmp(obs.recipients[i].key, obs.recipients[j].key) != 0);
    }
  }
  rg_mail_obs_free(&obs);
  return 0;
}
