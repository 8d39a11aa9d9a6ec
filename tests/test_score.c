/* test_score.c — the pure scoring functions of score.c: reputation from masses, bands,
 * median and robust z-scores, OddBall egonet scores, squashing, and reasons in words.
 * Single-threaded cmocka tests; no store, no igraph, no clock. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/actor.h"
#include "repgraph/features.h"
#include "repgraph/score.h"
#include "repgraph/vocab.h"

#define EPS 1e-12

/* The configured defaults (src/core/config.c), spelled out so the tests do not depend on it. */
#define MIN_MESSAGES 3
#define MIN_AGE_S    INT64_C(3600)
#define BAND_BAD     0.8
#define BAND_SUSP    0.6
#define BAND_GOOD    0.3

static void assert_contains(const char *text, const char *needle) {
  if (!strstr(text, needle)) print_error("\"%s\" does not contain \"%s\"\n", text, needle);
  assert_non_null(strstr(text, needle));
}

/* ---- reputation ----------------------------------------------------------------------- */

static void test_score_reputation_without_mass_is_the_prior(void **state) {
  (void)state;
  assert_float_equal(rg_score_reputation(0, 0, 0.5, 0.05), 0.5, EPS);
  assert_float_equal(rg_score_reputation(0, 0, 0.3, 0.05), 0.3, EPS);
  assert_float_equal(rg_score_reputation(0, 0, 0.9, 1.0), 0.9, EPS);
  /* No smoothing and no mass: nothing to divide by, still the prior. */
  assert_float_equal(rg_score_reputation(0, 0, 0.42, 0), 0.42, EPS);
}

static void test_score_reputation_only_bad_is_near_one(void **state) {
  (void)state;
  double r = rg_score_reputation(100, 0, 0.5, 0.05);
  assert_true(r > 0.999 && r <= 1);
  /* Little bad mass is pulled toward the prior; more mass, further from it. */
  double small = rg_score_reputation(0.01, 0, 0.5, 0.05);
  assert_true(small > 0.5 && small < r);
  /* Only good: near 0. */
  double g = rg_score_reputation(0, 100, 0.5, 0.05);
  assert_true(g >= 0 && g < 0.001);
  /* Without smoothing the ratio is exact. */
  assert_float_equal(rg_score_reputation(3, 1, 0.5, 0), 0.75, EPS);
  /* The smoothing mass weighs as much as the prior: (b + s·p) / (b + g + s). */
  assert_float_equal(rg_score_reputation(1, 0, 0.5, 1), 0.75, EPS);
}

static void test_score_reputation_is_symmetric(void **state) {
  (void)state;
  const double masses[] = {0, 1e-6, 0.01, 0.3, 1, 2.5, 10, 1e6};
  const size_t n = sizeof masses / sizeof masses[0];
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++) {
      double a = rg_score_reputation(masses[i], masses[j], 0.5, 0.05);
      double b = rg_score_reputation(masses[j], masses[i], 0.5, 0.05);
      assert_float_equal(a, 1 - b, 1e-12);
      /* and with another prior: swapping masses mirrors the prior too */
      a = rg_score_reputation(masses[i], masses[j], 0.2, 0.05);
      b = rg_score_reputation(masses[j], masses[i], 0.8, 0.05);
      assert_float_equal(a, 1 - b, 1e-12);
    }
  assert_float_equal(rg_score_reputation(7, 7, 0.5, 0.05), 0.5, EPS);
}

static void test_score_reputation_treats_nan_and_negative_as_zero(void **state) {
  (void)state;
  assert_float_equal(rg_score_reputation(NAN, 0, 0.5, 0.05), 0.5, EPS);
  assert_float_equal(rg_score_reputation(NAN, NAN, 0.3, 0.05), 0.3, EPS);
  assert_float_equal(rg_score_reputation(-5, 0, 0.3, 0.05), 0.3, EPS);
  assert_float_equal(rg_score_reputation(-1, -1, 0.3, 0.05), 0.3, EPS);
  assert_float_equal(rg_score_reputation(NAN, 2, 0.5, 0.05), rg_score_reputation(0, 2, 0.5, 0.05),
                     EPS);
  assert_float_equal(rg_score_reputation(2, NAN, 0.5, 0.05), rg_score_reputation(2, 0, 0.5, 0.05),
                     EPS);
  assert_float_equal(rg_score_reputation(3, -4, 0.5, 0.05), rg_score_reputation(3, 0, 0.5, 0.05),
                     EPS);
  assert_float_equal(rg_score_reputation(-INFINITY, 1, 0.5, 0.05),
                     rg_score_reputation(0, 1, 0.5, 0.05), EPS);
}

