# MIMEDefangAPI.pm -- MailCorral's MIMEDefang filter API: the subset of
# MIMEDefang's (mimedefang-filter(5)) that site filters use, so that a
# MIMEDefang filter runs under MailCorral's Perl shim unchanged.
#
# Loaded by perlshim.pl when perl_filter_api = mimedefang.  The filter is
# compiled into package main, beside the API's functions and globals
# (defined below in main, as MIMEDefang has them).  Per message the shim
# calls run($msg): the whole message is fetched into the message's
# directory as ./INPUTMSG, parsed by MIME-tools (libmime-tools-perl) into
# ./Work, and the filter's callbacks are called as MIMEDefang calls them:
# filter_begin($entity), filter or filter_multipart for every part below
# the top, filter_end($entity).  Its actions become MailCorral's Perl
# verbs on $msg (mailcorral-perl(7)): a dropped or replaced entity drops
# or replaces the MailCorral parts it holds; bounce, discard and tempfail
# are the whole-message verdicts.
#
# What the API does not provide fails at load time: load() refuses a
# filter that calls a function nobody defined (an action_foo MailCorral
# does not have), naming it; AUTOLOAD does the same for a name made at
# run time.  doc/migrating-from-mimedefang.md has the table.
#
# Written from MIMEDefang's documentation and behaviour; no MIMEDefang code.
use strict;
use warnings;

package MailCorral::MIMEDefangAPI;

use B ();
use MIME::Entity ();
use MIME::Head ();
use MIME::Parser ();
use MIME::Words ();
use POSIX ();
use Scalar::Util ();

# The per-message state: the MailCorral::Message, the MailCorral part ids
# of each MIME-tools leaf, what the current part's callback decided.
our %M;

# The filter's callbacks, of which it must define at least one.
my @CALLBACKS = qw(filter_begin filter filter_multipart filter_end);

# Globs Perl itself may hold without a body: not calls to check.
my %PERL_GLOBS = map { $_ => 1 } qw(AUTOLOAD DESTROY BEGIN END INIT CHECK
    UNITCHECK import unimport);

sub fail_load {
	my ($file, $why) = @_;
	die "perlshim: $file: $why\n";
}

# Names referred to as functions in package main with no body: a call to
# something the API does not provide.  Found from the symbol table after
# compiling: a glob that has nothing but an empty code slot came from a
# call (or &name) to an undefined function.
sub undefined_calls {
	my @bad;
	no strict 'refs';
	for my $n (sort keys %main::) {
		next if $n =~ /::\z/ || $n !~ /\A[A-Za-z_][A-Za-z0-9_]*\z/;
		next if $PERL_GLOBS{$n};
		my $g = \*{"main::$n"};
		next if defined *{$g}{CODE};
		my $o = B::svref_2object($g);
		next unless $o->isa('B::GV');
		next if ref($o->SV) ne 'B::SPECIAL' || ${ $o->AV } ||
		    ${ $o->HV } || ${ $o->IO } || ${ $o->FORM };
		push @bad, $n;
	}
	return @bad;
}

# Compiles the site's MIMEDefang filter into main and checks it.
sub load {
	my ($file) = @_;
	# stubs the shim and this module made themselves (defined &name)
	my %before = map { $_ => 1 } undefined_calls();
	{
		package main;
		my $rc = do $file;
		die "perlshim: cannot load $file: $@" if $@;
		die "perlshim: cannot read $file: $!\n" if !defined $rc && $!;
	}
	my @bad = grep { !$before{$_} } undefined_calls();
	fail_load($file, 'calls ' . join(', ', map { "$_()" } @bad) .
	    ', not in MailCorral\'s MIMEDefang API (mailcorral-perl(7), ' .
	    'doc/migrating-from-mimedefang.md)') if @bad;
	no strict 'refs';
	fail_load($file, 'defines none of ' . join(', ', @CALLBACKS))
	    unless grep { defined &{"main::$_"} } @CALLBACKS;
}

sub untaint_dir {
	my ($dir) = @_;
	my ($d) = defined $dir ? $dir =~ m{\A(/[^\0\n]+)\z} : ();
	die "bad message directory\n"
	    if !defined $d || $d =~ m{(?:\A|/)\.\.(?:/|\z)};
	return $d;
}

# Header values as MIMEDefang gives them: unfolded, without the line end.
sub header_value {
	my ($msg, $name) = @_;
	my $v = $msg->header($name);
	return '' unless defined $v;
	$v =~ s/\r?\n[ \t]*/ /g;
	return $v;
}

