/* actor.c — actor type and edge kind tables, and the normalisation of raw identifiers
 * (address, ip, net, domain) into canonical keys. Pure functions; any thread. */
#include "repgraph/actor.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <idn2.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "repgraph/err.h"
#include "repgraph/text.h"

/* Limits in bytes. RFC 5321's 64-octet local part is exceeded by real VERP and SRS bounce
 * addresses, so the local part has no bound of its own: the whole address is bounded by
 * the identifier cap (RG_ACTOR_KEY_MAX). Domains follow RFC 1035. */
#define RG__ADDRESS_MAX RG_ACTOR_KEY_MAX /* whole address */
#define RG__DOMAIN_MAX  253              /* domain without the trailing dot */
#define RG__LABEL_MAX   63               /* one domain label */
#define RG__IP_TEXT_MAX 63 /* longest text we hand to inet_pton (INET6_ADDRSTRLEN is 46) */

/* A parsed address: family AF_INET uses bytes[0..3], AF_INET6 all 16 bytes. */
typedef struct {
  int family;
  unsigned char bytes[16];
} rg__ip_t;

static int fail(const char **reason, const char *why) {
  if (reason) *reason = why;
  return RG_EINVALID_ACTOR;
}

static bool is_ascii_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static bool is_ctl_or_space(unsigned char c) {
  return c <= 0x20 || c == 0x7f;
}

static void trim(const char **p, size_t *n) {
  while (*n > 0 && is_ascii_space((unsigned char)(*p)[0])) {
    (*p)++;
    (*n)--;
  }
  while (*n > 0 && is_ascii_space((unsigned char)(*p)[*n - 1])) (*n)--;
}

/* Removes one surrounding pair `open` … `close` if both are present. */
static void strip_pair(const char **p, size_t *n, char open, char close) {
  if (*n >= 2 && (*p)[0] == open && (*p)[*n - 1] == close) {
    (*p)++;
    *n -= 2;
  }
}

/* ---- tables ---------------------------------------------------------------------- */

const char *rg_actor_type_name(int type) {
  switch (type) {
#define RG__ACTOR_TYPE_NAME(name, num, text) \
  case RG_ACTOR_##name: return text;
    RG_ACTOR_TYPE_MAP(RG__ACTOR_TYPE_NAME)
#undef RG__ACTOR_TYPE_NAME
    default: return NULL;
  }
}

int rg_actor_type_parse(const char *name, size_t len, rg_actor_type_t *out) {
  if (!name || !out) return RG_EINVALID_ACTOR;
#define RG__ACTOR_TYPE_MATCH(name_, num, text)                   \
  if (len == sizeof(text) - 1 && memcmp(name, text, len) == 0) { \
    *out = RG_ACTOR_##name_;                                     \
    return RG_OK;                                                \
  }
  RG_ACTOR_TYPE_MAP(RG__ACTOR_TYPE_MATCH)
#undef RG__ACTOR_TYPE_MATCH
  return RG_EINVALID_ACTOR;
}

const char *rg_edge_kind_name(int kind) {
  switch (kind) {
#define RG__EDGE_KIND_NAME(name, num, text, src, dst) \
  case RG_EDGE_##name: return text;
    RG_EDGE_KIND_MAP(RG__EDGE_KIND_NAME)
#undef RG__EDGE_KIND_NAME
    default: return NULL;
  }
}

int rg_edge_kind_parse(const char *name, size_t len, rg_edge_kind_t *out) {
  if (!name || !out) return RG_EINVALID_EDGE;
#define RG__EDGE_KIND_MATCH(name_, num, text, src, dst)          \
  if (len == sizeof(text) - 1 && memcmp(name, text, len) == 0) { \
    *out = RG_EDGE_##name_;                                      \
    return RG_OK;                                                \
  }
  RG_EDGE_KIND_MAP(RG__EDGE_KIND_MATCH)
#undef RG__EDGE_KIND_MATCH
  return RG_EINVALID_EDGE;
}

bool rg_edge_kind_fits(rg_edge_kind_t kind, rg_actor_type_t src, rg_actor_type_t dst) {
  switch ((int)kind) {
#define RG__EDGE_KIND_FITS(name, num, text, src_type, dst_type) \
  case RG_EDGE_##name: return src == (src_type) && dst == (dst_type);
    RG_EDGE_KIND_MAP(RG__EDGE_KIND_FITS)
#undef RG__EDGE_KIND_FITS
    default: return false;
  }
}

