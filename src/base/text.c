/* text.c — UTF-8 validation (RFC 3629) and the escaper for quoted client bytes. */
#include "repgraph/text.h"

#include <string.h>

size_t rg_utf8_seq_len(const unsigned char *s, size_t n) {
  if (n == 0) return 0;
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0; /* no overlongs */
    if (c == 0xed) hi = 0x9f; /* no surrogates */
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90; /* no overlongs */
    if (c == 0xf4) hi = 0x8f; /* at most U+10FFFF */
  } else {
    return 0;
  }
  if (n < len || s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xbf) return 0;
  return len;
}

bool rg_utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    size_t k = rg_utf8_seq_len(p + i, n - i);
    if (k == 0) return false;
    i += k;
  }
  return true;
}

/* The escaped form of the character at p[0..n) (n > 0): its bytes in tmp, their count in
 * *w; returns how many input bytes it covers. */
static size_t escape_one(const unsigned char *p, size_t n, char tmp[4], size_t *w) {
  static const char hex[] = "0123456789abcdef";
  size_t k = rg_utf8_seq_len(p, n);
  if (k > 1 || (k == 1 && p[0] >= 0x20 && p[0] != 0x7f && p[0] != '\\')) {
    memcpy(tmp, p, k);
    *w = k;
    return k;
  }
  if (k == 1 && p[0] == '\\') {
    tmp[0] = tmp[1] = '\\';
    *w = 2;
    return 1;
  }
  /* a control byte or a byte that starts no valid sequence */
  tmp[0] = '\\', tmp[1] = 'x', tmp[2] = hex[p[0] >> 4], tmp[3] = hex[p[0] & 15];
  *w = 4;
  return 1;
}

char *rg_text_escape(char *dst, size_t cap, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  char tmp[4];
  size_t total = 0, w;
  if (cap == 0) return dst;
  for (size_t i = 0; i < n; total += w) i += escape_one(p + i, n - i, tmp, &w);
  bool cut = total + 1 > cap; /* then keep room for "..." */
  size_t limit = cut ? (cap > 3 ? cap - 1 - 3 : 0) : cap - 1, o = 0;
  for (size_t i = 0; i < n;) {
    size_t k = escape_one(p + i, n - i, tmp, &w);
    if (o + w > limit) break;
    memcpy(dst + o, tmp, w);
    o += w;
    i += k;
  }
  if (cut && cap > 3) {
    memcpy(dst + o, "...", 3);
    o += 3;
  }
  dst[o] = '\0';
  return dst;
}
