#!/usr/bin/env python3
"""Compare `binvault inspect` JSON with `mariadb-binlog` text for one binlog file.

usage: compare.py events|transactions INSPECT_JSON MARIADB_BINLOG_TXT
Prints what differs and exits 1, or prints a one-line summary and exits 0.
"""
import json
import re
import sys


def mariadb_events(text):
    """(pos, end_log_pos, gtid or None) per event, from mariadb-binlog output."""
    out, pending = [], []
    for line in text.splitlines():
        m = re.match(r"^# at (\d+)$", line)
        if m:
            pending.append(int(m.group(1)))
            continue
        m = re.match(r"^#\d{6} +\d+:\d\d:\d\d server id (\d+) +end_log_pos (\d+)(.*)$", line)
        if m:
            pos = pending.pop(0) if pending else None
            g = re.search(r"\tGTID (\d+-\d+-\d+)", m.group(3))
            out.append((pos, int(m.group(2)), g.group(1) if g else None))
    return out


def main():
    mode, js, txt = sys.argv[1], sys.argv[2], sys.argv[3]
    ours = [json.loads(l) for l in open(js, encoding="utf-8") if l.strip()]
    theirs = mariadb_events(open(txt, encoding="utf-8", errors="replace").read())
    errors = []
    if mode == "events":
        if len(ours) != len(theirs):
            errors.append(f"{len(ours)} events, mariadb-binlog has {len(theirs)}")
        for i, (o, t) in enumerate(zip(ours, theirs)):
            if (o["pos"], o["end_pos"]) != (t[0], t[1]):
                errors.append(f"event {i}: ours {o['pos']}/{o['end_pos']}, mariadb-binlog {t[0]}/{t[1]}")
            if t[2] and o.get("gtid") != t[2]:
                errors.append(f"event {i}: gtid {o.get('gtid')} vs {t[2]}")
    else:
        want = [(t[0], t[2]) for t in theirs if t[2]]
        got = [(o["start_pos"], o["gtid"]) for o in ours]
        if got != want:
            errors.append(f"transactions differ:\n ours   {got}\n theirs {want}")
        for o in ours:
            if o["incomplete"]:
                errors.append(f"transaction {o['gtid']} incomplete")
        # transactions end where the next one starts or at an event boundary
        ends = {t[1] for t in theirs}
        for o in ours:
            if o["end_pos"] not in ends:
                errors.append(f"transaction {o['gtid']} ends at {o['end_pos']}, not an event boundary")
    if errors:
        print("\n".join(errors[:20]))
        sys.exit(1)
    print(f"{mode}: {len(ours)} agree")


if __name__ == "__main__":
    main()
