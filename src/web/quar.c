/* What can be done to a quarantined message, whoever asks (the user's
 * inbox, the admin, the one-click page of the summary): release it into
 * the delivery queue, whitelist its sender, train Bayes with it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/bayes.h"
#include "filter/fingerprint.h"
#include "mail/msgview.h"
#include "node.h"
#include "smtp/queue.h"
#include "store/msglog.h"
#include "store/users.h"
#include "util/log.h"
#include "web/web_int.h"

int quar_release(struct node *n, sqlite3 *db, int64_t id, const char *rcpt, const char *who,
		 char *queue_id, size_t qlen, struct err *e)
{
	struct quarantine_msg m;
	char *data = NULL;
	size_t len;
	if (quarantine_get(db, n->boot.data_dir, id, rcpt, &m, e) < 0)
		return -1;
	int rc = -2;
	if (!n->queue || !n->base) {
		err_set(e, "rampartd must be running to deliver a message");
		goto out;
	}
	if (quarantine_read(&m, &data, &len, e) < 0)
		goto out;
	const char *rcpts[1] = {m.rcpt};
	/* the original envelope sender, this recipient only, no rescan */
	if (queue_submit_local(n, db, m.mail_from, rcpts, 1, data, len, queue_id, qlen, e) < 0)
		goto out;
	struct err de;
	if (quarantine_delete(db, n->boot.data_dir, id, NULL, &de) < 0)
		log_warn("quarantine: %lld released but not removed: %s", (long long)id, de.msg);
	char reason[256];
	snprintf(reason, sizeof reason, "released from quarantine by %s (was %s)", who, m.queue_id);
	json_t *row = m.row;
	struct msglog_row lr = {
		.node = n->boot.hostname,
		.client_ip = "127.0.0.1",
		.mail_from = m.mail_from,
		.rcpts = m.rcpt,
		.subject = json_string_value(json_object_get(row, "subject")),
		.size = (int64_t)len,
		.score = json_real_value(json_object_get(row, "score")),
		.layer = "quarantine",
		.reason = reason,
		.action = "allow",
		.delivery = "queued",
		.queue_id = queue_id,
	};
	if (msglog_insert(db, &lr, &de) < 0)
		log_warn("quarantine: message log: %s", de.msg);
	log_info("quarantine: message %lld (%s) for %s released by %s, queued as %s", (long long)id,
		 m.queue_id, log_esc(m.rcpt), log_esc(who), queue_id);
	rc = 0;
out:
	free(data);
	json_decref(m.row);
	return rc;
}

int quar_whitelist_sender(struct node *n, sqlite3 *db, int64_t id, const char *rcpt,
			  char *sender, size_t slen, struct err *e)
{
	struct quarantine_msg m;
	if (quarantine_get(db, n->boot.data_dir, id, rcpt, &m, e) < 0)
		return -1;
	json_decref(m.row);
	snprintf(sender, slen, "%s", m.mail_from);
	if (!m.mail_from[0]) {
		err_set(e, "the message has no sender address (a bounce) to whitelist");
		return -2;
	}
	return users_list_add(n->cfg, m.rcpt, ULIST_WHITE, m.mail_from, e) < 0 ? -2 : 0;
}

int quar_classify(sqlite3 *db, const char *data, size_t len, int spam, const char *admin,
		  struct err *e)
{
	struct msg_view v;
	if (msgview_parse(data, len, &v, e) < 0)
		return -1;
	int rc = bayes_learn(db, &v, spam, e);
	/* fingerprints block for everyone: only an administrator's verdict */
	if (rc >= 0 && spam && admin) {
		char note[400];
		struct err fe;
		snprintf(note, sizeof note, "classified as spam by %s", admin);
		if (fingerprint_add_note(db, &v, note, &fe) < 0)
			log_warn("fingerprint: %s", fe.msg);
	}
	msgview_free(&v);
	return rc;
}
