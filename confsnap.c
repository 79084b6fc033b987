/*
 * confsnap.c -- the configuration snapshot (see confsnap.h): builds it
 * from conf.c's plain values, opens what has side effects, and keeps the
 * current one for the connections.
 *
 * conf.c parses mailcorral.conf into plain values and sits low, so the
 * modules that read a snapshot (scan, the spam decision, the bypass
 * rule) include nothing above them; this file sits above those modules
 * and calls their loaders: virusfilter.c's rules, spamfilter.c's lists,
 * spamstats.c's weights, bypass.c's keys, corral.c's directory.
 * Prefix conf_: one family with conf.c (conf.h, confsnap.h).
 * Ownership: a snapshot is immutable once conf_install()ed; connections
 * hold it with conf_acquire() and the last conf_release() frees it.
 * Failure: conf_load() and conf_prepare() return -1 with "file:line:
 * reason" or "keyword: reason" in the caller's buffer and install
 * nothing, so a failed reload keeps the running snapshot.
 */
#include <pthread.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bypass.h"
#include "confsnap.h"
#include "corral.h"
#include "log.h"
#include "prefs.h"
#include "spamfilter.h"
#include "spamstats.h"
#include "virusfilter.h"
#include "banned.h"

/*
 * Builds the read-only tables of a snapshot: the sender lists, the SA
 * lists, the weights; then the plain values derived from the keywords
 * (conf_derive()), in the order the errors always came.
 */
static int
compile(struct mc_config *cf, char *err, size_t errlen)
{
	char reason[512];
	const char *where = cf->file ? cf->file : "defaults";

	if ((cf->white = spam_list_new(cf->whitelist, reason,
	    sizeof(reason))) == NULL ||
	    (cf->black = spam_list_new(cf->blacklist, reason,
	    sizeof(reason))) == NULL) {
		snprintf(err, errlen, "%s: %s", where, reason);
		return -1;
	}
	if (*cf->spamassassin_config != '\0' &&
	    (cf->sa = spam_sa_load(cf->spamassassin_config, reason,
	    sizeof(reason))) == NULL) {
		snprintf(err, errlen, "%s: spamassassin_config: %s", where,
		    reason);
		return -1;
	}
	cf->weights = spamstats_weights_load(*cf->spam_weights_file ?
	    cf->spam_weights_file : NULL, reason, sizeof(reason));
	if (cf->weights == NULL) {
		snprintf(err, errlen, "%s: spam_weights_file: %s", where,
		    reason);
		return -1;
	}
	if (*cf->spam_user_prefs != '\0' &&
	    (cf->prefs = prefs_load(cf->spam_user_prefs, reason,
	    sizeof(reason))) == NULL) {
		snprintf(err, errlen, "%s: spam_user_prefs: %s", where,
		    reason);
		return -1;
	}
	return conf_derive(cf, err, errlen);
}

/*
 * The keys of bypass_old_key_files (RELIABILITY SC-B8, rotation): the
 * same file checks as the key, never created, only ever verified with.
 */
static int
load_old_keys(struct mc_config *cf, char *err, size_t errlen)
{
	char reason[512];
	size_t i, n = cf->nold_key_files;

	if ((cf->old_keys = calloc(n + 1, sizeof(*cf->old_keys))) == NULL ||
	    (cf->verify_keys = calloc(n + 1, sizeof(*cf->verify_keys))) ==
	    NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		cf->old_keys[i] = bypass_key_load(cf->old_key_files[i], 0,
		    reason, sizeof(reason));
		if (cf->old_keys[i] == NULL) {
			snprintf(err, errlen, "bypass_old_key_files: %s",
			    reason);
			return -1;
		}
	}
	if (cf->key != NULL)
		cf->verify_keys[cf->nverify_keys++] = cf->key;
	for (i = 0; i < n; i++)
		cf->verify_keys[cf->nverify_keys++] = cf->old_keys[i];
	return 0;
}

int
conf_corrals(const struct mc_config *cf)
{
	return cf->spam_disposition == CONF_DISPO_CORRAL ||
	    prefs_uses(cf->prefs, CONF_DISPO_CORRAL);
}

/*
 * The corral's host id (corral_host_id, or from the host name) and its
 * claim in the corral: two hosts with one id would mint the same ids on
 * a shared corral, so a claim held by another host name refuses the
 * configuration.  0, or -1 with the reason in err.
 */
