"""A day at the gate with and without fingers: the same visitor exits and escapes, decided on the
face alone and on face + finger.

    EDGE_MODEL_DIR=/work/shared/models python -m bench.gate_day_fingers \
        var/openset-open-yunet-dlib.npz --fingers /work/shared/data/fingerprints [--quick]
        [--inmates 2000 (adds gate_day's modelled crowd, without fingers)]
        [--extractor leader --template-cache var/finger-templates]

(run from the repository's root, as a module: it imports bench/gate_day.py.)

The day is bench/gate_day.py's (its enrolment, thresholds and face-only decision are imported):
per population, real inmates (3 captures each) and visitors from the open-set photos, `--exits`
visitor exits with `--inside` visitors inside, and every real inmate's other photos trying the
exit dressed as a visitor, beside the visitor inside who looks most like them. `--inmates`
beyond the real ones adds gate_day's modelled crowd, which has no fingers (face alone for them).

With fingers, each person is chimeric: their face identity and a pair of real FVC fingers
(bench/gate_day_prints.py; impressions 1-3 enrolled, one of 4-8 pressed at each passage, a
random finger of the two). 69 fingers make 34 pairs, far fewer than the people of a population,
so fingers are reused, and only where reuse cannot make a false match that would not exist:
- the pairs are split in two pools: `--inmate-pairs` of them for inmates, the rest for visitors,
  so no visitor ever presents a finger an inmate holds;
- inmates take the inmate pairs in turn: inmates sharing a pair meet in every inmate search,
  but an escaping inmate's finger scores exactly the same against a twin as against themself
  (same enrolled prints), so whether they are caught hardly changes (only the fused evidence
  differs, by the twin's face); what reuse does change is
  the number of distinct inmate fingers a visitor's finger is compared with (the pairs, not the
  inmates): finger false ALARMs from a gallery this size are understated, by up to inmates/pairs;
- visitors take the visitor pairs in turn, and a visitor never leaves while a visitor sharing
  their pair is inside (the visitors inside are drawn from the others), so their finger meets
  only their own enrolled prints and strangers'.
Each exit with a finger is decided as edge/gate/visitors.py decides a visitor exit with a
required finger: the inmate search (kind gate_inmate, rule `either`) and the visitor-inside
search (visitor_exit) through the service's own FusedSearch and decide_fused, three ways (WAYS):
rule `both` (the first design), rule `together` (the service's), and `together` with a second
press of the same finger after a denial on the finger, decided afresh as a new passage; with
the fusion model shipped for the pack and the extractor (models/calibrations/fusion-<pack>-mcc.json
for NBIS minutiae, fusion-<pack>-leader-mcc.json for LEADER's) and the face
thresholds of the site's open-set calibration; the look-alike rule as the service applies it;
an unreadable finger denies the exit (finger_unusable). The fused search scores a face on its
threshold's scale, as FusedSearch does (S-norm against the site's cohort by default, the cosine
kept for the veto); EDGE_MATCH__COHORT_SIZE=0 keeps everything on cosines.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench import gate_day as gd
from bench.gate_day_prints import DayFusedSearch, Prints, SiteFingers, load_prints, presented
from edge import wiring
from edge.settings import Settings
from gallery_sync.gallery import Candidate
from models.fingerprint import extractors
from models.fusion import FusionModel

INMATE_SHARE = 0.75  # of the finger pairs, for inmates (their diversity bounds finger false alarms)
FACE = "face alone"


@dataclass
class Tally:
    """One way of deciding a population's day."""

    alarms: Counter[str] = field(default_factory=Counter)  # by the evidence that named the inmate
    admitted: int = 0
    admitted_wrong: int = 0
    denied: Counter[str] = field(default_factory=Counter)
    caught: int = 0
    finger_prints: set[Any] = field(default_factory=set)  # presented prints of finger ALARMs
    named: int = 0

    def add_exit(self, verdict: str, who: str | None, reason: str, leaver: str,
                 pressed: Any = None) -> None:  # fmt: skip
        if verdict == "alarm":
            self.alarms[reason] += 1
            if reason == "finger":  # false finger matches repeat with the print: how many prints
                self.finger_prints.add(pressed.print_key)
        elif verdict == "admit":
            self.admitted += 1
            self.admitted_wrong += who != leaver
        else:
            self.denied[reason] += 1


