#!/usr/bin/env python3
"""Cuts the fixture modules in this directory out of Debian's Bible packages.

Each fixture is a real zText New Testament reduced to one book, 3 John: the
module's own compressed bytes (block 0, with the 1,024 zero bytes SWORD pads
it with, and the block holding 3 John), a .bzs listing those two blocks, and a
.bzv of 18 entries laid out as a testament that holds only this book: 0 the
module heading (empty), 1 the testament heading, 2 the book heading, 3 the
chapter heading, 4..17 verses 1..14, each the real record pointed at the
renumbered block. So the reader sees the real markup and compression, in
about 4 KB per language. Needs sword-text-kjv and sword-text-sparv.
Usage: python3 tests/data/sword/make_fixture.py
"""
import os
import struct

ROOT = "/usr/share/sword/modules/texts/ztext"
HERE = os.path.dirname(os.path.abspath(__file__))
# 3 John in KJV versification: its book heading is nt entry 7,776, then the
# chapter heading, then 14 verses (entries 7,778..7,791).
FIRST, LAST = 7776, 7791

for module in ("engKJV2006eb", "spaRV1909eb"):
    src = os.path.join(ROOT, module)
    bzs = open(os.path.join(src, "nt.bzs"), "rb").read()
    bzv = open(os.path.join(src, "nt.bzv"), "rb").read()
    bzz = open(os.path.join(src, "nt.bzz"), "rb").read()
    blocks = [struct.unpack_from("<III", bzs, 12 * i) for i in range(len(bzs) // 12)]
    book_block = struct.unpack_from("<IIH", bzv, 10 * FIRST)[0]
    keep = {0: 0, book_block: 1}
    out_bzz = b""
    out_bzs = b""
    for old in (0, book_block):
        offset, csize, size = blocks[old]
        out_bzs += struct.pack("<III", len(out_bzz), csize, size)
        out_bzz += bzz[offset:offset + csize]
    out_bzv = b""
    for i in [0, 1] + list(range(FIRST, LAST + 1)):
        block, start, length = struct.unpack_from("<IIH", bzv, 10 * i)
        if length and block in keep:
            out_bzv += struct.pack("<IIH", keep[block], start, length)
        else:
            out_bzv += struct.pack("<IIH", 0, 0, 0)
    dst = os.path.join(HERE, module + "-3john")
    os.makedirs(dst, exist_ok=True)
    for ext, data in (("bzs", out_bzs), ("bzv", out_bzv), ("bzz", out_bzz)):
        with open(os.path.join(dst, "nt." + ext), "wb") as f:
            f.write(data)
    print(dst, len(out_bzs), len(out_bzv), len(out_bzz))
