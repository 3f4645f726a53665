"""`python -m gatenet.client` runs the `gatenet` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
