"""benchmarks/gpu.py --smoke still runs and reports every figure.

Only that the figures are there and are numbers: whether they meet the targets depends on
the machine, and tests never judge wall-clock time.
"""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Each table's rows, by the start of their first cell; the targeted rows carry a verdict.
ROWS = ("decode", "bandwidth limit", "decode / bandwidth limit", "time to first token", "time to first token",
        "end-to-end single-line completion p50", "end-to-end single-line completion p95", "server prompts (mean)")
TARGETED = ("decode / bandwidth limit", "end-to-end single-line completion p50")
NUMBER = re.compile(r"^\d[\d,]*(\.\d+)?(%| ms| tokens/s| tokens)$")


def tables(output: str) -> dict[str, list[list[str]]]:
    """Each '### title' section's table rows, as lists of cells (header and rule left out)."""
    found: dict[str, list[list[str]]] = {}
    title = None
    for line in output.splitlines():
        if line.startswith("### "):
            title = line[4:]
            found[title] = []
        elif title and line.startswith("| ") and not line.startswith("| measure"):
            found[title].append([cell.strip() for cell in line.strip("|").split("|")])
    return found


def test_smoke_run_reports_every_row_with_numbers():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--smoke"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    found = tables(done.stdout)
    assert len(found) == 2, done.stdout  # the embedded model and a random-weight Qwen2
    for title, rows in found.items():
        assert len(rows) == len(ROWS), title
        assert all(row[0].startswith(label) for row, label in zip(rows, ROWS)), [row[0] for row in rows]
        for label, value, note in rows:
            assert NUMBER.match(value), f"{title}: {label} = {value!r}"
            if label in TARGETED:
                assert note.endswith(("met", "**not met**")), f"{title}: {label} has no verdict: {note!r}"
        cold, reuse = rows[3][0], rows[4][0]
        assert cold.endswith("cold") and reuse.endswith("KV prefix reuse"), title
        # The second prompt extends the first on the same session: its prefix must come from the cache.
        assert int(rows[4][2].split()[0].replace(",", "")) > 0, f"{title}: no tokens reused: {rows[4][2]!r}"
        answered = re.search(r"(\d+) of (\d+) keystrokes", rows[7][2])
        assert answered and int(answered.group(1)) > 0, f"{title}: no completion from the model: {rows[7][2]!r}"
