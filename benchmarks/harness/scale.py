#!/usr/bin/python3
"""Scale curves (run by `benchmarks/run.sh --scale`): how durable ingest, store size,
recompute time and memory grow with the graph.

For each size (default 1M, 3M, 10M edges; --sizes adds 30M) it generates gen_mail
traffic with fixed seeds (about 2 edges per message, as in suite.py), starts repgraphd on
loopback in a temporary directory, streams the observations through `repgraph ingest`
(acknowledged only after the commit is durable), then labels 5% of the truth and runs one
recomputation. While ingesting it samples `stats` every --sample seconds: distinct edges,
ingest requests answered (x --batch observations) and store bytes, so the throughput at
each mark of a run (1M, 3M, 10M... edges) is measured inside the same run: the ratio of
the throughput at the last mark to that at the first is what noise on a shared machine
disturbs least.

Per size it reports: observations/s and new edges/s (whole run, and in the window around
each mark), store bytes per edge, recompute time, peak RSS in ingest and in recompute, and
recompute memory per edge above idle. Then how each grows with the size, as the exponent
b of cost ~ size^b fitted between the smallest and the largest size (b ~ 0: constant per
edge for per-edge costs; b ~ 1: linear totals). Writes results/scale.md, scale.json and
scale.png (matplotlib from /usr/bin/python3 if installed, else gnuplot, else no plot).
With --wal the same runs ingest through the write-ahead log (wal.enabled=1; still
acknowledged only once durable, in the log) and write scale-wal.md, .json, .png; each row
also says when the store had merged everything.
Server pinned to CPU 1, the CLI to CPU 0, as in suite.py.
"""
import argparse, json, math, os, shutil, subprocess, sys, tempfile, threading, time

from quality import Client, free_port

SERVER_CPU, CLIENT_CPU = "1", "0"
HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(HERE, "..", "..", "build-bench"))
    p.add_argument("--out", default=os.path.join(HERE, "..", "results"))
    p.add_argument("--sizes", default="1000000,3000000,10000000", help="graph sizes in edges (add 30000000 for 30M)")
    p.add_argument("--batch", type=int, default=2000, help="observations per ingest request")
    p.add_argument("--window", type=int, default=32, help="ingest requests in flight (the CLI default)")
    p.add_argument("--sample", type=float, default=0.5, help="seconds between stats samples")
    p.add_argument("--no-recompute", action="store_true", help="ingest only")
    p.add_argument("--set", action="append", default=[], help="extra repgraphd --set KEY=VALUE")
    p.add_argument("--work", help="directory for stores and traffic (default: a temporary one)")
    p.add_argument("--wal", action="store_true",
                   help="ingest through the write-ahead log (--set wal.enabled=1); results go to scale-wal.*")
    return p.parse_args()


def gen_params(edges):
    f = edges / 1e6
    return {"messages": int(500000 * f), "users": int(90000 * f), "communities": max(4, int(900 * f)),
            "spammers": max(10, int(4000 * f)), "spam-ips": max(8, int(512 * f)),
            "compromised": max(2, int(300 * f)), "attack-edges": max(2, int(500 * f))}


def pinned(cpu, argv):
    return ["taskset", "-c", cpu] + argv if shutil.which("taskset") and os.cpu_count() >= 2 else argv


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def rss_sampler(pid, peaks, stop):
    """Peak RssAnon (the process's own memory) and RssFile (LMDB's mapped pages: page cache
    shared with the kernel, reclaimable) until stop is set; VmHWM counts both."""
    while not stop.is_set():
        for field in ("RssAnon", "RssFile"):
            peaks[field] = max(peaks.get(field, 0), proc_status(pid, field))
        stop.wait(0.05)


def reset_peak(pid):
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def start_server(a, work, name):
    port = free_port()
    data = os.path.join(work, name)
    log = open(os.path.join(work, name + ".log"), "w")
    argv = [os.path.join(a.build, "repgraphd"), "--data", data, "--port", str(port), "--log-level", "warn",
            "--set", "recompute.interval=0", "--set", f"server.unix_socket={data}.sock"]
    for s in a.set:
        argv += ["--set", s]
    p = subprocess.Popen(pinned(SERVER_CPU, argv), stdout=log, stderr=log)
    deadline = time.time() + 60
    while True:
        try:
            return p, port, Client(port), data
        except OSError:
            if p.poll() is not None or time.time() > deadline:
                raise RuntimeError("repgraphd did not start")
            time.sleep(0.05)


