"""Exact and near-duplicate detection for source files (MinHash with LSH banding).

Copies of a file (vendored twice, pasted between modules, a generated table per
locale) would make a model memorise them and would leak held-out files into
training. Two files are near-duplicates when the estimated Jaccard similarity of
their 5-token shingles reaches `threshold`.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass, field

import numpy as np

_TOKEN = re.compile(r"\w+|[^\w\s]")
_MERSENNE = np.uint64((1 << 61) - 1)
SHINGLE = 5


def exact_key(text: str) -> str:
    """Equal for files that differ only in trailing whitespace or line endings."""
    normal = "\n".join(line.rstrip() for line in text.splitlines()).strip()
    return hashlib.sha256(normal.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class MinHasher:
    permutations: int = 128
    seed: int = 1

    def _params(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        a = rng.integers(1, (1 << 61) - 1, size=self.permutations, dtype=np.uint64)
        b = rng.integers(0, (1 << 61) - 1, size=self.permutations, dtype=np.uint64)
        return a, b

    def signature(self, text: str) -> np.ndarray:
        """`permutations` minimum hashes of the text's token shingles (uint64)."""
        tokens = np.array([zlib.crc32(t.encode("utf-8", "surrogatepass")) for t in _TOKEN.findall(text)],
                          dtype=np.uint64)
        if len(tokens) < SHINGLE:
            tokens = np.pad(tokens, (0, SHINGLE - len(tokens)))
        # A shingle's hash mixes its tokens' crc32s; uint64 arithmetic wraps, which is fine for hashing.
        shingles = np.zeros(len(tokens) - SHINGLE + 1, dtype=np.uint64)
        for k in range(SHINGLE):
            shingles = shingles * np.uint64(1_000_003) + tokens[k: len(tokens) - SHINGLE + 1 + k]
        shingles = np.unique(shingles)
        a, b = self._params()
        with np.errstate(over="ignore"):
            hashed = (shingles[:, None] * a[None, :] + b[None, :]) % _MERSENNE
        return hashed.min(axis=0)


@dataclass
class NearDuplicateIndex:
    """Files are added in a fixed order; a file similar to an earlier one is a duplicate."""

    permutations: int = 128
    bands: int = 16
    threshold: float = 0.85
    _buckets: dict[tuple[int, bytes], list[int]] = field(default_factory=dict)
    _signatures: list[np.ndarray] = field(default_factory=list)

    def add(self, signature: np.ndarray) -> int | None:
        """Index the signature; return the index of the earlier file it duplicates, or None."""
        rows = self.permutations // self.bands
        keys = [(band, signature[band * rows:(band + 1) * rows].tobytes()) for band in range(self.bands)]
        for key in keys:
            for other in self._buckets.get(key, ()):
                if self.similarity(signature, self._signatures[other]) >= self.threshold:
                    return other
        index = len(self._signatures)
        self._signatures.append(signature)
        for key in keys:
            self._buckets.setdefault(key, []).append(index)
        return None

    @staticmethod
    def similarity(a: np.ndarray, b: np.ndarray) -> float:
        """Estimated Jaccard similarity of the two shingle sets."""
        return float(np.mean(a == b))
