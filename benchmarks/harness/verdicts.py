#!/usr/bin/python3
"""Verdict harness: `check` judged per message, through the real server, on the planted and
the hard benchmark at several seed shares.

Per case (planted: gen_mail's original traffic; hard: gen_mail --hard, with legitimate bulk
senders, freemail spammers on the providers' MTAs, compromised organisation accounts, aged
spammer accounts and newcomers, and 5% wrong user spam reports) the traffic is generated once with its truth (per actor: verdict and
case; per message: spam or ham and the sender's case) and ingested once into repgraphd; then,
per seed share, a copy of that store gets gen_mail's seed labels through the `label` op, is
recomputed, and
  - a uniform sample of the messages whose sender is not a seed is asked with `check`
    (sender, client_ip, helo, recipients, ts), and the verdicts (accept / tempfail /
    quarantine / reject) are counted against the messages' truth, overall and by case, with
    the actor role that decided (decided_by) and the reasons it gave;
  - every actor that is not a seed is looked up, and the served reputation is compared, by
    ROC AUC and recall at 0.1% and 1% false positives, with baselines on the same graph:
    anomaly only (repgraph's anomaly score), degree only, plain PPR and SybilRank (seeded
    propagation without edge kinds), unseeded label propagation (quality.py's), and a
    scikit-learn GradientBoostingClassifier trained on the seeds with per-actor features
    computed here from the same edges; and the band: how many honest actors, legitimate bulk
    senders and abusive actors the served `bad` band holds.
One table per run on stdout; all of it in --out .md and .json.
Run with Debian's interpreter: /usr/bin/python3 benchmarks/harness/verdicts.py [--help]
"""
import argparse, collections, hashlib, json, os, random, shutil, subprocess, sys, tempfile, time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality import (Client, expand, metrics, peak_rss_kib, plain_ppr, recall_at, start_server,
                     sybilrank, unseeded_lp)

HERE = os.path.dirname(os.path.abspath(__file__))
VERDICTS = ["accept", "tempfail", "quarantine", "reject"]
KINDS = ["mailed", "sent_from", "uses_domain", "in_net", "helo"]
TYPES = ["address", "ip", "net", "domain"]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(HERE, "..", "..", "build"),
                   help="build directory holding repgraphd, repgraph and benchmarks/gen_mail")
    p.add_argument("--cases", default="planted,hard", help="planted, hard or both")
    p.add_argument("--seeds", default="0.01,0.05,0.2", help="seed shares, one run each per case")
    p.add_argument("--messages", type=int, default=300000)
    p.add_argument("--users", type=int, default=54000)
    p.add_argument("--communities", type=int, default=540)
    p.add_argument("--spammers", type=int, default=2400)
    p.add_argument("--spam-ips", type=int, default=384)
    p.add_argument("--compromised", type=int, default=180)
    p.add_argument("--attack-edges", type=int, default=300)
    p.add_argument("--label-noise", type=float, help="share of wrong user spam reports (gen_mail's default: 0 planted, 0.05 hard)")
    p.add_argument("--check-sample", type=int, default=50000, help="held-out messages asked with check per run")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="repgraphd configuration for every run (e.g. check.tempfail=0.7); repeatable")
    p.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn reference")
    p.add_argument("--dump", metavar="DIR",
                   help="keep each run's feature table and truth (features-CASE-SHARE.tsv, "
                        "truth-CASE-SHARE.json: names, truly bad, seeds, held out) for offline models")
    p.add_argument("--out", default=os.path.join(HERE, "..", "results", "verdicts"),
                   help="writes OUT.md and OUT.json")
    return p.parse_args()


# ---- the benchmark graph -----------------------------------------------------------------

def gen_args(a, case):
    args = ["--messages", a.messages, "--users", a.users, "--communities", a.communities,
            "--spammers", a.spammers, "--spam-ips", a.spam_ips, "--compromised", a.compromised,
            "--attack-edges", a.attack_edges, "--seed", a.seed]
    if case == "hard":
        args.append("--hard")
    if a.label_noise is not None:
        args += ["--label-noise", a.label_noise]
    return [str(x) for x in args]


