"""Fixtures for the cluster tests: a Lab (tests/cluster/lab.py) per test,
closed even when the test fails; leftovers of dead runs removed at start.

Every test file runs with its own namespaces (names carry the pytest
PID), so ctest can run the files in parallel."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab as L  # noqa: E402

_SUMMARY = []


def pytest_sessionstart(session):
    if os.geteuid() != 0:
        return
    for ns in L.cleanup_stale():
        print(f"cluster lab: removed stale namespace {ns}")


def pytest_terminal_summary(terminalreporter):
    if _SUMMARY:
        terminalreporter.section("rampart measurements")
        for line in _SUMMARY:
            terminalreporter.write_line(line)


@pytest.fixture
def summary():
    """summary(text): a line shown in pytest's terminal summary."""
    return _SUMMARY.append


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = (yield).get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def lab(request):
    if os.geteuid() != 0:
        pytest.fail("the cluster lab needs root (network and mount namespaces); "
                    "run `make test` as root")
    lb = L.Lab()
    try:
        yield lb
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            # the nodes' view of the failure, shown with the test's report
            for n in lb.nodes:
                print(f"----- {n.name} ({n.addr}) log tail -----\n{n.log()[-4000:]}")
                # the corosync a rampartd runs (membership, knet links)
                cs = os.path.join(getattr(n, "data", "/nonexistent"), "cluster", "corosync.log")
                if os.path.exists(cs):
                    with open(cs, errors="replace") as f:
                        print(f"----- {n.name} corosync.log tail -----\n{f.read()[-3000:]}")
        lb.close()  # graceful stops first: sanitizers report at exit
        problems = lb.problems()
        if problems:
            logs = "\n".join(f"--- {n.name}\n{n.log()[-3000:]}" for n in lb.nodes)
            pytest.fail("; ".join(problems) + "\n" + logs)
    finally:
        lb.remove()


@pytest.fixture
def cluster(lab):
    """cluster(n, **kw): starts n rampart nodes in the lab, checks that the
    cluster commands exist, and returns the nodes (not joined yet)."""
    def factory(n, **kw):
        nodes = [lab.add_node(**kw) for _ in range(n)]
        L.require_cluster_cli(nodes[0])
        return nodes
    return factory
