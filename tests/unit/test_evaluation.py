"""Evaluation parts: the Kneser-Ney baseline, the metrics, the copy baseline and the tasks."""

import numpy as np
import pytest

from tests.conftest import FIT_TEXT
from training.evaluate import Task, make_tasks, markdown_table, score
from training.metrics import edit_similarity, levenshtein, most_similar_line_completion
from training.ngram import KneserNey

VOCAB = 12


@pytest.fixture(scope="module")
def ngram():
    rng = np.random.default_rng(0)
    # A pattern (1 2 3 4 5) repeated, with random tokens between repetitions.
    parts = [np.array([1, 2, 3, 4, 5]) if i % 2 == 0 else rng.integers(0, VOCAB, 3) for i in range(400)]
    return KneserNey(np.concatenate(parts), VOCAB, order=4)


@pytest.mark.parametrize("history", [[1, 2, 3], [5, 5, 5], [11, 0, 7], [0, 0, 0]])
def test_probabilities_are_a_distribution(ngram, history):
    words = np.arange(VOCAB)
    p = ngram.probabilities(np.tile(history, (VOCAB, 1)), words)
    assert np.all(p > 0)
    assert p.sum() == pytest.approx(1.0, abs=1e-9)


def test_the_pattern_is_predicted_and_cheap(ngram):
    assert ngram.next_token([1, 2, 3]) == 4
    assert ngram.next_token([2, 3, 4]) == 5
    pattern = np.tile([1, 2, 3, 4, 5], 20)
    noise = np.random.default_rng(1).integers(0, VOCAB, 100)
    assert ngram.loss(pattern) < 1.0 < 2.0 < ngram.loss(noise) < np.log(VOCAB) * 1.5


def test_keys_must_fit():
    with pytest.raises(ValueError, match="63-bit"):
        KneserNey(np.arange(10), vocab_size=2**20, order=4)


@pytest.mark.parametrize("a, b, distance", [("", "", 0), ("abc", "", 3), ("kitten", "sitting", 3), ("same", "same", 0)])
def test_levenshtein(a, b, distance):
    assert levenshtein(a, b) == distance == levenshtein(b, a)


def test_edit_similarity_bounds():
    assert edit_similarity("", "") == 1.0
    assert edit_similarity("abc", "xyz") == 0.0
    assert edit_similarity("return a + b", "return a - b") == pytest.approx(1 - 1 / 12)


def test_copy_baseline_follows_the_most_similar_pattern():
    prefix = ("x = load('a')\nprint_a(x)\n"
              "y = load('b')\nprint_b(y)\n"
              "x = load('a')\nprint_")
    assert most_similar_line_completion(prefix) == "a(x)"
    assert most_similar_line_completion("first line") == ""
    assert most_similar_line_completion("a = 1\nzzz") == ""


def test_tasks_are_fixed_and_cut_the_text_at_a_line():
    files = {"pkg/shapes.py": FIT_TEXT.read_text()}
    tasks = make_tasks(files, 30, "fim-line", seed=3)
    assert tasks == make_tasks(files, 30, "fim-line", seed=3)
    for task in tasks:
        text = files[task.name]
        assert text.startswith(task.prefix) and text.endswith(task.suffix)
        middle = text[len(task.prefix): len(text) - len(task.suffix)]
        assert middle.rstrip() == task.target and "\n" not in middle
    for task in make_tasks(files, 30, "next-line"):
        assert task.suffix == "" and task.prefix.split("\n")[-1].strip() == ""


def test_score_and_table():
    tasks = [Task("fim-line", "f", "", "", "return a"), Task("fim-line", "f", "", "", "x = 1")]
    assert score(["return a", "x = 2"], tasks) == {"exact_match": 0.5, "edit_similarity": pytest.approx(0.9)}
    result = {"next-line": {"copy earlier line": {"exact_match": 0.1, "edit_similarity": 0.3},
                            "4-gram": {"exact_match": 0.2, "edit_similarity": 0.4},
                            "model": {"exact_match": 0.3, "edit_similarity": 0.5}},
              "fim-line": {"copy earlier line": {"exact_match": 0.1, "edit_similarity": 0.3},
                           "4-gram": {"exact_match": 0.2, "edit_similarity": 0.4},
                           "model (PSM)": {"exact_match": 0.4, "edit_similarity": 0.6},
                           "model (SPM)": {"exact_match": 0.45, "edit_similarity": 0.65}},
              "loss": {"model": 1.5, "4-gram": 2.5, "tokens": 100}}
    table = markdown_table(result).splitlines()
    assert table[2] == "| copy earlier line | 10.0% | 0.300 | 10.0% | 0.300 | - |"
    assert table[5] == "| model (SPM) | 30.0% | 0.500 | 45.0% | 0.650 | 1.500 |"


def test_every_system_sees_the_window_the_model_gets():
    from training.evaluate import PREFIX_TOKENS, SUFFIX_TOKENS, windowed
    from training.tiny import build_tokenizer

    text = FIT_TEXT.read_text() * 8
    tokenizer = build_tokenizer([text], vocab_size=300)
    assert len(tokenizer(text)["input_ids"]) > PREFIX_TOKENS + SUFFIX_TOKENS
    middle = len(text) // 2
    task = Task("fim-line", "f", text[:middle], text[middle:], "x")
    (seen,) = windowed(tokenizer, [task])
    assert task.prefix.endswith(seen.prefix) and task.suffix.startswith(seen.suffix)
    assert len(tokenizer(seen.prefix)["input_ids"]) == PREFIX_TOKENS
    assert len(tokenizer(seen.suffix)["input_ids"]) == SUFFIX_TOKENS
    assert windowed(tokenizer, [seen]) == [seen]
