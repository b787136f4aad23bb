import dataclasses
import math

import pytest

from codegen_lsp.config import (
    ActionsConfig,
    GeneratorsConfig,
    CacheConfig,
    IndexConfig,
    CompletionConfig,
    Config,
    LogConfig,
    ModelConfig,
    camel,
    parse_config,
    settings_schema,
    snake,
)


def test_empty_and_none_give_defaults_without_warnings():
    for raw in ({}, None, {"codegen": {}}, {"codegen": None}):
        config, warnings = parse_config(raw)
        assert config == Config()
        assert warnings == []


def test_defaults_have_the_documented_values():
    config = Config()
    assert (config.model.path, config.model.device, config.model.dtype) == (None, "auto", "auto")
    assert (config.model.fim_format, config.model.fim_order) == ("auto", "auto")
    assert (config.model.max_concurrent, config.model.context_window) == (1, 0)
    c = config.completion
    assert (c.enabled, c.debounce_ms, c.max_new_tokens, c.single_line_max_tokens) == (True, 30, 64, 32)
    assert (c.prompt_tokens, c.suffix_share, c.temperature, c.top_p) == (1536, 0.25, 0.0, 0.95)
    assert (c.stop, c.typing_ahead) == ([], True)
    assert (config.cache.enabled, config.cache.path, config.cache.size_limit_mb) == (True, None, 256)
    assert (config.log.level, config.log.file, config.log.keep_requests) == ("info", None, 50)


def test_list_defaults_are_not_shared_between_instances():
    first, second = CompletionConfig(), CompletionConfig()
    first.stop.append("\n\n")
    assert second.stop == []


CAMEL_CASES = [
    # raw section, attribute path, expected value
    ({"completion": {"debounceMs": 5}}, ("completion", "debounce_ms"), 5),
    ({"completion": {"maxNewTokens": 128}}, ("completion", "max_new_tokens"), 128),
    ({"completion": {"singleLineMaxTokens": 8}}, ("completion", "single_line_max_tokens"), 8),
    ({"completion": {"suffixShare": 0.5}}, ("completion", "suffix_share"), 0.5),
    ({"completion": {"typingAhead": False}}, ("completion", "typing_ahead"), False),
    ({"completion": {"stop": ["\n\n", "END"]}}, ("completion", "stop"), ["\n\n", "END"]),
    ({"model": {"fimFormat": "starcoder"}}, ("model", "fim_format"), "starcoder"),
    ({"model": {"fimOrder": "spm"}}, ("model", "fim_order"), "spm"),
    ({"model": {"maxConcurrent": 4}}, ("model", "max_concurrent"), 4),
    ({"model": {"contextWindow": 2048}}, ("model", "context_window"), 2048),
    ({"model": {"path": "/models/x"}}, ("model", "path"), "/models/x"),
    ({"model": {"device": "cpu", "dtype": "bfloat16"}}, ("model", "dtype"), "bfloat16"),
    ({"cache": {"sizeLimitMb": 3}}, ("cache", "size_limit_mb"), 3),
    ({"cache": {"path": None}}, ("cache", "path"), None),
    ({"log": {"keepRequests": 7, "level": "debug"}}, ("log", "keep_requests"), 7),
    # snake_case keys are accepted too
    ({"completion": {"debounce_ms": 9}}, ("completion", "debounce_ms"), 9),
]


@pytest.mark.parametrize("raw, attr, expected", CAMEL_CASES)
@pytest.mark.parametrize("wrapped", [False, True])
def test_camel_case_keys_are_applied(raw, attr, expected, wrapped):
    config, warnings = parse_config({"codegen": raw} if wrapped else raw)
    section, name = attr
    assert getattr(getattr(config, section), name) == expected
    assert warnings == []


def test_int_is_accepted_for_a_float_and_stored_as_float():
    config, warnings = parse_config({"completion": {"suffixShare": 1, "temperature": 0}})
    assert config.completion.suffix_share == 1.0 and type(config.completion.suffix_share) is float
    assert config.completion.temperature == 0.0 and type(config.completion.temperature) is float
    assert warnings == []


def test_boundaries_are_inclusive():
    config, warnings = parse_config({"completion": {"debounceMs": 5000, "suffixShare": 0.0, "topP": 1.0},
                                     "model": {"maxConcurrent": 64}})
    c = config.completion
    assert (c.debounce_ms, c.suffix_share, c.top_p) == (5000, 0.0, 1.0)
    assert config.model.max_concurrent == 64
    assert warnings == []


