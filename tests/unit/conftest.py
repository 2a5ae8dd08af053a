# tests/unit/conftest.py: fixtures shared by the unit tests.
#
# write_app writes an app file and returns the line numbers of lines tagged `# @tag`, so
# tests assert error locations without counting lines by hand.
from __future__ import annotations

from pathlib import Path

import pytest
from unit_helpers import AppWriter, make_writer


@pytest.fixture
def write_app(tmp_path: Path) -> AppWriter:
    return make_writer(tmp_path)
