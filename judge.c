/*
 * judge.c -- mailcorral-judge: MailCorral's attachment rules and MIME
 * parser as a command, for the differential MIME oracle
 * (testsuite/oracle/, doc/oracle.md) and for anyone who wants to know what
 * the filter would say about a file or a message.
 *
 * Nothing here judges by itself: a file is run through scan_judge_leaf()
 * (the callbacks every parsed part gets: virusfilter.c's name, type and
 * magic rules, the archive and TNEF readers), a message through scan.c as
 * the milter feeds it (header fields, end of headers, body; both views
 * when ambiguous).  Exit: 0 allowed, 1 forbidden, 2 error.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "confsnap.h"
#include "log.h"
#include "mime.h"
#include "scan.h"
#include "smfopts.h"
#include "util.h"
#include "virusfilter.h"

#define J_OK		0
#define J_FORBIDDEN	1
#define J_ERROR		2
#define MAX_FILE	(256u << 20)	/* one input file, bytes */
#define MAX_NAMES	16		/* -n names, -b names per record */

static const char usage_text[] =
"usage: mailcorral-judge [-c FILE] [-n NAME]... [-t TYPE] [-f FILE]\n"
"       mailcorral-judge [-c FILE] -m MESSAGE\n"
"       mailcorral-judge [-c FILE] -b | -M\n"
"\n"
"Judges with MailCorral's own rules (virusfilter.c through scan.c), as the\n"
"daemon would with the configuration FILE (default: built-in defaults).\n"
"\n"
"  -n NAME   a file name the attachment carries (repeat for several)\n"
"  -t TYPE   its declared MIME type (default application/octet-stream)\n"
"  -f FILE   its decoded content (\"-\": standard input); without -f the\n"
"            name and type alone are judged\n"
"  -m FILE   parse a whole message (\"-\": standard input) with the\n"
"            daemon's MIME parser; print every part of every view:\n"
"              P <view> <id> <parent> <depth> <type> <cte> <flags>\n"
"                <size> <name>...\n"
"              F <view> <id> <action> <reason> <detail>\n"
"              E <mime error words>\n"
"            tab separated; names, type and detail are %XX-escaped\n"
"            (bytes <= 0x20, '%', >= 0x7f)\n"
"  -M        -m for many messages: one path a line on standard input,\n"
"            each answer ends with a line \".\"; exit 0 at end of input\n"
"  -b        batch: read records \"<type>\\t<length>\\t<name>...\\n\"\n"
"            followed by <length> content bytes (type and names\n"
"            %XX-escaped, \"-\" for no type), answer one line each:\n"
"            \"<0|1>\\t<reason>\\t<detail>\"; exit 0 at end of input\n"
"  -c FILE   mailcorral.conf to take the rules and limits from\n"
"  -h        this help\n"
"\n"
"Exit status: 0 allowed, 1 forbidden (printed: forbidden <reason>: <detail>),\n"
"2 error.  See mailcorral-judge(1).\n";

static void
usage(FILE *f)
{
	fputs(usage_text, f);
}

/* %XX-escapes bytes <= 0x20, '%' and >= 0x7f. */
static void
put_esc(FILE *f, const char *s, size_t n)
{
	size_t i;

	if (n == 0) {
		fputc('-', f);
		return;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == '%' || c >= 0x7f)
			fprintf(f, "%%%02X", c);
		else
			fputc(c, f);
	}
}

/* Undoes put_esc in place; "-" is the empty string.  Returns the length. */
static size_t
unesc(char *s)
{
	size_t i, o = 0;
	int h, l;

	if (strcmp(s, "-") == 0) {
		s[0] = '\0';
		return 0;
	}
	for (i = 0; s[i] != '\0'; i++) {
		/* s[i + 1] is NUL or a digit before s[i + 2] is read */
		if (s[i] == '%' &&
		    (h = util_hexval((unsigned char)s[i + 1])) >= 0 &&
		    (l = util_hexval((unsigned char)s[i + 2])) >= 0) {
			s[o++] = (char)(h * 16 + l);
			i += 2;
		} else
			s[o++] = s[i];
	}
	s[o] = '\0';
	return o;
}

static int
read_all(FILE *f, struct buf *b)
{
	char tmp[65536];
	size_t n;

	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
		if (b->len + n > MAX_FILE) {
			errno = EFBIG;
			return -1;
		}
		if (buf_add(b, tmp, n) == -1)
			return -1;
	}
	return ferror(f) ? -1 : 0;
}

static int
read_path(const char *path, struct buf *b)
{
	FILE *f;
	int rc;

	if (strcmp(path, "-") == 0)
		return read_all(stdin, b);
	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	rc = read_all(f, b);
	fclose(f);
	return rc;
}

