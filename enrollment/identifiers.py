"""Identity numbers typed at the enrolment desk: a visitor's NIK, a staff NIP, an inmate's number.

Each `validate_*` function normalises what the officer typed, checks it and returns what the
number encodes, or raises an `InvalidIdentifier` whose `details["reason"]` names the rule that
failed and whose message tells the officer, Indonesian first, what to look at again.
Details never echo the whole number: a NIK is personal data and error bodies end up in logs.

InputError (kernel.errors)
└─ InvalidIdentifier     422 identifier_invalid   (a branch: each leaf below is raised)
   ├─ InvalidNIK                  nik_invalid
   ├─ InvalidNIP                  nip_invalid
   └─ InvalidRegistrationNumber   registration_number_invalid
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar, Literal, Self

from kernel.errors import InputError, Message

Sex = Literal["F", "M"]

# Province codes of Kemendagri, the list Dukcapil builds a NIK from (Kepmendagri 100.1.1-6117
# Tahun 2022, as mirrored by github.com/cahyadsn/wilayah): 91 Papua, 92 Papua Barat and, since
# the 2022 split, 93 Papua Selatan, 94 Papua Tengah, 95 Papua Pegunungan, 96 Papua Barat Daya.
# 97 is left out on purpose: it exists only in BPS's statistical numbering, which orders the
# Papua provinces differently, so a NIK starting with 97 is a typo. NIKs issued before a split
# keep their old province code, so 91 and 92 stay valid for people in the new provinces.
PROVINCE_CODES = frozenset(
    (
        *("11", "12", "13", "14", "15", "16", "17", "18", "19", "21"),  # Sumatra, Riau Islands
        *("31", "32", "33", "34", "35", "36"),  # Java
        *("51", "52", "53"),  # Bali, Nusa Tenggara
        *("61", "62", "63", "64", "65"),  # Kalimantan
        *("71", "72", "73", "74", "75", "76"),  # Sulawesi
        *("81", "82"),  # Maluku
        *("91", "92", "93", "94", "95", "96"),  # Papua
    )
)
MAX_AGE_YEARS = 120
NIP_MIN_AGE_AT_APPOINTMENT = 18
REGISTRATION_MIN_YEAR = 1950
FEMALE_DAY_OFFSET = 40  # a NIK stores a woman's birth day plus 40

# Officers type NIKs in groups: "3201 0112 3456 0001", "32.01.01-120385-0001".
_DIGIT_SEPARATORS = re.compile(r"[\s.\-\u2010-\u2015\u2212]+")
_ASCII_DIGITS = re.compile(r"[0-9]*")

NIK_MESSAGES: dict[str, Message] = {
    "length": Message("NIK harus 16 angka.", "The NIK must be 16 digits."),
    "not_digits": Message(
        "NIK hanya boleh berisi angka. Periksa kembali KTP.",
        "The NIK may contain digits only. Check the ID card again.",
    ),
    "province": Message(
        "Dua angka pertama NIK bukan kode provinsi. Periksa kembali KTP.",
        "The first two digits of the NIK are not a province code. Check the ID card again.",
    ),
    "region": Message(
        "Kode kabupaten/kota atau kecamatan dalam NIK (angka ke-3 sampai ke-6) tidak boleh 00.",
        "The regency/city or district code in the NIK (digits 3 to 6) cannot be 00.",
    ),
    "birth_date": Message(
        "Angka ke-7 sampai ke-12 NIK bukan tanggal lahir yang sah. Periksa kembali KTP.",
        "Digits 7 to 12 of the NIK are not a valid birth date. Check the ID card again.",
    ),
    "future_birth": Message(
        "Tanggal lahir dalam NIK jatuh di masa depan. Periksa kembali NIK dan tanggal lahir.",
        "The birth date in the NIK is in the future. Check the NIK and the birth date again.",
    ),
    "too_old": Message(
        "Tanggal lahir dalam NIK berarti umur lebih dari 120 tahun. Periksa kembali.",
        "The birth date in the NIK means an age over 120 years. Check it again.",
    ),
    "serial": Message(
        "Empat angka terakhir NIK tidak boleh 0000. Periksa kembali KTP.",
        "The last four digits of the NIK cannot be 0000. Check the ID card again.",
    ),
    "mismatch_birth_date": Message(
        "Tanggal lahir dalam NIK tidak cocok dengan tanggal lahir yang diisi.",
        "The birth date inside the NIK does not match the birth date entered.",
    ),
    "mismatch_sex": Message(
        "Jenis kelamin dalam NIK tidak cocok dengan jenis kelamin yang diisi.",
        "The sex inside the NIK does not match the sex entered.",
    ),
}

NIP_MESSAGES: dict[str, Message] = {
    "length": Message("NIP harus 18 angka.", "The NIP must be 18 digits."),
    "not_digits": Message(
        "NIP hanya boleh berisi angka. Periksa kembali SK atau kartu pegawai.",
        "The NIP may contain digits only. Check the appointment letter or staff card again.",
    ),
    "birth_date": Message(
        "Delapan angka pertama NIP bukan tanggal lahir yang sah (tahun, bulan, tanggal).",
        "The first eight digits of the NIP are not a valid birth date (year, month, day).",
    ),
    "future_birth": Message(
        "Tanggal lahir dalam NIP jatuh di masa depan. Periksa kembali NIP.",
        "The birth date in the NIP is in the future. Check the NIP again.",
    ),
    "too_old": Message(
        "Tanggal lahir dalam NIP berarti umur lebih dari 120 tahun. Periksa kembali NIP.",
        "The birth date in the NIP means an age over 120 years. Check the NIP again.",
    ),
    "appointment": Message(
        "Angka ke-9 sampai ke-14 NIP (TMT CPNS) bukan bulan pengangkatan yang mungkin.",
        "Digits 9 to 14 of the NIP (TMT CPNS) are not a possible month of appointment.",
    ),
    "sex_digit": Message(
        "Angka ke-15 NIP harus 1 (laki-laki) atau 2 (perempuan).",
        "Digit 15 of the NIP must be 1 (male) or 2 (female).",
    ),
    "serial": Message(
        "Tiga angka terakhir NIP tidak boleh 000. Periksa kembali SK atau kartu pegawai.",
        "The last three digits of the NIP cannot be 000. Check the appointment letter or staff card.",
    ),
    "mismatch_birth_date": Message(
        "Tanggal lahir dalam NIP tidak cocok dengan tanggal lahir yang diisi.",
        "The birth date inside the NIP does not match the birth date entered.",
    ),
    "mismatch_sex": Message(
        "Jenis kelamin dalam NIP tidak cocok dengan jenis kelamin yang diisi.",
        "The sex inside the NIP does not match the sex entered.",
    ),
}

REGISTRATION_MESSAGES: dict[str, Message] = {
    "format": Message(
        "Nomor registrasi tidak sesuai format, contoh: B.I-123/2024 atau AIII.45/2023.",
        "The registration number is not in the expected form, e.g. B.I-123/2024 or AIII.45/2023.",
    ),
    "year": Message(
        "Tahun pada nomor registrasi harus antara 1950 dan tahun ini.",
        "The year in the registration number must be between 1950 and this year.",
    ),
}


class InvalidIdentifier(InputError):
    """An identity number refused at the desk; each subclass holds one message per reason."""

    code = "identifier_invalid"
    message = Message(
        "Nomor identitas tidak sah. Periksa lalu ketik ulang.",
        "The identity number is not valid. Check it and type it again.",
    )
    field_name: ClassVar[str] = "identifier"
    messages: ClassVar[dict[str, Message]] = {}

    @classmethod
    def because(cls, reason: str, *, field: str | None = None, **details: Any) -> Self:
        """The error for one failed rule; `details` carries the reason, the field and `details`."""
        return cls(
            cls.messages[reason],
            {"field": field or cls.field_name, "reason": reason, **details},
        )


class InvalidNIK(InvalidIdentifier):
    code = "nik_invalid"
    field_name = "nik"
    messages = NIK_MESSAGES


class InvalidNIP(InvalidIdentifier):
    code = "nip_invalid"
    field_name = "nip"
    messages = NIP_MESSAGES


class InvalidRegistrationNumber(InvalidIdentifier):
    code = "registration_number_invalid"
    field_name = "registration_number"
    messages = REGISTRATION_MESSAGES


@dataclass(frozen=True, slots=True)
class ParsedNIK:
    """What a visitor's NIK encodes."""

    province_code: str
    regency_code: str
    district_code: str
    birth_date: date
    sex: Sex
    serial: str
    normalised: str


