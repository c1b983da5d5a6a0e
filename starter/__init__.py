"""Staff tools and the local stack."""
