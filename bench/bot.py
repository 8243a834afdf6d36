#!/usr/bin/env python3
"""Benchmark ``vfiolint bot``: how many list messages a minute one run gets through.

    python bench/bot.py [--messages 10000] [--vfio 0.01] [--runs 5] [--workdir DIR]

Builds a public-inbox epoch (git fast-import, one commit per message, blob ``m``) holding a
list's traffic: series of patches to C files (with cover letters), reviews that quote them,
replies, and, for about ``--vfio`` of the messages, patches to VFIO C code (some introducing a
hazard). Then measures, each once as a warm-up and then ``--runs`` times, one after another:

- ``bot run --once`` over the whole archive with a fresh state (replies as .eml files);
- ``bot run --once`` again on the state it left (nothing new: the cron steady state);
- the baseline, in the same run: ``vfiolint check --jobs 1`` of the same messages as one mbox.

Prints the medians, the messages per minute of the full run, its ratio to the baseline, and
what the bot decided. No network.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import botmail  # noqa: E402  (the tests' real-format series)
from vfiolint.bot.archive import write_epoch  # noqa: E402
from vfiolint.bot.check import as_mbox  # noqa: E402

AREAS = ["drivers/net/intel/ixgbe/ixgbe_rxtx.c", "drivers/net/mlx5/mlx5_flow.c",
         "lib/ethdev/rte_ethdev.c", "lib/mempool/rte_mempool.c", "app/test-pmd/config.c",
         "drivers/crypto/qat/qat_sym.c", "lib/eal/common/eal_common_memory.c",
         "drivers/net/virtio/virtio_ethdev.c", "lib/vhost/vhost_user.c"]
DOCS = ["doc/guides/nics/ixgbe.rst", "doc/guides/rel_notes/release_25_03.rst"]
VFIO_C_RE = re.compile(rb"^diff --git a/(hw/vfio/\S+|drivers/bus/pci/linux/pci_vfio)\.c ",
                       re.M)
AUTHORS = [f"Dev {n} <dev{n}@example.org>" for n in range(40)]
CONFIG = """\
[list]
name = "bench"
[archive]
max-age = 0
[series]
wait = "6h"
[reply]
from = "vfiolint bot <vfiolint@bot.example.org>"
"""


def filler_change(rng: random.Random, path: str) -> botmail.FileChange:
    """Return a plausible hunk to a C or doc file with no VFIO code in it."""
    start = rng.randrange(20, 3000)
    if path.endswith(".rst"):
        lines = (" Features", f"-* Old limit is {rng.randrange(64)}.",
                 f"+* New limit is {rng.randrange(64, 128)}.")
        return botmail.FileChange(path, "1111111..2222222", ((start, "", lines),))
    n = rng.randrange(1, 6)
    body = [" \tstruct rte_eth_dev *dev = &rte_eth_devices[port_id];", " "]
    body += [f"-\tif (queue_id >= dev->data->nb_rx_queues + {k})" for k in range(n)]
    body += [f"+\tif (queue_id >= dev->data->nb_rx_queues || idx{k} < 0)" for k in range(n)]
    body += [" \t\treturn -EINVAL;", " \treturn 0;"]
    return botmail.FileChange(path, "3333333..4444444",
                              ((start, "rte_eth_dev_queue_check(uint16_t port_id)",
                                tuple(body)),))


def filler_series(rng: random.Random, tag: str, minute: int) -> list[bytes]:
    """Return a non-VFIO series (a cover letter when it has several patches)."""
    size = rng.choice([1, 1, 2, 3, 4, 6, 8])
    author = rng.choice(AUTHORS)
    cover = f"{tag}-0@example.org"
    out = []
    if size > 1:
        out.append(botmail.mail(cover, f"[PATCH 0/{size}] net: queue checks {tag}",
                                "Queue checks.\n-- \n2.43.0\n", author=author, minutes=minute))
    for n in range(1, size + 1):
        files = [filler_change(rng, rng.choice(AREAS))]
        if rng.random() < 0.3:
            files.append(filler_change(rng, rng.choice(DOCS)))
        counter = f" {n}/{size}" if size > 1 else ""
        body = botmail.patch_body(f"Check the queue index {n}.\n\nSigned-off-by: {author}\n",
                                  files)
        out.append(botmail.mail(f"{tag}-{n}@example.org", f"[PATCH{counter}] net: check {n}",
                                body, author=author, minutes=minute + n,
                                parent=cover if size > 1 else None,
                                refs=(cover,) if size > 1 else ()))
    return out


def replies_to(rng: random.Random, patch: bytes, tag: str, minute: int) -> list[bytes]:
    """Return reviews of a patch: some quote its diff, some only ack."""
    head, _, text = patch.partition(b"\n\n")
    headers = dict(line.split(": ", 1) for line in head.decode().splitlines()
                   if ": " in line and not line.startswith(" "))
    msgid = headers["Message-Id"].strip("<>")
    out = []
    for k in range(rng.choice([0, 1, 1, 2, 3])):
        quoted = "".join(f"> {line}\n" for line in text.decode().splitlines()[:40])
        body = (quoted + "\nLooks fine to me.\n\nReviewed-by: Rev <rev@example.net>\n"
                if rng.random() < 0.6 else "Acked-by: Rev <rev@example.net>\n")
        out.append(botmail.mail(f"{tag}-r{k}@example.net", f"Re: {headers['Subject']}", body,
                                author="Rev <rev@example.net>", minutes=minute + k,
                                parent=msgid))
    return out


def vfio_series(rng: random.Random, tag: str, minute: int) -> list[bytes]:
    """Return a VFIO series: the vfio/region series (v1 with a hazard, or v2 without) or the
    bus/pci one, under fresh Message-IDs."""
    if rng.random() < 0.5:
        series = botmail.qemu_series(rng.choice([1, 2]), tag, minutes=minute)
    else:
        series = botmail.dpdk_series(tag, minute)
    return series


def build(count: int, vfio_share: float, seed: int) -> list[bytes]:
    """Return ``count`` messages of list traffic, about ``vfio_share`` of them VFIO patches."""
    rng = random.Random(seed)
    out: list[bytes] = []
    vfio = 0
    minute = 0
    n = 0
    while len(out) < count:
        n += 1
        minute += 3
        if vfio < vfio_share * len(out):
            series = vfio_series(rng, f"v{n}", minute)
            vfio += sum(1 for m in series if VFIO_C_RE.search(m))
        else:
            series = filler_series(rng, f"f{n}", minute)
        out += series
        for k, patch in enumerate(series):
            out += replies_to(rng, patch, f"f{n}-{k}", minute + 30)
    return out[:count]


def run(cmd: list[str]) -> tuple[float, int, str]:
    """Run a command; return its wall time, peak RSS (KiB) and standard output."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return elapsed, usage.ru_maxrss, out


