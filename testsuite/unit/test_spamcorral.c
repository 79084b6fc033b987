/*
 * test_spamcorral.c -- the SpamCorral helpers: digest tokens bound to the
 * entry and its content (SC-C6, every one-digit mutation refused), the
 * hashing reader, local domains (SC-R9), the reply parser (loop headers
 * of SC-R6, envelope sender, HTML/base64/QP text, identifier finder) and
 * the robot's state (SC-R4 threshold and window, SC-R6 answer interval,
 * bounded file, safe load/save), digest text cleaning (SC-R8), the
 * recipient check and the argv of sendmail (SC-R12), the expiry rule
 * (SC-R13).
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "bypass.h"
#include "conf.h"
#include "confsnap.h"
#include "spamcorral/spamcorral.h"
#include "util.h"

static const unsigned char KEY[32] = "0123456789abcdef0123456789abcde";
static const char NAME[] = "spam_to_jblow@example.org_6B0299F2F266C000";
static const char SAFE[] = "jblow@example.org";

static void
hash_of(const char *s, unsigned char h[SC_HASH_LEN])
{
	char path[] = "/tmp/mc-sc-hash-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	lseek(fd, 0, SEEK_SET);
	assert_int_equal(sc_read_hash(fd, NULL, 0, 1 << 20, h), 0);
	close(fd);
}

/* ---- tokens ---- */

static void
test_token_roundtrip(void **state)
{
	unsigned char h[SC_HASH_LEN], h2[SC_HASH_LEN];
	char tok[SC_TOKEN_HEX + 1];
	size_t i;

	(void)state;
	hash_of("the message", h);
	hash_of("the message!", h2);
	assert_int_equal(sc_token(KEY, NAME, SAFE, h, tok), 0);
	assert_int_equal(strlen(tok), SC_TOKEN_HEX);
	for (i = 0; i < SC_TOKEN_HEX; i++)
		assert_true(strchr("0123456789abcdef", tok[i]) != NULL);
	assert_int_equal(sc_token_check(KEY, NAME, SAFE, h, tok), SC_TOK_OK);
	/* the entry is gone: the entry half alone still tells forged from
	   genuine */
	assert_int_equal(sc_token_check(KEY, NAME, SAFE, NULL, tok),
	    SC_TOK_OK);
	/* other content: SC-C6 */
	assert_int_equal(sc_token_check(KEY, NAME, SAFE, h2, tok),
	    SC_TOK_CHANGED);
	/* another recipient or entry */
	assert_int_equal(sc_token_check(KEY, NAME, "jdoe@example.org", h, tok),
	    SC_TOK_BAD);
	assert_int_equal(sc_token_check(KEY,
	    "spam_to_jblow@example.org_6B0299F2F266C001", SAFE, h, tok),
	    SC_TOK_BAD);
	assert_int_equal(sc_token_check(KEY, NAME, SAFE, h, "abc"),
	    SC_TOK_BAD);
}

static void
test_token_mutations(void **state)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char h[SC_HASH_LEN];
	char tok[SC_TOKEN_HEX + 1], m[SC_TOKEN_HEX + 1];
	size_t i, k;
	enum sc_tok t;

	(void)state;
	hash_of("x", h);
	assert_int_equal(sc_token(KEY, NAME, SAFE, h, tok), 0);
	for (i = 0; i < SC_TOKEN_HEX; i++)
		for (k = 0; k < 16; k++) {
			if (hex[k] == tok[i])
				continue;
			memcpy(m, tok, sizeof(m));
			m[i] = hex[k];
			t = sc_token_check(KEY, NAME, SAFE, h, m);
			assert_int_not_equal(t, SC_TOK_OK);
			/* the first half decides forged vs. changed */
			assert_int_equal(t, i < SC_TOKEN_HEX / 2 ? SC_TOK_BAD :
			    SC_TOK_CHANGED);
		}
}

/* A one-part token as digests made before the content half. */
static void
test_token_old_digest(void **state)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char h[SC_HASH_LEN], mac[32];
	char old[SC_TOKEN_HEX + 1];
	struct buf b = BUF_INIT;
	unsigned char lp[4];
	size_t i;

	(void)state;
	buf_adds(&b, "MC-DIGEST-v1");
	lp[0] = lp[1] = lp[2] = 0;
	lp[3] = (unsigned char)strlen(NAME);
	buf_add(&b, lp, 4);
	buf_adds(&b, NAME);
	lp[3] = (unsigned char)strlen(SAFE);
	buf_add(&b, lp, 4);
	buf_adds(&b, SAFE);
	assert_int_equal(bypass_hmac_sha256(KEY, 32, b.data, b.len, mac), 0);
	buf_free(&b);
	for (i = 0; i < 16; i++) {
		old[2 * i] = hex[mac[i] >> 4];
		old[2 * i + 1] = hex[mac[i] & 15];
	}
	old[SC_TOKEN_HEX] = '\0';
	hash_of("anything", h);
	assert_int_equal(sc_token_check(KEY, NAME, SAFE, h, old), SC_TOK_OLD);
	assert_int_equal(sc_token_check(KEY, NAME, SAFE, NULL, old),
	    SC_TOK_OK);
}

