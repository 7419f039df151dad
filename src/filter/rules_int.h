/* Internals shared by rules_parse.c (the .cf parser), rules_compile.c
 * (Vectorscan/PCRE2 compilation, meta ordering), rules_match.c and
 * rules_eval.c. Not for other modules: they use rules.h. */
#ifndef RAMPART_FILTER_RULES_INT_H
#define RAMPART_FILTER_RULES_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <hs/hs.h>
#include <pcre2.h>
#include <stdatomic.h>
#include <stdint.h>

#include "filter/rules.h"
#include "util/strmap.h"

/* Bounds that keep a hostile or broken rule file cheap. */
#define RULES_MAX_RULES 100000
#define RULES_MAX_FILES 4096
#define RULES_MAX_FILE (16u << 20)
#define RULES_MAX_LINE (64u << 10)
#define RULES_MAX_IF_DEPTH 64
#define RULES_MAX_META_TOKENS 4096
#define RULES_MAX_EVAL_ARGS 8
#define RULES_MAX_ERRORS_TEXT (1u << 20)
#define RULES_MAX_HITS 65535u   /* per rule, tflags multiple */

/* Text limits per message (SpamAssassin scans at most 50 kB of each
 * rendered part and 500 kB of each raw part). */
#define RULES_MAX_BODY (256u << 10)
#define RULES_MAX_RAWBODY (512u << 10)
#define RULES_MAX_FULL (1u << 20)
#define RULES_MAX_HEADER (64u << 10)
#define RULES_MAX_URIS_TEXT (256u << 10)
#define RULES_BODY_LINE 2048    /* SpamAssassin's MAX_BODY_LINE_LENGTH */

/* Rules of non-strict sources (SpamAssassin's) scoring less than this and
 * read by no meta are not run: they cannot change a verdict. */
#define RULES_MIN_EFFECT 0.1

enum rkind { RK_REGEX, RK_EXISTS, RK_EVAL, RK_META };

/* Why a defined rule does not run. */
enum rskip {
	SKIP_NONE,
	SKIP_ERROR,       /* reported in the error list */
	SKIP_NET,         /* tflags net or a network eval */
	SKIP_EVAL,        /* eval function not implemented */
	SKIP_UNSUPPORTED, /* pseudo-header, modifier or rule type we lack */
	SKIP_ZERO,        /* no effect: score 0 (or negligible) and no meta reads it */
	SKIP_LEARN,       /* tflags learn: Bayes does this */
	SKIP_COSTLY,      /* a long pattern only PCRE2 could run on every message */
};

/* A pattern of a non-strict source longer than this that Vectorscan cannot
 * run (exactly or as a superset) is not loaded: PCRE2 would run its huge
 * alternations over every message. */
#define RULES_COSTLY_LEN 1000

/* One definition as written (a later one of the same name replaces it). */
struct rdef {
	char *name;
	unsigned file, line;
	int strict;
	enum rules_class cls;
	enum rkind kind;
	char *target;     /* header spec: "From:addr", "ALL", "exists:X" -> "X" */
	char *re;         /* pattern without delimiters */
	char *mods;       /* modifier letters */
	int negate;       /* !~ */
	char *unset;      /* [if-unset: ...] or NULL */
	char *eval;       /* "fn(args)" */
	char *expr;       /* meta expression */
	int unsupported;  /* mimeheader and the like: counted, never run */
	int dead;
};

/* Settings that may come before or after the definition they name. */
struct rattr {
	double score;
	int has_score;
	char *desc;
	char *tflags;
	int replace;      /* listed in replace_rules */
};

/* Parser output, consumed by rules_compile. */
/* SpamAssassin's FreeMail plugin data: freemail_domains (exact names and
 * wildcard patterns where * stands for one label's characters) and the
 * freemail_welcomelist/whitelist exceptions (addresses or domains). */
struct freemail {
	struct strmap exact;
	struct strmap welcome;
	char **wild;
	size_t nwild, capwild;
};
void rules_freemail_init(struct freemail *fm);
void rules_freemail_free(struct freemail *fm);
/* "dom1 dom2 *.dom3" into fm; -1 on out of memory. */
int rules_freemail_add(struct freemail *fm, char *list, int welcome);
/* 1 when the address's domain is a free mail provider's. */
int rules_freemail_is(const struct freemail *fm, const char *addr);

