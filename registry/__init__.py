"""The central registry: one national truth about who is who, fed by signed batches from the sites."""
