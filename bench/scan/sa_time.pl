#!/usr/bin/perl
# SpamAssassin side of bench/scan: checks every message of FILELIST in one
# long-lived process (rules compiled once, process start-up not counted)
# and prints one line per message:
#
#   cpu_us score file
#
# cpu_us is the CPU time of parse + check + finish of that message
# (CLOCK_PROCESS_CPUTIME_ID; Perl runs one thread), reading the file is
# not counted, the same boundary as `rampart scan --timing`.
# On stderr: "setup cpu_us N" for constructing SpamAssassin and compiling
# its rules (init), which is not part of any message.
#
#   sa_time.pl CONFDIR FILELIST
#
# CONFDIR is laid out as for bench/accuracy/sa_fold.pl (site .pre files,
# local.cf with bayes_path and the no-network settings, user_prefs); the
# Bayes DB is trained there with `sa_fold.pl learn`. Local tests only.
use strict;
use warnings;
use Mail::SpamAssassin;
use Time::HiRes qw(clock_gettime CLOCK_PROCESS_CPUTIME_ID);

my ($dir, $list) = @ARGV;
die "usage: sa_time.pl CONFDIR FILELIST\n" unless $dir && $list;

sub cpu_us { return int(clock_gettime(CLOCK_PROCESS_CPUTIME_ID) * 1e6); }

my $t0 = cpu_us();
my $sa = Mail::SpamAssassin->new({
	site_rules_filename => $dir,
	userprefs_filename  => "$dir/user_prefs",
	userstate_dir       => $dir,
	local_tests_only    => 1,
	dont_copy_prefs     => 1,
});
$sa->init(1);
printf STDERR "setup cpu_us %d\n", cpu_us() - $t0;

open(my $lf, '<', $list) or die "$list: $!\n";
chomp(my @files = <$lf>);
close $lf;

$| = 1;
for my $f (grep { length } @files) {
	open(my $fh, '<:raw', $f) or die "$f: $!\n";
	my $text = do { local $/; <$fh> };
	close $fh;
	my $t = cpu_us();
	my $mail = $sa->parse($text);
	my $st = $sa->check($mail);
	my $score = $st->get_score();
	$st->finish();
	$mail->finish();
	printf "%d %.3f %s\n", cpu_us() - $t, $score, $f;
}
$sa->finish();
