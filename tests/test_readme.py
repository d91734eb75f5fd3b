"""The README's Python examples run as written."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int, capsys: pytest.CaptureFixture) -> None:
    exec(compile(BLOCKS[index], f"README.md example {index}", "exec"), {})
    assert capsys.readouterr().out.strip()


COMMANDS = [line.split("#")[0].strip()
            for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
            for line in block.splitlines()
            if line.startswith(("minicnn ", "python -m pytest", "python -m benchmarks",
                                "python -m minicnn"))]


def test_readme_commands_are_valid_command_lines() -> None:
    """Every ``minicnn`` command of the README parses (its experiment or model exists)."""
    import shlex

    from minicnn.cli import build_parser
    from minicnn.experiments import EXPERIMENTS, get_experiment
    from minicnn.models import MODELS

    minicnn_lines = [c for c in COMMANDS if c.startswith("minicnn ")]
    assert len(minicnn_lines) >= 6
    for line in minicnn_lines:
        args = build_parser().parse_args(shlex.split(line)[1:])
        if args.command in ("train", "compare"):
            get_experiment(args.experiment)
        elif args.command == "summary":
            assert args.model in MODELS or args.model in EXPERIMENTS, line


def test_readme_commands_say_how_long_they_take() -> None:
    text = README.read_text()
    timed = re.compile(r"#.*(\b\d+ s\b|minute|about|as long as)")
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            if line.startswith(("minicnn ", "python -m pytest")):
                assert timed.search(line), f"no duration given for: {line}"
