#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 20s).
# Usage: scripts/fuzz.sh [FUZZTIME]     (called by `make fuzz`)
# Each new interesting input is minimized for at most FUZZMINIMIZETIME
# (environment, default 5s): Go's default of 60s lets the minimization of a
# few-KB input (a tar archive, a model file) take a short session over.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-20s}
minimize=${FUZZMINIMIZETIME:-5s}
status=0
while IFS=: read -r file _ decl; do
	name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$decl")
	pkg=./$(dirname "$file")
	echo "== $pkg $name ($fuzztime)"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "$pkg" || status=1
done < <(grep -rn --include='*_test.go' '^func Fuzz' . | sed 's|^\./||')
exit $status
