/* actor.h — the vocabulary: actor types, edge kinds, and the normalisation rules that
 * turn what a mail filter saw into one canonical identifier per actor. Every table of
 * types and kinds lives here, nowhere else. Pure functions; any thread. */
#ifndef RG_ACTOR_H
#define RG_ACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Actor types. The numeric values are stored in LMDB keys: never renumber, append only. */
#define RG_ACTOR_TYPE_MAP(X) \
  X(ADDRESS, 1, "address")   \
  X(IP, 2, "ip")             \
  X(NET, 3, "net")           \
  X(DOMAIN, 4, "domain")

typedef enum {
#define RG__ACTOR_TYPE_ENUM(name, num, text) RG_ACTOR_##name = num,
  RG_ACTOR_TYPE_MAP(RG__ACTOR_TYPE_ENUM)
#undef RG__ACTOR_TYPE_ENUM
} rg_actor_type_t;

#define RG_ACTOR_TYPE_MIN 1
#define RG_ACTOR_TYPE_MAX 4

/* Edge kinds with the actor types they connect (src -> dst). Stored in keys: append only. */
#define RG_EDGE_KIND_MAP(X)                                           \
  X(MAILED, 0, "mailed", RG_ACTOR_ADDRESS, RG_ACTOR_ADDRESS)          \
  X(SENT_FROM, 1, "sent_from", RG_ACTOR_ADDRESS, RG_ACTOR_IP)         \
  X(IN_NET, 2, "in_net", RG_ACTOR_IP, RG_ACTOR_NET)                   \
  X(USES_DOMAIN, 3, "uses_domain", RG_ACTOR_ADDRESS, RG_ACTOR_DOMAIN) \
  X(HELO, 4, "helo", RG_ACTOR_IP, RG_ACTOR_DOMAIN)                    \
  X(RDNS, 5, "rdns", RG_ACTOR_IP, RG_ACTOR_DOMAIN)

typedef enum {
#define RG__EDGE_KIND_ENUM(name, num, text, src, dst) RG_EDGE_##name = num,
  RG_EDGE_KIND_MAP(RG__EDGE_KIND_ENUM)
#undef RG__EDGE_KIND_ENUM
      RG_EDGE_KIND_COUNT
} rg_edge_kind_t;

/* Longest normalised identifier, in bytes (an e-mail address is at most 254). */
#define RG_ACTOR_KEY_MAX 255
/* Longest "type:identifier" text form, including the terminating NUL. */
#define RG_ACTOR_TEXT_MAX (RG_ACTOR_KEY_MAX + 16)
/* Longest actor text accepted on the wire, before normalisation trims it. */
#define RG_ACTOR_WIRE_MAX 300u

/* A normalised actor. `key` is NUL-terminated and `len` excludes the NUL. */
typedef struct {
  rg_actor_type_t type;
  uint16_t len;
  char key[RG_ACTOR_KEY_MAX + 1];
} rg_actor_t;

/* How addresses become actors where operators differ (config section actor.*, passed in
 * by the caller: this module knows no configuration). */
typedef struct {
  bool fold_local_case;  /* lower-case ASCII letters of the local part: Alice@ == alice@ */
  char subaddress_sep[8]; /* "" keeps user+tag@; else the tag is cut at the first of these */
  bool pseudonyms;        /* the pseudonym form (below) is accepted as an identifier */
} rg_actor_opts_t;

/* Fills *o with the defaults: fold_local_case on, sub-addresses kept. */
void rg_actor_opts_default(rg_actor_opts_t *o);

/* The key of the null sender `<>` (bounces, delivery reports): the actor "address:<>". It
 * has no domain (rg_actor_domain_of fails) and is not a label seed (the server refuses
 * labels on it: it stands for every bouncing MTA at once). */
#define RG_ACTOR_NULL_SENDER "<>"

/* A pseudonym (store.pseudonymise, repgraph/pseudonym.h) stands in for an identifier of
 * any type: RG_ACTOR_PSEUDONYM_MARK and the hex digits (lower case) of a 16-byte keyed
 * digest, e.g. "address:~3f0c…". No plaintext identifier has that form (an address has an
 * '@', a domain no '~'), so the two can never be confused. */
#define RG_ACTOR_PSEUDONYM_MARK '~'
#define RG_ACTOR_PSEUDONYM_LEN  33 /* mark + 32 hex digits */

/* True when `a`'s identifier is a pseudonym. */
bool rg_actor_is_pseudonym(const rg_actor_t *a);

