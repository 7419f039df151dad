/* Attachment filters (attach.h): the stage and its checks. Every finding
 * has an action; the most severe one of the message is applied, through
 * policy_apply, as the "attachment" layer. "allow" as a finding's action
 * means no action (it never skips scoring). */
#include "filter/attach.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "filter/lists.h"
#include "store/config.h"
#include "util/log.h"

struct magic {
	size_t off;
	const char *bytes;
	size_t len;
	const char *types;
};

/* Leading bytes of the formats malware comes in, and of the common ones
 * an administrator may list. */
static const struct magic magics[] = {
    {0, "MZ", 2, "application/x-dosexec|application/x-msdownload|application/x-msdos-program"},
    {0,
     "\x7f"
     "ELF",
     4, "application/x-executable|application/x-elf"},
    {0, "PK\x03\x04", 4, "application/zip|application/x-zip-compressed"},
    {0, "PK\x05\x06", 4, "application/zip|application/x-zip-compressed"},
    {0, "Rar!\x1a\x07", 6, "application/vnd.rar|application/x-rar-compressed|application/x-rar"},
    {0, "7z\xbc\xaf\x27\x1c", 6, "application/x-7z-compressed"},
    {0, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8, "application/x-ole-storage"},
    {0, "MSCF", 4, "application/vnd.ms-cab-compressed"},
    {0, "L\0\0\0\x01\x14\x02\0", 8, "application/x-ms-shortcut"},
    {0, "\x1f\x8b", 2, "application/gzip|application/x-gzip"},
    {0, "%PDF-", 5, "application/pdf"},
    {0, "{\\rtf", 5, "application/rtf|text/rtf"},
    {0x8001, "CD001", 5, "application/x-iso9660-image"},
};

const char *attach_sniff(const unsigned char *d, size_t n)
{
	for (size_t i = 0; d && i < sizeof magics / sizeof *magics; i++) {
		const struct magic *m = &magics[i];
		if (n >= m->off + m->len && memcmp(d + m->off, m->bytes, m->len) == 0)
			return m->types;
	}
	return NULL;
}

/* Extensions that run when opened, and the ones used as their disguise. */
static const char executable_exts[] =
	"|exe|scr|com|pif|bat|cmd|vb|vbs|vbe|js|jse|wsf|wsh|hta|msi|msp|jar|ps1|psm1|lnk|cpl|reg|"
	"scf|inf|iso|img|vhd|vhdx|appx|msix|chm|dll|sys|";
static const char decoy_exts[] =
	"|pdf|doc|docx|docm|xls|xlsx|xlsm|ppt|pptx|txt|rtf|csv|jpg|jpeg|png|gif|bmp|tif|tiff|htm|"
	"html|zip|rar|7z|mp3|mp4|wav|avi|mov|odt|ods|eml|msg|xml|";

static int in_set(const char *set, const char *ext, size_t n)
{
	char key[40];
	if (n == 0 || n + 3 > sizeof key)
		return 0;
	key[0] = '|';
	for (size_t i = 0; i < n; i++)
		key[i + 1] = (char)tolower((unsigned char)ext[i]);
	key[n + 1] = '|';
	key[n + 2] = '\0';
	return strstr(set, key) != NULL;
}

int attach_name_spoofed(const char *name)
{
	if (!name)
		return 0;
	if (strstr(name, "\xe2\x80\xae")) /* U+202E RIGHT-TO-LEFT OVERRIDE */
		return 1;
	size_t n = strlen(name);
	while (n && (name[n - 1] == '.' || name[n - 1] == ' '))
		n--;
	const char *last = memrchr(name, '.', n);
	if (!last || !in_set(executable_exts, last + 1, (size_t)(name + n - last - 1)))
		return 0;
	size_t blanks = 0;
	for (const char *p = last; p > name && (p[-1] == ' ' || p[-1] == '\t'); p--)
		blanks++;
	if (blanks >= 3)
		return 1;
	const char *prev = memrchr(name, '.', (size_t)(last - name));
	return prev && in_set(decoy_exts, prev + 1, (size_t)(last - prev - 1));
}

/* ---- findings ------------------------------------------------------ */

struct finding {
	enum action action;
	int found;
	char rule[32];
	char reason[256];
	const char *public_reason;
};

struct scan {
	const struct policy *p;
	enum action encrypted_action, spoof_action;
	struct finding best;
	const char *part_name;  /* the attachment being looked at */
	int depth;
};

static int rank(enum action a)
{
	static const int r[] = {[ACTION_ALLOW] = 0, [ACTION_TAG] = 1, [ACTION_QUARANTINE] = 2,
				[ACTION_BLOCK] = 3, [ACTION_TEMPFAIL] = 4};
	return r[a];
}

static void __attribute__((format(printf, 5, 6)))
found(struct scan *s, enum action a, const char *rule, const char *public_reason,
      const char *fmt, ...)
{
	if (a == ACTION_ALLOW || (s->best.found && rank(a) <= rank(s->best.action)))
		return;
	s->best.found = 1;
	s->best.action = a;
	s->best.public_reason = public_reason;
	snprintf(s->best.rule, sizeof s->best.rule, "%s", rule);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->best.reason, sizeof s->best.reason, fmt, ap);
	va_end(ap);
}

static const char *const not_allowed = "attachment type not allowed";

/* Untrusted text for a reason line: escaped and capped. */
static const char *esc(char *out, size_t outlen, const char *s)
{
	return log_escape(out, outlen, s ? s : "", s ? strlen(s) : 0, 80);
}

