/*
 * test_html.c -- unit tests for html.c: each construct detected and
 * defanged, entity and whitespace tricks in schemes, harmless HTML passes
 * byte-identical, and the output does not depend on the chunking.
 */
#include "unit.h"

#include "buf.h"
#include "html.h"

static void
collect(void *arg, const char *p, size_t n)
{
	assert_int_equal(buf_add(arg, p, n), 0);
}

/* Defangs s in chunks of size chunk; returns the bits, output in b. */
static unsigned
run(const char *s, size_t n, size_t chunk, unsigned mask, struct buf *b)
{
	struct html *h;
	size_t i, k;
	unsigned bits;

	buf_init(b, 0);
	h = html_new(mask, b != NULL ? collect : NULL, b);
	assert_non_null(h);
	for (i = 0; i < n; i += k) {
		k = n - i < chunk ? n - i : chunk;
		assert_int_equal(html_push(h, s + i, k), 0);
	}
	bits = html_finish(h);
	html_free(h);
	if (b->data == NULL)
		buf_add(b, "", 0);
	return bits;
}

static unsigned
detect(const char *s)
{
	struct html *h;
	unsigned bits;

	h = html_new(HTML_ALL, NULL, NULL);
	assert_non_null(h);
	html_push(h, s, strlen(s));
	bits = html_finish(h);
	html_free(h);
	return bits;
}

static void
check(const char *in, unsigned mask, unsigned want_bits, const char *want)
{
	struct buf b;
	unsigned bits;

	bits = run(in, strlen(in), 1 << 20, mask, &b);
	assert_int_equal(bits, want_bits);
	assert_string_equal(b.data, want);
	assert_int_equal(detect(in), want_bits);
	buf_free(&b);
}

static void
test_constructs(void **state)
{
	check("<p>a<script>alert(1)</script>b</p>", HTML_ALL, HTML_SCRIPT,
	    "<p>a<mc-defanged-script>alert(1)</mc-defanged-script>b</p>");
	check("<SCRIPT src=x.js></SCRIPT >", HTML_ALL, HTML_SCRIPT,
	    "<mc-defanged-SCRIPT src=x.js></mc-defanged-SCRIPT >");
	check("<script/src=x></script>", HTML_ALL, HTML_SCRIPT,
	    "<mc-defanged-script/src=x></mc-defanged-script>");
	check("<iframe width=0 src=\"http://x/\"></iframe>", HTML_ALL,
	    HTML_FRAME, "<mc-defanged-iframe width=0 src=\"http://x/\">"
	    "</mc-defanged-iframe>");
	check("<frameset><frame src=a></frameset>", HTML_ALL, HTML_FRAME,
	    "<mc-defanged-frameset><mc-defanged-frame src=a>"
	    "</mc-defanged-frameset>");
	check("<object data=x></object><embed src=y><applet code=z>",
	    HTML_ALL, HTML_OBJECT, "<mc-defanged-object data=x>"
	    "</mc-defanged-object><mc-defanged-embed src=y>"
	    "<mc-defanged-applet code=z>");
	check("<img codebase=\"http://x\">", HTML_ALL, HTML_OBJECT,
	    "<img data-mc-defanged-codebase=\"http://x\">");
	check("<base href=\"http://evil/\">", HTML_ALL, HTML_REFRESH,
	    "<mc-defanged-base href=\"http://evil/\">");
	check("<meta http-equiv=\"Refresh\" content=\"0;url=http://x\">",
	    HTML_ALL, HTML_REFRESH, "<mc-defanged-meta http-equiv=\"Refresh\""
	    " content=\"0;url=http://x\">");
	check("<meta content=\"0\" HTTP-EQUIV=refresh>", HTML_ALL,
	    HTML_REFRESH, "<mc-defanged-meta content=\"0\" HTTP-EQUIV=refresh>");
	check("<meta http-equiv=\"content-type\" content=\"text/html\">",
	    HTML_ALL, 0,
	    "<meta http-equiv=\"content-type\" content=\"text/html\">");
	check("<form action=\"http://x/\"><input name=p></form>", HTML_ALL,
	    HTML_FORM, "<mc-defanged-form action=\"http://x/\"><input name=p>"
	    "</mc-defanged-form>");
	/* form only rewritten when HTML_FORM is in the mask */
	check("<form action=x></form>", HTML_ALL & ~HTML_FORM, HTML_FORM,
	    "<form action=x></form>");
	check("<img src=x onerror=alert(1)>", HTML_ALL, HTML_EVENT,
	    "<img src=x data-mc-defanged-onerror=alert(1)>");
	check("<body ONLOAD='go()' onMouseOver=\"x\">", HTML_ALL, HTML_EVENT,
	    "<body data-mc-defanged-ONLOAD='go()' "
	    "data-mc-defanged-onMouseOver=\"x\">");
	check("<svg/onload=alert(1)>", HTML_ALL, HTML_EVENT,
	    "<svg/data-mc-defanged-onload=alert(1)>");
	check("<a href=\"javascript:alert(1)\">x</a>", HTML_ALL, HTML_JSURL,
	    "<a href=\"about:blank#mc-defanged\">x</a>");
	check("<a href='vbscript:msgbox'>x</a>", HTML_ALL, HTML_JSURL,
	    "<a href='about:blank#mc-defanged'>x</a>");
	check("<a href=livescript:x>x</a>", HTML_ALL, HTML_JSURL,
	    "<a href=about:blank#mc-defanged>x</a>");
	check("<iframe src=\"data:text/html;base64,PHNjcmlwdD4=\">",
	    HTML_DATAURL, HTML_FRAME | HTML_DATAURL,
	    "<iframe src=\"about:blank#mc-defanged\">");
	check("<img src=\"data:image/png;base64,iVBORw0KGgo=\">", HTML_ALL, 0,
	    "<img src=\"data:image/png;base64,iVBORw0KGgo=\">");
	check("<img src=\"DATA:image/JPEG,xx\">", HTML_ALL, 0,
	    "<img src=\"DATA:image/JPEG,xx\">");
	check("<img src=\"data:image/svg+xml,<svg>\">", HTML_ALL,
	    HTML_DATAURL, "<img src=\"about:blank#mc-defanged\">");
	/* only bits in the mask are rewritten, all are reported */
	check("<a href=javascript:x onclick=y>", HTML_EVENT,
	    HTML_EVENT | HTML_JSURL,
	    "<a href=javascript:x data-mc-defanged-onclick=y>");
	check("<script>x</script>", 0, HTML_SCRIPT, "<script>x</script>");
}

