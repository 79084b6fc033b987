/*
 * conf.h -- mailcorral.conf: one table of keywords (conf.c) and the
 * values they give, struct mc_config.
 *
 * conf.c parses a file (or the built-in defaults in smfopts.h) into plain
 * values; it includes no module that reads them, so those modules (scan,
 * the spam decision, the bypass rule, the clients) take struct mc_config
 * from here without depending on anything above them.  The snapshot
 * around the values (the compiled tables, the keys, the corral, the
 * reference count, reload) is confsnap.h's, one floor up.
 * Ownership: a struct mc_config is confsnap.c's; conf.c fills and frees
 * only the values.  Failure: -1 with "file:line: reason" in err.
 */
#ifndef MC_CONF_H
#define MC_CONF_H

#include <stddef.h>

#include "mime.h"

enum conf_attach { CONF_ATTACH_DELETE, CONF_ATTACH_MANGLE };
enum conf_limit { CONF_LIMIT_STRIP, CONF_LIMIT_REJECT };
enum conf_arbitron { CONF_SPAM_BUILTIN, CONF_SPAM_SPAMD, CONF_SPAM_NONE };
enum conf_combine { CONF_COMBINE_EITHER, CONF_COMBINE_ARBITRON };
enum conf_perl_api { CONF_PERL_API_MAILCORRAL, CONF_PERL_API_MIMEDEFANG };
enum conf_fail { CONF_FAIL_ACCEPT, CONF_FAIL_TEMPFAIL };
/* DELIVER: only in spam_user_prefs (prefs.h): spam delivered untouched */
enum conf_dispo { CONF_DISPO_TAG, CONF_DISPO_TRASH, CONF_DISPO_CORRAL,
	CONF_DISPO_DELIVER };
enum conf_virus { CONF_VIRUS_NONE, CONF_VIRUS_CLAMD };
enum conf_learn { CONF_LEARN_AUTO, CONF_LEARN_YES, CONF_LEARN_NO };
enum conf_vaction { CONF_VACT_REMOVE, CONF_VACT_REJECT, CONF_VACT_DISCARD };

struct virus_rules;
struct bypass_key;
struct corral;
struct prefs;
struct spam_list;
struct spam_sa;
struct spamstats_weights;

/*
 * The clients' settings, derived from the keywords (conf_derive) and
 * handed to clamd.c and spamd.c; defined here so the configuration does
 * not depend on the clients that use it.  Server forms: see net.h.
 */
struct clamd_cfg {		/* clamd_servers, clamd_*timeout */
	char	**servers;	/* see net.h for the forms */
	size_t	  nservers;
	int	  connect_timeout_ms;	/* per server */
	int	  read_timeout_ms;	/* one scan: first write to the reply */
	size_t	  max_stream;	/* bytes sent at most; 0: no cap */
	unsigned  max_connections;	/* open at once; 0: no bound */
	int	  fd_passing;	/* FILDES to a unix: server */
	int	  balance;	/* scanner_balance (pool.h) */
	unsigned  max_failures;	/* the breaker of each server */
	unsigned  backoff;	/* seconds */
};

struct spamd_cfg {		/* spamd_servers, spamd_* */
	char	**servers;	/* see net.h for the forms */
	size_t	  nservers;
	int	  connect_timeout_ms;	/* per server */
	int	  read_timeout_ms;	/* write + read, per server */
	size_t	  max_size;	/* request body cap; 0: none */
	int	  balance;	/* scanner_balance (pool.h) */
	unsigned  max_failures;	/* the breaker of each server */
	unsigned  backoff;	/* seconds */
};

