"""Cluster benchmark (issue 5): three rampart nodes in the cluster lab
(tests/cluster/lab.py: one network + mount namespace per node, a bridge in
its own namespace).

1. Propagation: N config changes on node 1, one after the other, through
   its API (control socket); for each, the time from just before the write
   until nodes 2 and 3 both return the new value (polled through their
   APIs). Prints p50/p90/p99/max of the per-change latency (slowest of the
   two followers), and of the write call itself.
2. Failure detection: kill -9 of a whole node (rampartd and its corosync),
   and a silent crash (its link cut, then kill -9), time until both
   survivors report it down in `cluster status`; R rounds of each (the
   node is restarted and rejoins between rounds). The target is judged
   on the silent crash (the worst case).

Usage (root): /usr/bin/python3 bench/cluster/driver.py [-n 1000] [-r 3] [--out FILE.json]
Env: RAMPART_BUILD_DIR (default ./build)."""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "cluster"))

import clusterctl as C  # noqa: E402
import lab as L  # noqa: E402

KEY = "smtp_banner"
POLL_S = float(os.environ.get("BENCH_POLL_MS", "0.5")) / 1000


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


def fmt(name, xs):
    ms = [x * 1000 for x in xs]
    return (f"{name}: n={len(ms)} p50={pct(ms, 50):.2f} ms p90={pct(ms, 90):.2f} ms "
            f"p99={pct(ms, 99):.2f} ms max={max(ms):.2f} ms mean={statistics.mean(ms):.2f} ms")


def value_of(api, key):
    code, body = api.get(f"/config/{key}")
    return body.get("value") if code == 200 and isinstance(body, dict) else None


def propagation(nodes, n, timeout=5.0):
    """Sequential changes on node 1. Per change: the write call, and the
    time until the last follower answered with the new value (the end of
    that read: an upper bound of when the change was applied there, which
    includes the cost of the reads themselves)."""
    origin, followers = nodes[0].api(), [x.api() for x in nodes[1:]]
    lat, write = [], []
    for i in range(n):
        val = f"ESMTP bench {i} {time.monotonic_ns()}"
        t0 = time.perf_counter()
        code, body = origin.put(f"/config/{KEY}", {"value": val})
        t1 = time.perf_counter()
        if code != 200:
            raise SystemExit(f"change {i} refused on node 1: {code} {body}")
        pending = list(followers)
        while True:
            pending = [f for f in pending if value_of(f, KEY) != val]
            if not pending:
                break
            if time.perf_counter() - t0 > timeout:
                raise SystemExit(f"change {i} not applied on every node within {timeout} s")
            # a short pause: a tight loop of requests steals the CPU from
            # the nodes being measured
            time.sleep(POLL_S)
        lat.append(time.perf_counter() - t0)
        write.append(t1 - t0)
    return lat, write


def internal_delays(nodes, origin_id, n):
    """The cluster's own delivery delays (GET /cluster/latency: delay from
    the change's stamp on the origin until applied, per node) for the
    last n changes of origin_id: per change the slowest node, in seconds."""
    worst = {}
    for node in nodes:
        code, body = node.api().get("/cluster/latency")
        if code != 200 or not isinstance(body, dict):
            return None
        for origin, seq, us in body.get("samples", []):
            if origin == origin_id:
                worst[seq] = max(worst.get(seq, 0), us)
    seqs = sorted(worst)[-n:]
    return [worst[s] / 1e6 for s in seqs]


def detection(lab, nodes, rounds, mode):
    """Seconds from the death of node 3 until both survivors report it
    down, per round. mode "kill": SIGKILL to its rampartd and corosync
    (the kernel still closes their sockets: TCP peers see a FIN/RST);
    "crash": its link is cut first, then the kill (a power loss: nobody
    hears anything, only the corosync token timeout tells)."""
    out = []
    victim, watchers = nodes[2], nodes[:2]
    for _ in range(rounds):
        C.wait_all_up(nodes, timeout=60)
        if mode == "crash":
            victim.crash()
        else:
            victim.kill9()
        t0 = time.perf_counter()
        pending = list(watchers)
        while pending:
            pending = [w for w in pending if C.state_of(w, victim) != C.DOWN]
            if pending and time.perf_counter() - t0 > 30:
                raise SystemExit("a killed node was not reported down within 30 s")
            time.sleep(0.01)
        out.append(time.perf_counter() - t0)
        victim.start()
    C.wait_all_up(nodes, timeout=60)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", "--changes", type=int, default=1000)
    ap.add_argument("-r", "--rounds", type=int, default=3)
    ap.add_argument("--out")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("driver.py: the cluster lab needs root")
    L.cleanup_stale()
    res = {"changes": a.changes, "rounds": a.rounds, "load_before": os.getloadavg()}
    with L.Lab() as lab:
        nodes = [lab.add_node() for _ in range(3)]
        L.require_cluster_cli(nodes[0])
        t0 = time.perf_counter()
        C.form(nodes)
        res["form_s"] = time.perf_counter() - t0
        print(f"cluster of 3 formed in {res['form_s']:.2f} s", flush=True)
        propagation(nodes, 20)  # warm-up
        lat, write = propagation(nodes, a.changes)
        print(fmt("change applied on all 3 nodes", lat), flush=True)
        print(fmt("write call on node 1 (API PUT, returns once applied on node 1)", write),
              flush=True)
        origin_id = C.status(nodes[0]).get("nodeid")
        inner = internal_delays(nodes, origin_id, a.changes)
        if inner:
            print(fmt("cluster's own delay stamp->applied, slowest node (/cluster/latency)",
                      inner), flush=True)
            res["internal_ms"] = {"p50": pct(inner, 50) * 1000, "p99": pct(inner, 99) * 1000,
                                  "max": max(inner) * 1000}
        det_kill = detection(lab, nodes, a.rounds, "kill")
        det = detection(lab, nodes, a.rounds, "crash")
        for name, xs in (("kill -9 of rampartd + corosync", det_kill),
                         ("silent crash (link cut, then kill -9)", det)):
            print(f"failure detection, {name}, both survivors show it down: " +
                  ", ".join(f"{x:.2f} s" for x in xs) + f" (max {max(xs):.2f} s)", flush=True)
        res.update({
            "apply_ms": {"p50": pct(lat, 50) * 1000, "p90": pct(lat, 90) * 1000,
                         "p99": pct(lat, 99) * 1000, "max": max(lat) * 1000},
            "write_ms": {"p50": pct(write, 50) * 1000, "p99": pct(write, 99) * 1000},
            "detect_kill_s": det_kill,
            "detect_crash_s": det,
        })
        problems = lab.problems()
        if problems:
            raise SystemExit("; ".join(problems))
    # the target is judged on the cluster's own stamp->applied delays when
    # the node reports them (exact, same clock); the polled figure is an
    # upper bound that also pays for the reads
    p99 = res.get("internal_ms", res["apply_ms"])["p99"]
    ok = p99 < 50 and max(det + det_kill) < 3.0
    res["load_after"] = os.getloadavg()
    print(f"load average before {res['load_before'][0]:.1f}, after {res['load_after'][0]:.1f} "
          f"(on {os.cpu_count()} CPUs)")
    print(f"targets (p99 < 50 ms: {p99:.1f} ms; detection < 3 s: {max(det + det_kill):.2f} s): "
          f"{'MET' if ok else 'MISSED'}")  # noqa: E501
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
