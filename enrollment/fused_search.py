"""Face + finger 1:N: each person's fused evidence, decided at the search kind's target FPIR.

A search over N people at a target FPIR needs a per-person false-match rate
FMR = 1 - (1 - FPIR)^(1/N) (models/fingerprint/identify.py). Every person is decided at that FMR
on whatever evidence there is for them:
- face and finger: each score's impostor tail probability for the population searched (the face
  from the site's open-set calibration, the finger from its fitted impostor tail,
  models/fingerprint/tail.py, or its calibrated points without one), fused as
  -ln p_face - ln p_finger against `tail_threshold` at that FMR (models/fusion.py says why not
  the 1:1 LLR sum), unless one modality is strong evidence against (the veto of models/fusion.py);
- face only (no finger presented, unreadable, or none enrolled for them): the face at the
  site's own open-set threshold for the kind (gallery_sync/openset.py), as without fingers;
- finger only (no face template for them): the finger at its own threshold at that FMR.
A person's finger score is the best over their T stored impressions (of the probe's position if
known), which raises their impostor rate about T-fold: their FMR is divided by T, as for 1:1.
The face score is against the identity template, the score the face-only search decides on.

Four rules read this evidence: `fused` (the decision above: staff, the desk), `either` (an alarm
or a ban: the face alone, the finger alone or the fused evidence; an inmate leaving must match no
inmate by either, a banned face is not hidden by a wrong finger), `together` (a visitor leaving
with a finger: face and finger both present for the same person, their fused evidence above the
threshold, not vetoed, and the finger itself evidence for them, at or above its threshold for a
per-person FMR of FINGER_SUPPORT_FMR, so a confident face does not carry a stranger's finger out;
one with no finger enrolled, by the face) and `both` (face and finger each above its own
threshold, not vetoed: the exit's rule until bench/gate_day_fingers.py showed it denying a third
of visitors, one in six on their own finger; kept for that comparison).
The people scored are the union of the face's and the finger's best; people whose face is not
in the gallery searched (another role or status) are left out, whatever their finger says. A
person with fingers and no face template at all (a national watchlist entry sent with fingers
only) is placed, and counted in the N, by their record's role and status
(enrollment/faceless.py), so a banned visitor's finger alone still names them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from enrollment.faceless import FacelessPeople
from enrollment.fingers import FingerService
from enrollment.fused import FingerProbe
from enrollment.matching import IdentifyResult
from gallery_sync.gallery import GalleryIndex
from gallery_sync.openset import OpenSetThresholds
from kernel.errors import GerbangError, InputError, Message
from models.faces import FloatArray
from models.fingerprint.identify import fmr_for_fpir
from models.fingerprint.mcc import MinutiaeWithCylinders
from models.fingerprint.tail import TailScoreModel
from models.fusion import FusionModel, tail_evidence, tail_threshold
from models.openset import DEFAULT_TARGET_FPIR

RULES = ("fused", "either", "both", "together")


class FingerprintUnusable(InputError):
    code = "fingerprint_unusable"
    message = Message(
        "Sidik jari tidak dapat dipakai untuk pencarian. Bersihkan jari lalu ambil ulang.",
        "The fingerprint cannot be used for the search. Clean the finger and capture again.",
    )


SHORTLIST = 5  # people taken from each modality's ranking before fusing
# Rule `together`: the finger a visitor leaves with must be one a stranger's reaches at most this
# often against a person (divided by the impressions compared), whatever the face says.
FINGER_SUPPORT_FMR = 0.01


@dataclass(frozen=True)
class PersonEvidence:
    """One person's scores and the decision each rule takes on them."""

    identity_id: str
    face_score: float | None  # against the identity template, on the face threshold's scale
    face_threshold: float
    finger_score: float | None  # best MCC score over the person's impressions
    finger_threshold: float | None
    finger_templates: int
    fused_score: float | None  # nats, when both are present
    fused_threshold: float | None
    veto: str | None  # "face_against" / "finger_against"
    used: tuple[str, ...]
    face_cosine: float | None = None  # the raw cosine when face_score is S-norm (the veto's scale)
    finger_support: float | None = None  # the finger score rule `together` needs at least

    @property
    def face_match(self) -> bool:
        return self.face_score is not None and self.face_score >= self.face_threshold

    @property
    def finger_match(self) -> bool:
        return (
            self.finger_score is not None
            and self.finger_threshold is not None
            and self.finger_score >= self.finger_threshold
        )

    @property
    def fused_match(self) -> bool:
        """The fused decision: both fused (no veto), or the modality present alone."""
        if self.fused_score is not None and self.fused_threshold is not None:
            return self.fused_score >= self.fused_threshold and self.veto is None
        return self.face_match if self.face_score is not None else self.finger_match

    def matches(self, rule: str) -> bool:
        """This person's answer under a rule (see the module)."""
        if rule == "either":
            return self.fused_match or self.face_match or self.finger_match
        if rule in ("both", "together"):  # no finger enrolled for them: the face decides (the
            if self.finger_score is None:  # gate checks a required finger, finger_not_enrolled)
                return self.face_match
            if rule == "together":  # both modalities fused, not vetoed, the finger for them
                support = self.finger_support if self.finger_support is not None else -1e9
                return (
                    self.fused_score is not None
                    and self.fused_match
                    and (self.finger_score >= support)
                )
            return self.face_match and self.finger_match and self.veto is None
        return self.fused_match

    def ranking(self) -> float:
        """Best first: fused evidence where there is some, else the score present, as an LLR."""
        return self.fused_score if self.fused_score is not None else -1e9

    def evidence(self, rule: str) -> dict[str, Any]:
        """As stored with a decision."""

        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 6)

        return {
            "identity_id": self.identity_id, "used": list(self.used),
            "face_score": r(self.face_score), "face_cosine": r(self.face_cosine),
            "face_threshold": r(self.face_threshold),
            "finger_score": r(self.finger_score), "finger_threshold": r(self.finger_threshold),
            "finger_templates": self.finger_templates, "finger_support": r(self.finger_support),
            "fused_score": r(self.fused_score),
            "fused_threshold": r(self.fused_threshold), "veto": self.veto, "match": self.matches(rule),
        }  # fmt: skip


