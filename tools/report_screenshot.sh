#!/bin/bash
# Renders a report page with headless Chromium into a PNG, to look at it as a reader would.
# Usage: tools/report_screenshot.sh REPORT.html [OUT.png] [WIDTHxHEIGHT]
#   OUT.png defaults to REPORT.png beside the page; the window defaults to 1300x2600 (the demo's headline
#   chart and tables; a taller window shows more of a page, the screenshot is of the window only).
# Needs Debian's chromium: installed with apt-get when run as root, otherwise the command is printed.
set -eu -o pipefail
[ $# -ge 1 ] || { echo "usage: $0 REPORT.html [OUT.png] [WIDTHxHEIGHT]" >&2; exit 2; }
page=$1
out=${2:-${page%.html}.png}
size=${3:-1300x2600}
[ -f "$page" ] || { echo "report_screenshot: $page: no such file" >&2; exit 2; }
[[ $size =~ ^[0-9]+x[0-9]+$ ]] || { echo "report_screenshot: window size '$size' is not WIDTHxHEIGHT" >&2; exit 2; }
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "report_screenshot: installing Debian's chromium" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "report_screenshot: chromium is missing; run: sudo apt-get install -y chromium" >&2
    exit 1
  fi
fi
# --no-sandbox: Chromium refuses to run as root with its sandbox; the page is a local file of ours.
abs=$(cd "$(dirname "$page")" && pwd)/$(basename "$page")
[[ $out = /* ]] || out=$PWD/$out
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
  --window-size="${size/x/,}" --screenshot="$out" "file://$abs" 2>/dev/null
[ -s "$out" ] || { echo "report_screenshot: chromium wrote no $out" >&2; exit 1; }
echo "report_screenshot: $out ($size) from $abs"
