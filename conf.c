/*
 * conf.c -- mailcorral.conf's keywords and parser: the plain values of a
 * snapshot (see conf.h; the snapshot itself is confsnap.c's).
 *
 * File syntax: "keyword = value" lines; blank lines and lines starting with
 * '#' are ignored; a value may be in double quotes (with \" and \\) to keep
 * leading/trailing blanks or a '#'; otherwise " #" starts a comment; a line
 * ending in '\' continues on the next.  Unknown keywords, bad values and
 * values out of bounds are errors naming file:line.
 * Defaults are strings from smfopts.h that go through the same parser.
 * Ownership: the values belong to the struct mc_config being built;
 * conf_free_values() frees them.
 * Failure: -1 with "file:line: reason" in the caller's buffer; nothing is
 * installed here, so a failed reload keeps the running snapshot.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "conf.h"
#include "html.h"
#include "log.h"
#include "net.h"
#include "smfopts.h"
#include "banned.h"

enum conf_type {
	CONF_STR,	/* char *, any text */
	CONF_INT,	/* long, decimal, [min, max] */
	CONF_UINT,	/* unsigned, decimal, [min, max] */
	CONF_SIZE,	/* size_t, with k/m/g suffix, [min, max] */
	CONF_TIME,	/* long seconds, with s/m/h/d suffix, [min, max] */
	CONF_ENUM,	/* int, index into words */
	CONF_DOUBLE,	/* double, [min, max] */
	CONF_HTML	/* unsigned, HTML_* mask from words */
};

#define CF_OFF(f)	offsetof(struct mc_config, f)

struct conf_var {
	const char	*name;
	enum conf_type	 type;
	const char	*def;
	size_t		 off;
	long long	 min, max;
	const char	*words;		/* CONF_ENUM: "a|b|c" */
	const char	*help;
};

