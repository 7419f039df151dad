"""Policy layers end to end over SMTP: IP, sender and recipient allow/block
lists (each with its positive and negative case), attachment filters on
real zip archives (an encrypted one included), administrator regex
filters, spam fingerprints classified through the API, and the rule that
allow-listed mail skips scoring but never the attachment checks."""
import os
import re

import pytest

from conftest import wait_for
from policy_helpers import (SPAM_MARKER, api, delivered, delivered_subjects, encrypted_zip,
                            filter_add, list_add, list_remove, log_of, message, q,
                            rules_conf, set_setting, smtp_send, zip_bytes)

DOMAIN = "example.test"


@pytest.fixture
def node(make_node, workdir):
    n = make_node("n1", extra_conf=rules_conf(workdir))
    n.maildir = os.path.join(workdir, "mail")
    n.add_domain(DOMAIN, f"maildir:{n.maildir}")
    return n


def send(n, subject, frm="alice@outside.test", rcpts=("bob@example.test",), source=None,
         **kw):
    """One message; returns (rcpt replies, final reply)."""
    msg = message(subject=subject, frm=frm, to=rcpts[0], **kw)
    return smtp_send(n, frm, list(rcpts), msg, source=source)


def accepted(final):
    assert final is not None and final[0] == 250, final
    return final


def refused(final, text):
    assert final is not None and final[0] == 554, final
    assert text in final[1], final
    return final


def wait_delivered(n, rcpt, subject):
    wait_for(lambda: subject in delivered_subjects(n.maildir).get(rcpt, []),
             what=f"delivery of {subject!r} to {rcpt}")


def never_delivered(n, subject):
    for subjects in delivered_subjects(n.maildir).values():
        assert not any(subject in s for s in subjects), subject


def test_ip_lists(node):
    n = node
    list_add(n, "ip_block", "127.0.0.3", comment="known spammer")
    list_add(n, "ip_allow", "127.0.0.2/32", comment="partner relay")
    # blocked client: 554, nothing stored, the log says why
    _, final = send(n, "ip block positive", source="127.0.0.3")
    refused(final, "client address blocked by policy")
    row = log_of(n, "ip block positive")
    assert row["action"] == "block" and row["layer"] == "lists"
    assert "IP_BLOCK" in row["rules"] and "known spammer" in row["reason"]
    # another client is not affected
    _, final = send(n, "ip block negative", source="127.0.0.4")
    accepted(final)
    wait_delivered(n, "bob@example.test", "ip block negative")
    # allowed client: the marker (worth 20) is not scored
    body = f"Buy now! {SPAM_MARKER}\n"
    _, final = send(n, "ip allow positive", source="127.0.0.2", body=body)
    accepted(final)
    wait_delivered(n, "bob@example.test", "ip allow positive")
    row = log_of(n, "ip allow positive")
    assert "IP_ALLOW" in row["rules"] and "POLICY_TEST_SPAM" not in row["rules"]
    # the same message from a client not on the list is scored and blocked
    _, final = send(n, "ip allow negative", source="127.0.0.4", body=body)
    refused(final, "Message rejected")
    assert "POLICY_TEST_SPAM" in log_of(n, "ip allow negative")["rules"]
    # a whole network, and removal through the API
    list_add(n, "ip_block", "127.0.1.0/24")
    refused(send(n, "ip net positive", source="127.0.1.77")[1], "client address blocked")
    list_remove(n, "ip_block", "127.0.1.5/24")  # any address of the network names it
    accepted(send(n, "ip net removed", source="127.0.1.77")[1])
    never_delivered(n, "ip block positive")


