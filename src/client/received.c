/* received.c — Received: header fields into hops, and the trust walk down the chain.
 * The field is read as a sequence of top-level words, (nested) comments and the ';' before
 * the date; the "from" clause's name and comments are then read by the shapes MTAs use:
 *   Postfix, Sendmail  from HELO (RDNS [IP])            (unknown [IP]) when no RDNS
 *   Exim               from RDNS ([IP]:PORT helo=HELO)  from [IP] (helo=HELO)
 *   qmail              from RDNS (HELO name) (user@IP)
 *   Exchange/Outlook   from HELO (IP)                   from HELO ([IP])
 *   Gmail              from HELO (RDNS. [IP])           from [LITERAL] ([IP])  (submission)
 * Pure functions over the caller's bytes; any thread. */
#include "repgraph/received.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "repgraph/err.h"

#define MAX_COMMENTS 16 /* comments read in the from clause; more is garbage */
#define MAX_WORDS    16 /* top-level words read in one comment */

typedef struct {
  const char *p;
  size_t n;
} span_t;

static bool span_is(span_t s, const char *word) {
  return s.n == strlen(word) && strncasecmp(s.p, word, s.n) == 0;
}

static void copy_name(char dst[RG_RECEIVED_NAME_MAX], span_t s) {
  size_t n = s.n < RG_RECEIVED_NAME_MAX - 1 ? s.n : RG_RECEIVED_NAME_MAX - 1;
  size_t j = 0;
  for (size_t i = 0; i < n; i++) /* control bytes never reach an identifier */
    if ((unsigned char)s.p[i] >= 0x20 && s.p[i] != 0x7f) dst[j++] = s.p[i];
  dst[j] = '\0';
}

int rg_received_canon_ip(const char *s, size_t len, char out[RG_RECEIVED_IP_MAX]) {
  char buf[RG_RECEIVED_IP_MAX + 8];
  if (len > 5 && strncasecmp(s, "IPv6:", 5) == 0) s += 5, len -= 5;
  const char *zone = memchr(s, '%', len);
  if (zone) len = (size_t)(zone - s);
  if (len == 0 || len >= sizeof buf) return RG_EBAD_REQUEST;
  memcpy(buf, s, len);
  buf[len] = '\0';
  unsigned char a[16];
  if (inet_pton(AF_INET, buf, a) == 1) {
    inet_ntop(AF_INET, a, out, RG_RECEIVED_IP_MAX);
    return RG_OK;
  }
  if (inet_pton(AF_INET6, buf, a) != 1) return RG_EBAD_REQUEST;
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (memcmp(a, mapped, 12) == 0)
    inet_ntop(AF_INET, a + 12, out, RG_RECEIVED_IP_MAX);
  else
    inet_ntop(AF_INET6, a, out, RG_RECEIVED_IP_MAX);
  return RG_OK;
}

/* An IP in one word: "[IP]", "[IP]:port", "[IPv6:IP]", "user@IP", "IP", "IPv4:port". */
static bool word_ip(span_t w, char out[RG_RECEIVED_IP_MAX]) {
  while (w.n && strchr(",;", w.p[w.n - 1])) w.n--;
  const char *at = memchr(w.p, '@', w.n);
  while (at) { /* qmail's "user@IP", Sendmail's "user@rdns" */
    w.n -= (size_t)(at + 1 - w.p), w.p = at + 1;
    at = memchr(w.p, '@', w.n);
  }
  if (w.n && w.p[0] == '[') {
    const char *close = memchr(w.p, ']', w.n);
    if (!close) return false;
    size_t after = w.n - (size_t)(close + 1 - w.p);
    if (after && close[1] != ':') return false;
    for (size_t i = 2; i <= after; i++)
      if (!isdigit((unsigned char)close[i])) return false;
    return rg_received_canon_ip(w.p + 1, (size_t)(close - w.p - 1), out) == RG_OK;
  }
  const char *colon = memchr(w.p, ':', w.n);
  if (colon && memchr(w.p, '.', (size_t)(colon - w.p)) &&
      !memchr(colon + 1, ':', w.n - (size_t)(colon + 1 - w.p)))
    w.n = (size_t)(colon - w.p); /* 192.0.2.1:25 */
  return rg_received_canon_ip(w.p, w.n, out) == RG_OK;
}