@dataclass(frozen=True, slots=True)
class ParsedNIP:
    """What a civil servant's NIP encodes."""

    birth_date: date
    appointment_year: int
    appointment_month: int
    sex: Sex
    serial: str
    normalised: str


@dataclass(frozen=True, slots=True)
class ParsedRegistration:
    """An inmate registration number split into its parts, plus one canonical spelling."""

    category: str
    level: str
    sequence: int
    year: int
    normalised: str


def normalise_digits(text: str) -> str:
    """Drop the spaces, dots and dashes officers type between groups of digits."""
    return _DIGIT_SEPARATORS.sub("", text)


def validate_nik(
    nik: str,
    *,
    birth_date: date | None = None,
    sex: Sex | None = None,
    today: date | None = None,
    field: str = "nik",
) -> ParsedNIK:
    """Check a 16-digit NIK, and its birth date and sex against the registration data if given."""
    today = today or date.today()
    digits = _digits_of_length(nik, 16, InvalidNIK, field)
    province, regency, district = digits[0:2], digits[2:4], digits[4:6]
    if province not in PROVINCE_CODES:
        raise InvalidNIK.because("province", field=field, province_code=province)
    if "00" in (regency, district):
        raise InvalidNIK.because("region", field=field, region_code=digits[0:6])
    if digits[12:] == "0000":
        raise InvalidNIK.because("serial", field=field)
    encoded_day = int(digits[6:8])
    nik_sex: Sex = "F" if encoded_day > FEMALE_DAY_OFFSET else "M"
    day = encoded_day - FEMALE_DAY_OFFSET if nik_sex == "F" else encoded_day
    born = _nik_birth_date(day, int(digits[8:10]), int(digits[10:12]), birth_date, today, field)
    _check_lifespan(born, today, InvalidNIK, field)
    _check_sex(nik_sex, sex, InvalidNIK, field)
    return ParsedNIK(province, regency, district, born, nik_sex, digits[12:], digits)


