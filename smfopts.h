/*
 * smfopts.h -- compile-time defaults.
 *
 * One DEF_ string per configuration keyword; conf.c parses each through the
 * same code and bounds as a value read from mailcorral.conf, so a bad
 * default fails just as a bad file would.  Every one can be overridden in
 * mailcorral.conf (see mailcorral.conf(5)).
 */
#ifndef MC_SMFOPTS_H
#define MC_SMFOPTS_H

#include "mime.h"

#define MC_STR_(x)		#x
#define MC_STR(x)		MC_STR_(x)	/* a number's digits */

#define MC_VERSION		"0.1.0"
#define MC_NAME			"mailcorral"

#ifndef DEF_CONFIG_FILE
#define DEF_CONFIG_FILE		"/etc/mailcorral/mailcorral.conf"
#endif

/* Daemon */
#define DEF_SOCKET		"inet:2526@127.0.0.1"
#define DEF_USER		""		/* "" = stay as started */
#define DEF_ALLOW_ROOT		"no"		/* refuse to run as root */
#define DEF_PID_FILE		""		/* "" = no pid file */
#define DEF_SPOOL_DIR		"/tmp"		/* per-message temp files */
#define DEF_SPOOL_MEMORY	"1m"		/* body kept in memory up to */
#define DEF_LOG_FACILITY	"mail"
#define DEF_MILTER_TIMEOUT	"7210s"		/* libmilter socket I/O */
#define DEF_MILTER_BACKLOG	"64"
#define DEF_MILTER_RECEIVE_BUFFER	"4m"
#define DEF_MAX_SESSIONS	"256"		/* connections at once */
#define DEF_STOP_TIMEOUT	"30s"		/* sessions in flight at SIGTERM */
#define DEF_MALLOC_ARENAS	"4"		/* 0 = glibc's default */

/* Attachments */
#define DEF_ATTACHMENT_ACTION	"delete"	/* delete | mangle */
#define DEF_MANGLE_SUFFIX	".disarmed"
#define DEF_WARNING_TEXT \
	"WARNING: MailCorral removed or renamed dangerous content " \
	"in this message."
#define DEF_HTML_DEFANG		"script event frame object jsurl dataurl refresh"
#define DEF_ARCHIVE_MAX_DEPTH	"4"
#define DEF_ARCHIVE_MAX_SIZE	"25m"		/* archive bytes examined */

/*
 * Dangerous extensions: PROPAGATION.md section A plus the usual launchers.
 * Compared after normalisation, without case, without the dot.
 */
#define DEF_BAD_EXTENSIONS \
	"exe scr pif com bat cmd vbs vbe js jse wsf wsh wsc hta lnk cpl " \
	"msi msp mst iso img vhd vhdx one onepkg ps1 ps1xml ps2 ps2xml psc1 " \
	"psc2 psd1 psm1 jar jnlp docm dotm xlsm xltm xlam pptm potm ppam " \
	"ppsm sldm reg scf url inf chm hlp msc gadget settingcontent-ms " \
	"library-ms appx appxbundle msix msixbundle xll application ade adp " \
	"bas cer crt der ins isp its job mde mdb mdt msh msh1 msh2 mshxml " \
	"msh1xml msh2xml ops pcd prf prg sct shb shs vb vxd ws dll sys drv " \
	"ocx diagcab search-ms mht mhtml"

/* Dangerous declared MIME types (exact, lower case; "family/ *" without the blank for a family). */
#define DEF_BAD_MIME_TYPES \
	"application/x-msdownload application/x-msdos-program " \
	"application/x-dosexec application/x-executable " \
	"application/x-ms-dos-executable application/vnd.microsoft.portable-executable " \
	"application/x-msi application/x-ms-installer application/x-ole-storage " \
	"application/hta application/x-ms-shortcut application/x-bat " \
	"application/x-sh application/x-csh application/x-javascript " \
	"application/javascript text/javascript text/vbscript text/x-vbscript " \
	"application/x-vbscript text/scriptlet application/x-java-archive " \
	"application/java-archive application/x-java-jnlp-file " \
	"application/x-iso9660-image application/x-cd-image " \
	"application/x-raw-disk-image application/x-vhd application/onenote " \
	"application/msonenote application/vnd.ms-word.document.macroenabled.12 " \
	"application/vnd.ms-excel.sheet.macroenabled.12 " \
	"application/vnd.ms-powershell application/x-powershell " \
	"application/mac-binhex40 application/mac-binhex application/x-binhex40 " \
	"message/partial message/external-body"

/*
 * MIME limits (RELIABILITY.md section 0, BI-11): the numbers live once, in
 * mime.h, which the parser's own defaults use too.
 */
