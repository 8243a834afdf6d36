"""Parse quality of tree-sitter-c on real C trees, without and with the macro pre-pass.

    python bench/parse_quality.py DIR [DIR ...] [--clang-format FILE] [--json out.json]

For every tree (each DIR, all ``.c``/``.h`` below it) it prints: the number of function
definitions (plain parse / after the pre-pass), the share of them free of ERROR and MISSING
nodes before and after, ERROR nodes outside any function, and the parse time of the whole tree
(median of ``--repeat`` runs, default 5) plain vs pre-pass + parse, with their ratio. Times are
CPU time of this process (``--clock cpu``, the default: steady on a busy machine) or wall-clock
time (``--clock wall``).

Two more columns say what learning macros adds where a parse breaks (``prepass.parse``): with
their shapes alone (a hunk without its repository), and with the tree's own definitions (the
directory indexed as a tree, the way a checkout is).

The macro table is the built-in one, plus ``--clang-format FILE`` if given, plus the tree's own
``.clang-format`` if it has one (``prepass.table_for``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tree_sitter import Node

from vfiolint.c import cparse, prepass
from vfiolint.c.definitions import NO_DEFINITIONS, Definitions


@dataclass
class TreeResult:
    """Numbers for one tree."""

    tree: str
    files: int
    bytes: int
    functions_plain: int
    functions_prepass: int
    clean_plain: int
    clean_prepass: int
    top_errors_plain: int
    top_errors_prepass: int
    seconds_plain: float
    seconds_prepass: float
    seconds_neutralise: float
    clean_shapes: int = 0
    clean_definitions: int = 0
    functions_definitions: int = 0

    @property
    def share_shapes(self) -> float:
        return self.clean_shapes / self.functions_prepass if self.functions_prepass else 1.0

    @property
    def share_definitions(self) -> float:
        return (self.clean_definitions / self.functions_definitions
                if self.functions_definitions else 1.0)

    @property
    def share_plain(self) -> float:
        return self.clean_plain / self.functions_plain if self.functions_plain else 1.0

    @property
    def share_prepass(self) -> float:
        return self.clean_prepass / self.functions_prepass if self.functions_prepass else 1.0

    @property
    def ratio(self) -> float:
        return self.seconds_prepass / self.seconds_plain if self.seconds_plain else 0.0


def functions(root: Node) -> tuple[list[Node], int]:
    """Function definitions in a tree, and ERROR nodes that are not inside one."""
    found: list[Node] = []
    stray = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "function_definition":
            found.append(node)
            continue
        if node.is_error:
            stray += 1
        if node.has_error or node.child_count:
            stack.extend(node.children)
    return found, stray


def c_files(tree: Path) -> list[Path]:
    """The C sources and headers below a directory (or the file itself)."""
    if tree.is_file():
        return [tree]
    return sorted(p for p in tree.rglob("*") if p.suffix in (".c", ".h") and p.is_file())


def measure(tree: Path, table: prepass.MacroTable, repeat: int,
            clock: Callable[[], float] = time.process_time) -> TreeResult:
    """Parse a tree both ways and count."""
    paths = c_files(tree)
    texts = [p.read_bytes() for p in paths]
    fn_plain = fn_pre = clean_plain = clean_pre = stray_plain = stray_pre = 0
    definitions = _tree_definitions(tree, paths, texts)
    clean_shapes = clean_defs = fn_defs = 0
    for path, text in zip(paths, texts, strict=True):
        near = path.relative_to(tree).as_posix() if tree.is_dir() else path.name
        found, _ = functions(prepass.parse(text, table).root_node)
        clean_shapes += sum(not f.has_error for f in found)
        found, _ = functions(prepass.parse(text, table, definitions, near).root_node)
        fn_defs += len(found)
        clean_defs += sum(not f.has_error for f in found)
    for text in texts:
        found, stray = functions(cparse.parse(text).root_node)
        fn_plain += len(found)
        clean_plain += sum(not f.has_error for f in found)
        stray_plain += stray
        found, stray = functions(cparse.parse(prepass.neutralise(text, table)).root_node)
        fn_pre += len(found)
        clean_pre += sum(not f.has_error for f in found)
        stray_pre += stray

    def timed(fn: object) -> float:
        runs = []
        for _ in range(repeat):
            start = clock()
            fn()  # type: ignore[operator]
            runs.append(clock() - start)
        return statistics.median(runs)

    plain = timed(lambda: [cparse.parse(t) for t in texts])
    pre = timed(lambda: [cparse.parse(prepass.neutralise(t, table)) for t in texts])
    only = timed(lambda: [prepass.neutralise(t, table) for t in texts])
    return TreeResult(str(tree), len(texts), sum(map(len, texts)), fn_plain, fn_pre,
                      clean_plain, clean_pre, stray_plain, stray_pre, plain, pre, only,
                      clean_shapes, clean_defs, fn_defs)


def _tree_definitions(tree: Path, paths: list[Path], texts: list[bytes]) -> Definitions:
    """Index a directory of C as a tree (its files over an empty git tree, in memory)."""
    from vfiolint.c.index import Repository, TreeSpec
    from vfiolint.c.resolve import TreeDefinitions
    from vfiolint.gitstore import EMPTY_TREE

    if not tree.is_dir():
        return NO_DEFINITIONS
    repo = Repository(tree)
    changes = tuple((p.relative_to(tree).as_posix(), repo.add_text(t))
                    for p, t in zip(paths, texts, strict=True))
    return TreeDefinitions(repo, TreeSpec(EMPTY_TREE, changes))


def render(results: list[TreeResult]) -> str:
    """A plain-text table."""
    head = ("tree", "files", "fns", "clean before", "clean after", "+ shapes",
            "+ definitions", "stray ERR b/a", "plain s", "pre+parse s", "ratio")
    rows = [head]
    for r in results:
        rows.append((
            r.tree, str(r.files), f"{r.functions_plain}/{r.functions_prepass}",
            f"{100 * r.share_plain:.1f}% ({r.functions_plain - r.clean_plain} bad)",
            f"{100 * r.share_prepass:.1f}% ({r.functions_prepass - r.clean_prepass} bad)",
            f"{100 * r.share_shapes:.1f}%",
            f"{100 * r.share_definitions:.1f}% "
            f"({r.functions_definitions - r.clean_definitions} bad)",
            f"{r.top_errors_plain}/{r.top_errors_prepass}",
            f"{r.seconds_plain:.3f}", f"{r.seconds_prepass:.3f}", f"{r.ratio:.2f}x",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="+", type=Path, help="directories of C code")
    parser.add_argument("--clang-format", type=Path, help="a .clang-format to add macros from")
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON here")
    parser.add_argument("--repeat", type=int, default=5, help="timing runs (median)")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="CPU time of this process (default) or wall-clock time")
    args = parser.parse_args(argv)
    extra = prepass.MacroTable()
    if args.clang_format:
        extra = prepass.from_clang_format(args.clang_format.read_text(errors="replace"))
    results = []
    for tree in args.trees:
        if not tree.exists():
            print(f"{tree}: no such file or directory", file=sys.stderr)
            return 2
        table = prepass.table_for((), tree if tree.is_dir() else None).with_merged(extra)
        clock = time.process_time if args.clock == "cpu" else time.perf_counter
        results.append(measure(tree, table, args.repeat, clock))
    print(render(results))
    if args.json:
        data = [asdict(r) | {"share_plain": r.share_plain, "share_prepass": r.share_prepass,
                             "share_shapes": r.share_shapes,
                             "share_definitions": r.share_definitions,
                             "ratio": r.ratio} for r in results]
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
