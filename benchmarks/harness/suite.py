#!/usr/bin/python3
"""repgraph side by side with its peers, in one run on one machine (run by benchmarks/run.sh).

Every peer is started here on loopback, on a free port, in a temporary directory:
  lookups   repgraphd vs Debian's redis-server: bench_load sends repgraph lookups (1 actor,
            and batches of 16) and, speaking RESP, GET / MGET of 16 keys over the same
            number of connections and the same pipelining; Redis values are as large as
            repgraph's replies per actor. Then both at fixed rates (open loop) for latency
            vs throughput.
  ingest    durable ingest through repgraphd (acknowledged after fsync'd commit) vs
            bench_lmdb_ingest writing the same edges straight into LMDB, committing as many
            edges per transaction as repgraphd's writer did.
  recompute repgraphd's whole recomputation (snapshot, igraph, scoring, publishing) vs
            bench_recompute_bare (the same igraph calls on the same graph) and the same
            pipeline in networkx (bench_networkx.py), on gen_mail graphs of 100k, 1M (and
            with --big 10M) edges.
  memory    the server's peak resident memory per phase (VmHWM, reset between phases),
            bytes per edge on disk and in recompute.
The server and every bare program run on CPU 1, the load generators on CPU 0 (taskset).
Writes results/performance.md (the table), results/performance.json, results/latency.png
and results/recompute.png (gnuplot).
"""
import argparse, json, os, shutil, socket, subprocess, sys, tempfile, time

from quality import Client, free_port  # the quality harness's socket client

SERVER_CPU, CLIENT_CPU = "1", "0"
HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(HERE, "..", "..", "build-bench"))
    p.add_argument("--out", default=os.path.join(HERE, "..", "results"))
    p.add_argument("--edges", type=int, default=1000000, help="edges ingested for the ingest and lookup runs")
    p.add_argument("--seconds", type=float, default=5, help="length of each lookup run")
    p.add_argument("--conns", type=int, default=16)
    p.add_argument("--depth", type=int, default=8, help="requests in flight per connection")
    p.add_argument("--sizes", default="100000,1000000", help="recompute graph sizes in edges")
    p.add_argument("--big", action="store_true", help="add the 10M-edge recompute (about 40 more minutes here, most of it building the store)")
    p.add_argument("--networkx-max", type=int, default=1000000, help="largest graph networkx runs on")
    return p.parse_args()


# ---- processes ---------------------------------------------------------------------------

def pinned(cpu, argv):
    return ["taskset", "-c", cpu] + argv


def wait_port(proc, port, what):
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"{what} did not start")
            time.sleep(0.02)


def kv(line):
    out = {}
    for tok in line.split():
        k, _, v = tok.partition("=")
        try:
            out[k] = float(v)
        except ValueError:
            out[k] = v
    return out


def run_kv(argv, cpu=CLIENT_CPU):
    r = subprocess.run(pinned(cpu, argv), stdout=subprocess.PIPE, text=True)
    if r.returncode:
        raise RuntimeError(f"{argv[0]} failed ({r.returncode}): {r.stdout}")
    return kv(r.stdout.strip().splitlines()[-1])