static int
corral_host(struct mc_config *cf, char *err, size_t errlen)
{
	char host[256], reason[512], *end;
	long id;

	if (gethostname(host, sizeof(host)) == -1 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	id = corral_host_of_name(host);
	if (cf->corral_host_id[0] != '\0') {
		errno = 0;
		id = strtol(cf->corral_host_id, &end, 10);
		if (errno != 0 || *end != '\0' || id < 0 || id > 255 ||
		    end == cf->corral_host_id) {
			snprintf(err, errlen, "corral_host_id: \"%.40s\" is "
			    "not a number 0..255", cf->corral_host_id);
			return -1;
		}
	}
	if (cf->corral == NULL)
		return 0;
	corral_set_host(cf->corral, (unsigned)id);
	if (corral_claim_host(cf->corral, host, reason,
	    sizeof(reason)) == -1) {
		snprintf(err, errlen, "corral_host_id: %s", reason);
		return -1;
	}
	return 0;
}

int
conf_prepare(struct mc_config *cf, char *err, size_t errlen)
{
	char reason[512];

	cf->key = bypass_key_load(cf->bypass_key_file, 1, reason,
	    sizeof(reason));
	if (cf->key == NULL) {
		if (conf_corrals(cf)) {
			snprintf(err, errlen, "bypass_key_file: %s", reason);
			return -1;
		}
		log_warnx("bypass of released spam disabled: %s", reason);
	}
	if (load_old_keys(cf, err, errlen) == -1)
		return -1;
	if (!conf_corrals(cf))
		return corral_host(cf, err, errlen);	/* checks the value */
	if ((cf->corral = corral_open(cf->corral_dir, reason,
	    sizeof(reason))) == NULL) {
		snprintf(err, errlen, "corral_dir: %s", reason);
		return -1;
	}
	corral_set_quota(cf->corral, cf->corral_max_size,
	    cf->corral_max_rcpt_size);
	return corral_host(cf, err, errlen);
}

int
conf_load(const char *file, struct mc_config **out, char *err, size_t errlen)
{
	struct mc_config *cf;
	char reason[256];

	*out = NULL;
	if ((cf = calloc(1, sizeof(*cf))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (conf_parse(file, cf, err, errlen) == -1)
		goto fail;
	cf->rules = virus_rules_new(cf->bad_extensions, cf->bad_mime_types,
	    reason, sizeof(reason));
	if (cf->rules == NULL) {
		snprintf(err, errlen, "%s: %s", file ? file : "defaults",
		    reason);
		goto fail;
	}
	if (compile(cf, err, errlen) == -1)
		goto fail;
	*out = cf;
	return 0;
fail:
	conf_free(cf);
	return -1;
}

void
conf_free(struct mc_config *cf)
{
	size_t i;

	if (cf == NULL)
		return;
	if (cf->rules != NULL)
		virus_rules_free(cf->rules);
	spam_list_free(cf->white);
	spam_list_free(cf->black);
	prefs_free(cf->prefs);
	spam_sa_free(cf->sa);
	spamstats_weights_free(cf->weights);
	bypass_key_free(cf->key);
	for (i = 0; cf->old_keys != NULL && i < cf->nold_key_files; i++)
		bypass_key_free(cf->old_keys[i]);
	free(cf->old_keys);
	free(cf->verify_keys);
	corral_close(cf->corral);
	conf_free_values(cf);
	free(cf);
}

/*
 * The current snapshot.  conf_lock guards conf_current and every refs
 * field; it is held only for pointer and counter updates, never for I/O.
 */
static pthread_mutex_t	 conf_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mc_config	*conf_current;

void
conf_install(struct mc_config *cf)
{
	struct mc_config *old;

	pthread_mutex_lock(&conf_lock);
	old = conf_current;
	conf_current = cf;
	cf->refs = 1;			/* the "current" reference */
	if (old != NULL && --old->refs == 0)
		conf_free(old);
	pthread_mutex_unlock(&conf_lock);
}

struct mc_config *
conf_acquire(void)
{
	struct mc_config *cf;

	pthread_mutex_lock(&conf_lock);
	cf = conf_current;
	if (cf != NULL)
		cf->refs++;
	pthread_mutex_unlock(&conf_lock);
	return cf;
}

void
conf_release(struct mc_config *cf)
{
	int dead;

	if (cf == NULL)
		return;
	pthread_mutex_lock(&conf_lock);
	dead = --cf->refs == 0;
	pthread_mutex_unlock(&conf_lock);
	if (dead)
		conf_free(cf);
}

void
conf_shutdown(void)
{
	struct mc_config *old;

	pthread_mutex_lock(&conf_lock);
	old = conf_current;
	conf_current = NULL;
	pthread_mutex_unlock(&conf_lock);
	conf_release(old);
}
