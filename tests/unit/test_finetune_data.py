"""Fine-tuning data: syntax-node holes, samples = serving prompts, packing and its padded baseline."""

import random
from collections import Counter

import numpy as np
import pytest

from codegen_lsp.context.languages import parser_for
from codegen_lsp.prompts.fim import CODEGEN, DEEPSEEK, STARCODER, FimTokenError
from tests.conftest import ROOT
from training.finetune_data import (
    FinetuneMix,
    build_dataset,
    file_samples,
    pack,
    padded_rows,
    sample_texts,
)
from training.node_holes import MAX_BYTES, MAX_LINES, node_hole, pick_span
from training.samples import chunks

PYTHON = '''import math


class Circle:
    """A circle – with a non-ASCII docstring: π r²."""

    def __init__(self, radius):
        self.radius = radius
        self.label = f"circle({radius})"

    def area(self):
        if self.radius < 0:
            raise ValueError("négatif")
        return math.pi * self.radius ** 2


def total(shapes):
    result = 0
    for shape in shapes:
        result += shape.area()
    return round(result, 2)
'''

JAVASCRIPT = '''import { readFile } from "fs/promises";

export async function load(path, options) {
  const text = await readFile(path, "utf8");
  if (!text.trim()) {
    throw new Error(`empty file: ${path}`);
  }
  return JSON.parse(text, options.reviver);
}

class Cache {
  constructor(limit) {
    this.limit = limit;
    this.items = new Map();
  }
}
'''

TYPESCRIPT = '''interface Point {
  x: number;
  y: number;
}

export function distance(a: Point, b: Point): number {
  const dx: number = a.x - b.x;
  const dy: number = a.y - b.y;
  return Math.sqrt(dx * dx + dy * dy);
}

export const origin: Point = { x: 0, y: 0 };
for (const p of [origin]) {
  console.log(distance(p, origin), "units");
}
'''

GO = '''package geometry

import (
	"fmt"
	"math"
)

type Point struct {
	X, Y float64
}

func Distance(a, b Point) float64 {
	dx := a.X - b.X
	dy := a.Y - b.Y
	return math.Sqrt(dx*dx + dy*dy)
}

func Describe(p Point) string {
	if p.X == 0 && p.Y == 0 {
		return "origin"
	}
	return fmt.Sprintf("(%.1f, %.1f)", p.X, p.Y)
}
'''

RUST = '''use std::collections::HashMap;

pub struct Counter {
    counts: HashMap<String, usize>,
}

impl Counter {
    pub fn new() -> Self {
        Counter { counts: HashMap::new() }
    }

    pub fn add(&mut self, word: &str) -> usize {
        let count = self.counts.entry(word.to_string()).or_insert(0);
        *count += 1;
        println!("{} seen {} times", word, count);
        *count
    }
}
'''

SOURCES = {"python": PYTHON, "javascript": JAVASCRIPT, "typescript": TYPESCRIPT, "go": GO, "rust": RUST}
PATHS = {"python": "src/shapes.py", "javascript": "src/load.js", "typescript": "src/point.ts",
         "go": "geometry/point.go", "rust": "src/counter.rs"}