static const char *
act_str(enum scan_act a)
{
	switch (a) {
	case SCAN_DELETE:	return "delete";
	case SCAN_MANGLE:	return "mangle";
	case SCAN_DEFANG:	return "defang";
	case SCAN_REPLACE:	return "replace";
	}
	return "?";
}

/* A finding that takes the part away from the reader (not a defang). */
static int
forbids(const struct scan_finding *f)
{
	return f->act != SCAN_DEFANG;
}

/*
 * Judges one attachment.  names may hold NULs (a name is cut at its
 * first NUL, as the parser keeps names).  Fills reason/what of the first
 * finding that forbids it.  Returns J_OK, J_FORBIDDEN or J_ERROR.
 */
static int
judge_file(const struct mc_config *cf, char **names, unsigned nnames,
    const char *type, size_t tlen, const void *data, size_t len,
    int have_data, const char **reason, char *what, size_t wlen)
{
	struct mime_part p;
	const struct scan_finding *f;
	struct scan *sc;
	unsigned i, nf;
	size_t k;
	int rc = J_OK;

	memset(&p, 0, sizeof(p));
	p.id = 1;
	p.depth = 1;
	p.flags = MIME_PART_ATTACHMENT;
	p.cte = MIME_CTE_BINARY;
	/* The declared type as the parser keeps it: lower case, no
	   parameters, no blanks. */
	for (i = 0, k = 0; i < tlen && type[i] != ';' &&
	    k + 1 < sizeof(p.type); i++)
		if (!isspace((unsigned char)type[i]))
			p.type[k++] = (char)tolower((unsigned char)type[i]);
	if (k == 0)
		snprintf(p.type, sizeof(p.type), "application/octet-stream");
	p.names = names;
	p.nnames = nnames;
	if (have_data) {
		p.magic_len = len < sizeof(p.magic) ? (unsigned)len :
		    (unsigned)sizeof(p.magic);
		memcpy(p.magic, data, p.magic_len);
		p.decoded_size = len;
		p.body_end = len;
	}
	*reason = "ok";
	what[0] = '\0';
	if ((sc = scan_new(cf, "judge")) == NULL)
		return J_ERROR;
	if (scan_judge_leaf(sc, &p, data, have_data ? len : 0) == -1) {
		scan_free(sc);
		return J_ERROR;
	}
	f = scan_findings(sc, &nf);
	for (i = 0; i < nf; i++)
		if (forbids(&f[i])) {
			*reason = virus_reason_str(f[i].reason);
			snprintf(what, wlen, "%s", f[i].what);
			rc = J_FORBIDDEN;
			break;
		}
	scan_free(sc);
	return rc;
}

/* Feeds a raw message to scan.c the way the milter does. */
static int
feed_message(struct scan *sc, const char *m, size_t n)
{
	struct buf name = BUF_INIT, value = BUF_INIT;
	size_t i = 0, eol, colon, v;
	int rc = -1;

	while (i < n) {
		/* the end of the header block: an empty line */
		if (m[i] == '\n' || (m[i] == '\r' && i + 1 < n &&
		    m[i + 1] == '\n')) {
			i += m[i] == '\r' ? 2 : 1;
			break;
		}
		/* one field: up to a line end not followed by a blank */
		for (eol = i; eol < n; eol++)
			if (m[eol] == '\n' && (eol + 1 >= n ||
			    (m[eol + 1] != ' ' && m[eol + 1] != '\t')))
				break;
		colon = i;
		while (colon < eol && m[colon] != ':')
			colon++;
		if (colon == eol)
			break;		/* not a field: the body starts here */
		buf_reset(&name);
		buf_reset(&value);
		v = colon + 1;
		if (v < eol && (m[v] == ' ' || m[v] == '\t'))
			v++;		/* sendmail drops one blank */
		if (buf_add(&name, m + i, colon - i) == -1 ||
		    buf_addc(&name, '\0') == -1)
			goto out;
		/* the value without its final line end, folds as LF */
		{
			size_t e = eol;

			if (e > v && m[e - 1] == '\r')
				e--;
			for (; v < e; v++) {
				if (m[v] == '\r' && v + 1 < e &&
				    m[v + 1] == '\n')
					continue;
				if (m[v] == '\0')
					continue;	/* milter strings */
				if (buf_addc(&value, m[v]) == -1)
					goto out;
			}
		}
		if (buf_addc(&value, '\0') == -1)
			goto out;
		if (scan_header(sc, name.data, value.data) == -1)
			goto out;
		i = eol < n ? eol + 1 : n;
	}
	if (scan_eoh(sc) == -1 || scan_body(sc, m + i, n - i) == -1 ||
	    scan_finish(sc) == -1)
		goto out;
	rc = 0;
out:
	buf_free(&name);
	buf_free(&value);
	return rc;
}

