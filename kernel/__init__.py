"""The leaf every Gerbang package may import: the error tree and the access primitives both services share.

It imports nothing of the project, so a model, a store or a policy can raise a house error
without pulling in the web layer.
"""