@dataclass(frozen=True)
class Way:
    """How a visitor exit with a finger is decided: the visitor-inside rule, and how many presses
    a visitor may make (a second only after a denial on the finger)."""

    label: str
    rule: str
    presses: int


WAYS = (
    Way("face + finger, each at its threshold (rule both)", "both", 1),
    Way("face + finger fused (rule together)", "together", 1),
    Way("fused, a second press after a finger denial", "together", 2),
)
AGAIN = ("finger_mismatch", "finger_unusable")  # denials the kiosk answers with "press again"


def exit_with_finger(site: gd.Enrolled, limits: gd.Thresholds, search: DayFusedSearch,
                     template: np.ndarray, finger: Any, inside: list[str], rule: str = "together"
                     ) -> tuple[str, str | None, str]:  # fmt: skip
    """VisitorPassages.visitor_exit with a finger required, for one face: (verdict, who, reason)."""
    gallery, open_set = site.gallery, limits.open_set
    t_inmate, cohort = limits.setting(gallery, ("inmate",), ("active",), None)
    inmate, people = _best(search, gallery, template, finger, ("inmate",), ("active",), None,
                           t_inmate, cohort, open_set, "gate_inmate", "either")  # fmt: skip
    t_visitor, v_cohort = limits.setting(gallery, ("visitor",), None, inside)
    visitor, v_people = _best(search, gallery, template, finger, ("visitor",), None, inside,
                              t_visitor, v_cohort, open_set, "visitor_exit", rule)  # fmt: skip
    if inmate is not None:
        person = people.get(inmate.identity_id)
        face_only = person is None or not (person.finger_match or person.fused_match)
        if not (face_only and _lookalike(limits, inmate, visitor, t_visitor)):
            return "alarm", inmate.identity_id, _named_by(person)
    if search.fingers.prints.presented.get(finger.print_key) is not None:  # type: ignore[attr-defined]
        return "deny", None, "finger_unusable"
    if visitor is None:
        by_face = any(p.face_match for p in v_people.values())
        own = v_people.get(inside[0])  # the leaver's own evidence, when shortlisted
        why = "" if own is None else f" ({_missed_by(own)})"
        return "deny", None, f"finger_mismatch{why}" if by_face else "no_open_visit"
    if (
        v_people.get(visitor.identity_id) is None
        or v_people[visitor.identity_id].finger_score is None
    ):
        return "deny", visitor.identity_id, "finger_not_enrolled"
    return "admit", visitor.identity_id, "visitor_exit_matched"


def _named_by(person: Any) -> str:
    """Which evidence named an inmate: face, finger, fused (only) or face alone (no finger)."""
    if person is None or not person.used or person.used == ("face",):
        return "face"
    return "finger" if person.finger_match else "face" if person.face_match else "fused"


def _missed_by(person: Any) -> str:
    """Why the visitor-inside rule did not match the leaver's own evidence."""
    support = person.finger_support
    below = (
        person.finger_score is not None and support is not None and person.finger_score < support
    )
    fused_below = person.fused_score is not None and not person.fused_match
    reasons = [
        (person.veto is not None, f"veto {person.veto}"),
        (below, "own finger below its support"),
        (
            fused_below and not (person.face_match or person.finger_match),
            "own face and finger below",
        ),
        (fused_below and person.face_match and person.finger_match, "fused below"),
        (fused_below and person.face_match, "own finger below"),
        (not person.face_match, "own face below"),
        (not person.finger_match, "own finger below"),
    ]
    return next((why for hit, why in reasons if hit), "fused below")


