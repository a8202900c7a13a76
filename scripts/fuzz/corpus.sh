# Corpus hygiene (sourced by scripts/fuzz.sh).
#
# scripts/fuzz.sh corpus TARGET|all [afl]
#   Minimise the working corpus $KH_FUZZ_CORPUS/<name> (grown by both
#   engines) to the smallest set with the same coverage: libFuzzer's
#   -merge=1 by default, afl-cmin with "afl" (AFL++'s edge tuples).
#
# scripts/fuzz.sh seeds TARGET|all [MAXBYTES]
#   Refresh the checked-in seeds tests/fuzz/corpus/<name>/ from the working
#   corpus: libFuzzer's -merge=1 adds to a copy of the seeds those working
#   inputs of at most MAXBYTES (default 512: seeds stay small and readable)
#   that reach features the seeds do not; the $KH_SEEDS_MAX (default 8)
#   smallest are copied in as new-<sha1 prefix>.  Review them
#   (scripts/fuzz.sh coverage <name> shows what they reach), rename each
#   after what it exercises, commit.  It also lists the checked-in seeds
#   whose features the other seeds already reach (merge into an empty
#   directory): candidates to delete, not deleted -- a named seed may
#   document a property the coverage figures do not show.

corpus_one() {
  local name=$1 engine=$2 work=$work_root/$1 new before
  new=$work_root/.min-$name
  if [ -z "$(ls -A "$work" 2>/dev/null)" ]; then
    echo "corpus $name: no working corpus in $work"
    return 0
  fi
  before=$(ls "$work" | wc -l)
  rm -rf "$new"
  mkdir -p "$new"
  if [ "$engine" = afl ]; then
    afl_env
    rmdir "$new"
    AFL_QUIET=1 afl-cmin -i "$work" -o "$new" -t 10000 -- \
      "$afl_build/fuzz_$name" - >"$work_root/cmin-$name.log" 2>&1 ||
      { tail -20 "$work_root/cmin-$name.log"; return 1; }
  else
    "$build/fuzz_$name" -merge=1 -close_fd_mask=2 "$new" "$work" \
      >"$work_root/merge-$name.log" 2>&1 ||
      { tail -20 "$work_root/merge-$name.log"; return 1; }
  fi
  rm -rf "$work"
  mv "$new" "$work"
  echo "corpus $name: $before -> $(ls "$work" | wc -l) inputs ($engine)"
}

corpus_main() {
  local what=$1 engine=${2:-libfuzzer}
  case $engine in
    afl) . scripts/fuzz/afl.sh; build_afl ;;
    libfuzzer) build_fuzzers ;;
    *) usage ;;
  esac
  each corpus_one "$what" "$engine"
}

# The files of DIR whose bytes are not those of any file of DIR2.
new_files() {
  awk 'NR == FNR { have[$1]; next } !($1 in have) { sub(/^[0-9a-f]+  /, ""); print }' \
    <(cd "$2" && sha1sum -- * 2>/dev/null) <(cd "$1" && sha1sum -- * 2>/dev/null)
}

seeds_one() {
  local name=$1 max=$2 seeds=$seeds_root/$1 work=$work_root/$1
  local st=$build/seeds/$1 f n=0 added=() spare=()
  rm -rf "$st"
  mkdir -p "$st/base" "$st/cand" "$st/min"
  cp "$seeds"/* "$st/base/"
  if [ -n "$(ls -A "$work" 2>/dev/null)" ]; then
    find "$work" -maxdepth 1 -type f -size -"$((max + 1))"c -exec cp {} "$st/cand/" \;
    "$build/fuzz_$name" -merge=1 -close_fd_mask=2 "$st/base" "$st/cand" \
      >"$st/merge.log" 2>&1 || { tail -20 "$st/merge.log"; return 1; }
    while read -r f; do
      [ $n -lt "${KH_SEEDS_MAX:-8}" ] || break
      cp "$st/base/$f" "$seeds/new-$(sha1sum <"$st/base/$f" | cut -c1-12)"
      added+=("new-$(sha1sum <"$st/base/$f" | cut -c1-12)")
      n=$((n + 1))
    done < <(new_files "$st/base" "$seeds" | while read -r f; do
               echo "$(stat -c %s "$st/base/$f") $f"; done | sort -n | cut -d' ' -f2)
  fi
  # Which checked-in seeds add nothing to the others?
  "$build/fuzz_$name" -merge=1 -close_fd_mask=2 "$st/min" "$seeds" \
    >"$st/min.log" 2>&1 || { tail -20 "$st/min.log"; return 1; }
  mapfile -t spare < <(new_files "$seeds" "$st/min")
  echo "seeds $name: $(ls "$seeds" | wc -l) checked in;" \
    "added ${#added[@]}${added:+: ${added[*]}}"
  [ ${#spare[@]} = 0 ] ||
    echo "seeds $name: reach nothing the others do not (candidates to delete): ${spare[*]}"
}

seeds_main() {
  local what=$1 max=${2:-512}
  case $max in *[!0-9]*|'') usage ;; esac
  build_fuzzers
  each seeds_one "$what" "$max"
}
