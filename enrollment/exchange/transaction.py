"""A person as an ANSI/NIST-ITL 1-2011 transaction, and back: the Type-1, Type-2, Type-10 and
Type-14 fields Gerbang writes and reads (the Type-2 map is in TYPE2_FIELDS and the README).

Type-10 carries each face image as stored (JPEG: CGA `JPEGB`, PNG: `PNG`), frontal pose (the desk
refuses turned faces), capture date and source. Type-14 carries each fingerprint impression with
its finger position (ISO and ANSI/NIST codes agree: 1 right thumb ... 10 left little), resolution
in ppi and quality; compressed as `PNG` (the stored master, byte for byte) or `NONE` (raw 8-bit
grey). WSQ, the FBI's usual choice, has no encoder here, so it is not offered.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from PIL import Image, UnidentifiedImageError

from enrollment.exchange import type9
from enrollment.exchange.codec import IMAGE_TAG, MalformedTransaction, Record, decode, encode
from enrollment.exchange.type9 import MinutiaeView
from kernel.errors import InputError, Message

VERSION = "0500"  # ANSI/NIST-ITL 1-2011
TRANSACTION_TYPE = "SPPT"  # the exchange's type of transaction, agreed between the agencies
FACE_CGA = {"image/jpeg": "JPEGB", "image/png": "PNG"}
FINGER_CGA = ("PNG", "NONE")

# Type-2 (user-defined descriptive text): tag -> (mnemonic, meaning). Tags below 900 follow the
# FBI EBTS names the partner agencies' systems already know; 900+ are Gerbang's own.
TYPE2_FIELDS = {
    15: ("SID", "registration number (nomor registrasi) of an inmate"),
    18: ("NAM", "full name"),
    19: ("AKA", "aliases, one subfield each"),
    22: ("DOB", "birth date YYYYMMDD"),
    24: ("SEX", "M, F or U (unknown)"),
    900: ("ROL", "role at the sending site: inmate, staff or visitor"),
    901: ("NIK", "national identity number (16 digits)"),
    902: ("NIP", "civil-servant number of staff (18 digits)"),
    903: ("GID", "the sender's Gerbang identity id (UUID)"),
    904: ("STS", "status at the sending site: active, released, transferred_out..."),
    905: ("CRF", "case reference the exchange is for"),
}


class IncompleteTransaction(InputError):
    code = "exchange_transaction_incomplete"
    message = Message(
        "Transaksi ANSI/NIST-ITL tidak lengkap (data diri atau foto wajah tidak ada); tidak ada yang diimpor.",
        "The ANSI/NIST-ITL transaction is incomplete (no descriptive record or no face image); nothing was imported.",
    )


@dataclass(frozen=True)
class PersonText:
    """The Type-2 content."""

    full_name: str
    role: str = "inmate"
    birth_date: str | None = None  # ISO date
    sex: str | None = None
    aliases: tuple[str, ...] = ()
    registration_number: str | None = None
    nik: str | None = None
    nip: str | None = None
    identity_id: str | None = None
    status: str | None = None
    case_ref: str | None = None


@dataclass(frozen=True)
class FaceImage:
    """One Type-10 face image."""

    data: bytes
    media_type: str
    captured_at: str  # ISO timestamp


@dataclass(frozen=True)
class FingerImage:
    """One Type-14 impression; `data` is the PNG master (or raw grey pixels when compression NONE)."""

    position: int
    data: bytes
    width: int
    height: int
    ppi: int
    captured_at: str
    quality: int | None = None  # 0-100
    compression: str = "PNG"


@dataclass(frozen=True)
class Transaction:
    """A person's exchange transaction."""

    sender: str  # originating agency (ORI): the site code
    receiver: str  # destination agency (DAI)
    person: PersonText
    faces: list[FaceImage] = field(default_factory=list)
    fingers: list[FingerImage] = field(default_factory=list)
    # Type-9 minutiae: with `fingers`, the i-th view belongs to the i-th impression (same IDC);
    # alone (the registry holds no finger images), each view has its own IDC.
    minutiae: list[MinutiaeView] = field(default_factory=list)
    tcn: str = ""  # transaction control number; made up when empty
    created: datetime | None = None


