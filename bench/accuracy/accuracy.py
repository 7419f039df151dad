#!/usr/bin/python3
"""k-fold cross-validation of rampart against SpamAssassin on the training
corpus (see README.md beside this file). Started by run.sh.

Every system sees the same folds: fold = crc32(file name) % k. For each
fold, a system is trained on the other folds and scores the held-out one;
a message counts as spam when its score is >= 5.0.

  rampart      the real CLI: `rampart -c CONF train --spam DIR --ham DIR`,
               then `rampart -c CONF scan --json FILE...` (rules + Bayes), with
               the recommended rules: the project's rules/ and SpamAssassin's
               installed rule files
  rampart-own-rules  the same with the project's rules/ only (the default
               `rules` of the bootstrap file)
  bayes-only   bench/accuracy/bayes_cv (the Bayes stage alone, with its
               probability -> score bands), plus CPU time per message for
               parse + tokenize + classify
  spamassassin Debian's spamassassin, local tests only, Bayes trained per
               fold with the same messages (sa_fold.pl)
"""
import argparse
import concurrent.futures
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
THRESHOLD = 5.0
SA_RULES = "/usr/share/spamassassin"

SA_LOCAL_CF = """# accuracy benchmark: local tests only, Bayes on, no auto-learn
use_bayes 1
bayes_auto_learn 0
skip_rbl_checks 1
use_razor2 0
use_pyzor 0
dns_available no
bayes_path {dir}/bayes
lock_method flock
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def fold_of(name, k):
    return zlib.crc32(name.encode()) % k


def in_quick_subset(name):
    return zlib.crc32(("quick:" + name).encode()) % 4 == 0


def load_corpus(tmp, tarball, k, quick):
    subprocess.run(["tar", "xJf", tarball, "-C", tmp], check=True)
    base = os.path.join(tmp, "train")
    msgs = []
    for label, spam in (("ham", 0), ("spam", 1)):
        d = os.path.join(base, label)
        for name in sorted(os.listdir(d)):
            msgs.append({
                "name": name, "path": os.path.join(d, name), "spam": spam,
                "fold": fold_of(name, k),
                "scored": (not quick) or in_quick_subset(name),
            })
    return base, msgs


def tally(results, msgs, k):
    """results: name -> score. Per fold and total counts at THRESHOLD."""
    folds = []
    for f in range(k):
        c = {"fold": f, "spam": 0, "ham": 0, "spam_caught": 0, "ham_misfiled": 0}
        for m in msgs:
            if m["fold"] != f or m["name"] not in results:
                continue
            hit = results[m["name"]] >= THRESHOLD
            if m["spam"]:
                c["spam"] += 1
                c["spam_caught"] += hit
            else:
                c["ham"] += 1
                c["ham_misfiled"] += hit
        folds.append(c)
    tot = {key: sum(c[key] for c in folds) for key in ("spam", "ham", "spam_caught", "ham_misfiled")}
    tot["spam_caught_pct"] = 100.0 * tot["spam_caught"] / max(tot["spam"], 1)
    tot["ham_misfiled_pct"] = 100.0 * tot["ham_misfiled"] / max(tot["ham"], 1)
    for c in folds:
        c["spam_caught_pct"] = 100.0 * c["spam_caught"] / max(c["spam"], 1)
        c["ham_misfiled_pct"] = 100.0 * c["ham_misfiled"] / max(c["ham"], 1)
    return {"total": tot, "folds": folds}


def link_tree(dst, msgs):
    for label in ("spam", "ham"):
        os.makedirs(os.path.join(dst, label), exist_ok=True)
    for m in msgs:
        os.symlink(m["path"], os.path.join(dst, "spam" if m["spam"] else "ham", m["name"]))


# ---- rampart through its CLI ----

def rampart_supports_cli(binary):
    if not os.access(binary, os.X_OK):
        return False
    p = subprocess.run([binary, "--help"], capture_output=True, text=True)
    text = p.stdout + p.stderr
    return "train" in text and "scan" in text


def rampart_configs(conf, own_only):
    """(system name, rampart.conf lines) to measure. The recommended
    configuration loads SpamAssassin's installed rule files next to the
    project's rules/; the project's rules alone are measured too. A --conf
    rules line replaces both with that one configuration."""
    if any(line.split("=")[0].strip() == "rules" for line in conf):
        return [("rampart", conf)]
    out = []
    if not own_only and os.path.isdir(SA_RULES):
        out.append(("rampart", conf + ["rules = %s:%s" % (os.path.join(ROOT, "rules"), SA_RULES)]))
    out.append(("rampart-own-rules" if out else "rampart", conf))
    return out


def run_rampart(binary, tmp, msgs, k, conf_extra, rules_cache, label="rampart"):
    results, rules_hit = {}, {}
    cpu = 0.0
    nscanned = 0
    for f in range(k):
        fdir = os.path.join(tmp, label, "fold%d" % f)
        os.makedirs(os.path.join(fdir, "data"))
        # one compile cache for every fold: the rules are the same, and
        # compiling SpamAssassin's rule files takes minutes
        os.symlink(rules_cache, os.path.join(fdir, "data", "rules-cache"))
        conf = os.path.join(fdir, "rampart.conf")
        with open(conf, "w") as fh:
            fh.write("data_dir = %s\n" % os.path.join(fdir, "data"))
            for line in conf_extra:
                fh.write(line + "\n")
        train = [m for m in msgs if m["fold"] != f]
        link_tree(os.path.join(fdir, "train"), train)
        log("%s fold %d: training on %d messages" % (label, f, len(train)))
        subprocess.run([binary, "-c", conf, "train",
                        "--spam", os.path.join(fdir, "train", "spam"),
                        "--ham", os.path.join(fdir, "train", "ham")],
                       check=True, stdout=subprocess.DEVNULL)
        held = [m for m in msgs if m["fold"] == f and m["scored"]]
        log("%s fold %d: scanning %d messages" % (label, f, len(held)))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        for i in range(0, len(held), 250):
            chunk = held[i:i + 250]
            p = subprocess.run([binary, "-c", conf, "scan", "--json"] + [m["path"] for m in chunk],
                               check=True, capture_output=True, text=True)
            for line in p.stdout.splitlines():
                if not line.startswith("{"):
                    continue
                o = json.loads(line)
                name = os.path.basename(o["file"])
                results[name] = float(o["score"])
                rules_hit[name] = o.get("rules", [])
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu += (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        nscanned += len(held)
    return results, rules_hit, cpu / max(nscanned, 1) * 1e6


# ---- the Bayes stage alone ----

def build_bayes_cv(build_dir, tmp):
    lib = os.path.join(build_dir, "librampart_core.a")
    if not os.path.exists(lib):
        raise SystemExit("no %s: build rampart first (or pass --build)" % lib)
    out = os.path.join(tmp, "bayes_cv")
    pkgs = ("gmime-3.0 sqlite3 jansson libevent libevent_openssl libevent_pthreads openssl "
            "libsodium libhs libpcre2-8").split()
    cflags = subprocess.run(["pkg-config", "--cflags"] + pkgs, capture_output=True, text=True,
                            check=True).stdout.split()
    libs = subprocess.run(["pkg-config", "--libs"] + pkgs, capture_output=True, text=True,
                          check=True).stdout.split()
    subprocess.run(["gcc", "-std=c11", "-O2", "-D_GNU_SOURCE", "-I" + os.path.join(ROOT, "src")]
                   + cflags + [os.path.join(HERE, "bayes_cv.c"), lib] + libs
                   + ["-lspf2", "-lm", "-lpthread", "-o", out], check=True)
    return out


def run_bayes_only(binary, base, tmp, msgs, k):
    foldfile = os.path.join(tmp, "folds.txt")
    with open(foldfile, "w") as fh:
        for m in msgs:
            fh.write("%s %d\n" % (m["name"], m["fold"]))
    log("bayes-only: %d-fold cross-validation" % k)
    p = subprocess.run([binary, "-k", str(k), "-f", foldfile, base], check=True,
                       capture_output=True, text=True)
    results, probs, times = {}, {}, []
    for line in p.stdout.splitlines():
        f, spam, prob, score, rule, nclues, us, name = line.split()
        results[name] = float(score)
        probs[name] = (float(prob), rule)
        times.append(int(us))
    times.sort()
    timing = {"median_us": times[len(times) // 2], "p99_us": times[len(times) * 99 // 100],
              "max_us": times[-1], "messages": len(times)}
    return results, probs, timing


# ---- SpamAssassin ----

def sa_version():
    p = subprocess.run(["spamassassin", "--version"], capture_output=True, text=True)
    return p.stdout.splitlines()[0] if p.returncode == 0 and p.stdout else "unknown"


def sa_rules_info():
    d = "/usr/share/spamassassin"
    files = sorted(f for f in os.listdir(d) if f.endswith(".cf"))
    nrules = 0
    for f in files:
        with open(os.path.join(d, f), errors="replace") as fh:
            nrules += sum(1 for line in fh if line.startswith("describe "))
    updates = "/var/lib/spamassassin"
    updated = any(e[0].isdigit() for e in os.listdir(updates)) if os.path.isdir(updates) else False
    return {"dir": d, "cf_files": len(files), "described_rules": nrules,
            "sa_update_rules": updated}


def sa_prepare(tmp, msgs, f, jobs):
    """Config dir and message lists of one fold; the held-out list is
    split so several processes can check it."""
    d = os.path.join(tmp, "sa", "fold%d" % f)
    os.makedirs(d)
    for pre in os.listdir("/etc/spamassassin"):
        if pre.endswith(".pre"):
            shutil.copy(os.path.join("/etc/spamassassin", pre), d)
    with open(os.path.join(d, "local.cf"), "w") as fh:
        fh.write(SA_LOCAL_CF.format(dir=d))
    open(os.path.join(d, "user_prefs"), "w").close()

    def write(name, sel):
        path = os.path.join(d, name + ".lst")
        with open(path, "w") as fh:
            for m in msgs:
                if sel(m):
                    fh.write(m["path"] + "\n")
        return path

    spam = write("spam", lambda m: m["fold"] != f and m["spam"])
    ham = write("ham", lambda m: m["fold"] != f and not m["spam"])
    held = [m for m in msgs if m["fold"] == f and m["scored"]]
    checks = [write("check%d" % j, lambda m, part=set(id(x) for x in held[j::jobs]): id(m) in part)
              for j in range(jobs)]
    return d, spam, ham, checks


def sa_learn(d, spam, ham):
    t0 = time.time()
    subprocess.run(["perl", os.path.join(HERE, "sa_fold.pl"), "learn", d, spam, ham], check=True)
    log("spamassassin %s: learned in %.0fs" % (os.path.basename(d), time.time() - t0))


def sa_check(d, listfile):
    t0 = time.time()
    p = subprocess.run(["perl", os.path.join(HERE, "sa_fold.pl"), "check", d, listfile],
                       check=True, capture_output=True, text=True)
    out = {}
    for line in p.stdout.splitlines():
        fields = line.split(" ", 3)
        bayes = float(fields[2]) if len(fields) == 4 else 0.0
        out[os.path.basename(fields[0])] = (float(fields[1]), bayes)
    log("spamassassin %s: checked %d in %.0fs" % (os.path.basename(d), len(out), time.time() - t0))
    return out


def run_sa(tmp, msgs, k, jobs):
    """All folds' training first, then the held-out checks in `jobs`
    pieces per fold, on a pool of `jobs` processes."""
    folds = [sa_prepare(tmp, msgs, f, jobs) for f in range(k)]
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        learns = [ex.submit(sa_learn, d, spam, ham) for d, spam, ham, _ in folds]
        checks = []
        for (d, _, _, parts), learned in zip(folds, learns):
            learned.result()
            checks += [ex.submit(sa_check, d, part) for part in parts]
        for c in checks:
            results.update(c.result())
    return results


# ---- report ----

def print_table(systems, k):
    print()
    print("%-24s %14s %16s %14s %16s" % ("system", "spam caught %", "ham misfiled %",
                                        "spam caught", "ham misfiled"))
    for name, r in systems.items():
        t = r["total"]
        print("%-24s %13.2f%% %15.2f%% %8d / %-5d %9d / %-5d" % (
            name, t["spam_caught_pct"], t["ham_misfiled_pct"], t["spam_caught"], t["spam"],
            t["ham_misfiled"], t["ham"]))
    print()
    print("per fold (spam caught / spam, ham misfiled / ham) at score >= %.1f:" % THRESHOLD)
    for name, r in systems.items():
        cells = ["f%d %d/%d %d/%d" % (c["fold"], c["spam_caught"], c["spam"], c["ham_misfiled"],
                                     c["ham"]) for c in r["folds"]]
        print("  %-24s %s" % (name, "  ".join(cells)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--quick", action="store_true",
                    help="score a quarter of each held-out fold (training stays full)")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--build", default=os.environ.get("RAMPART_BUILD_DIR", os.path.join(ROOT, "build")))
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpus", "train.tar.xz"))
    ap.add_argument("--no-sa", action="store_true", help="skip SpamAssassin")
    ap.add_argument("--no-rampart", action="store_true", help="skip the rampart CLI run")
    ap.add_argument("--jobs", type=int, default=2, help="parallel SpamAssassin folds")
    ap.add_argument("--conf", action="append", default=[],
                    help="extra 'key = value' line for rampart.conf (repeatable)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--own-rules-only", action="store_true",
                    help="measure rampart with the project's rules/ only (no SpamAssassin rule files)")
    ap.add_argument("--rules-cache", help="directory for rampart's compiled rule databases, "
                    "kept between runs (default: a fresh one in the temporary directory)")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="rampart-accuracy-")
    try:
        base, msgs = load_corpus(tmp, os.path.abspath(a.corpus), a.k, a.quick)
        report = {"k": a.k, "threshold": THRESHOLD, "quick": a.quick,
                  "messages": {"spam": sum(m["spam"] for m in msgs),
                               "ham": sum(1 - m["spam"] for m in msgs),
                               "scored": sum(m["scored"] for m in msgs)},
                  "systems": {}}
        systems = {}
        binary = os.path.join(a.build, "rampart")
        if not a.no_rampart:
            if rampart_supports_cli(binary):
                cache = os.path.abspath(a.rules_cache or os.path.join(tmp, "rules-cache"))
                os.makedirs(cache, exist_ok=True)
                for label, conf in rampart_configs(a.conf, a.own_rules_only):
                    res, hits, us = run_rampart(binary, tmp, msgs, a.k, conf, cache, label)
                    systems[label] = tally(res, msgs, a.k)
                    systems[label]["cpu_us_per_message_cli"] = us
                    systems[label]["conf"] = conf
                    if label == "rampart":
                        rampart_res, rampart_rules = res, hits
            else:
                log("rampart CLI with train/scan not found at %s: skipping" % binary)
        cv = build_bayes_cv(a.build, tmp)
        bayes_res, probs, timing = run_bayes_only(cv, base, tmp, msgs, a.k)
        scored_names = {m["name"] for m in msgs if m["scored"]}
        scored = {n: s for n, s in bayes_res.items() if n in scored_names}
        systems["bayes-only"] = tally(scored, msgs, a.k)
        systems["bayes-only"]["timing_parse_tokenize_classify"] = timing
        bands = {}
        for name, (prob, rule) in probs.items():
            label = "spam" if name.startswith("spam") else "ham"
            bands.setdefault(rule, {"spam": 0, "ham": 0})[label] += 1
        systems["bayes-only"]["bands"] = bands
        if not a.no_sa:
            t0 = time.time()
            sa = run_sa(tmp, msgs, a.k, a.jobs)
            systems["spamassassin"] = tally({n: v[0] for n, v in sa.items()}, msgs, a.k)
            # what-if: SpamAssassin's rules with rampart's Bayes bands in
            # place of its own BAYES_* scores (same folds, same messages)
            hybrid = {n: v[0] - v[1] + bayes_res[n] for n, v in sa.items() if n in bayes_res}
            systems["sa-rules+rampart-bayes"] = tally(hybrid, msgs, a.k)
            systems["spamassassin"]["version"] = sa_version()
            systems["spamassassin"]["rules"] = sa_rules_info()
            systems["spamassassin"]["wall_s"] = round(time.time() - t0)
        report["systems"] = systems
        details = {}
        for m in msgs:
            if not m["scored"]:
                continue
            d = {"spam": m["spam"], "fold": m["fold"]}
            if m["name"] in probs:
                d["bayes_prob"], d["bayes_rule"] = probs[m["name"]]
                d["bayes_score"] = bayes_res[m["name"]]
            if "rampart" in systems and m["name"] in rampart_res:
                d["rampart"] = rampart_res[m["name"]]
                d["rampart_rules"] = rampart_rules.get(m["name"], [])
            if not a.no_sa and m["name"] in sa:
                d["sa"], d["sa_bayes"] = sa[m["name"]]
            details[m["name"]] = d
        report["messages"] = details
        print_table(systems, a.k)
        print()
        print("bayes-only CPU per message (parse+tokenize+classify): median %d us, p99 %d us"
              % (timing["median_us"], timing["p99_us"]))
        if "rampart" in systems:
            print("rampart CLI scan CPU per message (incl. process start-up, amortised): %.0f us"
                  % systems["rampart"]["cpu_us_per_message_cli"])
        if a.out:
            with open(a.out, "w") as fh:
                json.dump(report, fh, indent=2, sort_keys=True)
                fh.write("\n")
    finally:
        if a.keep:
            log("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
