#!/usr/bin/env python3
"""Turn a directory archive back into the layout a format-1 binvault writes (for the tests of the
upgrade): binvault.json at version 1, no catalog/ and no timelines/, segments named flat in
segments/ (a format-3 archive's group directories undone, index lines renamed), and the index as
chunks of CHUNK lines that span blocks, plus a narrow chunk that a wider one covers.

usage: format1.py ARCHIVE_DIR CHUNK
"""
import json
import os
import re
import shutil
import sys

root, width = sys.argv[1], int(sys.argv[2])
index = os.path.join(root, "index")
lines = {}
# Widest chunk first, as readers take them.
names = sorted(os.listdir(index), key=lambda n: -(int(n[17:33]) - int(n[:16])))
for name in names:
    with open(os.path.join(index, name), "rb") as f:
        for line in f.read().split(b"\n"):
            if line:
                line = re.sub(rb'"name":"segments/[0-9]{12}/', b'"name":"segments/', line, count=1)
                lines.setdefault(json.loads(line)["seq"], line)
for name in names:
    os.unlink(os.path.join(index, name))
seqs = sorted(lines)


def put(first, last):
    with open(os.path.join(index, "%016d-%016d.bvi" % (first, last)), "wb") as f:
        f.write(b"".join(lines[s] + b"\n" for s in range(first, last + 1)))


for i in range(0, len(seqs), width):
    put(seqs[i], seqs[min(i + width, len(seqs)) - 1])
put(seqs[0], seqs[min(9, len(seqs) - 1)])
segdir = os.path.join(root, "segments")
for group in os.listdir(segdir):
    if os.path.isdir(os.path.join(segdir, group)):
        for name in os.listdir(os.path.join(segdir, group)):
            os.rename(os.path.join(segdir, group, name), os.path.join(segdir, name))
        os.rmdir(os.path.join(segdir, group))
for d in ("catalog", "timelines"):
    shutil.rmtree(os.path.join(root, d), ignore_errors=True)
ident = os.path.join(root, "binvault.json")
with open(ident, "rb") as f:
    text = f.read()
with open(ident, "wb") as f:
    f.write(re.sub(rb'"version":[23],', b'"version":1,', text, count=1))
