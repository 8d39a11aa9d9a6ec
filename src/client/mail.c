/* mail.c — a message's header section into an observation. GMime parses the header
 * fields, addresses and the Date; received.c reads the Received chain; actor.c normalises.
 * The body is never handed to GMime: the parser gets the header section and an empty body.
 * Any thread after rg_mail_init. */
#include "repgraph/mail.h"

#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "repgraph/err.h"

static const char *const default_rcpt_headers[] = {"Delivered-To", "X-Original-To", "Envelope-To"};

const char *rg_mail_skip_name(int skip) {
  static const char *const names[] = {"",
#define RG__MAIL_SKIP_NAME(name, text) text,
                                      RG_MAIL_SKIP_MAP(RG__MAIL_SKIP_NAME)
#undef RG__MAIL_SKIP_NAME
  };
  return skip >= 0 && skip < RG_MAIL_SKIP_COUNT ? names[skip] : "?";
}

void rg_mail_init(void) {
  g_mime_init();
}

void rg_mail_obs_free(rg_mail_obs_t *obs) {
  if (!obs) return;
  free(obs->recipients);
  free(obs->hops);
  obs->recipients = NULL;
  obs->hops = NULL;
  obs->n_recipients = obs->cap_recipients = 0;
}

/* Length of the header section: up to (not including) the empty line, or all of it. */
static size_t header_section(const char *d, size_t len, bool *terminated) {
  for (size_t i = 0; i < len; i++) {
    if (d[i] != '\n') continue;
    if (i + 1 < len && d[i + 1] == '\n') return *terminated = true, i + 1;
    if (i + 2 < len && d[i + 1] == '\r' && d[i + 2] == '\n') return *terminated = true, i + 1;
  }
  *terminated = false;
  return len;
}

/* The first line must be a header field: printable name, then ':'. */
static bool starts_with_field(const char *d, size_t len) {
  size_t i = 0;
  while (i < len && (unsigned char)d[i] > 32 && (unsigned char)d[i] < 127 && d[i] != ':') i++;
  while (i < len && (d[i] == ' ' || d[i] == '\t')) i++; /* obsolete "Name :" */
  return i > 0 && i < len && d[i] == ':';
}

/* The first mailbox of an address header value (groups are opened). NULL if none; the
 * string is borrowed from *list, which the caller unrefs. */
static const char *first_mailbox(InternetAddressList *list, int i0) {
  for (int i = i0; list && i < internet_address_list_length(list); i++) {
    InternetAddress *ia = internet_address_list_get_address(list, i);
    if (INTERNET_ADDRESS_IS_MAILBOX(ia))
      return internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
    if (INTERNET_ADDRESS_IS_GROUP(ia)) {
      const char *a =
          first_mailbox(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)), 0);
      if (a) return a;
    }
  }
  return NULL;
}

/* "<>" with optional white space and comments: the null reverse-path (bounces, DSNs). */
static bool is_null_path(const char *v) {
  int depth = 0;
  char seen[3] = {0};
  size_t n = 0;
  for (const char *p = v; *p; p++) {
    if (*p == '(')
      depth++;
    else if (*p == ')' && depth)
      depth--;
    else if (depth || *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
      continue;
    else if (n < 2)
      seen[n++] = *p;
    else
      return false;
  }
  return n == 2 && seen[0] == '<' && seen[1] == '>';
}

static int add_recipient(rg_mail_obs_t *obs, const char *addr) {
  rg_actor_t a;
  if (rg_actor_normalize(RG_ACTOR_ADDRESS, addr, strlen(addr), &a, NULL) != RG_OK) {
    obs->dropped_recipients++;
    return RG_OK;
  }
  for (uint32_t i = 0; i < obs->n_recipients; i++)
    if (obs->recipients[i].len == a.len && memcmp(obs->recipients[i].key, a.key, a.len) == 0)
      return RG_OK;
  if (obs->n_recipients >= RG_MAIL_RECIPIENTS_MAX) {
    obs->dropped_recipients++;
    return RG_OK;
  }
  if (obs->n_recipients == obs->cap_recipients) {
    uint32_t cap = obs->cap_recipients ? obs->cap_recipients * 2 : 8;
    rg_actor_t *grown = realloc(obs->recipients, cap * sizeof *grown);
    if (!grown) return RG_ENOMEM;
    obs->recipients = grown, obs->cap_recipients = cap;
  }
  obs->recipients[obs->n_recipients++] = a;
  return RG_OK;
}

static int add_recipients(rg_mail_obs_t *obs, InternetAddressList *list) {
  int rc = RG_OK;
  for (int i = 0; !rc && list && i < internet_address_list_length(list); i++) {
    InternetAddress *ia = internet_address_list_get_address(list, i);
    if (INTERNET_ADDRESS_IS_MAILBOX(ia))
      rc = add_recipient(obs, internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)));
    else if (INTERNET_ADDRESS_IS_GROUP(ia))
      rc = add_recipients(obs, internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)));
  }
  return rc;
}

