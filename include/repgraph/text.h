/* text.h — UTF-8 checks and the one escaper for client bytes quoted in messages, so every
 * error message is valid UTF-8 with NULs and control bytes visible. Pure; any thread. */
#ifndef RG_TEXT_H
#define RG_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the well-formed UTF-8 sequence (RFC 3629: no overlongs, no surrogates, at most
 * U+10FFFF) at s[0..n), or 0 if s does not start with one (or n is 0). */
size_t rg_utf8_seq_len(const unsigned char *s, size_t n);

/* True when s[0..n) is entirely well-formed UTF-8. NUL bytes count as valid (U+0000);
 * callers that refuse them check separately. */
bool rg_utf8_valid(const char *s, size_t n);

/* Writes s[0..n) into dst (capacity cap >= 1, always NUL-terminated) as printable, valid
 * UTF-8: well-formed multi-byte sequences and printable ASCII are copied; '\\' becomes
 * "\\\\"; NUL, other control bytes and bytes that are not valid UTF-8 become "\\xNN". Stops
 * at a whole character and ends with "..." when the escaped text does not fit.
 * Returns dst (for use in printf arguments). */
char *rg_text_escape(char *dst, size_t cap, const char *s, size_t n);

#endif
