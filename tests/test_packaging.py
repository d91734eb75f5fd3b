"""The installed package: every package folder is listed in pyproject.toml, and a non-editable
install into a fresh virtual environment runs ``minicnn bench``, ``python -m
minicnn.benchmarks`` and ``minicnn compare`` from a directory outside the checkout."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SKIP = shutil.ignore_patterns(".git", ".venv", "runs", "results", "build", "__pycache__",
                              "*.egg-info", ".pytest_cache", ".hypothesis", ".ruff_cache")


def test_pyproject_lists_every_package_folder() -> None:
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    dirs = tool["package-dir"]
    assert dirs == {"minicnn": "minicnn", "minicnn.reference": "reference",
                    "minicnn.benchmarks": "benchmarks"}
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "minicnn").rglob("__init__.py")}
    found |= {"minicnn.reference", "minicnn.benchmarks"}
    assert sorted(tool["packages"]) == sorted(found)


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 600
         ) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, f"{argv}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Path]:
    """A fresh venv whose dependencies are this environment's installed packages (a .pth file
    adds this environment's site-packages after the venv's own, where .pth files of that
    folder, such as an editable minicnn's, are not run), with a copy of the checkout installed
    into it non-editable. Returns (venv bin folder, environment, a folder outside any
    checkout)."""
    base = tmp_path_factory.mktemp("install")
    source, venv, elsewhere = base / "source", base / "venv", base / "elsewhere"
    shutil.copytree(ROOT, source, ignore=SKIP)
    elsewhere.mkdir()
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], base, dict(os.environ))
    bin_dir = venv / "bin"
    site = Path(_run([str(bin_dir / "python"), "-c", "import sysconfig; "
                      "print(sysconfig.get_paths()['purelib'])"], base,
                     dict(os.environ)).stdout.strip())
    here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "deps_from_test_env.pth").write_text("\n".join(sorted(here)) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(MINICNN_OFFLINE="1", MINICNN_CACHE=str(base / "cache"),
               PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}")
    _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--no-deps",
          "--no-build-isolation", "--no-index", str(source)], elsewhere, env)
    return bin_dir, env, elsewhere


@pytest.mark.slow
def test_the_installed_package_is_the_one_imported(installed) -> None:
    bin_dir, env, elsewhere = installed
    code = ("import importlib.util as u, minicnn, minicnn.reference.models, minicnn.benchmarks;"
            "print(minicnn.__file__); print(minicnn.reference.models.__file__);"
            "print(u.find_spec('reference'), u.find_spec('benchmarks'))")
    lines = _run([str(bin_dir / "python"), "-c", code], elsewhere, env).stdout.splitlines()
    venv = bin_dir.parent
    assert Path(lines[0]).is_relative_to(venv) and "site-packages" in lines[0]
    assert Path(lines[1]).is_relative_to(venv)
    assert lines[1].endswith("minicnn/reference/models.py")
    assert lines[2] == "None None"  # no generic top-level names in site-packages
    assert not Path(lines[0]).is_relative_to(ROOT)


@pytest.mark.slow
def test_bench_runs_from_outside_the_checkout(installed) -> None:
    bin_dir, env, elsewhere = installed
    out = _run([str(bin_dir / "minicnn"), "bench", "--quick", "--sections", "train",
                "--filter", "LogisticRegression", "--seconds", "0.05"], elsewhere, env).stdout
    assert "LogisticRegression" in out and "ratio" in out
    # the memory section runs each engine in a child process, found by the installed name
    out = _run([str(bin_dir / "python"), "-m", "minicnn.benchmarks", "--quick", "--sections",
                "memory", "--filter", "LogisticRegression", "--memory-steps", "1"],
               elsewhere, env).stdout
    assert "LogisticRegression" in out and "error" not in out


@pytest.mark.slow
def test_compare_runs_from_outside_the_checkout(installed) -> None:
    bin_dir, env, elsewhere = installed
    out = _run([str(bin_dir / "minicnn"), "compare", "mnist-logreg", "--data",
                str(SHARED / "mnist"), "--limit", "200", "--epochs", "1", "--quiet"],
               elsewhere, env).stdout
    assert "mean test accuracy over 1 seed(s)" in out
    runs = list((elsewhere / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "report.md").is_file()


def test_no_machine_path_in_the_committed_records() -> None:
    """Reports store paths as given or relative: none of this machine's absolute folders."""
    texts = [p for folder in ("results", "benchmarks/results") for p in (ROOT / folder).rglob("*")
             if p.suffix in (".json", ".md", ".log")]
    assert texts
    for path in texts:
        text = path.read_text()
        for marker in ("/work/", "/root/", "/home/", "/tmp/", "site-packages"):
            assert marker not in text, f"{path.relative_to(ROOT)} holds {marker}"
