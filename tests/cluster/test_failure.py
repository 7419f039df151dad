"""Members that die: a node killed with kill -9 (rampartd and its corosync,
i.e. a machine crash) is shown down (red) on the others within 5 s and up
(green) again after its restart, with every change it missed; in a 2-node
cluster the survivor keeps accepting changes (also after a silent crash:
link cut, then kill -9); a member is removed; a member leaves."""
import os
import time

import clusterctl as C
import lab as L

RED_WITHIN = 5.0


def test_kill9_red_then_green_with_missed_changes(cluster, summary):
    nodes = cluster(3)
    C.form(nodes)
    n1, n2, n3 = nodes
    n3.kill9()
    t0 = time.monotonic()
    took = C.wait_states([n1, n2], {n3: C.DOWN}, timeout=15, interval=0.05)
    summary(f"cluster: kill -9 of a member shown down on the others after {took:.2f} s")
    assert took <= RED_WITHIN, f"shown down only after {took:.2f} s"
    assert time.monotonic() - t0 < 15
    for o in (n1, n2):
        assert C.member(o, n3).get("light") == "red", C.member(o, n3)

    # the two survivors are a majority: they keep accepting changes
    n1.set("block_score", 6)
    n2.set("tag_score", 2)
    n1.add_domain("missed.test", "maildir:/nonexistent-never-used")
    n2.cli("user", "add", "missed@missed.test", "--password", "missed-pass-1")
    n1.cli("config", "unset", "tag_score")
    n1.set("tag_score", 1.5)
    C.wait_value([n1, n2], "block_score", 6)

    n3.start()
    took = C.wait_states([n1, n2, n3], {n1: C.UP, n2: C.UP, n3: C.UP}, timeout=40)
    summary(f"cluster: restarted member shown up again {took:.2f} s after its daemon answered")
    for o in nodes:
        assert all(m.get("light") == "green" for m in C.members(o)), C.members(o)
    C.wait_value([n3], "block_score", 6)
    C.wait_value([n3], "tag_score", 1.5)
    assert "missed.test" in {d["name"] for d in n3.cli("domain", "list", json_out=True)}
    assert "missed@missed.test" in C.users(n3)
    L.wait_for(lambda: len({C.digest(n) for n in nodes}) == 1,
               timeout=10, what="one config_version on all nodes")


def test_daemon_killed_alone_recovers(cluster):
    """rampartd SIGKILLed while its corosync keeps running: the node is
    shown down (its CPG member is gone), and a restarted rampartd takes
    over again (no stale corosync holding the node's port)."""
    nodes = cluster(2)
    C.form(nodes)
    n1, n2 = nodes
    n2.kill9_daemon_only()
    C.wait_states([n1], {n2: C.DOWN}, timeout=10)
    n1.set("block_score", 7.5)
    n2.start()
    C.wait_all_up(nodes)
    C.wait_value([n2], "block_score", 7.5)
    # exactly one corosync in n2's namespace
    L.wait_for(lambda: len([p for p in n2.pids() if comm(p) == "corosync"]) == 1,
               timeout=10, what="one corosync in n2's namespace")
    # and it got the cluster port: the orphan of the killed daemon (still in
    # its graceful shutdown after PR_SET_PDEATHSIG's SIGTERM) was gone first
    with open(os.path.join(n2.data, "cluster", "corosync.log")) as f:
        assert "Address already in use" not in f.read()


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def test_two_node_survivor_accepts_changes(cluster):
    n1, n2 = cluster(2)
    C.form([n1, n2])
    n2.crash()  # silent: link cut, then kill -9 (n1 cannot tell it from a partition)
    C.wait_states([n1], {n2: C.DOWN}, timeout=10)
    r = n1.cli("config", "set", "block_score", "5", check=False)
    assert r.returncode == 0, f"the survivor of a 2-node cluster refused a change: {r.stderr}"
    n1.cli("user", "add", "survivor@example.test", "--password", "survivor-1")
    n2.start()
    C.wait_all_up([n1, n2])
    C.wait_value([n2], "block_score", 5)
    assert "survivor@example.test" in C.users(n2)


def test_remove_member(cluster):
    nodes = cluster(3)
    C.form(nodes)
    n1, n2, n3 = nodes
    n3.stop()
    C.wait_states([n1, n2], {n3: C.DOWN}, timeout=10)
    C.run(n1, "remove", n3.addr)
    for o in (n1, n2):
        L.wait_for(lambda: C.member(o, n3) is None, timeout=15,
                   what=f"{n3.name} gone from {o.name}'s member list")
        assert len(C.members(o)) == 2
    # the remaining two keep working as a two-node cluster: one of them
    # can die and the other still takes changes
    n1.set("block_score", 4.5)
    C.wait_value([n2], "block_score", 4.5)
    n2.kill9()
    C.wait_states([n1], {n2: C.DOWN}, timeout=10)
    r = n1.cli("config", "set", "tag_score", "3", check=False)
    assert r.returncode == 0, f"two-node survivor after a removal refused a change: {r.stderr}"
    n2.start()
    C.wait_all_up([n1, n2])

    # the removed node coming back does not disturb the cluster: it is not
    # listed again and changes keep flowing between the two members
    n3.start()
    time.sleep(3)
    for o in (n1, n2):
        assert C.member(o, n3) is None, C.members(o)
        assert all(m.get("state") == C.UP for m in C.members(o)), C.members(o)
    n2.set("block_score", 3.5)
    C.wait_value([n1], "block_score", 3.5)
    assert float(C.get(n3, "block_score")) != 3.5


def test_leave(cluster):
    n1, n2 = cluster(2)
    C.form([n1, n2])
    C.run(n2, "leave")
    L.wait_for(lambda: C.member(n1, n2) is None, timeout=15, what="n2 gone from n1")
    L.wait_for(lambda: len(C.members(n2)) <= 1, timeout=15, what="n2 alone")
    # both keep working, independently
    n1.set("block_score", 6)
    n2.set("block_score", 3)
    assert float(C.get(n1, "block_score")) == 6.0
    assert float(C.get(n2, "block_score")) == 3.0
