"""Roles and failover (DESIGN.md §2): a standby member filters no mail
(its SMTP service answers 421); with cluster_failover = automatic, when an
active member has been down for cluster_failover_grace, the standby takes
over (active, accepting mail) and the lost member becomes standby, so it
comes back as standby after its restart (no flapping); with manual, roles
change only when the administrator sets them."""
import time

import clusterctl as C
import lab as L

BANNER = ("import socket,sys; s=socket.create_connection((sys.argv[1], 25), 5); "
          "print(s.recv(512).decode(errors='replace').strip())")


def banner(node):
    """The SMTP greeting of node, read from inside its namespace."""
    r = node.netexec("/usr/bin/python3", "-c", BANNER, node.addr, check=False)
    return r.stdout.strip() or r.stderr.strip()


def role(observer, node):
    m = C.member(observer, node)
    return m.get("role") if m else None


def wait_role(observers, node, want, timeout):
    t0 = time.monotonic()
    L.wait_for(lambda: all(role(o, node) == want for o in observers), timeout=timeout,
               interval=0.2, what=f"{node.name} shown {want}")
    return time.monotonic() - t0


def test_standby_takes_over_and_lost_member_returns_standby(cluster, summary):
    nodes = cluster(3)
    C.form(nodes)
    n1, n2, n3 = nodes
    n1.set("cluster_failover_grace", 3)
    C.run(n1, "role", n3.addr, "standby")
    wait_role(nodes, n3, "standby", timeout=10)
    L.wait_for(lambda: banner(n3).startswith("421"), timeout=10, what="n3 refusing mail")
    assert "Standby" in banner(n3)
    assert banner(n1).startswith("220") and banner(n2).startswith("220")

    n1.kill9()
    took = wait_role([n2, n3], n3, "active", timeout=30)
    summary(f"cluster: standby took over {took:.1f} s after kill -9 of an active member "
            "(detection + 3 s grace)")
    assert role(n2, n1) == "standby" and role(n3, n1) == "standby"
    L.wait_for(lambda: banner(n3).startswith("220"), timeout=10, what="n3 accepting mail")
    assert "taking over" in n3.log() or "takes over" in n3.log()

    n1.start()
    C.wait_all_up(nodes)
    assert role(n1, n1) == "standby", "the returning member comes back as standby"
    L.wait_for(lambda: banner(n1).startswith("421"), timeout=10, what="n1 refusing mail")
    time.sleep(5)                  # no flapping: the roles stay
    assert [role(n2, x) for x in nodes] == ["standby", "active", "active"]


def test_manual_failover_keeps_roles(cluster):
    nodes = cluster(2)
    C.form(nodes)
    n1, n2 = nodes
    n1.set("cluster_failover", "manual")
    n1.set("cluster_failover_grace", 2)
    C.run(n1, "role", n2.addr, "standby")
    wait_role(nodes, n2, "standby", timeout=10)
    n1.kill9()
    C.wait_states([n2], {n1: C.DOWN}, timeout=15)
    time.sleep(6)                  # grace + two checks
    assert role(n2, n2) == "standby" and role(n2, n1) == "active"
    # the administrator switches over by hand; the survivor of two stays writable
    C.run(n2, "role", n2.addr, "active")
    wait_role([n2], n2, "active", timeout=10)
    L.wait_for(lambda: banner(n2).startswith("220"), timeout=10, what="n2 accepting mail")
