/* tls.c — the server side of TLS over OpenSSL, with memory BIOs: ciphertext the loop read
 * goes into the read BIO, SSL_read yields plaintext into the connection's input buffer,
 * SSL_write fills the write BIO and its bytes are handed back for the loop to write.
 * rg_tls_open runs at start-up; everything else on the loop thread (OpenSSL's error queue
 * is per thread). */
#include "repgraph/tls.h"

#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "repgraph/err.h"

#define PLAIN_CHUNK (16 * 1024) /* plaintext room asked of the input buffer per SSL_read */
#define SEAL_CHUNK  (16 * 1024) /* plaintext per SSL_write: one record, drained at once */

struct rg_tls {
  SSL_CTX *ctx;
  bool verify_clients;
};

struct rg_tls_conn {
  SSL *ssl;
  BIO *rbio, *wbio; /* owned by ssl */
  rg_buf_t out;     /* ciphertext handed to the loop to write */
  bool failed;
};

/* OpenSSL's reason for the last failure (its error queue, emptied), or `fallback`. */
static const char *ssl_reason(char *buf, size_t cap, const char *fallback) {
  unsigned long code = ERR_peek_last_error();
  const char *reason = code ? ERR_reason_error_string(code) : NULL;
  snprintf(buf, cap, "%s", reason ? reason : fallback);
  ERR_clear_error();
  return buf;
}

/* The private key file must not be readable by others nor writable by its group. */
static int check_key_mode(const char *path, char *err, size_t errlen) {
  struct stat st;
  if (stat(path, &st) != 0)
    return rg_fail(err, errlen, RG_ECONFIG, "tls.key: %s: cannot read it", path);
  if (!S_ISREG(st.st_mode))
    return rg_fail(err, errlen, RG_ECONFIG, "tls.key: %s: not a regular file", path);
  if (st.st_mode & (S_IRWXO | S_IWGRP | S_IXGRP))
    return rg_fail(err, errlen, RG_ECONFIG,
                   "tls.key: %s: others may access it or its group may write it (mode %04o); "
                   "make it 0600 or 0640",
                   path, (unsigned)(st.st_mode & 07777));
  return RG_OK;
}

static int load_files(SSL_CTX *ctx, const rg_config_t *cfg, char *err, size_t errlen) {
  char why[200];
  const char *key = cfg->tls_key[0] ? cfg->tls_key : cfg->tls_cert;
  if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1)
    return rg_fail(err, errlen, RG_ECONFIG, "tls.cert: %s: %s", cfg->tls_cert,
                   ssl_reason(why, sizeof why, "cannot load a PEM certificate chain"));
  int rc = check_key_mode(key, err, errlen);
  if (rc) return rc;
  if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
    return rg_fail(err, errlen, RG_ECONFIG, "tls.key: %s: %s", key,
                   ssl_reason(why, sizeof why, "cannot load a PEM private key"));
  if (SSL_CTX_check_private_key(ctx) != 1)
    return rg_fail(err, errlen, RG_ECONFIG, "tls.key: %s does not match the certificate in %s", key,
                   cfg->tls_cert);
  if (!cfg->tls_client_ca[0]) return RG_OK;
  STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->tls_client_ca);
  if (!names || SSL_CTX_load_verify_locations(ctx, cfg->tls_client_ca, NULL) != 1) {
    sk_X509_NAME_pop_free(names, X509_NAME_free);
    return rg_fail(err, errlen, RG_ECONFIG, "tls.client_ca: %s: %s", cfg->tls_client_ca,
                   ssl_reason(why, sizeof why, "no PEM CA certificate in it"));
  }
  SSL_CTX_set_client_CA_list(ctx, names); /* named in the certificate request; ctx owns it */
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  return RG_OK;
}