static void
test_read_hash(void **state)
{
	static const unsigned char abc[SC_HASH_LEN] = {
	    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
	    0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
	    0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
	char path[] = "/tmp/mc-sc-rh-XXXXXX";
	unsigned char h[SC_HASH_LEN];
	struct buf b = BUF_INIT;
	int fd;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	unlink(path);
	assert_int_equal(write(fd, "abc", 3), 3);
	lseek(fd, 0, SEEK_SET);
	assert_int_equal(sc_read_hash(fd, &b, 2, 100, h), 0);
	assert_memory_equal(h, abc, SC_HASH_LEN);	/* all bytes hashed */
	assert_int_equal(b.len, 2);			/* 2 kept */
	buf_free(&b);
	lseek(fd, 0, SEEK_SET);
	assert_int_equal(sc_read_hash(fd, &b, 100, 3, h), 0);
	assert_string_equal(b.data, "abc");
	buf_free(&b);
	lseek(fd, 0, SEEK_SET);
	assert_int_equal(sc_read_hash(fd, &b, 100, 2, h), -1);
	assert_int_equal(errno, ERANGE);
	buf_free(&b);
	close(fd);
}

/* ---- local domains ---- */

static void
test_domains(void **state)
{
	struct sc_domains d;
	char err[256], path[] = "/tmp/mc-sc-dom-XXXXXX", spec[64];
	int fd;

	(void)state;
	/* default: the robot's domain and the MTA's names (no cw file) */
	assert_int_equal(sc_domains_load_cw("", "spamcorral@Example.ORG",
	    "/nonexistent/local-host-names", &d, err, sizeof(err)), 0);
	assert_true(d.n >= 3);
	assert_true(sc_domains_match(&d, "a@example.org"));
	assert_true(sc_domains_match(&d, "a@EXAMPLE.org."));
	assert_true(sc_domains_match(&d, "jblow"));
	assert_false(sc_domains_match(&d, "a@sub.example.org"));
	assert_false(sc_domains_match(&d, "a@example.org.evil.test"));
	assert_false(sc_domains_match(&d, "a@xexample.org"));
	assert_false(sc_domains_match(&d, "example.org@evil.test"));
	sc_domains_free(&d);
	/* the default holds what sendmail's class w does: local-host-names,
	   localhost, this host's name (issue 17: digests reach user@domain
	   with a robot address without a domain) */
	{
		char host[256], addr[300], cw[] = "/tmp/mc-sc-cw-XXXXXX";
		int cfd;

		assert_int_equal(gethostname(host, sizeof(host)), 0);
		host[sizeof(host) - 1] = '\0';
		assert_true((cfd = mkstemp(cw)) != -1);
		assert_int_equal(write(cfd, "# cw\nmail.example.net\n"
		    "Example.COM other.test\n", 45), 45);
		close(cfd);
		assert_int_equal(sc_domains_load_cw("", "spamcorral", cw, &d,
		    err, sizeof(err)), 0);
		assert_true(sc_domains_match(&d, "u@mail.example.net"));
		assert_true(sc_domains_match(&d, "u@example.com"));
		assert_true(sc_domains_match(&d, "u@other.test"));
		assert_true(sc_domains_match(&d, "u@localhost"));
		snprintf(addr, sizeof(addr), "u@%s", host);
		assert_true(sc_domains_match(&d, addr));
		assert_false(sc_domains_match(&d, "u@example.net"));
		assert_false(sc_domains_match(&d, "u@evil.test"));
		assert_false(sc_domains_match(&d, "u@cw"));
		sc_domains_free(&d);
		/* an explicit list replaces the default entirely */
		assert_int_equal(sc_domains_load_cw("only.test", "spamcorral",
		    cw, &d, err, sizeof(err)), 0);
		assert_int_equal(d.n, 1);
		assert_false(sc_domains_match(&d, "u@localhost"));
		assert_false(sc_domains_match(&d, "u@mail.example.net"));
		sc_domains_free(&d);
		unlink(cw);
		/* a cw file that exists but cannot be read is an error */
		assert_int_equal(sc_domains_load_cw("", "spamcorral", "/", &d,
		    err, sizeof(err)), -1);
		assert_non_null(strstr(err, "local_domains"));
	}
	/* a list; *.domain is every subdomain, not the domain */
	assert_int_equal(sc_domains_load(" a.test, *.b.test\tc.test ",
	    "spamcorral@example.org", &d, err, sizeof(err)), 0);
	assert_int_equal(d.n, 3);
	assert_true(sc_domains_match(&d, "x@A.test"));
	assert_true(sc_domains_match(&d, "x@mx.b.test"));
	assert_false(sc_domains_match(&d, "x@b.test"));
	assert_false(sc_domains_match(&d, "x@evilb.test"));
	assert_true(sc_domains_match(&d, "x@c.test"));
	assert_false(sc_domains_match(&d, "x@example.org"));
	sc_domains_free(&d);
	/* no list, robot without a domain: unqualified addresses and the
	   MTA's names (it was unqualified addresses only: issue 17) */
	assert_int_equal(sc_domains_load_cw("", "spamcorral",
	    "/nonexistent/local-host-names", &d, err, sizeof(err)), 0);
	assert_true(d.n >= 2);
	assert_true(sc_domains_match(&d, "jblow"));
	assert_true(sc_domains_match(&d, "jblow@localhost"));
	assert_false(sc_domains_match(&d, "jblow@example.org"));
	sc_domains_free(&d);
	/* file: sendmail's local-host-names */
	assert_true((fd = mkstemp(path)) >= 0);
	assert_true(write(fd, "# local\nmx.test\nlocalhost # x\n\n*.y.test\n",
	    40) == 40);
	close(fd);
	snprintf(spec, sizeof(spec), "file:%s z.test", path);
	assert_int_equal(sc_domains_load(spec, "r@example.org", &d, err,
	    sizeof(err)), 0);
	assert_int_equal(d.n, 4);
	assert_true(sc_domains_match(&d, "a@mx.test"));
	assert_true(sc_domains_match(&d, "a@localhost"));
	assert_true(sc_domains_match(&d, "a@q.y.test"));
	assert_true(sc_domains_match(&d, "a@z.test"));
	assert_false(sc_domains_match(&d, "a@example.org"));
	sc_domains_free(&d);
	unlink(path);
	assert_int_equal(sc_domains_load(spec, "r@example.org", &d, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "local_domains"));
}

/* ---- the reply parser ---- */

static struct mc_config *cf;

static int
load_conf(void **state)
{
	char err[256];

	(void)state;
	return conf_load(NULL, &cf, err, sizeof(err));
}

static int
free_conf(void **state)
{
	(void)state;
	conf_free(cf);
	return 0;
}

static void
parse(struct sc_reply *r, const char *m)
{
	assert_int_equal(sc_reply_parse(r, &cf->limits, m, strlen(m)), 0);
}

static const char *
loop_of(const char *hdrs)
{
	static char why[64];
	struct sc_reply r;
	char m[1024];
	const char *w;

	snprintf(m, sizeof(m), "From u@x.test Sat Nov 22 07:00:00 2026\n"
	    "From: u@x.test\n%s\nhello\n", hdrs);
	parse(&r, m);
	w = sc_reply_loop(&r);
	snprintf(why, sizeof(why), "%s", w ? w : "none");
	sc_reply_free(&r);
	return why;
}

static void
test_reply_loops(void **state)
{
	(void)state;
	assert_string_equal(loop_of("Subject: re"), "none");
	assert_string_equal(loop_of("Auto-Submitted: no"), "none");
	assert_string_equal(loop_of("Auto-Submitted: No (a person)"), "none");
	assert_string_equal(loop_of("Auto-Submitted: auto-replied"),
	    "auto-submitted");
	assert_string_equal(loop_of("Auto-Submitted: nope"), "auto-submitted");
	assert_string_equal(loop_of("Auto-Submitted:"), "auto-submitted");
	assert_string_equal(loop_of("X-Autoreply: yes"), "auto-submitted");
	assert_string_equal(loop_of("X-Autorespond: x"), "auto-submitted");
	assert_string_equal(loop_of("Precedence: bulk"), "precedence");
	assert_string_equal(loop_of("Precedence: JUNK"), "precedence");
	assert_string_equal(loop_of("Precedence: list"), "precedence");
	assert_string_equal(loop_of("Precedence: auto_reply"), "precedence");
	assert_string_equal(loop_of("Precedence: first-class"), "none");
	assert_string_equal(loop_of("List-Id: <a.b.c>"), "list-id");
	assert_string_equal(loop_of("List-Unsubscribe: <mailto:x>"),
	    "list-id");
	assert_string_equal(loop_of("X-SpamCorral: digest"), "own-digest");
}

static void
test_reply_sender(void **state)
{
	struct sc_reply r;

	(void)state;
	parse(&r, "From jblow@example.org  Sat Nov 22 07:00:00 2026\n"
	    "Return-Path: <other@example.org>\nFrom: J <jblow@example.org>\n"
	    "From: second@example.org\n\nx\n");
	assert_string_equal(r.sender, "jblow@example.org");
	assert_string_equal(r.from, "jblow@example.org");
	assert_int_equal(r.nfrom, 2);
	sc_reply_free(&r);
	parse(&r, "Return-Path: <rp@example.org>\nFrom: rp@example.org\n\nx\n");
	assert_string_equal(r.sender, "rp@example.org");
	sc_reply_free(&r);
	parse(&r, "Return-Path: <>\nFrom: rp@example.org\n\nx\n");
	assert_string_equal(r.sender, "<>");
	sc_reply_free(&r);
	parse(&r, "From: rp@example.org\n\nx\n");
	assert_string_equal(r.sender, "");
	sc_reply_free(&r);
}

#define ID1 "MC-6B0299F2F266C000-0123456789abcdef0123456789abcdef"
#define ID2 "MC-6B0299F2F266C001-fedcba9876543210fedcba9876543210"

static void
test_reply_text(void **state)
{
	struct sc_ident ids[8];
	struct sc_reply r;
	size_t n;

	(void)state;
	/* HTML: inline tags inside, block tags around, a reference for
	   the '-', identifiers in a comment are not text */
	parse(&r, "From: a@b.test\nContent-Type: text/html\n\n"
	    "<p>yes</p><blockquote>[<b>MC-6B0299F2F266C000</b>&#45;"
	    "0123456789abcdef0123456789abcdef]</blockquote>"
	    "<!-- " ID2 " --><div>x</div>\n");
	n = sc_find_idents(r.text.data, r.text.len, ids, 8);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0].id, "6B0299F2F266C000");
	assert_string_equal(ids[0].tok, "0123456789abcdef0123456789abcdef");
	sc_reply_free(&r);
	/* base64 HTML and quoted-printable text in multipart/alternative,
	   the same identifier twice: counted once */
	parse(&r, "From: a@b.test\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/alternative; boundary=bb\n\n"
	    "--bb\nContent-Type: text/plain\n"
	    "Content-Transfer-Encoding: quoted-printable\n\n"
	    "> [MC-6B0299F2F266C001-fedcba9876543210fedcba98765=\n43210]\n"
	    "--bb\nContent-Type: text/html\nContent-Transfer-Encoding: base64\n"
	    "\nPHA+W01DLTZCMDI5OUYyRjI2NkMwMDEtZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4"
	    "NzY1NDMyMTBdPC9wPg==\n--bb--\n");
	n = sc_find_idents(r.text.data, r.text.len, ids, 8);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0].id, "6B0299F2F266C001");
	sc_reply_free(&r);
	/* attachments that are not text are not searched */
	parse(&r, "From: a@b.test\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/mixed; boundary=bb\n\n"
	    "--bb\nContent-Type: application/octet-stream\n\n" ID1 "\n"
	    "--bb--\n");
	assert_int_equal(sc_find_idents(r.text.data ? r.text.data : "",
	    r.text.len, ids, 8), 0);
	sc_reply_free(&r);
}

