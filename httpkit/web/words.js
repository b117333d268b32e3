// The words every page uses for the same things, so the desk, the kiosk and the central registry
// speak one vocabulary: the roles (Warga Binaan, as the Directorate General of Corrections says)
// and an identity's status (the API's `status`). Each page's strings module spreads these in.

export const WORDS = {
  id: {
    role_inmate: "Warga Binaan",
    role_staff: "Petugas",
    role_visitor: "Pengunjung",
    status_active: "Aktif",
    status_released: "Bebas",
    status_transferred_out: "Dipindahkan",
    status_banned: "Dilarang berkunjung",
    status_merged: "Digabung",
    status_erased: "Dihapus",
  },
  en: {
    role_inmate: "Inmate",
    role_staff: "Staff",
    role_visitor: "Visitor",
    status_active: "Active",
    status_released: "Released",
    status_transferred_out: "Transferred out",
    status_banned: "Banned",
    status_merged: "Merged",
    status_erased: "Erased",
  },
};
