#!/bin/sh
# Writes starling.env for docker compose: starling.env.example with its
# placeholder tokens (webhook, ops, console) replaced by fresh random ones (48 hex characters each).
# Refuses to overwrite an existing file. Usage: scripts/compose-env.sh [OUT]
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$here/starling.env"}
if [ -e "$out" ]; then
    echo "compose-env: $out exists; remove it first to make new tokens" >&2
    exit 1
fi
token() {
    od -An -N24 -tx1 /dev/urandom | tr -d ' \n'
}
webhook=$(token)
ops=$(token)
console=$(token)
umask 077
sed -e "s/^STARLING__WEBHOOKS__SCRAPELY__TOKEN=.*/STARLING__WEBHOOKS__SCRAPELY__TOKEN=$webhook/" \
    -e "s/^STARLING__SERVER__OPS_TOKEN=.*/STARLING__SERVER__OPS_TOKEN=$ops/" \
    -e "s/^STARLING__CONSOLE__ADMIN_TOKEN=.*/STARLING__CONSOLE__ADMIN_TOKEN=$console/" \
    "$here/starling.env.example" > "$out"
echo "compose-env: wrote $out"
# The tokens are secrets: they stay in the file (mode 600), never on the terminal.
echo "Console login: STARLING__CONSOLE__ADMIN_TOKEN from $out"
echo "Scrapely webhook URL: https://<your-host>/webhooks/scrapely/<STARLING__WEBHOOKS__SCRAPELY__TOKEN from $out>"
