#!/usr/bin/python3
"""Users' Junk moves become labels, through a real Dovecot (ctest: test_dovecot).

Starts repgraphd on a temporary directory and a free port, and a throw-away Dovecot
(Debian's dovecot-imapd + dovecot-sieve) with its own config, base_dir and Maildir on a
loopback port, a passwd-file user, and ops/dovecot/'s IMAPSieve configuration and scripts
(their install paths rewritten to the temporary directory). Appends a message with imaplib,
moves it into Junk and checks through the wire protocol (python3-msgpack) that its sender
and client IP now carry a user_report bad label whose note names the mailbox; moves it
back out and checks the good one. Exits 77 (ctest: skipped) when Dovecot cannot run here,
saying why. Dovecot and repgraphd are stopped in every case.

    /usr/bin/python3 tests/test_dovecot.py BUILD_DIR
"""
import grp
import imaplib
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(SRC, "build"))
OPS = os.path.join(SRC, "ops", "dovecot")
INSTALL_DIR = "/usr/lib/dovecot/sieve-repgraph"  # as written in the shipped config
SKIP = 77
SENDER = "spammer@spam.example"
CLIENT_IP = "198.51.100.7"
MESSAGE = (
    "Return-Path: <%s>\r\n"
    "Delivered-To: alice@test.example\r\n"
    "Received: from mail.spam.example (mail.spam.example [%s])\r\n"
    "\tby mx.test.example (Postfix) with ESMTP id 4Q1xyz\r\n"
    "\tfor <alice@test.example>; Tue, 5 Mar 2024 10:00:00 +0000 (UTC)\r\n"
    "From: \"Prize Desk\" <%s>\r\n"
    "To: alice@test.example\r\n"
    "Subject: You won\r\n"
    "Date: Tue, 5 Mar 2024 09:59:58 +0000\r\n"
    "Message-ID: <won.1@spam.example>\r\n"
    "\r\n"
    "Claim your prize.\r\n" % (SENDER, CLIENT_IP, SENDER)).encode()


def skip(why):
    print(f"test_dovecot: SKIPPED: {why}")
    sys.exit(SKIP)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, seconds=20):
    deadline = time.monotonic() + seconds  # bounded wait for the socket
    while True:
        if proc.poll() is not None:
            return f"{what} exited at start with {proc.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return None
        except OSError:
            if time.monotonic() > deadline:
                return f"{what} never accepted connections on port {port}"
            time.sleep(0.02)


