"""Print what each table's sidecar records of its validation: how its pieces were timed (in
context or alone), held-out accuracy, the noise ceiling, the noise band of a budget check and
the machine.

    python scripts/table_summary.py [FOLDER]   # default: the shipped tables, latency_tables/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hwnas.device.agent.host import describe_host


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "hwnas" / "latency_tables"
    print(f"{'table':<44} {'n':>4} {'raw <=10%':>9} {'cal. <=10%':>10} {'MAPE':>6} {'ceiling':>8} {'band':>6} {'pieces':>8}  machine")
    for path in sorted(folder.glob("*/*.json")):
        meta = json.loads(path.read_text())
        v = meta.get("validation") or {}
        raw, cal, noise = v.get("raw_heldout", {}), v.get("calibrated_heldout", {}), v.get("noise", {})
        band = noise.get("relative_p90_pct")
        print(f"{path.parent.name + '/' + path.stem:<44} {v.get('n', '-'):>4} "
              f"{100 * raw.get('within_10pct', float('nan')):>8.0f}% {100 * cal.get('within_10pct', float('nan')):>9.0f}% "
              f"{cal.get('mape_pct', float('nan')):>5.1f}% {100 * noise.get('remeasure_within_10pct', float('nan')):>7.0f}% "
              f"{'-' if band is None else f'{band:.1f}%':>6} {'context' if meta.get('context') else 'alone':>8}  {describe_host(meta.get('host', {}))}")


if __name__ == "__main__":
    main()