@pytest.fixture(scope="module")
def tokenizer():
    """The shipped model's tokenizer: the one `codegen-lsp train` fine-tunes by default."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(ROOT / "codegen_lsp" / "models" / "default", local_files_only=True)


# --- node holes ---------------------------------------------------------------------------------

def _node_spans(text: str, language: str) -> set[tuple[int, int, str]]:
    """(start, end, type) in characters of every node (type None when anonymous), without the module under test."""
    source = text.encode()
    chars = {0: 0}
    for i, ch in enumerate(text):  # byte offset -> character offset
        chars[len(text[:i + 1].encode())] = i + 1
    spans, stack = set(), [parser_for(language).parse(source).root_node]
    while stack:
        node = stack.pop()
        spans.add((chars[node.start_byte], chars[node.end_byte], node.type if node.is_named else None))
        stack.extend(node.children)
    return spans


def _alone_on_its_lines(text: str, start: int, end: int) -> bool:
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    return not text[line_start:start].strip() and not text[end:line_end if line_end >= 0 else None].strip()


@pytest.mark.parametrize("language", list(SOURCES))
def test_node_holes_cut_along_the_syntax_tree(language):
    text = SOURCES[language]
    nodes = _node_spans(text, language)
    starts, ends = {s for s, _, _ in nodes}, {e for _, e, _ in nodes}
    exact = {(s, e) for s, e, kind in nodes if kind}  # named nodes
    kinds = Counter()
    for seed in range(300):
        span = pick_span(text, language, random.Random(seed))
        prefix, middle, suffix = node_hole(text, language, random.Random(seed))
        assert prefix + middle + suffix == text
        assert (len(prefix), len(prefix) + len(middle)) == (span.start, span.end)
        start, end = span.start, span.end
        assert len(middle.strip()) >= 3 and middle.count("\n") < MAX_LINES and len(middle.encode()) <= MAX_BYTES
        kinds[span.kind] += 1
        if span.kind == "expression":
            assert (start, end) in exact, middle
        elif span.kind == "arguments":  # the text inside a call's parentheses
            assert text[start - 1] == "(" and text[end] == ")" and (start - 1, end + 1) in exact, middle
        elif span.kind == "block":  # a body's statements, without its braces
            assert start in starts and end in ends, middle
            assert text[:start].rstrip().endswith(("{", ":")), middle
            assert language == "python" or text[end:].lstrip().startswith("}"), middle
        else:  # consecutive statements on lines of their own
            assert span.kind == "lines"
            assert start in starts and end in ends and _alone_on_its_lines(text, start, end), middle
    assert set(kinds) == {"lines", "block", "expression", "arguments"}, kinds
    assert kinds.most_common(1)[0][0] == "lines"


def test_node_holes_skip_broken_code():
    """A chunk cut in the middle of a function still gives holes, none of them in the broken part."""
    text = PYTHON[:PYTHON.index("        return math.pi")] + "        return math.pi * (self.radius\n"
    for seed in range(100):
        prefix, middle, suffix = node_hole(text, "python", random.Random(seed))
        assert prefix + middle + suffix == text
        assert "return math.pi" not in middle


@pytest.mark.parametrize("language", ["haskell", "", "plaintext"])
def test_a_language_without_a_grammar_falls_back_to_other_holes(language):
    assert node_hole(PYTHON, language, random.Random(0)) is None
    mix = FinetuneMix(fim_rate=1.0, node_rate=1.0)
    samples = file_samples(CODEGEN, "me/proj", "src/Main.hs", language, PYTHON, random.Random(0), mix, 300)
    assert samples and all(s.fim is not None and not s.fim.on_node for s in samples)


def test_text_without_a_useful_node_gives_none():
    assert node_hole("x\n", "python", random.Random(0)) is None
    assert node_hole("", "go", random.Random(0)) is None


# --- samples --------------------------------------------------------------------------------------

@pytest.mark.parametrize("order", ["psm", "spm"])
def test_fim_samples_are_the_prompts_the_server_sends(order):
    mix = FinetuneMix(fim_rate=1.0, spm_rate=1.0 if order == "spm" else 0.0)
    samples = []
    for seed in range(10):
        made = file_samples(CODEGEN, "me/proj", "shapes.py", "python", PYTHON, random.Random(seed), mix, 200)
        assert [s.text for s in made] == sample_texts(CODEGEN, "me/proj", "shapes.py", "python", PYTHON,
                                                      random.Random(seed), mix, 200)
        assert [s.fim.prefix + s.fim.middle + s.fim.suffix for s in made] == chunks(PYTHON, 200)
        samples += made
    assert any(s.fim.on_node for s in samples) and not all(s.fim.on_node for s in samples)
    for sample in samples:
        prefix, middle, suffix, sample_order, _ = sample.fim
        assert sample_order == order
        prompt = CODEGEN.prompt(prefix, suffix, order)  # what the server sends for this cursor
        assert sample.text == prompt + middle + CODEGEN.end_of_text
        # The same split, read off the text alone: the markers sit where the prompt puts them.
        head, marker, tail = sample.text.partition(CODEGEN.middle)
        if order == "psm":
            assert head + marker == prompt
            assert head == CODEGEN.prefix + prefix + CODEGEN.suffix + suffix
        else:
            assert head == CODEGEN.prefix + CODEGEN.suffix + suffix
            assert tail == prefix + middle + CODEGEN.end_of_text


@pytest.mark.parametrize("fim, header", [
    (CODEGEN, f"{CODEGEN.repo_name}me/proj\n{CODEGEN.file_separator}src/point.ts\n"),
    (DEEPSEEK, ""),  # no file separator token: no header
])
def test_left_to_right_samples_follow_the_path_header(fim, header):
    mix = FinetuneMix(fim_rate=0.0)
    texts = sample_texts(fim, "me/proj", "src/point.ts", "typescript", TYPESCRIPT, random.Random(0), mix, 200)
    assert texts == [header + chunk + fim.end_of_text for chunk in chunks(TYPESCRIPT, 200)]


def test_mix_rates_hold_over_many_samples():
    rng, mix = random.Random(2), FinetuneMix()
    samples = [sample for _ in range(30) for language, text in SOURCES.items()
               for sample in file_samples(CODEGEN, "r", PATHS[language], language, text, rng, mix, 200)]
    fim = [s.fim for s in samples if s.fim is not None]
    assert 0.85 < len(fim) / len(samples) < 0.95
    assert 0.42 < sum(p.order == "spm" for p in fim) / len(fim) < 0.58
    assert 0.35 < sum(p.on_node for p in fim) / len(fim) < 0.55  # a few chunks have no usable node


def test_samples_depend_only_on_the_rng():
    def texts(seed):
        return sample_texts(CODEGEN, "r", "a.go", "go", GO, random.Random(seed), FinetuneMix(), 150)
    assert texts(1) == texts(1)
    assert texts(1) != texts(2)


def test_special_token_text_in_a_file_stays_text(tokenizer):
    text = 'END = "<|endoftext|>"\nSEP = "<|cg_fim_middle|>"\n'
    eot = tokenizer.convert_tokens_to_ids(CODEGEN.end_of_text)
    for seed in range(20):
        (sample,) = sample_texts(CODEGEN, "r", "tok.py", "python", text, random.Random(seed), FinetuneMix(), 500)
        ids = tokenizer(sample, add_special_tokens=False)["input_ids"]
        assert ids.count(eot) == 1 and ids[-1] == eot
        assert sample.count(CODEGEN.middle) == (1 if sample.startswith(CODEGEN.prefix) else 0)


# --- packing ---------------------------------------------------------------------------------------

def _token_lists(seed=0, count=40):
    rng = random.Random(seed)
    return [[rng.randrange(1, 5000) for _ in range(rng.randint(1, 70))] for _ in range(count)]


@pytest.mark.parametrize("seq_len", [16, 64, 100])
def test_pack_keeps_every_token_in_order_without_padding(seq_len):
    lists = _token_lists()
    stream = np.array([t for tokens in lists for t in tokens])
    rows = pack(lists, seq_len)
    assert rows.dtype == np.int64 and rows.shape == (-(-stream.size // seq_len), seq_len)
    flat = rows.ravel()
    assert (flat[:stream.size] == stream).all()
    assert (flat[stream.size:] == stream[:flat.size - stream.size]).all()  # the last row wraps around


def test_pack_small_and_empty_inputs():
    assert pack([[1, 2], [3]], 8).tolist() == [[1, 2, 3, 1, 2, 3, 1, 2]]
    assert pack([[1, 2], [3, 4]], 2).tolist() == [[1, 2], [3, 4]]
    assert pack([], 8).shape == (0, 8)


def test_padded_rows_mask_exactly_the_padding():
    lists = _token_lists(seed=1, count=12) + [[0, 0, 7]]  # real tokens may equal the pad id
    ids, mask = padded_rows(lists, 32, pad_id=0)
    assert ids.shape == mask.shape == (len(lists), 32) and ids.dtype == mask.dtype == np.int64
    for row, tokens in enumerate(lists):
        kept = min(len(tokens), 32)
        assert ids[row, :kept].tolist() == tokens[:kept]
        assert (mask[row, :kept] == 1).all() and (mask[row, kept:] == 0).all() and (ids[row, kept:] == 0).all()


# --- the dataset ----------------------------------------------------------------------------------

FILES = [("me/proj", PATHS[lang], lang, text) for lang, text in SOURCES.items()] + [
    ("me/proj", "README.txt", "plaintext", "Shapes and points.\n\nRun the tests with pytest.\n"),
    ("me/proj", "empty.py", "python", "\n\n"),
]


def test_build_dataset_packs_tokenised_samples(tokenizer):
    mix = FinetuneMix(fim_rate=0.7)
    data = build_dataset(CODEGEN, tokenizer, FILES, seq_len=128, mix=mix, seed=3, max_chars=150)
    stats = data.stats
    assert stats.files == 6  # the blank file gives no sample
    assert stats.samples == len(data.samples) and stats.tokens == sum(map(len, data.samples))
    assert 0 < stats.node_holes < stats.fim_samples < stats.samples
    assert data.rows.shape == (-(-stats.tokens // 128), 128)
    stream = [t for ids in data.samples for t in ids]
    assert data.rows.ravel()[:len(stream)].tolist() == stream
    # The FIM markers are one id each, where the prompt puts them.
    marker_ids = [tokenizer.convert_tokens_to_ids(t) for t in (CODEGEN.prefix, CODEGEN.suffix, CODEGEN.middle)]
    ids = next(ids for ids in data.samples if ids[0] == marker_ids[0])
    assert all(ids.count(m) == 1 for m in marker_ids)
    assert ids[-1] == tokenizer.convert_tokens_to_ids(CODEGEN.end_of_text)
    assert tokenizer.decode(ids).startswith(CODEGEN.prefix)


def test_build_dataset_is_deterministic_and_new_holes_each_epoch(tokenizer):
    one = build_dataset(CODEGEN, tokenizer, FILES, seq_len=64, seed=1, max_chars=300)
    again = build_dataset(CODEGEN, tokenizer, FILES, seq_len=64, seed=1, max_chars=300)
    two = build_dataset(CODEGEN, tokenizer, FILES, seq_len=64, seed=1, epochs=2, max_chars=300)
    assert (one.rows == again.rows).all()
    assert two.stats.samples == 2 * one.stats.samples and two.stats.files == one.stats.files
    assert two.samples[:one.stats.samples] == one.samples
    assert two.samples[one.stats.samples:] != one.samples
    # A file's samples don't depend on the others.
    alone = build_dataset(CODEGEN, tokenizer, FILES[2:3], seq_len=64, seed=1, max_chars=300)
    assert all(ids in one.samples for ids in alone.samples)


def test_build_dataset_rejects_a_format_the_tokenizer_splits(tokenizer):
    with pytest.raises(FimTokenError, match="<fim_prefix>"):
        build_dataset(STARCODER, tokenizer, FILES, seq_len=64)


def test_packing_fills_what_padding_wastes(tokenizer):
    data = build_dataset(CODEGEN, tokenizer, FILES, seq_len=256, seed=0, max_chars=300)
    pad_id = tokenizer.pad_token_id
    ids, mask = padded_rows(data.samples, 256, pad_id)
    assert mask.sum() == sum(min(len(s), 256) for s in data.samples)
    assert data.rows.size < ids.size  # the same tokens in fewer slots
