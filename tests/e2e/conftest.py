"""Every end-to-end test runs as both editors: Neovim's and VS Code's client capabilities."""

import pytest

EDITORS = ["neovim", "visual_studio_code"]


@pytest.fixture(params=EDITORS)
def editor(request) -> str:
    return request.param
