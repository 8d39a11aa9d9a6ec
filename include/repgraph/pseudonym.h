/* pseudonym.h — keyed pseudonyms of actor identifiers (store.pseudonymise): the key file,
 * and the keyed BLAKE2b digest (libsodium crypto_generichash) that stands in for an
 * identifier in a pseudonymised store. Loading: one thread; a loaded key is read-only and
 * may be used from any thread. */
#ifndef RG_PSEUDONYM_H
#define RG_PSEUDONYM_H

#include <stddef.h>
#include <stdint.h>

#include "repgraph/actor.h"

#define RG_PSEUDONYM_KEY_BYTES    32   /* crypto_generichash_KEYBYTES */
#define RG_PSEUDONYM_DIGEST_BYTES 16   /* 128 bits: printed as 32 hex digits */
#define RG_PSEUDONYM_FP_BYTES     16   /* the key's fingerprint, kept in the store's meta */
#define RG_PSEUDONYM_FILE_MAX     4096 /* a longer key file is refused */

typedef struct rg_pseudonym rg_pseudonym_t;

/* Reads the key from the text of a key file: 64 hex digits (32 bytes, e.g. from
 * `openssl rand -hex 32`), white space around them ignored. 0 with key[] set;
 * RG_ECONFIG otherwise (key[] then holds nothing of the text). Pure; any thread. */
int rg_pseudonym_parse_key(const char *text, size_t len, unsigned char key[RG_PSEUDONYM_KEY_BYTES]);

/* Loads the key file at `path`. Like auth.key_file it must be a regular file that belongs to
 * this process's user or root, that others cannot access and its group cannot write (mode
 * 600 or 640). 0 with *out owned by the caller (rg_pseudonym_free); RG_EIO (unreadable),
 * RG_ECONFIG (permissions, form), RG_ENOMEM or RG_EINTERNAL, with a message in err that
 * names store.pseudonym_key_file and never shows the key. */
int rg_pseudonym_load(const char *path, rg_pseudonym_t **out, char *err, size_t errlen);

/* A pseudonym context for a key given in memory (tests, tools). 0 with *out owned by the
 * caller; RG_ENOMEM or RG_EINTERNAL. */
int rg_pseudonym_new(const unsigned char key[RG_PSEUDONYM_KEY_BYTES], rg_pseudonym_t **out);

/* Wipes the key and frees. Accepts NULL. */
void rg_pseudonym_free(rg_pseudonym_t *p);

/* The stored form of `in`: an actor of the same type whose identifier is
 * RG_ACTOR_PSEUDONYM_MARK and the hex digits of BLAKE2b-128 keyed with the key over the
 * text form "type:identifier" (so equal identifiers of different types differ). A pseudonym
 * and the null sender "address:<>" (one actor for every bouncing MTA, not a person) are
 * left as they are. `out` may be `in`. 0, or RG_EINTERNAL if libsodium refuses. */
int rg_pseudonym_of(const rg_pseudonym_t *p, const rg_actor_t *in, rg_actor_t *out);

/* The key's fingerprint: the keyed digest of a constant no actor text can equal. It tells
 * two keys apart and reveals nothing of the key. */
void rg_pseudonym_fingerprint(const rg_pseudonym_t *p, unsigned char fp[RG_PSEUDONYM_FP_BYTES]);

#endif
