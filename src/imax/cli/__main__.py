import sys

from imax.cli import main

sys.exit(main())
