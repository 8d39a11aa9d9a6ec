/* gen_truth.h — the truth the mail generator knows about what it wrote: every actor it put in
 * the traffic with its verdict and its case, written as a table, and seed labels drawn from it
 * (a share of each actor type and verdict, with a share of user reports wrong). Benchmark tool
 * code: single-threaded, and it exits with a message on out-of-memory or an unwritable file. */
#ifndef GEN_TRUTH_H
#define GEN_TRUTH_H

#include <stdbool.h>
#include <stdint.h>

typedef struct gt gt_t;

/* A new, empty registry; free it with gt_free. */
gt_t *gt_new(void);

/* Frees the registry; NULL is fine. */
void gt_free(gt_t *g);

/* Records `name` ("type:identifier", copied) with its truth and case (a static string, kept);
 * the first call for a name fixes truth and case. `sender` marks an address that sent mail. */
void gt_note(gt_t *g, const char *name, bool bad, const char *kase, bool sender);

/* Writes "actor<TAB>good|bad<TAB>case" for every recorded actor, in first-seen order
 * (without the case column when !with_case: the format of gen_mail --truth). */
void gt_write_actors(const gt_t *g, const char *path, bool with_case);

/* Writes seed labels as CSV for `repgraph label --file` ("actor,verdict,source"): for each
 * actor type and verdict, max(1, round(share * n)) labels. Bad address labels stand for user
 * spam reports: a share `noise` of them is wrong, on honest senders (half of them bulk
 * senders, which users report as spam most), and with noise > 0 they carry source
 * user_report; all other labels are analyst's and right. Deterministic for `seed`. */
void gt_write_labels(gt_t *g, const char *path, double share, double noise, uint64_t seed);

#endif
