#!/usr/bin/env bash
# Prepares the browser tests: Debian's Chromium (Playwright cannot download browsers here),
# the npm packages the tests inject (axe-core) and the test OpenID Connect provider
# (oidc-provider, in e2e/idp). Idempotent; silent when nothing to do.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ ! -x /usr/bin/chromium ]]; then
    echo "e2e/setup.sh: installing Debian's chromium (apt-get; about a minute)"
    sudo=""
    [[ $EUID -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    echo "e2e/setup.sh: $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium installed')"
fi

# e2e/ (axe-core) and e2e/idp/ (oidc-provider, the test OpenID Connect provider).
for dir in "$here" "$here/idp"; do
    if [[ ! -d "$dir/node_modules" || "$dir/package-lock.json" -nt "$dir/node_modules" ]]; then
        echo "e2e/setup.sh: npm ci in ${dir#"$(dirname "$here")/"}/"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
        touch "$dir/node_modules"  # npm ci may keep the directory's old mtime
    fi
done
