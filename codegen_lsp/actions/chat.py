"""How each code action asks an instruct model: chat messages through the model's own template.

Used when the chat model (`codegen.actions.chatModel`, else the completion model) has a
chat template; base models get holes instead (`holes.py`). Replies are read leniently:
the first fenced code block when there is one, else the whole reply.
"""

from __future__ import annotations

import re
from typing import Sequence

SYSTEM = ("You are a senior software engineer helping in a code editor. Answer with exactly what is asked, "
          "nothing before or after it.")
_FENCE = re.compile(r"```[\w+-]*\n(.*?)```", re.S)
ASKS = {
    "docstring": "Write the documentation for this {language} {kind}: one summary sentence, then at most two "
                 "short paragraphs. Reply with the text only, without quotes or comment markers.",
    "explain": "Explain in one short paragraph what this {language} code does and why. Plain prose, no code.",
    "annotate": "Add type annotations to every parameter and the return type of this {language} function. "
                "Change nothing else. Reply with the whole function in one code block.",
    "rewrite": "{instruction}\nReply with the rewritten {language} code in one code block, in the same "
               "indentation, and change nothing the instruction does not ask for.",
    "tests": "Write unit tests for `{name}` in a new {language} test file that starts with exactly:\n"
             "```\n{start}\n```\nReply with the whole test file in one code block.",
}


def has_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def messages(action: str, language: str, code: str, *, kind: str = "function", name: str = "",
             instruction: str = "", start: str = "", context: Sequence[tuple[str, str]] = ()) -> list[dict]:
    """The conversation for one action; `context`: (path, text) of other files, as completions get them."""
    ask = ASKS["rewrite" if action == "fix" else action].format(language=language, kind=kind, name=name,
                                                                 instruction=instruction, start=start.rstrip())
    shown = "".join(f"`{path}`:\n```\n{text.rstrip()}\n```\n\n" for path, text in context)
    preamble = f"From other files of the repository:\n\n{shown}" if shown else ""
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"{preamble}{ask}\n\n```{language}\n{code.rstrip()}\n```"}]


def prompt(tokenizer, conversation: list[dict]) -> str:
    return tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)


def reply_code(reply: str) -> str:
    """The first fenced code block of a reply, or the reply itself when it has none."""
    match = _FENCE.search(reply)
    return match.group(1) if match else reply.strip("\n")
