#!/usr/bin/env bash
# Demo of Faultline on a simulated fleet; called by `make demo`.
#
# Usage: scripts/demo.sh BIN DIR
#   BIN  the faultline binary (make builds bin/faultline)
#   DIR  a scratch folder; DIR/home is the embedded store and run folder
#        (recreated each time)
#
# Without FAULTLINE_DB everything lives in DIR/home: no database server.
# With FAULTLINE_DB set, the history, run records and registry go to that
# PostgreSQL database instead (it is migrated and the simulated fleet is
# upserted into it: use a scratch database).
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
start=$(date +%s)

if [[ -n "${FAULTLINE_DB:-}" ]]; then
	echo "== 0. PostgreSQL from FAULTLINE_DB: migrate"
	"$BIN" --home "$HOME_DIR" db migrate
	where="PostgreSQL (FAULTLINE_DB)"
else
	where="the embedded store $HOME_DIR/history"
fi

echo "== 1. simulate $SERVICES services × $DAYS days (seed $SEED) into $where"
"$BIN" --home "$HOME_DIR" --log-format text simulate --services "$SERVICES" --days "$DAYS" --seed "$SEED"
echo

echo "== 2. faultline run: extract → label → train → evaluate → register → promote → export"
"$BIN" --home "$HOME_DIR" --log-format text run --metrics-file "$HOME_DIR/metrics/faultline.prom" 2>"$DIR/run.log" || {
	echo "the run failed; its log is $DIR/run.log" >&2
	tail -n 20 "$DIR/run.log" >&2
	exit 1
}

echo
echo "== 3. the production policy on every deploy, against the simulator's ground truth"
"$BIN" --home "$HOME_DIR" --log-format text predict --model production --truth --out "$DIR/predictions.csv" 2>>"$DIR/run.log" || {
	echo "predict failed; its log is $DIR/run.log" >&2
	exit 1
}

run_dir=$(ls -d "$HOME_DIR"/runs/2*/ | tail -n 1)
report="${run_dir%/}/evaluation/report.html"
echo
echo "== done in $(( $(date +%s) - start ))s"
echo "report:        $report"
echo "summary:       ${run_dir%/}/evaluation/summary.md"
if [ -f "$HOME_DIR/export/faultline-production.tar.gz" ]; then
  echo "bundle:        $HOME_DIR/export/faultline-production.tar.gz"
else
  echo "bundle:        none (the promotion gate refused the candidate; see the promote line above)"
fi
echo "predictions:   $DIR/predictions.csv"
echo "run log:       $DIR/run.log"
echo "metrics file:  $HOME_DIR/metrics/faultline.prom"
echo "next:          $BIN --home $HOME_DIR runs show $(basename "$run_dir")"
