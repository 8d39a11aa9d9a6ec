/* score.h — pure scoring arithmetic: turning propagated masses into a reputation, bands and
 * verdicts, robust statistics for anomalies, and reasons in words. No I/O, no igraph; any
 * thread. */
#ifndef RG_SCORE_H
#define RG_SCORE_H

#include <stddef.h>
#include <stdint.h>

#include "repgraph/vocab.h"

/* X(NAME, number, wire name, meaning of (value, aux)). Stored as numbers, named on the wire
 * by their wire name: append only. */
#define RG_REASON_MAP(X)                                                                           \
  X(LABELLED, 1, "labelled", "labelled: value = label weight, aux = rg_verdict_t")                 \
  X(BAD_NEIGHBOUR, 2, "bad_neighbour",                                                             \
    "top contributor of bad reputation: value = share, aux = actor id")                            \
  X(BAD_NEIGHBOURS, 3, "bad_neighbours",                                                           \
    "bad neighbours: value = bad count, aux = kind << 32 | total")                                 \
  X(FANOUT, 4, "fanout", "recipients mailed: value = count, aux = population median")              \
  X(LOW_RECIPROCITY, 5, "low_reciprocity",                                                         \
    "recipients who wrote back: value = share, aux = recipients")                                  \
  X(MANY_IPS, 6, "many_ips", "IPs it sends from: value = count, aux = population median")          \
  X(MANY_SENDERS, 7, "many_senders", "senders on this IP: value = count, aux = population median") \
  X(EGONET, 8, "egonet", "egonet deviation (OddBall): value = score, aux = egonet edges")          \
  X(YOUNG, 9, "young", "first seen recently: value = age in hours")                                \
  X(CLUSTER, 10, "cluster", "suspicious community: value = suspicion, aux = community size")       \
  X(LITTLE_EVIDENCE, 11, "little_evidence",                                                        \
    "too little evidence: value = messages, aux = age in hours")                                   \
  X(MODEL, 12, "model",                                                                            \
    "a feature the model weighed: value = its value, aux = feature << 56 | companion << 32 | "     \
    "contribution to the log-odds (float bits); see rg_reason_model_unpack")                       \
  X(PROVISIONAL, 13, "provisional",                                                                \
    "first seen after the generation: value = what its worst neighbour says, aux = its id")      \
  X(EXTRAPOLATED, 14, "extrapolated",                                                              \
    "the model's score, not served (the actor shares nothing with the labels): value = it")

typedef enum {
#define RG__REASON_ENUM(name, num, wire, doc) RG_REASON_##name = num,
  RG_REASON_MAP(RG__REASON_ENUM)
#undef RG__REASON_ENUM
} rg_reason_code_t;

/* Stable name of a reason code ("fanout", …), or NULL. */
const char *rg_reason_name(int code);

/* Writes the reason in words into buf (capacity cap). `actor_text` names the actor that
 * aux refers to for BAD_NEIGHBOUR and PROVISIONAL (may be NULL). Returns buf. */
const char *rg_reason_text(const rg_reason_t *r, const char *actor_text, char *buf, size_t cap);

/* A MODEL reason: feature (features.h), its value, its companion's value (NAN: none; kept
 * as a count up to 2^24 - 2) and its contribution to the log-odds of being bad. */
rg_reason_t rg_reason_model(int feature, double value, double companion, double contribution);

/* The parts of a MODEL reason (companion NAN when it has none). */
void rg_reason_model_unpack(const rg_reason_t *r, int *feature, double *companion,
                            double *contribution);

/* Reputation from the degree-normalised masses that reached an actor from bad and from good
 * seeds: bad / (bad + good), pulled toward `prior` by `smoothing` (a mass of evidence that
 * weighs as much as the prior). An actor no mass reached gets the prior. In [0,1]. */
double rg_score_reputation(double bad, double good, double prior, double smoothing);

/* Band for people and filters: neutral when there is too little evidence (fewer than
 * min_messages messages or younger than min_age_s), else by the thresholds. */
rg_band_t rg_score_band(double reputation, uint64_t messages, int64_t age_s, uint64_t min_messages,
                        int64_t min_age_s, double band_bad, double band_suspicious,
                        double band_good);

/* Median of n values (the array is reordered). 0 when n is 0. */
double rg_score_median(double *values, size_t n);

/* Robust z-scores: (x - median) / (1.4826 × MAD), written to z. A MAD of 0 falls back to
 * the mean absolute deviation, then to 1. `scratch` holds n doubles. */
void rg_robust_z(const double *x, size_t n, double *z, double *scratch);

/* OddBall (Akoglu et al.): fits log(E) = log(C) + alpha·log(N) over egonets with N > 1
 * (least squares) and scores each egonet by max(E, C·N^α) / min(E, C·N^α) ·
 * log(|E − C·N^α| + 1). Writes scores to out (0 where N <= 1). */
void rg_oddball(const double *nodes, const double *edges, size_t n, double *out);

/* Squashes a non-negative deviation into [0,1): 1 − exp(−x / scale). */
double rg_squash(double x, double scale);

#endif
