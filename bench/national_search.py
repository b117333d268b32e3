"""National search at 1M templates (exact vs approximate) and sync throughput of the registry.

Run from the repository root (full run about 8-10 minutes on 2 cores, `--quick` under 2):
    python bench/national_search.py
    python bench/national_search.py --quick

Search. Real templates come from the dev photos embedded by the real engine (pack
open-yunet-dlib, 128-d): for up to 15 colour dev people the first accepted photo is enrolled in
the national gallery and the others are probes. The crowd is modelled as in
bench/site_service.py (a Gaussian fitted to the templates of the other dev people: centre per
synthetic person, 3-5 templates around it), not uniform vectors, which make recall look
unreal. `NationalIndex` is built with its exact limit below the size so it must build, tune
and check its approximate index; both indexes are then timed per single query (FAISS threads
1, as the registry leaves them, and 2). Recall@10 is against exact search: on the index's
own check (1000 modelled people not in the gallery: 500 tune its breadth, 500 check it), and on
the real probes; "right first" counts real probes
whose own person is the top hit. IVF-Flat and HNSW are first compared at `--compare-size`.

Sync. A registry (`RegistryService` behind FastAPI's TestClient, lifespan run) on a fresh
PostgreSQL database; one site registered; batches of `--batch` changes signed with
`gallery_sync.protocol.encode` and POSTed as a site agent would. The backlog mixes
`identity.enrolled` (3-5 modelled templates each, share `--enrol-share`) with gate events;
every enrolment is searched against the national gallery inside the push, as in production.
Then single enrolments are pushed one per batch: the time until the push returns is the time
until their templates are in the national index and searched (checked by a search).

The machine is shared: load average at start and end, and with every table.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from face_engine import dev_rows, elapsed_ms, load_text, peak_mb, print_table, rss_mb
from site_service import CrowdModel, fit_crowd, sample_templates, template_counts

from edge import wiring
from edge.settings import Settings
from enrollment.captures import StoredCapture
from enrollment.records import Identity
from enrollment.service import _change_payload
from gallery_sync.protocol import Batch, ChainHead, Change, encode, public_key_text
from kernel.errors import GerbangError
from models.obtain import ensure_converted
from registry.national_index import NationalIndex, NationalIndexConfig

REPO = Path(__file__).resolve().parent.parent
PACK = "open-yunet-dlib"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
COLOUR = ("deepface-", "facerec-", "faceapi-")
REAL_PEOPLE = 15
K = 10
SITE = "UPT-BENCH-01"
HELD_OUT = 1000  # modelled new people: 500 tune the index, 500 check it


@dataclass(frozen=True)
class RealSet:
    """Real templates: gallery rows (one per person), probes and whose they are."""

    gallery: np.ndarray
    probes: np.ndarray
    probe_owner: np.ndarray  # row of `gallery` each probe belongs to


# ------------------------------------------------------------------ real templates and crowd


def embed_dev(models: Path, dev: Path, scratch: Path, step: int) -> dict[str, list[np.ndarray]]:
    """Templates of the dev photos per person (every `step`-th photo of non-colour people)."""
    settings = Settings(model_dir=models, data_dir=scratch, liveness=False)
    spec = wiring.engine_spec(settings, PACK)
    ensure_converted(spec.store, spec.pack)
    engine = spec.build()
    seen: dict[str, int] = defaultdict(int)
    out: dict[str, list[np.ndarray]] = defaultdict(list)
    for path, name in dev_rows(dev):
        seen[name] += 1
        if not name.startswith(COLOUR) and (seen[name] - 1) % step:
            continue
        try:
            out[name].append(engine.analyse_bytes(path.read_bytes()).template)
        except GerbangError:
            continue
    return out


def split_real(templates: dict[str, list[np.ndarray]]) -> tuple[RealSet, CrowdModel]:
    """Colour people with 3+ templates become gallery + probes; the rest fit the crowd model."""
    chosen = [n for n in sorted(templates) if n.startswith(COLOUR) and len(templates[n]) >= 3]
    chosen = chosen[:REAL_PEOPLE]
    gallery = np.stack([templates[n][0] for n in chosen])
    probes = [(row, v) for row, n in enumerate(chosen) for v in templates[n][1:]]
    vectors, labels = [], []
    for name, rows in templates.items():
        if name not in chosen:
            vectors.extend(rows)
            labels.extend([name] * len(rows))
    model = fit_crowd(np.asarray(vectors, np.float64), labels)
    real = RealSet(
        gallery.astype(np.float32),
        np.stack([v for _, v in probes]).astype(np.float32),
        np.asarray([r for r, _ in probes]),
    )
    return real, model


def national_vectors(
    size: int, real: RealSet, model: CrowdModel, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors): the real gallery rows first (ids 1..), then the modelled crowd."""
    crowd = sample_templates(model, template_counts(size - len(real.gallery), rng), rng)
    vectors = np.concatenate([real.gallery, crowd])
    return np.arange(1, size + 1, dtype=np.int64), vectors


