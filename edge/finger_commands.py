"""`gerbang finger eval|calibrate`: fingerprint accuracy and thresholds on FVC-style folders."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from models import calibration as cal
from models.fingerprint import evaluation, openset_eval

_FOLDER_HELP = "folder of <finger>_<impression>.tif images (FVC naming)"


def finger_eval(args: argparse.Namespace) -> int:
    """Print EER, FNMR at FMR 1% and 0.1%, ZeroFMR, failures and timings for each folder;
    with --open-set, FNIR at FPIR over the folders pooled (models/fingerprint/openset_eval.py)."""
    if args.open_set:
        fingers = openset_eval.load_fingers([Path(f) for f in args.dirs], args.dpi)
        print(openset_eval.format_open_set(openset_eval.evaluate_open_set(fingers), len(fingers)))
        return 0
    for folder in args.dirs:
        report = evaluation.evaluate_folder(Path(folder), args.dpi, args.protocol, args.matcher)
        print(evaluation.format_evaluation(report))
        print()
    return 0


def finger_calibrate(args: argparse.Namespace) -> int:
    """Pool the folders' scores into a calibration file (thresholds at target FMRs)."""
    folders = [Path(folder) for folder in args.dirs]
    names = " + ".join(folder.resolve().name for folder in folders)
    dataset = args.dataset or (
        f"{names}, protocol {args.protocol}, {args.dpi} ppi, calibrated {dt.date.today().isoformat()}"
    )
    calibration = evaluation.calibrate_folders(
        folders, args.dpi, args.protocol, dataset, args.matcher
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    calibration.save(out)
    print(cal.format_report(calibration))
    print(f"wrote {out}")
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    """Flags shared by eval and calibrate."""
    parser.add_argument("dirs", nargs="+", metavar="DIR", help=_FOLDER_HELP)
    parser.add_argument("--dpi", type=int, default=500, help="scan resolution (default: 500)")
    parser.add_argument(
        "--matcher",
        choices=sorted(evaluation.MATCHERS),
        default="mcc",
        help="mcc (default: more accurate on the dev sets) or nbis (BOZORTH3)",
    )
    parser.add_argument(
        "--protocol",
        choices=evaluation.PROTOCOLS,
        default="all",
        help="impostor pairs: all different-finger pairs, or FVC's first impressions only",
    )


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `finger eval` and `finger calibrate`."""
    finger = sub.add_parser("finger", help="fingerprint accuracy and calibration (NBIS)")
    actions = finger.add_subparsers(dest="action", required=True)
    evaluate = actions.add_parser("eval", help="EER and FNMR at FMR on FVC-style folders")
    _common(evaluate)
    evaluate.add_argument(
        "--open-set",
        action="store_true",
        help="1:N instead: FNIR at FPIR 10/3/1/0.3%% by gallery size, 1 or 2 fingers a person"
        " (MCC with the index; folders pooled)",
    )
    evaluate.set_defaults(handler=finger_eval)
    calibrate = actions.add_parser("calibrate", help="write a calibration from FVC-style folders")
    _common(calibrate)
    calibrate.add_argument("--out", required=True, help="calibration JSON to write")
    calibrate.add_argument("--dataset", help="a sentence saying what the images are")
    calibrate.set_defaults(handler=finger_calibrate)
