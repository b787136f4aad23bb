"""codegen.status's adapter fields: the adapter folder a document's workspace uses and, for a
remote server, the name that server serves it under (tests/e2e/test_vllm.py asks real vLLM)."""

from __future__ import annotations

from types import SimpleNamespace

from codegen_lsp.handlers.commands import status

ADAPTER = "/work/payments/.codegen/adapter"


class Remote:
    adapters_by_name = True
    model_id = "openai:http://gpu-box:8000/v1:coder"
    fim = SimpleNamespace(name="qwen2.5-coder")

    def adapter_identity(self, folder: str) -> str:
        return "payments" if folder == ADAPTER else ""


class Local(Remote):
    adapters_by_name = False
    model_id = "default:4818ef40"

    def adapter_identity(self, folder: str) -> str:
        return "3f2a9c0e1b7d" if folder else ""  # a content hash: not a name a server knows


def server(backend) -> SimpleNamespace:
    return SimpleNamespace(pipeline=SimpleNamespace(backend=backend), model_state="ready", load_error=None,
                           requests=SimpleNamespace(last=lambda: []),
                           config=SimpleNamespace(completion=SimpleNamespace(enabled=True)),
                           adapter_for=lambda uri: ADAPTER if uri.startswith("file:///work/payments/") else "")


def test_a_remote_server_reports_the_name_it_serves_the_folders_adapter_under():
    ls = server(Remote())
    inside = status(ls, "file:///work/payments/api.py")
    assert inside["adapter"] == ADAPTER and inside["adapterServedAs"] == "payments"
    outside = status(ls, "file:///work/other/api.py")
    assert outside["adapter"] == "" and outside["adapterServedAs"] is None
    assert status(ls)["adapterServedAs"] is None


def test_a_local_backend_has_no_served_name():
    answer = status(server(Local()), "file:///work/payments/api.py")
    assert answer["adapter"] == ADAPTER and answer["adapterServedAs"] is None
