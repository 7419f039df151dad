"""HTTPS client for rampart's JSON API (docs/api.md) used by the API
tests: keeps the session cookie and the CSRF token like a browser does,
and exposes every reply (status, headers, parsed JSON, raw body)."""
import email
import email.policy
import glob
import http.client
import json
import os
import re
import sqlite3
from urllib.parse import quote

from conftest import simple_message, unverified_tls, wait_for


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def headers_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return f"<Reply {self.status} {self.body[:300]!r}>"


class Api:
    """One browser-like client of one node."""

    def __init__(self, node, host="127.0.0.1"):
        self.node = node
        self.host = host
        self.cookie = None
        self.csrf = None
        self.token = None

    def raw(self, method, path, body=b"", headers=None, timeout=30):
        conn = http.client.HTTPSConnection(self.host, self.node.http_port,
                                           context=unverified_tls(), timeout=timeout)
        try:
            h = dict(headers or {})
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            return Reply(r.status, r.getheaders(), data)
        finally:
            conn.close()

    def call(self, method, path, body=None, csrf=True, headers=None, raw_body=None, timeout=30):
        """A JSON API call below /api/v1 with the session cookie and (for
        state-changing methods) the CSRF header."""
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        if self.cookie:
            h["Cookie"] = f"rampart_session={self.cookie}"
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            h["X-CSRF-Token"] = self.csrf
        data = raw_body if raw_body is not None else (
            json.dumps(body).encode() if body is not None else b"")
        r = self.raw(method, "/api/v1" + path, data, h, timeout=timeout)
        for c in r.headers_all("Set-Cookie"):
            m = re.match(r"rampart_session=([^;]*)", c)
            if m:
                self.cookie = m.group(1) or None
        return r

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, {} if body is None else body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, {} if body is None else body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def login(self, username, password, expect=200):
        r = self.call("POST", "/auth/login", {"username": username, "password": password})
        assert r.status == expect, r
        if r.status == 200:
            self.csrf = r.json["csrf_token"]
        return r


def admin_password(node):
    m = wait_for(lambda: re.search(r"^rampartd: initial admin password: (\S+)$", node.log(), re.M),
                 what="initial admin password in the log")
    return m.group(1)


def admin(node):
    """An Api logged in as the administrator."""
    a = Api(node)
    a.login("admin", admin_password(node))
    return a


def upath(addr):
    return quote(addr, safe="")


def make_user(adm, addr, password="correct horse battery", **extra):
    body = {"address": addr, "password": password}
    body.update(extra)
    r = adm.post("/users", body)
    assert r.status == 201, r
    return r.json


def user_api(node, addr, password="correct horse battery"):
    u = Api(node)
    u.login(addr, password)
    return u


def quarantine_node(make_node, workdir, name="node", extra_conf=""):
    """A node whose domain example.test is delivered to a maildir and where
    every message is quarantined (quarantine_score -50: any score is
    above it)."""
    n = make_node(name, extra_conf=extra_conf)
    maildir = os.path.join(workdir, name + "-mail")
    n.add_domain("example.test", f"maildir:{maildir}")
    n.set("quarantine_score", "-50")
    n.maildir = maildir
    return n


def send(node, rcpts, subject="hello", body="hello there\r\n", frm="spammer@outside.test",
         extra_headers=""):
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    msg = simple_message(subject=subject, body=body, frm=frm, to=rcpts[0],
                         extra_headers=extra_headers)
    node.send(frm, rcpts, msg)


def wait_quarantined(node, user, n=1, timeout=30):
    """Waits until USER has at least n quarantined messages (CLI)."""
    def have():
        r = node.cli("quarantine", "list", user, json_out=True, check=False)
        return r if isinstance(r, dict) and r["total"] >= n else None
    return wait_for(have, timeout=timeout, interval=0.2, what=f"{n} quarantined for {user}")


def maildir_mails(maildir, rcpt):
    """Parsed messages delivered to rcpt's maildir."""
    out = []
    for p in sorted(glob.glob(os.path.join(maildir, rcpt, "new", "*"))):
        with open(p, "rb") as f:
            out.append(email.message_from_bytes(f.read(), policy=email.policy.default))
    return out


def mail_text(msg):
    """The text/plain body of a parsed message."""
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content() if part else ""


def wait_mail(maildir, rcpt, pred=lambda m: True, timeout=30):
    return wait_for(lambda: next((m for m in maildir_mails(maildir, rcpt) if pred(m)), None),
                    timeout=timeout, interval=0.2, what=f"a mail for {rcpt}")


def db(node):
    """A direct connection to the node's SQLite database (WAL: safe
    beside the running daemon) for checks and for aging rows."""
    c = sqlite3.connect(os.path.join(node.data, "rampart.db"), timeout=30)
    return c


def setpw_token(link):
    m = re.search(r"[?&]setpw=([A-Za-z0-9_.\-]+)", link)
    assert m, link
    return m.group(1)
