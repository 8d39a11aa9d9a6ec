/* calibrate.h — the verdicts' operating points from a false-positive budget. At each
 * recomputation a deterministic share of the labelled address actors is held out of a second
 * propagation (compute.c), so their reputations there are out of sample: their own label
 * neither seeds the walk nor pulls their score. From those reputations each level
 * (tempfail, quarantine, reject) gets the lowest threshold at which the one-sided 95%
 * Clopper-Pearson upper bound of the held-out good share at or above it is within the
 * level's budget — when enough good labels were held out to show that rate at all.
 * Pure arithmetic over arrays; any thread. */
#ifndef RG_CALIBRATE_H
#define RG_CALIBRATE_H

#include <stdint.h>

#include "repgraph/snapshot.h"
#include "repgraph/vocab.h"

#define RG_CALIBRATE_CONFIDENCE 0.95 /* of the false-positive rate's upper bound */

typedef struct {
  double budget[RG_VERDICT_LEVELS]; /* false-positive budget per level (check.*_fpr) */
  double fixed[RG_VERDICT_LEVELS];  /* thresholds of levels that cannot be derived */
  double holdout_share;             /* share of labelled addresses held out, per verdict */
  double min_holdout;               /* held-out good needed per unit of budget (3: rule of 3) */
} rg_calibrate_opts_t;

/* Marks in held[v] (g->n bytes, zeroed here) the held-out vertices: of the labelled address
 * actors of each verdict, the round(share × count) whose hash of (actor id, seed, generation)
 * is smallest — stratified, deterministic, and independent of anything a client chooses.
 * Counts them in *n_good / *n_bad. 0 or RG_ENOMEM. */
int rg_calibrate_holdout(const rg_graph_t *g, double share, uint32_t seed, uint64_t generation,
                         uint8_t *held, uint32_t *n_good, uint32_t *n_bad);

/* Held-out good labels a level with false-positive budget `budget` needs before it can be
 * derived: ceil(min_holdout / budget) (min_holdout 3 is the rule of three: with no false
 * positive among n, the 95% upper bound of the rate is about 3/n). */
uint32_t rg_calibrate_needed(double budget, double min_holdout);

/* One-sided upper confidence bound (Clopper-Pearson, at RG_CALIBRATE_CONFIDENCE) of a rate
 * seen k times in n; 1 when n is 0. */
double rg_calibrate_upper_bound(uint32_t k, uint32_t n);

/* Chooses the thresholds from the out-of-sample reputations of the held-out good (good[],
 * n_good) and bad (bad[], n_bad) addresses; sorts both arrays in place. A level with fewer
 * than rg_calibrate_needed good keeps o->fixed and is not derived; the result is ascending
 * (rg_thresholds_effective), with fpr and tpr measured at the final thresholds. */
void rg_calibrate_thresholds(const rg_calibrate_opts_t *o, double *good, uint32_t n_good,
                             double *bad, uint32_t n_bad, rg_thresholds_t *out);

#endif