def measure(name: str, cmd: list[str], runs: int, before: object = None) -> dict[str, object]:
    """Run a command once to warm up, then ``runs`` times; return medians."""
    times, rss = [], []
    out = ""
    for i in range(runs + 1):
        if callable(before):
            before()
        elapsed, peak, out = run(cmd)
        if i:
            times.append(elapsed)
            rss.append(peak)
    row = {"name": name, "median_s": statistics.median(times), "min_s": min(times),
           "max_s": max(times), "rss_mb": max(rss) / 1024, "stdout": out.strip()}
    print(f"{name:<44} median {row['median_s']:7.2f} s  (min {row['min_s']:.2f}, max "
          f"{row['max_s']:.2f})  peak RSS {row['rss_mb']:.0f} MB", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    """Build the archive and measure."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--vfio", type=float, default=0.01, help="share of VFIO patch messages")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=None, help="keep the archive here")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="vfiolint-bot-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    messages = build(args.messages, args.vfio, args.seed)
    inbox = work / "inbox"
    shutil.rmtree(inbox, ignore_errors=True)
    write_epoch(inbox / "git" / "0.git", messages)
    (work / "all.mbox").write_bytes(as_mbox(messages))
    (work / "bot.toml").write_text(CONFIG)
    size = sum(len(m) for m in messages)
    vfio_c = sum(1 for m in messages if VFIO_C_RE.search(m))
    print(f"archive: {len(messages)} messages ({vfio_c} patches to VFIO C code, "
          f"{vfio_c / len(messages):.1%}), {size / 2**20:.1f} MiB, in {inbox}")
    state, out = work / "state.sqlite", work / "out"
    bot = [sys.executable, "-m", "vfiolint", "bot", "run", "--once", "--archive", str(inbox),
           "--state", str(state), "--config", str(work / "bot.toml"), "--dry-run", str(out)]

    def fresh() -> None:
        for path in (state, state.with_name("state.sqlite-wal"),
                     state.with_name("state.sqlite-shm")):
            path.unlink(missing_ok=True)
        shutil.rmtree(out, ignore_errors=True)

    check = measure("baseline: vfiolint check --jobs 1 all.mbox",
                    [sys.executable, "-m", "vfiolint", "check", "--jobs", "1", "--format",
                     "json", str(work / "all.mbox")], args.runs)
    full = measure("bot run --once, fresh state", bot, args.runs, before=fresh)
    idle = measure("bot run --once, nothing new", bot, args.runs)
    status = json.loads(subprocess.run(
        [sys.executable, "-m", "vfiolint", "bot", "status", "--state", str(state), "--json"],
        cwd=ROOT, capture_output=True, check=True).stdout)
    per_minute = len(messages) / float(full["median_s"]) * 60  # type: ignore[arg-type]
    ratio = float(full["median_s"]) / float(check["median_s"])  # type: ignore[arg-type]
    print(f"\n{per_minute:,.0f} messages per minute; the full run is {ratio:.2f}x the "
          f"baseline; an idle run takes {idle['median_s']:.2f} s")
    print(f"messages: {status['messages']}\nseries: {status['series']}\n"
          f"replies: {status['replies']}")
    if args.json:
        args.json.write_text(json.dumps({"messages": len(messages), "bytes": size,
                                         "rows": [check, full, idle],
                                         "per_minute": per_minute, "ratio": ratio,
                                         "status": {k: status[k] for k in
                                                    ("messages", "series", "replies")}},
                                        indent=2))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
