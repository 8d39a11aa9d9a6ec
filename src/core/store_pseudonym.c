/* store_pseudonym.c — a pseudonymised store (store.pseudonymise): the mode and the key's
 * fingerprint in meta, fixed when the store is created and checked at every open, and the
 * stored form of an actor (its keyed pseudonym) that interning uses. Open: one thread;
 * rg__stored_actor: any thread. */
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>

#include "repgraph/buf.h"
#include "repgraph/err.h"
#include "repgraph/log.h"
#include "repgraph/pseudonym.h"
#include "repgraph/store.h"
#include "store_codec.h"

#define META_MODE "pseudonymise"  /* u64: 0 identifiers in the clear, 1 keyed pseudonyms */
#define META_KEY  "pseudonym_key" /* RG_PSEUDONYM_FP_BYTES: the key's fingerprint */

int rg__stored_actor(const rg_txn_t *t, const rg_actor_t *a, rg_actor_t *buf,
                     const rg_actor_t **out) {
  *out = a;
  if (!t->s->pseudonym) return rg_actor_is_pseudonym(a) ? RG_EINVALID_ACTOR : RG_OK;
  if (rg_actor_is_pseudonym(a)) return RG_OK;
  int rc = rg_pseudonym_of(t->s->pseudonym, a, buf);
  if (!rc) *out = buf;
  return rc;
}

bool rg_store_pseudonymised(const rg_store_t *s) {
  return s->pseudonym != NULL;
}

/* A meta record: 0 with *v, RG_ENOT_FOUND, or RG_EIO. */
static int meta_get(rg_txn_t *t, const char *name, MDB_val *v) {
  MDB_val k = {strlen(name), (void *)name};
  return rg__from_mdb(mdb_get(t->txn, t->s->dbi[DB_META], &k, v), "meta get");
}

static int meta_put(rg_txn_t *t, const char *name, const void *data, size_t len) {
  MDB_val k = {strlen(name), (void *)name}, v = {len, (void *)data};
  return rg__from_mdb(mdb_put(t->txn, t->s->dbi[DB_META], &k, &v, 0), "meta put");
}

static void hex(char *out, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
}

/* Records the mode (and the key's fingerprint) in a store that has none yet. */
static int record_mode(rg_txn_t *t, const unsigned char *fp, char *err, size_t errlen) {
  MDB_stat st;
  int mrc = mdb_stat(t->txn, t->s->dbi[DB_ACTOR_KEY], &st);
  if (mrc) return rg_fail(err, errlen, rg__from_mdb(mrc, "stat"), "%s: cannot read", t->s->dir);
  if (fp && st.ms_entries)
    return rg_fail(err, errlen, RG_ECONFIG,
                   "store.pseudonymise = 1, but %s already holds %" PRIu64
                   " actors with their "
                   "identifiers in the clear (a store from before pseudonyms); the mode is chosen "
                   "when a store is created: point store.data_dir at a new directory and "
                   "re-ingest, or set store.pseudonymise = 0",
                   t->s->dir, (uint64_t)st.ms_entries);
  uint8_t mode[8];
  rg_put_u64be(mode, fp ? 1 : 0);
  int rc = meta_put(t, META_MODE, mode, sizeof mode);
  if (!rc && fp) rc = meta_put(t, META_KEY, fp, RG_PSEUDONYM_FP_BYTES);
  if (rc) return rg_fail(err, errlen, rc, "%s: cannot record the pseudonym mode", t->s->dir);
  if (fp)
    rg_log_info("%s: new pseudonymised store: identifiers are kept as keyed pseudonyms", t->s->dir);
  return RG_OK;
}

int rg__pseudonym_check(rg_txn_t *t, char *err, size_t errlen) {
  unsigned char fp[RG_PSEUDONYM_FP_BYTES];
  const rg_pseudonym_t *p = t->s->pseudonym;
  if (p) rg_pseudonym_fingerprint(p, fp);
  MDB_val v;
  int rc = meta_get(t, META_MODE, &v);
  if (rc == RG_ENOT_FOUND) return record_mode(t, p ? fp : NULL, err, errlen);
  if (rc || v.mv_size != 8)
    return rg_fail(err, errlen, RG_ESCHEMA, "%s: meta record %s is unreadable", t->s->dir,
                   META_MODE);
  uint64_t mode = rg_get_u64be(v.mv_data);
  if (mode != (p ? 1u : 0u))
    return rg_fail(err, errlen, RG_ECONFIG,
                   "store.pseudonymise = %d, but %s was created with %s; the mode is fixed when "
                   "a store is created (set store.pseudonymise = %d, or point store.data_dir at "
                   "a new directory and re-ingest)",
                   p ? 1 : 0, t->s->dir,
                   mode ? "pseudonymised identifiers (store.pseudonymise = 1)"
                        : "identifiers in the clear (store.pseudonymise = 0)",
                   mode ? 1 : 0);
  if (!p) return RG_OK;
  rc = meta_get(t, META_KEY, &v);
  if (rc || v.mv_size != RG_PSEUDONYM_FP_BYTES)
    return rg_fail(err, errlen, RG_ESCHEMA, "%s: meta record %s is missing or unreadable",
                   t->s->dir, META_KEY);
  if (memcmp(v.mv_data, fp, sizeof fp) != 0) {
    char have[2 * 8 + 1], want[2 * 8 + 1];
    hex(have, fp, 8);
    hex(want, v.mv_data, 8);
    return rg_fail(err, errlen, RG_ECONFIG,
                   "store.pseudonym_key_file: this key (fingerprint %s) is not the key %s was "
                   "created with (fingerprint %s); its pseudonyms would name other actors",
                   have, t->s->dir, want);
  }
  return RG_OK;
}
