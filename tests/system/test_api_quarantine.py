"""Per-user quarantine through the API (docs/api.md §6, §8, §9): automatic
accounts with a set-password mail, the inbox (paging, sort, search), safe
views (text, sanitised HTML under a strict CSP, source), deliver /
whitelist / delete / classify, ownership (another user's id is 404),
bulk actions, summaries with one-click links, retention, the CLI."""
import os
import re
import time

from apiclient import (Api, admin, db, mail_text, maildir_mails, make_user, quarantine_node,
                       send, setpw_token, user_api, wait_mail, wait_quarantined)
from conftest import wait_for

HTML_MSG = (
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n"
    "--mix\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"
    "--alt\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    "Caf=E9 <b>not html</b> & plain text\r\n"
    "--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    "<html><head><script>alert(1)</script><style>body{color:red}</style>"
    "<meta http-equiv=\"refresh\" content=\"0;url=http://evil.example/\"></head>"
    "<body onload=\"steal()\"><p class=x>Hello <b>friend</b></p>"
    "<img src=\"http://evil.example/track.gif\" onerror=\"alert(2)\">"
    "<a href=\"javascript:alert(3)\">js</a> <a href=\"https://ok.example/\">ok</a>"
    "<a href=\"jav&#x09;ascript:alert(4)\">js2</a>"
    "<iframe src=\"http://evil.example/\"></iframe><form action=x><input name=p></form>"
    "<div style=\"background:url(http://evil.example/bg)\">styled</div>"
    "<svg><script>alert(5)</script></svg></body></html>\r\n"
    "--alt--\r\n"
    "--mix\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\n"
    "Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
    "--mix--\r\n")


def ids(api, path="/me/quarantine", q=""):
    return [r["id"] for r in api.get(path + q).json["rows"]]


def test_auto_account_welcome_mail_and_set_password(make_node, workdir):
    n = quarantine_node(make_node, workdir)
    send(n, "alice@example.test", subject="buy now")
    wait_quarantined(n, "alice@example.test")
    a = admin(n)
    u = wait_for(lambda: a.get("/users/alice%40example.test").json, what="auto account")
    assert u["source"] == "auto" and u["has_password"] is False and u["quarantine_count"] == 1
    welcome = wait_mail(n.maildir, "alice@example.test",
                        lambda m: "quarantine account" in m["Subject"])
    text = mail_text(welcome)
    assert welcome["Auto-Submitted"] == "auto-generated"
    link = re.search(r"https://\S+/user/\?setpw=\S+", text).group(0)
    assert link.startswith(f"https://{n.hostname}:{n.http_port}/user/")
    # the welcome mail is delivered, not quarantined itself
    assert a.get("/quarantine?user=alice%40example.test").json["total"] == 1
    # a second message does not make a second account or mail
    send(n, "alice@example.test", subject="second")
    wait_quarantined(n, "alice@example.test", 2)
    time.sleep(1)
    assert len([m for m in maildir_mails(n.maildir, "alice@example.test")
                if "quarantine account" in m["Subject"]]) == 1
    v = Api(n)
    r = v.post("/auth/set-password", {"token": setpw_token(link), "password": "alice-password-1"})
    assert r.status == 200, r
    v.csrf = r.json["csrf_token"]
    rows = v.get("/me/quarantine").json
    assert rows["total"] == 2 and {x["subject"] for x in rows["rows"]} == {"buy now", "second"}
    assert rows["rows"][0]["rcpt"] == "alice@example.test"
    # auto creation can be switched off
    n.set("quarantine_auto_users", "false")
    send(n, "bob@example.test")
    wait_quarantined(n, "bob@example.test")
    assert a.get("/users/bob%40example.test").status == 404


