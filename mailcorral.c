/*
 * mailcorral.c -- the milter daemon: command line, daemon life (pid file,
 * signals, privilege drop), libmilter registration, the shutdown gate and
 * the callbacks.  What it leaves to others: the analysis is scan.c's,
 * the end-of-message decision verdict.c's, the stop gate.c's, the process
 * set-up daemon.c's; apply_verdict() here is the one place that makes the
 * MTA changes (headers, recipients, body, reply) the verdict lists.
 * Names: mlfi_ for the libmilter callbacks, mc_ for the contexts.
 *
 * Contexts: one struct mc_conn per SMTP connection (connect .. close), and
 * one struct mc_msg (verdict.h) per transaction (MAIL FROM .. EOM or
 * abort), hung off the libmilter private pointer.  Ownership: the
 * connection owns its message and holds its config snapshot.  Failure:
 * trouble with one message never stops the daemon: it sets msg->err and
 * the message is tempfailed at EOM.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "buf.h"
#include "bypass.h"
#include "clamd.h"
#include "conf.h"
#include "confsnap.h"
#include "corral.h"
#include "daemon.h"
#include "gate.h"
#include "log.h"
#include "mcarchive.h"
#include "perlpool.h"
#include "rewrite.h"
#include "scan.h"
#include "smfopts.h"
#include "spamd.h"
#include "spamfilter.h"
#include "spool.h"
#include "util.h"
#include "verdict.h"
#include "banned.h"

/* Steps the MTA need not wait for: their callbacks cannot fail. */
#define MC_NOREPLY	(SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY)

struct mc_conn {
	struct mc_config *cf;		/* snapshot held for the connection */
	unsigned long	  noreply;	/* MC_NOREPLY steps agreed */
	char		  client[256];
	struct mc_msg	 *msg;		/* NULL between transactions */
	int		  counted;	/* in mc_sessions */
};

/* Connections between connect and close (max_sessions). */
static atomic_uint	mc_sessions;
/* Connection contexts allocated and not yet freed by mlfi_close(). */
static atomic_uint	mc_contexts;
static atomic_llong	mc_busy_logged;	/* second of the last "busy" line */

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

/*
 * Agrees the protocol with the MTA: the actions we use, no HELO, DATA or
 * unknown commands, and no reply to each header field, the end of the
 * headers and each body chunk (100,000 header fields cost 4 s of CPU in
 * replies alone; trouble there is kept in msg->err and answered at EOM).
 */
static sfsistat
mlfi_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	const unsigned long need = SMFIF_ADDHDRS | SMFIF_CHGHDRS |
	    SMFIF_CHGBODY;
	struct mc_conn *c;

	(void)f2;
	(void)f3;
	if ((f0 & need) != need || (c = calloc(1, sizeof(*c))) == NULL)
		return SMFIS_ALL_OPTS;
	atomic_fetch_add(&mc_contexts, 1);
	/* archive_address; a recipient over its corral quota */
	*pf0 = need | (f0 & (SMFIF_ADDRCPT | SMFIF_DELRCPT));
	*pf1 = f1 & (SMFIP_NOHELO | SMFIP_NOUNKNOWN | SMFIP_NODATA |
	    MC_NOREPLY);
	*pf2 = *pf3 = 0;
	c->noreply = *pf1 & MC_NOREPLY;
	mc_setpriv(ctx, c);
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
	struct mc_conn *c = mc_getpriv(ctx);

	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			log_warn("connect: out of memory");
			return SMFIS_TEMPFAIL;
		}
		atomic_fetch_add(&mc_contexts, 1);
	}
	c->cf = conf_acquire();
	log_safe(host ? host : "unknown", strlen(host ? host : "unknown"),
	    c->client, sizeof(c->client));
	mc_setpriv(ctx, c);
	/* All busy: tempfail now rather than queue without bound. */
	if (atomic_fetch_add(&mc_sessions, 1) >= (unsigned)c->cf->max_sessions) {
		long long now = (long long)time(NULL);

		atomic_fetch_sub(&mc_sessions, 1);
		if (atomic_exchange(&mc_busy_logged, now) != now)
			log_warnx("connect from %s: max_sessions %ld reached, "
			    "tempfail", c->client, c->cf->max_sessions);
		return SMFIS_TEMPFAIL;
	}
	c->counted = 1;
	return SMFIS_CONTINUE;
}