static const struct conf_var conf_vars[] = {
	{ "socket", CONF_STR, DEF_SOCKET, CF_OFF(socket), 0, 0, NULL,
	  "milter socket: inet:PORT@HOST, inet6:PORT@HOST or unix:PATH" },
	{ "user", CONF_STR, DEF_USER, CF_OFF(user), 0, 0, NULL,
	  "user to run as when started as root (\"\" = do not change)" },
	{ "allow_root", CONF_ENUM, DEF_ALLOW_ROOT, CF_OFF(allow_root), 0, 0,
	  "no|yes", "run as root when user is empty or names root (for "
	  "tests); read at start only" },
	{ "pid_file", CONF_STR, DEF_PID_FILE, CF_OFF(pid_file), 0, 0, NULL,
	  "pid file (\"\" = none)" },
	{ "spool_dir", CONF_STR, DEF_SPOOL_DIR, CF_OFF(spool_dir), 0, 0, NULL,
	  "directory for per-message temporary files" },
	{ "spool_memory", CONF_SIZE, DEF_SPOOL_MEMORY, CF_OFF(spool_memory),
	  0, 1LL << 30, NULL, "message bytes kept in memory before spilling" },
	{ "log_facility", CONF_STR, DEF_LOG_FACILITY, CF_OFF(log_facility),
	  0, 0, NULL, "syslog facility" },
	{ "milter_timeout", CONF_TIME, DEF_MILTER_TIMEOUT,
	  CF_OFF(milter_timeout), 1, 86400, NULL,
	  "libmilter socket I/O timeout" },
	{ "milter_backlog", CONF_INT, DEF_MILTER_BACKLOG,
	  CF_OFF(milter_backlog), 1, 65535, NULL, "listen(2) backlog" },
	{ "milter_receive_buffer", CONF_SIZE, DEF_MILTER_RECEIVE_BUFFER,
	  CF_OFF(milter_receive_buffer), 0, 1 << 28, NULL,
	  "inet milter socket's receive buffer; 0: the kernel's autotuning" },
	{ "max_sessions", CONF_INT, DEF_MAX_SESSIONS, CF_OFF(max_sessions),
	  1, 100000, NULL, "connections served at once; more are tempfailed "
	  "at connect" },
	{ "stop_timeout", CONF_TIME, DEF_STOP_TIMEOUT, CF_OFF(stop_timeout),
	  1, 3600, NULL, "on SIGTERM, seconds the sessions in flight get "
	  "before they are abandoned (the MTA keeps their mail)" },
	{ "malloc_arenas", CONF_INT, DEF_MALLOC_ARENAS, CF_OFF(malloc_arenas),
	  0, 64, NULL, "glibc malloc arenas (0 = glibc's default); read at "
	  "start only" },
	{ "attachment_action", CONF_ENUM, DEF_ATTACHMENT_ACTION,
	  CF_OFF(attachment_action), 0, 0, "delete|mangle",
	  "what to do with a dangerous part" },
	{ "mangle_suffix", CONF_STR, DEF_MANGLE_SUFFIX, CF_OFF(mangle_suffix),
	  0, 0, NULL, "appended to a mangled file name" },
	{ "warning_text", CONF_STR, DEF_WARNING_TEXT, CF_OFF(warning_text),
	  0, 0, NULL, "first line of the warning put into the message" },
	{ "bad_extensions", CONF_STR, DEF_BAD_EXTENSIONS,
	  CF_OFF(bad_extensions), 0, 0, NULL,
	  "dangerous file-name extensions (\"+x -y\" edits the defaults)" },
	{ "bad_mime_types", CONF_STR, DEF_BAD_MIME_TYPES,
	  CF_OFF(bad_mime_types), 0, 0, NULL,
	  "dangerous MIME types (\"+x -y\" edits the defaults)" },
	{ "html_defang", CONF_HTML, DEF_HTML_DEFANG, CF_OFF(html_defang),
	  0, 0, NULL, "active HTML to neutralise: script event frame object "
	  "jsurl dataurl form refresh, all or none" },
	{ "archive_max_depth", CONF_INT, DEF_ARCHIVE_MAX_DEPTH,
	  CF_OFF(archive_max_depth), 1, 16, NULL,
	  "nested archives examined" },
	{ "archive_max_size", CONF_SIZE, DEF_ARCHIVE_MAX_SIZE,
	  CF_OFF(archive_max_size), 1024, 1LL << 31, NULL,
	  "archive bytes examined per attachment" },
	{ "mime_max_depth", CONF_UINT, DEF_MIME_MAX_DEPTH,
	  CF_OFF(limits.max_depth), 1, 1000, NULL, "MIME nesting limit" },
	{ "mime_max_parts", CONF_UINT, DEF_MIME_MAX_PARTS,
	  CF_OFF(limits.max_parts), 1, 100000, NULL, "MIME parts limit" },
	{ "mime_max_header", CONF_SIZE, DEF_MIME_MAX_HEADER,
	  CF_OFF(limits.max_header), 1024, 1 << 24, NULL,
	  "bytes of one header field analysed" },
	{ "mime_max_headers", CONF_UINT, DEF_MIME_MAX_HEADERS,
	  CF_OFF(limits.max_headers), 10, 1000000, NULL,
	  "header fields per entity analysed" },
	{ "mime_max_line", CONF_SIZE, DEF_MIME_MAX_LINE,
	  CF_OFF(limits.max_line), 1000, 1 << 24, NULL,
	  "longest line analysed" },
	{ "mime_max_boundary", CONF_SIZE, DEF_MIME_MAX_BOUNDARY,
	  CF_OFF(limits.max_boundary), 70, 4096, NULL,
	  "longest boundary honoured" },
	{ "mime_max_params", CONF_UINT, DEF_MIME_MAX_PARAMS,
	  CF_OFF(limits.max_params), 4, 10000, NULL,
	  "parameters or RFC 2231 sections per header field" },
	{ "mime_max_name", CONF_SIZE, DEF_MIME_MAX_NAME,
	  CF_OFF(limits.max_name), 64, 65536, NULL,
	  "bytes of a decoded file name kept" },
	{ "mime_max_names", CONF_UINT, DEF_MIME_MAX_NAMES,
	  CF_OFF(limits.max_names), 4, 10000, NULL,
	  "distinct file names per MIME part" },
	{ "on_mime_limit", CONF_ENUM, DEF_ON_MIME_LIMIT,
	  CF_OFF(on_mime_limit), 0, 0, "strip|reject",
	  "beyond a MIME limit: strip the unscannable rest, or reject" },
	{ "whitelist", CONF_STR, DEF_WHITELIST, CF_OFF(whitelist), 0, 0, NULL,
	  "senders never treated as spam: addresses, *@domain, globs, "
	  "file:/path" },
	{ "blacklist", CONF_STR, DEF_BLACKLIST, CF_OFF(blacklist), 0, 0, NULL,
	  "senders always treated as spam (same syntax)" },
	{ "list_from_header", CONF_ENUM, DEF_LIST_FROM_HEADER,
	  CF_OFF(list_from_header), 0, 0, "no|yes",
	  "match the lists against the From header too" },
	{ "spamassassin_config", CONF_STR, DEF_SPAMASSASSIN_CONFIG,
	  CF_OFF(spamassassin_config), 0, 0, NULL,
	  "SpamAssassin files and directories read for welcome/block lists "
	  "(\"\" = none)" },
	{ "spam_arbitron", CONF_ENUM, DEF_SPAM_ARBITRON, CF_OFF(spam_arbitron),
	  0, 0, "builtin|spamd|none", "who decides whether mail is spam" },
	{ "spam_combine", CONF_ENUM, DEF_SPAM_COMBINE, CF_OFF(spam_combine),
	  0, 0, "either|arbitron", "spam when either the built-in checker or "
	  "the arbitron says so, or when the arbitron alone says so" },
	{ "spamd_always", CONF_ENUM, DEF_SPAMD_ALWAYS, CF_OFF(spamd_always),
	  0, 0, "no|yes", "ask spamd even when the message is already spam "
	  "by another checker (spam_combine = either)" },
	{ "spamd_cache_size", CONF_UINT, DEF_SPAMD_CACHE_SIZE,
	  CF_OFF(spamd_cache_size), 0, 1000000, NULL,
	  "spamd answers kept for identical requests (0 = no cache)" },
	{ "spamd_cache_ttl", CONF_TIME, DEF_SPAMD_CACHE_TTL,
	  CF_OFF(spamd_cache_ttl), 1, 86400, NULL,
	  "how long a kept spamd answer is used" },
	{ "spam_threshold", CONF_DOUBLE, DEF_SPAM_THRESHOLD,
	  CF_OFF(spam_threshold), 0, 10000, NULL,
	  "built-in checker's spam score threshold" },
	{ "spam_weights_file", CONF_STR, DEF_SPAM_WEIGHTS_FILE,
	  CF_OFF(spam_weights_file), 0, 0, NULL,
	  "phrase and feature weights (\"\" = built in)" },
	{ "spamd_servers", CONF_STR, DEF_SPAMD_SERVERS, CF_OFF(spamd_servers),
	  0, 0, NULL, "spamd addresses (a pool, see scanner_balance): "
	  "host:port, unix:path" },
	{ "spamd_max_failures", CONF_INT, DEF_SPAMD_MAX_FAILURES,
	  CF_OFF(spamd_max_failures), 1, 1000, NULL,
	  "consecutive failures before a spamd server is paused" },
	{ "spamd_backoff", CONF_TIME, DEF_SPAMD_BACKOFF, CF_OFF(spamd_backoff),
	  1, 3600, NULL, "pause of a spamd server after repeated failures" },
	{ "spamd_connect_timeout", CONF_TIME, DEF_SPAMD_CONNECT_TIMEOUT,
	  CF_OFF(spamd_connect_timeout), 1, 600, NULL,
	  "connect deadline per spamd server" },
	{ "spamd_timeout", CONF_TIME, DEF_SPAMD_TIMEOUT, CF_OFF(spamd_timeout),
	  1, 600, NULL, "answer deadline per spamd server" },
	{ "spamd_max_size", CONF_SIZE, DEF_SPAMD_MAX_SIZE,
	  CF_OFF(spamd_max_size), 1024, 1 << 28, NULL,
	  "bytes of headers and text sent to spamd" },
	{ "on_spamd_failure", CONF_ENUM, DEF_ON_SPAMD_FAILURE,
	  CF_OFF(on_spamd_failure), 0, 0, "accept|tempfail",
	  "spamd down, slow or garbled" },
	{ "spamd_per_user", CONF_ENUM, DEF_SPAMD_PER_USER,
	  CF_OFF(spamd_per_user), 0, 0, "no|yes",
	  "ask spamd once per distinct recipient (no: the first as user)" },
	{ "spamd_max_users", CONF_INT, DEF_SPAMD_MAX_USERS,
	  CF_OFF(spamd_max_users), 1, 1000, NULL,
	  "spamd_per_user: distinct recipients asked at most per message" },
	{ "spam_disposition", CONF_ENUM, DEF_SPAM_DISPOSITION,
	  CF_OFF(spam_disposition), 0, 0, "tag|trash|corral",
	  "what happens to spam" },
	{ "spam_user_prefs", CONF_STR, DEF_SPAM_USER_PREFS,
	  CF_OFF(spam_user_prefs), 0, 0, NULL,
	  "recipients' own threshold= and disposition= (\"\" = none)" },
	{ "spam_subject_tag", CONF_STR, DEF_SPAM_SUBJECT_TAG,
	  CF_OFF(spam_subject_tag), 0, 0, NULL, "Subject prefix of spam" },
	{ "corral_dir", CONF_STR, DEF_CORRAL_DIR, CF_OFF(corral_dir), 0, 0,
	  NULL, "where corralled spam is written" },
	{ "corral_max_rcpt_size", CONF_SIZE, DEF_CORRAL_MAX_RCPT_SIZE,
	  CF_OFF(corral_max_rcpt_size), 0, 1LL << 44, NULL,
	  "corralled bytes one recipient may hold; beyond, spam to them is "
	  "tempfailed, or delivered tagged when others are corralled "
	  "(0 = no limit)" },
	{ "corral_max_size", CONF_SIZE, DEF_CORRAL_MAX_SIZE,
	  CF_OFF(corral_max_size), 0, 1LL << 44, NULL,
	  "corralled bytes in all; beyond, spam is tempfailed (0 = no limit)" },
	{ "corral_host_id", CONF_STR, DEF_CORRAL_HOST_ID,
	  CF_OFF(corral_host_id), 0, 0, NULL,
	  "this host's number 0..255 in the entry ids of a corral shared by "
	  "several hosts (\"\" = from the host name)" },
	{ "bypass_key_file", CONF_STR, DEF_BYPASS_KEY_FILE,
	  CF_OFF(bypass_key_file), 0, 0, NULL,
	  "key of the bypass header on released spam (created if absent)" },
	{ "bypass_old_key_files", CONF_STR, DEF_BYPASS_OLD_KEY_FILES,
	  CF_OFF(bypass_old_key_files), 0, 0, NULL,
	  "older bypass keys, accepted for verification only (rotation)" },
	{ "bypass_daemon_name", CONF_STR, DEF_BYPASS_DAEMON_NAME,
	  CF_OFF(bypass_daemon_name), 0, 0, NULL,
	  "sendmail listener (DAEMON_OPTIONS Name=) releases must arrive on "
	  "(\"\" = local mailer test)" },
	{ "bypass_max_age", CONF_TIME, DEF_BYPASS_MAX_AGE,
	  CF_OFF(bypass_max_age), 60, 366 * 86400, NULL,
	  "how long corralled spam can be released" },
	{ "spamcorral_address", CONF_STR, DEF_SPAMCORRAL_ADDRESS,
	  CF_OFF(spamcorral_address), 0, 0, NULL,
	  "the reply robot's address (Reply-To of the digests)" },
	{ "corral_expire_days", CONF_INT, DEF_CORRAL_EXPIRE_DAYS,
	  CF_OFF(corral_expire_days), 1, 366, NULL,
	  "days corralled spam is kept" },
	{ "sendmail_path", CONF_STR, DEF_SENDMAIL_PATH, CF_OFF(sendmail_path),
	  0, 0, NULL, "sendmail command the SpamCorral programs send with" },
	{ "local_domains", CONF_STR, DEF_LOCAL_DOMAINS, CF_OFF(local_domains),
	  0, 0, NULL, "domains whose recipients get digests and may release: "
	  "names, *.domain, file:/path (\"\" = the MTA's own names: "
	  "local-host-names, host names, localhost; and "
	  "spamcorral_address's)" },
	{ "digest_template", CONF_STR, DEF_DIGEST_TEMPLATE,
	  CF_OFF(digest_template), 0, 0, NULL,
	  "the digest's wording, \"key = text\" lines (\"\" = built-in "
	  "English; spamcorral-notify(8))" },
	{ "robot_max_failures", CONF_INT, DEF_ROBOT_MAX_FAILURES,
	  CF_OFF(robot_max_failures), 1, 100000, NULL,
	  "bad identifiers from one sender before the robot ignores it" },
	{ "robot_failure_window", CONF_TIME, DEF_ROBOT_FAILURE_WINDOW,
	  CF_OFF(robot_failure_window), 1, 7 * 86400, NULL,
	  "window of robot_max_failures, and how long the sender is ignored" },
	{ "robot_reply_interval", CONF_TIME, DEF_ROBOT_REPLY_INTERVAL,
	  CF_OFF(robot_reply_interval), 0, 7 * 86400, NULL,
	  "at most one robot answer per sender in this time (0 = no limit)" },
	{ "robot_learn_ham", CONF_ENUM, DEF_ROBOT_LEARN_HAM,
	  CF_OFF(robot_learn_ham), 0, 0, "auto|yes|no",
	  "a release of an entry spamd judged teaches spamd it is ham "
	  "(TELL; auto = yes when spam_arbitron is spamd)" },
	{ "virus_arbitron", CONF_ENUM, DEF_VIRUS_ARBITRON,
	  CF_OFF(virus_arbitron), 0, 0, "none|clamd", "virus scanner" },
	{ "clamd_servers", CONF_STR, DEF_CLAMD_SERVERS, CF_OFF(clamd_servers),
	  0, 0, NULL, "clamd addresses (a pool, see scanner_balance): "
	  "host:port, unix:path" },
	{ "clamd_connect_timeout", CONF_TIME, DEF_CLAMD_CONNECT_TIMEOUT,
	  CF_OFF(clamd_connect_timeout), 1, 600, NULL,
	  "connect deadline per clamd server" },
	{ "clamd_timeout", CONF_TIME, DEF_CLAMD_TIMEOUT, CF_OFF(clamd_timeout),
	  1, 3600, NULL, "answer deadline of one clamd scan" },
	{ "clamd_max_stream", CONF_SIZE, DEF_CLAMD_MAX_STREAM,
	  CF_OFF(clamd_max_stream), 1024, 1LL << 32, NULL,
	  "bytes of one part sent to clamd (keep <= its StreamMaxLength)" },
	{ "virus_action", CONF_ENUM, DEF_VIRUS_ACTION, CF_OFF(virus_action),
	  0, 0, "remove|reject|discard", "what happens to a virus" },
	{ "clamd_fd_passing", CONF_ENUM, DEF_CLAMD_FD_PASSING,
	  CF_OFF(clamd_fd_passing), 0, 0, "no|yes", "hand a part to a clamd "
	  "on a unix: socket as a file descriptor (FILDES) instead of "
	  "streaming it (INSTREAM)" },
	{ "on_clamd_failure", CONF_ENUM, DEF_ON_CLAMD_FAILURE,
	  CF_OFF(on_clamd_failure), 0, 0, "accept|tempfail",
	  "clamd down, slow or garbled" },
	{ "clamd_backoff", CONF_TIME, DEF_CLAMD_BACKOFF, CF_OFF(clamd_backoff),
	  1, 3600, NULL, "pause after repeated clamd failures" },
	{ "clamd_max_failures", CONF_INT, DEF_CLAMD_MAX_FAILURES,
	  CF_OFF(clamd_max_failures), 1, 1000, NULL,
	  "consecutive clamd failures before the pause" },
	{ "clamd_max_connections", CONF_INT, DEF_CLAMD_MAX_CONNECTIONS,
	  CF_OFF(clamd_max_connections), 1, 10000, NULL,
	  "connections to clamd at once; more scans wait (match MaxThreads)" },
	{ "scanner_balance", CONF_ENUM, DEF_SCANNER_BALANCE,
	  CF_OFF(scanner_balance), 0, 0, "spread|failover",
	  "spamd and clamd servers: least outstanding, or in order" },
	{ "perl_filter", CONF_STR, DEF_PERL_FILTER, CF_OFF(perl_filter), 0, 0,
	  NULL, "the site's Perl filter file (\"\" = no Perl shim)" },
	{ "perl_shim", CONF_STR, DEF_PERL_SHIM, CF_OFF(perl_shim), 0, 0, NULL,
	  "the shim that loads perl_filter (perlshim.pl)" },
	{ "perl_workers", CONF_INT, DEF_PERL_WORKERS, CF_OFF(perl_workers), 1,
	  64, NULL, "Perl worker processes; all busy: tempfail at once" },
	{ "perl_timeout", CONF_TIME, DEF_PERL_TIMEOUT, CF_OFF(perl_timeout), 1,
	  3600, NULL, "busy timeout of one message in a Perl worker" },
	{ "perl_kill_grace", CONF_TIME, DEF_PERL_KILL_GRACE,
	  CF_OFF(perl_kill_grace), 1, 600, NULL,
	  "wait between closing a stuck worker's pipes, SIGTERM and SIGKILL" },
	{ "perl_memory_limit", CONF_SIZE, DEF_PERL_MEMORY_LIMIT,
	  CF_OFF(perl_memory_limit), 16LL << 20, 1LL << 40, NULL,
	  "address space limit (RLIMIT_AS) of each Perl worker" },
	{ "perl_max_requests", CONF_INT, DEF_PERL_MAX_REQUESTS,
	  CF_OFF(perl_max_requests), 1, 1000000, NULL,
	  "messages a Perl worker handles before it is replaced" },
	{ "perl_filter_api", CONF_ENUM, DEF_PERL_FILTER_API,
	  CF_OFF(perl_filter_api), 0, 0, "mailcorral|mimedefang",
	  "the API perl_filter is written for: MailCorral's or MIMEDefang's" },
	{ "archive_dir", CONF_STR, DEF_ARCHIVE_DIR, CF_OFF(archive_dir), 0, 0,
	  NULL, "local mail archive directory (\"\" = no local archive)" },
	{ "archive_required", CONF_ENUM, DEF_ARCHIVE_REQUIRED,
	  CF_OFF(archive_required), 0, 0, "no|yes",
	  "tempfail mail that cannot be archived or journaled" },
	{ "archive_create_dir", CONF_ENUM, DEF_ARCHIVE_CREATE_DIR,
	  CF_OFF(archive_create_dir), 0, 0, "no|yes",
	  "create archive_dir (0750) when it is missing" },
	{ "archive_address", CONF_STR, DEF_ARCHIVE_ADDRESS,
	  CF_OFF(archive_address), 0, 0, NULL,
	  "third-party archiver: added as a recipient of delivered mail "
	  "(\"\" = none)" },
	{ "archive_db_host", CONF_STR, DEF_ARCHIVE_DB_HOST,
	  CF_OFF(archive_db_host), 0, 0, NULL,
	  "MariaDB/MySQL host of the archive index (\"\" = localhost)" },
	{ "archive_db_port", CONF_INT, DEF_ARCHIVE_DB_PORT,
	  CF_OFF(archive_db_port), 0, 65535, NULL,
	  "its TCP port (0 = default)" },
	{ "archive_db_socket", CONF_STR, DEF_ARCHIVE_DB_SOCKET,
	  CF_OFF(archive_db_socket), 0, 0, NULL,
	  "its unix socket (\"\" = TCP or the client default)" },
	{ "archive_db_name", CONF_STR, DEF_ARCHIVE_DB_NAME,
	  CF_OFF(archive_db_name), 0, 0, NULL,
	  "database of the archive index (\"\" = no index)" },
	{ "archive_db_user", CONF_STR, DEF_ARCHIVE_DB_USER,
	  CF_OFF(archive_db_user), 0, 0, NULL, "database user" },
	{ "archive_db_password_file", CONF_STR, DEF_ARCHIVE_DB_PASSWORD_FILE,
	  CF_OFF(archive_db_password_file), 0, 0, NULL,
	  "file whose first line is the database password (\"\" = none)" },
	{ "archive_db_table", CONF_STR, DEF_ARCHIVE_DB_TABLE,
	  CF_OFF(archive_db_table), 0, 0, NULL,
	  "index table (letters, digits, _; created if absent)" },
	{ "archive_db_timeout", CONF_TIME, DEF_ARCHIVE_DB_TIMEOUT,
	  CF_OFF(archive_db_timeout), 1, 600, NULL,
	  "database connect, read and write timeout" },
	{ "archive_journal", CONF_STR, DEF_ARCHIVE_JOURNAL,
	  CF_OFF(archive_journal), 0, 0, NULL, "index rows not yet in the "
	  "database (\"\" = archive_dir/index.journal)" },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL }
};

