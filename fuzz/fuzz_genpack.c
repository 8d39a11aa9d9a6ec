/* fuzz_genpack.c — libFuzzer target for a published generation as a follower receives it
 * from the cluster (genpack.h): a manifest, then chunks, all from NATS, so from anyone who
 * may publish there. Input: the manifest's RG_GENPACK_MANIFEST_LEN bytes, then chunks, each
 * a 2-byte big-endian length and its bytes. Checked properties: every call answers one of
 * its documented codes; an accepted manifest encodes back to the same bytes; a refused
 * verify says why; a verified pack yields rows within the bounds, the same ones again after
 * a rewind. */
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/genpack.h"

#define CHECK(cond)       \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

static unsigned count_rows(rg_genpack_reader_t *r) {
  unsigned n = 0;
  uint8_t table;
  const uint8_t *key, *val;
  size_t klen, vlen;
  int rc;
  while ((rc = rg_genpack_reader_next(r, &table, &key, &klen, &val, &vlen)) == 1) {
    CHECK(klen <= RG_GENPACK_MAX_KEY && vlen <= RG_GENPACK_MAX_VALUE);
    n++;
  }
  CHECK(rc == 0);
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rg_genpack_manifest_t m;
  if (size < RG_GENPACK_MANIFEST_LEN) {
    CHECK(rg_genpack_manifest_decode(data, size, &m) == RG_EBAD_REQUEST);
    return 0;
  }
  int rc = rg_genpack_manifest_decode(data, RG_GENPACK_MANIFEST_LEN, &m);
  CHECK(rc == RG_OK || rc == RG_EBAD_REQUEST);
  if (rc) return 0;
  uint8_t back[RG_GENPACK_MANIFEST_LEN];
  rg_genpack_manifest_encode(&m, back);
  CHECK(memcmp(back, data, sizeof back) == 0);
  rg_genpack_reader_t *r;
  rc = rg_genpack_reader_new(&m, 1 << 20, &r);
  CHECK(rc == RG_OK || rc == RG_EBAD_REQUEST || rc == RG_ENOMEM);
  if (rc) return 0;
  for (size_t at = RG_GENPACK_MANIFEST_LEN; at + 2 <= size;) {
    size_t len = (size_t)data[at] << 8 | data[at + 1];
    at += 2;
    if (len > size - at) len = size - at;
    rc = rg_genpack_reader_add(r, data + at, len);
    CHECK(rc == RG_OK || rc == RG_ENOT_FOUND || rc == RG_EBAD_REQUEST);
    at += len;
  }
  char err[256] = "";
  rc = rg_genpack_reader_verify(r, err, sizeof err);
  CHECK(rc == RG_OK || rc == RG_ENOT_FOUND || rc == RG_EBAD_REQUEST);
  if (rc == RG_EBAD_REQUEST) CHECK(err[0] != '\0');
  if (rc == RG_OK) {
    CHECK(rg_genpack_reader_complete(r));
    unsigned rows = count_rows(r);
    rg_genpack_reader_rewind(r);
    CHECK(count_rows(r) == rows);
  }
  rg_genpack_reader_free(r);
  return 0;
}
