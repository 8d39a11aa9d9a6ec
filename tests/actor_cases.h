/* actor_cases.h — assertions the actor tests share: an identifier accepted as an exact key,
 * or rejected with a reason and the output untouched. Included by tests/test_actor*.c. */
#ifndef RG_TEST_ACTOR_CASES_H
#define RG_TEST_ACTOR_CASES_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "repgraph/actor.h"
#include "repgraph/err.h"

/* Normalises `in` (`len` bytes) as `type`; asserts success and the exact key. */
static inline void accept_n(rg_actor_type_t type, const char *in, size_t len, const char *want) {
  rg_actor_t a;
  const char *reason = NULL;
  int rc = rg_actor_normalize(type, in, len, &a, &reason);
  if (rc != RG_OK)
    print_error("rejected %s '%.*s': %s\n", rg_actor_type_name((int)type), (int)len, in,
                reason ? reason : "(no reason)");
  assert_int_equal(rc, RG_OK);
  assert_int_equal(a.type, type);
  assert_string_equal(a.key, want);
  assert_int_equal(a.len, strlen(want));
}

static inline void accept(rg_actor_type_t type, const char *in, const char *want) {
  accept_n(type, in, strlen(in), want);
}

/* Asserts `in` is rejected with a non-NULL reason, equal to `want` unless `want` is NULL.
 * Returns the reason. */
static const char *reject_n(rg_actor_type_t type, const char *in, size_t len, const char *want) {
  rg_actor_t a;
  memset(&a, 0x5a, sizeof a);
  rg_actor_t before = a;
  const char *reason = NULL;
  int rc = rg_actor_normalize(type, in, len, &a, &reason);
  if (rc == RG_OK)
    print_error("accepted %s '%.*s' as '%s'\n", rg_actor_type_name((int)type), (int)len, in, a.key);
  assert_int_equal(rc, RG_EINVALID_ACTOR);
  assert_non_null(reason);
  assert_true(strlen(reason) > 0);
  if (want) assert_string_equal(reason, want);
  /* A rejection leaves the output alone. */
  assert_memory_equal(&a, &before, sizeof a);
  return reason;
}

static const char *reject(rg_actor_type_t type, const char *in, const char *want) {
  return reject_n(type, in, strlen(in), want);
}

static inline rg_actor_t must_parse(const char *text) {
  rg_actor_t a;
  const char *reason = NULL;
  int rc = rg_actor_parse(text, strlen(text), &a, &reason);
  if (rc != RG_OK) print_error("rejected '%s': %s\n", text, reason ? reason : "(no reason)");
  assert_int_equal(rc, RG_OK);
  return a;
}

/* A domain of exactly `len` bytes: labels of 'a' up to 63 bytes, joined by dots. */
static inline void make_domain(char *buf, size_t len) {
  for (size_t i = 0; i < len; i++) buf[i] = (i % 64 == 63 && i + 1 < len) ? '.' : 'a';
  buf[len] = '\0';
}

#endif