static const struct { const char *word; unsigned bit; } html_words[] = {
	{ "script", HTML_SCRIPT }, { "event", HTML_EVENT },
	{ "frame", HTML_FRAME }, { "object", HTML_OBJECT },
	{ "jsurl", HTML_JSURL }, { "dataurl", HTML_DATAURL },
	{ "form", HTML_FORM }, { "refresh", HTML_REFRESH },
	{ "all", HTML_ALL }, { "none", 0 },
};

static int
parse_number(const char *v, enum conf_type t, long long *out)
{
	char *end;
	long long n, mul = 1;

	errno = 0;
	if (!isdigit((unsigned char)*v))
		return -1;
	n = strtoll(v, &end, 10);
	if (errno != 0)
		return -1;
	if (t == CONF_SIZE && *end != '\0' && end[1] == '\0') {
		switch (tolower((unsigned char)*end)) {
		case 'k': mul = 1024; break;
		case 'm': mul = 1024 * 1024; break;
		case 'g': mul = 1024LL * 1024 * 1024; break;
		default: return -1;
		}
		end++;
	} else if (t == CONF_TIME && *end != '\0' && end[1] == '\0') {
		switch (tolower((unsigned char)*end)) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		default: return -1;
		}
		end++;
	}
	if (*end != '\0')
		return -1;
	if (n > LLONG_MAX / mul)
		return -1;
	*out = n * mul;
	return 0;
}

