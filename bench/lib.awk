# SPDX-License-Identifier: MIT
# lib.awk: awk functions shared by bench/plot.sh and bench/report.sh (they
# put this file's text in front of each awk program: mawk has no -e).

# 1000000 -> "1M", 10000 -> "10K"; other numbers as they are.
function human(n) {
	if (n >= 1000000 && n % 1000000 == 0)
		return (n / 1000000) "M"
	if (n >= 1000 && n % 1000 == 0)
		return (n / 1000) "K"
	return n
}

# Adds v to the numeric list l (a string "a b c"), kept sorted (descending
# when desc is true), without duplicates; returns the new list.
function addsorted(l, v, desc,    a, n, i, out, done) {
	n = split(l, a, " ")
	out = ""
	done = 0
	for (i = 1; i <= n; i++) {
		if (a[i] + 0 == v + 0)
			return l
		if (!done && (desc ? v + 0 > a[i] + 0 : v + 0 < a[i] + 0)) {
			out = out " " v
			done = 1
		}
		out = out " " a[i]
	}
	if (!done)
		out = out " " v
	return substr(out, 2)
}