class Repgraph:
    """The wire protocol: 4-byte big-endian length + one msgpack map."""

    def __init__(self, port):
        import msgpack
        self.msgpack = msgpack
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.next_id = 0

    def call(self, op, **fields):
        self.next_id += 1
        body = self.msgpack.packb(dict(fields, id=self.next_id, op=op), use_bin_type=True)
        self.sock.sendall(struct.pack(">I", len(body)) + body)
        (n,) = struct.unpack(">I", self._recv(4))
        reply = self.msgpack.unpackb(self._recv(n), raw=False)
        assert reply.get("id") == self.next_id, reply
        assert "error" not in reply, reply
        return reply

    def _recv(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("repgraphd closed the connection")
            buf += chunk
        return buf


def dovecot_config(tmp, imap_port, mail_user):
    """Writes the throw-away Dovecot's config; returns its path."""
    sieve_dir = os.path.join(tmp, "sieve")
    os.makedirs(sieve_dir)
    for name in ("report-spam.sieve", "report-ham.sieve", "repgraph-feedback"):
        shutil.copy(os.path.join(OPS, name), sieve_dir)
    with open(os.path.join(sieve_dir, "repgraph-feedback.conf"), "w") as f:
        f.write(f'REPGRAPH={os.path.join(BUILD, "repgraph")}\nREPGRAPH_OPTS="-p {PORT}"\n')
    with open(os.path.join(OPS, "90-repgraph-imapsieve.conf")) as f:
        fragment = f.read().replace(INSTALL_DIR, sieve_dir)
    assert sieve_dir in fragment, "the shipped config no longer names " + INSTALL_DIR
    with open(os.path.join(tmp, "90-repgraph-imapsieve.conf"), "w") as f:
        f.write(fragment)
    with open(os.path.join(tmp, "passwd"), "w") as f:
        f.write("alice@test.example:{PLAIN}secret::::::\n")
    pw = pwd.getpwnam(mail_user)
    root = os.getuid() == 0
    internal = "dovecot" if root else pw.pw_name
    login = "dovenull" if root else pw.pw_name
    group = "dovecot" if root else grp.getgrgid(pw.pw_gid).gr_name
    conf = os.path.join(tmp, "dovecot.conf")
    with open(conf, "w") as f:
        f.write(f"""
base_dir = {tmp}/run
state_dir = {tmp}/state
log_path = {tmp}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_internal_user = {internal}
default_internal_group = {group}
default_login_user = {login}
first_valid_uid = 1
# No address-space cap on the mail processes: the sanitizer passes run an ASan build of
# repgraph from the pipe, and ASan reserves terabytes of shadow address space.
default_vsz_limit = 0
mail_location = maildir:{tmp}/mail/%n
mail_uid = {pw.pw_uid}
mail_gid = {pw.pw_gid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {tmp}/passwd
}}
userdb {{
  driver = static
  args = home={tmp}/home/%n
}}
namespace inbox {{
  inbox = yes
  mailbox Junk {{
    special_use = \\Junk
    auto = create
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
!include {tmp}/90-repgraph-imapsieve.conf
""")
    for d in ("sieve",):  # Dovecot saves the compiled scripts beside them, as the mail user
        os.chown(os.path.join(tmp, d), pw.pw_uid, pw.pw_gid)
    for d in ("mail", "home", "state"):
        os.makedirs(os.path.join(tmp, d))
        os.chown(os.path.join(tmp, d), pw.pw_uid, pw.pw_gid)
    return conf


def label_of(rg, actor, want_verdict, seconds=15):
    """The actor's newest label once it has `want_verdict` (the pipe runs inside the IMAP
    command, so it is normally there at once; bounded wait for slow machines)."""
    deadline = time.monotonic() + seconds
    while True:
        h = rg.call("history", actors=[actor])["results"][0]["labels"]
        if h and h[0]["verdict"] == want_verdict:
            return h[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"{actor}: no {want_verdict} label; history {h}")
        time.sleep(0.05)


def move(imap, uid, to):
    typ, caps = imap.capability()
    if b"MOVE" in caps[0].split():
        typ, data = imap.uid("MOVE", uid, to)
    else:
        typ, data = imap.uid("COPY", uid, to)
        if typ == "OK":
            imap.uid("STORE", uid, "+FLAGS", r"(\Deleted)")
            imap.expunge()
    assert typ == "OK", (typ, data)


def run(tmp, imap_port):
    rg = Repgraph(PORT)
    imap = imaplib.IMAP4("127.0.0.1", imap_port)
    imap.login("alice@test.example", "secret")
    typ, data = imap.append("INBOX", None, None, MESSAGE)
    assert typ == "OK", (typ, data)
    imap.select("INBOX")
    typ, data = imap.uid("SEARCH", None, "ALL")
    uid = data[0].split()[-1].decode()

    move(imap, uid, "Junk")  # the user says: spam
    for actor in ("address:" + SENDER, "ip:" + CLIENT_IP):
        bad = label_of(rg, actor, "bad")
        assert bad["source"] == "user_report", bad
        assert "Junk" in bad["note"] and "alice" in bad["note"], bad
    info = rg.call("lookup", actors=["address:" + SENDER])["results"][0]
    assert info["label"]["verdict"] == "bad" and info["label"]["source"] == "user_report", info

    imap.select("Junk")
    typ, data = imap.uid("SEARCH", None, "ALL")
    uid = data[0].split()[-1].decode()
    move(imap, uid, "INBOX")  # the user says: not spam after all
    good = label_of(rg, "address:" + SENDER, "good")
    assert good["source"] == "user_report" and "INBOX" in good["note"], good
    assert "out of Junk" in good["note"], good
    imap.logout()
    print("test_dovecot: ok: Junk move -> bad (%r), move out -> good (%r)"
          % (bad["note"], good["note"]))


def main():
    global PORT
    dovecot = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not os.access(dovecot, os.X_OK):
        skip("dovecot is not installed (Debian: dovecot-imapd dovecot-sieve)")
    for mod in ("lib95_imap_sieve_plugin.so", "sieve/lib90_sieve_imapsieve_plugin.so",
                "sieve/lib90_sieve_extprograms_plugin.so"):
        if not os.path.exists(os.path.join("/usr/lib/dovecot/modules", mod)):
            skip(f"Dovecot's {mod} is missing (Debian: dovecot-sieve)")
    try:
        import msgpack  # noqa: F401
    except ImportError:
        skip("python3-msgpack is not installed")
    mail_user = "nobody" if os.getuid() == 0 else pwd.getpwuid(os.getuid()).pw_name

    tmp = tempfile.mkdtemp(prefix="rg-dovecot-")
    os.chmod(tmp, 0o755)  # the mail user runs the pipe program from here
    PORT, imap_port = free_port(), free_port()
    procs = []
    status = 1
    try:
        log = open(os.path.join(tmp, "repgraphd.log"), "w")
        server = subprocess.Popen(
            [os.path.join(BUILD, "repgraphd"), "--data", os.path.join(tmp, "data"), "--port",
             str(PORT), "--unix", "none", "--set", "recompute.interval=0"],
            stdout=log, stderr=subprocess.STDOUT)
        procs.append(server)
        err = wait_port(PORT, server, "repgraphd")
        assert not err, err
        conf = dovecot_config(tmp, imap_port, mail_user)
        dlog = open(os.path.join(tmp, "dovecot.stderr"), "w")
        dc = subprocess.Popen([dovecot, "-F", "-c", conf], stdout=dlog, stderr=subprocess.STDOUT)
        procs.append(dc)
        err = wait_port(imap_port, dc, "dovecot")
        if err:
            dlog.flush()
            for name in ("dovecot.stderr", "dovecot.log"):
                p = os.path.join(tmp, name)
                if os.path.exists(p):
                    sys.stdout.write(open(p).read()[-3000:])
            status = SKIP
            skip(f"Dovecot cannot run here: {err}")
        try:
            run(tmp, imap_port)
            status = 0
        except SystemExit as e:  # skip() after the start: nothing to look at
            status = e.code
            raise
        finally:
            if status:
                p = os.path.join(tmp, "dovecot.log")
                if os.path.exists(p):
                    sys.stdout.write("--- dovecot.log\n" + open(p).read()[-4000:])
    finally:
        for p in reversed(procs):  # Dovecot first, then repgraphd
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if status in (0, SKIP):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"test_dovecot: kept {tmp} for a look")
    sys.exit(status)


PORT = 0
if __name__ == "__main__":
    main()
