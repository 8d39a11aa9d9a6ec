#!/usr/bin/python3
"""repgraph as a Postfix policy service, with a real Postfix (ctest: test_postfix).

Starts repgraphd (policy listener on a free loopback port) on a temporary store, seeds it
over msgpack (traffic, a bad sender, a good sender, a bad /24), recomputes, then starts a
throw-away Postfix instance from Debian's package with its own config, queue and data
directories: smtpd on a free loopback port, one virtual mailbox domain delivered to a
Maildir in the temporary directory, every other destination an error (nothing is relayed).
smtpd_recipient_restrictions and smtpd_end_of_data_restrictions ask repgraph through
check_policy_service with default_action=DUNNO. Over SMTP (smtplib) it checks:
  - the bad sender is rejected at RCPT with repgraph's text;
  - the good sender is accepted and its message delivered to the Maildir;
  - an unknown sender from the bad net (client address set with XCLIENT) is deferred or
    rejected, as repgraph's check verdict and the configured actions say;
  - accepted messages became observations, grouped per message (lookup);
  - with repgraphd stopped, Postfix still accepts the bad sender (fail open).
Postfix needs root to start. When it cannot run here the test says why and exits 77,
which ctest reports as skipped.

    /usr/bin/python3 tests/test_postfix.py BUILD_DIR
"""
import glob
import os
import pwd
import shutil
import signal
import smtplib
import socket
import struct
import subprocess
import sys
import tempfile
import time

import msgpack

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(SRC, "build"))
SKIP = 77
BAD, GOOD = "spam@bad.example", "alice@good.example"
BAD_IP, GOOD_IP, NET_IP = "203.0.113.5", "198.51.100.7", "203.0.113.77"
DOMAIN = "dest.example"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc=None, what="server", secs=20):
    deadline = time.monotonic() + secs  # bounded wait for the socket
    while True:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what} exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} never accepted connections on port {port}")
            time.sleep(0.05)