def decide_person(
    model: FusionModel,
    identity_id: str,
    face: tuple[float | None, float, Callable[[float], float]],
    finger: tuple[float | None, int],
    person_fmr: float,
    face_cosine: float | None = None,
) -> PersonEvidence:
    """One person's evidence: (face score, face threshold, face tail FMR at a score), (finger
    score, impressions compared), decided at the per-person FMR. The service and `gerbang
    search-batch` both come through here. The face score is on its threshold's scale (S-norm
    under a cohort); the veto, fitted on cosines, reads `face_cosine` when given."""
    face_score, face_threshold, face_tail = face
    finger_score, templates = finger
    finger_threshold = finger_support = None
    if finger_score is not None:
        finger_threshold = model.finger.threshold_at(person_fmr / max(templates, 1))[0]
        finger_support = model.finger.threshold_at(FINGER_SUPPORT_FMR / max(templates, 1))[0]
    fused = fused_threshold = veto = None
    used = tuple(
        name for name, s in (("face", face_score), ("finger", finger_score)) if s is not None
    )
    if face_score is not None and finger_score is not None:
        finger_fmr = min(1.0, max(templates, 1) * model.finger.fmr_at(finger_score))
        fused = tail_evidence(face_tail(face_score)) + tail_evidence(finger_fmr)
        fused_threshold = tail_threshold(person_fmr)
        veto = model.veto(face_score if face_cosine is None else face_cosine, finger_score)
    return PersonEvidence(identity_id, face_score, face_threshold, finger_score, finger_threshold,
                          templates, fused, fused_threshold, veto, used, face_cosine,
                          finger_support)  # fmt: skip


@dataclass(frozen=True)
class FusedSearchResult:
    """Everyone scored, best first, and the setting they were decided in."""

    people: list[PersonEvidence]
    kind: str
    target_fpir: float
    searched: int  # people in the gallery searched: the N of the FPIR
    person_fmr: float
    finger_problem: str | None  # why the presented finger could not be used
    model_id: str
    notes: dict[str, Any] = field(default_factory=dict)

    def matches(self, rule: str) -> list[PersonEvidence]:
        """The people the rule names, best first."""
        return [p for p in self.people if p.matches(rule)]

    def evidence(self, rule: str) -> dict[str, Any]:
        """As stored with a decision."""
        return {
            "kind": self.kind, "rule": rule, "target_fpir": self.target_fpir,
            "gallery_people": self.searched, "person_fmr": self.person_fmr, "fusion": self.model_id,
            "finger_used": self.finger_problem is None, "finger_problem": self.finger_problem,
            "people": [p.evidence(rule) for p in self.people], **self.notes,
        }  # fmt: skip