static void test_score_reputation_stays_in_unit_interval(void **state) {
  (void)state;
  const double masses[] = {NAN, -1, 0, 1e-300, 1e-9, 0.5, 1, 3, 1e9, 1e300};
  const double priors[] = {0, 0.1, 0.5, 0.9, 1};
  const double smooth[] = {0, 0.05, 1, 100};
  const size_t nm = sizeof masses / sizeof masses[0];
  for (size_t i = 0; i < nm; i++)
    for (size_t j = 0; j < nm; j++)
      for (size_t p = 0; p < sizeof priors / sizeof priors[0]; p++)
        for (size_t s = 0; s < sizeof smooth / sizeof smooth[0]; s++) {
          double r = rg_score_reputation(masses[i], masses[j], priors[p], smooth[s]);
          if (!(r >= 0 && r <= 1))
            print_error("reputation(%g, %g, %g, %g) = %g\n", masses[i], masses[j], priors[p],
                        smooth[s], r);
          assert_true(r >= 0 && r <= 1);
        }
}

/* ---- bands ---------------------------------------------------------------------------- */

static rg_band_t band(double rep, uint64_t messages, int64_t age_s) {
  return rg_score_band(rep, messages, age_s, MIN_MESSAGES, MIN_AGE_S, BAND_BAD, BAND_SUSP,
                       BAND_GOOD);
}

static void test_score_band_neutral_with_little_evidence(void **state) {
  (void)state;
  const double reps[] = {0, 0.01, 0.3, 0.5, 0.6, 0.8, 0.99, 1};
  for (size_t i = 0; i < sizeof reps / sizeof reps[0]; i++) {
    assert_int_equal(band(reps[i], 0, 86400), RG_BAND_NEUTRAL);
    assert_int_equal(band(reps[i], MIN_MESSAGES - 1, 86400), RG_BAND_NEUTRAL); /* too few */
    assert_int_equal(band(reps[i], 1000, MIN_AGE_S - 1), RG_BAND_NEUTRAL);     /* too young */
    assert_int_equal(band(reps[i], 1000, 0), RG_BAND_NEUTRAL);
    assert_int_equal(band(reps[i], 1000, -5), RG_BAND_NEUTRAL); /* first seen "in the future" */
  }
}

static void test_score_band_thresholds(void **state) {
  (void)state;
  const uint64_t m = MIN_MESSAGES; /* exactly enough evidence */
  const int64_t a = MIN_AGE_S;
  assert_int_equal(band(1.0, m, a), RG_BAND_BAD);
  assert_int_equal(band(0.9, m, a), RG_BAND_BAD);
  assert_int_equal(band(BAND_BAD, m, a), RG_BAND_BAD); /* thresholds are inclusive */
  assert_int_equal(band(0.79, m, a), RG_BAND_SUSPICIOUS);
  assert_int_equal(band(BAND_SUSP, m, a), RG_BAND_SUSPICIOUS);
  assert_int_equal(band(0.59, m, a), RG_BAND_NEUTRAL);
  assert_int_equal(band(0.5, m, a), RG_BAND_NEUTRAL);
  assert_int_equal(band(0.31, m, a), RG_BAND_NEUTRAL);
  assert_int_equal(band(BAND_GOOD, m, a), RG_BAND_GOOD);
  assert_int_equal(band(0.1, m, a), RG_BAND_GOOD);
  assert_int_equal(band(0.0, m, a), RG_BAND_GOOD);
  /* No minimum at all: a brand-new actor with no messages is banded by reputation. */
  assert_int_equal(rg_score_band(0.95, 0, 0, 0, 0, BAND_BAD, BAND_SUSP, BAND_GOOD), RG_BAND_BAD);
}

/* ---- robust statistics ---------------------------------------------------------------- */

static void test_score_median_odd_and_even(void **state) {
  (void)state;
  double odd[] = {5, 1, 3};
  assert_float_equal(rg_score_median(odd, 3), 3, EPS);
  double even[] = {4, 1, 3, 2};
  assert_float_equal(rg_score_median(even, 4), 2.5, EPS);
  double one[] = {-7};
  assert_float_equal(rg_score_median(one, 1), -7, EPS);
  double dup[] = {2, 2, 9, 2, 9, 9, 9};
  assert_float_equal(rg_score_median(dup, 7), 9, EPS);
  assert_float_equal(rg_score_median(NULL, 0), 0, EPS);
  /* The array is reordered (sorted) in place. */
  double v[] = {9, -1, 4, 0, 3, 3};
  assert_float_equal(rg_score_median(v, 6), 3, EPS);
  for (int i = 1; i < 6; i++) assert_true(v[i - 1] <= v[i]);
}