class Repgraph:
    """repgraphd with its policy listener, and a msgpack client."""

    def __init__(self, tmp):
        self.port, self.policy_port = free_port(), free_port()
        self.log = open(os.path.join(tmp, "repgraphd.log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(BUILD, "repgraphd"), "--data", os.path.join(tmp, "store"),
             "--port", str(self.port), "--unix", "none",
             "--set", f"policy.listen=127.0.0.1:{self.policy_port}",
             "--set", "policy.action_quarantine=DEFER_IF_PERMIT",
             "--set", "score.min_messages=1", "--set", "score.min_age=0",
             "--set", "recompute.interval=0"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc, "repgraphd")
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        self.next_id = 1

    def call(self, op, **fields):
        self.next_id += 1
        body = msgpack.packb({"id": self.next_id, "op": op, **fields})
        self.sock.sendall(struct.pack(">I", len(body)) + body)
        head = self._read(4)
        reply = msgpack.unpackb(self._read(struct.unpack(">I", head)[0]))
        if "error" in reply:
            raise AssertionError(f"{op}: {reply['error']}")
        return reply

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise AssertionError("repgraphd closed the connection")
            buf += chunk
        return buf

    def lookup(self, actor):
        return self.call("lookup", actors=[actor])["results"][0]

    def stop(self):
        self.sock.close()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        self.log.close()
        assert rc == 0, f"repgraphd exited with {rc}"


MASTER_CF = """\
{smtp_port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
proxywrite unix - - n - 1 proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
virtual   unix  - n n - - virtual
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""

MAIN_CF = """\
# A throw-away instance for tests/test_postfix.py: loopback only, nothing relayed.
compatibility_level = 3.6
queue_directory = {tmp}/queue
data_directory = {tmp}/data
maillog_file = {tmp}/maillog
maillog_file_prefixes = {tmp}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.test.example
mydomain = test.example
myorigin = test.example
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
default_transport = error:this test instance relays nothing
relay_transport = error:this test instance relays nothing
local_transport = error:no local delivery
alias_maps =
alias_database =
virtual_mailbox_domains = {domain}
virtual_mailbox_base = {tmp}/mail
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =
    check_policy_service {{ inet:127.0.0.1:{policy_port}, default_action=DUNNO }},
    reject_unauth_destination, permit
smtpd_end_of_data_restrictions =
    check_policy_service {{ inet:127.0.0.1:{policy_port}, default_action=DUNNO }}
smtpd_policy_service_retry_delay = 1s
smtpd_policy_service_try_limit = 1
biff = no
"""


class Postfix:
    def __init__(self, tmp, policy_port):
        self.tmp, self.conf = tmp, os.path.join(tmp, "conf")
        self.smtp_port = free_port()
        nobody = pwd.getpwnam("nobody")
        for d in ("conf", "queue", "data", "mail"):
            os.makedirs(os.path.join(tmp, d), exist_ok=True)
        os.chown(os.path.join(tmp, "mail"), nobody.pw_uid, nobody.pw_gid)
        postfix = pwd.getpwnam("postfix")
        os.chown(os.path.join(tmp, "data"), postfix.pw_uid, postfix.pw_gid)
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(tmp=tmp, domain=DOMAIN, uid=nobody.pw_uid, gid=nobody.pw_gid,
                                   policy_port=policy_port))
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(smtp_port=f"127.0.0.1:{self.smtp_port}"))
        self.started = False

    def postfix(self, *args):
        return subprocess.run(["postfix", "-c", self.conf, *args], capture_output=True,
                              text=True, timeout=120)

    def start(self):
        p = self.postfix("start")
        if p.returncode != 0:
            return f"postfix start failed ({p.returncode}): {p.stdout}{p.stderr}"
        self.started = True
        try:
            wait_port(self.smtp_port, None, "postfix smtpd", secs=30)
        except AssertionError as e:
            return f"{e}; {self.maillog()[-2000:]}"
        return None

    def stop(self):
        if self.started:
            self.postfix("stop")
            self.started = False

    def maillog(self):
        try:
            with open(os.path.join(self.tmp, "maillog")) as f:
                return f.read()
        except OSError:
            return ""

    def delivered(self):
        return glob.glob(os.path.join(self.tmp, "mail", "inbox", "new", "*"))


def skip_reason():
    if os.geteuid() != 0:
        return "Postfix needs root to start (run as root, as CI does)"
    if not shutil.which("postfix") or not os.path.exists("/usr/lib/postfix/sbin/master"):
        return "Postfix is not installed (Debian package postfix; scripts/install-deps.sh)"
    for user in ("postfix", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            return f"user {user} does not exist"
    return None


def smtp(port, client_ip=None):
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    s.ehlo("mx.client.example")
    if client_ip:  # as if the client connected from client_ip
        code, msg = s.docmd("XCLIENT", f"ADDR={client_ip} NAME=[UNAVAILABLE]")
        assert code == 220, f"XCLIENT: {code} {msg}"
        s.ehlo_resp = None
        s.ehlo("mx.client.example")
    return s


def message(sender, rcpts, subject):
    return (f"From: <{sender}>\r\nTo: {', '.join(rcpts)}\r\nSubject: {subject}\r\n"
            f"\r\nrepgraph test_postfix\r\n").encode()


def wait_for(cond, what, secs=20):
    deadline = time.monotonic() + secs
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def run(tmp):
    why = skip_reason()
    if why:
        print(f"SKIP: {why}")
        return SKIP
    rg = Repgraph(tmp)
    pf = None
    try:
        # Seed: traffic, labels, one generation.
        obs = [{"sender": BAD, "recipients": [f"v{i}@victim.example"], "client_ip": BAD_IP}
               for i in range(3)]
        obs += [{"sender": GOOD, "recipients": ["bob@victim.example"], "client_ip": GOOD_IP},
                {"sender": "other@bad-net.example", "recipients": ["v9@victim.example"],
                 "client_ip": "203.0.113.9"}]
        assert rg.call("ingest", observations=obs)["accepted"] == len(obs)
        labels = [{"actor": f"address:{BAD}", "verdict": "bad", "source": "analyst"},
                  {"actor": f"address:{GOOD}", "verdict": "good", "source": "analyst"},
                  {"actor": "net:203.0.113.0/24", "verdict": "bad", "source": "analyst"}]
        assert rg.call("label", labels=labels)["accepted"] == 3
        rg.call("recompute", wait=True)

        pf = Postfix(tmp, rg.policy_port)
        why = pf.start()
        if why:
            print(f"SKIP: Postfix cannot run here: {why}")
            return SKIP
        print(f"postfix smtpd on 127.0.0.1:{pf.smtp_port}, repgraph policy on "
              f"127.0.0.1:{rg.policy_port}")

        # 1. The bad sender is rejected at RCPT with repgraph's text.
        with smtp(pf.smtp_port) as s:
            s.mail(BAD)
            code, text = s.rcpt(f"user@{DOMAIN}")
            text = text.decode()
            print(f"bad sender: {code} {text}")
            assert code == 554 and "repgraph: sender: labelled bad" in text, (code, text)

        # 2. The good sender is accepted and delivered; one message to two recipients.
        with smtp(pf.smtp_port) as s:
            rcpts = [f"one@{DOMAIN}", f"two@{DOMAIN}"]
            refused = s.sendmail(GOOD, rcpts, message(GOOD, rcpts, "hello"))
            assert refused == {}, refused
        wait_for(lambda: len(pf.delivered()) == 2, "delivery to the Maildir (one file per recipient)")
        print(f"good sender: delivered to {pf.delivered()[0]}")

        # 3. An unknown sender from the bad net: deferred or rejected, as the check verdict
        #    and the configured actions (quarantine and tempfail -> DEFER_IF_PERMIT) say.
        sender = "fresh@new-sender.example"
        check = rg.call("check", sender=sender, client_ip=NET_IP, helo="mx.client.example")
        print(f"check for the bad net: {check['verdict']} score {check['score']:.3f} "
              f"decided_by {check['decided_by']}")
        assert check["verdict"] != "accept", check
        assert check["decided_by"] == "client_net", check
        want = 554 if check["verdict"] == "reject" else 450
        with smtp(pf.smtp_port, client_ip=NET_IP) as s:
            s.mail(sender)
            code, text = s.rcpt(f"user@{DOMAIN}")
            text = text.decode()
            print(f"bad net: {code} {text}")
            assert code == want and "repgraph: client_net" in text, (code, text)
            assert NET_IP not in text and "203.0.113.0" not in text, text

        # 4. Accepted messages became observations, grouped per message.
        def recorded():
            return rg.call("stats")["policy"]["observations_recorded"] >= 1
        wait_for(recorded, "the observation to commit")
        good = rg.lookup(f"address:{GOOD}")
        print(f"good sender after the message: messages {good['messages']}, "
              f"out_degree {good['out_degree']}")
        assert good["messages"] == 2, good  # the seed + one message (not one per recipient)
        assert good["out_degree"]["mailed"] == 3, good  # bob + one + two
        for r in rcpts:
            assert rg.lookup(f"address:{r}")["known"], r
        assert rg.lookup("ip:127.0.0.1")["known"]
        stats = rg.call("stats")["policy"]
        print(f"policy stats: {stats}")
        assert stats["reject"] >= 1 and stats["fail_open_error"] == 0

        # 5. With repgraphd stopped, Postfix still accepts (default_action=DUNNO).
        rg.stop()
        rg = None
        with smtp(pf.smtp_port) as s:
            refused = s.sendmail(BAD, [f"user@{DOMAIN}"], message(BAD, ["user"], "fail open"))
            assert refused == {}, refused
        wait_for(lambda: len(pf.delivered()) == 3, "delivery with repgraphd down")
        print("repgraphd down: the bad sender's message was accepted and delivered (fail open)")
        print("test_postfix: all checks passed")
        return 0
    except Exception:
        if pf:
            print("--- Postfix maillog (tail) ---\n" + pf.maillog()[-4000:])
        raise
    finally:
        if pf:
            pf.stop()
        if rg:
            rg.stop()


def main():
    tmp = tempfile.mkdtemp(prefix="rg-postfix-")
    os.chmod(tmp, 0o755)  # Postfix's daemons run as postfix / nobody
    try:
        return run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
