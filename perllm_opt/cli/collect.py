"""``perllm-opt-collect SWEEP_DIR``: one tidy table of a sweep's runs, plus a summary.

Writes ``results.csv`` (and ``results.parquet`` if pyarrow is installed), ``summary.csv``
(means and 95% confidence intervals over seeds) and ``timings.csv`` (wall-clock seconds per
run and scheduler, kept out of the others) into ``--out`` (default: the sweep directory).
Running it twice gives the same results and summary files. A run whose ``metrics.json`` cannot
be read or holds a value of the wrong type is skipped and named, and so is a run with the same
resolved config and input files as an earlier one (a duplicate); nothing is written before
every file has been made. The exit code is non-zero only when nothing could be collected.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from perllm_opt.cli.files import write_atomic
from perllm_opt.errors import InputError
from perllm_opt.evaluation.collect import collect


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="perllm-opt-collect", description=__doc__.split("\n")[0])
    ap.add_argument("sweep_dir", help="the sweep directory (hydra.sweep.dir)")
    ap.add_argument("--out", default=None, help="where to write (default: the sweep dir)")
    args = ap.parse_args(argv)
    try:
        col = collect(args.sweep_dir)
    except InputError as exc:
        print(f"perllm-opt-collect: error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out or args.sweep_dir)
    for run, reason in col.unreadable:
        print(f"perllm-opt-collect: skipped {run}/metrics.json: {reason}", file=sys.stderr)
    for run, kept in col.duplicates:
        print(
            f"perllm-opt-collect: skipped {run}: the same config and input files as {kept} "
            "(a duplicate run; its rows are not counted twice)",
            file=sys.stderr,
        )
    if col.table.empty:
        print(
            f"perllm-opt-collect: no complete run under {args.sweep_dir}"
            + (f" ({len(col.failed)} failed)" if col.failed else "")
            + (f" ({len(col.unreadable)} unreadable)" if col.unreadable else ""),
            file=sys.stderr,
        )
        return 1
    if out.exists() and not out.is_dir():
        print(
            f"perllm-opt-collect: error: --out: got {str(out)!r}, expected a directory "
            "(it names a file)",
            file=sys.stderr,
        )
        return 2
    # Every file is made in memory first: a failure leaves none of them half-updated.
    files: dict[str, str | bytes] = {
        "results.csv": col.table.to_csv(index=False),
        "summary.csv": col.summary.to_csv(index=False),
    }
    if not col.timings.empty:
        files["timings.csv"] = col.timings.to_csv(index=False)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        pass
    else:
        buf = io.BytesIO()
        col.table.to_parquet(buf, index=False)
        files["results.parquet"] = buf.getvalue()
    for name, data in files.items():
        write_atomic(out / name, data)
    written = list(files)
    print(
        f"{col.runs} runs, {len(col.table)} rows, swept: {', '.join(col.swept) or '-'}; "
        f"wrote {', '.join(written)} to {out}"
    )
    for run in col.failed:
        print(f"failed (no results): {run}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