static void
test_find_idents(void **state)
{
	struct sc_ident ids[4];
	const char *t;

	(void)state;
	t = "> [" ID1 "]\n> [" ID2 "]\n[" ID1 "]\n";
	assert_int_equal(sc_find_idents(t, strlen(t), ids, 4), 2);
	assert_int_equal(sc_find_idents(t, strlen(t), ids, 1), 1);
	/* case: the id is upper-cased, the token lower-cased */
	t = "mc-6b0299f2f266c000-0123456789ABCDEF0123456789ABCDEF";
	assert_int_equal(sc_find_idents(t, strlen(t), ids, 4), 1);
	assert_string_equal(ids[0].id, "6B0299F2F266C000");
	assert_string_equal(ids[0].tok, "0123456789abcdef0123456789abcdef");
	/* not inside a longer word, not truncated, not longer */
	t = "X" ID1;
	assert_int_equal(sc_find_idents(t, strlen(t), ids, 4), 0);
	t = ID1 "0";
	assert_int_equal(sc_find_idents(t, strlen(t), ids, 4), 0);
	t = "MC-6B0299F2F266C000-0123456789abcdef0123456789abcde";
	assert_int_equal(sc_find_idents(t, strlen(t), ids, 4), 0);
	assert_int_equal(sc_find_idents("MC-", 3, ids, 4), 0);
	assert_int_equal(sc_find_idents("", 0, ids, 4), 0);
	/* back to back, separated by punctuation */
	t = ID1 "," ID2;
	assert_int_equal(sc_find_idents(t, strlen(t), ids, 4), 2);
}

/* ---- the robot's state ---- */

static const struct sc_limits LIM = { 10, 3600, 3600 };

static void
test_state_failures(void **state)
{
	struct sc_state *st = sc_state_new();
	time_t t0 = 1700000000;
	unsigned i;

	(void)state;
	assert_non_null(st);
	for (i = 0; i < 9; i++)
		assert_int_equal(sc_state_fail(st, "u@x.test", 1, t0 + i, &LIM),
		    0);
	assert_int_equal(sc_state_blocked(st, "u@x.test", t0 + 9), 0);
	/* the 10th failure within the window blocks for the window */
	assert_int_equal(sc_state_fail(st, "u@x.test", 1, t0 + 9, &LIM), 1);
	assert_int_equal(sc_state_blocked(st, "u@x.test", t0 + 10),
	    t0 + 9 + 3600);
	assert_int_equal(sc_state_blocked(st, "v@x.test", t0 + 10), 0);
	assert_int_equal(sc_state_blocked(st, "u@x.test", t0 + 9 + 3599),
	    t0 + 9 + 3600);
	assert_int_equal(sc_state_blocked(st, "u@x.test", t0 + 9 + 3600), 0);
	/* after it, a new window: 9 more are not enough */
	assert_int_equal(sc_state_fail(st, "u@x.test", 9, t0 + 3700, &LIM),
	    0);
	assert_int_equal(sc_state_blocked(st, "u@x.test", t0 + 3701), 0);
	/* failures spread over more than the window never block */
	assert_int_equal(sc_state_fail(st, "w@x.test", 9, t0, &LIM), 0);
	assert_int_equal(sc_state_fail(st, "w@x.test", 9, t0 + 3600, &LIM), 0);
	assert_int_equal(sc_state_blocked(st, "w@x.test", t0 + 3601), 0);
	/* many at once */
	assert_int_equal(sc_state_fail(st, "z@x.test", 500, t0, &LIM), 1);
	assert_int_equal(sc_state_fail(st, "z@x.test", 1, t0 + 1, &LIM), 0);
	sc_state_free(st);
}

static void
test_state_replies(void **state)
{
	struct sc_state *st = sc_state_new();
	struct sc_limits none = { 10, 3600, 0 };
	time_t t0 = 1700000000;

	(void)state;
	assert_true(sc_state_may_reply(st, "u@x.test", t0, &LIM));
	assert_int_equal(sc_state_replied(st, "u@x.test", t0), 0);
	assert_false(sc_state_may_reply(st, "u@x.test", t0 + 3599, &LIM));
	assert_true(sc_state_may_reply(st, "v@x.test", t0 + 1, &LIM));
	assert_true(sc_state_may_reply(st, "u@x.test", t0 + 3600, &LIM));
	assert_true(sc_state_may_reply(st, "u@x.test", t0 + 1, &none));
	/* keys are checked */
	assert_int_equal(sc_state_replied(st, "a b", t0), -1);
	assert_int_equal(sc_state_replied(st, "", t0), -1);
	sc_state_free(st);
}

