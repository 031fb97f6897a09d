#!/bin/sh
# SPDX-License-Identifier: MIT
# report.sh: prints the Markdown of docs/benchmarks.md from a results directory.
#
# Usage: bench/report.sh RESULTS_DIR [IMG_PREFIX] > report.md
#
# Reads what bench/mapbench and bench/syncmap wrote into RESULTS_DIR (each
# file optional; columns are found by their header names):
#   machine.txt                          "key: value" lines; "command:" lines
#                                        go to the Command section
#   syncmap.txt                          bench/syncmap's stdout (bench/run.sh
#                                        saves it): its Go version and
#                                        "# command:" lines
#   throughput.csv, go_throughput.csv    mixed and fill tables
#   memory.csv, go_memory.csv            memory table
#   latency.csv, reclaim.csv, targets.csv
#   update_latency.csv, bulk.csv, shrinkrss.csv   the write-path experiments
#   batch.csv                            batched lookups against single ones
# and links the PNGs of bench/plot.sh that exist in RESULTS_DIR as
# IMG_PREFIX/NAME.png (default: NAME.png, i.e. beside the Markdown file;
# bench/run.sh passes "bench" for docs/bench/).
#
# Throughput cells are "Mops/s (×lfht)": the median over the rounds and its
# ratio to cds_lfht of the same RCU flavor (lfht-memb for peers without one),
# as mapbench computes ratio_lfht; rows that come without one (go-syncmap's)
# get it computed here by the same rule.
#
# Exit status: 0 done; 1 no results directory or no CSV in it; 2 usage.

set -eu

prog=report.sh

die() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 1
}

if test $# -lt 1 || test $# -gt 2 || test -z "$1"; then
	echo "usage: $0 RESULTS_DIR [IMG_PREFIX]" >&2
	exit 2
fi
dir=$1
prefix=${2:-}
prefix=${prefix%/}
test -d "$dir" || die "no results directory '$dir'"

# Existing files among the arguments (each a path), on stdout.
existing() {
	for f in "$@"; do
		if test -f "$f"; then
			printf '%s\n' "$f"
		fi
	done
}

found=$(existing "$dir"/throughput.csv "$dir"/go_throughput.csv "$dir"/memory.csv \
	"$dir"/go_memory.csv "$dir"/latency.csv "$dir"/reclaim.csv "$dir"/targets.csv \
	"$dir"/update_latency.csv "$dir"/bulk.csv "$dir"/shrinkrss.csv "$dir"/batch.csv)
test -n "$found" || die "no CSV files in $dir: run bench/mapbench (make bench) first"

# An image link, if bench/plot.sh drew NAME.png: img NAME ALT
img() {
	if test -f "$dir/$1.png"; then
		printf '\n![%s](%s%s.png)\n' "$2" "${prefix:+$prefix/}" "$1"
	fi
}

# Functions every awk program below starts with. Each CSV file's first line
# names its columns: col[] maps a name to its field, f(name) reads it.
# shellcheck disable=SC2016 # awk code: the $ are awk's
common=$(cat "$(dirname "$0")/lib.awk")'
function f(name) { return (name in col) ? $(col[name]) : "" }
function cell(v) { if (v == "") return "–"; gsub(/\|/, "\\|", v); return v }
function fmt(v, spec) { return v == "" ? "–" : sprintf(spec, v) }
function peer_cell(p) { return p ~ /^rcumap/ ? "**" p "**" : p }
# Rows keyed by id, in the order first met: ids[0..nids-1].
function remember(id) { if (!(id in seen)) { seen[id] = 1; ids[nids++] = id } }
FNR == 1 {
	split("", col)
	for (i = 1; i <= NF; i++)
		col[$i] = i
	next
}
'

# ---- machine and command ----------------------------------------------------
echo "## Machine"
echo
if test -f "$dir/machine.txt"; then
	awk '!/^command:/ && NF { sub(/[ \t]+$/, ""); print "- " $0 }' "$dir/machine.txt"
else
	echo "_No machine.txt in the results._"
fi
if test -f "$dir/syncmap.txt"; then
	sed -n 's/^# go-syncmap: */- go-syncmap: /p' "$dir/syncmap.txt"
