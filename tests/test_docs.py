"""The learner's pages in ``docs/`` stay true of the code.

- every ```python block runs: a page's blocks in order, in one namespace (a page is one
  session), in whatever kernel mode the suite runs in, and leaves the kernel mode as it was;
- every shell command is a valid command line (``python -m pytest`` paths and test names exist,
  ``MINICNN_KERNELS`` values are modes, ``minicnn`` / ``python -m benchmarks`` options parse);
  a block fenced ```bash skip: REASON is skipped with that reason;
- every path (``minicnn/...``, ``tests/...``, ``benchmarks/...``, ``reference/...``,
  ``docs/...``), every ``file:function`` / ``file::test`` and every ``minicnn.dotted.name``
  named in a page exists, and every relative link resolves;
- every ```docstring block (first line ``file`` or ``file:function``) quotes lines that are in
  that docstring, and every ```source block lines of that code (its ``# NOTE:`` comments, say),
  whitespace and ``#`` aside, so the formulas and notes the pages show are the code's.
"""
from __future__ import annotations

import ast
import importlib
import re
import shlex
import textwrap
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
# a fenced block, indented or not (in a list item): indent, language, rest of info, body
FENCE = re.compile(r"^([ \t]*)```(\S*)([^\n]*)\n(.*?)^\1```[ \t]*$", re.M | re.S)
# a path in the repository, with an optional ":qualname" (a def, class or assignment) or
# "::test_name"
REF = re.compile(r"(?<![\w/.-])((?:minicnn|tests|benchmarks|reference|docs)/[\w./-]*)"
                 r"(?:(::?)([A-Za-z_][\w.]*))?")
DOTTED = re.compile(r"(?<![\w.])minicnn(?:\.[A-Za-z_]\w*)+")
INLINE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
OPS = ("conv2d", "max_pool2d", "avg_pool2d", "batch_norm", "relu", "linear", "dropout",
       "cross_entropy", "LSTM")


def fences(page: Path) -> list[tuple[str, str, str]]:
    """``(language, rest of the info string, body)`` of every fenced block of ``page``, the
    body dedented."""
    return [(lang, info.strip(), textwrap.dedent(body))
            for _, lang, info, body in FENCE.findall(page.read_text())]


def blocks(page: Path, language: str) -> list[str]:
    return [body for lang, _, body in fences(page) if lang == language]


def prose(page: Path) -> str:
    """The page without its fenced blocks."""
    return FENCE.sub("", page.read_text())


def test_the_pages_exist() -> None:
    names = {p.name for p in PAGES}
    assert {"README.md", "tour.md", "reference-then-fast.md", "write-your-own-op.md"} <= names


# ------------------------------------------------------------------------------------------
# Python blocks
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "python")],
                         ids=lambda p: p.name)
def test_python_blocks_run(page: Path, capsys: pytest.CaptureFixture) -> None:
    from minicnn import kernels
    from minicnn.kernels import conv_cpu

    mode, chunk_bytes = kernels.mode(), conv_cpu.CHUNK_BYTES
    namespace: dict[str, Any] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for i, code in enumerate(blocks(page, "python"), 1):
        exec(compile(code, f"docs/{page.name}, python block {i}", "exec"), namespace)
    assert capsys.readouterr().out.strip(), f"docs/{page.name} printed nothing"
    assert kernels.mode() == mode, f"docs/{page.name} left the kernel mode {kernels.mode()!r}"
    assert conv_cpu.CHUNK_BYTES == chunk_bytes, f"docs/{page.name} left CHUNK_BYTES changed"


# ------------------------------------------------------------------------------------------
# Shell blocks
# ------------------------------------------------------------------------------------------

def shell_blocks() -> list[Any]:
    out = []
    for page in PAGES:
        for i, (lang, info, body) in enumerate(fences(page)):
            if lang in ("bash", "sh", "shell"):
                out.append(pytest.param(page, info, body, id=f"{page.name}-{i}"))
    return out


def commands(body: str) -> list[str]:
    """The command lines of a shell block: comments dropped, ``\\`` continuations joined."""
    lines, current = [], ""
    for raw in body.splitlines():
        line = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            lines.append(current.strip())
        current = ""
    return lines


def _check_pytest_args(args: list[str], line: str) -> None:
    takes_value = {"-k", "-m", "-n", "-p", "--maxfail", "--durations", "-o"}
    skip_next = False
    targets = 0
    for arg in args:
        if skip_next:
            skip_next = False
            continue
        if arg in takes_value:
            skip_next = True
            continue
        if arg.startswith("-"):
            continue
        path, _, test = arg.partition("::")
        assert (ROOT / path).exists(), f"{line}: no {path}"
        if test:
            assert find(ROOT / path, test.split("[")[0].replace("::", ".")) is not None, \
                f"{line}: {path} has no {test}"
        targets += 1
    assert targets, f"{line}: name the tests to run"


