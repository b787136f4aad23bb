"""Paths a client names resolve inside the workspace: `../`, an absolute path elsewhere and a
symlink out are refused before anything is written (generators/paths.py)."""

from __future__ import annotations

import pytest

from codegen_lsp.config import GeneratorsConfig
from codegen_lsp.generators.paths import OutputPathError, folder_inside, safe_output_path
from codegen_lsp.generators.tasks import DiagramJob, ImageJob, diagram_graph, image_work


@pytest.fixture()
def tree(tmp_path):
    """Two workspace folders, an outside folder, and links to it from inside the first."""
    first, second, outside = (tmp_path / name for name in ("first", "second", "outside"))
    for folder in (first / "pkg", second, outside):
        folder.mkdir(parents=True)
    (outside / "stolen.py").write_text("def secret():\n    pass\n")
    (first / "escape").symlink_to(outside, target_is_directory=True)
    return first, second, outside


def test_a_folder_inside_any_workspace_folder_is_accepted(tree):
    first, second, _ = tree
    assert folder_inside([first, second], first) == first
    assert folder_inside([first, second], str(second)) == second
    assert folder_inside([first, second], "pkg") == first / "pkg"  # relative: from the first folder
    assert folder_inside([first, second], first / "pkg" / ".." / "pkg") == first / "pkg"


@pytest.mark.parametrize("name", ["..", "../outside", "ABSOLUTE", "escape", "pkg/../../outside", "~"])
def test_a_folder_outside_every_workspace_folder_is_refused(tree, name):
    first, second, outside = tree
    name = str(outside) if name == "ABSOLUTE" else name
    with pytest.raises(OutputPathError, match="outside the workspace folders"):
        folder_inside([first, second], name)


def test_no_workspace_folder_means_nowhere_to_write(tree):
    with pytest.raises(OutputPathError, match="no workspace folder"):
        folder_inside([], tree[0])


@pytest.mark.parametrize("name", ["../outside/x", "ABSOLUTE", "escape/x"])
def test_output_files_stay_in_their_root(tree, name):
    first, _, outside = tree
    name = str(outside / "x") if name == "ABSOLUTE" else name
    with pytest.raises(OutputPathError, match="outside|absolute"):
        safe_output_path(first, name, overwrite=True)


@pytest.mark.parametrize("under", ["../outside", "ABSOLUTE", "escape"])
def test_a_diagram_reads_only_under_the_root(tree, under):
    first, _, outside = tree
    under = str(outside) if under == "ABSOLUTE" else under
    with pytest.raises(OutputPathError):
        diagram_graph(first, DiagramJob("modules", under=under))


@pytest.mark.parametrize("name", ["../../../outside/x", "ABSOLUTE", "../../escape/x"])
def test_an_image_name_leading_out_is_refused_before_the_model_loads(tree, name):
    first, _, outside = tree
    name = str(outside / "x") if name == "ABSOLUTE" else name
    config = GeneratorsConfig(image_model=str(first / "no-such-model"), docs_folder="..")
    job = ImageJob.from_options("a cube", {"name": name}, GeneratorsConfig())
    with pytest.raises(OutputPathError):
        image_work(job, runner=None, config=config, root=first)  # docs folder ".." is refused too
    config.docs_folder = "docs"
    with pytest.raises(OutputPathError):
        image_work(job, runner=None, config=config, root=first)
    assert list(outside.iterdir()) == [outside / "stolen.py"]
