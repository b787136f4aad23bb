"""Getting items out of the shop."""
