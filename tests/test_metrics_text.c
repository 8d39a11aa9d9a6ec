/* test_metrics_text.c — metrics_text.c: the exposition is valid Prometheus text format (every
 * sample's family has one HELP and one TYPE line before it, names and labels are well
 * formed, counters end in _total), histogram buckets are cumulative with +Inf equal to
 * _count and exact at their bounds, and the view's parts appear only when present.
 * Single-threaded cmocka tests on hand-filled counters. */
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/metrics_text.h"

static char *render(const rg_metrics_t *m, const rg_metrics_view_t *v) {
  rg_buf_t out;
  rg_buf_init(&out, 0);
  assert_int_equal(rg_metrics_text_render(m, v, &out), RG_OK);
  assert_int_equal(rg_buf_reserve(&out, 1), RG_OK);
  out.data[out.len] = '\0';
  return (char *)out.data; /* the test frees it */
}

static bool is_name(const char *s, size_t n) {
  if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':')) return false;
  for (size_t i = 1; i < n; i++)
    if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':')) return false;
  return true;
}

typedef struct {
  char name[128];
  char type[16];
  bool help;
} fam_t;

/* The family a sample name belongs to: itself, or without _bucket/_sum/_count when the
 * family of that stem is a histogram. */
static fam_t *find_family(fam_t *f, size_t n, const char *sample) {
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(f[i].name);
    if (strcmp(f[i].name, sample) == 0) return &f[i];
    if (strcmp(f[i].type, "histogram") == 0 && strncmp(sample, f[i].name, len) == 0 &&
        (strcmp(sample + len, "_bucket") == 0 || strcmp(sample + len, "_sum") == 0 ||
         strcmp(sample + len, "_count") == 0))
      return &f[i];
  }
  return NULL;
}

/* Checks the whole text line by line; returns the number of samples. */
static size_t check_format(const char *text) {
  static fam_t fams[512];
  size_t n_fams = 0, samples = 0;
  memset(fams, 0, sizeof fams);
  const char *p = text;
  assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
  while (*p) {
    const char *eol = strchr(p, '\n');
    assert_non_null(eol);
    char line[1024];
    size_t len = (size_t)(eol - p);
    assert_true(len > 0 && len < sizeof line);
    memcpy(line, p, len);
    line[len] = '\0';
    p = eol + 1;
    if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
      char *name = line + 7, *sp = strchr(name, ' ');
      assert_non_null(sp);
      *sp = '\0';
      assert_true(is_name(name, strlen(name)));
      fam_t *f = NULL;
      for (size_t i = 0; i < n_fams; i++)
        if (strcmp(fams[i].name, name) == 0) f = &fams[i];
      if (!f) {
        assert_true(n_fams < 512);
        f = &fams[n_fams++];
        snprintf(f->name, sizeof f->name, "%s", name);
      }
      if (line[2] == 'H') {
        assert_false(f->help); /* one HELP per family */
        f->help = true;
        assert_true(strlen(sp + 1) > 0);
      } else {
        assert_string_equal(f->type, ""); /* one TYPE per family, before its samples */
        const char *t = sp + 1;
        assert_true(strcmp(t, "counter") == 0 || strcmp(t, "gauge") == 0 ||
                    strcmp(t, "histogram") == 0);
        snprintf(f->type, sizeof f->type, "%s", t);
        if (strcmp(t, "counter") == 0) assert_non_null(strstr(name, "_total"));
      }
      continue;
    }
    assert_true(line[0] != '#');
    /* name{k="v",...} value */
    size_t nl = strcspn(line, "{ ");
    char name[128];
    assert_true(is_name(line, nl) && nl < sizeof name);
    memcpy(name, line, nl);
    name[nl] = '\0';
    const char *q = line + nl;
    if (*q == '{') {
      q++;
      while (*q != '}') {
        size_t kl = strcspn(q, "=");
        assert_true(is_name(q, kl));
        q += kl;
        assert_true(q[0] == '=' && q[1] == '"');
        q += 2;
        while (*q && *q != '"') q += *q == '\\' ? 2 : 1;
        assert_true(*q == '"');
        q++;
        if (*q == ',')
          q++;
        else
          assert_true(*q == '}');
      }
      q++;
    }
    assert_true(*q == ' ');
    char *end;
    strtod(q + 1, &end);
    assert_true(end != q + 1 && *end == '\0');
    fam_t *f = find_family(fams, n_fams, name);
    if (!f) fail_msg("sample %s has no HELP/TYPE before it", name);
    assert_true(f->help);
    assert_string_not_equal(f->type, "");
    samples++;
  }
  return samples;
}

