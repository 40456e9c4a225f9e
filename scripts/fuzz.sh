#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 20s).
# Usage: scripts/fuzz.sh [FUZZTIME]     (called by `make fuzz`)
# Each new interesting input is minimized for at most FUZZMINIMIZETIME
# (environment, default 5s): Go's default of 60s lets the minimization of a
# few-KB input (a tar archive, a model file) take a short session over.
#
# Coordinator flake: Go's fuzz coordinator (before Go 1.27, golang/go#75804)
# can fail a target that found nothing when -fuzztime runs out, printing a
# bare "context deadline exceeded". A failure that printed that line, no
# "Failing input written to", and wrote no new file under the package's
# testdata/fuzz/TARGET/ is reported as a coordinator flake and the target is
# run once more; the second run's outcome counts. Any other failure fails
# the script — a crash always writes its input to testdata/fuzz/TARGET/.
# The script ends with one line per target: its outcome and its exec count.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-20s}
minimize=${FUZZMINIMIZETIME:-5s}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
summary=()

# corpus DIR: the files under DIR, one per line, sorted.
corpus() { { [[ ! -d $1 ]] || find "$1" -type f; } | LC_ALL=C sort; }

# execs FILE: "N execs" from the last progress line of a fuzzing log.
execs() {
	local n
	n=$(sed -nE 's/^fuzz: elapsed: [^,]*, execs: ([0-9]+) .*/\1/p' "$1" | tail -n 1)
	echo "${n:-0} execs"
}

# fuzz PKG NAME LOG: runs the target once, its output to the terminal and
# LOG; sets rc to its exit status and added to the files it added under
# testdata/fuzz/NAME.
fuzz() {
	local dir="$1/testdata/fuzz/$2"
	corpus "$dir" >"$tmp/before"
	set +e
	go test -run '^$' -fuzz "^$2\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "$1" </dev/null 2>&1 | tee "$3"
	rc=${PIPESTATUS[0]}
	set -e
	corpus "$dir" >"$tmp/after"
	added=$(LC_ALL=C comm -13 "$tmp/before" "$tmp/after")
}

# flake LOG: whether a failed run looks like the coordinator flake (and
# added no file).
flake() {
	[[ -z $added ]] &&
		grep -Eq '^[[:space:]]*context deadline exceeded[[:space:]]*$' "$1" &&
		! grep -q 'Failing input written to' "$1"
}

while IFS=: read -r file _ decl; do
	name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$decl")
	pkg=./$(dirname "$file")
	echo "== $pkg $name ($fuzztime)"
	fuzz "$pkg" "$name" "$tmp/log"
	outcome="ok, $(execs "$tmp/log")"
	if ((rc != 0)) && flake "$tmp/log"; then
		first=$(execs "$tmp/log")
		echo "== $pkg $name: coordinator flake (\"context deadline exceeded\", no new file under $pkg/testdata/fuzz/$name; golang/go#75804) after $first: running it once more"
		fuzz "$pkg" "$name" "$tmp/log"
		outcome="coordinator flake after $first, re-run ok, $(execs "$tmp/log")"
	fi
	if ((rc != 0)); then
		status=1
		if [[ -n $added ]]; then
			outcome="FAIL: crash, $(execs "$tmp/log"), input written to ${added//$'\n'/ }"
		elif [[ $outcome == coordinator* ]] && flake "$tmp/log"; then
			outcome="FAIL: coordinator flake twice in a row, $(execs "$tmp/log")"
		else
			outcome="FAIL (exit $rc), $(execs "$tmp/log"): see the output above"
		fi
	fi
	summary+=("$pkg $name: $outcome")
done < <(grep -rn --include='*_test.go' '^func Fuzz' . | sed 's|^\./||')
echo "== summary ($fuzztime each)"
printf '%s\n' "${summary[@]}"
exit $status
