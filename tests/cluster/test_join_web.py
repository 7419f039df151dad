"""Joining through the web page: the joiner's admin opens the Clustering
page, enters the Cluster Shared Secret and a member's address, presses
Join Cluster, and the page shows every member up (green). Playwright
(tests/browser/node_modules/playwright-core) drives Debian's Chromium
inside the joiner's network namespace (web_join.mjs)."""
import json
import os
import re

import clusterctl as C
import lab as L

HERE = os.path.dirname(os.path.abspath(__file__))
PLAYWRIGHT = os.path.join(HERE, "..", "browser", "node_modules", "playwright-core")


def admin_password(node):
    m = L.wait_for(lambda: re.search(r"initial admin password: (\S+)", node.log()),
                   what=f"{node.name}'s initial admin password")
    return m.group(1)


def test_join_through_web_page(cluster):
    assert os.path.isdir(PLAYWRIGHT), (
        "playwright-core is not installed in tests/browser/node_modules (npm ci there)")
    assert os.path.exists("/usr/bin/chromium"), "Chromium is missing (scripts/deps.sh)"
    n1, n2 = cluster(2)
    C.secret(n1)
    args = {"url": f"https://{n2.addr}:{n2.http_port}", "password": admin_password(n2),
            "secret": C.SECRET, "target": n1.addr,
            "shot": os.path.join(n2.dir, "clustering.png")}
    r = n2.netexec("env", f"HOME={n2.dir}", "node", os.path.join(HERE, "web_join.mjs"),
                   json.dumps(args), timeout=120, check=False)
    last = (r.stdout.strip().splitlines() or ["{}"])[-1]
    try:
        res = json.loads(last)
    except ValueError:
        res = {"ok": False, "error": r.stdout[-1000:] + r.stderr[-1000:]}
    err = re.sub(r"\x1b\[[0-9;]*m", "", str(res.get("error")))
    assert res.get("ok"), (
        "joining through the Clustering page failed (the page is specified in "
        f"/work/notes/cluster-lab.md): {err}\n{r.stderr[-1500:]}")
    C.wait_all_up([n1, n2])
    n1.set("block_score", 6.5)
    C.wait_value([n2], "block_score", 6.5)