static void
test_state_key(void **state)
{
	char k[CORRAL_RCPT_MAX + 1];

	(void)state;
	assert_int_equal(sc_state_key("<JBlow@Example.ORG>", k, sizeof(k)), 0);
	assert_string_equal(k, "jblow@example.org");
	assert_int_equal(sc_state_key("a b\n@x", k, sizeof(k)), 0);
	assert_null(strpbrk(k, " \n"));
	assert_int_equal(sc_state_key("", k, sizeof(k)), -1);
}

static void
test_state_format(void **state)
{
	struct sc_state *st = sc_state_new(), *st2;
	struct buf b = BUF_INIT;
	time_t t0 = 1700000000;
	char key[64];
	unsigned i;

	(void)state;
	sc_state_fail(st, "a@x.test", 10, t0, &LIM);	/* blocked */
	sc_state_fail(st, "b@x.test", 3, t0, &LIM);	/* counting */
	sc_state_replied(st, "c@x.test", t0);		/* answered */
	sc_state_fail(st, "d@x.test", 3, t0 - 4000, &LIM);	/* stale */
	assert_int_equal(sc_state_format(st, t0 + 1, &LIM, &b), 0);
	assert_int_equal(sc_state_count(st), 3);
	assert_non_null(strstr(b.data, "a@x.test 1700000000 10 1700003600 0\n"));
	assert_null(strstr(b.data, "d@x.test"));
	/* parse back, with junk lines mixed in */
	buf_adds(&b, "junk\nx@y 1 2\ne@x.test 1 2 3 4 5\nf@x.test -1 0 0 0\n"
	    "g@x.test 99999999999999999999 0 0 0\n#c 1 1 1 1\n"
	    "h/x 1 1 1 1\n\nb@x.test 1700000000 4 0 0");
	st2 = sc_state_new();
	sc_state_parse(st2, b.data, b.len);
	assert_int_equal(sc_state_count(st2), 3);
	assert_int_equal(sc_state_blocked(st2, "a@x.test", t0 + 5), t0 + 3600);
	assert_false(sc_state_may_reply(st2, "c@x.test", t0 + 5, &LIM));
	/* the later b line won: 4 + 6 = 10 */
	assert_int_equal(sc_state_fail(st2, "b@x.test", 6, t0 + 5, &LIM), 1);
	sc_state_free(st2);
	buf_free(&b);
	/* everything over: nothing to remember */
	assert_int_equal(sc_state_format(st, t0 + 7200, &LIM, &b), 0);
	assert_int_equal(sc_state_count(st), 0);
	buf_free(&b);
	/* the cap: blocked senders are evicted last */
	for (i = 0; i < SC_STATE_MAX + 200; i++) {
		snprintf(key, sizeof(key), "n%u@x.test", i);
		sc_state_fail(st, key, 1, t0 + i, &LIM);
	}
	sc_state_fail(st, "blocked@x.test", 10, t0, &LIM);
	assert_int_equal(sc_state_format(st, t0 + 1300, &LIM, &b), 0);
	assert_int_equal(sc_state_count(st), SC_STATE_MAX);
	assert_int_not_equal(sc_state_blocked(st, "blocked@x.test", t0 + 1300),
	    0);
	assert_null(strstr(b.data, "n0@x.test "));	/* oldest went */
	assert_non_null(strstr(b.data, "n1199@x.test "));
	buf_free(&b);
	sc_state_free(st);
}

