/* tls.h — TLS for the server's TCP listener over OpenSSL, driven through memory BIOs: the
 * event loop owns the socket, hands each read's ciphertext in and takes ciphertext out to
 * write, so OpenSSL never touches a file descriptor. One context per server (loaded at
 * start), one rg_tls_conn_t per connection. The loop thread only, except rg_tls_open. */
#ifndef RG_TLS_H
#define RG_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repgraph/buf.h"
#include "repgraph/config.h"

typedef struct rg_tls rg_tls_t;           /* the server's certificate, key and policy */
typedef struct rg_tls_conn rg_tls_conn_t; /* one connection's TLS state */

/* Loads tls.cert (PEM chain), tls.key (empty: the key is in tls.cert's file; others must not
 * be able to read it, nor anyone else write it), tls.client_ca (when set, clients must show
 * a certificate it signed), tls.min_version and tls.ciphers. 0 with *out owned by the caller
 * (rg_tls_free); RG_ECONFIG (unreadable or mismatched files, bad permissions, bad version or
 * cipher list) or RG_ENOMEM, with a message naming the option and file in err. */
int rg_tls_open(const rg_config_t *cfg, rg_tls_t **out, char *err, size_t errlen);

/* Frees the context. Connections made from it must be freed first. Accepts NULL. */
void rg_tls_free(rg_tls_t *t);

/* Whether clients must present a certificate (tls.client_ca set). */
bool rg_tls_verifies_clients(const rg_tls_t *t);

/* A new server-side connection state, waiting for the client's handshake. 0 with *out owned
 * by the caller (rg_tls_conn_free); RG_ENOMEM. */
int rg_tls_conn_new(rg_tls_t *t, rg_tls_conn_t **out);

/* Frees a connection's state. Accepts NULL. */
void rg_tls_conn_free(rg_tls_conn_t *tc);

/* Takes n bytes of ciphertext read from the peer (copied: `cipher` may then be overwritten,
 * even by the plaintext) and appends the plaintext they complete to `plain`; handshake
 * replies and alerts wait for rg_tls_conn_seal. 0; RG_ETOO_LARGE when the plaintext does
 * not fit `plain`'s cap; RG_EIO when the handshake or the record layer failed (a client
 * speaking plaintext, an untrusted or missing client certificate, a protocol error), with
 * OpenSSL's reason in err. After an error only rg_tls_conn_seal (to send the alert) and
 * rg_tls_conn_free may be called. */
int rg_tls_conn_read(rg_tls_conn_t *tc, const uint8_t *cipher, size_t n, rg_buf_t *plain, char *err,
                     size_t errlen);

/* Encrypts n bytes of plaintext (none before the handshake has completed, nor after a
 * failure: they are dropped) and returns in *data / *len all ciphertext waiting to be sent,
 * handshake messages and alerts included. The bytes are owned by tc and stay valid until the
 * next rg_tls_conn_seal, rg_tls_conn_written or rg_tls_conn_free. 0 or RG_ENOMEM. */
int rg_tls_conn_seal(rg_tls_conn_t *tc, const uint8_t *plain, size_t n, const uint8_t **data,
                     size_t *len);

/* Whether ciphertext (handshake messages, alerts) waits for rg_tls_conn_seal. */
bool rg_tls_conn_pending(const rg_tls_conn_t *tc);

/* The ciphertext returned by the last seal has been written: drops it, keeping at most
 * `keep` bytes of buffer capacity. */
void rg_tls_conn_written(rg_tls_conn_t *tc, size_t keep);

/* True once the handshake has completed. */
bool rg_tls_conn_established(const rg_tls_conn_t *tc);

#endif
