# scanners.sh -- sourced by tsan.sh and sigterm.sh: the configuration
# lines both start their daemons from, against scanners.py's fake spamd
# (PORT) and clamd (PORT + 1).
#
# scanners_conf DIR PORT CLAMD_TIMEOUT: prints them; the spool, corral and
# bypass key are under DIR (the caller makes DIR/spool and DIR/corral).
scanners_conf() {
	cat <<CONF
allow_root = yes
spool_dir = $1/spool
corral_dir = $1/corral
bypass_key_file = $1/key
virus_arbitron = clamd
clamd_servers = 127.0.0.1:$(($2 + 1))
clamd_connect_timeout = 1s
clamd_timeout = $3s
clamd_backoff = 1s
CONF
}
