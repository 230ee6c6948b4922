#!/usr/bin/env bash
# Refresh the vendored JavaScript of the web desk from the npm registry (run by hand, never by
# `make test`): each package's pinned version is packed with npm itself, and its files and its
# licence are copied into clients/web/static/vendor/<package>/.
#
#   bash clients/web/vendor.sh            # all of them, at the versions pinned below
#
# To move a package to a new version: change its pin here, run this, look at the diff, run the
# browser tests (pytest -m browser), and update the version in static/vendor/README.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vendor="$here/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# package@version, then the files to take from the package (relative to its root).
fetch() {
  local spec="$1"; shift
  local name="${spec%@*}"
  (cd "$work" && npm pack --silent "$spec" >/dev/null)
  local tarball
  tarball="$(ls "$work"/*.tgz)"
  mkdir -p "$work/unpacked" && tar -xzf "$tarball" -C "$work/unpacked"
  rm -rf "${vendor:?}/$name" && mkdir -p "$vendor/$name"
  for file in "$@"; do cp "$work/unpacked/package/$file" "$vendor/$name/"; done
  cp "$work/unpacked/package/LICENSE" "$vendor/$name/LICENSE"
  rm -rf "$work/unpacked" "$tarball"
  echo "vendored $spec"
}

fetch htmx.org@2.0.11 dist/htmx.min.js
# The counter desk: a QR decoder for camera scans, and the accessibility engine its browser
# tests run on each screen (served like the rest; only the tests load axe).
fetch jsqr@1.4.0 dist/jsQR.js
fetch axe-core@4.14.1 axe.min.js
# The supervision room's charts (Apache-2.0: its NOTICE and the d3 licence it carries too).
fetch echarts@6.1.0 dist/echarts.common.min.js NOTICE licenses/LICENSE-d3
