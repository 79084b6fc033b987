/*
 * verdict.h -- the end-of-message decision, in one place.
 *
 * struct mc_msg is what the callbacks gathered about one transaction
 * (envelope, the header fields the decision needs, the scan).  At the end
 * of the message verdict_run() walks a table of steps (archive-copy check,
 * variant check, digest check, MIME limit, archive begin, bypass, clamd,
 * Perl, spam, dispose (per recipient), deliver)
 * over one struct mc_verdict: each step either decides or lets the next
 * one look.  The result is data: an action, a failure class, the header
 * edits and the new body to hand to the MTA, and the pieces of the
 * decision line.  Nothing here talks to the MTA: mailcorral.c's
 * apply_verdict() makes every change, then verdict_archive() commits or
 * drops the archive copy once the verdict is final, and verdict_reply()
 * gives the SMTP reply of the failure class.
 *
 * Ownership: the caller owns struct mc_msg (verdict_msg_free) and struct
 * mc_verdict (verdict_free); the verdict points into the message and the
 * config snapshot, which must outlive it.  Errors: trouble with one
 * message never fails a call here; it becomes a failure class and a
 * tempfail (or the configured answer) with a LOG_WARNING line.
 */
#ifndef MC_VERDICT_H
#define MC_VERDICT_H

#include <stddef.h>
#include <stdint.h>

#include "corral.h"
#include "mcarchive.h"
#include "rewrite.h"
#include "spamfilter.h"

struct arc_file;
struct clamd_verdict;
struct mc_config;
struct pp_msg;
struct pp_reply;
struct scan;
struct spool;
struct spamd_result;

#define MC_MAX_FROM	4	/* From header addresses matched */

struct mc_msg {
	char		 qid[64];	/* sendmail {i}, else NOQUEUE */
	char		*sender;	/* envelope sender, without <> */
	char		 mailer[32];	/* {mail_mailer} */
	char		 mailaddr[256];	/* {mail_addr} */
	char		 daemon[64];	/* {daemon_name}: the listener */
	char		 relay[300];	/* {_}: "name [address]" */
	char		**rcpts;	/* envelope recipients, without <> */
	unsigned	 nrcpt;
	struct scan	*scan;
	struct pp_msg	*perl;		/* NULL: no Perl shim */
	int		 err;		/* sticky errno of a failure */
	/* header occurrences we may change, counted per name */
	unsigned	 n_ctype, n_cte, n_cdisp, n_subject;
	/* every distinct X-MailCorral-* / X-Spam-* name: no cap (BI-11) */
	struct mc_forged {
		char		*name;
		unsigned	 n;		/* occurrences */
	}		*forged;
	unsigned	 nforged, capforged;
	/* first values of the fields the decisions need */
	char		*subject, *date, *msgid, *bypass;
	unsigned	 nbypass;
	char		*archmac;	/* first X-MailCorral-Archive */
	unsigned	 narchmac;
	char		*variant;	/* first X-MailCorral-Variant */
	unsigned	 nvariant;
	char		*digest;	/* first X-MailCorral-Digest */
	unsigned	 ndigest;
	/* an X-MailCorral-Virus: unchecked field: a corral entry stored
	   without the virus scan, scanned before its release */
	int		 virus_unchecked;
	/* canonical hash of the body as received, for the keyed headers:
	   0 not taken yet, 1 in bodyhash, -1 none (verdict_msg_bodyhash) */
	int		 hashed;
	unsigned char	 bodyhash[32];
	struct arc_file	*arc;		/* archive file being written */
	char		*from[MC_MAX_FROM];
	unsigned	 nfrom;
};

/*
 * Records one header field as received: the counts and first values
 * above, and the bypass body hash when the bypass header is seen; out of
 * memory sets m->err.  Frees everything the message owns (NULL: no-op).
 */
void	 verdict_msg_header(struct mc_msg *, const char *name,
	    const char *value);
