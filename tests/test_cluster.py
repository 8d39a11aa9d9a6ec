#!/usr/bin/python3
"""Cluster mode end to end, with a real 3-node NATS JetStream cluster (ctest: test_cluster).

Starts three nats-server processes (Debian's nats-server, -js, own store directories,
cluster routes on loopback ports) and waits, with a bound, until each says JetStream is
healthy; starts three repgraphd replicas (cluster.enabled, own temporary stores, free
ports) and waits until each reports cluster.ready. Then CLIENTS client threads drive
pipelined ingest (each write: observations with senders of its own, and now and then a
label) and retry every write not acknowledged against another replica. During the run it
kills -9 one repgraphd replica (and restarts it on its store) and kills -9 one NATS node.
It checks:
  - every acknowledged write is present on every replica (lookup of its senders, and the
    labelled actors' labels);
  - all replicas converge to the same applied sequence, the stream's last one, and to
    identical counts (stats: actors, edges, labels);
  - the restarted replica caught up (its applied sequence is the stream's) and resumed right
    after the sequence its store held;
  - entries published to the subject by someone else (too short, wrong version, not
    msgpack, a read op) are refused by every replica, recorded as applied, and skipped;
  - exactly one replica holds the recompute lease (role leader; the others name it as
    lease_holder); a follower answers recompute with not_leader naming it; a recomputation on
    the leader is adopted by the followers (generation_source adopted), so every replica
    serves the same generation with identical scores and clusters;
  - forged manifests (a chunk that fails the checksum, a manifest whose chunks are missing)
    are refused by every replica and never adopted;
  - kill -9 of the leader during a recomputation: another replica takes the lease (within
    cluster.lease_ttl), recomputes and publishes; the survivors serve its generation, and
    the old leader, restarted, adopts it too;
  - a fourth replica started on an empty store restores the leader's last snapshot, replays
    only the log after it (writes made after the snapshot included) and ends up with the
    same counts, actors and generation as the others;
  - the stream is created with cluster.stream_max_age; a replica paused while the stream is
    purged below the leader's next snapshot halts once resumed (not ready, says to restart
    it); restarted on its old store it moves the store aside, restores the snapshot, replays
    the rest and ends up with the same counts; its cluster.stream_max_bytes, new, updates
    the stream's limits at its start;
  - with every NATS node gone, a write answers `unavailable` within cluster.read_wait, reads
    still answer, stats says not ready, and each replica stops cleanly.
Without nats-server it prints why and exits 77 (ctest: skipped).

    /usr/bin/python3 tests/test_cluster.py BUILD_DIR [--writes N] [--seed S] [--rounds R]
    (or RG_CLUSTER_WRITES, RG_CLUSTER_SEED, RG_CLUSTER_ROUNDS; defaults: 400 writes per
    client, seed 1, 1 round; the long run: --writes 1000 --rounds 10)
"""
import argparse
import collections
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import msgpack

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP = 77
CLIENTS = 3
PIPELINE = 8  # requests in flight per client
OBS_PER_WRITE = 4
RETRY_CODES = {"unavailable", "shutting_down"}
LEASE_TTL = 3  # cluster.lease_ttl in seconds: the shortest allowed, so a takeover is quick
MAX_AGE = 3600  # cluster.stream_max_age in seconds (nothing expires during the test)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, what, secs=30):
    deadline = time.monotonic() + secs  # bounded: polled, never a fixed sleep
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Nats:
    """One nats-server of the JetStream cluster."""

    def __init__(self, tmp, i, ports):
        self.i, self.tmp = i, tmp
        self.port, self.route, self.http = ports[i]
        routes = ", ".join(f"nats-route://127.0.0.1:{p[1]}" for j, p in enumerate(ports) if j != i)
        self.conf = os.path.join(tmp, f"nats{i}.conf")
        with open(self.conf, "w") as f:
            f.write(f"server_name: n{i}\nlisten: 127.0.0.1:{self.port}\n"
                    f"http: 127.0.0.1:{self.http}\n"
                    f"jetstream {{ store_dir: \"{tmp}/nats{i}\" }}\n"
                    f"cluster {{ name: rgtest\n listen: 127.0.0.1:{self.route}\n"
                    f" routes: [{routes}] }}\n")
        self.proc = None
        self.start()

    def start(self):
        self.log = open(os.path.join(self.tmp, f"nats{self.i}.log"), "a")
        self.proc = subprocess.Popen(["nats-server", "-c", self.conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"nats-server {self.i} exited (see nats{self.i}.log)")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/healthz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()


class Conn:
    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.next_id = 0
        self.buf = b""

    def send(self, op, **fields):
        self.next_id += 1
        body = msgpack.packb({"id": self.next_id, "op": op, **fields})
        self.sock.sendall(struct.pack(">I", len(body)) + body)
        return self.next_id

    def recv(self):
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    reply = msgpack.unpackb(self.buf[4:4 + n])
                    self.buf = self.buf[4 + n:]
                    return reply
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk

    def call(self, op, **fields):
        self.send(op, **fields)
        reply = self.recv()
        if "error" in reply:
            raise AssertionError(f"{op}: {reply['error']}")
        return reply

    def call_error(self, op, **fields):
        """The error a request must get."""
        self.send(op, **fields)
        reply = self.recv()
        assert "error" in reply, f"{op} answered {reply}, not an error"
        return reply["error"]

    def close(self):
        self.sock.close()


class Replica:
    def __init__(self, tmp, i, nats_urls):
        self.i, self.tmp = i, tmp
        self.port, self.mport = free_port(), free_port()
        self.args = [os.path.join(BUILD, "repgraphd"), "--data", os.path.join(tmp, f"rg{i}"),
                     "--port", str(self.port), "--unix", "none",
                     "--set", "cluster.enabled=1", "--set", f"cluster.nats={nats_urls}",
                     "--set", f"cluster.node=r{i}", "--set", "cluster.read_wait=5s",
                     "--set", "recompute.interval=0", "--set", f"cluster.lease_ttl={LEASE_TTL}s", "--set", "cluster.snapshot_interval=1s",
                     "--set", f"cluster.stream_max_age={MAX_AGE}s",
                     "--set", f"metrics.listen=127.0.0.1:{self.mport}"]
        self.start()

    def start(self):
        self.log = open(os.path.join(self.tmp, f"rg{self.i}.log"), "a")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"repgraphd {self.i} exited at start (see rg{self.i}.log)")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"repgraphd {self.i} never listened")
                time.sleep(0.05)

    def stats(self):
        c = Conn(self.port)
        try:
            return c.call("stats")
        finally:
            c.close()

    def cluster(self):
        return self.stats()["cluster"]

    def metric(self, name):
        """The value of one sample of /metrics (name with its labels), or None."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.mport}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[-1])
        return None

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        self.log.close()
        assert rc == 0, f"repgraphd {self.i} exited with {rc}"


class Client(threading.Thread):
    """Sends its writes pipelined; a write is done when acknowledged; anything else (an
    error that says resend, a lost connection) sends it again to the next replica."""

    def __init__(self, cid, replicas, n_writes, rng):
        super().__init__(daemon=True)
        self.cid, self.replicas, self.rng = cid, replicas, rng
        self.todo = collections.deque(self.make(n) for n in range(n_writes))
        self.acked, self.late, self.resent, self.switches = [], [], 0, 0
        self.at = cid % len(replicas)
        self.error = None
        self.progress = 0

    def make(self, n):
        obs = [{"sender": f"c{self.cid}w{n}o{k}@s{self.cid}.example",
                "recipients": [f"r{self.rng.randrange(50)}@rcpt.example"],
                "client_ip": f"10.{self.cid}.{n % 250}.{k + 1}"}
               for k in range(OBS_PER_WRITE)]
        for o in obs[:OBS_PER_WRITE // 2]:  # the others are taken at the publisher's clock
            o["ts"] = 1700000000 + n
        req = {"op": "ingest", "observations": obs}
        if n % 10 == 9:  # now and then a label instead, of this write's own new actor
            req = {"op": "label", "labels": [{"actor": f"address:c{self.cid}label{n}@l.example",
                                               "verdict": "bad", "source": "analyst"}]}
        return req

    def connect(self):
        for _ in range(60):
            r = self.replicas[self.at]
            try:
                return Conn(r.port, timeout=15)
            except OSError:
                self.at = (self.at + 1) % len(self.replicas)
                self.switches += 1
                time.sleep(0.05)  # every replica refused: one is restarting; try the next
        raise AssertionError(f"client {self.cid}: no replica accepts connections")

    def run(self):
        try:
            self.loop()
        except Exception as e:  # reported by the main thread
            self.error = e

    def loop(self):
        conn = self.connect()
        inflight = collections.deque()
        while self.todo or inflight:
            try:
                while self.todo and len(inflight) < PIPELINE:
                    w = self.todo.popleft()
                    fields = {k: v for k, v in w.items() if k != "op"}
                    inflight.append((conn.next_id + 1, w))  # resent if the send fails
                    conn.send(w["op"], **fields)
                reply = conn.recv()
                rid, w = inflight.popleft()
                assert reply.get("id") == rid, f"reply {reply} out of order: expected id {rid}"
                err = reply.get("error")
                if err is None:
                    want = OBS_PER_WRITE if w["op"] == "ingest" else 1
                    assert reply["accepted"] == want, reply
                    self.acked.append(w)
                    self.progress += 1
                elif err["code"] == "not_applied":  # in the log: applied later, not resent
                    self.late.append(w)
                    self.progress += 1
                elif err["code"] in RETRY_CODES:
                    inflight.appendleft((rid, w))  # not taken: resent with the rest
                    raise ConnectionError(err["code"])
                else:
                    raise AssertionError(f"client {self.cid}: {err}")
            except (OSError, ConnectionError):
                self.resent += len(inflight)
                self.todo.extendleft(reversed([w for _, w in inflight]))  # resend, in order, elsewhere
                inflight.clear()
                conn.close()
                self.at = (self.at + 1) % len(self.replicas)
                self.switches += 1
                conn = self.connect()
        conn.close()


def nats_publish(port, subject, payload):
    """Publishes payload to subject over NATS's text protocol and returns JetStream's ack
    (the stream and sequence that stored it). The reply subject's interest reaches the
    other NATS nodes asynchronously, so an ack can be lost: then it publishes again (bounded)."""
    for attempt in range(10):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.recv(4096)  # INFO
            raw.sendall(b"CONNECT {\"verbose\":false}\r\nSUB _INBOX.rgtest 1\r\nPING\r\n")
            got = b""
            while b"PONG" not in got:
                got += raw.recv(4096)
            raw.sendall(b"PUB %s _INBOX.rgtest %d\r\n%s\r\nPING\r\n" % (
                subject.encode(), len(payload), payload))
            raw.settimeout(1 + attempt)
            got = b""
            try:
                while True:
                    m = re.search(rb"MSG _INBOX\.rgtest 1 +(\d+)\r\n", got)  # (an empty reply field)
                    if m and len(got) >= m.end() + int(m.group(1)):
                        return json.loads(got[m.end():m.end() + int(m.group(1))])
                    chunk = raw.recv(4096)
                    if not chunk:
                        break
                    got += chunk
            except TimeoutError:
                print(f"no ack for {subject} yet (attempt {attempt + 1}): got {got!r}")
    raise AssertionError(f"JetStream never acknowledged a publication to {subject}")


def leader_of(replicas):
    """The one replica with role leader, once every replica names it as the lease holder."""
    cl = [r.cluster() for r in replicas]
    leaders = [r for r, c in zip(replicas, cl) if c["role"] == "leader"]
    if len(leaders) == 1 and all(c["lease_holder"] == f"r{leaders[0].i}" for c in cl):
        return leaders[0]
    return None


def serving(replicas, gen):
    return all(r.cluster()["generation"] == gen for r in replicas)


def scores(replicas, names):
    """Each replica's scores of names and its clusters, to compare."""
    keys = ("reputation", "band", "cluster", "anomaly", "generation")
    out = []
    for r in replicas:
        conn = Conn(r.port)
        rows = {}
        for i in range(0, len(names), 100):
            for name, got in zip(names[i:i + 100],
                                 conn.call("lookup", actors=names[i:i + 100])["results"]):
                rows[name] = {k: got.get(k) for k in keys}
        rows["clusters"] = conn.call("clusters", limit=20)["clusters"]
        conn.close()
        out.append(rows)
    return out