fi
echo
echo "## Command"
echo
echo '```'
cmds=$(
	if test -f "$dir/machine.txt"; then
		sed -n 's/^command: *//p' "$dir/machine.txt"
	fi
	if test -f "$dir/syncmap.txt"; then
		sed -n 's/^# command: *//p' "$dir/syncmap.txt"
	fi
)
printf '%s\n' "${cmds:-(not recorded)}"
echo '```'

# ---- throughput: mixed runs and fills ---------------------------------------
tfiles=$(existing "$dir"/throughput.csv "$dir"/go_throughput.csv)
if test -n "$tfiles"; then
	# One awk pass over both files writes the tables and, between them,
	# "@img NAME ALT" lines that the loop below turns into image links.
	# shellcheck disable=SC2086 # $tfiles: paths without blanks, split on purpose
	awk -F, -v q="'" "$common"'
	function mixname(m) {
		if (m == 100)
			return "100% get"
		return m "% get"
	}
	# Insertion into a numeric list kept sorted (desc: descending).
	# "Mops/s (×ratio)", the ratio from the CSV or computed as mapbench does.
	function mops(id, p,    r, b) {
		if (!((id, p) in med))
			return "–"
		r = ratio[id, p]
		if (r == "") {
			b = "lfht-" flavor[p]
			if (!(b in known))
				b = "lfht-memb"
			if ((id, b) in med && med[id, b] > 0)
				r = med[id, p] / med[id, b]
		}
		return sprintf("%.2f", med[id, p]) (r == "" ? "" : sprintf(" (×%.2f)", r))
	}
	# One table of group g: a row per peer and thread count (tl[1..nt]), a
	# column per col[1..nc] headed head[1..nc]; rows with no data are left out.
	function table(g, nc, nt,    line, sep, m, k, j, p, c, any) {
		line = "| peer | threads |"
		sep = "| --- | ---: |"
		for (m = 1; m <= nc; m++) {
			line = line " " head[m] " |"
			sep = sep " ---: |"
		}
		print line
		print sep
		for (k = 0; k < npeer; k++) {
			p = peer[k]
			if (!((g, p) in in_group))
				continue
			for (j = 1; j <= nt; j++) {
				line = "| " peer_cell(p) " | " tl[j] " |"
				any = 0
				for (m = 1; m <= nc; m++) {
					c = mops(g SUBSEP col[m] SUBSEP tl[j], p)
					any += c != "–"
					line = line " " c " |"
				}
				if (any)
					print line
			}
		}
	}
	NF > 1 {
		ex = f("experiment"); p = f("peer"); keys = f("keys"); t = f("threads")
		if (!(p in known)) {
			known[p] = 1
			peer[npeer++] = p
			flavor[p] = f("flavor")
		}
		if (ex == "mixed") {
			g = keys SUBSEP f("dist") SUBSEP f("table")
			if (!(g in gseen)) {
				gseen[g] = 1
				group[ngroup++] = g
			}
			mixes[g] = addsorted(mixes[g], f("get_pct"), 1)
			id = g SUBSEP f("get_pct") SUBSEP t
		} else if (ex == "fill") {
			g = keys
			if (!(g in fseen)) {
				fseen[g] = 1
				fgroup[nfgroup++] = g
			}
			has_table[g, f("table")] = 1
			id = g SUBSEP f("table") SUBSEP t
		} else {
			next
		}
		threads[g] = addsorted(threads[g], t, 0)
		in_group[g, p] = 1
		med[id, p] = f("median_mops") + 0
		ratio[id, p] = f("ratio_lfht")
		if (f("rounds") != "") {
			if (rounds == "")
				rounds = f("rounds")
			else if (rounds != f("rounds"))
				rounds = "mixed"
		}
	}
	END {
		if (ngroup > 0) {
			print ""
			print "## Throughput: mixed runs"
			print ""
			print "Mops/s summed over the threads, median of " \
				(rounds == "" || rounds == "mixed" ? "the rounds" : rounds == 1 ? "1 round" : rounds " rounds") \
				"; in parentheses the ratio to cds_lfht of the same RCU flavor" \
				" (lfht-memb for peers without one). Lookups draw indices from [0, 2n)," \
				" half of which are present; the rest of the operations are inserts and" \
				" deletes in equal parts."
			if ("go-syncmap" in known)
				print "go-syncmap (Go sync.Map) cannot be presized: its table was built by inserts."
		}
		for (i = 0; i < ngroup; i++) {
			g = group[i]
			split(g, a, SUBSEP)
			nm = split(mixes[g], ml, " ")
			nt = split(threads[g], tl, " ")
			print ""
			print "### " human(a[1]) " keys, " a[2] (a[3] == "presized" ? "" : ", " a[3] " table")
			print ""
			for (m = 1; m <= nm; m++) {
				col[m] = ml[m]
				head[m] = mixname(ml[m])
			}
			table(g, nm, nt)
			if (a[2] == "uniform" && a[3] == "presized")
				for (m = 1; m <= nm; m++)
					print "@img throughput-" a[1] "-" ml[m] " Throughput against threads, " \
						human(a[1]) " keys, " ml[m] "% lookups"
		}
		if (nfgroup > 0) {
			print ""
			print "## Throughput: fill"
			print ""
			print "T threads insert n keys into an empty table, in strides; Mops/s = n / the slowest" \
				" thread" q "s seconds, median of the rounds (×lfht as above). presized: the" \
				" table was created for n entries; growing: at its smallest size."
		}
		for (i = 0; i < nfgroup; i++) {
			g = fgroup[i]
			ntb = 0
			if ((g, "presized") in has_table)
				tb[++ntb] = "presized"
			if ((g, "growing") in has_table)
				tb[++ntb] = "growing"
			nt = split(threads[g], tl, " ")
			print ""
			print "### " human(g) " keys"
			print ""
			for (m = 1; m <= ntb; m++)
				col[m] = head[m] = tb[m]
			table(g, ntb, nt)
			print "@img fill-" g " Fill throughput, " human(g) " keys"
		}
	}' $tfiles
