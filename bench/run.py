"""`make bench`: runs every benchmark script under bench/ in turn and prints their tables.

Each benchmark measures simmesh against the engine underneath in the same run and prints
ratios; pass script names to run only some (`bench/run.py embedder`). The half-hour soak runs
only when named (`bench/run.py soak`, `bench/run.py scale`).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Run only when named: they take long (the soak half an hour, the 10M scale run hours).
ON_REQUEST = {"soak", "scale"}


def main(argv: list[str]) -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != "run.py" and not p.name.startswith("_"))
    scripts = [p for p in scripts if p.stem in argv] if argv else [p for p in scripts if p.stem not in ON_REQUEST]
    failed = []
    for script in scripts:
        print(f"\n## {script.stem}\n", flush=True)
        started = time.monotonic()
        result = subprocess.run([sys.executable, str(script)], cwd=HERE.parent)
        print(f"\n({script.name}: {time.monotonic() - started:.0f}s, exit {result.returncode})", flush=True)
        if result.returncode:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
