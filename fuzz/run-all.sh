#!/usr/bin/env bash
# Run every fuzz target for SECS seconds (default 240), two at a time. Findings land in
# fuzz/artifacts/TARGET/; a summary in fuzz/run.log.
set -u
cd "$(dirname "$0")"
secs=${1:-240}
# A false leak, seen once in a long run: the main thread's thread-local destructor record
# (glibc, __cxa_thread_atexit_impl) lives until the thread exits (fish-shell/fish-shell#9764).
export LSAN_OPTIONS="suppressions=$PWD/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
targets=(iptables_save tokenizer nft_json nft_text docker_json facts capture_single whole_capture paste)
run() {
  local t=$1
  cargo +nightly fuzz run -O "$t" -- -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 >"run-$t.log" 2>&1
  echo "$t exit=$? $(grep -E '^#[0-9]+.*(DONE|pulse)' "run-$t.log" | tail -1)" >> run.log
}
: > run.log
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  run "${targets[i]}" &
  [ -n "${targets[i+1]:-}" ] && run "${targets[i+1]}" &
  wait
done