fi | while IFS= read -r line; do
	case $line in
	"@img "*)
		line=${line#@img }
		img "${line%% *}" "${line#* }"
		;;
	*) printf '%s\n' "$line" ;;
	esac
done

# ---- memory -------------------------------------------------------------------
mfiles=$(existing "$dir"/memory.csv "$dir"/go_memory.csv)
if test -n "$mfiles"; then
	echo
	echo "## Memory"
	echo
	echo "Bytes per entry of a table built pre-sized for n entries, each in a fresh process:"
	echo "RSS growth; own: what the peer's allocations account for (Go: heap in use after a"
	echo "GC); user: what a user of the peer must add per entry (cds_lfht: the rcu_head, which"
	echo "the peer's nodes hold, so it is in RSS already); total = RSS (Go: own)."
	echo
	# shellcheck disable=SC2086 # $mfiles: paths without blanks, split on purpose
	awk -F, "$common"'
	NF > 1 {
		n = f("entries")
		if (!(n in seen)) {
			seen[n] = 1
			ents[ne++] = n
		}
		rows[n] = rows[n] sprintf("| %s | %s | %s | %s | %s | %s |\n",
			peer_cell(f("peer")), human(n),
			fmt(f("rss_bytes_per_entry"), "%.1f"), fmt(f("own_bytes_per_entry"), "%.1f"),
			fmt(f("user_bytes_per_entry"), "%.1f"), fmt(f("total_bytes_per_entry"), "%.1f"))
	}
	END {
		print "| peer | entries | RSS B/entry | own B/entry | user B/entry | total B/entry |"
		print "| --- | ---: | ---: | ---: | ---: | ---: |"
		for (i = 0; i < ne; i++)
			printf "%s", rows[ents[i]]
	}' $mfiles
fi