/* ---- domain ---------------------------------------------------------------------- */

/* Normalises a trimmed domain p[0..n) into dst, which has room for n + 1 bytes.
 * 0 with *out_len set, or RG_EINVALID_ACTOR with *reason set. */
static int domain_ascii(const char *p, size_t n, char *dst, size_t *out_len, const char **reason);

/* Normalises a domain that may hold U-labels: converted with libidn2 (UTS #46
 * non-transitional processing, NFC input) to its A-label (xn--) form, then checked as
 * ASCII. p[0..n) is valid UTF-8 (checked at the door). */
static int domain_core(const char *p, size_t n, char *dst, size_t *out_len, const char **reason) {
  if (n > 0 && p[n - 1] == '.') n--;
  bool ascii = true;
  for (size_t i = 0; i < n && ascii; i++) ascii = (unsigned char)p[i] < 0x80;
  if (ascii) return domain_ascii(p, n, dst, out_len, reason);
  char in[RG_ACTOR_KEY_MAX + 1];
  if (n > RG_ACTOR_KEY_MAX) return fail(reason, "domain longer than 253 bytes");
  memcpy(in, p, n);
  in[n] = '\0';
  char *out = NULL;
  int rc = idn2_to_ascii_8z(in, &out, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
  if (rc != IDN2_OK) {
    idn2_free(out);
    return fail(reason, "not a valid internationalised domain name (IDNA2008/UTS #46)");
  }
  size_t m = strlen(out);
  char ace[RG__DOMAIN_MAX + 2];
  if (m > RG__DOMAIN_MAX + 1) {
    idn2_free(out);
    return fail(reason, "domain longer than 253 bytes");
  }
  memcpy(ace, out, m);
  idn2_free(out);
  if (m > 0 && ace[m - 1] == '.') m--; /* an ideographic full stop may map to a dot */
  return domain_ascii(ace, m, dst, out_len, reason);
}

/* The ASCII rules: lower-case, labels of letters, digits, '-' and '_'. dst has room for
 * n + 1 bytes. */
static int domain_ascii(const char *p, size_t n, char *dst, size_t *out_len, const char **reason) {
  if (n == 0) return fail(reason, "empty domain");
  if (n > RG__DOMAIN_MAX) return fail(reason, "domain longer than 253 bytes");
  size_t label = 0; /* bytes in the current label */
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '.') {
      if (label == 0) return fail(reason, "empty domain label");
      if (dst[i - 1] == '-') return fail(reason, "domain label starts or ends with '-'");
      label = 0;
      dst[i] = '.';
      continue;
    }
    if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
    if (is_ctl_or_space(c)) return fail(reason, "control or space character");
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
      return fail(reason, "invalid character in domain");
    }
    if (label == 0 && c == '-') return fail(reason, "domain label starts or ends with '-'");
    if (++label > RG__LABEL_MAX) return fail(reason, "domain label longer than 63 bytes");
    dst[i] = (char)c;
  }
  if (label == 0) return fail(reason, "empty domain label");
  if (dst[n - 1] == '-') return fail(reason, "domain label starts or ends with '-'");
  dst[n] = '\0';
  *out_len = n;
  return RG_OK;
}

static int normalize_domain(const char *p, size_t n, rg_actor_t *a, const char **reason) {
  size_t len;
  char tmp[RG_ACTOR_KEY_MAX + 1];
  int rc = domain_core(p, n, tmp, &len, reason);
  if (!rc) memcpy(a->key, tmp, len + 1);
  if (rc) return rc;
  a->len = (uint16_t)len;
  return RG_OK;
}

/* ---- address --------------------------------------------------------------------- */

/* RFC 5322 atext, and any byte of a UTF-8 sequence (RFC 6531 local parts). */
static bool is_atext(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80 ||
         (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* True when s[0..n) is a dot-atom: atext runs separated by single dots. */
static bool is_dot_atom(const char *s, size_t n) {
  if (n == 0 || s[0] == '.' || s[n - 1] == '.') return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '.' ? s[i + 1] == '.' : !is_atext(c)) return false;
  }
  return true;
}

static void fold_ascii(char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] >= 'A' && s[i] <= 'Z') s[i] = (char)(s[i] - 'A' + 'a');
}

