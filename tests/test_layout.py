"""The package shows the pipeline: the import-linter contracts hold, and break when a stage imports across them;
every stage package says what it does; no module outgrows about 400 lines."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "trialfinder"
STAGES = ("ingest", "history", "site", "mail", "export", "run", "standin", "cli")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
MAX_LINES = 400

needs_linter = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports with the contracts of pyproject.toml, over the trialfinder package found in `root`."""
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip


@needs_linter
def test_the_layer_contracts_hold() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout


@needs_linter
@pytest.mark.parametrize(("module", "planted", "broken"), [
    ("site/view.py", "from trialfinder.mail import mailer",
     "trialfinder.site is not allowed to import trialfinder.mail"),
    ("ingest/store.py", "from trialfinder.history import events",
     "trialfinder.ingest is not allowed to import trialfinder.history"),
    ("export/rows.py", "from trialfinder.ingest import client", "The outputs read only the database"),
    ("models.py", "from trialfinder.run import status", "trialfinder.models is not allowed to import trialfinder.run"),
    ("standin/world.py", "from trialfinder.ingest import normalize", "The stand-in API imports none of the stages"),
    ("run/job.py", "from trialfinder.standin import server",
     "trialfinder.run is not allowed to import trialfinder.standin"),
    ("webapp.py", "from trialfinder.standin import server", "Only trialfinder.cli imports the stand-in API"),
])  # fmt: skip
def test_a_contract_breaks_when_a_stage_imports_across_it(tmp_path: Path, module: str, planted: str,
                                                          broken: str) -> None:  # fmt: skip
    shutil.copytree(PACKAGE, tmp_path / "trialfinder", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "trialfinder" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{planted}  # planted by the test\n", encoding="utf-8")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout
    assert broken in " ".join(result.stdout.split())


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_package_says_what_it_does(stage: str) -> None:
    init = PACKAGE / stage / "__init__.py"
    docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
    assert docstring and len(docstring) > 80, f"{init} needs a docstring saying what the stage does"


def test_no_module_is_over_about_400_lines() -> None:
    long = {str(p.relative_to(REPO)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}  # fmt: skip
    assert not long, f"modules over {MAX_LINES} lines: {long}"
