"""The FAISS gallery against NumPy brute force on seeded vectors, and its bookkeeping."""

from __future__ import annotations

import threading
import uuid

import numpy as np
import pytest

from gallery_sync.gallery import Candidate, GalleryEntry, GalleryIndex
from models.openset import identity_template

DIM = 128
KINDS = [
    ("inmate", "active"),
    ("inmate", "released"),
    ("staff", "active"),
    ("visitor", "active"),
    ("visitor", "banned"),
]


def unit_rows(rng: np.random.Generator, count: int, dim: int = DIM) -> np.ndarray:
    """Random L2-normalised float32 rows."""
    rows = rng.standard_normal((count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def person_id(rng: np.random.Generator) -> str:
    """A reproducible UUID string."""
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def random_gallery(seed: int, people: int = 150, dim: int = DIM) -> list[GalleryEntry]:
    """People of mixed role and status with 1-5 templates each, under sparse large template ids."""
    rng = np.random.default_rng(seed)
    per_person = rng.integers(1, 6, size=people)
    ids = rng.choice(10**12, size=int(per_person.sum()), replace=False) + 1
    vectors = unit_rows(rng, len(ids), dim)
    entries, row = [], 0
    for count in per_person:
        identity_id = person_id(rng)
        role, status = KINDS[rng.integers(len(KINDS))]
        for _ in range(count):
            entries.append(GalleryEntry(int(ids[row]), identity_id, role, status, vectors[row]))
            row += 1
    return entries


def gallery_of(entries: list[GalleryEntry], dim: int = DIM) -> GalleryIndex:
    """A gallery holding these entries."""
    gallery = GalleryIndex(dim)
    gallery.add(entries)
    return gallery


def queries_for(entries: list[GalleryEntry], seed: int, count: int = 40) -> np.ndarray:
    """Half random directions, half noisy copies of stored templates (close matches)."""
    rng = np.random.default_rng(seed)
    dim = len(entries[0].vector)
    picked = np.stack([entries[i].vector for i in rng.choice(len(entries), count // 2)])
    near = picked + 0.05 * rng.standard_normal(picked.shape).astype(np.float32)
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    return np.vstack([unit_rows(rng, count - count // 2, dim), near]).astype(np.float32)


Answer = list[list[tuple[str, int, float]]]


def brute_force(
    entries: list[GalleryEntry],
    queries: np.ndarray,
    k: int,
    roles: set[str] | None = None,
    statuses: set[str] | None = None,
    only: set[str] | None = None,
    by: str = "identity",
) -> Answer:
    """Matrix product, per-identity score, sort: the answer the gallery must give. By identity:
    the score against the normalised mean of the person's captures, with their best capture's
    template id; by capture: the best capture's score."""
    kept = [
        e
        for e in entries
        if (roles is None or e.role in roles)
        and (statuses is None or e.status in statuses)
        and (only is None or e.identity_id in only)
    ]
    if not kept:
        return [[] for _ in queries]
    scores = queries @ np.stack([e.vector for e in kept]).T
    answers: Answer = []
    for row in scores:
        best: dict[str, tuple[float, int]] = {}
        for entry, score in zip(kept, row.tolist(), strict=True):
            if entry.identity_id not in best or score > best[entry.identity_id][0]:
                best[entry.identity_id] = (score, entry.template_id)
        if by == "identity":
            query = queries[len(answers)]
            best = {
                person: (float(query @ identity_template(vectors_of_person(kept, person))), tid)
                for person, (_, tid) in best.items()
            }
        ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))[:k]
        answers.append([(person, tid, score) for person, (score, tid) in ranked])
    return answers


def vectors_of_person(entries: list[GalleryEntry], person: str) -> np.ndarray:
    """One person's capture vectors, stacked."""
    return np.stack([e.vector for e in entries if e.identity_id == person])


def assert_same_answers(got: list[list[Candidate]], expected: Answer) -> None:
    """Same people and templates in the same order, scores equal to float32 precision."""
    assert len(got) == len(expected)
    for candidates, wanted in zip(got, expected, strict=True):
        assert [(c.identity_id, c.template_id) for c in candidates] == [w[:2] for w in wanted]
        np.testing.assert_allclose([c.score for c in candidates], [w[2] for w in wanted], atol=1e-5)


@pytest.mark.parametrize("k", [1, 5, 40, 1000])
def test_search_matches_numpy_brute_force_without_filters(k):
    entries = random_gallery(seed=1)
    queries = queries_for(entries, seed=2)
    assert_same_answers(gallery_of(entries).search(queries, k), brute_force(entries, queries, k))


def test_search_matches_brute_force_at_512_dimensions():
    entries = random_gallery(seed=3, people=60, dim=512)
    queries = queries_for(entries, seed=4)
    got = gallery_of(entries, dim=512).search(queries, 7)
    assert_same_answers(got, brute_force(entries, queries, 7))


@pytest.mark.parametrize(
    ("roles", "statuses"),
    [
        ({"inmate"}, {"active"}),
        ({"visitor"}, {"banned"}),
        ({"visitor"}, None),
        (None, {"active"}),
        ({"inmate", "staff"}, {"active", "released"}),
        ({"staff"}, {"banned"}),  # nobody: empty answers, not an error
    ],
)
def test_search_matches_brute_force_when_filtered_by_role_and_status(roles, statuses):
    entries = random_gallery(seed=5)
    queries = queries_for(entries, seed=6)
    got = gallery_of(entries).search(queries, 5, roles=roles, statuses=statuses)
    assert_same_answers(got, brute_force(entries, queries, 5, roles, statuses))


@pytest.mark.parametrize("roles", [None, {"visitor"}])
def test_search_matches_brute_force_when_limited_to_some_identities(roles):
    entries = random_gallery(seed=7)
    gallery = gallery_of(entries)
    rng = np.random.default_rng(8)
    people = sorted({e.identity_id for e in entries})
    for trial in range(10):
        only = set(rng.choice(people, size=int(rng.integers(1, 30)), replace=False).tolist())
        only.add(f"unknown-{trial}")  # people without templates are simply absent
        queries = queries_for(entries, seed=100 + trial, count=10)
        got = gallery.search(queries, 4, roles=roles, only_identities=only)
        assert_same_answers(got, brute_force(entries, queries, 4, roles, only=only))


def test_search_limited_to_nobody_finds_nobody():
    entries = random_gallery(seed=9, people=20)
    assert gallery_of(entries).search(entries[0].vector, 3, only_identities=[]) == [[]]


def test_one_query_vector_gives_one_result_list():
    entries = random_gallery(seed=10, people=20)
    (found,) = gallery_of(entries).search(entries[0].vector, 1)
    assert found[0].template_id == entries[0].template_id
    assert found[0].capture_score == pytest.approx(1.0, abs=1e-5)


def test_several_templates_of_one_person_collapse_to_their_best():
    rng = np.random.default_rng(11)
    vectors = unit_rows(rng, 6)
    same = person_id(rng)
    entries = [GalleryEntry(i + 1, same, "inmate", "active", vectors[i]) for i in range(4)]
    entries += [
        GalleryEntry(10 + i, person_id(rng), "inmate", "active", vectors[4 + i]) for i in range(2)
    ]
    (found,) = gallery_of(entries).search(vectors[2], 10, by="capture")
    assert [c.identity_id for c in found].count(same) == 1
    assert len(found) == 3  # three people, although six templates
    assert found[0] == Candidate(same, 3, pytest.approx(1.0, abs=1e-5), "inmate", "active")
    # By identity (the default): one score against the mean of the four, best capture as evidence
    (by_identity,) = gallery_of(entries).search(vectors[2], 10)
    mine = next(c for c in by_identity if c.identity_id == same)
    assert mine.template_id == 3 and mine.capture_score == pytest.approx(1.0, abs=1e-5)
    assert mine.score == pytest.approx(float(vectors[2] @ identity_template(vectors[:4])), abs=1e-5)


def test_search_by_capture_matches_brute_force() -> None:
    entries = random_gallery(seed=1)
    queries = queries_for(entries, seed=2)
    assert_same_answers(
        gallery_of(entries).search(queries, 5, by="capture"),
        brute_force(entries, queries, 5, by="capture"),
    )


def test_identity_templates_follow_every_change() -> None:
    entries = random_gallery(seed=21, people=30)
    gallery = gallery_of(entries)
    person = entries[0].identity_id
    theirs = [e for e in entries if e.identity_id == person]
    gallery.remove([theirs[0].template_id])
    left = [e for e in entries if e.template_id != theirs[0].template_id]
    queries = queries_for(entries, seed=22)
    assert_same_answers(gallery.search(queries, 5), brute_force(left, queries, 5))
    if len(theirs) > 1:
        np.testing.assert_allclose(
            gallery.identity_vector(person),
            identity_template(vectors_of_person(left, person)),
            atol=1e-6,
        )
    gallery.remove_identity(person)
    assert gallery.identity_vector(person) is None
    assert gallery.people() == len({e.identity_id for e in left}) - 1
    assert gallery.people(roles={"visitor"}) == len(
        {e.identity_id for e in left if e.role == "visitor" and e.identity_id != person}
    )


def test_banned_visitor_is_no_longer_found_among_active_visitors():
    entries = random_gallery(seed=12, people=40)
    gallery = gallery_of(entries)
    visitor = next(e for e in entries if (e.role, e.status) == ("visitor", "active"))
    templates = sorted(e.template_id for e in entries if e.identity_id == visitor.identity_id)
    before = {t: gallery.vector(t) for t in templates}

    assert gallery.set_status(visitor.identity_id, "banned") == len(templates)

    active = gallery.search(visitor.vector, 50, roles={"visitor"}, statuses={"active"})[0]
    banned = gallery.search(visitor.vector, 1, roles={"visitor"}, statuses={"banned"})[0]
    assert visitor.identity_id not in {c.identity_id for c in active}
    assert banned[0].identity_id == visitor.identity_id
    assert banned[0].status == "banned"
    for template_id, vector in before.items():
        np.testing.assert_array_equal(gallery.vector(template_id), vector)
        assert gallery.snapshot()[template_id] == (visitor.identity_id, "visitor", "banned")
    assert len(gallery) == len(entries)


def test_moved_people_are_searched_exactly_in_their_new_partition():
    entries = random_gallery(seed=13)
    gallery = gallery_of(entries)
    people = sorted({e.identity_id for e in entries if e.role == "visitor"})[:10]
    for person in people:
        gallery.set_status(person, "banned")
    moved = [e._replace(status="banned") if e.identity_id in people else e for e in entries]
    queries = queries_for(entries, seed=14)
    for statuses in ({"banned"}, {"active"}):
        got = gallery.search(queries, 6, roles={"visitor"}, statuses=statuses)
        assert_same_answers(got, brute_force(moved, queries, 6, {"visitor"}, statuses))


def test_set_status_to_the_same_status_or_of_an_unknown_person_moves_nothing():
    entries = random_gallery(seed=15, people=10)
    gallery = gallery_of(entries)
    assert gallery.set_status(entries[0].identity_id, entries[0].status) == 0
    assert gallery.set_status("nobody", "banned") == 0
    with pytest.raises(ValueError, match="unknown status"):
        gallery.set_status(entries[0].identity_id, "deported")


def test_removed_templates_are_no_longer_found():
    entries = random_gallery(seed=16, people=30)
    gallery = gallery_of(entries)
    gone = [entries[0].template_id, entries[5].template_id]
    assert gallery.remove([*gone, 999, gone[0]]) == 2  # unknown and repeated ids are ignored
    kept = [e for e in entries if e.template_id not in gone]
    queries = queries_for(entries, seed=17)
    assert_same_answers(gallery.search(queries, 5), brute_force(kept, queries, 5))
    assert len(gallery) == len(kept)
    with pytest.raises(KeyError):
        gallery.vector(gone[0])


def test_removing_an_identity_removes_all_their_templates():
    entries = random_gallery(seed=18, people=30)
    gallery = gallery_of(entries)
    person = max({e.identity_id for e in entries}, key=[e.identity_id for e in entries].count)
    theirs = [e for e in entries if e.identity_id == person]
    assert gallery.remove_identity(person) == len(theirs)
    assert gallery.remove_identity(person) == 0
    assert not {e.template_id for e in theirs} & gallery.snapshot().keys()
    found = gallery.search(theirs[0].vector, 100)[0]
    assert person not in {c.identity_id for c in found}


def test_replacing_an_identity_moves_only_what_differs_and_matches_brute_force():
    entries = random_gallery(seed=40, people=30)
    gallery = gallery_of(entries)
    person = max({e.identity_id for e in entries}, key=[e.identity_id for e in entries].count)
    theirs = [e for e in entries if e.identity_id == person]
    assert not gallery.replace_identity(person, theirs)  # unchanged: nothing moves
    version = gallery.version
    fresh = unit_rows(np.random.default_rng(41), 2)
    kept = theirs[:1]
    added = [GalleryEntry(10**13 + n, person, kept[0].role, "released", v) for n, v in enumerate(fresh)]  # fmt: skip
    now = [kept[0]._replace(status="released"), *added]
    assert gallery.replace_identity(person, now) and gallery.version > version
    rest = [e for e in entries if e.identity_id != person]
    assert gallery.compare_with(database_rows(rest + now)).ok
    queries = queries_for(rest + now, seed=42)
    assert_same_answers(gallery.search(queries, 3), brute_force(rest + now, queries, 3))
    assert gallery.replace_identity(person, []) and person not in gallery.identity_statuses(
        [person]
    )


def test_replacing_takes_a_template_id_from_its_former_owner_and_refuses_bad_entries_whole():
    entries = random_gallery(seed=43, people=10)
    gallery = gallery_of(entries)
    taken = entries[0]
    newcomer = GalleryEntry(taken.template_id, "orang-baru", "visitor", "active", taken.vector)
    assert gallery.replace_identity("orang-baru", [newcomer])
    assert gallery.snapshot()[taken.template_id] == ("orang-baru", "visitor", "active")
    before = gallery.snapshot()
    bad = GalleryEntry(10**13, "orang-baru", "visitor", "active", np.zeros(DIM, np.float32))
    with pytest.raises(ValueError):
        gallery.replace_identity("orang-baru", [newcomer, bad])
    with pytest.raises(ValueError):
        gallery.replace_identity("orang-lain", [newcomer])  # not theirs
    assert gallery.snapshot() == before


def test_an_id_given_again_to_the_same_person_with_a_new_vector_takes_the_new_vector():
    """A re-enrolment deletes a person's newest templates and SQLite gives their ids to the new
    captures: same ids, same person, other faces. The old vectors must not stay."""
    entries = random_gallery(seed=44, people=5)
    gallery = gallery_of(entries)
    person = entries[0].identity_id
    theirs = [e for e in entries if e.identity_id == person]
    fresh = unit_rows(np.random.default_rng(45), len(theirs))
    redone = [e._replace(vector=v) for e, v in zip(theirs, fresh, strict=True)]
    assert gallery.replace_identity(person, redone)
    rest = [e for e in entries if e.identity_id != person]
    assert gallery.compare_with(database_rows(rest + redone)).ok
    assert not gallery.replace_identity(person, redone)


def test_listeners_hear_once_after_a_block_of_changes_and_other_threads_are_not_held():
    entries = random_gallery(seed=46, people=6)
    gallery = gallery_of(entries)
    heard: list[str] = []
    gallery.subscribe(lambda _: heard.append(threading.current_thread().name))
    people = sorted({e.identity_id for e in entries})
    with gallery.listeners_after():
        gallery.remove_identity(people[0])
        gallery.remove_identity(people[1])
        other = threading.Thread(target=gallery.remove_identity, args=(people[2],), name="other")
        other.start()
        other.join()
        assert heard == ["other"]  # another thread's change is told at once
    assert heard == ["other", threading.current_thread().name]  # this block's, once, at its end


def test_duplicate_template_id_is_refused_and_the_batch_left_out():
    entries = random_gallery(seed=19, people=10)
    gallery = gallery_of(entries)
    fresh = random_gallery(seed=20, people=3)
    with pytest.raises(ValueError, match="duplicate"):
        gallery.add([*fresh, entries[0]._replace(identity_id=fresh[0].identity_id)])
    with pytest.raises(ValueError, match="duplicate"):
        gallery.add([fresh[0], fresh[0]])
    assert len(gallery) == len(entries)
    assert gallery.snapshot().keys() == {e.template_id for e in entries}


def nonunit(vector: np.ndarray) -> np.ndarray:
    """Just outside the unit-norm tolerance."""
    return vector * 1.01


def with_nan(vector: np.ndarray) -> np.ndarray:
    """One element not a number."""
    broken = vector.copy()
    broken[3] = np.nan
    return broken


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda v: v[:64], "expected shape"),
        (lambda v: np.concatenate([v, v]) / np.sqrt(2), "expected shape"),
        (nonunit, "not L2-normalised"),
        (np.zeros_like, "not L2-normalised"),
        (with_nan, "NaN"),
    ],
)
def test_bad_vectors_are_refused(change, message):
    entry = random_gallery(seed=21, people=1)[0]
    gallery = GalleryIndex(DIM)
    with pytest.raises(ValueError, match=message):
        gallery.add([entry._replace(vector=change(entry.vector))])
    with pytest.raises(ValueError, match=message):
        gallery.search(change(entry.vector), 1)
    assert len(gallery) == 0


def test_vector_within_unit_tolerance_is_accepted():
    entry = random_gallery(seed=22, people=1)[0]
    gallery = gallery_of([entry._replace(vector=entry.vector * (1 + 5e-4))])
    assert len(gallery) == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("template_id", 0, "positive int64"),
        ("template_id", -1, "positive int64"),
        ("template_id", 2**63, "positive int64"),
        ("template_id", True, "positive int64"),
        ("template_id", "7", "positive int64"),
        ("identity_id", "", "non-empty"),
        ("role", "guard", "unknown role"),
        ("status", "actve", "unknown status"),
    ],
)
def test_bad_metadata_is_refused(field, value, message):
    entry = random_gallery(seed=23, people=1)[0]
    with pytest.raises(ValueError, match=message):
        GalleryIndex(DIM).add([entry._replace(**{field: value})])


def test_one_person_cannot_hold_templates_under_two_statuses():
    entries = random_gallery(seed=24, people=2)
    gallery = gallery_of(entries[:1])
    other_status = "banned" if entries[0].status != "banned" else "active"
    split = entries[0]._replace(template_id=10**13, status=other_status)
    with pytest.raises(ValueError, match="use set_status"):
        gallery.add([split])
    with pytest.raises(ValueError, match="use set_status"):
        GalleryIndex(DIM).add([entries[0], split])


@pytest.mark.parametrize(
    "filters",
    [
        {"roles": {"guard"}},
        {"statuses": {"actve"}},
        {"roles": "visitor"},
        {"only_identities": "0b7f6a3e-0000-4000-8000-000000000000"},
    ],
)
def test_search_refuses_unknown_filter_names_and_bare_strings(filters):
    entries = random_gallery(seed=25, people=5)
    with pytest.raises(ValueError):
        gallery_of(entries).search(entries[0].vector, 3, **filters)


def test_search_refuses_k_below_one():
    entries = random_gallery(seed=26, people=5)
    with pytest.raises(ValueError, match="k must be"):
        gallery_of(entries).search(entries[0].vector, 0)


def database_rows(entries: list[GalleryEntry]) -> dict[int, tuple[str, str, str, np.ndarray]]:
    """What `gerbang gallery check` reads from the templates and identities tables."""
    return {e.template_id: (e.identity_id, e.role, e.status, e.vector) for e in entries}


def test_compare_with_finds_nothing_when_index_matches_the_database():
    entries = random_gallery(seed=27, people=40)
    diff = gallery_of(entries).compare_with(database_rows(entries))
    assert diff.ok
    assert diff.missing_in_index == diff.extra_in_index == []


def test_compare_with_detects_each_kind_of_difference():
    entries = random_gallery(seed=28, people=40)
    gallery = gallery_of(entries)
    rows = database_rows(entries)
    missing, extra, relabelled, changed, tiny = (e.template_id for e in entries[:5])
    gallery.remove([missing])
    del rows[extra]
    identity_id, role, status, vector = rows[relabelled]
    rows[relabelled] = ("someone-else", role, status, vector)
    identity_id, role, status, vector = rows[changed]
    bumped = vector.copy()
    bumped[0] += 1e-3
    rows[changed] = (identity_id, role, status, bumped)
    identity_id, role, status, vector = rows[tiny]
    rows[tiny] = (identity_id, role, status, vector + 1e-6)  # within tolerance: not a difference

    diff = gallery.compare_with(rows)

    assert not diff.ok
    assert diff.missing_in_index == [missing]
    assert diff.extra_in_index == [extra]
    assert diff.wrong_metadata == [relabelled]
    assert diff.wrong_vector == [changed]


def test_compare_with_flags_a_database_vector_of_the_wrong_length():
    entries = random_gallery(seed=29, people=3)
    rows = database_rows(entries)
    identity_id, role, status, vector = rows[entries[0].template_id]
    rows[entries[0].template_id] = (identity_id, role, status, vector[:10])
    assert gallery_of(entries).compare_with(rows).wrong_vector == [entries[0].template_id]


def test_snapshot_and_counts_describe_the_contents():
    entries = random_gallery(seed=30, people=50)
    gallery = gallery_of(entries)
    assert gallery.snapshot() == {e.template_id: (e.identity_id, e.role, e.status) for e in entries}
    expected: dict[tuple[str, str], int] = {}
    for e in entries:
        expected[(e.role, e.status)] = expected.get((e.role, e.status), 0) + 1
    assert gallery.counts() == expected
    assert len(gallery) == len(entries)


def test_rebuild_replaces_the_whole_gallery():
    old, new = random_gallery(seed=31, people=20), random_gallery(seed=32, people=15)
    gallery = gallery_of(old)
    gallery.rebuild(iter(new))
    assert gallery.compare_with(database_rows(new)).ok
    queries = queries_for(new, seed=33)
    assert_same_answers(gallery.search(queries, 3), brute_force(new, queries, 3))


def test_rebuild_with_a_bad_entry_keeps_the_old_gallery():
    old = random_gallery(seed=34, people=20)
    gallery = gallery_of(old)
    with pytest.raises(ValueError):
        gallery.rebuild([old[0], old[0]])
    assert gallery.compare_with(database_rows(old)).ok


def test_searches_run_safely_while_another_thread_adds():
    initial = random_gallery(seed=35, people=100)
    later = random_gallery(seed=36, people=300)
    taken = {e.template_id for e in initial}
    later = [e for e in later if e.template_id not in taken]
    gallery = gallery_of(initial)
    queries = queries_for(initial, seed=37, count=4)
    people = [e.identity_id for e in initial[:50]]
    errors: list[BaseException] = []
    searching, done = threading.Event(), threading.Event()

    def add_in_batches() -> None:
        try:
            searching.wait(timeout=10)  # make sure the adds overlap with searches
            for start in range(0, len(later), 20):
                gallery.add(later[start : start + 20])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    def search_until_done() -> None:
        try:
            while not done.is_set():
                for found in gallery.search(queries, 5, statuses={"active"}, only_identities=None):
                    scores = [c.score for c in found]
                    assert scores == sorted(scores, reverse=True)
                gallery.search(queries, 3, roles={"visitor"}, only_identities=people)
                searching.set()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=search_until_done) for _ in range(3)]
    threads.append(threading.Thread(target=add_in_batches))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert len(gallery) == len(initial) + len(later)
    assert gallery.compare_with(database_rows(initial + later)).ok