def face_tail(open_set: OpenSetThresholds | None, model: FusionModel) -> Callable[[float], float]:
    """Per-person face FMR at a score for the population searched: the site's open-set
    calibration (its own gallery, or the pack's shipped one), else the fusion model's face points."""
    if open_set is not None:
        return open_set.current.tail.fmr_at
    return model.face.fmr_at


def rule_for(kind: str) -> str:
    """The rule a decision kind is taken by (see the module): alarms and bans by either (a wrong
    finger must not hide a banned face), the visitor exit by face and finger together."""
    return {"gate_inmate": "either", "banned_visitor": "either", "visitor_exit": "together"}.get(
        kind, "fused"
    )


def decide_fused(
    model: FusionModel,
    kind: str,
    target_fpir: float,
    people: int,
    face: tuple[float, Callable[[float], float]],
    chosen: list[str],
    face_of: Callable[[str], tuple[float, float] | None],
    finger_of: Callable[[str], tuple[float | None, int]],
    finger_problem: str | None,
) -> FusedSearchResult:
    """Decide each chosen person at the per-person FMR of the target FPIR over `people`, with
    the face's (threshold, tail FMR at a score) of that search; best first. The service
    (FusedSearch) and `gerbang search-batch` both come through here. `face_of` gives a
    person's (score on the face threshold's scale, raw cosine), or None."""
    person_fmr = fmr_for_fpir(target_fpir, max(people, 1))
    scored = []
    for person in dict.fromkeys(chosen):
        scores = face_of(person)
        score, cosine = (None, None) if scores is None else scores
        scored.append(decide_person(model, person, (score, *face), finger_of(person), person_fmr,
                                    cosine))  # fmt: skip
    rule = rule_for(kind)
    scored.sort(key=lambda p: (p.matches(rule), p.ranking(), p.face_score or -1.0), reverse=True)
    return FusedSearchResult(
        scored, kind, target_fpir, people, person_fmr, finger_problem, model.model_id,
        {"finger_calibration": finger_calibration_of(model)},
    )  # fmt: skip


def finger_calibration_of(model: FusionModel) -> str:
    """What the finger's 1:N thresholds were read off: the fitted tail's dataset (the site's own
    fingers, an operator's file or the shipped FVC sets), else the fusion model's points."""
    finger = model.finger
    if isinstance(finger, TailScoreModel) and finger.tail is not None:
        return finger.tail.dataset
    return "operating points of the fusion model"


def extract_probe(
    fingers: FingerService, finger: FingerProbe
) -> tuple[MinutiaeWithCylinders | None, str | None]:
    """The presented finger as an MCC probe, or None and the reason code it cannot be used."""
    try:
        return fingers.probe(finger.image, finger.resolution_ppi), None
    except GerbangError as exc:
        return None, exc.code