/* Normalises a local part p[0..n) into dst (capacity RG_ACTOR_KEY_MAX + 1): a quoted string
 * is unquoted when its content is a dot-atom, else kept quoted with only '"' and '\' escaped;
 * an unquoted one is checked against atext (dots anywhere: real mail has "a..b"), its tag
 * stripped from the first separator (opts) when something remains before it. ASCII letters
 * are lower-cased with fold_local_case. *out_len is the length. */
static int normalize_local(const char *p, size_t n, const rg_actor_opts_t *o, char *dst,
                           size_t *out_len, const char **reason) {
  if (n == 0) return fail(reason, "empty local part");
  size_t m = 0;
  if (p[0] == '"') {
    if (n < 2 || p[n - 1] != '"') return fail(reason, "unbalanced quote in local part");
    char raw[RG_ACTOR_KEY_MAX + 1];
    size_t k = 0;
    for (size_t i = 1; i + 1 < n; i++) {
      unsigned char c = (unsigned char)p[i];
      if (c == '\\') {
        if (i + 2 >= n) return fail(reason, "unbalanced quote in local part");
        c = (unsigned char)p[++i];
      } else if (c == '"') {
        return fail(reason, "unescaped quote in local part");
      }
      if ((c < 0x20 && c != '\t') || c == 0x7f) return fail(reason, "control character");
      raw[k++] = (char)c;
    }
    if (k == 0) return fail(reason, "empty local part");
    if (is_dot_atom(raw, k)) return normalize_local(raw, k, o, dst, out_len, reason); /* "a"@ */
    if (o->fold_local_case) fold_ascii(raw, k);
    dst[m++] = '"';
    for (size_t i = 0; i < k; i++) {
      if (m + 3 > RG_ACTOR_KEY_MAX) return fail(reason, "address longer than 255 bytes");
      if (raw[i] == '"' || raw[i] == '\\') dst[m++] = '\\';
      dst[m++] = raw[i];
    }
    dst[m++] = '"';
    *out_len = m;
    return RG_OK;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (is_ctl_or_space(c)) return fail(reason, "control or space character");
    if (c != '.' && !is_atext(c)) return fail(reason, "invalid character in local part");
  }
  if (o->subaddress_sep[0]) {
    for (size_t i = 1; i < n; i++) {
      if (strchr(o->subaddress_sep, p[i])) {
        n = i;
        break;
      }
    }
  }
  memcpy(dst, p, n);
  if (o->fold_local_case) fold_ascii(dst, n);
  *out_len = n;
  return RG_OK;
}

static int normalize_address(const char *p, size_t n, const rg_actor_opts_t *o, rg_actor_t *a,
                             const char **reason) {
  if (n == 2 && p[0] == '<' && p[1] == '>') { /* the null sender (bounces, reports) */
    memcpy(a->key, RG_ACTOR_NULL_SENDER, sizeof RG_ACTOR_NULL_SENDER);
    a->len = (uint16_t)(sizeof RG_ACTOR_NULL_SENDER - 1);
    return RG_OK;
  }
  strip_pair(&p, &n, '<', '>');
  const char *at = NULL;
  for (size_t i = n; i > 0; i--) {
    if (p[i - 1] == '@') {
      at = p + i - 1;
      break;
    }
  }
  if (!at) return fail(reason, "missing '@'");
  size_t local = (size_t)(at - p);
  const char *dom = at + 1;
  size_t dom_len = n - local - 1;
  if (local == 0) return fail(reason, "empty local part");
  if (dom_len > 0 && dom[0] == '[') return fail(reason, "address literal domain not accepted");
  char key[2 * RG_ACTOR_KEY_MAX + 2];
  size_t l, d;
  int rc = normalize_local(p, local, o, key, &l, reason);
  if (rc) return rc;
  key[l] = '@';
  if ((rc = domain_core(dom, dom_len, key + l + 1, &d, reason))) return rc;
  size_t total = l + 1 + d;
  if (total > RG__ADDRESS_MAX) return fail(reason, "address longer than 255 bytes");
  memcpy(a->key, key, total);
  a->key[total] = '\0';
  a->len = (uint16_t)total;
  return RG_OK;
}

/* ---- ip and net ------------------------------------------------------------------ */