def test_sender_lists(node):
    n = node
    list_add(n, "sender_block", "spam.test")
    list_add(n, "sender_block", "boss@corp-spoof.test", action="quarantine")
    list_add(n, "sender_allow", "friend@partner.test")
    # a blocked domain covers its subdomains
    refused(send(n, "sender block positive", frm="x@mail.spam.test")[1],
            "sender blocked by policy")
    accepted(send(n, "sender block negative", frm="x@spam.example")[1])
    wait_delivered(n, "bob@example.test", "sender block negative")
    # the From header counts for block lists
    msg = message(subject="from header block", frm="x@spam.test")
    refused(smtp_send(n, "bounces@mailer.test", ["bob@example.test"], msg)[1],
            "sender blocked")
    # a quarantine entry quarantines
    accepted(send(n, "sender quarantine", frm="boss@corp-spoof.test")[1])
    row = log_of(n, "sender quarantine")
    assert row["action"] == "quarantine" and "SENDER_BLOCK" in row["rules"]
    # an allowed sender skips scoring; anyone else with the marker is blocked
    body = f"{SPAM_MARKER}\n"
    accepted(send(n, "sender allow positive", frm="friend@partner.test", body=body)[1])
    wait_delivered(n, "bob@example.test", "sender allow positive")
    refused(send(n, "sender allow negative", frm="other@partner.test", body=body)[1],
            "Message rejected")
    # an allow list never trusts the From header
    msg = message(subject="from header allow", frm="friend@partner.test", body=body)
    refused(smtp_send(n, "forged@elsewhere.test", ["bob@example.test"], msg)[1],
            "Message rejected")
    for s in ("sender block positive", "from header block", "sender quarantine"):
        never_delivered(n, s)


def test_recipient_lists(node):
    n = node
    list_add(n, "rcpt_block", "gone@example.test", comment="left the company")
    list_add(n, "rcpt_allow", "abuse@example.test")
    # one blocked recipient does not refuse the message for the others
    accepted(send(n, "rcpt block partial", rcpts=("gone@example.test", "bob@example.test"))[1])
    wait_delivered(n, "bob@example.test", "rcpt block partial")
    assert "gone@example.test" not in delivered(n.maildir)
    # every recipient blocked: refused
    refused(send(n, "rcpt block all", rcpts=("gone@example.test",))[1],
            "recipient blocked by policy")
    # the allowed recipient gets spam the others do not
    body = f"{SPAM_MARKER}\n"
    accepted(send(n, "rcpt allow partial", rcpts=("abuse@example.test", "carol@example.test"),
                  body=body)[1])
    wait_delivered(n, "abuse@example.test", "rcpt allow partial")
    row = log_of(n, "rcpt allow partial")
    assert "POLICY_TEST_SPAM" in row["rules"]
    n.wait_queue_empty()
    assert "carol@example.test" not in delivered(n.maildir)
    # negative: an unlisted recipient alone is scored and blocked
    refused(send(n, "rcpt allow negative", rcpts=("carol@example.test",), body=body)[1],
            "Message rejected")


EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 48


def test_attachments(node, workdir):
    n = node
    list_add(n, "attach_ext", "exe", comment="executables")
    list_add(n, "attach_mime", "application/x-msdownload")
    # inside a real zip archive
    z = zip_bytes([("docs/readme.txt", b"hello"), ("tools/setup.exe", EXE)])
    refused(send(n, "zip with exe", attachments=[("tools.zip", "application/zip", z)])[1],
            "attachment type not allowed")
    row = log_of(n, "zip with exe")
    assert row["layer"] == "attachment" and "setup.exe" in row["reason"]
    z = zip_bytes([("docs/readme.txt", b"hello"), ("data.csv", b"a,b\n1,2\n")])
    accepted(send(n, "zip clean", attachments=[("docs.zip", "application/zip", z)])[1])
    wait_delivered(n, "bob@example.test", "zip clean")
    # as the attachment itself, and by content under another name
    refused(send(n, "plain exe", attachments=[("run.EXE", "application/octet-stream", b"x")])[1],
            "attachment type not allowed")
    refused(send(n, "renamed exe", attachments=[("notes.txt", "text/plain", EXE)])[1],
            "attachment type not allowed")
    assert "ATTACH_MIME" in log_of(n, "renamed exe")["rules"]
    # double extension, on no list
    refused(send(n, "double ext", attachments=[("invoice.pdf.scr", "application/pdf", b"x")])[1],
            "attachment type not allowed")
    accepted(send(n, "real pdf", attachments=[("invoice.pdf", "application/pdf",
                                                b"%PDF-1.4\n%%EOF\n")])[1])
    # a password-protected archive: quarantined by default, blocked when set so
    ez = encrypted_zip(workdir, "invoice.doc", b"not really a document " * 20)
    accepted(send(n, "encrypted zip", attachments=[("invoice.zip", "application/zip", ez)])[1])
    row = log_of(n, "encrypted zip")
    assert row["action"] == "quarantine" and "ATTACH_ENCRYPTED" in row["rules"]
    set_setting(n, "attach_encrypted_action", "block")
    refused(send(n, "encrypted zip 2", attachments=[("invoice.zip", "application/zip", ez)])[1],
            "encrypted archive not allowed")
    # an allow-listed client skips scoring, not the attachment checks
    list_add(n, "ip_allow", "127.0.0.2")
    refused(send(n, "allowed ip exe", source="127.0.0.2",
                 attachments=[("tools.zip", "application/zip",
                               zip_bytes([("setup.exe", EXE)]))])[1],
            "attachment type not allowed")
    accepted(send(n, "allowed ip clean", source="127.0.0.2", body=f"{SPAM_MARKER}\n",
                  attachments=[("docs.zip", "application/zip", zip_bytes([("a.txt", b"x")]))])[1])
    wait_delivered(n, "bob@example.test", "allowed ip clean")
    for s in ("zip with exe", "plain exe", "renamed exe", "double ext", "encrypted zip"):
        never_delivered(n, s)