def _best(search: DayFusedSearch, gallery: Any, template: np.ndarray, finger: Any,
          roles: tuple[str, ...], statuses: tuple[str, ...] | None, only: list[str] | None,
          threshold: float, cohort: Any, open_set: Any, kind: str, rule: str
          ) -> tuple[Candidate | None, dict[str, Any]]:  # fmt: skip
    """GateSteps._best_scored for the subject: the face candidates at or above the threshold,
    giving way to the fused matches under the kind's rule when the finger is usable."""
    found = gallery.search(template, gd.K, roles=roles, statuses=statuses, only_identities=only,
                           cohort=cohort)[0]  # fmt: skip
    above = [c for c in found if c.score >= threshold]
    result = search.search(template, finger, roles, statuses, only, open_set, threshold, kind)
    people = {p.identity_id: p for p in result.people}
    if result.finger_problem is not None:
        return (above[0] if above else None), people
    matches = result.matches(rule)
    if not matches:
        return None, people
    p = matches[0]  # as steps._candidate: the face score, no raw score
    score = p.face_score if p.face_score is not None else -1.0
    return Candidate(p.identity_id, -1, score, roles[0], (statuses or ("active",))[0]), people


def _lookalike(limits: gd.Thresholds, inmate: Candidate, visitor: Candidate | None,
               threshold: float) -> bool:  # fmt: skip
    """VisitorPassages._lookalike for one face at the gate."""
    if limits.lookalike is None:
        return False
    if inmate.raw_score is not None and inmate.raw_score != inmate.score:
        return False  # S-norm scores: the margins are cosines
    return (
        visitor is not None
        and visitor.score >= threshold + limits.lookalike[0]
        and visitor.score >= inmate.score + limits.lookalike[1]
    )


def assign_pairs(site: gd.Enrolled, pop: gd.Population, prints: Prints,
                 share: float) -> tuple[dict[str, tuple[str, str]], dict[int, int]]:  # fmt: skip
    """Person -> finger pair (inmates and visitors from separate pools, each taken in turn),
    and each visitor's pair number (visitors sharing one are never inside together)."""
    n_inmate = min(max(1, round(share * len(prints.pairs))), len(prints.pairs) - 1)
    inmate_pairs, visitor_pairs = prints.pairs[:n_inmate], prints.pairs[n_inmate:]
    people = {pop.names[p]: inmate_pairs[i % len(inmate_pairs)] for i, p in enumerate(site.inmates)}
    visitor_pair = {int(p): i % len(visitor_pairs) for i, p in enumerate(site.visitors)}
    people |= {pop.names[p]: visitor_pairs[k] for p, k in visitor_pair.items()}
    return people, visitor_pair


@dataclass
class Day:
    """A population's day decided each way."""

    population: str
    inmates: int
    modelled: int
    visitors: int
    inmate_pairs: int
    visitor_pairs: int
    exits: int
    escapes: int
    tallies: dict[str, Tally]
    source: str
    scale: str  # of the site's face thresholds: "cosine" or "s-norm"
    seconds: float


