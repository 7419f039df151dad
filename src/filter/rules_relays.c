/* SpamAssassin's Received header parser, natively: one header into a relay
 * (ip, rdns, helo, by, ident, envfrom, id, auth) the way
 * Mail::SpamAssassin::Message::Metadata::Received::parse_received_line
 * does it. Its patterns are kept as written there (PCRE2 runs Perl's
 * syntax) and tried in its order, so the pseudo-headers the stock rules
 * read (X-Spam-Relays-*) come out as in SpamAssassin and its scores stay
 * calibrated. Patterns are compiled once per process. */
#include "filter/rules_int.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"

/* SpamAssassin's IP_ADDRESS and LOCALHOST (Constants.pm), case-blind. */
#define O4 "(?:1\\d\\d|2[0-4]\\d|25[0-5]|[1-9]\\d|\\d)"
#define V4 O4 "\\." O4 "\\." O4 "\\." O4
#define H4 "[a-f0-9]{1,4}"
#define IP_RE                                                                                      \
	"(?i:\\b(?<!:)" V4 "\\b|(?:IPv6:|(?<![a-f0-9:]))(?:(?:(?:" H4 ":){6}|::(?:" H4 ":){0,5}|(?:" \
	H4 ":){1,5}:|" H4 "::(?:" H4 ":){1,4}|(?:" H4 ":){2}:(?:" H4 ":){1,3}|(?:" H4             \
	":){3}:(?:" H4 ":){1,2}|(?:" H4 ":){4}:" H4 ":)" V4 "|(?:" H4 ":){7}" H4 "|:(?::" H4        \
	"){1,7}|(?:" H4 ":){1,7}:|" H4 ":(?::" H4 "){1,6}|(?:" H4 ":){2}(?::" H4 "){1,5}|(?:" H4    \
	":){3}(?::" H4 "){1,4}|(?:" H4 ":){4}(?::" H4 "){1,3}|(?:" H4 ":){5}(?::" H4 "){1,2}|(?:" H4 \
	":){6}:" H4 "|::)(?![a-f0-9:]))"
#define Z4 "0{1,4}"
#define MAPPED                                                                                     \
	"(?:(?:" Z4 ":){5}ffff:|::(?:" Z4 ":){0,4}ffff:|(?:" Z4 ":){1,4}:ffff:|" Z4 "::(?:" Z4     \
	":){1,3}ffff:|(?:" Z4 ":){2}:0{1,2}:ffff:|(?:" Z4 ":){3}:0:ffff:|(?:" Z4 ":){4}:ffff:)"
#define LOOP6                                                                                      \
	"(?:" Z4 ":){7}0{0,3}1|:(?::" Z4 "){0,6}:0{0,3}1|" Z4 ":(?::" Z4 "){0,5}:0{0,3}1|(?:" Z4   \
	":){2}(?::" Z4 "){0,4}:0{0,3}1|(?:" Z4 ":){3}(?::" Z4 "){0,3}:0{0,3}1|(?:" Z4 ":){4}(?::" \
	Z4 "){0,2}:0{0,3}1|(?:" Z4 ":){5}(?::" Z4 "){0,1}:0{0,3}1|(?:" Z4 ":){6}:0{0,3}1"
#define LH_RE                                                                                      \
	"(?i:localhost(?:\\.localdomain)?|\\b(?<!:)127\\.0\\.0\\.1\\b|(?:IPv6:|(?<![a-f0-9:]))(?:" \
	MAPPED "127\\.0\\.0\\.1|" LOOP6 ")(?![a-f0-9:]))"
#define PRIV4 "(?:10|127|169\\.254|172\\.(?:1[6-9]|2[0-9]|3[01])|192\\.168|100\\.(?:6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7]))"
#define PRIVATE_RE                                                                                 \
	"^(?i:" PRIV4 "\\..*|(?:IPv6:|(?<![a-f0-9:]))(?:" MAPPED PRIV4 "\\..*|fe[89ab][0-9a-f]:.*|" \
	LOOP6 ")(?![a-f0-9:]))"

/* Capture groups of a pattern that fill the relay's fields. */
enum { F_IP, F_RDNS, F_HELO, F_BY, F_IDENT, F_ID, F_SUB, NFIELD };

enum {
	RP_DNS = 1 << 0,       /* the MTA looked up rDNS: an empty one is "none" */
	RP_SKIP = 1 << 1,      /* a header SpamAssassin ignores (return 0) */
	RP_NOTGUARD = 1 << 2,  /* the guard must not match */
	RP_SUB = 1 << 3,       /* Exim "(helo=x ident=y)" in group F_SUB */
	RP_UNKNOWN = 1 << 4,   /* rdns "unknown" is none (Postfix) */
	RP_SOFTDNS = 1 << 5,   /* couriertcpd's "softdnserr" */
	RP_SMIDENT = 1 << 6,   /* sendmail "IDENT:user@host" rDNS */
	RP_IDENTAT = 1 << 7,   /* ident captured with its "@" */
	RP_XMAIL = 1 << 8,
	RP_HOTMAIL = 1 << 9,
	RP_POP = 1 << 10,      /* a mail fetcher handover */
	RP_QMS = 1 << 11,      /* qmail-scanner's line: envfrom for the next */
	RP_QMAIL = 1 << 12,    /* the qmail family: sub-patterns decide */
	RP_OBTUSE = 1 << 13,
	RP_CLEARID = 1 << 14,
	RP_CLEARBY = 1 << 15,
	RP_UNVERIFIED = 1 << 16, /* simta's "unverified" rDNS */
	RP_CONT = 1 << 17,     /* assign, but keep trying (no goto enough) */
};

struct rpat {
	const char *guard;
	const char *re;
	unsigned char g[NFIELD];
	unsigned flags;
};

#define G(ip, rdns, helo, by, ident, id, sub) {ip, rdns, helo, by, ident, id, sub}
#define IPX "@IP@"
#define LHX "@LH@"

/* Headers ignored or kept before any parsing. */
enum { X_FROM, X_LOCALFOR, X_FROMBY, X_BRACKETIP, X_DATE, X_ID, X_HELO, X_EHLO, X_BY, X_ENVFROM,
       X_IPAT, X_XID, X_XFROM, X_EXRDNS, X_EXHELO, X_EXIP, X_EXBY, X_GUESS, X_ANYIP, X_MAPPED,
       X_PRIVATE, X_FINDIP, NX };
