"""Workspace files and index on a real folder: privacy rules, ignore files, persistence, updates."""

import shutil
from pathlib import Path

import pytest

from codegen_lsp.context.index import WorkspaceIndex
from codegen_lsp.context.workspace_files import Limits, WorkspaceFiles

SAMPLES = Path(__file__).parent.parent / "data" / "outline"


@pytest.fixture
def workspace(tmp_path):
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "shapes.py").write_text('def area(w: float, h: float) -> float:\n    """Area of a box."""\n    return w * h\n')
    (root / "pkg" / "util.go").write_text((SAMPLES / "sample.go").read_text())
    (root / "web").mkdir()
    (root / "web" / "app.ts").write_text((SAMPLES / "sample.ts").read_text())
    (root / "build").mkdir()
    (root / "build" / "gen.py").write_text("def generated(): pass\n")
    (root / "web" / "node_modules").mkdir()
    (root / "web" / "node_modules" / "dep.js").write_text("function dep() {}\n")
    (root / ".gitignore").write_text("build/\n*.tmp.py\n")
    (root / "web" / ".gitignore").write_text("local_*.ts\n")
    (root / "web" / "local_notes.ts").write_text("export const x = 1;\n")
    (root / "scratch.tmp.py").write_text("def scratch(): pass\n")
    (root / ".env").write_text("API_KEY=sk-live-123\n")
    (root / "secrets.py").write_text("TOKEN = 'abc'\n")
    (root / "keys").mkdir()
    (root / "keys" / "deploy.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    (root / "private").mkdir()
    (root / "private" / "plan.py").write_text("def plan(): pass\n")
    (root / ".codegenignore").write_text("private/\n")
    (root / "blob.py").write_bytes(b"\x00\x01binary")
    (root / "README.md").write_text("# not a language we parse\n")
    return root


def test_walk_honours_gitignore_codegenignore_and_deny_patterns(workspace):
    files = WorkspaceFiles(workspace)
    walked = [files.relative(p) for p in files.walk()]
    assert walked == ["blob.py", "pkg/shapes.py", "pkg/util.go", "web/app.ts"]
    for secret in (".env", "secrets.py", "keys/deploy.pem", "private/plan.py"):
        assert files.is_private(workspace / secret), secret
    assert not files.is_private(workspace / "pkg" / "shapes.py")
    assert files.is_ignored("build/gen.py") and files.is_ignored("web/local_notes.ts")
    assert not files.is_ignored("pkg/local_notes.ts")  # web/.gitignore rules stay in web/


def test_size_and_count_caps(workspace):
    (workspace / "pkg" / "big.py").write_text("x = 1\n" * 1000)
    files = WorkspaceFiles(workspace, Limits(max_file_bytes=1000))
    assert not files.is_indexed(workspace / "pkg" / "big.py")
    assert files.is_indexed(workspace / "pkg" / "shapes.py")
    assert len(list(WorkspaceFiles(workspace, Limits(max_files=2)).walk())) == 2


def test_index_finds_definitions_with_signatures(workspace, tmp_path):
    index = WorkspaceIndex(WorkspaceFiles(workspace), tmp_path / "store")
    progress = []
    report = index.build(lambda done, total: progress.append((done, total)))
    assert progress[-1] == (4, 4) and report.files == 3 and report.skipped == 1 and report.parsed == 3
    [(path, symbol)] = index.definitions("area")
    assert (path, symbol.signature, symbol.doc) == ("pkg/shapes.py", "def area(w: float, h: float) -> float",
                                                    "Area of a box.")
    assert [p for p, _ in index.definitions("Circle")] == ["pkg/util.go", "web/app.ts"]
    assert index.definitions("generated") == [] and index.definitions("plan") == []
    index.close()


def test_restart_reads_outlines_back_instead_of_parsing(workspace, tmp_path):
    first = WorkspaceIndex(WorkspaceFiles(workspace), tmp_path / "store")
    assert first.build().parsed == 3
    first.close()
    (workspace / "pkg" / "shapes.py").write_text("def volume(w, h, d):\n    return w * h * d\n")
    second = WorkspaceIndex(WorkspaceFiles(workspace), tmp_path / "store")
    report = second.build()
    assert (report.parsed, report.from_store) == (1, 2)
    assert second.definitions("area") == [] and second.definitions("volume")[0][0] == "pkg/shapes.py"
    second.close()


def test_updates_from_disk_and_from_open_documents(workspace):
    index = WorkspaceIndex(WorkspaceFiles(workspace))
    index.build()
    new = workspace / "pkg" / "extra.py"
    new.write_text("class Extra:\n    pass\n")
    assert index.update_file(new).path == "pkg/extra.py" and index.definitions("Extra")
    new.unlink()
    assert index.update_file(new) is None and not index.definitions("Extra")
    index.update_text(workspace / "pkg" / "shapes.py", "def perimeter(w, h):\n    return 2 * (w + h)\n")
    assert index.definitions("perimeter") and not index.definitions("area")
    assert index.update_text(workspace / ".env", "def leaked(): pass\n") is None
    assert not index.definitions("leaked")


def test_a_corrupt_store_is_a_miss_not_an_error(workspace, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    (store / "cache.db").write_bytes(b"this is not sqlite" * 100)
    index = WorkspaceIndex(WorkspaceFiles(workspace), store)
    assert index.build().files == 3 and index.definitions("area")
    index.close()


def test_removed_files_leave_the_index_on_rebuild(workspace):
    index = WorkspaceIndex(WorkspaceFiles(workspace))
    index.build()
    shutil.rmtree(workspace / "web")
    index.build()
    assert index.paths() == ["pkg/shapes.py", "pkg/util.go"]


def test_build_can_be_cancelled(workspace):
    index = WorkspaceIndex(WorkspaceFiles(workspace))
    assert index.build(cancelled=lambda: True).cancelled