static int
parse_enum(const char *words, const char *v)
{
	const char *p = words, *bar;
	int i = 0;
	size_t n;

	for (;;) {
		bar = strchr(p, '|');
		n = bar ? (size_t)(bar - p) : strlen(p);
		if (strlen(v) == n && strncasecmp(p, v, n) == 0)
			return i;
		if (bar == NULL)
			return -1;
		p = bar + 1;
		i++;
	}
}

static int
parse_html(const char *v, unsigned *out, char *err, size_t errlen)
{
	unsigned mask = 0;
	const char *p = v;
	size_t i, n;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, " \t,");
		for (i = 0; i < sizeof(html_words) / sizeof(html_words[0]); i++)
			if (strlen(html_words[i].word) == n &&
			    strncasecmp(p, html_words[i].word, n) == 0)
				break;
		if (i == sizeof(html_words) / sizeof(html_words[0])) {
			snprintf(err, errlen, "unknown html_defang word \"%.*s\"",
			    (int)(n > 40 ? 40 : n), p);
			return -1;
		}
		mask |= html_words[i].bit;
		p += n;
	}
	*out = mask;
	return 0;
}

/* Sets one variable from its text value; reason into err on failure. */
static int
set_var(struct mc_config *cf, const struct conf_var *cv, const char *v,
    char *err, size_t errlen)
{
	char *base = (char *)cf;
	long long n;
	int e;

	switch (cv->type) {
	case CONF_STR: {
		char **dst = (char **)(void *)(base + cv->off);
		char *copy = strdup(v);

		if (copy == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		free(*dst);
		*dst = copy;
		return 0;
	}
	case CONF_INT:
	case CONF_UINT:
	case CONF_SIZE:
	case CONF_TIME:
		if (parse_number(v, cv->type, &n) == -1) {
			snprintf(err, errlen, "%s: \"%.60s\" is not a %s",
			    cv->name, v, cv->type == CONF_SIZE ? "size" :
			    cv->type == CONF_TIME ? "time" : "number");
			return -1;
		}
		if (n < cv->min || n > cv->max) {
			snprintf(err, errlen, "%s: %lld is out of range "
			    "[%lld, %lld]", cv->name, n, cv->min, cv->max);
			return -1;
		}
		if (cv->type == CONF_UINT)
			*(unsigned *)(void *)(base + cv->off) = (unsigned)n;
		else if (cv->type == CONF_SIZE)
			*(size_t *)(void *)(base + cv->off) = (size_t)n;
		else
			*(long *)(void *)(base + cv->off) = (long)n;
		return 0;
	case CONF_ENUM:
		if ((e = parse_enum(cv->words, v)) == -1) {
			snprintf(err, errlen, "%s: \"%.60s\" is not one of %s",
			    cv->name, v, cv->words);
			return -1;
		}
		*(int *)(void *)(base + cv->off) = e;
		return 0;
	case CONF_HTML:
		return parse_html(v, (unsigned *)(void *)(base + cv->off), err,
		    errlen);
	case CONF_DOUBLE: {
		char *end;
		double d;

		errno = 0;
		d = strtod(v, &end);
		if (errno != 0 || end == v || *end != '\0' || d != d) {
			snprintf(err, errlen, "%s: \"%.60s\" is not a number",
			    cv->name, v);
			return -1;
		}
		if (d < (double)cv->min || d > (double)cv->max || d <= 0) {
			snprintf(err, errlen, "%s: %g is out of range "
			    "(0, %lld]", cv->name, d, cv->max);
			return -1;
		}
		*(double *)(void *)(base + cv->off) = d;
		return 0;
	}
	}
	return -1;
}

static const struct conf_var *
find_var(const char *name)
{
	const struct conf_var *cv;

	for (cv = conf_vars; cv->name != NULL; cv++)
		if (strcasecmp(cv->name, name) == 0)
			return cv;
	return NULL;
}

/*
 * Splits one logical line into keyword and value (both modified in place).
 * Returns 1 for an assignment, 0 for a blank or comment line, -1 on error.
 */
static int
split_line(char *line, char **key, char **val, char *err, size_t errlen)
{
	char *p = line, *eq, *k, *v, *o;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	if ((eq = strchr(p, '=')) == NULL) {
		snprintf(err, errlen, "expected \"keyword = value\"");
		return -1;
	}
	k = p;
	o = eq;
	while (o > k && (o[-1] == ' ' || o[-1] == '\t'))
		o--;
	*o = '\0';
	if (*k == '\0') {
		snprintf(err, errlen, "missing keyword before '='");
		return -1;
	}
	v = eq + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	if (*v == '"') {
		char *r = v + 1, *w = v;

		while (*r != '\0' && *r != '"') {
			if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
				r++;
			*w++ = *r++;
		}
		if (*r != '"') {
			snprintf(err, errlen, "unterminated quote");
			return -1;
		}
		r++;
		while (*r == ' ' || *r == '\t')
			r++;
		if (*r != '\0' && *r != '#') {
			snprintf(err, errlen, "text after closing quote");
			return -1;
		}
		*w = '\0';
	} else {
		for (o = v; *o != '\0'; o++)
			if (*o == '#' && (o[-1] == ' ' || o[-1] == '\t'))
				break;
		*o = '\0';
		while (o > v && (o[-1] == ' ' || o[-1] == '\t' ||
		    o[-1] == '\r'))
			*--o = '\0';
	}
	*key = k;
	*val = v;
	return 1;
}

static int
load_file(struct mc_config *cf, const char *file, char *err, size_t errlen)
{
	FILE *fp;
	char *line = NULL, *key, *val, reason[256];
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0, start = 0;
	struct buf logical = BUF_INIT;
	const struct conf_var *cv;
	int rc = -1, r;

	if ((fp = fopen(file, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, fp)) != -1) {
		lineno++;
		if (logical.len == 0)
			start = lineno;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (memchr(line, '\0', (size_t)n) != NULL) {
			snprintf(err, errlen, "%s:%u: NUL byte in line", file,
			    lineno);
			goto out;
		}
		if (n > 0 && line[n - 1] == '\\') {
			line[n - 1] = ' ';
			if (buf_add(&logical, line, (size_t)n) == -1)
				goto nomem;
			continue;
		}
		if (buf_add(&logical, line, (size_t)n) == -1)
			goto nomem;
		r = split_line(logical.data, &key, &val, reason,
		    sizeof(reason));
		if (r == -1) {
			snprintf(err, errlen, "%s:%u: %s", file, start, reason);
			goto out;
		}
		if (r == 1) {
			if ((cv = find_var(key)) == NULL) {
				snprintf(err, errlen, "%s:%u: unknown keyword "
				    "\"%.60s\"", file, start, key);
				goto out;
			}
			if (set_var(cf, cv, val, reason, sizeof(reason)) == -1) {
				snprintf(err, errlen, "%s:%u: %s", file, start,
				    reason);
				goto out;
			}
		}
		buf_reset(&logical);
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: read error: %s", file,
		    strerror(errno));
		goto out;
	}
	rc = 0;
	goto out;
nomem:
	snprintf(err, errlen, "%s:%u: out of memory", file, lineno);
out:
	buf_free(&logical);
	free(line);
	fclose(fp);
	return rc;
}

