"""The fault reporter: the first occurrence of a kind is shown, repeats are logged, a success logs
the recovery, and reports from worker threads reach the event loop's thread."""

from __future__ import annotations

import asyncio
import threading

from codegen_lsp.faults import Faults


def reporter() -> tuple[Faults, list, list]:
    shown, logged = [], []
    return Faults(lambda level, m: shown.append((level, m)), lambda level, m: logged.append((level, m))), shown, logged


def test_shown_once_then_logged_then_recovered():
    faults, shown, logged = reporter()
    for _ in range(3):
        faults.report("completion/failed", "boom", "error")
    assert shown == [("error", "boom")]
    assert [m for _, m in logged] == ["boom [completion/failed, 2 times so far]",
                                      "boom [completion/failed, 3 times so far]"]
    faults.ok("cache")  # another area: nothing recovered
    assert faults.failing() == ["completion/failed"]
    faults.ok("completion")
    assert logged[-1] == ("info", "codegen-lsp: recovered from completion/failed (after 3 occurrences)")
    faults.report("completion/failed", "boom again", "error")  # known: logged, not shown again
    assert len(shown) == 1 and faults.counts["completion/failed"] == 4


def test_after_waits_for_a_streak_and_show_false_never_shows():
    faults, shown, _ = reporter()
    faults.report("cache/locked", "locked", after=3)
    faults.report("cache/locked", "locked", after=3)
    faults.ok("cache")  # the streak is broken
    faults.report("cache/locked", "locked", after=3)
    faults.report("cache/locked", "locked", after=3)
    assert shown == []
    faults.report("cache/locked", "locked", after=3)
    assert shown == [("warning", "locked")]
    faults.report("completion/backend-down", "down", show=False)
    assert len(shown) == 1


def test_reset_by_area_makes_those_faults_news_again():
    faults, shown, _ = reporter()
    faults.report("cache/full", "full")
    faults.report("workspace/unreadable", "unreadable")
    faults.reset("cache", "completion")
    faults.report("cache/full", "full")
    faults.report("workspace/unreadable", "unreadable")
    assert [m for _, m in shown] == ["full", "unreadable", "full"]


async def test_a_report_from_a_worker_thread_is_handed_to_the_loop():
    threads = []
    faults = Faults(lambda level, m: threads.append(threading.current_thread()), lambda level, m: None)
    faults.loop = asyncio.get_running_loop()
    await asyncio.to_thread(faults.report, "cache/corrupt", "set aside")
    await asyncio.sleep(0)
    assert threads == [threading.current_thread()]
