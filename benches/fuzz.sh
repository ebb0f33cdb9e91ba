#!/usr/bin/env bash
# Fuzzes each parser of untrusted input (issue 12, item 12) for SECONDS (default 600) per target, one target
# at a time with -jobs=1, and prints libFuzzer's final figures: executions (#N DONE), cov and ft.
# Not CI: needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
#
#   benches/fuzz.sh [SECONDS]            every target
#   TARGETS="state cursor" benches/fuzz.sh 60
#
# Seeds are committed in fuzz/seeds/TARGET; what the fuzzer finds grows fuzz/corpus/TARGET (ignored by
# git). A crash leaves its input in fuzz/artifacts/TARGET and makes the script exit 1 after the others ran.
set -u
secs=${1:-600}
cd "$(dirname "$0")/../fuzz" || exit 2
targets=${TARGETS:-"cursor config plot_attributes stac state"}
# No sanitizer: the targets and what they reach are safe Rust, so ASan would only halve the speed.
flags=(-O --sanitizer none)
cargo +nightly fuzz build "${flags[@]}" || exit 2
bin=$PWD/target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release
failed=0
printf '%-16s %8s %14s %8s %8s %s\n' target seconds execs cov ft result
for t in $targets; do
  mkdir -p "corpus/$t" "logs/$t" "artifacts/$t"
  rm -f "logs/$t"/fuzz-*.log
  start=$(date +%s)
  # The binary cargo fuzz built, run directly: with -jobs=1 libFuzzer writes the run to fuzz-0.log in
  # the working folder, so each target gets its own.
  (cd "logs/$t" && "$bin/$t" -artifact_prefix="../../artifacts/$t/" "../../corpus/$t" "../../seeds/$t" \
    -max_total_time="$secs" -jobs=1 -timeout=10 -print_final_stats=1 >run.log 2>&1)
  rc=$?
  took=$(($(date +%s) - start))
  log="logs/$t/fuzz-0.log"
  [ -f "$log" ] || log="logs/$t/run.log"
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+$')
  [ -n "$execs" ] || execs=$(echo "$done_line" | grep -oE '^#[0-9]+' | tr -d '#')
  last=$(grep -E 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
  cov=$(echo "$last" | grep -oE 'cov: [0-9]+' | grep -oE '[0-9]+')
  ft=$(echo "$last" | grep -oE 'ft: [0-9]+' | grep -oE '[0-9]+')
  result=clean
  if [ "$rc" -ne 0 ] || grep -qE 'panicked|ERROR: libFuzzer|SUMMARY' "$log"; then
    result="FAILED (rc $rc, see fuzz/$log and fuzz/artifacts/$t)"
    failed=1
  fi
  printf '%-16s %8s %14s %8s %8s %s\n' "$t" "$took" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$result"
  [ -n "$done_line" ] && echo "    $done_line"
done
exit $failed