# ------------------------------------------------------------------ search measurements


@contextmanager
def faiss_threads(count: int) -> Iterator[None]:
    """FAISS OpenMP threads for a block."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def latency(search: Any, queries: np.ndarray, samples: int) -> list[float]:
    """p50 and p99 ms of single-query searches, cycling over the queries."""
    times = []
    for i in range(samples + 3):
        start = time.perf_counter()
        search(queries[i % len(queries) : i % len(queries) + 1], K)
        if i >= 3:
            times.append(elapsed_ms(start))
    return [float(v) for v in np.percentile(times, [50, 99])]


def recall_on(index: NationalIndex, queries: np.ndarray) -> float:
    """Recall@K of what the index serves against exact search, on these queries."""
    _, truth = index.search_exact(queries, K)
    _, found = index.search(queries, K)
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))


def right_first(index: NationalIndex, real: RealSet, exact: bool) -> int:
    """Real probes whose own person's gallery template (id = row + 1) comes first."""
    search = index.search_exact if exact else index.search
    _, found = search(real.probes, 1)
    return int(np.sum(found[:, 0] == real.probe_owner + 1))


def new_people(model: CrowdModel, count: int, seed: int) -> np.ndarray:
    """One modelled template each of `count` people who are not in the gallery."""
    rng = np.random.default_rng(seed)
    return sample_templates(model, np.ones(count, dtype=np.int64), rng)


def build_index(
    ids: np.ndarray, vectors: np.ndarray, kind: str, probes: np.ndarray, **extra: Any
) -> tuple[NationalIndex, float, float]:
    """A NationalIndex forced onto its approximate path, tuned and checked on held-out probes
    (half each): (index, build s, RSS growth MB)."""
    before = rss_mb()
    config = NationalIndexConfig(exact_limit=len(ids) - 1, kind=kind, **extra)  # type: ignore[arg-type]
    index = NationalIndex(vectors.shape[1], config)
    start = time.perf_counter()
    with faiss_threads(2):
        index.build(ids, vectors, probes=probes)
    return index, time.perf_counter() - start, rss_mb() - before


def search_rows(
    index: NationalIndex, real: RealSet, samples: int, build: tuple[float, float]
) -> list[list[object]]:
    """Exact and approximate rows: latency at 1 and 2 threads, recall, right-first, build."""
    report, rows = index.report, []
    probe_recall = recall_on(index, real.probes)
    for name, exact in (("exact IndexFlatIP", True), (f"{report.kind} {report.params}", False)):
        search = index.search_exact if exact else index.search
        with faiss_threads(1):
            one = latency(search, real.probes, samples)
        with faiss_threads(2):
            two = latency(search, real.probes, samples)
        recall = (1.0, 1.0) if exact else (report.held_out_recall, probe_recall)
        build_s = report.exact_seconds if exact else build[0] - report.exact_seconds
        rows.append([name, len(index), *one, *two, *(f"{r:.4f}" for r in recall),
                     f"{right_first(index, real, exact)}/{len(real.probes)}",
                     build_s, build[1] if not exact else "-"])  # fmt: skip
    return rows


