#!/usr/bin/perl
# The MIME-tools oracle (libmime-tools-perl: MIMEDefang, amavis) of the
# differential MIME test (doc/oracle.md).  Reads one message path per line
# on standard input; writes one JSON line per message:
#   {"ok":1,"atts":[{"names":[...],"type":"...","data":"<base64>"},...]}
# every leaf entity MIME::Parser finds (uuencoded files in text too, as
# MIMEDefang's extract_uuencode does), with every name it reads.
use strict;
use warnings;
use MIME::Parser;
use MIME::Base64 qw(encode_base64);
use JSON::PP;

$| = 1;
# MIME-tools warns about unknown encodings on stderr: not our output
$SIG{__WARN__} = sub { };
my $json = JSON::PP->new->utf8(1)->canonical(1);

sub names_of {
	my ($head) = @_;
	my @n;
	for my $v ($head->recommended_filename,
	    scalar $head->mime_attr('content-disposition.filename'),
	    scalar $head->mime_attr('content-type.name')) {
		push @n, $v if defined $v && length $v;
	}
	return \@n;
}

sub leaves {
	my ($ent, $out) = @_;
	my @parts = $ent->parts;
	if (@parts) {
		leaves($_, $out) for @parts;
		return;
	}
	my $body = $ent->bodyhandle;
	my $data = defined $body ? $body->as_string : '';
	$data = '' unless defined $data;
	my $names = names_of($ent->head);
	# MIME::WordDecoder gives Perl strings: send UTF-8 bytes as text
	my @n = map { my $s = $_; utf8::encode($s) if utf8::is_utf8($s);
	    $s } @$names;
	push @$out, { names => [ map { Encode::decode('UTF-8', $_, 0) } @n ],
	    type => scalar $ent->mime_type,
	    data => encode_base64($data, '') };
}

use Encode ();
while (my $path = <STDIN>) {
	chomp $path;
	my $res;
	eval {
		my $parser = MIME::Parser->new;
		$parser->output_to_core(1);
		$parser->tmp_to_core(1);
		$parser->extract_uuencode(1);
		$parser->extract_nested_messages(1);
		$parser->decode_headers(0);
		$parser->ignore_errors(1);
		open(my $fh, '<:raw', $path) or die "open $path: $!";
		my $ent = $parser->parse($fh);
		close $fh;
		my @atts;
		leaves($ent, \@atts);
		$res = { ok => 1, atts => \@atts };
		1;
	} or do {
		my $e = $@ || 'unknown error';
		$e =~ s/\s+$//;
		$res = { ok => 0, err => "$e" };
	};
	print $json->encode($res), "\n";
}
