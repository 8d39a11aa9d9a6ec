#!/usr/bin/env python3
"""Writer fairness: how long a small writer's acknowledgements take while another client's
single large ingest (900 observations x 1,000 recipients, about 15 MB, 903,600 edges) commits.

Starts repgraphd (the build's) on a temporary store three times: with the defaults (the
large frame decoded and prepared on a pool thread, committed in slices of
limits.write_slice_edges with the small writes between them), with limits.offload_bytes=0
(prepared on the loop thread), and with neither (one transaction, as before slicing). Prints
p50 / p99 / max of the small writer's ack latency and of a third client's lookups over the
large write's lifetime, and how long the large write took.
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


def client_loop(port, done, lat, request):
    """Sends request(k) and waits for its reply until done is set, recording each latency."""
    s = socket.create_connection(("127.0.0.1", port))
    k = 0
    while not done.is_set():
        k += 1
        t0 = time.perf_counter()
        s.sendall(frame(request(k)))
        recv(s)
        lat.append((time.perf_counter() - t0) * 1e3)
    s.close()


def summary(lat):
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
    return f"{len(lat):5d} replies, p50 {q(0.5):6.1f} ms, p99 {q(0.99):7.1f} ms, max {lat[-1]:7.1f} ms"


def run(build, label, settings):
    work = tempfile.mkdtemp(prefix="rg-fair-")
    proc, port = start_server(build, work, settings + ["limits.max_frame_bytes=64M"])
    try:
        big = frame({"id": 1, "op": "ingest", "observations": [
            {"ts": 1700000000, "sender": f"bulk{i}@big.example", "client_ip": f"198.51.100.{i % 250 + 1}",
             "recipients": [f"r{j}@rcpt.example" for j in range(1000)]} for i in range(900)]})
        writes, reads, done = [], [], threading.Event()
        small = lambda k: {"id": k, "op": "ingest", "edges": [
            {"src": f"address:s{k}@small.example", "dst": "address:d@small.example", "kind": "mailed"}]}
        look = lambda k: {"id": k, "op": "lookup", "actors": ["address:d@small.example"]}
        threads = [threading.Thread(target=client_loop, args=(port, done, writes, small)),
                   threading.Thread(target=client_loop, args=(port, done, reads, look))]
        for th in threads:
            th.start()
        deadline = time.time() + 10
        while (len(writes) < 20 or len(reads) < 20) and time.time() < deadline:
            time.sleep(0.01)  # both clients are under way first
        writes.clear()
        reads.clear()
        b = socket.create_connection(("127.0.0.1", port))
        t0 = time.perf_counter()
        b.sendall(big)
        reply = recv(b)
        took = time.perf_counter() - t0
        done.set()
        for th in threads:
            th.join()
        assert reply.get("accepted") == 900, reply
        print(f"{label}: large write {took:5.2f} s\n    small writer {summary(writes)}\n"
              f"    lookups      {summary(reads)}")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                            os.path.join(os.path.dirname(__file__), "..", "..", "build"))
    run(build, "default (slices of 20,000 edges, prepared off the loop)", [])
    run(build, "prepared on the loop (limits.offload_bytes=0)", ["limits.offload_bytes=0"])
    run(build, "one transaction, on the loop (write_slice_edges=10^8, offload_bytes=0)",
        ["limits.write_slice_edges=100000000", "limits.offload_bytes=0"])
