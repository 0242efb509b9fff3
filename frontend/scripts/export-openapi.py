"""Write the OpenAPI document of `picodiff serve` with default settings to the given file: the
source of the page's API types (`npm run api` turns it into src/api/schema.d.ts)."""

import json
import sys
from pathlib import Path

from picodiff.serving.config import ServeConfig
from picodiff.serving.openapi import openapi_document

Path(sys.argv[1]).write_text(json.dumps(openapi_document(ServeConfig()), indent=2) + "\n")
