"""Where the copy of Iglu Central (679 public schemas, data we do not own) lies.

``DATACORAL_IGLU_CENTRAL`` names it; else it is ``shared/iglu-central`` beside the
repository, which is where it lies in this workplace, whatever folder the checkout is
in (a clean clone elsewhere falls back on ``/work/shared/iglu-central``).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_CANDIDATES = (ROOT.parent / "shared" / "iglu-central", Path("/work/shared/iglu-central"))


def iglu_central_dir() -> Path:
    """The Iglu Central copy's folder (it holds ``schemas/``); the first candidate when
    none exists, so the message naming it says where it was looked for."""
    named = os.environ.get("DATACORAL_IGLU_CENTRAL")
    if named:
        return Path(named)
    for candidate in _CANDIDATES:
        if (candidate / "schemas").is_dir():
            return candidate
    return _CANDIDATES[0]
