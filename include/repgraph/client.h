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

/* Sends n bytes (one or more whole frames, header included). 0 or RG_EIO. */
int rg_client_send(rg_client_t *c, const void *bytes, size_t n);

/* Receives one frame and puts its body (without header) in *body, replacing its contents.
 * 0; RG_EIO on EOF, timeout or error; RG_ETOO_LARGE for a body over `max` bytes. */
int rg_client_recv(rg_client_t *c, rg_buf_t *body, size_t max);

/* The socket, for tests that need raw access. Owned by the client. */
int rg_client_fd(const rg_client_t *c);

/* Closes the connection and frees the client. Accepts NULL. */
void rg_client_close(rg_client_t *c);

#endif
