/*
 * test_judge.c -- scan_judge_leaf() and scan_view_parts(), what
 * mailcorral-judge (judge.c) stands on: one decoded file through the
 * callbacks of a parsed part gives the findings the daemon would make.
 */
#include "unit.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>

#include "conf.h"
#include "confsnap.h"
#include "log.h"
#include "mime.h"
#include "scan.h"

static struct mc_config *cf;

static int
setup(void **state)
{
	char err[256];

	log_init("test_judge", LOG_MAIL, 0);
	setlogmask(LOG_MASK(LOG_EMERG));
	return conf_load(NULL, &cf, err, sizeof(err));
}

static int
teardown(void **state)
{
	conf_free(cf);
	return 0;
}

static const char pe[64] = "MZ\x90\0\3\0\0\0\4\0\0\0\xff\xff";

/* One leaf with at most one name; -> the first finding's reason, or OK
   (defangs are not counted), and the number of findings in *nf. */
static enum virus_reason
judge(const char *name, const char *type, const void *data, size_t len,
    enum scan_act *act)
{
	struct mime_part p;
	struct scan *sc;
	const struct scan_finding *f;
	char *names[1] = { (char *)name };
	unsigned n;
	enum virus_reason r = VIRUS_OK;

	memset(&p, 0, sizeof(p));
	p.id = 1;
	p.depth = 1;
	p.flags = MIME_PART_ATTACHMENT;
	p.cte = MIME_CTE_BINARY;
	snprintf(p.type, sizeof(p.type), "%s", type);
#ifdef MIME_DEF_MAX_NAMES
	p.names = names;
	p.nnames = name != NULL;
#else
	if (name != NULL)
		p.names[p.nnames++] = names[0];
#endif
	p.magic_len = len < sizeof(p.magic) ? (unsigned)len :
	    (unsigned)sizeof(p.magic);
	memcpy(p.magic, data, p.magic_len);
	p.decoded_size = len;
	sc = scan_new(cf, "test");
	assert_non_null(sc);
	assert_int_equal(scan_judge_leaf(sc, &p, data, len), 0);
	f = scan_findings(sc, &n);
	if (n > 0) {
		r = f[0].reason;
		if (act != NULL)
			*act = f[0].act;
	}
	scan_free(sc);
	return r;
}

static void
test_names_and_types(void **state)
{
	assert_int_equal(judge("evil.bat", "application/octet-stream", "x", 1,
	    NULL), VIRUS_BAD_EXTENSION);
	assert_int_equal(judge("report.pdf.exe", "application/pdf", "%PDF", 4,
	    NULL), VIRUS_BAD_EXTENSION);
	assert_int_equal(judge("notes.txt", "text/plain", "hello", 5, NULL),
	    VIRUS_OK);
	assert_int_equal(judge(NULL, "application/hta", "x", 1, NULL),
	    VIRUS_BAD_TYPE);
}

static void
test_content(void **state)
{
	assert_int_equal(judge("photo.jpg", "image/jpeg", pe, sizeof(pe),
	    NULL), VIRUS_EXECUTABLE);
	assert_int_equal(judge(NULL, "text/plain", pe, sizeof(pe), NULL),
	    VIRUS_EXECUTABLE);
}

static void
test_archive(void **state)
{
	struct archive *a;
	struct archive_entry *e;
	static unsigned char buf[65536];
	size_t used = 0;

	a = archive_write_new();
	assert_non_null(a);
	assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(a, buf, sizeof(buf),
	    &used), ARCHIVE_OK);
	e = archive_entry_new();
	archive_entry_set_pathname(e, "setup.exe");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, sizeof(pe));
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, pe, sizeof(pe)),
	    (la_ssize_t)sizeof(pe));
	archive_entry_free(e);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	/* found by its bytes under a harmless name and type */
	assert_int_equal(judge("photo.jpg", "image/jpeg", buf, used, NULL),
	    VIRUS_ARCHIVE_MEMBER);
	/* the same archive under its own name */
	assert_int_equal(judge("docs.zip", "application/zip", buf, used,
	    NULL), VIRUS_ARCHIVE_MEMBER);
}

static void
test_html_defang(void **state)
{
	static const char h[] = "<html><script>alert(1)</script></html>";
	enum scan_act act = SCAN_DELETE;

	assert_int_equal(judge("page.html", "text/html", h, sizeof(h) - 1,
	    &act), VIRUS_OK);
	assert_int_equal(act, SCAN_DEFANG);
}

static void
test_container_refused(void **state)
{
	struct mime_part p;
	struct scan *sc;

	memset(&p, 0, sizeof(p));
	p.flags = MIME_PART_MULTIPART;
	snprintf(p.type, sizeof(p.type), "multipart/mixed");
	sc = scan_new(cf, "test");
	assert_non_null(sc);
	assert_int_equal(scan_judge_leaf(sc, &p, "", 0), -1);
	assert_int_equal(errno, EINVAL);
	scan_free(sc);
}

static void
test_view_parts(void **state)
{
	static const char msg[] =
	    "Content-Type: multipart/mixed; boundary=a; boundary=b\r\n\r\n"
	    "--a\r\nContent-Type: text/plain\r\n\r\nx\r\n--a--\r\n";
	struct scan *sc;
	unsigned n0 = 0, n1 = 0;

	sc = scan_new(cf, "test");
	assert_non_null(sc);
	assert_int_equal(scan_header(sc, "Content-Type",
	    "multipart/mixed; boundary=a; boundary=b"), 0);
	assert_int_equal(scan_eoh(sc), 0);
	assert_int_equal(scan_body(sc, strstr(msg, "--a"),
	    strlen(strstr(msg, "--a"))), 0);
	assert_int_equal(scan_finish(sc), 0);
	assert_int_equal(scan_views(sc), 2);
	assert_non_null(scan_view_parts(sc, 0, &n0));
	assert_non_null(scan_view_parts(sc, 1, &n1));
	assert_true(n0 > 0 && n1 > 0);
	assert_null(scan_view_parts(sc, 2, &n1));
	assert_int_equal(n1, 0);
	scan_free(sc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_types),
		cmocka_unit_test(test_content),
		cmocka_unit_test(test_archive),
		cmocka_unit_test(test_html_defang),
		cmocka_unit_test(test_container_refused),
		cmocka_unit_test(test_view_parts),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
