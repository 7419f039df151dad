"""Table and ratios for bench/smtp/run.sh (reporting only: the load itself
comes from loadgen.c).

usage: report.py RESULTS.jsonl OUT.json|"" POSTFIX_VERSION NCPU MESSAGES SIZE
With several rounds, each figure is the median over the rounds."""
import json
import platform
import statistics
import sys
import time

FIELDS = [  # (key, column title, format)
    ("accept_rate", "accepted/s", "{:10.1f}"),
    ("deliver_rate", "delivered/s", "{:11.1f}"),
    ("lat_p50_ms", "p50 ms", "{:8.2f}"),
    ("lat_p99_ms", "p99 ms", "{:8.2f}"),
    ("cpu_ms_per_msg", "CPU ms/msg", "{:10.3f}"),
    ("accepted", "ok", "{:6d}"),
    ("failed", "failed", "{:6d}"),
    ("loadavg", "load", "{:5.1f}"),
]
# ratio rampart/postfix: above 1 is better for rampart on throughput,
# below 1 is better for rampart on latency and CPU
RATIOS = [("accept_rate", "accepted/s"), ("deliver_rate", "delivered/s"),
          ("lat_p50_ms", "p50"), ("lat_p99_ms", "p99"), ("cpu_ms_per_msg", "CPU/msg")]


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def combine(rows):
    """Median of every numeric field over rounds (sums for counts)."""
    out = dict(rows[0])
    for k, v in rows[0].items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        vals = [r[k] for r in rows]
        if k in ("accepted", "failed", "requeued", "reconnects", "delivered"):
            out[k] = sum(vals)
        else:
            out[k] = statistics.median(vals)
    out["rounds"] = len(rows)
    return out


def main():
    path, out_path, pf_version, ncpu, messages, size = sys.argv[1:7]
    rows = load(path)
    concs = sorted({r["concurrency"] for r in rows})
    systems = ["rampart", "postfix"]
    table, ratios = [], []
    for c in concs:
        got = {}
        for s in systems:
            sel = [r for r in rows if r["label"] == s and r["concurrency"] == c]
            if sel:
                got[s] = combine(sel)
                table.append(got[s])
        if len(got) == 2 and all(got["postfix"][k] for k, _ in RATIOS):
            ratios.append({"concurrency": c, **{k: got["rampart"][k] / got["postfix"][k]
                                                for k, _ in RATIOS}})
    print(f"\nrampart vs Postfix {pf_version}: {messages} messages of ~{size} bytes per run, "
          f"{ncpu} CPUs, loopback, relaying to one smtp-sink")
    head = f"{'system':8} {'sessions':>8} " + " ".join(
        t.rjust(len(fmt.format(0))) for _, t, fmt in FIELDS)
    print(head)
    print("-" * len(head))
    for r in table:
        print(f"{r['label']:8} {r['concurrency']:8d} " +
              " ".join(fmt.format(r[k]) for k, _, fmt in FIELDS))
    print()
    for q in ratios:
        print(f"ratio rampart/postfix, {q['concurrency']:2d} sessions: " +
              "  ".join(f"{t} {q[k]:.2f}x" for k, t in RATIOS))
    print("(throughput ratios above 1 favour rampart; latency and CPU ratios below 1 do;"
          " load = 1-min load average of the machine when the phase started)")
    fails = sum(r["failed"] for r in table)
    if fails:
        print(f"WARNING: {fails} message(s) failed")
    if out_path:
        doc = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "machine": {"cpus": int(ncpu), "kernel": platform.release()},
               "postfix_version": pf_version, "messages": int(messages), "size": int(size),
               "results": table, "ratios_rampart_over_postfix": ratios, "raw": rows}
        with open(out_path, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        print(f"results written to {out_path}")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
