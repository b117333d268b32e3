"""ANSI/NIST-ITL 1-2011 traditional (binary) encoding of tagged records, without any knowledge of
Gerbang: a transaction is a list of records, each a type and its fields `{tag: value}`.

A field value is text (one item), a list of subfields each a list of items, or bytes (the image
field 999, always last). Separators are the standard's: FS ends a record, GS ends a field, RS
separates subfields, US separates items. Field 001 (LEN) is computed here and counts every byte
of the record including its FS; Type-1 field 003 (CNT) is written by the caller.

Decoding is strict: a file whose lengths, separators or counts do not add up is refused whole
with `MalformedTransaction`, naming what is wrong and where, so nothing of it is imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kernel.errors import InputError, Message

FS, GS, RS, US = b"\x1c", b"\x1d", b"\x1e", b"\x1f"
IMAGE_TAG = 999
Value = str | list[list[str]] | bytes
TAG = re.compile(rb"^(\d{1,2})\.(\d{3}):")


class MalformedTransaction(InputError):
    code = "exchange_transaction_malformed"
    message = Message(
        "Berkas ANSI/NIST-ITL rusak atau terpotong; tidak ada yang diimpor. Minta pengirim mengirim ulang.",
        "The ANSI/NIST-ITL file is damaged or truncated; nothing was imported. Ask the sender to send it again.",
    )

    @classmethod
    def at(cls, offset: int, reason: str) -> MalformedTransaction:
        return cls(offset=offset, reason=reason)


@dataclass
class Record:
    """One tagged record: its type and its fields by tag number (LEN excluded)."""

    type: int
    fields: dict[int, Value] = field(default_factory=dict)

    def text(self, tag: int, default: str = "") -> str:
        """A single-item field as text."""
        value = self.fields.get(tag, default)
        if isinstance(value, str):
            return value
        if isinstance(value, list) and value and value[0]:
            return value[0][0]
        return default

    def subfields(self, tag: int) -> list[list[str]]:
        """A field as subfields of items (a single value is one subfield of one item)."""
        value = self.fields.get(tag)
        if value is None or isinstance(value, bytes):
            return []
        return [[value]] if isinstance(value, str) else value


def _field_bytes(record_type: int, tag: int, value: Value) -> bytes:
    head = f"{record_type}.{tag:03d}:".encode("ascii")
    if isinstance(value, bytes):
        return head + value
    if isinstance(value, str):
        return head + _text(value)
    return head + RS.join(US.join(_text(item) for item in sub) for sub in value)


def _text(value: str) -> bytes:
    data = value.encode("utf-8")
    if any(sep in data for sep in (FS, GS, RS, US)):
        raise ValueError(f"separator character in field text {value!r}")
    return data


def encode_record(record: Record) -> bytes:
    """One record with its LEN field computed (LEN counts its own digits)."""
    tags = sorted(t for t in record.fields if t != 1)
    if IMAGE_TAG in tags:  # the image is the last field
        tags = [t for t in tags if t != IMAGE_TAG] + [IMAGE_TAG]
    body = GS.join(_field_bytes(record.type, t, record.fields[t]) for t in tags) + FS
    prefix = f"{record.type}.001:".encode("ascii")
    length = len(prefix) + len(body) + 1  # +1 for the GS after LEN
    while True:
        total = len(prefix) + len(str(length)) + 1 + len(body)
        if total == length:
            return prefix + str(length).encode("ascii") + GS + body
        length = total


def encode(records: list[Record]) -> bytes:
    """A transaction: Type-1 first, then the others in the order given."""
    if not records or records[0].type != 1:
        raise ValueError("a transaction starts with its Type-1 record")
    return b"".join(encode_record(r) for r in records)


def decode(data: bytes) -> list[Record]:
    """Every record of a transaction, checked against Type-1's CNT; MalformedTransaction otherwise."""
    records, offset = [], 0
    while offset < len(data):
        record, offset = _decode_record(data, offset)
        records.append(record)
    _check_count(records)
    return records


def _decode_record(data: bytes, offset: int) -> tuple[Record, int]:
    head = TAG.match(data[offset : offset + 8])
    if head is None or int(head.group(2)) != 1:
        raise MalformedTransaction.at(offset, "a record must start with its length field T.001")
    record_type = int(head.group(1))
    end_of_len = data.find(GS, offset)
    try:
        length = int(data[offset + head.end() : end_of_len])
    except ValueError as exc:
        raise MalformedTransaction.at(offset, "the record length is not a number") from exc
    if length <= 0 or offset + length > len(data):
        raise MalformedTransaction.at(
            offset, f"record of {length} bytes runs past the end (truncated)"
        )
    chunk = data[offset : offset + length]
    if not chunk.endswith(FS):
        raise MalformedTransaction.at(offset, "the record does not end with its separator (FS)")
    return Record(record_type, _fields(record_type, chunk[:-1], offset)), offset + length


def _fields(record_type: int, body: bytes, offset: int) -> dict[int, Value]:
    fields: dict[int, Value] = {}
    image_head = f"{GS.decode()}{record_type}.{IMAGE_TAG}:".encode("ascii")
    at = body.find(image_head)
    if at >= 0:  # binary image data may hold any byte: split it off before the text fields
        fields[IMAGE_TAG] = body[at + len(image_head) :]
        body = body[:at]
    for raw in body.split(GS):
        match = TAG.match(raw)
        if match is None or int(match.group(1)) != record_type:
            raise MalformedTransaction.at(
                offset, f"bad field tag {raw[:12]!r} in a Type-{record_type} record"
            )
        tag = int(match.group(2))
        try:
            text = raw[match.end() :].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedTransaction.at(
                offset, f"field {record_type}.{tag:03d} is not UTF-8 text"
            ) from exc
        if tag == 1:
            continue
        subs = [sub.split(US.decode()) for sub in text.split(RS.decode())]
        fields[tag] = text if len(subs) == 1 and len(subs[0]) == 1 else subs
    return fields


def _check_count(records: list[Record]) -> None:
    if not records or records[0].type != 1:
        raise MalformedTransaction.at(0, "the transaction does not start with a Type-1 record")
    cnt = records[0].subfields(3)
    listed = [(int(s[0]), s[1]) for s in cnt[1:] if len(s) == 2 and s[0].isdigit()]
    found = [(r.type, r.text(2)) for r in records[1:]]
    declared = cnt[0][1] if cnt and len(cnt[0]) == 2 else ""
    if (
        len(listed) != len(cnt) - 1
        or declared != str(len(found))
        or [t for t, _ in listed] != [t for t, _ in found]
    ):
        raise MalformedTransaction.at(
            0,
            f"Type-1 lists records {listed} but the file holds {found} (records missing or extra)",
        )