def _nik_birth_date(
    day: int, month: int, yy: int, entered: date | None, today: date, field: str
) -> date:
    """The full birth date behind DDMMYY: the entered date settles the century when it agrees.

    Otherwise the latest century that does not put the birth in the future wins, which reads a
    centenarian's NIK as a child's: hence the entered date, when given, takes precedence.
    """
    century = today.year // 100 * 100
    candidates = [d for y in (century + yy, century - 100 + yy) if (d := _date(y, month, day))]
    if not candidates:
        raise InvalidNIK.because("birth_date", field=field)
    if entered is not None:
        if (entered.day, entered.month, entered.year % 100) != (day, month, yy):
            raise InvalidNIK.because("mismatch_birth_date", field=field)
        return entered
    past = [d for d in candidates if d <= today]
    if not past:
        raise InvalidNIK.because("future_birth", field=field)
    return max(past)


def validate_nip(
    nip: str,
    *,
    birth_date: date | None = None,
    sex: Sex | None = None,
    today: date | None = None,
    field: str = "nip",
) -> ParsedNIP:
    """Check an 18-digit NIP, and its birth date and sex against the registration data if given."""
    today = today or date.today()
    digits = _digits_of_length(nip, 18, InvalidNIP, field)
    born = _date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    if born is None:
        raise InvalidNIP.because("birth_date", field=field)
    _check_lifespan(born, today, InvalidNIP, field)
    year, month = int(digits[8:12]), int(digits[12:14])
    _check_appointment(year, month, born, today, field)
    if digits[14] not in "12":
        raise InvalidNIP.because("sex_digit", field=field, sex_digit=digits[14])
    if digits[15:] == "000":
        raise InvalidNIP.because("serial", field=field)
    if birth_date is not None and birth_date != born:
        raise InvalidNIP.because("mismatch_birth_date", field=field)
    nip_sex: Sex = "M" if digits[14] == "1" else "F"
    _check_sex(nip_sex, sex, InvalidNIP, field)
    return ParsedNIP(born, year, month, nip_sex, digits[15:], digits)


