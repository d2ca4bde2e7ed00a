"""``python -m ganforge`` runs the CLI (also what ``torchrun -m ganforge`` starts)."""

import sys

from ganforge.cli import main

sys.exit(main())
