"""Does repository context help? Holes that need another file, and the cost of extracting it.

Part 1, quality. Holes are cut in real multi-file packages installed in this
environment that no one here wrote and that the embedded model never trained on
(by default pathspec, installed after its corpus was built, and tqdm, left out of
the corpus for its licence). A hole is a call, in the code (found in the syntax tree:
never a mention in a docstring or a comment), to a function, class or method defined
in another file of the package and not in the file itself:
- "arguments": the cursor right after `name(`, the target the rest of the line;
- "call": the cursor before `name(` (after `obj.` for a method), the target the rest of the line.
Each hole runs twice through the real completion pipeline, same model, same run:
in-file context only, and with repository context from the workspace index.
Greedy, single line; the syntax check is off in both so only the context differs.

Part 2, cost. One keystroke (an "x" typed inside a random line's code, undone after
the measurement), then the pipeline's own context step: incremental re-parse, the file's names and imports, the
window, context assembly and the prompt, all with the model's tokenizer. On files of
about 1k, 10k and 100k lines made of whole source files of the same packages; p50 and
p95 per size.

    .venv/bin/python benchmarks/context_eval.py [--model PATH] [--packages pathspec tqdm] [--holes N]
"""

from __future__ import annotations

import argparse
import asyncio
import builtins
import importlib.util
import keyword
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a plain script from any directory

from codegen_lsp.backends.base import StopFlag  # noqa: E402
from codegen_lsp.completion import CompletionPipeline, CompletionRequest, RepoInputs  # noqa: E402
from codegen_lsp.config import CompletionConfig, ModelConfig  # noqa: E402
from codegen_lsp.context.index import WorkspaceIndex  # noqa: E402
from codegen_lsp.context.syntax import MAX_PARSE_BYTES  # noqa: E402
from codegen_lsp.context.trigger import Mode  # noqa: E402
from codegen_lsp.context.workspace_files import WorkspaceFiles  # noqa: E402
from codegen_lsp.documents import Document  # noqa: E402
from codegen_lsp.engine import freeze_long_lived, resolve_model_path  # noqa: E402
from codegen_lsp.logs import RequestLog, RequestRecord  # noqa: E402
from training.metrics import edit_similarity  # noqa: E402

_BUILTINS = set(dir(builtins))


@dataclass(frozen=True)
class Hole:
    kind: str      # "arguments" | "call"
    package: str
    path: str      # relative to the package root
    offset: int
    target: str    # the rest of the line