struct rules_build {
	struct freemail freemail;
	char **files;
	size_t nfiles;
	struct rdef *defs;
	size_t ndefs, capdefs;
	struct strmap names;     /* name -> (void *)(defs index + 1) */
	struct strmap attrs;     /* name -> struct rattr * */
	struct strmap rtag[4];   /* replace_tag/pre/inter/post: name -> char * */
	char *rstart, *rend;     /* replace_start / replace_end */
	struct strmap skipped_evals; /* fn -> (void *)count */
	struct rules_report *rep;
	int check_only;          /* validate, build no database (rules check) */
};

enum { RTAG_TAG, RTAG_PRE, RTAG_INTER, RTAG_POST };

int rules_parse_source(struct rules_build *b, const struct rules_source *src, struct err *e);
void rules_build_init(struct rules_build *b, struct rules_report *rep);
void rules_build_free(struct rules_build *b);
void rules_build_error(struct rules_build *b, unsigned file, unsigned line, enum rules_class cls,
		       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* A rule kept out by an engine limit, not by an error of its author. */
void rules_build_warn(struct rules_build *b, unsigned file, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
struct rattr *rules_attr(struct rules_build *b, const char *name);
/* ReplaceTags on one pattern; returns a malloc'd string. */
char *rules_replace_tags(const struct rules_build *b, const char *re);
/* rules_syntax.c: an "if" expression (0 or 1 in *value), or -1 on bad
 * syntax; and a regex literal "/re/mods", "m{re}mods" split in parts. */
int rules_cond_eval(const char *s, int *value);
int rules_split_regex(const char *s, char **re, char **mods, const char **rest, struct err *e);

/* Header targets: what a header rule reads. */
enum htype { HT_NAMED, HT_ALL, HT_TOCC, HT_MESSAGEID, HT_ENVFROM, HT_RELAYS };

struct htarget {
	char *key;        /* normalised spec, e.g. "from:addr" */
	char *hname;      /* lower-case header name for HT_NAMED */
	enum htype type;
	unsigned raw : 1, addr : 1, dname : 1, first : 1, last : 1;
	int group;        /* regex group, -1 when only exists:/eval rules use it */
	int hn;           /* HT_NAMED: index of hname among the set's names */
	int rset;         /* HT_RELAYS: enum relay_set */
};

/* A regex text: one Vectorscan database plus the PCRE2-only rules. */
struct rgroup {
	hs_database_t *db;
	unsigned *map;        /* database expression id -> rule index */
	size_t nmap;
	unsigned *members;    /* every regex rule of the group */
	size_t nmembers;
	unsigned *pcre;       /* rules run with PCRE2 on every message */
	size_t npcre;
	int cls;
	int target;           /* header target, -1 for the other classes */
	char key[65];         /* cache key (hex BLAKE2b of the expressions) */
	int cached;           /* loaded from the cache */
};

enum meta_op {
	MOP_RULE, MOP_NUM, MOP_NOT, MOP_NEG, MOP_AND, MOP_OR, MOP_ADD, MOP_SUB, MOP_MUL, MOP_DIV,
	MOP_LT, MOP_LE, MOP_GT, MOP_GE, MOP_EQ, MOP_NE,
};

struct meta_ins {
	enum meta_op op;
	double num;
	int rule;             /* MOP_RULE: rule index, -1 = unknown (0) */
};

/* How a regex rule is matched, from cheapest; a database build that
 * rejects a pattern moves it one step down. */
enum rengine {
	ENG_NONE,
	ENG_HS,        /* Vectorscan, exact */
	ENG_HS_SUPER,  /* Vectorscan runs a superset exactly, PCRE2 confirms */
	ENG_HS_PRE,    /* Vectorscan prefilter mode, PCRE2 confirms */
	ENG_PCRE,      /* PCRE2 on every message */
	ENG_DROPPED,   /* none can (pattern too large for both) */
};

struct eval_args {
	int n;
	char *s[RULES_MAX_EVAL_ARGS];      /* NULL for undef */
	double d[RULES_MAX_EVAL_ARGS];     /* numeric value (NAN if not a number) */
	pcre2_code *re;                    /* regex argument, when the function takes one */
};

struct rule {
	char *name;
	char *desc;
	unsigned file, line;
	enum rules_class cls;
	enum rkind kind;
	enum rskip skip;
	double score;
	unsigned maxhits;
	unsigned multiple : 1, negate : 1, nosubject : 1, absent_hit : 1, needed : 1, scored : 1,
		 relaxed : 1, nopcre : 1, strict : 1;
	enum rengine eng;
	char *re;             /* pattern for Vectorscan (after ReplaceTags, maybe widened) */
	unsigned hsflags;
	pcre2_code *pc;
	int target;           /* header target */
	int eval;             /* eval function index */
	struct eval_args args;
	size_t meta_off, meta_len;
	int meta_depth;       /* stack depth needed */
};

struct ruleset {
	atomic_int refs;
	struct freemail freemail; /* moved from the build */
	unsigned gen;
	struct rule *rules;
	size_t nrules;
	char **files;
	size_t nfiles;
	struct strmap byname;     /* name -> (void *)(index + 1), loaded rules */
	struct htarget *targets;
	size_t ntargets;
	struct strmap tbyname;    /* lower-case header name -> (void *)(hn + 1) */
	size_t nhn;               /* distinct names of HT_NAMED targets */
	struct rgroup *groups;
	size_t ngroups;
	int cgroup[RULES_NCLASS]; /* body/rawbody/uri/full group, -1 if none */
	unsigned *exists;         /* RK_EXISTS rules */
	size_t nexists;
	unsigned *evals;          /* RK_EVAL rules */
	size_t nevals;
	unsigned *metas;          /* RK_META rules in dependency order */
	size_t nmetas;
	struct meta_ins *prog;    /* while compiling */
	size_t nprog;
	int meta_stack;
	/* what matching runs: per meta in order its rule and code range; code
	 * words hold the op in the low 8 bits, the operand (rule index + 1 or
	 * index into mnum) above */
	struct mrun {
		uint32_t rule, off, len;
	} *mrun;
	uint32_t *mcode;
	double *mnum;
	int check_only;           /* built without databases: cannot match */
};

/* rules_compile.c */
struct ruleset *rules_compile(struct rules_build *b, const char *cache_dir, struct err *e);
void rules_ruleset_free(struct ruleset *rs);
/* rules_superset.c: a wider pattern for Vectorscan, or NULL if none needed. */
char *rules_superset(const char *re, unsigned limit);
/* Moves a rule to a slower engine (or drops it when that is too costly). */
void rules_set_engine(struct rule *r, enum rengine eng);
/* rules_db.c: builds (or loads from the cache directory) one database. */
int rules_group_build(struct ruleset *rs, struct rgroup *g, const char *cache_dir, struct err *e);
void rules_cache_prune(const char *cache_dir, const struct ruleset *rs);
int rules_meta_compile(struct rules_build *b, struct ruleset *rs);

/* rules_eval.c: native eval: functions. */
#define EVAL_HTML_TAGS 40
#define EVAL_HTML_PARTS 16  /* HTML parts whose length the HTMLEval tests read */

/* Per-message facts several evals share, computed on first use. */
struct eval_cache {
	int html_done;
	unsigned tag_open[EVAL_HTML_TAGS], tag_close[EVAL_HTML_TAGS];
	unsigned ntags;
	int upper_done;
	double upper;
	int date_done;
	int date_valid;
	double date_diff;
	int recip_done;
	int sorted;
	double similar;
	int mime_done;
	unsigned b64, qp, html_parts, text_parts;
	int hotmail_done, hotmail_forged, hotmail_none;
	int madiff_done;
	double madiff;
	unsigned madiff_html, madiff_text;
	int tvd_done, tvd;
	int raw_done, b64_text;
	int hparts_done;
	unsigned nhparts;
	size_t hlen[EVAL_HTML_PARTS];
	unsigned char himg[EVAL_HTML_PARTS];
	size_t b64_max;
	double mp_ratio;
};

struct eval_ctx {
	const struct ruleset *rs;
	const struct msg_view *v;
	const struct rules_env *env;
	struct rules_scratch *s;
	const char *body;     /* SpamAssassin-style rendered body (subject first) */
	size_t body_len;
	size_t subject_len;
	struct eval_cache c;
};

enum eval_kind { EVK_NATIVE, EVK_NET, EVK_UNKNOWN };
/* Index of the native function, or -1 with *kind telling why not. */
int rules_eval_lookup(const char *fn, enum eval_kind *kind);
/* Parses "'a', 2, undef" and checks them for the function: 0, -1 with e
 * set on bad syntax, 1 when the arguments ask for something we lack. */
int rules_eval_prepare(int fn, const char *args, struct eval_args *out, struct err *e);
void rules_eval_args_free(struct eval_args *a);
int rules_eval_run(int fn, struct eval_ctx *c, const struct eval_args *a);
/* The native functions (rules_eval_hdr.c, rules_eval_body.c). */
typedef int (*eval_fn)(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_missing_to(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_subject_caps(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_to_in_subject(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_illegal_chars(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_header_count(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_outlook_msgid(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_unresolved_template(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_sorted_recips(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_similar_recips(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_shifted_date(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_false(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_equal_from_domains(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_env_hdr_from_match(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_ratware_name_id(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_ratware_envfrom(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_uppercase(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_body_length(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_mime_html(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_mime_html_only(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_check_for_mime(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_html_test(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_html_tag_exists(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_html_tag_balance(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_replyto_differs(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_from_name_mismatch(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_freemail_from(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_freemail_header(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_freemail_replyto(struct eval_ctx *c, const struct eval_args *a);
#define RULES_MIME_TESTS 3
extern const char *const rules_mime_tests[RULES_MIME_TESTS];
int rules_html_tag_index(const char *name, size_t n);

/* rules_eval_rcvd.c: Received-based HeaderEval tests. */
int rules_eval_rcvd_ready(void);
int rules_ev_fake_aol_relay(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_gated_rcvd_remover(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_forged_hotmail(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_no_hotmail(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_forged_eudoramail(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_forged_yahoo(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_forged_juno(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_forged_gmail(struct eval_ctx *c, const struct eval_args *a);
/* rules_eval_raw.c: MIMEEval tests on the encoded parts. */
int rules_ev_base64_length(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_mime_multipart_ratio(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_check_for_mime2(struct eval_ctx *c, const struct eval_args *a);
/* rules_eval_mime.c: BodyEval/MIMEEval/HTMLEval tests over the parts. */
int rules_ev_madiff(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_madiff_count(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_tvd_vertical_words(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_blank_line_ratio(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_ma_non_text(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_html_title_subject_ratio(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_html_text_match(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_html_image_only(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_html_length_range(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_html_length_eval(struct eval_ctx *c, const struct eval_args *a);

int rules_ev_helo_ip_mismatch(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_no_rdns_dotcom_helo(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_relays_unparseable(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_no_relays(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_all_trusted(struct eval_ctx *c, const struct eval_args *a);
int rules_ev_forged_received_trail(struct eval_ctx *c, const struct eval_args *a);

/* rules_relays.c, rules_relays_eval.c: SpamAssassin's relay analysis of
 * the Received headers (Message/Metadata/Received.pm, Plugin/RelayEval.pm)
 * behind the X-Spam-Relays-* pseudo-headers. */
#define RELAYS_MAX 64            /* relays kept, newest first */
#define RELAYS_MAX_HEADERS 100   /* Received headers read (newest first) */
#define RELAY_LINE_MAX 8192      /* of one header; the rest is cut */
#define RELAY_FIELD 256

struct relay {
	char ip[64], rdns[RELAY_FIELD], helo[RELAY_FIELD], by[RELAY_FIELD], ident[128],
		envfrom[RELAY_FIELD], id[128], auth[128];
	unsigned has_envfrom : 1, no_rdns : 1, priv : 1, trusted : 1, internal : 1;
};

enum relay_set { RELAYS_TRUSTED, RELAYS_UNTRUSTED, RELAYS_INTERNAL, RELAYS_EXTERNAL };

struct relays {
	struct relay r[RELAYS_MAX];
	size_t n;
	unsigned unparseable;      /* headers no pattern understood */
	unsigned ntrusted;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	char line[RELAY_LINE_MAX + 1];
};

/* What one header tells the parse of the next (older) one. */
struct relay_pstate {
	int pop_marker;            /* a mail fetcher handover */
	int qms_set;               /* qmail-scanner's envelope sender ... */
	char qms_envfrom[RELAY_FIELD]; /* ... for the next relay */
};

/* 1 when the patterns compiled (once per process); 0: no relays at all. */
int rules_relays_ready(void);
/* One Received header: 1 parsed into r, 0 a header SpamAssassin skips
 * (local handovers), -1 unparseable. */
int rules_relay_parse(struct relays *rl, const char *hdr, struct relay *r, struct relay_pstate *ps);
/* "[ ip=... rdns=... helo=... by=... ident= envfrom= intl=0 id=... auth= msa=0 ]" */
void rules_relay_string(const struct relay *r, int internal, struct buf *out);
/* The first IP address in s (SpamAssassin's IP_ADDRESS). */
int rules_relay_find_ip(struct relays *rl, const char *s, char *out, size_t cap);
int rules_relay_private4(const char *ip);
struct relays *rules_relays_new(void);
void rules_relays_free(struct relays *rl);
/* All Received headers of v, trust boundary included. */
void rules_relays_analyse(struct relays *rl, const struct msg_view *v);
/* The relays of the message being matched on s (parsed on first use). */
const struct relays *rules_relays_get(struct rules_scratch *s, const struct msg_view *v);
/* An X-Spam-Relays-* pseudo-header's value, appended to out. */
void rules_relays_text(const struct relays *rl, enum relay_set which, struct buf *out);

/* Plugins whose functions we implement (ifplugin is true for these). */
int rules_plugin_known(const char *name);
/* `if can(X)` capabilities. */
int rules_can(const char *name);

/* Per scan thread: sized for the set of generation gen. */
struct rules_scratch {
	hs_scratch_t *hs;
	unsigned gen;
	size_t cap;            /* rules the arrays hold */
	uint16_t *hits;
	uint8_t *cand;
	unsigned *candv;
	size_t *candend;       /* end of a candidate's first Vectorscan match */
	size_t ncand;
	struct rules_hit *out;
	double *stack;
	size_t stackcap;
	int *hfirst;           /* per header name of the set: first header index */
	size_t hcap;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_jit_stack *jit;
	struct buf val, body, raw, uris;
	size_t subject_len;
	const struct msg_view *v;
	struct relays *relays;  /* the message's relays, parsed on first use */
	int relays_done;        /* reset per message */
};

/* rules_text.c: texts rules read. */
/* Header value of a target as SpamAssassin's get() builds it; returns 1
 * when the target exists, 0 when absent. */
int rules_target_value(const struct ruleset *rs, struct rules_scratch *s, const struct htarget *t,
		       const struct msg_view *v, const struct rules_env *env, struct buf *out);
/* SpamAssassin's rendered body: subject line, then paragraphs with blanks
 * collapsed, lines cut at 2 kB. */
void rules_render_body(const struct msg_view *v, struct buf *out, size_t *subject_len);
void rules_render_rawbody(const struct msg_view *v, struct buf *out);

/* Helpers used by evals and the matcher. */
const char *rules_header_first(const struct msg_view *v, const char *name, int raw);
size_t rules_header_count(const struct msg_view *v, const char *name);
/* First address of an address header into out (lower case kept as is). */
int rules_addr_first(const char *value, char *out, size_t outlen);
/* Display name of the first address into out. */
int rules_addr_name(const char *value, char *out, size_t outlen);
/* The time of the newest Received header, or -1. */
time_t rules_received_time(const struct msg_view *v);
/* RFC 5322 date into a UTC time_t, or -1. */
time_t rules_parse_date(const char *s);

#endif