/* Copies an address without its angle brackets and blanks. */
static char *
bare_address(const char *a)
{
	size_t n;

	while (*a == ' ' || *a == '<')
		a++;
	n = strcspn(a, ">");
	while (n > 0 && a[n - 1] == ' ')
		n--;
	return strndup(a, n);
}

static void
copy_macro(SMFICTX *ctx, const char *name, char *out, size_t outlen)
{
	const char *v = smfi_getsymval(ctx, (char *)(uintptr_t)name);

	snprintf(out, outlen, "%s", v != NULL ? v : "");
}

static sfsistat
mlfi_envfrom(SMFICTX *ctx, char **argv)
{
	struct mc_conn *c = mc_getpriv(ctx);
	struct mc_msg *m;

	if (c == NULL)
		return SMFIS_TEMPFAIL;
	verdict_msg_free(c->msg);
	c->msg = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		goto nomem;
	c->msg = m;
	set_qid(ctx, m);
	if ((m->sender = bare_address(argv[0] ? argv[0] : "")) == NULL)
		goto nomem;
	copy_macro(ctx, "{mail_mailer}", m->mailer, sizeof(m->mailer));
	copy_macro(ctx, "{mail_addr}", m->mailaddr, sizeof(m->mailaddr));
	copy_macro(ctx, "{daemon_name}", m->daemon, sizeof(m->daemon));
	copy_macro(ctx, "_", m->relay, sizeof(m->relay));
	if ((m->scan = scan_new(c->cf, m->qid)) == NULL)
		m->err = errno ? errno : ENOMEM;
	if (c->cf->perl_filter[0] != '\0' && (m->perl = pp_msg_new()) ==
	    NULL)
		m->err = ENOMEM;
	return SMFIS_CONTINUE;
nomem:
	log_warn("envfrom: out of memory");
	return SMFIS_TEMPFAIL;
}

static sfsistat
mlfi_envrcpt(SMFICTX *ctx, char **argv)
{
	struct mc_conn *c = mc_getpriv(ctx);

	struct mc_msg *m;
	char **nr;

	if (c == NULL || (m = c->msg) == NULL)
		return SMFIS_TEMPFAIL;
	if ((nr = realloc(m->rcpts, (m->nrcpt + 1) * sizeof(*nr))) == NULL)
		goto nomem;
	m->rcpts = nr;
	if ((m->rcpts[m->nrcpt] = bare_address(argv[0] ? argv[0] : "")) ==
	    NULL)
		goto nomem;
	m->nrcpt++;
	return SMFIS_CONTINUE;
nomem:
	log_warn("envrcpt: out of memory");
	return SMFIS_TEMPFAIL;
}

