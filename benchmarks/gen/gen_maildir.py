#!/usr/bin/python3
"""Generates a Maildir of realistic messages and the NDJSON observations they stand for.

Every message is what a mailbox on mx.example.net would hold: Received chains in the
shapes Postfix, Exim, Sendmail, Exchange/Outlook, qmail and Gmail write (IPv4 and IPv6,
`unknown` rDNS, TLS and authentication comments), forwarded mail (a second relay, several
Delivered-To), mailing-list mail (Sender, List-Id, the list server as the client), RFC 2047
encoded words in From and Subject, and bodies of a few hundred bytes to a few KB. The NDJSON
file has, line for line, the observation `repgraph ingest-mail` must derive with the
default trust inference (our relays are on 10.0.0.0/8): {ts, sender, recipients, client_ip,
helo, rdns?} (rdns: the client's reverse name where the client hop's shape carries one).
Fixed seed: the same corpus every run.

    /usr/bin/python3 benchmarks/gen/gen_maildir.py OUT_DIR [--messages 10000] [--seed 1]

writes OUT_DIR/Maildir/{new,cur,tmp} and OUT_DIR/observations.ndjson.
"""
import argparse
import base64
import email.utils
import json
import os
import random

START = 1709632800  # Tue, 5 Mar 2024 10:00:00 +0000
FIRST = ["Alice", "Bob", "Jörg", "Zoë", "François", "Ana", "Li", "Søren", "Ada", "Émile"]
LAST = ["Müller", "Smith", "Dupont", "García", "Nakamura", "O'Brien", "Kowalski", "Doe"]
WORDS = ("invoice meeting report offer update delivery account password prize urgent "
         "newsletter schedule review project order ticket").split()


def date(ts):
    return email.utils.formatdate(ts, usegmt=False)  # "Tue, 05 Mar 2024 10:00:00 -0000"


def encoded(text, rnd):
    """RFC 2047: Q or B encoding of non-ASCII text, plain otherwise."""
    if all(ord(c) < 128 for c in text) and rnd.random() < 0.5:
        return text
    raw = text.encode("utf-8")
    if rnd.random() < 0.5:
        return "=?utf-8?b?%s?=" % base64.b64encode(raw).decode()
    q = "".join(chr(b) if chr(b).isalnum() else "=%02X" % b for b in raw)
    return "=?utf-8?q?%s?=" % q


def ipv4(rnd):
    a = rnd.choice([23, 45, 62, 77, 85, 91, 104, 128, 151, 176, 185, 193, 203, 209, 212])
    return "%d.%d.%d.%d" % (a, rnd.randrange(256), rnd.randrange(256), rnd.randrange(1, 255))


def ipv6(rnd):
    return "2001:db8:%x:%x::%x" % (rnd.randrange(65536), rnd.randrange(65536),
                                   rnd.randrange(1, 65536))


def external_hop(rnd, helo, rdns, ip, ts, rcpt):
    """A Received field written by our MX for the client (ip, helo), in one MTA's shape, and
    the client's reverse name that field carries ("" for none)."""
    v6 = ":" in ip
    shape = rnd.randrange(6)
    d = date(ts)
    if shape == 0:  # Postfix
        lit = "IPv6:" + ip if v6 else ip
        tls = ("\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n\t key-exchange"
               " X25519 server-signature RSA-PSS (2048 bits))\n\t(No client certificate requested)"
               if rnd.random() < 0.6 else "")
        return (f"from {helo} ({rdns or 'unknown'} [{lit}]){tls}\n\tby mx.example.net (Postfix) "
                f"with ESMTPS id 4Q{rnd.randrange(16**8):08X}\n\tfor <{rcpt}>; {d}"), rdns
    if shape == 1:  # Exim
        host = f"{rdns} ([{ip}]:{rnd.randrange(1024, 65535)} helo={helo})" if rdns else \
            f"[{ip}] (helo={helo})"
        return (f"from {host}\n\tby mx.example.net with esmtps  (TLS1.3) tls TLS_AES_256_GCM_SHA384\n"
                f"\t(Exim 4.96)\n\t(envelope-from <x@example>)\n\tid 1r{rnd.randrange(16**6):06x}"
                f"-000ABC-1U\n\tfor {rcpt}; {d}"), rdns
    if shape == 2:  # Sendmail
        return (f"from {helo} ({rdns + ' ' if rdns else ''}[{ip}])\n\tby mx.example.net "
                f"(8.17.1/8.17.1) with ESMTP id 425A{rnd.randrange(10**7):07d}\n\tfor <{rcpt}>; {d}"), rdns
    if shape == 3:  # Exchange / Outlook as the sender's side
        return (f"from {helo} ({ip}) by mx.example.net (10.0.0.3) with Microsoft SMTP Server "
                f"(version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.7339.38; {d}"), ""
    if shape == 4:  # qmail
        who = rdns or "unknown"
        return (f"from {who} (HELO {helo}) ({ip})\n  by mx.example.net with SMTP; "
                f"{email.utils.formatdate(ts)}"), rdns
    lit = ip  # Gmail-style MX
    return (f"from {helo} ({(rdns or helo)}. [{lit}])\n        by mx.example.net with ESMTPS id "
            f"a{rnd.randrange(10**9)}\n        for <{rcpt}>\n        (version=TLS1_3 "
            f"cipher=TLS_AES_128_GCM_SHA256 bits=128/128);\n        {d}"), rdns or helo


