#!/usr/bin/python3
"""ingest-mail derives exactly the observations a realistic corpus stands for (ctest:
test_mail_corpus). Generates a Maildir with benchmarks/gen/gen_maildir.py (six MTAs'
Received shapes, IPv6, forwarded and list mail, encoded words) and checks that
`repgraph ingest-mail --print` gives the generator's NDJSON, observation for observation.

    /usr/bin/python3 tests/test_mail_corpus.py BUILD_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(SRC, "build"))
MESSAGES = 2000


def canon(lines):
    return sorted(json.dumps(json.loads(l), sort_keys=True) for l in lines if l.strip())


def main():
    tmp = tempfile.mkdtemp(prefix="rg-mail-corpus-")
    try:
        subprocess.run([sys.executable, os.path.join(SRC, "benchmarks", "gen", "gen_maildir.py"),
                        tmp, "--messages", str(MESSAGES), "--seed", "7"], check=True,
                       stdout=subprocess.DEVNULL)
        p = subprocess.run([os.path.join(BUILD, "repgraph"), "ingest-mail", "--print",
                            os.path.join(tmp, "Maildir")], capture_output=True, text=True,
                           timeout=300)
        assert p.returncode == 0, p.stderr
        with open(os.path.join(tmp, "observations.ndjson")) as f:
            want = canon(f)
        got = canon(p.stdout.splitlines())
        assert len(want) == MESSAGES and len(got) == MESSAGES, (len(want), len(got), p.stderr)
        missing = sorted(set(want) - set(got))
        assert not missing, "derived differently:\n" + "\n".join(missing[:5])
        assert want == got
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"test_mail_corpus: ok: {MESSAGES} messages, every observation as generated")


if __name__ == "__main__":
    main()