# MIMEDefang's per-message globals, from the request.
sub set_globals {
	my ($msg) = @_;
	no warnings 'once';
	my $client = defined $msg->client ? $msg->client : '';
	$main::Sender = '<' . $msg->sender . '>';
	@main::Recipients = map { "<$_>" } $msg->recipients;
	$main::Subject = header_value($msg, 'Subject');
	$main::MessageID = header_value($msg, 'Message-ID');
	$main::MessageID = 'NOQUEUE' if $main::MessageID eq '';
	$main::QueueID = defined $msg->qid && $msg->qid ne '' ? $msg->qid :
	    'NOQUEUE';
	$main::MsgID = $main::QueueID;
	# the MTA's {_}: "name [address]", "[address]" without a name
	my $relay = defined $msg->{relay} ? $msg->{relay} : $client;
	my ($name, $addr) = $relay =~
	    /\A(\S*?)\s*\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]/;
	$main::RelayAddr = defined $addr ? $addr : $client;
	$main::RelayHostname = defined $name && $name ne '' ? $name :
	    $main::RelayAddr;
	$main::Helo = '';
	%main::SendmailMacros = (i => $main::QueueID);
	$main::SubjectCount = scalar(my @s = $msg->header('Subject'));
	# a CR that ends no line, a NUL, in a field's name or value
	$main::SuspiciousCharsInHeaders = (grep {
	    "$_->[0]\n$_->[1]" =~ /\r(?!\n)|\0/ } $msg->headers) ? 1 : 0;
	$main::SuspiciousCharsInBody = 0;
	my @v = @{ $msg->{viruses} || [] };
	$main::VirusName = @v ? $v[0] : '';
	$main::FoundVirus = @v ? 1 : 0;
	$main::VirusScannerMessages = @v ? join(', ', @v) : '';
	@main::Warnings = ();
	%main::Actions = ();
	$main::Changed = 0;
	$main::Rebuild = 0;
}

# Every leaf entity of the tree, depth first, as MIME-tools made them.
sub leaves {
	my ($e) = @_;
	my @p = $e->parts;
	return @p ? map { leaves($_) } @p : ($e);
}

# MIME-tools' leaves and MailCorral's parts are the same list when both
# parsers agree: then each entity gets the ids of the parts it holds, in
# order.  When the counts differ, a leaf is matched to the one MailCorral
# part of its type and file name (a leaf with no name, or two candidates,
# stays unmatched).  An action on an unmatched leaf fails the message
# (part_ids dies) rather than drop the wrong part or none.
sub map_parts {
	my ($msg, $top) = @_;
	my @leaf = leaves($top);
	my @part = $msg->parts;
	$M{ids} = {};
	if (@leaf == @part) {
		$M{ids}{ Scalar::Util::refaddr($leaf[$_]) } = [ $part[$_]->id ]
		    for 0 .. $#leaf;
		return;
	}
	my %by;
	for my $p (@part) {
		next if !defined $p->filename || $p->filename eq '';
		push @{ $by{ lc($p->type) . "\0" . $p->filename } }, $p->id;
	}
	for my $e (@leaf) {
		my $name = main::takeStabAtFilename($e);
		next if $name eq '';
		my $c = $by{ lc($e->mime_type) . "\0" . $name };
		$M{ids}{ Scalar::Util::refaddr($e) } = [ $c->[0] ]
		    if $c && @$c == 1;
	}
}

sub part_ids {
	my ($e) = @_;
	my @ids;
	for my $l (leaves($e)) {
		my $i = $M{ids}{ Scalar::Util::refaddr($l) };
		die "MIMEDefang API: MailCorral's parser has no part matching " .
		    "MIME-tools' " . lc($l->mime_type) . " part: cannot act " .
		    "on it\n" unless $i;
		push @ids, @$i;
	}
	return @ids;
}

sub parse {
	my ($dir) = @_;
	my $work = "$dir/Work";
	mkdir($work, 0700) or die "cannot make $work: $!\n";
	my $parser = MIME::Parser->new;
	$parser->extract_nested_messages(1);
	$parser->extract_uuencode(1);
	$parser->output_to_core(0);
	$parser->tmp_to_core(0);
	my $filer = MIME::Parser::FileInto->new($work);
	$filer->ignore_filename(1);
	$parser->filer($filer);
	open(my $fh, '<', "$dir/INPUTMSG") or die "cannot read INPUTMSG: $!\n";
	my $e = $parser->parse($fh);
	close($fh);
	die "MIME-tools cannot parse the message\n" unless $e;
	return $e;
}

