"""The pretraining recipe end to end at smoke size: corpus, tokenizer, training, resume, evaluation, card."""

import json
from dataclasses import replace

import pytest

from codegen_lsp.backends.local import LocalBackend
from codegen_lsp.prompts.fim import CODEGEN
from training.evaluate import evaluate_model
from training.model_card import write_card
from training.pretrain import PRESETS, learning_rate, pretrain

SMOKE = PRESETS["smoke"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A five-step run on the first 400 candidate files, then resumed to eight steps."""
    work = tmp_path_factory.mktemp("pretrain")
    first = pretrain(work, work / "model", replace(SMOKE, steps=5), limit_files=400)
    first_training = json.loads((first / "training.json").read_text())
    manifest_mtime = (work / "manifest.jsonl").stat().st_mtime_ns
    with pytest.raises(SystemExit, match="--resume"):
        pretrain(work, work / "model", replace(SMOKE, steps=8), limit_files=400)
    out = pretrain(work, work / "model", replace(SMOKE, steps=8), resume=True, limit_files=400)
    return work, out, first_training, manifest_mtime


def test_manifest_records_every_file_with_licence_and_split(run):
    work, out, _, _ = run
    rows = [json.loads(line) for line in (out / "corpus_manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 400
    assert {r["split"] for r in rows} == {"train", "heldout", "dropped"}
    for row in rows:
        assert row["package"] and row["version"] and row["licence"]
        assert (row["split"] == "dropped") == bool(row["reason"])
        assert "path" not in row  # machine paths stay out of the shipped manifest
    summary = json.loads((out / "corpus_summary.json").read_text())
    assert summary["train_files"] + summary["heldout_files"] + sum(summary["dropped"].values()) == 400


def test_resume_continues_the_same_run(run):
    work, out, first_training, manifest_mtime = run
    training = json.loads((out / "training.json").read_text())
    assert first_training["steps"] == 5 and training["steps"] == 8
    assert [r["step"] for r in training["history"]] == list(range(1, 9))
    assert training["history"][:5] == first_training["history"]
    assert (work / "manifest.jsonl").stat().st_mtime_ns == manifest_mtime  # finished stages are not redone
    assert json.loads((out / "recipe.json").read_text())["steps"] == 8


def test_the_exported_model_serves(run):
    _, out, _, _ = run
    backend = LocalBackend(out)
    assert backend.fim.name == CODEGEN.name
    for token in CODEGEN.special_tokens:
        assert len(backend.tokenizer.encode(token, add_special_tokens=False)) == 1
    assert backend.context_window == SMOKE.seq_len
    backend.close()


def test_evaluation_and_card(run):
    work, out, _, _ = run
    results = evaluate_model(out, work, tasks_per_kind=4, loss_windows=1)
    assert set(results["fim-line"]) == {"copy earlier line", "copy earlier line (whole file)", "4-gram", "model (PSM)", "model (SPM)"}
    for kind in ("next-line", "fim-line"):
        for row in results[kind].values():
            assert 0.0 <= row["exact_match"] <= 1.0 and 0.0 <= row["edit_similarity"] <= 1.0
    assert results["loss"]["model"] > 0 and results["loss"]["4-gram"] > 0 and results["loss"]["tokens"] > 0
    declared = json.loads((out / "fim.json").read_text())["order"]
    best = max(("psm", "spm"), key=lambda o: results["fim-line"][f"model ({o.upper()})"]["edit_similarity"])
    assert declared == best or results["fim-line"]["model (PSM)"] == results["fim-line"]["model (SPM)"]
    backend = LocalBackend(out)
    assert backend.fim.default_order == declared  # the server asks in the order the model fills best
    backend.close()
    card = write_card(out).read_text()
    assert "| system | next line EM" in card and "| 4-gram |" in card
    assert "python-stdlib" in card and "PSF-2.0" in card


def test_learning_rate_warms_up_then_decays_to_the_floor():
    recipe = PRESETS["cpu"]
    rates = [learning_rate(recipe, s) for s in range(recipe.steps + 1)]
    assert rates[0] < rates[recipe.warmup - 1] == pytest.approx(recipe.lr)
    assert rates[-1] == pytest.approx(recipe.min_lr)
    assert all(a >= b for a, b in zip(rates[recipe.warmup:], rates[recipe.warmup + 1:]))


def test_the_stream_is_the_same_whatever_the_number_of_workers(run):
    work, out, _, _ = run
    from training import corpus
    from training.pretrain import read_split, stage_tokenizer
    from training.stream import build_stream

    files = read_split(work, corpus.read_manifest(work / "manifest.jsonl"), "train")
    files = dict(sorted(files.items())[:40])
    tokenizer = stage_tokenizer(work, SMOKE, files)
    args = (tokenizer, files, 60_000, SMOKE.mix, 600)
    one = build_stream(*args, seed="s", workers=1)
    two = build_stream(*args, seed="s", workers=2)
    assert len(one) == 60_000 and (one == two).all()
    assert not (build_stream(*args, seed="t", workers=1) == one).all()


def test_a_time_budget_fits_the_step_count():
    from training.pretrain import fit_steps

    recipe = PRESETS["gpu"]
    assert fit_steps(recipe, 23, 0.1, 60.0).steps == 23 + int(0.95 * 600)
    assert fit_steps(recipe, 23, 0.1, 1e6).steps == recipe.steps        # never more than the recipe
    assert fit_steps(recipe, 23, 10.0, 5.0).steps == recipe.warmup + 1  # never less than the warm-up
