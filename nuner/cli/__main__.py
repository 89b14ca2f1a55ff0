"""``python -m nuner.cli`` (what ``torchrun -m nuner.cli pretrain`` runs)."""

from nuner.cli import main

if __name__ == "__main__":  # importing the package's modules (tests do) runs nothing
    main()