/* Skips a comment starting at s[i] == '('; returns the index after its ')' (or len). */
static size_t skip_comment(const char *s, size_t len, size_t i) {
  int depth = 0;
  for (; i < len; i++) {
    if (s[i] == '\\' && i + 1 < len)
      i++;
    else if (s[i] == '(')
      depth++;
    else if (s[i] == ')' && --depth == 0)
      return i + 1;
  }
  return len;
}

/* Splits a comment's body into its top-level words (nested comments left out). */
static size_t comment_words(span_t c, span_t *words, size_t cap) {
  size_t n = 0, i = 0;
  while (i < c.n && n < cap) {
    unsigned char ch = (unsigned char)c.p[i];
    if (isspace(ch))
      i++;
    else if (ch == '(')
      i = skip_comment(c.p, c.n, i);
    else {
      size_t start = i;
      while (i < c.n && !isspace((unsigned char)c.p[i]) && c.p[i] != '(') i++;
      words[n++] = (span_t){c.p + start, i - start};
    }
  }
  return n;
}

static bool contains_ci(span_t s, const char *needle) {
  size_t m = strlen(needle);
  for (size_t i = 0; i + m <= s.n; i++)
    if (strncasecmp(s.p + i, needle, m) == 0) return true;
  return false;
}

/* RFC 3848 protocol names that say the client authenticated: ESMTPA, ESMTPSA, LMTPA, ... */
static bool auth_protocol(span_t w) {
  char up[16];
  if (w.n >= sizeof up) return false;
  for (size_t i = 0; i < w.n; i++) up[i] = (char)toupper((unsigned char)w.p[i]);
  up[w.n] = '\0';
  const char *p = up;
  if (strncmp(p, "UTF8", 4) == 0) p += 4;
  if (*p == 'E') p++;
  return !strcmp(p, "SMTPA") || !strcmp(p, "SMTPSA") || !strcmp(p, "LMTPA") || !strcmp(p, "LMTPSA");
}

/* Reads the from clause: the name and the comments after it. */
static void read_from(span_t name, const span_t *comments, size_t n_comments, rg_received_t *out) {
  bool helo_given = false;
  char name_ip[RG_RECEIVED_IP_MAX] = "";
  for (size_t c = 0; c < n_comments; c++) {
    span_t words[MAX_WORDS];
    size_t nw = comment_words(comments[c], words, MAX_WORDS);
    if (nw >= 2 && (span_is(words[0], "HELO") || span_is(words[0], "EHLO"))) { /* qmail */
      copy_name(out->helo, words[1]);
      helo_given = true;
      continue;
    }
    for (size_t i = 0; i < nw; i++) {
      if (words[i].n > 5 && strncasecmp(words[i].p, "helo=", 5) == 0) { /* Exim */
        copy_name(out->helo, (span_t){words[i].p + 5, words[i].n - 5});
        helo_given = true;
      } else if (!out->ip[0] && word_ip(words[i], out->ip)) {
        if (i > 0 && !out->rdns[0]) { /* "rdns [ip]", "user@rdns [ip]" */
          span_t r = words[i - 1];
          const char *at = memchr(r.p, '@', r.n);
          if (at) r.n -= (size_t)(at + 1 - r.p), r.p = at + 1;
          while (r.n && r.p[r.n - 1] == '.') r.n--;
          if (!span_is(r, "unknown")) copy_name(out->rdns, r);
        }
      }
    }
  }
  bool name_is_ip = name.n && word_ip(name, name_ip);
  if (!out->ip[0] && name_is_ip) { /* Exim "from [IP] (helo=...)": the name is the address */
    memcpy(out->ip, name_ip, sizeof name_ip);
    return;
  }
  if (helo_given) { /* qmail and Exim name the rdns first */
    if (!name_is_ip && !span_is(name, "unknown") && !out->rdns[0]) {
      while (name.n && name.p[name.n - 1] == '.') name.n--;
      copy_name(out->rdns, name);
    }
  } else if (name.n && !span_is(name, "unknown")) {
    copy_name(out->helo, name);
  }
}