def read_tsv(path):
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f]


class Graph:
    """The traffic and what repgraphd makes of it: actors, distinct edges by kind with their
    message counts, first and last times, and per-actor features for the reference model."""

    def __init__(self, traffic, actors_tsv, messages_tsv, now):
        rows = read_tsv(actors_tsv)
        self.names = [r[0] for r in rows]
        self.index = {n: i for i, n in enumerate(self.names)}
        self.bad = np.array([r[1] == "bad" for r in rows])
        self.case = [r[2] for r in rows]
        self.type = [n.split(":", 1)[0] for n in self.names]
        self.now = now
        n = len(self.names)
        edges, first, last = {}, np.full(n, np.inf), np.zeros(n)
        sent = np.zeros(n)
        self.obs = []
        with open(traffic) as f:
            for line in f:
                o = json.loads(line)
                self.obs.append(o)
                ts = o["ts"]
                sent[self.index["address:" + o["sender"]]] += 1
                for s, kind, d in expand(o):
                    key = (self.index[s], KINDS.index(kind), self.index[d])
                    e = edges.get(key)
                    if e is None:
                        edges[key] = [1, ts, ts]
                    else:
                        e[0] += 1
                        e[1] = min(e[1], ts)
                        e[2] = max(e[2], ts)
                    for v in key[0], key[2]:
                        first[v] = min(first[v], ts)
                        last[v] = max(last[v], ts)
        keys = np.array(list(edges.keys()), dtype=np.int64)
        vals = np.array(list(edges.values()), dtype=np.float64)
        self.src, self.kind, self.dst = keys[:, 0], keys[:, 1], keys[:, 2]
        self.count = vals[:, 0]
        self.msg_truth = read_tsv(messages_tsv)
        assert len(self.msg_truth) == len(self.obs), "message truth and traffic differ in length"
        self.first, self.last, self.sent = first, last, sent
        self.base = self._base_features()

    def _base_features(self):
        n, src, dst, kind = len(self.names), self.src, self.dst, self.kind
        cols, names = [], []

        def col(name, x):
            names.append(name)
            cols.append(np.asarray(x, float))

        for t in TYPES:
            col("is_" + t, [x == t for x in self.type])
        for k, kname in enumerate(KINDS):
            m = kind == k
            col(f"out_{kname}", np.bincount(src[m], minlength=n))
            col(f"in_{kname}", np.bincount(dst[m], minlength=n))
            col(f"out_{kname}_msgs", np.bincount(src[m], weights=self.count[m], minlength=n))
            col(f"in_{kname}_msgs", np.bincount(dst[m], weights=self.count[m], minlength=n))
        mailed = kind == KINDS.index("mailed")
        ms, md, mc = src[mailed], dst[mailed], self.count[mailed]
        pairs = set(zip(ms.tolist(), md.tolist()))
        back = np.array([(d, s) in pairs for s, d in zip(ms.tolist(), md.tolist())], float)
        fanout = np.maximum(np.bincount(ms, minlength=n), 1)
        col("reciprocity", np.bincount(ms, weights=back, minlength=n) / fanout)
        col("repeat_recipients", np.bincount(ms, weights=(mc > 1).astype(float), minlength=n) / fanout)
        col("sent_messages", self.sent)
        col("age_h", (self.now - self.first) / 3600)
        col("active_h", (self.last - self.first) / 3600)
        col("msgs_per_active_h", self.sent / np.maximum((self.last - self.first) / 3600, 1))
        # One hop: for a sender, how shared its IPs and its domain are.
        sf, ud = kind == KINDS.index("sent_from"), kind == KINDS.index("uses_domain")
        senders_per = np.bincount(dst[sf | ud], minlength=n)
        ip_share = np.zeros(n)
        np.maximum.at(ip_share, src[sf], senders_per[dst[sf]])
        dom_share = np.zeros(n)
        np.maximum.at(dom_share, src[ud], senders_per[dst[ud]])
        col("max_senders_of_its_ips", ip_share)
        col("senders_of_its_domain", dom_share)
        self.feature_names = names
        return np.column_stack(cols)

    def seed_features(self, seeds):
        """Per actor and edge kind (both directions), how many neighbours are labelled bad and
        good: one step of propagation, from the other actors' labels only."""
        n = len(self.names)
        lab = np.zeros(n)
        for v, verdict in seeds.items():
            lab[v] = 1 if verdict == "bad" else -1
        cols, names = [], []
        for k, kname in enumerate(KINDS):
            m = self.kind == k
            for direction, (a, b) in (("out", (self.src, self.dst)), ("in", (self.dst, self.src))):
                am, bm = a[m], b[m]
                cols.append(np.bincount(am, weights=(lab[bm] > 0).astype(float), minlength=n))
                cols.append(np.bincount(am, weights=(lab[bm] < 0).astype(float), minlength=n))
                names += [f"{direction}_{kname}_bad_seeds", f"{direction}_{kname}_good_seeds"]
        return np.column_stack(cols), names


