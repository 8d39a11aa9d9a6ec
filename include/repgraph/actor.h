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

/* Name of an actor type ("address", …), or NULL for a value outside the table. */
const char *rg_actor_type_name(int type);

/* Parses a type name of `len` bytes. 0 on success, RG_EINVALID_ACTOR if unknown. */
int rg_actor_type_parse(const char *name, size_t len, rg_actor_type_t *out);

/* Normalises `raw` (`len` bytes, not necessarily NUL-terminated) as an actor of `type`
 * into *out. Rules: address — trimmed, optional <> removed, local part kept as is,
 * domain normalised as below (local part at most 64 bytes, whole at most 254, address
 * literals refused); ip — canonical inet_ntop text, IPv4-mapped IPv6 becomes IPv4, optional
 * [] removed; net — "addr/prefix" with host bits cleared (a mapped IPv6 with prefix >= 96
 * becomes IPv4); domain — lower-case, no trailing dot, labels of 1..63 bytes of letters,
 * digits, '-' and '_' (for _dmarc and DKIM selectors), at most 253 bytes. Type names are
 * case-sensitive. 0 on success (*out written); RG_EINVALID_ACTOR with *reason (static
 * string; `reason` may be NULL) otherwise, *out untouched. */
int rg_actor_normalize(rg_actor_type_t type, const char *raw, size_t len, rg_actor_t *out,
                       const char **reason);

/* Parses the text form "type:identifier" and normalises it into *out.
 * 0 on success; RG_EINVALID_ACTOR with *reason (static string) otherwise. */
int rg_actor_parse(const char *text, size_t len, rg_actor_t *out, const char **reason);

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
