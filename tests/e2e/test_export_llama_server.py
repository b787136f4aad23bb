"""The embedded model exported with `codegen-lsp export --gguf`, served by the real llama-server:
its greedy output is transformers' word for word, its token counts are our tokenizer's, it knows
our FIM tokens (/infill answers, with our format), and an exported LoRA adapter changes the served
output exactly as peft does."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from codegen_lsp import cli
from codegen_lsp.engine import EMBEDDED_MODEL
from codegen_lsp.prompts.fim import CODEGEN
from tests import engines
from tests.e2e.llama_server import running_llama_server
from training.export_gguf import CONVERT_ENV, export_adapter, export_model
from training.lora import LoraRecipe, lora_model

NEW_TOKENS = 32

HOLES = [
    ("def fibonacci(n):\n    if n < 2:\n        return n\n    return ", "\n\nprint(fibonacci(10))\n"),
    ("import os\n\n\ndef read_lines(path):\n    with open(path) as f:\n        ", "\n"),
    ("class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n",
     "\n    def pop(self):\n        return self.items.pop()\n"),
    ("def parse_args(argv):\n    parser = argparse.ArgumentParser()\n    parser.add_argument(",
     ")\n    return parser.parse_args(argv)\n"),
]
PROMPTS = [CODEGEN.prompt(p, s, order) for p, s in HOLES for order in ("psm", "spm")] + ["def quick_sort(items):\n"]
TEXTS = [
    # The converter's own pre-tokenizer probe: whitespace runs, emoji, digits, scripts, contractions.
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ ✅ 🦙🦙 3 33 333 3333 33333 3.3 3..3 "
    "កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? "
    "I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
    Path(cli.__file__).read_text(encoding="utf-8"),
    "".join(CODEGEN.special_tokens) + "x = 1\n",
]


def complete(url: str, prompt: str, **extra) -> dict:
    body = {"prompt": prompt, "temperature": 0, "n_predict": NEW_TOKENS, "cache_prompt": False, **extra}
    response = httpx.post(f"{url}/completion", json=body, timeout=120)
    response.raise_for_status()
    return response.json()


def greedy(model, tokenizer, prompt: str, new_tokens: int = NEW_TOKENS) -> str:
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=new_tokens, do_sample=False)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """transformers on one thread beside the server: with two on busy shared cores it ran 15x slower here."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The embedded model exported through the CLI (the default type), under llama-server."""
    folder = tmp_path_factory.mktemp("export")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CONVERT_ENV, str(engines.converters()))
        assert cli.main(["export", "--gguf", str(folder / "embedded.gguf")]) == 0
    with running_llama_server(folder / "embedded.gguf", "-lv", "4", log=folder / "server.log") as url:
        yield url, folder / "server.log"


@pytest.fixture(scope="module")
def reference():
    tokenizer = AutoTokenizer.from_pretrained(EMBEDDED_MODEL, trust_remote_code=False)
    model = AutoModelForCausalLM.from_pretrained(EMBEDDED_MODEL, trust_remote_code=False, use_safetensors=True,
                                                 dtype=torch.float32).eval()
    return model, tokenizer


def test_greedy_output_is_transformers_word_for_word(served, reference):
    url, _ = served
    expected = {prompt: greedy(*reference, prompt) for prompt in PROMPTS}
    assert {prompt: complete(url, prompt)["content"] for prompt in PROMPTS} == expected


def test_token_counts_are_our_tokenizers(served, reference):
    url, _ = served
    _, tokenizer = reference
    for text in TEXTS:
        response = httpx.post(f"{url}/tokenize", json={"content": text}, timeout=60)
        assert response.json()["tokens"] == tokenizer(text)["input_ids"], text[:80]


def test_our_fim_tokens_are_recognised_and_infill_fills_in_our_format(served, reference):
    url, log = served
    # llama.cpp's own account of the tokens it loaded: "FIM PRE token = 0 '<|cg_fim_prefix|>'".
    recognised = dict(re.findall(r"print_info: (FIM \w+|EOT) token += \d+ '([^']*)'", log.read_text()))
    assert recognised == {"FIM PRE": CODEGEN.prefix, "FIM SUF": CODEGEN.suffix, "FIM MID": CODEGEN.middle,
                          "FIM REP": CODEGEN.repo_name, "FIM SEP": CODEGEN.file_separator,
                          "EOT": CODEGEN.end_of_text}
    prefix, suffix = HOLES[0]
    # /infill refuses a model whose FIM tokens llama.cpp does not know.
    response = httpx.post(f"{url}/infill", json={"input_prefix": prefix, "input_suffix": suffix, "temperature": 0,
                                                 "n_predict": NEW_TOKENS, "cache_prompt": False}, timeout=120)
    assert response.status_code == 200, response.text
    answer = response.json()
    # llama.cpp builds the prompt (a repository header, then PSM); the model answers it as transformers does.
    assert answer["prompt"].endswith(CODEGEN.prompt(prefix, suffix, "psm"))
    assert answer["content"] == greedy(*reference, answer["prompt"])


def test_an_exported_adapter_changes_the_served_output_as_peft_does(fitted_model, tmp_path, monkeypatch):
    monkeypatch.setenv(CONVERT_ENV, str(engines.converters()))
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(fitted_model, trust_remote_code=False, use_safetensors=True,
                                                dtype=torch.float32)
    model = lora_model(base, LoraRecipe(rank=4, alpha=8, dropout=0.0))
    with torch.no_grad():  # peft starts B at zero (a no-op adapter): make it change something
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 1.0)
    model.save_pretrained(tmp_path / "adapter")
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(fitted_model, trust_remote_code=False)
    export_model(fitted_model, tmp_path / "base.gguf")
    export_adapter(tmp_path / "adapter", fitted_model, tmp_path / "adapter.gguf")
    prompt = CODEGEN.prompt("def area(width, height):\n    return ", "\n")
    with_adapter = greedy(model, tokenizer, prompt)
    with model.disable_adapter():
        without = greedy(model, tokenizer, prompt)
    assert with_adapter != without

    with running_llama_server(tmp_path / "base.gguf", "--lora", str(tmp_path / "adapter.gguf")) as url:
        assert complete(url, prompt)["content"] == with_adapter
        assert complete(url, prompt, lora=[{"id": 0, "scale": 0.0}])["content"] == without
