import sys

from mias.cli.main import main

sys.exit(main())