def _check_appointment(year: int, month: int, born: date, today: date, field: str) -> None:
    """TMT CPNS: a real month, from the month of the 18th birthday on, and not after this month.

    Comparing year-months rather than days is the tolerance: an appointment dated the 1st of
    the month in which the person turns 18 passes, one a month earlier does not.
    """
    check = None
    if not 1 <= month <= 12:
        check = "month"
    elif (year, month) < (born.year + NIP_MIN_AGE_AT_APPOINTMENT, born.month):
        check = "before_age_18"
    elif (year, month) > (today.year, today.month):
        check = "future"
    if check is not None:
        raise InvalidNIP.because("appointment", field=field, check=check)


# Spelled as the brief's `^(A|B)\.?(I|II|IIa|IIb|III|IV|V)[.\- ]?\d{1,6}/\d{4}$`, with named groups.
DEFAULT_REGISTRATION_PATTERN = re.compile(
    r"(?P<category>[AB])\.?(?P<level>I|II|IIa|IIb|III|IV|V)[.\- ]?(?P<sequence>\d{1,6})/(?P<year>\d{4})",
    re.IGNORECASE,
)
_REGISTRATION_GROUPS = frozenset({"category", "level", "sequence", "year"})
_SPACE_AROUND_PUNCTUATION = re.compile(r"\s*([./\-])\s*")


def validate_registration_number(
    text: str,
    *,
    pattern: re.Pattern[str] | None = None,
    today: date | None = None,
    field: str = "registration_number",
) -> ParsedRegistration:
    """Check an inmate registration number against the site's pattern (named groups required).

    A site pattern must define the groups `category`, `level`, `sequence` and `year` (the last
    two digits only); it is matched against the whole text after spaces are collapsed and dropped around `. - /`.
    """
    pattern = pattern or DEFAULT_REGISTRATION_PATTERN
    missing = _REGISTRATION_GROUPS - pattern.groupindex.keys()
    if missing:
        raise ValueError(f"registration pattern lacks named groups: {sorted(missing)}")
    cleaned = _SPACE_AROUND_PUNCTUATION.sub(r"\1", " ".join(text.split()))
    found = pattern.fullmatch(cleaned)
    if found is None:
        raise InvalidRegistrationNumber.because("format", field=field, pattern=pattern.pattern)
    year = int(found["year"])
    this_year = (today or date.today()).year
    if not REGISTRATION_MIN_YEAR <= year <= this_year:
        raise InvalidRegistrationNumber.because("year", field=field, year=year)
    category, level = found["category"].upper(), _roman_level(found["level"])
    sequence = int(found["sequence"])  # leading zeros dropped: B.I-0123 and B.I-123 are one number
    normalised = f"{category}.{level}-{sequence}/{year}"
    return ParsedRegistration(category, level, sequence, year, normalised)


def _roman_level(level: str) -> str:
    """Roman numerals upper case, the a/b sub-level lower case: "iia" → "IIa"."""
    if level[-1] in "aAbB" and len(level) > 1:
        return level[:-1].upper() + level[-1].lower()
    return level.upper()


def _digits_of_length(text: str, length: int, error: type[InvalidIdentifier], field: str) -> str:
    """The typed number without separators, refused unless it is exactly `length` ASCII digits."""
    digits = normalise_digits(text)
    if not _ASCII_DIGITS.fullmatch(digits):
        raise error.because("not_digits", field=field)
    if len(digits) != length:
        raise error.because("length", field=field, length=len(digits), expected=length)
    return digits


def _check_lifespan(born: date, today: date, error: type[InvalidIdentifier], field: str) -> None:
    """Refuse a birth after today or more than MAX_AGE_YEARS before it."""
    if born > today:
        raise error.because("future_birth", field=field)
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if age > MAX_AGE_YEARS:
        raise error.because("too_old", field=field, age=age)


def _check_sex(
    encoded: Sex, entered: Sex | None, error: type[InvalidIdentifier], field: str
) -> None:
    """Refuse a number whose encoded sex differs from the one entered at the desk."""
    if entered is not None and entered not in ("F", "M"):
        raise ValueError(f"sex must be 'F' or 'M', not {entered!r}")
    if entered is not None and entered != encoded:
        raise error.because("mismatch_sex", field=field)


def _date(year: int, month: int, day: int) -> date | None:
    """The calendar date, or None when it does not exist (31 April, 29 February 2023)."""
    try:
        return date(year, month, day)
    except ValueError:
        return None