static const char *const cte_names[] = {
	"7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode",
	"unknown"
};

static void
put_flags(FILE *f, unsigned fl)
{
	static const struct { unsigned bit; const char *w; } fw[] = {
		{ MIME_PART_MULTIPART, "multipart" },
		{ MIME_PART_MESSAGE, "message" },
		{ MIME_PART_ATTACHMENT, "attachment" },
		{ MIME_PART_INLINE, "inline" },
		{ MIME_PART_EMBEDDED, "embedded" },
		{ MIME_PART_AMBIGUOUS, "ambiguous" },
		{ MIME_PART_UNSCANNABLE, "unscannable" },
		{ MIME_PART_TRUNCATED, "truncated" },
		{ MIME_PART_PREAMBLE, "preamble" },
		{ MIME_PART_EPILOGUE, "epilogue" },
		{ MIME_PART_NOHEADERS, "noheaders" },
	};
	size_t i;
	int any = 0;

	for (i = 0; i < sizeof(fw) / sizeof(fw[0]); i++)
		if (fl & fw[i].bit) {
			fprintf(f, "%s%s", any ? "," : "", fw[i].w);
			any = 1;
		}
	if (!any)
		fputc('-', f);
}

static int
judge_message(const struct mc_config *cf, const char *path)
{
	struct buf b = BUF_INIT;
	const struct mime_part *p;
	const struct scan_finding *f;
	struct scan *sc;
	unsigned view, i, k, n, nf, errs, bit;
	int rc = J_OK;

	if (read_path(path, &b) == -1) {
		fprintf(stderr, "mailcorral-judge: %s: %s\n", path,
		    strerror(errno));
		buf_free(&b);
		return J_ERROR;
	}
	if ((sc = scan_new(cf, "judge")) == NULL ||
	    feed_message(sc, b.data != NULL ? b.data : "", b.len) == -1) {
		fprintf(stderr, "mailcorral-judge: %s: %s\n", path,
		    strerror(errno));
		scan_free(sc);
		buf_free(&b);
		return J_ERROR;
	}
	for (view = 0; view < 2; view++) {
		if ((p = scan_view_parts(sc, view, &n)) == NULL)
			continue;
		for (i = 0; i < n; i++) {
			printf("P\t%u\t%u\t%u\t%u\t", view, p[i].id,
			    p[i].parent, p[i].depth);
			put_esc(stdout, p[i].type, strlen(p[i].type));
			printf("\t%s\t", cte_names[p[i].cte]);
			put_flags(stdout, p[i].flags);
			printf("\t%llu", (unsigned long long)p[i].decoded_size);
			for (k = 0; k < p[i].nnames; k++) {
				putchar('\t');
				put_esc(stdout, p[i].names[k],
				    strlen(p[i].names[k]));
			}
			putchar('\n');
		}
	}
	f = scan_findings(sc, &nf);
	for (i = 0; i < nf; i++) {
		printf("F\t%u\t%u\t%s\t%s\t", f[i].view, f[i].part,
		    act_str(f[i].act), virus_reason_str(f[i].reason));
		put_esc(stdout, f[i].what, strlen(f[i].what));
		putchar('\n');
		if (forbids(&f[i]))
			rc = J_FORBIDDEN;
	}
	errs = scan_errors(sc);
	printf("E");
	for (bit = 1; bit != 0 && bit <= errs; bit <<= 1)
		if (errs & bit)
			printf("\t%s", mime_strerror(bit));
	putchar('\n');
	scan_free(sc);
	buf_free(&b);
	if (fflush(stdout) == EOF)
		return J_ERROR;
	return rc;
}

static int
judge_messages(const struct mc_config *cf)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t r;
	int ret = J_OK;

	while ((r = getline(&line, &cap, stdin)) > 0) {
		if (line[r - 1] == '\n')
			line[--r] = '\0';
		if (judge_message(cf, line) == J_ERROR)
			printf("X\t%s\n", strerror(errno));
		printf(".\n");
		if (fflush(stdout) == EOF) {
			ret = J_ERROR;
			break;
		}
	}
	free(line);
	return ret;
}

/* Splits s at tabs in place; returns the number of fields (<= max). */
static unsigned
split_tabs(char *s, char **out, unsigned max)
{
	unsigned n = 0;

	while (n < max) {
		out[n++] = s;
		if ((s = strchr(s, '\t')) == NULL)
			break;
		*s++ = '\0';
	}
	return n;
}

