#!/bin/sh
# embed.sh FILE NAME: FILE as C source defining `const unsigned char NAME[]` (its bytes and a NUL)
# and `const size_t NAME_len` (its size without the NUL), on stdout. Only POSIX od and sed.
set -eu
[ $# -eq 2 ] || { echo "usage: embed.sh FILE NAME" >&2; exit 2; }
[ -r "$1" ] || { echo "embed.sh: $1: cannot read it" >&2; exit 1; }
echo "/* Made from $1 by scripts/embed.sh; edit $1, not this. */"
echo "#include <stddef.h>"
echo "const unsigned char $2[] = {"
od -An -v -tx1 "$1" | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g' -e 's/^/    /'
echo "    0x00};"
echo "const size_t $2_len = sizeof $2 - 1;"
