#!/bin/sh
# make_go_seeds.sh GO_BINARY OUT_DIR: the generated seeds (see CMakeLists.txt).
set -eu
bin=$1
out=$2
cp "$bin" "$out/elf/go"
# 8 bytes of .gopclntab's address (little-endian), then the section, as gopclntab_fuzzer reads it.
addr=$(readelf -SW "$bin" | sed 's/^ *\[ *[0-9]*\]//' | awk '$1 == ".gopclntab" { print $3 }')
objcopy --dump-section .gopclntab="$out/gopclntab.bin" "$bin" "$out/scratch"
python3 -c "import struct, sys; sys.stdout.buffer.write(struct.pack('<Q', int('$addr', 16)))" \
  > "$out/gopclntab/go"
cat "$out/gopclntab.bin" >> "$out/gopclntab/go"
rm "$out/gopclntab.bin" "$out/scratch"
