"""Explain's answer as Markdown: what the code itself says, and apart from it, the model's words.

The facts (signature, parameters, return type, what it raises, what it calls, who calls
it) come from the syntax tree and the workspace index and are always right; the summary
is generated and says so.
"""

from __future__ import annotations

from typing import Sequence

from ..privacy import redact
from .targets import Caller, CodeFacts, CodeTarget

FENCE_LANGUAGES = {"typescriptreact": "tsx", "javascriptreact": "jsx", "shellscript": "bash"}


def explain_markdown(target: CodeTarget, facts: CodeFacts, callers: Sequence[Caller], summary: str, path: str,
                     line: int, model: str) -> str:
    title = f"`{target.name}`" if target.name else "Selection"
    kind = target.kind if target.name else "code"
    parts = [f"# {title} ({kind}, {path}:{line + 1})", ""]
    parts += ["## Summary", ""]
    if summary:
        parts += [f"*Written by the model ({model}); it can be wrong.*", ""]
        parts += [f"> {line_}" if line_ else ">" for line_ in summary.split("\n")]
    else:
        parts += ["*No summary: the model is asked for one on a function or class.*"]
    parts += ["", "## From the code", "", *_fact_lines(target, facts), "", "## Called from", ""]
    if callers:
        parts += [f"- `{c.path}:{c.line + 1}`" + (f" in `{c.function}`" if c.function else "") + f": `{c.text}`"
                  for c in callers]
    else:
        parts.append("No calls found in the workspace index." if target.name else "-")
    return "\n".join(parts) + "\n"


def _fact_lines(target: CodeTarget, facts: CodeFacts) -> list[str]:
    fence = FENCE_LANGUAGES.get(target.language, target.language)
    lines = [f"```{fence}", facts.signature or target.header, "```", ""]
    if facts.parameters:
        lines += ["| parameter | type | default |", "|---|---|---|"]
        lines += [f"| `{p.name}` | {_code(p.annotation)} | {_code(_default(p.name, p.default))} |"
                  for p in facts.parameters]
        lines.append("")
    lines.append(f"- **Returns**: {_code(facts.returns) if facts.returns else 'no declared type'}")
    lines.append(f"- **Raises**: {', '.join(_code(r) for r in facts.raises) if facts.raises else 'nothing explicitly'}")
    lines.append(f"- **Calls**: {', '.join(_code(c) for c in facts.callees) if facts.callees else 'nothing'}")
    if target.docstring:
        lines.append(f"- **Its documentation**: {target.docstring.strip().splitlines()[0]}")
    return lines


def _default(name: str, default: str) -> str:
    """A default value, redacted as it reads in the code: `password="..."` is a secret by its name."""
    return redact(f"{name}={default}")[0][len(name) + 1:] if default else default


def _code(text: str) -> str:
    return f"`{text}`" if text else "-"
