#!/usr/bin/python3
"""The README's analyst walkthrough, run for real (ctest: test_walkthrough).

Starts repgraphd on a temporary directory and a free port, loads the planted-truth graph
from benchmarks/gen_mail with 5% of the truth as seed labels (`repgraph label --file`), and
runs the README's commands in order: list top clusters -> look at one -> export it to
GraphML (read back by igraph and networkx, counts and attributes checked), CSV and JSON ->
label it bad -> recompute -> its members' reputations rise. Then bulk labels with per-line
errors, unlabel and history, and examples/analyst.py --check against the same server.

    /usr/bin/python3 tests/test_walkthrough.py BUILD_DIR
"""
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import igraph
import networkx as nx

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(SRC, "build"))
START_TS = 1700000000  # gen_mail's fixed clock: the same graph every run
SEEDS_AWK = ('BEGIN {print "actor,verdict,source,note"} {n[$2]++} '
             'n[$2] % 20 == 1 {print $1 "," $2 "," ($2 == "bad" ? "spam_trap,trap hit" : "allowlist,")}')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Walkthrough:
    def __init__(self, tmp):
        self.tmp = tmp
        self.port = free_port()
        self.log = open(os.path.join(tmp, "repgraphd.log"), "w")
        self.server = subprocess.Popen(
            [os.path.join(BUILD, "repgraphd"), "--data", os.path.join(tmp, "data"), "--port",
             str(self.port), "--unix", "none", "--set", "recompute.interval=0"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20  # bounded wait for the socket
        while True:
            if self.server.poll() is not None:
                raise SystemExit("repgraphd exited at start; see its log")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("repgraphd never accepted connections")
                time.sleep(0.02)

    def stop(self):
        self.server.send_signal(signal.SIGTERM)
        rc = self.server.wait(timeout=60)
        self.log.close()
        assert rc == 0, f"repgraphd exited with {rc}"

    def repgraph(self, *args, expect=0):
        """Runs the CLI; returns stdout. Fails unless the exit code is `expect`."""
        cmd = [os.path.join(BUILD, "repgraph"), "-p", str(self.port), *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if p.returncode != expect:
            raise AssertionError(f"{' '.join(args)}: exit {p.returncode}, want {expect}\n"
                                 f"{p.stdout}\n{p.stderr}")
        self.stderr = p.stderr
        return p.stdout

    def json(self, *args):
        return json.loads(self.repgraph("--json", *args))


def members_lookup(w, actors):
    out = {}
    for i in range(0, len(actors), 500):
        for r in w.json("lookup", *actors[i:i + 500])["results"]:
            out[r["actor"]] = r
    return out


def members_reputation(w, actors):
    return {a: r["reputation"] for a, r in members_lookup(w, actors).items()}


def main():
    tmp = tempfile.mkdtemp(prefix="rg-walkthrough-")
    w = Walkthrough(tmp)
    try:
        run(w, tmp)
    finally:
        w.stop()
    shutil.rmtree(tmp)
    print("walkthrough: ok")


def run(w, tmp):
    # The planted-truth benchmark graph, 5% of the truth as seeds.
    traffic, truth = os.path.join(tmp, "traffic.ndjson"), os.path.join(tmp, "truth.tsv")
    with open(traffic, "w") as out:
        subprocess.run([os.path.join(BUILD, "benchmarks", "gen_mail"), "--messages", "20000",
                        "--users", "3000", "--communities", "30", "--spammers", "300",
                        "--start-ts", str(START_TS), "--truth", truth], stdout=out, check=True)
    w.repgraph("ingest", traffic)
    seeds = os.path.join(tmp, "seeds.csv")  # the README's awk line: every 20th of each verdict
    with open(seeds, "w") as out:
        subprocess.run(["awk", "-F", "\t", SEEDS_AWK, truth], stdout=out, check=True)
    with open(truth) as t:
        verdicts = [line.rstrip("\n").split("\t")[1] for line in t]
    n_seeds = sum((n + 19) // 20 for n in (verdicts.count("bad"), verdicts.count("good")))
    assert f"labelled {n_seeds} actors" in w.repgraph("label", "--file", seeds)
    w.repgraph("recompute", "--wait")

    # 1. List the top clusters.
    table = w.repgraph("clusters", "--limit", "10")
    assert table.splitlines()[1].startswith("cluster"), table
    top = w.json("clusters", "--limit", "10")["clusters"]
    assert len(top) == 10
    assert all(a["suspicion"] >= b["suspicion"] for a, b in zip(top, top[1:]))
    # The walkthrough looks at the most suspicious cluster that is not settled yet.
    chosen = next(c for c in top if c["mean_reputation"] < 0.95 and c["size"] >= 20)
    cid, size = str(chosen["id"]), chosen["size"]

    # 2. Look at it: its row, its worst member's neighbourhood.
    row = w.json("clusters", "--actor", chosen["top"][0]["actor"])["clusters"]
    assert [c["id"] for c in row] == [chosen["id"]]
    ego = w.json("neighbors", chosen["top"][0]["actor"], "--depth", "2", "--limit", "50")
    assert 1 < len(ego["nodes"]) <= 50 and ego["nodes"][0]["depth"] == 0
    w.repgraph("top", "address", "--limit", "5")
    ego_gml = os.path.join(tmp, "ego.graphml")
    w.repgraph("export", "--actor", chosen["top"][0]["actor"], "--depth", "2", "--limit", "50",
               "--out", ego_gml)
    ego_g = nx.read_graphml(ego_gml)
    assert ego_g.number_of_nodes() == len(ego["nodes"])
    assert ego_g.number_of_edges() == len(ego["edges"])
    assert sorted(d for _, d in ego_g.nodes(data="depth"))[0] == 0

    # 3. Export it: GraphML (igraph and networkx read it back), CSV and JSON.
    gml = os.path.join(tmp, f"cluster-{cid}.graphml")
    w.repgraph("export", "--cluster", cid, "--out", gml, "--page", "200")
    js = os.path.join(tmp, f"cluster-{cid}.json")
    w.repgraph("export", "--cluster", cid, "--format", "json", "--out", js)
    with open(js) as f:
        exported = json.load(f)
    assert len(exported["nodes"]) == size
    n_edges = len(exported["edges"])
    assert n_edges > 0
    g = igraph.Graph.Read_GraphML(gml)
    assert g.vcount() == size and g.ecount() == n_edges, (g.vcount(), g.ecount(), size, n_edges)
    assert set(g.vs["name"]) == {n["actor"] for n in exported["nodes"]}
    assert all(c == chosen["id"] for c in g.vs["cluster"])
    assert all(0 <= r <= 1 for r in g.vs["reputation"])
    assert set(g.vs["type"]) <= {"address", "ip", "net", "domain"}
    assert set(g.es["kind"]) <= {"mailed", "sent_from", "in_net", "uses_domain", "helo", "rdns"}
    assert all(wt > 0 for wt in g.es["weight"]) and all(c >= 1 for c in g.es["count"])
    nxg = nx.read_graphml(gml)
    assert nxg.number_of_nodes() == size and nxg.number_of_edges() == n_edges
    node = next(iter(nxg.nodes(data=True)))[1]
    assert {"name", "type", "reputation", "anomaly", "band", "cluster"} <= set(node), node
    edge = next(iter(nxg.edges(data=True)))[2]
    assert {"kind", "weight", "count", "first_seen", "last_seen"} <= set(edge), edge
    csv_dir = os.path.join(tmp, f"cluster-{cid}-csv")
    w.repgraph("export", "--cluster", cid, "--format", "csv", "--out", csv_dir)
    with open(os.path.join(csv_dir, "nodes.csv")) as f:
        nodes = list(csv.DictReader(f))
    with open(os.path.join(csv_dir, "edges.csv")) as f:
        edges = list(csv.DictReader(f))
    assert len(nodes) == size and len(edges) == n_edges
    assert all(0 <= float(n["reputation"]) <= 1 for n in nodes)
    names = {n["actor"] for n in nodes}
    assert all(e["src"] in names and e["dst"] in names for e in edges)
    assert sorted(os.listdir(csv_dir)) == ["edges.csv", "nodes.csv"], os.listdir(csv_dir)
    # A failed export leaves no partial output (files are renamed only when complete).
    for fmt in ("graphml", "csv", "json"):
        bad = os.path.join(tmp, f"missing-{fmt}")
        w.repgraph("export", "--cluster", "987654", "--format", fmt, "--out", bad, expect=1)
        assert not os.path.exists(bad) or os.listdir(bad) == [], bad
        assert not [n for n in os.listdir(tmp) if n.startswith(f"missing-{fmt}.")], os.listdir(tmp)

    # 4. Label it bad, 5. recompute, 6. its members' reputations rise.
    actors = [n["actor"] for n in exported["nodes"]]
    before = members_reputation(w, actors)
    # A dry run first: the cluster's make-up and what labelling it bad would label.
    dry = w.json("label-cluster", cid, "bad", "--dry-run")
    assert dry["dry_run"] is True and sum(dry["by_type"].values()) == size, dry
    assert dry["would_label"] + dry["skipped_labelled"] + dry["skipped_reputation"] == size, dry
    out = w.json("label-cluster", cid, "bad", "--note", "campaign seen in the walkthrough")
    assert out["accepted"] == dry["would_label"], (out, dry)
    assert out["accepted"] + out["skipped_labelled"] + out["skipped_reputation"] == size, out
    labelled = [a for a, r in members_lookup(w, actors).items()
                if r["label"] and r["label"]["verdict"] == "bad"]
    assert len(labelled) == out["accepted"], (len(labelled), out)
    w.repgraph("recompute", "--wait")
    after = members_reputation(w, actors)
    assert all(after[a] >= before[a] - 1e-9 for a in labelled)
    mean_before, mean_after = sum(before.values()) / size, sum(after.values()) / size
    assert mean_after > mean_before + 0.01, (mean_before, mean_after)
    print(f"walkthrough: cluster {cid} ({size} members): mean reputation "
          f"{mean_before:.3f} -> {mean_after:.3f}")

    # Verdicts with errors are reported per line; the good lines still count.
    verdicts = os.path.join(tmp, "verdicts.csv")
    with open(verdicts, "w") as f:
        f.write("actor,verdict,source,note\n"
                f"{actors[0]},good,user_report,\"moved to Inbox, says the user\"\n"
                "address:nobody@example.org,maybe,analyst,\n"
                "just one field\n"
                "ip:not-an-ip,bad,,\n")
    out = w.repgraph("label", "--file", verdicts, expect=1)
    assert "labelled 1 actors from 5 lines (3 rejected)" in out, out
    for line, code in ((3, "invalid_label"), (4, "bad_request"), (5, "invalid_actor")):
        assert f"verdicts.csv:{line}: rejected: {code}" in w.stderr, w.stderr
    # A field too long for its line rejects that line only; the line before it is labelled.
    toolong = os.path.join(tmp, "toolong.csv")
    with open(toolong, "w") as f:
        f.write(f"{actors[1]},bad,analyst,fine\n{actors[1]},bad,analyst,{'x' * 5000}\n")
    out = w.repgraph("label", "--file", toolong, expect=1)
    assert "labelled 1 actors from 2 lines (1 rejected)" in out, out
    assert "toolong.csv:2: rejected: bad_request: note: longer than 1024 bytes" in w.stderr, w.stderr
    w.repgraph("unlabel", actors[0], "--note", "wrong cluster")
    hist = w.json("history", actors[0])["results"][0]["labels"]
    assert [h["verdict"] for h in hist] == ["retracted", "good", "bad"], hist  # newest first
    assert hist[1]["note"] == "moved to Inbox, says the user"

    # The analyst script no one on the team wrote, against the same server.
    script = os.path.join(SRC, "examples", "analyst.py")
    p = subprocess.run([sys.executable, script, "--port", str(w.port), "--check", "--page", "150"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "in networkx" in p.stdout, p.stdout


if __name__ == "__main__":
    main()