int rg_tls_open(const rg_config_t *cfg, rg_tls_t **out, char *err, size_t errlen) {
  *out = NULL;
  char why[200];
  rg_tls_t *t = calloc(1, sizeof *t);
  if (!t || !(t->ctx = SSL_CTX_new(TLS_server_method()))) {
    free(t);
    return rg_fail(err, errlen, RG_ENOMEM, "TLS: cannot create a context");
  }
  int version = strcmp(cfg->tls_min_version, "TLS1.3") == 0 ? TLS1_3_VERSION : TLS1_2_VERSION;
  int rc = RG_OK;
  if (strcmp(cfg->tls_min_version, "TLS1.2") && strcmp(cfg->tls_min_version, "TLS1.3"))
    rc = rg_fail(err, errlen, RG_ECONFIG, "tls.min_version: '%s' is not TLS1.2 or TLS1.3",
                 cfg->tls_min_version);
  else if (SSL_CTX_set_min_proto_version(t->ctx, version) != 1)
    rc = rg_fail(err, errlen, RG_ECONFIG, "tls.min_version: %s",
                 ssl_reason(why, sizeof why, "refused by OpenSSL"));
  else if (cfg->tls_ciphers[0] && SSL_CTX_set_cipher_list(t->ctx, cfg->tls_ciphers) != 1)
    rc = rg_fail(err, errlen, RG_ECONFIG, "tls.ciphers: '%s': %s", cfg->tls_ciphers,
                 ssl_reason(why, sizeof why, "no usable cipher"));
  if (!rc) rc = load_files(t->ctx, cfg, err, errlen);
  if (rc) {
    rg_tls_free(t);
    return rc;
  }
  /* No renegotiation (a client could make the server redo handshakes for free), our order
   * of ciphers, and no idle read/write buffers kept per connection. Sessions resume only
   * within this server (the context id is required once clients are verified). */
  SSL_CTX_set_options(
      t->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS);
  static const unsigned char sid_ctx[] = "repgraphd";
  SSL_CTX_set_session_id_context(t->ctx, sid_ctx, sizeof sid_ctx - 1);
  t->verify_clients = cfg->tls_client_ca[0] != '\0';
  *out = t;
  return RG_OK;
}

void rg_tls_free(rg_tls_t *t) {
  if (!t) return;
  SSL_CTX_free(t->ctx);
  free(t);
}

bool rg_tls_verifies_clients(const rg_tls_t *t) {
  return t->verify_clients;
}

int rg_tls_conn_new(rg_tls_t *t, rg_tls_conn_t **out) {
  *out = NULL;
  rg_tls_conn_t *tc = calloc(1, sizeof *tc);
  if (!tc) return RG_ENOMEM;
  rg_buf_init(&tc->out, 0); /* bounded by the plaintext it seals: the server's output limit */
  tc->ssl = SSL_new(t->ctx);
  tc->rbio = BIO_new(BIO_s_mem());
  tc->wbio = BIO_new(BIO_s_mem());
  if (!tc->ssl || !tc->rbio || !tc->wbio) {
    BIO_free(tc->rbio);
    BIO_free(tc->wbio);
    SSL_free(tc->ssl);
    free(tc);
    ERR_clear_error();
    return RG_ENOMEM;
  }
  BIO_set_mem_eof_return(tc->rbio, -1); /* an empty read BIO means "wait for more" */
  SSL_set_bio(tc->ssl, tc->rbio, tc->wbio);
  SSL_set_accept_state(tc->ssl);
  *out = tc;
  return RG_OK;
}

void rg_tls_conn_free(rg_tls_conn_t *tc) {
  if (!tc) return;
  SSL_free(tc->ssl); /* and both BIOs */
  rg_buf_free(&tc->out);
  free(tc);
}

/* Why the connection failed: the certificate check, OpenSSL's reason, or the error kind. */
static int conn_failed(rg_tls_conn_t *tc, int kind, char *err, size_t errlen) {
  char why[200];
  const char *stage = SSL_is_init_finished(tc->ssl) ? "TLS error" : "TLS handshake failed";
  long verify = SSL_get_verify_result(tc->ssl);
  tc->failed = true;
  if (verify != X509_V_OK) {
    ERR_clear_error();
    return rg_fail(err, errlen, RG_EIO, "%s: client certificate: %s", stage,
                   X509_verify_cert_error_string(verify));
  }
  return rg_fail(
      err, errlen, RG_EIO, "%s: %s", stage,
      ssl_reason(why, sizeof why,
                 kind == SSL_ERROR_SYSCALL ? "unexpected end of the stream" : "protocol error"));
}