def test_content_filters(node):
    n = node
    filter_add(n, "subject", r"\bl[o0]tt[e3]ry\b", "block", fid="lottery", comment="lottery")
    filter_add(n, "header:X-Mailer", "^BulkBlaster", "quarantine", fid="mailer")
    filter_add(n, "body", "limited[- ]time offer", "tag", fid="offer")
    filter_add(n, "header", r"^List-Id: .*announce\.partner\.test", "allow", fid="newsletter")
    # block, on a subject, case-insensitive by default
    refused(send(n, "You won the L0TTERY")[1], "message content refused by policy")
    assert "lottery" in log_of(n, "You won the L0TTERY")["reason"]
    accepted(send(n, "subject about lotteries and lotteryx")[1])
    # quarantine, on one header
    accepted(send(n, "mailer positive", headers=["X-Mailer: BulkBlaster 9"])[1])
    assert log_of(n, "mailer positive")["action"] == "quarantine"
    accepted(send(n, "mailer negative", headers=["X-Mailer: Thunderbird BulkBlaster"])[1])
    wait_delivered(n, "bob@example.test", "mailer negative")
    # tag, on the decoded body: delivered with the tag prefix
    accepted(send(n, "offer positive", body="Only today: a LIMITED-TIME OFFER for you\n")[1])
    wait_delivered(n, "bob@example.test", "[BULK] offer positive")
    accepted(send(n, "offer negative", body="no offers here\n")[1])
    wait_delivered(n, "bob@example.test", "offer negative")
    # allow: a header filter lets a list's mail skip scoring
    accepted(send(n, "newsletter positive", body=f"{SPAM_MARKER}\n",
                  headers=["List-Id: Partner news <announce.partner.test>"])[1])
    wait_delivered(n, "bob@example.test", "newsletter positive")
    refused(send(n, "newsletter negative", body=f"{SPAM_MARKER}\n",
                 headers=["List-Id: Other <other.test>"])[1], "Message rejected")
    # a bad pattern is refused by the API with the offset
    status, body = api(n, "POST", "/filters", {"target": "body", "pattern": "a(b",
                                               "action": "block"})
    assert status == 400 and body["field"] == "pattern" and "offset" in body["error"]
    never_delivered(n, "You won the L0TTERY")
    never_delivered(n, "mailer positive")


SPAM_BODY = """Dear {name},

I am Mr. Ibrahim Musa, the manager of the audit department of a bank in Lagos.
I have a business proposal that will benefit both of us. A foreign customer of
our bank died in a plane crash and left a deposit of {amount} million dollars
that nobody has claimed since. I want you to stand as the next of kin so the
money can be released to you, and we share it sixty to forty. Reply at once
with your full name, your private telephone number and your bank details so
that I can send you the forms. Keep this strictly confidential.
Yours faithfully, Ibrahim Musa.
"""

HAM_BODY = """Hi team,

the release branch is cut. Please run the integration tests against the new
build tonight and report anything odd in the usual channel. The database
migration needs a second pair of eyes before Thursday, and the documentation
for the new command line flags still has to be written. Lunch on Friday is on me.
Thanks, Anna
"""


