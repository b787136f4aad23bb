"""Backends on the session's tiny models, shared by the tests of one module."""

import pytest

from codegen_lsp.backends.local import LocalBackend


@pytest.fixture(scope="module")
def fitted(fitted_model):
    backend = LocalBackend(fitted_model, device="cpu")
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def rand(random_model):
    backend = LocalBackend(random_model, device="cpu")
    yield backend
    backend.close()
