#!/bin/sh
# SPDX-License-Identifier: MIT
# plot.sh: draws the benchmark's PNGs from a results directory with gnuplot.
#
# Usage: bench/plot.sh RESULTS_DIR
#
# Reads, as bench/mapbench and bench/syncmap write them (columns are found by
# their header names, so the files' column order does not matter):
#   throughput.csv      with go_throughput.csv when present
#   latency.csv
# (at least one of throughput.csv and latency.csv must exist)
# and writes into RESULTS_DIR:
#   throughput-KEYS-MIX.png  mixed runs, uniform keys, presized tables: Mops/s
#                            against threads, one line per peer, error bars
#                            from the fastest to the slowest round
#   latency-resize.png       lookup latency p50, p99, p99.9 per peer, steady
#                            (light) and while the table resizes (dark), log y
#   fill-KEYS.png            fill runs: Mops/s per peer, presized and growing
#                            tables, one bar per thread count
# A plot whose rows are absent is skipped with a note.
#
# Exit status: 0 done (also when the files hold no rows to plot); 1 gnuplot
# missing, neither CSV file present, or gnuplot failed; 2 usage.

set -eu

prog=plot.sh

die() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 1
}

note() {
	printf '%s: %s\n' "$prog" "$*"
}

if test $# -ne 1 || test -z "$1"; then
	echo "usage: $0 RESULTS_DIR" >&2
	exit 2
fi
dir=$1
test -d "$dir" || die "no results directory '$dir'"
test -f "$dir/throughput.csv" || test -f "$dir/latency.csv" ||
	die "no throughput.csv or latency.csv in $dir: run bench/mapbench (make bench or make bench-quick) first"
command -v gnuplot >/dev/null 2>&1 ||
	die "gnuplot not found (Debian: apt-get install gnuplot-nox)"
# The paths go into gnuplot's single-quoted strings, which have no escapes.
case $dir in
*\'*) die "the directory name must not contain a single quote: '$dir'" ;;
esac

if gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1; then
	term="pngcairo noenhanced font 'sans,10'"
else
	term="png noenhanced"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rcumap-plot.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# ---- the throughput rows of both files, normalised -------------------------
# One line per row, tab-separated, "-" for an empty field:
#   experiment peer keys get_pct dist table threads median min max
norm() {
	awk -F, -v OFS='\t' '
	FNR == 1 {
		split("", col)
		for (i = 1; i <= NF; i++)
			col[$i] = i
		n = split("experiment peer keys get_pct dist table threads median_mops min_mops max_mops", want, " ")
		for (i = 1; i <= n; i++)
			if (!(want[i] in col)) {
				printf "%s: column %s missing\n", FILENAME, want[i] > "/dev/stderr"
				bad = 1
				exit 1
			}
		next
	}
	NF > 1 {
		line = ""
		for (i = 1; i <= n; i++) {
			v = $(col[want[i]])
			line = line (i > 1 ? OFS : "") (v == "" ? "-" : v)
		}
		print line
	}
	END { if (bad) exit 1 }' "$@"
}

if test -f "$dir/throughput.csv"; then
	files="$dir/throughput.csv"
	test -f "$dir/go_throughput.csv" && files="$files $dir/go_throughput.csv"
	# shellcheck disable=SC2086 # $files: paths without blanks are split on purpose
	norm $files >"$tmp/rows" || die "cannot read the throughput CSV files"
else
	note "no $dir/throughput.csv: throughput and fill plots skipped"
	: >"$tmp/rows"
fi

script=$tmp/plots.gp
# human() and addsorted(), shared with report.sh.
awklib=$(cat "$(dirname "$0")/lib.awk")
cat >"$script" <<EOF
set terminal $term size 1000,600
set datafile missing '?'
set grid ytics lc rgb '#dddddd'
set border 3
set tics nomirror
EOF

