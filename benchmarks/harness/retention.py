#!/usr/bin/env python3
"""Retention sweep: ingest and lookup latency with and without a sweep, and the store's size
before and after it.

Builds a store of EDGES mailed edges (default 1,000,000) of which half were last seen 60 days
ago and half now, on the build's repgraphd with retention off. Then, twice, for the same
traffic (one client sending small ingests of fresh edges one at a time, one client looking up
actors), measures p50 / p99 / max latency: first with retention off (for as long as the sweep
will take, at least --baseline seconds), then after a restart with retention.edges=30d, over
the first sweep pass (from its start, seen in stats, to its end). Prints the sweep's time,
slices and slice p99, and the store's size before and after: edges, pages in use, and the
size of a compacted copy and of a repacked one (the backup op, with repack: every row
rewritten in key order: what a store restored from it takes), and once more after as many fresh edges as expired were ingested again (LMDB reuses the
freed pages, and fills the pages the sweep left half empty: the store takes about what it took
before instead of growing by half).
Run with Debian's interpreter:
  /usr/bin/python3 benchmarks/harness/retention.py [--edges N] [--slice-rows N] [BUILD_DIR]
(the lead runs the 1M default; --edges 50000 checks it works in a few seconds)."""
import argparse
import os
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time

import msgpack

sys.path.insert(0, os.path.dirname(__file__))
from quality import start_server  # noqa: E402  (the shared server start-up)

DAY = 86400
RECIPIENTS = 1000


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


def call(sock, req):
    sock.sendall(frame(req))
    r = recv(sock)
    if "error" in r:
        raise RuntimeError(f"{req.get('op')}: {r['error']}")
    return r


def build_store(port, n, now, batch=10000, window=4, prefix=None):
    """n edges, the odd-numbered ones 60 days old, ingested in pipelined batches; with a
    prefix, n fresh edges from senders of that domain."""
    s = socket.create_connection(("127.0.0.1", port))
    t0, sent, inflight = time.time(), 0, 0
    while sent < n or inflight:
        while sent < n and inflight < window:
            m = min(batch, n - sent)
            edges = [{"src": f"address:s{i}@{prefix or ('old' if i % 2 else 'new')}.example",
                      "dst": f"address:r{i % RECIPIENTS}@rcpt.example", "kind": "mailed",
                      "ts": now - 60 * DAY if i % 2 and not prefix else now}
                     for i in range(sent, sent + m)]
            s.sendall(frame({"id": sent, "op": "ingest", "edges": edges}))
            sent += m
            inflight += 1
        r = recv(s)
        if "error" in r:
            raise RuntimeError(f"ingest: {r['error']}")
        inflight -= 1
    s.close()
    return time.time() - t0


def size(port, workdir, tag):
    """(edges, actors, used_bytes, compacted bytes, repacked bytes) of the store now."""
    s = socket.create_connection(("127.0.0.1", port))
    st = call(s, {"id": 1, "op": "stats"})
    copies = []
    for k, repack in enumerate((False, True)):
        dest = os.path.join(workdir, f"backup-{tag}-{k}")
        b = call(s, {"id": 2 + k, "op": "backup", "path": dest, "repack": repack})
        shutil.rmtree(dest, ignore_errors=True)
        copies.append(b["manifest"]["data_bytes"])
    s.close()
    return (sum(st["edges"].values()), sum(st["actors"].values()), st["store"]["used_bytes"],
            copies[0], copies[1])


def traffic(port, stop, ingest_lat, lookup_lat, now):
    """Two clients until stop: small ingests of fresh edges, and lookups of stored actors."""
    def ingester():
        s = socket.create_connection(("127.0.0.1", port))
        k = 0
        while not stop.is_set():
            k += 1
            edges = [{"src": f"address:live{k}_{j}@live.example", "dst": f"address:r{j}@rcpt.example",
                      "kind": "mailed", "ts": now} for j in range(10)]
            t0 = time.perf_counter()
            call(s, {"id": k, "op": "ingest", "edges": edges})
            ingest_lat.append((time.time(), (time.perf_counter() - t0) * 1e3))
        s.close()

    def looker():
        s = socket.create_connection(("127.0.0.1", port))
        k = 0
        while not stop.is_set():
            k += 1
            actors = [f"address:s{(k * 7919 + j) % 100000}@new.example" for j in range(8)]
            t0 = time.perf_counter()
            call(s, {"id": k, "op": "lookup", "actors": actors})
            lookup_lat.append((time.time(), (time.perf_counter() - t0) * 1e3))
        s.close()
    threads = [threading.Thread(target=ingester), threading.Thread(target=looker)]
    for t in threads:
        t.start()
    return threads