def test_inbox_paging_sort_search(make_node, workdir):
    n = quarantine_node(make_node, workdir)
    a = admin(n)
    make_user(a, "carol@example.test")
    subjects = ["delta offer", "alpha deal", "charlie 100%_off", "bravo news", "echo sale"]
    for i, s in enumerate(subjects):
        send(n, "carol@example.test", subject=s, frm=f"s{i}@sender{i}.example")
    wait_quarantined(n, "carol@example.test", 5)
    u = user_api(n, "carol@example.test")
    r = u.get("/me/quarantine?limit=2").json
    assert r["total"] == 5 and len(r["rows"]) == 2
    assert r["rows"][0]["subject"] == "echo sale", "newest first by default"
    page3 = u.get("/me/quarantine?limit=2&offset=4").json["rows"]
    assert [x["subject"] for x in page3] == ["delta offer"]
    asc = [x["subject"] for x in u.get("/me/quarantine?sort=subject&order=asc").json["rows"]]
    assert asc == sorted(subjects)
    desc = [x["subject"] for x in u.get("/me/quarantine?sort=from&order=desc").json["rows"]]
    assert desc[0] == "echo sale"
    assert [x["subject"] for x in u.get("/me/quarantine?q=ALPHA").json["rows"]] == ["alpha deal"]
    assert [x["subject"] for x in u.get("/me/quarantine?q=sender3").json["rows"]] == ["bravo news"]
    # LIKE wildcards are literal
    assert [x["subject"] for x in u.get("/me/quarantine?q=100%25_").json["rows"]] == ["charlie 100%_off"]
    assert u.get("/me/quarantine?q=%25").json["total"] == 1
    assert u.get("/me/quarantine?q=nothing").json["total"] == 0
    for q in ("limit=0", "limit=5000", "offset=-1", "sort=rcpt", "order=up", "q=" + "x" * 201,
              "since=abc"):
        r = u.get("/me/quarantine?" + q)
        assert r.status == 400 and r.json["field"], (q, r)
    # the admin sees everyone's, filtered by user
    assert a.get("/quarantine").json["total"] == 5
    assert a.get("/quarantine?user=carol%40example.test&limit=1").json["total"] == 5
    assert a.get("/quarantine?user=nobody%40example.test").json["total"] == 0
    assert a.get("/quarantine?user=bad").status == 400


def test_view_html_preview_and_source(make_node, workdir):
    n = quarantine_node(make_node, workdir)
    a = admin(n)
    make_user(a, "dave@example.test")
    send(n, "dave@example.test", subject="plain one")
    frm = "html@sender.example"
    msg = f"From: <{frm}>\r\nTo: <dave@example.test>\r\nSubject: html test\r\n" + HTML_MSG
    n.send(frm, ["dave@example.test"], msg)
    wait_quarantined(n, "dave@example.test", 2)
    u = user_api(n, "dave@example.test")
    mid = [x["id"] for x in u.get("/me/quarantine").json["rows"] if x["subject"] == "html test"][0]
    v = u.get(f"/me/quarantine/{mid}")
    assert v.status == 200, v
    j = v.json
    assert j["headers"]["subject"] == "html test" and j["headers"]["from"] == f"<{frm}>"
    assert "Café <b>not html</b> & plain text" in j["text"]
    assert j["has_html"] is True
    assert j["attachments"] == [{"filename": "invoice.pdf", "content_type": "application/pdf",
                                 "size": 9}]
    h = u.get(f"/me/quarantine/{mid}/html")
    assert h.status == 200 and h.header("Content-Type").startswith("text/html")
    csp = h.header("Content-Security-Policy")
    assert "default-src 'none'" in csp and "sandbox" in csp and "frame-ancestors 'self'" in csp
    assert "img-src data:" in csp and "script-src" not in csp
    assert h.header("X-Frame-Options") == "SAMEORIGIN"
    html = h.body.decode()
    low = html.lower()
    for bad in ("<script", "onload", "onerror", "javascript:", "evil.example", "<iframe",
                "<form", "<input", "<meta http-equiv", "url(", "<svg", "alert("):
        assert bad not in low, (bad, html)
    assert "Hello <b>friend</b>" in html
    assert 'href="https://ok.example/"' in html and 'rel="noopener noreferrer"' in html
    assert 'data-blocked="remote image"' in html
    assert "<style>body{color:red}</style>" in html
    s = u.get(f"/me/quarantine/{mid}/source")
    assert s.status == 200 and s.header("Content-Type") == "text/plain; charset=utf-8"
    assert s.header("X-Content-Type-Options") == "nosniff"
    assert b"<script>alert(1)</script>" in s.body and b"Subject: html test" in s.body
    # the plain message has no HTML part
    plain = [x["id"] for x in u.get("/me/quarantine").json["rows"] if x["id"] != mid][0]
    assert u.get(f"/me/quarantine/{plain}/html").status == 404
    # the admin sees the same through /quarantine/ID
    assert a.get(f"/quarantine/{mid}").json["attachments"][0]["filename"] == "invoice.pdf"
    assert a.get(f"/quarantine/{mid}/html").status == 200
    for bad in ("0", "-1", "abc", "99999", f"{mid}/nope"):
        assert u.get(f"/me/quarantine/{bad}").status == 404, bad