def test_top_level_codegen_is_only_a_wrapper_when_it_is_the_only_key():
    config, warnings = parse_config({"codegen": {"completion": {"debounceMs": 5}}, "completion": {"debounceMs": 7}})
    assert config.completion.debounce_ms == 7
    assert warnings == ["codegen.codegen: unknown setting"]


BAD_CASES = [
    # section, camelCase key, bad value, why, field that keeps its default
    ("completion", "debounceMs", "fast", "expected an integer", "debounce_ms"),
    ("completion", "debounceMs", 1.5, "expected an integer", "debounce_ms"),
    ("completion", "debounceMs", True, "expected an integer", "debounce_ms"),
    ("completion", "debounceMs", -1, "expected at least 0", "debounce_ms"),
    ("completion", "debounceMs", 5001, "expected at most 5000", "debounce_ms"),
    ("completion", "suffixShare", 1.5, "expected at most 1.0", "suffix_share"),
    ("completion", "temperature", False, "expected a number", "temperature"),
    ("completion", "temperature", "0.2", "expected a number", "temperature"),
    ("completion", "enabled", 1, "expected true or false", "enabled"),
    ("completion", "stop", "\n", "expected a list of strings", "stop"),
    ("completion", "stop", ["a", 1], "expected a list of strings", "stop"),
    ("completion", "promptTokens", 15, "expected at least 16", "prompt_tokens"),
    ("model", "maxConcurrent", 0, "expected at least 1", "max_concurrent"),
    ("model", "device", "tpu", "expected one of 'auto', 'cpu', 'cuda', 'mps'", "device"),
    ("model", "fimOrder", "pms", "expected one of 'auto', 'psm', 'spm'", "fim_order"),
    ("model", "path", 3, "expected a string", "path"),
    ("model", "fimFormat", None, "expected a string", "fim_format"),
    ("log", "level", "verbose", "expected one of 'error', 'warning', 'info', 'debug'", "level"),
    ("cache", "sizeLimitMb", 0, "expected at least 1", "size_limit_mb"),
]


@pytest.mark.parametrize("section, key, value, why, name", BAD_CASES)
def test_a_bad_value_gives_one_warning_and_keeps_the_default(section, key, value, why, name):
    config, warnings = parse_config({"codegen": {section: {key: value}}})
    assert warnings == [f"codegen.{section}.{key}: {why}, got {value!r}; using the default"]
    assert getattr(getattr(config, section), name) == getattr(getattr(Config(), section), name)


def test_warning_text_for_a_bad_literal():
    _, warnings = parse_config({"model": {"device": "tpu"}})
    assert warnings == ["codegen.model.device: expected one of 'auto', 'cpu', 'cuda', 'mps', got 'tpu'; "
                        "using the default"]


def test_valid_siblings_are_applied_next_to_bad_ones():
    raw = {
        "model": {"device": "tpu", "dtype": "float16", "maxConcurrent": True, "contextWindow": 1024},
        "completion": {"debounceMs": -5, "maxNewTokens": 100, "noSuchThing": 1, "stop": ["END"]},
        "cache": "yes",
        "log": {"level": "debug"},
        "extra": {},
    }
    config, warnings = parse_config(raw)
    assert (config.model.device, config.model.dtype) == ("auto", "float16")
    assert (config.model.max_concurrent, config.model.context_window) == (1, 1024)
    assert (config.completion.debounce_ms, config.completion.max_new_tokens) == (30, 100)
    assert config.completion.stop == ["END"]
    assert config.cache == CacheConfig()
    assert config.log == LogConfig(level="debug")
    assert sorted(w.split(":")[0] for w in warnings) == sorted([
        "codegen.model.device", "codegen.model.maxConcurrent", "codegen.completion.debounceMs",
        "codegen.completion.noSuchThing", "codegen.cache", "codegen.extra"])


@pytest.mark.parametrize("raw, warning", [
    ({"foo": 1}, "codegen.foo: unknown setting"),
    ({"completion": {"debounce": 1}}, "codegen.completion.debounce: unknown setting"),
    # "Path" folds to the known "path"; only "weights" is unknown.
    ({"model": {"fimFormat": "auto", "Path": "/x", "weights": "/y"}}, "codegen.model.weights: unknown setting"),
    ({"log": 3}, "codegen.log: expected an object"),
    ({"completion": ["debounceMs", 5]}, "codegen.completion: expected an object"),
])
def test_unknown_keys_and_non_object_sections(raw, warning):
    config, warnings = parse_config(raw)
    assert warnings == [warning]
    assert config.completion == CompletionConfig()
    assert config.log == LogConfig()


