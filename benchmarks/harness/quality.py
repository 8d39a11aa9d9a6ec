#!/usr/bin/python3
"""Quality harness: planted-truth mail graph -> real repgraphd -> held-out accuracy.

Generates traffic with benchmarks/gen_mail (known truth), starts repgraphd on a temporary
store, ingests it with the repgraph client, labels a stratified share of the truth as seeds,
recomputes, looks up every held-out actor and reports, per actor type, ROC AUC, precision
at k (k = number of bad held-out actors) and recall at 1% false positives, for repgraph
and for baselines computed on the same graph:
  degree      total degree, more = worse
  unseeded LP igraph label propagation without seeds; a community scores by its seeds' votes
  anomaly     repgraph's anomaly score alone
  SybilRank   trust walk from good seeds, ceil(log2 n) steps, degree-normalised (Cao et al.)
  plain PPR   undirected personalized PageRank from bad and from good seeds, bad/(bad+good):
              what repgraph would be without edge direction and kinds
and the victim leak: the mean score of honest addresses that received spam, next to that of
honest addresses that did not, for repgraph and plain PPR.
With --pseudonymise the server keeps identifiers as keyed pseudonyms (store.pseudonymise,
a fresh random key): the table must equal the run without it, and the harness counts the
ingested identifiers it can still find in the store file (data.mdb; 0 expected; without it,
the same search finds them, which shows it would).
Writes a Markdown table to stdout and a ROC plot (gnuplot PNG) with --png.
Run with Debian's interpreter: /usr/bin/python3 benchmarks/harness/quality.py [--help]
"""
import argparse, ipaddress, json, math, os, random, shutil, socket, struct, subprocess
import sys, tempfile, time

import igraph
import msgpack
import numpy as np


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "..", "build"),
                   help="build directory holding repgraphd, repgraph and benchmarks/gen_mail")
    p.add_argument("--messages", type=int, default=500000)
    p.add_argument("--users", type=int, default=90000)
    p.add_argument("--communities", type=int, default=900)
    p.add_argument("--spammers", type=int, default=4000)
    p.add_argument("--spam-ips", type=int, default=512)
    p.add_argument("--compromised", type=int, default=300)
    p.add_argument("--attack-edges", type=int, default=500)
    p.add_argument("--seed-share", type=float, default=0.05, help="share of the truth given as labels")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--png", help="write a ROC plot here")
    p.add_argument("--json", help="write the metrics here as JSON")
    p.add_argument("--pseudonymise", action="store_true",
                   help="run the server with store.pseudonymise = 1 (a random key) and search the "
                        "store file for the ingested identifiers afterwards")
    return p.parse_args()


# ---- talking to repgraphd ------------------------------------------------------------

