#!/usr/bin/python3
"""repgraph's /metrics scraped by a real Prometheus (ctest: test_prometheus).

  - promtool check config / check rules pass on the shipped ops/prometheus.yml and
    ops/repgraph-alerts.yml, and promtool test rules on ops/repgraph-alerts.test.yml;
  - repgraphd (started here on a temporary store, metrics.listen on a free loopback port)
    serves exposition text that `promtool check metrics` finds nothing to say about;
  - Prometheus from Debian's package, started on its own temporary directory with the
    shipped scrape config (rewritten: this test's target, a 1 s scrape and evaluation
    interval, the rule file's absolute path), scrapes it while the test drives traffic
    over msgpack; through Prometheus's HTTP query API the target is up, the request,
    ingest, reject, label and recompute counters moved by what was sent, and the alerting
    rules are loaded and healthy.
Readiness is polled with bounds, never slept for. Without prometheus or promtool the test
says why and exits 77 (ctest: skipped).

    /usr/bin/python3 tests/test_prometheus.py BUILD_DIR
"""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import msgpack

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(SRC, "build"))
OPS = os.path.join(SRC, "ops")
SKIP = 77
PROMETHEUS, PROMTOOL = shutil.which("prometheus"), shutil.which("promtool")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll(what, fn, secs=30, proc=None):
    """Calls fn until it returns a true value (returned), for at most secs seconds."""
    deadline = time.monotonic() + secs
    last = None
    while True:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited ({proc.returncode})")
        try:
            got = fn()
            if got:
                return got
        except (OSError, ValueError, KeyError, IndexError) as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {secs} s (last error: {last})")
        time.sleep(0.1)


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


def run(cmd, cwd=None):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


class Repgraph:
    def __init__(self, tmp):
        self.port, self.mport = free_port(), free_port()
        self.log = open(os.path.join(tmp, "repgraphd.log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(BUILD, "repgraphd"), "--data", os.path.join(tmp, "store"),
             "--port", str(self.port), "--unix", "none",
             "--set", f"metrics.listen=127.0.0.1:{self.mport}", "--set", "recompute.interval=0"],
            stdout=self.log, stderr=subprocess.STDOUT)
        poll("repgraphd /healthz",
             lambda: http_get(f"http://127.0.0.1:{self.mport}/healthz")[0] == 200, 20, self.proc)
        self.sock = poll("repgraphd TCP", lambda: socket.create_connection(
            ("127.0.0.1", self.port), timeout=60), 20, self.proc)
        self.next_id = 0

    def call(self, op, **fields):
        self.next_id += 1
        body = msgpack.packb({"id": self.next_id, "op": op, **fields})
        self.sock.sendall(struct.pack(">I", len(body)) + body)
        n = struct.unpack(">I", self._read(4))[0]
        return msgpack.unpackb(self._read(n))

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise AssertionError("repgraphd closed the connection")
            buf += chunk
        return buf

    def stop(self):
        self.sock.close()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        self.log.close()
        assert rc == 0, f"repgraphd exited with {rc}"


