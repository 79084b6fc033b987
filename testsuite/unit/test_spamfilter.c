/*
 * test_spamfilter.c -- unit tests for spamfilter.c: our sender lists, the
 * SpamAssassin list fast path (tree in testsuite/unit/spam/sa), the
 * built-in checker, and the spamd client against fake servers run in
 * threads here.  With SPAMD_TEST_PORT set (testsuite/stack/spamd.sh start)
 * it also talks to a real spamd on 127.0.0.1:$SPAMD_TEST_PORT.
 * Run from the top of the tree (data paths are relative).
 */
#include "unit.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "spamd.h"
#include "spamfilter.h"
#include "spamstats.h"

#define D	"testsuite/unit/spam/"
#define SA	D "sa"
#define S(x)	((x) != NULL ? (x) : "")

/* ---- lists ------------------------------------------------------- */

static void
test_list_kinds(void **state)
{
	char err[256];
	struct spam_list *l;

	l = spam_list_new("Jo@Example.org, *@star.example @at.example "
	    "x?z@glob.example\t*@*.sub.example", err, sizeof(err));
	assert_non_null(l);
	assert_string_equal(err, "");
	assert_int_equal(spam_list_count(l), 5);
	assert_true(spam_list_match(l, "jo@example.org"));
	assert_true(spam_list_match(l, "<JO@EXAMPLE.ORG>"));
	assert_true(spam_list_match(l, " <jo@example.org> "));
	assert_false(spam_list_match(l, "jo@example.org.evil"));
	assert_false(spam_list_match(l, "xjo@example.org"));
	assert_true(spam_list_match(l, "anyone@star.example"));
	assert_false(spam_list_match(l, "anyone@sub.star.example"));
	assert_true(spam_list_match(l, "a@AT.example"));
	assert_true(spam_list_match(l, "xyz@glob.example"));
	assert_false(spam_list_match(l, "xyyz@glob.example"));
	assert_true(spam_list_match(l, "a@b.sub.example"));
	assert_false(spam_list_match(l, "a@sub.example"));
	assert_false(spam_list_match(l, ""));
	assert_false(spam_list_match(l, "<>"));
	assert_false(spam_list_match(l, NULL));
	spam_list_free(l);

	l = spam_list_new("", err, sizeof(err));
	assert_non_null(l);
	assert_false(spam_list_match(l, "jo@example.org"));
	spam_list_free(l);
	l = spam_list_new(NULL, err, sizeof(err));
	assert_non_null(l);
	spam_list_free(l);
}

static void
test_list_file(void **state)
{
	char err[256];
	struct spam_list *l;

	l = spam_list_new("boss@corp.example file:" D "list.txt", err,
	    sizeof(err));
	assert_non_null(l);
	assert_int_equal(spam_list_count(l), 4);
	assert_true(spam_list_match(l, "boss@corp.example"));
	assert_true(spam_list_match(l, "jo@example.org"));
	assert_true(spam_list_match(l, "x@list.example"));
	assert_true(spam_list_match(l, "y@at.example"));
	assert_false(spam_list_match(l, "comment@example.org"));
	spam_list_free(l);
}

static void
test_list_errors(void **state)
{
	char err[256];

	assert_null(spam_list_new("file:" D "badlist.txt", err, sizeof(err)));
	assert_non_null(strstr(err, "badlist.txt:3:"));
	assert_null(spam_list_new("file:" D "missing.txt", err, sizeof(err)));
	assert_non_null(strstr(err, "missing.txt"));
	assert_null(spam_list_new("example.org", err, sizeof(err)));
	assert_non_null(strstr(err, "has no @"));
	assert_null(spam_list_new("a\x01@b.example", err, sizeof(err)));
	assert_non_null(strstr(err, "bad character"));
}

/* ---- SpamAssassin lists ------------------------------------------ */

static const char *sa_search = SA "/usr/share/spamassassin " SA
    "/etc/spamassassin " SA "/nonexistent " SA
    "/var/lib/spamassassin/*/updates_spamassassin_org";

static enum spam_sa_verdict
one(const struct spam_sa *sa, const char *addr, const char *relay)
{
	const char *a[1] = { addr };

	return spam_sa_check(sa, a, 1, relay);
}

static void
test_sa_tree(void **state)
{
	char err[256];
	struct spam_sa *sa;
	const char *two[2];

	sa = spam_sa_load(sa_search, err, sizeof(err));
	assert_non_null(sa);
	/* broken _rcvd line recorded, the rest still loaded */
	assert_non_null(strstr(err, "local.cf:"));
	assert_non_null(strstr(err, "needs an address and a domain"));

	/* system dir, including lines inside ifplugin */
	assert_int_equal(one(sa, "a@sys.example", NULL), SPAM_SA_WELCOME);
	/* def_ entries ignored */
	assert_int_equal(one(sa, "a@paypal.example", "paypal.example"),
	    SPAM_SA_NONE);
	/* local.cf, CRLF, trailing blanks, several per line */
	assert_int_equal(one(sa, "<Someone@Welcome.Example>", NULL),
	    SPAM_SA_WELCOME);
	assert_int_equal(one(sa, "jo@friend.example", NULL), SPAM_SA_WELCOME);
	assert_int_equal(one(sa, "x@blocked.example", NULL), SPAM_SA_BLOCK);
	assert_int_equal(one(sa, "x@sub.blocked.example", NULL),
	    SPAM_SA_NONE);
	/* old names */
	assert_int_equal(one(sa, "old@legacy.example", NULL), SPAM_SA_WELCOME);
	assert_int_equal(one(sa, "spammer@legacy.example", NULL),
	    SPAM_SA_BLOCK);
	assert_int_equal(one(sa, "x@bad1.example", NULL), SPAM_SA_BLOCK);
	assert_int_equal(one(sa, "x@bad12.example", NULL), SPAM_SA_NONE);
	/* un* removes earlier entries (case-insensitive), re-add works */
	assert_int_equal(one(sa, "gone@example.org", NULL), SPAM_SA_NONE);
	assert_int_equal(one(sa, "pre@order.example", NULL), SPAM_SA_NONE);
	assert_int_equal(one(sa, "back@example.org", NULL), SPAM_SA_WELCOME);
	/* _rcvd */
	assert_int_equal(one(sa, "x@bank.example", "mx1.bank.example"),
	    SPAM_SA_WELCOME);
	assert_int_equal(one(sa, "x@bank.example", "BANK.example."),
	    SPAM_SA_WELCOME);
	assert_int_equal(one(sa, "x@bank.example", "evilbank.example"),
	    SPAM_SA_NONE);
	assert_int_equal(one(sa, "x@bank.example", NULL), SPAM_SA_NONE);
	assert_int_equal(one(sa, "ceo@corp.example", "mx.corp.example"),
	    SPAM_SA_WELCOME);
	assert_int_equal(one(sa, "ceo@corp.example", "corp.example"),
	    SPAM_SA_NONE);
	assert_int_equal(one(sa, "x@nolonger.example", "nolonger.example"),
	    SPAM_SA_NONE);
	/* welcome wins over block */
	assert_int_equal(one(sa, "both@mixed.example", NULL), SPAM_SA_WELCOME);
	assert_int_equal(one(sa, "other@mixed.example", NULL), SPAM_SA_BLOCK);
	/* include, nested include relative to the including file */
	assert_int_equal(one(sa, "x@included.example", NULL), SPAM_SA_BLOCK);
	assert_int_equal(one(sa, "x@deep.example", NULL), SPAM_SA_WELCOME);
	/* only *.cf / *.pre in a directory */
	assert_int_equal(one(sa, "x@ignored.example", NULL), SPAM_SA_NONE);
	/* versioned dir found through '*' */
	assert_int_equal(one(sa, "x@updates.example", NULL), SPAM_SA_WELCOME);
	/* several addresses: envelope blocked, From welcome -> welcome */
	two[0] = "x@blocked.example";
	two[1] = "y@welcome.example";
	assert_int_equal(spam_sa_check(sa, two, 2, NULL), SPAM_SA_WELCOME);
	two[1] = "y@nowhere.example";
	assert_int_equal(spam_sa_check(sa, two, 2, NULL), SPAM_SA_BLOCK);
	assert_int_equal(spam_sa_check(sa, two, 0, NULL), SPAM_SA_NONE);
	assert_string_equal(spam_sa_verdict_str(SPAM_SA_BLOCK), "blocklist");
	assert_true(spam_sa_count(sa) >= 15);
	spam_sa_free(sa);
}