# ---- (a) throughput against threads, and (c) fills --------------------------
# Writes the data files and appends the plot commands to $script. Each peer
# keeps its colour in every plot (its family: the name less -memb/-qsbr);
# qsbr variants are dashed; rcumap lines are thicker.
awk -F '\t' -v q="'" -v tmp="$tmp" -v dir="$dir" -v script="$script" "$awklib"'
function mixtext(m) {
	if (m == 100)
		return "100% lookups (read-only)"
	if (m == 0)
		return "0% lookups (50% inserts, 50% deletes)"
	return m "% lookups, " (100 - m) / 2 "% inserts, " (100 - m) / 2 "% deletes"
}
function style(p,    fam, c, s) {
	fam = p
	sub(/-(memb|qsbr)$/, "", fam)
	if (!(fam in famcol))
		famcol[fam] = color[nfam++ % ncolor + 1]
	s = "lc rgb " q famcol[fam] q " pt " (pidx[p] % 10 + 1) " ps 1.3"
	s = s " lw " (p ~ /^rcumap/ ? 3 : 1.5)
	if (p ~ /-qsbr$/)
		s = s " dt 2"
	return s
}
BEGIN {
	ncolor = split("#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 #17becf #000000", color, " ")
}
{
	ex = $1; p = $2; keys = $3; mix = $4; dist = $5; table = $6; t = $7
	if (!(p in pidx)) {
		pidx[p] = npeer
		peer[npeer++] = p
	}
	if (ex == "mixed" && dist == "uniform" && table == "presized") {
		c = keys SUBSEP mix
		if (!(c in seen)) {
			seen[c] = 1
			cell[ncell++] = c
		}
		threads[c] = addsorted(threads[c], t)
		has[c, p] = 1
		val[c, p, t] = $8 " " $9 " " $10
	} else if (ex == "fill") {
		if (!(keys in fseen)) {
			fseen[keys] = 1
			fkeys[nfkeys++] = keys
		}
		combo = table SUBSEP t
		fthreads[keys, table] = addsorted(fthreads[keys, table], t)
		fhas[keys, p] = 1
		fval[keys, p, combo] = $8
	}
}
END {
	for (i = 0; i < ncell; i++) {
		c = cell[i]
		split(c, kc, SUBSEP)
		keys = kc[1]; mix = kc[2]
		name = "throughput-" keys "-" mix
		dat = tmp "/" name ".dat"
		nt = split(threads[c], tl, " ")
		xt = ""
		for (j = 1; j <= nt; j++)
			xt = xt (j > 1 ? ", " : "") "\"" tl[j] "\" " tl[j]
		plot = ""
		blk = 0
		for (k = 0; k < npeer; k++) {
			p = peer[k]
			if (!((c, p) in has))
				continue
			printf "# %s: threads median min max\n", p > dat
			for (j = 1; j <= nt; j++)
				if ((c, p, tl[j]) in val)
					print tl[j], val[c, p, tl[j]] > dat
			printf "\n\n" > dat
			plot = plot (blk ? ", \\\n     " : "") q dat q " index " blk \
				" using 1:2:3:4 with yerrorlines " style(p) " title " q p q
			blk++
		}
		close(dat)
		print "set output " q dir "/" name ".png" q >> script
		print "set title \"Mixed runs: " human(keys) " keys, " mixtext(mix) \
			"\\nuniform keys from [0, 2n), presized tables; median of the rounds, bars min..max\"" >> script
		print "set xlabel \"threads\"" >> script
		print "set ylabel \"Mops/s (sum over threads)\"" >> script
		print "set logscale x 2" >> script
		print "set xtics (" xt ")" >> script
		print "set xrange [" tl[1] / 1.3 ":" tl[nt] * 1.3 "]" >> script
		print "set yrange [0:*]" >> script
		print "set key outside right top vertical Left reverse box width 2" >> script
		print "plot " plot >> script
		print "unset logscale x; unset xrange; set xtics autofreq" >> script
		print name >> (tmp "/written")
	}
	colors["presized"] = "#c6dbef #6baed6 #2171b5 #08306b"
	colors["growing"] = "#fdd0a2 #fd8d3c #d94801 #7f2704"
	for (i = 0; i < nfkeys; i++) {
		keys = fkeys[i]
		name = "fill-" keys
		dat = tmp "/" name ".dat"
		ncol = 0
		for (tb = 1; tb <= 2; tb++) {
			table = tb == 1 ? "presized" : "growing"
			nt = split(fthreads[keys, table], tl, " ")
			split(colors[table], cl, " ")
			for (j = 1; j <= nt; j++) {
				ncol++
				ctable[ncol] = table
				cthr[ncol] = tl[j]
				ccol[ncol] = cl[(j - 1) % 4 + 1]
			}
		}
		for (k = 0; k < npeer; k++) {
			p = peer[k]
			if (!((keys, p) in fhas))
				continue
			line = "\"" p "\""
			for (j = 1; j <= ncol; j++) {
				combo = ctable[j] SUBSEP cthr[j]
				line = line " " ((keys, p, combo) in fval ? fval[keys, p, combo] : "?")
			}
			print line > dat
		}
		close(dat)
		plot = ""
		for (j = 1; j <= ncol; j++)
			plot = plot (j > 1 ? ", \\\n     " q q : q dat q) " using " (j + 1) \
				(j == 1 ? ":xtic(1)" : "") " title " q ctable[j] ", " cthr[j] \
				" thread" (cthr[j] == 1 ? "" : "s") q " lc rgb " q ccol[j] q
		print "set output " q dir "/" name ".png" q >> script
		print "set title \"Fill: T threads insert " human(keys) \
			" keys into an empty table, presized or growing from its smallest size\"" >> script
		print "set xlabel \"\"" >> script
		print "set ylabel \"Mops/s (keys / slowest thread" q "s seconds)\"" >> script
		print "set yrange [0:*]" >> script
		print "set style data histograms" >> script
		print "set style histogram clustered gap 1" >> script
		print "set style fill solid 1.0 border rgb " q "#555555" q >> script
		print "set xtics rotate by -25 left; set bmargin 6" >> script
		print "set key outside right top vertical Left reverse box width 2" >> script
		print "plot " plot >> script
		print "set style data points; set xtics norotate autofreq; unset bmargin" >> script
		print name >> (tmp "/written")
	}
}' "$tmp/rows"