def recompute_once(replicas, names):
    """A recompute on the leader, adopted by the followers; returns (leader, generation)."""
    leader = wait_for(lambda: leader_of(replicas), "one leader named by every replica",
                      LEASE_TTL * 4)
    follower = next(r for r in replicas if r is not leader)
    conn = Conn(follower.port)
    conn.send("recompute", wait=True)
    err = conn.recv().get("error", {})
    conn.close()
    assert err.get("code") == "not_leader" and f"r{leader.i}" in err.get("message", ""), err
    conn = Conn(leader.port, timeout=60)
    res = conn.call("recompute", wait=True)["result"]
    conn.close()
    assert res["ok"], res
    gen = res["generation"]
    wait_for(lambda: serving(replicas, gen), f"every replica serving generation {gen}", 30)
    for r in replicas:
        c = r.cluster()
        assert c["generation_source"] == ("local" if r is leader else "adopted"), (r.i, c)
    got = scores(replicas, names)
    for name in got[0]:
        assert all(g[name] == got[0][name] for g in got), \
            f"{name} differs between replicas: {[g[name] for g in got]}"
    return leader, gen


def label_cluster(replicas, leader, gen):
    """label_cluster on a follower: the guard runs there and the entry in the log is the
    plain label write it comes to, so every replica labels the same members, with the same
    note, whatever generation it serves when the entry arrives. A generation not served yet
    on the replica asked is refused with a clear error."""
    follower = next(r for r in replicas if r is not leader)
    conn = Conn(follower.port)
    rows = conn.call("clusters", limit=20, sort="size")["clusters"]
    row = next(r for r in rows if 2 <= r["size"] <= 500)
    err = conn.call_error("label_cluster", cluster=row["id"], verdict="bad", generation=gen + 1)
    assert err["code"] == "not_found" and "not served here yet" in err["message"], err
    ask = dict(cluster=row["id"], verdict="bad", generation=gen, min_reputation=0.0,
               note="cluster test")
    preview = conn.call("label_cluster", dry_run=True, **ask)
    got = conn.call("label_cluster", **ask)
    applied = follower.cluster()["applied_seq"]  # the labels' entry, applied there
    assert got["accepted"] == preview["would_label"] > 0 and got["rejected_count"] == 0, \
        (preview, got)
    assert got["skipped_labelled"] == preview["skipped_labelled"], (preview, got)
    members, cursor = [], None
    while True:
        page = conn.call("export", clusters=[row["id"]], **({"cursor": cursor} if cursor else {}))
        members += [n["actor"] for n in page.get("nodes", [])]
        cursor = page["cursor"]
        if not cursor:
            break
    conn.close()
    assert len(members) == row["size"], (len(members), row)
    seen = []
    for r in replicas:
        conn = Conn(r.port)
        wait_for(lambda: r.cluster()["applied_seq"] >= applied,
                 f"replica {r.i} applying the labels (sequence {applied})", 30)
        res = conn.call("lookup", actors=members)["results"]
        conn.close()
        seen.append({m: (g["label"] or {}).get("note") for m, g in zip(members, res)})
    tagged = [m for m in members if seen[0][m] == "cluster test"]
    assert len(tagged) == got["accepted"], (len(tagged), got)
    assert all(s == seen[0] for s in seen), "replicas labelled different members"
    return row["id"], got["accepted"], len(members)


