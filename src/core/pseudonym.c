/* pseudonym.c — the pseudonym key file and keyed BLAKE2b (libsodium) digests of actor
 * identifiers. Load on one thread; a loaded key is read-only, used from any thread. */
#include "repgraph/pseudonym.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repgraph/err.h"

_Static_assert(RG_PSEUDONYM_KEY_BYTES == crypto_generichash_KEYBYTES, "BLAKE2b key size");
_Static_assert(RG_PSEUDONYM_DIGEST_BYTES >= crypto_generichash_BYTES_MIN, "BLAKE2b digest size");
_Static_assert(RG_ACTOR_PSEUDONYM_LEN == 1 + 2 * RG_PSEUDONYM_DIGEST_BYTES, "pseudonym length");

#define OPTION "store.pseudonym_key_file"

/* Starts with a NUL byte: no actor's text form ("type:identifier") does. */
static const char fingerprint_input[] = "\0repgraph pseudonym key fingerprint v1";

struct rg_pseudonym {
  unsigned char key[RG_PSEUDONYM_KEY_BYTES];
};

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int rg_pseudonym_parse_key(const char *text, size_t len,
                           unsigned char key[RG_PSEUDONYM_KEY_BYTES]) {
  while (len && is_space(text[0])) text++, len--;
  while (len && is_space(text[len - 1])) len--;
  if (len != 2 * RG_PSEUDONYM_KEY_BYTES) return RG_ECONFIG;
  for (size_t i = 0; i < RG_PSEUDONYM_KEY_BYTES; i++) {
    int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      sodium_memzero(key, RG_PSEUDONYM_KEY_BYTES);
      return RG_ECONFIG;
    }
    key[i] = (unsigned char)(hi << 4 | lo);
  }
  return RG_OK;
}

int rg_pseudonym_new(const unsigned char key[RG_PSEUDONYM_KEY_BYTES], rg_pseudonym_t **out) {
  *out = NULL;
  if (sodium_init() < 0) return RG_EINTERNAL;
  rg_pseudonym_t *p = sodium_malloc(sizeof *p); /* guarded, locked memory, wiped when freed */
  if (!p) return RG_ENOMEM;
  memcpy(p->key, key, sizeof p->key);
  *out = p;
  return RG_OK;
}

void rg_pseudonym_free(rg_pseudonym_t *p) {
  if (p) sodium_free(p);
}

/* Why the key file's owner or mode lets others near the key, or NULL. */
static const char *unsafe(const struct stat *st) {
  return st->st_mode & S_IRWXO                        ? "others may read or write it"
         : st->st_mode & (S_IWGRP | S_IXGRP)          ? "its group may write or execute it"
         : st->st_uid != geteuid() && st->st_uid != 0 ? "it belongs to another user"
                                                      : NULL;
}

int rg_pseudonym_load(const char *path, rg_pseudonym_t **out, char *err, size_t errlen) {
  *out = NULL;
  if (!path || !path[0]) return rg_fail(err, errlen, RG_ECONFIG, OPTION " is empty");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return rg_fail(err, errlen, RG_EIO, OPTION ": %s: cannot open: %s", path, strerror(errno));
  char text[RG_PSEUDONYM_FILE_MAX + 1];
  unsigned char key[RG_PSEUDONYM_KEY_BYTES];
  struct stat st;
  const char *why;
  ssize_t n = 0;
  int rc;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    rc = rg_fail(err, errlen, RG_ECONFIG, OPTION ": %s: not a regular file", path);
    goto done;
  }
  if ((why = unsafe(&st))) {
    rc = rg_fail(err, errlen, RG_ECONFIG,
                 OPTION
                 ": %s: %s (mode %04o, owner uid %u); whoever reads the key can test "
                 "guesses against every pseudonym: it must belong to the server's user (uid %u) "
                 "or root, with mode 600 or 640",
                 path, why, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
                 (unsigned)geteuid());
    goto done;
  }
  size_t got = 0;
  while (got < sizeof text && (n = read(fd, text + got, sizeof text - got)) > 0) got += (size_t)n;
  if (n < 0) {
    rc = rg_fail(err, errlen, RG_EIO, OPTION ": %s: read error: %s", path, strerror(errno));
  } else if (got > RG_PSEUDONYM_FILE_MAX) {
    rc = rg_fail(err, errlen, RG_ECONFIG, OPTION ": %s: longer than %d bytes", path,
                 RG_PSEUDONYM_FILE_MAX);
  } else if (rg_pseudonym_parse_key(text, got, key) != RG_OK) {
    rc = rg_fail(err, errlen, RG_ECONFIG,
                 OPTION
                 ": %s: expected 64 hex digits (a 32-byte key, e.g. from `openssl rand "
                 "-hex 32`)",
                 path);
  } else if ((rc = rg_pseudonym_new(key, out))) {
    rg_fail(err, errlen, rc, OPTION ": %s: %s", path, rg_strerror(rc));
  }
done:
  close(fd);
  sodium_memzero(text, sizeof text);
  sodium_memzero(key, sizeof key);
  return rc;
}

int rg_pseudonym_of(const rg_pseudonym_t *p, const rg_actor_t *in, rg_actor_t *out) {
  if (rg_actor_is_pseudonym(in) || rg_actor_is_null_sender(in)) {
    if (out != in) *out = *in;
    return RG_OK;
  }
  char text[RG_ACTOR_TEXT_MAX];
  unsigned char d[RG_PSEUDONYM_DIGEST_BYTES];
  int n = rg_actor_format(in, text, sizeof text);
  if (n < 0 || crypto_generichash(d, sizeof d, (const unsigned char *)text, (size_t)n, p->key,
                                  sizeof p->key) != 0)
    return RG_EINTERNAL;
  static const char hex[] = "0123456789abcdef";
  rg_actor_type_t type = in->type;
  out->type = type;
  out->key[0] = RG_ACTOR_PSEUDONYM_MARK;
  for (size_t i = 0; i < sizeof d; i++) {
    out->key[1 + 2 * i] = hex[d[i] >> 4];
    out->key[2 + 2 * i] = hex[d[i] & 15];
  }
  out->len = RG_ACTOR_PSEUDONYM_LEN;
  out->key[RG_ACTOR_PSEUDONYM_LEN] = '\0';
  sodium_memzero(text, sizeof text);
  return RG_OK;
}

void rg_pseudonym_fingerprint(const rg_pseudonym_t *p, unsigned char fp[RG_PSEUDONYM_FP_BYTES]) {
  crypto_generichash(fp, RG_PSEUDONYM_FP_BYTES, (const unsigned char *)fingerprint_input,
                     sizeof fingerprint_input - 1, p->key, sizeof p->key);
}
