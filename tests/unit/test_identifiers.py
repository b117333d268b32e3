"""NIK, NIP and registration numbers: what they encode, and every reason an officer is refused."""

from __future__ import annotations

import re
from datetime import date

import pytest

from enrollment.identifiers import (
    NIK_MESSAGES,
    NIP_MESSAGES,
    PROVINCE_CODES,
    REGISTRATION_MESSAGES,
    InvalidIdentifier,
    InvalidNIK,
    InvalidNIP,
    InvalidRegistrationNumber,
    ParsedNIK,
    ParsedNIP,
    ParsedRegistration,
    normalise_digits,
    validate_nik,
    validate_nip,
    validate_registration_number,
)

TODAY = date(2025, 6, 15)


def make_nik(
    *,
    region: str = "320105",
    day: int = 7,
    month: int = 3,
    yy: int = 85,
    female: bool = True,
    serial: str = "0001",
) -> str:
    """A NIK built from its parts, so each test says which part it is about."""
    encoded_day = day + 40 if female else day
    return f"{region}{encoded_day:02d}{month:02d}{yy:02d}{serial}"


def make_nip(
    *,
    born: str = "19850307",
    appointed: str = "201001",
    sex_digit: str = "2",
    serial: str = "001",
) -> str:
    """A NIP built from its parts: birth YYYYMMDD, TMT CPNS YYYYMM, sex digit, serial."""
    return f"{born}{appointed}{sex_digit}{serial}"


def refusal(error: pytest.ExceptionInfo[InvalidIdentifier]) -> str:
    """The reason a refusal carries."""
    return str(error.value.details["reason"])


# --- NIK ---------------------------------------------------------------------------------------


def test_nik_of_a_woman_born_1985_03_07_in_west_java_is_read_back() -> None:
    nik = make_nik()
    assert nik == "3201054703850001"
    assert validate_nik(nik, today=TODAY) == ParsedNIK(
        province_code="32",
        regency_code="01",
        district_code="05",
        birth_date=date(1985, 3, 7),
        sex="F",
        serial="0001",
        normalised=nik,
    )


def test_nik_day_below_41_is_a_man_and_day_above_40_is_a_woman() -> None:
    man = validate_nik(make_nik(day=7, female=False), today=TODAY)
    woman = validate_nik(make_nik(day=7, female=True), today=TODAY)
    assert (man.sex, man.birth_date) == ("M", date(1985, 3, 7))
    assert (woman.sex, woman.birth_date) == ("F", date(1985, 3, 7))


@pytest.mark.parametrize(
    ("encoded_day", "sex", "day"),
    [("01", "M", 1), ("31", "M", 31), ("41", "F", 1), ("71", "F", 31)],
)
def test_nik_day_bounds_for_both_sexes_are_accepted(encoded_day: str, sex: str, day: int) -> None:
    parsed = validate_nik(f"320105{encoded_day}0185" + "0001", today=TODAY)
    assert (parsed.sex, parsed.birth_date) == (sex, date(1985, 1, day))


@pytest.mark.parametrize("encoded_day", ["00", "32", "40", "72", "99"])
def test_nik_day_outside_both_ranges_is_refused_as_birth_date(encoded_day: str) -> None:
    with pytest.raises(InvalidNIK) as error:
        validate_nik(f"320105{encoded_day}0185" + "0001", today=TODAY)
    assert refusal(error) == "birth_date"


def test_nik_typed_in_groups_with_spaces_dots_and_dashes_is_accepted() -> None:
    parsed = validate_nik("32.01.05-470385 0001", today=TODAY)
    assert parsed.normalised == "3201054703850001"


@pytest.mark.parametrize("province", ["91", "92", "93", "94", "95", "96", "11", "21", "65", "82"])
def test_nik_from_every_kind_of_province_including_new_papua_ones_is_accepted(
    province: str,
) -> None:
    assert validate_nik(make_nik(region=f"{province}0105"), today=TODAY).province_code == province


def test_province_list_has_the_38_provinces() -> None:
    assert len(PROVINCE_CODES) == 38