static int
ident_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= 64 || !(isalnum((unsigned char)s[i]) || s[i] == '_') ||
		    (unsigned char)s[i] >= 0x80)
			return 0;
	return i > 0;
}

/*
 * The archive's settings: the table name is the one identifier put into
 * SQL text; what the index keeps of the others (archive.c's struct
 * arc_set) must fit.  0, or -1 with err.
 */
static int
check_archive(const struct mc_config *cf, char *err, size_t errlen)
{
	const char *where = cf->file ? cf->file : "defaults";
	const struct {
		const char	*name, *v;
		size_t		 max;
	} len[] = {
		{ "archive_db_host", cf->archive_db_host, 255 },
		{ "archive_db_name", cf->archive_db_name, 64 },
		{ "archive_db_user", cf->archive_db_user, 255 },
		{ "archive_db_socket", cf->archive_db_socket, PATH_MAX - 1 },
		{ "archive_db_password_file", cf->archive_db_password_file,
		  PATH_MAX - 1 },
		{ "archive_journal", cf->archive_journal, PATH_MAX - 1 },
		{ "archive_dir", cf->archive_dir, PATH_MAX - 16 },
	};
	size_t i;

	for (i = 0; i < sizeof(len) / sizeof(len[0]); i++)
		if (strlen(len[i].v) > len[i].max) {
			snprintf(err, errlen, "%s: %s: longer than %zu bytes",
			    where, len[i].name, len[i].max);
			return -1;
		}
	if (!ident_ok(cf->archive_db_table)) {
		snprintf(err, errlen, "%s: archive_db_table: want 1 to 64 "
		    "letters, digits or _", where);
		return -1;
	}
	if (cf->archive_dir[0] != '\0' && cf->archive_dir[0] != '/') {
		snprintf(err, errlen, "%s: archive_dir: not an absolute path",
		    where);
		return -1;
	}
	if (cf->archive_journal[0] != '\0' && cf->archive_journal[0] != '/') {
		snprintf(err, errlen, "%s: archive_journal: not an absolute "
		    "path", where);
		return -1;
	}
	if (strpbrk(cf->archive_address, " \t\r\n<>,") != NULL) {
		snprintf(err, errlen, "%s: archive_address: one bare address "
		    "wanted", where);
		return -1;
	}
	return 0;
}