def _ymd(iso: str | None) -> str:
    return iso[:10].replace("-", "") if iso else ""


def _iso(ymd: str) -> str | None:
    if len(ymd) != 8 or not ymd.isdigit():
        return None
    try:
        return date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:])).isoformat()
    except ValueError:
        return None


def _type1(t: Transaction, tcn: str, now: datetime, content: list[tuple[int, int]]) -> Record:
    cnt = [["1", str(len(content))], *([str(rt), f"{idc:02d}"] for rt, idc in content)]
    return Record(1, {
        2: VERSION, 3: cnt, 4: TRANSACTION_TYPE, 5: now.strftime("%Y%m%d"), 7: t.receiver,
        8: t.sender, 9: tcn, 11: "00.00", 12: "00.00", 13: [["GERBANG", "1"]],
        14: now.strftime("%Y%m%d%H%M%SZ"), 15: [["3", "UTF-8"]],
    })  # fmt: skip


def _type2(p: PersonText) -> Record:
    values: dict[int, str | list[str] | None] = {
        15: p.registration_number, 18: p.full_name, 19: list(p.aliases), 22: _ymd(p.birth_date),
        24: p.sex or "U", 900: p.role, 901: p.nik, 902: p.nip, 903: p.identity_id,
        904: p.status, 905: p.case_ref,
    }  # fmt: skip
    fields: dict[int, object] = {2: "00"}
    for tag, value in values.items():
        if isinstance(value, list):
            if value:
                fields[tag] = [[v] for v in value]
        elif value:
            fields[tag] = value
    return Record(2, fields)  # type: ignore[arg-type]


def _size(data: bytes) -> tuple[int, int]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError("a stored image that no image library can read") from exc


def _type10(face: FaceImage, idc: int, sender: str) -> Record:
    width, height = _size(face.data)
    cga = FACE_CGA.get(face.media_type)
    if cga is None:
        raise ValueError(f"no ANSI/NIST-ITL compression code for {face.media_type}")
    return Record(10, {
        2: f"{idc:02d}", 3: "FACE", 4: sender, 5: _ymd(face.captured_at), 6: str(width),
        7: str(height), 8: "0", 9: "1", 10: "1", 11: cga, 12: "YCC" if cga == "JPEGB" else "RGB",
        13: "1", 20: "F", 23: [["DIGITAL CAMERA"]], IMAGE_TAG: face.data,
    })  # fmt: skip


def _type14(finger: FingerImage, idc: int, sender: str) -> Record:
    fields: dict[int, object] = {
        2: f"{idc:02d}", 3: "0", 4: sender, 5: _ymd(finger.captured_at), 6: str(finger.width),
        7: str(finger.height), 8: "1", 9: str(finger.ppi), 10: str(finger.ppi),
        11: finger.compression, 12: "8", 13: [[str(finger.position)]], IMAGE_TAG: finger.data,
    }  # fmt: skip
    if finger.quality is not None:  # vendor 0000: the house score, not a registered algorithm
        fields[24] = [[str(finger.position), str(finger.quality), "0000", "1"]]
    return Record(14, fields)  # type: ignore[arg-type]


def build(t: Transaction) -> bytes:
    """The transaction in the traditional binary encoding."""
    now = t.created or datetime.now(UTC)
    tcn = t.tcn or f"{t.sender}-{uuid.uuid4().hex[:16]}"
    images: list[Record] = [_type10(f, i, t.sender) for i, f in enumerate(t.faces, start=1)]
    first = len(images) + 1
    images += [_type14(f, i, t.sender) for i, f in enumerate(t.fingers, start=first)]
    if t.fingers and len(t.minutiae) not in (0, len(t.fingers)):
        raise ValueError("minutiae go with every finger image or with none")
    start = first if t.fingers else len(images) + 1
    minutiae = [type9.record(v, i) for i, v in enumerate(t.minutiae, start=start)]
    records = [*images, *minutiae]
    content = [(2, 0)] + [(r.type, int(str(r.fields[2]))) for r in records]
    return encode([_type1(t, tcn, now, content), _type2(t.person), *records])


