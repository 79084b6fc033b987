/*
 * conf.h -- mailcorral.conf: one table of keywords (conf.c), parsed into an
 * immutable, reference-counted snapshot.
 *
 * conf_load() builds a new snapshot from a file (or from the built-in
 * defaults in smfopts.h when the file is NULL).  Errors name "file:line:
 * reason".  conf_install() makes a snapshot current; conf_acquire() and
 * conf_release() let a connection keep the snapshot it started with while
 * a reload (SIGUSR1) installs a new one.
 */
#ifndef MC_CONF_H
#define MC_CONF_H

#include <stddef.h>

#include "mime.h"

enum conf_attach { CONF_ATTACH_DELETE, CONF_ATTACH_MANGLE };
enum conf_limit { CONF_LIMIT_STRIP, CONF_LIMIT_REJECT };

struct virus_rules;

struct mc_config {
	char		*file;		/* where it came from; NULL: built in */
	/* daemon */
	char		*socket;
	char		*user;
	char		*pid_file;
	char		*spool_dir;
	size_t		 spool_memory;
	char		*log_facility;
	long		 milter_timeout;	/* seconds */
	long		 milter_backlog;
	/* attachments */
	int		 attachment_action;	/* enum conf_attach */
	char		*mangle_suffix;
	char		*warning_text;
	char		*bad_extensions;
	char		*bad_mime_types;
	unsigned	 html_defang;		/* HTML_* mask */
	long		 archive_max_depth;
	size_t		 archive_max_size;
	/* MIME limits */
	struct mime_limits limits;
	int		 on_mime_limit;		/* enum conf_limit */
	/* compiled */
	struct virus_rules *rules;
	/* reference count, under the conf.c mutex */
	unsigned	 refs;
};

int	 conf_load(const char *file, struct mc_config **, char *err,
	    size_t errlen);
void	 conf_free(struct mc_config *);
/* Prints every keyword with its default (for --help and the man page). */
void	 conf_dump_defaults(void);

/* The current snapshot. */
void	 conf_install(struct mc_config *);	/* takes ownership */
struct mc_config *conf_acquire(void);		/* +1 ref, never NULL after
						   conf_install() */
void	 conf_release(struct mc_config *);	/* -1 ref; frees when stale */
void	 conf_shutdown(void);			/* drops the current one */

#endif
