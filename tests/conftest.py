"""Shared helpers for the test suite: run the pipeline as the CLI does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vfiolint.findings import Finding
from vfiolint.inputs import load
from vfiolint.policy import keep
from vfiolint.rules.loader import Rule, load_rules
from vfiolint.run import analyse

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def rules() -> list[Rule]:
    """Load the bundled rules once."""
    return load_rules()


def findings_of(name: str, data: bytes, rules: list[Rule]) -> tuple[list[Finding], list[str]]:
    """Run the whole pipeline on one input's bytes; return findings and error messages."""
    loaded = load(name, data)
    return keep(analyse(loaded, rules)[0]), [str(e) for e in loaded.errors]


def run_cli(*args: str, stdin: bytes | None = None, cwd: Path | None = None
            ) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m vfiolint`` in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "vfiolint", *args], input=stdin,
                          capture_output=True, cwd=cwd or ROOT, timeout=120, check=False)
