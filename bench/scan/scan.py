#!/usr/bin/python3
"""CPU time per message of the content pipeline, rampart against
SpamAssassin, on the same held-out messages in the same run (see README.md
beside this file). Started by run.sh.

  rampart            `rampart -c CONF scan --json --timing`: the project's
                     rules/ + Bayes, cpu_us per message measured in process
  rampart+sa-rules   the same with SpamAssassin's installed rules added
                     (rules = ROOT/rules:/usr/share/spamassassin)
  spamassassin       sa_time.pl: one long-lived Mail::SpamAssassin, local
                     tests only, Bayes trained on the same messages

Every system is trained on the same training part (fold != 0 of
crc32(name) % 5, bench/accuracy's fold 0 is held out) and measured on the
same N held-out messages. Each measuring process first scans one warm-up
message (a training message) whose figure is dropped: it pays for lazy
loading (rampart's Bayes snapshot, SpamAssassin's first-use compilation),
which a running daemon pays once.
"""
import argparse
import concurrent.futures
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
# SpamAssassin runs exactly as in the accuracy benchmark (local tests only,
# Bayes on, no auto-learn): one definition for both
sys.path.insert(0, os.path.join(ROOT, "bench", "accuracy"))
from accuracy import SA_LOCAL_CF, SA_RULES, fold_of, log  # noqa: E402


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run_measured(argv, stdout_path, stderr_path):
    """Runs argv to completion; returns (exit status, peak RSS in KiB) of
    that process alone (wait4, not the cumulative RUSAGE_CHILDREN)."""
    with open(stdout_path, "w") as out, open(stderr_path, "w") as err:
        p = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, ru.ru_maxrss


def check(rc, what, stderr_path):
    if rc != 0:
        with open(stderr_path, errors="replace") as f:
            tail = f.read()[-2000:]
        raise SystemExit("%s failed (exit %d):\n%s" % (what, rc, tail))


def stats(times):
    t = sorted(times)
    n = len(t)
    return {"messages": n, "median_us": statistics.median(t),
            "p99_us": t[max(math.ceil(0.99 * n) - 1, 0)],  # nearest rank
            "mean_us": sum(t) / n, "max_us": t[-1]}


# ---- corpus ----

def load_corpus(tmp, tarball, nmeasure):
    subprocess.run(["tar", "xJf", tarball, "-C", tmp], check=True)
    base = os.path.join(tmp, "train")
    train, held = [], []
    for label in ("ham", "spam"):
        d = os.path.join(base, label)
        for name in sorted(os.listdir(d)):
            m = {"name": name, "path": os.path.join(d, name), "spam": label == "spam"}
            (held if fold_of(name, 5) == 0 else train).append(m)
    # a fixed pseudo-random sample keeps the corpus' ham/spam mix
    held.sort(key=lambda m: zlib.crc32(("scan:" + m["name"]).encode()))
    return train, held[:nmeasure]


def link_tree(dst, msgs):
    for label in ("spam", "ham"):
        os.makedirs(os.path.join(dst, label), exist_ok=True)
    for m in msgs:
        os.symlink(m["path"], os.path.join(dst, "spam" if m["spam"] else "ham", m["name"]))


# ---- rampart ----

SETUP_RE = re.compile(r"setup \(.*\): cpu_us (\d+) wall_us (\d+)")
RULES_RE = re.compile(r"rules: (\d+ files, \d+ rules loaded)")
DBS_RE = re.compile(r"(\d+) databases;.*\((\d+) databases from cache\)")


def rampart_setup_figures(stderr_path):
    with open(stderr_path, errors="replace") as f:
        text = f.read()
    m = SETUP_RE.search(text)
    r = RULES_RE.search(text)
    dbs = DBS_RE.search(text)
    return {"setup_cpu_ms": int(m.group(1)) / 1000 if m else None,
            "setup_wall_ms": int(m.group(2)) / 1000 if m else None,
            "rules": r.group(1) if r else "?",
            "databases": int(dbs.group(1)) if dbs else None,
            "databases_cached": int(dbs.group(2)) if dbs else None}


def cache_note(load):
    if load["databases_cached"] is None:
        return "?"
    if load["databases_cached"] == 0:
        return "compiled"
    return "%d/%d databases from cache" % (load["databases_cached"], load["databases"])


