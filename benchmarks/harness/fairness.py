#!/usr/bin/env python3
"""Writer fairness: how long a small writer's acknowledgements take while another client's
single large ingest (900 observations x 1,000 recipients, about 15 MB, 903,600 edges) commits.

Starts repgraphd (the build's) on a temporary store twice, with limits.write_slice_edges at
its default (the large write commits in slices, the small writes between them) and at 10^8
(one transaction, as before slicing), and prints p50 / p99 / max of the small writer's ack
latency over the large write's lifetime, and how long the large write took.
Run with Debian's interpreter: /usr/bin/python3 benchmarks/harness/fairness.py [BUILD_DIR]"""
import os
import socket
import struct
import sys
import tempfile
import threading
import time

import msgpack

sys.path.insert(0, os.path.dirname(__file__))
from quality import start_server  # noqa: E402  (the shared server start-up)


def frame(obj):
    body = msgpack.packb(obj, use_bin_type=True)
    return struct.pack(">I", len(body)) + body


def recv(sock):
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf
    (n,) = struct.unpack(">I", exact(4))
    return msgpack.unpackb(exact(n), raw=False)


def run(build, slice_edges):
    work = tempfile.mkdtemp(prefix="rg-fair-")
    proc, port = start_server(build, work, [f"limits.write_slice_edges={slice_edges}",
                                            "limits.max_frame_bytes=64M"])
    try:
        big = frame({"id": 1, "op": "ingest", "observations": [
            {"ts": 1700000000, "sender": f"bulk{i}@big.example", "client_ip": f"198.51.100.{i % 250 + 1}",
             "recipients": [f"r{j}@rcpt.example" for j in range(1000)]} for i in range(900)]})
        lat, done = [], threading.Event()

        def small():
            s = socket.create_connection(("127.0.0.1", port))
            k = 0
            while not done.is_set():
                k += 1
                t0 = time.perf_counter()
                s.sendall(frame({"id": k, "op": "ingest", "edges": [
                    {"src": f"address:s{k}@small.example", "dst": "address:d@small.example",
                     "kind": "mailed"}]}))
                recv(s)
                lat.append((time.perf_counter() - t0) * 1e3)
            s.close()

        b = socket.create_connection(("127.0.0.1", port))
        th = threading.Thread(target=small)
        th.start()
        deadline = time.time() + 10
        while len(lat) < 20 and time.time() < deadline:  # the small writer is under way first
            time.sleep(0.01)
        lat.clear()
        t0 = time.perf_counter()
        b.sendall(big)
        reply = recv(b)
        took = time.perf_counter() - t0
        done.set()
        th.join()
        assert reply.get("accepted") == 900, reply
        lat.sort()
        q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
        print(f"write_slice_edges={slice_edges:>9}: large write {took:5.2f} s; small writer "
              f"{len(lat)} acks, p50 {q(0.5):6.1f} ms, p99 {q(0.99):7.1f} ms, max {lat[-1]:7.1f} ms")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                            os.path.join(os.path.dirname(__file__), "..", "..", "build"))
    for edges in (20000, 100000000):
        run(build, edges)
