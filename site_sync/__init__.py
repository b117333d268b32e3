"""The site's side of sync: the agent that pushes the outbox, pulls and applies the registry's changes, and keeps the gallery projection equal to the database.

It sits above enrollment (it applies changes through the identity repository) and below the site
service (edge/ starts it in the background).
"""
