"""The shipped claims, one module per family; each module's ``claims()`` returns its list."""
