/* test_config.c — the option table of config.c: defaults, unit suffixes, ranges, INI
 * loading and cross-field validation. Single-threaded cmocka tests; INI files are written
 * to temporary files under /tmp and removed afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repgraph/config.h"
#include "repgraph/err.h"

#define KiB UINT64_C(1024)
#define MiB (KiB * 1024)
#define GiB (MiB * 1024)
#define TiB (GiB * 1024)

/* ---- helpers --------------------------------------------------------------------- */

static void set_ok(rg_config_t *c, const char *name, const char *value) {
  char err[256] = "";
  int rc = rg_config_set(c, name, value, err, sizeof err);
  if (rc != RG_OK) print_error("%s = %s rejected: %s\n", name, value, err);
  assert_int_equal(rc, RG_OK);
}

/* Asserts that setting name=value fails with RG_ECONFIG, leaves *c untouched and names
 * `name` in the message. */
static void set_rejected(const char *name, const char *value) {
  rg_config_t c, before;
  rg_config_defaults(&c);
  before = c;
  char err[256] = "";
  int rc = rg_config_set(&c, name, value, err, sizeof err);
  if (rc == RG_OK) print_error("%s = '%s' was accepted\n", name, value);
  assert_int_equal(rc, RG_ECONFIG);
  if (!strstr(err, name)) print_error("message '%s' does not name '%s'\n", err, name);
  assert_non_null(strstr(err, name));
  assert_memory_equal(&c, &before, sizeof c);
}

