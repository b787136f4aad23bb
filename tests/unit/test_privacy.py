"""Redacting secrets inside ordinary text (codegen_lsp/privacy.py): each key shape, what must stay,
idempotence, where the placeholders land, windows cut through a secret, the cursor in one."""

from __future__ import annotations

import pytest

from codegen_lsp.privacy import PLACEHOLDER, find_secret, redact, redact_window, restore, secret_at, secret_spans

# Split so that this file itself holds no key shape for a scanner to trip on.
AWS = "AKIA" + "Q3EXAMPLE7MARKER"
GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
OPENAI = "sk-" + "live-4f9a8b7c6d5e4f3a2b1c0d9e8f7a"
SLACK = "xoxb-" + "1234567890-abcdefghijkl"
GOOGLE = "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"
STRIPE = "sk_" + "live_4eC39HqLyjWDarjtT1zdp7dc"
PEM_BODY = ["MIIEowIBAAKCAQEAr0mX8bH3w1cQ2dW5eY8vZ6nT0fR4kL9pS7uJ3aG1xC2bN5mQ",
            "Zx9Qw3Er7Ty5Ui8Op1As4Df6Gh2Jk0Lz3Xc7Vb9Nm1Qw5Er8Ty2Ui4Op6As0Df3Gh"]
PEM = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(PEM_BODY) + "\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize("text, secret, kind", [
    (f'AWS_ACCESS_KEY_ID = "{AWS}"\n', AWS, "aws access key"),
    (f'client = Github("{GITHUB}")\n', GITHUB, "github token"),
    (f'openai.api_key = "{OPENAI}"\n', OPENAI, "openai key"),
    (f"SLACK = '{SLACK}'\n", SLACK, "slack token"),
    (f'const maps = `{GOOGLE}`;\n', GOOGLE, "google api key"),
    (f'stripe.api_key = "{STRIPE}"\n', STRIPE, "stripe key"),
    (f"# the deploy key is {AWS}, rotate it\n", AWS, "aws access key"),  # outside any literal too
    ('db_password = "s3cr3t-P4ssw0rd!"\n', "s3cr3t-P4ssw0rd!", "generic secret assignment"),
    ('config = {"client_secret": "Zx9Qw3Er7Ty"}\n', "Zx9Qw3Er7Ty", "generic secret assignment"),
    ('connect(host, password="k8Vq2mZp")\n', "k8Vq2mZp", "generic secret assignment"),
    ('apiToken: string = "q7WzK2xR9p"\n', "q7WzK2xR9p", "generic secret assignment"),
    ("POSTGRES_PASSWORD=hunter2x9\n", "hunter2x9", "generic secret assignment"),
    ("  api_token: Tk9v3Lm2Qx # yaml\n", "Tk9v3Lm2Qx", "generic secret assignment"),
    ('DATABASE_URL = "postgres://admin:s3cr3tpw@db:5432/app"\n', "s3cr3tpw", "url password"),
    ('blob = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzz9Qw3ErLtyp"\n', "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzz9Qw3ErLtyp",
     "high-entropy string"),
])
def test_each_shape_loses_its_value_and_keeps_the_rest(text, secret, kind):
    redacted, count = redact(text)
    assert count == 1 and secret not in redacted
    assert redacted == text.replace(secret, PLACEHOLDER)  # only the value: names, quotes, comments stay
    assert find_secret(text) == kind and find_secret(redacted) is None


def test_a_pem_body_keeps_its_lines_and_its_markers():
    text = f'SERVER_KEY = """{PEM}"""\nprint("next")\n'
    redacted, count = redact(text)
    assert count == 1 and not any(line in redacted for line in PEM_BODY)
    assert redacted.count("\n") == text.count("\n")  # line numbers after it do not move
    assert "-----BEGIN RSA PRIVATE KEY-----\n<secret>\n<secret>\n-----END RSA PRIVATE KEY-----" in redacted
    escaped = '"private_key": "' + PEM.replace("\n", "\\n") + '\\n"'  # a service-account JSON file
    assert not any(line in redact(escaped)[0] for line in PEM_BODY)


