# MailCorral -- see README.  GNU make.
#
#   make            build ./mailcorral and its commands
#   make check      install what is missing, build, run every test
#   make demo       install, build, run the validation suite through sendmail
#   make asan       the same tests with ASan + UBSan
#   make unit       unit tests only
#   make bench      speed figures, beside the peers it installs (doc/performance.md)
#   make soak       200,000 messages, RSS slope and descriptors
#   make fuzz       libFuzzer targets, 60 s each
#   make tsan       TSan build under load: reloads, 200 sessions, SIGTERM
#   make oracle     100,000 mutated messages read back by five MIME parsers
#   make scale      two MX hosts on one corral, 2 spamd, 2 clamd, a 3-node
#                   Galera index, failures injected (1-4 min; issue 21)
#   make pools      two spamd, two clamd, two MariaDB: the scanner pools
#                   and the index's fail-over (testsuite/pools/, ~80 s)
#   make install    the files of scripts/install.list under PREFIX (/usr/local),
#                   SYSCONFDIR (/etc), DESTDIR; make uninstall removes them
#   make deb        the Debian package (debian/) in dist/, lintian clean

CC	?= cc
# Installation layout (FHS).  The daemon and the notifier compile in the
# configuration file's and the Perl shim's paths from these, so a shim
# installed under any PREFIX is where the default perl_shim looks.
PREFIX	?= /usr/local
SYSCONFDIR ?= /etc
SBINDIR	?= $(PREFIX)/sbin
BINDIR	?= $(PREFIX)/bin
LIBDIR	?= $(PREFIX)/lib
MANDIR	?= $(PREFIX)/share/man
DOCDIR	?= $(PREFIX)/share/doc/mailcorral
INSTALL_ENV = DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" \
	   SYSCONFDIR="$(SYSCONFDIR)" SBINDIR="$(SBINDIR)" BINDIR="$(BINDIR)" \
	   LIBDIR="$(LIBDIR)" MANDIR="$(MANDIR)" DOCDIR="$(DOCDIR)"
PKGS	 = libarchive libcrypto libmariadb
OPT	?= -O2 -g
WARN	 = -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wvla \
	   -Wno-unused-parameter -Werror=deprecated-declarations
DEFS	 = -D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED \
	   -DDEF_CONFIG_FILE='"$(SYSCONFDIR)/mailcorral/mailcorral.conf"' \
	   -DDEF_PERL_SHIM='"$(LIBDIR)/mailcorral/perlshim.pl"'
CFLAGS	?=
CFLAGS	+= $(OPT) $(WARN) $(DEFS) -pthread -std=gnu11 \
	   $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
HARDEN	 = -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
LDHARD	 = -pie -Wl,-z,relro,-z,now
LIBS	 = -lmilter $(shell pkg-config --libs $(PKGS) 2>/dev/null) -pthread

# Modules shared by the daemon and the tests (everything but main).
LIBSRC	 = buf.c log.c conf.c confsnap.c spool.c mime.c virusfilter.c html.c rewrite.c \
	   net.c safefile.c spamd.c spamstats.c \
	   scan.c spamfilter.c corral.c bypass.c clamd.c perlpool.c archive.c \
	   util.c verdict.c gate.c daemon.c prefs.c archq.c pool.c
LIBOBJ	 = $(LIBSRC:.c=.o)
HDRS	 = $(wildcard *.h)

UNIT	 = $(patsubst testsuite/unit/%.c,testsuite/unit/%,$(wildcard testsuite/unit/test_*.c))

.PHONY: all check demo asan unit deps clean bench soak fuzz tsan oracle scale \
	install uninstall deb pools FORCE

SC_PROGS = spamcorral/spamcorral-notify spamcorral/spamcorral-robot
SC_LIBSRC = spamcorral/spamcorral.c spamcorral/reply.c spamcorral/state.c \
	    spamcorral/digest.c
SC_SRC	 = $(SC_LIBSRC) spamcorral/spamcorral.h

all: mailcorral mailcorral-judge mailcorral-archive $(SC_PROGS)

