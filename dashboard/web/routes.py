"""Every route of ours that ``st.App`` serves beside Streamlit's own."""
from __future__ import annotations


def all_routes() -> list:
    return []
