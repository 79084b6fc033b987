/*
 * daemon.c -- the process's own set-up: the account it runs as, the pid
 * file, leaving the terminal, the open-file limit.  mailcorral.c's main()
 * calls these in order; each logs its own failure and returns -1 (or 1 for
 * daemon_root_refused()), and main() then stops the start-up.
 * Ownership: nothing is kept here; the pid file is written once and left
 * to the rc script; a descriptor opened here is closed again, or becomes
 * 0-2 (daemon_detach(): /dev/null).
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <unistd.h>

#include "daemon.h"
#include "gate.h"
#include "log.h"

int
daemon_drop_privileges(const char *user)
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

/*
 * A filter parsing hostile mail should not do it as root (SC-C4): refuse
 * to start when root would stay root, that is when user is empty or names
 * an account with uid 0, unless allow_root says otherwise.  An unknown
 * user is left to daemon_drop_privileges() to report.
 */
int
daemon_root_refused(const char *user, int allow)
{
	struct passwd *pw;

	if (allow || geteuid() != 0)
		return 0;
	if (user != NULL && *user != '\0' &&
	    ((pw = getpwnam(user)) == NULL || pw->pw_uid != 0))
		return 0;
	log_warnx("refusing to run as root: set user to an unprivileged "
	    "account (allow_root = yes overrides)");
	return 1;
}

int
daemon_pidfile(const char *path)
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

int
daemon_detach(void)
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

/*
 * Each session may hold the milter socket, a spool file and a spamd or
 * clamd socket: raise the soft open-file limit to what max_sessions needs,
 * as far as the hard limit allows, and say so when it is not enough.
 */
void
daemon_raise_nofile(long sessions)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)sessions * 4 + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("getrlimit(RLIMIT_NOFILE)");
		return;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ?
		    want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit(RLIMIT_NOFILE, %llu)",
			    (unsigned long long)rl.rlim_cur);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
		log_warnx("open files limited to %llu, below the %llu that "
		    "max_sessions %ld needs: raise the hard limit (ulimit -Hn)",
		    (unsigned long long)rl.rlim_cur, (unsigned long long)want,
		    sessions);
}

/*
 * The listening socket's options, which on Linux the accepted sockets
 * inherit (libmilter gives no handle on those), on an inet socket only:
 *
 * TCP_NODELAY: the verdict of a message that was changed goes out in
 * several small packets (header edits, body chunks, the reply); with
 * Nagle's algorithm the second waits for the MTA's delayed ACK, about
 * 40 ms a message.
 *
 * rcvbuf bytes of receive buffer (0: leave it to the kernel's autotuning):
 * with SMFIP_NR_BODY the MTA streams the body without waiting for replies,
 * so a small window keeps it blocked on it, and each of our reads then
 * opens the window and pushes the MTA's pending segments in our context
 * (perf: tcp_recvmsg -> __tcp_transmit_skb -> tcp_write_xmit).  A buffer
 * that holds a large message avoids that.  SO_RCVBUFFORCE while we are
 * still root (net.core.rmem_max caps SO_RCVBUF at 208 KiB by default);
 * the buffer is only used while data waits, it is not reserved.
 */
int
daemon_tune_listener(size_t rcvbuf)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	ino_t ino;
	int fd, on = 1, want, got = 0;

	if ((fd = gate_listener_fd(&ino)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
		return 0;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1) {
		log_warn("TCP_NODELAY on the milter socket");
		return -1;
	}
	if (rcvbuf == 0)
		return 0;
	/* the kernel doubles what it is given (bookkeeping overhead) */
	want = rcvbuf / 2 > INT_MAX ? INT_MAX : (int)(rcvbuf / 2);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want,
	    sizeof(want)) == -1 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want)) == -1) {
		log_warn("SO_RCVBUF on the milter socket");
		return -1;
	}
	len = sizeof(got);
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) == 0 &&
	    (size_t)got < rcvbuf)
		log_info("milter socket: receive buffer %d bytes, not the %zu "
		    "of milter_receive_buffer (net.core.rmem_max)", got,
		    rcvbuf);
	return 0;
}
