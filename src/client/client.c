/* client.c — blocking socket client speaking repgraph frames, in clear or over TLS
 * (OpenSSL on the blocking socket, SIGPIPE held off around its writes). One thread per
 * client. */
#include "repgraph/client.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
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
  SSL_CTX *ctx; /* NULL: plaintext */
  SSL *ssl;
  char tls_error[128]; /* OpenSSL's reason for the last failed read or write; "" */
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

/* OpenSSL writes to the socket itself (also in SSL_read and SSL_connect): a peer that has
 * gone must give EPIPE, not kill the process. SIGPIPE is blocked for this thread around the
 * call and a SIGPIPE it raised is taken back. */
typedef struct {
  sigset_t pipe, old;
} nopipe_t;

static void nopipe_begin(nopipe_t *p) {
  sigemptyset(&p->pipe);
  sigaddset(&p->pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &p->pipe, &p->old);
}

static void nopipe_end(nopipe_t *p) {
  sigset_t pending;
  struct timespec zero = {0, 0};
  if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE))
    sigtimedwait(&p->pipe, NULL, &zero);
  pthread_sigmask(SIG_SETMASK, &p->old, NULL);
}

/* OpenSSL's reason for the last failure (its queue emptied), or `fallback`. */
static const char *ssl_reason(const char *fallback) {
  unsigned long code = ERR_peek_last_error();
  const char *r = code ? ERR_reason_error_string(code) : NULL;
  ERR_clear_error();
  return r ? r : fallback;
}

static int load_client_cert(SSL_CTX *ctx, const rg_client_tls_t *t, char *err, size_t errlen) {
  const char *key = t->key_file ? t->key_file : t->cert_file;
  if (SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1)
    return rg_fail(err, errlen, RG_EIO, "%s: %s", t->cert_file,
                   ssl_reason("cannot load a PEM certificate"));
  if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
    return rg_fail(err, errlen, RG_EIO, "%s: %s", key, ssl_reason("cannot load a PEM key"));
  if (SSL_CTX_check_private_key(ctx) != 1)
    return rg_fail(err, errlen, RG_EIO, "%s does not match the certificate in %s", key,
                   t->cert_file);
  return RG_OK;
}

/* The TLS handshake on connected socket c->fd, verifying the server's chain and name. */
static int tls_handshake(rg_client_t *c, const char *host, unsigned port, const rg_client_tls_t *t,
                         char *err, size_t errlen) {
  const char *name = t->server_name ? t->server_name : host;
  unsigned char ip[16];
  bool is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
  ERR_clear_error();
  if (!(c->ctx = SSL_CTX_new(TLS_client_method())))
    return rg_fail(err, errlen, RG_ENOMEM, "TLS: cannot create a context");
  SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
  if ((t->ca_file ? SSL_CTX_load_verify_locations(c->ctx, t->ca_file, NULL)
                  : SSL_CTX_set_default_verify_paths(c->ctx)) != 1)
    return rg_fail(err, errlen, RG_EIO, "%s: %s", t->ca_file ? t->ca_file : "trust store",
                   ssl_reason("no PEM CA certificate in it"));
  int rc = t->cert_file ? load_client_cert(c->ctx, t, err, errlen) : RG_OK;
  if (rc) return rc;
  if (!(c->ssl = SSL_new(c->ctx)) || SSL_set_fd(c->ssl, c->fd) != 1)
    return rg_fail(err, errlen, RG_ENOMEM, "TLS: cannot create a connection");
  /* The name the certificate must carry: an IP literal is matched against its IP SANs and
   * not sent as SNI (RFC 6066); a DNS name is both. */
  if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), name) != 1
            : SSL_set_tlsext_host_name(c->ssl, name) != 1 || SSL_set1_host(c->ssl, name) != 1)
    return rg_fail(err, errlen, RG_EIO, "TLS: '%s' cannot be verified as a server name", name);
  nopipe_t np;
  nopipe_begin(&np);
  int r = SSL_connect(c->ssl);
  nopipe_end(&np);
  if (r == 1) return RG_OK;
  long verify = SSL_get_verify_result(c->ssl);
  if (verify != X509_V_OK) {
    ERR_clear_error();
    return rg_fail(err, errlen, RG_EIO,
                   "TLS handshake with %s port %u: the server's certificate is not trusted as "
                   "%s: %s",
                   host, port, name, X509_verify_cert_error_string(verify));
  }
  return rg_fail(err, errlen, RG_EIO, "TLS handshake with %s port %u failed: %s", host, port,
                 ssl_reason(SSL_get_error(c->ssl, r) == SSL_ERROR_SYSCALL
                                ? "the server closed the connection or timed out"
                                : "protocol error"));
}