static void
test_sa_misc(void **state)
{
	char err[256];
	struct spam_sa *sa;

	/* nothing there: empty but usable */
	sa = spam_sa_load("/nonexistent/a /nonexistent/*/b", err,
	    sizeof(err));
	assert_non_null(sa);
	assert_string_equal(err, "");
	assert_int_equal(spam_sa_count(sa), 0);
	assert_int_equal(one(sa, "a@b.example", NULL), SPAM_SA_NONE);
	spam_sa_free(sa);

	/* include loop stops at the depth limit */
	sa = spam_sa_load(D "loop.cf", err, sizeof(err));
	assert_non_null(sa);
	assert_non_null(strstr(err, "too deep"));
	assert_int_equal(one(sa, "x@loop.example", NULL), SPAM_SA_WELCOME);
	spam_sa_free(sa);

	/* the '*' search from a higher point finds the same dir */
	sa = spam_sa_load(SA "/*/updates_spamassassin_org", err, sizeof(err));
	assert_non_null(sa);
	assert_int_equal(spam_sa_count(sa), 1);
	assert_int_equal(one(sa, "x@updates.example", NULL), SPAM_SA_WELCOME);
	spam_sa_free(sa);

	/* the Debian defaults load without error (whatever is installed) */
	sa = spam_sa_load(NULL, err, sizeof(err));
	assert_non_null(sa);
	spam_sa_free(sa);
}

static void
test_sa_hostile(void **state)
{
	char path[] = "/tmp/test_spamfilter_XXXXXX";
	char err[256];
	struct spam_sa *sa;
	FILE *fp;
	int fd, i;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	/* a NUL byte, a 200 KB line, and more entries than the cap */
	fputs("welcomelist_from a@nul", fp);
	fputc('\0', fp);
	fputs(".example\n", fp);
	fputs("welcomelist_from ", fp);
	for (i = 0; i < 200000; i++)
		fputc('x', fp);
	fputs("@long.example\nwelcomelist_from ok@first.example\n", fp);
	for (i = 0; i < 101000; i++)
		fprintf(fp, "blocklist_from u%d@many.example\n", i);
	fputs("welcomelist_from late@last.example\n", fp);
	fclose(fp);
	sa = spam_sa_load(path, err, sizeof(err));
	unlink(path);
	assert_non_null(sa);
	assert_non_null(strstr(err, ":1: NUL byte"));
	assert_int_equal(spam_sa_count(sa), 100000);
	assert_int_equal(one(sa, "ok@first.example", NULL), SPAM_SA_WELCOME);
	assert_int_equal(one(sa, "u5@many.example", NULL), SPAM_SA_BLOCK);
	assert_int_equal(one(sa, "late@last.example", NULL), SPAM_SA_NONE);
	spam_sa_free(sa);
}

/* ---- built-in checker -------------------------------------------- */

static struct spamstats_weights *W;

static int
setup_w(void **state)
{
	char err[256];

	W = spamstats_weights_load(NULL, err, sizeof(err));
	return W == NULL ? -1 : 0;
}

static int
teardown_w(void **state)
{
	spamstats_weights_free(W);
	return 0;
}

struct msg {
	const char	*hdr[8][2];
	const char	*plain;
	const char	*html;
};

static const char gtube[] =
    "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

static double
score_msg(const struct spamstats_weights *w, const struct msg *m, size_t chunk,
    struct buf *why)
{
	struct spamstats *st;
	const char *parts[2] = { m->plain, m->html };
	double sc;
	size_t i, k, n;

	st = spamstats_new(w);
	assert_non_null(st);
	for (i = 0; i < 8 && m->hdr[i][0] != NULL; i++)
		spamstats_header(st, m->hdr[i][0], strlen(m->hdr[i][0]),
		    m->hdr[i][1], strlen(m->hdr[i][1]));
	for (k = 0; k < 2; k++) {
		if (parts[k] == NULL)
			continue;
		n = strlen(parts[k]);
		if (chunk == 0)
			chunk = n ? n : 1;
		for (i = 0; i < n; i += chunk)
			spamstats_text(st, (int)k, parts[k] + i,
			    n - i < chunk ? n - i : chunk);
	}
	spamstats_finish(st, &sc, why);
	spamstats_free(st);
	return sc;
}

#define GOODHDR \
	{ "From", "\"Jo Smith\" <jo@example.org>" }, \
	{ "Date", "Tue, 14 May 2024 09:12:44 +0200" }, \
	{ "Message-ID", "<abc123@example.org>" }

static const struct msg m_gtube = {
	{ { "Subject", "test" } }, NULL, NULL
};

static const struct msg m_ham = {
	{ GOODHDR, { "Subject", "Minutes of Tuesday's planning meeting" } },
	"Hello all,\r\n\r\nAttached are the minutes of Tuesday's meeting. "
	"We agreed to move the\r\nrelease to June 3 and to review the budget "
	"with finance next week.\r\nPlease send corrections by Friday.\r\n\r\n"
	"The draft is on the wiki: https://wiki.example.org/plans/2024-q2\r\n"
	"\r\nThanks,\r\nJo\r\n",
	NULL
};

static const struct msg m_news = {
	{ GOODHDR, { "Subject", "Example Project newsletter, May 2024" } },
	"Example Project news\n\nRelease 2.4 is out: https://example.org/rel"
	"\nConference videos: https://example.org/conf\nDocs: "
	"https://docs.example.org/\nBlog: https://blog.example.org/\n\n"
	"You get this because you subscribed. To unsubscribe visit "
	"https://example.org/unsubscribe\n",
	"<html><body style=\"background-color:#ffffff\"><p>Example Project "
	"news</p><p>Release 2.4 is out: <a href=\"https://example.org/rel\">"
	"notes</a></p><a style=\"color:#fff;background:#06c\" "
	"href=\"https://example.org/conf\">Videos</a> <a href=\"https://"
	"docs.example.org/\">Docs</a><p><a href=\"https://example.org/"
	"unsubscribe\">Unsubscribe</a></p></body></html>"
};

static const struct msg m_spam = {
	{ { "From", "Winner Dept" },
	  { "Subject", "=?utf-8?B?WU9VIEhBVkUgV09OIE1JTExJT05TISEh?=" } },
	NULL,
	"<html><body><p>Dear Friend,</p><p>CONGRATULATIONS, you have "
	"won!</p><p>Act now: this limited time offer for Viagra and "
	"Cialis is 100% free. Work from home, no credit check.</p>"
	"<div style=\"display: none\">lorem ipsum bayes poison</div>"
	"<a href=\"http://192.0.2.7/claim\">Click here</a></body></html>"
};

static void
test_stats_basic(void **state)
{
	struct buf why = BUF_INIT;
	struct msg m = m_gtube;
	double sc;

	m.plain = "This is the GTUBE, the\n\t" "XJS*C4JDBQADN1.NSBN3*2IDNEN*"
	    "GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\n\nend\n";
	sc = score_msg(W, &m, 0, &why);
	assert_true(sc >= 1000);
	assert_non_null(strstr(why.data, "GTUBE=1000"));
	buf_free(&why);

	sc = score_msg(W, &m_ham, 0, &why);
	printf("ham: %.2f %s\n", sc, why.data ? why.data : "");
	assert_true(sc < 2);
	assert_true(why.len == 0);
	buf_free(&why);

	sc = score_msg(W, &m_news, 0, &why);
	printf("newsletter: %.2f %s\n", sc, why.data ? why.data : "");
	assert_true(sc < 2);
	buf_free(&why);

	sc = score_msg(W, &m_spam, 0, &why);
	printf("spam: %.2f %s\n", sc, why.data);
	assert_true(sc >= 5);
	assert_non_null(strstr(why.data, "PHRASE_viagra=2.5"));
	assert_non_null(strstr(why.data, "PHRASE_100__free=1.5"));
	assert_non_null(strstr(why.data, "PHRASE_you_have_won="));
	assert_non_null(strstr(why.data, "HTML_ONLY="));
	assert_non_null(strstr(why.data, "HIDDEN_TEXT="));
	assert_non_null(strstr(why.data, "URL_IP="));
	assert_non_null(strstr(why.data, "MISSING_DATE="));
	assert_non_null(strstr(why.data, "MISSING_MID="));
	assert_non_null(strstr(why.data, "FROM_NO_ADDR="));
	assert_non_null(strstr(why.data, "SUBJ_ALL_CAPS="));
	assert_non_null(strstr(why.data, "SUBJ_EXCESS_PUNCT="));
	buf_free(&why);
}

