/*
 * mailcorral.c -- the milter daemon: command line, daemon life (pid file,
 * signals, privilege drop), libmilter registration, the callbacks, and the
 * end-of-message decision.  Thin: the work is in scan.c (analysis) and
 * rewrite.c (the new body).
 *
 * Contexts: one struct mc_conn per SMTP connection (connect .. close), and
 * one struct mc_msg per transaction (MAIL FROM .. EOM or abort), hung off
 * the libmilter private pointer.  Trouble with one message never stops the
 * daemon: it sets msg->err and the message is tempfailed at EOM.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "rewrite.h"
#include "scan.h"
#include "smfopts.h"
#include "banned.h"

#define MC_MAX_FORGED	64	/* distinct X-MailCorral-* names removed */

struct mc_msg {
	char		 qid[64];	/* sendmail {i}, else NOQUEUE */
	char		*sender;
	unsigned	 nrcpt;
	struct scan	*scan;
	int		 err;		/* sticky errno of a failure */
	/* header occurrences we may change, counted per name */
	unsigned	 n_ctype, n_cte, n_cdisp;
	char		*forged[MC_MAX_FORGED];
	unsigned	 n_forged[MC_MAX_FORGED];
	unsigned	 nforged;
};

struct mc_conn {
	struct mc_config *cf;		/* snapshot held for the connection */
	char		  client[256];
	struct mc_msg	 *msg;		/* NULL between transactions */
};

static const char	*mc_conffile;
static int		 mc_conf_given;

/* Test seam: unit tests may run the callbacks on a fake context. */
static struct mc_conn *
mc_getpriv(SMFICTX *ctx)
{
	return smfi_getpriv(ctx);
}

static void
mc_setpriv(SMFICTX *ctx, struct mc_conn *c)
{
	smfi_setpriv(ctx, c);
}

static void
msg_free(struct mc_msg *m)
{
	unsigned i;

	if (m == NULL)
		return;
	scan_free(m->scan);
	free(m->sender);
	for (i = 0; i < m->nforged; i++)
		free(m->forged[i]);
	free(m);
}

static void
set_qid(SMFICTX *ctx, struct mc_msg *m)
{
	const char *q = smfi_getsymval(ctx, "i");
	size_t i;

	if (q == NULL || *q == '\0') {
		if (m->qid[0] == '\0')
			snprintf(m->qid, sizeof(m->qid), "NOQUEUE");
		return;
	}
	for (i = 0; q[i] != '\0' && i + 1 < sizeof(m->qid); i++)
		m->qid[i] = (q[i] > 0x20 && q[i] < 0x7f) ? q[i] : '_';
	m->qid[i] = '\0';
}

static sfsistat
mlfi_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
	struct mc_conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("connect: out of memory");
		return SMFIS_TEMPFAIL;
	}
	c->cf = conf_acquire();
	log_safe(host ? host : "unknown", strlen(host ? host : "unknown"),
	    c->client, sizeof(c->client));
	mc_setpriv(ctx, c);
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_envfrom(SMFICTX *ctx, char **argv)
{
	struct mc_conn *c = mc_getpriv(ctx);
	struct mc_msg *m;

	if (c == NULL)
		return SMFIS_TEMPFAIL;
	msg_free(c->msg);
	c->msg = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		goto nomem;
	c->msg = m;
	set_qid(ctx, m);
	if ((m->sender = strdup(argv[0] ? argv[0] : "<>")) == NULL)
		goto nomem;
	if ((m->scan = scan_new(c->cf, m->qid)) == NULL)
		m->err = errno ? errno : ENOMEM;
	return SMFIS_CONTINUE;
nomem:
	log_warn("envfrom: out of memory");
	return SMFIS_TEMPFAIL;
}

static sfsistat
mlfi_envrcpt(SMFICTX *ctx, char **argv)
{
	struct mc_conn *c = mc_getpriv(ctx);

	if (c == NULL || c->msg == NULL)
		return SMFIS_TEMPFAIL;
	c->msg->nrcpt++;
	return SMFIS_CONTINUE;
}

static void
note_header(struct mc_msg *m, const char *name)
{
	unsigned i;

	if (strcasecmp(name, "Content-Type") == 0)
		m->n_ctype++;
	else if (strcasecmp(name, "Content-Transfer-Encoding") == 0)
		m->n_cte++;
	else if (strcasecmp(name, "Content-Disposition") == 0)
		m->n_cdisp++;
	else if (strncasecmp(name, "X-MailCorral", 12) == 0) {
		for (i = 0; i < m->nforged; i++)
			if (strcasecmp(m->forged[i], name) == 0) {
				m->n_forged[i]++;
				return;
			}
		if (m->nforged < MC_MAX_FORGED &&
		    (m->forged[m->nforged] = strdup(name)) != NULL)
			m->n_forged[m->nforged++] = 1;
	}
}

