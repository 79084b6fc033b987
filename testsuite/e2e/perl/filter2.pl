# Second test filter of testsuite/e2e/perl.sh: a SIGUSR1 reload switches
# perl_filter to this one; every message it sees gets X-Filter: two, and
# one whose Subject starts with "sleep" hangs (the clean-stop test).
use strict;
use warnings;

sub filter_message {
	my ($msg) = @_;
	$msg->add_header('X-Filter', 'two');
	my $subject = $msg->header('Subject');
	sleep 3600 if defined $subject && $subject =~ /^\s*sleep\b/;
	return;
}

1;