static void
test_stats_features(void **state)
{
	struct buf why = BUF_INIT;
	struct buf big = BUF_INIT;
	struct msg m = { { GOODHDR }, NULL, NULL };
	double sc;
	int i;

	/* word boundaries: no "winner" inside "winners", no "casino" in
	   "casinos"; multi-word phrases across line breaks */
	m.plain = "The winners of the casinos award.\nplease click\r\n  here";
	sc = score_msg(W, &m, 0, &why);
	assert_string_equal(S(why.data), "PHRASE_click_here=0.8");
	buf_free(&why);

	/* a phrase in the Subject only */
	m.hdr[3][0] = "Subject";
	m.hdr[3][1] = "Lose Weight today";
	m.plain = "hi";
	sc = score_msg(W, &m, 0, &why);
	assert_true(fabs(sc - 1.5) < 1e-9);
	assert_string_equal(S(why.data), "PHRASE_lose_weight=1.5");
	buf_free(&why);
	m.hdr[3][0] = NULL;

	/* SHOUTING */
	m.plain = "THIS IS A VERY IMPORTANT MESSAGE FOR ALL OF OUR VALUED "
	    "CUSTOMERS, PLEASE READ IT CAREFULLY AND REPLY TO US AS SOON "
	    "AS YOU POSSIBLY CAN OK";
	sc = score_msg(W, &m, 0, &why);
	assert_non_null(strstr(why.data, "SHOUTING"));
	buf_free(&why);

	/* URL_MANY */
	for (i = 0; i < 40; i++)
		buf_printf(&big, "see https://h%d.example/x\n", i);
	m.plain = big.data;
	sc = score_msg(W, &m, 0, &why);
	assert_string_equal(S(why.data), "URL_MANY=1");
	buf_free(&why);
	buf_free(&big);

	/* URL_IP forms; not for a hostname with digits */
	m.plain = "go to https://user@[2001:db8::1]:8080/x";
	sc = score_msg(W, &m, 0, &why);
	assert_string_equal(S(why.data), "URL_IP=1.5");
	buf_free(&why);
	m.plain = "go to HTTP://3221225985/x";
	sc = score_msg(W, &m, 0, &why);
	assert_string_equal(S(why.data), "URL_IP=1.5");
	buf_free(&why);
	m.plain = "go to http://192.0.2.1.example.org/ http://10.1.2/";
	sc = score_msg(W, &m, 0, &why);
	assert_true(sc == 0);
	buf_free(&why);

	/* hidden text: white on white, font-size:0; not font-size:0.9em */
	m.plain = "x";
	m.html = "<body bgcolor=\"#FFFFFF\"><font color=\"white\">x</font>";
	sc = score_msg(W, &m, 0, &why);
	assert_string_equal(S(why.data), "HIDDEN_TEXT=1.2");
	buf_free(&why);
	m.html = "<span style='font-size: 0px'>x</span>";
	sc = score_msg(W, &m, 0, &why);
	assert_string_equal(S(why.data), "HIDDEN_TEXT=1.2");
	buf_free(&why);
	m.html = "<span style='font-size:0.9em;color:#fffff0'>x</span>"
	    "<td bgcolor=#ffffff>";
	sc = score_msg(W, &m, 0, &why);
	assert_true(sc == 0);
	buf_free(&why);
	m.html = NULL;

	/* headers: future date, bad From, missing everything */
	m.hdr[1][1] = "Sat, 1 Jan 2099 00:00:00 +0000";
	m.hdr[0][1] = "undisclosed-recipients:;";
	m.plain = "hello";
	sc = score_msg(W, &m, 0, &why);
	assert_string_equal(S(why.data), "FROM_NO_ADDR=1,DATE_IN_FUTURE=1.5");
	buf_free(&why);
	m.hdr[0][0] = NULL;
	sc = score_msg(W, &m, 0, &why);
	assert_string_equal(S(why.data),
	    "MISSING_DATE=1,MISSING_MID=0.5,FROM_NO_ADDR=1");
	assert_true(fabs(sc - 2.5) < 1e-9);
	buf_free(&why);
}

static void
test_stats_chunking(void **state)
{
	const struct msg *ms[] = { &m_ham, &m_news, &m_spam };
	struct msg g = m_gtube;
	struct buf ref = BUF_INIT, why = BUF_INIT;
	double s0, s;
	size_t i, c;

	g.plain = "pre " "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-"
	    "TEST-EMAIL*C.34X post, click\n here <http://192.0.2.1/>";
	for (i = 0; i < 4; i++) {
		const struct msg *m = i < 3 ? ms[i] : &g;

		s0 = score_msg(W, m, 0, &ref);
		for (c = 1; c <= 64; c++) {
			s = score_msg(W, m, c, &why);
			assert_true(s == s0);
			assert_string_equal(why.data ? why.data : "",
			    ref.data ? ref.data : "");
			buf_free(&why);
		}
		buf_free(&ref);
	}
}

static void
test_weights_file(void **state)
{
	char err[256];
	struct spamstats_weights *w, *def;
	struct buf why = BUF_INIT;
	struct msg m = { { { "Subject", "the quarterly\treport" } },
	    NULL, NULL };
	double sc;

	/* shipped file == compiled-in defaults */
	w = spamstats_weights_load("spamphrases.txt", err, sizeof(err));
	assert_non_null(w);
	def = spamstats_weights_load(NULL, err, sizeof(err));
	assert_non_null(def);
	assert_true(spamstats_weights_nphrases(w) >= 40);
	assert_int_equal(spamstats_weights_nphrases(w), spamstats_weights_nphrases(def));
	assert_true(score_msg(w, &m_spam, 0, NULL) ==
	    score_msg(def, &m_spam, 0, NULL));
	spamstats_weights_free(w);
	spamstats_weights_free(def);

	w = spamstats_weights_load(D "w-good.txt", err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(spamstats_weights_nphrases(w), 1);
	m.plain = gtube;
	sc = score_msg(w, &m, 0, &why);
	assert_string_equal(S(why.data),
	    "GTUBE=500,PHRASE_quarterly_report=3,MISSING_MID=0.5,"
	    "FROM_NO_ADDR=1");
	assert_true(sc == 504.5);
	buf_free(&why);
	spamstats_weights_free(w);

	assert_null(spamstats_weights_load(D "w-badweight.txt", err, sizeof(err)));
	assert_non_null(strstr(err, "w-badweight.txt:2: bad weight"));
	assert_null(spamstats_weights_load(D "w-badfeature.txt", err,
	    sizeof(err)));
	assert_non_null(strstr(err, "w-badfeature.txt:1: unknown feature"));
	assert_null(spamstats_weights_load(D "w-empty.txt", err, sizeof(err)));
	assert_non_null(strstr(err, "w-empty.txt:1: empty phrase"));
	assert_null(spamstats_weights_load(D "w-keyword.txt", err, sizeof(err)));
	assert_non_null(strstr(err, "w-keyword.txt:1: unknown keyword"));
	assert_null(spamstats_weights_load(D "nope.txt", err, sizeof(err)));
	assert_non_null(strstr(err, "nope.txt"));
}

/* ---- spamd client ------------------------------------------------ */

enum fake_mode { FAKE_HANG, FAKE_GARBAGE, FAKE_REPLY };

struct fake {
	int		 lfd;
	int		 port;
	enum fake_mode	 mode;
	const char	*reply;
	int		 saw_close;	/* HANG: client closed the socket */
	int		 wake[2];	/* HANG: the test is done waiting */
	size_t		 got;		/* request bytes read */
	char		 req[4096];
	pthread_t	 th;
};

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	struct pollfd p;
	ssize_t r;
	int fd;

	if ((fd = accept(f->lfd, NULL, NULL)) == -1)
		return NULL;
	p.fd = fd;
	p.events = POLLIN;
	/* Read the request (up to EOF, the client shuts down its side). */
	while (poll(&p, 1, 5000) == 1 && (r = read(fd, f->req + f->got,
	    f->got < sizeof(f->req) - 1 ? sizeof(f->req) - 1 - f->got :
	    0)) > 0)
		f->got += (size_t)r;
	f->req[f->got] = '\0';
	if (f->mode == FAKE_HANG) {
		/*
		 * Never answer.  Once the client gave up, writing to it must
		 * fail: its socket is closed, so the second send meets RST.
		 */
		p.fd = f->wake[0];
		(void)poll(&p, 1, 10000);
		(void)send(fd, "x", 1, MSG_NOSIGNAL);
		usleep(100000);
		if (send(fd, "x", 1, MSG_NOSIGNAL) == -1)
			f->saw_close = 1;
	} else
		(void)write(fd, f->reply, strlen(f->reply));
	close(fd);
	return NULL;
}