static int client_open(const char *host, unsigned port, const char *unix_path, int timeout_ms,
                       const rg_client_tls_t *tls, rg_client_t **out, char *err, size_t errlen) {
  *out = NULL;
  int fd = unix_path ? connect_unix(unix_path, err, errlen) : connect_tcp(host, port, err, errlen);
  if (fd < 0) return RG_EIO;
  if (timeout_ms > 0) {
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  rg_client_t *c = calloc(1, sizeof *c);
  if (!c) {
    close(fd);
    return RG_ENOMEM;
  }
  c->fd = fd;
  int rc = tls ? tls_handshake(c, host, port, tls, err, errlen) : RG_OK;
  if (rc) {
    rg_client_close(c);
    return rc;
  }
  *out = c;
  return RG_OK;
}

int rg_client_connect(const char *host, unsigned port, const char *unix_path, int timeout_ms,
                      rg_client_t **out, char *err, size_t errlen) {
  return client_open(host, port, unix_path, timeout_ms, NULL, out, err, errlen);
}

int rg_client_connect_tls(const char *host, unsigned port, int timeout_ms,
                          const rg_client_tls_t *tls, rg_client_t **out, char *err, size_t errlen) {
  static const rg_client_tls_t defaults = {0};
  return client_open(host, port, NULL, timeout_ms, tls ? tls : &defaults, out, err, errlen);
}

/* One SSL_write or SSL_read of at most n bytes: the count (> 0), or -1 with the reason in
 * c->tls_error. */
static ssize_t ssl_io(rg_client_t *c, bool write, void *p, size_t n) {
  nopipe_t np;
  int chunk = n > INT_MAX ? INT_MAX : (int)n;
  nopipe_begin(&np);
  int r = write ? SSL_write(c->ssl, p, chunk) : SSL_read(c->ssl, p, chunk);
  nopipe_end(&np);
  if (r <= 0)
    snprintf(c->tls_error, sizeof c->tls_error, "%s",
             ssl_reason(SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN
                            ? "the server ended the TLS session"
                            : "the connection ended or timed out"));
  ERR_clear_error();
  return r > 0 ? r : -1;
}

const char *rg_client_tls_error(const rg_client_t *c) {
  return c->tls_error;
}

int rg_client_send(rg_client_t *c, const void *bytes, size_t n) {
  const uint8_t *p = bytes;
  while (n) {
    ssize_t w = c->ssl ? ssl_io(c, true, (void *)p, n) : send(c->fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR && !c->ssl) continue;
    if (w <= 0) return RG_EIO;
    p += w;
    n -= (size_t)w;
  }
  return RG_OK;
}

static int recv_all(rg_client_t *c, uint8_t *p, size_t n) {
  while (n) {
    ssize_t r = c->ssl ? ssl_io(c, false, p, n) : recv(c->fd, p, n, 0);
    if (r < 0 && errno == EINTR && !c->ssl) continue;
    if (r <= 0) return RG_EIO;
    p += r;
    n -= (size_t)r;
  }
  return RG_OK;
}

int rg_client_recv(rg_client_t *c, rg_buf_t *body, size_t max) {
  uint8_t hdr[RG_FRAME_HEADER];
  int rc = recv_all(c, hdr, sizeof hdr);
  if (rc) return rc;
  uint32_t len = rg_get_u32be(hdr);
  if (len > max) return RG_ETOO_LARGE;
  body->len = 0;
  if ((rc = rg_buf_reserve(body, len))) return rc;
  if ((rc = recv_all(c, body->data, len))) return rc;
  body->len = len;
  return RG_OK;
}

int rg_client_fd(const rg_client_t *c) {
  return c->fd;
}

void rg_client_close(rg_client_t *c) {
  if (!c) return;
  if (c->ssl && SSL_is_init_finished(c->ssl)) {
    nopipe_t np;
    nopipe_begin(&np);
    SSL_shutdown(c->ssl); /* close_notify; the reply is not waited for */
    nopipe_end(&np);
  }
  SSL_free(c->ssl);
  SSL_CTX_free(c->ctx);
  ERR_clear_error();
  close(c->fd);
  free(c);
}
