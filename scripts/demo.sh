#!/usr/bin/env bash
# Demo of Faultline on a simulated fleet; called by `make demo`.
#
# Usage: scripts/demo.sh BIN DIR
#   BIN  the faultline binary (make builds bin/faultline)
#   DIR  a scratch folder; DIR/home is the embedded store (recreated each run)
#
# Settings through the environment: DEMO_SERVICES (40), DEMO_DAYS (14), DEMO_SEED (1).
set -euo pipefail

if [[ $# -ne 2 ]]; then
	echo "usage: $0 BIN DIR" >&2
	exit 2
fi
BIN=$1
DIR=$2
SERVICES=${DEMO_SERVICES:-40}
DAYS=${DEMO_DAYS:-14}
SEED=${DEMO_SEED:-1}
HOME_DIR="$DIR/home"

mkdir -p "$DIR"
rm -rf "$HOME_DIR"

echo "== 1. simulate $SERVICES services × $DAYS days (seed $SEED) into the embedded store $HOME_DIR"
# Global flags are given after the command name: until main.go keeps flags given
# before it, those would be reset to their defaults.
"$BIN" simulate --home "$HOME_DIR" --log-format text --services "$SERVICES" --days "$DAYS" --seed "$SEED"
echo
echo "history folder:"
du -sh "$HOME_DIR/history" | sed 's/^/  /'
