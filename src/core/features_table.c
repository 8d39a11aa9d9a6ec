/* features_table.c — the feature table's names, units, meanings and words (features.h).
 * Pure; any thread. */
#include <stdio.h>
#include <string.h>

#include "repgraph/features.h"

typedef struct {
  const char *name, *unit, *meaning, *words;
  int companion;
} feature_doc_t;

static const feature_doc_t docs[RG_FEATURE_COUNT] = {
#define RG__FEATURE_DOC(id, text, unit, doc, comp, words) \
  [RG_FEAT_##id] = {text, unit, doc, words, RG_FEAT_##comp},
    RG_FEATURE_MAP(RG__FEATURE_DOC)
#undef RG__FEATURE_DOC
};

static const feature_doc_t *doc(int i) {
  return i >= 0 && i < RG_FEATURE_COUNT ? &docs[i] : NULL;
}

const char *rg_feature_name(int i) {
  return doc(i) ? doc(i)->name : NULL;
}
const char *rg_feature_unit(int i) {
  return doc(i) ? doc(i)->unit : NULL;
}
const char *rg_feature_meaning(int i) {
  return doc(i) ? doc(i)->meaning : NULL;
}
int rg_feature_companion(int i) {
  return doc(i) ? doc(i)->companion : RG_FEAT_NONE;
}

const char *rg_feature_words(int i, double value, double companion, char *buf, size_t cap) {
  const feature_doc_t *d = doc(i);
  if (!d) {
    snprintf(buf, cap, "feature %d = %g", i, value);
    return buf;
  }
  if (strcmp(d->unit, "share") == 0 && strstr(d->words, "%%")) value *= 100;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  snprintf(buf, cap, d->words, value, companion);
#pragma GCC diagnostic pop
  return buf;
}
