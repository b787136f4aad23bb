"""Resources over a long session, against the real server: memory and file descriptors stay flat
over many completion requests (benchmarks/resources.py runs the same at full size), the
completion cache stays within its size limit, and no more generations decode at once than
`model.maxConcurrent` allows.
"""

from __future__ import annotations

import asyncio
import random
import string

import psutil
import pytest
from lsprotocol import types

from benchmarks.resources import SETTINGS, Usage, Workload
from codegen_lsp.cache import CacheKey, CompletionCache
from tests.e2e.fault_server import FaultPlan
from tests.e2e.helpers import Editor, last_requests, lsp_server

WARM_UP = 20
CI_REQUESTS = 300  # after the warm-up; the benchmark goes to 1,000


async def test_memory_and_descriptors_stay_flat_over_many_requests(fitted_model, tmp_path):
    settings = {**SETTINGS, "cache": {"path": str(tmp_path / "cache")}}
    async with lsp_server("visual_studio_code", fitted_model, settings) as client:
        pid = client._server.pid
        assert psutil.Process(pid).cmdline()[1:4] == ["-m", "codegen_lsp", "serve"]  # the server, not a shell
        workload = Workload()
        await workload.run(client, WARM_UP)
        await workload.run(client, 10)
        base = Usage.of(pid)
        await workload.run(client, CI_REQUESTS - 10)
        final = Usage.of(pid)
        # Every path ran: model calls (most reusing a KV cache), cache hits, documents reopened.
        assert workload.outcomes["model"] > CI_REQUESTS // 2 and workload.outcomes["cache"] > CI_REQUESTS // 10
        assert workload.reused > CI_REQUESTS // 2 and workload._opened > 10
        assert set(workload.outcomes) <= {"model", "cache"}, workload.outcomes
    print(f"after {WARM_UP} + 10 requests: RSS {base.rss / 2**20:.1f} MiB, {base.fds} fds; after {WARM_UP} + "
          f"{CI_REQUESTS}: RSS {final.rss / 2**20:.1f} MiB, {final.fds} fds; outcomes {dict(workload.outcomes)}")
    assert final.rss <= base.rss * 1.10, f"RSS {base.rss / 2**20:.1f} -> {final.rss / 2**20:.1f} MiB"
    assert final.fds <= max(base.fds * 1.10, base.fds + 2), f"fds {base.fds} -> {final.fds}"


def test_the_cache_folder_stays_within_its_size_limit(tmp_path):
    """diskcache evicts least recently used entries at each write once its database is past its
    limit (at most 10 a write), so the database can only pass it by about the entry being written;
    SQLite's write-ahead log comes on top, which CompletionCache budgets for inside the limit."""
    limit = 1024 * 1024
    cache = CompletionCache(tmp_path / "cache", size_limit_mb=1)
    rng = random.Random(0)
    letters = "".join(rng.choices(string.ascii_letters + " \n", k=10_000))
    keys, written = [], 0
    for i in range(2000):  # about 3.3 MB of completions, three times the limit
        start = rng.randrange(5000)
        text = letters[start: start + rng.randint(300, 3000)]
        key = CacheKey("model", "", "fim", f"prompt {i}", ())
        cache.put(key, text)
        keys.append(key)
        written += len(text)
        assert cache.volume <= limit and cache.footprint() <= limit, (i, cache.volume, cache.footprint())
    assert written > 3 * limit
    assert cache.get(keys[0]) is None and cache.get(keys[-1]) is not None  # the oldest went first
    assert cache.faults.counts == {}
    cache.close()


LONG = {"completion": {"debounceMs": 0, "maxNewTokens": 64, "promptTokens": 256, "typingAhead": False},
        "model": {"fimOrder": "spm"}, "cache": {"enabled": False}}
DOCUMENTS = 6


@pytest.mark.parametrize("max_concurrent", [1, 2])
async def test_generations_never_exceed_the_configured_concurrency(max_concurrent, random_model, tmp_path):
    plan = FaultPlan(tmp_path / "plan.json")  # no faults: the wrapper counts decodes at LocalBackend._decode
    settings = {**LONG, "model": {**LONG["model"], "maxConcurrent": max_concurrent}}
    async with lsp_server("visual_studio_code", random_model, settings, launcher=plan.launcher()) as client:
        docs = [Editor(client, f"file:///workspace/main{i}.py", f"def main{i}():\n    \n") for i in range(DOCUMENTS)]
        await docs[0].inline(0, 1)  # mid-word: skipped, but it waits for the model to load
        results = await asyncio.gather(*(doc.inline(1, 4, invoked=True) for doc in docs))
        assert all(isinstance(result, types.InlineCompletionList) for result in results)
        records = (await last_requests(client, DOCUMENTS))["requests"]
        assert [r["outcome"] for r in records] == ["model"] * DOCUMENTS
        assert all(r["new_tokens"] > 32 for r in records)  # long enough to overlap, had they been let
    stats = plan.stats()
    assert stats["decodes"] == DOCUMENTS and stats["decoding"] == 0
    assert stats["peak"] == max_concurrent  # never more, and reached: the check is not vacuous
