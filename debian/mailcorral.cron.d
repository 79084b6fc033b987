# SpamCorral digests twice a day on systems without systemd; with systemd,
# spamcorral-notify.timer sends them (systemctl list-timers).
0 7,19 * * *	mailcorral	[ ! -d /run/systemd/system ] && [ -x /usr/sbin/spamcorral-notify ] && /usr/sbin/spamcorral-notify -c /etc/mailcorral/mailcorral.conf