def run_day(name: str, pop: gd.Population, args: argparse.Namespace, base: gd.Thresholds,
            service: Any, model: FusionModel, prints: Prints) -> Day:  # fmt: skip
    """Enrol as gate_day does, then every exit and escape decided each way."""
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    site = gd.enrol(pop, args.inmates, lambda _blocks: base, rng)
    limits = service(site.gallery, site.limits)
    people, visitor_pair = assign_pairs(site, pop, prints, args.inmate_share)
    fingers = SiteFingers(prints, people)
    search = DayFusedSearch(site.gallery, fingers, model)
    again = np.random.default_rng(args.seed + 1)  # second presses, apart from the day's draws
    tallies = {way: Tally() for way in (FACE, *(w.label for w in WAYS))}

    def leave(way: Way, vector: np.ndarray, finger: Any, inside: list[str]
              ) -> tuple[tuple[str, str | None, str], Any]:  # fmt: skip
        """One exit decided a way: (verdict, who, reason) and the print that decided it, after
        a second press when the way allows one and the first was denied on the finger."""
        outcome = exit_with_finger(site, limits, search, vector, finger, inside, way.rule)
        if way.presses > 1 and outcome[0] == "deny" and outcome[2].startswith(AGAIN):
            finger = _again(again, prints, args.probes, finger)
            outcome = exit_with_finger(site, limits, search, vector, finger, inside, way.rule)
        return outcome, finger

    for p in rng.choice(list(site.exit_rows), size=args.exits):
        row = int(rng.choice(site.exit_rows[p]))
        others = [
            v for v in site.visitors if v != p and visitor_pair[int(v)] != visitor_pair[int(p)]
        ]
        chosen = rng.choice(others, size=min(args.inside - 1, len(others)), replace=False)
        inside = [pop.names[p]] + [pop.names[v] for v in chosen]
        finger = _pressed(rng, prints, people[pop.names[p]], args.probes)
        verdict, who = gd.decide(site, limits, pop.vectors[row], inside)
        reason = "face" if verdict == "alarm" else "no_open_visit"
        tallies[FACE].add_exit(verdict, who, reason, pop.names[p])
        for way in WAYS:
            outcome, pressed = leave(way, pop.vectors[row], finger, inside)
            tallies[way.label].add_exit(*outcome, pop.names[p], pressed)
    escape_rows = list(site.escape_rows)
    if args.escapes and len(escape_rows) > args.escapes:  # --quick: a seeded sample of them
        escape_rows = sorted(rng.choice(escape_rows, size=args.escapes, replace=False).tolist())
    for row in escape_rows:
        me = pop.names[pop.person[row]]
        nearest = site.gallery.search(pop.vectors[row], 1, roles=("visitor",))[0]
        inside = [nearest[0].identity_id] if nearest else [pop.names[site.visitors[0]]]
        finger = _pressed(rng, prints, people[me], args.probes)
        verdicts = {FACE: gd.decide(site, limits, pop.vectors[row], inside)}
        for way in WAYS:
            verdicts[way.label] = leave(way, pop.vectors[row], finger, inside)[0][:2]
        for way, (verdict, who) in verdicts.items():
            tallies[way].caught += verdict == "alarm"
            tallies[way].named += verdict == "alarm" and who == me
    n_inmate = sum(
        1 for pair in prints.pairs if pair in {people[pop.names[i]] for i in site.inmates}
    )
    return Day(name, len(site.inmates), len(site.synthetic), len(site.visitors), n_inmate,
               len(prints.pairs) - n_inmate, args.exits, len(escape_rows), tallies,
               limits.source, limits.open_set.current.scale, time.perf_counter() - start)  # fmt: skip


def _pressed(rng: np.random.Generator, prints: Prints, pair: tuple[str, str],
             probes: tuple[int, ...]) -> Any:  # fmt: skip
    """One finger of the pair, one of its presented impressions."""
    finger = pair[int(rng.integers(2))]
    return presented(prints, finger, int(rng.choice(probes)))


def _again(rng: np.random.Generator, prints: Prints, probes: tuple[int, ...], first: Any) -> Any:
    """The same finger pressed again: another of its presented impressions."""
    finger, impression = first.print_key
    others = [i for i in probes if i != impression]
    return presented(prints, finger, int(rng.choice(others))) if others else first


