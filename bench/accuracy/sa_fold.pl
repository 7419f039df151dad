#!/usr/bin/perl
# SpamAssassin side of the accuracy benchmark: one process per job, so
# the rules are compiled once, not once per message.
#
#   sa_fold.pl learn CONFDIR SPAMLIST HAMLIST   train the fold's Bayes DB
#   sa_fold.pl check CONFDIR FILELIST           print "file score bayes tests"
#
# "bayes" is the part of the score that came from SpamAssassin's BAYES_*
# rules, so the benchmark can also show SpamAssassin's rules combined with
# rampart's Bayes instead of its own.
#
# CONFDIR holds the site config (the .pre plugin files, local.cf) and
# user_prefs (bayes_path and the no-network settings); the rules are the
# installed ones in /usr/share/spamassassin. Local tests only (-L).
use strict;
use warnings;
use Mail::SpamAssassin;

my ($mode, $dir, @lists) = @ARGV;
die "usage: sa_fold.pl learn|check CONFDIR LIST...\n" unless $mode && $dir && @lists;

my $sa = Mail::SpamAssassin->new({
	site_rules_filename => $dir,
	userprefs_filename  => "$dir/user_prefs",
	userstate_dir       => $dir,
	local_tests_only    => 1,
	dont_copy_prefs     => 1,
});
$sa->init(1);

sub files_of {
	my ($list) = @_;
	open(my $fh, '<', $list) or die "$list: $!\n";
	chomp(my @f = <$fh>);
	close $fh;
	return grep { length } @f;
}

sub slurp {
	my ($f) = @_;
	open(my $fh, '<:raw', $f) or die "$f: $!\n";
	local $/;
	my $t = <$fh>;
	close $fh;
	return $t;
}

if ($mode eq 'learn') {
	my ($spam, $ham) = @lists;
	$sa->init_learner({ caller_will_untie => 1, no_relearn => 0 });
	for my $pair ([1, $spam], [0, $ham]) {
		my ($isspam, $list) = @$pair;
		for my $f (files_of($list)) {
			my $mail = $sa->parse(slurp($f));
			$sa->learn($mail, undef, $isspam, 0);
			$mail->finish();
		}
	}
	$sa->rebuild_learner_caches();
	$sa->finish_learner();
} elsif ($mode eq 'check') {
	$| = 1;
	for my $f (files_of($lists[0])) {
		my $mail = $sa->parse(slurp($f));
		my $st = $sa->check($mail);
		my $tests = $st->get_names_of_tests_hit() || '-';
		my $scores = $st->{conf}->{scores};
		my $bayes = 0;
		for my $t (split /,/, $tests) {
			$bayes += $scores->{$t} || 0 if $t =~ /^BAYES_/;
		}
		printf "%s %.3f %.3f %s\n", $f, $st->get_score(), $bayes, $tests;
		$st->finish();
		$mail->finish();
	}
} else {
	die "unknown mode $mode\n";
}
$sa->finish();
