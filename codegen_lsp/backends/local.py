"""Local transformers backend: any causal LM from a folder or a GGUF file, with an optional peft adapter.

Decoding is our own token loop rather than `model.generate`, for two reasons: it
checks the request's StopFlag before every token, and it starts from the KV cache
of the document's previous prompt, so typing re-encodes only what changed.

Model, chat model and adapter folders are untrusted files (`codegen_lsp/weights.py`): only
safetensors weights load, never a pickle, and `trust_remote_code` is always False, with no
setting to turn it on (stricter than "off unless the user enables it"): code in a model
folder never runs. A `.gguf` file loads too, dequantized by transformers (slow to load, and
float weights in memory: an engine serves GGUF faster, `gguf_note`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import hashlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

from ..prompts.fim import FimFormat, declared_order, present_tokens, resolve_format
from ..weights import UnsafeModelFolder, is_gguf, require_gguf, require_no_remote_code, require_safetensors
from .peft_adapters import with_adapter
from ..device_memory import empty_device_cache, is_out_of_memory
from .base import MODEL_LOAD_LOCK, BackendError, BackendOutOfMemory, Generation, GenerationRequest, StopFlag
from .kv_sessions import KVSessions
from .priority import ForegroundGate
from .static_decode import StaticDecoder

log = logging.getLogger(__name__)


def pick_device(preference: str) -> torch.device:
    if preference != "auto":
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(preference: str, device: torch.device) -> torch.dtype:
    if preference != "auto":
        return getattr(torch, preference)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32  # CPU matmuls in bf16 are slower than fp32 on most CPUs


def folder_fingerprint(folder: Path, pattern: str, *, content: bool) -> str:
    """An identity for a model or adapter folder, for the completion cache key.

    Adapters are small and retrained in place, so their bytes are hashed; model weights
    can be many GB, so name, size and modification time stand in for them.
    """
    digest = hashlib.sha256()
    for path in sorted(folder.glob(pattern)):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}".encode())
        if content:
            with path.open("rb") as stream:
                for chunk in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(chunk)
        else:
            digest.update(str(stat.st_mtime_ns).encode())
    for name in ("config.json", "adapter_config.json"):
        if (folder / name).is_file():
            digest.update((folder / name).read_bytes())
    return digest.hexdigest()[:16]


def file_fingerprint(path: Path) -> str:
    """An identity for a single weights file (a GGUF model): its name, size and modification time."""
    stat = path.stat()
    return hashlib.sha256(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Weights:
    """A model path, loaded: its tokenizer and model, where its fim.json is looked for (a GGUF file
    has none beside it: the file itself stands there), and its identity for the cache key."""

    tokenizer: Any
    model: Any
    source: Path
    model_id: str


def load_weights(path: Path, dtype: torch.dtype) -> Weights:
    """The model at `path`: a folder (config.json, tokenizer, safetensors) or a `.gguf` file.
    Raises BackendError when it is missing, unsafe (weights.py) or does not load."""
    gguf = is_gguf(path)
    if gguf and not path.is_file():
        raise BackendError(f"no model at {path}: no such GGUF file")
    if not gguf and not (path / "config.json").is_file():
        raise BackendError(f"no model at {path}: expected a folder with config.json and safetensors weights, "
                           "or a .gguf file")
    try:  # before any loader opens a file of the folder
        if gguf:
            require_gguf(path, "model")
        else:
            require_safetensors(path, "model")
            require_no_remote_code(path, "model")
    except UnsafeModelFolder as exc:
        raise BackendError(str(exc)) from None
    try:
        if gguf:  # the tokenizer and config come from the file's metadata, the weights dequantized
            tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, trust_remote_code=False,
                                                      local_files_only=True)
            with MODEL_LOAD_LOCK:
                model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=dtype,
                                                             trust_remote_code=False, local_files_only=True)
            return Weights(tokenizer, model, path, f"{path.name}:{file_fingerprint(path)}")
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False, local_files_only=True)
        with MODEL_LOAD_LOCK:
            model = AutoModelForCausalLM.from_pretrained(
                path, dtype=dtype, trust_remote_code=False, local_files_only=True, use_safetensors=True)
    except (OSError, ValueError, KeyError, ImportError, SafetensorError) as exc:
        raise BackendError(f"cannot load the model at {path}: {exc}") from exc
    return Weights(tokenizer, model, path, f"{path.name}:{folder_fingerprint(path, '*.safetensors', content=False)}")


def gguf_note(path: Path, dtype: torch.dtype) -> str:
    """What the user is told once when a GGUF file is served in process."""
    return (f"{path.name} is a GGUF file: transformers dequantizes it to {str(dtype).removeprefix('torch.')} and "
            "runs it in this process, which loads slowly and decodes slower, in more memory, than a GGUF engine. "
            "For speed, serve it with llama.cpp's llama-server and set codegen.model.backend to \"llama.cpp\".")


def serving_format(folder: Path, tokenizer, fim_format: str = "auto") -> FimFormat:
    """The FIM format prompts for the model in `folder` are built with, its declared order included:
    what the server sends, and so what fine-tuning must train on."""
    return declared_order(folder, resolve_format(fim_format, tokenizer))


def _continues(heal: str, token: str) -> bool:
    """Whether `token` can be the next token of a text that must start with `heal`.

    A token may run past the healed text, except to add whitespace to whitespace: the
    cursor sits after the indentation the editor chose, which the model may not deepen.
    """
    if heal.startswith(token):
        return True
    if not token.startswith(heal):
        return False
    return not (heal[-1] in " \t" and token[len(heal)] in " \t")


class LocalBackend:
    """A transformers model in this process; at most `max_concurrent` generations at once."""

    def __init__(self, model_path: str | Path, *, adapter: str | None = None, device: str = "auto",
                 dtype: str = "auto", fim_format: str = "auto", max_concurrent: int = 1,
                 context_window: int = 0, decode: str = "auto"):
        path = Path(model_path).expanduser()
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        weights = load_weights(path, self.dtype)
        self.tokenizer, model, self.model_id = weights.tokenizer, weights.model, weights.model_id
        self.fim: FimFormat = serving_format(weights.source, self.tokenizer, fim_format)
        # For the user, once (the server shows them after loading): how this model could serve better.
        self.notes: tuple[str, ...] = (gguf_note(path, self.dtype),) if is_gguf(path) else ()
        self.adapter_hash = ""
        if adapter:
            folder = Path(adapter).expanduser()
            model = with_adapter(model, folder, "default")
            self.adapter_hash = folder_fingerprint(folder, "*.safetensors", content=True)
        self._adapters: dict[str, str] = {}  # folder -> hash (also its adapter name) of workspace adapters
        self._switch_lock = threading.Lock()  # one adapter active at a time
        self.model = model.to(self.device).eval()
        window = getattr(model.config, "max_position_embeddings", None) or 2048
        self.context_window = min(context_window or window, window)
        self.special_tokens = tuple(present_tokens(self.fim, self.tokenizer))
        self._end_ids = self._ids_of(self.fim.hole_end_tokens + self.special_tokens)
        if self.tokenizer.eos_token_id is not None:
            self._end_ids.add(self.tokenizer.eos_token_id)
        self._sessions = KVSessions()
        # The static cache serves one request at a time: with several generations at once the
        # dynamic path is used (as it is for peft adapters, see _static_for, and background work).
        # "auto" stays dynamic until the static path has been measured on a GPU (benchmarks/gpu.py).
        self.static = self._static_decoder(max_concurrent) if decode == "static" else None
        self.decode = "static" if self.static is not None else "dynamic"
        self._token_texts: list[str] | None = None  # decoded text of every id, built at the first healing
        # Healed texts repeat (" ", a newline plus indentation, common word pieces): each mask is a
        # pass over the whole vocabulary, so it is built once per text, not once per token step.
        self.healing_mask = functools.lru_cache(maxsize=256)(self._healing_mask)
        self._executor = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="generate")
        # Background generations get their own thread: parked at a token while a completion
        # runs, they must not hold one of the completions' workers.
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate-background")
        self.gate = ForegroundGate()

    def _healing_mask(self, heal: str) -> torch.Tensor:
        """True for the tokens that can continue a prompt whose last `heal` characters were cut."""
        if self._token_texts is None:
            special = set(self.tokenizer.all_special_ids)
            texts = self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))])
            self._token_texts = ["" if i in special else t for i, t in enumerate(texts)]
        allowed = [bool(t) and _continues(heal, t) for t in self._token_texts]
        mask = torch.tensor(allowed, device=self.device)
        vocab = self.model.config.vocab_size
        return torch.nn.functional.pad(mask, (0, max(0, vocab - len(mask))), value=False)[:vocab]

    def _ids_of(self, tokens: tuple[str, ...]) -> set[int]:
        vocab = self.tokenizer.get_vocab()
        return {vocab[t.strip()] for t in tokens if t.strip() in vocab}

    def token_starts(self, text: str) -> list[int]:
        encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [start for start, _ in encoded["offset_mapping"]]

    def adapter_identity(self, folder: str) -> str:
        """The hash of a prepared adapter ("" for the backend's own): part of the cache key."""
        return self._adapters.get(folder, "") if folder else self.adapter_hash

    async def prepare_adapter(self, folder: str) -> str:
        """Load a workspace's adapter beside the others (the base model stays loaded once);
        returns its hash. BackendError when it is missing or does not fit this model."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._load_adapter, Path(folder))

    def _load_adapter(self, folder: Path) -> str:
        identity = folder_fingerprint(folder, "*.safetensors", content=True)
        replaced = self._adapters.get(str(folder))
        if replaced != identity:  # new, or retrained in place
            with self._switch_lock:
                self.model = with_adapter(self.model, folder, identity).eval()
                self._adapters[str(folder)] = identity
                if replaced and replaced not in self._adapters.values():
                    self.model.delete_adapter(replaced)  # the old weights of a retrained adapter
        return identity

    def _adapter_in_use(self, folder: str):
        """Make the request's adapter the active one; a context that keeps it so while generating."""
        if not self._adapters and not self.adapter_hash:
            return contextlib.nullcontext()  # the plain base model, no peft in the way
        name = self._adapters.get(folder) if folder else ("default" if self.adapter_hash else None)
        if name is None:
            return self.model.disable_adapter()  # a workspace without an adapter: the base model
        self.model.set_adapter(name)
        return contextlib.nullcontext()

    async def generate(self, request: GenerationRequest, stop: StopFlag) -> Generation:
        submitted = time.perf_counter()
        loop = asyncio.get_running_loop()
        if request.background:
            return await loop.run_in_executor(self._background, self._generate_blocking, request, stop, submitted)
        with self.gate.foreground():
            return await loop.run_in_executor(self._executor, self._generate_blocking, request, stop, submitted)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._background.shutdown(wait=False, cancel_futures=True)
        self._sessions.clear()

    @torch.inference_mode()
    def _generate_blocking(self, request: GenerationRequest, stop: StopFlag, submitted: float) -> Generation:
        started = time.perf_counter()
        ids = self.tokenizer(request.prompt)["input_ids"]
        gen = Generation(text="", finish="cancelled", prompt_tokens=len(ids), queue_seconds=started - submitted)
        if stop.is_set():
            return gen
        try:
            if request.background:  # takes the adapter step by step, so it can wait between steps
                return self._decode(request, stop, ids, gen, started)
            with self._adapter_held(request.adapter):
                return self._decode(request, stop, ids, gen, started)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            error = str(exc)
        # Freed here, not in the except block: the error's traceback holds the frames that hold
        # this request's KV cache and logits, until the block ends.
        raise self._out_of_memory(error)

    def _out_of_memory(self, error: str) -> BackendOutOfMemory:
        """Free what can be freed after running out of memory mid-generation: every document's KV
        cache and the allocator's cached blocks. Not retried: the same prompt would fail again."""
        dropped = len(self._sessions)
        self._sessions.clear()
        gc.collect()
        empty_device_cache()
        memory = "GPU memory" if self.device.type != "cpu" or "cuda" in error.lower() else "memory"
        detail = error.strip().split("\n")[0][:200]
        log.warning("out of memory on %s: %s", self.device, error)
        return BackendOutOfMemory(
            f"out of {memory} during a completion on {self.device} ({detail}). The KV caches of {dropped} "
            f"document(s) and the device's cached memory were released; that suggestion stays empty. If it "
            f"happens again, try a smaller model, fewer concurrent generations (codegen.model.maxConcurrent), "
            f"a shorter prompt (codegen.completion.promptTokens) or codegen.model.device \"cpu\".")

    @contextlib.contextmanager
    def _adapter_held(self, folder: str):
        """The request's adapter active, and no other request switching it meanwhile."""
        with self._switch_lock if self._adapters else contextlib.nullcontext():
            with self._adapter_in_use(folder):
                yield

    def _background_step(self, request: GenerationRequest, stop: StopFlag):
        """Before each token of background work: let running completions finish first."""
        self.gate.wait_turn(stop.is_set)
        return self._adapter_held(request.adapter)

    def _decode(self, request: GenerationRequest, stop: StopFlag, ids: list[int], gen: Generation,
                started: float) -> Generation:
        # The KV cache of one adapter is not valid for another.
        session = f"{request.session}\x00{self.adapter_identity(request.adapter)}" if request.session else None
        static = self._static_for(request, ids)
        if static is not None:
            cache, reused = None, static.begin(session, ids)
        else:
            cache, reused = self._sessions.take(session, ids)
            cache = cache if cache is not None else DynamicCache()
        gen.reused_tokens = reused
        decoder = _Decoder(self, request)
        feed = ids[reused:]
        fed = list(ids[:reused])
        while True:
            if stop.is_set():
                gen.finish = "cancelled"
                break
            with self._background_step(request, stop) if request.background else contextlib.nullcontext():
                if static is not None:
                    logits = static.feed(feed)
                else:
                    logits = self.model(input_ids=torch.tensor([feed], device=self.device),
                                        cache=cache, use_cache=True, logits_to_keep=1).logits[0, -1]
            fed.extend(feed)
            token = decoder.choose(logits)
            if gen.new_tokens == 0:
                gen.first_token_seconds = time.perf_counter() - started
            gen.new_tokens += 1
            finish = decoder.push(token)
            if finish:
                gen.finish = finish
                break
            feed = [token]
        if static is None:
            self._sessions.put(session, fed, cache)  # the static decoder keeps its ids itself
        gen.text = decoder.completion
        gen.generate_seconds = time.perf_counter() - started
        return gen

    def _static_decoder(self, max_concurrent: int) -> StaticDecoder | None:
        if max_concurrent != 1 or not StaticDecoder.supports(self.model):
            log.warning("static decoding needs maxConcurrent 1 and a model whose KV cache can be cut back: "
                        "decoding dynamically")
            return None
        try:
            return StaticDecoder(self.model, self.context_window, self.device)
        except Exception as exc:  # e.g. torch.compile failing on this GPU: completions must still work
            log.warning("static decoding is not available here, decoding dynamically: %s", exc)
            return None

    def _static_for(self, request: GenerationRequest, ids: list[int]) -> StaticDecoder | None:
        """The static decoder, when this request can use it. Not with peft adapters (their layers
        switch per request, which the compiled step does not follow), not for background work
        (it runs beside completions, and there is one static cache), and not when the prompt
        and new tokens would not fit in its fixed length."""
        if self.static is None or self.adapter_hash or self._adapters or request.background:
            return None
        return self.static if self.static.fits(len(ids), request.max_new_tokens) else None


class _Decoder:
    """Chooses tokens, detokenizes incrementally and decides when the hole is complete."""

    def __init__(self, backend: LocalBackend, request: GenerationRequest):
        self._backend = backend
        self._request = request
        self._ids: list[int] = []
        self._pending = 0  # index of the first id not yet turned into text
        self.text = ""
        self._heal_left = request.heal  # healed text the next tokens must still spell out

    @property
    def completion(self) -> str:
        """The text after the healed part: what the user gets."""
        heal = self._request.heal
        return self.text[len(heal):] if self.text.startswith(heal) else ""

    def choose(self, logits: torch.Tensor) -> int:
        if self._heal_left:
            logits = logits.masked_fill(~self._backend.healing_mask(self._heal_left), float("-inf"))
        if self._request.temperature <= 0:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits.float() / self._request.temperature, dim=-1)
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < self._request.top_p
        sorted_probs[~keep] = 0
        return int(order[torch.multinomial(sorted_probs, 1)])

    def push(self, token: int) -> str | None:
        """Add a token; returns "stop" or "length" when generation should end."""
        if token in self._backend._end_ids:
            return "stop"
        self._ids.append(token)
        piece = self._backend.tokenizer.decode(self._ids[self._pending:], skip_special_tokens=False)
        # A byte-level token can end inside a UTF-8 sequence; wait for the rest of it.
        if not piece.endswith("\ufffd"):
            self.text += piece
            self._pending = len(self._ids)
            self._heal_left = self._heal_left[len(piece):] if self._heal_left.startswith(piece) else ""
        if self._request.single_line and "\n" in self.completion:
            return "stop"
        if any(s in self.completion for s in self._request.stop):
            return "stop"
        if len(self._ids) >= self._request.max_new_tokens:
            return "length"
        return None