def free_bytes(data):
    """Bytes of LMDB's free pages in the store (mdb_stat -ef), None without lmdb-utils. They
    count in used_bytes: pages a commit replaced, kept until no snapshot can see them."""
    if not shutil.which("mdb_stat"):
        return None
    r = subprocess.run(["mdb_stat", "-ef", data], stdout=subprocess.PIPE, text=True)
    psize, free, in_freelist = 4096, None, False
    for line in r.stdout.splitlines():
        line = line.strip()
        if line.startswith("Page size:"):
            psize = int(line.split(":")[1])
        elif line.startswith("Freelist Status"):
            in_freelist = True
        elif in_freelist and line.startswith("Free pages:"):
            free = int(line.split(":")[1])
            break
    return None if free is None else free * psize


def total(d):
    return sum(d.values())


def sampler(port, a, samples, stop):
    """Samples stats until stop is set: (seconds, edges, observations answered, used bytes).
    With the write-ahead log the edges are those merged into the store plus an estimate of
    the distinct ones among the logged, unmerged edge updates (as many per update as among
    those merged so far)."""
    c = Client(port)
    t0 = time.time()
    while not stop.is_set():
        st = c.call("stats")
        edges = total(st["edges"])
        w = st.get("wal", {})
        if a.wal and w.get("merged_edges"):  # and the logged ones, at the merged share of new ones
            edges += int(edges * w["unmerged_edges"] / w["merged_edges"])
        samples.append((time.time() - t0, edges, st["requests"]["ingest"]["count"] * a.batch,
                        st["store"]["used_bytes"], st["writer"]["commit_latency"]["p50_us"]))
        stop.wait(a.sample)


def marks_of(edges):
    out, m = [], 1000000
    while m <= edges * 1.02:  # gen_mail lands within a few per mille of its target
        out += [m]
        m = m * 3 if str(m)[0] == "1" else m * 10 // 3
    return out


def window_rate(samples, mark, span=0.2):
    """Observations/s and new edges/s over the samples whose edge count lies within mark ± span."""
    inside = [s for s in samples if mark * (1 - span) <= s[1] <= mark * (1 + span)]
    if len(inside) < 2:  # too fast for the sampling: take the two samples around it
        after = next((i for i, s in enumerate(samples) if s[1] >= mark), None)
        if not after:
            return None
        inside = samples[after - 1:after + 1]
    (t1, e1, o1, _, _), (t2, e2, o2, _, _) = inside[0], inside[-1]
    if t2 <= t1:
        return None
    return {"obs_s": (o2 - o1) / (t2 - t1), "edges_s": (e2 - e1) / (t2 - t1), "from_edges": e1, "to_edges": e2}


