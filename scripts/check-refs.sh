#!/bin/sh
# SPDX-License-Identifier: MIT
# check-refs.sh: every label, file and symbol that the docs and the code
# comments cite must exist (make check runs it).
#
#   check-refs.sh              check the source tree, then the negative
#                              controls (make check; exit 0 when both pass)
#   check-refs.sh --tree DIR   check the tree at DIR only
#
# What it reads: the Markdown pages (docs/, README.md, CONTRIBUTING.md,
# HACKING.md and every *.md of the code directories; NEWS.md is history and
# names what no longer exists), man pages (*.1 to *.8), and the comments of
# the sources in lib/, include/, tests/, torture/, bench/, server/, testlib/,
# examples/ and scripts/ (C, C++, Promela and Go: /* */ and //; shell,
# Python, awk and the build fragments: #; Python docstrings).
#
# What it checks, each offender printed as FILE:LINE: message:
#  - labels. Each family has its own prefix and one home page, where each
#    label is defined once (docs/design.md, "Labels", lists the families):
#      I1.. invariants, O1.. ordering pairs, G1.1.. guarantees of the map
#                                           docs/design.md
#      T1.1.. guarantees of a traversal     docs/iteration.md
#      V1.. invariants of the torture suite docs/testing.md
#      W1.. server workloads                docs/benchmarks-server.md
#    A label cited anywhere must be defined in its home, and a citation
#    "PAGE.md, LABEL" must name that home. The retired forms (design.md's
#    and iteration.md's A.1..F.3, "guarantee C", "(D)", the torture suite's
#    "invariant 3", and in man pages ".B A" and "A\(enD") are offenders
#    too, except on a line that names rculfhash, whose own guarantees are
#    lettered that way.
#  - file paths: a path that starts with a directory of this tree, or any
#    path or bare file name with a source or doc extension, must exist in the
#    tree (or in the same directory as the citing file, or, for ../x in a
#    command run from a build directory, at the top), or be made from a
#    file that does (X from X.in or X.ac), or be a build product: a path
#    that a build fragment (*/local.mk, Makefile.am) writes outside its
#    comments, such as tests/test_map_memb or torture/check-*.sh. {a,b},
#    * and the placeholders NAME, <name> are expanded; links in Markdown
#    are resolved from the page. The lists below name the few exceptions, each
#    with its reason.
#  - symbols: an inline code span in a Markdown page that is one C-like
#    identifier (with an underscore, or camelCase; optionally "struct X" or
#    a call "f(...)") must occur outside comments in the sources (lib/,
#    include/, server/, tests/, torture/, bench/, testlib/, examples/, the
#    build files), or end one that does after an underscore (the tables name
#    RCUMAP_BROKEN_FREE_NO_GP as FREE_NO_GP). Names from other projects are
#    listed below.
# It needs perl and nothing else (no git: it runs on an unpacked tarball).

set -u

me=check-refs.sh
srcdir=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}

if ! command -v perl >/dev/null 2>&1; then
	echo "$me: FAIL: perl not found; install it (apt-get install perl-base)" >&2
	exit 1
fi

