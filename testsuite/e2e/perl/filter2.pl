# Second test filter of testsuite/e2e/perl.sh: a SIGUSR1 reload switches
# perl_filter to this one; every message it sees gets X-Filter: two.
use strict;
use warnings;

sub filter_message {
	my ($msg) = @_;
	$msg->add_header('X-Filter', 'two');
	return;
}

1;