@pytest.mark.parametrize(
    ("today", "yy", "month", "day", "expected"),
    [
        (date(2025, 6, 15), 25, 6, 15, date(2025, 6, 15)),  # born today: this century
        (date(2025, 6, 15), 25, 6, 16, date(1925, 6, 16)),  # tomorrow this century: last one
        (date(2025, 6, 15), 30, 1, 1, date(1930, 1, 1)),
        (date(2025, 6, 15), 5, 1, 1, date(2005, 1, 1)),
        (date(2005, 1, 1), 99, 12, 31, date(1999, 12, 31)),
        (date(2025, 6, 15), 0, 2, 29, date(2000, 2, 29)),  # a leap day only 2000 has
        (date(2101, 1, 1), 0, 2, 29, date(2000, 2, 29)),  # 2100 is not a leap year
    ],
)
def test_nik_century_is_the_latest_that_is_not_in_the_future(
    today: date, yy: int, month: int, day: int, expected: date
) -> None:
    nik = make_nik(day=day, month=month, yy=yy, female=False)
    assert validate_nik(nik, today=today).birth_date == expected


def test_nik_leap_day_that_only_the_coming_2000_has_is_refused_as_future_birth() -> None:
    with pytest.raises(InvalidNIK) as error:
        validate_nik(make_nik(day=29, month=2, yy=0), today=date(2000, 1, 1))
    assert refusal(error) == "future_birth"


def test_nik_entered_birth_date_settles_the_century_for_a_centenarian() -> None:
    nik = make_nik(day=7, month=3, yy=20)
    assert validate_nik(nik, today=TODAY).birth_date == date(2020, 3, 7)
    entered = date(1920, 3, 7)
    assert validate_nik(nik, birth_date=entered, today=TODAY).birth_date == entered


def test_nik_matching_the_entered_birth_date_and_sex_is_accepted() -> None:
    parsed = validate_nik(make_nik(), birth_date=date(1985, 3, 7), sex="F", today=TODAY)
    assert parsed.birth_date == date(1985, 3, 7)


NIK_REFUSALS = [
    ("length", "320105470385001", {}),
    ("not_digits", "32010547038500O1", {}),
    ("province", make_nik(region="970105"), {}),
    ("province", make_nik(region="200105"), {}),
    ("region", make_nik(region="320005"), {}),
    ("region", make_nik(region="320100"), {}),
    ("birth_date", make_nik(day=31, month=4), {}),
    ("birth_date", make_nik(day=29, month=2, yy=23), {}),
    ("birth_date", make_nik(month=13), {}),
    ("serial", make_nik(serial="0000"), {}),
    ("future_birth", make_nik(yy=26), {"birth_date": date(2026, 3, 7)}),
    ("too_old", make_nik(yy=0), {"birth_date": date(1900, 3, 7)}),
    ("mismatch_birth_date", make_nik(), {"birth_date": date(1985, 3, 8)}),
    ("mismatch_birth_date", make_nik(), {"birth_date": date(1986, 3, 7)}),
    ("mismatch_sex", make_nik(female=True), {"sex": "M"}),
    ("mismatch_sex", make_nik(female=False), {"sex": "F"}),
]


@pytest.mark.parametrize(("reason", "nik", "entered"), NIK_REFUSALS)
def test_nik_refusal_names_its_reason_field_and_code(
    reason: str, nik: str, entered: dict[str, object]
) -> None:
    with pytest.raises(InvalidNIK) as error:
        validate_nik(nik, today=TODAY, **entered)  # type: ignore[arg-type]
    assert (error.value.code, error.value.status) == ("nik_invalid", 422)
    assert error.value.details["field"] == "nik"
    assert refusal(error) == reason
    assert error.value.message == NIK_MESSAGES[reason]


def test_every_nik_message_has_a_test_that_fires_it() -> None:
    assert {reason for reason, _, _ in NIK_REFUSALS} == set(NIK_MESSAGES)


@pytest.mark.parametrize("digits", ["３２０１０５４７０３８５０００１", "٣٢٠١٠٥٤٧٠٣٨٥٠٠٠١"])
def test_nik_in_non_ascii_digits_is_refused(digits: str) -> None:
    with pytest.raises(InvalidNIK) as error:
        validate_nik(digits, today=TODAY)
    assert refusal(error) == "not_digits"


