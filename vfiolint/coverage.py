"""What was read: per image, whether it was parsed and where the parse had errors; per file,
which context it was judged in; per patch (or source file), every C file it touched.

"No finding" means something only with this beside it: it tells "looked, and saw nothing"
from "could not look".
"""

from __future__ import annotations

from dataclasses import dataclass

from vfiolint.findings import PatchRef
from vfiolint.model import FileDiff


@dataclass(frozen=True, slots=True)
class ImageCoverage:
    """How much of one image was looked at: parsed at all (no rule's keywords, no parse), and
    the ERROR/MISSING nodes of the parse with the real lines they start on."""

    parsed: bool
    error_nodes: int = 0
    error_lines: tuple[int, ...] = ()
    # names the tree defines in several places, none of which the model could choose
    ambiguous: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FileCoverage:
    """The coverage of one file of a patch (or of a source file)."""

    path: str
    origin: str
    hunks: int | None  # None: not counted (a commit's file whose diff no rule needed)
    pre: ImageCoverage | None
    post: ImageCoverage | None
    # where the text came from: blob | base-commit | head | hunks | file | tree
    context: str = "hunks"

    @property
    def ambiguous(self) -> tuple[str, ...]:
        """Return the names the model found defined in several places, in either image."""
        return tuple(sorted({n for i in (self.pre, self.post) if i is not None
                             for n in i.ambiguous}))

    @classmethod
    def unread(cls, filediff: FileDiff, origin: str = "hunks",
               context: str = "hunks") -> FileCoverage:
        """Describe a file that holds no rule's keywords: nothing there was parsed."""
        return cls(filediff.path, origin, len(filediff.hunks),
                   None if filediff.old_path is None else ImageCoverage(False),
                   None if filediff.new_path is None else ImageCoverage(False), context)



@dataclass(frozen=True, slots=True)
class Coverage:
    """What was read of one patch (``patch`` set) or one source file (``patch`` None)."""

    input: str
    patch: PatchRef | None
    files: tuple[FileCoverage, ...]
    total_files: int = 1


MAX_ERROR_LINES = 20