def forge_manifests(replicas, nats_port, served):
    """A manifest whose one chunk fails the checksum, then one whose chunks are not in the
    stream: every replica refuses both and keeps serving `served`."""
    with open(os.path.join(SRC, "schemas", "store.json")) as f:
        schema = json.load(f)["schema_version"]
    refused = lambda: [r.cluster()["generations_refused"] for r in replicas]
    before = refused()
    bogus = served + 50
    chunk = b"\x01" + struct.pack(">QIIQ", bogus, 0, 1, 0) + b"forged generation rows" * 4
    seq = nats_publish(nats_port, f"repgraph.gen.{bogus}", chunk)["seq"]
    for gen, why in ((bogus, "checksum mismatch"), (bogus + 1, "chunks missing")):
        manifest = struct.pack(">BQQIIQQQ", 1, gen, 0, schema, 1, len(chunk) - 25, seq, seq) \
            + bytes(32)
        nats_publish(nats_port, "$KV.repgraph-manifest.generation", manifest)
        wait_for(lambda: all(n > b for n, b in zip(refused(), before)),
                 f"every replica refusing the manifest of generation {gen} ({why})", 20)
        before = refused()
        for r in replicas:
            with open(os.path.join(r.tmp, f"rg{r.i}.log")) as f:
                assert why in f.read(), f"replica {r.i} did not log '{why}'"
    assert serving(replicas, served), [r.cluster()["generation"] for r in replicas]


