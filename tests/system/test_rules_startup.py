"""The first compile of a large rule set (SpamAssassin's rule files) runs
in the background: the node listens after rules_startup_wait, answers mail
451 until the rules are in place (nothing passes unscored, nothing is
lost), and stops cleanly while still compiling. A cached or small rule set
is in place before the first connection."""
import os

import pytest

from conftest import SOURCE, simple_message, wait_for

SA_RULES = "/usr/share/spamassassin"


@pytest.mark.skipif(not os.path.isdir(SA_RULES), reason="spamassassin rules not installed")
def test_mail_tempfailed_while_first_compile_runs(make_node, workdir):
    n = make_node("n1", extra_conf=f"rules = {SOURCE}/rules:{SA_RULES}\n"
                                    "rules_startup_wait = 0\n")
    n.wait_log(r"first compile of the rule set is still running")
    n.add_domain("example.test", f"maildir:{workdir}/mail")
    with n.raw() as c:
        c.cmd("EHLO client.test")
        assert c.cmd("MAIL FROM:<a@outside.test>")[0] == 250
        assert c.cmd("RCPT TO:<bob@example.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(simple_message(to="bob@example.test").replace("\r\n.", "\r\n..") + "\r\n.\r\n")
        code, text = c.reply()
    assert code == 451 and "spam filter starting" in text, (code, text)
    assert n.status()["queue_messages"] == 0, "a 451'd message is not kept"
    # SIGTERM during the compile: a clean, prompt exit
    assert n.stop(timeout=20) == 0, n.log()[-2000:]
    assert "still compiling at shutdown" in n.log()


def test_small_rule_set_ready_before_listening(make_node, workdir):
    n = make_node("n1")
    n.add_domain("example.test", f"maildir:{workdir}/mail")
    # the very first message after start-up is scanned with the rules
    assert n.send("a@outside.test", ["bob@example.test"], simple_message(to="bob@example.test")) == {}
    rows = wait_for(lambda: n.msglog()["rows"], what="log row")
    assert rows[0]["action"] != "tempfail", rows[0]
    assert "still running" not in n.log()
