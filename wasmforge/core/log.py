"""A small logging vocabulary for long-running work: steps, progress, warnings, summaries."""

import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, TextIO


def _out() -> TextIO:
    return sys.stderr


def info(message: str) -> None:
    print(message, file=_out(), flush=True)


def warning(message: str) -> None:
    print(f"warning: {message}", file=_out(), flush=True)


def detail(message: str) -> None:
    print(f"    {message}", file=_out(), flush=True)


@dataclass
class StageTimer:
    """Records how long each named stage took, for the end-of-build summary."""

    durations: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        info(f"==> {name}")
        start = time.monotonic()
        try:
            yield
        finally:
            elapsed = time.monotonic() - start
            self.durations[name] = self.durations.get(name, 0.0) + elapsed
            info(f"<== {name} ({format_seconds(elapsed)})")


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}m{rest:02d}s"


def format_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