def rampart_prepare(binary, tmp, name, rules, train, warmup, cache):
    """Config, Bayes training and the first rule compilation (timed)."""
    d = os.path.join(tmp, name)
    os.makedirs(os.path.join(d, "data"))
    if cache:
        # one directory per configuration: a load prunes the databases
        # its own rule set does not use
        cache = os.path.join(os.path.abspath(cache), name)
        os.makedirs(cache, exist_ok=True)
        os.symlink(cache, os.path.join(d, "data", "rules-cache"))
    conf = os.path.join(d, "rampart.conf")
    with open(conf, "w") as fh:
        fh.write("data_dir = %s/data\n" % d)
        fh.write("rules = %s\n" % rules)
        # a closed loopback port: nothing may query real DNS (the offline
        # scan skips the network layers anyway)
        fh.write("dns_servers = 127.0.0.1:9\n")
        fh.write("log_level = info\n")
    link_tree(os.path.join(d, "train"), train)
    p = subprocess.run([binary, "-c", conf, "train", "--spam", os.path.join(d, "train", "spam"),
                        "--ham", os.path.join(d, "train", "ham")],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("rampart train (%s) failed:\n%s" % (name, p.stderr[-2000:]))
    log("%s: %s" % (name, p.stdout.strip()))
    err = os.path.join(d, "compile.err")
    rc, _ = run_measured([binary, "-c", conf, "scan", "--json", "--timing", warmup["path"]],
                         os.path.join(d, "compile.out"), err)
    check(rc, "rampart scan (%s, first compile)" % name, err)
    first = rampart_setup_figures(err)
    log("%s: first rule load %.0f ms CPU (%s)" % (name, first["setup_cpu_ms"], first["rules"]))
    return {"name": name, "dir": d, "conf": conf, "first": first}


def rampart_measure(binary, prep, warmup, msgs):
    d = prep["dir"]
    out, err = os.path.join(d, "scan.out"), os.path.join(d, "scan.err")
    load = loadavg()
    rc, rss = run_measured([binary, "-c", prep["conf"], "scan", "--json", "--timing",
                            warmup["path"]] + [m["path"] for m in msgs], out, err)
    check(rc, "rampart scan (%s)" % prep["name"], err)
    rows = []
    with open(out) as f:
        for line in f:
            if line.startswith("{"):
                rows.append(json.loads(line))
    if len(rows) != len(msgs) + 1:
        raise SystemExit("rampart scan (%s): %d results for %d files" %
                         (prep["name"], len(rows), len(msgs) + 1))
    r = stats([o["cpu_us"] for o in rows[1:]])
    r.update({"system": prep["name"], "peak_rss_kib": rss, "loadavg": load,
              "warmup_us": rows[0]["cpu_us"], "first_load": prep["first"],
              "warm_load": rampart_setup_figures(err)})
    return r


# ---- SpamAssassin ----

def sa_version():
    p = subprocess.run(["spamassassin", "--version"], capture_output=True, text=True)
    return p.stdout.splitlines()[0] if p.returncode == 0 and p.stdout else "unknown"


def sa_prepare(tmp, train):
    """Config dir and Bayes DB trained on the training part (through
    bench/accuracy/sa_fold.pl, i.e. Mail::SpamAssassin's learner, what
    sa-learn runs)."""
    d = os.path.join(tmp, "sa")
    os.makedirs(d)
    for pre in os.listdir("/etc/spamassassin"):
        if pre.endswith(".pre"):
            shutil.copy(os.path.join("/etc/spamassassin", pre), d)
    with open(os.path.join(d, "local.cf"), "w") as fh:
        fh.write(SA_LOCAL_CF.format(dir=d))
    open(os.path.join(d, "user_prefs"), "w").close()
    lists = {}
    for label, spam in (("spam", True), ("ham", False)):
        lists[label] = os.path.join(d, label + ".lst")
        with open(lists[label], "w") as fh:
            fh.writelines(m["path"] + "\n" for m in train if m["spam"] == spam)
    t0 = time.time()
    subprocess.run(["perl", os.path.join(ROOT, "bench", "accuracy", "sa_fold.pl"), "learn", d,
                    lists["spam"], lists["ham"]], check=True)
    log("spamassassin: learned %d messages in %.0f s" % (len(train), time.time() - t0))
    return d


def sa_measure(d, warmup, msgs):
    lst = os.path.join(d, "check.lst")
    with open(lst, "w") as fh:
        fh.writelines(m["path"] + "\n" for m in [warmup] + msgs)
    out, err = os.path.join(d, "check.out"), os.path.join(d, "check.err")
    load = loadavg()
    rc, rss = run_measured(["perl", os.path.join(HERE, "sa_time.pl"), d, lst], out, err)
    check(rc, "sa_time.pl", err)
    with open(out) as f:
        rows = [line.split(" ", 2) for line in f if line.strip()]
    if len(rows) != len(msgs) + 1:
        raise SystemExit("sa_time.pl: %d results for %d files" % (len(rows), len(msgs) + 1))
    with open(err, errors="replace") as f:
        m = re.search(r"setup cpu_us (\d+)", f.read())
    r = stats([int(row[0]) for row in rows[1:]])
    r.update({"system": "spamassassin", "peak_rss_kib": rss, "loadavg": load,
              "warmup_us": int(rows[0][0]), "version": sa_version(),
              "first_load": {"setup_cpu_ms": int(m.group(1)) / 1000 if m else None}})
    return r


# ---- report ----

def print_report(results, sa, nspam, nham):
    print()
    print("CPU per message, content pipeline (parse + rules + Bayes; no clamd, no network "
          "layers), %d held-out messages (%d spam, %d ham), %d CPUs, %s" %
          (nspam + nham, nspam, nham, os.cpu_count(), platform.machine()))
    head = "%-18s %8s %11s %11s %11s %11s %10s  %s" % (
        "system", "messages", "median us", "p99 us", "mean us", "max us", "peak RSS",
        "load (1/5/15 min)")
    print(head)
    print("-" * len(head))
    for r in results + ([sa] if sa else []):
        print("%-18s %8d %11.0f %11.0f %11.0f %11.0f %7.0f MB  %s" % (
            r["system"], r["messages"], r["median_us"], r["p99_us"], r["mean_us"], r["max_us"],
            r["peak_rss_kib"] / 1024, r["loadavg"]))
    print()
    if sa:
        for r in results:
            print("ratio spamassassin/%-18s median %5.0fx   p99 %5.0fx   mean %5.0fx" % (
                r["system"] + ":", sa["median_us"] / r["median_us"],
                sa["p99_us"] / r["p99_us"], sa["mean_us"] / r["mean_us"]))
        print()
    print("start-up, not counted per message (CPU):")
    for r in results:
        f, w = r["first_load"], r["warm_load"]
        print("  %-16s %s; first load %.0f ms (%s), then %.0f ms (%s); warm-up message %d us"
              % (r["system"], f["rules"], f["setup_cpu_ms"], cache_note(f), w["setup_cpu_ms"],
                 cache_note(w), r["warmup_us"]))
    if sa:
        print("  %-16s init %.0f ms; warm-up message %d us  (%s)" % (
            "spamassassin", sa["first_load"]["setup_cpu_ms"], sa["warmup_us"], sa["version"]))
    print("(CPU time of the scanning thread per message, file reading excluded; the load"
          " average is the machine's when the measurement started)")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("RAMPART_BUILD_DIR",
                                                      os.path.join(ROOT, "build")))
    ap.add_argument("--messages", type=int, default=300,
                    help="held-out messages measured, the same for every system (max 583)")
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpus",
                                                     "train.tar.xz"))
    ap.add_argument("--no-sa", action="store_true", help="skip SpamAssassin")
    ap.add_argument("--no-sa-rules", action="store_true",
                    help="skip the rampart configuration with SpamAssassin's rules")
    ap.add_argument("--rules-cache", help="keep rampart's compiled rules here between runs "
                    "(the first load then reports the cache, not a compile)")
    ap.add_argument("--out", help="also write the figures as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()

    binary = os.path.join(os.path.abspath(a.build), "rampart")
    if not os.access(binary, os.X_OK):
        raise SystemExit("no %s: build rampart first (or pass --build)" % binary)
    tmp = tempfile.mkdtemp(prefix="rampart-benchscan-")
    try:
        train, msgs = load_corpus(tmp, os.path.abspath(a.corpus), a.messages)
        warmup = train[0]
        nspam = sum(m["spam"] for m in msgs)
        log("bench/scan: training on %d messages, measuring %d held-out (%d spam); load %s" %
            (len(train), len(msgs), nspam, loadavg()))
        configs = [("rampart", os.path.join(ROOT, "rules"))]
        if not a.no_sa_rules:
            configs.append(("rampart+sa-rules", os.path.join(ROOT, "rules") + ":" + SA_RULES))
        # preparation (training, rule compilation) runs in parallel; the
        # measurements below run one at a time
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
            sa_dir = None if a.no_sa else ex.submit(sa_prepare, tmp, train)
            preps = [rampart_prepare(binary, tmp, name, rules, train, warmup, a.rules_cache)
                     for name, rules in configs]
            sa_dir = sa_dir.result() if sa_dir else None
        results = [rampart_measure(binary, p, warmup, msgs) for p in preps]
        sa = None
        if sa_dir:
            log("rampart measured; SpamAssassin next (about 0.15 s CPU per message)")
            sa = sa_measure(sa_dir, warmup, msgs)
        print_report(results, sa, nspam, len(msgs) - nspam)
        if a.out:
            with open(a.out, "w") as fh:
                json.dump({"rampart": results, "spamassassin": sa, "messages": len(msgs),
                           "spam": nspam, "training": len(train)}, fh, indent=2)
                fh.write("\n")
    finally:
        if a.keep:
            log("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
