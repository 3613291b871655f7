#!/usr/bin/env python3
"""Compare the machine code of two directories of compiled kernels.

For every `*.cubin` of BEFORE with a namesake in AFTER, compares the bytes
of each `.text.*` section (the SASS of a kernel) and each `.nv.info.*`
section (its registers, barriers and parameters). The 8-hex-digit hash in
kernel names (which depends on the compiler's version) is masked in section
names, so two compilers that name a kernel differently still compare. A
compiler change that leaves every cubin's machine code identical cannot
change what runs on the GPU; one that does not is listed, with the sizes of
its code.

    python3 benchmarks/compare_machine_code.py BEFORE_DIR AFTER_DIR

make_kernels.py writes such directories. Exit status: 0 when every cubin is
identical, 1 when some differ or are missing, 2 on bad arguments.
"""

import argparse
import re
import struct
import sys
from pathlib import Path

_HASH = re.compile(r"_[0-9a-f]{8}(?=$|_|\b)")


def sections(path: Path) -> dict[str, bytes]:
    """The sections of an ELF64 little-endian file, by (masked) name."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError(f"{path}: not a 64-bit little-endian ELF file")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
               for i in range(shnum)]
    names_offset = headers[shstrndx][4]
    result = {}
    for name, kind, _flags, _addr, offset, size in headers:
        start = names_offset + name
        text = data[start:data.index(b"\0", start)].decode()
        # SHT_NOBITS (8) has no bytes in the file.
        result[_HASH.sub("_X", text)] = b"" if kind == 8 else \
            data[offset:offset + size]
    return result


def compare(before: Path, after: Path) -> tuple[list[str], list[str]]:
    same, different = [], []
    for cubin in sorted(before.glob("*.cubin")):
        other = after / cubin.name
        if not other.exists():
            different.append(f"{cubin.name}: missing in {after}")
            continue
        a, b = sections(cubin), sections(other)
        keys = [k for k in a if k.startswith((".text.", ".nv.info."))]
        changed = [k for k in keys if a[k] != b.get(k)]
        if not changed:
            same.append(cubin.name)
            continue
        def describe(key: str) -> str:
            kind = key.rsplit(".", 1)[0]
            if key not in b:
                return f"{kind} of {key.split('.')[-1]} absent"
            return f"{kind} {len(a[key])} -> {len(b[key])} bytes"
        different.append(f"{cubin.name}: " + ", ".join(map(describe, changed)))
    return same, different


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Compare the machine code of two kernel directories.")
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    for directory in (args.before, args.after):
        if not directory.is_dir():
            parser.error(f"{directory} is not a directory")
    same, different = compare(args.before, args.after)
    if not same and not different:
        parser.error(f"no .cubin files in {args.before}")
    for line in different:
        print(f"differs: {line}")
    print(f"{len(same)} identical, {len(different)} different")
    return 0 if not different else 1


if __name__ == "__main__":
    sys.exit(main())