def run_size(a, work, edges):
    now = int(time.time())
    obs, truth, labels = (os.path.join(work, f"{n}-{edges}") for n in ("obs", "truth", "labels"))
    with open(obs, "w") as out:
        args = [x for k, v in gen_params(edges).items() for x in (f"--{k}", str(v))]
        subprocess.run([os.path.join(a.build, "benchmarks", "gen_mail")] + args + ["--start-ts", str(now), "--truth", truth],
                       stdout=out, check=True)
    with open(obs) as f:
        n_obs = sum(1 for _ in f)
    row = {"edges_target": edges, "observations": n_obs, "load_before": os.getloadavg()[0]}
    p, port, _, data = start_server(a, work, f"store-{edges}")
    try:
        samples, stop = [], threading.Event()
        th = threading.Thread(target=sampler, args=(port, a, samples, stop), daemon=True)
        reset_peak(p.pid)
        t0 = time.time()
        th.start()
        subprocess.run(pinned(CLIENT_CPU, [os.path.join(a.build, "repgraph"), "-p", str(port), "ingest", "--batch",
                                           str(a.batch), "--window", str(a.window), obs]),
                       check=True, stdout=subprocess.DEVNULL)
        row["ingest_s"] = time.time() - t0
        stop.set()
        th.join()
        c = Client(port)  # the first connection sat idle through the ingest: the server may have closed it
        st = c.call("stats")
        if a.wal:  # acknowledged from the log: wait (bounded) until the store has merged it all
            deadline = time.time() + 600
            while st["wal"]["unmerged_records"] and time.time() < deadline:
                time.sleep(0.2)
                st = c.call("stats")
            row["merged_s"] = time.time() - t0
            row["wal"] = st["wal"]
        row["edges"] = total(st["edges"])
        row["actors"] = total(st["actors"])
        row["used_bytes"] = st["store"]["used_bytes"]
        row["free_bytes"] = free_bytes(data)
        row["ingest_peak_rss"] = proc_status(p.pid, "VmHWM")
        row["commits"] = st["writer"]["commits"]
        row["commit_p50_us"] = st["writer"]["commit_latency"]["p50_us"]
        row["commit_p99_us"] = st["writer"]["commit_latency"]["p99_us"]
        row["ingest_p99_us"] = st["requests"]["ingest"]["latency"]["p99_us"]
        row["samples"] = samples
        row["marks"] = {str(m): window_rate(samples, m) for m in marks_of(row["edges"])}
        # the last 10% of the run's edges against the first 10%
        row["first_tenth"] = window_rate(samples, row["edges"] * 0.1, 0.5)
        row["last_tenth"] = window_rate(samples, row["edges"] * 0.95, 0.05)
        print(f"  {edges:,}: ingest {row['ingest_s']:.1f} s, {n_obs / row['ingest_s']:,.0f} obs/s, "
              f"{row['edges'] / row['ingest_s']:,.0f} edges/s, {row['used_bytes'] / row['edges']:.0f} B/edge", flush=True)
        if a.wal:
            w = row["wal"]
            print(f"     wal: all merged {row['merged_s']:.1f} s after the start; {w['merges']} merges, "
                  f"{w['fsyncs']} fsyncs, {w['waits']} ingests held before being logged", flush=True)
        if not a.no_recompute:
            with open(truth) as f, open(labels, "w") as out:
                seeds = [line.rstrip("\n").split("\t") for i, line in enumerate(f, 1) if i % 20 == 0]
            for i in range(0, len(seeds), 5000):
                c.call("label", labels=[dict(actor=k, verdict=v, source="analyst") for k, v in seeds[i:i + 5000]])
            rss_before = proc_status(p.pid, "VmRSS")
            before = {f: proc_status(p.pid, f) for f in ("RssAnon", "RssFile")}
            peaks, rstop = dict(before), threading.Event()
            rth = threading.Thread(target=rss_sampler, args=(p.pid, peaks, rstop), daemon=True)
            reset_peak(p.pid)
            rth.start()
            t0 = time.time()
            res = c.call("recompute", wait=True)["result"]
            row["recompute_s"] = time.time() - t0
            rstop.set()
            rth.join()
            row["recompute_extra_anon"] = peaks["RssAnon"] - before["RssAnon"]
            row["recompute_extra_file"] = peaks["RssFile"] - before["RssFile"]
            row["recompute_server_ms"] = res.get("total_ms")
            row["recompute_phases_ms"] = res.get("phases_ms")
            row["recompute_peak_rss"] = proc_status(p.pid, "VmHWM")
            row["recompute_extra_rss"] = row["recompute_peak_rss"] - rss_before
            print(f"     recompute {row['recompute_s']:.1f} s, peak {row['recompute_peak_rss'] / 2**20:,.0f} MiB, "
                  f"{row['recompute_extra_rss'] / row['edges']:.0f} B/edge above idle (own memory "
                  f"{row['recompute_extra_anon'] / row['edges']:.0f}, mapped store pages "
                  f"{row['recompute_extra_file'] / row['edges']:.0f})", flush=True)
    finally:
        if p.poll() is None:
            p.terminate()
            p.wait(timeout=120)
    shutil.rmtree(data, ignore_errors=True)
    for f in (obs, truth, labels):
        if os.path.exists(f):
            os.remove(f)
    row["load_after"] = os.getloadavg()[0]
    return row


def exponent(x1, y1, x2, y2):
    if not (x1 > 0 and x2 > x1 and y1 > 0 and y2 > 0):
        return None
    return math.log(y2 / y1) / math.log(x2 / x1)


