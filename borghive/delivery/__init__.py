"""Outbound delivery of alert messages, one module per channel kind (email, webhook, pushover);
the only code that imports smtplib, ssl or urllib.request.
"""
