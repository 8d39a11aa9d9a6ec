/* client.h — a blocking connection to repgraphd for the command-line client, tests and
 * benchmarks: connect (TCP or Unix socket), send frames, receive frames. One thread per
 * connection. */
#ifndef RG_CLIENT_H
#define RG_CLIENT_H

#include <stddef.h>

#include "repgraph/buf.h"

typedef struct rg_client rg_client_t;

/* Connects to host:port (IPv4 or IPv6 literal, or a name) or, if unix_path is non-NULL, to
 * that Unix socket. Receives time out after timeout_ms (0 = never). 0 with *out owned by
 * the caller (rg_client_close); RG_EIO with a message in err otherwise. */
int rg_client_connect(const char *host, unsigned port, const char *unix_path, int timeout_ms,
                      rg_client_t **out, char *err, size_t errlen);

/* TLS options of a client connection. Every pointer may be NULL; strings are borrowed for
 * the duration of rg_client_connect_tls. */
typedef struct {
  const char *ca_file;     /* PEM CAs the server's certificate must chain to; NULL: the
                              system's trust store (/etc/ssl/certs) */
  const char *server_name; /* DNS name or IP the certificate must be issued for (and the
                              SNI name); NULL: the host connected to */
  const char *cert_file;   /* PEM client certificate chain, for mutual TLS; NULL: none */
  const char *key_file;    /* its PEM private key; NULL: in cert_file */
} rg_client_tls_t;

/* Connects to host:port over TCP and runs a TLS (1.2 or later) handshake that verifies the
 * server's certificate chain and that it names server_name (or host). Then like
 * rg_client_connect; frames are encrypted. RG_EIO with a message in err (cannot connect,
 * handshake or verification failed, unreadable certificate or key), RG_ENOMEM. */
int rg_client_connect_tls(const char *host, unsigned port, int timeout_ms,
                          const rg_client_tls_t *tls, rg_client_t **out, char *err, size_t errlen);

/* Sends n bytes (one or more whole frames, header included). 0 or RG_EIO. */
int rg_client_send(rg_client_t *c, const void *bytes, size_t n);

/* Receives one frame and puts its body (without header) in *body, replacing its contents.
 * 0; RG_EIO on EOF, timeout or error; RG_ETOO_LARGE for a body over `max` bytes. */
int rg_client_recv(rg_client_t *c, rg_buf_t *body, size_t max);

/* Under TLS, why the last send or receive failed (OpenSSL's reason, e.g. the server's alert
 * "tlsv13 alert certificate required"), or "". Owned by the client. */
const char *rg_client_tls_error(const rg_client_t *c);

/* The socket, for tests that need raw access (under TLS it carries ciphertext). Owned by
 * the client. */
int rg_client_fd(const rg_client_t *c);

/* Closes the connection and frees the client. Accepts NULL. */
void rg_client_close(rg_client_t *c);

#endif