/* Room for at least one byte of plaintext, up to PLAIN_CHUNK, within the buffer's cap. */
static size_t plain_room(rg_buf_t *b, int *rc) {
  *rc = RG_OK;
  if (b->cap - b->len < PLAIN_CHUNK) {
    *rc = rg_buf_reserve(b, PLAIN_CHUNK);
    if (*rc == RG_ETOO_LARGE && b->max > b->len) *rc = rg_buf_reserve(b, b->max - b->len);
    if (*rc == RG_ETOO_LARGE) *rc = RG_OK; /* full: decided by the caller */
  }
  size_t room = b->cap - b->len;
  return room > INT_MAX ? INT_MAX : room;
}

int rg_tls_conn_read(rg_tls_conn_t *tc, const uint8_t *cipher, size_t n, rg_buf_t *plain, char *err,
                     size_t errlen) {
  if (tc->failed) return rg_fail(err, errlen, RG_EIO, "TLS: the connection failed before");
  ERR_clear_error();
  if (n > INT_MAX || BIO_write(tc->rbio, cipher, (int)n) != (int)n) {
    tc->failed = true;
    return rg_fail(err, errlen, RG_ENOMEM, "TLS: cannot buffer %zu bytes", n);
  }
  for (;;) {
    int rc;
    size_t room = plain_room(plain, &rc);
    if (rc) return rg_fail(err, errlen, rc, "TLS: no memory for plaintext");
    if (room == 0) {
      if (SSL_pending(tc->ssl) > 0 || BIO_ctrl_pending(tc->rbio) > 0)
        return rg_fail(err, errlen, RG_ETOO_LARGE, "input buffer full");
      return RG_OK;
    }
    int r = SSL_read(tc->ssl, plain->data + plain->len, (int)room);
    if (r > 0) {
      plain->len += (size_t)r;
      continue;
    }
    int kind = SSL_get_error(tc->ssl, r);
    if (kind == SSL_ERROR_WANT_READ) return RG_OK; /* everything given has been read */
    if (kind == SSL_ERROR_ZERO_RETURN) {           /* close_notify: the TCP end follows */
      ERR_clear_error();
      return RG_OK;
    }
    return conn_failed(tc, kind, err, errlen);
  }
}

/* Moves what the write BIO holds to tc->out. 0 or RG_ENOMEM. */
static int drain(rg_tls_conn_t *tc) {
  size_t n = BIO_ctrl_pending(tc->wbio);
  if (n == 0) return RG_OK;
  int rc = rg_buf_reserve(&tc->out, n);
  if (rc) return rc;
  int r = BIO_read(tc->wbio, tc->out.data + tc->out.len, (int)n);
  if (r > 0) tc->out.len += (size_t)r;
  return RG_OK;
}

int rg_tls_conn_seal(rg_tls_conn_t *tc, const uint8_t *plain, size_t n, const uint8_t **data,
                     size_t *len) {
  int rc = RG_OK;
  ERR_clear_error();
  for (size_t off = 0; !rc && off < n && !tc->failed && SSL_is_init_finished(tc->ssl);) {
    size_t chunk = n - off < SEAL_CHUNK ? n - off : SEAL_CHUNK;
    int r = SSL_write(tc->ssl, plain + off, (int)chunk);
    if (r <= 0) { /* a memory BIO always takes it: only allocation can fail */
      tc->failed = true;
      rc = RG_ENOMEM;
      ERR_clear_error();
      break;
    }
    off += (size_t)r;
    rc = drain(tc); /* one record at a time: the write BIO never holds a whole reply */
  }
  if (!rc) rc = drain(tc);
  *data = tc->out.data;
  *len = tc->out.len;
  return rc;
}

bool rg_tls_conn_pending(const rg_tls_conn_t *tc) {
  return BIO_ctrl_pending(tc->wbio) > 0;
}

void rg_tls_conn_written(rg_tls_conn_t *tc, size_t keep) {
  rg_buf_reset(&tc->out, keep);
}

bool rg_tls_conn_established(const rg_tls_conn_t *tc) {
  return SSL_is_init_finished(tc->ssl) && !tc->failed;
}