static void
fake_start(struct fake *f, enum fake_mode mode, const char *reply)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	memset(f, 0, sizeof(*f));
	assert_int_equal(pipe(f->wake), 0);
	f->mode = mode;
	f->reply = reply;
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	assert_int_equal(listen(f->lfd, 4), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sin, &sl), 0);
	f->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void
fake_stop(struct fake *f)
{
	(void)write(f->wake[1], "", 1);
	pthread_join(f->th, NULL);
	close(f->wake[0]);
	close(f->wake[1]);
	close(f->lfd);
}

static const char ham_msg[] =
    "From: Jo <jo@example.org>\r\nTo: al@example.org\r\n"
    "Subject: lunch\r\nDate: Tue, 14 May 2024 09:12:44 +0200\r\n"
    "Message-ID: <abc123@example.org>\r\n\r\n"
    "Shall we have lunch on Thursday at noon?\r\n\r\nJo\r\n";

static void
check_fake(const char *reply, const char *want)
{
	char srv[64], err[256];
	char *servers[1] = { srv };
	struct spamd_cfg cfg = { servers, 1, 1000, 2000, 0, 0, 0, 0 };
	struct spamd_result res;
	struct fake f;

	fake_start(&f, FAKE_REPLY, reply);
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", f.port);
	assert_int_equal(spamd_check(&cfg, "bob", ham_msg,
	    sizeof(ham_msg) - 1, &res, err, sizeof(err)), want ? -1 : 0);
	if (want != NULL) {
		if (strstr(err, want) == NULL)
			fail_msg("reply %.40s: err \"%s\", want \"%s\"", reply,
			    err, want);
	}
	fake_stop(&f);
}

static void
test_spamd_fake(void **state)
{
	char srv[64], srv2[64], err[256], *p;
	char *servers[2] = { srv, srv2 };
	struct spamd_cfg cfg = { servers, 1, 1000, 1000, 0, 0, 0, 0 };
	struct spamd_result res;
	struct fake f;
	double t0, dt;
	struct buf big = BUF_INIT;
	int i;

	/* closed port */
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", unit_closed_port());
	assert_int_equal(spamd_check(&cfg, NULL, ham_msg,
	    sizeof(ham_msg) - 1, &res, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "connect: Connection refused"));

	/* hung server: timeout within read_timeout + 1 s, socket closed */
	fake_start(&f, FAKE_HANG, NULL);
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", f.port);
	t0 = unit_now_s();
	assert_int_equal(spamd_check(&cfg, "bob", ham_msg,
	    sizeof(ham_msg) - 1, &res, err, sizeof(err)), -1);
	dt = unit_now_s() - t0;
	fake_stop(&f);
	printf("hang: %s after %.3f s\n", err, dt);
	assert_true(strncmp(err, "timeout", 7) == 0);
	assert_true(dt >= 0.9 && dt < 2.0);
	assert_true(f.saw_close);
	/* the request as sent */
	p = strstr(f.req, "\r\n\r\n");
	assert_non_null(p);
	assert_true(strncmp(f.req, "CHECK SPAMC/1.5\r\nContent-length: ",
	    33) == 0);
	assert_non_null(strstr(f.req, "\r\nUser: bob\r\n"));
	assert_string_equal(p + 4, ham_msg);

	/* user sanitised, body cut at max_size */
	fake_start(&f, FAKE_REPLY, "SPAMD/1.1 0 EX_OK\r\nSpam: False ; "
	    "-0.0 / 5.0\r\n\r\n");
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", f.port);
	cfg.max_size = 10;
	assert_int_equal(spamd_check(&cfg, "ev\r\nil\x01 user", ham_msg,
	    sizeof(ham_msg) - 1, &res, err, sizeof(err)), 0);
	fake_stop(&f);
	cfg.max_size = 0;
	assert_non_null(strstr(f.req, "Content-length: 10\r\nUser: eviluser"
	    "\r\n\r\nFrom: Jo <"));
	assert_int_equal(strlen(strstr(f.req, "\r\n\r\n") + 4), 10);
	assert_int_equal(res.is_spam, 0);
	assert_true(res.score == 0 && res.threshold == 5.0);
	assert_string_equal(res.server, srv);

	/* good replies, tolerant forms */
	check_fake("SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\n"
	    "Spam: True ; 15.0 / 5.0\r\n\r\n", NULL);
	check_fake("SPAMD/1.5 0 EX_OK\nspam:yes;1000/5\n\n", NULL);
	check_fake("SPAMD/1.1 0 EX_OK\r\nSpam: False ; -0.0 / 5.0\r\n", NULL);
	/* garbage */
	check_fake("HTTP/1.0 500 Internal error\r\n\r\n", "protocol: not a");
	check_fake("SPAMD/1.1 76 Bad header line: xx\r\n\r\n",
	    "protocol: status 76");
	check_fake("SPAMD/1.1 0 EX_OK\r\nSpam: True ; NaN / 5.0\r\n\r\n",
	    "protocol: bad Spam");
	check_fake("SPAMD/1.1 0 EX_OK\r\nSpam: True ; inf / 5.0\r\n\r\n",
	    "protocol: bad Spam");
	check_fake("SPAMD/1.1 0 EX_OK\r\nSpam: Maybe ; 1 / 5.0\r\n\r\n",
	    "protocol: bad Spam");
	check_fake("SPAMD/1.1 0 EX_OK\r\nContent-length: -1\r\n"
	    "Spam: True ; 1 / 5\r\n\r\n", "protocol: bad Content-length");
	check_fake("SPAMD/1.1 0 EX_OK\r\n\r\n", "protocol: no Spam header");
	check_fake("", "protocol: empty reply");
	check_fake("\x8f\x01\xff garbage garbage", "protocol");
	for (i = 0; i < 70000; i++)
		buf_addc(&big, 'A');
	buf_adds(&big, "\r\n\r\n");
	buf_printf(&big, "%s", "");
	{
		struct buf r2 = BUF_INIT;

		buf_adds(&r2, "SPAMD/1.1 0 EX_OK\r\nX-Long: ");
		buf_add(&r2, big.data, big.len);
		check_fake(r2.data, "protocol: reply headers too long");
		buf_free(&r2);
	}
	buf_free(&big);

	/* failover: closed port, then a good one */
	fake_start(&f, FAKE_REPLY, "SPAMD/1.1 0 EX_OK\r\nSpam: True ; "
	    "7.5 / 5.0\r\n\r\n");
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", unit_closed_port());
	snprintf(srv2, sizeof(srv2), "[127.0.0.1]:%d", f.port);
	cfg.nservers = 2;
	assert_int_equal(spamd_check(&cfg, NULL, ham_msg,
	    sizeof(ham_msg) - 1, &res, err, sizeof(err)), 0);
	fake_stop(&f);
	assert_int_equal(res.is_spam, 1);
	assert_true(res.score == 7.5 && res.threshold == 5.0);
	assert_string_equal(res.server, srv2);
	assert_null(strstr(f.req, "User:"));

	/* bad configuration */
	snprintf(srv, sizeof(srv), "::1:783");
	cfg.nservers = 1;
	assert_int_equal(spamd_check(&cfg, NULL, "", 0, &res, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "config: bad server"));
	snprintf(srv, sizeof(srv), "unix:/nonexistent/spamd.sock");
	assert_int_equal(spamd_check(&cfg, NULL, "", 0, &res, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "connect: No such file"));
}

