"""The FAISS gallery (a rebuildable projection of the database), the outbox and the sync agent."""
