// The desk's checks of identity numbers as they are typed: the NIK (KTP), the NIP (civil servant
// number) and the inmate registration number. They mirror enrollment/identifiers.py so the
// officer sees a problem at once (tests/e2e/test_page_modules.py runs both on seeded numbers and
// wants the same verdict); the server stays the authority.
// Each check returns null (nothing to say) or [key, vars]: a problem, or "ok"/"*_ok" when fine.
// A `sex` in vars is "M" or "F", for the page to put into words.

// The province codes enrollment/identifiers.py accepts; tests/unit/test_web_modules.py keeps the
// two lists equal.
export const PROVINCE_CODES = Object.freeze([
  "11", "12", "13", "14", "15", "16", "17", "18", "19", "21", // Sumatra, Riau Islands
  "31", "32", "33", "34", "35", "36", // Java
  "51", "52", "53", // Bali, Nusa Tenggara
  "61", "62", "63", "64", "65", // Kalimantan
  "71", "72", "73", "74", "75", "76", // Sulawesi
  "81", "82", // Maluku
  "91", "92", "93", "94", "95", "96", // Papua
]);
const PROVINCES = new Set(PROVINCE_CODES);

export const MAX_AGE_YEARS = 120;
const FEMALE_DAY_OFFSET = 40;
const REGISTRATION = /^([AB])\.?(I|II|IIa|IIb|III|IV|V)[.\- ]?(\d{1,6})\/(\d{4})$/i;
const SEPARATORS = /[\s.\-\u2010-\u2015\u2212]+/g;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** {year, month, day} when that day exists, else null. */
export function calendarDate(year, month, day) {
  const d = new Date(Date.UTC(year, month - 1, day));
  const real = d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day;
  return real ? { year, month, day } : null;
}

/**
 * A typed date as {year, month, day}, or null: DD-MM-YYYY as Indonesians write it (with -, / or .
 * between), or YYYY-MM-DD. Date fields are plain text, so the browser's locale never decides.
 */
export function parseDate(text) {
  const value = (text || "").trim();
  const iso = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(value);
  if (iso) return calendarDate(+iso[1], +iso[2], +iso[3]);
  const local = /^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$/.exec(value);
  return local ? calendarDate(+local[3], +local[2], +local[1]) : null;
}

/** The API's form of a date: YYYY-MM-DD. */
export function isoDate(d) {
  return `${d.year}-${String(d.month).padStart(2, "0")}-${String(d.day).padStart(2, "0")}`;
}

export const MONTHS = Object.freeze({
  id: ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
    "Oktober", "November", "Desember"],
  en: ["January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December"],
});

/** A date as the page writes it, dd MMMM yyyy ("07 Maret 1985"), whatever the browser locale. */
export function showDate(d, lang = "id") {
  return `${String(d.day).padStart(2, "0")} ${(MONTHS[lang] || MONTHS.id)[d.month - 1]} ${d.year}`;
}

function dayKey(d) { return d.year * 10000 + d.month * 100 + d.day; }

/** A birth date in the future or over MAX_AGE_YEARS ago, as [key], or null. */
export function ageProblem(d, now = new Date()) {
  const today = { year: now.getFullYear(), month: now.getMonth() + 1, day: now.getDate() };
  if (dayKey(d) > dayKey(today)) return ["date_future"];
  const age = today.year - d.year - (dayKey({ ...today, year: 0 }) < dayKey({ ...d, year: 0 }) ? 1 : 0);
  return age > MAX_AGE_YEARS ? ["date_too_old"] : null;
}

/** The NIK against its structure, and against the birth date and sex entered (either may be null). */
export function checkNik(text, birth, sex, now = new Date()) {
  const d = text.replace(SEPARATORS, "");
  if (!/^[0-9]*$/.test(d)) return ["digits_only"];
  if (d.length !== 16) return ["nik_length", { n: d.length }];
  if (!PROVINCES.has(d.slice(0, 2))) return ["nik_province"];
  if (d.slice(2, 4) === "00" || d.slice(4, 6) === "00") return ["nik_region"];
  if (d.slice(12) === "0000") return ["nik_serial"];
  let day = +d.slice(6, 8);
  const nikSex = day > FEMALE_DAY_OFFSET ? "F" : "M";
  if (nikSex === "F") day -= FEMALE_DAY_OFFSET;
  const month = +d.slice(8, 10);
  const yy = +d.slice(10, 12);
  const century = Math.floor(now.getFullYear() / 100) * 100;
  const candidates = [century + yy, century - 100 + yy].map((y) => calendarDate(y, month, day)).filter(Boolean);
  if (!candidates.length) return ["nik_date"];
  const dateText = [day, month, yy].map((n) => String(n).padStart(2, "0")).join("-");
  if (birth && (birth.day !== day || birth.month !== month || birth.year % 100 !== yy)) {
    return ["nik_birth_mismatch", { date: dateText }];
  }
  // As the server: the entered date settles the century, else the latest one not in the future.
  const born = birth || candidates.find((c) => ageProblem(c, now)?.[0] !== "date_future") || candidates[0];
  const lifespan = ageProblem(born, now);
  if (lifespan) return lifespan;
  if (sex && sex !== nikSex) return ["nik_sex_mismatch", { sex: nikSex }];
  return ["nik_ok", { date: birth ? showDate(birth) : dateText, born: birth, sex: nikSex }];
}

/** The NIP against its structure (birth date, appointment month, sex digit, serial) and entries. */
export function checkNip(text, birth, sex, now = new Date()) {
  const d = text.replace(SEPARATORS, "");
  if (!/^[0-9]*$/.test(d)) return ["digits_only"];
  if (d.length !== 18) return ["nip_length", { n: d.length }];
  const born = calendarDate(+d.slice(0, 4), +d.slice(4, 6), +d.slice(6, 8));
  if (!born) return ["nip_date"];
  const tooOld = ageProblem(born, now);
  if (tooOld) return tooOld;
  const appointed = +d.slice(8, 12) * 100 + +d.slice(12, 14);
  const month = +d.slice(12, 14);
  if (month < 1 || month > 12 || appointed < (born.year + 18) * 100 + born.month
      || appointed > now.getFullYear() * 100 + now.getMonth() + 1) return ["nip_appointment"];
  if (!"12".includes(d[14])) return ["nip_sex_digit"];
  if (d.slice(15) === "000") return ["nip_serial"];
  if (birth && (birth.year !== born.year || birth.month !== born.month || birth.day !== born.day)) {
    return ["nip_birth_mismatch", { date: showDate(born), born }];
  }
  const nipSex = d[14] === "1" ? "M" : "F";
  if (sex && sex !== nipSex) return ["nip_sex_mismatch", { sex: nipSex }];
  return ["nip_ok", { date: showDate(born), born, sex: nipSex }];
}

/** An inmate registration number such as B.I-123/2024 or AIII.45/2023. */
export function checkRegistration(text, now = new Date()) {
  const cleaned = text.split(/\s+/).filter(Boolean).join(" ").replace(/\s*([./-])\s*/g, "$1");
  const m = REGISTRATION.exec(cleaned);
  if (!m) return ["registration_format"];
  const year = +m[4];
  return year < 1950 || year > now.getFullYear() ? ["registration_year"] : ["ok"];
}