/* One TELL to the fake answering reply; want NULL: it must succeed. */
static void
tell_fake(const char *reply, int spam, const char *want, int learned,
    struct fake *f)
{
	char srv[64], err[256];
	char *servers[1] = { srv };
	struct spamd_cfg cfg = { servers, 1, 1000, 2000, 0, 0, 0, 0 };
	struct spamd_tell_result t;

	fake_start(f, FAKE_REPLY, reply);
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", f->port);
	memset(&t, 0xa5, sizeof(t));
	assert_int_equal(spamd_tell(&cfg, "al@example.org", spam, ham_msg,
	    sizeof(ham_msg) - 1, &t, err, sizeof(err)), want ? -1 : 0);
	fake_stop(f);
	assert_int_equal(t.learned, learned);
	if (want == NULL)
		assert_string_equal(t.server, srv);
	else if (strstr(err, want) == NULL)
		fail_msg("reply %.40s: err \"%s\", want \"%s\"", reply, err,
		    want);
}

/* TELL (spamcorral-robot's release teaches ham): request and replies. */
static void
test_spamd_tell(void **state)
{
	static const char ok[] = "SPAMD/1.1 0 EX_OK\r\nDidSet: local\r\n"
	    "\r\n\r\n";
	char srv[64], err[256], want[256];
	char *servers[1] = { srv };
	struct spamd_cfg cfg = { servers, 1, 1000, 1000, 0, 0, 0, 0 };
	struct spamd_tell_result t;
	struct fake f;
	double t0, dt;

	(void)state;
	/* the request as spamd's PROTOCOL has it, the message whole */
	tell_fake(ok, 0, NULL, 1, &f);
	snprintf(want, sizeof(want), "TELL SPAMC/1.5\r\nContent-length: %zu"
	    "\r\nMessage-class: ham\r\nSet: local\r\n"
	    "User: al@example.org\r\n\r\n", sizeof(ham_msg) - 1);
	assert_true(strncmp(f.req, want, strlen(want)) == 0);
	assert_string_equal(f.req + strlen(want), ham_msg);
	tell_fake(ok, 1, NULL, 1, &f);
	assert_non_null(strstr(f.req, "\r\nMessage-class: spam\r\n"));
	/* answered, but not learned (known already, Bayes off) */
	tell_fake("SPAMD/1.1 0 EX_OK\r\n\r\n\r\n", 0, NULL, 0, &f);
	tell_fake("SPAMD/1.1 0 EX_OK\r\nDidSet: remote\r\n\r\n", 0, NULL,
	    0, &f);
	tell_fake("SPAMD/1.1 0 EX_OK\r\nDidRemove: local\r\n\r\n", 0,
	    NULL, 0, &f);
	tell_fake("SPAMD/1.1 0 EX_OK\ndidset:remote,local\n\n", 0, NULL, 1,
	    &f);
	/* spamd without --allow-tell, and garbage */
	tell_fake("SPAMD/1.0 69 Service Unavailable: TELL commands are not "
	    "enabled, set the --allow-tell switch.\r\n\r\n", 0,
	    "protocol: status 69", 0, &f);
	tell_fake("", 0, "protocol: empty reply", 0, &f);
	tell_fake("HTTP/1.0 200 OK\r\nDidSet: local\r\n\r\n", 0,
	    "protocol: not a", 0, &f);
	tell_fake("SPAMD/1.1 0 EX_OK\r\nDidSet local\r\n\r\n", 0,
	    "protocol: bad header line", 0, &f);
	tell_fake("SPAMD/1.1 0 EX_OK\r\nContent-length: x\r\n"
	    "DidSet: local\r\n\r\n", 0, "protocol: bad Content-length", 0,
	    &f);
	/* a CHECK reply is no TELL answer's "learned", nor the reverse */
	tell_fake("SPAMD/1.1 0 EX_OK\r\nSpam: True ; 9 / 5\r\n\r\n", 0,
	    NULL, 0, &f);
	check_fake(ok, "protocol: no Spam header");

	/* a closed port: at once */
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", unit_closed_port());
	assert_int_equal(spamd_tell(&cfg, NULL, 0, ham_msg,
	    sizeof(ham_msg) - 1, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "connect: Connection refused"));
	assert_int_equal(t.learned, 0);
	/* a hung spamd: given up at the deadline, socket closed */
	fake_start(&f, FAKE_HANG, NULL);
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", f.port);
	t0 = unit_now_s();
	assert_int_equal(spamd_tell(&cfg, "bob", 0, ham_msg,
	    sizeof(ham_msg) - 1, &t, err, sizeof(err)), -1);
	dt = unit_now_s() - t0;
	fake_stop(&f);
	printf("tell hang: %s after %.3f s\n", err, dt);
	assert_true(strncmp(err, "timeout", 7) == 0);
	assert_true(dt >= 0.9 && dt < 2.0);
	assert_true(f.saw_close);
	assert_int_equal(t.learned, 0);
	/* cut at max_size as CHECK is */
	fake_start(&f, FAKE_REPLY, ok);
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", f.port);
	cfg.max_size = 10;
	assert_int_equal(spamd_tell(&cfg, NULL, 0, ham_msg,
	    sizeof(ham_msg) - 1, &t, err, sizeof(err)), 0);
	fake_stop(&f);
	assert_non_null(strstr(f.req, "Content-length: 10\r\n"));
	assert_null(strstr(f.req, "User:"));
	assert_int_equal(strlen(strstr(f.req, "\r\n\r\n") + 4), 10);
	/* no server */
	cfg.nservers = 0;
	assert_int_equal(spamd_tell(&cfg, NULL, 0, "", 0, &t, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "config: no spamd server"));
}

/* spamd_parse_tell() on buffers that are not NUL-terminated. */
static void
test_spamd_parse_tell(void **state)
{
	static const struct {
		const char	*r;
		int		 rc, learned;
	} c[] = {
		{ "SPAMD/1.1 0 EX_OK\r\nDidSet: local\r\n\r\n", 0, 1 },
		{ "SPAMD/1.1 0 EX_OK\r\nDidSet: local", 0, 1 },
		{ "SPAMD/1.1 0 EX_OK\r\nDidSet: loc", 0, 0 },
		{ "SPAMD/1.1 0 EX_OK\r\n\r\nDidSet: local\r\n", 0, 0 },
		{ "SPAMD/1.1 0 EX_OK", 0, 0 },
		{ "SPAMD/1.1 69 EX_UNAVAILABLE\r\nDidSet: local\r\n", -1, 0 },
		{ "SPAMD/1.1 0", 0, 0 },
		{ "SPAMD/1.1 ", -1, 0 },
		{ "", -1, 0 },
	};
	char err[64], *copy;
	size_t i, n;
	int learned;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		n = strlen(c[i].r);
		copy = malloc(n ? n : 1);
		assert_non_null(copy);
		memcpy(copy, c[i].r, n);
		learned = 7;
		if (spamd_parse_tell(copy, n, &learned, err, sizeof(err)) !=
		    c[i].rc || learned != c[i].learned)
			fail_msg("case %zu: learned %d err %s", i, learned, err);
		if (c[i].rc == -1)
			assert_true(strncmp(err, "protocol: ", 10) == 0);
		else
			assert_string_equal(err, "");
		free(copy);
	}
}

/* The reply parser alone, on buffers that are not NUL-terminated. */
static void
check_parse(const char *reply, size_t len, const char *want, int is_spam,
    double score, double threshold)
{
	struct spamd_result res;
	char err[256], *copy;
	int rc;

	copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, reply, len);
	rc = spamd_parse_reply(copy, len, &res, err, sizeof(err));
	free(copy);
	if (want == NULL) {
		if (rc != 0)
			fail_msg("reply %.40s: %s", reply, err);
		assert_string_equal(err, "");
		assert_int_equal(res.is_spam, is_spam);
		assert_true(res.score == score);
		assert_true(res.threshold == threshold);
		return;
	}
	assert_int_equal(rc, -1);
	if (strstr(err, want) == NULL)
		fail_msg("reply %.40s: err \"%s\", want \"%s\"", reply, err,
		    want);
	assert_int_equal(res.is_spam, 0);
	assert_true(res.score == 0 && res.threshold == 0);
}

