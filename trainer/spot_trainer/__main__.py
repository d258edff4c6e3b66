"""`python -m spot_trainer ...`: the same command line as `spot-train`."""

import sys

from spot_trainer.cli import main

if __name__ == "__main__":
    sys.exit(main())