def package_root(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{name} is not an installed package with several files")
    return Path(list(spec.submodule_search_locations)[0])


def balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def calls_in_code(text: str) -> list[tuple[str, int, int]]:
    """(name, start, end) of each call in the code itself, by the syntax tree: `name(` or
    `obj.name(`, never a mention in a string or a comment. Offsets index `text`; end is the `(`."""
    source = text.encode("utf-8", "surrogatepass")
    tree = Document("file:///holes.py", "python", 1, text).tree
    found = []
    stack = [tree.root_node] if tree is not None else []
    while stack:
        node = stack.pop()
        stack.extend(node.named_children)
        if node.type != "call" or node.child_by_field_name("arguments") is None:
            continue
        function = node.child_by_field_name("function")
        name = function.child_by_field_name("attribute") if function.type == "attribute" else function
        if name is None or name.type != "identifier":
            continue
        opening = node.child_by_field_name("arguments").start_byte
        found.append((name.text.decode(), len(source[:name.start_byte].decode("utf-8", "replace")),
                      len(source[:opening].decode("utf-8", "replace"))))
    return sorted(found, key=lambda call: call[1])


def find_holes(package: str, index: WorkspaceIndex) -> list[Hole]:
    holes: list[Hole] = []
    for path in index.paths():
        entry = index.get(path)
        text = (index.files.root / path).read_text(encoding="utf-8", errors="replace")
        local = {s.name for s in entry.outline.symbols}
        for name, start, opening in calls_in_code(text):
            if name in local or keyword.iskeyword(name) or name in _BUILTINS or text[opening] != "(":
                continue
            if not [p for p, _ in index.definitions(name) if p != path]:
                continue
            line_start, line_end = text.rfind("\n", 0, start) + 1, text.find("\n", opening)
            line_end = len(text) if line_end < 0 else line_end
            rest = text[opening + 1:line_end].rstrip()
            if balanced("(" + rest) and len(rest) >= 2:
                holes.append(Hole("arguments", package, path, opening + 1, rest))
            call = text[start:line_end].rstrip()
            if text[line_start:start].strip() and balanced(call):
                holes.append(Hole("call", package, path, start, call))
    return holes


async def answer(pipeline: CompletionPipeline, hole: Hole, text: str, index: WorkspaceIndex | None) -> str:
    document = Document(f"file:///{hole.package}/{hole.path}", "python", 1, text)
    repo = (RepoInputs(path=hole.path, repo=hole.package, tree=document.tree, source=document.source)
            if index is not None else None)
    pipeline.index = index
    request = CompletionRequest(uri=document.uri, version=1, text=text, offset=hole.offset,
                                language_id="python", invoked=True, repo=repo)
    result = await pipeline.complete(request, StopFlag())
    return result.text.split("\n", 1)[0].rstrip()


def quality(pipeline: CompletionPipeline, packages: list[str], count: int, seed: int) -> list[dict]:
    rows = []
    for package in packages:
        index = WorkspaceIndex(WorkspaceFiles(package_root(package)))
        index.build()
        holes = find_holes(package, index)
        random.Random(seed).shuffle(holes)
        for hole in holes[:count]:
            text = (index.files.root / hole.path).read_text(encoding="utf-8", errors="replace")
            # The hole: its target cut out of the file, as if it had not been written yet.
            text = text[:hole.offset] + text[hole.offset + len(hole.target):]
            in_file = asyncio.run(answer(pipeline, hole, text, None))
            with_repo = asyncio.run(answer(pipeline, hole, text, index))
            context = pipeline.log.last(1)[0].context
            rows.append({"hole": hole, "in-file": in_file, "repository": with_repo,
                         "context_items": sum(1 for c in context if c["included"])})
        print(f"{package}: {len(holes)} holes found, {min(count, len(holes))} evaluated", file=sys.stderr)
    return rows


def quality_table(rows: list[dict]) -> str:
    lines = ["| holes | n | in-file EM | in-file ES | repository EM | repository ES | EM ratio |",
             "|---|---|---|---|---|---|---|"]
    for kind in ("arguments", "call", "all"):
        subset = [r for r in rows if kind == "all" or r["hole"].kind == kind]
        if not subset:
            continue
        cells = []
        for system in ("in-file", "repository"):
            em = statistics.mean(r[system] == r["hole"].target for r in subset)
            es = statistics.mean(edit_similarity(r[system], r["hole"].target) for r in subset)
            cells += [em, es]
        ratio = f"{cells[2] / cells[0]:.2f}x" if cells[0] else ("inf" if cells[2] else "-")
        lines.append(f"| {kind} | {len(subset)} | {cells[0]:.1%} | {cells[1]:.3f} | {cells[2]:.1%} | "
                     f"{cells[3]:.3f} | {ratio} |")
    return "\n".join(lines)


def big_file(packages: list[str], lines: int) -> str:
    """Whole source files one after another until about `lines` lines: a file that parses
    cleanly, as most files being edited do (a cut through a docstring would leave the rest of
    the file an error, and every re-parse would pay for recovering from it)."""
    sources = [p.read_text(encoding="utf-8", errors="replace").rstrip("\n") + "\n"
               for name in packages for p in sorted(package_root(name).rglob("*.py"))]
    out: list[str] = []
    count = 0
    while count < lines:
        for source in sources:
            if count >= lines:
                break
            out.append(source)
            count += source.count("\n")
    return "\n".join(out)


KEYSTROKES_PER_PLACE = 6


def extraction_times(pipeline: CompletionPipeline, packages: list[str], sizes: list[int], requests: int,
                     seed: int) -> list[dict]:
    """The pipeline's own context step (what its `context` timing covers), after the tree update.

    Typing sessions: at each of `requests / KEYSTROKES_PER_PLACE` random places, six characters
    typed one at a time, a request after each; then undone, untimed, so the file carries one
    fresh edit, as a file being typed in does (not dozens of scattered syntax errors that every
    re-parse would recover from). The first keystroke at a place finds nothing remembered.
    """
    pipeline.index = WorkspaceIndex(WorkspaceFiles(package_root(packages[0])))
    pipeline.index.build()
    rows = []
    rng = random.Random(seed)
    for size in sizes:
        document = Document("file:///big.py", "python", 1, big_file(packages, size))
        document.tree  # the first parse happens at didOpen time, not per request
        started = time.perf_counter()
        asyncio.run(pipeline.warm(document.text))  # as the server does in the background at didOpen
        warm_ms = (time.perf_counter() - started) * 1000
        every, first, parses = [], [], []
        version = 1
        for _ in range(max(1, requests // KEYSTROKES_PER_PLACE)):
            # Where people type: inside a line's code, after its indentation.
            line, text = next((n, t) for n in iter(lambda: rng.randrange(document.line_count), None)
                              if (t := document.line_text(n)).strip())
            column = rng.randrange(len(text) - len(text.lstrip()), len(text) + 1)
            for typed, char in enumerate("xyzabc"[:KEYSTROKES_PER_PLACE]):
                version += 1
                document.apply_change(char, (line, column + typed, line, column + typed), "utf-16")
                offset = document.offset_at(line, column + typed + 1, "utf-16")
                started = time.perf_counter()
                document.tree
                parsed = time.perf_counter()
                request = CompletionRequest(uri=document.uri, version=version, text=document.text, offset=offset,
                                            language_id="python", repo=RepoInputs("big.py", "bench", document.tree, document.source),
                                            line=line)
                pipeline._prompt(request, document.text[:offset], document.text[offset:], Mode.SINGLE_LINE,
                                 RequestRecord(document.uri, version, "inline"))
                elapsed = (time.perf_counter() - parsed) * 1000
                every.append(elapsed)
                parses.append((parsed - started) * 1000)
                if typed == 0:
                    first.append(elapsed)
            version += 1
            document.apply_change("", (line, column, line, column + KEYSTROKES_PER_PLACE), "utf-16")
            document.tree
        rows.append({"lines": document.line_count, "tree": document.tree is not None, "warm": warm_ms,
                     "p50": percentile(every, 0.5), "p95": percentile(every, 0.95),
                     "first_p50": percentile(first, 0.5), "first_p95": percentile(first, 0.95),
                     "parse_p50": percentile(parses, 0.5), "parse_p95": percentile(parses, 0.95)})
    return rows


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return statistics.median(ordered) if q == 0.5 else ordered[int(q * (len(ordered) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the embedded model)")
    parser.add_argument("--packages", nargs="+", default=["pathspec", "tqdm"])
    parser.add_argument("--holes", type=int, default=150, help="holes per package (0: cost only)")
    parser.add_argument("--requests", type=int, default=60, help="timed requests per file size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from codegen_lsp.backends.local import LocalBackend

    backend = LocalBackend(resolve_model_path(None, args.model), device="cpu", dtype="float32")
    config = CompletionConfig(debounce_ms=0, typing_ahead=False, syntax_check=False)
    pipeline = CompletionPipeline(backend, None, config, ModelConfig(), RequestLog(4))
    freeze_long_lived()  # as the server does once the model is loaded
    rows = quality(pipeline, args.packages, args.holes, args.seed)
    print(f"model: {backend.model_id}; packages: {', '.join(args.packages)}\n")
    print(quality_table(rows))
    print("\n| file lines | syntax tree | tokenised ahead at open (ms) | incremental re-parse p50 (ms) | p95 "
          "| context step p50 (ms) | p95 | first keystroke at a place p50 | p95 |\n|---|---|---|---|---|---|---|---|---|")
    for row in extraction_times(pipeline, args.packages, [1_000, 10_000, 100_000], args.requests, args.seed):
        tree = "yes" if row["tree"] else f"no (over {MAX_PARSE_BYTES // 1_000_000} MB)"
        print(f"| {row['lines']:,} | {tree} | {row['warm']:.0f} | {row['parse_p50']:.2f} | {row['parse_p95']:.2f} | {row['p50']:.2f} | {row['p95']:.2f} | {row['first_p50']:.2f} "
              f"| {row['first_p95']:.2f} |")
    backend.close()


if __name__ == "__main__":
    main()