def read_features(path, g):
    """repgraphd's feature table (model.features_out): per actor index, its label, fold, the
    propagation score and the feature vector the model saw (NaN = does not apply)."""
    with open(path) as f:
        head = f.readline().rstrip("\n").split("\t")
        rows = {}
        for line in f:
            c = line.rstrip("\n").split("\t")
            v = g.index.get(c[1] + ":" + c[0]) if not c[0].startswith(c[1] + ":") else g.index.get(c[0])
            if v is None:
                v = g.index.get(c[0])
            if v is None:
                continue
            rows[v] = [float(x) if x else np.nan for x in c[5:]]
    return head[5:], rows


def gbc_on_features(names, rows, seeds, held, seed):
    """scikit-learn's gradient boosting on exactly the features repgraph's model saw (a
    labelled actor's row from its out-of-fold propagation), trained on the same seeds."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    train = [v for v in sorted(seeds) if v in rows]
    x = np.array([rows[v] for v in train])
    y = np.array([seeds[v] == "bad" for v in train])
    t0 = time.time()
    model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, max_depth=5,
                                           random_state=seed)
    model.fit(x, y)
    test = [v for v in held if v in rows]
    p = model.predict_proba(np.array([rows[v] for v in test]))[:, 1] if test else []
    return dict(zip(test, p)), time.time() - t0


def gbc_scores(g, seeds, held, seed):
    from sklearn.ensemble import GradientBoostingClassifier
    extra, extra_names = g.seed_features(seeds)
    x = np.hstack([g.base, extra])
    train = sorted(seeds)
    y = np.array([seeds[v] == "bad" for v in train])
    t0 = time.time()
    model = GradientBoostingClassifier(n_estimators=200, max_depth=3, learning_rate=0.1,
                                       subsample=0.8, random_state=seed)
    model.fit(x[train], y)
    p = model.predict_proba(x[held])[:, 1]
    names = g.feature_names + extra_names
    top = sorted(zip(model.feature_importances_, names), reverse=True)[:8]
    return dict(zip(held, p)), time.time() - t0, [(nm, round(float(w), 3)) for w, nm in top]


# ---- the server ----------------------------------------------------------------------------

def ingest_base(a, build, work, traffic):
    """Ingests the traffic once into work/base/store; returns the seconds it took."""
    base = os.path.join(work, "base")
    os.makedirs(base)
    proc, port = start_server(build, base, a.set)
    try:
        t0 = time.time()
        subprocess.run([os.path.join(build, "repgraph"), "-p", str(port), "ingest", "--batch", "2000",
                        traffic], check=True, stdout=subprocess.DEVNULL)
        return time.time() - t0
    finally:
        proc.terminate()
        proc.wait(60)


def check_request(o):
    return dict(sender=o["sender"], client_ip=o["client_ip"], helo=o.get("helo", ""),
                recipients=o["recipients"], ts=o["ts"])


def deciding_reasons(reply):
    """The reasons (code, actor or None) of the actor that decided a check, or ()."""
    role = reply.get("decided_by")
    for x in reply.get("actors", []):
        if x["role"] == role:
            return tuple((r["code"], r.get("actor"), r.get("value")) for r in (x.get("reasons") or []))
    return ()


# ---- one run -------------------------------------------------------------------------------

def run(a, build, work, case, share, g, traffic, ingest_s):
    gen = os.path.join(build, "benchmarks", "gen_mail")
    labels_csv = os.path.join(work, f"labels-{case}-{share}.csv")
    subprocess.run([gen] + gen_args(a, case) + ["--start-ts", str(g.now), "--labels", labels_csv,
                                               "--label-share", str(share)],
                   stdout=subprocess.DEVNULL, check=True)
    labels = [line.rstrip("\n").split(",") for line in open(labels_csv)][1:]
    seeds = {g.index[actor]: verdict for actor, verdict, _ in labels}
    wrong = sum((verdict == "bad") != g.bad[v] for v, verdict in seeds.items())
    held = [v for v in range(len(g.names)) if v not in seeds]

    rundir = os.path.join(work, f"run-{case}-{share}")
    os.makedirs(rundir)
    shutil.copytree(os.path.join(work, "base", "store"), os.path.join(rundir, "store"))
    features_tsv = os.path.join(rundir, "features.tsv")
    proc, port = start_server(build, rundir, list(a.set) + [f"model.features_out={features_tsv}"])
    try:
        c = Client(port)
        items = [dict(actor=actor, verdict=verdict, source=source) for actor, verdict, source in labels]
        for i in range(0, len(items), 5000):
            c.call("label", labels=items[i:i + 5000])
        t0 = time.time()
        result = c.call("recompute", wait=True)["result"]
        recompute_s = time.time() - t0

        # Messages whose sender is not a seed; a uniform sample of them is checked.
        seed_names = {g.names[v] for v in seeds}
        eligible = [i for i, o in enumerate(g.obs) if "address:" + o["sender"] not in seed_names]
        rng = random.Random(a.seed)
        sample = sorted(rng.sample(eligible, min(a.check_sample, len(eligible))))
        t0 = time.time()
        replies = list(c.call_many("check", (check_request(g.obs[i]) for i in sample)))
        check_s = time.time() - t0

        rep, anomaly, band = {}, {}, {}
        held_names = [g.names[v] for v in held]
        for i in range(0, len(held_names), 2000):
            for r in c.call("lookup", actors=held_names[i:i + 2000])["results"]:
                v = g.index[r["actor"]]
                rep[v] = r["reputation"] if r["reputation"] is not None else 0.5
                anomaly[v] = r["anomaly"] if r["anomaly"] is not None else 0.0
                band[v] = r["band"]
        status = c.call("status")
        rss = peak_rss_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(60)

    out = dict(case=case, seed_share=share, actors=len(g.names), edges=len(g.src), messages=len(g.obs),
               seeds=len(seeds), seeds_bad=sum(v == "bad" for v in seeds.values()), wrong_labels=wrong,
               held_out_actors=len(held), eligible_messages=len(eligible), checked=len(sample),
               ingest_s=round(ingest_s, 1), recompute_s=round(recompute_s, 2),
               recompute_server_ms=result.get("total_ms"), check_s=round(check_s, 1),
               checks_per_s=round(len(sample) / check_s) if check_s else None,
               server_peak_rss_mib=round(rss / 1024))
    out["verdicts"] = verdict_tables(g, sample, replies)
    out["model"] = status.get("model")
    out["phases_ms"] = result.get("phases_ms")
    feats = read_features(features_tsv, g) if os.path.exists(features_tsv) else None
    if a.dump:
        dump_run(a.dump, case, share, g, seeds, held, features_tsv)
    out["actors_quality"], out["gbc"] = actor_tables(a, g, seeds, held, rep, anomaly, feats)
    out["bands"] = band_table(g, held, band)
    out["served_calibration"] = served_calibration(g, held, rep)
    return out


def dump_run(d, case, share, g, seeds, held, features_tsv):
    os.makedirs(d, exist_ok=True)
    if os.path.exists(features_tsv):
        shutil.copy(features_tsv, os.path.join(d, f"features-{case}-{share}.tsv"))
    with open(os.path.join(d, f"truth-{case}-{share}.json"), "w") as f:
        json.dump(dict(names=g.names, bad=[bool(b) for b in g.bad], seeds={g.names[v]: s for v, s in seeds.items()},
                       held=[g.names[v] for v in held]), f)


def served_calibration(g, held, rep):
    """Per decile of the served reputation, over every held-out actor (the truth of all of
    them is known, not only of the labels): mean reputation, share truly bad, count."""
    rows = [dict(low=b / 10, n=0, predicted=0.0, bad=0) for b in range(10)]
    for v in held:
        x = rows[min(int(rep[v] * 10), 9)]
        x["n"] += 1
        x["predicted"] += rep[v]
        x["bad"] += bool(g.bad[v])
    for x in rows:
        if x["n"]:
            x["predicted"], x["observed"] = x["predicted"] / x["n"], x["bad"] / x["n"]
    return rows


def pseudonym_index(names, settings):
    """With --set store.pseudonymise=1, reasons name actors by pseudonym: the map pseudonym ->
    vertex, made the way anyone holding the key can, by hashing every known name (README,
    Pseudonymised identifiers). Empty otherwise."""
    conf = dict(kv.split("=", 1) for kv in settings if "=" in kv)
    if conf.get("store.pseudonymise") != "1":
        return {}
    key = bytes.fromhex(open(conf["store.pseudonym_key_file"]).read().strip())
    return {n.split(":", 1)[0] + ":~" + hashlib.blake2b(n.encode(), digest_size=16, key=key).hexdigest(): v
            for v, n in enumerate(names)}


def verdict_tables(g, sample, replies):
    rows = collections.OrderedDict()

    def add(key, verdict, reply):
        r = rows.setdefault(key, dict(n=0, **{v: 0 for v in VERDICTS}, decided_by=collections.Counter(),
                                          reasons=collections.Counter(), via=collections.Counter(),
                                          known=0, score_sum=0.0))
        r["n"] += 1
        r[verdict] += 1
        r["known"] += bool(reply.get("known"))
        r["score_sum"] += reply["score"]
        if verdict != "accept" if key[0] == "ham" else verdict == "accept":  # the mistakes
            r["decided_by"][reply.get("decided_by") or "none"] += 1
            for code, actor, value in deciding_reasons(reply):
                r["reasons"][code] += 1
                if code == "bad_neighbour":  # the neighbour most of its bad reputation came through
                    v = g.index.get(actor or "", g.by_pseudonym.get(actor or ""))
                    who = f"{actor.split(':', 1)[0]} {g.case[v]}" if v is not None else "a forgotten actor"
                    r["via"][who if (value or 0) >= 0.5 else "many neighbours"] += 1

    for i, reply in zip(sample, replies):
        _, truth, case = g.msg_truth[i]
        add((truth, "all"), reply["verdict"], reply)
        if truth == "ham" and case != "compromised":  # a compromised account's own mail aside
            add((truth, "all but compromised senders"), reply["verdict"], reply)
        add((truth, case), reply["verdict"], reply)
    for r in rows.values():
        r["mean_score"] = round(r.pop("score_sum") / r["n"], 4)
    order = sorted(rows, key=lambda k: (k[0] != "ham", not k[1].startswith("all"), -rows[k]["n"]))
    return [dict(truth=k[0], case=k[1], **{f: (dict(v.most_common()) if isinstance(v, collections.Counter) else v)
                                            for f, v in rows[k].items()}) for k in order]


def actor_tables(a, g, seeds, held, rep, anomaly, feats=None):
    n = len(g.names)
    deg = np.bincount(g.src, minlength=n) + np.bincount(g.dst, minlength=n)
    gbc = None
    methods = {"repgraph": rep, "anomaly only": anomaly,
               "degree only": {v: deg[v] for v in held}}
    if feats:
        names, rows = feats
        col = names.index("propagated")
        methods["propagation alone"] = {v: (rows[v][col] if v in rows and not np.isnan(rows[v][col]) else 0.5)
                                        for v in held}
    src, dst = g.src, g.dst
    ppr = plain_ppr(n, src, dst, seeds)
    methods["plain PPR"] = {v: ppr[v] for v in held}
    sr = sybilrank(n, src, dst, [v for v, x in seeds.items() if x == "good"])
    methods["SybilRank"] = {v: sr[v] for v in held}
    lp = unseeded_lp(n, src, dst, seeds, a.seed)
    methods["unseeded LP"] = {v: lp[v] for v in held}
    if not a.no_sklearn:
        scores, fit_s, top = gbc_scores(g, seeds, held, a.seed)
        methods["sklearn GBC"] = scores
        gbc = dict(fit_s=round(fit_s, 1), top_features=top, trained_on=len(seeds))
        if feats:
            fs, fit2 = gbc_on_features(feats[0], feats[1], seeds, held, a.seed)
            methods["sklearn GB on repgraph's features"] = {v: fs.get(v, 0.5) for v in held}
            gbc["on_features_fit_s"] = round(fit2, 1)
    table = []
    for t in TYPES + ["all"]:
        actors = [v for v in held if t == "all" or g.type[v] == t]
        labels = [bool(g.bad[v]) for v in actors]
        for m, s in methods.items():
            x = metrics([s[v] for v in actors], labels)
            fpr, tpr = x.get("roc", (None, None))
            table.append(dict(type=t, method=m, n=x["n"], bad=x["bad"], auc=x["auc"],
                              recall_at_0_1pct=recall_at(fpr, tpr, 0.001),
                              recall_at_1pct=x["recall_at_1pct"]))
    return table, gbc


def band_table(g, held, band):
    groups = collections.OrderedDict()
    for v in held:
        key = ("bad" if g.bad[v] else "good", g.type[v], g.case[v])
        r = groups.setdefault(key, collections.Counter())
        r[band.get(v) or "none"] += 1
    return [dict(truth=k[0], type=k[1], case=k[2], n=sum(c.values()), **dict(c))
            for k, c in sorted(groups.items())]


# ---- reporting -----------------------------------------------------------------------------

def pct(x, n):
    return f"{100 * x / n:.2f}% ({x})" if n else "-"


def render(r):
    lines = [f"### {r['case']}, {r['seed_share']:.0%} seeds",
             "",
             f"{r['messages']:,} messages, {r['actors']:,} actors, {r['edges']:,} edges; "
             f"{r['seeds']:,} seeds ({r['seeds_bad']:,} bad, {r['wrong_labels']} of them wrong); "
             f"{r['held_out_actors']:,} actors held out; {r['checked']:,} of the "
             f"{r['eligible_messages']:,} messages whose sender is not a seed checked "
             f"({r['checks_per_s']:,}/s); recompute {r['recompute_s']} s.",
             "",
             "| messages | checked | accept | tempfail | quarantine | reject | not accepted | mistakes decided by; bad mass through |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for x in r["verdicts"]:
        n = x["n"]
        wrong = n - x["accept"] if x["truth"] == "ham" else x["accept"]
        by = ", ".join(f"{k} {v}" for k, v in list(x["decided_by"].items())[:3]) if wrong else ""
        name = f"**{x['truth']}, {x['case']}**" if x["case"].startswith("all") else f"{x['truth']}: {x['case']}"
        via = "; " + ", ".join(f"{k} {v}" for k, v in list(x["via"].items())[:2]) if x["via"] else ""
        lines.append(f"| {name} | {n:,} | " + " | ".join(pct(x[v], n) for v in VERDICTS)
                     + f" | {pct(n - x['accept'], n)} | {by}{via} |")
    lines += ["", "| method | address AUC | address recall@0.1% FPR | address recall@1% FPR | all AUC | all recall@0.1% FPR |",
              "|---|---:|---:|---:|---:|---:|"]
    by = {(x["type"], x["method"]): x for x in r["actors_quality"]}
    for m in dict.fromkeys(x["method"] for x in r["actors_quality"]):
        ad, al = by[("address", m)], by[("all", m)]
        lines.append(f"| {m} | {ad['auc']:.3f} | {ad['recall_at_0_1pct']:.3f} | {ad['recall_at_1pct']:.3f} | "
                     f"{al['auc']:.3f} | {al['recall_at_0_1pct']:.3f} |")
    honest = [x for x in r["bands"] if x["truth"] == "good"]
    bad = [x for x in r["bands"] if x["truth"] == "bad"]
    hb, hn = sum(x.get("bad", 0) for x in honest), sum(x["n"] for x in honest)
    bb, bn = sum(x.get("bad", 0) for x in bad), sum(x["n"] for x in bad)
    bulk = [x for x in honest if x["case"] == "bulk" and x["type"] == "address"]
    kb, kn = sum(x.get("bad", 0) for x in bulk), sum(x["n"] for x in bulk)
    lines += ["", f"`bad` band (held-out actors): honest {pct(hb, hn)} of {hn:,}; legitimate bulk senders "
              f"{pct(kb, kn)} of {kn}; abusive {pct(bb, bn)} of {bn:,}."]
    worst = sorted((x for x in honest if x.get("bad")), key=lambda x: -x["bad"])[:4]
    if worst:
        lines.append("Honest actors in the `bad` band by case: " +
                     "; ".join(f"{x['type']} {x['case']} {x['bad']} of {x['n']}" for x in worst) + ".")
    lines.append("Abusive addresses in the `bad` band: " + "; ".join(
        f"{x['case']} {pct(x.get('bad', 0), x['n'])} of {x['n']:,}" for x in bad if x["type"] == "address") + ".")
    m = r.get("model")
    if m and m["state"] != "serving":
        lines.append(f"Model: {m['state']} ({m['note']}); the propagation is served.")
    elif m:
        q, p = m["held_out"], m["propagation_alone"]
        lines.append(f"Model: {m['state']}{' (' + m['note'] + ')' if m['note'] else ''}; trained on "
                     f"{m['trained_on']:,} of {m['bad_labels'] + m['good_labels']:,} labels, {m['folds']} folds; "
                     f"out-of-fold AUC {q['auc']:.4f} (propagation alone {p['auc']:.4f}), PR-AUC {q['pr_auc']:.4f}, "
                     f"recall {q['recall_at_0_1pct_fpr']:.3f} at 0.1% FPR, Brier {q['brier']:.4f}, ECE {m['ece']:.4f}; "
                     f"phases (ms) " + ", ".join(f"{k} {v:.0f}" for k, v in (r.get("phases_ms") or {}).items()) + ".")
        dec = [d for d in m["deciles"] if d["n"]]
        lines.append("Calibration per decile of the out-of-fold prediction (predicted → observed, n): " +
                     "; ".join(f"{d['predicted']:.2f} → {d['observed']:.2f} ({d['n']})" for d in dec) + ".")
        lines.append("Top features: " + ", ".join(f"{t['feature']} {t['importance']:.3f}" for t in m["top_features"]) + ".")
    cal = [x for x in r.get("served_calibration", []) if x["n"]]
    if cal:
        lines.append("Served reputation per decile, every held-out actor (mean → share truly bad, n): " +
                     "; ".join(f"{x['low']:.1f}–{x['low'] + 0.1:.1f}: {x['predicted']:.2f} → {x['observed']:.2f} ({x['n']:,})"
                               for x in cal) + ".")
    if r.get("gbc"):
        lines.append(f"sklearn GBC: trained on {r['gbc']['trained_on']:,} seeds in {r['gbc']['fit_s']} s; top features "
                     + ", ".join(f"{k} {v}" for k, v in r["gbc"]["top_features"][:5]) + ".")
    return "\n".join(lines) + "\n"


def main():
    a = parse_args()
    build = os.path.abspath(a.build)
    cases = a.cases.split(",")
    shares = [float(x) for x in a.seeds.split(",")]
    for case in cases:
        if case not in ("planted", "hard"):
            sys.exit(f"verdicts: unknown case {case!r} (planted, hard)")
    work = tempfile.mkdtemp(prefix="repgraph-verdicts-")
    started, results = time.time(), []
    try:
        for case in cases:
            now = int(time.time())
            traffic, actors, msgs = (os.path.join(work, f"{n}-{case}") for n in ("traffic", "actors", "messages"))
            with open(traffic, "w") as out:
                subprocess.run([os.path.join(build, "benchmarks", "gen_mail")] + gen_args(a, case)
                               + ["--start-ts", str(now), "--actors", actors, "--message-truth", msgs],
                               stdout=out, check=True)
            g = Graph(traffic, actors, msgs, now)
            g.by_pseudonym = pseudonym_index(g.names, a.set)
            ingest_s = ingest_base(a, build, work, traffic)
            for share in shares:
                r = run(a, build, work, case, share, g, traffic, ingest_s)
                results.append(r)
                print(render(r), flush=True)
            shutil.rmtree(os.path.join(work, "base"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    elapsed = time.time() - started
    write_report(a, results, elapsed)


def write_report(a, results, elapsed):
    args, skip = [], False  # where the files go is not part of the command's result
    for x in sys.argv[1:]:
        if skip or x.startswith(("--out", "--dump")):
            skip = x in ("--out", "--dump") and not skip
            continue
        args.append(x)
    cmd = "/usr/bin/python3 benchmarks/harness/verdicts.py " + " ".join(args)
    head = ["# check verdicts on held-out messages", "",
            f"Command: `{cmd.strip()}` ({elapsed / 60:.1f} minutes on this machine, {os.cpu_count()} cores). "
            f"Generator sizes: {a.messages:,} messages, {a.users:,} users in {a.communities} communities, "
            f"{a.spammers:,} spammers on {a.spam_ips} snowshoe IPs, {a.compromised} compromised accounts, "
            f"{a.attack_edges} attack edges; the hard case adds 40 bulk senders with 15% of the messages "
            "(every fourth new in the last 3 days), 40% of the spammers on freemail (sending through the "
            "providers' MTAs), 30% of spammer accounts aged (mailing single people from the first day), "
            "10% of users joining during the week, compromised accounts bursting for 6 hours from their "
            "own organisation's server, and 5% wrong user spam reports. Server configuration: defaults" + (f" with {', '.join(a.set)}" if a.set else "") + ".",
            "", "A message is legitimate (ham) or spam; its case is its sender's. `not accepted` is "
            "tempfail, quarantine or reject; for ham it is the false-positive rate, for spam the share "
            "stopped. `mistakes decided by` counts the actor role that decided the wrong verdicts (ham "
            "not accepted, spam accepted); `bad mass through` names, from the deciding actor's "
            "bad_neighbour reason, the neighbour (type and case) that brought at least half of its bad "
            "reputation, or `many neighbours` when none did.", ""]
    md = "\n".join(head) + "\n" + "\n".join(render(r) for r in results)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out + ".md", "w") as f:
        f.write(md)
    with open(a.out + ".json", "w") as f:
        json.dump(dict(command=cmd.strip(), elapsed_s=round(elapsed), runs=results), f, indent=1,
                  default=lambda x: float(x) if isinstance(x, np.floating) else str(x))
    print(f"wrote {a.out}.md and {a.out}.json ({elapsed / 60:.1f} minutes)")


if __name__ == "__main__":
    main()