def test_nik_length_refusal_says_how_many_digits_were_typed_but_not_the_number() -> None:
    with pytest.raises(InvalidNIK) as error:
        validate_nik("3201 0547 0385 001", today=TODAY)
    assert error.value.details == {
        "field": "nik",
        "reason": "length",
        "length": 15,
        "expected": 16,
    }


def test_nik_refusal_can_name_the_form_field_it_came_from() -> None:
    with pytest.raises(InvalidNIK) as error:
        validate_nik("123", field="visitor.nik")
    assert error.value.details["field"] == "visitor.nik"


def test_nik_refusal_renders_both_languages_in_the_error_payload() -> None:
    with pytest.raises(InvalidNIK) as error:
        validate_nik("123")
    body = error.value.to_payload()["error"]
    assert body["code"] == "nik_invalid"
    assert body["message"] == {
        "id": "NIK harus 16 angka.",
        "en": "The NIK must be 16 digits.",
    }


def test_nik_cross_check_refuses_a_sex_that_is_not_f_or_m_as_a_programming_error() -> None:
    with pytest.raises(ValueError, match="sex must be"):
        validate_nik(make_nik(), sex="P", today=TODAY)  # type: ignore[arg-type]


# --- NIP ---------------------------------------------------------------------------------------


def test_nip_of_a_woman_born_1985_03_07_appointed_january_2010_is_read_back() -> None:
    nip = make_nip()
    assert nip == "198503072010012001"
    assert validate_nip("19850307 201001 2 001", today=TODAY) == ParsedNIP(
        birth_date=date(1985, 3, 7),
        appointment_year=2010,
        appointment_month=1,
        sex="F",
        serial="001",
        normalised=nip,
    )


def test_nip_sex_digit_1_is_a_man() -> None:
    assert validate_nip(make_nip(sex_digit="1"), today=TODAY).sex == "M"


def test_nip_appointment_in_the_month_of_the_18th_birthday_is_accepted() -> None:
    nip = make_nip(born="19900520", appointed="200805")
    assert validate_nip(nip, today=TODAY).appointment_month == 5


def test_nip_appointment_in_the_current_month_is_accepted() -> None:
    nip = make_nip(appointed="202506")
    assert validate_nip(nip, today=TODAY).appointment_year == 2025


def test_nip_matching_the_entered_birth_date_and_sex_is_accepted() -> None:
    parsed = validate_nip(make_nip(), birth_date=date(1985, 3, 7), sex="F", today=TODAY)
    assert parsed.sex == "F"


NIP_REFUSALS = [
    ("length", "19850307201001200", {}, None),
    ("not_digits", "19850307-201001-2-0O1", {}, None),
    ("birth_date", make_nip(born="19850230"), {}, None),
    ("birth_date", make_nip(born="00000101"), {}, None),
    ("future_birth", make_nip(born="20260101", appointed="202501"), {}, None),
    ("too_old", make_nip(born="19040101", appointed="192501"), {}, None),
    ("appointment", make_nip(appointed="201013"), {}, "month"),
    ("appointment", make_nip(appointed="201000"), {}, "month"),
    ("appointment", make_nip(born="19900520", appointed="200804"), {}, "before_age_18"),
    ("appointment", make_nip(appointed="202507"), {}, "future"),
    ("sex_digit", make_nip(sex_digit="3"), {}, None),
    ("sex_digit", make_nip(sex_digit="0"), {}, None),
    ("serial", make_nip(serial="000"), {}, None),
    ("mismatch_birth_date", make_nip(), {"birth_date": date(1985, 7, 3)}, None),
    ("mismatch_sex", make_nip(sex_digit="2"), {"sex": "M"}, None),
]


@pytest.mark.parametrize(("reason", "nip", "entered", "check"), NIP_REFUSALS)
def test_nip_refusal_names_its_reason_field_and_code(
    reason: str, nip: str, entered: dict[str, object], check: str | None
) -> None:
    with pytest.raises(InvalidNIP) as error:
        validate_nip(nip, today=TODAY, **entered)  # type: ignore[arg-type]
    assert (error.value.code, error.value.status) == ("nip_invalid", 422)
    assert error.value.details["field"] == "nip"
    assert refusal(error) == reason
    assert error.value.details.get("check") == check
    assert error.value.message == NIP_MESSAGES[reason]