void	 verdict_msg_free(struct mc_msg *);
/*
 * The canonical body hash of the message as received (bypass.h), asked
 * for by verdict_msg_header() when a keyed header was seen; taken once and
 * kept.  NULL when it was not asked for or failed.
 */
const unsigned char *verdict_msg_bodyhash(struct mc_msg *);

enum verdict_action {
	VERDICT_ACCEPT,
	VERDICT_TAG,		/* delivered, marked as spam */
	VERDICT_BYPASS,		/* released spam, delivered with the tag */
	VERDICT_ARCHIVE_COPY,	/* the archiver's copy, passed untouched */
	VERDICT_VARIANT,	/* a recipient's own copy, passed untouched */
	VERDICT_DIGEST,		/* spamcorral-notify's digest, untouched */
	VERDICT_CORRAL,		/* kept in the corral, discarded here */
	VERDICT_DISCARD,
	VERDICT_REJECT,
	VERDICT_TEMPFAIL
};

/* Why a verdict is a reject or a tempfail (verdict_reply). */
enum verdict_fail {
	VERDICT_FAIL_NONE,
	VERDICT_FAIL_INTERNAL,		/* out of memory, spool I/O */
	VERDICT_FAIL_MODIFY,		/* a change could not be made */
	VERDICT_FAIL_CLAMD,		/* on_clamd_failure = tempfail */
	VERDICT_FAIL_SPAMD,		/* on_spamd_failure = tempfail */
	VERDICT_FAIL_PERL,		/* the shim failed (P-SHIM-FAIL) */
	VERDICT_FAIL_CORRAL,		/* the corral copy was not stored */
	VERDICT_FAIL_ARCHIVE,		/* archive_required, not archived */
	VERDICT_FAIL_MIME_LIMIT,	/* on_mime_limit = reject */
	VERDICT_FAIL_VIRUS,		/* virus_action = reject */
	VERDICT_FAIL_SITE_REJECT,	/* the Perl filter's REJECT */
	VERDICT_FAIL_SITE_TEMPFAIL	/* the Perl filter's TEMPFAIL */
};

enum verdict_edit_op {
	VERDICT_HDR_ADD,	/* name: value, at the end */
	VERDICT_HDR_CHANGE,	/* index-th field of name; value NULL deletes */
	VERDICT_RCPT_ADD,	/* name is a new envelope recipient */
	VERDICT_RCPT_DEL	/* name: an envelope recipient to remove */
};

struct verdict_edit {
	enum verdict_edit_op	 op;
	char			*name;
	char			*value;		/* NULL: delete (CHANGE) */
	unsigned		 index;		/* CHANGE: 1 = first field */
};

/*
 * The results of the steps that ask other parts of the system; the
 * daemon uses verdict_real_ops, the unit tests their own.
 *   clamd:  clamd_check_message() with the shared breaker; -1 with errno
 *           when a finding could not be recorded.
 *   perl:   pp_msg_run() then pp_msg_reply(); -1 with the reason in why.
 *   bypass: bypass_ok(): 1 to bypass (the id in why), 0 (reason in why).
 *   spamd:  spamd_check() with cf's servers (spamd_per_user).
 *   remail: util_sendmail() of sendmail_path with the header block hdr
 *           (CRLF fields, no blank line), a blank line, then body from
 *           offset from; sendmail's exit status, or -1.
 */
struct verdict_ops {
	int	(*clamd)(struct scan *, const struct mc_config *,
		    struct clamd_verdict *);
	int	(*perl)(struct mc_msg *, const struct mc_config *,
		    const char *client, const struct pp_reply **,
		    char *why, size_t whylen);
	int	(*bypass)(const struct mc_config *, struct mc_msg *,
		    char *why, size_t whylen);
	int	(*remail)(const struct mc_config *, const char *sender,
		    char *const *rcpts, unsigned nrcpt, const char *hdr,
		    size_t hlen, struct spool *body, uint64_t from);
	int	(*spamd)(const struct mc_config *, const char *user,
		    const char *req, size_t len, struct spamd_result *,
		    char *err, size_t errlen);
};

