/*
 * net.h -- the one stream-socket client under the scanners' clients
 * (clamd.c, spamd.c, via pool.c): server addresses, connect with a
 * deadline, and sending with a deadline.
 *
 * Addresses (the same for clamd_servers and spamd_servers):
 *   "unix:/path"          a unix-domain socket
 *   "host:port", "host"   a name or an IPv4 address; no port: the
 *                         caller's default port
 *   "[v6]:port", "[v6]"   an IPv6 address (or a name) in brackets
 * A host holds no blank, control byte or bracket.
 * A bare IPv6 address without brackets ("::1:783") is refused: it is
 * itself a valid address, so its port cannot be told apart.  A host
 * named "unix" needs the brackets too ("[unix]:783"; "unix:783" is a
 * socket path).
 * Deadlines are CLOCK_MONOTONIC milliseconds (util_now_ms()); a connect
 * deadline covers all the addresses one server name resolves to.
 * Ownership: descriptors returned are the caller's (non-blocking,
 * close-on-exec, TCP_NODELAY on TCP).  Nothing here logs.
 * Errors: a short reason for the caller's log ("connect: <strerror>",
 * "timeout: connect", "resolve: <gai_strerror>", "config: bad server
 * \"...\"", "config: bad socket path"), or -1 with errno.
 */
#ifndef MC_NET_H
#define MC_NET_H

#include <stddef.h>
#include <sys/uio.h>
#include <sys/un.h>

struct net_addr {
	int	 is_unix;
	char	 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char	 host[256];
	char	 port[8];
};

/*
 * Parses spec (forms above) into *a; defport is used when spec names no
 * port.  0, or -1 with the reason in err.
 */
int	 net_parse(const char *spec, const char *defport, struct net_addr *a,
	    char *err, size_t errlen);
/* Waits for events on fd until deadline: 1 ready, 0 deadline, -1 errno. */
int	 net_wait(int fd, short events, long long deadline);
/*
 * Connects to one server within timeout_ms.  The descriptor, or -1 with
 * the reason in err.
 */
int	 net_connect(const char *spec, const char *defport, int timeout_ms,
	    char *err, size_t errlen);
/*
 * Two notes for pool_connect() (pool.h: which server of a list), writing into a struct net_err: the
 * last failure as "why (server)" (spamd), or every failure joined as
 * "server: why; server: why" while it fits (clamd).
 */
struct net_err {
	char	*err;
	size_t	 errlen;
};
void	 net_note_last(void *net_err, const char *server, const char *why);
void	 net_note_all(void *net_err, const char *server, const char *why);
/*
 * Sends the iovecs completely before deadline (the iovecs are consumed).
 * 0, or -1 with errno (ETIMEDOUT at the deadline; EPIPE or ECONNRESET
 * when the peer hung up).
 */
int	 net_sendv(int fd, struct iovec *iov, int niov, long long deadline);

#endif
