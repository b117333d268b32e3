"""The site service: settings, errors, command line, HTTP API and (later) gate logic and web UI."""
