/*
 * test_rewrite.c -- the whole per-message pipeline without the MTA:
 * header fields, body chunks, scan_finish, rw_rewrite; checks the new body
 * and that the result does not depend on how the body was chunked.
 */
#include "unit.h"

#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "confsnap.h"
#include "rewrite.h"
#include "scan.h"

#define CRLF "\r\n"

struct run {
	struct buf		out;
	struct rw_result	res;
	unsigned		errors;
	int			views;
};

/* Called between scan_finish and rw_rewrite when set (site findings). */
static void (*before_rewrite)(struct scan *);

static int
collect(void *arg, const char *p, size_t n)
{
	return buf_add(arg, p, n);
}

static struct mc_config *
config(int mangle)
{
	struct mc_config *cf = NULL;
	char err[256];

	assert_int_equal(conf_load(NULL, &cf, err, sizeof(err)), 0);
	cf->attachment_action = mangle ? CONF_ATTACH_MANGLE :
	    CONF_ATTACH_DELETE;
	return cf;
}

/* Feeds msg (headers, blank line, body) as the milter would. */
static void
run(struct mc_config *cf, const char *msg, size_t chunk, struct run *r)
{
	struct scan *sc;
	const char *p = msg, *eol, *body;
	struct buf name = BUF_INIT, value = BUF_INIT;
	size_t left, n;

	memset(r, 0, sizeof(*r));
	buf_init(&r->out, 0);
	sc = scan_new(cf, "TEST");
	assert_non_null(sc);
	body = strstr(msg, CRLF CRLF);
	assert_non_null(body);
	while (p < body + 2) {
		eol = strstr(p, CRLF);
		if (*p == ' ' || *p == '\t') {
			buf_add(&value, "\n", 1);
			buf_add(&value, p, (size_t)(eol - p));
		} else {
			if (name.len > 0)
				assert_int_equal(scan_header(sc, name.data,
				    value.data), 0);
			buf_reset(&name);
			buf_reset(&value);
			const char *colon = memchr(p, ':', (size_t)(eol - p));
			assert_non_null(colon);
			buf_add(&name, p, (size_t)(colon - p));
			colon++;
			if (*colon == ' ')
				colon++;
			buf_add(&value, colon, (size_t)(eol - colon));
		}
		p = eol + 2;
	}
	if (name.len > 0)
		assert_int_equal(scan_header(sc, name.data, value.data), 0);
	assert_int_equal(scan_eoh(sc), 0);
	p = body + 4;
	left = strlen(p);
	while (left > 0) {
		n = chunk < left ? chunk : left;
		assert_int_equal(scan_body(sc, p, n), 0);
		p += n;
		left -= n;
	}
	assert_int_equal(scan_finish(sc), 0);
	r->errors = scan_errors(sc);
	r->views = scan_views(sc);
	if (before_rewrite != NULL)
		before_rewrite(sc);
	assert_int_equal(rw_rewrite(sc, cf, collect, &r->out, &r->res), 0);
	scan_free(sc);
	buf_free(&name);
	buf_free(&value);
}

static void
run_free(struct run *r)
{
	buf_free(&r->out);
	rw_result_free(&r->res);
}

static void
has(const struct run *r, const char *s)
{
	if (r->out.data == NULL || strstr(r->out.data, s) == NULL)
		fail_msg("body lacks \"%s\":\n%s", s,
		    r->out.data ? r->out.data : "(none)");
}

static void
lacks(const struct run *r, const char *s)
{
	if (r->out.data != NULL && strstr(r->out.data, s) != NULL)
		fail_msg("body still has \"%s\":\n%s", s, r->out.data);
}

/* "MZ" + filler + "MCPAYLOAD", base64 */
#define PE_B64 "TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAABUaGlzIHByb2dyYW0gY2Fu" CRLF \
	"bm90IGJlIHJ1biBpbiBET1MgbW9kZS4gTUNQQVlMT0FE" CRLF

