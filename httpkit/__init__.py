"""HTTP glue both services share: one error format, one set of page headers, the shared page assets.

The site app (edge/) and the registry app (registry/) each build their FastAPI application from
these pieces; neither imports the other.
"""
