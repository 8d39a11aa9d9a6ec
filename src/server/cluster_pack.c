/* cluster_pack.c — a pack (genpack: a generation, or a store snapshot) over JetStream, for
 * the threads that talk to NATS: its chunks published to a subject, gathered back by the
 * stream sequences its manifest names and verified, and the chunks before a new pack
 * purged. Nothing here touches the loop, the engine or the store. */
#include <stdio.h>
#include <string.h>

#include "cluster_internal.h"
#include "repgraph/err.h"

natsStatus rg__cluster_pack_publish(jsCtx *js, const char *subject, rg_genpack_t *p,
                                    rg_genpack_manifest_t *m) {
  natsStatus s = NATS_OK;
  for (uint32_t i = 0; i < m->chunks && s == NATS_OK; i++) {
    const uint8_t *d;
    size_t len;
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    if (rg_genpack_chunk(p, i, &d, &len) != RG_OK) s = NATS_ERR;
    if (s == NATS_OK) s = js_Publish(&pa, js, subject, d, (int)len, NULL, &jerr);
    if (s == NATS_OK) {
      if (i == 0) m->first_seq = pa->Sequence;
      m->last_seq = pa->Sequence;
    }
    jsPubAck_Destroy(pa);
  }
  return s;
}

int rg__cluster_pack_fetch(jsCtx *js, const char *stream, const char *subject,
                           const rg_genpack_manifest_t *m, rg_genpack_reader_t **out, char *why,
                           size_t cap) {
  *out = NULL;
  rg_genpack_reader_t *r = NULL;
  int rc = rg_genpack_reader_new(m, GEN_MAX_BYTES, &r);
  if (rc)
    return rg_fail(why, cap, rc, "%s", rc == RG_ENOMEM ? "out of memory" : "its sizes do not add up");
  if (m->schema != RG_STORE_SCHEMA_VERSION) {
    rc = rg_fail(why, cap, RG_ESCHEMA, "store schema %u, this replica's is %d", m->schema,
                 RG_STORE_SCHEMA_VERSION);
    goto fail;
  }
  if (m->last_seq < m->first_seq ||
      m->last_seq - m->first_seq >= (uint64_t)m->chunks + GEN_SCAN_SLACK) {
    rc = rg_fail(why, cap, RG_EBAD_REQUEST, "stream sequences %llu-%llu do not fit %u chunks",
                 (unsigned long long)m->first_seq, (unsigned long long)m->last_seq, m->chunks);
    goto fail;
  }
  for (uint64_t seq = m->first_seq; seq <= m->last_seq && !rg_genpack_reader_complete(r); seq++) {
    natsMsg *msg = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetMsg(&msg, js, stream, seq, NULL, &jerr);
    if (s == NATS_OK && strcmp(natsMsg_GetSubject(msg), subject) == 0)
      rg_genpack_reader_add(r, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
    if (s != NATS_OK && s != NATS_NOT_FOUND) {
      rc = rg_fail(why, cap, RG_EUNAVAILABLE, "reading %s sequence %llu: %s", stream,
                   (unsigned long long)seq, natsStatus_GetText(s));
      goto fail;
    }
  }
  char verr[120] = "";
  if ((rc = rg_genpack_reader_verify(r, verr, sizeof verr)) != RG_OK) {
    rg_fail(why, cap, rc, "%s%s", rc == RG_ENOT_FOUND ? "chunks missing: " : "", verr);
    goto fail;
  }
  *out = r;
  return RG_OK;
fail:
  rg_genpack_reader_free(r);
  return rc;
}

void rg__cluster_pack_purge_before(jsCtx *js, const char *stream, uint64_t seq) {
  if (seq <= 1) return; /* nothing before it (and JetStream reads seq 1 as "everything") */
  jsOptions o;
  jsOptions_Init(&o);
  o.Stream.Purge.Sequence = seq; /* up to, not including */
  jsErrCode jerr = 0;
  if (js_PurgeStream(js, stream, &o, &jerr) != NATS_OK)
    rg_log_warn("cluster: purging old packs from %s failed (%d)", stream, (int)jerr);
}
