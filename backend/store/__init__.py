"""The store: engine and sessions, ORM rows, frozen records, one repository module per aggregate, and the migrations."""