/* A file name, as an attachment or inside an archive. */
static void check_name(struct scan *s, const char *name, const char *where)
{
	struct list_hit h;
	char n[330], c[330];
	if (policy_match_ext(s->p, name, &h))
		found(s, h.action, "ATTACH_EXT", not_allowed,
		      "%sattachment \"%s\": extension %s listed%s%s", where, esc(n, sizeof n, name),
		      h.entry, h.comment[0] ? ": " : "", esc(c, sizeof c, h.comment));
	if (attach_name_spoofed(name))
		found(s, s->spoof_action, "ATTACH_DOUBLE_EXT", not_allowed,
		      "%sattachment \"%s\": disguised executable name", where,
		      esc(n, sizeof n, name));
}

/* A declared or detected type; types may be '|'-separated aliases. */
static void check_types(struct scan *s, const char *types, const char *how)
{
	char one[128], n[330];
	for (const char *t = types; t && *t;) {
		size_t k = strcspn(t, "|");
		snprintf(one, sizeof one, "%.*s", (int)k, t);
		struct list_hit h;
		if (policy_match_mime(s->p, one, &h))
			found(s, h.action, "ATTACH_MIME", not_allowed,
			      "attachment \"%s\": %s type %s listed (entry %s)",
			      esc(n, sizeof n, s->part_name), how, esc(one, sizeof one, one),
			      h.entry);
		t += k + (t[k] == '|');
	}
}

static void check_content(struct scan *s, const unsigned char *d, size_t n);

static int zip_entry_seen(void *arg, const struct zip_entry *ze)
{
	struct scan *s = arg;
	char name[256], pn[330], en[330], where[400];
	size_t n = ze->name_len < sizeof name - 1 ? ze->name_len : sizeof name - 1;
	int nul = memchr(ze->name, '\0', ze->name_len) != NULL;
	/* as bytes: a NUL or control character cannot cut a suffix off */
	for (size_t i = 0; i < n; i++)
		name[i] = (unsigned char)ze->name[i] < 0x20 ? '?' : ze->name[i];
	name[n] = '\0';
	esc(pn, sizeof pn, s->part_name);
	if (nul)
		found(s, s->encrypted_action, "ATTACH_UNREADABLE", "archive could not be inspected",
		      "attachment \"%s\": archive entry name with a NUL byte", pn);
	if (ze->is_dir)
		return 0;
	const char *base = name;
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	snprintf(where, sizeof where, "\"%s\" in archive: ", pn);
	check_name(s, base, where);
	if (ze->encrypted)
		found(s, s->encrypted_action, "ATTACH_ENCRYPTED", "encrypted archive not allowed",
		      "attachment \"%s\": encrypted archive entry \"%s\"", pn,
		      esc(en, sizeof en, base));
	if (ze->data && s->depth < ZIP_MAX_DEPTH) {
		s->depth++;
		check_content(s, ze->data, ze->data_len);
		s->depth--;
	}
	return 0;
}

/* Detected type, and the entries of a zip archive. */
static void check_content(struct scan *s, const unsigned char *d, size_t n)
{
	const char *types = attach_sniff(d, n);
	if (types)
		check_types(s, types, "detected");
	if (!zip_is_zip(d, n))
		return;
	struct err e;
	char pn[330];
	if (zip_scan(d, n, zip_entry_seen, s, &e) < 0)
		found(s, s->encrypted_action, "ATTACH_UNREADABLE", "archive could not be inspected",
		      "attachment \"%s\": unreadable archive: %s", esc(pn, sizeof pn, s->part_name),
		      e.msg);
}

static int is_body_text(const struct msg_part *mp)
{
	return !mp->is_attachment && !mp->filename &&
	       (strcmp(mp->content_type, "text/plain") == 0 ||
		strcmp(mp->content_type, "text/html") == 0);
}

static void check_part(struct scan *s, const struct msg_part *mp)
{
	if (strncmp(mp->content_type, "multipart/", 10) == 0 ||
	    strcmp(mp->content_type, "message/rfc822") == 0 || is_body_text(mp))
		return;
	s->part_name = mp->filename ? mp->filename : "(unnamed)";
	if (mp->filename)
		check_name(s, mp->filename, "");
	check_types(s, mp->content_type, "declared");
	if (mp->data)
		check_content(s, (const unsigned char *)mp->data, mp->data_len);
}

static enum action setting_action(struct config_store *cfg, const char *name)
{
	char v[32];
	enum action a;
	config_str(cfg, name, NULL, NULL, v, sizeof v);
	return lists_action_parse(v, &a) == 0 ? a : ACTION_BLOCK;
}

int stage_attach_run(struct scan_job *job)
{
	struct verdict *v = job->v;
	if (!job->view || (v->final && v->action == ACTION_BLOCK))
		return 0;
	struct config_store *cfg = filter_engine_cfg(job->fe);
	struct scan s = {
		.p = policy_acquire(cfg),
		.encrypted_action = setting_action(cfg, "attach_encrypted_action"),
		.spoof_action = setting_action(cfg, "attach_double_ext_action"),
	};
	for (size_t i = 0; i < job->view->nparts; i++)
		check_part(&s, &job->view->parts[i]);
	if (s.best.found)
		policy_apply(job, s.best.action, "attachment", s.best.rule, s.best.reason,
			     s.best.public_reason);
	policy_release((struct policy *)s.p);
	return 0;
}
