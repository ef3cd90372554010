# bench/js.sh - JavaScript processor figures for `make bench`; sourced by bench/run.sh
# after its file-sink run (it uses run.sh's servers, WAL, slots sl_js_id and sl_js_fm,
# run_reader, spec-writing conventions and $file_s). Measures:
#   1. the processor alone: bench/js_bench.c (built here against the objects `make`
#      built) runs the file sink's real events through an identity script and a
#      filter+mutate script, batches of 1000, one thread;
#   2. the pipeline: `sluice run` PostgreSQL -> processor -> file sink on the same WAL,
#      compared with run.sh's run without a processor.
# Sets js_report (a Markdown section run.sh appends to its report).

js_identity='function process(batch) { return batch; }'
js_filter_mutate='function process(batch) {
  return batch.filter(function (e) { return e.after.v % 2 === 0; })
              .map(function (e) {
                e.after.s = e.after.s.toUpperCase();
                e.after.even = true;
                return e;
              });
}'
printf '%s\n' "$js_identity" >"$w/identity.js"
printf '%s\n' "$js_filter_mutate" >"$w/filter_mutate.js"

echo "bench: building bench/js_bench.c ..."
js_objs=$(ls build/obj/src/*.o build/obj/sources/*/*.o build/obj/processors/*/*.o \
    build/obj/sinks/*/*.o build/obj/api/*.o build/obj/duktape.o 2>/dev/null | grep -v '/main\.o$')
js_pkgs=$(make -s --no-print-directory print-pkgs)   # the Makefile's PKGS
# shellcheck disable=SC2086
cc -std=c11 -O2 -g -Isrc -Iapi -I/usr/share/duktape $(pkg-config --cflags $js_pkgs) \
    -o "$w/js_bench" bench/js_bench.c $js_objs $(pkg-config --libs $js_pkgs) -lm -pthread \
    || { echo "bench: cannot build js_bench" >&2; exit 1; }

JS_EVENTS=${BENCH_JS_EVENTS:-100000}
echo "bench: JavaScript processor alone ($JS_EVENTS events x 3 rounds, batches of 1000) ..."
"$w/js_bench" "$w/events.jsonl" "$w/identity.js" 1000 "$JS_EVENTS" 3 >"$w/js_id.bench" ||
    fail "js_bench (identity) failed"
"$w/js_bench" "$w/events.jsonl" "$w/filter_mutate.js" 1000 "$JS_EVENTS" 3 >"$w/js_fm.bench" ||
    fail "js_bench (filter+mutate) failed"
read -r _ js_id_out js_id_s js_id_r js_id_cpu <"$w/js_id.bench" || fail "js_bench printed nothing"
read -r _ js_fm_out js_fm_s js_fm_r js_fm_cpu <"$w/js_fm.bench" || fail "js_bench printed nothing"

js_spec() {   # js_spec NAME SLOT SCRIPTFILE
    spec "$1" "$2" "    - {type: file, config: {id: f, path: $w/$1.jsonl}}" \
        "  processors:
    - {type: javascript, id: js, file: \"$3\", limits: {cpu_ms: 2000, timeout_ms: 5000}}"
}
js_spec js_id sl_js_id "$w/identity.js"
js_spec js_fm sl_js_fm "$w/filter_mutate.js"
echo "bench: sluice -> identity processor -> file ..."
run_reader js_id sl_js_id ./sluice run "$w/js_id.yaml" --data-dir "$w/data" || exit 1
read -r jsp_id_s jsp_id_rss <"$w/js_id.res"
echo "bench: sluice -> filter+mutate processor -> file ..."
run_reader js_fm sl_js_fm ./sluice run "$w/js_fm.yaml" --data-dir "$w/data" || exit 1
read -r jsp_fm_s jsp_fm_rss <"$w/js_fm.res"
js_id_lines=$(wc -l <"$w/js_id.jsonl")
js_fm_lines=$(wc -l <"$w/js_fm.jsonl")
# Identity must change nothing: the same bytes as the run without a processor, except the
# top-level ts_ms/ts_us/ts_ns (when sluice processed the event) and source.name (the
# pipeline), which differ from run to run.
js_strip() {
    sed -E -e 's/"ts_ms":[0-9]+,"ts_us":[0-9]+,"ts_ns":[0-9]+,"transaction"/"transaction"/' \
        -e 's/"connector":"postgresql","name":"[^"]*"/"connector":"postgresql"/' "$1"
}
if cmp -s <(js_strip "$w/js_id.jsonl") <(js_strip "$w/events.jsonl"); then
    js_same="byte-identical to the run without a processor"
else
    js_same="DIFFERENT from the run without a processor"
fi

js_rate() { echo "$ROWS / $1" | bc -l | xargs printf "%.0f"; }
js_slow() { echo "$1 / $file_s" | bc -l | xargs printf "%.2f"; }
js_report=$(cat <<TXT

| JavaScript processor alone (Duktape, 1 thread, batches of 1000) | events/s in | µs/event | events out |
|---|---|---|---|
| identity | $js_id_r | $(echo "1000000 / $js_id_r" | bc -l | xargs printf "%.2f") | $js_id_out |
| filter (half) + mutate | $js_fm_r | $(echo "1000000 / $js_fm_r" | bc -l | xargs printf "%.2f") | $js_fm_out |

| pipeline with a processor (-> file) | seconds | events/s | slowdown vs no processor | peak RSS |
|---|---|---|---|---|
| no processor (above) | $(printf %.2f "$file_s") | $(js_rate "$file_s") | 1.00 | $((file_rss / 1024)) MB |
| identity | $(printf %.2f "$jsp_id_s") | $(js_rate "$jsp_id_s") | $(js_slow "$jsp_id_s") | $((jsp_id_rss / 1024)) MB |
| filter (half) + mutate | $(printf %.2f "$jsp_fm_s") | $(js_rate "$jsp_fm_s") | $(js_slow "$jsp_fm_s") | $((jsp_fm_rss / 1024)) MB |

Identity output: $js_id_lines lines, $js_same; filter+mutate: $js_fm_lines lines.
TXT
)
