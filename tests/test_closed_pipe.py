"""A reader that stops early (`invoke matrix | head -3`) ends a command quietly: exit 141, as a
shell reports a command killed by SIGPIPE, and no traceback."""

import os
import subprocess
import sys

from .conftest import ROOT


def test_a_closed_stdout_ends_the_command_with_141_and_no_traceback():
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        result = subprocess.run(
            [sys.executable, "-m", "invoke", "--search-root", str(ROOT), "matrix"],
            cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    finally:
        os.close(write_end)
    assert result.returncode == 141, result.stderr
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr
