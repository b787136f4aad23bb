"""How long each code action takes, and what comes of it, in Python, TypeScript, Go and Rust.

Every action the server would list at a small function runs through the real
`ActionRunner` (the completion pipeline's context and prompt, the backend, the syntax
check) on the embedded model by default, `--repeat` times; the table gives the median
seconds and the outcome of the last run: an edit, a new file, Markdown, or the message
that rejected it. Seconds include the model's generation, which is most of it.

    .venv/bin/python benchmarks/actions.py [--model PATH] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a plain script from any directory

from codegen_lsp.actions.runner import ACTIONS, ActionRequest, ActionRunner, available  # noqa: E402
from codegen_lsp.actions.targets import target_at  # noqa: E402
from codegen_lsp.backends.base import StopFlag  # noqa: E402
from codegen_lsp.completion import RepoInputs  # noqa: E402
from codegen_lsp.config import Config  # noqa: E402
from codegen_lsp.context.index import WorkspaceIndex  # noqa: E402
from codegen_lsp.context.workspace_files import WorkspaceFiles  # noqa: E402
from codegen_lsp.documents import Document  # noqa: E402
from codegen_lsp.engine import build_pipeline  # noqa: E402
from codegen_lsp.logs import RequestLog  # noqa: E402

SAMPLES = {
    "python": ("geometry/shapes.py", "def scale(points, factor):\n    result = []\n    for x, y in points:\n"
               "        result.append((x * factor, y * factor))\n    return result\n", 1),
    "typescript": ("src/shapes.ts", "export function scale(points: [number, number][], factor: number) {\n"
                   "  return points.map(([x, y]) => [x * factor, y * factor]);\n}\n", 1),
    "go": ("shapes/shapes.go", "package shapes\n\nfunc Scale(points [][2]float64, factor float64) [][2]float64 {\n"
           "\tresult := make([][2]float64, 0, len(points))\n\tfor _, p := range points {\n"
           "\t\tresult = append(result, [2]float64{p[0] * factor, p[1] * factor})\n\t}\n\treturn result\n}\n", 3),
    "rust": ("src/lib.rs", "pub fn scale(points: &[(f64, f64)], factor: f64) -> Vec<(f64, f64)> {\n"
             "    points.iter().map(|(x, y)| (x * factor, y * factor)).collect()\n}\n", 1),
}
CALLER = "from geometry.shapes import scale\n\n\ndef double(points):\n    return scale(points, 2)\n"


def workspace(root: Path) -> Path:
    for path, text, _ in SAMPLES.values():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    (root / "app.py").write_text(CALLER)
    (root / "Cargo.toml").write_text('[package]\nname = "shapes"\nversion = "0.1.0"\n')
    return root


def outcome(result) -> str:
    if result.error:
        return f"rejected: {result.error}"
    if result.new_file:
        return f"new file {result.new_file[0]} ({result.new_file[1].count(chr(10))} lines)"
    if result.markdown:
        return f"Markdown ({len(result.markdown)} chars)"
    return f"{len(result.edits)} edit(s), {sum(len(e.new_text) for e in result.edits)} chars"


def run(model: str | None, repeat: int) -> list[tuple[str, str, float, str]]:
    pipeline = build_pipeline(Config(), RequestLog(8), model)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = workspace(Path(folder))
        index = WorkspaceIndex(WorkspaceFiles(root))
        index.build()
        runner = ActionRunner(pipeline, index)
        for language, (path, text, line) in SAMPLES.items():
            document = Document((root / path).as_uri(), language, 1, text)
            offset = document.offset_at(line, 4, "utf-16")
            target = target_at(language, document.tree, text, offset, offset)
            for action in ACTIONS:
                selection = (0, len(text)) if action in ("rewrite", "fix") else (offset, offset)
                if not available(action, target, language, selection[0] != selection[1], document.tree, text):
                    continue
                instruction = {"rewrite": "use a list comprehension", "fix": "factor may be None"}.get(action, "")
                repo = RepoInputs(path, root.name, document.tree, document.source)
                request = ActionRequest(action, document.uri, path, language, text, 1, *selection, instruction,
                                        repo, root)
                results = [asyncio.run(runner.run(request, StopFlag())) for _ in range(repeat)]
                rows.append((language, action, statistics.median(r.seconds for r in results), outcome(results[-1])))
    pipeline.backend.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the embedded model)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import torch

    print(f"device: CPU x{torch.get_num_threads()}; model: {args.model or 'embedded'}; median of {args.repeat}\n")
    print("| language | action | seconds | outcome |\n|---|---|---|---|")
    for language, action, seconds, what in run(args.model, args.repeat):
        print(f"| {language} | {action} | {seconds:.2f} | {what} |")


if __name__ == "__main__":
    main()