def test_deliver_whitelist_delete_classify(make_node, workdir):
    n = quarantine_node(make_node, workdir)
    a = admin(n)
    make_user(a, "erin@example.test")
    for s in ("one", "two", "three", "four"):
        send(n, "erin@example.test", subject=s, frm=f"{s}@sender.example")
    wait_quarantined(n, "erin@example.test", 4)
    u = user_api(n, "erin@example.test")
    by = {x["subject"]: x["id"] for x in u.get("/me/quarantine").json["rows"]}
    # deliver: back into the queue, into the mailbox, out of quarantine, logged
    r = u.post(f"/me/quarantine/{by['one']}/deliver")
    assert r.status == 200 and r.json["delivered"] == by["one"] and r.json["queue_id"], r
    m = wait_mail(n.maildir, "erin@example.test", lambda m: m["Subject"] == "one")
    assert "one@sender.example" in str(m["From"])
    assert u.get(f"/me/quarantine/{by['one']}").status == 404
    assert u.post(f"/me/quarantine/{by['one']}/deliver").status == 404
    log = n.msglog("--rcpt", "erin@example.test")["rows"]
    rel = [x for x in log if "released from quarantine" in (x["reason"] or "")]
    assert rel and rel[0]["queue_id"] == r.json["queue_id"]
    assert "user erin@example.test" in rel[0]["reason"]
    # whitelist: the sender goes on the list and the message is delivered
    r = u.post(f"/me/quarantine/{by['two']}/whitelist")
    assert r.status == 200 and r.json["whitelisted"] == "two@sender.example", r
    wait_mail(n.maildir, "erin@example.test", lambda m: m["Subject"] == "two")
    assert [x["entry"] for x in u.get("/me/lists").json["whitelist"]] == ["two@sender.example"]
    # delete
    assert u.delete(f"/me/quarantine/{by['three']}").json == {"deleted": by["three"]}
    assert u.delete(f"/me/quarantine/{by['three']}").status == 404
    # classify trains Bayes (once per class)
    nspam = a.get("/bayes").json["nspam"]
    r = u.post(f"/me/quarantine/{by['four']}/classify", {"as": "spam"})
    assert r.status == 200 and r.json["learned"] is True
    assert u.post(f"/me/quarantine/{by['four']}/classify", {"as": "spam"}).json["learned"] is False
    assert a.get("/bayes").json["nspam"] == nspam + 1
    assert u.post(f"/me/quarantine/{by['four']}/classify", {"as": "ham"}).json["learned"] is True
    assert a.get("/bayes").json["nham"] >= 1
    for body in ({}, {"as": "maybe"}, {"as": 1}):
        r = u.post(f"/me/quarantine/{by['four']}/classify", body)
        assert r.status == 400 and r.json["field"] == "as"
    # CSRF applies to these too
    assert u.post(f"/me/quarantine/{by['four']}/deliver", csrf=False).status == 403
    assert u.delete(f"/me/quarantine/{by['four']}", csrf=False).status == 403
    assert u.get(f"/me/quarantine/{by['four']}").status == 200


