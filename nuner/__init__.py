"""NuNER Service: the one import root.

Its sub-packages are the layers, lowest first: ``nuner.core`` (torch-free),
``nuner.training``, ``nuner.export``, ``nuner.app``; ``nuner.cli`` composes
them. The repository keeps ``training/``, ``export/`` and ``app/`` at its top;
``nuner/training`` etc. are symbolic links to them, so that the installed
wheel, an editable install, pytest and type checkers all see one tree.
"""

__version__ = "0.1.0"
