"""The benchmark suite (``python -m benchmarks``): the header (load average, GEMM floor), the
loaded-machine warning, the third lab's rows, the chain of small ops, ``--scaling``,
``--epoch`` and the memory method. Smoke runs only (``--quick``, tiny sizes): the figures are
not checked, the wiring and the arithmetic on them are."""
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import benchmarks  # noqa: E402  (the checkout's copy, not minicnn.benchmarks)
from benchmarks import cases, epoch, hygiene, op_cases, report  # noqa: E402
from benchmarks.__main__ import main  # noqa: E402

FASHION = Path("/usr/share/datasets/fashion-mnist")
# one thread each, as the rest of the test suite runs (tests/conftest.py)
THREADS = ["--threads", "1", "--torch-threads", "1"]
NEW_ROWS = ["LSTMNet", "DenseAutoencoder", "CifarCNN", "lstm LSTMNet", "chain"]


def test_imports_the_checkout() -> None:
    assert Path(benchmarks.__file__).resolve().parent == ROOT / "benchmarks"


@pytest.fixture(scope="module")
def loaded_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[str], Path]:
    """One quick run of the new rows on a machine faked to be loaded (load average 3 per
    CPU before the run); returns its results, its console lines and its --out folder."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("bench")
    argv = ["--quick", "--sections", "train,infer,ops", *THREADS, "--out", str(out)]
    for name in NEW_ROWS:
        argv += ["--filter", name]
    console = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(console):
        mp.setattr(hygiene, "load_average", lambda: 3.0 * hygiene.machine_cpus())
        res = main(argv)
    return res, console.getvalue().splitlines(), out


def test_loaded_machine_says_so_on_the_first_line(loaded_run) -> None:
    res, lines, out = loaded_run
    assert lines[0].startswith("WARNING: loaded machine: load average")
    assert lines[-2].startswith("WARNING: loaded machine")  # repeated before 'wrote ...'
    md = (out / "cpu.md").read_text().splitlines()
    assert md[0].startswith("**WARNING: loaded machine: load average")
    assert "not of record" in md[0]
    assert res["meta"]["warning"] == md[0].strip("*")


def test_header_records_the_load_and_the_gemm_floor(loaded_run) -> None:
    res, lines, out = loaded_run
    meta = res["meta"]
    assert meta["load_before"] == 3.0 * meta["machine_cpus"]
    assert meta["load_after"] >= 0 and meta["others_cpus"] >= 0
    floor = meta["floor"]
    square = floor["shapes"][0]
    assert square["name"].startswith("square") and square["m"] == square["k"] == square["n"]
    assert floor["gflops"] == max(square["gflops"].values()) > 0
    assert floor["way"] in ("numpy", "minicnn", "torch")
    names = [s["name"] for s in floor["shapes"]]
    assert "CNN2.conv2 W @ col" in names and "LSTMNet.lstm1 step h @ W_hh^T" in names
    assert all(g > 0 for s in floor["shapes"] for g in s["gflops"].values())
    md = (out / "cpu.md").read_text()
    assert "- load average (1 min) before / after:" in md
    assert "other processes used" in md
    assert f"- GEMM floor {floor['gflops']:.1f} GFLOP/s" in md
    assert "## The GEMM floor" in md and "| CNN2.conv2 W @ col | 64 x 288 x 12544 |" in md
    assert any(line.startswith("GEMM floor ") for line in lines[:5])
    assert json.loads((out / "cpu.json").read_text())["meta"]["floor"] == floor
    assert (out / "cpu.png").read_bytes()[:4] == b"\x89PNG"


def test_the_third_labs_rows_with_their_share_of_the_floor(loaded_run) -> None:
    res, _, out = loaded_run
    floor = res["meta"]["floor"]["gflops"]
    for section in ("train", "infer"):
        rows = {r["name"]: r for r in res[section]}
        assert set(rows) == {"LSTMNet", "DenseAutoencoder", "CifarCNN"}, section
        for r in rows.values():
            for engine in ("minicnn", "torch"):
                assert r[f"gflops_{engine}"] == pytest.approx(r["gflop"] / r[engine]["median"])
                assert r[f"floor_share_{engine}"] == pytest.approx(r[f"gflops_{engine}"] / floor)
            assert r["ratio"] == pytest.approx(r["minicnn"]["median"] / r["torch"]["median"])
    assert {r["name"]: r["batch"] for r in res["train"]} == {
        "LSTMNet": 128, "DenseAutoencoder": 256, "CifarCNN": 32}
    ops = {r["name"]: r for r in res["ops"]}
    assert {"lstm LSTMNet.lstm1", "lstm LSTMNet.lstm2"} <= set(ops)
    assert ops["lstm LSTMNet.lstm1"]["gflop"] > 0 and ops["lstm LSTMNet.lstm1"]["shape"] == [
        128, 28, 28]
    md = (out / "cpu.md").read_text()
    assert "share of floor (m / t)" in md
    assert "| LSTMNet | 128 |" in md and "| DenseAutoencoder | 256 |" in md
    assert "| lstm LSTMNet.lstm2 | 128x28x128 |" in md


def test_chain_row_times_a_thousand_ops(loaded_run) -> None:
    res, lines, out = loaded_run
    chain = next(r for r in res["ops"] if r["op"] == "chain")
    assert chain["ops"] == op_cases.CHAIN_LENGTH == 1000 and chain["shape"] == [16, 16]
    for engine in ("minicnn", "torch"):
        assert chain[f"us_per_op_{engine}"] == pytest.approx(chain[engine]["median"] / 1e3 * 1e6)
    assert math.isfinite(chain["ratio"]) and chain["ratio"] > 0
    assert any("us per op" in line and "chain" in line for line in lines)
    assert "us per op |" in (out / "cpu.md").read_text()


def test_chain_computes_the_same_thousand_ops_in_both_engines() -> None:
    from benchmarks.engines import make_engine

    spec = next(s for s in op_cases.OPS if s.op == "chain")
    values = {}
    for name in ("minicnn", "torch"):
        engine = make_engine(name)
        rng = np.random.default_rng(0)

        def arr(*shape: int, scale: float = 1.0, rng=rng) -> np.ndarray:
            return (rng.standard_normal(shape) * scale).astype(np.float32)

        x0 = arr(*spec.shape)
        x = engine.tensor(x0, requires_grad=True)
        forward = op_cases.chain_forward(engine, spec, x, arr)
        values[name] = engine.to_numpy(forward())
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(spec.shape).astype(np.float32)
    w = (1 + rng.standard_normal(spec.shape) * 0.1).astype(np.float32)
    b = (rng.standard_normal(spec.shape) * 0.1).astype(np.float32)
    y = x0.astype(np.float64)
    for k in range(spec.params["length"]):
        y = y * w if k % 3 == 0 else y + b if k % 3 == 1 else np.tanh(y)
    for name, v in values.items():
        np.testing.assert_allclose(v, y, rtol=1e-4, atol=1e-5, err_msg=name)


def test_quiet_run_has_no_warning(loaded_run) -> None:
    res, _, _ = loaded_run
    quiet = {**res, "meta": {**res["meta"], "load_before": 0.1, "others_cpus": 0.0}}
    first = report.markdown(quiet).splitlines()[0]
    assert first == "# minicnn vs PyTorch on cpu"


@pytest.mark.parametrize(("before", "others", "expected"), [
    (0.9, 0.0, None),  # 0.45 per CPU on 2 CPUs: quiet
    (1.1, 0.0, "load average 1.10 before the run"),
    (0.2, 1.3, "other processes used 1.30 CPUs on average during it"),
    (float("nan"), None, None),  # no load average on this system, nothing known
])
def test_load_warning_threshold(before, others, expected) -> None:
    text = hygiene.warning({"load_before": before, "others_cpus": others, "machine_cpus": 2})
    if expected is None:
        assert text is None
    else:
        assert text.startswith("WARNING: loaded machine: ") and expected in text
        assert "above 1.00 (0.5 per CPU, 2 CPUs)" in text


def test_others_cpus_subtracts_this_process() -> None:
    start = hygiene.CpuSnapshot(wall=0.0, machine=100.0, own=10.0)
    end = hygiene.CpuSnapshot(wall=10.0, machine=125.0, own=20.0)  # 25 s busy, 10 s ours
    assert hygiene.others_cpus(start, end) == pytest.approx(1.5)
    assert hygiene.others_cpus(hygiene.CpuSnapshot(0.0, None, 0.0), end) is None


def test_lstm_flops_count_the_lstm_gemms() -> None:
    """LSTMNet's analytic FLOPs, written out by hand: two LSTM layers and two dense layers."""
    n, t = 4, 28
    l1 = 2 * n * t * 4 * 128 * (28 + 128)  # forward GEMMs of LSTM(28, 128) over 28 steps
    l2 = 2 * n * t * 4 * 64 * (128 + 64)
    dense = 2 * n * 64 * 128 + 2 * n * 128 * 10
    spec = cases.MODEL_BY_NAME["LSTMNet"]
    assert cases.model_flops(spec, n, training=False) == l1 + l2 + dense
    # training: weight gradients (x2); input gradients of layer 2 and the dense layers; the
    # recurrent gradient g W_hh for steps 2..T; layer 1's input (the images) needs none
    rec1, rec2 = 2 * n * (t - 1) * 4 * 128 * 128, 2 * n * (t - 1) * 4 * 64 * 64
    x2 = 2 * n * t * 4 * 64 * 128
    assert cases.model_flops(spec, n, training=True) == (
        2 * (l1 + l2) + rec1 + rec2 + x2 + 3 * dense)


