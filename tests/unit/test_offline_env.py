"""The command sets the hub's offline variables before huggingface_hub or transformers is imported:
they read them once, at import, so a later setting would be too late."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from codegen_lsp.cli import OFFLINE_ENV, set_offline_defaults

# Records the offline variables at the moment the first of these libraries starts importing,
# whatever imports it, then does what the server does when it loads a model.
PROBE = """
import json, os, sys
WATCHED = ("huggingface_hub", "transformers", "datasets", "diffusers", "peft")
seen = {}

class Probe:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in WATCHED and not seen:
            seen.update(first=name, env={k: os.environ.get(k) for k in %(names)r})
        return None

sys.meta_path.insert(0, Probe())
import codegen_lsp.cli
import codegen_lsp.backends.local
import huggingface_hub.constants as hub
print(json.dumps({**seen, "hub_offline": hub.HF_HUB_OFFLINE, "telemetry_off": hub.HF_HUB_DISABLE_TELEMETRY}))
""" % {"names": tuple(OFFLINE_ENV)}


def probe(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in OFFLINE_ENV}
    run = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.splitlines()[-1])


def test_the_variables_are_set_before_the_hub_is_first_imported():
    seen = probe()
    assert seen["first"].split(".")[0] in ("huggingface_hub", "transformers")  # the probe saw the import
    assert seen["env"] == OFFLINE_ENV
    assert seen["hub_offline"] is True and seen["telemetry_off"] is True


def test_a_value_the_user_set_is_kept():
    seen = probe(HF_HUB_OFFLINE="0")
    assert seen["env"]["HF_HUB_OFFLINE"] == "0" and seen["hub_offline"] is False
    assert seen["env"]["TRANSFORMERS_OFFLINE"] == "1"


def test_set_offline_defaults_fills_only_what_is_missing():
    environ = {"HF_DATASETS_OFFLINE": "0"}
    set_offline_defaults(environ)
    assert environ == {**OFFLINE_ENV, "HF_DATASETS_OFFLINE": "0"}