static sfsistat
mlfi_header(SMFICTX *ctx, char *name, char *value)
{
	struct mc_conn *c = mc_getpriv(ctx);
	struct mc_msg *m;

	if (c == NULL || (m = c->msg) == NULL)
		return SMFIS_TEMPFAIL;
	verdict_msg_header(m, name, value);
	if (m->perl != NULL && pp_msg_header(m->perl, name, value) == -1)
		m->err = ENOMEM;
	if (m->err == 0 && m->scan != NULL &&
	    scan_header(m->scan, name, value) == -1)
		m->err = errno ? errno : EIO;
	return c->noreply & SMFIP_NR_HDR ? SMFIS_NOREPLY : SMFIS_CONTINUE;
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
	return c->noreply & SMFIP_NR_EOH ? SMFIS_NOREPLY : SMFIS_CONTINUE;
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
	return c->noreply & SMFIP_NR_BODY ? SMFIS_NOREPLY : SMFIS_CONTINUE;
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
/* Makes the header edits and recipient additions, in their order. */
static int
send_edits(SMFICTX *ctx, const struct mc_verdict *v)
{
	const struct verdict_edit *e;
	unsigned i;
	int rc = MI_SUCCESS;

	for (i = 0; i < v->nedits && rc == MI_SUCCESS; i++) {
		e = &v->edits[i];
		switch (e->op) {
		case VERDICT_HDR_ADD:
			rc = smfi_addheader(ctx, e->name, e->value);
			break;
		case VERDICT_HDR_CHANGE:
			rc = smfi_chgheader(ctx, e->name, (int)e->index,
			    e->value);
			break;
		case VERDICT_RCPT_ADD:
			rc = smfi_addrcpt(ctx, e->name);
			break;
		case VERDICT_RCPT_DEL:
			rc = smfi_delrcpt(ctx, e->name);
			break;
		}
	}
	if (rc != MI_SUCCESS)
		return -1;
	if (v->body != NULL && spool_copy(v->body, 0, spool_size(v->body),
	    replace_body, ctx) == -1)
		return -1;
	return 0;
}

/*
 * Every change the MTA sees for a message is made here, from the
 * verdict: the edits and the new body of a message that goes on, then the
 * archive commit (verdict_archive), then the reply of a refused one, its
 * failure class mapped by verdict_reply().
 */
static sfsistat
apply_verdict(SMFICTX *ctx, struct mc_verdict *v)
{
	const char *code, *xcode;
	char text[512];

	if (verdict_delivers(v) && send_edits(ctx, v) == -1)
		verdict_fail(v, VERDICT_FAIL_MODIFY,
		    strerror(errno ? errno : EIO));
	verdict_archive(v);
	if (verdict_reply(v, &code, &xcode, text, sizeof(text)))
		smfi_setreply(ctx, (char *)(uintptr_t)code,
		    (char *)(uintptr_t)xcode, text);
	switch (v->action) {
	case VERDICT_ACCEPT:
	case VERDICT_TAG:
	case VERDICT_BYPASS:
	case VERDICT_ARCHIVE_COPY:
	case VERDICT_VARIANT:
	case VERDICT_DIGEST:
		return SMFIS_CONTINUE;
	case VERDICT_CORRAL:
	case VERDICT_DISCARD:
		return SMFIS_DISCARD;
	case VERDICT_REJECT:
		return SMFIS_REJECT;
	case VERDICT_TEMPFAIL:
		break;
	}
	return SMFIS_TEMPFAIL;
}

static sfsistat
mlfi_eom(SMFICTX *ctx)
{
	struct mc_conn *c = mc_getpriv(ctx);
	struct mc_verdict v;
	sfsistat rc;

	if (c == NULL || c->msg == NULL)
		return SMFIS_TEMPFAIL;
	set_qid(ctx, c->msg);
	verdict_run(&v, c->cf, c->msg, c->client, &verdict_real_ops);
	rc = apply_verdict(ctx, &v);
	verdict_log(&v);
	verdict_free(&v);
	verdict_msg_free(c->msg);
	c->msg = NULL;
	return rc;
}

static sfsistat
mlfi_abort(SMFICTX *ctx)
{
	struct mc_conn *c = mc_getpriv(ctx);

	if (c != NULL) {
		verdict_msg_free(c->msg);
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
	if (c->counted)
		atomic_fetch_sub(&mc_sessions, 1);
	verdict_msg_free(c->msg);
	conf_release(c->cf);
	free(c);
	atomic_fetch_sub(&mc_contexts, 1);
	mc_setpriv(ctx, NULL);
	return SMFIS_CONTINUE;
}

/* Enters the gate with the connection's client and queue id, if any. */
static int
gate_enter_ctx(struct gate_ticket *t, const char *step, SMFICTX *ctx)
{
	struct mc_conn *c = mc_getpriv(ctx);

	return gate_enter(t, step, c != NULL ? c->client : NULL,
	    c != NULL && c->msg != NULL ? c->msg->qid : NULL);
}

/* The callbacks libmilter sees: the mlfi_* ones inside the gate. */
#define GATED(closed_rc, step, call)	do {				\
	struct gate_ticket gated_t_;					\
	sfsistat gated_rc_;						\
									\
	if (!gate_enter_ctx(&gated_t_, (step), ctx))			\
		return (closed_rc);					\
	gated_rc_ = (call);						\
	gate_leave(&gated_t_);						\
	return gated_rc_;						\
} while (0)

static sfsistat
gated_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	GATED(SMFIS_REJECT, "negotiate", mlfi_negotiate(ctx, f0, f1, f2, f3, pf0, pf1,
	    pf2, pf3));
}

static sfsistat
gated_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
	GATED(SMFIS_TEMPFAIL, "connect", mlfi_connect(ctx, host, addr));
}