/*
 * Splits a blank- or comma-separated list (servers, key files) into a
 * NULL-ended array.
 */
static int
split_servers(const char *spec, char ***out, size_t *n)
{
	char **v = NULL, **nv;
	const char *p = spec;
	size_t len;

	*n = 0;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		len = strcspn(p, " \t,");
		if ((nv = realloc(v, (*n + 2) * sizeof(*v))) == NULL)
			goto fail;
		v = nv;
		if ((v[*n] = strndup(p, len)) == NULL)
			goto fail;
		v[++*n] = NULL;
		p += len;
	}
	*out = v;
	return 0;
fail:
	while (v != NULL && *n > 0)
		free(v[--*n]);
	free(v);
	return -1;
}

static void
free_servers(char **v, size_t n)
{
	while (v != NULL && n > 0)
		free(v[--n]);
	free(v);
}

/*
 * archive_db_host: a list of nodes (archive.c tries them in turn), each in
 * net.h's forms.  0, or -1 with err.
 */
static int
check_db_nodes(const struct mc_config *cf, char *err, size_t errlen)
{
	struct net_addr a;
	char **v, why[128];
	size_t n, i;
	int rc = 0;

	if (split_servers(cf->archive_db_host, &v, &n) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < n && rc == 0; i++)
		if (net_parse(v[i], "0", &a, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "%s: archive_db_host: %s",
			    cf->file ? cf->file : "defaults", why);
			rc = -1;
		}
	free_servers(v, n);
	return rc;
}

