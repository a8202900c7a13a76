#!/usr/bin/env bash
# Install the keyhole sandbox provider into a Paperclip instance, as root:
# copy the plugin to DEST, write DEST/host.json (what the plugin may run
# and show on this host), give it Paperclip's plugin SDK, and register it
# with `paperclipai plugin install DEST`.  README.md, "Paperclip's agents
# in a keyhole sandbox", has the whole procedure.
#
#   bash paperclip-plugin/install.sh [options] [-- options of paperclipai plugin install]
#
#   --dest DIR            where the plugin lives (default /usr/local/lib/keyhole/paperclip-plugin);
#                         Paperclip runs it from there: do not remove it while installed
#   --keyhole PATH        keyhole binary (default /usr/local/bin/keyhole)
#   --policy-dir DIR      policies an environment may name (default /usr/local/share/keyhole/policy)
#   --root-dir DIR        lease state and keyhole logs (default /var/lib/keyhole-paperclip)
#   --ro-bind PATH        a host path sandboxes see read-only, e.g. the agent's CLI (repeatable)
#   --paperclip-url URL   Paperclip's URL for keyhole (default: the one Paperclip gives each run)
#   --uid-base N          first uid of the per-lease sandbox users (default 1500000000)
#   --sdk-from DIR        a node_modules holding @paperclipai/plugin-sdk (e.g. Paperclip's own,
#                         offline); default: npm install from the registry
#   --paperclipai CMD     the paperclipai CLI (default: paperclipai on PATH)
#   --no-register         install and configure only
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=/usr/local/lib/keyhole/paperclip-plugin
keyhole=/usr/local/bin/keyhole
policy_dir=/usr/local/share/keyhole/policy
root_dir=/var/lib/keyhole-paperclip
paperclip_url=
uid_base=1500000000
sdk_from=
paperclipai=paperclipai
register=1
ro_binds=()
die() { echo "install.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --dest) dest=$2; shift 2 ;;
    --keyhole) keyhole=$2; shift 2 ;;
    --policy-dir) policy_dir=$2; shift 2 ;;
    --root-dir) root_dir=$2; shift 2 ;;
    --ro-bind) ro_binds+=("$2"); shift 2 ;;
    --paperclip-url) paperclip_url=$2; shift 2 ;;
    --uid-base) uid_base=$2; shift 2 ;;
    --sdk-from) sdk_from=$2; shift 2 ;;
    --paperclipai) paperclipai=$2; shift 2 ;;
    --no-register) register=0; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

[ "$(id -u)" = 0 ] || die "run as root: the plugin runs as Paperclip's user, which must be root to build sandboxes"
command -v bwrap >/dev/null || die "bubblewrap is missing: apt-get install bubblewrap"
for t in nsenter setpriv timeout; do command -v "$t" >/dev/null || die "$t is missing"; done
"$keyhole" --version >/dev/null || die "$keyhole does not run: install keyhole first"
[ -r "$policy_dir/paperclip.policy" ] || die "no $policy_dir/paperclip.policy"
json_str() {   # a path or URL as a JSON string; refuse what needs escaping
  case "$1" in *[\"\\]*|*[[:cntrl:]]*) die "unsupported character in '$1'" ;; esac
  printf '"%s"' "$1"
}
case "$dest" in /*) ;; *) die "--dest must be absolute" ;; esac
[[ "$uid_base" =~ ^[0-9]+$ ]] || die "--uid-base must be a number"

# The plugin's files, owned by root and writable by root only: host.json
# must not be changeable by anyone Paperclip's API could speak for.
install -d -m 755 "$dest" "$dest/lib"
install -m 644 "$here/package.json" "$here/manifest.js" "$here/worker.js" "$dest/"
install -m 644 "$here"/lib/*.js "$dest/lib/"
{
  printf '{\n  "keyhole": %s,\n  "policyDir": %s,\n  "rootDir": %s,\n' \
    "$(json_str "$keyhole")" "$(json_str "$policy_dir")" "$(json_str "$root_dir")"
  printf '  "uidBase": %s,\n  "roBinds": [' "$uid_base"
  sep=
  for b in "${ro_binds[@]}"; do printf '%s%s' "$sep" "$(json_str "$b")"; sep=", "; done
  printf ']'
  [ -n "$paperclip_url" ] && printf ',\n  "paperclipUrl": %s' "$(json_str "$paperclip_url")"
  printf '\n}\n'
} > "$dest/host.json.tmp"
chmod 644 "$dest/host.json.tmp"
mv -f "$dest/host.json.tmp" "$dest/host.json"
chown -R root:root "$dest"

if [ -n "$sdk_from" ]; then
  [ -f "$sdk_from/@paperclipai/plugin-sdk/package.json" ] || die "no @paperclipai/plugin-sdk in $sdk_from"
  rm -rf "$dest/node_modules"
  ln -s "$sdk_from" "$dest/node_modules"
else
  (cd "$dest" && npm install --omit=dev --no-audit --no-fund --ignore-scripts --loglevel=error)
fi
echo "keyhole sandbox provider installed in $dest"

if [ "$register" = 1 ]; then
  # shellcheck disable=SC2086  # CMD may be "node /path/to/paperclipai/dist/index.js"
  $paperclipai plugin install "$dest" "$@"
fi
