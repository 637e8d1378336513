import sys

from engocr.cli import main

sys.exit(main())