@pytest.mark.parametrize("raw, type_name", [([1, 2], "list"), ("codegen", "str"), (3, "int"), (True, "bool"),
                                           ({"codegen": 5}, "int"), ({"codegen": []}, "list")])
def test_non_object_input_gives_defaults_and_one_warning(raw, type_name):
    config, warnings = parse_config(raw)
    assert config == Config()
    assert warnings == [f"codegen: expected an object, got {type_name}"]


def test_nan_is_out_of_range():
    config, warnings = parse_config({"completion": {"temperature": math.nan}})
    assert len(warnings) == 1 and warnings[0].startswith("codegen.completion.temperature: ")
    assert config.completion.temperature == 0.0


@pytest.mark.parametrize("name, expected", [("debounce_ms", "debounceMs"), ("single_line_max_tokens",
                                             "singleLineMaxTokens"), ("path", "path")])
def test_camel_and_snake_are_inverse(name, expected):
    assert camel(name) == expected
    assert snake(expected) == name


def test_settings_schema_lists_every_field_with_its_default():
    schema = settings_schema()
    expected = {}
    for section, cls in (("model", ModelConfig), ("completion", CompletionConfig), ("cache", CacheConfig),
                         ("index", IndexConfig), ("log", LogConfig), ("actions", ActionsConfig),
                         ("generators", GeneratorsConfig)):
        instance = cls()
        for f in dataclasses.fields(cls):
            expected[f"codegen.{section}.{camel(f.name)}"] = getattr(instance, f.name)
    assert {key: entry["default"] for key, entry in schema.items()} == expected
    assert len(schema) == 49
    assert schema["codegen.completion.debounceMs"]["default"] == 30
    assert schema["codegen.completion.stop"]["default"] == []
    assert schema["codegen.model.fimFormat"]["default"] == "auto"
    assert all(entry["description"] for entry in schema.values())


def test_every_schema_key_round_trips_through_parse_config():
    # Each key the editor manifest advertises is accepted back with its default value.
    raw: dict = {}
    for key, entry in settings_schema().items():
        _, section, name = key.split(".")
        raw.setdefault(section, {})[name] = entry["default"]
    config, warnings = parse_config({"codegen": raw})
    assert warnings == []
    assert config == Config()


def test_settings_schema_types_accept_their_defaults_and_parse_config_agrees():
    json_types = {"boolean": bool, "integer": int, "number": (int, float), "string": str, "array": list,
                  "null": type(None)}
    schema = settings_schema()
    for key, entry in schema.items():
        allowed = entry["type"] if isinstance(entry["type"], list) else [entry["type"]]
        assert isinstance(entry["default"], tuple(json_types[t] for t in allowed)), key
        if "enum" in entry:
            assert entry["default"] in entry["enum"]
            _, section, name = key.split(".")
            _, warnings = parse_config({section: {name: "not-" + entry["enum"][0]}})
            assert len(warnings) == 1, key
    assert schema["codegen.model.device"]["enum"] == ["auto", "cpu", "cuda", "mps"]
    assert schema["codegen.completion.suffixShare"] == {
        "type": "number", "default": 0.25, "minimum": 0.0, "maximum": 1.0,
        "description": "Share of the prompt budget given to the suffix."}
    assert schema["codegen.model.path"]["type"] == ["string", "null"]
    # A value past a bound is refused by the server as the schema says.
    _, warnings = parse_config({"completion": {"debounceMs": schema["codegen.completion.debounceMs"]["maximum"] + 1}})
    assert len(warnings) == 1


def test_vscode_manifest_settings_match_the_server_schema():
    # package.json's settings are generated from settings_schema(); a changed setting must be synced.
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    check = subprocess.run([sys.executable, str(root / "editors/vscode/scripts/sync-settings.py"), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    properties = json.loads((root / "editors/vscode/package.json").read_text())["contributes"]["configuration"]
    properties = properties["properties"] if isinstance(properties, dict) else \
        {k: v for section in properties for k, v in section["properties"].items()}
    for key, entry in settings_schema().items():
        assert properties[key]["default"] == entry["default"] and properties[key]["type"] == entry["type"], key