static void
test_state_file(void **state)
{
	char dir[] = "/tmp/mc-sc-state-XXXXXX", p[128], q[128], err[256];
	struct sc_state *st;
	struct stat sb;
	time_t t0 = time(NULL);
	int dfd, fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_true((dfd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0);
	/* absent: empty */
	assert_non_null(st = sc_state_load(dfd, err, sizeof(err)));
	assert_int_equal(sc_state_count(st), 0);
	sc_state_fail(st, "u@x.test", 10, t0, &LIM);
	assert_int_equal(sc_state_save(st, dfd, t0, &LIM, err, sizeof(err)),
	    0);
	sc_state_free(st);
	snprintf(p, sizeof(p), "%s/%s", dir, SC_STATE_FILE);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	snprintf(q, sizeof(q), "%s/%s.new", dir, SC_STATE_FILE);
	assert_int_equal(access(q, F_OK), -1);		/* temp renamed */
	/* persists across "runs" */
	assert_non_null(st = sc_state_load(dfd, err, sizeof(err)));
	assert_int_not_equal(sc_state_blocked(st, "u@x.test", t0 + 1), 0);
	/* a left-over temp file does not stop a save */
	assert_true((fd = open(q, O_WRONLY | O_CREAT, 0600)) >= 0);
	close(fd);
	assert_int_equal(sc_state_save(st, dfd, t0, &LIM, err, sizeof(err)),
	    0);
	sc_state_free(st);
	/* a hard-linked or symlinked state file is refused */
	assert_int_equal(link(p, q), 0);
	assert_null(sc_state_load(dfd, err, sizeof(err)));
	unlink(q);
	unlink(p);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	assert_null(sc_state_load(dfd, err, sizeof(err)));
	unlink(p);
	close(dfd);
	rmdir(dir);
}

/* ---- SC-R8: what the digest shows of a spam's From and Subject ---- */

/* Code points of a UTF-8 string. */
static size_t
u8len(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static void
test_clean_text(void **state)
{
	static const char *const crlf[] = {
	    /* "a\r\nBcc: x@y\r\nX-Injected: z", RFC 2047 base64 */
	    "=?utf-8?b?YQ0KQmNjOiB4QHkNClgtSW5qZWN0ZWQ6IHo=?=",
	    "=?utf-8?q?a=0D=0ABcc:_x@y=0D=0AX-Injected:_z?=",
	    "a\r\nBcc: x@y\rX-Injected: z",
	    NULL };
	char out[4 * 200 + 16], big[10 * 1024 + 1];
	const char *in;
	size_t i, n;

	(void)state;
	for (i = 0; crlf[i] != NULL; i++) {
		sc_clean_text(crlf[i], strlen(crlf[i]), out, sizeof(out), 186);
		assert_string_equal(out, "a Bcc: x@y X-Injected: z");
	}
	/* HTML stays text (the digest is text/plain); bidi and format
	   characters go, ESC and NUL become a space */
	in = "=?utf-8?b?PGI+Ujg8L2I+4oCu4oGmG1swbQA=?=";
	sc_clean_text(in, strlen(in), out, sizeof(out), 186);
	assert_string_equal(out, "<b>R8</b> [0m");
	/* NUL, DEL, C1 NEL; raw 8-bit is read as Latin-1 (valid UTF-8 out) */
	in = "x\x00y\x7fz\xc2\x85w\xff";
	sc_clean_text(in, 9, out, sizeof(out), 186);
	assert_string_equal(out, "x y z w\xc3\xbf");
	/* BI-17: raw Latin-1, an overlong '/' (C0 AF) and a lone surrogate
	   (ED A0 80) are read as Latin-1, so the line is valid UTF-8 with
	   no '/' and no surrogate; a real 4-byte character is kept */
	in = "caf\xe9 \xc0\xaf \xed\xa0\x80 \xf0\x9f\x98\x80";
	sc_clean_text(in, strlen(in), out, sizeof(out), 186);
	assert_string_equal(out, "caf\xc3\xa9 \xc3\x80\xc2\xaf "
	    "\xc3\xad\xc2\xa0 \xf0\x9f\x98\x80");
	/* the cut counts every code point, collapsed spaces too */
	in = "a b c d e f g";
	sc_clean_text(in, strlen(in), out, sizeof(out), 5);
	assert_string_equal(out, "a b c...");
	in = "ab   \t\r\n  cd";
	sc_clean_text(in, strlen(in), out, sizeof(out), 4);
	assert_string_equal(out, "ab c...");
	/* 10 KB of words and of one word: at most 186 + "..." */
	for (i = 0; i + 1 < sizeof(big); i++)
		big[i] = i % 5 == 4 ? ' ' : 'w';
	big[sizeof(big) - 1] = '\0';
	sc_clean_text(big, strlen(big), out, sizeof(out), 186);
	assert_int_equal(u8len(out), 189);
	assert_int_equal(strcmp(out + strlen(out) - 3, "..."), 0);
	memset(big, 'x', sizeof(big) - 1);
	sc_clean_text(big, strlen(big), out, sizeof(out), 186);
	assert_int_equal(u8len(out), 189);
	/* four-byte characters fill the smallest buffer documented */
	n = 0;
	for (i = 0; i < 300; i++) {
		memcpy(big + n, "\xf0\x9f\x98\x80", 4);	/* U+1F600 */
		n += 4;
	}
	sc_clean_text(big, n, out, 4 * 186 + 12, 186);
	assert_int_equal(u8len(out), 189);
	assert_int_equal(strlen(out), 4 * 186 + 3);
	assert_int_equal(strcmp(out + strlen(out) - 3, "..."), 0);
}

/* ---- SC-R12: recipients on sendmail's command line ---- */

static void
test_addr_ok(void **state)
{
	static const char *const good[] = {
	    "jblow@example.org", "jblow",
	    "$(touch${IFS}/tmp/pwned)@example.org",
	    "`touch${IFS}/tmp/pwned`@example.org",
	    ";touch${IFS}/tmp/pwned;@example.org", "|cmd@example.org",
	    "../../etc/passwd@example.org", "a&&b'\"c@example.org",
	    NULL };
	static const char *const bad[] = {
	    "", "-oQ/tmp@example.org", "-X/tmp/log", "-", "--",
	    "a b@example.org", "a\nb@example.org", "a\rb@example.org",
	    "a\tb@example.org", "a\x1b[2Jb@example.org", "a\x7f@example.org",
	    ";touch /tmp/pwned@example.org",
	    NULL };
	char longest[SC_ADDR_MAX + 2];
	size_t i;

	(void)state;
	for (i = 0; good[i] != NULL; i++)
		assert_true(sc_addr_ok(good[i]));
	for (i = 0; bad[i] != NULL; i++)
		assert_false(sc_addr_ok(bad[i]));
	memset(longest, 'a', sizeof(longest) - 1);
	longest[SC_ADDR_MAX] = '\0';
	assert_true(sc_addr_ok(longest));
	longest[SC_ADDR_MAX] = 'a';
	longest[SC_ADDR_MAX + 1] = '\0';
	assert_false(sc_addr_ok(longest));
}

/* Reads the NUL-separated argv the fake sendmail stored, or NULL. */
static char *
read_file(const char *path, size_t *len)
{
	static char b[4096];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	n = read(fd, b, sizeof(b) - 1);
	close(fd);
	assert_true(n >= 0);
	b[n] = '\0';
	*len = (size_t)n;
	return b;
}

static void
test_sendmail_argv(void **state)
{
	static const char body[] = "Subject: x\n\nhello\n";
	/* each recipient is pre + the test directory + post */
	static const struct { const char *pre, *post; } hostile[] = {
	    { "$(touch${IFS}", "/pwned)@example.org" },
	    { "`touch${IFS}", "/pwned`@example.org" },
	    { ";touch${IFS}", "/pwned;@example.org" },
	    { "|touch${IFS}", "/pwned" },
	    { "..", "/../pwned@example.org" },
	    { "a&&touch${IFS}", "/pwned'\"@x" },
	    { NULL, NULL } }, refused[] = {
	    { "-oQ", "/q@example.org" }, { "-X", "/pwned" },
	    { "a;touch ", "/pwned" }, { "a\ntouch${IFS}", "/pwned" },
	    { "\t", "" }, { NULL, NULL } };
	char dir[] = "/tmp/mc-sc-argv-XXXXXX", script[128], args[128];
	char msg[128], rcpt[256], want[512], pwned[128];
	const char *got;
	size_t i, n, wl;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(script, sizeof(script), "%s/sendmail", dir);
	snprintf(args, sizeof(args), "%s/args", dir);
	snprintf(msg, sizeof(msg), "%s/msg", dir);
	snprintf(pwned, sizeof(pwned), "%s/pwned", dir);
	/* a stand-in that stores its arguments, NUL-separated, and stdin */
	assert_true((fd = open(script, O_WRONLY | O_CREAT | O_EXCL, 0700)) >=
	    0);
	dprintf(fd, "#!/bin/sh\nprintf '%%s\\0' \"$@\" > %s\ncat > %s\n",
	    args, msg);
	close(fd);
	for (i = 0; hostile[i].pre != NULL; i++) {
		snprintf(rcpt, sizeof(rcpt), "%s%s%s", hostile[i].pre, dir,
		    hostile[i].post);
		unlink(args);
		assert_int_equal(sc_sendmail(script, "spamcorral", rcpt,
		    body, sizeof(body) - 1), 0);
		/* exactly -oi -f spamcorral -- <rcpt>: one argument each */
		wl = (size_t)snprintf(want, sizeof(want), "-oi%c-f%cspamcorral%c"
		    "--%c%s%c", 0, 0, 0, 0, rcpt, 0);
		assert_non_null(got = read_file(args, &n));
		assert_int_equal(n, wl);
		assert_memory_equal(got, want, wl);
		/* the message on standard input, byte for byte */
		assert_non_null(got = read_file(msg, &n));
		assert_int_equal(n, sizeof(body) - 1);
		assert_memory_equal(got, body, n);
		assert_int_equal(access(pwned, F_OK), -1);	/* no shell */
	}
	/* the null sender of the robot's answers */
	unlink(args);
	assert_int_equal(sc_sendmail(script, "<>", "jblow@example.org", "x",
	    1), 0);
	wl = (size_t)snprintf(want, sizeof(want), "-oi%c-f%c<>%c--%c"
	    "jblow@example.org%c", 0, 0, 0, 0, 0);
	assert_non_null(got = read_file(args, &n));
	assert_int_equal(n, wl);
	assert_memory_equal(got, want, wl);
	/* refused before anything runs */
	for (i = 0; refused[i].pre != NULL; i++) {
		snprintf(rcpt, sizeof(rcpt), "%s%s%s", refused[i].pre, dir,
		    refused[i].post);
		unlink(args);
		errno = 0;
		assert_int_equal(sc_sendmail(script, "spamcorral", rcpt, "x",
		    1), -1);
		assert_int_equal(errno, EINVAL);
		assert_int_equal(access(args, F_OK), -1);
	}
	assert_int_equal(sc_sendmail(script, "-oQ/tmp", "jblow@example.org",
	    "x", 1), -1);
	assert_int_equal(access(args, F_OK), -1);
	assert_int_equal(access(pwned, F_OK), -1);
	unlink(msg);
	unlink(script);
	assert_int_equal(rmdir(dir), 0);		/* nothing else made */
}

/* ---- SC-R13: the expiry rule the notifier and the robot share ---- */

static void
test_entry_expired(void **state)
{
	char dir[] = "/tmp/mc-sc-exp-XXXXXX";
	struct timespec ts[2];
	time_t now = time(NULL);
	int dfd, fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_true((dfd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0);
	assert_true((fd = openat(dfd, "spam_to__6B0299F2F266C000",
	    O_WRONLY | O_CREAT, 0600)) >= 0);
	close(fd);
	assert_int_equal(symlinkat("spam_to__6B0299F2F266C000", dfd,
	    "spam_to_a@b.test_6B0299F2F266C000"), 0);
	assert_int_equal(sc_entry_expired(dfd, "spam_to__6B0299F2F266C000",
	    14, now), 0);
	/* 14 days and one second old: expired; exactly 14 days: not yet */
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	ts[0].tv_sec = ts[1].tv_sec = now - 14 * 86400 - 1;
	assert_int_equal(utimensat(dfd, "spam_to__6B0299F2F266C000", ts, 0),
	    0);
	assert_int_equal(sc_entry_expired(dfd, "spam_to__6B0299F2F266C000",
	    14, now), 1);
	assert_int_equal(sc_entry_expired(dfd, "spam_to__6B0299F2F266C000",
	    14, now - 1), 0);
	/* a link's own time decides, not its target's */
	assert_int_equal(sc_entry_expired(dfd,
	    "spam_to_a@b.test_6B0299F2F266C000", 14, now), 0);
	assert_int_equal(utimensat(dfd, "spam_to_a@b.test_6B0299F2F266C000",
	    ts, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(sc_entry_expired(dfd,
	    "spam_to_a@b.test_6B0299F2F266C000", 14, now), 1);
	/* gone */
	assert_int_equal(sc_entry_expired(dfd, "spam_to_x@b.test_"
	    "6B0299F2F266C000", 14, now), -1);
	assert_int_equal(errno, ENOENT);
	unlinkat(dfd, "spam_to_a@b.test_6B0299F2F266C000", 0);
	unlinkat(dfd, "spam_to__6B0299F2F266C000", 0);
	close(dfd);
	rmdir(dir);
}

/*
 * Issue 16 item 2: a spam's Subject or From, as the digest shows it
 * (sc_clean_text, sc_break_idents), never holds an identifier.  A
 * generator of look-alikes: identifiers in every case, inside encoded
 * words, split by format characters the cleaning removes, in runs.
 */
static void
test_break_idents(void **state)
{
	static const char *const pieces[] = {
		"MC-", "mc-", "Mc-", "mC-", "0123456789ABCDEF-",
		"0123456789abcdef0123456789abcdef", "\xe2\x80\x8b", "\xc2\xad",
		"=?utf-8?q?MC-0123456789ABCDEF-?=", " ", "[", "]", "x", "-",
		"\xe2\x80\x8e", "=?utf-8?b?TUMt?=",
	};
	struct sc_ident ids[8];
	char in[512], out[2048];
	unsigned seed = 16, r;
	size_t n, k, len, hits = 0;
	int i;

	(void)state;
	/* the plain case first */
	snprintf(in, sizeof(in), "Re: [MC-0123456789ABCDEF-"
	    "0123456789abcdef0123456789abcdef]");
	assert_int_equal(sc_find_idents(in, strlen(in), ids, 8), 1);
	sc_clean_text(in, strlen(in), out, sizeof(out), 200);
	sc_break_idents(out);
	assert_int_equal(sc_find_idents(out, strlen(out), ids, 8), 0);
	assert_non_null(strstr(out, "MC_0123456789ABCDEF-"));
	for (i = 0; i < 20000; i++) {
		len = 0;
		in[0] = '\0';
		n = 1 + (seed = seed * 1103515245 + 12345) % 12;
		for (k = 0; k < n; k++) {
			seed = seed * 1103515245 + 12345;
			r = (seed >> 8) % (sizeof(pieces) / sizeof(pieces[0]));
			if (len + strlen(pieces[r]) + 1 >= sizeof(in))
				break;
			memcpy(in + len, pieces[r], strlen(pieces[r]) + 1);
			len += strlen(pieces[r]);
		}
		sc_clean_text(in, len, out, sizeof(out), 200);
		hits += sc_find_idents(out, strlen(out), ids, 8) > 0;
		sc_break_idents(out);
		if (sc_find_idents(out, strlen(out), ids, 8) != 0)
			fail_msg("look-alike survived: %s -> %s", in, out);
	}
	/* the generator makes identifiers the breaking must catch */
	if (hits < 20)
		fail_msg("only %zu generated look-alikes", hits);
}

/* Whether an entry says spamd answered for it (the robot's TELL). */
static void
test_spamd_answered(void **state)
{
	static const struct {
		const char	*msg;
		int		 want;
	} c[] = {
		{ "Subject: x\r\nX-MailCorral-Spamd: answered\r\n\r\nb", 1 },
		{ "x-mailcorral-spamd:answered\n\n", 1 },
		{ "X-MailCorral-Spamd: ANSWERED (score)\r\n\r\n", 1 },
		{ "Subject: x\r\n X-MailCorral-Spamd: answered\r\n\r\n", 0 },
		{ "X-MailCorral-Spamd: no\r\n\r\n", 0 },
		{ "X-MailCorral-Spamd: answ\r\n\r\n", 0 },
		{ "X-MailCorral-Spamdx: answered\r\n\r\n", 0 },
		{ "X-Spam-Status: Yes, via=spamd\r\n\r\n", 0 },
		/* in the body, not the header block */
		{ "Subject: x\r\n\r\nX-MailCorral-Spamd: answered\r\n", 0 },
		{ "", 0 },
	};
	char name[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		if (sc_spamd_answered(c[i].msg, strlen(c[i].msg)) != c[i].want)
			fail_msg("case %zu: %s", i, c[i].msg);
	assert_int_equal(sc_learned_name("0123456789ABCDEF", name,
	    sizeof(name)), 0);
	assert_string_equal(name, "learned.0123456789ABCDEF");
	assert_int_equal(sc_learned_name("0123456789ABCDEF", name, 24), -1);
}

/* ---- digest.c (issue 22) ---- */

static void
tmpl_refused(const char *text, const char *want)
{
	struct sc_template t;
	char err[512];

	if (sc_template_parse(&t, text, strlen(text), "t.tmpl", err,
	    sizeof(err)) != -1)
		fail_msg("accepted: %s", text);
	if (strstr(err, want) == NULL)
		fail_msg("%s: error \"%s\" lacks \"%s\"", text, err, want);
}

static void
test_template(void **state)
{
	static const char good[] = "# comment\n\n"
	    "  subject = Spam: {count} {{x}\r\n"
	    "intro=Held {count} for {rcpt}.\n"
	    "label_from = Expéditeur\n";
	struct sc_template t;
	struct sc_var v[] = { { "count", "3" }, { "rcpt", "a@b" } };
	struct buf b = BUF_INIT;
	char err[256];

	(void)state;
	assert_int_equal(sc_template_parse(&t, good, strlen(good), "t.tmpl",
	    err, sizeof(err)), 0);
	sc_template_put(&t, SC_T_SUBJECT, v, 2, &b);
	assert_string_equal(b.data, "Spam: 3 {x}");
	buf_reset(&b);
	/* no subject_one given: the language has no singular of its own */
	sc_template_put(&t, SC_T_SUBJECT_ONE, v, 2, &b);
	assert_string_equal(b.data, "Spam: 3 {x}");
	buf_reset(&b);
	sc_template_put(&t, SC_T_INTRO_ONE, v, 2, &b);
	assert_string_equal(b.data, "Held 3 for a@b.");
	assert_string_equal(sc_template_get(&t, SC_T_FROM), "Expéditeur");
	/* keys not given: English */
	assert_string_equal(sc_template_get(&t, SC_T_RELEASE), "Release");
	sc_template_free(&t);
	buf_free(&b);
	/* the built-in English uses only its own placeholders */
	assert_int_equal(sc_template_load("", &t, err, sizeof(err)), 0);
	assert_string_equal(sc_template_get(&t, SC_T_SUBJECT_ONE),
	    "Spam held for you: {count} message");
	sc_template_free(&t);
	/* refused, with the line */
	tmpl_refused("release = x\n\nintro = {cout} {rcpt}\n",
	    "t.tmpl:3: unknown placeholder {cout} in intro");
	tmpl_refused("subject = {rcpt}\n", "t.tmpl:1: unknown placeholder "
	    "{rcpt} in subject");
	tmpl_refused("# x\nsubjet = x\n", "t.tmpl:2: unknown key \"subjet\"");
	tmpl_refused("note = a\nnote = b\n", "t.tmpl:2: note given twice");
	tmpl_refused("x\n", "t.tmpl:1: not \"key = text\"");
	tmpl_refused("intro = {count\n", "t.tmpl:1: '{' without '}'");
	tmpl_refused("tap = a\x1b[31m\n", "t.tmpl:1: not UTF-8 text");
	tmpl_refused("tap = a\xff\n", "t.tmpl:1: not UTF-8 text");
	tmpl_refused("label_date = 0123456789012345678901234\n",
	    "t.tmpl:1: label_date longer than 24");
	assert_int_equal(sc_template_load("/nonexistent/t", &t, err,
	    sizeof(err)), -1);
	{
		char longsubj[200];

		memset(longsubj, 'x', sizeof(longsubj));
		memcpy(longsubj, "subject = ", 10);
		longsubj[10 + SC_SUBJECT_MAX + 1] = '\0';
		tmpl_refused(longsubj, "t.tmpl:1: subject longer than 150");
		longsubj[10 + SC_SUBJECT_MAX] = '\0';
		assert_int_equal(sc_template_parse(&t, longsubj,
		    strlen(longsubj), "t", err, sizeof(err)), 0);
		sc_template_free(&t);
	}
	/* a tab is white space, not a control character */
	assert_int_equal(sc_template_parse(&t, "note\t=\tx\n", 8, "t", err,
	    sizeof(err)), 0);
	assert_string_equal(sc_template_get(&t, SC_T_NOTE), "x");
	sc_template_free(&t);
}

/* %XX-decodes s[0..n) into out. */
static void
unpct(const char *s, size_t n, struct buf *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] == '%' && i + 2 < n) {
			buf_addc(out, util_hexval(s[i + 1]) * 16 +
			    util_hexval(s[i + 2]));
			i += 2;
		} else
			buf_addc(out, s[i]);
}

/*
 * Property: for any number of identifiers and any robot address, the
 * "release all" groups cover every identifier once, in order, each link
 * is at most SC_MAILTO_MAX bytes and releases at most SC_RELEASE_MAX, and
 * no link holds "MC-" (a quoted link is no identifier).
 */
static void
test_mailto_split(void **state)
{
	static char ids[200][SC_IDENT_MAX + 1];
	const char *p[200];
	size_t ends[200], n, ng, g, from, i, round;
	char robot[400];
	struct buf u = BUF_INIT, body = BUF_INIT;

	(void)state;
	srandom(22);
	for (i = 0; i < 200; i++) {
		snprintf(ids[i], sizeof(ids[i]), "MC-%016lX-%016lx%016lx",
		    (unsigned long)random(), (unsigned long)random(),
		    (unsigned long)random());
		p[i] = ids[i];
	}
	for (round = 0; round < 300; round++) {
		size_t alen = 3 + (size_t)random() % 300;

		n = 1 + (size_t)random() % 200;
		memset(robot, 'r', alen);
		robot[alen / 2] = '@';
		robot[alen] = '\0';
		ng = sc_mailto_split(robot, "Release all", p, n,
		    SC_MAILTO_MAX, ends);
		assert_true(ng >= 1 && ng <= n);
		for (g = 0, from = 0; g < ng; g++) {
			const char *q;

			assert_true(ends[g] > from && ends[g] <= n);
			assert_true(ends[g] - from <= SC_RELEASE_MAX);
			buf_reset(&u);
			buf_reset(&body);
			sc_mailto(&u, robot, "Release all", "");
			/* rebuild the group's link as sc_mailto_split does */
			for (i = from; i < ends[g]; i++)
				buf_printf(&body, "%s\r\n", p[i]);
			buf_reset(&u);
			sc_mailto(&u, robot, "Release all", body.data);
			assert_null(memmem(u.data, u.len, "MC-", 3));
			if (ends[g] - from > 1)
				assert_true(u.len <= SC_MAILTO_MAX);
			/* its body decodes to exactly the group */
			q = strstr(u.data, "&body=");
			assert_non_null(q);
			buf_reset(&body);
			unpct(q + 6, strlen(q + 6), &body);
			buf_addc(&body, '\0');
			for (i = from; i < ends[g]; i++)
				assert_non_null(strstr(body.data, p[i]));
			assert_int_equal(sc_find_idents(body.data,
			    strlen(body.data), (struct sc_ident[SC_RELEASE_MAX])
			    {{ "", "" }}, SC_RELEASE_MAX), ends[g] - from);
			from = ends[g];
		}
		assert_int_equal(from, n);
	}
	buf_free(&u);
	buf_free(&body);
}

/* Property: escaped text holds no markup character, whatever it was. */
static void
test_html_escape(void **state)
{
	static const char alpha[] = "<>&\"'a;#/= \xc3\xa9";
	char in[64];
	struct buf b = BUF_INIT;
	size_t i, k, round;

	(void)state;
	srandom(2022);
	for (round = 0; round < 2000; round++) {
		k = (size_t)random() % (sizeof(in) - 1);
		for (i = 0; i < k; i++)
			in[i] = alpha[(size_t)random() % (sizeof(alpha) - 1)];
		in[k] = '\0';
		buf_reset(&b);
		buf_add_html(&b, in);
		buf_addc(&b, '\0');
		assert_null(strpbrk(b.data, "<>\"'"));
		for (i = 0; b.data[i] != '\0'; i++)
			if (b.data[i] == '&')
				assert_true(strncmp(b.data + i, "&amp;", 5) == 0 ||
				    strncmp(b.data + i, "&lt;", 4) == 0 ||
				    strncmp(b.data + i, "&gt;", 4) == 0 ||
				    strncmp(b.data + i, "&quot;", 6) == 0 ||
				    strncmp(b.data + i, "&#39;", 5) == 0);
	}
	buf_free(&b);
}

static void
test_digest_parts(void **state)
{
	struct sc_template t;
	struct sc_digest_entry e[2] = {
		{ ID1, "\"<img src=x onerror=y>\" <s@x>",
		  "<script>alert(1)</script> & \"q\"", "2026-12-08 03:00",
		  "162%", 162, 0 },
		{ ID2, "b@x", "plain", "2026-12-08 03:01", "?", -1, 1 },
	};
	struct sc_digest d = { &t, "u@x.test", "robot@x.test", 14, 201, e,
	    2 };
	struct buf h = BUF_INIT, x = BUF_INIT;
	char err[64];

	(void)state;
	assert_int_equal(sc_template_load(NULL, &t, err, sizeof(err)), 0);
	assert_int_equal(sc_digest_html(&d, "T <i>", &h), 0);
	buf_addc(&h, '\0');
	assert_null(strstr(h.data, "<script"));
	assert_null(strstr(h.data, "<img"));
	assert_null(strstr(h.data, "<i>"));
	assert_non_null(strstr(h.data, "&lt;script&gt;alert(1)&lt;/script&gt;"
	    " &amp; &quot;q&quot;"));
	assert_null(strstr(h.data, "http"));
	assert_null(strstr(h.data, " src=\""));
	assert_non_null(strstr(h.data, "Release all 2"));
	assert_non_null(strstr(h.data, "width:100%\">"));	/* the bar */
	assert_int_equal(sc_digest_text(&d, &x), 0);
	buf_addc(&x, '\0');
	assert_non_null(strstr(x.data, "\n[" ID1 "]\n  From:    \"<img"));
	assert_non_null(strstr(x.data, "  Subject: plain\n"));
	assert_non_null(strstr(x.data, "Score: ? of the spam threshold "
	    "(built-in"));
	/* a long recipient is cut, no line over 200 characters */
	{
		char rc[321];
		const char *l;
		struct buf y = BUF_INIT;

		memset(rc, 'u', 320);
		rc[320] = '\0';
		rc[300] = '@';
		d.rcpt = rc;
		assert_int_equal(sc_digest_text(&d, &y), 0);
		buf_addc(&y, '\0');
		for (l = y.data; l != NULL; l = strchr(l + 1, '\n'))
			assert_true(strcspn(l + 1, "\n") <= 200);
		buf_free(&y);
		d.rcpt = "u@x.test";
	}
	/* the text part has no "release all": a quoted reply keeps it */
	assert_null(strstr(x.data, "Release all"));
	assert_int_equal(sc_find_idents(x.data, strlen(x.data),
	    (struct sc_ident[4]){{ "", "" }}, 4), 2);
	sc_template_free(&t);
	buf_free(&h);
	buf_free(&x);
}

static void
test_header_text(void **state)
{
	static const char *const in[] = { "plain ascii",
	    "Courrier indésirable retenu : 3 messages",
	    "日本語の件名で長いものはいくつかの語に分けられる: 12 通",
	    "\xf0\x9f\x93\xa8 \xf0\x9f\x93\xa8 \xf0\x9f\x93\xa8 \xf0\x9f\x93"
	    "\xa8 \xf0\x9f\x93\xa8 \xf0\x9f\x93\xa8 \xf0\x9f\x93\xa8 \xf0\x9f"
	    "\x93\xa8 \xf0\x9f\x93\xa8 \xf0\x9f\x93\xa8" };
	struct buf b = BUF_INIT;
	char out[1024];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		const char *l;

		buf_reset(&b);
		sc_header_text(&b, in[i]);
		buf_addc(&b, '\0');
		/* folded lines of at most 78 characters */
		for (l = b.data; l != NULL; l = strchr(l + 1, '\n'))
			assert_true(strcspn(l + 1, "\n") <= 78);
		sc_clean_text(b.data, strlen(b.data), out, sizeof(out), 200);
		assert_string_equal(out, in[i]);
	}
	buf_free(&b);
}

static void
test_reply_subject(void **state)
{
	struct sc_ident ids[4];
	struct sc_reply r;

	(void)state;
	/* a mailto: link's mail: the identifier in the Subject only */
	parse(&r, "From: a@b.test\nSubject: Release " ID1 "\n\n\n");
	assert_int_equal(sc_find_idents(r.text.data, r.text.len, ids, 4), 1);
	assert_string_equal(ids[0].id, "6B0299F2F266C000");
	sc_reply_free(&r);
	/* RFC 2047, and in Subject and body: counted once */
	parse(&r, "From: a@b.test\nSubject: =?utf-8?q?Lib=C3=A9rer_"
	    "MC-6B0299F2F266C000-0123456789abcdef0123456789abcdef?=\n\n"
	    ID1 "\n");
	assert_int_equal(sc_find_idents(r.text.data, r.text.len, ids, 4), 1);
	sc_reply_free(&r);
	/* only the first Subject */
	parse(&r, "From: a@b.test\nSubject: x\nSubject: " ID2 "\n\nno\n");
	assert_int_equal(sc_find_idents(r.text.data, r.text.len, ids, 4), 0);
	sc_reply_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_roundtrip),
		cmocka_unit_test(test_token_mutations),
		cmocka_unit_test(test_token_old_digest),
		cmocka_unit_test(test_read_hash),
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_reply_loops),
		cmocka_unit_test(test_reply_sender),
		cmocka_unit_test(test_reply_text),
		cmocka_unit_test(test_find_idents),
		cmocka_unit_test(test_break_idents),
		cmocka_unit_test(test_state_failures),
		cmocka_unit_test(test_state_replies),
		cmocka_unit_test(test_state_key),
		cmocka_unit_test(test_state_format),
		cmocka_unit_test(test_state_file),
		cmocka_unit_test(test_spamd_answered),
		cmocka_unit_test(test_template),
		cmocka_unit_test(test_mailto_split),
		cmocka_unit_test(test_html_escape),
		cmocka_unit_test(test_digest_parts),
		cmocka_unit_test(test_header_text),
		cmocka_unit_test(test_reply_subject),
		{ "SC-R8 sc_clean_text: encoded CR/LF, controls and bidi "
		  "removed, HTML kept as text, cut after 186 characters",
		  test_clean_text, NULL, NULL, NULL },
		{ "SC-R12 sc_addr_ok: no leading '-', space or control "
		  "characters; shell characters are plain bytes",
		  test_addr_ok, NULL, NULL, NULL },
		{ "SC-R12 sc_sendmail: argv exactly -oi -f <from> -- <rcpt>, "
		  "no shell, refused recipients never run",
		  test_sendmail_argv, NULL, NULL, NULL },
		{ "SC-R13 sc_entry_expired: the entry's own mtime against "
		  "corral_expire_days",
		  test_entry_expired, NULL, NULL, NULL },
	};

	return cmocka_run_group_tests(tests, load_conf, free_conf);
}