int rg_received_parse(const char *s, size_t len, rg_received_t *out) {
  memset(out, 0, sizeof *out);
  enum { NONE, FROM, BY, WITH, OTHER } clause = NONE;
  span_t from_name = {NULL, 0}, comments[MAX_COMMENTS];
  size_t n_comments = 0, date_at = len;
  bool have_from = false, want_name = false, want_by = false;
  size_t i = 0;
  while (i < len) {
    unsigned char ch = (unsigned char)s[i];
    if (isspace(ch) || ch < 0x20) {
      i++;
    } else if (ch == ';') {
      date_at = ++i; /* the last top-level ';' starts the date */
    } else if (ch == '(') {
      size_t end = skip_comment(s, len, i);
      span_t body = {s + i + 1, (end > i + 1 && s[end - 1] == ')') ? end - i - 2 : end - i - 1};
      if (clause == FROM && n_comments < MAX_COMMENTS) comments[n_comments++] = body;
      if (contains_ci(body, "Authenticated sender:") || contains_ci(body, "authenticated bits="))
        out->auth = true;
      i = end;
    } else {
      size_t start = i;
      while (i < len && !isspace((unsigned char)s[i]) && s[i] != '(' && s[i] != ';') i++;
      span_t w = {s + start, i - start};
      if (date_at != len) continue; /* words of the date are read below */
      if (want_name) {
        from_name = w, want_name = false;
      } else if (want_by) {
        copy_name(out->by, w), want_by = false;
      } else if (span_is(w, "from") && !have_from && clause == NONE) {
        clause = FROM, have_from = true, want_name = true;
      } else if (span_is(w, "by")) {
        clause = BY, want_by = true;
      } else if (span_is(w, "with")) {
        clause = WITH;
      } else if (span_is(w, "via") || span_is(w, "id") || span_is(w, "for")) {
        clause = OTHER;
      } else if (clause == WITH && auth_protocol(w)) {
        out->auth = true;
      }
    }
  }
  if (date_at < len) {
    int64_t ts;
    if (rg_received_parse_date(s + date_at, len - date_at, &ts) == RG_OK) out->ts = ts;
  }
  if (have_from) read_from(from_name, comments, n_comments, out);
  return out->ip[0] ? RG_OK : RG_ENOT_FOUND;
}

/* ---- dates ----------------------------------------------------------------------------- */

static int month_of(span_t w) {
  static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
  if (w.n < 3) return -1;
  for (int m = 0; m < 12; m++)
    if (strncasecmp(w.p, names + 3 * m, 3) == 0) return m + 1;
  return -1;
}

static bool all_digits(span_t w) {
  if (!w.n) return false;
  for (size_t i = 0; i < w.n; i++)
    if (!isdigit((unsigned char)w.p[i])) return false;
  return true;
}

static long number(span_t w) {
  long v = 0;
  for (size_t i = 0; i < w.n && i < 9; i++) v = v * 10 + (w.p[i] - '0');
  return v;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static bool parse_time(span_t w, int *h, int *mi, int *sec) {
  int n = 0, parts[3] = {0, 0, 0};
  size_t i = 0;
  while (n < 3 && i < w.n) {
    size_t start = i;
    while (i < w.n && isdigit((unsigned char)w.p[i])) i++;
    if (i == start || i - start > 2) return false;
    parts[n++] = (int)number((span_t){w.p + start, i - start});
    if (i < w.n && w.p[i] != ':') return false;
    if (i < w.n) i++;
  }
  if (n < 2 || i < w.n || parts[0] > 23 || parts[1] > 59 || parts[2] > 60) return false;
  *h = parts[0], *mi = parts[1], *sec = parts[2] == 60 ? 59 : parts[2];
  return true;
}

/* A zone word: +hhmm / -hhmm, or a name of RFC 5322's obsolete zones. */
static bool parse_zone(span_t w, long *offset) {
  if (w.n == 5 && (w.p[0] == '+' || w.p[0] == '-') && all_digits((span_t){w.p + 1, 4})) {
    long hh = number((span_t){w.p + 1, 2}), mm = number((span_t){w.p + 3, 2});
    if (hh > 23 || mm > 59) return false;
    *offset = (w.p[0] == '-' ? -1 : 1) * (hh * 3600 + mm * 60);
    return true;
  }
  static const struct {
    const char *name;
    int hours;
  } zones[] = {{"UT", 0},   {"UTC", 0},  {"GMT", 0},  {"Z", 0},    {"EST", -5}, {"EDT", -4},
               {"CST", -6}, {"CDT", -5}, {"MST", -7}, {"MDT", -6}, {"PST", -8}, {"PDT", -7}};
  for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++)
    if (span_is(w, zones[i].name)) {
      *offset = zones[i].hours * 3600L;
      return true;
    }
  return false;
}