/* A temporary file holding `text`; the path is written into path (capacity 64). */
static void write_temp(char path[64], const char *text) {
  snprintf(path, 64, "/tmp/rg-test-config-XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  size_t n = strlen(text);
  assert_int_equal(write(fd, text, n), (ssize_t)n);
  assert_int_equal(close(fd), 0);
}

/* ---- defaults -------------------------------------------------------------------- */

static void test_config_defaults_are_valid(void **state) {
  (void)state;
  rg_config_t c;
  rg_config_defaults(&c);
  char err[256] = "";
  int rc = rg_config_validate(&c, err, sizeof err);
  if (rc) print_error("defaults invalid: %s\n", err);
  assert_int_equal(rc, RG_OK);
}

static void test_config_every_default_applies(void **state) {
  (void)state;
  rg_config_t c;
  memset(&c, 0xa5, sizeof c);
  rg_config_defaults(&c);
  assert_string_equal(c.data_dir, "./repgraph-data");
  assert_true(c.map_size_bytes == 64 * MiB);
  assert_true(c.map_max_bytes == 64 * GiB);
  assert_true(c.half_life_s == 7 * 86400);
  assert_true(c.half_life_s == 604800);
  assert_int_equal(c.net_prefix_v4, 24);
  assert_int_equal(c.net_prefix_v6, 64);
  assert_string_equal(c.listen_host, "127.0.0.1");
  assert_int_equal(c.port, 7411);
  assert_int_equal(c.port, RG_DEFAULT_PORT);
  assert_string_equal(c.unix_socket, "");
  assert_string_equal(c.log_level, "info");
  assert_int_equal(c.max_frame_bytes, 16 * MiB);
  assert_int_equal(c.max_batch_items, 100000);
  assert_int_equal(c.max_recipients, 1000);
  assert_int_equal(c.max_connections, 1024);
  assert_true(c.max_output_bytes == 64 * MiB);
  assert_int_equal(c.max_pending_writes, 64);
  assert_true(c.idle_timeout_s == 300);
  assert_true(c.evict_idle_s == 1);
  assert_true(c.frame_timeout_s == 30);
  assert_true(c.auth_timeout_s == 5);
  assert_true(c.output_stall_s == 30);
  assert_int_equal(c.max_depth, 16);
  assert_int_equal(c.max_string_bytes, 1024);
  assert_int_equal(c.unix_mode, 0660);
  assert_string_equal(c.key_file, "");
  assert_int_equal(c.commit_max_requests, 256);
}

static void test_config_defaults_do_not_depend_on_prior_contents(void **state) {
  (void)state;
  rg_config_t a, b;
  memset(&a, 0x00, sizeof a);
  memset(&b, 0xff, sizeof b);
  rg_config_defaults(&a);
  rg_config_defaults(&b);
  assert_memory_equal(&a, &b, sizeof a);
}

static void test_config_describe_lists_every_option(void **state) {
  (void)state;
  rg_config_t c;
  rg_config_defaults(&c);
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  rg_config_describe(&c, f);
  assert_int_equal(fclose(f), 0);
  const char *names[] = {"store.data_dir",
                         "store.map_size",
                         "store.map_max",
                         "graph.half_life",
                         "graph.net_prefix_v4",
                         "graph.net_prefix_v6",
                         "server.listen",
                         "server.port",
                         "server.unix_socket",
                         "server.log_level",
                         "limits.max_frame_bytes",
                         "limits.max_batch_items",
                         "limits.max_recipients",
                         "limits.max_connections",
                         "limits.max_output_bytes",
                         "limits.max_pending_writes",
                         "limits.idle_timeout",
                         "limits.evict_idle",
                         "limits.write_slice_edges",
                         "writer.commit_max_requests",
                         "limits.frame_timeout",
                         "limits.max_depth",
                         "limits.max_string_bytes",
                         "server.unix_mode",
                         "auth.key_file",
                         "tls.cert",
                         "tls.client_ca",
                         "tls.min_version"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (!strstr(text, names[i])) print_error("describe lacks %s\n", names[i]);
    assert_non_null(strstr(text, names[i]));
  }
  free(text);
}

/* ---- setting options --------------------------------------------------------------- */

static void test_config_size_suffixes_are_powers_of_1024(void **state) {
  (void)state;
  rg_config_t c;
  rg_config_defaults(&c);
  set_ok(&c, "limits.max_output_bytes", "8192");
  assert_true(c.max_output_bytes == 8192);
  set_ok(&c, "limits.max_output_bytes", "5K");
  assert_true(c.max_output_bytes == 5 * KiB);
  set_ok(&c, "limits.max_output_bytes", "5k");
  assert_true(c.max_output_bytes == 5 * KiB);
  set_ok(&c, "limits.max_output_bytes", "3M");
  assert_true(c.max_output_bytes == 3 * MiB);
  set_ok(&c, "limits.max_output_bytes", "3MiB");
  assert_true(c.max_output_bytes == 3 * MiB);
  set_ok(&c, "limits.max_output_bytes", "3MB");
  assert_true(c.max_output_bytes == 3 * MiB);
  set_ok(&c, "store.map_max", "2G");
  assert_true(c.map_max_bytes == 2 * GiB);
  set_ok(&c, "store.map_max", "16T");
  assert_true(c.map_max_bytes == 16 * TiB);
  set_ok(&c, "store.map_size", "1M");
  assert_true(c.map_size_bytes == MiB);
}

static void test_config_size_suffix_applies_to_frame_limit(void **state) {
  (void)state;
  rg_config_t c;
  rg_config_defaults(&c);
  set_ok(&c, "limits.max_frame_bytes", "1M");
  assert_int_equal(c.max_frame_bytes, MiB);
  set_ok(&c, "limits.max_frame_bytes", "64");
  assert_int_equal(c.max_frame_bytes, 64);
  set_ok(&c, "limits.max_frame_bytes", "1G");
  assert_int_equal(c.max_frame_bytes, GiB);
  set_rejected("limits.max_frame_bytes", "2G");
  set_rejected("limits.max_frame_bytes", "63");
}

static void test_config_duration_suffixes(void **state) {
  (void)state;
  rg_config_t c;
  rg_config_defaults(&c);
  set_ok(&c, "graph.half_life", "90");
  assert_true(c.half_life_s == 90);
  set_ok(&c, "graph.half_life", "90s");
  assert_true(c.half_life_s == 90);
  set_ok(&c, "graph.half_life", "5m");
  assert_true(c.half_life_s == 300);
  set_ok(&c, "graph.half_life", "2h");
  assert_true(c.half_life_s == 7200);
  set_ok(&c, "graph.half_life", "30d");
  assert_true(c.half_life_s == 30 * 86400);
  set_ok(&c, "limits.idle_timeout", "0");
  assert_true(c.idle_timeout_s == 0);
  set_ok(&c, "limits.idle_timeout", "15m");
  assert_true(c.idle_timeout_s == 900);
}

static void test_config_numbers_and_strings_apply(void **state) {
  (void)state;
  rg_config_t c;
  rg_config_defaults(&c);
  set_ok(&c, "server.port", "0");
  assert_int_equal(c.port, 0);
  set_ok(&c, "server.port", "65535");
  assert_int_equal(c.port, 65535);
  set_ok(&c, "graph.net_prefix_v6", "48");
  assert_int_equal(c.net_prefix_v6, 48);
  set_ok(&c, "store.data_dir", "/var/lib/repgraph");
  assert_string_equal(c.data_dir, "/var/lib/repgraph");
  set_ok(&c, "server.log_level", "debug");
  assert_string_equal(c.log_level, "debug");
  set_ok(&c, "server.unix_socket", "none");
  assert_string_equal(c.unix_socket, "none");
}

static void test_config_rejects_out_of_range_values_naming_the_key(void **state) {
  (void)state;
  set_rejected("server.port", "65536");
  set_rejected("graph.net_prefix_v4", "7");
  set_rejected("graph.net_prefix_v4", "33");
  set_rejected("graph.net_prefix_v6", "129");
  set_rejected("graph.half_life", "59");
  set_rejected("graph.half_life", "59s");
  set_rejected("graph.half_life", "3651d");
  set_rejected("store.map_size", "1023K");
  set_rejected("store.map_max", "17T");
  set_rejected("limits.max_batch_items", "0");
  set_rejected("limits.max_recipients", "100001");
  set_rejected("limits.max_output_bytes", "4095");
  set_rejected("limits.idle_timeout", "31d");
  set_rejected("writer.commit_max_requests", "0");
}

static void test_config_rejects_malformed_values_naming_the_key(void **state) {
  (void)state;
  set_rejected("server.port", "");
  set_rejected("server.port", "-1");
  set_rejected("server.port", " 80");
  set_rejected("server.port", "80x");
  set_rejected("server.port", "8K"); /* plain numbers take no suffix */
  set_rejected("graph.half_life", "7w");
  set_rejected("graph.half_life", "7dd");
  set_rejected("graph.half_life", "1K");
  set_rejected("store.map_size", "64X");
  set_rejected("store.map_size", "99999999999999999999");
  set_rejected("store.map_max", "18446744073709551615T");
}

static void test_config_rejects_unknown_keys_naming_the_key(void **state) {
  (void)state;
  set_rejected("server.prot", "7411");
  set_rejected("port", "7411");
  set_rejected("", "1");
  set_rejected("limits.max_frame_bytes.extra", "1");
}

static void test_config_rejects_too_long_strings(void **state) {
  (void)state;
  char value[RG_CONFIG_PATH_MAX + 1];
  memset(value, 'a', sizeof value - 1);
  value[sizeof value - 1] = '\0';
  set_rejected("store.data_dir", value); /* 512 bytes do not fit with the NUL */
  value[RG_CONFIG_PATH_MAX - 1] = '\0';
  rg_config_t c;
  rg_config_defaults(&c);
  set_ok(&c, "store.data_dir", value); /* 511 do */
  assert_int_equal(strlen(c.data_dir), RG_CONFIG_PATH_MAX - 1);
  set_rejected("server.log_level", "0123456789abcdef");
}

/* ---- INI files --------------------------------------------------------------------- */

static void test_config_loads_ini_file(void **state) {
  (void)state;
  char path[64];
  write_temp(path,
             "; repgraph test configuration\n"
             "[store]\n"
             "data_dir = /srv/repgraph\n"
             "map_size = 128M\n"
             "map_max = 4G\n"
             "\n"
             "[graph]\n"
             "half_life = 3d\n"
             "\n"
             "[server]\n"
             "port = 9000\n"
             "log_level = warn\n"
             "[limits]\n"
             "max_frame_bytes = 2M\n"
             "max_batch_items = 500\n"
             "idle_timeout = 10m\n");
  rg_config_t c;
  rg_config_defaults(&c);
  char err[256] = "";
  int rc = rg_config_load_file(&c, path, err, sizeof err);
  unlink(path);
  if (rc) print_error("load failed: %s\n", err);
  assert_int_equal(rc, RG_OK);
  assert_string_equal(c.data_dir, "/srv/repgraph");
  assert_true(c.map_size_bytes == 128 * MiB);
  assert_true(c.map_max_bytes == 4 * GiB);
  assert_true(c.half_life_s == 3 * 86400);
  assert_int_equal(c.port, 9000);
  assert_string_equal(c.log_level, "warn");
  assert_int_equal(c.max_frame_bytes, 2 * MiB);
  assert_int_equal(c.max_batch_items, 500);
  assert_true(c.idle_timeout_s == 600);
  /* Untouched options keep their defaults. */
  assert_int_equal(c.max_recipients, 1000);
  assert_string_equal(c.listen_host, "127.0.0.1");
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_OK);
}

