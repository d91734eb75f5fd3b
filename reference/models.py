"""The course's models in PyTorch: ``minicnn/models/course.py`` with ``minicnn`` for ``torch``:
the same classes, layers and parameter names, so weights copy across by ``state_dict``."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class LogisticRegression(nn.Module):
    """Multinomial logistic regression on flattened 28x28 digits: Linear 784 -> 10 (7,850)."""

    def __init__(self, in_features: int = 784, num_classes: int = 10) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.flatten(x, 1))


class CNN1(nn.Module):
    """conv 1->32 3x3 pad 1, ReLU, max-pool 2, Linear 6272 -> 10 (63,050 parameters)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(32 * 14 * 14, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))  # (N, 32, 14, 14)
        return self.fc(torch.flatten(x, 1))


class CNN2(nn.Module):
    """conv 1->32, pool, conv 32->64, pool (3x3 pad 1, ReLU), Linear 3136 -> 128, ReLU,
    Linear 128 -> 10 (421,642 parameters)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))  # (N, 32, 14, 14)
        x = self.pool(F.relu(self.conv2(x)))  # (N, 64, 7, 7)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


class MLP(nn.Module):
    """784 -> 512 -> 256 -> 128 -> 10 with ReLU (567,434 parameters)."""

    def __init__(self, sizes: tuple[int, ...] = (784, 512, 256, 128, 10)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(torch.flatten(x, 1))


class KerasCNN(nn.Module):
    """The Keras-style MNIST CNN: conv 32 3x3 + BatchNorm + ReLU + pool, conv 64 3x3 + BatchNorm
    + ReLU + pool (valid padding: 28 -> 26 -> 13 -> 11 -> 5), dense 128, dropout 0.5, dense 10
    (225,226 parameters)."""

    def __init__(self, num_classes: int = 10, p: float = 0.5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.bn2 = nn.BatchNorm2d(64)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(64 * 5 * 5, 128)
        self.dropout = nn.Dropout(p)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.bn1(self.conv1(x))))  # (N, 32, 13, 13)
        x = self.pool(F.relu(self.bn2(self.conv2(x))))  # (N, 64, 5, 5)
        x = self.dropout(F.relu(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)


class CrackCNN(nn.Module):
    """The crack detector on 1x227x227: conv 1->16 3x3 pad 1, [BatchNorm], ReLU, pool 2;
    conv 16->32 3x3 pad 1, [BatchNorm], ReLU, pool 2 (227 -> 113 -> 56); [Dropout];
    dense 100352 -> 64, ReLU, dense 64 -> 1 logit (6,427,457 parameters; 6,427,553 with
    BatchNorm). Train it with BCEWithLogitsLoss."""

    def __init__(self, batch_norm: bool = False, dropout: float = 0.0, size: int = 227) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(16) if batch_norm else nn.Identity()
        self.bn2 = nn.BatchNorm2d(32) if batch_norm else nn.Identity()
        self.pool = nn.MaxPool2d(2)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        side = size // 2 // 2
        self.fc1 = nn.Linear(32 * side * side, 64)
        self.fc2 = nn.Linear(64, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.bn1(self.conv1(x))))  # (N, 16, 113, 113)
        x = self.pool(F.relu(self.bn2(self.conv2(x))))  # (N, 32, 56, 56)
        x = self.dropout(torch.flatten(x, 1))
        x = F.relu(self.fc1(x))
        return self.fc2(x)


class CifarCNN(nn.Module):
    """The CIFAR-10 CNN of the course's third lab, on 3x32x32 images. Three blocks, each:
    conv 3x3 'same' + ReLU, BatchNorm2d, conv 3x3 (valid) + ReLU, max-pool 2, Dropout 0.25,
    with 32, 64 and 128 channels (32 -> 30 -> 15 -> 13 -> 6 -> 4 -> 2); then Flatten (512),
    dense 512 + ReLU, BatchNorm1d, Dropout 0.5, dense 256 + ReLU, Dropout 0.5, dense 10
    (685,034 parameters)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for c_in, c_out in ((in_channels, 32), (32, 64), (64, 128)):
            blocks += [nn.Conv2d(c_in, c_out, kernel_size=3, padding="same"), nn.ReLU(),
                       nn.BatchNorm2d(c_out), nn.Conv2d(c_out, c_out, kernel_size=3),
                       nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25)]
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(
            nn.Linear(128 * 2 * 2, 512), nn.ReLU(), nn.BatchNorm1d(512), nn.Dropout(0.5),
            nn.Linear(512, 256), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(256, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (N, 128, 2, 2)
        return self.classifier(torch.flatten(x, 1))


class LSTMNet(nn.Module):
    """The MNIST LSTM of the course's third lab: each 28x28 image read as 28 time steps of 28
    pixels (rows); LSTM 128 returning the whole sequence, Dropout 0.2, LSTM 64 returning its
    last step, Dropout 0.2, dense 128 + ReLU, Dropout 0.5, dense 10 (140,170 parameters in
    PyTorch's counting: two bias vectors per LSTM layer, where Keras has one: 139,402)."""

    def __init__(self, input_size: int = 28, num_classes: int = 10) -> None:
        super().__init__()
        self.input_size = input_size
        self.lstm1 = nn.LSTM(input_size, 128, batch_first=True)
        self.dropout1 = nn.Dropout(0.2)
        self.lstm2 = nn.LSTM(128, 64, batch_first=True)
        self.dropout2 = nn.Dropout(0.2)
        self.fc1 = nn.Linear(64, 128)
        self.dropout3 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1, self.input_size)  # (N, 1, 28, 28) -> (N, T=28, 28)
        x, _ = self.lstm1(x)  # (N, T, 128)
        _, (h, _) = self.lstm2(self.dropout1(x))  # h: (1, N, 64), the last step
        x = self.dropout2(h[0])
        x = self.dropout3(F.relu(self.fc1(x)))
        return self.fc2(x)


class DenseAutoencoder(nn.Module):
    """The dense autoencoder of the course's third lab: in -> 1024 -> 512 -> 64 -> 512 ->
    1024 -> in, ReLU everywhere but a sigmoid output (7,411,776 parameters for 3072 inputs,
    CIFAR-10's 3x32x32; 2,723,664 for 784, MNIST's 28x28). Inputs scaled to [0, 1]; the
    reconstruction has the input's shape (train it with MSE against the input)."""

    def __init__(self, in_features: int = 3072) -> None:
        super().__init__()
        self.in_features = in_features
        self.encoder = nn.Sequential(
            nn.Linear(in_features, 1024), nn.ReLU(), nn.Linear(1024, 512), nn.ReLU(),
            nn.Linear(512, 64), nn.ReLU(),
        )
        self.decoder = nn.Sequential(
            nn.Linear(64, 512), nn.ReLU(), nn.Linear(512, 1024), nn.ReLU(),
            nn.Linear(1024, in_features), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.decoder(self.encoder(torch.flatten(x, 1)))  # (N, in_features)
        return y.reshape(x.shape)