def test_best_score_for_one_identity_equals_brute_force() -> None:
    rng = np.random.default_rng(7)
    gallery = GalleryIndex(16)
    vectors = rng.normal(size=(9, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    owners = ["a", "a", "a", "b", "b", "c", "c", "c", "c"]
    gallery.add([GalleryEntry(i + 1, owners[i], "visitor", "active", vectors[i]) for i in range(9)])
    query = vectors[4] + 0.1 * vectors[0]
    query /= np.linalg.norm(query)
    for person in "abc":
        expected = max(float(vectors[i] @ query) for i in range(9) if owners[i] == person)
        assert gallery.best_score_for(query, person) == pytest.approx(expected, abs=1e-6)
    assert gallery.best_score_for(query, "nobody") is None


def test_vectors_of_reads_many_templates_across_partitions_in_the_order_asked() -> None:
    entries = random_gallery(seed=91)
    gallery = gallery_of(entries)
    wanted = [e.template_id for e in entries[::-3]]  # reversed, every partition mixed
    gone = wanted[1]
    gallery.remove([gone])
    ids, vectors = gallery.vectors_of([*wanted, 123])  # 123 was never held
    expected = [tid for tid in wanted if tid != gone]
    assert ids.tolist() == expected
    stored = {e.template_id: e.vector for e in entries}
    assert np.array_equal(vectors, np.stack([stored[tid] for tid in expected]))
