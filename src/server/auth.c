/* auth.c — the key file and constant-time token checks over libsodium. The table is built
 * once (any thread) and read-only afterwards; rg_auth_check may run on any thread. */
#include "repgraph/auth.h"

#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repgraph/err.h"
#include "repgraph/grow.h"

#define HASH_BYTES     crypto_generichash_BYTES /* 32: BLAKE2b-256 */
#define LINE_MAX_BYTES 1024

typedef struct {
  char name[RG_AUTH_NAME_MAX + 1];
  rg_role_t role;
  unsigned char hash[HASH_BYTES];
} entry_t;

struct rg_auth {
  unsigned char
      key[crypto_generichash_KEYBYTES]; /* random per process: hashes are useless elsewhere */
  entry_t *entries;
  size_t n, cap;
};

/* The keyed hash of a token. 0 or RG_EINTERNAL (libsodium refused the arguments). */
static int hash_token(const rg_auth_t *a, const char *token, size_t len,
                      unsigned char out[HASH_BYTES]) {
  return crypto_generichash(out, HASH_BYTES, (const unsigned char *)token, len, a->key,
                            sizeof a->key) == 0
             ? RG_OK
             : RG_EINTERNAL;
}

static bool name_ok(const char *s, size_t n) {
  if (n == 0 || n > RG_AUTH_NAME_MAX) return false;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && !strchr("_.@-", s[i])) return false;
  return true;
}

static bool token_ok(const char *s, size_t n) {
  if (n < RG_AUTH_TOKEN_MIN || n > RG_AUTH_TOKEN_MAX) return false;
  for (size_t i = 0; i < n; i++)
    if (!isgraph((unsigned char)s[i])) return false;
  return true;
}

static int parse_role(const char *s, size_t n, rg_role_t *out) {
  for (int r = RG_ROLE_READ; r < RG_ROLE_COUNT; r++)
    if (strlen(rg_role_name(r)) == n && memcmp(rg_role_name(r), s, n) == 0) {
      *out = (rg_role_t)r;
      return RG_OK;
    }
  return RG_ECONFIG;
}

/* Splits the next whitespace-separated field off *p; its length in *n (0 at the end). */
static const char *next_field(char **p, size_t *n) {
  char *s = *p + strspn(*p, " \t\r\n");
  *n = strcspn(s, " \t\r\n");
  *p = s + *n;
  return s;
}

/* Adds one "name role token" line. RG_ECONFIG with a message (never the token). */
static int add_line(rg_auth_t *a, char *line, char *msg, size_t msglen) {
  char *p = line;
  size_t nn, nr, nt, extra;
  const char *name = next_field(&p, &nn);
  if (nn == 0 || name[0] == '#') return RG_OK; /* blank or comment */
  const char *role = next_field(&p, &nr), *token = next_field(&p, &nt);
  next_field(&p, &extra);
  entry_t e = {0};
  if (nt == 0 || extra) {
    snprintf(msg, msglen, "expected \"name role token\"");
    return RG_ECONFIG;
  }
  if (!name_ok(name, nn)) {
    snprintf(msg, msglen, "name must be 1-%d letters, digits or _.@-", RG_AUTH_NAME_MAX);
    return RG_ECONFIG;
  }
  if (parse_role(role, nr, &e.role) != RG_OK) {
    snprintf(msg, msglen, "role must be read, write or admin");
    return RG_ECONFIG;
  }
  if (!token_ok(token, nt)) {
    snprintf(msg, msglen, "token must be %d-%d printable characters without spaces",
             RG_AUTH_TOKEN_MIN, RG_AUTH_TOKEN_MAX);
    return RG_ECONFIG;
  }
  memcpy(e.name, name, nn);
  if (hash_token(a, token, nt, e.hash) != RG_OK) {
    snprintf(msg, msglen, "libsodium could not hash the token");
    return RG_EINTERNAL;
  }
  for (size_t i = 0; i < a->n; i++) {
    if (strcmp(a->entries[i].name, e.name) == 0 ||
        sodium_memcmp(a->entries[i].hash, e.hash, HASH_BYTES) == 0) {
      snprintf(msg, msglen, "name or token repeats the entry of '%s'", a->entries[i].name);
      return RG_ECONFIG;
    }
  }
  int rc = rg_grow((void **)&a->entries, &a->cap, a->n + 1, sizeof *a->entries);
  if (rc) return rc;
  a->entries[a->n++] = e;
  return RG_OK;
}

