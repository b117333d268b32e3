"""`gerbang finger eval|calibrate|tail`: fingerprint accuracy and thresholds on FVC-style folders;
`gerbang finger readers|read`: the readers named in EDGE_READERS, checked from the site machine."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from edge import reextract_command
from edge.devices.feedback import impression_feedback
from edge.devices.readers import ReaderPool
from edge.settings import Settings
from edge.wiring import model_store
from enrollment.fingers import png_bytes
from kernel.errors import GerbangError
from models import calibration as cal
from models.fingerprint import evaluation, extractors, openset_eval, tail
from models.fingerprint.quality import FingerQualityRules, finger_name

_FOLDER_HELP = "folder of <finger>_<impression>.tif images (FVC naming)"


def finger_eval(args: argparse.Namespace) -> int:
    """Print EER, FNMR at FMR 1% and 0.1%, ZeroFMR, failures and timings for each folder;
    with --open-set, FNIR at FPIR over the folders pooled (models/fingerprint/openset_eval.py)."""
    if args.fused:
        from edge.fused_eval import evaluate_fused, format_fused  # loads the face engine

        extractor = extractors.named(args.extractor, model_store(Settings()))
        rows = evaluate_fused(Path(args.fused), [Path(f) for f in args.dirs], args.dpi,
                              extractor=extractor, extract=_extract(args, "mcc"),
                              folds=args.folds)  # fmt: skip
        print(format_fused(rows))
        return 0
    extract = _extract(args)
    if args.open_set:
        fingers = openset_eval.load_fingers([Path(f) for f in args.dirs], args.dpi, extract)
        print(openset_eval.format_open_set(openset_eval.evaluate_open_set(fingers), len(fingers)))
        return 0
    for folder in args.dirs:
        report = evaluation.evaluate_folder(
            Path(folder), args.dpi, args.protocol, args.matcher, extract
        )
        print(evaluation.format_evaluation(report))
        print()
    return 0


def finger_calibrate(args: argparse.Namespace) -> int:
    """Pool the folders' scores into a calibration file (thresholds at target FMRs)."""
    folders = [Path(folder) for folder in args.dirs]
    names = " + ".join(folder.resolve().name for folder in folders)
    dataset = args.dataset or (
        f"{names}{_minutiae_note(args)}, protocol {args.protocol}, {args.dpi} ppi,"
        f" calibrated {dt.date.today().isoformat()}"
    )
    # finger-mcc / finger-nbis as before; another extractor's scores are another calibration.
    name = "finger-" + (
        args.matcher if args.extractor == "nbis" else f"{args.extractor}-{args.matcher}"
    )
    calibration = evaluation.calibrate_folders(
        folders, args.dpi, args.protocol, dataset, args.matcher, _extract(args), name
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    calibration.save(out)
    print(cal.format_report(calibration))
    print(f"wrote {out}")
    return 0


def _minutiae_note(args: argparse.Namespace) -> str:
    """Which minutiae a fitted file's scores came from, when not the default NBIS ones."""
    return "" if args.extractor == "nbis" else f" on {args.extractor} minutiae"


def finger_tail(args: argparse.Namespace) -> int:
    """Fit the MCC impostor tail of the folders (models/fingerprint/tail.py) and write it."""
    folders = [Path(folder) for folder in args.dirs]
    names = " + ".join(f.resolve().name for f in folders)
    dataset = args.dataset or (
        f"{names}: MCC impostor scores{_minutiae_note(args)}, every fresh impression against every"
        f" stored impression of the other fingers of its folder, {args.dpi} ppi,"
        f" fitted {dt.date.today().isoformat()}"
    )
    fitted = tail.fit_tail(folders, args.dpi, dataset, _extract(args, "mcc"))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fitted.save(out)
    t = fitted.tail
    print(f"{fitted.fingers} fingers, {t.n:,} impostor and {len(fitted.genuine):,} genuine scores;"
          f" highest impostor {t.top[0]:.4f}, tail from {t.u:.4f} (top {t.k}), scale {t.sigma:.5f}")  # fmt: skip
    for fmr in (1e-3, 1e-4, 1e-5, 1e-6):
        where = "counted" if fitted.counted(fmr) else "fitted tail"
        print(f"FMR {fmr:g}: threshold {fitted.threshold_at_fmr(fmr):.4f} ({where})")
    print(f"wrote {out}")
    return 0


def finger_readers(_: argparse.Namespace) -> int:
    """Each reader of EDGE_READERS, whether it opens now, and the problem if not (exit 1 then)."""
    readers = Settings().readers
    if not readers:
        print("belum ada pembaca sidik jari: atur EDGE_READERS (README: Readers where people stand)\n"
              "no readers: set EDGE_READERS (README: Readers where people stand)")  # fmt: skip
        return 1
    pool = ReaderPool(readers)
    try:
        states = {reader.name: pool.state(reader.name) for reader in readers}
    finally:
        pool.close()
    for reader in readers:
        state, problem = states[reader.name]
        where = f"gate {reader.gate}" if reader.gate else "officers only"
        print(
            f"{reader.name:16} {reader.driver or 'first found':16} {where:16} {state} {problem or ''}"
        )
    return 0 if all(state == "ready" for state, _ in states.values()) else 1


def finger_read(args: argparse.Namespace) -> int:
    """Wait for one finger on a named reader; print what the desk would say; save it if asked."""
    pool = ReaderPool(Settings().readers)
    try:
        shot = pool.capture(args.reader, args.timeout)
    except GerbangError as exc:
        print(f"{exc.code}: {exc.message.en} / {exc.message.id}")
        return 1
    finally:
        pool.close()
    feedback = impression_feedback(shot.pixels, shot.resolution_ppi, FingerQualityRules())
    quality = feedback.quality
    finger = f"{finger_name(args.position).en}: " if args.position else ""
    verdict = "usable" if feedback.usable else "not usable"
    print(f"{finger}{shot.width}x{shot.height} at {shot.resolution_ppi} ppi ({shot.driver}), {verdict}:"
          f" {quality.minutiae} minutiae, reliability {quality.mean_reliability},"
          f" contact {quality.contact}, ridge share {feedback.ridge_share}")  # fmt: skip
    for reason in feedback.messages():
        print(f"- {reason['en']} / {reason['id']}")
    if args.out:
        Path(args.out).write_bytes(png_bytes(shot.pixels))
        print(f"wrote {args.out}")
    return 0


def _extract(args: argparse.Namespace, matcher: str | None = None) -> evaluation.Extractor | None:
    """The --extractor's extract function for the matcher (None: the matcher's own NBIS one),
    through --template-cache when given."""
    if args.extractor == "nbis" and not args.template_cache:
        return None
    settings = Settings()
    extract = extractors.named_extractor(args.extractor, model_store(settings))
    if args.template_cache:
        extract = extractors.CachedExtractor(extract, args.extractor, Path(args.template_cache))
    return extractors.for_matcher(extract, matcher or args.matcher)


def _extraction(parser: argparse.ArgumentParser) -> None:
    """Flags choosing the minutiae extractor, shared by eval, calibrate and tail."""
    parser.add_argument(
        "--extractor",
        choices=extractors.EXTRACTORS,
        default="nbis",
        help="minutiae: nbis (MINDTCT, default) or leader (pyfing's LEADER network, ONNX)",
    )
    parser.add_argument(
        "--template-cache",
        metavar="DIR",
        help="keep extracted minutiae here, keyed by image digest, for the next run (not in git)",
    )


def _common(parser: argparse.ArgumentParser) -> None:
    """Flags shared by eval and calibrate."""
    parser.add_argument("dirs", nargs="+", metavar="DIR", help=_FOLDER_HELP)
    parser.add_argument("--dpi", type=int, default=500, help="scan resolution (default: 500)")
    _extraction(parser)
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
    """Register `finger eval`, `calibrate`, `tail`, `readers`, `read` and `reextract`."""
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
    evaluate.add_argument(
        "--fused",
        metavar="FACES",
        help="fused face + finger open-set 1:N instead: chimeric people, a face identity of FACES"
        " (a folder of <identity>/<n>.jpg) with two fingers of the DIRs (edge/fused_eval.py)",
    )
    evaluate.add_argument(
        "--folds",
        type=int,
        choices=(1, 2),
        default=2,
        help="with --fused: 2 (default) enrols each half of the fingers in turn and pools the"
        " searches; 1 enrols the first half only (half the time)",
    )
    evaluate.set_defaults(handler=finger_eval)
    calibrate = actions.add_parser("calibrate", help="write a calibration from FVC-style folders")
    _common(calibrate)
    calibrate.add_argument("--out", required=True, help="calibration JSON to write")
    calibrate.add_argument("--dataset", help="a sentence saying what the images are")
    calibrate.set_defaults(handler=finger_calibrate)
    fit = actions.add_parser(
        "tail", help="fit the MCC impostor tail of FVC-style folders (1:N thresholds at any size)"
    )
    fit.add_argument("dirs", nargs="+", metavar="DIR", help=_FOLDER_HELP)
    fit.add_argument("--dpi", type=int, default=500, help="scan resolution (default: 500)")
    _extraction(fit)
    fit.add_argument("--out", required=True, help="tail JSON to write (finger-mcc.openset.json)")
    fit.add_argument("--dataset", help="a sentence saying what the images are")
    fit.set_defaults(handler=finger_tail)
    readers = actions.add_parser(
        "readers", help="the readers of EDGE_READERS and whether they open"
    )
    readers.set_defaults(handler=finger_readers)
    read = actions.add_parser("read", help="wait for a finger on a named reader and judge it")
    read.add_argument("reader", help="its name in EDGE_READERS")
    read.add_argument("--position", type=int, choices=range(1, 11), metavar="1-10",
                      help="ISO finger position, to name it back")  # fmt: skip
    read.add_argument("--timeout", type=float, default=20.0, help="seconds to wait (default 20)")
    read.add_argument("--out", help="PNG file to write the impression to")
    read.set_defaults(handler=finger_read)
    reextract_command.add_parser(actions)
