"""The gate: passages decided from the local gallery, visits, alarms, overrides, and the camera."""