static sfsistat
mlfi_header(SMFICTX *ctx, char *name, char *value)
{
	struct mc_conn *c = mc_getpriv(ctx);
	struct mc_msg *m;

	if (c == NULL || (m = c->msg) == NULL)
		return SMFIS_TEMPFAIL;
	note_header(m, name);
	if (m->err == 0 && m->scan != NULL &&
	    scan_header(m->scan, name, value) == -1)
		m->err = errno ? errno : EIO;
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_eoh(SMFICTX *ctx)
{
	struct mc_conn *c = mc_getpriv(ctx);
	struct mc_msg *m;

	if (c == NULL || (m = c->msg) == NULL)
		return SMFIS_TEMPFAIL;
	if (m->err == 0 && m->scan != NULL && scan_eoh(m->scan) == -1)
		m->err = errno ? errno : EIO;
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_body(SMFICTX *ctx, unsigned char *data, size_t len)
{
	struct mc_conn *c = mc_getpriv(ctx);
	struct mc_msg *m;

	if (c == NULL || (m = c->msg) == NULL)
		return SMFIS_TEMPFAIL;
	if (m->err == 0 && m->scan != NULL &&
	    scan_body(m->scan, data, len) == -1)
		m->err = errno ? errno : EIO;
	return SMFIS_CONTINUE;
}

static int
replace_body(void *arg, const char *p, size_t n)
{
	SMFICTX *ctx = arg;

	if (smfi_replacebody(ctx, (unsigned char *)(uintptr_t)p, (int)n) !=
	    MI_SUCCESS) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/* Deletes every occurrence of a field, last first (CVE-2022-48521). */
static int
delete_all(SMFICTX *ctx, const char *name, unsigned count, unsigned keep)
{
	unsigned i;

	for (i = count; i > keep; i--)
		if (smfi_chgheader(ctx, (char *)(uintptr_t)name, (int)i,
		    NULL) != MI_SUCCESS)
			return -1;
	return 0;
}

/* The body is now the plain-text warning: make the headers say so. */
static int
headers_for_text(SMFICTX *ctx, const struct mc_msg *m)
{
	if (delete_all(ctx, "Content-Type", m->n_ctype, 1) == -1 ||
	    delete_all(ctx, "Content-Transfer-Encoding", m->n_cte, 0) == -1 ||
	    delete_all(ctx, "Content-Disposition", m->n_cdisp, 0) == -1)
		return -1;
	if (smfi_chgheader(ctx, "Content-Type", 1,
	    "text/plain; charset=us-ascii") != MI_SUCCESS)
		return -1;
	return 0;
}

static void
mime_words(unsigned errs, struct buf *b)
{
	unsigned bit;

	for (bit = 1; bit != 0 && bit <= errs; bit <<= 1)
		if (errs & bit)
			buf_printf(b, "%s%s", b->len ? "," : "",
			    mime_strerror(bit));
	if (b->len == 0)
		buf_adds(b, "ok");
}

static sfsistat
mlfi_eom(SMFICTX *ctx)
{
	struct mc_conn *c = mc_getpriv(ctx);
	struct mc_msg *m;
	struct rw_result res;
	struct buf words = BUF_INIT;
	const char *action = "accept";
	char hdr[256], from[256];
	sfsistat rc = SMFIS_CONTINUE;
	unsigned i, errs = 0;
	uint64_t size = 0;

	if (c == NULL || (m = c->msg) == NULL)
		return SMFIS_TEMPFAIL;
	memset(&res, 0, sizeof(res));
	set_qid(ctx, m);
	if (m->err == 0 && m->scan != NULL && scan_finish(m->scan) == -1)
		m->err = errno ? errno : EIO;
	if (m->scan != NULL) {
		errs = scan_errors(m->scan);
		size = scan_body_size(m->scan);
	}
	if (m->err != 0 || m->scan == NULL) {
		errno = m->err;
		log_msg(m->qid, LOG_WARNING, "internal-error reason=%s",
		    strerror(m->err ? m->err : ENOMEM));
		smfi_setreply(ctx, "451", "4.3.0",
		    "temporary failure in the mail filter");
		action = "tempfail";
		rc = SMFIS_TEMPFAIL;
		goto log;
	}
	if ((errs & (MIME_ERR_DEPTH | MIME_ERR_PARTS)) &&
	    c->cf->on_mime_limit == CONF_LIMIT_REJECT) {
		smfi_setreply(ctx, "554", "5.6.0",
		    "message structure exceeds this site's limits");
		action = "reject";
		rc = SMFIS_REJECT;
		goto log;
	}
	/* Forged copies of our own header fields never pass. */
	for (i = 0; i < m->nforged; i++)
		if (delete_all(ctx, m->forged[i], m->n_forged[i], 0) == -1)
			goto fail;
	if (rw_rewrite(m->scan, c->cf, replace_body, ctx, &res) == -1)
		goto fail;
	if (res.replace_all && headers_for_text(ctx, m) == -1)
		goto fail;
	if (res.changed) {
		snprintf(hdr, sizeof(hdr), "removed=%u renamed=%u "
		    "defanged=%u (MailCorral %s)", res.removed, res.renamed,
		    res.defanged, MC_VERSION);
		if (smfi_addheader(ctx, MC_HDR_FILTERED, hdr) != MI_SUCCESS)
			goto fail;
	}
	if (scan_views(m->scan) > 1 && smfi_addheader(ctx, MC_HDR_AMBIGUITY,
	    "ambiguous MIME structure; every reading was checked") !=
	    MI_SUCCESS)
		goto fail;
	goto log;
fail:
	log_msg(m->qid, LOG_WARNING, "modify-failed reason=%s",
	    strerror(errno ? errno : EIO));
	smfi_setreply(ctx, "451", "4.3.0",
	    "temporary failure in the mail filter");
	action = "tempfail";
	rc = SMFIS_TEMPFAIL;
log:
	mime_words(errs, &words);
	log_safe(m->sender, strlen(m->sender), from, sizeof(from));
	log_msg(m->qid, LOG_INFO, "action=%s changes=removed:%u,renamed:%u,"
	    "defanged:%u%s%s mime=%s views=%d from=%s nrcpt=%u size=%llu",
	    action, res.removed, res.renamed, res.defanged,
	    res.summary.len ? " " : "", res.summary.len ? res.summary.data : "",
	    words.data, m->scan ? scan_views(m->scan) : 0, from, m->nrcpt,
	    (unsigned long long)size);
	buf_free(&words);
	rw_result_free(&res);
	msg_free(m);
	c->msg = NULL;
	return rc;
}

static sfsistat
mlfi_abort(SMFICTX *ctx)
{
	struct mc_conn *c = mc_getpriv(ctx);

	if (c != NULL) {
		msg_free(c->msg);
		c->msg = NULL;
	}
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_close(SMFICTX *ctx)
{
	struct mc_conn *c = mc_getpriv(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	msg_free(c->msg);
	conf_release(c->cf);
	free(c);
	mc_setpriv(ctx, NULL);
	return SMFIS_CONTINUE;
}

static struct smfiDesc mc_desc = {
	MC_NAME,
	SMFI_VERSION,
	SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY,
	mlfi_connect,
	NULL,			/* helo */
	mlfi_envfrom,
	mlfi_envrcpt,
	mlfi_header,
	mlfi_eoh,
	mlfi_body,
	mlfi_eom,
	mlfi_abort,
	mlfi_close,
	NULL,			/* unknown */
	NULL,			/* data */
	NULL			/* negotiate */
};

/* ---- daemon life ---- */

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: mailcorral [-fnhV] [-c file] [-p socket] [-u user] "
	    "[-P pidfile]\n"
	    "  -c file     configuration file (default %s;\n"
	    "              built-in defaults when it does not exist)\n"
	    "  -p socket   milter socket: inet:PORT@HOST or unix:PATH\n"
	    "              (default %s)\n"
	    "  -f          stay in the foreground, log to stderr too\n"
	    "  -n          check the configuration and exit\n"
	    "  -u user     run as this user when started as root\n"
	    "  -P pidfile  write the process id here\n"
	    "  -V          print the version and exit\n"
	    "  -h          this help\n"
	    "Signals: SIGUSR1 reloads the configuration; SIGTERM stops.\n"
	    "Configuration keywords (see mailcorral.conf(5)):\n",
	    DEF_CONFIG_FILE, DEF_SOCKET);
	if (fp == stdout)
		conf_dump_defaults();
}

static void *
reloader(void *arg)
{
	sigset_t set;
	int sig;
	struct mc_config *cf;
	char err[512];

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (conf_load(mc_conf_given || access(mc_conffile, F_OK) == 0 ?
		    mc_conffile : NULL, &cf, err, sizeof(err)) == -1) {
			log_warnx("reload failed, keeping the running "
			    "configuration: %s", err);
			continue;
		}
		conf_install(cf);
		log_info("configuration reloaded from %s",
		    cf->file ? cf->file : "built-in defaults");
	}
	return NULL;
}

static int
drop_privileges(const char *user)
{
	struct passwd *pw;

	if (user == NULL || *user == '\0' || geteuid() != 0)
		return 0;
	if ((pw = getpwnam(user)) == NULL) {
		log_warnx("unknown user \"%s\"", user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) == -1 ||
	    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1) {
		log_warn("cannot become %s", user);
		return -1;
	}
	if (pw->pw_uid != 0 && setuid(0) != -1) {
		log_warnx("privileges could be regained after dropping them");
		return -1;
	}
	return 0;
}

static int
write_pidfile(const char *path)
{
	char line[32];
	int fd, n;

	if (path == NULL || *path == '\0')
		return 0;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd == -1) {
		log_warn("pid file %s", path);
		return -1;
	}
	n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (write(fd, line, (size_t)n) != n) {
		log_warn("pid file %s", path);
		close(fd);
		return -1;
	}
	return close(fd);
}

static int
daemonize(void)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) == -1)
		return -1;
	if (pid > 0)
		_exit(0);
	if (setsid() == -1)
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid > 0)
		_exit(0);
	if (chdir("/") == -1)
		return -1;
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *sock = NULL, *user = NULL, *pidfile = NULL;
	int ch, foreground = 0, check = 0, fac;
	struct mc_config *cf;
	char err[512];
	pthread_t tid;
	sigset_t set;

	mc_conffile = DEF_CONFIG_FILE;
	while ((ch = getopt(argc, argv, "c:p:fnu:P:Vh")) != -1) {
		switch (ch) {
		case 'c':
			mc_conffile = optarg;
			mc_conf_given = 1;
			break;
		case 'p':
			sock = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'n':
			check = 1;
			break;
		case 'u':
			user = optarg;
			break;
		case 'P':
			pidfile = optarg;
			break;
		case 'V':
			printf("mailcorral %s\n", MC_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	if (conf_load(mc_conf_given || access(mc_conffile, F_OK) == 0 ?
	    mc_conffile : NULL, &cf, err, sizeof(err)) == -1) {
		fprintf(stderr, "mailcorral: %s\n", err);
		return EX_CONFIG;
	}
	if (check) {
		printf("%s: configuration OK\n", cf->file ? cf->file :
		    "built-in defaults");
		conf_free(cf);
		return 0;
	}
	if (sock == NULL)
		sock = cf->socket;
	if (user == NULL)
		user = cf->user;
	if (pidfile == NULL)
		pidfile = cf->pid_file;
	fac = log_facility(cf->log_facility);
	log_init(MC_NAME, fac, foreground);
	umask(077);
	signal(SIGPIPE, SIG_IGN);

	if (smfi_setconn((char *)(uintptr_t)sock) != MI_SUCCESS ||
	    smfi_register(mc_desc) != MI_SUCCESS ||
	    smfi_settimeout((int)cf->milter_timeout) != MI_SUCCESS ||
	    smfi_setbacklog((int)cf->milter_backlog) != MI_SUCCESS) {
		log_warnx("cannot set up libmilter for %s", sock);
		return EX_SOFTWARE;
	}
	if (smfi_opensocket(1) != MI_SUCCESS) {
		log_warnx("cannot open milter socket %s", sock);
		return EX_UNAVAILABLE;
	}
	if (!foreground && daemonize() == -1) {
		log_warn("cannot become a daemon");
		return EX_OSERR;
	}
	if (write_pidfile(pidfile) == -1)
		return EX_CANTCREAT;
	if (drop_privileges(user) == -1)
		return EX_NOPERM;
	conf_install(cf);

	/* SIGUSR1 is for our reload thread; block it before threads exist. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if ((errno = pthread_create(&tid, NULL, reloader, NULL)) != 0) {
		log_warn("cannot start the reload thread");
		return EX_OSERR;
	}
	pthread_detach(tid);
	log_info("mailcorral %s starting on %s (config %s)", MC_VERSION, sock,
	    cf->file ? cf->file : "built-in defaults");
	ch = smfi_main();
	log_info("mailcorral stopping (%s)", ch == MI_SUCCESS ? "normal" :
	    "error");
	if (pidfile != NULL && *pidfile != '\0')
		unlink(pidfile);
	conf_shutdown();
	return ch == MI_SUCCESS ? 0 : EX_SOFTWARE;
}