SEARCH_HEADER = ["index", "templates", "1t p50 ms", "1t p99", "2t p50", "2t p99",
                 "recall held-out", "recall real", "right first", "build s", "RSS +MB"]  # fmt: skip


def compare_kinds(size: int, real: RealSet, model: CrowdModel, args: argparse.Namespace) -> None:
    """IVF-Flat against HNSW at a smaller size: both tuned to recall@10 >= 0.99."""
    ids, vectors = national_vectors(size, real, model, np.random.default_rng(args.seed + 1))
    rows = []
    probes = new_people(model, HELD_OUT, args.seed + 2)
    for kind, extra in (("ivf", {}), ("hnsw", {"hnsw_m": 32})):
        index, seconds, grown = build_index(ids, vectors, kind, probes, **extra)
        rows.extend(search_rows(index, real, args.samples, (seconds, grown))[1 if rows else 0 :])
        del index
    print_table(
        f"Choosing the approximate index at {size:,} templates (modelled crowd + real people),"
        f" each tuned by NationalIndex to recall@{K} >= 0.99 + margin; ms per single query",
        SEARCH_HEADER,
        rows,
    )


def measure_search(real: RealSet, model: CrowdModel, args: argparse.Namespace) -> None:
    """Exact vs the chosen approximate index at the full size."""
    start = time.perf_counter()
    ids, vectors = national_vectors(args.size, real, model, np.random.default_rng(args.seed))
    print(f"{args.size:,} templates generated in {time.perf_counter() - start:.0f} s", flush=True)
    index, seconds, grown = build_index(
        ids, vectors, "ivf", new_people(model, HELD_OUT, args.seed + 3)
    )
    del vectors
    print(f"build: {index.report}", flush=True)
    print_table(
        f"National search at {args.size:,} templates, k={K}, single queries (real probes), ms;"
        " recall@10 against exact: held-out = the index's own check on 500 modelled new people,"
        f" real = {len(real.probes)} real probe photos; right first = the probe's own person top",
        SEARCH_HEADER,
        search_rows(index, real, args.samples, (seconds, grown)),
    )


# ------------------------------------------------------------------ sync throughput


def now() -> str:
    """An ISO timestamp as sites write them."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


class BenchSite:
    """A site as the registry sees it: key, outbox numbering, template ids."""

    def __init__(self, site_id: str, model: CrowdModel, seed: int) -> None:
        self.id, self.key = site_id, Ed25519PrivateKey.generate()
        self.seq, self.template_seq = 0, 0
        self.model, self.rng = model, np.random.default_rng(seed)

    def _change(self, kind: str, entity_id: str, payload: dict[str, Any]) -> Change:
        self.seq += 1
        return Change(
            seq=self.seq, kind=kind, entity_id=entity_id, payload=payload, created_at=now()
        )

    def enrolment(self) -> tuple[Change, np.ndarray]:
        """An identity.enrolled change with 3-5 modelled templates, built by the site's code."""
        count = np.asarray([int(self.rng.integers(3, 6))])
        vectors = sample_templates(self.model, count, self.rng)
        t = now()
        identity = Identity(
            id=str(uuid.uuid4()), role="inmate", status="active", full_name=f"Sintetis {self.seq}",
            birth_date="1990-01-01", sex="M", aliases=[], nik=None, nip=None,
            registration_number=f"AI-{self.seq}", details={}, origin_site=self.id,
            merged_into=None, photo_image_id=None, created_at=t, updated_at=t, version=1,
        )  # type: ignore[arg-type]  # fmt: skip
        captures = [StoredCapture(i, b"", "image/jpeg", hashlib.sha256(v.tobytes()).hexdigest(),
                                  v, 0.9, t) for i, v in enumerate(vectors)]  # fmt: skip
        tids = list(range(self.template_seq + 1, self.template_seq + 1 + len(vectors)))
        self.template_seq += len(vectors)
        payload = _change_payload(identity, captures, tids, PACK)
        return self._change("identity.enrolled", identity.id, payload), vectors

    def gate_event(self) -> Change:
        """A gate passage: stored by the registry as sent."""
        payload = {"gate": "P1", "direction": "in", "decision": "allow", "at": now()}
        return self._change("gate.passed", str(uuid.uuid4()), payload)

    def signed(self, changes: list[Change]) -> tuple[bytes, dict[str, str]]:
        """(gzip body, headers) for one batch."""
        batch = Batch(site_id=self.id, changes=changes, sent_at=now(),
                      audit_head=ChainHead(seq=self.seq, hash="ab" * 32))  # fmt: skip
        body, signature = encode(batch, self.key)
        return body, {"X-Gerbang-Site": self.id, "X-Gerbang-Signature": signature,
                      "Content-Encoding": "gzip", "Content-Type": "application/json"}  # fmt: skip