static const char *const xre[NX] = {
	[X_FROM] = "(?i)^\\(?from ",
	[X_LOCALFOR] = "\\bwith local for\\b",
	[X_FROMBY] = "(?i)^from (\\S+) by [^\\s;]+ ?;",
	[X_BRACKETIP] = "^\\[[\\d.]+\\]$",
	[X_DATE] = "[\\s;]+(?:(?:Mon|T(?:ue|hu)|Wed|Fri|S(?:at|un)), )?\\d+ (?:J(?:an|u[nl])|Feb|Ma[ry]|"
		   "A(?:pr|ug)|Sep|Oct|Nov|Dec) \\d+ \\d+:\\d+(?::\\d+)? \\S+$",
	[X_ID] = " id <?([^\\s<>;]{3,})",
	[X_HELO] = "\\bhelo=([-A-Za-z0-9\\.\\^+_&:=?!@%*\\$\\\\\\/]+)(?:[^-A-Za-z0-9\\.\\^+_&:=?!@%*\\$\\\\\\/]|$)",
	[X_EHLO] = "\\b(?:HELO|EHLO) ([-A-Za-z0-9\\.\\^+_&:=?!@%*\\$\\\\\\/]+)(?:[^-A-Za-z0-9\\.\\^+_&:=?!@%*\\$\\\\\\/]|$)",
	[X_BY] = " by (\\S+)(?:[^-A-Za-z0-9\\;\\.]|$)",
	[X_ENVFROM] = "(?i)(?:return-path:? |envelope-(?:sender|from)[ =])(\\S+)\\b",
	[X_IPAT] = "^(" IPX ") ",
	[X_XID] = " id <(\\S+)>",
	[X_XFROM] = " from <(\\S+)>",
	[X_EXRDNS] = "^(\\S+) ",
	[X_EXHELO] = " \\((\\S+)\\) ",
	[X_EXIP] = " \\[(" IPX ")(?:\\.\\d+)?\\] ",
	[X_EXBY] = "by (\\S+) ",
	[X_GUESS] = "^(\\S+)[^-A-Za-z0-9\\.]",
	[X_ANYIP] = "\\[(" IPX ")\\]",
	[X_MAPPED] = "(?i)^0*:0*:(?:0*:)*ffff:(\\d+\\.\\d+\\.\\d+\\.\\d+)$",
	[X_PRIVATE] = PRIVATE_RE,
	[X_FINDIP] = "(" IPX ")",
};

/* Authentication tokens: the first that matches names the method. */
enum { AU_G1, AU_FIXED, AU_GMAIL, AU_GMX, AU_POSTFIX };
static const struct {
	const char *guard, *re, *fixed;
	int kind;
} auths[] = {
	{" by ", "(?i) with ((?:ES|L|UTF8S|UTF8L)MTPS?A|ASMTP|HTTP[SU]?)(?: |;|$)", NULL, AU_G1},
	{" by mx\\.google\\.com with ESMTPS id [a-z0-9]{1,4}sm[0-9]{2,9}[a-z]{3}\\.[0-9]{1,3}\\.[0-9]{4}\\."
	 "(?:[0-6][0-9]\\.){4}[0-6][0-9]", "\\(version=([^ ]+) cipher=([^\\)]+)\\)", NULL, AU_GMAIL},
	{NULL, "^from .*?(?:\\]\\)|\\)\\]) \\(AUTH: (LOGIN|PLAIN|DIGEST-MD5|CRAM-MD5) \\S+(?:, .*?)?\\) by ",
	 NULL, AU_G1},
	{"authenticated", "^from .*?(?:\\](?: \\([^)]*\\))?\\)|\\)\\]) .*?\\(.*?authenticated.*?\\).*? by",
	 "Sendmail", AU_FIXED},
	{NULL, "from \\S* \\((?:HELO|EHLO) (\\S*)\\) \\[(" IPX ")\\] by (mail\\.gmx\\.(?:net|com)) \\([^\\)]+\\) "
	 "with ((?:ESMTP|SMTP))", NULL, AU_GMX},
	{" \\(authenticated as ", "\\) by .+ \\(\\d{1,2}\\.\\d\\.\\d{3}(?:\\.\\d{1,3})?\\) \\(authenticated as .+\\) id ",
	 "CriticalPath", AU_FIXED},
	{NULL, "\\) \\(Authenticated sender: \\S+\\) by \\S+ \\(([^\\)]+)\\) with ", NULL, AU_POSTFIX},
	{"CommuniGate Pro (HTTP|SMTP|XIMSS|IMAP)", " \\(account ", "Communigate", AU_FIXED},
	{NULL, " with Microsoft Exchange Server HTTP-DAV\\b", "HTTP-DAV", AU_FIXED},
	{" by ", "(?i) \\(via (HTTP.?)\\)(?: |;|$)", NULL, AU_G1},
};
#define NAUTH (sizeof auths / sizeof auths[0])

/* "from " headers: webmail first, then one MTA family chosen by its mark
 * (Received.pm's if/elsif chain), then the generic list. */
static const struct rpat pre[] = {
	{" \\((?:SquirrelMail|NaSMail) authenticated user ", "(" IPX ")\\b(?![.-]).{10,80}by (\\S+) with HTTP",
	 G(1, 0, 0, 2, 0, 0, 0), 0},
	{"aol\\.com", "(" IPX ") by (\\S+) \\(" IPX "\\) with HTTP \\(WebMailUI\\)", G(1, 0, 0, 2, 0, 0, 0), 0},
};

static const char *const family_mark[] = {
	" SMTPSVC",
	" with (?:Microsoft SMTP Server|mapi id) (?:\\([^\\)]+\\) )?\\d+\\.\\d+\\.\\d+\\.\\d+(?:$| )",
	"\\[XMail ", "\\(ecelerity\\b", "Exim", " \\(Postfix\\) with", "\\(Scalix SMTP Relay", " \\(Lotus Domino ",
};
#define NFAMILY (sizeof family_mark / sizeof family_mark[0])
enum { FAM_EXIM = 4 };

