"""Published weights into lineage models: a name mapping per source, the file they go to."""
