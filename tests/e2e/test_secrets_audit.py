"""Secrets audit through the real server and the training data path.

Random marker secrets are planted in deny-listed files (`.env`, `secrets.yaml`, `id_rsa`,
`credentials.json`), in files listed in `.codegenignore` or `.gitignore`, and inside ordinary
source files in API-key shapes (AWS, GitHub, OpenAI, Slack, a PEM block, passwords). The editor
asks for completions everywhere (with the cursor after secrets, inside one, and with secrets in
other open documents and in the workspace index), explains code, writes docs and a diagram
through a chat model, and reads the debug dump and the status. Then no marker may be found in a
prompt, a message, the log file, the completion cache, the index store, a written file or a
training sample, while the non-secret parts of the same files did reach the prompts, with the
redactions counted. (Telemetry and sockets: tests/e2e/test_offline.py.)
"""

from __future__ import annotations

import json
import secrets
import shutil
import string
import subprocess
import sys
from pathlib import Path

from lsprotocol import types

from tests.e2e.helpers import Editor, command, last_requests, lsp_server, wait_for_index
from tests.e2e.test_actions import CHAT_TEMPLATE

ALNUM = string.ascii_letters + string.digits
BASE64 = ALNUM + "+/"


def _random(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def make_secrets() -> dict[str, str]:
    """Fresh values for every run: a marker found anywhere can only have come from this workspace."""
    return {
        "aws": "AKIA" + _random(string.ascii_uppercase + string.digits, 16),
        "github": "ghp_" + _random(ALNUM, 36),
        "openai": "sk-proj-" + _random(ALNUM, 32),
        "slack": "xoxb-" + _random(string.digits, 10) + "-" + _random(ALNUM, 24),
        "pem1": _random(BASE64, 64), "pem2": _random(BASE64, 64),
        # Passwords: a digit and letters on both sides of the random part, so none reads as a name.
        "password": f"Pw7{secrets.token_hex(8)}Zq",
        "default": f"Kx7{secrets.token_hex(6)}Zq",   # a parameter's default value
        "caption": f"Tk7{secrets.token_hex(6)}Zq",   # a default in a function the diagram captions
        "client": f"Cl7{secrets.token_hex(6)}Zq",    # in another open document
        # Private files hold markers of no particular shape: they are kept out by name.
        "env": "MARKER-ENV-" + secrets.token_hex(6), "yaml": "MARKER-YAML-" + secrets.token_hex(6),
        "id_rsa": "MARKERIDRSA" + secrets.token_hex(12), "creds": "MARKER-CREDS-" + secrets.token_hex(6),
        "ignored": "marker_ignored_" + secrets.token_hex(6), "gitignored": "marker_gitignored_" + secrets.token_hex(6),
    }


SETTINGS = '''"""Settings of the shop service."""

AWS_ACCESS_KEY_ID = "{aws}"
GITHUB_TOKEN = "{github}"
OPENAI_API_KEY = "{openai}"
SLACK_BOT_TOKEN = "{slack}"
DB_PASSWORD = "{password}"
DEPLOY_KEY = """-----BEGIN RSA PRIVATE KEY-----
{pem1}
{pem2}
-----END RSA PRIVATE KEY-----"""


def connect_db(host, password="{default}"):
    """Open the shop database on `host`."""
    return (host, password)


def ping_service(url, token="{caption}"):
    return (url, token)


def shop_settings_summary(region):
    return "shop in " + region
'''
CLIENT = '''from app.settings import connect_db, shop_settings_summary


def open_orders(region):
    session = connect_db("orders.internal", password="{client}")
    summary = shop_settings_summary(region)
    return session, summary
'''
MAIN = '''from app.settings import OPENAI_API_KEY, connect_db, ping_service, shop_settings_summary


def checkout_report_{tag}(region):
    session = connect_db("orders.internal")
    ping_service("https://orders.internal/health")
    summary = shop_settings_summary(region)
    return session, summary, OPENAI_API_KEY
'''
SHAPES = '''"""Plane shapes."""


def rectangle_area(width, height):
    return width * height


def triangle_area(base, height):
    return base * height / 2
'''
PRIVATE = {  # path -> (language id, text); each is private by name or by .codegenignore
    ".env": ("dotenv", "OPENAI_API_KEY={env}\n"),
    "config/secrets.yaml": ("yaml", "database:\n  password: {yaml}\n"),
    "id_rsa": ("plaintext", "-----BEGIN OPENSSH PRIVATE KEY-----\n{id_rsa}\n-----END OPENSSH PRIVATE KEY-----\n"),
    "credentials.json": ("json", '{{"token": "{creds}"}}\n'),
    "private/notes.py": ("python", "def {ignored}():\n    return '{ignored}'\n"),
}
REDACTED_IN_SETTINGS = 8  # aws, github, openai, slack, password, the PEM body, two defaults


def make_workspace(root: Path, values: dict[str, str], tag: str) -> Path:
    files = {"app/settings.py": SETTINGS.format(**values), "app/client.py": CLIENT.format(**values),
             "app/main.py": MAIN.format(tag=tag), "app/shapes.py": SHAPES, ".codegenignore": "private/\n",
             ".gitignore": "build_out/\n", "build_out/generated.py": f"def {values['gitignored']}():\n    return 1\n",
             **{path: text.format(**values) for path, (_, text) in PRIVATE.items()}}
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def chat_model_from(model: Path, folder: Path) -> Path:
    """The fitted model with a chat template: the actions then ask it in chat messages."""
    shutil.copytree(model, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": CHAT_TEMPLATE}))
    return folder


def needles(values: dict[str, str]) -> dict[str, str]:
    """What must be found nowhere: each value, and a middle piece of each (a secret cut in two)."""
    out = dict(values)
    out.update({f"{name} (middle)": value[len(value) // 2 - 6:len(value) // 2 + 6] for name, value in values.items()})
    return out


def assert_nowhere(values: dict[str, str], where: dict[str, str]) -> None:
    for name, needle in needles(values).items():
        found = [place for place, text in where.items() if needle in text]
        assert not found, f"marker {name} found in {found}"


def files_under(folder: Path) -> dict[str, str]:
    """Every byte of every file (sqlite databases, their journals, pickles, logs) as text."""
    return {str(path): path.read_bytes().decode("latin-1") for path in sorted(folder.rglob("*")) if path.is_file()}


async def last_record(client) -> dict:
    return (await last_requests(client, 1))["requests"][-1]


async def complete_everywhere(client, root: Path, values: dict[str, str], tag: str) -> dict[str, dict]:
    """Completions in every file, as a user types; the records of the ones that asked the model."""
    # (a), (b): completions asked in every private file get nothing, and never reach the model.
    for path, (language, text) in PRIVATE.items():
        doc = Editor(client, (root / path).as_uri(), text.format(**values), language)
        assert not (await doc.inline(0, 3, invoked=True)).items
        assert not (await doc.complete(0, 3)).items
    assert not (await last_requests(client))["requests"]

    # (c) secrets in an open source file: the cursor after all of them, after one, inside one.
    records = {}
    lines = SETTINGS.format(**values).split("\n")
    settings = Editor(client, (root / "app/settings.py").as_uri(), "\n".join(lines))
    await settings.inline(len(lines) - 1, 0, invoked=True)
    records["at the end"] = await last_record(client)
    password = next(i for i, line in enumerate(lines) if line.startswith("DB_PASSWORD"))
    await settings.complete(password, len(lines[password]))
    records["after one"] = await last_record(client)
    aws = next(i for i, line in enumerate(lines) if line.startswith("AWS_ACCESS_KEY_ID"))
    assert not (await settings.inline(aws, lines[aws].index("AKIA") + 8, invoked=True)).items
    records["inside one"] = await last_record(client)

    # Secrets in another open document (snippets) and in the index (definitions).
    Editor(client, (root / "app/client.py").as_uri(), CLIENT.format(**values))
    lines = (MAIN.format(tag=tag) + "\n\ndef orders_for(region):\n    session = connect_db(").split("\n")
    main = Editor(client, (root / "app/main.py").as_uri(), "\n".join(lines))
    await main.inline(len(lines) - 1, len(lines[-1]), invoked=True)
    records["main"] = await last_record(client)
    await main.complete(len(lines) - 1, len(lines[-1]))
    return records


async def act_and_generate(client, root: Path, options: dict, chat_model: Path, tag: str) -> dict[str, dict]:
    """Explain through holes (the completion model), then explain, an overview and a diagram's
    captions through a chat model."""
    uri = (root / "app/settings.py").as_uri()
    line = SETTINGS.split("\n").index('def connect_db(host, password="{default}"):')
    where = {"start": {"line": line, "character": 4}, "end": {"line": line, "character": 4}}
    results = {"explain": await command(client, "codegen.explain", uri, where)}
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"codegen": {**options, "actions": {"chatModel": str(chat_model)}}}))
    results["explain by chat"] = await command(client, "codegen.explain", uri, where)
    results["overview"] = await command(client, "codegen.generateDocs", uri, {"kind": "overview"})
    results["diagram"] = await command(client, "codegen.diagram", (root / "app/main.py").as_uri(),
                                       {"kind": "calls", "function": f"checkout_report_{tag}"})
    for result in results.values():
        assert "error" not in result, result
    return results


async def test_no_planted_secret_reaches_a_prompt_log_message_cache_or_index(editor, fitted_model, tmp_path):
    values, tag = make_secrets(), secrets.token_hex(4)
    root = make_workspace(tmp_path / "ws", values, tag)
    chat_model = chat_model_from(fitted_model, tmp_path / "chat-model")
    log_file, cache, xdg_cache = tmp_path / "logs" / "server.log", tmp_path / "completions", tmp_path / "xdg-cache"
    options = {"completion": {"debounceMs": 0, "repoContext": True},
               "log": {"level": "debug", "file": str(log_file), "keepRequests": 1000},
               "cache": {"enabled": True, "path": str(cache)}}
    async with lsp_server(editor, fitted_model, options, root=root) as client:
        assert (await wait_for_index(client)).startswith("indexed 4 files")  # app/*.py, none private or ignored
        records = await complete_everywhere(client, root, values, tag)
        results = await act_and_generate(client, root, options, chat_model, tag)
        dump, status = await last_requests(client), await command(client, "codegen.status")
        messages = {"window/logMessage": "\n".join(m.message for m in client.log_messages),
                    "window/showMessage": "\n".join(m.message for m in client.messages)}

    assert any(path.endswith(".db") for path in files_under(cache))
    assert any("/index/" in path for path in files_under(xdg_cache))  # the workspace index store
    assert_nowhere(values, {"codegen.debug.lastRequests": json.dumps(dump), "codegen.status": json.dumps(status),
                            "command results": json.dumps(results), **messages, **files_under(log_file.parent),
                            **files_under(cache), **files_under(xdg_cache), **files_under(root / ".codegen"),
                            **files_under(root / "docs")})
    assert "completion skipped: the cursor is inside a secret (aws access key)" in log_file.read_text()
    assert_the_rest_reached_the_prompts(records, dump["requests"], results, tag)


def assert_the_rest_reached_the_prompts(records: dict[str, dict], dump: list[dict], results: dict, tag: str):
    """The positive control: what is not secret in those files did reach the prompts, with the
    redactions counted, so the audit above cannot pass because nothing was sent at all."""
    at_end = records["at the end"]
    assert at_end["redacted"] == REDACTED_IN_SETTINGS, at_end["redacted"]
    for line in ('AWS_ACCESS_KEY_ID = "<secret>"', 'SLACK_BOT_TOKEN = "<secret>"', 'DB_PASSWORD = "<secret>"',
                 '-----BEGIN RSA PRIVATE KEY-----\n<secret>\n<secret>\n-----END RSA PRIVATE KEY-----"""',
                 'def connect_db(host, password="<secret>"):', "def shop_settings_summary(region):"):
        assert line in at_end["prompt"], line
    # The cursor right after the password's closing quote (which token healing may take off the prompt).
    after_one = records["after one"]
    assert after_one["redacted"] == REDACTED_IN_SETTINGS and 'DB_PASSWORD = "<secret>' in after_one["prompt"]
    assert records["inside one"]["outcome"] == "skipped" and not records["inside one"]["prompt"]
    # main.py: the constant and the signature come from the index, a snippet from the other open file.
    main = records["main"]
    for line in (f"def checkout_report_{tag}(region):", 'OPENAI_API_KEY = "<secret>"',
                 'def connect_db(host, password="<secret>"): ...',
                 'session = connect_db("orders.internal", password="<secret>")'):
        assert line in main["prompt"], line
    assert "app/client.py" in [c["path"] for c in main["context"] if c["kind"] == "snippet" and c["included"]]
    assert main["redacted"] >= 1
    # Actions, docs and captions: each kind of request was made, and the chat ones counted theirs.
    assert "| `password` | - | `\"<secret>\"` |" in results["explain"]["markdown"]  # the parameter table
    assert any(r["mode"] == "fill" and 'def connect_db(host, password="<secret>"):' in r["prompt"] for r in dump)
    chats = [r for r in dump if r["mode"] == "chat" and r["kind"] == "action"]  # explain, the overview's summary
    assert len(chats) == 2 and all(r["redacted"] >= 1 and "<secret>" in r["prompt"] for r in chats), chats
    assert 'AWS_ACCESS_KEY_ID = "<secret>"' in Path(results["overview"]["path"]).read_text()
    captions = [r for r in dump if r["mode"] == "chat" and r["kind"] == "job"]
    assert any('def ping_service(url, token="<secret>")' in r["prompt"] for r in captions), captions


def test_no_planted_secret_reaches_a_training_sample(fitted_model, tmp_path, capsys):
    from transformers import AutoTokenizer

    from training.finetune import TrainOptions, prepare_data

    values, tag = make_secrets(), secrets.token_hex(4)
    root = make_workspace(tmp_path / "ws", values, tag)
    collection, data, _ = prepare_data(TrainOptions(paths=(root,), base=fitted_model, out=tmp_path / "adapter"))
    printed = capsys.readouterr()
    tokenizer = AutoTokenizer.from_pretrained(fitted_model)
    samples = [tokenizer.decode(ids) for ids in data.samples]
    reasons = {path: reason for _, path, reason in collection.dropped}
    assert {path: reasons.get(path) for path in [*PRIVATE, "app/settings.py", "app/client.py"]} == {
        **{path: "private" for path in PRIVATE}, "app/settings.py": "secret", "app/client.py": "secret"}
    assert sorted(f.path for f in collection.files) == ["app/main.py", "app/shapes.py"]
    # The positive control: every training file's code is in the samples.
    assert collection.train() and samples
    for name in [f"checkout_report_{tag}", "rectangle_area"]:
        assert any(name in sample for sample in samples) == any(name in f.text for f in collection.train()), name
    # The command line, as a user runs it: what it prints, and writes (nothing, in a dry run).
    run = subprocess.run([sys.executable, "-m", "codegen_lsp", "train", str(root), "--model", str(fitted_model),
                          "--dry-run", "--steps", "1", "--seq-len", "128", "--batch", "2"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "secret" in run.stdout and "private" in run.stdout
    assert_nowhere(values, {"samples": "\n".join(samples), "printed": printed.out + printed.err,
                            "held-out files": "\n".join(f.text for f in collection.heldout()),
                            "train --dry-run stdout": run.stdout, "train --dry-run stderr": run.stderr,
                            **files_under(root / ".codegen"), **files_under(tmp_path / "xdg-cache")})
