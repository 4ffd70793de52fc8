"""The HTTP edge beside Streamlit's pages: routes mounted in ``st.App`` (dashboard/server.py)."""
