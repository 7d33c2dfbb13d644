"""Small shared tools used by every domain; nothing here imports a domain package."""