static sfsistat
gated_envfrom(SMFICTX *ctx, char **argv)
{
	GATED(SMFIS_TEMPFAIL, "envfrom", mlfi_envfrom(ctx, argv));
}

static sfsistat
gated_envrcpt(SMFICTX *ctx, char **argv)
{
	GATED(SMFIS_TEMPFAIL, "envrcpt", mlfi_envrcpt(ctx, argv));
}

static sfsistat
gated_header(SMFICTX *ctx, char *name, char *value)
{
	GATED(SMFIS_TEMPFAIL, "header", mlfi_header(ctx, name, value));
}

static sfsistat
gated_eoh(SMFICTX *ctx)
{
	GATED(SMFIS_TEMPFAIL, "eoh", mlfi_eoh(ctx));
}

static sfsistat
gated_body(SMFICTX *ctx, unsigned char *data, size_t len)
{
	GATED(SMFIS_TEMPFAIL, "body", mlfi_body(ctx, data, len));
}

static sfsistat
gated_eom(SMFICTX *ctx)
{
	GATED(SMFIS_TEMPFAIL, "eom", mlfi_eom(ctx));
}

static sfsistat
gated_abort(SMFICTX *ctx)
{
	GATED(SMFIS_CONTINUE, "abort", mlfi_abort(ctx));
}

/* With the gate closed the connection is left to the exiting process. */
static sfsistat
gated_close(SMFICTX *ctx)
{
	GATED(SMFIS_CONTINUE, "close", mlfi_close(ctx));
}

static struct smfiDesc mc_desc = {
	MC_NAME,
	SMFI_VERSION,
	SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY | SMFIF_ADDRCPT |
	    SMFIF_DELRCPT,
	gated_connect,
	NULL,			/* helo */
	gated_envfrom,
	gated_envrcpt,
	gated_header,
	gated_eoh,
	gated_body,
	gated_eom,
	gated_abort,
	gated_close,
	NULL,			/* unknown */
	NULL,			/* data */
	gated_negotiate
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
	struct gate_ticket t;
	char err[512];

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		/* stopping: leave the config alone */
		if (!gate_enter(&t, "reload", NULL, NULL))
			return NULL;
		if (conf_load(mc_conf_given || access(mc_conffile, F_OK) == 0 ?
		    mc_conffile : NULL, &cf, err, sizeof(err)) == -1 ||
		    conf_prepare(cf, err, sizeof(err)) == -1) {
			log_warnx("reload failed, keeping the running "
			    "configuration: %s", err);
			conf_free(cf);
			gate_leave(&t);
			continue;
		}
		conf_install(cf);
		log_info("configuration reloaded from %s",
		    cf->file ? cf->file : "built-in defaults");
		pp_reload(cf);
		arc_reload(cf);
		gate_leave(&t);
	}
	return NULL;
}

/*
 * Start-up failed after the milter socket was opened: remove it (and the
 * pid file written, if any), so that neither an MTA nor a start script
 * takes a dead filter for a live one.  Frees cf (NULL: nothing); returns
 * rc.
 */