# The message made multipart as MIMEDefang gives it to the filter: a
# single part goes one level down, its Content-* fields with it, under a
# multipart/mixed top holding the other fields.  Done here by splitting
# the header once: MIME-tools' make_multipart deletes field by field,
# which takes seconds for a header of thousands of fields (corpus 127).
sub multipart {
	my ($e) = @_;
	return $e if $e->is_multipart;
	my ($top, $part) = (MIME::Entity->new, MIME::Entity->new);
	my ($th, $ph) = (MIME::Head->new, MIME::Head->new);
	for my $l (@{ $e->head->header }) {
		($l =~ /\Acontent-/i ? $ph : $th)->add(undef, $l);
	}
	$th->replace('Content-Type', 'multipart/mixed');
	$top->head($th);
	$part->head($ph);
	$part->bodyhandle($e->bodyhandle) if $e->bodyhandle;
	$part->parts([ $e->parts ]) if $e->parts;
	$top->parts([$part]);
	return $top;
}

# What a part's callback decided: drop or replace (the entities' parts).
sub apply_part_action {
	my ($e) = @_;
	my $a = $M{action};
	return 0 if $a eq 'accept';
	my @ids = part_ids($e);
	my $why = defined $M{why} ? $M{why} : 'dropped by the site filter';
	# one line of printable text, as the DROP verb takes it
	$why =~ s/[\x00-\x20\x7f]+/ /g;
	$why =~ s/\A | \z//g;
	$why = substr($why, 0, 200);
	if ($a eq 'replace' && @ids) {
		my $first = shift @ids;
		$M{msg}->replace_part($first, 'text/plain', 'warning.txt',
		    $M{why});
	}
	$M{msg}->drop_part($_, $why) for @ids;
	$main::Changed = 1;
	return 1;
}

# MIMEDefang's walk: the parts below the top entity, depth first; a
# container first to filter_multipart, a leaf to filter.
sub walk {
	my ($e) = @_;
	no strict 'refs';
	my $type = lc($e->mime_type);
	my $fname = main::takeStabAtFilename($e);
	my $ext = $fname =~ /(\.[^.]*)\z/ ? $1 : '';
	$M{action} = 'accept';
	$M{why} = undef;
	local $M{entity} = $e;
	if ($e->parts) {
		main::filter_multipart($e, $fname, $ext, $type)
		    if defined &main::filter_multipart;
		return if apply_part_action($e);
		walk($_) for $e->parts;
	} else {
		main::filter($e, $fname, $ext, $type) if defined &main::filter;
		apply_part_action($e);
	}
}

sub cleanup {
	my ($dir) = @_;
	chdir('/');
	return unless defined $dir && -d "$dir/Work";
	opendir(my $dh, "$dir/Work") or return;
	for my $f (readdir($dh)) {
		next if $f eq '.' || $f eq '..';
		my ($u) = $f =~ /\A([^\/\0]+)\z/ or next;
		unlink("$dir/Work/$u");
	}
	closedir($dh);
	rmdir("$dir/Work");
}

# One message: the shim's request in $msg, the answer through its verbs.
sub run {
	my ($msg) = @_;
	my $dir = untaint_dir($msg->{dir});
	%M = (msg => $msg, verdict => undef, action => 'accept');
	set_globals($msg);
	main::fetch_message();		# $dir/INPUTMSG, the directory made
	my $ok = eval {
		chdir($dir) or die "cannot enter $dir: $!\n";
		$main::CWD = $dir;
		my $top = multipart(parse($dir));
		map_parts($msg, $top);
		no strict 'refs';
		main::filter_begin($top) if defined &main::filter_begin;
		$M{infilter} = 1;
		walk($_) for $top->parts;
		$M{infilter} = 0;
		main::filter_end($top) if defined &main::filter_end;
		1;
	};
	my $err = $@;
	cleanup($dir);
	die $err unless $ok;
	my $v = $M{verdict};
	return unless $v;
	if ($v->[0] eq 'bounce') { $msg->reject($v->[1]) }
	elsif ($v->[0] eq 'tempfail') { $msg->tempfail($v->[1]) }
	else { $msg->discard }
}

# The first of bounce, discard, tempfail is the message's verdict.
sub verdict {
	my ($what, $text) = @_;
	$main::Actions{$what}++;
	$M{verdict} ||= [ $what, $text ];
	return 1;
}

sub in_part {
	my ($fn) = @_;
	return 1 if $M{infilter} && $M{entity};
	main::md_syslog('warning', "$fn called outside filter/filter_multipart");
	return 0;
}

package main;

