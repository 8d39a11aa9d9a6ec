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

Every comparison runs in --pairs pairs (3 by default), its two sides alternating
(A B A B A B), so that a change in the machine's load hits both sides alike. Each pair
records the 1-minute load average before and after it and the CPU time that processes other
than the suite's own (its servers, load generators and bare programs) used meanwhile (from
/proc/stat, in CPUs). The table gives each side's median, the median of the per-pair
ratios and their range (min–max), and marks a comparison "noisy" instead of "met" / "not
met" when the ratios spread wider than --max-spread (max/min, 1.25), when the load average
before a pair passed --max-load (CPUs + 1), or when other processes used more than
--max-other-cpu (0.25 CPU) during a pair.
Writes results/performance.md (the table), results/performance.json, results/latency.png
and results/recompute.png (gnuplot).
"""
import argparse, json, os, shutil, socket, statistics, subprocess, sys, tempfile, time

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
    p.add_argument("--only", choices=("all", "recompute"), default="all",
                   help="recompute: only the recompute comparisons (bare igraph, networkx, the model's cost)")
    p.add_argument("--big", action="store_true", help="add the 10M-edge recompute (about 40 more minutes here, most of it building the store)")
    p.add_argument("--networkx-max", type=int, default=1000000, help="largest graph networkx runs on")
    p.add_argument("--pairs", type=int, default=3, help="alternating pairs (A B) per comparison")
    p.add_argument("--networkx-pairs", type=int, default=0, help="pairs for networkx (0: --pairs)")
    p.add_argument("--max-spread", type=float, default=1.25,
                   help="a comparison whose per-pair ratios spread wider (max/min) is noisy")
    p.add_argument("--max-load", type=float, default=(os.cpu_count() or 1) + 1,
                   help="a comparison with a 1-minute load average above this before a pair is noisy")
    p.add_argument("--max-other-cpu", type=float, default=0.25,
                   help="a comparison during which other processes used more CPUs than this is noisy")
    a = p.parse_args()
    a.pairs = max(1, a.pairs)
    a.networkx_pairs = a.networkx_pairs or a.pairs
    return a


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


# ---- noise: the suite's own CPU time against the machine's ------------------------------

TICK = os.sysconf("SC_CLK_TCK")
OURS = {"children_s": 0.0, "stopped_s": 0.0}  # CPU seconds of finished children / stopped servers
LIVE = []  # running Proc objects


def machine_busy_s():
    """CPU seconds the whole machine has been busy (not idle, not waiting for I/O) since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / TICK  # user..steal, less idle and iowait


