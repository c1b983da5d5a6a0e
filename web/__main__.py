"""``python -m web``: serve the certificate pages (the same as ``certflow web``)."""

import sys

from web.app import main

sys.exit(main())