static const struct rpat fam[] = {
	/* SMTPSVC */
	{NULL, "^(\\S*) \\(\\[(" IPX ")\\][^\\)]{0,40}\\) by (\\S+) with Microsoft SMTPSVC", G(2, 0, 1, 3, 0, 0, 0), 0},
	{NULL, "^mail pickup service by (\\S+) with Microsoft SMTPSVC$", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	/* Microsoft SMTP Server */
	{NULL, "^(\\S+) \\(\\[?(" IPX ")(?:%[A-Z0-9._~-]*)?\\]?\\) by (\\S+) ", G(2, 0, 1, 3, 0, 0, 0), RP_CLEARID},
	/* XMail */
	{NULL, "^(\\S+) \\((\\[?" IPX "\\]?)(?::\\d+)\\) by (\\S+)(?: \\(\\S+\\))? with \\[XMail",
	 G(2, 0, 1, 3, 0, 0, 0), RP_XMAIL},
	/* ecelerity */
	{NULL, "^\\(\\[(" IPX "):\\d+\\] helo=(\\S+)\\) by (\\S+) ", G(1, 0, 2, 3, 0, 0, 0), 0},
	{NULL, "^\\S+ \\(\\[(" IPX "):\\d+\\]\\) by (\\S+) ", G(1, 0, 0, 2, 0, 0, 0), 0},
	/* Exim */
	{NULL, "\\bwith local(?:-\\S+)? ", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^\\[(" IPX ")\\] \\((.*?)\\) by (\\S+) ", G(1, 0, 0, 3, 0, 0, 2), RP_SUB},
	{NULL, "^(\\S+) \\(\\[(" IPX ")\\](.*?)\\) by (\\S+) ", G(2, 1, 1, 4, 0, 0, 3), RP_SUB},
	{NULL, "^(\\S+) \\[(" IPX ")\\](:\\d+)? by (\\S+) ", G(2, 1, 1, 4, 0, 0, 0), 0},
	/* Postfix */
	{NULL, "^(\\S+) \\((\\S+) \\[(" IPX ")\\]\\) by (\\S+) ", G(3, 2, 1, 4, 0, 0, 0), RP_DNS | RP_UNKNOWN},
	{NULL, "^(\\S+) \\((\\S+)\\[(" IPX ")\\]\\) by (\\S+) ", G(3, 2, 1, 4, 0, 0, 0), RP_DNS | RP_UNKNOWN},
	/* Scalix */
	{NULL, "^(\\S+) \\( ?(" IPX ")\\) by (\\S+)", G(2, 0, 1, 3, 0, 0, 0), 0},
	/* Lotus Domino never records the rDNS */
	{NULL, "^(\\S+) \\(\\[(" IPX ")\\]\\) by (\\S+) \\(Lotus", G(2, 0, 1, 3, 0, 0, 0), 0},
};
/* first entry of each family in fam[] */
static const unsigned char fam_start[NFAMILY + 1] = {0, 2, 3, 4, 6, 10, 12, 13, 14};

static const struct rpat generic[] = {
	{"\\bwith HTTP\\b", "^(" IPX ") \\(\\[" IPX "\\]\\) by (\\S+)", G(1, 0, 0, 2, 0, 0, 0), 0},
	/* sendmail, unless qmail-ldap */
	{" by \\S+ \\(qmail-\\S+\\) with ", "^(\\S+) \\((\\S+) \\[(" IPX ")\\].*\\) by (\\S+) \\(",
	 G(3, 2, 1, 4, 0, 0, 0), RP_NOTGUARD | RP_DNS | RP_SMIDENT},
	{NULL, "^(\\S+) \\((\\S+) \\[(" IPX ")\\]\\) by (\\S+) with \\S+ \\(", G(3, 2, 1, 4, 0, 0, 0), RP_DNS},
	{NULL, "^(\\S+) \\(\\[(" IPX ")\\] helo=(\\S+)\\) by (\\S+) with ", G(2, 1, 3, 4, 0, 0, 0), 0},
	{NULL, "^(\\S+) \\(<unknown\\S*>\\[(" IPX ")\\]\\) by (\\S+) ", G(2, 0, 1, 3, 0, 0, 0), 0},
	{NULL, "^(\\S+) \\((\\S+\\.\\S+)\\[(" IPX ")\\]\\) by (\\S+) ", G(3, 2, 1, 4, 0, 0, 0), RP_DNS},
	{NULL, "^(\\S+) \\((\\S*)\\@\\[(" IPX ")\\].*\\) by (\\S+) \\(", G(3, 0, 1, 4, 2, 0, 0), RP_DNS},
	{NULL, "by (\\S+\\.hotmail\\.msn\\.com) ", G(0, 0, 0, 1, 0, 0, 0), RP_HOTMAIL},
	{NULL, "^(\\S+) \\((?:HELO|EHLO) (\\S*)\\) \\((" IPX ")\\) by (\\S+) \\(qpsmtpd\\/\\S+\\) with (?:ESMTP|SMTP)",
	 G(3, 1, 2, 4, 0, 0, 0), 0},
	{NULL, "^(\\S+) \\(LHLO (\\S*)\\) \\((" IPX ")\\) by (\\S+) with LMTP", G(3, 1, 2, 4, 0, 0, 0), 0},
	{NULL, "^(\\S+) \\((?:HELO|EHLO) (\\S*)\\) \\[(" IPX ")\\] by (\\S+) \\([^\\)]+\\) with (?:ESMTP|SMTP)",
	 G(3, 1, 2, 4, 0, 0, 0), 0},
	{NULL, "^(\\S+) \\(\\[(" IPX ")\\]\\) by (\\S+) via smtpd \\(for \\S+\\) with SMTP\\(", G(2, 0, 1, 3, 0, 0, 0), 0},
	{NULL, "^\\S+( \\((?:HELO|EHLO) \\S*\\))? \\((\\S+\\@)?\\[?" IPX "\\]?\\)( \\(envelope-sender <\\S+>\\))? "
	 "by \\S+( \\(.+\\))* with (.* )?(SMTP|QMQP)(?! id )", G(0, 0, 0, 0, 0, 0, 0), RP_QMAIL},
	{" via HTTP$", "^\\[(" IPX ")\\] by (\\S+) via HTTP$", G(1, 0, 0, 2, 0, 0, 0), 0},
	{NULL, "^(\\S+) \\( \\[(" IPX ")\\]\\).*? by (\\S+) ", G(2, 0, 0, 3, 0, 0, 0), 0},
	{NULL, "^\\((\\S+) \\[(" IPX ")\\]\\) by (\\S+) ", G(2, 0, 1, 3, 0, 0, 0), 0},
	{NULL, "^\\[(" IPX ")\\] by (\\S+) ", G(1, 0, 0, 2, 0, 0, 0), 0},
	{NULL, "^\\(\\[?(" IPX ")\\]?\\) by (\\S+) ", G(1, 0, 0, 2, 0, 0, 0), 0},
	{NULL, "^(\\S+) \\[(" IPX ")\\] by (\\S+) \\[" IPX "\\] with ", G(2, 0, 1, 3, 0, 0, 0), RP_DNS},
	{NULL, "^(\\S+) \\[\\((" IPX ")\\)\\] by (\\S+) \\(" IPX "\\) ", G(2, 0, 1, 3, 0, 0, 0), 0},
	{NULL, "^(\\S+) \\(\\[(" IPX ")\\]\\) by (\\S+) \\(", G(2, 0, 1, 3, 0, 0, 0), RP_DNS},
	{NULL, "^(\\S+) \\((\\S+) \\[(" IPX ")\\]\\).*? by (\\S+)\\b", G(3, 2, 1, 4, 0, 0, 0), RP_SOFTDNS},
	{NULL, "^(\\S+) \\(\\[(" IPX ")(?:[.:]\\d+)?\\]\\).*? by (\\S+) ", G(2, 0, 1, 3, 0, 0, 0), RP_DNS},
	{NULL, "^(\\S+) \\((\\S+) \\[(" IPX ")\\]\\)(?: \\(authenticated bits=\\d+\\))? by (\\S+) \\(",
	 G(3, 2, 1, 4, 0, 0, 0), RP_DNS},
	{NULL, "with (?:POP3|IMAP)", G(0, 0, 0, 0, 0, 0, 0), RP_POP},
	{NULL, "^(\\S+) \\((?:HELO|EHLO) ([^\\)]*)\\) \\((\\S*@)?\\[?(" IPX ")\\]?\\).* by (\\S+) ",
	 G(4, 1, 2, 5, 3, 0, 0), RP_DNS | RP_IDENTAT},
	{NULL, "^(\\S+) \\((\\S*@)?\\[?(" IPX ")\\]?\\).* by (\\S+) ", G(3, 1, 1, 4, 2, 0, 0), RP_DNS | RP_IDENTAT},
	{" with http for ", "^\\[(" IPX ")\\] by (\\S+) with http for ", G(1, 0, 0, 2, 0, 0, 0), 0},
	{" via smap ", "^(\\S+)\\((" IPX ")\\) by (\\S+) via smap ", G(2, 1, 0, 3, 0, 0, 0), RP_DNS},
	{NULL, "^(\\S+)\\((" IPX "), (?:HELO|EHLO) (\\S*)\\) by (\\S+) via smap ", G(2, 1, 3, 4, 0, 0, 0), RP_DNS},
	{" \\(Post", "^\\[(" IPX ")\\] by (\\S+) \\(Post", G(1, 0, 0, 2, 0, 0, 0), 0},
	{" \\(ArGoSoft", "^\\[(" IPX ")\\] by (\\S+) \\(ArGoSoft", G(1, 0, 0, 2, 0, 0, 0), 0},
	{NULL, "^(" IPX ") by (\\S+) \\((?:SMTPL|InterScan)\\b", G(1, 0, 0, 2, 0, 0, 0), 0},
	{" with BSMTP", "^\\S+ by \\S+ with BSMTP", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^(\\S+) \\((\\S+) \\[(" IPX ")\\]\\) by (\\S+) with ", G(3, 2, 1, 4, 0, 0, 0), RP_DNS},
	{NULL, "^(\\S+) \\((?:HELO|EHLO) (\\S*)\\) \\((?:(\\S+)\\@)?(" IPX ").*?\\) by (\\S+) with ",
	 G(4, 1, 2, 5, 3, 0, 0), RP_DNS},
	{NULL, "^\\[(" IPX ")\\] \\((?:account \\S+ )?(?:HELO|EHLO) (\\S*)\\) by (\\S+) \\(", G(1, 0, 2, 3, 0, 0, 0), 0},
	{" \\(CommuniGate Pro", "^(\\S+) \\(\\[(" IPX ")\\] verified\\) by (\\S+) \\(", G(2, 1, 1, 3, 0, 0, 0), RP_DNS},
	{NULL, "^\\(\\[(" IPX ")\\]\\) by (\\S+) with ", G(1, 0, 0, 2, 0, 0, 0), 0},
	{NULL, "^([^\\d]\\S+) \\((" IPX ")\\) by (\\S+) ", G(2, 0, 1, 3, 0, 0, 0), 0},
	{NULL, "^\\S+ \\(\\S+\\) by \\S+ \\(Content Technologies ", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^(\\S+) \\(\\[(" IPX ")\\] \\[(\\S+)\\]\\) by (\\S+) with ", G(2, 0, 1, 4, 0, 0, 0), 0},
	{NULL, "^(" IPX ") by (\\S+) with ", G(1, 0, 0, 2, 0, 0, 0), 0},
	{NULL, "^(\\S+) \\((\\S+)\\[(" IPX ")\\]\\) by (\\S+) ", G(3, 2, 1, 4, 0, 0, 0), RP_DNS},
	{NULL, "^\\[(" IPX ")\\]\\S+ \\((?:HELO|EHLO) (\\S*)\\) by (\\S+) ", G(1, 0, 2, 3, 0, 0, 0), 0},
	{NULL, "^(" IPX ") \\((?:HELO|EHLO) (\\S*)\\) by (\\S+) ", G(1, 0, 2, 3, 0, 0, 0), 0},
	{NULL, "^(\\S+) \\[(" IPX ")\\] by (\\S+) ", G(2, 0, 1, 3, 0, 0, 0), 0},
	{NULL, "^(\\S+)\\((" IPX ")\\) by (\\S+) ", G(2, 1, 0, 3, 0, 0, 0), 0},
	{NULL, "^\\[(" IPX ")\\] by (\\S+) \\(MailGate ", G(1, 0, 0, 2, 0, 0, 0), 0},
	{NULL, "^(\\S+) \\(unverified \\[(" IPX ")\\]\\) by (\\S+) ", G(2, 0, 1, 3, 0, 0, 0), 0},
	{NULL, "^(" IPX ") \\([A-Za-z][^\\)]+\\) by (\\S+) with ", G(1, 0, 0, 2, 0, 0, 0), 0},
	{NULL, "^\\[(" IPX ")\\] \\(([^\\)]+)\\) by (\\S+) ", G(1, 0, 0, 3, 0, 0, 2), RP_SUB},
	{NULL, "^(\\S+) \\((?:\\S+\\@)?(" IPX ")\\) by (\\S+) with ", G(2, 1, 0, 3, 0, 0, 0), 0},
	{NULL, "^(\\S+)\\((" IPX ")\\)(?:, claiming to be \"(\\S+)\")? via \\S+ by (\\S+),", G(2, 1, 3, 4, 0, 0, 0),
	 RP_OBTUSE},
	{NULL, "^(\\S+) \\((\\S+)@(" IPX ") with login\\) by (\\S+\\.yahoo\\.com) with SMTP", G(3, 0, 1, 4, 0, 0, 0), 0},
	{NULL, "^X-Originating-IP: (" IPX ")$", G(1, 0, 0, 0, 0, 0, 0), RP_CLEARBY},
	/* stuff to ignore */
	{NULL, "^\\S+ \\([^\\s\\@]+\\@" LHX "\\) by \\S+ \\(", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^\\S+ \\S+ by \\S+ with local-e?smtp ", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^127\\.0\\.0\\.1 \\(AVG SMTP \\S+ \\[\\S+\\]\\)", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^\\S+\\@\\S+ by \\S+ by uid \\S+ ", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^\\S+\\@\\S+ by \\S+ ", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^Unknown\\/Local \\(", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^" LHX " \\((?:\\S+\\@)?" LHX "[\\)\\[]", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^\\S+ \\((?:\\S+\\@)?" LHX "\\) ", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^\\S+ \\(\\S+\\@\\S+ \\[" LHX "\\]\\) ", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^\\(AUTH: \\S+\\) by \\S+ with ", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^localhost \\(localhost \\[\\[UNIX: localhost\\]\\]\\) by ", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^\\S+\\.amazon\\.com by \\S+\\.amazon\\.com with ESMTP \\(peer crosscheck: ", G(0, 0, 0, 0, 0, 0, 0),
	 RP_SKIP},
	{NULL, "^[^\\.]+ by \\S+ with Novell_GroupWise", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^no\\.name\\.available by \\S+ via smtpd \\(for ", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^\\S+ by \\S+ \\(.{0,100}\\) with qmail-scanner", G(0, 0, 0, 0, 0, 0, 0), RP_QMS},
	{NULL, "^\\S+ by \\S+ with local", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^\\S+ \\(\\[unix socket\\]\\) by \\S+ \\(Cyrus v[0-9]*?\\.[0-9]*?\\.[0-9]*?\\) with LMTPA",
	 G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^\\S+ by \\S+ (?:with|via|for|\\()", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^\\S+ (?:(?:with|via|for) \\S+|\\(unverified\\)) by\\b", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^\\S+ \\(unknown\\) by \\S+ \\(SG\\) with \\b", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^\\S+ \\(\\S+ \\[local\\]\\) by \\S+ \\(OpenSMTPD\\) with \\b", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "\\(LSMTP for", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^\\(\\[" LHX "\\]\\) with MailEnable ", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^facebook\\.com \\([^\\)]+\\) by facebook\\.com with Thrift id \\S+$", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^\\S+ named \\S+ by gmailapi\\.google\\.com with HTTPREST$", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^\\S+ id \\S+$", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^\\[<.*? \\(Jetsend", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
};

/* The qmail family: which of these matches fills the fields. */
static const struct rpat qmail[] = {
	{NULL, "^(\\S+) \\((?:HELO|EHLO) ([^ \\(\\)]*)\\) \\((\\S*)\\@\\[?(" IPX ")\\]?\\)( \\(envelope-sender <\\S+>\\))? by (\\S+)",
	 G(4, 1, 2, 6, 3, 0, 0), 0},
	{NULL, "^(\\S+) \\((?:HELO|EHLO) ([^ \\(\\)]*)\\) \\(\\[?(" IPX ")\\]?\\)( \\(envelope-sender <\\S+>\\))? by (\\S+)",
	 G(3, 1, 2, 5, 0, 0, 0), 0},
	{NULL, "^(\\S+) \\((\\S*)\\@\\[?(" IPX ")\\]?\\)( \\(envelope-sender <\\S+>\\))? by (\\S+)", G(3, 1, 1, 5, 2, 0, 0), 0},
	{NULL, "^(\\S+) \\(\\[?(" IPX ")\\]?\\)( \\(envelope-sender <\\S+>\\))? by (\\S+)", G(2, 1, 1, 4, 0, 0, 0), 0},
};

/* "FROM " (simta, Rockliffe) and "(from " (Norton AntiVirus Gateway). */
static const struct rpat upper[] = {
	{NULL, "^(\\S+) \\((\\S+) \\[(" IPX ")\\]\\) BY (\\S+) (?:\\([^\\)]+\\) WITH SMTP )?ID <?(\\S+?)>?(?: FOR <[^>]+>)?$",
	 G(3, 2, 1, 4, 0, 5, 0), RP_DNS | RP_UNVERIFIED},
};
static const struct rpat paren[] = {
	{NULL, "^(\\S*) \\[(" IPX ")\\]\\) by (\\S+) \\(NAVGW .*?\\) with ", G(2, 0, 1, 3, 0, 0, 0), 0},
	{NULL, "^\\S+\\@localhost\\) by \\S+ ", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
	{NULL, "^[^\\s\\@]+\\@[^)]+\\) by \\S+\\(jqueuemail\\) id [^\\s;]+", G(0, 0, 0, 0, 0, 0, 0), RP_SKIP},
};

#define NPRE (sizeof pre / sizeof pre[0])
#define NFAM (sizeof fam / sizeof fam[0])
#define NGEN (sizeof generic / sizeof generic[0])
#define NQMAIL (sizeof qmail / sizeof qmail[0])
#define NUPPER (sizeof upper / sizeof upper[0])
#define NPAREN (sizeof paren / sizeof paren[0])

/* Compiled forms, built once. */
struct ctab {
	pcre2_code **re, **guard;
};
static struct {
	pcre2_code *x[NX];
	pcre2_code *auth[NAUTH], *auth_guard[NAUTH];
	pcre2_code *mark[NFAMILY];
	pcre2_code *pre[NPRE][2], *fam[NFAM][2], *gen[NGEN][2], *qm[NQMAIL][2], *up[NUPPER][2],
		*par[NPAREN][2];
	int ok;
} cre;
static pthread_once_t cre_once = PTHREAD_ONCE_INIT;

/* Replaces @IP@ and @LH@ by SpamAssassin's address patterns. */
static char *expand(const char *pat)
{
	struct buf b;
	buf_init(&b, 1u << 20);
	for (const char *p = pat; *p;) {
		if (strncmp(p, IPX, 4) == 0) {
			buf_puts(&b, IP_RE);
			p += 4;
		} else if (strncmp(p, LHX, 4) == 0) {
			buf_puts(&b, LH_RE);
			p += 4;
		} else {
			buf_putc(&b, *p++);
		}
	}
	return buf_steal(&b);
}

static pcre2_code *compile1(const char *pat, int *ok)
{
	if (!pat)
		return NULL;
	char *s = expand(pat);
	int ec;
	PCRE2_SIZE off;
	pcre2_code *c = s ? pcre2_compile((PCRE2_SPTR)s, PCRE2_ZERO_TERMINATED, 0, &ec, &off, NULL) : NULL;
	if (!c) {
		log_error("rules: relay pattern does not compile: %s", pat);
		*ok = 0;
	} else {
		pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
	}
	free(s);
	return c;
}

static void compile_tab(const struct rpat *t, size_t n, pcre2_code *(*out)[2], int *ok)
{
	for (size_t i = 0; i < n; i++) {
		out[i][0] = compile1(t[i].re, ok);
		out[i][1] = compile1(t[i].guard, ok);
	}
}

static void compile_all(void)
{
	int ok = 1;
	for (size_t i = 0; i < NX; i++)
		cre.x[i] = compile1(xre[i], &ok);
	for (size_t i = 0; i < NAUTH; i++) {
		cre.auth[i] = compile1(auths[i].re, &ok);
		cre.auth_guard[i] = compile1(auths[i].guard, &ok);
	}
	for (size_t i = 0; i < NFAMILY; i++)
		cre.mark[i] = compile1(family_mark[i], &ok);
	compile_tab(pre, NPRE, cre.pre, &ok);
	compile_tab(fam, NFAM, cre.fam, &ok);
	compile_tab(generic, NGEN, cre.gen, &ok);
	compile_tab(qmail, NQMAIL, cre.qm, &ok);
	compile_tab(upper, NUPPER, cre.up, &ok);
	compile_tab(paren, NPAREN, cre.par, &ok);
	cre.ok = ok;
}

int rules_relays_ready(void)
{
	pthread_once(&cre_once, compile_all);
	return cre.ok;
}

/* ---- matching ---------------------------------------------------------- */

struct pstate {
	struct relays *rl;
	const char *s;       /* the text patterns see */
	size_t n;
	PCRE2_SIZE *ov;
	int rc;
};

static int rx(struct pstate *p, const pcre2_code *c)
{
	if (!c)
		return 1;
	p->rc = pcre2_match(c, (PCRE2_SPTR)p->s, p->n, 0, 0, p->rl->md, p->rl->mctx);
	p->ov = pcre2_get_ovector_pointer(p->rl->md);
	return p->rc > 0;
}

/* Group g of the last match into dst ("" when it did not take part). */
static void grp(struct pstate *p, int g, char *dst, size_t cap)
{
	dst[0] = '\0';
	if (g <= 0 || g >= p->rc || p->ov[2 * g] == PCRE2_UNSET)
		return;
	size_t n = p->ov[2 * g + 1] - p->ov[2 * g];
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, p->s + p->ov[2 * g], n);
	dst[n] = '\0';
}

/* Exim's "(helo=x ident=y)": Perl's s/helo=(\S+)// then s/ident=(\S*)//. */
static void exim_sub(char *sub, struct relay *r)
{
	char *h = sub;
	while ((h = strstr(h, "helo=")) && (!h[5] || isspace((unsigned char)h[5])))
		h += 5;
	if (h) {
		size_t n = strcspn(h + 5, " \t");
		snprintf(r->helo, sizeof r->helo, "%.*s", (int)n, h + 5);
		memmove(h, h + 5 + n, strlen(h + 5 + n) + 1);
	}
	char *id = strstr(sub, "ident=");
	if (id)
		snprintf(r->ident, sizeof r->ident, "%.*s", (int)strcspn(id + 6, " \t"), id + 6);
}

static void strip_ident_at(char *s)
{
	size_t n = strlen(s);
	if (n && s[n - 1] == '@')
		s[n - 1] = '\0';
}

/* Fills r from a pattern's groups and flags; returns the flags that
 * decide what comes next. */
static unsigned apply(struct pstate *p, const struct rpat *t, struct relay *r, int *dns)
{
	char sub[512];
	if (t->g[F_IP])
		grp(p, t->g[F_IP], r->ip, sizeof r->ip);
	if (t->g[F_RDNS])
		grp(p, t->g[F_RDNS], r->rdns, sizeof r->rdns);
	if (t->g[F_HELO])
		grp(p, t->g[F_HELO], r->helo, sizeof r->helo);
	if (t->g[F_BY])
		grp(p, t->g[F_BY], r->by, sizeof r->by);
	if (t->g[F_IDENT])  /* an optional ident that did not match is "" */
		grp(p, t->g[F_IDENT], r->ident, sizeof r->ident);
	if (t->g[F_ID])
		grp(p, t->g[F_ID], r->id, sizeof r->id);
	if (t->flags & RP_DNS)
		*dns = 1;
	if (t->flags & RP_SUB) {
		grp(p, t->g[F_SUB], sub, sizeof sub);
		exim_sub(sub, r);
	}
	if ((t->flags & RP_UNKNOWN) && strcmp(r->rdns, "unknown") == 0)
		r->rdns[0] = '\0';
	if (t->flags & RP_UNVERIFIED && strcmp(r->rdns, "unverified") == 0)
		r->rdns[0] = '\0';
	if (t->flags & RP_SOFTDNS) {
		*dns = strcmp(r->rdns, "softdnserr") != 0;
		if (!*dns)
			r->rdns[0] = '\0';
	}
	if (t->flags & RP_SMIDENT) {
		char *at;
		if (strncmp(r->rdns, "IDENT:", 6) == 0 && (at = strchr(r->rdns, '@'))) {
			snprintf(r->ident, sizeof r->ident, "%.*s", (int)(at - r->rdns - 6), r->rdns + 6);
			memmove(r->rdns, at + 1, strlen(at + 1) + 1);
		}
		if ((at = strchr(r->rdns, '@'))) {
			snprintf(r->ident, sizeof r->ident, "%.*s", (int)(at - r->rdns), r->rdns);
			memmove(r->rdns, at + 1, strlen(at + 1) + 1);
		}
	}
	if (t->flags & RP_IDENTAT)
		strip_ident_at(r->ident);
	if (t->flags & RP_OBTUSE)
		*dns = strcmp(r->rdns, "UNKNOWN") != 0;
	if (t->flags & RP_CLEARID)
		r->id[0] = '\0';
	if (t->flags & RP_CLEARBY)
		r->by[0] = '\0';
	return t->flags;
}

/* Outcome of a pattern list: keep going, enough, skip the header. */
enum { GO_ON, GO_ENOUGH, GO_SKIP };

static int run_list(struct pstate *p, const struct rpat *t, pcre2_code *(*c)[2], size_t from, size_t to,
		    struct relay *r, int *dns, struct relay_pstate *ps)
{
	for (size_t i = from; i < to; i++) {
		if (c[i][1]) {
			int g = rx(p, c[i][1]);
			if (g == !!(t[i].flags & RP_NOTGUARD))
				continue;
		}
		if (!rx(p, c[i][0]))
			continue;
		if (t[i].flags & RP_SKIP)
			return GO_SKIP;
		if (t[i].flags & RP_POP) {
			ps->pop_marker = 1;
			return GO_SKIP;
		}
		if (t[i].flags & RP_QMS) {
			ps->qms_set = 1;
			return GO_SKIP;
		}
		if (t[i].flags & RP_QMAIL) {
			run_list(p, qmail, cre.qm, 0, NQMAIL, r, dns, ps);
			if (strcmp(r->rdns, "unknown") != 0)
				*dns = 1;
			else
				r->rdns[0] = '\0';
			return GO_ENOUGH;
		}
		unsigned fl = apply(p, &t[i], r, dns);
		if (fl & RP_HOTMAIL && rx(p, cre.x[X_IPAT]))
			grp(p, 1, r->ip, sizeof r->ip);
		if (fl & RP_XMAIL) {
			if (rx(p, cre.x[X_XID]))
				grp(p, 1, r->id, sizeof r->id);
			if (rx(p, cre.x[X_XFROM])) {
				grp(p, 1, r->envfrom, sizeof r->envfrom);
				r->has_envfrom = 1;
			}
		}
		return GO_ENOUGH;
	}
	return GO_ON;
}

/* ---- one header --------------------------------------------------------- */

/* Perl's s/\s+/ /g, trimmed, then 1 while s/\s?;$//. */
static size_t normalise(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	for (const char *p = in; *p && n + 1 < cap; p++) {
		if (isspace((unsigned char)*p)) {
			if (n && out[n - 1] != ' ')
				out[n++] = ' ';
		} else {
			out[n++] = *p;
		}
	}
	for (;;) {
		if (n && out[n - 1] == ' ')
			n--;
		else if (n && out[n - 1] == ';')
			n--;
		else
			break;
	}
	out[n] = '\0';
	return n;
}

static void auth_of(struct pstate *p, struct relay *r)
{
	char a[128], b[128];
	for (size_t i = 0; i < NAUTH; i++) {
		if ((cre.auth_guard[i] && !rx(p, cre.auth_guard[i])) || !rx(p, cre.auth[i]))
			continue;
		switch (auths[i].kind) {
		case AU_G1:
			grp(p, 1, r->auth, sizeof r->auth);
			break;
		case AU_FIXED:
			snprintf(r->auth, sizeof r->auth, "%s", auths[i].fixed);
			break;
		case AU_GMAIL:
			grp(p, 1, a, sizeof a);
			grp(p, 2, b, sizeof b);
			snprintf(r->auth, sizeof r->auth, "GMail - transport=%s cipher=%s", a, b);
			break;
		case AU_GMX:
			grp(p, 4, a, sizeof a);
			grp(p, 3, b, sizeof b);
			snprintf(r->auth, sizeof r->auth, "GMX (%s / %s)", a, b);
			break;
		case AU_POSTFIX:
			grp(p, 1, a, sizeof a);
			if (strcmp(a, "Postfix") == 0)
				snprintf(r->auth, sizeof r->auth, "Postfix");
			else
				snprintf(r->auth, sizeof r->auth, "Postfix (%s)", a);
			break;
		}
		return;
	}
}

/* Exim formats no pattern knew: take what bits there are. */
static int exim_odd(struct pstate *p, struct relay *r)
{
	if (rx(p, cre.x[X_EXRDNS]))
		grp(p, 1, r->rdns, sizeof r->rdns);
	if (rx(p, cre.x[X_EXHELO]))
		grp(p, 1, r->helo, sizeof r->helo);
	if (rx(p, cre.x[X_EXIP]))
		grp(p, 1, r->ip, sizeof r->ip);
	if (rx(p, cre.x[X_EXBY])) {
		grp(p, 1, r->by, sizeof r->by);
		if (r->ip[0])
			return GO_ENOUGH;
	}
	return GO_ON;
}

static int parse_from(struct pstate *p, struct relay *r, int *dns, struct relay_pstate *ps)
{
	if (rx(p, cre.x[X_ENVFROM])) {
		grp(p, 1, r->envfrom, sizeof r->envfrom);
		r->has_envfrom = 1;
	}
	int res = run_list(p, pre, cre.pre, 0, NPRE, r, dns, ps);
	for (size_t f = 0; res == GO_ON && f < NFAMILY; f++) {
		if (!rx(p, cre.mark[f]))
			continue;
		res = run_list(p, fam, cre.fam, fam_start[f], fam_start[f + 1], r, dns, ps);
		if (res == GO_ON && f == FAM_EXIM)
			res = exim_odd(p, r);
		break;
	}
	if (res == GO_ON)
		res = run_list(p, generic, cre.gen, 0, NGEN, r, dns, ps);
	if (res == GO_ON && !r->helo[0] && rx(p, cre.x[X_GUESS]))
		grp(p, 1, r->helo, sizeof r->helo);
	return res;
}

/* Characters SpamAssassin flags with "!" in the relay's fields. */
static void strip_chars(char *s)
{
	for (; *s; s++)
		if (isspace((unsigned char)*s) || strchr("#[]()<>|", *s))
			*s = '!';
}

/* Leading blanks and "<", trailing ">" and blanks go; then the "!" flags. */
static void clean_envfrom(char *e)
{
	size_t k = strspn(e, " \t\r\n\f\v");
	k += strspn(e + k, "<");
	memmove(e, e + k, strlen(e + k) + 1);
	size_t n = strlen(e);
	while (n && isspace((unsigned char)e[n - 1]))
		n--;
	while (n && e[n - 1] == '>')
		n--;
	e[n] = '\0';
	strip_chars(e);
}

static void fix_ip(struct pstate *p, char *ip, size_t cap)
{
	if (strncasecmp(ip, "ipv6:", 5) == 0)
		memmove(ip, ip + 5, strlen(ip + 5) + 1);
	if (ip[0] == '[')
		memmove(ip, ip + 1, strlen(ip + 1) + 1);
	size_t n = strlen(ip);
	if (n && ip[n - 1] == ']')
		ip[--n] = '\0';
	char *pc = strrchr(ip, '%');
	if (pc && strspn(pc + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-") ==
		      strlen(pc + 1))
		*pc = '\0';
	p->s = ip;
	p->n = strlen(ip);
	if (rx(p, cre.x[X_MAPPED])) {
		char v4[32];
		grp(p, 1, v4, sizeof v4);
		snprintf(ip, cap, "%s", v4);
	}
}

/* Received.pm's "enough:" label: clean the fields up. */
static void finish(struct pstate *p, struct relay *r, int dns)
{
	size_t n = strlen(r->rdns);
	while (n && r->rdns[n - 1] == '.')
		r->rdns[--n] = '\0';
	if (strcasecmp(r->rdns, "unknown") == 0 || r->rdns[0] == '[')
		r->rdns[0] = '\0';
	fix_ip(p, r->ip, sizeof r->ip);
	n = strlen(r->by);
	if (n && r->by[n - 1] == ';')
		r->by[n - 1] = '\0';
	strip_chars(r->ip);
	strip_chars(r->rdns);
	strip_chars(r->helo);
	strip_chars(r->by);
	strip_chars(r->ident);
	if (r->has_envfrom)
		clean_envfrom(r->envfrom);
	r->no_rdns = !r->rdns[0] && dns;
	p->s = r->ip;
	p->n = strlen(r->ip);
	r->priv = rx(p, cre.x[X_PRIVATE]);
}

int rules_relay_parse(struct relays *rl, const char *hdr, struct relay *r, struct relay_pstate *ps)
{
	memset(r, 0, sizeof *r);
	if (!rules_relays_ready() || !rl->md)
		return -1;
	char *L = rl->line;
	size_t n = normalise(hdr, L, sizeof rl->line);
	struct pstate p = {rl, L, n, NULL, 0};
	if (!rx(&p, cre.x[X_FROM]) || rx(&p, cre.x[X_LOCALFOR]))
		return 0;
	if (rx(&p, cre.x[X_FROMBY])) {
		char g[RELAY_FIELD];
		grp(&p, 1, g, sizeof g);
		p.s = g;
		p.n = strlen(g);
		int bracket = rx(&p, cre.x[X_BRACKETIP]);
		p.s = L;
		p.n = n;
		if (!bracket)
			return 0;
	}
	if (rx(&p, cre.x[X_DATE])) {
		p.n = n = p.ov[0];
		L[n] = '\0';
	}
	char *by = strstr(L, ")by ");
	if (by && n + 1 < sizeof rl->line) {
		memmove(by + 2, by + 1, n - (size_t)(by + 1 - L) + 1);
		by[1] = ' ';
		p.n = ++n;
	}
	if (rx(&p, cre.x[X_ID]))
		grp(&p, 1, r->id, sizeof r->id);
	if (rx(&p, cre.x[X_HELO]) || rx(&p, cre.x[X_EHLO]))
		grp(&p, 1, r->helo, sizeof r->helo);
	if (rx(&p, cre.x[X_BY]))
		grp(&p, 1, r->by, sizeof r->by);
	auth_of(&p, r);
	int dns = 0, res = GO_ON;
	const char *rest = L;
	if (strncmp(L, "from ", 5) == 0) {
		p.s = rest = L + 5;
		p.n = n - 5;
		res = parse_from(&p, r, &dns, ps);
	} else if (strncmp(L, "FROM ", 5) == 0) {
		p.s = rest = L + 5;
		p.n = n - 5;
		res = run_list(&p, upper, cre.up, 0, NUPPER, r, &dns, ps);
	} else if (strncmp(L, "(from ", 6) == 0) {
		p.s = rest = L + 6;
		p.n = n - 6;
		res = run_list(&p, paren, cre.par, 0, NPAREN, r, &dns, ps);
	}
	if (res == GO_SKIP) {
		if (ps->qms_set && r->has_envfrom) {
			clean_envfrom(r->envfrom);
			snprintf(ps->qms_envfrom, sizeof ps->qms_envfrom, "%s", r->envfrom);
		}
		return 0;
	}
	if (res == GO_ON) {
		p.s = rest;
		p.n = strlen(rest);
		if (!r->ip[0] && rx(&p, cre.x[X_ANYIP]))
			grp(&p, 1, r->ip, sizeof r->ip);
		if (!r->ip[0] || !r->by[0])
			return -1;
	}
	finish(&p, r, dns);
	return 1;
}


int rules_relay_find_ip(struct relays *rl, const char *s, char *out, size_t cap)
{
	out[0] = '\0';
	if (!rules_relays_ready() || !rl->md)
		return 0;
	struct pstate p = {rl, s, strnlen(s, RELAY_LINE_MAX), NULL, 0};
	if (!rx(&p, cre.x[X_FINDIP]))
		return 0;
	grp(&p, 1, out, cap);
	return out[0] != '\0';
}