#define PARSE_OK(r, sp, sc, th)	check_parse(r, sizeof(r) - 1, NULL, sp, sc, th)
#define PARSE_BAD(r, w)		check_parse(r, sizeof(r) - 1, w, 0, 0, 0)

static void
test_spamd_parse(void **state)
{
	(void)state;
	/* CHECK, SYMBOLS, PROCESS replies; the body is ignored */
	PARSE_OK("SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\n"
	    "Spam: True ; 1000.0 / 5.0\r\n\r\n", 1, 1000.0, 5.0);
	PARSE_OK("SPAMD/1.1 0 EX_OK\r\nContent-length: 27\r\n"
	    "Spam: True ; 15.5 / 5.0\r\n\r\nGTUBE,MISSING_DATE,NO_RELAYS",
	    1, 15.5, 5.0);
	PARSE_OK("SPAMD/1.1 0 EX_OK\r\nContent-length: 34\r\n"
	    "Spam: False ; -1.2 / 6.5\r\n\r\nSubject: hi\r\n\r\nSpam: True ; "
	    "9 / 1\r\n", 0, -1.2, 6.5);
	PARSE_OK("SPAMD/1.5 0 EX_OK\nspam:yes;1000/5\n\n", 1, 1000, 5);
	PARSE_OK("SPAMD/1.1 0 EX_OK\r\nSpam: no ; .5 / +5.\r\n", 0, 0.5, 5);
	/* Content-length last, without CR/LF or NUL after it */
	PARSE_OK("SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1 / 5\r\n"
	    "Content-length: 12", 1, 1, 5);
	/* FS-03 */
	PARSE_BAD("HTTP/1.0 500 Internal Server Error\r\n\r\n",
	    "protocol: not a spamd reply");
	PARSE_BAD("SPAMD/1.1 76 Bad header line: (Content-Length)\r\n\r\n",
	    "protocol: status 76");
	PARSE_BAD("SPAMD/1.1 0 EX_OK\r\nSpam: True ; NaN / 5.0\r\n\r\n",
	    "protocol: bad Spam header");
	PARSE_BAD("SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1 / nan\r\n\r\n",
	    "protocol: bad Spam header");
	PARSE_BAD("SPAMD/1.1 0 EX_OK\r\nSpam: True ; inf / 5.0\r\n\r\n",
	    "protocol: bad Spam header");
	PARSE_BAD("SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1e999 / 5.0\r\n\r\n",
	    "protocol: bad Spam header");
	PARSE_BAD("SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1234567890123456789 "
	    "/ 5\r\n\r\n", "protocol: bad Spam header");
	PARSE_BAD("SPAMD/1.1 0 EX_OK\r\nContent-length: -1\r\n"
	    "Spam: True ; 1 / 5\r\n\r\n", "protocol: bad Content-length");
	PARSE_BAD("SPAMD/1.1 0 EX_OK\r\nContent-length: 1x\r\n"
	    "Spam: True ; 1 / 5\r\n\r\n", "protocol: bad Content-length");
	PARSE_BAD("SPAMD/1.1 0 EX_OK\r\nContent-length: 1234567890123\r\n"
	    "Spam: True ; 1 / 5\r\n\r\n", "protocol: bad Content-length");
	PARSE_BAD("SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\n\r\n"
	    "Spam: True ; 1 / 5\r\n", "protocol: no Spam header");
	PARSE_BAD("SPAMD/1.1 0 EX_OK\r\nSpam: False ; 0 / 5\r\n"
	    "Spam: True ; 9 / 5\r\n\r\n", "protocol: bad Spam header");
	PARSE_BAD("SPAMD/1.1 0 EX_OK\r\nno colon here\r\n\r\n",
	    "protocol: bad header line");
	PARSE_BAD("SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1 / 5\r\nContent-len",
	    "protocol: bad header line");
	PARSE_BAD("SPAMD/x 0 EX_OK\r\n\r\n", "protocol: bad status line");
	PARSE_BAD("\x8f\x01\xff garbage", "protocol: not a spamd reply");
	PARSE_BAD("", "protocol: empty reply");
}

static int
spamd_port(void)
{
	const char *p = getenv("SPAMD_TEST_PORT");

	return p != NULL && *p != '\0' ? atoi(p) : 0;
}

static void
test_spamd_real(void **state)
{
	char srv[64], srv2[64], err[256];
	char *servers[2] = { srv, srv2 };
	struct spamd_cfg cfg = { servers, 1, 2000, 30000, 0, 0, 0, 0 };
	struct spamd_result res;
	struct buf m = BUF_INIT;
	double t0;
	int port = spamd_port();

	if (port == 0) {
		printf("SPAMD_TEST_PORT not set: real spamd tests skipped\n");
		skip();
	}
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", port);
	buf_printf(&m, "From: x@example.net\r\nTo: y@example.org\r\n"
	    "Subject: test\r\n\r\n%s\r\n", gtube);
	t0 = unit_now_s();
	assert_int_equal(spamd_check(&cfg, "mailcorral", m.data, m.len,
	    &res, err, sizeof(err)), 0);
	printf("spamd GTUBE: %.1f/%.1f in %.3f s\n", res.score, res.threshold,
	    unit_now_s() - t0);
	assert_int_equal(res.is_spam, 1);
	assert_true(res.score >= 1000);
	assert_true(res.threshold == 5.0);
	buf_free(&m);

	t0 = unit_now_s();
	assert_int_equal(spamd_check(&cfg, NULL, ham_msg,
	    sizeof(ham_msg) - 1, &res, err, sizeof(err)), 0);
	printf("spamd ham: %.1f/%.1f in %.3f s\n", res.score, res.threshold,
	    unit_now_s() - t0);
	assert_int_equal(res.is_spam, 0);
	assert_true(res.score < 5);

	/* the lab local.cf blocklists *@blocked.example */
	buf_printf(&m, "From: x@blocked.example\r\nTo: y@example.org\r\n"
	    "Subject: hi\r\nDate: Tue, 14 May 2024 09:12:44 +0200\r\n"
	    "Message-ID: <q@blocked.example>\r\n\r\nhello\r\n");
	assert_int_equal(spamd_check(&cfg, NULL, m.data, m.len, &res,
	    err, sizeof(err)), 0);
	assert_int_equal(res.is_spam, 1);
	assert_true(res.score >= 90);
	buf_free(&m);

	/* failover from a closed port */
	snprintf(srv, sizeof(srv), "127.0.0.1:%d", unit_closed_port());
	snprintf(srv2, sizeof(srv2), "127.0.0.1:%d", port);
	cfg.nservers = 2;
	assert_int_equal(spamd_check(&cfg, NULL, ham_msg,
	    sizeof(ham_msg) - 1, &res, err, sizeof(err)), 0);
	assert_string_equal(res.server, srv2);
	assert_int_equal(res.is_spam, 0);

	/*
	 * TELL (spamd.sh: --allow-tell, a Bayes store of its own): a new
	 * ham is learned once; told again, spamd knows it already.
	 */
	buf_printf(&m, "From: Jo <jo@example.org>\r\nTo: al@example.org\r\n"
	    "Subject: minutes %d\r\nDate: Tue, 14 May 2024 09:12:44 +0200\r\n"
	    "Message-ID: <tell-%d-%.0f@example.org>\r\n\r\nThe minutes of "
	    "Tuesday's meeting are attached below.\r\n", (int)getpid(),
	    (int)getpid(), unit_now_s() * 1000);
	{
		struct spamd_tell_result t;

		t0 = unit_now_s();
		assert_int_equal(spamd_tell(&cfg, "mailcorral", 0, m.data,
		    m.len, &t, err, sizeof(err)), 0);
		printf("spamd TELL ham: learned=%d in %.3f s\n", t.learned,
		    unit_now_s() - t0);
		assert_int_equal(t.learned, 1);
		assert_string_equal(t.server, srv2);
		assert_int_equal(spamd_tell(&cfg, "mailcorral", 0, m.data,
		    m.len, &t, err, sizeof(err)), 0);
		assert_int_equal(t.learned, 0);
	}
	buf_free(&m);
}