def test_every_nip_message_has_a_test_that_fires_it() -> None:
    assert {reason for reason, _, _, _ in NIP_REFUSALS} == set(NIP_MESSAGES)


# --- registration number ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("B.I-123/2024", ParsedRegistration("B", "I", 123, 2024, "B.I-123/2024")),
        ("AIII.45/2023", ParsedRegistration("A", "III", 45, 2023, "A.III-45/2023")),
        ("BIIa 1234/2022", ParsedRegistration("B", "IIa", 1234, 2022, "B.IIa-1234/2022")),
        ("biib-7/2020", ParsedRegistration("B", "IIb", 7, 2020, "B.IIb-7/2020")),
        ("B.IIA 12/2021", ParsedRegistration("B", "IIa", 12, 2021, "B.IIa-12/2021")),
        ("  B.I - 123 / 2024 ", ParsedRegistration("B", "I", 123, 2024, "B.I-123/2024")),
        ("A.iv.000310/2025", ParsedRegistration("A", "IV", 310, 2025, "A.IV-310/2025")),
        ("AV1/1950", ParsedRegistration("A", "V", 1, 1950, "A.V-1/1950")),
        ("BII999999/2019", ParsedRegistration("B", "II", 999999, 2019, "B.II-999999/2019")),
    ],
)
def test_registration_number_variants_are_read_into_one_spelling(
    typed: str, expected: ParsedRegistration
) -> None:
    assert validate_registration_number(typed, today=TODAY) == expected


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("C.I-1/2020", "format"),
        ("B.VI-1/2020", "format"),
        ("B.IIc-1/2020", "format"),
        ("B.I-1234567/2020", "format"),
        ("B.I-/2020", "format"),
        ("B.I-1/24", "format"),
        ("B.I-1/2020/x", "format"),
        ("B I-1/2020", "format"),
        ("", "format"),
        ("B.I-1/1949", "year"),
        ("B.I-1/2026", "year"),
    ],
)
def test_registration_number_refusal_names_its_reason(typed: str, reason: str) -> None:
    with pytest.raises(InvalidRegistrationNumber) as error:
        validate_registration_number(typed, today=TODAY)
    assert (error.value.code, error.value.status) == ("registration_number_invalid", 422)
    assert error.value.details["field"] == "registration_number"
    assert refusal(error) == reason
    assert error.value.message == REGISTRATION_MESSAGES[reason]


def test_every_registration_message_has_a_test_that_fires_it() -> None:
    assert set(REGISTRATION_MESSAGES) == {"format", "year"}


SITE_PATTERN = re.compile(
    r"(?P<year>\d{4})/(?P<category>[AB])(?P<level>I|IIa|IIb|III)/(?P<sequence>\d+)", re.IGNORECASE
)


def test_registration_number_in_a_site_pattern_is_read_with_it() -> None:
    parsed = validate_registration_number("2024 / biia / 77", pattern=SITE_PATTERN, today=TODAY)
    assert parsed == ParsedRegistration("B", "IIa", 77, 2024, "B.IIa-77/2024")


def test_registration_number_in_the_default_form_is_refused_by_a_site_pattern() -> None:
    with pytest.raises(InvalidRegistrationNumber) as error:
        validate_registration_number("B.I-123/2024", pattern=SITE_PATTERN, today=TODAY)
    assert refusal(error) == "format"
    assert error.value.details["pattern"] == SITE_PATTERN.pattern


def test_site_pattern_without_the_named_groups_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="sequence"):
        validate_registration_number("B.I-1/2020", pattern=re.compile(r"(?P<category>[AB])"))


# --- normalise_digits --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("3201 0112 3456 0001", "3201011234560001"),
        ("32.01.01-120385-0001", "3201011203850001"),
        (" 1985 0307\t2010 01 2 001 ", "198503072010012001"),
        ("32–01—01", "320101"),
        ("", ""),
    ],
)
def test_normalise_digits_drops_spaces_dots_and_dashes(typed: str, expected: str) -> None:
    assert normalise_digits(typed) == expected


def test_normalise_digits_keeps_letters_so_they_are_refused_later() -> None:
    assert normalise_digits("32O1") == "32O1"
