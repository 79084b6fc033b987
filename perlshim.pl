#!/usr/bin/perl -T
# perlshim.pl -- MailCorral's Perl shim: the Perl side of the custom-code
# hook.  A persistent worker started by the milter (perlpool.c) as
#
#     /usr/bin/perl -T perlshim.pl /path/to/site-filter.pl
#
# It loads the site's filter once, then answers one request per message on
# stdin/stdout: it builds a MailCorral::Message object from the request
# (envelope, header fields, one MailCorral::Part per leaf MIME part whose
# decoded content the milter writes to a file when the filter first asks),
# calls the site's filter_message($msg) inside eval, and writes the
# filter's decisions back, ending with an "F" line.
# The protocol and the API are described in mailcorral-perl(7).
#
# The filter's own output (print, warn) goes to stderr, never into the
# protocol.  A filter that dies makes the shim answer ERROR: the milter
# tempfails the message (P-SHIM-FAIL) and the worker keeps serving.
# Taint mode is on: everything from the message is tainted.
use strict;
use warnings;
use IO::Handle;
use POSIX ();

our $VERSION = '1';

# ---- encoding (perlpool.h): bytes <= 0x20, >= 0x7f and '%' as %XX ----
sub enc {
	my ($s) = @_;
	$s = '' unless defined $s;
	utf8::encode($s) if utf8::is_utf8($s);
	$s =~ s/([\x00-\x20\x7f-\xff%])/sprintf('%%%02X', ord($1))/ge;
	return $s;
}

sub dec {
	my ($s) = @_;
	$s =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
	return $s;
}

package MailCorral::Part;

sub new {
	my ($class, %a) = @_;
	return bless {%a}, $class;
}
sub id          { $_[0]{id} }
sub type        { $_[0]{type} }
sub filename    { $_[0]{filename} }
sub disposition { $_[0]{disposition} }
sub size        { $_[0]{size} }

# The part's file, written by the milter when first asked for (FETCH): a
# part the filter never reads is never written.
sub path {
	my ($self) = @_;
	main::fetch_part($self) unless $self->{fetched};
	return $self->{path};
}

# The decoded content, read from its file on first use.
sub content {
	my ($self) = @_;
	unless (exists $self->{content}) {
		open(my $fh, '<:raw', $self->path)
		    or die "cannot read part $self->{id}: $!\n";
		local $/;
		$self->{content} = <$fh>;
		$self->{content} = '' unless defined $self->{content};
		close($fh);
	}
	return $self->{content};
}

package MailCorral::Message;

sub new {
	my ($class, $req) = @_;
	return bless { %$req, actions => [], verdict => undef, nrepl => 0 },
	    $class;
}
sub qid        { $_[0]{qid} }
sub sender     { $_[0]{sender} }
sub recipients { @{ $_[0]{rcpts} } }
sub client     { $_[0]{client} }
sub parts      { @{ $_[0]{parts} } }

# All header fields as [name, value] pairs, in order.
sub headers { map { [@$_] } @{ $_[0]{headers} } }

# Values of the fields called $name (any case); the first in scalar context.
sub header {
	my ($self, $name) = @_;
	my @v = map { $_->[1] } grep { lc($_->[0]) eq lc($name) }
	    @{ $self->{headers} };
	return wantarray ? @v : $v[0];
}

sub _id {
	my ($self, $p) = @_;
	return ref($p) ? $p->id : $p;
}

sub _act {
	my ($self, @f) = @_;
	push @{ $self->{actions} }, join(' ', shift(@f), map { main::enc($_) } @f);
}

sub drop_part {
	my ($self, $p, $why) = @_;
	$self->_act('DROP', $self->_id($p), defined $why ? $why : '');
}

sub rename_part {
	my ($self, $p, $name) = @_;
	$self->_act('RENAME', $self->_id($p), $name);
}