static void test_config_ini_unknown_key_is_reported_with_file_and_line(void **state) {
  (void)state;
  char path[64];
  write_temp(path,
             "[server]\n"
             "port = 9000\n"
             "\n"
             "colour = blue\n"
             "log_level = debug\n");
  rg_config_t c;
  rg_config_defaults(&c);
  char err[512] = "";
  int rc = rg_config_load_file(&c, path, err, sizeof err);
  char want[128];
  snprintf(want, sizeof want, "%s:4:", path);
  unlink(path);
  assert_int_equal(rc, RG_ECONFIG);
  if (strncmp(err, want, strlen(want)) != 0) print_error("message: %s\n", err);
  assert_int_equal(strncmp(err, want, strlen(want)), 0);
  assert_non_null(strstr(err, "server.colour"));
}

static void test_config_ini_bad_value_is_reported_with_file_and_line(void **state) {
  (void)state;
  char path[64];
  write_temp(path,
             "[graph]\n"
             "net_prefix_v4 = 99\n");
  rg_config_t c;
  rg_config_defaults(&c);
  char err[512] = "";
  int rc = rg_config_load_file(&c, path, err, sizeof err);
  char want[128];
  snprintf(want, sizeof want, "%s:2:", path);
  unlink(path);
  assert_int_equal(rc, RG_ECONFIG);
  assert_int_equal(strncmp(err, want, strlen(want)), 0);
  assert_non_null(strstr(err, "graph.net_prefix_v4"));
  assert_int_equal(c.net_prefix_v4, 24);
}

