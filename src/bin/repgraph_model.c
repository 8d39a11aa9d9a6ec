/* repgraph_model.c — `repgraph model`: the current generation's learned model for people
 * (state, held-out quality overall, per actor type, on the time split and for the
 * propagation alone, calibration per decile, top features, stability, phases), from the
 * status op; --json prints the model record as JSON. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void quality_line(const char *what, const rg_json_t *q) {
  if (!q || rg_json_num(rg_json_get(q, "n")) == 0) {
    printf("  %-22s not measured\n", what);
    return;
  }
  printf(
      "  %-22s n %-7.0f bad %-6.0f AUC %.4f  PR-AUC %.4f  P@%.0f %.3f  recall %.3f @0.1%% FPR, "
      "%.3f @1%%  Brier %.4f\n",
      what, rg_json_num(rg_json_get(q, "n")), rg_json_num(rg_json_get(q, "bad")),
      rg_json_num(rg_json_get(q, "auc")), rg_json_num(rg_json_get(q, "pr_auc")),
      rg_json_num(rg_json_get(q, "k")), rg_json_num(rg_json_get(q, "precision_at_k")),
      rg_json_num(rg_json_get(q, "recall_at_0_1pct_fpr")),
      rg_json_num(rg_json_get(q, "recall_at_1pct_fpr")), rg_json_num(rg_json_get(q, "brier")));
}

static void print_model(const rg_json_t *m) {
  printf("generation %lld: %s%s%s\n", rg_json_int(rg_json_get(m, "generation")),
         rg_json_str(rg_json_get(m, "state")), rg_json_str(rg_json_get(m, "note"))[0] ? " — " : "",
         rg_json_str(rg_json_get(m, "note")));
  printf("labels: %lld bad, %lld good; trained on %lld; %lld folds\n",
         rg_json_int(rg_json_get(m, "bad_labels")), rg_json_int(rg_json_get(m, "good_labels")),
         rg_json_int(rg_json_get(m, "trained_on")), rg_json_int(rg_json_get(m, "folds")));
  printf("held-out quality (labels the model did not train on):\n");
  quality_line("k-fold, all", rg_json_get(m, "held_out"));
  const rg_json_t *by = rg_json_get(m, "by_type");
  static const char *const types[] = {"address", "ip", "net", "domain"};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    char what[40];
    snprintf(what, sizeof what, "k-fold, %s", types[i]);
    quality_line(what, rg_json_get(by, types[i]));
  }
  quality_line("time split (newer)", rg_json_get(rg_json_get(m, "time_split"), "held_out"));
  quality_line("propagation alone", rg_json_get(m, "propagation_alone"));
  printf("calibration (ECE %.4f), per tenth of the prediction: predicted -> observed (n)\n",
         rg_json_num(rg_json_get(m, "ece")));
  const rg_json_t *dec = rg_json_get(m, "deciles");
  for (size_t i = 0; i < rg_json_size(dec); i++) {
    const rg_json_t *d = rg_json_at(dec, i);
    if (rg_json_num(rg_json_get(d, "n")) == 0) continue;
    printf("  %.1f-%.1f  %.3f -> %.3f  (%.0f)\n", i / 10.0, (i + 1) / 10.0,
           rg_json_num(rg_json_get(d, "predicted")), rg_json_num(rg_json_get(d, "observed")),
           rg_json_num(rg_json_get(d, "n")));
  }
  printf("top features by gain:");
  const rg_json_t *top = rg_json_get(m, "top_features");
  for (size_t i = 0; i < rg_json_size(top); i++)
    printf("%s %s %.3f", i ? "," : "", rg_json_str(rg_json_get(rg_json_at(top, i), "feature")),
           rg_json_num(rg_json_get(rg_json_at(top, i), "importance")));
  printf("\nscore shift against the previous generation: PSI %.4f; previous held-out AUC %.4f%s\n",
         rg_json_num(rg_json_get(m, "psi")), rg_json_num(rg_json_get(m, "previous_auc")),
         rg_json_is_true(rg_json_get(m, "flagged")) ? "; FLAGGED: held-out quality fell" : "");
  const rg_json_t *ph = rg_json_get(m, "phases_ms");
  printf(
      "phases: out-of-fold walks %.0f ms, features %.0f ms, training %.0f ms, reasons %.0f ms; "
      "memory about %.1f MiB\n",
      rg_json_num(rg_json_get(ph, "folds")), rg_json_num(rg_json_get(ph, "features")),
      rg_json_num(rg_json_get(ph, "train")), rg_json_num(rg_json_get(ph, "explain")),
      rg_json_num(rg_json_get(m, "memory_bytes")) / 1048576.0);
}

int rg__cmd_model(cli_t *cli, int argc, char **argv) {
  (void)argv;
  if (argc != 1) return EXIT_USAGE;
  rg_buf_t frame;
  rg_wr_t w;
  rg_json_t *reply = NULL;
  rg_buf_init(&frame, 0);
  rg__cli_begin(cli, &w, &frame, "status", 0);
  int rc = rg_wr_end(&w);
  if (!rc && !(rc = rg__cli_connect(cli)) && !(rc = rg__cli_roundtrip(cli, &frame, &reply))) {
    const rg_json_t *m = rg_json_get(reply, "model");
    if (rg_json_has(reply, "error") || cli->json)
      rc = rg__cli_print(cli, rg_json_has(reply, "error") || !m ? reply : m);
    else if (!m || !rg_json_has(m, "state"))
      printf("no model recorded yet (no recomputation since the model came)\n");
    else
      print_model(m);
  }
  rg_json_free(reply);
  rg_buf_free(&frame);
  return rc;
}
