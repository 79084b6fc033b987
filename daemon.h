/*
 * daemon.h -- the process's own set-up (daemon.c).
 */
#ifndef MC_DAEMON_H
#define MC_DAEMON_H

/* 1 (logged) when root would stay root and allow is 0 (SC-C4). */
int	 daemon_root_refused(const char *user, int allow);
/* setgid/setuid to user when root; 0, or -1 (logged). */
int	 daemon_drop_privileges(const char *user);
/* Writes our pid to path ("" or NULL: none); 0, or -1 (logged). */
int	 daemon_pidfile(const char *path);
/* Fork twice, new session, cwd /, stdio on /dev/null; 0 or -1. */
int	 daemon_detach(void);
/* Raises RLIMIT_NOFILE for max_sessions sessions, as far as allowed. */
void	 daemon_raise_nofile(long sessions);
/*
 * TCP_NODELAY on libmilter's listening socket when it is inet/inet6 (the
 * accepted sockets inherit it); 0 (also for a unix socket), or -1 (logged).
 */
int	 daemon_tune_listener(size_t);

#endif
