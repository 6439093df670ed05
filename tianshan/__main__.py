import sys

from tianshan.cli import main

sys.exit(main())
