"""Hardware at the gate and the desk (fingerprint readers) behind small Protocols, so use cases can run on folders and fakes."""
