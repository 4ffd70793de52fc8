"""Streamlit glue shared by the pages: context, login, navigation, widgets. No domain rules here."""
