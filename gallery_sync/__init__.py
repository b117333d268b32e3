"""What the site and the registry share about galleries and sync: the FAISS gallery index, the outbox table, the signed wire protocol and its partitions.

Nothing here knows a site's database schema beyond the outbox, nor the registry's; the site's
agent is site_sync/, the registry's intake is registry/.
"""