/* ---- the combination rule ---------------------------------------- */

#define OFF	{ SPAM_CHECK_OFF, 0, 0, 0, 0 }
#define SKIP	{ SPAM_CHECK_SKIPPED, 0, 0, 0, 0 }
#define FAIL	{ SPAM_CHECK_FAILED, 0, 0, 0, 0 }
#define HAM(s, t)	{ SPAM_CHECK_DONE, 0, s, t, 0 }
#define SPAM(s, t)	{ SPAM_CHECK_DONE, 1, s, t, 0 }

static const struct combine_case {
	const char		*name;
	struct spam_check	 in[SPAM_NCHECKERS];	/* builtin, spamd, perl */
	int			 is_spam, failed;
	unsigned		 said;
	const char		*via;
	double			 score, threshold;
	const char		*line;		/* spam_line() */
} combine_cases[] = {
	{ "nothing counted", { OFF, OFF, OFF }, 0, 0, 0, "none", 0, 5,
	  "no:0.0/5.0(0%) via=none" },
	{ "builtin alone, ham", { HAM(2, 5), OFF, OFF }, 0, 0, 0, "builtin",
	  2, 5, "no:2.0/5.0(40%) via=builtin" },
	{ "builtin alone, spam", { SPAM(6, 5), OFF, OFF }, 1, 0, 1,
	  "builtin", 6, 5, "yes:6.0/5.0(120%) via=builtin" },
	{ "spamd alone, spam", { OFF, SPAM(8.1, 5), OFF }, 1, 0, 2, "spamd",
	  8.1, 5, "yes:8.1/5.0(162%) via=spamd" },
	{ "builtin spam, spamd ham", { SPAM(12, 5), HAM(-1, 5), OFF }, 1, 0,
	  1, "builtin", 12, 5,
	  "yes:12.0/5.0(240%) via=builtin builtin=12.0/5.0 spamd=-1.0/5.0" },
	{ "builtin ham, spamd spam", { HAM(4, 5), SPAM(6, 5), OFF }, 1, 0, 2,
	  "spamd", 6, 5,
	  "yes:6.0/5.0(120%) via=spamd builtin=4.0/5.0 spamd=6.0/5.0" },
	/* the shown score: the higher share of its own threshold */
	{ "both spam, builtin higher share", { SPAM(30, 10), SPAM(6, 5), OFF },
	  1, 0, 3, "builtin+spamd", 30, 10,
	  "yes:30.0/10.0(300%) via=builtin+spamd builtin=30.0/10.0 "
	  "spamd=6.0/5.0" },
	{ "both spam, spamd higher share", { SPAM(11, 10), SPAM(20, 5), OFF },
	  1, 0, 3, "builtin+spamd", 20, 5,
	  "yes:20.0/5.0(400%) via=builtin+spamd builtin=11.0/10.0 "
	  "spamd=20.0/5.0" },
	{ "both ham: the higher share is shown", { HAM(4, 10), HAM(3, 5),
	  OFF }, 0, 0, 0, "spamd", 3, 5,
	  "no:3.0/5.0(60%) via=spamd builtin=4.0/10.0 spamd=3.0/5.0" },
	{ "spam shown over a ham of higher share", { HAM(9.9, 10),
	  SPAM(5, 5), SPAM(0.5, 10) }, 1, 0, 6, "spamd+perl", 5, 5, NULL },
	{ "spamd skipped", { SPAM(7, 5), SKIP, OFF }, 1, 0, 1, "builtin",
	  7, 5, "yes:7.0/5.0(140%) via=builtin builtin=7.0/5.0 "
	  "spamd=skipped" },
	{ "spamd failed, builtin ham: unchecked", { HAM(1, 5), FAIL, OFF },
	  0, 1, 0, "builtin", 1, 5,
	  "unchecked:1.0/5.0(20%) via=builtin builtin=1.0/5.0 spamd=failed" },
	{ "spamd failed, builtin spam: decided", { SPAM(9, 5), FAIL, OFF },
	  1, 0, 1, "builtin", 9, 5,
	  "yes:9.0/5.0(180%) via=builtin builtin=9.0/5.0 spamd=failed" },
	{ "spamd failed alone", { OFF, FAIL, OFF }, 0, 1, 0, "spamd", 0, 5,
	  "unchecked:0.0/5.0(0%) via=spamd" },
	{ "perl spam alone", { OFF, OFF, SPAM(9, 5) }, 1, 0, 4, "perl", 9, 5,
	  "yes:9.0/5.0(180%) via=perl" },
	{ "perl spam, spamd ham", { OFF, HAM(0, 5), SPAM(7, 5) }, 1, 0, 4,
	  "perl", 7, 5, "yes:7.0/5.0(140%) via=perl spamd=0.0/5.0 "
	  "perl=7.0/5.0" },
	{ "all three spam", { SPAM(6, 5), SPAM(7, 5), SPAM(8, 5) }, 1, 0, 7,
	  "builtin+spamd+perl", 8, 5, NULL },
};

static void
test_combine_table(void **state)
{
	const struct combine_case *t;
	struct spam_verdict sv;
	char line[160];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(combine_cases) / sizeof(combine_cases[0]);
	    i++) {
		t = &combine_cases[i];
		memset(&sv, 0, sizeof(sv));
		sv.threshold = 5;
		memcpy(sv.check, t->in, sizeof(sv.check));
		spam_combine(&sv);
		if (sv.is_spam != t->is_spam || sv.failed != t->failed ||
		    sv.said != t->said || strcmp(sv.via, t->via) != 0 ||
		    sv.score != t->score || sv.threshold != t->threshold)
			fail_msg("%s: spam %d failed %d said %u via %s "
			    "%.1f/%.1f; want %d %d %u %s %.1f/%.1f", t->name,
			    sv.is_spam, sv.failed, sv.said, sv.via, sv.score,
			    sv.threshold, t->is_spam, t->failed, t->said,
			    t->via, t->score, t->threshold);
		spam_line(&sv, line, sizeof(line));
		if (t->line != NULL && strcmp(line, t->line) != 0)
			fail_msg("%s: line \"%s\", want \"%s\"", t->name, line,
			    t->line);
		/* combining twice changes nothing (spam_decide does) */
		spam_combine(&sv);
		assert_int_equal(sv.said, t->said);
		assert_string_equal(sv.via, t->via);
	}
}

/* Every one of the 4^3 state mixes: spam exactly when one said spam. */
static void
test_combine_property(void **state)
{
	static const struct spam_check kinds[] = { OFF, SKIP, FAIL,
	    HAM(1, 5), SPAM(6, 5) };
	struct spam_verdict sv;
	unsigned a, b, c, want, anyfail, c0;

	(void)state;
	for (a = 0; a < 5; a++)
		for (b = 0; b < 5; b++)
			for (c = 0; c < 5; c++) {
				memset(&sv, 0, sizeof(sv));
				sv.threshold = 5;
				sv.check[0] = kinds[a];
				sv.check[1] = kinds[b];
				sv.check[2] = kinds[c];
				want = (a == 4) | (b == 4) << 1 | (c == 4) << 2;
				anyfail = a == 2 || b == 2 || c == 2;
				spam_combine(&sv);
				assert_int_equal(sv.said, want);
				assert_int_equal(sv.is_spam, want != 0);
				assert_int_equal(sv.failed, !want && anyfail);
				assert_true(sv.via[0] != '\0');
				for (c0 = 0; c0 < SPAM_NCHECKERS; c0++)
					if (want & (1u << c0))
						assert_non_null(strstr(sv.via,
						    spam_checker_name(c0)));
				if (want)
					assert_true(spam_pct(sv.score,
					    sv.threshold) >= 100);
			}
}

static const struct counts_case {
	int	 arbitron, combine;
	int	 builtin, spamd;
} counts_cases[] = {
	{ CONF_SPAM_BUILTIN, CONF_COMBINE_EITHER, 1, 0 },
	{ CONF_SPAM_BUILTIN, CONF_COMBINE_ARBITRON, 1, 0 },
	{ CONF_SPAM_SPAMD, CONF_COMBINE_EITHER, 1, 1 },
	{ CONF_SPAM_SPAMD, CONF_COMBINE_ARBITRON, 0, 1 },
	{ CONF_SPAM_NONE, CONF_COMBINE_EITHER, 0, 0 },
	{ CONF_SPAM_NONE, CONF_COMBINE_ARBITRON, 0, 0 },
};

