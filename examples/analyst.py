#!/usr/bin/python3
"""An analyst's script against repgraphd, written only from the protocol description.

It speaks the wire protocol directly (4-byte big-endian length + one msgpack map, with
Debian's python3-msgpack), checks every request and reply against schemas/protocol.json,
lists the most suspicious clusters, pulls the most suspicious one through the paged
`export` op (following the cursor) and loads it into networkx (python3-networkx).

    /usr/bin/python3 examples/analyst.py --port 7411 [--top 5] [--graphml out.graphml] [--check]

--check makes it a test: the loaded graph must match what the server said (node count =
cluster size, every edge between loaded nodes, every node in the cluster); exit 1 otherwise.
The test suite runs it with --check against a real server.
"""
import argparse
import json
import os
import socket
import struct
import sys

import msgpack
import networkx as nx

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SCHEMA = os.path.join(HERE, "..", "schemas", "protocol.json")


class RepgraphError(Exception):
    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code


class Repgraph:
    """A blocking client: one request at a time, replies checked against the schema."""

    def __init__(self, host, port, schema_path=DEFAULT_SCHEMA, timeout=60):
        with open(schema_path) as f:
            self.schema = json.load(f)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.next_id = 0

    def close(self):
        self.sock.close()

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("server closed the connection")
            buf += chunk
        return bytes(buf)

    def call(self, op, **fields):
        spec = self.schema["ops"].get(op)
        if spec is None:
            raise ValueError(f"op {op!r} is not in the protocol schema")
        allowed = spec["request"].get("fields", {})
        unknown = set(fields) - set(allowed)
        if unknown:
            raise ValueError(f"{op}: fields {sorted(unknown)} are not in the schema")
        self.next_id += 1
        body = msgpack.packb(dict(fields, id=self.next_id, op=op), use_bin_type=True)
        self.sock.sendall(struct.pack(">I", len(body)) + body)
        (length,) = struct.unpack(">I", self._recv_exact(4))
        reply = msgpack.unpackb(self._recv_exact(length), raw=False)
        if reply.get("id") != self.next_id:
            raise ValueError(f"reply id {reply.get('id')} for request {self.next_id}")
        if "error" in reply:
            raise RepgraphError(reply["error"]["code"], reply["error"]["message"])
        mismatches = []
        for alt in spec["reply"].get("one_of", [spec["reply"]]):  # a reply of one of its shapes
            declared = set(alt["fields"]) | {"id"}
            extra = set(reply) - declared
            missing = declared - set(reply) - set(alt.get("optional", []))
            if not extra and not missing:
                return reply
            mismatches.append(f"extra {extra}, missing {missing}")
        raise ValueError(f"{op} reply does not match the schema: {'; or '.join(mismatches)}")

    def export(self, clusters, page=1000):
        """Yields the pages of an export, following the cursor until it is null."""
        cursor = None
        while True:
            fields = {"clusters": list(clusters), "limit": page}
            if cursor:
                fields["cursor"] = cursor
            reply = self.call("export", **fields)
            yield reply
            cursor = reply["cursor"]
            if cursor is None:
                return


def load_graph(client, clusters, page=1000, progress=False):
    """Pulls clusters into a networkx MultiDiGraph keyed by actor ("type:identifier")."""
    g = nx.MultiDiGraph()
    total = 0
    for reply in client.export(clusters, page):
        total = reply["total_nodes"]
        for node in reply["nodes"]:
            attrs = {k: v for k, v in node.items() if k != "actor" and v is not None}
            g.add_node(node["actor"], **attrs)
        for e in reply["edges"]:
            attrs = {k: v for k, v in e.items() if k not in ("src", "dst")}
            g.add_edge(e["src"], e["dst"], key=e["kind"], **attrs)
        if progress:
            print(f"\r  {g.number_of_nodes()} of {total} nodes, {g.number_of_edges()} edges",
                  end="", file=sys.stderr)
    if progress:
        print(file=sys.stderr)
    g.graph["total_nodes"] = total
    return g


def check(g, clusters):
    """The loaded graph must be what the server described."""
    problems = []
    if g.number_of_nodes() != g.graph["total_nodes"]:
        problems.append(f"{g.number_of_nodes()} nodes loaded, cluster size {g.graph['total_nodes']}")
    outside = [n for n, c in g.nodes(data="cluster") if c not in clusters]
    if outside:
        problems.append(f"{len(outside)} nodes outside the clusters, e.g. {outside[0]}")
    unscored = [n for n, r in g.nodes(data="reputation") if r is None or not 0 <= r <= 1]
    if unscored:
        problems.append(f"{len(unscored)} nodes without a reputation in [0,1]")
    if g.number_of_edges() == 0 and g.number_of_nodes() > 1:
        problems.append("no edges among the members")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=7411)
    ap.add_argument("--schema", default=DEFAULT_SCHEMA)
    ap.add_argument("--top", type=int, default=5, help="clusters to list")
    ap.add_argument("--page", type=int, default=1000, help="items per export page")
    ap.add_argument("--graphml", help="also write the loaded cluster as GraphML (networkx)")
    ap.add_argument("--check", action="store_true", help="verify the loaded graph; exit 1 if wrong")
    args = ap.parse_args()

    client = Repgraph(args.host, args.port, args.schema)
    try:
        top = client.call("clusters", limit=args.top)
        print(f"generation {top['generation']}: the {len(top['clusters'])} most suspicious clusters")
        print(f"{'cluster':>8} {'size':>6} {'suspicion':>9} {'bad seeds':>9}  top members")
        for c in top["clusters"]:
            members = ", ".join(m["actor"] for m in c["top"][:3])
            print(f"{c['id']:>8} {c['size']:>6} {c['suspicion']:>9.3f} {c['bad_seeds']:>9}  {members}")
        if not top["clusters"]:
            print("no clusters")
            return 1 if args.check else 0
        chosen = top["clusters"][0]["id"]
        g = load_graph(client, [chosen], args.page, progress=sys.stderr.isatty())
        reps = [r for _, r in g.nodes(data="reputation")]
        degree = sorted(g.degree, key=lambda x: -x[1])[:3]
        print(f"cluster {chosen} in networkx: {g.number_of_nodes()} nodes, {g.number_of_edges()} "
              f"edges, mean reputation {sum(reps) / len(reps):.3f}, weakly connected components "
              f"{nx.number_weakly_connected_components(g)}")
        print("  best connected: " + ", ".join(f"{n} ({d})" for n, d in degree))
        if args.graphml:
            flat = nx.DiGraph(g)  # GraphML readers want one edge per pair
            nx.write_graphml(flat, args.graphml)
            print(f"  written to {args.graphml}")
        if args.check:
            problems = check(g, {chosen})
            for p in problems:
                print(f"check failed: {p}", file=sys.stderr)
            return 1 if problems else 0
        return 0
    except RepgraphError as e:
        print(f"error from repgraphd: {e}", file=sys.stderr)
        return 1
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