static int
judge_batch(const struct mc_config *cf)
{
	char *line = NULL, *fld[2 + MAX_NAMES], *end, what[160];
	size_t cap = 0, tlen, len;
	ssize_t r;
	unsigned nf, i;
	const char *reason;
	char *data = NULL, *grown;
	size_t dcap = 0;
	int rc, ret = J_OK;

	while ((r = getline(&line, &cap, stdin)) > 0) {
		if (line[r - 1] == '\n')
			line[--r] = '\0';
		nf = split_tabs(line, fld, 2 + MAX_NAMES);
		errno = 0;
		len = nf >= 2 ? strtoul(fld[1], &end, 10) : 0;
		if (nf < 2 || errno != 0 || *end != '\0' || len > MAX_FILE) {
			fprintf(stderr, "mailcorral-judge: -b: bad record\n");
			ret = J_ERROR;
			break;
		}
		if (len + 1 > dcap) {
			if ((grown = realloc(data, len + 1)) == NULL) {
				ret = J_ERROR;
				break;
			}
			data = grown;
			dcap = len + 1;
		}
		if (fread(data, 1, len, stdin) != len) {
			fprintf(stderr, "mailcorral-judge: -b: short record\n");
			ret = J_ERROR;
			break;
		}
		tlen = unesc(fld[0]);
		for (i = 2; i < nf; i++)
			unesc(fld[i]);
		rc = judge_file(cf, fld + 2, nf - 2, fld[0], tlen, data, len,
		    1, &reason, what, sizeof(what));
		if (rc == J_ERROR) {
			fprintf(stderr, "mailcorral-judge: -b: %s\n",
			    strerror(errno));
			ret = J_ERROR;
			break;
		}
		printf("%d\t%s\t", rc, reason);
		put_esc(stdout, what, strlen(what));
		putchar('\n');
		if (fflush(stdout) == EOF) {
			ret = J_ERROR;
			break;
		}
	}
	free(line);
	free(data);
	return ret;
}

int
main(int argc, char **argv)
{
	struct mc_config *cf = NULL;
	const char *conf = NULL, *type = "", *file = NULL, *msg = NULL;
	const char *reason;
	char *names[MAX_NAMES], err[512], what[160];
	unsigned nnames = 0;
	struct buf data = BUF_INIT;
	int ch, batch = 0, many = 0, rc;

	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return J_OK;
	}
	while ((ch = getopt(argc, argv, "bc:f:hMm:n:t:")) != -1) {
		switch (ch) {
		case 'b':
			batch = 1;
			break;
		case 'c':
			conf = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'h':
			usage(stdout);
			return J_OK;
		case 'M':
			many = 1;
			break;
		case 'm':
			msg = optarg;
			break;
		case 'n':
			if (nnames == MAX_NAMES) {
				fprintf(stderr, "mailcorral-judge: at most %d "
				    "names\n", MAX_NAMES);
				return J_ERROR;
			}
			names[nnames++] = optarg;
			break;
		case 't':
			type = optarg;
			break;
		default:
			usage(stderr);
			return J_ERROR;
		}
	}
	if (optind != argc || (batch + many + (msg != NULL) +
	    (nnames > 0 || file != NULL || *type != '\0') != 1)) {
		usage(stderr);
		return J_ERROR;
	}
	/* a command: what the rules log goes to stderr, not to syslog */
	log_init("mailcorral-judge", LOG_MAIL, 1);
	setlogmask(LOG_MASK(LOG_EMERG));
	if (conf_load(conf, &cf, err, sizeof(err)) == -1) {
		fprintf(stderr, "mailcorral-judge: %s\n", err);
		return J_ERROR;
	}
	if (batch)
		rc = judge_batch(cf);
	else if (many)
		rc = judge_messages(cf);
	else if (msg != NULL)
		rc = judge_message(cf, msg);
	else if (file != NULL && read_path(file, &data) == -1) {
		fprintf(stderr, "mailcorral-judge: %s: %s\n", file,
		    strerror(errno));
		rc = J_ERROR;
	} else {
		rc = judge_file(cf, names, nnames, type, strlen(type),
		    data.data != NULL ? data.data : "", data.len,
		    file != NULL, &reason, what, sizeof(what));
		if (rc == J_FORBIDDEN)
			printf("forbidden %s: %s\n", reason, what);
		else if (rc == J_OK)
			printf("allowed\n");
		else
			fprintf(stderr, "mailcorral-judge: %s\n",
			    strerror(errno));
	}
	buf_free(&data);
	conf_free(cf);
	return rc;
}