static bool ip_is_v4_mapped(const rg__ip_t *ip) {
  static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return ip->family == AF_INET6 && memcmp(ip->bytes, prefix, sizeof prefix) == 0;
}

static void ip_unmap(rg__ip_t *ip) {
  memmove(ip->bytes, ip->bytes + 12, 4);
  memset(ip->bytes + 4, 0, 12);
  ip->family = AF_INET;
}

/* Parses p[0..n) (already trimmed, optionally in []) as an IPv4 or IPv6 address. */
static int ip_parse(const char *p, size_t n, rg__ip_t *ip, const char **reason) {
  char text[RG__IP_TEXT_MAX + 1];
  strip_pair(&p, &n, '[', ']');
  if (n == 0 || n > RG__IP_TEXT_MAX) return fail(reason, "not an IPv4 or IPv6 address");
  memcpy(text, p, n);
  text[n] = '\0';
  memset(ip->bytes, 0, sizeof ip->bytes);
  if (inet_pton(AF_INET, text, ip->bytes) == 1) {
    ip->family = AF_INET;
    return RG_OK;
  }
  if (inet_pton(AF_INET6, text, ip->bytes) == 1) {
    ip->family = AF_INET6;
    return RG_OK;
  }
  return fail(reason, "not an IPv4 or IPv6 address");
}

/* Writes the canonical text of ip into dst (capacity RG_ACTOR_KEY_MAX + 1); its length. */
/* Writes v in decimal at dst (no terminator); returns its length (at most 10). No printf:
 * this runs for every address of every observation. */
static size_t put_decimal(char *dst, unsigned v) {
  char digits[10], *q = digits + sizeof digits;
  do *--q = (char)('0' + v % 10);
  while (v /= 10);
  size_t n = (size_t)(digits + sizeof digits - q);
  memcpy(dst, q, n);
  return n;
}

static size_t ip_format(const rg__ip_t *ip, char *dst) {
  if (ip->family == AF_INET) { /* dotted quad, as inet_ntop writes it (with sprintf) */
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
      if (i) dst[n++] = '.';
      n += put_decimal(dst + n, ip->bytes[i]);
    }
    dst[n] = '\0';
    return n;
  }
  char text[INET6_ADDRSTRLEN];
  if (!inet_ntop(ip->family, ip->bytes, text, sizeof text)) return 0; /* cannot happen */
  size_t n = strlen(text);
  memcpy(dst, text, n + 1);
  return n;
}

static int normalize_ip(const char *p, size_t n, rg_actor_t *a, const char **reason) {
  rg__ip_t ip;
  int rc = ip_parse(p, n, &ip, reason);
  if (rc) return rc;
  if (ip_is_v4_mapped(&ip)) ip_unmap(&ip);
  size_t len = ip_format(&ip, a->key);
  if (len == 0) return fail(reason, "not an IPv4 or IPv6 address");
  a->len = (uint16_t)len;
  return RG_OK;
}

/* Fills a with the net "addr/prefix" of ip, host bits cleared. prefix is in range. */
static int make_net(rg__ip_t ip, unsigned prefix, rg_actor_t *a, const char **reason) {
  if (ip_is_v4_mapped(&ip) && prefix >= 96) {
    ip_unmap(&ip);
    prefix -= 96;
  }
  unsigned bits = ip.family == AF_INET ? 32 : 128;
  for (unsigned i = 0; i < bits / 8; i++) {
    if (prefix >= (i + 1) * 8) continue;
    unsigned keep = prefix > i * 8 ? prefix - i * 8 : 0; /* 0..7 bits kept in this byte */
    ip.bytes[i] &= (unsigned char)(0xff00u >> keep);
  }
  size_t len = ip_format(&ip, a->key);
  if (len == 0) return fail(reason, "not an IPv4 or IPv6 address");
  if (len + 5 > sizeof a->key) return fail(reason, "net text too long"); /* "/128" + NUL */
  a->key[len] = '/';
  size_t w = 1 + put_decimal(a->key + len + 1, prefix);
  a->key[len + w] = '\0';
  a->len = (uint16_t)(len + w);
  a->type = RG_ACTOR_NET;
  return RG_OK;
}

