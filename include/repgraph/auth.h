/* auth.h — access tokens: the key file (one "name role token" line per client), and the
 * check of a presented token in constant time (libsodium). Tokens are kept only as keyed
 * BLAKE2b hashes. Load on one thread; rg_auth_check is then safe from any thread. */
#ifndef RG_AUTH_H
#define RG_AUTH_H

#include <stddef.h>

#include "repgraph/proto.h"

#define RG_AUTH_TOKEN_MIN 16  /* shortest token the key file accepts */
#define RG_AUTH_TOKEN_MAX 256 /* longest token the key file accepts */
#define RG_AUTH_NAME_MAX  64  /* longest client name */

typedef struct rg_auth rg_auth_t;

/* Reads the key file at `path`. It must be a regular file owned by the effective user or
 * root that others cannot access and its group cannot write (mode 0600 or 0640). 0 with
 * *out owned by the caller (rg_auth_free); RG_EIO (cannot open or read), RG_ECONFIG
 * (permissions, owner, a malformed line, a duplicate name or token, no tokens), RG_ENOMEM
 * or RG_EINTERNAL (libsodium failed), with a message naming the file and line in err.
 * Messages never contain a token. */
int rg_auth_load(const char *path, rg_auth_t **out, char *err, size_t errlen);

/* Checks a presented token against every entry, in time that does not depend on which
 * entry (if any) matches or how much of it does. 0 with *role and *name (borrowed, valid
 * until rg_auth_free) set; RG_EUNAUTHORIZED when no entry matches, RG_EINTERNAL when the
 * token could not be hashed. */
int rg_auth_check(const rg_auth_t *a, const char *token, size_t len, rg_role_t *role,
                  const char **name);

/* Number of tokens loaded. */
size_t rg_auth_count(const rg_auth_t *a);

/* Overwrites n bytes at p with zeros in a way the compiler cannot skip (for secrets). */
void rg_auth_wipe(void *p, size_t n);

/* Frees the table (wiping the hashes). Accepts NULL. */
void rg_auth_free(rg_auth_t *a);

#endif
