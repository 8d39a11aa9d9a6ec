/* sockfile.h — the file of a Unix-domain listening socket: making sure a path can be bound.
 * Any thread (no state). */
#ifndef RG_SOCKFILE_H
#define RG_SOCKFILE_H

#include <stddef.h>

/* Prepares `path` for binding a listening socket: a socket file left by a server that died
 * (nothing accepts on it) is removed. `option` names the setting in messages. 0;
 * RG_ECONFIG (path longer than a socket address holds) or RG_EIO (the path exists and is
 * not a socket, or another server is listening there), with a message in err. */
int rg_sockfile_claim(const char *path, const char *option, char *err, size_t errlen);

#endif
