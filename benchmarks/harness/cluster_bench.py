#!/usr/bin/python3
"""Cluster mode's cost and reach on one machine (issue 17): a 3-node NATS JetStream cluster
(R3) and repgraphd replicas, as tests/test_cluster.py starts them (its Nats and Replica).

  ingest   durable ingest through the log (bench_load against replica 0 while all 3 apply)
           against a single node without NATS, the same edges, fresh stores, in alternating
           pairs (A B A B A B);
  lookups  lookup throughput with the clients spread over 1, 2 and 3 replicas (one
           bench_load per replica, the connections split between them), in rounds;
  lag      at a steady ingest rate (a share of the measured peak) into replica 0: how long
           until a write acknowledged by replica 0 can be read on replica 2 (a probe write
           every 0.25 s), and the lag in entries replica 2's stats report.

    /usr/bin/python3 benchmarks/harness/cluster_bench.py [--build DIR] [--edges N] [--pairs N]

Prints a Markdown table and writes results/cluster.md and results/cluster.json. On a 2-core
machine three replicas, three NATS servers and the load generators share two cores: the
figures say what the log costs, not what a cluster of real machines would reach.
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests"))
import test_cluster as tc  # noqa: E402  (its Nats, Replica, Conn, wait_for)
from suite import Meter, kv  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(HERE, "..", "..", "build-bench"))
    p.add_argument("--out", default=os.path.join(HERE, "..", "results"))
    p.add_argument("--edges", type=int, default=200000, help="edges per ingest run")
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=5, help="length of each lookup and lag run")
    p.add_argument("--lag-share", type=float, default=0.5, help="steady ingest rate as a share of the peak")
    return p.parse_args()


def load(a, port, *args):
    out = subprocess.run([os.path.join(a.build, "benchmarks", "bench_load"), "-p", str(port)] + list(args),
                         check=True, capture_output=True, text=True).stdout
    return kv(out.strip().splitlines()[-1])


def ingest_args(a):
    return ["-e", str(a.edges), "-b", "1000", "-c", "4", "-d", "4"]


class Cluster:
    """3 NATS nodes and 3 replicas on fresh directories."""

    def __init__(self, tmp):
        self.tmp = tmp
        ports = [(tc.free_port(), tc.free_port(), tc.free_port()) for _ in range(3)]
        self.nats = [tc.Nats(tmp, i, ports) for i in range(3)]
        self.replicas = []
        tc.wait_for(lambda: all(n.healthy() for n in self.nats), "JetStream healthy", 60)
        for i in range(3):
            urls = ",".join(f"nats://127.0.0.1:{ports[(i + j) % 3][0]}" for j in range(3))
            self.replicas.append(tc.Replica(tmp, i, urls))
        for r in self.replicas:
            tc.wait_for(lambda: r.cluster()["ready"], f"replica {r.i} ready", 60)

    def converged(self):
        seqs = [r.cluster() for r in self.replicas]
        return all(s["lag"] == 0 and s["applied_seq"] == seqs[0]["applied_seq"] for s in seqs)

    def stop(self):
        for r in self.replicas:
            r.stop()
        for n in self.nats:
            n.kill()


def single_node(a, tmp):
    port = tc.free_port()
    log = open(os.path.join(tmp, "single.log"), "w")
    p = subprocess.Popen([os.path.join(a.build, "repgraphd"), "--data", os.path.join(tmp, "single"),
                          "--port", str(port), "--unix", "none", "--set", "recompute.interval=0"],
                         stdout=log, stderr=subprocess.STDOUT)
    def listening():
        if p.poll() is not None:
            raise AssertionError(f"the single node exited (see {tmp}/single.log)")
        try:
            tc.Conn(port).close()
            return True
        except OSError:
            return False
    tc.wait_for(listening, "the single node listening", 20)
    return p, port


def phase_ingest(a, work):
    pairs, kept = [], None
    for i in range(a.pairs):
        m = Meter()
        tmp = tempfile.mkdtemp(dir=work)
        p, port = single_node(a, tmp)
        x = load(a, port, *ingest_args(a))
        p.terminate(), p.wait(60)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp = tempfile.mkdtemp(dir=work)
        c = Cluster(tmp)
        t0 = time.monotonic()
        y = load(a, c.replicas[0].port, *ingest_args(a))
        tc.wait_for(c.converged, "replicas converged", 120)
        y["all_applied_s"] = time.monotonic() - t0
        pairs.append({"single": x, "cluster": y, **m.done()})
        if i < a.pairs - 1:
            c.stop()
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            kept = c
    return pairs, kept


def phase_lookups(a, c):
    rounds = []
    keys = str(a.edges // 10)
    for rnd in range(a.pairs):
        row = {}
        for n in (1, 2, 3):
            results = [None] * n

            def one(j):
                results[j] = load(a, c.replicas[j].port, "-c", str(max(1, 12 // n)), "-d", "8", "-k", keys,
                                  "-t", str(a.seconds), "-s", str(rnd * 10 + j + 1))
            threads = [threading.Thread(target=one, args=(j,)) for j in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            row[n] = {"req_s": sum(r["req_s"] for r in results), "p99_us": max(r["p99_us"] for r in results)}
        rounds.append(row)
    return rounds


def phase_lag(a, c, peak_edges_s):
    rate = max(1.0, peak_edges_s * a.lag_share / 100)  # requests/s of 100 edges
    writer, reader = tc.Conn(c.replicas[0].port), tc.Conn(c.replicas[2].port)
    visible, lags, stop = [], [], threading.Event()

    def sample():
        while not stop.is_set():
            lags.append(c.replicas[2].cluster()["lag"])
            time.sleep(0.1)
    sampler = threading.Thread(target=sample)
    bg = threading.Thread(target=lambda: load(a, c.replicas[0].port, "--mix", "0:1:0", "-b", "100", "-c", "4",
                                              "-d", "4", "-r", str(rate), "-t", str(a.seconds), "-s", "99"))
    bg.start(), sampler.start()
    probe, t_end = 0, time.monotonic() + a.seconds - 0.5
    while time.monotonic() < t_end:
        probe += 1
        sender = f"probe{probe}@lag.example"
        writer.call("ingest", observations=[{"sender": sender, "recipients": ["r@lag.example"], "client_ip": "192.0.2.1"}])
        t0 = time.monotonic()  # acknowledged: applied on replica 0
        tc.wait_for(lambda: reader.call("lookup", actors=[f"address:{sender}"])["results"][0]["known"],
                    "the probe on replica 2", 30)
        visible.append((time.monotonic() - t0) * 1000)
        time.sleep(0.25)
    bg.join(), stop.set(), sampler.join()
    writer.close(), reader.close()
    return {"rate_edges_s": rate * 100, "visible_ms": visible, "lag_entries": lags}


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def table(r):
    ps = r["ingest"]
    ratios = [p["cluster"]["items_s"] / p["single"]["items_s"] for p in ps]
    med = lambda side, k: statistics.median(p[side][k] for p in ps)
    lines = ["| measure | setting | result |", "|---|---|---|"]
    lines.append(f"| durable ingest, single node | {r['edges']:,} edges, batches of 1000, 4×4 in flight | "
                 f"{med('single', 'items_s'):,.0f} edges/s, p99 {med('single', 'p99_us') / 1000:.1f} ms |")
    lines.append(f"| durable ingest through the log (R3), into replica 0 | same; acknowledged after JetStream and replica 0 | "
                 f"{med('cluster', 'items_s'):,.0f} edges/s, p99 {med('cluster', 'p99_us') / 1000:.1f} ms: "
                 f"**{statistics.median(ratios):.2f}×** the single node ({min(ratios):.2f}–{max(ratios):.2f}, "
                 f"{len(ps)} pairs); all 3 replicas applied in {med('cluster', 'all_applied_s'):.1f} s |")
    for n in (1, 2, 3):
        xs = [row[str(n)] for row in r["lookups"]]
        each = ", ".join(f"{x['req_s']:,.0f}" for x in xs)
        lines.append(f"| lookups, clients on {n} replica{'s' if n > 1 else ''} | 12 connections × 8 in flight in all | "
                     f"{statistics.median(x['req_s'] for x in xs):,.0f} /s (rounds: {each}), worst p99 "
                     f"{statistics.median(x['p99_us'] for x in xs) / 1000:.1f} ms |")
    lag = r["lag"]
    lines.append(f"| replication: a write acknowledged by replica 0, readable on replica 2 | steady ingest of "
                 f"{lag['rate_edges_s']:,.0f} edges/s into replica 0 | p50 {pct(lag['visible_ms'], 0.5):.1f} ms, "
                 f"p99 {pct(lag['visible_ms'], 0.99):.1f} ms, max {max(lag['visible_ms']):.1f} ms over "
                 f"{len(lag['visible_ms'])} probes; lag in entries p50 {pct(lag['lag_entries'], 0.5)}, "
                 f"max {max(lag['lag_entries'])} |")
    return "\n".join(lines)


def main():
    a = parse_args()
    a.build = tc.BUILD = os.path.abspath(a.build)
    if not shutil.which("nats-server"):
        sys.exit("cluster_bench: nats-server is not installed (scripts/install-deps.sh)")
    work = tempfile.mkdtemp(prefix="repgraph-cluster-bench-")
    t0, c = time.time(), None
    results = {"edges": a.edges, "pairs": a.pairs, "load_before": os.getloadavg()[0]}
    try:
        results["ingest"], c = phase_ingest(a, work)
        print("ingest:", [(round(p["single"]["items_s"]), round(p["cluster"]["items_s"])) for p in results["ingest"]],
              flush=True)
        results["lookups"] = phase_lookups(a, c)
        print("lookups:", results["lookups"], flush=True)
        peak = statistics.median(p["cluster"]["items_s"] for p in results["ingest"])
        results["lag"] = phase_lag(a, c, peak)
    finally:
        if c:
            c.stop()
        shutil.rmtree(work, ignore_errors=True)
    results["load_after"], results["seconds"] = os.getloadavg()[0], time.time() - t0
    md = (f"Cluster on one machine ({os.cpu_count()} cores): 3 nats-server (JetStream, R3) and 3 repgraphd "
          f"replicas; load average {results['load_before']:.2f} before, {results['load_after']:.2f} after; "
          f"{results['seconds'] / 60:.1f} min.\n\n" + table(json.loads(json.dumps(results))) + "\n")
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "cluster.md"), "w") as f:
        f.write(md)
    with open(os.path.join(a.out, "cluster.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("\n" + md)


if __name__ == "__main__":
    main()
