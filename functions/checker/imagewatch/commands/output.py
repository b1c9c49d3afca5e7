"""What every command prints for machines: JSON, UTF-8, as it is."""

from __future__ import annotations

import json


def print_json(data: object) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False))