use vars qw($Sender @Recipients $Subject $RelayAddr $RelayHostname $Helo
    $QueueID $MessageID $MsgID %SendmailMacros %Features %Stupidity
    $SuspiciousCharsInHeaders $SuspiciousCharsInBody $AdminAddress
    $AdminName $DaemonAddress $DaemonName $AddWarningsInline $VirusName
    $FoundVirus $VirusScannerMessages @Warnings %Actions $CWD $SubjectCount
    $Changed $Rebuild $GeneralWarning $SALocalTestsOnly $SASpamTester);

$AdminAddress = 'postmaster@localhost';
$AdminName = 'MIMEDefang Administrator';
$DaemonAddress = 'mimedefang@localhost';
$DaemonName = 'MIMEDefang';
$AddWarningsInline = 0;
$GeneralWarning = '';
%Stupidity = ();
%Features = ();

# ---- logging ----
my $md_graph_enabled = 0;

sub md_syslog {
	my ($level, $text) = @_;
	$level = 'info' unless defined $level;
	$text = '' unless defined $text;
	$text =~ s/[\r\n]+/ /g;
	print STDERR "mimedefang-api: $level: " .
	    (defined $MsgID ? "$MsgID: " : '') . "$text\n";
	return 1;
}

sub md_graphdefang_log_enable {
	my ($facility, $each_recipient) = @_;
	$md_graph_enabled = 1;
	return 1;
}

sub md_graphdefang_log {
	my ($event, $v1, $v2) = @_;
	return 1 unless $md_graph_enabled;
	my @f = map { defined $_ ? $_ : '' } ($event, $v1, $v2, $Sender,
	    $Recipients[0], $Subject);
	s/,/ /g for @f;
	return md_syslog('info', join(',', 'MDLOG', $MsgID, @f));
}

# ---- features ----
sub detect_and_load_perl_modules {
	my %mods = ('Archive::Zip' => 'Archive::Zip',
	    'HTML::Parser' => 'HTML::Parser', 'Digest::SHA' => 'Digest::SHA',
	    'Net::DNS' => 'Net::DNS', 'Mail::SpamAssassin' => 'SpamAssassin');
	for my $m (sort keys %mods) {
		next if exists $Features{ $mods{$m} };
		(my $f = "$m.pm") =~ s{::}{/}g;
		$Features{ $mods{$m} } = eval { require $f; 1 } ? 1 : 0;
	}
	return 1;
}

# ---- helpers ----
sub takeStabAtFilename {
	my ($e) = @_;
	my $g = $e->head->recommended_filename;
	return defined $g ? scalar(MIME::Words::decode_mimewords($g)) : '';
}

sub md_names_of {
	my ($e) = @_;
	my $h = $e->head;
	return grep { defined } map {
	    my $v = $h->mime_attr($_);
	    defined $v ? scalar(MIME::Words::decode_mimewords($v)) : undef
	} ('Content-Disposition.filename', 'Content-Type.name');
}

sub re_match {
	my ($e, $re) = @_;
	return (grep { /$re/i } md_names_of($e)) ? 1 : 0;
}

sub re_match_ext {
	my ($e, $re) = @_;
	return (grep { /(\.[^.]*)\z/ && $1 =~ /$re/i } md_names_of($e)) ? 1 :
	    0;
}

sub re_match_in_zip_directory {
	my ($zipname, $re) = @_;
	unless ($Features{'Archive::Zip'}) {
		md_syslog('err', 're_match_in_zip_directory: no Archive::Zip');
		return 0;
	}
	my $zip = Archive::Zip->new;
	Archive::Zip::setErrorHandler(sub { });
	return 0 unless $zip->read($zipname) == Archive::Zip::AZ_OK();
	return (grep { $_->fileName =~ /$re/i } $zip->members) ? 1 : 0;
}

sub md_copy_orig_msg_to_work_dir_as_mbox_file {
	open(my $in, '<', 'INPUTMSG') or return 0;
	open(my $out, '>', 'Work/INPUTMSG') or return 0;
	my $s = $Sender;
	$s =~ s/\A<|>\z//g;
	$s = 'MAILER-DAEMON' if $s eq '';
	print $out "From $s " . POSIX::strftime('%a %b %e %H:%M:%S %Y',
	    localtime) . "\n";
	while (my $l = <$in>) {
		$l =~ s/\A(>*From )/>$1/;
		print $out $l;
	}
	close($in);
	return close($out) ? 1 : 0;
}

sub message_rejected {
	return ($Actions{tempfail} || $Actions{bounce} || $Actions{discard})
	    ? 1 : 0;
}

# MailCorral's virus arbitron (clamd) has already read the message; its
# findings come with the request.
sub message_contains_virus {
	return (1, 'virus', 'quarantine') if $FoundVirus;
	return (0, 'ok', 'ok');
}

