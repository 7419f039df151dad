"""One rampartd and one destination SMTP server for a browser test file.

Started by tests/browser/lib.mjs (one per test file, so the files can run
in parallel): it starts a real rampartd (tests/system/conftest.py's Node)
on loopback ports with the domain example.test routed to Postfix's
smtp-sink (the destination server), prints one JSON line describing both,
then waits until its stdin is closed and stops everything. A node that
died on its own or wrote a sanitizer report makes it exit non-zero.

Usage: /usr/bin/python3 tests/browser/harness.py   (env: RAMPART_BUILD_DIR)
"""
import json
import os
import re
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "system"))

from conftest import CRASH_MARKERS, RAMPART, Node, Sink, wait_for  # noqa: E402


def admin_password(node):
    m = wait_for(lambda: re.search(r"^rampartd: initial admin password: (\S+)$", node.log(), re.M),
             what="initial admin password in the log")
    return m.group(1)


def main():
    root = tempfile.mkdtemp(prefix="rampart-browser-")
    node = sink = None
    rc = 0
    try:
        sink = Sink(root).start()
        node = Node(root, "web").start()
        node.add_domain("example.test", f"smtp:127.0.0.1:{sink.port}")
        info = {
            "url": f"https://127.0.0.1:{node.http_port}",
            "http_port": node.http_port,
            "smtp_port": node.smtp_port,
            "hostname": node.hostname,
            "conf": node.conf,
            "cli": RAMPART,
            "data": node.data,
            "log": node.log_path,
            "sink_dir": sink.dir,
            "sink_port": sink.port,
            "admin_password": admin_password(node),
        }
        print(json.dumps(info), flush=True)
        sys.stdin.read()  # until the test file closes our stdin
    finally:
        problems = []
        if node:
            if node.proc and node.proc.poll() is not None:
                problems.append(f"rampartd died during the tests (exit {node.proc.returncode})")
            node.stop(timeout=10)
            log = node.log()
            problems += [f"'{m}' in rampartd's log" for m in CRASH_MARKERS if m in log]
            if problems:
                sys.stderr.write(log[-6000:])
        if sink:
            sink.stop()
        for p in problems:
            sys.stderr.write(f"harness: {p}\n")
            rc = 1
        if os.environ.get("RAMPART_BROWSER_KEEP"):
            sys.stderr.write(f"harness: kept {root}\n")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
