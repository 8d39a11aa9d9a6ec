/* client.c — blocking socket client speaking repgraph frames. One thread per client. */
#include "repgraph/client.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "repgraph/err.h"
#include "repgraph/proto.h"

struct rg_client {
  int fd;
};

static int connect_unix(const char *path, char *err, size_t errlen) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) {
    snprintf(err, errlen, "%s: socket path too long", path);
    return -1;
  }
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) return fd;
  snprintf(err, errlen, "cannot connect to %s: %s", path, strerror(errno));
  if (fd >= 0) close(fd);
  return -1;
}

static int connect_tcp(const char *host, unsigned port, char *err, size_t errlen) {
  char service[16];
  snprintf(service, sizeof service, "%u", port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
  int rc = getaddrinfo(host, service, &hints, &res);
  if (rc) {
    snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
    return -1;
  }
  int fd = -1, saved = 0;
  for (ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
    saved = errno;
    if (fd >= 0) close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) {
    snprintf(err, errlen, "cannot connect to %s port %u: %s", host, port, strerror(saved));
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

int rg_client_connect(const char *host, unsigned port, const char *unix_path, int timeout_ms,
                      rg_client_t **out, char *err, size_t errlen) {
  *out = NULL;
  int fd = unix_path ? connect_unix(unix_path, err, errlen) : connect_tcp(host, port, err, errlen);
  if (fd < 0) return RG_EIO;
  if (timeout_ms > 0) {
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  rg_client_t *c = malloc(sizeof *c);
  if (!c) {
    close(fd);
    return RG_ENOMEM;
  }
  c->fd = fd;
  *out = c;
  return RG_OK;
}

int rg_client_send(rg_client_t *c, const void *bytes, size_t n) {
  const uint8_t *p = bytes;
  while (n) {
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return RG_EIO;
    p += w;
    n -= (size_t)w;
  }
  return RG_OK;
}

static int recv_all(int fd, uint8_t *p, size_t n) {
  while (n) {
    ssize_t r = recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return RG_EIO;
    p += r;
    n -= (size_t)r;
  }
  return RG_OK;
}

int rg_client_recv(rg_client_t *c, rg_buf_t *body, size_t max) {
  uint8_t hdr[RG_FRAME_HEADER];
  int rc = recv_all(c->fd, hdr, sizeof hdr);
  if (rc) return rc;
  uint32_t len = rg_get_u32be(hdr);
  if (len > max) return RG_ETOO_LARGE;
  body->len = 0;
  if ((rc = rg_buf_reserve(body, len))) return rc;
  if ((rc = recv_all(c->fd, body->data, len))) return rc;
  body->len = len;
  return RG_OK;
}

int rg_client_fd(const rg_client_t *c) {
  return c->fd;
}

void rg_client_close(rg_client_t *c) {
  if (!c) return;
  close(c->fd);
  free(c);
}
