"""The course's models in PyTorch, to check minicnn against (``models.py``): installed as
``minicnn.reference``; a source checkout also imports it as ``reference``."""
