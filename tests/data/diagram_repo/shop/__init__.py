"""A tiny shop: items, prices and exports (a fixture for the diagram tests)."""

from .models import Item

__all__ = ["Item"]