static void
test_combine_counts(void **state)
{
	struct mc_config cf;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(counts_cases) / sizeof(counts_cases[0]);
	    i++) {
		memset(&cf, 0, sizeof(cf));
		cf.spam_arbitron = counts_cases[i].arbitron;
		cf.spam_combine = counts_cases[i].combine;
		assert_int_equal(spam_counts(&cf, SPAM_BUILTIN),
		    counts_cases[i].builtin);
		assert_int_equal(spam_counts(&cf, SPAM_SPAMD),
		    counts_cases[i].spamd);
		assert_int_equal(spam_counts(&cf, SPAM_PERL), 1);
	}
}

/* The header fields say when spamd was not asked. */
static void
test_combine_fields(void **state)
{
	struct spam_verdict sv;
	char st[256], sc[64];

	(void)state;
	memset(&sv, 0, sizeof(sv));
	sv.check[SPAM_BUILTIN] = (struct spam_check)SPAM(12, 5);
	sv.check[SPAM_SPAMD] = (struct spam_check)SKIP;
	spam_combine(&sv);
	spam_fields(&sv, st, sizeof(st), sc, sizeof(sc));
	assert_string_equal(st, "Yes, score=12.0 required=5.0 (240%) "
	    "via=builtin builtin=12.0/5.0 spamd=skipped");
	assert_string_equal(sc, "12.0 (240%) builtin, spamd not asked");
	sv.check[SPAM_SPAMD] = (struct spam_check)HAM(1, 5);
	spam_combine(&sv);
	spam_fields(&sv, st, sizeof(st), sc, sizeof(sc));
	assert_string_equal(st, "Yes, score=12.0 required=5.0 (240%) "
	    "via=builtin builtin=12.0/5.0 spamd=1.0/5.0");
	assert_string_equal(sc, "12.0 (240%)");
	/* one checker: the field as before */
	sv.check[SPAM_SPAMD].state = SPAM_CHECK_OFF;
	spam_combine(&sv);
	spam_fields(&sv, st, sizeof(st), sc, sizeof(sc));
	assert_string_equal(st, "Yes, score=12.0 required=5.0 (240%) "
	    "via=builtin");
}

/* ---- spamd's answers, shared ------------------------------------- */

/* Threads putting and getting at once (meaningful under tsan). */
static void *
cache_thread(void *arg)
{
	struct spam_check a = SPAM(8, 5), got;
	unsigned char k[SPAM_CACHE_KEY];
	char req[32];
	unsigned i, seed = (unsigned)(uintptr_t)arg, hits = 0;

	for (i = 0; i < 2000; i++) {
		snprintf(req, sizeof(req), "r%u", (i * 7 + seed) % 50);
		spam_cache_key("u", "s", req, strlen(req), k);
		if (spam_cache_get(k, 32, 300, 1000, &got)) {
			hits++;
			if (got.score != 8 || got.state != SPAM_CHECK_DONE)
				return NULL;
		} else
			spam_cache_put(k, 32, 1000, &a);
	}
	return hits > 0 ? arg : NULL;
}

static void
test_cache_threads(void **state)
{
	pthread_t th[4];
	void *rv;
	uintptr_t i;

	(void)state;
	spam_cache_clear();
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, cache_thread,
		    (void *)(i + 1)), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], &rv), 0);
		assert_true(rv == (void *)(i + 1));
	}
	spam_cache_clear();
}

static void
test_cache(void **state)
{
	unsigned char k1[SPAM_CACHE_KEY], k2[SPAM_CACHE_KEY],
	    k3[SPAM_CACHE_KEY], k4[SPAM_CACHE_KEY], k5[SPAM_CACHE_KEY];
	struct spam_check a = SPAM(8, 5), h = HAM(1, 5), got, fail = FAIL;
	char req[64];
	unsigned i, hits;

	(void)state;
	spam_cache_clear();
	spam_cache_key("bob", "127.0.0.1:783", "REQ", 3, k1);
	/* the user, the servers, the bytes: each changes the key */
	spam_cache_key("al", "127.0.0.1:783", "REQ", 3, k2);
	spam_cache_key("bob", "127.0.0.1:784", "REQ", 3, k3);
	spam_cache_key("bob", "127.0.0.1:783", "REQ.", 4, k4);
	/* no two splits of the same bytes give one key */
	spam_cache_key("bo", "b127.0.0.1:783", "REQ", 3, k5);
	assert_memory_not_equal(k1, k2, SPAM_CACHE_KEY);
	assert_memory_not_equal(k1, k3, SPAM_CACHE_KEY);
	assert_memory_not_equal(k1, k4, SPAM_CACHE_KEY);
	assert_memory_not_equal(k1, k5, SPAM_CACHE_KEY);
	spam_cache_key("bob", "127.0.0.1:783", "REQ", 3, k5);
	assert_memory_equal(k1, k5, SPAM_CACHE_KEY);

	/* off: nothing kept */
	spam_cache_put(k1, 0, 100, &a);
	assert_int_equal(spam_cache_get(k1, 0, 300, 100, &got), 0);
	/* a hit within the age, none past it, none for another key */
	spam_cache_put(k1, 64, 100, &a);
	assert_int_equal(spam_cache_get(k1, 64, 300, 399, &got), 1);
	assert_int_equal(got.state, SPAM_CHECK_DONE);
	assert_int_equal(got.is_spam, 1);
	assert_true(got.score == 8 && got.threshold == 5);
	assert_int_equal(spam_cache_get(k1, 64, 300, 401, &got), 0);
	assert_int_equal(spam_cache_get(k2, 64, 300, 101, &got), 0);
	/* a clock that went back finds nothing */
	assert_int_equal(spam_cache_get(k1, 64, 300, 99, &got), 0);
	/* a newer answer replaces the old one; failures are never kept */
	spam_cache_put(k1, 64, 200, &h);
	assert_int_equal(spam_cache_get(k1, 64, 300, 201, &got), 1);
	assert_int_equal(got.is_spam, 0);
	spam_cache_put(k2, 64, 200, &fail);
	assert_int_equal(spam_cache_get(k2, 64, 300, 201, &got), 0);
	/* a new size (a reload) empties the table */
	assert_int_equal(spam_cache_get(k1, 128, 300, 201, &got), 0);

	/* bounded: 1000 distinct requests into 16 entries keep at most 16 */
	for (i = 0; i < 1000; i++) {
		snprintf(req, sizeof(req), "request %u", i);
		spam_cache_key("bob", "s", req, strlen(req), k1);
		spam_cache_put(k1, 16, 1000 + i, &a);
	}
	for (i = hits = 0; i < 1000; i++) {
		snprintf(req, sizeof(req), "request %u", i);
		spam_cache_key("bob", "s", req, strlen(req), k1);
		hits += (unsigned)spam_cache_get(k1, 16, 100000, 2000, &got);
	}
	assert_true(hits > 0 && hits <= 16);
	/* the most recent request is always kept (the oldest goes) */
	assert_int_equal(spam_cache_get(k1, 16, 100000, 2000, &got), 1);
	spam_cache_clear();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_kinds),
		cmocka_unit_test(test_list_file),
		cmocka_unit_test(test_list_errors),
		cmocka_unit_test(test_sa_tree),
		cmocka_unit_test(test_sa_misc),
		cmocka_unit_test(test_sa_hostile),
		cmocka_unit_test(test_stats_basic),
		cmocka_unit_test(test_stats_features),
		cmocka_unit_test(test_stats_chunking),
		cmocka_unit_test(test_weights_file),
		cmocka_unit_test(test_spamd_fake),
		cmocka_unit_test(test_spamd_parse),
		cmocka_unit_test(test_spamd_tell),
		cmocka_unit_test(test_spamd_parse_tell),
		cmocka_unit_test(test_spamd_real),
		cmocka_unit_test(test_combine_table),
		cmocka_unit_test(test_combine_property),
		cmocka_unit_test(test_combine_counts),
		cmocka_unit_test(test_combine_fields),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_cache_threads),
	};

	return cmocka_run_group_tests(tests, setup_w, teardown_w);
}
