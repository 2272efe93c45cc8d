"""Saving the CLI's matplotlib figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def save_png(fig: Any, path: Path) -> Path:
    """Lay out and save a matplotlib figure as a PNG (creating the directory)."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
