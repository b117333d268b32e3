"""The site service: settings, command line, HTTP API, gate logic, devices and web pages."""