def check_command(line: str) -> None:
    """AssertionError unless ``line`` is a command line this test knows and it is valid."""
    words = shlex.split(line)
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
        name, value = words.pop(0).split("=", 1)
        if name == "MINICNN_KERNELS":
            from minicnn.kernels import MODES

            assert value in MODES, f"{line}: MINICNN_KERNELS={value} is not one of {MODES}"
    assert words, f"{line}: nothing to run"
    if words[:3] == ["python", "-m", "pytest"]:
        _check_pytest_args(words[3:], line)
    elif words[0] == "minicnn":
        from minicnn.cli import build_parser

        build_parser().parse_args(words[1:])
    elif words[:3] in (["python", "-m", "benchmarks"], ["python", "-m", "minicnn.benchmarks"]):
        from minicnn.benchmarks.__main__ import parse_args

        parse_args(words[3:])
    else:
        raise AssertionError(f"{line}: not a command tests/test_docs.py can check (fence the "
                             "block as ```bash skip: REASON if it cannot be checked)")


@pytest.mark.parametrize("page, info, body", shell_blocks())
def test_shell_commands_are_valid(page: Path, info: str, body: str) -> None:
    if info.startswith("skip:"):
        reason = info[len("skip:"):].strip()
        assert reason, f"docs/{page.name}: a skipped shell block needs a reason"
        pytest.skip(f"docs/{page.name}: {reason}")
    lines = commands(body)
    assert lines, f"docs/{page.name}: an empty shell block"
    for line in lines:
        check_command(line)


# ------------------------------------------------------------------------------------------
# Paths, file:function, dotted names, links, docstring quotations
# ------------------------------------------------------------------------------------------

@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _defines(node: ast.AST, name: str) -> bool:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name == name
    if isinstance(node, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    if isinstance(node, ast.AnnAssign):
        return isinstance(node.target, ast.Name) and node.target.id == name
    return False


def find(path: Path, qualname: str) -> ast.AST | None:
    """The node defining ``qualname`` (``f``, ``Class``, ``Class.method``) in ``path``."""
    node: ast.AST = _tree(path)
    for part in qualname.split("."):
        node = next((n for n in ast.iter_child_nodes(node) if _defines(n, part)), None)
        if node is None:
            return None
    return node


def references(page: Path) -> list[tuple[str, str]]:
    """``(path, qualname or '')`` of every path reference in ``page`` (prose and code)."""
    return [(path.rstrip("."), name.rstrip("."))
            for path, _, name in REF.findall(page.read_text())]


def _resolve_dotted(name: str) -> Any:
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        for attr in parts[k:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(name)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_named_paths_and_functions_exist(page: Path) -> None:
    missing = []
    for path, name in references(page):
        target = ROOT / path
        if not target.exists():
            missing.append(path)
        elif name and (target.suffix != ".py" or find(target, name) is None):
            missing.append(f"{path}:{name}")
    assert not missing, f"docs/{page.name} names what does not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_named_dotted_names_resolve(page: Path) -> None:
    missing = []
    for span in INLINE.findall(prose(page)):
        for name in DOTTED.findall(span):
            try:
                _resolve_dotted(name)
            except (ImportError, AttributeError):
                missing.append(name)
    assert not missing, f"docs/{page.name} names what does not exist: {missing}"


@pytest.mark.parametrize("page", PAGES + [ROOT / "README.md"], ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    broken = [t for t in LINK.findall(prose(page))
              if "://" not in t and not (page.parent / t).exists()]
    assert not broken, f"{page.name} links to what does not exist: {broken}"


def _words(text: str) -> str:
    return " ".join(text.split())


def quotes() -> list[Any]:
    out = []
    for page in PAGES:
        for kind in ("docstring", "source"):
            for i, body in enumerate(blocks(page, kind)):
                out.append(pytest.param(page, kind, body, id=f"{page.name}-{kind}-{i}"))
    return out


@pytest.mark.parametrize("page, kind, body", quotes())
def test_quotes_are_in_the_code(page: Path, kind: str, body: str) -> None:
    where, *lines = body.splitlines()
    path, _, name = where.strip().partition(":")
    node = _tree(ROOT / path) if not name else find(ROOT / path, name)
    assert node is not None, f"docs/{page.name}: no {where}"
    if kind == "docstring":
        text = ast.get_docstring(node) or ""
    else:
        text = ast.get_source_segment((ROOT / path).read_text(), node) if name else \
            (ROOT / path).read_text()
    assert text, f"docs/{page.name}: {where} has no {kind}"
    quoted = [line for line in lines if line.strip()]
    assert quoted, f"docs/{page.name}: nothing quoted from {where}"
    for line in quoted:
        assert _words(line.replace("#", " ")) in _words(text.replace("#", " ")), \
            f"docs/{page.name}: {line.strip()!r} is not in the {kind} of {where}"


def test_quotes_exist() -> None:
    assert len(quotes()) >= 10


# ------------------------------------------------------------------------------------------
# The index
# ------------------------------------------------------------------------------------------

def test_index_links_every_page_and_finds_every_op() -> None:
    index = (DOCS / "README.md").read_text()
    for page in PAGES:
        if page.name != "README.md":
            assert f"]({page.name})" in index, f"docs/README.md does not link {page.name}"
    rows = [line for line in index.splitlines() if line.startswith("| ")]
    first_cells = " ".join(row.split("|")[1] for row in rows)
    for op in OPS:
        assert f"`{op}`" in first_cells, f"docs/README.md has no table row for {op}"


def test_readme_points_to_the_tour() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "## Learning the internals" in readme
    assert "](docs/tour.md)" in readme and "](docs/README.md)" in readme