/* The value of the line that starts with `prefix` (a sample name with its labels). */
static double value_of(const char *text, const char *prefix) {
  size_t n = strlen(prefix);
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (strncmp(p, prefix, n) == 0 && p[n] == ' ') return strtod(p + n + 1, NULL);
  fail_msg("no sample %s", prefix);
  return -1;
}

static bool has_line(const char *text, const char *prefix) {
  size_t n = strlen(prefix);
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (strncmp(p, prefix, n) == 0) return true;
  return false;
}

static void test_metrics_text_of_a_fresh_server_is_valid_exposition_format(void **state) {
  (void)state;
  static rg_metrics_t m;
  rg_metrics_view_t v = {.now = 1800000000, .loop_heartbeat_age_s = 0.5, .ready = true};
  char *text = render(&m, &v);
  assert_true(check_format(text) > 100);
  assert_true(has_line(text, "# TYPE repgraph_requests_total counter"));
  assert_true(has_line(text, "# TYPE repgraph_request_duration_seconds histogram"));
  assert_int_equal(value_of(text, "repgraph_ready"), 1);
  assert_false(has_line(text, "repgraph_generation ")); /* no generation in the view */
  assert_false(has_line(text, "repgraph_actors{"));     /* counts not read */
  free(text);
}

static void test_metrics_text_histogram_buckets_are_cumulative_and_end_in_count(void **state) {
  (void)state;
  static rg_metrics_t m;
  memset(&m, 0, sizeof m);
  const uint64_t us[] = {1, 16, 17, 100000, 2000000000ull}; /* the last is past every bound */
  for (size_t i = 0; i < 5; i++) rg_hist_add(&m.latency[1], us[i]); /* op 1: ingest */
  rg_metrics_view_t v = {.now = 1800000000, .loop_heartbeat_age_s = -1};
  char *text = render(&m, &v);
  check_format(text);
  const char *b = "repgraph_request_duration_seconds_bucket{op=\"ingest\",le=";
  char key[160];
  snprintf(key, sizeof key, "%s\"1.6e-05\"}", b);
  assert_int_equal(value_of(text, key), 2); /* 1 and 16 µs: le is inclusive */
  snprintf(key, sizeof key, "%s\"6.4e-05\"}", b);
  assert_int_equal(value_of(text, key), 3);
  snprintf(key, sizeof key, "%s\"0.065536\"}", b);
  assert_int_equal(value_of(text, key), 3);
  snprintf(key, sizeof key, "%s\"0.262144\"}", b);
  assert_int_equal(value_of(text, key), 4);
  snprintf(key, sizeof key, "%s\"1073.741824\"}", b);
  assert_int_equal(value_of(text, key), 4);
  snprintf(key, sizeof key, "%s\"+Inf\"}", b);
  assert_int_equal(value_of(text, key), 5);
  assert_int_equal(value_of(text, "repgraph_request_duration_seconds_count{op=\"ingest\"}"), 5);
  assert_float_equal(value_of(text, "repgraph_request_duration_seconds_sum{op=\"ingest\"}"),
                     (1 + 16 + 17 + 100000 + 2000000000.0) / 1e6, 1e-6);
  /* every histogram's buckets rise to its +Inf, which equals its _count */
  double prev = -1;
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    const char *bucket = strstr(p, "_bucket{");
    const char *eol = strchr(p, '\n');
    if (!bucket || bucket > eol) {
      prev = -1;
      continue;
    }
    double val = strtod(strchr(bucket, ' ') + 1, NULL);
    if (prev >= 0) assert_true(val >= prev);
    prev = val;
  }
  free(text);
}

