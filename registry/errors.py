"""Every error the registry returns on purpose, in the house format (see kernel/errors.py).

GerbangError
├─ SyncUnauthenticated  401 sync_unauthenticated  unknown site, bad signature, stale timestamp,
│                                                  a revoked key, a retired key past its grace
├─ InputError 422
│  ├─ SyncSchemaInvalid      sync_schema_invalid   not gzip, too large, or a change that breaks the schema
│  ├─ RegistryInputInvalid   registry_input_invalid a request an officer can correct
│  ├─ WatchlistNoBiometrics  watchlist_no_biometrics a watchlist entry with no face template and no finger
│  ├─ WatchlistFingerInvalid watchlist_finger_invalid a watchlist finger record the search cannot read,
│  │                                                  or a finger image no site would enrol
│  └─ SearchPackMismatch     search_pack_mismatch  a site's search probes come from another model pack
├─ NotFound 404
│  ├─ RegistryNotFound       registry_not_found    no such case, identity or site
│  ├─ AccountNotFound        registry_account_not_found no officer account of that name
│  └─ PhotoNotAvailable      photo_not_available   no photo delivered (yet): the request's state says why
├─ Conflict 409
│  ├─ SyncConflict           sync_conflict         an applied seq arrives again with other content
│  ├─ SyncGap                sync_gap              the batch does not start where the last one ended
│  ├─ CaseClosed             case_closed           the case was already decided
│  ├─ PhotoHeldByNoSite      photo_no_site         a central watchlist entry: no site holds a photo
│  ├─ NotOnWatchlist         not_on_watchlist      removal of someone the watchlist does not hold
│  ├─ SiteKeyConflict        site_key_conflict     a key used before, already revoked, none current
│  └─ LastCentralAdmin       registry_last_central_admin disabling the last active central admin
└─ Unavailable 503
   ├─ RegistryStorageError   registry_storage_failed the database cannot be reached
   ├─ NationalSearchUnavailable national_search_unavailable the national gallery is being rebuilt
   ├─ RegistryFacesUnavailable registry_faces_unavailable no model dir: photos cannot be embedded
   └─ RegistryFingersUnavailable registry_fingers_unavailable no minutiae extractor: finger images
                                                  cannot be read (NBIS not built, LEADER missing)

Authentication of officers and refusals by role reuse `kernel.errors.Unauthenticated` (401)
and `Forbidden` (403). This module imports nothing from FastAPI.
"""

from __future__ import annotations

from typing import Any

from kernel.errors import Conflict, GerbangError, InputError, Message, NotFound, Unavailable


class SyncUnauthenticated(GerbangError):
    code = "sync_unauthenticated"
    status = 401
    message = Message(
        "Registri menolak kiriman: situs atau tanda tangan tidak dikenali. Periksa kunci situs.",
        "The registry refused the request: unknown site or bad signature. Check the site key.",
    )


class SyncSchemaInvalid(InputError):
    code = "sync_schema_invalid"
    message = Message(
        "Kiriman tidak sesuai format sinkronisasi dan dikarantina. Hubungi admin pusat.",
        "The batch breaks the sync format and was quarantined. Call the central administrator.",
    )

    @classmethod
    def because(cls, reason: str, seq: int | None = None) -> SyncSchemaInvalid:
        details: dict[str, Any] = {"reason": reason}
        if seq is not None:
            details["seq"] = seq
        return cls(None, details)


class SyncConflict(Conflict):
    code = "sync_conflict"
    message = Message(
        "Nomor urut yang sudah diterima dikirim ulang dengan isi berbeda. Kiriman dikarantina;"
        " hubungi admin pusat.",
        "Sequence numbers already applied came back with different content. The batch was"
        " quarantined; call the central administrator.",
    )

    @classmethod
    def at(cls, seqs: list[int]) -> SyncConflict:
        return cls(seqs=seqs[:20])


class SyncGap(Conflict):
    code = "sync_gap"
    message = Message(
        "Kiriman melompati nomor urut. Kirim ulang mulai dari nomor yang diharapkan.",
        "The batch skips sequence numbers. Send again from the expected one.",
    )

    @classmethod
    def expecting(cls, expected_seq: int, first_seq: int) -> SyncGap:
        return cls(expected_seq=expected_seq, first_seq=first_seq)


class RegistryInputInvalid(InputError):
    code = "registry_input_invalid"
    message = Message(
        "Permintaan tidak dapat diproses. Periksa data lalu coba lagi.",
        "The request cannot be processed. Check the data and try again.",
    )

    @classmethod
    def saying(cls, indonesian: str, english: str, **details: Any) -> RegistryInputInvalid:
        """A refusal an officer reads (the console, /pusat): what is wrong, in both languages;
        `reason` keeps the English for logs and scripts."""
        return cls(Message(indonesian, english), reason=english, **details)


class WatchlistNoBiometrics(InputError):
    code = "watchlist_no_biometrics"
    message = Message(
        "Entri daftar cekal perlu paling sedikit satu template wajah atau satu sidik jari.",
        "A watchlist entry needs at least one face template or one fingerprint.",
    )


