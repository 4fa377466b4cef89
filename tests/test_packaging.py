"""pyproject.toml and environment.yml list the same top-level dependencies; the CLI entry
point, the README's two commands and .ci/run are wired."""

from __future__ import annotations

import re
import tomllib

import yaml

# conda-forge names that differ from PyPI names
CONDA_NAMES = {"python-duckdb": "duckdb"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject(repo):
    py = tomllib.loads((repo / "pyproject.toml").read_text())
    deps = {_name(d) for d in py["project"]["dependencies"]}
    env = yaml.safe_load((repo / "environment.yml").read_text())
    conda, pip = set(), set()
    for d in env["dependencies"]:
        if isinstance(d, dict):
            pip |= {_name(x) for x in d.get("pip", []) if not x.startswith("-e")}
        else:
            n = _name(d)
            conda.add(CONDA_NAMES.get(n, n))
    conda -= {"python", "pip"}
    assert conda | pip == deps, f"only in pyproject: {deps - conda - pip}; only in environment.yml: {conda | pip - deps}"


def test_readme_and_ci_use_the_two_commands(repo):
    readme = (repo / "README.md").read_text()
    first = readme[: readme.index("##")]
    assert "make report" in first and "make test" in first
    assert "make test" in (repo / ".ci" / "run").read_text()
    mk = (repo / "Makefile").read_text()
    assert re.search(r"^report:", mk, re.M) and re.search(r"^test:", mk, re.M)


def test_console_script_declared(repo):
    py = tomllib.loads((repo / "pyproject.toml").read_text())
    assert py["project"]["scripts"]["aifinops"] == "aifinops.cli:main"
