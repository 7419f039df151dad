"""Joining through the CLI: 2 and 3 nodes, settings propagated everywhere,
the joiner's settings overridden and its users merged, a wrong or missing
secret refused without disturbing the cluster, an unresolvable cluster
host name refused with a message naming it, then working after a Local
Host Map entry."""
import clusterctl as C
import lab as L


def test_two_node_join_overrides_settings_and_merges_users(cluster):
    n1, n2 = cluster(2)
    # the cluster's side: settings and one user
    n1.set("block_score", 7)
    n1.add_domain("example.test", "maildir:/nonexistent-never-used")
    n1.cli("user", "add", "alice@example.test", "--password", "alice-pass-1")
    # the joiner's own settings (to be overridden) and users (to be kept)
    n2.set("block_score", 6)
    n2.set("tag_score", 2)
    n2.cli("user", "add", "bob@example.test", "--password", "bob-pass-12")
    n2.cli("user", "add", "carol@example.test", "--password", "carol-pass-1")

    C.secret(n1)
    C.secret(n2)
    r = C.join(n2, n1)
    assert r.returncode == 0
    C.wait_all_up([n1, n2])

    # joiner's propagated settings replaced by the cluster's
    C.wait_value([n2], "block_score", 7)
    C.wait_value([n2], "tag_score", 3.5)  # unset in the cluster: back to the default
    assert "example.test" in {d["name"] for d in n2.cli("domain", "list", json_out=True)}
    # users: union on both nodes
    want = {"alice@example.test", "bob@example.test", "carol@example.test"}
    for n in (n1, n2):
        L.wait_for(lambda: C.users(n) >= want, timeout=20,
                   what=f"merged users on {n.name} (has {C.users(n)})")
    # bob can still log in with his password on either node: his record
    # (password hash included) survived the merge
    for n in (n1, n2):
        code, body = n.api().request("POST", "/auth/login",
                                     {"username": "bob@example.test", "password": "bob-pass-12"})
        assert code == 200, f"bob cannot log in on {n.name}: {code} {body}"

    # both directions propagate afterwards
    n2.set("block_score", 8)
    C.wait_value([n1, n2], "block_score", 8)
    n1.set("smtp_banner", "ESMTP lab cluster")
    C.wait_value([n1, n2], "smtp_banner", "ESMTP lab cluster")
    L.wait_for(lambda: C.digest(n1) == C.digest(n2), timeout=10,
               what="same config digest on both nodes")


def test_three_node_join_settings_visible_everywhere(cluster):
    nodes = cluster(3)
    C.form(nodes)
    n1, n2, n3 = nodes
    n3.set("block_score", 6.5)
    n1.set("tag_score", 2.5)
    n2.add_domain("three.test", "maildir:/nonexistent-never-used")
    n2.cli("user", "add", "dave@three.test", "--password", "dave-pass-1")
    C.wait_value(nodes, "block_score", 6.5)
    C.wait_value(nodes, "tag_score", 2.5)
    for n in nodes:
        L.wait_for(lambda: "three.test" in {d["name"] for d in n.cli("domain", "list", json_out=True)},
                   timeout=10, what=f"domain on {n.name}")
        L.wait_for(lambda: "dave@three.test" in C.users(n), timeout=10,
                   what=f"user on {n.name}")
    # every member reports the same config version
    L.wait_for(lambda: len({C.digest(n) for n in nodes}) == 1,
               timeout=10, what="one config_version on all nodes")
    # the status lists three members, each up, with role and config version
    for m in C.members(n1):
        assert m.get("state") == C.UP, m
        assert m.get("role") in ("active", "standby"), m


def test_wrong_secret_refused_cluster_unaffected(cluster):
    n1, n2, n3 = cluster(3)
    C.form([n1, n2])
    n3.set("block_score", 4)

    # no secret at all: refused with a message saying so
    r = C.join(n3, n1, check=False)
    assert r.returncode != 0, "join without a secret succeeded"
    assert "secret" in (r.stderr + r.stdout).lower(), r.stderr

    # a different secret: refused, message names the secret
    C.secret(n3, "a-completely-different-secret")
    r = C.join(n3, n1, check=False)
    assert r.returncode != 0, "join with a wrong secret succeeded"
    assert "secret" in (r.stderr + r.stdout).lower(), r.stderr

    # the cluster did not change: two members up, n3 unknown to it, and
    # changes still flow between n1 and n2
    for o in (n1, n2):
        ms = C.members(o)
        assert len(ms) == 2 and all(m.get("state") == C.UP for m in ms), ms
        assert C.member(o, n3) is None
    n1.set("block_score", 8.5)
    C.wait_value([n1, n2], "block_score", 8.5)
    # and n3 kept its own settings
    assert float(C.get(n3, "block_score")) == 4.0

    # with the right secret it joins
    C.secret(n3)
    C.join(n3, n1)
    C.wait_all_up([n1, n2, n3])
    C.wait_value([n3], "block_score", 8.5)


def test_unresolvable_host_name_then_local_host_map(cluster):
    n1, n2 = cluster(2)
    for n in (n1, n2):
        n.cluster_name = f"{n.name}.cluster.lab.test"  # in no DNS, no /etc/hosts
        C.run(n, "hostname", n.cluster_name)
        C.secret(n)

    # n2 cannot resolve n1's name: refused, the message names the host and
    # points at the Local Host Map
    r = C.join(n2, n1.cluster_name, check=False)
    assert r.returncode != 0, "join through an unresolvable name succeeded"
    msg = (r.stderr + r.stdout).lower()
    assert n1.cluster_name in msg, r.stderr
    assert "host map" in msg or "hostmap" in msg, r.stderr
    assert len(C.members(n1)) <= 1

    # n2 maps n1's name, but n1 cannot resolve n2's name yet: still refused,
    # now naming n2's host
    C.run(n2, "hostmap", "add", n1.cluster_name, n1.addr)
    r = C.join(n2, n1.cluster_name, check=False)
    assert r.returncode != 0, "joined although n1 cannot resolve n2's name"
    assert n2.cluster_name in (r.stderr + r.stdout).lower(), r.stderr

    # both maps filled: works, and the map is node-local (not propagated)
    C.run(n1, "hostmap", "add", n2.cluster_name, n2.addr)
    C.join(n2, n1.cluster_name)
    C.wait_all_up([n1, n2])
    m1 = n1.cli("cluster", "hostmap", "list", json_out=True)
    m2 = n2.cli("cluster", "hostmap", "list", json_out=True)
    assert n2.cluster_name in str(m1) and n1.cluster_name not in str(m1), m1
    assert n1.cluster_name in str(m2) and n2.cluster_name not in str(m2), m2
    n1.set("block_score", 5.5)
    C.wait_value([n2], "block_score", 5.5)
