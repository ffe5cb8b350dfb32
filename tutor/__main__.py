"""`python -m tutor` is the `qlora-tutor` command."""

import sys

from tutor.cli import main

sys.exit(main())