def test_whitelisted_sender_skips_quarantine(make_node, workdir):
    """Per-user lists decide per recipient (pipeline hook, integration §3)."""
    n = quarantine_node(make_node, workdir)
    a = admin(n)
    make_user(a, "fred@example.test")
    make_user(a, "gina@example.test")
    u = user_api(n, "fred@example.test")
    u.post("/me/lists/whitelist", {"entry": "friend.example"})
    send(n, ["fred@example.test", "gina@example.test"], subject="from a friend",
         frm="pal@mail.friend.example")
    wait_quarantined(n, "gina@example.test")
    wait_mail(n.maildir, "fred@example.test", lambda m: m["Subject"] == "from a friend")
    assert u.get("/me/quarantine").json["total"] == 0
    # a blacklisted sender is blocked for that recipient only
    u.post("/me/lists/blacklist", {"entry": "pest@bad.example"})
    send(n, ["fred@example.test", "gina@example.test"], subject="pest", frm="pest@bad.example")
    wait_quarantined(n, "gina@example.test", 2)
    time.sleep(1)
    assert not [m for m in maildir_mails(n.maildir, "fred@example.test") if m["Subject"] == "pest"]
    assert u.get("/me/quarantine").json["total"] == 0


def test_feature_switches_and_own_thresholds(make_node, workdir):
    n = quarantine_node(make_node, workdir)
    a = admin(n)
    make_user(a, "hank@example.test", features={"quarantine": False})
    make_user(a, "ida@example.test")
    make_user(a, "jo@example.test", features={"scanning": False})
    u = user_api(n, "ida@example.test")
    # ida's own quarantine threshold of 10 disables quarantine for her
    assert u.put("/me/settings", {"quarantine_score": 10}).status == 200
    send(n, ["hank@example.test", "ida@example.test", "jo@example.test"], subject="switches")
    for who in ("hank", "ida", "jo"):
        wait_mail(n.maildir, f"{who}@example.test", lambda m: "switches" in m["Subject"])
    assert a.get("/quarantine").json["total"] == 0


def test_other_users_ids_are_404(make_node, workdir):
    n = quarantine_node(make_node, workdir)
    a = admin(n)
    make_user(a, "kim@example.test")
    make_user(a, "lee@example.test")
    send(n, "kim@example.test", subject="for kim")
    send(n, "lee@example.test", subject="for lee")
    wait_quarantined(n, "kim@example.test")
    wait_quarantined(n, "lee@example.test")
    kim = user_api(n, "kim@example.test")
    lee = user_api(n, "lee@example.test")
    lee_id = ids(lee)[0]
    assert ids(kim) != [lee_id]
    for method, path, body in [
        ("GET", f"/me/quarantine/{lee_id}", None),
        ("GET", f"/me/quarantine/{lee_id}/html", None),
        ("GET", f"/me/quarantine/{lee_id}/source", None),
        ("POST", f"/me/quarantine/{lee_id}/deliver", {}),
        ("POST", f"/me/quarantine/{lee_id}/whitelist", {}),
        ("POST", f"/me/quarantine/{lee_id}/classify", {"as": "ham"}),
        ("DELETE", f"/me/quarantine/{lee_id}", None),
    ]:
        r = kim.call(method, f"{path}", body)
        assert r.status == 404, (method, path, r)
    r = kim.post("/me/quarantine/bulk", {"action": "delete", "ids": [lee_id]})
    assert r.json["done"] == [] and r.json["failed"][0]["id"] == lee_id
    assert ids(lee) == [lee_id], "lee's message is untouched"
    assert kim.get("/me/lists").json["whitelist"] == []
    # a user cannot reach the admin's /quarantine/ID either
    assert kim.get(f"/quarantine/{lee_id}").status == 403


