"""Streamlit dashboard (installed as `explorer.dashboard`): `explorer dashboard --db URL`."""