def proc_cpu_s(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime, all threads
    except OSError:
        return 0.0


def ours_s():
    me = os.times()  # the suite itself (its socket client), and what it waited for
    return me.user + me.system + OURS["children_s"] + OURS["stopped_s"] + sum(proc_cpu_s(p.p.pid) for p in LIVE)


class Meter:
    """Load average and other processes' CPU use around one pair."""

    def __init__(self):
        self.load_before = os.getloadavg()[0]
        self.t0, self.busy0, self.ours0 = time.time(), machine_busy_s(), ours_s()

    def done(self):
        secs = max(1e-3, time.time() - self.t0)
        other = (machine_busy_s() - self.busy0) - (ours_s() - self.ours0)
        return {"load_before": self.load_before, "load_after": os.getloadavg()[0],
                "other_cpu": max(0.0, other) / secs, "pair_s": secs}


def run_out(argv, cpu=CLIENT_CPU, stdout=subprocess.PIPE):
    """Runs argv pinned to cpu, counting its CPU time as the suite's; returns its stdout."""
    p = subprocess.Popen(pinned(cpu, argv), stdout=stdout, text=True)
    out = p.stdout.read() if stdout == subprocess.PIPE else ""
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    OURS["children_s"] += ru.ru_utime + ru.ru_stime
    if p.returncode:
        raise RuntimeError(f"{argv[0]} failed ({p.returncode}): {out}")
    return out


def run_kv(argv, cpu=CLIENT_CPU):
    return kv(run_out(argv, cpu).strip().splitlines()[-1])


def pairs_of(a, n, run_a, run_b):
    """n pairs of run_a(i), run_b(i), alternating, each with its Meter."""
    out = []
    for i in range(n):
        m = Meter()
        x = run_a(i)
        y = run_b(i)
        out.append({"a": x, "b": y, **m.done()})
    return out


class Proc:
    """A server pinned to SERVER_CPU, with per-phase peak RSS."""

    def __init__(self, argv, port, what, log):
        self.p = subprocess.Popen(pinned(SERVER_CPU, argv), stdout=log, stderr=log)
        LIVE.append(self)
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
        if self in LIVE:
            OURS["stopped_s"] += proc_cpu_s(self.p.pid)
            LIVE.remove(self)
        if self.p.poll() is None:
            self.p.terminate()
            self.p.wait(timeout=60)


def start_repgraphd(a, work, name, settings=()):
    port = free_port()
    data = os.path.join(work, name)
    log = open(os.path.join(work, name + ".log"), "w")
    argv = [os.path.join(a.build, "repgraphd"), "--data", data, "--port", str(port), "--log-level", "warn",
            "--set", "recompute.interval=0", "--set", f"server.unix_socket={data}.sock"]
    argv += [x for kv in settings for x in ("--set", kv)]
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

def lookup_argv(a, load, target, resp, batch=1, secs=None, conns=None, depth=None, rate=0, warm=0):
    argv = [load, "-c", str(conns or a.conns), "-d", str(depth or a.depth), "-k", str(a.edges // 10),
            "-t", str(secs or a.seconds), "-b", str(batch)] + target + (["--resp"] if resp else [])
    return argv + (["-r", str(int(rate))] if rate else []) + (["-w", str(warm)] if warm else [])


def phase_ingest(a, work, load):
    """Durable ingest into a fresh repgraphd vs the bare LMDB program, in pairs. Returns the
    pairs and the repgraphd of the last pair, still running, for the lookups."""
    kept = {}

    def repgraph(i):
        rg, port, usock = start_repgraphd(a, work, f"serve{i}")
        rg.reset_peak()
        ing = run_kv([load, "-p", str(port), "-e", str(a.edges), "-b", "1000", "-c", "4", "-d", "4"])
        st = Client(port).call("stats")
        ing["peak_rss"] = rg.peak()
        ing["commits"] = st["writer"]["commits"]
        ing["used_bytes"] = st["store"]["used_bytes"]
        ing["edges_per_commit"] = a.edges / max(1, st["writer"]["commits"])
        if i < a.pairs - 1:
            rg.stop()
            shutil.rmtree(os.path.join(work, f"serve{i}"), ignore_errors=True)
        else:
            kept.update(proc=rg, port=port, usock=usock)
        return ing

    def bare(i):
        bare_dir = os.path.join(work, "bare-lmdb")
        per_txn = max(1, round(kept.get("per_txn", a.edges / 100)))
        r = run_kv([os.path.join(a.build, "benchmarks", "bench_lmdb_ingest"), bare_dir, "-e", str(a.edges),
                    "-t", str(per_txn)], cpu=SERVER_CPU)
        shutil.rmtree(bare_dir, ignore_errors=True)
        return r

    def repgraph_then_note(i):
        r = repgraph(i)
        kept["per_txn"] = r["edges_per_commit"]  # the bare program commits as many per transaction
        return r

    return pairs_of(a, a.pairs, repgraph_then_note, bare), kept


def phase_serving(a, work, results):
    """Lookups: repgraphd (holding the last ingest's store) and redis-server both running,
    every comparison in alternating pairs; then the repgraph-only runs and the sweeps."""
    load = os.path.join(a.build, "benchmarks", "bench_load")
    results["ingest"], kept = phase_ingest(a, work, load)
    ing = results["ingest"][-1]["a"]
    print(f"  ingest: {med(results['ingest'], 'a', 'items_s'):.0f} edges/s (median of {a.pairs}), "
          f"{ing['edges_per_commit']:.0f} edges per commit", flush=True)
    rg, port, usock = kept["proc"], kept["port"], kept["usock"]
    rd = None
    try:
        tcp = ["-p", str(port)]
        warm = run_kv(lookup_argv(a, load, tcp, False, secs=max(1.0, a.seconds / 5)))  # and the reply size
        value = round(warm["lookup_reply_bytes"])
        rd, rport, rsock = start_redis(work)
        run_kv([load, "--resp", "-p", str(rport), "-e", str(a.edges // 10), "-b", "100", "-c", "4", "-d", "4",
                "-v", str(value)])
        rtcp = ["-p", str(rport)]
        rg.reset_peak()
        rd.reset_peak()
        cmp = results["compare"] = {}

        def both(name, **kw):
            cmp[name] = pairs_of(a, a.pairs, lambda i: run_kv(lookup_argv(a, load, tcp, False, **kw)),
                                 lambda i: run_kv(lookup_argv(a, load, rtcp, True, **kw)))

        both("single")
        both("batch16", batch=16)
        peak_a, peak_b = med(cmp["single"], "a", "req_s"), med(cmp["single"], "b", "req_s")
        # paced runs: a p99 is a tail, so each runs a full --seconds after an uncounted second
        # of warm-up (a 2.5-s run right after the peak runs measured their transients)
        half = max(2.0, a.seconds / 2)
        paced = dict(secs=max(5.0, a.seconds), warm=1)
        cmp["half"] = pairs_of(a, a.pairs,
                               lambda i: run_kv(lookup_argv(a, load, tcp, False, rate=peak_a / 2, **paced)),
                               lambda i: run_kv(lookup_argv(a, load, rtcp, True, rate=peak_b / 2, **paced)))
        cmp["unix"] = pairs_of(a, a.pairs, lambda i: run_kv(lookup_argv(a, load, ["-u", usock], False)),
                               lambda i: run_kv(lookup_argv(a, load, ["-u", rsock], True)))
        for where, cpu in (("rt_other", CLIENT_CPU), ("rt_same", SERVER_CPU)):
            kw = dict(secs=half, conns=1, depth=1)
            cmp[where] = pairs_of(a, a.pairs, lambda i: run_kv(lookup_argv(a, load, tcp, False, **kw), cpu=cpu),
                                  lambda i: run_kv(lookup_argv(a, load, rtcp, True, **kw), cpu=cpu))
        results["lookup_peak_rss"] = {"repgraph": rg.peak(), "redis": rd.peak()}
        print(f"  lookups: {peak_a:.0f}/s vs GET {peak_b:.0f}/s single, "
              f"{med(cmp['batch16'], 'a', 'items_s'):.0f} vs {med(cmp['batch16'], 'b', 'items_s'):.0f} in 16s",
              flush=True)

        sweep = results["sweep"] = {"repgraph": [], "redis": []}  # for the plot: one run per point
        for f in (0.1, 0.25, 0.5, 0.75, 0.9):
            for side, target, resp, peak in (("repgraph", tcp, False, peak_a), ("redis", rtcp, True, peak_b)):
                r = run_kv(lookup_argv(a, load, target, resp, rate=peak * f, **paced))
                r["fraction"] = f
                sweep[side].append(r)
        mixed = [load, "-c", str(a.conns), "-d", str(a.depth), "-k", str(a.edges // 10), "-t", str(a.seconds)] + tcp
        results["check"] = run_kv(mixed + ["--mix", "0:0:1"])
        results["mix"] = run_kv(mixed + ["--mix", "8:1:1", "-b", "16"])
        results["value_bytes"] = value
    finally:
        rg.stop()
        if rd:
            rd.stop()
    shutil.rmtree(os.path.join(work, f"serve{a.pairs - 1}"), ignore_errors=True)


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
        row["used_bytes"] = c.call("stats")["store"]["used_bytes"]
        etxt, stxt = obs + ".edges", obs + ".seeds"
        want_nx = edges <= a.networkx_max
        bare_argv = [os.path.join(a.build, "benchmarks", "bench_recompute_bare"), obs, labels, "--now", str(now)]
        row["recompute_peak_rss"] = row["recompute_extra_rss"] = 0
        rounds = []
        # The same store without the learned model (a hot copy, mdb_copy), recomputed in
        # the same rounds: what the model costs.
        os.makedirs(os.path.join(work, f"recompute-{edges}-nomodel"))
        subprocess.run(["mdb_copy", os.path.join(work, f"recompute-{edges}"), os.path.join(work, f"recompute-{edges}-nomodel")],
                       check=True)
        rg_off, port_off, _ = start_repgraphd(a, work, f"recompute-{edges}-nomodel", ["model.enabled=0"])
        c_off = Client(port_off)

        def repgraph():
            rss_before = rg.rss()
            rg.reset_peak()
            t0 = time.time()
            res = c.call("recompute", wait=True)["result"]
            res["wall_s"] = time.time() - t0
            peak = rg.peak()
            row["recompute_peak_rss"] = max(row["recompute_peak_rss"], peak)
            row["recompute_extra_rss"] = max(row["recompute_extra_rss"], peak - rss_before)
            return res

        # Rounds of repgraph, bare igraph and (for the first --networkx-pairs) networkx, in
        # turn: each pair of repgraph with a peer alternates.
        for i in range(a.pairs):
            m = Meter()
            x = repgraph()
            out = ["--edges-out", etxt, "--seeds-out", stxt] if want_nx and i == 0 else []
            y = run_kv(bare_argv + out, cpu=SERVER_CPU)
            z = c_off.call("recompute", wait=True)["result"]
            rounds.append({"a": x, "b": y, "model_off": z, **m.done()})
            if want_nx and i < a.networkx_pairs:
                nx = run_kv(["/usr/bin/python3", os.path.join(HERE, "..", "bare", "bench_networkx.py"), etxt, stxt],
                            cpu=SERVER_CPU)
                rounds[-1]["nx"] = nx
                rounds[-1].update({k: v for k, v in m.done().items() if k != "load_before"})
        row["pairs"] = rounds
        row["bare"] = rounds[0]["b"]
    finally:
        rg.stop()
        if "rg_off" in locals():
            rg_off.stop()
    shutil.rmtree(os.path.join(work, f"recompute-{edges}"), ignore_errors=True)
    shutil.rmtree(os.path.join(work, f"recompute-{edges}-nomodel"), ignore_errors=True)
    for p in (obs, truth, labels, etxt, stxt):
        if os.path.exists(p):
            os.remove(p)
    results["recompute"].append(row)
    nx = [p["nx"]["total_s"] for p in rounds if "nx" in p]
    print(f"  recompute {edges}: repgraph {med(rounds, 'a', 'total_ms') / 1000:.2f} s, bare "
          f"{med(rounds, 'b', 'total_s'):.2f} s" + (f", networkx {statistics.median(nx):.1f} s" if nx else ""),
          flush=True)


# ---- report ----------------------------------------------------------------------------

def mib(b):
    return f"{b / 2**20:,.0f} MiB"


def med(pairs, side, key):
    return statistics.median(p[side][key] for p in pairs)


def noise(a, pairs, values):
    """Why a comparison is noisy (empty when it is not): the spread of `values` (one per pair:
    ratios, or the measured side's values for an absolute target), the load average before a
    pair, other processes' CPU use during one."""
    why = []
    lo, hi = min(values), max(values)
    if lo > 0 and hi / lo > a.max_spread:
        why.append(f"spread {hi / lo:.2f} > {a.max_spread:g}")
    load = max(p["load_before"] for p in pairs)
    if load > a.max_load:
        why.append(f"load {load:.1f} > {a.max_load:g}")
    other = max(p["other_cpu"] for p in pairs)
    if other > a.max_other_cpu:
        why.append(f"others {other:.2f} CPU > {a.max_other_cpu:g}")
    return why


def ratio_cells(a, pairs, ratio, target=None, higher_is_better=True, suffix=""):
    """The ratio cell (median of the per-pair ratios, their range) and the verdict cell."""
    rs = [ratio(p) for p in pairs]
    m = statistics.median(rs)
    other = f", {len(rs)} pair{'s' if len(rs) > 1 else ''}" if len(rs) != a.pairs else ""
    cell = f"**{m:.2f}×**{suffix} ({min(rs):.2f}–{max(rs):.2f}{other})"
    why = noise(a, pairs, rs)
    if target is None:
        return cell, "noisy: " + ", ".join(why) if why else ""
    ok = m >= target if higher_is_better else m <= target
    want = f"{'≥' if higher_is_better else '≤'} {target}"
    if why:
        return cell, f"**noisy** ({', '.join(why)}); {want} {'met' if ok else 'not met'} by the median"
    return cell, f"{'met' if ok else 'not met'}: {want}"


def serving_rows(a, r, add):
    """The lookup, check, mix and ingest rows (phase_serving)."""
    c = r["compare"]
    cd = f"{a.conns} connections × {a.depth} in flight"
    rate = lambda key: (lambda p: p["a"][key] / p["b"][key])
    s, b16 = c["single"], c["batch16"]
    add(("lookup, 1 actor per request vs GET", cd, f"{med(s, 'a', 'req_s'):,.0f} /s", f"{med(s, 'b', 'req_s'):,.0f} /s",
         *ratio_cells(a, s, rate("req_s"), 1.0)))
    pct = lambda side: " / ".join(f"{med(s, side, k):.0f}" for k in ("p50_us", "p99_us", "p999_us"))
    add(("  p50 / p99 / p99.9 at peak (µs)", "medians", pct("a"), pct("b"), "", ""))
    add(("lookup, 16 actors per request vs MGET of 16", cd, f"{med(b16, 'a', 'items_s'):,.0f} actors/s",
         f"{med(b16, 'b', 'items_s'):,.0f} keys/s", *ratio_cells(a, b16, rate("items_s"), 1.0)))
    h = c["half"]
    p99s = [p["a"]["p99_us"] for p in h]
    why = noise(a, h, p99s)
    ok = statistics.median(p99s) < 1000
    verdict = (f"**noisy** ({', '.join(why)}); < 1000 µs {'met' if ok else 'not met'} by the median" if why
               else f"{'met' if ok else 'not met'}: < 1000 µs")
    add(("p99 of single lookups at half of peak", f"{med(h, 'a', 'req_s'):,.0f} vs {med(h, 'b', 'req_s'):,.0f} /s",
         f"{statistics.median(p99s):.0f} µs ({min(p99s):.0f}–{max(p99s):.0f})", f"{med(h, 'b', 'p99_us'):.0f} µs",
         f"{statistics.median(p['a']['p99_us'] / p['b']['p99_us'] for p in h):.2f}× the peer's", verdict))
    for where, what in (("rt_other", "client on CPU 0"), ("rt_same", "client on CPU 1 with the server")):
        x = c[where]
        cell = lambda side: f"{med(x, side, 'p50_us'):.0f} / {med(x, side, 'p99_us'):.0f}; {med(x, side, 'req_s'):,.0f}"
        add((f"round trip, 1 connection × 1 in flight, {what}", "p50 / p99 (µs); requests/s", cell("a"), cell("b"),
             *ratio_cells(a, x, rate("req_s"))))
    u = c["unix"]
    add(("lookup over the Unix socket, 1 per request", cd, f"{med(u, 'a', 'req_s'):,.0f} /s", f"{med(u, 'b', 'req_s'):,.0f} /s",
         *ratio_cells(a, u, rate("req_s"))))
    add(("check (sender + IP → verdict)", cd, f"{r['check']['req_s']:,.0f} /s", "—", "", "one run"))
    add(("mix 8 lookup(16) : 1 ingest(16) : 1 check", cd, f"{r['mix']['req_s']:,.0f} req/s, p99 {r['mix']['p99_us']:.0f} µs",
         "—", "", "one run"))
    ing = r["ingest"]
    last = ing[-1]["a"]
    add((f"durable ingest, {a.edges:,} edges vs bare LMDB", f"batches of 1000, 4×4 in flight; {med(ing, 'a', 'edges_per_commit'):.0f} edges/commit",
         f"{med(ing, 'a', 'items_s'):,.0f} edges/s", f"{med(ing, 'b', 'edges_s'):,.0f} edges/s",
         *ratio_cells(a, ing, lambda p: p["a"]["items_s"] / p["b"]["edges_s"], 0.5)))
    add(("store on disk per edge", "", f"{last['used_bytes'] / a.edges:.0f} B", f"{ing[-1]['b']['used_bytes'] / a.edges:.0f} B (bare LMDB)", "", ""))
    add((f"server peak RSS: ingest / lookups ({a.edges:,} edges)", "", f"{mib(last['peak_rss'])} / {mib(r['lookup_peak_rss']['repgraph'])}",
         f"Redis: {mib(r['lookup_peak_rss']['redis'])}", "", ""))


def table(a, r):
    rows = []
    add = rows.append
    if "compare" in r:  # not with --only recompute
        serving_rows(a, r, add)
    for row in r["recompute"]:
        ps, bare = row["pairs"], row["bare"]
        rs = med(ps, "a", "total_ms") / 1000
        bs = med(ps, "b", "total_s")
        add((f"recompute {bare['edges']:,.0f} edges, {bare['vertices']:,.0f} actors vs bare igraph", "whole: snapshot + compute + publish",
             f"{rs:.2f} s", f"{bs:.2f} s", *ratio_cells(a, ps, lambda p: p["a"]["total_ms"] / 1000 / p["b"]["total_s"], 1.3, False)))
        comp = lambda p: sum(p["a"]["phases_ms"].get(k, 0) for k in ("graph", "propagate", "communities", "anomaly")) / 1000
        add(("  compute only (igraph stages + scoring)", "", f"{statistics.median(comp(p) for p in ps):.2f} s", f"{bs:.2f} s",
             *ratio_cells(a, ps, lambda p: comp(p) / p["b"]["total_s"])))
        nxp = [p for p in ps if "nx" in p]
        if nxp:
            nxs = statistics.median(p["nx"]["total_s"] for p in nxp)
            add(("  vs the same pipeline in networkx", "PPR ×2, label propagation, features", f"{rs:.2f} s", f"{nxs:.1f} s",
                 *ratio_cells(a, nxp, lambda p: p["nx"]["total_s"] / (p["a"]["total_ms"] / 1000), 10, True, " faster")))
        if all("model_off" in p for p in ps):
            model = ps[0]["a"].get("model") or {}
            cells = ratio_cells(a, ps, lambda p: p["a"]["total_ms"] / p["model_off"]["total_ms"], 1.5, False)
            if model.get("state") != "serving":  # too few labels at this size: nothing to compare
                cells = (cells[0], f"not measured: the model is {model.get('state')} ({model.get('note')})")
            add(("  with the learned model vs without", "model.enabled=1 vs 0, same store", f"{rs:.2f} s",
                 f"{med(ps, 'model_off', 'total_ms') / 1000:.2f} s", *cells))
        add(("  server memory in recompute", "", f"peak {mib(row['recompute_peak_rss'])}; "
             f"{row['recompute_extra_rss'] / bare['edges']:.0f} B/edge above idle", "", "", ""))
        add(("  building that graph: observations through `repgraph ingest`", "batches of 2000",
             f"{row['ingest_s']:.0f} s, {bare['edges'] / row['ingest_s']:,.0f} edges/s; "
             f"{row['used_bytes'] / bare['edges']:.0f} B/edge on disk", "", "", "one run"))
    lines = [f"| measure | setting | repgraph | peer | ratio: median (min–max) of {a.pairs} pairs | verdict |",
             "|---|---|---:|---:|---|---|"]
    lines += ["| " + " | ".join(x) + " |" for x in rows]
    return "\n".join(lines)


def plots(a, r):
    if not shutil.which("gnuplot"):
        print("gnuplot not found: no plots", file=sys.stderr)
        return
    d = tempfile.mkdtemp()
    for name in ("repgraph", "redis"):
        with open(os.path.join(d, name), "w") as f:
            side = "a" if name == "repgraph" else "b"
            for x in r["sweep"][name] + [p[side] for p in r["compare"]["single"]]:
                f.write(f"{x['req_s']} {x['p50_us']} {x['p99_us']} {x['p999_us']}\n")
    with open(os.path.join(d, "rc"), "w") as f:
        for row in r["recompute"]:
            ps = row["pairs"]
            nxs = [p["nx"]["total_s"] for p in ps if "nx" in p]
            nx = statistics.median(nxs) if nxs else "?"
            f.write(f"{row['bare']['edges']} {med(ps, 'a', 'total_ms') / 1000} {med(ps, 'b', 'total_s')} {nx}\n")
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
    results = {"machine": machine(), "recompute": [],
               "settings": {k: getattr(a, k) for k in ("pairs", "networkx_pairs", "max_spread", "max_load",
                                                       "max_other_cpu", "conns", "depth", "seconds", "edges")}}
    print("machine:", results["machine"], flush=True)
    work = tempfile.mkdtemp(prefix="repgraph-bench-")
    t0 = time.time()
    done = False
    try:
        if a.only == "all":
            phase_serving(a, work, results)
        for n in sizes:
            phase_recompute(a, work, n, results)
        done = True
    finally:
        if done:
            shutil.rmtree(work, ignore_errors=True)
        else:  # the servers' logs say why
            print(f"suite failed: its work directory {work} is kept", file=sys.stderr, flush=True)
    results["load_after"] = os.getloadavg()[0]
    results["seconds"] = time.time() - t0
    md = table(a, results)
    name = "performance" if a.only == "all" else "performance-recompute"  # a part keeps the whole's table
    head = (f"Machine: {results['machine']}; load average at the end {results['load_after']:.2f}. "
            f"Server and bare programs pinned to CPU {SERVER_CPU}, load generators to CPU {CLIENT_CPU} "
            f"(taskset). Whole run: {results['seconds'] / 60:.1f} min. Each comparison: {a.pairs} pairs, "
            f"the sides alternating; noisy when the per-pair ratios spread more than {a.max_spread:g}× (max/min), "
            f"the load average before a pair passed {a.max_load:g}, or other processes used more than "
            f"{a.max_other_cpu:g} CPU during one.\n\n")
    with open(os.path.join(a.out, name + ".md"), "w") as f:
        f.write(head + md + "\n")
    with open(os.path.join(a.out, name + ".json"), "w") as f:
        json.dump(results, f, indent=1)
    if a.only == "all":
        plots(a, results)
    print("\n" + head + md)


if __name__ == "__main__":
    main()
