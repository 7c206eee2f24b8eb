#!/usr/bin/env bash
# Builds converge for pull-mode hosts: one tarball of this checkout's package
# (bin, dist, schemas, states: what `npm pack` ships) with its production
# node_modules, runnable by Debian 13's nodejs package with nothing else:
#   scripts/pack-host.sh OUT.tar.gz
# Put it in your state tree (e.g. states/files/converge.tar.gz) for the
# pull/agent state to install at /opt/converge. Needs npm and the npm
# registry (or its cache) on the machine that builds it, not on the hosts.
set -euo pipefail
out=${1:?usage: scripts/pack-host.sh OUT.tar.gz}
case $out in /*) ;; *) out=$PWD/$out ;; esac
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
npm run build --silent
tgz=$(npm pack --silent --pack-destination "$work" | tail -1)
tar -xzf "$work/$tgz" -C "$work"
cp package-lock.json "$work/package/"
# --ignore-scripts: `prepare` would compile TypeScript, which the package ships compiled.
(cd "$work/package" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --silent && rm package-lock.json)
tar -czf "$out" -C "$work/package" .
echo "$out"
