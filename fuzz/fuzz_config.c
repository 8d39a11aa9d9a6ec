/* fuzz_config.c — libFuzzer target for the INI configuration file (libinih through
 * rg_config_load_file, every option's value parser, then the cross-field checks). The
 * input becomes a memfd read by path. Checked properties: a refusal names a reason; an
 * accepted file leaves NUL-terminated strings. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "repgraph/config.h"
#include "repgraph/err.h"

#define CHECK(cond)       \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int fd = -1;
  if (fd < 0) fd = memfd_create("fuzz-config", 0);
  CHECK(fd >= 0);
  CHECK(ftruncate(fd, 0) == 0);
  CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
  char path[64], err[512] = "", buf[RG_CONFIG_PATH_MAX];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  rg_config_t c;
  rg_config_defaults(&c);
  int rc = rg_config_load_file(&c, path, err, sizeof err);
  if (rc == RG_OK) rc = rg_config_validate(&c, err, sizeof err);
  if (rc != RG_OK) {
    CHECK((rc == RG_ECONFIG || rc == RG_EIO) && err[0] != '\0');
    return 0;
  }
  CHECK(memchr(c.data_dir, '\0', sizeof c.data_dir) &&
        memchr(c.log_level, '\0', sizeof c.log_level));
  (void)rg_config_unix_path(&c, buf, sizeof buf);
  return 0;
}
