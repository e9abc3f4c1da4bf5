"""Running external commands with errors that say which command failed."""

import shlex
import subprocess
from pathlib import Path
from typing import Sequence

from wasmforge.core.errors import WasmforgeError


def run(
    argv: Sequence[str],
    *,
    error: type[WasmforgeError],
    what: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    capture: bool = False,
    log_path: Path | None = None,
) -> str:
    """Run argv; on failure raise `error` naming `what` and the tail of the output."""
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            result = subprocess.run(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise error(f"{what} failed (exit {result.returncode}; log {log_path}): {' | '.join(tail)}")
        return ""
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise error(f"{what} failed (exit {result.returncode}): {shlex.join(argv[:3])} …: {' | '.join(tail)}")
    return result.stdout if capture else ""
