"""Joining through the web page: the joiner's admin opens the Clustering
page, enters the Cluster Shared Secret and a member's address, presses
Join Cluster, and the page shows every member up (green). Playwright
(tests/browser/node_modules/playwright-core) drives Debian's Chromium
inside the joiner's network namespace (web_join.mjs). Then the member list
of the page (web_members.mjs): a role change, a stopped member shown red
and removed, a member leaving the cluster."""
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


def page_steps(node, password, steps, shot=None):
    """Runs web_members.mjs against node's Clustering page (inside node's
    network namespace); returns the members it shows at the end."""
    args = {"url": f"https://{node.addr}:{node.http_port}", "password": password, "steps": steps}
    if shot:
        args["shot"] = shot
    r = node.netexec("env", f"HOME={node.dir}", "node", os.path.join(HERE, "web_members.mjs"),
                     json.dumps(args), timeout=180, check=False)
    last = (r.stdout.strip().splitlines() or ["{}"])[-1]
    try:
        res = json.loads(last)
    except ValueError:
        res = {"ok": False, "error": r.stdout[-1000:] + r.stderr[-1000:]}
    err = re.sub(r"\x1b\[[0-9;]*m", "", str(res.get("error")))
    assert res.get("ok"), f"on {node.name}'s Clustering page: {err}\n{r.stderr[-1500:]}"
    return res["members"]


def test_members_through_web_page(cluster):
    """The Clustered Systems list of the page: a role change propagated, a
    stopped member shown red and removed, a member leaving."""
    n1, n2, n3 = cluster(3)
    pw1 = admin_password(n1)
    C.form([n1, n2, n3])
    page_steps(n1, pw1, [{"do": "members", "count": 3, "state": "up"},
                         {"do": "role", "member": n3.addr, "role": "standby"}])
    for o in (n1, n2):
        L.wait_for(lambda: (C.member(o, n3) or {}).get("role") == "standby", timeout=10,
                   what=f"{n3.name} standby on {o.name}")
    n3.stop()
    page_steps(n1, pw1, [{"do": "state", "member": n3.addr, "state": "down", "light": "red"},
                         {"do": "remove", "member": n3.addr},
                         {"do": "members", "count": 2, "state": "up"}])
    for o in (n1, n2):
        L.wait_for(lambda: C.member(o, n3) is None, timeout=15,
                   what=f"{n3.name} gone from {o.name}'s member list")
    # the admin password is the cluster's (n1's) after the join
    page_steps(n2, pw1, [{"do": "leave"}])
    L.wait_for(lambda: C.member(n1, n2) is None, timeout=15, what="n2 gone from n1")
    assert len(C.members(n2)) <= 1
    n2.set("block_score", 3)
    n1.set("block_score", 6)
    assert float(C.get(n2, "block_score")) == 3.0