/*
 * The Perl shim's files: absolute (the worker is started with no working
 * directory of ours to rely on), one line, and a regular file now.
 */
static int
perl_file(const char *key, const char *path, char *reason, size_t len)
{
	struct stat st;

	if (path[0] != '/' || strchr(path, '\n') != NULL) {
		snprintf(reason, len, "%s: \"%.200s\" is not an absolute path",
		    key, path);
		return -1;
	}
	if (stat(path, &st) == -1) {
		snprintf(reason, len, "%s: %.200s: %s", key, path,
		    strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(reason, len, "%s: %.200s: not a regular file", key,
		    path);
		return -1;
	}
	return 0;
}

int
conf_derive(struct mc_config *cf, char *err, size_t errlen)
{
	char reason[512];
	const char *where = cf->file ? cf->file : "defaults";

	if (split_servers(cf->spamd_servers, &cf->spamd.servers,
	    &cf->spamd.nservers) == -1 ||
	    split_servers(cf->clamd_servers, &cf->clamd.servers,
	    &cf->clamd.nservers) == -1 ||
	    split_servers(cf->bypass_old_key_files, &cf->old_key_files,
	    &cf->nold_key_files) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((cf->spam_arbitron == CONF_SPAM_SPAMD && cf->spamd.nservers == 0) ||
	    (cf->virus_arbitron == CONF_VIRUS_CLAMD &&
	    cf->clamd.nservers == 0)) {
		snprintf(err, errlen, "%s: %s_servers is empty", where,
		    cf->spamd.nservers == 0 ? "spamd" : "clamd");
		return -1;
	}
	if (*cf->perl_filter != '\0' &&
	    (perl_file("perl_filter", cf->perl_filter, reason,
	    sizeof(reason)) == -1 || perl_file("perl_shim", cf->perl_shim,
	    reason, sizeof(reason)) == -1)) {
		snprintf(err, errlen, "%s: %s", where, reason);
		return -1;
	}
	cf->spamd.connect_timeout_ms = (int)cf->spamd_connect_timeout * 1000;
	cf->spamd.read_timeout_ms = (int)cf->spamd_timeout * 1000;
	cf->spamd.max_size = cf->spamd_max_size;
	cf->clamd.connect_timeout_ms = (int)cf->clamd_connect_timeout * 1000;
	cf->clamd.read_timeout_ms = (int)cf->clamd_timeout * 1000;
	cf->clamd.max_stream = cf->clamd_max_stream;
	cf->clamd.max_connections = (unsigned)cf->clamd_max_connections;
	cf->clamd.fd_passing = cf->clamd_fd_passing;
	cf->spamd.balance = cf->clamd.balance = cf->scanner_balance;
	cf->spamd.max_failures = (unsigned)cf->spamd_max_failures;
	cf->spamd.backoff = (unsigned)cf->spamd_backoff;
	cf->clamd.max_failures = (unsigned)cf->clamd_max_failures;
	cf->clamd.backoff = (unsigned)cf->clamd_backoff;
	if (check_db_nodes(cf, err, errlen) == -1)
		return -1;
	return check_archive(cf, err, errlen);
}

int
conf_parse(const char *file, struct mc_config *cf, char *err, size_t errlen)
{
	const struct conf_var *cv;
	char reason[256];

	for (cv = conf_vars; cv->name != NULL; cv++) {
		if (set_var(cf, cv, cv->def, reason, sizeof(reason)) == -1) {
			snprintf(err, errlen, "built-in default: %s", reason);
			return -1;
		}
	}
	if (file != NULL) {
		if ((cf->file = strdup(file)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if (load_file(cf, file, err, errlen) == -1)
			return -1;
	}
	if (log_facility(cf->log_facility) == -1) {
		snprintf(err, errlen, "%s: log_facility: unknown facility "
		    "\"%.40s\"", file ? file : "defaults", cf->log_facility);
		return -1;
	}
	return 0;
}

int
conf_builtin_counts(const struct mc_config *cf)
{
	return cf->spam_arbitron == CONF_SPAM_BUILTIN ||
	    (cf->spam_arbitron == CONF_SPAM_SPAMD &&
	    cf->spam_combine == CONF_COMBINE_EITHER);
}

void
conf_free_values(struct mc_config *cf)
{
	const struct conf_var *cv;

	for (cv = conf_vars; cv->name != NULL; cv++)
		if (cv->type == CONF_STR)
			free(*(char **)(void *)((char *)cf + cv->off));
	free_servers(cf->spamd.servers, cf->spamd.nservers);
	free_servers(cf->clamd.servers, cf->clamd.nservers);
	free_servers(cf->old_key_files, cf->nold_key_files);
	free(cf->file);
}

void
conf_dump_defaults(void)
{
	const struct conf_var *cv;

	for (cv = conf_vars; cv->name != NULL; cv++)
		printf("  %-20s %s\n", cv->name, cv->help);
}
