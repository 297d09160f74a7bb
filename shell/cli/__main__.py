"""python -m shell.cli"""

import sys

from shell.cli import main

sys.exit(main())
