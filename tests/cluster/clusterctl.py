"""Driving a rampart cluster through the `rampart cluster ...` CLI.

Every assumption the scenario tests make about the cluster commands and
their JSON lives here (the contract is in /work/notes/cluster-lab.md,
section "[cluster] how to drive the cluster"), so a change of the CLI is
fixed in one place."""
import time

import lab as L

SECRET = "lab-shared-secret-0123456789"

# member states as `cluster status --json` reports them
UP, SYNCING, DOWN = "up", "syncing", "down"


def run(node, *args, check=True):
    """`rampart cluster ARGS...` on node; with check, a failure raises
    with the command's stderr."""
    return node.cli("cluster", *args, check=check)


def status(node):
    r = node.cli("cluster", "status", check=False, json_out=False)
    if r.returncode != 0:
        raise AssertionError(f"{node.name}: `rampart cluster status` failed "
                             f"({r.returncode}): {r.stderr.strip()[:500]}")
    return node.cli("cluster", "status", json_out=True)


def members(node):
    """The member list as node sees it: [{...}] (each with at least
    name/address/state)."""
    st = status(node)
    ms = st.get("members") if isinstance(st, dict) else st
    assert isinstance(ms, list), f"{node.name}: cluster status has no member list: {st}"
    return ms


def is_member(m, node):
    """Whether status entry m describes lab node `node`."""
    keys = ("name", "address", "hostname", "host")
    vals = {str(m.get(k)) for k in keys if m.get(k) is not None}
    return bool(vals & {node.addr, node.hostname, node.name,
                        getattr(node, "cluster_name", None) or node.addr})


def member(observer, node):
    for m in members(observer):
        if is_member(m, node):
            return m
    return None


def state_of(observer, node):
    m = member(observer, node)
    return m.get("state") if m else None


def secret(node, value=SECRET):
    return run(node, "secret", value)


def join(node, target, check=True):
    """node joins the cluster of member `target` (a lab node or a name)."""
    where = target if isinstance(target, str) else target.addr
    return run(node, "join", where, check=check)


def wait_states(observers, expect, timeout=30, interval=0.1):
    """Waits until every observer shows every (node -> state) of expect;
    returns the seconds it took."""
    t0 = time.monotonic()

    def ok():
        for o in observers:
            for n, st in expect.items():
                if state_of(o, n) != st:
                    return False
        return True
    try:
        L.wait_for(ok, timeout=timeout, interval=interval, what="member states")
    except AssertionError:
        seen = {o.name: members(o) for o in observers if o.running()}
        want = {n.name: st for n, st in expect.items()}
        raise AssertionError(f"timed out waiting for {want}; members seen: {seen}")
    return time.monotonic() - t0


def wait_all_up(nodes, timeout=40):
    """Every node lists exactly these nodes, all up."""
    def ok():
        for o in nodes:
            ms = members(o)
            if len(ms) != len(nodes):
                return False
            for n in nodes:
                m = next((x for x in ms if is_member(x, n)), None)
                if not m or m.get("state") != UP:
                    return False
        return True
    try:
        L.wait_for(ok, timeout=timeout, interval=0.2, what="all members up")
    except AssertionError:
        seen = {o.name: members(o) for o in nodes if o.running()}
        raise AssertionError(f"not all of {[n.name for n in nodes]} up everywhere: {seen}")


def form(nodes, via=None):
    """Same secret everywhere, nodes[1:] join nodes[0] (or `via`) through
    the CLI, then waits until every node shows every member up."""
    first = via or nodes[0]
    for n in nodes:
        secret(n)
    for n in nodes:
        if n is not first:
            join(n, first)
    wait_all_up(nodes)


def conflicts(node):
    """The conflict list: [{"key", "winner": {...}, "loser": {...}, ...}]."""
    r = node.cli("cluster", "conflicts", json_out=True)
    if isinstance(r, dict):
        return r.get("rows", r.get("conflicts", []))
    return r


def conflict_setting(c):
    """block_score for a conflict on key setting/global/block_score."""
    return str(c.get("key") or c.get("name") or "").rsplit("/", 1)[-1]


def digest(node):
    """The node's digest of the replicated config (equal on converged
    members; `rampart status`'s config_version is a local counter)."""
    st = status(node)
    return (st.get("config_digest"), st.get("config_version"))


# -- config / users through the ordinary CLI --

def get(node, key, scope=None):
    args = ["config", "get", key] + (["--scope", scope] if scope else [])
    return str(node.cli(*args, json_out=True)["value"])


def wait_value(nodes, key, value, timeout=20, scope=None):
    value = str(value)

    def norm(v):
        try:
            return float(v)
        except ValueError:
            return v
    for n in nodes:
        L.wait_for(lambda: norm(get(n, key, scope)) == norm(value), timeout=timeout,
                   interval=0.1, what=f"{key} = {value} on {n.name} (now {get(n, key, scope)})")


def users(node):
    r = node.cli("user", "list", json_out=True)
    rows = r.get("users", r) if isinstance(r, dict) else r
    return {u.get("address") or u.get("username") or u.get("user") for u in rows}