static void test_config_ini_reports_the_first_of_several_errors(void **state) {
  (void)state;
  char path[64];
  write_temp(path,
             "[server]\n"
             "bogus_one = 1\n"
             "port = 9000\n"
             "bogus_two = 2\n");
  rg_config_t c;
  rg_config_defaults(&c);
  char err[512] = "";
  int rc = rg_config_load_file(&c, path, err, sizeof err);
  char want[128];
  snprintf(want, sizeof want, "%s:2:", path);
  unlink(path);
  assert_int_equal(rc, RG_ECONFIG);
  if (!strstr(err, "bogus_one")) print_error("message: %s\n", err);
  assert_int_equal(strncmp(err, want, strlen(want)), 0);
  assert_non_null(strstr(err, "server.bogus_one"));
  assert_null(strstr(err, "bogus_two"));
}

static void test_config_ini_syntax_error_is_reported(void **state) {
  (void)state;
  char path[64];
  write_temp(path,
             "[server]\n"
             "port = 9000\n"
             "this line has no equals sign\n");
  rg_config_t c;
  rg_config_defaults(&c);
  char err[512] = "";
  int rc = rg_config_load_file(&c, path, err, sizeof err);
  char want[128];
  snprintf(want, sizeof want, "%s:3:", path);
  unlink(path);
  assert_int_equal(rc, RG_ECONFIG);
  assert_int_equal(strncmp(err, want, strlen(want)), 0);
}

static void test_config_missing_ini_file_is_io_error(void **state) {
  (void)state;
  char dir[] = "/tmp/rg-test-config-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[128];
  snprintf(path, sizeof path, "%s/absent.ini", dir);
  rg_config_t c, before;
  rg_config_defaults(&c);
  before = c;
  char err[512] = "";
  int rc = rg_config_load_file(&c, path, err, sizeof err);
  assert_int_equal(rmdir(dir), 0);
  assert_int_equal(rc, RG_EIO);
  assert_non_null(strstr(err, path));
  assert_memory_equal(&c, &before, sizeof c);
}

/* ---- validation -------------------------------------------------------------------- */

static void test_config_validate_rejects_map_size_above_map_max(void **state) {
  (void)state;
  rg_config_t c;
  rg_config_defaults(&c);
  set_ok(&c, "store.map_size", "2G");
  set_ok(&c, "store.map_max", "1G");
  char err[256] = "";
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_ECONFIG);
  assert_non_null(strstr(err, "store.map_size"));
  assert_non_null(strstr(err, "store.map_max"));
  set_ok(&c, "store.map_max", "2G"); /* equal is fine */
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_OK);
}

static void test_config_validate_rejects_bad_log_level(void **state) {
  (void)state;
  rg_config_t c;
  rg_config_defaults(&c);
  set_ok(&c, "server.log_level", "verbose");
  char err[256] = "";
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_ECONFIG);
  assert_non_null(strstr(err, "server.log_level"));
  assert_non_null(strstr(err, "verbose"));
}

static void test_config_time_and_actor_options(void **state) {
  (void)state;
  rg_config_t c;
  rg_config_defaults(&c);
  assert_int_equal(c.max_future_skew_s, 3600);
  assert_string_equal(c.reference_time, "newest");
  assert_int_equal(c.fold_local_case, 1);
  assert_string_equal(c.subaddress_sep, "");
  char err[256] = "";
  set_ok(&c, "graph.reference_time", "now");
  set_ok(&c, "ingest.max_future_skew", "10m");
  set_ok(&c, "actor.subaddress_separators", "+-");
  set_ok(&c, "actor.fold_local_case", "0");
  assert_int_equal(c.max_future_skew_s, 600);
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_OK);
  set_rejected("actor.fold_local_case", "2");
  set_ok(&c, "graph.reference_time", "yesterday");
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_ECONFIG);
  assert_non_null(strstr(err, "graph.reference_time"));
  set_ok(&c, "graph.reference_time", "newest");
  set_ok(&c, "actor.subaddress_separators", "+@");
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_ECONFIG);
  assert_non_null(strstr(err, "actor.subaddress_separators"));
}

static void test_config_validate_requires_a_listener_and_a_data_dir(void **state) {
  (void)state;
  rg_config_t c;
  char err[256] = "";
  rg_config_defaults(&c);
  set_ok(&c, "server.port", "0");
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_OK); /* Unix socket left */
  set_ok(&c, "server.unix_socket", "none");
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_ECONFIG);
  assert_non_null(strstr(err, "server.port"));

  rg_config_defaults(&c);
  set_ok(&c, "store.data_dir", "");
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_ECONFIG);
  assert_non_null(strstr(err, "store.data_dir"));
}