# check_tree DIR: print every offender of the tree at DIR; status 1 if any.
check_tree() {
	perl -w - "$1" <<'PERL'
use strict;
use File::Find;

my $root = shift @ARGV;
chdir $root or die "check-refs.sh: cannot enter $root: $!\n";

# ---- exceptions, each with its reason ---------------------------------------
# Files of other projects, cited as sources (docs/iteration.md, "Sources").
my %external_path = map { $_ => 1 } (
	'src/rculfhash.c',		# liburcu
	'include/urcu/rculfhash.h',	# liburcu
	'lib/rhashtable.c',		# Linux
	'src/dict.c',			# Redis
	'runtime/panic.go',		# Go
);
# Installed headers of liburcu, included as <urcu/...>.
my @external_prefix = ('urcu/');
# Directories that make bench and make check-cross create in the build tree.
my @output_dirs = ('bench-results', 'cross');
# Files that tools write when they run: bench/report.sh's report.md (in
# bench-results/), spin's verifier pan.c and pan (torture/model/run.sh), and
# the user's programs app.c and example.c of the compile commands (README.md,
# man/rcumap.3).
my %generated = map { $_ => 1 } qw(report.md pan.c pan app.c example.c);
# Placeholders that stand for any part of a path component: NAME in
# tests/server/test_NAME.py; <name> is one too.
my %placeholder = map { $_ => 1 } qw(NAME TARGET ARCH FILE DIR PORT TIER FLAVOR);
# Symbols of other projects and systems that the pages name in code spans.
my %external_symbol = map { $_ => 1 } (
	qw(_int_malloc _int_free malloc_consolidate),	# glibc's malloc internals
	qw(LD_PRELOAD),					# the dynamic linker
	qw(__tsan_atomic64_store),			# ThreadSanitizer's runtime
	qw(call_rcu_data cds_lfht_for_each cds_lfht_add_replace),	# liburcu
	qw(rhashtable_walk_enter rhashtable_walk_start rhashtable_walk_start_check
	   rhashtable_walk_next rhashtable_walk_stop),	# Linux
	qw(dictScan),					# Redis
);

my @code_dirs = qw(lib include tests torture bench server testlib examples scripts);
my %skip_dir = map { $_ => 1 } qw(.git autom4te.cache .deps .libs __pycache__);

# ---- inventory ----------------------------------------------------------------
my (%exists, %basename);
find({ no_chdir => 1, wanted => sub {
	my $p = $File::Find::name;
	$p =~ s{^\./}{};
	return if $p eq '.';
	my $b = $p; $b =~ s{.*/}{};
	if (-d $_ && $skip_dir{$b}) { $File::Find::prune = 1; return; }
	$exists{$p} = 1;
	$basename{$b} = 1 unless -d $_;
	# every directory above an existing path exists too
	while ($p =~ s{/[^/]*$}{}) { $exists{$p} = 1; }
} }, '.');

sub slurp { my ($f) = @_; open(my $fh, '<', $f) or return ''; local $/; my $t = <$fh>; close $fh; return $t // ''; }

my @doc_files = grep { m{^(docs/.*|[^/]*|(?:lib|include|tests|torture|bench|server|testlib|examples|scripts|man)/.*)\.md$} && $_ ne 'NEWS.md' } sort keys %exists;
push @doc_files, grep { m{^(man|lib|include|tests|torture|bench|server|testlib|examples)/.*\.[1-8]$} } sort keys %exists;
my @code_files = grep {
	my $f = $_;
	(grep { index($f, "$_/") == 0 } @code_dirs) && $f =~ /\.(c|cc|h|pml|go|py|sh|mk|awk)$/
} sort keys %exists;
push @code_files, grep { $exists{$_} } qw(Makefile.am configure.ac);
# This script names the label forms it checks; it cites nothing.
@code_files = grep { $_ ne 'scripts/check-refs.sh' } @code_files;

# ---- build products: paths the build fragments write outside comments --------
my %product;
for my $mk (grep { m{(^|/)local\.mk$} || $_ eq 'Makefile.am' } sort keys %exists) {
	for my $line (split /\n/, slurp($mk)) {
		$line =~ s/(^|\s)#.*//;
		# Paths under $(srcdir) are sources a rule reads, not products (the
		# dist-hook's docs/*.md would otherwise excuse any page cited).
		$line =~ s{\$\((?:abs_)?(?:top_)?srcdir\)/\S*}{}g;
		while ($line =~ m{([\w.{}%*\@-]+(?:/[\w.{}%*\@-]+)+/?)}g) {
			my $p = $1;
			next if $p =~ /\$/;
			$p =~ s/%/*/g;
			$p =~ s{/$}{};
			$product{$_} = 1 for expand_braces($p);
		}
	}
}

sub expand_braces {
	my ($s) = @_;
	return ($s) unless $s =~ /^(.*?)\{([^{}]*)\}(.*)$/s;
	my ($pre, $alts, $post) = ($1, $2, $3);
	return map { expand_braces($pre . $_ . $post) } split(/,/, $alts, -1);
}

sub glob_re {
	my ($g) = @_;
	my $r = join '', map { $_ eq '*' ? '[^/]*' : quotemeta($_) } split /(\*)/, $g;
	return qr/^$r$/;
}

# Does the repo-relative path $p exist (file, directory, product)?
sub path_ok {
	my ($p) = @_;
	$p =~ s{/+$}{};
	$p =~ s{^\./}{};
	return 1 if $p eq '' || $p eq '.';
	return 1 if $external_path{$p};
	for my $d (@external_prefix) { return 1 if index($p, $d) == 0; }
	return 1 if $generated{$p};
	for my $d (@output_dirs) { return 1 if $p eq $d || index($p, "$d/") == 0; }
	$p =~ s/<\w+>/*/g;
	$p =~ s/(?<![A-Za-z])([A-Z]+)(?![A-Za-z])/$placeholder{$1} ? '*' : $1/ge;
	if ($p =~ /\*/) {
		my $re = glob_re($p);
		return 1 if grep { $_ =~ $re } keys %exists;
		return 1 if grep { $_ =~ $re } keys %product;
		# a product written with a pattern (torture/check-%.sh) matches itself
		return 1 if $product{$p};
		return 0;
	}
	return 1 if $exists{$p} || $product{$p};
	return 1 if $exists{"$p.in"};	# configure writes it (config.h, rcumap.pc)
	return 1 if $exists{"$p.ac"};	# autoreconf writes configure
	return 1 if grep { $p =~ glob_re($_) } grep { /\*/ } keys %product;
	# a directory that holds products
	return 1 if grep { index($_, "$p/") == 0 } keys %product;
	return 0;
}

# ---- label families ------------------------------------------------------------
my @families = (
	[ 'I', qr/I\d+/,		'docs/design.md',		'invariants' ],
	[ 'O', qr/O\d+/,		'docs/design.md',		'ordering pairs' ],
	[ 'G', qr/G\d+(?:\.\d+)?/,	'docs/design.md',		'guarantees of the map' ],
	[ 'T', qr/T\d+(?:\.\d+)?/,	'docs/iteration.md',		'guarantees of a traversal' ],
	[ 'V', qr/V\d+/,		'docs/testing.md',		'torture invariants' ],
	[ 'W', qr/W\d+/,		'docs/benchmarks-server.md',	'server workloads' ],
);
my %home = map { $_->[0] => $_->[2] } @families;
my %what = map { $_->[0] => $_->[3] } @families;
my $label_re = qr/(?:I\d+|O\d+|G\d+(?:\.\d+)?|T\d+(?:\.\d+)?|V\d+|W\d+)/;

my @offenders;
sub offend { my ($f, $n, $msg) = @_; push @offenders, "$f:$n: $msg"; }

# Definitions, in the home page only: a list item that starts with the label
# in bold ("- **I1.**", "- **O1 Name.**", "- **G1.1**"), a heading that starts
# with it ("### G1. Lookups"); for the W family, a row of the workloads table
# ("| W1 | ...").
my %defined;	# label -> "file:line"
my $def_re = qr/^\s*(?:[-*]|\d+\.)\s+\*\*((?!W)$label_re)[.\s*]|^#{2,6}\s+((?!W)$label_re)[.\s]|^\|\s*(W\d+)\s*\|/;
for my $f (@doc_files) {
	next unless $f =~ /\.md$/;
	my $n = 0;
	my $fence = 0;
	for my $line (split /\n/, slurp($f)) {
		$n++;
		if ($line =~ /^\s*```/) { $fence = !$fence; next; }
		next if $fence;
		next unless $line =~ $def_re;
		my $l = $1 // $2 // $3;
		my ($p) = $l =~ /^([A-Z])/;
		next if $f ne $home{$p};	# elsewhere it is a citation
		if ($defined{$l}) {
			offend($f, $n, "$l is defined twice (first at $defined{$l})");
			next;
		}
		$defined{$l} = "$f:$n";
	}
}
# A group "G2" exists when its heading does; "G2.1" needs its own item.

# ---- text to check: whole pages, code comments -----------------------------------
# Returns a list of [line number, text] for the comments of a source file.
sub comments {
	my ($f, $text) = @_;
	my @out;
	if ($f =~ /\.(c|cc|h|pml|go)$/) {
		my $line = 1;
		pos($text) = 0;
		while (pos($text) < length($text)) {
			if ($text =~ m{\G/\*(.*?)(?:\*/|\z)}gcs) {
				my $c = $1;
				my $l = $line;
				push @out, [ $l++, $_ ] for split /\n/, $c, -1;
				$line += ($c =~ tr/\n//);
			} elsif ($text =~ m{\G//([^\n]*)}gc) {
				push @out, [ $line, $1 ];
			} elsif ($text =~ m{\G("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')}gcs) {
				$line += ($1 =~ tr/\n//);
			} elsif ($text =~ m{\G\n}gc) {
				$line++;
			} else {
				$text =~ m{\G[^/"'\n]+|\G.}gcs;
			}
		}
		return @out;
	}
	my $n = 0;
	my $doc = 0;
	for my $l (split /\n/, $text) {
		$n++;
		if ($f =~ /\.py$/) {
			# docstrings count as comments
			my $q = () = $l =~ /"""/g;
			if ($doc || $q) {
				push @out, [ $n, $l ];
				$doc = !$doc if $q % 2;
				next;
			}
		}
		# the first # that is not quoted, not $#, not ${#
		my ($sq, $dq) = (0, 0);
		for (my $i = 0; $i < length($l); $i++) {
			my $ch = substr($l, $i, 1);
			if ($ch eq '\\') { $i++; next; }
			if ($ch eq "'" && !$dq) { $sq = !$sq; next; }
			if ($ch eq '"' && !$sq) { $dq = !$dq; next; }
			next if $sq || $dq;
			if ($ch eq '#' && ($i == 0 || substr($l, $i - 1, 1) =~ /\s|;/)) {
				push @out, [ $n, substr($l, $i + 1) ];
				last;
			}
		}
	}
	return @out;
}

# The code outside comments: the universe of identifiers.
sub code_only {
	my ($f, $text) = @_;
	if ($f =~ /\.(c|cc|h|pml|go)$/) {
		$text =~ s{/\*.*?\*/}{ }gs;
		$text =~ s{//[^\n]*}{}g;
		return $text;
	}
	$text =~ s/(^|\s)#[^\n]*//g;
	return $text;
}

my %ident;
for my $f (@code_files, grep { $exists{$_} } qw(configure.ac)) {
	next unless $f =~ m{^(lib|include|server|tests|torture|bench|testlib|examples)/|^(Makefile\.am|configure\.ac)$|\.mk$};
	my $t = code_only($f, slurp($f));
	$ident{$_} = 1 for $t =~ /\b([A-Za-z_]\w*)\b/g;
}
my %ident_suffix;
for my $id (keys %ident) {
	while ($id =~ s/^[A-Za-z0-9]*_//) { $ident_suffix{$id} = 1 if $id =~ /_/; }
}

# ---- the checks of one line -------------------------------------------------------
my $ext_re = qr/(?:c|cc|h|md|sh|py|pml|mk|am|ac|in|go|awk|png|supp|pc|txt|csv)/;
my $top_re = qr/(?:lib|include|tests|torture|bench|server|testlib|docs|scripts|examples|man|build-aux|m4|bench-results|cross)/;

sub check_labels {
	my ($f, $n, $l) = @_;
	my $ext = $l =~ /rculfhash/i;	# rculfhash's own lettered guarantees
	my $s = $l;
	$s =~ s{https?://\S+}{}g;
	# ranges X1-X9 cite both ends
	$s =~ s/(?<![\w.\/\$-])([A-Z])(\d+(?:\.\d+)?)-\1(\d+(?:\.\d+)?)(?![\w])/$1$2 $1$3/g;
	while ($s =~ /(?<![\w.\/\$-])($label_re)(?![\w]|\.\d)/g) {
		my $lab = $1;
		my ($p) = $lab =~ /^([A-Z])/;
		next if $defined{$lab};
		offend($f, $n, "$lab is cited but not defined in $home{$p} ($what{$p})");
	}
	while ($s =~ /\b((?:design|iteration|testing|benchmarks-server|benchmarks|server|embedding)\.md),?\s+(?:section \d+,\s*)?($label_re)(?![\w]|\.\d)/g) {
		my ($page, $lab) = ($1, $2);
		my ($p) = $lab =~ /^([A-Z])/;
		offend($f, $n, "$lab lives in $home{$p}, not $page") unless $home{$p} eq "docs/$page";
	}
	return if $ext;
	while ($s =~ /(?<![\w.-])([A-F]\.\d+)(?![\w]|\.\d)/g) {
		offend($f, $n, "retired label $1: cite G<n>.<m> (docs/design.md) or T<n>.<m> (docs/iteration.md)");
	}
	while ($s =~ /\b(guarantees?\s+[A-F](?:(?:\s*(?:,|-|and|or)\s*)[A-F])*)(?![\w.])/gi) {
		offend($f, $n, "retired label \"$1\": cite G<n> or T<n>");
	}
	while ($s =~ /(\.(?:md|h),?\s+(?:section \d+,\s*)?(?:"[^"]*",\s*)?[A-F](?:(?:\s*(?:,|-|and)\s*)[A-F])*)(?![\w.])/g) {
		offend($f, $n, "retired label \"$1\": cite G<n> or T<n>");
	}
	while ($s =~ /(\(\s*[A-F](?:\s*(?:,|-|and)\s*[A-F])*\s*\))/g) {
		offend($f, $n, "retired label \"$1\": cite G<n> or T<n>");
	}
	# man pages: a lettered list item, a range written with \(en
	if ($f =~ /\.[1-8]$/) {
		offend($f, $n, "retired label \"$1\": cite G<n> or T<n>") if $s =~ /^(\.B\s+[A-F])\s*$/;
		while ($s =~ /(?<![\w])([A-F]\\\(en[A-F])(?![\w])/g) {
			offend($f, $n, "retired label \"$1\": cite G<n> or T<n>");
		}
	}
	while ($s =~ /\b(invariants?\s+\d+)/gi) {
		offend($f, $n, "retired label \"$1\": the torture invariants are V1.. (docs/testing.md)");
	}
}

sub check_paths {
	my ($f, $n, $l, $is_md) = @_;
	(my $dir = $f) =~ s{/?[^/]*$}{};
	my $s = $l;
	$s =~ s{<?https?://[^\s)>]+>?}{}g;
	my %seen;
	# Markdown links and images: relative to the page.
	if ($is_md) {
		while ($s =~ /\]\(([^)\s]+)\)/g) {
			my $t = $1;
			next if $t =~ /^(?:#|mailto:)/;
			$t =~ s/#.*//;
			my $p = normalise($dir eq '' ? $t : "$dir/$t");
			$seen{$t} = 1;
			offend($f, $n, "link to $t: no such file ($p)") unless path_ok($p);
		}
		$s =~ s/\]\([^)\s]+\)/]/g;
	}
	# Paths: at least one slash; a known top directory or a known extension.
	my $comp = qr/(?:[\w.{},*-]|<\w+>)+/;
	while ($s =~ m{(?<![\w./\$~<-])((?:\.\.?/)*(?<!<)$comp(?:/$comp)+/?)}g) {
		my $p = $1;
		$p =~ s/[.,>]+$// unless $p =~ /<\w+>$/;
		next if $seen{$p}++;
		my $first = $p; $first =~ s{^(?:\.\.?/)*}{}; $first =~ s{/.*}{};
		next unless $first =~ /^$top_re$/ || $p =~ /\.$ext_re$/ || $p =~ m{^\.\.?/};
		next if $p =~ m{^\d} || $p =~ /^[A-Z][\w-]*\/[A-Z]/;	# 1/1.5, I/O
		my $q = $p;
		$q =~ s/:\d+$//;
		my @alts = expand_braces($q);
		for my $a (@alts) {
			# ../x in a command: run from a build directory below the top
			(my $top = $a) =~ s{^(?:\.\./)+}{};
			next if path_ok($top) || ($dir ne '' && path_ok(normalise("$dir/$a")));
			offend($f, $n, "$p: no such file in the tree");
			last;
		}
	}
	# Bare file names: must exist somewhere in the tree.
	while ($s =~ m{(?<![\w./\$<*-])([A-Za-z_][\w-]*\.(?:c|h|md|sh|py|pml|mk|go))(?![\w/-])}g) {
		my $b = $1;
		next if $seen{$b}++;
		next if $basename{$b} || $basename{"$b.in"} || $generated{$b} || grep { m{(^|/)\Q$b\E$} } keys %product;
		(my $g = $b) =~ s/(?<![A-Za-z])([A-Z]+)(?![A-Za-z])/$placeholder{$1} ? '*' : $1/ge;
		if ($g ne $b) {
			my $re = glob_re($g);
			next if grep { $_ =~ $re } keys %basename, map { m{([^/]*)$} } keys %product;
		}
		offend($f, $n, "$b: no such file in the tree");
	}
}

sub normalise {
	my ($p) = @_;
	my @out;
	for my $c (split m{/}, $p) {
		next if $c eq '.' || $c eq '';
		if ($c eq '..' && @out && $out[-1] ne '..') { pop @out; next; }
		push @out, $c;
	}
	return join '/', @out;
}

sub check_symbols {
	my ($f, $n, $l) = @_;
	while ($l =~ /`([^`]+)`/g) {
		my $span = $1;
		next unless $span =~ /^(?:(?:struct|enum|union)\s+)?([A-Za-z_]\w*)(?:\(.*\))?$/;
		my $id = $1;
		next unless $id =~ /_/ || $id =~ /[a-z][A-Z]/;
		next if $ident{$id} || $ident_suffix{$id} || $external_symbol{$id};
		offend($f, $n, "`$span`: no identifier $id in the sources");
	}
}

for my $f (@doc_files) {
	my $is_md = $f =~ /\.md$/;
	my $fence = 0;
	my $n = 0;
	for my $l (split /\n/, slurp($f)) {
		$n++;
		if ($is_md && $l =~ /^\s*```/) { $fence = !$fence; next; }
		check_labels($f, $n, $l);
		check_paths($f, $n, $l, $is_md);
		check_symbols($f, $n, $l) if $is_md && !$fence;
	}
}
for my $f (@code_files) {
	for my $c (comments($f, slurp($f))) {
		check_labels($f, $c->[0], $c->[1]);
		check_paths($f, $c->[0], $c->[1], 0);
	}
}

my %once;
@offenders = grep { !$once{$_}++ } @offenders;
print "$_\n" for @offenders;
printf "check-refs.sh: %d offender%s in %s\n", scalar(@offenders), @offenders == 1 ? '' : 's', $root if @offenders;
exit(@offenders ? 1 : 0);
PERL
}

if test "${1:-}" = --tree; then
	test $# -eq 2 || { echo "usage: $me [--tree DIR]" >&2; exit 2; }
	check_tree "$2"
	exit $?
fi
test $# -eq 0 || { echo "usage: $me [--tree DIR]" >&2; exit 2; }

rc=0
echo "$me: checking $srcdir"
if check_tree "$srcdir"; then
	echo "$me: PASS: every cited label, file and symbol exists"
else
	echo "$me: FAIL: the offenders above cite what does not exist" >&2
	rc=1
fi

# Negative controls: a copy of the tree with one broken reference each must
# fail, and name that reference at its line.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rcumap-refs.XXXXXX")
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM

# control NAME FILE LINE EXPECT: append LINE to FILE in a fresh copy; the
# check must fail with "FILE:N: EXPECT", N being the appended line.
control() {
	name=$1 file=$2 text=$3 expect=$4
	copy=$tmp/$name
	mkdir "$copy"
	for e in docs lib include tests torture bench server testlib examples man scripts \
		README.md CONTRIBUTING.md HACKING.md Makefile.am configure.ac config.h.in rcumap.pc.in; do
		test -e "$srcdir/$e" && cp -R "$srcdir/$e" "$copy/"
	done
	chmod -R u+w "$copy"
	printf '%s\n' "$text" >>"$copy/$file"
	n=$(wc -l <"$copy/$file")
	n=$(echo $n)
	check_tree "$copy" >"$tmp/$name.out" 2>&1
	st=$?
	if test "$st" -ne 1; then
		echo "$me: FAIL: negative control $name: exit status $st, expected 1" >&2
		sed 's/^/    /' "$tmp/$name.out" >&2
		rc=1
	elif ! grep -F -q -e "$file:$n: $expect" "$tmp/$name.out"; then
		echo "$me: FAIL: negative control $name: no report \"$file:$n: $expect\"" >&2
		sed 's/^/    /' "$tmp/$name.out" >&2
		rc=1
	else
		echo "$me: PASS: negative control $name fails: $(grep -F -e "$file:$n: $expect" "$tmp/$name.out")"
	fi
	rm -rf "$copy"
}

control label include/rcumap.h '/* negative control: see docs/design.md, G2.9 */' \
	'G2.9 is cited but not defined in docs/design.md'
control retired-label torture/talloc.c '/* negative control: the rule of design.md, B.2 */' \
	'retired label B.2'
control file docs/design.md 'Negative control: the toolchain facts are in docs/toolchain.md.' \
	'docs/toolchain.md: no such file in the tree'
control symbol docs/design.md 'Negative control: `locate_read` loads the slot.' \
	'`locate_read`: no identifier locate_read in the sources'
exit $rc
