"""What each gate decision reason means, Indonesian first, English second, in plain words.

The kiosk says it to the person at the gate; the site's and the registry's daily reports count
denials by it. Sites send the reason's code in their `gate.event` changes, so both sides share it.
"""

from __future__ import annotations

from kernel.errors import Message

REASONS: dict[str, Message] = {
    "visitor_verified": Message(
        "Pengunjung terverifikasi. Silakan masuk.", "Visitor verified. Please enter."
    ),
    "visitor_exit_matched": Message(
        "Pengunjung terverifikasi. Silakan keluar.", "Visitor verified. You may leave."
    ),
    "staff_verified": Message("Petugas terverifikasi.", "Staff member verified."),
    "movement_verified": Message(
        "Identitas warga binaan cocok dengan surat perintah.", "The inmate matches the order."
    ),
    "override": Message("Diizinkan oleh atasan.", "Admitted by a supervisor."),
    "gate_not_for_passage": Message(
        "Gerbang ini tidak melayani perlintasan ini.", "This gate does not serve this passage."
    ),
    "visitor_not_enrolled": Message(
        "Pengunjung belum terdaftar. Arahkan ke loket pendaftaran.",
        "Visitor not enrolled. Send them to the enrolment desk.",
    ),
    "visitor_banned": Message(
        "Pengunjung ini dilarang berkunjung. Panggil petugas.",
        "This visitor is banned. Call an officer.",
    ),
    "watchlist_match": Message(
        "Orang ini cocok dengan daftar larangan (wajah atau sidik jari). Panggil petugas.",
        "This person matches the watchlist (face or fingerprint). Call an officer.",
    ),
    "identity_role_mismatch": Message(
        "Identitas ini tidak untuk perlintasan ini.", "This identity is not for this passage."
    ),
    "identity_not_active": Message(
        "Identitas ini tidak aktif. Panggil petugas.",
        "This identity is not active. Call an officer.",
    ),
    "face_mismatch": Message(
        "Wajah tidak cocok dengan data terdaftar. Coba sekali lagi atau panggil petugas.",
        "The face does not match the record. Try once more or call an officer.",
    ),
    "face_unusable": Message(
        "Wajah tidak terbaca. Hadap ke kamera, lepaskan masker atau topi.",
        "The face cannot be read. Face the camera; remove mask or cap.",
    ),
    "face_quality": Message(
        "Foto wajah kurang baik. Mendekat, hadap lurus ke kamera, lalu ulangi.",
        "The face photo is not good enough. Come closer, face the camera and try again.",
    ),
    "not_live": Message(
        "Wajah tampak seperti foto atau layar. Panggil petugas.",
        "The face looks like a photo or a screen. Call an officer.",
    ),
    "already_inside": Message(
        "Tercatat sudah di dalam. Tidak boleh masuk dua kali.",
        "Already recorded inside. No second entry.",
    ),
    "not_inside": Message(
        "Tidak tercatat masuk. Panggil petugas.", "No entry on record. Call an officer."
    ),
    "no_open_visit": Message(
        "Tidak ada kunjungan terbuka untuk wajah ini. Panggil petugas.",
        "No open visit for this face. Call an officer.",
    ),
    "cooldown": Message(
        "Terlalu banyak percobaan gagal. Tunggu 5 menit atau panggil petugas.",
        "Too many failed attempts. Wait 5 minutes or call an officer.",
    ),
    "staff_unknown": Message(
        "Wajah tidak dikenali sebagai petugas.", "The face is not recognised as staff."
    ),
    "inmate_not_visitable": Message(
        "Warga binaan yang dikunjungi tidak dapat dikunjungi.",
        "The inmate named cannot be visited.",
    ),
    "more_than_one_person": Message(
        "Satu orang setiap kali. Panggil petugas.",
        "One person at a time. Call an officer.",
    ),
    "inmate_leaving": Message(
        "ALARM: wajah cocok dengan warga binaan. Tahan orang ini!",
        "ALARM: the face matches an inmate. Hold this person!",
    ),
    "inmate_match_at_entry": Message(
        "ALARM: wajah cocok dengan warga binaan. Panggil atasan.",
        "ALARM: the face matches an inmate. Call a supervisor.",
    ),
    "finger_required": Message(
        "Tempelkan jari pada pembaca sidik jari, lalu ulangi.",
        "Place a finger on the fingerprint reader, then try again.",
    ),
    "finger_unusable": Message(
        "Sidik jari tidak terbaca. Bersihkan dan tempelkan jari lagi.",
        "The fingerprint cannot be read. Clean the finger and press it again.",
    ),
    "finger_not_enrolled": Message(
        "Sidik jari orang ini belum terdaftar. Panggil petugas.",
        "This person's fingerprints are not enrolled. Call an officer.",
    ),
    "finger_mismatch": Message(
        "Sidik jari tidak cocok dengan data terdaftar. Coba sekali lagi atau panggil petugas.",
        "The fingerprint does not match the record. Try once more or call an officer.",
    ),
}
