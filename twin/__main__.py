"""Allow ``python -m twin``."""

from twin.cli import main

if __name__ == "__main__":  # the ingest's worker process imports this module too
    raise SystemExit(main())
