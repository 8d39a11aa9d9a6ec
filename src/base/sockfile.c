/* sockfile.c — claiming a Unix socket path for a listener (see sockfile.h). */
#include "repgraph/sockfile.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "repgraph/err.h"

int rg_sockfile_claim(const char *path, const char *option, char *err, size_t errlen) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t len = strlen(path);
  if (len >= sizeof sa.sun_path)
    return rg_fail(err, errlen, RG_ECONFIG, "%s: path longer than %zu bytes: %s", option,
                   sizeof sa.sun_path - 1, path);
  struct stat st;
  if (lstat(path, &st) != 0) return RG_OK;
  if (!S_ISSOCK(st.st_mode))
    return rg_fail(err, errlen, RG_EIO, "%s: %s exists and is not a socket; refusing to replace it",
                   option, path);
  memcpy(sa.sun_path, path, len + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  bool live = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
  if (fd >= 0) close(fd);
  if (live)
    return rg_fail(err, errlen, RG_EIO, "%s: %s: another server is listening there", option, path);
  unlink(path);
  return RG_OK;
}
