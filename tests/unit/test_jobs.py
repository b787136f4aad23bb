"""The job runner and the foreground gate: completions first, one job at a time, cancel, OOM, idle release."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from codegen_lsp.backends.base import GenerationRequest, StopFlag
from codegen_lsp.backends.priority import ForegroundGate
from codegen_lsp.generators.jobs import JobCancelled, JobFailed, JobRunner


class Progress:
    def __init__(self, cancel_after: int | None = None):
        self.updates: list[tuple[int, int, str]] = []
        self.cancel_after = cancel_after

    def update(self, done, total, message):
        self.updates.append((done, total, message))

    def cancelled(self):
        return self.cancel_after is not None and len(self.updates) >= self.cancel_after


class Model:
    def __init__(self):
        self.released = 0

    def release(self):
        self.released += 1


def test_background_waits_while_a_foreground_runs():
    gate, order = ForegroundGate(), []
    entered = threading.Event()

    def background():
        entered.wait()
        gate.wait_turn()
        order.append("background step")

    worker = threading.Thread(target=background)
    worker.start()
    with gate.foreground():
        entered.set()
        time.sleep(0.2)  # room for the background thread to (wrongly) go on
        order.append("foreground done")
    worker.join(5)
    assert order == ["foreground done", "background step"] and gate.yields == 1


def test_background_stays_parked_for_the_quiet_period_after_a_completion():
    gate = ForegroundGate(quiet_seconds=0.3)
    with gate.foreground():
        pass
    ended = time.monotonic()
    gate.wait_turn()  # a keystroke burst may go on: wait until it has been quiet for a while
    assert time.monotonic() - ended >= 0.29 and gate.yields == 1
    gate.wait_turn()  # quiet by now: no wait
    assert gate.yields == 1


def test_a_stopped_background_step_gives_up_waiting():
    gate = ForegroundGate()
    with gate.foreground():
        gate.wait_turn(stop=lambda: True)  # returns although a foreground runs
    assert not gate.busy


async def test_jobs_run_one_at_a_time_in_order():
    runner, events = JobRunner(ForegroundGate), []

    def job(name):
        def work(context):
            events.append(f"{name} start")
            for i in range(3):
                context.step(i + 1, 3)
                time.sleep(0.01)
            events.append(f"{name} end")
            return name
        return work

    results = await asyncio.gather(runner.run("a", job("a")), runner.run("b", job("b")))
    assert results == ["a", "b"]
    assert events == ["a start", "a end", "b start", "b end"] and runner.finished == 2


async def test_cancelled_job_stops_at_its_next_step():
    runner, progress, reached = JobRunner(ForegroundGate), Progress(cancel_after=2), []

    def work(context):
        for i in range(10):
            context.step(i + 1, 10, f"step {i + 1}")
            reached.append(i + 1)

    with pytest.raises(JobCancelled):
        await runner.run("image", work, progress)
    assert reached == [1] and progress.updates[-1] == (2, 10, "step 2")
    assert await runner.run("next", lambda context: "ok") == "ok"  # the runner is free again


async def test_out_of_memory_releases_models_and_the_next_job_works():
    import torch

    runner, model, calls = JobRunner(ForegroundGate), Model(), []

    def work(context):
        runner.model("image", lambda: model)
        calls.append(1)
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return "image written"

    with pytest.raises(JobFailed, match="out of memory.*smaller size"):
        await runner.run("image", work)
    assert model.released == 1 and runner.loaded() == []
    assert await runner.run("image", work) == "image written" and runner.loaded() == ["image"]


async def test_other_errors_pass_through_and_keep_models():
    runner, model = JobRunner(ForegroundGate), Model()

    def work(context):
        runner.model("image", lambda: model)
        raise ValueError("bad prompt")

    with pytest.raises(ValueError, match="bad prompt"):
        await runner.run("image", work)
    assert model.released == 0 and runner.loaded() == ["image"]


async def test_models_are_released_after_the_idle_time_and_loaded_again():
    runner, loads = JobRunner(ForegroundGate, idle_seconds=0.2), []

    def load():
        loads.append(Model())
        return loads[-1]

    await runner.run("one", lambda context: runner.model("image", load))
    assert runner.loaded() == ["image"]
    for _ in range(100):
        if not runner.loaded():
            break
        await asyncio.sleep(0.05)
    assert runner.loaded() == [] and loads[0].released == 1
    await runner.run("two", lambda context: runner.model("image", load))
    assert len(loads) == 2
    runner.close()


async def test_a_completion_overtakes_a_background_generation(rand):
    # The random model never ends a hole: the background generation runs until stopped.
    stop = StopFlag()
    background = asyncio.ensure_future(rand.generate(GenerationRequest("def f(", 5000, background=True), stop))
    await asyncio.sleep(0.3)  # the background generation is decoding by now
    completion = await rand.generate(GenerationRequest("def g(", 8), StopFlag())
    assert not background.done(), "the completion waited for the background generation"
    stop.set("test over")
    generation = await background
    assert completion.new_tokens == 8 and generation.finish == "cancelled"
    assert rand.gate.yields >= 1  # the background generation did wait for the completion