static int normalize_net(const char *p, size_t n, rg_actor_t *a, const char **reason) {
  const char *slash = memchr(p, '/', n);
  if (!slash) return fail(reason, "missing '/prefix'");
  size_t addr_len = (size_t)(slash - p);
  const char *digits = slash + 1;
  size_t ndigits = n - addr_len - 1;
  if (ndigits == 0) return fail(reason, "missing '/prefix'");
  unsigned prefix = 0;
  for (size_t i = 0; i < ndigits; i++) {
    if (digits[i] < '0' || digits[i] > '9') return fail(reason, "prefix length is not a number");
    if (prefix <= 128) prefix = prefix * 10 + (unsigned)(digits[i] - '0');
  }
  rg__ip_t ip;
  int rc = ip_parse(p, addr_len, &ip, reason);
  if (rc) return rc;
  unsigned max = ip.family == AF_INET ? 32 : 128;
  if (prefix > max) return fail(reason, "prefix length out of range");
  return make_net(ip, prefix, a, reason);
}

/* ---- pseudonyms ------------------------------------------------------------------ */

/* True when p[0..n) has the pseudonym form: the mark and 32 hex digits (either case). */
static bool pseudonym_form(const char *p, size_t n) {
  if (n != RG_ACTOR_PSEUDONYM_LEN || p[0] != RG_ACTOR_PSEUDONYM_MARK) return false;
  for (size_t i = 1; i < n; i++)
    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i]) return false;
  return true;
}

/* A pseudonym as an actor of `type`, its digits in lower case. */
static int normalize_pseudonym(rg_actor_type_t type, const char *p, size_t n,
                               const rg_actor_opts_t *o, rg_actor_t *a, const char **reason) {
  if (!o->pseudonyms)
    return fail(reason, "a pseudonym: accepted only as type:identifier, by a store with "
                        "store.pseudonymise = 1");
  a->type = type;
  a->len = (uint16_t)n;
  for (size_t i = 0; i < n; i++) a->key[i] = (char)tolower((unsigned char)p[i]);
  a->key[n] = '\0';
  return RG_OK;
}

bool rg_actor_is_pseudonym(const rg_actor_t *a) {
  return a && pseudonym_form(a->key, a->len);
}

/* ---- public normalisation -------------------------------------------------------- */

void rg_actor_opts_default(rg_actor_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->fold_local_case = true;
}

int rg_actor_normalize(rg_actor_type_t type, const char *raw, size_t len, rg_actor_t *out,
                       const char **reason) {
  rg_actor_opts_t o;
  rg_actor_opts_default(&o);
  return rg_actor_normalize_opts(type, raw, len, &o, out, reason);
}

int rg_actor_normalize_opts(rg_actor_type_t type, const char *raw, size_t len,
                            const rg_actor_opts_t *opts, rg_actor_t *out, const char **reason) {
  if (!out) return fail(reason, "no output actor");
  if (!raw && len > 0) return fail(reason, "no input");
  if (!rg_actor_type_name((int)type)) return fail(reason, "unknown actor type");
  const char *p = raw;
  size_t n = len;
  trim(&p, &n);
  if (n == 0) return fail(reason, "empty identifier");
  /* Hard cap before anything is copied; the type rules below are stricter. */
  if (n > RG_ACTOR_KEY_MAX) return fail(reason, "identifier longer than 255 bytes");
  if (memchr(p, '\0', n)) return fail(reason, "embedded NUL byte");
  if (!rg_utf8_valid(p, n)) return fail(reason, "invalid UTF-8");
  rg_actor_opts_t defaults;
  if (!opts) rg_actor_opts_default(&defaults), opts = &defaults;

  rg_actor_t a;
  memset(&a, 0, sizeof a);
  a.type = type;
  int rc;
  if (pseudonym_form(p, n)) {
    if ((rc = normalize_pseudonym(type, p, n, opts, &a, reason))) return rc;
    *out = a;
    return RG_OK;
  }
  switch (type) {
    case RG_ACTOR_ADDRESS: rc = normalize_address(p, n, opts, &a, reason); break;
    case RG_ACTOR_IP: rc = normalize_ip(p, n, &a, reason); break;
    case RG_ACTOR_NET: rc = normalize_net(p, n, &a, reason); break;
    case RG_ACTOR_DOMAIN: rc = normalize_domain(p, n, &a, reason); break;
    default: rc = fail(reason, "unknown actor type"); break;
  }
  if (rc) return rc;
  *out = a;
  return RG_OK;
}