@contextmanager
def registry() -> Iterator[tuple[Any, Any, str]]:
    """(TestClient, service, database url) of a started registry on a fresh database."""
    from fastapi.testclient import TestClient

    from registry.app import create_registry_app
    from registry.service import RegistryService
    from registry.settings import RegistrySettings

    name = f"gerbang_bench_{uuid.uuid4().hex[:10]}"
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}".encode())
    try:
        service = RegistryService(RegistrySettings(database_url=url))
        with TestClient(create_registry_app(service=service)) as client:
            yield client, service, url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())


def backlog(site: BenchSite, total: int, share: float) -> list[list[Change]]:
    """The site's outbox as batches: enrolments at `share`, gate events otherwise."""
    changes = [
        site.enrolment()[0] if site.rng.random() < share else site.gate_event()
        for _ in range(total)
    ]
    return [changes[i : i + BATCH] for i in range(0, total, BATCH)]


BATCH = 500


def push(client: Any, site: BenchSite, changes: list[Change]) -> tuple[float, float]:
    """Sign and POST one batch: (sign ms, POST ms); raises unless all was acknowledged."""
    start = time.perf_counter()
    body, headers = site.signed(changes)
    signed = elapsed_ms(start)
    response = client.post("/v1/sync/batches", content=body, headers=headers)
    if response.status_code != 200 or response.json()["acknowledged_through"] != changes[-1].seq:
        raise RuntimeError(f"push refused: {response.status_code} {response.text[:300]}")
    return signed, elapsed_ms(start) - signed


def drain(client: Any, site: BenchSite, batches: list[list[Change]]) -> list[object]:
    """Push a backlog batch after batch: one table row."""
    sign_ms, post_ms = [], []
    start = time.perf_counter()
    for batch in batches:
        s, p = push(client, site, batch)
        sign_ms.append(s)
        post_ms.append(p)
    seconds = time.perf_counter() - start
    changes = sum(len(b) for b in batches)
    enrol = sum(1 for b in batches for c in b if c.kind == "identity.enrolled")
    return [changes, enrol, site.template_seq, len(batches), seconds, changes / seconds,
            float(np.median(sign_ms)), float(np.median(post_ms)), float(np.percentile(post_ms, 99))]  # fmt: skip


def time_to_searchable(client: Any, service: Any, site: BenchSite, count: int) -> list[float]:
    """Single enrolments pushed one per batch: ms until the push returns, each checked found."""
    times = []
    for _ in range(count):
        change, vectors = site.enrolment()
        start = time.perf_counter()
        push(client, site, [change])
        times.append(elapsed_ms(start))
        found = service.gallery.index.search(vectors[:1], 1)[0]
        if not found or found[0].identity_id != change.entity_id:
            raise RuntimeError("a pushed enrolment is not searchable after its push returned")
    return [float(v) for v in np.percentile(times, [50, 95, 99])]


