"""The course's models and experiments in PyTorch, to check minicnn against."""
