#!/usr/bin/env bash
# Install what is missing, build, and run the demo: keyhole with
# policy/paperclip.policy, bound to the run's issue BRI-7 (--var
# issue=BRI-7), in front of a local stand-in for the Paperclip API, then a
# few requests from "the sandbox" with their outcomes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh

work=$(mktemp -d /tmp/keyhole-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cred="demo-credential-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
token="bridge-token-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
umask 077
printf '%s' "$cred" > "$work/credential"
printf '%s' "$token" > "$work/token"

DEMO_CREDENTIAL="$cred" python3 scripts/demo_upstream.py 0 > "$work/upstream.port" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/upstream.port" ] && break; sleep 0.1; done
uport=$(cat "$work/upstream.port")

build/keyhole serve --policy policy/paperclip.policy \
  --upstream "http://127.0.0.1:$uport" --credential-file "$work/credential" \
  --token-file "$work/token" --run-id demo-run-1 --var issue=BRI-7 \
  --listen tcp:127.0.0.1:0 \
  --ready-file "$work/ready.json" 2> "$work/keyhole.log" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/ready.json" ] && break; sleep 0.1; done
[ -s "$work/ready.json" ] || { cat "$work/keyhole.log"; echo "keyhole did not start" >&2; exit 1; }
base=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["baseUrl"])' "$work/ready.json")

echo "keyhole is serving at $base (ready file: $(cat "$work/ready.json"))"
echo "The sandbox holds only the bridge token; the upstream credential stays in keyhole's parent."
echo

show() {
  local what=$1; shift
  echo "== $what"
  printf '   $ curl'; printf ' %q' "$@"; echo
  curl -sS -o "$work/body" -w '   -> HTTP %{http_code}\n' "$@" || true
  sed 's/^/      /' "$work/body"; echo; echo
}
auth=(-H "Authorization: Bearer $token")
show "allowed: GET /api/agents/me (credential injected upstream)" \
  "${auth[@]}" "$base/api/agents/me"
show "allowed: POST a comment (JSON body; x-evil header dropped)" \
  "${auth[@]}" -H 'content-type: application/json' -H 'x-evil: 1' \
  -d '{"body":"hello from the sandbox"}' "$base/api/issues/BRI-7/comments"
show "another issue: PATCH /api/issues/BRI-8 -> 403 (writes are bound to {issue}=BRI-7)" \
  "${auth[@]}" -X PATCH -H 'content-type: application/json' \
  -d '{"status":"done"}' "$base/api/issues/BRI-8"
show "own issue, unlisted key: PATCH /api/issues/BRI-7 {\"assigneeAdapterOverrides\"} -> 422" \
  "${auth[@]}" -X PATCH -H 'content-type: application/json' \
  -d '{"status":"done","assigneeAdapterOverrides":{}}' "$base/api/issues/BRI-7"
show "denied route: DELETE /api/issues/BRI-7 -> 403" \
  "${auth[@]}" -X DELETE "$base/api/issues/BRI-7"
show "path trick: /api/issues/X/interactions/../accept -> rejected, never forwarded" \
  "${auth[@]}" --path-as-is -X POST -H 'content-type: application/json' -d '{}' \
  "$base/api/issues/X/interactions/../accept"
show "bad token -> 401" \
  -H "Authorization: Bearer not-the-token" "$base/api/agents/me"
echo "== keyhole's log (written by the parent only):"
sed 's/^/   /' "$work/keyhole.log"
