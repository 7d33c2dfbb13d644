"""`parley backup` / `parley restore`: one archive of an embedded install (database, stored files, keys)."""