def message(i, rnd):
    """One message and its observation."""
    ts = START + i * 7 + rnd.randrange(5)
    kind = rnd.random()
    user = "user%d@example.net" % rnd.randrange(2000)
    sdom = "sender%d.example.org" % rnd.randrange(800)
    sender = "%s.%s%d@%s" % (rnd.choice(FIRST).lower().encode("ascii", "ignore").decode() or "x",
                             rnd.choice(["a", "b", "c"]), rnd.randrange(50), sdom)
    name = "%s %s" % (rnd.choice(FIRST), rnd.choice(LAST))
    subject = " ".join(rnd.choice(WORDS) for _ in range(rnd.randrange(2, 7)))
    if rnd.random() < 0.3:
        subject = "Réf: " + subject + " — ça marche"
    v6 = rnd.random() < 0.1
    ip = ipv6(rnd) if v6 else ipv4(rnd)
    helo = "mail%d.%s" % (rnd.randrange(4), sdom)
    rdns = "" if rnd.random() < 0.15 else "out%d.%s" % (rnd.randrange(9), sdom)
    headers, recipients = [], [user]
    envelope = sender
    client_ip, client_helo = ip, helo
    if kind < 0.2:  # mailing list: the list server relays, Sender is the list's bounce
        client_ip, client_helo = ipv4(rnd), "lists.example.com"
        hop, seen_rdns = external_hop(rnd, client_helo, "lists.example.com", client_ip, ts, user)
        lst = "list%d@lists.example.com" % rnd.randrange(20)
        envelope = lst.replace("@", "-bounces@")
        headers += [f"Return-Path: <{envelope}>", f"Delivered-To: {user}",
                    "Received: from mx.example.net (mx.example.net [10.0.0.2])\n\tby store.example.net "
                    f"(Postfix) with LMTP id 9X{i:06d}; {date(ts + 1)}",
                    "Received: " + hop,
                    f"Received: from {helo} ({rdns or 'unknown'} [{ip}]) by lists.example.com "
                    f"(Postfix) with ESMTP id L{i}; {date(ts - 30)}",
                    f"Sender: {envelope}", f"List-Id: <{lst.replace('@', '.')}>",
                    "Precedence: list", f"From: {encoded(name, rnd)} <{sender}>", f"To: {lst}"]
    elif kind < 0.35:  # forwarded: an alias on another of our hosts, two Delivered-To
        alias = "alias%d@example.net" % rnd.randrange(300)
        recipients = [user, alias]
        hop, seen_rdns = external_hop(rnd, helo, rdns, ip, ts, alias)
        headers += [f"Return-Path: <{sender}>", f"Delivered-To: {user}", f"Delivered-To: {alias}",
                    "Received: from relay.example.net (relay.example.net [10.0.0.7])\n\tby "
                    f"mx.example.net (Postfix) with ESMTP id F{i}; {date(ts + 2)}",
                    "Received: " + hop,
                    f"From: {encoded(name, rnd)} <{sender}>", f"To: {alias}", "X-Forwarded-For: "
                    f"{alias} {user}"]
    else:  # direct
        hop, seen_rdns = external_hop(rnd, helo, rdns, ip, ts, user)
        headers += [f"Return-Path: <{sender}>", f"Delivered-To: {user}",
                    "Received: from mx.example.net (mx.example.net [10.0.0.2])\n\tby store.example.net "
                    f"(Postfix) with LMTP id 9X{i:06d}; {date(ts + 1)}",
                    "Received: " + hop,
                    f"From: {encoded(name, rnd)} <{sender}>", f"To: {user}"]
        if rnd.random() < 0.3:
            headers.append("Cc: %s <cc%d@example.net>" % (encoded(rnd.choice(FIRST), rnd),
                                                         rnd.randrange(100)))
    headers += [f"Subject: {encoded(subject, rnd)}", f"Date: {date(ts - 5)}",
                f"Message-ID: <{i}.{rnd.randrange(10**9)}@{sdom}>", "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
    body = "\n".join(" ".join(rnd.choice(WORDS) for _ in range(12))
                     for _ in range(rnd.randrange(3, 60)))
    text = "\n".join(headers) + "\n\n" + body + "\n"
    obs = {"ts": ts, "sender": envelope, "recipients": recipients, "client_ip": client_ip,
           "helo": client_helo}
    if seen_rdns:
        obs["rdns"] = seen_rdns
    return text, obs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    md = os.path.join(a.out, "Maildir")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    with open(os.path.join(a.out, "observations.ndjson"), "w") as nd:
        for i in range(a.messages):
            text, obs = message(i, rnd)
            sub = "cur" if i % 3 else "new"
            name = "%d.M%dP%d.mx.example.net%s" % (START + i, i, 4242, ":2,S" if sub == "cur" else "")
            with open(os.path.join(md, sub, name), "w", encoding="utf-8") as f:
                f.write(text)
            nd.write(json.dumps(obs, ensure_ascii=False) + "\n")
    print(f"gen_maildir: {a.messages} messages in {md}, observations in "
          f"{os.path.join(a.out, 'observations.ndjson')}")


if __name__ == "__main__":
    main()