def test_scaling_sweeps_both_models_and_plots(tmp_path: Path) -> None:
    res = main(["--quick", "--sections", "none", "--scaling", "--scaling-batches", "1,3",
                "--scaling-sizes", "8,12", *THREADS, "--out", str(tmp_path)])
    cnn2, crack = res["scaling"]["cnn2_batch"], res["scaling"]["crack_size"]
    assert [r["value"] for r in cnn2] == [1, 3] and [r["batch"] for r in cnn2] == [1, 3]
    assert [r["value"] for r in crack] == [8, 12] and [r["input"] for r in crack] == [
        [1, 8, 8], [1, 12, 12]]
    for r in cnn2 + crack:
        for engine in ("minicnn", "torch"):
            assert r[f"ms_per_image_{engine}"] == pytest.approx(
                r[engine]["median"] / r["batch"] * 1e3)
        assert r["ratio"] == pytest.approx(r["ms_per_image_minicnn"] / r["ms_per_image_torch"])
    assert (tmp_path / "scaling.png").read_bytes()[:4] == b"\x89PNG"
    md = (tmp_path / "cpu.md").read_text()
    assert "## How the cost grows" in md and "### CrackCNN, image size" in md
    assert "| 12 | 16 |" in md
    assert json.loads((tmp_path / "cpu.json").read_text())["scaling"] == res["scaling"]