def growth(b, per_edge):
    """Names the growth of a cost from the exponent b of cost ~ edges^b."""
    if b is None:
        return "?"
    if per_edge:  # a cost per edge: b ~ 0 is constant
        return "constant per edge" if abs(b) < 0.1 else ("falls per edge" if b < 0 else
                                                         ("logarithmic-ish" if b < 0.25 else "worse than logarithmic"))
    return "linear" if abs(b - 1) < 0.1 else ("sub-linear" if b < 1 else ("n log n-ish" if b < 1.25 else "super-linear"))


def report(a, rows):
    lines = ["| edges | observations | ingest obs/s (whole run) | new edges/s | B/edge on disk (live) | recompute s | "
             "recompute B/edge above idle (own + mapped store) | peak RSS ingest / recompute | load before / after |",
             "|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        rc = f"{r['recompute_s']:.1f}" if "recompute_s" in r else "—"
        rm = f"{r['recompute_extra_rss'] / r['edges']:.0f}" if "recompute_s" in r else "—"
        if "recompute_extra_anon" in r:
            rm += f" ({r['recompute_extra_anon'] / r['edges']:.0f} own + {r['recompute_extra_file'] / r['edges']:.0f} mapped)"
        pr = f"{r['ingest_peak_rss'] / 2**20:,.0f} / " + (f"{r['recompute_peak_rss'] / 2**20:,.0f} MiB" if "recompute_s" in r else "—")
        live = f" ({(r['used_bytes'] - r['free_bytes']) / r['edges']:.0f})" if r.get("free_bytes") is not None else ""
        lines.append(f"| {r['edges']:,} | {r['observations']:,} | {r['observations'] / r['ingest_s']:,.0f} | "
                     f"{r['edges'] / r['ingest_s']:,.0f} | {r['used_bytes'] / r['edges']:.0f}{live} | {rc} | {rm} | {pr} | "
                     f"{r['load_before']:.2f} / {r['load_after']:.2f} |")
    big = rows[-1]
    lines += ["", f"Throughput inside the largest run ({big['edges']:,} edges), in the window of ±20% around each mark:", "",
              "| at edges | observations/s | new edges/s | vs the first mark |", "|---:|---:|---:|---:|"]
    first = None
    for m, w in big["marks"].items():
        if not w:
            continue
        first = first or w["obs_s"]
        lines.append(f"| {int(m):,} | {w['obs_s']:,.0f} | {w['edges_s']:,.0f} | {w['obs_s'] / first:.2f}× |")
    ft, lt = big.get("first_tenth"), big.get("last_tenth")
    if ft and lt:
        lines += ["", f"First tenth of its edges {ft['obs_s']:,.0f} obs/s, last tenth {lt['obs_s']:,.0f} obs/s: "
                  f"**{lt['obs_s'] / ft['obs_s']:.2f}×**."]
    if len(rows) >= 2:
        r1, r2 = rows[0], rows[-1]
        x1, x2 = r1["edges"], r2["edges"]
        lines += ["", f"Growth from {x1:,} to {x2:,} edges (exponent b of cost ~ edges^b):", "",
                  "| cost | b | growth |", "|---|---:|---|"]
        items = [("ingest time per observation", r1["ingest_s"] / r1["observations"], r2["ingest_s"] / r2["observations"], True),
                 ("store bytes per edge", r1["used_bytes"] / x1, r2["used_bytes"] / x2, True)]
        if "recompute_s" in r1 and "recompute_s" in r2:
            items += [("recompute time (total)", r1["recompute_s"], r2["recompute_s"], False),
                      ("recompute time per edge", r1["recompute_s"] / x1, r2["recompute_s"] / x2, True),
                      ("recompute memory per edge", r1["recompute_extra_rss"] / x1, r2["recompute_extra_rss"] / x2, True)]
        for name, y1, y2, per_edge in items:
            b = exponent(x1, y1, x2, y2)
            lines.append(f"| {name} | {b:.2f} | {growth(b, per_edge)} |" if b is not None else f"| {name} | ? | ? |")
    return "\n".join(lines)


def curve(samples, bins=40):
    """Observations/s along a run, over bins of 1/40 of its edges (acknowledgements come a
    commit at a time: shorter windows show the commits, not the rate)."""
    top = samples[-1][1] if samples else 0
    xs, ys, j = [], [], 0
    for b in range(bins):
        lo, hi = top * b / bins, top * (b + 1) / bins
        while j < len(samples) and samples[j][1] < lo:
            j += 1
        k = j
        while k < len(samples) - 1 and samples[k][1] < hi:
            k += 1
        if k > j and samples[k][0] > samples[j][0]:
            xs.append((samples[j][1] + samples[k][1]) / 2)
            ys.append((samples[k][2] - samples[j][2]) / (samples[k][0] - samples[j][0]))
    return xs, ys


def plot(a, rows, name):
    path = os.path.join(a.out, name + ".png")
    big = rows[-1]
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        plt = None
    if plt:
        fig, ax = plt.subplots(1, 3, figsize=(15, 4.5))
        xs, ys = curve(big["samples"])
        ax[0].plot(xs, ys, "o-")
        ax[0].set_ylim(bottom=0)
        ax[0].set(xlabel="edges in the store", ylabel="observations/s acknowledged",
                  title=f"durable ingest along one run of {big['edges']:,} edges")
        e = [r["edges"] for r in rows]
        ax[1].loglog(e, [r["used_bytes"] / r["edges"] for r in rows], "o-", label="store B/edge")
        if all("recompute_s" in r for r in rows):
            ax[1].loglog(e, [r["recompute_extra_rss"] / r["edges"] for r in rows], "s-", label="recompute RSS B/edge")
            ax[2].loglog(e, [r["recompute_s"] for r in rows], "o-", label="recompute s")
        ax[2].loglog(e, [r["ingest_s"] for r in rows], "s-", label="ingest s")
        ax[1].set(xlabel="edges", title="bytes per edge")
        ax[2].set(xlabel="edges", ylabel="seconds", title="time")
        for x in ax[1:]:
            x.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        return path
    if shutil.which("gnuplot"):
        d = tempfile.mkdtemp()
        with open(os.path.join(d, "curve"), "w") as f:
            for x, y in zip(*curve(big["samples"])):
                f.write(f"{x} {y}\n")
        script = f"""set terminal pngcairo size 900,500 noenhanced
set output '{path}'
set title 'durable ingest along one run of {big["edges"]:,} edges (matplotlib not installed: gnuplot)'
set xlabel 'edges in the store'; set ylabel 'observations/s acknowledged'; set grid
set yrange [0:*]
plot '{d}/curve' u 1:2 w lp t 'repgraph ingest'
"""
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
        shutil.rmtree(d)
        return path
    print("scale: neither matplotlib (for /usr/bin/python3) nor gnuplot is installed: no plot", file=sys.stderr)
    return None


def main():
    a = parse_args()
    a.build = os.path.abspath(a.build)
    if a.wal:
        a.set = a.set + ["wal.enabled=1"]
    name = "scale-wal" if a.wal else "scale"
    os.makedirs(a.out, exist_ok=True)
    sizes = sorted(int(x) for x in a.sizes.split(",") if x)
    work = a.work or tempfile.mkdtemp(prefix="repgraph-scale-")
    os.makedirs(work, exist_ok=True)
    print(f"scale: sizes {sizes}, load average {os.getloadavg()[0]:.2f}, work in {work}", flush=True)
    t0 = time.time()
    rows = []
    try:
        for n in sizes:
            rows.append(run_size(a, work, n))
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)
    md = report(a, rows)
    head = (("ingest through the write-ahead log (wal.enabled=1); " if a.wal else "") +
            f"{os.cpu_count()} cores; server on CPU {SERVER_CPU}, `repgraph ingest` on CPU {CLIENT_CPU}; batches of "
            f"{a.batch} observations, {a.window} in flight; whole run {(time.time() - t0) / 60:.1f} min; "
            f"load average at the end {os.getloadavg()[0]:.2f}.\n\n")
    with open(os.path.join(a.out, name + ".md"), "w") as f:
        f.write(head + md + "\n")
    with open(os.path.join(a.out, name + ".json"), "w") as f:
        json.dump(rows, f, indent=1)
    png = plot(a, rows, name)
    print("\n" + head + md + (f"\n\nplot: {png}" if png else ""))


if __name__ == "__main__":
    main()
