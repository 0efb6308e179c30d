"""``python -m gemini_vectors.cli``: the same as the ``gemini-vectors`` command."""

import sys

from gemini_vectors.cli import main

sys.exit(main())