class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.next_id = 0

    def call(self, op, **fields):
        self.next_id += 1
        body = msgpack.packb(dict(id=self.next_id, op=op, **fields), use_bin_type=True)
        self.sock.sendall(struct.pack(">I", len(body)) + body)
        return self.recv()

    def call_many(self, op, requests, window=256):
        """Pipelines one `op` request per field map in `requests` (window in flight); yields
        the replies in order. A reply with an error raises, like call()."""
        requests = iter(requests)
        in_flight, done = 0, False
        while True:
            buf = bytearray()
            while not done and in_flight < window:
                fields = next(requests, None)
                if fields is None:
                    done = True
                    break
                self.next_id += 1
                body = msgpack.packb(dict(id=self.next_id, op=op, **fields), use_bin_type=True)
                buf += struct.pack(">I", len(body)) + body
                in_flight += 1
            if buf:
                self.sock.sendall(buf)
            if not in_flight:
                return
            for _ in range(in_flight // 2 if not done else in_flight):
                yield self.recv()
                in_flight -= 1

    def recv(self):
        n = struct.unpack(">I", self._read(4))[0]
        reply = msgpack.unpackb(self._read(n), raw=False)
        if "error" in reply:
            raise RuntimeError(f"repgraphd: {reply['error']}")
        return reply

    def _read(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise RuntimeError("repgraphd closed the connection")
            buf += chunk
        return bytes(buf)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_server(build, workdir, settings=()):
    """Starts repgraphd on workdir/store and a free port (extra `--set KEY=VALUE` settings);
    returns (process, port) once the socket accepts, within 10 s."""
    port = free_port()
    log = open(os.path.join(workdir, "repgraphd.log"), "w")
    extra = [x for kv in settings for x in ("--set", kv)]
    proc = subprocess.Popen([os.path.join(build, "repgraphd"), "--data", os.path.join(workdir, "store"),
                             "--port", str(port), "--unix", "none", "--log-level", "warn",
                             "--set", "recompute.interval=0"] + extra, stderr=log)
    deadline = time.time() + 10
    while True:  # wait for the socket, bounded
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("repgraphd did not start; see " + log.name)
            time.sleep(0.02)


def plaintext_in_store(path, names):
    """How many of the actors' identifiers (the text after "type:") occur in the store file,
    case ignored: one pass per form (address-, IP-, net- and domain-like runs of bytes)."""
    import re
    wanted = {n.split(":", 1)[1].lower().encode() for n in names}
    data = open(path, "rb").read().lower()
    seen = set()
    for pattern in (rb"[a-z0-9._+=-]+@[a-z0-9.-]+", rb"[0-9a-f:.]+(?:/[0-9]+)?", rb"[a-z0-9_.-]+"):
        seen.update(m for m in re.findall(pattern, data) if m in wanted)
    return len(seen), len(wanted)


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


# ---- the same graph, for baselines -------------------------------------------------------

def net_of(ip):
    a = ipaddress.ip_address(ip)
    return str(ipaddress.ip_network(f"{ip}/{24 if a.version == 4 else 64}", strict=False))


def expand(o):
    """The edges (src, kind, dst) repgraphd makes of one observation (a decoded NDJSON line)."""
    s, ip = "address:" + o["sender"], "ip:" + o["client_ip"]
    yield s, "sent_from", ip
    yield ip, "in_net", "net:" + net_of(o["client_ip"])
    yield s, "uses_domain", "domain:" + o["sender"].rsplit("@", 1)[1]
    if o.get("helo"):
        yield ip, "helo", "domain:" + o["helo"]
    for r in o["recipients"]:
        yield s, "mailed", "address:" + r


def load_edges(path):
    """Expands observations the way repgraphd does; returns (names, src, dst) arrays."""
    index, names, src, dst = {}, [], [], []

    def vid(name):
        v = index.get(name)
        if v is None:
            v = index[name] = len(names)
            names.append(name)
        return v

    seen = set()

    def edge(a, kind, b):
        key = (a, kind, b)
        if key not in seen:  # the store keeps one edge per (src, kind, dst)
            seen.add(key)
            src.append(vid(a))
            dst.append(vid(b))

    with open(path) as f:
        for line in f:
            for a, kind, b in expand(json.loads(line)):
                edge(a, kind, b)
    return names, index, np.array(src), np.array(dst)


def sybilrank(n, src, dst, good_seeds):
    deg = np.bincount(src, minlength=n) + np.bincount(dst, minlength=n)
    deg = np.maximum(deg, 1).astype(float)
    trust = np.zeros(n)
    trust[list(good_seeds)] = 1.0 / len(good_seeds)
    for _ in range(int(math.ceil(math.log2(n)))):
        share = trust / deg
        trust = np.bincount(dst, weights=share[src], minlength=n) + np.bincount(src, weights=share[dst], minlength=n)
    return -(trust / deg)  # low degree-normalised trust = suspicious


def plain_ppr(n, src, dst, seeds):
    g = igraph.Graph(n=n, edges=list(zip(src.tolist(), dst.tolist())), directed=False)
    bad = [v for v, x in seeds.items() if x == "bad"]
    good = [v for v, x in seeds.items() if x == "good"]
    b = np.array(g.personalized_pagerank(directed=False, reset_vertices=bad))
    gd = np.array(g.personalized_pagerank(directed=False, reset_vertices=good))
    return (b + 1e-12) / (b + gd + 2e-12)


def unseeded_lp(n, src, dst, seeds, seed):
    random.seed(seed)
    g = igraph.Graph(n=n, edges=list(zip(src.tolist(), dst.tolist())), directed=False)
    g.simplify()
    membership = np.array(g.community_label_propagation().membership)
    k = membership.max() + 1
    bad = np.zeros(k)
    total = np.zeros(k)
    for v, verdict in seeds.items():
        total[membership[v]] += 1
        bad[membership[v]] += verdict == "bad"
    prior = sum(1 for x in seeds.values() if x == "bad") / max(1, len(seeds))
    return (bad[membership] + prior) / (total[membership] + 1)


# ---- metrics -------------------------------------------------------------------------

def roc(scores, labels):
    """ROC points (fpr, tpr) and AUC, ties handled by averaging (Mann-Whitney)."""
    s = np.asarray(scores, float)
    y = np.asarray(labels, bool)
    pos, neg = y.sum(), (~y).sum()
    if pos == 0 or neg == 0:
        return None, None, float("nan")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    ranks = np.empty(len(s))
    i = 0
    asc = np.argsort(s, kind="mergesort")
    sorted_s = s[asc]
    r = np.empty(len(s))
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        r[i:j + 1] = (i + j) / 2 + 1
        i = j + 1
    ranks[asc] = r
    auc = (ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg)
    tps = np.cumsum(y)
    fps = np.cumsum(~y)
    distinct = np.r_[np.where(np.diff(s))[0], len(s) - 1]
    return fps[distinct] / neg, tps[distinct] / pos, auc


def recall_at(fpr, tpr, max_fpr):
    """The best true-positive rate of a ROC curve at a false-positive rate of at most max_fpr."""
    if fpr is None:
        return float("nan")
    ok = fpr <= max_fpr
    return float(tpr[ok].max()) if ok.any() else 0.0


def metrics(scores, labels):
    fpr, tpr, auc = roc(scores, labels)
    y = np.asarray(labels, bool)
    k = int(y.sum())
    if fpr is None:
        return dict(auc=float("nan"), p_at_k=float("nan"), recall_at_1pct=float("nan"), n=len(y), bad=k)
    top = np.argsort(-np.asarray(scores, float), kind="mergesort")[:k]
    ok = fpr <= 0.01
    return dict(auc=auc, p_at_k=y[top].mean(), recall_at_1pct=float(tpr[ok].max()) if ok.any() else 0.0,
                n=len(y), bad=k, roc=(fpr, tpr))


# ---- main ------------------------------------------------------------------------------

def main():
    a = parse_args()
    build = os.path.abspath(a.build)
    work = tempfile.mkdtemp(prefix="repgraph-quality-")
    proc = None
    try:
        traffic, truth_path = os.path.join(work, "traffic.ndjson"), os.path.join(work, "truth.tsv")
        with open(traffic, "w") as out:
            subprocess.run([os.path.join(build, "benchmarks", "gen_mail"), "--messages", str(a.messages),
                            "--users", str(a.users), "--communities", str(a.communities),
                            "--spammers", str(a.spammers), "--spam-ips", str(a.spam_ips),
                            "--compromised", str(a.compromised), "--attack-edges", str(a.attack_edges),
                            "--seed", str(a.seed), "--start-ts", str(int(time.time())), "--truth", truth_path],
                           stdout=out, check=True)
        truth = dict(line.rstrip("\n").split("\t") for line in open(truth_path))
        names, index, src, dst = load_edges(traffic)
        truth = {k: v for k, v in truth.items() if k in index}  # only actors in the graph

        # Stratified split: seed_share of each (type, verdict) becomes labels.
        rng = random.Random(a.seed)
        seeds, held = {}, {}
        groups = {}
        for actor, verdict in sorted(truth.items()):
            groups.setdefault((actor.split(":", 1)[0], verdict), []).append(actor)
        for members in groups.values():
            rng.shuffle(members)
            k = max(1, round(a.seed_share * len(members)))
            seeds.update({m: truth[m] for m in members[:k]})
            held.update({m: truth[m] for m in members[k:]})

        settings = []
        if a.pseudonymise:  # a fresh key, private like the real one must be
            key_path = os.path.join(work, "pseudonym.key")
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, (os.urandom(32).hex() + "\n").encode())
            os.close(fd)
            settings = ["store.pseudonymise=1", "store.pseudonym_key_file=" + key_path]
        proc, port = start_server(build, work, settings)
        t0 = time.time()
        subprocess.run([os.path.join(build, "repgraph"), "-p", str(port), "ingest", "--batch", "2000", traffic],
                       check=True, stdout=subprocess.DEVNULL)
        ingest_s = time.time() - t0
        c = Client(port)
        items = [dict(actor=k, verdict=v, source="analyst") for k, v in seeds.items()]
        for i in range(0, len(items), 5000):
            c.call("label", labels=items[i:i + 5000])
        t0 = time.time()
        result = c.call("recompute", wait=True)["result"]
        recompute_s = time.time() - t0
        thresholds = c.call("status")["generation"]["thresholds"]
        held_list = sorted(held)
        rep, anomaly = {}, {}
        for i in range(0, len(held_list), 2000):
            for r in c.call("lookup", actors=held_list[i:i + 2000])["results"]:
                rep[r["actor"]] = r["reputation"]
                anomaly[r["actor"]] = r["anomaly"]
        rss = peak_rss_kib(proc.pid)

        n = len(names)
        seed_v = {index[k]: v for k, v in seeds.items()}
        deg = np.bincount(src, minlength=n) + np.bincount(dst, minlength=n)
        sr = sybilrank(n, src, dst, [v for v, x in seed_v.items() if x == "good"])
        lp = unseeded_lp(n, src, dst, seed_v, a.seed)
        ppr = plain_ppr(n, src, dst, seed_v)
        methods = {
            "repgraph": lambda k: rep[k],
            "degree only": lambda k: deg[index[k]],
            "unseeded LP": lambda k: lp[index[k]],
            "anomaly only": lambda k: anomaly[k],
            "SybilRank": lambda k: sr[index[k]],
            "plain PPR": lambda k: ppr[index[k]],
        }
        types = ["address", "ip", "net", "domain", "all"]
        table = {}
        for t in types:
            actors = [k for k in held_list if t == "all" or k.startswith(t + ":")]
            labels = [held[k] == "bad" for k in actors]
            for m, f in methods.items():
                table[(t, m)] = metrics([f(k) for k in actors], labels)

        print(f"graph: {n} actors, {len(src)} edges; truth in graph: {len(truth)} actors "
              f"({sum(1 for v in truth.values() if v == 'bad')} bad); seeds: {len(seeds)} "
              f"({a.seed_share:.0%} of each type and verdict); held out: {len(held)}")
        print(f"ingest {ingest_s:.1f} s; recompute {recompute_s:.2f} s (server: {result['total_ms']:.0f} ms, "
              f"phases {json.dumps({k: round(v) for k, v in result['phases_ms'].items()})}); "
              f"server peak RSS {rss / 1024:.0f} MiB (timings against peers: benchmarks/run.sh)")
        print("check thresholds (held out %d good, %d bad addresses): %s\n" % (
            thresholds["held_out_good"], thresholds["held_out_bad"], "; ".join(
                "%s %.4f %s (fpr <= %.5f, tpr %.3f)" % (
                    l, thresholds[l]["at"], "derived" if thresholds[l]["derived"] else "fixed",
                    thresholds[l]["estimated_fpr"], thresholds[l]["estimated_tpr"])
                for l in ("tempfail", "quarantine", "reject"))))
        print("| type | held out (bad) | method | ROC AUC | precision@k | recall@1% FPR |")
        print("|---|---|---|---:|---:|---:|")
        for t in types:
            for m in methods:
                x = table[(t, m)]
                print(f"| {t} | {x['n']} ({x['bad']}) | {m} | {x['auc']:.3f} | {x['p_at_k']:.3f} | {x['recall_at_1pct']:.3f} |")
        # The victim leak: honest held-out addresses that received spam vs those that did not.
        bad_v = np.zeros(n, bool)
        for k, v in truth.items():
            if v == "bad":
                bad_v[index[k]] = True
        victim = np.zeros(n, bool)
        victim[dst[bad_v[src] & np.array([names[d].startswith("address:") for d in dst])]] = True
        honest = [k for k in held_list if k.startswith("address:") and held[k] == "good"]
        hit = [k for k in honest if victim[index[k]]]
        miss = [k for k in honest if not victim[index[k]]]
        print(f"\nvictim leak — mean score of honest addresses that received spam ({len(hit)}) "
              f"vs that did not ({len(miss)}):")
        for m in ["repgraph", "plain PPR"]:
            f = methods[m]
            print(f"  {m}: {np.mean([f(k) for k in hit]):.3f} vs {np.mean([f(k) for k in miss]):.3f}")
        found, searched = plaintext_in_store(os.path.join(work, "store", "data.mdb"), names)
        print(f"\n{'pseudonymised' if a.pseudonymise else 'in the clear'}: {found} of the {searched} "
              f"identifiers (addresses, domains, IPs, nets) found in data.mdb")
        if a.json:
            json.dump({f"{t}/{m}": {k: v for k, v in x.items() if k != "roc"} for (t, m), x in table.items()},
                      open(a.json, "w"), indent=1)
        if a.png:
            plot(table, a.png, work)
    finally:
        if proc:
            proc.terminate()
            proc.wait(30)
        shutil.rmtree(work, ignore_errors=True)


def plot(table, png, work):
    files = []
    for m in ["repgraph", "plain PPR", "SybilRank", "unseeded LP", "degree only", "anomaly only"]:
        x = table[("all", m)]
        if "roc" not in x:
            continue
        path = os.path.join(work, m.replace(" ", "_") + ".dat")
        with open(path, "w") as f:
            f.write("0 0\n")
            for fp, tp in zip(*x["roc"]):
                f.write(f"{fp} {tp}\n")
        files.append((path, f"{m} (AUC {x['auc']:.3f})"))
    script = [f"set terminal pngcairo size 800,600", f"set output '{png}'",
              "set title 'repgraph held-out ROC, all actor types'", "set xlabel 'false positive rate'",
              "set ylabel 'true positive rate'", "set key bottom right", "set grid",
              "plot " + ", ".join(f"'{p}' with lines lw 2 title '{t}'" for p, t in files)
              + ", x with lines dt 2 lc 'gray' notitle"]
    subprocess.run(["gnuplot"], input="\n".join(script), text=True, check=True)


if __name__ == "__main__":
    main()
