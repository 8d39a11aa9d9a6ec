#!/usr/bin/env python3
"""Holds every #include "repgraph/<module>.h" in src/ against the layer table of the README
("Code layout"): a file may include headers of its own layer or lower ones, the client
library none of the server's, the server none of the client library's. A new public header
must be given a layer here. Exit 0 when the tree obeys, 1 with each violation listed."""
import os
import re
import sys

# header -> rank; lower ranks are lower layers
LAYER = {
    "err": 0, "buf": 0, "log": 0, "clock": 0, "grow": 0, "text": 0, "sockfile": 0,
    "vocab": 1, "actor": 1, "config": 1, "pseudonym": 1,
    "proto": 2, "store": 2, "metrics": 2, "metrics_text": 2, "genpack": 2,
    "snapshot": 3, "score": 3, "compute": 3, "calibrate": 3, "evidence": 3, "features": 3,
    "model": 3,
    "writer": 4, "wal": 4,
    "engine": 5, "lookup_cache": 5, "auth": 5, "tls": 2, "server": 6, "policy_proto": 2, "policy": 6,
    "offload": 6, "http_metrics": 6, "cluster": 6,
    "client": 7, "transcode": 7, "export": 7, "received": 7, "mail": 7, "mailsrc": 7, "netset": 7,
}
# the ops modules (no public header of their own) sit in the engine's layer
OWN = dict(LAYER, ingest=5, label_cluster=5, lookup=5, check=5, stats=5, analyst=5, recompute=5,
           backup=5, retention=5, genshare=5)
SERVER_ONLY = {"store", "snapshot", "compute", "calibrate", "model", "writer", "wal", "engine", "auth", "server", "policy",
               "offload", "tls", "metrics_text", "http_metrics", "lookup_cache", "cluster"}
CLIENT_ONLY = {"client", "transcode", "export", "received", "mail", "mailsrc", "netset"}

# folder -> (highest rank its files may include, headers it must not include)
FOLDER = {
    "base": (0, set()),
    "core": (3, CLIENT_ONLY),
    "server": (6, CLIENT_ONLY),
    "client": (7, SERVER_ONLY),
    "bin": (99, set()),
}


def own_rank(path):
    """The rank of the module a source file implements (store_env.c -> store)."""
    stem = os.path.splitext(os.path.basename(path))[0]
    for name in sorted(OWN, key=len, reverse=True):
        if stem == name or stem.startswith(name + "_"):
            return OWN[name]
    return None


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    src = os.path.join(top, "src")
    problems = []
    for folder, (max_rank, banned) in FOLDER.items():
        for root, _, files in os.walk(os.path.join(src, folder)):
            for f in sorted(files):
                if not f.endswith((".c", ".h")):
                    continue
                path = os.path.join(root, f)
                rank = own_rank(path)
                limit = max_rank if rank is None or folder == "bin" else min(max_rank, rank)
                for n, line in enumerate(open(path, encoding="utf-8"), 1):
                    m = re.match(r'\s*#\s*include\s+"repgraph/(\w+)\.h"', line)
                    if not m:
                        continue
                    h = m.group(1)
                    where = f"{os.path.relpath(path, top)}:{n}"
                    if h not in LAYER:
                        problems.append(f"{where}: repgraph/{h}.h has no layer in tests/test_layers.py")
                    elif h in banned:
                        problems.append(f"{where}: src/{folder} must not include repgraph/{h}.h")
                    elif LAYER[h] > limit:
                        problems.append(f"{where}: includes repgraph/{h}.h from a higher layer")
    for p in problems:
        print(p)
    print(f"test_layers: {len(problems)} violation(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
