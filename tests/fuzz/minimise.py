#!/usr/bin/env python3
"""Shrink a crashing input of fuzz_pipeline.py while it keeps crashing the same way.

    python tests/fuzz/minimise.py CRASH_FILE [OUT_FILE]

Delta debugging over lines, then over bytes, keeping the crash signature (exception type and
innermost vfiolint frame). The input name is held fixed while shrinking; at the end the result
is padded with newlines so that ``fuzz_pipeline.name_for`` gives the same name again, and the
padded file is checked to crash the same way. OUT_FILE defaults to CRASH_FILE + ``.min``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fuzz_pipeline as fp

from vfiolint.errors import VfiolintError


def signature(data: bytes, name: str) -> str | None:
    """Return the crash signature of data under name, None when it does not crash."""
    import signal

    signal.setitimer(signal.ITIMER_VIRTUAL, fp.LIMIT)
    try:
        fp.run_pipeline(data, name)
    except VfiolintError:
        return None
    except Exception as exc:
        return fp.Crashes.signature(exc)
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
    return None


def ddmin(parts: list[bytes], joiner: bytes, keeps: callable) -> list[bytes]:  # type: ignore[valid-type]
    """Classic ddmin: drop chunks of parts while keeps(joined) holds."""
    n = 2
    while len(parts) >= 2:
        size = max(1, len(parts) // n)
        chunks = [parts[i:i + size] for i in range(0, len(parts), size)]
        reduced = False
        for i in range(len(chunks)):
            rest = [p for k, c in enumerate(chunks) if k != i for p in c]
            if keeps(joiner.join(rest)):
                parts, n, reduced = rest, max(n - 1, 2), True
                break
        if not reduced:
            if n >= len(parts):
                break
            n = min(len(parts), n * 2)
    return parts


def main() -> int:
    src = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else src.with_name(src.name + ".min")
    signal_mod = __import__("signal")
    signal_mod.signal(signal_mod.SIGVTALRM, fp._on_limit)
    data = src.read_bytes()
    name = fp.name_for(data)
    want = signature(data, name)
    if want is None:
        print(f"{src}: does not crash", file=sys.stderr)
        return 1
    print(f"{src}: {want}, {len(data)} bytes, name {name!r}", file=sys.stderr)

    def keeps(candidate: bytes) -> bool:
        return signature(candidate, name) == want

    lines = ddmin(data.split(b"\n"), b"\n", keeps)
    data = b"\n".join(lines)
    data = b"".join(ddmin([bytes([b]) for b in data], b"", keeps))
    for pad in range(len(fp.NAMES) * 2):
        padded = data + b"\n" * pad
        if fp.name_for(padded) == name and signature(padded, name) == want:
            data = padded
            break
    else:
        print("warning: could not pad to the same name; saved unpadded", file=sys.stderr)
    out.write_bytes(data)
    print(f"-> {out}: {len(data)} bytes, name {fp.name_for(data)!r}, "
          f"crashes as {signature(data, fp.name_for(data))}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
