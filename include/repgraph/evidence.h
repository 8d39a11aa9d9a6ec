/* evidence.h — the evidence behind scores that a message verdict weighs (see evidence.c):
 * engaged recipients of addresses, and the senders of infrastructure with how many score
 * bad or good. Any thread. */
#ifndef RG_EVIDENCE_H
#define RG_EVIDENCE_H

#include "repgraph/snapshot.h"

/* Fills users, bad_users, good_users and engaged of scores[v] (one per vertex of g, their
 * reputations already computed): an address counts as bad when labelled bad or at
 * band_bad and above, as good when labelled good or at band_good and below. 0 or
 * RG_ENOMEM (the scores then keep zeros). */
int rg_evidence_fill(const rg_graph_t *g, double band_bad, double band_good, rg_score_t *scores);

#endif