def report(days: list[Day], prints: Prints, args: argparse.Namespace, seconds: float) -> str:
    """The Markdown table the README quotes."""
    unusable = sum(1 for v in prints.presented.values() if v is not None)
    lines = [
        *(
            f"{d.population} thresholds: {d.source}; face thresholds on {d.scale} scores, the "
            f"fused search's face score on the same scale ({d.seconds:.0f} s)."
            for d in days
        ),
        f"{len(prints.pairs) * 2} real fingers as {len(prints.pairs)} pairs, {len(prints.enrolled)}"
        f" prints enrolled, {len(prints.presented)} presented ({unusable} unreadable); extraction"
        f" {prints.seconds['extract']:.0f} s, scoring {prints.seconds['score']:.0f} s;"
        f" {args.exits} exits per population, {args.inside} inside, seed {args.seed};"
        f" run time {seconds:.0f} s (1-min load {os.getloadavg()[0]:.1f}).",
        "",
        "| population | inmates (+ modelled, no fingers) / visitors; finger pairs inmates / visitors "
        "| decided on | false ALARMs / 1,000 exits (exits, by the evidence naming the inmate) | inmates dressed as visitors caught (named) "
        "| visitors wrongly denied / 1,000 exits (exits, by reason) | admitted as another visitor |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in days:
        per = 1000 / d.exits
        for n, (way, t) in enumerate(d.tallies.items()):
            who = (f"{d.population}: {d.inmates} (+ {d.modelled}) / {d.visitors}; "
                   f"{d.inmate_pairs} / {d.visitor_pairs}") if n == 0 else ""  # fmt: skip
            label = way
            why = _counts(t.denied)
            lines.append(
                f"| {who} | {label} | {sum(t.alarms.values()) * per:.0f} ({_counts(t.alarms)}{_prints(t)}) "
                f"| {t.caught}/{d.escapes} = "
                f"{t.caught / max(d.escapes, 1):.1%} ({t.named}) | {sum(t.denied.values()) * per:.0f}"
                f" ({why}) | {t.admitted_wrong} |"
            )
    return "\n".join(lines)


def _prints(tally: Tally) -> str:
    """How many distinct presented prints the finger ALARMs came from."""
    n = len(tally.finger_prints)
    names = ", ".join(f"{f} #{i}" for f, i in sorted(tally.finger_prints)[:4])
    return f"; the finger ones from {n} print{'s' if n != 1 else ''}: {names}" if n else ""


def _counts(counts: Counter[str]) -> str:
    """'a 3, b 1', largest first; '-' for none."""
    return ", ".join(f"{k} {v}" for k, v in counts.most_common()) or "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("archive", help="bench/openset_embed.py archive of the open-set photos")
    parser.add_argument("--fingers", default=os.environ.get(
        "GERBANG_FINGERPRINTS", "/work/shared/data/fingerprints"), help="root of the FVC folders")  # fmt: skip
    parser.add_argument("--inmates", type=int, default=0, help="inmates in all (0: the real ones)")
    parser.add_argument("--exits", type=int, default=1000)
    parser.add_argument("--inside", type=int, default=40, help="visitors inside at each exit")
    parser.add_argument("--inmate-share", type=float, default=INMATE_SHARE,
                        help="share of the finger pairs held by inmates")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--escapes", type=int, default=0,
                        help="most escapes tried, a seeded sample (0: every one)")  # fmt: skip
    parser.add_argument("--extractor", choices=extractors.EXTRACTORS, default="nbis",
                        help="minutiae extractor of the fingers (its fusion model decides)")  # fmt: skip
    parser.add_argument("--template-cache", metavar="DIR",
                        help="keep extracted minutiae here for the next run (not in git)")  # fmt: skip
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 200 exits, 200 escapes, 20 fingers, impressions 4-5")  # fmt: skip
    args = parser.parse_args(argv)
    start = time.perf_counter()
    limit, args.probes = None, (4, 5, 6, 7, 8)
    if args.quick:
        args.exits, limit, args.probes = 200, 20, (4, 5)
        args.escapes = args.escapes or 200
    settings = Settings()
    pack_id = wiring.engine_spec(settings).pack.id
    service = gd.service_rule(settings, pack_id)
    if service is None:
        raise SystemExit("this main has no open-set thresholds: the fused search needs them")
    base = gd.thresholds(settings, pack_id, args.inmates, args.inside)
    extractor = extractors.named(args.extractor, wiring.model_store(settings))
    model = FusionModel.load(wiring.calibration_path(settings, extractor.fusion_id(pack_id)))
    extract = extractor.extract
    if args.template_cache:  # LEADER takes about 0.4 s a print: keep them for the next run
        extract = extractors.CachedExtractor(extract, extractor.name, Path(args.template_cache))
    prints = load_prints(Path(args.fingers), args.seed, limit, args.probes, extract)
    print(f"fingers: {len(prints.pairs)} pairs scored", file=sys.stderr)
    days = []
    for name, prefixes in gd.POPULATIONS.items():
        pop = gd.load_population(Path(args.archive), prefixes)
        days.append(run_day(name, pop, args, base, service, model, prints))
        print(f"{name}: done", file=sys.stderr)
    print(report(days, prints, args, time.perf_counter() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
