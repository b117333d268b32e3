"""What each `gerbang` subcommand does; the parser lives in edge/cli.py."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from edge import wiring
from edge.settings import Settings
from httpkit.tls import init_tls
from httpkit.tls import serve as serve_https
from models import bundle
from models import calibration as cal
from models.batch import embed_files, list_images, save_npz
from models.evaluation import by_source, embed_labelled_set, format_results
from models.evaluation import evaluate as evaluate_set
from models.loader import EngineSpec
from models.manifest import load_packs
from models.obtain import FetchError, convert, ensure_converted, fetch
from models.store import ModelStore


def _spec(settings: Settings, pack_id: str | None) -> EngineSpec:
    """The engine spec for a pack, converting packaged models first if this machine lacks them."""
    spec = wiring.engine_spec(settings, pack_id)
    ensure_converted(spec.store, spec.pack)
    return spec


def serve(args: argparse.Namespace) -> int:
    """Run the HTTP service until interrupted."""
    from edge.app import create_app
    from edge.routes.web import PAGES

    settings = Settings()
    host = args.host or settings.host
    serve_https(
        lambda: create_app(settings),
        host,
        args.port or settings.port,
        settings.tls_dir,
        settings.tls,
        links=PAGES,
    )
    return 0


def doctor(args: argparse.Namespace) -> int:
    """Check everything the site needs; exit 1 on any FAIL."""
    from edge import doctor as checks

    findings = checks.run(Settings(), args.camera)
    print(checks.format_findings(findings))
    failed = [f.check for f in findings if f.status == "FAIL"]
    print(
        f"{len(findings)} checks: {len(failed)} FAIL"
        + (f" ({', '.join(failed)})" if failed else "")
    )
    return 1 if failed else 0


def tls_init(args: argparse.Namespace) -> int:
    """Make the site CA (once) and a server certificate for the names given."""
    settings = Settings()
    folder = Path(args.out) if args.out else settings.tls_dir
    files = init_tls(folder, args.host or ["localhost"], label=settings.site_id)
    print(f"server certificate {files.cert}\nkey {files.key} (0600)\nCA {folder / 'ca.pem'}")
    print("PC meja mempercayai situs ini dengan mengimpor ca.pem sebagai otoritas akar tepercaya.\n"
          "Desk PCs trust the site by importing ca.pem as a trusted root authority.")  # fmt: skip
    return 0


def _packs_for(args: argparse.Namespace, settings: Settings, all_by_default: bool) -> list[str]:
    if args.pack:
        return [args.pack]
    return (
        sorted(load_packs(settings.model_dir)) if all_by_default else [wiring.pack_in_use(settings)]
    )


def models_list(args: argparse.Namespace) -> int:
    """Print every pack with the state of each of its files."""
    settings = Settings()
    store = wiring.model_store(settings)
    in_use = wiring.pack_in_use(settings)
    for pack_id in _packs_for(args, settings, all_by_default=True):
        pack = wiring.pack_named(settings, pack_id)
        marker = " (in use)" if pack.id == in_use else ""
        print(f"{pack.id}{marker}: {pack.description}\n  licence: {pack.licence_summary}")
        for status in store.pack_status(pack):
            print(
                f"  [{status.state:>15}] {status.file.role:<10} {status.file.name:<16} {status.path}"
            )
            if status.state != "verified":
                print(f"{'':20}{status.detail or status.file.obtainable}")
    return 0


def models_verify(args: argparse.Namespace) -> int:
    """Exit 1 unless every file of the pack (default: the one in use) is verified."""
    settings = Settings()
    store = wiring.model_store(settings)
    failed = 0
    for pack_id in _packs_for(args, settings, all_by_default=False):
        for status in store.pack_status(wiring.pack_named(settings, pack_id)):
            print(f"{status.state:<16}{status.path}")
            if status.state != "verified" and status.detail:
                print(f"{'':16}{status.detail}")  # e.g. a conversion made by an old converter
            failed += status.state != "verified"
    return 1 if failed else 0


def models_fetch(args: argparse.Namespace) -> int:
    """Download and verify missing files; offline, say exactly what to place where."""
    settings = Settings()
    store = wiring.model_store(settings)
    failed = 0
    for status in store.pack_status(wiring.pack_named(settings, args.pack)):
        if status.state == "verified" or status.file.conversion:
            continue
        try:
            print(f"fetched {fetch(store, status.file)}")
        except FetchError as exc:
            print(f"cannot fetch {status.file.name}: {exc}")
            failed += 1
    return 1 if failed else 0


def models_convert(args: argparse.Namespace) -> int:
    """Convert every converted file of the pack that is not yet present and verified."""
    settings = Settings()
    store = wiring.model_store(settings)
    for status in store.pack_status(wiring.pack_named(settings, args.pack)):
        if status.file.conversion and status.state != "verified":
            print(f"converted {convert(store, status.file)}")
        elif status.file.conversion:
            print(f"already converted and verified: {status.path}")
    return 0


def models_bundle(args: argparse.Namespace) -> int:
    """Write the packs' verified files and a manifest of their sha256s into one file."""
    settings = Settings()
    pack_ids = args.pack or [wiring.pack_in_use(settings)]
    packs = [wiring.pack_named(settings, pack_id) for pack_id in pack_ids]
    store = wiring.model_store(settings)
    for pack in packs:
        ensure_converted(store, pack)
    entries = bundle.write_bundle(store, packs, Path(args.out))
    size = sum(e.size for e in entries)
    print(f"wrote {args.out}: {len(entries)} files, {size / 1e6:.1f} MB, packs {pack_ids}")
    return 0


