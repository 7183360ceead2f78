"""Messenger and Instagram messaging adapter (one ``entry[].messaging[]`` envelope)."""