static void
test_schemes(void **state)
{
	static const char *const bad[] = {
		"<a href=\"java&#x73;cript:alert(1)\">",
		"<a href=\"java&#X53;cript:alert(1)\">",
		"<a href=\"&#106;avascript:alert(1)\">",
		"<a href=\"&#0000106avascript:alert(1)\">",
		"<a href=\"jav\tascript:alert(1)\">",
		"<a href=\"jav&Tab;ascript:alert(1)\">",
		"<a href=\"jav&NewLine;ascript:alert(1)\">",
		"<a href=\"javascript&colon;alert(1)\">",
		"<a href=\"JaVaScRiPt:alert(1)\">",
		"<a href=\" \x01javascript:alert(1)\">",
		"<a href=\"java\nscript:alert(1)\">",
		"<form><button formaction=\"javascript:x\">",
		"<svg><a xlink:href=\"javascript:x\">",
		NULL
	};
	int i;

	for (i = 0; bad[i] != NULL; i++)
		assert_true(detect(bad[i]) & HTML_JSURL);
	check("<a href=\"jav&#x09;ascript:x\">", HTML_ALL, HTML_JSURL,
	    "<a href=\"about:blank#mc-defanged\">");
	assert_int_equal(detect("<a href=\"java&amp;script:x\">"), 0);
	assert_int_equal(detect("<a href=\"http://x/javascript:\">"), 0);
}

static void
test_harmless(void **state)
{
	static const char *const ok[] = {
		"<html><head><title>Hi &amp; bye</title>"
		"<style>p { color: red; } a > b {}</style></head>"
		"<body bgcolor=\"#fff\"><p>onboard only, on-line</p>"
		"<a href=\"https://example.com/?a=1&amp;b=2\" title='on load'>"
		"link</a><img src=\"cid:logo@x\" alt=\"a > b\" width=10>"
		"<table border=1><tr><td data-on=\"1\" bonus=2>x</td></tr>"
		"</table><!-- a comment <script> -->"
		"<p>1 < 2 and 3 > 2</p><br/><hr />"
		"<a href=\"mailto:a@b\">m</a></body></html>\n",
		"plain text with no markup at all",
		"<!DOCTYPE html><p>x</p>",
		"<p>a <!----> b <!-- x -- y --> c</p>",
		NULL
	};
	struct buf b;
	size_t chunk;
	int i;

	for (i = 0; ok[i] != NULL; i++) {
		for (chunk = 1; chunk <= 64; chunk++) {
			assert_int_equal(run(ok[i], strlen(ok[i]), chunk,
			    HTML_ALL, &b), 0);
			assert_string_equal(b.data, ok[i]);
			buf_free(&b);
		}
	}
}

