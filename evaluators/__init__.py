"""Evaluators (installed as `explorer.evaluators`): one evaluator per file, registry by name.

The evaluator interface and its implementations arrive with the exploration-engine issue.
"""