static void test_config_unix_path_resolves_default_and_none(void **state) {
  (void)state;
  rg_config_t c;
  rg_config_defaults(&c);
  char buf[RG_CONFIG_PATH_MAX + 32];
  assert_string_equal(rg_config_unix_path(&c, buf, sizeof buf), "./repgraph-data/repgraphd.sock");
  char small[8];
  assert_null(rg_config_unix_path(&c, small, sizeof small));
  set_ok(&c, "server.unix_socket", "/run/rg.sock");
  assert_string_equal(rg_config_unix_path(&c, buf, sizeof buf), "/run/rg.sock");
  set_ok(&c, "server.unix_socket", "none");
  assert_null(rg_config_unix_path(&c, buf, sizeof buf));
}

static void test_config_unix_mode_is_octal(void **state) {
  (void)state;
  rg_config_t c;
  rg_config_defaults(&c);
  char err[256] = "";
  assert_int_equal(rg_config_set(&c, "server.unix_mode", "0600", err, sizeof err), RG_OK);
  assert_int_equal(c.unix_mode, 0600);
  assert_int_equal(rg_config_set(&c, "server.unix_mode", "770", err, sizeof err), RG_OK);
  assert_int_equal(c.unix_mode, 0770);
  assert_int_equal(rg_config_set(&c, "server.unix_mode", "0680", err, sizeof err), RG_ECONFIG);
  assert_non_null(strstr(err, "server.unix_mode"));
  assert_int_equal(rg_config_set(&c, "server.unix_mode", "1777", err, sizeof err), RG_ECONFIG);
  assert_int_equal(c.unix_mode, 0770);
}

static void test_config_loopback_addresses(void **state) {
  (void)state;
  const char *yes[] = {"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"};
  const char *no[] = {"0.0.0.0",         "::",        "192.0.2.1", "128.0.0.1", "::2",
                      "::ffff:10.0.0.1", "localhost", ""};
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
    assert_true(rg_config_is_loopback(yes[i]));
  for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) assert_false(rg_config_is_loopback(no[i]));
}

