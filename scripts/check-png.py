#!/usr/bin/env python3
"""Checks a screenshot: a PNG of the expected width and height whose pixels are not all one colour.
Usage: check-png.py FILE WIDTH HEIGHT (standard library only)."""
import struct, sys, zlib

path, width, height = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = open(path, "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit(f"{path}: not a PNG")
w, h, depth, colour = struct.unpack(">IIBB", data[16:26])
if (w, h) != (width, height):
    sys.exit(f"{path}: {w}x{h}, expected {width}x{height}")
idat, i = b"", 8
while i < len(data):
    n, kind = struct.unpack(">I4s", data[i:i + 8])
    if kind == b"IDAT":
        idat += data[i + 8:i + 8 + n]
    i += 12 + n
raw = zlib.decompress(idat)
stride = len(raw) // h
# Distinct byte values in the pixel rows (filter bytes skipped): a blank page has only a couple.
values = set()
for row in range(0, h, 7):
    values.update(raw[row * stride + 1:(row + 1) * stride:5])
    if len(values) > 40:
        break
if len(values) <= 8:
    sys.exit(f"{path}: looks blank ({len(values)} distinct values)")
print(f"{path}: {w}x{h}, {len(values)}+ distinct values: rendered")