@pytest.mark.parametrize(("argv", "option"), [
    (["--scaling-sizes", "2,64"], "--scaling-sizes"),
    (["--scaling-batches", "0"], "--scaling-batches"),
    (["--scaling-batches", "a,b"], "--scaling-batches"),
    (["--epoch-limit", "0"], "--epoch-limit"),
])
def test_bad_scaling_and_epoch_options_name_the_option(argv, option, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert option in capsys.readouterr().err


def test_nothing_to_run_is_refused() -> None:
    with pytest.raises(SystemExit) as info:
        main(["--sections", "none"])
    assert "nothing to run" in str(info.value.code)


needs_fashion = pytest.mark.skipif(not (FASHION / "train-images-idx3-ubyte.gz").exists(),
                                   reason=f"Fashion-MNIST not installed in {FASHION}")


@needs_fashion
def test_epoch_each_engine_with_its_own_loader(tmp_path: Path) -> None:
    res = main(["--quick", "--sections", "none", "--epoch", "--epoch-limit", "130",
                "--data", str(FASHION), *THREADS, "--out", str(tmp_path)])
    ep = res["epoch"]
    assert [r["engine"] for r in ep["rows"]] == ["minicnn", "torch"]
    for r in ep["rows"]:
        assert r["images"] == 130 and r["batches"] == 3  # 64 + 64 + 2
        assert 1.5 < r["train_loss"] < 3.5 and 0 <= r["train_acc"] <= 1
        assert 0 < r["read_s"] < r["wall_s"]
    assert ep["ratio"] == pytest.approx(ep["rows"][0]["wall_s"] / ep["rows"][1]["wall_s"])
    md = (tmp_path / "cpu.md").read_text()
    assert f"Wall-time ratio minicnn / PyTorch: {ep['ratio']:.2f}" in md
    assert (tmp_path / "cpu.png").read_bytes()[:4] == b"\x89PNG"


@needs_fashion
def test_epoch_loaders_are_each_frameworks_own_on_the_same_data(tmp_path: Path) -> None:
    import torch

    import minicnn.data

    epoch.torchvision_layout(str(FASHION), tmp_path)
    ours = epoch.minicnn_loader(tmp_path, 100, seed=0)
    theirs = epoch.torch_loader(tmp_path, 100, seed=0)
    assert isinstance(ours, minicnn.data.DataLoader)
    assert isinstance(theirs, torch.utils.data.DataLoader)
    for i in (0, 99):  # the same files, the same normalisation
        np.testing.assert_allclose(np.asarray(ours.dataset[i][0]),
                                   theirs.dataset[i][0].numpy(), rtol=0, atol=1e-6)
        assert ours.dataset[i][1] == theirs.dataset[i][1]
    x, y = next(iter(theirs))
    assert tuple(x.shape) == (64, 1, 28, 28) and x.dtype == torch.float32


@pytest.mark.parametrize("engine", ["minicnn", "torch"])
def test_memory_counts_parameters_gradients_and_adam_state(engine: str) -> None:
    """The autoencoder's 7.4 M parameters, their gradients and Adam's two moments are four
    float32 copies (113 MiB): the peak must hold them all, even though the warm-up built
    arrays of the same sizes and freed them before the baseline."""
    from benchmarks.memory import measure_in_subprocess

    params = sum(v.size for v in cases.reference_weights(
        cases.MODEL_BY_NAME["DenseAutoencoder"]).values())
    assert params == 7_411_776
    got = measure_in_subprocess(engine, "DenseAutoencoder", 1, 1, 1, "cpu")
    assert "error" not in got, got.get("error")
    assert got["peak_mib"] >= 4 * params * 4 / 2**20