static void test_score_robust_z_known_values(void **state) {
  (void)state;
  const double x[] = {1, 2, 3, 4, 100};
  double z[5], scratch[5];
  rg_robust_z(x, 5, z, scratch);
  /* median 3, absolute deviations {2,1,0,1,97}: MAD 1, scale 1.4826 */
  const double want[] = {-2 / 1.4826, -1 / 1.4826, 0, 1 / 1.4826, 97 / 1.4826};
  for (int i = 0; i < 5; i++) assert_float_equal(z[i], want[i], 1e-9);
  /* The input is left alone. */
  assert_float_equal(x[4], 100, 0);

  /* Even count: median 2.5, deviations {1.5,.5,.5,1.5}: MAD 1. */
  const double y[] = {4, 1, 3, 2};
  double zy[4], sy[4];
  rg_robust_z(y, 4, zy, sy);
  assert_float_equal(zy[0], 1.5 / 1.4826, 1e-9);
  assert_float_equal(zy[1], -1.5 / 1.4826, 1e-9);
  assert_float_equal(zy[2], 0.5 / 1.4826, 1e-9);
}

static void test_score_robust_z_mad_zero_falls_back(void **state) {
  (void)state;
  /* Most values equal the median: MAD 0, so the mean absolute deviation (1) × 1.2533. */
  const double x[] = {5, 5, 5, 5, 10};
  double z[5], scratch[5];
  rg_robust_z(x, 5, z, scratch);
  for (int i = 0; i < 4; i++) assert_float_equal(z[i], 0, EPS);
  assert_float_equal(z[4], 5 / 1.2533, 1e-9);
  assert_true(isfinite(z[4]));

  /* All equal: no spread at all, scale 1, every z is 0 (not NaN). */
  const double c[] = {7, 7, 7};
  double zc[3] = {NAN, NAN, NAN}, sc[3];
  rg_robust_z(c, 3, zc, sc);
  for (int i = 0; i < 3; i++) assert_float_equal(zc[i], 0, EPS);

  /* One value. */
  const double one[] = {3};
  double z1 = NAN, s1;
  rg_robust_z(one, 1, &z1, &s1);
  assert_float_equal(z1, 0, EPS);

  /* n = 0 touches nothing. */
  double untouched = 42;
  rg_robust_z(NULL, 0, &untouched, NULL);
  assert_float_equal(untouched, 42, 0);
}

/* ---- OddBall -------------------------------------------------------------------------- */

#define POP 30

static void test_score_oddball_population_on_power_law_scores_zero(void **state) {
  (void)state;
  double nodes[POP], edges[POP], out[POP];
  for (int i = 0; i < POP; i++) {
    nodes[i] = 2 + i;
    edges[i] = 0.8 * pow(nodes[i], 1.4);
  }
  rg_oddball(nodes, edges, POP, out);
  for (int i = 0; i < POP; i++) assert_float_equal(out[i], 0, 1e-9);
}

static void test_score_oddball_star_and_clique_deviate(void **state) {
  (void)state;
  /* A population on E = N^1.3, then a star (E = N - 1) and a clique (E = N(N-1)/2) of the
   * same size N = 20. Both lie off the fitted law and score above every ordinary egonet. */
  double nodes[POP + 2], edges[POP + 2], out[POP + 2];
  for (int i = 0; i < POP; i++) {
    nodes[i] = 2 + i % 25;
    edges[i] = pow(nodes[i], 1.3);
  }
  const int star = POP, clique = POP + 1;
  nodes[star] = 20, edges[star] = 19;
  nodes[clique] = 20, edges[clique] = 20 * 19 / 2.0;
  rg_oddball(nodes, edges, POP + 2, out);
  double max_pop = 0;
  for (int i = 0; i < POP; i++) {
    assert_true(out[i] >= 0 && isfinite(out[i]));
    if (out[i] > max_pop) max_pop = out[i];
  }
  if (!(out[star] > max_pop && out[clique] > max_pop))
    print_error("star %g clique %g population max %g\n", out[star], out[clique], max_pop);
  assert_true(out[star] > max_pop);
  assert_true(out[clique] > max_pop);
  assert_true(out[clique] > out[star]); /* 190 edges is much further from ~49 than 19 is */
}

