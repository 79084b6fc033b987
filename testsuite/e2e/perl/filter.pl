# Test filter of testsuite/e2e/perl.sh: what it does depends on the first
# word of the Subject, so one worker pool serves every test.  Some words
# make it misbehave on purpose (FS-11, FS-12, SC-P1, SC-P2).
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);
use POSIX ();

sub what_it_saw {
	my ($msg) = @_;
	return join(' ', map { sprintf('%d:%s:%s:%s:%d:%s', $_->id,
	    unpack('H*', $_->type), unpack('H*', $_->filename),
	    unpack('H*', $_->disposition), $_->size, md5_hex($_->content)) }
	    $msg->parts);
}

sub filter_message {
	my ($msg) = @_;
	my $subject = $msg->header('Subject');
	$subject = '' unless defined $subject;
	my ($word) = $subject =~ /^\s*(\S+)/;
	$word = '' unless defined $word;

	if ($word eq 'drop') {
		for my $p ($msg->parts) {
			$msg->drop_part($p, 'site policy: no .bin files')
			    if $p->filename =~ /\.bin\z/;
		}
	} elsif ($word eq 'rename') {
		for my $p ($msg->parts) {
			$msg->rename_part($p, 'renamed.dat')
			    if $p->filename eq 'report.txt';
		}
	} elsif ($word eq 'replace') {
		for my $p ($msg->parts) {
			$msg->replace_part($p, 'text/plain', 'new.txt',
			    "replacement of " . $p->content)
			    if $p->filename eq 'old.txt';
		}
	} elsif ($word eq 'hdradd') {
		$msg->add_header('X-Site-Filter', 'added by the site');
	} elsif ($word eq 'hdrchange') {
		$msg->change_header('X-Change-Me', 1, 'changed by the site');
	} elsif ($word eq 'hdrdelete') {
		$msg->delete_header('X-Delete-Me');
	} elsif ($word eq 'reject') {
		$msg->reject('site policy says no');
	} elsif ($word eq 'discard') {
		$msg->discard;
	} elsif ($word eq 'tempfail') {
		$msg->tempfail('come back later');
	} elsif ($word eq 'accept') {
		$msg->accept;
	} elsif ($word eq 'echo') {
		$msg->add_header('X-Seen', what_it_saw($msg));
		$msg->add_header('X-Seen-Envelope', unpack('H*',
		    join("\t", $msg->sender, $msg->recipients)));
	} elsif ($word eq 'whoami') {
		$msg->add_header('X-Worker', sprintf('pid=%d taint=%d uid=%d',
		    $$, ${^TAINT}, $<));
	} elsif ($word eq 'die') {
		die "deliberate failure\n";
	} elsif ($word eq 'kill9') {
		kill 9, $$;
		sleep 10;
	} elsif ($word eq 'abort') {
		POSIX::abort();
	} elsif ($word eq 'nof') {
		# a reply cut short: verdict written, no F line, then gone
		no warnings 'once';
		my $out = $MailCorral::Shim::OUT;
		print $out "ACCEPT\n";
		$out->flush;
		POSIX::_exit(0);
	} elsif ($word eq 'halfline') {
		no warnings 'once';
		my $out = $MailCorral::Shim::OUT;
		print $out "HEADER-ADD X-Half ";
		$out->flush;
		POSIX::_exit(0);
	} elsif ($word eq 'afterf') {
		# a complete reply, then more after its F line: the next
		# message on this worker must not read it as its answer
		no warnings 'once';
		my $out = $MailCorral::Shim::OUT;
		$msg->add_header('X-After-F', 'first');
		print $out "HEADER-ADD X-After-F first\nF\nHEADER-ADD X-Stale yes\n";
		$out->flush;
	} elsif ($word eq 'afterflate') {
		# the same, the extra line written after the milter has the
		# answer: it is still waiting when the next message comes
		no warnings 'once';
		my $out = $MailCorral::Shim::OUT;
		print $out "HEADER-ADD X-After-F late\nF\n";
		$out->flush;
		select(undef, undef, undef, 0.3);
		print $out "HEADER-ADD X-Stale yes\nF\n";
		$out->flush;
	} elsif ($word eq 'sleep') {
		sleep 3600;
	} elsif ($word eq 'spin') {
		1 while 1;
	} elsif ($word eq 'alloc') {
		my $n = 4;
		$n *= 1024 * 1024 * 1024;	# at run time, not folded
		my $big = 'x' x $n;
		$msg->add_header('X-Alloc', length($big));
	} elsif ($word eq 'badname') {
		$msg->add_header('X-Bad Name', 'value');
	} elsif ($word eq 'crlf') {
		$msg->add_header('X-Injected', "a\r\nBcc: evil\@x.test");
	} elsif ($word eq 'badpart') {
		$msg->drop_part(999, 'no such part');
	} elsif ($word eq 'escape') {
		$msg->_act('REPLACE', ($msg->parts)[0]->id, 'text/plain',
		    'x.txt', '/etc/passwd');
	} elsif ($word eq 'unknownverb') {
		push @{ $msg->{actions} }, 'EXECUTE rm%20-rf%20/';
	} elsif ($word eq 'lazy') {
		# reads one part of three: only its file may be written
		for my $p ($msg->parts) {
			$msg->add_header('X-Want', md5_hex($p->content))
			    if $p->filename eq 'want.txt';
		}
		opendir(my $dh, $msg->{dir}) or die "opendir: $!\n";
		$msg->add_header('X-Files', join(',', sort grep { !/\A\./ }
		    readdir $dh));
	} elsif ($word eq 'print') {
		print "a filter that prints must not break the protocol\n";
		$msg->add_header('X-Printed', 'yes');
	}
	return;
}

1;
