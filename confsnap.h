/*
 * confsnap.h -- the configuration snapshot: conf.c's values (conf.h)
 * with what is built from them, immutable and reference-counted.
 *
 * conf_load() builds a new snapshot from a file (or from the built-in
 * defaults in smfopts.h when the file is NULL).  Errors name "file:line:
 * reason".  conf_install() makes a snapshot current; conf_acquire() and
 * conf_release() let a connection keep the snapshot it started with while
 * a reload (SIGUSR1) installs a new one.
 * Ownership: conf_install() takes the snapshot; conf_free() is for one
 * that was never installed.  Threads: install/acquire/release under one
 * mutex, held only for pointer and counter updates.
 */
#ifndef MC_CONFSNAP_H
#define MC_CONFSNAP_H

#include "conf.h"

int	 conf_load(const char *file, struct mc_config **, char *err,
	    size_t errlen);
void	 conf_free(struct mc_config *);
/*
 * Opens what has side effects: the bypass key (created 0600 if absent),
 * the old bypass keys (never created) and the corral directory.  A
 * missing key only disables the bypass (logged); a corral disposition
 * without a key or directory is an error, and so is any old key file
 * that bypass_key_load() refuses.  verify_keys then holds what
 * bypass_verify() accepts: the key (if any), then the old keys.
 */
int	 conf_prepare(struct mc_config *, char *err, size_t errlen);
/* 1 when spam may be corralled: spam_disposition or a user's rule. */
int	 conf_corrals(const struct mc_config *);

/* The current snapshot. */
void	 conf_install(struct mc_config *);	/* takes ownership */
struct mc_config *conf_acquire(void);		/* +1 ref, never NULL after
						   conf_install() */
void	 conf_release(struct mc_config *);	/* -1 ref; frees when stale */
void	 conf_shutdown(void);			/* drops the current one */

#endif
