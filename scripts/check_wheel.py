"""What the wheel must carry (scripts/check_build.sh): the package data swapbot reads at run time, the
Alembic revisions, the license, and SPDX license metadata. Usage: python scripts/check_wheel.py WHEEL."""

from __future__ import annotations

import sys
import zipfile
from email.parser import Parser
from pathlib import Path

LANGUAGES = ("en", "ru", "ko", "vi")
REPO = Path(__file__).resolve().parents[1]


def problems(wheel: Path) -> list[str]:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {"migrations/script.py.mako", "migrations/env.py", "swapbot/cli.py"}
    expected |= {f"bot/texts/locales/{lang}/LC_MESSAGES/swapbot.po" for lang in LANGUAGES}
    expected |= {f"migrations/versions/{rev.name}" for rev in (REPO / "migrations" / "versions").glob("*.py")}
    missing = [f"missing from the wheel: {name}" for name in sorted(expected - names)]
    metadata_name = next(name for name in names if name.endswith(".dist-info/METADATA"))
    metadata = Parser().parsestr(zipfile.ZipFile(wheel).read(metadata_name).decode())
    if metadata["License-Expression"] != "MIT":
        missing.append(f"License-Expression is {metadata['License-Expression']!r}, not 'MIT'")
    if not any(name.endswith(".dist-info/licenses/LICENSE") for name in names):
        missing.append("the LICENSE file is not in the wheel's dist-info")
    return missing


if __name__ == "__main__":
    found = problems(Path(sys.argv[1]))
    for problem in found:
        print(problem, file=sys.stderr)
    sys.exit(1 if found else 0)