def test_bulk_actions(make_node, workdir):
    n = quarantine_node(make_node, workdir)
    a = admin(n)
    make_user(a, "max@example.test")
    for i in range(4):
        send(n, "max@example.test", subject=f"bulk {i}")
    wait_quarantined(n, "max@example.test", 4)
    u = user_api(n, "max@example.test")
    all_ids = ids(u)
    r = u.post("/me/quarantine/bulk", {"action": "deliver", "ids": all_ids[:2]})
    assert sorted(r.json["done"]) == sorted(all_ids[:2]) and r.json["failed"] == []
    r = u.post("/me/quarantine/bulk", {"action": "delete", "ids": all_ids[2:] + [999999]})
    assert sorted(r.json["done"]) == sorted(all_ids[2:]) and r.json["failed"][0]["id"] == 999999
    assert u.get("/me/quarantine").json["total"] == 0
    for body, field in [({"action": "archive", "ids": [1]}, "action"), ({"action": "delete"}, "ids"),
                        ({"action": "delete", "ids": []}, "ids"),
                        ({"action": "delete", "ids": ["1"]}, "ids"),
                        ({"action": "delete", "ids": list(range(1, 1003))}, "ids")]:
        r = u.post("/me/quarantine/bulk", body)
        assert r.status == 400 and r.json["field"] == field, (body, r)
    wait_for(lambda: len(maildir_mails(n.maildir, "max@example.test")) == 2, what="2 delivered")
    assert {m["Subject"] for m in maildir_mails(n.maildir, "max@example.test")} == {"bulk 2", "bulk 3"}


