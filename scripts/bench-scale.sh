#!/usr/bin/env bash
# Scale benchmark of the nightly job; called by `make bench-scale` (not part
# of `make test`, which runs a tiny smoke of this script: scripts/benchscale_test.go).
#
# Usage: scripts/bench-scale.sh BIN DIR
#   BIN  the faultline binary (make builds bin/faultline)
#   DIR  a scratch folder; DIR/SIZE is recreated for every size measured
#
# For every size it simulates a fleet into import files (CSV), imports them
# into an embedded store, runs each stage of the nightly job as its own
# command (extract, label, train on weak and on ensemble labels, evaluate,
# registry register, promote, export), then the nightly job itself
# (`faultline run`, whose evaluate and promotion gate now also score the
# production model the stage commands promoted). Every command runs under
# /usr/bin/time: wall time, CPU time (user + system) and peak memory (max
# RSS); the 1-minute load average is read before and after. The run's own
# stages are timed from its log, and its memory and CPU are sampled from
# /proc every SCALE_SAMPLE seconds and attributed to the stage running then.
# The disk taken (du) is recorded after each step. At the end it prints
# Markdown tables (also written to DIR/bench-scale.md): one row per stage,
# the figures of each size side by side, smallest first, and the growth
# factor of the largest size over the smallest. Sizes measured into DIR by
# earlier invocations stay in the tables unless measured again, so that
# SCALE_SIZES=1M and then SCALE_SIZES=100k give one table.
#
# Settings through the environment:
#   SCALE_SIZES   space-separated NAME=SERVICES:DAYS:DEPLOYS_PER_DAY
#                 (default "100k=200:30:10 1M=600:100:10": 100,935 and about
#                 1.0M deploys; 17.6M and about 176M metric rows. The 1M fleet
#                 is an organisation deploying about 10k times a day, over 100
#                 days)
#                 Empty (SCALE_SIZES=) measures nothing and prints the
#                 tables of the sizes already measured into DIR.
#   SCALE_SEED    simulator seed (1)
#   SCALE_SAMPLE  seconds between samples of the run's memory and CPU (0.5)
#   SCALE_KEEP    1 keeps each size's import files (CSV) after the import;
#                 by default they are deleted once measured, to save disk
#   SCALE_RUN     0 skips the whole `faultline run` (stage commands only)
#
# Disk: about 3 GB per 100k deploys of this fleet (import files 2.4 GB,
# deleted after the import unless SCALE_KEEP=1; store 0.4 GB); the table
# states what each size took. Data goes to DIR only.
set -euo pipefail