# ---- latency during resizes ------------------------------------------------------
if test -f "$dir/latency.csv"; then
	echo
	echo "## Lookup latency during resizes"
	echo
	echo "Per-lookup latency in ns (histogram bucket floors, at most 1/16 low), steady"
	echo "state → while the table is being resized, and the ratio resizing / steady."
	echo
	awk -F, "$common"'
	function trio(s, r) {
		if (s == "" && r == "")
			return "–"
		return cell(s) " → " cell(r) (s + 0 > 0 && r != "" ? sprintf(" (×%.2f)", r / s) : "")
	}
	NF > 1 {
		id = f("peer") SUBSEP f("keys")
		remember(id)
		ph = f("phase")
		p50[id, ph] = f("p50_ns"); p99[id, ph] = f("p99_ns")
		p999[id, ph] = f("p999_ns"); mx[id, ph] = f("max_ns")
		if (ph == "resizing")
			rs[id] = f("resizes")
	}
	END {
		print "| peer | keys | p50 | p99 | p99.9 | max | resizes |"
		print "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
		for (i = 0; i < nids; i++) {
			id = ids[i]
			split(id, a, SUBSEP)
			printf "| %s | %s | %s | %s | %s | %s | %s |\n",
				peer_cell(a[1]), human(a[2]),
				trio(p50[id, "steady"], p50[id, "resizing"]),
				trio(p99[id, "steady"], p99[id, "resizing"]),
				trio(p999[id, "steady"], p999[id, "resizing"]),
				trio(mx[id, "steady"], mx[id, "resizing"]), cell(rs[id])
		}
	}' "$dir/latency.csv"
	img latency-resize "Lookup latency p50, p99, p99.9: steady against resizing"
fi

