"""Fill-in-the-middle prompt formats, one registry for serving and training.

`training/` builds its samples with `FimFormat.prompt` too, so the text a model is
trained on and the text the server asks it are made by the same code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Literal, Protocol, Sequence

Order = Literal["psm", "spm"]

_INDENTED_LINE_START = re.compile(r"\n+[ \t]+")


class FimTokenError(ValueError):
    """A FIM format's token is not a single id in the model's vocabulary."""


@dataclass(frozen=True)
class FimFormat:
    name: str
    prefix: str
    suffix: str
    middle: str
    end_of_text: str
    # Extra tokens that end a hole besides end_of_text (StarCoder emits <file_sep> too).
    stop_tokens: tuple[str, ...] = ()
    # Repository-level prompt tokens, where the model family has them.
    file_separator: str | None = None
    repo_name: str | None = None
    # The order the family was trained to prefer; SPM keeps the growing prefix last,
    # which lets the KV cache of the previous request be reused almost whole.
    default_order: Order = "psm"

    @property
    def special_tokens(self) -> tuple[str, ...]:
        """Every token of the format; none of them may appear in a completion."""
        tokens = (self.prefix, self.suffix, self.middle, self.end_of_text, *self.stop_tokens)
        extra = tuple(t for t in (self.file_separator, self.repo_name) if t)
        return tuple(dict.fromkeys(tokens + extra))

    @property
    def hole_end_tokens(self) -> tuple[str, ...]:
        return (self.end_of_text, *self.stop_tokens)

    @property
    def prefix_only(self) -> bool:
        """A model without FIM tokens: it can only continue the prefix, and never sees the suffix."""
        return not self.prefix

    def prompt(self, prefix: str, suffix: str, order: Order | None = None) -> str:
        """The text that asks the model for the middle between prefix and suffix."""
        if self.prefix_only:
            return prefix
        order = order or self.default_order
        if order == "psm":
            return f"{self.prefix}{prefix}{self.suffix}{suffix}{self.middle}"
        # SPM as StarCoder/Qwen-style models were trained on it (the "SPM variant 2"
        # of Bavarian et al.): suffix first, then the prefix directly before the middle.
        return f"{self.prefix}{self.suffix}{suffix}{self.middle}{prefix}"

    def training_text(self, prefix: str, middle: str, suffix: str, order: Order | None = None) -> str:
        """A FIM training sample: the serving prompt followed by the middle and the end token."""
        order = order or self.default_order
        return self.prompt(prefix, suffix, order) + middle + self.end_of_text

    def repo_header(self, repo: str | None, path: str) -> str:
        """The header that precedes one file in a repository-level prompt."""
        if self.file_separator is None:
            return f"# {path}\n"
        head = f"{self.repo_name}{repo}\n" if (repo and self.repo_name) else ""
        return f"{head}{self.file_separator}{path}\n"

    def repo_context(self, repo: str | None, files: Sequence[tuple[str, str]]) -> str:
        """Other files of the repository, each (path, text) after its header.

        The repository name heads the first file only. The context goes first in the
        prompt, before the FIM tokens, so it stays put while the user types.
        """
        parts = [self.repo_header(repo if i == 0 else None, path) + _ending_in_newline(text)
                 for i, (path, text) in enumerate(files)]
        return "".join(parts)

    def repo_prompt(self, repo: str | None, files: Sequence[tuple[str, str]], path: str,
                    prefix: str, suffix: str, order: Order | None = None) -> str:
        """A FIM prompt for `path` that first shows other files of the repository."""
        header = self.repo_header(None if files else repo, path)
        return self.repo_context(repo, files) + header + self.prompt(prefix, suffix, order)

    def repo_training_text(self, repo: str | None, files: Sequence[tuple[str, str]], path: str,
                           prefix: str, middle: str, suffix: str, order: Order | None = None) -> str:
        return self.repo_prompt(repo, files, path, prefix, suffix, order) + middle + self.end_of_text


def neutralise(text: str, special_tokens: tuple[str, ...]) -> str:
    """Break up special-token strings that occur in the user's text.

    A file that contains "<|endoftext|>" literally must not end the prompt early or
    smuggle in a FIM marker; a zero-width space keeps it text.
    """
    for token in special_tokens:
        token = token.strip()
        if token and token in text:
            text = text.replace(token, token[:1] + "\u200b" + token[1:])
    return text


def split_for_healing(prefix: str, token_starts: Callable[[str], list[int]], tail_chars: int = 64) -> tuple[str, str]:
    """(prefix without its last token, that token's text) for token healing.

    A prefix that stops inside a token ("retu", "x = ") ends in a token the model
    rarely saw there; cutting it and letting generation spell it out again gives the
    model the boundaries it was trained on. A token with a line break is cut only when
    it is a line break plus indentation (the cursor on an auto-indented line).
    """
    tail = prefix[-tail_chars:]
    starts = token_starts(tail)
    if len(starts) < 2:
        return prefix, ""
    heal = tail[starts[-1]:]
    if not heal or ("\n" in heal and not _INDENTED_LINE_START.fullmatch(heal)):
        return prefix, ""
    return prefix[: len(prefix) - len(heal)], heal


def _ending_in_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


# The embedded default model's own format (trained by training/pretrain.py). Its names
# differ from every other family's so that detection from the vocabulary is unambiguous.
CODEGEN = FimFormat(
    name="codegen",
    prefix="<|cg_fim_prefix|>",
    suffix="<|cg_fim_suffix|>",
    middle="<|cg_fim_middle|>",
    end_of_text="<|endoftext|>",
    file_separator="<|cg_file_sep|>",
    repo_name="<|cg_repo_name|>",
)

QWEN = FimFormat(
    name="qwen2.5-coder",
    prefix="<|fim_prefix|>",
    suffix="<|fim_suffix|>",
    middle="<|fim_middle|>",
    end_of_text="<|endoftext|>",
    stop_tokens=("<|fim_pad|>", "<|file_sep|>", "<|repo_name|>", "<|im_end|>"),
    file_separator="<|file_sep|>",
    repo_name="<|repo_name|>",
)

STARCODER = FimFormat(
    name="starcoder",
    prefix="<fim_prefix>",
    suffix="<fim_suffix>",
    middle="<fim_middle>",
    end_of_text="<|endoftext|>",
    stop_tokens=("<file_sep>", "<fim_pad>"),
    file_separator="<file_sep>",
    repo_name="<repo_name>",
)

DEEPSEEK = FimFormat(
    name="deepseek-coder",
    prefix="<｜fim▁begin｜>",
    suffix="<｜fim▁hole｜>",
    middle="<｜fim▁end｜>",
    end_of_text="<|EOT|>",
    stop_tokens=("<｜end▁of▁sentence｜>",),
)

# CodeLlama's tokens are sentencepiece pieces ("▁<PRE>" in the vocabulary); its
# reference prompt puts spaces around them, which the tokenizer folds into the pieces.
CODELLAMA = FimFormat(
    name="codellama",
    prefix="<PRE> ",
    suffix=" <SUF>",
    middle=" <MID>",
    end_of_text=" <EOT>",
    stop_tokens=("</s>",),
)

FORMATS: dict[str, FimFormat] = {f.name: f for f in (CODEGEN, QWEN, STARCODER, DEEPSEEK, CODELLAMA)}

# A model without FIM tokens (an instruct or plain causal model): completions continue the prefix
# alone (`FimFormat.prefix_only`), and the code actions go through its chat template. None of
# these empty tokens is checked.
NO_FIM = FimFormat(name="none", prefix="", suffix="", middle="", end_of_text="")


class Vocabulary(Protocol):
    """The part of a tokenizer the registry needs (a transformers tokenizer has it)."""

    def get_vocab(self) -> dict[str, int]: ...

    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...


def _required_tokens(fmt: FimFormat) -> tuple[str, ...]:
    return (fmt.prefix, fmt.suffix, fmt.middle, fmt.end_of_text)


def _in_vocab(token: str, vocab: dict[str, int]) -> bool:
    bare = token.strip()
    return bare in vocab or f"▁{bare}" in vocab


def detect_format(tokenizer: Vocabulary) -> FimFormat | None:
    """The registered format whose tokens the tokenizer has, or None."""
    vocab = tokenizer.get_vocab()
    for fmt in FORMATS.values():
        if all(_in_vocab(tok, vocab) for tok in _required_tokens(fmt)):
            return fmt
    return None


def resolve_format(name: str, tokenizer: Vocabulary) -> FimFormat:
    """The configured format ("auto" detects), checked against the tokenizer.

    "auto" on a tokenizer with none of the known FIM token sets (an instruct or plain causal
    model) gives NO_FIM: completions continue the prefix alone; the caller tells the user
    (`prefix_only_warning`). A format named explicitly must fit: FimTokenError names the
    offending token when one of its tokens is not a single id, since such a prompt would be
    split into pieces the model never saw.
    """
    if name == NO_FIM.name:
        return NO_FIM
    if name == "auto":
        fmt = detect_format(tokenizer)
        if fmt is None:
            return NO_FIM
    elif name in FORMATS:
        fmt = FORMATS[name]
    else:
        raise FimTokenError(f"unknown FIM format {name!r}; known: {', '.join(FORMATS)}")
    check_single_tokens(fmt, tokenizer)
    return fmt


# A model folder may name the FIM order it fills best in; `training/evaluate.py` writes it
# for the models we train, from the held-out comparison of both orders.
FIM_FILE = "fim.json"
# The same declaration inside a GGUF that `codegen-lsp export` wrote (llama.cpp ignores the key).
GGUF_ORDER_KEY = "codegen.fim_order"


def declared_order(folder: Path, fmt: FimFormat) -> FimFormat:
    """`fmt` with the order the model folder declares as its default, if it declares one."""
    path = folder / FIM_FILE
    try:
        declared = json.loads(path.read_text()).get("order") if path.is_file() else None
    except (OSError, ValueError, AttributeError):
        declared = None  # an unreadable declaration is ignored: the format's own default serves
    return replace(fmt, default_order=declared) if declared in ("psm", "spm") else fmt


def prefix_only_warning(model: str) -> str:
    """What the user is told once when "auto" found no FIM tokens in `model` (resolve_format)."""
    return (f"the model {model} has no fill-in-the-middle tokens (none of the {', '.join(FORMATS)} sets): "
            "completions will only continue the text before the cursor, and the text after the cursor is "
            "ignored. A FIM code model (Qwen2.5-Coder, StarCoder2, DeepSeek-Coder, ...) fills in between.")


def check_single_tokens(fmt: FimFormat, tokenizer: Vocabulary) -> None:
    if fmt.prefix_only:  # nothing to check, but nothing to fill a hole with either (FIM training asks)
        raise FimTokenError(f"FIM format {fmt.name!r}: the model has no fill-in-the-middle tokens; "
                            "FIM prompts and training samples need a model with them")
    # Being in the vocabulary is not enough: unless the token is registered as a
    # special token, the tokenizer splits its text like any other.
    for tok in _required_tokens(fmt):
        if len(tokenizer.encode(tok.strip(), add_special_tokens=False)) != 1:
            raise FimTokenError(
                f"FIM format {fmt.name!r}: token {tok.strip()!r} is not a single token id "
                "in this model's vocabulary; pick the format that matches the model"
            )


def present_tokens(fmt: FimFormat, tokenizer: Vocabulary) -> Sequence[str]:
    """The format's special tokens that this tokenizer knows (for stripping and stopping).

    A prefix-only format has none: the tokenizer's own special tokens take their place (end of
    text, chat turns like <|im_end|>, file separators). A continuation ends at any of them,
    and the user's text is kept from spelling one.
    """
    if fmt.prefix_only:
        return model_special_tokens(tokenizer)
    vocab = tokenizer.get_vocab()
    return [tok.strip() for tok in fmt.special_tokens if _in_vocab(tok, vocab)]


def model_special_tokens(tokenizer) -> list[str]:
    """The tokenizer's special tokens: the named ones (eos, bos, pad...) and every added token marked
    special (a transformers tokenizer's `added_tokens_decoder`)."""
    named = list(getattr(tokenizer, "all_special_tokens", ()))
    added = [t.content for t in getattr(tokenizer, "added_tokens_decoder", {}).values() if getattr(t, "special", False)]
    return [tok for tok in dict.fromkeys(named + added) if tok.strip()]
