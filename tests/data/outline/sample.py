import os
from collections import OrderedDict as OD

MAX_SIZE = 10
counter = 0


class Cache(OD):
    """An LRU cache.

    More text.
    """

    def get(self, key: str, default=None) -> object:
        """Return the value for key."""
        return super().get(key, default)


async def fetch(url,
                timeout=5):
    return url