static void test_score_oddball_ignores_tiny_egonets(void **state) {
  (void)state;
  double nodes[] = {1, 0, 3, 4, 5, 2}, edges[] = {0, 0, 2, 0, 7, 1};
  double out[6];
  for (int i = 0; i < 6; i++) out[i] = -1;
  rg_oddball(nodes, edges, 6, out);
  assert_float_equal(out[0], 0, 0); /* N = 1 */
  assert_float_equal(out[1], 0, 0); /* N = 0 */
  assert_float_equal(out[3], 0, 0); /* no edges */
  for (int i = 0; i < 6; i++) assert_true(out[i] >= 0 && isfinite(out[i]));

  /* Only one usable egonet: no fit possible, the default law E = N applies, no NaN. */
  double n1[] = {1, 3}, e1[] = {0, 3}, o1[2];
  rg_oddball(n1, e1, 2, o1);
  assert_float_equal(o1[0], 0, 0);
  assert_float_equal(o1[1], 0, 1e-12);
  /* Nothing at all. */
  rg_oddball(NULL, NULL, 0, NULL);
}

/* ---- squash --------------------------------------------------------------------------- */

static void test_score_squash(void **state) {
  (void)state;
  assert_float_equal(rg_squash(0, 6), 0, 0);
  assert_float_equal(rg_squash(-3, 6), 0, 0);
  assert_float_equal(rg_squash(6, 6), 1 - exp(-1), 1e-12);
  assert_float_equal(rg_squash(3, 1), 1 - exp(-3), 1e-12);
  double prev = 0;
  for (double x = 0.5; x <= 60; x += 0.5) {
    double s = rg_squash(x, 6);
    assert_true(s > prev && s < 1);
    prev = s;
  }
  double big = rg_squash(1e6, 6);
  assert_true(big > 0.999 && big <= 1);
}

/* ---- reasons -------------------------------------------------------------------------- */

typedef struct {
  int code;
  const char *name;
} reason_row_t;

static const reason_row_t reason_rows[] = {
#define ROW(name, num, wire, doc) {num, #name},
    RG_REASON_MAP(ROW)
#undef ROW
};
#define N_REASONS (sizeof reason_rows / sizeof reason_rows[0])

