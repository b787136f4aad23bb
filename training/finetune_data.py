"""Fine-tuning data: a user's files turned into packed rows of token ids.

Each file is cut into chunks of whole lines (`samples.chunks`) and each chunk makes
one sample:

- mostly (`FinetuneMix.fim_rate`) a fill-in-the-middle sample, PSM or SPM, made by
  `FimFormat.training_text`: the very prompt the server sends, then the middle,
  then the end token. The hole is a syntax node (`node_holes`) at `node_rate`,
  else a cursor hole or a random span (`samples.split_hole`);
- else the chunk left to right after its path header, ending with the end token.

File text is neutralised first, as the server does with the text it sends: a file
that contains "<|endoftext|>" literally must not become the end-of-text token.

Samples are then packed: concatenated and cut into rows of `seq_len` tokens, with
no padding at all. Every sample ends with the end token, so the model still sees
where one stops; attention crosses those boundaries, as in pretraining. The last,
partial row is completed by wrapping around to the first tokens of the stream
rather than dropped or padded: no file of a small repository is lost, no row
needs an attention mask, and no loss is spent on padding. `padded_rows` is the
one-sample-per-row layout a plain transformers Trainer uses, to measure what
packing saves.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

from codegen_lsp.prompts.fim import FimFormat, FimTokenError, Order, check_single_tokens, neutralise
from training.node_holes import node_hole
from training.samples import chunks, split_hole

# Code tokenises at roughly 3 to 4 characters a token; 3 keeps most chunks (and so
# most padded-baseline rows) within one sequence.
CHARS_PER_TOKEN = 3
TOKENIZE_BATCH = 256


@dataclass(frozen=True)
class FinetuneMix:
    fim_rate: float = 0.9     # share of FIM samples: fine-tuning is for completions
    spm_rate: float = 0.5     # share of FIM samples in SPM order (the rest PSM)
    node_rate: float = 0.5    # share of FIM holes on a syntax node (when the language has a grammar)
    cursor_rate: float = 0.5  # share of the other holes that start at a cursor (the rest random spans)


class FimParts(NamedTuple):
    prefix: str
    middle: str
    suffix: str
    order: Order
    on_node: bool  # the middle is a syntax node (else a cursor hole or a random span)


class Sample(NamedTuple):
    text: str
    fim: FimParts | None  # None for a left-to-right sample


@dataclass(frozen=True)
class DatasetStats:
    files: int        # files that gave at least one sample
    samples: int      # over all epochs
    fim_samples: int
    node_holes: int   # FIM samples whose middle is a syntax node
    tokens: int       # in all samples, before packing


@dataclass(frozen=True)
class Dataset:
    rows: np.ndarray            # [rows, seq_len] int64, packed
    samples: list[list[int]]    # each sample's ids, for the padded baseline
    stats: DatasetStats


def sample_texts(fim: FimFormat, repo: str, path: str, language: str, text: str,
                 rng: random.Random, mix: FinetuneMix, max_chars: int) -> list[str]:
    """One training text per chunk of the file; the same rng state gives the same texts."""
    return [sample.text for sample in file_samples(fim, repo, path, language, text, rng, mix, max_chars)]


def file_samples(fim: FimFormat, repo: str, path: str, language: str, text: str,
                 rng: random.Random, mix: FinetuneMix, max_chars: int) -> list[Sample]:
    """`sample_texts` with the parts each FIM sample was made of."""
    text = neutralise(text, fim.special_tokens)
    header = fim.repo_header(repo, path) if fim.file_separator else ""
    return [chunk_sample(fim, header, chunk, language, rng, mix)
            for chunk in chunks(text, max_chars) if chunk.strip()]


def chunk_sample(fim: FimFormat, header: str, chunk: str, language: str,
                 rng: random.Random, mix: FinetuneMix) -> Sample:
    if rng.random() >= mix.fim_rate:
        return Sample(header + chunk + fim.end_of_text, None)
    parts = fim_parts(chunk, language, rng, mix)
    return Sample(fim.training_text(parts.prefix, parts.middle, parts.suffix, parts.order), parts)


def fim_parts(chunk: str, language: str, rng: random.Random, mix: FinetuneMix) -> FimParts:
    """A hole in `chunk` and the order to show it in."""
    hole = node_hole(chunk, language, rng) if rng.random() < mix.node_rate else None
    on_node = hole is not None
    prefix, middle, suffix = hole if on_node else split_hole(chunk, rng, mix.cursor_rate)
    order: Order = "spm" if rng.random() < mix.spm_rate else "psm"
    return FimParts(prefix, middle, suffix, order, on_node)


def pack(token_lists: list[list[int]], seq_len: int) -> np.ndarray:
    """The samples' tokens end to end, cut into rows of `seq_len` ([rows, seq_len], int64).

    No padding: the last row is filled up with the stream's first tokens (wrapping
    around as often as needed when there is less than one row). No input, no rows.
    """
    stream = np.fromiter(itertools.chain.from_iterable(token_lists), dtype=np.int64)
    if stream.size == 0:
        return np.zeros((0, seq_len), dtype=np.int64)
    rows = -(-stream.size // seq_len)
    short = rows * seq_len - stream.size
    if short:
        stream = np.concatenate([stream, np.resize(stream, short)])  # np.resize repeats from the start
    return stream.reshape(rows, seq_len)


def padded_rows(token_lists: list[list[int]], seq_len: int, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, attention mask), one sample per row, cut to `seq_len` and right-padded with `pad_id`."""
    ids = np.full((len(token_lists), seq_len), pad_id, dtype=np.int64)
    mask = np.zeros((len(token_lists), seq_len), dtype=np.int64)
    for row, tokens in enumerate(token_lists):
        kept = tokens[:seq_len]
        ids[row, :len(kept)] = kept
        mask[row, :len(kept)] = 1
    return ids, mask