/* Recipients from the first configured header present, else To and Cc. */
static int read_recipients(GMimeHeaderList *hl, const rg_mail_opts_t *o, rg_mail_obs_t *obs) {
  const char *const *names = o->rcpt_headers ? o->rcpt_headers : default_rcpt_headers;
  size_t n_names = o->rcpt_headers ? o->n_rcpt_headers : 3;
  int count = g_mime_header_list_get_count(hl), rc = RG_OK;
  bool found = false;
  for (size_t k = 0; k <= n_names && !found; k++) {
    for (int i = 0; !rc && i < count; i++) {
      GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
      const char *name = g_mime_header_get_name(h), *raw = g_mime_header_get_raw_value(h);
      bool want = k < n_names ? strcasecmp(name, names[k]) == 0
                              : strcasecmp(name, "To") == 0 || strcasecmp(name, "Cc") == 0;
      if (!want || !raw) continue;
      found = true;
      InternetAddressList *list = internet_address_list_parse(NULL, raw);
      rc = add_recipients(obs, list);
      if (list) g_object_unref(list);
    }
  }
  return rc;
}

/* The envelope sender: Return-Path, else Sender, else From. */
static rg_mail_skip_t read_sender(GMimeHeaderList *hl, rg_mail_obs_t *obs) {
  static const char *const order[] = {"Return-Path", "Sender", "From"};
  for (size_t k = 0; k < 3; k++) {
    GMimeHeader *h = g_mime_header_list_get_header(hl, order[k]);
    const char *raw = h ? g_mime_header_get_raw_value(h) : NULL;
    if (!raw) continue;
    if (is_null_path(raw)) { /* a bounce or DSN: the null sender actor address:<> */
      obs->has_sender =
          rg_actor_normalize(RG_ACTOR_ADDRESS, "<>", 2, &obs->sender, NULL) == RG_OK;
      return obs->has_sender ? RG_MAIL_OK : RG_MAIL_SKIP_BAD_SENDER;
    }
    InternetAddressList *list = internet_address_list_parse(NULL, raw);
    const char *addr = first_mailbox(list, 0), *reason = "no address";
    rg_mail_skip_t skip = RG_MAIL_SKIP_BAD_SENDER;
    if (addr &&
        rg_actor_normalize(RG_ACTOR_ADDRESS, addr, strlen(addr), &obs->sender, &reason) == RG_OK) {
      obs->has_sender = true, skip = RG_MAIL_OK;
    } else {
      snprintf(obs->detail, sizeof obs->detail, "%s: %.80s: %s", order[k], addr ? addr : raw,
               reason);
    }
    if (list) g_object_unref(list);
    return skip;
  }
  return RG_MAIL_SKIP_NO_SENDER;
}

/* The client hop of the Received chain: ip, helo, reverse name, time. The reverse name is
 * the one our relay wrote (Postfix writes `unknown` unless it is forward-confirmed). RG_ENOMEM. */
