# `scripts/fuzz.sh coverage [TARGET|all]` (sourced by scripts/fuzz.sh):
# what the corpora reach.
#
# Builds the replay programs (tests/fuzz/replay_main.c + each harness, the
# ones ctest runs) with clang's source-based coverage
# (-fprofile-instr-generate -fcoverage-mapping, no sanitizer) in
# $KH_COV_BUILD (default build-cov), replays the checked-in seeds and the
# working corpus ($KH_FUZZ_CORPUS/<name>, which both engines grow), and
# writes with llvm-cov, for each target and for all of them together:
#   build-cov/report/<name>/index.html    line and branch counts, src/ only
#   build-cov/report/<name>/summary.txt   one line per file under src/:
#                                         lines and branches covered
# The "all" summary also names the files under src/ that no harness links.

cov_tool() {
  local v
  v=$(clang --version | sed -nE 's/.*clang version ([0-9]+).*/\1/p' | head -1)
  if command -v "$1-$v" >/dev/null; then echo "$1-$v"; else need "$1"; echo "$1"; fi
}

build_cov() {
  local t targets=()
  need clang
  for t in "$@"; do targets+=(--target "replay_$t"); done
  cmake -S . -B "$cov_build" -DCMAKE_C_COMPILER=clang \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS="-fprofile-instr-generate -fcoverage-mapping" >/dev/null
  nice -n 10 cmake --build "$cov_build" "${targets[@]}" -j"$(nproc)" \
    >"$cov_build/build.log" 2>&1 || { tail -30 "$cov_build/build.log"; return 1; }
}

# Replay one target's seeds and working corpus; leaves <name>.profdata.
cov_run() {
  local name=$1 prof=$cov_build/prof/$1 dirs=("$seeds_root/$1") n
  rm -rf "$prof"
  mkdir -p "$prof"
  [ -n "$(ls -A "$work_root/$name" 2>/dev/null)" ] && dirs+=("$work_root/$name")
  n=$(find "${dirs[@]}" -maxdepth 1 -type f | wc -l)
  if ! LLVM_PROFILE_FILE="$prof/%p.profraw" "$cov_build/replay_$name" \
       "${dirs[@]}" >"$prof/replay.log" 2>&1; then
    echo "fuzz.sh coverage: replay_$name failed on its corpus:" >&2
    tail -20 "$prof/replay.log" >&2
    return 1
  fi
  "$profdata" merge -sparse -o "$cov_build/prof/$name.profdata" "$prof"/*.profraw
  echo "$n inputs: $(ls "$seeds_root/$name" | wc -l) seeds + $(( n - $(ls "$seeds_root/$name" | wc -l) )) working corpus" \
    >"$cov_build/prof/$name.inputs"
}

# cov_report NAME PROFDATA BINARY... : HTML and summary.txt for src/.
cov_report() {
  local name=$1 pd=$2 out=$cov_build/report/$1 objs=() b; shift 2
  rm -rf "$out"
  mkdir -p "$out"
  objs=("$1"); shift
  for b in "$@"; do objs+=(-object "$b"); done
  "$llvmcov" show "${objs[@]}" -instr-profile="$pd" -format=html \
    -show-branches=count -show-line-counts-or-regions -output-dir="$out" \
    "$src/src" >/dev/null
  "$llvmcov" export "${objs[@]}" -instr-profile="$pd" -summary-only \
    "$src/src" >"$out/summary.json"
  python3 - "$out/summary.json" "$src" "$name" "$cov_build/prof/$name.inputs" \
    >"$out/summary.txt" <<'EOF'
import json, os, sys
data, src, name, inputs = sys.argv[1:5]
files = json.load(open(data))["data"][0]["files"]
def pct(c, n):
    return "%5.1f%%" % (100.0 * c / n) if n else "    -"
print("%s: %s" % (name, open(inputs).read().strip() if os.path.exists(inputs) else ""))
print("%-36s %16s %16s" % ("file", "lines", "branches"))
seen = set()
tl = tb = cl = cb = 0
for f in sorted(files, key=lambda f: f["filename"]):
    rel = os.path.relpath(f["filename"], src)
    seen.add(rel)
    l, b = f["summary"]["lines"], f["summary"]["branches"]
    if l["count"] == 0:
        continue    # a header of constants and prototypes
    tl += l["count"]; cl += l["covered"]; tb += b["count"]; cb += b["covered"]
    print("%-36s %9s %6s %9s %6s" % (rel, "%d/%d" % (l["covered"], l["count"]),
          pct(l["covered"], l["count"]), "%d/%d" % (b["covered"], b["count"]),
          pct(b["covered"], b["count"])))
print("%-36s %9s %6s %9s %6s" % ("total", "%d/%d" % (cl, tl), pct(cl, tl),
      "%d/%d" % (cb, tb), pct(cb, tb)))
if name == "all":
    unlinked = []
    for d, _, fs in os.walk(os.path.join(src, "src")):
        for fn in fs:
            rel = os.path.relpath(os.path.join(d, fn), src)
            if fn.endswith(".c") and rel not in seen:
                unlinked.append(rel)
    print("not linked into any harness: " + (" ".join(sorted(unlinked)) or "none"))
EOF
}

coverage_main() {
  local t names=() pds=() bins=()
  need python3
  pick "$1" >/dev/null
  mapfile -t names < <(pick "$1")
  profdata=$(cov_tool llvm-profdata)
  llvmcov=$(cov_tool llvm-cov)
  build_cov "${names[@]}"
  for t in "${names[@]}"; do
    cov_run "$t"
    cov_report "$t" "$cov_build/prof/$t.profdata" "$cov_build/replay_$t"
    pds+=("$cov_build/prof/$t.profdata")
    bins+=("$cov_build/replay_$t")
    [ "$quiet" = 1 ] || cat "$cov_build/report/$t/summary.txt"
  done
  if [ "$1" = all ]; then
    # Every harness has its own LLVMFuzzerTestOneInput (and helpers of the
    # same names): llvm warns of their "mismatched data".  They are under
    # tests/, outside the report; the code under src/ is the same object
    # code in every binary.
    "$profdata" merge -sparse -o "$cov_build/prof/all.profdata" "${pds[@]}" \
      2>"$cov_build/prof/all.warnings"
    cat "$cov_build/prof/"*.inputs | awk '{ n += $1 } END { print n " inputs over every target" }' \
      >"$cov_build/prof/all.inputs"
    cov_report all "$cov_build/prof/all.profdata" "${bins[@]}" \
      2>>"$cov_build/prof/all.warnings"
    cat "$cov_build/report/all/summary.txt"
  fi
  echo "fuzz.sh coverage: reports in $cov_build/report/<target>/index.html" \
    "and summary.txt"
}
