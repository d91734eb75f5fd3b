"""The course's models, with the same classes and parameter names as ``reference/models.py``."""
from minicnn.models.course import (
    CNN1,
    CNN2,
    MLP,
    CifarCNN,
    CrackCNN,
    DenseAutoencoder,
    KerasCNN,
    LogisticRegression,
    LSTMNet,
)

MODELS = {
    "logreg": LogisticRegression,
    "cnn1": CNN1,
    "cnn2": CNN2,
    "mlp": MLP,
    "keras_cnn": KerasCNN,
    "crack_cnn": CrackCNN,
    "crack_cnn_bn": lambda: CrackCNN(batch_norm=True),
    "crack_cnn_dropout": lambda: CrackCNN(dropout=0.5),
    "cifar_cnn": CifarCNN,
    "lstm_net": LSTMNet,
    "autoencoder": DenseAutoencoder,
    "autoencoder_784": lambda: DenseAutoencoder(in_features=784),
}

__all__ = ["CNN1", "CNN2", "MLP", "MODELS", "CifarCNN", "CrackCNN", "DenseAutoencoder",
           "KerasCNN", "LSTMNet", "LogisticRegression"]
