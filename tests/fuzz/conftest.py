"""tests/fuzz: the fuzz targets' table (targets.py) is importable by the tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