if [[ $# -ne 2 ]]; then
	echo "usage: $0 BIN DIR" >&2
	exit 2
fi
BIN=$(realpath "$1")
DIR=$2
SIZES=${SCALE_SIZES-"100k=200:30:10 1M=600:100:10"}
SEED=${SCALE_SEED:-1}
SAMPLE=${SCALE_SAMPLE:-0.5}
KEEP=${SCALE_KEEP:-0}
RUN=${SCALE_RUN:-1}
TIME=${SCALE_TIME:-/usr/bin/time}

if [[ ! -x "$TIME" ]]; then
	echo "bench-scale: $TIME not found: install GNU time (Debian package time) or set SCALE_TIME" >&2
	exit 1
fi
[[ -x "$BIN" ]] || { echo "bench-scale: $BIN is not an executable" >&2; exit 1; }
for spec in $SIZES; do
	if ! [[ $spec =~ ^[A-Za-z0-9._-]+=[0-9]+:[0-9]+:[0-9.]+$ ]]; then
		echo "bench-scale: size \"$spec\" is not NAME=SERVICES:DAYS:DEPLOYS_PER_DAY" >&2
		exit 2
	fi
done

mkdir -p "$DIR"
DIR=$(realpath "$DIR")
RES=$DIR/results.tsv # size kind stage wall cpu rss_kb load0 load1
INFO=$DIR/sizes.tsv  # size key value
touch "$RES" "$INFO"
CLK=$(getconf CLK_TCK)

load1() { local a _; read -r a _ </proc/loadavg; echo "$a"; }
info() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$INFO"; }
du_bytes() { du -sb "$@" 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }
json_int() { sed -n "s/^  \"$2\": \([0-9]*\),*$/\1/p" "$1" | head -n 1; }

# measure SIZE STAGE LOG CMD...: runs CMD under $TIME, stdout to LOG.out,
# stderr to LOG.err, and appends its figures to $RES. A failure whose
# stderr matches $OK_IF (e.g. the promotion gate's refusal) is a result:
# the stage is recorded as "STAGE (refused)".
OK_IF=
measure() {
	local size=$1 stage=$2 log=$3
	shift 3
	local l0 l1 wall user sys rss
	l0=$(load1)
	echo "== $size: $stage" >&2
	if ! "$TIME" -f '%e %U %S %M' -o "$log.time" "$@" >"$log.out" 2>"$log.err"; then
		if [[ -n $OK_IF ]] && grep -q -- "$OK_IF" "$log.err"; then
			stage="$stage (refused)"
		else
			echo "bench-scale: $size: $stage failed; the end of $log.err:" >&2
			tail -n 20 "$log.err" >&2
			exit 1
		fi
	fi
	l1=$(load1)
	read -r wall user sys rss < <(tail -n 1 "$log.time")
	printf '%s\tstage\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$stage" "$wall" \
		"$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')" "$rss" "$l0" "$l1" >>"$RES"
}

# sample PID OUT: every $SAMPLE seconds until PID exits, one line
# "EPOCH RSS_KB CPU_TICKS" from /proc (no process started per sample).
sample() {
	local pid=$1 out=$2 k v rss f
	while [[ -r /proc/$pid/status ]]; do
		rss=
		while read -r k v _; do
			[[ $k == VmRSS: ]] && { rss=$v; break; }
		done <"/proc/$pid/status" 2>/dev/null || break
		read -r -a f <"/proc/$pid/stat" 2>/dev/null || break
		[[ -n $rss ]] && echo "$EPOCHREALTIME $rss $((f[13] + f[14]))" >>"$out"
		sleep "$SAMPLE"
	done
}

# run_whole SIZE HOME LOG: `faultline run` under $TIME, sampled, then its
# stages from the log (wall) and the samples (peak RSS, CPU).
run_whole() {
	local size=$1 home=$2 log=$3 l0 l1 tpid pid= i wall user sys rss
	l0=$(load1)
	echo "== $size: faultline run" >&2
	: >"$log.samples"
	"$TIME" -f '%e %U %S %M' -o "$log.time" "$BIN" --home "$home" --log-format text run \
		--metrics-file "$home/metrics/faultline.prom" >"$log.out" 2>"$log.err" &
	tpid=$!
	for ((i = 0; i < 200; i++)); do
		pid=$(cat "/proc/$tpid/task/$tpid/children" 2>/dev/null | awk '{print $1}') || true
		[[ -n $pid ]] && break
		sleep 0.05
	done
	[[ -n $pid ]] && sample "$pid" "$log.samples" &
	local spid=$!
	if ! wait "$tpid"; then
		echo "bench-scale: $size: faultline run failed; the end of $log.err:" >&2
		tail -n 20 "$log.err" >&2
		exit 1
	fi
	wait "$spid" 2>/dev/null || true
	l1=$(load1)
	read -r wall user sys rss < <(tail -n 1 "$log.time")
	# Stage boundaries from the log: "time=T ... msg="stage started" ... stage=NAME".
	local t name
	: >"$log.stages"
	while read -r t name; do
		echo "$(date -d "$t" +%s.%N) $name" >>"$log.stages"
	done < <(sed -n 's/^time=\([^ ]*\) .*msg="stage \(started\|finished\)".* stage=\([^ ]*\).*/\1 \2:\3/p' "$log.err")
	awk -v size="$size" -v clk="$CLK" -v l0="$l0" -v l1="$l1" \
		-v wall="$wall" -v cpu="$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')" -v rss="$rss" '
		FNR == NR { split($2, a, ":"); if (a[1] == "started") { n++; name[n] = a[2]; t0[n] = $1 } else { for (j = n; j > 0; j--) if (name[j] == a[2]) { t1[j] = $1; break } } next }
		{ ts[++m] = $1; r[m] = $2; c[m] = $3 }
		END {
			for (j = 1; j <= n; j++) {
				peak = 0; cpu0 = -1; cpu1 = -1
				for (k = 1; k <= m; k++) {
					if (ts[k] <= t0[j]) cpu0 = c[k]
					if (ts[k] <= t1[j]) cpu1 = c[k]
					if (ts[k] >= t0[j] && ts[k] <= t1[j] && r[k] > peak) peak = r[k]
				}
				if (cpu0 < 0) cpu0 = 0
				st = (cpu1 >= cpu0) ? sprintf("%.2f", (cpu1 - cpu0) / clk) : ""
				printf "%s\trun\t%s\t%.2f\t%s\t%s\t\t\n", size, name[j], t1[j] - t0[j], st, (peak > 0 ? peak : "")
			}
			printf "%s\trun\t(whole run)\t%s\t%s\t%s\t%s\t%s\n", size, wall, cpu, rss, l0, l1
		}' "$log.stages" "$log.samples" >>"$RES"
}

df -h "$DIR" >&2
for spec in $SIZES; do
	size=${spec%%=*}
	IFS=: read -r services days dpd <<<"${spec#*=}"
	S=$DIR/$size
	rm -rf "$S"
	# Forget this size's earlier figures; other sizes measured into DIR
	# before stay in the tables.
	for f in "$RES" "$INFO"; do
		awk -F'\t' -v s="$size" '$1 != s' "$f" >"$f.tmp" && mv "$f.tmp" "$f"
	done
	mkdir -p "$S/logs"
	L=$S/logs
	info "$size" shape "$services services × 2 environments × $days days, $dpd deploys a weekday per stream"
	info "$size" load_start "$(load1)"

	measure "$size" simulate "$L/simulate" "$BIN" --home "$S/home" --log-format text simulate \
		--services "$services" --days "$days" --deploys-per-day "$dpd" --seed "$SEED" --out "$S/import" --json
	info "$size" deployments "$(json_int "$L/simulate.out" deployments)"
	info "$size" metric_rows "$(json_int "$L/simulate.out" metric_rows)"
	info "$size" signature_rows "$(json_int "$L/simulate.out" signature_rows)"
	info "$size" disk_import "$(du_bytes "$S/import")"

	measure "$size" import "$L/import" "$BIN" --home "$S/home" --log-format text import --from "$S/import" --json
	info "$size" disk_store "$(du_bytes "$S/home/history")"
	[[ $KEEP == 1 ]] || rm -rf "$S/import"

	W=$S/work
	F=("$BIN" --home "$S/home" --log-format text)
	measure "$size" extract "$L/extract" "${F[@]}" extract --workdir "$W"
	measure "$size" label "$L/label" "${F[@]}" label --workdir "$W"
	measure "$size" train-weak "$L/train-weak" "${F[@]}" train --workdir "$W" --labels weak
	measure "$size" train-ensemble "$L/train-ensemble" "${F[@]}" train --workdir "$W" --labels ensemble
	measure "$size" evaluate "$L/evaluate" "${F[@]}" evaluate --workdir "$W"
	measure "$size" register "$L/register" "${F[@]}" registry register --workdir "$W" --source weak --alias candidate --json
	version=$(json_int "$L/register.out" version)
	model=$(sed -n 's/^  "name": "\(.*\)",$/\1/p' "$L/register.out" | head -n 1)
	OK_IF="promotion refused" measure "$size" promote "$L/promote" "${F[@]}" registry promote "$model" "$version" --alias production --workdir "$W"
	# The gate may refuse a candidate (small fleets): then the candidate's
	# bundle is exported instead, which costs the same.
	mkdir -p "$S/export"
	if "$BIN" --home "$S/home" registry aliases 2>/dev/null | grep -q '^production '; then
		measure "$size" export "$L/export" "${F[@]}" registry export "$model@production" --out "$S/export/bundle.tar.gz"
	else
		measure "$size" "export (candidate)" "$L/export" "${F[@]}" registry export "$model@$version" --out "$S/export/bundle.tar.gz"
	fi
	info "$size" disk_work "$(du_bytes "$W")"

	if [[ $RUN == 1 ]]; then
		run_whole "$size" "$S/home" "$L/run"
		info "$size" disk_run "$(du_bytes "$S/home/runs")"
	fi
	info "$size" disk_total "$(du_bytes "$S")"
	info "$size" import_kept "$KEEP"
	info "$size" load_end "$(load1)"
done

# The tables.
{
	echo "Machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); $(uname -sr); $("$BIN" version 2>/dev/null | head -n 1)."
	echo
	awk -F'\t' '
		FNR == NR { v[$1, $2] = $3; if ($2 == "deployments") { n = ns++; while (n > 0 && v[order[n], "deployments"] + 0 > $3 + 0) { order[n + 1] = order[n]; n-- } order[n + 1] = $1 } next }
		function gb(b) { return sprintf("%.2f GB", b / 1e9) }
		function peak(s) { return v[s, "disk_total"] + (v[s, "import_kept"] == 1 ? 0 : v[s, "disk_import"]) }
		function num(x,   s) { s = x ""; while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]($|,)/, ",&", s); return s }
		END {
			printf "| size | shape | deployments | metric rows | signature rows | import files | store | work dir | run folder | disk needed (≤) | load start → end |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
			for (i = 1; i <= ns; i++) { s = order[i]
				printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s → %s |\n", s, v[s, "shape"], num(v[s, "deployments"]), num(v[s, "metric_rows"]), num(v[s, "signature_rows"]), gb(v[s, "disk_import"]), gb(v[s, "disk_store"]), gb(v[s, "disk_work"]), ((s, "disk_run") in v ? gb(v[s, "disk_run"]) : "–"), gb(peak(s)), v[s, "load_start"], v[s, "load_end"]
			}
		}' "$INFO" /dev/null
	for kind in stage run; do
		echo
		if [[ $kind == stage ]]; then
			echo "Each stage as its own command (/usr/bin/time: wall, CPU = user + system, max RSS; 1-minute load before → after):"
		else
			echo "\`faultline run\` (stage wall times from its log; CPU and peak RSS sampled from /proc every ${SAMPLE} s; the whole run from /usr/bin/time):"
		fi
		echo
		awk -F'\t' -v kind="$kind" '
			FNR == NR { if ($2 == "deployments") { d[$1] = $3; n = ns++; while (n > 0 && d[order[n]] + 0 > $3 + 0) { order[n + 1] = order[n]; n-- } order[n + 1] = $1 } next }
			$2 != kind { next }
			{ if (!($3 in st)) { st[$3] = 1; stages[++nst] = $3 } w[$1, $3] = $4; c[$1, $3] = $5; r[$1, $3] = $6; l[$1, $3] = ($7 == "" ? "" : $7 " → " $8) }
			function mib(kb) { return kb == "" ? "" : sprintf("%.0f", kb / 1024) }
			function ratio(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "" : sprintf("%.1f×", a / b) }
			END {
				hdr = "| stage"; sep = "|---"
				for (i = 1; i <= ns; i++) { hdr = hdr sprintf(" | %s wall s | %s CPU s | %s peak MiB", order[i], order[i], order[i]); sep = sep "|---|---|---"; if (kind == "stage") { hdr = hdr sprintf(" | %s load", order[i]); sep = sep "|---" } }
				if (ns > 1) { hdr = hdr sprintf(" | growth %s/%s wall | CPU | peak", order[ns], order[1]); sep = sep "|---|---|---" }
				print hdr " |"; print sep "|"
				for (k = 1; k <= nst; k++) { s = stages[k]; line = "| " s
					for (i = 1; i <= ns; i++) { z = order[i]; line = line sprintf(" | %s | %s | %s", w[z, s], c[z, s], mib(r[z, s])); if (kind == "stage") line = line " | " l[z, s] }
					if (ns > 1) { a = order[ns]; b = order[1]; line = line sprintf(" | %s | %s | %s", ratio(w[a, s], w[b, s]), ratio(c[a, s], c[b, s]), ratio(r[a, s], r[b, s])) }
					print line " |"
				}
			}' "$INFO" "$RES"
	done
} | tee "$DIR/bench-scale.md"
