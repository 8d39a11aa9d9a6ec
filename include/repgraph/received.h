/* received.h — Received: header fields, parsed into the hop they record (the connecting IP,
 * the HELO the client gave, the reverse DNS the relay found, the time), and the walk down a
 * chain of them to the first hop received from outside the trusted networks (SpamAssassin's
 * trust path). Handles the shapes Postfix, Sendmail, Exim, Exchange/Outlook, qmail and
 * Gmail write, IPv6 literals, [IPv6:...], `unknown`, and survives garbage. Pure C, no MIME
 * library, no allocation; any thread. */
#ifndef RG_RECEIVED_H
#define RG_RECEIVED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repgraph/netset.h"

#define RG_RECEIVED_IP_MAX   46  /* INET6_ADDRSTRLEN */
#define RG_RECEIVED_NAME_MAX 256 /* helo, rdns, by: longer names are cut (and flagged) */

/* One hop. Strings are NUL-terminated and empty when the header does not record them. */
typedef struct {
  char ip[RG_RECEIVED_IP_MAX];     /* the connecting client, canonical text (mapped -> v4) */
  char helo[RG_RECEIVED_NAME_MAX]; /* as announced: a name or an address literal "[...]" */
  char rdns[RG_RECEIVED_NAME_MAX]; /* what the relay resolved; "" for none or `unknown` */
  char by[RG_RECEIVED_NAME_MAX];   /* the receiving relay's name */
  int64_t ts;                      /* the date after ';', seconds since the epoch; 0 = none */
  bool auth;                       /* authenticated submission (ESMTPA/ESMTPSA, ...) */
} rg_received_t;

/* Parses one Received field body (`len` bytes, folded or not, without "Received:") into
 * *out (cleared first). 0 when the header records a connecting IP; RG_ENOT_FOUND when it
 * does not (local pickup, LMTP by name, qmail's "invoked by", garbage) — the other fields
 * are still filled as far as they could be read. */
int rg_received_parse(const char *value, size_t len, rg_received_t *out);

/* Parses an RFC 5322 date (obsolete forms, 2-digit years, named zones, comments) or an
 * asctime date ("Tue Mar  5 10:00:00 2024", the mbox From_ line) of `len` bytes. 0 with
 * *out seconds since the epoch (>= 0); RG_EBAD_REQUEST otherwise. */
int rg_received_parse_date(const char *s, size_t len, int64_t *out);

/* Walks hops[0..n) (header order: newest first) from our own relay down. Hops without an IP
 * are not relays and are passed over. With a non-empty `trusted` set a hop is trusted when
 * its IP is in the set or is loopback (127/8, ::1 — always trusted, as in SpamAssassin);
 * with a NULL or empty set SpamAssassin's inference applies: private (RFC 1918, fc00::/7,
 * link-local) and loopback IPs are trusted, and so is an authenticated hop under a trusted
 * one. The first untrusted hop is the client: 0 with *index set and *internal false. When
 * every relay is trusted the oldest one is the client: 0 with *internal true. RG_ENOT_FOUND
 * when no hop records an IP. */
int rg_received_client(const rg_received_t *hops, size_t n, const rg_netset_t *trusted,
                       size_t *index, bool *internal);

/* Writes the canonical text of the IP literal `s` (`len` bytes: IPv4, IPv6, "IPv6:..."
 * prefixed, zone ids dropped; IPv4-mapped IPv6 becomes IPv4) into out. 0 or
 * RG_EBAD_REQUEST. */
int rg_received_canon_ip(const char *s, size_t len, char out[RG_RECEIVED_IP_MAX]);

#endif