@pytest.mark.parametrize("text", [
    PEM_BODY[0] + "\n" + PEM_BODY[1] + "\n-----END RSA PRIVATE KEY-----\n",  # BEGIN line out of view
    "-----BEGIN OPENSSH PRIVATE KEY-----\n" + PEM_BODY[0] + "\n" + PEM_BODY[1][:20],  # being typed
])
def test_a_key_body_cut_off_from_its_markers_is_still_redacted(text):
    redacted, count = redact(text)
    assert count >= 1 and PEM_BODY[0] not in redacted and PEM_BODY[1][:20] not in redacted


@pytest.mark.parametrize("text", [
    "# Fixed upstream in 3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39, see the changelog.\n",
    'REQUEST_ID = "123e4567-e89b-12d3-a456-426614174000"\n',
    'MESSAGE = "The quick brown fox jumps over the lazy dog while the configuration file loads"\n',
    'URL = "https://api.example.com/v2/users/profile?include=settings&page=2"\n',
    'DOCS = "https://user:password@example.com/"\n',
    'B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"\n',
    'token_type = "Bearer"\nsort_key = "last_name"\ncache_key = "user_v2_profile"\n',
    'password = ""\napi_key = os.environ["API_KEY"]\nSECRET_KEY = "<your secret key>"\n',
    'API_KEY = "${OPENAI_API_KEY}"\nTOKEN = "{{ token }}"\npassword = "xxxxxxxxxxxx"\nsecret = "changeme"\n',
    f'api_key = "{PLACEHOLDER}"\n',
    "token = request.headers['X-Token']\nsecret = get_secret(name)\nkey = self.key\npassword = None\n",
    'if token == "abc123def456ghi":\n    pass\n',
    'key_file = "/etc/ssl/private/server.key"\nheaders = {"Authorization": f"Bearer {token}"}\n',
    'if line.startswith("-----BEGIN RSA PRIVATE KEY-----"):\n    return True\n',
    "def rectangle_area(width: float, height: float) -> float:\n    return width * height\n",
    # Code whose names merely contain "key" or "token": bare values there are expressions, not secrets.
    "RegOpenKeyEx = winreg.OpenKeyEx\n_KEYWORD_ONLY = _ParameterKind.KEYWORD_ONLY\nhkey_mod = win32api\n",
    'down_key = ".lora_down.weight"\nself._authkey = self._parent_authkey\ntoken: TokenKind\n',
])
def test_placeholders_templates_hashes_and_uuids_stay(text):
    assert redact(text) == (text, 0)
    assert find_secret(text) is None


def test_redacting_twice_changes_nothing():
    text = "\n".join([f'AWS = "{AWS}"', f"KEY = '''{PEM}'''", 'password = "k8Vq2mZp"', "DB_PASSWORD=hunter2x9",
                      'url = "redis://:s3cr3tpw@cache:6379"', f"# {GITHUB}", ""])
    once, count = redact(text)
    assert count == 6
    assert redact(once) == (once, 0) and secret_spans(once) == []


def test_placeholders_sit_where_the_secrets_were():
    text = f'a = 1\nAWS = "{AWS}"\nb = 2\npassword = "k8Vq2mZp"\nc = 3\n'
    redacted, _ = redact(text)
    assert redacted.split("\n")[0::2] == text.split("\n")[0::2]  # the lines between are untouched
    assert redacted.index(PLACEHOLDER) == text.index(AWS)         # text before the first one is too
    assert redacted.endswith('"\nc = 3\n')


def test_a_window_cut_through_a_secret_shows_none_of_it():
    text = f'import os\nAPI_KEY = "{OPENAI}"\nprint(API_KEY)\n'
    cut = text.index(OPENAI) + 12  # the window starts, or the cursor sits, inside the key
    for prefix_chars, suffix_chars in ((6, 20), (len(text[:cut]), len(text) - cut)):
        before, after, count = redact_window(text[:cut], text[cut:], prefix_chars, suffix_chars)
        assert count == 1
        assert before.endswith(PLACEHOLDER) and after.startswith(PLACEHOLDER)
        shown = before + after
        assert not any(OPENAI[i:i + 5] in shown for i in range(len(OPENAI) - 5))
    before, after, count = redact_window(text, "", len(text) - text.index(OPENAI) - 10, 0)  # the window's head
    assert count == 1 and before.startswith(PLACEHOLDER + '"\nprint') and OPENAI[-10:] not in before


