#!/usr/bin/env python3
"""Where the zone's CPU goes, in the terms of issue 28: a `perf script` of the zone
(from `PERF=1 benches/scale.sh`) split into the kernel's read and write paths (and,
inside the writes, the wake-ups of clients sleeping in epoll: what `floor_w` adds to
`floor`), the tick's interest, replication (diff and encode) and other systems, the
WebSocket passes (parsing, framing, the outbox), the runtime, and the rest.

    perf script -i perf-ws-1000.data | benches/profile-split.py [--us 11.1]

With `--us`, the zone's CPU per client per tick over the same window, each share is
also given in µs per client per tick. Each sample counts once, for the first frame
from the leaf up that names a part. The kernel's samples go by the system call
their stack entered through. A user sample whose only named frames are generic
(copies, allocation, hashing) counts as those, unless a frame above names a part
(`PERF_CALLGRAPH=dwarf` gives user stacks; the default frame-pointer stacks give
the kernel's stacks and only the leaf of user code). User code on any thread but the
tick thread counts as "other threads"; the kernel's work goes by its system call on
every thread.
"""
import argparse
import re
import sys
from collections import Counter

FRAME = re.compile(r"^\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")

# (part, substrings of a user frame's symbol), the first part matched wins per frame.
USER_PARTS = [
    ("tick: interest", ("::interest::",)),
    ("tick: replication (diff, encode)", ("arcane_protocol::", "::replication::")),
    ("WebSocket passes (parse, frame, outbox)",
     ("arcane_zone_server::net::", "tungstenite::", "bytes::")),
    ("tick: other systems", ("arcane_engine::", "bevy_ecs::", "arcane_zone_server::tick")),
    ("runtime (tokio, mio)", ("tokio::", "mio::")),
]
GENERIC = [
    ("copies, allocation", ("memmove", "memcpy", "memset", "malloc", "free", "realloc",
                            "_int_", "alloc::")),
    ("hashing", ("hashbrown::", "rustc_hash", "core::hash")),
]
# A kernel stack's system call, by the entry point's name.
SYSCALLS = [
    ("kernel: reads (inputs)", ("recvmsg", "recvfrom", "sys_read")),
    ("kernel: writes (snapshots)", ("sys_write", "sendto", "sendmsg", "writev")),
    ("kernel: sleeping, timers", ("nanosleep", "epoll", "futex", "clock_")),
]
WAKE = ("sock_def_readable",)


def classify(comm, frames):
    """(part, whether the sample is a client's wake-up inside a write)."""
    if not frames:
        return "unknown", False
    leaf_dso = frames[0][1]
    if "kernel" in leaf_dso:
        syms = [s for s, d in frames if "kernel" in d]
        entry = next((s for s in syms if "sys_" in s), None)
        wake = any(w in s for s in syms for w in WAKE)
        if entry is None:
            return "kernel: interrupts, faults, scheduling", False
        for part, keys in SYSCALLS:
            if any(k in entry for k in keys):
                return part, wake and part.startswith("kernel: writes")
        return "kernel: other system calls", False
    if not comm.startswith("tick"):
        return "other threads", False
    generic = None
    for sym, _ in frames:
        for part, keys in USER_PARTS:
            if any(k in sym for k in keys):
                return part, False
        if generic is None:
            generic = next((p for p, keys in GENERIC if any(k in sym for k in keys)), None)
    return generic or "other user code", False


def samples(lines):
    """(comm, [(symbol, dso)] from the leaf up) per sample of a `perf script`."""
    comm, frames = None, []
    for line in lines:
        if not line.strip():
            if comm is not None:
                yield comm, frames
            comm, frames = None, []
        elif line[0] not in " \t":
            if comm is not None:
                yield comm, frames
            comm, frames = line.split()[0], []
        else:
            m = FRAME.match(line)
            if m:
                frames.append((re.sub(r"\+0x[0-9a-f]+$", "", m.group(1)), m.group(2)))
    if comm is not None:
        yield comm, frames


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--us", type=float, help="the zone's µs per client per tick")
    args = ap.parse_args()
    parts, wakes, total = Counter(), 0, 0
    for comm, frames in samples(sys.stdin):
        part, wake = classify(comm, frames)
        parts[part] += 1
        wakes += wake
        total += 1
    if total == 0:
        sys.exit("profile-split: no samples in the input")
    rows = sorted(parts.items(), key=lambda kv: -kv[1])
    rows.append(("  of the writes, waking clients (sock_def_readable)", wakes))
    print(f"{'where the zone spends its CPU':<52} {'share':>7}"
          + (f" {'µs/cl/tk':>9}" if args.us else ""))
    for part, count in rows:
        share = count / total
        line = f"{part:<52} {100 * share:6.1f}%"
        if args.us:
            line += f" {share * args.us:9.2f}"
        print(line)
    print(f"({total} samples)")


if __name__ == "__main__":
    main()