# New content for a part: written here to a file in the message's private
# directory, then read by the milter.
sub replace_part {
	my ($self, $p, $type, $name, $content) = @_;
	my ($dir) = $self->{dir} =~ m{\A(/[^\0\n]+)\z}
	    or die "bad message directory\n";
	die "bad message directory\n" if $dir =~ m{(?:\A|/)\.\.(?:/|\z)};
	# made on first use, by the milter (a part read) or here
	mkdir($dir, 0700) or $!{EEXIST} or die "cannot make $dir: $!\n";
	my $path = sprintf('%s/replace%d', $dir, ++$self->{nrepl});
	sysopen(my $fh, $path, POSIX::O_WRONLY() | POSIX::O_CREAT() |
	    POSIX::O_EXCL(), 0600) or die "cannot write $path: $!\n";
	binmode($fh);
	utf8::encode($content) if utf8::is_utf8($content);
	print $fh $content or die "cannot write $path: $!\n";
	close($fh) or die "cannot write $path: $!\n";
	$self->_act('REPLACE', $self->_id($p), $type, $name, $path);
}

sub add_header {
	my ($self, $name, $value) = @_;
	$self->_act('HEADER-ADD', $name, $value);
}

# $index: 1 for the first field of that name, as received.
sub change_header {
	my ($self, $name, $index, $value) = @_;
	$self->_act('HEADER-CHANGE', $name, $index, $value);
}

sub delete_header {
	my ($self, $name) = @_;
	$self->_act('HEADER-DELETE', $name);
}

# The filter's spam verdict: the message is spam, disposed of as
# spam_disposition says (tag, trash, corral) like one the built-in checker
# or spamd calls spam.  $score is on spam_threshold's scale (shown in
# X-Spam-Score), $reason goes to the log.  accept() after spam() takes it
# back, and spam() after accept() takes the accept back.
sub spam {
	my ($self, $score, $reason) = @_;
	$score = 0 unless defined $score;
	die "spam: score must be a decimal number\n"
	    unless $score =~ /\A-?[0-9]{1,5}(?:\.[0-9]{1,3})?\z/ &&
	    abs($score) <= 10000;
	$self->{spam} = ['SPAM', $score, defined $reason ? $reason : ''];
	$self->{verdict} = undef
	    if $self->{verdict} && $self->{verdict}[0] eq 'ACCEPT';
}

# Whole-message verdicts: the last one called counts.
sub accept   { $_[0]{spam} = undef; $_[0]{verdict} = ['ACCEPT'] }
sub discard  { $_[0]{verdict} = ['DISCARD'] }
sub reject   { $_[0]{verdict} = ['REJECT', defined $_[1] ? $_[1] : 'rejected'] }
sub tempfail { $_[0]{verdict} = ['TEMPFAIL', defined $_[1] ? $_[1] : 'try again later'] }