def test_a_window_without_secrets_is_returned_as_is():
    prefix, suffix = "def area(w, h):\n    return w *", " h\n\nprint(area(2, 3))\n"
    assert redact_window(prefix, suffix, 10, 8) == (prefix[-10:], suffix[:8], 0)


def test_the_cursor_inside_a_secret_or_typing_one_is_found():
    line = f'API_KEY = "{OPENAI}"\n'
    start = line.index(OPENAI)
    assert secret_at(line, start + 5) == "openai key"
    assert secret_at(line, start + len(OPENAI)) == "openai key"        # at its end, before the quote
    assert secret_at(line, start + len(OPENAI) + 1) is None            # after the closing quote
    assert secret_at('password = "hunt', 16) == "generic secret assignment"  # being typed, not closed
    assert secret_at('greeting = "hel', 15) is None
    assert secret_at("-----BEGIN RSA PRIVATE KEY-----\nMIIEow", 38) == "private key"
    assert secret_at(PEM + "\nx = 1", len(PEM) + 6) is None


def test_restore_puts_the_values_back_into_a_rewrite_that_kept_every_placeholder():
    original = f'def connect():\n    return db(password="k8Vq2mZp", token="{GITHUB}")\n'
    rewrite = redact(original)[0].replace("db(", "database.open(")
    assert restore(rewrite, original) == original.replace("db(", "database.open(")
    dropped_one = 'def connect():\n    return db(token="<secret>")\n'
    assert restore(dropped_one, original) == dropped_one  # which value goes where is unknown: none is put back


# --- the completion pipeline on a real tiny model ----------------------------------------------

SOURCE = (f'API_KEY = "{OPENAI}"\n\n\ndef area(width, height):\n    return width * height\n\n\n'
          "def perimeter(width, height):\n    ")


async def test_completion_prompts_are_redacted_and_stable_while_typing(fitted):
    from codegen_lsp.backends.base import StopFlag
    from tests.unit.test_pipeline import make_pipeline, request

    pipeline = make_pipeline(fitted, typing_ahead=False)
    first = (await pipeline.complete(request(SOURCE, len(SOURCE), version=1), StopFlag())).record
    typed = SOURCE + "return 2 * (width"
    second = (await pipeline.complete(request(typed, len(typed), version=2), StopFlag())).record
    for record in (first, second):
        assert record.outcome == "model" and record.redacted == 1
        assert OPENAI not in record.prompt and f'API_KEY = "{PLACEHOLDER}"' in record.prompt
    # The same text gives the same prompt: the second request reuses the first one's KV cache. The
    # secret is on the first line, so a placeholder that changed would leave almost nothing to reuse.
    assert second.reused_tokens > first.prompt_tokens // 2, (first.prompt_tokens, second.reused_tokens)


async def test_the_cursor_inside_a_secret_skips_the_completion_and_actions_fill_redacted(fitted):
    from codegen_lsp.backends.base import StopFlag
    from tests.unit.test_pipeline import make_pipeline, request

    pipeline = make_pipeline(fitted)
    inside = SOURCE.index(OPENAI) + 10
    result = await pipeline.complete(request(SOURCE, inside, invoked=True), StopFlag())
    assert (result.text, result.record.outcome, result.record.prompt) == ("", "skipped", "")
    assert pipeline.log.backend_calls == 0
    await pipeline.fill(request(SOURCE, len(SOURCE), kind="action"), 8, ("\n\n",), StopFlag())
    record = pipeline.log.last()[-1]
    assert record.mode == "fill" and record.redacted == 1 and OPENAI not in record.prompt
