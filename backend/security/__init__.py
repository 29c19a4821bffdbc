"""Keys, encryption of personal data, tokens and who-may-do-what."""