def test_fingerprints(node):
    n = node
    first = message(subject="proposal 1", body=SPAM_BODY.format(name="friend", amount=15))
    # before classification: nothing
    accepted(smtp_send(n, "musa@outside.test", ["bob@example.test"], first)[1])
    assert "FINGERPRINT_MATCH" not in log_of(n, "proposal 1")["rules"]
    # the administrator classifies it as spam
    _, fp = api(n, "POST", "/fingerprints", {"message": first, "note": "classified"}, expect=201)
    assert fp["id"] > 0
    _, listed = api(n, "GET", "/fingerprints", expect=200)
    assert listed["total"] == 1 and listed["rows"][0]["note"] == "classified"
    # a near-identical copy (other name, other amount, other subject) scores
    second = message(subject="proposal 2", body=SPAM_BODY.format(name="John Smith", amount=19))
    accepted(smtp_send(n, "ibrahim@elsewhere.test", ["bob@example.test"], second)[1])
    row = log_of(n, "proposal 2")
    assert "FINGERPRINT_MATCH" in row["rules"] and row["score"] >= 6
    assert row["action"] == "tag"
    wait_delivered(n, "bob@example.test", "[BULK] proposal 2")
    _, chk = api(n, "POST", "/fingerprints/check", {"message": second}, expect=200)
    assert chk["match"] and chk["id"] == fp["id"] and chk["distance"] <= chk["max_distance"]
    # unrelated mail does not
    accepted(smtp_send(n, "anna@outside.test", ["bob@example.test"],
                       message(subject="release", body=HAM_BODY))[1])
    assert "FINGERPRINT_MATCH" not in log_of(n, "release")["rules"]
    # the score is a setting; removing the fingerprint ends the matches
    set_setting(n, "fingerprint_score", 10)
    refused(smtp_send(n, "ibrahim@elsewhere.test", ["bob@example.test"],
                      message(subject="proposal 3",
                              body=SPAM_BODY.format(name="Mary", amount=12)))[1],
            "Message rejected")
    api(n, "DELETE", f"/fingerprints/{fp['id']}", expect=200)
    accepted(smtp_send(n, "ibrahim@elsewhere.test", ["bob@example.test"],
                       message(subject="proposal 4",
                               body=SPAM_BODY.format(name="Paul", amount=11)))[1])
    assert "FINGERPRINT_MATCH" not in log_of(n, "proposal 4")["rules"]
    # too little text is refused with a reason
    status, body = api(n, "POST", "/fingerprints", {"message": "Subject: x\r\n\r\nhi\r\n"})
    assert status == 400 and "too little text" in body["error"]


def test_lists_api_and_persistence(node):
    n = node
    list_add(n, "sender_block", "@Junk.Test", comment="junk", action="tag")
    status, body = api(n, "POST", "/lists/ip_block", {"entry": "300.1.1.1"})
    assert status == 400 and body["field"] == "entry"
    status, body = api(n, "POST", "/lists/ip_allow", {"entry": "10.0.0.1", "action": "block"})
    assert status == 400 and body["field"] == "action"
    assert api(n, "GET", "/lists/nope")[0] == 404
    _, got = api(n, "GET", f"/lists/sender_block/{q('JUNK.test')}", expect=200)
    assert got == {"list": "sender_block", "entry": "junk.test", "comment": "junk",
                   "action": "tag"}
    _, chk = api(n, "GET", "/policy/check?sender=a%40b.junk.test&ip=127.0.0.9", expect=200)
    assert chk["sender"]["entry"] == "junk.test" and chk["ip"] is None
    # a tag entry tags
    accepted(send(n, "junk tag", frm="news@junk.test")[1])
    wait_delivered(n, "bob@example.test", "[BULK] junk tag")
    # lists live in the config store: they survive a restart
    n.restart()
    _, rows = api(n, "GET", "/lists/sender_block", expect=200)
    assert [r["entry"] for r in rows["rows"]] == ["junk.test"]
    accepted(send(n, "junk tag 2", frm="news@junk.test")[1])
    wait_delivered(n, "bob@example.test", "[BULK] junk tag 2")
    assert re.search(r"junk tag 2", str(delivered_subjects(n.maildir)))