class Prometheus:
    def __init__(self, tmp, target):
        self.port = free_port()
        conf = open(os.path.join(OPS, "prometheus.yml")).read()
        for old, new in [("scrape_interval: 15s", "scrape_interval: 1s"),
                         ("evaluation_interval: 15s", "evaluation_interval: 1s"),
                         ("scrape_timeout: 10s", "scrape_timeout: 1s"),
                         ('"127.0.0.1:9411"', f'"{target}"'),
                         ("- repgraph-alerts.yml", "- " + os.path.join(OPS, "repgraph-alerts.yml"))]:
            assert old in conf, f"ops/prometheus.yml no longer has {old!r}: update this test"
            conf = conf.replace(old, new)
        self.conf = os.path.join(tmp, "prometheus.yml")
        with open(self.conf, "w") as f:
            f.write(conf)
        rc, out = run([PROMTOOL, "check", "config", self.conf])
        assert rc == 0, f"promtool check config (rewritten copy):\n{out}"
        self.log = open(os.path.join(tmp, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={self.conf}",
             f"--storage.tsdb.path={os.path.join(tmp, 'tsdb')}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=tmp)
        self.url = f"http://127.0.0.1:{self.port}"
        poll("Prometheus /-/ready", lambda: http_get(self.url + "/-/ready")[0] == 200, 60,
             self.proc)

    def api(self, path, **params):
        q = urllib.parse.urlencode(params)
        status, body = http_get(f"{self.url}/api/v1/{path}?{q}")
        reply = json.loads(body)
        assert reply["status"] == "success", reply
        return reply["data"]

    def value(self, query):
        """The single value of an instant query, or None when it has no result yet."""
        result = self.api("query", query=query)["result"]
        return float(result[0]["value"][1]) if result else None

    def wait_value(self, query, want, secs=30):
        return poll(f"Prometheus: {query} >= {want}",
                    lambda: (v := self.value(query)) is not None and v >= want and v, secs,
                    self.proc)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def check_shipped_files():
    rc, out = run([PROMTOOL, "check", "rules", os.path.join(OPS, "repgraph-alerts.yml")])
    assert rc == 0, f"promtool check rules:\n{out}"
    rc, out = run([PROMTOOL, "check", "config", os.path.join(OPS, "prometheus.yml")])
    assert rc == 0, f"promtool check config:\n{out}"
    rc, out = run([PROMTOOL, "test", "rules", "repgraph-alerts.test.yml"], cwd=OPS)
    assert rc == 0, f"promtool test rules:\n{out}"
    print("shipped files: promtool check config, check rules and test rules pass")


def check_exposition(mport):
    status, text = http_get(f"http://127.0.0.1:{mport}/metrics")
    assert status == 200
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(), \
        f"promtool check metrics:\n{p.stdout}{p.stderr}"
    print(f"exposition: {len(text.splitlines())} lines, promtool check metrics has no remarks")


def drive(rg):
    """Traffic with known counts: 3 ingests (5 observations, one refused), 2 labels, 4 lookups,
    one recompute."""
    for i in range(3):
        obs = [{"sender": f"s{i}@bad.example", "client_ip": f"203.0.113.{i + 1}",
                "recipients": [f"v{i}@victim.example", "w@victim.example"]}]
        if i == 0:
            obs.append({"sender": "x@y.example", "client_ip": "not-an-ip", "recipients": []})
            obs.append({"sender": "z@y.example", "client_ip": "198.51.100.4",
                        "recipients": ["q@y.example"]})
        r = rg.call("ingest", observations=obs)
        assert "error" not in r and r["rejected_count"] == (1 if i == 0 else 0), r
    r = rg.call("label", labels=[{"actor": "address:s0@bad.example", "verdict": "bad",
                                  "source": "spam_trap"},
                                 {"actor": "address:z@y.example", "verdict": "good",
                                  "source": "analyst"}])
    assert r.get("accepted") == 2, r
    for _ in range(4):
        rg.call("lookup", actors=["address:s0@bad.example"])
    r = rg.call("recompute", wait=True)
    assert "error" not in r, r


def main():
    if not PROMETHEUS or not PROMTOOL:
        print("SKIP: prometheus and promtool are not installed (Debian package prometheus)")
        return SKIP
    check_shipped_files()
    tmp = tempfile.mkdtemp(prefix="repgraph-prom-")
    rg = prom = None
    ok = False
    try:
        rg = Repgraph(tmp)
        check_exposition(rg.mport)
        prom = Prometheus(tmp, f"127.0.0.1:{rg.mport}")
        prom.wait_value('up{job="repgraph"}', 1)
        # before the traffic: counters are scraped at zero
        assert prom.wait_value('repgraph_ready{job="repgraph"}', 1) == 1
        drive(rg)
        want = {
            'repgraph_requests_total{op="ingest"}': 3,
            'repgraph_requests_total{op="lookup"}': 4,
            'repgraph_requests_total{op="label"}': 1,
            'repgraph_request_duration_seconds_count{op="lookup"}': 4,
            "repgraph_ingested_observations_total": 4,
            "repgraph_ingested_labels_total": 2,
            'repgraph_ingest_rejects_total{item="observations",reason="invalid_actor"}': 1,
            'repgraph_recompute_runs_total{result="ok"}': 1,
            "repgraph_generation": 1,
            'repgraph_labels{source="spam_trap",verdict="bad"}': 1,
            'repgraph_actors{type="address"}': 9,  # s0-2, v0-2, w, z, q
            "repgraph_connections_total": 1,
        }
        for query, n in want.items():
            got = prom.wait_value(query, n)
            assert got == n, f"{query}: Prometheus has {got}, the traffic made {n}"
            print(f"  {query} = {got:g}")
        # the rate Prometheus computes from the counter is positive while traffic ran
        assert prom.value('increase(repgraph_requests_total{op="ingest"}[1m])') > 0
        rules = prom.api("rules", type="alert")["groups"]
        names = {r["name"]: r for g in rules for r in g["rules"]}
        for alert in ("RepgraphDown", "RepgraphRecomputeStale", "RepgraphServerErrors",
                      "RepgraphStoreNearlyFull", "RepgraphWriterQueueSaturated",
                      "RepgraphPolicyFailOpen"):
            assert alert in names, f"alert {alert} not loaded: {sorted(names)}"
        poll("alert rules evaluated and healthy",
             lambda: all(r.get("health") == "ok" for r in
                         (x for g in prom.api("rules", type="alert")["groups"]
                          for x in g["rules"])), 30, prom.proc)
        firing = [r["name"] for r in names.values() if r.get("state") == "firing"]
        assert not firing, f"alerts firing on a healthy server: {firing}"
        print(f"Prometheus: target up, {len(want)} counters as driven, {len(names)} alert rules "
              "loaded and healthy")
        ok = True
    finally:
        if prom:
            prom.stop()
        if rg:
            rg.stop()
        if not ok:
            for name in ("repgraphd.log", "prometheus.log"):
                p = os.path.join(tmp, name)
                if os.path.exists(p):
                    print(f"--- {name} (tail)\n" + open(p).read()[-3000:])
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