#define DEF_MIME_MAX_DEPTH	MC_STR(MIME_DEF_MAX_DEPTH)
#define DEF_MIME_MAX_PARTS	MC_STR(MIME_DEF_MAX_PARTS)
#define DEF_MIME_MAX_HEADER	MC_STR(MIME_DEF_MAX_HEADER)	/* 64k */
#define DEF_MIME_MAX_HEADERS	MC_STR(MIME_DEF_MAX_HEADERS)
#define DEF_MIME_MAX_LINE	MC_STR(MIME_DEF_MAX_LINE)	/* 64k */
#define DEF_MIME_MAX_BOUNDARY	MC_STR(MIME_DEF_MAX_BOUNDARY)
#define DEF_MIME_MAX_PARAMS	MC_STR(MIME_DEF_MAX_PARAMS)
#define DEF_MIME_MAX_NAME	MC_STR(MIME_DEF_MAX_NAME)
#define DEF_MIME_MAX_NAMES	MC_STR(MIME_DEF_MAX_NAMES)
#define DEF_ON_MIME_LIMIT	"strip"		/* strip | reject */

/* Spam (seed sections 5.2 to 5.4). */
#define DEF_WHITELIST		""
#define DEF_BLACKLIST		""
#define DEF_LIST_FROM_HEADER	"no"		/* also match From: */
/* SpamAssassin's list files: '*' is every directory at and below. */
#define DEF_SPAMASSASSIN_CONFIG	"/usr/share/spamassassin /etc/spamassassin " \
	"/etc/mail/spamassassin " \
	"/var/lib/spamassassin/*/updates_spamassassin_org"
#define DEF_SPAM_ARBITRON	"builtin"	/* builtin | spamd | none */
#define DEF_SPAM_COMBINE	"either"	/* either | arbitron */
#define DEF_SPAMD_ALWAYS	"no"		/* ask spamd for spam too */
#define DEF_SPAMD_CACHE_SIZE	"0"		/* identical requests kept */
#define DEF_SPAMD_CACHE_TTL	"5m"
#define DEF_SPAM_THRESHOLD	"5.0"
#define DEF_SPAM_WEIGHTS_FILE	""		/* "" = built-in weights */
#define DEF_SPAMD_SERVERS	"127.0.0.1:2527"
#define DEF_SPAMD_PORT		"783"		/* a server given without one */
#define DEF_SPAMD_CONNECT_TIMEOUT "2s"
#define DEF_SPAMD_TIMEOUT	"30s"
#define DEF_SPAMD_MAX_SIZE	"500k"
#define DEF_ON_SPAMD_FAILURE	"accept"	/* accept | tempfail */
#define DEF_SPAMD_PER_USER	"no"		/* no | yes */
#define DEF_SPAMD_MAX_USERS	"10"
/* A spamd server paused after this many failures in a row (pool.h). */
#define DEF_SPAMD_MAX_FAILURES	DEF_CLAMD_MAX_FAILURES
#define DEF_SPAMD_BACKOFF	DEF_CLAMD_BACKOFF
#define DEF_SPAM_DISPOSITION	"tag"		/* tag | trash | corral */
#define DEF_SPAM_USER_PREFS	""		/* none (prefs.h) */
#define DEF_SPAM_SUBJECT_TAG	"[SPAM]"
#define DEF_CORRAL_DIR		"/var/spool/mailcorral/corral"
#define DEF_CORRAL_MAX_RCPT_SIZE "100m"	/* one recipient's corral (SC-C7) */
#define DEF_CORRAL_MAX_SIZE	"2g"		/* the whole corral; 0 = no limit */
#define DEF_CORRAL_HOST_ID	""		/* "": from the host name */
#define SPAMKEY			"/etc/mailcorral/spamkey"
#define DEF_BYPASS_KEY_FILE	SPAMKEY
#define DEF_BYPASS_OLD_KEY_FILES ""		/* verify only; "" = none */
#define DEF_BYPASS_MAX_AGE	"14d"
#define DEF_BYPASS_DAEMON_NAME	""		/* "": {mail_mailer} local */

/* SpamCorral: the digest notifier and the reply robot. */
#define DEF_SPAMCORRAL_ADDRESS	"spamcorral"	/* the robot's address */
#define DEF_CORRAL_EXPIRE_DAYS	"14"
#define DEF_SENDMAIL_PATH	"/usr/sbin/sendmail"
#define DEF_LOCAL_DOMAINS	""	/* "" = the MTA's names (spamcorral.h) */
#define DEF_DIGEST_TEMPLATE	""	/* "" = the built-in English */
#define DEF_ROBOT_MAX_FAILURES	"10"	/* bad identifiers per window ... */
#define DEF_ROBOT_FAILURE_WINDOW "1h"	/* ... before a sender is ignored */
#define DEF_ROBOT_REPLY_INTERVAL "1h"	/* one robot answer per sender */
#define DEF_ROBOT_LEARN_HAM	"auto"	/* auto | yes | no */