def parse(data: bytes, fingers_suffice: bool = False) -> Transaction:
    """A received transaction; MalformedTransaction or IncompleteTransaction, never half of one.

    A face image is needed (the desk enrols from it) unless `fingers_suffice`: the registry,
    which searches Type-9 minutiae too, takes a transaction with minutiae and no face."""
    records = decode(data)
    header = records[0]
    described = [r for r in records if r.type == 2]
    faces = [_face(r) for r in records if r.type == 10]
    views = sum(r.type == 9 for r in records)
    if len(described) != 1 or not (faces or (fingers_suffice and views)):
        raise IncompleteTransaction(type2_records=len(described), face_images=len(faces),
                                    minutiae_records=views)  # fmt: skip
    fingers = [_finger(r) for r in records if r.type == 14]
    return Transaction(
        sender=header.text(8), receiver=header.text(7), person=_person(described[0]),
        faces=faces, fingers=fingers, minutiae=_minutiae(records), tcn=header.text(9),
    )  # fmt: skip


def _minutiae(records: list[Record]) -> list[MinutiaeView]:
    """Type-9 views, each read at the resolution of the Type-14 image it names (500 ppi without)."""
    images = {r.text(2): r for r in records if r.type == 14}
    views = []
    for r in (r for r in records if r.type == 9):
        image = images.get(r.text(2))
        if image is None:
            views.append(type9.parse(r))
        else:
            views.append(type9.parse(r, _number(image, 9), _number(image, 6), _number(image, 7)))
    return views


def _person(r: Record) -> PersonText:
    def text(tag: int) -> str | None:
        return r.text(tag).strip() or None

    name = text(18)
    if name is None:
        raise IncompleteTransaction(missing="2.018 NAM")
    sex = text(24)
    return PersonText(
        full_name=name, role=text(900) or "inmate", birth_date=_iso(r.text(22)),
        sex=sex if sex in ("M", "F") else None, aliases=tuple(s[0] for s in r.subfields(19) if s and s[0]),
        registration_number=text(15), nik=text(901), nip=text(902), identity_id=text(903),
        status=text(904), case_ref=text(905),
    )  # fmt: skip


def _image(r: Record) -> bytes:
    data = r.fields.get(IMAGE_TAG)
    if not isinstance(data, bytes) or not data:
        raise MalformedTransaction.at(
            0, f"a Type-{r.type} record without image data ({r.type}.999)"
        )
    return data


def _face(r: Record) -> FaceImage:
    media = {v: k for k, v in FACE_CGA.items()}.get(r.text(11))
    if media is None:
        raise MalformedTransaction.at(0, f"face compression {r.text(11)!r} is not JPEGB or PNG")
    return FaceImage(_image(r), media, _iso(r.text(5)) or "")


def _number(r: Record, tag: int) -> int:
    value = r.text(tag)
    if not value.isdigit():
        raise MalformedTransaction.at(0, f"field {r.type}.{tag:03d} is not a number: {value!r}")
    return int(value)


def _finger(r: Record) -> FingerImage:
    compression = r.text(11)
    if compression not in FINGER_CGA:
        raise MalformedTransaction.at(0, f"finger compression {compression!r} is not PNG or NONE")
    quality = r.subfields(24)
    return FingerImage(
        position=_number(r, 13), data=_image(r), width=_number(r, 6), height=_number(r, 7),
        ppi=_number(r, 9), captured_at=_iso(r.text(5)) or "",
        quality=int(quality[0][1]) if quality and len(quality[0]) > 1 and quality[0][1].isdigit() else None,
        compression=compression,
    )  # fmt: skip
