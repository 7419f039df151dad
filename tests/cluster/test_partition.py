"""Partitions: writes on both sides of a split two-node cluster (each side
keeps quorum: two_node), then heal: every node converges to the same state,
each key keeps the newest write, and the overwritten write is listed as a
conflict on every node. With three nodes the minority side refuses writes
and catches up after the heal."""
import time

import clusterctl as C
import lab as L


def conflict_keys(node):
    """Setting names of the listed conflicts (keys are raw config keys,
    `setting/global/<name>`)."""
    return {C.conflict_setting(c) for c in C.conflicts(node)}


def test_split_brain_two_nodes_converges_and_lists_conflict(cluster):
    n1, n2 = cluster(2)
    C.form([n1, n2])
    assert not C.conflicts(n1)
    lab = n1.lab
    lab.partition([n1], [n2])
    C.wait_states([n1], {n2: C.DOWN}, timeout=10)
    C.wait_states([n2], {n1: C.DOWN}, timeout=10)

    # both sides write: the same key (n2 later, so n2's write is newest),
    # and one key each
    r1 = n1.cli("config", "set", "block_score", "6", check=False)
    assert r1.returncode == 0, f"n1 refused a write in a 2-node split: {r1.stderr}"
    n1.set("tag_score", 2.25)
    time.sleep(0.05)
    r2 = n2.cli("config", "set", "block_score", "7", check=False)
    assert r2.returncode == 0, f"n2 refused a write in a 2-node split: {r2.stderr}"
    n2.set("smtp_banner", "ESMTP written on n2")
    n1.cli("user", "add", "left@example.test", "--password", "left-pass-1")
    n2.cli("user", "add", "right@example.test", "--password", "right-pass-1")

    lab.heal()
    C.wait_all_up([n1, n2])
    C.wait_value([n1, n2], "block_score", 7)
    C.wait_value([n1, n2], "tag_score", 2.25)
    C.wait_value([n1, n2], "smtp_banner", "ESMTP written on n2")
    for n in (n1, n2):
        L.wait_for(lambda: {"left@example.test", "right@example.test"} <= C.users(n),
                   timeout=15, what=f"users of both sides on {n.name}")
    L.wait_for(lambda: C.digest(n1) == C.digest(n2),
               timeout=10, what="same config_version")

    # the losing write of block_score is listed, on both nodes, with its value
    for n in (n1, n2):
        L.wait_for(lambda: "block_score" in conflict_keys(n), timeout=10,
                   what=f"block_score conflict listed on {n.name}")
        c = next(x for x in C.conflicts(n) if C.conflict_setting(x) == "block_score")
        assert float(c["loser"]["value"]) == 6.0, f"the overwritten write is not the loser: {c}"
        assert float(c["winner"]["value"]) == 7.0, c
        # only keys written on both sides are conflicts
        assert "tag_score" not in conflict_keys(n)
        assert "smtp_banner" not in conflict_keys(n)


def test_three_nodes_minority_refuses_then_catches_up(cluster):
    nodes = cluster(3)
    C.form(nodes)
    n1, n2, n3 = nodes
    lab = n1.lab
    lab.partition([n1], [n2, n3])
    C.wait_states([n2, n3], {n1: C.DOWN}, timeout=10)
    C.wait_states([n1], {n2: C.DOWN, n3: C.DOWN}, timeout=10)

    r = n1.cli("config", "set", "block_score", "3", check=False)
    assert r.returncode != 0, "the minority side accepted a write"
    assert "quorum" in r.stderr.lower(), r.stderr
    n2.set("block_score", 8)
    C.wait_value([n3], "block_score", 8)
    assert float(C.get(n1, "block_score")) != 3.0

    lab.heal()
    C.wait_all_up(nodes)
    C.wait_value(nodes, "block_score", 8)
    assert not C.conflicts(n1), C.conflicts(n1)