if test -s "$tmp/rows" && ! test -s "$tmp/written"; then
	note "no mixed (uniform, presized) or fill rows in the throughput CSV files: no throughput plots"
fi

# ---- (b) lookup latency, steady against resizing -----------------------------
if test -f "$dir/latency.csv"; then
	awk -F, -v q="'" -v tmp="$tmp" -v dir="$dir" -v script="$script" "$awklib"'
	FNR == 1 {
		for (i = 1; i <= NF; i++)
			col[$i] = i
		n = split("peer keys phase p50_ns p99_ns p999_ns", want, " ")
		for (i = 1; i <= n; i++)
			if (!(want[i] in col)) {
				printf "latency.csv: column %s missing\n", want[i] > "/dev/stderr"
				exit 1
			}
		next
	}
	NF > 1 {
		p = $(col["peer"]); k = $(col["keys"]); ph = $(col["phase"])
		if (ph != "steady" && ph != "resizing")
			next
		id = p SUBSEP k
		if (!(id in seen)) {
			seen[id] = 1
			ids[nid++] = id
		}
		if (!(k in kseen)) {
			kseen[k] = 1
			nkeys++
			onekeys = k
		}
		v[id, ph, 1] = $(col["p50_ns"])
		v[id, ph, 2] = $(col["p99_ns"])
		v[id, ph, 3] = $(col["p999_ns"])
	}
	END {
		if (nid == 0)
			exit 0
		dat = tmp "/latency.dat"
		lo = -1
		for (i = 0; i < nid; i++) {
			split(ids[i], a, SUBSEP)
			line = "\"" a[1] (nkeys > 1 ? " (" human(a[2]) ")" : "") "\""
			for (qi = 1; qi <= 3; qi++)
				for (s = 1; s <= 2; s++) {
					ph = s == 1 ? "steady" : "resizing"
					x = (ids[i], ph, qi) in v ? v[ids[i], ph, qi] : ""
					if (x == "" || x + 0 <= 0) {
						x = "?"	# no samples: a log axis cannot show 0
					} else if (lo < 0 || x + 0 < lo) {
						lo = x + 0
					}
					line = line " " x
				}
			print line > dat
		}
		close(dat)
		if (lo < 0)
			exit 0
		floor10 = 1
		while (floor10 * 10 <= lo)
			floor10 *= 10
		split("p50 p99 p99.9", qn, " ")
		split("#3182bd #e6550d #a50f15", qc, " ")
		plot = ""
		c = 1
		for (qi = 1; qi <= 3; qi++)
			for (s = 1; s <= 2; s++) {
				c++
				plot = plot (c > 2 ? ", \\\n     " q q : q dat q) " using " c \
					(c == 2 ? ":xtic(1)" : "") " title " q qn[qi] " " \
					(s == 1 ? "steady" : "resizing") q " lc rgb " q qc[qi] q " fs solid " \
					(s == 1 ? "0.35" : "1.0") " border rgb " q "#555555" q
			}
		print "set output " q dir "/latency-resize.png" q >> script
		print "set title \"Lookup latency while the table resizes (dark) against steady state (light)" \
			(nkeys == 1 ? ", " human(onekeys) " keys" : "") "\"" >> script
		print "set xlabel \"\"" >> script
		print "set ylabel \"lookup latency, ns (log scale; histogram bucket floors)\"" >> script
		print "set logscale y" >> script
		print "set yrange [" floor10 ":*]" >> script
		print "set style data histograms" >> script
		print "set style histogram clustered gap 1" >> script
		print "set xtics rotate by -25 left; set bmargin 6" >> script
		print "set key outside right top vertical Left reverse box width 2" >> script
		print "plot " plot >> script
		print "unset logscale y; set xtics norotate autofreq; unset bmargin" >> script
		print "latency-resize" >> (tmp "/written")
	}' "$dir/latency.csv" || die "cannot read $dir/latency.csv"
	grep -qx latency-resize "$tmp/written" 2>/dev/null ||
		note "latency.csv has no steady/resizing rows: latency-resize.png skipped"
else
	note "no $dir/latency.csv: latency-resize.png skipped"
fi

if ! test -s "$tmp/written"; then
	note "nothing to plot in $dir"
	exit 0
fi
gnuplot "$script" || die "gnuplot failed on $script"
while read -r name; do
	note "wrote $dir/$name.png"
done <"$tmp/written"