static void test_config_validate_requires_auth_off_loopback(void **state) {
  (void)state;
  rg_config_t c;
  rg_config_defaults(&c);
  char err[512] = "";
  assert_int_equal(rg_config_set(&c, "server.listen", "0.0.0.0", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_ECONFIG);
  assert_non_null(strstr(err, "0.0.0.0, not a loopback address"));
  assert_non_null(strstr(err, "auth.key_file"));
  assert_int_equal(rg_config_set(&c, "server.port", "0", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_OK); /* no TCP: nothing exposed */
  assert_int_equal(rg_config_set(&c, "server.port", "7411", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_set(&c, "auth.key_file", "/etc/repgraph/keys", err, sizeof err),
                   RG_OK);
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_OK);
  assert_int_equal(rg_config_set(&c, "server.listen", "::1", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_set(&c, "auth.key_file", "", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_OK);
}

/* Beyond loopback, TLS alone is not enough (it encrypts but anyone may connect): it needs
 * tls.client_ca (clients prove themselves with a certificate) or a key file. */
static void test_config_validate_allows_mutual_tls_off_loopback(void **state) {
  (void)state;
  rg_config_t c;
  rg_config_defaults(&c);
  char err[512] = "";
  assert_string_equal(c.tls_min_version, "TLS1.2");
  assert_int_equal(rg_config_set(&c, "server.listen", "0.0.0.0", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_set(&c, "tls.cert", "/etc/repgraph/cert.pem", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_ECONFIG);
  assert_non_null(strstr(err, "TLS without tls.client_ca encrypts but lets anyone in"));
  assert_int_equal(rg_config_set(&c, "tls.client_ca", "/etc/repgraph/ca.pem", err, sizeof err),
                   RG_OK);
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_OK);
  assert_int_equal(rg_config_set(&c, "tls.client_ca", "", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_set(&c, "auth.key_file", "/etc/repgraph/keys", err, sizeof err),
                   RG_OK);
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_OK);
}

static void test_config_validate_refuses_incomplete_tls(void **state) {
  (void)state;
  rg_config_t c;
  rg_config_defaults(&c);
  char err[512] = "";
  assert_int_equal(rg_config_set(&c, "tls.client_ca", "/etc/repgraph/ca.pem", err, sizeof err),
                   RG_OK);
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_ECONFIG);
  assert_non_null(strstr(err, "tls.client_ca is set but tls.cert is not"));
  assert_int_equal(rg_config_set(&c, "tls.cert", "/etc/repgraph/cert.pem", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_OK);
  assert_int_equal(rg_config_set(&c, "tls.min_version", "SSL3", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_ECONFIG);
  assert_non_null(strstr(err, "tls.min_version"));
  assert_int_equal(rg_config_set(&c, "tls.min_version", "TLS1.3", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_set(&c, "server.port", "0", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_ECONFIG);
  assert_non_null(strstr(err, "TLS is for the TCP listener"));
}

static void test_config_validate_checks_policy_options(void **state) {
  (void)state;
  static const struct {
    const char *name, *value, *msg; /* msg NULL: valid */
  } cases[] = {
      {"policy.listen", "127.0.0.1:10040", NULL},
      {"policy.listen", "[::1]:10040", NULL},
      {"policy.listen", "0.0.0.0:10040", "not a loopback address"},
      {"policy.listen", "127.0.0.1", "is not host:port"},
      {"policy.listen", "127.0.0.1:0", "is not host:port"},
      {"policy.listen", "::1:10040", "is not host:port"},
      {"policy.mode", "observe", NULL},
      {"policy.mode", "loud", "policy.mode"},
      {"policy.action_reject", "DEFER_IF_PERMIT", NULL},
      {"policy.action_reject", "DISCARD", "policy.action_reject"},
      {"policy.action_accept", "DUNNO x", "policy.action_accept"},
      {"policy.record_state", "DATA", NULL},
      {"policy.record_state", "RCPT", "policy.record_state"},
      {"policy.header", "X-Reputation", NULL},
      {"policy.header", "X Bad:", "policy.header"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    rg_config_t c;
    rg_config_defaults(&c);
    char err[512] = "";
    assert_int_equal(rg_config_set(&c, cases[i].name, cases[i].value, err, sizeof err), RG_OK);
    int rc = rg_config_validate(&c, err, sizeof err);
    if (cases[i].msg ? rc != RG_ECONFIG || !strstr(err, cases[i].msg) : rc != RG_OK)
      fail_msg("%s = %s: rc %d, '%s'", cases[i].name, cases[i].value, rc, err);
  }
}

static void test_config_validate_refuses_no_frame_timeout_with_auth(void **state) {
  (void)state;
  rg_config_t c;
  rg_config_defaults(&c);
  char err[512] = "";
  assert_int_equal(rg_config_set(&c, "limits.frame_timeout", "0", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_OK); /* no auth: allowed */
  assert_int_equal(rg_config_set(&c, "auth.key_file", "/etc/repgraph/keys", err, sizeof err),
                   RG_OK);
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_ECONFIG);
  assert_non_null(strstr(err, "limits.frame_timeout is 0 but auth.key_file is set"));
  assert_int_equal(rg_config_set(&c, "auth.timeout", "0", err, sizeof err), RG_ECONFIG);
  assert_int_equal(rg_config_set(&c, "limits.output_stall", "0", err, sizeof err), RG_ECONFIG);
}

static void test_config_check_budgets_and_holdout(void **state) {
  (void)state;
  rg_config_t c;
  rg_config_defaults(&c);
  assert_float_equal(c.check_tempfail_fpr, 0.01, 0);
  assert_float_equal(c.check_quarantine_fpr, 0.001, 0);
  assert_float_equal(c.check_reject_fpr, 0.0001, 0);
  assert_float_equal(c.check_holdout_share, 0.2, 0);
  assert_float_equal(c.check_min_holdout, 3, 0);
  char err[256] = "";
  set_ok(&c, "check.reject_fpr", "0");
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_ECONFIG);
  assert_non_null(strstr(err, "reject_fpr"));
  set_ok(&c, "check.reject_fpr", "0.00005");
  set_ok(&c, "check.holdout_share", "0.6");
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_ECONFIG);
  assert_non_null(strstr(err, "check.holdout_share"));
  set_ok(&c, "check.holdout_share", "0");
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_OK);
  /* fewer than 3 per unit of budget could never show a rate within it */
  assert_int_equal(rg_config_set(&c, "check.min_holdout", "2", err, sizeof err), RG_ECONFIG);
  set_ok(&c, "check.min_holdout", "10");
}

static void test_config_validate_checks_metrics_and_log_options(void **state) {
  (void)state;
  rg_config_t c;
  char err[512];
  rg_config_defaults(&c);
  assert_string_equal(c.metrics_listen, ""); /* off unless configured */
  assert_string_equal(c.log_format, "logfmt");
  assert_int_equal(c.log_actors, 0);
  assert_int_equal(rg_config_set(&c, "metrics.listen", "127.0.0.1:9411", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_OK);
  assert_int_equal(rg_config_set(&c, "metrics.listen", "[::1]:9411", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_OK);
  assert_int_equal(rg_config_set(&c, "metrics.listen", "localhost:9411", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_ECONFIG);
  assert_non_null(strstr(err, "metrics.listen"));
  assert_int_equal(rg_config_set(&c, "metrics.listen", "127.0.0.1", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_ECONFIG);
  rg_config_defaults(&c);
  assert_int_equal(rg_config_set(&c, "log.format", "xml", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_validate(&c, err, sizeof err), RG_ECONFIG);
  assert_non_null(strstr(err, "log.format"));
  assert_int_equal(rg_config_set(&c, "log.requests", "1.5", err, sizeof err), RG_ECONFIG);
}

static void test_config_reload_takes_runtime_options_and_names_the_rest(void **state) {
  (void)state;
  rg_config_t cur, next;
  char err[256], applied[512], ignored[512];
  rg_config_defaults(&cur);
  next = cur;
  assert_int_equal(rg_config_set(&next, "check.reject", "0.95", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_set(&next, "label.weight_feed", "0.2", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_set(&next, "server.log_level", "debug", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_set(&next, "log.format", "json", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_set(&next, "store.map_max", "1G", err, sizeof err), RG_OK);
  assert_int_equal(rg_config_set(&next, "server.port", "9999", err, sizeof err), RG_OK);
  rg_config_reload(&cur, &next, applied, sizeof applied, ignored, sizeof ignored);
  assert_float_equal(cur.check_reject, 0.95, 1e-12);
  assert_float_equal(cur.label_weight[5], 0.2, 1e-12); /* feed */
  assert_string_equal(cur.log_level, "debug");
  assert_string_equal(cur.log_format, "json");
  assert_int_equal(cur.map_max_bytes, UINT64_C(64) << 30); /* kept: needs a restart */
  assert_int_equal(cur.port, 7411);
  assert_non_null(strstr(applied, "check.reject"));
  assert_non_null(strstr(applied, "label.weight_feed"));
  assert_non_null(strstr(applied, "log.format"));
  assert_string_equal(ignored, "store.map_max, server.port");
  rg_config_reload(&cur, &cur, applied, sizeof applied, ignored, sizeof ignored);
  assert_string_equal(applied, ""); /* nothing changed */
  assert_string_equal(ignored, "");
}

/* cluster.*: checked only with cluster.enabled; a node name is required, names are NATS
 * tokens, and the policy listener (which writes around the log) is refused, as are
 * retention sweeps and the write-ahead log of ingest. */
static void test_config_validate_checks_cluster_options(void **state) {
  (void)state;
  static const struct {
    const char *enabled, *node, *stream, *nats, *policy, *msg; /* msg NULL: valid */
  } cases[] = {
      {"0", "", "repgraph", "nats://127.0.0.1:4222", "", NULL},
      {"1", "r1", "repgraph", "nats://a:4222,nats://b:4222", "", NULL},
      {"1", "", "repgraph", "nats://127.0.0.1:4222", "", "cluster.node"},
      {"1", "r.1", "repgraph", "nats://127.0.0.1:4222", "", "cluster.node"},
      {"1", "r1", "rep graph", "nats://127.0.0.1:4222", "", "cluster.stream"},
      {"1", "r1", "repgraph", "", "", "cluster.nats"},
      {"1", "r1", "repgraph", "nats://127.0.0.1:4222", "127.0.0.1:10040", "policy listener"},
      {"0", "", "repgraph", "nats://127.0.0.1:4222", "127.0.0.1:10040", NULL},
  };
  rg_config_t r;
  char rerr[512] = "";
  rg_config_defaults(&r);
  assert_int_equal(rg_config_set(&r, "cluster.enabled", "1", rerr, sizeof rerr), 0);
  assert_int_equal(rg_config_set(&r, "cluster.node", "r1", rerr, sizeof rerr), 0);
  assert_int_equal(rg_config_set(&r, "retention.edges", "180d", rerr, sizeof rerr), 0);
  assert_int_equal(rg_config_validate(&r, rerr, sizeof rerr), RG_ECONFIG);
  assert_non_null(strstr(rerr, "retention")); /* sweeps would write around the log */
  assert_int_equal(rg_config_set(&r, "retention.edges", "0", rerr, sizeof rerr), 0);
  assert_int_equal(rg_config_set(&r, "wal.enabled", "1", rerr, sizeof rerr), 0);
  assert_int_equal(rg_config_validate(&r, rerr, sizeof rerr), RG_ECONFIG);
  assert_non_null(strstr(rerr, "wal.enabled")); /* the stream is the log in cluster mode */
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    rg_config_t c;
    rg_config_defaults(&c);
    char err[512] = "";
    assert_int_equal(rg_config_set(&c, "cluster.enabled", cases[i].enabled, err, sizeof err), 0);
    assert_int_equal(rg_config_set(&c, "cluster.node", cases[i].node, err, sizeof err), 0);
    assert_int_equal(rg_config_set(&c, "cluster.stream", cases[i].stream, err, sizeof err), 0);
    assert_int_equal(rg_config_set(&c, "cluster.nats", cases[i].nats, err, sizeof err), 0);
    assert_int_equal(rg_config_set(&c, "policy.listen", cases[i].policy, err, sizeof err), 0);
    int rc = rg_config_validate(&c, err, sizeof err);
    if (cases[i].msg ? rc != RG_ECONFIG || !strstr(err, cases[i].msg) : rc != RG_OK)
      fail_msg("case %zu: rc %d, '%s'", i, rc, err);
  }
}

/* cluster.stream_max_age / stream_max_bytes: a limit needs snapshots (snapshot_interval
 * non-zero), and an age limit one shorter than it, since snapshots cover what is dropped. */
static void test_config_validate_ties_stream_limits_to_snapshots(void **state) {
  (void)state;
  static const struct {
    const char *age, *bytes, *snap, *msg; /* msg NULL: valid */
  } cases[] = {
      {"0", "0", "0", NULL},          {"7d", "0", "1h", NULL},
      {"0", "10G", "1h", NULL},       {"7d", "0", "0", "cluster.snapshot_interval 0"},
      {"0", "1G", "0", "cluster.snapshot_interval 0"},
      {"1h", "0", "1h", "shorter than cluster.stream_max_age"},
      {"30m", "1G", "1h", "shorter than cluster.stream_max_age"},
      {"90s", "0", "1m", "at least 120s"}, {"2m", "0", "1m", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    rg_config_t c;
    rg_config_defaults(&c);
    char err[512] = "";
    assert_int_equal(rg_config_set(&c, "cluster.enabled", "1", err, sizeof err), 0);
    assert_int_equal(rg_config_set(&c, "cluster.node", "r1", err, sizeof err), 0);
    assert_int_equal(rg_config_set(&c, "cluster.stream_max_age", cases[i].age, err, sizeof err), 0);
    assert_int_equal(rg_config_set(&c, "cluster.stream_max_bytes", cases[i].bytes, err, sizeof err),
                     0);
    assert_int_equal(rg_config_set(&c, "cluster.snapshot_interval", cases[i].snap, err, sizeof err),
                     0);
    int rc = rg_config_validate(&c, err, sizeof err);
    if (cases[i].msg ? rc != RG_ECONFIG || !strstr(err, cases[i].msg) : rc != RG_OK)
      fail_msg("case %zu: rc %d, '%s'", i, rc, err);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_check_budgets_and_holdout),
      cmocka_unit_test(test_config_validate_checks_metrics_and_log_options),
      cmocka_unit_test(test_config_reload_takes_runtime_options_and_names_the_rest),
      cmocka_unit_test(test_config_defaults_are_valid),
      cmocka_unit_test(test_config_every_default_applies),
      cmocka_unit_test(test_config_defaults_do_not_depend_on_prior_contents),
      cmocka_unit_test(test_config_describe_lists_every_option),
      cmocka_unit_test(test_config_size_suffixes_are_powers_of_1024),
      cmocka_unit_test(test_config_size_suffix_applies_to_frame_limit),
      cmocka_unit_test(test_config_duration_suffixes),
      cmocka_unit_test(test_config_numbers_and_strings_apply),
      cmocka_unit_test(test_config_rejects_out_of_range_values_naming_the_key),
      cmocka_unit_test(test_config_rejects_malformed_values_naming_the_key),
      cmocka_unit_test(test_config_rejects_unknown_keys_naming_the_key),
      cmocka_unit_test(test_config_rejects_too_long_strings),
      cmocka_unit_test(test_config_loads_ini_file),
      cmocka_unit_test(test_config_ini_unknown_key_is_reported_with_file_and_line),
      cmocka_unit_test(test_config_ini_bad_value_is_reported_with_file_and_line),
      cmocka_unit_test(test_config_ini_reports_the_first_of_several_errors),
      cmocka_unit_test(test_config_ini_syntax_error_is_reported),
      cmocka_unit_test(test_config_missing_ini_file_is_io_error),
      cmocka_unit_test(test_config_validate_rejects_map_size_above_map_max),
      cmocka_unit_test(test_config_validate_rejects_bad_log_level),
      cmocka_unit_test(test_config_time_and_actor_options),
      cmocka_unit_test(test_config_validate_requires_a_listener_and_a_data_dir),
      cmocka_unit_test(test_config_unix_path_resolves_default_and_none),
      cmocka_unit_test(test_config_unix_mode_is_octal),
      cmocka_unit_test(test_config_validate_refuses_no_frame_timeout_with_auth),
      cmocka_unit_test(test_config_loopback_addresses),
      cmocka_unit_test(test_config_validate_requires_auth_off_loopback),
      cmocka_unit_test(test_config_validate_allows_mutual_tls_off_loopback),
      cmocka_unit_test(test_config_validate_refuses_incomplete_tls),
      cmocka_unit_test(test_config_validate_checks_policy_options),
      cmocka_unit_test(test_config_validate_checks_cluster_options),
      cmocka_unit_test(test_config_validate_ties_stream_limits_to_snapshots),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
