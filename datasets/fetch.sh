#!/usr/bin/env bash
# Downloads and verifies the data sets that are not bundled. Needs internet; tests never call it.
#   datasets/fetch.sh fashion-mnist   -> datasets/fashion-mnist/*.gz + SHA256SUMS
#   datasets/fetch.sh fashion-mnist-deb -> the same from Debian's dataset-fashion-mnist package
#                                        (for machines that reach only the package mirrors; apt
#                                        checks the package's signature, the .gz files are
#                                        recompressed so the authors' MD5s do not apply)
#   datasets/fetch.sh cifar-10        -> datasets/cifar-10/*.bin + SHA256SUMS
# The MD5 sums are the ones the data sets' authors publish (Fashion-MNIST README; CIFAR-10 page).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

fetch() { curl -fL --retry 3 -o "$2" "$1"; }
check_md5() {
  local got; got=$(md5sum "$1" | cut -d' ' -f1)
  [ "$got" = "$2" ] || { echo "checksum mismatch for $1: $got, expected $2" >&2; exit 1; }
}

case "${1:-}" in
  fashion-mnist)
    out="$here/fashion-mnist"; mkdir -p "$out"
    base=https://fashion-mnist.s3-website.eu-central-1.amazonaws.com
    while read -r name md5; do
      fetch "$base/$name" "$out/$name"
      check_md5 "$out/$name" "$md5"
    done <<'LIST'
train-images-idx3-ubyte.gz 8d4fb7e6c68d591d4c3dfef9ec88bf0d
train-labels-idx1-ubyte.gz 25c81989df183df01b3e8a0aad5dffbe
t10k-images-idx3-ubyte.gz bef4ecab320f06d8554ea6380940ec79
t10k-labels-idx1-ubyte.gz bb300cfdad3c16e7a12a480ee83cd310
LIST
    (cd "$out" && sha256sum *.gz > SHA256SUMS)
    ;;
  fashion-mnist-deb)
    out="$here/fashion-mnist"; mkdir -p "$out"
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && apt-get download dataset-fashion-mnist && dpkg -x dataset-fashion-mnist_*.deb x)
    cp "$tmp"/x/usr/share/datasets/fashion-mnist/*.gz "$out/"
    (cd "$out" && sha256sum *.gz > SHA256SUMS)
    ;;
  cifar-10)
    out="$here/cifar-10"; mkdir -p "$out"
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    fetch https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz "$tmp/c.tar.gz"
    check_md5 "$tmp/c.tar.gz" c32a1d4ab5d03f1284b67883e8d87530
    tar -xzf "$tmp/c.tar.gz" -C "$tmp"
    cp "$tmp"/cifar-10-batches-bin/*.bin "$tmp"/cifar-10-batches-bin/batches.meta.txt "$out/"
    (cd "$out" && sha256sum *.bin > SHA256SUMS)
    ;;
  *)
    echo "usage: $0 fashion-mnist|fashion-mnist-deb|cifar-10" >&2; exit 2 ;;
esac
echo "done: $out"
