"""Configuration: the bootstrap file (errors refuse start-up with
file:line), SIGHUP reload, validation of every setting through
`config set`, scopes, and the CLI working offline."""
import os
import signal
import subprocess
import time

import pytest

from conftest import (RAMPART, RAMPARTD, free_port, maildir_messages, port_open, retry_exec,
                      simple_message, wait_for)


def run_daemon(conf, timeout=10):
    """Runs rampartd expecting it to refuse to start: (rc, stderr)."""
    p = retry_exec(subprocess.Popen, [RAMPARTD] + (["-c", conf] if conf else []),
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail(f"rampartd started with {conf} instead of refusing")
    return p.returncode, err


def write_conf(workdir, body, name="bad.conf"):
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(body)
    return path


def good_lines(workdir, port):
    return (f"# a comment\n\ndata_dir = {workdir}/data\n"
            f"smtp_listen = 127.0.0.1:{port}\n"
            f"http_listen = 127.0.0.1:{free_port()}\n")


BOOT_ERRORS = [
    ("unknown key", "bogus_key = 1\n", "unknown key 'bogus_key'"),
    ("port 70000", "smtp_listen = 127.0.0.1:70000\n", "smtp_listen: bad port"),
    ("port 0", "http_listen = 127.0.0.1:0\n", "http_listen: bad port"),
    ("listen without port", "smtp_listen = 127.0.0.1\n", "smtp_listen:"),
    ("bad log level", "log_level = loud\n", "log_level must be one of"),
    ("no equals sign", "hostname mail.example.test\n", "expected 'key = value'"),
    ("empty value", "hostname =\n", "'hostname' has no value"),
    ("bad hostname", "hostname = mail_example!\n", "hostname may contain only"),
    ("short password", "admin_password = short\n", "admin_password must be 8-255"),
    ("bad rules wait", "rules_startup_wait = -1\n", "rules_startup_wait must be 0-3600"),
]


@pytest.mark.parametrize("what,line,needle", BOOT_ERRORS, ids=[b[0] for b in BOOT_ERRORS])
def test_bootstrap_errors_refuse_start(workdir, what, line, needle):
    port = free_port()
    head = good_lines(workdir, port)
    lineno = head.count("\n") + 1
    conf = write_conf(workdir, head + line + "log_level = info\n")
    rc, err = run_daemon(conf)
    assert rc != 0, what
    assert f"{conf}:{lineno}: " in err, (what, err)
    assert needle in err, (what, err)
    assert not port_open(port), "nothing may listen after a refused start"
    # the CLI reads the same file and refuses it the same way
    r = retry_exec(subprocess.run, [RAMPART, "-c", conf, "status"], capture_output=True,
                   text=True, timeout=30)
    assert r.returncode != 0 and f"{conf}:{lineno}: " in r.stderr, r.stderr


def test_bootstrap_missing_file_and_usage(workdir):
    missing = os.path.join(workdir, "nope.conf")
    rc, err = run_daemon(missing)
    assert rc != 0 and missing in err and "No such file" in err, err
    rc, err = run_daemon(None)
    assert rc != 0 and "usage" in err.lower(), err
    r = retry_exec(subprocess.run, [RAMPART, "-c", missing, "status"], capture_output=True,
                   text=True, timeout=30)
    assert r.returncode != 0 and "No such file" in r.stderr


def test_bootstrap_comments_and_hash_in_values(make_node):
    # a '#' inside a value is part of the value; indented comments are fine
    n = make_node("n1", extra_conf="   # indented comment\nadmin_password = pa#ss#word1\n")
    assert n.status()["hostname"] == "n1.test"


def test_sighup_reload_keeps_serving(make_node, workdir):
    n = make_node("n1")
    n.add_domain("example.test", f"maildir:{workdir}/mail")
    with n.raw() as open_session:
        assert open_session.cmd("EHLO client.test")[0] == 250
        n.proc.send_signal(signal.SIGHUP)
        n.wait_log(r"rampartd: reloaded")
        # the open session survived and works
        assert open_session.cmd("NOOP")[0] == 250
        assert open_session.cmd("MAIL FROM:<s@outside.test>")[0] == 250
        # log level debug -> warning, reload again: it applies at once
        with open(n.conf) as f:
            conf = f.read()
        with open(n.conf, "w") as f:
            f.write(conf.replace("log_level = debug", "log_level = warning"))
        n.proc.send_signal(signal.SIGHUP)

        def debug_off():
            size = len(n.log())
            n.answers()
            time.sleep(0.1)
            return "connect from" not in n.log()[size:]
        wait_for(debug_off, timeout=10, interval=0.2, what="debug logging off after reload")
        assert open_session.cmd("RCPT TO:<u@example.test>")[0] == 250
        assert open_session.cmd("DATA")[0] == 354
        open_session.send(b"Subject: across reload\r\n\r\nx\r\n.\r\n")
        assert open_session.reply()[0] == 250
    # a broken file on reload keeps the running configuration
    with open(n.conf, "a") as f:
        f.write("this line is broken\n")
    n.proc.send_signal(signal.SIGHUP)
    n.wait_log(r"reload: .*:\d+: expected 'key = value' \(keeping the running configuration\)")
    n.answers()
    assert n.send("s@outside.test", ["u@example.test"], simple_message()) == {}
    wait_for(lambda: len(maildir_messages(f"{workdir}/mail")) == 2, what="deliveries")
    assert n.running()


# ---- settings through `config set` ----

def first_scope(s):
    return None if "global" in s["scopes"] else s["scopes"][0]


def scope_args(scope):
    return ["--scope", scope] if scope else []


def bad_values(s):
    """Values outside the setting's type or bounds."""
    t, lo, hi = s["type"], s["min"], s["max"]
    if t == "int":
        return [str(int(lo) - 1), str(int(hi) + 1), "1.5", "abc", ""]
    if t == "float":
        return [repr(lo - 0.5), repr(hi + 0.5), "nan", "inf", "0x10", "abc"]
    if t == "size":
        return [str(int(lo) - 1), str(int(hi) + 1), "10X", "-1", "1.5"]
    if t == "duration":
        return [str(int(lo) - 1), str(int(hi) + 1), "5 parsecs", "-5", "1.5h"]
    if t == "bool":
        return ["maybe", "2", ""]
    if t == "enum":
        return ["no-such-choice", ""]
    if t == "string":
        out = ["bad\x01control"]
        if hi:
            out.append("x" * (int(hi) + 1))
        if lo and lo >= 1:
            out.append("")
        return out
    raise AssertionError(f"unknown type {t} of {s['name']}")


# strings whose class is not visible in the JSON: a known-good value
GOOD_STRINGS = {
    "postmaster_address": "postmaster@example.test",
    "outbound_relay": "smtp:127.0.0.1:25",
    "smtp_banner": "Hi there",
}


def good_values(s):
    """(value typed, value expected back) within the bounds."""
    t, lo, hi = s["type"], s["min"], s["max"]
    if t == "int":
        return [(str(int(lo)), int(lo)), (str(int(hi)), int(hi))]
    if t == "float":
        return [(repr(lo), lo), (repr(hi), hi), ("0.25", 0.25)]
    if t in ("size", "duration"):
        return [(str(int(lo)), int(lo)), (str(int(hi)), int(hi))]
    if t == "bool":
        return [("yes", True), ("off", False), ("TRUE", True)]
    if t == "enum":
        return [(c.upper(), c) for c in s["choices"]]
    if t == "string":
        known = GOOD_STRINGS.get(s["name"])
        out = [(known, known)] if known else []
        if s["default"]:
            out.append((s["default"], s["default"]))
        return out
    raise AssertionError(t)


def test_every_setting_validates_type_and_bounds(make_node):
    n = make_node("n1")
    settings = n.cli("config", "list", json_out=True)
    names = {s["name"] for s in settings}
    for required in ["smtp_max_message_size", "smtp_max_recipients", "smtp_max_line_length",
                     "smtp_command_timeout", "smtp_data_timeout", "smtp_max_connections",
                     "smtp_max_connections_per_ip", "smtp_max_errors",
                     "smtp_max_messages_per_session", "queue_retry_min", "queue_lifetime"]:
        assert required in names
    checked = 0
    for s in settings:
        assert s["set"] is False and s["value"] == s["default"], s
        assert s["help"], s
        scope = first_scope(s)
        before = n.cli("config", "get", s["name"], *scope_args(scope), json_out=True)
        for bad in bad_values(s):
            r = n.cli("config", "set", s["name"], bad, *scope_args(scope), check=False)
            assert r.returncode != 0, (s["name"], bad, r.stdout)
            assert r.stderr.startswith(f"rampart: {s['name']}: "), (s["name"], bad, r.stderr)
            checked += 1
        assert n.cli("config", "get", s["name"], *scope_args(scope), json_out=True) == before
        for typed, want in good_values(s):
            out = n.cli("config", "set", s["name"], typed, *scope_args(scope), json_out=True)
            assert out["value"] == want and out["set"] is True, (s["name"], typed, out)
            checked += 1
        out = n.cli("config", "unset", s["name"], *scope_args(scope), json_out=True)
        assert out["value"] == s["default"] and out["set"] is False, out
    assert checked > 150
    assert n.running()


def test_settings_normalised_and_applied(make_node):
    n = make_node("n1")
    assert n.set("smtp_max_message_size", "10M")["value"] == 10 * 1048576
    assert n.set("smtp_max_message_size", "1.5K")["value"] == 1536
    assert n.set("queue_retry_max", "1h30m")["value"] == 5400
    assert n.set("queue_lifetime", "2d")["value"] == 172800
    assert n.set("smtp_data_timeout", " 2m ")["value"] == 120
    assert n.set("smtp_helo_required", "No")["value"] is False
    assert n.set("smtp_banner", "Welcome to the test")["value"] == "Welcome to the test"
    text = n.cli("config", "get", "smtp_max_message_size").stdout
    assert text.strip() == "smtp_max_message_size = 1536"
    # the values take effect on the next session
    with n.raw() as c:
        assert c.banner == (220, "n1.test Welcome to the test")
        # HELO not required any more
        assert c.cmd("MAIL FROM:<s@outside.test>")[0] == 250
        c.cmd("RSET")
        assert "SIZE 1536" in c.cmd("EHLO client.test")[1]


def test_setting_scopes(make_node, workdir):
    n = make_node("n1")
    n.add_domain("example.test", f"maildir:{workdir}/mail")
    # allowed scopes
    assert n.set("smtp_max_message_size", "2M", scope="domain:Example.Test")["value"] == 2097152
    assert n.set("tag_score", "2.5", scope="user:Bob@Example.Test")["value"] == 2.5
    assert n.set("scan_threads", "2", scope="node")["value"] == 2
    assert n.set("smtp_drain_timeout", "10", scope="node")["value"] == 10
    # values resolve per scope, the global one stays the default
    assert n.cli("config", "get", "smtp_max_message_size", json_out=True)["value"] == 52428800
    got = n.cli("config", "get", "smtp_max_message_size", "--scope", "domain:example.test",
                json_out=True)
    assert got["value"] == 2097152 and got["set"] is True
    got = n.cli("config", "get", "tag_score", "--scope", "user:bob@example.test", json_out=True)
    assert got["value"] == 2.5
    # a user falls back to its domain, then global
    n.set("block_score", "6", scope="domain:example.test")
    got = n.cli("config", "get", "block_score", "--scope", "user:carol@example.test",
                json_out=True)
    assert got["value"] == 6
    # refused scopes, with the allowed ones named
    for name, scope, allowed in [("smtp_max_recipients", "domain:example.test", "global"),
                                 ("smtp_max_recipients", "user:a@example.test", "global"),
                                 ("scan_threads", "global", "node"),
                                 ("queue_lifetime", "node", "global")]:
        r = n.cli("config", "set", name, "5", "--scope", scope, check=False)
        assert r.returncode != 0, (name, scope)
        assert "cannot be set at" in r.stderr and allowed in r.stderr, r.stderr
    for scope in ["domain:", "domain:bad..name", "user:nobody", "cluster", "domain:-x-.test"]:
        r = n.cli("config", "set", "block_score", "5", "--scope", scope, check=False)
        assert r.returncode != 0 and r.stderr.startswith("rampart: "), (scope, r.stderr)
    # unset at a scope falls back again
    n.cli("config", "unset", "block_score", "--scope", "domain:example.test")
    got = n.cli("config", "get", "block_score", "--scope", "user:carol@example.test",
                json_out=True)
    assert got["value"] == 9


# ---- offline CLI ----

def test_offline_cli_config_commands(make_node, workdir):
    n = make_node("n1")
    maildir = f"{workdir}/mail"
    assert n.stop() == 0
    # configuration commands work on the data directory directly
    out = n.add_domain("example.test", f"maildir:{maildir}")
    assert out["name"] == "example.test"
    assert n.set("smtp_banner", "offline banner")["value"] == "offline banner"
    assert n.set("smtp_max_recipients", "2")["value"] == 2
    assert n.cli("config", "get", "smtp_banner", json_out=True)["value"] == "offline banner"
    names = [s["name"] for s in n.cli("config", "list", json_out=True)]
    assert "smtp_banner" in names
    assert [d["name"] for d in n.cli("domain", "list", json_out=True)] == ["example.test"]
    n.add_domain("gone.test", f"maildir:{maildir}")
    n.cli("domain", "remove", "gone.test")
    assert n.cli("log", json_out=True)["total"] == 0
    # validation is the same as online
    r = n.cli("config", "set", "smtp_max_recipients", "0", check=False)
    assert r.returncode != 0 and "between 1 and 10000" in r.stderr
    r = n.cli("domain", "add", "x.test", "--destination", "ftp:x", check=False)
    assert r.returncode != 0 and "destination" in r.stderr
    # commands that need the running daemon say so
    for cmd in (["status"], ["queue", "list"], ["queue", "flush"]):
        r = n.cli(*cmd, check=False)
        assert r.returncode != 0, cmd
        assert "running" in r.stderr or "cannot reach" in r.stderr, r.stderr
    # the daemon starts with what was configured offline
    n.start()
    with n.raw() as c:
        assert c.banner == (220, "n1.test offline banner")
        assert c.cmd("EHLO client.test")[0] == 250
        assert c.cmd("MAIL FROM:<s@outside.test>")[0] == 250
        assert c.cmd("RCPT TO:<a@example.test>")[0] == 250
        assert c.cmd("RCPT TO:<d@gone.test>")[0] == 550
        assert c.cmd("RCPT TO:<b@example.test>")[0] == 250
        assert c.cmd("RCPT TO:<c@example.test>")[0] == 452


def test_offline_cli_respects_scope_and_filters(make_node, workdir):
    n = make_node("n1")
    n.add_domain("example.test", f"maildir:{workdir}/mail")
    n.set("block_score", "7")
    n.set("block_score", "5", scope="domain:example.test")
    n.send("a@outside.test", ["u@example.test"], simple_message())
    assert n.stop() == 0
    got = n.cli("config", "get", "block_score", "--scope", "domain:example.test",
                json_out=True)
    assert got["value"] == 5, "offline get must honour --scope"
    assert n.msglog("--sender", "nobody@nowhere")["total"] == 0, \
        "offline log must honour its filters"
    n.cli("config", "unset", "block_score", "--scope", "domain:example.test")
    assert n.cli("config", "get", "block_score", json_out=True)["value"] == 7, \
        "offline unset --scope must not touch the global value"
    assert n.cli("config", "get", "block_score", "--scope", "domain:example.test",
                 json_out=True)["set"] is False