def build_dataset(fim: FimFormat, tokenizer, files: Sequence[tuple[str, str, str, str]], seq_len: int,
                  mix: FinetuneMix = FinetuneMix(), seed: int = 0, epochs: int = 1,
                  max_chars: int | None = None) -> Dataset:
    """Packed rows from (repo, path, language, text) files, with new holes each epoch.

    Each file's samples come from its own generator, seeded by the seed, the epoch
    and the file's name: a file's samples don't change when other files come or go.
    Raises FimTokenError when the tokenizer does not keep the format's tokens whole.
    """
    check_single_tokens(fim, tokenizer)
    max_chars = max_chars or seq_len * CHARS_PER_TOKEN
    samples: list[Sample] = []
    productive_files = set()
    for epoch in range(epochs):
        for repo, path, language, text in files:
            rng = random.Random(f"{seed}/{epoch}/{repo}/{path}")
            made = file_samples(fim, repo, path, language, text, rng, mix, max_chars)
            samples += made
            if made:
                productive_files.add((repo, path))
    ids = tokenize([s.text for s in samples], tokenizer)
    _check_fim_markers(fim, tokenizer, samples, ids)
    fim_samples = [s for s in samples if s.fim is not None]
    stats = DatasetStats(files=len(productive_files), samples=len(samples), fim_samples=len(fim_samples),
                         node_holes=sum(s.fim.on_node for s in fim_samples), tokens=sum(map(len, ids)))
    return Dataset(rows=pack(ids, seq_len), samples=ids, stats=stats)


def tokenize(texts: list[str], tokenizer) -> list[list[int]]:
    """Token ids of each text, in batches (a fast tokenizer works a batch in parallel)."""
    ids: list[list[int]] = []
    for start in range(0, len(texts), TOKENIZE_BATCH):
        batch = texts[start:start + TOKENIZE_BATCH]
        ids += tokenizer(batch, add_special_tokens=False)["input_ids"]
    return ids


def _check_fim_markers(fim: FimFormat, tokenizer, samples: list[Sample], ids: list[list[int]]) -> None:
    """Each marker of the first FIM sample must be one id, once, in its tokens.

    `check_single_tokens` tokenises a marker alone; inside a sample, between code,
    a tokenizer that does not treat it as special could still merge it away.
    """
    first = next((i for i, sample in enumerate(samples) if sample.fim is not None), None)
    if first is None:
        return
    for marker in (fim.prefix, fim.suffix, fim.middle):
        (marker_id,) = tokenizer.encode(marker.strip(), add_special_tokens=False)
        if ids[first].count(marker_id) != 1:
            raise FimTokenError(f"FIM format {fim.name!r}: token {marker.strip()!r} does not come out as "
                                "one token inside a training sample")