def summary(samples, start, end):
    lat = sorted(ms for t, ms in samples if start <= t <= end)
    if not lat:
        return "no samples"
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
    return f"{len(lat):6d} replies, p50 {q(0.5):6.2f} ms, p99 {q(0.99):7.2f} ms, max {lat[-1]:7.1f} ms"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--edges", type=int, default=1000000)
    ap.add_argument("--slice-rows", type=int, default=200, help="retention.slice_rows")
    ap.add_argument("--pause-ms", type=int, default=20, help="retention.slice_pause_ms")
    ap.add_argument("--baseline", type=float, default=5.0, help="seconds of traffic at least")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    workdir = tempfile.mkdtemp(prefix="rg-retention-")
    now = int(time.time())
    base = ["store.map_size=1G"]
    try:
        proc, port = start_server(build, workdir, base)
        secs = build_store(port, a.edges, now)
        before = size(port, workdir, "before")
        print(f"store: {a.edges} edges (half 60 days old) ingested in {secs:.1f} s")

        # without a sweep: the same traffic, for the baseline time
        stop, ing, look = threading.Event(), [], []
        threads = traffic(port, stop, ing, look, now)
        t0 = time.time()
        time.sleep(a.baseline)
        stop.set()
        for t in threads:
            t.join()
        t1 = time.time()
        proc.terminate()
        proc.wait()

        # with the sweep: restart with retention on; the first pass starts after 1 s
        settings = base + ["retention.edges=30d", "retention.interval=1s",
                           f"retention.slice_rows={a.slice_rows}",
                           f"retention.slice_pause_ms={a.pause_ms}"]
        proc, port = start_server(build, workdir, settings)
        stop2, ing2, look2 = threading.Event(), [], []
        threads = traffic(port, stop2, ing2, look2, now)
        mon = socket.create_connection(("127.0.0.1", port))
        start = end = None
        deadline = time.time() + 3600
        while time.time() < deadline:
            st = call(mon, {"id": 1, "op": "stats"})["retention"]
            if start is None and (st["running"] or st["passes"]):
                start = time.time()
            if st["passes"] >= 1:
                end = time.time()
                break
            time.sleep(0.05)
        stop2.set()
        for t in threads:
            t.join()
        st = call(mon, {"id": 2, "op": "stats"})["retention"]
        mon.close()
        after = size(port, workdir, "after")
        # as much fresh traffic again as expired: it goes into the pages the sweep freed
        build_store(port, a.edges // 2, now, prefix="refill")
        refill = size(port, workdir, "refill")
        proc.terminate()
        proc.wait()
        if end is None:
            raise RuntimeError("the sweep did not finish within an hour")

        print(f"sweep: {end - start:.1f} s, {st['slices']} slices of at most {a.slice_rows} rows "
              f"(slice p99 {st['slice_latency']['p99_us'] / 1000:.1f} ms, "
              f"max {st['slice_latency']['max_us'] / 1000:.1f} ms), expired "
              f"{st['expired']['edges']} edges and {st['expired']['actors']} actors")
        print(f"ingest (10 edges) without sweep: {summary(ing, t0, t1)}")
        print(f"ingest (10 edges) during sweep:  {summary(ing2, start, end)}")
        print(f"lookup (8 actors) without sweep: {summary(look, t0, t1)}")
        print(f"lookup (8 actors) during sweep:  {summary(look2, start, end)}")
        mib = lambda b: b / 1048576
        print("store        edges    actors  pages in use  compacted copy  repacked copy")
        for tag, (e, n, used, comp, pack) in (("before", before), ("after", after),
                                              ("refilled", refill)):
            print(f"{tag:8s} {e:9d} {n:9d} {mib(used):9.1f} MiB {mib(comp):10.1f} MiB "
                  f"{mib(pack):10.1f} MiB")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