static const char msg_exe[] =
    "From: a@example.org" CRLF "To: b@example.org" CRLF "Subject: x" CRLF
    "MIME-Version: 1.0" CRLF
    "Content-Type: multipart/mixed; boundary=\"BB\"" CRLF CRLF
    "preamble" CRLF
    "--BB" CRLF "Content-Type: text/plain" CRLF CRLF "MCKEEP hello" CRLF
    "--BB" CRLF "Content-Type: application/octet-stream; name=\"invoice.pdf.exe\"" CRLF
    "Content-Transfer-Encoding: base64" CRLF
    "Content-Disposition: attachment; filename=\"invoice.pdf.exe\"" CRLF CRLF
    PE_B64
    "--BB" CRLF "Content-Type: text/plain; name=\"notes.txt\"" CRLF CRLF
    "MCKEEP2 notes" CRLF
    "--BB--" CRLF "epilogue" CRLF;

static void
test_clean(void **state)
{
	struct mc_config *cf = config(0);
	struct run r;

	(void)state;
	run(cf, "From: a@b" CRLF "Subject: hi" CRLF CRLF "just text" CRLF,
	    7, &r);
	assert_int_equal(r.res.changed, 0);
	assert_int_equal(r.out.len, 0);
	run_free(&r);
	conf_free(cf);
}

static void
test_delete(void **state)
{
	struct mc_config *cf = config(0);
	struct run r;

	(void)state;
	run(cf, msg_exe, 4096, &r);
	assert_int_equal(r.res.changed, 1);
	assert_int_equal(r.res.removed, 1);
	has(&r, "MCKEEP hello");
	has(&r, "MCKEEP2 notes");
	has(&r, "WARNING: MailCorral");
	has(&r, "removed \"invoice.pdf.exe\"");
	has(&r, "--BB--");
	lacks(&r, "TVqQ");
	lacks(&r, "invoice.pdf.exe\"" CRLF "Content-Transfer");
	assert_non_null(strstr(r.res.summary.data, "removed=\"invoice.pdf.exe\""));
	run_free(&r);
	conf_free(cf);
}

static void
test_mangle(void **state)
{
	struct mc_config *cf = config(1);
	struct run r;

	(void)state;
	run(cf, msg_exe, 64, &r);
	assert_int_equal(r.res.renamed, 1);
	has(&r, "name=\"invoice_pdf_exe.disarmed\"");
	has(&r, "Content-Type: application/octet-stream; name=\"invoice_pdf_exe.disarmed\"");
	has(&r, "Content-Transfer-Encoding: base64");
	has(&r, "TVqQ");
	lacks(&r, "\"invoice.pdf.exe\"" CRLF);
	run_free(&r);
	conf_free(cf);
}

/* ---- findings of the site's Perl filter (scan_add_finding) ---- */

static const char msg_site[] =
    "From: a@example.org" CRLF "Subject: x" CRLF "MIME-Version: 1.0" CRLF
    "Content-Type: multipart/mixed; boundary=\"BB\"" CRLF CRLF
    "--BB" CRLF "Content-Type: text/plain" CRLF CRLF "MCKEEP hello" CRLF
    "--BB" CRLF "Content-Type: text/csv; name=\"data.csv\"" CRLF
    "X-Part-Note: kept" CRLF
    "Content-Disposition: attachment; filename=\"data.csv\"" CRLF CRLF
    "MCCSV a,b,c" CRLF
    "--BB" CRLF "Content-Type: text/plain; name=\"old.txt\"" CRLF
    "Content-Transfer-Encoding: 7bit" CRLF
    "Content-Disposition: attachment; filename=\"old.txt\"" CRLF CRLF
    "MCOLD content" CRLF
    "--BB--" CRLF;

static char site_file[] = "/tmp/mc-unit-replace.XXXXXX";

static unsigned
part_named(struct scan *sc, const char *name)
{
	const struct mime_part *p;
	unsigned n, i;

	p = scan_parts(sc, &n);
	for (i = 0; i < n; i++)
		if (p[i].nnames > 0 && strcmp(p[i].names[0], name) == 0)
			return p[i].id;
	fail_msg("no part %s", name);
	return 0;
}

