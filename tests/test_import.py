"""``import minicnn`` needs neither PyTorch nor CuPy."""
import subprocess
import sys

BLOCKED = """
import sys
for name in ("torch", "torchvision", "cupy", "cupyx"):
    sys.modules[name] = None  # any import of them raises ImportError
import minicnn
import minicnn.nn.functional as F
x = minicnn.randn(2, 1, 5, 5, requires_grad=True)
F.max_pool2d(F.conv2d(x, minicnn.randn(3, 1, 3, 3)), 2).sum().backward()
assert x.grad.shape == (2, 1, 5, 5)
assert not minicnn.cuda.is_available()
assert "torch" not in sys.modules or sys.modules["torch"] is None
print("ok")
"""


def test_import_without_torch_and_cupy() -> None:
    out = subprocess.run([sys.executable, "-c", BLOCKED], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
