"""Search strategies (installed as `explorer.search`): one strategy per file, registry by name.

The exploration engine and its strategies arrive with the exploration-engine issue.
"""