/* Name of an actor type ("address", …), or NULL for a value outside the table. */
const char *rg_actor_type_name(int type);

/* Parses a type name of `len` bytes. 0 on success, RG_EINVALID_ACTOR if unknown. */
int rg_actor_type_parse(const char *name, size_t len, rg_actor_type_t *out);

/* Normalises `raw` (`len` bytes, not necessarily NUL-terminated) as an actor of `type`
 * into *out, with `opts` (NULL = rg_actor_opts_default). Every type: trimmed, at most
 * RG_ACTOR_KEY_MAX bytes, no NUL, valid UTF-8. Rules: address — optional <> removed; "<>"
 * alone is the null sender RG_ACTOR_NULL_SENDER; the local part is a dot-atom of RFC 5322
 * atext or UTF-8 (RFC 6531), or a quoted string (unquoted when its content is a dot-atom,
 * else kept quoted with minimal escapes); no bound of its own (VERP/SRS), the whole address
 * at most 255 bytes; ASCII letters lower-cased (opts->fold_local_case); a tag after a
 * separator stripped (opts->subaddress_sep); the domain as below; address literals refused.
 * ip — canonical inet_ntop text, IPv4-mapped IPv6 becomes IPv4, optional [] removed; net —
 * "addr/prefix" with host bits cleared (a mapped IPv6 with prefix >= 96 becomes IPv4);
 * domain — U-labels converted to A-labels (libidn2, UTS #46 non-transitional), lower-case,
 * no trailing dot, labels of 1..63 bytes of letters, digits, '-' and '_' (for _dmarc and DKIM
 * selectors), at most 253 bytes. A pseudonym (any type; hex digits folded to lower case) is
 * taken as it is when opts->pseudonyms, else refused. 0 on success (*out written); RG_EINVALID_ACTOR with *reason
 * (static string; `reason` may be NULL) otherwise, *out untouched. */
int rg_actor_normalize_opts(rg_actor_type_t type, const char *raw, size_t len,
                            const rg_actor_opts_t *opts, rg_actor_t *out, const char **reason);

/* rg_actor_normalize_opts with the default options. */
int rg_actor_normalize(rg_actor_type_t type, const char *raw, size_t len, rg_actor_t *out,
                       const char **reason);

/* Parses the text form "type:identifier" (type names are case-sensitive) and normalises it
 * with `opts` (NULL = defaults). 0; RG_EINVALID_ACTOR with *reason (static string). */
int rg_actor_parse_opts(const char *text, size_t len, const rg_actor_opts_t *opts, rg_actor_t *out,
                        const char **reason);

/* rg_actor_parse_opts with the default options. */
int rg_actor_parse(const char *text, size_t len, rg_actor_t *out, const char **reason);

/* True for the null sender actor "address:<>". */
bool rg_actor_is_null_sender(const rg_actor_t *a);

/* Normalises a HELO/EHLO argument as what it is: an address literal ("[192.0.2.1]",
 * "[IPv6:2001:db8::1]") or a bare IP becomes an ip actor, anything else a domain actor.
 * 0 or RG_EINVALID_ACTOR with *reason, as rg_actor_normalize. */
int rg_actor_normalize_helo(const char *raw, size_t len, rg_actor_t *out, const char **reason);

/* Writes the text form "type:identifier" of `a` into buf (capacity `cap`, NUL-terminated).
 * Returns the length written, or -1 if it does not fit. */
int rg_actor_format(const rg_actor_t *a, char *buf, size_t cap);

/* The network block of an ip actor: IPv4 /v4_prefix, IPv6 /v6_prefix, as a net actor.
 * 0 on success; RG_EINVALID_ACTOR if `ip` is not an ip actor or a prefix is out of range. */
int rg_actor_net_of(const rg_actor_t *ip, unsigned v4_prefix, unsigned v6_prefix, rg_actor_t *net);

/* The domain of an address actor, as a domain actor. 0 or RG_EINVALID_ACTOR. */
int rg_actor_domain_of(const rg_actor_t *address, rg_actor_t *domain);

/* Name of an edge kind ("mailed", …), or NULL for a value outside the table. */
const char *rg_edge_kind_name(int kind);

/* Parses an edge kind name of `len` bytes. 0 on success, RG_EINVALID_EDGE if unknown. */
int rg_edge_kind_parse(const char *name, size_t len, rg_edge_kind_t *out);

/* True when `kind` connects an actor of type src to one of type dst. */
bool rg_edge_kind_fits(rg_edge_kind_t kind, rg_actor_type_t src, rg_actor_type_t dst);

#endif