int rg_auth_load(const char *path, rg_auth_t **out, char *err, size_t errlen) {
  *out = NULL;
  if (sodium_init() < 0) {
    snprintf(err, errlen, "libsodium failed to initialise");
    return RG_EINTERNAL;
  }
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return RG_EIO;
  }
  struct stat st;
  int rc = RG_OK;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "%s: not a regular file", path);
    fclose(f);
    return RG_ECONFIG;
  }
  const char *why = st.st_mode & S_IRWXO                  ? "others may read or write it"
                    : st.st_mode & (S_IWGRP | S_IXGRP)    ? "its group may write or execute it"
                    : st.st_uid != geteuid() && st.st_uid ? "it belongs to another user"
                                                          : NULL;
  if (why) {
    snprintf(err, errlen,
             "%s: %s (mode %04o, owner uid %u); tokens must stay secret: it must belong to "
             "the server's user (uid %u) or root, with mode 600, or 640 with a group that "
             "cannot connect to the Unix socket",
             path, why, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)geteuid());
    fclose(f);
    return RG_ECONFIG;
  }
  rg_auth_t *a = calloc(1, sizeof *a);
  if (!a) {
    fclose(f);
    return RG_ENOMEM;
  }
  char iobuf[4096]; /* stdio's copy of the tokens, wiped below */
  setvbuf(f, iobuf, _IOFBF, sizeof iobuf);
  crypto_generichash_keygen(a->key);
  char line[LINE_MAX_BYTES], msg[160];
  for (unsigned lineno = 1; rc == RG_OK && fgets(line, sizeof line, f); lineno++) {
    if (!strchr(line, '\n') && !feof(f)) {
      snprintf(msg, sizeof msg, "line longer than %d bytes", LINE_MAX_BYTES - 2);
      rc = RG_ECONFIG;
    } else {
      rc = add_line(a, line, msg, sizeof msg);
    }
    if (rc)
      snprintf(err, errlen, "%s:%u: %s", path, lineno, rc == RG_ENOMEM ? "out of memory" : msg);
  }
  if (rc == RG_OK && ferror(f)) {
    snprintf(err, errlen, "%s: read error", path);
    rc = RG_EIO;
  }
  if (rc == RG_OK && a->n == 0) {
    snprintf(err, errlen, "%s: no \"name role token\" lines", path);
    rc = RG_ECONFIG;
  }
  fclose(f);
  sodium_memzero(line, sizeof line);
  sodium_memzero(iobuf, sizeof iobuf);
  if (rc) {
    rg_auth_free(a);
    return rc;
  }
  *out = a;
  return RG_OK;
}

int rg_auth_check(const rg_auth_t *a, const char *token, size_t len, rg_role_t *role,
                  const char **name) {
  unsigned char h[HASH_BYTES];
  if (hash_token(a, token, len, h) != RG_OK) return RG_EINTERNAL;
  size_t found = a->n;
  for (size_t i = 0; i < a->n; i++) { /* every entry, whatever matched before */
    bool eq = sodium_memcmp(h, a->entries[i].hash, HASH_BYTES) == 0;
    found = eq ? i : found;
  }
  sodium_memzero(h, sizeof h);
  if (found == a->n) return RG_EUNAUTHORIZED;
  *role = a->entries[found].role;
  *name = a->entries[found].name;
  return RG_OK;
}

size_t rg_auth_count(const rg_auth_t *a) {
  return a->n;
}

void rg_auth_wipe(void *p, size_t n) {
  sodium_memzero(p, n);
}

void rg_auth_free(rg_auth_t *a) {
  if (!a) return;
  if (a->entries) sodium_memzero(a->entries, a->cap * sizeof *a->entries);
  free(a->entries);
  sodium_memzero(a, sizeof *a);
  free(a);
}
