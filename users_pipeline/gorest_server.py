"""`python -m users_pipeline.gorest_server`, the bundled GoRest-compatible server's published
name: the server lives in `users_pipeline.offline`."""

import sys

from users_pipeline.offline.cli import main

if __name__ == "__main__":
    sys.exit(main())