def stream_info(nats_port):
    """The writes stream's configuration and state, from JetStream's API."""
    return nats_publish(nats_port, "$JS.API.STREAM.INFO.repgraph", b"")


def trimmed_log(tmp, replicas, leader, nats_port, converged):
    """A replica behind a trimmed log: one is paused (SIGSTOP) while writes go on, the leader
    publishes a snapshot and the stream is purged up to it. Resumed, the replica halts (not
    ready, its log says to restart it); restarted on its old store, it moves the store aside,
    restores the snapshot and replays the rest: same counts as the others."""
    t0 = time.monotonic()
    stale = next(r for r in replicas if r is not leader)
    before = leader.cluster()["snapshots_published"]
    senders = [f"trim{n}@trim.example" for n in range(15)]
    stale.proc.send_signal(signal.SIGSTOP)
    try:
        conn = Conn(leader.port, timeout=60)
        ingest = lambda s, n: conn.call("ingest", observations=[
            {"sender": s, "recipients": ["a@b.example"], "client_ip": f"203.0.113.{n + 1}"}])
        for n, sender in enumerate(senders[:10]):
            ingest(sender, n)
        assert conn.call("recompute", wait=True)["result"]["ok"]
        wait_for(lambda: leader.cluster()["snapshots_published"] > before,
                 f"r{leader.i} publishing a snapshot after its generation", 30)
        with open(os.path.join(tmp, f"rg{leader.i}.log")) as f:
            snap = int(re.findall(r"published a snapshot of the store at sequence (\d+)", f.read())[-1])
        purge = nats_publish(nats_port, "$JS.API.STREAM.PURGE.repgraph",
                             json.dumps({"seq": snap + 1}).encode())
        assert purge.get("success") is True, purge
        for n, sender in enumerate(senders[10:]):
            ingest(sender, n + 10)
        conn.close()
    finally:
        stale.proc.send_signal(signal.SIGCONT)
    assert leader.cluster()["stream_first_seq"] == snap + 1 or \
        wait_for(lambda: leader.cluster()["stream_first_seq"] == snap + 1, "first sequence", 5)
    wait_for(lambda: stale.cluster()["halted"] and not stale.cluster()["ready"],
             f"r{stale.i} halting behind the purged log", 20)
    wait_for(lambda: stale.metric("repgraph_cluster_halted") == 1
             and stale.metric("repgraph_cluster_stream_first_sequence") == snap + 1,
             "/metrics showing the halt and the stream's first sequence", 5)
    with open(os.path.join(tmp, f"rg{stale.i}.log")) as f:
        log = f.read()
    assert "are no longer in stream repgraph" in log and "restart it" in log, "no halt logged"
    print(f"stream purged below the snapshot at sequence {snap}: r{stale.i}, paused behind it, "
          f"halted (not ready) asking for a restart ({time.monotonic() - t0:.1f} s in)")
    stale.stop()
    stale.args += ["--set", "cluster.stream_max_bytes=1G"]  # the stream's limits, updated
    stale.start()
    cl = wait_for(converged, f"r{stale.i} caught up after its restart", 60)
    with open(os.path.join(tmp, f"rg{stale.i}.log")) as f:
        log = f.read()
    moved = re.findall(r"moved it aside to (\S+) and restored the snapshot at sequence (\d+)", log)
    assert moved and int(moved[-1][1]) == snap and os.path.isdir(moved[-1][0]), moved
    assert f"consuming repgraph from sequence {snap + 1} " in log, "did not replay after it"
    st = [counts(r.stats()) for r in replicas]
    assert all(x == st[0] for x in st), f"replicas differ: {st}"
    conn = Conn(stale.port)
    got = conn.call("lookup", actors=[f"address:{a}" for a in senders])["results"]
    assert all(g["known"] for g in got), "the restored replica misses writes"
    conn.close()
    cfg = stream_info(nats_port)["config"]
    assert cfg["max_bytes"] == 1 << 30 and cfg["max_age"] == MAX_AGE * 10**9, cfg
    print(f"restarted on its old store: moved it aside, restored the snapshot at {snap}, replayed "
          f"to {cl[stale.i]['applied_seq']}; same counts as the others; the stream's max_bytes "
          f"updated at its start ({time.monotonic() - t0:.1f} s for the phase)")


