/* vocab.c — names of the domain's words and back: verdicts, label sources (with their
 * default weights) and bands, all generated from the X-macro tables in vocab.h. Any thread. */
#include "repgraph/vocab.h"

#include <string.h>

#include "repgraph/err.h"

static int parse_name(const char *s, size_t len, const char *name) {
  return name && strlen(name) == len && memcmp(s, name, len) == 0;
}

const char *rg_verdict_name(int v) {
  switch (v) {
#define RG__VERDICT_CASE(name, num, text) \
  case num: return text;
    RG_VERDICT_MAP(RG__VERDICT_CASE)
#undef RG__VERDICT_CASE
    default: return NULL;
  }
}

int rg_verdict_parse(const char *s, size_t len, rg_verdict_t *out) {
#define RG__VERDICT_PARSE(name, num, text) \
  if (parse_name(s, len, text)) {          \
    *out = RG_VERDICT_##name;              \
    return RG_OK;                          \
  }
  RG_VERDICT_MAP(RG__VERDICT_PARSE)
#undef RG__VERDICT_PARSE
  return RG_EINVALID_LABEL;
}

const char *rg_label_source_name(int src) {
  switch (src) {
#define RG__SOURCE_CASE(name, num, text, weight) \
  case num: return text;
    RG_LABEL_SOURCE_MAP(RG__SOURCE_CASE)
#undef RG__SOURCE_CASE
    default: return NULL;
  }
}

int rg_label_source_parse(const char *s, size_t len, rg_label_source_t *out) {
#define RG__SOURCE_PARSE(name, num, text, weight) \
  if (parse_name(s, len, text)) {                 \
    *out = RG_SOURCE_##name;                      \
    return RG_OK;                                 \
  }
  RG_LABEL_SOURCE_MAP(RG__SOURCE_PARSE)
#undef RG__SOURCE_PARSE
  return RG_EINVALID_LABEL;
}

const char *rg_band_name(int band) {
  switch (band) {
#define RG__BAND_CASE(name, num, text) \
  case num: return text;
    RG_BAND_MAP(RG__BAND_CASE)
#undef RG__BAND_CASE
    default: return NULL;
  }
}

double rg_label_source_weight(rg_label_source_t src) {
  switch (src) {
#define RG__SOURCE_WEIGHT(name, num, text, weight) \
  case num: return weight;
    RG_LABEL_SOURCE_MAP(RG__SOURCE_WEIGHT)
#undef RG__SOURCE_WEIGHT
    default: return 0;
  }
}

const char *rg_level_name(int level) {
  switch (level) {
    case RG_VERDICT_TEMPFAIL: return "tempfail";
    case RG_VERDICT_QUARANTINE: return "quarantine";
    case RG_VERDICT_REJECT: return "reject";
    default: return NULL;
  }
}

void rg_thresholds_effective(const rg_thresholds_t *t, const double fixed[RG_VERDICT_LEVELS],
                             double out[RG_VERDICT_LEVELS]) {
  for (int l = 0; l < RG_VERDICT_LEVELS; l++) {
    out[l] = t && t->derived[l] ? t->at[l] : fixed[l];
    if (l > 0 && out[l] < out[l - 1]) out[l] = out[l - 1];
  }
}

const char *rg_model_state_name(int state) {
  switch (state) {
#define RG__MODEL_STATE_NAME(name, num, text) \
  case num: return text;
    RG_MODEL_STATES(RG__MODEL_STATE_NAME)
#undef RG__MODEL_STATE_NAME
    default: return NULL;
  }
}
