"""Local stand-ins for the service's third parties (TMDB, a Newznab indexer, a Usenet server) and the
``make demo`` sandbox built on them; the end-to-end tests run on the same stack."""
