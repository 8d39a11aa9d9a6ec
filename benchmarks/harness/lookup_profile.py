#!/usr/bin/python3
"""Instructions per lookup in repgraphd, counted by callgrind: a measure that repeats on a
busy machine, where wall-clock timing does not.

Starts repgraphd under `valgrind --tool=callgrind` on a temporary directory, ingests
--edges edges with bench_load (senders s0 .. s(edges/10 - 1)), optionally labels a few
senders and recomputes (so lookups answer score fields too), warms the lookup cache with
--warm lookups of another seed, then zeroes the counts
(callgrind_control -z), sends --lookups requests of --batch actors with bench_load, dumps
the counts (callgrind_control -d) and stops the server. Every instruction the server ran while collecting (loop thread:
reading, decoding, the lookup, encoding, writing) is divided by the requests and by the
actors. A second, native run of the same workload counts the server's read and write system
calls (/proc/PID/io syscr / syscw) per request.

  lookup_profile.py --build build [--edges 100000] [--lookups 20000] [--conns 16]
                    [--depth 8] [--batch 1] [--recompute] [--warm N] [--set KEY=VALUE]
                    [--annotate N]

Prints one line of key=value results; --annotate N also prints callgrind_annotate's top N
functions (inclusive). Needs valgrind (scripts/install-deps.sh --bench).
"""
import argparse, os, shutil, signal, subprocess, sys, tempfile, time

from quality import Client, free_port

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(HERE, "..", "..", "build"))
    p.add_argument("--edges", type=int, default=100000)
    p.add_argument("--lookups", type=int, default=20000, help="requests counted")
    p.add_argument("--conns", type=int, default=16)
    p.add_argument("--depth", type=int, default=8)
    p.add_argument("--batch", type=int, default=1, help="actors per request")
    p.add_argument("--recompute", action="store_true", help="label 1%% of the senders and recompute first")
    p.add_argument("--warm", type=int, default=-1,
                   help="lookups (another seed) before counting, to fill the lookup cache; default 3 per sender")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a server option (repeatable)")
    p.add_argument("--annotate", type=int, default=0, help="print the top N functions")
    p.add_argument("--no-native", action="store_true", help="skip the native run counting system calls")
    return p.parse_args()


def wait_port(proc, port):
    deadline = time.time() + 120
    while True:
        try:
            Client(port).call("ping")
            return
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("repgraphd did not start")
            time.sleep(0.1)


def run(argv):
    r = subprocess.run(argv, stdout=subprocess.PIPE, text=True)
    if r.returncode:
        raise RuntimeError(f"{argv[0]} failed ({r.returncode}): {r.stdout}")
    return r.stdout


def io_counts(pid):
    out = {}
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            k, v = line.split(":")
            out[k] = int(v)
    return out


def prepare(a, load, port):
    run([load, "-p", str(port), "-e", str(a.edges), "-b", "1000", "-c", "2", "-d", "2"])
    if a.recompute:
        c = Client(port)
        senders = max(1, a.edges // 10)
        labels = [dict(actor=f"address:s{i}@bench.example", verdict="bad" if i % 2 else "good",
                       source="analyst") for i in range(0, senders, 100)]
        c.call("label", labels=labels)
        c.call("recompute", wait=True)
    warm = a.warm if a.warm >= 0 else 3 * max(1, a.edges // 10)
    if warm:
        run(lookup_argv(a, load, port, warm, seed=2))


def lookup_argv(a, load, port, n=None, seed=1):
    return [load, "-p", str(port), "-c", str(a.conns), "-d", str(a.depth), "-b", str(a.batch),
            "-k", str(max(1, a.edges // 10)), "-n", str(n or a.lookups), "-s", str(seed)]


def server_argv(a, data, port):
    return [os.path.join(a.build, "repgraphd"), "--data", data, "--port", str(port), "--log-level", "warn",
            "--set", "recompute.interval=0", "--unix", "none"] + [x for kv in a.set for x in ("--set", kv)]


def callgrind_run(a, work):
    load = os.path.join(a.build, "benchmarks", "bench_load")
    port = free_port()
    out = os.path.join(work, "callgrind.out")
    log = open(os.path.join(work, "valgrind.log"), "w")
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    srv = subprocess.Popen(argv + server_argv(a, os.path.join(work, "cg"), port), stdout=log, stderr=log)
    try:
        wait_port(srv, port)
        prepare(a, load, port)
        run(["callgrind_control", "-z", str(srv.pid)])
        res = run(lookup_argv(a, load, port)).strip().splitlines()[-1]
        run(["callgrind_control", "-d", str(srv.pid)])
        cache = Client(port).call("stats").get("lookup_cache", {})
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=300)
    dumps = sorted(p for p in os.listdir(work) if p.startswith("callgrind.out."))
    if not dumps:
        raise RuntimeError("callgrind wrote no dump")
    out = os.path.join(work, dumps[0])  # the one dump: events since the zeroing
    total = 0
    with open(out) as f:
        for line in f:
            if line.startswith("summary:"):
                total = int(line.split()[1])
    ann = ""
    if a.annotate:
        ann = run(["callgrind_annotate", "--inclusive=yes", f"--threshold=99", out])
        ann = "\n".join(ann.splitlines()[: 30 + a.annotate])
    return total, res, ann, cache


def native_run(a, work):
    load = os.path.join(a.build, "benchmarks", "bench_load")
    port = free_port()
    log = open(os.path.join(work, "native.log"), "w")
    srv = subprocess.Popen(server_argv(a, os.path.join(work, "native"), port), stdout=log, stderr=log)
    try:
        wait_port(srv, port)
        prepare(a, load, port)
        before = io_counts(srv.pid)
        run(lookup_argv(a, load, port))
        after = io_counts(srv.pid)
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=60)
    return {k: after[k] - before[k] for k in ("syscr", "syscw")}


def main():
    a = parse_args()
    a.build = os.path.abspath(a.build)
    if not shutil.which("valgrind"):
        sys.exit("lookup_profile: valgrind not found (bash scripts/install-deps.sh --bench)")
    work = tempfile.mkdtemp(prefix="repgraph-profile-")
    try:
        total, res, ann, cache = callgrind_run(a, work)
        sc = {} if a.no_native else native_run(a, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = a.lookups
    line = (f"edges={a.edges} requests={n} conns={a.conns} depth={a.depth} batch={a.batch} "
            f"recompute={int(a.recompute)} set={','.join(a.set) or '-'} instructions={total} per_request={total / n:.0f} "
            f"per_actor={total / (n * a.batch):.0f}")
    if sc:
        line += f" reads_per_request={sc['syscr'] / n:.3f} writes_per_request={sc['syscw'] / n:.3f}"
    misses = [t for t in res.split() if t.startswith("lookup_misses=")]  # unknown actors
    line += " " + " ".join(misses)
    if cache:  # counted since the start, warm-up included
        line += f" cache_hits={cache['hits']} cache_misses={cache['misses']}"
    if ann:
        print(ann)
    print(line)


if __name__ == "__main__":
    main()