static void test_score_reason_name_for_every_code(void **state) {
  (void)state;
  assert_int_equal(N_REASONS, 14);
  for (size_t i = 0; i < N_REASONS; i++) {
    const char *name = rg_reason_name(reason_rows[i].code);
    assert_non_null(name);
    /* the name is the enum's name in lower case */
    char lower[64];
    size_t k = 0;
    for (const char *p = reason_rows[i].name; *p && k + 1 < sizeof lower; p++)
      lower[k++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    lower[k] = '\0';
    assert_string_equal(name, lower);
    for (size_t j = 0; j < i; j++)
      assert_string_not_equal(name, rg_reason_name(reason_rows[j].code));
  }
  assert_null(rg_reason_name(0));
  assert_null(rg_reason_name(15));
  assert_null(rg_reason_name(-1));
  assert_null(rg_reason_name(255));
}

/* One reason per code with distinctive numbers, and the text each must contain. */
typedef struct {
  rg_reason_t r;
  const char *actor;
  const char *needles[3];
} reason_case_t;

static void test_score_reason_text_for_every_code(void **state) {
  (void)state;
  const reason_case_t cases[] = {
      {{RG_REASON_LABELLED, 0.8, RG_VERDICT_BAD}, NULL, {"bad", "0.8", NULL}},
      {{RG_REASON_LABELLED, 0.3, RG_VERDICT_GOOD}, NULL, {"good", "0.3", NULL}},
      {{RG_REASON_BAD_NEIGHBOUR, 0.42, 77}, "ip:192.0.2.7", {"42%", "ip:192.0.2.7", NULL}},
      {{RG_REASON_BAD_NEIGHBOUR, 0.5, 77}, NULL, {"50%", "forgotten", NULL}},
      {{RG_REASON_BAD_NEIGHBOURS, 3, ((uint64_t)RG_EDGE_SENT_FROM << 32) | 7},
       NULL,
       {"3 of its 7", "sent_from", NULL}},
      {{RG_REASON_FANOUT, 200, 2}, NULL, {"200 recipients", "typical: 2", NULL}},
      {{RG_REASON_LOW_RECIPROCITY, 0.05, 200}, NULL, {"5%", "200 recipients", NULL}},
      {{RG_REASON_MANY_IPS, 12, 1}, NULL, {"12 IPs", "typical: 1", NULL}},
      {{RG_REASON_MANY_SENDERS, 40, 3}, NULL, {"40 senders", "typical: 3", NULL}},
      {{RG_REASON_EGONET, 7.5, 190}, NULL, {"190 edges", NULL, NULL}},
      {{RG_REASON_YOUNG, 5, 0}, NULL, {"5 hours", NULL, NULL}},
      {{RG_REASON_CLUSTER, 0.87, 12}, NULL, {"12 actors", "0.87", NULL}},
      {{RG_REASON_LITTLE_EVIDENCE, 2, 1}, NULL, {"2 messages", "1 hours", NULL}},
      {{RG_REASON_PROVISIONAL, 0.91, 5}, "net:203.0.113.0/24", {"net:203.0.113.0/24", "0.91", NULL}},
      {{RG_REASON_EXTRAPOLATED, 0.8, 0}, NULL, {"model says 0.80", "extrapolates", NULL}},
      {rg_reason_model(RG_FEAT_OUT_MAILED, 212, NAN, 1.5), NULL, {"mailed 212 recipients", NULL, NULL}},
  };
  bool covered[256] = {false};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[256];
    memset(buf, 'x', sizeof buf);
    const char *text = rg_reason_text(&cases[i].r, cases[i].actor, buf, sizeof buf);
    assert_ptr_equal(text, buf);
    assert_true(strlen(buf) > 0 && strlen(buf) < sizeof buf);
    for (int k = 0; k < 3 && cases[i].needles[k]; k++) assert_contains(buf, cases[i].needles[k]);
    covered[cases[i].r.code] = true;
  }
  for (size_t i = 0; i < N_REASONS; i++) {
    if (!covered[reason_rows[i].code]) print_error("no text case for %s\n", reason_rows[i].name);
    assert_true(covered[reason_rows[i].code]);
  }
  /* An unknown code still produces text naming it; an unknown verdict or kind does not crash. */
  char buf[64];
  rg_reason_t unknown = {99, 1, 2};
  assert_contains(rg_reason_text(&unknown, NULL, buf, sizeof buf), "99");
  rg_reason_t odd_label = {RG_REASON_LABELLED, 1, 77};
  assert_true(strlen(rg_reason_text(&odd_label, NULL, buf, sizeof buf)) > 0);
  rg_reason_t odd_kind = {RG_REASON_BAD_NEIGHBOURS, 1, ((uint64_t)200 << 32) | 4};
  assert_contains(rg_reason_text(&odd_kind, NULL, buf, sizeof buf), "1 of its 4");
}

static void test_score_reason_text_truncates_to_capacity(void **state) {
  (void)state;
  rg_reason_t r = {RG_REASON_LOW_RECIPROCITY, 0.05, 200};
  char buf[12];
  memset(buf, 'x', sizeof buf);
  rg_reason_text(&r, NULL, buf, 8);
  assert_int_equal(strlen(buf), 7);
  assert_int_equal(buf[8], 'x'); /* nothing written past the capacity */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_score_reputation_without_mass_is_the_prior),
      cmocka_unit_test(test_score_reputation_only_bad_is_near_one),
      cmocka_unit_test(test_score_reputation_is_symmetric),
      cmocka_unit_test(test_score_reputation_treats_nan_and_negative_as_zero),
      cmocka_unit_test(test_score_reputation_stays_in_unit_interval),
      cmocka_unit_test(test_score_band_neutral_with_little_evidence),
      cmocka_unit_test(test_score_band_thresholds),
      cmocka_unit_test(test_score_median_odd_and_even),
      cmocka_unit_test(test_score_robust_z_known_values),
      cmocka_unit_test(test_score_robust_z_mad_zero_falls_back),
      cmocka_unit_test(test_score_oddball_population_on_power_law_scores_zero),
      cmocka_unit_test(test_score_oddball_star_and_clique_deviate),
      cmocka_unit_test(test_score_oddball_ignores_tiny_egonets),
      cmocka_unit_test(test_score_squash),
      cmocka_unit_test(test_score_reason_name_for_every_code),
      cmocka_unit_test(test_score_reason_text_for_every_code),
      cmocka_unit_test(test_score_reason_text_truncates_to_capacity),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