def models_install(args: argparse.Namespace) -> int:
    """Check every digest in a bundle, then install it into the model and cache folders."""
    settings = Settings()
    model_dir = Path(args.to) if args.to else settings.model_dir
    store = ModelStore(model_dir, settings.cache_dir)
    installed = bundle.install_bundle(Path(args.file), store, load_packs(model_dir))
    for path in installed.paths:
        print(f"installed {path}")
    print(f"packs {installed.packs}: {len(installed.paths)} files checked and installed")
    if args.to:
        print(f"set EDGE_MODEL_DIR={model_dir.resolve()} for the service to use them")
    return 0


def _expand(paths: list[str], list_file: str | None) -> tuple[list[str], list[str]]:
    """(file paths to read, names to record): names as listed, or relative to the folder given."""
    files, names = [], []
    if list_file:
        for line in Path(list_file).read_text(encoding="utf-8").splitlines():
            if line.strip():
                files.append(line.strip())
                names.append(line.strip())
    for given in map(Path, paths):
        if given.is_dir():
            found = list_images(given)
            files += [str(p) for p in found]
            names += [str(p.relative_to(given)) for p in found]
        else:
            files.append(str(given))
            names.append(str(given))
    return files, names


def embed(args: argparse.Namespace) -> int:
    """Embed images into an .npz archive; NaN rows where no face was found."""
    settings = Settings()
    spec = _spec(settings, args.pack)
    files, names = _expand(args.paths, args.list_file)
    results = embed_files(spec, files, args.workers)
    save_npz(Path(args.out), results, names, spec.pack.id, spec.pack.embedding_dim)
    failed = sum(r.template is None for r in results)
    print(f"wrote {args.out}: {len(results)} images, {failed} without a usable face")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """Print error rates per pack (and per source) and write a DET plot."""
    settings = Settings()
    if args.open_set:
        from edge.openset_commands import OpenSetArgumentInvalid, evaluate_open_set

        if args.pack and len(args.pack) > 1:
            raise OpenSetArgumentInvalid(detail="--open-set evaluates one --pack at a time")
        return evaluate_open_set(args, _spec(settings, (args.pack or [None])[0]), settings)
    results, curves = [], {}
    for pack_id in args.pack or [wiring.pack_in_use(settings)]:
        data = embed_labelled_set(_spec(settings, pack_id), Path(args.dir), args.workers)
        overall = evaluate_set(pack_id, data)
        results.append(overall)
        curves[pack_id] = overall.det
        if args.by_source:
            results += [
                evaluate_set(f"  {pack_id}/{s}", part) for s, part in by_source(data).items()
            ]
        if data.errors:
            print(f"{pack_id}: not acquired: {dict(data.errors)}")
    print(format_results(results))
    cal.plot_det(curves, Path(args.plot), f"DET on {Path(args.dir).name}")
    print(f"DET plot: {args.plot}")
    return 0


def calibrate(args: argparse.Namespace) -> int:
    """Measure genuine and impostor scores and write the pack's calibration file."""
    settings = Settings()
    spec = _spec(settings, args.pack)
    data = embed_labelled_set(spec, Path(args.dir), args.workers)
    genuine, impostor = cal.pair_scores(data.embeddings, data.labels)
    calibration = cal.build_calibration(
        spec.pack.id,
        args.dataset
        or f"{Path(args.dir).resolve().name}, calibrated {dt.date.today().isoformat()}",
        genuine,
        impostor,
        n_identities=len(set(data.labels)),
        n_images=len(data.labels),
        failure_to_acquire=sum(data.errors.values()),
    )
    out = (
        Path(args.out) if args.out else settings.data_dir / "calibrations" / f"{spec.pack.id}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    calibration.save(out)
    print(cal.format_report(calibration))
    print(f"wrote {out}")
    return 0
