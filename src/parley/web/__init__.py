"""The web app: its built files (from `web/`, by `make web`) and how Parley serves them."""