class FusedSearch:
    """Face + finger 1:N over the site's gallery and finger index."""

    def __init__(
        self,
        gallery: Callable[[], GalleryIndex],
        fingers: FingerService,
        model: Callable[[], FusionModel],
        faceless: FacelessPeople | None = None,
    ) -> None:
        self._gallery, self.fingers, self._model = gallery, fingers, model
        self._faceless = faceless  # people with fingers and no face template, None: not sought
        # The last finger extracted: a passage searches inmates, then visitors, with one print.
        self._last: tuple[FingerProbe, tuple[MinutiaeWithCylinders | None, str | None]] | None = (
            None
        )

    def _extracted(self, finger: FingerProbe) -> tuple[MinutiaeWithCylinders | None, str | None]:
        last = self._last
        if last is not None and last[0] is finger:
            return last[1]
        extracted = extract_probe(self.fingers, finger)
        self._last = (finger, extracted)
        return extracted

    def search(
        self,
        template: FloatArray | None,
        finger: FingerProbe | None,
        roles: Collection[str] | None,
        statuses: Collection[str] | None,
        only: Collection[str] | None,
        open_set: OpenSetThresholds | None,
        face_threshold: float,
        kind: str,
    ) -> FusedSearchResult:
        """Score the best people by face and by finger, and decide each at the kind's FPIR.

        face_threshold is the one the face-only search of this kind decides at."""
        gallery, model = self._gallery(), self._model()
        people = max(gallery.people(roles, statuses, only) + self._faceless_count(
            gallery, roles, statuses, only), 1)  # fmt: skip
        target = (open_set.targets if open_set else DEFAULT_TARGET_FPIR)[kind]
        probe, problem = self._extracted(finger) if finger else (None, "no_finger")
        position = finger.position if finger else None
        wanted = self._selector(gallery, roles, statuses, only)
        chosen: list[str] = []
        if template is not None:
            found = gallery.search(template, k=SHORTLIST, roles=roles, statuses=statuses,
                                   only_identities=only)[0]  # fmt: skip
            chosen += [c.identity_id for c in found]
        if probe is not None:
            by_finger = self.fingers.search_probe(probe, position)[0]
            chosen += [str(c.person) for c in by_finger if wanted(str(c.person))][:SHORTLIST]
        return decide_fused(
            model, kind, target, people, (face_threshold, face_tail(open_set, model)), chosen,
            lambda person: self._face(gallery, template, person, open_set),
            lambda person: self._finger(probe, person, position), problem,
        )  # fmt: skip

    def identify(
        self,
        face: IdentifyResult,
        finger: FingerProbe,
        roles: Collection[str] | None,
        statuses: Collection[str] | None,
        open_set: OpenSetThresholds | None,
    ) -> FusedSearchResult:
        """The desk's 1:N (kind `identify`) on a face already searched and a finger beside it."""
        return self.search(face.probe.template, finger, roles, statuses, None, open_set,
                           face.threshold, "identify")  # fmt: skip

    def candidates(self, result: FusedSearchResult) -> list[tuple[str, float, str, str]]:
        """(identity, face score, role, status) of the fused matches, best first."""
        gallery, found = self._gallery(), []
        for person in result.matches("fused"):
            role, status = gallery.partition_of(person.identity_id) or ("", "")
            found.append((person.identity_id, person.face_score or 0.0, role, status))
        return found

    def _selector(
        self,
        gallery: GalleryIndex,
        roles: Collection[str] | None,
        statuses: Collection[str] | None,
        only: Collection[str] | None,
    ) -> Callable[[str], bool]:
        """Whether a finger candidate belongs to the people this search scores."""
        allowed = None if only is None else set(only)

        def wanted(person: str) -> bool:
            key = gallery.partition_of(person) or self._faceless_partition(gallery, person)
            return (
                key is not None
                and (roles is None or key[0] in roles)
                and (statuses is None or key[1] in statuses)
                and (allowed is None or person in allowed)
            )

        return wanted

    def _faceless_count(self, gallery: GalleryIndex, roles: Collection[str] | None,
                        statuses: Collection[str] | None, only: Collection[str] | None) -> int:  # fmt: skip
        """People this search covers who have fingers and no face template."""
        return 0 if self._faceless is None else self._faceless.count(gallery, roles, statuses, only)

    def _faceless_partition(self, gallery: GalleryIndex, person: str) -> tuple[str, str] | None:
        """Where a person with no face template belongs (None: nowhere searched)."""
        return None if self._faceless is None else self._faceless.partition(gallery, person)

    @staticmethod
    def _face(gallery: GalleryIndex, template: FloatArray | None, person: str,
              open_set: OpenSetThresholds | None) -> tuple[float, float] | None:  # fmt: skip
        """(score on the face threshold's scale, cosine): S-norm against the calibration's
        cohort when it has one, as the face-only search scores."""
        if template is None:
            return None
        cohort = open_set.current.cohort if open_set is not None else None
        return gallery.identity_score(template, person, cohort)

    def _finger(
        self, probe: MinutiaeWithCylinders | None, person: str, position: int | None
    ) -> tuple[float | None, int]:
        if probe is None:
            return None, 0
        stored = self.fingers.templates(person, position)
        if not stored:
            return None, 0
        return max(self.fingers.matcher(probe, t) for _, t in stored), len(stored)