static int
abandon(const char *sock, const char *pidfile, struct mc_config *cf, int rc)
{
	const char *path = NULL;

	if (strncmp(sock, "unix:", 5) == 0)
		path = sock + 5;
	else if (strncmp(sock, "local:", 6) == 0)
		path = sock + 6;
	else if (sock[0] == '/')
		path = sock;
	if (path != NULL && unlink(path) == -1 && errno != ENOENT)
		log_warn("cannot remove %s", path);
	if (pidfile != NULL && *pidfile != '\0' && unlink(pidfile) == -1 &&
	    errno != ENOENT)
		log_warn("cannot remove %s", pidfile);
	conf_free(cf);
	return rc;
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
	unsigned nopen;

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
	/*
	 * glibc gives each thread an arena up to 8 per core, and with
	 * libmilter's thread per connection that fragments: RSS crept from 34
	 * to 44 MiB over 20,000 messages at c=8, and stayed flat with 4.
	 */
	if (cf->malloc_arenas > 0)
		mallopt(M_ARENA_MAX, (int)cf->malloc_arenas);
	fac = log_facility(cf->log_facility);
	log_init(MC_NAME, fac, foreground);
	if (daemon_root_refused(user, cf->allow_root)) {
		conf_free(cf);
		return EX_CONFIG;
	}
	daemon_raise_nofile(cf->max_sessions);
	umask(077);
	signal(SIGPIPE, SIG_IGN);

	if (smfi_setconn((char *)(uintptr_t)sock) != MI_SUCCESS ||
	    smfi_register(mc_desc) != MI_SUCCESS ||
	    smfi_settimeout((int)cf->milter_timeout) != MI_SUCCESS ||
	    smfi_setbacklog((int)cf->milter_backlog) != MI_SUCCESS) {
		log_warnx("cannot set up libmilter for %s", sock);
		conf_free(cf);
		return EX_SOFTWARE;
	}
	if (smfi_opensocket(1) != MI_SUCCESS) {
		log_warnx("cannot open milter socket %s", sock);
		conf_free(cf);
		return EX_UNAVAILABLE;
	}
	(void)daemon_tune_listener(cf->milter_receive_buffer);
	if (!foreground && daemon_detach() == -1) {
		log_warn("cannot become a daemon");
		return abandon(sock, NULL, cf, EX_OSERR);
	}
	if (daemon_pidfile(pidfile) == -1)
		return abandon(sock, NULL, cf, EX_CANTCREAT);
	if (daemon_drop_privileges(user) == -1)
		return abandon(sock, pidfile, cf, EX_NOPERM);
	if (conf_prepare(cf, err, sizeof(err)) == -1) {
		log_warnx("%s: %s", cf->file ? cf->file : "defaults", err);
		return abandon(sock, pidfile, cf, EX_CONFIG);
	}
	conf_install(cf);
	/* Perl workers run as the user we now are (SC-P1). */
	pp_start(cf);
	/*
	 * main() keeps a reference of its own to the first snapshot: sock,
	 * pidfile and cf->file point into it, and are used after smfi_main()
	 * returns, while a SIGUSR1 reload frees the snapshot it replaces once
	 * the last connection lets go (TSan: conf_free() in the reload thread,
	 * main() reading cf->file; unlink(pidfile) read freed memory).
	 */
	cf = conf_acquire();

	/*
	 * Block the signals before any thread exists, so every thread
	 * inherits the mask: SIGUSR1 is sigwait()ed by our reload thread,
	 * SIGHUP, SIGINT and SIGTERM by libmilter's signal thread, which
	 * stops smfi_main() cleanly.  Left unblocked in our thread, SIGTERM
	 * was delivered there and killed the process (no reply to sessions
	 * in flight, no log line, pid file left behind).
	 */
	arc_reload(cf);		/* before the reload thread can push */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if ((errno = pthread_create(&tid, NULL, reloader, NULL)) != 0) {
		log_warn("cannot start the reload thread");
		ch = abandon(sock, pidfile, NULL, EX_OSERR);
		conf_release(cf);
		conf_shutdown();
		return ch;
	}
	pthread_detach(tid);
	arc_startup_check(cf);
	if (arc_start() == -1) {
		ch = abandon(sock, pidfile, NULL, EX_OSERR);
		conf_release(cf);
		conf_shutdown();
		return ch;
	}
	log_info("mailcorral %s starting on %s (config %s)", MC_VERSION, sock,
	    cf->file ? cf->file : "built-in defaults");
	gate_stop_watch(cf->stop_timeout, pidfile, pp_shutdown, &mc_contexts);
	ch = smfi_main();
	gate_stop_wait();
	if (ch != MI_SUCCESS)
		log_warnx("libmilter's smfi_main() failed");
	if (pidfile != NULL && *pidfile != '\0')
		unlink(pidfile);
	if ((nopen = atomic_load(&mc_contexts)) > 0) {
		/*
		 * Sessions that were still open when the gate closed: their
		 * close callback is refused, libmilter's threads still hold
		 * their contexts, and exiting closes their sockets (the MTA
		 * applies its F= flags).  Nothing of ours is in use, but the
		 * contexts are, so no exit handlers (LeakSanitizer's among
		 * them) either.
		 */
		log_info("%u sessions still open at exit: their connections "
		    "are closed", nopen);
		_exit(ch == MI_SUCCESS ? 0 : EX_SOFTWARE);
	}
	pp_shutdown();
	arc_stop();
	conf_release(cf);
	conf_shutdown();
	return ch == MI_SUCCESS ? 0 : EX_SOFTWARE;
}
