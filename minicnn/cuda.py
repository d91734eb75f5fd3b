"""``minicnn.cuda``: is a CUDA device (CuPy with a GPU) available."""
from minicnn import backend


def is_available() -> bool:
    """True when CuPy is installed and sees a GPU (or a test stand-in device is registered)."""
    return backend.cuda_available()