# MailCorral's built-in spam checker, which has read the message: its
# score, spam_threshold, the features that scored (a report of them).
# When it does not count (spam_arbitron, spam_combine), 0 hits.  Either
# way MailCorral's own spam step still decides after the filter.
sub spam_assassin_check {
	my $s = $MailCorral::MIMEDefangAPI::M{msg}{spamscore};
	return (0, 5, '', '') unless $s && @$s >= 2;
	my ($hits, $req, $why) = @$s;
	$why = '' unless defined $why;	# NAME=weight,NAME=weight
	(my $names = $why) =~ s/=[^,]*//g;
	return ($hits + 0, $req + 0, $names,
	    "MailCorral built-in checker: $hits points of $req ($why)\n");
}

# ---- actions ----
sub action_accept {
	return 0 unless MailCorral::MIMEDefangAPI::in_part('action_accept');
	$MailCorral::MIMEDefangAPI::M{action} = 'accept';
	return 1;
}

sub action_accept_with_warning {
	my ($w) = @_;
	return 0 unless action_accept();
	push @Warnings, $w if defined $w;
	md_syslog('info', "warning (not inserted): $w") if defined $w;
	return 1;
}

sub action_drop {
	return 0 unless MailCorral::MIMEDefangAPI::in_part('action_drop');
	$MailCorral::MIMEDefangAPI::M{action} = 'drop';
	$MailCorral::MIMEDefangAPI::M{why} = undef;
	return 1;
}

sub action_drop_with_warning {
	my ($w) = @_;
	return 0 unless action_drop();
	push @Warnings, $w if defined $w;
	$MailCorral::MIMEDefangAPI::M{why} = $w;
	return 1;
}

sub action_replace_with_warning {
	my ($w) = @_;
	return 0 unless
	    MailCorral::MIMEDefangAPI::in_part('action_replace_with_warning');
	$MailCorral::MIMEDefangAPI::M{action} = 'replace';
	$MailCorral::MIMEDefangAPI::M{why} = defined $w ? $w : '';
	return 1;
}

# MailCorral rewrites the message whenever a change needs it.
sub action_rebuild { $Rebuild = 1; return 1 }

sub action_bounce {
	my ($reply) = @_;
	$reply = 'Forbidden for policy reasons'
	    unless defined $reply && $reply ne '';
	return MailCorral::MIMEDefangAPI::verdict('bounce', $reply);
}

sub action_discard { return MailCorral::MIMEDefangAPI::verdict('discard') }

sub action_tempfail {
	my ($reply) = @_;
	$reply = 'Try again later' unless defined $reply && $reply ne '';
	return MailCorral::MIMEDefangAPI::verdict('tempfail', $reply);
}

sub action_add_header {
	my ($h, $v) = @_;
	$MailCorral::MIMEDefangAPI::M{msg}->add_header($h, $v);
	return 1;
}

sub action_change_header {
	my ($h, $v, $idx) = @_;
	$idx = 1 unless defined $idx && $idx =~ /\A[1-9][0-9]*\z/;
	my $m = $MailCorral::MIMEDefangAPI::M{msg};
	# MIMEDefang adds the field when there is none to change
	if (scalar(my @have = $m->header($h)) >= $idx) {
		$m->change_header($h, $idx, $v);
	} else {
		$m->add_header($h, $v);
	}
	return 1;
}

# MailCorral deletes every field of that name (mailcorral-perl(7)).
sub action_delete_header {
	my ($h) = @_;
	$MailCorral::MIMEDefangAPI::M{msg}->delete_header($h);
	return 1;
}

# No verb of MailCorral's adds a part: refused when called (the message
# tempfails with the reason) rather than dropped without a word.
sub action_add_part {
	die "action_add_part: MailCorral cannot add a part to a message\n";
}

# Into the corral: the message is the filter's spam (mailcorral-perl(7),
# spam), kept as spam_disposition says (corral).
sub action_quarantine_entire_message {
	my ($why) = @_;
	$why = 'quarantined by the site filter' unless defined $why;
	$MailCorral::MIMEDefangAPI::M{msg}->spam(10000, $why);
	return 1;
}

sub action_notify_administrator {
	my ($text) = @_;
	md_syslog('notice', 'for the administrator: ' .
	    (defined $text ? $text : ''));
	return 1;
}

# A name nobody defined, called at run time (&{"action_foo"}): loud.
sub AUTOLOAD {
	our $AUTOLOAD;
	my $n = $AUTOLOAD;
	$n =~ s/.*:://;
	return if $n eq 'DESTROY';
	die "$n(): not in MailCorral's MIMEDefang API " .
	    "(doc/migrating-from-mimedefang.md)\n";
}

1;