static void test_metrics_text_commit_size_is_a_count_histogram(void **state) {
  (void)state;
  static rg_metrics_t m;
  memset(&m, 0, sizeof m);
  const uint64_t sizes[] = {1, 1, 3, 4, 200, 5000};
  for (size_t i = 0; i < 6; i++) rg_hist_add(&m.commit_size, sizes[i]);
  rg_metrics_view_t v = {.now = 1800000000, .loop_heartbeat_age_s = -1};
  char *text = render(&m, &v);
  check_format(text);
  assert_int_equal(value_of(text, "repgraph_writer_commit_size_bucket{le=\"1\"}"), 2);
  assert_int_equal(value_of(text, "repgraph_writer_commit_size_bucket{le=\"2\"}"), 2);
  assert_int_equal(value_of(text, "repgraph_writer_commit_size_bucket{le=\"4\"}"), 4);
  assert_int_equal(value_of(text, "repgraph_writer_commit_size_bucket{le=\"256\"}"), 5);
  assert_int_equal(value_of(text, "repgraph_writer_commit_size_bucket{le=\"1024\"}"), 5);
  assert_int_equal(value_of(text, "repgraph_writer_commit_size_bucket{le=\"+Inf\"}"), 6);
  assert_int_equal(value_of(text, "repgraph_writer_commit_size_sum"), 5209);
  assert_int_equal(value_of(text, "repgraph_writer_commit_size_count"), 6);
  free(text);
}

static void test_metrics_text_bounds_are_bucket_edges_of_the_histogram(void **state) {
  (void)state;
  for (int i = 0; i < RG_METRICS_TEXT_BOUNDS; i++) {
    uint64_t b = rg_metrics_text_bounds_us[i];
    assert_true(b && (b & (b - 1)) == 0);  /* a power of two: an exact bucket edge */
    assert_true(b <= (UINT64_C(1) << 30)); /* below the open-ended last bucket */
    if (i) assert_true(b > rg_metrics_text_bounds_us[i - 1]);
  }
}

static void test_metrics_text_counts_rejects_by_item_and_reason_only_when_seen(void **state) {
  (void)state;
  static rg_metrics_t m;
  memset(&m, 0, sizeof m);
  rg_metrics_view_t v = {.now = 1800000000, .loop_heartbeat_age_s = -1};
  char *text = render(&m, &v);
  assert_false(has_line(text, "repgraph_ingest_rejects_total{"));
  free(text);
  rg_metrics_reject(&m, 1, RG_EINVALID_ACTOR);
  rg_metrics_reject(&m, 1, RG_EINVALID_ACTOR);
  rg_metrics_reject(&m, 0, RG_EINVALID_EDGE);
  rg_metrics_reject(&m, 9, RG_EINVALID_EDGE); /* no such item: ignored */
  rg_metrics_error(&m, RG_EBUSY);
  text = render(&m, &v);
  check_format(text);
  assert_int_equal(
      value_of(text,
               "repgraph_ingest_rejects_total{item=\"observations\",reason=\"invalid_actor\"}"),
      2);
  assert_int_equal(
      value_of(text, "repgraph_ingest_rejects_total{item=\"edges\",reason=\"invalid_edge\"}"), 1);
  assert_int_equal(value_of(text, "repgraph_errors_total{code=\"busy\"}"), 1);
  assert_int_equal(value_of(text, "repgraph_errors_total{code=\"timeout\"}"), 0);
  free(text);
}