static int read_received(GMimeHeaderList *hl, const rg_mail_opts_t *o, rg_mail_obs_t *obs) {
  if (!obs->hops && !(obs->hops = malloc(RG_MAIL_HOPS_MAX * sizeof *obs->hops))) return RG_ENOMEM;
  rg_received_t *hops = obs->hops;
  size_t n = 0;
  int count = g_mime_header_list_get_count(hl);
  int64_t newest_ts = 0;
  for (int i = 0; i < count && n < RG_MAIL_HOPS_MAX; i++) {
    GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
    if (strcasecmp(g_mime_header_get_name(h), "Received") != 0) continue;
    const char *raw = g_mime_header_get_raw_value(h);
    if (!raw) continue;
    rg_received_parse(raw, strlen(raw), &hops[n]);
    if (!newest_ts) newest_ts = hops[n].ts;
    n++;
  }
  size_t at;
  if (rg_received_client(hops, n, o->trusted, &at, &obs->internal) == RG_OK) {
    const rg_received_t *hop = &hops[at];
    obs->has_ip =
        rg_actor_normalize(RG_ACTOR_IP, hop->ip, strlen(hop->ip), &obs->client_ip, NULL) == RG_OK;
    rg_actor_t d;
    size_t rd_len = strlen(hop->rdns);
    if (rd_len && rg_actor_normalize(RG_ACTOR_DOMAIN, hop->rdns, rd_len, &d, NULL) == RG_OK) {
      memcpy(obs->rdns, d.key, d.len + 1u);
      obs->has_rdns = true;
    }
    size_t hl_len = strlen(hop->helo);
    if (hl_len && rg_actor_normalize(RG_ACTOR_DOMAIN, hop->helo, hl_len, &d, NULL) == RG_OK) {
      memcpy(obs->helo, d.key, d.len + 1u);
      obs->has_helo = true;
    } else if (hl_len) { /* an address literal, "[192.0.2.1]" or bare: the server decides */
      char ip[RG_RECEIVED_IP_MAX];
      const char *p = hop->helo;
      size_t m = hl_len;
      if (m > 2 && p[0] == '[' && p[m - 1] == ']') p++, m -= 2;
      if (rg_received_canon_ip(p, m, ip) == RG_OK) {
        memcpy(obs->helo, hop->helo, hl_len + 1);
        obs->has_helo = true;
      }
    }
    obs->ts = hop->ts;
  }
  if (!obs->ts) obs->ts = newest_ts;
  return RG_OK;
}

int rg_mail_parse(const char *data, size_t len, const rg_mail_opts_t *o, rg_mail_obs_t *obs,
                  rg_mail_skip_t *skip) {
  rg_actor_t *keep = obs->recipients;
  rg_received_t *keep_hops = obs->hops;
  uint32_t keep_cap = obs->cap_recipients;
  memset(obs, 0, sizeof *obs);
  obs->recipients = keep, obs->cap_recipients = keep_cap, obs->hops = keep_hops;
  bool terminated;
  size_t hlen = header_section(data, len, &terminated);
  if (hlen > RG_MAIL_HEADER_MAX) return *skip = RG_MAIL_SKIP_HEADER_TOO_LARGE, RG_OK;
  if (memchr(data, '\0', hlen)) return *skip = RG_MAIL_SKIP_BINARY, RG_OK;
  if (!starts_with_field(data, hlen)) return *skip = RG_MAIL_SKIP_NOT_MESSAGE, RG_OK;
  if (!terminated && (len == 0 || data[len - 1] != '\n'))
    return *skip = RG_MAIL_SKIP_TRUNCATED, RG_OK;

  int rc = RG_OK;
  GMimeStream *stream = g_mime_stream_mem_new_with_buffer(data, hlen);
  GMimeParser *parser = g_mime_parser_new_with_stream(stream);
  GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
  GMimeHeaderList *hl = msg ? g_mime_object_get_header_list(GMIME_OBJECT(msg)) : NULL;
  if (!hl || g_mime_header_list_get_count(hl) == 0) {
    *skip = RG_MAIL_SKIP_NOT_MESSAGE;
    goto done;
  }
  rg_mail_skip_t sender_skip = read_sender(hl, obs);
  if ((rc = read_recipients(hl, o, obs)) || (rc = read_received(hl, o, obs))) goto done;
  if (!obs->ts) {
    GMimeHeader *h = g_mime_header_list_get_header(hl, "Date");
    const char *raw = h ? g_mime_header_get_raw_value(h) : NULL;
    GDateTime *dt = raw ? g_mime_utils_header_decode_date(raw) : NULL;
    if (dt) {
      gint64 t = g_date_time_to_unix(dt);
      if (t > 0) obs->ts = t;
      g_date_time_unref(dt);
    }
  }
  if (!obs->ts && o->fallback_ts > 0) obs->ts = o->fallback_ts;
  if (sender_skip)
    *skip = sender_skip;
  else if (!obs->n_recipients)
    *skip = RG_MAIL_SKIP_NO_RECIPIENTS;
  else if (!obs->has_ip)
    *skip = RG_MAIL_SKIP_NO_CLIENT_IP;
  else
    *skip = RG_MAIL_OK;
done:
  if (msg) g_object_unref(msg);
  g_object_unref(parser);
  g_object_unref(stream);
  return rc;
}
