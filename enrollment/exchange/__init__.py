"""Inter-agency exchange (SPPT-TI): a person's record, face and fingerprints as ANSI/NIST-ITL 1-2011
transactions, exported on an officer's explicit act and imported through the enrolment desk's own
duplicate check (never created or merged without an officer's decision)."""
