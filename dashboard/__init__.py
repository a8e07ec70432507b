"""Streamlit dashboard (installed as `explorer.dashboard`); arrives with the dashboard issue."""
