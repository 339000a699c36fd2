"""Where the commands find the shipped model and the shared data by default.

Both are found relative to this checkout: `models/open-ada-small/` inside it and `../shared/data` beside it. That
works when open-ada runs from its source tree (`pip install -e .`, or `python -m open_ada.cli` in the checkout); a
regular (non-editable) install has no checkout around it, so pass `--model` and set `$OPEN_ADA_DATA` there.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The trained model that ships in this repository; the default `--model` of every command that loads one.
DEFAULT_MODEL = REPO_ROOT / "models" / "open-ada-small"
#: The shared evaluation and training data, read in place (`$OPEN_ADA_DATA` overrides).
DATA_DIR = Path(os.environ.get("OPEN_ADA_DATA", REPO_ROOT.parent / "shared" / "data"))
