#!/usr/bin/env bash
# Compiles bpf/**/*.bpf.c into build/bpf/ and native/*.c into build/native/. An object is rebuilt
# when its source or any header under bpf/ (or native/) is newer than it.
set -euo pipefail
cd "$(dirname "$0")/.."

CLANG=${CLANG:-clang}
ARCH_INC=/usr/include/$(uname -m)-linux-gnu
BPF_CFLAGS=(-O2 -g -target bpf -Wall -Werror -Wno-unused-function -I"$ARCH_INC" -Ibpf)

newest_header() { find "$1" -name '*.h' -printf '%T@\n' 2>/dev/null | sort -n | tail -1; }
needs_build() { # out src header_mtime
  [ ! -f "$1" ] || [ "$2" -nt "$1" ] || { [ -n "$3" ] && [ "$(stat -c %Y "$1")" -lt "${3%.*}" ]; }
}

hdr=$(newest_header bpf)
built=0
while IFS= read -r -d '' src; do
  rel=${src#bpf/}
  out=build/bpf/${rel%.c}.o
  mkdir -p "$(dirname "$out")"
  if needs_build "$out" "$src" "$hdr"; then
    "$CLANG" "${BPF_CFLAGS[@]}" -c "$src" -o "$out"
    built=$((built + 1))
  fi
done < <(find bpf -name '*.bpf.c' -print0 | sort -z)

if compgen -G 'native/*.c' >/dev/null; then
  nhdr=$(newest_header native)
  mkdir -p build/native
  for src in native/*.c; do
    out=build/native/lib$(basename "${src%.c}").so
    if needs_build "$out" "$src" "$nhdr"; then
      gcc -O2 -g -Wall -Werror -shared -fPIC "$src" -o "$out"
      built=$((built + 1))
    fi
  done
fi
echo "roam build: $built object(s) rebuilt, build/ is up to date"