struct mc_config {
	char		*file;		/* where it came from; NULL: built in */
	/* daemon */
	char		*socket;
	char		*user;
	int		 allow_root;		/* 0 no, 1 yes */
	char		*pid_file;
	char		*spool_dir;
	size_t		 spool_memory;
	char		*log_facility;
	long		 milter_timeout;	/* seconds */
	long		 milter_backlog;
	size_t		 milter_receive_buffer;
	long		 max_sessions;
	long		 stop_timeout;		/* seconds */
	long		 malloc_arenas;
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
	/* spam */
	char		*whitelist;
	char		*blacklist;
	int		 list_from_header;	/* 0 no, 1 yes */
	char		*spamassassin_config;
	int		 spam_arbitron;		/* enum conf_arbitron */
	int		 spam_combine;		/* enum conf_combine */
	int		 spamd_always;		/* 0 no, 1 yes */
	unsigned	 spamd_cache_size;	/* entries; 0 = off */
	long		 spamd_cache_ttl;	/* seconds */
	double		 spam_threshold;
	char		*spam_weights_file;
	char		*spamd_servers;
	long		 spamd_connect_timeout;	/* seconds */
	long		 spamd_timeout;
	size_t		 spamd_max_size;
	int		 on_spamd_failure;	/* enum conf_fail */
	int		 spamd_per_user;	/* 0 no, 1 yes */
	long		 spamd_max_users;
	long		 spamd_max_failures;
	long		 spamd_backoff;		/* seconds */
	int		 spam_disposition;	/* enum conf_dispo */
	char		*spam_user_prefs;	/* "" = none (prefs.h) */
	char		*spam_subject_tag;
	char		*corral_dir;
	size_t		 corral_max_rcpt_size;	/* bytes; 0 = no limit */
	size_t		 corral_max_size;	/* bytes; 0 = no limit */
	char		*corral_host_id;	/* "": from the host name */
	char		*bypass_key_file;
	char		*bypass_old_key_files;	/* verify only */
	long		 bypass_max_age;
	char		*bypass_daemon_name;	/* "": today's locality test */
	/* SpamCorral */
	char		*spamcorral_address;
	long		 corral_expire_days;
	char		*sendmail_path;
	char		*local_domains;
	char		*digest_template;	/* "": built-in English */
	long		 robot_max_failures;
	long		 robot_failure_window;	/* seconds */
	long		 robot_reply_interval;	/* seconds; 0 = no limit */
	int		 robot_learn_ham;	/* enum conf_learn */
	/* viruses */
	int		 virus_arbitron;	/* enum conf_virus */
	char		*clamd_servers;
	long		 clamd_connect_timeout;
	long		 clamd_timeout;
	size_t		 clamd_max_stream;
	int		 virus_action;		/* enum conf_vaction */
	int		 on_clamd_failure;	/* enum conf_fail */
	int		 clamd_fd_passing;	/* 0 no, 1 yes */
	long		 clamd_backoff;
	long		 clamd_max_failures;
	long		 clamd_max_connections;
	int		 scanner_balance;	/* enum pool_balance */
	/* the Perl shim (perlpool.c) */
	char		*perl_filter;		/* "" = off */
	char		*perl_shim;
	long		 perl_workers;
	long		 perl_timeout;		/* seconds */
	long		 perl_kill_grace;	/* seconds */
	size_t		 perl_memory_limit;	/* RLIMIT_AS, bytes */
	long		 perl_max_requests;
	int		 perl_filter_api;	/* enum conf_perl_api */
	/* the mail archive (archive.c, mcarchive.h) */
	char		*archive_dir;		/* "" = no local archive */
	int		 archive_required;	/* 0 no, 1 yes: tempfail */
	int		 archive_create_dir;	/* 0 no, 1 yes */
	char		*archive_address;	/* "" = no archiver copy */
	char		*archive_db_host;
	long		 archive_db_port;
	char		*archive_db_socket;
	char		*archive_db_name;	/* "" = no index */
	char		*archive_db_user;
	char		*archive_db_password_file;
	char		*archive_db_table;
	long		 archive_db_timeout;	/* seconds */
	char		*archive_journal;	/* "" = <archive_dir>/index.journal */
	/* compiled (confsnap.c) */
	struct virus_rules *rules;
	struct spam_list *white, *black;
	struct prefs	*prefs;			/* NULL: no spam_user_prefs */
	struct spam_sa	*sa;			/* NULL: no SA lists */
	struct spamstats_weights *weights;
	struct spamd_cfg spamd;
	struct clamd_cfg clamd;
	char		**old_key_files;	/* the same, split */
	size_t		 nold_key_files;
	/* opened by conf_prepare() (daemon only, not for -n) */
	struct bypass_key *key;			/* NULL: no bypass */
	struct bypass_key **old_keys;		/* nold_key_files */
	const struct bypass_key **verify_keys;	/* key, then old_keys */
	size_t		 nverify_keys;
	struct corral	*corral;		/* NULL unless corral */
	/* reference count, under the confsnap.c mutex */
	unsigned	 refs;
};

/*
 * Sets every keyword to its default, then reads file (NULL: defaults
 * only) and checks log_facility.  -1 with "file:line: reason" in err;
 * what was set stays in cf for conf_free_values().
 */
int	 conf_parse(const char *file, struct mc_config *, char *err,
	    size_t errlen);
/*
 * The plain values derived from the keywords: the server and old key
 * lists split, the timeouts in ms, a non-empty server list for the
 * scanner in use, the Perl shim's files, the archive's settings.  0, or
 * -1 with "<file or defaults>: reason" in err.
 */
int	 conf_derive(struct mc_config *, char *err, size_t errlen);
/*
 * 1 when the built-in checker's answer counts: it is the arbitron, or
 * spamd is and spam_combine = either (spamfilter.c's spam_counts()).
 */
int	 conf_builtin_counts(const struct mc_config *);
/* Frees what conf_parse() and conf_derive() allocated (not cf itself). */
void	 conf_free_values(struct mc_config *);
/* Prints every keyword with its default (for --help and the man page). */
void	 conf_dump_defaults(void);

#endif