def measure_sync(model: CrowdModel, args: argparse.Namespace) -> None:
    """Backlog drain, throughput and enrolment-to-searchable on a real PostgreSQL."""
    rows = []
    with registry() as (client, service, _):
        site = BenchSite(SITE, model, args.seed)
        service.add_site(
            site.id, "Lapas Bench", "KW-BENCH", public_key_text(site.key.public_key()), "bench"
        )
        start = time.perf_counter()
        pure = backlog(site, args.enrol_only, 1.0)
        rows.append(["enrolments only", *drain(client, site, pure)])
        batches = backlog(site, args.backlog, args.enrol_share)
        build_s = time.perf_counter() - start
        rows.append([f"backlog, {args.enrol_share:.0%} enrolments", *drain(client, site, batches)])
        searchable = time_to_searchable(client, service, site, args.singles)
        gallery = len(service.gallery.index)
    print_table(
        f"Sync: batches of {BATCH} changes signed (protocol.encode) and POSTed through the registry"
        " app (TestClient) to PostgreSQL; each push applies, indexes and searches its enrolments"
        " before it returns; s = wall time of the whole drain, sign/POST ms per batch",
        [
            "run",
            "changes",
            "enrolments",
            "templates so far",
            "batches",
            "s",
            "changes/s",
            "sign p50",
            "POST p50",
            "POST p99",
        ],
        rows,
    )
    rate = rows[1][6]
    extrapolated = 100_000 / float(rate)  # type: ignore[arg-type]
    print(f"(outbox changes built client-side in {build_s:.0f} s, not counted)")
    print(f"100,000-change backlog drain: {'measured' if args.backlog >= 100_000 else 'extrapolated linearly from'}"
          f" {args.backlog:,} changes: {extrapolated:.0f} s ({extrapolated / 60:.1f} min); the"
          " duplicate search grows with the national gallery, so a larger gallery drains slower")  # fmt: skip
    print_table(
        f"Enrolment pushed (one change, 3-5 templates) to searchable at the registry, ms;"
        f" national gallery {gallery:,} templates; checked by a search after each push",
        ["pushes", "p50", "p95", "p99"],
        [[args.singles, *searchable]],
    )


# ------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options; paths default to the shared folders next to the repository."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    shared = REPO.parent / "shared"
    parser.add_argument("--models", type=Path, default=shared / "models", metavar="DIR")
    parser.add_argument(
        "--dev", type=Path, default=shared / "data" / "faces" / "dev", metavar="DIR"
    )
    parser.add_argument("--size", type=int, default=1_000_000, help="national gallery size")
    parser.add_argument("--compare-size", type=int, default=200_000, help="IVF vs HNSW size")
    parser.add_argument("--samples", type=int, default=200, help="single queries timed per case")
    parser.add_argument("--backlog", type=int, default=100_000, help="backlog changes drained")
    parser.add_argument("--enrol-only", type=int, default=2_000, help="pure-enrolment changes")
    parser.add_argument("--enrol-share", type=float, default=0.25)
    parser.add_argument("--singles", type=int, default=50, help="single-enrolment pushes")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--skip-sync", action="store_true")
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--quick", action="store_true", help="200k, compare at 50k, 4k backlog")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.compare_size, args.samples = 200_000, 50_000, 50
        args.backlog, args.enrol_only, args.singles = 4_000, 500, 10
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Embed, model the crowd, measure search, measure sync, print."""
    import tempfile
    from importlib.metadata import version

    args = parse_args(argv)
    started = time.perf_counter()
    print(f"Gerbang national search and sync benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(
        f"python {sys.version.split()[0]}, faiss-cpu {version('faiss-cpu')}, numpy {np.__version__}"
    )
    print(
        f"size {args.size:,}, compare {args.compare_size:,}, backlog {args.backlog:,}, quick {args.quick}"
    )
    print(f"load average (1/5/15 min) at start: {load_text()}\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="gerbang-national-") as scratch:
        templates = embed_dev(args.models, args.dev, Path(scratch), 3 if args.quick else 1)
    real, model = split_real(templates)
    print(f"{len(real.gallery)} real people in the gallery, {len(real.probes)} real probes;"
          f" crowd model: {model.source} ({time.perf_counter() - started:.0f} s)\n", flush=True)  # fmt: skip
    if not args.skip_search:
        compare_kinds(args.compare_size, real, model, args)
        measure_search(real, model, args)
    if not args.skip_sync:
        measure_sync(model, args)
    took = time.perf_counter() - started
    print(f"peak RSS {peak_mb():.0f} MB")
    print(f"load average (1/5/15 min) at end: {load_text()}; run took {took:.0f} s")


if __name__ == "__main__":
    main()
