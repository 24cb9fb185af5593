"""Images: safe loading of untrusted files, image features and drawing boxes.

Shared by data, serving and monitoring.
"""