# ---- reclamation -------------------------------------------------------------------
if test -f "$dir/reclaim.csv"; then
	echo
	echo "## Reclamation"
	echo
	echo "Lag: from a delete to the free of its entry (after the grace period), in ms."
	echo "Flood: delete that many entries at once; the time to delete them, the peak of"
	echo "memory waiting for a grace period (– when the peer keeps no account), and the"
	echo "time until all of it was freed."
	echo
	awk -F, "$common"'
	NF > 1 {
		pend = f("flood_peak_pending_bytes")
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			peer_cell(f("peer")), human(f("keys")),
			fmt(f("lag_p50_ms"), "%.2f"), fmt(f("lag_p99_ms"), "%.2f"),
			fmt(f("lag_max_ms"), "%.2f"), cell(f("flood_entries")),
			fmt(f("flood_delete_ms"), "%.1f"),
			(pend == "" ? "–" : sprintf("%.1f", pend / 1048576)), fmt(f("flood_drain_ms"), "%.1f")
	}
	BEGIN {
		print "| peer | keys | lag p50 | lag p99 | lag max | flood entries | delete ms | peak pending MiB | drain ms |"
		print "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	}' "$dir/reclaim.csv"
fi

# ---- update latency during a growing fill ---------------------------------------
if test -f "$dir/update_latency.csv"; then
	echo
	echo "## Update latency during a growing fill"
	echo
	echo "Per-update latency in ns (histogram bucket floors), in a steady mixed load"
	echo "and while the table grows from empty; the last column is the slowest"
	echo "growing update over the steady p99.9 (issue 11's bound: 100)."
	echo
	awk -F, "$common"'
	NF > 1 {
		id = f("peer") SUBSEP f("keys")
		remember(id)
		ph = f("phase")
		p50[id, ph] = f("p50_ns"); p999[id, ph] = f("p999_ns"); mx[id, ph] = f("max_ns")
		if (ph == "growing")
			stop[id] = f("stopped")
	}
	END {
		print "| peer | keys | steady p50 | steady p99.9 | growing p50 | growing p99.9 | growing max | max / steady p99.9 |"
		print "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
		for (i = 0; i < nids; i++) {
			id = ids[i]
			split(id, a, SUBSEP)
			s999 = p999[id, "steady"]; gmx = mx[id, "growing"]
			printf "| %s | %s | %s | %s | %s | %s | %s%s | %s |\n",
				peer_cell(a[1]), human(a[2]),
				cell(p50[id, "steady"]), cell(s999), cell(p50[id, "growing"]),
				cell(p999[id, "growing"]), cell(gmx), (stop[id] == 1 ? " (stopped)" : ""),
				(s999 + 0 > 0 && gmx != "" ? sprintf("%.0f", gmx / s999) : "–")
		}
	}' "$dir/update_latency.csv"
fi

# ---- bulk inserts inside one read section ----------------------------------------
if test -f "$dir/bulk.csv"; then
	echo
	echo "## Inserts inside one read section"
	echo
	echo "The same inserts into an empty map, all inside one read section and each in"
	echo "its own; the ratio is one section over separate sections (issue 11's bound: 2)."
	echo
	awk -F, "$common"'
	BEGIN {
		print "| peer | inserts | one section s | separate s | ratio |"
		print "| --- | ---: | ---: | ---: | ---: |"
	}
	NF > 1 {
		capped = f("capped") == 1 ? sprintf(" (stopped after %s)", f("one_section_done")) : ""
		printf "| %s | %s | %s%s | %s | %s |\n",
			peer_cell(f("peer")), human(f("inserts")),
			fmt(f("one_section_s"), "%.3f"), capped, fmt(f("separate_s"), "%.3f"),
			fmt(f("ratio"), "%.2f")
	}' "$dir/bulk.csv"
fi

# ---- RSS after mass deletes ---------------------------------------------------------
if test -f "$dir/shrinkrss.csv"; then
	echo
	echo "## Memory after mass deletes"
	echo
	echo "RSS in MiB after deleting 90% of the entries, shrinking and waiting for"
	echo "reclamation, against a fresh map holding only the survivors (issue 11's"
	echo "bound: 2); the malloc_trim rows call malloc_trim(0) first (informational)."
	echo
	awk -F, "$common"'
	BEGIN {
		print "| peer | entries | survivors | malloc_trim | after deletes MiB | fresh MiB | ratio |"
		print "| --- | ---: | ---: | --- | ---: | ---: | ---: |"
	}
	NF > 1 {
		printf "| %s | %s | %s | %s | %.1f | %.1f | %s |\n",
			peer_cell(f("peer")), human(f("entries")),
			human(f("survivors")), (f("malloc_trim") == 1 ? "yes" : "no"),
			f("shrunk_rss_bytes") / 1048576, f("fresh_rss_bytes") / 1048576,
			fmt(f("ratio"), "%.2f")
	}' "$dir/shrinkrss.csv"
fi

# ---- batched lookups ----------------------------------------------------------------
if test -f "$dir/batch.csv"; then
	echo
	echo "## Batched lookups"
	echo
	echo "Lookups only, uniform over [0, 2n) (half hit), pre-sized tables: the same keys one"
	echo "at a time (single) and in batched calls of K keys. Mops/s summed over the threads,"
	echo "median of the rounds; ×single: over the same peer's single lookups; of ceiling:"
	echo "over the unsynchronised table's (oa-unsync) single lookups; of batch ceiling: over"
	echo "its batched calls of the same K (hash and prefetch a group of 16, then probe)."
	awk -F, "$common"'
	NF > 1 {
		k = f("keys")
		if (!(k in kseen)) {
			kseen[k] = 1
			klist[nk++] = k
		}
		sec[k] = f("ops_per_section")
		bk = f("batch_keys")
		rows[k] = rows[k] sprintf("| %s | %s | %s | %s | %s | %s | %s |\n",
			peer_cell(f("peer")), f("threads"), (bk == "" ? "single" : bk),
			fmt(f("median_mops"), "%.2f"), fmt(f("ratio_single"), "×%.2f"),
			fmt(f("ratio_ceiling"), "%.2f"), fmt(f("ratio_batch_ceiling"), "%.2f"))
	}
	END {
		for (i = 0; i < nk; i++) {
			k = klist[i]
			print ""
			print "### " human(k) " keys, " sec[k] " lookups per read section"
			print ""
			print "| peer | threads | keys per call | Mops/s | ×single | of ceiling | of batch ceiling |"
			print "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
			printf "%s", rows[k]
		}
	}' "$dir/batch.csv"
fi

# ---- targets -----------------------------------------------------------------------
if test -f "$dir/targets.csv"; then
	echo
	echo "## Targets"
	echo
	awk -F, "$common"'
	BEGIN {
		print "| target | measured | required | status |"
		print "| --- | ---: | ---: | --- |"
	}
	NF > 1 {
		st = f("status")
		n++
		pass += st == "PASS"
		printf "| %s | %s | %s | %s |\n", cell(f("target")), cell(f("measured")),
			cell(f("required")), (st == "PASS" ? st : "**" cell(st) "**")
	}
	END {
		if (n == 0)
			print "| (none covered by this run) | | | |"
		else
			printf "\n%d of %d targets pass.\n", pass, n
	}' "$dir/targets.csv"
fi
