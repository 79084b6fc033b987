/*
 * reffilter.c -- reference libmilter filter for the benchmark.
 *
 * Does the least any rewriting libmilter filter must do: collects the body
 * in memory, then at end of message adds one header field and replaces the
 * body with the same bytes.  Its throughput and CPU are the ceiling MailCorral
 * is measured against.
 *   reffilter -p unix:/path | inet:PORT@HOST
 * On inet: it sets TCP_NODELAY on libmilter's listening socket, which the
 * accepted sockets inherit on Linux, as MailCorral does (daemon.c): without
 * it, the second of its end-of-message packets waits for the MTA's delayed
 * ACK (about 40 ms a message), and the reference would be no ceiling.
 * Ownership: one struct ref per connection (private data), body freed at
 * EOM, abort and close.  Errors: ENOMEM gives a tempfail for that message.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

struct ref {
	unsigned char	*body;
	size_t		 len, cap;
	int		 err;
};

static void
ref_reset(struct ref *r)
{
	free(r->body);
	r->body = NULL;
	r->len = r->cap = 0;
	r->err = 0;
}

static sfsistat
ref_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
	struct ref *r;

	(void)host;
	(void)sa;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return SMFIS_TEMPFAIL;
	smfi_setpriv(ctx, r);
	return SMFIS_CONTINUE;
}

static sfsistat
ref_envfrom(SMFICTX *ctx, char **argv)
{
	struct ref *r = smfi_getpriv(ctx);

	(void)argv;
	if (r == NULL)
		return SMFIS_TEMPFAIL;
	ref_reset(r);
	return SMFIS_CONTINUE;
}

static sfsistat
ref_body(SMFICTX *ctx, unsigned char *p, size_t n)
{
	struct ref *r = smfi_getpriv(ctx);
	unsigned char *nb;
	size_t ncap;

	if (r == NULL || r->err)
		return SMFIS_CONTINUE;
	if (r->len + n > r->cap) {
		ncap = r->cap ? r->cap : 65536;
		while (ncap < r->len + n)
			ncap *= 2;
		if ((nb = realloc(r->body, ncap)) == NULL) {
			r->err = ENOMEM;
			return SMFIS_CONTINUE;
		}
		r->body = nb;
		r->cap = ncap;
	}
	memcpy(r->body + r->len, p, n);
	r->len += n;
	return SMFIS_CONTINUE;
}

static sfsistat
ref_eom(SMFICTX *ctx)
{
	struct ref *r = smfi_getpriv(ctx);
	sfsistat st = SMFIS_CONTINUE;

	if (r == NULL || r->err)
		st = SMFIS_TEMPFAIL;
	else if (smfi_addheader(ctx, "X-Reffilter", "checked") != MI_SUCCESS ||
	    smfi_replacebody(ctx, r->body, (int)r->len) != MI_SUCCESS)
		st = SMFIS_TEMPFAIL;
	if (r != NULL)
		ref_reset(r);
	return st;
}

static sfsistat
ref_abort(SMFICTX *ctx)
{
	struct ref *r = smfi_getpriv(ctx);

	if (r != NULL)
		ref_reset(r);
	return SMFIS_CONTINUE;
}

static sfsistat
ref_close(SMFICTX *ctx)
{
	struct ref *r = smfi_getpriv(ctx);

	if (r != NULL) {
		ref_reset(r);
		free(r);
		smfi_setpriv(ctx, NULL);
	}
	return SMFIS_CONTINUE;
}

static struct smfiDesc ref_desc = {
	"reffilter",
	SMFI_VERSION,
	SMFIF_ADDHDRS | SMFIF_CHGBODY,
	ref_connect,
	NULL,			/* helo */
	ref_envfrom,
	NULL,			/* envrcpt */
	NULL,			/* header */
	NULL,			/* eoh */
	ref_body,
	ref_eom,
	ref_abort,
	ref_close,
	NULL,			/* unknown */
	NULL,			/* data */
	NULL			/* negotiate */
};

/* TCP_NODELAY on libmilter's listening socket, when it is a TCP one. */
static void
ref_nodelay(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, v, on = 1;

	for (fd = 0; fd < 1024; fd++) {
		v = 0;
		len = sizeof(v);
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) != 0 ||
		    v == 0)
			continue;
		len = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
		    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) &&
		    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on,
		    sizeof(on)) != 0)
			perror("reffilter: TCP_NODELAY");
		return;
	}
}

int
main(int argc, char **argv)
{
	const char *sock = NULL;
	int ch;

	while ((ch = getopt(argc, argv, "p:")) != -1) {
		switch (ch) {
		case 'p':
			sock = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (sock == NULL)
		goto usage;
	if (strncmp(sock, "unix:", 5) == 0)
		(void)unlink(sock + 5);
	if (smfi_setconn((char *)sock) != MI_SUCCESS ||
	    smfi_register(ref_desc) != MI_SUCCESS) {
		fprintf(stderr, "reffilter: cannot set up %s\n", sock);
		return 1;
	}
	if (smfi_opensocket(1) != MI_SUCCESS) {
		fprintf(stderr, "reffilter: cannot open %s\n", sock);
		return 1;
	}
	ref_nodelay();
	return smfi_main() == MI_SUCCESS ? 0 : 1;

usage:
	fputs("usage: reffilter -p unix:/path | inet:PORT@HOST\n", stderr);
	return 2;
}
