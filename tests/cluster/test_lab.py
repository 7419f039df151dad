"""The lab itself, with plain corosync (no rampartd): three corosync 3
processes (knet, aes256 + sha256, a generated authkey, token 1000) in three
namespaces form one ring; a SIGKILLed member leaves the membership within
the detection budget and rejoins when restarted; a member with another key
stays alone; a partition splits the ring and healing merges it; closing
the lab leaves no namespace behind."""
import os
import time

import lab as L

TOTEM = "\ttoken_coefficient: 0\n"


def root_links():
    """Interface names of the root namespace."""
    return {line.split(":")[1].strip().split("@")[0]
            for line in L.sh("ip", "-o", "link").stdout.splitlines()}


ROOT_LINKS = root_links()  # before any lab of this file


def keyfile(lab, name="authkey"):
    path = os.path.join(lab.dir, name)
    with open(path, "wb") as f:
        f.write(os.urandom(256))
    return path


def ring(lab, names, key, totem=TOTEM):
    conf = L.corosync_conf(lab, names, token=1000, totem_extra=totem)
    return [lab.add_corosync(n, conf, key) for n in names]


def wait_members(nodes, ids, timeout=20):
    try:
        L.wait_for(lambda: all(n.members() == set(ids) for n in nodes), timeout=timeout,
                   interval=0.02, what=f"membership {sorted(ids)}")
    except AssertionError:
        seen = {n.name: sorted(n.members()) for n in nodes}
        raise AssertionError(f"timed out waiting for membership {sorted(ids)}: {seen}")


def test_three_corosync_form_one_ring_and_detect_kill(lab, summary):
    nodes = ring(lab, ["c1", "c2", "c3"], keyfile(lab))
    wait_members(nodes, {1, 2, 3})
    q = nodes[0].exec("corosync-quorumtool", "-s", check=False).stdout
    assert "Quorate" in q and "Total votes:      3" in q, q
    assert "LINK ID 0" in nodes[0].exec("corosync-cfgtool", "-s").stdout
    # each corosync has its own private /run and /dev/shm
    pids = {n.proc.pid for n in nodes}
    assert len(pids) == 3

    t0 = time.monotonic()
    nodes[2].kill9()
    wait_members(nodes[:2], {1, 2})
    detect = time.monotonic() - t0
    summary(f"lab: plain corosync (token 1000, token_coefficient 0) kill -9 detected in {detect:.2f} s")
    assert detect < 3.0, f"membership shrank only after {detect:.2f} s"
    q = nodes[0].exec("corosync-quorumtool", "-s", check=False).stdout
    assert "Quorate" in q, q

    # restarted in a fresh mount namespace: no stale pid file or qb ring
    t0 = time.monotonic()
    nodes[2].start()
    wait_members(nodes, {1, 2, 3})
    summary(f"lab: killed corosync back in the ring {time.monotonic() - t0:.2f} s after restart")


def test_wrong_key_stays_alone(lab):
    nodes = ring(lab, ["c1", "c2"], keyfile(lab))
    conf = L.corosync_conf(lab, ["c1", "c2", "c3"], totem_extra=TOTEM)
    # c1/c2 were configured with a two-node list; c3 knows all three but
    # holds another key: it must never merge with them
    odd = lab.add_corosync("c3", conf, keyfile(lab, "otherkey"))
    wait_members(nodes, {1, 2})
    time.sleep(3)
    assert odd.members() == {3}
    assert all(n.members() == {1, 2} for n in nodes)


def test_partition_and_heal(lab):
    nodes = ring(lab, ["c1", "c2", "c3"], keyfile(lab))
    wait_members(nodes, {1, 2, 3})
    lab.partition([nodes[0]], nodes[1:])
    wait_members(nodes[1:], {2, 3})
    wait_members(nodes[:1], {1})
    q = nodes[0].exec("corosync-quorumtool", "-s", check=False).stdout
    assert "Quorate:          No" in q or "Activity blocked" in q, q
    lab.heal()
    wait_members(nodes, {1, 2, 3})
    lab.isolate(nodes[2])
    wait_members(nodes[:2], {1, 2})
    lab.reconnect(nodes[2])
    wait_members(nodes, {1, 2, 3})


def test_nothing_leaves_the_lab(lab):
    """No default route in a node; the bridge is not in the root namespace;
    close() removes every namespace and process."""
    nodes = ring(lab, ["c1", "c2"], keyfile(lab))
    routes = nodes[0].netexec("ip", "route").stdout
    assert "default" not in routes, routes
    r = nodes[0].netexec("ip", "route", "get", "1.1.1.1", check=False)
    assert r.returncode != 0, r.stdout
    assert not root_links() - ROOT_LINKS, root_links() - ROOT_LINKS
    names = set(L.ns_list())
    assert {f"{lab.prefix}-c1", f"{lab.prefix}-c2", lab.bridge_ns} <= names
    pids = nodes[0].pids() + nodes[1].pids()
    lab.close()
    left = [ns for ns in L.ns_list() if ns.startswith(lab.prefix + "-")]
    assert not left, left
    assert not [p for p in pids if alive(p)], pids


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