def counts(stats):
    return {"actors": stats["actors"], "edges": stats["edges"], "labels": stats["labels"]}


def run(tmp, n_writes, seed):
    rng = random.Random(seed)
    ports = [(free_port(), free_port(), free_port()) for _ in range(3)]
    nats = [Nats(tmp, i, ports) for i in range(3)]
    replicas = []
    try:
        wait_for(lambda: all(n.healthy() for n in nats), "JetStream healthy on 3 nodes", 60)
        print("nats: 3 nodes healthy")
        for i in range(3):  # each lists its own node first
            urls = ",".join(f"nats://127.0.0.1:{ports[(i + j) % 3][0]}" for j in range(3))
            replicas.append(Replica(tmp, i, urls))
        for r in replicas:
            wait_for(lambda: r.cluster()["ready"], f"replica {r.i} ready", 60)
        print("repgraphd: 3 replicas ready")
        cfg = stream_info(ports[0][0])["config"]
        assert cfg["max_age"] == MAX_AGE * 10**9 and cfg["max_bytes"] == -1, cfg
        with open(os.path.join(SRC, "schemas", "protocol.json")) as f:
            spec = json.load(f)["ops"]["stats"]["reply"]["fields"]["cluster"]["fields"]
        got = replicas[0].cluster()
        assert set(got) == set(spec), f"stats cluster {sorted(got)} != schema {sorted(spec)}"
        assert got["role"] in ("leader", "follower") and got["node"] == "r0" \
            and got["connected"] is True

        # Entries no replica wrote (anyone who may publish to the subject can): too short, a
        # wrong version, not msgpack, a read op. Every replica refuses each, records it as
        # applied and goes on.
        junk = [b"short", b"\x09" + bytes(24) + msgpack.packb({"op": "ingest"}),
                b"\x01" + bytes(24) + b"\xc1 not msgpack",
                b"\x01" + bytes(24) + msgpack.packb({"id": 1, "op": "lookup", "actors": []})]
        with socket.create_connection(("127.0.0.1", ports[0][0]), timeout=10) as raw:
            raw.recv(4096)  # INFO
            out = b"CONNECT {\"verbose\":false}\r\n"
            for j in junk:
                out += b"PUB repgraph.writes %d\r\n%s\r\n" % (len(j), j)
            raw.sendall(out + b"PING\r\n")
            got = b""
            while b"PONG" not in got:
                got += raw.recv(4096)
        wait_for(lambda: all(r.cluster()["entries_refused"] == len(junk) for r in replicas),
                 "every replica refusing the junk entries", 30)
        print(f"{len(junk)} junk entries refused by every replica and recorded as applied")

        clients = [Client(c, replicas, n_writes, random.Random(seed * 100 + c))
                   for c in range(CLIENTS)]
        t0 = time.monotonic()
        for c in clients:
            c.start()
        total = n_writes * CLIENTS
        done = lambda: sum(c.progress for c in clients)
        victim, nats_victim = replicas[rng.randrange(3)], nats[rng.randrange(3)]
        wait_for(lambda: done() >= total // 4 or any(c.error for c in clients), "progress", 60)
        wait_for(lambda: victim.cluster()["applied_seq"] > 0, f"replica {victim.i} applying", 30)
        victim.kill()
        print(f"killed -9 repgraphd {victim.i} after {done()} writes")
        wait_for(lambda: done() >= total // 2 or any(c.error for c in clients), "progress", 60)
        nats_victim.kill()
        print(f"killed -9 nats-server {nats_victim.i} after {done()} writes")
        victim.start()
        print(f"restarted repgraphd {victim.i}")
        for c in clients:
            c.join(timeout=120)
            assert not c.is_alive(), f"client {c.cid} did not finish"
            if c.error:
                raise AssertionError(f"client {c.cid}: {c.error!r}")
        took = time.monotonic() - t0
        acked = [w for c in clients for w in c.acked + c.late]
        print(f"{len(acked)} writes acknowledged ({sum(len(c.late) for c in clients)} late) in "
              f"{took:.1f} s; {sum(c.resent for c in clients)} resent, "
              f"{sum(c.switches for c in clients)} replica switches")
        assert len(acked) == total, \
            f"{len(acked)} of {total} acknowledged: {[(len(c.acked), len(c.late), len(c.todo)) for c in clients]}"

        def converged():
            cl = [r.cluster() for r in replicas]
            seqs = {c["applied_seq"] for c in cl}
            return len(seqs) == 1 and all(c["stream_last_seq"] == c["applied_seq"] for c in cl) \
                and cl
        cl = wait_for(converged, "replicas converged on the stream's last sequence", 60)
        print(f"all replicas applied sequence {cl[0]['applied_seq']}; the restarted one "
              f"too (lag {cl[victim.i]['lag']})")
        with open(os.path.join(tmp, f"rg{victim.i}.log")) as f:  # resumed right after its store
            log = f.read()
        stored = [int(x) for x in re.findall(r"applied up to sequence (\d+)", log)]
        starts = [int(x) for x in re.findall(r"consuming \S+ from sequence (\d+)", log)]
        assert len(stored) == 2 and stored[1] > 0, f"restart not seen in its log: {stored}"
        assert stored[1] + 1 in starts[1:], f"restarted at {starts}, its store had {stored[1]}"
        print(f"the restarted replica had applied {stored[1]} and resumed at {stored[1] + 1}")
        st = [counts(r.stats()) for r in replicas]
        assert st[0] == st[1] == st[2], f"replicas differ: {st}"
        print(f"identical counts: {st[0]}")

        names, labelled = [], set()
        for w in acked:
            if w["op"] == "ingest":
                names += [f"address:{o['sender']}" for o in w["observations"]]
            else:
                names.append(w["labels"][0]["actor"])
                labelled.add(w["labels"][0]["actor"])
        names = sorted(set(names))
        same = ("known", "first_seen", "last_seen", "messages", "out_degree", "in_degree", "label")
        seen = []
        for r in replicas:
            conn = Conn(r.port)
            rows = {}
            for i in range(0, len(names), 100):
                res = conn.call("lookup", actors=names[i:i + 100])["results"]
                for name, got in zip(names[i:i + 100], res):
                    assert got["known"] is True, f"replica {r.i}: acknowledged {name} missing"
                    if name in labelled:
                        assert got["label"], f"replica {r.i}: {name} lost its label: {got}"
                    rows[name] = {k: got[k] for k in same}
            conn.close()
            seen.append(rows)
        for name in names:  # applied once each, at the same time, everywhere
            assert seen[0][name] == seen[1][name] == seen[2][name], \
                f"{name} differs between replicas: {[s[name] for s in seen]}"
        print(f"every acknowledged write present on all 3 replicas: {len(names)} actors, "
              f"identical first/last seen, messages, degrees and labels")

        sample = names[:: max(1, len(names) // 300)]
        leader, gen = recompute_once(replicas, sample)
        print(f"r{leader.i} holds the lease; a follower answered not_leader; generation {gen} "
              f"computed on r{leader.i} is served by all 3 (adopted), identical scores and "
              f"clusters for {len(sample)} actors")
        cid, labelled, size = label_cluster(replicas, leader, gen)
        print(f"label_cluster of cluster {cid} on a follower: {labelled} of its {size} members "
              f"labelled, the same ones with the same note on all 3 replicas")
        forge_manifests(replicas, ports[0][0] if nats[0].proc.poll() is None else ports[1][0],
                        gen)
        print("forged manifests (bad checksum, chunks missing) refused by every replica")
        conn = Conn(leader.port)
        assert conn.call("recompute")["state"] == "started"
        conn.close()
        leader.kill()
        t1 = time.monotonic()
        survivors = [r for r in replicas if r is not leader]
        new_leader, gen2 = recompute_once(survivors, sample)
        print(f"killed -9 leader r{leader.i} during a recomputation; r{new_leader.i} took the "
              f"lease and its generation {gen2} is served by both survivors "
              f"({time.monotonic() - t1:.1f} s after the kill; lease_ttl {LEASE_TTL} s)")
        follower = next(r for r in survivors if r is not new_leader)
        wait_for(lambda: new_leader.metric("repgraph_cluster_leader") == 1
                 and follower.metric("repgraph_cluster_leader") == 0
                 and follower.metric(f'repgraph_cluster_generation{{source="adopted"}}') == gen2
                 and follower.metric("repgraph_cluster_lag_messages") == 0,
                 "/metrics showing the roles and the adopted generation", 10)
        print(f"/metrics: repgraph_cluster_leader 1 on r{new_leader.i}, 0 on r{follower.i}, which "
              f"serves generation {gen2} adopted, lag 0")
        leader.start()
        wait_for(lambda: leader.cluster()["ready"] and serving([leader], gen2)
                 and leader.cluster()["role"] == "follower",
                 f"the old leader r{leader.i} back as a follower serving {gen2}", 30)
        assert leader.cluster()["generation_source"] == "adopted"
        print(f"r{leader.i} restarted: a follower serving generation {gen2} (adopted)")

        # A new replica starts from the snapshot the leader published after generation gen2,
        # plus the entries written after it.
        wait_for(lambda: new_leader.cluster()["snapshots_published"] >= 1,
                 f"r{new_leader.i} publishing a snapshot", 30)
        conn = Conn(follower.port)
        after = [f"late{n}@snap.example" for n in range(20)]
        for n, sender in enumerate(after):
            conn.call("ingest", observations=[{"sender": sender, "recipients": ["a@b.example"],
                                               "client_ip": f"198.51.100.{n + 1}"}])
        conn.close()
        urls = ",".join(f"nats://127.0.0.1:{p[0]}" for p in ports)
        newcomer = Replica(tmp, 3, urls)
        replicas.append(newcomer)
        cl = wait_for(converged, "the new replica caught up", 60)
        with open(os.path.join(tmp, "rg3.log")) as f:
            log = f.read()
        snap = [int(x) for x in re.findall(r"restored the snapshot at sequence (\d+)", log)]
        starts = [int(x) for x in re.findall(r"consuming \S+ from sequence (\d+)", log)]
        assert len(snap) == 1 and snap[0] > 0 and starts and starts[0] == snap[0] + 1, (snap, starts)
        assert cl[3]["applied_seq"] >= snap[0] + len(after), (cl[3], snap)
        st = [counts(r.stats()) for r in replicas]
        assert all(x == st[0] for x in st), f"replicas differ: {st}"
        conn = Conn(newcomer.port)
        got = conn.call("lookup", actors=[f"address:{a}" for a in after] + names[:50])["results"]
        assert all(g["known"] for g in got), "the new replica misses writes"
        conn.close()
        wait_for(lambda: serving([newcomer], gen2), f"the new replica serving {gen2}", 30)
        print(f"r3 started empty: restored the snapshot at sequence {snap[0]}, replayed from "
              f"{starts[0]} to {cl[3]['applied_seq']} (the {len(after)} writes after it "
              f"included); same counts and generation {gen2} as the others")
        trimmed_log(tmp, replicas, new_leader,
                    ports[0][0] if nats[0].proc.poll() is None else ports[1][0], converged)
        for n in nats:  # no NATS at all: writes answer unavailable, reads still work
            if n.proc.poll() is None:
                n.kill()
        conn = Conn(replicas[0].port)
        t1 = time.monotonic()
        conn.send("ingest", observations=[{"sender": "late@x.example", "recipients": ["a@b.example"],
                                           "client_ip": "192.0.2.1"}])
        reply = conn.recv()
        assert reply.get("error", {}).get("code") == "unavailable", reply
        assert conn.call("lookup", actors=[names[0]])["results"][0]["known"] is True
        wait_for(lambda: not replicas[0].cluster()["ready"], "not ready without NATS", 10)
        conn.close()
        print(f"without NATS: a write answered unavailable after {time.monotonic() - t1:.1f} s "
              f"(cluster.read_wait 5 s); reads still answered; stats says not ready")
        for r in replicas:
            r.stop()
        replicas = []
    finally:
        for r in replicas:
            if r.proc.poll() is None:
                r.kill()
        for n in nats:
            if n.proc.poll() is None:
                n.kill()


def main():
    global BUILD
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default=os.path.join(SRC, "build"))
    ap.add_argument("--writes", type=int, default=int(os.environ.get("RG_CLUSTER_WRITES", 400)))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("RG_CLUSTER_SEED", 1)))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("RG_CLUSTER_ROUNDS", 1)),
                    help="runs on fresh clusters, seeds SEED, SEED+1, ... (each kills a replica, "
                         "a NATS node and the recompute leader)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()
    BUILD = os.path.abspath(a.build)
    if not shutil.which("nats-server"):
        print("SKIP: nats-server is not installed (Debian package nats-server)")
        return SKIP
    for seed in range(a.seed, a.seed + max(1, a.rounds)):
        tmp = tempfile.mkdtemp(prefix="rg-cluster-")
        ok = False
        try:
            print(f"seed {seed}, {a.writes} writes per client, {CLIENTS} clients; in {tmp}")
            run(tmp, a.writes, seed)
            ok = True
        finally:
            if ok and not a.keep:
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                print(f"logs kept in {tmp}")
    if a.rounds > 1:
        print(f"{a.rounds} rounds passed: {a.rounds * a.writes * CLIENTS} acknowledged writes checked")
    return 0

if __name__ == "__main__":
    sys.exit(main())