class WatchlistFingerInvalid(InputError):
    code = "watchlist_finger_invalid"
    message = Message(
        "Rekaman sidik jari tidak dapat dipakai. Kirim rekaman ISO/IEC 19794-2 satu jari"
        " dengan posisi jarinya, atau ambil ulang sidik jarinya.",
        "A fingerprint record cannot be used. Send an ISO/IEC 19794-2 record of one finger"
        " with its position, or capture the finger again.",
    )

    @classmethod
    def because(cls, index: int, reason: str) -> WatchlistFingerInvalid:
        return cls(None, {"finger": index, "reason": reason[:300]})

    @classmethod
    def image(
        cls, index: int, position: int, reason: str, why: Message, finger: Message,
        **measured: Any,
    ) -> WatchlistFingerInvalid:  # fmt: skip
        """A finger image refused: which one (from 0, and its finger), the reason's code, and
        what is wrong in both languages, in the message and in `details.explanation`."""
        message = Message(
            f"Gambar sidik jari ke-{index + 1} ({finger.id}) tidak dapat dipakai: {why.id}."
            " Pindai ulang atau pilih gambar lain; larangan belum disimpan.",
            f"Fingerprint image {index + 1} ({finger.en}) cannot be used: {why.en}."
            " Scan it again or choose another image; the ban has not been saved.",
        )
        details = {"finger": index, "position": position, "reason": reason}
        return cls(message, {**details, "explanation": why.as_dict(), **measured})


class RegistryNotFound(NotFound):
    code = "registry_not_found"
    message = Message("Data tidak ditemukan.", "Not found.")

    @classmethod
    def missing(cls, what: str, key: str) -> RegistryNotFound:
        return cls(
            Message(f"Data tidak ditemukan ({what}).", f"Not found ({what})."), what=what, id=key
        )


class AccountNotFound(NotFound):
    code = "registry_account_not_found"
    message = Message(
        "Tidak ada akun petugas dengan nama pengguna itu; lihat `gerbang registry accounts list`.",
        "No officer account has that username; see `gerbang registry accounts list`.",
    )


class LastCentralAdmin(Conflict):
    code = "registry_last_central_admin"
    message = Message(
        "Ini admin pusat aktif terakhir: buat atau aktifkan admin pusat lain dahulu, agar registri"
        " tidak terkunci tanpa admin.",
        "This is the last active central admin: add or enable another central admin first, so"
        " the registry is not locked without one.",
    )


class CaseClosed(Conflict):
    code = "case_closed"
    message = Message(
        "Kasus ini sudah diputuskan. Muat ulang daftar kasus.",
        "This case has already been decided. Reload the list of cases.",
    )


class PhotoNotAvailable(NotFound):
    code = "photo_not_available"
    message = Message(
        "Foto belum tersedia. Minta foto dari situs, atau tunggu jawabannya (lihat status).",
        "No photo is available yet. Request it from the site, or wait for its answer (see state).",
    )

    @classmethod
    def for_identity(
        cls, identity_id: str, request: dict[str, Any] | None, reason: str | None = None
    ) -> PhotoNotAvailable:
        return cls(
            identity_id=identity_id,
            state=request["state"] if request else None,
            request=request,
            reason=reason or (request or {}).get("note"),
        )


class PhotoHeldByNoSite(Conflict):
    code = "photo_no_site"
    message = Message(
        "Data ini dibuat oleh pusat (daftar pantauan); tidak ada situs yang menyimpan fotonya.",
        "This record was created centrally (watchlist); no site holds a photo to send.",
    )


class NotOnWatchlist(Conflict):
    code = "not_on_watchlist"
    message = Message(
        "Orang ini tidak ada dalam daftar cekal nasional. Periksa ID identitas.",
        "This person is not on the national watchlist. Check the identity id.",
    )

    @classmethod
    def because(cls, identity_id: str, status: str, owner: str | None) -> NotOnWatchlist:
        return cls(identity_id=identity_id, status=status, owner=owner or "registry")


class SiteKeyConflict(Conflict):
    code = "site_key_conflict"
    message = Message(
        "Perubahan kunci situs ditolak. Periksa kunci yang dipakai lalu coba lagi.",
        "The site key change was refused. Check which key is meant and try again.",
    )


class RegistryStorageError(Unavailable):
    code = "registry_storage_failed"
    message = Message(
        "Basis data registri tidak dapat diakses. Coba lagi nanti.",
        "The registry database cannot be reached. Try again later.",
    )


class SearchPackMismatch(InputError):
    code = "search_pack_mismatch"
    message = Message(
        "Registri pusat memakai model wajah lain; pencarian nasional tidak dapat dilakukan.",
        "The central registry uses another face model; the national search cannot run.",
    )


class NationalSearchUnavailable(Unavailable):
    code = "national_search_unavailable"
    message = Message(
        "Galeri nasional sedang dibangun ulang. Coba lagi sebentar lagi.",
        "The national gallery is being rebuilt. Try again shortly.",
    )


class RegistryFacesUnavailable(Unavailable):
    code = "registry_faces_unavailable"
    message = Message(
        "Registri tidak memiliki model wajah. Atur REGISTRY_MODEL_DIR ke folder model, lalu mulai ulang.",
        "The registry has no face models. Set REGISTRY_MODEL_DIR to the model folder and restart.",
    )


class RegistryFingersUnavailable(Unavailable):
    code = "registry_fingers_unavailable"
    message = Message(
        "Registri tidak dapat membaca gambar sidik jari: ekstraktor minutiae tidak tersedia"
        " (lihat details.fix). Rekaman ISO sidik jari tetap diterima lewat POST /v1/watchlist.",
        "The registry cannot read fingerprint images: its minutiae extractor is not available"
        " (see details.fix). ISO finger records are still accepted by POST /v1/watchlist.",
    )