/* One recipient's own spamd answer (spamd_per_user). */
struct verdict_rsv {
	int	 own;		/* 0: the message's answer applies */
	int	 is_spam;
	double	 score, threshold;
};

/*
 * One recipient's outcome of the spam decision (spam_user_prefs): the
 * copy is ham, spam delivered untouched, tagged, corralled or trashed;
 * VOUT_COPY marks those sent their copy apart from the transaction.
 */
enum verdict_out { VOUT_HAM, VOUT_DELIVER, VOUT_TAG, VOUT_CORRAL,
	VOUT_TRASH, VOUT_N };
#define VOUT_COPY	0x10

extern const struct verdict_ops verdict_real_ops;

struct mc_verdict {
	/* what the decision is about (not owned) */
	const struct mc_config	 *cf;
	struct mc_msg		 *m;
	const char		 *client;
	const struct verdict_ops *ops;
	/* the decision */
	enum verdict_action	 action;
	enum verdict_fail	 fail;
	char			 reason[1024];	/* reply text, or fault */
	struct verdict_edit	*edits;		/* in the order to make */
	unsigned		 nedits, capedits;
	struct spool		*body;		/* new body; NULL: unchanged */
	/* the findings */
	struct spam_verdict	 sv;
	int			 perl_accept;	/* the site vouched for it */
	struct spam_check	 perl_spam;	/* the site's $msg->spam() */
	unsigned char		*rout;		/* per m->rcpts: verdict_out */
	struct verdict_rsv	*rsv;		/* per m->rcpts; NULL: none */
	int			 tagged;	/* the transaction's copy */
	unsigned		 ncopy;		/* recipients sent a copy */
	unsigned		 mime_errs;	/* MIME_ERR_* of the scan */
	uint64_t		 size;		/* body bytes */
	unsigned		 clamd_scans;
	char			 clamd_server[128];	/* who scanned */
	int			 clamd_ran;	/* step_clamd looked once */
	int			 infected;	/* clamd found a virus */
	int			 rewritten;	/* rewrite_body done */
	struct rw_result	 res;
	/* the decision line's pieces */
	char			 spam[160];	/* "yes:8.1/5.0(162%) via=..." */
	char			 virus[192];	/* none, clean, NAME, unchecked */
	char			 extra[256];	/* " corral=ID", " bypass=ID" */
	char			 perl[128];	/* " perl=..." with the shim */
	char			 arch[ARC_REL_MAX + 16];	/* " archive=..." */
};

/*
 * Decides for m under cf: runs the step table until a step decides.  The
 * verdict is then final but for the archive commit.  Free with
 * verdict_free() whatever happened.
 */
void	 verdict_run(struct mc_verdict *, const struct mc_config *,
	    struct mc_msg *, const char *client, const struct verdict_ops *);
/* Makes v a tempfail (or the reject of class) for reason; logs the fault. */
void	 verdict_fail(struct mc_verdict *, enum verdict_fail,
	    const char *reason);
/* 1 when the edits and the body are to be made (the message goes on). */
int	 verdict_delivers(const struct mc_verdict *);
/*
 * The archive commit, once the changes were made (or failed): the copy is
 * kept unless the message is refused (reject, tempfail); a commit that
 * fails turns the verdict into a tempfail when archive_required and the
 * verdict can still be taken back (not discard, corral or bypass).
 */
void	 verdict_archive(struct mc_verdict *);
/*
 * The SMTP reply of a refused message: 1 with code ("451", "554"), its
 * enhanced code and the text (printable, no '%'); 0 when there is none.
 */
int	 verdict_reply(const struct mc_verdict *, const char **code,
	    const char **xcode, char *text, size_t textlen);
const char *verdict_action_str(enum verdict_action);
/* Logs the decision line (LOG_INFO, queue id first). */
void	 verdict_log(const struct mc_verdict *);
void	 verdict_free(struct mc_verdict *);

#endif