class Proc:
    """A server pinned to SERVER_CPU, with per-phase peak RSS."""

    def __init__(self, argv, port, what, log):
        self.p = subprocess.Popen(pinned(SERVER_CPU, argv), stdout=log, stderr=log)
        wait_port(self.p, port, what)

    def status(self, field):
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    def reset_peak(self):
        with open(f"/proc/{self.p.pid}/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS

    def peak(self):
        return self.status("VmHWM")

    def rss(self):
        return self.status("VmRSS")

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            self.p.wait(timeout=60)


def start_repgraphd(a, work, name):
    port = free_port()
    data = os.path.join(work, name)
    log = open(os.path.join(work, name + ".log"), "w")
    argv = [os.path.join(a.build, "repgraphd"), "--data", data, "--port", str(port), "--log-level", "warn",
            "--set", "recompute.interval=0", "--set", f"server.unix_socket={data}.sock"]
    return Proc(argv, port, "repgraphd", log), port, data + ".sock"


def start_redis(work):
    port = free_port()
    sock = os.path.join(work, "redis.sock")
    log = open(os.path.join(work, "redis.log"), "w")
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--unixsocket", sock, "--dir", work, "--protected-mode", "no"]
    return Proc(argv, port, "redis-server", log), port, sock


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return (f"{os.cpu_count()} cores ({cpu}), {mem / 2**30:.0f} GiB RAM, Linux {os.uname().release}; "
            f"load average at start {os.getloadavg()[0]:.2f}")


# ---- phases ----------------------------------------------------------------------------

def round_trips(a, load, target, resp):
    """One connection, one request in flight: the round trip with the client on the other
    core (a cross-core wake-up each way) and on the server's own core."""
    argv = [load, "-c", "1", "-d", "1", "-k", str(a.edges // 10), "-t", str(max(2.0, a.seconds / 2)), "-b", "1"]
    argv += target + (["--resp"] if resp else [])
    return {"other_core": run_kv(argv), "same_core": run_kv(argv, cpu=SERVER_CPU)}


def lookup_runs(a, load, target, resp, extra=()):
    """Peak runs (single, batch of 16), a rate sweep of single lookups, round trips."""
    base = [load, "-c", str(a.conns), "-d", str(a.depth), "-k", str(a.edges // 10)]
    base += target + (["--resp"] if resp else []) + list(extra)
    full = ["-t", str(a.seconds)]
    out = {"single": run_kv(base + full + ["-b", "1"]), "batch16": run_kv(base + full + ["-b", "16"])}
    peak = out["single"]["req_s"]
    out["sweep"] = []
    for f in (0.1, 0.25, 0.5, 0.75, 0.9):
        r = run_kv(base + ["-t", str(max(2.0, a.seconds / 2)), "-b", "1", "-r", str(int(peak * f))])
        r["fraction"] = f
        out["sweep"].append(r)
    out["round_trip"] = round_trips(a, load, target, resp)
    return out


def phase_serving(a, work, results):
    load = os.path.join(a.build, "benchmarks", "bench_load")
    rg, port, usock = start_repgraphd(a, work, "serve")
    try:
        rg.reset_peak()
        ing = run_kv([load, "-p", str(port), "-e", str(a.edges), "-b", "1000", "-c", "4", "-d", "4"])
        c = Client(port)
        st = c.call("stats")
        ing["peak_rss"] = rg.peak()
        ing["commits"] = st["writer"]["commits"]
        ing["used_bytes"] = st["store"]["used_bytes"]
        ing["edges_per_commit"] = a.edges / max(1, st["writer"]["commits"])
        results["ingest"] = ing
        print(f"  ingest: {ing['items_s']:.0f} edges/s, {ing['edges_per_commit']:.0f} edges per commit", flush=True)

        rg.reset_peak()
        tcp = ["-p", str(port)]
        results["lookup_repgraph"] = lookup_runs(a, load, tcp, False)
        results["lookup_repgraph"]["unix"] = run_kv(
            [load, "-u", usock, "-c", str(a.conns), "-d", str(a.depth), "-k", str(a.edges // 10),
             "-t", str(a.seconds), "-b", "1"])
        mixed = [load, "-c", str(a.conns), "-d", str(a.depth), "-k", str(a.edges // 10), "-t", str(a.seconds)] + tcp
        results["check"] = run_kv(mixed + ["--mix", "0:0:1"])
        results["mix"] = run_kv(mixed + ["--mix", "8:1:1", "-b", "16"])
        results["lookup_repgraph"]["peak_rss"] = rg.peak()
        print(f"  repgraph lookups: {results['lookup_repgraph']['single']['req_s']:.0f}/s single, "
              f"{results['lookup_repgraph']['batch16']['items_s']:.0f} actors/s in 16s", flush=True)
    finally:
        rg.stop()
    shutil.rmtree(os.path.join(work, "serve"), ignore_errors=True)

    bare_dir = os.path.join(work, "bare-lmdb")
    per_txn = max(1, round(results["ingest"]["edges_per_commit"]))
    results["ingest_bare"] = run_kv([os.path.join(a.build, "benchmarks", "bench_lmdb_ingest"), bare_dir,
                                     "-e", str(a.edges), "-t", str(per_txn)], cpu=SERVER_CPU)
    shutil.rmtree(bare_dir, ignore_errors=True)

    value = round(results["lookup_repgraph"]["single"]["lookup_reply_bytes"])
    rd, rport, rsock = start_redis(work)
    try:
        run_kv([load, "--resp", "-p", str(rport), "-e", str(a.edges // 10), "-b", "100", "-c", "4", "-d", "4",
                "-v", str(value)])
        rd.reset_peak()
        results["lookup_redis"] = lookup_runs(a, load, ["-p", str(rport)], True)
        results["lookup_redis"]["unix"] = run_kv(
            [load, "--resp", "-u", rsock, "-c", str(a.conns), "-d", str(a.depth), "-k", str(a.edges // 10),
             "-t", str(a.seconds), "-b", "1"])
        results["lookup_redis"]["value_bytes"] = value
        results["lookup_redis"]["peak_rss"] = rd.peak()
    finally:
        rd.stop()


def gen_params(edges):
    f = edges / 1e6
    return {"messages": int(500000 * f), "users": int(90000 * f), "communities": max(4, int(900 * f)),
            "spammers": max(10, int(4000 * f)), "spam-ips": max(8, int(512 * f)),
            "compromised": max(2, int(300 * f)), "attack-edges": max(2, int(500 * f))}


def phase_recompute(a, work, edges, results):
    now = int(time.time())
    obs, truth, labels = (os.path.join(work, f"{n}-{edges}") for n in ("obs", "truth", "labels"))
    with open(obs, "w") as out:
        args = [x for k, v in gen_params(edges).items() for x in (f"--{k}", str(v))]
        subprocess.run([os.path.join(a.build, "benchmarks", "gen_mail")] + args +
                       ["--start-ts", str(now), "--truth", truth], stdout=out, check=True)
    with open(truth) as f, open(labels, "w") as out:  # every 20th actor of the truth is labelled
        seeds = [line.rstrip("\n").split("\t") for i, line in enumerate(f, 1) if i % 20 == 0]
        out.writelines(f"{k}\t{v}\n" for k, v in seeds)
    row = {"edges_target": edges}
    rg, port, _ = start_repgraphd(a, work, f"recompute-{edges}")
    try:
        t0 = time.time()
        subprocess.run(pinned(CLIENT_CPU, [os.path.join(a.build, "repgraph"), "-p", str(port), "ingest",
                                           "--batch", "2000", obs]), check=True, stdout=subprocess.DEVNULL)
        row["ingest_s"] = time.time() - t0
        c = Client(port)
        for i in range(0, len(seeds), 5000):
            c.call("label", labels=[dict(actor=k, verdict=v, source="analyst") for k, v in seeds[i:i + 5000]])
        row["ingest_peak_rss"] = rg.peak()
        rss_before = rg.rss()
        rg.reset_peak()
        t0 = time.time()
        res = c.call("recompute", wait=True)["result"]
        row["wall_s"] = time.time() - t0
        row["recompute_peak_rss"] = rg.peak()
        row["recompute_extra_rss"] = row["recompute_peak_rss"] - rss_before
        row["server"] = res
        row["used_bytes"] = c.call("stats")["store"]["used_bytes"]
    finally:
        rg.stop()
    shutil.rmtree(os.path.join(work, f"recompute-{edges}"), ignore_errors=True)
    etxt, stxt = obs + ".edges", obs + ".seeds"
    want_nx = edges <= a.networkx_max
    bare_argv = [os.path.join(a.build, "benchmarks", "bench_recompute_bare"), obs, labels, "--now", str(now)]
    if want_nx:
        bare_argv += ["--edges-out", etxt, "--seeds-out", stxt]
    row["bare"] = run_kv(bare_argv, cpu=SERVER_CPU)
    if want_nx:
        row["networkx"] = run_kv(["/usr/bin/python3", os.path.join(HERE, "..", "bare", "bench_networkx.py"), etxt, stxt],
                                 cpu=SERVER_CPU)
    for p in (obs, truth, labels, etxt, stxt):
        if os.path.exists(p):
            os.remove(p)
    results["recompute"].append(row)
    print(f"  recompute {edges}: repgraph {row['server']['total_ms'] / 1000:.2f} s, bare "
          f"{row['bare']['total_s']:.2f} s" + (f", networkx {row['networkx']['total_s']:.1f} s" if want_nx else ""),
          flush=True)


# ---- report ----------------------------------------------------------------------------

def mib(b):
    return f"{b / 2**20:,.0f} MiB"


def ratio_cell(x, target, higher_is_better):
    ok = x >= target if higher_is_better else x <= target
    return f"**{x:.2f}×** ({'met' if ok else 'not met'}: {'≥' if higher_is_better else '≤'} {target})"


def table(a, r):
    rows = []
    add = rows.append
    lr, ld = r["lookup_repgraph"], r["lookup_redis"]
    cd = f"{a.conns} connections × {a.depth} in flight"
    add(("lookup, 1 actor per request vs GET", cd, f"{lr['single']['req_s']:,.0f} /s", f"{ld['single']['req_s']:,.0f} /s",
         ratio_cell(lr["single"]["req_s"] / ld["single"]["req_s"], 1.0, True)))
    add(("  p50 / p99 / p99.9 at peak (µs)", "", f"{lr['single']['p50_us']:.0f} / {lr['single']['p99_us']:.0f} / {lr['single']['p999_us']:.0f}",
         f"{ld['single']['p50_us']:.0f} / {ld['single']['p99_us']:.0f} / {ld['single']['p999_us']:.0f}", ""))
    add(("lookup, 16 actors per request vs MGET of 16", cd, f"{lr['batch16']['items_s']:,.0f} actors/s",
         f"{ld['batch16']['items_s']:,.0f} keys/s", ratio_cell(lr["batch16"]["items_s"] / ld["batch16"]["items_s"], 1.0, True)))
    half = lambda s: next(x for x in s["sweep"] if x["fraction"] == 0.5)
    hr, hd = half(lr), half(ld)
    add(("p99 of single lookups at half of peak", f"{hr['req_s']:,.0f} vs {hd['req_s']:,.0f} /s", f"{hr['p99_us']:.0f} µs",
         f"{hd['p99_us']:.0f} µs", f"{'met' if hr['p99_us'] < 1000 else 'not met'}: < 1000 µs"))
    for where, what in (("other_core", "client on CPU 0"), ("same_core", "client on CPU 1 with the server")):
        x, y = lr["round_trip"][where], ld["round_trip"][where]
        add((f"round trip, 1 connection × 1 in flight, {what}", "p50 / p99 (µs); requests/s",
             f"{x['p50_us']:.0f} / {x['p99_us']:.0f}; {x['req_s']:,.0f}", f"{y['p50_us']:.0f} / {y['p99_us']:.0f}; {y['req_s']:,.0f}",
             f"{x['req_s'] / y['req_s']:.2f}×"))
    add(("lookup over the Unix socket, 1 per request", cd, f"{lr['unix']['req_s']:,.0f} /s", f"{ld['unix']['req_s']:,.0f} /s",
         f"{lr['unix']['req_s'] / ld['unix']['req_s']:.2f}×"))
    add(("check (sender + IP → verdict)", cd, f"{r['check']['req_s']:,.0f} /s", "—", ""))
    add(("mix 8 lookup(16) : 1 ingest(16) : 1 check", cd, f"{r['mix']['req_s']:,.0f} req/s, p99 {r['mix']['p99_us']:.0f} µs", "—", ""))
    ing, bare = r["ingest"], r["ingest_bare"]
    add((f"durable ingest, {a.edges:,} edges vs bare LMDB", f"batches of 1000, 4×4 in flight; {ing['edges_per_commit']:.0f} edges/commit",
         f"{ing['items_s']:,.0f} edges/s", f"{bare['edges_s']:,.0f} edges/s", ratio_cell(ing["items_s"] / bare["edges_s"], 0.5, True)))
    add(("store on disk per edge", "", f"{ing['used_bytes'] / a.edges:.0f} B", f"{bare['used_bytes'] / a.edges:.0f} B (bare LMDB)", ""))
    for row in r["recompute"]:
        s, b = row["server"], row["bare"]
        rs = s["total_ms"] / 1000
        add((f"recompute {b['edges']:,.0f} edges, {b['vertices']:,.0f} actors vs bare igraph", "whole: snapshot + compute + publish",
             f"{rs:.2f} s", f"{b['total_s']:.2f} s", ratio_cell(rs / b["total_s"], 1.3, False)))
        comp = s["phases_ms"]
        cs = sum(comp.get(k, 0) for k in ("graph", "propagate", "communities", "anomaly")) / 1000
        add(("  compute only (igraph stages + scoring)", "", f"{cs:.2f} s", f"{b['total_s']:.2f} s", f"{cs / b['total_s']:.2f}×"))
        if "networkx" in row:
            nxs = row["networkx"]["total_s"]
            add(("  vs the same pipeline in networkx", "PPR ×2, label propagation, features", f"{rs:.2f} s", f"{nxs:.1f} s",
                 ratio_cell(nxs / rs, 10, True) + " faster"))
        add(("  server memory in recompute", "", f"peak {mib(row['recompute_peak_rss'])}; "
             f"{row['recompute_extra_rss'] / b['edges']:.0f} B/edge above idle", "", ""))
        add(("  building that graph: observations through `repgraph ingest`", "batches of 2000",
             f"{row['ingest_s']:.0f} s, {b['edges'] / row['ingest_s']:,.0f} edges/s; "
             f"{row['used_bytes'] / b['edges']:.0f} B/edge on disk", "", ""))
    add((f"server peak RSS: ingest / lookups ({a.edges:,} edges)", "", f"{mib(ing['peak_rss'])} / {mib(lr['peak_rss'])}",
         f"Redis: {mib(ld['peak_rss'])}", ""))
    lines = ["| measure | setting | repgraph | peer | ratio |", "|---|---|---:|---:|---|"]
    lines += ["| " + " | ".join(x) + " |" for x in rows]
    return "\n".join(lines)


def plots(a, r):
    if not shutil.which("gnuplot"):
        print("gnuplot not found: no plots", file=sys.stderr)
        return
    d = tempfile.mkdtemp()
    for name in ("repgraph", "redis"):
        with open(os.path.join(d, name), "w") as f:
            for x in r["lookup_" + name]["sweep"] + [r["lookup_" + name]["single"]]:
                f.write(f"{x['req_s']} {x['p50_us']} {x['p99_us']} {x['p999_us']}\n")
    with open(os.path.join(d, "rc"), "w") as f:
        for row in r["recompute"]:
            nx = row.get("networkx", {}).get("total_s", "?")
            f.write(f"{row['bare']['edges']} {row['server']['total_ms'] / 1000} {row['bare']['total_s']} {nx}\n")
    script = f"""
set terminal pngcairo size 900,560 noenhanced
set output '{os.path.join(a.out, "latency.png")}'
set title 'single lookups: latency vs throughput ({a.conns} conns x {a.depth} in flight; server CPU 1, client CPU 0)'
set xlabel 'requests per second'; set ylabel 'latency (us)'; set logscale y; set grid; set key top left
plot '{d}/repgraph' u 1:3 w lp t 'repgraph p99', '{d}/repgraph' u 1:2 w lp t 'repgraph p50', \\
     '{d}/redis' u 1:3 w lp t 'redis GET p99', '{d}/redis' u 1:2 w lp t 'redis GET p50'
set output '{os.path.join(a.out, "recompute.png")}'
set title 'recompute time vs graph size'
set xlabel 'edges'; set ylabel 'seconds'; set logscale xy; set key top left
plot '{d}/rc' u 1:2 w lp t 'repgraph (whole recompute)', '{d}/rc' u 1:3 w lp t 'bare igraph, same calls', \\
     '{d}/rc' u 1:4 w lp t 'networkx pipeline'
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    shutil.rmtree(d)


def main():
    a = parse_args()
    a.build = os.path.abspath(a.build)
    os.makedirs(a.out, exist_ok=True)
    sizes = [int(x) for x in a.sizes.split(",") if x] + ([10000000] if a.big else [])
    results = {"machine": machine(), "recompute": []}
    print("machine:", results["machine"], flush=True)
    work = tempfile.mkdtemp(prefix="repgraph-bench-")
    t0 = time.time()
    try:
        phase_serving(a, work, results)
        for n in sizes:
            phase_recompute(a, work, n, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["load_after"] = os.getloadavg()[0]
    results["seconds"] = time.time() - t0
    md = table(a, results)
    head = (f"Machine: {results['machine']}; load average at the end {results['load_after']:.2f}. "
            f"Server and bare programs pinned to CPU {SERVER_CPU}, load generators to CPU {CLIENT_CPU} "
            f"(taskset). Whole run: {results['seconds'] / 60:.1f} min.\n\n")
    with open(os.path.join(a.out, "performance.md"), "w") as f:
        f.write(head + md + "\n")
    with open(os.path.join(a.out, "performance.json"), "w") as f:
        json.dump(results, f, indent=1)
    plots(a, results)
    print("\n" + head + md)


if __name__ == "__main__":
    main()
