"""Protocol fuzzing at nightly size: tests/lsp_fuzz.py's seeded operations against the real server.

`codegen-lsp serve` runs as a subprocess behind pytest-lsp's client, as Neovim (UTF-8 positions)
and as VS Code (UTF-16), in a fresh workspace and cache each. Every operation is checked: server
alive, each answer in time and valid, no error, document text equal to the reference model's
(tests/lsp_fuzz.py says what exactly). tests/e2e/test_fuzz.py runs the same at CI size.

    .venv/bin/python benchmarks/fuzz.py [--ops 10000] [--seed 1] [--editor both] [--model PATH]

Without --model: the tests' 2-layer model fitted to tests/data/shapes.py (built once, cached
under tests/.models), whose short answers keep a 10,000-operation run within minutes; the
embedded model (--model codegen_lsp/models/default) took 1.5 s per operation on two busy CPU
cores. The exit status is 1 when a run found a problem; the problems are listed under the table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a plain script from any directory

from tests.conftest import build_fitted_model  # noqa: E402
from tests.lsp_fuzz import OPEN_OPS, OTHER_OPS, Stats, run  # noqa: E402

EDITORS = ("neovim", "visual_studio_code")
PROGRESS_EVERY = 1000  # operations between progress lines on stderr


def table(runs: list[Stats]) -> list[str]:
    """A Markdown table: one column per editor."""
    resolved = sorted({k for s in runs for k in s.ops if k.startswith("resolve ")})
    features = sorted({k for s in runs for k in s.features}, key=lambda k: -sum(s.features[k] for s in runs))
    rows = [("position encoding", [s.encoding for s in runs]),
            ("operations", [sum(v for k, v in s.ops.items() if not k.startswith("resolve ")) for s in runs])]
    rows += [(f"  {kind}", [s.ops[kind] for s in runs]) for kind in (*OPEN_OPS, *OTHER_OPS, *resolved)]
    rows += [(f"  inputs: {name}", [s.features[name] for s in runs]) for name in features]
    rows += [("requests", [s.requests for s in runs]),
             ("responses validated (with items)", [f"{s.validated} ({s.nonempty})" for s in runs]),
             ("cancels (answered RequestCancelled)", [f"{s.cancels} ({s.cancelled})" for s in runs]),
             ("crashes", [s.crashes for s in runs]), ("hangs", [s.hangs for s in runs]),
             ("invalid responses", [len(s.invalid) for s in runs]),
             ("Error messages, spec warnings", [len(s.messages) for s in runs]),
             ("text mismatches", [len(s.mismatches) for s in runs]),
             ("workspace indexed", [s.indexed for s in runs]), ("exit code", [s.exit_code for s in runs]),
             ("seconds", [f"{s.seconds:.0f}" for s in runs])]
    lines = ["| | " + " | ".join(s.editor for s in runs) + " |", "|---" * (len(runs) + 1) + "|"]
    return lines + [f"| {name} | " + " | ".join(str(v) for v in values) + " |" for name, values in rows]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=10000, help="operations per editor")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--editor", choices=("both", *EDITORS), default="both")
    parser.add_argument("--model", type=Path, help="model folder (default: the tests' fitted 2-layer model)")
    args = parser.parse_args()
    model = args.model or build_fitted_model()
    runs = []
    for editor in EDITORS if args.editor == "both" else (args.editor,):
        with tempfile.TemporaryDirectory(prefix="codegen-fuzz-") as work:
            root = Path(work) / "workspace"
            root.mkdir()
            # Its own cache and log, offline: the run leaves nothing behind and asks nothing of the network.
            env = {**os.environ, "XDG_CACHE_HOME": str(Path(work) / "cache"), "HF_HUB_OFFLINE": "1"}

            def progress(number: int, stats: Stats, editor: str = editor) -> None:
                if number % PROGRESS_EVERY == 0:
                    print(f"{editor}: {number} operations, {len(stats.problems())} problems", file=sys.stderr)

            runs.append(await run(editor, model, args.ops, args.seed, root, env=env, progress=progress))
    print(f"{args.ops} operations per editor, seed {args.seed}, model {model}")
    print("\n".join(table(runs)))
    problems = [f"{s.editor}: {p}" for s in runs for p in s.problems()]
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
