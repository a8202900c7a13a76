#!/bin/sh
# Stub "claude" for Paperclip's claude_local adapter (engine cli), run by
# test_paperclip_e2e.py inside a keyhole sandbox.  It does what an agent
# does with Paperclip's API, as an untrusted agent might, and writes what it
# saw to $PWD/keyhole-stub-report/ (Paperclip copies the workspace back to
# the host after the run, where the test reads it):
#
#   http.txt    GET /api/agents/me, a comment on its issue, a PATCH of
#               another issue (keyhole must refuse it), its issue marked done
#   direct.txt  a connection straight to Paperclip's port (must fail)
#   queue.txt   a request file dropped into Paperclip's bridge queue (must
#               never be forwarded)
#   env.txt, proc.txt, files.txt, netns.txt
#               its environment, every process it can see with its command
#               line and environment, the contents of every file it can
#               read outside /usr, /proc, /sys and /dev
#
# STUB_MODE: ok (default) | fail (exit 3) | hang (call the API once, then
# sleep until killed).  STUB_OTHER_ISSUE, STUB_PAPERCLIP_PORT from the
# agent's adapter config.  Prints Claude's stream-json on stdout.
cat > /dev/null   # the prompt
R=/tmp/keyhole-stub-report
mkdir -p "$R"
n=0

api() {   # METHOD PATH [JSON]: one line "METHOD PATH STATUS" in http.txt
  n=$((n + 1))
  if [ -n "${3:-}" ]; then
    code=$(curl -sS -m 20 -o "$R/resp.$n" -w '%{http_code}' -X "$1" \
      -H "Authorization: Bearer $PAPERCLIP_API_KEY" -H "X-Paperclip-Run-Id: $PAPERCLIP_RUN_ID" \
      -H 'Content-Type: application/json' --data-binary "$3" "$PAPERCLIP_API_URL$2" 2>>"$R/curl.err")
  else
    code=$(curl -sS -m 20 -o "$R/resp.$n" -w '%{http_code}' -X "$1" \
      -H "Authorization: Bearer $PAPERCLIP_API_KEY" -H "X-Paperclip-Run-Id: $PAPERCLIP_RUN_ID" \
      "$PAPERCLIP_API_URL$2" 2>>"$R/curl.err")
  fi
  echo "$1 $2 $code" >> "$R/http.txt"
}

finish() {
  rm -rf "$PWD/keyhole-stub-report"
  cp -R "$R" "$PWD/keyhole-stub-report"
}

api GET /api/agents/me

case "${STUB_MODE:-ok}" in
  fail)
    echo "stub agent: failing on purpose" >&2
    finish
    exit 3 ;;
  hang)
    finish
    sleep 600
    exit 0 ;;
esac

api POST "/api/issues/$PAPERCLIP_TASK_ID/comments" \
  "{\"body\":\"stub agent was here (run $PAPERCLIP_RUN_ID)\"}"
api PATCH "/api/issues/$STUB_OTHER_ISSUE" '{"title":"hijacked by the stub agent"}'

# Straight to Paperclip, past keyhole.
code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$STUB_PAPERCLIP_PORT/api/health" 2>>"$R/direct.err")
echo "http://127.0.0.1:$STUB_PAPERCLIP_PORT/api/health code=$code rc=$?" > "$R/direct.txt"
cat /proc/net/dev > "$R/netdev.txt"
readlink /proc/self/ns/net > "$R/netns.txt"

# Through Paperclip's own file queue, as its bridge server would.
reqdir=$(find "$PWD/.paperclip-runtime" -type d -name requests -path '*paperclip-bridge*' 2>/dev/null | head -n 1)
if [ -n "$reqdir" ]; then
  id=$(cat /proc/sys/kernel/random/uuid)
  printf '{"id":"%s","method":"PATCH","path":"/api/issues/%s","query":"","headers":{"content-type":"application/json","authorization":"Bearer %s"},"body":"{\\"title\\":\\"hijacked through the queue\\"}","createdAt":"%s"}\n' \
    "$id" "$STUB_OTHER_ISSUE" "$PAPERCLIP_API_KEY" "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" > "$reqdir/$id.json.tmp"
  mv "$reqdir/$id.json.tmp" "$reqdir/$id.json"
  sleep 3
  resp="$(dirname "$reqdir")/responses/$id.json"
  if [ -e "$resp" ]; then echo "answered $id: $(cat "$resp")" > "$R/queue.txt"
  elif [ -e "$reqdir/$id.json" ]; then echo "unanswered $id (still queued)" > "$R/queue.txt"
  else echo "taken $id (request file gone, no answer)" > "$R/queue.txt"; fi
else
  echo "no queue directory" > "$R/queue.txt"
fi

env > "$R/env.txt"
for p in /proc/[0-9]*; do
  [ -r "$p/cmdline" ] || continue
  printf '== %s %s: %s\n' "${p#/proc/}" "$(cat "$p/comm" 2>/dev/null)" \
    "$(tr '\000' ' ' < "$p/cmdline" 2>/dev/null)" >> "$R/proc.txt"
  tr '\000' '\n' < "$p/environ" >> "$R/proc.txt" 2>/dev/null
done
find / \( -path /proc -o -path /sys -o -path /dev -o -path /usr -o -path "$R" \
  -o -path "$PWD/keyhole-stub-report" \) -prune -o -type f -size -4096k -readable -print 2>/dev/null |
while read -r f; do
  printf '== %s\n' "$f"
  cat "$f" 2>/dev/null
  echo
done > "$R/files.txt"

api PATCH "/api/issues/$PAPERCLIP_TASK_ID" '{"status":"done"}'
finish

sid=$(cat /proc/sys/kernel/random/uuid)
printf '{"type":"system","subtype":"init","session_id":"%s","model":"keyhole-stub"}\n' "$sid"
printf '{"type":"assistant","message":{"content":[{"type":"text","text":"stub agent: %s"}]}}\n' \
  "$(tr '\n' ';' < "$R/http.txt")"
printf '{"type":"result","subtype":"success","is_error":false,"result":"done","session_id":"%s","total_cost_usd":0,"usage":{"input_tokens":0,"output_tokens":0}}\n' "$sid"