/* Viruses (ClamAV's clamd, INSTREAM). */
#define DEF_VIRUS_ARBITRON	"none"		/* none | clamd */
#define DEF_CLAMD_SERVERS	"127.0.0.1:2528"
#define DEF_CLAMD_PORT		"3310"		/* a server given without one */
#define DEF_CLAMD_CONNECT_TIMEOUT "2s"
#define DEF_CLAMD_TIMEOUT	"120s"
#define DEF_CLAMD_MAX_STREAM	"25m"
#define DEF_CLAMD_FD_PASSING	"yes"		/* FILDES on unix: servers */
#define DEF_VIRUS_ACTION	"remove"	/* remove | reject | discard */
#define DEF_ON_CLAMD_FAILURE	"tempfail"	/* tempfail | accept */
/* The breaker's two also as numbers (clamd.h's static initialiser). */
#define DEF_CLAMD_BACKOFF_S	30
#define DEF_CLAMD_MAX_FAILURES_N 3
#define DEF_CLAMD_BACKOFF	MC_STR(DEF_CLAMD_BACKOFF_S) "s"
#define DEF_CLAMD_MAX_FAILURES	MC_STR(DEF_CLAMD_MAX_FAILURES_N)
/* Connections to clamd at once: Debian's clamd.conf has MaxThreads 12. */
#define DEF_CLAMD_MAX_CONNECTIONS_N 12
#define DEF_CLAMD_MAX_CONNECTIONS MC_STR(DEF_CLAMD_MAX_CONNECTIONS_N)
/* How spamd_servers and clamd_servers share the load (pool.h). */
#define DEF_SCANNER_BALANCE	"spread"	/* spread | failover */

/* The Perl shim (perlpool.c, perlshim.pl); off while perl_filter is "". */
#define DEF_PERL_FILTER		""
#ifndef DEF_PERL_SHIM
#define DEF_PERL_SHIM		"/usr/lib/mailcorral/perlshim.pl"
#endif
#define DEF_PERL_WORKERS	"4"
#define DEF_PERL_TIMEOUT	"120s"		/* busy timeout per message */
#define DEF_PERL_KILL_GRACE	"10s"		/* close, SIGTERM, SIGKILL */
#define DEF_PERL_MEMORY_LIMIT	"512m"		/* RLIMIT_AS per worker */
#define DEF_PERL_MAX_REQUESTS	"500"		/* then a fresh worker */
#define DEF_PERL_FILTER_API	"mailcorral"	/* mailcorral | mimedefang */
#define MC_PERL_PATH		"/usr/bin/perl"
/* The mail archive (archive.c). */
#define DEF_ARCHIVE_DIR		""		/* "" = no local archive */
#define DEF_ARCHIVE_REQUIRED	"no"		/* yes: tempfail on failure */
#define DEF_ARCHIVE_CREATE_DIR	"no"
#define DEF_ARCHIVE_ADDRESS	""		/* third-party archiver */
#define DEF_ARCHIVE_DB_HOST	""		/* "" = localhost */
#define DEF_ARCHIVE_DB_PORT	"0"		/* 0 = 3306 */
#define DEF_ARCHIVE_DB_SOCKET	""
#define DEF_ARCHIVE_DB_NAME	""		/* "" = no index */
#define DEF_ARCHIVE_DB_USER	"mailcorral"
#define DEF_ARCHIVE_DB_PASSWORD_FILE ""
#define DEF_ARCHIVE_DB_TABLE	"mailcorral_archive"
#define DEF_ARCHIVE_DB_TIMEOUT	"5s"
#define DEF_ARCHIVE_JOURNAL	""	/* "" = <archive_dir>/index.journal */

/* Headers the filter adds. */
#define MC_HDR_FILTERED		"X-MailCorral-Filtered"
#define MC_HDR_AMBIGUITY	"X-MailCorral-Ambiguity"
#define SPAMHDRBYPASS		"X-MailCorral-Bypass"
#define MC_HDR_SPAM		"X-MailCorral-Spam"	/* unchecked (why) */
#define MC_HDR_SPAMD		"X-MailCorral-Spamd"	/* corral copy: spamd answered */
#define MC_HDR_VIRUS		"X-MailCorral-Virus"	/* unchecked (why) */
#define MC_HDR_SPAM_STATUS	"X-Spam-Status"
#define MC_HDR_SPAM_SCORE	"X-Spam-Score"
#define MC_HDR_VARIANT		"X-MailCorral-Variant"	/* keyed: verdict.c */
#define MC_HDR_DIGEST		"X-MailCorral-Digest"	/* keyed: verdict.c */

#endif
