"""Fingerprint: minutiae extraction (NIST NBIS), matchers (BOZORTH3, MCC), ISO/IEC 19794-2 codec."""