sub _reply {
	my ($self) = @_;
	my @l = @{ $self->{actions} };
	if (my $s = $self->{spam}) {
		push @l, join(' ', $s->[0], map { main::enc($_) } @$s[1 .. $#$s]);
	}
	if (my $v = $self->{verdict}) {
		push @l, join(' ', $v->[0], map { main::enc($_) } @$v[1 .. $#$v]);
	}
	return @l;
}

package main;

# FETCH <what> to the milter, and its answer: FETCHED <what> <size> (the
# file is there: the size is returned), or FETCH-FAILED <what> <reason>,
# which dies with "cannot read <name>" -- and fails the message in the
# milter even if the filter catches it.
sub fetch {
	my ($what, $name) = @_;
	no warnings 'once';
	my $out = $MailCorral::Shim::OUT;
	print $out "FETCH $what\n" or die "perlshim: write: $!\n";
	$out->flush or die "perlshim: write: $!\n";
	my $l = <STDIN>;
	die "perlshim: the milter went away\n" unless defined $l;
	chomp $l;
	my ($k, $id, $v) = split / /, $l, -1;
	die "perlshim: protocol: unexpected answer to FETCH\n"
	    unless defined $v && $id eq $what;
	return $v + 0 if $k eq 'FETCHED';
	die "cannot read $name: " . dec($v) . "\n" if $k eq 'FETCH-FAILED';
	die "perlshim: protocol: unexpected answer to FETCH\n";
}

# A part's file, written by the milter on demand.
sub fetch_part {
	my ($part) = @_;
	$part->{size} = fetch($part->{id}, "part $part->{id}");
	$part->{fetched} = 1;
}

# The whole message in DIR/INPUTMSG (the MIMEDefang API, perl_filter_api =
# mimedefang): its size.
sub fetch_message {
	return fetch('message', 'the message');
}

# The protocol handle is a private copy of stdout; STDOUT itself goes to
# stderr, so a filter's print cannot break the protocol.  Tests that need
# to break it on purpose write to $MailCorral::Shim::OUT.
open(my $OUT, '>&', \*STDOUT) or die "perlshim: dup stdout: $!\n";
open(STDOUT, '>&', \*STDERR) or die "perlshim: stdout to stderr: $!\n";
binmode($OUT);
binmode(STDIN);
{ no warnings 'once'; $MailCorral::Shim::OUT = $OUT; }

# --api=mimedefang (perl_filter_api): the filter is written for
# MIMEDefang's API, provided by MIMEDefangAPI.pm beside this file.
my $api = 'mailcorral';
if (@ARGV && $ARGV[0] =~ /\A--api=(mailcorral|mimedefang)\z/) {
	$api = $1;
	shift @ARGV;
}
my $file = shift @ARGV;
die "usage: perlshim.pl [--api=mimedefang] /path/to/filter.pl\n"
    unless defined $file;
($file) = $file =~ m{\A(/[^\0\n]+)\z}
    or die "perlshim: the filter path must be absolute\n";
if ($api eq 'mimedefang') {
	my ($dir) = $0 =~ m{\A(/[^\0\n]*)/[^/]+\z}
	    or die "perlshim: cannot tell the shim's directory from $0\n";
	require "$dir/MIMEDefangAPI.pm";
	MailCorral::MIMEDefangAPI::load($file);
} else {
	package main;
	my $rc = do $file;
	die "perlshim: cannot load $file: $@" if $@;
	die "perlshim: cannot read $file: $!\n" if !defined $rc && $!;
	die "perlshim: $file defines no filter_message\n"
	    unless defined &main::filter_message;
}

# One request, or undef at EOF (the milter retires us).
sub read_request {
	my %r = (rcpts => [], headers => [], parts => []);
	my $first = <STDIN>;
	return undef unless defined $first;
	chomp $first;
	die "perlshim: protocol mismatch: $first\n" unless $first eq 'MC-PERL 2';
	while (defined(my $l = <STDIN>)) {
		chomp $l;
		return \%r if $l eq 'END';
		my ($k, @f) = split / /, $l, -1;
		@f = map { dec($_) } @f;
		if    ($k eq 'QID')    { $r{qid} = $f[0] }
		elsif ($k eq 'SENDER') { $r{sender} = $f[0] }
		elsif ($k eq 'RCPT')   { push @{ $r{rcpts} }, $f[0] }
		elsif ($k eq 'CLIENT') { $r{client} = $f[0] }
		elsif ($k eq 'DIR')    { $r{dir} = $f[0] }
		elsif ($k eq 'VIRUS' && $api eq 'mimedefang') {
			push @{ $r{viruses} }, $f[0];
		} elsif ($k eq 'RELAY' && $api eq 'mimedefang') {
			$r{relay} = $f[0];
		} elsif ($k eq 'SPAM-SCORE' && $api eq 'mimedefang') {
			$r{spamscore} = [@f];
		}
		elsif ($k eq 'HEADER') { push @{ $r{headers} }, [ $f[0], $f[1] ] }
		elsif ($k eq 'PART') {
			push @{ $r{parts} }, MailCorral::Part->new(id => $f[0],
			    type => $f[1], filename => $f[2],
			    disposition => $f[3], size => $f[4], path => $f[5]);
		} else {
			die "perlshim: unknown request line $k\n";
		}
	}
	die "perlshim: request cut short\n";
}

while (defined(my $req = read_request())) {
	my $msg = MailCorral::Message->new($req);
	my @out;
	if (eval {
		$api eq 'mimedefang' ? MailCorral::MIMEDefangAPI::run($msg) :
		    main::filter_message($msg);
		1;
	}) {
		@out = $msg->_reply;
	} else {
		my $e = defined $@ && $@ ne '' ? $@ : 'died';
		$e =~ s/\s+\z//;
		print STDERR "perlshim: filter died: $e\n";
		@out = ('ERROR ' . enc($e));
	}
	print $OUT join('', map { "$_\n" } @out, 'F') or exit 1;
	$OUT->flush or exit 1;
}
exit 0;