int rg_received_parse_date(const char *s, size_t len, int64_t *out) {
  span_t words[8];
  size_t n = 0, i = 0;
  while (i < len && n < 8) { /* words, with commas and comments left out */
    unsigned char ch = (unsigned char)s[i];
    if (isspace(ch) || ch == ',')
      i++;
    else if (ch == '(')
      i = skip_comment(s, len, i);
    else {
      size_t start = i;
      while (i < len && !isspace((unsigned char)s[i]) && s[i] != ',' && s[i] != '(') i++;
      words[n++] = (span_t){s + start, i - start};
    }
  }
  size_t k = 0;
  if (k < n && !all_digits(words[k]) && month_of(words[k]) < 0)
    k++; /* day name */
  else if (k < n && month_of(words[k]) > 0 && k + 1 < n && month_of(words[k + 1]) > 0)
    k++;
  long day, year, offset = 0;
  int month, h, mi, sec;
  if (k < n && month_of(words[k]) > 0) { /* asctime: Mon DD HH:MM:SS [zone] YYYY */
    if (k + 3 >= n || !all_digits(words[k + 1])) return RG_EBAD_REQUEST;
    month = month_of(words[k]), day = number(words[k + 1]);
    if (!parse_time(words[k + 2], &h, &mi, &sec)) return RG_EBAD_REQUEST;
    size_t y = k + 3;
    if (!all_digits(words[y]) && y + 1 < n && parse_zone(words[y], &offset)) y++;
    if (!all_digits(words[y]) || words[y].n != 4) return RG_EBAD_REQUEST;
    year = number(words[y]);
  } else { /* RFC 5322: DD Mon YYYY HH:MM[:SS] [zone] */
    if (k + 3 >= n || !all_digits(words[k]) || words[k].n > 2) return RG_EBAD_REQUEST;
    day = number(words[k]), month = month_of(words[k + 1]);
    if (month < 0 || !all_digits(words[k + 2]) || words[k + 2].n > 4) return RG_EBAD_REQUEST;
    year = number(words[k + 2]);
    if (words[k + 2].n <= 2)
      year += year < 50 ? 2000 : 1900;
    else if (words[k + 2].n == 3)
      year += 1900;
    if (!parse_time(words[k + 3], &h, &mi, &sec)) return RG_EBAD_REQUEST;
    if (k + 4 < n && !parse_zone(words[k + 4], &offset)) offset = 0; /* unknown zone: UT */
  }
  if (day < 1 || day > 31 || year < 1970 || year > 9999) return RG_EBAD_REQUEST;
  int64_t t = days_from_civil(year, (unsigned)month, (unsigned)day) * 86400 + h * 3600 + mi * 60 +
              sec - offset;
  if (t < 0) return RG_EBAD_REQUEST;
  *out = t;
  return RG_OK;
}

/* ---- the trust walk -------------------------------------------------------------------- */

/* Loopback (always trusted) and, for the inference, private and link-local ranges. */
static bool special_ip(const char *ip, bool private_too) {
  unsigned char a[16];
  if (inet_pton(AF_INET, ip, a) == 1)
    return a[0] == 127 ||
           (private_too && (a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
                            (a[0] == 192 && a[1] == 168) || (a[0] == 169 && a[1] == 254)));
  if (inet_pton(AF_INET6, ip, a) != 1) return false;
  static const unsigned char one[16] = {[15] = 1};
  return memcmp(a, one, 16) == 0 ||
         (private_too && ((a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)));
}

int rg_received_client(const rg_received_t *hops, size_t n, const rg_netset_t *trusted,
                       size_t *index, bool *internal) {
  bool configured = rg_netset_count(trusted) > 0, any = false;
  size_t last = 0;
  for (size_t i = 0; i < n; i++) {
    const char *ip = hops[i].ip;
    if (!ip[0]) continue; /* not a relay */
    bool ok = configured ? special_ip(ip, false) || rg_netset_contains(trusted, ip)
                         : special_ip(ip, true) || hops[i].auth;
    if (!ok) {
      *index = i, *internal = false;
      return RG_OK;
    }
    any = true, last = i;
  }
  if (!any) return RG_ENOT_FOUND;
  *index = last, *internal = true;
  return RG_OK;
}