static void
test_comments_rawtext(void **state)
{
	/* "<!-->" closes the comment at once (HTML5) */
	check("<!--><script>x</script>", HTML_ALL, HTML_SCRIPT,
	    "<!--><mc-defanged-script>x</mc-defanged-script>");
	check("<!---><script>", HTML_ALL, HTML_SCRIPT,
	    "<!---><mc-defanged-script>");
	check("<!-- a --!><script>", HTML_ALL, HTML_SCRIPT,
	    "<!-- a --!><mc-defanged-script>");
	check("<!-- <script> -->", HTML_ALL, 0, "<!-- <script> -->");
	check("<? x ><script>", HTML_ALL, HTML_SCRIPT,
	    "<? x ><mc-defanged-script>");
	/* The quote in the title cannot hide the end of the textarea. */
	check("<textarea><a title='</textarea><script>alert(1)</script>'>",
	    HTML_ALL, HTML_SCRIPT,
	    "<textarea>&lt;a title='</textarea><mc-defanged-script>alert(1)"
	    "</mc-defanged-script>'>");
	check("<style><!--</style><img src=x onerror=y>-->", HTML_ALL,
	    HTML_EVENT, "<style><!--</style><img src=x "
	    "data-mc-defanged-onerror=y>-->");
	/* A defanged script's content is markup to the browser. */
	check("<script>var s='<img src=x onerror=alert(1)>'</script>",
	    HTML_ALL, HTML_SCRIPT | HTML_EVENT,
	    "<mc-defanged-script>var s='<img src=x "
	    "data-mc-defanged-onerror=alert(1)>'</mc-defanged-script>");
	/* A cut tag at the end of input becomes inert. */
	check("<p>x<script src=", HTML_ALL, 0, "<p>x&lt;script src=");
}

static void
test_long_tag(void **state)
{
	struct buf b, b2;
	char *s;
	size_t n = 20000, chunk;
	unsigned bits;

	s = malloc(n + 1);
	assert_non_null(s);
	memcpy(s, "<a title=\"", 10);
	memset(s + 10, 'x', n - 10);
	memcpy(s + n - 30, "\" onclick=\"<b>\">after<script>", 29);
	s[n - 1] = '!';
	s[n] = '\0';
	bits = run(s, n, 1 << 20, HTML_ALL, &b);
	assert_true(bits & HTML_SCRIPT);
	assert_null(memchr(b.data, '<', 8192));	/* first '<' escaped */
	assert_non_null(strstr(b.data, "<mc-defanged-script>"));
	for (chunk = 1; chunk <= 64; chunk += 7) {
		assert_int_equal(run(s, n, chunk, HTML_ALL, &b2), bits);
		assert_int_equal(b2.len, b.len);
		assert_memory_equal(b2.data, b.data, b.len);
		buf_free(&b2);
	}
	buf_free(&b);
	free(s);
}

static void
test_chunking(void **state)
{
	static const char *const docs[] = {
		"<html><body onload=x><p>Hi</p><SCRIPT>a<b</SCRIPT>"
		"<a href=\"java&#x73;cript:alert(1)\" onclick='y'>z</a>"
		"<!-- c --><!--><iframe src=data:text/html,x></iframe>"
		"<img src=\"data:image/gif;base64,R0lGOD\"><meta "
		"http-equiv=refresh content=0><form action=x></form>"
		"<textarea><a title='</textarea><script>q</script>'>"
		"<object codebase=z></object></body></html>",
		"<svg><script>alert(1)</script><a xlink:href=\"jav&Tab;"
		"ascript:x\">t</a><rect onmouseover=\"x\"/></svg>",
		"<<p>>< p><//x><!x><!-><!--->",
		NULL
	};
	struct buf ref, b;
	unsigned bits, rbits;
	size_t chunk;
	int i;

	for (i = 0; docs[i] != NULL; i++) {
		rbits = run(docs[i], strlen(docs[i]), 1 << 20, HTML_ALL, &ref);
		for (chunk = 1; chunk <= 64; chunk++) {
			bits = run(docs[i], strlen(docs[i]), chunk, HTML_ALL,
			    &b);
			assert_int_equal(bits, rbits);
			assert_string_equal(b.data, ref.data);
			buf_free(&b);
		}
		buf_free(&ref);
	}
	rbits = detect(docs[0]);
	assert_int_equal(rbits, HTML_ALL);
}

static void
test_describe(void **state)
{
	char out[128];

	html_describe(HTML_ALL, out, sizeof(out));
	assert_string_equal(out,
	    "script,event,frame,object,jsurl,dataurl,form,refresh");
	html_describe(HTML_EVENT | HTML_JSURL, out, sizeof(out));
	assert_string_equal(out, "event,jsurl");
	html_describe(0, out, sizeof(out));
	assert_string_equal(out, "");
	html_describe(HTML_ALL, out, 10);
	assert_string_equal(out, "script");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constructs),
		cmocka_unit_test(test_schemes),
		cmocka_unit_test(test_harmless),
		cmocka_unit_test(test_comments_rawtext),
		cmocka_unit_test(test_long_tag),
		cmocka_unit_test(test_chunking),
		cmocka_unit_test(test_describe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