# The compiled-in paths: objects are rebuilt when PREFIX or SYSCONFDIR change.
paths.stamp: FORCE
	@printf '%s %s\n' '$(SYSCONFDIR)' '$(LIBDIR)' | cmp -s - $@ || \
	    printf '%s %s\n' '$(SYSCONFDIR)' '$(LIBDIR)' > $@

%.o: %.c $(HDRS) paths.stamp
	$(CC) $(CPPFLAGS) $(CFLAGS) $(HARDEN) -c -o $@ $<

libmc.a: $(LIBOBJ)
	rm -f $@ && ar rcs $@ $(LIBOBJ)

mailcorral: mailcorral.o libmc.a
	$(CC) $(CFLAGS) $(LDFLAGS) $(LDHARD) -o $@ mailcorral.o libmc.a $(LIBS)

# The rules and the parser as a command (doc/mailcorral-judge.1).
mailcorral-judge: judge.o libmc.a
	$(CC) $(CFLAGS) $(LDFLAGS) $(LDHARD) -o $@ judge.o libmc.a $(LIBS)

# The archive's search command (doc/mailcorral-archive.8).
mailcorral-archive: archcli.o libmc.a
	$(CC) $(CFLAGS) $(LDFLAGS) $(LDHARD) -o $@ archcli.o libmc.a $(LIBS)

spamcorral/spamcorral-%: spamcorral/spamcorral-%.c $(SC_SRC) libmc.a $(HDRS)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $(HARDEN) $(LDHARD) -I. -o $@ $< \
	    $(SC_LIBSRC) libmc.a $(LIBS)

testsuite/unit/test_%: testsuite/unit/test_%.c libmc.a testsuite/unit/unit.h
	$(CC) $(CFLAGS) -I. -o $@ $< libmc.a $(LIBS) -lcmocka

testsuite/unit/test_spamcorral: testsuite/unit/test_spamcorral.c $(SC_SRC) libmc.a testsuite/unit/unit.h
	$(CC) $(CFLAGS) -I. -o $@ $< $(SC_LIBSRC) libmc.a $(LIBS) -lcmocka

deps:
	sh scripts/install-deps.sh
	sh testsuite/oracle/setup.sh

unit: $(UNIT)
	sh testsuite/run-unit.sh $(UNIT)

check: deps
	$(MAKE) all $(UNIT)
	sh testsuite/check-docs.sh
	python3 testsuite/check-includes.py
	sh testsuite/run-all.sh

demo: deps
	$(MAKE) all
	sh testsuite/demo.sh

asan: deps
	$(MAKE) clean
	$(MAKE) CC=clang-14 OPT="-O1 -g -fsanitize=address,undefined \
	    -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	    HARDEN= LDHARD= all $(UNIT)
	MC_ASAN=1 sh testsuite/run-all.sh
	$(MAKE) clean

bench: all
	sh scripts/install-bench-deps.sh
	sh testsuite/bench/bench.sh

soak: all
	sh testsuite/soak/soak.sh

fuzz:
	FUZZ_SECONDS=60 sh testsuite/fuzz/fuzz.sh run

tsan:
	sh testsuite/tsan/tsan.sh

oracle: deps
	$(MAKE) all
	sh testsuite/oracle/oracle.sh

# Several MX hosts (issue 21, doc/admin-guide.md): testsuite/scale/scale.sh.
scale: deps
	$(MAKE) all
	sh scripts/install-deps.sh galera-4 rsync
	sh testsuite/scale/scale.sh

pools: deps
	$(MAKE) all
	sh testsuite/pools/pools.sh

install: all
	$(INSTALL_ENV) sh scripts/install.sh install

uninstall:
	$(INSTALL_ENV) sh scripts/install.sh uninstall

# The package, built from a copy of this tree into dist/ and checked by
# lintian (scripts/build-deb.sh); its build runs make install (PREFIX=/usr)
# and no tests (debian/rules).
deb:
	sh scripts/install-deps.sh
	sh scripts/build-deb.sh dist

clean:
	rm -f *.o libmc.a mailcorral mailcorral-judge mailcorral-archive $(SC_PROGS) $(UNIT) paths.stamp
