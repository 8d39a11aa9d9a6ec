/* fuzz_manifest.c — libFuzzer target for a backup's manifest.json (rg_store_manifest_parse:
 * jansson, then every field's type and range), the input `repgraphd --restore` reads from a
 * backup directory. Checked properties: a refusal is RG_ESCHEMA with a reason; an accepted
 * manifest has a 64-digit hex checksum and formats and parses back to the same values. */
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/store.h"

#define CHECK(cond)       \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rg_backup_manifest_t m, back;
  char err[256] = "", text[8192];
  int rc = rg_store_manifest_parse((const char *)data, size, &m, err, sizeof err);
  if (rc != RG_OK) {
    CHECK(rc == RG_ESCHEMA && err[0] != '\0');
    return 0;
  }
  CHECK(strlen(m.checksum) == RG_BACKUP_SUM_HEX);
  size_t n = rg_store_manifest_format(&m, text, sizeof text);
  CHECK(n > 0);
  CHECK(rg_store_manifest_parse(text, n, &back, err, sizeof err) == RG_OK);
  CHECK(back.schema_version == m.schema_version && back.generation == m.generation &&
        back.data_bytes == m.data_bytes && strcmp(back.checksum, m.checksum) == 0 &&
        memcmp(&back.counts, &m.counts, sizeof m.counts) == 0);
  return 0;
}