int rg_actor_parse(const char *text, size_t len, rg_actor_t *out, const char **reason) {
  return rg_actor_parse_opts(text, len, NULL, out, reason);
}

int rg_actor_parse_opts(const char *text, size_t len, const rg_actor_opts_t *opts, rg_actor_t *out,
                        const char **reason) {
  if (!text && len > 0) return fail(reason, "no input");
  const char *colon = text ? memchr(text, ':', len) : NULL;
  if (!colon) return fail(reason, "missing ':' after actor type");
  rg_actor_type_t type;
  size_t type_len = (size_t)(colon - text);
  if (rg_actor_type_parse(text, type_len, &type)) return fail(reason, "unknown actor type");
  return rg_actor_normalize_opts(type, colon + 1, len - type_len - 1, opts, out, reason);
}

bool rg_actor_is_null_sender(const rg_actor_t *a) {
  return a && a->type == RG_ACTOR_ADDRESS && a->len == sizeof RG_ACTOR_NULL_SENDER - 1 &&
         memcmp(a->key, RG_ACTOR_NULL_SENDER, a->len) == 0;
}

int rg_actor_normalize_helo(const char *raw, size_t len, rg_actor_t *out, const char **reason) {
  const char *p = raw;
  size_t n = len;
  if (!out) return fail(reason, "no output actor");
  if (!raw && len > 0) return fail(reason, "no input");
  trim(&p, &n);
  if (n >= 2 && p[0] == '[' && p[n - 1] == ']') { /* an address literal (RFC 5321 4.1.3) */
    p++, n -= 2;
    if (n >= 5 && strncasecmp(p, "IPv6:", 5) == 0) p += 5, n -= 5;
    return rg_actor_normalize(RG_ACTOR_IP, p, n, out, reason);
  }
  rg__ip_t ip;
  if (n > 0 && n <= RG__IP_TEXT_MAX && !memchr(p, '\0', n) && ip_parse(p, n, &ip, NULL) == RG_OK)
    return rg_actor_normalize(RG_ACTOR_IP, p, n, out, reason); /* a bare IP */
  return rg_actor_normalize(RG_ACTOR_DOMAIN, p, n, out, reason);
}

int rg_actor_format(const rg_actor_t *a, char *buf, size_t cap) {
  if (!a || !buf) return -1;
  const char *name = rg_actor_type_name((int)a->type);
  if (!name || a->len > RG_ACTOR_KEY_MAX) return -1;
  size_t name_len = strlen(name);
  size_t total = name_len + 1 + a->len;
  if (total >= cap) return -1;
  memcpy(buf, name, name_len);
  buf[name_len] = ':';
  memcpy(buf + name_len + 1, a->key, a->len);
  buf[total] = '\0';
  return (int)total;
}

int rg_actor_net_of(const rg_actor_t *ip, unsigned v4_prefix, unsigned v6_prefix, rg_actor_t *net) {
  if (!ip || !net || ip->type != RG_ACTOR_IP || ip->len > RG_ACTOR_KEY_MAX) {
    return RG_EINVALID_ACTOR;
  }
  if (v4_prefix > 32 || v6_prefix > 128) return RG_EINVALID_ACTOR;
  rg__ip_t addr;
  if (ip_parse(ip->key, ip->len, &addr, NULL)) return RG_EINVALID_ACTOR;
  if (ip_is_v4_mapped(&addr)) ip_unmap(&addr);
  rg_actor_t a;
  memset(&a, 0, sizeof a);
  int rc = make_net(addr, addr.family == AF_INET ? v4_prefix : v6_prefix, &a, NULL);
  if (rc) return rc;
  *net = a;
  return RG_OK;
}

int rg_actor_domain_of(const rg_actor_t *address, rg_actor_t *domain) {
  if (!address || !domain || address->type != RG_ACTOR_ADDRESS || address->len > RG_ACTOR_KEY_MAX) {
    return RG_EINVALID_ACTOR;
  }
  const char *at = NULL;
  for (size_t i = address->len; i > 0; i--) {
    if (address->key[i - 1] == '@') {
      at = address->key + i - 1;
      break;
    }
  }
  if (!at) return RG_EINVALID_ACTOR;
  size_t n = address->len - (size_t)(at + 1 - address->key);
  return rg_actor_normalize(RG_ACTOR_DOMAIN, at + 1, n, domain, NULL);
}