static void test_metrics_text_shows_the_store_generation_and_last_recompute(void **state) {
  (void)state;
  static rg_metrics_t m;
  memset(&m, 0, sizeof m);
  const double phases[RG_RECOMPUTE_PHASES] = {10, 20, 30, 40, 50, 60, 70};
  rg_metrics_recompute_done(&m, RG_OK, 7, 1799999000, 280, phases);
  rg_metrics_recompute_done(&m, RG_EIO, 0, 1799999500, 5, phases);
  rg_metrics_view_t v = {.now = 1800000000,
                         .loop_heartbeat_age_s = -1,
                         .store_ok = true,
                         .labels_ok = true,
                         .has_generation = true};
  v.counts.actors[1] = 11;
  v.counts.edges[0] = 22;
  v.info = (rg_store_info_t){.map_size = 1 << 26,
                             .map_max = 1ull << 36,
                             .used_bytes = 4096 * 9,
                             .page_size = 4096,
                             .map_grows = 2};
  v.labels[1][1] = 3; /* analyst, bad */
  v.labels[4][2] = 5; /* allowlist, good */
  v.generation = (rg_generation_t){.generation = 7, .computed_at = 1799999000, .vertices = 33};
  v.generation.thresholds.at[2] = 0.9;
  v.generation.thresholds.derived[2] = true;
  char *text = render(&m, &v);
  check_format(text);
  assert_int_equal(value_of(text, "repgraph_actors{type=\"address\"}"), 11);
  assert_int_equal(value_of(text, "repgraph_edges{kind=\"mailed\"}"), 22);
  assert_int_equal(value_of(text, "repgraph_store_used_bytes"), 4096 * 9);
  assert_int_equal(value_of(text, "repgraph_store_map_max_bytes"), 1ull << 36);
  assert_int_equal(value_of(text, "repgraph_store_map_growths_total"), 2);
  assert_int_equal(value_of(text, "repgraph_labels{source=\"analyst\",verdict=\"bad\"}"), 3);
  assert_int_equal(value_of(text, "repgraph_labels{source=\"allowlist\",verdict=\"good\"}"), 5);
  assert_int_equal(value_of(text, "repgraph_labels{source=\"allowlist\",verdict=\"bad\"}"), 0);
  assert_int_equal(value_of(text, "repgraph_generation"), 7);
  assert_int_equal(value_of(text, "repgraph_generation_age_seconds"), 1000);
  assert_int_equal(value_of(text, "repgraph_generation_actors"), 33);
  assert_float_equal(value_of(text, "repgraph_check_threshold{level=\"reject\"}"), 0.9, 1e-12);
  assert_int_equal(value_of(text, "repgraph_check_threshold_derived{level=\"reject\"}"), 1);
  assert_int_equal(value_of(text, "repgraph_recompute_runs_total{result=\"ok\"}"), 1);
  assert_int_equal(value_of(text, "repgraph_recompute_runs_total{result=\"failed\"}"), 1);
  assert_int_equal(value_of(text, "repgraph_recompute_last_success_timestamp_seconds"), 1799999000);
  assert_float_equal(value_of(text, "repgraph_recompute_last_duration_seconds"), 0.005, 1e-9);
  assert_float_equal(value_of(text, "repgraph_recompute_phase_seconds{phase=\"publish\"}"), 0.07,
                     1e-9);
  assert_int_equal(value_of(text, "repgraph_recompute_duration_seconds_count"), 2);
  assert_int_equal(value_of(text, "repgraph_start_time_seconds"), 0);
  free(text);
}

static void test_metrics_text_reports_a_full_buffer(void **state) {
  (void)state;
  static rg_metrics_t m;
  rg_metrics_view_t v = {.now = 1800000000, .loop_heartbeat_age_s = -1};
  rg_buf_t out;
  rg_buf_init(&out, 1000);
  assert_int_equal(rg_metrics_text_render(&m, &v, &out), RG_ETOO_LARGE);
  assert_true(out.len <= 1000);
  rg_buf_free(&out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_metrics_text_of_a_fresh_server_is_valid_exposition_format),
      cmocka_unit_test(test_metrics_text_histogram_buckets_are_cumulative_and_end_in_count),
      cmocka_unit_test(test_metrics_text_bounds_are_bucket_edges_of_the_histogram),
      cmocka_unit_test(test_metrics_text_commit_size_is_a_count_histogram),
      cmocka_unit_test(test_metrics_text_counts_rejects_by_item_and_reason_only_when_seen),
      cmocka_unit_test(test_metrics_text_shows_the_store_generation_and_last_recompute),
      cmocka_unit_test(test_metrics_text_reports_a_full_buffer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