static void
site_findings(struct scan *sc)
{
	assert_int_equal(scan_add_finding(sc, part_named(sc, "data.csv"),
	    SCAN_MANGLE, VIRUS_SITE_FILTER, "", "table \"2026\".csv", NULL,
	    NULL), 0);
	assert_int_equal(scan_add_finding(sc, part_named(sc, "old.txt"),
	    SCAN_REPLACE, VIRUS_SITE_FILTER, "", "new.txt", "text/plain",
	    site_file), 0);
	assert_int_equal(scan_add_finding(sc, 999, SCAN_DELETE,
	    VIRUS_SITE_FILTER, "x", NULL, NULL, NULL), -1);
	assert_int_equal(scan_add_finding(sc, 1, SCAN_DEFANG,
	    VIRUS_SITE_FILTER, "x", NULL, NULL, NULL), -1);
}

static void
test_site_rename_replace(void **state)
{
	struct mc_config *cf = config(0);
	struct run r;
	int fd;

	(void)state;
	assert_true((fd = mkstemp(site_file)) != -1);
	assert_int_equal(write(fd, "MCNEW bytes", 11), 11);
	close(fd);
	before_rewrite = site_findings;
	run(cf, msg_site, 13, &r);
	before_rewrite = NULL;
	unlink(site_file);
	assert_int_equal(r.res.renamed, 1);
	assert_int_equal(r.res.replaced, 1);
	assert_int_equal(r.res.removed, 0);
	/* renamed: same type and bytes, the given name made safe */
	has(&r, "Content-Type: text/csv; name=\"table _2026_.csv\"");
	has(&r, "filename=\"table _2026_.csv\"");
	has(&r, "MCCSV a,b,c");
	has(&r, "X-Part-Note: kept");
	/* replaced: new headers, the file's bytes in base64 */
	has(&r, "Content-Type: text/plain; name=\"new.txt\"");
	has(&r, "Content-Transfer-Encoding: base64" CRLF CRLF
	    "TUNORVcgYnl0ZXM=");
	lacks(&r, "MCOLD");
	lacks(&r, "old.txt\"" CRLF);
	has(&r, "site-filter");
	has(&r, "MCKEEP hello");
	has(&r, "--BB--");
	assert_non_null(strstr(r.res.summary.data, "replaced=\"old.txt\""));
	run_free(&r);
	conf_free(cf);
}

static void
test_whole_message(void **state)
{
	struct mc_config *cf = config(0);
	struct run r;

	(void)state;
	run(cf, "From: a@b" CRLF
	    "Content-Type: application/x-msdownload; name=\"setup.exe\"" CRLF
	    "Content-Transfer-Encoding: base64" CRLF CRLF PE_B64, 5, &r);
	assert_int_equal(r.res.replace_all, 1);
	assert_int_equal(r.res.removed, 1);
	has(&r, "WARNING: MailCorral");
	lacks(&r, "TVqQ");
	run_free(&r);
	conf_free(cf);
}

static void
test_new_text_part(void **state)
{
	struct mc_config *cf = config(0);
	struct run r;

	(void)state;
	run(cf, "From: a@b" CRLF
	    "Content-Type: multipart/mixed; boundary=X" CRLF CRLF
	    "--X" CRLF "Content-Type: image/jpeg; name=\"a.jpg\"" CRLF CRLF
	    "JPEGDATA" CRLF
	    "--X" CRLF "Content-Type: application/hta" CRLF CRLF
	    "<script>x</script>" CRLF
	    "--X--" CRLF, 3, &r);
	assert_int_equal(r.res.removed, 1);
	has(&r, "--X" CRLF "Content-Type: text/plain; charset=us-ascii");
	has(&r, "WARNING: MailCorral");
	has(&r, "JPEGDATA");
	lacks(&r, "<script>");
	run_free(&r);
	conf_free(cf);
}

