"""Every code name the documents give in backticks is where they say it is.

Regression: docs/intake-templates.md placed ``credit_code_check_character`` in
``certflow.invoice``; it lives in ``certflow.identity``, and a reader looking
for the algorithm there found nothing.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A dotted name in backticks, from one of the project's packages.
DOTTED = re.compile(
    r"`((?:certflow|activities|workflows|starter|web)(?:\.[A-Za-z_]\w*)+)"
)


def _resolves(dotted: str) -> bool:
    """Whether ``dotted`` names a module, or something a module holds."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: ModuleType | object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(found, name):
                return False
            found = getattr(found, name)
        return True
    return False


@pytest.mark.parametrize("document", DOCUMENTS, ids=[p.name for p in DOCUMENTS])
def test_the_code_names_a_document_gives_exist(document: Path) -> None:
    named = set(DOTTED.findall(document.read_text(encoding="utf-8")))

    missing = sorted(dotted for dotted in named if not _resolves(dotted))

    assert not missing, f"{document.name} names what is not there: {missing}"
