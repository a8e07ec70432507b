"""The wheel holds every package: pyproject.toml lists packages by hand (search/, evaluators/ and
dashboard/ are mapped into the explorer namespace), so a new subpackage must be added there, or a
non-editable install lacks it while the editable one used in development works."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_in_pyproject():
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setup["packages"])
    mapped = {name: ROOT / folder for name, folder in setup["package-dir"].items()}
    found = set()
    for name, folder in mapped.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder)
            sub = ".".join((name, *rel.parts)) if rel.parts else name
            if "__pycache__" not in rel.parts:
                found.add(sub)
    assert found - listed == set(), f"add to [tool.setuptools] packages and package-dir: {sorted(found - listed)}"
    assert listed <= set(mapped), f"packages without a package-dir entry: {sorted(listed - set(mapped))}"
