"""sercore's command lines: the only modules in sercore that print or exit (the library itself does neither)."""
