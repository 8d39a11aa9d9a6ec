#!/usr/bin/env python3
# Times clusters requests against a running repgraphd (after a recompute): the suspicion
# index path vs a sort that reads every cluster. Usage: clusters_scan.py PORT. Prints a table.
import socket, struct, sys, time, msgpack
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port))
def call(req):
    b = msgpack.packb(req)
    s.sendall(struct.pack(">I", len(b)) + b)
    def rd(n):
        d = b""
        while len(d) < n:
            c = s.recv(n - len(d)); assert c; d += c
        return d
    n = struct.unpack(">I", rd(4))[0]
    return msgpack.unpackb(rd(n), raw=False)
for name, req in [("suspicion limit 10", {"op": "clusters", "limit": 10}),
                  ("sort size limit 10 (reads all)", {"op": "clusters", "sort": "size", "limit": 10}),
                  ("type net limit 1000 (reads all)", {"op": "clusters", "type": "net", "limit": 1000})]:
    req["id"] = 1
    r = call(req)
    n = 200
    t = time.perf_counter()
    for i in range(n): call(req)
    dt = (time.perf_counter() - t) / n
    print(f"{name:34s} {dt*1e3:8.3f} ms/request  rows={len(r['clusters'])} truncated={r['truncated']}")