static void
test_html_defang(void **state)
{
	struct mc_config *cf = config(0);
	struct run r;

	(void)state;
	run(cf, "From: a@b" CRLF
	    "Content-Type: multipart/alternative; boundary=A" CRLF CRLF
	    "--A" CRLF "Content-Type: text/plain" CRLF CRLF "MCKEEP plain" CRLF
	    "--A" CRLF "Content-Type: text/html" CRLF
	    "Content-Transfer-Encoding: quoted-printable" CRLF CRLF
	    "<html><body onload=3D\"evil()\"><p>MCKEEP html</p>" CRLF
	    "<script>alert(1)</script></body></html>" CRLF
	    "--A--" CRLF, 11, &r);
	assert_int_equal(r.res.defanged, 1);
	assert_int_equal(r.res.removed, 0);
	has(&r, "MCKEEP plain");
	has(&r, "MCKEEP html");
	lacks(&r, "<script>");
	lacks(&r, " onload=");
	has(&r, "WARNING: MailCorral");
	run_free(&r);
	conf_free(cf);
}

static void
test_uuencode_in_text(void **state)
{
	struct mc_config *cf = config(0);
	struct run r;

	(void)state;
	run(cf, "From: a@b" CRLF "Subject: uu" CRLF CRLF
	    "MCKEEP before" CRLF
	    "begin 644 invoice.exe" CRLF
	    "+35J0``,````$````" CRLF
	    "`" CRLF "end" CRLF
	    "MCKEEP after" CRLF, 2, &r);
	assert_int_equal(r.res.removed, 1);
	has(&r, "MCKEEP before");
	has(&r, "MCKEEP after");
	has(&r, "WARNING: MailCorral");
	has(&r, "removed \"invoice.exe\"");
	lacks(&r, "begin 644");
	run_free(&r);
	conf_free(cf);
}

static const char msg_ambig[] =
    "From: a@b" CRLF
    "Content-Type: multipart/mixed; boundary=\"AA\"; boundary=\"BB\"" CRLF CRLF
    "--AA" CRLF "Content-Type: text/plain" CRLF CRLF "MCKEEP a" CRLF
    "--BB" CRLF "Content-Type: application/octet-stream; name=\"x.exe\"" CRLF
    "Content-Transfer-Encoding: base64" CRLF CRLF PE_B64
    "--BB--" CRLF
    "--AA--" CRLF;

static void
test_ambiguous(void **state)
{
	struct mc_config *cf = config(0);
	struct run r;

	(void)state;
	run(cf, msg_ambig, 4096, &r);
	assert_int_equal(r.views, 2);
	assert_true(r.res.changed);
	lacks(&r, "TVqQ");
	run_free(&r);
	conf_free(cf);
}

/* The new body must not depend on how the MTA chunked the old one. */
static void
test_chunking(void **state)
{
	static const char *const msgs[] = { msg_exe, msg_ambig };
	struct mc_config *cf = config(0);
	struct run ref, r;
	size_t i, c;

	(void)state;
	for (i = 0; i < 2; i++) {
		run(cf, msgs[i], 1 << 20, &ref);
		for (c = 1; c <= 64; c++) {
			run(cf, msgs[i], c, &r);
			assert_int_equal(r.out.len, ref.out.len);
			assert_memory_equal(r.out.data, ref.out.data,
			    ref.out.len);
			run_free(&r);
		}
		run_free(&ref);
	}
	conf_free(cf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean),
		cmocka_unit_test(test_delete),
		cmocka_unit_test(test_mangle),
		cmocka_unit_test(test_whole_message),
		cmocka_unit_test(test_site_rename_replace),
		cmocka_unit_test(test_new_text_part),
		cmocka_unit_test(test_html_defang),
		cmocka_unit_test(test_uuencode_in_text),
		cmocka_unit_test(test_ambiguous),
		cmocka_unit_test(test_chunking),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