def test_summary_mail_and_one_click_links(make_node, workdir):
    n = quarantine_node(make_node, workdir)
    a = admin(n)
    make_user(a, "nora@example.test")
    make_user(a, "otto@example.test")
    send(n, "nora@example.test", subject="summary one", frm="x1@spam.example")
    send(n, "nora@example.test", subject="summary two", frm="x2@spam.example")
    send(n, "otto@example.test", subject="otto's")
    wait_quarantined(n, "nora@example.test", 2)
    wait_quarantined(n, "otto@example.test")
    # just created: daily interval not over yet
    assert a.post("/quarantine/summaries", {}).json["sent"] == []
    ou = user_api(n, "otto@example.test")
    ou.put("/me/settings", {"quarantine_summary": "never"})
    r = a.post("/quarantine/summaries", {"force": True})
    assert r.json["sent"] == ["nora@example.test"], r
    m = wait_mail(n.maildir, "nora@example.test", lambda m: "Quarantine summary" in m["Subject"])
    assert "2 new message" in m["Subject"]
    text = mail_text(m)
    assert "summary one" in text and "summary two" in text
    html = m.get_body(preferencelist=("html",)).get_content()
    assert "/act?t=" in html
    links = re.findall(r"(deliver|whitelist|delete): (https://\S+/act\?t=\S+)", text)
    assert len(links) == 6
    # nothing new: no second summary, even forced
    assert a.post("/quarantine/summaries", {"force": True}).json["sent"] == []
    # GET only shows; POST does
    anon = Api(n)
    first = [url for act, url in links if act == "deliver"][0]
    path = first.split(f":{n.http_port}", 1)[1]
    g = anon.raw("GET", path)
    assert g.status == 200 and b"Confirm" in g.body and b'method="post"' in g.body
    assert b"summary" in g.body
    token = path.split("t=", 1)[1]
    assert a.get("/quarantine?user=nora%40example.test").json["total"] == 2
    p = anon.raw("POST", "/act", body=f"t={token}".encode(),
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert p.status == 200 and b"on its way" in p.body, p
    assert a.get("/quarantine?user=nora%40example.test").json["total"] == 1
    again = anon.raw("POST", "/act", body=f"t={token}".encode(),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert again.status == 404
    bad = anon.raw("GET", "/act?t=" + token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert bad.status == 400
    assert anon.raw("GET", "/act").status == 400
    assert anon.raw("GET", "/act?t=<script>").status == 400
    assert b"<script>" not in anon.raw("GET", "/act?t=<script>").body
    # whitelist link: list + delivery
    wl = [url for act, url in links if act == "whitelist"]
    for url in wl:
        t = url.split("t=", 1)[1]
        anon.raw("POST", "/act", body=f"t={t}".encode(),
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    nu = user_api(n, "nora@example.test")
    assert len(nu.get("/me/lists").json["whitelist"]) == 1
    assert nu.get("/me/quarantine").json["total"] == 0
    # a new message after the summary makes the next one
    send(n, "nora@example.test", subject="summary three")
    wait_quarantined(n, "nora@example.test", 1)
    assert a.post("/quarantine/summaries", {"force": True, "user": "nora@example.test"}).json["sent"] == [
        "nora@example.test"]
    m3 = wait_mail(n.maildir, "nora@example.test", lambda m: "1 new message" in m["Subject"])
    assert "summary three" in mail_text(m3)
    # bookkeeping: not due again (interval counts from the last summary)
    with db(n) as c:
        sent = c.execute("SELECT sent_ms FROM quarantine_summary WHERE rcpt=?",
                         ("nora@example.test",)).fetchone()[0]
        c.execute("UPDATE quarantine_summary SET sent_ms = ? WHERE rcpt=?",
                  (sent - 25 * 3600 * 1000, "nora@example.test"))
    send(n, "nora@example.test", subject="summary four")
    wait_quarantined(n, "nora@example.test", 2)
    assert a.post("/quarantine/summaries", {}).json["sent"] == ["nora@example.test"]


def test_retention_purge(make_node, workdir):
    n = quarantine_node(make_node, workdir)
    a = admin(n)
    make_user(a, "pia@example.test")
    send(n, "pia@example.test", subject="old")
    send(n, "pia@example.test", subject="new")
    wait_quarantined(n, "pia@example.test", 2)
    n.set("quarantine_retention_days", "7")
    with db(n) as c:
        c.execute("UPDATE quarantine SET time_ms = time_ms - 8 * 86400000 WHERE subject = 'old'")
        qid = c.execute("SELECT queue_id FROM quarantine WHERE subject='old'").fetchone()[0]
    assert os.path.exists(os.path.join(n.data, "quarantine", qid))
    r = a.post("/quarantine/purge")
    assert r.json == {"purged": 1, "retention_days": 7}
    assert [x["subject"] for x in a.get("/quarantine").json["rows"]] == ["new"]
    assert not os.path.exists(os.path.join(n.data, "quarantine", qid))
    assert a.post("/quarantine/purge").json["purged"] == 0


def test_cli_quarantine_commands(make_node, workdir):
    n = quarantine_node(make_node, workdir)
    a = admin(n)
    make_user(a, "quinn@example.test")
    for s in ("cli one", "cli two", "cli three"):
        send(n, "quinn@example.test", subject=s)
    wait_quarantined(n, "quinn@example.test", 3)
    lst = n.cli("quarantine", "list", "quinn@example.test", json_out=True)
    by = {x["subject"]: x["id"] for x in lst["rows"]}
    assert "cli two" in n.cli("quarantine", "list", "quinn@example.test").stdout
    r = n.cli("quarantine", "release", str(by["cli one"]))
    assert "released" in r.stdout
    wait_mail(n.maildir, "quinn@example.test", lambda m: m["Subject"] == "cli one")
    assert "deleted" in n.cli("quarantine", "delete", str(by["cli two"])).stdout
    assert n.cli("quarantine", "delete", str(by["cli two"]), check=False).returncode == 1
    assert "learned" in n.cli("classify", str(by["cli three"]), "spam").stdout
    assert n.cli("classify", str(by["cli three"]), "eggs", check=False).returncode == 2
    assert n.cli("quarantine", "release", "abc", check=False).returncode == 2
    assert n.cli("quarantine", "list", "quinn@example.test", json_out=True)["total"] == 1
    # deleting the account deletes its quarantine
    assert a.delete("/users/quinn%40example.test").status == 200
    assert a.get("/quarantine").json["total"] == 0
