"""Scene files: schema, loading, population expansion, checks."""
