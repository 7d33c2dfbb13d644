"""Write Parley's OpenAPI document (what a running server serves at /openapi.json) to the given file.

Run from the repository root with the project's Python: `.venv/bin/python sdk/typescript/scripts/dump_openapi.py
sdk/typescript/openapi.json` (or `npm run generate` in sdk/typescript, which also regenerates src/schema.ts).
The document does not depend on settings, so no database or model is needed.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from parley.app import create_app
from parley.config import Settings


def main(target: str) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        document = create_app(Settings(data_dir=Path(data_dir))).openapi()
    Path(target).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "openapi.json")
