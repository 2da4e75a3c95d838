"""``python -m lsa_utils ...``: see ``lsa_utils.run.cli``."""

from lsa_utils.run.cli import main

raise SystemExit(main())
