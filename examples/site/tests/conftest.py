# The `site` fixture: the example's app, built once for the whole test session.
from __future__ import annotations

import pytest
from served import Site, build_site


@pytest.fixture(scope="session")
def site() -> Site:
    return build_site()
