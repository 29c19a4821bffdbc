"""Per-account rate limits of every endpoint that takes an upload (photos, documents, spreadsheets).

Keyed on the account (`backend/extensions.py` `_rate_key`: the token's subject), never on the client
address, because many phones share one carrier address. Each limit is a burst allowance per minute
that a person at a desk never reaches, and a daily ceiling that bounds what one account (or a script
holding its token) can make the server decode: the pixel and row caps bound one request, these bound
how many.
"""
from __future__ import annotations

# PUT /me/face: one enrolment, a few retries after "no face" (~0.5 s of CPU each).
FACE_SELF = "6 per minute;30 per day"
# PUT /persons/{id}/face: a desk enrols a class in person, one photo every 20 s or so at best.
FACE_STAFF = "20 per minute;500 per day"
# POST /voucher-batches/{id}/claims: a handful of claims, some with a face photo to match, and retries.
VOUCHER_CLAIM = "10 per minute;60 per day"
# POST /lessons/{id}/makeups: two photos decoded and re-encoded (~1 s); a class whose kiosk failed
# needs a few dozen on the lesson's day.
MAKEUP = "20 per minute;300 per day"
# POST /enrollments/{id}/contract: one document per trainee of an in-post plan, up to 10 MB each on disk.
CONTRACT = "30 per minute;500 per day"
# POST /plans/{id}/contracts: up to 50 documents per request (24 MB in all), matched by ID number.
CONTRACT_BULK = "10 per minute;100 per day"
# Roster, results and online-record imports: a parse of up to tens of thousands of rows; a person
# correcting and re-sending a sheet sends a few a minute.
SPREADSHEET_IMPORT = "10 per minute;200 per day"
