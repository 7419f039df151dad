"""Bayes auto-learn (setting bayes_autolearn): live mail whose score
without Bayes is >= 12 is learned as spam, <= 0.1 as ham; off by default;
CLI scans never learn."""
import os

from apiclient import admin
from conftest import simple_message, wait_for

RULES = """
body AUTOLEARN_SPAMMY  /autolearn-spam-marker/
score AUTOLEARN_SPAMMY 13
describe AUTOLEARN_SPAMMY marker of the auto-learn test
body AUTOLEARN_MIDDLING  /middling-marker/
score AUTOLEARN_MIDDLING 3
"""


def node_with_rules(make_node, workdir):
    d = os.path.join(workdir, "al-rules")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "al.cf"), "w") as f:
        f.write(RULES)
    n = make_node("n1", extra_conf=f"rules = {d}\n")
    n.add_domain("example.test", f"maildir:{workdir}/mail")
    n.set("block_score", 100)     # keep even the marked mail deliverable
    return n


def counts(a):
    b = a.get("/bayes").json
    return b["nspam"], b["nham"]


def test_autolearn_spam_and_ham(make_node, workdir):
    n = node_with_rules(make_node, workdir)
    a = admin(n)
    spam = simple_message(subject="offer", body="autolearn-spam-marker buy now\r\n")
    ham = simple_message(subject="minutes", body="the minutes of the meeting\r\n")
    # off by default: nothing learned
    n.send("a@outside.test", ["bob@example.test"], spam)
    n.send("a@outside.test", ["bob@example.test"], ham)
    wait_for(lambda: len(n.msglog()["rows"]) == 2, what="2 log rows")
    assert counts(a) == (0, 0)
    n.set("bayes_autolearn", "true")
    n.send("a@outside.test", ["bob@example.test"], spam.replace("offer", "offer 2"))
    wait_for(lambda: counts(a)[0] == 1, what="spam learned")
    n.send("a@outside.test", ["bob@example.test"], ham.replace("minutes", "minutes 2"))
    wait_for(lambda: counts(a) == (1, 1), what="ham learned")
    # a message in between (a small positive score) is not learned
    mid = simple_message(subject="mid", body="middling-marker hello\r\n")
    n.send("a@outside.test", ["bob@example.test"], mid)
    wait_for(lambda: len(n.msglog()["rows"]) == 5, what="5 log rows")
    assert counts(a) == (1, 1)
    # the CLI scan never learns
    path = os.path.join(workdir, "spam.eml")
    with open(path, "w") as f:
        f.write(spam.replace("offer", "offer 3"))
    r = n.cli("scan", "--json", path)
    assert "AUTOLEARN_SPAMMY" in r.stdout
    assert counts(a) == (1, 1)
